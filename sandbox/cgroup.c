/* cgroup.c - the per-sandbox cgroup: memory, pids and cpu limits.
 *
 * The cgroup work itself (v1 and v2, limits, stats, kill, sweep) is in cgroups.h and
 * cgroup_{common,v1,v2}.c; this file is the sandbox's side of it. The seams, in the
 * order sandbox_start() and sandbox_destroy() call them:
 *   create_from_parent   before clone3; a cgroup v2 dir fd in cg->clone_fd makes the
 *                        child start inside it (CLONE_INTO_CGROUP, no race)
 *   clone_inside_...     cgroup v1: the cloning thread steps into the job cgroup for the
 *                        clone3 and out again, so the child is born inside (fast)
 *   attach_from_parent   the fallback when that failed (cgroup v1): the child is
 *                        blocked on the sync pipe, so it runs nothing outside
 *   classify             after the reap: OOM or pids events turn into the result's
 *                        end and reason; usage fills cpu_ms and peak_memory_bytes
 *   destroy              after the reap: kill what is left, remove the dirs
 *   sweep_stale          when reelbox starts
 *
 * The host's setup is detected once per process. A host without usable cgroups still
 * runs sandboxes: the rlimits are then the only limits, and a failed job's reason says
 * so when limits were asked for.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroups.h"
#include "internal.h"

static pthread_once_t env_once = PTHREAD_ONCE_INIT;
static struct sandbox_cg_env env;

static void detect_once(void)
{
	char err[384];

	/* A NONE result is not an error: env.summary says why, for the result's reason. */
	if (sandbox_cg_detect(&env, err, sizeof(err)) < 0)
		env.version = SANDBOX_CG_NONE;
}

static const struct sandbox_cg_env *get_env(void)
{
	pthread_once(&env_once, detect_once);
	return &env;
}

int sandbox_cgroup_create_from_parent(struct sandbox_cgroup *cg, const struct sandbox_spec *spec,
				      char *err, size_t errlen)
{
	const struct sandbox_cg_env *e = get_env();
	struct sandbox_cg_limits lim = {
	    .memory_bytes = spec->limits.memory_bytes,
	    .pids = spec->limits.pids,
	    .cpus = spec->limits.cpus > 0 ? spec->limits.cpus : 0,
	};
	char name[32];
	int r;

	cg->clone_fd = -1;
	cg->path = NULL;
	cg->cg = NULL;
	cg->helper = NULL;
	cg->unenforced = 0;
	cg->memory_limited = lim.memory_bytes != 0;
	if (e->version == SANDBOX_CG_NONE) {
		cg->unenforced = lim.memory_bytes || lim.pids || lim.cpus > 0;
		return 0;
	}
	/* A cgroup even without limits: it measures the job and kills all of it. */
	snprintf(name, sizeof(name), "slot%u", spec->slot);
	if ((r = sandbox_cg_create(e, name, &lim, &cg->cg, err, errlen)) < 0)
		return r;
	if (e->version == SANDBOX_CG_V2)
		cg->clone_fd = sandbox_cg_dirfd(cg->cg);
	cg->path = strdup(sandbox_cg_path(cg->cg));
	if (!cg->path) {
		sandbox_cgroup_destroy(cg);
		return -ENOMEM;
	}
	return 0;
}

pid_t sandbox_cgroup_clone_inside_from_parent(struct sandbox_cgroup *cg, struct sandbox_child *c,
					      int *pidfd)
{
	struct sandbox_cg_thread back;
	pid_t pid;
	int r;

	cg->born_inside = 0;
	if (!cg->cg || cg->clone_fd >= 0 || sandbox_cg_enter_thread(cg->cg, &back) < 0)
		return sandbox_proc_clone_from_parent(c, cg->clone_fd, pidfd);
	pid = sandbox_proc_clone_from_parent(c, -1, pidfd);
	/* The thread must not stay: the worker's own work would count against the job. */
	if ((r = sandbox_cg_leave_thread(&back)) < 0) {
		if (pid > 0) {
			pidfd_send_signal(*pidfd, SIGKILL, NULL, 0);
			waitpid(pid, NULL, __WALL);
			close(*pidfd);
			*pidfd = -1;
		}
		return r;
	}
	cg->born_inside = pid > 0;
	return pid;
}

