/* web_api.c - the dashboard's JSON API, /metrics and /healthz.
 *
 * Each answer borrows a queue client (web_util.c), makes one or two blocking calls and
 * sends what the queue answered: its JSON as it is (the queue bounds every value and
 * makes it valid UTF-8), or {"error": sentence} with a status that says whose the
 * problem is (400 a bad parameter, 404 an unknown job, 409 a job in the wrong state,
 * 503 Redis away). The page shows the sentence as it is.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "web.h"

#define WEB_LIST_DEFAULT 100

static const char *arg(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
}

/* A queue call's malloc'd JSON, or its error, as the answer; q goes back to the pool. */
static enum MHD_Result answer(struct web *w, struct MHD_Connection *c, struct queue *q, int rc,
			      char *json, const char *err)
{
	web_queue_put(w, q, rc);
	if (rc < 0) {
		free(json);
		return web_send_error(w, c, web_status_for(rc), err);
	}
	return web_send_owned(w, c, MHD_HTTP_OK, "application/json", json, strlen(json));
}

enum MHD_Result web_api_overview(struct web *w, struct MHD_Connection *c)
{
	struct queue *q;
	char *json = NULL, err[QUEUE_ERR_MAX];
	int rc;

	if ((rc = web_queue_get(w, &q, err, sizeof(err))) < 0)
		return web_send_error(w, c, MHD_HTTP_SERVICE_UNAVAILABLE, err);
	rc = queue_stats(q, &json, err, sizeof(err));
	return answer(w, c, q, rc, json, err);
}

/* ?state=S (all, or empty, for every state) and ?limit=N (1 to QUEUE_LIST_MAX). */
enum MHD_Result web_api_jobs(struct web *w, struct MHD_Connection *c)
{
	const char *state = arg(c, "state"), *limit = arg(c, "limit");
	unsigned long n = WEB_LIST_DEFAULT;
	struct queue *q;
	char *json = NULL, *end, err[QUEUE_ERR_MAX];
	int rc;

	if (state && (!*state || !strcmp(state, "all")))
		state = NULL;
	if (limit) {
		errno = 0;
		n = strtoul(limit, &end, 10);
		if (errno || end == limit || *end || limit[0] == '-' || n < 1 || n > QUEUE_LIST_MAX)
			return web_send_error(w, c, MHD_HTTP_BAD_REQUEST,
					      "limit takes a number of jobs from 1 to 1000");
	}
	if ((rc = web_queue_get(w, &q, err, sizeof(err))) < 0)
		return web_send_error(w, c, MHD_HTTP_SERVICE_UNAVAILABLE, err);
	rc = queue_list(q, state, (unsigned)n, &json, err, sizeof(err));
	return answer(w, c, q, rc, json, err);
}

enum MHD_Result web_api_job(struct web *w, struct MHD_Connection *c, const char *id)
{
	struct queue *q;
	char *json = NULL, err[QUEUE_ERR_MAX];
	int rc;

	if ((rc = web_queue_get(w, &q, err, sizeof(err))) < 0)
		return web_send_error(w, c, MHD_HTTP_SERVICE_UNAVAILABLE, err);
	rc = queue_status(q, id, &json, err, sizeof(err));
	return answer(w, c, q, rc, json, err);
}

/* 1 when the n digits at s are a number Redis takes in a stream id (64 bits). */
static int id_part_ok(const char *s, size_t n)
{
	char buf[24];

	if (n == 0 || n > 20)
		return 0;
	memcpy(buf, s, n);
	buf[n] = '\0';
	errno = 0;
	strtoull(buf, NULL, 10);
	return errno == 0;
}

/* 1 when s is a log cursor: "0" or a stream entry id, digits and one '-', each part a
 * 64-bit number (a bigger one passed here and came back from Redis as an error: 503). */
