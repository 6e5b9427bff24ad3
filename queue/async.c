/* async.c - the worker's queue client on a libuv loop (hiredis's libuv adapter).
 *
 * Three connections: "fetch" carries the take script and the blocking wait on the
 * doorbell, "command" carries heartbeats, progress and results, so a heartbeat never
 * waits behind a blocked read, and "cancel" blocks on this worker's cancel list, so a
 * cancel reaches it at once whatever the other two are doing. When Redis goes away,
 * each connection schedules its own reconnect on a timer with exponential backoff
 * (100 ms doubling to 5 s); nothing spins. A connection counts as up once Redis has
 * answered on it, not when the TCP connect completes (a Redis frozen in DEBUG SLEEP or
 * a long script accepts connections it does not serve).
 *
 * Operations that must not be lost (heartbeat, complete, retry, reject) wait in a
 * bounded list while the command connection is down, and a command whose reply was
 * lost with the connection goes back to that list: the scripts make a replay harmless
 * (a completion replayed by the same claim answers "already"). When Redis refuses a
 * write for now (OOM at maxmemory, MISCONF after a failed save, NOREPLICAS), such an
 * operation is kept too and sent again after a backoff (250 ms doubling to 5 s), and
 * the owner is told (on_refused); a refused fetch backs off the same way. Every error
 * path of the fetch waits before it tries again.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libuv.h>

#include "queue_internal.h"

#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 5000
/* While Redis stays away, notes on_conn(-1) this far apart, doubling. */
#define DOWN_NOTE_MIN_MS 1000
#define DOWN_NOTE_MAX_MS 60000
#define PENDING_MAX	 1024
#define PAUSE_MIN_MS	 250 /* after an error: the fetch, or a refused write */
#define PAUSE_MAX_MS	 5000

/* C_HELLO: the TCP connect completed, Redis has not answered yet. C_DIALING: rediss://,
 * the TLS bridge is connecting on libuv's thread pool (tls.c), hiredis not yet. */
enum { C_DOWN = 0, C_CONNECTING, C_HELLO, C_UP, C_RESETTING, C_DIALING };

struct qconn {
	struct queue_async *q;
	const char *name;
	redisAsyncContext *ac;
	int state;
	uv_timer_t timer; /* the reconnect */
	uint32_t backoff_ms;
	unsigned outstanding; /* commands sent and not answered */
	uint64_t since;	      /* when it started connecting, or last made progress */
	struct qlimit lim;    /* what one reply may cost */
	uv_work_t dial;	      /* rediss://: qtls_dial off the loop */
	int dial_rc;
	char dial_path[108];
	char dial_err[QUEUE_ERR_MAX];
};

struct qop {
	struct qop *next;
	struct queue_async *q;
	struct qcmd cmd;
	int durable;
	int refused; /* Redis refused it at least once; counted in n_refused */
	queue_done_cb cb;
	void *arg;
	char id[QUEUE_ID_MAX];
};

enum fetch_phase { F_IDLE = 0, F_TAKE, F_WAIT, F_CLAIM, F_DROP };

struct queue_async {
	uv_loop_t *loop;
	struct queue_opts o;
	char prefix[64];
	char group[64];
	struct queue_url url;
	struct qtls *tls; /* rediss://: the bridge every connection goes through */
	char consumer[128];
	struct queue_async_callbacks cbs;
	char sha[QS_COUNT][48];
	struct qconn cmd, blk, ctl;

	struct qop *pend_head, *pend_tail; /* waiting for the command connection */
	size_t n_pending, n_inflight;
	struct qop *held_head, *held_tail; /* refused by Redis, waiting for refuse_timer */
	size_t n_held, n_refused;
	uv_timer_t refuse_timer;
	uint32_t refuse_backoff_ms;

	unsigned want;
	int hold;	       /* the owner holds the fetch */
	int phase;	       /* what the fetch connection is doing */
	struct qcmd fetch_cmd; /* the fetch command in flight (kept for a NOSCRIPT resend) */
	uv_timer_t fetch_timer;
	uint32_t fetch_backoff_ms;
	int take_refused;
	char cursor[QUEUE_ENTRY_MAX];
	struct qentry fe; /* the entry being claimed; fe.doc points at fetch_doc */
	char *fetch_doc;

	struct qcmd ctl_cmd; /* the BLPOP on this worker's cancel list */
	int ctl_busy;	     /* sent, or pausing on ctl_timer */
	uv_timer_t ctl_timer;

	uv_timer_t watchdog;

	int closing;
	int open_handles;
	int said_up, said_down;
	uint64_t down_since;	 /* when Redis went away (uv_now) */
	uint64_t next_down_note; /* when the next still-down note is due */
	uint32_t down_note_gap;	 /* between notes: doubles up to DOWN_NOTE_MAX_MS */
};

static void conn_start(struct qconn *cn);
static void fetch_kick(struct queue_async *q);
static void ctl_kick(struct queue_async *q);
static void flush_pending(struct queue_async *q);

/* Every reply, even an error, is progress. */
static void note_reply(struct qconn *cn)
{
	if (cn->outstanding)
		cn->outstanding--;
	cn->since = uv_now(cn->q->loop);
}

static void note_sent(struct qconn *cn)
{
	if (cn->outstanding++ == 0)
		cn->since = uv_now(cn->q->loop);
}

/* ---- Connection ---- */

