/* fuzz_utf8.c - libFuzzer target for worker/utf8.c and worker/logtail.c.
 *
 * A script's stderr reaches JSON documents and the operator's terminal only through
 * these two files, so the target checks what they promise rather than only "no crash":
 * every output is well-formed UTF-8 by utf8_valid() and by jansson (the strict consumer),
 * utf8_valid() agrees with jansson on the input, well-formed input passes unchanged,
 * bounded outputs are prefixes cut between characters, the terminal filter leaves no
 * control byte (tab aside), no DEL and no C1 code point, and a log fed in chunks of any
 * size gives the same lines and the same tail as the log fed whole.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logtail.h"
#include "utf8.h"

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_utf8: %s:%d: check failed: %s\n", __FILE__,          \
				__LINE__, #cond);                                                  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static int json_accepts(const char *s, size_t n)
{
	json_t *j = json_stringn(s, n);

	if (!j)
		return 0;
	json_decref(j);
	return 1;
}

/* No byte a terminal acts on: C0 but tab (and '\n' where lines are joined), DEL, and
 * C1 as UTF-8 (C2 80..C2 9F). */
static void check_term_safe(const char *s, size_t n, int allow_newline)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < n; i++) {
		CHECK(p[i] >= 0x20 || p[i] == '\t' || (allow_newline && p[i] == '\n'));
		CHECK(p[i] != 0x7F);
		CHECK(!(p[i] == 0xC2 && i + 1 < n && p[i + 1] >= 0x80 && p[i + 1] <= 0x9F));
	}
}

