/* test_specs.c - a job becomes its sandbox_spec and render_spec in one place
 * (worker/specs.c): the environment, the limits, who owns the wall clock, the
 * encoder's box and threads. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "specs.h"

static const char script[] = "print('hi')\n";

/* A resolved-looking python3 job of 320x180 at 24 fps, 48 frames, 1.5 cpus. */
static void setup(struct config *cfg, struct job *job)
{
	config_defaults(cfg);
	job_init(job);
	snprintf(job->runtime, sizeof(job->runtime), "python3");
	snprintf(job->script_name, sizeof(job->script_name), "clip.py");
	snprintf(job->format, sizeof(job->format), "mp4");
	job->script = (char *)script;
	job->script_len = sizeof(script) - 1;
	job->width = 320;
	job->height = 180;
	job->fps = 24;
	job->frames = 48;
	job->limits = cfg->defaults;
	job->limits.timeout_s = 45;
	job->limits.memory_mb = 300;
	job->limits.scratch_mb = 20;
	job->limits.pids = 32;
	job->limits.cpus = 1.5;
}

static void test_a_jobs_sandbox_leaves_the_wall_clock_to_the_runner(void **state)
{
	struct config cfg;
	struct job job;
	struct job_sandbox box;
	char err[256];

	setup(&cfg, &job);
	assert_int_equal(job_sandbox_spec(&box, &job, &cfg, 3, err, sizeof(err)), 0);
	assert_int_equal(box.spec.limits.timeout_ms, 0);
	assert_int_equal(box.spec.limits.cpu_seconds, 45 * 2 + 10);
	assert_int_equal(box.spec.limits.memory_bytes, 300ull << 20);
	assert_int_equal(box.spec.limits.scratch_bytes, 20ull << 20);
	assert_int_equal(box.spec.limits.pids, 32);
	assert_true(box.spec.limits.cpus == 1.5);
	assert_int_equal(box.spec.slot, 3);
	assert_string_equal(box.spec.argv[0], cfg.runtimes[0].path);
	assert_string_equal(box.spec.argv[1], "/job/clip.py");
	assert_null(box.spec.argv[2]);
	assert_int_equal(box.spec.n_files, 1);
	assert_string_equal(box.spec.files[0].name, "clip.py");
	assert_int_equal(box.spec.files[0].len, sizeof(script) - 1);
	assert_int_equal(box.spec.stdout_fd, -1); /* the caller's plumbing */
	job_sandbox_free(&box);
}

static void test_the_encoders_box_takes_the_jobs_quota_and_its_own_memory(void **state)
{
	struct config cfg;
	struct job job;
	struct job_sandbox box;
	char err[256];

	setup(&cfg, &job);
	assert_int_equal(job_sandbox_spec(&box, &job, &cfg, 0, err, sizeof(err)), 0);
	assert_true(box.spec.helper.enabled);
	assert_int_equal(box.spec.helper.memory_bytes, job_encoder_memory(&job));
	assert_int_equal(box.spec.helper.pids, 64);
	assert_true(box.spec.helper.cpus == 1.5);
	assert_int_equal(box.spec.helper.cpu_seconds, 45 * 2 + 10);
	job_sandbox_free(&box);
}

static void test_exec_keeps_the_sandboxs_wall_clock(void **state)
{
	struct config cfg;
	struct job job;
	struct job_sandbox box;
	const char *argv[] = {"/bin/true", NULL};
	const char *extra[] = {"PYTHONDONTWRITEBYTECODE=1", NULL};

	setup(&cfg, &job);
	assert_int_equal(exec_sandbox_spec(&box, &cfg, &job.limits, argv, extra), 0);
	assert_int_equal(box.spec.limits.timeout_ms, 45000);
	assert_int_equal(box.spec.limits.cpu_seconds, 45 * 2 + 10);
	assert_false(box.spec.helper.enabled);
	assert_ptr_equal(box.spec.argv, argv);
	assert_string_equal(box.spec.envp[0], "SCRATCH=/scratch");
	assert_string_equal(box.spec.envp[4], "PYTHONDONTWRITEBYTECODE=1");
	assert_null(box.spec.envp[5]);
	job_sandbox_free(&box);
}

static void test_the_scripts_environment_is_the_contract_the_base_and_the_runtimes(void **state)
{
	static const char *const want[] = {"WIDTH=320",
					   "HEIGHT=180",
					   "FPS=24",
					   "FRAMES=48",
					   "PIX_FMT=rgb24",
					   "SCRATCH=/scratch",
					   "HOME=/scratch",
					   "PATH=/usr/local/bin:/usr/bin:/bin",
					   "LANG=C.UTF-8",
					   "A=1",
					   "B=2"};
	struct config cfg;
	struct job job;
	struct runtime rt = {.n_env = 2};
	char **env;
	size_t i;

	setup(&cfg, &job);
	snprintf(rt.env[0], sizeof(rt.env[0]), "A=1");
	snprintf(rt.env[1], sizeof(rt.env[1]), "B=2");
	env = job_env(&job, &rt, NULL);
	assert_non_null(env);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_string_equal(env[i], want[i]);
	assert_null(env[i]);
	free(env);
}