static void report(struct queue_async *q, const char *msg)
{
	int up = q->cmd.state == C_UP && q->blk.state == C_UP && q->ctl.state == C_UP;
	char buf[QUEUE_ERR_MAX];

	if (q->closing || !q->cbs.on_conn)
		return;
	if (up && !q->said_up) {
		q->said_up = 1;
		q->said_down = 0;
		snprintf(buf, sizeof(buf), "connected to Redis at %.100s%s", q->url.where,
			 !q->url.is_tls	   ? ""
			 : q->url.insecure ? " over TLS; WARNING: its certificate is not checked "
					     "(?insecure=1)"
					   : " over TLS");
		q->cbs.on_conn(q, 1, buf, q->cbs.arg);
	} else if (!up && !q->said_down && msg) {
		q->said_down = 1;
		q->said_up = 0;
		q->down_since = uv_now(q->loop);
		q->down_note_gap = DOWN_NOTE_MIN_MS;
		q->next_down_note = q->down_since + q->down_note_gap;
		q->cbs.on_conn(q, 0, msg, q->cbs.arg);
	} else if (!up && q->said_down && msg && uv_now(q->loop) >= q->next_down_note) {
		/* Still away: a note at a falling rate, so a log shows the client alive and
		 * retrying without a line per attempt. */
		uint64_t now = uv_now(q->loop);

		snprintf(buf, sizeof(buf), "still no Redis after %.0f s: %.200s",
			 (double)(now - q->down_since) / 1000, msg);
		q->down_note_gap = q->down_note_gap * 2 > DOWN_NOTE_MAX_MS ? DOWN_NOTE_MAX_MS
									   : q->down_note_gap * 2;
		q->next_down_note = now + q->down_note_gap;
		q->cbs.on_conn(q, -1, buf, q->cbs.arg);
	}
}

static void reconnect_cb(uv_timer_t *t)
{
	conn_start(t->data);
}

/* The connection is gone (or never came): try again after the backoff, with up to
 * a quarter of jitter so a fleet of workers does not reconnect in step. */
static void conn_lost(struct qconn *cn, const char *why)
{
	struct queue_async *q = cn->q;
	char msg[QUEUE_ERR_MAX + 256]; /* room for a TLS failure's whole sentence */
	uint32_t delay;

	cn->ac = NULL;
	cn->state = C_DOWN;
	cn->outstanding = 0;
	if (q->closing)
		return;
	if (cn == &q->blk)
		q->phase = F_IDLE;
	if (cn == &q->ctl)
		q->ctl_busy = 0;
	delay = cn->backoff_ms + (uint32_t)(random() % (cn->backoff_ms / 4 + 1));
	snprintf(msg, sizeof(msg),
		 "lost Redis at %.100s (%s connection): %.175s; next attempt in %.1f s",
		 q->url.where, cn->name, why && *why ? why : "connection closed",
		 (double)delay / 1000);
	report(q, msg);
	cn->backoff_ms =
	    cn->backoff_ms * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : cn->backoff_ms * 2;
	uv_timer_start(&cn->timer, reconnect_cb, delay, 0);
}

/* Drop a connection that answers but cannot serve us (loading, auth): disconnect
 * gracefully; the disconnect callback schedules the reconnect. */
static void conn_reset(struct qconn *cn)
{
	if (cn->ac && (cn->state == C_UP || cn->state == C_HELLO || cn->state == C_CONNECTING)) {
		cn->state = C_RESETTING;
		redisAsyncDisconnect(cn->ac);
	}
}

static int send_cmd(struct qconn *cn, struct qcmd *c, redisCallbackFn *fn, void *priv)
{
	struct queue_async *q = cn->q;
	const char *argv[QCMD_MAXARGS + 2];
	size_t len[QCMD_MAXARGS + 2];
	int argc;

	if (!cn->ac || cn->state == C_DOWN || cn->state == C_RESETTING)
		return -ENOTCONN;
	argc = qcmd_argv(c, c->script >= 0 ? q->sha[c->script] : NULL, argv, len);
	if (redisAsyncCommandArgv(cn->ac, fn, priv, argc, argv, len) != REDIS_OK)
		return -ENOTCONN;
	note_sent(cn);
	return 0;
}

/* Error replies that say "not now" rather than "no": the command is replayed after a
 * reconnect instead of failing. */
static int transient(const redisReply *r)
{
	static const char *const words[] = {"LOADING",	"BUSY",	    "NOAUTH",	   "MASTERDOWN",
					    "READONLY", "TRYAGAIN", "CLUSTERDOWN", NULL};
	for (int i = 0; words[i]; i++)
		if (!strncmp(r->str, words[i], strlen(words[i])))
			return 1;
	return 0;
}

static void on_script_load(redisAsyncContext *ac, void *reply, void *priv)
{
	redisReply *r = reply;
	struct qconn *cn = ac->data;
	intptr_t script = (intptr_t)priv;

	if (!r || !cn || cn->q->closing)
		return;
	note_reply(cn);
	if (r->type == REDIS_REPLY_STRING && r->len < sizeof(cn->q->sha[0]))
		memcpy(cn->q->sha[script], r->str, r->len + 1);
}

static void on_preamble(redisAsyncContext *ac, void *reply, void *priv)
{
	redisReply *r = reply;
	struct qconn *cn = ac->data;
	char msg[QUEUE_ERR_MAX];

	if (!r || !cn || cn->q->closing)
		return;
	note_reply(cn);
	if (r->type != REDIS_REPLY_ERROR)
		return;
	snprintf(msg, sizeof(msg), "Redis at %.120s refused %s: %.100s", cn->q->url.where,
		 (const char *)priv, r->str);
	cn->q->said_down = 0;
	report(cn->q, msg);
	conn_reset(cn);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
	struct qconn *cn = ac->data;

	if (!cn)
		return;
	if (status != REDIS_OK) {
		char why[160];
		snprintf(why, sizeof(why), "%s", ac->errstr);
		/* hiredis frees the context after this callback. */
		conn_lost(cn, why);
		return;
	}
	if (cn->q->closing)
		return;
	/* Up when the PING queued behind the scripts is answered (on_ready). */
	cn->state = C_HELLO;
	cn->since = uv_now(cn->q->loop);
}

