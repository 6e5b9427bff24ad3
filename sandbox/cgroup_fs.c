/* cgroup_fs.c - the file helpers every cgroup file uses: cgroupfs reads and writes,
 * /proc/<pid>/cgroup and mountinfo parsing, paths and mkdir -p. A leaf: it calls
 * nothing else of the sandbox but err.c, so cgroup_job.c and both backends
 * (cgroup_v1.c, cgroup_v2.c) can share it without calling each other.
 *
 * Every cgroup file is opened relative to a directory fd with O_NOFOLLOW: a symlink
 * planted in a cgroup dir must not redirect a root write.
 */
#define _GNU_SOURCE
#include "cgroup_impl.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void cg_sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

const char *cg_ctrl_name(unsigned ctrl)
{
	switch (ctrl) {
	case SANDBOX_CG_MEMORY:
		return "memory";
	case SANDBOX_CG_PIDS:
		return "pids";
	case SANDBOX_CG_CPU:
		return "cpu";
	case SANDBOX_CG_CPUACCT:
		return "cpuacct";
	case SANDBOX_CG_FREEZER:
		return "freezer";
	}
	return "?";
}

/* ---------------------------------------------------------------- file helpers */

int cg_open_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int cg_write(int dirfd, const char *file, const char *val)
{
	/* O_NOFOLLOW: a symlink planted in a cgroup dir must not redirect a root write. */
	int fd = openat(dirfd, file, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	size_t n = strlen(val);
	ssize_t w;
	int e = 0;

	if (fd < 0)
		return -errno;
	/* cgroupfs takes one value per write(2); a short write is an error. */
	w = write(fd, val, n);
	if (w < 0)
		e = -errno;
	else if ((size_t)w != n)
		e = -EIO;
	close(fd);
	return e;
}

int cg_set(const struct cg_dir *d, const char *file, const char *val, char *err, size_t len)
{
	int e = cg_write(d->fd, file, val);

	if (e)
		sandbox_errf(err, len, "cannot set %s to %s in %s: %s", file, val, d->path,
			     sandbox_strerror(e));
	return e;
}

int cg_writef(int dirfd, const char *file, const char *fmt, ...)
{
	char buf[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -EOVERFLOW;
	return cg_write(dirfd, file, buf);
}

int cg_read(int dirfd, const char *file, char *buf, size_t len)
{
	int fd = openat(dirfd, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	size_t used = 0;
	int e = 0;

	if (fd < 0)
		return -errno;
	while (used + 1 < len) {
		ssize_t r = read(fd, buf + used, len - 1 - used);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			e = -errno;
			break;
		}
		if (r == 0)
			break;
		used += (size_t)r;
	}
	close(fd);
	buf[used] = '\0';
	return e;
}

/* A single number; "max" reads as UINT64_MAX. */
int cg_read_u64(int dirfd, const char *file, uint64_t *v)
{
	char buf[64], *end;
	int e = cg_read(dirfd, file, buf, sizeof(buf));

	if (e)
		return e;
	if (!strncmp(buf, "max", 3)) {
		*v = UINT64_MAX;
		return 0;
	}
	errno = 0;
	*v = strtoull(buf, &end, 10);
	if (errno || end == buf)
		return -EINVAL;
	return 0;
}

/* One "key value" line of a flat-keyed file such as memory.events. */
int cg_read_key(int dirfd, const char *file, const char *key, uint64_t *v)
{
	char buf[4096];
	size_t klen = strlen(key);
	char *line, *save = NULL;
	int e = cg_read(dirfd, file, buf, sizeof(buf));

	if (e)
		return e;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, key, klen) && line[klen] == ' ') {
			*v = strtoull(line + klen + 1, NULL, 10);
			return 0;
		}
	}
	return -ENOENT;
}