static int cursor_ok(const char *s)
{
	size_t n = strlen(s), digits = strspn(s, "0123456789");

	if (n == 0 || n >= QUEUE_ENTRY_MAX || !id_part_ok(s, digits))
		return 0;
	if (digits == n)
		return 1;
	return s[digits] == '-' && strspn(s + digits + 1, "0123456789") == n - digits - 1 &&
	       id_part_ok(s + digits + 1, n - digits - 1);
}

/* The log's JSON with "cursor" added: where the next read starts. */
static char *with_cursor(char *json, const char *cursor)
{
	json_t *o = json_loads(json, 0, NULL);
	char *out;

	free(json);
	if (!json_is_object(o)) {
		json_decref(o);
		return NULL;
	}
	json_object_set_new(o, "cursor", json_string(cursor));
	out = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return out;
}

/* ?after=CURSOR ("0", the default: from the oldest entry kept). */
enum MHD_Result web_api_log(struct web *w, struct MHD_Connection *c, const char *id)
{
	const char *after = arg(c, "after");
	char cursor[QUEUE_ENTRY_MAX], *json = NULL, err[QUEUE_ERR_MAX];
	struct queue *q;
	int rc;

	if (after && !cursor_ok(after))
		return web_send_error(
		    w, c, MHD_HTTP_BAD_REQUEST,
		    "after takes a log cursor: 0, or an entry id like 1700000000000-0");
	snprintf(cursor, sizeof(cursor), "%s", after ? after : "0");
	if ((rc = web_queue_get(w, &q, err, sizeof(err))) < 0)
		return web_send_error(w, c, MHD_HTTP_SERVICE_UNAVAILABLE, err);
	rc = queue_log_read(q, id, cursor, 0, &json, err, sizeof(err));
	if (rc == 0 && !(json = with_cursor(json, cursor))) {
		rc = -EIO;
		snprintf(err, sizeof(err), "unexpected answer from the queue's log");
	}
	return answer(w, c, q, rc, json, err);
}

/* One of the page's buttons: the queue call, and what it did as {"id", "state", ...}. */
static int run_action(struct queue *q, const char *id, const char *action, json_t *o, char *err,
		      size_t errlen)
{
	struct queue_cancel_info info = {0};
	char state[16] = "";
	int rc;

	if (!strcmp(action, "cancel")) {
		if ((rc = queue_cancel(q, id, &info, err, errlen)) < 0)
			return rc;
		json_object_set_new(o, "state", json_string(info.state));
		json_object_set_new(o, "cancelled", json_boolean(rc == 0));
		if (rc == 0)
			json_object_set_new(o, "was", json_string(info.was));
		return 0;
	}
	if (!strcmp(action, "retry")) {
		if ((rc = queue_requeue(q, id, err, errlen)) < 0)
			return rc;
		json_object_set_new(o, "state", json_string("queued"));
		return 0;
	}
	if ((rc = queue_delete(q, id, state, err, errlen)) < 0)
		return rc;
	json_object_set_new(o, "deleted", json_true());
	json_object_set_new(o, "was", json_string(state));
	return 0;
}

enum MHD_Result web_api_action(struct web *w, struct MHD_Connection *c, const char *id,
			       const char *action)
{
	struct queue *q;
	char err[QUEUE_ERR_MAX] = "", *json = NULL;
	json_t *o = json_pack("{s:s, s:s}", "id", id, "action", action);
	int rc;

	if (!o)
		return MHD_NO;
	if ((rc = web_queue_get(w, &q, err, sizeof(err))) < 0) {
		json_decref(o);
		return web_send_error(w, c, MHD_HTTP_SERVICE_UNAVAILABLE, err);
	}
	rc = run_action(q, id, action, o, err, sizeof(err));
	if (rc == 0 && !(json = json_dumps(o, JSON_COMPACT))) {
		rc = -ENOMEM;
		snprintf(err, sizeof(err), "out of memory");
	}
	json_decref(o);
	return answer(w, c, q, rc, json, err);
}

