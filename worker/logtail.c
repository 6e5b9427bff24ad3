/* logtail.c - lines of a script's stderr, cleaned once, then kept and emitted.
 *
 * Cleaning happens per complete line, not per byte: a UTF-8 character or an escape
 * sequence split across two read() chunks is judged whole. The raw line is the unit, so
 * a script cannot open an escape sequence in one line and swallow reelbox's own lines
 * (the sandbox's "reelbox: denied ..." notes) that come after it.
 */
#include "logtail.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

int logtail_init(struct logtail *lt, size_t cap, void (*emit)(void *, const char *, size_t),
		 void *opaque)
{
	memset(lt, 0, sizeof(*lt));
	lt->ring = malloc(cap ? cap : 1);
	if (!lt->ring)
		return -ENOMEM;
	lt->cap = cap ? cap : 1;
	lt->emit = emit;
	lt->opaque = opaque;
	return 0;
}

static void ring_put(struct logtail *lt, const char *p, size_t n)
{
	if (n >= lt->cap) {
		memcpy(lt->ring, p + n - lt->cap, lt->cap);
		lt->head = 0;
		lt->len = lt->cap;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		size_t pos = (lt->head + lt->len) % lt->cap;
		lt->ring[pos] = p[i];
		if (lt->len < lt->cap)
			lt->len++;
		else
			lt->head = (lt->head + 1) % lt->cap;
	}
}

/* A line is complete: clean it, keep it in the tail and hand it to the emitter. */
static void end_line(struct logtail *lt)
{
	char clean[LOGTAIL_LINE_MAX + 1];
	size_t n = utf8_sanitize_term(clean, sizeof(clean), lt->line, lt->line_len);

	ring_put(lt, clean, n);
	ring_put(lt, "\n", 1);
	if (lt->emit)
		lt->emit(lt->opaque, clean, n);
	lt->line_len = 0;
}

/* How many bytes at the end of line[0..len) are the start of a character that has not
 * arrived in full (0..3): they move to the next piece of a cut line, so the cut does
 * not turn one character into two U+FFFD. */
static size_t partial_char(const char *line, size_t len)
{
	for (size_t k = 1; k <= 3 && k <= len; k++) {
		unsigned char b = (unsigned char)line[len - k];
		size_t need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;

		if ((b & 0xC0) == 0x80)
			continue; /* a continuation: the lead is further back */
		return b >= 0xC2 && b <= 0xF4 && need > k ? k : 0;
	}
	return 0;
}

/* The line is full: emit what it holds, up to the last whole character. */
static void cut_line(struct logtail *lt)
{
	char carry[3];
	size_t k = partial_char(lt->line, lt->line_len);

	memcpy(carry, lt->line + lt->line_len - k, k);
	lt->line_len -= k;
	end_line(lt);
	memcpy(lt->line, carry, k);
	lt->line_len = k;
	lt->dropped_lines++;
}

void logtail_feed(struct logtail *lt, const char *buf, size_t len)
{
	lt->total_bytes += len;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c == '\n') {
			end_line(lt);
			continue;
		}
		if (c == '\r')
			continue;
		if (lt->line_len == sizeof(lt->line))
			cut_line(lt);
		lt->line[lt->line_len++] = (char)c;
	}
}

void logtail_flush(struct logtail *lt)
{
	if (lt->line_len)
		end_line(lt);
}

void logtail_copy(const struct logtail *lt, char *out, size_t outlen)
{
	size_t n = 0, skip = 0;

	if (!outlen)
		return;
	if (lt->len > outlen - 1)
		skip = lt->len - (outlen - 1);
	for (size_t i = skip; i < lt->len; i++)
		out[n++] = lt->ring[(lt->head + i) % lt->cap];
	out[n] = '\0';
	/* Start at a line boundary when the oldest line was cut. */
	if ((skip || lt->len == lt->cap) && n) {
		char *nl = memchr(out, '\n', n);
		if (nl && (size_t)(nl - out) + 1 < n)
			memmove(out, nl + 1, n - (size_t)(nl - out));
	}
	/* The ring holds whole characters, but its oldest one may have been cut: drop
	 * leading continuation bytes. */
	size_t k = 0;
	while (out[k] && ((unsigned char)out[k] & 0xC0) == 0x80)
		k++;
	if (k)
		memmove(out, out + k, strlen(out + k) + 1);
}

void logtail_free(struct logtail *lt)
{
	free(lt->ring);
	lt->ring = NULL;
}
