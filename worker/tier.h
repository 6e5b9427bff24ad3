/* tier.h - which sandbox tier a job runs in: the operator's "tiers" block and the rule.
 *
 * sandbox.h offers the tiers (native: reelbox's own sandbox on the host kernel; gvisor:
 * the same job under gVisor's runsc). The operator says which exist on a worker, the one
 * a job that names none gets, and which jobs must use which: every prompt job, or every
 * job of a runtime. The rule that turns a job's own "tier" and those into the tier it
 * runs in is tier_resolve's, one function, so the CLI, the worker and each prompt
 * attempt decide the same way. A tier is never changed behind the job's back: a job that
 * names a tier it may not have is refused with the rule it broke.
 */
#ifndef REELBOX_TIER_H
#define REELBOX_TIER_H

#include <jansson.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "sandbox.h"

#define TIER_BIT(t)    (1u << (unsigned)(t))
#define TIER_MAX_RULES 16 /* as many as there may be runtimes */

/* One runtime whose jobs must run in one tier ("runtimes": {"sh": "gvisor"}). */
struct tier_rule {
	char runtime[32];
	enum sandbox_tier tier;
};

/* The config's "tiers" block. */
struct tier_settings {
	unsigned enabled;	/* TIER_BIT of each tier this host runs; native only */
	enum sandbox_tier dflt; /* a job that names none; native */
	int prompt;		/* the tier every prompt job must use; -1: none */
	struct tier_rule rules[TIER_MAX_RULES];
	int n_rules;
	int from_file; /* a config file gave "tiers": the CLI must not widen it */
};

/* The config's "gvisor" block, for sandbox_gvisor_configure(); "" and 0: its defaults. */
struct gvisor_settings {
	char runsc[PATH_MAX];	     /* absolute */
	char platform[16];	     /* auto ptrace kvm systrap */
	uint32_t overhead_memory_mb; /* added to a job's memory for gVisor's own processes */
	uint32_t overhead_pids;	     /* added to a job's pids for their threads */
};

/* Native enabled and the default, no rule. */
void tier_defaults(struct tier_settings *t);

/* "native, gvisor": the names of the tiers in mask. */
void tier_names(unsigned mask, char *buf, size_t len);

/* Read a "tiers" block over t: "enabled" (array), "default", "prompt" (names),
 * "runtimes" (object of runtime name -> tier name). Every named tier must be known and
 * enabled; the runtimes' names are config.c's to check. 0, or -EINVAL with one sentence
 * naming the key and file. */
int tier_config_read(struct tier_settings *t, json_t *v, const char *file, char *err,
		     size_t errlen);

/* The tier a job runs in. asked is its own "tier" ("" for none), prompt_job whether its
 * script comes from a model, runtime its runtime ("" when not known yet). A tier the
 * operator requires wins over the default; an asked tier that is unknown, not enabled
 * or not the required one is refused with one sentence naming the rule. 0 and *out, or
 * -EINVAL. */
int tier_resolve(const struct tier_settings *t, const char *asked, int prompt_job,
		 const char *runtime, enum sandbox_tier *out, char *err, size_t errlen);

#endif