static size_t encode(uint32_t cp, unsigned char *b)
{
	if (cp < 0x80) {
		b[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		b[0] = (unsigned char)(0xC0 | cp >> 6);
		b[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		b[0] = (unsigned char)(0xE0 | cp >> 12);
		b[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
		b[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	b[0] = (unsigned char)(0xF0 | cp >> 18);
	b[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
	b[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
	b[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

/* utf8_next() over the whole input: every step is a whole character that re-encodes to
 * exactly the bytes it took (no overlong, no surrogate, nothing above U+10FFFF), or a
 * maximal subpart of 1..3 bytes. Returns whether no step was ill-formed. */
static int walk(const char *s, size_t n)
{
	int valid = 1;
	size_t i = 0;
	uint32_t cp;

	CHECK(utf8_next(s, 0, &cp) == 0);
	while (i < n) {
		size_t k = utf8_next(s + i, n - i, &cp);
		unsigned char b[4];

		CHECK(k >= 1 && k <= n - i);
		if (cp == UTF8_INVALID) {
			CHECK(k <= 3);
			valid = 0;
		} else {
			CHECK(k <= 4);
			CHECK(cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF));
			CHECK(encode(cp, b) == k && !memcmp(b, s + i, k));
		}
		i += k;
	}
	CHECK(i == n);
	return valid;
}

typedef size_t (*sanitizer)(char *, size_t, const char *, size_t);

/* A bounded run of fn is a prefix of the full result full[0..full_len), and it stopped
 * only because the next character of the full result would not have fit. */
static void check_bounded(sanitizer fn, const char *in, size_t n, const char *full, size_t full_len,
			  size_t cap)
{
	char *out = malloc(cap ? cap : 1);
	size_t r;
	uint32_t cp;

	CHECK(out);
	r = fn(cap ? out : NULL, cap, in, n); /* cap 0 must write nothing at all */
	if (cap == 0) {
		CHECK(r == 0);
		free(out);
		return;
	}
	CHECK(r <= cap - 1 && r <= full_len);
	CHECK(out[r] == '\0');
	CHECK(!memcmp(out, full, r));
	CHECK(utf8_valid(out, r));
	if (r < full_len)
		CHECK(r + utf8_next(full + r, full_len - r, &cp) > cap - 1);
	free(out);
}

static void fuzz_sanitizers(const char *in, size_t n, size_t small_cap)
{
	size_t cap = UTF8_SANITIZED_MAX(n);
	char *out = malloc(cap), *term = malloc(cap), *again = malloc(cap);
	size_t len, tlen, alen;
	int valid = utf8_valid(in, n);

	CHECK(out && term && again);
	CHECK(walk(in, n) == valid);
	CHECK(json_accepts(in, n) == valid);

	len = utf8_sanitize(out, cap, in, n);
	CHECK(len < cap && out[len] == '\0');
	CHECK(utf8_valid(out, len));
	CHECK(json_accepts(out, len));
	if (valid)
		CHECK(len == n && !memcmp(out, in, n));
	/* idempotent: the output is well-formed, so it passes unchanged */
	alen = utf8_sanitize(again, cap, out, len);
	CHECK(alen == len && !memcmp(again, out, len));

	tlen = utf8_sanitize_term(term, cap, in, n);
	CHECK(tlen < cap && term[tlen] == '\0');
	CHECK(tlen <= len);
	CHECK(utf8_valid(term, tlen));
	CHECK(json_accepts(term, tlen));
	check_term_safe(term, tlen, 0);
	/* nothing in the output can start a sequence, so a second pass changes nothing */
	alen = utf8_sanitize_term(again, cap, term, tlen);
	CHECK(alen == tlen && !memcmp(again, term, tlen));

	check_bounded(utf8_sanitize, in, n, out, len, small_cap);
	check_bounded(utf8_sanitize_term, in, n, term, tlen, small_cap);
	check_bounded(utf8_sanitize, in, n, out, len, 0);
	free(out);
	free(term);
	free(again);
}

/* Every emitted line is appended to a record, so two logtails can be compared. */
struct lines {
	char *buf;
	size_t len, cap;
	size_t count;
};

static void on_line(void *opaque, const char *line, size_t len)
{
	struct lines *l = opaque;

	CHECK(len <= LOGTAIL_LINE_MAX);
	CHECK(line[len] == '\0');
	CHECK(utf8_valid(line, len));
	check_term_safe(line, len, 0);
	if (l->len + len + 1 > l->cap) {
		l->cap = (l->len + len + 1) * 2;
		l->buf = realloc(l->buf, l->cap);
		CHECK(l->buf);
	}
	memcpy(l->buf + l->len, line, len);
	l->len += len;
	l->buf[l->len++] = '\n';
	l->count++;
}

static uint32_t next_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Parameters from the first 5 bytes: ring capacity, copy size, chunking seed and
 * whether to flush; the rest is the log. */
static void fuzz_logtail(const uint8_t *data, size_t size)
{
	struct logtail whole, chunked;
	struct lines lw = {0}, lc = {0};
	size_t cap, outlen, n, i = 0;
	const char *body;
	uint32_t seed;
	char *ow, *oc;
	int flush;

	if (size < 5)
		return;
	cap = 1 + ((size_t)data[0] << 8 | data[1]) % 6000;
	outlen = 1 + ((size_t)data[2] << 8 | data[3]) % 6000;
	seed = 0x9E3779B9u ^ data[4];
	flush = data[4] & 1;
	body = (const char *)data + 5;
	n = size - 5;

	CHECK(logtail_init(&whole, cap, on_line, &lw) == 0);
	CHECK(logtail_init(&chunked, cap, on_line, &lc) == 0);
	logtail_feed(&whole, body, n);
	while (i < n) {
		uint32_t r = next_rand(&seed);
		size_t k = r % 8 == 0 ? 1 + r % 2048 : 1 + r % 7;

		if (k > n - i)
			k = n - i;
		logtail_feed(&chunked, body + i, k);
		i += k;
	}
	if (flush) {
		logtail_flush(&whole);
		logtail_flush(&chunked);
	}
	CHECK(whole.total_bytes == n && chunked.total_bytes == n);
	/* where read() cut the stream must not matter */
	CHECK(lw.count == lc.count && lw.len == lc.len);
	CHECK(!lw.len || !memcmp(lw.buf, lc.buf, lw.len));
	CHECK(whole.dropped_lines == chunked.dropped_lines);

	ow = malloc(outlen);
	oc = malloc(outlen);
	CHECK(ow && oc);
	logtail_copy(&whole, ow, outlen);
	logtail_copy(&chunked, oc, outlen);
	CHECK(strlen(ow) < outlen);
	CHECK(!strcmp(ow, oc));
	CHECK(utf8_valid(ow, strlen(ow)));
	CHECK(json_accepts(ow, strlen(ow)));
	check_term_safe(ow, strlen(ow), 1);

	free(ow);
	free(oc);
	free(lw.buf);
	free(lc.buf);
	logtail_free(&whole);
	logtail_free(&chunked);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t small_cap = size ? data[size - 1] % (size + 4) : 1;

	fuzz_sanitizers((const char *)data, size, small_cap);
	fuzz_logtail(data, size);
	return 0;
}
