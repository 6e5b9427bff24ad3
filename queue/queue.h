/* queue.h - the Redis job queue: job documents in, leases and results out.
 *
 * The queue moves job documents (JSON strings) between producers and workers and
 * knows nothing of frames, sandboxes or encoders. Jobs live in a Redis stream read
 * through a consumer group; a per-job hash holds the state a producer can follow;
 * every state change is one Lua script, so leases, attempts and results change
 * atomically. The schema is documented in docs/queue.md.
 *
 * Two layers share the same scripts:
 *  - a blocking client (struct queue) for the CLI commands submit, status, cancel,
 *    for `submit --wait`, and for tests;
 *  - an asynchronous client (struct queue_async) for the worker, on a libuv loop,
 *    which survives Redis going away: it reconnects with backoff and replays the
 *    completions, retries and rejections issued while Redis was unreachable.
 *
 * Ownership is fenced: each claim gets a token of its own (a counter and 64 random bits,
 * so it is unique even across a Redis that lost its data), and heartbeats, progress and
 * completion are applied only while the token is still the job's and the result is for
 * the document that claim was given. A slow worker that lost its lease therefore cannot
 * overwrite the result of the worker that took over, nor an old render the result of a
 * job submitted again under the same id.
 *
 * Functions return 0 or a negative errno; where a user must be told something, one
 * sentence is written into the caller's err buffer (which may be NULL).
 */
#ifndef REELBOX_QUEUE_H
#define REELBOX_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#define QUEUE_ID_MAX	     64 /* job ids are [A-Za-z0-9_-]{1,63} */
#define QUEUE_ENTRY_MAX	     48 /* a stream entry id, "1700000000000-0" */
#define QUEUE_ERR_MAX	     256
#define QUEUE_TOKEN_MAX	     48	   /* a fencing token, "<n>-<16 hex digits>" */
#define QUEUE_SHA_MAX	     41	   /* a SHA-1 in hex */
#define QUEUE_RECENT_MAX     10000 /* ids kept in the recent-jobs index, P:jobs:recent */
#define QUEUE_LIST_MAX	     1000  /* most jobs one queue_list() answers */
#define QUEUE_LIST_VALUE_MAX 256   /* each value of a listed job cut to this many bytes */
#define QUEUE_ROLE_NOTE_MAX  16384 /* a claim's role note (struct queue_job) */
#define QUEUE_CHUNKS_MAX     64	   /* most children one split makes */

/* What a completion, retry or rejection answers when the job was cancelled before its
 * result could be recorded: nothing of the result was kept. */
#define QUEUE_CANCELLED 2

/* Tunables shared by both clients; queue_opts_init() fills the defaults. */
struct queue_opts {
	const char *prefix;	     /* key prefix, default "reelbox" */
	const char *group;	     /* consumer group, default "workers" */
	uint32_t lease_ms;	     /* a job idle this long goes to another worker; 30000 */
	uint32_t result_ttl_s;	     /* finished jobs expire after this; 86400 */
	uint32_t max_attempts;	     /* stored with each submitted job; 3 */
	uint32_t backoff_base_ms;    /* first retry delay, doubled per attempt; 1000 */
	uint32_t backoff_max_ms;     /* retry delay cap; 300000 */
	uint32_t poll_ms;	     /* longest idle wait on the doorbell; also bounds how late a
				      * retry, or a job XADDed without a ring, starts; 2000 */
	uint32_t dead_maxlen;	     /* dead-letter stream cap (approximate); 10000 */
	uint32_t log_max;	     /* bytes of log tail kept per job; 4096 */
	uint32_t connect_timeout_ms; /* blocking connect timeout; 2000 */
	uint32_t command_timeout_ms; /* the blocking client's longest wait for an answer,
				      * beyond a blocking command's own wait; 10000 */
	size_t doc_max;		     /* largest job document; 8 MiB. submit refuses a bigger
				      * one; fetch dead-letters one a producer XADDed, inside
				      * Redis, without reading it (docs/queue.md) */
	/* rediss:// only, read when the client opens (NULL or "": none): the CA file to
	 * verify Redis's certificate with (else the system store), a client certificate
	 * (PEM chain) and its key. */
	const char *tls_ca;
	const char *tls_cert;
	const char *tls_key;
	/* rediss:// only: called before the first TLS call, for a library loaded on first
	 * use (the worker's lazy OpenSSL): 0, or a negative errno with one sentence in err,
	 * which the connection then fails with. NULL: nothing to prepare. */
	int (*tls_prepare)(char *err, size_t errlen);
};

void queue_opts_init(struct queue_opts *o);

