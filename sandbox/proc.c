/* proc.c - the sandbox's first process: clone3 into new namespaces, set up, exec init.
 *
 * The parent (any thread of the worker) clones a child the way fork() would, but
 * into new user, mount, pid, network, IPC, UTS and cgroup namespaces, and gets a
 * pidfd for it. The child is pid 1 of its pid namespace. It waits on the sync pipe
 * until the parent has written its id maps, builds its root, waits for a second byte
 * (the parent has moved it into the job's cgroup meanwhile), drops every privilege,
 * and finally executes reelbox-init from a sealed memfd: a fresh program image, so
 * nothing of the worker's memory (its environment, the Redis password, any API key)
 * survives into the sandbox.
 *
 * Until that exec the child shares the worker's memory image: it may only make
 * async-signal-safe system calls on data the parent prepared (struct sandbox_child).
 * A failed step is reported on the CLOEXEC error pipe as errno, step and detail; a
 * successful exec closes the pipe, which is how the parent knows the sandbox runs.
 * Just before that exec the child installs the seccomp filter and sends its listener
 * to the parent over the notify socketpair.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/securebits.h>

#include "internal.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

/* struct clone_args up to CLONE_ARGS_SIZE_VER2, spelled out to avoid <linux/sched.h>
 * clashing with glibc's <sched.h>. */
struct sandbox_clone_args {
	uint64_t flags;
	uint64_t pidfd;
	uint64_t child_tid;
	uint64_t parent_tid;
	uint64_t exit_signal;
	uint64_t stack;
	uint64_t stack_size;
	uint64_t tls;
	uint64_t set_tid;
	uint64_t set_tid_size;
	uint64_t cgroup;
};
#define CLONE_ARGS_SIZE_VER0 64
#define CLONE_ARGS_SIZE_VER2 88

extern const unsigned char reelbox_init_blob[];
extern const unsigned char reelbox_init_blob_end[];

static pthread_once_t memfd_once = PTHREAD_ONCE_INIT;
static int memfd_result = -EINVAL;

/* Copy the embedded init into a memfd and seal it. The seals make it immutable for
 * good: a script that opens /proc/1/exe for writing (the runc CVE-2019-5736 class)
 * cannot change the init that later sandboxes execute. Execute-only: an exec of a file
 * its user may not read is non-dumpable from the start (the kernel's would_dump()), not
 * only from the init's own PR_SET_DUMPABLE a moment later. A zygote's command runs
 * beside the init from before that exec, and could otherwise open /proc/1/mem in
 * between (the descriptor keeps its access once opened). */
