/* sync.c - the blocking queue client: one hiredis connection, one command at a time.
 * It serves the CLI (submit, status, cancel, submit --wait) and the tests; it does not
 * reconnect when Redis goes away, since each of its users is a short-lived command.
 * Every reply is bounded (struct qlimit): one over its bound costs a fresh connection
 * and an -EMSGSIZE, never the memory the reply asked for. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "queue_internal.h"

struct queue {
	redisContext *c;
	uint32_t block_ms; /* the command being sent blocks in Redis this long (XREAD, BLPOP) */
	struct queue_opts o;
	struct queue_url url;
	char prefix[64];
	char group[64];
	char sha[QS_COUNT][48];
	char cursor[QUEUE_ENTRY_MAX]; /* XAUTOCLAIM's next start */
	struct qlimit lim;
	int connecting;
	struct qtls *tls; /* rediss://: the bridge hiredis connects through (tls.c) */
};

static int connect_ctx(struct queue *q, char *err, size_t errlen);

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

/* A reply carrying a job document may be this big; most replies are far smaller. */
static size_t doc_reply_max(const struct queue *q)
{
	return queue_doc_cap(&q->o) + QUEUE_REPLY_SLACK;
}

/* Every wait on Redis has a deadline: a Redis that accepts and never answers (frozen,
 * SIGSTOPped, a black-holed network) costs a command at most command_timeout_ms, plus
 * the time a blocking command asked Redis to wait. It is for the whole answer, not each
 * read: each read gets what is left of it, so a Redis that trickles its answer a byte at
 * a time (a failing link, a hostile proxy) cannot stretch it. *end is 0 on a command's
 * first call; 0 is returned once the deadline has passed. */
static int set_deadline(struct queue *q, long long *end)
{
	struct timespec ts;
	long long now, ms;
	struct timeval tv;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (!*end)
		*end =
		    now + (q->o.command_timeout_ms ? q->o.command_timeout_ms : 10000) + q->block_ms;
	if ((ms = *end - now) <= 0)
		return 0;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	redisSetTimeout(q->c, tv);
	return 1;
}

/* Send argv and read its reply, which may cost at most cap bytes. Returns the reply,
 * or NULL with err set: -ENOTCONN when the connection failed, -EMSGSIZE when the reply
 * was over cap (the connection, with the rest of that reply still on its way, is then
 * replaced by a fresh one). An error reply is returned as is: callers look at it. */
static redisReply *send_argv(struct queue *q, int argc, const char **argv, const size_t *len,
			     size_t cap, int *rc, char *err, size_t errlen)
{
	void *reply = NULL;
	int wdone = 0, late = 0;
	long long end = 0;

	if (!q->c) {
		qerr(err, errlen, "lost the connection to Redis at %s and could not reconnect",
		     q->url.where);
		*rc = -ENOTCONN;
		return NULL;
	}
	q->lim.max = cap;
	q->lim.tripped = 0;
	set_deadline(q, &end);
	if (redisAppendCommandArgv(q->c, argc, argv, len) != REDIS_OK)
		goto lost;
	do {
		if ((late = !set_deadline(q, &end)) || redisBufferWrite(q->c, &wdone) != REDIS_OK)
			goto lost;
	} while (!wdone);
	for (;;) {
		if (redisGetReplyFromReader(q->c, &reply) != REDIS_OK)
			goto lost;
		if (reply)
			return reply;
		if (qlimit_buffered_over(q->c, &q->lim) || (late = !set_deadline(q, &end)) ||
		    redisBufferRead(q->c) != REDIS_OK)
			goto lost;
	}
lost:
	if (q->lim.tripped) {
		qerr(err, errlen, "%s", q->lim.why);
		*rc = -EMSGSIZE;
		redisFree(q->c);
		q->c = NULL;
		if (!q->connecting)
			connect_ctx(q, NULL, 0);
		return NULL;
	}
	/* Bytes that are not RESP: the URL names another kind of server. */
	if (late ||
	    (q->c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK ||
					   strstr(q->c->errstr, "temporarily unavailable")))) {
		qerr(err, errlen, "Redis at %s did not answer within %u ms", q->url.where,
		     q->o.command_timeout_ms + q->block_ms);
		*rc = -ETIMEDOUT;
		/* The reply may still come: this connection cannot be used again. */
		redisFree(q->c);
		q->c = NULL;
		return NULL;
	}
	if (q->c->err == REDIS_ERR_PROTOCOL)
		qerr(err, errlen,
		     "%s did not answer like Redis (an HTTP server?); check the host and port of "
		     "the Redis URL",
		     q->url.where);
	else
		qerr(err, errlen, "lost the connection to Redis at %s: %s", q->url.where,
		     q->c->errstr[0] ? q->c->errstr : "no reply");
	*rc = -ENOTCONN;
	return NULL;
}

