/* test_job.c - the job's rules and its JSON document (the configuration: test_config.c).
 *
 * Each rule is pinned on both sides of its boundary (accepted at the limit, refused one
 * past it) and by the words of its sentence, since the sentence is what a user reads.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "helpers.h"
#include "job.h"
#include "render.h"

static struct config cfg;
static char err[512];

static int setup(void **state)
{
	(void)state;
	config_defaults(&cfg);
	cfg.maxima.cpus = 2.0; /* not the machine's count: the tests must not depend on it */
	err[0] = '\0';
	return 0;
}

static void set_script(struct job *j, const char *text)
{
	free(j->script);
	j->script = strdup(text);
	assert_non_null(j->script);
	j->script_len = strlen(text);
}

/* A job a user would send: a small python script, everything else left to defaults. */
static void make_job(struct job *j)
{
	job_init(j);
	set_script(j, "import sys\nsys.stdout.write('x')\n");
	snprintf(j->script_name, sizeof(j->script_name), "render.py");
}

static void assert_err_has(const char *want)
{
	if (!strstr(err, want))
		fail_msg("error '%s' does not contain '%s'", err, want);
}

static void assert_accepted(struct job *j)
{
	err[0] = '\0';
	int r = job_resolve(j, &cfg, err, sizeof(err));
	if (r)
		fail_msg("job refused: %s", err);
}

static void assert_refused(struct job *j, const char *want)
{
	err[0] = '\0';
	assert_int_equal(job_resolve(j, &cfg, err, sizeof(err)), -EINVAL);
	assert_err_has(want);
}

/* Make a fresh job, let adjust() change it, and expect it accepted or refused. */
#define CHECK_OK(stmt)                                                                             \
	do {                                                                                       \
		struct job j_;                                                                     \
		make_job(&j_);                                                                     \
		{                                                                                  \
			struct job *j = &j_;                                                       \
			stmt;                                                                      \
		}                                                                                  \
		assert_accepted(&j_);                                                              \
		job_free(&j_);                                                                     \
	} while (0)

#define CHECK_REFUSED(stmt, want)                                                                  \
	do {                                                                                       \
		struct job j_;                                                                     \
		make_job(&j_);                                                                     \
		{                                                                                  \
			struct job *j = &j_;                                                       \
			stmt;                                                                      \
		}                                                                                  \
		assert_refused(&j_, want);                                                         \
		job_free(&j_);                                                                     \
	} while (0)

/* ---- defaults ---- */

static void test_default_job_resolves_to_contract_defaults(void **state)
{
	struct job j;

	(void)state;
	make_job(&j);
	assert_accepted(&j);
	assert_int_equal(j.width, 1280);
	assert_int_equal(j.height, 720);
	assert_int_equal(j.fps, 30);
	assert_int_equal(j.frames, 150);
	assert_string_equal(j.pix_fmt, "rgb24");
	assert_string_equal(j.format, "mp4");
	assert_string_equal(j.runtime, "python3");
	assert_int_equal(j.crf, -1);
	assert_string_equal(j.preset, "");
	assert_int_equal(j.limits.timeout_s, 60);
	assert_int_equal(j.limits.memory_mb, 512);
	assert_int_equal(j.limits.pids, 64);
	assert_int_equal(j.limits.scratch_mb, 64);
	assert_true(j.limits.cpus == 1.0);
	assert_int_equal(j.retries, 0);
	job_free(&j);
}

static void test_frames_default_to_five_seconds_of_fps(void **state)
{
	struct job j;

	(void)state;
	make_job(&j);
	j.fps = 24;
	assert_accepted(&j);
	assert_int_equal(j.frames, 120);
	job_free(&j);
}

static void test_refused_job_is_left_as_it_was(void **state)
{
	struct job j;

	(void)state;
	make_job(&j);
	j.limits.memory_mb = 8192;
	assert_refused(&j, "memory");
	assert_string_equal(j.runtime, "");
	assert_int_equal(j.frames, 0);
	assert_string_equal(j.pix_fmt, "");
	assert_int_equal(j.limits.timeout_s, 0);
	job_free(&j);
}

/* ---- size ---- */

static void test_odd_width_is_rejected_with_reason(void **state)
{
	(void)state;
	CHECK_REFUSED(j->width = 1281,
		      "size 1281x720 is not allowed: width and height must be even");
}

static void test_odd_height_is_rejected_with_reason(void **state)
{
	(void)state;
	CHECK_REFUSED(j->height = 719,
		      "size 1280x719 is not allowed: width and height must be even");
}

static void test_odd_size_is_accepted_for_gif_which_has_no_chroma_rule(void **state)
{
	(void)state;
	CHECK_OK((j->width = 99, j->height = 51, strcpy(j->format, "gif")));
	CHECK_REFUSED((j->width = 99, j->height = 51, strcpy(j->format, "webm")),
		      "size 99x51 is not allowed: width and height must be even for webm (GIF "
		      "takes any size)");
}

static void test_huge_odd_size_says_too_large_not_odd(void **state)
{
	(void)state;
	CHECK_REFUSED((j->width = 99999, j->height = 99999),
		      "size 99999x99999 is not allowed: the largest is 7680x4320");
}

static void test_smallest_size_2x2_is_accepted(void **state)
{
	(void)state;
	CHECK_OK((j->width = 2, j->height = 2));
}

static void test_size_below_2_is_rejected_with_minimum(void **state)
{
	(void)state;
	CHECK_REFUSED(j->width = 0,
		      "size 0x720 is not allowed: width and height must be at least 2");
	CHECK_REFUSED(j->height = 1, "must be at least 2");
	CHECK_REFUSED(j->width = -2, "size -2x720 is not allowed");
}

static void test_largest_size_7680x4320_is_accepted(void **state)
{
	(void)state;
	/* At the fastest preset it fits the default encoder allowance. */
	CHECK_OK((j->width = 7680, j->height = 4320, strcpy(j->preset, "ultrafast")));
}

static void test_encode_over_the_encoder_memory_maximum_is_refused_up_front(void **state)
{
	(void)state;
	CHECK_REFUSED((j->width = 7680, j->height = 4320, strcpy(j->preset, "placebo")),
		      "needs about");
	assert_err_has("above the operator's encoder maximum of 2048 MB (encoder_memory)");
	assert_err_has("choose a faster preset or a smaller size");
	cfg.encoder_memory_mb = 65536;
	CHECK_OK((j->width = 7680, j->height = 4320, strcpy(j->preset, "placebo")));
	cfg.encoder_memory_mb = 2048;
}

static void test_encoder_memory_grows_with_size_and_preset(void **state)
{
	struct job a, b;

	(void)state;
	make_job(&a);
	make_job(&b);
	a.width = b.width = 640;
	a.height = b.height = 360;
	strcpy(a.preset, "ultrafast");
	strcpy(b.preset, "placebo");
	assert_true(job_encoder_memory(&a) < job_encoder_memory(&b));
	b.width = 1920;
	b.height = 1080;
	strcpy(a.preset, "placebo");
	assert_true(job_encoder_memory(&a) < job_encoder_memory(&b));
	job_free(&a);
	job_free(&b);
}

static void test_size_past_7680x4320_is_rejected_with_maximum(void **state)
{
	(void)state;
	CHECK_REFUSED(j->width = 7682, "size 7682x720 is not allowed: the largest is 7680x4320");
	CHECK_REFUSED((j->width = 7680, j->height = 4322),
		      "size 7680x4322 is not allowed: the largest is 7680x4320");
}

/* ---- fps and frames ---- */

static void test_fps_1_and_120_are_accepted(void **state)
{
	(void)state;
	CHECK_OK(j->fps = 1);
	CHECK_OK(j->fps = 120);
}