/* The counts of obj's names as one labelled metric each. */
static void prom_counts(FILE *f, const char *name, const char *help, json_t *obj)
{
	const char *k;
	json_t *v;

	fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
	json_object_foreach(obj, k, v) if (json_is_integer(v) &&
					   strspn(k, "abcdefghijklmnopqrstuvwxyz") == strlen(k))
	    fprintf(f, "%s{state=\"%s\"} %lld\n", name, k, (long long)json_integer_value(v));
}

static void prom_one(FILE *f, const char *name, const char *help, double v)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n%s %.17g\n", name, help, name, name, v);
}

/* The stats object as Prometheus text: gauges named reelbox_<what>_<unit>. */
static void prom_stats(FILE *f, json_t *st)
{
	json_t *ws = json_object_get(st, "workers"), *x;
	size_t i, alive = 0;

	prom_counts(f, "reelbox_queue_jobs", "Jobs in the recent-jobs index, by state.",
		    json_object_get(st, "states"));
	prom_one(f, "reelbox_queue_oldest_queued_age_seconds",
		 "Age of the oldest queued job (0 when none is queued).",
		 json_integer_value(json_object_get(st, "oldest_queued_age_ms")) / 1000.0);
	prom_one(f, "reelbox_queue_delayed_jobs", "Jobs waiting out a retry backoff.",
		 (double)json_integer_value(json_object_get(st, "delayed")));
	prom_one(f, "reelbox_queue_stream_entries", "Entries in the jobs stream.",
		 (double)json_integer_value(json_object_get(st, "stream_length")));
	json_array_foreach(ws, i, x) alive += json_is_true(json_object_get(x, "alive"));
	prom_one(f, "reelbox_workers_alive", "Workers that heart-beat in the last 15 seconds.",
		 (double)alive);
	prom_counts(f, "reelbox_queue_finished_last_minute",
		    "Jobs that ended in the last minute, by final state.",
		    json_object_get(st, "finished_last_minute"));
	prom_one(f, "reelbox_queue_frames_last_minute",
		 "Frames of the jobs that succeeded in the last minute.",
		 (double)json_integer_value(json_object_get(st, "frames_last_minute")));
}

enum MHD_Result web_api_metrics(struct web *w, struct MHD_Connection *c)
{
	struct queue *q;
	char *json = NULL, *text = NULL, err[QUEUE_ERR_MAX];
	size_t len = 0;
	json_t *st;
	FILE *f;
	int rc;

	if ((rc = web_queue_get(w, &q, err, sizeof(err))) < 0)
		return web_send_text(w, c, MHD_HTTP_SERVICE_UNAVAILABLE, err);
	rc = queue_stats(q, &json, err, sizeof(err));
	web_queue_put(w, q, rc);
	if (rc < 0)
		return web_send_text(w, c, MHD_HTTP_SERVICE_UNAVAILABLE, err);
	st = json_loads(json, 0, NULL);
	free(json);
	if (!st || !(f = open_memstream(&text, &len))) {
		json_decref(st);
		return web_send_text(w, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "bad queue stats\n");
	}
	prom_stats(f, st);
	fclose(f);
	json_decref(st);
	return web_send_owned(w, c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text,
			      len);
}

/* 200 "ok" when Redis answers a PING through the pool, else 503 with the reason. */
enum MHD_Result web_api_healthz(struct web *w, struct MHD_Connection *c)
{
	const char *ping[] = {"PING"};
	struct queue *q;
	char *out = NULL, err[QUEUE_ERR_MAX];
	int rc;

	if ((rc = web_queue_get(w, &q, err, sizeof(err))) < 0)
		return web_send_text(w, c, MHD_HTTP_SERVICE_UNAVAILABLE, err);
	rc = queue_command(q, &out, 1, ping);
	web_queue_put(w, q, rc);
	rc = rc == 0 && out && !strcmp(out, "PONG");
	free(out);
	return rc ? web_send_text(w, c, MHD_HTTP_OK, "ok\n")
		  : web_send_text(w, c, MHD_HTTP_SERVICE_UNAVAILABLE, "Redis does not answer\n");
}
