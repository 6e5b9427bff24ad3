/* utf8.h - the one place that decides what a script's bytes may become as text.
 *
 * A script's stderr (and anything quoting it) ends up in two places that are strict about
 * bytes: JSON documents, which jansson refuses unless they are well-formed UTF-8, and the
 * operator's terminal, which obeys escape sequences. Everything that turns script bytes
 * into text goes through here, so "valid" means the same everywhere: RFC 3629, i.e. no
 * overlong forms, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF, no truncated
 * sequences - exactly what jansson accepts.
 *
 * Ill-formed input is repaired the way the Unicode Standard recommends (chapter 3.9,
 * "U+FFFD Substitution of Maximal Subparts", the same practice as WHATWG's decoder): each
 * maximal subpart of an ill-formed sequence becomes one U+FFFD. "ED A0 80" (a surrogate)
 * becomes three U+FFFD, "E2 82" cut off at the end becomes one.
 *
 * This file is a leaf: it includes nothing of reelbox and can be fuzzed on its own.
 */
#ifndef REELBOX_UTF8_H
#define REELBOX_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* U+FFFD REPLACEMENT CHARACTER as UTF-8. */
#define UTF8_REPLACEMENT     "\xEF\xBF\xBD"
#define UTF8_REPLACEMENT_LEN 3

/* What utf8_next() reports for an ill-formed sequence; never a code point. */
#define UTF8_INVALID 0xFFFFFFFFu

/* The output capacity (with the NUL) that takes all of an input of n bytes: one invalid
 * byte becomes three. Callers with an unbounded n check for overflow themselves. */
#define UTF8_SANITIZED_MAX(n) ((size_t)(n)*UTF8_REPLACEMENT_LEN + 1)

/* Decode the character at s[0..n). Returns the bytes it takes (1..4; 0 only when n is 0)
 * and sets *cp to its code point; when s starts ill-formed, *cp is UTF8_INVALID and the
 * return value is the length of the maximal subpart (1..3) to replace with one U+FFFD. */
size_t utf8_next(const char *s, size_t n, uint32_t *cp);

/* 1 when s[0..n) is well-formed UTF-8 (RFC 3629) as a whole, else 0. NUL bytes count as
 * U+0000, which is well-formed. */
int utf8_valid(const char *s, size_t n);

/* Copy in[0..inlen) to out as well-formed UTF-8: every maximal subpart of an ill-formed
 * sequence becomes U+FFFD, everything else (NUL and control characters included) is
 * copied unchanged, so well-formed input comes out byte for byte.
 *
 * Bounded: writes at most cap - 1 bytes plus a NUL (nothing when cap is 0) and stops
 * before the first character that would not fit, so the output is always a well-formed
 * prefix of the full result, never a cut character. Returns the bytes written, without
 * the NUL. A cap of UTF8_SANITIZED_MAX(inlen) never cuts. in and out must not overlap. */
size_t utf8_sanitize(char *out, size_t cap, const char *in, size_t inlen);

/* utf8_sanitize(), and then safe to show on a terminal or in a log a terminal shows:
 *  - escape sequences are removed whole: CSI (ESC [ or U+009B, parameters, intermediates,
 *    final byte), OSC, DCS, SOS, PM, APC (ESC ] P X ^ _ or U+009D U+0090 U+0098 U+009E
 *    U+009F, up to BEL, ESC \ or U+009C, else to the end of the input) and any other
 *    ESC [intermediates] final; a lone ESC goes alone;
 *  - every other C0 control but tab, DEL and every other C1 control (U+0080..U+009F)
 *    becomes '?'.
 * The output holds no byte below 0x20 but tab, no 0x7F and no C1 code point, so nothing
 * in it can start a terminal sequence. Same bounds, return value and overlap rule as
 * utf8_sanitize(); the output is never longer than utf8_sanitize()'s for the same input. */
size_t utf8_sanitize_term(char *out, size_t cap, const char *in, size_t inlen);

#endif