static void test_fps_0_and_121_are_rejected_with_range(void **state)
{
	(void)state;
	CHECK_REFUSED(j->fps = 0, "fps 0 is not allowed: it must be from 1 to 120");
	CHECK_REFUSED(j->fps = 121, "fps 121 is not allowed: it must be from 1 to 120");
}

static void test_frames_at_operator_cap_is_accepted(void **state)
{
	(void)state;
	CHECK_OK(j->frames = 36000);
	CHECK_OK(j->frames = 1);
}

static void test_frames_above_operator_cap_is_rejected_with_cap(void **state)
{
	(void)state;
	CHECK_REFUSED(j->frames = 36001, "frames 36001 is above the operator's cap of 36000");
	CHECK_REFUSED(j->frames = 50000, "frames 50000 is above the operator's cap of 36000");
}

static void test_negative_frames_are_rejected(void **state)
{
	(void)state;
	CHECK_REFUSED(j->frames = -1, "frames -1 is not allowed: it must be at least 1");
}

static void test_default_frames_above_a_small_cap_are_rejected(void **state)
{
	(void)state;
	cfg.max_frames = 100;
	CHECK_REFUSED(j->fps = 30, "frames 150 is above the operator's cap of 100");
	CHECK_OK(j->fps = 20);
}

/* ---- pix_fmt, format, crf, preset ---- */

static void test_every_listed_pix_fmt_is_accepted(void **state)
{
	static const char *fmts[] = {"rgb24", "rgba", "bgr24", "gray", "yuv420p"};

	(void)state;
	for (size_t i = 0; i < 5; i++)
		CHECK_OK(snprintf(j->pix_fmt, sizeof(j->pix_fmt), "%s", fmts[i]));
}

static void test_unknown_pix_fmt_is_rejected_with_list(void **state)
{
	(void)state;
	CHECK_REFUSED(snprintf(j->pix_fmt, sizeof(j->pix_fmt), "yuv444p"),
		      "unknown pix_fmt 'yuv444p'; known: rgb24, rgba, bgr24, gray, yuv420p");
}

static void test_mp4_webm_gif_are_accepted(void **state)
{
	(void)state;
	CHECK_OK(snprintf(j->format, sizeof(j->format), "mp4"));
	CHECK_OK(snprintf(j->format, sizeof(j->format), "webm"));
	CHECK_OK(snprintf(j->format, sizeof(j->format), "gif"));
}

static void test_unknown_format_is_rejected_with_list(void **state)
{
	(void)state;
	CHECK_REFUSED(snprintf(j->format, sizeof(j->format), "mkv"),
		      "unknown format 'mkv'; known: mp4, webm, gif");
}

static void test_mp4_crf_0_and_51_are_accepted(void **state)
{
	(void)state;
	CHECK_OK(j->crf = 0);
	CHECK_OK(j->crf = 51);
}

static void test_mp4_crf_52_is_rejected_with_range(void **state)
{
	(void)state;
	CHECK_REFUSED(j->crf = 52, "crf 52 is not allowed for mp4: it must be from 0 to 51");
	CHECK_REFUSED(j->crf = -2, "crf -2 is not allowed for mp4");
}

static void test_webm_crf_63_is_accepted_and_64_rejected(void **state)
{
	(void)state;
	CHECK_OK((snprintf(j->format, sizeof(j->format), "webm"), j->crf = 63));
	CHECK_REFUSED((snprintf(j->format, sizeof(j->format), "webm"), j->crf = 64),
		      "crf 64 is not allowed for webm: it must be from 0 to 63");
}

static void test_gif_ignores_crf(void **state)
{
	(void)state;
	CHECK_OK((snprintf(j->format, sizeof(j->format), "gif"), j->crf = 99));
}

/* A document {"format": "gif", "crf": 999} passed admission and then failed in the
 * encoder on every worker. Ignored means gone: the resolved job (and the document
 * submit writes from it) carries no crf at all. */
static void test_gif_with_any_crf_resolves_without_crf(void **state)
{
	static const char doc[] = "{\"script\":\"x\",\"script_name\":\"r.py\","
				  "\"format\":\"gif\",\"crf\":999}";
	struct job g;
	char *out;

	(void)state;
	job_init(&g);
	assert_int_equal(job_from_json(&g, doc, strlen(doc), err, sizeof(err)), 0);
	assert_int_equal(g.crf, 999);
	assert_accepted(&g);
	assert_int_equal(g.crf, -1);
	out = job_to_json(&g);
	assert_non_null(out);
	assert_null(strstr(out, "crf"));
	free(out);
	job_free(&g);
	/* The same value for a format that has a crf is refused with its range. */
	CHECK_REFUSED((snprintf(j->format, sizeof(j->format), "mp4"), j->crf = 999),
		      "crf 999 is not allowed for mp4: it must be from 0 to 51");
}

static void test_every_x264_preset_is_accepted(void **state)
{
	static const char *presets[] = {"ultrafast", "superfast", "veryfast", "faster",
					"fast",	     "medium",	  "slow",     "slower",
					"veryslow",  "placebo"};

	(void)state;
	for (size_t i = 0; i < 10; i++)
		CHECK_OK(snprintf(j->preset, sizeof(j->preset), "%s", presets[i]));
}

static void test_unknown_preset_is_rejected_with_list(void **state)
{
	(void)state;
	CHECK_REFUSED(snprintf(j->preset, sizeof(j->preset), "turbo"),
		      "unknown preset 'turbo'; known: ultrafast, superfast");
}

/* ---- runtime and script ---- */

static void test_unknown_runtime_is_rejected_with_known_names(void **state)
{
	(void)state;
	CHECK_REFUSED(snprintf(j->runtime, sizeof(j->runtime), "ruby"),
		      "unknown runtime 'ruby'; known: python3, sh, node, lua");
}

static void test_runtime_comes_from_script_extension(void **state)
{
	static const char *names[][2] = {
	    {"a.py", "python3"}, {"a.sh", "sh"}, {"a.js", "node"}, {"a.lua", "lua"}};
	struct job j;

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		make_job(&j);
		snprintf(j.script_name, sizeof(j.script_name), "%s", names[i][0]);
		assert_accepted(&j);
		assert_string_equal(j.runtime, names[i][1]);
		job_free(&j);
	}
}

static void test_explicit_runtime_wins_over_extension(void **state)
{
	struct job j;

	(void)state;
	make_job(&j);
	snprintf(j.runtime, sizeof(j.runtime), "sh");
	assert_accepted(&j);
	assert_string_equal(j.runtime, "sh");
	assert_string_equal(j.script_name, "render.py");
	job_free(&j);
}

static void test_unknown_extension_without_runtime_is_rejected(void **state)
{
	(void)state;
	CHECK_REFUSED(snprintf(j->script_name, sizeof(j->script_name), "render.rb"),
		      "cannot tell the runtime of 'render.rb' from its extension");
	CHECK_REFUSED(j->script_name[0] = '\0', "names neither a runtime nor a script_name");
}

static void test_script_name_defaults_from_runtime(void **state)
{
	struct job j;

	(void)state;
	make_job(&j);
	j.script_name[0] = '\0';
	snprintf(j.runtime, sizeof(j.runtime), "lua");
	assert_accepted(&j);
	assert_string_equal(j.script_name, "script.lua");
	job_free(&j);
}

static void test_missing_or_empty_script_is_rejected(void **state)
{
	(void)state;
	CHECK_REFUSED((free(j->script), j->script = NULL, j->script_len = 0), "has no script");
	CHECK_REFUSED(j->script_len = 0, "has no script");
}

static void test_script_at_size_cap_is_accepted_and_one_byte_more_rejected(void **state)
{
	struct job j;

	(void)state;
	make_job(&j);
	free(j.script);
	j.script = calloc(1, cfg.max_script_bytes + 2);
	assert_non_null(j.script);
	memset(j.script, '#', cfg.max_script_bytes + 1);
	j.script_len = cfg.max_script_bytes;
	assert_accepted(&j);
	j.script_len = cfg.max_script_bytes + 1;
	assert_refused(&j,
		       "the script is 1048577 bytes, above the operator's cap of 1048576 bytes");
	job_free(&j);
}

