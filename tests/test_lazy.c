/* test_lazy.c - the lazily loaded libraries' trampolines (lazy/lazylib.c): a first call
 * into a library nobody loaded goes down the slow path, which loads it and then makes
 * the call with its arguments intact (integer, pointer and a varargs call, whose %al
 * the stub keeps); rb_lib_load's refusals. tests/it_lazy.sh checks the binary itself
 * (no NEEDED entry, nothing mapped by `reelbox exec`, a missing library's sentence).
 *
 * This test calls libcurl, libmicrohttpd and OpenSSL itself, so CMakeLists.txt links it
 * against them: they are mapped from the start, but the trampolines still reach them
 * through the table, which only the loader fills. The tests run in order, each the
 * first to touch its library.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <openssl/evp.h>

#include "lazylib.h"

#ifdef REELBOX_LAZY_LIBS
#define assert_not_loaded(lib) assert_false(rb_lib_loaded(lib))
#else
#define assert_not_loaded(lib) ((void)0)
#endif

static void test_a_first_curl_call_loads_libcurl_and_keeps_its_argument(void **state)
{
	assert_not_loaded(RB_LIB_CURL);
	assert_string_equal(curl_easy_strerror(CURLE_UNSUPPORTED_PROTOCOL), "Unsupported protocol");
	assert_true(rb_lib_loaded(RB_LIB_CURL));
	assert_string_equal(curl_easy_strerror(CURLE_OK), "No error");
}

static enum MHD_Result refuse(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *data,
			      size_t *size, void **ctx)
{
	return MHD_NO;
}

static void test_a_first_varargs_call_loads_libmicrohttpd_with_its_options(void **state)
{
	const union MHD_DaemonInfo *info;
	struct MHD_Daemon *d;

	assert_not_loaded(RB_LIB_MHD);
	/* Port 0 and options after the handler: a varargs call down the slow path. */
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, NULL, NULL, refuse,
			     NULL, MHD_OPTION_CONNECTION_LIMIT, 4u, MHD_OPTION_CONNECTION_TIMEOUT,
			     5u, MHD_OPTION_END);
	assert_non_null(d);
	assert_true(rb_lib_loaded(RB_LIB_MHD));
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	assert_non_null(info);
	assert_true(info->port > 0);
	MHD_stop_daemon(d);
}

static void test_a_first_crypto_call_loads_libcrypto_and_digests_right(void **state)
{
	static const char want[] =
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	char hex[65];

	assert_not_loaded(RB_LIB_CRYPTO);
	/* Six arguments, the fifth itself a first call through the table. */
	assert_int_equal(EVP_Digest("abc", 3, md, &len, EVP_sha256(), NULL), 1);
	assert_int_equal(len, 32);
	for (unsigned i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	assert_string_equal(hex, want);
	assert_true(rb_lib_loaded(RB_LIB_CRYPTO));
}

static void test_libssl_loads_libcrypto_with_it_and_a_bad_library_is_refused(void **state)
{
	char err[256] = "";

	assert_int_equal(rb_lib_load(RB_LIB_SSL, err, sizeof(err)), 0);
	assert_true(rb_lib_loaded(RB_LIB_SSL));
	assert_true(rb_lib_loaded(RB_LIB_CRYPTO));
	/* Loaded already: cheap, and still 0. */
	assert_int_equal(rb_lib_load(RB_LIB_CURL, err, sizeof(err)), 0);
#ifdef REELBOX_LAZY_LIBS
	assert_int_equal(rb_lib_load(RB_LIB_COUNT, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no lazily loaded library"));
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_a_first_curl_call_loads_libcurl_and_keeps_its_argument),
	    cmocka_unit_test(test_a_first_varargs_call_loads_libmicrohttpd_with_its_options),
	    cmocka_unit_test(test_a_first_crypto_call_loads_libcrypto_and_digests_right),
	    cmocka_unit_test(test_libssl_loads_libcrypto_with_it_and_a_bad_library_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
