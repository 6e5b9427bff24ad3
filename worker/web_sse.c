/* web_sse.c - GET /api/events: the page's live feed, as server-sent events.
 *
 * Each stream runs on its own libmicrohttpd thread and holds its own queue client (a
 * blocking client is not thread-safe). About once a second it sends an `overview`
 * event, {"stats": queue_stats, "jobs": queue_list}; with ?job=ID it also sends that
 * job's status (`job`), its new events (`events`) and its new log entries (`log`) as
 * they come, waiting on the log stream between overviews so a line reaches the page at
 * once. While Redis is
 * away it sends a `problem` event with the sentence every second and tries again; a
 * comment line goes out at least every 15 s so proxies keep the stream open. It ends
 * when a write fails (the client went away) or the server stops.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "web.h"

#define SSE_OVERVIEW_MS	 1000
#define SSE_KEEPALIVE_MS 15000
#define SSE_LIST_DEFAULT 100
#define SSE_EVENTS_MAX	 64 /* a followed job's events read per tick */

struct sse {
	struct web *w;
	struct queue *q;
	char state[16]; /* the list's filter, "" for all */
	unsigned limit;
	char job[QUEUE_ID_MAX];		 /* "" when the page follows no job */
	char cursor[QUEUE_ENTRY_MAX];	 /* the followed job's log, read up to here */
	char ev_cursor[QUEUE_ENTRY_MAX]; /* and its events */
	char *buf;			 /* what is still to send: buf[off..len) */
	size_t len, off, cap;
	long long next_overview, last_sent;
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void put(struct sse *s, const char *a, const char *b, const char *c)
{
	size_t n = strlen(a) + strlen(b) + strlen(c);
	char *nb;

	if (s->len + n + 1 > s->cap) {
		if (!(nb = realloc(s->buf, s->len + n + 4096)))
			return; /* out of memory: this event is lost, the next one comes */
		s->buf = nb;
		s->cap = s->len + n + 4096;
	}
	s->len += (size_t)sprintf(s->buf + s->len, "%s%s%s", a, b, c);
}

/* One event: its data is one line of compact JSON (JSON escapes every line break). */
static void event(struct sse *s, const char *name, const char *json)
{
	put(s, "event: ", name, "\n");
	put(s, "data: ", json, "\n\n");
}

static void problem(struct sse *s, const char *sentence)
{
	json_t *o = json_pack("{s:s}", "error", sentence);
	char *j = o ? json_dumps(o, JSON_COMPACT) : NULL;

	if (j)
		event(s, "problem", j);
	free(j);
	json_decref(o);
}

/* Sleep up to ms, in short steps so a stopping server is not kept waiting. */
static void nap(const struct web *w, long long ms)
{
	for (; ms > 0 && !w->stopping; ms -= 100)
		usleep((useconds_t)(ms < 100 ? ms : 100) * 1000);
}

/* A failed queue call: the sentence to the page, and a fresh client next time, after a
 * pause: a call that fails at once every time (a producer made the followed job's log
 * key a string: WRONGTYPE) must not become a loop of thousands of problem events and
 * Redis connections a second. */
static void queue_failed(struct sse *s, int rc, const char *err)
{
	problem(s, err);
	web_queue_put(s->w, s->q, rc);
	s->q = NULL;
	nap(s->w, SSE_OVERVIEW_MS);
}

/* The followed job's new events (queued, running, progress, retry, cancel, done), up
 * to SSE_EVENTS_MAX a tick, as one `events` event: {"id", "events": [{"entry",
 * "event"}]}. 0, or the failed call's rc. */
static int job_events(struct sse *s, char *err, size_t errlen)
{
	json_t *list = json_array(), *o;
	char *ev = NULL, *out;
	int rc = 0;

	for (int i = 0; list && i < SSE_EVENTS_MAX; i++) {
		rc = queue_wait_event(s->q, s->job, s->ev_cursor, 0, &ev, err, errlen);
		if (rc < 0)
			break;
		o = json_loads(ev, 0, NULL);
		free(ev);
		if (o)
			json_array_append_new(
			    list, json_pack("{s:s, s:o}", "entry", s->ev_cursor, "event", o));
	}
	if (rc == -ETIMEDOUT || rc == -ENOENT)
		rc = 0; /* no more events now, or none kept */
	if (json_array_size(list) > 0 &&
	    (o = json_pack("{s:s, s:O}", "id", s->job, "events", list)) &&
	    (out = json_dumps(o, JSON_COMPACT))) {
		event(s, "events", out);
		free(out);
		json_decref(o);
	}
	json_decref(list);
	return rc;
}

/* The overview event (and the followed job's status): 0, or the failed call's rc. */
static int overview(struct sse *s, char *err, size_t errlen)
{
	char *stats = NULL, *list = NULL, *st = NULL;
	int rc;

	if ((rc = queue_stats(s->q, &stats, err, errlen)) < 0 ||
	    (rc = queue_list(s->q, s->state[0] ? s->state : NULL, s->limit, &list, err, errlen)) <
		0)
		goto out;
	put(s, "event: overview\ndata: {\"stats\":", stats, ",\"jobs\":");
	put(s, list, "}\n\n", "");
	if (s->job[0]) {
		rc = queue_status(s->q, s->job, &st, err, errlen);
		if (rc == -ENOENT) {
			problem(s, err);
			s->job[0] = '\0'; /* deleted or expired: stop following it */
			rc = 0;
		} else if (rc == 0) {
			event(s, "job", st);
			rc = job_events(s, err, errlen);
		}
	}
out:
	free(stats);
	free(list);
	free(st);
	return rc;
}

/* The followed job's new log entries, waiting up to wait_ms for some. */
static int log_entries(struct sse *s, int wait_ms, char *err, size_t errlen)
{
	char *json = NULL;
	json_t *o;
	int rc = queue_log_read(s->q, s->job, s->cursor, wait_ms, &json, err, errlen);

	if (rc == -ENOENT) {
		s->job[0] = '\0';
		return 0;
	}
	if (rc < 0)
		return rc;
	o = json_loads(json, 0, NULL);
	free(json);
	if (json_array_size(json_object_get(o, "entries")) > 0) {
		json_object_set_new(o, "id", json_string(s->job));
		json_object_set_new(o, "cursor", json_string(s->cursor));
		if ((json = json_dumps(o, JSON_COMPACT)))
			event(s, "log", json);
		free(json);
	}
	json_decref(o);
	return 0;
}

/* Fill s->buf with what is due next; blocks up to about a second. */
static void produce(struct sse *s)
{
	char err[QUEUE_ERR_MAX];
	long long t = now_ms(), wait;
	int rc = 0;

	if (!s->q && (rc = web_queue_get(s->w, &s->q, err, sizeof(err))) < 0) {
		problem(s, err);
		nap(s->w, SSE_OVERVIEW_MS);
		return;
	}
	if (t >= s->next_overview) {
		s->next_overview = t + SSE_OVERVIEW_MS;
		if ((rc = overview(s, err, sizeof(err))) < 0)
			return queue_failed(s, rc, err);
	}
	wait = s->next_overview - now_ms();
	if (s->len == 0 && s->job[0] && wait > 0) {
		if ((rc = log_entries(s, (int)wait, err, sizeof(err))) < 0)
			return queue_failed(s, rc, err);
	} else if (s->len == 0) {
		nap(s->w, wait);
	}
	if (s->len == 0 && now_ms() - s->last_sent >= SSE_KEEPALIVE_MS)
		put(s, ": keepalive\n\n", "", "");
}

static ssize_t sse_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct sse *s = cls;
	size_t n;

