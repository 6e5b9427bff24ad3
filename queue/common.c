/* common.c - what both queue clients share: options, ids, the command builders
 * for every script, and the readers of their replies. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "queue_internal.h"

void queue_opts_init(struct queue_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->prefix = "reelbox";
	o->group = "workers";
	o->lease_ms = 30000;
	o->result_ttl_s = 86400;
	o->max_attempts = 3;
	o->backoff_base_ms = 1000;
	o->backoff_max_ms = 300000;
	o->poll_ms = 2000;
	o->dead_maxlen = 10000;
	o->log_max = 4096;
	o->connect_timeout_ms = 2000;
	o->command_timeout_ms = 10000;
	o->doc_max = 8u << 20;
}

void qerr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

uint64_t queue_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int queue_id_valid(const char *s)
{
	size_t n = 0;

	if (!s)
		return 0;
	for (; s[n]; n++) {
		char c = s[n];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return 0;
		if (n >= QUEUE_ID_MAX - 1)
			return 0;
	}
	return n > 0;
}

static char *base36(char *p, uint64_t v, int min_digits)
{
	static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	char tmp[16];
	int n = 0;

	do {
		tmp[n++] = digits[v % 36];
		v /= 36;
	} while (v || n < min_digits);
	while (n)
		*p++ = tmp[--n];
	return p;
}

int queue_id_generate(char id[QUEUE_ID_MAX])
{
	struct timespec ts;
	uint64_t rnd;
	char *p = id;

	if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -errno;
	clock_gettime(CLOCK_REALTIME, &ts);
	*p++ = 'j';
	/* Time first, fixed width: ids sort roughly by submission. */
	p = base36(p, (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000, 9);
	p = base36(p, rnd & ((1ull << 52) - 1), 10);
	*p = '\0';
	return 0;
}

void queue_job_clear(struct queue_job *job)
{
	free(job->doc);
	memset(job, 0, sizeof(*job));
}

/* 64 random bits as 16 hex digits: the claiming worker's part of a fencing token. */
static void nonce_hex(char out[17])
{
	uint64_t v = 0;

	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v)) {
		struct timespec ts;
		/* getrandom cannot fail for 8 bytes once the pool is ready; be safe anyway. */
		clock_gettime(CLOCK_REALTIME, &ts);
		v = ((uint64_t)ts.tv_nsec << 32) ^ (uint64_t)ts.tv_sec ^ (uint64_t)getpid() << 48;
	}
	snprintf(out, 17, "%016llx", (unsigned long long)v);
}

/* ---- Commands ---- */

void qcmd_init(struct qcmd *c, int script)
{
	memset(c, 0, sizeof(*c));
	c->script = script;
}

void qcmd_add(struct qcmd *c, const char *s, size_t len)
{
	char *copy;

	if (c->argc >= QCMD_MAXARGS || !(copy = malloc(len + 1))) {
		c->oom = 1;
		return;
	}
	memcpy(copy, s, len);
	copy[len] = '\0';
	c->argv[c->argc] = copy;
	c->len[c->argc++] = len;
}

void qcmd_adds(struct qcmd *c, const char *s)
{
	qcmd_add(c, s, strlen(s));
}

void qcmd_addf(struct qcmd *c, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0) {
		c->oom = 1;
		return;
	}
	qcmd_add(c, s, (size_t)n);
	free(s);
}

void qcmd_free(struct qcmd *c)
{
	for (int i = 0; i < c->argc; i++)
		free(c->argv[i]);
	c->argc = 0;
}

int qcmd_argv(const struct qcmd *c, const char *sha, const char **argv, size_t *len)
{
	int n = 0;

	if (c->script >= 0) {
		if (sha && *sha) {
			argv[n] = "EVALSHA";
			len[n++] = 7;
			argv[n] = sha;
			len[n++] = strlen(sha);
		} else {
			argv[n] = "EVAL";
			len[n++] = 4;
			argv[n] = queue_scripts[c->script];
			len[n++] = strlen(queue_scripts[c->script]);
		}
	}
	for (int i = 0; i < c->argc; i++) {
		argv[n] = c->argv[i];
		len[n++] = c->len[i];
	}
	return n;
}

void qkey_job(char *buf, size_t len, const struct queue_opts *o, const char *id)
{
	snprintf(buf, len, "%s:job:%s", o->prefix, id);
}

