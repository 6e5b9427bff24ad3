/* test_logs.c - a job's log stream in Redis (queue/logs.c, the log and logread
 * scripts) and the worker's batching of it (worker/logship.c), against a real
 * redis-server on a private port.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "helpers.h"
#include "logship.h"
#include "queue.h"

static char *g_dir;
static pid_t g_redis;
static char g_url[64];

static int group_setup(void **state)
{
	int port = th_free_port();

	(void)state;
	g_dir = th_tmpdir("logs");
	if (!g_dir || port < 0)
		return -1;
	snprintf(g_url, sizeof(g_url), "redis://127.0.0.1:%d", port);
	g_redis = th_redis_start(port, g_dir, 0);
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

static struct queue *open_q(void)
{
	struct queue_opts o;
	struct queue *q = NULL;
	char err[QUEUE_ERR_MAX] = "";

	queue_opts_init(&o);
	o.lease_ms = 1000;
	o.poll_ms = 200;
	o.result_ttl_s = 600;
	if (queue_open(&q, g_url, &o, err, sizeof(err)))
		fail_msg("queue_open: %s", err);
	return q;
}

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

static int flush(void **state)
{
	struct queue *q = open_q();

	(void)state;
	cmd(q, 1, "FLUSHALL");
	queue_close(q);
	return 0;
}

/* Submit job id and claim it as worker "w1". */
static void submit_and_claim(struct queue *q, const char *id, struct queue_job *job)
{
	char doc[256], got[QUEUE_ID_MAX], err[QUEUE_ERR_MAX];

	snprintf(doc, sizeof(doc), "{\"id\":\"%s\",\"script\":\"print(1)\"}", id);
	assert_int_equal(queue_submit(q, doc, got, err, sizeof(err)), 0);
	assert_int_equal(queue_fetch(q, "w1", 1000, job, err, sizeof(err)), 0);
	assert_string_equal(job->id, id);
}

static void append(struct queue *q, const struct queue_job *job, const char *text)
{
	char err[QUEUE_ERR_MAX] = "";

	if (queue_log_append(q, job, text, strlen(text), err, sizeof(err)))
		fail_msg("append: %s", err);
}

/* One read after *cursor, as a parsed document. */
static json_t *read_log(struct queue *q, const char *id, char cursor[QUEUE_ENTRY_MAX], int block)
{
	char *text = NULL, err[QUEUE_ERR_MAX] = "";
	json_t *doc;

	if (queue_log_read(q, id, cursor, block, &text, err, sizeof(err)))
		fail_msg("read: %s", err);
	doc = json_loads(text, 0, NULL);
	free(text);
	assert_non_null(doc);
	return doc;
}

static const char *entry_text(json_t *doc, size_t i)
{
	return json_string_value(
	    json_object_get(json_array_get(json_object_get(doc, "entries"), i), "text"));
}

static size_t n_entries(json_t *doc)
{
	return json_array_size(json_object_get(doc, "entries"));
}

static void test_lines_are_read_back_in_order_with_their_attempt_and_a_cursor(void **state)
{
	struct queue *q = open_q();
	struct queue_job job = {0};
	char cursor[QUEUE_ENTRY_MAX] = "0";
	json_t *doc;

	(void)state;
	submit_and_claim(q, "logjob", &job);
	append(q, &job, "frame 0\nframe 1\n");
	append(q, &job, "frame 2\n");
	doc = read_log(q, "logjob", cursor, 0);
	assert_string_equal(json_string_value(json_object_get(doc, "state")), "running");
	assert_int_equal(n_entries(doc), 2);
	assert_string_equal(entry_text(doc, 0), "frame 0\nframe 1\n");
	assert_string_equal(entry_text(doc, 1), "frame 2\n");
	assert_int_equal(json_integer_value(json_object_get(
			     json_array_get(json_object_get(doc, "entries"), 1), "attempt")),
			 1);
	json_decref(doc);

	/* The cursor moved past what was read: only what comes next is new. */
	append(q, &job, "frame 3\n");
	doc = read_log(q, "logjob", cursor, 0);
	assert_int_equal(n_entries(doc), 1);
	assert_string_equal(entry_text(doc, 0), "frame 3\n");
	json_decref(doc);
	doc = read_log(q, "logjob", cursor, 0);
	assert_int_equal(n_entries(doc), 0);
	json_decref(doc);
	queue_job_clear(&job);
	queue_close(q);
}

