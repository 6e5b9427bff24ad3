/* test_syncheck.c - a script's syntax check (worker/syncheck.c) in a real sandbox.
 *
 * Each check runs the real checker of a real runtime on a loop, as the prompt job's
 * repair loop will: a good script passes, a broken one fails with a sentence the model
 * can act on (the error and its line, no host path), code at a script's top level never
 * runs, the deadline and a cancel end a checker that does not end by itself, and when
 * the callback runs the slot is clean: no process of the slot's user, no cgroup and no
 * state of the check left, and a real render starts on the same slot. Runtimes that are
 * not installed here are skipped with a message. Needs root, as the sandbox does.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "encoder.h"
#include "helpers.h"
#include "runner.h"
#include "syncheck.h"

#define SLOT 5

static char *state_dir;
static struct config cfg;

/* What one check reported, and the slot as the callback found it. */
struct outcome {
	int calls, rc;
	char sentence[SYNCHECK_SENTENCE];
	char log_tail[SYNCHECK_LOG_TAIL + 1];
	int slot_procs, slot_cgroups, state_entries; /* at the moment cb ran */
	uint64_t ms;				     /* start to cb */
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Processes running as the slot's host user (1500000 + slot as root: internal.h's
 * SANDBOX_HOST_ID_BASE): a sandbox of this slot that is still alive. */
static int count_slot_processes(void)
{
	char path[300], line[256], want[64];
	struct dirent *de;
	DIR *d = opendir("/proc");
	int n = 0;

	snprintf(want, sizeof(want), "%u", 1500000u + SLOT);
	while (d && (de = readdir(d))) {
		FILE *f;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/status", de->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		while (fgets(line, sizeof(line), f))
			if (!strncmp(line, "Uid:", 4)) {
				char *p = line + 4;

				p += strspn(p, " \t");
				n += !strncmp(p, want, strlen(want)) &&
				     (p[strlen(want)] == '\t' || p[strlen(want)] == ' ');
				break;
			}
		fclose(f);
	}
	if (d)
		closedir(d);
	return n;
}

/* Job cgroups this process created that still exist ("rbx-<pid>-<seq>-slot<N>"). */
static int count_own_cgroups(void)
{
	char cmd[256], out[4096];

	snprintf(cmd, sizeof(cmd),
		 "find /sys/fs/cgroup -maxdepth 6 -type d -name 'rbx-%d-*' 2>/dev/null | wc -l",
		 (int)getpid());
	if (th_run(cmd, out, sizeof(out)) != 0)
		return -1;
	return atoi(out);
}

static uint64_t started_ms;

static void on_done(void *opaque, int rc, const char *sentence, const char *log_tail)
{
	struct outcome *o = opaque;

	o->calls++;
	o->rc = rc;
	o->ms = now_ms() - started_ms;
	snprintf(o->sentence, sizeof(o->sentence), "%s", sentence);
	snprintf(o->log_tail, sizeof(o->log_tail), "%s", log_tail);
	o->slot_procs = count_slot_processes();
	o->slot_cgroups = count_own_cgroups();
	o->state_entries = th_count_entries(state_dir);
	if (getenv("SYNCHECK_SHOW"))
		print_message("rc %d: %s\n---\n%s\n---\n", rc, sentence, log_tail);
}

static void make_job(struct job *job, const char *name, const char *runtime, const char *script)
{
	char err[512];

	job_init(job);
	job->script = strdup(script);
	job->script_len = strlen(script);
	snprintf(job->script_name, sizeof(job->script_name), "%s", name);
	if (runtime)
		snprintf(job->runtime, sizeof(job->runtime), "%s", runtime);
	job->width = 64;
	job->height = 64;
	job->fps = 10;
	job->frames = 5;
	if (job_resolve(job, &cfg, err, sizeof(err)) != 0)
		fail_msg("job refused: %s", err);
}

/* Check a script on a loop of its own until the callback; the slot must be clean then,
 * and the loop must end (every handle closed). Returns what syncheck_start returned. */
