/* cgroup_v2.c - job cgroups on the unified hierarchy (cgroup v2).
 *
 * Layout, with <own> our cgroup from the "0::" line of /proc/self/cgroup:
 *
 *   <own>/                    controllers enabled in cgroup.subtree_control
 *   <own>/reelbox-worker/     the worker's own processes, moved here if needed
 *   <own>/reelbox/            parent of the jobs, controllers enabled again
 *   <own>/reelbox/rbx-<pid>-<seq>/   one job: memory.max, memory.swap.max=0,
 *                                    memory.oom.group=1, pids.max, cpu.max
 *
 * The move into reelbox-worker is forced by the "no internal processes" rule: a
 * non-root cgroup that holds processes cannot enable controllers for its
 * children, so a worker started in a delegated cgroup (systemd Delegate=yes)
 * first empties it. The root cgroup is exempt and needs no move.
 *
 * Stats: memory.events "oom_kill", memory.peak (5.19+), pids.events "max",
 * cpu.stat "usage_usec" and "throttled_usec". Killing uses cgroup.kill (5.14+),
 * which signals the whole tree at once, fork races included.
 */
#define _GNU_SOURCE
#include "cgroup_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>

#define CG2_LEAF      "reelbox-worker"
#define CPU_PERIOD_US 100000ull

/* memory, pids and cpu named in a space-separated controller list */
static unsigned parse_ctrls(int dirfd, const char *file)
{
	static const unsigned bits[] = {SANDBOX_CG_MEMORY, SANDBOX_CG_PIDS, SANDBOX_CG_CPU};
	char buf[512], *tok, *save = NULL;
	unsigned out = 0;
	size_t i;

	if (cg_read(dirfd, file, buf, sizeof(buf)))
		return 0;
	for (tok = strtok_r(buf, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save))
		for (i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
			if (!strcmp(tok, cg_ctrl_name(bits[i])))
				out |= bits[i];
	return out;
}

static int enable(int dirfd, unsigned want)
{
	char buf[64] = "";
	unsigned c;

	for (c = SANDBOX_CG_MEMORY; c <= SANDBOX_CG_CPU; c <<= 1)
		if (want & c)
			snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s+%s",
				 buf[0] ? " " : "", cg_ctrl_name(c));
	return buf[0] ? cg_write(dirfd, "cgroup.subtree_control", buf) : 0;
}

/* Empty our own cgroup into the CG2_LEAF child, so it may enable controllers.
 * Repeats while processes keep appearing (a fork racing with the move). */