/* Redis answered the first commands on this connection: now it is up. An error
 * (LOADING while Redis reads its data) means not yet: reconnect after the backoff. */
static void on_ready(redisAsyncContext *ac, void *reply, void *priv)
{
	redisReply *r = reply;
	struct qconn *cn = ac->data;
	struct queue_async *q;

	(void)priv;
	if (!r || !cn || cn->q->closing)
		return;
	q = cn->q;
	note_reply(cn);
	if (r->type == REDIS_REPLY_ERROR) {
		conn_reset(cn);
		return;
	}
	if (cn->state != C_HELLO)
		return;
	cn->state = C_UP;
	cn->backoff_ms = RECONNECT_MIN_MS;
	report(q, NULL);
	if (cn == &q->cmd)
		flush_pending(q);
	else if (cn == &q->blk)
		fetch_kick(q);
	else
		ctl_kick(q);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct qconn *cn = ac->data;

	if (!cn)
		return;
	conn_lost(cn, cn->lim.tripped	   ? cn->lim.why
		      : status == REDIS_OK ? "disconnected"
					   : ac->errstr);
}

static void conn_abort(struct qconn *cn, const char *why);

/* hiredis 0.14's libuv adapter drops poll errors: when connect() is refused, libuv
 * reports POLLERR as a failed poll and stops watching, the adapter returns without
 * telling hiredis, and the connection hangs forever. These replacements for its
 * event hooks hand an error to hiredis as the events it waited for, so its own read
 * or connect check finds the error and closes the context (as hiredis 1.x does).
 *
 * The hooks also bound what one reply may buffer: hiredis waits for a whole bulk
 * string before it parses it, so a 400 MB value would be 400 MB here before anyone
 * could refuse it. Past the connection's limit the connection is dropped (and made
 * again), with the rest of that reply unread. */
static void poll_cb(uv_poll_t *handle, int status, int events)
{
	redisLibuvEvents *p = handle->data;
	int ev = status ? p->events : events;
	struct qconn *cn;

	if (p->context && (ev & UV_READABLE)) {
		redisAsyncHandleRead(p->context);
		if (p->context && (cn = p->context->data) &&
		    qlimit_buffered_over(&p->context->c, &cn->lim)) {
			conn_abort(cn, cn->lim.why);
			return; /* p is freed with the context */
		}
	}
	if (p->context && (ev & UV_WRITABLE))
		redisAsyncHandleWrite(p->context);
}

static void poll_update(redisLibuvEvents *p)
{
	if (p->events)
		uv_poll_start(&p->handle, p->events, poll_cb);
	else
		uv_poll_stop(&p->handle);
}

static void ev_add_read(void *privdata)
{
	((redisLibuvEvents *)privdata)->events |= UV_READABLE;
	poll_update(privdata);
}

static void ev_del_read(void *privdata)
{
	((redisLibuvEvents *)privdata)->events &= ~UV_READABLE;
	poll_update(privdata);
}

static void ev_add_write(void *privdata)
{
	((redisLibuvEvents *)privdata)->events |= UV_WRITABLE;
	poll_update(privdata);
}

static void ev_del_write(void *privdata)
{
	((redisLibuvEvents *)privdata)->events &= ~UV_WRITABLE;
	poll_update(privdata);
}

/* Give up on a connection that does not answer: a connect that neither succeeds nor
 * fails, or commands with no reply long past their time (a peer gone without a
 * FIN, a black-holed network). Pending callbacks run with no reply, so durable
 * operations go back to the replay list. */
static void conn_abort(struct qconn *cn, const char *why)
{
	redisAsyncContext *ac = cn->ac;

	if (!ac)
		return;
	ac->data = NULL; /* no disconnect callback: conn_lost below does its work */
	redisAsyncFree(ac);
	conn_lost(cn, why);
}

static void watchdog_cb(uv_timer_t *t)
{
	struct queue_async *q = t->data;
	uint64_t now = uv_now(q->loop);
	uint64_t connect_ms = q->o.connect_timeout_ms ? q->o.connect_timeout_ms : 2000;
	struct qconn *conns[3] = {&q->cmd, &q->blk, &q->ctl};

	for (int i = 0; i < 3; i++) {
		struct qconn *cn = conns[i];
		/* The fetch and cancel connections' replies may wait out a BLOCK. */
		uint64_t stall_ms = 10000 + (cn != &q->cmd ? q->o.poll_ms : 0);
		if (cn->state == C_CONNECTING && now - cn->since > connect_ms)
			conn_abort(cn, "connect timed out");
		else if ((cn->state == C_UP || cn->state == C_HELLO) && cn->outstanding &&
			 now - cn->since > stall_ms)
			conn_abort(cn, "no reply for 10 seconds");
	}
}

static void conn_hiredis(struct qconn *cn, const char *path);
static void release(struct queue_async *q);

static void dial_work(uv_work_t *w)
{
	struct qconn *cn = w->data;

	cn->dial_rc = qtls_dial(cn->q->tls, cn->q->o.connect_timeout_ms, cn->dial_path,
				cn->dial_err, sizeof(cn->dial_err));
}

/* The bridge answered: connect hiredis to its socket, or wait out the backoff with the
 * sentence (a certificate refused, no client certificate) as the reason. A pump whose
 * socket nobody connects to ends by itself after the connect timeout. */
