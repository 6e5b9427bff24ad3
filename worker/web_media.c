/* web_media.c - GET /video/ID and /poster/ID: a succeeded job's video and its poster,
 * read from the path its status recorded, when this machine can read it.
 *
 * The path comes from Redis, which anyone with Redis access can write, so what is
 * served is held to what a worker writes: a video extension the page can play (.mp4,
 * .webm, .gif) or a .jpg poster beside it, inside the output dir the dashboard was
 * given (checked on the path as written, then on the file actually opened, so a linked
 * directory leads nowhere else), opened with O_NOFOLLOW (a link put in the file's place
 * is not followed) and served only when it is a regular file. The body is
 * sent from the descriptor (no copy in memory), with Range support so the player seeks.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "web.h"

/* The Content-Type for path's extension, NULL for a file the dashboard does not serve. */
static const char *media_type(const char *path, int poster)
{
	static const struct {
		const char *ext, *type;
	} types[] = {{".mp4", "video/mp4"},
		     {".webm", "video/webm"},
		     {".gif", "image/gif"},
		     {".mov", "video/quicktime"}};
	const char *dot = strrchr(path, '.');

	if (!dot || strchr(dot, '/'))
		return NULL;
	if (poster)
		return !strcmp(dot, ".jpg") ? "image/jpeg" : NULL;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(dot, types[i].ext))
			return types[i].type;
	return NULL;
}

/* The file to serve from status st: the output, or its poster (the result's "poster",
 * else the output with .jpg for its extension). 0, or a sentence in err. */
static int media_path(json_t *st, int poster, char *path, size_t len, char *err, size_t errlen)
{
	const char *out = json_string_value(json_object_get(st, "output"));
	const char *state = json_string_value(json_object_get(st, "state"));
	const char *p = json_string_value(json_object_get(json_object_get(st, "result"), "poster"));
	const char *dot;

	if (!state || strcmp(state, "succeeded") || !out || !*out) {
		snprintf(err, errlen, "job is %s: only a succeeded job has a video",
			 state ? state : "in no known state");
		return -ENOENT;
	}
	if (!poster || p) {
		if (snprintf(path, len, "%s", poster ? p : out) < (int)len)
			return 0;
		snprintf(err, errlen, "the recorded path is too long");
		return -ENOENT;
	}
	dot = strrchr(out, '.');
	if (!dot || strchr(dot, '/') || (size_t)(dot - out) + 5 > len) {
		snprintf(err, errlen, "the job recorded no poster");
		return -ENOENT;
	}
	snprintf(path, len, "%.*s.jpg", (int)(dot - out), out);
	return 0;
}

/* 1 when path names a file inside root as written: root, '/', then segments none of
 * which is empty, "." or "..". */
static int under_root(const char *root, const char *path)
{
	size_t n = strlen(root);
	const char *p;

	if (!*root || strncmp(path, root, n) || path[n] != '/')
		return 0;
	for (p = path + n + 1;; p++) {
		size_t seg = strcspn(p, "/");
		if (seg == 0 || (seg == 1 && p[0] == '.') || (seg == 2 && !strncmp(p, "..", 2)))
			return 0;
		p += seg;
		if (!*p)
			return 1;
	}
}

/* 1 when the open file fd really lies inside root (a directory on its path may be a
 * link; what the kernel says fd is decides, so nothing can be swapped after the check). */
static int fd_under_root(const char *root, int fd)
{
	char proc[64], real[PATH_MAX];
	ssize_t n;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, real, sizeof(real) - 1);
	if (n <= 0)
		return 0;
	real[n] = '\0';
	return under_root(root, real);
}

/* Digits only (no sign, no space, at most 19 of them) at *p into *v; 1 when found. */
static int digits(const char **p, uint64_t *v)
{
	const char *s = *p;

	*v = 0;
	while (*s >= '0' && *s <= '9' && s - *p < 19)
		*v = *v * 10 + (uint64_t)(*s++ - '0');
	if (s == *p || (*s >= '0' && *s <= '9'))
		return 0;
	*p = s;
	return 1;
}

int web_range_parse(const char *h, uint64_t size, uint64_t *first, uint64_t *last)
{
	uint64_t a, b = 0;
	int has_b;

	if (!h || strncmp(h, "bytes=", 6) || strchr(h, ','))
		return 1;
	h += 6;
	if (*h == '-') { /* the last b bytes */
		h++;
		if (!digits(&h, &b) || *h)
			return 1;
		if (b == 0 || size == 0)
			return -1;
		*first = b >= size ? 0 : size - b;
		*last = size - 1;
		return 0;
	}
	if (!digits(&h, &a) || *h++ != '-')
		return 1;
	has_b = *h != '\0';
	if (has_b && (!digits(&h, &b) || *h || b < a))
		return 1;
	if (a >= size)
		return -1;
	*first = a;
	*last = has_b && b < size ? b : size - 1;
	return 0;
}

