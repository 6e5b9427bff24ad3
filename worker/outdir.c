/* outdir.c - the output dir's health, work dirs and claim names (see outdir.h).
 *
 * Every step on a name is one system call whose failure is the safe outcome: symlink()
 * fails on a taken name rather than replace it, a release unlinks only a link that still
 * points at the caller's file, and a forced pointing goes through a fresh link renamed
 * over the name, so no reader ever sees it missing.
 */
#define _GNU_SOURCE
#include "outdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

int outdir_path(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int outdir_check(const char *out, const char *work_dir, int probe, char *why, size_t len)
{
	char parent[PATH_MAX], probe_path[PATH_MAX];
	struct statvfs vfs;
	struct stat st;

	if (stat(out, &st) < 0) {
		snprintf(why, len, "output dir %.300s %s", out,
			 errno == ENOENT ? "does not exist" : strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(why, len, "output dir %.300s is not a directory", out);
		return -1;
	}
	if (outdir_path(parent, sizeof(parent), "%s/.work", out) < 0 ||
	    (mkdir(parent, 0700) < 0 && errno != EEXIST) ||
	    (mkdir(work_dir, 0700) < 0 && errno != EEXIST)) {
		snprintf(why, len, "cannot make the work dir %.300s: %s", work_dir,
			 strerror(errno));
		return -1;
	}
	if (statvfs(work_dir, &vfs) == 0) {
		uint64_t free_b = (uint64_t)vfs.f_bavail * vfs.f_frsize;
		if (vfs.f_flag & ST_RDONLY) {
			snprintf(why, len, "output dir %.300s is on a read-only file system", out);
			return -1;
		}
		if (free_b < OUTDIR_MIN_FREE) {
			snprintf(why, len,
				 "output dir %.300s is full: %llu KiB free, %llu MiB needed", out,
				 (unsigned long long)(free_b >> 10),
				 (unsigned long long)(OUTDIR_MIN_FREE >> 20));
			return -1;
		}
		if (vfs.f_files && !vfs.f_favail) {
			snprintf(why, len, "output dir %.300s has no free inodes", out);
			return -1;
		}
	}
	if (probe) {
		static char block[65536];
		int fd, e = 0;

		if (outdir_path(probe_path, sizeof(probe_path), "%s/.probe", work_dir) < 0)
			return 0;
		/* No fsync: it could hold the loop (and every heartbeat) on a busy disk; a
		 * full or read-only file system fails the write itself. */
		fd = open(probe_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0) {
			e = errno;
		} else {
			ssize_t n = write(fd, block, sizeof(block));
			if (n != (ssize_t)sizeof(block))
				e = n < 0 ? errno : ENOSPC; /* a short write: full */
		}
		if (fd >= 0)
			close(fd);
		unlink(probe_path);
		if (e) {
			snprintf(why, len, "cannot write in output dir %.300s: %s", out,
				 strerror(e));
			return -1;
		}
	}
	return 0;
}

void outdir_sweep_work_dirs(const char *output_dir)
{
	char base[PATH_MAX], host[128] = "", path[PATH_MAX * 2];
	DIR *d;
	struct dirent *de;

	gethostname(host, sizeof(host) - 1);
	if (outdir_path(base, sizeof(base), "%s/.work", output_dir) < 0)
		return;
	d = opendir(base);
	if (!d)
		return;
	while ((de = readdir(d))) {
		size_t hl = strlen(host);
		if (strncmp(de->d_name, host, hl) || de->d_name[hl] != '-')
			continue;
		long pid = strtol(de->d_name + hl + 1, NULL, 10);
		if (pid <= 0 || (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
			continue;
		snprintf(path, sizeof(path), "%s/%s", base, de->d_name);
		DIR *sub = opendir(path);
		if (sub) {
			struct dirent *e;
			while ((e = readdir(sub)))
				if (e->d_name[0] != '.' ||
				    (e->d_name[1] && strcmp(e->d_name, "..")))
					unlinkat(dirfd(sub), e->d_name, 0);
			closedir(sub);
		}
		rmdir(path);
	}
	closedir(d);
}

/* The file name of final, which a symlink beside it points at. */
static const char *base_name(const char *final)
{
	const char *base = strrchr(final, '/');

	return base ? base + 1 : final;
}

int outdir_take_name(const char *final, const char *stable)
{
	return symlink(base_name(final), stable) == 0;
}

void outdir_release_name(const char *final, const char *stable)
{
	char target[PATH_MAX];
	ssize_t n = readlink(stable, target, sizeof(target) - 1);

	if (n > 0) {
		target[n] = '\0';
		if (!strcmp(target, base_name(final)))
			unlink(stable);
	}
}

int outdir_point_name(const char *out, const char *id, const char *token, const char *final,
		      const char *stable)
{
	char tmp[PATH_MAX];
	int rc;

	if ((rc = outdir_path(tmp, sizeof(tmp), "%s/.%s.%s.link", out, id, token)) < 0)
		return rc;
	unlink(tmp);
	if (symlink(base_name(final), tmp) < 0 || rename(tmp, stable) < 0) {
		rc = -errno;
		unlink(tmp);
		return rc;
	}
	return 0;
}

/* <token> is "<digits>-<hex>", <ext> one of the containers, or .jpg or .sheet.jpg: the
 * poster and the contact sheet beside a claim's video are that claim's files too. */
static int claim_file_of(const char *name, const char *id, size_t n)
{
	const char *t = name + n + 1, *dot;
	size_t digits;

	if (strncmp(name, id, n) || name[n] != '.')
		return 0;
	digits = strspn(t, "0123456789");
	if (!digits || t[digits] != '-' || !(dot = strchr(t, '.')) ||
	    strspn(t + digits + 1, "0123456789abcdef") != (size_t)(dot - t - digits - 1))
		return 0;
	return !strcmp(dot, ".mp4") || !strcmp(dot, ".webm") || !strcmp(dot, ".gif") ||
	       !strcmp(dot, ".mov") || !strcmp(dot, ".jpg") || !strcmp(dot, ".sheet.jpg");
}

void outdir_remove_unrecorded(const char *out, const char *id, const char *final)
{
	size_t n = strlen(id);
	const char *mine = base_name(final), *ext = strrchr(mine, '.');
	size_t stem = ext ? (size_t)(ext - mine) + 1 : strlen(mine); /* "<id>.<token>." */
	DIR *d = opendir(out);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)))
		if (strncmp(de->d_name, mine, stem) && claim_file_of(de->d_name, id, n))
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
}
