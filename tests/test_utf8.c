/* test_utf8.c - what a script writes becomes well-formed UTF-8 that jansson accepts, and
 * nothing of it can drive the operator's terminal.
 *
 * The decoder vectors are the Unicode Standard's (Table 3-8 and the edges of Table 3-7)
 * and Markus Kuhn's decoder stress test; jansson is the independent judge of "valid". */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli.h"
#include "utf8.h"

#define R UTF8_REPLACEMENT

/* One input, its sanitized form, and whether the input was valid to begin with. */
struct vec {
	const char *name;
	const char *in;
	size_t inlen;
	const char *want;
	int valid;
};

#define V(name, in, want, valid)                                                                   \
	{                                                                                          \
		name, in, sizeof(in) - 1, want, valid                                              \
	}

static const struct vec vectors[] = {
    /* Unicode 15, Table 3-8: maximal subparts, one U+FFFD each. */
    V("table 3-8", "\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64",
      "a" R R R "b" R "c" R R "d", 0),
    /* Overlong forms: the lead cannot start them, so every byte is its own subpart. */
    V("overlong 2-byte '/'", "\xC0\xAF", R R, 0),
    V("overlong 2-byte max", "\xC1\xBF", R R, 0),
    V("overlong 3-byte '/'", "\xE0\x80\xAF", R R R, 0),
    V("overlong 3-byte max", "\xE0\x9F\xBF", R R R, 0),
    V("overlong 3-byte NUL", "\xE0\x80\x80", R R R, 0),
    V("overlong 4-byte '/'", "\xF0\x80\x80\xAF", R R R R, 0),
    V("overlong 4-byte max", "\xF0\x8F\xBF\xBF", R R R R, 0),
    V("overlong 5-byte", "\xF8\x80\x80\x80\xAF", R R R R R, 0),
    /* Surrogates, alone and paired (CESU-8). */
    V("surrogate U+D800", "\xED\xA0\x80", R R R, 0),
    V("surrogate U+DBFF", "\xED\xAF\xBF", R R R, 0),
    V("surrogate U+DC00", "\xED\xB0\x80", R R R, 0),
    V("surrogate U+DFFF", "\xED\xBF\xBF", R R R, 0),
    V("surrogate pair", "\xED\xA0\x80\xED\xB0\x80", R R R R R R, 0),
    V("last before surrogates U+D7FF", "\xED\x9F\xBF", "\xED\x9F\xBF", 1),
    V("first after surrogates U+E000", "\xEE\x80\x80", "\xEE\x80\x80", 1),
    /* Above U+10FFFF and bytes that never lead. */
    V("U+110000", "\xF4\x90\x80\x80", R R R R, 0),
    V("F5 lead", "\xF5\x80\x80\x80", R R R R, 0),
    V("F7 BF BF BF", "\xF7\xBF\xBF\xBF", R R R R, 0),
    V("FE", "\xFE", R, 0),
    V("FF", "\xFF", R, 0),
    V("FE FE FF FF", "\xFE\xFE\xFF\xFF", R R R R, 0),
    /* Lone and stray continuation bytes. */
    V("lone 80", "\x80", R, 0),
    V("lone BF", "\xBF", R, 0),
    V("continuations in a row", "a\x80\xBF\x80z", "a" R R R "z", 0),
    V("continuation after a full char", "\xC3\xA9\xA9", "\xC3\xA9" R, 0),
    /* Sequences cut short: one U+FFFD for what was there, the next char kept. */
    V("truncated 2-byte at end", "ab\xC3", "ab" R, 0),
    V("truncated 3-byte at end", "\xE2\x82", R, 0),
    V("truncated 4-byte at end", "\xF0\x9F\x98", R, 0),
    V("truncated 3-byte before ASCII", "\xE2\x82\x41", R "A", 0),
    V("truncated 4-byte before a lead", "\xF0\x9F\xC3\xA9", R "\xC3\xA9", 0),
    V("all truncated forms", "\xC2\xE0\xA0\xF0\x90\x80", R R R, 0),
    /* Valid text comes out byte for byte. */
    V("ASCII", "Traceback (most recent call last):", "Traceback (most recent call last):", 1),
    V("2-byte e-acute", "caf\xC3\xA9", "caf\xC3\xA9", 1),
    V("3-byte euro", "\xE2\x82\xAC 5", "\xE2\x82\xAC 5", 1),
    V("first 2-byte U+0080", "\xC2\x80", "\xC2\x80", 1),
    V("last BMP U+FFFF", "\xEF\xBF\xBF", "\xEF\xBF\xBF", 1),
    V("first 4-byte U+10000", "\xF0\x90\x80\x80", "\xF0\x90\x80\x80", 1),
    V("emoji U+1F600", "\xF0\x9F\x98\x80", "\xF0\x9F\x98\x80", 1),
    V("max U+10FFFF", "\xF4\x8F\xBF\xBF", "\xF4\x8F\xBF\xBF", 1),
    V("the replacement character itself", R, R, 1),
};

