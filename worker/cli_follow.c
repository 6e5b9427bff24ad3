/* cli_follow.c - `submit --wait` following a job, and `status` as a person reads it.
 *
 * Following never leaves the user in front of a silent terminal: when no worker has
 * taken the job after a second it says so (and which Redis it waits on), a retry is
 * told with its reason, and Ctrl-C stops only the waiting: the job stays queued or
 * running, and the sentence says so and how to cancel it. A failure shows the error and
 * the last lines of the script's log, since `submit` shows no log while it runs.
 */
#define _GNU_SOURCE
#include "cli_follow.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "queue.h"

/* How long one wait for an event blocks: also how late Ctrl-C is noticed. */
#define FOLLOW_POLL_MS 1000
/* After this long without a worker taking the job, say so. */
#define FOLLOW_QUEUED_NOTE_MS 1000
/* Lines of the log shown under a failure. */
#define FOLLOW_LOG_LINES 5

static volatile sig_atomic_t follow_interrupted;

static void on_interrupt(int sig)
{
	follow_interrupted = sig;
}

static long long wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static int final_state(const char *s)
{
	return s && (!strcmp(s, "succeeded") || !strcmp(s, "failed") || !strcmp(s, "dead") ||
		     !strcmp(s, "cancelled"));
}

void cli_print_log_lines(FILE *out, const char *log, int n)
{
	const char *starts[64];
	int k = 0, first;

	if (!log)
		return;
	for (const char *p = log; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		if (len && strspn(p, " \t") < len)
			starts[k++ % 64] = p;
		p += len + (nl ? 1 : 0);
	}
	if (n > 64)
		n = 64;
	first = k > n ? k - n : 0;
	for (int i = first; i < k; i++) {
		const char *p = starts[i % 64];
		fprintf(out, "  | %.*s\n", (int)strcspn(p, "\n"), p);
	}
}

/* Print the final state like `run` does; 0 when it succeeded. */
static int report(const char *id, const char *status, const struct cli_follow_opts *o)
{
	json_t *st = json_loads(status, 0, NULL);
	const char *state = str(st, "state");
	int ok = state && !strcmp(state, "succeeded");

	if (o->progress)
		cli_progress_end(o->progress, state ? state : "ended");
	if (o->json) {
		printf("%s\n", status);
	} else if (ok) {
		fprintf(stderr, "reelbox: job %s succeeded: %s\n", id, str(st, "output") ?: "");
	} else {
		fprintf(stderr, "reelbox: job %s %s: %s\n", id, state ? state : "ended",
			str(st, "error") ?: "no reason was recorded");
		if (str(st, "log") && str(st, "log")[0]) {
			fprintf(stderr, "reelbox: the script's log ends with:\n");
			cli_print_log_lines(stderr, str(st, "log"), FOLLOW_LOG_LINES);
		}
	}
	json_decref(st);
	return ok ? 0 : EXIT_JOB_FAILED;
}

/* Ctrl-C: the job is not touched. Say where it stands and how to cancel it. */
static int interrupted(struct queue *q, const char *id, const struct cli_follow_opts *o)
{
	char *status = NULL, err[QUEUE_ERR_MAX];
	json_t *st;
	const char *state;

	if (o->progress)
		cli_progress_clear(o->progress);
	if (isatty(2))
		fputc('\n', stderr); /* past the ^C the terminal echoed */
	if (queue_status(q, id, &status, err, sizeof(err)) < 0) {
		fprintf(stderr, "reelbox: stopped waiting for job %s (its state is unknown: %s)\n",
			id, err);
		return 130;
	}
	st = json_loads(status, 0, NULL);
	state = str(st, "state");
	if (final_state(state)) {
		json_decref(st);
		int rc = report(id, status, o);
		free(status);
		return rc;
	}
	if (state && !strcmp(state, "running"))
		fprintf(stderr,
			"reelbox: stopped waiting; job %s keeps running on worker %s (see it with "
			"reelbox status %s, stop it with reelbox cancel %s)\n",
			id, str(st, "worker") ?: "?", id, id);
	else
		fprintf(stderr,
			"reelbox: stopped waiting; job %s stays %s and a worker will run it "
			"(cancel it with reelbox cancel %s)\n",
			id, state ? state : "queued", id);
	if (o->progress)
		cli_progress_end(o->progress, state ? state : "queued");
	if (o->json)
		printf("%s\n", status);
	json_decref(st);
	free(status);
	return 130;
}

