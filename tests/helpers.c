#define _GNU_SOURCE
#include "helpers.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "queue.h"

char *th_tmpdir(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char *path;

	if (!base || !*base)
		base = "/tmp";
	if (asprintf(&path, "%s/reelbox-test-%s-XXXXXX", base, tag) < 0)
		return NULL;
	if (!mkdtemp(path)) {
		free(path);
		return NULL;
	}
	return path;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(path) < 0 ? 0 : 0;
	unlink(path);
	return 0;
}

void th_rm_rf(const char *path)
{
	if (path)
		nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

int th_run(const char *cmd, char *out, size_t outlen)
{
	FILE *p = popen(cmd, "r");
	size_t used = 0;
	char sink[4096];
	int st;

	if (!p)
		return -1;
	for (;;) {
		size_t n;
		if (out && used + 1 < outlen)
			n = fread(out + used, 1, outlen - 1 - used, p);
		else
			n = fread(sink, 1, sizeof(sink), p);
		if (n == 0)
			break;
		if (out && used + 1 < outlen)
			used += n;
	}
	if (out && outlen)
		out[used] = '\0';
	st = pclose(p);
	if (st < 0)
		return -1;
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}

char *th_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, used = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (used + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			char *nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		size_t n = fread(buf + used, 1, cap - used - 1, f);
		if (n == 0)
			break;
		used += n;
	}
	fclose(f);
	if (!buf)
		buf = calloc(1, 1);
	buf[used] = '\0';
	if (len)
		*len = used;
	return buf;
}

int th_write_file(const char *path, const void *data, size_t len, int mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	const char *p = data;

	if (fd < 0)
		return -errno;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			int e = errno;
			close(fd);
			return -e;
		}
		p += n;
		len -= (size_t)n;
	}
	fchmod(fd, (mode_t)mode);
	close(fd);
	return 0;
}

int th_count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

const char *th_reelbox_bin(void)
{
	const char *b = getenv("REELBOX_BIN");
	return b && *b ? b : "build/reelbox";
}

const char *th_source_dir(void)
{
	const char *s = getenv("REELBOX_SOURCE_DIR");
	return s && *s ? s : ".";
}

/* ---- redis-server ---- */

int th_free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		return -1;
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

pid_t th_redis_start(int port, const char *dir, int aof)
{
	char portstr[16], sock[PATH_MAX];
	pid_t pid;

	snprintf(portstr, sizeof(portstr), "%d", port);
	snprintf(sock, sizeof(sock), "%s/redis.sock", dir);
	pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);
		dup2(devnull, 1);
		dup2(devnull, 2);
		execlp("redis-server", "redis-server", "--port", portstr, "--bind", "127.0.0.1",
		       "--save", "", "--appendonly", aof ? "yes" : "no", "--appendfsync", "always",
		       "--daemonize", "no", "--dir", dir, "--loglevel", "warning", "--unixsocket",
		       sock, "--enable-debug-command", "local", (char *)NULL);
		_exit(127);
	}
	/* Ready when it answers PING. */
	for (int i = 0; i < 250; i++) {
		char url[64];
		struct queue *q;
		snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
		if (queue_open(&q, url, NULL, NULL, 0) == 0) {
			char *out = NULL;
			const char *ping[] = {"PING"};
			int rc = queue_command(q, &out, 1, ping);
			queue_close(q);
			free(out);
			if (rc == 0)
				return pid;
		}
		usleep(20000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

void th_redis_stop(pid_t pid, int sig)
{
	if (pid > 0) {
		kill(pid, sig);
		waitpid(pid, NULL, 0);
	}
}