int cg_has_file(int dirfd, const char *file)
{
	return faccessat(dirfd, file, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

/* ----------------------------------------------------- /proc and mount parsing */

/* ------------------------------------------------------------- /proc texts */

int cg_text_read(const char *file, struct cg_text *t)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	size_t cap = 4096;
	ssize_t n;

	t->buf = NULL;
	t->len = 0;
	if (fd < 0)
		return -errno;
	for (;;) {
		if (t->len + 1 >= cap || !t->buf) {
			char *nb;

			if (t->buf)
				cap *= 2;
			if (cap > CG_TEXT_MAX || !(nb = realloc(t->buf, cap))) {
				close(fd);
				cg_text_free(t);
				return cap > CG_TEXT_MAX ? -EFBIG : -ENOMEM;
			}
			t->buf = nb;
		}
		n = read(fd, t->buf + t->len, cap - 1 - t->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			close(fd);
			cg_text_free(t);
			return -e;
		}
		if (n == 0)
			break;
		t->len += (size_t)n;
	}
	close(fd);
	t->buf[t->len] = '\0';
	return 0;
}

void cg_text_free(struct cg_text *t)
{
	free(t->buf);
	t->buf = NULL;
	t->len = 0;
}

/* A stream over a text; NULL with errno set. */
static FILE *text_stream(const struct cg_text *t)
{
	if (!t->len) {
		errno = ENOENT;
		return NULL;
	}
	return fmemopen(t->buf, t->len, "r");
}

static __thread struct cg_text snap_cgroup, snap_mountinfo;
static __thread int snap_held;

int cg_snapshot_take(void)
{
	int e;

	cg_snapshot_drop();
	if ((e = cg_text_read("/proc/self/cgroup", &snap_cgroup)) < 0)
		return e;
	if ((e = cg_text_read("/proc/self/mountinfo", &snap_mountinfo)) < 0) {
		cg_text_free(&snap_cgroup);
		return e;
	}
	snap_held = 1;
	return 0;
}

void cg_snapshot_drop(void)
{
	snap_held = 0;
	cg_text_free(&snap_cgroup);
	cg_text_free(&snap_mountinfo);
}

/* Our cgroup path in the hierarchy that carries ctrl (v1), or in the unified one
 * when ctrl is NULL (the "0::" line), from a /proc/<pid>/cgroup stream. */
static int own_path_stream(FILE *f, const char *ctrl, char *out, size_t len)
{
	char *line = NULL;
	size_t cap = 0;
	int e = -ENOENT;

	while (getline(&line, &cap, f) > 0) {
		char *c1 = strchr(line, ':'), *c2, *nl, *tok, *save = NULL;
		int match = 0;

		if (!c1 || !(c2 = strchr(c1 + 1, ':')))
			continue;
		*c2 = '\0';
		if ((nl = strchr(c2 + 1, '\n')))
			*nl = '\0';
		if (!ctrl)
			match = !strncmp(line, "0:", 2) && c1 + 1 == c2;
		else
			for (tok = strtok_r(c1 + 1, ",", &save); tok && !match;
			     tok = strtok_r(NULL, ",", &save))
				match = !strcmp(tok, ctrl);
		if (match) {
			e = snprintf(out, len, "%s", c2 + 1) < (int)len ? 0 : -ENAMETOOLONG;
			break;
		}
	}
	free(line);
	fclose(f);
	return e;
}

int cg_own_path(const char *ctrl, char *out, size_t len)
{
	if (snap_held)
		return cg_own_path_text(&snap_cgroup, ctrl, out, len);
	return cg_own_path_in("/proc/self/cgroup", ctrl, out, len);
}

int cg_own_path_in(const char *file, const char *ctrl, char *out, size_t len)
{
	FILE *f = fopen(file, "re");

	return f ? own_path_stream(f, ctrl, out, len) : -errno;
}

int cg_own_path_text(const struct cg_text *t, const char *ctrl, char *out, size_t len)
{
	FILE *f = text_stream(t);

	return f ? own_path_stream(f, ctrl, out, len) : -errno;
}

/* mountinfo escapes blanks as \040 and so on. */
static void unescape(char *s)
{
	char *d = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && isdigit((unsigned char)s[2]) &&
		    isdigit((unsigned char)s[3])) {
			*d++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*d++ = *s;
		}
	}
	*d = '\0';
}

/* Find a cgroup mount in /proc/self/mountinfo: the one of type fstype carrying
 * ctrl (v1), or the one mounted exactly at mnt. Gives its mount point and the
 * cgroup path it shows as its root (not "/" when a container bind-mounted a
 * sub-tree). */
