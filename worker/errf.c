/* errf.c - see errf.h. */
#include "errf.h"

#include <stdarg.h>
#include <stdio.h>

void worker_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}
