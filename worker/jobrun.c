/* jobrun.c - a script job's render, or a prompt job's attempts (see jobrun.h).
 *
 * A prompt job's attempt moves through three phases, each one handle the job can be
 * cancelled in: ASK (a model call on the loop, never blocking another slot or a
 * heartbeat), CHECK (the syntax check in the job's sandbox) and RENDER (a runner, exactly
 * a script job's). Whatever the phase, an end goes through finish(), which hands the
 * caller one runner_result: the last render's, or one made here when the model could
 * not be asked or no attempt got as far as a render.
 *
 * What the model gets back after a failed attempt is what a person would need: its own
 * answer (as the assistant's turn), the failure's sentence and the tail of the script's
 * log. Nothing else from the sandbox reaches the model or the worker's parsers: the log
 * is bytes shown as text, bounded by the runner.
 */
#define _GNU_SOURCE
#include "jobrun.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errf.h"
#include "promptmsg.h"
#include "runtime_kind.h"
#include "syncheck.h"
#include "utf8.h"

/* The longest answer sent back to the model as its own turn: a repair needs the script,
 * not megabytes of prose around it. */
#define ANSWER_ECHO_MAX (64u << 10)

enum phase { PH_IDLE, PH_ASK, PH_CHECK, PH_RENDER, PH_DONE };

struct jobrun {
	struct jobrun_env env;
	const struct job *job;
	const char *output;
	const struct runner_ops *ops;
	void *opaque;
	enum phase phase;
	struct runner *runner;

	/* a prompt job */
	int prompted;
	char *system;
	struct model_turn turns[2 * JOBRUN_MAX_ATTEMPTS];
	char *turn_text[2 * JOBRUN_MAX_ATTEMPTS]; /* owned texts of turns */
	unsigned nturns;
	struct model_call *call;
	struct syncheck *check;
	struct job attempt_job; /* the job with this attempt's script: resolved per attempt */
	struct jobrun_attempt attempts[JOBRUN_MAX_ATTEMPTS];
	unsigned n_attempts, max_attempts;
	const char *offered[JOB_MAX_RUNTIMES + 1];
	uint64_t started_ns, check_started_ns;

	char cancel_reason[200];
	struct runner_result res;
	uv_timer_t later; /* finish() outside the call that decided it */
	int later_open;
};

static const struct runner_ops jobrun_inner_ops;
static void ask(struct jobrun *j);

/* A sentence into a fixed field, cut when it must be (text() mends a cut character). */
static void set_text(char *dst, size_t size, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	if (n > size - 1)
		n = size - 1;

	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
}

static uint64_t ms_since(uint64_t ns)
{
	return (uv_hrtime() - ns) / 1000000u;
}

/* A result made here: no render ran (or none that counts). */
static void made_result(struct jobrun *j, enum runner_end end, const char *error)
{
	struct runner_result *r = &j->res;

	memset(r, 0, sizeof(*r));
	r->end = end;
	r->exit_code = -1;
	r->cancelled = end == RUNNER_END_CANCELLED;
	r->width = j->job->width;
	r->height = j->job->height;
	r->fps = j->job->fps;
	r->fps_den = j->job->fps_den;
	r->tier = j->job->resolved_tier;
	r->total_ms = ms_since(j->started_ns);
	set_text(r->error, sizeof(r->error), error);
}

static void on_later(uv_timer_t *t)
{
	struct jobrun *j = t->data;

	j->phase = PH_DONE;
	j->ops->done(j->opaque, &j->res);
}

/* The job is over with j->res: the caller hears it on the loop's next turn, never from
 * inside jobrun_start or jobrun_cancel. */
static void finish(struct jobrun *j)
{
	j->phase = PH_DONE;
	j->res.total_ms = ms_since(j->started_ns);
	uv_timer_start(&j->later, on_later, 0, 0);
}

/* ---- the attempts ---- */

/* The length of s[0..n) cut to at most max bytes on a character boundary: a turn cut
 * inside a character is ill-formed UTF-8, and the request's JSON could not be built. */
static size_t utf8_prefix(const char *s, size_t n, size_t max)
{
	if (n <= max)
		return n;
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	return max;
}

