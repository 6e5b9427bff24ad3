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
 * The seccomp allowlist is built once per process with libseccomp (the process that
 * forks helpers does it before its first fork) and installed by each helper.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cgroups.h"
#include "internal.h"
#include "policy.h"

/* Helper ids sit above every slot's script id: BASE + MAX_SLOT + 1 + slot. */
#define HELPER_ID_BASE (SANDBOX_HOST_ID_BASE + SANDBOX_MAX_SLOT + 1u)

static struct sock_fprog helper_prog;

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
	if (sb->cgroup.helper) {
		n = sandbox_cg_procs_fds(sb->cgroup.helper, t->cg_fds, SANDBOX_HELPER_MAX_CG);
		if (n < 0) {
			snprintf(err, errlen, "cannot open the encoder's cgroup: %s",
				 sandbox_strerror(n));
			return n;
		}
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

void sandbox_helper_ticket_close(struct sandbox_helper_ticket *t)
{
	for (int i = 0; i < SANDBOX_HELPER_MAX_CG; i++) {
		if (t->cg_fds[i] >= 0)
			close(t->cg_fds[i]);
		t->cg_fds[i] = -1;
	}
	t->n_cg = 0;
}

#define ALLOW(call) {SCMP_SYS(call), SCMP_ACT_ALLOW}

/* The encoder's allowlist: compute, allocate memory that is never executable, run
 * threads, and move bytes through the descriptors it was handed. No open, no socket,
 * no exec, no signals to others: a libav bug exploited by crafted frames finds nothing
 * to open and no one to talk to. Anything not listed kills the process (SIGSYS), so a
 * call missing here shows up as a failed job, never as a silent hole. */
static const struct {
	int nr;
	uint32_t action;
} helper_rules[] = {
    ALLOW(read),
    ALLOW(write),
    ALLOW(readv),
    ALLOW(writev),
    ALLOW(pread64),
    ALLOW(pwrite64),
    ALLOW(lseek),
    ALLOW(close),
    ALLOW(fstat),
    ALLOW(fsync),
    ALLOW(fdatasync),
    ALLOW(ftruncate),
    ALLOW(poll),
    ALLOW(ppoll),
    ALLOW(sendmsg),
    ALLOW(sendto),
    ALLOW(recvmsg),
    ALLOW(recvfrom),
    ALLOW(munmap),
    ALLOW(mremap),
    ALLOW(brk),
    ALLOW(madvise),
    ALLOW(futex),
    ALLOW(set_robust_list),
    ALLOW(get_robust_list),
    ALLOW(rseq),
    ALLOW(rt_sigprocmask),
    ALLOW(rt_sigaction),
    ALLOW(rt_sigreturn),
    ALLOW(sigaltstack),
    ALLOW(exit),
    ALLOW(exit_group),
    ALLOW(gettid),
    ALLOW(getpid),
    ALLOW(getppid),
    ALLOW(getuid),
    ALLOW(geteuid),
    ALLOW(getgid),
    ALLOW(getegid),
    ALLOW(sched_getaffinity),
    ALLOW(sched_yield),
    ALLOW(clock_gettime),
    ALLOW(clock_getres),
    ALLOW(clock_nanosleep),
    ALLOW(nanosleep),
    ALLOW(gettimeofday),
    ALLOW(getrandom),
    ALLOW(getrusage),
    ALLOW(membarrier),
    /* glibc probes clone3 first; ENOSYS sends it to clone, whose flags are checked. */
    {SCMP_SYS(clone3), SCMP_ACT_ERRNO(ENOSYS)},
    /* Probes that may fail politely: cpu counts read from /sys, terminal checks. */
    {SCMP_SYS(openat), SCMP_ACT_ERRNO(EACCES)},
    {SCMP_SYS(open), SCMP_ACT_ERRNO(EACCES)},
    {SCMP_SYS(newfstatat), SCMP_ACT_ERRNO(EACCES)},
    {SCMP_SYS(statx), SCMP_ACT_ERRNO(ENOSYS)},
    {SCMP_SYS(ioctl), SCMP_ACT_ERRNO(ENOTTY)},
    {SCMP_SYS(sysinfo), SCMP_ACT_ERRNO(EPERM)},
    {SCMP_SYS(sched_setaffinity), SCMP_ACT_ERRNO(EPERM)},
    {SCMP_SYS(prlimit64), SCMP_ACT_ERRNO(EPERM)},
};

int sandbox_helper_policy_prepare(char *err, size_t errlen)
{
	const uint32_t exec = PROT_EXEC;
	scmp_filter_ctx ctx;
	int r = 0;

	if (helper_prog.filter)
		return 0;
	ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (!ctx) {
		snprintf(err, errlen, "cannot build the encoder's seccomp filter");
		return -ENOMEM;
	}
	for (size_t i = 0; i < sizeof(helper_rules) / sizeof(helper_rules[0]) && !r; i++)
		r = seccomp_rule_add(ctx, helper_rules[i].action, helper_rules[i].nr, 0);
	/* Memory, but never executable: no code can be loaded after the confinement. */
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ, exec, 0));
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ, exec, 0));
	/* Threads only: a new process could outlive the job's accounting. */
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				     SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
	/* Its own descriptors' status flags (the reader's O_NONBLOCK) and nothing else. */
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1,
				     SCMP_A1(SCMP_CMP_LE, F_SETFL));
	for (int cmd = F_SETPIPE_SZ; !r && cmd <= F_GETPIPE_SZ; cmd++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1,
				     SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)cmd));
	/* Naming its own threads. */
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
				     SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME));
	/* Signals to itself only (abort, thread cancellation). */
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 0);
	if (!r)
		r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	if (r) {
		seccomp_release(ctx);
		snprintf(err, errlen, "cannot build the encoder's seccomp filter: %s",
			 sandbox_strerror(r));
		return r < 0 ? r : -EINVAL;
	}
	r = sandbox_policy_export(ctx, &helper_prog, err, errlen);
	seccomp_release(ctx);
	return r;
}

static int kept(int fd, const int *keep, int n_keep)
{
	for (int i = 0; i < n_keep; i++)
		if (keep[i] == fd)
			return 1;
	return 0;
}

#define STEP(cond, what)                                                                   \
	do {                                                                               \
		if (!(cond)) {                                                             \
			int e_ = errno ? errno : EINVAL;                                   \
			snprintf(err, errlen, "cannot confine the encoder (%s): %s", what, \
				 sandbox_strerror(e_));                                    \
			return -e_;                                                        \
		}                                                                          \
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
	STEP(helper_prog.filter != NULL, "no filter was prepared");
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
	/* Without a cgroup to hold it, address space is the only memory bound left. */
	if (!t->n_cg && t->memory_bytes)
		STEP(set_rlimit(RLIMIT_AS, t->memory_bytes + (512ull << 20)), "RLIMIT_AS");
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
	STEP(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &helper_prog) == 0, "seccomp");
	return 0;
}

int sandbox_helper_usage(const struct sandbox *sb, struct sandbox_helper_usage *u)
{
	struct sandbox_cg_stats st;
	int r;

	memset(u, 0, sizeof(*u));
	if (!sb->cgroup.helper)
		return 0;
	if ((r = sandbox_cg_stats(sb->cgroup.helper, &st)) < 0)
		return r;
	u->peak_memory_bytes = st.memory_peak;
	u->cpu_ms = st.cpu_usage_usec / 1000;
	u->oom = st.oom_kills > 0;
	return 0;
}

int sandbox_helper_kill(struct sandbox *sb)
{
	return sb->cgroup.helper ? sandbox_cg_kill(sb->cgroup.helper) : 0;
}
