/* fuzz_stream.c - libFuzzer target for render/stream.c, the frame-stream reader.
 *
 * The reader parses a script's stdout (raw frames, Y4M, PPM) in the encoder, so every
 * byte of it is hostile. The first four input bytes choose the job (width and height
 * 2..64, so frames stay small and the fuzzer fast; the raw pixel format, including an
 * unknown one and none) and the mode: with bit 0 of the fourth byte set, the writer
 * keeps its end of the pipe open and the stop descriptor has already fired, the case
 * of a script that parked its stdout and left; otherwise the pipe simply ends. The rest
 * is the stream.
 *
 * Besides "no crash", each frame delivered must be exactly the frame_bytes the stream
 * holds just before the reader's position, of the job's size, and every failure must
 * be one of the documented errnos with a printable sentence.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavutil/imgutils.h>

#include "stream.h"

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_stream: %s:%d: check failed: %s\n", __FILE__,        \
				__LINE__, #cond);                                                  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#define PIPE_BYTES 65536 /* a pipe's default capacity: one write() never blocks */

static const char *const pix_fmts[] = {"rgb24", "rgba", "bgr24", "gray", "yuv420p", "nv12", NULL};

/* The sentence goes into JSON results and onto terminals: quote() must have escaped
 * every byte the stream supplied. */
static void check_err(int r, const char *err)
{
	size_t n = strlen(err);

	CHECK(r == -EPROTO || r == -ENODATA || r == -EFBIG || r == -EINVAL);
	CHECK(n > 0);
	for (size_t i = 0; i < n; i++)
		CHECK(err[i] >= 0x20 && err[i] < 0x7F);
}

static void check_frame(const struct render_reader *rd, const uint8_t *body, size_t len)
{
	uint64_t pos;
	int want;

	CHECK(rd->frame && rd->frame_buf && rd->frame_bytes > 0);
	CHECK(rd->width == rd->job_width && rd->height == rd->job_height);
	want = av_image_get_buffer_size(rd->fmt, rd->width, rd->height, 1);
	CHECK(want > 0 && (size_t)want == rd->frame_bytes);
	CHECK(rd->frame_buf->size >= rd->frame_bytes);
	CHECK(rd->look_pos <= rd->look_len && rd->look_len <= sizeof(rd->look));
	CHECK(rd->bytes <= len);
	/* what was read, less what still waits in the look-ahead, is where the frame ends */
	pos = rd->bytes - (rd->look_len - rd->look_pos);
	CHECK(pos >= rd->frame_bytes);
	CHECK(!memcmp(rd->frame, body + pos - rd->frame_bytes, rd->frame_bytes));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct render_reader rd;
	char err[512] = "";
	const uint8_t *body = data + 4;
	size_t len = size - 4;
	int p[2], stop[2] = {-1, -1}, width, height, parked, r;
	const char *pix_fmt;
	int64_t frames = 0;

	if (size < 4 || len > PIPE_BYTES)
		return 0;
	width = 2 + data[0] % 63;
	height = 2 + data[1] % 63;
	pix_fmt = pix_fmts[data[2] % (sizeof(pix_fmts) / sizeof(pix_fmts[0]))];
	parked = data[3] & 1;

	CHECK(pipe2(p, O_CLOEXEC) == 0);
	CHECK(len == 0 || write(p[1], body, len) == (ssize_t)len);
	if (parked) {
		CHECK(pipe2(stop, O_CLOEXEC) == 0);
		close(stop[1]); /* hung up: "the writer is gone" has already happened */
	} else {
		close(p[1]);
		p[1] = -1;
	}

	r = render_reader_open(&rd, p[0], pix_fmt, width, height, NULL, stop[0], err, sizeof(err));
	if (r < 0) {
		check_err(r, err);
	} else {
		CHECK(r == 0);
		CHECK(rd.kind == RENDER_KIND_RAW || rd.kind == RENDER_KIND_Y4M ||
		      rd.kind == RENDER_KIND_PPM);
		if (rd.kind != RENDER_KIND_PPM)
			CHECK(rd.frame && rd.frame_bytes > 0);
		for (;;) {
			err[0] = '\0';
			r = render_reader_next(&rd, err, sizeof(err));
			if (r != 1)
				break;
			frames++;
			CHECK(rd.frames == frames);
			CHECK((uint64_t)frames * rd.frame_bytes <= len);
			check_frame(&rd, body, len);
		}
		if (r == 0)
			CHECK(frames > 0 && rd.eof);
		else
			check_err(r, err);
		CHECK(rd.bytes <= len);
		render_reader_free(&rd);
		CHECK(!rd.frame && !rd.frame_buf);
	}
	close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	if (stop[0] >= 0)
		close(stop[0]);
	return 0;
}