static void test_unsafe_script_names_are_rejected(void **state)
{
	static const char *bad[] = {"../x.py", "a/b.py", ".hidden.py", ".",
				    "..",      "x\n.py", "\x1b[2J.py", "caf\xc3\xa9.py"};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		CHECK_REFUSED(snprintf(j->script_name, sizeof(j->script_name), "%s", bad[i]),
			      "is not allowed: use a plain file name");
}

static void test_script_name_of_127_bytes_with_spaces_is_accepted(void **state)
{
	(void)state;
	CHECK_OK((memset(j->script_name, 'a', 124), memcpy(j->script_name + 124, ".py", 4)));
	CHECK_OK(snprintf(j->script_name, sizeof(j->script_name), "my render-v2.py"));
}

static void test_control_bytes_are_not_echoed_in_errors(void **state)
{
	(void)state;
	CHECK_REFUSED(snprintf(j->runtime, sizeof(j->runtime), "ru\x1b[31mby"),
		      "unknown runtime 'ru?[31mby'");
}

/* ---- limits ---- */

static void test_limits_at_operator_maxima_are_accepted(void **state)
{
	(void)state;
	CHECK_OK(j->limits = ((struct job_limits){600, 4096, 256, 1024, 2.0}));
}

static void test_limits_at_the_sandbox_minima_are_accepted(void **state)
{
	(void)state;
	CHECK_OK(j->limits = ((struct job_limits){1, 32, 8, 1, 0.01}));
}

/* limits.pids 1 passed admission, then the sandbox could not even create its
 * namespaces: three host failures and dead. Each limit has a floor, refused once
 * with the reason. */
static void test_limits_below_the_sandbox_minima_are_refused_with_the_minimum(void **state)
{
	(void)state;
	CHECK_REFUSED(j->limits.pids = 1, "pids 1 is below the minimum of 8: the sandbox's init");
	CHECK_REFUSED(j->limits.pids = 7, "pids 7 is below the minimum of 8");
	CHECK_REFUSED(j->limits.memory_mb = 1, "memory 1 MB is below the minimum of 32 MB");
	CHECK_REFUSED(j->limits.memory_mb = 31, "memory 31 MB is below the minimum of 32 MB");
	CHECK_REFUSED(j->limits.cpus = 0.001,
		      "cpus 0.001 is not allowed: it must be at least 0.01");
	/* A default below a minimum (an operator's config) is refused the same way. */
	cfg.defaults.timeout_s = 0;
	CHECK_REFUSED((void)j, "timeout 0 s is below the minimum of 1 s");
	cfg.defaults.timeout_s = 60;
	cfg.defaults.scratch_mb = 0;
	CHECK_REFUSED((void)j, "scratch 0 MB is below the minimum of 1 MB");
}

/* The same floors apply to a document a producer wrote into the stream: the worker's
 * admission is job_from_json + job_resolve. */
static void test_a_document_below_a_minimum_is_refused_by_admission(void **state)
{
	static const char doc[] = "{\"script\":\"x\",\"script_name\":\"r.sh\","
				  "\"limits\":{\"pids\":1}}";
	struct job j;

	(void)state;
	job_init(&j);
	assert_int_equal(job_from_json(&j, doc, strlen(doc), err, sizeof(err)), 0);
	assert_refused(&j, "pids 1 is below the minimum of 8");
	job_free(&j);
}

static void test_limit_above_maximum_is_rejected_with_both_numbers(void **state)
{
	(void)state;
	CHECK_REFUSED(j->limits.timeout_s = 601,
		      "timeout 601 s is above the operator's maximum of 600 s");
	CHECK_REFUSED(j->limits.memory_mb = 4097,
		      "memory 4097 MB is above the operator's maximum of 4096 MB");
	CHECK_REFUSED(j->limits.memory_mb = 8192,
		      "memory 8192 MB is above the operator's maximum of 4096 MB");
	CHECK_REFUSED(j->limits.pids = 257, "pids 257 is above the operator's maximum of 256");
	CHECK_REFUSED(j->limits.scratch_mb = 1025,
		      "scratch 1025 MB is above the operator's maximum of 1024 MB");
	CHECK_REFUSED(j->limits.cpus = 2.5, "cpus 2.5 is above the operator's maximum of 2");
}

static void test_nonpositive_cpus_are_rejected(void **state)
{
	(void)state;
	CHECK_REFUSED(j->limits.cpus = -1, "cpus -1 is not allowed: it must be at least 0.01");
	CHECK_REFUSED(j->limits.cpus = NAN, "is not allowed: it must be at least 0.01");
}

static void test_zero_limits_take_operator_defaults(void **state)
{
	struct job j;

	(void)state;
	cfg.defaults.memory_mb = 700;
	make_job(&j);
	j.limits.pids = 10;
	assert_accepted(&j);
	assert_int_equal(j.limits.memory_mb, 700);
	assert_int_equal(j.limits.pids, 10);
	job_free(&j);
}

static void test_retries_below_max_attempts_are_accepted(void **state)
{
	(void)state;
	CHECK_OK(j->retries = 2);
	CHECK_REFUSED(j->retries = 3, "retries 3 is not allowed: it must be from 0 to 2");
	CHECK_REFUSED(j->retries = -1, "retries -1 is not allowed");
}

/* ---- id ---- */

static void test_plain_ids_are_accepted(void **state)
{
	(void)state;
	CHECK_OK(snprintf(j->id, sizeof(j->id), "clip-42_A"));
	CHECK_OK(memset(j->id, 'a', 63));
	assert_int_equal(job_check_id("0", err, sizeof(err)), 0);
}

static void test_ids_that_could_escape_the_output_dir_are_rejected(void **state)
{
	static const char *bad[] = {"../x", "a/b",	   ".hidden", "..",	    "x y",
				    "x\n",  "caf\xc3\xa9", "a.mp4",   "/etc/passwd"};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		CHECK_REFUSED(snprintf(j->id, sizeof(j->id), "%s", bad[i]), "is not allowed");
		assert_int_equal(job_check_id(bad[i], err, sizeof(err)), -EINVAL);
	}
	assert_int_equal(job_check_id("", err, sizeof(err)), -EINVAL);
	assert_err_has("id '' is not allowed: use 1 to 63 letters, digits, '_' or '-'");
	assert_int_equal(job_check_id("../x", err, sizeof(err)), -EINVAL);
	assert_err_has("id '../x' is not allowed");
}

static void test_id_of_64_chars_is_rejected(void **state)
{
	char id[65];

	(void)state;
	memset(id, 'a', 64);
	id[64] = '\0';
	assert_int_equal(job_check_id(id, err, sizeof(err)), -EINVAL);
	/* A struct id filled to the brim without a NUL is refused, not overread. */
	CHECK_REFUSED(memset(j->id, 'a', sizeof(j->id)), "use 1 to 63 letters");
}

/* ---- job_parse_size ---- */

static void test_parse_size_reads_w_x_h(void **state)
{
	int w = 0, h = 0;

	(void)state;
	assert_int_equal(job_parse_size("1280x720", &w, &h), 0);
	assert_int_equal(w, 1280);
	assert_int_equal(h, 720);
	assert_int_equal(job_parse_size("2147483647x2", &w, &h), 0);
	assert_int_equal(w, 2147483647);
	assert_int_equal(job_parse_size("0x0", &w, &h), 0);
}

