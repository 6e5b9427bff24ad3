/* policy.c - the seccomp allowlists, read as tables: the job's, and below it the
 * encoder helper's. The only user of libseccomp: seccomp.c is the rest of the
 * sandbox's door to it, and policy_gen/gen.c compiles the job's filter at build time.
 *
 * Everything not allowed below is denied. The rule for kill versus deny: a call
 * is killed when it only ever administers the machine (kernel image, modules,
 * power, swap, clock, accounting, I/O ports), so no runtime probes it and no
 * honest script can mean it. Every other closed call, exploit primitives
 * included, fails with an errno and is reported by name: the call never runs
 * either way, and a named failure is what lets a script's author fix it.
 *
 * seccomp(2) and PR_SET_SECCOMP are closed too. Stacking a filter could only
 * restrict further, but no render script installs one and the seccomp and user
 * notification code is kernel surface a script has no need to reach.
 */
#define _GNU_SOURCE
#include "policy.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#endif
#ifndef FICLONE
#define FICLONE 0x40049409
#endif

enum verdict {
	V_ALLOW,
	V_DENY,	 /* errno; reported through the listener in notify mode */
	V_QUIET, /* errno, never reported: libc probes it on every run */
	V_KILL,	 /* SECCOMP_RET_KILL_PROCESS */
};

struct policy_rule {
	const char *name;
	enum verdict verdict;
	int err;
	const char *why; /* which attack the rule stops; shown in the job log */
};

/* clang-format off */
#define ALLOW(n)           { #n, V_ALLOW, 0, NULL }
#define DENY(n, e, why)    { #n, V_DENY, e, why }
#define QUIET(n, e, why)   { #n, V_QUIET, e, why }
#define KILL(n, why)       { #n, V_KILL, 0, why }

