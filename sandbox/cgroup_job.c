/* cgroup_job.c - job cgroups the same way on every version: detection order,
 * creating, attaching, killing, removing and sweeping job dirs, limit reasons.
 *
 * What differs between cgroup v1 and v2 is behind struct cg_ops (cgroup_v1.c,
 * cgroup_v2.c), picked once by detection and kept in the env and in every job; this
 * file never asks which version it runs on. Both backends and this file use the file
 * helpers of cgroup_fs.c, a leaf, so no backend calls back here.
 *
 * The job itself cannot touch its cgroup: cgroupfs is not mounted in the sandbox,
 * the dirs and files are owned by host root, and the job's uid maps to an
 * unprivileged host id, so it cannot raise its own limits or escape them. Without
 * root (a delegated v2 subtree) the dirs are the invoking user's, whose uid the job
 * shares: what keeps the job out is then cgroupfs's absence inside, no capability to
 * mount it, and the seccomp policy's refusal of mount.
 */
#define _GNU_SOURCE
#include "cgroup_impl.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CG_DEFAULT_PARENT "reelbox"
#define CG_DEFAULT_V2	  "/sys/fs/cgroup"
#define CG_KILL_ROUNDS	  400 /* with the backoff below: about 5 s */

/* The backends in the order detection tries them. */
static const struct cg_ops *const backends[] = {&cg_v2_ops, &cg_v1_ops};
#define N_BACKENDS (sizeof(backends) / sizeof(backends[0]))

static unsigned cg_seq;

/* Read the pids in dirfd/cgroup.procs into a malloc'd array. */
static int read_procs(int dirfd, pid_t **out, size_t *n)
{
	int fd = openat(dirfd, "cgroup.procs", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	FILE *f;
	pid_t *v = NULL;
	size_t cap = 0, cnt = 0;
	long p;

	*out = NULL;
	*n = 0;
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	while (fscanf(f, "%ld", &p) == 1) {
		if (cnt == cap) {
			pid_t *nv = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof(*v));
			if (!nv) {
				free(v);
				fclose(f);
				return -ENOMEM;
			}
			v = nv;
		}
		v[cnt++] = (pid_t)p;
	}
	fclose(f);
	*out = v;
	*n = cnt;
	return 0;
}

/* ------------------------------------------------------------------ detection */

static void summarize(struct sandbox_cg_env *env)
{
	char ctrls[96] = "";
	unsigned c;

	for (c = 1; c < (1u << SANDBOX_CG_NCTRL); c <<= 1)
		if (env->ctrls & c)
			snprintf(ctrls + strlen(ctrls), sizeof(ctrls) - strlen(ctrls), "%s%s",
				 ctrls[0] ? ", " : "", cg_ctrl_name(c));
	sandbox_errf(env->summary, sizeof(env->summary),
		     "cgroup v%d with %s; job cgroups under %s%s", (int)env->version,
		     ctrls[0] ? ctrls : "no controllers", env->hier[0].parent,
		     env->nhier > 1 ? " and the same place in the other hierarchies" : "");
}

/* Can this process make job dirs in every hierarchy's parent? A parent that exists
 * already may be another user's (root's, from a run as root): without root, only a
 * delegated subtree is ours to write. */
static int parents_writable(const struct sandbox_cg_env *env, char *err, size_t len)
{
	for (int i = 0; i < env->nhier; i++)
		if (faccessat(AT_FDCWD, env->hier[i].parent, W_OK | X_OK, AT_EACCESS) < 0) {
			int e = errno;
			sandbox_errf(err, len, "cannot make job cgroups in %s: %s",
				     env->hier[i].parent, sandbox_strerror(e));
			return -e;
		}
	return 0;
}

