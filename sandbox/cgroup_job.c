/* cgroup_common.c - the parts of job cgroups that v1 and v2 share: detection
 * order, creating, attaching, killing, removing and sweeping job dirs, and the
 * small cgroupfs file helpers.
 *
 * Every cgroup file is opened relative to a directory fd with O_NOFOLLOW. The
 * job itself cannot touch its cgroup: cgroupfs is not mounted in the sandbox,
 * the dirs and files are owned by host root, and the job's uid maps to an
 * unprivileged host id, so it cannot raise its own limits or escape them.
 */
#define _GNU_SOURCE
#include "cgroup_impl.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CG_DEFAULT_PARENT "reelbox"
#define CG_DEFAULT_V2	  "/sys/fs/cgroup"
#define CG_KILL_ROUNDS	  400 /* with the backoff below: about 5 s */

static unsigned cg_seq;

void cg_sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

const char *cg_ctrl_name(unsigned ctrl)
{
	switch (ctrl) {
	case SANDBOX_CG_MEMORY:
		return "memory";
	case SANDBOX_CG_PIDS:
		return "pids";
	case SANDBOX_CG_CPU:
		return "cpu";
	case SANDBOX_CG_CPUACCT:
		return "cpuacct";
	case SANDBOX_CG_FREEZER:
		return "freezer";
	}
	return "?";
}

/* ---------------------------------------------------------------- file helpers */

int cg_open_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int cg_write(int dirfd, const char *file, const char *val)
{
	/* O_NOFOLLOW: a symlink planted in a cgroup dir must not redirect a root write. */
	int fd = openat(dirfd, file, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	size_t n = strlen(val);
	ssize_t w;
	int e = 0;

	if (fd < 0)
		return -errno;
	/* cgroupfs takes one value per write(2); a short write is an error. */
	w = write(fd, val, n);
	if (w < 0)
		e = -errno;
	else if ((size_t)w != n)
		e = -EIO;
	close(fd);
	return e;
}

int cg_set(const struct cg_dir *d, const char *file, const char *val, char *err, size_t len)
{
	int e = cg_write(d->fd, file, val);

	if (e)
		sandbox_errf(err, len, "cannot set %s to %s in %s: %s", file, val, d->path,
			     sandbox_strerror(e));
	return e;
}

int cg_writef(int dirfd, const char *file, const char *fmt, ...)
{
	char buf[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -EOVERFLOW;
	return cg_write(dirfd, file, buf);
}

int cg_read(int dirfd, const char *file, char *buf, size_t len)
{
	int fd = openat(dirfd, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	size_t used = 0;
	int e = 0;

	if (fd < 0)
		return -errno;
	while (used + 1 < len) {
		ssize_t r = read(fd, buf + used, len - 1 - used);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			e = -errno;
			break;
		}
		if (r == 0)
			break;
		used += (size_t)r;
	}
	close(fd);
	buf[used] = '\0';
	return e;
}

/* A single number; "max" reads as UINT64_MAX. */
int cg_read_u64(int dirfd, const char *file, uint64_t *v)
{
	char buf[64], *end;
	int e = cg_read(dirfd, file, buf, sizeof(buf));

	if (e)
		return e;
	if (!strncmp(buf, "max", 3)) {
		*v = UINT64_MAX;
		return 0;
	}
	errno = 0;
	*v = strtoull(buf, &end, 10);
	if (errno || end == buf)
		return -EINVAL;
	return 0;
}

/* One "key value" line of a flat-keyed file such as memory.events. */
int cg_read_key(int dirfd, const char *file, const char *key, uint64_t *v)
{
	char buf[4096];
	size_t klen = strlen(key);
	char *line, *save = NULL;
	int e = cg_read(dirfd, file, buf, sizeof(buf));

	if (e)
		return e;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, key, klen) && line[klen] == ' ') {
			*v = strtoull(line + klen + 1, NULL, 10);
			return 0;
		}
	}
	return -ENOENT;
}