static int check(const char *name, const char *runtime, const char *script, struct outcome *o)
{
	struct syncheck *c = NULL;
	struct job job;
	uv_loop_t loop;
	char err[512] = "";
	int rc;

	memset(o, 0, sizeof(*o));
	make_job(&job, name, runtime, script);
	uv_loop_init(&loop);
	started_ms = now_ms();
	rc = syncheck_start(&loop, &job, &cfg, SLOT, on_done, o, &c, err, sizeof(err));
	job_free(&job); /* the check needs the job only to start */
	if (rc < 0)
		fail_msg("syncheck_start: %d: %s", rc, err);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
	if (rc == 0) {
		assert_int_equal(o->calls, 1);
		assert_int_equal(o->slot_procs, 0);
		assert_int_equal(o->slot_cgroups, 0);
		assert_int_equal(o->state_entries, 0);
	} else {
		assert_int_equal(o->calls, 0);
	}
	return rc;
}

static int have(const char *path)
{
	if (access(path, X_OK) == 0)
		return 1;
	print_message("skipped: %s is not installed here\n", path);
	return 0;
}

static void assert_has(const char *s, const char *want)
{
	if (!strstr(s, want))
		fail_msg("'%s' does not contain '%s'", s, want);
}

/* No host path may reach the model: the state dir, the worker's cwd, the cgroup tree. */
static void assert_no_host_path(const char *s)
{
	char cwd[PATH_MAX];

	if (strstr(s, state_dir) || strstr(s, "/sys/fs/cgroup") ||
	    (getcwd(cwd, sizeof(cwd)) && strstr(s, cwd)))
		fail_msg("'%s' names a host path", s);
}

/* ---- python ---- */

static void test_a_good_python_script_passes(void **state)
{
	struct outcome o;

	(void)state;
	if (!have("/usr/bin/python3"))
		skip();
	assert_int_equal(check("render.py", NULL,
			       "import sys\n"
			       "def frame(i):\n"
			       "    return bytes([i % 256]) * (64 * 64 * 3)\n"
			       "for i in range(5):\n"
			       "    sys.stdout.buffer.write(frame(i))\n",
			       &o),
			 0);
	assert_int_equal(o.rc, 1);
	assert_string_equal(o.sentence, "");
	assert_string_equal(o.log_tail, "");
}

static void test_a_python_syntax_error_names_syntaxerror_and_its_line(void **state)
{
	struct outcome o;

	(void)state;
	if (!have("/usr/bin/python3"))
		skip();
	assert_int_equal(check("render.py", NULL,
			       "import sys\n"
			       "x = 1\n"
			       "if x\n"
			       "    sys.stdout.write('x')\n",
			       &o),
			 0);
	assert_int_equal(o.rc, 0);
	assert_has(o.sentence, "the script does not parse: SyntaxError: ");
	assert_has(o.sentence, "(line 3)");
	assert_null(strchr(o.sentence, '\n'));
	assert_has(o.log_tail, "SyntaxError");
	assert_has(o.log_tail, "/job/render.py");
	assert_no_host_path(o.sentence);
	assert_no_host_path(o.log_tail);
}

/* A long offending line is left out of what Python prints, so its location stays. */
static void test_a_python_error_on_a_huge_line_keeps_its_line_number(void **state)
{
	struct outcome o;
	size_t n = 20000;
	char *script = malloc(n + 64);

	(void)state;
	if (!have("/usr/bin/python3")) {
		free(script);
		skip();
	}
	assert_non_null(script);
	strcpy(script, "a = 1\nb = 2\nc = [");
	memset(script + strlen(script), 'a', n);
	strcpy(script + strlen(script), " 2]\n");
	assert_int_equal(check("render.py", NULL, script, &o), 0);
	free(script);
	assert_int_equal(o.rc, 0);
	assert_has(o.sentence, "SyntaxError: ");
	assert_has(o.sentence, "(line 3)");
	assert_true(strlen(o.sentence) < 400);
	assert_true(strlen(o.log_tail) <= SYNCHECK_LOG_TAIL);
	assert_has(o.log_tail, "File \"/job/render.py\", line 3");
}

/* The check parses; it never runs the code: a top level that would write a file, print,
 * exit with a status of its own and then loop forever passes, and quickly. */
static void test_python_top_level_code_is_not_run(void **state)
{
	struct outcome o;

	(void)state;
	if (!have("/usr/bin/python3"))
		skip();
	assert_int_equal(check("render.py", NULL,
			       "import os, sys, time\n"
			       "open('/scratch/ran', 'w').write('ran')\n"
			       "sys.stderr.write('THE SCRIPT RAN\\n')\n"
			       "time.sleep(30)\n"
			       "while True:\n"
			       "    pass\n"
			       "os._exit(7)\n",
			       &o),
			 0);
	assert_int_equal(o.rc, 1);
	assert_string_equal(o.log_tail, "");
	assert_true(o.ms < 5000);
}

