/* test_runtimes.c - what scripts can use: a runtime's "packages" in the operator config,
 * and `reelbox runtimes`, which checks them inside a real sandbox. */
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
#include <jansson.h>

#include "helpers.h"
#include "job.h"

static int load(struct config *cfg, const char *dir, const char *text, char *err, size_t len)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/config.json", dir);
	assert_int_equal(th_write_file(path, text, strlen(text), 0644), 0);
	config_defaults(cfg);
	return config_load_file(cfg, path, err, len);
}

static void test_python3_offers_numpy_and_pillow_by_default(void **state)
{
	struct config cfg;
	const struct runtime *rt;

	config_defaults(&cfg);
	rt = config_find_runtime(&cfg, "python3");
	assert_non_null(rt);
	assert_int_equal(rt->n_packages, 2);
	assert_string_equal(rt->packages[0], "numpy");
	assert_string_equal(rt->packages[1], "PIL");
}

static void test_a_runtime_entry_lists_its_packages(void **state)
{
	struct config cfg;
	char err[512];
	char *dir = th_tmpdir("rt-cfg");
	const struct runtime *rt;

	assert_int_equal(load(&cfg, dir,
			      "{\"runtimes\": {\"py311\": {\"path\": \"/opt/py311/bin/python3\", "
			      "\"extensions\": [\".py3\"], \"packages\": [\"matplotlib\", "
			      "\"scipy.ndimage\", \"@scope/pkg\"]}}}",
			      err, sizeof(err)),
			 0);
	rt = config_find_runtime(&cfg, "py311");
	assert_non_null(rt);
	assert_int_equal(rt->n_packages, 3);
	assert_string_equal(rt->packages[1], "scipy.ndimage");
	th_rm_rf(dir);
	free(dir);
}

static void test_a_package_name_that_could_be_an_option_or_code_is_refused(void **state)
{
	struct config cfg;
	char err[512];
	char *dir = th_tmpdir("rt-cfg");

	assert_int_equal(load(&cfg, dir,
			      "{\"runtimes\": {\"lua\": {\"path\": \"/usr/bin/lua\", "
			      "\"packages\": [\"lpeg\", \"x') os.exit(1) --\"]}}}",
			      err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "is not a module or command name"));
	assert_int_equal(load(&cfg, dir,
			      "{\"runtimes\": {\"python3\": {\"path\": \"/usr/bin/python3\", "
			      "\"packages\": [\"--help\"]}}}",
			      err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(load(&cfg, dir,
			      "{\"runtimes\": {\"python3\": {\"path\": \"/usr/bin/python3\", "
			      "\"packages\": \"numpy\"}}}",
			      err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "must be an array of at most 24 strings"));
	th_rm_rf(dir);
	free(dir);
}

/* `reelbox runtimes --json --config DIR/config.json`: its exit status and the entry of
 * the runtime named name, as a JSON object (caller decrefs). */
static json_t *run_runtimes(const char *dir, const char *config, const char *name, int *rc)
{
	char path[512], cmd[1200], *out = malloc(1 << 16);
	json_t *all, *found = NULL;
	size_t i;
	json_t *v;

	snprintf(path, sizeof(path), "%s/config.json", dir);
	assert_int_equal(th_write_file(path, config, strlen(config), 0644), 0);
	snprintf(cmd, sizeof(cmd), "REELBOX_STATE_DIR=%s/state %s runtimes --json --config %s", dir,
		 th_reelbox_bin(), path);
	*rc = th_run(cmd, out, 1 << 16);
	all = json_loads(out, 0, NULL);
	assert_true(json_is_array(all));
	json_array_foreach(all, i, v)
	{
		if (!strcmp(json_string_value(json_object_get(v, "name")), name))
			found = json_incref(v);
	}
	json_decref(all);
	free(out);
	assert_non_null(found);
	return found;
}

static void test_runtimes_checks_packages_inside_the_sandbox_not_on_the_host(void **state)
{
	char *dir = th_tmpdir("rt-probe");
	char mod[512], config[2048];
	json_t *rt;
	int rc;

	if (access("/usr/bin/python3", X_OK) != 0)
		skip();
	/* A module that imports on the host through PYTHONPATH, from a dir the sandbox
	 * does not show: inside it is missing, and the operator listed it, so exit 1. */
	snprintf(mod, sizeof(mod), "%s/hostonly_reelbox_mod.py", dir);
	assert_int_equal(th_write_file(mod, "X = 1\n", 6, 0644), 0);
	snprintf(config, sizeof(config),
		 "{\"runtimes\": {\"python3\": {\"path\": \"/usr/bin/python3\", "
		 "\"extensions\": [\".py\"], \"env\": [\"PYTHONPATH=%s\"], "
		 "\"packages\": [\"json\", \"hostonly_reelbox_mod\"]}, \"node\": null, \"lua\": "
		 "null, \"sh\": null}}",
		 dir);
	rt = run_runtimes(dir, config, "python3", &rc);
	assert_int_equal(rc, 1);
	assert_true(json_is_true(json_object_get(rt, "installed")));
	assert_non_null(strstr(json_string_value(json_object_get(rt, "version")), "Python 3."));
	assert_non_null(json_object_get(json_object_get(rt, "importable"), "json"));
	assert_null(json_object_get(json_object_get(rt, "importable"), "hostonly_reelbox_mod"));
	assert_int_equal(json_array_size(json_object_get(rt, "missing")), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(rt, "missing"), 0)),
			    "hostonly_reelbox_mod");
	json_decref(rt);

	/* Every listed package there: exit 0. */
	snprintf(config, sizeof(config),
		 "{\"runtimes\": {\"python3\": {\"path\": \"/usr/bin/python3\", "
		 "\"packages\": [\"json\"]}, \"node\": null, \"lua\": null, \"sh\": {\"path\": "
		 "\"/bin/sh\", \"packages\": [\"sh\"]}, \"gone\": {\"path\": "
		 "\"/nonexistent/bin/interp\"}}}");
	rt = run_runtimes(dir, config, "gone", &rc);
	assert_int_equal(rc, 0);
	assert_true(json_is_false(json_object_get(rt, "installed")));
	json_decref(rt);
	rt = run_runtimes(dir, config, "sh", &rc);
	assert_non_null(json_object_get(json_object_get(rt, "importable"), "sh"));
	json_decref(rt);
	th_rm_rf(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_python3_offers_numpy_and_pillow_by_default),
	    cmocka_unit_test(test_a_runtime_entry_lists_its_packages),
	    cmocka_unit_test(test_a_package_name_that_could_be_an_option_or_code_is_refused),
	    cmocka_unit_test(test_runtimes_checks_packages_inside_the_sandbox_not_on_the_host),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
