/* verdict.h - why a job ended: what the runner observed becomes one verdict.
 *
 * When every part of a job is gone (the sandbox reaped, the encoder exited, the log
 * closed), the runner hands what it saw to verdict_decide(): the sandbox's result, the
 * encoder's RESULT and wait status, its own timers and the cancel. Out come the
 * verdict (commit the video or not), one sentence and one end reason. The function is
 * pure (no I/O, no clock), so every branch has a test (tests/test_runner.c) without a
 * sandbox or an encoder; checking and moving the file into place is the runner's, and
 * hints_explain() adds what the log tells after it.
 */
#ifndef REELBOX_VERDICT_H
#define REELBOX_VERDICT_H

#include <stdint.h>

#include "encoder.h"
#include "runner.h"
#include "sandbox.h"

struct verdict_facts {
	/* the runner */
	const char *cancel_reason; /* NULL or "": not cancelled */
	int timed_out;		   /* the job's wall clock ran out */
	int grace_fired;	   /* the script was stopped after the frame ceiling */
	uint32_t timeout_s;
	int64_t frames_done, total_frames;
	/* the script's sandbox, reaped */
	const struct sandbox_result *sb;
	/* the encoder */
	int enc_done;			  /* it exited (or its socket ended) */
	int enc_stream_end;		  /* it stopped reading the frame pipe */
	int have_result;		  /* it sent a RESULT: */
	const struct encoder_msg *result; /* that RESULT (may be NULL without one) */
	int protocol_error;		  /* it broke the protocol and was stopped */
	int have_status, status;	  /* its wait status, from the server */
	int oom;			  /* its cgroup reached its memory limit */
	uint64_t encoder_memory;	  /* that limit, for the sentence */
};

struct verdict {
	int commit;	     /* a clean end: check the encoder's file, move it into place */
	enum runner_end end; /* RUNNER_END_SUCCEEDED with commit */
	int limit_hit;	     /* a limit ended the job (runner_result.limit_hit) */
	int cancelled;
	char error[512]; /* one sentence; "" with commit */
};

/* Decide. The order is the point: a cancel or the wall clock explains everything after
 * it; at the frame ceiling, a script stopped by the grace or the closed pipe is a
 * success; a dead encoder explains the closed pipe; a limit explains a kill; the
 * encoder's refusal explains the script's death by SIGPIPE; then the script's own end
 * (SIGSYS, a signal, an exit status after a denied call, an exit status); then a
 * stream the encoder refused; only a clean exit with a clean stream is committed. */
void verdict_decide(const struct verdict_facts *f, struct verdict *v);

#endif