/* 1 when url carries a password (redis[s]://[user:]pass@...), or is too malformed to
 * tell: such a URL must not travel in argv. */
int queue_url_has_password(const char *url);

/* url as a message may show it: the scheme, then "***@" for any credentials, then the
 * host and the rest. */
void queue_url_shown(char *out, size_t len, const char *url);

/* The warning a client of url should log, or NULL: rediss://...?insecure=1 connects
 * without checking Redis's certificate. */
const char *queue_url_warning(const char *url);

/* A claimed job as a worker holds it. The worker's calls name the job by this
 * struct (id, entry and token); doc is the job document, owned by the struct. */
struct queue_job {
	char id[QUEUE_ID_MAX];
	char entry[QUEUE_ENTRY_MAX]; /* the stream entry it was delivered as */
	char token[QUEUE_TOKEN_MAX]; /* the fencing token of this claim: [0-9a-f-], safe in
				      * a file name */
	char doc_sha[QUEUE_SHA_MAX]; /* SHA-1 of the document this claim was given */
	int attempt;		     /* 1 for the first delivery */
	char *doc;		     /* NUL-terminated JSON, malloc'd */
	size_t doc_len;
	/* What the queue says this document is, from its job hash (never from the document):
	 * "" an ordinary job, "chunk" a child the split script queued, "join" a split parent
	 * whose children all succeeded, "whole" a split parent rendered whole after a
	 * child found its script ignores its range. role_note: for "join" a JSON array,
	 * per chunk, of {"worker", "file"} (who rendered it, the base name of its recorded
	 * output), for "whole" the fallback's sentence. */
	char role[8];
	char role_note[QUEUE_ROLE_NOTE_MAX];
};

/* Free job->doc and clear the struct. */
void queue_job_clear(struct queue_job *job);

/* 1 when s is a valid job id: 1 to 63 characters of [A-Za-z0-9_-]. An id of this
 * alphabet cannot name a parent directory or contain a path separator, so it is safe
 * as an output file name. */
int queue_id_valid(const char *s);

/* A fresh job id: "j" + base36 milliseconds + base36 randomness (about 20 chars). */
int queue_id_generate(char id[QUEUE_ID_MAX]);

/* ---- Blocking client ---------------------------------------------------------- */

struct queue;

/* Connect to url: redis://[[user]:password@]host[:port][/db], the same over TLS as
 * rediss://...[?insecure=1] (docs/queue.md, "Redis over TLS"), or unix:///path[?db=N]
 * (a NULL url means redis://127.0.0.1:6379). opts may be NULL for the defaults. */
int queue_open(struct queue **out, const char *url, const struct queue_opts *opts, char *err,
	       size_t errlen);
void queue_close(struct queue *q);

/* Enqueue a job document. Its id is the document's "id" when it has a valid one,
 * else a generated one; id_out receives it. -EEXIST when that id is already known,
 * -EINVAL for a document that is not a JSON object or too big. */
int queue_submit(struct queue *q, const char *job_json, char id_out[QUEUE_ID_MAX], char *err,
		 size_t errlen);

/* The job's state as a JSON object (see docs/queue.md); *json_out is malloc'd.
 * -ENOENT when the job is unknown or its result has expired. */
int queue_status(struct queue *q, const char *id, char **json_out, char *err, size_t errlen);

/* The most recent jobs, newest first, as a JSON array (*json_out, malloc'd) of objects
 * with id, state, attempts, max_attempts, created, started, finished (Unix ms, left out
 * when unset), age_ms (since created, on Redis's clock), worker, progress {frames,
 * total} and error, when set. state NULL or "" lists every state, else one of queued,
 * running, succeeded, failed, cancelled, dead; limit is 1 to QUEUE_LIST_MAX. Reads the
 * index P:jobs:recent (docs/queue.md), at most QUEUE_RECENT_MAX of its entries.
 * -EINVAL for another state or limit. */
int queue_list(struct queue *q, const char *state, unsigned limit, char **json_out, char *err,
	       size_t errlen);

/* `reelbox retry`: a failed or dead job back to the queue under the same id, from the
 * document its hash kept when it ended; its attempts start again at 0, its result and
 * error are cleared, and a `retry` event with "by": "request" is recorded. 0 requeued,
 * -ENOENT unknown or expired, -EBUSY in another state (queued, running, succeeded,
 * cancelled: err says which), -ENODATA its document was not kept, -EINVAL a bad id. */
int queue_requeue(struct queue *q, const char *id, char *err, size_t errlen);

/* `reelbox delete`: a finished job's hash, events and index entry removed (its video,
 * on a worker's disk, is not touched). state (16 bytes) receives the state it had.
 * 0 deleted, -EBUSY a queued or running job (err: cancel it first), -ENOENT unknown or
 * expired, -EINVAL a bad id. */