static void memfd_create_once(void)
{
	const unsigned char *p = reelbox_init_blob;
	/* Two symbols of blob.S: compare addresses, not pointers into one C object. */
	size_t left = (size_t)((uintptr_t)reelbox_init_blob_end - (uintptr_t)reelbox_init_blob);
	int fd;

	fd = memfd_create("reelbox-init", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
	if (fd < 0 && errno == EINVAL)
		fd = memfd_create("reelbox-init", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0) {
		memfd_result = -errno;
		return;
	}
	while (left) {
		ssize_t w = write(fd, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			memfd_result = w < 0 ? -errno : -EIO;
			close(fd);
			return;
		}
		p += w;
		left -= (size_t)w;
	}
	if (fchmod(fd, 0111) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
		memfd_result = -errno;
		close(fd);
		return;
	}
	memfd_result = fd;
}

int sandbox_proc_init_memfd(void)
{
	pthread_once(&memfd_once, memfd_create_once);
	return memfd_result;
}

const char *sandbox_step_name(int step)
{
	switch (step) {
	case SANDBOX_STEP_PDEATHSIG:
		return "setting the parent-death signal";
	case SANDBOX_STEP_FDS:
		return "arranging descriptors";
	case SANDBOX_STEP_IDS:
		return "switching to the sandbox user";
	case SANDBOX_STEP_MOUNT:
		return "mounting";
	case SANDBOX_STEP_HOSTNAME:
		return "setting the hostname";
	case SANDBOX_STEP_RLIMIT:
		return "setting rlimits";
	case SANDBOX_STEP_CHDIR:
		return "changing to the working directory";
	case SANDBOX_STEP_SESSION:
		return "starting a new session";
	case SANDBOX_STEP_CAPS:
		return "dropping capabilities";
	case SANDBOX_STEP_SECCOMP:
		return "installing the seccomp filter";
	case SANDBOX_STEP_EXEC:
		return "executing the sandbox's init";
	}
	return "setting up";
}

void sandbox_child_fail(int fd, int step, const char *detail, int err)
{
	struct sandbox_child_error e;
	size_t i = 0;

	memset(&e, 0, sizeof(e));
	e.step = step;
	e.err = err < 0 ? -err : err;
	while (detail && detail[i] && i < sizeof(e.detail) - 1) {
		e.detail[i] = detail[i];
		i++;
	}
	if (write(fd, &e, sizeof(e)) < 0) {
		/* nobody to tell */
	}
	_exit(127);
}

/* Put the descriptors the init needs at fixed numbers and close every other one: the
 * worker's Redis socket, its log files and other sandboxes' pipes must not reach the
 * script. Sources are first copied above 9 so that no dup3() clobbers a source. */
static int arrange_fds(struct sandbox_child *c)
{
	int src[8] = {c->stdio[0], c->stdio[1], c->stdio[2], c->status_fd,
		      c->init_fd,  c->error_fd, c->sync_fd,  c->notify_fd};
	int tmp[8];

	for (int i = 0; i < 8; i++) {
		tmp[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 10);
		if (tmp[i] < 0)
			return -errno;
	}
	for (int i = 0; i < 8; i++) {
		int flags = i <= SANDBOX_FD_STATUS ? 0 : O_CLOEXEC;
		if (dup3(tmp[i], i, flags) < 0)
			return -errno;
	}
	if (close_range(SANDBOX_FD_NOTIFY + 1, ~0U, 0) < 0)
		return -errno;
	c->error_fd = SANDBOX_FD_ERROR;
	c->sync_fd = SANDBOX_FD_SYNC;
	c->notify_fd = SANDBOX_FD_NOTIFY;
	return 0;
}

/* Arm the parent-death signal, and make sure the parent did not die before it was
 * armed. getppid() cannot tell (it is 0 in a new pid namespace); the sync pipe can:
 * the parent holds its write end until the init runs, so a hang-up means it died. */
static void arm_pdeathsig(struct sandbox_child *c)
{
	struct pollfd p = {.fd = c->sync_fd, .events = POLLIN};

	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		sandbox_child_fail(c->error_fd, SANDBOX_STEP_PDEATHSIG, NULL, errno);
	if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR)))
		_exit(127);
}

/* Handlers and ignored signals come from the worker: reset them all. A script whose
 * SIGPIPE the worker ignores would not stop when the frame pipe closes. */
static void reset_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (int sig = 1; sig < _NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &sa, NULL); /* glibc's own signals answer EINVAL */
}

/* A zygote's child (zygote.c), just before the init's exec: the command is a fork of
 * this image (glibc's fork: pid 2 gets its own thread id), and the init adopts it. */
static void fork_command(struct sandbox_child *c)
{
	static char pid_arg[16];
	static char *adopt_argv[] = {"reelbox-init", "--adopt", pid_arg, NULL};
	sigset_t none;
	pid_t cmd = fork();

	if (cmd < 0)
		sandbox_child_fail(c->error_fd, SANDBOX_STEP_EXEC, "(fork)", errno);
	if (cmd == 0) {
		/* Only stdio: the pipes to the parent are the init's. */
		if (close_range(3, ~0U, 0) < 0)
			_exit(127);
		/* Dumpable again, as an exec would leave it (the id switch cleared it):
		 * its own /proc files are its user's, as a cold command's are. */
		prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		c->command_fn(c->command_opaque);
		_exit(127);
	}
	snprintf(pid_arg, sizeof(pid_arg), "%d", (int)cmd);
	c->init_argv = adopt_argv;
	reset_signals();
}