int cg_has_file(int dirfd, const char *file)
{
	return faccessat(dirfd, file, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

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

/* ----------------------------------------------------- /proc and mount parsing */

/* Our cgroup path in the hierarchy that carries ctrl (v1), or in the unified one
 * when ctrl is NULL (the "0::" line). */
int cg_own_path(const char *ctrl, char *out, size_t len)
{
	return cg_own_path_in("/proc/self/cgroup", ctrl, out, len);
}

int cg_own_path_in(const char *file, const char *ctrl, char *out, size_t len)
{
	FILE *f = fopen(file, "re");
	char *line = NULL;
	size_t cap = 0;
	int e = -ENOENT;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		char *c1 = strchr(line, ':'), *c2, *nl, *tok, *save = NULL;
		int match = 0;

		if (!c1 || !(c2 = strchr(c1 + 1, ':')))
			continue;
		*c2 = '\0';
		if ((nl = strchr(c2 + 1, '\n')))
			*nl = '\0';
		if (!ctrl)
			match = !strncmp(line, "0:", 2) && c1 + 1 == c2;
		else
			for (tok = strtok_r(c1 + 1, ",", &save); tok && !match;
			     tok = strtok_r(NULL, ",", &save))
				match = !strcmp(tok, ctrl);
		if (match) {
			e = snprintf(out, len, "%s", c2 + 1) < (int)len ? 0 : -ENAMETOOLONG;
			break;
		}
	}
	free(line);
	fclose(f);
	return e;
}

/* mountinfo escapes blanks as \040 and so on. */
static void unescape(char *s)
{
	char *d = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && isdigit((unsigned char)s[2]) &&
		    isdigit((unsigned char)s[3])) {
			*d++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*d++ = *s;
		}
	}
	*d = '\0';
}

/* Find a cgroup mount in /proc/self/mountinfo: the one of type fstype carrying
 * ctrl (v1), or the one mounted exactly at mnt. Gives its mount point and the
 * cgroup path it shows as its root (not "/" when a container bind-mounted a
 * sub-tree). */
int cg_find_mount(const char *fstype, const char *ctrl, const char *mnt, char *mnt_out,
		  char *root_out, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int e = -ENOENT;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		char *save = NULL, *f_root, *f_mnt, *sep, *type, *opts, *tok;
		int i, match = 0;

		if (!strtok_r(line, " ", &save)) /* mount id */
			continue;
		for (i = 0; i < 2; i++) /* parent id, major:minor */
			if (!strtok_r(NULL, " ", &save))
				break;
		f_root = strtok_r(NULL, " ", &save);
		f_mnt = strtok_r(NULL, " ", &save);
		if (!f_root || !f_mnt)
			continue;
		/* optional fields end at " - " */
		while ((sep = strtok_r(NULL, " ", &save)) && strcmp(sep, "-"))
			;
		type = strtok_r(NULL, " ", &save);
		if (!sep || !type || strcmp(type, fstype) || !strtok_r(NULL, " ", &save))
			continue;
		opts = strtok_r(NULL, " \n", &save);
		unescape(f_root);
		unescape(f_mnt);
		if (mnt) {
			match = !strcmp(f_mnt, mnt);
		} else if (ctrl && opts) {
			char *osave = NULL;
			for (tok = strtok_r(opts, ",", &osave); tok && !match;
			     tok = strtok_r(NULL, ",", &osave))
				match = !strcmp(tok, ctrl);
		}
		if (!match)
			continue;
		if ((size_t)snprintf(mnt_out, len, "%s", f_mnt) >= len ||
		    (size_t)snprintf(root_out, len, "%s", f_root) >= len)
			e = -ENAMETOOLONG;
		else
			e = 0;
		break;
	}
	free(line);
	fclose(f);
	return e;
}

/* Host path of cgroup rel in a hierarchy mounted at mnt showing root. */
int cg_host_path(const char *mnt, const char *root, const char *rel, char *out, size_t len)
{
	size_t rl = strlen(root);

	if (!strcmp(rel, root) || !strcmp(rel, "/"))
		return snprintf(out, len, "%s", mnt) < (int)len ? 0 : -ENAMETOOLONG;
	if (!strcmp(root, "/"))
		rl = 0;
	else if (strncmp(rel, root, rl) || (rel[rl] && rel[rl] != '/'))
		return -EXDEV; /* our cgroup is not visible under this mount */
	if ((size_t)snprintf(out, len, "%s%s", mnt, rel + rl) >= len)
		return -ENAMETOOLONG;
	return 0;
}