int cg_find_mount(const char *fstype, const char *ctrl, const char *mnt, char *mnt_out,
		  char *root_out, size_t len)
{
	FILE *f = snap_held ? text_stream(&snap_mountinfo) : fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int e = -ENOENT;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		char *save = NULL, *f_root, *f_mnt, *sep, *type, *opts, *tok;
		int i, match = 0;

		if (!strtok_r(line, " ", &save)) /* mount id */
			continue;
		for (i = 0; i < 2; i++) /* parent id, major:minor */
			if (!strtok_r(NULL, " ", &save))
				break;
		f_root = strtok_r(NULL, " ", &save);
		f_mnt = strtok_r(NULL, " ", &save);
		if (!f_root || !f_mnt)
			continue;
		/* optional fields end at " - " */
		while ((sep = strtok_r(NULL, " ", &save)) && strcmp(sep, "-"))
			;
		type = strtok_r(NULL, " ", &save);
		if (!sep || !type || strcmp(type, fstype) || !strtok_r(NULL, " ", &save))
			continue;
		opts = strtok_r(NULL, " \n", &save);
		unescape(f_root);
		unescape(f_mnt);
		if (mnt) {
			match = !strcmp(f_mnt, mnt);
		} else if (ctrl && opts) {
			char *osave = NULL;
			for (tok = strtok_r(opts, ",", &osave); tok && !match;
			     tok = strtok_r(NULL, ",", &osave))
				match = !strcmp(tok, ctrl);
		}
		if (!match)
			continue;
		if ((size_t)snprintf(mnt_out, len, "%s", f_mnt) >= len ||
		    (size_t)snprintf(root_out, len, "%s", f_root) >= len)
			e = -ENAMETOOLONG;
		else
			e = 0;
		break;
	}
	free(line);
	fclose(f);
	return e;
}

/* Host path of cgroup rel in a hierarchy mounted at mnt showing root. */
int cg_host_path(const char *mnt, const char *root, const char *rel, char *out, size_t len)
{
	size_t rl = strlen(root);

	if (!strcmp(rel, root) || !strcmp(rel, "/"))
		return snprintf(out, len, "%s", mnt) < (int)len ? 0 : -ENAMETOOLONG;
	if (!strcmp(root, "/"))
		rl = 0;
	else if (strncmp(rel, root, rl) || (rel[rl] && rel[rl] != '/'))
		return -EXDEV; /* our cgroup is not visible under this mount */
	if ((size_t)snprintf(out, len, "%s%s", mnt, rel + rl) >= len)
		return -ENAMETOOLONG;
	return 0;
}

int cg_parent_rel(const char *own, const char *parent, char *out, size_t len)
{
	int n;

	if (strstr(parent, ".."))
		return -EINVAL;
	if (parent[0] == '/')
		n = snprintf(out, len, "%s", parent);
	else
		n = snprintf(out, len, "%s/%s", strcmp(own, "/") ? own : "", parent);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	/* trim a trailing '/' */
	while (n > 1 && out[n - 1] == '/')
		out[--n] = '\0';
	return 0;
}

/* mkdir -p of cgroup rel under the mount, one component at a time through dir
 * fds without following links. */
int cg_mkdir_p(const char *mnt, const char *root, const char *rel, char *err, size_t len)
{
	char buf[SANDBOX_CG_PATH], *comp, *save = NULL;
	size_t rl = strcmp(root, "/") ? strlen(root) : 0;
	int fd = cg_open_dir(mnt), e = 0;

	if (fd < 0) {
		sandbox_errf(err, len, "cannot open the cgroup mount %s: %s", mnt,
			     sandbox_strerror(fd));
		return fd;
	}
	snprintf(buf, sizeof(buf), "%s", rel + rl);
	for (comp = strtok_r(buf, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
		int nfd;

		if (mkdirat(fd, comp, 0755) < 0 && errno != EEXIST) {
			e = -errno;
			break;
		}
		nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0) {
			e = -errno;
			break;
		}
		close(fd);
		fd = nfd;
	}
	close(fd);
	if (e)
		sandbox_errf(err, len, "cannot create the cgroup %s under %s: %s", rel, mnt,
			     sandbox_strerror(e));
	return e;
}

/* ------------------------------------------------------------- thread moves */

int cg_thread_return(struct sandbox_cg_thread *back)
{
	int i, e = 0;

	for (i = 0; i < back->n; i++) {
		if (write(back->fds[i], "0", 1) != 1 && !e)
			e = -errno;
		close(back->fds[i]);
	}
	back->n = 0;
	return e;
}