static void test_parse_size_rejects_anything_else(void **state)
{
	static const char *bad[] = {
	    "",		 "1280",	 "1280x",	  "x720",  "1280X720",
	    "1280x720x", " 1280x720",	 "1280x720 ",	  "-2x4",  "+2x4",
	    "1280*720",	 "2147483648x2", "2x99999999999", "1e3x2", "0x10x"};
	int w = -7, h = -7;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		if (job_parse_size(bad[i], &w, &h) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
	assert_int_equal(job_parse_size(NULL, &w, &h), -EINVAL);
	assert_int_equal(w, -7);
}

/* ---- JSON ---- */

static int from_json(struct job *j, const char *doc)
{
	err[0] = '\0';
	return job_from_json(j, doc, strlen(doc), err, sizeof(err));
}

static void assert_json_refused(const char *doc, const char *want)
{
	struct job j;

	job_init(&j);
	if (from_json(&j, doc) != -EINVAL)
		fail_msg("accepted: %s", doc);
	assert_err_has(want);
	assert_null(j.script);
	job_free(&j);
}

static void test_json_round_trip_keeps_every_field(void **state)
{
	static const char script[] = "print(\"h\\u00e9\")\n\ttab \xc3\xa9 \xf0\x9f\x8e\xac\0nul";
	struct job a, b;
	char *doc;

	(void)state;
	job_init(&a);
	snprintf(a.id, sizeof(a.id), "job-1");
	a.script = malloc(sizeof(script));
	memcpy(a.script, script, sizeof(script));
	a.script_len = sizeof(script) - 1;
	snprintf(a.script_name, sizeof(a.script_name), "render.py");
	snprintf(a.runtime, sizeof(a.runtime), "python3");
	a.width = 640;
	a.height = 360;
	a.fps = 25;
	a.frames = 99;
	snprintf(a.pix_fmt, sizeof(a.pix_fmt), "rgba");
	snprintf(a.format, sizeof(a.format), "webm");
	a.crf = 33;
	snprintf(a.preset, sizeof(a.preset), "veryfast");
	a.limits = (struct job_limits){7, 300, 20, 32, 0.1};
	a.retries = 2;

	doc = job_to_json(&a);
	assert_non_null(doc);
	job_init(&b);
	if (from_json(&b, doc))
		fail_msg("%s: %s", err, doc);
	assert_string_equal(b.id, a.id);
	assert_int_equal(b.script_len, a.script_len);
	assert_memory_equal(b.script, a.script, a.script_len);
	assert_string_equal(b.script_name, a.script_name);
	assert_string_equal(b.runtime, a.runtime);
	assert_int_equal(b.width, 640);
	assert_int_equal(b.height, 360);
	assert_int_equal(b.fps, 25);
	assert_int_equal(b.frames, 99);
	assert_string_equal(b.pix_fmt, "rgba");
	assert_string_equal(b.format, "webm");
	assert_int_equal(b.crf, 33);
	assert_string_equal(b.preset, "veryfast");
	assert_memory_equal(&b.limits, &a.limits, sizeof(a.limits));
	assert_int_equal(b.retries, 2);
	free(doc);
	job_free(&a);
	job_free(&b);
}

static void test_json_leaves_out_unset_fields_and_reads_them_back_unset(void **state)
{
	struct job a, b;
	char *doc;

	(void)state;
	make_job(&a);
	doc = job_to_json(&a);
	assert_non_null(doc);
	assert_null(strstr(doc, "\"crf\""));
	assert_null(strstr(doc, "\"frames\""));
	assert_null(strstr(doc, "\"limits\""));
	assert_null(strstr(doc, "\"id\""));
	job_init(&b);
	assert_int_equal(from_json(&b, doc), 0);
	assert_int_equal(b.crf, -1);
	assert_int_equal(b.frames, 0);
	assert_int_equal(b.limits.memory_mb, 0);
	assert_string_equal(b.runtime, "");
	assert_accepted(&b);
	assert_int_equal(b.frames, 150);
	free(doc);
	job_free(&a);
	job_free(&b);
}

static void test_json_from_a_producer_is_read(void **state)
{
	struct job j;

	(void)state;
	job_init(&j);
	assert_int_equal(from_json(&j, "{\"id\": \"abc\", \"script\": \"echo hi\\n\", "
				       "\"script_name\": \"r.sh\", \"size\": \"64x48\", "
				       "\"fps\": 10, \"frames\": 10, \"limits\": {\"cpus\": 1}}"),
			 0);
	assert_string_equal(j.id, "abc");
	assert_string_equal(j.script, "echo hi\n");
	assert_int_equal(j.width, 64);
	assert_int_equal(j.height, 48);
	assert_true(j.limits.cpus == 1.0);
	assert_accepted(&j);
	assert_string_equal(j.runtime, "sh");
	job_free(&j);
}

static void test_json_replaces_a_filled_job_without_leaking(void **state)
{
	struct job j;

	(void)state;
	make_job(&j);
	assert_int_equal(from_json(&j, "{\"script\": \"x\"}"), 0);
	assert_string_equal(j.script, "x");
	assert_string_equal(j.script_name, "");
	job_free(&j);
}

static void test_bad_json_is_rejected_with_line_and_column(void **state)
{
	(void)state;
	assert_json_refused("{\"width\": 12", "the job is not valid JSON: line 1, column");
	assert_json_refused("{\"a\":1}\n{}", "not valid JSON: line 2");
	assert_json_refused("", "not valid JSON");
	assert_json_refused("[1, 2]", "the job must be a JSON object, not an array");
}

static void test_unknown_field_is_rejected_by_name(void **state)
{
	(void)state;
	assert_json_refused("{\"script\": \"x\", \"colour\": \"red\"}",
			    "unknown field 'colour' in the job; known: id, script");
	assert_json_refused("{\"limits\": {\"disk\": 5}}", "unknown field 'limits.disk'");
}

static void test_duplicate_field_is_rejected(void **state)
{
	(void)state;
	assert_json_refused("{\"id\": \"a\", \"id\": \"../b\"}", "duplicate");
}

static void test_wrong_types_are_rejected_with_expected_type(void **state)
{
	(void)state;
	assert_json_refused("{\"width\": \"1280\"}", "'width' must be an integer, not a string");
	assert_json_refused("{\"fps\": 29.98}", "'fps' 29.98 is not a rate");
	assert_json_refused("{\"fps\": true}", "'fps' must be a number or a string");
	assert_json_refused("{\"script\": 5}", "'script' must be a string, not a number");
	assert_json_refused("{\"id\": null}", "'id' must be a string, not null");
	assert_json_refused("{\"crf\": true}", "'crf' must be an integer, not a boolean");
	assert_json_refused("{\"limits\": []}", "'limits' must be an object, not an array");
	assert_json_refused("{\"limits\": {\"cpus\": \"2\"}}", "'limits.cpus' must be a number");
	assert_json_refused("{\"size\": 5}", "'size' must be a string like \"1280x720\"");
}

static void test_out_of_range_numbers_are_rejected(void **state)
{
	(void)state;
	assert_json_refused("{\"width\": 99999999999}", "'width' 99999999999 is out of range");
	assert_json_refused("{\"height\": -2}", "'height' -2 is out of range");
	assert_json_refused("{\"frames\": 0}", "'frames' 0 is out of range: it must be from 1");
	assert_json_refused("{\"crf\": -1}", "'crf' -1 is out of range");
	assert_json_refused("{\"retries\": -1}", "'retries' -1 is out of range");
	assert_json_refused("{\"limits\": {\"memory\": 0}}", "'limits.memory' 0 is out of range");
	assert_json_refused("{\"limits\": {\"memory\": 4294967296}}",
			    "'limits.memory' 4294967296 is out of range");
	assert_json_refused("{\"limits\": {\"cpus\": 0}}",
			    "'limits.cpus' must be a number above 0");
	assert_json_refused("{\"fps\": 1e400}", "not valid JSON");
}

static void test_json_values_past_operator_maxima_fail_resolve(void **state)
{
	struct job j;

	(void)state;
	job_init(&j);
	assert_int_equal(from_json(&j, "{\"script\": \"x\", \"runtime\": \"sh\", "
				       "\"limits\": {\"memory\": 8192}}"),
			 0);
	assert_refused(&j, "memory 8192 MB is above the operator's maximum of 4096 MB");
	job_free(&j);
}

static void test_json_size_and_width_together_are_rejected(void **state)
{
	(void)state;
	assert_json_refused("{\"size\": \"64x48\", \"width\": 64}", "both 'size' and 'width'");
	assert_json_refused("{\"size\": \"64 x 48\"}",
			    "'size' must be a string like \"1280x720\", not '64 x 48'");
}

static void test_json_id_escape_attempts_are_rejected(void **state)
{
	char doc[256];

	(void)state;
	assert_json_refused("{\"id\": \"../x\"}", "id '../x' is not allowed");
	assert_json_refused("{\"id\": \"a/b\"}", "id 'a/b' is not allowed");
	assert_json_refused("{\"id\": \".hidden\"}", "id '.hidden' is not allowed");
	assert_json_refused("{\"id\": \"\"}", "'id' must be a string of 1 to 63 bytes");
	assert_json_refused("{\"id\": \"a\\u0000b\"}", "without NUL");
	snprintf(doc, sizeof(doc), "{\"id\": \"%064d\"}", 0);
	assert_json_refused(doc, "'id' must be a string of 1 to 63 bytes");
	snprintf(doc, sizeof(doc), "{\"id\": \"%063d\"}", 0);
	{
		struct job j;
		job_init(&j);
		assert_int_equal(from_json(&j, doc), 0);
		job_free(&j);
	}
}

static void test_json_long_strings_are_rejected_not_truncated(void **state)
{
	char doc[512], name[129];

	(void)state;
	memset(name, 'a', 128);
	name[128] = '\0';
	snprintf(doc, sizeof(doc), "{\"script_name\": \"%s\"}", name);
	assert_json_refused(doc, "'script_name' must be a string of 1 to 127 bytes");
	assert_json_refused("{\"pix_fmt\": \"rgb24rgb24rgb24rg\"}",
			    "'pix_fmt' must be a string of 1 to 15");
	assert_json_refused("{\"runtime\": \"py\\u0000thon\"}", "without NUL");
}

static void test_failed_json_leaves_the_job_as_it_was(void **state)
{
	struct job j;

	(void)state;
	make_job(&j);
	assert_int_equal(from_json(&j, "{\"script\": \"y\", \"width\": \"x\"}"), -EINVAL);
	assert_string_equal(j.script_name, "render.py");
	assert_non_null(strstr(j.script, "sys.stdout"));
	job_free(&j);
}

static void test_to_json_refuses_a_script_that_is_not_utf8(void **state)
{
	struct job j;

	(void)state;
	make_job(&j);
	set_script(&j, "print('\xff')\n");
	errno = 0;
	assert_null(job_to_json(&j));
	assert_int_equal(errno, EILSEQ);
	job_free(&j);
}

/* ---- prompt jobs: "prompt" instead of "script", exactly one ---- */

static void pj_from_json(struct job *j, const char *doc, int want)
{
	err[0] = '\0';
	job_init(j);
	assert_int_equal(job_from_json(j, doc, strlen(doc), err, sizeof(err)), want);
}

static void test_prompt_job_resolves_without_a_script_and_round_trips(void **state)
{
	struct job j, back;
	char *doc;
	(void)state;
	pj_from_json(&j, "{\"prompt\": \"a bar chart\", \"size\": \"64x48\"}", 0);
	assert_accepted(&j);
	assert_null(j.script);
	assert_string_equal(j.prompt, "a bar chart");
	assert_string_equal(j.runtime, ""); /* each attempt's answer names it */
	assert_string_equal(j.script_name, "");
	doc = job_to_json(&j);
	assert_non_null(doc);
	pj_from_json(&back, doc, 0);
	assert_string_equal(back.prompt, "a bar chart");
	assert_null(back.script);
	free(doc);
	job_free(&j);
	job_free(&back);
}

static void test_prompt_and_script_together_are_refused(void **state)
{
	struct job j;
	(void)state;
	pj_from_json(&j, "{\"prompt\": \"x\", \"script\": \"print(1)\", \"runtime\": \"python3\"}",
		     0);
	assert_refused(&j, "both a script and a prompt; give exactly one");
	job_free(&j);
}

static void test_neither_prompt_nor_script_names_both(void **state)
{
	struct job j;
	(void)state;
	pj_from_json(&j, "{\"runtime\": \"python3\"}", 0);
	assert_refused(&j, "no script");
	assert_err_has("prompt");
	job_free(&j);
}

static void test_prompt_bounds_and_text_are_checked(void **state)
{
	struct job j;
	char *big = malloc(JOB_PROMPT_MAX + 2);
	(void)state;
	assert_non_null(big);
	memset(big, 'a', JOB_PROMPT_MAX + 1);
	big[JOB_PROMPT_MAX + 1] = '\0';
	job_init(&j);
	j.prompt = big;
	j.prompt_len = JOB_PROMPT_MAX + 1;
	assert_refused(&j, "16384 bytes");
	j.prompt_len = JOB_PROMPT_MAX; /* at the cap: taken */
	big[JOB_PROMPT_MAX] = '\0';
	assert_accepted(&j);
	j.prompt[3] = '\0'; /* NUL inside */
	assert_refused(&j, "without NUL");
	j.prompt[3] = (char)0xff; /* not UTF-8 */
	assert_refused(&j, "UTF-8");
	job_free(&j);
	pj_from_json(&j, "{\"prompt\": \"\"}", 0);
	assert_refused(&j, "1 to 16384 bytes");
	job_free(&j);
	pj_from_json(&j, "{\"prompt\": 7}", -EINVAL);
	assert_err_has("'prompt' must be a string");
}

static void test_prompt_job_runtime_must_be_known(void **state)
{
	struct job j;
	(void)state;
	pj_from_json(&j, "{\"prompt\": \"x\", \"runtime\": \"ruby\"}", 0);
	assert_refused(&j, "unknown runtime 'ruby'");
	job_free(&j);
	pj_from_json(&j, "{\"prompt\": \"x\", \"runtime\": \"sh\"}", 0);
	assert_accepted(&j);
	assert_string_equal(j.runtime, "sh");
	job_free(&j);
}

/* ---- exact rates and codecs (issue 15) ---- */

static void expect_fps(const char *text, int num, int den)
{
	int n = -1, d = -1;

	if (job_parse_fps(text, &n, &d) < 0)
		fail_msg("'%s' was refused", text);
	if (n != num || d != den)
		fail_msg("'%s' gave %d/%d, not %d/%d", text, n, d, num, den);
}

static void test_fps_takes_whole_fractions_and_the_ntsc_decimals(void **state)
{
	(void)state;
	expect_fps("30", 30, 1);
	expect_fps("30000/1001", 30000, 1001);
	expect_fps("29.97", 30000, 1001);
	expect_fps("23.976", 24000, 1001);
	expect_fps("59.94", 60000, 1001);
	expect_fps("119.88", 120000, 1001);
	expect_fps("29.970", 30000, 1001);
	expect_fps("25.0", 25, 1);
	expect_fps("1/0", 1, 0); /* a rate's form; job_resolve names the zero */
}

static void test_fps_other_decimals_and_junk_are_refused(void **state)
{
	static const char *const bad[] = {"29.98",	"29.9",		"23.98", "30.",	   ".5",
					  "-30",	"30/",		"/1001", "3e1",	   "30 ",
					  "2147483648", "1/2147483648", "",	 "29.97.1"};
	int n, d;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (job_parse_fps(bad[i], &n, &d) == 0)
			fail_msg("'%s' was taken as %d/%d", bad[i], n, d);
}

static void test_fps_rates_resolve_reduced_and_frames_round_up(void **state)
{
	struct job j;

	(void)state;
	make_job(&j);
	j.fps = 30000, j.fps_den = 1001;
	assert_accepted(&j);
	assert_int_equal(j.frames, 150); /* ceil(149.85) */
	job_free(&j);
	make_job(&j);
	j.fps = 24000, j.fps_den = 1001;
	assert_accepted(&j);
	assert_int_equal(j.frames, 120); /* ceil(119.88) */
	job_free(&j);
	make_job(&j);
	j.fps = 60, j.fps_den = 2;
	assert_accepted(&j);
	assert_int_equal(j.fps, 30);
	assert_int_equal(j.fps_den, 1);
	assert_int_equal(j.frames, 150);
	job_free(&j);
}

static void test_fps_out_of_range_rates_are_refused_with_a_sentence(void **state)
{
	(void)state;
	CHECK_REFUSED((j->fps = 1, j->fps_den = 0), "fps 1/0 is not a rate: the denominator");
	CHECK_REFUSED((j->fps = 0, j->fps_den = 1),
		      "fps 0 is not allowed: it must be from 1 to 120");
	CHECK_REFUSED((j->fps = 1, j->fps_den = 2),
		      "fps 1/2 is not allowed: it must be from 1 to 120");
	CHECK_REFUSED((j->fps = 120001, j->fps_den = 1000), "fps 120001/1000 is not allowed");
	CHECK_REFUSED((j->fps = 100000, j->fps_den = 1003),
		      "fps 100000/1003 is not allowed: the denominator must be at most 1001");
	CHECK_OK((j->fps = 120000, j->fps_den = 1001));
}

static void test_fps_json_takes_numbers_and_strings_and_writes_them_back(void **state)
{
	struct job a, b;
	char *doc;

	(void)state;
	job_init(&a);
	assert_int_equal(from_json(&a, "{\"fps\": \"30000/1001\"}"), 0);
	assert_int_equal(a.fps, 30000);
	assert_int_equal(a.fps_den, 1001);
	doc = job_to_json(&a);
	assert_non_null(doc);
	assert_non_null(strstr(doc, "\"fps\":\"30000/1001\""));
	job_init(&b);
	assert_int_equal(from_json(&b, doc), 0);
	assert_int_equal(b.fps, 30000);
	assert_int_equal(b.fps_den, 1001);
	free(doc);
	assert_int_equal(from_json(&a, "{\"fps\": 29.97}"), 0);
	assert_int_equal(a.fps, 30000);
	assert_int_equal(a.fps_den, 1001);
	assert_int_equal(from_json(&a, "{\"fps\": \"59.94\"}"), 0);
	assert_int_equal(a.fps, 60000);
	assert_int_equal(from_json(&a, "{\"fps\": 25}"), 0);
	assert_int_equal(a.fps, 25);
	assert_int_equal(a.fps_den, 1);
	doc = job_to_json(&a);
	assert_non_null(strstr(doc, "\"fps\":25"));
	free(doc);
	job_free(&a);
	job_free(&b);
	assert_json_refused("{\"fps\": \"29.98\"}", "'fps' 29.98 is not a rate");
	assert_json_refused("{\"fps\": \"30/x\"}", "is not a rate");
	assert_json_refused("{\"fps\": [30]}", "'fps' must be a number or a string");
	assert_json_refused("{\"fps\": -1}", "'fps' -1 is out of range");
}

static void test_codec_must_be_known_and_fit_the_format(void **state)
{
	(void)state;
	CHECK_REFUSED(snprintf(j->codec, sizeof(j->codec), "nope"),
		      "unknown codec 'nope'; known: h264, hevc, vp9, av1, prores");
	CHECK_REFUSED((snprintf(j->codec, sizeof(j->codec), "av1"),
		       snprintf(j->format, sizeof(j->format), "gif")),
		      "codec av1 cannot go in .gif; .gif takes gif");
	CHECK_REFUSED((snprintf(j->codec, sizeof(j->codec), "hevc"),
		       snprintf(j->format, sizeof(j->format), "webm")),
		      "codec hevc cannot go in .webm; .webm takes vp9, av1");
	CHECK_REFUSED((snprintf(j->codec, sizeof(j->codec), "vp9"),
		       snprintf(j->format, sizeof(j->format), "mov")),
		      "codec vp9 cannot go in .mov; .mov takes prores");
	CHECK_REFUSED((snprintf(j->codec, sizeof(j->codec), "av1"), j->width = 32, j->height = 32),
		      "size 32x32 is too small for av1");
	CHECK_OK(snprintf(j->codec, sizeof(j->codec), "h264"));
	CHECK_OK(snprintf(j->format, sizeof(j->format), "mov"));
}

/* crf follows the codec: 0..63 for AV1 even in .mp4; ProRes has none and ignores it. */
static void test_crf_range_follows_the_codec(void **state)
{
	struct job m;

	(void)state;
	CHECK_REFUSED(j->crf = 52, "crf 52 is not allowed for mp4: it must be from 0 to 51");
	make_job(&m);
	snprintf(m.format, sizeof(m.format), "mov");
	m.crf = 40;
	assert_accepted(&m);
	assert_int_equal(m.crf, -1);
	job_free(&m);
	if (render_codec_available(RENDER_CODEC_AV1, err, sizeof(err)) < 0) {
		fprintf(stderr, "skipped the av1 half: %s\n", err);
		return;
	}
	CHECK_OK((snprintf(j->codec, sizeof(j->codec), "av1"), j->crf = 63));
	CHECK_REFUSED((snprintf(j->codec, sizeof(j->codec), "av1"), j->crf = 64),
		      "crf 64 is not allowed for mp4 with av1: it must be from 0 to 63");
}

static void test_audio_names_inside_scratch_are_accepted(void **state)
{
	(void)state;
	CHECK_OK(snprintf(j->audio, sizeof(j->audio), "audio.wav"));
	CHECK_OK(snprintf(j->audio, sizeof(j->audio), "out/a-1_b.WAV"));
	CHECK_OK(snprintf(j->audio, sizeof(j->audio), ".hidden/..x/a..b"));
	CHECK_OK((memset(j->audio, 'a', 255), j->audio[255] = '\0'));
	CHECK_OK((snprintf(j->audio, sizeof(j->audio), "a.wav"),
		  snprintf(j->format, sizeof(j->format), "webm")));
	CHECK_OK((snprintf(j->audio, sizeof(j->audio), "a.wav"),
		  snprintf(j->format, sizeof(j->format), "mov")));
}

static void test_audio_names_that_could_leave_scratch_are_refused(void **state)
{
	static const char *const bad[] = {
	    "../etc/passwd", "/etc/passwd", "a/../b", "./a.wav", "a//b", "a/",		"a b.wav",
	    "a\\b",	     "..",	    ".",      "a/.",	 "a\nb", "\xc3\xa9.wav"};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (job_check_audio_name(bad[i], err, sizeof(err)) != -EINVAL)
			fail_msg("audio '%s' was accepted", bad[i]);
		assert_err_has("is not allowed");
	}
	CHECK_REFUSED(snprintf(j->audio, sizeof(j->audio), "../a.wav"),
		      "without '.' or '..' parts or a leading '/'");
	/* 256 bytes do not fit the field: the document parser refuses it (not cut) */
	char name[300];
	memset(name, 'a', 256);
	name[256] = '\0';
	assert_int_equal(job_check_audio_name(name, err, sizeof(err)), -EINVAL);
	assert_err_has("1 to 255 bytes");
}

