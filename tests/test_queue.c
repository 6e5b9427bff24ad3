/* test_queue.c - the Redis job queue against a real redis-server on a private port.
 *
 * The group setup starts redis-server (no persistence) on a free port; each test
 * starts from FLUSHALL. The reconnect test runs its own server with an append-only
 * file, so a restart keeps the data. Async tests run a real libuv loop, each bounded
 * by a deadline.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <uv.h>

#include "helpers.h"
#include "queue_internal.h"
#include "queue.h"

static char *g_dir;
static pid_t g_redis;
static int g_port;
static char g_url[64];

/* ---- redis-server ---- */

static int group_setup(void **state)
{
	(void)state;
	g_dir = th_tmpdir("queue");
	g_port = th_free_port();
	if (!g_dir || g_port < 0)
		return -1;
	snprintf(g_url, sizeof(g_url), "redis://127.0.0.1:%d", g_port);
	g_redis = th_redis_start(g_port, g_dir, 0);
	return g_redis > 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	th_redis_stop(g_redis, SIGTERM);
	th_rm_rf(g_dir);
	free(g_dir);
	return 0;
}

/* ---- helpers ---- */

static void test_opts(struct queue_opts *o)
{
	queue_opts_init(o);
	o->lease_ms = 1000;
	o->poll_ms = 200;
	o->backoff_base_ms = 200;
	o->backoff_max_ms = 2000;
}

static struct queue *open_q(const struct queue_opts *o)
{
	struct queue *q = NULL;
	char err[QUEUE_ERR_MAX] = "";
	int rc = queue_open(&q, g_url, o, err, sizeof(err));

	if (rc)
		fail_msg("queue_open: %s", err);
	return q;
}

/* Run a command, return its reply as text (static buffer). */
static const char *cmd(struct queue *q, int argc, ...)
{
	static char buf[4096];
	const char *argv[16];
	char *out = NULL;
	va_list ap;

	va_start(ap, argc);
	for (int i = 0; i < argc; i++)
		argv[i] = va_arg(ap, const char *);
	va_end(ap);
	assert_int_equal(queue_command(q, &out, argc, argv), 0);
	snprintf(buf, sizeof(buf), "%s", out);
	free(out);
	return buf;
}

static long long cmd_int(struct queue *q, int argc, const char *a, const char *b)
{
	return strtoll(argc == 1 ? cmd(q, 1, a) : cmd(q, 2, a, b), NULL, 10);
}

static int flush(void **state)
{
	struct queue *q;

	(void)state;
	if (queue_open(&q, g_url, NULL, NULL, 0))
		return -1;
	cmd(q, 1, "FLUSHALL");
	/* A test that failed halfway must not leave Redis refusing writes. */
	cmd(q, 4, "CONFIG", "SET", "maxmemory", "0");
	cmd(q, 4, "CONFIG", "SET", "min-replicas-to-write", "0");
	queue_close(q);
	return 0;
}

/* The job's status as a JSON object (caller decrefs). */
static json_t *status_of(struct queue *q, const char *id)
{
	char *s = NULL;
	char err[QUEUE_ERR_MAX];
	json_t *j;

	if (queue_status(q, id, &s, err, sizeof(err)))
		fail_msg("status %s: %s", id, err);
	j = json_loads(s, 0, NULL);
	free(s);
	assert_non_null(j);
	return j;
}

static const char *jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

