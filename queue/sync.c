/* sync.c - the blocking queue client: one hiredis connection, one command at a time.
 * It serves the CLI (submit, status, cancel, submit --wait) and the tests; it does not
 * reconnect, since each of its users is a short-lived command. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "queue_internal.h"

struct queue {
	redisContext *c;
	struct queue_opts o;
	struct queue_url url;
	char prefix[64];
	char group[64];
	char sha[QS_COUNT][48];
	char cursor[QUEUE_ENTRY_MAX]; /* XAUTOCLAIM's next start */
};

/* Map a connection failure to an errno the caller can act on. */
static int conn_errno(const char *msg)
{
	if (strstr(msg, "refused"))
		return -ECONNREFUSED;
	if (strstr(msg, "No such file"))
		return -ENOENT;
	if (strstr(msg, "timed out") || strstr(msg, "Timeout"))
		return -ETIMEDOUT;
	return -ENOTCONN;
}

/* Send argv, return the reply or NULL with err set when the connection failed. An
 * error reply is returned as is: callers look at it. */
static redisReply *send_argv(struct queue *q, int argc, const char **argv, const size_t *len,
			     int *rc, char *err, size_t errlen)
{
	redisReply *r = redisCommandArgv(q->c, argc, argv, len);

	if (!r) {
		qerr(err, errlen, "lost the connection to Redis at %s: %s", q->url.where,
		     q->c->errstr[0] ? q->c->errstr : "no reply");
		*rc = -ENOTCONN;
	}
	return r;
}

static int load_script(struct queue *q, int script, char *err, size_t errlen)
{
	const char *argv[3] = {"SCRIPT", "LOAD", queue_scripts[script]};
	size_t len[3] = {6, 4, strlen(queue_scripts[script])};
	int rc = 0;
	redisReply *r = send_argv(q, 3, argv, len, &rc, err, errlen);

	if (!r)
		return rc;
	if (r->type != REDIS_REPLY_STRING || r->len >= sizeof(q->sha[0])) {
		qerr(err, errlen, "Redis at %s refused the %s script: %s", q->url.where,
		     queue_script_names[script], r->type == REDIS_REPLY_ERROR ? r->str : "?");
		freeReplyObject(r);
		return -EIO;
	}
	memcpy(q->sha[script], r->str, r->len + 1);
	freeReplyObject(r);
	return 0;
}

/* Run a command (a script with EVALSHA, loading it when Redis does not know it).
 * Returns 0 with *out, or -errno; an error reply becomes -EIO with its text. */
static int run(struct queue *q, struct qcmd *c, redisReply **out, char *err, size_t errlen)
{
	const char *argv[QCMD_MAXARGS + 2];
	size_t len[QCMD_MAXARGS + 2];
	redisReply *r = NULL;
	int rc = 0;

	*out = NULL;
	for (int tries = 0; tries < 2; tries++) {
		if (c->script >= 0 && !q->sha[c->script][0] &&
		    (rc = load_script(q, c->script, err, errlen)) < 0)
			break;
		int argc = qcmd_argv(c, c->script >= 0 ? q->sha[c->script] : NULL, argv, len);
		r = send_argv(q, argc, argv, len, &rc, err, errlen);
		if (!r)
			break;
		if (r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "NOSCRIPT", 8) &&
		    c->script >= 0) {
			/* SCRIPT FLUSH or a restart: load again, once. */
			q->sha[c->script][0] = '\0';
			freeReplyObject(r);
			r = NULL;
			continue;
		}
		break;
	}
	qcmd_free(c);
	if (!r)
		return rc ? rc : -EIO;
	if (r->type == REDIS_REPLY_ERROR) {
		qerr(err, errlen, "Redis at %s answered: %s", q->url.where, r->str);
		rc = !strncmp(r->str, "NOGROUP", 7) ? -ENOENT : -EIO;
		freeReplyObject(r);
		return rc;
	}
	*out = r;
	return 0;
}