static void test_audio_with_gif_or_a_still_is_refused_with_a_sentence(void **state)
{
	(void)state;
	CHECK_REFUSED((snprintf(j->audio, sizeof(j->audio), "a.wav"),
		       snprintf(j->format, sizeof(j->format), "gif")),
		      "gif has no audio track: write .mp4, .webm or .mov to keep audio 'a.wav'");
	CHECK_REFUSED((snprintf(j->audio, sizeof(j->audio), "a.wav"), j->still = 3),
		      "--still writes one PNG frame, which has no sound: leave out --audio");
}

static void test_audio_round_trips_through_json(void **state)
{
	static const char doc[] = "{\"script\": \"x\", \"script_name\": \"r.py\", "
				  "\"audio\": \"out/audio.wav\"}";
	struct job j;
	char *back;

	(void)state;
	job_init(&j);
	assert_int_equal(job_from_json(&j, doc, sizeof(doc) - 1, err, sizeof(err)), 0);
	assert_string_equal(j.audio, "out/audio.wav");
	back = job_to_json(&j);
	assert_non_null(back);
	assert_non_null(strstr(back, "\"audio\": \"out/audio.wav\"")
			    ? back
			    : strstr(back, "\"audio\":\"out/audio.wav\""));
	free(back);
	job_free(&j);
}

