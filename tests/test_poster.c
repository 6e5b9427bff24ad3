/* test_poster.c - the poster's pick (render/poster.c): the scorer, the comparison, which
 * frames are sampled, the size, and one real pick written as a JPEG; the still (a PNG);
 * the contact sheet's cells (render/sheet.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "poster.h"
#include "render.h"
#include "sheet.h"

#define W 64
#define H 36

static uint8_t plane[W * H];

static void fill(uint8_t v)
{
	memset(plane, v, sizeof(plane));
}

/* Left half a, right half b. */
static void halves(uint8_t a, uint8_t b)
{
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++)
			plane[y * W + x] = x < W / 2 ? a : b;
}

static struct poster_score score(void)
{
	return poster_score_luma(plane, W, W, H);
}

static void test_black_frame_is_blank(void **state)
{
	(void)state;
	fill(0);
	struct poster_score s = score();
	assert_true(s.blank);
	assert_true(s.mean == 0 && s.stddev == 0);
	fill(20); /* below POSTER_BLACK_MEAN, and flat */
	assert_true(score().blank);
}

static void test_white_and_uniform_grey_frames_are_blank(void **state)
{
	(void)state;
	fill(255);
	assert_true(score().blank);
	fill(128); /* mid-grey but flat: a blank title card */
	struct poster_score s = score();
	assert_true(s.blank);
	assert_true(s.mean == 128.0);
}

static void test_two_halves_score_their_exact_mean_and_stddev(void **state)
{
	(void)state;
	halves(0, 200);
	struct poster_score s = score();
	assert_false(s.blank);
	assert_true(s.mean > 99.99 && s.mean < 100.01);
	assert_true(s.stddev > 99.99 && s.stddev < 100.01);
}

static void test_a_dark_frame_with_a_little_detail_is_still_blank(void **state)
{
	(void)state;
	halves(10, 30); /* mean 20 < POSTER_BLACK_MEAN although not flat */
	assert_true(score().blank);
	halves(125, 131); /* stddev 3 < POSTER_FLAT_STDDEV: near uniform */
	assert_true(score().blank);
}

static void test_content_beats_blank_even_when_the_blank_is_brighter(void **state)
{
	(void)state;
	halves(30, 90);
	struct poster_score content = score();
	fill(128);
	struct poster_score grey = score();
	assert_true(poster_better(&content, &grey));
	assert_false(poster_better(&grey, &content));
}

static void test_more_contrast_beats_less_and_mid_grey_beats_washed_out(void **state)
{
	(void)state;
	halves(64, 192);
	struct poster_score strong = score();
	halves(100, 156);
	struct poster_score weak = score();
	assert_true(poster_better(&strong, &weak));
	assert_false(poster_better(&weak, &strong));
	/* the same contrast, but near white: worth less than around mid-grey */
	halves(200, 240);
	struct poster_score pale = score();
	halves(108, 148);
	struct poster_score mid = score();
	assert_true(poster_better(&mid, &pale));
}

static void test_among_blank_frames_the_least_dark_wins_and_ties_keep_the_earlier(void **state)
{
	(void)state;
	fill(0);
	struct poster_score black = score();
	fill(15);
	struct poster_score dim = score();
	assert_true(poster_better(&dim, &black));
	assert_false(poster_better(&black, &dim));
	assert_false(poster_better(&dim, &dim)); /* a tie: the frame already kept stays */
}

static void test_an_empty_plane_is_blank(void **state)
{
	(void)state;
	assert_true(poster_score_luma(NULL, 0, 0, 0).blank);
	assert_true(poster_score_luma(plane, W, 0, H).blank);
}

/* Sampled frames of [0, n) for a ceiling max: how many, and the widest gap after the
 * first stride. */
static int count_sampled(int64_t n, int64_t max, int64_t *widest)
{
	int64_t last = 0;
	int count = 0;

	*widest = 0;
	for (int64_t i = 0; i < n; i++) {
		if (!poster_sampled(i, max))
			continue;
		count++;
		if (i - last > *widest)
			*widest = i - last;
		last = i;
	}
	return count;
}

static void test_samples_spread_evenly_over_the_ceiling(void **state)
{
	int64_t widest;
	(void)state;
	/* stride 10: 0 1 2 4 8, then 10 20 ... 150 */
	assert_int_equal(count_sampled(160, 160, &widest), 5 + 15);
	assert_int_equal(widest, 10);
	for (int64_t i = 10; i < 160; i += 10)
		assert_true(poster_sampled(i, 160));
	assert_false(poster_sampled(15, 160));
	/* long streams: about POSTER_SAMPLES, plus the powers of two below the stride */
	assert_true(count_sampled(100000, 100000, &widest) <= POSTER_SAMPLES + 14);
	assert_int_equal(widest, 100000 / POSTER_SAMPLES);
}

