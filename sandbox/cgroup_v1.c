/* cgroup_v1.c - job cgroups on cgroup v1: one hierarchy per controller.
 *
 * memory:  memory.limit_in_bytes, and memory.memsw.limit_in_bytes set to the
 *          same value when swap accounting exists (RAM + swap = RAM: no swap);
 *          memory.swappiness 0 either way.
 * pids:    pids.max.
 * cpu:     cpu.cfs_period_us 100 ms and cpu.cfs_quota_us = cores * period.
 * cpuacct: read only, cpuacct.usage for the job's cpu time.
 * freezer: used only while killing, so nothing forks or exits mid-walk.
 *
 * A job starts inside: the thread that clones the sandbox steps into the job through
 * each hierarchy's tasks file for the clone and out again (v1_enter_thread).
 *
 * Stats: memory.oom_control "oom_kill", memory.failcnt, memory.max_usage_in_bytes,
 * pids.events "max", cpuacct.usage, cpu.stat "throttled_time".
 */
#define _GNU_SOURCE
#include "cgroup_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CFS_PERIOD_US 100000ull

static const unsigned v1_ctrls[] = {
    SANDBOX_CG_MEMORY, SANDBOX_CG_PIDS, SANDBOX_CG_CPU, SANDBOX_CG_CPUACCT, SANDBOX_CG_FREEZER,
};

/* Find each controller's mount and our cgroup in it, and make the job parent
 * there. Comounted controllers (cpu,cpuacct) share one hierarchy entry. */
static int v1_detect(struct sandbox_cg_env *env, const char *v2_mount, const char *parent,
		     unsigned need, char *err, size_t len)
{
	char own[SANDBOX_CG_PATH], mnt[SANDBOX_CG_PATH], root[SANDBOX_CG_PATH];
	char rel[SANDBOX_CG_PATH], host[SANDBOX_CG_PATH], why[256] = "";
	size_t i;
	int j, e;

	for (i = 0; i < sizeof(v1_ctrls) / sizeof(v1_ctrls[0]); i++) {
		unsigned c = v1_ctrls[i];
		const char *name = cg_ctrl_name(c);

		if (cg_find_mount("cgroup", name, NULL, mnt, root, sizeof(mnt)) ||
		    cg_own_path(name, own, sizeof(own)))
			continue;
		if (cg_parent_rel(own, parent, rel, sizeof(rel)) ||
		    cg_host_path(mnt, root, rel, host, sizeof(host)))
			continue;
		for (j = 0; j < env->nhier; j++)
			if (!strcmp(env->hier[j].parent, host))
				break;
		if (j == env->nhier) {
			e = cg_mkdir_p(mnt, root, rel, why, sizeof(why));
			if (e && (need & c)) {
				sandbox_errf(err, len, "cgroup v1: %s", why);
				return e;
			}
			if (e) /* an optional controller we cannot use is left out */
				continue;
			snprintf(env->hier[j].parent, sizeof(env->hier[j].parent), "%s", host);
			snprintf(env->hier[j].rel, sizeof(env->hier[j].rel), "%s", rel);
			env->nhier++;
		}
		env->hier[j].ctrls |= c;
		env->ctrls |= c;
	}
	for (i = 0; i < sizeof(v1_ctrls) / sizeof(v1_ctrls[0]); i++) {
		if ((need & v1_ctrls[i]) && !(env->ctrls & v1_ctrls[i])) {
			sandbox_errf(err, len, "no cgroup v1 %s hierarchy is mounted",
				     cg_ctrl_name(v1_ctrls[i]));
			return -ENOENT;
		}
	}
	if (!env->nhier) {
		sandbox_errf(err, len, "no cgroup v1 hierarchy is mounted");
		return -ENOENT;
	}
	return 0;
}

/* The hierarchy that carries ctrl, or NULL. */
static const struct cg_dir *dir_for(const struct sandbox_cg *cg, unsigned ctrl)
{
	int i;

	for (i = 0; i < cg->ndirs; i++)
		if (cg->dirs[i].ctrls & ctrl)
			return &cg->dirs[i];
	return NULL;
}

static int v1_apply(struct sandbox_cg *cg, char *err, size_t len)
{
	const struct cg_dir *d;
	char v[32];
	int e;

	if (cg->lim.memory_bytes && (d = dir_for(cg, SANDBOX_CG_MEMORY))) {
		snprintf(v, sizeof(v), "%llu", (unsigned long long)cg->lim.memory_bytes);
		/* RAM + swap capped at RAM: the job cannot spill into swap. memsw may never be
		 * below the limit: lowering both (a new cgroup's are unlimited) writes the
		 * limit first, raising them (a warm sandbox's helper resized, pool.c) memsw. */
		int memsw = cg_has_file(d->fd, "memory.memsw.limit_in_bytes");

		if (memsw && cg_set(d, "memory.memsw.limit_in_bytes", v, err, len) == 0) {
			if ((e = cg_set(d, "memory.limit_in_bytes", v, err, len)))
				return e;
		} else if ((e = cg_set(d, "memory.limit_in_bytes", v, err, len)) ||
			   (memsw && (e = cg_set(d, "memory.memsw.limit_in_bytes", v, err, len))))
			return e;
		if (cg_has_file(d->fd, "memory.swappiness") &&
		    (e = cg_set(d, "memory.swappiness", "0", err, len)))
			return e;
	}
	if (cg->lim.pids && (d = dir_for(cg, SANDBOX_CG_PIDS))) {
		snprintf(v, sizeof(v), "%u", cg->lim.pids);
		if ((e = cg_set(d, "pids.max", v, err, len)))
			return e;
	}
	if (cg->lim.cpus > 0 && (d = dir_for(cg, SANDBOX_CG_CPU))) {
		unsigned long long q = (unsigned long long)(cg->lim.cpus * CFS_PERIOD_US + 0.5);

		if (q < 1000)
			q = 1000; /* the kernel's minimum quota */
		snprintf(v, sizeof(v), "%llu", CFS_PERIOD_US);
		if ((e = cg_set(d, "cpu.cfs_period_us", v, err, len)))
			return e;
		snprintf(v, sizeof(v), "%llu", q);
		if ((e = cg_set(d, "cpu.cfs_quota_us", v, err, len)))
			return e;
	}
	return 0;
}