/* ---- chunked jobs ---- */

static void test_chunk_ranges_are_even_and_cover_every_frame_once(void **state)
{
	int64_t start, count, next;

	(void)state;
	for (int64_t frames = 2; frames < 200; frames += 7)
		for (int n = 2; n <= 64 && n <= frames; n++) {
			next = 0;
			for (int k = 0; k < n; k++) {
				job_chunk_range(frames, n, k, &start, &count);
				assert_int_equal(start, next);
				assert_true(count == frames / n || count == frames / n + 1);
				next = start + count;
			}
			assert_int_equal(next, frames);
		}
	job_chunk_range(60, 4, 3, &start, &count);
	assert_int_equal(start, 45);
	assert_int_equal(count, 15);
}

static void test_chunks_rules_say_one_sentence_each(void **state)
{
	(void)state;
	CHECK_OK((j->chunks = 4, j->frames = 100));
	CHECK_OK((j->chunks = 2, snprintf(j->format, sizeof(j->format), "webm")));
	CHECK_REFUSED((j->chunks = 4, snprintf(j->format, sizeof(j->format), "gif")),
		      "chunks need format mp4, webm or mov, not gif");
	CHECK_REFUSED((j->chunks = 4, j->frames = 3), "chunks 4 is more than the job's 3 frames");
	CHECK_REFUSED((j->chunks = 2, j->still = 3), "leave out --still");
	CHECK_OK((j->chunks = 2, snprintf(j->audio, sizeof(j->audio), "a.wav")));
	CHECK_REFUSED((j->chunks = 2, snprintf(j->contact_sheet, sizeof(j->contact_sheet), "2x2")),
		      "contact sheet");
	CHECK_REFUSED((j->chunks = 2, memset(j->id, 'a', 60), j->id[60] = '\0'),
		      "may have 59 characters at most");
	CHECK_OK((j->chunks = 2, memset(j->id, 'a', 59), j->id[59] = '\0'));
	/* --frames-per-chunk becomes chunks once frames is known. */
	CHECK_OK((j->frames_per_chunk = 40, j->frames = 100));
	CHECK_REFUSED((j->frames_per_chunk = 100, j->frames = 100),
		      "--frames-per-chunk 100 makes 1 chunks");
}