	while (s->off == s->len) {
		if (s->w->stopping)
			return MHD_CONTENT_READER_END_OF_STREAM;
		s->off = s->len = 0;
		produce(s);
	}
	n = s->len - s->off < max ? s->len - s->off : max;
	memcpy(out, s->buf + s->off, n);
	s->off += n;
	s->last_sent = now_ms();
	return (ssize_t)n;
}

/* The stream is over (the client left, or the server stops). */
static void sse_free(void *cls)
{
	struct sse *s = cls;

	web_queue_put(s->w, s->q, 0);
	pthread_mutex_lock(&s->w->lock);
	s->w->n_sse--;
	pthread_mutex_unlock(&s->w->lock);
	free(s->buf);
	free(s);
}

/* ?state=S and ?limit=N as /api/jobs takes them, ?job=ID: NULL, or what is wrong. */
static const char *sse_params(struct MHD_Connection *c, struct sse *s)
{
	static const char *const states[] = {"queued",	  "running", "succeeded", "failed",
					     "cancelled", "dead",    NULL};
	const char *state = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "state");
	const char *job = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "job");
	const char *limit = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
	char *end;
	unsigned long n = SSE_LIST_DEFAULT;
	int ok = !state || !*state || !strcmp(state, "all");

	for (int i = 0; !ok && states[i]; i++)
		if (!strcmp(state, states[i])) {
			ok = 1;
			snprintf(s->state, sizeof(s->state), "%s", state);
		}
	if (!ok)
		return "state is one of all, queued, running, succeeded, failed, cancelled, dead";
	if (job && !queue_id_valid(job))
		return "job ids are 1-63 characters of [A-Za-z0-9_-]";
	snprintf(s->job, sizeof(s->job), "%s", job ? job : "");
	if (limit) {
		errno = 0;
		n = strtoul(limit, &end, 10);
		if (errno || end == limit || *end || limit[0] == '-' || n < 1 || n > QUEUE_LIST_MAX)
			return "limit takes a number of jobs from 1 to 1000";
	}
	s->limit = (unsigned)n;
	snprintf(s->cursor, sizeof(s->cursor), "0");
	snprintf(s->ev_cursor, sizeof(s->ev_cursor), "0");
	return NULL;
}

enum MHD_Result web_sse(struct web *w, struct MHD_Connection *c)
{
	struct sse *s = calloc(1, sizeof(*s));
	struct MHD_Response *r;
	const char *err = NULL;
	enum MHD_Result ret;
	int full;

	if (!s)
		return MHD_NO;
	s->w = w;
	if ((err = sse_params(c, s))) {
		free(s);
		return web_send_error(w, c, MHD_HTTP_BAD_REQUEST, err);
	}
	/* A bounded number of streams, so the other connection slots stay for requests. */
	pthread_mutex_lock(&w->lock);
	full = w->n_sse >= WEB_SSE_MAX;
	w->n_sse += !full;
	pthread_mutex_unlock(&w->lock);
	if (full) {
		free(s);
		return web_send_error(w, c, MHD_HTTP_SERVICE_UNAVAILABLE,
				      "too many event streams are open; close a dashboard tab");
	}
	s->last_sent = now_ms();
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, sse_read, s, sse_free);
	if (!r) {
		sse_free(s);
		return MHD_NO;
	}
	web_headers(w, r, "text/event-stream; charset=utf-8");
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}