int queue_delete(struct queue *q, const char *id, char state[16], char *err, size_t errlen);

/* What queue_cancel found. */
struct queue_cancel_info {
	char state[16];		    /* "cancelled" when this call cancelled it, else the final state
				     * it already had: succeeded, failed, dead or cancelled */
	char was[16];		    /* the state it was cancelled in: queued or running */
	char worker[128];	    /* for a running job: the worker told to stop it */
	long long heartbeat_age_ms; /* and how long ago that worker last heart-beat */
};

/* Cancel a job: a queued or running one ends `cancelled` at once, atomically, and the
 * worker running it is told at once (it confirms by setting the job's `stopped`).
 * 0 when this call cancelled it, 1 when it had already ended (info->state says how:
 * too late), -ENOENT when the job is unknown. info may be NULL. */
int queue_cancel(struct queue *q, const char *id, struct queue_cancel_info *info, char *err,
		 size_t errlen);

/* Wait up to timeout_ms for the job's next event after cursor (in/out, QUEUE_ENTRY_MAX
 * bytes; "0" means from the first event kept). *event_json (malloc'd) is an object
 * with "type": queued, running, progress, retry, cancel or done. -ETIMEDOUT when
 * nothing came. */
int queue_wait_event(struct queue *q, const char *id, char cursor[QUEUE_ENTRY_MAX], int timeout_ms,
		     char **event_json, char *err, size_t errlen);

/* Worker operations, blocking (the worker itself uses the async client; these serve
 * tests and simple tools). consumer names the worker in the consumer group.
 * queue_fetch waits up to block_ms for a job: 0 with *job filled, -EAGAIN when none. */
int queue_fetch(struct queue *q, const char *consumer, int block_ms, struct queue_job *job,
		char *err, size_t errlen);

/* 0 lease renewed, 1 renewed and a cancel flag was set by hand, QUEUE_CANCELLED the
 * job was cancelled (stop it), -ESTALE the job is no longer this claim's (lease lost,
 * finished or gone; err says which). */
int queue_heartbeat(struct queue *q, const char *consumer, const struct queue_job *job, char *err,
		    size_t errlen);

/* Record progress; same answers as queue_heartbeat (but does not renew the lease). */
int queue_progress(struct queue *q, const struct queue_job *job, int64_t frames, int64_t total,
		   char *err, size_t errlen);

/* Append a batch of log lines to the job's log stream (queue_async_log's twin): 0, or
 * -ESTALE when this claim no longer holds the job, -EMSGSIZE over QUEUE_LOG_BATCH_MAX. */
int queue_log_append(struct queue *q, const struct queue_job *job, const char *text, size_t len,
		     char *err, size_t errlen);

/* Record the final result. result_json is an object with "status" ("succeeded" or
 * "failed") and optionally output, bytes, sha256, error, log (tail kept), frames,
 * exit_code, signal and anything else (kept whole in the "result" field).
 * 0 recorded (or already recorded by this same claim), QUEUE_CANCELLED not recorded
 * because the job was cancelled first, -ESTALE refused because the job is no longer
 * this claim's (err says whose it is, or that it no longer exists). */
int queue_complete(struct queue *q, const struct queue_job *job, const char *result_json, char *err,
		   size_t errlen);

/* Split a claimed job into children (docs/queue.md, "Chunked jobs"): kids is a JSON
 * array of 2 to QUEUE_CHUNKS_MAX child documents (the worker builds them; child k gets
 * the id <id>-c<k>), join_doc the document the join delivery will carry once every child
 * succeeded, whole_doc the one a fallback to a whole render carries, total_frames the
 * parent's frames (its progress counts the children's). The claim ends: the parent
 * stays running with no worker until its join. 0 split (or already split by this claim),
 * QUEUE_CANCELLED, -ESTALE, -EEXIST a child id is another job's (err says which). */
int queue_split(struct queue *q, const struct queue_job *job, int64_t total_frames,
		const char *join_doc, const char *whole_doc, const char *kids, char *err,
		size_t errlen);

/* A failure that may be transient: back to the queue after an exponential backoff,
 * or dead-lettered once the job's attempts are used up. 0 requeued, 1 dead,
 * QUEUE_CANCELLED cancelled meanwhile, -ESTALE not this claim's job. */
int queue_retry(struct queue *q, const struct queue_job *job, const char *error, char *err,
		size_t errlen);

/* A malformed job: dead-lettered at once with reason. 0, QUEUE_CANCELLED or -ESTALE. */
int queue_reject(struct queue *q, const struct queue_job *job, const char *reason, char *err,
		 size_t errlen);

