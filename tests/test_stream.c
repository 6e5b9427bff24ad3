/* test_stream.c - the frame-stream readers: raw, Y4M and PPM, good and hostile. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libavutil/log.h>

#include "checks.h"
#include "helpers.h"
#include "render.h"
#include "stream.h"

/* A pipe holding len bytes, write end closed: the reader sees exactly a script that
 * wrote these bytes and exited. Small inputs only (they must fit the pipe). */
static int pipe_with(const void *data, size_t len)
{
	int p[2];

	assert_true(len <= 60000);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	if (len)
		assert_int_equal(write(p[1], data, len), (ssize_t)len);
	close(p[1]);
	return p[0];
}

/* A memfd rewound to 0: a file descriptor whose read offset shows how far the
 * reader went. */
static int memfd_with(const void *data, size_t len)
{
	int fd = memfd_create("stream", MFD_CLOEXEC);

	assert_true(fd >= 0);
	if (len)
		assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

struct buf {
	uint8_t *p;
	size_t len;
};

static void put(struct buf *b, const void *data, size_t len)
{
	b->p = realloc(b->p, b->len + len);
	assert_non_null(b->p);
	memcpy(b->p + b->len, data, len);
	b->len += len;
}

static void puts_(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

/* s repeated until len bytes are appended (the last copy may be cut short). */
static void put_repeat(struct buf *b, const char *s, size_t len)
{
	size_t n = strlen(s);
	uint8_t *tmp = malloc(len);

	assert_non_null(tmp);
	for (size_t i = 0; i < len; i++)
		tmp[i] = (uint8_t)s[i % n];
	put(b, tmp, len);
	free(tmp);
}

static void put_fill(struct buf *b, size_t len, uint8_t seed)
{
	uint8_t *tmp = malloc(len);

	assert_non_null(tmp);
	for (size_t i = 0; i < len; i++)
		tmp[i] = (uint8_t)(seed + i * 7);
	put(b, tmp, len);
	free(tmp);
}

static int open_on(struct render_reader *rd, int fd, const char *fmt, int w, int h, char *err)
{
	return render_reader_open(rd, fd, fmt, w, h, NULL, -1, err, 256);
}

static void test_each_raw_format_has_its_frame_size(void **state)
{
	assert_int_equal(render_frame_bytes("rgb24", 160, 120), 160 * 120 * 3);
	assert_int_equal(render_frame_bytes("bgr24", 160, 120), 160 * 120 * 3);
	assert_int_equal(render_frame_bytes("rgba", 160, 120), 160 * 120 * 4);
	assert_int_equal(render_frame_bytes("gray", 160, 120), 160 * 120);
	assert_int_equal(render_frame_bytes("yuv420p", 160, 120), 160 * 120 * 3 / 2);
	assert_int_equal(render_frame_bytes("yuv420p", 3, 3), 9 + 2 * 4);
	assert_int_equal(render_frame_bytes("rgb48", 160, 120), 0);
	assert_int_equal(render_frame_bytes(NULL, 160, 120), 0);
	assert_int_equal(render_frame_bytes("rgb24", 0, 120), 0);
	assert_int_equal(render_frame_bytes("rgb24", 7681, 2), 0);
	assert_int_equal(render_frame_bytes("rgba", 7680, 4320), (size_t)7680 * 4320 * 4);
}

static void test_raw_frames_are_read_whole_and_in_order(void **state)
{
	struct buf b = {0};
	struct render_reader rd;
	char err[256] = "";
	int fd;

	for (int i = 0; i < 3; i++)
		put_fill(&b, 16 * 8 * 3, (uint8_t)i);
	fd = pipe_with(b.p, b.len);
	assert_int_equal(open_on(&rd, fd, "rgb24", 16, 8, err), 0);
	assert_int_equal(rd.kind, RENDER_KIND_RAW);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(render_reader_next(&rd, err, sizeof(err)), 1);
		assert_memory_equal(rd.frame, b.p + (size_t)i * 384, 384);
	}
	assert_int_equal(render_reader_next(&rd, err, sizeof(err)), 0);
	assert_int_equal(rd.frames, 3);
	assert_int_equal(rd.bytes, 3 * 384);
	render_reader_free(&rd);
	close(fd);
	free(b.p);
}

/* A script that writes a frame in dribbles must still give whole frames. */
static void test_raw_frame_written_in_dribbles_is_reassembled(void **state)
{
	struct render_reader rd;
	uint8_t frame[64 * 4];
	char err[256] = "";
	int p[2];
	pid_t pid;

	for (size_t i = 0; i < sizeof(frame); i++)
		frame[i] = (uint8_t)(i * 13);
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		for (int k = 0; k < 2; k++)
			for (size_t off = 0; off < sizeof(frame); off += 7) {
				size_t n = sizeof(frame) - off < 7 ? sizeof(frame) - off : 7;
				if (write(p[1], frame + off, n) != (ssize_t)n)
					_exit(1);
				usleep(200);
			}
		_exit(0);
	}
	close(p[1]);
	assert_int_equal(open_on(&rd, p[0], "rgba", 8, 8, err), 0);
	assert_int_equal(render_reader_next(&rd, err, sizeof(err)), 1);
	assert_memory_equal(rd.frame, frame, sizeof(frame));
	assert_int_equal(render_reader_next(&rd, err, sizeof(err)), 1);
	assert_memory_equal(rd.frame, frame, sizeof(frame));
	assert_int_equal(render_reader_next(&rd, err, sizeof(err)), 0);
	render_reader_free(&rd);
	close(p[0]);
	waitpid(pid, NULL, 0);
}

static void test_partial_frame_is_rejected_with_byte_count(void **state)
{
	struct buf b = {0};
	struct render_reader rd;
	char err[256] = "";
	int fd;

	put_fill(&b, 46080, 1);
	fd = pipe_with(b.p, b.len);
	assert_int_equal(open_on(&rd, fd, "rgb24", 128, 80, err), 0);
	assert_int_equal(render_reader_next(&rd, err, sizeof(err)), 1);
	assert_int_equal(render_reader_next(&rd, err, sizeof(err)), -EPROTO);
	assert_string_equal(err,
			    "46,080 bytes: 15,360 bytes more than 1 frame of 128x80 rgb24: did "
			    "the script print text to stdout?");
	render_reader_free(&rd);
	close(fd);
	free(b.p);
}

static void test_stream_shorter_than_one_frame_is_rejected_with_byte_count(void **state)
{
	struct render_reader rd;
	char err[256] = "";
	int fd = pipe_with("hello\n", 6);

	assert_int_equal(open_on(&rd, fd, "gray", 10, 10, err), 0);
	assert_int_equal(render_reader_next(&rd, err, sizeof(err)), -EPROTO);
	assert_string_equal(err, "6 bytes, less than one frame of 10x10 gray (100 bytes): the "
				 "stream starts with the text \"hello\": print to stderr instead "
				 "(Python: print(..., file=sys.stderr))");
	render_reader_free(&rd);
	close(fd);
}

static void test_empty_stream_is_rejected_as_no_frames(void **state)
{
	struct render_reader rd;
	char err[256] = "";
	int fd = pipe_with(NULL, 0);

	assert_int_equal(open_on(&rd, fd, "rgb24", 16, 8, err), 0);
	assert_int_equal(render_reader_next(&rd, err, sizeof(err)), -ENODATA);
	assert_string_equal(err, "script wrote no frames (0 bytes on stdout)");
	render_reader_free(&rd);
	close(fd);
}

static void test_unknown_raw_format_is_rejected(void **state)
{
	struct render_reader rd;
	char err[256] = "";
	int fd = pipe_with("abcdefghijkl", 12);

	assert_int_equal(open_on(&rd, fd, "nv12", 2, 2, err), -EINVAL);
	assert_non_null(strstr(err, "nv12"));
	render_reader_free(&rd);
	close(fd);
}