static void dial_done(uv_work_t *w, int status)
{
	struct qconn *cn = w->data;
	struct queue_async *q = cn->q;

	cn->state = C_DOWN;
	if (q->closing) {
		release(q);
		return;
	}
	release(q); /* q lives on: its timers are open while it is not closing */
	if (status < 0)
		conn_lost(cn, "the TLS bridge did not run");
	else if (cn->dial_rc < 0)
		conn_lost(cn, cn->dial_err);
	else
		conn_hiredis(cn, cn->dial_path);
}

static void conn_start(struct qconn *cn)
{
	struct queue_async *q = cn->q;

	if (q->closing || cn->ac || cn->state == C_DIALING)
		return;
	if (!q->tls) {
		conn_hiredis(cn, NULL);
		return;
	}
	cn->dial.data = cn;
	if (uv_queue_work(q->loop, &cn->dial, dial_work, dial_done) < 0) {
		conn_lost(cn, "cannot start the TLS bridge");
		return;
	}
	q->open_handles++; /* the client stays until dial_done has run */
	cn->state = C_DIALING;
	cn->since = uv_now(q->loop);
}

/* hiredis's connection: to Redis, or (path) to the TLS bridge's socket. */
static void conn_hiredis(struct qconn *cn, const char *path)
{
	struct queue_async *q = cn->q;
	redisAsyncContext *ac;

	ac = path	      ? redisAsyncConnectUnix(path)
	     : q->url.is_unix ? redisAsyncConnectUnix(q->url.path)
			      : redisAsyncConnect(q->url.host, q->url.port);
	if (!ac) {
		conn_lost(cn, "out of memory");
		return;
	}
	if (ac->err) {
		char why[160];
		snprintf(why, sizeof(why), "%s", ac->errstr);
		redisAsyncFree(ac);
		conn_lost(cn, why);
		return;
	}
	if (redisLibuvAttach(ac, q->loop) != REDIS_OK) {
		redisAsyncFree(ac);
		conn_lost(cn, "cannot watch the socket");
		return;
	}
	ac->ev.addRead = ev_add_read;
	ac->ev.delRead = ev_del_read;
	ac->ev.addWrite = ev_add_write;
	ac->ev.delWrite = ev_del_write;
	if (!q->url.is_unix && !path)
		redisEnableKeepAlive(&ac->c);
	/* The fetch connection carries job documents (up to the cap); the others only
	 * short answers. */
	qlimit_attach(&ac->c, &cn->lim,
		      cn == &q->blk ? queue_doc_cap(&q->o) + QUEUE_REPLY_SLACK : QUEUE_SMALL_REPLY);
	ac->data = cn;
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	cn->ac = ac;
	cn->state = C_CONNECTING;
	cn->outstanding = 0;
	cn->since = uv_now(q->loop);

	/* Queued ahead of everything else on this connection. */
	if (q->url.pass[0]) {
		if (q->url.user[0])
			redisAsyncCommand(ac, on_preamble, "AUTH", "AUTH %s %s", q->url.user,
					  q->url.pass);
		else
			redisAsyncCommand(ac, on_preamble, "AUTH", "AUTH %s", q->url.pass);
		note_sent(cn);
	}
	if (q->url.db) {
		redisAsyncCommand(ac, on_preamble, "SELECT", "SELECT %d", q->url.db);
		note_sent(cn);
	}
	for (intptr_t i = 0; cn != &q->ctl && i < QS_COUNT; i++) {
		redisAsyncCommand(ac, on_script_load, (void *)i, "SCRIPT LOAD %s",
				  queue_scripts[i]);
		note_sent(cn);
	}
	redisAsyncCommand(ac, on_ready, NULL, "PING");
	note_sent(cn);
}

/* ---- Operations ---- */

static void refused_news(struct queue_async *q, int what, int refusing, const char *msg)
{
	if (!q->closing && q->cbs.on_refused)
		q->cbs.on_refused(q, what, refusing, msg, q->cbs.arg);
}

static void op_finish(struct qop *op, int status, const char *msg)
{
	struct queue_async *q = op->q;

	if (op->refused && --q->n_refused == 0) {
		q->refuse_backoff_ms = PAUSE_MIN_MS;
		refused_news(q, QUEUE_REFUSED_RESULTS, 0, NULL);
	}
	if (op->cb)
		op->cb(q, status, msg, op->arg);
	qcmd_free(&op->cmd);
	free(op);
}

static void pend(struct queue_async *q, struct qop *op)
{
	op->next = NULL;
	if (q->pend_tail)
		q->pend_tail->next = op;
	else
		q->pend_head = op;
	q->pend_tail = op;
	q->n_pending++;
}

static void op_reply(redisAsyncContext *ac, void *reply, void *priv);
static void op_send(struct qop *op);

static void refuse_timer_cb(uv_timer_t *t)
{
	struct queue_async *q = t->data;
	struct qop *op = q->held_head;

	q->held_head = q->held_tail = NULL;
	q->n_held = 0;
	q->refuse_backoff_ms =
	    q->refuse_backoff_ms * 2 > PAUSE_MAX_MS ? PAUSE_MAX_MS : q->refuse_backoff_ms * 2;
	while (op) {
		struct qop *next = op->next;
		op_send(op);
		op = next;
	}
}

