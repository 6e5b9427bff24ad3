/* reelbox-init - pid 1 of a sandbox.
 *
 * Executed from a sealed memfd by the sandbox's first process, with argv =
 * { "reelbox-init", COMMAND, ARGS... }, the spec's environment and nothing else,
 * fds 0-2 the spec's stdio and fd 3 the status pipe to the parent. It:
 *   - makes itself non-dumpable, so the script cannot ptrace it or read its
 *     /proc/1/mem, environ or fds;
 *   - forks the command with only fds 0-2, and executes it;
 *   - reaps every orphan that the pid namespace hands it;
 *   - when the command exits, kills everything left (a daemonised grandchild dies
 *     with the job), reaps it, writes the command's wait status to fd 3 and exits.
 * The parent kills the whole sandbox by SIGKILLing this process: the kernel then
 * kills every process in the pid namespace.
 *
 * Static and small on purpose: no dynamic loader, nothing read from the sandbox's
 * filesystem before the command runs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define STATUS_FD 3

/* One line on stderr: "reelbox-init: " and up to four pieces. */
static void say(const char *a, const char *b, const char *c, const char *d)
{
	const char *parts[6] = {"reelbox-init: ", a, b, c, d, "\n"};

	for (int i = 0; i < 6; i++)
		if (parts[i] && write(2, parts[i], strlen(parts[i])) < 0)
			return;
}

__attribute__((noreturn)) static void run_command(char **argv, char **envp)
{
	int e;

	if (close_range(STATUS_FD, ~0U, 0) < 0)
		_exit(126);
	execve(argv[0], argv, envp);
	e = errno;
	say("cannot execute ", argv[0], ": ", strerror(e));
	/* 127 for a missing command, 126 for one that is there but cannot run: a shell's
	 * convention, which script authors know. */
	_exit(e == ENOENT ? 127 : 126);
}

int main(int argc, char **argv, char **envp)
{
	int status = 0, have = 0, st, null;
	pid_t cmd, pid;

	/* kill(-1) below is only safe as pid 1 of the sandbox's own pid namespace: run
	 * anywhere else (by hand on the host, say) it would kill every process the
	 * caller may signal. */
	if (getpid() != 1) {
		say("must run as pid 1 of a sandbox, not by hand", NULL, NULL, NULL);
		return 125;
	}
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (argc < 2) {
		say("no command given", NULL, NULL, NULL);
		return 127;
	}
	cmd = fork();
	if (cmd < 0) {
		say("fork: ", strerror(errno), NULL, NULL);
		return 126;
	}
	if (cmd == 0)
		run_command(argv + 1, envp);

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
	if (have && write(STATUS_FD, &status, sizeof(status)) < 0)
		return 1;
	return 0;
}