static void test_y4m_stream_is_recognised_with_frame_params(void **state)
{
	struct buf b = {0};
	struct render_reader rd;
	char err[256] = "";
	int fd;

	puts_(&b, "YUV4MPEG2 W8 H6 F30000:1001 Ip A1:1 C420jpeg XYSCSS=420JPEG\n");
	puts_(&b, "FRAME\n");
	put_fill(&b, 72, 3);
	puts_(&b, "FRAME Ip XFOO=bar\n");
	put_fill(&b, 72, 4);
	fd = pipe_with(b.p, b.len);
	assert_int_equal(open_on(&rd, fd, "rgb24", 8, 6, err), 0);
	assert_int_equal(rd.kind, RENDER_KIND_Y4M);
	assert_int_equal(rd.fmt, AV_PIX_FMT_YUV420P);
	assert_int_equal(rd.width, 8);
	assert_int_equal(rd.height, 6);
	assert_int_equal(rd.frame_bytes, 72);
	assert_int_equal(render_reader_next(&rd, err, sizeof(err)), 1);
	assert_memory_equal(rd.frame, b.p + b.len - 72 - strlen("FRAME Ip XFOO=bar\n") - 72, 72);
	assert_int_equal(render_reader_next(&rd, err, sizeof(err)), 1);
	assert_memory_equal(rd.frame, b.p + b.len - 72, 72);
	assert_int_equal(render_reader_next(&rd, err, sizeof(err)), 0);
	assert_string_equal(render_kind_name(rd.kind), "y4m");
	render_reader_free(&rd);
	close(fd);
	free(b.p);
}

static void test_y4m_colorspaces_map_to_pixel_formats(void **state)
{
	static const struct {
		const char *header;
		enum AVPixelFormat fmt;
		size_t bytes;
	} cases[] = {
	    {"YUV4MPEG2 W4 H2\n", AV_PIX_FMT_YUV420P, 8 + 2 * 2},
	    {"YUV4MPEG2 W4 H2 C420\n", AV_PIX_FMT_YUV420P, 8 + 2 * 2},
	    {"YUV4MPEG2 W4 H2 C420paldv\n", AV_PIX_FMT_YUV420P, 8 + 2 * 2},
	    {"YUV4MPEG2 W4 H2 C420mpeg2\n", AV_PIX_FMT_YUV420P, 8 + 2 * 2},
	    {"YUV4MPEG2 W4 H2 C422\n", AV_PIX_FMT_YUV422P, 8 + 2 * 4},
	    {"YUV4MPEG2 W4 H2 C444\n", AV_PIX_FMT_YUV444P, 24},
	    {"YUV4MPEG2 W4 H2 Cmono\n", AV_PIX_FMT_GRAY8, 8},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct render_reader rd;
		char err[256] = "";
		int fd = pipe_with(cases[i].header, strlen(cases[i].header));

		assert_int_equal(open_on(&rd, fd, "rgb24", 4, 2, err), 0);
		assert_int_equal(rd.fmt, cases[i].fmt);
		assert_int_equal(rd.frame_bytes, cases[i].bytes);
		render_reader_free(&rd);
		close(fd);
	}
}

static void expect_y4m_header_error(const char *header, int code, const char *needle)
{
	struct render_reader rd;
	char err[256] = "";
	int fd = pipe_with(header, strlen(header));

	assert_int_equal(open_on(&rd, fd, "rgb24", 8, 6, err), code);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
	assert_null(rd.frame);
	render_reader_free(&rd);
	close(fd);
}

static void test_y4m_garbage_headers_say_what_is_wrong(void **state)
{
	char longline[400];

	expect_y4m_header_error("YUV4MPEG2 W8\n", -EPROTO, "no H (height) tag");
	expect_y4m_header_error("YUV4MPEG2 H8\n", -EPROTO, "no W (width) tag");
	expect_y4m_header_error("YUV4MPEG2 W8 H-6\n", -EPROTO, "H has \"-6\"");
	expect_y4m_header_error("YUV4MPEG2 W0 H6\n", -EPROTO, "W has \"0\"");
	expect_y4m_header_error("YUV4MPEG2 Wabc H6\n", -EPROTO, "W has \"abc\"");
	expect_y4m_header_error("YUV4MPEG2 W8 H6 C420p10\n", -EPROTO, "C420p10 is not supported");
	expect_y4m_header_error("YUV4MPEG2 W8 H6 F30\n", -EPROTO, "F30 is not of the form N:D");
	expect_y4m_header_error("YUV4MPEG2 W8 H6 Zebra\n", -EPROTO, "unknown tag \"Zebra\"");
	expect_y4m_header_error("YUV4MPEG2 W8 H6", -EPROTO, "ended inside the stream header");
	memset(longline, 'A', sizeof(longline));
	memcpy(longline, "YUV4MPEG2 X", 11);
	longline[sizeof(longline) - 1] = '\0';
	expect_y4m_header_error(longline, -EPROTO, "longer than 256 bytes");
	expect_y4m_header_error("YUV4MPEG2 W8 H6 W8\n", -EPROTO, "gives tag W twice");
	expect_y4m_header_error("YUV4MPEG2 W8 H6 C420 C444\n", -EPROTO, "gives tag C twice");
	expect_y4m_header_error("YUV4MPEG2 W8 H6 Ix\n", -EPROTO, "interlacing Ix is not one of");
	expect_y4m_header_error("YUV4MPEG2 W8 H6 A1\n", -EPROTO, "aspect A1 is not of the form");
	expect_y4m_header_error("YUV4MPEG2 W8 H6 A1:x\n", -EPROTO, "aspect A1:x is not of");
}

/* The check runs on the parsed numbers, before the frame buffer exists. */
static void test_huge_declared_sizes_are_rejected_before_allocating(void **state)
{
	expect_y4m_header_error("YUV4MPEG2 W100000 H100000\n", -EFBIG, "100000x100000");
	expect_y4m_header_error("YUV4MPEG2 W7680 H4321\n", -EFBIG, "largest accepted is 7680x4320");
	expect_y4m_header_error("YUV4MPEG2 W7681 H2\n", -EFBIG, "7681x2");
	expect_y4m_header_error("YUV4MPEG2 W4294967297 H2\n", -EPROTO, "not a positive whole");

	struct render_reader rd;
	char err[256] = "";
	const char *ppm = "P6\n99999 99999\n255\n";
	int fd = pipe_with(ppm, strlen(ppm));

	assert_int_equal(open_on(&rd, fd, "rgb24", 2, 2, err), 0);
	assert_int_equal(render_reader_next(&rd, err, sizeof(err)), -EFBIG);
	assert_non_null(strstr(err, "99999x99999"));
	assert_null(rd.frame);
	render_reader_free(&rd);
	close(fd);

	ppm = "P6\n123456789012 2\n255\n";
	fd = pipe_with(ppm, strlen(ppm));
	assert_int_equal(open_on(&rd, fd, "rgb24", 2, 2, err), 0);
	assert_int_equal(render_reader_next(&rd, err, sizeof(err)), -EFBIG);
	assert_non_null(strstr(err, "over 7 digits"));
	assert_null(rd.frame);
	render_reader_free(&rd);
	close(fd);
}

static void test_y4m_frame_cut_short_says_bytes_received(void **state)
{
	struct buf b = {0};
	struct render_reader rd;
	char err[256] = "";
	int fd;

	puts_(&b, "YUV4MPEG2 W8 H6\nFRAME\n");
	put_fill(&b, 72, 0);
	puts_(&b, "FRAME\n");
	put_fill(&b, 50, 0);
	fd = pipe_with(b.p, b.len);
	assert_int_equal(open_on(&rd, fd, "rgb24", 8, 6, err), 0);
	assert_int_equal(render_reader_next(&rd, err, sizeof(err)), 1);
	assert_int_equal(render_reader_next(&rd, err, sizeof(err)), -EPROTO);
	assert_string_equal(err,
			    "Y4M stream ended inside frame 2: got 50 of its 72 bytes (8x6 "
			    "yuv420p); did the script stop mid-frame or print text to stdout?");
	render_reader_free(&rd);
	close(fd);
	free(b.p);
}

/* A header that lies about the size shows up at the next FRAME marker. */
static void test_y4m_lying_header_is_caught_at_the_next_frame(void **state)
{
	struct buf b = {0};
	struct render_reader rd;
	char err[256] = "";
	int fd;

	puts_(&b, "YUV4MPEG2 W8 H6\n");
	for (int i = 0; i < 3; i++) {
		puts_(&b, "FRAME\n");
		put_fill(&b, 96, 'a'); /* an 8x8 frame */
	}
	fd = pipe_with(b.p, b.len);
	assert_int_equal(open_on(&rd, fd, "rgb24", 8, 6, err), 0);
	assert_int_equal(render_reader_next(&rd, err, sizeof(err)), 1);
	assert_int_equal(render_reader_next(&rd, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "Y4M frame 2 does not start with FRAME"));
	assert_non_null(strstr(err, "8x6 yuv420p"));
	render_reader_free(&rd);
	close(fd);
	free(b.p);
}

