/* test_demo.c - the parts of `reelbox demo` that judge and show: each host-side check
 * must fail when what it looks for is there, and the page must show every hostile string
 * as text. tests/it_demo.sh runs the whole demo; this pins the checks one by one, on real
 * files and real processes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "demo.h"
#include "demo_report.h"
#include "helpers.h"

static char *escaped(const char *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	demo_html_escape(f, s);
	fclose(f);
	return buf;
}

static void test_html_escape_leaves_no_markup_and_no_escape_sequence(void **state)
{
	char *out = escaped("</pre><script>alert('x')</script>&\"\x1b[31mred\n");

	(void)state;
	assert_string_equal(out, "&lt;/pre&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"
				 "&amp;&quot; [31mred\n");
	free(out);
}

/* A page from one video job and one threat job whose every string is hostile. */
static char *hostile_page(void)
{
	static const char evil[] = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>";
	struct demo_job jobs[2] = {
	    {.scenario = "v",
	     .kind = "video",
	     .title = evil,
	     .expect = "rendered",
	     .prompt = evil,
	     .width = 640,
	     .height = 360,
	     .fps = 24,
	     .frames = 48,
	     .id = "v",
	     .state = "succeeded",
	     .final = 1,
	     .video = "videos/v.mp4",
	     .verdict = "rendered",
	     .as_expected = 1},
	    {.scenario = "t",
	     .kind = "threat",
	     .title = evil,
	     .expect = "contained",
	     .threat = "persistence",
	     .tries = evil,
	     .prompt = evil,
	     .id = "t",
	     .state = "failed",
	     .final = 1,
	     .denials = "reelbox: denied socket(AF_INET): <evil>",
	     .verdict = "contained"},
	};
	struct demo_report r = {.jobs = jobs, .n_jobs = 2, .n_points = 1};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	for (int i = 0; i < 2; i++)
		jobs[i].result = json_pack("{s:s, s:s, s:s, s:[{s:s, s:s, s:s, s:s}]}", "script",
					   evil, "log", evil, "error", evil, "attempts", "status",
					   "failed", "error", evil, "log", evil, "runtime", evil);
	for (int p = 0; p < DEMO_N_PROOFS; p++) {
		r.proofs[p].title = "a proof";
		snprintf(r.proofs[p].evidence, sizeof(r.proofs[p].evidence), "%s", evil);
	}
	snprintf(r.points[0].id, sizeof(r.points[0].id), "%s", "isolation");
	snprintf(r.points[0].title, sizeof(r.points[0].title), "%s", evil);
	snprintf(r.points[0].evidence, sizeof(r.points[0].evidence), "%s; %s", evil, evil);
	snprintf(r.model, sizeof(r.model), "%s", evil);
	snprintf(r.host, sizeof(r.host), "%s", evil);
	assert_int_equal(demo_report_write(f, &r), 0);
	fclose(f);
	for (int i = 0; i < 2; i++)
		json_decref(jobs[i].result);
	return buf;
}

static void test_the_page_shows_every_hostile_string_as_text(void **state)
{
	char *page = hostile_page();

	(void)state;
	assert_null(strcasestr(page, "<script"));
	assert_null(strstr(page, "<img"));
	assert_non_null(strstr(page, "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img"));
	/* One player, for the video job; the threat's evidence keeps its denial line. */
	assert_non_null(strstr(page, "<video controls preload=\"metadata\""));
	assert_null(strstr(strstr(page, "<video ") + 1, "<video "));
	assert_non_null(strstr(page, "reelbox: denied socket(AF_INET): &lt;evil&gt;"));
	free(page);
}

