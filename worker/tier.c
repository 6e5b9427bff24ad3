/* tier.c - the operator's "tiers" block and the rule that gives a job its tier (tier.h).
 *
 * A leaf: it reads one JSON block and decides one enum, with sentences of its own;
 * config.c hands it the block and checks the runtimes it names, job.c asks it the rule.
 *
 *   "tiers": {"enabled": ["native", "gvisor"], "default": "native",
 *             "prompt": "gvisor", "runtimes": {"sh": "gvisor"}}
 */
#define _GNU_SOURCE
#include "tier.h"
#include "errf.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

void tier_defaults(struct tier_settings *t)
{
	memset(t, 0, sizeof(*t));
	t->enabled = TIER_BIT(SANDBOX_TIER_NATIVE);
	t->dflt = SANDBOX_TIER_NATIVE;
	t->prompt = -1;
}

void tier_names(unsigned mask, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (int i = 0; i < SANDBOX_TIER_COUNT && used < len; i++)
		if (mask & TIER_BIT(i))
			used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
						 sandbox_tier_name((enum sandbox_tier)i));
}

/* One tier name at key: a string that sandbox_tier_parse knows. */
static int tier_value(json_t *v, const char *key, const char *file, enum sandbox_tier *t, char *err,
		      size_t errlen)
{
	char known[64];

	tier_names(~0u, known, sizeof(known));
	if (!json_is_string(v)) {
		worker_err(err, errlen, "'%s' in %s must be a tier name (%s)", key, file, known);
		return -EINVAL;
	}
	if (sandbox_tier_parse(json_string_value(v), t) < 0) {
		worker_err(err, errlen, "'%s' in %s: unknown tier '%.32s'; known: %s", key, file,
			   json_string_value(v), known);
		return -EINVAL;
	}
	return 0;
}

/* "enabled": a non-empty array of tier names. */
static int tier_read_enabled(struct tier_settings *t, json_t *v, const char *file, char *err,
			     size_t errlen)
{
	enum sandbox_tier x;
	json_t *e;
	size_t i;
	int r;

	if (!json_is_array(v) || json_array_size(v) == 0) {
		worker_err(err, errlen, "'tiers.enabled' in %s must be a non-empty array of tiers",
			   file);
		return -EINVAL;
	}
	t->enabled = 0;
	json_array_foreach(v, i, e)
	{
		if ((r = tier_value(e, "tiers.enabled", file, &x, err, errlen)))
			return r;
		t->enabled |= TIER_BIT(x);
	}
	return 0;
}

/* "runtimes": runtime name -> tier; replaces the rules whole. */
static int tier_read_rules(struct tier_settings *t, json_t *v, const char *file, char *err,
			   size_t errlen)
{
	const char *name;
	char key[96];
	json_t *e;
	int r;

	if (!json_is_object(v) || json_object_size(v) > TIER_MAX_RULES) {
		worker_err(err, errlen,
			   "'tiers.runtimes' in %s must be an object of at most %d runtime: tier",
			   file, TIER_MAX_RULES);
		return -EINVAL;
	}
	t->n_rules = 0;
	json_object_foreach(v, name, e)
	{
		struct tier_rule *rule = &t->rules[t->n_rules++];

		snprintf(key, sizeof(key), "tiers.runtimes.%.40s", name);
		if (!*name || strlen(name) >= sizeof(rule->runtime)) {
			worker_err(err, errlen, "'%s' in %s: no runtime has that name", key, file);
			return -EINVAL;
		}
		snprintf(rule->runtime, sizeof(rule->runtime), "%s", name);
		if ((r = tier_value(e, key, file, &rule->tier, err, errlen)))
			return r;
	}
	return 0;
}

static int tier_read_key(struct tier_settings *t, const char *k, json_t *v, const char *file,
			 char *err, size_t errlen)
{
	enum sandbox_tier x;
	int r;

	if (!strcmp(k, "enabled"))
		return 0; /* read first, by tier_config_read */
	if (!strcmp(k, "default"))
		return tier_value(v, "tiers.default", file, &t->dflt, err, errlen);
	if (!strcmp(k, "prompt")) {
		if ((r = tier_value(v, "tiers.prompt", file, &x, err, errlen)))
			return r;
		t->prompt = (int)x;
		return 0;
	}
	if (!strcmp(k, "runtimes"))
		return tier_read_rules(t, v, file, err, errlen);
	worker_err(err, errlen,
		   "unknown key 'tiers.%.40s' in %s; known: enabled, default, prompt, runtimes", k,
		   file);
	return -EINVAL;
}