static void test_y4m_header_without_frames_is_rejected(void **state)
{
	struct render_reader rd;
	char err[256] = "";
	const char *s = "YUV4MPEG2 W8 H6 C444\n";
	int fd = pipe_with(s, strlen(s));

	assert_int_equal(open_on(&rd, fd, "rgb24", 8, 6, err), 0);
	assert_int_equal(render_reader_next(&rd, err, sizeof(err)), -ENODATA);
	assert_string_equal(err, "script wrote a Y4M header but no frames");
	render_reader_free(&rd);
	close(fd);
}

static void test_y4m_overlong_frame_line_is_rejected(void **state)
{
	struct buf b = {0};
	struct render_reader rd;
	char err[256] = "";
	int fd;

	puts_(&b, "YUV4MPEG2 W2 H2 Cmono\nFRAME ");
	for (int i = 0; i < 300; i++)
		puts_(&b, "X");
	puts_(&b, "\n");
	fd = pipe_with(b.p, b.len);
	assert_int_equal(open_on(&rd, fd, "rgb24", 2, 2, err), 0);
	assert_int_equal(render_reader_next(&rd, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "header of frame 1 is longer than 256 bytes"));
	render_reader_free(&rd);
	close(fd);
	free(b.p);
}

static void test_ppm_frames_with_comments_are_read(void **state)
{
	struct buf b = {0};
	struct render_reader rd;
	char err[256] = "";
	int fd;

	puts_(&b, "P6\n# written by a model\n4 # width\n2\n# maxval next\n255\n");
	put_fill(&b, 24, 1);
	puts_(&b, "P6 4 2 255\r");
	put_fill(&b, 24, 2);
	puts_(&b, "\nP6\t4\t2\t255\n"); /* a stray newline between images is tolerated */
	put_fill(&b, 24, 3);
	fd = pipe_with(b.p, b.len);
	assert_int_equal(open_on(&rd, fd, "gray", 4, 2, err), 0);
	assert_int_equal(rd.kind, RENDER_KIND_PPM);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(render_reader_next(&rd, err, sizeof(err)), 1);
		assert_int_equal(rd.fmt, AV_PIX_FMT_RGB24);
		assert_int_equal(rd.width, 4);
		assert_int_equal(rd.height, 2);
		assert_int_equal(rd.frame[0], (uint8_t)(i + 1));
	}
	assert_int_equal(render_reader_next(&rd, err, sizeof(err)), 0);
	assert_memory_equal(rd.frame, b.p + b.len - 24, 24);
	render_reader_free(&rd);
	close(fd);
	free(b.p);
}

static void test_ppm_16_bit_is_refused_with_a_sentence(void **state)
{
	struct buf b = {0};
	struct render_reader rd;
	char err[256] = "";
	int fd;

	puts_(&b, "P6\n4 2\n65535\n");
	put_fill(&b, 48, 1);
	fd = pipe_with(b.p, b.len);
	assert_int_equal(open_on(&rd, fd, "rgb24", 4, 2, err), 0);
	assert_int_equal(render_reader_next(&rd, err, sizeof(err)), -EPROTO);
	assert_string_equal(
	    err, "PPM frame 1 has maxval 65535; only 8-bit PPM is accepted: write maxval 255");
	assert_null(rd.frame);
	render_reader_free(&rd);
	close(fd);
	free(b.p);
}

static void expect_ppm_error(const struct buf *b, int good_frames, int code, const char *needle)
{
	struct render_reader rd;
	char err[256] = "";
	int fd = pipe_with(b->p, b->len);

	assert_int_equal(open_on(&rd, fd, "rgb24", 4, 2, err), 0);
	for (int i = 0; i < good_frames; i++)
		assert_int_equal(render_reader_next(&rd, err, sizeof(err)), 1);
	assert_int_equal(render_reader_next(&rd, err, sizeof(err)), code);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
	render_reader_free(&rd);
	close(fd);
}

static void expect_sized_ppm_error(const struct buf *b, int w, int h, int good_frames,
				   const char *err_want)
{
	struct render_reader rd;
	char err[256] = "";
	int fd = pipe_with(b->p, b->len);

	assert_int_equal(open_on(&rd, fd, "rgb24", w, h, err), 0);
	for (int i = 0; i < good_frames; i++)
		assert_int_equal(render_reader_next(&rd, err, sizeof(err)), 1);
	assert_int_equal(render_reader_next(&rd, err, sizeof(err)), -EPROTO);
	assert_string_equal(err, err_want);
	/* nothing of the declared size was allocated */
	if (good_frames)
		assert_int_equal(rd.frame_bytes, (size_t)w * h * 3);
	else
		assert_null(rd.frame);
	render_reader_free(&rd);
	close(fd);
}

static void test_ppm_garbage_and_lies_say_what_is_wrong(void **state)
{
	struct buf b = {0};

	puts_(&b, "P6\n4 2\n15\n");
	put_fill(&b, 24, 0);
	expect_ppm_error(&b, 0, -EPROTO, "PPM frame 1 has maxval 15; only 8-bit PPM is accepted");

	b.len = 0;
	puts_(&b, "P6\n4x 2\n255\n");
	expect_ppm_error(&b, 0, -EPROTO, "no valid width");

	b.len = 0;
	puts_(&b, "P6\n4 2\n255");
	expect_ppm_error(&b, 0, -EPROTO, "ended inside the header of frame 1");

	b.len = 0;
	puts_(&b, "P6\n4 2\n255\n");
	put_fill(&b, 24, 0);
	puts_(&b, "P6\n8 2\n255\n");
	put_fill(&b, 48, 0);
	expect_ppm_error(&b, 1, -EPROTO,
			 "frame 2 is 8x2 (PPM header) but the job is 4x2: write frames of exactly "
			 "WIDTHxHEIGHT");

	b.len = 0;
	puts_(&b, "P6\n4 2\n255\n");
	put_fill(&b, 24, 0);
	puts_(&b, "frame 2 done\n");
	expect_ppm_error(&b, 1, -EPROTO, "PPM frame 2 starts with \"fr\", not the P6 magic");

	b.len = 0;
	puts_(&b, "P6\n4 2\n255\n");
	put_fill(&b, 20, 0);
	expect_ppm_error(&b, 0, -EPROTO, "PPM stream ended inside frame 1: got 20 of its 24 bytes");

	b.len = 0;
	puts_(&b, "P6\n#");
	for (int i = 0; i < 600; i++)
		puts_(&b, "c");
	puts_(&b, "\n4 2\n255\n");
	expect_ppm_error(&b, 0, -EPROTO, "longer than 512 bytes");
	free(b.p);
}

/* The red team's case: a 64x48 job whose script writes 8K PPM at 16 bits. It fails on
 * the numbers alone; no buffer of the declared size is ever made. */
static void test_ppm_frame_of_another_size_is_rejected_before_allocating(void **state)
{
	struct buf b = {0};

	puts_(&b, "P6\n7680 4320\n65535\n");
	put_fill(&b, 1000, 0);
	expect_sized_ppm_error(&b, 64, 48, 0,
			       "frame 1 is 7680x4320 (PPM header) but the job is 64x48: write "
			       "frames of exactly WIDTHxHEIGHT");

	b.len = 0;
	for (int i = 0; i < 2; i++) {
		puts_(&b, "P6\n64 48\n255\n");
		put_fill(&b, 64 * 48 * 3, (uint8_t)i);
	}
	puts_(&b, "P6\n7680 4320\n255\n");
	put_fill(&b, 1000, 0);
	expect_sized_ppm_error(&b, 64, 48, 2,
			       "frame 3 is 7680x4320 (PPM header) but the job is 64x48: write "
			       "frames of exactly WIDTHxHEIGHT");

	b.len = 0;
	puts_(&b, "P6\n32 24\n255\n");
	put_fill(&b, 32 * 24 * 3, 0);
	expect_sized_ppm_error(&b, 64, 48, 0,
			       "frame 1 is 32x24 (PPM header) but the job is 64x48: write frames "
			       "of exactly WIDTHxHEIGHT");
	free(b.p);
}

