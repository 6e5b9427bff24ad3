/* stream.c - strict, bounded readers for the raw, Y4M and PPM frame streams.
 *
 * The bytes come from a script we do not trust, so nothing here is sized by a
 * header before the header has been checked against fixed limits and the job's
 * size, no read is unbounded, and no complex decoder ever sees them: a frame is a
 * counted run of bytes, handed to swscale.
 */
#define _GNU_SOURCE
#include "stream.h"
#include "checks.h"
#include "render.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <libavutil/imgutils.h>
#include <libavutil/mem.h>
#include <libavutil/pixdesc.h>

static const struct {
	const char *name;
	enum AVPixelFormat fmt;
} raw_formats[] = {
    {"rgb24", AV_PIX_FMT_RGB24}, {"rgba", AV_PIX_FMT_RGBA},	  {"bgr24", AV_PIX_FMT_BGR24},
    {"gray", AV_PIX_FMT_GRAY8},	 {"yuv420p", AV_PIX_FMT_YUV420P},
};

enum AVPixelFormat render_raw_format(const char *pix_fmt)
{
	if (!pix_fmt)
		return AV_PIX_FMT_NONE;
	for (size_t i = 0; i < sizeof(raw_formats) / sizeof(raw_formats[0]); i++)
		if (!strcmp(raw_formats[i].name, pix_fmt))
			return raw_formats[i].fmt;
	return AV_PIX_FMT_NONE;
}

static int dims_ok(int64_t w, int64_t h)
{
	return w >= 1 && h >= 1 && w <= RENDER_MAX_DIM && h <= RENDER_MAX_DIM &&
	       w * h <= RENDER_MAX_AREA;
}

static size_t frame_size(enum AVPixelFormat fmt, int w, int h)
{
	int n;

	if (fmt == AV_PIX_FMT_NONE || !dims_ok(w, h))
		return 0;
	n = av_image_get_buffer_size(fmt, w, h, 1);
	return n > 0 ? (size_t)n : 0;
}

size_t render_frame_bytes(const char *pix_fmt, int width, int height)
{
	if (render_libav_load(NULL, 0) < 0)
		return 0;
	return frame_size(render_raw_format(pix_fmt), width, height);
}

const char *render_kind_name(enum render_kind kind)
{
	switch (kind) {
	case RENDER_KIND_Y4M:
		return "y4m";
	case RENDER_KIND_PPM:
		return "ppm";
	default:
		return "raw";
	}
}

/* Printable rendering of up to 16 untrusted bytes for an error sentence. */
static const char *quote(char *dst, size_t dstlen, const uint8_t *src, size_t n)
{
	size_t o = 0;

	if (n > 16)
		n = 16;
	for (size_t i = 0; i < n && o + 5 < dstlen; i++) {
		if (src[i] >= 0x20 && src[i] < 0x7f && src[i] != '"' && src[i] != '\\')
			dst[o++] = (char)src[i];
		else
			o += (size_t)snprintf(dst + o, dstlen - o, "\\x%02x", src[i]);
	}
	dst[o] = '\0';
	return dst;
}

static int cancelled(const struct render_reader *rd, char *err, size_t errlen)
{
	if (rd->cancel && atomic_load(rd->cancel)) {
		snprintf(err, errlen, "the render was cancelled");
		return 1;
	}
	return 0;
}

/* stop_fd fired: from now on take only what fd holds at this moment. A writer that
 * is somehow still alive cannot keep the drain going by writing faster than we read. */
