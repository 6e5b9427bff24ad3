/* errf.h - the worker's one way to put a sentence in a caller's err buffer.
 *
 * Every worker/ function that can fail returns 0 or a negative errno and, when the
 * caller gave a buffer, one sentence saying what happened and what to do; this is the
 * printf that writes it (sandbox/ has its own in err.c, queue/ in common.c).
 */
#ifndef REELBOX_ERRF_H
#define REELBOX_ERRF_H

#include <stddef.h>

/* vsnprintf into err; nothing when err is NULL or errlen 0. */
void worker_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
