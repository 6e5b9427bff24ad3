/* logship.c - a running job's log lines in bounded batches (see logship.h). */
#include "logship.h"

#include <stdio.h>
#include <string.h>

void logship_reset(struct logship *ls)
{
	memset(ls, 0, sizeof(*ls));
}

/* The line that ends what is shipped of a claim's log. */
static void add_cap_line(struct logship *ls)
{
	int n = snprintf(ls->buf + ls->len, sizeof(ls->buf) - ls->len,
			 "[reelbox] the log stream stops here: %u bytes were shipped, the "
			 "limit; the result's log tail has the end\n",
			 LOGSHIP_MAX);

	if (n > 0 && (size_t)n < sizeof(ls->buf) - ls->len)
		ls->len += (size_t)n;
	ls->capped = 1;
}

int logship_add(struct logship *ls, const char *line, size_t len)
{
	size_t need;

	if (ls->capped) {
		ls->dropped += len + 1;
		return 0;
	}
	/* A line as long as a batch is cut to fit one (the tail in the result is whole). */
	if (len > sizeof(ls->buf) - 1)
		len = sizeof(ls->buf) - 1;
	need = len + 1;
	if (ls->shipped + ls->len + need > LOGSHIP_MAX) {
		/* The room for the cap's line is kept out of the cap itself. */
		if (ls->len + 160 > sizeof(ls->buf))
			return 2;
		ls->dropped += need;
		add_cap_line(ls);
		return 1;
	}
	if (ls->len + need > sizeof(ls->buf))
		return 2;
	memcpy(ls->buf + ls->len, line, len);
	ls->buf[ls->len + len] = '\n';
	ls->len += need;
	return ls->len == sizeof(ls->buf) ? 1 : 0;
}

const char *logship_take(struct logship *ls, size_t *len)
{
	*len = ls->len;
	if (!ls->len)
		return NULL;
	ls->shipped += ls->len;
	ls->len = 0;
	return ls->buf;
}
