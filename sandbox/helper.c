/* helper.c - the box around a process that works for a sandbox from outside it.
 *
 * The encoder reads the frames a script writes and spends more CPU and memory on the
 * job than the script may: it must be charged to the job and confined like it. It is
 * not a second sandbox (it needs no namespaces, no root file system and must start in
 * microseconds from a process that has libav loaded), so it is boxed in place:
 *   ticket    the worker's side: the helper cgroup's cgroup.procs fds and the ids
 *   confine   the helper's side, in order: cgroup, rlimits, descriptors, ids,
 *             no_new_privs, seccomp; after it the process can compute on what it
 *             holds and nothing else
 *   usage     the cgroup's counters after the job, for the result
 * The seccomp allowlist is a table in policy.c, built once per process through seccomp.c
 * (the process that forks helpers does it before its first fork) and installed by each
 * helper as its last step.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "internal.h"

/* Helper ids sit above every slot's script id: BASE + MAX_SLOT + 1 + slot. */
#define HELPER_ID_BASE (SANDBOX_HOST_ID_BASE + SANDBOX_MAX_SLOT + 1u)

int sandbox_helper_ticket(const struct sandbox *sb, struct sandbox_helper_ticket *t, char *err,
			  size_t errlen)
{
	int n = 0;

	memset(t, 0, sizeof(*t));
	for (int i = 0; i < SANDBOX_HELPER_MAX_CG; i++)
		t->cg_fds[i] = -1;
	if (!sb->helper.enabled) {
		snprintf(err, errlen, "this sandbox was started without a helper cgroup");
		return -EINVAL;
	}
	n = sandbox_cgroup_helper_fds(&sb->cgroup, t->cg_fds, SANDBOX_HELPER_MAX_CG);
	if (n < 0) {
		snprintf(err, errlen, "cannot open the encoder's cgroup: %s", sandbox_strerror(n));
		return n;
	}
	t->n_cg = n;
	if (geteuid() == 0)
		t->uid = t->gid = HELPER_ID_BASE + sb->slot;
	t->memory_bytes = sb->helper.memory_bytes;
	t->cpu_seconds = sb->helper.cpu_seconds;
	t->file_bytes = sb->helper.file_bytes;
	t->pids = sb->helper.pids ? sb->helper.pids : 64;
	return 0;
}

int sandbox_helper_set_limits(struct sandbox *sb, const struct sandbox_helper_limits *h, char *err,
			      size_t errlen)
{
	int r;

	if (!sb->helper.enabled || !h->enabled) {
		snprintf(err, errlen, "this sandbox was started without a helper cgroup");
		return -EINVAL;
	}
	/* the same box as the start's (a default job's encoder): nothing to write */
	if (h->memory_bytes == sb->helper.memory_bytes && h->pids == sb->helper.pids &&
	    h->cpus == sb->helper.cpus) {
		sb->helper = *h;
		return 0;
	}
	if ((r = sandbox_cgroup_helper_set_limits(&sb->cgroup, h, err, errlen)) < 0)
		return r;
	sb->helper = *h;
	return 0;
}

void sandbox_helper_ticket_close(struct sandbox_helper_ticket *t)
{
	for (int i = 0; i < SANDBOX_HELPER_MAX_CG; i++) {
		if (t->cg_fds[i] >= 0)
			close(t->cg_fds[i]);
		t->cg_fds[i] = -1;
	}
	t->n_cg = 0;
}

int sandbox_helper_policy_prepare(char *err, size_t errlen)
{
	return sandbox_seccomp_helper_prepare(err, errlen);
}

static int kept(int fd, const int *keep, int n_keep)
{
	for (int i = 0; i < n_keep; i++)
		if (keep[i] == fd)
			return 1;
	return 0;
}

#define STEP(cond, what)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			int e_ = errno ? errno : EINVAL;                                           \
			snprintf(err, errlen, "cannot confine the encoder (%s): %s", what,         \
				 sandbox_strerror(e_));                                            \
			return -e_;                                                                \
		}                                                                                  \
	} while (0)

static int set_rlimit(int res, uint64_t v)
{
	struct rlimit rl = {.rlim_cur = v, .rlim_max = v};

	return setrlimit(res, &rl) == 0;
}

int sandbox_helper_confine(const struct sandbox_helper_ticket *t, const int *keep, int n_keep,
			   char *err, size_t errlen)
{
	int maxfd = 2;

	errno = 0;
	STEP(sandbox_seccomp_helper_ready(), "no filter was prepared");
	/* Into the job's box before anything of the job is read. */
	for (int i = 0; i < t->n_cg; i++)
		STEP(write(t->cg_fds[i], "0", 1) == 1, "entering its cgroup");
	for (int i = 0; i < n_keep; i++)
		if (keep[i] > maxfd)
			maxfd = keep[i];
	/* Every descriptor but stdio and the kept ones: nothing of the worker's reaches it. */
	for (int fd = 3; fd <= maxfd; fd++)
		if (!kept(fd, keep, n_keep))
			close(fd);
	STEP(close_range((unsigned)maxfd + 1, ~0u, 0) == 0, "closing descriptors");
	STEP(set_rlimit(RLIMIT_NOFILE, (uint64_t)maxfd + 1), "RLIMIT_NOFILE");
	STEP(set_rlimit(RLIMIT_CORE, 0), "RLIMIT_CORE");
	/* No real-time signal queue or message queue to fill at its uid's expense. */
	STEP(set_rlimit(RLIMIT_SIGPENDING, 16), "RLIMIT_SIGPENDING");
	STEP(set_rlimit(RLIMIT_MSGQUEUE, 0), "RLIMIT_MSGQUEUE");
	STEP(set_rlimit(RLIMIT_MEMLOCK, 0), "RLIMIT_MEMLOCK");
	if (t->cpu_seconds)
		STEP(set_rlimit(RLIMIT_CPU, t->cpu_seconds), "RLIMIT_CPU");
	if (t->file_bytes)
		STEP(set_rlimit(RLIMIT_FSIZE, t->file_bytes), "RLIMIT_FSIZE");
#if !defined(__SANITIZE_ADDRESS__)
	/* Without a cgroup to hold it (not root, or no usable cgroups), address space is the
	 * only memory bound left. Not in an AddressSanitizer build: its shadow memory is
	 * terabytes of address space reserved at start, so no limit could be met. */
	if (!t->n_cg && t->memory_bytes)
		STEP(set_rlimit(RLIMIT_AS, t->memory_bytes + (512ull << 20)), "RLIMIT_AS");
#endif
	if (t->uid) {
		/* Its own uid: a compromised encoder owns no host file and shares no
		 * per-user count or signal right with any other job or the worker. */
		STEP(t->n_cg || set_rlimit(RLIMIT_NPROC, t->pids), "RLIMIT_NPROC");
		STEP(setgroups(0, NULL) == 0, "clearing groups");
		STEP(setresgid(t->gid, t->gid, t->gid) == 0, "switching group");
		STEP(setresuid(t->uid, t->uid, t->uid) == 0, "switching user");
	}
	STEP(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0, "not dumpable");
	STEP(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "no_new_privs");
	STEP(sandbox_seccomp_helper_install() == 0, "seccomp");
	return 0;
}

int sandbox_helper_usage(const struct sandbox *sb, struct sandbox_helper_usage *u)
{
	return sandbox_cgroup_helper_usage(&sb->cgroup, u);
}

int sandbox_helper_kill(struct sandbox *sb)
{
	return sandbox_cgroup_helper_kill(&sb->cgroup);
}
