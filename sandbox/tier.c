/* tier.c - the sandbox's tiers by name (a leaf: the start-up check is tier_check.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
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