static void test_a_follower_waits_for_lines_then_gives_up_at_its_deadline(void **state)
{
	struct queue *q = open_q();
	struct queue_job job = {0};
	char cursor[QUEUE_ENTRY_MAX] = "0";
	struct timespec t0, t1;
	json_t *doc;
	pid_t pid;
	long ms;

	(void)state;
	submit_and_claim(q, "waiter", &job);
	/* Nothing yet: the read blocks for its 300 ms, then answers with no entries. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	doc = read_log(q, "waiter", cursor, 300);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_int_equal(n_entries(doc), 0);
	assert_true(ms >= 250 && ms < 3000);
	json_decref(doc);

	/* A line appended by another client while the reader waits wakes it. */
	pid = fork();
	if (pid == 0) {
		struct queue *q2 = open_q();
		usleep(200000);
		append(q2, &job, "late line\n");
		queue_close(q2);
		_exit(0);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	doc = read_log(q, "waiter", cursor, 5000);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	waitpid(pid, NULL, 0);
	assert_int_equal(n_entries(doc), 1);
	assert_string_equal(entry_text(doc, 0), "late line\n");
	assert_true(ms < 4000);
	json_decref(doc);
	queue_job_clear(&job);
	queue_close(q);
}

static void test_only_the_claim_that_holds_the_job_can_write_its_log(void **state)
{
	struct queue *q = open_q();
	struct queue_job job = {0}, other;
	char cursor[QUEUE_ENTRY_MAX] = "0", err[QUEUE_ERR_MAX] = "", big[QUEUE_LOG_BATCH_MAX + 2];
	json_t *doc;

	(void)state;
	submit_and_claim(q, "fenced", &job);
	other = job;
	other.doc = NULL;
	snprintf(other.token, sizeof(other.token), "1-00000000deadbeef");
	assert_int_equal(queue_log_append(q, &other, "intruder\n", 9, err, sizeof(err)), -ESTALE);
	/* A batch over the cap is refused before anything is sent. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(queue_log_append(q, &job, big, strlen(big), err, sizeof(err)), -EMSGSIZE);
	assert_non_null(strstr(err, "at most"));
	/* After the result is recorded, the claim cannot write either. */
	assert_int_equal(queue_complete(q, &job, "{\"status\":\"succeeded\"}", err, sizeof(err)),
			 0);
	assert_int_equal(queue_log_append(q, &job, "late\n", 5, err, sizeof(err)), -ESTALE);
	doc = read_log(q, "fenced", cursor, 0);
	assert_int_equal(n_entries(doc), 0);
	assert_string_equal(json_string_value(json_object_get(doc, "state")), "succeeded");
	json_decref(doc);
	queue_job_clear(&job);
	queue_close(q);
}

static void test_the_log_is_trimmed_expires_with_the_result_and_goes_with_delete(void **state)
{
	struct queue *q = open_q();
	struct queue_job job = {0};
	char err[QUEUE_ERR_MAX] = "", line[64], st[16];
	long long len, ttl;

	(void)state;
	submit_and_claim(q, "trim", &job);
	for (int i = 0; i < 1000; i++) {
		snprintf(line, sizeof(line), "line %d\n", i);
		append(q, &job, line);
	}
	len = atoll(cmd(q, 2, "XLEN", "reelbox:job:trim:log"));
	assert_true(len >= QUEUE_LOG_ENTRIES && len < QUEUE_LOG_ENTRIES + 200);
	/* Running: the log has a TTL of its own, so a vanished worker's log goes too. */
	ttl = atoll(cmd(q, 2, "TTL", "reelbox:job:trim:log"));
	assert_true(ttl > 500 && ttl <= 600);
	assert_int_equal(
	    queue_complete(q, &job, "{\"status\":\"failed\",\"error\":\"x\"}", err, sizeof(err)),
	    0);
	ttl = atoll(cmd(q, 2, "TTL", "reelbox:job:trim:log"));
	assert_true(ttl > 500 && ttl <= 600);
	assert_int_equal(queue_delete(q, "trim", st, err, sizeof(err)), 0);
	assert_string_equal(cmd(q, 2, "EXISTS", "reelbox:job:trim:log"), "0");
	queue_job_clear(&job);
	queue_close(q);
}

static void test_unknown_and_bad_ids_and_what_a_producer_wrote_by_hand_stay_bounded(void **state)
{
	struct queue *q = open_q();
	struct queue_job job = {0};
	char cursor[QUEUE_ENTRY_MAX] = "0", err[QUEUE_ERR_MAX] = "", *text = NULL;
	char *huge = malloc(1 << 20);
	const char *argv[8];
	char *out = NULL;
	json_t *doc;
	size_t total = 0;

	(void)state;
	assert_int_equal(queue_log_read(q, "nosuch", cursor, 0, &text, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "no job nosuch"));
	assert_int_equal(queue_log_read(q, "../x", cursor, 0, &text, err, sizeof(err)), -EINVAL);
	assert_null(text);

	submit_and_claim(q, "byhand", &job);
	/* 100 entries of 1 MiB each, and one that is not UTF-8, written by hand. */
	memset(huge, 'y', (1 << 20) - 1);
	huge[(1 << 20) - 1] = '\0';
	argv[0] = "XADD", argv[1] = "reelbox:job:byhand:log", argv[2] = "*", argv[3] = "a";
	argv[4] = "1", argv[5] = "t", argv[6] = huge;
	for (int i = 0; i < 100; i++) {
		assert_int_equal(queue_command(q, &out, 7, argv), 0);
		free(out);
	}
	argv[6] = "caf\xc3\xa9 \xff\xfe bad";
	assert_int_equal(queue_command(q, &out, 7, argv), 0);
	free(out);
	/* Each read is bounded (an entry cut to the batch cap, the read to its budget),
	 * and reading on reaches everything. */
	for (int reads = 0; reads < 200; reads++) {
		size_t n;
		doc = read_log(q, "byhand", cursor, 0);
		n = n_entries(doc);
		if (!n) {
			json_decref(doc);
			break;
		}
		for (size_t i = 0; i < n; i++) {
			const char *t = entry_text(doc, i);
			assert_true(strlen(t) <= QUEUE_LOG_BATCH_MAX);
			if (strstr(t, "bad"))
				assert_string_equal(t, "caf?? ?? bad");
			total++;
		}
		assert_true(n * QUEUE_LOG_BATCH_MAX <= QUEUE_LOG_READ_BUDGET + QUEUE_LOG_BATCH_MAX);
		json_decref(doc);
	}
	assert_int_equal(total, 101);
	free(huge);
	queue_job_clear(&job);
	queue_close(q);
}

static void test_logship_batches_whole_lines_and_says_where_it_stops(void **state)
{
	struct logship ls;
	char line[3072];
	const char *b;
	size_t len, shipped = 0;
	int rc, full = 0;

	(void)state;
	logship_reset(&ls);
	assert_null(logship_take(&ls, &len));
	assert_int_equal(logship_add(&ls, "one", 3), 0);
	assert_int_equal(logship_add(&ls, "", 0), 0);
	b = logship_take(&ls, &len);
	assert_int_equal(len, 5);
	assert_memory_equal(b, "one\n\n", 5);

	/* Long lines: a batch never splits one, and never passes the cap. */
	memset(line, 'z', sizeof(line));
	assert_int_equal(logship_add(&ls, line, sizeof(line)), 0);
	assert_int_equal(logship_add(&ls, line, sizeof(line)), 2); /* not taken: send first */
	b = logship_take(&ls, &len);
	assert_int_equal(len, sizeof(line) + 1);
	assert_int_equal(b[len - 1], '\n');

	/* Past LOGSHIP_MAX bytes one line says so, and nothing more is gathered. */
	logship_reset(&ls);
	for (int i = 0; i < 2000; i++) {
		rc = logship_add(&ls, line, 1000);
		if (rc == 2) {
			b = logship_take(&ls, &len);
			shipped += len;
			rc = logship_add(&ls, line, 1000);
		}
		assert_true(rc == 0 || rc == 1);
		if (rc == 1) {
			b = logship_take(&ls, &len);
			shipped += len;
			full++;
		}
		assert_true(ls.len <= QUEUE_LOG_BATCH_MAX);
	}
	b = logship_take(&ls, &len);
	shipped += len;
	assert_true(ls.capped);
	assert_true(shipped <= LOGSHIP_MAX + QUEUE_LOG_BATCH_MAX);
	assert_true(shipped >= LOGSHIP_MAX - 2000);
	assert_true(ls.dropped > 0);
	assert_int_equal(full, 1); /* only the cap's batch went out as "full" */
	assert_int_equal(logship_add(&ls, "more", 4), 0);
	assert_null(logship_take(&ls, &len));
}

/* A "Redis" on a loopback port that answers each command, but one byte every 100 ms:
 * a child process serving one connection. Returns its pid; *port is where it listens. */
static pid_t trickler_start(int *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), c;
	pid_t pid;

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	if ((pid = fork()) != 0) {
		close(fd);
		return pid;
	}
	if ((c = accept(fd, NULL, NULL)) >= 0) {
		const char answer[] = "$40\r\n0123456789012345678901234567890123456789\r\n";
		char in[4096];
		while (read(c, in, sizeof(in)) > 0)
			for (size_t i = 0; i + 1 < sizeof(answer); i++) {
				if (write(c, answer + i, 1) != 1)
					_exit(0);
				usleep(100 * 1000);
			}
	}
	_exit(0);
}

