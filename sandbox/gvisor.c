/* gvisor.c - the gvisor tier: the same sandbox, run by gVisor's runsc. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char *const tier_names[SANDBOX_TIER_COUNT] = {"native", "gvisor"};

const char *sandbox_tier_name(enum sandbox_tier t)
{
	return (unsigned)t < SANDBOX_TIER_COUNT ? tier_names[t] : "?";
}

int sandbox_tier_parse(const char *name, enum sandbox_tier *t)
{
	for (unsigned i = 0; name && i < SANDBOX_TIER_COUNT; i++)
		if (!strcmp(name, tier_names[i])) {
			*t = (enum sandbox_tier)i;
			return 0;
		}
	return -EINVAL;
}

int sandbox_gvisor_configure(const struct sandbox_gvisor_options *o, char *err, size_t errlen)
{
	(void)o;
	(void)err;
	(void)errlen;
	return 0;
}

int sandbox_tier_check(enum sandbox_tier t, char *info, size_t infolen, char *err, size_t errlen)
{
	(void)t;
	(void)info;
	(void)infolen;
	sandbox_errf(err, errlen, "the gvisor tier is not built yet");
	return -ENOSYS;
}