void qkey_events(char *buf, size_t len, const struct queue_opts *o, const char *id)
{
	snprintf(buf, len, "%s:job:%s:events", o->prefix, id);
}

void qkey(char *buf, size_t len, const struct queue_opts *o, const char *what)
{
	snprintf(buf, len, "%s:%s", o->prefix, what);
}

/* Add a key built by one of the qkey functions. */
#define ADD_KEY(c, fn, ...)                                                                        \
	do {                                                                                       \
		char k_[QUEUE_ID_MAX + 256];                                                       \
		fn(k_, sizeof(k_), __VA_ARGS__);                                                   \
		qcmd_adds(c, k_);                                                                  \
	} while (0)

static int done(struct qcmd *c)
{
	if (c->oom) {
		qcmd_free(c);
		return -ENOMEM;
	}
	return 0;
}

int qcmd_submit(struct qcmd *c, const struct queue_opts *o, const char *id, const char *doc)
{
	qcmd_init(c, QS_SUBMIT);
	qcmd_adds(c, "3");
	ADD_KEY(c, qkey_job, o, id);
	ADD_KEY(c, qkey, o, "jobs");
	ADD_KEY(c, qkey_events, o, id);
	qcmd_adds(c, id);
	qcmd_adds(c, doc);
	qcmd_addf(c, "%u", o->max_attempts ? o->max_attempts : 1);
	qcmd_adds(c, o->group);
	return done(c);
}

int qcmd_claim(struct qcmd *c, const struct queue_opts *o, const char *entry, const char *id,
	       const char *consumer)
{
	char nonce[17];

	nonce_hex(nonce);
	qcmd_init(c, QS_CLAIM);
	qcmd_adds(c, "5");
	ADD_KEY(c, qkey_job, o, id);
	ADD_KEY(c, qkey, o, "jobs");
	ADD_KEY(c, qkey_events, o, id);
	ADD_KEY(c, qkey, o, "fence");
	ADD_KEY(c, qkey, o, "dead");
	qcmd_adds(c, entry);
	qcmd_adds(c, id);
	qcmd_adds(c, consumer);
	qcmd_adds(c, o->group);
	qcmd_addf(c, "%u", o->max_attempts ? o->max_attempts : 1);
	qcmd_addf(c, "%u", o->result_ttl_s ? o->result_ttl_s : 1);
	qcmd_addf(c, "%u", o->dead_maxlen);
	qcmd_adds(c, "65536");
	qcmd_adds(c, nonce);
	return done(c);
}

int qcmd_heartbeat(struct qcmd *c, const struct queue_opts *o, const struct queue_job *job,
		   const char *consumer)
{
	qcmd_init(c, QS_HEARTBEAT);
	qcmd_adds(c, "2");
	ADD_KEY(c, qkey_job, o, job->id);
	ADD_KEY(c, qkey, o, "jobs");
	qcmd_adds(c, job->token);
	qcmd_adds(c, consumer);
	qcmd_adds(c, o->group);
	return done(c);
}

int qcmd_progress(struct qcmd *c, const struct queue_opts *o, const struct queue_job *job,
		  int64_t frames, int64_t total)
{
	qcmd_init(c, QS_PROGRESS);
	qcmd_adds(c, "2");
	ADD_KEY(c, qkey_job, o, job->id);
	ADD_KEY(c, qkey_events, o, job->id);
	qcmd_adds(c, job->token);
	qcmd_addf(c, "%lld", (long long)frames);
	qcmd_addf(c, "%lld", (long long)total);
	qcmd_adds(c, job->id);
	return done(c);
}

/* The last max bytes of a log, starting on a UTF-8 character and, when one is near,
 * on a line. */
static const char *log_tail(const char *s, size_t len, size_t max)
{
	const char *p, *nl;

	if (len <= max)
		return s;
	p = s + len - max;
	while (*p && ((unsigned char)*p & 0xc0) == 0x80)
		p++;
	nl = memchr(p, '\n', (size_t)(s + len - p) < 256 ? (size_t)(s + len - p) : 256);
	return nl ? nl + 1 : p;
}

