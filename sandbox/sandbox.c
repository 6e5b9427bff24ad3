/* sandbox.c - the public API: start, watch, kill, reap, destroy, sweep.
 *
 * sandbox_start() is a list of named steps: prepare the child's plan (command, ids,
 * state dir, mount plan, seccomp program, cgroups, rlimits), open the channels to it,
 * clone it (from inside its cgroup on v1), release it (id maps, cgroup attach), and
 * receive its report: the init runs, or which step failed; the child hands over its
 * seccomp listener just before its exec.
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
	if ((unsigned)spec->tier >= SANDBOX_TIER_COUNT) {
		sandbox_errf(err, errlen, "there is no sandbox tier %d", (int)spec->tier);
		return -EINVAL;
	}
	if (spec->slot > SANDBOX_MAX_SLOT) {
		sandbox_errf(err, errlen, "sandbox slot %u is above the maximum of %u", spec->slot,
			     SANDBOX_MAX_SLOT);
		return -ERANGE;
	}
	return 0;
}

/* One start in progress: the child's whole input, which the clone copies, and the
 * pipes between parent and child. Freed when the child runs or has failed. */
struct launch {
	struct sandbox_child child;
	const char **init_argv;
	int sync[2];   /* two bytes to the child: id maps written, cgroup joined */
	int error[2];  /* a failed step's report; the exec's CLOEXEC closes it */
	int status[2]; /* the init writes the command's wait status here */
	int notify[2]; /* the child sends its seccomp listener here */
	int devnull;
};

static void launch_init(struct launch *l)
{
	memset(l, 0, sizeof(*l));
	for (int i = 0; i < 2; i++)
		l->sync[i] = l->error[i] = l->status[i] = l->notify[i] = -1;
	l->devnull = -1;
}

static void launch_free(struct launch *l)
{
	for (int i = 0; i < 2; i++) {
		close_fd(&l->sync[i]);
		close_fd(&l->error[i]);
		close_fd(&l->status[i]);
		close_fd(&l->notify[i]);
	}
	close_fd(&l->devnull);
	free(l->init_argv);
	l->init_argv = NULL;
	sandbox_mounts_free(&l->child.mounts);
	sandbox_seccomp_free(&l->child.seccomp);
}

static struct sandbox *sandbox_new(const struct sandbox_spec *spec)
{
	struct sandbox *sb = calloc(1, sizeof(*sb));

	if (!sb)
		return NULL;
	sb->pid = -1;
	sb->pidfd = -1;
	sb->status_fd = -1;
	sb->notify_fd = -1;
	sb->scratch_fd = -1;
	sb->gv_log_fd = -1;
	sb->cgroup.clone_fd = -1;
	sb->on_denied = spec->on_denied;
	sb->denied_opaque = spec->denied_opaque;
	sb->limits = spec->limits;
	sandbox_limits_normalize(&sb->limits);
	sb->helper = spec->helper;
	sb->slot = spec->slot;
	sb->tier = spec->tier;
	sb->zygote = spec->tier == SANDBOX_TIER_NATIVE ? spec->zygote : NULL;
	sb->foreign = sb->zygote != NULL;
	return sb;
}

/* What the child executes: the init from its memfd, with the command after it. */
static int plan_command(struct launch *l, const struct sandbox_spec *spec, char *err, size_t errlen)
{
	static char *const empty_env[] = {NULL};
	struct sandbox_child *c = &l->child;
	size_t argc = 0;

	if ((c->init_fd = sandbox_proc_init_memfd()) < 0) {
		sandbox_errf(err, errlen, "cannot prepare the sandbox's init: %s",
			     sandbox_strerror(c->init_fd));
		return c->init_fd;
	}
	while (spec->argv[argc])
		argc++;
	l->init_argv = calloc(argc + 2, sizeof(*l->init_argv));
	if (!l->init_argv)
		return -ENOMEM;
	l->init_argv[0] = "reelbox-init";
	memcpy(l->init_argv + 1, spec->argv, argc * sizeof(*l->init_argv));
	c->init_argv = (char *const *)l->init_argv;
	c->envp = spec->envp ? (char *const *)spec->envp : empty_env;
	c->cwd = spec->cwd ? spec->cwd : "/scratch";
	return 0;
}

/* Step 1: everything the child needs, computed here because the child may not
 * allocate: its command, ids, mount point and mount plan, filter, cgroups, and the
 * rlimits, which depend on whether a cgroup holds the pids limit. */
