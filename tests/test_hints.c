/* test_hints.c - a failed job's sentence gains the script's last error line, one
 * targeted hint, and for a limit the flag that raises it with this host's maximum. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "helpers.h"
#include "hints.h"
#include "utf8.h"

/* A python3 job of 20 frames with the built-in config's defaults and maxima. */
static void setup(struct hints *h, struct config *cfg)
{
	struct job job;

	config_defaults(cfg);
	job_init(&job);
	snprintf(job.runtime, sizeof(job.runtime), "python3");
	snprintf(job.script_name, sizeof(job.script_name), "clip.py");
	job.frames = 20;
	job.limits = cfg->defaults;
	hints_init(h, &job, cfg);
}

static void explain(const struct hints *h, const char *base, const char *log, int64_t done,
		    char *err, size_t len)
{
	snprintf(err, len, "%s", base);
	hints_explain(h, log, done, err, len);
}

static void test_module_not_found_names_what_the_runtime_can_import(void **state)
{
	struct config cfg;
	struct hints h;
	char err[512];

	setup(&h, &cfg);
	explain(&h, "script exited with status 1; see the log",
		"Traceback (most recent call last):\n"
		"  File \"/job/clip.py\", line 2, in <module>\n"
		"    import cv2\n"
		"ModuleNotFoundError: No module named 'cv2'\n",
		0, err, sizeof(err));
	assert_non_null(strstr(err, "script exited with status 1: ModuleNotFoundError: No "
				    "module named 'cv2'; "));
	assert_non_null(strstr(err, "can import numpy, PIL"));
	assert_non_null(strstr(err, "nothing can be installed: jobs have no network"));
	assert_null(strstr(err, "see the log"));
}

static void test_a_listed_package_that_is_missing_blames_the_host(void **state)
{
	struct config cfg;
	struct hints h;
	char err[512];

	setup(&h, &cfg);
	explain(&h, "script exited with status 1; see the log",
		"ModuleNotFoundError: No module named 'numpy.fft'\n", 0, err, sizeof(err));
	assert_non_null(strstr(err, "the operator lists numpy for python3 but this host cannot "
				    "import it"));
}

static void test_pip_advice_is_replaced_by_no_network(void **state)
{
	struct config cfg;
	struct hints h;
	char err[512];

	setup(&h, &cfg);
	explain(&h, "script exited with status 1; see the log",
		"error: externally-managed-environment\n\n"
		"note: If you believe this is a mistake, please contact your Python installation. "
		"You can override this, at the risk of breaking your Python installation or OS, "
		"by passing --break-system-packages.\n"
		"hint: See PEP 668 for the detailed specification.\n",
		0, err, sizeof(err));
	assert_non_null(strstr(err, "packages cannot be installed: jobs have no network"));
	assert_null(strstr(err, "break-system-packages"));
	assert_null(strstr(err, "PEP 668"));
}

static void test_a_font_that_cannot_be_opened_names_the_fonts_here(void **state)
{
	struct config cfg;
	struct hints h;
	char err[512], path[512];
	char *dir = th_tmpdir("hints-fonts");

	setup(&h, &cfg);
	snprintf(path, sizeof(path), "%s/truetype", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/truetype/demo", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/truetype/demo/DemoSans.ttf", dir);
	th_write_file(path, "x", 1, 0644);
	snprintf(path, sizeof(path), "%s/truetype/demo/DemoSans-Oblique.ttf", dir);
	th_write_file(path, "x", 1, 0644);
	h.fonts_dir = dir;
	explain(&h, "script exited with status 1; see the log",
		"Traceback (most recent call last):\n"
		"  File \"/job/clip.py\", line 9, in <module>\n"
		"    font = ImageFont.truetype(\"arial.ttf\", 40)\n"
		"OSError: cannot open resource\n",
		0, err, sizeof(err));
	snprintf(path, sizeof(path),
		 "OSError: cannot open resource; fonts are in %s/truetype/demo/ "
		 "(DemoSans.ttf, ...)",
		 dir);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "ImageFont.load_default()"));
	th_rm_rf(dir);
	free(dir);
}

static void test_a_missing_input_file_says_a_job_carries_only_its_script(void **state)
{
	struct config cfg;
	struct hints h;
	char err[512];

	setup(&h, &cfg);
	explain(&h, "script exited with status 1; see the log",
		"Traceback (most recent call last):\n"
		"  File \"/job/clip.py\", line 4, in <module>\n"
		"FileNotFoundError: [Errno 2] No such file or directory: 'logo.png'\n",
		0, err, sizeof(err));
	assert_non_null(strstr(err, "'logo.png'; a job carries only its script (/job/clip.py)"));
}

static void test_a_syntax_error_names_the_interpreter_and_its_version(void **state)
{
	struct config cfg;
	struct hints h;
	char err[512], real[512], link[512], want[600];
	char *dir = th_tmpdir("hints-py");

	setup(&h, &cfg);
	snprintf(real, sizeof(real), "%s/python3.9", dir);
	th_write_file(real, "", 0, 0755);
	snprintf(link, sizeof(link), "%s/python3", dir);
	assert_int_equal(symlink("python3.9", link), 0);
	snprintf(h.rt.path, sizeof(h.rt.path), "%s", link);
	explain(&h, "script exited with status 1; see the log",
		"  File \"/job/clip.py\", line 3\n"
		"    match mode:\n"
		"          ^^^^\n"
		"SyntaxError: invalid syntax\n",
		0, err, sizeof(err));
	snprintf(want, sizeof(want), "SyntaxError: invalid syntax; %s is Python 3.9", link);
	assert_non_null(strstr(err, want));
	th_rm_rf(dir);
	free(dir);
}