int qcmd_complete(struct qcmd *c, const struct queue_opts *o, const struct queue_job *job,
		  const char *result_json, char *err, size_t errlen)
{
	/* prompt and script (a prompt job's, bounded by the worker) are fields of their own
	 * and leave the result document, which must stay under QUEUE_VALUE_MAX. */
	static const char *const str_fields[] = {"output", "sha256", "error", "chunk_fallback",
						 "prompt", "script", NULL};
	static const char *const int_fields[] = {"bytes", "frames", "exit_code", "signal", NULL};
	json_error_t jerr;
	json_t *res, *v;
	const char *status;
	char *dump;

	res = json_loads(result_json ? result_json : "", 0, &jerr);
	if (!res || !json_is_object(res)) {
		json_decref(res);
		qerr(err, errlen, "the result of job %s is not a JSON object", job->id);
		return -EINVAL;
	}
	status = json_string_value(json_object_get(res, "status"));
	if (!status)
		status = json_string_value(json_object_get(res, "state"));
	if (!status || (strcmp(status, "succeeded") && strcmp(status, "failed"))) {
		json_decref(res);
		qerr(err, errlen,
		     "the result of job %s needs \"status\": \"succeeded\" or \"failed\"", job->id);
		return -EINVAL;
	}
	qcmd_init(c, QS_COMPLETE);
	qcmd_adds(c, "3");
	ADD_KEY(c, qkey_job, o, job->id);
	ADD_KEY(c, qkey, o, "jobs");
	ADD_KEY(c, qkey_events, o, job->id);
	qcmd_adds(c, job->token);
	qcmd_adds(c, o->group);
	qcmd_addf(c, "%u", o->result_ttl_s ? o->result_ttl_s : 1);
	qcmd_adds(c, status);
	qcmd_adds(c, job->id);
	qcmd_adds(c, job->doc_sha);
	for (int i = 0; str_fields[i]; i++)
		if ((v = json_object_get(res, str_fields[i])) && json_is_string(v)) {
			qcmd_adds(c, str_fields[i]);
			qcmd_add(c, json_string_value(v), json_string_length(v));
			if (i >= 4)
				json_object_del(res, str_fields[i]);
		}
	for (int i = 0; int_fields[i]; i++)
		if ((v = json_object_get(res, int_fields[i])) && json_is_integer(v)) {
			qcmd_adds(c, int_fields[i]);
			qcmd_addf(c, "%lld", (long long)json_integer_value(v));
		}
	if ((v = json_object_get(res, "log")) && json_is_string(v)) {
		const char *t = log_tail(json_string_value(v), json_string_length(v), o->log_max);
		json_t *tail = json_string(t);
		qcmd_adds(c, "log");
		qcmd_adds(c, t);
		if (tail)
			json_object_set_new(res, "log", tail);
	}
	dump = json_dumps(res, JSON_COMPACT);
	if (dump && strlen(dump) > QUEUE_VALUE_MAX) {
		/* Never silently: a status reader sees why the document is not there. */
		json_t *small = json_pack("{s:s, s:s}", "status", status, "note",
					  "the result document was over 64 KiB and is not kept");
		free(dump);
		dump = small ? json_dumps(small, JSON_COMPACT) : NULL;
		json_decref(small);
	}
	if (dump) {
		qcmd_adds(c, "result");
		qcmd_adds(c, dump);
	}
	free(dump);
	json_decref(res);
	return done(c);
}

int qcmd_split(struct qcmd *c, const struct queue_opts *o, const struct queue_job *job,
	       int64_t total_frames, const char *join_doc, const char *whole_doc, const char *kids)
{
	qcmd_init(c, QS_SPLIT);
	qcmd_adds(c, "3");
	ADD_KEY(c, qkey_job, o, job->id);
	ADD_KEY(c, qkey, o, "jobs");
	ADD_KEY(c, qkey_events, o, job->id);
	qcmd_adds(c, job->token);
	qcmd_adds(c, job->doc_sha);
	qcmd_adds(c, o->group);
	qcmd_addf(c, "%u", o->result_ttl_s ? o->result_ttl_s : 1);
	qcmd_adds(c, job->id);
	qcmd_addf(c, "%lld", (long long)total_frames);
	qcmd_adds(c, join_doc);
	qcmd_adds(c, whole_doc);
	qcmd_adds(c, kids);
	return done(c);
}

