/* test_config.c - the operator's configuration: built-in defaults, the JSON file over
 * them, the environment over that.
 *
 * Every key is pinned by what it sets and every refusal by the words of its sentence
 * (naming the key and the file), and a refused layer must leave the configuration
 * exactly as it was.
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"
#include "job.h"
#include "modelcfg.h"

static struct config cfg;
static char err[512];

static void assert_err_has(const char *want)
{
	if (!strstr(err, want))
		fail_msg("error '%s' does not contain '%s'", err, want);
}

static int setup(void **state)
{
	(void)state;
	config_defaults(&cfg);
	cfg.maxima.cpus = 2.0; /* not the machine's count: the tests must not depend on it */
	err[0] = '\0';
	return 0;
}

/* A small job resolved against cfg: what the configuration means to a job. */
static int resolve_job(const char *runtime, uint32_t memory_mb)
{
	struct job j;
	int r;

	job_init(&j);
	j.script = strdup("import sys\n");
	assert_non_null(j.script);
	j.script_len = strlen(j.script);
	snprintf(j.script_name, sizeof(j.script_name), "render.py");
	if (runtime)
		snprintf(j.runtime, sizeof(j.runtime), "%s", runtime);
	j.limits.memory_mb = memory_mb;
	err[0] = '\0';
	r = job_resolve(&j, &cfg, err, sizeof(err));
	job_free(&j);
	return r;
}

static int resolve_with_runtime(const char *runtime)
{
	return resolve_job(runtime, 0);
}

static int resolve_with_memory(uint32_t memory_mb)
{
	return resolve_job(NULL, memory_mb);
}

static char *tmpdir;

static int config_setup(void **state)
{
	setup(state);
	tmpdir = th_tmpdir("config");
	assert_non_null(tmpdir);
	return 0;
}

static int config_teardown(void **state)
{
	(void)state;
	th_rm_rf(tmpdir);
	free(tmpdir);
	tmpdir = NULL;
	unsetenv("REELBOX_REDIS_URL");
	unsetenv("REELBOX_CONCURRENCY");
	unsetenv("REELBOX_OUTPUT_DIR");
	unsetenv("REELBOX_LEASE");
	unsetenv("REELBOX_STATE_DIR");
	unsetenv("REELBOX_MODEL_URL");
	unsetenv("REELBOX_MODEL_NAME");
	unsetenv("REELBOX_MODEL_API");
	unsetenv("REELBOX_MODEL_KEY");
	unsetenv("RB_TEST_KEY");
	return 0;
}

/* Write text to a config file in the test's dir and load it over cfg. */
static int load(const char *text, char *path, size_t pathlen)
{
	snprintf(path, pathlen, "%s/reelbox.json", tmpdir);
	assert_int_equal(th_write_file(path, text, strlen(text), 0600), 0);
	err[0] = '\0';
	return config_load_file(&cfg, path, err, sizeof(err));
}

static void assert_config_refused(const char *text, const char *want)
{
	static struct config before;
	char path[512];

	memcpy(&before, &cfg, sizeof(cfg));

	assert_int_equal(load(text, path, sizeof(path)), -EINVAL);
	assert_err_has(want);
	assert_err_has(path);
	assert_memory_equal(&before, &cfg, sizeof(cfg));
}

static void test_builtin_config_matches_the_contract(void **state)
{
	struct config c;
	const struct runtime *rt;

	(void)state;
	config_defaults(&c);
	assert_int_equal(c.n_runtimes, 4);
	rt = config_find_runtime(&c, "python3");
	assert_non_null(rt);
	assert_string_equal(rt->path, "/usr/bin/python3");
	assert_string_equal(rt->ext[0], ".py");
	assert_string_equal(rt->env[0], "PYTHONDONTWRITEBYTECODE=1");
	assert_string_equal(config_find_runtime(&c, "sh")->path, "/bin/sh");
	assert_string_equal(config_find_runtime(&c, "node")->path, "/usr/bin/node");
	assert_string_equal(config_find_runtime(&c, "lua")->path, "/usr/bin/lua");
	assert_null(config_find_runtime(&c, "ruby"));
	assert_int_equal(c.defaults.timeout_s, 60);
	assert_int_equal(c.maxima.memory_mb, 4096);
	assert_true(c.maxima.cpus >= 1.0);
	assert_int_equal(c.max_frames, 36000);
	assert_int_equal(c.max_script_bytes, 1 << 20);
	assert_string_equal(c.state_dir, "/var/tmp/reelbox");
	assert_string_equal(c.redis_url, "redis://127.0.0.1:6379");
	assert_int_equal(c.concurrency, 1);
	assert_int_equal(c.lease_s, 30);
	assert_int_equal(c.result_ttl_s, 86400);
	assert_int_equal(c.max_attempts, 3);
}