/* A tier that key names must be one the worker runs. */
static int tier_need_enabled(const struct tier_settings *t, int x, const char *key,
			     const char *file, char *err, size_t errlen)
{
	char on[64];

	if (x < 0 || (t->enabled & TIER_BIT(x)))
		return 0;
	tier_names(t->enabled, on, sizeof(on));
	worker_err(err, errlen, "'%s' in %s is %s, which 'tiers.enabled' does not list (%s)", key,
		   file, sandbox_tier_name((enum sandbox_tier)x), on);
	return -EINVAL;
}

/* Every tier the block names is enabled: a rule for a tier that cannot run would refuse
 * every job it covers, and a silent fallback to another tier is what tiers forbid. */
static int tier_check(const struct tier_settings *t, const char *file, char *err, size_t errlen)
{
	char key[96];
	int r;

	if ((r = tier_need_enabled(t, (int)t->dflt, "tiers.default", file, err, errlen)) ||
	    (r = tier_need_enabled(t, t->prompt, "tiers.prompt", file, err, errlen)))
		return r;
	for (int i = 0; i < t->n_rules; i++) {
		snprintf(key, sizeof(key), "tiers.runtimes.%s", t->rules[i].runtime);
		if ((r = tier_need_enabled(t, (int)t->rules[i].tier, key, file, err, errlen)))
			return r;
	}
	return 0;
}

int tier_config_read(struct tier_settings *t, json_t *v, const char *file, char *err, size_t errlen)
{
	struct tier_settings n = *t;
	const char *k;
	json_t *x;
	int r;

	if (!json_is_object(v)) {
		worker_err(err, errlen, "'tiers' in %s must be an object", file);
		return -EINVAL;
	}
	if ((x = json_object_get(v, "enabled")) &&
	    (r = tier_read_enabled(&n, x, file, err, errlen)))
		return r;
	json_object_foreach(v, k, x)
	{
		if ((r = tier_read_key(&n, k, x, file, err, errlen)))
			return r;
	}
	if ((r = tier_check(&n, file, err, errlen)))
		return r;
	n.from_file = 1;
	*t = n;
	return 0;
}

/* The tier a rule requires of this job (-1: none), and the rule's words in why. Two
 * rules that both hold: the stronger tier wins (gvisor is above native in the enum). */
static int tier_required(const struct tier_settings *t, int prompt_job, const char *runtime,
			 char *why, size_t whylen)
{
	int req = -1;

	if (prompt_job && t->prompt >= 0) {
		req = t->prompt;
		snprintf(why, whylen, "prompt jobs");
	}
	for (int i = 0; runtime && runtime[0] && i < t->n_rules; i++)
		if (!strcmp(t->rules[i].runtime, runtime) && (int)t->rules[i].tier > req) {
			req = (int)t->rules[i].tier;
			snprintf(why, whylen, "runtime %s", runtime);
		}
	return req;
}

/* A printable copy of a job's asked tier for a sentence: it is a producer's bytes. */
static const char *tier_show(char *dst, size_t len, const char *s)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < len; i++)
		dst[i] = isprint((unsigned char)s[i]) ? s[i] : '?';
	dst[i] = '\0';
	return dst;
}

/* The job's own tier: known and enabled here. */
static int tier_asked(const struct tier_settings *t, const char *asked, enum sandbox_tier *x,
		      char *err, size_t errlen)
{
	char shown[40], names[64];

	if (sandbox_tier_parse(asked, x) < 0) {
		tier_names(~0u, names, sizeof(names));
		worker_err(err, errlen, "unknown tier '%s'; known: %s",
			   tier_show(shown, sizeof(shown), asked), names);
		return -EINVAL;
	}
	if (!(t->enabled & TIER_BIT(*x))) {
		tier_names(t->enabled, names, sizeof(names));
		worker_err(err, errlen,
			   "job asks tier %s but the operator does not enable it here (enabled: "
			   "%s)",
			   asked, names);
		return -EINVAL;
	}
	return 0;
}

int tier_resolve(const struct tier_settings *t, const char *asked, int prompt_job,
		 const char *runtime, enum sandbox_tier *out, char *err, size_t errlen)
{
	char why[64];
	int req = tier_required(t, prompt_job, runtime, why, sizeof(why));
	enum sandbox_tier x;

	if (!asked || !asked[0]) {
		/* A required tier wins over the default: the operator's rule, not the job,
		 * decides where a prompt job or a listed runtime runs. */
		*out = req >= 0 ? (enum sandbox_tier)req : t->dflt;
		return 0;
	}
	if (tier_asked(t, asked, &x, err, errlen) < 0)
		return -EINVAL;
	/* Never a quiet change of tier: a job that asks another is refused, named. */
	if (req >= 0 && (int)x != req) {
		worker_err(err, errlen, "job asks tier %s but the operator requires %s for %s",
			   asked, sandbox_tier_name((enum sandbox_tier)req), why);
		return -EINVAL;
	}
	*out = x;
	return 0;
}