/* Send one raw command (argv style) and return its reply as text (integers and
 * strings as themselves, arrays flattened one item a line, nil as ""); for tests
 * and diagnostics. *out is malloc'd. */
int queue_command(struct queue *q, char **out, int argc, const char **argv);

/* Whether needle occurs anywhere in the connected database: every key's name and value,
 * read by its type (strings, hashes, lists, sets, sorted sets, streams), page by page
 * with each reply bounded. *keys counts the keys read, *hits those that hold needle.
 * An audit for secrets that must never reach Redis (`reelbox demo` scans for the model
 * key); not for a hot path. -ENOTSUP for a key of a type it cannot read. */
int queue_scan_contains(struct queue *q, const char *needle, size_t *keys, size_t *hits, char *err,
			size_t errlen);

/* ---- Visibility: the queue at a glance, its workers, a job's log -------------- */

/* A job's log: the script's stderr lines as its worker ships them, in a stream of its
 * own (P:job:<id>:log, docs/queue.md), each entry one batch of whole lines from one
 * claim. Trimmed to about QUEUE_LOG_ENTRIES entries, expired with the job's result,
 * removed by delete. */
#define QUEUE_LOG_BATCH_MAX   4096	 /* bytes of lines one entry carries */
#define QUEUE_LOG_ENTRIES     256	 /* entries kept per job (approximate trim) */
#define QUEUE_LOG_READ_COUNT  64	 /* most entries one read answers */
#define QUEUE_LOG_READ_BUDGET (64 << 10) /* most bytes of text one read answers */

/* The log entries after cursor (in/out, QUEUE_ENTRY_MAX bytes; "0" for the oldest
 * kept), waiting up to block_ms (0: do not wait) when there are none. *json_out
 * (malloc'd) is {"state": <the job's state>, "entries": [{"entry", "attempt",
 * "text"}]}, oldest first, cursor moved past the last; the state is read in the same
 * script as the entries, so a reader that sees a final state and no entries has read
 * everything. 0, -ENOENT the job is unknown or expired, -EINVAL a bad id. */
int queue_log_read(struct queue *q, const char *id, char cursor[QUEUE_ENTRY_MAX], int block_ms,
		   char **json_out, char *err, size_t errlen);

/* The queue at a glance, for `reelbox top`, `reelbox web` and its /metrics: *json_out
 * (malloc'd) is an object with the jobs per state, the oldest queued job's age,
 * throughput and the workers alive (see docs/queue.md, "Watching the queue"). */
int queue_stats(struct queue *q, char **json_out, char *err, size_t errlen);

/* ---- Asynchronous client (libuv) ---------------------------------------------- */

struct queue_async;
typedef struct uv_loop_s uv_loop_t;

/* Called for each job claimed after queue_async_fetch(). The job struct and its doc
 * belong to the queue and are freed when the callback returns; steal doc by setting
 * job->doc to NULL. */
typedef void (*queue_job_cb)(struct queue_async *q, struct queue_job *job, void *arg);

/* Connection news: connected 1 when Redis has answered on both connections (not when
 * the TCP connects: a frozen Redis accepts connections it does not serve), 0 when Redis
 * went away (msg says why and when the next attempt is; the client is already
 * reconnecting), -1 while it stays away: a note 1 s, 2 s, 4 s ... up to a minute apart,
 * msg saying for how long and when the next attempt is. */
typedef void (*queue_conn_cb)(struct queue_async *q, int connected, const char *msg, void *arg);

/* A stream entry the queue dead-lettered by itself: it carried no valid job id
 * (nobody could follow it otherwise), or its document was over doc_max (the job it
 * names, if any, ends dead with that reason). */
typedef void (*queue_drop_cb)(struct queue_async *q, const char *entry, const char *reason,
			      void *arg);

/* The answer to an operation: the same values the blocking twin returns, or
 * -ECANCELED when the client was closed before Redis answered, -ENOTCONN for a
 * progress report whose connection went away, -EIO for an unexpected Redis error
 * (msg tells). */
typedef void (*queue_done_cb)(struct queue_async *q, int status, const char *msg, void *arg);

/* A job this worker holds was cancelled: stop it now (its state is already final). */
typedef void (*queue_cancel_cb)(struct queue_async *q, const char *id, void *arg);

/* Redis refuses writes (maxmemory, a failed RDB save, too few replicas). what is
 * QUEUE_REFUSED_RESULTS for operations that must not be lost (results, retries,
 * rejections, heartbeats: they are kept and retried with backoff, 250 ms doubling to
 * 5 s, on the same connection) or QUEUE_REFUSED_CLAIMS for the fetch (it backs off the
 * same way). refusing is 1 with Redis's words when that starts, 0 once what was refused
 * went through. */
