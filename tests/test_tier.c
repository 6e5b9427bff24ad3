/* test_tier.c - the "tiers" block and the rule that gives a job its tier (tier.h).
 *
 * Each branch of tier_resolve is pinned by the tier it gives or the words of its
 * refusal (the rule it names), and each refusal of the block by the key it names; the
 * config file's side (the file, the runtimes) is test_config.c's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tier.h"

static struct tier_settings ts;
static char err[512];

static void assert_err_has(const char *want)
{
	if (!strstr(err, want))
		fail_msg("error '%s' does not contain '%s'", err, want);
}

static int setup(void **state)
{
	(void)state;
	tier_defaults(&ts);
	err[0] = '\0';
	return 0;
}

/* Read text as a "tiers" block over ts. */
static int read_block(const char *text)
{
	json_t *v = json_loads(text, 0, NULL);
	int r;

	assert_non_null(v);
	err[0] = '\0';
	r = tier_config_read(&ts, v, "cfg.json", err, sizeof(err));
	json_decref(v);
	return r;
}

static void assert_block_refused(const char *text, const char *want)
{
	struct tier_settings before = ts;

	assert_int_equal(read_block(text), -EINVAL);
	assert_err_has(want);
	assert_err_has("cfg.json");
	assert_memory_equal(&before, &ts, sizeof(ts));
}

/* The operator of the issue: both tiers, native by default, prompt jobs and sh in gvisor. */
static void strict_operator(void)
{
	assert_int_equal(read_block("{\"enabled\": [\"native\", \"gvisor\"], \"default\": "
				    "\"native\", \"prompt\": \"gvisor\", \"runtimes\": "
				    "{\"sh\": \"gvisor\"}}"),
			 0);
}

static enum sandbox_tier resolved(const char *asked, int prompt_job, const char *runtime)
{
	enum sandbox_tier t = (enum sandbox_tier)99;

	err[0] = '\0';
	if (tier_resolve(&ts, asked, prompt_job, runtime, &t, err, sizeof(err)))
		fail_msg("refused: %s", err);
	return t;
}

static void assert_resolve_refused(const char *asked, int prompt_job, const char *runtime,
				   const char *want)
{
	enum sandbox_tier t = (enum sandbox_tier)99;

	err[0] = '\0';
	assert_int_equal(tier_resolve(&ts, asked, prompt_job, runtime, &t, err, sizeof(err)),
			 -EINVAL);
	assert_err_has(want);
	assert_int_equal(t, 99);
	assert_null(strchr(err, '\n'));
}

static void test_defaults_are_native_only_and_no_rule(void **state)
{
	(void)state;
	assert_int_equal(ts.enabled, TIER_BIT(SANDBOX_TIER_NATIVE));
	assert_int_equal(ts.dflt, SANDBOX_TIER_NATIVE);
	assert_int_equal(ts.prompt, -1);
	assert_int_equal(ts.n_rules, 0);
	assert_int_equal(ts.from_file, 0);
	assert_int_equal(resolved("", 1, "sh"), SANDBOX_TIER_NATIVE);
	assert_resolve_refused("gvisor", 0, "python3",
			       "job asks tier gvisor but the operator does not enable it here "
			       "(enabled: native)");
}

static void test_block_sets_every_key(void **state)
{
	(void)state;
	strict_operator();
	assert_int_equal(ts.enabled, TIER_BIT(SANDBOX_TIER_NATIVE) | TIER_BIT(SANDBOX_TIER_GVISOR));
	assert_int_equal(ts.dflt, SANDBOX_TIER_NATIVE);
	assert_int_equal(ts.prompt, SANDBOX_TIER_GVISOR);
	assert_int_equal(ts.n_rules, 1);
	assert_string_equal(ts.rules[0].runtime, "sh");
	assert_int_equal(ts.rules[0].tier, SANDBOX_TIER_GVISOR);
	assert_int_equal(ts.from_file, 1);
}

static void test_block_with_gvisor_alone_and_its_default(void **state)
{
	(void)state;
	assert_int_equal(read_block("{\"enabled\": [\"gvisor\"], \"default\": \"gvisor\"}"), 0);
	assert_int_equal(ts.enabled, TIER_BIT(SANDBOX_TIER_GVISOR));
	assert_int_equal(resolved("", 0, "python3"), SANDBOX_TIER_GVISOR);
	assert_resolve_refused("native", 0, "python3",
			       "job asks tier native but the operator "
			       "does not enable it here (enabled: gvisor)");
}

static void test_block_refusals_name_the_key(void **state)
{
	(void)state;
	assert_block_refused("[]", "'tiers' in cfg.json must be an object");
	assert_block_refused("{\"colour\": 1}", "unknown key 'tiers.colour' in cfg.json; known: "
						"enabled, default, prompt, runtimes");
	assert_block_refused("{\"enabled\": []}",
			     "'tiers.enabled' in cfg.json must be a non-empty");
	assert_block_refused("{\"enabled\": \"native\"}", "'tiers.enabled' in cfg.json must be");
	assert_block_refused("{\"enabled\": [\"native\", \"firecracker\"]}",
			     "'tiers.enabled' in cfg.json: unknown tier 'firecracker'; known: "
			     "native, gvisor");
	assert_block_refused("{\"enabled\": [1]}",
			     "'tiers.enabled' in cfg.json must be a tier name");
	assert_block_refused("{\"default\": \"vm\"}",
			     "'tiers.default' in cfg.json: unknown tier 'vm'");
	assert_block_refused("{\"prompt\": null}",
			     "'tiers.prompt' in cfg.json must be a tier name");
	assert_block_refused("{\"runtimes\": []}",
			     "'tiers.runtimes' in cfg.json must be an object");
	assert_block_refused("{\"runtimes\": {\"sh\": \"kvm\"}}",
			     "'tiers.runtimes.sh' in cfg.json: unknown tier 'kvm'");
}