static struct jobrun_attempt *current(struct jobrun *j)
{
	return &j->attempts[j->n_attempts - 1];
}

static int add_turn(struct jobrun *j, enum model_role role, char *text)
{
	if (!text || j->nturns >= sizeof(j->turns) / sizeof(j->turns[0])) {
		free(text);
		return -ENOMEM;
	}
	j->turn_text[j->nturns] = text;
	j->turns[j->nturns] = (struct model_turn){role, text};
	j->nturns++;
	return 0;
}

/* An attempt failed: the job ends when it was the last one (or the failure is not the
 * script's to repair), else the model hears why and is asked again. answer is the
 * model's turn as it goes back, already bounded by the caller. */
static void attempt_failed(struct jobrun *j, const char *answer, size_t answer_len)
{
	struct jobrun_attempt *a = current(j);
	char *echo;

	/* Prose around an unfenced script is most often why it failed: say so, so the next
	 * answer comes as the one fenced block it was asked for. */
	if (a->script && !a->fenced) {
		char was[sizeof(a->error)];
		set_text(was, sizeof(was), a->error);
		snprintf(a->error, sizeof(a->error),
			 "the answer had no fenced code block, so all of it was taken as the "
			 "script; answer with the script alone in one fenced block. %.380s",
			 was);
	}

	if (j->n_attempts >= j->max_attempts) {
		/* A render's result stays the job's (its log, timings, exit status); an
		 * attempt that never rendered gets one made from its sentence and log. */
		if (j->phase != PH_RENDER) {
			made_result(j, a->end, a->error);
			set_text(j->res.log_tail, sizeof(j->res.log_tail), a->log);
		}
		if (j->max_attempts > 1) {
			char last[sizeof(j->res.error)];
			set_text(last, sizeof(last), a->error);
			snprintf(
			    j->res.error, sizeof(j->res.error),
			    "no script from the model rendered in %u attempts; the last: %.440s",
			    j->n_attempts, last);
		}
		finish(j);
		return;
	}
	echo = strndup(answer ? answer : "", answer ? answer_len : 0);
	if (add_turn(j, MODEL_ASSISTANT, echo) < 0 ||
	    add_turn(j, MODEL_USER, promptmsg_repair(a->error, a->log)) < 0) {
		made_result(j, RUNNER_END_INTERNAL, "out of memory building the repair request");
		finish(j);
		return;
	}
	ask(j);
}

static void fail_attempt(struct jobrun *j, enum runner_end end, const char *error, const char *log,
			 const char *answer, size_t answer_len)
{
	struct jobrun_attempt *a = current(j);

	a->succeeded = 0;
	a->end = end;
	set_text(a->error, sizeof(a->error), error);
	set_text(a->log, sizeof(a->log), log ? log : "");
	attempt_failed(j, answer, answer_len);
}

/* Which failures the model may repair: its script's own. A cancel, a lost lease, the
 * host's disk or a broken encoder are not the script's doing, and another answer would
 * not help. */
static int repairable(enum runner_end end)
{
	return end == RUNNER_END_SCRIPT_FAILED || end == RUNNER_END_LIMIT ||
	       end == RUNNER_END_TIMEOUT || end == RUNNER_END_BAD_STREAM;
}

static void render(struct jobrun *j)
{
	char err[512];

	j->phase = PH_RENDER;
	if (runner_start(j->env.loop, &j->attempt_job, j->env.cfg, j->output, j->env.slot,
			 j->env.pool, &jobrun_inner_ops, j, &j->runner, err, sizeof(err)) < 0) {
		/* The host's trouble (a sandbox that cannot start): not the script's. */
		made_result(j, RUNNER_END_INTERNAL, err);
		snprintf(current(j)->error, sizeof(current(j)->error), "%s", err);
		current(j)->end = RUNNER_END_INTERNAL;
		finish(j);
	}
}

/* The model's own script as its turn in the conversation, fenced as it was asked to
 * answer: its first ANSWER_ECHO_MAX bytes (cut between characters), between fences
 * longer than any run of backticks inside, so the block ends where the script does. */
