/* queue_internal.h - what the blocking and asynchronous queue clients share: the URL
 * parser, the Lua scripts, the command builders and the reply readers. Not for use
 * outside queue/. */
#ifndef REELBOX_QUEUE_INTERNAL_H
#define REELBOX_QUEUE_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "queue.h"

/* ---- URL ---- */

struct queue_url {
	int is_unix;
	char host[256];
	int port;
	char path[108];
	char user[128];
	char pass[256];
	int db;
	char where[300]; /* "127.0.0.1:6379" or the socket path, for messages */
	int is_tls;	 /* rediss:// */
	int insecure;	 /* rediss://...?insecure=1: the certificate is not checked */
};

int queue_url_parse(struct queue_url *u, const char *url, char *err, size_t errlen);

/* ---- TLS (queue/tls.c) ----
 *
 * The bridge both clients reach a rediss:// Redis through: hiredis connects to a unix
 * socket in a private directory, a pump thread carries the bytes over TLS. */
struct qtls;

/* The TLS settings of one client: opts' CA file (else the system store), client
 * certificate and key, loaded now so a bad file is refused at open; the private
 * directory. -errno with one sentence. */
int qtls_new(struct qtls **out, const struct queue_url *u, const struct queue_opts *o, char *err,
	     size_t errlen);

/* One connection: TCP, handshake and a PING answered, all within timeout_ms, then a
 * fresh socket path (108 bytes) that hiredis must connect to within timeout_ms again.
 * Blocks; safe from any thread. -errno with one sentence ("TLS to host:port failed:
 * certificate verify failed (...); give the CA in REELBOX_REDIS_CA"). */
int qtls_dial(struct qtls *t, uint32_t timeout_ms, char path[108], char *err, size_t errlen);

/* Stop every pump (their connections close), remove the directory. No qtls_dial may
 * be running. */
void qtls_free(struct qtls *t);

/* A client's own copy of the options (defaults when opts is NULL), with prefix and
 * group copied into the client's buffers so the caller's strings may go away. */
void queue_opts_own(struct queue_opts *dst, char prefix[64], char group[64],
		    const struct queue_opts *opts);

/* The options a blocking client was opened with (queue/sync.c): for queue_stats()
 * (queue/stats.c), which sends its script through queue_command(). */
const struct queue_opts *qsync_opts(const struct queue *q);

/* ---- Scripts ---- */

enum queue_script {
	QS_SUBMIT = 0,
	QS_CLAIM,
	QS_HEARTBEAT,
	QS_PROGRESS,
	QS_COMPLETE,
	QS_RETRY,
	QS_REJECT,
	QS_CANCEL,
	QS_TAKE,
	QS_STATUS,
	QS_EVENT,
	QS_LIST,
	QS_REQUEUE,
	QS_DELETE,
	QS_LOG,
	QS_LOGREAD,
	QS_ANNOUNCE,
	QS_SPLIT,
	QS_COUNT
};

extern const char *const queue_scripts[QS_COUNT];
extern const char *const queue_script_names[QS_COUNT];

/* ---- Commands ---- */

#define QCMD_MAXARGS 48

/* One command, its arguments owned. A script call keeps only what follows the
 * script (numkeys, keys, args); the sender puts EVALSHA sha or EVAL body in front. */
struct qcmd {
	int script; /* enum queue_script, or -1 for a plain command */
	int argc;
	int oom;
	char *argv[QCMD_MAXARGS];
	size_t len[QCMD_MAXARGS];
};