int sandbox_cgroup_attach_from_parent(struct sandbox_cgroup *cg, pid_t pid)
{
	/* v2 cloned straight into it; v1 may have been born inside. */
	if (!cg->cg || cg->clone_fd >= 0 || cg->born_inside)
		return 0;
	return sandbox_cg_attach(cg->cg, pid);
}

int sandbox_cgroup_has_pids(const struct sandbox_cgroup *cg)
{
	return cg->cg != NULL;
}

/* Did the command fail in a way a limit can explain? A kill that reelbox chose
 * (cancel), and the rlimits that name themselves, keep their own reason. */
static int limit_can_explain(const struct sandbox_result *res)
{
	if (res->end == SANDBOX_TIMEOUT)
		return 1;
	return res->end == SANDBOX_EXITED && (res->signal != 0 || res->exit_code != 0);
}

static void append(char *buf, size_t len, const char *s)
{
	size_t used = strlen(buf);

	if (used + strlen(s) < len)
		memcpy(buf + used, s, strlen(s) + 1);
}

void sandbox_cgroup_classify(struct sandbox_cgroup *cg, struct sandbox_result *res)
{
	struct sandbox_cg_stats st;
	char why[128];

	if (!cg->cg) {
		if (cg->unenforced && res->signal != 0)
			append(res->reason, sizeof(res->reason),
			       "; memory, process and cpu limits were not enforced: this host "
			       "has no usable cgroups");
		return;
	}
	if (sandbox_cg_stats(cg->cg, &st) < 0)
		return;
	/* The cgroup sees every process of the job, not only what pid 1 reaped. */
	if (st.cpu_usage_usec)
		res->cpu_ms = st.cpu_usage_usec / 1000;
	if (st.memory_peak)
		res->peak_memory_bytes = st.memory_peak;
	if (!limit_can_explain(res) || !sandbox_cg_limit_reason(cg->cg, &st, why, sizeof(why)))
		return;
	/* A fork refused by pids.max fails with EAGAIN and kills nothing, so a failed
	 * or timed-out job that hit it is reported as the process limit: that is what
	 * its author must change. The memory limit wins when both were hit. */
	res->end = cg->memory_limited && st.oom_kills ? SANDBOX_OOM : SANDBOX_PIDS;
	snprintf(res->reason, sizeof(res->reason), "%s", why);
}

int sandbox_cgroup_create_helper_from_parent(struct sandbox_cgroup *cg,
					     const struct sandbox_spec *spec, char *err,
					     size_t errlen)
{
	const struct sandbox_cg_env *e = get_env();
	struct sandbox_cg_limits lim = {
	    .memory_bytes = spec->helper.memory_bytes,
	    .pids = spec->helper.pids ? spec->helper.pids : 64,
	    .cpus = spec->helper.cpus > 0 ? spec->helper.cpus : 0,
	};
	char name[32];

	if (!spec->helper.enabled || e->version == SANDBOX_CG_NONE)
		return 0;
	snprintf(name, sizeof(name), "slot%u-enc", spec->slot);
	return sandbox_cg_create(e, name, &lim, &cg->helper, err, errlen);
}

void sandbox_cgroup_destroy(struct sandbox_cgroup *cg)
{
	/* Kills whatever is left first, so nothing escapes the removal. */
	sandbox_cg_destroy(cg->helper);
	cg->helper = NULL;
	sandbox_cg_destroy(cg->cg);
	cg->cg = NULL;
	cg->clone_fd = -1;
	free(cg->path);
	cg->path = NULL;
}

int sandbox_cgroup_sweep_stale(void)
{
	const struct sandbox_cg_env *e = get_env();

	return e->version == SANDBOX_CG_NONE ? 0 : sandbox_cg_sweep(e);
}