static void test_unicode_vectors_get_one_replacement_per_maximal_subpart(void **state)
{
	char out[64];

	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const struct vec *v = &vectors[i];
		size_t n = utf8_sanitize(out, sizeof(out), v->in, v->inlen);

		if (n != strlen(v->want) || memcmp(out, v->want, n) != 0)
			fail_msg("%s: got %zu bytes, want %zu", v->name, n, strlen(v->want));
		assert_int_equal(out[n], '\0');
		if (utf8_valid(v->in, v->inlen) != v->valid)
			fail_msg("%s: utf8_valid says %d", v->name, !v->valid);
	}
}

/* jansson refuses what RFC 3629 refuses: it must agree on every input, and accept every
 * output. */
static void test_jansson_accepts_every_output_and_agrees_on_validity(void **state)
{
	char out[64];

	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const struct vec *v = &vectors[i];
		size_t n = utf8_sanitize(out, sizeof(out), v->in, v->inlen);
		json_t *raw = json_stringn(v->in, v->inlen);
		json_t *clean = json_stringn(out, n);

		if (!clean)
			fail_msg("%s: jansson refuses the sanitized text", v->name);
		if ((raw != NULL) != v->valid)
			fail_msg("%s: jansson %s the input", v->name, raw ? "accepts" : "refuses");
		json_decref(raw);
		json_decref(clean);
	}
}

static void test_nul_is_well_formed_and_kept(void **state)
{
	char out[8];
	size_t n = utf8_sanitize(out, sizeof(out), "a\0b", 3);

	assert_int_equal(n, 3);
	assert_memory_equal(out, "a\0b", 3);
	assert_true(utf8_valid("a\0b", 3));
}

static void test_utf8_next_reports_code_points_and_subpart_lengths(void **state)
{
	uint32_t cp;

	assert_int_equal(utf8_next("\xF4\x8F\xBF\xBF", 4, &cp), 4);
	assert_int_equal(cp, 0x10FFFF);
	assert_int_equal(utf8_next("\xE2\x82\xAC", 3, &cp), 3);
	assert_int_equal(cp, 0x20AC);
	assert_int_equal(utf8_next("\xC2\x9B", 2, &cp), 2);
	assert_int_equal(cp, 0x9B);
	assert_int_equal(utf8_next("\xF0\x9F\x98", 3, &cp), 3);
	assert_int_equal(cp, UTF8_INVALID);
	assert_int_equal(utf8_next("\xED\xA0\x80", 3, &cp), 1);
	assert_int_equal(cp, UTF8_INVALID);
	assert_int_equal(utf8_next("", 0, &cp), 0);
	assert_int_equal(cp, UTF8_INVALID);
}

