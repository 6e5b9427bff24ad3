/* test_outdir.c - the output dir's names hold the fencing: a claim never replaces
 * another's name by taking it, gives up only its own, and the recorded claim's pointing
 * replaces whatever held it; a sweep removes only what belongs to nobody.
 *
 * Real files in a private directory; the "claims" are names as the worker makes them,
 * output_dir/<id>.<token>.<ext> with the stable name output_dir/<id>.<ext>.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"
#include "outdir.h"

static char *dir;

static int setup(void **state)
{
	(void)state;
	dir = th_tmpdir("outdir");
	return dir ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	th_rm_rf(dir);
	free(dir);
	return 0;
}

static const char *in_dir(const char *name)
{
	static char bufs[4][PATH_MAX];
	static int k;
	char *p = bufs[k++ % 4];

	snprintf(p, PATH_MAX, "%s/%s", dir, name);
	return p;
}

static void make_file(const char *name)
{
	assert_int_equal(th_write_file(in_dir(name), "v", 1, 0644), 0);
}

static const char *link_target(const char *name)
{
	static char target[PATH_MAX];
	ssize_t n = readlink(in_dir(name), target, sizeof(target) - 1);

	if (n < 0)
		return NULL;
	target[n] = '\0';
	return target;
}

/* Two claims of job "job" and the stable name they compete for. */
struct claims {
	char a[PATH_MAX], b[PATH_MAX], stable[PATH_MAX];
};

static void two_claims(struct claims *c)
{
	snprintf(c->a, sizeof(c->a), "%s", in_dir("job.1-aa.mp4"));
	snprintf(c->b, sizeof(c->b), "%s", in_dir("job.2-bb.mp4"));
	snprintf(c->stable, sizeof(c->stable), "%s", in_dir("job.mp4"));
}

static void test_a_taken_name_is_never_replaced_by_taking(void **state)
{
	struct claims c;
	const char *a = c.a, *b = c.b, *stable = c.stable;

	(void)state;
	two_claims(&c);
	make_file("job.1-aa.mp4");
	make_file("job.2-bb.mp4");
	assert_int_equal(outdir_take_name(a, stable), 1);
	assert_int_equal(outdir_take_name(b, stable), 0);
	assert_string_equal(link_target("job.mp4"), "job.1-aa.mp4");
}

static void test_release_removes_only_a_name_that_is_still_ones_own(void **state)
{
	struct claims c;
	const char *a = c.a, *b = c.b, *stable = c.stable;

	(void)state;
	two_claims(&c);
	assert_int_equal(outdir_take_name(a, stable), 1);
	outdir_release_name(b, stable); /* not b's: stays */
	assert_string_equal(link_target("job.mp4"), "job.1-aa.mp4");
	outdir_release_name(a, stable);
	assert_null(link_target("job.mp4"));
}

static void test_pointing_replaces_whatever_held_the_name(void **state)
{
	struct claims c;
	const char *a = c.a, *b = c.b, *stable = c.stable;

	(void)state;
	two_claims(&c);
	assert_int_equal(outdir_take_name(a, stable), 1);
	assert_int_equal(outdir_point_name(dir, "job", "2-bb", b, stable), 0);
	assert_string_equal(link_target("job.mp4"), "job.2-bb.mp4");
	assert_null(link_target(".job.2-bb.link")); /* the temporary link is gone */
	/* A name that is a plain file is replaced the same way. */
	unlink(stable);
	make_file("job.mp4");
	assert_int_equal(outdir_point_name(dir, "job", "2-bb", b, stable), 0);
	assert_string_equal(link_target("job.mp4"), "job.2-bb.mp4");
}

