/* reelbox-init - pid 1 of a sandbox.
 *
 * Executed from a sealed memfd by the sandbox's first process, with argv =
 * { "reelbox-init", COMMAND, ARGS... }, the spec's environment and nothing else,
 * fds 0-2 the spec's stdio and fd 3 the status pipe to the parent. It:
 *   - makes itself non-dumpable, so the script cannot ptrace it or read its
 *     /proc/1/mem, environ or fds;
 *   - forks the command with only fds 0-2, and executes it (or, as "reelbox-init
 *     --adopt PID", takes its child PID as the command: a zygote's sandbox, whose
 *     first process forked the command from the zygote's image before this exec);
 *   - reaps every orphan that the pid namespace hands it;
 *   - when the command exits, kills everything left (a daemonised grandchild dies
 *     with the job), reaps it, writes the command's wait status to fd 3 and exits.
 * The parent kills the whole sandbox by SIGKILLing this process: the kernel then
 * kills every process in the pid namespace.
 *
 * In the gvisor tier ("reelbox-init --relay COMMAND ARGS...", no status pipe) it is pid 1
 * of runsc's container and also relays the command's stdout: the command writes into a
 * pipe of the Sentry's own, which blocks as a Linux pipe does, and this process copies it
 * to the real stdout, a host pipe whose writes gVisor may cut short (a script that
 * ignores write()'s count, Python with PYTHONUNBUFFERED for one, would lose frames).
 * It then exits with the command's status, 128 + N for a signal, as runsc reports it.
 *
 * Static and small on purpose: no dynamic loader, nothing read from the sandbox's
 * filesystem before the command runs. On x86-64 it uses no libc at all (sys.h makes its
 * system calls): a few KiB that every sandbox maps and starts in a fraction of a static
 * glibc program's time.
 */
#define _GNU_SOURCE
#include "sys.h"

#define STATUS_FD   3
#define INNER_ID    1000 /* SANDBOX_INNER_ID (sandbox/internal.h): the script's uid and gid */
#define RELAY_BYTES (1 << 20)

/* One line on stderr: "reelbox-init: " and up to four pieces. */
static void say(const char *a, const char *b, const char *c, const char *d)
{
	const char *parts[6] = {"reelbox-init: ", a, b, c, d, "\n"};

	for (int i = 0; i < 6; i++)
		if (parts[i] && write(2, parts[i], strlen(parts[i])) < 0)
			return;
}

/* gvisor: runsc starts this init as root with CAP_SETUID, CAP_SETGID, CAP_SETPCAP, CAP_KILL
 * only, so the script, a different user, cannot signal or trace it (the Sentry does not
 * shield its pid 1 as Linux does). The command drops to the script's user with an empty
 * bounding set: nothing of root's is left to it. */