static void test_y4m_stream_of_another_size_is_rejected_before_allocating(void **state)
{
	static const struct {
		const char *header, *err;
	} cases[] = {
	    {"YUV4MPEG2 W7680 H4320 F30:1 Ip C444\nFRAME\n",
	     "every frame is 7680x4320 (Y4M stream header) but the job is 64x48: write "
	     "frames of exactly WIDTHxHEIGHT"},
	    {"YUV4MPEG2 W64 H24 C420jpeg\nFRAME\n",
	     "every frame is 64x24 (Y4M stream header) but the job is 64x48: write frames "
	     "of exactly WIDTHxHEIGHT"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct render_reader rd;
		char err[256] = "";
		int fd = pipe_with(cases[i].header, strlen(cases[i].header));

		assert_int_equal(open_on(&rd, fd, "rgb24", 64, 48, err), -EPROTO);
		assert_string_equal(err, cases[i].err);
		assert_null(rd.frame);
		render_reader_free(&rd);
		close(fd);
	}
}

/* A child that writes b and exits, for inputs larger than a pipe holds; the parent
 * gets the read end. The child ignores SIGPIPE and stops at EPIPE. */
static int pipe_from_child(const struct buf *b, pid_t *pid)
{
	int p[2];

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	*pid = fork();
	assert_true(*pid >= 0);
	if (*pid == 0) {
		close(p[0]);
		for (size_t off = 0; off < b->len;) {
			ssize_t n = write(p[1], b->p + off, b->len - off);
			if (n <= 0)
				_exit(0);
			off += (size_t)n;
		}
		_exit(0);
	}
	close(p[1]);
	return p[0];
}

static void test_blanks_between_ppm_images_are_bounded(void **state)
{
	struct buf b = {0};
	struct render_reader rd;
	char err[256] = "";
	size_t frame1;
	pid_t pid;
	int fd;

	/* 512 blanks are tolerated, 513 are not */
	puts_(&b, "P6\n4 2\n255\n");
	put_fill(&b, 24, 1);
	frame1 = b.len;
	for (int i = 0; i < RENDER_PPM_HEADER_MAX; i++)
		puts_(&b, i % 2 ? "\n" : " ");
	puts_(&b, "P6\n4 2\n255\n");
	put_fill(&b, 24, 2);
	fd = pipe_with(b.p, b.len);
	assert_int_equal(open_on(&rd, fd, "rgb24", 4, 2, err), 0);
	assert_int_equal(render_reader_next(&rd, err, sizeof(err)), 1);
	assert_int_equal(render_reader_next(&rd, err, sizeof(err)), 1);
	assert_int_equal(render_reader_next(&rd, err, sizeof(err)), 0);
	render_reader_free(&rd);
	close(fd);

	b.len = frame1;
	for (int i = 0; i < RENDER_PPM_HEADER_MAX + 1; i++)
		puts_(&b, "\n");
	puts_(&b, "P6\n4 2\n255\n");
	put_fill(&b, 24, 2);
	expect_sized_ppm_error(&b, 4, 2, 1,
			       "PPM stream has more than 512 blank bytes before frame 2; write the "
			       "images back to back");

	/* 1 MB of blanks: refused after a bounded read, not read to the end */
	b.len = frame1;
	put_repeat(&b, "    \n\n\n\n", 1 << 20);
	puts_(&b, "P6\n4 2\n255\n");
	put_fill(&b, 24, 2);
	fd = pipe_from_child(&b, &pid);
	assert_int_equal(open_on(&rd, fd, "rgb24", 4, 2, err), 0);
	assert_int_equal(render_reader_next(&rd, err, sizeof(err)), 1);
	assert_int_equal(render_reader_next(&rd, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "more than 512 blank bytes before frame 2"));
	assert_true(rd.bytes <= frame1 + RENDER_PPM_HEADER_MAX + 2 * RENDER_LOOK_CAP);
	render_reader_free(&rd);
	close(fd);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	free(b.p);
}

/* Comments and blanks inside one header share its 512-byte budget, however they are
 * spread over lines. */
static void test_comment_flood_in_a_ppm_header_is_bounded(void **state)
{
	static const char *const floods[] = {"# c\n", " ", "#\n\t"};

	for (size_t k = 0; k < sizeof(floods) / sizeof(floods[0]); k++) {
		struct buf b = {0};
		struct render_reader rd;
		char err[256] = "";
		pid_t pid;
		int fd;

		puts_(&b, "P6\n4");
		put_repeat(&b, floods[k], 1 << 20);
		puts_(&b, " 2\n255\n");
		put_fill(&b, 24, 0);
		fd = pipe_from_child(&b, &pid);
		assert_int_equal(open_on(&rd, fd, "rgb24", 4, 2, err), 0);
		assert_int_equal(render_reader_next(&rd, err, sizeof(err)), -EPROTO);
		assert_string_equal(err, "PPM header of frame 1 is longer than 512 bytes");
		assert_true(rd.bytes <= RENDER_PPM_HEADER_MAX + 2 * RENDER_LOOK_CAP);
		assert_null(rd.frame);
		render_reader_free(&rd);
		close(fd);
		assert_int_equal(waitpid(pid, NULL, 0), pid);
		free(b.p);
	}
}

/* The stop-fd tests hold a write end open, so a reader that blocks would block
 * forever: the alarm turns that into a failure. */
static void reader_hung(int sig)
{
	static const char msg[] = "FAIL: the reader blocked after the stop fd fired\n";

	(void)sig;
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(1);
}

static void arm_hang_guard(void)
{
	signal(SIGALRM, reader_hung);
	alarm(10);
}

/* A pipe holding b whose write end stays open (returned in *wr), as when a script
 * parks its stdout in an SCM_RIGHTS message, and a stop pipe already signalled. */
static int kept_open_with_stop(const struct buf *b, int *wr, int stop[2])
{
	int p[2];

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	if (b->len)
		assert_int_equal(write(p[1], b->p, b->len), (ssize_t)b->len);
	*wr = p[1];
	assert_int_equal(pipe2(stop, O_CLOEXEC), 0);
	assert_int_equal(write(stop[1], "x", 1), 1);
	return p[0];
}

static void expect_drained(const struct buf *b, const char *fmt, int w, int h, int frames, int code,
			   const char *err_want)
{
	struct render_reader rd;
	char err[256] = "";
	int wr, stop[2], fd = kept_open_with_stop(b, &wr, stop);

	arm_hang_guard();
	assert_int_equal(render_reader_open(&rd, fd, fmt, w, h, NULL, stop[0], err, sizeof(err)),
			 0);
	for (int i = 0; i < frames; i++)
		assert_int_equal(render_reader_next(&rd, err, sizeof(err)), 1);
	assert_int_equal(render_reader_next(&rd, err, sizeof(err)), code);
	alarm(0);
	if (err_want)
		assert_string_equal(err, err_want);
	assert_int_equal(rd.frames, frames);
	render_reader_free(&rd);
	close(fd);
	close(wr);
	close(stop[0]);
	close(stop[1]);
}

static void test_stop_fd_ends_a_stream_whose_writer_is_kept_open(void **state)
{
	struct buf b = {0};

	for (int i = 0; i < 2; i++) {
		puts_(&b, "P6\n4 2\n255\n");
		put_fill(&b, 24, (uint8_t)i);
	}
	expect_drained(&b, "rgb24", 4, 2, 2, 0, NULL);

	b.len = 0;
	puts_(&b, "YUV4MPEG2 W8 H6 F25:1\n");
	for (int i = 0; i < 3; i++) {
		puts_(&b, "FRAME\n");
		put_fill(&b, 72, (uint8_t)i);
	}
	expect_drained(&b, "rgb24", 8, 6, 3, 0, NULL);

	b.len = 0;
	put_fill(&b, 16 * 8 * 3 * 4, 0);
	expect_drained(&b, "rgb24", 16, 8, 4, 0, NULL);

	b.len = 0;
	expect_drained(&b, "rgb24", 16, 8, 0, -ENODATA,
		       "script wrote no frames (0 bytes on stdout)");
	free(b.p);
}

static void test_stop_fd_with_half_a_frame_buffered_reports_the_partial_frame(void **state)
{
	struct buf b = {0};

	put_fill(&b, 384 + 192, 0);
	expect_drained(&b, "rgb24", 16, 8, 1, -EPROTO,
		       "576 bytes: 192 bytes more than 1 frame of 16x8 rgb24: did the script "
		       "print text to stdout?");

	b.len = 0;
	puts_(&b, "P6\n4 2\n255\n");
	put_fill(&b, 24, 0);
	puts_(&b, "P6\n4 2\n255\n");
	put_fill(&b, 10, 0);
	expect_drained(&b, "rgb24", 4, 2, 1, -EPROTO,
		       "PPM stream ended inside frame 2: got 10 of its 24 bytes (4x2 rgb24); did "
		       "the script stop mid-frame or print text to stdout?");
	free(b.p);
}

/* The reader is already waiting in poll() when the stop comes, here as the hang-up of
 * the stop pipe, while the script's stdout stays open in a child that never exits. */
static void test_stop_fd_wakes_a_reader_waiting_on_a_pipe_kept_open(void **state)
{
	struct render_reader rd;
	uint8_t frame[24];
	char err[256] = "";
	int p[2], stop[2], st = 0;
	pid_t pid;

	for (size_t i = 0; i < sizeof(frame); i++)
		frame[i] = (uint8_t)(i * 5);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(pipe2(stop, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		close(stop[0]);
		if (write(p[1], "P6\n4 2\n255\n", 11) != 11 ||
		    write(p[1], frame, sizeof(frame)) != (ssize_t)sizeof(frame))
			_exit(1);
		usleep(200 * 1000);
		close(stop[1]);
		for (;;)
			pause();
	}
	close(p[1]);
	close(stop[1]);
	arm_hang_guard();
	assert_int_equal(
	    render_reader_open(&rd, p[0], "rgb24", 4, 2, NULL, stop[0], err, sizeof(err)), 0);
	assert_int_equal(render_reader_next(&rd, err, sizeof(err)), 1);
	assert_memory_equal(rd.frame, frame, sizeof(frame));
	assert_int_equal(render_reader_next(&rd, err, sizeof(err)), 0);
	alarm(0);
	assert_int_equal(kill(pid, 0), 0); /* the writer really was still there */
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	render_reader_free(&rd);
	close(p[0]);
	close(stop[0]);
}

static char *tmpdir;

static int setup_dir(void **state)
{
	tmpdir = th_tmpdir("stream");
	return tmpdir ? 0 : -1;
}

static int teardown_dir(void **state)
{
	th_rm_rf(tmpdir);
	free(tmpdir);
	return 0;
}

static struct render *open_render(int64_t max_frames, int w, int h)
{
	char out[512], err[256] = "";
	struct render *r = NULL;
	struct render_spec spec = {.width = w,
				   .height = h,
				   .fps = 10,
				   .pix_fmt = "rgb24",
				   .max_frames = max_frames,
				   .output = out,
				   .crf = -1,
				   .preset = "ultrafast"};

	snprintf(out, sizeof(out), "%s/out.mp4", tmpdir);
	if (render_open(&spec, &r, err, sizeof(err)) < 0)
		fail_msg("render_open: %s", err);
	return r;
}

/* Encoding stops exactly at the last allowed frame; the rest of the stream is read on
 * (drained, not encoded) to its end, so the arithmetic is still checked: the descriptor's
 * offset shows every byte was read, the result that only 4 frames were encoded. */
static void test_ceiling_stops_encoding_at_max_frames_and_drains_the_rest(void **state)
{
	struct buf b = {0};
	struct render_result res;
	char err[256] = "";
	struct render *r;
	int fd;

	for (int i = 0; i < 10; i++)
		put_fill(&b, 64 * 48 * 3, (uint8_t)i);
	fd = memfd_with(b.p, b.len);
	r = open_render(4, 64, 48);
	assert_int_equal(render_stream(r, fd, NULL, NULL, err, sizeof(err)), 0);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 10 * 64 * 48 * 3);
	assert_int_equal(render_finish(r, &res, err, sizeof(err)), 0);
	assert_int_equal(res.frames, 4);
	assert_int_equal(res.hit_ceiling, 1);
	assert_int_equal(res.frame_cap_hit, 1);
	assert_int_equal(res.cut, 0);
	assert_int_equal(res.stream_bytes, 10 * 64 * 48 * 3);
	assert_string_equal(res.stream_kind, "raw");
	render_close(r);
	close(fd);
	free(b.p);
}

/* A script that writes exactly FRAMES frames and ends: the ceiling cut nothing. */
static void test_exactly_max_frames_is_not_a_cap_hit(void **state)
{
	struct buf b = {0};
	struct render_result res;
	char err[256] = "";
	struct render *r;
	int fd;

	for (int i = 0; i < 4; i++)
		put_fill(&b, 64 * 48 * 3, (uint8_t)i);
	fd = memfd_with(b.p, b.len);
	r = open_render(4, 64, 48);
	assert_int_equal(render_stream(r, fd, NULL, NULL, err, sizeof(err)), 0);
	assert_int_equal(render_finish(r, &res, err, sizeof(err)), 0);
	assert_int_equal(res.frames, 4);
	assert_int_equal(res.hit_ceiling, 1);
	assert_int_equal(res.frame_cap_hit, 0);
	render_close(r);
	close(fd);
	free(b.p);
}

/* A status line printed after the frames: the drain past the ceiling finds the bytes
 * that are not a frame, and the job fails with the numbers and the text. */
static void test_text_after_the_ceiling_fails_with_the_arithmetic(void **state)
{
	struct buf b = {0};
	char err[512] = "";
	struct render *r;
	int fd;

	for (int i = 0; i < 4; i++)
		put_fill(&b, 64 * 48 * 3, (uint8_t)i);
	puts_(&b, "done\n");
	fd = memfd_with(b.p, b.len);
	r = open_render(2, 64, 48);
	assert_int_equal(render_stream(r, fd, NULL, NULL, err, sizeof(err)), -EPROTO);
	assert_string_equal(err,
			    "36,869 bytes: 5 bytes more than 4 frames of 64x48 rgb24: its last "
			    "5 bytes are the text \"done\": the script printed to stdout; print "
			    "to stderr instead (Python: print(..., file=sys.stderr))");
	render_close(r);
	assert_int_equal(th_count_entries(tmpdir), 0);
	close(fd);
	free(b.p);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The drain has a byte budget and a deadline: a writer that never stops, or one that
 * stops writing but never closes, ends it (1: the length is unknown) within them. */
static void test_drain_gives_up_at_its_byte_budget_and_its_deadline(void **state)
{
	static uint8_t frame[16 * 8 * 3];
	struct render_reader rd;
	char err[256] = "";
	uint64_t t0, before;
	int p[2];
	pid_t pid;

	/* endless writer: the byte budget */
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		for (;;)
			if (write(p[1], frame, sizeof(frame)) < 0)
				_exit(0);
	}
	close(p[1]);
	arm_hang_guard();
	assert_int_equal(open_on(&rd, p[0], "rgb24", 16, 8, err), 0);
	assert_int_equal(render_reader_next(&rd, err, sizeof(err)), 1);
	before = rd.bytes;
	assert_int_equal(render_reader_drain(&rd, 60000, 100000, err, sizeof(err)), 1);
	assert_true(rd.bytes <= before + 100000);
	assert_true(rd.bytes >= before + 100000 - sizeof(frame));
	render_reader_free(&rd);
	close(p[0]);
	assert_int_equal(waitpid(pid, NULL, 0), pid);

	/* a writer that keeps its end open and is silent: the deadline */
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], frame, sizeof(frame)), (ssize_t)sizeof(frame));
	assert_int_equal(open_on(&rd, p[0], "rgb24", 16, 8, err), 0);
	assert_int_equal(render_reader_next(&rd, err, sizeof(err)), 1);
	t0 = now_ms();
	assert_int_equal(render_reader_drain(&rd, 200, 1 << 20, err, sizeof(err)), 1);
	assert_true(now_ms() - t0 >= 190);
	assert_true(now_ms() - t0 < 2000);
	alarm(0);
	render_reader_free(&rd);
	close(p[0]);
	close(p[1]);
}