int sandbox_cg_detect_with(struct sandbox_cg_env *env, const struct sandbox_cg_config *cfg,
			   char *err, size_t len)
{
	const char *mnt = cfg && cfg->v2_mount ? cfg->v2_mount : CG_DEFAULT_V2;
	const char *parent = cfg && cfg->parent ? cfg->parent : CG_DEFAULT_PARENT;
	unsigned need = cfg ? cfg->need : SANDBOX_CG_REQUIRED;
	enum sandbox_cg_version only = cfg ? cfg->only : SANDBOX_CG_NONE;
	char why[N_BACKENDS][256];
	size_t i;
	int e;

	/* One read of mountinfo and of our cgroups for every hierarchy each backend looks
	 * up (without it, each lookup reads them again). */
	cg_snapshot_take();
	for (i = 0; i < N_BACKENDS; i++) {
		const struct cg_ops *ops = backends[i];

		snprintf(why[i], sizeof(why[i]), "not tried");
		if (only != SANDBOX_CG_NONE && only != ops->version)
			continue;
		memset(env, 0, sizeof(*env));
		e = ops->detect(env, mnt, parent, need, why[i], sizeof(why[i]));
		if (!e)
			e = parents_writable(env, why[i], sizeof(why[i]));
		if (!e) {
			cg_snapshot_drop();
			env->version = ops->version;
			env->ops = ops;
			summarize(env);
			return 0;
		}
		if (only == ops->version) {
			cg_snapshot_drop();
			memset(env, 0, sizeof(*env));
			sandbox_errf(err, len, "%s", why[i]);
			return e;
		}
	}
	cg_snapshot_drop();
	memset(env, 0, sizeof(*env));
	env->version = SANDBOX_CG_NONE;
	sandbox_errf(env->summary, sizeof(env->summary),
		     "no usable cgroups (v2: %s; v1: %s), so memory, process and cpu limits rest "
		     "on rlimits only",
		     why[0], why[1]);
	sandbox_errf(err, len, "%s", env->summary);
	return 0;
}

int sandbox_cg_detect(struct sandbox_cg_env *env, char *err, size_t len)
{
	return sandbox_cg_detect_with(env, NULL, err, len);
}

/* ------------------------------------------------------------------- lifecycle */

static int name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n > 64)
		return 0;
	for (; *name; name++)
		if (!isalnum((unsigned char)*name) && !strchr("_.-", *name))
			return 0;
	return 1;
}