static void test_a_small_buffer_never_gets_a_cut_character(void **state)
{
	char out[8];

	memset(out, 'X', sizeof(out));
	/* "é€": 2 + 3 bytes; room for 3 bytes takes only the é. */
	assert_int_equal(utf8_sanitize(out, 4, "\xC3\xA9\xE2\x82\xAC", 5), 2);
	assert_string_equal(out, "\xC3\xA9");
	/* A replacement needs 3 bytes: with room for 2 nothing goes, and nothing after it. */
	assert_int_equal(utf8_sanitize(out, 3,
				       "\xFF"
				       "a",
				       2),
			 0);
	assert_string_equal(out, "");
	assert_int_equal(utf8_sanitize(out, 1, "abc", 3), 0);
	assert_string_equal(out, "");
	memset(out, 'X', sizeof(out));
	assert_int_equal(utf8_sanitize(out, 0, "abc", 3), 0);
	assert_int_equal(out[0], 'X');
	/* UTF8_SANITIZED_MAX takes the worst case whole. */
	char big[UTF8_SANITIZED_MAX(4)];
	assert_int_equal(utf8_sanitize(big, sizeof(big), "\xFF\xFF\xFF\xFF", 4), 12);
}

/* Random bytes, biased towards the bytes that make UTF-8 interesting, so that valid
 * multi-byte sequences, near misses and truncations all occur. */
static size_t random_text(uint32_t *seed, char *buf, size_t max)
{
	static const unsigned char pool[] = {
	    'a',  '\t', '\n', 0x00, 0x07, 0x1B, '[',  ']',  '\\', 'm',	';',  '0',  0x7F,
	    0x80, 0x8F, 0x90, 0x9B, 0x9C, 0x9D, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF,
	    0xE0, 0xE1, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF4, 0xF5, 0xF8, 0xFE, 0xFF};
	size_t n;

	*seed = *seed * 1103515245u + 12345u;
	n = (*seed >> 16) % max;
	for (size_t i = 0; i < n; i++) {
		*seed = *seed * 1103515245u + 12345u;
		buf[i] = (char)((*seed >> 20) & 1 ? pool[(*seed >> 8) % sizeof(pool)]
						  : (*seed >> 8) & 0xFF);
	}
	return n;
}

static void test_random_bytes_always_give_text_jansson_accepts(void **state)
{
	char in[24], out[UTF8_SANITIZED_MAX(sizeof(in))];
	uint32_t seed = 42;
	int valid_inputs = 0;

	for (int round = 0; round < 200000; round++) {
		size_t n = random_text(&seed, in, sizeof(in));
		size_t m = utf8_sanitize(out, sizeof(out), in, n);
		json_t *raw = json_stringn(in, n);
		json_t *clean = json_stringn(out, m);
		int valid = utf8_valid(in, n);

		assert_non_null(clean);
		assert_true(utf8_valid(out, m));
		assert_int_equal(valid, raw != NULL); /* jansson, the independent judge */
		if (valid) {
			if (memchr(in, '\xF0', n) || memchr(in, '\xE1', n) || memchr(in, '\xC2', n))
				valid_inputs++; /* holds a multi-byte character */
			assert_int_equal(m, n);
			assert_memory_equal(out, in, n);
		}
		json_decref(raw);
		json_decref(clean);
	}
	assert_true(valid_inputs > 100); /* the generator does reach valid non-ASCII text */
}

/* --- the terminal filter ------------------------------------------------------------ */

static const char *term(const char *in, size_t len)
{
	static char out[256];

	utf8_sanitize_term(out, sizeof(out), in, len);
	return out;
}

#define TERM(lit) term(lit, sizeof(lit) - 1)

static void test_csi_sequences_are_removed_whole(void **state)
{
	assert_string_equal(TERM("a\x1b[2Jb"), "ab");
	assert_string_equal(TERM("\x1b[1;31mred\x1b[0m plain"), "red plain");
	assert_string_equal(TERM("\x1b[?1049h\x1b[H\x1b[6n"), "");
	/* A CSI ended by a control: the control still shows as '?'. */
	assert_string_equal(TERM("\x1b[12\x01x"), "?x");
}