/* Redis refused op's write for now: keep it, send it again after the backoff. */
static void op_hold(struct queue_async *q, struct qop *op, const char *msg)
{
	op->next = NULL;
	if (q->held_tail)
		q->held_tail->next = op;
	else
		q->held_head = op;
	q->held_tail = op;
	q->n_held++;
	if (!op->refused) {
		op->refused = 1;
		if (q->n_refused++ == 0)
			refused_news(q, QUEUE_REFUSED_RESULTS, 1, msg);
	}
	if (!uv_is_active((uv_handle_t *)&q->refuse_timer))
		uv_timer_start(&q->refuse_timer, refuse_timer_cb, q->refuse_backoff_ms, 0);
}

static void op_send(struct qop *op)
{
	struct queue_async *q = op->q;

	if (send_cmd(&q->cmd, &op->cmd, op_reply, op) == 0)
		q->n_inflight++;
	else if (op->durable)
		pend(q, op);
	else
		op_finish(op, -ENOTCONN, "Redis is unreachable; progress not recorded");
}

static void flush_pending(struct queue_async *q)
{
	struct qop *op = q->pend_head;

	q->pend_head = q->pend_tail = NULL;
	q->n_pending = 0;
	while (op) {
		struct qop *next = op->next;
		op_send(op);
		op = next;
	}
}

static void op_reply(redisAsyncContext *ac, void *reply, void *priv)
{
	struct qop *op = priv;
	struct queue_async *q = op->q;
	redisReply *r = reply;
	char msg[QUEUE_ERR_MAX] = "";
	int rc;

	(void)ac;
	q->n_inflight--;
	if (r)
		note_reply(&q->cmd);
	if (!r) {
		if (q->closing)
			op_finish(op, -ECANCELED, "the queue client was closed");
		else if (op->durable)
			pend(q, op); /* sent, answer lost: replayed after the reconnect */
		else
			op_finish(op, -ENOTCONN, "Redis went away");
		return;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		if (!strncmp(r->str, "NOSCRIPT", 8) && op->cmd.script >= 0) {
			q->sha[op->cmd.script][0] = '\0';
			op_send(op); /* as EVAL */
			return;
		}
		if (transient(r) && !q->closing) {
			snprintf(msg, sizeof(msg), "%s", r->str);
			if (op->durable)
				pend(q, op);
			else
				op_finish(op, -EAGAIN, msg);
			conn_reset(&q->cmd);
			return;
		}
		snprintf(msg, sizeof(msg), "Redis at %.100s answered: %.120s", q->url.where,
			 r->str);
		if (qreply_refused(r) && !q->closing) {
			/* The connection is fine; Redis will not take this write yet. */
			if (op->durable)
				op_hold(q, op, msg);
			else
				op_finish(op, -EAGAIN, msg);
			return;
		}
		op_finish(op, -EIO, msg);
		return;
	}
	switch (op->cmd.script) {
	case QS_HEARTBEAT:
	case QS_PROGRESS:
	case QS_LOG:
	case QS_ANNOUNCE:
		rc = qreply_heartbeat(r, op->id, NULL, msg, sizeof(msg));
		break;
	default:
		rc = qreply_finish(r, op->cmd.script, op->id, msg, sizeof(msg));
		break;
	}
	op_finish(op, rc, msg);
}

/* Take ownership of c and send it now, or keep it for the reconnect. */
static int op_start(struct queue_async *q, struct qcmd *c, int durable, const char *id,
		    queue_done_cb cb, void *arg)
{
	struct qop *op;

	if (q->closing) {
		qcmd_free(c);
		return -ECANCELED;
	}
	if (q->cmd.state != C_UP && !durable) {
		qcmd_free(c);
		return -ENOTCONN;
	}
	if (q->cmd.state != C_UP && q->n_pending >= PENDING_MAX) {
		qcmd_free(c);
		return -ENOBUFS;
	}
	if (!(op = calloc(1, sizeof(*op)))) {
		qcmd_free(c);
		return -ENOMEM;
	}
	op->q = q;
	op->cmd = *c;
	op->durable = durable;
	op->cb = cb;
	op->arg = arg;
	snprintf(op->id, sizeof(op->id), "%s", id);
	if (q->cmd.state == C_UP)
		op_send(op);
	else
		pend(q, op);
	return 0;
}

int queue_async_heartbeat(struct queue_async *q, const struct queue_job *job, queue_done_cb cb,
			  void *arg)
{
	struct qcmd c;
	int rc = qcmd_heartbeat(&c, &q->o, job, q->consumer);

	return rc < 0 ? rc : op_start(q, &c, 1, job->id, cb, arg);
}

int queue_async_progress(struct queue_async *q, const struct queue_job *job, int64_t frames,
			 int64_t total, queue_done_cb cb, void *arg)
{
	struct qcmd c;
	int rc = qcmd_progress(&c, &q->o, job, frames, total);

	return rc < 0 ? rc : op_start(q, &c, 0, job->id, cb, arg);
}

int queue_async_complete(struct queue_async *q, const struct queue_job *job,
			 const char *result_json, queue_done_cb cb, void *arg)
{
	struct qcmd c;
	int rc = qcmd_complete(&c, &q->o, job, result_json, NULL, 0);

	return rc < 0 ? rc : op_start(q, &c, 1, job->id, cb, arg);
}

int queue_async_split(struct queue_async *q, const struct queue_job *job, int64_t total_frames,
		      const char *join_doc, const char *whole_doc, const char *kids,
		      queue_done_cb cb, void *arg)
{
	struct qcmd c;
	int rc = qcmd_split(&c, &q->o, job, total_frames, join_doc, whole_doc, kids);

	return rc < 0 ? rc : op_start(q, &c, 1, job->id, cb, arg);
}