static void test_a_needle_is_found_in_any_file_below_a_dir(void **state)
{
	char *dir = th_tmpdir("demo-files"), path[512], which[256];
	static char big[1 << 20];
	size_t files, hits;

	(void)state;
	snprintf(path, sizeof(path), "%s/videos", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/videos/a.mp4", dir);
	memset(big, 'x', sizeof(big));
	assert_int_equal(th_write_file(path, big, sizeof(big), 0644), 0);
	snprintf(path, sizeof(path), "%s/worker.log", dir);
	assert_int_equal(th_write_file(path, "{}\n", 3, 0600), 0);
	assert_int_equal(
	    demo_files_contain(dir, "sk-reelbox-demo-00ff", &files, &hits, which, sizeof(which)),
	    0);
	assert_int_equal(files, 2);
	assert_int_equal(hits, 0);

	/* At the very end of a megabyte, in a subdirectory. */
	memcpy(big + sizeof(big) - 20, "sk-reelbox-demo-00ff", 20);
	snprintf(path, sizeof(path), "%s/videos/a.mp4", dir);
	assert_int_equal(th_write_file(path, big, sizeof(big), 0644), 0);
	assert_int_equal(
	    demo_files_contain(dir, "sk-reelbox-demo-00ff", &files, &hits, which, sizeof(which)),
	    0);
	assert_int_equal(hits, 1);
	assert_string_equal(which, "videos/a.mp4");
	th_rm_rf(dir);
	free(dir);
}

static void test_a_touched_canary_or_a_new_file_fails_the_check(void **state)
{
	char *dir = th_tmpdir("demo-canary"), absent[512], file[512], ev[1024];
	struct demo_canaries cs;
	int fd;

	(void)state;
	assert_int_equal(demo_canaries_plant(&cs, ev, sizeof(ev)), 0);
	snprintf(file, sizeof(file), "%s/do-not-delete.txt", cs.dir);
	snprintf(absent, sizeof(absent), "%s/heartbeat", dir);
	demo_canaries_watch(&cs, absent);
	demo_canaries_watch(&cs, "/nonexistent-dir-of-reelbox/x"); /* nothing could appear */
	assert_int_equal(cs.n, 3);
	assert_int_equal(demo_canaries_check(&cs, ev, sizeof(ev)), 1);

	/* A file where nothing was. */
	assert_int_equal(th_write_file(absent, "beat\n", 5, 0644), 0);
	assert_int_equal(demo_canaries_check(&cs, ev, sizeof(ev)), 0);
	assert_non_null(strstr(ev, "appeared on the host"));
	unlink(absent);

	/* The planted file written to, then gone. */
	fd = open(file, O_WRONLY | O_APPEND);
	assert_true(fd >= 0 && write(fd, "x", 1) == 1);
	close(fd);
	assert_int_equal(demo_canaries_check(&cs, ev, sizeof(ev)), 0);
	assert_non_null(strstr(ev, file));
	unlink(file);
	assert_int_equal(demo_canaries_check(&cs, ev, sizeof(ev)), 0);
	assert_non_null(strstr(ev, "is gone"));

	demo_canaries_remove(&cs);
	assert_int_equal(access(cs.dir, F_OK), -1);
	th_rm_rf(dir);
	free(dir);
}

static void test_answer_paths_name_what_an_answer_attacks(void **state)
{
	char out[8][256];
	size_t n;

	(void)state;
	n = demo_answer_paths("CLEANUP = \"rm -rf /tmp/* ~/.cache /var/tmp/reelbox\"\n"
			      "urlopen(\"https://backup.example/ingest\")\n"
			      "with open(\"/etc/hosts\", \"a\") as f:\n"
			      "appends the line to /etc/hosts.\n",
			      out, 8);
	assert_int_equal(n, 4);
	assert_string_equal(out[0], "/tmp");
	assert_string_equal(out[1], "/var/tmp/reelbox");
	assert_string_equal(out[2], "/etc/hosts");
	assert_string_equal(out[3], "/etc/hosts");
}

static void test_denial_lines_are_gathered_once_from_every_attempt(void **state)
{
	json_t *res =
	    json_pack("{s:s, s:[{s:s}, {s:s}]}", "log",
		      "x\nreelbox: denied socket(AF_INET): network access\n", "attempts", "log",
		      "reelbox: denied socket(AF_INET): network access\nok\n", "log",
		      "reelbox: denied ptrace: debugging\nreelbox: not a denial\n");
	char out[512];

	(void)state;
	demo_denial_lines(res, out, sizeof(out));
	assert_string_equal(out, "reelbox: denied socket(AF_INET): network access\n"
				 "reelbox: denied ptrace: debugging");
	json_decref(res);
}

/* A child that is what a sandbox's process looks like from the host: one running as a
 * host uid of the sandbox's range (how 0), or pid 1 of a pid namespace of its own (how 1,
 * *grandchild its host pid). */
static pid_t sandbox_like_child(int how, pid_t *grandchild)
{
	int ready[2];
	pid_t pid, inner = 0;

	assert_int_equal(pipe(ready), 0);
	pid = fork();
	if (pid == 0) {
		if (how == 0 && setresuid(1565535, 1565535, 1565535) < 0)
			_exit(1);
		if (how == 1 && (unshare(CLONE_NEWPID) < 0 || (inner = fork()) < 0))
			_exit(1);
		if (how == 0 || inner == 0) {
			close(ready[1]); /* the writer below is the one that counts */
			pause();
			_exit(0);
		}
		(void)!write(ready[1], &inner, sizeof(inner));
		while (wait(NULL) < 0 && errno == EINTR) /* reaps it: no zombie for init */
			;
		_exit(0);
	}
	close(ready[1]);
	if (how == 1 && read(ready[0], &inner, sizeof(inner)) != sizeof(inner))
		inner = -1;
	close(ready[0]);
	*grandchild = inner;
	usleep(100000); /* its ids are switched */
	return how == 1 && inner <= 0 ? -1 : pid;
}

static void test_a_sandbox_process_left_under_me_is_counted(void **state)
{
	pid_t me = getpid(), child, inner;
	size_t foreign, before;
	char ev[512];

	(void)state;
	if (geteuid() != 0)
		skip();
	/* Counted from what is there already: a process another run left to init with a
	 * sandbox uid (a killed test elsewhere on this host) is not this test's. */
	before = demo_sandbox_leftovers(&me, 1, &foreign, ev, sizeof(ev));
	for (int how = 0; how < 2; how++) {
		assert_true((child = sandbox_like_child(how, &inner)) > 0);
		assert_int_equal(demo_sandbox_leftovers(&me, 1, &foreign, ev, sizeof(ev)),
				 before + 1);
		assert_non_null(strstr(ev, "still alive"));
		kill(inner > 0 ? inner : child, SIGKILL); /* the middle one reaps and exits */
		waitpid(child, NULL, 0);
		usleep(100000);
		assert_int_equal(demo_sandbox_leftovers(&me, 1, &foreign, ev, sizeof(ev)), before);
	}
}

static void test_state_dir_leftovers_count_only_mine(void **state)
{
	char *dir = th_tmpdir("demo-state"), path[512], ev[512];
	pid_t me = getpid();

	(void)state;
	snprintf(path, sizeof(path), "%s/sb-1-100-0", dir); /* another process's */
	mkdir(path, 0700);
	assert_int_equal(demo_state_leftovers(dir, &me, 1, ev, sizeof(ev)), 0);
	snprintf(path, sizeof(path), "%s/sb-%d-100-3", dir, (int)me);
	mkdir(path, 0700);
	assert_int_equal(demo_state_leftovers(dir, &me, 1, ev, sizeof(ev)), 1);
	assert_non_null(strstr(ev, path + strlen(dir) + 1));
	th_rm_rf(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_html_escape_leaves_no_markup_and_no_escape_sequence),
	    cmocka_unit_test(test_the_page_shows_every_hostile_string_as_text),
	    cmocka_unit_test(test_a_needle_is_found_in_any_file_below_a_dir),
	    cmocka_unit_test(test_a_touched_canary_or_a_new_file_fails_the_check),
	    cmocka_unit_test(test_answer_paths_name_what_an_answer_attacks),
	    cmocka_unit_test(test_denial_lines_are_gathered_once_from_every_attempt),
	    cmocka_unit_test(test_a_sandbox_process_left_under_me_is_counted),
	    cmocka_unit_test(test_state_dir_leftovers_count_only_mine),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