int qcmd_retry(struct qcmd *c, const struct queue_opts *o, const struct queue_job *job,
	       const char *error)
{
	qcmd_init(c, QS_RETRY);
	qcmd_adds(c, "5");
	ADD_KEY(c, qkey_job, o, job->id);
	ADD_KEY(c, qkey, o, "jobs");
	ADD_KEY(c, qkey_events, o, job->id);
	ADD_KEY(c, qkey, o, "delayed");
	ADD_KEY(c, qkey, o, "dead");
	qcmd_adds(c, job->token);
	qcmd_adds(c, o->group);
	qcmd_addf(c, "%u", o->result_ttl_s ? o->result_ttl_s : 1);
	qcmd_adds(c, error && *error ? error : "unknown error");
	qcmd_addf(c, "%u", o->backoff_base_ms);
	qcmd_addf(c, "%u", o->backoff_max_ms);
	qcmd_addf(c, "%u", o->dead_maxlen);
	qcmd_adds(c, "65536");
	qcmd_adds(c, job->id);
	qcmd_adds(c, job->doc_sha);
	return done(c);
}

int qcmd_reject(struct qcmd *c, const struct queue_opts *o, const char *entry, const char *id,
		const char *token, const char *doc_sha, const char *reason)
{
	int have_id = id && queue_id_valid(id);

	qcmd_init(c, QS_REJECT);
	qcmd_adds(c, "4");
	if (have_id) {
		ADD_KEY(c, qkey_job, o, id);
		ADD_KEY(c, qkey, o, "jobs");
		ADD_KEY(c, qkey_events, o, id);
	} else {
		qcmd_adds(c, "");
		ADD_KEY(c, qkey, o, "jobs");
		qcmd_adds(c, "");
	}
	ADD_KEY(c, qkey, o, "dead");
	qcmd_adds(c, entry ? entry : "");
	qcmd_adds(c, have_id ? id : "");
	qcmd_adds(c, reason && *reason ? reason : "malformed job");
	qcmd_adds(c, token ? token : "");
	qcmd_adds(c, o->group);
	qcmd_addf(c, "%u", o->result_ttl_s ? o->result_ttl_s : 1);
	qcmd_addf(c, "%u", o->dead_maxlen);
	qcmd_adds(c, "65536");
	qcmd_adds(c, doc_sha ? doc_sha : "");
	return done(c);
}

int qcmd_cancel(struct qcmd *c, const struct queue_opts *o, const char *id)
{
	qcmd_init(c, QS_CANCEL);
	qcmd_adds(c, "4");
	ADD_KEY(c, qkey_job, o, id);
	ADD_KEY(c, qkey, o, "jobs");
	ADD_KEY(c, qkey_events, o, id);
	ADD_KEY(c, qkey, o, "delayed");
	qcmd_adds(c, o->group);
	qcmd_addf(c, "%u", o->result_ttl_s ? o->result_ttl_s : 1);
	qcmd_adds(c, id);
	qcmd_adds(c, o->prefix);
	return done(c);
}

/* The doorbell: a list the submit script rings (LPUSH) and idle workers block on. */
static void wake_key(char *buf, size_t len, const struct queue_opts *o)
{
	snprintf(buf, len, "%s:jobs:wake", o->prefix);
}

size_t queue_doc_cap(const struct queue_opts *o)
{
	return o->doc_max ? o->doc_max : 8u << 20;
}

void qkey_cancel(char *buf, size_t len, const struct queue_opts *o, const char *consumer)
{
	snprintf(buf, len, "%s:cancel:%s", o->prefix, consumer);
}

int qcmd_take(struct qcmd *c, const struct queue_opts *o, const char *consumer, const char *cursor)
{
	char nonce[17];

	nonce_hex(nonce);
	qcmd_init(c, QS_TAKE);
	qcmd_adds(c, "5");
	ADD_KEY(c, qkey, o, "jobs");
	ADD_KEY(c, qkey, o, "dead");
	ADD_KEY(c, qkey, o, "delayed");
	ADD_KEY(c, qkey, o, "fence");
	ADD_KEY(c, wake_key, o);
	qcmd_adds(c, o->group);
	qcmd_adds(c, consumer);
	qcmd_addf(c, "%u", o->lease_ms);
	qcmd_adds(c, cursor && *cursor ? cursor : "0-0");
	qcmd_adds(c, o->prefix);
	qcmd_addf(c, "%u", o->max_attempts ? o->max_attempts : 1);
	qcmd_addf(c, "%u", o->result_ttl_s ? o->result_ttl_s : 1);
	qcmd_addf(c, "%u", o->dead_maxlen);
	qcmd_addf(c, "%zu", queue_doc_cap(o));
	qcmd_adds(c, "65536");
	qcmd_adds(c, nonce);
	return done(c);
}

