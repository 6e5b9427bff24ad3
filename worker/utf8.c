/* utf8.c - RFC 3629 decoding with U+FFFD repair, and the terminal filter on top of it.
 *
 * The decoder follows Table 3-7 of the Unicode Standard ("Well-Formed UTF-8 Byte
 * Sequences"): the second byte's range depends on the lead byte (E0 needs A0..BF against
 * overlongs, ED needs 80..9F against surrogates, F0 needs 90..BF against overlongs, F4
 * needs 80..8F against code points above U+10FFFF), every other continuation is 80..BF,
 * and C0, C1, F5..FF never lead. Checking the ranges byte by byte is what makes "maximal
 * subpart" fall out for free: the subpart ends at the first byte outside its range.
 */
#include "utf8.h"

#include <string.h>

size_t utf8_next(const char *s, size_t n, uint32_t *cp)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned char lo = 0x80, hi = 0xBF;
	size_t need;
	uint32_t c;

	*cp = UTF8_INVALID;
	if (n == 0)
		return 0;
	c = p[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		need = 1;
		c &= 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		need = 2;
		c &= 0x0F;
		if (p[0] == 0xE0)
			lo = 0xA0; /* E0 80..9F would be an overlong 3-byte form */
		else if (p[0] == 0xED)
			hi = 0x9F; /* ED A0..BF would be a surrogate */
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 3;
		c &= 0x07;
		if (p[0] == 0xF0)
			lo = 0x90; /* F0 80..8F would be an overlong 4-byte form */
		else if (p[0] == 0xF4)
			hi = 0x8F; /* F4 90..BF would be above U+10FFFF */
	} else {
		return 1; /* a continuation byte, C0, C1 or F5..FF: never a lead */
	}
	for (size_t i = 1; i <= need; i++) {
		if (i >= n || p[i] < lo || p[i] > hi)
			return i; /* the maximal subpart is what matched so far */
		c = (c << 6) | (p[i] & 0x3F);
		lo = 0x80;
		hi = 0xBF;
	}
	*cp = c;
	return need + 1;
}

int utf8_valid(const char *s, size_t n)
{
	uint32_t cp;

	for (size_t i = 0; i < n;) {
		i += utf8_next(s + i, n - i, &cp);
		if (cp == UTF8_INVALID)
			return 0;
	}
	return 1;
}

/* The output side: whole characters or nothing, and once one did not fit, nothing more,
 * so the output stays a prefix of the unbounded result. */
struct sink {
	char *out;
	size_t cap, len;
	int full;
};

static void put(struct sink *k, const char *b, size_t n)
{
	if (k->full || k->cap == 0 || n > k->cap - 1 - k->len) {
		k->full = 1;
		return;
	}
	memcpy(k->out + k->len, b, n);
	k->len += n;
}

static size_t finish(struct sink *k)
{
	if (k->cap)
		k->out[k->len] = '\0';
	return k->len;
}

size_t utf8_sanitize(char *out, size_t cap, const char *in, size_t inlen)
{
	struct sink k = {out, cap, 0, 0};
	uint32_t cp;

	for (size_t i = 0; i < inlen && !k.full;) {
		size_t n = utf8_next(in + i, inlen - i, &cp);
		if (cp == UTF8_INVALID)
			put(&k, UTF8_REPLACEMENT, UTF8_REPLACEMENT_LEN);
		else
			put(&k, in + i, n);
		i += n;
	}
	return finish(&k);
}

/* The code point at in[i] and its length in *n; UTF8_INVALID with *n 0 at the end. */
static uint32_t peek(const char *in, size_t len, size_t i, size_t *n)
{
	uint32_t cp = UTF8_INVALID;

	*n = i < len ? utf8_next(in + i, len - i, &cp) : 0;
	return cp;
}

static int is_string_introducer(uint32_t c)
{
	/* OSC, DCS, SOS, PM, APC as C1 code points. */
	return c == 0x9D || c == 0x90 || c == 0x98 || c == 0x9E || c == 0x9F;
}

/* in[i] is ESC or a C1 introducer: the index just past the escape sequence it starts,
 * following ECMA-48's shapes. A sequence ends early at anything that cannot continue it
 * (a control, a non-ASCII or ill-formed byte); that byte is left to the caller. */
static size_t skip_escape(const char *in, size_t len, size_t i)
{
	size_t n;
	uint32_t c = peek(in, len, i, &n);

	i += n;
	if (c == 0x1B) {
		c = peek(in, len, i, &n);
		if (c == '[') {
			i += n;
			c = 0x9B;
		} else if (c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_') {
			i += n;
			c = 0x9D;
		} else {
			/* nF and Fp/Fe/Fs: ESC, intermediates 0x20..0x2F, one final. */
			while (c >= 0x20 && c <= 0x2F) {
				i += n;
				c = peek(in, len, i, &n);
			}
			if (c >= 0x30 && c <= 0x7E)
				i += n;
			return i;
		}
	}
	if (c == 0x9B) {
		/* CSI: parameters 0x30..0x3F and intermediates 0x20..0x2F, one final. */
		for (;;) {
			c = peek(in, len, i, &n);
			if (c >= 0x20 && c <= 0x3F) {
				i += n;
				continue;
			}
			if (c >= 0x40 && c <= 0x7E)
				i += n;
			return i;
		}
	}
	/* A control string: everything up to its terminator, or to the end of the input
	 * (a terminal would swallow it as well). */
	for (;;) {
		c = peek(in, len, i, &n);
		if (n == 0)
			return i;
		if (c == 0x07 || c == 0x9C)
			return i + n;
		if (c == 0x1B) {
			size_t n2;
			if (peek(in, len, i + n, &n2) == '\\')
				return i + n + n2;
			return i; /* ESC aborts the string and starts a sequence of its own */
		}
		i += n;
	}
}

/* Terminal-safe text: a script's log line must not move the operator's cursor, clear
 * the screen, retitle the window, write to the clipboard (OSC 52) or inject keystrokes
 * via answerback, neither with ESC nor with its UTF-8-encoded C1 twins (C2 9B, C2 9D). */
size_t utf8_sanitize_term(char *out, size_t cap, const char *in, size_t inlen)
{
	struct sink k = {out, cap, 0, 0};
	uint32_t cp;

	for (size_t i = 0; i < inlen && !k.full;) {
		size_t n = utf8_next(in + i, inlen - i, &cp);
		if (cp == UTF8_INVALID) {
			put(&k, UTF8_REPLACEMENT, UTF8_REPLACEMENT_LEN);
		} else if (cp == 0x1B || cp == 0x9B || is_string_introducer(cp)) {
			i = skip_escape(in, inlen, i);
			continue;
		} else if ((cp < 0x20 && cp != '\t') || (cp >= 0x7F && cp <= 0x9F)) {
			put(&k, "?", 1);
		} else {
			put(&k, in + i, n);
		}
		i += n;
	}
	return finish(&k);
}
