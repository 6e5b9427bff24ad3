/* test_cli.c - the CLI's job options read their values through the job's field table, so
 * a flag sets what the document's field of the same name sets, within the same range.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli.h"

static int opt_of(const char *flag)
{
	for (size_t i = 0; i < cli_n_job_options; i++)
		if (!strcmp(cli_job_options[i].name, flag))
			return cli_job_options[i].val;
	fail_msg("no job option --%s", flag);
	return -1;
}

static int apply(struct job *job, struct cli_job_args *ja, const char *flag, const char *arg)
{
	return cli_job_option("test", opt_of(flag), arg, job, ja);
}

static void test_every_job_option_sets_its_field(void **state)
{
	struct job job;
	struct cli_job_args ja = {0};

	(void)state;
	job_init(&job);
	assert_int_equal(apply(&job, &ja, "runtime", "python3"), 0);
	assert_int_equal(apply(&job, &ja, "size", "640x360"), 0);
	assert_int_equal(apply(&job, &ja, "fps", "25"), 0);
	assert_int_equal(apply(&job, &ja, "frames", "99"), 0);
	assert_int_equal(apply(&job, &ja, "pix-fmt", "rgba"), 0);
	assert_int_equal(apply(&job, &ja, "crf", "0"), 0);
	assert_int_equal(apply(&job, &ja, "preset", "veryfast"), 0);
	assert_int_equal(apply(&job, &ja, "timeout", "7"), 0);
	assert_int_equal(apply(&job, &ja, "memory", "300"), 0);
	assert_int_equal(apply(&job, &ja, "pids", "20"), 0);
	assert_int_equal(apply(&job, &ja, "scratch", "32"), 0);
	assert_int_equal(apply(&job, &ja, "cpus", "0.25"), 0);
	assert_int_equal(apply(&job, &ja, "duration", "1.5"), 0);
	assert_int_equal(apply(&job, &ja, "config", "/x.json"), 0);
	assert_string_equal(job.runtime, "python3");
	assert_int_equal(job.width, 640);
	assert_int_equal(job.height, 360);
	assert_int_equal(job.fps, 25);
	assert_int_equal(job.frames, 99);
	assert_true(ja.have_frames);
	assert_string_equal(job.pix_fmt, "rgba");
	assert_int_equal(job.crf, 0);
	assert_string_equal(job.preset, "veryfast");
	assert_int_equal(job.limits.timeout_s, 7);
	assert_int_equal(job.limits.memory_mb, 300);
	assert_int_equal(job.limits.pids, 20);
	assert_int_equal(job.limits.scratch_mb, 32);
	assert_true(job.limits.cpus == 0.25);
	assert_true(ja.duration == 1.5);
	assert_string_equal(ja.config_path, "/x.json");
	job_free(&job);
}

/* A refused value is a usage error (said on stderr) and leaves the field alone. */
static void test_values_outside_the_fields_range_are_usage_errors(void **state)
{
	static const char *const bad[][2] = {
	    {"fps", "0"},
	    {"fps", "2147483648"},
	    {"frames", "0"},
	    {"frames", "1e3"},
	    {"crf", "-1"},
	    {"timeout", "0"},
	    {"memory", "4294967296"},
	    {"pids", "8x"},
	    {"scratch", ""},
	    {"cpus", "0"},
	    {"cpus", "inf"},
	    {"duration", "-1"},
	    {"size", "640x"},
	    {"runtime", "a-runtime-name-longer-than-31-bytes"},
	    {"pix-fmt", "rgb24rgb24rgb24rgb24"},
	};
	struct job job;
	struct cli_job_args ja = {0};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		job_init(&job);
		if (apply(&job, &ja, bad[i][0], bad[i][1]) != EXIT_USAGE)
			fail_msg("--%s '%s' was taken", bad[i][0], bad[i][1]);
		assert_int_equal(job.fps, 30);
		assert_int_equal(job.frames, 0);
		assert_int_equal(job.crf, -1);
		assert_int_equal(job.limits.memory_mb, 0);
		assert_string_equal(job.runtime, "");
		job_free(&job);
	}
}

/* The document's upper bounds hold for the flags too. */
static void test_largest_values_the_document_takes_are_taken(void **state)
{
	struct job job;
	struct cli_job_args ja = {0};

	(void)state;
	job_init(&job);
	assert_int_equal(apply(&job, &ja, "memory", "4294967295"), 0);
	assert_int_equal(job.limits.memory_mb, 4294967295u);
	assert_int_equal(apply(&job, &ja, "frames", "9223372036854775807"), 0);
	assert_int_equal(job.frames, INT64_MAX);
	assert_int_equal(apply(&job, &ja, "fps", "2147483647"), 0);
	assert_int_equal(job.fps, 2147483647);
	job_free(&job);
}

/* --fps takes a rate as the document does (job_parse_fps); a refused one leaves the job's
 * rate alone. --codec is a name job_resolve checks. */
static void test_fps_takes_exact_rates_and_codec_a_name(void **state)
{
	static const char *const bad[] = {"29.98", "0", "0/1", "1/0", "30/", "x"};
	struct job job;
	struct cli_job_args ja = {0};

	(void)state;
	job_init(&job);
	assert_int_equal(apply(&job, &ja, "fps", "29.97"), 0);
	assert_int_equal(job.fps, 30000);
	assert_int_equal(job.fps_den, 1001);
	assert_int_equal(apply(&job, &ja, "fps", "24000/1001"), 0);
	assert_int_equal(job.fps, 24000);
	assert_int_equal(job.fps_den, 1001);
	assert_int_equal(apply(&job, &ja, "fps", "25"), 0);
	assert_int_equal(job.fps, 25);
	assert_int_equal(job.fps_den, 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (apply(&job, &ja, "fps", bad[i]) != EXIT_USAGE)
			fail_msg("--fps '%s' was taken", bad[i]);
		assert_int_equal(job.fps, 25);
		assert_int_equal(job.fps_den, 1);
	}
	assert_int_equal(apply(&job, &ja, "codec", "av1"), 0);
	assert_string_equal(job.codec, "av1");
	assert_int_equal(apply(&job, &ja, "codec", "a-codec-name-too-long"), EXIT_USAGE);
	assert_string_equal(job.codec, "av1");
	job_free(&job);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_job_option_sets_its_field),
	    cmocka_unit_test(test_values_outside_the_fields_range_are_usage_errors),
	    cmocka_unit_test(test_largest_values_the_document_takes_are_taken),
	    cmocka_unit_test(test_fps_takes_exact_rates_and_codec_a_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
