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
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

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
 * cannot change the init that later sandboxes execute. */
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
	if (fchmod(fd, 0555) < 0 ||
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

__attribute__((noreturn)) static void run_child(struct sandbox_child *c)
{
	const char *what = NULL;
	sigset_t none;
	char byte;
	ssize_t n;
	int r, job_fd;

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
	reset_signals();

	if ((job_fd = sandbox_mounts_prepare_from_child(&c->mounts)) < 0)
		sandbox_child_fail(c->error_fd, SANDBOX_STEP_MOUNT, c->mounts.sb_dir, job_fd);
	if ((r = sandbox_ids_switch_from_child(&c->ids)) < 0)
		sandbox_child_fail(c->error_fd, SANDBOX_STEP_IDS, NULL, r);
	/* Changing ids cleared the parent-death signal: arm it again. */
	arm_pdeathsig(c);
	if ((r = sandbox_mounts_apply_from_child(&c->mounts, job_fd, &what)) < 0)
		sandbox_child_fail(c->error_fd, SANDBOX_STEP_MOUNT, what, r);
	close(job_fd);
	/* The host's name is not the script's business. */
	if (sethostname("reelbox", 7) < 0)
		sandbox_child_fail(c->error_fd, SANDBOX_STEP_HOSTNAME, NULL, errno);
	if ((r = sandbox_limits_apply_from_child(&c->rlimits)) < 0)
		sandbox_child_fail(c->error_fd, SANDBOX_STEP_RLIMIT, NULL, r);
	if (chdir(c->cwd) < 0)
		sandbox_child_fail(c->error_fd, SANDBOX_STEP_CHDIR, c->cwd, errno);
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
	if ((r = sandbox_caps_drop_from_child()) < 0)
		sandbox_child_fail(c->error_fd, SANDBOX_STEP_CAPS, NULL, r);
	/* Last: from here on every call is filtered, and only sendmsg, close,
	 * rt_sigprocmask and execveat remain to be made. */
	if ((r = sandbox_seccomp_install_from_child(&c->seccomp, c->notify_fd)) < 0)
		sandbox_child_fail(c->error_fd, SANDBOX_STEP_SECCOMP, NULL, r);

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	syscall(SYS_execveat, SANDBOX_FD_INIT, "", c->init_argv, c->envp, AT_EMPTY_PATH);
	sandbox_child_fail(c->error_fd, SANDBOX_STEP_EXEC, NULL, errno);
}

pid_t sandbox_proc_clone_from_parent(struct sandbox_child *c, int cgroup_fd, int *pidfd)
{
	struct sandbox_clone_args args;
	size_t size = CLONE_ARGS_SIZE_VER0;
	sigset_t all, old;
	long ret;
	int e;

	memset(&args, 0, sizeof(args));
	args.flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC |
		     CLONE_NEWUTS | CLONE_NEWCGROUP | CLONE_PIDFD;
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
	 * must never run in the child, where it would write to the worker's own pipes. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = syscall(SYS_clone3, &args, size);
	if (ret == 0)
		run_child(c);
	e = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ret < 0 ? -e : (pid_t)ret;
}
