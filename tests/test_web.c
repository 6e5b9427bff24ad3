/* test_web.c - the dashboard's gate and its Range parser.
 *
 * The gate is exercised on a real libmicrohttpd server in this process, serving
 * web_request exactly as `reelbox web` does, with raw HTTP written by hand so every
 * header is what the test says (a client library would add or fix some). Its Redis is a
 * closed port: a request that passes the gate gets 503 with a sentence, which tells it
 * apart from every refusal (400, 401, 403, 404, 405, 413, 421) decided before Redis.
 * tests/it_web.sh runs the same checks end to end with a real Redis, worker and browser.
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
#include <netinet/in.h>
#include <openssl/evp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "web.h"

#define TOKEN "0123456789abcdef-token"

/* ---- Range ---------------------------------------------------------------------- */

static void expect_range(const char *h, uint64_t size, int want, uint64_t first, uint64_t last)
{
	uint64_t f = 77, l = 77;

	assert_int_equal(web_range_parse(h, size, &f, &l), want);
	if (want == 0) {
		assert_int_equal(f, first);
		assert_int_equal(l, last);
	}
}

static void test_range_forms_a_player_sends(void **state)
{
	expect_range("bytes=0-", 1000, 0, 0, 999);
	expect_range("bytes=0-99", 1000, 0, 0, 99);
	expect_range("bytes=900-", 1000, 0, 900, 999);
	expect_range("bytes=990-5000", 1000, 0, 990, 999); /* the end is clipped */
	expect_range("bytes=-100", 1000, 0, 900, 999);	   /* the last 100 bytes */
	expect_range("bytes=-5000", 1000, 0, 0, 999);
	expect_range("bytes=999-999", 1000, 0, 999, 999);
}

static void test_range_past_the_end_is_unsatisfiable(void **state)
{
	expect_range("bytes=1000-", 1000, -1, 0, 0);
	expect_range("bytes=5000-6000", 1000, -1, 0, 0);
	expect_range("bytes=-0", 1000, -1, 0, 0);
	expect_range("bytes=0-", 0, -1, 0, 0); /* an empty file has no byte 0 */
}

static void test_range_other_forms_send_the_whole_file(void **state)
{
	const char *whole[] = {NULL,
			       "",
			       "bytes=",
			       "items=0-1",
			       "bytes=0-1,5-6",
			       "bytes=5-1",
			       "bytes=abc",
			       "bytes= 1-2",
			       "bytes=+1-2",
			       "bytes=--5",
			       "bytes=-+5",
			       "bytes=1-+2",
			       "bytes=1-2x",
			       "bytes=1",
			       "bytes=-",
			       "bytes=0x10-",
			       "bytes=99999999999999999999-"};

	for (size_t i = 0; i < sizeof(whole) / sizeof(whole[0]); i++) {
		uint64_t f, l;
		if (web_range_parse(whole[i], 1000, &f, &l) != 1)
			fail_msg("'%s' is not one range this server serves", whole[i]);
	}
}

/* ---- The gate, on a real server ----------------------------------------------------- */

struct srv {
	struct web w;
	struct MHD_Daemon *d;
	uint16_t port;
	char host[64]; /* "127.0.0.1:PORT" */
};

static int srv_setup(void **state)
{
	struct srv *s = calloc(1, sizeof(*s));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	unsigned int mdlen = 0;
	char err[256];

	assert_non_null(s);
	s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
				    MHD_USE_POLL,
				0, NULL, NULL, web_request, &s->w, MHD_OPTION_SOCK_ADDR,
				(struct sockaddr *)&a, MHD_OPTION_CONNECTION_TIMEOUT, 5U,
				MHD_OPTION_UNESCAPE_CALLBACK, web_unescape, NULL, MHD_OPTION_END);
	assert_non_null(s->d);
	s->port = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT)->port;
	snprintf(s->host, sizeof(s->host), "127.0.0.1:%u", (unsigned)s->port);
	/* What cmd_web.c sets up: a token, the Host values, the CSP, and a Redis that is
	 * not there (port 1 refuses at once). */
	s->w.token = strdup(TOKEN);
	EVP_Digest(TOKEN, strlen(TOKEN), s->w.token_sha, &mdlen, EVP_sha256(), NULL);
	snprintf(s->w.hosts[0], WEB_HOST_LEN, "127.0.0.1:%u", (unsigned)s->port);
	snprintf(s->w.hosts[1], WEB_HOST_LEN, "localhost:%u", (unsigned)s->port);
	s->w.n_hosts = 2;
	s->w.port = s->port;
	assert_int_equal(web_csp_init(&s->w, err, sizeof(err)), 0);
	queue_opts_init(&s->w.qopts);
	s->w.qopts.connect_timeout_ms = 1000;
	s->w.redis_url = "redis://127.0.0.1:1";
	pthread_mutex_init(&s->w.lock, NULL);
	*state = s;
	return 0;
}