static void test_stream_that_ends_before_the_ceiling_did_not_hit_it(void **state)
{
	struct buf b = {0};
	struct render_result res;
	char err[256] = "";
	struct render *r;
	int fd;

	for (int i = 0; i < 3; i++)
		put_fill(&b, 64 * 48 * 3, (uint8_t)i);
	fd = memfd_with(b.p, b.len);
	r = open_render(4, 64, 48);
	assert_int_equal(render_stream(r, fd, NULL, NULL, err, sizeof(err)), 0);
	assert_int_equal(render_finish(r, &res, err, sizeof(err)), 0);
	assert_int_equal(res.frames, 3);
	assert_int_equal(res.hit_ceiling, 0);
	render_close(r);
	close(fd);
	free(b.p);
}

/* A script that never stops writing: the render returns at the ceiling, and the
 * script dies of SIGPIPE once the caller closes the pipe. */
static void test_ceiling_ends_an_endless_stream(void **state)
{
	struct render_result res;
	char err[256] = "";
	struct render *r;
	int p[2], st = 0;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		static uint8_t frame[32 * 16 * 3];
		signal(SIGPIPE, SIG_DFL);
		close(p[0]);
		for (;;)
			if (write(p[1], frame, sizeof(frame)) < 0)
				_exit(3);
	}
	close(p[1]);
	r = open_render(5, 32, 16);
	assert_int_equal(render_stream(r, p[0], NULL, NULL, err, sizeof(err)), 0);
	close(p[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGPIPE);
	assert_int_equal(render_finish(r, &res, err, sizeof(err)), 0);
	assert_int_equal(res.frames, 5);
	assert_int_equal(res.hit_ceiling, 1);
	assert_int_equal(res.frame_cap_hit, 1);
	assert_int_equal(res.cut, 1); /* the drain gave up: the writer was still writing */
	render_close(r);
}