int queue_async_retry(struct queue_async *q, const struct queue_job *job, const char *error,
		      queue_done_cb cb, void *arg)
{
	struct qcmd c;
	int rc = qcmd_retry(&c, &q->o, job, error);

	return rc < 0 ? rc : op_start(q, &c, 1, job->id, cb, arg);
}

int queue_async_reject(struct queue_async *q, const struct queue_job *job, const char *reason,
		       queue_done_cb cb, void *arg)
{
	struct qcmd c;
	int rc = qcmd_reject(&c, &q->o, job->entry, job->id, job->token, job->doc_sha, reason);

	return rc < 0 ? rc : op_start(q, &c, 1, job->id, cb, arg);
}

int queue_async_log(struct queue_async *q, const struct queue_job *job, const char *text,
		    size_t len, queue_done_cb cb, void *arg)
{
	struct qcmd c;
	int rc = qcmd_log(&c, &q->o, job, text, len);

	return rc < 0 ? rc : op_start(q, &c, 0, job->id, cb, arg);
}

int queue_async_announce(struct queue_async *q, const char *info_json, int leaving,
			 queue_done_cb cb, void *arg)
{
	struct qcmd c;
	int rc = qcmd_announce(&c, &q->o, q->consumer, info_json, leaving);

	return rc < 0 ? rc : op_start(q, &c, 0, "", cb, arg);
}

size_t queue_async_pending(const struct queue_async *q)
{
	return q->n_pending + q->n_inflight + q->n_held;
}

size_t queue_async_refused(const struct queue_async *q)
{
	return q->n_refused;
}

/* ---- Fetch ----
 *
 * One command at a time on the fetch connection, as a small state machine: the take
 * script (promote due retries, take over one expired lease, else read one new entry,
 * and claim it, all inside Redis) -> when it found nothing, BLPOP on the doorbell for
 * up to the poll time -> take again, while jobs are wanted and the owner does not hold
 * the fetch. An entry without an id field comes back with its document: the claim
 * script (or, when the document names no valid id, the reject script) follows. Every
 * path either waits in Redis (BLPOP), works on a real entry, or pauses on a timer after
 * an error (250 ms doubling to 5 s while errors repeat), so it never spins: not when
 * Redis refuses the take (maxmemory), not when a reply is unexpected.
 *
 * A document reaches this client only when it is within the cap (doc_max): the take
 * script dead-letters a bigger one inside Redis. Its stream entry is never read here,
 * because XREADGROUP and XAUTOCLAIM would send it whole. */

static void fetch_reply(redisAsyncContext *ac, void *reply, void *priv);
static void fetch_pause(struct queue_async *q);

static void fetch_send(struct queue_async *q, int phase, int rc)
{
	if (rc == 0) {
		q->phase = phase;
		rc = send_cmd(&q->blk, &q->fetch_cmd, fetch_reply, q);
	}
	if (rc < 0) {
		qcmd_free(&q->fetch_cmd);
		q->phase = F_IDLE;
		/* Down: the reconnect kicks again. Up: out of memory here; wait. */
		if (q->blk.state == C_UP)
			fetch_pause(q);
	}
}

static void fetch_pause_cb(uv_timer_t *t)
{
	fetch_kick(t->data);
}

static void fetch_pause(struct queue_async *q)
{
	uint32_t ms = q->fetch_backoff_ms ? q->fetch_backoff_ms : PAUSE_MIN_MS;

	qcmd_free(&q->fetch_cmd);
	q->phase = F_IDLE;
	q->fetch_backoff_ms = ms * 2 > PAUSE_MAX_MS ? PAUSE_MAX_MS : ms * 2;
	if (!q->closing)
		uv_timer_start(&q->fetch_timer, fetch_pause_cb, ms, 0);
}

static void fetch_kick(struct queue_async *q)
{
	if (q->closing || !q->want || q->hold || q->phase != F_IDLE || q->blk.state != C_UP ||
	    uv_is_active((uv_handle_t *)&q->fetch_timer))
		return;
	fetch_send(q, F_TAKE, qcmd_take(&q->fetch_cmd, &q->o, q->consumer, q->cursor));
}

/* Keep the entry and its document (the reply is freed after the callback). */
static int keep_entry(struct queue_async *q, const struct qentry *e)
{
	free(q->fetch_doc);
	if (!(q->fetch_doc = malloc(e->doc_len + 1)))
		return -ENOMEM;
	memcpy(q->fetch_doc, e->doc, e->doc_len);
	q->fetch_doc[e->doc_len] = '\0';
	q->fe = *e;
	q->fe.doc = q->fetch_doc;
	return 0;
}

/* Hand a claimed job to the worker (its doc is the kept one). */
static void deliver(struct queue_async *q, struct queue_job *job)
{
	job->doc = q->fetch_doc;
	job->doc_len = q->fe.doc_len;
	q->fetch_doc = NULL;
	if (q->want)
		q->want--;
	q->cbs.on_job(q, job, q->cbs.arg);
	queue_job_clear(job);
}

static void on_take(struct queue_async *q, const redisReply *r)
{
	struct queue_job job;
	struct qentry e;

	switch (qreply_take(r, &e, q->cursor, &job)) {
	case QT_JOB:
		if (keep_entry(q, &e) < 0) {
			fetch_pause(q); /* the lease runs out and the entry comes back */
			return;
		}
		deliver(q, &job);
		break;
	case QT_NEEDID:
		if (keep_entry(q, &e) < 0) {
			fetch_pause(q);
			return;
		}
		if (!qentry_doc_id(&q->fe))
			fetch_send(q, F_DROP,
				   qcmd_reject(&q->fetch_cmd, &q->o, e.entry, NULL, NULL, NULL,
					       q->fe.bad));
		else
			fetch_send(
			    q, F_CLAIM,
			    qcmd_claim(&q->fetch_cmd, &q->o, e.entry, q->fe.id, q->consumer));
		return;
	case QT_DROP:
		if (q->cbs.on_drop)
			q->cbs.on_drop(q, e.entry, e.bad, q->cbs.arg);
		break;
	case QT_SKIP:
		break;
	case QT_NONE:
		if (q->want && !q->hold)
			fetch_send(q, F_WAIT,
				   qcmd_wait(&q->fetch_cmd, &q->o,
					     q->o.poll_ms ? q->o.poll_ms : 2000, NULL, 1));
		return;
	default:
		fetch_pause(q);
		return;
	}
	if (!q->closing)
		fetch_kick(q);
}