static void test_runtime_for_script_matches_last_extension(void **state)
{
	(void)state;
	assert_string_equal(config_runtime_for_script(&cfg, "a.py")->name, "python3");
	assert_string_equal(config_runtime_for_script(&cfg, "a.tar.sh")->name, "sh");
	assert_null(config_runtime_for_script(&cfg, "a"));
	assert_null(config_runtime_for_script(&cfg, ".py"));
	assert_null(config_runtime_for_script(&cfg, "a.PY"));
	assert_null(config_runtime_for_script(&cfg, "a.py.bak"));
}

static void test_config_file_overlays_every_key(void **state)
{
	char path[512];
	const struct runtime *rt;

	(void)state;
	if (load(
		"{\"runtimes\": {\"python3\": {\"path\": \"/opt/py/bin/python3\", "
		"\"extensions\": [\".py\", \".pyw\"], \"env\": [\"A=B\", \"MPLBACKEND=Agg\"]},"
		" \"ruby\": {\"path\": \"/usr/bin/ruby\", \"extensions\": [\".rb\"]},"
		" \"node\": null},"
		" \"defaults\": {\"timeout\": 30, \"memory\": 256, \"pids\": 32, \"scratch\": 16,"
		" \"cpus\": 0.5},"
		" \"maxima\": {\"timeout\": 120, \"memory\": 1024, \"pids\": 100, \"scratch\": 128,"
		" \"cpus\": 1.5},"
		" \"max_frames\": 900, \"max_script_bytes\": 4096, \"state_dir\": \"/run/rb\","
		" \"output_dir\": \"videos\", \"redis_url\": \"redis://r:1\", \"concurrency\": 4,"
		" \"lease\": 10, \"result_ttl\": 60, \"max_attempts\": 5}",
		path, sizeof(path)))
		fail_msg("%s", err);
	rt = config_find_runtime(&cfg, "python3");
	assert_string_equal(rt->path, "/opt/py/bin/python3");
	assert_int_equal(rt->n_ext, 2);
	assert_int_equal(rt->n_env, 2);
	assert_string_equal(rt->env[1], "MPLBACKEND=Agg");
	assert_string_equal(config_runtime_for_script(&cfg, "x.pyw")->name, "python3");
	assert_string_equal(config_runtime_for_script(&cfg, "x.rb")->name, "ruby");
	assert_null(config_find_runtime(&cfg, "node"));
	assert_null(config_runtime_for_script(&cfg, "x.js"));
	assert_int_equal(cfg.n_runtimes, 4);
	assert_int_equal(cfg.defaults.memory_mb, 256);
	assert_true(cfg.defaults.cpus == 0.5);
	assert_int_equal(cfg.maxima.pids, 100);
	assert_true(cfg.maxima.cpus == 1.5);
	assert_int_equal(cfg.max_frames, 900);
	assert_int_equal(cfg.max_script_bytes, 4096);
	assert_string_equal(cfg.state_dir, "/run/rb");
	assert_string_equal(cfg.output_dir, "videos");
	assert_string_equal(cfg.redis_url, "redis://r:1");
	assert_int_equal(cfg.concurrency, 4);
	assert_int_equal(cfg.lease_s, 10);
	assert_int_equal(cfg.result_ttl_s, 60);
	assert_int_equal(cfg.max_attempts, 5);
	/* A job sees the new table: node is gone, ruby is there. */
	assert_int_equal(resolve_with_runtime("node"), -EINVAL);
	assert_err_has("unknown runtime 'node'; known: python3, sh, lua, ruby");
	assert_int_equal(resolve_with_runtime("ruby"), 0);
}