/* One following of a job. */
struct follow {
	struct queue *q;
	const char *id;
	const struct cli_follow_opts *o;
	char cursor[QUEUE_ENTRY_MAX]; /* the last event read */
	char *status;		      /* the job's final status, once read */
	long long start;
	int claimed, told_queued;
};

/* No event for a while: events are capped, so the job's own state is the truth. Says
 * once when no worker has taken the job yet. 1 when the job is over (f->status holds
 * its status). */
static int follow_quiet(struct follow *f)
{
	const struct cli_follow_opts *o = f->o;
	char err[QUEUE_ERR_MAX], *status = NULL;
	json_t *st;
	const char *s;
	int over;

	if (queue_status(f->q, f->id, &status, err, sizeof(err)) != 0)
		return 0;
	st = json_loads(status, 0, NULL);
	s = str(st, "state");
	over = final_state(s);
	if (!over && s && !strcmp(s, "queued") && !f->claimed && !f->told_queued &&
	    mono_ms() - f->start >= FOLLOW_QUEUED_NOTE_MS) {
		char where[300] = "this Redis";
		if (o->redis_url) /* without its password */
			queue_url_shown(where, sizeof(where), o->redis_url);
		if (o->progress)
			cli_progress_clear(o->progress);
		fprintf(stderr,
			"reelbox: job %s is queued; waiting for a worker (none has taken it yet: "
			"is `reelbox worker` running against %s?)\n",
			f->id, where);
		f->told_queued = 1;
	}
	json_decref(st);
	if (over)
		f->status = status;
	else
		free(status);
	return over;
}

/* One event of the job: progress, taken by a worker, an attempt that will be retried.
 * 1 when it says the job is over. */
static int follow_event(struct follow *f, const char *ev)
{
	const struct cli_follow_opts *o = f->o;
	json_t *e = json_loads(ev, 0, NULL);
	const char *type = str(e, "type");
	int over = type && (!strcmp(type, "done") || !strcmp(type, "dead"));

	if (type && !strcmp(type, "progress") && o->progress) {
		cli_progress_update(o->progress, json_integer_value(json_object_get(e, "frames")),
				    json_integer_value(json_object_get(e, "total")));
	} else if (type && !strcmp(type, "running")) {
		f->claimed = 1;
		if (f->told_queued)
			fprintf(stderr, "reelbox: job %s taken by worker %s\n", f->id,
				str(e, "worker") ?: "?");
	} else if (type && !strcmp(type, "retry")) {
		if (o->progress)
			cli_progress_clear(o->progress);
		fprintf(stderr,
			"reelbox: attempt %lld of job %s failed (%s); it runs again in %.1f s\n",
			(long long)json_integer_value(json_object_get(e, "attempt")), f->id,
			str(e, "error") ?: "no reason given",
			(double)json_integer_value(json_object_get(e, "delay_ms")) / 1000);
	}
	json_decref(e);
	return over;
}

/* Read events until the job is over or Ctrl-C; 0, or EXIT_USAGE when the events were
 * lost (said on stderr). */
static int follow_events(struct follow *f)
{
	char err[QUEUE_ERR_MAX];
	int rc, over = 0;

	while (!over && !follow_interrupted) {
		char *ev = NULL;

		rc =
		    queue_wait_event(f->q, f->id, f->cursor, FOLLOW_POLL_MS, &ev, err, sizeof(err));
		if (follow_interrupted) {
			free(ev);
			break;
		}
		if (rc == -ETIMEDOUT) {
			over = follow_quiet(f);
			continue;
		}
		if (rc < 0) {
			if (f->o->progress)
				cli_progress_end(f->o->progress, "unknown");
			fprintf(stderr, "reelbox submit: lost the job's events: %s\n", err);
			return EXIT_USAGE;
		}
		over = follow_event(f, ev);
		free(ev);
	}
	return 0;
}

/* The end of a following: Ctrl-C, or the final status (read now if no quiet spell
 * did). */
