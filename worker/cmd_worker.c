/* cmd_worker.c - `reelbox worker`: pull render jobs from Redis until told to stop.
 *
 * One libuv loop drives everything: the queue's Redis connections, a heartbeat timer
 * per job, each job's sandbox pidfd and log pipe (inside the runner), signals and the
 * metrics port. Encoding runs in an encoder process per job, so the loop (and with it
 * every heartbeat) never waits for an encoder: a long, CPU-heavy job keeps its lease.
 *
 * Outputs are fenced like the queue's state, by file rather than by timing: each claim
 * renders into this worker's private work dir (output_dir/.work/<host>-<pid>/) under a
 * name that carries its fencing token, and moves it to output_dir/<id>.<token>.<ext>,
 * a name no other claim can write. The completion script records that path as the
 * job's `output`, with its sha256, atomically with the token check. The stable name
 * output_dir/<id>.<ext> is a symlink: taken by the first claim to get there when it is
 * free (symlink() never replaces), replaced only by the claim Redis recorded, and
 * removed by a refused claim that held it. A worker that lost its claim, however long
 * it was paused between its last heartbeat and its rename (a debugger, a stalled disk,
 * SIGSTOP), renames only onto its own name, is refused, and deletes its file: it can
 * never replace the recorded one.
 *
 * The worker also keeps its promises under host trouble: a result Redis refuses for now
 * (maxmemory) is kept and retried by the queue client while the job's heartbeats keep
 * its lease, and no new job is taken meanwhile; a job that failed because the output
 * dir is gone, full or read-only is handed back (the host's fault, not the script's),
 * and no job is taken until the dir is usable again (checked every second).
 *
 * Delivery (delivery.h): a job with an "upload" has its video PUT to the producer's URL
 * after the encode and before anything is recorded, on this loop (heartbeats go on); a
 * failed upload hands the job back, never records a success without it. A job with a
 * "webhook" has its final state POSTed, signed, without holding its slot.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "cli.h"
#include "delivery.h"
#include "encoder.h"
#include "http.h"
#include "jobrun.h"
#include "logship.h"
#include "metrics.h"
#include "pool.h"
#include "modelcfg.h"
#include "outdir.h"
#include "queue.h"
#include "sandbox.h"

#define DEFAULT_GRACE_S	  20
#define PROGRESS_EVERY_MS 250
#define DISK_CHECK_MS	  1000 /* how often an unusable output dir is looked at */
#define ANNOUNCE_MS	  5000 /* how often the worker registry hears from this worker */

struct worker;

#define N_SIDES 2 /* the files beside a video: its poster, its contact sheet */

struct slot {
	struct worker *w;
	unsigned index;
	int busy;
	struct queue_job qjob; /* id, entry, token, attempt; doc freed once parsed */
	struct job job;
	struct jobrun *run; /* the job's render, or a prompt job's attempts */
	json_t *extra;	    /* a prompt job's part of the result, from its jobrun */
	uv_timer_t heartbeat;
	uv_timer_t ship_timer; /* sends a log batch LOGSHIP_DELAY_MS after its first line */
	struct logship ship;   /* the job's log lines on their way to its log stream */
	uint64_t started_ms, last_progress_ms, upload_started_ms;
	int hb_inflight;  /* a heartbeat is on its way: do not stack another */
	int cancelled;	  /* the job was cancelled: stop, record nothing but the stop */
	int lease_lost;	  /* the job is no longer this claim's */
	int handing_back; /* the worker is stopping: give the job back */
	int recording;	  /* its result (or retry, rejection) was sent, not yet answered */
	int renamed;	  /* final exists: this claim's video, moved out of the work dir */
	int linked;	  /* the stable name was free and now points at final */

	int has_side[N_SIDES];	  /* the run made a poster, a contact sheet beside staged */
	int side_linked[N_SIDES]; /* their stable names point at their final names */

	char lost_why[QUEUE_ERR_MAX];
	char staged[PATH_MAX];	    /* work_dir/<id>.<token>.<ext> */
	char final[PATH_MAX];	    /* output_dir/<id>.<token>.<ext>: the recorded output */
	char stable[PATH_MAX];	    /* output_dir/<id>.<ext>: points at the recorded output */
	char *result_doc;	    /* held while the final heartbeat checks ownership */
	struct runner_result *held; /* the run's outcome while its video uploads */
	int uploaded;		    /* the video is at the job's upload URL */
	char *hook_doc;		    /* the recorded result, for the webhook */
	char *hook_why;		    /* why the job went back (a dead job's webhook) */
	int rejecting;		    /* a rejection was sent: accepted, the job is dead */
};

