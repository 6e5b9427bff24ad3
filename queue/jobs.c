/* jobs.c - the view of many jobs at once: `reelbox list`.
 *
 * The queue keeps no table of jobs: each job is its own hash, expiring after the result
 * TTL. What lets a client list them is the index P:jobs:recent, a sorted set of job ids
 * scored by creation time that every script creating a job hash adds to, trimmed to
 * QUEUE_RECENT_MAX ids (so it never grows with the jobs ever run) and expired with the
 * last result once no job is queued or running. The list script reads it newest first,
 * looks at a bounded number of ids, and drops the ids whose hash has expired, so no
 * SCAN over the keyspace is ever needed and a reply is bounded by limit * fields * cap.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "queue_internal.h"

int qstate_valid(const char *s)
{
	static const char *const states[] = {"queued", "running",   "succeeded",
					     "failed", "cancelled", "dead"};

	for (size_t i = 0; s && i < sizeof(states) / sizeof(states[0]); i++)
		if (!strcmp(s, states[i]))
			return 1;
	return 0;
}

int qcmd_list(struct qcmd *c, const struct queue_opts *o, const char *state, unsigned limit)
{
	char key[256];

	snprintf(key, sizeof(key), "%s:jobs:recent", o->prefix);
	qcmd_init(c, QS_LIST);
	qcmd_adds(c, "1");
	qcmd_adds(c, key);
	qcmd_adds(c, o->prefix);
	qcmd_adds(c, state ? state : "");
	qcmd_addf(c, "%u", limit);
	qcmd_addf(c, "%u", QUEUE_RECENT_MAX);
	if (c->oom) {
		qcmd_free(c);
		return -ENOMEM;
	}
	return 0;
}

/* A value as a JSON string: one cut inside a character (the script cuts at a byte
 * count) loses the cut character, and a value that is not UTF-8 at all (a producer's
 * doing) keeps its ASCII bytes, the others shown as '?'. */
json_t *qtext_json(const char *s)
{
	size_t n = strlen(s);
	json_t *j;
	char *copy;

	for (size_t cut = 0; cut < 4 && cut <= n; cut++)
		if ((j = json_stringn(s, n - cut)))
			return j;
	if (!(copy = strdup(s)))
		return NULL;
	for (char *p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

int qcmd_requeue(struct qcmd *c, const struct queue_opts *o, const char *id)
{
	char key[QUEUE_ID_MAX + 256];

	qcmd_init(c, QS_REQUEUE);
	qcmd_adds(c, "3");
	snprintf(key, sizeof(key), "%s:job:%s", o->prefix, id);
	qcmd_adds(c, key);
	snprintf(key, sizeof(key), "%s:jobs", o->prefix);
	qcmd_adds(c, key);
	snprintf(key, sizeof(key), "%s:job:%s:events", o->prefix, id);
	qcmd_adds(c, key);
	qcmd_adds(c, id);
	qcmd_adds(c, o->group);
	if (c->oom) {
		qcmd_free(c);
		return -ENOMEM;
	}
	return 0;
}

int qcmd_delete(struct qcmd *c, const struct queue_opts *o, const char *id)
{
	char key[QUEUE_ID_MAX + 256];

	qcmd_init(c, QS_DELETE);
	qcmd_adds(c, "4");
	snprintf(key, sizeof(key), "%s:job:%s", o->prefix, id);
	qcmd_adds(c, key);
	snprintf(key, sizeof(key), "%s:job:%s:events", o->prefix, id);
	qcmd_adds(c, key);
	snprintf(key, sizeof(key), "%s:jobs:recent", o->prefix);
	qcmd_adds(c, key);
	snprintf(key, sizeof(key), "%s:delayed", o->prefix);
	qcmd_adds(c, key);
	qcmd_adds(c, id);
	if (c->oom) {
		qcmd_free(c);
		return -ENOMEM;
	}
	return 0;
}

static long long num(const redisReply *r)
{
	return r && r->type == REDIS_REPLY_STRING && r->str[0] ? strtoll(r->str, NULL, 10) : -1;
}

/* One row of the list script, {id, state, attempts, max_attempts, created, started,
 * finished, worker, progress_frames, progress_total, error}, as an object; now is
 * Redis's clock. Unset values are left out. */
static json_t *row_json(const redisReply *row, long long now)
{
	static const char *const names[] = {"id",      "state",	  "attempts", "max_attempts",
					    "created", "started", "finished", "worker",
					    "frames",  "total",	  "error"};
	json_t *o, *progress = NULL;

	if (row->type != REDIS_REPLY_ARRAY || row->elements != 11 || !(o = json_object()))
		return NULL;
	for (size_t i = 0; i < 11; i++) {
		const redisReply *v = row->element[i];
		if (v->type != REDIS_REPLY_STRING || !v->str[0])
			continue;
		if (i == 0 || i == 1 || i == 7 || i == 10) {
			json_object_set_new(o, names[i], qtext_json(v->str));
		} else if (i == 8 || i == 9) {
			if (!progress)
				progress = json_object();
			json_object_set_new(progress, names[i], json_integer(num(v)));
		} else {
			json_object_set_new(o, names[i], json_integer(num(v)));
		}
	}
	if (progress)
		json_object_set_new(o, "progress", progress);
	if (num(row->element[4]) >= 0 && now >= 0)
		json_object_set_new(o, "age_ms", json_integer(now - num(row->element[4])));
	return o;
}

char *qlist_json(const redisReply *r)
{
	json_t *arr;
	long long now;
	char *out;

	if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
	    r->element[0]->type != REDIS_REPLY_INTEGER || !(arr = json_array()))
		return NULL;
	now = r->element[0]->integer;
	for (size_t i = 1; i < r->elements; i++) {
		json_t *o = row_json(r->element[i], now);
		if (!o) {
			json_decref(arr);
			return NULL;
		}
		json_array_append_new(arr, o);
	}
	out = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	return out;
}
