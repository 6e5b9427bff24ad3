/* jobrun.h - one job from start to result: a script job's render, or a prompt job's
 * attempts.
 *
 * A script job is one runner (runner.h). A prompt job is a loop of attempts, each: ask the
 * model for a script (model.h, from this process: the key never enters a sandbox), take
 * the script out of the answer, check its syntax in the job's sandbox (syncheck.h), render
 * it exactly like a script job; when the attempt fails for a reason that is the script's
 * (its error, a bad stream, no frames, a limit), the next request carries the model's
 * answer and the failure back, at most the operator's max_attempts times. The first
 * attempt that renders ends the job succeeded. Every attempt is recorded for the result.
 *
 * The caller sees one runner: the same ops (progress, log lines, done with one
 * runner_result), one cancel, one free; `reelbox run` and the worker drive it alike.
 */
#ifndef REELBOX_JOBRUN_H
#define REELBOX_JOBRUN_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "httpc.h"
#include "job.h"
#include "modelcfg.h"
#include "runner.h"

#define JOBRUN_MAX_ATTEMPTS 10

/* What a job runs with, lent by the caller for the job's whole life. */
struct jobrun_env {
	uv_loop_t *loop;
	const struct config *cfg;
	struct httpc *http;	      /* NULL: no prompt job can run */
	const struct modelcfg *model; /* NULL: no model is configured */
	unsigned slot;
	struct pool *pool; /* warm sandboxes (pool.h), or NULL */
};

/* One attempt of a prompt job, as the result shows it. */
struct jobrun_attempt {
	char *script; /* owned; NULL when the model gave none */
	size_t script_len;
	char runtime[32];
	int succeeded;
	enum runner_end end;
	char error[512];
	char log[RUNNER_LOG_TAIL + 1];
	uint64_t model_ms, check_ms, render_ms;
	int fenced; /* the script came from a fenced code block, not the whole answer */
	long input_tokens, output_tokens; /* -1 when the API did not say */
};

struct jobrun;

/* Start a resolved job (job_resolve) whose video goes to output. The job must outlive
 * the jobrun. A script job starts its runner now; a prompt job's first model call is
 * on its way when this returns. 0, or a negative errno with one sentence in err (then
 * done never runs): the runner could not start, or a prompt job met no model (-ENOTSUP,
 * modelcfg_none_sentence). */
int jobrun_start(const struct jobrun_env *env, const struct job *job, const char *output,
		 const struct runner_ops *ops, void *opaque, struct jobrun **out, char *err,
		 size_t errlen);

/* Stop the job in whatever phase (model call, check, render); it ends failed with this
 * reason, its done callback still runs (later, on the loop). Safe after done. */
void jobrun_cancel(struct jobrun *j, const char *reason);

/* Free a jobrun whose done callback has run (or from inside it). */
void jobrun_free(struct jobrun *j);

/* The prompt job's part of the result: {"prompt", "script" (the last attempt's),
 * "attempts": [{"script", "runtime", "status", "error", "log", "model_ms", "check_ms", "render_ms",
 * "input_tokens", "output_tokens"}]}, every string made valid UTF-8; NULL for a script
 * job or without memory. A new reference. budget 0: every attempt's script up to 64 KiB
 * and log whole, the final script whole (`run --json`); else the attempts' scripts and
 * logs share budget bytes and the final script is cut at JOBRUN_SCRIPT_KEPT, each cut
 * on a character and told by a "script_bytes" field with the whole size. */
json_t *jobrun_result_extra(const struct jobrun *j, size_t budget);

/* What a queue result may hold of a prompt job: the attempts share this many bytes of
 * script and log (the rest of the result, the prompt and the final script are kept
 * apart: the queue stores those two as fields of their own), and the final script is
 * kept up to JOBRUN_SCRIPT_KEPT bytes (a status reply carries values up to 64 KiB). */
#define JOBRUN_RESULT_BUDGET (32u << 10)
#define JOBRUN_SCRIPT_KEPT   (60u << 10)

/* Attempts so far (for tests and logs). */
const struct jobrun_attempt *jobrun_attempts(const struct jobrun *j, unsigned *n);

#endif