/* ---- shells ---- */

static void test_sh_n_catches_an_unclosed_if_with_its_line(void **state)
{
	struct outcome o;

	(void)state;
	assert_int_equal(check("render.sh", NULL,
			       "#!/bin/sh\n"
			       "if [ -n \"$WIDTH\" ]; then\n"
			       "  echo ok >&2\n",
			       &o),
			 0);
	assert_int_equal(o.rc, 0);
	assert_has(o.sentence, "the script does not parse: line ");
	/* dash: "Syntax error: end of file unexpected (expecting "fi")"; bash: "syntax
	 * error: unexpected end of file" */
	assert_true(strstr(o.sentence, "yntax error"));
	assert_null(strstr(o.sentence, "/job/"));
	assert_no_host_path(o.log_tail);
}

static void test_a_good_sh_script_passes_without_running(void **state)
{
	struct outcome o;

	(void)state;
	assert_int_equal(check("render.sh", NULL,
			       "#!/bin/sh\n"
			       "echo THE SCRIPT RAN >&2\n"
			       "exit 3\n",
			       &o),
			 0);
	assert_int_equal(o.rc, 1);
}

static void test_bash_n_names_the_unexpected_token(void **state)
{
	struct outcome o;

	(void)state;
	if (!have("/bin/bash"))
		skip();
	assert_int_equal(check("render.bash", "bash",
			       "for i in 1 2; do\n"
			       "  echo $i\n"
			       "fi\n",
			       &o),
			 0);
	assert_int_equal(o.rc, 0);
	assert_has(o.sentence, "the script does not parse: line 3: syntax error near "
			       "unexpected token");
}

/* ---- node and lua ---- */

static void test_node_check_names_the_error_and_its_line(void **state)
{
	struct outcome o;

	(void)state;
	if (!have("/usr/bin/node"))
		skip();
	assert_int_equal(check("render.js", NULL, "const x = 1;\nprocess.stdout.write('x');\n", &o),
			 0);
	assert_int_equal(o.rc, 1);
	assert_int_equal(check("render.js", NULL,
			       "const x = 1;\n"
			       "const y = (x +;\n"
			       "process.stdout.write(y);\n",
			       &o),
			 0);
	assert_int_equal(o.rc, 0);
	assert_has(o.sentence, "the script does not parse: SyntaxError: ");
	assert_has(o.sentence, "(line 2)");
	assert_no_host_path(o.log_tail);
}

static void test_lua_check_names_the_error_and_its_line(void **state)
{
	struct outcome o;

	(void)state;
	if (!have("/usr/bin/lua"))
		skip();
	assert_int_equal(check("render.lua", NULL, "io.stderr:write('ran')\nos.exit(3)\n", &o), 0);
	assert_int_equal(o.rc, 1);
	assert_int_equal(check("render.lua", NULL,
			       "local x = 1\n"
			       "if x then\n"
			       "  print(x)\n",
			       &o),
			 0);
	assert_int_equal(o.rc, 0);
	assert_has(o.sentence, "the script does not parse: line 4: 'end' expected");
	assert_no_host_path(o.log_tail);
}

/* A script name may hold quotes and brackets (job.c allows printable ASCII): it reaches
 * the checker as a name (luac's argv, or an escaped string in the loadfile code), never
 * as code: a name that would exit 9 if it were code neither runs nor breaks the check. */
static void test_a_lua_script_name_with_quotes_is_a_name_not_code(void **state)
{
	static const char name[] = "a\"..os.exit(9)..\"]]\\'.lua";
	struct outcome o;

	(void)state;
	if (!have("/usr/bin/lua"))
		skip();
	assert_int_equal(check(name, "lua", "local x = 1\nif x then\n  print(x)\n", &o), 0);
	assert_int_equal(o.rc, 0);
	assert_has(o.sentence, "the script does not parse: line 4: 'end' expected");
	assert_int_equal(check(name, "lua", "os.exit(5)\n", &o), 0);
	assert_int_equal(o.rc, 1);
}

/* ---- no check ---- */