static char *echo_script(const struct jobrun_attempt *a, size_t *len)
{
	size_t shown = utf8_prefix(a->script, a->script_len, ANSWER_ECHO_MAX);
	size_t run = 0, longest = 0, fence, nl, rt = strlen(a->runtime);
	char *out, *o;

	for (size_t i = 0; i < shown; i++) {
		run = a->script[i] == '`' ? run + 1 : 0;
		if (run > longest)
			longest = run;
	}
	fence = longest < 3 ? 3 : longest + 1;
	nl = shown && a->script[shown - 1] == '\n' ? 0 : 1;
	*len = 2 * fence + rt + 1 + shown + nl;
	if (!(o = out = malloc(*len + 1)))
		return NULL;
	memset(o, '`', fence);
	memcpy(o += fence, a->runtime, rt);
	*(o += rt) = '\n';
	memcpy(++o, a->script, shown);
	if (nl)
		o[shown++] = '\n';
	memset(o += shown, '`', fence);
	o[fence] = '\0';
	return out;
}

/* Fail the current attempt, which got as far as a script: the model's turn is that
 * script. */
static void fail_scripted(struct jobrun *j, enum runner_end end, const char *error, const char *log)
{
	size_t len;
	char *echo = echo_script(current(j), &len);

	fail_attempt(j, end, error, log, echo ? echo : "", echo ? len : 0);
	free(echo);
}

static void on_checked(void *opaque, int rc, const char *sentence, const char *log_tail)
{
	struct jobrun *j = opaque;

	j->check = NULL;
	current(j)->check_ms = ms_since(j->check_started_ns);
	if (rc == 0) {
		fail_scripted(j, RUNNER_END_SCRIPT_FAILED, sentence, log_tail);
		return;
	}
	/* rc < 0: the check could not run; the render finds the same errors, later. */
	render(j);
}

/* The answer's script becomes this attempt's job: resolved like a script job (the
 * operator's script cap, the runtime), then checked, then rendered. */
/* Whether the attempt's script gets a syntax check of its own before the render. Python,
 * Node and Lua compile the whole file before they run a line of it, so the render's own
 * start is that check, with the same sentence and no second sandbox (about 40 ms); a
 * shell parses as it goes and could fail half way through the frames, so it is checked
 * first with -n. */
static int needs_check(const struct jobrun *j)
{
	const struct runtime *rt = config_find_runtime(j->env.cfg, j->attempt_job.runtime);
	char base[64];

	return rt && runtime_kind(rt, base, sizeof(base)) == RUNTIME_SHELL;
}

static void take_script(struct jobrun *j, struct model_script *ms, const char *answer,
			size_t answer_len)
{
	struct jobrun_attempt *a = current(j);
	const char *rt = ms->runtime	      ? ms->runtime
			 : j->job->runtime[0] ? j->job->runtime
					      : "python3";
	char err[512];
	int rc;

	a->script = ms->code;
	a->script_len = ms->len;
	a->fenced = ms->fenced;
	ms->code = NULL;
	set_text(a->runtime, sizeof(a->runtime), rt);

	j->attempt_job = *j->job;
	j->attempt_job.prompt = NULL;
	j->attempt_job.prompt_len = 0;
	/* The model wrote it: the operator's prompt tier holds for it as for the prompt. */
	j->attempt_job.from_prompt = 1;
	j->attempt_job.script = a->script;
	j->attempt_job.script_len = a->script_len;
	j->attempt_job.script_name[0] = '\0';
	set_text(j->attempt_job.runtime, sizeof(j->attempt_job.runtime), rt);
	if (job_resolve(&j->attempt_job, j->env.cfg, err, sizeof(err)) < 0) {
		fail_attempt(j, RUNNER_END_SCRIPT_FAILED, err, NULL, answer, answer_len);
		return;
	}
	if (!needs_check(j)) {
		render(j);
		return;
	}
	j->phase = PH_CHECK;
	j->check_started_ns = uv_hrtime();
	rc = syncheck_start(j->env.loop, &j->attempt_job, j->env.cfg, j->env.slot, on_checked, j,
			    &j->check, err, sizeof(err));
	if (rc != 0) /* 1: no cheap check for this runtime; < 0: the render will tell */
		render(j);
}

