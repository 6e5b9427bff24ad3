/* verdict.c - why a job ended (see verdict.h): a pure function, tested branch by branch
 * in tests/test_runner.c. */
#define _GNU_SOURCE
#include "verdict.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "errf.h"
#include "specs.h"

/* The verdict's end reason and its sentence, in one breath. */
#define say(v, e, ...) ((v)->end = (e), worker_err((v)->error, sizeof((v)->error), __VA_ARGS__))

static const char *signal_name(int sig, char *buf, size_t len)
{
	const char *abbrev = sigabbrev_np(sig);

	if (!abbrev)
		return "an unknown signal";
	snprintf(buf, len, "SIG%s", abbrev);
	return buf;
}

/* A sandbox end that is a limit (memory, pids, CPU, file size, the clock), not the
 * command's own end or a kill the runner asked for. */
static int sandbox_limit(const struct sandbox_result *sb)
{
	return sb->end != SANDBOX_EXITED && sb->end != SANDBOX_KILLED;
}

/* Why the encoder ended without a result, from its cgroup and its wait status. */
static void encoder_died(const struct verdict_facts *f, struct verdict *v)
{
	enum runner_end e = RUNNER_END_ENCODER_FAILED;
	int st = f->status;
	char sig[16];

	if (f->protocol_error)
		say(v, e, "the encoder broke its protocol and was stopped");
	else if (f->oom)
		say(v, e,
		    "the encoder ran out of its memory allowance of %llu MB for this size and "
		    "preset: choose a faster preset or a smaller size",
		    (unsigned long long)(f->encoder_memory >> 20));
	else if (f->have_status && WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS)
		say(v, e,
		    "the encoder was killed by SIGSYS: it made a system call outside its "
		    "allowlist (a reelbox bug: please report it)");
	else if (f->have_status && WIFSIGNALED(st))
		say(v, e, "the encoder was killed by signal %d (%s)", WTERMSIG(st),
		    signal_name(WTERMSIG(st), sig, sizeof(sig)));
	else
		say(v, e, "the encoder ended without a result");
}

/* What the encoder said went wrong: its own sentence, or why it said nothing. A write
 * the host refused (a full or read-only disk) is the host's fault: the job may run
 * elsewhere. EIO is not among them: libav's own failures map to it too (render.h), and
 * a disk that fails reads is caught by the worker's probe of the output dir. Everything
 * else it reports is about the stream. */
static void encoder_failed(const struct verdict_facts *f, struct verdict *v)
{
	const struct encoder_msg *er = f->result;
	int host = 0;

	if (!f->have_result || !er) {
		encoder_died(f, v);
		return;
	}
	host = er->rc == -ENOSPC || er->rc == -EDQUOT || er->rc == -EROFS;
	say(v, host ? RUNNER_END_INTERNAL : RUNNER_END_BAD_STREAM, "%s",
	    er->err[0] ? er->err : "the frame stream could not be encoded");
}

/* The cancel and the wall clock, which explain whatever else was seen. 1 if one
 * applied. */
static int stopped(const struct verdict_facts *f, struct verdict *v)
{
	const struct sandbox_result *sb = f->sb;
	char clock[128];

	if (f->cancel_reason && f->cancel_reason[0]) {
		v->cancelled = 1;
		say(v, RUNNER_END_CANCELLED, "%s", f->cancel_reason);
		return 1;
	}
	if (!f->timed_out)
		return 0;
	v->limit_hit = 1;
	job_timeout_sentence(clock, sizeof(clock), f->timeout_s);
	/* A script that hung because a limit refused it (a fork at pids.max) is told that
	 * limit, as the sandbox classified it. */
	if (sandbox_limit(sb) && sb->reason[0] && sb->end != SANDBOX_TIMEOUT)
		say(v, RUNNER_END_LIMIT, "%s", sb->reason);
	else if (sb->end == SANDBOX_TIMEOUT || !f->enc_stream_end)
		say(v, RUNNER_END_TIMEOUT, "%s", clock);
	else
		say(v, RUNNER_END_TIMEOUT, "%s while encoding (%lld of %lld frames encoded)", clock,
		    (long long)f->frames_done, (long long)f->total_frames);
	return 1;
}

/* The script ended by itself and not well. */
static void script_failed(const struct sandbox_result *sb, struct verdict *v)
{
	enum runner_end e = RUNNER_END_SCRIPT_FAILED;
	char sig[16];

	if (sb->signal == SIGSYS) {
		/* The sandbox's reason names the calls it kills for ("the command was killed
		 * by SIGSYS: ..."). */
		const char *why = sb->reason;
		if (!strncmp(why, "the command ", 12))
			why += 12;
		say(v, e, "script %s",
		    why[0] ? why
			   : "was killed by SIGSYS: it made a system call the sandbox does not "
			     "allow");
	} else if (sb->signal) {
		say(v, e, "script was killed by signal %d (%s)", sb->signal,
		    signal_name(sb->signal, sig, sizeof(sig)));
	} else if (sb->denied_calls) {
		/* A failure right after a denied call is most likely caused by it. */
		say(v, e,
		    "script exited with status %d after a denied system call (%s); see the log",
		    sb->exit_code, sb->last_denied);
	} else {
		say(v, e, "script exited with status %d; see the log", sb->exit_code);
	}
}

void verdict_decide(const struct verdict_facts *f, struct verdict *v)
{
	const struct sandbox_result *sb = f->sb;
	const struct encoder_msg *er = f->have_result ? f->result : NULL;
	int render_ok = er && er->rc == 0;
	/* The encoder closed the frame pipe while the script may still have been writing: a
	 * broken pipe (SIGPIPE, or an EPIPE the script died of) is then its doing. */
	int cut = er && (er->flags & ENCODER_F_CUT);
	int script_bad = sb->signal || sb->exit_code != 0;

	memset(v, 0, sizeof(*v));
	if (stopped(f, v))
		return;
	if (render_ok && er->value && (f->grace_fired || cut)) {
		/* The frame count is a ceiling: stopping the script there (by the grace after
		 * it, or by the broken pipe the closed stream gave it) is success. A script
		 * that ended by itself keeps its own exit status. */
		v->commit = 1;
	} else if (!er && f->enc_done) {
		/* The encoder died (its memory allowance, a signal): that closed the frame
		 * pipe, and whatever the script then did follows from it. */
		v->limit_hit = 1;
		encoder_died(f, v);
	} else if (sandbox_limit(sb)) {
		v->limit_hit = 1;
		say(v, sb->end == SANDBOX_TIMEOUT ? RUNNER_END_TIMEOUT : RUNNER_END_LIMIT, "%s",
		    sb->reason[0] ? sb->reason : "a sandbox limit was reached");
	} else if (!render_ok && cut && script_bad) {
		/* The encoder refused the stream and closed it under the script: what the
		 * script then died of (SIGPIPE, a BrokenPipeError) follows from that. */
		encoder_failed(f, v);
	} else if (script_bad) {
		script_failed(sb, v);
	} else if (!render_ok) {
		encoder_failed(f, v);
	} else {
		v->commit = 1;
	}
}