__attribute__((noreturn)) static void run_child(struct sandbox_child *c)
{
	const char *what = NULL;
	sigset_t none;
	char byte;
	ssize_t n;
	int r;

	/* The child dies with the thread that cloned it. */
	arm_pdeathsig(c);
	/* Wait for the id maps. EOF means the parent died or gave up before it could
	 * release us, and there is nobody to report to. */
	do
		n = read(c->sync_fd, &byte, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		_exit(127);

	if ((r = arrange_fds(c)) < 0)
		sandbox_child_fail(c->error_fd, SANDBOX_STEP_FDS, NULL, r);
	/* A zygote's command keeps the zygote's dispositions (its interpreter's own, as a
	 * fresh start sets them); pid 1 resets them before its exec (below). */
	if (!c->command_fn)
		reset_signals();

	if ((r = sandbox_mounts_prepare_from_child(&c->mounts)) < 0)
		sandbox_child_fail(c->error_fd, SANDBOX_STEP_MOUNT, c->mounts.sb_dir, r);
	if ((r = sandbox_ids_switch_from_child(&c->ids)) < 0)
		sandbox_child_fail(c->error_fd, SANDBOX_STEP_IDS, NULL, r);
	/* Changing ids cleared the parent-death signal: arm it again. */
	arm_pdeathsig(c);
	if ((r = sandbox_mounts_apply_from_child(&c->mounts, &what)) < 0)
		sandbox_child_fail(c->error_fd, SANDBOX_STEP_MOUNT, what, r);
	/* The host's name is not the script's business. */
	if (sethostname("reelbox", 7) < 0)
		sandbox_child_fail(c->error_fd, SANDBOX_STEP_HOSTNAME, NULL, errno);
	if ((r = sandbox_limits_apply_from_child(&c->rlimits)) < 0)
		sandbox_child_fail(c->error_fd, SANDBOX_STEP_RLIMIT, NULL, r);
	if (chdir(c->cwd) < 0)
		sandbox_child_fail(c->error_fd, SANDBOX_STEP_CHDIR, c->cwd, errno);
	/* The scratch tmpfs dies with this mount namespace unless a descriptor holds it:
	 * the parent keeps one to open a file the job names once the script is gone. */
	if ((r = sandbox_scratch_send_from_child(c->notify_fd)) < 0)
		sandbox_child_fail(c->error_fd, SANDBOX_STEP_MOUNT, "/scratch (handing it over)",
				   r);
	/* A new session without a controlling terminal: TIOCSTI cannot push keystrokes
	 * into the operator's shell when reelbox exec runs on a terminal. */
	if (setsid() < 0)
		sandbox_child_fail(c->error_fd, SANDBOX_STEP_SESSION, NULL, errno);
	/* Nothing of the job's runs before the parent has put us in the job's cgroup. */
	do
		n = read(c->sync_fd, &byte, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		_exit(127);
	close(c->sync_fd);
	/* A zygote cloned us in its own cgroup, so our cgroup namespace's root is there:
	 * now that we are in the job's, root a new one here (a cold child is born inside). */
	if (c->command_fn && unshare(CLONE_NEWCGROUP) < 0)
		sandbox_child_fail(c->error_fd, SANDBOX_STEP_SESSION, "(cgroup namespace)", errno);
	if ((r = sandbox_caps_drop_from_child()) < 0)
		sandbox_child_fail(c->error_fd, SANDBOX_STEP_CAPS, NULL, r);
	/* Last: from here on every call is filtered, and only sendmsg, close,
	 * rt_sigprocmask and execveat remain to be made. */
	if ((r = sandbox_seccomp_install_from_child(&c->seccomp, c->notify_fd)) < 0)
		sandbox_child_fail(c->error_fd, SANDBOX_STEP_SECCOMP, NULL, r);

	sigemptyset(&none);
	if (c->command_fn)
		fork_command(c);
	sigprocmask(SIG_SETMASK, &none, NULL);
	syscall(SYS_execveat, SANDBOX_FD_INIT, "", c->init_argv, c->envp, AT_EMPTY_PATH);
	sandbox_child_fail(c->error_fd, SANDBOX_STEP_EXEC, NULL, errno);
}

/* The ids the cloning thread had before wearing the slot's (creator_enter()). */
struct creator {
	int switched;
	int securebits; /* to restore, or -1 when unchanged */
	int dumpable;
	int pdeathsig;
	uid_t euid;
	gid_t egid;
};

/* Back to the thread's own ids. A thread that cannot get back is not left running: its
 * next fork (an encoder helper, another sandbox) would inherit ids and a securebit that
 * are not its own, and keep capabilities across its own uid switch. */
static void creator_leave(const struct creator *cr)
{
	if (!cr->switched)
		return;
	if (syscall(SYS_setresuid, -1, cr->euid, -1) < 0 ||
	    syscall(SYS_setresgid, -1, cr->egid, -1) < 0 ||
	    (cr->securebits >= 0 && prctl(PR_SET_SECUREBITS, cr->securebits, 0, 0, 0) < 0))
		abort();
	/* 2 (suid_dumpable's "root only") can only have come from another thread's
	 * switch in the meantime: 0 is what the process had then. */
	prctl(PR_SET_DUMPABLE, cr->dumpable == 1, 0, 0, 0);
	if (cr->pdeathsig)
		prctl(PR_SET_PDEATHSIG, cr->pdeathsig, 0, 0, 0);
}

/* A new user namespace is owned by the effective uid of the thread that creates it, and
 * the kernel charges each per-user count of the namespace (inotify instances and
 * watches, queued signals, mqueue bytes, namespaces) to that owner as well as to the
 * user inside. Created by root, a job's inotify instances and queued signals came out of
 * root's budget: a job could leave root's daemons with EMFILE from inotify_init and
 * EAGAIN from timer_create. So when reelbox is root, the cloning thread wears the slot's
 * host uid and gid as its effective ids for the clone3 alone, then takes its own back.
 *
 * Only this thread: raw set*id calls, since glibc's wrappers switch every thread of the
 * worker. The real and saved uid stay 0, which is what allows the way back, and keeps
 * the thread out of reach of the slot's processes (signals and ptrace check those).
 * Securebits are per thread too: SECBIT_NO_SETUID_FIXUP keeps the effective
 * capabilities that leaving euid 0 would clear, which CLONE_INTO_CGROUP's permission
 * check (cgroup v2) and an LSM's user-namespace policy may want; a thread that may not
 * set it (no CAP_SETPCAP) clones as root, as before. None of this reaches the child: a
 * new user namespace starts its first process with default securebits and its own full
 * capability sets, which caps.c then empties and locks. */
static int creator_enter(struct creator *cr, const struct sandbox_ids *ids)
{
	uid_t ruid, suid;
	gid_t rgid, sgid;
	int bits;

	memset(cr, 0, sizeof(*cr));
	cr->securebits = -1;
	if (!ids->host_is_root)
		return 0;
	if (getresuid(&ruid, &cr->euid, &suid) < 0 || getresgid(&rgid, &cr->egid, &sgid) < 0)
		return -errno;
	if (ruid != 0 || suid != 0)
		return 0; /* no way back from the slot's ids: clone as we are */
	bits = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
	if (bits < 0)
		return 0;
	if (!(bits & SECBIT_NO_SETUID_FIXUP)) {
		if (prctl(PR_SET_SECUREBITS, bits | SECBIT_NO_SETUID_FIXUP, 0, 0, 0) < 0)
			return 0;
		cr->securebits = bits;
	}
	/* An id change makes the process undumpable by the fs.suid_dumpable rule and
	 * clears this thread's parent-death signal: both are put back after. */
	cr->dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
	if (prctl(PR_GET_PDEATHSIG, &cr->pdeathsig, 0, 0, 0) < 0)
		cr->pdeathsig = 0;
	cr->switched = 1;
	if (syscall(SYS_setresgid, -1, ids->host_gid, -1) < 0 ||
	    syscall(SYS_setresuid, -1, ids->host_uid, -1) < 0) {
		int e = errno;
		creator_leave(cr);
		return -e;
	}
	/* Only the owner changes: the file-system ids stay the thread's own, so the child
	 * reaches the state dir through paths only root may search, as before. */
	syscall(SYS_setfsuid, cr->euid);
	syscall(SYS_setfsgid, cr->egid);
	return 0;
}

pid_t sandbox_proc_clone_from_parent(struct sandbox_child *c, int cgroup_fd, int *pidfd)
{
	struct sandbox_clone_args args;
	size_t size = CLONE_ARGS_SIZE_VER0;
	struct creator cr;
	sigset_t all, old;
	long ret;
	int e;

	memset(&args, 0, sizeof(args));
	args.flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC |
		     CLONE_NEWUTS | CLONE_NEWCGROUP | CLONE_PIDFD;
	/* A zygote's child is born in the zygote's cgroup: it makes its cgroup namespace
	 * once it is in the job's (run_child). */
	if (c->command_fn)
		args.flags &= ~(uint64_t)CLONE_NEWCGROUP;
	args.pidfd = (uint64_t)(uintptr_t)pidfd;
	/* No exit signal: the worker gets no SIGCHLD for it (libuv keeps its own
	 * handler), a SIGCHLD set to SIG_IGN cannot auto-reap it, and a stray
	 * waitpid(-1) elsewhere cannot steal it; the pidfd still reports the exit and
	 * wait4(__WALL) reaps it. */
	args.exit_signal = 0;
	if (cgroup_fd >= 0) {
		args.flags |= CLONE_INTO_CGROUP;
		args.cgroup = (uint64_t)cgroup_fd;
		size = CLONE_ARGS_SIZE_VER2;
	}

	/* Signals stay blocked across the clone: a handler of the worker (libuv's, say)
	 * must never run in the child, where it would write to the worker's own pipes,
	 * nor on this thread while it wears the slot's ids. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if ((e = creator_enter(&cr, &c->ids)) < 0) {
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return e;
	}
	ret = syscall(SYS_clone3, &args, size);
	if (ret == 0)
		run_child(c);
	e = errno;
	creator_leave(&cr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ret < 0 ? -e : (pid_t)ret;
}
