/* sandbox.c - the public API: start, watch, kill, reap, destroy, sweep.
 *
 * sandbox_start() prepares everything the child needs (state dir, mount plan, id
 * maps, cgroup, rlimits, seccomp program), clones it, moves it into its cgroup, writes
 * its id maps, releases it, and waits until it has either executed the init or
 * reported which step failed; the child hands over its seccomp listener just before.
 * After that the sandbox is two fds: the pidfd, readable when pid 1 has exited, and
 * the listener, readable when a script's system call was denied and waits for the
 * answer. SIGKILL to pid 1 ends the pid namespace, and with it every process of the
 * sandbox; the cgroup is killed and removed after the reap.
 *
 * A struct sandbox is used by one thread at a time. sandbox_start() must be called
 * from a thread that outlives the sandbox: the kernel's parent-death signal follows
 * the thread that cloned the child, not the process.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* How long the child may take to set up before we give up on it. */
#define SETUP_TIMEOUT_MS 10000

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* "5 s" for whole seconds, "1500 ms" otherwise: the unit the operator wrote. */
static void format_ms(char *buf, size_t len, uint64_t ms)
{
	if (ms % 1000 == 0)
		snprintf(buf, len, "%llu s", (unsigned long long)(ms / 1000));
	else
		snprintf(buf, len, "%llu ms", (unsigned long long)ms);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int check_spec(const struct sandbox_spec *spec, char *err, size_t errlen)
{
	if (!spec || !spec->argv || !spec->argv[0]) {
		sandbox_errf(err, errlen, "the sandbox needs a command to run");
		return -EINVAL;
	}
	if (spec->argv[0][0] != '/') {
		sandbox_errf(err, errlen,
			     "the command %s must be an absolute path inside the sandbox",
			     spec->argv[0]);
		return -EINVAL;
	}
	if (spec->cwd && spec->cwd[0] != '/') {
		sandbox_errf(err, errlen, "the working directory %s must be an absolute path",
			     spec->cwd);
		return -EINVAL;
	}
	if (spec->slot > SANDBOX_MAX_SLOT) {
		sandbox_errf(err, errlen, "sandbox slot %u is above the maximum of %u", spec->slot,
			     SANDBOX_MAX_SLOT);
		return -ERANGE;
	}
	return 0;
}

/* The parent's half of the handshake: id maps in, child released, then wait for the
 * error pipe to close (the init runs) or to carry a report (a step failed). */
static int release_child(struct sandbox *sb, struct sandbox_child *c, int sync_w, int error_r,
			 int notify_r, char *err, size_t errlen)
{
	struct sandbox_child_error ce;
	struct pollfd pfd = {.fd = error_r, .events = POLLIN};
	ssize_t n;
	int r;

	if ((r = sandbox_ids_write_from_parent(&c->ids, sb->pid)) < 0) {
		sandbox_errf(err, errlen, "cannot write the sandbox's user id map: %s",
			     sandbox_strerror(-r));
		return r;
	}
	if (write(sync_w, "x", 1) != 1) {
		r = -errno;
		sandbox_errf(err, errlen, "cannot release the sandbox's child: %s",
			     sandbox_strerror(-r));
		return r;
	}
	/* The child builds its root meanwhile: a cgroup v1 attach waits for an RCU grace
	 * period (milliseconds), and the child needs the cgroup only before it executes
	 * anything of the job's, which it waits for on the second byte. */
	if ((r = sandbox_cgroup_attach_from_parent(&sb->cgroup, sb->pid)) < 0) {
		sandbox_errf(err, errlen, "cannot move the sandbox into its cgroup: %s",
			     sandbox_strerror(-r));
		return r;
	}
	if (write(sync_w, "y", 1) != 1) {
		r = -errno;
		sandbox_errf(err, errlen, "cannot release the sandbox's child: %s",
			     sandbox_strerror(-r));
		return r;
	}
	do
		r = poll(&pfd, 1, SETUP_TIMEOUT_MS);
	while (r < 0 && errno == EINTR);
	if (r == 0) {
		sandbox_errf(err, errlen, "the sandbox did not finish setting up within %d s",
			     SETUP_TIMEOUT_MS / 1000);
		return -ETIMEDOUT;
	}
	do
		n = read(error_r, &ce, sizeof(ce));
	while (n < 0 && errno == EINTR);
	if (n == 0) {
		/* CLOEXEC closed it: the init is running, and the child sent the listener
		 * before its exec. Nonblocking: a child killed before it could send must
		 * not hang us. */
		if ((r = sandbox_seccomp_receive_from_parent(notify_r, &sb->notify_fd)) < 0) {
			sandbox_errf(
			    err, errlen,
			    "the sandbox's child did not hand over its seccomp listener: %s",
			    sandbox_strerror(-r));
			return r;
		}
		return 0;
	}
	if (n != (ssize_t)sizeof(ce)) {
		sandbox_errf(err, errlen, "the sandbox's child died while setting up");
		return -EIO;
	}
	ce.detail[sizeof(ce.detail) - 1] = '\0';
	sandbox_errf(err, errlen, "sandbox setup failed while %s%s%s: %s",
		     sandbox_step_name(ce.step), ce.detail[0] ? " " : "", ce.detail,
		     sandbox_strerror(ce.err));
	return ce.err ? -ce.err : -EIO;
}

int sandbox_start(const struct sandbox_spec *spec, struct sandbox **out, char *err, size_t errlen)
{
	static char *const empty_env[] = {NULL};
	struct sandbox_child c;
	struct sandbox *sb;
	const char **init_argv = NULL;
	int sync_p[2] = {-1, -1}, err_p[2] = {-1, -1}, status_p[2] = {-1, -1};
	int notify_p[2] = {-1, -1};
	int devnull = -1, r;
	size_t argc = 0;

	*out = NULL;
	if ((r = check_spec(spec, err, errlen)) < 0)
		return r;
	memset(&c, 0, sizeof(c));
	sb = calloc(1, sizeof(*sb));
	if (!sb)
		return -ENOMEM;
	sb->pid = -1;
	sb->pidfd = -1;
	sb->status_fd = -1;
	sb->notify_fd = -1;
	sb->cgroup.clone_fd = -1;
	sb->on_denied = spec->on_denied;
	sb->denied_opaque = spec->denied_opaque;
	sb->limits = spec->limits;
	sandbox_limits_normalize(&sb->limits);

	if ((c.init_fd = sandbox_proc_init_memfd()) < 0) {
		r = c.init_fd;
		sandbox_errf(err, errlen, "cannot prepare the sandbox's init: %s",
			     sandbox_strerror(-r));
		goto fail;
	}
	if ((r = sandbox_ids_prepare_from_parent(&c.ids, spec->slot)) < 0) {
		sandbox_errf(err, errlen, "cannot prepare the sandbox's ids: %s",
			     sandbox_strerror(-r));
		goto fail;
	}
	if ((r = sandbox_state_create(spec->state_dir, &sb->sb_dir, err, errlen)) < 0)
		goto fail;
	if ((r = sandbox_mounts_prepare_from_parent(&c.mounts, spec, sb->limits.scratch_bytes,
						    sb->sb_dir, err, errlen)) < 0)
		goto fail;
	if ((r = sandbox_seccomp_prepare_from_parent(&c.seccomp, err, errlen)) < 0)
		goto fail;
	if ((r = sandbox_cgroup_create_from_parent(&sb->cgroup, spec, err, errlen)) < 0)
		goto fail;
	if ((r = sandbox_cgroup_create_helper_from_parent(&sb->cgroup, spec, err, errlen)) < 0)
		goto fail;
	sb->helper = spec->helper;
	sb->slot = spec->slot;
	sandbox_limits_prepare_from_parent(&sb->limits, sandbox_cgroup_exists(&sb->cgroup),
					   &c.rlimits);

	while (spec->argv[argc])
		argc++;
	init_argv = calloc(argc + 2, sizeof(*init_argv));
	if (!init_argv) {
		r = -ENOMEM;
		goto fail;
	}
	init_argv[0] = "reelbox-init";
	memcpy(init_argv + 1, spec->argv, argc * sizeof(*init_argv));
	c.init_argv = (char *const *)init_argv;
	c.envp = spec->envp ? (char *const *)spec->envp : empty_env;
	c.cwd = spec->cwd ? spec->cwd : "/scratch";

	if (pipe2(sync_p, O_CLOEXEC) < 0 || pipe2(err_p, O_CLOEXEC) < 0 ||
	    pipe2(status_p, O_CLOEXEC | O_NONBLOCK) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, notify_p) < 0 ||
	    fcntl(notify_p[0], F_SETFL, O_NONBLOCK) < 0) {
		r = -errno;
		sandbox_errf(err, errlen, "cannot create the sandbox's pipes: %s",
			     sandbox_strerror(-r));
		goto fail;
	}
	if (spec->stdin_fd < 0 || spec->stdout_fd < 0 || spec->stderr_fd < 0) {
		devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (devnull < 0) {
			r = -errno;
			sandbox_errf(err, errlen, "cannot open /dev/null: %s",
				     sandbox_strerror(-r));
			goto fail;
		}
	}
	c.sync_fd = sync_p[0];
	c.error_fd = err_p[1];
	c.status_fd = status_p[1];
	c.notify_fd = notify_p[1];
	c.stdio[0] = spec->stdin_fd >= 0 ? spec->stdin_fd : devnull;
	c.stdio[1] = spec->stdout_fd >= 0 ? spec->stdout_fd : devnull;
	c.stdio[2] = spec->stderr_fd >= 0 ? spec->stderr_fd : devnull;

	sb->start_ns = now_ns();
	if (sb->limits.timeout_ms)
		sb->deadline_ns = sb->start_ns + sb->limits.timeout_ms * 1000000ull;
	sandbox_cgroup_enter_from_parent(&sb->cgroup);
	sb->pid = sandbox_proc_clone_from_parent(&c, sb->cgroup.clone_fd, &sb->pidfd);
	if ((r = sandbox_cgroup_leave_from_parent(&sb->cgroup, sb->pid > 0)) < 0) {
		sandbox_errf(err, errlen,
			     "cannot move the cloning thread out of the sandbox's cgroup: %s",
			     sandbox_strerror(r));
		goto fail;
	}
	if (sb->pid < 0) {
		r = sb->pid;
		sb->pid = -1;
		sb->pidfd = -1;
		sandbox_errf(err, errlen, "cannot create the sandbox's namespaces: %s%s",
			     sandbox_strerror(-r),
			     r == -EPERM || r == -ENOSPC ? " (are user namespaces enabled?)" : "");
		goto fail;
	}
	close_fd(&sync_p[0]);
	close_fd(&err_p[1]);
	close_fd(&status_p[1]);
	/* Ours closed, the child's end is the only one: if the child dies before it
	 * sends the listener, the receive sees that instead of waiting. */
	close_fd(&notify_p[1]);
	close_fd(&devnull);

	r = release_child(sb, &c, sync_p[1], err_p[0], notify_p[0], err, errlen);
	close_fd(&sync_p[1]);
	close_fd(&err_p[0]);
	close_fd(&notify_p[0]);
	if (r < 0)
		goto fail;

	sb->status_fd = status_p[0];
	free(init_argv);
	sandbox_mounts_free(&c.mounts);
	sandbox_seccomp_free(&c.seccomp);
	*out = sb;
	return 0;

fail:
	if (sb->pid > 0) {
		/* Closing the sync pipe alone would do before the release; SIGKILL covers
		 * a child stuck anywhere later. */
		pidfd_send_signal(sb->pidfd, SIGKILL, NULL, 0);
		close_fd(&sync_p[1]);
		while (waitpid(sb->pid, NULL, __WALL) < 0 && errno == EINTR)
			;
	}
	close_fd(&sb->pidfd);
	for (int i = 0; i < 2; i++) {
		close_fd(&sync_p[i]);
		close_fd(&err_p[i]);
		close_fd(&status_p[i]);
		close_fd(&notify_p[i]);
	}
	close_fd(&sb->notify_fd);
	close_fd(&devnull);
	free(init_argv);
	sandbox_mounts_free(&c.mounts);
	sandbox_seccomp_free(&c.seccomp);
	sandbox_cgroup_destroy(&sb->cgroup);
	if (sb->sb_dir)
		sandbox_state_remove(sb->sb_dir);
	free(sb->sb_dir);
	free(sb);
	return r;
}

