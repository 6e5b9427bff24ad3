/* runtime_kind.c - an interpreter's family from its real path (why: runtime_kind.h). */
#define _GNU_SOURCE
#include "runtime_kind.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum runtime_kind runtime_kind(const struct runtime *rt, char *real_base, size_t len)
{
	char *real = realpath(rt->path, NULL);
	const char *b;

	b = strrchr(real ? real : rt->path, '/');
	b = b ? b + 1 : (real ? real : rt->path);
	snprintf(real_base, len, "%s", b);
	free(real);
	if (!strncmp(real_base, "python", 6) || !strncmp(rt->name, "python", 6))
		return RUNTIME_PYTHON;
	if (!strncmp(real_base, "node", 4))
		return RUNTIME_NODE;
	if (!strncmp(real_base, "lua", 3))
		return RUNTIME_LUA;
	if (!strcmp(real_base, "dash") || !strcmp(real_base, "bash") || !strcmp(real_base, "sh") ||
	    !strcmp(real_base, "busybox") || !strcmp(real_base, "ash"))
		return RUNTIME_SHELL;
	return RUNTIME_OTHER;
}
