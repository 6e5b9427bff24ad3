/* test_stats.c - queue_stats(), the queue at a glance, against a real redis-server.
 *
 * The group setup starts redis-server (no persistence) on a free port; each test starts
 * from FLUSHALL. Jobs reach their states through the blocking API (submit, fetch,
 * complete, retry, reject, cancel), the way workers move them; worker registry entries
 * are HSET by hand, the way the worker's announce script (or anyone with access to
 * Redis) writes them.
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
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "helpers.h"
#include "queue.h"

static char *g_dir;
static pid_t g_redis;
static char g_url[64];

/* ---- redis-server ---- */

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		return -1;
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static pid_t redis_start(int port, const char *dir)
{
	char portstr[16];
	pid_t pid;

	snprintf(portstr, sizeof(portstr), "%d", port);
	pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);
		dup2(devnull, 1);
		dup2(devnull, 2);
		execlp("redis-server", "redis-server", "--port", portstr, "--bind", "127.0.0.1",
		       "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", dir,
		       "--loglevel", "warning", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 250; i++) {
		struct queue *q;
		if (queue_open(&q, g_url, NULL, NULL, 0) == 0) {
			char *out = NULL;
			const char *ping[] = {"PING"};
			int rc = queue_command(q, &out, 1, ping);
			queue_close(q);
			free(out);
			if (rc == 0)
				return pid;
		}
		usleep(20000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

static int group_setup(void **state)
{
	int port = free_port();

	(void)state;
	g_dir = th_tmpdir("stats");
	if (!g_dir || port < 0)
		return -1;
	snprintf(g_url, sizeof(g_url), "redis://127.0.0.1:%d", port);
	g_redis = redis_start(port, g_dir);
	return g_redis > 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	if (g_redis > 0) {
		kill(g_redis, SIGTERM);
		waitpid(g_redis, NULL, 0);
	}
	th_rm_rf(g_dir);
	free(g_dir);
	return 0;
}

/* ---- helpers ---- */

static struct queue *open_q(void)
{
	struct queue *q = NULL;
	struct queue_opts o;
	char err[QUEUE_ERR_MAX] = "";

	queue_opts_init(&o);
	o.backoff_base_ms = 60000; /* a retried job stays in P:delayed during the test */
	if (queue_open(&q, g_url, &o, err, sizeof(err)))
		fail_msg("queue_open: %s", err);
	return q;
}

/* Run a command, return its reply as text (static buffer). */
static const char *cmdv(struct queue *q, int argc, const char **argv)
{
	static char buf[4096];
	char *out = NULL;

	assert_int_equal(queue_command(q, &out, argc, argv), 0);
	snprintf(buf, sizeof(buf), "%s", out);
	free(out);
	return buf;
}

static int flush(void **state)
{
	struct queue *q;
	const char *argv[] = {"FLUSHALL"};

	(void)state;
	if (queue_open(&q, g_url, NULL, NULL, 0))
		return -1;
	cmdv(q, 1, argv);
	queue_close(q);
	return 0;
}

/* Redis's clock in Unix ms. */
static long long redis_now(struct queue *q)
{
	const char *argv[] = {"TIME"};
	const char *t = cmdv(q, 1, argv);
	long long s = strtoll(t, NULL, 10), us = strtoll(strchr(t, '\n') + 1, NULL, 10);

	return s * 1000 + us / 1000;
}

static json_t *stats(struct queue *q)
{
	char *s = NULL, err[QUEUE_ERR_MAX] = "";
	json_t *j;

	if (queue_stats(q, &s, err, sizeof(err)))
		fail_msg("queue_stats: %s", err);
	j = json_loads(s, 0, NULL);
	free(s);
	assert_non_null(j);
	return j;
}

static long long jpath(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);

	if (b)
		v = json_object_get(v, b);
	if (!json_is_integer(v))
		fail_msg("%s%s%s is not an integer", a, b ? "." : "", b ? b : "");
	return json_integer_value(v);
}

static void submit(struct queue *q, const char *id)
{
	char doc[256], got[QUEUE_ID_MAX], err[QUEUE_ERR_MAX];

	snprintf(doc, sizeof(doc), "{\"id\":\"%s\",\"script\":\"print(1)\"}", id);
	if (queue_submit(q, doc, got, err, sizeof(err)))
		fail_msg("submit %s: %s", id, err);
}

/* Submit id and claim it as consumer w1. */
static void running(struct queue *q, const char *id, struct queue_job *job)
{
	char err[QUEUE_ERR_MAX] = "";

	submit(q, id);
	if (queue_fetch(q, "w1", 1000, job, err, sizeof(err)))
		fail_msg("fetch %s: %s", id, err);
	assert_string_equal(job->id, id);
}

static void hset(struct queue *q, const char *key, const char *field, const char *value)
{
	const char *argv[] = {"HSET", key, field, value};

	cmdv(q, 4, argv);
}

/* The listed worker named name, or NULL. */
static json_t *worker(json_t *st, const char *name)
{
	json_t *ws = json_object_get(st, "workers"), *w;
	size_t i;

	json_array_foreach(ws, i, w)
	{
		if (!strcmp(json_string_value(json_object_get(w, "name")), name))
			return w;
	}
	return NULL;
}

/* ---- tests ---- */

static void test_an_empty_database_answers_zeros_and_no_oldest_job(void **state)
{
	struct queue *q = open_q();
	json_t *st = stats(q);
	static const char *const states[] = {"queued", "running",   "succeeded",
					     "failed", "cancelled", "dead"};

	(void)state;
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(jpath(st, "states", states[i]), 0);
	assert_int_equal(jpath(st, "scanned", NULL), 0);
	assert_int_equal(jpath(st, "delayed", NULL), 0);
	assert_int_equal(jpath(st, "stream_length", NULL), 0);
	assert_true(json_is_null(json_object_get(st, "oldest_queued_age_ms")));
	assert_int_equal(jpath(st, "finished_last_minute", "succeeded"), 0);
	assert_int_equal(jpath(st, "frames_last_minute", NULL), 0);
	assert_int_equal(json_array_size(json_object_get(st, "workers")), 0);
	assert_true(json_is_array(json_object_get(st, "workers")));
	assert_int_equal(jpath(st, "workers_malformed", NULL), 0);
	assert_true(llabs(jpath(st, "now", NULL) - redis_now(q)) < 5000);
	json_decref(st);
	queue_close(q);
}

/* Each state reached the way workers reach it: queued (waiting, and back from a retry
 * in P:delayed), running, succeeded (with frames), failed, dead (rejected), cancelled. */
static void test_each_state_is_counted_as_the_api_moves_jobs(void **state)
{
	struct queue *q = open_q();
	struct queue_job run = {0}, ok = {0}, bad = {0}, rej = {0}, again = {0};
	char err[QUEUE_ERR_MAX] = "";
	json_t *st;

	(void)state;
	running(q, "ok", &ok);
	assert_int_equal(
	    queue_complete(q, &ok, "{\"status\":\"succeeded\",\"frames\":30}", err, sizeof(err)),
	    0);
	running(q, "bad", &bad);
	assert_int_equal(
	    queue_complete(q, &bad, "{\"status\":\"failed\",\"error\":\"boom\"}", err, sizeof(err)),
	    0);
	running(q, "rej", &rej);
	assert_int_equal(queue_reject(q, &rej, "malformed", err, sizeof(err)), 0);
	running(q, "again", &again);
	assert_int_equal(queue_retry(q, &again, "transient", err, sizeof(err)), 0);
	running(q, "run", &run);
	submit(q, "gone");
	assert_int_equal(queue_cancel(q, "gone", NULL, err, sizeof(err)), 0);
	submit(q, "wait");

	st = stats(q);
	assert_int_equal(jpath(st, "scanned", NULL), 7);
	assert_int_equal(jpath(st, "states", "queued"), 2); /* wait, and again in backoff */
	assert_int_equal(jpath(st, "states", "running"), 1);
	assert_int_equal(jpath(st, "states", "succeeded"), 1);
	assert_int_equal(jpath(st, "states", "failed"), 1);
	assert_int_equal(jpath(st, "states", "dead"), 1);
	assert_int_equal(jpath(st, "states", "cancelled"), 1);
	assert_int_equal(jpath(st, "delayed", NULL), 1);
	assert_int_equal(jpath(st, "stream_length", NULL), 2); /* run and wait */
	assert_int_equal(jpath(st, "finished_last_minute", "succeeded"), 1);
	assert_int_equal(jpath(st, "finished_last_minute", "failed"), 1);
	assert_int_equal(jpath(st, "finished_last_minute", "dead"), 1);
	assert_int_equal(jpath(st, "finished_last_minute", "cancelled"), 1);
	assert_int_equal(jpath(st, "frames_last_minute", NULL), 30);
	json_decref(st);

	/* A result from over a minute ago still counts in its state, not in the minute. */
	hset(q, "reelbox:job:ok", "finished", "1000");
	st = stats(q);
	assert_int_equal(jpath(st, "states", "succeeded"), 1);
	assert_int_equal(jpath(st, "finished_last_minute", "succeeded"), 0);
	assert_int_equal(jpath(st, "frames_last_minute", NULL), 0);
	json_decref(st);
	queue_job_clear(&run);
	queue_job_clear(&ok);
	queue_job_clear(&bad);
	queue_job_clear(&rej);
	queue_job_clear(&again);
	queue_close(q);
}

static void test_the_oldest_queued_job_gives_the_age_and_a_claim_removes_it(void **state)
{
	struct queue *q = open_q();
	struct queue_job job = {0};
	char err[QUEUE_ERR_MAX] = "";
	json_t *st;
	long long age;

	(void)state;
	submit(q, "first");
	usleep(400 * 1000);
	submit(q, "second");
	st = stats(q);
	age = jpath(st, "oldest_queued_age_ms", NULL);
	assert_true(age >= 380 && age < 10000);
	json_decref(st);

	assert_int_equal(queue_fetch(q, "w1", 1000, &job, err, sizeof(err)), 0);
	assert_string_equal(job.id, "first");
	st = stats(q);
	age = jpath(st, "oldest_queued_age_ms", NULL);
	assert_true(age >= 0 && age < 380);
	assert_int_equal(jpath(st, "states", "queued"), 1);
	assert_int_equal(jpath(st, "states", "running"), 1);
	json_decref(st);
	queue_job_clear(&job);
	queue_close(q);
}

/* Workers by the age of their entry: alive under 15 s, listed but not alive after,
 * removed from the registry after an hour; the known fields copied, the rest not. */
static void test_workers_show_heartbeat_age_alive_and_old_ones_are_pruned(void **state)
{
	struct queue *q = open_q();
	long long now = redis_now(q);
	char v[512];
	const char *hexists[] = {"HEXISTS", "reelbox:workers", "ancient"};
	json_t *st, *w;

	(void)state;
	snprintf(
	    v, sizeof(v),
	    "{\"name\":\"fresh\",\"host\":\"render-1\",\"pid\":4242,\"slots\":4,"
	    "\"running\":2,\"started\":%lld,\"seen\":%lld,\"version\":\"0.9\",\"stopping\":true,"
	    "\"secret\":\"not copied\"}",
	    now - 60000, now - 1000);
	hset(q, "reelbox:workers", "fresh", v);
	snprintf(v, sizeof(v), "{\"slots\":1,\"running\":0,\"seen\":%lld}", now - 20000);
	hset(q, "reelbox:workers", "quiet", v);
	snprintf(v, sizeof(v), "{\"slots\":1,\"seen\":%lld}", now - 2 * 3600 * 1000);
	hset(q, "reelbox:workers", "ancient", v);

	st = stats(q);
	assert_int_equal(json_array_size(json_object_get(st, "workers")), 2);
	w = worker(st, "fresh");
	assert_non_null(w);
	assert_true(json_is_true(json_object_get(w, "alive")));
	assert_true(jpath(w, "heartbeat_age_ms", NULL) >= 1000 &&
		    jpath(w, "heartbeat_age_ms", NULL) < 6000);
	assert_int_equal(jpath(w, "slots", NULL), 4);
	assert_int_equal(jpath(w, "running", NULL), 2);
	assert_int_equal(jpath(w, "pid", NULL), 4242);
	assert_int_equal(jpath(w, "started", NULL), now - 60000);
	assert_string_equal(json_string_value(json_object_get(w, "host")), "render-1");
	assert_string_equal(json_string_value(json_object_get(w, "version")), "0.9");
	assert_true(json_is_true(json_object_get(w, "stopping")));
	assert_null(json_object_get(w, "secret"));
	w = worker(st, "quiet");
	assert_non_null(w);
	assert_true(json_is_false(json_object_get(w, "alive")));
	assert_true(jpath(w, "heartbeat_age_ms", NULL) >= 20000);
	assert_null(worker(st, "ancient"));
	assert_string_equal(cmdv(q, 3, hexists), "0");
	/* Sorted by name, so a refreshing display does not shuffle. */
	assert_string_equal(json_string_value(json_object_get(
				json_array_get(json_object_get(st, "workers"), 0), "name")),
			    "fresh");
	json_decref(st);
	queue_close(q);
}

/* Entries anyone with Redis access may write: each bad one is left out and counted,
 * the good one beside them still listed, strings bounded and never control bytes. */
static void test_malformed_worker_entries_are_skipped_and_counted(void **state)
{
	struct queue *q = open_q();
	long long now = redis_now(q);
	char v[512], big[2048], name[300];
	json_t *st, *w;
	const char *host;

	(void)state;
	snprintf(v, sizeof(v), "{\"slots\":2,\"seen\":%lld}", now);
	hset(q, "reelbox:workers", "good", v);
	hset(q, "reelbox:workers", "notjson", "{\"seen\":");
	hset(q, "reelbox:workers", "array", "[1,2,3]");
	hset(q, "reelbox:workers", "noseen", "{\"slots\":2}");
	hset(q, "reelbox:workers", "textseen", "{\"seen\":\"yesterday\"}");
	hset(q, "reelbox:workers", "negseen", "{\"seen\":-5}");
	snprintf(big, sizeof(big), "{\"seen\":%lld,\"host\":\"%01200d\"}", now, 0);
	hset(q, "reelbox:workers", "huge", big);
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	hset(q, "reelbox:workers", name, v);
	/* An escape sequence, raw and as JSON's \u001b, a host over the cap, bad numbers. */
	snprintf(big, sizeof(big),
		 "{\"seen\":%lld,\"host\":\"\\u001b[2J%0300d\",\"version\":\"\xff\xfe\","
		 "\"slots\":-1,\"running\":\"2\",\"pid\":1e300,\"stopping\":\"yes\"}",
		 now, 0);
	hset(q, "reelbox:workers", "esc\x1b[31m\nname", big);

	st = stats(q);
	assert_int_equal(json_array_size(json_object_get(st, "workers")), 2);
	assert_int_equal(jpath(st, "workers_malformed", NULL), 7);
	assert_non_null(worker(st, "good"));
	assert_int_equal(jpath(worker(st, "good"), "slots", NULL), 2);
	/* Line breaks and bytes outside printable ASCII in a name become '?'. */
	w = worker(st, "esc?[31m name");
	assert_non_null(w);
	host = json_string_value(json_object_get(w, "host"));
	assert_non_null(host);
	assert_int_equal(strlen(host), 128);
	assert_null(json_object_get(w, "slots"));
	assert_null(json_object_get(w, "running"));
	assert_null(json_object_get(w, "pid"));
	assert_null(json_object_get(w, "stopping"));
	assert_string_equal(json_string_value(json_object_get(w, "version")), "??");
	json_decref(st);
	queue_close(q);
}

/* A client opened with another prefix reads its own keys, and only those. */
static void test_another_prefix_is_a_queue_of_its_own(void **state)
{
	struct queue *q = open_q(), *other = NULL;
	struct queue_opts o;
	char err[QUEUE_ERR_MAX] = "", got[QUEUE_ID_MAX];
	json_t *st;

	(void)state;
	queue_opts_init(&o);
	o.prefix = "farm2";
	if (queue_open(&other, g_url, &o, err, sizeof(err)))
		fail_msg("queue_open: %s", err);
	assert_int_equal(queue_submit(other, "{\"script\":\"print(1)\"}", got, err, sizeof(err)),
			 0);
	hset(q, "farm2:workers", "w2", "{\"seen\":1}");
	hset(q, "reelbox:workers", "w1", "{\"seen\":1}");
	st = stats(other);
	assert_int_equal(jpath(st, "states", "queued"), 1);
	assert_int_equal(jpath(st, "stream_length", NULL), 1);
	json_decref(st);
	/* It pruned its own registry's ancient entry, not the other queue's. */
	assert_string_equal(cmdv(q, 3, (const char *[]){"HEXISTS", "farm2:workers", "w2"}), "0");
	assert_string_equal(cmdv(q, 3, (const char *[]){"HEXISTS", "reelbox:workers", "w1"}), "1");
	st = stats(q);
	assert_int_equal(jpath(st, "states", "queued"), 0);
	assert_int_equal(jpath(st, "stream_length", NULL), 0);
	json_decref(st);
	queue_close(other);
	queue_close(q);
}

/* A key of the wrong type where the index or registry should be does not break the
 * answer: it reads as empty. */
static void test_keys_of_the_wrong_type_read_as_empty(void **state)
{
	struct queue *q = open_q();
	const char *a[] = {"SET", "reelbox:jobs:recent", "x"};
	const char *b[] = {"SET", "reelbox:workers", "x"};
	json_t *st;

	(void)state;
	cmdv(q, 3, a);
	cmdv(q, 3, b);
	st = stats(q);
	assert_int_equal(jpath(st, "scanned", NULL), 0);
	assert_int_equal(json_array_size(json_object_get(st, "workers")), 0);
	json_decref(st);
	queue_close(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_an_empty_database_answers_zeros_and_no_oldest_job, flush),
	    cmocka_unit_test_setup(test_each_state_is_counted_as_the_api_moves_jobs, flush),
	    cmocka_unit_test_setup(test_the_oldest_queued_job_gives_the_age_and_a_claim_removes_it,
				   flush),
	    cmocka_unit_test_setup(test_workers_show_heartbeat_age_alive_and_old_ones_are_pruned,
				   flush),
	    cmocka_unit_test_setup(test_malformed_worker_entries_are_skipped_and_counted, flush),
	    cmocka_unit_test_setup(test_another_prefix_is_a_queue_of_its_own, flush),
	    cmocka_unit_test_setup(test_keys_of_the_wrong_type_read_as_empty, flush),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