static void test_osc_is_removed_up_to_bel_or_st(void **state)
{
	assert_string_equal(TERM("\x1b]0;pwned\x07ok"), "ok");
	/* OSC 52 writes the operator's clipboard; ST is ESC backslash. */
	assert_string_equal(TERM("\x1b]52;c;cm0gLXJmIH4K\x1b\\ok"), "ok");
	/* Hyperlinks that would hide where they point. */
	assert_string_equal(TERM("\x1b]8;;http://evil/\x1b\\click\x1b]8;;\x1b\\"), "click");
	/* Unterminated: it would swallow the rest of the line on a terminal too. */
	assert_string_equal(TERM("a\x1b]0;title"), "a");
	/* ESC inside the string that is not ST ends it and starts its own sequence. */
	assert_string_equal(TERM("\x1b]0;t\x1b[2Jz"), "z");
	/* DCS, APC, PM, SOS. */
	assert_string_equal(TERM("\x1bPq#0\x1b\\\x1b_apc\x07\x1b^pm\x07\x1bXsos\x07."), ".");
}

static void test_utf8_encoded_c1_controls_never_pass(void **state)
{
	/* C2 9B is CSI, C2 9D is OSC, C2 9C is ST, in UTF-8. */
	assert_string_equal(TERM("\xC2\x9B"
				 "2Jx"),
			    "x");
	assert_string_equal(TERM("\xC2\x9D"
				 "0;title\xC2\x9C"
				 "ok"),
			    "ok");
	assert_string_equal(TERM("\xC2\x9D"
				 "0;title\x07"
				 "ok"),
			    "ok");
	/* Other C1 controls (NEL, RI) show as '?'. */
	assert_string_equal(TERM("a\xC2\x85"
				 "b\xC2\x8D"
				 "c"),
			    "a?b?c");
	/* The raw 8-bit forms are not UTF-8 at all. */
	assert_string_equal(TERM("\x9B"
				 "2J"),
			    R "2J");
}

static void test_lone_esc_and_short_escapes(void **state)
{
	assert_string_equal(TERM("abc\x1b"), "abc");
	assert_string_equal(TERM("\x1b\x1b\x1b"), "");
	assert_string_equal(TERM("\x1b(Bx"), "x"); /* nF: charset designation */
	assert_string_equal(TERM("\x1b"
				 "cx"),
			    "x"); /* RIS: full reset */
	assert_string_equal(TERM("\x1b\xC3\xA9"), "\xC3\xA9");
}

static void test_controls_become_visible_and_tab_stays(void **state)
{
	assert_string_equal(term("a\x01"
				 "b\tc\x7f"
				 "d\0e",
				 9),
			    "a?b\tc?d?e");
	assert_string_equal(TERM("bell\x07 bs\x08 cr\r"), "bell? bs? cr?");
	/* Ill-formed text is repaired as by utf8_sanitize. */
	assert_string_equal(TERM("\xED\xA0\x80!"), R R R "!");
	assert_string_equal(TERM("caf\xC3\xA9 \xE2\x82\xAC"), "caf\xC3\xA9 \xE2\x82\xAC");
}

static void test_random_bytes_leave_nothing_a_terminal_obeys(void **state)
{
	char in[24], out[UTF8_SANITIZED_MAX(sizeof(in))], plain[sizeof(out)];
	uint32_t seed = 7;

	for (int round = 0; round < 200000; round++) {
		size_t n = random_text(&seed, in, sizeof(in));
		size_t m = utf8_sanitize_term(out, sizeof(out), in, n);
		json_t *clean = json_stringn(out, m);

		assert_non_null(clean);
		json_decref(clean);
		assert_true(utf8_valid(out, m));
		assert_true(m <= utf8_sanitize(plain, sizeof(plain), in, n));
		for (size_t i = 0; i < m; i++) {
			unsigned char c = (unsigned char)out[i];
			assert_false(c < 0x20 && c != '\t');
			assert_false(c == 0x7F);
			/* C1 in UTF-8 is C2 80..C2 9F. */
			assert_false(c == 0xC2 && i + 1 < m && (unsigned char)out[i + 1] < 0xA0);
		}
	}
}

