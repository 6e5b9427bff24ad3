/* test_runner.c - why a job ended: verdict_decide() (worker/verdict.c), branch by
 * branch and in its order, from the facts a runner gathers.
 *
 * One row per branch, and rows where two facts meet to show which one explains the
 * other (a cancel over the clock, a limit over the script's kill, the script's own
 * failure over a stream it never finished). A row starts from a clean job (the script
 * exited 0, the encoder sent a good RESULT and exited 0) and names what differs; each
 * row runs as a test of its own, under its own name. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "verdict.h"

#define TIMEOUT_S    30
#define TOTAL_FRAMES 90

struct row {
	const char *name;
	/* the runner */
	const char *cancel;
	int timed_out, grace_fired;
	int64_t frames_done;
	/* the sandbox */
	enum sandbox_end sb_end;
	int exit_code, signal;
	const char *sb_reason;
	unsigned denied_calls;
	const char *last_denied;
	/* the encoder (a RESULT with rc 0 and an exit status of 0 unless told) */
	int no_result, no_status, stream_end, protocol_error, oom;
	int rc, ceiling, status;
	uint32_t flags;
	const char *enc_err;
	/* expected */
	int commit, limit_hit, cancelled;
	enum runner_end end;
	const char *error;
};

static const struct row rows[] = {
    {.name = "a_clean_exit_with_a_clean_stream_is_committed",
     .commit = 1,
     .end = RUNNER_END_SUCCEEDED,
     .error = ""},
    {.name = "a_cancel_explains_everything_even_the_clock",
     .cancel = "cancelled by request",
     .timed_out = 1,
     .sb_end = SANDBOX_KILLED,
     .exit_code = -1,
     .signal = SIGKILL,
     .no_result = 1,
     .cancelled = 1,
     .end = RUNNER_END_CANCELLED,
     .error = "cancelled by request"},
    {.name = "the_clock_during_the_script_is_a_timeout",
     .timed_out = 1,
     .sb_end = SANDBOX_TIMEOUT,
     .exit_code = -1,
     .signal = SIGKILL,
     .sb_reason = "wall-clock timeout of 30 s reached",
     .stream_end = 1,
     .no_result = 1,
     .limit_hit = 1,
     .end = RUNNER_END_TIMEOUT,
     .error = "wall-clock timeout of 30 s reached"},
    {.name = "the_clock_while_encoding_counts_the_frames",
     .timed_out = 1,
     .frames_done = 40,
     .stream_end = 1,
     .no_result = 1,
     .limit_hit = 1,
     .end = RUNNER_END_TIMEOUT,
     .error = "wall-clock timeout of 30 s reached while encoding (40 of 90 frames encoded)"},
    {.name = "the_clock_before_the_stream_ended_is_the_plain_sentence",
     .timed_out = 1,
     .frames_done = 40,
     .no_result = 1,
     .limit_hit = 1,
     .end = RUNNER_END_TIMEOUT,
     .error = "wall-clock timeout of 30 s reached"},
    {.name = "a_script_hung_by_a_limit_is_told_the_limit_not_the_clock",
     .timed_out = 1,
     .sb_end = SANDBOX_PIDS,
     .exit_code = -1,
     .signal = SIGKILL,
     .sb_reason = "pids limit of 64 reached",
     .no_result = 1,
     .limit_hit = 1,
     .end = RUNNER_END_LIMIT,
     .error = "pids limit of 64 reached"},
    {.name = "a_script_stopped_by_the_grace_after_the_ceiling_is_a_success",
     .grace_fired = 1,
     .sb_end = SANDBOX_KILLED,
     .exit_code = -1,
     .signal = SIGKILL,
     .sb_reason = "the frame ceiling was reached",
     .ceiling = 1,
     .commit = 1,
     .end = RUNNER_END_SUCCEEDED,
     .error = ""},
    {.name = "a_broken_pipe_from_the_closed_stream_at_the_ceiling_is_a_success",
     .signal = SIGPIPE,
     .exit_code = -1,
     .ceiling = 1,
     .flags = ENCODER_F_CUT,
     .commit = 1,
     .end = RUNNER_END_SUCCEEDED,
     .error = ""},
    {.name = "a_script_that_ends_by_itself_after_the_ceiling_keeps_its_status",
     .exit_code = 1,
     .ceiling = 1,
     .end = RUNNER_END_SCRIPT_FAILED,
     .error = "script exited with status 1; see the log"},
    {.name = "an_encoder_out_of_memory_explains_the_scripts_broken_pipe",
     .signal = SIGPIPE,
     .exit_code = -1,
     .no_result = 1,
     .oom = 1,
     .status = SIGKILL,
     .limit_hit = 1,
     .end = RUNNER_END_ENCODER_FAILED,
     .error = "the encoder ran out of its memory allowance of 256 MB for this size and "
	      "preset: choose a faster preset or a smaller size"},
    {.name = "an_encoder_that_broke_the_protocol_is_named",
     .no_result = 1,
     .protocol_error = 1,
     .status = SIGKILL,
     .limit_hit = 1,
     .end = RUNNER_END_ENCODER_FAILED,
     .error = "the encoder broke its protocol and was stopped"},
    {.name = "an_encoder_killed_by_sigsys_is_a_reelbox_bug",
     .no_result = 1,
     .status = SIGSYS,
     .limit_hit = 1,
     .end = RUNNER_END_ENCODER_FAILED,
     .error = "the encoder was killed by SIGSYS: it made a system call outside its allowlist "
	      "(a reelbox bug: please report it)"},
    {.name = "an_encoder_killed_by_a_signal_names_it",
     .no_result = 1,
     .status = SIGSEGV,
     .limit_hit = 1,
     .end = RUNNER_END_ENCODER_FAILED,
     .error = "the encoder was killed by signal 11 (SIGSEGV)"},
    {.name = "an_encoder_gone_without_a_status_ended_without_a_result",
     .no_result = 1,
     .no_status = 1,
     .limit_hit = 1,
     .end = RUNNER_END_ENCODER_FAILED,
     .error = "the encoder ended without a result"},
    {.name = "a_memory_limit_explains_the_kill",
     .sb_end = SANDBOX_OOM,
     .exit_code = -1,
     .signal = SIGKILL,
     .sb_reason = "memory limit of 256 MB reached",
     .rc = -EPROTO,
     .flags = ENCODER_F_CUT,
     .enc_err = "the stream ended inside a frame",
     .limit_hit = 1,
     .end = RUNNER_END_LIMIT,
     .error = "memory limit of 256 MB reached"},
    {.name = "a_limit_without_a_sentence_still_says_one",
     .sb_end = SANDBOX_CPU,
     .exit_code = -1,
     .signal = SIGXCPU,
     .limit_hit = 1,
     .end = RUNNER_END_LIMIT,
     .error = "a sandbox limit was reached"},
    {.name = "a_refused_stream_explains_the_scripts_broken_pipe",
     .signal = SIGPIPE,
     .exit_code = -1,
     .rc = -EPROTO,
     .flags = ENCODER_F_CUT,
     .enc_err = "the stream is text, not frames",
     .end = RUNNER_END_BAD_STREAM,
     .error = "the stream is text, not frames"},
    {.name = "sigsys_names_the_call_the_sandbox_kills_for",
     .signal = SIGSYS,
     .exit_code = -1,
     .sb_reason = "the command was killed by SIGSYS: it called ptrace",
     .no_result = 0,
     .rc = -EPROTO,
     .enc_err = "no frames",
     .end = RUNNER_END_SCRIPT_FAILED,
     .error = "script was killed by SIGSYS: it called ptrace"},
    {.name = "sigsys_without_a_reason_still_says_what_it_means",
     .signal = SIGSYS,
     .exit_code = -1,
     .end = RUNNER_END_SCRIPT_FAILED,
     .error = "script was killed by SIGSYS: it made a system call the sandbox does not "
	      "allow"},
    {.name = "a_signal_is_named",
     .signal = SIGSEGV,
     .exit_code = -1,
     .end = RUNNER_END_SCRIPT_FAILED,
     .error = "script was killed by signal 11 (SIGSEGV)"},
    {.name = "an_exit_status_after_a_denied_call_names_the_call",
     .exit_code = 1,
     .denied_calls = 2,
     .last_denied = "denied socket(AF_INET): network access",
     .end = RUNNER_END_SCRIPT_FAILED,
     .error = "script exited with status 1 after a denied system call (denied "
	      "socket(AF_INET): network access); see the log"},
    {.name = "an_exit_status_is_the_scripts_failure",
     .exit_code = 2,
     .end = RUNNER_END_SCRIPT_FAILED,
     .error = "script exited with status 2; see the log"},
    {.name = "the_scripts_failure_explains_a_stream_it_did_not_finish",
     .exit_code = 1,
     .rc = -EPROTO,
     .enc_err = "the stream ended inside a frame",
     .end = RUNNER_END_SCRIPT_FAILED,
     .error = "script exited with status 1; see the log"},
    {.name = "a_clean_exit_with_a_refused_stream_is_a_bad_stream",
     .rc = -EPROTO,
     .enc_err = "23,040,047 bytes: 47 bytes more than 133 frames of 320x180 rgb24",
     .end = RUNNER_END_BAD_STREAM,
     .error = "23,040,047 bytes: 47 bytes more than 133 frames of 320x180 rgb24"},
    {.name = "a_refusal_without_a_sentence_still_says_one",
     .rc = -EINVAL,
     .end = RUNNER_END_BAD_STREAM,
     .error = "the frame stream could not be encoded"},
    {.name = "a_write_the_host_refused_is_internal_not_the_jobs",
     .rc = -ENOSPC,
     .enc_err = "cannot write to the output: No space left on device",
     .end = RUNNER_END_INTERNAL,
     .error = "cannot write to the output: No space left on device"},
    {.name = "a_libav_failure_is_not_blamed_on_the_host",
     .rc = -EIO,
     .enc_err = "encoding failed: Generic error in an external library",
     .end = RUNNER_END_BAD_STREAM,
     .error = "encoding failed: Generic error in an external library"},
};