static void test_chunk_and_join_fields_round_trip_and_are_checked(void **state)
{
	static const char child[] =
	    "{\"script\": \"x\", \"script_name\": \"r.py\", \"frames\": "
	    "40, \"chunk\": {\"parent\": \"p\", \"index\": 1, \"start\": 10, "
	    "\"count\": 10}}";
	static const char past[] =
	    "{\"script\": \"x\", \"script_name\": \"r.py\", \"frames\": "
	    "40, \"chunk\": {\"parent\": \"p\", \"index\": 1, \"start\": 35, "
	    "\"count\": 10}}";
	static const char bad[] = "{\"script\": \"x\", \"chunk\": {\"parent\": \"../x\", "
				  "\"index\": 1, \"start\": 0, \"count\": 1}}";
	static const char both[] = "{\"script\": \"x\", \"script_name\": \"r.py\", \"chunks\": 2, "
				   "\"chunk\": {\"parent\": \"p\", \"index\": 0, \"start\": 0, "
				   "\"count\": 1}}";
	struct job j;
	char *back;

	(void)state;
	job_init(&j);
	assert_int_equal(job_from_json(&j, child, sizeof(child) - 1, err, sizeof(err)), 0);
	assert_int_equal(job_resolve(&j, &cfg, err, sizeof(err)), 0);
	assert_string_equal(j.chunk.parent, "p");
	back = job_to_json(&j);
	assert_non_null(strstr(back, "\"chunk\":{\"parent\":\"p\",\"index\":1,\"start\":10,"
				     "\"count\":10}"));
	free(back);
	job_free(&j);
	job_init(&j);
	assert_int_equal(job_from_json(&j, past, sizeof(past) - 1, err, sizeof(err)), 0);
	assert_int_equal(job_resolve(&j, &cfg, err, sizeof(err)), -EINVAL);
	assert_err_has("past the job's 40 frames");
	job_free(&j);
	job_init(&j);
	assert_int_equal(job_from_json(&j, bad, sizeof(bad) - 1, err, sizeof(err)), -EINVAL);
	job_free(&j);
	job_init(&j);
	assert_int_equal(job_from_json(&j, both, sizeof(both) - 1, err, sizeof(err)), 0);
	assert_int_equal(job_resolve(&j, &cfg, err, sizeof(err)), -EINVAL);
	assert_err_has("cannot have 'chunks' or 'join' too");
	job_free(&j);
	job_init(&j);
	assert_int_equal(
	    job_from_json(&j, "{\"script\": \"x\", \"join\": false}", 30, err, sizeof(err)),
	    -EINVAL);
	assert_err_has("'join' must be true");
	job_free(&j);
}

/* ---- tier ---- */

/* The operator of the issue: both tiers, native by default, prompt jobs and sh in gvisor. */
static void both_tiers_prompt_in_gvisor(void)
{
	cfg.tiers.enabled = TIER_BIT(SANDBOX_TIER_NATIVE) | TIER_BIT(SANDBOX_TIER_GVISOR);
	cfg.tiers.prompt = SANDBOX_TIER_GVISOR;
	cfg.tiers.n_rules = 1;
	snprintf(cfg.tiers.rules[0].runtime, sizeof(cfg.tiers.rules[0].runtime), "sh");
	cfg.tiers.rules[0].tier = SANDBOX_TIER_GVISOR;
}

static void test_tier_field_round_trips_as_asked_not_as_resolved(void **state)
{
	struct job j, back;
	char *doc;

	(void)state;
	both_tiers_prompt_in_gvisor();
	make_job(&j);
	assert_accepted(&j);
	assert_int_equal(j.resolved_tier, SANDBOX_TIER_NATIVE);
	doc = job_to_json(&j);
	/* The worker's operator decides a job that named none, not the producer's. */
	assert_null(strstr(doc, "\"tier\""));
	free(doc);
	snprintf(j.tier, sizeof(j.tier), "gvisor");
	doc = job_to_json(&j);
	assert_non_null(strstr(doc, "\"tier\":\"gvisor\""));
	job_init(&back);
	assert_int_equal(from_json(&back, doc), 0);
	assert_string_equal(back.tier, "gvisor");
	assert_accepted(&back);
	assert_int_equal(back.resolved_tier, SANDBOX_TIER_GVISOR);
	free(doc);
	job_free(&j);
	job_free(&back);
}