static const struct policy_rule policy_rules[] = {
	/* Processes: pid 1 and every runtime fork, exec and reap. clone, prctl and
	 * personality are allowed only with the arguments in policy_arg_rules. */
	ALLOW(execve), ALLOW(execveat), ALLOW(fork), ALLOW(vfork), ALLOW(exit),
	ALLOW(exit_group), ALLOW(wait4), ALLOW(waitid), ALLOW(kill), ALLOW(tkill),
	ALLOW(tgkill), ALLOW(pidfd_open), ALLOW(pidfd_send_signal), ALLOW(getpid),
	ALLOW(getppid), ALLOW(gettid), ALLOW(getpgid), ALLOW(getpgrp), ALLOW(setpgid),
	ALLOW(getsid), ALLOW(setsid), ALLOW(set_tid_address), ALLOW(set_robust_list),
	ALLOW(rseq), ALLOW(arch_prctl), ALLOW(restart_syscall), ALLOW(uname),
	ALLOW(sysinfo), ALLOW(getcpu), ALLOW(umask), ALLOW(getrlimit), ALLOW(setrlimit),
	ALLOW(prlimit64), ALLOW(getrusage), ALLOW(times), ALLOW(getuid), ALLOW(geteuid),
	ALLOW(getgid), ALLOW(getegid), ALLOW(getresuid), ALLOW(getresgid),
	ALLOW(getgroups), ALLOW(capget),

	/* Signals and timers. */
	ALLOW(rt_sigaction), ALLOW(rt_sigprocmask), ALLOW(rt_sigreturn),
	ALLOW(rt_sigpending), ALLOW(rt_sigtimedwait), ALLOW(rt_sigsuspend),
	ALLOW(rt_sigqueueinfo), ALLOW(rt_tgsigqueueinfo), ALLOW(sigaltstack),
	ALLOW(pause), ALLOW(alarm), ALLOW(getitimer), ALLOW(setitimer), ALLOW(signalfd),
	ALLOW(signalfd4), ALLOW(timer_create), ALLOW(timer_settime),
	ALLOW(timer_gettime), ALLOW(timer_getoverrun), ALLOW(timer_delete),
	ALLOW(clock_gettime), ALLOW(clock_getres), ALLOW(clock_nanosleep),
	ALLOW(nanosleep), ALLOW(gettimeofday), ALLOW(time), ALLOW(timerfd_create),
	ALLOW(timerfd_settime), ALLOW(timerfd_gettime),

	/* Memory: allocators, JITs (node), NUMA hints (ffmpeg), locked pages
	 * within RLIMIT_MEMLOCK. */
	ALLOW(brk), ALLOW(mmap), ALLOW(munmap), ALLOW(mremap), ALLOW(mprotect),
	ALLOW(madvise), ALLOW(msync), ALLOW(mincore), ALLOW(mlock), ALLOW(mlock2),
	ALLOW(munlock), ALLOW(membarrier), ALLOW(get_mempolicy), ALLOW(set_mempolicy),
	ALLOW(mbind), ALLOW(pkey_alloc), ALLOW(pkey_free), ALLOW(pkey_mprotect),
	ALLOW(memfd_create),

	/* Threads and scheduling (numpy's OpenBLAS, ffmpeg's frame threads). */
	ALLOW(futex), ALLOW(futex_waitv), ALLOW(sched_yield), ALLOW(sched_getaffinity),
	ALLOW(sched_setaffinity), ALLOW(sched_getparam), ALLOW(sched_getscheduler),
	ALLOW(sched_get_priority_max), ALLOW(sched_get_priority_min),
	ALLOW(sched_rr_get_interval), ALLOW(getpriority), ALLOW(setpriority),

	/* Files. What a path can reach is the mount namespace's business; xattr
	 * writes are how coreutils sets modes (system.posix_acl_access), and the
	 * kernel still checks ownership and capabilities. */
	ALLOW(read), ALLOW(write), ALLOW(readv), ALLOW(writev), ALLOW(pread64),
	ALLOW(pwrite64), ALLOW(preadv), ALLOW(pwritev), ALLOW(preadv2), ALLOW(pwritev2),
	ALLOW(open), ALLOW(openat), ALLOW(openat2), ALLOW(creat), ALLOW(close),
	ALLOW(close_range), ALLOW(lseek), ALLOW(dup), ALLOW(dup2), ALLOW(dup3),
	ALLOW(fcntl), ALLOW(flock), ALLOW(fsync), ALLOW(fdatasync), ALLOW(truncate),
	ALLOW(ftruncate), ALLOW(fallocate), ALLOW(fadvise64), ALLOW(readahead),
	ALLOW(sendfile), ALLOW(copy_file_range), ALLOW(stat), ALLOW(fstat), ALLOW(lstat),
	ALLOW(newfstatat), ALLOW(statx), ALLOW(statfs), ALLOW(fstatfs), ALLOW(access),
	ALLOW(faccessat), ALLOW(faccessat2), ALLOW(getdents), ALLOW(getdents64),
	ALLOW(getcwd), ALLOW(chdir), ALLOW(fchdir), ALLOW(mkdir), ALLOW(mkdirat),
	ALLOW(rmdir), ALLOW(unlink), ALLOW(unlinkat), ALLOW(rename), ALLOW(renameat),
	ALLOW(renameat2), ALLOW(link), ALLOW(linkat), ALLOW(symlink), ALLOW(symlinkat),
	ALLOW(readlink), ALLOW(readlinkat), ALLOW(chmod), ALLOW(fchmod), ALLOW(fchmodat),
	ALLOW(fchmodat2), ALLOW(chown), ALLOW(fchown), ALLOW(lchown), ALLOW(fchownat),
	ALLOW(utime), ALLOW(utimes), ALLOW(utimensat), ALLOW(futimesat), ALLOW(getxattr),
	ALLOW(lgetxattr), ALLOW(fgetxattr), ALLOW(listxattr), ALLOW(llistxattr),
	ALLOW(flistxattr), ALLOW(setxattr), ALLOW(lsetxattr), ALLOW(fsetxattr),
	ALLOW(removexattr), ALLOW(lremovexattr), ALLOW(fremovexattr), ALLOW(inotify_init), ALLOW(inotify_init1),
	ALLOW(inotify_add_watch), ALLOW(inotify_rm_watch),

	/* Pipes, events and polling. */
	ALLOW(pipe), ALLOW(pipe2), ALLOW(eventfd), ALLOW(eventfd2), ALLOW(poll),
	ALLOW(ppoll), ALLOW(select), ALLOW(pselect6), ALLOW(epoll_create),
	ALLOW(epoll_create1), ALLOW(epoll_ctl), ALLOW(epoll_wait), ALLOW(epoll_pwait),
	ALLOW(epoll_pwait2),

	/* Sockets: creation is limited to AF_UNIX in policy_arg_rules, so these
	 * only ever act on unix sockets. */
	ALLOW(bind), ALLOW(listen), ALLOW(accept), ALLOW(accept4), ALLOW(connect),
	ALLOW(getsockname), ALLOW(getpeername), ALLOW(sendto), ALLOW(recvfrom),
	ALLOW(sendmsg), ALLOW(recvmsg), ALLOW(sendmmsg), ALLOW(recvmmsg),
	ALLOW(shutdown), ALLOW(setsockopt), ALLOW(getsockopt),

	ALLOW(getrandom),

	/* Probed by glibc on every thread and posix_spawn. */
	QUIET(clone3, ENOSYS, "clone3 passes its flags in memory the filter cannot read; "
			      "glibc falls back to clone"),

	/* Closed: fail and report. */
	DENY(io_uring_setup, EPERM, "io_uring runs file and socket operations the filter never sees"),
	DENY(io_uring_enter, EPERM, "io_uring runs file and socket operations the filter never sees"),
	DENY(io_uring_register, EPERM, "io_uring runs file and socket operations the filter never sees"),
	DENY(ptrace, EPERM, "reading or steering another process"),
	DENY(process_vm_readv, EPERM, "reading another process's memory"),
	DENY(process_vm_writev, EPERM, "writing another process's memory"),
	DENY(pidfd_getfd, EPERM, "stealing another process's descriptors"),
	DENY(kcmp, EPERM, "probing another process's kernel objects"),
	DENY(mount, EPERM, "changing the sandbox's mounts"),
	DENY(umount2, EPERM, "uncovering what the sandbox's mounts hide"),
	DENY(pivot_root, EPERM, "changing the sandbox's root"),
	DENY(chroot, EPERM, "changing the root (a classic escape with an open directory)"),
	DENY(fsopen, EPERM, "new mount API: building mounts outside mount(2)"),
	DENY(fsconfig, EPERM, "new mount API: building mounts outside mount(2)"),
	DENY(fsmount, EPERM, "new mount API: building mounts outside mount(2)"),
	DENY(fspick, EPERM, "new mount API: reconfiguring existing mounts"),
	DENY(open_tree, EPERM, "new mount API: cloning mount trees"),
	DENY(move_mount, EPERM, "new mount API: attaching mounts"),
	DENY(mount_setattr, EPERM, "new mount API: making read-only mounts writable"),
	DENY(unshare, EPERM, "new namespaces (user namespaces open kernel attack surface)"),
	DENY(setns, EPERM, "joining another namespace"),
	DENY(keyctl, EPERM, "the kernel keyring is shared with the host"),
	DENY(add_key, EPERM, "the kernel keyring is shared with the host"),
	DENY(request_key, EPERM, "the kernel keyring is shared with the host"),
	DENY(bpf, EPERM, "loading eBPF programs into the kernel"),
	DENY(perf_event_open, EPERM, "perf events leak kernel addresses and are exploit surface"),
	DENY(userfaultfd, EPERM, "pausing kernel page faults to win exploit races"),
	DENY(clock_adjtime, EPERM, "adjusting the host clock"),
	DENY(adjtimex, EPERM, "adjusting the host clock"),
	DENY(quotactl, EPERM, "administering disk quotas"),
	DENY(quotactl_fd, EPERM, "administering disk quotas"),
	DENY(open_by_handle_at, EPERM, "opening host files by handle past the mounts (Shocker)"),
	DENY(name_to_handle_at, EPERM, "forging file handles for open_by_handle_at"),
	DENY(syslog, EPERM, "the kernel log leaks host activity and kernel addresses"),
	DENY(seccomp, EPERM, "installing filters; no script needs seccomp's kernel surface"),
	DENY(modify_ldt, EPERM, "16-bit segments, a past source of kernel bugs"),
	DENY(vmsplice, EPERM, "page-cache splicing, the Dirty Pipe primitive"),
	DENY(splice, EPERM, "page-cache splicing, the Dirty Pipe primitive"),
	DENY(tee, EPERM, "page-cache splicing, the Dirty Pipe primitive"),
	DENY(process_madvise, EPERM, "acting on another process's memory"),
	DENY(move_pages, EPERM, "moving another process's pages"),
	DENY(migrate_pages, EPERM, "moving another process's pages"),
	DENY(sethostname, EPERM, "renaming the machine"),
	DENY(setdomainname, EPERM, "renaming the machine"),

	/* Closed: kill. Only machine administration makes these calls. */
	KILL(kexec_load, "replacing the running kernel"),
	KILL(kexec_file_load, "replacing the running kernel"),
	KILL(init_module, "loading code into the kernel"),
	KILL(finit_module, "loading code into the kernel"),
	KILL(delete_module, "unloading kernel modules"),
	KILL(reboot, "rebooting or halting the host"),
	KILL(swapon, "changing the host's swap"),
	KILL(swapoff, "changing the host's swap"),
	KILL(settimeofday, "setting the host clock"),
	KILL(clock_settime, "setting the host clock"),
	KILL(acct, "turning on process accounting to a file"),
	KILL(iopl, "raw access to I/O ports"),
	KILL(ioperm, "raw access to I/O ports"),
};
/* clang-format on */

