/* syncheck.h - a cheap syntax check of a job's script inside the sandbox the job gets.
 *
 * A prompt job's script comes from a model and is often broken; a full render (a
 * sandbox, an encoder, the job's wall clock) is an expensive way to learn that a
 * parenthesis is missing. Before it, the script is parsed, not run, by its own runtime
 * in the same sandbox a render of this slot gets (the job's limits, /job read-only,
 * no network):
 *
 *   python  python -E -S -c <compile() of the file>   (not py_compile: it writes a .pyc)
 *   sh      sh -n, bash -n (whichever the runtime is)
 *   node    node --check
 *   lua     luac -p of the runtime's own version if there is one, else the runtime with
 *           -e code that loadfile()s the file
 *
 * Other runtimes have no cheap check. A failed check tells the person and the model what
 * is wrong in one sentence: "the script does not parse: SyntaxError: expected ':' (line
 * 3)", "the script does not parse: line 5: Syntax error: end of file unexpected
 * (expecting "fi")". A check is over only when its sandbox is reaped and destroyed
 * (its cgroup gone), so the render that follows on the same slot starts clean.
 */
#ifndef REELBOX_SYNCHECK_H
#define REELBOX_SYNCHECK_H

#include <stddef.h>
#include <uv.h>

#include "job.h"

/* The longest a check may take (the job's own timeout, when shorter, wins). */
#define SYNCHECK_MAX_MS 10000
/* Bytes of the checker's stderr kept for log_tail (plus the NUL). */
#define SYNCHECK_LOG_TAIL 2048
/* Bytes of a sentence, with its NUL. */
#define SYNCHECK_SENTENCE 512

struct syncheck;

/* rc: 1 the script passed (sentence and log_tail are ""); 0 it failed the check:
 * sentence is one line for a person and the model, e.g. "the script does not parse:
 * SyntaxError: invalid syntax (line 3)" (the interpreter's own last meaningful line,
 * bounded, naming no path but /job/<name>), log_tail the checker's stderr tail
 * (<= SYNCHECK_LOG_TAIL bytes, well-formed UTF-8 without control characters but tab and
 * newline); negative errno: the check could not run or reach a verdict: -ETIMEDOUT its
 * own deadline, -EIO a sandbox limit or a signal ended the checker, -ENOENT its
 * interpreter could not be executed; sentence says so and the script is not to blame.
 * Called once on the loop, never from inside syncheck_start; the strings live until cb
 * returns; the syncheck frees itself after cb returns. When cb runs, the check's
 * sandbox is reaped and destroyed: the slot is free for the render. */
typedef void (*syncheck_done_cb)(void *opaque, int rc, const char *sentence, const char *log_tail);

/* Start the check of a resolved job's script (job->script, script_name, runtime as
 * job_resolve left them) in the sandbox that slot's job gets (job_sandbox_spec with the
 * checker's argv, no encoder box), stdout to /dev/null, stderr read on the loop (a
 * bounded tail), a deadline of min(SYNCHECK_MAX_MS, the job's timeout) owned by a uv
 * timer that kills the sandbox; denied system calls are not answered (the listener is
 * closed at once, so the kernel fails them: the checker needs none). job and cfg need
 * not outlive the call. Returns 0 (cb will run), 1 when the runtime has no cheap check
 * (cb never runs: go straight to the render), or a negative errno with one sentence in
 * err (cb never runs; nothing is left running). */
int syncheck_start(uv_loop_t *loop, const struct job *job, const struct config *cfg, unsigned slot,
		   syncheck_done_cb cb, void *opaque, struct syncheck **out, char *err,
		   size_t errlen);

/* Kill the check now; cb is never called; the sandbox is destroyed before this returns
 * (the slot is free) and the object is freed once its handles have closed (the loop's
 * next turn). Not after cb has run: the object is gone then. */
void syncheck_cancel(struct syncheck *c);

#endif
