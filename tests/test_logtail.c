/* test_logtail.c - the script's stderr is split into lines and kept with a fixed bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "logtail.h"
#include "utf8.h"

struct seen {
	int lines;
	size_t longest;
	char last[LOGTAIL_LINE_MAX + 1];
	int bad_line; /* a line that was not clean, terminal-safe text */
};

static void collect(void *opaque, const char *line, size_t len)
{
	struct seen *s = opaque;

	s->lines++;
	assert_true(len <= LOGTAIL_LINE_MAX);
	assert_int_equal(line[len], '\0');
	if (!utf8_valid(line, len) || memchr(line, '\033', len) || memchr(line, '\n', len))
		s->bad_line++;
	if (len > s->longest)
		s->longest = len;
	memcpy(s->last, line, len);
	s->last[len] = '\0';
}

static void test_lines_are_emitted_one_by_one_across_chunks(void **state)
{
	struct logtail lt;
	struct seen s = {0};
	char tail[256];

	assert_int_equal(logtail_init(&lt, 128, collect, &s), 0);
	logtail_feed(&lt, "hel", 3);
	logtail_feed(&lt, "lo\nwor", 6);
	assert_int_equal(s.lines, 1);
	assert_string_equal(s.last, "hello");
	logtail_feed(&lt, "ld\n", 3);
	assert_int_equal(s.lines, 2);
	assert_string_equal(s.last, "world");
	logtail_copy(&lt, tail, sizeof(tail));
	assert_string_equal(tail, "hello\nworld\n");
	logtail_free(&lt);
}

static void test_final_line_without_newline_is_flushed(void **state)
{
	struct logtail lt;
	struct seen s = {0};
	char tail[64];

	assert_int_equal(logtail_init(&lt, 64, collect, &s), 0);
	logtail_feed(&lt, "Traceback", 9);
	assert_int_equal(s.lines, 0);
	logtail_flush(&lt);
	assert_int_equal(s.lines, 1);
	logtail_copy(&lt, tail, sizeof(tail));
	assert_string_equal(tail, "Traceback\n");
	logtail_free(&lt);
}

static void test_flood_keeps_only_the_tail_starting_at_a_line(void **state)
{
	struct logtail lt;
	struct seen s = {0};
	char line[64], tail[512];

	assert_int_equal(logtail_init(&lt, 200, collect, &s), 0);
	for (int i = 0; i < 100000; i++) {
		int n = snprintf(line, sizeof(line), "line %d of the flood\n", i);
		logtail_feed(&lt, line, (size_t)n);
	}
	assert_int_equal(s.lines, 100000);
	assert_true(lt.len <= 200);
	logtail_copy(&lt, tail, sizeof(tail));
	assert_true(strlen(tail) <= 200);
	assert_non_null(strstr(tail, "line 99999 of the flood\n"));
	assert_memory_equal(tail, "line ", 5); /* no cut line at the start */
	logtail_free(&lt);
}

static void test_endless_line_is_cut_at_the_line_bound(void **state)
{
	struct logtail lt;
	struct seen s = {0};
	char chunk[4096];

	memset(chunk, 'x', sizeof(chunk));
	assert_int_equal(logtail_init(&lt, 4096, collect, &s), 0);
	for (int i = 0; i < 256; i++) /* 1 MiB without a newline */
		logtail_feed(&lt, chunk, sizeof(chunk));
	assert_true(s.lines >= 1023);
	assert_int_equal(s.longest, LOGTAIL_LINE);
	assert_int_equal(lt.total_bytes, 256u * 4096u);
	logtail_free(&lt);
}

static void test_control_bytes_never_reach_the_terminal(void **state)
{
	struct logtail lt;
	struct seen s = {0};
	const char evil[] = "\033[2J\033]0;pwned\007done\n";

	assert_int_equal(logtail_init(&lt, 128, collect, &s), 0);
	logtail_feed(&lt, evil, sizeof(evil) - 1);
	assert_int_equal(s.lines, 1);
	assert_null(strchr(s.last, '\033'));
	assert_null(strchr(s.last, '\007'));
	assert_non_null(strstr(s.last, "done"));
	logtail_free(&lt);
}

static void test_tail_drops_a_utf8_sequence_cut_in_half(void **state)
{
	struct logtail lt;
	char tail[16];
	/* "é" is C3 A9: a tail of 6 bytes starting inside it must not start with A9. */
	const char text[] = "caf\xc3\xa9 ok\n";

	assert_int_equal(logtail_init(&lt, 6, NULL, NULL), 0);
	logtail_feed(&lt, text, sizeof(text) - 1);
	logtail_copy(&lt, tail, sizeof(tail));
	assert_true(((unsigned char)tail[0] & 0xC0) != 0x80);
	logtail_free(&lt);
}

/* The red team's bytes: a surrogate, an overlong, above U+10FFFF, F5..FF and a C1 CSI.
 * Every line and the tail must be text jansson takes, with nothing a terminal obeys. */