/* Calls allowed or closed by their arguments. An argument allowed by no ALLOW
 * row falls to the default deny; the ALLOW row's why says what that refuses. */
struct policy_arg_rule {
	const char *name;
	enum verdict verdict;
	int err;
	unsigned arg;
	enum scmp_compare op;
	uint64_t a; /* the value, or the mask for SCMP_CMP_MASKED_EQ */
	uint64_t b; /* the value for SCMP_CMP_MASKED_EQ */
	const char *why;
};

/* clang-format off */
#define NS_FLAGS                                                                           \
	(CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |     \
	 CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWTIME)
#define LOW32 0xffffffffULL

#define ARG_ALLOW(n, i, op, a, b, why)   { #n, V_ALLOW, 0, i, op, a, b, why }
#define ARG_DENY(n, e, i, op, a, b, why) { #n, V_DENY, e, i, op, a, b, why }
#define IOCTL_OK(req)  ARG_ALLOW(ioctl, 1, SCMP_CMP_EQ, req, 0, IOCTL_WHY)
#define PRCTL_OK(opt)  ARG_ALLOW(prctl, 0, SCMP_CMP_EQ, opt, 0, PRCTL_WHY)

/* ioctl requests compare all 64 bits (SCMP_CMP_EQ): the kernel reads only the
 * low 32, so a loose compare would let 0x100000000|TIOCSTI through
 * (CVE-2019-10063). The deny rows, which only name the reason (the default
 * already denies them), mask to the 32 bits the kernel reads. */