static int v1_stats(const struct sandbox_cg *cg, struct sandbox_cg_stats *st)
{
	const struct cg_dir *d;
	uint64_t v;

	if ((d = dir_for(cg, SANDBOX_CG_MEMORY))) {
		cg_read_key(d->fd, "memory.oom_control", "oom_kill", &st->oom_kills);
		cg_read_u64(d->fd, "memory.failcnt", &st->memory_failcnt);
		if (cg_read_u64(d->fd, "memory.memsw.failcnt", &v) == 0 && v > st->memory_failcnt)
			st->memory_failcnt = v;
		cg_read_u64(d->fd, "memory.max_usage_in_bytes", &st->memory_peak);
	}
	if ((d = dir_for(cg, SANDBOX_CG_PIDS)))
		cg_read_key(d->fd, "pids.events", "max", &st->pids_max_hits);
	if ((d = dir_for(cg, SANDBOX_CG_CPUACCT)) && cg_read_u64(d->fd, "cpuacct.usage", &v) == 0)
		st->cpu_usage_usec = v / 1000;
	if ((d = dir_for(cg, SANDBOX_CG_CPU)) &&
	    cg_read_key(d->fd, "cpu.stat", "throttled_time", &v) == 0)
		st->cpu_throttled_usec = v / 1000;
	return 0;
}

/* Freeze (or thaw) the job in the v1 freezer hierarchy, waiting up to a second
 * for FROZEN. -ENOENT when there is no freezer. */
static int v1_freeze(struct sandbox_cg *cg, int frozen)
{
	const struct cg_dir *d = dir_for(cg, SANDBOX_CG_FREEZER);
	char state[32];
	int e, i;

	if (!d)
		return -ENOENT;
	if ((e = cg_write(d->fd, "freezer.state", frozen ? "FROZEN" : "THAWED")))
		return e;
	if (!frozen)
		return 0;
	for (i = 0; i < 100; i++) {
		if (cg_read(d->fd, "freezer.state", state, sizeof(state)) == 0 &&
		    !strncmp(state, "FROZEN", 6))
			return 0;
		cg_sleep_ms(10);
	}
	cg_write(d->fd, "freezer.state", "THAWED");
	return -ETIMEDOUT;
}

/* Move the calling thread (only it) into the job in every hierarchy, so a process it
 * clones is born inside. Writing "0" to tasks moves the caller without the kernel's
 * global threadgroup lock, which a pid written to cgroup.procs takes and pays an RCU
 * grace period for (milliseconds). */
static int v1_enter_thread(struct sandbox_cg *cg, struct sandbox_cg_thread *back)
{
	char rel[SANDBOX_CG_PATH], host[SANDBOX_CG_PATH * 2];
	struct cg_text now;
	int i, e, fd, dfd;

	back->n = 0;
	if ((e = cg_text_read("/proc/thread-self/cgroup", &now)) < 0)
		return e;
	/* First every way back, so a failure half-way can always be undone. */
	for (i = 0; i < cg->ndirs; i++) {
		const struct cg_dir *d = &cg->dirs[i];
		size_t plen = strlen(d->path), rlen = strlen(d->rel);
		unsigned bit = d->ctrls & -d->ctrls;

		if (rlen > plen || strcmp(d->path + plen - rlen, d->rel))
			goto fail_e;
		if ((e = cg_own_path_text(&now, cg_ctrl_name(bit), rel, sizeof(rel))) < 0)
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
		e = fd < 0 ? -errno : write(fd, "0", 1) == 1 ? 0 : -errno;
		if (fd >= 0)
			close(fd);
		if (e)
			goto fail;
	}
	cg_text_free(&now);
	return 0;
fail_e:
	e = -EINVAL;
fail:
	cg_text_free(&now);
	cg_thread_return(back);
	return e;
}

/* No one-stroke kill and no CLONE_INTO_CGROUP: the freezer and a thread move instead. */
const struct cg_ops cg_v1_ops = {
    .version = SANDBOX_CG_V1,
    .detect = v1_detect,
    .apply = v1_apply,
    .stats = v1_stats,
    .freeze = v1_freeze,
    .enter_thread = v1_enter_thread,
};