enum { QUEUE_REFUSED_RESULTS = 0, QUEUE_REFUSED_CLAIMS = 1 };
typedef void (*queue_refused_cb)(struct queue_async *q, int what, int refusing, const char *msg,
				 void *arg);

struct queue_async_callbacks {
	queue_job_cb on_job;	     /* required */
	queue_conn_cb on_conn;	     /* optional */
	queue_drop_cb on_drop;	     /* optional */
	queue_cancel_cb on_cancel;   /* optional */
	queue_refused_cb on_refused; /* optional */
	void *arg;
};

/* Start connecting to url on loop (never blocks; failures to reach Redis are retried
 * with backoff and reported through on_conn). consumer names this worker in the group
 * (NULL: host-pid-random). -EINVAL for a bad URL. */
int queue_async_open(struct queue_async **out, uv_loop_t *loop, const char *url,
		     const struct queue_opts *opts, const char *consumer,
		     const struct queue_async_callbacks *cbs, char *err, size_t errlen);

/* Close: operations not answered get -ECANCELED; handles are closed on the loop, and
 * the client frees itself once they are (run the loop to let it). */
void queue_async_close(struct queue_async *q);

const char *queue_async_consumer(const struct queue_async *q);

/* Ask for n more jobs: on_job is called once per job as they are claimed. Expired
 * leases of other workers are taken over before new jobs are read. */
void queue_async_fetch(struct queue_async *q, unsigned n);

/* Stop asking for jobs (a fetch in flight may still deliver one). */
void queue_async_fetch_stop(struct queue_async *q);

/* Hold (1) or release (0) the fetch: while held, no job is taken (one in flight may
 * still be delivered) but the jobs asked for stay asked for, and cancels still arrive.
 * The worker holds while it cannot record results or write its output. */
void queue_async_fetch_hold(struct queue_async *q, int hold);

/* The worker operations. They run on the command connection, never behind the
 * blocking read. Heartbeats, completions, retries and rejections issued while Redis
 * is unreachable are kept (up to 1024) and sent after the reconnect, as is one whose
 * reply was lost with the connection. A call that returns 0 answers through cb
 * (which may be NULL) exactly once; one that returns an error does not call it:
 * -ENOTCONN for progress while Redis is unreachable (progress is not kept),
 * -ENOBUFS when the replay list is full, -ECANCELED after queue_async_close(),
 * -EINVAL for a result that is not an object with a status. */
int queue_async_heartbeat(struct queue_async *q, const struct queue_job *job, queue_done_cb cb,
			  void *arg);
int queue_async_progress(struct queue_async *q, const struct queue_job *job, int64_t frames,
			 int64_t total, queue_done_cb cb, void *arg);
int queue_async_complete(struct queue_async *q, const struct queue_job *job,
			 const char *result_json, queue_done_cb cb, void *arg);
int queue_async_split(struct queue_async *q, const struct queue_job *job, int64_t total_frames,
		      const char *join_doc, const char *whole_doc, const char *kids,
		      queue_done_cb cb, void *arg);
int queue_async_retry(struct queue_async *q, const struct queue_job *job, const char *error,
		      queue_done_cb cb, void *arg);
int queue_async_reject(struct queue_async *q, const struct queue_job *job, const char *reason,
		       queue_done_cb cb, void *arg);

/* Ship a batch of the job's log lines (text: whole lines, each ending in a newline,
 * at most QUEUE_LOG_BATCH_MAX bytes) to its log stream, if this claim still holds the
 * job. Not kept while Redis is unreachable (-ENOTCONN, like progress): a log is best
 * effort, the result's tail is not. */
int queue_async_log(struct queue_async *q, const struct queue_job *job, const char *text,
		    size_t len, queue_done_cb cb, void *arg);

/* Announce this worker in P:workers (docs/queue.md): info_json is a small JSON object
 * (slots, running, host, pid, started, version ...); the queue adds "name" and "seen".
 * leaving 1 removes the entry (a clean stop). Best effort: -ENOTCONN while away. */
int queue_async_announce(struct queue_async *q, const char *info_json, int leaving,
			 queue_done_cb cb, void *arg);

/* Operations waiting for Redis (kept for replay, or sent and not yet answered). */
size_t queue_async_pending(const struct queue_async *q);

/* Of those, the ones Redis refused (see queue_refused_cb), waiting to be sent again. */
size_t queue_async_refused(const struct queue_async *q);

#endif