#define IOCTL_WHY "only terminal queries and fd flags; device ioctls are kernel attack surface"
#define PRCTL_WHY "only naming, death signals and queries; the rest change security state"

static const struct policy_arg_rule policy_arg_rules[] = {
	ARG_ALLOW(clone, 0, SCMP_CMP_MASKED_EQ, NS_FLAGS, 0,
		  "only without namespace flags: new namespaces undo the sandbox's own"),
	ARG_ALLOW(socket, 0, SCMP_CMP_EQ, AF_UNIX, 0,
		  "network access; only AF_UNIX sockets exist inside"),
	ARG_DENY(socket, EAFNOSUPPORT, 0, SCMP_CMP_NE, AF_UNIX, 0,
		 "network access; only AF_UNIX sockets exist inside"),
	ARG_ALLOW(socketpair, 0, SCMP_CMP_EQ, AF_UNIX, 0,
		  "network access; only AF_UNIX sockets exist inside"),
	ARG_DENY(socketpair, EAFNOSUPPORT, 0, SCMP_CMP_NE, AF_UNIX, 0,
		 "network access; only AF_UNIX sockets exist inside"),
	/* personality is an unsigned int to the kernel: compare what it reads. */
	ARG_ALLOW(personality, 0, SCMP_CMP_MASKED_EQ, LOW32, 0xffffffff,
		  "changing the execution domain (ASLR off, 32-bit layout)"),
	ARG_ALLOW(personality, 0, SCMP_CMP_MASKED_EQ, LOW32, 0 /* PER_LINUX */,
		  "changing the execution domain (ASLR off, 32-bit layout)"),
	/* mkfifo; device nodes stay closed. */
	ARG_ALLOW(mknod, 1, SCMP_CMP_MASKED_EQ, S_IFMT, S_IFIFO, "creating device nodes"),
	ARG_ALLOW(mknodat, 2, SCMP_CMP_MASKED_EQ, S_IFMT, S_IFIFO, "creating device nodes"),

	IOCTL_OK(TCGETS), IOCTL_OK(TIOCGWINSZ), IOCTL_OK(TIOCGPGRP), IOCTL_OK(FIONREAD),
	IOCTL_OK(FIONBIO), IOCTL_OK(FIOCLEX), IOCTL_OK(FIONCLEX), IOCTL_OK(FICLONE),
	ARG_DENY(ioctl, EPERM, 1, SCMP_CMP_MASKED_EQ, LOW32, TIOCSTI,
		 "TIOCSTI types commands into a terminal outside the sandbox"),
	ARG_DENY(ioctl, EPERM, 1, SCMP_CMP_MASKED_EQ, LOW32, TIOCLINUX,
		 "TIOCLINUX reads and pastes the host console's selection"),

	PRCTL_OK(PR_SET_NAME), PRCTL_OK(PR_GET_NAME), PRCTL_OK(PR_SET_PDEATHSIG),
	PRCTL_OK(PR_GET_PDEATHSIG), PRCTL_OK(PR_SET_DUMPABLE), PRCTL_OK(PR_GET_DUMPABLE),
	PRCTL_OK(PR_GET_KEEPCAPS), PRCTL_OK(PR_GET_SECCOMP), PRCTL_OK(PR_CAPBSET_READ),
	PRCTL_OK(PR_GET_SECUREBITS), PRCTL_OK(PR_SET_TIMERSLACK), PRCTL_OK(PR_GET_TIMERSLACK),
	PRCTL_OK(PR_SET_CHILD_SUBREAPER), PRCTL_OK(PR_GET_CHILD_SUBREAPER),
	PRCTL_OK(PR_SET_NO_NEW_PRIVS), PRCTL_OK(PR_GET_NO_NEW_PRIVS),
	PRCTL_OK(PR_SET_THP_DISABLE), PRCTL_OK(PR_GET_THP_DISABLE), PRCTL_OK(PR_SET_VMA),
};
/* clang-format on */

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static int native_nr(const char *name)
{
	return seccomp_syscall_resolve_name(name);
}