int sandbox_pidfd(const struct sandbox *sb)
{
	return sb->pidfd;
}

pid_t sandbox_pid(const struct sandbox *sb)
{
	return sb->pid;
}

int sandbox_notify_fd(const struct sandbox *sb)
{
	return sb->notify_fd;
}

int sandbox_notify_handle(struct sandbox *sb, char *msg, size_t len)
{
	return sandbox_seccomp_answer_from_parent(sb->notify_fd, &sb->denied, msg, len);
}

void sandbox_notify_close(struct sandbox *sb)
{
	close_fd(&sb->notify_fd);
}

uint64_t sandbox_time_left_ms(const struct sandbox *sb)
{
	uint64_t now;

	if (!sb->deadline_ns)
		return UINT64_MAX;
	now = now_ns();
	if (now >= sb->deadline_ns)
		return 0;
	return (sb->deadline_ns - now + 999999) / 1000000;
}

int sandbox_kill(struct sandbox *sb, enum sandbox_end why, const char *reason)
{
	if (sb->reaped)
		return 0;
	if (!sb->kill_sent) {
		sb->kill_sent = 1;
		sb->kill_why = why;
		snprintf(sb->kill_reason, sizeof(sb->kill_reason), "%s",
			 reason ? reason : "the sandbox was killed");
	}
	/* SIGKILL to pid 1 takes the whole pid namespace with it. */
	if (pidfd_send_signal(sb->pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
		return -errno;
	return 0;
}

static void kill_for_timeout(struct sandbox *sb)
{
	char span[32], reason[64];

	format_ms(span, sizeof(span), sb->limits.timeout_ms);
	snprintf(reason, sizeof(reason), "wall-clock timeout of %s reached", span);
	sandbox_kill(sb, SANDBOX_TIMEOUT, reason);
}

/* Turn the init's wait status and the command's (from the status pipe) into a result.
 * The command's own status wins when there is one: a kill that arrives after the
 * command exited changes nothing about how it ended. */
static void fill_result(struct sandbox *sb, int init_status, const struct rusage *ru)
{
	struct sandbox_result *res = &sb->result;
	int status;
	char span[32];
	ssize_t n;

	memset(res, 0, sizeof(*res));
	res->end = SANDBOX_EXITED;
	res->exit_code = -1;
	res->wall_ms = (now_ns() - sb->start_ns) / 1000000;
	res->cpu_ms = (uint64_t)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1000 +
		      (uint64_t)(ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) / 1000;
	res->peak_memory_bytes = (uint64_t)ru->ru_maxrss * 1024;

	do
		n = read(sb->status_fd, &status, sizeof(status));
	while (n < 0 && errno == EINTR);

	if (n == (ssize_t)sizeof(status) && WIFEXITED(status)) {
		res->exit_code = WEXITSTATUS(status);
	} else if (n == (ssize_t)sizeof(status) && WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);
		res->signal = sig;
		if (sig == SIGXCPU && sb->limits.cpu_seconds) {
			res->end = SANDBOX_CPU;
			snprintf(res->reason, sizeof(res->reason),
				 "CPU time limit of %llu s reached",
				 (unsigned long long)sb->limits.cpu_seconds);
		} else if (sig == SIGXFSZ) {
			res->end = SANDBOX_FSIZE;
			snprintf(res->reason, sizeof(res->reason),
				 "file size limit of %llu bytes reached",
				 (unsigned long long)sb->limits.file_bytes);
		} else if (sig == SIGSYS) {
			/* The kernel kills before anyone can ask which call it was. */
			snprintf(res->reason, sizeof(res->reason), "the command was %s",
				 sandbox_seccomp_sigsys_reason());
		} else {
			const char *abbrev = sigabbrev_np(sig);
			snprintf(res->reason, sizeof(res->reason),
				 "the command was killed by signal %d%s%s%s", sig,
				 abbrev ? " (SIG" : "", abbrev ? abbrev : "", abbrev ? ")" : "");
		}
	} else if (sb->kill_sent) {
		res->end = sb->kill_why;
		res->signal = SIGKILL;
		snprintf(res->reason, sizeof(res->reason), "%s", sb->kill_reason);
	} else {
		res->signal = WIFSIGNALED(init_status) ? WTERMSIG(init_status) : 0;
		format_ms(span, sizeof(span), res->wall_ms);
		snprintf(res->reason, sizeof(res->reason),
			 "the sandbox's init ended unexpectedly after %s (%s %d)", span,
			 WIFSIGNALED(init_status) ? "signal" : "exit status",
			 WIFSIGNALED(init_status) ? WTERMSIG(init_status)
						  : WEXITSTATUS(init_status));
	}
	res->denied_calls = sb->denied.total;
	snprintf(res->last_denied, sizeof(res->last_denied), "%s", sb->denied.last);
	sandbox_cgroup_classify(&sb->cgroup, res);
}

static int reap(struct sandbox *sb, struct sandbox_result *res, int block)
{
	struct rusage ru;
	int st;
	pid_t r;

	if (!sb->reaped) {
		do
			r = wait4(sb->pid, &st, __WALL | (block ? 0 : WNOHANG), &ru);
		while (r < 0 && errno == EINTR);
		if (r == 0)
			return -EAGAIN;
		if (r < 0 && errno != ECHILD)
			return -errno;
		if (r < 0) {
			/* Reaped behind our back: the status pipe still tells how the
			 * command ended. */
			st = 0;
			memset(&ru, 0, sizeof(ru));
		}
		sb->reaped = 1;
		fill_result(sb, st, &ru);
	}
	if (res)
		*res = sb->result;
	return 0;
}

int sandbox_try_reap(struct sandbox *sb, struct sandbox_result *res)
{
	if (!sb->reaped && !sb->kill_sent && sb->deadline_ns && now_ns() >= sb->deadline_ns)
		kill_for_timeout(sb);
	return reap(sb, res, 0);
}

static void report_denied(struct sandbox *sb, const char *msg)
{
	if (sb->on_denied)
		sb->on_denied(sb->denied_opaque, msg);
	else
		fprintf(stderr, "reelbox: %s\n", msg);
}

int sandbox_wait(struct sandbox *sb, struct sandbox_result *res)
{
	int listening = sb->notify_fd >= 0;

	while (!sb->reaped) {
		struct pollfd p[2] = {{.fd = sb->pidfd, .events = POLLIN},
				      {.fd = listening ? sb->notify_fd : -1, .events = POLLIN}};
		int timeout = -1, r;

		if (sb->deadline_ns && !sb->kill_sent) {
			uint64_t left = sandbox_time_left_ms(sb);

			if (left == 0) {
				kill_for_timeout(sb);
				continue;
			}
			timeout = left > INT_MAX ? INT_MAX : (int)left;
		}
		r = poll(p, 2, timeout);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (p[1].revents) {
			char msg[512];
			int n = sandbox_notify_handle(sb, msg, sizeof(msg));

			if (n < 0)
				listening = 0; /* every process of the sandbox is gone */
			else if (n > 0)
				report_denied(sb, msg);
		}
		if (p[0].revents)
			break;
	}
	return reap(sb, res, 1);
}

void sandbox_destroy(struct sandbox *sb)
{
	if (!sb)
		return;
	if (!sb->reaped && sb->pid > 0) {
		sandbox_kill(sb, SANDBOX_KILLED, "the sandbox was destroyed");
		reap(sb, NULL, 1);
	}
	sandbox_cgroup_destroy(&sb->cgroup);
	if (sb->sb_dir)
		sandbox_state_remove(sb->sb_dir);
	close_fd(&sb->pidfd);
	close_fd(&sb->status_fd);
	close_fd(&sb->notify_fd);
	free(sb->sb_dir);
	free(sb);
}

/* A dead owner leaves a state dir, a cgroup or both for each of its sandboxes: count
 * sandboxes, not the two kinds of leftovers. */
int sandbox_sweep_stale(const char *state_dir)
{
	int dirs, cgroups;

	if ((dirs = sandbox_state_sweep(state_dir)) < 0)
		return dirs;
	cgroups = sandbox_cgroup_sweep_stale();
	return cgroups > dirs ? cgroups : dirs;
}