static int move_to_leaf(int basefd)
{
	char buf[8192], *tok, *save;
	int leaf, round, e = 0;

	if (mkdirat(basefd, CG2_LEAF, 0755) < 0 && errno != EEXIST)
		return -errno;
	leaf = openat(basefd, CG2_LEAF, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (leaf < 0)
		return -errno;
	for (round = 0; round < 10; round++) {
		if ((e = cg_read(basefd, "cgroup.procs", buf, sizeof(buf))))
			break;
		if (!buf[0])
			break;
		save = NULL;
		for (tok = strtok_r(buf, "\n", &save); tok; tok = strtok_r(NULL, "\n", &save))
			cg_write(leaf, "cgroup.procs", tok); /* ESRCH: it exited, fine */
	}
	close(leaf);
	return e;
}

/* Where we stand in the cgroup2 mount at mnt: root, the cgroup path its root shows;
 * base, the cgroup we delegate from (ours, or the parent of an admin-given absolute
 * parent); rel, the job parent. Each buffer holds SANDBOX_CG_PATH bytes. */
static int locate(const char *mnt, const char *parent, char *root, char *base, char *rel, char *err,
		  size_t len)
{
	char own[SANDBOX_CG_PATH], m[SANDBOX_CG_PATH], *slash;
	struct statfs sf;
	int e;

	if (statfs(mnt, &sf) < 0 || sf.f_type != CGROUP2_SUPER_MAGIC) {
		sandbox_errf(err, len, "%s is not a cgroup2 mount", mnt);
		return -ENOENT;
	}
	if (cg_find_mount("cgroup2", NULL, mnt, m, root, SANDBOX_CG_PATH))
		snprintf(root, SANDBOX_CG_PATH, "/");
	if (cg_own_path(NULL, own, sizeof(own))) {
		sandbox_errf(err, len, "/proc/self/cgroup has no cgroup v2 line");
		return -ENOENT;
	}
	/* Already moved into our leaf by an earlier detect: delegate from above it. */
	snprintf(base, SANDBOX_CG_PATH, "%s", own);
	if ((slash = strrchr(base, '/')) && !strcmp(slash + 1, CG2_LEAF))
		*(slash == base ? slash + 1 : slash) = '\0';
	if ((e = cg_parent_rel(base, parent, rel, SANDBOX_CG_PATH))) {
		sandbox_errf(err, len, "bad cgroup parent \"%s\"", parent);
		return e;
	}
	if (parent[0] == '/') {
		/* an admin-given parent: its parent must already be delegated to us */
		snprintf(base, SANDBOX_CG_PATH, "%s", rel);
		slash = strrchr(base, '/');
		*(slash == base ? slash + 1 : slash) = '\0';
	}
	return 0;
}

/* Enable the controllers we need for base's children (fd, at host), moving our own
 * processes out of the way when base holds them (movable: base is our own cgroup).
 * *want gets the controllers to enable further down. */
static int delegate(int fd, const char *host, unsigned need, int movable, unsigned *want, char *err,
		    size_t len)
{
	unsigned avail = parse_ctrls(fd, "cgroup.controllers");
	int e;

	if (need & ~avail) {
		unsigned missing = need & ~avail;

		sandbox_errf(err, len,
			     "cgroup v2 does not offer the %s controller to %s; delegate it "
			     "(systemd Delegate=yes, or its parent's cgroup.subtree_control)",
			     cg_ctrl_name(missing & (~missing + 1)), host);
		return -EOPNOTSUPP;
	}
	*want = avail & SANDBOX_CG_REQUIRED;
	e = enable(fd, *want);
	if (e == -EBUSY && movable && (e = move_to_leaf(fd)) == 0)
		e = enable(fd, *want);
	if (e)
		sandbox_errf(err, len, "cannot enable controllers in %s/cgroup.subtree_control: %s",
			     host, sandbox_strerror(e));
	return e;
}

/* Walk down from base (*fd) to the job parent rel, making each level and enabling the
 * controllers in it; *fd ends on rel. */
static int make_parent(int *fd, const char *mnt, const char *base, const char *rel, unsigned want,
		       char *err, size_t len)
{
	char buf[SANDBOX_CG_PATH], *comp, *save = NULL;
	int e = 0;

	snprintf(buf, sizeof(buf), "%s", rel + (strcmp(base, "/") ? strlen(base) : 0));
	for (comp = strtok_r(buf, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
		int nfd = -1;

		if (mkdirat(*fd, comp, 0755) < 0 && errno != EEXIST)
			e = -errno;
		else if ((nfd = openat(*fd, comp,
				       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
			e = -errno;
		if (e) {
			sandbox_errf(err, len, "cannot create the cgroup %s under %s: %s", rel, mnt,
				     sandbox_strerror(e));
			return e;
		}
		close(*fd);
		*fd = nfd;
		if ((e = enable(*fd, want))) {
			sandbox_errf(err, len, "cannot enable controllers in the cgroup %s: %s",
				     rel, sandbox_strerror(e));
			return e;
		}
	}
	return 0;
}

static int v2_detect(struct sandbox_cg_env *env, const char *mnt, const char *parent, unsigned need,
		     char *err, size_t len)
{
	char base[SANDBOX_CG_PATH], rel[SANDBOX_CG_PATH], root[SANDBOX_CG_PATH];
	char host[SANDBOX_CG_PATH];
	unsigned want;
	int fd, e;

	if ((e = locate(mnt, parent, root, base, rel, err, len)))
		return e;
	if ((e = cg_host_path(mnt, root, base, host, sizeof(host)))) {
		sandbox_errf(err, len, "our cgroup %s is not visible under %s", base, mnt);
		return e;
	}
	if ((fd = cg_open_dir(host)) < 0) {
		sandbox_errf(err, len, "cannot open the cgroup %s: %s", host, sandbox_strerror(fd));
		return fd;
	}
	if ((e = delegate(fd, host, need, parent[0] != '/', &want, err, len)) ||
	    (e = make_parent(&fd, mnt, base, rel, want, err, len))) {
		close(fd);
		return e;
	}
	env->ctrls = parse_ctrls(fd, "cgroup.subtree_control");
	close(fd);
	if (need & ~env->ctrls) {
		sandbox_errf(err, len, "cgroup v2 controllers did not get enabled in %s", rel);
		return -EOPNOTSUPP;
	}
	env->nhier = 1;
	env->hier[0].ctrls = env->ctrls;
	if ((e = cg_host_path(mnt, root, rel, env->hier[0].parent, sizeof(env->hier[0].parent))))
		return e;
	snprintf(env->hier[0].rel, sizeof(env->hier[0].rel), "%s", rel);
	return 0;
}

static int v2_apply(struct sandbox_cg *cg, char *err, size_t len)
{
	const struct cg_dir *d = &cg->dirs[0];
	char v[64];
	int e;

	if (cg->lim.memory_bytes) {
		snprintf(v, sizeof(v), "%llu", (unsigned long long)cg->lim.memory_bytes);
		if ((e = cg_set(d, "memory.max", v, err, len)))
			return e;
		/* No swap: a job must not outgrow its limit by paging out. The file is
		 * absent only when swap accounting is off. */
		if (cg_has_file(d->fd, "memory.swap.max") &&
		    (e = cg_set(d, "memory.swap.max", "0", err, len)))
			return e;
		/* An OOM kills the whole job, not one victim the script could respawn. */
		if (cg_has_file(d->fd, "memory.oom.group") &&
		    (e = cg_set(d, "memory.oom.group", "1", err, len)))
			return e;
	}
	if (cg->lim.pids) {
		snprintf(v, sizeof(v), "%u", cg->lim.pids);
		if ((e = cg_set(d, "pids.max", v, err, len)))
			return e;
	}
	if (cg->lim.cpus > 0) {
		unsigned long long q = (unsigned long long)(cg->lim.cpus * CPU_PERIOD_US + 0.5);

		if (q < 1000)
			q = 1000; /* the kernel's minimum quota */
		snprintf(v, sizeof(v), "%llu %llu", q, CPU_PERIOD_US);
		if ((e = cg_set(d, "cpu.max", v, err, len)))
			return e;
	}
	return 0;
}

static int v2_stats(const struct sandbox_cg *cg, struct sandbox_cg_stats *st)
{
	int fd = cg->dirs[0].fd;

	cg_read_key(fd, "memory.events", "oom_kill", &st->oom_kills);
	cg_read_u64(fd, "memory.peak", &st->memory_peak);
	cg_read_key(fd, "pids.events", "max", &st->pids_max_hits);
	cg_read_key(fd, "cpu.stat", "usage_usec", &st->cpu_usage_usec);
	cg_read_key(fd, "cpu.stat", "throttled_usec", &st->cpu_throttled_usec);
	return 0;
}

/* -ENOENT on kernels before 5.14: the caller falls back to killing pid by pid. */
static int v2_kill_all(struct sandbox_cg *cg)
{
	if (!cg_has_file(cg->dirs[0].fd, "cgroup.kill"))
		return -ENOENT;
	return cg_write(cg->dirs[0].fd, "cgroup.kill", "1");
}

static int v2_clone_fd(const struct sandbox_cg *cg)
{
	return cg->ndirs ? cg->dirs[0].fd : -EOPNOTSUPP;
}

/* No freezer walk and no thread move: cgroup.kill and CLONE_INTO_CGROUP instead. */
const struct cg_ops cg_v2_ops = {
    .version = SANDBOX_CG_V2,
    .detect = v2_detect,
    .apply = v2_apply,
    .stats = v2_stats,
    .kill_all = v2_kill_all,
    .clone_fd = v2_clone_fd,
};
