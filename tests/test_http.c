/* test_http.c - the HTTP leaf serves its registered paths from a libuv loop, and only
 * those; test_metrics' half checks the Prometheus text the worker serves there.
 *
 * A real server on 127.0.0.1 and a real client: the loop runs on the test's thread (as
 * in the worker), the client on another, which wakes the loop to close the server once
 * it has its answer.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "http.h"
#include "jobrun.h"
#include "metrics.h"

struct exchange {
	uv_loop_t loop;
	uv_async_t done;
	struct http_server *srv;
	uint16_t port;
	char request[512];
	char response[8192];
	int bodies; /* how often the body function ran */
};

static int hello_body(void *opaque, char **body, size_t *len)
{
	struct exchange *x = opaque;

	x->bodies++;
	*body = strdup("hello from the loop\n");
	*len = strlen(*body);
	return 0;
}

static int failing_body(void *opaque, char **body, size_t *len)
{
	(void)opaque;
	(void)body;
	(void)len;
	return -ENOMEM;
}

/* The client: one request, the whole answer (the server closes, or 5 s pass). */
static void *client(void *arg)
{
	struct exchange *x = arg;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(x->port)};
	struct timeval tv = {.tv_sec = 5};
	size_t used = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    write(fd, x->request, strlen(x->request)) == (ssize_t)strlen(x->request)) {
		ssize_t n;
		while (used + 1 < sizeof(x->response) &&
		       (n = read(fd, x->response + used, sizeof(x->response) - 1 - used)) > 0)
			used += (size_t)n;
	}
	x->response[used] = '\0';
	if (fd >= 0)
		close(fd);
	uv_async_send(&x->done);
	return NULL;
}

static void on_done(uv_async_t *a)
{
	struct exchange *x = a->data;

	http_close(x->srv);
	uv_close((uv_handle_t *)a, NULL);
}

/* Serve /hello (and /broken), send request, return once the loop has no handle left:
 * http_close let every one of the server's handles go. */
static void exchange(struct exchange *x, const char *request)
{
	char err[256];
	pthread_t t;

	memset(x, 0, sizeof(*x));
	assert_int_equal(uv_loop_init(&x->loop), 0);
	assert_int_equal(http_open(&x->srv, &x->loop, 0, err, sizeof(err)), 0);
	assert_int_equal(http_route(x->srv, "/hello", "text/plain", hello_body, x), 0);
	assert_int_equal(http_route(x->srv, "/broken", "text/plain", failing_body, x), 0);
	x->port = http_port(x->srv);
	assert_true(x->port > 0);
	snprintf(x->request, sizeof(x->request), "%s", request);
	uv_async_init(&x->loop, &x->done, on_done);
	x->done.data = x;
	assert_int_equal(pthread_create(&t, NULL, client, x), 0);
	assert_int_equal(uv_run(&x->loop, UV_RUN_DEFAULT), 0);
	pthread_join(t, NULL);
	assert_int_equal(uv_loop_close(&x->loop), 0);
}

static void test_registered_path_answers_200_with_its_body_and_type(void **state)
{
	struct exchange x;

	exchange(&x, "GET /hello HTTP/1.0\r\n\r\n");
	assert_non_null(strstr(x.response, " 200 "));
	assert_non_null(strstr(x.response, "Content-Type: text/plain"));
	assert_non_null(strstr(x.response, "\r\n\r\nhello from the loop\n"));
	assert_int_equal(x.bodies, 1);
}

static void test_head_answers_without_a_body(void **state)
{
	struct exchange x;

	exchange(&x, "HEAD /hello HTTP/1.0\r\n\r\n");
	assert_non_null(strstr(x.response, " 200 "));
	assert_null(strstr(x.response, "hello from the loop"));
}

static void test_unregistered_path_is_404_and_runs_no_body(void **state)
{
	struct exchange x;

	exchange(&x, "GET /hello/../etc/passwd HTTP/1.0\r\n\r\n");
	assert_non_null(strstr(x.response, " 404 "));
	assert_int_equal(x.bodies, 0);
	exchange(&x, "GET /hellox HTTP/1.0\r\n\r\n");
	assert_non_null(strstr(x.response, " 404 "));
}

