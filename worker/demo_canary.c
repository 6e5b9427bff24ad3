/* demo_canary.c - host files the threat scenarios aim at, planted or watched.
 *
 * A threat answer deletes, appends to, or drops files at absolute paths (the
 * hallucination's rm -rf of everything in /tmp, the indirect injection's line for /etc/hosts, the
 * daemon's heartbeat file). Whether any of that reached the host is a fact about the
 * host's files, so before the run the demo plants canaries where an rm aims (a dir of
 * its own in /tmp, /tmp/reelbox-demo-canary.<pid>, with a file in it) and takes note of
 * every other absolute path an answer names: what is there (inode, size, mtime) or that
 * nothing is. After the jobs each must be exactly as it was. Only the canary dir and its
 * file are ever created or removed here.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "demo.h"
#include "errf.h"

#define CANARY_PREFIX "/tmp/reelbox-demo-canary"

/* 1 when path is a demo's canary dir or below one (no "..": the text is untrusted). */
static int under_canary_dir(const char *path)
{
	return !strncmp(path, CANARY_PREFIX, strlen(CANARY_PREFIX)) && !strstr(path, "/..");
}

/* The entry for path, added when new; NULL when the list is full or path too long. */
static struct demo_canary *entry(struct demo_canaries *cs, const char *path)
{
	for (size_t i = 0; i < cs->n; i++)
		if (!strcmp(cs->c[i].path, path))
			return &cs->c[i];
	if (cs->n >= DEMO_MAX_CANARIES || strlen(path) >= sizeof(cs->c[0].path))
		return NULL;
	memset(&cs->c[cs->n], 0, sizeof(cs->c[0]));
	memcpy(cs->c[cs->n].path, path, strlen(path) + 1); /* path may be cs->dir */
	return &cs->c[cs->n++];
}

/* Take note of what is at c->path now. */
static void note(struct demo_canary *c)
{
	struct stat st;

	c->existed = lstat(c->path, &st) == 0;
	if (!c->existed)
		return;
	c->ino = (unsigned long)st.st_ino;
	c->is_dir = S_ISDIR(st.st_mode);
	c->size = (long long)st.st_size;
	c->mtime_ns = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
}

/* 1 when something could be at path: it is there, or its parent dir is. */
static int could_exist(const char *path)
{
	char parent[256];
	struct stat st;
	char *slash;

	if (lstat(path, &st) == 0)
		return 1;
	snprintf(parent, sizeof(parent), "%s", path);
	slash = strrchr(parent, '/');
	if (!slash)
		return 0;
	slash[slash == parent] = '\0'; /* "/x" has the parent "/" */
	return stat(parent, &st) == 0 && S_ISDIR(st.st_mode);
}

void demo_canaries_watch(struct demo_canaries *cs, const char *path)
{
	static const char *const skip[] = {"/proc", "/sys", "/dev", "/usr",
					   "/lib",  "/bin", "/sbin"};
	struct demo_canary *c;

	if (path[0] != '/' || !path[1] || under_canary_dir(path) || !could_exist(path))
		return;
	/* Kernel views change by themselves; the system's programs and fonts are what scripts
	 * read, and the sandbox shows them read-only (the checklist's filesystem point). */
	for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
		if (!strncmp(path, skip[i], strlen(skip[i])) &&
		    (path[strlen(skip[i])] == '/' || !path[strlen(skip[i])]))
			return;
	if (!(c = entry(cs, path)) || c->planted)
		return;
	note(c);
}

static int plant_file(struct demo_canary *c, char *err, size_t errlen)
{
	int fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);

	snprintf(c->content, sizeof(c->content), "reelbox demo canary %ld: no job may touch this\n",
		 (long)getpid());
	if (fd < 0 || write(fd, c->content, strlen(c->content)) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		worker_err(err, errlen, "cannot plant the canary %s: %s", c->path, strerror(e));
		return -e;
	}
	close(fd);
	return 0;
}