static uint32_t verdict_action(enum verdict v, int err, unsigned flags)
{
	switch (v) {
	case V_ALLOW:
		return SCMP_ACT_ALLOW;
	case V_KILL:
		return SCMP_ACT_KILL_PROCESS;
	case V_QUIET:
		return SCMP_ACT_ERRNO(err);
	case V_DENY:
		break;
	}
	return (flags & SANDBOX_POLICY_NOTIFY) ? SCMP_ACT_NOTIFY : SCMP_ACT_ERRNO(err);
}

/* Add every table row to ctx. A name this libseccomp does not know is skipped:
 * the call keeps the default action, which denies it. A deny row whose action
 * equals the default is not added (libseccomp refuses duplicates of the
 * default); it still names the reason in the job log. */
static int policy_add_rules(scmp_filter_ctx ctx, uint32_t def, unsigned flags, char *err,
			    size_t errlen)
{
	size_t i;
	int nr, rc;

	for (i = 0; i < N_ELEMS(policy_rules); i++) {
		const struct policy_rule *r = &policy_rules[i];
		uint32_t act = verdict_action(r->verdict, r->err, flags);

		if ((nr = native_nr(r->name)) == __NR_SCMP_ERROR || act == def)
			continue;
		if ((rc = seccomp_rule_add(ctx, act, nr, 0)) < 0) {
			snprintf(err, errlen, "seccomp rule for %s failed: %s", r->name,
				 strerror(-rc));
			return rc;
		}
	}
	for (i = 0; i < N_ELEMS(policy_arg_rules); i++) {
		const struct policy_arg_rule *r = &policy_arg_rules[i];
		uint32_t act = verdict_action(r->verdict, r->err, flags);
		struct scmp_arg_cmp cmp = {
		    .arg = r->arg, .op = r->op, .datum_a = r->a, .datum_b = r->b};

		if ((nr = native_nr(r->name)) == __NR_SCMP_ERROR || act == def)
			continue;
		if ((rc = seccomp_rule_add_exact_array(ctx, act, nr, 1, &cmp)) < 0) {
			snprintf(err, errlen, "seccomp argument rule for %s failed: %s", r->name,
				 strerror(-rc));
			return rc;
		}
	}
	return 0;
}

/* Export ctx as raw BPF into out. libseccomp only writes to an fd, so go
 * through an anonymous memfd and read it back. */