int cg_parent_rel(const char *own, const char *parent, char *out, size_t len)
{
	int n;

	if (strstr(parent, ".."))
		return -EINVAL;
	if (parent[0] == '/')
		n = snprintf(out, len, "%s", parent);
	else
		n = snprintf(out, len, "%s/%s", strcmp(own, "/") ? own : "", parent);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	/* trim a trailing '/' */
	while (n > 1 && out[n - 1] == '/')
		out[--n] = '\0';
	return 0;
}

/* mkdir -p of cgroup rel under the mount, one component at a time through dir
 * fds without following links. */
int cg_mkdir_p(const char *mnt, const char *root, const char *rel, char *err, size_t len)
{
	char buf[SANDBOX_CG_PATH], *comp, *save = NULL;
	size_t rl = strcmp(root, "/") ? strlen(root) : 0;
	int fd = cg_open_dir(mnt), e = 0;

	if (fd < 0) {
		sandbox_errf(err, len, "cannot open the cgroup mount %s: %s", mnt,
			     sandbox_strerror(fd));
		return fd;
	}
	snprintf(buf, sizeof(buf), "%s", rel + rl);
	for (comp = strtok_r(buf, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
		int nfd;

		if (mkdirat(fd, comp, 0755) < 0 && errno != EEXIST) {
			e = -errno;
			break;
		}
		nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0) {
			e = -errno;
			break;
		}
		close(fd);
		fd = nfd;
	}
	close(fd);
	if (e)
		sandbox_errf(err, len, "cannot create the cgroup %s under %s: %s", rel, mnt,
			     sandbox_strerror(e));
	return e;
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

int sandbox_cg_detect_with(struct sandbox_cg_env *env, const struct sandbox_cg_config *cfg,
			   char *err, size_t len)
{
	const char *mnt = cfg && cfg->v2_mount ? cfg->v2_mount : CG_DEFAULT_V2;
	const char *parent = cfg && cfg->parent ? cfg->parent : CG_DEFAULT_PARENT;
	unsigned need = cfg ? cfg->need : SANDBOX_CG_REQUIRED;
	enum sandbox_cg_version only = cfg ? cfg->only : SANDBOX_CG_NONE;
	char why2[256] = "not tried", why1[256] = "not tried";
	int e;

	memset(env, 0, sizeof(*env));
	if (only != SANDBOX_CG_V1) {
		e = cg2_detect(env, mnt, parent, need, why2, sizeof(why2));
		if (!e) {
			summarize(env);
			return 0;
		}
		memset(env, 0, sizeof(*env));
		if (only == SANDBOX_CG_V2) {
			sandbox_errf(err, len, "%s", why2);
			return e;
		}
	}
	e = cg1_detect(env, parent, need, why1, sizeof(why1));
	if (!e) {
		summarize(env);
		return 0;
	}
	memset(env, 0, sizeof(*env));
	if (only == SANDBOX_CG_V1) {
		sandbox_errf(err, len, "%s", why1);
		return e;
	}
	env->version = SANDBOX_CG_NONE;
	sandbox_errf(env->summary, sizeof(env->summary),
		     "no usable cgroups (v2: %s; v1: %s), so memory, process and cpu limits rest "
		     "on rlimits only",
		     why2, why1);
	sandbox_errf(err, len, "%s", env->summary);
	return 0;
}

int sandbox_cg_detect(struct sandbox_cg_env *env, char *err, size_t len)
{
	return sandbox_cg_detect_with(env, NULL, err, len);
}

/* ------------------------------------------------------------------- lifecycle */

const struct cg_dir *cg_dir_for(const struct sandbox_cg *cg, unsigned ctrl)
{
	int i;

	for (i = 0; i < cg->ndirs; i++)
		if (cg->dirs[i].ctrls & ctrl)
			return &cg->dirs[i];
	return NULL;
}

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

static struct sandbox_cg *cg_new(enum sandbox_cg_version v)
{
	struct sandbox_cg *cg = calloc(1, sizeof(*cg));
	int i;

	if (!cg)
		return NULL;
	cg->version = v;
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
	if (env->version == SANDBOX_CG_NONE || env->nhier == 0) {
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
	if (!(cg = cg_new(env->version)))
		return -ENOMEM;
	cg->lim = *lim;
	snprintf(cg->name, sizeof(cg->name), CG_PREFIX "%d-%u%s%s", (int)getpid(),
		 __atomic_add_fetch(&cg_seq, 1, __ATOMIC_RELAXED), name && *name ? "-" : "",
		 name && *name ? name : "");
	e = open_dirs(cg, env, 1, err, len);
	if (!e)
		e = env->version == SANDBOX_CG_V2 ? cg2_apply(cg, err, len)
						  : cg1_apply(cg, err, len);
	if (e) {
		sandbox_cg_destroy(cg);
		return e;
	}
	*out = cg;
	return 0;
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
	return cg->version == SANDBOX_CG_V2 && cg->ndirs ? cg->dirs[0].fd : -EOPNOTSUPP;
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
	return cg->version == SANDBOX_CG_V2 ? cg2_stats(cg, st) : cg1_stats(cg, st);
}

/* ----------------------------------------------------------------------- kill */

int cg_procs_empty(const struct sandbox_cg *cg)
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
int cg_signal_all(struct sandbox_cg *cg)
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
	int round, frozen = 0;
	unsigned ms = 1;

	if (!cg)
		return 0;
	/* The common case: pid 1 took everything with it, there is nothing to freeze. */
	if (cg_procs_empty(cg))
		return 0;
	/* v2 cgroup.kill signals the whole tree at once, fork races included. */
	if (cg->version == SANDBOX_CG_V2 && cg2_kill(cg) == 0)
		goto wait;
	/* v1: freeze first so nothing forks or exits while we walk cgroup.procs. */
	if (cg->version == SANDBOX_CG_V1 && cg1_freeze(cg, 1) == 0)
		frozen = 1;
	cg_signal_all(cg);
	if (frozen)
		cg1_freeze(cg, 0); /* SIGKILL takes effect once thawed */
wait:
	for (round = 0; round < CG_KILL_ROUNDS; round++) {
		if (cg_procs_empty(cg))
			return 0;
		cg_sleep_ms(ms);
		if (ms < 20)
			ms *= 2;
		/* cgroup.kill was one-shot; repeat the per-pid loop for stragglers */
		if (round % 4 == 3)
			cg_signal_all(cg);
	}
	return cg_procs_empty(cg) ? 0 : -EBUSY;
}

/* ------------------------------------------------------------- thread moves */

static int write_zero(int fd)
{
	return write(fd, "0", 1) == 1 ? 0 : -errno;
}

int sandbox_cg_leave_thread(struct sandbox_cg_thread *back)
{
	int i, e, first = 0;

	for (i = 0; i < back->n; i++) {
		if ((e = write_zero(back->fds[i])) && !first)
			first = e;
		close(back->fds[i]);
	}
	back->n = 0;
	return first;
}

int sandbox_cg_enter_thread(struct sandbox_cg *cg, struct sandbox_cg_thread *back)
{
	char rel[SANDBOX_CG_PATH], host[SANDBOX_CG_PATH * 2];
	int i, e, fd, dfd;

	back->n = 0;
	if (!cg || cg->version != SANDBOX_CG_V1)
		return -EOPNOTSUPP;
	/* First every way back, so a failure half-way can always be undone. */
	for (i = 0; i < cg->ndirs; i++) {
		const struct cg_dir *d = &cg->dirs[i];
		size_t plen = strlen(d->path), rlen = strlen(d->rel);
		unsigned bit = d->ctrls & -d->ctrls;

		if (rlen > plen || strcmp(d->path + plen - rlen, d->rel))
			goto fail_e;
		if ((e = cg_own_path_in("/proc/thread-self/cgroup", cg_ctrl_name(bit), rel,
					sizeof(rel))) < 0)
			goto fail;
		if (snprintf(host, sizeof(host), "%.*s%s", (int)(plen - rlen), d->path,
			     strcmp(rel, "/") ? rel : "") >= (int)sizeof(host))
			goto fail_e;
		if ((dfd = cg_open_dir(host)) < 0) {
			e = dfd;
			goto fail;
		}
		fd = openat(dfd, "tasks", O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
		e = -errno;
		close(dfd);
		if (fd < 0)
			goto fail;
		back->fds[back->n++] = fd;
	}
	for (i = 0; i < cg->ndirs; i++) {
		fd = openat(cg->dirs[i].fd, "tasks", O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
		e = fd < 0 ? -errno : write_zero(fd);
		if (fd >= 0)
			close(fd);
		if (e)
			goto fail;
	}
	return 0;
fail_e:
	e = -EINVAL;
fail:
	sandbox_cg_leave_thread(back);
	return e;
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
			if (!(cg = cg_new(env->version)))
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