static int prepare_plan(struct sandbox *sb, struct launch *l, const struct sandbox_spec *spec,
			char *err, size_t errlen)
{
	struct sandbox_child *c = &l->child;
	int r;

	if ((r = plan_command(l, spec, err, errlen)) < 0)
		return r;
	if ((r = sandbox_ids_prepare_from_parent(&c->ids, spec->slot)) < 0) {
		sandbox_errf(err, errlen, "cannot prepare the sandbox's ids: %s",
			     sandbox_strerror(r));
		return r;
	}
	if ((r = sandbox_state_create(spec->state_dir, &sb->sb_dir, err, errlen)) < 0 ||
	    (r = sandbox_mounts_prepare_from_parent(&c->mounts, spec, sb->limits.scratch_bytes,
						    sb->sb_dir, err, errlen)) < 0 ||
	    (r = sandbox_seccomp_prepare_from_parent(&c->seccomp, err, errlen)) < 0 ||
	    (r = sandbox_cgroup_create_from_parent(&sb->cgroup, spec, err, errlen)) < 0 ||
	    (r = sandbox_cgroup_create_helper_from_parent(&sb->cgroup, spec, err, errlen)) < 0)
		return r;
	sandbox_limits_prepare_from_parent(&sb->limits, sandbox_cgroup_exists(&sb->cgroup),
					   &c->rlimits);
	return 0;
}

/* Step 2: the pipes to the child, and its stdio (/dev/null where the spec has none). */
static int open_channels(struct launch *l, const struct sandbox_spec *spec, char *err,
			 size_t errlen)
{
	struct sandbox_child *c = &l->child;
	int r;

	if (pipe2(l->sync, O_CLOEXEC) < 0 || pipe2(l->error, O_CLOEXEC) < 0 ||
	    pipe2(l->status, O_CLOEXEC | O_NONBLOCK) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, l->notify) < 0 ||
	    fcntl(l->notify[0], F_SETFL, O_NONBLOCK) < 0) {
		r = -errno;
		sandbox_errf(err, errlen, "cannot create the sandbox's pipes: %s",
			     sandbox_strerror(r));
		return r;
	}
	if (spec->stdin_fd < 0 || spec->stdout_fd < 0 || spec->stderr_fd < 0) {
		l->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (l->devnull < 0) {
			r = -errno;
			sandbox_errf(err, errlen, "cannot open /dev/null: %s", sandbox_strerror(r));
			return r;
		}
	}
	c->sync_fd = l->sync[0];
	c->error_fd = l->error[1];
	c->status_fd = l->status[1];
	c->notify_fd = l->notify[1];
	c->stdio[0] = spec->stdin_fd >= 0 ? spec->stdin_fd : l->devnull;
	c->stdio[1] = spec->stdout_fd >= 0 ? spec->stdout_fd : l->devnull;
	c->stdio[2] = spec->stderr_fd >= 0 ? spec->stderr_fd : l->devnull;
	return 0;
}

/* Step 3: clone the child, from inside the job's cgroup where the version needs that
 * (cgroup enter; clone; cgroup leave), and keep only the parent's ends of the pipes.
 * The child waits on the sync pipe: it runs nothing until released. */
static int clone_child(struct sandbox *sb, struct launch *l, char *err, size_t errlen)
{
	int r;

	sb->start_ns = sandbox_now_ns();
	if (sb->limits.timeout_ms)
		sb->deadline_ns = sb->start_ns + sb->limits.timeout_ms * 1000000ull;
	if (sb->foreign) {
		/* The zygote clones in its own cgroup; the attach below moves the child
		 * before it runs anything of the job's. */
		sb->cgroup.born_inside = 0;
		sb->cgroup.must_attach = 1;
		sb->pid = sandbox_zygote_clone(sb->zygote, &l->child, &sb->pidfd);
	} else {
		sandbox_cgroup_enter_from_parent(&sb->cgroup);
		sb->pid =
		    sandbox_proc_clone_from_parent(&l->child, sb->cgroup.clone_fd, &sb->pidfd);
	}
	if (!sb->foreign && (r = sandbox_cgroup_leave_from_parent(&sb->cgroup, sb->pid > 0)) < 0) {
		sandbox_errf(err, errlen,
			     "cannot move the cloning thread out of the sandbox's cgroup: %s",
			     sandbox_strerror(r));
		return r;
	}
	if (sb->pid < 0) {
		r = sb->pid;
		sb->pid = -1;
		sb->pidfd = -1;
		if (sb->foreign && (r == -EPIPE || r == -ECONNRESET || r == -ETIMEDOUT))
			sandbox_errf(err, errlen, "the zygote did not clone the sandbox: %s (%s)",
				     sandbox_strerror(r),
				     r == -ETIMEDOUT ? "it did not answer in time" : "it is gone");
		else
			sandbox_errf(err, errlen, "cannot create the sandbox's namespaces: %s%s",
				     sandbox_strerror(r),
				     r == -EPERM || r == -ENOSPC ? " (are user namespaces enabled?)"
								 : "");
		return r;
	}
	close_fd(&l->sync[0]);
	close_fd(&l->error[1]);
	close_fd(&l->status[1]);
	/* Ours closed, the child's end is the only one: if the child dies before it
	 * sends the listener, the receive sees that instead of waiting. */
	close_fd(&l->notify[1]);
	close_fd(&l->devnull);
	return 0;
}