/* Open (and when mk, first make) the job dir name in every hierarchy of env. */
static int open_dirs(struct sandbox_cg *cg, const struct sandbox_cg_env *env, int mk, char *err,
		     size_t len)
{
	int i;

	for (i = 0; i < env->nhier; i++) {
		const struct sandbox_cg_hier *h = &env->hier[i];
		struct cg_dir *d = &cg->dirs[cg->ndirs];
		int pfd = cg_open_dir(h->parent), e = 0;

		if (pfd < 0) {
			sandbox_errf(err, len, "cannot open the cgroup parent %s: %s", h->parent,
				     sandbox_strerror(pfd));
			return pfd;
		}
		/* 0755 and owned by host root: the job's host uid cannot write its limits. */
		if (mk && mkdirat(pfd, cg->name, 0755) < 0)
			e = -errno;
		if (!e) {
			d->fd =
			    openat(pfd, cg->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (d->fd < 0)
				e = -errno;
		}
		close(pfd);
		if (e == -ENOENT && !mk)
			continue;
		if (e) {
			sandbox_errf(err, len, "cannot %s the cgroup %s/%s: %s",
				     mk ? "create" : "open", h->parent, cg->name,
				     sandbox_strerror(e));
			return e;
		}
		d->ctrls = h->ctrls;
		snprintf(d->path, sizeof(d->path), "%s/%s", h->parent, cg->name);
		snprintf(d->rel, sizeof(d->rel), "%s/%s", strcmp(h->rel, "/") ? h->rel : "",
			 cg->name);
		cg->ndirs++;
	}
	return 0;
}

static struct sandbox_cg *cg_new(const struct cg_ops *ops)
{
	struct sandbox_cg *cg = calloc(1, sizeof(*cg));
	int i;

	if (!cg)
		return NULL;
	cg->ops = ops;
	for (i = 0; i < SANDBOX_CG_NCTRL; i++)
		cg->dirs[i].fd = -1;
	return cg;
}

int sandbox_cg_create(const struct sandbox_cg_env *env, const char *name,
		      const struct sandbox_cg_limits *lim, struct sandbox_cg **out, char *err,
		      size_t len)
{
	static const struct sandbox_cg_limits nolim;
	struct sandbox_cg *cg;
	unsigned want = 0;
	int e;

	*out = NULL;
	if (!lim)
		lim = &nolim;
	if (!env->ops || env->nhier == 0) {
		sandbox_errf(err, len, "cannot create a job cgroup: %s", env->summary);
		return -EOPNOTSUPP;
	}
	if (name && *name && !name_ok(name)) {
		sandbox_errf(err, len,
			     "cgroup name \"%s\" must be at most 64 letters, digits, '_', "
			     "'.' or '-'",
			     name);
		return -EINVAL;
	}
	if (lim->memory_bytes)
		want |= SANDBOX_CG_MEMORY;
	if (lim->pids)
		want |= SANDBOX_CG_PIDS;
	if (lim->cpus > 0)
		want |= SANDBOX_CG_CPU;
	if (want & ~env->ctrls) {
		unsigned missing = want & ~env->ctrls;
		const char *c = cg_ctrl_name(missing & (~missing + 1)); /* lowest bit */

		sandbox_errf(err, len,
			     "cannot set a %s limit: this cgroup v%d setup has no %s "
			     "controller (%s)",
			     c, (int)env->version, c, env->summary);
		return -EOPNOTSUPP;
	}
	if (!(cg = cg_new(env->ops)))
		return -ENOMEM;
	cg->lim = *lim;
	snprintf(cg->name, sizeof(cg->name), CG_PREFIX "%d-%u%s%s", (int)getpid(),
		 __atomic_add_fetch(&cg_seq, 1, __ATOMIC_RELAXED), name && *name ? "-" : "",
		 name && *name ? name : "");
	e = open_dirs(cg, env, 1, err, len);
	if (!e)
		e = cg->ops->apply(cg, err, len);
	if (e) {
		sandbox_cg_destroy(cg);
		return e;
	}
	*out = cg;
	return 0;
}

int sandbox_cg_set_limits(struct sandbox_cg *cg, const struct sandbox_cg_limits *lim, char *err,
			  size_t len)
{
	if (!!cg->lim.memory_bytes != !!lim->memory_bytes || !!cg->lim.pids != !!lim->pids ||
	    (cg->lim.cpus > 0) != (lim->cpus > 0)) {
		sandbox_errf(err, len, "a job cgroup's limits change only in value, not in kind");
		return -EINVAL;
	}
	cg->lim = *lim;
	return cg->ops->apply(cg, err, len);
}

int sandbox_cg_attach(struct sandbox_cg *cg, pid_t pid)
{
	int i, e;

	for (i = 0; i < cg->ndirs; i++)
		if ((e = cg_writef(cg->dirs[i].fd, "cgroup.procs", "%d", (int)pid)))
			return e;
	return 0;
}

int sandbox_cg_procs_fds(const struct sandbox_cg *cg, int *fds, int max)
{
	int i;

	if (cg->ndirs > max)
		return -ENOSPC;
	for (i = 0; i < cg->ndirs; i++) {
		fds[i] = openat(cg->dirs[i].fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
		if (fds[i] < 0) {
			int e = -errno;
			while (i-- > 0)
				close(fds[i]);
			return e;
		}
	}
	return cg->ndirs;
}

int sandbox_cg_dirfd(const struct sandbox_cg *cg)
{
	return cg->ops->clone_fd ? cg->ops->clone_fd(cg) : -EOPNOTSUPP;
}

const char *sandbox_cg_name(const struct sandbox_cg *cg)
{
	return cg->name;
}

const char *sandbox_cg_path(const struct sandbox_cg *cg)
{
	return cg->ndirs ? cg->dirs[0].path : "";
}

int sandbox_cg_stats(const struct sandbox_cg *cg, struct sandbox_cg_stats *st)
{
	memset(st, 0, sizeof(*st));
	return cg->ops->stats(cg, st);
}

/* ----------------------------------------------------------------------- kill */

static int procs_empty(const struct sandbox_cg *cg)
{
	int i;

	for (i = 0; i < cg->ndirs; i++) {
		pid_t *p;
		size_t n;

		if (read_procs(cg->dirs[i].fd, &p, &n) == 0) {
			free(p);
			if (n)
				return 0;
		}
	}
	return 1;
}

/* Is pid still in one of the job's cgroups? Reads /proc/<pid>/cgroup. */
static int pid_in_job(const struct sandbox_cg *cg, pid_t pid)
{
	char path[64], *line = NULL;
	size_t cap = 0;
	FILE *f;
	int in = 0, i;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	if (!(f = fopen(path, "re")))
		return 0;
	while (!in && getline(&line, &cap, f) > 0) {
		char *p = strchr(line, ':'), *nl;

		if (!p || !(p = strchr(p + 1, ':')))
			continue;
		if ((nl = strchr(++p, '\n')))
			*nl = '\0';
		for (i = 0; i < cg->ndirs && !in; i++)
			in = !strcmp(p, cg->dirs[i].rel);
	}
	free(line);
	fclose(f);
	return in;
}

/* SIGKILL one pid read from cgroup.procs. The pid may have exited and been
 * reused by a host process since we read it, so pin it with a pidfd, check that
 * the pinned process is in the job, and signal through the pidfd: if it died
 * meanwhile the signal fails with ESRCH instead of hitting a stranger. */
static void kill_pid(const struct sandbox_cg *cg, pid_t pid)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);

	if (fd < 0) {
		if (errno == ENOSYS && pid_in_job(cg, pid))
			kill(pid, SIGKILL); /* kernel < 5.3: the race stays open */
		return;
	}
	if (pid_in_job(cg, pid))
		syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0);
	close(fd);
}

