/* test_tls.c - rediss:// URLs, the TLS bridge's refusals that need no Redis, and taking a
 * secret out of the environment. The handshake against a real redis-server with
 * --tls-port, certificates and restarts is tests/it_tls.sh.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"
#include "queue_internal.h"
#include "secretenv.h"

static void test_rediss_urls_parse_with_tls_and_insecure_only_when_asked(void **state)
{
	struct queue_url u;
	char err[QUEUE_ERR_MAX];

	(void)state;
	assert_int_equal(
	    queue_url_parse(&u, "rediss://alice:p%40ss@redis.example:6380/2", err, sizeof(err)), 0);
	assert_true(u.is_tls);
	assert_false(u.insecure);
	assert_string_equal(u.user, "alice");
	assert_string_equal(u.pass, "p@ss");
	assert_string_equal(u.host, "redis.example");
	assert_int_equal(u.port, 6380);
	assert_int_equal(u.db, 2);
	assert_string_equal(u.where, "redis.example:6380");
	assert_int_equal(queue_url_parse(&u, "rediss://h?insecure=1", err, sizeof(err)), 0);
	assert_true(u.is_tls);
	assert_true(u.insecure);
	assert_int_equal(u.port, 6379);
	assert_int_equal(queue_url_parse(&u, "rediss://h:7000/1?insecure=0", err, sizeof(err)), 0);
	assert_false(u.insecure);
	assert_int_equal(u.db, 1);
	assert_int_equal(queue_url_parse(&u, "redis://h", err, sizeof(err)), 0);
	assert_false(u.is_tls);
}

static void test_url_options_other_than_insecure_on_rediss_are_refused(void **state)
{
	struct queue_url u;
	char err[QUEUE_ERR_MAX];

	(void)state;
	assert_int_equal(queue_url_parse(&u, "redis://h?insecure=1", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "rediss:// only"));
	assert_int_equal(queue_url_parse(&u, "rediss://h?verify=0", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "the only option is ?insecure=1"));
	assert_int_equal(queue_url_parse(&u, "rediss://h?insecure=yes", err, sizeof(err)), -EINVAL);
}

static void test_url_errors_never_show_the_password(void **state)
{
	struct queue_url u;
	char err[QUEUE_ERR_MAX], url[1200];

	(void)state;
	assert_int_equal(queue_url_parse(&u, "redis://bob:SeCrEt@h:99999", err, sizeof(err)),
			 -EINVAL);
	assert_null(strstr(err, "SeCrEt"));
	assert_non_null(strstr(err, "redis://***@h:99999"));
	/* A '/' inside the password ends the authority early: still masked. */
	assert_int_equal(queue_url_parse(&u, "rediss://bob:Se/CrEt@h", err, sizeof(err)), -EINVAL);
	assert_null(strstr(err, "Se/"));
	assert_null(strstr(err, "CrEt"));
	assert_int_equal(queue_url_parse(&u, "rediss://bob:SeCrEt@h/x", err, sizeof(err)), -EINVAL);
	assert_null(strstr(err, "SeCrEt"));
	assert_int_equal(queue_url_parse(&u, "rediss://bob:SeCrEt@h?x=1", err, sizeof(err)),
			 -EINVAL);
	assert_null(strstr(err, "SeCrEt"));
	snprintf(url, sizeof(url), "rediss://bob:SeCrEt@h/%01100d", 0);
	assert_int_equal(queue_url_parse(&u, url, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "longer than"));
	assert_null(strstr(err, "SeCrEt"));
}

static void test_a_password_in_a_url_is_recognised_for_argv_and_environ(void **state)
{
	(void)state;
	assert_false(queue_url_has_password("redis://127.0.0.1:6379"));
	assert_false(queue_url_has_password("rediss://redis.example:6380/1?insecure=1"));
	assert_false(queue_url_has_password("unix:///run/redis.sock"));
	assert_false(queue_url_has_password(NULL));
	assert_true(queue_url_has_password("redis://:pw@h"));
	assert_true(queue_url_has_password("rediss://user:pw@h:6380"));
	assert_true(queue_url_has_password("redis://pw@h"));
	/* Unparseable but with an '@': counted as a password, default-deny. */
	assert_true(queue_url_has_password("redis://u:p/w@h:bad"));
}

