/* cgroup.c - the per-sandbox cgroup: memory, pids and cpu limits.
 *
 * The cgroup work itself (v1 and v2, limits, stats, kill, sweep) is in cgroups.h and
 * cgroup_{job,fs,v1,v2}.c; this file is the sandbox's side of it, and the only file of
 * the sandbox that calls cgroups.h. The seams, in the order sandbox_start() and
 * sandbox_destroy() call them:
 *   create_from_parent   before clone3; a cgroup v2 dir fd in cg->clone_fd makes the
 *                        child start inside it (CLONE_INTO_CGROUP, no race)
 *   enter/leave_...      around the clone3 (sandbox.c): on cgroup v1 the cloning thread
 *                        steps into the job cgroup and out again, so the child is born
 *                        inside (fast)
 *   attach_from_parent   the fallback when that failed (cgroup v1): the child is
 *                        blocked on the sync pipe, so it runs nothing outside
 *   classify             after the reap: OOM or pids events turn into the result's
 *                        end and reason; usage fills cpu_ms and peak_memory_bytes
 *   destroy              after the reap: kill what is left, remove the dirs
 *   sweep_stale          when reelbox starts
 * and for the helper (helper.c): its cgroup's procs fds, usage and kill.
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
	/* A version that clones straight into the cgroup (v2) gives its dir fd. */
	r = sandbox_cg_dirfd(cg->cg);
	cg->clone_fd = r >= 0 ? r : -1;
	return 0;
}

void sandbox_cgroup_enter_from_parent(struct sandbox_cgroup *cg)
{
	cg->born_inside = 0;
	cg->entered = cg->cg && cg->clone_fd < 0 && sandbox_cg_enter_thread(cg->cg, &cg->back) == 0;
}

int sandbox_cgroup_leave_from_parent(struct sandbox_cgroup *cg, int cloned)
{
	int r;

	if (!cg->entered)
		return 0;
	cg->entered = 0;
	/* The thread must not stay: the worker's own work would count against the job. */
	if ((r = sandbox_cg_leave_thread(&cg->back)) < 0)
		return r;
	cg->born_inside = cloned;
	return 0;
}

int sandbox_cgroup_attach_from_parent(struct sandbox_cgroup *cg, pid_t pid)
{
	/* v2 cloned straight into it; v1 may have been born inside. */
	if (!cg->cg || (!cg->must_attach && (cg->clone_fd >= 0 || cg->born_inside)))
		return 0;
	return sandbox_cg_attach(cg->cg, pid);
}

int sandbox_cgroup_exists(const struct sandbox_cgroup *cg)
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
			       "; no cgroup held this job's limits here (memory was a per-process "
			       "RLIMIT_DATA, processes RLIMIT_NPROC, no cpu quota)");
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

static struct sandbox_cg_limits helper_cg_limits(const struct sandbox_helper_limits *h)
{
	return (struct sandbox_cg_limits){
	    .memory_bytes = h->memory_bytes,
	    .pids = h->pids ? h->pids : 64,
	    .cpus = h->cpus > 0 ? h->cpus : 0,
	};
}

int sandbox_cgroup_create_helper_from_parent(struct sandbox_cgroup *cg,
					     const struct sandbox_spec *spec, char *err,
					     size_t errlen)
{
	const struct sandbox_cg_env *e = get_env();
	struct sandbox_cg_limits lim = helper_cg_limits(&spec->helper);
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
}

static void add_name(const char **list, int *n, const char *name)
{
	if (*n < SANDBOX_ENFORCED_MAX)
		list[(*n)++] = name;
}

void sandbox_enforcement(struct sandbox_enforcement *out)
{
	static const unsigned ctrl[] = {SANDBOX_CG_MEMORY, SANDBOX_CG_PIDS, SANDBOX_CG_CPU};
	static const char *const ctrl_name[] = {"memory", "pids", "cpu"};
	static const char *const rlimits[] = {"wall_clock", "rlimit_cpu", "rlimit_fsize",
					      "rlimit_nofile", "rlimit_nproc"};
	const struct sandbox_cg_env *e = get_env();
	unsigned have = e->version == SANDBOX_CG_NONE ? 0 : e->ctrls;

	const char *shared = "; not root: every slot runs as this user's uid";

	memset(out, 0, sizeof(*out));
	out->rootless = geteuid() != 0;
	if (!out->rootless)
		out->slot_uids = "per-slot";
	else
		out->slot_uids = sandbox_ids_subordinate(NULL) ? "subuid" : "shared";
	if (strcmp(out->slot_uids, "shared"))
		shared = out->rootless ? "; not root: each slot runs as the user's subordinate id "
					 "(/etc/subuid)"
				       : "";
	if (e->version == SANDBOX_CG_V2)
		out->cgroup = out->rootless ? "v2-delegated" : "v2";
	else
		out->cgroup = e->version == SANDBOX_CG_V1 ? "v1" : "none";
	for (size_t i = 0; i < sizeof(ctrl) / sizeof(ctrl[0]); i++) {
		if (have & ctrl[i])
			add_name(out->enforced, &out->n_enforced, ctrl_name[i]);
		else
			add_name(out->not_enforced, &out->n_not_enforced, ctrl_name[i]);
	}
	for (size_t i = 0; i < sizeof(rlimits) / sizeof(rlimits[0]); i++)
		add_name(out->enforced, &out->n_enforced, rlimits[i]);
	/* limits.c's stand-in for a cgroup memory limit */
	if (!(have & SANDBOX_CG_MEMORY))
		add_name(out->enforced, &out->n_enforced, "rlimit_data");
	if (e->version != SANDBOX_CG_NONE)
		snprintf(out->summary, sizeof(out->summary),
			 "limits: cgroup %s (memory, pids, cpu), rlimits and the wall clock%s",
			 out->cgroup, shared);
	else
		snprintf(out->summary, sizeof(out->summary),
			 "limits: rlimits and the wall clock only (memory per process by "
			 "RLIMIT_DATA, processes by RLIMIT_NPROC, no cpu quota): %s%s",
			 out->rootless ? "not root and no delegated cgroup v2 subtree"
				       : "no usable cgroups",
			 shared);
}

int sandbox_cgroup_sweep_stale(void)
{
	const struct sandbox_cg_env *e = get_env();

	return e->version == SANDBOX_CG_NONE ? 0 : sandbox_cg_sweep(e);
}

int sandbox_cgroup_helper_fds(const struct sandbox_cgroup *cg, int *fds, int max)
{
	return cg->helper ? sandbox_cg_procs_fds(cg->helper, fds, max) : 0;
}

int sandbox_cgroup_helper_usage(const struct sandbox_cgroup *cg, struct sandbox_helper_usage *u)
{
	struct sandbox_cg_stats st;
	int r;

	memset(u, 0, sizeof(*u));
	if (!cg->helper)
		return 0;
	if ((r = sandbox_cg_stats(cg->helper, &st)) < 0)
		return r;
	u->peak_memory_bytes = st.memory_peak;
	u->cpu_ms = st.cpu_usage_usec / 1000;
	u->oom = st.oom_kills > 0;
	return 0;
}

int sandbox_cgroup_helper_set_limits(struct sandbox_cgroup *cg,
				     const struct sandbox_helper_limits *h, char *err,
				     size_t errlen)
{
	struct sandbox_cg_limits lim = helper_cg_limits(h);

	return cg->helper ? sandbox_cg_set_limits(cg->helper, &lim, err, errlen) : 0;
}

int sandbox_cgroup_helper_kill(struct sandbox_cgroup *cg)
{
	return cg->helper ? sandbox_cg_kill(cg->helper) : 0;
}