static int policy_export(scmp_filter_ctx ctx, struct sock_fprog *out, char *err, size_t errlen)
{
	struct sock_filter *insns = NULL;
	struct stat st;
	int fd, rc;

	if ((fd = memfd_create("reelbox-seccomp", MFD_CLOEXEC)) < 0) {
		rc = -errno;
		snprintf(err, errlen, "memfd for the seccomp filter failed: %s", strerror(-rc));
		return rc;
	}
	if ((rc = seccomp_export_bpf(ctx, fd)) < 0) {
		snprintf(err, errlen, "exporting the seccomp filter failed: %s", strerror(-rc));
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if (st.st_size == 0 || st.st_size % sizeof(*insns) != 0 ||
	    st.st_size / sizeof(*insns) > BPF_MAXINSNS) {
		rc = -E2BIG;
		snprintf(err, errlen, "the seccomp filter is %lld bytes, not a valid BPF program",
			 (long long)st.st_size);
		goto out;
	}
	if (!(insns = malloc(st.st_size))) {
		rc = -ENOMEM;
		goto out;
	}
	if (pread(fd, insns, st.st_size, 0) != st.st_size) {
		rc = -EIO;
		snprintf(err, errlen, "reading back the seccomp filter failed");
		free(insns);
		goto out;
	}
	out->filter = insns;
	out->len = st.st_size / sizeof(*insns);
	rc = 0;
out:
	close(fd);
	return rc;
}

/* Build the default-deny filter. Only the native architecture is in the filter:
 * a foreign ABI (i386 through int 0x80) hits ACT_BADARCH, and libseccomp's
 * x86_64 filter sends x32 numbers (nr | 0x40000000) there too. */
int sandbox_policy_build(struct sock_fprog *out, unsigned flags, char *err, size_t errlen)
{
	uint32_t def = (flags & SANDBOX_POLICY_NOTIFY) ? SCMP_ACT_NOTIFY : SCMP_ACT_ERRNO(EPERM);
	scmp_filter_ctx ctx;
	int rc;

	out->filter = NULL;
	out->len = 0;
	if (!(ctx = seccomp_init(def))) {
		snprintf(err, errlen, "libseccomp could not start a filter");
		return -ENOMEM;
	}
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS)) < 0 ||
	    (rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2)) < 0) {
		snprintf(err, errlen, "setting seccomp filter attributes failed: %s",
			 strerror(-rc));
		goto out;
	}
	if ((rc = policy_add_rules(ctx, def, flags, err, errlen)) < 0)
		goto out;
	rc = policy_export(ctx, out, err, errlen);
out:
	seccomp_release(ctx);
	return rc;
}

/* ---- the encoder helper's allowlist ---------------------------------------------- */

#define HELPER_ALLOW(call)                                                                         \
	{                                                                                          \
		SCMP_SYS(call), SCMP_ACT_ALLOW                                                     \
	}

/* The encoder's allowlist: compute, allocate memory that is never executable, run
 * threads, and move bytes through the descriptors it was handed. No open, no socket,
 * no exec, no signals to others: a libav bug exploited by crafted frames finds nothing
 * to open and no one to talk to. Anything not listed kills the process (SIGSYS), so a
 * call missing here shows up as a failed job, never as a silent hole. */
static const struct {
	int nr;
	uint32_t action;
} helper_rules[] = {
    HELPER_ALLOW(read),
    HELPER_ALLOW(write),
    HELPER_ALLOW(readv),
    HELPER_ALLOW(writev),
    HELPER_ALLOW(pread64),
    HELPER_ALLOW(pwrite64),
    HELPER_ALLOW(lseek),
    HELPER_ALLOW(close),
    HELPER_ALLOW(fstat),
    HELPER_ALLOW(fsync),
    HELPER_ALLOW(fdatasync),
    HELPER_ALLOW(ftruncate),
    HELPER_ALLOW(poll),
    HELPER_ALLOW(ppoll),
    HELPER_ALLOW(sendmsg),
    HELPER_ALLOW(sendto),
    HELPER_ALLOW(recvmsg),
    HELPER_ALLOW(recvfrom),
    HELPER_ALLOW(munmap),
    HELPER_ALLOW(mremap),
    HELPER_ALLOW(brk),
    HELPER_ALLOW(madvise),
    HELPER_ALLOW(futex),
    HELPER_ALLOW(set_robust_list),
    HELPER_ALLOW(get_robust_list),
    HELPER_ALLOW(rseq),
    HELPER_ALLOW(rt_sigprocmask),
    HELPER_ALLOW(rt_sigaction),
    HELPER_ALLOW(rt_sigreturn),
    HELPER_ALLOW(sigaltstack),
    HELPER_ALLOW(exit),
    HELPER_ALLOW(exit_group),
    HELPER_ALLOW(gettid),
    HELPER_ALLOW(getpid),
    HELPER_ALLOW(getppid),
    HELPER_ALLOW(getuid),
    HELPER_ALLOW(geteuid),
    HELPER_ALLOW(getgid),
    HELPER_ALLOW(getegid),
    HELPER_ALLOW(sched_getaffinity),
    HELPER_ALLOW(sched_yield),
    HELPER_ALLOW(clock_gettime),
    HELPER_ALLOW(clock_getres),
    HELPER_ALLOW(clock_nanosleep),
    HELPER_ALLOW(nanosleep),
    HELPER_ALLOW(gettimeofday),
    HELPER_ALLOW(getrandom),
    HELPER_ALLOW(getrusage),
    HELPER_ALLOW(membarrier),
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
    /* libx265 asks libnuma whether NUMA exists; ENOSYS answers "no" and it runs on. */
    {SCMP_SYS(get_mempolicy), SCMP_ACT_ERRNO(ENOSYS)},
};