static int srv_teardown(void **state)
{
	struct srv *s = *state;

	s->w.stopping = 1;
	MHD_stop_daemon(s->d);
	web_queue_drain(&s->w);
	pthread_mutex_destroy(&s->w.lock);
	free(s->w.token);
	free(s);
	return 0;
}

/* Send the request (printf-style, "\n" becoming "\r\n"), return the whole answer
 * (malloc'd) and its status. */
static char *ask(struct srv *s, int *status, const char *fmt, ...)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons(s->port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct timeval tv = {5, 0};
	char req[2048], crlf[4096], *out = calloc(1, 65536);
	size_t n = 0, j = 0;
	ssize_t got;
	va_list ap;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	va_start(ap, fmt);
	vsnprintf(req, sizeof(req), fmt, ap);
	va_end(ap);
	for (size_t i = 0; req[i] && j + 2 < sizeof(crlf); i++) {
		if (req[i] == '\n')
			crlf[j++] = '\r';
		crlf[j++] = req[i];
	}
	crlf[j] = '\0';
	assert_true(fd >= 0 && out);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(write(fd, crlf, j), (ssize_t)j);
	while (n < 65535 && (got = read(fd, out + n, 65535 - n)) > 0)
		n += (size_t)got;
	close(fd);
	*status = 0;
	sscanf(out, "HTTP/1.%*d %d", status);
	return out;
}

/* The status of a GET of path with extra headers (each ending in "\n"). */
static int get(struct srv *s, const char *path, const char *headers)
{
	int status;
	char *out = ask(s, &status, "GET %s HTTP/1.1\nHost: %s\nConnection: close\n%s\n", path,
			s->host, headers);

	free(out);
	return status;
}

static void test_every_request_needs_the_token(void **state)
{
	struct srv *s = *state;

	assert_int_equal(get(s, "/", ""), 401);
	assert_int_equal(get(s, "/api/events", ""), 401);
	assert_int_equal(get(s, "/video/j1", ""), 401);
	assert_int_equal(get(s, "/metrics", ""), 401);
	assert_int_equal(get(s, "/", "Authorization: Bearer " TOKEN "x\n"), 401);
	assert_int_equal(get(s, "/", "Authorization: Bearer 0123456789abcdef-toke\n"), 401);
	assert_int_equal(get(s, "/", "Authorization: Basic " TOKEN "\n"), 401);
	assert_int_equal(get(s, "/", "Cookie: reelbox_token=nope\n"), 401);
	assert_int_equal(get(s, "/", "Authorization: Bearer " TOKEN "\n"), 200);
	assert_int_equal(get(s, "/", "Authorization: bearer " TOKEN "\n"), 200);
	assert_int_equal(get(s, "/", "Cookie: theme=dark; reelbox_token=" TOKEN "\n"), 200);
}

static void test_the_page_carries_its_csp_and_headers(void **state)
{
	struct srv *s = *state;
	int status;
	char *out = ask(s, &status,
			"GET / HTTP/1.1\nHost: %s\nAuthorization: Bearer %s\n"
			"Connection: close\n\n",
			s->host, TOKEN);

	assert_int_equal(status, 200);
	assert_non_null(strstr(out, "Content-Security-Policy: default-src 'none'; script-src "
				    "'sha256-"));
	assert_null(strstr(out, "unsafe-inline"));
	assert_non_null(strstr(out, "X-Content-Type-Options: nosniff"));
	assert_non_null(strstr(out, "Referrer-Policy: no-referrer"));
	assert_non_null(strstr(out, "Cache-Control: no-store"));
	assert_non_null(strstr(out, "<title>reelbox</title>"));
	free(out);
}