int qcmd_wait(struct qcmd *c, const struct queue_opts *o, uint32_t wait_ms, const char *consumer,
	      int doorbell)
{
	if (wait_ms == 0)
		wait_ms = 1;
	qcmd_init(c, -1);
	qcmd_adds(c, "BLPOP");
	/* The cancel list first: BLPOP pops from the first non-empty key it names. */
	if (consumer)
		ADD_KEY(c, qkey_cancel, o, consumer);
	if (doorbell || !consumer)
		ADD_KEY(c, wake_key, o);
	qcmd_addf(c, "%u.%03u", wait_ms / 1000, wait_ms % 1000);
	return done(c);
}

int qcmd_status(struct qcmd *c, const struct queue_opts *o, const char *id)
{
	qcmd_init(c, QS_STATUS);
	qcmd_adds(c, "1");
	ADD_KEY(c, qkey_job, o, id);
	qcmd_addf(c, "%u", QUEUE_VALUE_MAX);
	qcmd_addf(c, "%u", QUEUE_STATUS_BUDGET);
	return done(c);
}

int qcmd_event(struct qcmd *c, const struct queue_opts *o, const char *id, const char *cursor)
{
	qcmd_init(c, QS_EVENT);
	qcmd_adds(c, "1");
	ADD_KEY(c, qkey_events, o, id);
	qcmd_adds(c, cursor && *cursor ? cursor : "0");
	qcmd_addf(c, "%u", QUEUE_EVENT_MAX);
	return done(c);
}

/* ---- Replies ---- */

int qentry_doc_id(struct qentry *e)
{
	json_t *doc = json_loadb(e->doc, e->doc_len, 0, NULL);
	const char *id = json_string_value(json_object_get(doc, "id"));

	e->id[0] = '\0';
	if (!doc)
		snprintf(e->bad, sizeof(e->bad),
			 "the entry has no id field and its job document is not JSON");
	else if (!id)
		snprintf(e->bad, sizeof(e->bad), "the job names no id");
	else if (!queue_id_valid(id))
		snprintf(e->bad, sizeof(e->bad),
			 "job id '%.64s' is not 1-63 characters of [A-Za-z0-9_-]", id);
	else
		snprintf(e->id, sizeof(e->id), "%s", id);
	json_decref(doc);
	return e->id[0] != '\0';
}

static int copy_str(const redisReply *r, char *dst, size_t size)
{
	if (!r || r->type != REDIS_REPLY_STRING || r->len >= size)
		return -1;
	memcpy(dst, r->str, r->len + 1);
	return 0;
}

/* A token as the claim makes it, "<digits>-<hex>": it names a file, so nothing else. */
static int token_valid(const char *t)
{
	size_t n = strspn(t, "0123456789");

	return n > 0 && t[n] == '-' && t[n + 1] &&
	       strspn(t + n + 1, "0123456789abcdef") == strlen(t + n + 1);
}

/* Token and attempt of a claim answer (at index i and i + 1), and the document digest
 * (at index si). */
static int claim_fields(const redisReply *r, size_t i, size_t si, struct queue_job *job)
{
	const char *sha;

	if (r->elements <= i + 1 || copy_str(r->element[i], job->token, sizeof(job->token)) < 0 ||
	    !token_valid(job->token))
		return -EIO;
	job->attempt = (int)qreply_int_at(r, i + 1);
	sha = qreply_str_at(r, si);
	snprintf(job->doc_sha, sizeof(job->doc_sha), "%s", strlen(sha) == 40 ? sha : "");
	/* The role and its note follow the digest (scripts.c, claim_role). */
	const char *role = qreply_str_at(r, si + 1);
	job->role[0] = job->role_note[0] = '\0';
	if (!strcmp(role, "chunk") || !strcmp(role, "join") || !strcmp(role, "whole")) {
		snprintf(job->role, sizeof(job->role), "%s", role);
		snprintf(job->role_note, sizeof(job->role_note), "%s", qreply_str_at(r, si + 2));
	}
	return 0;
}

