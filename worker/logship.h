/* logship.h - a running job's log lines, batched for the queue's per-job log stream.
 *
 * The worker ships what a script writes to stderr to Redis while the job runs, so
 * `reelbox logs -f` and the dashboard can follow it. What that costs is bounded per
 * claim: lines are gathered into batches of at most QUEUE_LOG_BATCH_MAX bytes (one
 * stream entry each), and after LOGSHIP_MAX bytes nothing more is shipped but one line
 * saying so (the result's tail still has the end). No I/O here: the worker decides
 * when to send (a full batch at once, else LOGSHIP_DELAY_MS after the first line).
 */
#ifndef REELBOX_LOGSHIP_H
#define REELBOX_LOGSHIP_H

#include <stddef.h>
#include <stdint.h>

#include "queue.h"

#define LOGSHIP_MAX	 (1u << 20) /* bytes shipped per claim */
#define LOGSHIP_DELAY_MS 250	    /* longest a line waits in a batch */

struct logship {
	char buf[QUEUE_LOG_BATCH_MAX];
	size_t len;	  /* bytes in the batch being gathered */
	size_t shipped;	  /* bytes taken for sending so far (this claim) */
	uint64_t dropped; /* bytes not shipped once the cap was reached */
	int capped;	  /* the cap's line is in a batch */
};

void logship_reset(struct logship *ls);

/* Add one line (no newline; at most LOGTAIL_LINE_MAX bytes, terminal-safe). Returns 1
 * when the batch is full and should be sent now (logship_take), else 0. A line that
 * does not fit in what is left of the batch makes it full first: call logship_take,
 * send, and add the line again (it returns 2 then, the line not taken). */
int logship_add(struct logship *ls, const char *line, size_t len);

/* The batch to send (NULL when empty): *len bytes of whole lines, each ending in a
 * newline; the batch is empty again afterwards (the pointer is valid until the next
 * add). */
const char *logship_take(struct logship *ls, size_t *len);

#endif
