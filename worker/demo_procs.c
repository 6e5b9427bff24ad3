/* demo_procs.c - the demo's own processes: a private redis-server and a worker child.
 *
 * Both run in their own process group, so a Ctrl-C on the terminal reaches the demo
 * alone and the demo stops them in order (the worker first, so it hands back what it
 * holds; Redis last). Both die with the demo if it is killed (PR_SET_PDEATHSIG). The
 * demo's process has threads by then (the stand-in model serves from libmicrohttpd's),
 * so everything a child needs is built before fork() and the child only calls
 * async-signal-safe functions before exec.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "demo.h"
#include "errf.h"
#include "queue.h"

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* In the child, before exec: own group, die with the demo, stdio as given. */
static void child_setup(int in, int out, int errfd)
{
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	dup2(in, 0);
	dup2(out, 1);
	dup2(errfd, 2);
}

/* 1 when Redis at url answers PING. */
static int redis_answers(const char *url)
{
	const char *ping[] = {"PING"};
	struct queue *q;
	char *out = NULL;
	int ok;

	if (queue_open(&q, url, NULL, NULL, 0) < 0)
		return 0;
	ok = queue_command(q, &out, 1, ping) == 0 && out && !strcmp(out, "PONG");
	free(out);
	queue_close(q);
	return ok;
}

int demo_redis_start(const char *dir, pid_t *pid, char *url, size_t urllen, char *err,
		     size_t errlen)
{
	char sock[PATH_MAX], log[PATH_MAX];
	int null, logfd;

	snprintf(sock, sizeof(sock), "%s/redis.sock", dir);
	snprintf(log, sizeof(log), "%s/redis.log", dir);
	snprintf(url, urllen, "unix://%s", sock);
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (null < 0 || logfd < 0) {
		int e = errno;
		if (null >= 0)
			close(null);
		worker_err(err, errlen, "cannot open %s: %s", log, strerror(e));
		return -e;
	}
	*pid = fork();
	if (*pid == 0) {
		child_setup(null, logfd, logfd);
		/* No TCP port and no file on disk: only this demo can reach it, and it
		 * leaves nothing behind. */
		execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", sock,
		       "--unixsocketperm", "700", "--save", "", "--appendonly", "no", "--dir", dir,
		       "--daemonize", "no", "--loglevel", "warning", (char *)NULL);
		_exit(127);
	}
	close(null);
	close(logfd);
	if (*pid < 0) {
		int e = errno;
		worker_err(err, errlen, "cannot start redis-server: %s", strerror(e));
		return -e;
	}
	for (int i = 0; i < 250; i++) {
		int st;
		if (redis_answers(url))
			return 0;
		if (demo_child_exited(*pid, &st)) {
			*pid = -1;
			worker_err(err, errlen,
				   "redis-server did not start (%s; its log is %s): install it "
				   "(scripts/install-deps.sh) or give --redis URL",
				   WIFEXITED(st) && WEXITSTATUS(st) == 127 ? "not found"
									   : "it exited",
				   log);
			return -ENOENT;
		}
		sleep_ms(20);
	}
	demo_child_stop(*pid, SIGKILL, 1000);
	*pid = -1;
	worker_err(err, errlen, "redis-server did not answer within 5 s; its log is %s", log);
	return -ETIMEDOUT;
}

int demo_worker_start(const char *const *argv, char *const *env, const char *log_path, pid_t *pid,
		      char *err, size_t errlen)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	int logfd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (null < 0 || logfd < 0) {
		int e = errno;
		if (null >= 0)
			close(null);
		worker_err(err, errlen, "cannot create the worker's log %s: %s", log_path,
			   strerror(e));
		return -e;
	}
	*pid = fork();
	if (*pid == 0) {
		child_setup(null, null, logfd);
		execve("/proc/self/exe", (char *const *)argv, env);
		_exit(127);
	}
	close(null);
	close(logfd);
	if (*pid < 0) {
		int e = errno;
		worker_err(err, errlen, "cannot start the worker: %s", strerror(e));
		return -e;
	}
	return 0;
}

int demo_child_exited(pid_t pid, int *status)
{
	return pid > 0 && waitpid(pid, status, WNOHANG) == pid;
}

int demo_child_stop(pid_t pid, int sig, int wait_ms)
{
	int st = 0;

	if (pid <= 0)
		return -1;
	kill(pid, sig);
	for (int waited = 0; waited < wait_ms; waited += 20) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return st;
		if (r < 0)
			return -1;
		sleep_ms(20);
	}
	kill(pid, SIGKILL);
	return waitpid(pid, &st, 0) == pid ? st : -1;
}