static long long jint(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

static void submit(struct queue *q, const char *id)
{
	char doc[256], got[QUEUE_ID_MAX], err[QUEUE_ERR_MAX];

	snprintf(doc, sizeof(doc), "{\"id\":\"%s\",\"script\":\"print(1)\"}", id);
	if (queue_submit(q, doc, got, err, sizeof(err)))
		fail_msg("submit: %s", err);
	assert_string_equal(got, id);
}

static void fetch_ok(struct queue *q, const char *consumer, int block_ms, struct queue_job *job)
{
	char err[QUEUE_ERR_MAX] = "";
	int rc = queue_fetch(q, consumer, block_ms, job, err, sizeof(err));

	if (rc)
		fail_msg("fetch by %s: %d %s", consumer, rc, err);
}

static void sleep_ms(int ms)
{
	usleep((useconds_t)ms * 1000);
}

/* ---- the event loop ---- */

static void tick_cb(uv_timer_t *t)
{
	(void)t;
}

/* Run the loop until *count reaches n or timeout_ms pass; a ticking timer keeps
 * UV_RUN_ONCE from sleeping past the deadline. Returns 1 when it was reached. */
static int run_until_n(uv_loop_t *loop, const int *count, int n, int timeout_ms)
{
	uv_timer_t tick;
	uint64_t end;

	uv_update_time(loop);
	end = uv_now(loop) + (uint64_t)timeout_ms;
	uv_timer_init(loop, &tick);
	uv_timer_start(&tick, tick_cb, 10, 10);
	while (*count < n && uv_now(loop) < end)
		uv_run(loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
	return *count >= n;
}

static int run_until(uv_loop_t *loop, const int *flag, int timeout_ms)
{
	return run_until_n(loop, flag, 1, timeout_ms);
}

/* Close an async client and let its handles go. */
static void close_async(uv_loop_t *loop, struct queue_async *a)
{
	queue_async_close(a);
	for (int i = 0; i < 100 && uv_loop_alive(loop); i++)
		uv_run(loop, UV_RUN_NOWAIT);
}

struct catcher {
	int got;
	struct queue_job job;
	int conn_up, conn_down;
	char conn_msg[256]; /* the last "down" message */
	int drops;
	char drop_reason[256];
	int cancels;
	char cancel_id[QUEUE_ID_MAX];
	int refused[2], accepted[2]; /* by QUEUE_REFUSED_RESULTS / _CLAIMS */
	char refused_msg[256];
};

static void catch_job(struct queue_async *a, struct queue_job *job, void *arg)
{
	struct catcher *c = arg;

	(void)a;
	c->got++;
	queue_job_clear(&c->job);
	c->job = *job;
	job->doc = NULL; /* stolen */
}

static void catch_conn(struct queue_async *a, int up, const char *msg, void *arg)
{
	struct catcher *c = arg;

	(void)a;
	if (getenv("QUEUE_TEST_DEBUG"))
		fprintf(stderr, "conn %d: %s\n", up, msg);
	if (up) {
		c->conn_up++;
	} else {
		c->conn_down++;
		snprintf(c->conn_msg, sizeof(c->conn_msg), "%s", msg);
	}
}

static void catch_drop(struct queue_async *a, const char *entry, const char *reason, void *arg)
{
	struct catcher *c = arg;

	(void)a;
	(void)entry;
	c->drops++;
	snprintf(c->drop_reason, sizeof(c->drop_reason), "%s", reason);
}

static void catch_cancel(struct queue_async *a, const char *id, void *arg)
{
	struct catcher *c = arg;

	(void)a;
	c->cancels++;
	snprintf(c->cancel_id, sizeof(c->cancel_id), "%s", id);
}

static void catch_refused(struct queue_async *a, int what, int refusing, const char *msg, void *arg)
{
	struct catcher *c = arg;

	(void)a;
	if (refusing) {
		c->refused[what]++;
		snprintf(c->refused_msg, sizeof(c->refused_msg), "%s", msg ? msg : "");
	} else {
		c->accepted[what]++;
	}
}

static struct queue_async *open_async(uv_loop_t *loop, const char *url, const struct queue_opts *o,
				      const char *consumer, struct catcher *c)
{
	struct queue_async_callbacks cbs = {.on_job = catch_job,
					    .on_conn = catch_conn,
					    .on_drop = catch_drop,
					    .on_cancel = catch_cancel,
					    .on_refused = catch_refused,
					    .arg = c};
	struct queue_async *a = NULL;
	char err[QUEUE_ERR_MAX] = "";

	if (queue_async_open(&a, loop, url, o, consumer, &cbs, err, sizeof(err)))
		fail_msg("queue_async_open: %s", err);
	return a;
}

struct answer {
	int done;
	int status;
	char msg[QUEUE_ERR_MAX];
};

static void catch_answer(struct queue_async *a, int status, const char *msg, void *arg)
{
	struct answer *ans = arg;

	(void)a;
	ans->done++;
	ans->status = status;
	snprintf(ans->msg, sizeof(ans->msg), "%s", msg ? msg : "");
}

/* ---- tests ---- */

static void test_redis_urls_parse_and_bad_ones_say_why(void **state)
{
	struct queue_url u;
	char err[QUEUE_ERR_MAX];

	(void)state;
	assert_int_equal(
	    queue_url_parse(&u, "redis://:s%40cret@example.org:6390/3", err, sizeof(err)), 0);
	assert_string_equal(u.host, "example.org");
	assert_int_equal(u.port, 6390);
	assert_string_equal(u.pass, "s@cret");
	assert_string_equal(u.user, "");
	assert_int_equal(u.db, 3);
	assert_int_equal(queue_url_parse(&u, "redis://alice:pw@[::1]", err, sizeof(err)), 0);
	assert_string_equal(u.host, "::1");
	assert_string_equal(u.user, "alice");
	assert_int_equal(u.port, 6379);
	assert_int_equal(queue_url_parse(&u, "unix:///run/redis.sock?db=2", err, sizeof(err)), 0);
	assert_true(u.is_unix);
	assert_string_equal(u.path, "/run/redis.sock");
	assert_int_equal(u.db, 2);
	assert_int_equal(queue_url_parse(&u, NULL, err, sizeof(err)), 0);
	assert_string_equal(u.where, "127.0.0.1:6379");
	assert_int_equal(queue_url_parse(&u, "http://x", err, sizeof(err)), -EINVAL);
	assert_int_equal(queue_url_parse(&u, "redis://h:99999", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "port"));
	assert_int_equal(queue_url_parse(&u, "redis://h/x", err, sizeof(err)), -EINVAL);
}

static void test_unreachable_redis_is_one_sentence_with_a_hint(void **state)
{
	struct queue *q = NULL;
	char url[64], err[QUEUE_ERR_MAX], want[128];
	int port = th_free_port();

	(void)state;
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
	assert_int_equal(queue_open(&q, url, NULL, err, sizeof(err)), -ECONNREFUSED);
	snprintf(want, sizeof(want),
		 "cannot connect to Redis at 127.0.0.1:%d: Connection refused; is redis-server "
		 "running?",
		 port);
	assert_string_equal(err, want);
	assert_null(q);
}

static void test_job_ids_cannot_escape_the_output_dir(void **state)
{
	char id[QUEUE_ID_MAX], long_id[80];

	(void)state;
	assert_true(queue_id_valid("job_1-A"));
	assert_false(queue_id_valid(""));
	assert_false(queue_id_valid("../etc"));
	assert_false(queue_id_valid("a/b"));
	assert_false(queue_id_valid("a.mp4"));
	memset(long_id, 'a', 63);
	long_id[63] = '\0';
	assert_true(queue_id_valid(long_id));
	long_id[63] = 'a';
	long_id[64] = '\0';
	assert_false(queue_id_valid(long_id));
	assert_int_equal(queue_id_generate(id), 0);
	assert_true(queue_id_valid(id));
	assert_int_equal(id[0], 'j');
}

static void test_unix_socket_url_with_a_database_keeps_jobs_apart(void **state)
{
	struct queue *q, *q0;
	char url[PATH_MAX + 32], err[QUEUE_ERR_MAX] = "", *s = NULL;

	(void)state;
	snprintf(url, sizeof(url), "unix://%s/redis.sock?db=5", g_dir);
	if (queue_open(&q, url, NULL, err, sizeof(err)))
		fail_msg("open %s: %s", url, err);
	submit(q, "in_db5");
	assert_int_equal(queue_status(q, "in_db5", &s, err, sizeof(err)), 0);
	free(s);
	q0 = open_q(NULL);
	assert_int_equal(queue_status(q0, "in_db5", &s, err, sizeof(err)), -ENOENT);
	queue_close(q0);
	queue_close(q);
}

static void test_submit_then_status_shows_queued(void **state)
{
	struct queue *q = open_q(NULL);
	char id[QUEUE_ID_MAX], err[QUEUE_ERR_MAX], *s = NULL;
	json_t *st;

	(void)state;
	submit(q, "clip1");
	st = status_of(q, "clip1");
	assert_string_equal(jstr(st, "state"), "queued");
	assert_int_equal(jint(st, "attempts"), 0);
	assert_int_equal(jint(st, "max_attempts"), 3);
	assert_true(jint(st, "created") > 1600000000000LL);
	json_decref(st);
	assert_int_equal(cmd_int(q, 2, "XLEN", "reelbox:jobs"), 1);

	/* The same id twice is refused; so are documents that are not objects. */
	assert_int_equal(queue_submit(q, "{\"id\":\"clip1\"}", id, err, sizeof(err)), -EEXIST);
	assert_int_equal(queue_submit(q, "[1,2]", id, err, sizeof(err)), -EINVAL);
	assert_int_equal(queue_submit(q, "{\"id\":\"../x\"}", id, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "[A-Za-z0-9_-]"));

	/* Without an id, one is generated. */
	assert_int_equal(queue_submit(q, "{\"fps\":30}", id, err, sizeof(err)), 0);
	assert_true(queue_id_valid(id));
	assert_int_equal(queue_status(q, "nosuchjob", &s, err, sizeof(err)), -ENOENT);
	assert_null(s);
	queue_close(q);
}

static void test_fetch_claims_and_status_shows_running_with_attempt_1(void **state)
{
	struct queue_opts o;
	struct queue *q;
	struct catcher c = {0};
	uv_loop_t loop;
	struct queue_async *a;
	json_t *st;
	int never = 0;

	(void)state;
	test_opts(&o);
	q = open_q(&o);
	uv_loop_init(&loop);
	a = open_async(&loop, g_url, &o, "worker-a", &c);
	queue_async_fetch(a, 1);
	submit(q, "clip2");
	assert_true(run_until(&loop, &c.got, 5000));
	assert_int_equal(c.got, 1);
	assert_string_equal(c.job.id, "clip2");
	assert_int_equal(c.job.attempt, 1);
	/* "<counter>-<64-bit nonce>", and the digest of the document it was given. */
	assert_true(strlen(c.job.token) == strspn(c.job.token, "0123456789") + 17);
	assert_int_equal(strlen(c.job.doc_sha), 40);
	assert_non_null(strstr(c.job.doc, "print(1)"));
	assert_int_equal(c.conn_up, 1);

	st = status_of(q, "clip2");
	assert_string_equal(jstr(st, "state"), "running");
	assert_int_equal(jint(st, "attempts"), 1);
	assert_string_equal(jstr(st, "worker"), "worker-a");
	assert_true(jint(st, "started") >= jint(st, "created"));
	json_decref(st);

	/* One job was asked for: a second one waits in the stream. */
	submit(q, "clip3");
	run_until(&loop, &never, 500); /* nothing sets this flag: just run 0.5 s */
	assert_int_equal(c.got, 1);
	st = status_of(q, "clip3");
	assert_string_equal(jstr(st, "state"), "queued");
	json_decref(st);

	close_async(&loop, a);
	assert_int_equal(uv_loop_close(&loop), 0);
	queue_job_clear(&c.job);
	queue_close(q);
}

static void test_complete_sets_succeeded_and_a_stale_token_changes_nothing(void **state)
{
	struct queue *q = open_q(NULL);
	struct queue_job job, stale;
	char err[QUEUE_ERR_MAX] = "";
	json_t *st;

	(void)state;
	submit(q, "clip4");
	fetch_ok(q, "w1", 1000, &job);
	assert_int_equal(queue_progress(q, &job, 5, 10, err, sizeof(err)), 0);
	st = status_of(q, "clip4");
	assert_int_equal(jint(json_object_get(st, "progress"), "frames"), 5);
	assert_int_equal(jint(json_object_get(st, "progress"), "total"), 10);
	json_decref(st);

	assert_int_equal(queue_complete(q, &job,
					"{\"status\":\"succeeded\",\"output\":\"/out/clip4.mp4\","
					"\"bytes\":1234,\"sha256\":\"ab\",\"log\":\"done\\n\"}",
					err, sizeof(err)),
			 0);
	st = status_of(q, "clip4");
	assert_string_equal(jstr(st, "state"), "succeeded");
	assert_string_equal(jstr(st, "output"), "/out/clip4.mp4");
	assert_int_equal(jint(st, "bytes"), 1234);
	assert_string_equal(jstr(st, "sha256"), "ab");
	assert_string_equal(jstr(st, "log"), "done\n");
	assert_true(jint(st, "finished") >= jint(st, "started"));
	assert_string_equal(jstr(json_object_get(st, "result"), "status"), "succeeded");
	json_decref(st);

	/* A token that is not the job's is refused... */
	stale = job;
	stale.token[strlen(stale.token) - 1] ^= 1; /* another nonce */
	assert_int_equal(queue_complete(q, &stale, "{\"status\":\"failed\",\"error\":\"late\"}",
					err, sizeof(err)),
			 -ESTALE);
	/* ...and the owner's replay answers "recorded" without changing anything. */
	assert_int_equal(queue_complete(q, &job,
					"{\"status\":\"failed\",\"output\":\"/elsewhere.mp4\"}",
					err, sizeof(err)),
			 0);
	assert_int_equal(queue_heartbeat(q, "w1", &job, err, sizeof(err)), -ESTALE);
	st = status_of(q, "clip4");
	assert_string_equal(jstr(st, "state"), "succeeded");
	assert_string_equal(jstr(st, "output"), "/out/clip4.mp4");
	assert_int_equal(jint(st, "attempts"), 1);
	json_decref(st);

	/* The entry is gone from the stream, and the done event is there to follow. */
	assert_int_equal(cmd_int(q, 2, "XLEN", "reelbox:jobs"), 0);
	{
		char cursor[QUEUE_ENTRY_MAX] = "0", *ev = NULL, last[64] = "";
		while (queue_wait_event(q, "clip4", cursor, 100, &ev, err, sizeof(err)) == 0) {
			json_t *e = json_loads(ev, 0, NULL);
			snprintf(last, sizeof(last), "%s:%s", jstr(e, "type"), jstr(e, "state"));
			json_decref(e);
			free(ev);
		}
		assert_string_equal(last, "done:succeeded");
	}
	queue_job_clear(&job);
	queue_close(q);
}

static void test_expired_lease_is_reclaimed_with_attempt_2_and_late_completion_refused(void **state)
{
	struct queue_opts o;
	struct queue *q;
	struct queue_job first;
	struct catcher c = {0};
	struct answer late = {0}, done = {0};
	char err[QUEUE_ERR_MAX] = "";
	uv_loop_t loop;
	struct queue_async *b;
	json_t *st;

	(void)state;
	test_opts(&o);
	q = open_q(&o);
	submit(q, "clip5");
	fetch_ok(q, "slow-worker", 1000, &first);
	assert_int_equal(first.attempt, 1);

	/* No heartbeat: after the 1 s lease, another consumer takes the job over. */
	uv_loop_init(&loop);
	b = open_async(&loop, g_url, &o, "worker-b", &c);
	queue_async_fetch(b, 1);
	assert_true(run_until(&loop, &c.got, 4000));
	assert_string_equal(c.job.id, "clip5");
	assert_int_equal(c.job.attempt, 2);
	assert_string_not_equal(c.job.token, first.token);
	st = status_of(q, "clip5");
	assert_string_equal(jstr(st, "worker"), "worker-b");
	assert_int_equal(jint(st, "attempts"), 2);
	json_decref(st);

	/* The first owner wakes up: its heartbeat and its completion are refused. */
	assert_int_equal(queue_heartbeat(q, "slow-worker", &first, err, sizeof(err)), -ESTALE);
	assert_int_equal(queue_complete(q, &first, "{\"status\":\"succeeded\",\"output\":\"A\"}",
					err, sizeof(err)),
			 -ESTALE);
	assert_non_null(strstr(err, "not recorded"));
	assert_int_equal(
	    queue_async_complete(b, &first, "{\"status\":\"succeeded\"}", catch_answer, &late), 0);
	assert_true(run_until(&loop, &late.done, 3000));
	assert_int_equal(late.status, -ESTALE);

	assert_int_equal(queue_async_complete(b, &c.job,
					      "{\"status\":\"succeeded\",\"output\":\"B\"}",
					      catch_answer, &done),
			 0);
	assert_true(run_until(&loop, &done.done, 3000));
	assert_int_equal(done.status, 0);
	st = status_of(q, "clip5");
	assert_string_equal(jstr(st, "state"), "succeeded");
	assert_string_equal(jstr(st, "output"), "B");
	json_decref(st);

	close_async(&loop, b);
	assert_int_equal(uv_loop_close(&loop), 0);
	queue_job_clear(&c.job);
	queue_job_clear(&first);
	queue_close(q);
}

struct beat {
	struct queue_async *a;
	struct queue_job *job;
	int sent, ok, bad;
	struct answer last;
};

static void beat_answer(struct queue_async *a, int status, const char *msg, void *arg)
{
	struct beat *b = arg;

	(void)a;
	(void)msg;
	if (status == 0)
		b->ok++;
	else
		b->bad++;
}

static void beat_cb(uv_timer_t *t)
{
	struct beat *b = t->data;

	if (queue_async_heartbeat(b->a, b->job, beat_answer, b) == 0)
		b->sent++;
}

static void test_heartbeats_keep_a_long_jobs_lease(void **state)
{
	struct queue_opts o;
	struct queue *q;
	struct catcher ca = {0}, cb = {0};
	struct answer done = {0};
	struct beat beat = {0};
	uv_loop_t loop;
	uv_timer_t hb;
	struct queue_async *a, *b;
	int never = 0;
	json_t *st;

	(void)state;
	test_opts(&o);
	q = open_q(&o);
	uv_loop_init(&loop);
	a = open_async(&loop, g_url, &o, "busy-worker", &ca);
	b = open_async(&loop, g_url, &o, "hungry-worker", &cb);
	submit(q, "clip6");
	queue_async_fetch(a, 1);
	assert_true(run_until(&loop, &ca.got, 3000));

	/* A runs the job for 3 s with a 1 s lease, heart-beating every 300 ms, while B
	 * looks for work the whole time (XAUTOCLAIM every poll). */
	queue_async_fetch(b, 1);
	beat.a = a;
	beat.job = &ca.job;
	uv_timer_init(&loop, &hb);
	hb.data = &beat;
	uv_timer_start(&hb, beat_cb, 300, 300);
	run_until(&loop, &never, 3000);
	uv_timer_stop(&hb);
	uv_close((uv_handle_t *)&hb, NULL);

	assert_int_equal(cb.got, 0);
	assert_true(beat.sent >= 8);
	assert_true(beat.ok >= 8);
	assert_int_equal(beat.bad, 0);
	st = status_of(q, "clip6");
	assert_string_equal(jstr(st, "state"), "running");
	assert_string_equal(jstr(st, "worker"), "busy-worker");
	assert_int_equal(jint(st, "attempts"), 1);
	json_decref(st);

	assert_int_equal(
	    queue_async_complete(a, &ca.job, "{\"status\":\"succeeded\"}", catch_answer, &done), 0);
	assert_true(run_until(&loop, &done.done, 3000));
	assert_int_equal(done.status, 0);
	close_async(&loop, a);
	close_async(&loop, b);
	assert_int_equal(uv_loop_close(&loop), 0);
	queue_job_clear(&ca.job);
	queue_close(q);
}

static void test_retry_backs_off_then_dead_letters_after_max_attempts(void **state)
{
	struct queue_opts o;
	struct queue *q;
	struct queue_job job;
	char err[QUEUE_ERR_MAX] = "";
	uint64_t t0;
	json_t *st;

	(void)state;
	test_opts(&o);
	q = open_q(&o);
	submit(q, "clip7");
	fetch_ok(q, "w", 1000, &job);
	assert_int_equal(job.attempt, 1);

	/* Attempt 1 fails transiently: back to queued, not before 200 ms. */
	assert_int_equal(queue_retry(q, &job, "Redis went away mid-upload", err, sizeof(err)), 0);
	t0 = queue_now_ms();
	st = status_of(q, "clip7");
	assert_string_equal(jstr(st, "state"), "queued");
	assert_string_equal(jstr(st, "error"), "Redis went away mid-upload");
	assert_true(jint(st, "not_before") > 0);
	json_decref(st);
	queue_job_clear(&job);
	assert_int_equal(queue_fetch(q, "w", 0, &job, err, sizeof(err)), -EAGAIN);

	fetch_ok(q, "w", 2000, &job);
	assert_true(queue_now_ms() - t0 >= 150);
	assert_int_equal(job.attempt, 2);
	assert_non_null(strstr(job.doc, "print(1)"));

	/* Attempt 2: 400 ms. */
	assert_int_equal(queue_retry(q, &job, "flaky", err, sizeof(err)), 0);
	t0 = queue_now_ms();
	queue_job_clear(&job);
	fetch_ok(q, "w", 3000, &job);
	assert_true(queue_now_ms() - t0 >= 350);
	assert_int_equal(job.attempt, 3);

	/* Attempt 3 was the last: dead, and in the dead-letter stream with the error. */
	assert_int_equal(queue_retry(q, &job, "flaky again", err, sizeof(err)), 1);
	st = status_of(q, "clip7");
	assert_string_equal(jstr(st, "state"), "dead");
	assert_string_equal(jstr(st, "error"), "gave up after 3 attempts; last: flaky again");
	json_decref(st);
	assert_int_equal(cmd_int(q, 2, "XLEN", "reelbox:dead"), 1);
	{
		const char *dl = cmd(q, 4, "XRANGE", "reelbox:dead", "-", "+");
		assert_non_null(strstr(dl, "clip7"));
		assert_non_null(strstr(dl, "gave up after 3 attempts"));
		assert_non_null(strstr(dl, "print(1)"));
	}
	assert_int_equal(cmd_int(q, 2, "XLEN", "reelbox:jobs"), 0);
	assert_int_equal(cmd_int(q, 2, "ZCARD", "reelbox:delayed"), 0);
	queue_job_clear(&job);
	queue_close(q);
}

static void test_a_job_whose_workers_keep_dying_ends_dead_after_max_attempts(void **state)
{
	struct queue_opts o;
	struct queue *q;
	struct queue_job job;
	char err[QUEUE_ERR_MAX] = "";
	json_t *st;

	(void)state;
	test_opts(&o);
	o.lease_ms = 300;
	o.max_attempts = 2;
	q = open_q(&o);
	submit(q, "poison");
	fetch_ok(q, "victim1", 1000, &job);
	queue_job_clear(&job);
	sleep_ms(400); /* victim1 died: no heartbeat */
	fetch_ok(q, "victim2", 1000, &job);
	assert_int_equal(job.attempt, 2);
	queue_job_clear(&job);
	sleep_ms(400);
	/* The third claim finds the attempts used up: nobody gets the job again. */
	assert_int_equal(queue_fetch(q, "victim3", 500, &job, err, sizeof(err)), -EAGAIN);
	st = status_of(q, "poison");
	assert_string_equal(jstr(st, "state"), "dead");
	assert_int_equal(jint(st, "attempts"), 2);
	assert_string_equal(jstr(st, "error"), "gave up after 2 attempts; last: lease expired: "
					       "worker victim2 stopped heart-beating");
	json_decref(st);
	assert_non_null(strstr(cmd(q, 4, "XRANGE", "reelbox:dead", "-", "+"), "poison"));
	assert_int_equal(cmd_int(q, 2, "XLEN", "reelbox:jobs"), 0);
	assert_string_equal(cmd(q, 3, "XPENDING", "reelbox:jobs", "workers"), "0\n\n\n");
	queue_close(q);
}

static void test_reject_and_entries_without_an_id_go_to_dead_letter(void **state)
{
	struct queue_opts o;
	struct queue *q;
	struct queue_job job;
	struct catcher c = {0};
	char err[QUEUE_ERR_MAX] = "";
	uv_loop_t loop;
	struct queue_async *a;
	json_t *st;

	(void)state;
	test_opts(&o);
	q = open_q(&o);
	submit(q, "clip8");
	fetch_ok(q, "w", 1000, &job);
	assert_int_equal(queue_reject(q, &job, "unknown field \"colour\"", err, sizeof(err)), 0);
	st = status_of(q, "clip8");
	assert_string_equal(jstr(st, "state"), "dead");
	assert_string_equal(jstr(st, "error"), "unknown field \"colour\"");
	json_decref(st);
	queue_job_clear(&job);

	/* A raw client's XADD: one entry names no job, one names a bad id, one is fine. */
	uv_loop_init(&loop);
	a = open_async(&loop, g_url, &o, "w2", &c);
	cmd(q, 5, "XADD", "reelbox:jobs", "*", "job", "not json at all");
	cmd(q, 7, "XADD", "reelbox:jobs", "*", "id", "../../etc/passwd", "job", "{}");
	cmd(q, 7, "XADD", "reelbox:jobs", "*", "id", "raw1", "job", "{\"script\":\"x\"}");
	queue_async_fetch(a, 1);
	assert_true(run_until(&loop, &c.got, 5000));
	assert_int_equal(c.drops, 2);
	assert_non_null(strstr(c.drop_reason, "[A-Za-z0-9_-]"));
	assert_string_equal(c.job.id, "raw1");
	assert_int_equal(c.job.attempt, 1);
	st = status_of(q, "raw1");
	assert_string_equal(jstr(st, "state"), "running");
	json_decref(st);
	assert_int_equal(cmd_int(q, 2, "XLEN", "reelbox:dead"), 3);
	assert_non_null(strstr(cmd(q, 4, "XRANGE", "reelbox:dead", "-", "+"), "not JSON"));
	assert_int_equal(cmd_int(q, 2, "XLEN", "reelbox:jobs"), 1); /* raw1, running */

	close_async(&loop, a);
	assert_int_equal(uv_loop_close(&loop), 0);
	queue_job_clear(&c.job);
	queue_close(q);
}

/* Cancel is one atomic step: a queued or a running job ends `cancelled` at once, so a
 * completion that comes after it records nothing (a cancel wins over any result not
 * yet recorded), and a cancel after the completion is too late. */
static void
test_cancel_ends_a_queued_or_running_job_at_once_and_wins_over_a_late_result(void **state)
{
	struct queue_opts o;
	struct queue *q;
	struct queue_job job;
	struct queue_cancel_info info;
	char err[QUEUE_ERR_MAX] = "";
	json_t *st;

	(void)state;
	test_opts(&o);
	q = open_q(&o);
	submit(q, "clip9");
	assert_int_equal(queue_cancel(q, "clip9", &info, err, sizeof(err)), 0);
	assert_string_equal(info.state, "cancelled");
	assert_string_equal(info.was, "queued");
	st = status_of(q, "clip9");
	assert_string_equal(jstr(st, "state"), "cancelled");
	assert_string_equal(jstr(st, "error"), "cancelled by request");
	json_decref(st);
	assert_int_equal(queue_fetch(q, "w", 300, &job, err, sizeof(err)), -EAGAIN);

	/* Running: cancelled at once; the worker's heartbeat says so, and its result,
	 * a success, is not recorded: the completion only confirms the stop. */
	submit(q, "clip10");
	fetch_ok(q, "w", 1000, &job);
	assert_int_equal(queue_heartbeat(q, "w", &job, err, sizeof(err)), 0);
	assert_int_equal(queue_cancel(q, "clip10", &info, err, sizeof(err)), 0);
	assert_string_equal(info.state, "cancelled");
	assert_string_equal(info.was, "running");
	assert_string_equal(info.worker, "w");
	assert_true(info.heartbeat_age_ms >= 0 && info.heartbeat_age_ms < 5000);
	assert_int_equal(queue_heartbeat(q, "w", &job, err, sizeof(err)), QUEUE_CANCELLED);
	assert_int_equal(queue_complete(q, &job,
					"{\"status\":\"succeeded\",\"output\":\"/o/clip10.mp4\"}",
					err, sizeof(err)),
			 QUEUE_CANCELLED);
	st = status_of(q, "clip10");
	assert_string_equal(jstr(st, "state"), "cancelled");
	assert_string_equal(jstr(st, "output"), "");
	assert_true(jint(st, "stopped") >= jint(st, "finished"));
	assert_true(json_is_true(json_object_get(st, "cancel_requested")));
	json_decref(st);
	/* The worker's replay answers the same. A second cancel finds it cancelled. */
	assert_int_equal(queue_complete(q, &job, "{\"status\":\"succeeded\"}", err, sizeof(err)),
			 QUEUE_CANCELLED);
	assert_int_equal(queue_cancel(q, "clip10", &info, err, sizeof(err)), 1);
	assert_string_equal(info.state, "cancelled");
	assert_int_equal(cmd_int(q, 2, "XLEN", "reelbox:jobs"), 0);
	queue_job_clear(&job);

	/* Completed first: the cancel is too late and changes nothing. */
	submit(q, "clip10b");
	fetch_ok(q, "w", 1000, &job);
	assert_int_equal(queue_complete(q, &job, "{\"status\":\"succeeded\"}", err, sizeof(err)),
			 0);
	assert_int_equal(queue_cancel(q, "clip10b", &info, err, sizeof(err)), 1);
	assert_string_equal(info.state, "succeeded");
	st = status_of(q, "clip10b");
	assert_string_equal(jstr(st, "state"), "succeeded");
	json_decref(st);
	assert_int_equal(queue_cancel(q, "nosuch", &info, err, sizeof(err)), -ENOENT);
	queue_job_clear(&job);
	queue_close(q);
}

/* A cancel reaches the worker that runs the job at once, through its cancel list, not
 * at its next heartbeat: here the poll is 5 s and no heartbeat is sent at all. */
static void test_a_cancel_reaches_the_owning_worker_at_once(void **state)
{
	struct queue_opts o;
	struct queue *q;
	struct catcher c = {0};
	struct answer done = {0};
	struct queue_cancel_info info;
	char err[QUEUE_ERR_MAX];
	uv_loop_t loop;
	struct queue_async *a;
	uint64_t t0;
	int never = 0;
	json_t *st;

	(void)state;
	test_opts(&o);
	o.poll_ms = 5000;
	o.lease_ms = 30000;
	q = open_q(&o);
	uv_loop_init(&loop);
	a = open_async(&loop, g_url, &o, "worker-c", &c);
	queue_async_fetch(a, 1);
	submit(q, "clip12");
	assert_true(run_until(&loop, &c.got, 5000));
	run_until(&loop, &never, 200); /* the fetch is back in its wait, every slot busy */

	t0 = queue_now_ms();
	assert_int_equal(queue_cancel(q, "clip12", &info, err, sizeof(err)), 0);
	assert_true(run_until(&loop, &c.cancels, 3000));
	assert_true(queue_now_ms() - t0 < 500);
	assert_string_equal(c.cancel_id, "clip12");

	assert_int_equal(
	    queue_async_complete(a, &c.job, "{\"status\":\"failed\"}", catch_answer, &done), 0);
	assert_true(run_until(&loop, &done.done, 3000));
	assert_int_equal(done.status, QUEUE_CANCELLED);
	st = status_of(q, "clip12");
	assert_string_equal(jstr(st, "state"), "cancelled");
	assert_true(jint(st, "stopped") > 0);
	json_decref(st);

	close_async(&loop, a);
	assert_int_equal(uv_loop_close(&loop), 0);
	queue_job_clear(&c.job);
	queue_close(q);
}

/* Redis restarted empty (no persistence, or an everysec AOF that lost its last second)
 * while an old worker still renders a job; the same id is submitted again with another
 * document. The fence counter restarted too, so the new claim's counter equals the old
 * one's: only the nonce tells them apart, and the old result must be refused. */
static void test_tokens_stay_unique_when_redis_loses_its_data(void **state)
{
	struct queue *q = open_q(NULL);
	struct queue_job old, cur, forged;
	char err[QUEUE_ERR_MAX] = "", got[QUEUE_ID_MAX];
	json_t *st;

	(void)state;
	assert_int_equal(
	    queue_submit(q, "{\"id\":\"dupjob\",\"frames\":30}", got, err, sizeof(err)), 0);
	fetch_ok(q, "old-worker", 1000, &old);
	cmd(q, 1, "FLUSHALL"); /* Redis lost everything */
	assert_int_equal(
	    queue_submit(q, "{\"id\":\"dupjob\",\"frames\":40}", got, err, sizeof(err)), 0);
	fetch_ok(q, "new-worker", 1000, &cur);
	assert_true(!strncmp(old.token, "1-", 2) && !strncmp(cur.token, "1-", 2));
	assert_string_not_equal(old.token, cur.token);
	assert_string_not_equal(old.doc_sha, cur.doc_sha);

	/* The old render's heartbeat and result are refused; they name the holder. */
	assert_int_equal(queue_heartbeat(q, "old-worker", &old, err, sizeof(err)), -ESTALE);
	assert_int_equal(
	    queue_complete(q, &old, "{\"status\":\"succeeded\",\"frames\":30}", err, sizeof(err)),
	    -ESTALE);
	assert_non_null(strstr(err, "held by another claim now (worker new-worker)"));
	assert_int_equal(queue_retry(q, &old, "x", err, sizeof(err)), -ESTALE);
	assert_int_equal(queue_reject(q, &old, "x", err, sizeof(err)), -ESTALE);

	/* The right token with another document's digest is refused too. */
	forged = cur;
	forged.doc = NULL;
	memcpy(forged.doc_sha, old.doc_sha, sizeof(forged.doc_sha));
	assert_int_equal(queue_complete(q, &forged, "{\"status\":\"succeeded\"}", err, sizeof(err)),
			 -ESTALE);

	assert_int_equal(
	    queue_complete(q, &cur, "{\"status\":\"succeeded\",\"frames\":40}", err, sizeof(err)),
	    0);
	st = status_of(q, "dupjob");
	assert_string_equal(jstr(st, "state"), "succeeded");
	assert_int_equal(jint(st, "frames"), 40);
	json_decref(st);
	queue_job_clear(&old);
	queue_job_clear(&cur);
	queue_close(q);
}

/* A claim whose job is gone from Redis is told that, not that another worker has it. */
static void test_a_result_for_a_job_that_no_longer_exists_says_so(void **state)
{
	struct queue *q = open_q(NULL);
	struct queue_job job;
	char err[QUEUE_ERR_MAX] = "";

	(void)state;
	submit(q, "vanish");
	fetch_ok(q, "w", 1000, &job);
	cmd(q, 2, "DEL", "reelbox:job:vanish");
	assert_int_equal(queue_heartbeat(q, "w", &job, err, sizeof(err)), -ESTALE);
	assert_non_null(strstr(err, "job vanish no longer exists in Redis"));
	assert_int_equal(queue_complete(q, &job, "{\"status\":\"succeeded\"}", err, sizeof(err)),
			 -ESTALE);
	assert_non_null(strstr(err, "job vanish no longer exists in Redis"));
	assert_non_null(strstr(err, "this result was not recorded"));
	queue_job_clear(&job);
	queue_close(q);
}

/* Redis at maxmemory refuses a completion (its first write grows memory): the result
 * is kept and sent again with backoff on the same connection, the owner hears of it
 * once, the lease is kept meanwhile (the heartbeat's first write is the XCLAIM, which
 * Redis lets through), and the result is recorded once Redis takes writes again.
 * It used to be dropped as a permanent failure: the job ran again, or ended dead. */
static void test_a_result_refused_at_maxmemory_is_kept_and_recorded_later(void **state)
{
	struct queue_opts o;
	struct queue *q;
	struct catcher c = {0};
	struct answer done = {0}, beat = {0};
	uv_loop_t loop;
	struct queue_async *a;
	int never = 0;
	json_t *st;

	(void)state;
	test_opts(&o);
	o.lease_ms = 30000;
	q = open_q(&o);
	uv_loop_init(&loop);
	a = open_async(&loop, g_url, &o, "worker-oom", &c);
	queue_async_fetch(a, 1);
	submit(q, "clip13");
	assert_true(run_until(&loop, &c.got, 5000));

	cmd(q, 4, "CONFIG", "SET", "maxmemory", "1");
	assert_int_equal(queue_async_complete(a, &c.job,
					      "{\"status\":\"succeeded\",\"output\":\"/o/13.mp4\"}",
					      catch_answer, &done),
			 0);
	run_until(&loop, &never, 1500);
	assert_int_equal(done.done, 0);
	assert_int_equal(c.refused[QUEUE_REFUSED_RESULTS], 1);
	assert_non_null(strstr(c.refused_msg, "OOM"));
	assert_int_equal(queue_async_refused(a), 1);
	assert_int_equal(queue_async_pending(a), 1);
	assert_int_equal(queue_async_heartbeat(a, &c.job, catch_answer, &beat), 0);
	assert_true(run_until(&loop, &beat.done, 3000));
	assert_int_equal(beat.status, 0);
	st = status_of(q, "clip13");
	assert_string_equal(jstr(st, "state"), "running");
	json_decref(st);

	cmd(q, 4, "CONFIG", "SET", "maxmemory", "0");
	assert_true(run_until(&loop, &done.done, 8000));
	assert_int_equal(done.status, 0);
	assert_int_equal(c.accepted[QUEUE_REFUSED_RESULTS], 1);
	assert_int_equal(queue_async_refused(a), 0);
	st = status_of(q, "clip13");
	assert_string_equal(jstr(st, "state"), "succeeded");
	assert_string_equal(jstr(st, "output"), "/o/13.mp4");
	assert_int_equal(jint(st, "attempts"), 1);
	json_decref(st);

	close_async(&loop, a);
	assert_int_equal(uv_loop_close(&loop), 0);
	queue_job_clear(&c.job);
	queue_close(q);
}

static long long info_stat(struct queue *q, const char *section, const char *field)
{
	const char *text = cmd(q, 2, "INFO", section);
	const char *p = strstr(text, field);

	return p ? strtoll(p + strlen(field) + 1, NULL, 10) : -1;
}

/* An idle worker's fetch while Redis refuses the take's writes: it must wait between
 * attempts, longer each time, and say so once. (At maxmemory with no jobs stream, one
 * worker made 80,511 round trips in 10 s when the group was made outside a script;
 * Redis 7 lets the take script's XGROUP CREATE through at maxmemory, as a write after
 * its first, so the refusal here is the one every write gets: too few replicas.) */
static void test_an_idle_fetch_backs_off_while_redis_refuses_the_take(void **state)
{
	struct queue_opts o;
	struct queue *q;
	struct catcher c = {0};
	uv_loop_t loop;
	struct queue_async *a;
	long long calls0, calls1;
	int never = 0;

	(void)state;
	test_opts(&o);
	q = open_q(&o);
	cmd(q, 4, "CONFIG", "SET", "min-replicas-to-write", "1");
	uv_loop_init(&loop);
	a = open_async(&loop, g_url, &o, "worker-idle", &c);
	queue_async_fetch(a, 1);
	run_until(&loop, &never, 500);
	calls0 = info_stat(q, "stats", "total_commands_processed");
	run_until(&loop, &never, 4000);
	calls1 = info_stat(q, "stats", "total_commands_processed");
	/* 250 ms doubling: takes at about 0.25, 0.75, 1.75 and 3.75 s, a few commands
	 * each inside the script, plus this test's own INFO. */
	if (calls1 - calls0 >= 40)
		fail_msg("%lld commands in 4 s", calls1 - calls0);
	assert_int_equal(c.refused[QUEUE_REFUSED_CLAIMS], 1);
	assert_non_null(strstr(c.refused_msg, "NOREPLICAS"));

	cmd(q, 4, "CONFIG", "SET", "min-replicas-to-write", "0");
	submit(q, "clip14");
	assert_true(run_until(&loop, &c.got, 8000));
	assert_string_equal(c.job.id, "clip14");
	assert_int_equal(c.accepted[QUEUE_REFUSED_CLAIMS], 1);

	close_async(&loop, a);
	assert_int_equal(uv_loop_close(&loop), 0);
	queue_job_clear(&c.job);
	queue_close(q);
}

/* A Redis frozen (DEBUG SLEEP, a long script) accepts TCP connections it does not
 * serve: the client is connected when Redis answers, not when the connect completes. */
static void test_the_client_is_connected_when_redis_answers_not_at_the_tcp_connect(void **state)
{
	struct queue_opts o;
	struct catcher c = {0};
	uv_loop_t loop;
	struct queue_async *a;
	uint64_t t0;
	pid_t pid;

	(void)state;
	test_opts(&o);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct queue *q;
		char *out = NULL;
		const char *argv[] = {"DEBUG", "SLEEP", "1.5"};
		if (queue_open(&q, g_url, NULL, NULL, 0))
			_exit(2);
		_exit(queue_command(q, &out, 3, argv) == 0 ? 0 : 3);
	}
	usleep(200 * 1000); /* Redis is asleep now */
	uv_loop_init(&loop);
	t0 = queue_now_ms();
	a = open_async(&loop, g_url, &o, "worker-early", &c);
	assert_true(run_until(&loop, &c.conn_up, 5000));
	assert_true(queue_now_ms() - t0 >= 1100);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	close_async(&loop, a);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_results_expire_and_redis_stays_flat_over_1000_jobs(void **state)
{
	struct queue_opts o;
	struct queue *q;
	struct queue_job job;
	char err[QUEUE_ERR_MAX] = "", id[32];
	long long keys = -1;

	(void)state;
	test_opts(&o);
	o.result_ttl_s = 1;
	q = open_q(&o);
	for (int i = 0; i < 1000; i++) {
		snprintf(id, sizeof(id), "bulk%d", i);
		submit(q, id);
		fetch_ok(q, "w", 1000, &job);
		assert_string_equal(job.id, id);
		assert_int_equal(queue_progress(q, &job, 1, 1, err, sizeof(err)), 0);
		assert_int_equal(queue_complete(q, &job,
						"{\"status\":\"succeeded\",\"log\":\"ok\"}", err,
						sizeof(err)),
				 0);
		queue_job_clear(&job);
		if (i % 100 == 99) {
			assert_int_equal(cmd_int(q, 2, "XLEN", "reelbox:jobs"), 0);
			/* Only the last second's results (and their events) are alive. */
			assert_true(cmd_int(q, 1, "DBSIZE", NULL) <= 2 * 1000 + 4);
		}
	}
	/* After the TTL, what is left is the stream (empty) and the fence counter. */
	for (int i = 0; i < 60 && keys != 2; i++) {
		sleep_ms(100);
		if (i >= 10)
			keys = cmd_int(q, 1, "DBSIZE", NULL);
	}
	assert_int_equal(keys, 2);
	assert_int_equal(cmd_int(q, 2, "XLEN", "reelbox:jobs"), 0);
	assert_int_equal(cmd_int(q, 2, "EXISTS", "reelbox:fence"), 1);
	assert_int_equal(queue_status(q, "bulk999", &(char *){NULL}, err, sizeof(err)), -ENOENT);
	queue_close(q);
}

static void test_async_client_reconnects_after_redis_restart_and_records_completion(void **state)
{
	struct queue_opts o;
	struct queue *q;
	struct catcher c = {0};
	struct answer done = {0};
	uv_loop_t loop;
	struct queue_async *a;
	char *dir = th_tmpdir("queue-aof"), url[64], err[QUEUE_ERR_MAX];
	int port = th_free_port(), never = 0;
	pid_t redis;
	json_t *st;
	char *s = NULL;

	(void)state;
	assert_non_null(dir);
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
	redis = th_redis_start(port, dir, 1);
	assert_true(redis > 0);
	test_opts(&o);
	o.lease_ms = 30000;
	assert_int_equal(queue_open(&q, url, &o, err, sizeof(err)), 0);
	submit(q, "clip11");
	queue_close(q);

	uv_loop_init(&loop);
	a = open_async(&loop, url, &o, "survivor", &c);
	queue_async_fetch(a, 1);
	assert_true(run_until(&loop, &c.got, 5000));
	assert_int_equal(c.conn_up, 1);

	/* Redis dies mid-job; the completion is issued while it is down. */
	th_redis_stop(redis, SIGKILL);
	run_until(&loop, &never, 300);
	assert_true(c.conn_down >= 1);
	assert_int_equal(queue_async_complete(
			     a, &c.job, "{\"status\":\"succeeded\",\"output\":\"/o/clip11.mp4\"}",
			     catch_answer, &done),
			 0);
	run_until(&loop, &never, 500);
	assert_int_equal(done.done, 0);
	assert_int_equal(queue_async_pending(a), 1);
	/* A progress report is not kept. */
	assert_int_equal(queue_async_progress(a, &c.job, 1, 2, NULL, NULL), -ENOTCONN);

	/* Back on the same port, from its append-only file. */
	redis = th_redis_start(port, dir, 1);
	assert_true(redis > 0);
	assert_true(run_until(&loop, &done.done, 10000));
	assert_int_equal(done.status, 0);
	assert_true(run_until_n(&loop, &c.conn_up, 2, 10000));
	assert_int_equal(queue_async_pending(a), 0);

	assert_int_equal(queue_open(&q, url, &o, err, sizeof(err)), 0);
	assert_int_equal(queue_status(q, "clip11", &s, err, sizeof(err)), 0);
	st = json_loads(s, 0, NULL);
	assert_string_equal(jstr(st, "state"), "succeeded");
	assert_string_equal(jstr(st, "output"), "/o/clip11.mp4");
	json_decref(st);
	free(s);
	queue_close(q);

	close_async(&loop, a);
	assert_int_equal(uv_loop_close(&loop), 0);
	queue_job_clear(&c.job);
	th_redis_stop(redis, SIGTERM);
	th_rm_rf(dir);
	free(dir);
}

/* ---- oversized values a producer writes straight into Redis ---- */

/* A job document of exactly len bytes: {"id":"<id>","script":"xxx..."} (no "id" when
 * id is NULL). */
static char *big_doc(size_t len, const char *id)
{
	char head[128];
	size_t h = (size_t)snprintf(head, sizeof(head), "{%s%s%s\"script\":\"",
				    id ? "\"id\":\"" : "", id ? id : "", id ? "\"," : "");
	char *d = malloc(len + 1);

	assert_non_null(d);
	assert_true(len > h + 2);
	memcpy(d, head, h);
	memset(d + h, 'x', len - h - 2);
	memcpy(d + len - 2, "\"}", 3);
	return d;
}

/* Run one command from a child process, so the value it writes never counts in this
 * process's memory: argv[big] is replaced by a big_doc(big_len, big_id). Returns when
 * the command is done. */
static void produce(int argc, const char **argv, int big, size_t big_len, const char *big_id)
{
	pid_t pid = fork();
	int status = 0;

	assert_true(pid >= 0);
	if (pid == 0) {
		const char *a[16];
		struct queue *q;
		char *out = NULL;
		int rc;

		for (int i = 0; i < argc; i++)
			a[i] = argv[i];
		if (big >= 0)
			a[big] = big_doc(big_len, big_id);
		if (queue_open(&q, g_url, NULL, NULL, 0))
			_exit(2);
		rc = queue_command(q, &out, argc, a);
		_exit(rc == 0 ? 0 : 3);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static long proc_status_kb(const char *field)
{
	char line[256];
	size_t n = strlen(field);
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, n) && line[n] == ':')
			kb = strtol(line + n + 1, NULL, 10);
	fclose(f);
	return kb;
}

/* Reset this process's peak RSS to its current RSS (Linux 4.0+), so VmHWM afterwards is
 * the peak of what follows. Returns the RSS to measure growth from: the old peak when
 * the reset is not available, which only makes the check stricter. */
static long reset_peak_rss_kb(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY);

	if (fd >= 0 && write(fd, "5", 1) == 1) {
		close(fd);
		return proc_status_kb("VmRSS");
	}
	if (fd >= 0)
		close(fd);
	return proc_status_kb("VmHWM");
}

static void test_an_oversized_document_is_dead_lettered_inside_redis_and_never_read(void **state)
{
	struct queue_opts o;
	struct queue *q;
	struct catcher c = {0};
	uv_loop_t loop;
	struct queue_async *a;
	const char *xadd_id[] = {"XADD", "reelbox:jobs", "*", "id", NULL, "job", NULL};
	const char *xadd_noid[] = {"XADD", "reelbox:jobs", "*", "job", NULL};
	long rss0, grew;
	json_t *st;

	(void)state;
	test_opts(&o);
	o.doc_max = 1u << 20;
	q = open_q(&o);

	/* A raw producer's XADDs: 64 MB and 2 MB documents naming a job, 2 MB naming none
	 * (its id would be inside the document), then a good job. */
	xadd_id[4] = "big64";
	produce(7, xadd_id, 6, 64u << 20, "big64");
	xadd_id[4] = "big2";
	produce(7, xadd_id, 6, 2u << 20, "big2");
	produce(5, xadd_noid, 4, 2u << 20, "hidden_id");
	submit(q, "small1");

	rss0 = reset_peak_rss_kb();
	uv_loop_init(&loop);
	a = open_async(&loop, g_url, &o, "worker-cap", &c);
	queue_async_fetch(a, 1);
	assert_true(run_until(&loop, &c.got, 10000));
	grew = proc_status_kb("VmHWM") - rss0;

	/* The worker's memory did not see the documents, and its fetch moved on to the
	 * good job on the same connection (no reply ever went over its bound). */
	if (grew >= 16 * 1024)
		fail_msg("the fetch's peak RSS grew by %ld kB", grew);
	assert_string_equal(c.job.id, "small1");
	assert_int_equal(c.job.attempt, 1);
	assert_int_equal(c.conn_down, 0);
	assert_int_equal(c.drops, 3);
	assert_string_equal(
	    c.drop_reason,
	    "job document is 2097152 bytes, over the 1048576-byte cap (queue doc_max)");

	st = status_of(q, "big2");
	assert_string_equal(jstr(st, "state"), "dead");
	assert_string_equal(
	    jstr(st, "error"),
	    "job document is 2097152 bytes, over the 1048576-byte cap (queue doc_max)");
	json_decref(st);
	st = status_of(q, "big64");
	assert_string_equal(jstr(st, "state"), "dead");
	assert_string_equal(
	    jstr(st, "error"),
	    "job document is 67108864 bytes, over the 1048576-byte cap (queue doc_max)");
	json_decref(st);

	/* Dead-lettered with the first 64 KiB of the document; only the good job is live. */
	assert_int_equal(cmd_int(q, 2, "XLEN", "reelbox:dead"), 3);
	{
		const char *dl = cmd(q, 4, "XRANGE", "reelbox:dead", "-", "+");
		assert_non_null(strstr(dl, "\nbig64\n"));
		assert_non_null(strstr(dl, "\ntruncated\n1\njob\n{\"id\":\"big64\""));
	}
	assert_int_equal(cmd_int(q, 2, "XLEN", "reelbox:jobs"), 1);
	/* XPENDING's summary starts with the count: just small1. */
	assert_int_equal(strncmp(cmd(q, 3, "XPENDING", "reelbox:jobs", "workers"), "1\n", 2), 0);

	close_async(&loop, a);
	assert_int_equal(uv_loop_close(&loop), 0);
	queue_job_clear(&c.job);
	queue_close(q);
}

static void test_the_blocking_fetch_skips_an_oversized_document_too(void **state)
{
	struct queue_opts o;
	struct queue *q;
	struct queue_job job;
	const char *xadd[] = {"XADD", "reelbox:jobs", "*", "id", "big_sync", "job", NULL};
	json_t *st;

	(void)state;
	test_opts(&o);
	o.doc_max = 1u << 20;
	q = open_q(&o);
	produce(7, xadd, 6, (1u << 20) + 1, "big_sync");
	submit(q, "small2");
	fetch_ok(q, "w", 1000, &job);
	assert_string_equal(job.id, "small2");
	st = status_of(q, "big_sync");
	assert_string_equal(jstr(st, "state"), "dead");
	assert_string_equal(
	    jstr(st, "error"),
	    "job document is 1048577 bytes, over the 1048576-byte cap (queue doc_max)");
	json_decref(st);
	queue_job_clear(&job);
	queue_close(q);
}

static void test_status_and_events_a_producer_overwrote_stay_bounded(void **state)
{
	struct queue_opts o;
	struct queue *q;
	char cursor[QUEUE_ENTRY_MAX] = "0", err[QUEUE_ERR_MAX] = "", *ev = NULL, *out = NULL;
	const char *hset[] = {"HSET", "reelbox:job:tamper", "result", NULL};
	const char *xadd_ev[] = {"XADD", "reelbox:job:tamper:events", "*", "type", "done", "data",
				 NULL};
	const char *set[] = {"SET", "huge", NULL};
	const char *get[] = {"GET", "huge"};
	const char *ping[] = {"PING"};
	json_t *st, *e;
	pid_t pid;

	(void)state;
	test_opts(&o);
	o.doc_max = 1u << 20;
	q = open_q(&o);
	submit(q, "tamper");

	/* A 2 MB result written into the job hash: status leaves it in Redis, says so. */
	produce(4, hset, 3, 2u << 20, NULL);
	st = status_of(q, "tamper");
	assert_string_equal(jstr(st, "state"), "queued");
	assert_null(json_object_get(st, "result"));
	assert_string_equal(json_string_value(json_array_get(json_object_get(st, "omitted"), 0)),
			    "result");
	json_decref(st);

	/* A 2 MB event: the follower sees "queued", then an unknown event in its place. */
	produce(7, xadd_ev, 6, 2u << 20, NULL);
	assert_int_equal(queue_wait_event(q, "tamper", cursor, 100, &ev, err, sizeof(err)), 0);
	e = json_loads(ev, 0, NULL);
	assert_string_equal(jstr(e, "type"), "queued");
	json_decref(e);
	free(ev);
	assert_int_equal(queue_wait_event(q, "tamper", cursor, 100, &ev, err, sizeof(err)), 0);
	assert_string_equal(ev, "{\"type\":\"unknown\"}");
	free(ev);

	/* One that arrives while the follower blocks: the wake-up reply is over its cap,
	 * the client reconnects, and the event script moves past it. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		sleep_ms(300);
		produce(7, xadd_ev, 6, 2u << 20, NULL);
		_exit(0);
	}
	assert_int_equal(queue_wait_event(q, "tamper", cursor, 3000, &ev, err, sizeof(err)), 0);
	assert_string_equal(ev, "{\"type\":\"unknown\"}");
	free(ev);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	assert_int_equal(queue_wait_event(q, "tamper", cursor, 0, &ev, err, sizeof(err)),
			 -ETIMEDOUT);

	/* Any reply over the connection's bound is refused, and the client carries on. */
	produce(3, set, 2, 2u << 20, NULL);
	assert_int_equal(queue_command(q, &out, 2, get), -EMSGSIZE);
	assert_null(out);
	assert_int_equal(queue_command(q, &out, 1, ping), 0);
	assert_string_equal(out, "PONG");
	free(out);
	queue_close(q);
}

static void test_async_client_drops_a_connection_whose_reply_is_over_its_bound(void **state)
{
	struct queue_opts o;
	struct queue *q;
	struct catcher c = {0};
	uv_loop_t loop;
	struct queue_async *a;
	const char *lpush[] = {"LPUSH", "reelbox:jobs:wake", NULL};
	int never = 0;

	(void)state;
	test_opts(&o);
	o.doc_max = 1u << 20;
	o.poll_ms = 5000; /* the worker sits in BLPOP on the doorbell */
	q = open_q(&o);
	uv_loop_init(&loop);
	a = open_async(&loop, g_url, &o, "worker-bound", &c);
	queue_async_fetch(a, 1);
	run_until(&loop, &never, 300);
	assert_int_equal(c.conn_up, 1);

	/* A producer rings the doorbell with 2 MB: the BLPOP answer is over the bound. */
	produce(3, lpush, 2, 2u << 20, NULL);
	run_until(&loop, &c.conn_down, 3000);
	assert_int_equal(c.conn_down, 1);
	assert_non_null(strstr(c.conn_msg, "reply over 1114112 bytes"));

	/* It reconnects and takes the next job. */
	submit(q, "after_bound");
	assert_true(run_until(&loop, &c.got, 5000));
	assert_string_equal(c.job.id, "after_bound");

	close_async(&loop, a);
	assert_int_equal(uv_loop_close(&loop), 0);
	queue_job_clear(&c.job);
	queue_close(q);
}

/* The demo's audit for the model key: a needle anywhere in Redis is found, whatever the
 * key's type, however deep in the value, and across the scan's page boundaries. */
static size_t scan_hits(struct queue *q, const char *needle, size_t *keys)
{
	char err[QUEUE_ERR_MAX] = "";
	size_t hits = 99;

	if (queue_scan_contains(q, needle, keys, &hits, err, sizeof(err)) != 0)
		fail_msg("queue_scan_contains: %s", err);
	return hits;
}

static void test_the_scan_finds_a_secret_in_every_kind_of_key_and_page(void **state)
{
	static const char needle[] = "sk-reelbox-demo-0123456789abcdef";
	struct queue *q = open_q(NULL);
	size_t keys = 0, base;
	char n[16];

	(void)state;
	submit(q, "scan_job"); /* the queue's own keys: a stream, a hash, an events stream */
	assert_int_equal(scan_hits(q, needle, &base), 0);
	assert_true(base >= 3);

	/* One key of each type at a time, the needle past the first page of its value. */
	cmd(q, 4, "SETRANGE", "t:str", "1048570", needle); /* across the 1 MiB page edge */
	assert_int_equal(scan_hits(q, needle, &keys), 1);
	cmd(q, 2, "DEL", "t:str");
	for (int i = 0; i < 300; i++) {
		snprintf(n, sizeof(n), "f%d", i);
		cmd(q, 4, "HSET", "t:hash", n, i == 250 ? needle : "x");
		cmd(q, 3, "RPUSH", "t:list", i == 40 ? needle : n);
		cmd(q, 5, "XADD", "t:stream", "*", "v", i == 40 ? needle : n);
		cmd(q, 3, "SADD", "t:set", i == 250 ? needle : n);
		cmd(q, 4, "ZADD", "t:zset", "1", i == 250 ? needle : n);
	}
	assert_int_equal(scan_hits(q, needle, &keys), 5);
	assert_int_equal(keys, base + 5);
	cmd(q, 6, "DEL", "t:hash", "t:list", "t:stream", "t:set", "t:zset");
	assert_int_equal(scan_hits(q, needle, &keys), 0);

	/* In a key's name; and a job's id where the queue keeps it. */
	cmd(q, 3, "SET", "t:sk-reelbox-demo-0123456789abcdef", "x");
	assert_int_equal(scan_hits(q, needle, &keys), 1);
	cmd(q, 2, "DEL", "t:sk-reelbox-demo-0123456789abcdef");
	/* the job's hash, its events stream, the jobs stream's entry and the recent-jobs
	 * index */
	assert_int_equal(scan_hits(q, "scan_job", &keys), 4);
	queue_close(q);
}

/* ---- list ---- */

/* queue_list() as a JSON array (caller decrefs); fails the test on an error. */
static json_t *list_of(struct queue *q, const char *state, unsigned limit)
{
	char *s = NULL, err[QUEUE_ERR_MAX] = "";
	json_t *j;

	if (queue_list(q, state, limit, &s, err, sizeof(err)))
		fail_msg("list: %s", err);
	j = json_loads(s, 0, NULL);
	free(s);
	assert_true(json_is_array(j));
	return j;
}

static const char *nth_id(json_t *arr, size_t i)
{
	return jstr(json_array_get(arr, i), "id");
}

static void test_list_shows_recent_jobs_newest_first_with_state_and_progress(void **state)
{
	struct queue *q = open_q(NULL);
	struct queue_job job;
	char err[QUEUE_ERR_MAX] = "", *s = NULL;
	json_t *l, *o;

	(void)state;
	submit(q, "old");
	sleep_ms(5);
	submit(q, "mid");
	sleep_ms(5);
	submit(q, "new");
	fetch_ok(q, "w1", 1000, &job);
	assert_string_equal(job.id, "old");
	assert_int_equal(queue_progress(q, &job, 5, 10, err, sizeof(err)), 0);

	l = list_of(q, NULL, 10);
	assert_int_equal(json_array_size(l), 3);
	assert_string_equal(nth_id(l, 0), "new");
	assert_string_equal(nth_id(l, 1), "mid");
	assert_string_equal(nth_id(l, 2), "old");
	o = json_array_get(l, 2);
	assert_string_equal(jstr(o, "state"), "running");
	assert_string_equal(jstr(o, "worker"), "w1");
	assert_int_equal(jint(o, "attempts"), 1);
	assert_int_equal(jint(o, "max_attempts"), 3);
	assert_int_equal(jint(json_object_get(o, "progress"), "frames"), 5);
	assert_int_equal(jint(json_object_get(o, "progress"), "total"), 10);
	assert_true(jint(o, "age_ms") >= 10 && jint(o, "age_ms") < 60000);
	assert_true(jint(o, "started") >= jint(o, "created"));
	json_decref(l);

	/* A finished job stays listed with its error; the filter and the limit apply. */
	assert_int_equal(queue_complete(q, &job,
					"{\"status\":\"failed\",\"error\":\"the script exited 3\"}",
					err, sizeof(err)),
			 0);
	queue_job_clear(&job);
	l = list_of(q, "failed", 10);
	assert_int_equal(json_array_size(l), 1);
	assert_string_equal(nth_id(l, 0), "old");
	assert_string_equal(jstr(json_array_get(l, 0), "error"), "the script exited 3");
	assert_true(jint(json_array_get(l, 0), "finished") > 0);
	json_decref(l);
	l = list_of(q, "queued", 1);
	assert_int_equal(json_array_size(l), 1);
	assert_string_equal(nth_id(l, 0), "new");
	json_decref(l);
	l = list_of(q, "dead", 10);
	assert_int_equal(json_array_size(l), 0);
	json_decref(l);

	/* A state or limit out of range is a sentence, not a scan. */
	assert_int_equal(queue_list(q, "../x", 10, &s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a job state"));
	assert_int_equal(queue_list(q, NULL, 0, &s, err, sizeof(err)), -EINVAL);
	assert_int_equal(queue_list(q, NULL, QUEUE_LIST_MAX + 1, &s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "1 to 1000"));
	assert_null(s);
	queue_close(q);
}

static void test_list_forgets_expired_jobs_and_bounds_what_a_producer_wrote(void **state)
{
	struct queue *q = open_q(NULL);
	char big[8192];
	json_t *l;

	(void)state;
	submit(q, "keep");
	submit(q, "gone");
	/* An expired result, a name that is no job id, a key that is not a hash. */
	cmd(q, 2, "DEL", "reelbox:job:gone");
	cmd(q, 4, "ZADD", "reelbox:jobs:recent", "99999999999999", "../etc");
	cmd(q, 4, "ZADD", "reelbox:jobs:recent", "99999999999998", "str");
	cmd(q, 3, "SET", "reelbox:job:str", "x");
	/* A huge error and a worker name with a line break and bytes that are not UTF-8. */
	memset(big, 'e', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cmd(q, 4, "HSET", "reelbox:job:keep", "error", big);
	cmd(q, 4, "HSET", "reelbox:job:keep", "worker", "\xff\xfe-w1");

	l = list_of(q, NULL, 1000);
	assert_int_equal(json_array_size(l), 1);
	assert_string_equal(nth_id(l, 0), "keep");
	assert_int_equal(strlen(jstr(json_array_get(l, 0), "error")), QUEUE_LIST_VALUE_MAX);
	assert_string_equal(jstr(json_array_get(l, 0), "worker"), "?"
								  "?-w1");
	json_decref(l);
	/* What was skipped left the index. */
	assert_int_equal(cmd_int(q, 2, "ZCARD", "reelbox:jobs:recent"), 1);
	queue_close(q);
}

static void test_the_recent_index_is_trimmed_and_expires_with_the_last_result(void **state)
{
	struct queue_opts o;
	struct queue *q;
	struct queue_job job;
	char err[QUEUE_ERR_MAX] = "", n[16];
	json_t *l;

	(void)state;
	test_opts(&o);
	o.result_ttl_s = 100;
	q = open_q(&o);
	snprintf(n, sizeof(n), "%d", QUEUE_RECENT_MAX + 5);
	cmd(q, 5, "EVAL",
	    "for i = 1, tonumber(ARGV[1]) do redis.call('ZADD', KEYS[1], i, 'x' .. i) end", "1",
	    "reelbox:jobs:recent", n);
	submit(q, "a");
	submit(q, "b");
	assert_int_equal(cmd_int(q, 2, "ZCARD", "reelbox:jobs:recent"), QUEUE_RECENT_MAX);
	/* The newest are kept; the look at 10000 ids, none of them a live job but two,
	 * answers at once and cleans the index. */
	l = list_of(q, NULL, 1000);
	assert_int_equal(json_array_size(l), 2);
	json_decref(l);
	assert_int_equal(cmd_int(q, 2, "ZCARD", "reelbox:jobs:recent"), 2);

	/* While a job waits, the index has no TTL; the last result gives it the result's. */
	fetch_ok(q, "w", 1000, &job);
	assert_int_equal(queue_complete(q, &job, "{\"status\":\"succeeded\"}", err, sizeof(err)),
			 0);
	queue_job_clear(&job);
	assert_int_equal(cmd_int(q, 2, "TTL", "reelbox:jobs:recent"), -1);
	fetch_ok(q, "w", 1000, &job);
	assert_int_equal(queue_complete(q, &job, "{\"status\":\"succeeded\"}", err, sizeof(err)),
			 0);
	queue_job_clear(&job);
	assert_true(cmd_int(q, 2, "TTL", "reelbox:jobs:recent") > 90);
	/* A new job takes the TTL away again. */
	submit(q, "c");
	assert_int_equal(cmd_int(q, 2, "TTL", "reelbox:jobs:recent"), -1);
	queue_close(q);
}

/* The type and "by" of a job's last event. */
static void last_event(struct queue *q, const char *id, char *type, size_t len, char *by,
		       size_t bylen)
{
	char cursor[QUEUE_ENTRY_MAX] = "0", err[QUEUE_ERR_MAX], *ev = NULL;

	type[0] = by[0] = '\0';
	while (queue_wait_event(q, id, cursor, 50, &ev, err, sizeof(err)) == 0) {
		json_t *o = json_loads(ev, 0, NULL);
		snprintf(type, len, "%s", jstr(o, "type"));
		snprintf(by, bylen, "%s", jstr(o, "by"));
		json_decref(o);
		free(ev);
		ev = NULL;
	}
}

static void test_retry_sends_a_failed_or_dead_job_again_and_refuses_the_others(void **state)
{
	struct queue_opts o;
	struct queue *q;
	struct queue_job job, old;
	char err[QUEUE_ERR_MAX] = "", sha[QUEUE_SHA_MAX], type[32], by[32];
	json_t *st;

	(void)state;
	test_opts(&o);
	o.max_attempts = 1;
	q = open_q(&o);
	submit(q, "f1");
	fetch_ok(q, "w", 1000, &job);
	snprintf(sha, sizeof(sha), "%s", job.doc_sha);
	assert_int_equal(
	    queue_complete(q, &job, "{\"status\":\"failed\",\"error\":\"boom\"}", err, sizeof(err)),
	    0);
	old = job; /* the old claim */
	old.doc = NULL;
	assert_int_equal(queue_requeue(q, "f1", err, sizeof(err)), 0);
	st = status_of(q, "f1");
	assert_string_equal(jstr(st, "state"), "queued");
	assert_int_equal(jint(st, "attempts"), 0);
	assert_null(json_object_get(st, "error"));
	assert_null(json_object_get(st, "finished"));
	json_decref(st);
	assert_int_equal(cmd_int(q, 2, "TTL", "reelbox:job:f1"), -1);
	last_event(q, "f1", type, sizeof(type), by, sizeof(by));
	assert_string_equal(type, "retry");
	assert_string_equal(by, "request");
	/* The same document runs again; the old claim can no longer record anything. */
	queue_job_clear(&job);
	fetch_ok(q, "w2", 1000, &job);
	assert_string_equal(job.id, "f1");
	assert_string_equal(job.doc_sha, sha);
	assert_int_equal(job.attempt, 1);
	assert_int_equal(queue_complete(q, &old, "{\"status\":\"succeeded\"}", err, sizeof(err)),
			 -ESTALE);
	/* Running, then succeeded: refused with the state in the sentence. */
	assert_int_equal(queue_requeue(q, "f1", err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "is running"));
	assert_int_equal(queue_complete(q, &job, "{\"status\":\"succeeded\"}", err, sizeof(err)),
			 0);
	queue_job_clear(&job);
	assert_int_equal(queue_requeue(q, "f1", err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "succeeded"));

	/* A dead job (its attempts used up) comes back too. */
	submit(q, "d1");
	fetch_ok(q, "w", 1000, &job);
	assert_int_equal(queue_retry(q, &job, "transient", err, sizeof(err)), 1);
	queue_job_clear(&job);
	assert_int_equal(queue_requeue(q, "d1", err, sizeof(err)), 0);
	fetch_ok(q, "w", 1000, &job);
	assert_string_equal(job.id, "d1");
	assert_non_null(strstr(job.doc, "print(1)"));
	queue_job_clear(&job);

	/* Queued, cancelled, unknown, a bad id, a document not kept. */
	submit(q, "q1");
	assert_int_equal(queue_requeue(q, "q1", err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "is queued"));
	assert_int_equal(queue_cancel(q, "q1", NULL, err, sizeof(err)), 0);
	assert_int_equal(queue_requeue(q, "q1", err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "cancelled"));
	assert_int_equal(queue_requeue(q, "nosuch", err, sizeof(err)), -ENOENT);
	assert_int_equal(queue_requeue(q, "../x", err, sizeof(err)), -EINVAL);
	cmd(q, 4, "HSET", "reelbox:job:q1", "state", "failed");
	assert_int_equal(queue_requeue(q, "q1", err, sizeof(err)), -ENODATA);
	assert_non_null(strstr(err, "submit it again"));
	queue_close(q);
}

static void test_delete_removes_a_finished_job_and_refuses_a_live_one(void **state)
{
	struct queue *q = open_q(NULL);
	struct queue_job job;
	char err[QUEUE_ERR_MAX] = "", st[16];
	json_t *l;

	(void)state;
	submit(q, "done1");
	fetch_ok(q, "w", 1000, &job);
	assert_int_equal(queue_complete(q, &job, "{\"status\":\"succeeded\"}", err, sizeof(err)),
			 0);
	queue_job_clear(&job);
	submit(q, "live1");
	fetch_ok(q, "w", 1000, &job);
	submit(q, "wait1");

	assert_int_equal(queue_delete(q, "done1", st, err, sizeof(err)), 0);
	assert_string_equal(st, "succeeded");
	assert_int_equal(cmd_int(q, 2, "EXISTS", "reelbox:job:done1"), 0);
	assert_int_equal(cmd_int(q, 2, "EXISTS", "reelbox:job:done1:events"), 0);
	assert_string_equal(cmd(q, 3, "ZSCORE", "reelbox:jobs:recent", "done1"), "");
	assert_int_equal(queue_delete(q, "done1", st, err, sizeof(err)), -ENOENT);

	/* A running job is refused and runs on to its result; so is a queued one. */
	assert_int_equal(queue_delete(q, "live1", st, err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "cancel it first"));
	assert_int_equal(queue_delete(q, "wait1", st, err, sizeof(err)), -EBUSY);
	assert_string_equal(st, "queued");
	assert_int_equal(queue_complete(q, &job, "{\"status\":\"succeeded\"}", err, sizeof(err)),
			 0);
	queue_job_clear(&job);
	l = list_of(q, NULL, 10);
	assert_int_equal(json_array_size(l), 2);
	json_decref(l);
	assert_int_equal(queue_delete(q, "../x", st, err, sizeof(err)), -EINVAL);
	/* The id is free again. */
	submit(q, "done1");
	queue_close(q);
}

static void test_a_redis_that_stops_answering_costs_a_command_its_deadline(void **state)
{
	struct queue_opts o;
	struct queue *q;
	char err[QUEUE_ERR_MAX] = "", url[64], *out = NULL, *dir = th_tmpdir("frozen");
	int port = th_free_port();
	pid_t pid = th_redis_start(port, dir, 0);
	struct timespec t0, t1;
	long ms;

	(void)state;
	assert_true(pid > 0);
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
	queue_opts_init(&o);
	o.command_timeout_ms = 500;
	assert_int_equal(queue_open(&q, url, &o, err, sizeof(err)), 0);
	kill(pid, SIGSTOP); /* accepts (the kernel does), never answers */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(queue_status(q, "anyjob", &out, err, sizeof(err)), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms >= 400 && ms < 3000);
	assert_non_null(strstr(err, "did not answer within 500 ms"));
	/* A blocking read gets its own wait on top of the deadline, and no more. */
	{
		char cursor[QUEUE_ENTRY_MAX] = "0";
		clock_gettime(CLOCK_MONOTONIC, &t0);
		assert_true(queue_wait_event(q, "anyjob", cursor, 300, &out, err, sizeof(err)) < 0);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
		assert_true(ms < 3000);
	}
	kill(pid, SIGCONT);
	queue_close(q);
	th_redis_stop(pid, SIGKILL);
	th_rm_rf(dir);
	free(dir);
}

/* ---- chunked jobs (docs/queue.md, "Chunked jobs") ---- */

/* Submit a parent, claim it, split it into n children whose documents say which they
 * are; the parent's claim is returned in *parent. */
static void split_into(struct queue *q, const char *id, int n, struct queue_job *parent)
{
	char doc[256], got[QUEUE_ID_MAX], err[QUEUE_ERR_MAX] = "", kids[4096] = "[";
	char join[256], whole[256];

	snprintf(doc, sizeof(doc), "{\"id\":\"%s\",\"script\":\"x\",\"chunks\":%d}", id, n);
	if (queue_submit(q, doc, got, err, sizeof(err)))
		fail_msg("submit: %s", err);
	fetch_ok(q, "splitter", 1000, parent);
	assert_string_equal(parent->role, "");
	for (int k = 0; k < n; k++) {
		size_t used = strlen(kids);
		snprintf(kids + used, sizeof(kids) - used,
			 "%s\"{\\\"id\\\":\\\"%s-c%d\\\",\\\"chunk\\\":{\\\"index\\\":%d}}\"",
			 k ? "," : "", id, k, k);
	}
	strcat(kids, "]");
	snprintf(join, sizeof(join), "{\"id\":\"%s\",\"script\":\"x\",\"join\":true}", id);
	snprintf(whole, sizeof(whole), "{\"id\":\"%s\",\"script\":\"x\"}", id);
	if (queue_split(q, parent, 100 * n, join, whole, kids, err, sizeof(err)))
		fail_msg("split: %s", err);
	/* A replay of the same split (its reply lost) changes nothing. */
	assert_int_equal(queue_split(q, parent, 100 * n, join, whole, kids, err, sizeof(err)), 0);
}

static void test_a_split_job_joins_once_when_its_last_child_succeeds(void **state)
{
	struct queue *q = open_q(NULL);
	struct queue_job parent, kid[3], join, none;
	char err[QUEUE_ERR_MAX] = "", want[QUEUE_ID_MAX];
	json_t *st;

	(void)state;
	memset(kid, 0, sizeof(kid));
	memset(&none, 0, sizeof(none));
	split_into(q, "big", 3, &parent);
	st = status_of(q, "big");
	assert_string_equal(jstr(st, "state"), "running");
	assert_int_equal(strtol(jstr(st, "chunks_total"), NULL, 10), 3);
	assert_null(json_object_get(st, "join_doc")); /* internal fields stay in Redis */
	json_decref(st);
	/* The splitting claim holds nothing any more. */
	assert_int_equal(queue_heartbeat(q, "splitter", &parent, err, sizeof(err)), -ESTALE);

	for (int k = 0; k < 3; k++) {
		fetch_ok(q, k == 1 ? "w2" : "w1", 1000, &kid[k]);
		snprintf(want, sizeof(want), "big-c%d", k);
		assert_string_equal(kid[k].id, want);
		assert_string_equal(kid[k].role, "chunk");
		assert_int_equal(queue_progress(q, &kid[k], 50, 100, err, sizeof(err)), 0);
	}
	st = status_of(q, "big");
	assert_int_equal(jint(json_object_get(st, "progress"), "frames"), 150);
	assert_int_equal(jint(json_object_get(st, "progress"), "total"), 300);
	json_decref(st);
	/* Children are hidden from list: the parent stands for them. */
	char *list = NULL;
	assert_int_equal(queue_list(q, NULL, 100, &list, err, sizeof(err)), 0);
	assert_null(strstr(list, "big-c"));
	free(list);

	assert_int_equal(queue_complete(q, &kid[0], "{\"status\":\"succeeded\"}", err, sizeof(err)),
			 0);
	assert_int_equal(queue_complete(q, &kid[2], "{\"status\":\"succeeded\"}", err, sizeof(err)),
			 0);
	assert_int_equal(queue_fetch(q, "w3", 50, &none, err, sizeof(err)), -EAGAIN);
	assert_int_equal(
	    queue_complete(q, &kid[1],
			   "{\"status\":\"succeeded\",\"output\":\"/o/.chunks/big/c1.mkv\"}", err,
			   sizeof(err)),
	    0);
	/* A replayed completion of the last child queues no second join. */
	assert_int_equal(queue_complete(q, &kid[1], "{\"status\":\"succeeded\"}", err, sizeof(err)),
			 0);
	fetch_ok(q, "w3", 1000, &join);
	assert_string_equal(join.id, "big");
	assert_string_equal(join.role, "join");
	assert_non_null(strstr(join.role_note, "\"worker\":\"w2\""));
	assert_non_null(strstr(join.role_note, "\"file\":\"c1.mkv\""));
	assert_non_null(strstr(join.doc, "\"join\":true"));
	assert_int_equal(join.attempt, 1);
	queue_job_clear(&none);
	assert_int_equal(queue_fetch(q, "w4", 50, &none, err, sizeof(err)), -EAGAIN);
	/* The join is an ordinary claim: heartbeats, then the parent's result. */
	assert_int_equal(queue_heartbeat(q, "w3", &join, err, sizeof(err)), 0);
	assert_int_equal(queue_complete(q, &join,
					"{\"status\":\"succeeded\",\"output\":\"/o/big.mp4\"}", err,
					sizeof(err)),
			 0);
	st = status_of(q, "big");
	assert_string_equal(jstr(st, "state"), "succeeded");
	assert_string_equal(jstr(st, "error"), "");
	json_decref(st);

	/* delete takes the children with the parent. */
	char was[16];
	assert_int_equal(queue_delete(q, "big", was, err, sizeof(err)), 0);
	assert_int_equal(cmd_int(q, 2, "EXISTS", "reelbox:job:big-c1"), 0);
	for (int k = 0; k < 3; k++)
		queue_job_clear(&kid[k]);
	queue_job_clear(&parent);
	queue_job_clear(&join);
	queue_close(q);
}

static void test_a_failed_child_fails_its_parent_and_stops_its_siblings(void **state)
{
	struct queue *q = open_q(NULL);
	struct queue_job parent, a, b, again;
	char err[QUEUE_ERR_MAX] = "";
	json_t *st;

	(void)state;
	memset(&again, 0, sizeof(again));
	split_into(q, "p2", 3, &parent);
	fetch_ok(q, "w1", 1000, &a);
	fetch_ok(q, "w2", 1000, &b);
	assert_int_equal(
	    queue_complete(q, &b, "{\"status\":\"failed\",\"error\":\"boom\"}", err, sizeof(err)),
	    0);
	st = status_of(q, "p2");
	assert_string_equal(jstr(st, "state"), "failed");
	assert_non_null(strstr(jstr(st, "error"), "chunk 1 (p2-c1) ended failed: boom"));
	json_decref(st);
	/* The running sibling is told, the queued one never runs. */
	assert_int_equal(queue_heartbeat(q, "w1", &a, err, sizeof(err)), QUEUE_CANCELLED);
	st = status_of(q, "p2-c2");
	assert_string_equal(jstr(st, "state"), "cancelled");
	json_decref(st);
	assert_int_equal(cmd_int(q, 2, "LLEN", "reelbox:cancel:w1"), 1);
	queue_job_clear(&again);
	assert_int_equal(queue_fetch(q, "w3", 50, &again, err, sizeof(err)), -EAGAIN);

	/* A child cannot be retried on its own; the parent's retry splits again. */
	assert_int_equal(queue_requeue(q, "p2-c1", err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "p2"));
	assert_int_equal(queue_requeue(q, "p2", err, sizeof(err)), 0);
	queue_job_clear(&again);
	fetch_ok(q, "w3", 1000, &again);
	assert_string_equal(again.id, "p2");
	assert_string_equal(again.role, "");
	assert_non_null(strstr(again.doc, "\"chunks\":3"));
	queue_job_clear(&a);
	queue_job_clear(&b);
	queue_job_clear(&parent);
	queue_job_clear(&again);
	queue_close(q);
}

static void test_a_fallback_renders_whole_and_a_cancel_reaches_the_children(void **state)
{
	struct queue *q = open_q(NULL);
	struct queue_job parent, a, b, whole, p3, c0;
	char err[QUEUE_ERR_MAX] = "";
	struct queue_cancel_info info;
	json_t *st;

	(void)state;
	split_into(q, "fb", 2, &parent);
	fetch_ok(q, "w1", 1000, &a);
	fetch_ok(q, "w2", 1000, &b);
	assert_int_equal(queue_complete(q, &a,
					"{\"status\":\"failed\",\"chunk_fallback\":\"it ignores "
					"FRAME_START\",\"error\":\"x\"}",
					err, sizeof(err)),
			 0);
	assert_int_equal(queue_heartbeat(q, "w2", &b, err, sizeof(err)), QUEUE_CANCELLED);
	fetch_ok(q, "w3", 1000, &whole);
	assert_string_equal(whole.id, "fb");
	assert_string_equal(whole.role, "whole");
	assert_non_null(strstr(whole.role_note, "chunk 0 (fb-c0): it ignores FRAME_START"));
	assert_null(strstr(whole.doc, "chunks"));
	assert_int_equal(queue_complete(q, &whole, "{\"status\":\"succeeded\"}", err, sizeof(err)),
			 0);
	st = status_of(q, "fb");
	assert_string_equal(jstr(st, "state"), "succeeded");
	json_decref(st);

	/* Cancelling a split parent cancels its children. */
	split_into(q, "p3", 2, &p3);
	fetch_ok(q, "w1", 1000, &c0);
	assert_int_equal(queue_cancel(q, "p3", &info, err, sizeof(err)), 0);
	assert_int_equal(queue_heartbeat(q, "w1", &c0, err, sizeof(err)), QUEUE_CANCELLED);
	st = status_of(q, "p3-c1");
	assert_string_equal(jstr(st, "state"), "cancelled");
	json_decref(st);
	queue_job_clear(&a);
	queue_job_clear(&b);
	queue_job_clear(&whole);
	queue_job_clear(&parent);
	queue_job_clear(&p3);
	queue_job_clear(&c0);
	queue_close(q);
}

/* A producer cannot make a job a chunk: its document may say "chunk", the claim's role
 * comes from the hash the split script wrote; nor can it take a child's id. */
static void test_a_producer_cannot_forge_a_chunk_or_a_join(void **state)
{
	struct queue *q = open_q(NULL);
	struct queue_job forged, parent, kid, other;
	char got[QUEUE_ID_MAX], err[QUEUE_ERR_MAX] = "";

	(void)state;
	assert_int_equal(
	    queue_submit(q,
			 "{\"id\":\"evil\",\"script\":\"x\",\"chunk\":{\"parent\":"
			 "\"victim\",\"index\":0,\"start\":0,\"count\":5},\"join\":true}",
			 got, err, sizeof(err)),
	    0);
	fetch_ok(q, "w1", 1000, &forged);
	assert_string_equal(forged.role, "");
	/* A producer's job under a child's id refuses the split of that parent. */
	submit(q, "vic-c1");
	assert_int_equal(queue_submit(q, "{\"id\":\"vic\",\"script\":\"x\",\"chunks\":2}", got, err,
				      sizeof(err)),
			 0);
	fetch_ok(q, "w2", 1000, &other);
	assert_string_equal(other.id, "vic-c1");
	fetch_ok(q, "w2", 1000, &parent);
	assert_string_equal(parent.id, "vic");
	assert_int_equal(queue_split(q, &parent, 10, "{\"join\":true}", "{}",
				     "[\"{\\\"a\\\":1}\",\"{\\\"b\\\":2}\"]", err, sizeof(err)),
			 -EEXIST);
	assert_non_null(strstr(err, "vic-c1 is taken"));
	queue_job_clear(&parent);
	/* An entry a producer XADDs under a child's id while the child waits for its retry
	 * is claimed as that job, but gets no role: its digest is not the split's. */
	split_into(q, "vc", 2, &parent);
	fetch_ok(q, "w1", 1000, &kid);
	assert_string_equal(kid.id, "vc-c0");
	assert_int_equal(queue_retry(q, &kid, "flaky", err, sizeof(err)), 0);
	cmd(q, 7, "XADD", "reelbox:jobs", "*", "id", "vc-c0", "job",
	    "{\"id\":\"vc-c0\",\"script\":\"y\",\"chunk\":{\"parent\":\"vc\"}}");
	queue_job_clear(&kid);
	fetch_ok(q, "w1", 1000, &kid);
	assert_string_equal(kid.id, "vc-c1");
	assert_string_equal(kid.role, "chunk");
	queue_job_clear(&kid);
	fetch_ok(q, "w1", 1000, &kid);
	assert_string_equal(kid.id, "vc-c0");
	assert_non_null(strstr(kid.doc, "\"y\""));
	assert_string_equal(kid.role, "");
	queue_job_clear(&kid);
	queue_job_clear(&forged);
	queue_job_clear(&parent);
	queue_job_clear(&other);
	queue_close(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_redis_urls_parse_and_bad_ones_say_why),
	    cmocka_unit_test(test_unreachable_redis_is_one_sentence_with_a_hint),
	    cmocka_unit_test(test_job_ids_cannot_escape_the_output_dir),
	    cmocka_unit_test_setup(test_submit_then_status_shows_queued, flush),
	    cmocka_unit_test_setup(test_unix_socket_url_with_a_database_keeps_jobs_apart, flush),
	    cmocka_unit_test_setup(test_fetch_claims_and_status_shows_running_with_attempt_1,
				   flush),
	    cmocka_unit_test_setup(test_complete_sets_succeeded_and_a_stale_token_changes_nothing,
				   flush),
	    cmocka_unit_test_setup(
		test_expired_lease_is_reclaimed_with_attempt_2_and_late_completion_refused, flush),
	    cmocka_unit_test_setup(test_heartbeats_keep_a_long_jobs_lease, flush),
	    cmocka_unit_test_setup(test_retry_backs_off_then_dead_letters_after_max_attempts,
				   flush),
	    cmocka_unit_test_setup(test_a_job_whose_workers_keep_dying_ends_dead_after_max_attempts,
				   flush),
	    cmocka_unit_test_setup(test_reject_and_entries_without_an_id_go_to_dead_letter, flush),
	    cmocka_unit_test_setup(
		test_cancel_ends_a_queued_or_running_job_at_once_and_wins_over_a_late_result,
		flush),
	    cmocka_unit_test_setup(test_a_cancel_reaches_the_owning_worker_at_once, flush),
	    cmocka_unit_test_setup(test_tokens_stay_unique_when_redis_loses_its_data, flush),
	    cmocka_unit_test_setup(test_a_result_for_a_job_that_no_longer_exists_says_so, flush),
	    cmocka_unit_test_setup(test_a_result_refused_at_maxmemory_is_kept_and_recorded_later,
				   flush),
	    cmocka_unit_test_setup(test_an_idle_fetch_backs_off_while_redis_refuses_the_take,
				   flush),
	    cmocka_unit_test_setup(
		test_the_client_is_connected_when_redis_answers_not_at_the_tcp_connect, flush),
	    cmocka_unit_test_setup(test_results_expire_and_redis_stays_flat_over_1000_jobs, flush),
	    cmocka_unit_test(
		test_async_client_reconnects_after_redis_restart_and_records_completion),
	    cmocka_unit_test_setup(
		test_an_oversized_document_is_dead_lettered_inside_redis_and_never_read, flush),
	    cmocka_unit_test_setup(test_the_blocking_fetch_skips_an_oversized_document_too, flush),
	    cmocka_unit_test_setup(test_status_and_events_a_producer_overwrote_stay_bounded, flush),
	    cmocka_unit_test_setup(
		test_async_client_drops_a_connection_whose_reply_is_over_its_bound, flush),
	    cmocka_unit_test_setup(test_the_scan_finds_a_secret_in_every_kind_of_key_and_page,
				   flush),
	    cmocka_unit_test_setup(test_list_shows_recent_jobs_newest_first_with_state_and_progress,
				   flush),
	    cmocka_unit_test_setup(test_list_forgets_expired_jobs_and_bounds_what_a_producer_wrote,
				   flush),
	    cmocka_unit_test_setup(
		test_the_recent_index_is_trimmed_and_expires_with_the_last_result, flush),
	    cmocka_unit_test_setup(
		test_retry_sends_a_failed_or_dead_job_again_and_refuses_the_others, flush),
	    cmocka_unit_test_setup(test_delete_removes_a_finished_job_and_refuses_a_live_one,
				   flush),
	    cmocka_unit_test(test_a_redis_that_stops_answering_costs_a_command_its_deadline),
	    cmocka_unit_test_setup(test_a_split_job_joins_once_when_its_last_child_succeeds, flush),
	    cmocka_unit_test_setup(test_a_failed_child_fails_its_parent_and_stops_its_siblings,
				   flush),
	    cmocka_unit_test_setup(test_a_fallback_renders_whole_and_a_cancel_reaches_the_children,
				   flush),
	    cmocka_unit_test_setup(test_a_producer_cannot_forge_a_chunk_or_a_join, flush),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