static void test_term_output_is_bounded_and_whole(void **state)
{
	char out[5];

	/* "é" twice after a CSI: room for 4 bytes takes both, room for 3 only one. */
	assert_int_equal(utf8_sanitize_term(out, 5, "\x1b[0m\xC3\xA9\xC3\xA9", 8), 4);
	assert_int_equal(utf8_sanitize_term(out, 4, "\x1b[0m\xC3\xA9\xC3\xA9", 8), 2);
	assert_string_equal(out, "\xC3\xA9");
}

/* --- the result document -------------------------------------------------------------- */

static void test_result_json_is_built_whatever_the_script_wrote(void **state)
{
	static struct runner_result res;
	const char hostile[] = "\xED\xA0\x80 \xE0\x80\x80 \xF4\x90\x80\x80 \xF5\xFF \x80 "
			       "\x1b[2J \xC2\x9B"
			       "6n \xE2\x82";
	json_error_t jerr;
	json_t *doc;
	char *text;

	memset(&res, 0, sizeof(res));
	res.succeeded = 0;
	res.exit_code = 1;
	memcpy(res.log_tail, hostile, sizeof(hostile));
	memcpy(res.error, hostile, sizeof(hostile));
	text = cli_result_json(&res, "/out/\xFF.mp4", "worker-\xC0", NULL);
	assert_non_null(text);
	doc = json_loads(text, 0, &jerr);
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "status")), "failed");
	assert_non_null(strstr(json_string_value(json_object_get(doc, "log")), R R R " "));
	assert_non_null(strstr(json_string_value(json_object_get(doc, "error")), R));
	assert_string_equal(json_string_value(json_object_get(doc, "worker")), "worker-" R);
	json_decref(doc);
	free(text);

	res.succeeded = 1;
	text = cli_result_json(&res, "/out/\xFF.mp4", NULL, NULL);
	assert_non_null(text);
	doc = json_loads(text, 0, &jerr);
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "output")), "/out/" R ".mp4");
	json_decref(doc);
	free(text);
}

static void test_print_result_json_reports_a_stdout_it_cannot_write(void **state)
{
	static struct runner_result res;
	FILE *full = fopen("/dev/full", "w");

	if (!full)
		skip();
	memset(&res, 0, sizeof(res));
	res.succeeded = 1;
	assert_true(cli_print_result_json(full, &res, NULL) < 0);
	fclose(full);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unicode_vectors_get_one_replacement_per_maximal_subpart),
	    cmocka_unit_test(test_jansson_accepts_every_output_and_agrees_on_validity),
	    cmocka_unit_test(test_nul_is_well_formed_and_kept),
	    cmocka_unit_test(test_utf8_next_reports_code_points_and_subpart_lengths),
	    cmocka_unit_test(test_a_small_buffer_never_gets_a_cut_character),
	    cmocka_unit_test(test_random_bytes_always_give_text_jansson_accepts),
	    cmocka_unit_test(test_csi_sequences_are_removed_whole),
	    cmocka_unit_test(test_osc_is_removed_up_to_bel_or_st),
	    cmocka_unit_test(test_utf8_encoded_c1_controls_never_pass),
	    cmocka_unit_test(test_lone_esc_and_short_escapes),
	    cmocka_unit_test(test_controls_become_visible_and_tab_stays),
	    cmocka_unit_test(test_random_bytes_leave_nothing_a_terminal_obeys),
	    cmocka_unit_test(test_term_output_is_bounded_and_whole),
	    cmocka_unit_test(test_result_json_is_built_whatever_the_script_wrote),
	    cmocka_unit_test(test_print_result_json_reports_a_stdout_it_cannot_write),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