/* Step 4, the parent's half of the handshake: id maps in, first byte; the job's cgroup
 * joined, second byte. */
static int release_child(struct sandbox *sb, struct launch *l, char *err, size_t errlen)
{
	int r;

	if ((r = sandbox_ids_write_from_parent(&l->child.ids, sb->pid)) < 0) {
		sandbox_errf(err, errlen, "cannot write the sandbox's user id map: %s",
			     sandbox_strerror(r));
		return r;
	}
	if (write(l->sync[1], "x", 1) != 1) {
		r = -errno;
		sandbox_errf(err, errlen, "cannot release the sandbox's child: %s",
			     sandbox_strerror(r));
		return r;
	}
	/* The child builds its root meanwhile: a cgroup v1 attach waits for an RCU grace
	 * period (milliseconds), and the child needs the cgroup only before it executes
	 * anything of the job's, which it waits for on the second byte. */
	if ((r = sandbox_cgroup_attach_from_parent(&sb->cgroup, sb->pid)) < 0) {
		sandbox_errf(err, errlen, "cannot move the sandbox into its cgroup: %s",
			     sandbox_strerror(r));
		return r;
	}
	if (write(l->sync[1], "y", 1) != 1) {
		r = -errno;
		sandbox_errf(err, errlen, "cannot release the sandbox's child: %s",
			     sandbox_strerror(r));
		return r;
	}
	return 0;
}

/* Step 5: wait for the error pipe to close (the init runs: take the seccomp listener
 * the child sent just before) or to carry the report of the step that failed. */