static void test_partial_config_file_keeps_other_values(void **state)
{
	char path[512];

	(void)state;
	assert_int_equal(load("{\"maxima\": {\"memory\": 8192}}", path, sizeof(path)), 0);
	assert_int_equal(cfg.maxima.memory_mb, 8192);
	assert_int_equal(cfg.maxima.pids, 256);
	assert_int_equal(cfg.defaults.memory_mb, 512);
	assert_int_equal(cfg.n_runtimes, 4);
	assert_int_equal(resolve_with_memory(8192), 0);
}

static void test_config_unknown_key_is_rejected_naming_key_and_file(void **state)
{
	(void)state;
	assert_config_refused("{\"colour\": 1}", "unknown key 'colour' in ");
	assert_config_refused("{\"defaults\": {\"disk\": 1}}", "unknown key 'defaults.disk' in ");
	assert_config_refused("{\"runtimes\": {\"sh\": {\"path\": \"/bin/sh\", \"args\": []}}}",
			      "unknown key 'runtimes.sh.args' in ");
}

static void test_config_wrong_types_are_rejected_naming_key_and_file(void **state)
{
	(void)state;
	assert_config_refused("{\"max_frames\": \"900\"}", "'max_frames' in ");
	assert_config_refused("{\"max_frames\": 0}", "must be an integer from 1");
	assert_config_refused("{\"concurrency\": 1.5}", "'concurrency' in ");
	assert_config_refused("{\"redis_url\": 5}", "'redis_url' in ");
	assert_config_refused("{\"maxima\": {\"cpus\": 0}}", "'maxima.cpus' in ");
	assert_config_refused("{\"runtimes\": []}", "'runtimes' in ");
	assert_config_refused("{\"runtimes\": {\"sh\": \"/bin/sh\"}}", "'runtimes.sh' in ");
	assert_config_refused("[]", "must hold one JSON object");
}

static void test_config_relative_interpreter_path_is_rejected(void **state)
{
	(void)state;
	assert_config_refused("{\"runtimes\": {\"python3\": {\"path\": \"python3\"}}}",
			      "'runtimes.python3.path' in ");
	assert_config_refused("{\"runtimes\": {\"python3\": {\"path\": \"python3\"}}}",
			      "must be an absolute path, not 'python3'");
	assert_config_refused("{\"runtimes\": {\"x\": {\"extensions\": [\".x\"]}}}",
			      "'runtimes.x' in ");
}

static void test_config_bad_runtime_entries_are_rejected(void **state)
{
	(void)state;
	assert_config_refused(
	    "{\"runtimes\": {\"sh\": {\"path\": \"/bin/sh\", \"env\": [\"PATH=/tmp\"]}}}",
	    "'runtimes.sh.env' in ");
	assert_config_refused(
	    "{\"runtimes\": {\"sh\": {\"path\": \"/bin/sh\", \"env\": [\"NOEQUALS\"]}}}",
	    "is not NAME=VALUE");
	assert_config_refused(
	    "{\"runtimes\": {\"sh\": {\"path\": \"/bin/sh\", \"extensions\": [\"sh\"]}}}",
	    "is not an extension like \".py\"");
	assert_config_refused("{\"runtimes\": {\"a/b\": {\"path\": \"/bin/sh\"}}}",
			      "runtime name 'a/b' in ");
}

static void test_config_defaults_above_maxima_are_rejected(void **state)
{
	(void)state;
	assert_config_refused("{\"defaults\": {\"memory\": 8192}}", "'defaults.memory' (8192) in ");
	assert_config_refused("{\"defaults\": {\"memory\": 8192}}",
			      "is above 'maxima.memory' (4096)");
	assert_config_refused("{\"maxima\": {\"timeout\": 59}}", "'defaults.timeout' (60) in ");
	assert_config_refused("{\"defaults\": {\"cpus\": 4}, \"maxima\": {\"cpus\": 3}}",
			      "'defaults.cpus' (4) in ");
}

static void test_config_relative_state_dir_is_rejected(void **state)
{
	(void)state;
	assert_config_refused("{\"state_dir\": \"state\"}", "'state_dir' in ");
}

static void test_config_bad_json_is_rejected_with_position(void **state)
{
	(void)state;
	assert_config_refused("{\"lease\": 10,\n \"lease\": 20}", "is not valid JSON: line 2");
	assert_config_refused("{\"lease\": ", "is not valid JSON: line 1");
}