static void decide_row(const struct row *row, struct verdict *v)
{
	struct sandbox_result sb = {
	    .end = row->sb_end,
	    .exit_code = row->exit_code,
	    .signal = row->signal,
	    .denied_calls = row->denied_calls,
	};
	struct encoder_msg er = {
	    .type = ENCODER_RESULT,
	    .rc = row->rc,
	    .frames = row->frames_done,
	    .value = row->ceiling,
	    .flags = row->flags,
	};
	struct verdict_facts f = {
	    .cancel_reason = row->cancel,
	    .timed_out = row->timed_out,
	    .grace_fired = row->grace_fired,
	    .timeout_s = TIMEOUT_S,
	    .frames_done = row->frames_done,
	    .total_frames = TOTAL_FRAMES,
	    .sb = &sb,
	    .enc_done = 1,
	    .enc_stream_end = row->stream_end,
	    .have_result = !row->no_result,
	    .result = row->no_result ? NULL : &er,
	    .protocol_error = row->protocol_error,
	    .have_status = !row->no_status,
	    .status = row->status,
	    .oom = row->oom,
	    .encoder_memory = 256ull << 20,
	};

	snprintf(sb.reason, sizeof(sb.reason), "%s", row->sb_reason ? row->sb_reason : "");
	snprintf(sb.last_denied, sizeof(sb.last_denied), "%s",
		 row->last_denied ? row->last_denied : "");
	snprintf(er.err, sizeof(er.err), "%s", row->enc_err ? row->enc_err : "");
	verdict_decide(&f, v);
}