static void test_a_runtime_without_a_cheap_check_is_told_and_never_called(void **state)
{
	struct outcome o;
	struct runtime *rt = &cfg.runtimes[cfg.n_runtimes];

	(void)state;
	memset(rt, 0, sizeof(*rt));
	snprintf(rt->name, sizeof(rt->name), "cat");
	snprintf(rt->path, sizeof(rt->path), "/bin/cat");
	cfg.n_runtimes++;
	assert_int_equal(check("render.txt", "cat", "not a program", &o), 1);
	cfg.n_runtimes--;
	assert_int_equal(o.calls, 0);
}

/* ---- a checker that does not end ---- */

/* A runtime whose checker cannot end: node preloads (NODE_OPTIONS --require) the
 * script, which loops; the job's 1 s timeout is the check's deadline. */
static void add_hanging_runtime(void)
{
	struct runtime *rt = &cfg.runtimes[cfg.n_runtimes++];

	memset(rt, 0, sizeof(*rt));
	snprintf(rt->name, sizeof(rt->name), "nodehang");
	snprintf(rt->path, sizeof(rt->path), "/usr/bin/node");
	snprintf(rt->env[rt->n_env++], sizeof(rt->env[0]), "NODE_OPTIONS=--require /job/hang.js");
}

static void test_a_checker_that_hangs_ends_at_the_deadline(void **state)
{
	struct outcome o;
	struct job job;
	struct syncheck *c = NULL;
	uv_loop_t loop;
	char err[512];

	(void)state;
	if (!have("/usr/bin/node"))
		skip();
	add_hanging_runtime();
	make_job(&job, "hang.js", "nodehang", "for (;;) {}\n");
	job.limits.timeout_s = 1;
	memset(&o, 0, sizeof(o));
	uv_loop_init(&loop);
	started_ms = now_ms();
	assert_int_equal(syncheck_start(&loop, &job, &cfg, SLOT, on_done, &o, &c, err, sizeof(err)),
			 0);
	job_free(&job);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
	cfg.n_runtimes--;
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.rc, -ETIMEDOUT);
	assert_string_equal(o.sentence,
			    "the syntax check did not finish within 1 s and was stopped");
	assert_true(o.ms >= 1000 && o.ms < 5000);
	assert_int_equal(o.slot_procs, 0);
	assert_int_equal(o.slot_cgroups, 0);
	assert_int_equal(o.state_entries, 0);
}

static void on_cancel_timer(uv_timer_t *t)
{
	syncheck_cancel(t->data);
	uv_close((uv_handle_t *)t, NULL);
}

/* Cancelled while the checker runs: cb never runs, nothing of the slot is left, and the
 * loop ends (every handle closed, the object freed: ASan sees no leak). */
static void test_cancel_while_running_leaves_no_process_and_no_callback(void **state)
{
	struct outcome o;
	struct job job;
	struct syncheck *c = NULL;
	uv_timer_t timer;
	uv_loop_t loop;
	char err[512];

	(void)state;
	if (!have("/usr/bin/node"))
		skip();
	add_hanging_runtime();
	make_job(&job, "hang.js", "nodehang", "for (;;) {}\n");
	memset(&o, 0, sizeof(o));
	uv_loop_init(&loop);
	assert_int_equal(syncheck_start(&loop, &job, &cfg, SLOT, on_done, &o, &c, err, sizeof(err)),
			 0);
	job_free(&job);
	uv_timer_init(&loop, &timer);
	timer.data = c;
	uv_timer_start(&timer, on_cancel_timer, 300, 0);
	started_ms = now_ms();
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_true(now_ms() - started_ms < 3000);
	assert_int_equal(uv_loop_close(&loop), 0);
	cfg.n_runtimes--;
	assert_int_equal(o.calls, 0);
	assert_int_equal(count_slot_processes(), 0);
	assert_int_equal(count_own_cgroups(), 0);
	assert_int_equal(th_count_entries(state_dir), 0);
}

/* Cancelled right after the start, before the loop ever ran: the sandbox is gone when
 * syncheck_cancel returns. */
static void test_cancel_right_after_start_frees_the_slot_at_once(void **state)
{
	struct outcome o;
	struct job job;
	struct syncheck *c = NULL;
	uv_loop_t loop;
	char err[512];

	(void)state;
	if (!have("/usr/bin/python3"))
		skip();
	make_job(&job, "render.py", NULL, "import sys\n");
	memset(&o, 0, sizeof(o));
	uv_loop_init(&loop);
	assert_int_equal(syncheck_start(&loop, &job, &cfg, SLOT, on_done, &o, &c, err, sizeof(err)),
			 0);
	job_free(&job);
	syncheck_cancel(c);
	assert_int_equal(count_slot_processes(), 0);
	assert_int_equal(count_own_cgroups(), 0);
	assert_int_equal(th_count_entries(state_dir), 0);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
	assert_int_equal(o.calls, 0);
}