int qreply_take(const redisReply *r, struct qentry *e, char *cursor, struct queue_job *job)
{
	const char *w = qreply_word(r);

	memset(e, 0, sizeof(*e));
	e->doc = "";
	if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 2)
		return -EIO;
	if (cursor && copy_str(r->element[1], cursor, QUEUE_ENTRY_MAX) < 0)
		return -EIO;
	if (!strcmp(w, "none"))
		return QT_NONE;
	if (r->elements < 3 || copy_str(r->element[2], e->entry, sizeof(e->entry)) < 0)
		return -EIO;
	if (!strcmp(w, "skip"))
		return QT_SKIP;
	if (r->elements < 4 || r->element[3]->type != REDIS_REPLY_STRING)
		return -EIO;
	if (!strcmp(w, "drop")) {
		snprintf(e->bad, sizeof(e->bad), "%s", r->element[3]->str);
		return QT_DROP;
	}
	if (!strcmp(w, "needid")) {
		e->doc = r->element[3]->str;
		e->doc_len = r->element[3]->len;
		return QT_NEEDID;
	}
	if (strcmp(w, "ok") || r->elements < 7 || r->element[6]->type != REDIS_REPLY_STRING ||
	    copy_str(r->element[3], e->id, sizeof(e->id)) < 0 || !queue_id_valid(e->id))
		return -EIO;
	e->doc = r->element[6]->str;
	e->doc_len = r->element[6]->len;
	memset(job, 0, sizeof(*job));
	memcpy(job->id, e->id, sizeof(job->id));
	memcpy(job->entry, e->entry, sizeof(job->entry));
	if (claim_fields(r, 4, 7, job) < 0)
		return -EIO;
	return QT_JOB;
}

const char *qreply_word(const redisReply *r)
{
	if (r && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
	    (r->element[0]->type == REDIS_REPLY_STRING ||
	     r->element[0]->type == REDIS_REPLY_STATUS))
		return r->element[0]->str;
	return "";
}

long long qreply_int_at(const redisReply *r, size_t i)
{
	if (!r || r->type != REDIS_REPLY_ARRAY || i >= r->elements)
		return 0;
	if (r->element[i]->type == REDIS_REPLY_INTEGER)
		return r->element[i]->integer;
	if (r->element[i]->type == REDIS_REPLY_STRING)
		return strtoll(r->element[i]->str, NULL, 10);
	return 0;
}

const char *qreply_str_at(const redisReply *r, size_t i)
{
	if (!r || r->type != REDIS_REPLY_ARRAY || i >= r->elements ||
	    (r->element[i]->type != REDIS_REPLY_STRING &&
	     r->element[i]->type != REDIS_REPLY_STATUS))
		return "";
	return r->element[i]->str;
}

int qreply_claim(const redisReply *r, struct queue_job *job)
{
	const char *w = qreply_word(r);

	if (!strcmp(w, "ok"))
		return claim_fields(r, 1, 3, job) < 0 ? -EIO : 1;
	if (!strcmp(w, "done") || !strcmp(w, "dup") || !strcmp(w, "dead"))
		return 0;
	return -EIO;
}

/* Why a claim no longer holds its job, from a stale answer {'stale', state, worker}:
 * one sentence that names what happened, ending in what it means (tail). */
static void stale_sentence(const redisReply *r, const char *id, const char *tail, char *err,
			   size_t errlen)
{
	const char *st = qreply_str_at(r, 1), *worker = qreply_str_at(r, 2);

	if (!*st)
		qerr(err, errlen,
		     "job %s no longer exists in Redis (it expired, was deleted, or was lost with "
		     "Redis's data); %s",
		     id, tail);
	else if (!strcmp(st, "cancelled"))
		qerr(err, errlen, "job %s was cancelled; %s", id, tail);
	else if (!strcmp(st, "running"))
		qerr(err, errlen, "job %s is held by another claim now (worker %.120s); %s", id,
		     *worker ? worker : "?", tail);
	else if (!strcmp(st, "queued"))
		qerr(err, errlen, "job %s went back to the queue under another claim; %s", id,
		     tail);
	else
		qerr(err, errlen, "job %s already ended %s under another claim; %s", id, st, tail);
}