static int receive_report(struct sandbox *sb, struct launch *l, char *err, size_t errlen)
{
	struct sandbox_child_error ce;
	struct pollfd pfd = {.fd = l->error[0], .events = POLLIN};
	ssize_t n;
	int r;

	do
		r = poll(&pfd, 1, SETUP_TIMEOUT_MS);
	while (r < 0 && errno == EINTR);
	if (r == 0) {
		sandbox_errf(err, errlen, "the sandbox did not finish setting up within %d s",
			     SETUP_TIMEOUT_MS / 1000);
		return -ETIMEDOUT;
	}
	do
		n = read(l->error[0], &ce, sizeof(ce));
	while (n < 0 && errno == EINTR);
	if (n == 0) {
		/* CLOEXEC closed it: the init is running, and the child sent the listener
		 * before its exec. Nonblocking: a child killed before it could send must
		 * not hang us. The scratch dir's descriptor comes first. */
		if ((r = sandbox_scratch_receive_from_parent(l->notify[0], &sb->scratch_fd)) < 0) {
			sandbox_errf(err, errlen,
				     "the sandbox's child did not hand over its scratch dir: %s",
				     sandbox_strerror(r));
			return r;
		}
		if ((r = sandbox_seccomp_receive_from_parent(l->notify[0], &sb->notify_fd)) < 0)
			sandbox_errf(err, errlen,
				     "the sandbox's child did not hand over its seccomp "
				     "listener: %s",
				     sandbox_strerror(r));
		return r;
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

/* A start that failed at any step: kill the child if there is one, undo the rest. */
static void abandon(struct sandbox *sb, struct launch *l)
{
	if (sb->pid > 0) {
		/* Closing the sync pipe alone would do before the release; SIGKILL covers
		 * a child stuck anywhere later. */
		pidfd_send_signal(sb->pidfd, SIGKILL, NULL, 0);
		close_fd(&l->sync[1]);
		while (!sb->foreign && waitpid(sb->pid, NULL, __WALL) < 0 && errno == EINTR)
			;
	}
	launch_free(l);
	close_fd(&sb->pidfd);
	close_fd(&sb->notify_fd);
	close_fd(&sb->scratch_fd);
	close_fd(&sb->gv_log_fd);
	sandbox_cgroup_destroy(&sb->cgroup);
	if (sb->sb_dir)
		sandbox_state_remove(sb->sb_dir);
	free(sb->sb_dir);
	free(sb);
}

/* The steps in order, as nsjail's containProc: prepare the child's plan, open the
 * channels, clone, release, receive the report. */
int sandbox_start(const struct sandbox_spec *spec, struct sandbox **out, char *err, size_t errlen)
{
	struct launch l;
	struct sandbox *sb;
	int r;

	*out = NULL;
	if ((r = check_spec(spec, err, errlen)) < 0)
		return r;
	if (!(sb = sandbox_new(spec)))
		return -ENOMEM;
	launch_init(&l);
	if (spec->tier == SANDBOX_TIER_GVISOR) {
		if ((r = sandbox_gvisor_start(sb, spec, err, errlen)) < 0) {
			abandon(sb, &l);
			return r;
		}
		*out = sb;
		return 0;
	}
	if ((r = prepare_plan(sb, &l, spec, err, errlen)) < 0 ||
	    (r = open_channels(&l, spec, err, errlen)) < 0 ||
	    (r = clone_child(sb, &l, err, errlen)) < 0 ||
	    (r = release_child(sb, &l, err, errlen)) < 0 ||
	    (r = receive_report(sb, &l, err, errlen)) < 0) {
		abandon(sb, &l);
		return r;
	}
	sb->status_fd = l.status[0];
	l.status[0] = -1;
	launch_free(&l);
	*out = sb;
	return 0;
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

void sandbox_restart_clock(struct sandbox *sb)
{
	sb->start_ns = sandbox_now_ns();
	if (sb->limits.timeout_ms)
		sb->deadline_ns = sb->start_ns + sb->limits.timeout_ms * 1000000ull;
}

int sandbox_usage(const struct sandbox *sb, uint64_t *peak_memory_bytes, uint64_t *cpu_ms)
{
	struct sandbox_cg_stats st;
	int r;

	*peak_memory_bytes = *cpu_ms = 0;
	if (!sb->cgroup.cg)
		return -EOPNOTSUPP;
	if ((r = sandbox_cg_stats(sb->cgroup.cg, &st)) < 0)
		return r;
	*peak_memory_bytes = st.memory_peak;
	*cpu_ms = st.cpu_usage_usec / 1000;
	return 0;
}

uint64_t sandbox_time_left_ms(const struct sandbox *sb)
{
	uint64_t now;

	if (!sb->deadline_ns)
		return UINT64_MAX;
	now = sandbox_now_ns();
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
	/* runsc's Sentry and gofer are not its pid namespace's: the cgroup holds them all. */
	if (sb->tier == SANDBOX_TIER_GVISOR && sb->cgroup.cg)
		sandbox_cg_kill(sb->cgroup.cg);
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
	int status, have;
	char span[32], runsc_reason[sizeof(res->reason)] = "";
	ssize_t n;

	memset(res, 0, sizeof(*res));
	res->end = SANDBOX_EXITED;
	res->exit_code = -1;
	res->wall_ms = (sandbox_now_ns() - sb->start_ns) / 1000000;
	res->cpu_ms = (uint64_t)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1000 +
		      (uint64_t)(ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) / 1000;
	res->peak_memory_bytes = (uint64_t)ru->ru_maxrss * 1024;

	do
		n = read(sb->status_fd, &status, sizeof(status));
	while (n < 0 && errno == EINTR);
	have = n == (ssize_t)sizeof(status);
	/* The gvisor tier's status pipe carries runsc's status: map it to the command's. */
	if (have && sb->tier == SANDBOX_TIER_GVISOR)
		have =
		    sandbox_gvisor_status(sb, status, &status, runsc_reason, sizeof(runsc_reason));

	if (have && WIFEXITED(status)) {
		res->exit_code = WEXITSTATUS(status);
	} else if (have && WIFSIGNALED(status)) {
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
	} else if (runsc_reason[0]) {
		res->signal = WIFSIGNALED(init_status) ? WTERMSIG(init_status) : 0;
		snprintf(res->reason, sizeof(res->reason), "%s", runsc_reason);
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
	if (sb->tier == SANDBOX_TIER_GVISOR)
		sandbox_gvisor_explain(sb, res);
}

static int reap(struct sandbox *sb, struct sandbox_result *res, int block)
{
	struct rusage ru;
	int st;
	pid_t r;

	if (!sb->reaped && sb->foreign) {
		/* The zygote reaps pid 1: its pidfd tells that it ended, the status pipe
		 * how the command did; usage comes from the cgroup. */
		struct pollfd p = {.fd = sb->pidfd, .events = POLLIN};
		do
			r = poll(&p, 1, block ? -1 : 0);
		while (r < 0 && errno == EINTR);
		if (r == 0)
			return -EAGAIN;
		memset(&ru, 0, sizeof(ru));
		sb->reaped = 1;
		fill_result(sb, 0, &ru);
	}
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
	if (!sb->reaped && !sb->kill_sent && sb->deadline_ns && sandbox_now_ns() >= sb->deadline_ns)
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
	close_fd(&sb->scratch_fd);
	close_fd(&sb->gv_log_fd);
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