static void test_tier_field_type_and_length_are_checked(void **state)
{
	(void)state;
	assert_json_refused("{\"script\": \"x\", \"tier\": 1}", "'tier'");
	assert_json_refused("{\"script\": \"x\", \"tier\": \"firecracker\"}", "'tier'");
	assert_json_refused("{\"script\": \"x\", \"tier\": \"\"}", "'tier'");
}

static void test_tier_rules_apply_in_job_resolve(void **state)
{
	(void)state;
	CHECK_REFUSED(snprintf(j->tier, sizeof(j->tier), "gvisor"),
		      "job asks tier gvisor but the operator does not enable it here");
	CHECK_REFUSED(snprintf(j->tier, sizeof(j->tier), "vm"), "unknown tier 'vm'");
	both_tiers_prompt_in_gvisor();
	CHECK_OK(snprintf(j->tier, sizeof(j->tier), "gvisor"));
	CHECK_REFUSED((snprintf(j->tier, sizeof(j->tier), "native"),
		       snprintf(j->script_name, sizeof(j->script_name), "r.sh")),
		      "job asks tier native but the operator requires gvisor for runtime sh");
}

/* A prompt job's attempt carries no prompt: from_prompt keeps the prompt rule on it. */
static void test_prompt_job_and_its_attempts_get_the_prompt_tier(void **state)
{
	struct job j;

	(void)state;
	both_tiers_prompt_in_gvisor();
	pj_from_json(&j, "{\"prompt\": \"a bar chart\", \"size\": \"64x48\"}", 0);
	assert_accepted(&j);
	assert_int_equal(j.resolved_tier, SANDBOX_TIER_GVISOR);
	job_free(&j);
	pj_from_json(&j, "{\"prompt\": \"a chart\", \"tier\": \"native\"}", 0);
	assert_refused(&j, "job asks tier native but the operator requires gvisor for prompt jobs");
	job_free(&j);
	make_job(&j);
	j.from_prompt = 1;
	assert_accepted(&j);
	assert_int_equal(j.resolved_tier, SANDBOX_TIER_GVISOR);
	job_free(&j);
}

#define T(f) cmocka_unit_test_setup(f, setup)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_chunk_ranges_are_even_and_cover_every_frame_once),
	    T(test_chunks_rules_say_one_sentence_each),
	    T(test_chunk_and_join_fields_round_trip_and_are_checked),
	    T(test_default_job_resolves_to_contract_defaults),
	    T(test_prompt_job_resolves_without_a_script_and_round_trips),
	    T(test_prompt_and_script_together_are_refused),
	    T(test_neither_prompt_nor_script_names_both),
	    T(test_prompt_bounds_and_text_are_checked),
	    T(test_prompt_job_runtime_must_be_known),
	    T(test_frames_default_to_five_seconds_of_fps),
	    T(test_refused_job_is_left_as_it_was),
	    T(test_odd_width_is_rejected_with_reason),
	    T(test_odd_height_is_rejected_with_reason),
	    T(test_odd_size_is_accepted_for_gif_which_has_no_chroma_rule),
	    T(test_huge_odd_size_says_too_large_not_odd),
	    T(test_smallest_size_2x2_is_accepted),
	    T(test_size_below_2_is_rejected_with_minimum),
	    T(test_largest_size_7680x4320_is_accepted),
	    T(test_size_past_7680x4320_is_rejected_with_maximum),
	    T(test_encode_over_the_encoder_memory_maximum_is_refused_up_front),
	    T(test_encoder_memory_grows_with_size_and_preset),
	    T(test_fps_1_and_120_are_accepted),
	    T(test_fps_0_and_121_are_rejected_with_range),
	    T(test_frames_at_operator_cap_is_accepted),
	    T(test_frames_above_operator_cap_is_rejected_with_cap),
	    T(test_negative_frames_are_rejected),
	    T(test_default_frames_above_a_small_cap_are_rejected),
	    T(test_every_listed_pix_fmt_is_accepted),
	    T(test_unknown_pix_fmt_is_rejected_with_list),
	    T(test_mp4_webm_gif_are_accepted),
	    T(test_unknown_format_is_rejected_with_list),
	    T(test_mp4_crf_0_and_51_are_accepted),
	    T(test_mp4_crf_52_is_rejected_with_range),
	    T(test_webm_crf_63_is_accepted_and_64_rejected),
	    T(test_gif_ignores_crf),
	    T(test_gif_with_any_crf_resolves_without_crf),
	    T(test_every_x264_preset_is_accepted),
	    T(test_unknown_preset_is_rejected_with_list),
	    T(test_unknown_runtime_is_rejected_with_known_names),
	    T(test_runtime_comes_from_script_extension),
	    T(test_explicit_runtime_wins_over_extension),
	    T(test_unknown_extension_without_runtime_is_rejected),
	    T(test_script_name_defaults_from_runtime),
	    T(test_missing_or_empty_script_is_rejected),
	    T(test_script_at_size_cap_is_accepted_and_one_byte_more_rejected),
	    T(test_unsafe_script_names_are_rejected),
	    T(test_script_name_of_127_bytes_with_spaces_is_accepted),
	    T(test_control_bytes_are_not_echoed_in_errors),
	    T(test_limits_at_operator_maxima_are_accepted),
	    T(test_limits_at_the_sandbox_minima_are_accepted),
	    T(test_limits_below_the_sandbox_minima_are_refused_with_the_minimum),
	    T(test_a_document_below_a_minimum_is_refused_by_admission),
	    T(test_limit_above_maximum_is_rejected_with_both_numbers),
	    T(test_nonpositive_cpus_are_rejected),
	    T(test_zero_limits_take_operator_defaults),
	    T(test_retries_below_max_attempts_are_accepted),
	    T(test_plain_ids_are_accepted),
	    T(test_ids_that_could_escape_the_output_dir_are_rejected),
	    T(test_id_of_64_chars_is_rejected),
	    T(test_parse_size_reads_w_x_h),
	    T(test_parse_size_rejects_anything_else),
	    T(test_json_round_trip_keeps_every_field),
	    T(test_json_leaves_out_unset_fields_and_reads_them_back_unset),
	    T(test_json_from_a_producer_is_read),
	    T(test_json_replaces_a_filled_job_without_leaking),
	    T(test_bad_json_is_rejected_with_line_and_column),
	    T(test_unknown_field_is_rejected_by_name),
	    T(test_duplicate_field_is_rejected),
	    T(test_wrong_types_are_rejected_with_expected_type),
	    T(test_out_of_range_numbers_are_rejected),
	    T(test_json_values_past_operator_maxima_fail_resolve),
	    T(test_json_size_and_width_together_are_rejected),
	    T(test_json_id_escape_attempts_are_rejected),
	    T(test_json_long_strings_are_rejected_not_truncated),
	    T(test_failed_json_leaves_the_job_as_it_was),
	    T(test_to_json_refuses_a_script_that_is_not_utf8),
	    T(test_fps_takes_whole_fractions_and_the_ntsc_decimals),
	    T(test_fps_other_decimals_and_junk_are_refused),
	    T(test_fps_rates_resolve_reduced_and_frames_round_up),
	    T(test_fps_out_of_range_rates_are_refused_with_a_sentence),
	    T(test_fps_json_takes_numbers_and_strings_and_writes_them_back),
	    T(test_codec_must_be_known_and_fit_the_format),
	    T(test_crf_range_follows_the_codec),
	    T(test_audio_names_inside_scratch_are_accepted),
	    T(test_audio_names_that_could_leave_scratch_are_refused),
	    T(test_audio_with_gif_or_a_still_is_refused_with_a_sentence),
	    T(test_audio_round_trips_through_json),
	    T(test_tier_field_round_trips_as_asked_not_as_resolved),
	    T(test_tier_field_type_and_length_are_checked),
	    T(test_tier_rules_apply_in_job_resolve),
	    T(test_prompt_job_and_its_attempts_get_the_prompt_tier),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