static void test_token_in_the_address_becomes_a_strict_cookie(void **state)
{
	struct srv *s = *state;
	int status;
	char *out = ask(s, &status, "GET /?token=%s HTTP/1.1\nHost: %s\nConnection: close\n\n",
			TOKEN, s->host);

	assert_int_equal(status, 303);
	assert_non_null(strstr(out, "\r\nLocation: /\r\n"));
	assert_non_null(strstr(out, "Set-Cookie: reelbox_token=" TOKEN
				    "; Path=/; HttpOnly; SameSite=Strict\r\n"));
	free(out);
	assert_int_equal(get(s, "/?token=" TOKEN "0", ""), 401);
}

static void test_a_foreign_host_is_misdirected(void **state)
{
	struct srv *s = *state;
	int status;
	char *out;

	out = ask(s, &status,
		  "GET /api/jobs HTTP/1.1\nHost: evil.example:%u\nAuthorization: Bearer %s\n"
		  "Connection: close\n\n",
		  (unsigned)s->port, TOKEN);
	assert_int_equal(status, 421);
	free(out);
	out = ask(s, &status,
		  "GET /api/jobs HTTP/1.1\nHost: LOCALHOST:%u\nAuthorization: Bearer %s\n"
		  "Connection: close\n\n",
		  (unsigned)s->port, TOKEN);
	assert_int_equal(status, 503); /* through the gate, to the missing Redis */
	free(out);
	out = ask(s, &status, "GET / HTTP/1.0\nAuthorization: Bearer %s\n\n", TOKEN);
	assert_int_equal(status, 421); /* no Host at all */
	free(out);
}

/* A POST to an action with the token and extra headers: its status. */
static int post(struct srv *s, const char *headers, const char *body)
{
	int status;
	char *out =
	    ask(s, &status,
		"POST /api/jobs/j1/cancel HTTP/1.1\nHost: %s\nAuthorization: Bearer %s\n"
		"Connection: close\n%s%s\n%s",
		s->host, TOKEN, headers, body ? "Content-Length: 5\n" : "", body ? body : "");

	free(out);
	return status;
}

static void test_writes_need_the_header_and_our_origin(void **state)
{
	struct srv *s = *state;
	char ok[128], h[256];

	snprintf(ok, sizeof(ok), "Origin: http://%s\n", s->host);
	snprintf(h, sizeof(h), "X-Reelbox-Request: 1\n%s", ok);
	assert_int_equal(post(s, h, NULL), 503); /* allowed: on to the missing Redis */
	assert_int_equal(post(s, ok, NULL), 403);
	assert_int_equal(post(s, "X-Reelbox-Request: 0\nOrigin: http://x\n", NULL), 403);
	assert_int_equal(post(s, "X-Reelbox-Request: 1\n", NULL), 403);
	assert_int_equal(post(s, "X-Reelbox-Request: 1\nOrigin: null\n", NULL), 403);
	assert_int_equal(post(s, "X-Reelbox-Request: 1\nOrigin: http://evil.example\n", NULL), 403);
	snprintf(h, sizeof(h), "X-Reelbox-Request: 1\nOrigin: http://%s.evil.example\n", s->host);
	assert_int_equal(post(s, h, NULL), 403);
	snprintf(h, sizeof(h), "X-Reelbox-Request: 1\nOrigin: https://%s\n", s->host);
	assert_int_equal(post(s, h, NULL), 403);
	assert_int_equal(post(s, "X-Reelbox-Request: 1\nSec-Fetch-Site: cross-site\n", NULL), 403);
	assert_int_equal(post(s, "X-Reelbox-Request: 1\nSec-Fetch-Site: same-origin\n", NULL), 503);
	snprintf(h, sizeof(h), "X-Reelbox-Request: 1\n%s", ok);
	assert_int_equal(post(s, h, "abcde"), 413);
}