/* ---- the checks for known mistakes (checks.h) ------------------------------------ */

/* A picture like a script draws: a diagonal gradient and a red disc at column w/3 + t,
 * w x h rgb24. transposed writes it the way a numpy array shaped (w, h, 3) comes out of
 * tobytes(): column after column. */
static void scene(uint8_t *p, int w, int h, int t, int transposed)
{
	int r = h / 4;

	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			uint8_t *q = p + 3 * (transposed ? (size_t)x * h + y : (size_t)y * w + x);
			int dx = x - (w / 3 + t), dy = y - h / 2, in = dx * dx + dy * dy < r * r;
			q[0] = in ? 250 : (uint8_t)(x * 255 / w);
			q[1] = in ? 40 : (uint8_t)(y * 255 / h);
			q[2] = in ? 40 : 90;
		}
}

static enum check_text text_of(const char *s, size_t *len)
{
	return check_text_line((const uint8_t *)s, strlen(s), len);
}

static void test_a_text_line_at_the_start_is_text_and_pixels_are_not(void **state)
{
	uint8_t px[3 * 100];
	size_t len = 0;

	assert_int_equal(text_of("Rendering 30 frames at 320x180\n\x10\x20", &len),
			 CHECK_TEXT_STRONG);
	assert_int_equal(len, 30);
	assert_int_equal(text_of("Done\r\n", &len), CHECK_TEXT_STRONG);
	assert_int_equal(text_of("frame 1/8\n", &len), CHECK_TEXT_STRONG);
	/* a number alone is only a hint: it could be a pixel or two */
	assert_int_equal(text_of("42\n", &len), CHECK_TEXT_WEAK);
	/* a solid colour (a repeating pattern) ended by a dark pixel is not text */
	assert_int_equal(text_of("PPPPPPPPPPPP\n", &len), CHECK_TEXT_NONE);
	assert_int_equal(text_of("abcabcabcabc\n", &len), CHECK_TEXT_NONE);
	/* a pixel of value 10 first, or no newline at all */
	assert_int_equal(text_of("\nRendering\n", &len), CHECK_TEXT_NONE);
	assert_int_equal(text_of("Rendering 30 frames", &len), CHECK_TEXT_NONE);
	assert_int_equal(text_of("Render\x01ing\n", &len), CHECK_TEXT_NONE);
	/* a smooth grey ramp in the printable range, ended by a dark pixel */
	for (int i = 0; i < 99; i++)
		px[3 * i] = px[3 * i + 1] = px[3 * i + 2] = (uint8_t)(40 + i * 80 / 99);
	px[297] = 10;
	assert_int_equal(check_text_line(px, sizeof(px), &len), CHECK_TEXT_NONE);
}

static void test_an_alpha_byte_of_255_in_every_group_is_found_and_a_white_frame_is_not(void **state)
{
	enum { W = 64, H = 48 };
	static uint8_t rgba[W * H * 4], rgb[W * H * 3], white[W * H * 3];

	scene(rgb, W, H, 0, 0);
	for (int i = 0; i < W * H; i++) {
		memcpy(rgba + 4 * i, rgb + 3 * i, 3);
		rgba[4 * i + 3] = 255;
	}
	assert_int_equal(check_alpha_bytes(rgba, W * H * 3), 3);
	/* ARGB: the alpha comes first */
	for (int i = 0; i < W * H; i++) {
		rgba[4 * i] = 255;
		memcpy(rgba + 4 * i + 1, rgb + 3 * i, 3);
	}
	assert_int_equal(check_alpha_bytes(rgba, W * H * 3), 0);
	assert_int_equal(check_alpha_bytes(rgb, sizeof(rgb)), -1);
	memset(white, 255, sizeof(white));
	assert_int_equal(check_alpha_bytes(white, sizeof(white)), -1);
	/* a black RGBA frame is 0,0,0,255 over and over: still alpha */
	for (int i = 0; i < W * H; i++)
		memcpy(rgba + 4 * i, "\0\0\0\xff", 4);
	assert_int_equal(check_alpha_bytes(rgba, W * H * 3), 3);
}

static void test_wide_numbers_are_told_from_bytes(void **state)
{
	enum { W = 64, H = 48, N = W * H * 3 };
	static uint8_t rgb[N], buf[N * 8], dark[N];
	double d;
	float f;

	scene(rgb, W, H, 0, 0);
	for (int i = 0; i < N; i++) {
		d = rgb[i];
		memcpy(buf + 8 * i, &d, 8);
	}
	assert_int_equal(check_wide_values(buf, N), CHECK_WIDE_FLOAT64);
	for (int i = 0; i < N; i++) {
		f = rgb[i] / 255.0f; /* values 0..1, fractions */
		memcpy(buf + 4 * i, &f, 4);
	}
	assert_int_equal(check_wide_values(buf, N), CHECK_WIDE_FLOAT32);
	for (int i = 0; i < N; i++) {
		int64_t v = rgb[i];
		memcpy(buf + 8 * i, &v, 8);
	}
	assert_int_equal(check_wide_values(buf, N), CHECK_WIDE_INT64);
	for (int i = 0; i < N; i++) {
		uint16_t v = rgb[i];
		memcpy(buf + 2 * i, &v, 2);
	}
	assert_int_equal(check_wide_values(buf, N), CHECK_WIDE_INT16);
	/* pixels are not numbers: a picture, black, and a dark grey vignette whose every
	 * byte sits in 60..70 (as float32 exponents would) */
	assert_int_equal(check_wide_values(rgb, N), CHECK_WIDE_NONE);
	memset(buf, 0, N);
	assert_int_equal(check_wide_values(buf, N), CHECK_WIDE_NONE);
	for (int i = 0; i < N; i++)
		dark[i] = (uint8_t)(60 + (i / 3 % W + i / (3 * W)) % 11);
	assert_int_equal(check_wide_values(dark, N), CHECK_WIDE_NONE);
}

static void test_rows_of_a_transposed_array_line_up_at_height(void **state)
{
	enum { W = 320, H = 180 };
	static uint8_t p[W * H * 3];
	struct check_stride_guess g;

	scene(p, W, H, 0, 1);
	check_row_stride(p, sizeof(p), W, H, 3, &g);
	assert_int_equal(g.kind, CHECK_STRIDE_TRANSPOSED);
	assert_int_equal(g.stride, H * 3);
	scene(p, W, H, 0, 0);
	check_row_stride(p, sizeof(p), W, H, 3, &g);
	assert_int_equal(g.kind, CHECK_STRIDE_NONE);
}

/* A script that hard-codes 640x360 for a 256x144 job: the first job frame holds 57.6
 * rows of 640 pixels, and they line up at 640. */
static void test_rows_of_a_wider_frame_line_up_at_its_width(void **state)
{
	static uint8_t big[640 * 360 * 3];
	struct check_stride_guess g;

	scene(big, 640, 360, 0, 0);
	check_row_stride(big, 256 * 144 * 3, 256, 144, 3, &g);
	assert_int_equal(g.kind, CHECK_STRIDE_WIDTH);
	assert_int_equal(g.width, 640);
	/* twice the job's width is only ever a confirmation, never a guess of its own */
	check_row_stride(big, 320 * 180 * 3, 320, 180, 3, &g);
	assert_int_equal(g.kind, CHECK_STRIDE_NONE);
	assert_int_equal(g.multiple_width, 640);
}