/* A tier the block names but does not enable would refuse or strand jobs: refused. */
static void test_block_tiers_must_be_enabled(void **state)
{
	(void)state;
	assert_block_refused("{\"default\": \"gvisor\"}",
			     "'tiers.default' in cfg.json is gvisor, which 'tiers.enabled' does "
			     "not list (native)");
	assert_block_refused("{\"prompt\": \"gvisor\"}", "'tiers.prompt' in cfg.json is gvisor");
	assert_block_refused("{\"runtimes\": {\"sh\": \"gvisor\"}}",
			     "'tiers.runtimes.sh' in cfg.json is gvisor");
	assert_block_refused("{\"enabled\": [\"gvisor\"]}",
			     "'tiers.default' in cfg.json is native, which 'tiers.enabled' does "
			     "not list (gvisor)");
}

static void test_job_without_a_tier_gets_the_default(void **state)
{
	(void)state;
	strict_operator();
	assert_int_equal(resolved("", 0, "python3"), SANDBOX_TIER_NATIVE);
	assert_int_equal(resolved(NULL, 0, ""), SANDBOX_TIER_NATIVE);
}

static void test_required_tier_wins_over_the_default(void **state)
{
	(void)state;
	strict_operator();
	assert_int_equal(resolved("", 1, ""), SANDBOX_TIER_GVISOR);
	assert_int_equal(resolved("", 1, "python3"), SANDBOX_TIER_GVISOR);
	assert_int_equal(resolved("", 0, "sh"), SANDBOX_TIER_GVISOR);
}

static void test_job_may_name_the_required_tier_or_any_enabled_one(void **state)
{
	(void)state;
	strict_operator();
	assert_int_equal(resolved("gvisor", 1, ""), SANDBOX_TIER_GVISOR);
	assert_int_equal(resolved("gvisor", 0, "sh"), SANDBOX_TIER_GVISOR);
	assert_int_equal(resolved("gvisor", 0, "python3"), SANDBOX_TIER_GVISOR);
	assert_int_equal(resolved("native", 0, "python3"), SANDBOX_TIER_NATIVE);
}

static void test_job_asking_another_tier_than_required_is_refused_naming_the_rule(void **state)
{
	(void)state;
	strict_operator();
	assert_resolve_refused("native", 1, "",
			       "job asks tier native but the operator requires gvisor for prompt "
			       "jobs");
	assert_resolve_refused("native", 0, "sh",
			       "job asks tier native but the operator requires gvisor for runtime "
			       "sh");
}

/* A prompt job of a runtime with a rule of its own: the stronger tier of the two wins. */
static void test_two_rules_that_hold_give_the_stronger_tier(void **state)
{
	(void)state;
	assert_int_equal(read_block("{\"enabled\": [\"native\", \"gvisor\"], \"default\": "
				    "\"gvisor\", \"prompt\": \"native\", \"runtimes\": "
				    "{\"sh\": \"gvisor\", \"python3\": \"native\"}}"),
			 0);
	assert_int_equal(resolved("", 1, "sh"), SANDBOX_TIER_GVISOR);
	assert_int_equal(resolved("", 1, "python3"), SANDBOX_TIER_NATIVE);
	assert_int_equal(resolved("", 0, "lua"), SANDBOX_TIER_GVISOR);
	assert_resolve_refused("native", 1, "sh", "requires gvisor for runtime sh");
	assert_resolve_refused("gvisor", 0, "python3", "requires native for runtime python3");
	assert_resolve_refused("gvisor", 1, "python3", "requires native for prompt jobs");
}

static void test_unknown_tier_is_refused_with_the_known_ones_and_no_control_bytes(void **state)
{
	(void)state;
	strict_operator();
	assert_resolve_refused("vm", 0, "python3", "unknown tier 'vm'; known: native, gvisor");
	assert_resolve_refused("\x1b[2J", 0, "python3", "unknown tier '?[2J'");
}

#define T(f) cmocka_unit_test_setup(f, setup)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_defaults_are_native_only_and_no_rule),
	    T(test_block_sets_every_key),
	    T(test_block_with_gvisor_alone_and_its_default),
	    T(test_block_refusals_name_the_key),
	    T(test_block_tiers_must_be_enabled),
	    T(test_job_without_a_tier_gets_the_default),
	    T(test_required_tier_wins_over_the_default),
	    T(test_job_may_name_the_required_tier_or_any_enabled_one),
	    T(test_job_asking_another_tier_than_required_is_refused_naming_the_rule),
	    T(test_two_rules_that_hold_give_the_stronger_tier),
	    T(test_unknown_tier_is_refused_with_the_known_ones_and_no_control_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