static int simple(struct queue *q, char *err, size_t errlen, int argc, const char **argv)
{
	size_t len[8];
	redisReply *r;
	int rc = 0;

	for (int i = 0; i < argc; i++)
		len[i] = strlen(argv[i]);
	r = send_argv(q, argc, argv, len, &rc, err, errlen);
	if (!r)
		return rc;
	if (r->type == REDIS_REPLY_ERROR) {
		qerr(err, errlen, "Redis at %s refused %s: %s", q->url.where, argv[0], r->str);
		rc = strstr(r->str, "WRONGPASS") || strstr(r->str, "NOAUTH") ||
			     strstr(r->str, "invalid password")
			 ? -EACCES
			 : -EIO;
	}
	freeReplyObject(r);
	return rc;
}

int queue_open(struct queue **out, const char *url, const struct queue_opts *opts, char *err,
	       size_t errlen)
{
	struct queue *q;
	struct timeval tv;
	int rc;

	*out = NULL;
	if (!(q = calloc(1, sizeof(*q))))
		return -ENOMEM;
	queue_opts_own(&q->o, q->prefix, q->group, opts);
	if ((rc = queue_url_parse(&q->url, url, err, errlen)) < 0) {
		free(q);
		return rc;
	}
	tv.tv_sec = q->o.connect_timeout_ms / 1000;
	tv.tv_usec = (q->o.connect_timeout_ms % 1000) * 1000;
	q->c = q->url.is_unix ? redisConnectUnixWithTimeout(q->url.path, tv)
			      : redisConnectWithTimeout(q->url.host, q->url.port, tv);
	if (!q->c || q->c->err) {
		const char *why = q->c ? q->c->errstr : "out of memory";
		qerr(err, errlen, "cannot connect to Redis at %s: %s; is redis-server running?",
		     q->url.where, why);
		rc = q->c ? conn_errno(why) : -ENOMEM;
		queue_close(q);
		return rc;
	}
	/* Blocking reads (XREAD BLOCK) set their own limits. */
	tv.tv_sec = 0;
	tv.tv_usec = 0;
	redisSetTimeout(q->c, tv);
	if (q->url.pass[0]) {
		const char *a[3] = {"AUTH", q->url.user[0] ? q->url.user : q->url.pass,
				    q->url.pass};
		if ((rc = simple(q, err, errlen, q->url.user[0] ? 3 : 2, a)) < 0) {
			queue_close(q);
			return rc;
		}
	}
	if (q->url.db) {
		char db[16];
		const char *a[2] = {"SELECT", db};
		snprintf(db, sizeof(db), "%d", q->url.db);
		if ((rc = simple(q, err, errlen, 2, a)) < 0) {
			queue_close(q);
			return rc;
		}
	}
	*out = q;
	return 0;
}

void queue_close(struct queue *q)
{
	if (!q)
		return;
	if (q->c)
		redisFree(q->c);
	free(q);
}

int queue_submit(struct queue *q, const char *job_json, char id_out[QUEUE_ID_MAX], char *err,
		 size_t errlen)
{
	json_error_t jerr;
	json_t *doc;
	const char *id;
	char gen[QUEUE_ID_MAX];
	struct qcmd c;
	redisReply *r;
	size_t len = job_json ? strlen(job_json) : 0;
	int rc;

	if (len > q->o.doc_max) {
		qerr(err, errlen, "the job document is %zu bytes, more than the %zu allowed", len,
		     q->o.doc_max);
		return -EINVAL;
	}
	doc = json_loadb(job_json ? job_json : "", len, 0, &jerr);
	if (!doc || !json_is_object(doc)) {
		qerr(err, errlen, "the job document is not a JSON object: %s",
		     doc ? "it is another JSON value" : jerr.text);
		json_decref(doc);
		return -EINVAL;
	}
	id = json_string_value(json_object_get(doc, "id"));
	if (json_object_get(doc, "id") && !queue_id_valid(id)) {
		qerr(err, errlen, "job id '%.64s' is not 1-63 characters of [A-Za-z0-9_-]",
		     id ? id : "(not a string)");
		json_decref(doc);
		return -EINVAL;
	}
	if (!id) {
		if ((rc = queue_id_generate(gen)) < 0) {
			json_decref(doc);
			return rc;
		}
		id = gen;
	}
	snprintf(id_out, QUEUE_ID_MAX, "%s", id);
	json_decref(doc);
	if ((rc = qcmd_submit(&c, &q->o, id_out, job_json)) < 0)
		return rc;
	if ((rc = run(q, &c, &r, err, errlen)) < 0)
		return rc;
	if (!strcmp(qreply_word(r), "exists")) {
		qerr(err, errlen, "a job with id %s already exists", id_out);
		rc = -EEXIST;
	} else if (strcmp(qreply_word(r), "ok")) {
		qerr(err, errlen, "unexpected answer from the submit script");
		rc = -EIO;
	}
	freeReplyObject(r);
	return rc;
}

