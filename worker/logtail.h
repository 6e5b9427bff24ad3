/* logtail.h - a script's stderr, split into lines and kept as a bounded tail.
 *
 * Whatever a script writes (a flood, one endless line, binary noise), the memory held
 * is fixed: at most LOGTAIL_LINE bytes of the current line and the last `cap` bytes of
 * the log. Non-printable bytes are replaced so a tail is safe to print and to put in JSON.
 */
#ifndef REELBOX_LOGTAIL_H
#define REELBOX_LOGTAIL_H

#include <stddef.h>
#include <stdint.h>

#define LOGTAIL_LINE 1024

struct logtail {
	char *ring;
	size_t cap, len, head; /* ring holds the last len bytes, oldest at head */
	char line[LOGTAIL_LINE];
	size_t line_len;
	uint64_t total_bytes;
	uint64_t dropped_lines;
	void (*emit)(void *opaque, const char *line, size_t len);
	void *opaque;
};

int logtail_init(struct logtail *lt, size_t cap, void (*emit)(void *, const char *, size_t),
		 void *opaque);

/* Feed bytes as they arrive; emit() is called once per complete line. */
void logtail_feed(struct logtail *lt, const char *buf, size_t len);

/* Flush a final line that had no newline. */
void logtail_flush(struct logtail *lt);

/* Copy the tail (whole lines where possible) into out, NUL-terminated. */
void logtail_copy(const struct logtail *lt, char *out, size_t outlen);

void logtail_free(struct logtail *lt);

#endif