/* Send fd (a regular file of size bytes) whole or the range asked; takes fd. */
static enum MHD_Result send_file(struct web *w, struct MHD_Connection *c, int fd, uint64_t size,
				 const char *type)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE);
	uint64_t first = 0, last = size ? size - 1 : 0;
	int part = web_range_parse(h, size, &first, &last);
	struct MHD_Response *r;
	char cr[96];
	enum MHD_Result ret;

	if (part < 0) {
		close(fd);
		snprintf(cr, sizeof(cr), "bytes */%" PRIu64, size);
		if (!(r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT)))
			return MHD_NO;
		web_headers(w, r, "text/plain");
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
		ret = MHD_queue_response(c, MHD_HTTP_RANGE_NOT_SATISFIABLE, r);
		MHD_destroy_response(r);
		return ret;
	}
	r = MHD_create_response_from_fd_at_offset64(part == 0 ? last - first + 1 : size, fd,
						    part == 0 ? first : 0);
	if (!r) {
		close(fd);
		return MHD_NO;
	}
	web_headers(w, r, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
	if (part == 0) {
		snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, first, last,
			 size);
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
	}
	ret = MHD_queue_response(c, part == 0 ? MHD_HTTP_PARTIAL_CONTENT : MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* The status of job id as a JSON object: 0, or a status and sentence for the client. */
static int job_status(struct web *w, const char *id, json_t **st, char *err, size_t errlen)
{
	struct queue *q;
	char *json = NULL;
	int rc;

	*st = NULL;
	if ((rc = web_queue_get(w, &q, err, errlen)) < 0)
		return rc;
	rc = queue_status(q, id, &json, err, errlen);
	web_queue_put(w, q, rc);
	if (rc < 0)
		return rc;
	*st = json_loads(json, 0, NULL);
	free(json);
	if (*st)
		return 0;
	snprintf(err, errlen, "unexpected answer from the queue");
	return -EIO;
}

/* The answer for a recorded path outside the output dir (or when there is none). */
static const char *outside_root(const struct web *w, int poster, const char *id, char *buf,
				size_t len)
{
	if (!w->media_root[0])
		snprintf(buf, len,
			 "this dashboard serves no videos: it has no output dir (reelbox web "
			 "--output-dir DIR, the dir the workers write to)");
	else
		snprintf(buf, len,
			 "the %s job %s recorded is not in this dashboard's output dir %s",
			 poster ? "poster" : "video", id, w->media_root);
	return buf;
}

enum MHD_Result web_media(struct web *w, struct MHD_Connection *c, const char *id, int poster)
{
	char path[PATH_MAX], err[QUEUE_ERR_MAX], why[QUEUE_ERR_MAX + PATH_MAX + 64];
	const char *type;
	json_t *st;
	struct stat sb;
	int rc, fd;

	if ((rc = job_status(w, id, &st, err, sizeof(err))) < 0)
		return web_send_text(w, c, web_status_for(rc), err);
	rc = media_path(st, poster, path, sizeof(path), err, sizeof(err));
	json_decref(st);
	if (rc < 0)
		return web_send_text(w, c, MHD_HTTP_NOT_FOUND, err);
	/* Only what a worker writes: a video the page plays, or a .jpg poster. */
	if (!(type = media_type(path, poster)))
		return web_send_text(w, c, MHD_HTTP_NOT_FOUND,
				     "the recorded file is not a video or poster this dashboard "
				     "serves (.mp4, .webm, .gif, .mov; .jpg)");
	/* Default-deny: a path a producer wrote into Redis opens nothing outside the output
	 * dir (no other .jpg or .mp4 of this host), and says nothing about what is there. */
	if (!under_root(w->media_root, path))
		return web_send_text(w, c, MHD_HTTP_NOT_FOUND,
				     outside_root(w, poster, id, why, sizeof(why)));
	/* O_NOFOLLOW: a link put in place of the file is never followed. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd >= 0 && !fd_under_root(w->media_root, fd)) {
		close(fd);
		return web_send_text(w, c, MHD_HTTP_NOT_FOUND,
				     outside_root(w, poster, id, why, sizeof(why)));
	}
	if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		snprintf(why, sizeof(why), "this machine cannot read %s of job %s at %s (%s)",
			 poster ? "the poster" : "the video", id, path,
			 fd < 0 ? strerror(errno) : "not a regular file");
		if (fd >= 0)
			close(fd);
		return web_send_text(w, c, MHD_HTTP_NOT_FOUND, why);
	}
	return send_file(w, c, fd, (uint64_t)sb.st_size, type);
}