static void test_a_timeout_says_how_far_it_got_and_which_flag_raises_it(void **state)
{
	struct config cfg;
	struct hints h;
	char err[512];

	setup(&h, &cfg);
	h.limits.timeout_s = 2;
	explain(&h, "wall-clock timeout of 2 s reached", "", 3, err, sizeof(err));
	assert_string_equal(err, "wall-clock timeout of 2 s reached after 3 of 20 frames: raise "
				 "--timeout (this host allows up to 600 s) or render fewer or "
				 "simpler frames");
}

static void test_a_timeout_at_the_maximum_does_not_offer_the_flag(void **state)
{
	struct config cfg;
	struct hints h;
	char err[512];

	setup(&h, &cfg);
	h.limits.timeout_s = h.maxima.timeout_s;
	explain(&h, "wall-clock timeout of 600 s reached while encoding (7 of 20 frames encoded)",
		"", 7, err, sizeof(err));
	assert_string_equal(err, "wall-clock timeout of 600 s reached while encoding (7 of 20 "
				 "frames encoded): that is this host's maximum, so render fewer "
				 "or simpler frames");
}

static void test_a_memory_limit_names_the_flag_in_the_same_unit(void **state)
{
	struct config cfg;
	struct hints h;
	char err[512];

	setup(&h, &cfg);
	h.limits.memory_mb = 128;
	explain(&h, "memory limit of 128 MB reached", "", 0, err, sizeof(err));
	assert_string_equal(err, "memory limit of 128 MB reached: raise --memory (this host "
				 "allows up to 4096 MB) or hold fewer frames in memory (write "
				 "each as it is drawn)");
}

static void test_other_sentences_pass_through_untouched(void **state)
{
	struct config cfg;
	struct hints h;
	char err[512];

	setup(&h, &cfg);
	explain(&h, "the script wrote no frames", "ModuleNotFoundError: No module named 'x'\n", 0,
		err, sizeof(err));
	assert_string_equal(err, "the script wrote no frames");
	explain(&h, "script exited with status 2; see the log", "", 0, err, sizeof(err));
	assert_string_equal(err, "script exited with status 2; see the log");
}

static void test_the_last_error_line_skips_reelbox_notes_and_node_trailers(void **state)
{
	char line[256];

	assert_true(hints_last_error_line("/job/a.js:1\n"
					  "Error: Cannot find module 'canvas'\n"
					  "Require stack:\n"
					  "- /job/a.js\n"
					  "    at Module._resolveFilename (node:internal)\n"
					  "  code: 'MODULE_NOT_FOUND'\n"
					  "}\n\n"
					  "Node.js v18.19.0\n",
					  line, sizeof(line)));
	assert_string_equal(line, "Error: Cannot find module 'canvas'");
	assert_true(hints_last_error_line("drawing\nsh: 3: convert: not found\n"
					  "reelbox: denied socket(AF_INET)\n",
					  line, sizeof(line)));
	assert_string_equal(line, "sh: 3: convert: not found");
	assert_false(hints_last_error_line("\n\n", line, sizeof(line)));
}

static void test_a_command_that_is_not_installed_says_so(void **state)
{
	struct config cfg;
	struct hints h;
	char err[512];

	setup(&h, &cfg);
	snprintf(h.rt.name, sizeof(h.rt.name), "sh");
	h.rt.n_packages = 1;
	snprintf(h.rt.packages[0], sizeof(h.rt.packages[0]), "ffmpeg");
	explain(&h, "script exited with status 127; see the log", "sh: 3: convert: not found\n", 0,
		err, sizeof(err));
	assert_string_equal(err, "script exited with status 127: sh: 3: convert: not found; that "
				 "command is not installed on this host: scripts see the host's "
				 "programs, read-only; this host's sh has the commands ffmpeg "
				 "(`reelbox runtimes` lists them)");
}

static void test_a_long_error_line_is_cut_between_characters(void **state)
{
	struct config cfg;
	struct hints h;
	char err[512], log[2048];
	size_t n = 0;

	setup(&h, &cfg);
	n += (size_t)snprintf(log, sizeof(log), "ValueError: ");
	while (n + 2 < 1500) {
		memcpy(log + n, "\xc3\xa9", 2); /* é */
		n += 2;
	}
	log[n] = '\0';
	explain(&h, "script exited with status 1; see the log", log, 0, err, sizeof(err));
	assert_true(strlen(err) < 300);
	assert_non_null(strstr(err, "..."));
	assert_true(utf8_valid(err, strlen(err)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_module_not_found_names_what_the_runtime_can_import),
	    cmocka_unit_test(test_a_listed_package_that_is_missing_blames_the_host),
	    cmocka_unit_test(test_pip_advice_is_replaced_by_no_network),
	    cmocka_unit_test(test_a_font_that_cannot_be_opened_names_the_fonts_here),
	    cmocka_unit_test(test_a_missing_input_file_says_a_job_carries_only_its_script),
	    cmocka_unit_test(test_a_syntax_error_names_the_interpreter_and_its_version),
	    cmocka_unit_test(test_a_timeout_says_how_far_it_got_and_which_flag_raises_it),
	    cmocka_unit_test(test_a_timeout_at_the_maximum_does_not_offer_the_flag),
	    cmocka_unit_test(test_a_memory_limit_names_the_flag_in_the_same_unit),
	    cmocka_unit_test(test_other_sentences_pass_through_untouched),
	    cmocka_unit_test(test_the_last_error_line_skips_reelbox_notes_and_node_trailers),
	    cmocka_unit_test(test_a_command_that_is_not_installed_says_so),
	    cmocka_unit_test(test_a_long_error_line_is_cut_between_characters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
