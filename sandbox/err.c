/* err.c - the sandbox's two error helpers, in a leaf every other file may call.
 *
 * A failure a user must act on becomes one sentence in the caller's err buffer
 * (sandbox_errf), usually ending in the kernel's words for the errno
 * (sandbox_strerror). Nothing here calls back into the rest of the sandbox.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

const char *sandbox_strerror(int err)
{
	const char *s = strerrordesc_np(err < 0 ? -err : err);

	return s ? s : "unknown error";
}

void sandbox_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}