static void fetch_reply(redisAsyncContext *ac, void *reply, void *priv)
{
	struct queue_async *q = priv;
	redisReply *r = reply;
	struct queue_job job;
	int phase = q->phase;

	(void)ac;
	if (!r || q->closing) {
		qcmd_free(&q->fetch_cmd);
		q->phase = F_IDLE;
		return;
	}
	note_reply(&q->blk);
	if (r->type == REDIS_REPLY_ERROR) {
		if (!strncmp(r->str, "NOSCRIPT", 8) && q->fetch_cmd.script >= 0) {
			q->sha[q->fetch_cmd.script][0] = '\0';
			fetch_send(q, phase, 0);
			return;
		}
		if (qreply_refused(r) && !q->take_refused) {
			char msg[QUEUE_ERR_MAX];
			snprintf(msg, sizeof(msg), "Redis at %.100s answered: %.120s", q->url.where,
				 r->str);
			q->take_refused = 1;
			refused_news(q, QUEUE_REFUSED_CLAIMS, 1, msg);
		} else if (transient(r)) {
			conn_reset(&q->blk);
		}
		fetch_pause(q); /* a BLPOP's WRONGTYPE too: the next take clears the doorbell */
		return;
	}
	qcmd_free(&q->fetch_cmd);
	q->phase = F_IDLE;
	q->fetch_backoff_ms = 0;
	if (q->take_refused && phase != F_WAIT) {
		q->take_refused = 0;
		refused_news(q, QUEUE_REFUSED_CLAIMS, 0, NULL);
	}
	switch (phase) {
	case F_TAKE:
		on_take(q, r);
		return;
	case F_CLAIM:
		memset(&job, 0, sizeof(job));
		if (qreply_claim(r, &job) > 0) {
			snprintf(job.id, sizeof(job.id), "%s", q->fe.id);
			snprintf(job.entry, sizeof(job.entry), "%s", q->fe.entry);
			deliver(q, &job);
			if (q->closing)
				return;
		}
		break;
	case F_DROP:
		if (q->cbs.on_drop)
			q->cbs.on_drop(q, q->fe.entry, q->fe.bad, q->cbs.arg);
		if (q->closing)
			return;
		break;
	default: /* F_WAIT: a ring or the timeout */
		break;
	}
	fetch_kick(q);
}

void queue_async_fetch(struct queue_async *q, unsigned n)
{
	q->want += n;
	fetch_kick(q);
}

void queue_async_fetch_stop(struct queue_async *q)
{
	q->want = 0;
}

void queue_async_fetch_hold(struct queue_async *q, int hold)
{
	q->hold = hold != 0;
	if (!q->hold)
		fetch_kick(q);
}

/* ---- Cancels ----
 *
 * The cancel connection does one thing: BLPOP on P:cancel:<consumer> for up to the poll
 * time, again and again. The cancel script pushes a job's id there when it cancels a
 * job this worker runs; the answer comes back at once, whatever the fetch connection is
 * doing (a take, a wait on the doorbell, nothing at all because every slot is busy).
 * A cancel pushed while this connection is down waits in the list (it expires after an
 * hour); the worker's heartbeat finds the job cancelled as well. */

static void ctl_reply(redisAsyncContext *ac, void *reply, void *priv);

static void ctl_pause_cb(uv_timer_t *t)
{
	struct queue_async *q = t->data;

	q->ctl_busy = 0;
	ctl_kick(q);
}

static void ctl_kick(struct queue_async *q)
{
	if (q->closing || q->ctl_busy || q->ctl.state != C_UP || !q->cbs.on_cancel)
		return;
	qcmd_free(&q->ctl_cmd);
	if (qcmd_wait(&q->ctl_cmd, &q->o, q->o.poll_ms ? q->o.poll_ms : 2000, q->consumer, 0) < 0 ||
	    send_cmd(&q->ctl, &q->ctl_cmd, ctl_reply, q) < 0) {
		/* Out of memory, or the connection is going: try again later. */
		q->ctl_busy = 1;
		uv_timer_start(&q->ctl_timer, ctl_pause_cb, PAUSE_MAX_MS, 0);
		return;
	}
	q->ctl_busy = 1;
}

static void ctl_reply(redisAsyncContext *ac, void *reply, void *priv)
{
	struct queue_async *q = priv;
	redisReply *r = reply;

	(void)ac;
	if (!r || q->closing) {
		q->ctl_busy = 0;
		return;
	}
	note_reply(&q->ctl);
	if (r->type == REDIS_REPLY_ERROR) {
		/* A WRONGTYPE (someone wrote the key) or a refusal: wait, then again. */
		uv_timer_start(&q->ctl_timer, ctl_pause_cb, PAUSE_MAX_MS, 0);
		return;
	}
	q->ctl_busy = 0;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[1]->type == REDIS_REPLY_STRING && queue_id_valid(r->element[1]->str))
		q->cbs.on_cancel(q, r->element[1]->str, q->cbs.arg);
	ctl_kick(q);
}