int qreply_heartbeat(const redisReply *r, const char *id, char *state_out, char *err, size_t errlen)
{
	if (r && r->type == REDIS_REPLY_ARRAY && !strcmp(qreply_word(r), "stale")) {
		stale_sentence(r, id, "this worker no longer holds it", err, errlen);
		if (state_out)
			snprintf(state_out, 16, "%s", qreply_str_at(r, 1));
		return !strcmp(qreply_str_at(r, 1), "cancelled") ? QUEUE_CANCELLED : -ESTALE;
	}
	if (!r || r->type != REDIS_REPLY_INTEGER)
		return -EIO;
	if (r->integer < 0) {
		qerr(err, errlen, "job %s is no longer held by this worker", id);
		return -ESTALE;
	}
	return r->integer ? 1 : 0;
}

int qreply_finish(const redisReply *r, int script, const char *id, char *err, size_t errlen)
{
	const char *w = qreply_word(r);
	const char *st = qreply_str_at(r, 1);

	if (!strcmp(w, "stale")) {
		stale_sentence(r, id,
			       script == QS_COMPLETE ? "this result was not recorded"
						     : "this claim's answer was not recorded",
			       err, errlen);
		return -ESTALE;
	}
	if (!strcmp(w, "ok"))
		return 0;
	if (!strcmp(w, "cancelled") || (!strcmp(w, "already") && !strcmp(st, "cancelled")))
		return QUEUE_CANCELLED;
	if (!strcmp(w, "already"))
		return script == QS_RETRY && !strcmp(st, "dead") ? 1 : 0;
	if (script == QS_SPLIT && !strcmp(w, "bad")) {
		qerr(err, errlen, "%s", st);
		return -EEXIST;
	}
	if (script == QS_RETRY && !strcmp(w, "retry"))
		return 0;
	if (script == QS_RETRY && !strcmp(w, "dead"))
		return 1;
	qerr(err, errlen, "unexpected answer from the %s script", queue_script_names[script]);
	return -EIO;
}

int qreply_refused(const redisReply *r)
{
	static const char *const words[] = {"OOM", "MISCONF", "NOREPLICAS", NULL};

	if (!r || r->type != REDIS_REPLY_ERROR)
		return 0;
	for (int i = 0; words[i]; i++)
		if (!strncmp(r->str, words[i], strlen(words[i])))
			return 1;
	return 0;
}

static void text_append(char **buf, size_t *len, const char *s, size_t n)
{
	char *nb = realloc(*buf, *len + n + 2);

	if (!nb)
		return;
	memcpy(nb + *len, s, n);
	*len += n;
	nb[*len] = '\0';
	*buf = nb;
}

static void text_reply(const redisReply *r, char **buf, size_t *len)
{
	char num[32];

	switch (r->type) {
	case REDIS_REPLY_INTEGER:
		snprintf(num, sizeof(num), "%lld", r->integer);
		text_append(buf, len, num, strlen(num));
		break;
	case REDIS_REPLY_STRING:
	case REDIS_REPLY_STATUS:
	case REDIS_REPLY_ERROR:
		text_append(buf, len, r->str, r->len);
		break;
	case REDIS_REPLY_ARRAY:
		for (size_t i = 0; i < r->elements; i++) {
			if (i)
				text_append(buf, len, "\n", 1);
			text_reply(r->element[i], buf, len);
		}
		break;
	default:
		break;
	}
}

char *qreply_text(const redisReply *r)
{
	char *buf = calloc(1, 1);
	size_t len = 0;

	if (buf && r)
		text_reply(r, &buf, &len);
	return buf;
}

static int in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(s, *list))
			return 1;
	return 0;
}