static void test_other_methods_are_405_with_allow(void **state)
{
	struct exchange x;

	exchange(&x, "POST /hello HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc");
	assert_non_null(strstr(x.response, " 405 "));
	assert_non_null(strstr(x.response, "Allow: GET, HEAD"));
	assert_int_equal(x.bodies, 0);
}

static void test_a_failing_body_is_500(void **state)
{
	struct exchange x;

	exchange(&x, "GET /broken HTTP/1.0\r\n\r\n");
	assert_non_null(strstr(x.response, " 500 "));
}

static void test_garbage_request_gets_an_error_not_a_crash(void **state)
{
	struct exchange x;

	exchange(&x, "\x01\x02 not http at all\r\n\r\n");
	assert_null(strstr(x.response, " 200 "));
	assert_int_equal(x.bodies, 0);
}

static void test_a_taken_port_is_one_sentence(void **state)
{
	struct http_server *a, *b;
	uv_loop_t loop;
	char err[256] = "";

	uv_loop_init(&loop);
	assert_int_equal(http_open(&a, &loop, 0, err, sizeof(err)), 0);
	assert_true(http_open(&b, &loop, http_port(a), err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "cannot listen on 127.0.0.1:"));
	http_close(a);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_routes_are_unique_and_bounded(void **state)
{
	struct http_server *s;
	uv_loop_t loop;
	char err[256], path[16];
	int i;

	uv_loop_init(&loop);
	assert_int_equal(http_open(&s, &loop, 0, err, sizeof(err)), 0);
	assert_int_equal(http_route(s, "/a", "text/plain", hello_body, NULL), 0);
	assert_int_equal(http_route(s, "/a", "text/plain", hello_body, NULL), -EEXIST);
	for (i = 1; i < HTTP_MAX_ROUTES; i++) {
		snprintf(path, sizeof(path), "/p%d", i);
		assert_int_equal(http_route(s, path, "text/plain", hello_body, NULL), 0);
	}
	assert_int_equal(http_route(s, "/one-more", "text/plain", hello_body, NULL), -ENOSPC);
	http_close(s);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- metrics.c ---- */

static char *value_line(const char *text, const char *name)
{
	static char line[256];
	const char *p = text;
	size_t n = strlen(name);

	for (; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (!strncmp(p, name, n) && p[n] == ' ') {
			snprintf(line, sizeof(line), "%.*s", (int)strcspn(p, "\n"), p);
			return line;
		}
	return NULL;
}

static void test_metrics_text_names_every_counter_and_gauge(void **state)
{
	struct metrics m = {.succeeded = 3, .failed = 1, .frames = 42, .kills_timeout = 2};
	struct metrics_gauges g = {
	    .running = 1, .results_waiting = 4, .redis_up = 1, .claiming = 0, .disk_ok = 1};
	char *text = NULL;
	size_t len = 0;

	assert_int_equal(metrics_text(&m, &g, &text, &len), 0);
	assert_int_equal(strlen(text), len);
	assert_string_equal(value_line(text, "reelbox_jobs_total{state=\"succeeded\"}"),
			    "reelbox_jobs_total{state=\"succeeded\"} 3");
	assert_string_equal(value_line(text, "reelbox_frames_total"), "reelbox_frames_total 42");
	assert_string_equal(value_line(text, "reelbox_sandbox_kills_total{reason=\"timeout\"}"),
			    "reelbox_sandbox_kills_total{reason=\"timeout\"} 2");
	assert_string_equal(value_line(text, "reelbox_results_waiting"),
			    "reelbox_results_waiting 4");
	assert_string_equal(value_line(text, "reelbox_claiming"), "reelbox_claiming 0");
	assert_string_equal(value_line(text, "reelbox_disk_ok"), "reelbox_disk_ok 1");
	assert_non_null(strstr(text, "# TYPE reelbox_jobs_total counter\n"));
	assert_non_null(strstr(text, "# TYPE reelbox_job_duration_seconds histogram\n"));
	free(text);
}

static void test_kills_are_counted_by_end_reason_not_by_words(void **state)
{
	struct metrics m;
	struct runner_result res;

	metrics_init(&m);
	memset(&res, 0, sizeof(res));
	res.end = RUNNER_END_TIMEOUT;
	res.limit_hit = 1;
	snprintf(res.error, sizeof(res.error), "the job ran past its 5 s wall clock");
	metrics_count_run(&m, &res);
	/* A script's own words that mention a timeout are not a kill. */
	res.end = RUNNER_END_SCRIPT_FAILED;
	res.limit_hit = 0;
	snprintf(res.error, sizeof(res.error), "script exited with status 1: timeout waiting");
	metrics_count_run(&m, &res);
	res.end = RUNNER_END_LIMIT;
	res.limit_hit = 1;
	res.frames = 7;
	res.total_ms = 1500;
	metrics_count_run(&m, &res);
	assert_int_equal(m.kills_timeout, 1);
	assert_int_equal(m.kills_limit, 1);
	assert_int_equal(m.kills_cancel, 0);
	assert_int_equal(m.frames, 7);
	assert_int_equal(m.duration.count, 3);
}

static void test_histograms_are_cumulative_with_inf_sum_and_count(void **state)
{
	struct metrics m;
	struct metrics_gauges g = {0};
	struct runner_result res;
	char *text = NULL;
	size_t len = 0;

	(void)state;
	metrics_init(&m);
	memset(&res, 0, sizeof(res));
	/* Two runs: 0.4 s and 3 s, 30 frames each, sandboxes made in 4 ms and 20 ms. */
	res.succeeded = 1, res.frames = 30, res.total_ms = 400, res.sandbox_start_us = 4000;
	metrics_count_run(&m, &res);
	res.total_ms = 3000, res.sandbox_start_us = 20000;
	metrics_count_run(&m, &res);
	/* A job that ran 2 hours lands in +Inf only. */
	res.succeeded = 0, res.total_ms = 7200000, res.sandbox_start_us = 0;
	metrics_count_run(&m, &res);
	metrics_count_upload(&m, 1, 0.3, 1000);
	metrics_count_upload(&m, 0, 61, 5000);
	assert_int_equal(metrics_text(&m, &g, &text, &len), 0);
	assert_non_null(strstr(text, "# TYPE reelbox_job_duration_seconds histogram\n"));
	assert_string_equal(value_line(text, "reelbox_job_duration_seconds_bucket{le=\"0.5\"}"),
			    "reelbox_job_duration_seconds_bucket{le=\"0.5\"} 1");
	assert_string_equal(value_line(text, "reelbox_job_duration_seconds_bucket{le=\"5\"}"),
			    "reelbox_job_duration_seconds_bucket{le=\"5\"} 2");
	assert_string_equal(value_line(text, "reelbox_job_duration_seconds_bucket{le=\"1800\"}"),
			    "reelbox_job_duration_seconds_bucket{le=\"1800\"} 2");
	assert_string_equal(value_line(text, "reelbox_job_duration_seconds_bucket{le=\"+Inf\"}"),
			    "reelbox_job_duration_seconds_bucket{le=\"+Inf\"} 3");
	assert_string_equal(value_line(text, "reelbox_job_duration_seconds_count"),
			    "reelbox_job_duration_seconds_count 3");
	assert_string_equal(value_line(text, "reelbox_job_duration_seconds_sum"),
			    "reelbox_job_duration_seconds_sum 7203.400000");
	/* 75 and 10 frames per second; only rendered runs count. */
	assert_string_equal(value_line(text, "reelbox_job_frames_per_second_bucket{le=\"10\"}"),
			    "reelbox_job_frames_per_second_bucket{le=\"10\"} 1");
	assert_string_equal(value_line(text, "reelbox_job_frames_per_second_count"),
			    "reelbox_job_frames_per_second_count 2");
	assert_string_equal(value_line(text, "reelbox_sandbox_start_seconds_bucket{le=\"0.005\"}"),
			    "reelbox_sandbox_start_seconds_bucket{le=\"0.005\"} 1");
	assert_string_equal(value_line(text, "reelbox_sandbox_start_seconds_count"),
			    "reelbox_sandbox_start_seconds_count 2");
	assert_string_equal(value_line(text, "reelbox_uploads_total{outcome=\"ok\"}"),
			    "reelbox_uploads_total{outcome=\"ok\"} 1");
	assert_string_equal(value_line(text, "reelbox_uploads_total{outcome=\"failed\"}"),
			    "reelbox_uploads_total{outcome=\"failed\"} 1");
	assert_string_equal(value_line(text, "reelbox_upload_bytes_total"),
			    "reelbox_upload_bytes_total 1000");
	assert_string_equal(value_line(text, "reelbox_upload_seconds_bucket{le=\"60\"}"),
			    "reelbox_upload_seconds_bucket{le=\"60\"} 1");
	free(text);
}

static void test_model_attempts_are_counted_by_outcome_with_time_and_tokens(void **state)
{
	struct jobrun_attempt a[3];
	struct metrics m = {0};
	char *text = NULL;
	size_t len = 0;
	struct metrics_gauges g = {0};

	(void)state;
	memset(a, 0, sizeof(a));
	a[0] = (struct jobrun_attempt){.end = RUNNER_END_SCRIPT_FAILED,
				       .model_ms = 1500,
				       .input_tokens = 800,
				       .output_tokens = 60};
	a[1] = (struct jobrun_attempt){
	    .succeeded = 1, .model_ms = 500, .input_tokens = 900, .output_tokens = -1};
	a[2] = (struct jobrun_attempt){.end = RUNNER_END_MODEL, .input_tokens = -1};
	metrics_count_attempts(&m, a, 3);
	assert_int_equal(metrics_text(&m, &g, &text, &len), 0);
	assert_string_equal(value_line(text, "reelbox_model_attempts_total{outcome=\"rendered\"}"),
			    "reelbox_model_attempts_total{outcome=\"rendered\"} 1");
	assert_string_equal(value_line(text, "reelbox_model_attempts_total{outcome=\"failed\"}"),
			    "reelbox_model_attempts_total{outcome=\"failed\"} 1");
	assert_string_equal(value_line(text, "reelbox_model_attempts_total{outcome=\"model\"}"),
			    "reelbox_model_attempts_total{outcome=\"model\"} 1");
	assert_string_equal(value_line(text, "reelbox_model_seconds_total"),
			    "reelbox_model_seconds_total 2.000");
	assert_string_equal(value_line(text, "reelbox_model_tokens_total{direction=\"input\"}"),
			    "reelbox_model_tokens_total{direction=\"input\"} 1700");
	assert_string_equal(value_line(text, "reelbox_model_tokens_total{direction=\"output\"}"),
			    "reelbox_model_tokens_total{direction=\"output\"} 60");
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_registered_path_answers_200_with_its_body_and_type),
	    cmocka_unit_test(test_head_answers_without_a_body),
	    cmocka_unit_test(test_unregistered_path_is_404_and_runs_no_body),
	    cmocka_unit_test(test_other_methods_are_405_with_allow),
	    cmocka_unit_test(test_a_failing_body_is_500),
	    cmocka_unit_test(test_garbage_request_gets_an_error_not_a_crash),
	    cmocka_unit_test(test_a_taken_port_is_one_sentence),
	    cmocka_unit_test(test_routes_are_unique_and_bounded),
	    cmocka_unit_test(test_metrics_text_names_every_counter_and_gauge),
	    cmocka_unit_test(test_histograms_are_cumulative_with_inf_sum_and_count),
	    cmocka_unit_test(test_model_attempts_are_counted_by_outcome_with_time_and_tokens),
	    cmocka_unit_test(test_kills_are_counted_by_end_reason_not_by_words),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