int queue_status(struct queue *q, const char *id, char **json_out, char *err, size_t errlen)
{
	char key[QUEUE_ID_MAX + 256];
	struct qcmd c;
	redisReply *r;
	int rc;

	*json_out = NULL;
	if (!queue_id_valid(id)) {
		qerr(err, errlen, "'%.64s' is not a job id (1-63 characters of [A-Za-z0-9_-])",
		     id ? id : "");
		return -EINVAL;
	}
	qkey_job(key, sizeof(key), &q->o, id);
	qcmd_init(&c, -1);
	qcmd_adds(&c, "HGETALL");
	qcmd_adds(&c, key);
	if ((rc = run(q, &c, &r, err, errlen)) < 0)
		return rc;
	if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
		qerr(err, errlen, "no job %s: it was never submitted or its result has expired",
		     id);
		freeReplyObject(r);
		return -ENOENT;
	}
	*json_out = qstatus_json(id, r);
	freeReplyObject(r);
	return *json_out ? 0 : -ENOMEM;
}

int queue_cancel(struct queue *q, const char *id, char state_out[16], char *err, size_t errlen)
{
	struct qcmd c;
	redisReply *r;
	const char *w;
	int rc;

	if (!queue_id_valid(id)) {
		qerr(err, errlen, "'%.64s' is not a job id", id ? id : "");
		return -EINVAL;
	}
	if ((rc = qcmd_cancel(&c, &q->o, id)) < 0 || (rc = run(q, &c, &r, err, errlen)) < 0)
		return rc;
	w = qreply_word(r);
	if (!strcmp(w, "missing")) {
		qerr(err, errlen, "no job %s: it was never submitted or its result has expired",
		     id);
		rc = -ENOENT;
	} else if (state_out) {
		snprintf(state_out, 16, "%s", !strcmp(w, "final") ? qreply_str_at(r, 1) : w);
	}
	freeReplyObject(r);
	return rc;
}

int queue_wait_event(struct queue *q, const char *id, char cursor[QUEUE_ENTRY_MAX], int timeout_ms,
		     char **event_json, char *err, size_t errlen)
{
	char key[QUEUE_ID_MAX + 256];
	struct qcmd c;
	redisReply *r, *e;
	int rc;

	*event_json = NULL;
	if (!queue_id_valid(id))
		return -EINVAL;
	qkey_events(key, sizeof(key), &q->o, id);
	qcmd_init(&c, -1);
	qcmd_adds(&c, "XREAD");
	qcmd_adds(&c, "COUNT");
	qcmd_adds(&c, "1");
	if (timeout_ms > 0) {
		qcmd_adds(&c, "BLOCK");
		qcmd_addf(&c, "%d", timeout_ms);
	}
	qcmd_adds(&c, "STREAMS");
	qcmd_adds(&c, key);
	qcmd_adds(&c, cursor[0] ? cursor : "0");
	if ((rc = run(q, &c, &r, err, errlen)) < 0)
		return rc;
	/* [[key, [[entry, [type, t, data, json]]]]] */
	if (r->type != REDIS_REPLY_ARRAY || !r->elements ||
	    r->element[0]->type != REDIS_REPLY_ARRAY || r->element[0]->elements < 2 ||
	    r->element[0]->element[1]->type != REDIS_REPLY_ARRAY ||
	    !r->element[0]->element[1]->elements) {
		freeReplyObject(r);
		qerr(err, errlen, "no event for job %s within %d ms", id, timeout_ms);
		return -ETIMEDOUT;
	}
	e = r->element[0]->element[1]->element[0];
	if (e->type == REDIS_REPLY_ARRAY && e->elements >= 2 &&
	    e->element[0]->type == REDIS_REPLY_STRING) {
		snprintf(cursor, QUEUE_ENTRY_MAX, "%s", e->element[0]->str);
		for (size_t i = 0;
		     e->element[1]->type == REDIS_REPLY_ARRAY && i + 1 < e->element[1]->elements;
		     i += 2)
			if (e->element[1]->element[i]->str &&
			    !strcmp(e->element[1]->element[i]->str, "data") &&
			    e->element[1]->element[i + 1]->str)
				*event_json = strdup(e->element[1]->element[i + 1]->str);
	}
	freeReplyObject(r);
	if (!*event_json)
		*event_json = strdup("{\"type\":\"unknown\"}");
	return *event_json ? 0 : -ENOMEM;
}