char *qstatus_json(const char *id, const redisReply *r)
{
	static const char *const ints[] = {"attempts", "max_attempts", "created",    "started",
					   "finished", "heartbeat",    "not_before", "bytes",
					   "frames",   "exit_code",    "signal",     "stopped",
					   NULL};
	static const char *const hidden[] = {"token",	       "entry",	 "doc",
					     "doc_sha",	       "cancel", "progress_frames",
					     "progress_total", "result", NULL};
	const redisReply *f, *omitted;
	json_t *o, *progress = NULL;
	char *out;

	if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
	    r->element[0]->type != REDIS_REPLY_ARRAY || r->element[1]->type != REDIS_REPLY_ARRAY)
		return NULL;
	f = r->element[0];
	omitted = r->element[1];
	if (!(o = json_object()))
		return NULL;
	json_object_set_new(o, "id", json_string(id));
	for (size_t i = 0; i + 1 < f->elements; i += 2) {
		const char *k = f->element[i]->str, *v = f->element[i + 1]->str;
		if (!k || !v)
			continue;
		if (!strcmp(k, "progress_frames") || !strcmp(k, "progress_total")) {
			if (!progress)
				progress = json_object();
			json_object_set_new(progress, k + 9, json_integer(strtoll(v, NULL, 10)));
		} else if (!strcmp(k, "cancel")) {
			json_object_set_new(o, "cancel_requested", json_boolean(!strcmp(v, "1")));
		} else if (!strcmp(k, "result")) {
			json_t *res = json_loads(v, 0, NULL);
			if (res)
				json_object_set_new(o, "result", res);
		} else if (in_list(k, hidden)) {
			continue;
		} else if (in_list(k, ints)) {
			json_object_set_new(o, k, json_integer(strtoll(v, NULL, 10)));
		} else {
			json_object_set_new(o, k, json_string(v));
		}
	}
	if (progress)
		json_object_set_new(o, "progress", progress);
	if (omitted->elements) {
		/* Values over the status caps stay in Redis; say which. */
		json_t *names = json_array();
		for (size_t i = 0; i < omitted->elements; i++)
			if (omitted->element[i]->type == REDIS_REPLY_STRING)
				json_array_append_new(names, json_string(omitted->element[i]->str));
		json_object_set_new(o, "omitted", names);
	}
	out = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return out;
}

void queue_opts_own(struct queue_opts *dst, char prefix[64], char group[64],
		    const struct queue_opts *opts)
{
	if (opts)
		*dst = *opts;
	else
		queue_opts_init(dst);
	snprintf(prefix, 64, "%s", dst->prefix ? dst->prefix : "reelbox");
	snprintf(group, 64, "%s", dst->group ? dst->group : "workers");
	dst->prefix = prefix;
	dst->group = group;
}

/* ---- Reply bounds ---- */

static const redisReplyObjectFunctions *plain_fns; /* hiredis's own */

static struct qlimit *limit_of(const redisReadTask *t)
{
	while (t->parent)
		t = t->parent;
	return t->privdata;
}

/* Count n bytes against the reply being read; a task without a parent starts one. */
static int charge(const redisReadTask *t, size_t n)
{
	struct qlimit *l = limit_of(t);

	if (!l)
		return 0;
	if (!t->parent)
		l->used = 0;
	l->used += n + sizeof(redisReply);
	if (l->used <= l->max)
		return 0;
	l->tripped = 1;
	snprintf(l->why, sizeof(l->why), "Redis sent a reply over %zu bytes, refused as too big",
		 l->max);
	return -1;
}

static void *bounded_string(const redisReadTask *t, char *s, size_t len)
{
	return charge(t, len) ? NULL : plain_fns->createString(t, s, len);
}

static void *bounded_array(const redisReadTask *t, int n)
{
	return charge(t, (size_t)(n > 0 ? n : 0) * sizeof(redisReply *))
		   ? NULL
		   : plain_fns->createArray(t, n);
}

static void *bounded_integer(const redisReadTask *t, long long v)
{
	return charge(t, 0) ? NULL : plain_fns->createInteger(t, v);
}

static void *bounded_nil(const redisReadTask *t)
{
	return charge(t, 0) ? NULL : plain_fns->createNil(t);
}

static void bounded_free(void *obj)
{
	plain_fns->freeObject(obj);
}

static redisReplyObjectFunctions bounded_fns = {bounded_string, bounded_array, bounded_integer,
						bounded_nil, bounded_free};

void qlimit_attach(redisContext *c, struct qlimit *l, size_t max)
{
	l->max = max;
	l->used = 0;
	l->tripped = 0;
	l->why[0] = '\0';
	if (!c || !c->reader)
		return;
	/* Every reader starts with hiredis's default functions; keep them to wrap. */
	if (c->reader->fn != &bounded_fns) {
		if (!plain_fns)
			plain_fns = c->reader->fn;
		c->reader->fn = &bounded_fns;
	}
	c->reader->privdata = l;
}

int qlimit_buffered_over(redisContext *c, struct qlimit *l)
{
	const redisReader *r = c ? c->reader : NULL;

	if (!r || r->len - r->pos <= l->max)
		return 0;
	l->tripped = 1;
	snprintf(l->why, sizeof(l->why), "Redis sent a reply over %zu bytes, refused as too big",
		 l->max);
	return 1;
}