static void test_a_stream_shorter_than_its_ceiling_still_has_candidates(void **state)
{
	int64_t widest;
	(void)state;
	/* ceiling 1600 (stride 100), but the script stops after 40 frames */
	assert_int_equal(count_sampled(40, 1600, &widest), 7); /* 0 1 2 4 8 16 32 */
	assert_false(poster_sampled(-1, 1600));
}

static void test_an_unknown_length_doubles_the_stride(void **state)
{
	int64_t widest;
	(void)state;
	for (int64_t i = 0; i < 16; i++)
		assert_true(poster_sampled(i, 0));
	assert_false(poster_sampled(17, 0));
	assert_true(poster_sampled(18, 0));
	/* logarithmic in the length: 16, then 8 per doubling */
	assert_true(count_sampled(1024, 0, &widest) <= 16 + 8 * 6);
	assert_int_equal(widest, 64);
}

static void test_the_poster_is_the_videos_size_or_1280_wide(void **state)
{
	int w, h;
	(void)state;
	poster_size(640, 480, &w, &h);
	assert_true(w == 640 && h == 480);
	poster_size(1280, 720, &w, &h);
	assert_true(w == 1280 && h == 720);
	poster_size(1920, 1080, &w, &h);
	assert_true(w == 1280 && h == 720);
	poster_size(7680, 4320, &w, &h);
	assert_true(w == 1280 && h == 720);
	poster_size(7680, 2, &w, &h); /* never 0 high */
	assert_true(w == 1280 && h == 1);
}

/* The whole pick on rgb24 frames: 20 black, then content; the JPEG lands in the fd. */
static void test_a_real_pick_skips_black_frames_and_writes_a_jpeg(void **state)
{
	enum { FW = 96, FH = 54, N = 64 };
	static uint8_t black[FW * FH * 3], content[FW * FH * 3];
	struct poster *p = NULL;
	uint64_t bytes = 0, ms = 0;
	int64_t frame = -1;
	uint8_t head[3];
	char err[256];
	int fd = memfd_create("poster", MFD_CLOEXEC);
	(void)state;

	if (render_libav_load(err, sizeof(err)) < 0)
		skip();
	for (int i = 0; i < FW * FH * 3; i++)
		content[i] = (uint8_t)((i / 3 % FW) * 255 / FW);
	assert_true(fd >= 0);
	assert_int_equal(poster_open(&p, fd, -1, N, FW, FH, err, sizeof(err)), 0);
	for (int i = 0; i < N; i++)
		poster_take(p, i, i < 20 ? black : content, AV_PIX_FMT_RGB24, FW, FH);
	assert_int_equal(poster_write(p, &bytes, &frame, &ms, err, sizeof(err)), 0);
	assert_true(frame >= 20);
	assert_true(poster_sampled(frame, N));
	assert_true(bytes > 100);
	assert_int_equal(pread(fd, head, 3, 0), 3);
	assert_true(head[0] == 0xff && head[1] == 0xd8 && head[2] == 0xff); /* JPEG SOI */
	poster_free(p);

	/* a named frame wins, sampled or not */
	assert_int_equal(poster_open(&p, fd, 23, N, FW, FH, err, sizeof(err)), 0);
	for (int i = 0; i < N; i++)
		poster_take(p, i, i < 20 ? black : content, AV_PIX_FMT_RGB24, FW, FH);
	assert_int_equal(poster_write(p, &bytes, &frame, &ms, err, sizeof(err)), 0);
	assert_int_equal(frame, 23);
	poster_free(p);

	/* no frame at all: no poster, said so */
	assert_int_equal(poster_open(&p, fd, -1, N, FW, FH, err, sizeof(err)), 0);
	assert_int_equal(poster_write(p, &bytes, &frame, &ms, err, sizeof(err)), -ENODATA);
	assert_true(bytes == 0 && frame == -1);
	assert_non_null(strstr(err, "no frame"));
	poster_free(p);
	close(fd);
}