static void on_answer(struct model_call *call, int rc, struct model_answer *ans, const char *err,
		      void *arg)
{
	struct jobrun *j = arg;
	struct jobrun_attempt *a = current(j);
	struct model_script ms;
	char why[512];
	size_t shown;

	(void)call;
	j->call = NULL;
	a->model_ms = ans->ms;
	if (rc < 0) {
		/* No answer at all: the model (or the way to it) failed, not a script. */
		a->end = RUNNER_END_MODEL;
		set_text(a->error, sizeof(a->error), err);
		made_result(j, RUNNER_END_MODEL, err);
		finish(j);
		return;
	}
	a->input_tokens = ans->input_tokens;
	a->output_tokens = ans->output_tokens;
	rc = model_extract_script(ans->text, ans->text_len, j->env.cfg->max_script_bytes,
				  j->offered, &ms, why, sizeof(why));
	/* The answer as its turn goes back on a failure: a repair needs the script, not
	 * megabytes of prose around it. */
	shown = utf8_prefix(ans->text, ans->text_len, ANSWER_ECHO_MAX);
	if (rc < 0) {
		fail_attempt(j, RUNNER_END_SCRIPT_FAILED, why, NULL, ans->text, shown);
	} else {
		take_script(j, &ms, ans->text, shown);
		model_script_free(&ms);
	}
	model_answer_free(ans);
}

static void ask(struct jobrun *j)
{
	struct jobrun_attempt *a = &j->attempts[j->n_attempts++];
	char err[MODEL_ERROR_MAX];

	memset(a, 0, sizeof(*a));
	a->input_tokens = a->output_tokens = -1;
	j->phase = PH_ASK;
	if (model_ask(j->env.http, &j->env.model->mc, j->system, j->turns, j->nturns, on_answer, j,
		      &j->call, err, sizeof(err)) < 0) {
		a->end = RUNNER_END_MODEL;
		set_text(a->error, sizeof(a->error), err);
		made_result(j, RUNNER_END_MODEL, err);
		finish(j);
	}
}

/* ---- the runner's callbacks, passed on ---- */

static void inner_progress(void *opaque, int64_t done, int64_t total)
{
	struct jobrun *j = opaque;

	if (j->ops->progress)
		j->ops->progress(j->opaque, done, total);
}

static void inner_log_line(void *opaque, const char *line, size_t len)
{
	struct jobrun *j = opaque;

	if (j->ops->log_line)
		j->ops->log_line(j->opaque, line, len);
}

static void inner_done(void *opaque, const struct runner_result *res)
{
	struct jobrun *j = opaque;
	struct jobrun_attempt *a;

	/* res lives in the runner: everything below reads the copy, never res. */
	j->res = *res;
	res = &j->res;
	runner_free(j->runner);
	j->runner = NULL;
	if (!j->prompted) {
		j->phase = PH_DONE;
		j->ops->done(j->opaque, &j->res);
		return;
	}
	a = current(j);
	a->succeeded = res->succeeded;
	a->end = res->end;
	a->render_ms = res->total_ms;
	set_text(a->error, sizeof(a->error), res->succeeded ? "" : res->error);
	set_text(a->log, sizeof(a->log), res->log_tail);
	if (res->succeeded || !repairable(res->end) || j->cancel_reason[0]) {
		finish(j);
		return;
	}
	{
		size_t len;
		char *echo = echo_script(a, &len);
		attempt_failed(j, echo ? echo : "", echo ? len : 0);
		free(echo);
	}
}

static const struct runner_ops jobrun_inner_ops = {
    .progress = inner_progress,
    .log_line = inner_log_line,
    .done = inner_done,
};

/* ---- the interface ---- */

