/* logs.c - a job's log in Redis: the worker's appends, `reelbox logs`'s reads, and the
 * worker registry's announce (the commands; sync.c and async.c send them).
 *
 * The log is a stream of its own per job, P:job:<id>:log, each entry one batch of whole
 * lines (`a` the claim's attempt, `t` the text), so a reader follows it with a cursor
 * the way `status --wait` follows events. What bounds it: a batch is at most
 * QUEUE_LOG_BATCH_MAX bytes, the stream is trimmed to about QUEUE_LOG_ENTRIES entries,
 * and the read script answers at most QUEUE_LOG_READ_COUNT entries and
 * QUEUE_LOG_READ_BUDGET bytes, whatever a hand-written XADD put there.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "queue_internal.h"

void qkey_log(char *buf, size_t len, const struct queue_opts *o, const char *id)
{
	snprintf(buf, len, "%s:job:%s:log", o->prefix, id);
}

static int built(struct qcmd *c)
{
	if (c->oom) {
		qcmd_free(c);
		return -ENOMEM;
	}
	return 0;
}

int qcmd_log(struct qcmd *c, const struct queue_opts *o, const struct queue_job *job,
	     const char *text, size_t len)
{
	char key[QUEUE_ID_MAX + 256];

	if (len > QUEUE_LOG_BATCH_MAX)
		return -EMSGSIZE;
	qcmd_init(c, QS_LOG);
	qcmd_adds(c, "2");
	qkey_job(key, sizeof(key), o, job->id);
	qcmd_adds(c, key);
	qkey_log(key, sizeof(key), o, job->id);
	qcmd_adds(c, key);
	qcmd_adds(c, job->token);
	qcmd_addf(c, "%d", job->attempt);
	qcmd_add(c, text, len);
	qcmd_addf(c, "%d", QUEUE_LOG_ENTRIES);
	qcmd_addf(c, "%u", o->result_ttl_s ? o->result_ttl_s : 86400);
	return built(c);
}

int qcmd_logread(struct qcmd *c, const struct queue_opts *o, const char *id, const char *cursor)
{
	char key[QUEUE_ID_MAX + 256];

	qcmd_init(c, QS_LOGREAD);
	qcmd_adds(c, "2");
	qkey_job(key, sizeof(key), o, id);
	qcmd_adds(c, key);
	qkey_log(key, sizeof(key), o, id);
	qcmd_adds(c, key);
	qcmd_adds(c, cursor && cursor[0] ? cursor : "0");
	qcmd_addf(c, "%d", QUEUE_LOG_READ_COUNT);
	qcmd_addf(c, "%d", QUEUE_LOG_READ_BUDGET);
	qcmd_addf(c, "%d", QUEUE_LOG_BATCH_MAX);
	return built(c);
}

/* One entry of the read script's reply, {entry, attempt, text}, appended to arr. */
static int entry_json(json_t *arr, const redisReply *e, const redisReply *a, const redisReply *t)
{
	json_t *o;

	if (e->type != REDIS_REPLY_STRING || e->len >= QUEUE_ENTRY_MAX ||
	    a->type != REDIS_REPLY_STRING || t->type != REDIS_REPLY_STRING)
		return -EIO;
	if (!(o = json_pack("{s:s, s:I, s:o}", "entry", e->str, "attempt",
			    (json_int_t)strtoll(a->str, NULL, 10), "text", qtext_json(t->str))))
		return -ENOMEM;
	return json_array_append_new(arr, o) ? -ENOMEM : 0;
}

char *qlog_json(const redisReply *r, char cursor[QUEUE_ENTRY_MAX], int *missing)
{
	json_t *arr, *doc;
	char *out;

	*missing = 0;
	if (!strcmp(qreply_word(r), "missing")) {
		*missing = 1;
		return NULL;
	}
	if (strcmp(qreply_word(r), "ok") || r->elements < 2 || (r->elements - 2) % 3 ||
	    r->element[1]->type != REDIS_REPLY_STRING || !(arr = json_array()))
		return NULL;
	for (size_t i = 2; i + 2 < r->elements; i += 3) {
		if (entry_json(arr, r->element[i], r->element[i + 1], r->element[i + 2]) < 0) {
			json_decref(arr);
			return NULL;
		}
		snprintf(cursor, QUEUE_ENTRY_MAX, "%s", r->element[i]->str);
	}
	if (!(doc =
		  json_pack("{s:o, s:o}", "state", qtext_json(r->element[1]->str), "entries", arr)))
		return NULL;
	out = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return out;
}

int qcmd_announce(struct qcmd *c, const struct queue_opts *o, const char *consumer,
		  const char *info_json, int leaving)
{
	char key[QUEUE_ID_MAX + 256];

	if (strlen(info_json) > 1024)
		return -EMSGSIZE;
	qcmd_init(c, QS_ANNOUNCE);
	qcmd_adds(c, "1");
	qkey(key, sizeof(key), o, "workers");
	qcmd_adds(c, key);
	qcmd_adds(c, consumer);
	qcmd_adds(c, info_json);
	qcmd_adds(c, leaving ? "1" : "0");
	return built(c);
}