/* Flat rows (horizontal bands), scanlines and noise match at many shifts: no guess. */
static void test_bands_scanlines_and_noise_suggest_no_other_row_length(void **state)
{
	enum { W = 320, H = 180 };
	static uint8_t p[W * H * 3];
	struct check_stride_guess g;
	uint32_t seed = 1;

	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++)
			memset(p + 3 * (y * W + x), (y / 15) % 2 ? 230 : 20, 3);
	check_row_stride(p, sizeof(p), W, H, 3, &g);
	assert_int_equal(g.kind, CHECK_STRIDE_NONE);
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++)
			memset(p + 3 * (y * W + x),
			       (uint8_t)((40 + x * 180 / W) * (y % 2 ? 1 : 0.35)), 3);
	check_row_stride(p, sizeof(p), W, H, 3, &g);
	assert_int_equal(g.kind, CHECK_STRIDE_NONE);
	for (size_t i = 0; i < sizeof(p); i++) {
		seed = seed * 1103515245 + 12345;
		p[i] = (uint8_t)(seed >> 16);
	}
	check_row_stride(p, sizeof(p), W, H, 3, &g);
	assert_int_equal(g.kind, CHECK_STRIDE_NONE);
}

static void test_solid_black_is_told_from_a_solid_colour(void **state)
{
	uint8_t p[64 * 3] = {0};

	assert_true(check_solid_black(p, sizeof(p), 3));
	p[100] = 1;
	assert_false(check_solid_black(p, sizeof(p), 3));
	memset(p, 0x20, sizeof(p));
	assert_false(check_solid_black(p, sizeof(p), 3));
	/* rgba: any alpha, colour all 0 */
	for (int i = 0; i < 48; i++)
		memcpy(p + 4 * i, "\0\0\0\xff", 4);
	assert_true(check_solid_black(p, sizeof(p), 4));
}

static void test_the_length_sentence_names_the_likely_cause(void **state)
{
	struct render_checks c;
	char err[512];
	size_t fb = 320 * 180 * 3;

	checks_init(&c, AV_PIX_FMT_RGB24, "rgb24", 320, 180, fb, 133);
	/* nothing else known: the arithmetic and the question */
	checks_explain_length(&c, 320, 180, "rgb24", fb, 133 * fb + 47, NULL, 0, err, sizeof(err));
	assert_string_equal(err, "22,982,447 bytes: 47 bytes more than 133 frames of 320x180 "
				 "rgb24: did the script print text to stdout?");
	/* exactly FRAMES frames of 4 bytes a pixel */
	checks_explain_length(&c, 320, 180, "rgb24", fb, 133ull * 320 * 180 * 4, NULL, 0, err,
			      sizeof(err));
	assert_string_equal(err, "30,643,200 bytes: 57,600 bytes more than 177 frames of 320x180 "
				 "rgb24: 230,400 bytes a frame is 320x180x4: RGBA? send 3-byte RGB "
				 "(a[..., :3]) or run with --pix-fmt rgba");
	/* exactly FRAMES frames of a common size */
	checks_explain_length(&c, 320, 180, "rgb24", fb, 133ull * 1920 * 1080 * 3 + 0, NULL, 0, err,
			      sizeof(err));
	assert_non_null(strstr(err, "that is 133 frames of 1920x1080 rgb24: does the script "
				    "hard-code its size? use WIDTH and HEIGHT"));
	/* no checks at all, and a stream that is one printed line */
	checks_explain_length(NULL, 10, 10, "gray", 100, 9, (const uint8_t *)"starting\n", 9, err,
			      sizeof(err));
	assert_string_equal(err,
			    "9 bytes, less than one frame of 10x10 gray (100 bytes): the "
			    "stream starts with the text \"starting\": print to stderr instead "
			    "(Python: print(..., file=sys.stderr))");
}

static void test_numbers_in_sentences_have_thousands_separators(void **state)
{
	char b[32];

	assert_string_equal(checks_grouped(b, sizeof(b), 0), "0");
	assert_string_equal(checks_grouped(b, sizeof(b), 999), "999");
	assert_string_equal(checks_grouped(b, sizeof(b), 1000), "1,000");
	assert_string_equal(checks_grouped(b, sizeof(b), 23040047), "23,040,047");
}

/* The checks through render_stream(), as a job sees them. */
static int stream_with(struct buf *b, int64_t max_frames, int w, int h, struct render_result *res,
		       char *err, size_t errlen)
{
	int fd = memfd_with(b->p, b->len), ret;
	struct render *r = open_render(max_frames, w, h);

	memset(res, 0, sizeof(*res));
	ret = render_stream(r, fd, NULL, NULL, err, errlen);
	if (ret == 0)
		assert_int_equal(render_finish(r, res, err, errlen), 0);
	else
		render_stream_facts(r, res);
	render_close(r);
	close(fd);
	free(b->p);
	b->p = NULL;
	b->len = 0;
	return ret;
}

static void test_stray_text_at_the_start_fails_before_anything_is_encoded(void **state)
{
	static uint8_t f[64 * 48 * 3];
	struct buf b = {0};
	struct render_result res;
	char err[512] = "";

	puts_(&b, "Rendering 3 frames\n");
	for (int i = 0; i < 3; i++) {
		scene(f, 64, 48, i, 0);
		put(&b, f, sizeof(f));
	}
	assert_int_equal(stream_with(&b, 3, 64, 48, &res, err, sizeof(err)), -EPROTO);
	assert_string_equal(err, "27,667 bytes: 19 bytes more than 3 frames of 64x48 rgb24: the "
				 "stream starts with the text \"Rendering 3 frames\": the script "
				 "printed to stdout, which shifts every pixel after it; print to "
				 "stderr instead (Python: print(..., file=sys.stderr))");
	assert_int_equal(res.cut, 0);
	assert_int_equal(th_count_entries(tmpdir), 0);
}

static void test_rgba_and_float_streams_fail_at_their_first_frame(void **state)
{
	static uint8_t f[64 * 48 * 3], wide[64 * 48 * 3 * 8];
	struct buf b = {0};
	struct render_result res;
	char err[512] = "";

	scene(f, 64, 48, 0, 0);
	for (int i = 0; i < 64 * 48; i++) {
		memcpy(wide + 4 * i, f + 3 * i, 3);
		wide[4 * i + 3] = 255;
	}
	/* three RGBA frames are four rgb24 frames: the length is whole, the pattern is not */
	for (int i = 0; i < 3; i++)
		put(&b, wide, 64 * 48 * 4);
	assert_int_equal(stream_with(&b, 1, 64, 48, &res, err, sizeof(err)), -EPROTO);
	assert_string_equal(err, "every 4th byte of the first frame is 255 and the rest vary: "
				 "4-byte pixels with alpha (RGBA or BGRA, 64x48x4 = 12,288 bytes a "
				 "frame) sent as rgb24 (9,216); send 3-byte RGB (Pillow: "
				 "img.convert(\"RGB\"), numpy: a[..., :3]) or run with --pix-fmt "
				 "rgba");
	for (size_t i = 0; i < sizeof(f); i++) {
		double d = f[i];
		memcpy(wide + 8 * i, &d, 8);
	}
	put(&b, wide, sizeof(wide));
	assert_int_equal(stream_with(&b, 8, 64, 48, &res, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "the first frame reads as float64 numbers, not bytes"));
}

static void test_a_transposed_stream_succeeds_with_a_warning(void **state)
{
	static uint8_t f[320 * 180 * 3];
	struct buf b = {0};
	struct render_result res;
	char err[512] = "";

	for (int i = 0; i < 2; i++) {
		scene(f, 320, 180, i * 5, 1);
		put(&b, f, sizeof(f));
	}
	assert_int_equal(stream_with(&b, 2, 320, 180, &res, err, sizeof(err)), 0);
	assert_int_equal(res.n_warnings, 1);
	assert_string_equal(res.warnings[0],
			    "rows of the first frame line up every 180 pixels, not 320: a numpy "
			    "array shaped (WIDTH, HEIGHT, 3)? make it (HEIGHT, WIDTH, 3), e.g. "
			    "np.zeros((H, W, 3), np.uint8)");
}