struct worker {
	uv_loop_t *loop;
	struct config cfg;
	struct queue_async *q;
	struct slot *slots;
	unsigned n_slots, busy;
	int stopping, closed;
	uint32_t grace_s;
	char work_dir[PATH_MAX];
	uv_signal_t sigterm, sigint;
	uv_timer_t grace, drain, disk_timer;
	uv_timer_t announce;	   /* this worker's entry in the registry, every ANNOUNCE_MS */
	uint64_t started_at;	   /* Unix ms, for the registry */
	int left;		   /* the registry was told this worker is gone */
	struct http_server *http;  /* the metrics port, when asked for */
	struct httpc *httpc;	   /* the model calls, uploads and webhooks, on this loop */
	struct delivery *delivery; /* uploads and webhooks in flight */
	char *webhook_secret;	   /* REELBOX_WEBHOOK_SECRET: in this process only */
	struct modelcfg model;	   /* the model and its key: in this process only */
	struct pool *pool;	   /* warm python3 sandboxes (pool.h), or NULL */
	char tier_info[SANDBOX_TIER_COUNT][256]; /* what each enabled tier is here */
	int have_model;
	int metrics_port;
	struct in_addr metrics_ip; /* 127.0.0.1 unless --metrics-addr */
	int redis_up;
	int results_refused; /* Redis refuses results for now: take no job */
	int disk_ok;	     /* the output dir is usable */
	int hook_stop_before_rename, hook_stop_before_complete;
	int drain_ticks;
	struct metrics m;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* One JSON object per line on stderr: {"ts":..., "event":..., fields...}. */
static void log_event(const char *event, const char *job_id, const char *fmt, ...)
{
	json_t *o = json_object();
	char *text;

	uint64_t ms = now_ms();
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	char ts[64];

	gmtime_r(&secs, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	json_object_set_new(o, "ts", json_string(ts));
	json_object_set_new(o, "event", json_string(event));
	if (job_id)
		json_object_set_new(o, "job", json_string(job_id));
	if (fmt) {
		va_list ap;
		json_error_t jerr;
		va_start(ap, fmt);
		json_t *extra = json_vpack_ex(&jerr, 0, fmt, ap);
		va_end(ap);
		if (extra) {
			json_object_update(o, extra);
			json_decref(extra);
		}
	}
	text = json_dumps(o, JSON_COMPACT);
	if (text) {
		fprintf(stderr, "%s\n", text);
		free(text);
	}
	json_decref(o);
}

/* The pool's own events (pool_set_log): a zygote restarted or given up. */
static void pool_log(void *opaque, const char *event, const char *why)
{
	(void)opaque;
	log_event(event, NULL, "{s:s}", "why", why);
}

static void request_more(struct worker *w)
{
	if (!w->stopping)
		queue_async_fetch(w->q, 1);
}

/* Take jobs only while results can be recorded and videos written. */
static int claiming(const struct worker *w)
{
	return !w->stopping && !w->results_refused && w->disk_ok;
}

/* Results (and retries, rejections) sent to Redis and not yet answered. */
static unsigned results_waiting(const struct worker *w)
{
	unsigned waiting = 0;

	for (unsigned i = 0; i < w->n_slots; i++)
		waiting += w->slots[i].busy && w->slots[i].recording;
	return waiting;
}

static void update_hold(struct worker *w)
{
	queue_async_fetch_hold(w->q, !claiming(w) && !w->stopping);
}

/* ---- the output dir's health ------------------------------------------------------- */

/* The output dir's health, as outdir_check says it. */
static int disk_check(struct worker *w, int probe, char *why, size_t len)
{
	return outdir_check(w->cfg.output_dir, w->work_dir, probe, why, len);
}

static void on_disk_tick(uv_timer_t *t)
{
	struct worker *w = t->data;
	char why[512];

	if (disk_check(w, 1, why, sizeof(why)) < 0)
		return;
	uv_timer_stop(&w->disk_timer);
	w->disk_ok = 1;
	log_event("disk_recovered", NULL, "{s:s}", "dir", w->cfg.output_dir);
	update_hold(w);
}

/* The output dir is unusable: take no job until a check passes again. */
static void disk_bad(struct worker *w, const char *why)
{
	if (!w->disk_ok)
		return;
	w->disk_ok = 0;
	log_event("disk_unusable", NULL, "{s:s, s:s}", "dir", w->cfg.output_dir, "reason", why);
	update_hold(w);
	uv_timer_start(&w->disk_timer, on_disk_tick, DISK_CHECK_MS, DISK_CHECK_MS);
}

/* ---- a job's end -------------------------------------------------------------------- */

static void maybe_exit(struct worker *w);
static void ship_log(struct slot *s);

/* This worker's entry in the registry P:workers (`reelbox top`, the dashboard): what
 * it is and how busy, with Redis's clock as its heartbeat. Best effort: a note missed
 * while Redis is away is only a late one. */
static void announce(struct worker *w)
{
	char host[128] = "", info[512];

	gethostname(host, sizeof(host) - 1);
	for (char *p = host; *p; p++)
		if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
			*p = '?';
	snprintf(info, sizeof(info),
		 "{\"host\":\"%s\",\"pid\":%d,\"slots\":%u,\"running\":%u,\"started\":%llu,"
		 "\"stopping\":%s,\"version\":\"%s\"}",
		 host, (int)getpid(), w->n_slots, w->busy, (unsigned long long)w->started_at,
		 w->stopping ? "true" : "false", REELBOX_VERSION);
	queue_async_announce(w->q, info, 0, NULL, NULL);
}

static void on_announce(uv_timer_t *t)
{
	announce(t->data);
}

static void on_requeued(struct queue_async *q, int status, const char *msg, void *arg);
static void remove_chunk_dir(struct worker *w, const char *id);
static void chunk_result_extra(struct slot *s, const struct runner_result *res);

/* The files beside a claim's video, its poster and its contact sheet (runner.h's names:
 * <id>.<token>.jpg and <id>.<token>.sheet.jpg beside <id>.<token>.<ext>, <id>.jpg and
 * <id>.sheet.jpg beside <id>.<ext>), follow the video through every step of its
 * fencing: moved with it, given the stable name with it, removed with it. */
static int (*const side_path[N_SIDES])(const char *, char *, size_t) = {runner_poster_path,
									runner_sheet_path};
static const char *const side_name[N_SIDES] = {"poster", "contact_sheet"};

static const char *side_of(int i, const char *video, char buf[PATH_MAX])
{
	if (!video[0] || side_path[i](video, buf, PATH_MAX) < 0)
		buf[0] = '\0';
	return buf;
}

static void unlink_sides_of(const struct slot *s, const char *video)
{
	char p[PATH_MAX];

	for (int i = 0; i < N_SIDES; i++)
		if (s->has_side[i] && side_of(i, video, p)[0])
			unlink(p);
}

/* Right after the video's rename: each side file to its final name, then its stable
 * name if that is free. One that cannot move goes; the video stands without it. */
static void move_sides(struct slot *s, const char *staged)
{
	char from[PATH_MAX], to[PATH_MAX], stable[PATH_MAX];

	for (int i = 0; i < N_SIDES; i++) {
		if (!s->has_side[i] || !side_of(i, staged, from)[0] ||
		    !side_of(i, s->final, to)[0] || !side_of(i, s->stable, stable)[0])
			continue;
		if (rename(from, to) < 0) {
			log_event("side_rename_failed", s->qjob.id, "{s:s, s:s}", "file",
				  side_name[i], "error", strerror(errno));
			unlink(from);
			s->has_side[i] = 0;
			continue;
		}
		s->side_linked[i] = outdir_take_name(to, stable);
	}
}

/* The recorded side files take their stable names whatever held them, as the video
 * does. They stay in the output dir when an uploaded video leaves it: the dashboard
 * shows the poster. */
static void point_side_names(struct slot *s)
{
	char final[PATH_MAX], stable[PATH_MAX];
	int rc;

	for (int i = 0; i < N_SIDES; i++) {
		if (!s->has_side[i] || s->side_linked[i] || !side_of(i, s->final, final)[0] ||
		    !side_of(i, s->stable, stable)[0])
			continue;
		rc = outdir_point_name(s->w->cfg.output_dir, s->qjob.id, s->qjob.token, final,
				       stable);
		if (rc < 0)
			log_event("side_link_failed", s->qjob.id, "{s:s, s:s}", "link", stable,
				  "error", strerror(-rc));
	}
}

/* An unrecorded claim's side files go with its video, and their stable names if it
 * took them. */
static void drop_unrecorded_sides(struct slot *s)
{
	char final[PATH_MAX], stable[PATH_MAX];

	for (int i = 0; i < N_SIDES; i++) {
		if (!s->has_side[i] || !side_of(i, s->final, final)[0])
			continue;
		if (s->side_linked[i] && side_of(i, s->stable, stable)[0])
			outdir_release_name(final, stable);
		unlink(final);
	}
}

static void slot_release(struct slot *s)
{
	struct worker *w = s->w;

	if (s->staged[0]) {
		unlink(s->staged);
		unlink_sides_of(s, s->staged);
	}
	s->staged[0] = s->final[0] = s->stable[0] = s->lost_why[0] = '\0';
	memset(s->has_side, 0, sizeof(s->has_side));
	memset(s->side_linked, 0, sizeof(s->side_linked));
	uv_timer_stop(&s->heartbeat);
	uv_timer_stop(&s->ship_timer);
	logship_reset(&s->ship);
	queue_job_clear(&s->qjob);
	job_free(&s->job);
	free(s->result_doc);
	s->result_doc = NULL;
	json_decref(s->extra);
	s->extra = NULL;
	free(s->held);
	s->held = NULL;
	free(s->hook_doc);
	free(s->hook_why);
	s->hook_doc = s->hook_why = NULL;
	s->uploaded = s->rejecting = 0;
	s->busy = 0;
	s->cancelled = s->lease_lost = s->handing_back = s->recording = s->renamed = 0;
	s->linked = 0;
	s->hb_inflight = 0;
	w->busy--;
	request_more(w);
	maybe_exit(w);
}

/* The stable name output_dir/<id>.<ext> is a symlink to a claim's file. A claim takes
 * it when it is free, right after its rename, so that it is there when the result is
 * recorded; symlink() never replaces a name, so no claim can take it from another this
 * way. Only a claim whose result Redis accepted replaces it (point_stable_name, after
 * the record: a name an earlier job of the same id or an unrecorded claim holds), and
 * a claim whose result is refused removes it if it is still its own. */
static void claim_stable_name(struct slot *s)
{
	s->linked = outdir_take_name(s->final, s->stable);
}

static void release_stable_name(struct slot *s)
{
	if (s->linked)
		outdir_release_name(s->final, s->stable);
}

static void point_stable_name(struct slot *s)
{
	int rc;

	if (s->linked)
		return;
	rc =
	    outdir_point_name(s->w->cfg.output_dir, s->qjob.id, s->qjob.token, s->final, s->stable);
	if (rc < 0)
		log_event("output_link_failed", s->qjob.id, "{s:s, s:s}", "link", s->stable,
			  "error", strerror(-rc));
}

/* After a later attempt was recorded: every other claim of the job is refused now, and
 * the files of earlier ones that were never recorded go (one left by a worker that died
 * between its rename and its completion). */
static void remove_unrecorded(struct slot *s)
{
	outdir_remove_unrecorded(s->w->cfg.output_dir, s->qjob.id, s->final);
}

/* Redis refused the claim's result, retry or rejection (-ESTALE): the job is another
 * claim's now, or over. */
static void result_refused(struct slot *s, const char *msg)
{
	s->w->m.lost++;
	log_event("result_refused", s->qjob.id, "{s:s}", "reason", msg ? msg : "");
}

/* This claim's video was renamed into place, but its result is nobody's record (the job
 * was cancelled meanwhile, or another claim's result counts): the file goes, and the
 * stable name too if this claim took it. */
static void drop_unrecorded_video(struct slot *s)
{
	if (!s->renamed)
		return;
	release_stable_name(s);
	unlink(s->final);
	drop_unrecorded_sides(s);
}

/* The recorded video takes the stable name, or, uploaded, leaves the output dir unless
 * the operator keeps uploaded videos (config "keep_uploaded"). */
static void settle_local_copy(struct slot *s)
{
	point_side_names(s);
	if (!s->uploaded || s->w->cfg.keep_uploaded) {
		point_stable_name(s);
		return;
	}
	release_stable_name(s);
	if (unlink(s->final) == 0)
		log_event("local_copy_removed", s->qjob.id, "{s:s}", "output", s->final);
}

static void on_hook_done(void *arg, const char *tag, int rc, const char *why)
{
	struct worker *w = arg;

	if (rc < 0) {
		w->m.webhooks_failed++;
		log_event("webhook_failed", tag, "{s:s}", "reason", why ? why : "");
	} else {
		w->m.webhooks_ok++;
		log_event("webhook_sent", tag, NULL);
	}
}

/* The final state to the job's webhook: the result document (doc) with the job's "id"
 * and "state" added, or for a dead job its id, state and error. The slot does not wait
 * for it (delivery.c retries within a bound). */
static void send_webhook(struct slot *s, const char *doc, const char *state, const char *error)
{
	struct worker *w = s->w;
	json_t *o = doc ? json_loads(doc, 0, NULL) : json_object();
	const char *st = state;
	char *body = NULL, err[256];

	if (!s->job.webhook_url || !w->webhook_secret || !w->delivery || !o) {
		json_decref(o);
		return;
	}
	if (!st)
		st = json_string_value(json_object_get(o, "status"));
	if (json_object_set_new(o, "id", json_string(s->qjob.id)) == 0 &&
	    json_object_set_new(o, "state", json_string(st ? st : "failed")) == 0 &&
	    (!error || json_object_set_new(o, "error", json_string(error)) == 0))
		body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!body || delivery_webhook(w->delivery, s->job.webhook_url, w->webhook_secret, body,
				      s->qjob.id, 0, on_hook_done, w, err, sizeof(err)) < 0)
		log_event("webhook_failed", s->qjob.id, "{s:s}", "reason",
			  body ? err : "out of memory building the webhook's body");
	free(body);
}

static void remember_why(struct slot *s, const char *why)
{
	free(s->hook_why);
	s->hook_why = why ? strdup(why) : NULL;
}

static void on_completed(struct queue_async *q, int status, const char *msg, void *arg)
{
	struct slot *s = arg;
	struct worker *w = s->w;

	(void)q;
	if (status == 0) {
		if (s->renamed) {
			settle_local_copy(s);
			if (s->qjob.attempt > 1)
				remove_unrecorded(s);
		}
		log_event("job_recorded", s->qjob.id, "{s:i}", "attempt", s->qjob.attempt);
		if (!strcmp(s->qjob.role, "join") && s->renamed)
			remove_chunk_dir(w, s->qjob.id);
		send_webhook(s, s->hook_doc, NULL, NULL);
	} else if (status == QUEUE_CANCELLED) {
		w->m.cancelled++;
		log_event("job_cancelled", s->qjob.id, "{s:s}", "detail",
			  "the job was cancelled; its sandbox is gone, nothing of it was kept");
		drop_unrecorded_video(s);
	} else if (status == -ESTALE) {
		result_refused(s, msg);
		drop_unrecorded_video(s);
	} else {
		/* Whether Redis applied it is unknown: keep the file it may name. */
		log_event("complete_failed", s->qjob.id, "{s:s}", "error", msg ? msg : "");
	}
	slot_release(s);
}

/* rc is what queueing a write for this slot's job answered: on its way, or not even
 * queued (said as what), and then the slot is free again. */
static void sent(struct slot *s, int rc, const char *what)
{
	if (rc >= 0)
		return;
	log_event("complete_failed", s->qjob.id, "{s:s}", "error", what);
	slot_release(s);
}

static void record(struct slot *s, const char *doc)
{
	if (s->job.webhook_url) {
		free(s->hook_doc);
		s->hook_doc = strdup(doc);
	}
	s->recording = 1;
	sent(s, queue_async_complete(s->w->q, &s->qjob, doc, on_completed, s),
	     "the result could not be queued for Redis");
}

static void hand_back(struct slot *s, const char *why)
{
	remember_why(s, why);
	s->recording = 1;
	sent(s, queue_async_retry(s->w->q, &s->qjob, why, on_requeued, s),
	     "the hand-back could not be queued for Redis");
}

/* The last heartbeat answered: still ours (and the lease renewed), so the video may
 * take its place under this claim's own name before the result says it is there. */
static void on_final_check(struct queue_async *q, int status, const char *msg, void *arg)
{
	struct slot *s = arg;
	struct worker *w = s->w;
	char *doc = s->result_doc;

	(void)q;
	s->result_doc = NULL;
	if (status == QUEUE_CANCELLED) {
		/* Cancelled meanwhile: no rename; the completion confirms the stop. */
		record(s, doc);
		free(doc);
		return;
	}
	if (status < 0) {
		if (status == -ESTALE) {
			result_refused(s, msg);
		} else {
			log_event("complete_failed", s->qjob.id, "{s:s}", "error", msg ? msg : "");
		}
		free(doc);
		slot_release(s);
		return;
	}
	if (w->hook_stop_before_rename) {
		/* Test hook (tests/it_faults.sh): the pause of a debugger, a GC or a stalled
		 * disk, at the worst moment for the output's fence. */
		log_event("test_hook_stop", s->qjob.id, NULL);
		raise(SIGSTOP);
	}
	if (rename(s->staged, s->final) < 0) {
		char why[512], disk[256];
		int e = errno;
		if (disk_check(w, 1, disk, sizeof(disk)) < 0)
			disk_bad(w, disk);
		log_event("output_rename_failed", s->qjob.id, "{s:s}", "error", strerror(e));
		free(doc);
		snprintf(why, sizeof(why), "the worker could not move the video into place: %s",
			 strerror(e));
		w->m.retried++;
		hand_back(s, why);
		return;
	}
	move_sides(s, s->staged);
	s->staged[0] = '\0';
	s->renamed = 1;
	claim_stable_name(s);
	if (w->hook_stop_before_complete) {
		/* Test hook: paused holding the stable name, its result not yet sent. */
		log_event("test_hook_stop", s->qjob.id, NULL);
		raise(SIGSTOP);
	}
	record(s, doc);
	free(doc);
}

static void on_requeued(struct queue_async *q, int status, const char *msg, void *arg)
{
	struct slot *s = arg;

	(void)q;
	if (status == 1)
		s->w->m.dead++;
	if (status == 1 || (status == 0 && s->rejecting))
		send_webhook(s, NULL, "dead", s->hook_why ? s->hook_why : "dead");
	if (status == QUEUE_CANCELLED) {
		s->w->m.cancelled++;
		log_event("job_cancelled", s->qjob.id, NULL);
	} else if (status == -ESTALE) {
		result_refused(s, msg);
	} else if (status < 0) {
		log_event("complete_failed", s->qjob.id, "{s:s}", "error", msg ? msg : "");
	} else {
		log_event(status == 1 ? "job_dead" : "job_requeued", s->qjob.id, "{s:i}", "status",
			  status);
	}
	slot_release(s);
}

/* The result document stored in Redis for status and for followers. */
static char *result_json(const struct slot *s, const struct runner_result *res)
{
	return cli_result_json(res, s->final, queue_async_consumer(s->w->q), s->extra);
}

/* The run ended, but its result is not this claim's to record: the lease went to
 * another claim, the job was cancelled (the completion only confirms the stop), or the
 * worker is stopping (the job goes back). 1 when one of those settled the slot. */
static int settle_unowned(struct slot *s, const struct runner_result *res)
{
	struct worker *w = s->w;
	char *doc;

	if (s->lease_lost) {
		log_event("job_abandoned", s->qjob.id, "{s:s}", "reason",
			  s->lost_why[0] ? s->lost_why : "lease lost");
		w->m.lost++;
		slot_release(s);
		return 1;
	}
	if (s->cancelled) {
		/* Already cancelled in Redis: the completion only confirms the stop. */
		if (res->succeeded && s->staged[0]) {
			unlink(s->staged);
			unlink_sides_of(s, s->staged);
			s->staged[0] = '\0';
		}
		doc = result_json(s, res);
		record(s, doc ? doc : "{\"status\":\"failed\",\"error\":\"cancelled by request\"}");
		free(doc);
		return 1;
	}
	if (s->handing_back) {
		w->m.retried++;
		hand_back(s, "the worker stopped before the job finished");
		return 1;
	}
	return 0;
}

/* The host's fault, not the script's: the output dir is gone, full or read-only (as a
 * check of it finds now, or as the runner's end reason says: a write or a move into
 * place the host refused). The job goes back (to another worker, or this one once the
 * dir is usable) instead of failing. 1 when it was handed back. */
static int hand_back_host_failure(struct slot *s, const struct runner_result *res)
{
	struct worker *w = s->w;
	char disk[256], why[sizeof(res->error) + 300];
	int disk_fault = disk_check(w, 1, disk, sizeof(disk)) < 0;

	if (disk_fault)
		disk_bad(w, disk);
	if (!disk_fault && res->end == RUNNER_END_MODEL) {
		/* The model could not be asked (an outage, a timeout, a refused key): not the
		 * prompt's fault. Back to the queue with its backoff; after max_attempts claims
		 * it is dead with the sentence, so a bad key does not loop for ever. */
		w->m.retried++;
		log_event("job_model_failure", s->qjob.id, "{s:s}", "reason", res->error);
		hand_back(s, res->error);
		return 1;
	}
	if (!disk_fault && res->end != RUNNER_END_INTERNAL)
		return 0;
	snprintf(why, sizeof(why), "the worker could not write the video (%.480s)%s%s", res->error,
		 disk_fault ? "; " : "", disk_fault ? disk : "");
	w->m.retried++;
	log_event("job_host_failure", s->qjob.id, "{s:s}", "reason", why);
	hand_back(s, why);
	return 1;
}

/* A job that asked for retries of its own failures (retries N): handed back while
 * attempts are left, dead-lettered as a poison job once every one failed. 1 when the
 * slot was settled that way. */
static int retry_or_bury(struct slot *s, const struct runner_result *res)
{
	struct worker *w = s->w;
	char reason[sizeof(res->error) + 64];

	if (s->job.retries >= s->qjob.attempt) {
		w->m.retried++;
		hand_back(s, res->error);
		return 1;
	}
	if (s->job.retries <= 0)
		return 0;
	snprintf(reason, sizeof(reason), "failed on all %d attempts; last: %.480s", s->qjob.attempt,
		 res->error);
	w->m.dead++;
	log_event("job_dead", s->qjob.id, "{s:s}", "reason", reason);
	remember_why(s, reason);
	s->recording = s->rejecting = 1;
	if (queue_async_reject(w->q, &s->qjob, reason, on_requeued, s) < 0)
		slot_release(s);
	return 1;
}

/* The job's own outcome, succeeded or failed, goes to Redis. A video is first checked
 * to be still this claim's (a final heartbeat, answered in on_final_check), then moved
 * into place, then recorded. */
static void on_uploaded(void *arg, const char *tag, int rc, const char *why);
static void record_outcome(struct slot *s, const struct runner_result *res);

/* A video with an "upload" goes to the producer's URL first, streamed from its staged
 * file; the outcome is held until it is there. 1 when the upload settles the slot. */
static int upload_first(struct slot *s, const struct runner_result *res)
{
	struct worker *w = s->w;
	struct delivery_upload_spec spec = {
	    .url = s->job.upload_url,
	    .headers = (const char *const *)s->job.upload_headers,
	    .path = s->staged,
	    .content_type = delivery_content_type(s->job.format),
	    .tag = s->qjob.id,
	};
	char err[256], why[320];

	if (!res->succeeded || !s->staged[0] || !s->job.upload_url || s->uploaded || s->cancelled)
		return 0;
	if (!(s->held = malloc(sizeof(*res)))) {
		snprintf(err, sizeof(err), "out of memory");
	} else {
		*s->held = *res;
		log_event("upload_started", s->qjob.id, NULL); /* never the URL: it is a key */
		s->upload_started_ms = now_ms();
		if (delivery_upload(w->delivery, &spec, on_uploaded, s, err, sizeof(err)) == 0)
			return 1;
	}
	free(s->held);
	s->held = NULL;
	s->upload_started_ms = now_ms();
	snprintf(why, sizeof(why), "the upload could not start: %s", err);
	on_uploaded(s, s->qjob.id, -EIO, why);
	return 1;
}

/* The upload ended: the result names where the video went (its URL without the query,
 * which holds the presigned signature) and is recorded as any other; a failed upload
 * hands the job back, a retryable failure (the queue's attempts bound it). */
static void on_uploaded(void *arg, const char *tag, int rc, const char *why)
{
	struct slot *s = arg;
	struct worker *w = s->w;
	struct runner_result *res = s->held;
	char shown[DELIVERY_URL_MAX + 1];

	(void)tag;
	s->held = NULL;
	metrics_count_upload(&w->m, rc >= 0 && res,
			     (double)(now_ms() - s->upload_started_ms) / 1000.0,
			     res ? res->bytes : 0);
	if (rc < 0 || !res) {
		log_event("upload_failed", s->qjob.id, "{s:s}", "reason", why ? why : "");
		w->m.retried++;
		hand_back(s, why ? why : "the upload failed");
		free(res);
		return;
	}
	delivery_strip_query(s->job.upload_url, shown, sizeof(shown));
	if (!s->extra)
		s->extra = json_object();
	if (s->extra)
		json_object_set_new(s->extra, "upload", json_string(shown));
	s->uploaded = 1;
	log_event("job_uploaded", s->qjob.id, "{s:s}", "upload", shown);
	record_outcome(s, res);
	free(res);
}

static void record_outcome(struct slot *s, const struct runner_result *res)
{
	struct worker *w = s->w;
	char *doc;

	if (upload_first(s, res))
		return;
	chunk_result_extra(s, res);
	doc = result_json(s, res);

	if (!doc) {
		/* Only memory can fail here (every string is sanitized): an internal error,
		 * recorded once as the job's result. A retry would run a job that asked for
		 * none again, and dead-letter it with its result lost. */
		static const char internal[] = "{\"status\":\"failed\",\"error\":\"internal error: "
					       "cannot build the result document\"}";
		w->m.failed++;
		log_event("result_build_failed", s->qjob.id, NULL);
		record(s, internal);
		return;
	}
	if (res->succeeded)
		w->m.succeeded++;
	else
		w->m.failed++;
	if (res->succeeded && s->staged[0]) {
		s->result_doc = doc;
		s->recording = 1;
		sent(s, queue_async_heartbeat(w->q, &s->qjob, on_final_check, s),
		     "the final heartbeat could not be queued for Redis");
		return;
	}
	record(s, doc);
	free(doc);
}

/* A chunk whose stream held more than FRAME_COUNT frames: its script ignores its range
 * (FRAME_START, FRAME_COUNT), so no chunk of it can be trusted to hold its own frames.
 * The chunk is not kept; its failure carries the fallback sentence, on which the queue
 * stops the other chunks and queues the parent's whole render. */
static void record_fallback(struct slot *s, const struct runner_result *res)
{
	char why[512];
	json_t *o;
	char *doc;

	if (s->staged[0]) {
		unlink(s->staged);
		s->staged[0] = '\0';
	}
	snprintf(why, sizeof(why),
		 "its script wrote more than its FRAME_COUNT of %lld frames (it ignores "
		 "FRAME_START and FRAME_COUNT), so the job was rendered whole",
		 (long long)s->job.chunk.count);
	o = json_pack("{s:s, s:s, s:s, s:I}", "status", "failed", "error", why, "chunk_fallback",
		      why, "frames", (json_int_t)res->frames);
	doc = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	log_event("chunk_fallback", s->qjob.id, "{s:s}", "reason", why);
	record(s, doc ? doc : "{\"status\":\"failed\",\"error\":\"out of memory\"}");
	free(doc);
}

/* A run is over: count it, then the first of these that applies settles the slot: not
 * this claim's to record; the host's failure (handed back); a failure the job asked to
 * retry (or the last of them); else its own outcome is recorded. */
static void on_runner_done(void *opaque, const struct runner_result *done)
{
	struct slot *s = opaque;
	struct worker *w = s->w;
	struct runner_result copy = *done, *res = &copy;
	int failed;

	ship_log(s); /* the last lines, sent before the result that ends the job */
	/* The runner's handles are closed by now: it can go before anything else runs.
	 * The heartbeat timer keeps running until the slot is released: a result Redis
	 * does not take yet (maxmemory) must not cost the job its lease. */
	s->extra = jobrun_result_extra(s->run, JOBRUN_RESULT_BUDGET);
	{
		unsigned n;
		const struct jobrun_attempt *at = jobrun_attempts(s->run, &n);
		metrics_count_attempts(&w->m, at, n);
	}
	jobrun_free(s->run);
	s->run = NULL;
	maybe_exit(w); /* stopping and this was the last sandbox: drain what is left */

	metrics_count_run(&w->m, res);
	if (!res->succeeded)
		s->staged[0] = '\0'; /* the runner left nothing behind */
	s->has_side[0] = res->succeeded && res->poster[0];
	s->has_side[1] = res->succeeded && res->contact_sheet[0];
	if (settle_unowned(s, res))
		return;
	log_event("job_finished", s->qjob.id, "{s:s, s:s, s:I, s:I, s:i, s:s, s:b, s:s?, s:I}",
		  "status", res->succeeded ? "succeeded" : "failed", "error", res->error, "frames",
		  (json_int_t)res->frames, "ms", (json_int_t)res->total_ms, "attempt",
		  s->qjob.attempt, "tier", sandbox_tier_name(res->tier), "warm", res->warm,
		  "cold_why", res->cold_why, "start_us", (json_int_t)res->sandbox_start_us);
	failed = !res->succeeded && !res->cancelled;
	if (failed && (hand_back_host_failure(s, res) || retry_or_bury(s, res)))
		return;
	if (!strcmp(s->qjob.role, "chunk") && res->succeeded && res->frame_cap_hit) {
		record_fallback(s, res);
		return;
	}
	record_outcome(s, res);
}

static void on_runner_progress(void *opaque, int64_t done, int64_t total)
{
	struct slot *s = opaque;
	uint64_t now = now_ms();

	if (now - s->last_progress_ms < PROGRESS_EVERY_MS && done != total)
		return;
	s->last_progress_ms = now;
	queue_async_progress(s->w->q, &s->qjob, done, total, NULL, NULL);
}

/* Send the batch gathered so far to the job's log stream (best effort: not kept while
 * Redis is away, nothing sent once the job is cancelled or no longer this claim's). */
static void ship_log(struct slot *s)
{
	size_t len;
	const char *batch = logship_take(&s->ship, &len);

	uv_timer_stop(&s->ship_timer);
	if (batch && !s->cancelled && !s->lease_lost)
		queue_async_log(s->w->q, &s->qjob, batch, len, NULL, NULL);
}

static void on_ship_timer(uv_timer_t *t)
{
	ship_log(t->data);
}

/* The job's log goes to its log stream and its result's tail, not to the worker's own
 * log. */
static void on_runner_log(void *opaque, const char *line, size_t len)
{
	struct slot *s = opaque;
	int rc = logship_add(&s->ship, line, len);

	if (rc == 2) {
		ship_log(s);
		rc = logship_add(&s->ship, line, len);
	}
	if (rc == 1)
		ship_log(s);
	else if (s->ship.len && !uv_is_active((uv_handle_t *)&s->ship_timer))
		uv_timer_start(&s->ship_timer, on_ship_timer, LOGSHIP_DELAY_MS, 0);
}

static const struct runner_ops worker_runner_ops = {
    .progress = on_runner_progress,
    .log_line = on_runner_log,
    .done = on_runner_done,
};

/* Stop a job this slot runs because it was cancelled (the queue told us, by the
 * cancel list or by a heartbeat). */
static void stop_cancelled(struct slot *s, const char *via)
{
	if (s->cancelled)
		return;
	s->cancelled = 1;
	log_event("job_cancel", s->qjob.id, "{s:s}", "via", via);
	if (s->run)
		jobrun_cancel(s->run, "cancelled by request");
}

struct hb_ctx {
	struct slot *slot;
	char token[QUEUE_TOKEN_MAX];
};

static void on_heartbeat_answer(struct queue_async *q, int status, const char *msg, void *arg)
{
	struct hb_ctx *ctx = arg;
	struct slot *s = ctx->slot;
	int mine = s->busy && !strcmp(s->qjob.token, ctx->token);

	(void)q;
	free(ctx);
	/* The answer may arrive after the slot moved on to another job. */
	if (!mine)
		return;
	s->hb_inflight = 0;
	if (status == QUEUE_CANCELLED || status == 1) {
		stop_cancelled(s, "heartbeat");
	} else if (status == -ESTALE && !s->lease_lost && s->run) {
		s->lease_lost = 1;
		snprintf(s->lost_why, sizeof(s->lost_why), "%s", msg ? msg : "lease lost");
		jobrun_cancel(s->run, "lease lost: the job is no longer this worker's");
	}
}

static void on_heartbeat(uv_timer_t *t)
{
	struct slot *s = t->data;
	struct hb_ctx *ctx;

	/* One at a time: while Redis refuses writes, heartbeats wait in the queue client
	 * and must not pile up there. */
	if (!s->busy || s->hb_inflight || !(ctx = malloc(sizeof(*ctx))))
		return;
	ctx->slot = s;
	snprintf(ctx->token, sizeof(ctx->token), "%s", s->qjob.token);
	if (queue_async_heartbeat(s->w->q, &s->qjob, on_heartbeat_answer, ctx) < 0)
		free(ctx);
	else
		s->hb_inflight = 1;
}

static struct slot *free_slot(struct worker *w)
{
	for (unsigned i = 0; i < w->n_slots; i++)
		if (!w->slots[i].busy)
			return &w->slots[i];
	return NULL;
}

static void reject(struct worker *w, struct slot *s, const char *reason)
{
	w->m.rejected++;
	log_event("job_rejected", s->qjob.id, "{s:s}", "reason", reason);
	remember_why(s, reason);
	s->recording = s->rejecting = 1;
	if (queue_async_reject(w->q, &s->qjob, reason, on_requeued, s) < 0)
		slot_release(s);
}

/* Admission: the same rules as submit's. A job refused here can never run anywhere:
 * dead at once, with the sentence, on its first attempt. The slot's document is parsed
 * into its job and freed. */
static int admit(struct worker *w, struct slot *s, char *err, size_t errlen)
{
	int rc = job_from_json(&s->job, s->qjob.doc, s->qjob.doc_len, err, errlen);

	free(s->qjob.doc);
	s->qjob.doc = NULL;
	s->qjob.doc_len = 0;
	if (rc == 0) {
		snprintf(s->job.id, sizeof(s->job.id), "%s", s->qjob.id);
		rc = job_resolve(&s->job, &w->cfg, err, errlen);
	}
	if (rc == 0 && s->job.webhook_url && !w->webhook_secret) {
		snprintf(err, errlen,
			 "the job asks for a webhook but this worker has no %s to sign it with; "
			 "the operator sets it in the worker's environment",
			 DELIVERY_SECRET_ENV);
		rc = -ENOTSUP;
	}
	if (rc == 0 && s->job.prompt && !w->have_model) {
		/* Workers of one farm share a config: another would say the same. */
		snprintf(err, errlen, "%s", modelcfg_none_sentence);
		rc = -ENOTSUP;
	}
	return rc;
}

/* ---- Chunked jobs (docs/queue.md, "Chunked jobs") -----------------------------------
 *
 * A claim of a job with "chunks" splits it: the children's documents are built here (the
 * parent's, with "chunk" {parent, index, start, count} and no delivery: that is the
 * parent's), the queue's split script queues them, and the slot is free again. A child
 * renders its range into the Matroska intermediate, committed like any video under
 * output_dir/.chunks/<parent>/<index>.<token>.mkv; the join claim opens those files and
 * its encoder joins them into the parent's video, which is committed as a whole job's. */

/* What the document says it is must be what the queue's claim says it is: only the split
 * writes "chunk" and "join", and only its documents get those roles (queue.h). NULL when
 * they agree, else the sentence the job is refused with. */
static const char *role_mismatch(const struct slot *s)
{
	const char *role = s->qjob.role;
	char want[JOB_ID_MAX + 16];

	if (s->job.chunk.parent[0] && strcmp(role, "chunk"))
		return "a job's \"chunk\" is written by the worker that splits a chunked job, "
		       "never "
		       "by a producer: give \"chunks\" instead";
	if (s->job.join && strcmp(role, "join"))
		return "a job's \"join\" is written by the worker that splits a chunked job, never "
		       "by a producer: leave it out";
	if (!strcmp(role, "chunk") && !s->job.chunk.parent[0])
		return "the queue says this job is a chunk, but its document has no \"chunk\"";
	if (!strcmp(role, "join") && (!s->job.join || !s->job.chunks))
		return "the queue says this job joins its chunks, but its document has no \"join\"";
	if (!strcmp(role, "chunk")) {
		snprintf(want, sizeof(want), "%s-c%d", s->job.chunk.parent, s->job.chunk.index);
		if (strcmp(want, s->qjob.id))
			return "the chunk's document names another parent or index than its id";
	}
	return NULL;
}

static void on_split(struct queue_async *q, int status, const char *msg, void *arg)
{
	struct slot *s = arg;
	char *doc;

	(void)q;
	if (status == -EEXIST) {
		/* A child's id is another job's: this job cannot be split, ever. */
		json_t *o = json_pack("{s:s, s:s}", "status", "failed", "error", msg ? msg : "");
		doc = o ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
		log_event("job_split_refused", s->qjob.id, "{s:s}", "reason", msg ? msg : "");
		if (doc) {
			record(s, doc);
			free(doc);
			return;
		}
	} else if (status == 0) {
		log_event("job_split", s->qjob.id, "{s:i}", "chunks", s->job.chunks);
	} else {
		/* Cancelled meanwhile, no longer this claim's, or Redis's trouble: the lease
		 * decides what happens to a job that was not split. */
		log_event("job_split_failed", s->qjob.id, "{s:i, s:s}", "status", status, "reason",
			  msg ? msg : "");
	}
	slot_release(s);
}

/* The documents of the split: the children's (a JSON array of strings), the join's and
 * the whole render's; then the split script. The slot is settled by on_split. */
static void split_job(struct worker *w, struct slot *s)
{
	struct job c = s->job; /* shallow: the script stays the parent's */
	json_t *kids = json_array();
	char *doc, *join = NULL, *whole = NULL, *kids_s = NULL;
	int bad = !kids, rc;

	c.upload_url = c.webhook_url = NULL; /* delivery is the parent's, once */
	c.upload_headers = NULL;
	c.chunks = 0;
	c.frames_per_chunk = 0;
	for (int k = 0; !bad && k < s->job.chunks; k++) {
		/* job_resolve kept a chunked job's id short enough for "-c63" */
		if (snprintf(c.id, sizeof(c.id), "%s-c%d", s->job.id, k) >= (int)sizeof(c.id)) {
			bad = 1;
			break;
		}
		snprintf(c.chunk.parent, sizeof(c.chunk.parent), "%s", s->job.id);
		c.chunk.index = k;
		job_chunk_range(s->job.frames, s->job.chunks, k, &c.chunk.start, &c.chunk.count);
		doc = job_to_json(&c);
		bad = !doc || json_array_append_new(kids, json_string(doc)) < 0;
		free(doc);
	}
	c = s->job;
	c.join = 1;
	join = bad ? NULL : job_to_json(&c);
	c.join = 0;
	c.chunks = 0;
	whole = join ? job_to_json(&c) : NULL;
	kids_s = whole ? json_dumps(kids, JSON_COMPACT) : NULL;
	json_decref(kids);
	if (!kids_s) {
		log_event("job_split_failed", s->qjob.id, "{s:s}", "reason", "out of memory");
		slot_release(s); /* the lease hands it to another worker */
	} else if ((rc = queue_async_split(w->q, &s->qjob, s->job.frames, join, whole, kids_s,
					   on_split, s)) < 0) {
		log_event("job_split_failed", s->qjob.id, "{s:s}", "reason", strerror(-rc));
		slot_release(s);
	}
	free(join);
	free(whole);
	free(kids_s);
}

/* output_dir/.chunks/<parent>, made when create (0755 each; the videos in it are as
 * public as the output dir's), opened without following a symlink at any step below
 * the output dir. The directory's descriptor, or a negative errno. */
static int chunk_dir_open(const struct worker *w, const char *parent, int create)
{
	int out = open(w->cfg.output_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), top, dir = -1;

	if (out < 0)
		return -errno;
	if (create && mkdirat(out, ".chunks", 0755) < 0 && errno != EEXIST) {
		close(out);
		return -errno;
	}
	top = openat(out, ".chunks", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	close(out);
	if (top < 0)
		return -errno;
	if (!create || mkdirat(top, parent, 0755) == 0 || errno == EEXIST)
		dir = openat(top, parent, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dir < 0)
		dir = -errno;
	close(top);
	return dir;
}

/* A chunk's names: staged as any video (its extension picks the codec; the bytes are
 * Matroska), final output_dir/.chunks/<parent>/<index>.<token>.mkv, stable <index>.mkv.
 * 0, or a negative errno with the sentence in err. */
static int chunk_paths(struct worker *w, struct slot *s, char *err, size_t errlen)
{
	const struct job_chunk *c = &s->job.chunk;
	int dir = chunk_dir_open(w, c->parent, 1);

	if (dir < 0) {
		snprintf(err, errlen, "cannot make %.200s/.chunks/%s: %s", w->cfg.output_dir,
			 c->parent, strerror(-dir));
		return dir;
	}
	close(dir);
	if (outdir_path(s->final, sizeof(s->final), "%s/.chunks/%s/%d.%s.mkv", w->cfg.output_dir,
			c->parent, c->index, s->qjob.token) < 0 ||
	    outdir_path(s->stable, sizeof(s->stable), "%s/.chunks/%s/%d.mkv", w->cfg.output_dir,
			c->parent, c->index) < 0 ||
	    outdir_path(s->staged, sizeof(s->staged), "%s/%s.%s.%s", w->work_dir, s->job.id,
			s->qjob.token, s->job.format) < 0) {
		snprintf(err, errlen, "the chunk's path would be longer than PATH_MAX");
		return -ENAMETOOLONG;
	}
	return 0;
}

/* The join's chunk files, from the claim's note ([{"worker", "file"}] per chunk), each
 * opened read-only beneath output_dir/.chunks/<id> without following a symlink, a
 * regular file. 0 with fds[0..n) open, or -1 with the sentence the parent fails with. */
static int open_chunks(struct worker *w, struct slot *s, int *fds, char *err, size_t errlen)
{
	json_t *note = json_loads(s->qjob.role_note, 0, NULL);
	int n = s->job.chunks, dir = -1, k;

	for (k = 0; k < n; k++)
		fds[k] = -1;
	if (!json_is_array(note) || (int)json_array_size(note) != n) {
		snprintf(err, errlen, "the queue's list of the %d chunks of job %s is not whole", n,
			 s->qjob.id);
		goto fail;
	}
	dir = chunk_dir_open(w, s->qjob.id, 0);
	for (k = 0; k < n; k++) {
		json_t *e = json_array_get(note, (size_t)k);
		const char *file = json_string_value(json_object_get(e, "file"));
		const char *who = json_string_value(json_object_get(e, "worker"));
		struct stat st;

		/* A base name the queue recorded: no separator, not hidden. */
		if (dir >= 0 && file && file[0] && file[0] != '.' && !strchr(file, '/'))
			fds[k] = openat(dir, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
		if (fds[k] < 0 || fstat(fds[k], &st) < 0 || !S_ISREG(st.st_mode)) {
			snprintf(err, errlen,
				 "chunk %d (%.40s, rendered by worker %.60s) is not in "
				 "%.120s/.chunks/%s "
				 "on this worker: chunked jobs need an --output-dir shared by the "
				 "workers (NFS, or one machine)",
				 k, file && file[0] ? file : "no file recorded", who ? who : "?",
				 w->cfg.output_dir, s->qjob.id);
			goto fail;
		}
	}
	if (dir >= 0)
		close(dir);
	json_decref(note);
	return 0;
fail:
	if (dir >= 0)
		close(dir);
	for (k = 0; k < n; k++)
		if (fds[k] >= 0)
			close(fds[k]);
	json_decref(note);
	return -1;
}

/* Once the joined video is recorded, the chunks are done with: every file of
 * output_dir/.chunks/<id> goes, then the directory. */
static void remove_chunk_dir(struct worker *w, const char *id)
{
	int dir = chunk_dir_open(w, id, 0), top;
	DIR *d = dir >= 0 ? fdopendir(dir) : NULL;
	struct dirent *e;

	if (!d) {
		if (dir >= 0)
			close(dir);
		return;
	}
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	top = open(w->cfg.output_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (top >= 0) {
		int c = openat(top, ".chunks", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (c >= 0) {
			unlinkat(c, id, AT_REMOVEDIR);
			close(c);
		}
		close(top);
	}
}

/* The parts of a result only chunked jobs have: the join's chunks, workers and time, a
 * whole render's fallback. Into s->extra (made when needed). */
static void chunk_result_extra(struct slot *s, const struct runner_result *res)
{
	json_t *workers;

	if (!strcmp(s->qjob.role, "whole") || !strcmp(s->qjob.role, "join")) {
		if (!s->extra && !(s->extra = json_object()))
			return;
	}
	if (!strcmp(s->qjob.role, "whole")) {
		json_object_set_new(s->extra, "chunked", json_false());
		json_object_set_new(s->extra, "chunk_fallback", json_string(s->qjob.role_note));
	} else if (!strcmp(s->qjob.role, "join")) {
		json_t *note = json_loads(s->qjob.role_note, 0, NULL);
		size_t i;
		json_t *e;

		workers = json_array();
		json_array_foreach(note, i, e)
		{
			json_t *who = json_object_get(e, "worker");
			json_array_append_new(
			    workers,
			    json_string(json_string_value(who) ? json_string_value(who) : ""));
		}
		json_decref(note);
		json_object_set_new(s->extra, "chunked", json_true());
		json_object_set_new(s->extra, "chunks", json_integer(s->job.chunks));
		json_object_set_new(s->extra, "chunk_workers", workers);
		json_object_set_new(s->extra, "join_ms", json_integer((json_int_t)res->total_ms));
	}
}

/* A chunked job's turn in on_job: a document whose role the claim does not give is
 * refused, a parent is split. 1 when that settled the slot. */
static int route_chunks(struct worker *w, struct slot *s)
{
	const char *mismatch = role_mismatch(s);

	if (mismatch) {
		reject(w, s, mismatch);
		return 1;
	}
	if (s->job.chunks && !s->job.join) {
		split_job(w, s);
		return 1;
	}
	return 0;
}

/* The claim's file names (the fence: cmd_worker.c's header), a chunk's under
 * .chunks/<parent>. -1 when a failure settled the slot. */
static int claim_paths(struct worker *w, struct slot *s)
{
	char err[512];

	if (!strcmp(s->qjob.role, "chunk")) {
		if (chunk_paths(w, s, err, sizeof(err)) == 0)
			return 0;
		/* The output dir's trouble, as for any video: back to the queue. */
		s->staged[0] = '\0';
		w->m.retried++;
		hand_back(s, err);
		return -1;
	}
	if (outdir_path(s->final, sizeof(s->final), "%s/%s.%s.%s", w->cfg.output_dir, s->job.id,
			s->qjob.token, s->job.format) < 0 ||
	    outdir_path(s->stable, sizeof(s->stable), "%s/%s.%s", w->cfg.output_dir, s->job.id,
			s->job.format) < 0 ||
	    outdir_path(s->staged, sizeof(s->staged), "%s/%s.%s.%s", w->work_dir, s->job.id,
			s->qjob.token, s->job.format) < 0) {
		s->staged[0] = '\0';
		reject(w, s, "the output path would be longer than PATH_MAX");
		return -1;
	}
	return 0;
}

/* A join claim's chunk files into fds, lent to the job for its runner's start; a missing
 * one fails the parent with the sentence. -1 when that settled the slot. */
static int join_files(struct worker *w, struct slot *s, int *fds)
{
	char err[512];
	json_t *o;
	char *doc;

	if (strcmp(s->qjob.role, "join"))
		return 0;
	if (open_chunks(w, s, fds, err, sizeof(err)) == 0) {
		s->job.join_fds = fds;
		s->job.n_join_fds = s->job.chunks;
		return 0;
	}
	o = json_pack("{s:s, s:s}", "status", "failed", "error", err);
	doc = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	s->staged[0] = '\0';
	log_event("job_join_failed", s->job.id, "{s:s}", "error", err);
	w->m.failed++;
	record(s, doc ? doc : "{\"status\":\"failed\",\"error\":\"a chunk is missing\"}");
	free(doc);
	return -1;
}

static void on_job(struct queue_async *q, struct queue_job *qj, void *arg)
{
	struct worker *w = arg;
	struct slot *s = free_slot(w);
	char err[512];
	int rc;

	if (!s) {
		/* Cannot happen: the queue delivers no more than was asked for, one per
		 * free slot. Leave it unacknowledged; its lease sends it elsewhere. */
		log_event("job_without_slot", qj->id, NULL);
		return;
	}
	s->busy = 1;
	w->busy++;
	s->qjob = *qj;
	qj->doc = NULL; /* the slot owns the document now */
	job_init(&s->job);
	s->started_ms = now_ms();
	s->last_progress_ms = 0;

	if (admit(w, s, err, sizeof(err)) < 0) {
		reject(w, s, err);
		return;
	}
	if (route_chunks(w, s) || claim_paths(w, s) < 0)
		return;
	uint64_t every = (uint64_t)w->cfg.lease_s * 1000 / 3;
	if (every < 100)
		every = 100;
	uv_timer_start(&s->heartbeat, on_heartbeat, every, every);
	/* The work dir is made again if the output dir was removed and put back. */
	if (disk_check(w, 0, err, sizeof(err)) < 0) {
		char why[600];
		disk_bad(w, err);
		s->staged[0] = '\0';
		snprintf(why, sizeof(why), "the worker could not write the video: %s", err);
		log_event("job_start_failed", s->job.id, "{s:s}", "error", why);
		w->m.retried++;
		hand_back(s, why);
		return;
	}

	/* t_ns: the start to the nanosecond (CLOCK_REALTIME), which bench/pool.sh holds
	 * against the time a script's first line reads */
	struct timespec t_start;
	clock_gettime(CLOCK_REALTIME, &t_start);
	log_event("job_started", s->job.id, "{s:i, s:s, s:s, s:s, s:i, s:i, s:I, s:I}", "attempt",
		  s->qjob.attempt, "kind", s->job.prompt ? "prompt" : "script", "runtime",
		  s->job.runtime, "tier", sandbox_tier_name(s->job.resolved_tier), "width",
		  s->job.width, "height", s->job.height, "frames", (json_int_t)s->job.frames,
		  "t_ns", (json_int_t)t_start.tv_sec * 1000000000 + t_start.tv_nsec);
	struct jobrun_env env = {.loop = w->loop,
				 .cfg = &w->cfg,
				 .http = w->httpc,
				 .model = w->have_model ? &w->model : NULL,
				 .slot = s->index,
				 .pool = w->pool};
	int chunk_fds[JOB_CHUNKS_MAX];
	if (join_files(w, s, chunk_fds) < 0)
		return;
	rc = jobrun_start(&env, &s->job, s->staged, &worker_runner_ops, s, &s->run, err,
			  sizeof(err));
	for (int k = 0; k < s->job.n_join_fds; k++)
		close(chunk_fds[k]); /* the encoder has its own copies */
	s->job.join_fds = NULL;
	s->job.n_join_fds = 0;
	if (rc < 0) {
		/* The sandbox or encoder could not start: the host's trouble, maybe passing. */
		s->staged[0] = '\0';
		log_event("job_start_failed", s->job.id, "{s:s}", "error", err);
		w->m.retried++;
		hand_back(s, err);
		return;
	}
}

static void on_conn(struct queue_async *q, int connected, const char *msg, void *arg)
{
	struct worker *w = arg;

	(void)q;
	/* connected -1: Redis is still away, a note at a falling rate (queue.h). */
	w->redis_up = connected > 0;
	if (connected > 0 && !w->left)
		uv_timer_start(&w->announce, on_announce, 0, ANNOUNCE_MS);
	log_event(connected > 0	   ? "redis_connected"
		  : connected == 0 ? "redis_lost"
				   : "redis_retry",
		  NULL, "{s:s}", "detail", msg ? msg : "");
}

static void on_drop(struct queue_async *q, const char *entry, const char *reason, void *arg)
{
	struct worker *w = arg;

	(void)q;
	w->m.rejected++;
	log_event("entry_dead_lettered", NULL, "{s:s, s:s}", "entry", entry, "reason", reason);
}

static void on_cancel(struct queue_async *q, const char *id, void *arg)
{
	struct worker *w = arg;

	(void)q;
	for (unsigned i = 0; i < w->n_slots; i++) {
		struct slot *s = &w->slots[i];
		if (s->busy && !strcmp(s->qjob.id, id))
			stop_cancelled(s, "cancel list");
	}
}

static void on_refused(struct queue_async *q, int what, int refusing, const char *msg, void *arg)
{
	struct worker *w = arg;
	unsigned waiting = results_waiting(w);

	(void)q;
	if (what == QUEUE_REFUSED_CLAIMS) {
		log_event(refusing ? "claims_refused" : "claims_accepted", NULL, "{s:s}", "detail",
			  refusing ? msg : "Redis takes the fetch's writes again");
		return;
	}
	w->results_refused = refusing;
	if (refusing)
		log_event("results_refused", NULL, "{s:s, s:i, s:s}", "detail", msg, "waiting",
			  waiting, "action",
			  "results are kept and retried with backoff, leases are kept, no new job "
			  "is taken until Redis takes them");
	else
		log_event("results_accepted", NULL, "{s:i}", "waiting", waiting);
	update_hold(w);
}

/* ---- metrics: Prometheus text on a small HTTP port -------------------------------- */

static int metrics_body(void *opaque, char **body, size_t *len)
{
	const struct worker *w = opaque;
	struct metrics_gauges g = {.running = w->busy,
				   .results_waiting = results_waiting(w),
				   .redis_up = w->redis_up,
				   .claiming = claiming(w),
				   .disk_ok = w->disk_ok};
	struct pool_stats ps;

	if (w->pool) {
		pool_stats(w->pool, &ps);
		g.pool =
		    (struct metrics_pool){.on = 1,
					  .size = ps.size,
					  .ready = ps.ready,
					  .warming = ps.warming,
					  .idle_processes = ps.idle_processes,
					  .idle_memory_bytes = ps.idle_memory_bytes,
					  .zygote = ps.zygote,
					  .zygote_rss_bytes = ps.zygote_rss_bytes,
					  .taken = ps.taken,
					  .cold = ps.cold,
					  .started = ps.started,
					  .failed = ps.failed,
					  .expired = ps.expired,
					  .warm_seconds_last = (double)ps.warm_ms_last / 1000.0};
	}
	return metrics_text(&w->m, &g, body, len);
}

/* /metrics, and / as before (a scraper pointed at the bare port keeps working). */
static void metrics_listen(struct worker *w)
{
	char err[256];

	if (http_open_at(&w->http, w->loop, w->metrics_ip, (uint16_t)w->metrics_port, err,
			 sizeof(err)) < 0) {
		log_event("metrics_unavailable", NULL, "{s:i, s:s}", "port", w->metrics_port,
			  "error", err);
		return;
	}
	http_route(w->http, "/metrics", METRICS_CONTENT_TYPE, metrics_body, w);
	http_route(w->http, "/", METRICS_CONTENT_TYPE, metrics_body, w);
}

/* ---- shutdown --------------------------------------------------------------------- */

static void close_everything(struct worker *w)
{
	if (w->closed)
		return;
	w->closed = 1;
	uv_signal_stop(&w->sigterm);
	uv_signal_stop(&w->sigint);
	uv_close((uv_handle_t *)&w->sigterm, NULL);
	uv_close((uv_handle_t *)&w->sigint, NULL);
	uv_close((uv_handle_t *)&w->grace, NULL);
	uv_close((uv_handle_t *)&w->drain, NULL);
	uv_close((uv_handle_t *)&w->disk_timer, NULL);
	uv_close((uv_handle_t *)&w->announce, NULL);
	for (unsigned i = 0; i < w->n_slots; i++)
		uv_close((uv_handle_t *)&w->slots[i].heartbeat, NULL);
	for (unsigned i = 0; i < w->n_slots; i++)
		uv_close((uv_handle_t *)&w->slots[i].ship_timer, NULL);
	http_close(w->http);
	w->http = NULL;
	pool_close(w->pool, NULL, NULL);
	w->pool = NULL;
	/* Past the drain time a webhook or upload still on its way is dropped: said once,
	 * so an operator who misses a webhook finds why (an upload's job goes back to the
	 * queue when its lease ends; a webhook is not sent again). */
	if (delivery_pending(w->delivery))
		log_event("delivery_abandoned", NULL, "{s:i,s:s}", "pending",
			  (int)delivery_pending(w->delivery), "reason",
			  "the worker stopped before these were delivered (drain time over)");
	delivery_free(w->delivery);
	w->delivery = NULL;
	if (w->httpc)
		httpc_free(w->httpc);
	w->httpc = NULL;
	queue_async_close(w->q);
	log_event("worker_stopped", NULL, NULL);
}

/* Nothing left to send: no job, no write waiting for Redis, no webhook or upload on
 * its way. */
static int drained(const struct worker *w)
{
	return w->busy == 0 && queue_async_pending(w->q) == 0 &&
	       (!w->delivery || delivery_pending(w->delivery) == 0);
}

static void on_drain_tick(uv_timer_t *t)
{
	struct worker *w = t->data;

	/* Results wait for Redis a while (gone, or refusing writes), and webhooks for their
	 * receivers; past that they are lost to this worker (the jobs' leases send results
	 * to another one; a webhook not delivered by then is logged as failed). */
	if (drained(w) || ++w->drain_ticks > 100)
		close_everything(w);
}

/* Stopping, and no sandbox left: exit once what waits for Redis is answered, or after
 * the drain time. */
static void maybe_exit(struct worker *w)
{
	if (!w->stopping || w->closed)
		return;
	for (unsigned i = 0; i < w->n_slots; i++)
		if (w->slots[i].busy && w->slots[i].run)
			return;
	uv_timer_stop(&w->grace);
	if (w->busy == 0 && !w->left) {
		/* Out of the registry; the drain below waits for Redis's answer. */
		w->left = 1;
		uv_timer_stop(&w->announce);
		queue_async_announce(w->q, "{}", 1, NULL, NULL);
	}
	if (drained(w)) {
		close_everything(w);
		return;
	}
	if (!uv_is_active((uv_handle_t *)&w->drain))
		uv_timer_start(&w->drain, on_drain_tick, 100, 100);
}

static void on_grace_over(uv_timer_t *t)
{
	struct worker *w = t->data;

	log_event("grace_over", NULL, "{s:i}", "handing_back", w->busy);
	for (unsigned i = 0; i < w->n_slots; i++) {
		struct slot *s = &w->slots[i];
		if (s->busy && s->run) {
			s->handing_back = 1;
			jobrun_cancel(s->run, "the worker is shutting down");
		}
	}
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct worker *w = h->data;

	if (w->stopping) {
		on_grace_over(&w->grace);
		return;
	}
	w->stopping = 1;
	log_event("worker_stopping", NULL, "{s:i, s:i, s:i}", "signal", signum, "running", w->busy,
		  "grace_s", w->grace_s);
	queue_async_fetch_stop(w->q);
	if (w->redis_up)
		announce(w); /* "stopping": true, until it leaves */
	uv_timer_start(&w->grace, on_grace_over, (uint64_t)w->grace_s * 1000, 0);
	maybe_exit(w);
}

static const char worker_usage[] =
    "usage: reelbox worker [--redis URL] [--concurrency N] [--output-dir DIR] [--lease SEC]\n"
    "                      [--config FILE] [--grace SEC] [--metrics-port PORT]\n"
    "                      [--metrics-addr ADDR] [--pool N]\n";

/* What the command line asked for. Flags win over the environment, which won over the
 * config file: the ones that overlay the config are applied once it is loaded. */
struct worker_args {
	const char *redis, *conc, *outdir, *lease, *config, *pool;
	uint32_t grace_s;
	int metrics_port;
	struct in_addr metrics_ip;
};

/* A whole decimal number within [min, max]; -1 for anything else. */
static int flag_in_range(const char *s, long min, long max, long *v)
{
	char *end;

	*v = strtol(s, &end, 10);
	return *end || *v < min || *v > max ? -1 : 0;
}

/* 0, EXIT_USAGE after saying why, or -1 when --help was printed. */
static int worker_parse(int argc, char **argv, struct worker_args *a)
{
	enum {
		O_CONC = OPT_CLI_LAST + 1,
		O_OUT,
		O_LEASE,
		O_GRACE,
		O_METRICS,
		O_METRICS_ADDR,
		O_POOL
	};
	static const struct option opts[] = {
	    {"redis", required_argument, NULL, OPT_REDIS},
	    {"concurrency", required_argument, NULL, O_CONC},
	    {"output-dir", required_argument, NULL, O_OUT},
	    {"lease", required_argument, NULL, O_LEASE},
	    {"config", required_argument, NULL, OPT_CONFIG},
	    {"grace", required_argument, NULL, O_GRACE},
	    {"metrics-port", required_argument, NULL, O_METRICS},
	    {"metrics-addr", required_argument, NULL, O_METRICS_ADDR},
	    {"pool", required_argument, NULL, O_POOL},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	long v;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_REDIS:
			a->redis = optarg;
			break;
		case O_CONC:
			a->conc = optarg;
			break;
		case O_POOL:
			a->pool = optarg;
			break;
		case O_OUT:
			a->outdir = optarg;
			break;
		case O_LEASE:
			a->lease = optarg;
			break;
		case OPT_CONFIG:
			a->config = optarg;
			break;
		case O_GRACE:
			if (flag_in_range(optarg, 0, 86400, &v) < 0)
				return cli_usage_error(
				    "worker", "--grace '%s' is not 0..86400 seconds", optarg);
			a->grace_s = (uint32_t)v;
			break;
		case O_METRICS:
			if (flag_in_range(optarg, 0, 65535, &v) < 0)
				return cli_usage_error("worker",
						       "--metrics-port '%s' is not a port", optarg);
			a->metrics_port = (int)v;
			break;
		case O_METRICS_ADDR:
			/* An address is given only on purpose (a pod's Service): the counters
			 * hold no secret, but loopback stays the default. */
			if (inet_pton(AF_INET, optarg, &a->metrics_ip) != 1)
				return cli_usage_error(
				    "worker", "--metrics-addr '%.64s' is not an IPv4 address",
				    optarg);
			break;
		case 'h':
			fputs(worker_usage, stdout);
			return -1;
		default:
			fputs(worker_usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc)
		return cli_usage_error("worker", "unexpected argument '%s'", argv[optind]);
	return 0;
}

/* The config file and the environment, then the flags over them. */
static int worker_config(struct config *cfg, const struct worker_args *a)
{
	long v;
	int rc = cli_load_config("worker", a->config, cfg);

	if (rc)
		return rc;
	if (a->redis)
		snprintf(cfg->redis_url, sizeof(cfg->redis_url), "%s", a->redis);
	if (a->conc) {
		if (flag_in_range(a->conc, 1, 1024, &v) < 0)
			return cli_usage_error("worker", "--concurrency '%s' is not 1..1024",
					       a->conc);
		cfg->concurrency = (int)v;
	}
	if (a->pool) {
		if (flag_in_range(a->pool, 0, 64, &v) < 0)
			return cli_usage_error("worker", "--pool '%s' is not 0..64 warm sandboxes",
					       a->pool);
		cfg->pool.python3 = (int)v;
	}
	if (a->outdir)
		snprintf(cfg->output_dir, sizeof(cfg->output_dir), "%s", a->outdir);
	if (a->lease) {
		if (flag_in_range(a->lease, 1, 86400, &v) < 0)
			return cli_usage_error("worker", "--lease '%s' is not 1..86400 seconds",
					       a->lease);
		cfg->lease_s = (uint32_t)v;
	}
	return 0;
}

/* The output dir, made if missing and named by its absolute path from here on:
 * results name their video by it, and a producer does not know our cwd. */
static int resolve_output_dir(struct config *cfg)
{
	char *abs_out;

	if (mkdir(cfg->output_dir, 0755) < 0 && errno != EEXIST)
		return cli_usage_error("worker", "cannot create output dir '%s': %s",
				       cfg->output_dir, strerror(errno));
	abs_out = realpath(cfg->output_dir, NULL);
	if (!abs_out || strlen(abs_out) >= sizeof(cfg->output_dir)) {
		free(abs_out);
		return cli_usage_error("worker", "cannot resolve output dir '%s'", cfg->output_dir);
	}
	snprintf(cfg->output_dir, sizeof(cfg->output_dir), "%s", abs_out);
	free(abs_out);
	return 0;
}

/* This worker's private work dir, output_dir/.work/<host>-<pid>, after sweeping the
 * ones of this host's dead workers. */
static int make_work_dir(struct worker *w)
{
	const char *out = w->cfg.output_dir;
	char host[128] = "";

	gethostname(host, sizeof(host) - 1);
	if (outdir_path(w->work_dir, sizeof(w->work_dir), "%s/.work", out) < 0)
		return cli_usage_error("worker", "output dir '%s' is too long", out);
	mkdir(w->work_dir, 0700);
	outdir_sweep_work_dirs(out);
	if (outdir_path(w->work_dir, sizeof(w->work_dir), "%s/.work/%s-%d", out, host,
			(int)getpid()) < 0 ||
	    (mkdir(w->work_dir, 0700) < 0 && errno != EEXIST))
		return cli_usage_error("worker", "cannot create work dir '%s': %s", w->work_dir,
				       strerror(errno));
	return 0;
}

/* A sandbox of every enabled tier, started once before any job: a tier that cannot
 * start stops the worker here, rather than failing (or, worse, moving) its jobs. */
static int check_tiers(struct worker *w)
{
	int rc;

	for (int t = 0; t < SANDBOX_TIER_COUNT; t++)
		if ((w->cfg.tiers.enabled & TIER_BIT(t)) &&
		    (rc = cli_check_tier("worker", &w->cfg, (enum sandbox_tier)t, w->tier_info[t],
					 sizeof(w->tier_info[t]))))
			return rc;
	return 0;
}

/* {"native": "namespaces, seccomp, cgroup v2", "gvisor": "runsc ..."}: the enabled tiers,
 * as check_tiers found them. */
static json_t *tiers_json(const struct worker *w)
{
	json_t *o = json_object();

	for (int t = 0; o && t < SANDBOX_TIER_COUNT; t++)
		if (w->cfg.tiers.enabled & TIER_BIT(t))
			json_object_set_new(o, sandbox_tier_name((enum sandbox_tier)t),
					    json_string(w->tier_info[t]));
	return o;
}

/* Everything before the loop: configuration, the output and work dirs, the sweep of
 * stale sandboxes (*swept counts them) and the encoder server. */
static int worker_prepare(struct worker *w, const struct worker_args *a, int *swept)
{
	char err[256];
	int rc;

	w->grace_s = a->grace_s;
	w->metrics_port = a->metrics_port;
	w->metrics_ip = a->metrics_ip;
	w->disk_ok = 1;
	if ((rc = worker_config(&w->cfg, a)) || (rc = resolve_output_dir(&w->cfg)) ||
	    (rc = make_work_dir(w)))
		return rc;
	*swept = sandbox_sweep_stale(w->cfg.state_dir[0] ? w->cfg.state_dir : NULL);
	if ((rc = check_tiers(w)))
		return rc;
	/* The model's key is taken out of the environment before any process starts and
	 * lives only in this process from here on (modelcfg.h). */
	rc = modelcfg_load(&w->model, &w->cfg, err, sizeof(err));
	if (rc < 0)
		return cli_usage_error("worker", "%s", err);
	w->have_model = rc == 0;
	/* The webhook's secret, like the key: out of the environment before any child. */
	w->webhook_secret = delivery_secret_from_env(DELIVERY_SECRET_ENV);
	/* libav is loaded once, in the encoder server, not per job. */
	if (encoder_server_start(err, sizeof(err)) < 0)
		return cli_usage_error("worker", "%s", err);
	return 0;
}

/* One slot per job at once, each with its heartbeat timer. */
static int make_slots(struct worker *w)
{
	w->n_slots = (unsigned)w->cfg.concurrency;
	w->slots = calloc(w->n_slots, sizeof(*w->slots));
	if (!w->slots)
		return cli_usage_error("worker", "out of memory");
	for (unsigned i = 0; i < w->n_slots; i++) {
		w->slots[i].w = w;
		w->slots[i].index = i;
		uv_timer_init(w->loop, &w->slots[i].heartbeat);
		w->slots[i].heartbeat.data = &w->slots[i];
		uv_timer_init(w->loop, &w->slots[i].ship_timer);
		w->slots[i].ship_timer.data = &w->slots[i];
	}
	return 0;
}

static int open_queue(struct worker *w)
{
	struct queue_opts qo;
	struct queue_async_callbacks cbs = {.on_job = on_job,
					    .on_conn = on_conn,
					    .on_drop = on_drop,
					    .on_cancel = on_cancel,
					    .on_refused = on_refused,
					    .arg = w};
	char err[512];

	cli_queue_opts(&qo, &w->cfg);
	if (queue_async_open(&w->q, w->loop, w->cfg.redis_url, &qo, NULL, &cbs, err, sizeof(err)) <
	    0)
		return cli_usage_error("worker", "%s", err);
	return 0;
}

/* Signals, the worker's timers and the test hooks. */
static void start_handles(struct worker *w)
{
	const char *hook = getenv("REELBOX_TEST_HOOK");

	uv_signal_init(w->loop, &w->sigterm);
	uv_signal_init(w->loop, &w->sigint);
	w->sigterm.data = w->sigint.data = w;
	uv_signal_start(&w->sigterm, on_signal, SIGTERM);
	uv_signal_start(&w->sigint, on_signal, SIGINT);
	/* A frame pipe closed by the encoder must not kill the worker. */
	signal(SIGPIPE, SIG_IGN);
	uv_timer_init(w->loop, &w->grace);
	uv_timer_init(w->loop, &w->drain);
	uv_timer_init(w->loop, &w->disk_timer);
	w->grace.data = w->drain.data = w->disk_timer.data = w;
	uv_timer_init(w->loop, &w->announce);
	w->announce.data = w;
	w->started_at = (uint64_t)time(NULL) * 1000;
	/* Test hooks only tests/it_faults.sh sets: stop between the final heartbeat and
	 * the rename, or between the rename and the completion. */
	w->hook_stop_before_rename = hook && !strcmp(hook, "stop-before-rename");
	w->hook_stop_before_complete = hook && !strcmp(hook, "stop-before-complete");
	if (w->metrics_port)
		metrics_listen(w);
}

/* The loop, until a signal has stopped the worker and its jobs have drained. */
static int worker_run(struct worker *w, int swept)
{
	uv_loop_t loop;
	char why[512];
	struct pool_stats ps = {0};
	int rc;

	uv_loop_init(&loop);
	w->loop = &loop;
	if ((rc = make_slots(w)) || (rc = open_queue(w)))
		return rc;
	if (httpc_new(&w->httpc, w->loop, why, sizeof(why)) < 0)
		return cli_usage_error("worker", "%s", why);
	if (delivery_new(&w->delivery, w->httpc) < 0)
		return cli_usage_error("worker", "out of memory");
	start_handles(w);
	/* The pool's slots follow the jobs': at most concurrency taken members running, size
	 * ready and one warming at once. */
	if (pool_new(w->loop, &w->cfg, w->n_slots, w->n_slots + (unsigned)w->cfg.pool.python3 + 1,
		     &w->pool, why, sizeof(why)) < 0)
		return cli_usage_error("worker", "%s", why);
	if (w->pool) {
		pool_stats(w->pool, &ps);
		pool_set_log(w->pool, pool_log, w);
	}
	/* The model is named by its URL and name only: the key is never logged. "limits"
	 * says which limits hold here (rootless, no cgroups), never silently. */
	log_event("worker_started", NULL,
		  "{s:s, s:i, s:i, s:b, s:s?, s:s, s:i, s:i, s:s?, s:s?, s:o?, s:o?, s:s}",
		  "consumer", queue_async_consumer(w->q), "concurrency", w->cfg.concurrency, "pool",
		  w->pool ? w->cfg.pool.python3 : 0, "pool_zygote", w->pool && ps.zygote,
		  "pool_zygote_off", w->pool ? ps.zygote_why : NULL, "output_dir",
		  w->cfg.output_dir, "lease_s", (int)w->cfg.lease_s, "swept", swept, "model_url",
		  w->have_model ? w->cfg.model.url : NULL, "model",
		  w->have_model ? w->cfg.model.name : NULL, "limits", cli_limits_json(), "tiers",
		  tiers_json(w), "default_tier", sandbox_tier_name(w->cfg.tiers.dflt));
	if (disk_check(w, 1, why, sizeof(why)) < 0)
		disk_bad(w, why);
	queue_async_fetch(w->q, w->n_slots);
	uv_run(&loop, UV_RUN_DEFAULT);

	rmdir(w->work_dir);
	uv_loop_close(&loop);
	free(w->slots);
	modelcfg_free(&w->model);
	if (w->webhook_secret)
		explicit_bzero(w->webhook_secret, strlen(w->webhook_secret));
	free(w->webhook_secret);
	return 0;
}

int cmd_worker(int argc, char **argv)
{
	struct worker_args a = {.grace_s = DEFAULT_GRACE_S,
				.metrics_ip = {.s_addr = htonl(INADDR_LOOPBACK)}};
	struct worker w = {0};
	int rc, swept = 0;

	metrics_init(&w.m);

	rc = worker_parse(argc, argv, &a);
	if (rc)
		return rc < 0 ? 0 : rc;
	if ((rc = worker_prepare(&w, &a, &swept)))
		return rc;
	return worker_run(&w, swept);
}