static int follow_end(struct follow *f)
{
	char err[QUEUE_ERR_MAX];
	int rc;

	if (follow_interrupted) {
		free(f->status);
		return interrupted(f->q, f->id, f->o);
	}
	if (!f->status && queue_status(f->q, f->id, &f->status, err, sizeof(err)) < 0) {
		if (f->o->progress)
			cli_progress_end(f->o->progress, "unknown");
		fprintf(stderr, "reelbox submit: %s\n", err);
		return EXIT_USAGE;
	}
	rc = report(f->id, f->status, f->o);
	free(f->status);
	return rc;
}

int cli_follow_job(struct queue *q, const char *id, const struct cli_follow_opts *o)
{
	struct follow f = {.q = q, .id = id, .o = o, .cursor = "0", .start = mono_ms()};
	struct sigaction sa, old_int, old_term;
	int rc;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_interrupt; /* no SA_RESTART: a blocked read returns */
	sigemptyset(&sa.sa_mask);
	follow_interrupted = 0;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);

	rc = follow_events(&f);
	if (rc == 0)
		rc = follow_end(&f);
	else
		free(f.status);
	if (!o->json && !o->id_printed)
		printf("%s\n", id);
	fflush(stdout);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	return rc;
}

/* ---- status as text ---- */

static long long num(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_string(v))
		return atoll(json_string_value(v));
	return 0;
}

/* "2024-12-02 07:40:12" in local time. */
static void fmt_date(long long ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!localtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, len, "%lld", ms);
}

/* "850 ms", "4.2 s", "3 min 12 s", "2 h 5 min". */
static void fmt_span(long long ms, char *buf, size_t len)
{
	if (ms < 0)
		ms = 0;
	if (ms < 1000)
		snprintf(buf, len, "%lld ms", ms);
	else if (ms < 60000)
		snprintf(buf, len, "%.1f s", (double)ms / 1000);
	else if (ms < 3600000)
		snprintf(buf, len, "%lld min %lld s", ms / 60000, ms / 1000 % 60);
	else
		snprintf(buf, len, "%lld h %lld min", ms / 3600000, ms / 60000 % 60);
}