/* ---- the render that follows ---- */

struct render_done {
	int done;
	struct runner_result res;
};

static void on_render_done(void *opaque, const struct runner_result *res)
{
	struct render_done *d = opaque;

	d->done = 1;
	d->res = *res;
}

static const struct runner_ops render_ops = {.done = on_render_done};

/* After a check (a failed one and a passed one) the same slot renders: the check left
 * nothing the render's sandbox would collide with. */
static void test_after_a_check_a_render_on_the_same_slot_succeeds(void **state)
{
	static const char script[] =
	    "import sys\n"
	    "for i in range(5):\n"
	    "    sys.stdout.buffer.write(bytes([i * 40]) * (64 * 64 * 3))\n";
	struct render_done d = {0};
	struct runner *r = NULL;
	struct outcome o;
	struct job job;
	uv_loop_t loop;
	char err[512], out[PATH_MAX];
	char *dir;

	(void)state;
	if (!have("/usr/bin/python3"))
		skip();
	assert_int_equal(check("render.py", NULL, "if (:\n", &o), 0);
	assert_int_equal(o.rc, 0);
	assert_int_equal(check("render.py", NULL, script, &o), 0);
	assert_int_equal(o.rc, 1);

	dir = th_tmpdir("syncheck-out");
	assert_non_null(dir);
	snprintf(out, sizeof(out), "%s/out.mp4", dir);
	encoder_set_program(th_reelbox_bin());
	make_job(&job, "render.py", NULL, script);
	uv_loop_init(&loop);
	if (runner_start(&loop, &job, &cfg, out, SLOT, NULL, &render_ops, &d, &r, err,
			 sizeof(err)) < 0)
		fail_msg("runner_start: %s", err);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
	runner_free(r);
	job_free(&job);
	assert_int_equal(d.done, 1);
	if (!d.res.succeeded)
		fail_msg("render failed: %s", d.res.error);
	assert_int_equal(d.res.frames, 5);
	assert_int_equal(access(out, R_OK), 0);
	th_rm_rf(dir);
	free(dir);
}

static int setup(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		print_message("test_syncheck needs root (the sandbox does)\n");
		return -1;
	}
	state_dir = th_tmpdir("syncheck");
	if (!state_dir)
		return -1;
	config_defaults(&cfg);
	snprintf(cfg.state_dir, sizeof(cfg.state_dir), "%s", state_dir);
	if (cfg.n_runtimes + 1 >= JOB_MAX_RUNTIMES)
		return -1;
	/* bash as a runtime of its own, for bash -n */
	struct runtime *rt = &cfg.runtimes[cfg.n_runtimes++];
	memset(rt, 0, sizeof(*rt));
	snprintf(rt->name, sizeof(rt->name), "bash");
	snprintf(rt->path, sizeof(rt->path), "/bin/bash");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	th_rm_rf(state_dir);
	free(state_dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_a_good_python_script_passes),
	    cmocka_unit_test(test_a_python_syntax_error_names_syntaxerror_and_its_line),
	    cmocka_unit_test(test_a_python_error_on_a_huge_line_keeps_its_line_number),
	    cmocka_unit_test(test_python_top_level_code_is_not_run),
	    cmocka_unit_test(test_sh_n_catches_an_unclosed_if_with_its_line),
	    cmocka_unit_test(test_a_good_sh_script_passes_without_running),
	    cmocka_unit_test(test_bash_n_names_the_unexpected_token),
	    cmocka_unit_test(test_node_check_names_the_error_and_its_line),
	    cmocka_unit_test(test_lua_check_names_the_error_and_its_line),
	    cmocka_unit_test(test_a_lua_script_name_with_quotes_is_a_name_not_code),
	    cmocka_unit_test(test_a_runtime_without_a_cheap_check_is_told_and_never_called),
	    cmocka_unit_test(test_a_checker_that_hangs_ends_at_the_deadline),
	    cmocka_unit_test(test_cancel_while_running_leaves_no_process_and_no_callback),
	    cmocka_unit_test(test_cancel_right_after_start_frees_the_slot_at_once),
	    cmocka_unit_test(test_after_a_check_a_render_on_the_same_slot_succeeds),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