static void start_drain(struct render_reader *rd)
{
	int avail = 0;

	rd->stopping = 1;
	if (ioctl(rd->fd, FIONREAD, &avail) == 0)
		rd->drain_left = avail > 0 ? (uint64_t)avail : 0;
	else
		rd->drain_left = UINT64_MAX; /* no count: O_NONBLOCK's EAGAIN ends the drain */
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Milliseconds left of a drain's deadline for poll(); -1 (forever) when not draining. */
static int drain_wait_ms(const struct render_reader *rd)
{
	uint64_t now;

	if (!rd->draining)
		return -1;
	now = mono_ns();
	if (now >= rd->drain_until_ns)
		return 0;
	return (int)((rd->drain_until_ns - now + 999999) / 1000000);
}

/* Block in poll() until fd has bytes (or hangs up) or stop_fd fires (if there is one).
 * This is the reader's only wait once there is a stop descriptor or a drain; a drain's
 * deadline passing returns -ETIME. */
static int wait_readable(struct render_reader *rd, char *err, size_t errlen)
{
	struct pollfd p[2] = {{.fd = rd->fd, .events = POLLIN},
			      {.fd = rd->stop_fd, .events = POLLIN}};
	int n;

	while ((n = poll(p, 2, drain_wait_ms(rd))) < 0) {
		int e = errno;
		if (e != EINTR) {
			snprintf(err, errlen, "could not wait for the frame stream: %s",
				 strerror(e));
			return -e;
		}
		if (cancelled(rd, err, errlen))
			return -ECANCELED;
	}
	if (n == 0)
		return -ETIME;
	if ((p[0].revents | p[1].revents) & POLLNVAL) {
		snprintf(err, errlen, "the frame stream's %s is not an open descriptor",
			 p[0].revents & POLLNVAL ? "fd" : "stop fd");
		return -EBADF;
	}
	if (p[1].revents)
		start_drain(rd);
	return 0;
}

/* read(2) of at most len bytes that honours the cancel flag on both sides of the
 * call: a cancel that lands while read() blocks (the caller then kills the script,
 * so the pipe ends) is reported as a cancel, not as a stream cut short.
 *
 * With a stop fd, fd is non-blocking and the wait is wait_readable(): a hostile script
 * can park its stdout's write end in an SCM_RIGHTS message and outlive its sandbox,
 * so a blocking read() would never see EOF. Once stopping, "nothing more" is EOF. */
static ssize_t read_some(struct render_reader *rd, void *buf, size_t len, char *err, size_t errlen)
{
	ssize_t n;

	for (;;) {
		if (cancelled(rd, err, errlen))
			return -ECANCELED;
		if (rd->stopping) {
			if (rd->drain_left == 0) {
				n = 0;
				break;
			}
			if (len > rd->drain_left)
				len = (size_t)rd->drain_left;
		}
		if (rd->draining) {
			/* a writer faster than our reads could otherwise keep a drain going */
			if (rd->bytes >= rd->drain_max_bytes || mono_ns() >= rd->drain_until_ns)
				return -ETIME;
			if (len > rd->drain_max_bytes - rd->bytes)
				len = (size_t)(rd->drain_max_bytes - rd->bytes);
		}
		n = read(rd->fd, buf, len);
		if (cancelled(rd, err, errlen))
			return -ECANCELED;
		if (n >= 0)
			break;
		if (errno == EINTR)
			continue;
		if ((errno == EAGAIN || errno == EWOULDBLOCK) &&
		    (rd->stop_fd >= 0 || rd->draining)) {
			int ret;
			if (rd->stopping) {
				n = 0;
				break;
			}
			if ((ret = wait_readable(rd, err, errlen)) < 0)
				return ret;
			continue;
		}
		int e = errno;
		snprintf(err, errlen, "could not read the frame stream: %s", strerror(e));
		return -e;
	}
	if (n == 0)
		rd->eof = 1;
	if (rd->stopping)
		rd->drain_left -= (uint64_t)n;
	rd->bytes += (uint64_t)n;
	return n;
}

/* Append to the look-ahead buffer with one read; returns bytes added, 0 at EOF. */
static ssize_t fill(struct render_reader *rd, char *err, size_t errlen)
{
	if (rd->look_pos == rd->look_len)
		rd->look_pos = rd->look_len = 0;
	if (rd->eof || rd->look_len == sizeof(rd->look))
		return 0;
	ssize_t n =
	    read_some(rd, rd->look + rd->look_len, sizeof(rd->look) - rd->look_len, err, errlen);
	if (n > 0)
		rd->look_len += (size_t)n;
	return n;
}

/* One byte of a header: 1 with *c set, 0 at EOF, or a negative errno. */
static int getbyte(struct render_reader *rd, int *c, char *err, size_t errlen)
{
	if (rd->look_pos == rd->look_len) {
		ssize_t n = fill(rd, err, errlen);
		if (n <= 0)
			return (int)n;
	}
	*c = rd->look[rd->look_pos++];
	return 1;
}

/* Read exactly rd->frame_bytes into rd->frame: look-ahead first, then straight from
 * the descriptor so a large frame is never copied twice. Stores the bytes got. */
static int read_payload(struct render_reader *rd, size_t *got, char *err, size_t errlen)
{
	size_t have = rd->look_len - rd->look_pos;

	if (have > rd->frame_bytes)
		have = rd->frame_bytes;
	memcpy(rd->frame, rd->look + rd->look_pos, have);
	rd->look_pos += have;
	while (have < rd->frame_bytes && !rd->eof) {
		ssize_t n = read_some(rd, rd->frame + have, rd->frame_bytes - have, err, errlen);
		if (n < 0)
			return (int)n;
		have += (size_t)n;
	}
	*got = have;
	return have == rd->frame_bytes;
}

static int alloc_frame(struct render_reader *rd, char *err, size_t errlen)
{
	rd->frame_bytes = frame_size(rd->fmt, rd->width, rd->height);
	if (!rd->frame_bytes) {
		snprintf(err, errlen, "cannot size a %dx%d frame", rd->width, rd->height);
		return -EINVAL;
	}
	rd->frame_buf = av_buffer_alloc(rd->frame_bytes);
	if (!rd->frame_buf) {
		snprintf(err, errlen, "out of memory for a %dx%d frame (%zu bytes)", rd->width,
			 rd->height, rd->frame_bytes);
		return -ENOMEM;
	}
	rd->frame = rd->frame_buf->data;
	return 0;
}

static int too_big(const char *what, int64_t w, int64_t h, char *err, size_t errlen)
{
	snprintf(err, errlen,
		 "%s declares %" PRId64 "x%" PRId64 " frames; the largest accepted is %dx%d "
		 "(at most %d pixels on a side)",
		 what, w, h, RENDER_MAX_WIDTH, RENDER_MAX_HEIGHT, RENDER_MAX_DIM);
	return -EFBIG;
}

/* Every frame is the job's WIDTHxHEIGHT: a stream that declares another size would
 * otherwise make the worker hold and rescale frames up to the global limit. */
static int wrong_size(const struct render_reader *rd, const char *which, const char *source,
		      int64_t w, int64_t h, char *err, size_t errlen)
{
	snprintf(err, errlen,
		 "%s is %" PRId64 "x%" PRId64 " (%s) but the job is %dx%d: write frames of "
		 "exactly WIDTHxHEIGHT",
		 which, w, h, source, rd->job_width, rd->job_height);
	return -EPROTO;
}

/* A decimal of at most 9 digits from s[0..n); -1 if it is not one. */
static int64_t parse_dec(const char *s, size_t n)
{
	int64_t v = 0;

	if (n == 0 || n > 9)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static int y4m_colorspace(const char *v, size_t n, enum AVPixelFormat *fmt)
{
	static const struct {
		const char *name;
		enum AVPixelFormat fmt;
	} cs[] = {
	    {"420jpeg", AV_PIX_FMT_YUV420P},  {"420paldv", AV_PIX_FMT_YUV420P},
	    {"420mpeg2", AV_PIX_FMT_YUV420P}, {"420", AV_PIX_FMT_YUV420P},
	    {"422", AV_PIX_FMT_YUV422P},      {"444", AV_PIX_FMT_YUV444P},
	    {"mono", AV_PIX_FMT_GRAY8},
	};
	for (size_t i = 0; i < sizeof(cs) / sizeof(cs[0]); i++)
		if (strlen(cs[i].name) == n && !memcmp(cs[i].name, v, n)) {
			*fmt = cs[i].fmt;
			return 0;
		}
	return -1;
}

/* Read one '\n'-terminated line of at most RENDER_Y4M_LINE_MAX bytes into line
 * (without the newline). Returns 1, 0 at EOF before any byte, or -errno. */
static int y4m_line(struct render_reader *rd, char *line, size_t *len, const char *what, char *err,
		    size_t errlen)
{
	size_t n = 0;
	int c = 0, ret;
	char q[80];

	for (;;) {
		ret = getbyte(rd, &c, err, errlen);
		if (ret < 0)
			return ret;
		if (ret == 0) {
			if (n == 0)
				return 0;
			snprintf(err, errlen, "Y4M stream ended inside the %s (\"%s\")", what,
				 quote(q, sizeof(q), (uint8_t *)line, n));
			return -EPROTO;
		}
		if (c == '\n')
			break;
		if (n + 1 >= RENDER_Y4M_LINE_MAX) {
			snprintf(
			    err, errlen,
			    "Y4M %s is longer than %d bytes (it starts \"%s\"); is this really "
			    "a Y4M stream?",
			    what, RENDER_Y4M_LINE_MAX, quote(q, sizeof(q), (uint8_t *)line, n));
			return -EPROTO;
		}
		line[n++] = (char)c;
	}
	line[n] = '\0';
	*len = n;
	return 1;
}

/* The stream header: "YUV4MPEG2" then space-separated tags W H F I A C X. W and H
 * are required; C defaults to 420; the frame rate is the job's, not the stream's. */
/* One tag of the Y4M stream header: its letter, then its value v of n bytes. W and H go
 * to *w and *h, C to rd->fmt; the rest are checked and dropped. */
static int y4m_tag(struct render_reader *rd, char tag, const char *v, size_t n, int64_t *w,
		   int64_t *h, char *err, size_t errlen)
{
	char q[80];

	switch (tag) {
	case 'W':
	case 'H': {
		int64_t d = parse_dec(v, n);
		if (d < 1) {
			snprintf(err, errlen,
				 "Y4M header tag %c has \"%s\", which is not a positive "
				 "whole number",
				 tag, quote(q, sizeof(q), (uint8_t *)v, n));
			return -EPROTO;
		}
		if (tag == 'W')
			*w = d;
		else
			*h = d;
		break;
	}
	case 'C':
		if (y4m_colorspace(v, n, &rd->fmt) < 0) {
			snprintf(err, errlen,
				 "Y4M colorspace C%s is not supported; use C420jpeg, C420paldv, "
				 "C420mpeg2, C420, C422, C444 or Cmono",
				 quote(q, sizeof(q), (uint8_t *)v, n));
			return -EPROTO;
		}
		break;
	case 'F': {
		const char *colon = memchr(v, ':', n);
		if (!colon || parse_dec(v, (size_t)(colon - v)) < 1 ||
		    parse_dec(colon + 1, n - (size_t)(colon - v) - 1) < 1) {
			snprintf(err, errlen,
				 "Y4M frame rate F%s is not of the form N:D with positive N "
				 "and D",
				 quote(q, sizeof(q), (uint8_t *)v, n));
			return -EPROTO;
		}
		break;
	}
	case 'I':
		if (n != 1 || !strchr("ptbm?", v[0])) {
			snprintf(err, errlen,
				 "Y4M interlacing I%s is not one of Ip, It, Ib, Im or I?",
				 quote(q, sizeof(q), (uint8_t *)v, n));
			return -EPROTO;
		}
		break;
	case 'A': {
		const char *colon = memchr(v, ':', n);
		if (!colon || parse_dec(v, (size_t)(colon - v)) < 0 ||
		    parse_dec(colon + 1, n - (size_t)(colon - v) - 1) < 0) {
			snprintf(err, errlen,
				 "Y4M pixel aspect A%s is not of the form N:D with whole "
				 "N and D",
				 quote(q, sizeof(q), (uint8_t *)v, n));
			return -EPROTO;
		}
		break;
	}
	case 'X':
		break;
	default:
		snprintf(err, errlen,
			 "Y4M header has an unknown tag \"%s\"; the tags are W, H, F, I, A, "
			 "C and X",
			 quote(q, sizeof(q), (uint8_t *)v - 1, n + 1));
		return -EPROTO;
	}
	return 0;
}

static int y4m_header(struct render_reader *rd, char *err, size_t errlen)
{
	char line[RENDER_Y4M_LINE_MAX], q[80];
	size_t len = 0, i = 9;
	int64_t w = -1, h = -1;
	unsigned seen = 0;
	int ret;

	ret = y4m_line(rd, line, &len, "stream header", err, errlen);
	if (ret <= 0)
		return ret < 0 ? ret : -EPROTO;
	rd->fmt = AV_PIX_FMT_YUV420P;
	while (i < len) {
		size_t start, n;
		const char *v;

		if (line[i] == ' ') {
			i++;
			continue;
		}
		start = i;
		while (i < len && line[i] != ' ')
			i++;
		v = line + start + 1;
		n = i - start - 1;
		if (line[start] != 'X' && line[start] >= 'A' && line[start] <= 'Z') {
			unsigned bit = 1u << (line[start] - 'A');
			if (seen & bit) {
				snprintf(
				    err, errlen,
				    "Y4M header gives tag %c twice; give each of W, H, F, I, A "
				    "and C at most once",
				    line[start]);
				return -EPROTO;
			}
			seen |= bit;
		}
		ret = y4m_tag(rd, line[start], v, n, &w, &h, err, errlen);
		if (ret < 0)
			return ret;
	}
	if (w < 0 || h < 0) {
		snprintf(err, errlen, "Y4M header has no %s tag (\"%s\")",
			 w < 0 ? "W (width)" : "H (height)",
			 quote(q, sizeof(q), (uint8_t *)line, len));
		return -EPROTO;
	}
	if (!dims_ok(w, h))
		return too_big("the Y4M header", w, h, err, errlen);
	if (w != rd->job_width || h != rd->job_height)
		return wrong_size(rd, "every frame", "Y4M stream header", w, h, err, errlen);
	rd->width = (int)w;
	rd->height = (int)h;
	return alloc_frame(rd, err, errlen);
}

/* "FRAME", then optional parameters, then '\n'. Returns 1, 0 at a clean EOF, -errno. */
static int y4m_frame_header(struct render_reader *rd, char *err, size_t errlen)
{
	char line[RENDER_Y4M_LINE_MAX], q[80], what[64];
	size_t len = 0;
	int ret;

	snprintf(what, sizeof(what), "header of frame %" PRId64, rd->frames + 1);
	ret = y4m_line(rd, line, &len, what, err, errlen);
	if (ret <= 0)
		return ret;
	if (len < 5 || memcmp(line, "FRAME", 5) || (len > 5 && line[5] != ' ')) {
		snprintf(err, errlen,
			 "Y4M frame %" PRId64 " does not start with FRAME (found \"%s\"); the "
			 "frames before it were shorter or longer than %dx%d %s",
			 rd->frames + 1, quote(q, sizeof(q), (uint8_t *)line, len), rd->width,
			 rd->height, av_get_pix_fmt_name(rd->fmt));
		return -EPROTO;
	}
	return 1;
}

static int is_pnm_space(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* One PPM header number. On entry *c is the byte after the previous token; blanks
 * and comments are skipped (at least one is required), then the digits are read and
 * the byte after them is left in *c. Header bytes are counted in *used. */
static int ppm_number(struct render_reader *rd, const char *name, int64_t *val, int *c,
		      size_t *used, char *err, size_t errlen)
{
	int ret, sep = 0, digits = 0, in_comment = 0;
	int64_t v = 0;

	for (;;) {
		if (digits && (*c < '0' || *c > '9'))
			break;
		if (in_comment) {
			in_comment = *c != '\n' && *c != '\r';
		} else if (*c == '#') {
			in_comment = 1;
		} else if (*c >= '0' && *c <= '9') {
			if (!sep)
				break;
			if (++digits > 7) {
				snprintf(err, errlen,
					 "PPM header of frame %" PRId64 " has a %s over 7 digits",
					 rd->frames + 1, name);
				return -EFBIG;
			}
			v = v * 10 + (*c - '0');
		} else if (!is_pnm_space(*c)) {
			break;
		}
		sep = 1;
		ret = getbyte(rd, c, err, errlen);
		if (ret < 0)
			return ret;
		if (ret == 0) {
			snprintf(err, errlen,
				 "PPM stream ended inside the header of frame %" PRId64,
				 rd->frames + 1);
			return -EPROTO;
		}
		if (++*used > RENDER_PPM_HEADER_MAX) {
			snprintf(err, errlen,
				 "PPM header of frame %" PRId64 " is longer than %d bytes",
				 rd->frames + 1, RENDER_PPM_HEADER_MAX);
			return -EPROTO;
		}
	}
	if (!digits || !(is_pnm_space(*c) || *c == '#')) {
		snprintf(err, errlen,
			 "PPM header of frame %" PRId64 " has no valid %s (unexpected byte 0x%02x)",
			 rd->frames + 1, name, *c);
		return -EPROTO;
	}
	*val = v;
	return 0;
}

/* "P6" width height maxval and one blank, per netpbm; up to RENDER_PPM_HEADER_MAX
 * blanks between images are tolerated. Every frame must be the job's size with
 * maxval 255, checked before the frame buffer is allocated. */
static int ppm_header(struct render_reader *rd, char *err, size_t errlen)
{
	int64_t w = 0, h = 0, maxval = 0;
	int c = 0, c2 = 0, ret;
	size_t used = 2, blanks = 0;
	uint8_t magic[2];
	char q[80], what[64];

	do {
		ret = getbyte(rd, &c, err, errlen);
		if (ret <= 0)
			return ret;
		/* an endless run of blanks would be read forever and end as a success */
		if (is_pnm_space(c) && ++blanks > RENDER_PPM_HEADER_MAX) {
			snprintf(err, errlen,
				 "PPM stream has more than %d blank bytes before frame %" PRId64
				 "; write the images back to back",
				 RENDER_PPM_HEADER_MAX, rd->frames + 1);
			return -EPROTO;
		}
	} while (is_pnm_space(c));
	ret = getbyte(rd, &c2, err, errlen);
	if (ret < 0)
		return ret;
	magic[0] = (uint8_t)c;
	magic[1] = (uint8_t)c2;
	if (ret == 0 || c != 'P' || c2 != '6') {
		snprintf(err, errlen,
			 "PPM frame %" PRId64 " starts with \"%s\", not the P6 magic; the frame "
			 "before it was not %dx%d with maxval %d, or text was printed to stdout",
			 rd->frames + 1, quote(q, sizeof(q), magic, ret ? 2 : 1), rd->width,
			 rd->height, rd->maxval);
		return -EPROTO;
	}
	ret = getbyte(rd, &c, err, errlen);
	if (ret <= 0) {
		snprintf(err, errlen, "PPM stream ended inside the header of frame %" PRId64,
			 rd->frames + 1);
		return ret < 0 ? ret : -EPROTO;
	}
	if ((ret = ppm_number(rd, "width", &w, &c, &used, err, errlen)) < 0 ||
	    (ret = ppm_number(rd, "height", &h, &c, &used, err, errlen)) < 0 ||
	    (ret = ppm_number(rd, "maxval", &maxval, &c, &used, err, errlen)) < 0)
		return ret;
	if (!is_pnm_space(c)) {
		snprintf(err, errlen,
			 "PPM header of frame %" PRId64 " must end with one blank after the maxval",
			 rd->frames + 1);
		return -EPROTO;
	}
	if (!dims_ok(w, h))
		return too_big("the PPM header", w, h, err, errlen);
	snprintf(what, sizeof(what), "frame %" PRId64, rd->frames + 1);
	if (w != rd->job_width || h != rd->job_height)
		return wrong_size(rd, what, "PPM header", w, h, err, errlen);
	/* 16-bit frames are twice the bytes for the same picture; one depth, one size */
	if (maxval != 255) {
		snprintf(err, errlen,
			 "PPM frame %" PRId64 " has maxval %" PRId64
			 "; only 8-bit PPM is accepted: write maxval 255",
			 rd->frames + 1, maxval);
		return -EPROTO;
	}
	if (!rd->frame) {
		rd->width = (int)w;
		rd->height = (int)h;
		rd->maxval = 255;
		rd->fmt = AV_PIX_FMT_RGB24;
		ret = alloc_frame(rd, err, errlen);
		return ret < 0 ? ret : 1;
	}
	return 1;
}

int render_reader_open(struct render_reader *rd, int fd, const char *pix_fmt, int width, int height,
		       const atomic_int *cancel, int stop_fd, char *err, size_t errlen)
{
	int ret;

	memset(rd, 0, sizeof(*rd));
	rd->fd = fd;
	rd->cancel = cancel;
	rd->stop_fd = stop_fd;
	rd->job_width = width;
	rd->job_height = height;
	rd->raw_name = pix_fmt;
	if ((ret = render_libav_load(err, errlen)) < 0)
		return ret;
	if (stop_fd >= 0) {
		int fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
			int e = errno;
			snprintf(err, errlen, "cannot make the frame stream non-blocking: %s",
				 strerror(e));
			return -e;
		}
	}

	while (rd->look_len < 10 && !rd->eof) {
		ssize_t n = fill(rd, err, errlen);
		if (n < 0)
			return (int)n;
	}
	if (rd->look_len >= 10 && !memcmp(rd->look, "YUV4MPEG2 ", 10)) {
		rd->kind = RENDER_KIND_Y4M;
		return y4m_header(rd, err, errlen);
	}
	if (rd->look_len >= 3 && rd->look[0] == 'P' && rd->look[1] == '6' &&
	    is_pnm_space(rd->look[2])) {
		rd->kind = RENDER_KIND_PPM;
		return 0;
	}
	rd->kind = RENDER_KIND_RAW;
	rd->fmt = render_raw_format(pix_fmt);
	rd->width = width;
	rd->height = height;
	if (rd->fmt == AV_PIX_FMT_NONE) {
		snprintf(err, errlen, "unknown raw pixel format \"%s\"", pix_fmt ? pix_fmt : "");
		return -EINVAL;
	}
	return alloc_frame(rd, err, errlen);
}

static int short_frame(struct render_reader *rd, size_t got, char *err, size_t errlen)
{
	const char *fmt = av_get_pix_fmt_name(rd->fmt);

	if (rd->kind == RENDER_KIND_RAW) {
		if (rd->bytes == 0) {
			snprintf(err, errlen, "script wrote no frames (0 bytes on stdout)");
			return -ENODATA;
		}
		/* at the end every byte read was consumed: rd->bytes is the stream's length */
		checks_explain_length(rd->checks, rd->width, rd->height,
				      rd->raw_name ? rd->raw_name : fmt, rd->frame_bytes, rd->bytes,
				      rd->frame, got, err, errlen);
		return -EPROTO;
	}
	snprintf(err, errlen,
		 "%s stream ended inside frame %" PRId64 ": got %zu of its %zu bytes (%dx%d %s); "
		 "did the script stop mid-frame or print text to stdout?",
		 rd->kind == RENDER_KIND_Y4M ? "Y4M" : "PPM", rd->frames + 1, got, rd->frame_bytes,
		 rd->width, rd->height, fmt);
	return -EPROTO;
}

int render_reader_next(struct render_reader *rd, char *err, size_t errlen)
{
	size_t got = 0;
	int ret = 1;

	if (rd->kind == RENDER_KIND_Y4M)
		ret = y4m_frame_header(rd, err, errlen);
	else if (rd->kind == RENDER_KIND_PPM)
		ret = ppm_header(rd, err, errlen);
	if (ret < 0)
		return ret;
	if (ret == 1) {
		ret = read_payload(rd, &got, err, errlen);
		if (ret < 0)
			return ret;
		if (ret == 1) {
			rd->frames++;
			return 1;
		}
		if (got > 0 || rd->kind != RENDER_KIND_RAW)
			return short_frame(rd, got, err, errlen);
	}
	if (rd->frames == 0) {
		if (rd->kind == RENDER_KIND_Y4M) {
			snprintf(err, errlen, "script wrote a Y4M header but no frames");
			return -ENODATA;
		}
		return short_frame(rd, 0, err, errlen);
	}
	return 0;
}

int render_reader_drain(struct render_reader *rd, uint64_t max_ms, uint64_t max_bytes, char *err,
			size_t errlen)
{
	int ret;

	if (rd->stop_fd < 0 && !rd->eof) {
		/* the deadline needs poll(): no read may block past it */
		int fl = fcntl(rd->fd, F_GETFL);
		if (fl >= 0 && !(fl & O_NONBLOCK))
			(void)fcntl(rd->fd, F_SETFL, fl | O_NONBLOCK);
	}
	rd->draining = 1;
	rd->drain_until_ns = mono_ns() + max_ms * 1000000ull;
	rd->drain_max_bytes = rd->bytes + max_bytes;
	while ((ret = render_reader_next(rd, err, errlen)) == 1)
		;
	rd->draining = 0;
	if (ret == -ETIME) {
		err[0] = '\0';
		return 1;
	}
	return ret;
}

void render_reader_free(struct render_reader *rd)
{
	av_buffer_unref(&rd->frame_buf);
	rd->frame = NULL;
}