/* A clip that is all black is likely a drawing that never reached the frames: a
 * warning. One solid colour is a legitimate slate, and a title card's frames all alike
 * are a legitimate title card: no warning. */
static void test_a_black_clip_warns_and_a_solid_colour_clip_does_not(void **state)
{
	static uint8_t f[64 * 48 * 3];
	struct buf b = {0};
	struct render_result res;
	char err[512] = "";

	memset(f, 0, sizeof(f));
	for (int i = 0; i < 3; i++)
		put(&b, f, sizeof(f));
	assert_int_equal(stream_with(&b, 3, 64, 48, &res, err, sizeof(err)), 0);
	assert_int_equal(res.n_warnings, 1);
	assert_string_equal(res.warnings[0], "all 3 frames are solid black: did the drawing reach "
					     "the frames? (an array never filled, shapes drawn "
					     "outside the picture)");
	for (size_t i = 0; i < sizeof(f); i += 3)
		memcpy(f + i, "\x00\x80\x80", 3);
	for (int i = 0; i < 3; i++)
		put(&b, f, sizeof(f));
	assert_int_equal(stream_with(&b, 3, 64, 48, &res, err, sizeof(err)), 0);
	assert_int_equal(res.n_warnings, 0);
	/* a fade from black is not a black clip */
	memset(f, 0, sizeof(f));
	put(&b, f, sizeof(f));
	scene(f, 64, 48, 0, 0);
	put(&b, f, sizeof(f));
	assert_int_equal(stream_with(&b, 2, 64, 48, &res, err, sizeof(err)), 0);
	assert_int_equal(res.n_warnings, 0);
}

/* Exactly FRAMES frames of 640x360 for a 320x180 job, and the rows agree: two findings
 * that agree make a certain one. The length alone (rows that say nothing) warns. */
static void test_exactly_frames_of_a_common_size_fail_when_the_rows_agree(void **state)
{
	static uint8_t big[640 * 360 * 3];
	struct buf b = {0};
	struct render_result res;
	char err[512] = "";

	for (int i = 0; i < 2; i++) {
		scene(big, 640, 360, i * 9, 0);
		put(&b, big, sizeof(big));
	}
	assert_int_equal(stream_with(&b, 2, 320, 180, &res, err, sizeof(err)), -EPROTO);
	assert_string_equal(err,
			    "the script wrote 1,382,400 bytes, exactly FRAMES (2) frames of "
			    "another shape, and the first frame's rows agree: that is 2 frames "
			    "of 640x360 rgb24: the script hard-codes its size; use WIDTH and "
			    "HEIGHT from the environment");
	memset(big, 0x50, sizeof(big));
	for (int i = 0; i < 2; i++)
		put(&b, big, sizeof(big));
	assert_int_equal(stream_with(&b, 2, 320, 180, &res, err, sizeof(err)), 0);
	assert_int_equal(res.n_warnings, 1);
	assert_non_null(strstr(res.warnings[0], "that is 2 frames of 640x360 rgb24: does the "
						"script hard-code its size?"));
}

struct cancel_ctx {
	struct render *r;
	int64_t seen;
};

static void cancel_after_two(void *opaque, int64_t frames)
{
	struct cancel_ctx *c = opaque;

	c->seen = frames;
	if (frames == 2)
		render_cancel(c->r);
}

static void test_cancel_stops_at_the_next_frame_boundary(void **state)
{
	struct buf b = {0};
	struct cancel_ctx c = {0};
	char err[256] = "";
	int fd;

	for (int i = 0; i < 6; i++)
		put_fill(&b, 64 * 48 * 3, (uint8_t)i);
	fd = memfd_with(b.p, b.len);
	c.r = open_render(0, 64, 48);
	assert_int_equal(render_stream(c.r, fd, cancel_after_two, &c, err, sizeof(err)),
			 -ECANCELED);
	assert_int_equal(c.seen, 2);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 2 * 64 * 48 * 3);
	assert_string_equal(err, "the render was cancelled");
	render_close(c.r);
	assert_int_equal(th_count_entries(tmpdir), 0);
	close(fd);
	free(b.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_each_raw_format_has_its_frame_size),
	    cmocka_unit_test(test_raw_frames_are_read_whole_and_in_order),
	    cmocka_unit_test(test_raw_frame_written_in_dribbles_is_reassembled),
	    cmocka_unit_test(test_partial_frame_is_rejected_with_byte_count),
	    cmocka_unit_test(test_stream_shorter_than_one_frame_is_rejected_with_byte_count),
	    cmocka_unit_test(test_empty_stream_is_rejected_as_no_frames),
	    cmocka_unit_test(test_unknown_raw_format_is_rejected),
	    cmocka_unit_test(test_y4m_stream_is_recognised_with_frame_params),
	    cmocka_unit_test(test_y4m_colorspaces_map_to_pixel_formats),
	    cmocka_unit_test(test_y4m_garbage_headers_say_what_is_wrong),
	    cmocka_unit_test(test_huge_declared_sizes_are_rejected_before_allocating),
	    cmocka_unit_test(test_y4m_frame_cut_short_says_bytes_received),
	    cmocka_unit_test(test_y4m_lying_header_is_caught_at_the_next_frame),
	    cmocka_unit_test(test_y4m_header_without_frames_is_rejected),
	    cmocka_unit_test(test_y4m_overlong_frame_line_is_rejected),
	    cmocka_unit_test(test_ppm_frames_with_comments_are_read),
	    cmocka_unit_test(test_ppm_16_bit_is_refused_with_a_sentence),
	    cmocka_unit_test(test_ppm_garbage_and_lies_say_what_is_wrong),
	    cmocka_unit_test(test_ppm_frame_of_another_size_is_rejected_before_allocating),
	    cmocka_unit_test(test_y4m_stream_of_another_size_is_rejected_before_allocating),
	    cmocka_unit_test(test_blanks_between_ppm_images_are_bounded),
	    cmocka_unit_test(test_comment_flood_in_a_ppm_header_is_bounded),
	    cmocka_unit_test(test_stop_fd_ends_a_stream_whose_writer_is_kept_open),
	    cmocka_unit_test(test_stop_fd_with_half_a_frame_buffered_reports_the_partial_frame),
	    cmocka_unit_test(test_stop_fd_wakes_a_reader_waiting_on_a_pipe_kept_open),
	    cmocka_unit_test(test_ceiling_stops_encoding_at_max_frames_and_drains_the_rest),
	    cmocka_unit_test(test_exactly_max_frames_is_not_a_cap_hit),
	    cmocka_unit_test(test_text_after_the_ceiling_fails_with_the_arithmetic),
	    cmocka_unit_test(test_drain_gives_up_at_its_byte_budget_and_its_deadline),
	    cmocka_unit_test(test_stream_that_ends_before_the_ceiling_did_not_hit_it),
	    cmocka_unit_test(test_ceiling_ends_an_endless_stream),
	    cmocka_unit_test(test_cancel_stops_at_the_next_frame_boundary),
	    cmocka_unit_test(test_a_text_line_at_the_start_is_text_and_pixels_are_not),
	    cmocka_unit_test(
		test_an_alpha_byte_of_255_in_every_group_is_found_and_a_white_frame_is_not),
	    cmocka_unit_test(test_wide_numbers_are_told_from_bytes),
	    cmocka_unit_test(test_rows_of_a_transposed_array_line_up_at_height),
	    cmocka_unit_test(test_rows_of_a_wider_frame_line_up_at_its_width),
	    cmocka_unit_test(test_bands_scanlines_and_noise_suggest_no_other_row_length),
	    cmocka_unit_test(test_solid_black_is_told_from_a_solid_colour),
	    cmocka_unit_test(test_the_length_sentence_names_the_likely_cause),
	    cmocka_unit_test(test_numbers_in_sentences_have_thousands_separators),
	    cmocka_unit_test(test_stray_text_at_the_start_fails_before_anything_is_encoded),
	    cmocka_unit_test(test_rgba_and_float_streams_fail_at_their_first_frame),
	    cmocka_unit_test(test_a_transposed_stream_succeeds_with_a_warning),
	    cmocka_unit_test(test_a_black_clip_warns_and_a_solid_colour_clip_does_not),
	    cmocka_unit_test(test_exactly_frames_of_a_common_size_fail_when_the_rows_agree),
	};

	av_log_set_level(AV_LOG_ERROR);
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