static void test_unrecorded_claims_go_and_everything_else_stays(void **state)
{
	static const char *const gone[] = {"job.1-aa.mp4", "job.3-0f.webm", "job.12-abc.gif"};
	static const char *const kept[] = {
	    "job.2-bb.mp4",	  /* the recorded claim's */
	    "job.mp4",		  /* the stable name */
	    "job.1-aa.mp4.tmp",	  /* not a container */
	    "job.x-aa.mp4",	  /* not a token */
	    "job.1-AA.mp4",	  /* not lowercase hex */
	    "jobs.1-aa.mp4",	  /* another id */
	    "other.1-aa.mp4",	  /* another id */
	    "job.1-aa.notes.txt", /* not a claim's video */
	};

	(void)state;
	for (size_t i = 0; i < 3; i++)
		make_file(gone[i]);
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
		make_file(kept[i]);
	outdir_remove_unrecorded(dir, "job", in_dir("job.2-bb.mp4"));
	for (size_t i = 0; i < 3; i++)
		if (access(in_dir(gone[i]), F_OK) == 0)
			fail_msg("%s was left", gone[i]);
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
		if (access(in_dir(kept[i]), F_OK) != 0)
			fail_msg("%s was removed", kept[i]);
}

static void test_check_names_what_is_wrong_with_the_dir(void **state)
{
	char work[PATH_MAX], why[512], missing[PATH_MAX];

	(void)state;
	snprintf(work, sizeof(work), "%s/.work/host-1", dir);
	assert_int_equal(outdir_check(dir, work, 1, why, sizeof(why)), 0);
	assert_int_equal(access(work, F_OK), 0); /* made */
	th_rm_rf(in_dir(".work"));
	assert_int_equal(outdir_check(dir, work, 0, why, sizeof(why)), 0);
	assert_int_equal(access(work, F_OK), 0); /* made again */
	snprintf(missing, sizeof(missing), "%s/nope", dir);
	assert_int_equal(outdir_check(missing, work, 1, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "does not exist"));
	make_file("plain");
	assert_int_equal(outdir_check(in_dir("plain"), work, 1, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "is not a directory"));
}

static void test_sweep_removes_only_dead_workers_work_dirs(void **state)
{
	char host[128] = "", dead[PATH_MAX], alive[PATH_MAX], other[PATH_MAX], file[PATH_MAX + 16];
	pid_t child = fork();

	(void)state;
	if (child == 0)
		_exit(0);
	assert_true(child > 0);
	waitpid(child, NULL, 0); /* its pid now names nobody */
	gethostname(host, sizeof(host) - 1);
	snprintf(dead, sizeof(dead), "%s/.work/%s-%d", dir, host, (int)child);
	snprintf(alive, sizeof(alive), "%s/.work/%s-%d", dir, host, (int)getpid());
	snprintf(other, sizeof(other), "%s/.work/elsewhere-%d", dir, (int)child);
	mkdir(in_dir(".work"), 0700);
	assert_int_equal(mkdir(dead, 0700), 0);
	assert_int_equal(mkdir(alive, 0700), 0);
	assert_int_equal(mkdir(other, 0700), 0);
	snprintf(file, sizeof(file), "%s/half.mp4", dead);
	assert_int_equal(th_write_file(file, "x", 1, 0600), 0);
	outdir_sweep_work_dirs(dir);
	assert_int_equal(access(dead, F_OK), -1);
	assert_int_equal(access(alive, F_OK), 0);
	assert_int_equal(access(other, F_OK), 0); /* another host's: not ours to judge */
}

static void test_a_path_too_long_is_an_error_not_a_cut(void **state)
{
	char buf[8];

	(void)state;
	assert_int_equal(outdir_path(buf, sizeof(buf), "%s", "1234567"), 0);
	assert_int_equal(outdir_path(buf, sizeof(buf), "%s", "12345678"), -ENAMETOOLONG);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_a_taken_name_is_never_replaced_by_taking),
	    T(test_release_removes_only_a_name_that_is_still_ones_own),
	    T(test_pointing_replaces_whatever_held_the_name),
	    T(test_unrecorded_claims_go_and_everything_else_stays),
	    T(test_check_names_what_is_wrong_with_the_dir),
	    T(test_sweep_removes_only_dead_workers_work_dirs),
	    T(test_a_path_too_long_is_an_error_not_a_cut),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