static int load_script(struct queue *q, int script, char *err, size_t errlen)
{
	const char *argv[3] = {"SCRIPT", "LOAD", queue_scripts[script]};
	size_t len[3] = {6, 4, strlen(queue_scripts[script])};
	int rc = 0;
	redisReply *r = send_argv(q, 3, argv, len, QUEUE_SMALL_REPLY, &rc, err, errlen);

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

/* Run a command (a script with EVALSHA, loading it when Redis does not know it) whose
 * reply may cost cap bytes. Returns 0 with *out, or -errno; an error reply becomes -EIO
 * with its text. */
static int run_cap(struct queue *q, struct qcmd *c, redisReply **out, size_t cap, char *err,
		   size_t errlen)
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
		r = send_argv(q, argc, argv, len, cap, &rc, err, errlen);
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

static int run(struct queue *q, struct qcmd *c, redisReply **out, char *err, size_t errlen)
{
	return run_cap(q, c, out, doc_reply_max(q), err, errlen);
}

static int simple(struct queue *q, char *err, size_t errlen, int argc, const char **argv)
{
	size_t len[8];
	redisReply *r;
	int rc = 0;

	for (int i = 0; i < argc; i++)
		len[i] = strlen(argv[i]);
	r = send_argv(q, argc, argv, len, QUEUE_SMALL_REPLY, &rc, err, errlen);
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

/* Connect q->c (authenticated, database selected, replies bounded); on failure q->c
 * is NULL. */
static int connect_ctx(struct queue *q, char *err, size_t errlen)
{
	struct timeval tv;
	int rc;

	q->connecting = 1;
	tv.tv_sec = q->o.connect_timeout_ms / 1000;
	tv.tv_usec = (q->o.connect_timeout_ms % 1000) * 1000;
	if (q->tls) {
		char path[108];
		if ((rc = qtls_dial(q->tls, q->o.connect_timeout_ms, path, err, errlen)) < 0)
			goto fail;
		q->c = redisConnectUnixWithTimeout(path, tv);
	} else {
		q->c = q->url.is_unix ? redisConnectUnixWithTimeout(q->url.path, tv)
				      : redisConnectWithTimeout(q->url.host, q->url.port, tv);
	}
	if (!q->c || q->c->err) {
		const char *why = q->c ? q->c->errstr : "out of memory";
		qerr(err, errlen, "cannot connect to Redis at %s: %s; is redis-server running?",
		     q->url.where, why);
		rc = q->c ? conn_errno(why) : -ENOMEM;
		goto fail;
	}
	qlimit_attach(q->c, &q->lim, doc_reply_max(q));
	/* Each command sets its own read deadline (set_deadline). */
	if (q->url.pass[0]) {
		const char *a[3] = {"AUTH", q->url.user[0] ? q->url.user : q->url.pass,
				    q->url.pass};
		if ((rc = simple(q, err, errlen, q->url.user[0] ? 3 : 2, a)) < 0)
			goto fail;
	}
	if (q->url.db) {
		char db[16];
		const char *a[2] = {"SELECT", db};
		snprintf(db, sizeof(db), "%d", q->url.db);
		if ((rc = simple(q, err, errlen, 2, a)) < 0)
			goto fail;
	}
	q->connecting = 0;
	return 0;
fail:
	if (q->c)
		redisFree(q->c);
	q->c = NULL;
	q->connecting = 0;
	return rc;
}

int queue_open(struct queue **out, const char *url, const struct queue_opts *opts, char *err,
	       size_t errlen)
{
	struct queue *q;
	int rc;

	*out = NULL;
	if (!(q = calloc(1, sizeof(*q))))
		return -ENOMEM;
	queue_opts_own(&q->o, q->prefix, q->group, opts);
	rc = queue_url_parse(&q->url, url, err, errlen);
	if (rc == 0 && q->url.is_tls)
		rc = qtls_new(&q->tls, &q->url, &q->o, err, errlen);
	/* The files are loaded: the caller's strings may go. */
	q->o.tls_ca = q->o.tls_cert = q->o.tls_key = NULL;
	if (rc < 0 || (rc = connect_ctx(q, err, errlen)) < 0) {
		qtls_free(q->tls);
		explicit_bzero(&q->url, sizeof(q->url));
		free(q);
		return rc;
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
	qtls_free(q->tls);
	explicit_bzero(&q->url, sizeof(q->url)); /* the password */
	free(q);
}

const struct queue_opts *qsync_opts(const struct queue *q)
{
	return &q->o;
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

	/* The same cap as the take script's: what submit accepts, a worker reads. */
	if (len > queue_doc_cap(&q->o)) {
		qerr(err, errlen,
		     "the job document is %zu bytes, over the %zu-byte cap (queue doc_max); make "
		     "it smaller",
		     len, queue_doc_cap(&q->o));
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
	struct qcmd c;
	redisReply *r;
	int rc;

	*json_out = NULL;
	if (!queue_id_valid(id)) {
		qerr(err, errlen, "'%.64s' is not a job id (1-63 characters of [A-Za-z0-9_-])",
		     id ? id : "");
		return -EINVAL;
	}
	/* Not HGETALL: a producer may have written a huge value into the hash. */
	if ((rc = qcmd_status(&c, &q->o, id)) < 0 ||
	    (rc = run_cap(q, &c, &r, QUEUE_STATUS_BUDGET + QUEUE_REPLY_SLACK, err, errlen)) < 0)
		return rc;
	if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
		qerr(err, errlen, "no job %s: it was never submitted or its result has expired",
		     id);
		freeReplyObject(r);
		return -ENOENT;
	}
	*json_out = qstatus_json(id, r);
	freeReplyObject(r);
	if (!*json_out)
		qerr(err, errlen, "unexpected answer from the status script");
	return *json_out ? 0 : -EIO;
}

/* The entries after cursor, or, when there are none yet and block_ms > 0, the ones
 * that arrive within block_ms (one XREAD BLOCK, then the script again). */
int queue_log_read(struct queue *q, const char *id, char cursor[QUEUE_ENTRY_MAX], int block_ms,
		   char **json_out, char *err, size_t errlen)
{
	const size_t cap = QUEUE_LOG_READ_BUDGET + QUEUE_LOG_BATCH_MAX + QUEUE_REPLY_SLACK;
	char key[QUEUE_ID_MAX + 256];
	struct qcmd c;
	redisReply *r;
	int rc, missing;

	*json_out = NULL;
	if (!queue_id_valid(id)) {
		qerr(err, errlen, "'%.64s' is not a job id (1-63 characters of [A-Za-z0-9_-])",
		     id ? id : "");
		return -EINVAL;
	}
	for (int round = 0; round < 2; round++) {
		if ((rc = qcmd_logread(&c, &q->o, id, cursor)) < 0 ||
		    (rc = run_cap(q, &c, &r, cap, err, errlen)) < 0)
			return rc;
		*json_out = qlog_json(r, cursor, &missing);
		freeReplyObject(r);
		if (missing) {
			qerr(err, errlen,
			     "no job %s: it was never submitted or its result has expired", id);
			return -ENOENT;
		}
		if (!*json_out) {
			qerr(err, errlen, "unexpected answer from the log script");
			return -EIO;
		}
		if (block_ms <= 0 || round == 1 || !strstr(*json_out, "\"entries\":[]"))
			return 0;
		free(*json_out);
		*json_out = NULL;
		qkey_log(key, sizeof(key), &q->o, id);
		qcmd_init(&c, -1);
		qcmd_adds(&c, "XREAD");
		qcmd_adds(&c, "COUNT");
		qcmd_adds(&c, "1");
		qcmd_adds(&c, "BLOCK");
		qcmd_addf(&c, "%d", block_ms);
		qcmd_adds(&c, "STREAMS");
		qcmd_adds(&c, key);
		qcmd_adds(&c, cursor[0] ? cursor : "0");
		q->block_ms = (uint32_t)block_ms;
		rc = run_cap(q, &c, &r, cap, err, errlen);
		q->block_ms = 0;
		if (rc < 0 && rc != -EMSGSIZE)
			return rc;
		if (rc == 0)
			freeReplyObject(r);
	}
	return -EIO; /* not reached: round 1 returns */
}

/* The list script sends at most limit rows of 11 values of QUEUE_LIST_VALUE_MAX bytes. */
int queue_list(struct queue *q, const char *state, unsigned limit, char **json_out, char *err,
	       size_t errlen)
{
	size_t cap = (size_t)QUEUE_LIST_MAX * 11 * (QUEUE_LIST_VALUE_MAX + 32) + QUEUE_REPLY_SLACK;
	struct qcmd c;
	redisReply *r;
	int rc;

	*json_out = NULL;
	if (state && *state && !qstate_valid(state)) {
		qerr(err, errlen,
		     "'%.32s' is not a job state: use queued, running, succeeded, failed, "
		     "cancelled or dead",
		     state);
		return -EINVAL;
	}
	if (limit < 1 || limit > QUEUE_LIST_MAX) {
		qerr(err, errlen, "the limit must be 1 to %d jobs", QUEUE_LIST_MAX);
		return -EINVAL;
	}
	if ((rc = qcmd_list(&c, &q->o, state, limit)) < 0 ||
	    (rc = run_cap(q, &c, &r, cap, err, errlen)) < 0)
		return rc;
	*json_out = qlist_json(r);
	freeReplyObject(r);
	if (!*json_out)
		qerr(err, errlen, "unexpected answer from the list script");
	return *json_out ? 0 : -EIO;
}

/* The sentence for a job retry refuses in its state. */
static void requeue_refused(const char *id, const char *st, char *err, size_t errlen)
{
	if (!strcmp(st, "queued") || !strcmp(st, "running"))
		qerr(err, errlen,
		     "job %s is %s: only a failed or dead job can be retried (cancel it first to "
		     "stop it)",
		     id, st);
	else if (!strcmp(st, "succeeded"))
		qerr(err, errlen,
		     "job %s succeeded: only a failed or dead job can be retried; submit it again "
		     "to render it again",
		     id);
	else
		qerr(err, errlen,
		     "job %s is %.32s: only a failed or dead job can be retried; submit it again "
		     "to run it",
		     id, st);
}

int queue_requeue(struct queue *q, const char *id, char *err, size_t errlen)
{
	struct qcmd c;
	redisReply *r;
	const char *w;
	int rc;

	if (!queue_id_valid(id)) {
		qerr(err, errlen, "'%.64s' is not a job id (1-63 characters of [A-Za-z0-9_-])",
		     id ? id : "");
		return -EINVAL;
	}
	if ((rc = qcmd_requeue(&c, &q->o, id)) < 0 || (rc = run(q, &c, &r, err, errlen)) < 0)
		return rc;
	w = qreply_word(r);
	rc = 0;
	if (!strcmp(w, "missing")) {
		qerr(err, errlen, "no job %s: it was never submitted or its result has expired",
		     id);
		rc = -ENOENT;
	} else if (!strcmp(w, "state")) {
		requeue_refused(id, qreply_str_at(r, 1), err, errlen);
		rc = -EBUSY;
	} else if (!strcmp(w, "child")) {
		qerr(
		    err, errlen,
		    "job %s is a chunk of job %.64s: retry the parent (reelbox retry %.64s), which "
		    "splits again",
		    id, qreply_str_at(r, 1), qreply_str_at(r, 1));
		rc = -EBUSY;
	} else if (!strcmp(w, "nodoc")) {
		qerr(err, errlen,
		     "job %s cannot be retried: its document was not kept (over the size cap, or "
		     "its stream entry was gone when it ended); submit it again",
		     id);
		rc = -ENODATA;
	} else if (strcmp(w, "ok")) {
		qerr(err, errlen, "unexpected answer from the requeue script");
		rc = -EIO;
	}
	freeReplyObject(r);
	return rc;
}

int queue_delete(struct queue *q, const char *id, char state[16], char *err, size_t errlen)
{
	struct qcmd c;
	redisReply *r;
	const char *w;
	int rc;

	state[0] = '\0';
	if (!queue_id_valid(id)) {
		qerr(err, errlen, "'%.64s' is not a job id (1-63 characters of [A-Za-z0-9_-])",
		     id ? id : "");
		return -EINVAL;
	}
	if ((rc = qcmd_delete(&c, &q->o, id)) < 0 || (rc = run(q, &c, &r, err, errlen)) < 0)
		return rc;
	w = qreply_word(r);
	rc = 0;
	if (!strcmp(w, "missing")) {
		qerr(err, errlen, "no job %s: it was never submitted or its result has expired",
		     id);
		rc = -ENOENT;
	} else if (!strcmp(w, "state")) {
		snprintf(state, 16, "%s", qreply_str_at(r, 1));
		qerr(err, errlen,
		     "job %s is %s: cancel it first (reelbox cancel %s), then delete it", id,
		     state[0] ? state : "in no known state", id);
		rc = -EBUSY;
	} else if (!strcmp(w, "ok")) {
		snprintf(state, 16, "%s", qreply_str_at(r, 1));
	} else {
		qerr(err, errlen, "unexpected answer from the delete script");
		rc = -EIO;
	}
	freeReplyObject(r);
	return rc;
}

int queue_cancel(struct queue *q, const char *id, struct queue_cancel_info *info, char *err,
		 size_t errlen)
{
	struct queue_cancel_info dummy;
	struct qcmd c;
	redisReply *r;
	const char *w;
	int rc;

	if (!info)
		info = &dummy;
	memset(info, 0, sizeof(*info));
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
	} else if (!strcmp(w, "final")) {
		snprintf(info->state, sizeof(info->state), "%s", qreply_str_at(r, 1));
		rc = 1;
	} else if (!strcmp(w, "cancelled")) {
		snprintf(info->state, sizeof(info->state), "cancelled");
		snprintf(info->was, sizeof(info->was), "%s", qreply_str_at(r, 1));
		snprintf(info->worker, sizeof(info->worker), "%s", qreply_str_at(r, 2));
		info->heartbeat_age_ms = qreply_int_at(r, 3);
	} else {
		qerr(err, errlen, "unexpected answer from the cancel script");
		rc = -EIO;
	}
	freeReplyObject(r);
	return rc;
}

/* Events are read by the event script, which sends none over QUEUE_EVENT_MAX bytes; the
 * XREAD BLOCK that waits for the next one is capped to that size too, and its reply is
 * only a wake-up: an event over the cap costs a reconnect, then the script moves past
 * it. */
int queue_wait_event(struct queue *q, const char *id, char cursor[QUEUE_ENTRY_MAX], int timeout_ms,
		     char **event_json, char *err, size_t errlen)
{
	const size_t cap = QUEUE_EVENT_MAX + QUEUE_REPLY_SLACK;
	char key[QUEUE_ID_MAX + 256];
	struct qcmd c;
	redisReply *r;
	int rc;

	*event_json = NULL;
	if (!queue_id_valid(id))
		return -EINVAL;
	for (int round = 0; round < 3; round++) {
		if ((rc = qcmd_event(&c, &q->o, id, cursor)) < 0 ||
		    (rc = run_cap(q, &c, &r, cap, err, errlen)) < 0)
			return rc;
		if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2 &&
		    r->element[0]->type == REDIS_REPLY_STRING &&
		    r->element[0]->len < QUEUE_ENTRY_MAX &&
		    r->element[1]->type == REDIS_REPLY_STRING) {
			snprintf(cursor, QUEUE_ENTRY_MAX, "%s", r->element[0]->str);
			*event_json = strdup(r->element[1]->len ? r->element[1]->str
								: "{\"type\":\"unknown\"}");
			freeReplyObject(r);
			return *event_json ? 0 : -ENOMEM;
		}
		freeReplyObject(r);
		if (timeout_ms <= 0 || round == 2)
			break;
		qkey_events(key, sizeof(key), &q->o, id);
		qcmd_init(&c, -1);
		qcmd_adds(&c, "XREAD");
		qcmd_adds(&c, "COUNT");
		qcmd_adds(&c, "1");
		qcmd_adds(&c, "BLOCK");
		qcmd_addf(&c, "%d", timeout_ms);
		qcmd_adds(&c, "STREAMS");
		qcmd_adds(&c, key);
		qcmd_adds(&c, cursor[0] ? cursor : "0");
		q->block_ms = (uint32_t)timeout_ms;
		rc = run_cap(q, &c, &r, cap, err, errlen);
		q->block_ms = 0;
		if (rc == -EMSGSIZE)
			continue; /* an oversized event: the script skips it */
		if (rc < 0)
			return rc;
		rc = r->type == REDIS_REPLY_ARRAY && r->elements > 0;
		freeReplyObject(r);
		if (!rc)
			break;
	}
	qerr(err, errlen, "no event for job %s within %d ms", id, timeout_ms);
	return -ETIMEDOUT;
}

/* ---- Worker operations ---- */

/* Claim an entry without an id field, whose document the take script sent: read the
 * id from the document, then claim (or dead-letter it when it names no valid id).
 * Returns 1 with *job filled, 0 when the entry needed no work, or -errno. */
static int take_entry(struct queue *q, const char *consumer, struct qentry *e,
		      struct queue_job *job, char *err, size_t errlen)
{
	struct qcmd c;
	redisReply *r;
	int rc;

	if (!qentry_doc_id(e)) {
		if ((rc = qcmd_reject(&c, &q->o, e->entry, NULL, NULL, NULL, e->bad)) < 0 ||
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
	return 1;
}

int queue_fetch(struct queue *q, const char *consumer, int block_ms, struct queue_job *job,
		char *err, size_t errlen)
{
	uint64_t deadline = queue_now_ms() + (uint64_t)(block_ms > 0 ? block_ms : 0);
	struct qentry e;
	struct qcmd c;
	redisReply *r;
	int rc, kind;

	memset(job, 0, sizeof(*job));
	for (;;) {
		if ((rc = qcmd_take(&c, &q->o, consumer, q->cursor)) < 0 ||
		    (rc = run(q, &c, &r, err, errlen)) < 0)
			return rc;
		kind = qreply_take(r, &e, q->cursor, job);
		rc = 0;
		if (kind == QT_JOB)
			rc = 1;
		else if (kind == QT_NEEDID)
			rc = take_entry(q, consumer, &e, job, err, errlen);
		if (rc == 1) {
			/* e.doc points into the reply, which is still alive. */
			if (!(job->doc = malloc(e.doc_len + 1))) {
				freeReplyObject(r);
				return -ENOMEM;
			}
			memcpy(job->doc, e.doc, e.doc_len);
			job->doc[e.doc_len] = '\0';
			job->doc_len = e.doc_len;
			freeReplyObject(r);
			return 0;
		}
		freeReplyObject(r);
		if (kind < 0) {
			qerr(err, errlen, "unexpected answer from the take script");
			return -EIO;
		}
		if (rc < 0)
			return rc;
		if (kind != QT_NONE)
			continue;

		int64_t left = (int64_t)(deadline - queue_now_ms());
		if (left <= 0)
			return -EAGAIN;
		if (left > (int64_t)q->o.poll_ms)
			left = q->o.poll_ms;
		/* Wait on the doorbell. An answer of any kind (a ring, the timeout, an error
		 * such as WRONGTYPE, which the next take clears) means: take again. */
		if ((rc = qcmd_wait(&c, &q->o, (uint32_t)left, NULL, 1)) < 0)
			return rc;
		q->block_ms = (uint32_t)left;
		rc = run_cap(q, &c, &r, QUEUE_SMALL_REPLY, err, errlen);
		q->block_ms = 0;
		if (rc == 0)
			freeReplyObject(r);
		else if (rc == -ENOTCONN)
			return rc;
		else if (rc == -EIO)
			usleep((useconds_t)(left > 100 ? 100 : left) * 1000);
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
	rc = qreply_heartbeat(r, job->id, NULL, err, errlen);
	freeReplyObject(r);
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
	rc = qreply_heartbeat(r, job->id, NULL, err, errlen);
	freeReplyObject(r);
	return rc;
}

int queue_log_append(struct queue *q, const struct queue_job *job, const char *text, size_t len,
		     char *err, size_t errlen)
{
	struct qcmd c;
	redisReply *r;
	int rc;

	if ((rc = qcmd_log(&c, &q->o, job, text, len)) < 0) {
		if (rc == -EMSGSIZE)
			qerr(err, errlen, "a log batch is at most %d bytes", QUEUE_LOG_BATCH_MAX);
		return rc;
	}
	if ((rc = run(q, &c, &r, err, errlen)) < 0)
		return rc;
	rc = qreply_heartbeat(r, job->id, NULL, err, errlen);
	freeReplyObject(r);
	return rc;
}

static int finish_op(struct queue *q, struct qcmd *c, const char *id, char *err, size_t errlen)
{
	redisReply *r;
	int script = c->script;
	int rc = run(q, c, &r, err, errlen);

	if (rc < 0)
		return rc;
	rc = qreply_finish(r, script, id, err, errlen);
	freeReplyObject(r);
	return rc;
}

int queue_complete(struct queue *q, const struct queue_job *job, const char *result_json, char *err,
		   size_t errlen)
{
	struct qcmd c;
	int rc = qcmd_complete(&c, &q->o, job, result_json, err, errlen);

	return rc < 0 ? rc : finish_op(q, &c, job->id, err, errlen);
}

int queue_split(struct queue *q, const struct queue_job *job, int64_t total_frames,
		const char *join_doc, const char *whole_doc, const char *kids, char *err,
		size_t errlen)
{
	struct qcmd c;
	int rc = qcmd_split(&c, &q->o, job, total_frames, join_doc, whole_doc, kids);

	return rc < 0 ? rc : finish_op(q, &c, job->id, err, errlen);
}

int queue_retry(struct queue *q, const struct queue_job *job, const char *error, char *err,
		size_t errlen)
{
	struct qcmd c;
	int rc = qcmd_retry(&c, &q->o, job, error);

	return rc < 0 ? rc : finish_op(q, &c, job->id, err, errlen);
}

int queue_reject(struct queue *q, const struct queue_job *job, const char *reason, char *err,
		 size_t errlen)
{
	struct qcmd c;
	int rc = qcmd_reject(&c, &q->o, job->entry, job->id, job->token, job->doc_sha, reason);

	return rc < 0 ? rc : finish_op(q, &c, job->id, err, errlen);
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
	r = send_argv(q, argc, argv, len, doc_reply_max(q), &rc, NULL, 0);
	free(len);
	if (!r)
		return rc;
	*out = qreply_text(r);
	rc = r->type == REDIS_REPLY_ERROR ? -EIO : 0;
	freeReplyObject(r);
	return *out ? rc : -ENOMEM;
}

/* ---- Scan: is a string anywhere in this Redis? ---- */

/* How many values one page of a scan asks for, and what one page may cost. */
#define SCAN_PAGE	16
#define SCAN_STR_PAGE	(1u << 20)
#define SCAN_REPLY_MULT 8

/* 1 when a string of the reply (at any depth) holds the needle. */
static int reply_has(const redisReply *r, const char *needle, size_t nlen)
{
	if (!r)
		return 0;
	if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
	    r->type == REDIS_REPLY_ERROR)
		return r->len >= nlen && memmem(r->str, r->len, needle, nlen) != NULL;
	if (r->type == REDIS_REPLY_ARRAY)
		for (size_t i = 0; i < r->elements; i++)
			if (reply_has(r->element[i], needle, nlen))
				return 1;
	return 0;
}

/* One command of the scan, its reply bounded; an error reply is an error. */
static int scan_cmd(struct queue *q, redisReply **out, char *err, size_t errlen, int argc,
		    const char **argv)
{
	size_t len[8];
	int rc = 0;

	for (int i = 0; i < argc; i++)
		len[i] = strlen(argv[i]);
	*out = send_argv(q, argc, argv, len, doc_reply_max(q) * SCAN_REPLY_MULT, &rc, err, errlen);
	if (!*out)
		return rc ? rc : -EIO;
	if ((*out)->type == REDIS_REPLY_ERROR) {
		qerr(err, errlen, "Redis at %s refused %s during the scan: %s", q->url.where,
		     argv[0], (*out)->str);
		freeReplyObject(*out);
		*out = NULL;
		return -EIO;
	}
	return 0;
}

/* A string value, a megabyte a page; pages overlap by the needle's length - 1 so a
 * needle across a page boundary is still found. */
static int scan_string(struct queue *q, const char *key, const char *needle, int *found, char *err,
		       size_t errlen)
{
	size_t nlen = strlen(needle);
	long long size, start = 0;
	char a[32], b[32];
	redisReply *r;
	int rc;

	if ((rc = scan_cmd(q, &r, err, errlen, 2, (const char *[]){"STRLEN", key})) < 0)
		return rc;
	size = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
	freeReplyObject(r);
	while (start < size && !*found) {
		snprintf(a, sizeof(a), "%lld", start);
		snprintf(b, sizeof(b), "%lld", start + SCAN_STR_PAGE - 1);
		if ((rc = scan_cmd(q, &r, err, errlen, 4,
				   (const char *[]){"GETRANGE", key, a, b})) < 0)
			return rc;
		*found = reply_has(r, needle, nlen);
		freeReplyObject(r);
		start += SCAN_STR_PAGE - (long long)(nlen > 1 ? nlen - 1 : 0);
	}
	return 0;
}

/* A hash, set or sorted set through its cursor (HSCAN, SSCAN, ZSCAN). */
static int scan_cursor(struct queue *q, const char *cmd, const char *key, const char *needle,
		       int *found, char *err, size_t errlen)
{
	char cursor[32] = "0", count[16];
	redisReply *r;
	int rc;

	snprintf(count, sizeof(count), "%d", SCAN_PAGE);
	do {
		if ((rc = scan_cmd(q, &r, err, errlen, 5,
				   (const char *[]){cmd, key, cursor, "COUNT", count})) < 0)
			return rc;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING) {
			freeReplyObject(r);
			qerr(err, errlen, "Redis at %s answered %s with an unexpected reply",
			     q->url.where, cmd);
			return -EIO;
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		*found = reply_has(r->element[1], needle, strlen(needle));
		freeReplyObject(r);
	} while (strcmp(cursor, "0") && !*found);
	return 0;
}

/* A list, SCAN_PAGE items a page. */
static int scan_list(struct queue *q, const char *key, const char *needle, int *found, char *err,
		     size_t errlen)
{
	char a[32], b[32];
	redisReply *r;
	int rc, more = 1;

	for (long long i = 0; more && !*found; i += SCAN_PAGE) {
		snprintf(a, sizeof(a), "%lld", i);
		snprintf(b, sizeof(b), "%lld", i + SCAN_PAGE - 1);
		if ((rc = scan_cmd(q, &r, err, errlen, 4, (const char *[]){"LRANGE", key, a, b})) <
		    0)
			return rc;
		more = r->type == REDIS_REPLY_ARRAY && r->elements == SCAN_PAGE;
		*found = reply_has(r, needle, strlen(needle));
		freeReplyObject(r);
	}
	return 0;
}

/* A stream, SCAN_PAGE entries a page, each page after the last entry seen. */
static int scan_stream(struct queue *q, const char *key, const char *needle, int *found, char *err,
		       size_t errlen)
{
	char start[QUEUE_ENTRY_MAX + 1] = "-", count[16];
	redisReply *r;
	int rc, more = 1;

	snprintf(count, sizeof(count), "%d", SCAN_PAGE);
	while (more && !*found) {
		const char *argv[] = {"XRANGE", key, start, "+", "COUNT", count};
		if ((rc = scan_cmd(q, &r, err, errlen, 6, argv)) < 0)
			return rc;
		more = r->type == REDIS_REPLY_ARRAY && r->elements == SCAN_PAGE;
		if (more) {
			const redisReply *last = r->element[r->elements - 1];
			if (last->type != REDIS_REPLY_ARRAY || last->elements < 1 ||
			    last->element[0]->type != REDIS_REPLY_STRING)
				more = 0;
			else
				snprintf(start, sizeof(start), "(%s", last->element[0]->str);
		}
		*found = reply_has(r, needle, strlen(needle));
		freeReplyObject(r);
	}
	return 0;
}

/* One key: its name, then its value by its type. */
static int scan_key(struct queue *q, const char *key, const char *needle, int *found, char *err,
		    size_t errlen)
{
	redisReply *r;
	char type[32];
	int rc;

	*found = strstr(key, needle) != NULL;
	if (*found)
		return 0;
	if ((rc = scan_cmd(q, &r, err, errlen, 2, (const char *[]){"TYPE", key})) < 0)
		return rc;
	snprintf(type, sizeof(type), "%s", r->type == REDIS_REPLY_STATUS ? r->str : "?");
	freeReplyObject(r);
	if (!strcmp(type, "none")) /* gone meanwhile (expired) */
		return 0;
	if (!strcmp(type, "string"))
		return scan_string(q, key, needle, found, err, errlen);
	if (!strcmp(type, "hash"))
		return scan_cursor(q, "HSCAN", key, needle, found, err, errlen);
	if (!strcmp(type, "set"))
		return scan_cursor(q, "SSCAN", key, needle, found, err, errlen);
	if (!strcmp(type, "zset"))
		return scan_cursor(q, "ZSCAN", key, needle, found, err, errlen);
	if (!strcmp(type, "list"))
		return scan_list(q, key, needle, found, err, errlen);
	if (!strcmp(type, "stream"))
		return scan_stream(q, key, needle, found, err, errlen);
	qerr(err, errlen, "key %.100s in Redis at %s has type %s, which the scan cannot read", key,
	     q->url.where, type);
	return -ENOTSUP;
}

int queue_scan_contains(struct queue *q, const char *needle, size_t *keys, size_t *hits, char *err,
			size_t errlen)
{
	char cursor[32] = "0";
	redisReply *r;
	int rc = 0;

	*keys = *hits = 0;
	if (!needle || !*needle)
		return -EINVAL;
	do {
		if ((rc = scan_cmd(q, &r, err, errlen, 4,
				   (const char *[]){"SCAN", cursor, "COUNT", "100"})) < 0)
			return rc;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[1]->type != REDIS_REPLY_ARRAY) {
			freeReplyObject(r);
			qerr(err, errlen, "Redis at %s answered SCAN with an unexpected reply",
			     q->url.where);
			return -EIO;
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		for (size_t i = 0; i < r->element[1]->elements && rc == 0; i++) {
			const redisReply *k = r->element[1]->element[i];
			int found = 0;
			if (k->type != REDIS_REPLY_STRING)
				continue;
			rc = scan_key(q, k->str, needle, &found, err, errlen);
			(*keys)++;
			*hits += found;
		}
		freeReplyObject(r);
	} while (rc == 0 && strcmp(cursor, "0"));
	return rc;
}
