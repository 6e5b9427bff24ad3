/* logtail.h - a script's stderr, split into lines and kept as a bounded tail.
 *
 * Whatever a script writes (a flood, one endless line, binary noise), the memory held
 * is fixed: at most LOGTAIL_LINE bytes of the current line and the last `cap` bytes of
 * the log. Every line, as emitted and as kept, went through utf8_sanitize_term(): it is
 * well-formed UTF-8 without escape sequences or control characters (tab aside), so a line
 * or a tail is safe to print on a terminal and to put into JSON as it is.
 */
#ifndef REELBOX_LOGTAIL_H
#define REELBOX_LOGTAIL_H

#include <stddef.h>
#include <stdint.h>

/* Raw bytes of one line; a longer line is cut there (between characters). */
#define LOGTAIL_LINE 1024
/* The longest line emit() can get: each raw byte may become a 3-byte U+FFFD. */
#define LOGTAIL_LINE_MAX (3 * LOGTAIL_LINE)

struct logtail {
	char *ring;
	size_t cap, len, head;	 /* ring holds the last len bytes, oldest at head */
	char line[LOGTAIL_LINE]; /* raw bytes of the current line */
	size_t line_len;
	uint64_t total_bytes;
	uint64_t dropped_lines; /* lines cut at LOGTAIL_LINE */
	void (*emit)(void *opaque, const char *line, size_t len);
	void *opaque;
};

int logtail_init(struct logtail *lt, size_t cap, void (*emit)(void *, const char *, size_t),
		 void *opaque);

/* Feed bytes as they arrive; emit() is called once per complete line with the clean
 * line (NUL-terminated, len <= LOGTAIL_LINE_MAX, no newline). */
void logtail_feed(struct logtail *lt, const char *buf, size_t len);

/* Flush a final line that had no newline. */
void logtail_flush(struct logtail *lt);

/* Copy the tail (whole lines where possible) into out, NUL-terminated, starting on a
 * character: well-formed UTF-8, terminal-safe. */
void logtail_copy(const struct logtail *lt, char *out, size_t outlen);

void logtail_free(struct logtail *lt);

#endif