/* ---- Worker operations ---- */

/* Run a plain stream command; create the group first when Redis says it is missing
 * (a fresh or restarted Redis without the stream). */
static int run_group(struct queue *q, struct qcmd *c, redisReply **out, char *err, size_t errlen)
{
	struct qcmd copy, g;
	redisReply *r;
	int rc;

	/* run() frees the command, so keep a duplicate for the second try. */
	qcmd_init(&copy, c->script);
	for (int i = 0; i < c->argc; i++)
		qcmd_add(&copy, c->argv[i], c->len[i]);
	rc = run(q, c, out, err, errlen);
	if (rc == -ENOENT) {
		if (qcmd_group_create(&g, &q->o) == 0 && run(q, &g, &r, err, errlen) == 0)
			freeReplyObject(r);
		rc = run(q, &copy, out, err, errlen);
	} else {
		qcmd_free(&copy);
	}
	return rc;
}

/* Handle one delivered entry: claim it, or dead-letter it when it names no job.
 * Returns 1 with *job filled, 0 when the entry needed no work, or -errno. */
static int take_entry(struct queue *q, const char *consumer, const struct qentry *e,
		      struct queue_job *job, char *err, size_t errlen)
{
	struct qcmd c;
	redisReply *r;
	int rc;

	if (!e->id[0]) {
		if ((rc = qcmd_reject(&c, &q->o, e->entry, NULL, 0, e->bad)) < 0 ||
		    (rc = run(q, &c, &r, err, errlen)) < 0)
			return rc;
		freeReplyObject(r);
		return 0;
	}
	if ((rc = qcmd_claim(&c, &q->o, e->entry, e->id, consumer)) < 0 ||
	    (rc = run(q, &c, &r, err, errlen)) < 0)
		return rc;
	memset(job, 0, sizeof(*job));
	rc = qreply_claim(r, job);
	freeReplyObject(r);
	if (rc <= 0)
		return rc;
	snprintf(job->id, sizeof(job->id), "%s", e->id);
	snprintf(job->entry, sizeof(job->entry), "%s", e->entry);
	job->doc_len = e->doc_len;
	if (!(job->doc = malloc(e->doc_len + 1)))
		return -ENOMEM;
	memcpy(job->doc, e->doc, e->doc_len);
	job->doc[e->doc_len] = '\0';
	return 1;
}

