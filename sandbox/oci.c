/* oci.c - the pieces of an OCI runtime spec (config.json) the gvisor tier writes: JSON
 * written by hand, every string escaped, nothing ever parsed. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "internal.h"

void sandbox_oci_raw(struct sandbox_oci_buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->cap ? b->cap * 2 : 8192) + n;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

__attribute__((format(printf, 2, 3))) void sandbox_oci_f(struct sandbox_oci_buf *b, const char *fmt,
							 ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		sandbox_oci_raw(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
	/* A piece cut short would be broken JSON: fail the spec instead. */
	if (n < 0 || (size_t)n >= sizeof(tmp))
		b->oom = 1;
}

/* A JSON string: quotes, backslashes and control bytes escaped; other bytes as they are
 * (runsc's decoder replaces invalid UTF-8, it cannot break out of the string). */
void sandbox_oci_str(struct sandbox_oci_buf *b, const char *s)
{
	sandbox_oci_raw(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			sandbox_oci_f(b, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			sandbox_oci_f(b, "\\u%04x", c);
		else
			sandbox_oci_raw(b, (const char *)&c, 1);
	}
	sandbox_oci_raw(b, "\"", 1);
}

void sandbox_oci_strs(struct sandbox_oci_buf *b, const char *const *v)
{
	sandbox_oci_raw(b, "[", 1);
	for (size_t i = 0; v && v[i]; i++) {
		if (i)
			sandbox_oci_raw(b, ",", 1);
		sandbox_oci_str(b, v[i]);
	}
	sandbox_oci_raw(b, "]", 1);
}

static const char *rlimit_name(int resource)
{
	switch (resource) {
	case RLIMIT_CPU:
		return "RLIMIT_CPU";
	case RLIMIT_FSIZE:
		return "RLIMIT_FSIZE";
	case RLIMIT_DATA:
		return "RLIMIT_DATA";
	case RLIMIT_STACK:
		return "RLIMIT_STACK";
	case RLIMIT_CORE:
		return "RLIMIT_CORE";
	case RLIMIT_NPROC:
		return "RLIMIT_NPROC";
	case RLIMIT_NOFILE:
		return "RLIMIT_NOFILE";
	case RLIMIT_MEMLOCK:
		return "RLIMIT_MEMLOCK";
	case RLIMIT_AS:
		return "RLIMIT_AS";
	case RLIMIT_MSGQUEUE:
		return "RLIMIT_MSGQUEUE";
	default:
		return NULL;
	}
}

void sandbox_oci_rlimits(struct sandbox_oci_buf *b, const struct sandbox_rlimits *r)
{
	int first = 1;

	sandbox_oci_raw(b, "[", 1);
	for (int i = 0; i < r->n; i++) {
		const char *name = rlimit_name(r->set[i].resource);
		if (!name)
			continue;
		sandbox_oci_f(b, "%s{\"type\":\"%s\",\"soft\":%llu,\"hard\":%llu}",
			      first ? "" : ",", name, (unsigned long long)r->set[i].rl.rlim_cur,
			      (unsigned long long)r->set[i].rl.rlim_max);
		first = 0;
	}
	sandbox_oci_raw(b, "]", 1);
}

/* One entry of "mounts". */
void sandbox_oci_mount(struct sandbox_oci_buf *b, const char *dst, const char *type,
		       const char *src, const char *options)
{
	sandbox_oci_raw(b, ",{\"destination\":", 16);
	sandbox_oci_str(b, dst);
	sandbox_oci_f(b, ",\"type\":\"%s\",\"source\":", type);
	sandbox_oci_str(b, src);
	sandbox_oci_f(b, ",\"options\":[%s]}", options);
}