static void test_row(void **state)
{
	const struct row *row = *state;
	struct verdict v;

	decide_row(row, &v);
	assert_string_equal(v.error, row->error);
	assert_int_equal(v.end, row->end);
	assert_int_equal(v.commit, row->commit);
	assert_int_equal(v.limit_hit, row->limit_hit);
	assert_int_equal(v.cancelled, row->cancelled);
}

/* A failing verdict always has a sentence and a committed one never does: the runner
 * reads error[0] as the verdict once the file is in place. */
static void test_every_row_commits_exactly_when_it_says_nothing(void **state)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct verdict v;

		decide_row(&rows[i], &v);
		assert_int_equal(v.commit, v.error[0] == '\0');
		assert_int_equal(v.commit, v.end == RUNNER_END_SUCCEEDED);
	}
}

/* Every end reason has a word of its own (logs and metrics labels use it). */
static void test_every_end_reason_has_its_own_name(void **state)
{
	const char *seen[RUNNER_END_INTERNAL + 1];

	for (int e = RUNNER_END_SUCCEEDED; e <= RUNNER_END_INTERNAL; e++) {
		seen[e] = runner_end_name((enum runner_end)e);
		assert_non_null(seen[e]);
		for (int k = 0; k < e; k++)
			assert_string_not_equal(seen[k], seen[e]);
	}
	assert_string_equal(runner_end_name(RUNNER_END_TIMEOUT), "timeout");
	assert_string_equal(runner_end_name((enum runner_end)99), "internal");
}

int main(void)
{
	enum { N = sizeof(rows) / sizeof(rows[0]) };
	struct CMUnitTest tests[N + 2];

	for (size_t i = 0; i < N; i++)
		tests[i] = (struct CMUnitTest){
		    .name = rows[i].name, .test_func = test_row, .initial_state = (void *)&rows[i]};
	tests[N] = (struct CMUnitTest)cmocka_unit_test(
	    test_every_row_commits_exactly_when_it_says_nothing);
	tests[N + 1] = (struct CMUnitTest)cmocka_unit_test(test_every_end_reason_has_its_own_name);
	return _cmocka_run_group_tests("verdict", tests, N + 2, NULL, NULL);
}