int queue_fetch(struct queue *q, const char *consumer, int block_ms, struct queue_job *job,
		char *err, size_t errlen)
{
	uint64_t deadline = queue_now_ms() + (uint64_t)(block_ms > 0 ? block_ms : 0);
	struct qentry e;
	struct qcmd c;
	redisReply *r;
	int rc, got;

	memset(job, 0, sizeof(*job));
	for (;;) {
		if ((rc = qcmd_promote(&c, &q->o)) < 0 || (rc = run(q, &c, &r, err, errlen)) < 0)
			return rc;
		freeReplyObject(r);

		/* Expired leases first: a job whose worker died waits no longer. */
		if ((rc = qcmd_autoclaim(&c, &q->o, consumer, q->cursor)) < 0 ||
		    (rc = run_group(q, &c, &r, err, errlen)) < 0)
			return rc;
		got = qreply_entry(r, 1, &e, q->cursor);
		if (!got) {
			int64_t left = (int64_t)(deadline - queue_now_ms());
			freeReplyObject(r);
			if (left > (int64_t)q->o.poll_ms)
				left = q->o.poll_ms;
			if ((rc = qcmd_readgroup(&c, &q->o, consumer, left > 0 ? (int)left : 0)) <
				0 ||
			    (rc = run_group(q, &c, &r, err, errlen)) < 0)
				return rc;
			got = qreply_entry(r, 0, &e, NULL);
		}
		if (got) {
			rc = take_entry(q, consumer, &e, job, err, errlen);
			freeReplyObject(r);
			if (rc != 0)
				return rc < 0 ? rc : 0;
			continue;
		}
		freeReplyObject(r);
		if (queue_now_ms() >= deadline)
			return -EAGAIN;
	}
}

int queue_heartbeat(struct queue *q, const char *consumer, const struct queue_job *job, char *err,
		    size_t errlen)
{
	struct qcmd c;
	redisReply *r;
	int rc;

	if ((rc = qcmd_heartbeat(&c, &q->o, job, consumer)) < 0 ||
	    (rc = run(q, &c, &r, err, errlen)) < 0)
		return rc;
	rc = qreply_heartbeat(r);
	freeReplyObject(r);
	if (rc == -ESTALE)
		qerr(err, errlen, "job %s is no longer held by this worker (its lease was lost)",
		     job->id);
	return rc;
}

int queue_progress(struct queue *q, const struct queue_job *job, int64_t frames, int64_t total,
		   char *err, size_t errlen)
{
	struct qcmd c;
	redisReply *r;
	int rc;

	if ((rc = qcmd_progress(&c, &q->o, job, frames, total)) < 0 ||
	    (rc = run(q, &c, &r, err, errlen)) < 0)
		return rc;
	rc = qreply_heartbeat(r);
	freeReplyObject(r);
	return rc;
}

static int finish_op(struct queue *q, struct qcmd *c, char *err, size_t errlen)
{
	redisReply *r;
	int script = c->script;
	int rc = run(q, c, &r, err, errlen);

	if (rc < 0)
		return rc;
	rc = qreply_finish(r, script, err, errlen);
	freeReplyObject(r);
	return rc;
}

int queue_complete(struct queue *q, const struct queue_job *job, const char *result_json, char *err,
		   size_t errlen)
{
	struct qcmd c;
	int rc = qcmd_complete(&c, &q->o, job, result_json, err, errlen);

	return rc < 0 ? rc : finish_op(q, &c, err, errlen);
}

int queue_retry(struct queue *q, const struct queue_job *job, const char *error, char *err,
		size_t errlen)
{
	struct qcmd c;
	int rc = qcmd_retry(&c, &q->o, job, error);

	return rc < 0 ? rc : finish_op(q, &c, err, errlen);
}

int queue_reject(struct queue *q, const struct queue_job *job, const char *reason, char *err,
		 size_t errlen)
{
	struct qcmd c;
	int rc = qcmd_reject(&c, &q->o, job->entry, job->id, job->token, reason);

	return rc < 0 ? rc : finish_op(q, &c, err, errlen);
}

int queue_command(struct queue *q, char **out, int argc, const char **argv)
{
	size_t *len = calloc((size_t)argc + 1, sizeof(*len));
	redisReply *r;
	int rc = 0;

	*out = NULL;
	if (!len)
		return -ENOMEM;
	for (int i = 0; i < argc; i++)
		len[i] = strlen(argv[i]);
	r = send_argv(q, argc, argv, len, &rc, NULL, 0);
	free(len);
	if (!r)
		return rc;
	*out = qreply_text(r);
	rc = r->type == REDIS_REPLY_ERROR ? -EIO : 0;
	freeReplyObject(r);
	return *out ? rc : -ENOMEM;
}