static void field(FILE *out, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void field(FILE *out, const char *name, const char *fmt, ...)
{
	va_list ap;

	fprintf(out, "%-10s ", name);
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	fputc('\n', out);
}

/* A prompt job's prompt and each model attempt, one line each. */
static void print_model_attempts(FILE *out, json_t *st)
{
	json_t *list = json_object_get(json_object_get(st, "result"), "attempts"), *a;
	size_t i;

	if (!json_is_string(json_object_get(st, "prompt")))
		return;
	field(out, "prompt", "%.200s", str(st, "prompt"));
	json_array_foreach(list, i, a)
	{
		char name[40];
		snprintf(name, sizeof(name), "try %zu", i + 1);
		field(out, name, "%s, model %lld ms, render %lld ms: %s%.300s",
		      str(a, "runtime") ?: "no script", num(a, "model_ms"), num(a, "render_ms"),
		      str(a, "error") ? "failed: " : "rendered", str(a, "error") ?: "");
	}
}

void cli_print_status_text(FILE *out, json_t *st, long long now_ms)
{
	const char *state = str(st, "state") ?: "unknown";
	long long created = num(st, "created"), started = num(st, "started");
	long long finished = num(st, "finished"), hb = num(st, "heartbeat");
	long long not_before = num(st, "not_before");
	json_t *prog = json_object_get(st, "progress");
	char a[64], b[64];

	field(out, "job", "%s", str(st, "id") ?: "?");
	field(out, "state", "%s", state);
	if (num(st, "max_attempts"))
		field(out, "attempts", "%lld of %lld", num(st, "attempts"),
		      num(st, "max_attempts"));
	if (str(st, "worker"))
		field(out, "worker", "%s", str(st, "worker"));
	if (created) {
		fmt_date(created, a, sizeof(a));
		fmt_span(now_ms - created, b, sizeof(b));
		field(out, "created", "%s (%s ago)", a, b);
	}
	if (started && started >= created) {
		fmt_span(started - created, b, sizeof(b));
		field(out, "waited", "%s in the queue", b);
	} else if (!strcmp(state, "queued") && created) {
		fmt_span(now_ms - created, b, sizeof(b));
		field(out, "waiting", "%s so far for a worker", b);
	}
	if (not_before > now_ms && !strcmp(state, "queued")) {
		fmt_date(not_before, a, sizeof(a));
		field(out, "retry", "not before %s", a);
	}
	if (started && finished >= started && final_state(state)) {
		fmt_span(finished - started, b, sizeof(b));
		fmt_date(finished, a, sizeof(a));
		field(out, "ran", "%s (finished %s)", b, a);
	} else if (started && !strcmp(state, "running")) {
		fmt_span(now_ms - started, b, sizeof(b));
		fmt_span(now_ms - hb, a, sizeof(a));
		field(out, "running", "for %s (last heartbeat %s ago)", b, a);
	}
	if (json_is_object(prog) && !final_state(state))
		field(out, "progress", "%lld of %lld frames",
		      (long long)json_integer_value(json_object_get(prog, "frames")),
		      (long long)json_integer_value(json_object_get(prog, "total")));
	if (str(st, "output") && !strcmp(state, "succeeded"))
		field(out, "output", "%s (%lld frames, %lld bytes)", str(st, "output"),
		      num(st, "frames"), num(st, "bytes"));
	if (str(st, "sha256") && !strcmp(state, "succeeded"))
		field(out, "sha256", "%s", str(st, "sha256"));
	if (str(json_object_get(st, "result"), "poster") && !strcmp(state, "succeeded"))
		field(out, "poster", "%s", str(json_object_get(st, "result"), "poster"));
	if (str(json_object_get(st, "result"), "contact_sheet") && !strcmp(state, "succeeded"))
		field(out, "contact sheet", "%s",
		      str(json_object_get(st, "result"), "contact_sheet"));
	if (json_is_object(json_object_get(json_object_get(st, "result"), "audio")) &&
	    !strcmp(state, "succeeded")) {
		json_t *au = json_object_get(json_object_get(st, "result"), "audio");
		const char *name = str(au, "name"), *codec = str(au, "codec"),
			   *fitted = str(au, "fitted");

		field(out, "audio", "%s (%s, %.3f s, %s; the file was %.3f s)", name ? name : "",
		      codec ? codec : "", json_number_value(json_object_get(au, "duration_s")),
		      fitted ? fitted : "",
		      json_number_value(json_object_get(au, "source_duration_s")));
	}
	if (num(st, "cancel") && strcmp(state, "cancelled"))
		field(out, "cancel", "requested");
	print_model_attempts(out, st);
	if (str(st, "error") && str(st, "error")[0])
		field(out, "error", "%s", str(st, "error"));
	if (str(st, "log") && str(st, "log")[0]) {
		field(out, "log", "(last lines; reelbox status --json has the tail)");
		cli_print_log_lines(out, str(st, "log"), FOLLOW_LOG_LINES);
	}
}

void cli_exists_sentence(char *buf, size_t len, const char *id, json_t *st, long long now_ms,
			 unsigned result_ttl_s)
{
	const char *state = str(st, "state");
	long long finished = num(st, "finished");
	char a[64], b[64];

	if (!state) {
		snprintf(buf, len, "a job with id %s already exists: pick another --id", id);
		return;
	}
	if (!final_state(state) || !finished) {
		snprintf(buf, len,
			 "a job with id %s already exists and is %s: pick another --id, or wait "
			 "for it (reelbox status %s)",
			 id, state, id);
		return;
	}
	const char *how = !strcmp(state, "dead")	? "went dead"
			  : !strcmp(state, "cancelled") ? "was cancelled"
							: state;

	fmt_span(now_ms - finished, a, sizeof(a));
	fmt_span(finished + (long long)result_ttl_s * 1000 - now_ms, b, sizeof(b));
	snprintf(buf, len,
		 "a job with id %s already exists: it %s %s ago, and its id is free again when "
		 "its result expires in about %s (result_ttl %u s); pick another --id",
		 id, how, a, b, result_ttl_s);
}

long long cli_wall_ms(void)
{
	return wall_ms();
}
