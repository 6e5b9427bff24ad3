/* test_delivery.c - the delivery's checks and signature (worker/delivery.c) and the job's
 * "upload" and "webhook" fields (worker/job.c). The transfers themselves run against a
 * real S3 server in tests/it_delivery.sh.
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

#include <cmocka.h>

#include "delivery.h"
#include "job.h"

static char err[512];

static int parse(struct job *j, const char *doc)
{
	job_init(j);
	err[0] = '\0';
	return job_from_json(j, doc, strlen(doc), err, sizeof(err));
}

static void test_hmac_matches_rfc4231_case_2(void **state)
{
	char sig[DELIVERY_SIGNATURE_MAX];
	const char *data = "what do ya want for nothing?";

	(void)state;
	assert_int_equal(delivery_sign("Jefe", 4, data, strlen(data), sig), 0);
	assert_string_equal(
	    sig, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void test_hmac_changes_with_one_byte_of_body_or_secret(void **state)
{
	char a[DELIVERY_SIGNATURE_MAX], b[DELIVERY_SIGNATURE_MAX], c[DELIVERY_SIGNATURE_MAX];

	(void)state;
	assert_int_equal(delivery_sign("s3cret", 6, "{\"a\":1}", 7, a), 0);
	assert_int_equal(delivery_sign("s3cret", 6, "{\"a\":2}", 7, b), 0);
	assert_int_equal(delivery_sign("s3creT", 6, "{\"a\":1}", 7, c), 0);
	assert_string_not_equal(a, b);
	assert_string_not_equal(a, c);
	assert_int_equal(strlen(a), 7 + 64);
}

static void test_reserved_upload_headers_are_refused_in_any_case(void **state)
{
	const char *names[] = {"Host", "content-length", "Transfer-Encoding", "EXPECT",
			       "Connection"};

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		assert_int_equal(delivery_check_header(names[i], "x", err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "set by the worker itself"));
	}
	assert_int_equal(delivery_check_header("x-amz-meta-owner", "ana", err, sizeof(err)), 0);
	assert_int_equal(delivery_check_header("Content-Disposition", "inline", err, sizeof(err)),
			 0);
}

static void test_header_with_line_break_or_bad_name_is_refused(void **state)
{
	(void)state;
	assert_int_equal(delivery_check_header("x-a", "ok\r\nHost: evil", err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "line break"));
	assert_int_equal(delivery_check_header("x-a", "ok\nX: y", err, sizeof(err)), -EINVAL);
	assert_int_equal(delivery_check_header("x a", "v", err, sizeof(err)), -EINVAL);
	assert_int_equal(delivery_check_header("x:a", "v", err, sizeof(err)), -EINVAL);
	assert_int_equal(delivery_check_header("", "v", err, sizeof(err)), -EINVAL);
}

static void test_url_must_be_http_and_without_spaces(void **state)
{
	(void)state;
	assert_int_equal(delivery_check_url("upload.url", "ftp://x/y", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "upload.url"));
	assert_int_equal(delivery_check_url("upload.url", "http://x/a b", err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(delivery_check_url("upload.url", "http://x/a\r\nb", err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(
	    delivery_check_url("upload.url", "https://b.s3/k?X-Amz-Signature=ab", err, sizeof(err)),
	    0);
}

static void test_query_and_fragment_are_stripped_from_the_recorded_url(void **state)
{
	char out[256];

	(void)state;
	delivery_strip_query("http://h:1/b/k.mp4?X-Amz-Signature=secret#f", out, sizeof(out));
	assert_string_equal(out, "http://h:1/b/k.mp4");
	delivery_strip_query("http://h/k.gif", out, sizeof(out));
	assert_string_equal(out, "http://h/k.gif");
}

static void test_content_type_follows_the_container(void **state)
{
	(void)state;
	assert_string_equal(delivery_content_type("mp4"), "video/mp4");
	assert_string_equal(delivery_content_type(""), "video/mp4");
	assert_string_equal(delivery_content_type("webm"), "video/webm");
	assert_string_equal(delivery_content_type("gif"), "image/gif");
	assert_string_equal(delivery_content_type("mov"), "video/quicktime");
}

static void test_job_with_upload_and_webhook_round_trips(void **state)
{
	struct job j, k;
	char *doc;

	(void)state;
	assert_int_equal(parse(&j, "{\"script\":\"x\",\"upload\":{\"url\":\"http://h/k?s=1\","
				   "\"headers\":{\"x-amz-meta-a\":\"b c\"}},"
				   "\"webhook\":{\"url\":\"https://w/h\"}}"),
			 0);
	assert_string_equal(j.upload_url, "http://h/k?s=1");
	assert_non_null(j.upload_headers);
	assert_string_equal(j.upload_headers[0], "x-amz-meta-a: b c");
	assert_null(j.upload_headers[1]);
	assert_string_equal(j.webhook_url, "https://w/h");
	doc = job_to_json(&j);
	assert_non_null(doc);
	assert_int_equal(parse(&k, doc), 0);
	assert_string_equal(k.upload_url, j.upload_url);
	assert_string_equal(k.upload_headers[0], j.upload_headers[0]);
	assert_string_equal(k.webhook_url, j.webhook_url);
	free(doc);
	job_free(&j);
	job_free(&k);
}

static void test_job_upload_with_host_header_is_refused_at_admission(void **state)
{
	struct job j;

	(void)state;
	assert_int_equal(parse(&j, "{\"script\":\"x\",\"upload\":{\"url\":\"http://h/k\","
				   "\"headers\":{\"Host\":\"evil\"}}}"),
			 -EINVAL);
	assert_non_null(strstr(err, "'Host' is set by the worker itself"));
	assert_null(j.upload_url); /* a refused document leaves the job as it was */
	job_free(&j);
	assert_int_equal(parse(&j, "{\"script\":\"x\",\"upload\":{\"url\":\"http://h/k\","
				   "\"headers\":{\"x-a\":\"1\\r\\nHost: evil\"}}}"),
			 -EINVAL);
	assert_non_null(strstr(err, "line break"));
	job_free(&j);
}