/* One round: SIGKILL every process listed in any of the job's dirs. */
static int signal_all(struct sandbox_cg *cg)
{
	int i, sent = 0;

	for (i = 0; i < cg->ndirs; i++) {
		pid_t *p;
		size_t n, j;

		if (read_procs(cg->dirs[i].fd, &p, &n))
			continue;
		for (j = 0; j < n; j++, sent++)
			kill_pid(cg, p[j]);
		free(p);
	}
	return sent;
}

int sandbox_cg_kill(struct sandbox_cg *cg)
{
	int round, frozen;
	unsigned ms = 1;

	if (!cg)
		return 0;
	/* The common case: pid 1 took everything with it, there is nothing to freeze. */
	if (procs_empty(cg))
		return 0;
	/* One stroke for the whole tree where the version has one (v2's cgroup.kill, fork
	 * races included). Else pid by pid, frozen first where the version can freeze
	 * (v1), so nothing forks or exits while cgroup.procs is walked. */
	if (!cg->ops->kill_all || cg->ops->kill_all(cg) < 0) {
		frozen = cg->ops->freeze && cg->ops->freeze(cg, 1) == 0;
		signal_all(cg);
		if (frozen)
			cg->ops->freeze(cg, 0); /* SIGKILL takes effect once thawed */
	}
	for (round = 0; round < CG_KILL_ROUNDS; round++) {
		if (procs_empty(cg))
			return 0;
		cg_sleep_ms(ms);
		if (ms < 20)
			ms *= 2;
		/* cgroup.kill was one-shot; repeat the per-pid loop for stragglers */
		if (round % 4 == 3)
			signal_all(cg);
	}
	return procs_empty(cg) ? 0 : -EBUSY;
}

/* ------------------------------------------------------------- thread moves */

int sandbox_cg_enter_thread(struct sandbox_cg *cg, struct sandbox_cg_thread *back)
{
	back->n = 0;
	if (!cg || !cg->ops->enter_thread)
		return -EOPNOTSUPP;
	return cg->ops->enter_thread(cg, back);
}

int sandbox_cg_leave_thread(struct sandbox_cg_thread *back)
{
	return cg_thread_return(back);
}

/* ------------------------------------------------------------------ teardown */