void qcmd_init(struct qcmd *c, int script);
void qcmd_add(struct qcmd *c, const char *s, size_t len);
void qcmd_adds(struct qcmd *c, const char *s);
void qcmd_addf(struct qcmd *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void qcmd_free(struct qcmd *c);

/* The argv to send: with sha (40 hex) as EVALSHA, else EVAL with the body. */
int qcmd_argv(const struct qcmd *c, const char *sha, const char **argv, size_t *len);

/* Key names. */
void qkey_job(char *buf, size_t len, const struct queue_opts *o, const char *id);
void qkey_events(char *buf, size_t len, const struct queue_opts *o, const char *id);
void qkey(char *buf, size_t len, const struct queue_opts *o, const char *what);

int qcmd_submit(struct qcmd *c, const struct queue_opts *o, const char *id, const char *doc);
int qcmd_claim(struct qcmd *c, const struct queue_opts *o, const char *entry, const char *id,
	       const char *consumer);
int qcmd_heartbeat(struct qcmd *c, const struct queue_opts *o, const struct queue_job *job,
		   const char *consumer);
int qcmd_progress(struct qcmd *c, const struct queue_opts *o, const struct queue_job *job,
		  int64_t frames, int64_t total);
int qcmd_complete(struct qcmd *c, const struct queue_opts *o, const struct queue_job *job,
		  const char *result_json, char *err, size_t errlen);
int qcmd_retry(struct qcmd *c, const struct queue_opts *o, const struct queue_job *job,
	       const char *error);
/* token and doc_sha are "" for an entry that was never claimed. */
int qcmd_reject(struct qcmd *c, const struct queue_opts *o, const char *entry, const char *id,
		const char *token, const char *doc_sha, const char *reason);
int qcmd_cancel(struct qcmd *c, const struct queue_opts *o, const char *id);
int qcmd_take(struct qcmd *c, const struct queue_opts *o, const char *consumer, const char *cursor);
/* BLPOP for up to wait_ms (at least 1 ms: 0 would block for ever) on the consumer's
 * cancel list (when consumer is not NULL) and, when doorbell is set, the doorbell. */
int qcmd_wait(struct qcmd *c, const struct queue_opts *o, uint32_t wait_ms, const char *consumer,
	      int doorbell);
/* The list a consumer's cancels arrive on: P:cancel:<consumer>. */
void qkey_cancel(char *buf, size_t len, const struct queue_opts *o, const char *consumer);
int qcmd_status(struct qcmd *c, const struct queue_opts *o, const char *id);
/* The list script's command and its reply as the JSON array queue_list() returns
 * (NULL for an unexpected reply); queue/jobs.c. */
int qcmd_list(struct qcmd *c, const struct queue_opts *o, const char *state, unsigned limit);
char *qlist_json(const redisReply *r);
int qcmd_requeue(struct qcmd *c, const struct queue_opts *o, const char *id);
int qcmd_delete(struct qcmd *c, const struct queue_opts *o, const char *id);
/* A value from Redis as a JSON string: valid UTF-8 kept, a character cut at the end
 * dropped, other bytes over 0x7f shown as '?' (queue/jobs.c). */
struct json_t *qtext_json(const char *s);
/* 1 when s is one of the six states a job hash can hold. */
int qstate_valid(const char *s);
int qcmd_event(struct qcmd *c, const struct queue_opts *o, const char *id, const char *cursor);
/* A job's log (queue/logs.c): the append a worker sends, the read `reelbox logs`
 * sends and its reply as queue_log_read's JSON (NULL for -ENOENT, *missing set, or an
 * unexpected reply); the worker registry's announce. */
int qcmd_log(struct qcmd *c, const struct queue_opts *o, const struct queue_job *job,
	     const char *text, size_t len);
int qcmd_logread(struct qcmd *c, const struct queue_opts *o, const char *id, const char *cursor);
char *qlog_json(const redisReply *r, char cursor[QUEUE_ENTRY_MAX], int *missing);
void qkey_log(char *buf, size_t len, const struct queue_opts *o, const char *id);
/* The split script's command (queue_split): kids is a JSON array of the child documents. */
int qcmd_split(struct qcmd *c, const struct queue_opts *o, const struct queue_job *job,
	       int64_t total_frames, const char *join_doc, const char *whole_doc, const char *kids);
int qcmd_announce(struct qcmd *c, const struct queue_opts *o, const char *consumer,
		  const char *info_json, int leaving);

/* ---- Replies ---- */

/* A stream entry as the take script sent it: its id, and the job id and document. */
struct qentry {
	char entry[QUEUE_ENTRY_MAX];
	char id[QUEUE_ID_MAX]; /* empty when the entry names no valid id */
	const char *doc;       /* points into the reply */
	size_t doc_len;
	char bad[256]; /* why the entry was dropped, or why it names no job */
};

/* What the take script answered (see scripts.c). */
enum qtake { QT_NONE = 0, QT_JOB, QT_NEEDID, QT_DROP, QT_SKIP };

/* Read a take reply into e (and, for QT_JOB, job's id, entry, token and attempt; its
 * doc is left to the caller, e->doc points into r). cursor (QUEUE_ENTRY_MAX) receives
 * the next XAUTOCLAIM start. Returns a QT_ value, or -EIO for an unexpected reply. */
int qreply_take(const redisReply *r, struct qentry *e, char *cursor, struct queue_job *job);

/* For an entry without an id field: the id from its document's "id" into e->id, or
 * the reason it has none into e->bad. Returns 1 when it has a valid one. */
int qentry_doc_id(struct qentry *e);

/* The status word of a script reply ({'ok', ...}), or "" when it has none. */
const char *qreply_word(const redisReply *r);
long long qreply_int_at(const redisReply *r, size_t i);
const char *qreply_str_at(const redisReply *r, size_t i);

/* Map the claim script's reply: 1 a job for us (token, attempt filled), 0 nothing
 * to do (done, duplicate, dead), -EIO unexpected. */
int qreply_claim(const redisReply *r, struct queue_job *job);

/* Map heartbeat/progress/complete/retry/reject replies to the API's answers; for a
 * claim that no longer holds job id, -ESTALE with a sentence saying why (err may be
 * NULL). *state_out (may be NULL, 16 bytes) receives the job's state from a stale
 * answer ("" when the job no longer exists). */
int qreply_heartbeat(const redisReply *r, const char *id, char *state_out, char *err,
		     size_t errlen);
int qreply_finish(const redisReply *r, int script, const char *id, char *err, size_t errlen);

/* Error replies that refuse a write for now (OOM, MISCONF, NOREPLICAS): retried later,
 * on the same connection. */
int qreply_refused(const redisReply *r);

/* The reply as text (integers and strings, arrays one item a line). */
char *qreply_text(const redisReply *r);

/* Status JSON from the status script's reply ({fields, omitted}). */
char *qstatus_json(const char *id, const redisReply *r);

/* ---- Reply bounds ----
 *
 * hiredis 0.14 buffers a whole bulk string before it parses it and has no limit on
 * reply size or element count (its maxbuf only frees an idle buffer), so a 400 MB
 * value costs a reader 400 MB twice over. A qlimit caps what one reply may allocate
 * (strings, arrays, reply objects) through the reader's object functions, and the
 * caller's read loop caps the bytes buffered for a reply still in flight. Either way
 * the connection is abandoned: the rest of that reply is never read. */
struct qlimit {
	size_t max;  /* bytes one reply may cost */
	size_t used; /* by the reply being read */
	int tripped;
	char why[160];
};

/* Install the bounded object functions on a context's reader, with limit l. */
void qlimit_attach(redisContext *c, struct qlimit *l, size_t max);

/* 1 (and l tripped) when the bytes buffered for an unfinished reply exceed the limit. */
int qlimit_buffered_over(redisContext *c, struct qlimit *l);

/* Reply bounds: a reply carrying a job document may be the cap plus this much; the
 * status script sends at most QUEUE_STATUS_BUDGET bytes of values (each at most
 * QUEUE_VALUE_MAX); one event at most QUEUE_EVENT_MAX; other replies are small. */
#define QUEUE_REPLY_SLACK   (64u << 10)
#define QUEUE_VALUE_MAX	    (64u << 10)
#define QUEUE_STATUS_BUDGET (256u << 10)
#define QUEUE_EVENT_MAX	    (64u << 10)
#define QUEUE_SMALL_REPLY   (1u << 20)

/* The cap on job documents: opts' doc_max, or the default when it is 0. */
size_t queue_doc_cap(const struct queue_opts *o);

/* Milliseconds of a monotonic clock. */
uint64_t queue_now_ms(void);

void qerr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