static void test_job_delivery_fields_refuse_unknown_keys_and_bad_urls(void **state)
{
	struct job j;

	(void)state;
	assert_int_equal(parse(&j, "{\"script\":\"x\",\"webhook\":{\"url\":\"http://h\","
				   "\"secret\":\"s\"}}"),
			 -EINVAL);
	assert_non_null(strstr(err, "unknown field 'webhook.secret'"));
	job_free(&j);
	assert_int_equal(parse(&j, "{\"script\":\"x\",\"webhook\":\"http://h\"}"), -EINVAL);
	assert_non_null(strstr(err, "must be an object"));
	job_free(&j);
	assert_int_equal(parse(&j, "{\"script\":\"x\",\"upload\":{\"url\":\"file:///etc/x\"}}"),
			 -EINVAL);
	assert_non_null(strstr(err, "'upload.url' must be an http:// or https:// URL"));
	job_free(&j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hmac_matches_rfc4231_case_2),
	    cmocka_unit_test(test_hmac_changes_with_one_byte_of_body_or_secret),
	    cmocka_unit_test(test_reserved_upload_headers_are_refused_in_any_case),
	    cmocka_unit_test(test_header_with_line_break_or_bad_name_is_refused),
	    cmocka_unit_test(test_url_must_be_http_and_without_spaces),
	    cmocka_unit_test(test_query_and_fragment_are_stripped_from_the_recorded_url),
	    cmocka_unit_test(test_content_type_follows_the_container),
	    cmocka_unit_test(test_job_with_upload_and_webhook_round_trips),
	    cmocka_unit_test(test_job_upload_with_host_header_is_refused_at_admission),
	    cmocka_unit_test(test_job_delivery_fields_refuse_unknown_keys_and_bad_urls),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