static void test_paths_methods_and_parameters_are_checked_before_redis(void **state)
{
	struct srv *s = *state;
	const char *auth = "Authorization: Bearer " TOKEN "\n";
	int status;
	char *out;

	assert_int_equal(get(s, "/api/jobs/a.b", auth), 404);
	assert_int_equal(get(s, "/api/jobs/j1/nope", auth), 404);
	assert_int_equal(get(s, "/video/../../etc/passwd", auth), 404);
	assert_int_equal(get(s, "/poster/", auth), 404);
	assert_int_equal(get(s, "/api/jobs/j1/cancel", auth), 404); /* a GET never acts */
	assert_int_equal(get(s, "/api/jobs?limit=0", auth), 400);
	assert_int_equal(get(s, "/api/jobs?limit=1001", auth), 400);
	assert_int_equal(get(s, "/api/jobs/j1/log?after=1-2-3", auth), 400);
	/* Past 64 bits Redis refuses the id: said here, as a 400, not by Redis as a 503. */
	assert_int_equal(get(s, "/api/jobs/j1/log?after=99999999999999999999999-1", auth), 400);
	assert_int_equal(get(s, "/api/jobs/j1/log?after=1-18446744073709551616", auth), 400);
	assert_int_equal(get(s, "/api/jobs/j1/log?after=18446744073709551615-0", auth), 503);
	assert_int_equal(get(s, "/api/jobs/j1/log?after=0", auth), 503);
	assert_int_equal(get(s, "/api/events?state=nope", auth), 400);
	assert_int_equal(get(s, "/api/events?job=a/b", auth), 400);
	assert_int_equal(get(s, "/nope", auth), 404);
	out = ask(s, &status, "DELETE /api/jobs/j1 HTTP/1.1\nHost: %s\n%sConnection: close\n\n",
		  s->host, auth);
	assert_int_equal(status, 405);
	free(out);
}

static void test_redis_away_is_503_with_a_sentence(void **state)
{
	struct srv *s = *state;
	int status;
	char *out = ask(s, &status,
			"GET /api/overview HTTP/1.1\nHost: %s\nAuthorization: Bearer %s\n"
			"Connection: close\n\n",
			s->host, TOKEN);

	assert_int_equal(status, 503);
	assert_non_null(strstr(out, "Content-Type: application/json"));
	assert_non_null(strstr(out, "{\"error\":\"cannot connect to Redis at 127.0.0.1:1"));
	free(out);
	assert_int_equal(get(s, "/healthz", "Authorization: Bearer " TOKEN "\n"), 503);
}

/* An escaped NUL cuts nothing short: not an id (which would name job j1), not the
 * token (a guess that starts with it), not a path. */
static void test_an_escaped_nul_cuts_no_id_or_token_short(void **state)
{
	struct srv *s = *state;
	const char *auth = "Authorization: Bearer " TOKEN "\n";

	assert_int_equal(get(s, "/api/jobs/j1", auth), 503);	/* the control: on to Redis */
	assert_int_equal(get(s, "/api/jobs/j%311", auth), 503); /* other escapes still work */
	assert_int_equal(get(s, "/api/jobs/j1%00x", auth), 404);
	assert_int_equal(get(s, "/api/jobs/j1%00", auth), 404);
	assert_int_equal(get(s, "/video/j1%00.mp4", auth), 404);
	assert_int_equal(get(s, "/api/jobs/j1%00/log", auth), 404);
	assert_int_equal(get(s, "/api/events?job=j1%00x", auth), 400);
	assert_int_equal(get(s, "/?token=" TOKEN "%00junk", ""), 401);
	assert_int_equal(get(s, "/?token=" TOKEN, ""), 303);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_range_forms_a_player_sends),
	    cmocka_unit_test(test_range_past_the_end_is_unsatisfiable),
	    cmocka_unit_test(test_range_other_forms_send_the_whole_file),
	    cmocka_unit_test_setup_teardown(test_every_request_needs_the_token, srv_setup,
					    srv_teardown),
	    cmocka_unit_test_setup_teardown(test_the_page_carries_its_csp_and_headers, srv_setup,
					    srv_teardown),
	    cmocka_unit_test_setup_teardown(test_token_in_the_address_becomes_a_strict_cookie,
					    srv_setup, srv_teardown),
	    cmocka_unit_test_setup_teardown(test_a_foreign_host_is_misdirected, srv_setup,
					    srv_teardown),
	    cmocka_unit_test_setup_teardown(test_writes_need_the_header_and_our_origin, srv_setup,
					    srv_teardown),
	    cmocka_unit_test_setup_teardown(
		test_paths_methods_and_parameters_are_checked_before_redis, srv_setup,
		srv_teardown),
	    cmocka_unit_test_setup_teardown(test_an_escaped_nul_cuts_no_id_or_token_short,
					    srv_setup, srv_teardown),
	    cmocka_unit_test_setup_teardown(test_redis_away_is_503_with_a_sentence, srv_setup,
					    srv_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