static void drop_to_script_user(void)
{
	if (getuid() != 0)
		return;
	for (int cap = 0; cap < 64; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			_exit(126);
	if (setgroups(0, NULL) < 0 || setgid(INNER_ID) < 0 || setuid(INNER_ID) < 0 ||
	    getuid() != INNER_ID) {
		say("cannot become the script's user: ", strerror(errno), NULL, NULL);
		_exit(126);
	}
}

__attribute__((noreturn)) static void run_command(char **argv, char **envp, int out)
{
	int e;

	if (out >= 0 && dup2(out, 1) < 0)
		_exit(126);
	if (out >= 0)
		drop_to_script_user();
	/* gVisor's Sentry (runsc 20221219) refuses close_range: one by one there. */
	if (close_range(STATUS_FD, ~0U, 0) < 0)
		for (int fd = STATUS_FD; fd < 1024; fd++)
			close(fd);
	execve(argv[0], argv, envp);
	e = errno;
	say("cannot execute ", argv[0], ": ", strerror(e));
	/* 127 for a missing command, 126 for one that is there but cannot run: a shell's
	 * convention, which script authors know. */
	_exit(e == ENOENT ? 127 : 126);
}

struct command {
	char **argv, **envp;
	int out; /* the relay pipe's write end, or -1 */
	int relaying;
};

/* The command's process, from its fork to its exec. */
static int start_command(void *arg)
{
	const struct command *c = arg;

	/* Ignored signals survive exec: the command gets the defaults back. */
	for (int sig = 1; c->relaying && sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	run_command(c->argv, c->envp, c->out);
}

static int write_all(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(1, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reap what has exited; 1 once the command has (its status in *status). */
static int reap_some(pid_t cmd, int *status, int *have)
{
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
		if (pid == cmd && !*have) {
			*status = st;
			*have = 1;
		}
	return *have;
}

/* Copy the command's pipe to stdout until every writer is gone, or until the command
 * has exited and the pipe is empty (a daemon still holding it is killed after). The
 * command's exit is looked for at least every 100 ms: a signal need not interrupt a
 * read in the Sentry. */
static void relay(int in, pid_t cmd, int *status, int *have)
{
	static char buf[RELAY_BYTES];
	struct pollfd p = {.fd = in, .events = POLLIN};
	int sink = 0, draining = 0;

	for (;;) {
		if (!draining && reap_some(cmd, status, have)) {
			draining = 1;
			fcntl(in, F_SETFL, O_NONBLOCK);
		}
		if (!draining && poll(&p, 1, 100) == 0)
			continue;
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		/* A reader that went away: keep draining so the command is not blocked. */
		if (!sink && write_all(buf, (size_t)n) < 0)
			sink = 1;
	}
	close(in);
}

static int exit_code(int status)
{
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* "--adopt PID": the command is already running as this process's child (a zygote's
 * sandbox: pid 1 forked it before executing this init). */
static pid_t adopted(int argc, char **argv)
{
	long v = 0;

	if (argc != 3 || strcmp(argv[1], "--adopt"))
		return 0;
	for (const char *p = argv[2]; *p; p++) {
		if (*p < '0' || *p > '9' || v > 1000000)
			return -1;
		v = v * 10 + (*p - '0');
	}
	return v > 1 ? (pid_t)v : -1;
}

int main(int argc, char **argv, char **envp)
{
	int status = 0, have = 0, st, null, relaying = argc > 1 && !strcmp(argv[1], "--relay");
	int pipefd[2] = {-1, -1};
	pid_t cmd, pid, adopt = adopted(argc, argv);
	struct command command = {argv + 1 + relaying, envp, -1, relaying};

	/* kill(-1) below is only safe as pid 1 of the sandbox's own pid namespace: run
	 * anywhere else (by hand on the host, say) it would kill every process the
	 * caller may signal. */
	if (getpid() != 1) {
		say("must run as pid 1 of a sandbox, not by hand", NULL, NULL, NULL);
		return 125;
	}
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (argc < 2 + relaying) {
		say("no command given", NULL, NULL, NULL);
		return 127;
	}
	if (relaying) {
		/* The Sentry does not shield its pid 1 from the script's signals as Linux
		 * shields a namespace's init: ignore every one that could end it. */
		for (int sig = 1; sig < NSIG; sig++)
			if (sig != SIGKILL && sig != SIGSTOP && sig != SIGCHLD)
				signal(sig, SIG_IGN);
		if (pipe2(pipefd, O_CLOEXEC) < 0) {
			say("pipe: ", strerror(errno), NULL, NULL);
			return 126;
		}
		command.out = pipefd[1];
	}
	if (adopt < 0) {
		say("--adopt needs the pid of a child", NULL, NULL, NULL);
		return 127;
	}
	/* Outside the relay the command's process only closes descriptors before its exec:
	 * it may borrow this process's memory until then, this one waiting (sys.h's spawn()),
	 * which spares copying it. The relay's changes its ids and signal dispositions
	 * first: a copy of its own. */
	cmd = adopt ? adopt : spawn(start_command, &command, !relaying);
	if (cmd < 0) {
		say("fork: ", strerror(errno), NULL, NULL);
		return 126;
	}
	if (relaying) {
		close(pipefd[1]);
		relay(pipefd[0], cmd, &status, &have);
		if (have)
			kill(-1, SIGKILL); /* the command is gone: so is what it left */
	}

	/* Let go of the script's stdio: when the command closes stdout, its reader sees
	 * end-of-file without waiting for this process. */
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		close(null);
	}

	for (;;) {
		pid = waitpid(-1, &st, 0);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			break; /* ECHILD: nothing left */
		}
		if (pid == cmd && !have) {
			status = st;
			have = 1;
		}
		/* Whatever the command left behind goes with it; repeated after every reap
		 * so nothing forked in between survives. */
		if (have)
			kill(-1, SIGKILL);
	}
	if (relaying)
		return have ? exit_code(status) : 125;
	if (have && write(STATUS_FD, &status, sizeof(status)) < 0)
		return 1;
	return 0;
}
