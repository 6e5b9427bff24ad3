#include "logtail.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

/* A line is complete: keep it in the tail and hand it to the emitter. */
static void end_line(struct logtail *lt)
{
	ring_put(lt, lt->line, lt->line_len);
	ring_put(lt, "\n", 1);
	if (lt->emit)
		lt->emit(lt->opaque, lt->line, lt->line_len);
	lt->line_len = 0;
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
		/* Escape sequences and control bytes never reach a terminal or a JSON log. */
		if (c < 0x20 && c != '\t')
			c = '?';
		if (c == 0x7f)
			c = '?';
		if (lt->line_len == sizeof(lt->line)) {
			end_line(lt);
			lt->dropped_lines++;
		}
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
	/* UTF-8 may have been cut mid-character: drop leading continuation bytes. */
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