static void test_insecure_gets_a_warning_sentence(void **state)
{
	(void)state;
	assert_non_null(queue_url_warning("rediss://h?insecure=1"));
	assert_non_null(strstr(queue_url_warning("rediss://h?insecure=1"), "certificate"));
	assert_null(queue_url_warning("rediss://h"));
	assert_null(queue_url_warning("redis://h"));
}

static void test_tls_files_are_refused_at_open_with_a_sentence(void **state)
{
	struct queue_opts o;
	struct queue *q = NULL;
	char err[QUEUE_ERR_MAX + 256];

	(void)state;
	queue_opts_init(&o);
	o.tls_cert = "/nonexistent/client.crt";
	assert_int_equal(queue_open(&q, "rediss://127.0.0.1:1", &o, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "needs both REELBOX_REDIS_CERT and REELBOX_REDIS_KEY"));
	assert_null(q);
	queue_opts_init(&o);
	o.tls_ca = "/nonexistent/ca.pem";
	assert_int_equal(queue_open(&q, "rediss://127.0.0.1:1", &o, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/ca.pem: No such file or directory"));
}

static void test_tls_to_a_closed_port_is_the_plain_sentence(void **state)
{
	struct queue *q = NULL;
	char url[64], err[QUEUE_ERR_MAX + 256], want[160];
	int port = th_free_port();

	(void)state;
	snprintf(url, sizeof(url), "rediss://127.0.0.1:%d", port);
	assert_int_equal(queue_open(&q, url, NULL, err, sizeof(err)), -ECONNREFUSED);
	snprintf(want, sizeof(want),
		 "cannot connect to Redis at 127.0.0.1:%d: Connection refused; is redis-server "
		 "running?",
		 port);
	assert_string_equal(err, want);
}

/* A server that takes the connection and never answers the ClientHello: the handshake
 * ends at the connect timeout, with a sentence. */
static void test_a_silent_server_ends_the_handshake_at_the_connect_timeout(void **state)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	struct queue_opts o;
	struct queue *q = NULL;
	char url[64], err[QUEUE_ERR_MAX + 256];
	int lis = socket(AF_INET, SOCK_STREAM, 0);
	uint64_t t0;

	(void)state;
	assert_true(lis >= 0);
	assert_int_equal(bind(lis, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lis, 4), 0);
	assert_int_equal(getsockname(lis, (struct sockaddr *)&sa, &sl), 0);
	snprintf(url, sizeof(url), "rediss://127.0.0.1:%d", ntohs(sa.sin_port));
	queue_opts_init(&o);
	o.connect_timeout_ms = 300;
	t0 = queue_now_ms();
	assert_true(queue_open(&q, url, &o, err, sizeof(err)) < 0);
	assert_true(queue_now_ms() - t0 < 2000);
	assert_non_null(strstr(err, "no answer within the connect timeout"));
	assert_non_null(strstr(err, "TLS to 127.0.0.1:"));
	close(lis);
}

static void test_a_secret_is_wiped_from_the_environment_block(void **state)
{
	static char entry[] = "REELBOX_TEST_TLS_SECRET=hunter2hunter2";
	const char *value = entry + strlen("REELBOX_TEST_TLS_SECRET=");

	(void)state;
	assert_int_equal(putenv(entry), 0);
	assert_string_equal(getenv("REELBOX_TEST_TLS_SECRET"), "hunter2hunter2");
	secret_env_wipe("REELBOX_TEST_TLS_SECRET");
	assert_null(getenv("REELBOX_TEST_TLS_SECRET"));
	for (size_t i = 0; i < strlen("hunter2hunter2"); i++)
		assert_int_equal(value[i], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rediss_urls_parse_with_tls_and_insecure_only_when_asked),
	    cmocka_unit_test(test_url_options_other_than_insecure_on_rediss_are_refused),
	    cmocka_unit_test(test_url_errors_never_show_the_password),
	    cmocka_unit_test(test_a_password_in_a_url_is_recognised_for_argv_and_environ),
	    cmocka_unit_test(test_insecure_gets_a_warning_sentence),
	    cmocka_unit_test(test_tls_files_are_refused_at_open_with_a_sentence),
	    cmocka_unit_test(test_tls_to_a_closed_port_is_the_plain_sentence),
	    cmocka_unit_test(test_a_silent_server_ends_the_handshake_at_the_connect_timeout),
	    cmocka_unit_test(test_a_secret_is_wiped_from_the_environment_block),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
