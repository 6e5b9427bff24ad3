/* test_cgroup.c - job cgroups against the real kernel.
 *
 * Needs root and a usable cgroup setup; otherwise every test is skipped with the
 * reason. The main tests use whatever sandbox_cg_detect() finds (v1 on the hybrid
 * dev host, v2 in production); the v2-only tests use the cgroup2 mount at
 * /sys/fs/cgroup/unified when the host has one, where no controllers are
 * available, so they pin attach, CLONE_INTO_CGROUP, cgroup.kill and removal, and
 * that limits without a controller are refused.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/magic.h>
#include <linux/sched.h>

#include "cgroup_impl.h"
#include "cgroups.h"
#include "helpers.h"

#define V2_TEST_MOUNT "/sys/fs/cgroup/unified"

static struct sandbox_cg_env g_env;
static int g_ready;
static char g_why[600];
static char g_parent[64];

#define REQUIRE_CGROUPS()                                                                          \
	do {                                                                                       \
		if (!g_ready) {                                                                    \
			print_message("skipped: %s\n", g_why);                                     \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

/* Reap orphans handed to us as subreaper (daemons, fork-bomb children). */
static void reap_strays(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

static int group_setup(void **state)
{
	struct sandbox_cg_config cfg = {.need = SANDBOX_CG_REQUIRED};
	char err[512] = "";

	(void)state;
	if (geteuid() != 0) {
		snprintf(g_why, sizeof(g_why), "cgroup tests need root");
		return 0;
	}
	/* A private parent, removed at the end, so the tests never meet a real worker. */
	snprintf(g_parent, sizeof(g_parent), "reelbox-test-%d", (int)getpid());
	cfg.parent = g_parent;
	if (sandbox_cg_detect_with(&g_env, &cfg, err, sizeof(err)) < 0 ||
	    g_env.version == SANDBOX_CG_NONE) {
		snprintf(g_why, sizeof(g_why), "no usable cgroups here: %s", err);
		return 0;
	}
	/* orphaned daemons and fork-bomb children come back to us to be reaped */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	g_ready = 1;
	return 0;
}

/* Best effort after a failed test: kill what is left in dir's job cgroups and
 * remove them, then dir itself. */
static void remove_parent(const char *dir)
{
	char path[SANDBOX_CG_PATH + 300], *buf, *line, *save;
	DIR *d = opendir(dir);
	struct dirent *de;
	int i;

	while (d && (de = readdir(d))) {
		if (strncmp(de->d_name, "rbx-", 4))
			continue;
		snprintf(path, sizeof(path), "%s/%s/cgroup.procs", dir, de->d_name);
		for (i = 0; i < 50 && (buf = th_read_file(path, NULL)); i++) {
			int any = 0;
			save = NULL;
			for (line = strtok_r(buf, "\n", &save); line;
			     line = strtok_r(NULL, "\n", &save), any = 1)
				kill(atoi(line), SIGKILL); /* test-only: no pid-reuse guard */
			free(buf);
			if (!any)
				break;
			usleep(20000);
		}
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		for (i = 0; i < 50 && rmdir(path) < 0 && errno == EBUSY; i++)
			usleep(20000);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

static int group_teardown(void **state)
{
	int i;

	(void)state;
	for (i = 0; g_ready && i < g_env.nhier; i++)
		remove_parent(g_env.hier[i].parent);
	reap_strays();
	return 0;
}

/* Fork a child that waits on a pipe until it has been moved into cg, then
 * returns fn(arg) as its exit status: the same order the sandbox uses. */
static pid_t spawn_in(struct sandbox_cg *cg, int (*fn)(void *), void *arg)
{
	int p[2];
	pid_t pid;
	char c;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[1]);
		if (read(p[0], &c, 1) != 1)
			_exit(100);
		_exit(fn(arg));
	}
	close(p[0]);
	assert_int_equal(sandbox_cg_attach(cg, pid), 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	close(p[1]);
	return pid;
}

static struct sandbox_cg *create_or_fail(const struct sandbox_cg_env *env, const char *name,
					 const struct sandbox_cg_limits *lim)
{
	struct sandbox_cg *cg = NULL;
	char err[512] = "";
	int e = sandbox_cg_create(env, name, lim, &cg, err, sizeof(err));

	if (e)
		fail_msg("sandbox_cg_create: %s (%d)", err, e);
	return cg;
}

static int path_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* The job dir of cg in hierarchy i of env. */
static void job_path(const struct sandbox_cg_env *env, int i, const struct sandbox_cg *cg,
		     char *out, size_t len)
{
	snprintf(out, len, "%s/%s", env->hier[i].parent, sandbox_cg_name(cg));
}

static int count_procs(const char *dir)
{
	char path[SANDBOX_CG_PATH + 128], *buf, *p;
	int n = 0;

	if (snprintf(path, sizeof(path), "%s/cgroup.procs", dir) >= (int)sizeof(path))
		return -1;
	if (!(buf = th_read_file(path, NULL)))
		return -1;
	for (p = buf; *p; p++)
		n += *p == '\n';
	free(buf);
	return n;
}

/* ------------------------------------------------------------ child bodies */

static int sleep_forever(void *arg)
{
	(void)arg;
	alarm(20); /* a failed assertion must not leave it behind */
	for (;;)
		pause();
	return 0;
}

static int touch_200_mib(void *arg)
{
	size_t n = 200u << 20, i;
	volatile char *p =
	    mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	(void)arg;
	if (p == MAP_FAILED)
		return 2;
	for (i = 0; i < n; i += 4096)
		p[i] = 1;
	return 0; /* survived: the limit did not hold */
}

/* Fork *arg children that sleep; exit with how many forks succeeded. */
static int fork_many(void *arg)
{
	int n = *(int *)arg, ok = 0, i;

	for (i = 0; i < n; i++) {
		pid_t c = fork();
		if (c == 0)
			sleep_forever(NULL);
		if (c > 0)
			ok++;
	}
	return ok;
}

static int spin(void *arg)
{
	volatile unsigned long x = 0;

	(void)arg;
	alarm(20); /* a failed assertion must not leave it spinning */
	for (;;)
		x++;
	return 0;
}

/* Double-fork a daemon in a new session, report its pid on fd *arg, and exit. */
static int daemonize(void *arg)
{
	int fd = *(int *)arg;
	pid_t d = fork();

	if (d < 0)
		return 1;
	if (d == 0) {
		pid_t me;

		setsid();
		me = getpid();
		if (write(fd, &me, sizeof(me)) != sizeof(me))
			_exit(1);
		sleep_forever(NULL);
	}
	return 0;
}

/* ------------------------------------------------------------------- tests */

static void test_detect_picks_the_version_the_host_offers_with_memory_pids_cpu(void **state)
{
	struct sandbox_cg_env env;
	struct statfs sf;
	char err[512] = "";
	int i;

	(void)state;
	REQUIRE_CGROUPS();
	assert_int_equal(sandbox_cg_detect(&env, err, sizeof(err)), 0);
	assert_int_equal(statfs("/sys/fs/cgroup", &sf), 0);
	if (sf.f_type == CGROUP2_SUPER_MAGIC) {
		assert_int_equal(env.version, SANDBOX_CG_V2);
		assert_non_null(strstr(env.summary, "cgroup v2"));
	} else {
		/* hybrid or legacy: v1 memory, pids and cpu hierarchies */
		assert_int_equal(env.version, SANDBOX_CG_V1);
		assert_non_null(strstr(env.summary, "cgroup v1"));
		assert_true(env.nhier >= 3);
	}
	assert_int_equal(env.ctrls & SANDBOX_CG_REQUIRED, SANDBOX_CG_REQUIRED);
	assert_non_null(strstr(env.summary, "memory"));
	assert_non_null(strstr(env.summary, "pids"));
	assert_non_null(strstr(env.summary, "cpu"));
	print_message("detected: %s\n", env.summary);
	for (i = 0; i < env.nhier; i++) {
		assert_true(path_exists(env.hier[i].parent));
		rmdir(env.hier[i].parent); /* only if empty: a real worker's stays */
	}
}

static void test_memory_hog_is_oom_killed_and_reason_names_the_limit(void **state)
{
	struct sandbox_cg_limits lim = {.memory_bytes = 32u << 20};
	struct sandbox_cg_stats st;
	struct sandbox_cg *cg;
	char reason[128] = "";
	pid_t pid;
	int status;

	(void)state;
	REQUIRE_CGROUPS();
	cg = create_or_fail(&g_env, "oom", &lim);
	pid = spawn_in(cg, touch_200_mib, NULL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	assert_int_equal(sandbox_cg_stats(cg, &st), 0);
	assert_true(st.oom_kills >= 1);
	assert_true(st.memory_peak <= (32u << 20) + (1u << 20));
	assert_int_equal(sandbox_cg_limit_reason(cg, &st, reason, sizeof(reason)), 1);
	assert_string_equal(reason, "memory limit of 32 MB reached");
	assert_int_equal(sandbox_cg_destroy(cg), 0);
}

static void test_fork_bomb_stops_at_pids_limit_and_reason_names_it(void **state)
{
	struct sandbox_cg_limits lim = {.pids = 8};
	struct sandbox_cg_stats st;
	struct sandbox_cg *cg;
	char reason[128] = "";
	int n = 50, status;
	pid_t pid;

	(void)state;
	REQUIRE_CGROUPS();
	cg = create_or_fail(&g_env, "pids", &lim);
	pid = spawn_in(cg, fork_many, &n);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	/* the forker is one of the 8, so at most 7 children */
	assert_in_range(WEXITSTATUS(status), 1, 7);
	assert_int_equal(sandbox_cg_stats(cg, &st), 0);
	assert_true(st.pids_max_hits >= 1);
	assert_int_equal(st.oom_kills, 0);
	assert_int_equal(sandbox_cg_limit_reason(cg, &st, reason, sizeof(reason)), 1);
	assert_string_equal(reason, "process limit of 8 reached");
	assert_int_equal(sandbox_cg_destroy(cg), 0);
	reap_strays();
}

static void test_cpu_quota_holds_a_spinning_child_near_a_fifth_of_a_core(void **state)
{
	struct sandbox_cg_limits lim = {.cpus = 0.2};
	struct sandbox_cg_stats st;
	struct sandbox_cg *cg;
	int status;
	pid_t pid;

	(void)state;
	REQUIRE_CGROUPS();
	cg = create_or_fail(&g_env, "cpu", &lim);
	pid = spawn_in(cg, spin, NULL);
	sleep(1);
	assert_int_equal(sandbox_cg_stats(cg, &st), 0);
	assert_int_equal(sandbox_cg_kill(cg), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	print_message("cpu: %llu us used, %llu us throttled in about 1 s\n",
		      (unsigned long long)st.cpu_usage_usec,
		      (unsigned long long)st.cpu_throttled_usec);
	/* unlimited it would use about 1000000 us */
	assert_in_range(st.cpu_usage_usec, 50000, 300000);
	assert_true(st.cpu_throttled_usec > 0);
	assert_int_equal(sandbox_cg_limit_reason(cg, &st, (char[64]){0}, 64), 0);
	assert_int_equal(sandbox_cg_destroy(cg), 0);
}

static void test_destroy_kills_the_job_and_removes_its_dir_in_every_hierarchy(void **state)
{
	struct sandbox_cg_limits lim = {.memory_bytes = 64u << 20, .pids = 16, .cpus = 1};
	char path[SANDBOX_CG_NCTRL][SANDBOX_CG_PATH + 128];
	struct sandbox_cg *cg;
	int i, status;
	pid_t pid;

	(void)state;
	REQUIRE_CGROUPS();
	cg = create_or_fail(&g_env, NULL, &lim);
	assert_int_equal(strncmp(sandbox_cg_name(cg), "rbx-", 4), 0);
	for (i = 0; i < g_env.nhier; i++) {
		job_path(&g_env, i, cg, path[i], sizeof(path[i]));
		assert_true(path_exists(path[i]));
	}
	assert_string_equal(sandbox_cg_path(cg), path[0]);
	pid = spawn_in(cg, sleep_forever, NULL);
	assert_int_equal(sandbox_cg_destroy(cg), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	for (i = 0; i < g_env.nhier; i++)
		assert_false(path_exists(path[i]));
}

static void test_kill_empties_a_cgroup_whose_daemon_left_its_parent(void **state)
{
	struct sandbox_cg *cg;
	char path[SANDBOX_CG_PATH + 128];
	int p[2], status;
	pid_t pid, daemon;

	(void)state;
	REQUIRE_CGROUPS();
	cg = create_or_fail(&g_env, "daemon", &(struct sandbox_cg_limits){.pids = 16});
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = spawn_in(cg, daemonize, &p[1]);
	close(p[1]);
	assert_int_equal(read(p[0], &daemon, sizeof(daemon)), sizeof(daemon));
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	job_path(&g_env, 0, cg, path, sizeof(path));
	assert_int_equal(count_procs(path), 1); /* the daemon, now in its own session */

	assert_int_equal(sandbox_cg_kill(cg), 0);
	assert_int_equal(count_procs(path), 0);
	assert_int_equal(waitpid(daemon, &status, 0), daemon);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	assert_int_equal(sandbox_cg_kill(cg), 0); /* again: harmless */
	assert_int_equal(sandbox_cg_destroy(cg), 0);
}

static void test_sweep_removes_only_cgroups_whose_owner_pid_is_dead(void **state)
{
	char dead_dir[SANDBOX_CG_NCTRL][SANDBOX_CG_PATH + 64];
	char live_dir[SANDBOX_CG_NCTRL][SANDBOX_CG_PATH + 64];
	char other[SANDBOX_CG_PATH + 128];
	struct sandbox_cg *ours;
	pid_t dead, sleeper;
	int i, status;

	(void)state;
	REQUIRE_CGROUPS();
	/* a pid that is certainly dead: a child we have reaped */
	dead = fork();
	assert_true(dead >= 0);
	if (dead == 0)
		_exit(0);
	assert_int_equal(waitpid(dead, NULL, 0), dead);

	sleeper = fork();
	assert_true(sleeper >= 0);
	if (sleeper == 0)
		sleep_forever(NULL);
	for (i = 0; i < g_env.nhier; i++) {
		char pid[16];

		/* as a crashed worker would have left it, with a process still inside */
		snprintf(dead_dir[i], sizeof(dead_dir[i]), "%s/rbx-%d-7-crashed",
			 g_env.hier[i].parent, (int)dead);
		assert_int_equal(mkdir(dead_dir[i], 0755), 0);
		assert_true(snprintf(other, sizeof(other), "%s/cgroup.procs", dead_dir[i]) <
			    (int)sizeof(other));
		snprintf(pid, sizeof(pid), "%d", (int)sleeper);
		assert_int_equal(th_write_file(other, pid, strlen(pid), 0644), 0);
		/* pid 1 is alive: its job must stay */
		snprintf(live_dir[i], sizeof(live_dir[i]), "%s/rbx-1-3", g_env.hier[i].parent);
		assert_int_equal(mkdir(live_dir[i], 0755), 0);
	}
	ours = create_or_fail(&g_env, "ours", NULL);

	assert_int_equal(sandbox_cg_sweep(&g_env), 1);
	assert_int_equal(waitpid(sleeper, &status, 0), sleeper);
	assert_true(WIFSIGNALED(status));
	for (i = 0; i < g_env.nhier; i++) {
		assert_false(path_exists(dead_dir[i]));
		assert_true(path_exists(live_dir[i]));
		job_path(&g_env, i, ours, other, sizeof(other));
		assert_true(path_exists(other));
		rmdir(live_dir[i]);
	}
	assert_int_equal(sandbox_cg_destroy(ours), 0);
}

static void test_create_rejects_a_name_that_could_leave_the_parent(void **state)
{
	struct sandbox_cg *cg = (struct sandbox_cg *)1;
	char err[256] = "";

	(void)state;
	REQUIRE_CGROUPS();
	assert_int_equal(sandbox_cg_create(&g_env, "../../escape", NULL, &cg, err, sizeof(err)),
			 -EINVAL);
	assert_null(cg);
	assert_non_null(strstr(err, "../../escape"));
}

/* -------------------------------------------------------- cgroup v2 only */

static int v2_env(struct sandbox_cg_env *env, unsigned need, char *err, size_t len)
{
	struct sandbox_cg_config cfg = {
	    .v2_mount = V2_TEST_MOUNT, .parent = g_parent, .need = need, .only = SANDBOX_CG_V2};
	struct statfs sf;

	if (statfs(V2_TEST_MOUNT, &sf) < 0 || sf.f_type != CGROUP2_SUPER_MAGIC)
		return -ENOENT;
	return sandbox_cg_detect_with(env, &cfg, err, len);
}

static int in_cgroup(pid_t pid, const char *rel)
{
	char path[64], want[SANDBOX_CG_PATH + 160], *buf;
	int in;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	snprintf(want, sizeof(want), "0::%s\n", rel);
	if (!(buf = th_read_file(path, NULL)))
		return 0;
	in = strstr(buf, want) != NULL;
	free(buf);
	return in;
}

static void test_v2_job_takes_attach_and_clone_into_cgroup_and_dies_by_cgroup_kill(void **state)
{
	struct sandbox_cg_env env;
	struct clone_args args = {.flags = CLONE_INTO_CGROUP, .exit_signal = SIGCHLD};
	char err[512] = "", rel[SANDBOX_CG_PATH + 128], path[SANDBOX_CG_PATH + 128];
	struct sandbox_cg *cg;
	pid_t a, b;
	int status;

	(void)state;
	REQUIRE_CGROUPS();
	if (v2_env(&env, 0, err, sizeof(err))) {
		print_message("skipped: no private cgroup2 mount at " V2_TEST_MOUNT ": %s\n", err);
		skip();
	}
	assert_int_equal(env.version, SANDBOX_CG_V2);
	cg = create_or_fail(&env, "v2", NULL);
	snprintf(rel, sizeof(rel), "%s/%s", env.hier[0].rel, sandbox_cg_name(cg));
	job_path(&env, 0, cg, path, sizeof(path));

	a = spawn_in(cg, sleep_forever, NULL);
	assert_true(in_cgroup(a, rel));
	assert_true(sandbox_cg_dirfd(cg) >= 0);
	args.cgroup = (uint64_t)sandbox_cg_dirfd(cg);
	b = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
	assert_true(b >= 0);
	if (b == 0)
		sleep_forever(NULL);
	assert_true(in_cgroup(b, rel));
	assert_int_equal(count_procs(path), 2);

	assert_int_equal(sandbox_cg_kill(cg), 0);
	assert_int_equal(count_procs(path), 0);
	assert_int_equal(waitpid(a, &status, 0), a);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_int_equal(waitpid(b, &status, 0), b);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_int_equal(sandbox_cg_destroy(cg), 0);
	assert_false(path_exists(path));
	rmdir(env.hier[0].parent);
}

static void test_v2_without_controllers_refuses_limits_with_a_sentence(void **state)
{
	struct sandbox_cg_env env;
	struct sandbox_cg *cg = NULL;
	char err[512] = "", parent[SANDBOX_CG_PATH];
	int e;

	(void)state;
	REQUIRE_CGROUPS();
	if (v2_env(&env, 0, err, sizeof(err))) {
		print_message("skipped: no private cgroup2 mount at " V2_TEST_MOUNT ": %s\n", err);
		skip();
	}
	if (env.ctrls & SANDBOX_CG_MEMORY) {
		rmdir(env.hier[0].parent);
		print_message("skipped: this cgroup2 mount has a memory controller\n");
		skip();
	}
	snprintf(parent, sizeof(parent), "%s", env.hier[0].parent);
	e = sandbox_cg_create(&env, NULL, &(struct sandbox_cg_limits){.memory_bytes = 1 << 26}, &cg,
			      err, sizeof(err));
	assert_int_equal(e, -EOPNOTSUPP);
	assert_null(cg);
	assert_non_null(strstr(err, "memory"));

	/* and detection that needs them says which one is missing */
	e = v2_env(&env, SANDBOX_CG_REQUIRED, err, sizeof(err));
	assert_true(e < 0);
	print_message("v2 refusal: %s\n", err);
	assert_non_null(strstr(err, "does not offer the memory controller"));
	rmdir(parent);
}

/* Detection reads /proc/self/cgroup and mountinfo once (cg_snapshot_take) and looks
 * every hierarchy up in that text: each lookup must answer as a read of the file does,
 * and a text above its bound is refused, not read. Needs no cgroups. */
static void test_snapshot_answers_as_the_proc_files_do_and_is_bounded(void **state)
{
	static const char *const ctrls[] = {"memory", "pids", "cpu", "cpuacct", "freezer", NULL};
	char direct[SANDBOX_CG_PATH], snap[SANDBOX_CG_PATH], m1[SANDBOX_CG_PATH],
	    r1[SANDBOX_CG_PATH], m2[SANDBOX_CG_PATH], r2[SANDBOX_CG_PATH];
	char big[] = "/tmp/rb-cgtext-XXXXXX";
	struct cg_text t;
	int fd;

	(void)state;
	for (size_t i = 0; i < sizeof(ctrls) / sizeof(ctrls[0]); i++) {
		int e1 = cg_own_path(ctrls[i], direct, sizeof(direct));
		int f1 = cg_find_mount(ctrls[i] ? "cgroup" : "cgroup2", ctrls[i], NULL, m1, r1,
				       sizeof(m1));

		assert_int_equal(cg_snapshot_take(), 0);
		assert_int_equal(cg_own_path(ctrls[i], snap, sizeof(snap)), e1);
		assert_int_equal(cg_find_mount(ctrls[i] ? "cgroup" : "cgroup2", ctrls[i], NULL, m2,
					       r2, sizeof(m2)),
				 f1);
		cg_snapshot_drop();
		if (!e1)
			assert_string_equal(snap, direct);
		if (!f1) {
			assert_string_equal(m2, m1);
			assert_string_equal(r2, r1);
		}
	}
	/* Dropped: the files are read again. */
	assert_int_equal(cg_own_path("no-such-controller", snap, sizeof(snap)), -ENOENT);

	fd = mkstemp(big);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, CG_TEXT_MAX + 1), 0);
	close(fd);
	assert_int_equal(cg_text_read(big, &t), -EFBIG);
	assert_null(t.buf);
	unlink(big);
	assert_int_equal(cg_text_read("/nonexistent/rb-cgroup", &t), -ENOENT);
	t = (struct cg_text){0};
	assert_int_equal(cg_own_path_text(&t, "memory", snap, sizeof(snap)), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_snapshot_answers_as_the_proc_files_do_and_is_bounded),
	    cmocka_unit_test(test_detect_picks_the_version_the_host_offers_with_memory_pids_cpu),
	    cmocka_unit_test(test_memory_hog_is_oom_killed_and_reason_names_the_limit),
	    cmocka_unit_test(test_fork_bomb_stops_at_pids_limit_and_reason_names_it),
	    cmocka_unit_test(test_cpu_quota_holds_a_spinning_child_near_a_fifth_of_a_core),
	    cmocka_unit_test(test_destroy_kills_the_job_and_removes_its_dir_in_every_hierarchy),
	    cmocka_unit_test(test_kill_empties_a_cgroup_whose_daemon_left_its_parent),
	    cmocka_unit_test(test_sweep_removes_only_cgroups_whose_owner_pid_is_dead),
	    cmocka_unit_test(test_create_rejects_a_name_that_could_leave_the_parent),
	    cmocka_unit_test(
		test_v2_job_takes_attach_and_clone_into_cgroup_and_dies_by_cgroup_kill),
	    cmocka_unit_test(test_v2_without_controllers_refuses_limits_with_a_sentence),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