static void test_an_unknown_runtime_is_named(void **state)
{
	struct config cfg;
	struct job job;
	struct job_sandbox box;
	char err[256];

	setup(&cfg, &job);
	snprintf(job.runtime, sizeof(job.runtime), "cobol");
	assert_int_equal(job_sandbox_spec(&box, &job, &cfg, 0, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "unknown runtime 'cobol'");
	job_sandbox_free(&box);
}

static void test_the_encoder_gets_threads_for_its_quota_one_for_small_frames(void **state)
{
	struct config cfg;
	struct job job;
	struct render_spec rs;

	setup(&cfg, &job);
	job.crf = 20;
	job.width = 640;
	job.height = 360;
	snprintf(job.preset, sizeof(job.preset), "veryfast");
	job_render_spec(&job, "/out/v.mp4", &rs);
	assert_int_equal(rs.threads, 3); /* ceil(1.5 * 1.5) */
	assert_int_equal(rs.width, 640);
	assert_int_equal(rs.max_frames, 48);
	assert_int_equal(rs.crf, 20);
	assert_string_equal(rs.preset, "veryfast");
	assert_string_equal(rs.output, "/out/v.mp4");
	job.limits.cpus = 64;
	job_render_spec(&job, "/out/v.mp4", &rs);
	assert_int_equal(rs.threads, 16);
	job.limits.cpus = 0;
	job.preset[0] = '\0';
	job_render_spec(&job, "/out/v.mp4", &rs);
	assert_int_equal(rs.threads, 2);
	assert_null(rs.preset);
	/* Up to 320x240 one thread, whatever the quota: frame threads only cost there. */
	job.limits.cpus = 4;
	job.width = 64;
	job.height = 48;
	job_render_spec(&job, "/out/v.mp4", &rs);
	assert_int_equal(rs.threads, 1);
	job.width = 320;
	job.height = 240;
	job_render_spec(&job, "/out/v.mp4", &rs);
	assert_int_equal(rs.threads, 1);
	job.height = 242;
	job_render_spec(&job, "/out/v.mp4", &rs);
	assert_int_equal(rs.threads, 6);
}

static void test_the_wall_clock_has_one_sentence(void **state)
{
	char buf[64];

	job_timeout_sentence(buf, sizeof(buf), 30);
	assert_string_equal(buf, "wall-clock timeout of 30 s reached");
}

/* A job's sandbox is in the tier job_resolve gave it; exec's in its config's default. */
static void test_the_sandbox_takes_the_resolved_tier(void **state)
{
	struct config cfg;
	struct job job;
	struct job_sandbox box;
	const char *argv[] = {"/bin/true", NULL};
	char err[256];

	(void)state;
	setup(&cfg, &job);
	assert_int_equal(job_sandbox_spec(&box, &job, &cfg, 0, err, sizeof(err)), 0);
	assert_int_equal(box.spec.tier, SANDBOX_TIER_NATIVE);
	job_sandbox_free(&box);
	job.resolved_tier = SANDBOX_TIER_GVISOR;
	assert_int_equal(job_sandbox_spec(&box, &job, &cfg, 0, err, sizeof(err)), 0);
	assert_int_equal(box.spec.tier, SANDBOX_TIER_GVISOR);
	job_sandbox_free(&box);
	assert_int_equal(exec_sandbox_spec(&box, &cfg, &job.limits, argv, NULL), 0);
	assert_int_equal(box.spec.tier, SANDBOX_TIER_NATIVE);
	job_sandbox_free(&box);
	cfg.tiers.dflt = SANDBOX_TIER_GVISOR;
	assert_int_equal(exec_sandbox_spec(&box, &cfg, &job.limits, argv, NULL), 0);
	assert_int_equal(box.spec.tier, SANDBOX_TIER_GVISOR);
	job_sandbox_free(&box);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_a_jobs_sandbox_leaves_the_wall_clock_to_the_runner),
	    cmocka_unit_test(test_the_encoders_box_takes_the_jobs_quota_and_its_own_memory),
	    cmocka_unit_test(test_exec_keeps_the_sandboxs_wall_clock),
	    cmocka_unit_test(
		test_the_scripts_environment_is_the_contract_the_base_and_the_runtimes),
	    cmocka_unit_test(test_an_unknown_runtime_is_named),
	    cmocka_unit_test(test_the_encoder_gets_threads_for_its_quota_one_for_small_frames),
	    cmocka_unit_test(test_the_wall_clock_has_one_sentence),
	    cmocka_unit_test(test_the_sandbox_takes_the_resolved_tier),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