/* The command deadline is for the whole answer: a Redis that trickles it (a byte every
 * 100 ms, each read well inside the deadline) is cut off at the deadline, not after the
 * 4.7 s its answer takes. */
static void test_a_redis_that_trickles_its_answer_is_cut_off_at_the_deadline(void **state)
{
	struct queue_opts o;
	struct queue *q = NULL;
	char err[QUEUE_ERR_MAX] = "", url[64], cursor[QUEUE_ENTRY_MAX] = "0", *out = NULL;
	struct timespec t0, t1;
	int port, status;
	pid_t pid = trickler_start(&port);
	long ms;

	(void)state;
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
	queue_opts_init(&o);
	o.command_timeout_ms = 300;
	assert_int_equal(queue_open(&q, url, &o, err, sizeof(err)), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(queue_log_read(q, "j1", cursor, 0, &out, err, sizeof(err)), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms >= 250 && ms < 1500);
	assert_non_null(strstr(err, "did not answer within 300 ms"));
	assert_null(out);
	queue_close(q);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(
		test_lines_are_read_back_in_order_with_their_attempt_and_a_cursor, flush),
	    cmocka_unit_test_setup(test_a_follower_waits_for_lines_then_gives_up_at_its_deadline,
				   flush),
	    cmocka_unit_test_setup(test_only_the_claim_that_holds_the_job_can_write_its_log, flush),
	    cmocka_unit_test_setup(
		test_the_log_is_trimmed_expires_with_the_result_and_goes_with_delete, flush),
	    cmocka_unit_test_setup(
		test_unknown_and_bad_ids_and_what_a_producer_wrote_by_hand_stay_bounded, flush),
	    cmocka_unit_test(test_logship_batches_whole_lines_and_says_where_it_stops),
	    cmocka_unit_test(test_a_redis_that_trickles_its_answer_is_cut_off_at_the_deadline),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