/* A still: only the named frame, at its size, as a PNG; none when the stream ends first. */
static void test_a_still_is_the_named_frame_as_a_png(void **state)
{
	enum { FW = 30, FH = 17 }; /* odd sizes: a still is not chroma-subsampled */
	static uint8_t frames[3][FW * FH * 3];
	static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
	struct poster *p = NULL;
	uint64_t bytes = 0, ms = 0;
	int64_t frame = -1;
	uint8_t head[8];
	char err[256];
	int fd = memfd_create("still", MFD_CLOEXEC);
	(void)state;

	if (render_libav_load(err, sizeof(err)) < 0)
		skip();
	for (int i = 0; i < 3; i++)
		memset(frames[i], 40 * (i + 1), sizeof(frames[i]));
	assert_int_equal(poster_open_still(&p, fd, 1, FW, FH, err, sizeof(err)), 0);
	for (int i = 0; i < 3; i++)
		poster_take(p, i, frames[i], AV_PIX_FMT_RGB24, FW, FH);
	assert_int_equal(poster_write(p, &bytes, &frame, &ms, err, sizeof(err)), 0);
	assert_int_equal(frame, 1);
	assert_int_equal(pread(fd, head, 8, 0), 8);
	assert_memory_equal(head, png_sig, 8);
	poster_free(p);

	assert_int_equal(poster_open_still(&p, fd, 5, FW, FH, err, sizeof(err)), 0);
	for (int i = 0; i < 3; i++)
		poster_take(p, i, frames[i], AV_PIX_FMT_RGB24, FW, FH);
	assert_int_equal(poster_write(p, &bytes, &frame, &ms, err, sizeof(err)), -ENODATA);
	assert_non_null(strstr(err, "ended before frame 5"));
	poster_free(p);
	close(fd);
}

static void test_sheet_cells_are_evenly_spaced_frames(void **state)
{
	static const int64_t few[12] = {0, 0, 0, 1, 1, 2, 2, 2, 3, 3, 4, 4};
	(void)state;
	for (int k = 0; k < 12; k++)
		assert_int_equal(sheet_cell_frame(k, 12, 120), 10 * k);
	/* fewer frames than cells: in order, every one inside the stream */
	for (int k = 0; k < 12; k++)
		assert_int_equal(sheet_cell_frame(k, 12, 5), few[k]);
	assert_int_equal(sheet_cell_frame(99, 100, 36000), 35640);
}

static void test_sheet_cells_fit_1920_wide_with_even_sides(void **state)
{
	int w, h;
	(void)state;
	sheet_cell_size(320, 180, 4, &w, &h);
	assert_true(w == 320 && h == 180);
	sheet_cell_size(1280, 720, 4, &w, &h);
	assert_true(w == 480 && h == 270);
	sheet_cell_size(1920, 1080, 7, &w, &h); /* 1920/7 = 274, 154.1 high */
	assert_true(w == 274 && h == 154 && 7 * w <= SHEET_MAX_WIDTH);
	sheet_cell_size(101, 51, 1, &w, &h); /* odd sides rounded down to even */
	assert_true(w == 100 && h == 50);
	sheet_cell_size(7680, 2, 10, &w, &h); /* never below 2 */
	assert_true(w == 192 && h == 2);
}

static void test_sheet_grid_outside_1x1_to_10x10_is_refused(void **state)
{
	struct sheet *s = NULL;
	char err[200];
	(void)state;
	assert_int_equal(sheet_open(&s, -1, 0, 3, 10, 64, 48, err, sizeof(err)), -EINVAL);
	assert_null(s);
	assert_non_null(strstr(err, "outside 1x1..10x10"));
	assert_int_equal(sheet_open(&s, -1, 11, 1, 10, 64, 48, err, sizeof(err)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_black_frame_is_blank),
	    cmocka_unit_test(test_white_and_uniform_grey_frames_are_blank),
	    cmocka_unit_test(test_two_halves_score_their_exact_mean_and_stddev),
	    cmocka_unit_test(test_a_dark_frame_with_a_little_detail_is_still_blank),
	    cmocka_unit_test(test_content_beats_blank_even_when_the_blank_is_brighter),
	    cmocka_unit_test(test_more_contrast_beats_less_and_mid_grey_beats_washed_out),
	    cmocka_unit_test(test_among_blank_frames_the_least_dark_wins_and_ties_keep_the_earlier),
	    cmocka_unit_test(test_an_empty_plane_is_blank),
	    cmocka_unit_test(test_samples_spread_evenly_over_the_ceiling),
	    cmocka_unit_test(test_a_stream_shorter_than_its_ceiling_still_has_candidates),
	    cmocka_unit_test(test_an_unknown_length_doubles_the_stride),
	    cmocka_unit_test(test_the_poster_is_the_videos_size_or_1280_wide),
	    cmocka_unit_test(test_a_real_pick_skips_black_frames_and_writes_a_jpeg),
	    cmocka_unit_test(test_a_still_is_the_named_frame_as_a_png),
	    cmocka_unit_test(test_sheet_cells_are_evenly_spaced_frames),
	    cmocka_unit_test(test_sheet_cells_fit_1920_wide_with_even_sides),
	    cmocka_unit_test(test_sheet_grid_outside_1x1_to_10x10_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