/* ---- Life cycle ---- */

const char *queue_async_consumer(const struct queue_async *q)
{
	return q->consumer;
}

int queue_async_open(struct queue_async **out, uv_loop_t *loop, const char *url,
		     const struct queue_opts *opts, const char *consumer,
		     const struct queue_async_callbacks *cbs, char *err, size_t errlen)
{
	struct queue_async *q;
	int rc;

	*out = NULL;
	if (!cbs || !cbs->on_job)
		return -EINVAL;
	if (!(q = calloc(1, sizeof(*q))))
		return -ENOMEM;
	queue_opts_own(&q->o, q->prefix, q->group, opts);
	rc = queue_url_parse(&q->url, url, err, errlen);
	if (rc == 0 && q->url.is_tls)
		rc = qtls_new(&q->tls, &q->url, &q->o, err, errlen);
	/* The files are loaded: the caller's strings may go. */
	q->o.tls_ca = q->o.tls_cert = q->o.tls_key = NULL;
	if (rc < 0) {
		explicit_bzero(&q->url, sizeof(q->url));
		free(q);
		return rc;
	}
	if (consumer && *consumer) {
		snprintf(q->consumer, sizeof(q->consumer), "%s", consumer);
	} else {
		char host[64] = "host";
		char rnd[QUEUE_ID_MAX];
		gethostname(host, sizeof(host) - 1);
		queue_id_generate(rnd);
		snprintf(q->consumer, sizeof(q->consumer), "%s-%d-%s", host, (int)getpid(),
			 rnd + strlen(rnd) - 6);
	}
	q->loop = loop;
	q->cbs = *cbs;
	q->cmd.q = q->blk.q = q->ctl.q = q;
	q->cmd.name = "command";
	q->blk.name = "fetch";
	q->ctl.name = "cancel";
	q->cmd.backoff_ms = q->blk.backoff_ms = q->ctl.backoff_ms = RECONNECT_MIN_MS;
	q->refuse_backoff_ms = PAUSE_MIN_MS;
	uv_timer_init(loop, &q->cmd.timer);
	uv_timer_init(loop, &q->blk.timer);
	uv_timer_init(loop, &q->ctl.timer);
	uv_timer_init(loop, &q->fetch_timer);
	uv_timer_init(loop, &q->watchdog);
	uv_timer_init(loop, &q->refuse_timer);
	uv_timer_init(loop, &q->ctl_timer);
	q->cmd.timer.data = &q->cmd;
	q->blk.timer.data = &q->blk;
	q->ctl.timer.data = &q->ctl;
	q->fetch_timer.data = q->watchdog.data = q->refuse_timer.data = q->ctl_timer.data = q;
	q->open_handles = 7;
	uv_timer_start(&q->watchdog, watchdog_cb, 1000, 1000);
	qcmd_init(&q->fetch_cmd, -1);
	qcmd_init(&q->ctl_cmd, -1);
	conn_start(&q->cmd);
	conn_start(&q->blk);
	conn_start(&q->ctl);
	*out = q;
	return 0;
}

/* The client frees itself when the last of its seven timers is closed. */
static void release(struct queue_async *q)
{
	if (--q->open_handles == 0) {
		/* Last: every dial has returned, so no thread uses the bridge. */
		qtls_free(q->tls);
		explicit_bzero(&q->url, sizeof(q->url)); /* the password */
		free(q->fetch_doc);
		free(q);
	}
}

static void conn_timer_closed(uv_handle_t *h)
{
	release(((struct qconn *)h->data)->q);
}

static void q_timer_closed(uv_handle_t *h)
{
	release(h->data);
}

static void conn_close(struct qconn *cn)
{
	redisAsyncContext *ac = cn->ac;

	uv_timer_stop(&cn->timer);
	if (cn->state == C_DIALING)
		uv_cancel((uv_req_t *)&cn->dial); /* dial_done runs either way */
	cn->ac = NULL;
	cn->state = C_DOWN;
	if (ac) {
		/* Pending callbacks run now with no reply (or when the running callback
		 * returns, if we are inside one); they see q->closing. */
		ac->data = NULL;
		redisAsyncFree(ac);
	}
	uv_close((uv_handle_t *)&cn->timer, conn_timer_closed);
}

void queue_async_close(struct queue_async *q)
{
	struct qop *op;

	if (!q || q->closing)
		return;
	q->closing = 1;
	q->want = 0;
	uv_timer_stop(&q->fetch_timer);
	uv_timer_stop(&q->watchdog);
	uv_timer_stop(&q->refuse_timer);
	uv_timer_stop(&q->ctl_timer);
	conn_close(&q->blk);
	conn_close(&q->ctl);
	conn_close(&q->cmd);
	while ((op = q->pend_head)) {
		q->pend_head = op->next;
		op_finish(op, -ECANCELED, "the queue client was closed");
	}
	q->pend_tail = NULL;
	q->n_pending = 0;
	while ((op = q->held_head)) {
		q->held_head = op->next;
		op_finish(op, -ECANCELED, "the queue client was closed");
	}
	q->held_tail = NULL;
	q->n_held = 0;
	qcmd_free(&q->fetch_cmd);
	qcmd_free(&q->ctl_cmd);
	uv_close((uv_handle_t *)&q->fetch_timer, q_timer_closed);
	uv_close((uv_handle_t *)&q->watchdog, q_timer_closed);
	uv_close((uv_handle_t *)&q->refuse_timer, q_timer_closed);
	uv_close((uv_handle_t *)&q->ctl_timer, q_timer_closed);
}