int demo_canaries_plant(struct demo_canaries *cs, char *err, size_t errlen)
{
	struct demo_canary *dir, *file;
	char path[128];

	memset(cs, 0, sizeof(*cs));
	snprintf(cs->dir, sizeof(cs->dir), "%s.%ld", CANARY_PREFIX, (long)getpid());
	if (mkdir(cs->dir, 0755) < 0 && errno != EEXIST) {
		worker_err(err, errlen, "cannot plant the canary dir %s: %s", cs->dir,
			   strerror(errno));
		return -errno;
	}
	snprintf(path, sizeof(path), "%s/do-not-delete.txt", cs->dir);
	if (!(dir = entry(cs, cs->dir)) || !(file = entry(cs, path)))
		return -ENOMEM;
	if (plant_file(file, err, errlen) < 0)
		return -EIO;
	dir->planted = file->planted = 1;
	note(dir);
	note(file);
	return 0;
}

/* One canary as it is now: "" when as it was, else what changed. A dir's own mtime
 * and size change with any entry anyone makes in it (/tmp): its inode is what counts. */
static void check_one(const struct demo_canary *c, char *why, size_t len)
{
	struct demo_canary now = *c;
	char buf[96] = "";
	ssize_t n = -1;
	int fd;

	why[0] = '\0';
	note(&now);
	if (!c->existed && now.existed)
		snprintf(why, len, "%s appeared on the host", c->path);
	else if (c->existed && !now.existed)
		snprintf(why, len, "%s is gone", c->path);
	else if (c->existed && now.ino != c->ino)
		snprintf(why, len, "%s was replaced", c->path);
	else if (c->existed && !c->is_dir && (now.size != c->size || now.mtime_ns != c->mtime_ns))
		snprintf(why, len, "%s was written to", c->path);
	if (why[0] || !c->content[0])
		return;
	if ((fd = open(c->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	if (n != (ssize_t)strlen(c->content) || memcmp(buf, c->content, (size_t)n))
		snprintf(why, len, "%s was changed", c->path);
}

int demo_canaries_check(const struct demo_canaries *cs, char *evidence, size_t evlen)
{
	size_t planted = 0, present = 0, absent = 0;
	char why[320], names[600] = "";

	for (size_t i = 0; i < cs->n; i++) {
		const struct demo_canary *c = &cs->c[i];
		check_one(c, why, sizeof(why));
		if (why[0]) {
			worker_err(evidence, evlen, "%s after the jobs", why);
			return 0;
		}
		planted += c->planted;
		present += !c->planted && c->existed;
		absent += !c->planted && !c->existed;
		if (strlen(names) + strlen(c->path) + 16 < sizeof(names))
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s%s",
				 names[0] ? ", " : "", c->path, c->existed ? "" : " (absent)");
	}
	worker_err(evidence, evlen,
		   "%zu canaries planted in /tmp, where the hallucination's rm aims, and %zu host "
		   "paths the answers name unchanged (inode; size and mtime of files), %zu still "
		   "absent: %s",
		   planted, present, absent, names);
	return 1;
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void demo_canaries_remove(struct demo_canaries *cs)
{
	/* The canary dir is this run's alone: it goes whole, whatever a run left in it. */
	if (cs->dir[0])
		nftw(cs->dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	cs->n = 0;
}

/* The path token at p with a trailing slash or glob star cut (a glob in /tmp names
 * /tmp); 0 when none. */
static size_t path_token(const char *p, char *out, size_t outlen)
{
	size_t n = 0;

	while (p[n] && (isalnum((unsigned char)p[n]) || strchr("/._-*", p[n])))
		n++;
	if (n < 2 || n >= outlen)
		return 0;
	memcpy(out, p, n);
	out[n] = '\0';
	while (n > 1 && strchr("/*.", out[n - 1])) /* a sentence's full stop too */
		out[--n] = '\0';
	return strchr(out, '*') ? 0 : n;
}

size_t demo_answer_paths(const char *answer, char out[][256], size_t max)
{
	const char *line = answer;
	size_t n = 0;

	while (line && *line && n < max) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		for (size_t i = 0; i < len && n < max; i++) {
			if (line[i] != '/' || !strchr(" \t'\"(=,[", i ? line[i - 1] : ' '))
				continue;
			if (path_token(line + i, out[n], sizeof(out[n])) > 0)
				n++;
			while (i < len && !strchr(" \t'\")", line[i]))
				i++;
		}
		line = end ? end + 1 : NULL;
	}
	return n;
}