static void test_config_missing_file_gives_errno(void **state)
{
	(void)state;
	assert_int_equal(config_load_file(&cfg, "/nonexistent/reelbox.json", err, sizeof(err)),
			 -ENOENT);
	assert_err_has("cannot read config file /nonexistent/reelbox.json");
}

static void test_config_env_overlays_its_five_variables(void **state)
{
	(void)state;
	setenv("REELBOX_REDIS_URL", "redis://10.0.0.1:7000", 1);
	setenv("REELBOX_CONCURRENCY", "3", 1);
	setenv("REELBOX_OUTPUT_DIR", "/srv/out", 1);
	setenv("REELBOX_LEASE", "45", 1);
	setenv("REELBOX_STATE_DIR", "/run/reelbox", 1);
	assert_int_equal(config_load_env(&cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.redis_url, "redis://10.0.0.1:7000");
	assert_int_equal(cfg.concurrency, 3);
	assert_string_equal(cfg.output_dir, "/srv/out");
	assert_int_equal(cfg.lease_s, 45);
	assert_string_equal(cfg.state_dir, "/run/reelbox");
}

static void test_config_env_empty_variables_count_as_unset(void **state)
{
	(void)state;
	setenv("REELBOX_REDIS_URL", "", 1);
	setenv("REELBOX_CONCURRENCY", "", 1);
	assert_int_equal(config_load_env(&cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.redis_url, "redis://127.0.0.1:6379");
	assert_int_equal(cfg.concurrency, 1);
}

static void test_config_env_bad_numbers_are_rejected_by_name(void **state)
{
	static const char *bad[] = {"abc", "0", "1025", "-1", "2x", " 2", "99999999999999999999"};
	static struct config before;

	(void)state;
	setenv("REELBOX_REDIS_URL", "redis://changed:1", 1);
	memcpy(&before, &cfg, sizeof(cfg));
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		setenv("REELBOX_CONCURRENCY", bad[i], 1);
		if (config_load_env(&cfg, err, sizeof(err)) != -EINVAL)
			fail_msg("REELBOX_CONCURRENCY='%s' accepted", bad[i]);
		assert_err_has("REELBOX_CONCURRENCY=");
		assert_err_has("must be an integer from 1 to 1024");
		assert_memory_equal(&before, &cfg, sizeof(cfg));
	}
	setenv("REELBOX_CONCURRENCY", "1024", 1);
	assert_int_equal(config_load_env(&cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.concurrency, 1024);
	setenv("REELBOX_LEASE", "0", 1);
	assert_int_equal(config_load_env(&cfg, err, sizeof(err)), -EINVAL);
	assert_err_has("REELBOX_LEASE='0'");
}

static void test_config_env_relative_state_dir_is_rejected(void **state)
{
	(void)state;
	setenv("REELBOX_STATE_DIR", "rel", 1);
	assert_int_equal(config_load_env(&cfg, err, sizeof(err)), -EINVAL);
	assert_err_has("REELBOX_STATE_DIR='rel' must be an absolute path");
}

/* The sentence's list of keys comes from the key table: it must name every key the
 * file takes, in the documented order. */
static void test_config_unknown_key_lists_every_known_key(void **state)
{
	char path[512];

	(void)state;
	assert_int_equal(load("{\"colour\": 1}", path, sizeof(path)), -EINVAL);
	assert_err_has("; known: runtimes, defaults, maxima, max_frames, max_script_bytes, "
		       "encoder_memory, state_dir, output_dir, redis_url, concurrency, lease, "
		       "result_ttl, max_attempts");
	assert_int_equal(load("{\"maxima\": {\"disk\": 1}}", path, sizeof(path)), -EINVAL);
	assert_err_has("; known: timeout, memory, pids, scratch, cpus");
}

/* Each key's range is the table's, at both ends. */
static void test_config_numbers_are_taken_at_their_bounds_and_refused_past_them(void **state)
{
	char path[512];

	(void)state;
	assert_int_equal(load("{\"encoder_memory\": 64, \"concurrency\": 1024, "
			      "\"max_attempts\": 1000, \"max_script_bytes\": 2147483647}",
			      path, sizeof(path)),
			 0);
	assert_int_equal(cfg.encoder_memory_mb, 64);
	assert_int_equal(cfg.concurrency, 1024);
	assert_int_equal(cfg.max_attempts, 1000);
	assert_int_equal(cfg.max_script_bytes, 2147483647);
	assert_config_refused("{\"encoder_memory\": 63}", "'encoder_memory' in ");
	assert_err_has("must be an integer from 64 to 1048576");
	assert_config_refused("{\"concurrency\": 1025}", "must be an integer from 1 to 1024");
	assert_config_refused("{\"max_attempts\": 1001}", "must be an integer from 1 to 1000");
	assert_config_refused("{\"lease\": 4294967296}", "must be an integer from 1 to 4294967295");
	assert_config_refused("{\"defaults\": {\"cpus\": 1025}}", "'defaults.cpus' in ");
	assert_err_has("must be a number above 0 and at most 1024");
	assert_config_refused("{\"redis_url\": \"\"}",
			      "must be a non-empty string of at most 255 bytes");
}

/* The environment takes the file's ranges for the same keys. */
static void test_config_env_numbers_take_the_file_ranges(void **state)
{
	(void)state;
	setenv("REELBOX_CONCURRENCY", "1024", 1);
	assert_int_equal(config_load_env(&cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.concurrency, 1024);
	setenv("REELBOX_CONCURRENCY", "1025", 1);
	assert_int_equal(config_load_env(&cfg, err, sizeof(err)), -EINVAL);
	assert_err_has("REELBOX_CONCURRENCY='1025' must be an integer from 1 to 1024");
	unsetenv("REELBOX_CONCURRENCY");
	setenv("REELBOX_LEASE", "4294967295", 1);
	assert_int_equal(config_load_env(&cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.lease_s, 4294967295u);
}

/* ---- the model block and its key (modelcfg.c) ---- */

static void test_config_model_block_is_read_and_the_environment_wins(void **state)
{
	char path[512];
	(void)state;
	assert_int_equal(load("{\"model\": {\"api\": \"anthropic\", \"url\": "
			      "\"http://127.0.0.1:9/v1\", \"name\": \"m1\", \"key_env\": "
			      "\"RB_TEST_KEY\", \"max_attempts\": 5, \"timeout\": 30}}",
			      path, sizeof(path)),
			 0);
	assert_string_equal(cfg.model.api, "anthropic");
	assert_string_equal(cfg.model.url, "http://127.0.0.1:9/v1");
	assert_int_equal(cfg.model.max_attempts, 5);
	assert_int_equal(cfg.model.timeout_s, 30);
	setenv("REELBOX_MODEL_URL", "https://models.example/v1", 1);
	setenv("REELBOX_MODEL_NAME", "m2", 1);
	assert_int_equal(config_load_env(&cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.model.url, "https://models.example/v1");
	assert_string_equal(cfg.model.name, "m2");
	assert_string_equal(cfg.model.api, "anthropic");
}

static void test_config_model_url_with_credentials_or_bad_scheme_is_refused(void **state)
{
	(void)state;
	assert_config_refused("{\"model\": {\"url\": \"http://user:sk-secret@host/v1\"}}",
			      "must not carry credentials");
	assert_config_refused("{\"model\": {\"url\": \"ftp://host/v1\"}}",
			      "must start with http:// or https://");
	assert_config_refused("{\"model\": {\"api\": \"gemini\"}}", "openai or anthropic");
	assert_config_refused("{\"model\": {\"url\": \"https://h/v1?api-key=sk-q\"}}",
			      "without a query");
	assert_config_refused("{\"model\": {\"url\": \"https://h/v1#x\"}}", "fragment");
	assert_config_refused("{\"model\": {\"url\": \"https://h/v1\\r\\nX: 1\"}}", "line break");
	assert_null(strstr(err, "sk-q"));
	assert_config_refused("{\"model\": {\"key_env\": \"A B\"}}", "not a variable name");
	assert_config_refused("{\"model\": {\"max_attempts\": 11}}", "model.max_attempts");
	assert_config_refused("{\"model\": {\"key\": \"sk-1\"}}", "unknown key 'model.key'");
	/* A key in the URL never reaches the sentence. */
	assert_null(strstr(err, "sk-secret"));
	setenv("REELBOX_MODEL_URL", "https://u:p@host", 1);
	assert_int_equal(config_load_env(&cfg, err, sizeof(err)), -EINVAL);
	assert_err_has("must not carry credentials");
}

/* The key leaves the environment block itself (what /proc/<pid>/environ shows), not
 * only environ's list, and the copy is the worker's alone. */
static void test_model_key_is_taken_out_of_the_environment(void **state)
{
	struct modelcfg m;
	char *raw;
	(void)state;
	snprintf(cfg.model.url, sizeof(cfg.model.url), "http://127.0.0.1:9/v1");
	snprintf(cfg.model.name, sizeof(cfg.model.name), "m");
	setenv("REELBOX_MODEL_KEY", "sk-reelbox-unit-0123456789", 1);
	raw = getenv("REELBOX_MODEL_KEY");
	assert_int_equal(modelcfg_load(&m, &cfg, err, sizeof(err)), 0);
	assert_string_equal(m.key, "sk-reelbox-unit-0123456789");
	assert_ptr_equal(m.mc.key, m.key);
	assert_null(getenv("REELBOX_MODEL_KEY"));
	assert_int_equal(raw[0], '\0'); /* wiped where it was */
	assert_int_equal(m.max_attempts, 3);
	modelcfg_free(&m);
	assert_null(m.key);
}

static void test_model_key_file_must_be_private(void **state)
{
	struct modelcfg m;
	char path[600];
	(void)state;
	snprintf(cfg.model.url, sizeof(cfg.model.url), "http://127.0.0.1:9/v1");
	snprintf(cfg.model.name, sizeof(cfg.model.name), "m");
	snprintf(path, sizeof(path), "%s/key", tmpdir);
	assert_int_equal(th_write_file(path, "sk-file-key\n", 12, 0644), 0);
	snprintf(cfg.model.key_file, sizeof(cfg.model.key_file), "%s", path);
	assert_int_equal(modelcfg_load(&m, &cfg, err, sizeof(err)), -EACCES);
	assert_err_has("chmod 600");
	assert_null(strstr(err, "sk-file-key"));
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(modelcfg_load(&m, &cfg, err, sizeof(err)), 0);
	assert_string_equal(m.key, "sk-file-key");
	modelcfg_free(&m);
}

static void test_model_key_with_a_line_break_is_refused(void **state)
{
	struct modelcfg m;
	(void)state;
	snprintf(cfg.model.url, sizeof(cfg.model.url), "http://127.0.0.1:9/v1");
	snprintf(cfg.model.name, sizeof(cfg.model.name), "m");
	snprintf(cfg.model.key_env, sizeof(cfg.model.key_env), "RB_TEST_KEY");
	setenv("RB_TEST_KEY", "sk-a\r\nX-Evil: 1", 1);
	assert_int_equal(modelcfg_load(&m, &cfg, err, sizeof(err)), -EINVAL);
	assert_err_has("RB_TEST_KEY");
	assert_null(strstr(err, "sk-a"));
	assert_null(getenv("RB_TEST_KEY"));
}

static void test_no_model_url_means_no_model_and_the_key_still_leaves(void **state)
{
	struct modelcfg m;
	(void)state;
	setenv("REELBOX_MODEL_KEY", "sk-unused", 1);
	assert_int_equal(modelcfg_load(&m, &cfg, err, sizeof(err)), 1);
	assert_null(getenv("REELBOX_MODEL_KEY"));
	assert_null(m.key);
	snprintf(cfg.model.url, sizeof(cfg.model.url), "http://127.0.0.1:9/v1");
	assert_int_equal(modelcfg_load(&m, &cfg, err, sizeof(err)), -EINVAL);
	assert_err_has("REELBOX_MODEL_NAME");
}

/* A FIFO named as the key file is refused like any file that is not regular, at once:
 * opening it for reading must not wait for a writer that never comes. */
static void test_model_key_file_that_is_a_fifo_is_refused_without_waiting(void **state)
{
	struct modelcfg m;
	char path[600];
	int rc;
	(void)state;
	snprintf(cfg.model.url, sizeof(cfg.model.url), "http://127.0.0.1:9/v1");
	snprintf(cfg.model.name, sizeof(cfg.model.name), "m");
	snprintf(path, sizeof(path), "%s/key.fifo", tmpdir);
	assert_int_equal(mkfifo(path, 0600), 0);
	snprintf(cfg.model.key_file, sizeof(cfg.model.key_file), "%s", path);
	alarm(10); /* a hang fails the test (SIGALRM) instead of stalling the suite */
	rc = modelcfg_load(&m, &cfg, err, sizeof(err));
	alarm(0);
	assert_int_equal(rc, -EACCES);
	assert_err_has("must be a regular file");
}

/* An empty key file and a symlink in the key file's place each get their own sentence,
 * not "a space or a control character" or "Too many levels of symbolic links". */
static void test_model_key_file_empty_or_a_symlink_is_refused_saying_so(void **state)
{
	struct modelcfg m;
	char path[600], link[600];
	(void)state;
	snprintf(cfg.model.url, sizeof(cfg.model.url), "http://127.0.0.1:9/v1");
	snprintf(cfg.model.name, sizeof(cfg.model.name), "m");
	snprintf(path, sizeof(path), "%s/key", tmpdir);
	assert_int_equal(th_write_file(path, "\n", 1, 0600), 0);
	snprintf(cfg.model.key_file, sizeof(cfg.model.key_file), "%s", path);
	assert_int_equal(modelcfg_load(&m, &cfg, err, sizeof(err)), -EINVAL);
	assert_err_has("is empty");
	assert_null(m.key);

	assert_int_equal(th_write_file(path, "sk-file-key\n", 12, 0600), 0);
	snprintf(link, sizeof(link), "%s/key.link", tmpdir);
	assert_int_equal(symlink(path, link), 0);
	snprintf(cfg.model.key_file, sizeof(cfg.model.key_file), "%s", link);
	assert_int_equal(modelcfg_load(&m, &cfg, err, sizeof(err)), -EACCES);
	assert_err_has("is a symbolic link");
	assert_null(strstr(err, "sk-file-key"));
}

/* A key variable passed twice (a parent's execve may) is wiped in both entries of the
 * environment block: unsetenv() alone would leave the second one's bytes there. */
static void test_model_key_given_twice_is_wiped_in_both_entries(void **state)
{
	static char first[] = "RB_TEST_KEY=sk-first-0123", second[] = "RB_TEST_KEY=sk-second-456",
		    other[] = "RB_TEST_KEYS=keep";
	char *block[] = {first, other, second, NULL};
	char **saved = environ;
	struct modelcfg m;
	int rc;
	(void)state;
	snprintf(cfg.model.url, sizeof(cfg.model.url), "http://127.0.0.1:9/v1");
	snprintf(cfg.model.name, sizeof(cfg.model.name), "m");
	snprintf(cfg.model.key_env, sizeof(cfg.model.key_env), "RB_TEST_KEY");
	environ = block;
	rc = modelcfg_load(&m, &cfg, err, sizeof(err));
	environ = saved;
	assert_int_equal(rc, 0);
	assert_string_equal(m.key, "sk-first-0123");
	assert_int_equal(first[strlen("RB_TEST_KEY=")], '\0');
	assert_int_equal(second[strlen("RB_TEST_KEY=")], '\0');
	assert_null(memmem(second, sizeof(second), "sk-second", 9));
	assert_string_equal(other, "RB_TEST_KEYS=keep");
	modelcfg_free(&m);
}

/* "tiers" and "gvisor": read, and refused where a tier or runtime would not exist. */
static void test_config_tiers_and_gvisor_blocks_are_read(void **state)
{
	char path[512];

	(void)state;
	assert_int_equal(load("{\"tiers\": {\"enabled\": [\"native\", \"gvisor\"], "
			      "\"default\": \"native\", \"prompt\": \"gvisor\", "
			      "\"runtimes\": {\"sh\": \"gvisor\"}}, \"gvisor\": {\"runsc\": "
			      "\"/usr/bin/runsc\", \"platform\": \"ptrace\", "
			      "\"overhead_memory\": 256, \"overhead_pids\": 200}}",
			      path, sizeof(path)),
			 0);
	assert_int_equal(cfg.tiers.enabled,
			 TIER_BIT(SANDBOX_TIER_NATIVE) | TIER_BIT(SANDBOX_TIER_GVISOR));
	assert_int_equal(cfg.tiers.prompt, SANDBOX_TIER_GVISOR);
	assert_string_equal(cfg.tiers.rules[0].runtime, "sh");
	assert_string_equal(cfg.gvisor.runsc, "/usr/bin/runsc");
	assert_string_equal(cfg.gvisor.platform, "ptrace");
	assert_int_equal(cfg.gvisor.overhead_memory_mb, 256);
	assert_int_equal(cfg.gvisor.overhead_pids, 200);
}

static void test_config_builtin_tiers_are_native_only(void **state)
{
	(void)state;
	assert_int_equal(cfg.tiers.enabled, TIER_BIT(SANDBOX_TIER_NATIVE));
	assert_int_equal(cfg.tiers.dflt, SANDBOX_TIER_NATIVE);
	assert_int_equal(cfg.tiers.prompt, -1);
	assert_int_equal(cfg.tiers.from_file, 0);
	assert_string_equal(cfg.gvisor.runsc, "");
}

static void test_config_bad_tiers_and_gvisor_are_refused_naming_the_key(void **state)
{
	(void)state;
	assert_config_refused("{\"tiers\": {\"enabled\": [\"vm\"]}}", "'tiers.enabled' in ");
	assert_config_refused("{\"tiers\": {\"default\": \"gvisor\"}}",
			      "which 'tiers.enabled' does not list (native)");
	assert_config_refused("{\"tiers\": {\"extra\": 1}}", "unknown key 'tiers.extra' in ");
	assert_config_refused("{\"tiers\": {\"enabled\": [\"native\", \"gvisor\"], "
			      "\"runtimes\": {\"ruby\": \"gvisor\"}}}",
			      "'tiers.runtimes.ruby' in ");
	assert_config_refused("{\"tiers\": {\"enabled\": [\"native\", \"gvisor\"], "
			      "\"runtimes\": {\"sh\": \"gvisor\"}}, \"runtimes\": "
			      "{\"sh\": null}}",
			      "names a runtime the config does not have");
	assert_config_refused("{\"gvisor\": {\"runsc\": \"runsc\"}}", "'gvisor.runsc' in ");
	assert_config_refused("{\"gvisor\": {\"platform\": \"hyperv\"}}",
			      "use auto, ptrace, kvm or systrap");
	assert_config_refused("{\"gvisor\": {\"overhead_memory\": 0}}",
			      "'gvisor.overhead_memory' in ");
	assert_config_refused("{\"gvisor\": {\"root\": \"/x\"}}", "unknown key 'gvisor.root' in ");
}

#define T(f)  cmocka_unit_test_setup(f, setup)
#define TC(f) cmocka_unit_test_setup_teardown(f, config_setup, config_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_builtin_config_matches_the_contract),
	    T(test_runtime_for_script_matches_last_extension),
	    TC(test_config_file_overlays_every_key),
	    TC(test_partial_config_file_keeps_other_values),
	    TC(test_config_unknown_key_is_rejected_naming_key_and_file),
	    TC(test_config_wrong_types_are_rejected_naming_key_and_file),
	    TC(test_config_relative_interpreter_path_is_rejected),
	    TC(test_config_bad_runtime_entries_are_rejected),
	    TC(test_config_defaults_above_maxima_are_rejected),
	    TC(test_config_relative_state_dir_is_rejected),
	    TC(test_config_bad_json_is_rejected_with_position),
	    TC(test_config_missing_file_gives_errno),
	    TC(test_config_env_overlays_its_five_variables),
	    TC(test_config_env_empty_variables_count_as_unset),
	    TC(test_config_env_bad_numbers_are_rejected_by_name),
	    TC(test_config_env_relative_state_dir_is_rejected),
	    TC(test_config_unknown_key_lists_every_known_key),
	    TC(test_config_numbers_are_taken_at_their_bounds_and_refused_past_them),
	    TC(test_config_env_numbers_take_the_file_ranges),
	    TC(test_config_model_block_is_read_and_the_environment_wins),
	    TC(test_config_model_url_with_credentials_or_bad_scheme_is_refused),
	    TC(test_model_key_is_taken_out_of_the_environment),
	    TC(test_model_key_file_must_be_private),
	    TC(test_model_key_with_a_line_break_is_refused),
	    TC(test_no_model_url_means_no_model_and_the_key_still_leaves),
	    TC(test_model_key_file_that_is_a_fifo_is_refused_without_waiting),
	    TC(test_model_key_file_empty_or_a_symlink_is_refused_saying_so),
	    TC(test_model_key_given_twice_is_wiped_in_both_entries),
	    TC(test_config_tiers_and_gvisor_blocks_are_read),
	    T(test_config_builtin_tiers_are_native_only),
	    TC(test_config_bad_tiers_and_gvisor_are_refused_naming_the_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