static void test_hostile_bytes_give_lines_and_a_tail_json_accepts(void **state)
{
	struct logtail lt;
	struct seen s = {0};
	char tail[512];
	const char evil[] = "surrogate \xED\xA0\x80\n"
			    "overlong \xE0\x80\x80\n"
			    "too big \xF4\x90\x80\x80 \xF5\xFF\n"
			    "csi \xC2\x9B"
			    "2J osc \xC2\x9D"
			    "0;t\x07 done\n"
			    "cut \xE2\x82";
	json_t *j;

	assert_int_equal(logtail_init(&lt, 4096, collect, &s), 0);
	logtail_feed(&lt, evil, sizeof(evil) - 1);
	logtail_flush(&lt);
	assert_int_equal(s.lines, 5);
	assert_int_equal(s.bad_line, 0);
	assert_string_equal(s.last, "cut " UTF8_REPLACEMENT);
	logtail_copy(&lt, tail, sizeof(tail));
	assert_true(utf8_valid(tail, strlen(tail)));
	assert_non_null(
	    strstr(tail, "surrogate " UTF8_REPLACEMENT UTF8_REPLACEMENT UTF8_REPLACEMENT "\n"));
	assert_non_null(strstr(tail, "csi  osc  done\n"));
	assert_null(strstr(tail, "\xC2\x9B"));
	assert_null(strstr(tail, "\xC2\x9D"));
	j = json_string(tail);
	assert_non_null(j);
	json_decref(j);
	logtail_free(&lt);
}

/* read() chunks split characters and escape sequences anywhere: they are judged whole. */
static void test_a_character_split_across_chunks_is_kept(void **state)
{
	struct logtail lt;
	struct seen s = {0};

	assert_int_equal(logtail_init(&lt, 128, collect, &s), 0);
	logtail_feed(&lt, "caf\xC3", 4);
	logtail_feed(&lt, "\xA9 \xF0\x9F", 4);
	logtail_feed(&lt, "\x98\x80 \x1b[1;3", 8);
	logtail_feed(&lt, "1mred\n", 6);
	assert_int_equal(s.lines, 1);
	assert_string_equal(s.last, "caf\xC3\xA9 \xF0\x9F\x98\x80 red");
	logtail_free(&lt);
}

/* An endless line of multi-byte characters is cut between characters, never inside. */
static void test_a_long_line_is_cut_between_characters(void **state)
{
	struct logtail lt;
	struct seen s = {0};
	char tail[4096];

	assert_int_equal(logtail_init(&lt, 4096, collect, &s), 0);
	for (int i = 0; i < 3000; i++)
		logtail_feed(&lt, "\xE2\x82\xAC", 3); /* 1024 is not a multiple of 3 */
	logtail_flush(&lt);
	assert_true(s.lines >= 9);
	assert_int_equal(s.bad_line, 0);
	logtail_copy(&lt, tail, sizeof(tail));
	assert_null(strstr(tail, UTF8_REPLACEMENT));
	assert_true(utf8_valid(tail, strlen(tail)));
	logtail_free(&lt);
}

/* Binary noise triples in size as U+FFFD: the emitted line may exceed the raw bound. */
static void test_a_line_of_invalid_bytes_is_emitted_whole(void **state)
{
	struct logtail lt;
	struct seen s = {0};
	char noise[LOGTAIL_LINE];

	memset(noise, 0xFF, sizeof(noise));
	assert_int_equal(logtail_init(&lt, 8192, collect, &s), 0);
	logtail_feed(&lt, noise, sizeof(noise));
	logtail_flush(&lt);
	assert_int_equal(s.lines, 1);
	assert_int_equal(s.longest, LOGTAIL_LINE_MAX);
	assert_int_equal(s.bad_line, 0);
	logtail_free(&lt);
}

/* A script cannot open an escape sequence and swallow reelbox's own next line. */
static void test_an_open_sequence_ends_with_its_line(void **state)
{
	struct logtail lt;
	struct seen s = {0};

	const char open_osc[] = "\x1b]0;never closed", note[] = "reelbox: denied socket\n";

	assert_int_equal(logtail_init(&lt, 128, collect, &s), 0);
	logtail_feed(&lt, open_osc, sizeof(open_osc) - 1);
	logtail_flush(&lt);
	logtail_feed(&lt, note, sizeof(note) - 1);
	assert_int_equal(s.lines, 2);
	assert_string_equal(s.last, "reelbox: denied socket");
	logtail_free(&lt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lines_are_emitted_one_by_one_across_chunks),
	    cmocka_unit_test(test_final_line_without_newline_is_flushed),
	    cmocka_unit_test(test_flood_keeps_only_the_tail_starting_at_a_line),
	    cmocka_unit_test(test_endless_line_is_cut_at_the_line_bound),
	    cmocka_unit_test(test_control_bytes_never_reach_the_terminal),
	    cmocka_unit_test(test_tail_drops_a_utf8_sequence_cut_in_half),
	    cmocka_unit_test(test_hostile_bytes_give_lines_and_a_tail_json_accepts),
	    cmocka_unit_test(test_a_character_split_across_chunks_is_kept),
	    cmocka_unit_test(test_a_long_line_is_cut_between_characters),
	    cmocka_unit_test(test_a_line_of_invalid_bytes_is_emitted_whole),
	    cmocka_unit_test(test_an_open_sequence_ends_with_its_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