/* The table, then the rules that compare arguments, into a kill-by-default filter. The
 * helper sets no_new_privs itself (SCMP_FLTATR_CTL_NNP off), as one of its named steps. */
int sandbox_policy_build_helper(struct sock_fprog *out, char *err, size_t errlen)
{
	const uint32_t exec = PROT_EXEC;
	scmp_filter_ctx ctx;
	int r = 0;

	out->filter = NULL;
	out->len = 0;
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
			 strerror(r < 0 ? -r : r));
		return r < 0 ? r : -EINVAL;
	}
	r = policy_export(ctx, out, err, errlen);
	seccomp_release(ctx);
	return r;
}

#undef HELPER_ALLOW

void sandbox_policy_free(struct sock_fprog *prog)
{
	if (!prog)
		return;
	free(prog->filter);
	prog->filter = NULL;
	prog->len = 0;
}

int sandbox_policy_install(const struct sock_fprog *prog, int *listener)
{
	long fd;

	/* Without no_new_privs a setuid binary could shed the filter's intent. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (!listener)
		return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, prog) < 0 ? -errno : 0;
	fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, prog);
	if (fd < 0)
		return -errno;
	*listener = (int)fd;
	return 0;
}

int sandbox_policy_send_listener(int sock, int listener)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	char byte = 'L';
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *c;

	memset(&u, 0, sizeof(u));
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &listener, sizeof(int));
	while (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

int sandbox_policy_recv_listener(int sock, int *listener)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	char byte;
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *c;
	ssize_t n;

	while ((n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0)
		if (errno != EINTR)
			return -errno;
	c = CMSG_FIRSTHDR(&msg);
	if (n == 0 || !c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
	    c->cmsg_len != CMSG_LEN(sizeof(int)))
		return -EBADMSG;
	memcpy(listener, CMSG_DATA(c), sizeof(int));
	return 0;
}

const char *sandbox_policy_syscall_name(int nr, char *buf, size_t len)
{
	char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);

	if (name)
		snprintf(buf, len, "%s", name);
	else
		snprintf(buf, len, "syscall_%d", nr);
	free(name);
	return buf;
}

const char *sandbox_policy_sigsys_reason(void)
{
	return "killed by SIGSYS: it made a system call the sandbox forbids outright "
	       "(kexec, kernel modules, reboot, swap, setting the clock, process accounting, "
	       "I/O ports) or used a foreign ABI (x32, i386)";
}

static int arg_rule_matches(const struct policy_arg_rule *r, const uint64_t *args)
{
	uint64_t v = args[r->arg];

	switch (r->op) {
	case SCMP_CMP_EQ:
		return v == r->a;
	case SCMP_CMP_NE:
		return v != r->a;
	case SCMP_CMP_MASKED_EQ:
		return (v & r->a) == r->b;
	default:
		return 0;
	}
}

/* Why name was denied with these args, and with which errno: a matching deny
 * row, else the first allow row (its why says what it refuses), else the plain
 * table, else the allowlist itself. */
static const char *policy_reason(const char *name, const uint64_t *args, int *err)
{
	const char *allow_why = NULL;
	size_t i;

	*err = EPERM;
	for (i = 0; i < N_ELEMS(policy_arg_rules); i++) {
		const struct policy_arg_rule *r = &policy_arg_rules[i];

		if (strcmp(r->name, name) != 0)
			continue;
		if (r->verdict == V_DENY && arg_rule_matches(r, args)) {
			*err = r->err;
			return r->why;
		}
		if (r->verdict == V_ALLOW && !allow_why)
			allow_why = r->why;
	}
	if (allow_why)
		return allow_why;
	for (i = 0; i < N_ELEMS(policy_rules); i++) {
		if (strcmp(policy_rules[i].name, name) == 0 && policy_rules[i].verdict == V_DENY) {
			*err = policy_rules[i].err;
			return policy_rules[i].why;
		}
	}
	return "not on the sandbox's allowlist";
}

static const char *family_name(uint64_t af)
{
	static const struct {
		int af;
		const char *name;
	} fams[] = {
	    {AF_INET, "AF_INET"},	{AF_INET6, "AF_INET6"},
	    {AF_NETLINK, "AF_NETLINK"}, {AF_PACKET, "AF_PACKET"},
	    {AF_ALG, "AF_ALG"},		{AF_VSOCK, "AF_VSOCK"},
	    {AF_KEY, "AF_KEY"},		{AF_BLUETOOTH, "AF_BLUETOOTH"},
	    {AF_XDP, "AF_XDP"},
	};
	size_t i;

	for (i = 0; i < N_ELEMS(fams); i++)
		if ((uint64_t)fams[i].af == af)
			return fams[i].name;
	return NULL;
}

/* The call as a script author would recognise it: "socket(AF_INET)". */
static void describe_call(const char *name, const uint64_t *args, char *buf, size_t len)
{
	static const struct {
		uint64_t flag;
		const char *name;
	} ns[] = {
	    {CLONE_NEWUSER, "CLONE_NEWUSER"},	  {CLONE_NEWNS, "CLONE_NEWNS"},
	    {CLONE_NEWPID, "CLONE_NEWPID"},	  {CLONE_NEWNET, "CLONE_NEWNET"},
	    {CLONE_NEWIPC, "CLONE_NEWIPC"},	  {CLONE_NEWUTS, "CLONE_NEWUTS"},
	    {CLONE_NEWCGROUP, "CLONE_NEWCGROUP"}, {CLONE_NEWTIME, "CLONE_NEWTIME"},
	};
	size_t i, off;
	const char *fam;

	if (!strcmp(name, "socket") || !strcmp(name, "socketpair")) {
		if ((fam = family_name(args[0])))
			snprintf(buf, len, "%s(%s)", name, fam);
		else
			snprintf(buf, len, "%s(family %llu)", name, (unsigned long long)args[0]);
	} else if (!strcmp(name, "clone") || !strcmp(name, "unshare")) {
		off = (size_t)snprintf(buf, len, "%s(", name);
		for (i = 0; i < N_ELEMS(ns) && off < len; i++)
			if (args[0] & ns[i].flag)
				off += (size_t)snprintf(buf + off, len - off, "%s%s",
							buf[off - 1] == '(' ? "" : "|", ns[i].name);
		if (off < len)
			snprintf(buf + off, len - off, ")");
	} else if (!strcmp(name, "ioctl")) {
		snprintf(buf, len, "ioctl(%s0x%llx)",
			 (args[1] & LOW32) == TIOCSTI	  ? "TIOCSTI "
			 : (args[1] & LOW32) == TIOCLINUX ? "TIOCLINUX "
							  : "",
			 (unsigned long long)args[1]);
	} else if (!strcmp(name, "prctl") || !strcmp(name, "personality")) {
		snprintf(buf, len, "%s(%llu)", name, (unsigned long long)args[0]);
	} else {
		snprintf(buf, len, "%s", name);
	}
}

int sandbox_policy_notify_receive_and_deny(int listener, char *msg, size_t len)
{
	struct seccomp_notif *req = NULL;
	struct seccomp_notif_resp *resp = NULL;
	char name[64], call[160];
	const char *why;
	int rc, err;

	if ((rc = seccomp_notify_alloc(&req, &resp)) < 0)
		return rc;
	/* The kernel insists on a zeroed request buffer. */
	memset(req, 0, sizeof(*req));
	if ((rc = seccomp_notify_receive(listener, req)) < 0)
		goto out;
	if (req->data.arch != seccomp_arch_native()) {
		/* Foreign ABIs are killed before they get here; be safe anyway. */
		snprintf(call, sizeof(call), "syscall %d of arch 0x%x", req->data.nr,
			 req->data.arch);
		why = "foreign ABI";
		err = EPERM;
	} else {
		sandbox_policy_syscall_name(req->data.nr, name, sizeof(name));
		describe_call(name, (const uint64_t *)req->data.args, call, sizeof(call));
		why = policy_reason(name, (const uint64_t *)req->data.args, &err);
	}
	memset(resp, 0, sizeof(*resp));
	resp->id = req->id;
	resp->error = -err;
	resp->val = 0;
	resp->flags = 0;
	/* A failed answer means the caller died meanwhile; the call never ran. */
	rc = seccomp_notify_respond(listener, resp);
	snprintf(msg, len, "denied %s: %s", call, why);
out:
	seccomp_notify_free(req, resp);
	return rc;
}