static int rmdir_retry(const char *path)
{
	char parent[sizeof(((struct cg_dir *)0)->path)];
	char *slash;
	int pfd, i, e = 0;

	snprintf(parent, sizeof(parent), "%s", path);
	if (!(slash = strrchr(parent, '/')))
		return -EINVAL;
	*slash = '\0';
	if ((pfd = cg_open_dir(parent)) < 0)
		return pfd;
	/* The kernel keeps a cgroup busy until its last task is released. */
	for (i = 0; i < 200; i++) {
		if (unlinkat(pfd, slash + 1, AT_REMOVEDIR) == 0 || errno == ENOENT) {
			e = 0;
			break;
		}
		e = -errno;
		if (e != -EBUSY && e != -ENOTEMPTY)
			break;
		cg_sleep_ms(10);
	}
	close(pfd);
	return e;
}

int sandbox_cg_destroy(struct sandbox_cg *cg)
{
	int i, e, first = 0;

	if (!cg)
		return 0;
	if (cg->ndirs)
		first = sandbox_cg_kill(cg);
	for (i = 0; i < cg->ndirs; i++) {
		if (cg->dirs[i].fd >= 0)
			close(cg->dirs[i].fd);
		e = rmdir_retry(cg->dirs[i].path);
		if (e && !first)
			first = e;
	}
	free(cg);
	return first;
}

/* rbx-<pid>-<seq>[-<name>] -> pid, or 0 when the name is not ours. */
static pid_t owner_of(const char *name)
{
	char *end;
	long pid;

	if (strncmp(name, CG_PREFIX, strlen(CG_PREFIX)))
		return 0;
	pid = strtol(name + strlen(CG_PREFIX), &end, 10);
	if (pid <= 0 || *end != '-' || !isdigit((unsigned char)end[1]))
		return 0;
	strtoul(end + 1, &end, 10);
	if (*end && *end != '-')
		return 0;
	return (pid_t)pid;
}

int sandbox_cg_sweep(const struct sandbox_cg_env *env)
{
	int i, removed = 0;

	for (i = 0; i < env->nhier; i++) {
		DIR *d;
		struct dirent *de;
		int fd = cg_open_dir(env->hier[i].parent);

		if (fd < 0)
			return fd;
		if (!(d = fdopendir(fd))) {
			close(fd);
			return -errno;
		}
		while ((de = readdir(d))) {
			pid_t owner = owner_of(de->d_name);
			struct sandbox_cg *cg;

			/* EPERM means alive; only a dead owner (ESRCH) leaves orphans.
			 * A reused owner pid only delays the sweep, never harms a job. */
			if (!owner || owner == getpid() || kill(owner, 0) == 0 || errno != ESRCH ||
			    strlen(de->d_name) >= sizeof(cg->name))
				continue;
			if (!(cg = cg_new(env->ops)))
				break;
			memcpy(cg->name, de->d_name, strlen(de->d_name) + 1);
			/* open it in every hierarchy, so one pass removes all its dirs */
			open_dirs(cg, env, 0, NULL, 0);
			if (!cg->ndirs)
				free(cg);
			else if (sandbox_cg_destroy(cg) == 0)
				removed++;
		}
		closedir(d);
	}
	return removed;
}

/* ------------------------------------------------------------- limit reasons */

/* In MB of 2^20 bytes, the unit of --memory and the job's limits.memory, so a sentence
 * names the number the user gave. */
static void fmt_bytes(uint64_t b, char *buf, size_t len)
{
	if (b && b % (1ull << 20) == 0)
		snprintf(buf, len, "%llu MB", (unsigned long long)(b >> 20));
	else if (b >= (1ull << 20))
		snprintf(buf, len, "%.1f MB", (double)b / (1 << 20));
	else
		snprintf(buf, len, "%llu bytes", (unsigned long long)b);
}

int sandbox_cg_limit_reason(const struct sandbox_cg *cg, const struct sandbox_cg_stats *st,
			    char *buf, size_t len)
{
	char size[32];

	if (cg->lim.memory_bytes && st->oom_kills) {
		fmt_bytes(cg->lim.memory_bytes, size, sizeof(size));
		snprintf(buf, len, "memory limit of %s reached", size);
		return 1;
	}
	if (cg->lim.pids && st->pids_max_hits) {
		snprintf(buf, len, "process limit of %u reached", cg->lim.pids);
		return 1;
	}
	return 0;
}