static int start_prompted(struct jobrun *j, char *err, size_t errlen)
{
	size_t n;

	if (!j->env.model || !j->env.http) {
		worker_err(err, errlen, "%s", modelcfg_none_sentence);
		return -ENOTSUP;
	}
	j->prompted = 1;
	j->max_attempts = (unsigned)j->env.model->max_attempts;
	if (j->max_attempts < 1 || j->max_attempts > JOBRUN_MAX_ATTEMPTS)
		j->max_attempts = j->max_attempts < 1 ? 1 : JOBRUN_MAX_ATTEMPTS;
	n = promptmsg_offered(j->env.cfg, j->job, j->offered, JOB_MAX_RUNTIMES);
	j->offered[n] = NULL;
	j->system = promptmsg_system(j->env.cfg, j->job);
	if (!j->system ||
	    add_turn(j, MODEL_USER, promptmsg_request(j->job->prompt, j->job->prompt_len)) < 0) {
		worker_err(err, errlen, "out of memory building the model's request");
		return -ENOMEM;
	}
	ask(j);
	return 0;
}

int jobrun_start(const struct jobrun_env *env, const struct job *job, const char *output,
		 const struct runner_ops *ops, void *opaque, struct jobrun **out, char *err,
		 size_t errlen)
{
	struct jobrun *j = calloc(1, sizeof(*j));
	int rc;

	if (!j) {
		worker_err(err, errlen, "out of memory starting the job");
		return -ENOMEM;
	}
	j->env = *env;
	j->job = job;
	j->output = output;
	j->ops = ops;
	j->opaque = opaque;
	j->started_ns = uv_hrtime();
	uv_timer_init(env->loop, &j->later);
	j->later.data = j;
	j->later_open = 1;
	if (job->prompt) {
		rc = start_prompted(j, err, errlen);
	} else {
		j->phase = PH_RENDER;
		rc = runner_start(env->loop, job, env->cfg, output, env->slot, env->pool,
				  &jobrun_inner_ops, j, &j->runner, err, errlen);
	}
	if (rc < 0) {
		jobrun_free(j);
		return rc;
	}
	*out = j;
	return 0;
}

void jobrun_cancel(struct jobrun *j, const char *reason)
{
	if (!j || j->phase == PH_DONE || j->cancel_reason[0])
		return;
	set_text(j->cancel_reason, sizeof(j->cancel_reason), reason ? reason : "cancelled");
	switch (j->phase) {
	case PH_RENDER:
		runner_cancel(j->runner, j->cancel_reason); /* its done finishes the job */
		return;
	case PH_ASK:
		model_cancel(j->call);
		j->call = NULL;
		break;
	case PH_CHECK:
		syncheck_cancel(j->check);
		j->check = NULL;
		break;
	default:
		break;
	}
	if (j->n_attempts) {
		current(j)->end = RUNNER_END_CANCELLED;
		snprintf(current(j)->error, sizeof(current(j)->error), "%s", j->cancel_reason);
	}
	made_result(j, RUNNER_END_CANCELLED, j->cancel_reason);
	finish(j);
}

static void on_freed(uv_handle_t *h)
{
	free(h->data);
}

void jobrun_free(struct jobrun *j)
{
	if (!j)
		return;
	if (j->call)
		model_cancel(j->call);
	if (j->check)
		syncheck_cancel(j->check);
	if (j->runner) {
		/* Only reached when the caller frees a job that never ended (its start failed
		 * half way): the runner's own free kills what it started. */
		runner_free(j->runner);
	}
	free(j->system);
	for (unsigned i = 0; i < j->nturns; i++)
		free(j->turn_text[i]);
	for (unsigned i = 0; i < j->n_attempts; i++)
		free(j->attempts[i].script);
	if (j->later_open) {
		uv_close((uv_handle_t *)&j->later, on_freed);
		return;
	}
	free(j);
}

/* ---- the result ---- */

/* A JSON string of bytes that may not be UTF-8 (a script's log, a script from the
 * model): made well-formed first. */
static json_t *text(const char *s, size_t len)
{
	json_t *v;
	char *buf;
	size_t cap;

	if (!s)
		return json_null();
	if (utf8_valid(s, len) && !memchr(s, '\0', len))
		return json_stringn(s, len);
	cap = len * 3 + 1;
	if (!(buf = malloc(cap)))
		return NULL;
	cap = utf8_sanitize(buf, cap, s, len);
	v = json_stringn(buf, cap);
	free(buf);
	return v;
}

/* Without a budget an attempt's script is still cut here: a whole script per attempt
 * would make a summary of max_attempts * max_script_bytes. The final script is whole. */
#define ATTEMPT_SCRIPT_SHOWN (64u << 10)

/* The tail of a log in at most max bytes, starting on a character. */
static json_t *log_text(const char *log, size_t max)
{
	size_t len = strlen(log), from = len > max ? len - max : 0;

	while (from < len && ((unsigned char)log[from] & 0xc0) == 0x80)
		from++;
	return text(log + from, len - from);
}

/* script_max and log_max bound what the attempt shows of its script and log. */
static json_t *attempt_json(const struct jobrun_attempt *a, size_t script_max, size_t log_max)
{
	json_t *o = json_object();
	size_t shown = a->script ? utf8_prefix(a->script, a->script_len, script_max) : 0;

	if (!o)
		return NULL;
	if (json_object_set_new(o, "script", text(a->script, shown)) < 0 ||
	    (shown < a->script_len &&
	     json_object_set_new(o, "script_bytes", json_integer((json_int_t)a->script_len)) < 0) ||
	    json_object_set_new(o, "runtime", a->script ? json_string(a->runtime) : json_null()) <
		0 ||
	    json_object_set_new(o, "status", json_string(a->succeeded ? "succeeded" : "failed")) <
		0 ||
	    json_object_set_new(o, "end", json_string(runner_end_name(a->end))) < 0 ||
	    json_object_set_new(
		o, "error", a->succeeded ? json_null() : text(a->error, strlen(a->error))) < 0 ||
	    json_object_set_new(o, "log", log_text(a->log, log_max)) < 0 ||
	    json_object_set_new(o, "model_ms", json_integer((json_int_t)a->model_ms)) < 0 ||
	    json_object_set_new(o, "check_ms", json_integer((json_int_t)a->check_ms)) < 0 ||
	    json_object_set_new(o, "render_ms", json_integer((json_int_t)a->render_ms)) < 0 ||
	    json_object_set_new(o, "input_tokens", json_integer(a->input_tokens)) < 0 ||
	    json_object_set_new(o, "output_tokens", json_integer(a->output_tokens)) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *jobrun_result_extra(const struct jobrun *j, size_t budget)
{
	const struct jobrun_attempt *last = NULL;
	size_t each, script_max = ATTEMPT_SCRIPT_SHOWN, log_max = RUNNER_LOG_TAIL, final_len;
	json_t *o, *list;

	if (!j || !j->prompted)
		return NULL;
	/* A budget is shared by the attempts, three quarters script, a quarter log. */
	if (budget && j->n_attempts) {
		each = budget / j->n_attempts;
		script_max = each / 4 * 3;
		log_max = each / 4 < RUNNER_LOG_TAIL ? each / 4 : RUNNER_LOG_TAIL;
	}
	o = json_object();
	list = json_array();
	if (!o || !list)
		goto fail;
	for (unsigned i = 0; i < j->n_attempts; i++) {
		if (json_array_append_new(list,
					  attempt_json(&j->attempts[i], script_max, log_max)) < 0)
			goto fail;
		if (j->attempts[i].script)
			last = &j->attempts[i];
	}
	final_len = !last    ? 0
		    : budget ? utf8_prefix(last->script, last->script_len, JOBRUN_SCRIPT_KEPT)
			     : last->script_len;
	if (json_object_set_new(o, "prompt", text(j->job->prompt, j->job->prompt_len)) < 0 ||
	    json_object_set_new(o, "script", last ? text(last->script, final_len) : json_null()) <
		0 ||
	    (last && final_len < last->script_len &&
	     json_object_set_new(o, "script_bytes", json_integer((json_int_t)last->script_len)) <
		 0) ||
	    json_object_set_new(o, "attempts", list) < 0) {
		list = NULL;
		goto fail;
	}
	return o;
fail:
	json_decref(list);
	json_decref(o);
	return NULL;
}

const struct jobrun_attempt *jobrun_attempts(const struct jobrun *j, unsigned *n)
{
	*n = j ? j->n_attempts : 0;
	return j ? j->attempts : NULL;
}
