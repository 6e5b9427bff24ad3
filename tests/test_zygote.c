/* test_zygote.c - sandboxes cloned by a zygote process (sandbox.h, "zygotes").
 *
 * Each test forks a zygote from this process (a socketpair, the child serving it with
 * sandbox_zygote_serve) whose command is one of the C functions below, selected through
 * the opaque pointer: it runs as pid 2 of each sandbox, forked from the zygote's image,
 * and reports on its stdout. The claims are those test_sandbox.c makes of a cold start:
 * the same ids, root, filter, limits and cleanup.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "sandbox.h"

static const char *const base_env[] = {"PATH=/usr/bin:/bin", "HOME=/scratch", NULL};
static const char *const zygote_argv[] = {"/zygote-command", NULL};

/* A host file the command must not see (set before the zygote forks: it inherits it). */
static char host_only[128];

/* ---- the commands: pid 2 of a sandbox, plain libc, never return -------------------- */

typedef void (*command_fn)(void);

static void serve_command(void *opaque)
{
	command_fn fn;

	memcpy(&fn, &opaque, sizeof(fn));
	fn();
	_exit(126);
}

static void cmd_ids(void)
{
	dprintf(1, "pid=%d uid=%d gid=%d\n", (int)getpid(), (int)getuid(), (int)getgid());
	_exit(7);
}

/* The numeric entries of a /proc dir, space separated; fds says the dir lists
 * descriptors (its own is left out). */
static void list_numeric(const char *path, int fds, char *buf, size_t len)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int nums[64], n = 0;
	size_t at = 0;

	buf[0] = '\0';
	if (!d) {
		snprintf(buf, len, "(%s: %s)", path, strerror(errno));
		return;
	}
	while ((de = readdir(d)) && n < 64) {
		char *end;
		long v = strtol(de->d_name, &end, 10);
		if (de->d_name[0] < '0' || de->d_name[0] > '9' || *end || (fds && v == dirfd(d)))
			continue;
		nums[n++] = (int)v;
	}
	closedir(d);
	for (int i = 0; i < n; i++) /* insertion sort: readdir's order is the fs's */
		for (int j = i; j > 0 && nums[j - 1] > nums[j]; j--) {
			int t = nums[j];
			nums[j] = nums[j - 1];
			nums[j - 1] = t;
		}
	for (int i = 0; i < n && at + 12 < len; i++)
		at += (size_t)snprintf(buf + at, len - at, "%s%d", i ? " " : "", nums[i]);
}

/* The value of a "Name:\tvalue" line of /proc/self/status. */
static void status_field(const char *name, char *buf, size_t len)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	size_t n = strlen(name);

	snprintf(buf, len, "(none)");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, n) && line[n] == ':') {
			char *v = line + n + 1;
			v += strspn(v, " \t");
			v[strcspn(v, "\n")] = '\0';
			snprintf(buf, len, "%s", v);
			break;
		}
	fclose(f);
}

static void cmd_view(void)
{
	char host[64], procs[256], fds[256], capeff[64], capbnd[64], nnp[16], sec[16], cwd[64];
	char cg[256];
	struct timespec t0, t;
	const char *init_mem = "hidden";
	int fd, e;

	/* The init is executed beside this command (pid 1 forked it first): from the very
	 * start, and while it sets itself up, its memory must be out of reach. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		fd = open("/proc/1/mem", O_RDWR);
		if (fd >= 0) {
			close(fd);
			init_mem = "OPENED";
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < 200);
	fd = open(host_only, O_RDONLY);
	e = errno;

	gethostname(host, sizeof(host));
	list_numeric("/proc", 0, procs, sizeof(procs));
	list_numeric("/proc/self/fd", 1, fds, sizeof(fds));
	status_field("CapEff", capeff, sizeof(capeff));
	status_field("CapBnd", capbnd, sizeof(capbnd));
	status_field("NoNewPrivs", nnp, sizeof(nnp));
	status_field("Seccomp", sec, sizeof(sec));
	if (!getcwd(cwd, sizeof(cwd)))
		snprintf(cwd, sizeof(cwd), "(%s)", strerror(errno));
	/* Its cgroup namespace is rooted at its own cgroup, as a cold child's, not at the
	 * zygote's (which would show the worker's pid and a count of sandboxes). */
	{
		char line[256];
		FILE *f = fopen("/proc/self/cgroup", "re");
		snprintf(cg, sizeof(cg), "root");
		while (f && fgets(line, sizeof(line), f)) {
			line[strcspn(line, "\n")] = '\0';
			if (strcmp(strrchr(line, ':') ? strrchr(line, ':') : line, ":/")) {
				snprintf(cg, sizeof(cg), "%s", line);
				break;
			}
		}
		if (f)
			fclose(f);
	}
	dprintf(1,
		"init mem: %s\nhost file: %s\nhostname: %s\nprocs: %s\nfds: %s\nCapEff: %s\n"
		"CapBnd: %s\nNoNewPrivs: %s\nSeccomp: %s\ncwd: %s\ncgroup: %s\n",
		init_mem, fd >= 0 ? "visible" : strerror(e), host, procs, fds, capeff, capbnd, nnp,
		sec, cwd, cg);
	_exit(0);
}

static void cmd_inet_socket(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	dprintf(1, "%d %d\n", fd, fd < 0 ? errno : 0);
	_exit(0);
}

static void cmd_sleep_forever(void)
{
	dprintf(1, "ready\n");
	for (;;)
		pause();
}

/* Fork until refused; each child waits for its parent's end. Prints how many forks
 * succeeded and why the next failed, then exits. */
static void cmd_fork_until_refused(void)
{
	int n = 0, e = 0;

	for (; n < 64; n++) {
		pid_t p = fork();
		if (p == 0) {
			for (;;)
				pause();
		}
		if (p < 0) {
			e = errno;
			break;
		}
	}
	dprintf(1, "forked %d: %s\n", n, e ? strerror(e) : "never refused");
	_exit(0);
}

/* Burn about 300 ms of cpu, say so, then wait for stdin to close. */
static void cmd_burn_then_wait(void)
{
	struct timespec t0, t;
	volatile unsigned long x = 0;
	char c;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	do {
		for (int i = 0; i < 100000; i++)
			x += (unsigned long)i;
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < 300);
	dprintf(1, "burnt\n");
	while (read(0, &c, 1) > 0)
		;
	_exit(0);
}

/* Say "ready", read stdin to its end and echo it; exit with its first byte's digit. */
static void cmd_echo_stdin(void)
{
	char buf[256];
	size_t len = 0;
	ssize_t n;

	dprintf(1, "ready\n");
	while (len < sizeof(buf) - 1 && (n = read(0, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	dprintf(1, "got %s\n", buf);
	_exit(len && buf[0] >= '0' && buf[0] <= '9' ? buf[0] - '0' : 99);
}

/* ---- the zygote -------------------------------------------------------------------- */

struct zygote {
	pid_t pid;
	struct sandbox_zygote *z;
};

static void zygote_start(struct zygote *zg, command_fn fn)
{
	void *opaque;
	int sv[2];

	memcpy(&opaque, &fn, sizeof(fn));
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	zg->pid = fork();
	assert_true(zg->pid >= 0);
	if (zg->pid == 0) {
		int r;
		close(sv[0]);
		r = sandbox_zygote_serve(sv[1], serve_command, opaque);
		_exit(r == 0 ? 0 : 100 + (-r & 63));
	}
	close(sv[1]);
	zg->z = sandbox_zygote_new(sv[0]);
	assert_non_null(zg->z);
}

/* Close our end: the zygote stops serving, waits for its sandboxes, returns 0. */
static void zygote_stop(struct zygote *zg)
{
	int st;

	sandbox_zygote_free(zg->z);
	zg->z = NULL;
	assert_int_equal(waitpid(zg->pid, &st, 0), zg->pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("the zygote ended with status 0x%x", st);
}

/* ---- running one sandbox ----------------------------------------------------------- */

struct run {
	struct sandbox_spec spec;
	char *state_dir;
	int in[2], out[2];
	struct sandbox *sb;
	char err[256];
	char out_buf[4096];
	struct sandbox_result res;
	unsigned n_denied;
	char denied[1024];
};

static void collect_denied(void *opaque, const char *msg)
{
	struct run *r = opaque;
	size_t n = strlen(r->denied);

	r->n_denied++;
	snprintf(r->denied + n, sizeof(r->denied) - n, "%s\n", msg);
}

static void run_init(struct run *r, struct zygote *zg, const char *state_dir)
{
	memset(r, 0, sizeof(*r));
	r->state_dir = state_dir ? strdup(state_dir) : th_tmpdir("zygote");
	assert_non_null(r->state_dir);
	r->in[0] = r->in[1] = r->out[0] = r->out[1] = -1;
	r->spec.argv = zygote_argv;
	r->spec.envp = base_env;
	r->spec.stdin_fd = -1;
	r->spec.stderr_fd = -1;
	r->spec.state_dir = r->state_dir;
	r->spec.zygote = zg->z;
	r->spec.on_denied = collect_denied;
	r->spec.denied_opaque = r;
}

/* Start with stdout (and stdin when with_stdin) a pipe of ours; the rc of the start. */
static int run_start(struct run *r, int with_stdin)
{
	int rc;

	assert_int_equal(pipe2(r->out, O_CLOEXEC), 0);
	if (with_stdin)
		assert_int_equal(pipe2(r->in, O_CLOEXEC), 0);
	r->spec.stdout_fd = r->out[1];
	r->spec.stdin_fd = r->in[0];
	rc = sandbox_start(&r->spec, &r->sb, r->err, sizeof(r->err));
	close(r->out[1]);
	r->out[1] = -1;
	if (r->in[0] >= 0)
		close(r->in[0]);
	r->in[0] = -1;
	if (rc < 0) {
		close(r->out[0]);
		r->out[0] = -1;
		if (r->in[1] >= 0)
			close(r->in[1]);
		r->in[1] = -1;
	}
	return rc;
}

static void run_start_ok(struct run *r, int with_stdin)
{
	if (run_start(r, with_stdin) < 0)
		fail_msg("sandbox_start: %s", r->err);
}

/* Read one line of stdout (the command's "ready"), within 10 s. */
static void read_line(struct run *r, char *buf, size_t len)
{
	size_t at = 0;

	while (at + 1 < len) {
		struct pollfd p = {.fd = r->out[0], .events = POLLIN};
		ssize_t n;
		assert_int_equal(poll(&p, 1, 10000), 1);
		n = read(r->out[0], buf + at, 1);
		assert_int_equal(n, 1);
		if (buf[at++] == '\n')
			break;
	}
	buf[at] = '\0';
}

/* Wait for the end (sandbox_wait answers denied calls), then read what stdout kept. */
static void run_wait(struct run *r)
{
	size_t at = strlen(r->out_buf);
	ssize_t n;

	if (r->in[1] >= 0)
		close(r->in[1]);
	r->in[1] = -1;
	assert_int_equal(sandbox_wait(r->sb, &r->res), 0);
	while (at + 1 < sizeof(r->out_buf) &&
	       (n = read(r->out[0], r->out_buf + at, sizeof(r->out_buf) - 1 - at)) > 0)
		at += (size_t)n;
	r->out_buf[at] = '\0';
	close(r->out[0]);
	r->out[0] = -1;
}

static void run_destroy(struct run *r)
{
	sandbox_destroy(r->sb);
	r->sb = NULL;
}

static void run_cleanup(struct run *r)
{
	th_rm_rf(r->state_dir);
	free(r->state_dir);
	r->state_dir = NULL;
}

static void run_one(struct zygote *zg, struct run *r)
{
	run_init(r, zg, NULL);
	run_start_ok(r, 0);
	run_wait(r);
	run_destroy(r);
}

/* ---- host-side views --------------------------------------------------------------- */

/* pid 1's only child on the host: the command (pid 2 inside). */
static pid_t command_host_pid(pid_t init)
{
	char path[64], *text;
	size_t len;
	pid_t p = -1;

	for (int i = 0; i < 200 && p <= 0; i++) {
		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)init, (int)init);
		text = th_read_file(path, &len);
		if (text && len)
			p = (pid_t)atoi(text);
		free(text);
		if (p <= 0)
			usleep(10000);
	}
	return p;
}

/* The host dirs of pid's job cgroup(s) (as test_sandbox.c's find_cgroup_dirs). */
static int cgroup_dirs(pid_t pid, char dirs[][512], int max)
{
	char path[64], *text, *line, *save = NULL;
	size_t len;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	text = th_read_file(path, &len);
	assert_non_null(text);
	for (line = strtok_r(text, "\n", &save); line && n < max;
	     line = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		struct stat st;

		if (!c2 || !strstr(c2, "/rbx-"))
			continue;
		*c2 = '\0';
		snprintf(dirs[n], 512, "/sys/fs/cgroup%s%s%s", c1[1] ? "/" : "", c1 + 1, c2 + 1);
		if (stat(dirs[n], &st) == 0 && S_ISDIR(st.st_mode))
			n++;
	}
	free(text);
	return n;
}

/* How many job cgroups of this process (rbx-<pid>-<seq>) are beside dir. */
static int count_own_cgroups(const char *dir)
{
	char parent[4096], prefix[32];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(parent, sizeof(parent), "%s", dir);
	*strrchr(parent, '/') = '\0';
	snprintf(prefix, sizeof(prefix), "rbx-%d-", (int)getpid());
	d = opendir(parent);
	assert_non_null(d);
	while ((de = readdir(d)))
		n += !strncmp(de->d_name, prefix, strlen(prefix));
	closedir(d);
	return n;
}

/* Gone and reaped (the zygote reaps pid 1 on its next poll round): ESRCH, no zombie. */
static int gone_within(pid_t pid, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		if (kill(pid, 0) < 0 && errno == ESRCH)
			return 1;
		usleep(10000);
	}
	return kill(pid, 0) < 0 && errno == ESRCH;
}

/* ---- 1. the command runs, as pid 2 and the script's user -------------------------- */

static void test_zygote_sandbox_runs_the_command(void **state)
{
	struct zygote zg;
	struct run r;

	zygote_start(&zg, cmd_ids);
	run_one(&zg, &r);
	assert_string_equal(r.out_buf, "pid=2 uid=1000 gid=1000\n");
	assert_int_equal(r.res.end, SANDBOX_EXITED);
	assert_int_equal(r.res.exit_code, 7);
	assert_int_equal(r.res.signal, 0);
	assert_string_equal(r.res.reason, "");
	assert_int_equal(r.res.denied_calls, 0);
	run_cleanup(&r);
	zygote_stop(&zg);
}

/* ---- 2. the command's view is the sandbox's ---------------------------------------- */

static void test_command_sees_the_sandbox_not_the_host(void **state)
{
	struct zygote zg;
	struct run r;
	int fd;

	snprintf(host_only, sizeof(host_only), "/tmp/reelbox-zygote-host-only-%d-XXXXXX",
		 (int)getpid());
	fd = mkstemp(host_only);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(chmod(host_only, 0644), 0); /* readable by anyone on the host */
	zygote_start(&zg, cmd_view);
	run_one(&zg, &r);
	unlink(host_only);
	assert_int_equal(r.res.exit_code, 0);
	/* The init, pid 1, is not dumpable and so not listed (as in a cold sandbox). */
	assert_string_equal(r.out_buf, "init mem: hidden\n"
				       "host file: No such file or directory\n"
				       "hostname: reelbox\n"
				       "procs: 2\n"
				       "fds: 0 1 2\n"
				       "CapEff: 0000000000000000\n"
				       "CapBnd: 0000000000000000\n"
				       "NoNewPrivs: 1\n"
				       "Seccomp: 2\n"
				       "cwd: /scratch\n"
				       "cgroup: root\n");
	run_cleanup(&r);
	zygote_stop(&zg);
}

/* ---- 3. the seccomp filter holds, and the denial is counted ------------------------ */

static void test_seccomp_filter_holds_in_the_command(void **state)
{
	static const char want[] =
	    "denied socket(AF_INET): network access; only AF_UNIX sockets exist inside";
	struct zygote zg;
	struct run r;
	char line[64];

	zygote_start(&zg, cmd_inet_socket);
	run_init(&r, &zg, NULL);
	r.spec.limits.timeout_ms = 10000;
	run_start_ok(&r, 0);
	assert_true(sandbox_notify_fd(r.sb) >= 0);
	run_wait(&r);
	run_destroy(&r);
	snprintf(line, sizeof(line), "-1 %d\n", EAFNOSUPPORT); /* the policy's answer */
	assert_string_equal(r.out_buf, line);
	assert_int_equal(r.res.exit_code, 0);
	assert_int_equal(r.res.denied_calls, 1);
	assert_string_equal(r.res.last_denied, want);
	assert_int_equal(r.n_denied, 1);
	assert_string_equal(r.denied, "denied socket(AF_INET): network access; only AF_UNIX "
				      "sockets exist inside\n");
	run_cleanup(&r);
	zygote_stop(&zg);
}

/* ---- 4. the wall clock and sandbox_kill ------------------------------------------- */

static void test_timeout_and_kill_end_the_command(void **state)
{
	struct zygote zg;
	struct run r;
	char line[32];

	zygote_start(&zg, cmd_sleep_forever);

	run_init(&r, &zg, NULL);
	r.spec.limits.timeout_ms = 300;
	run_start_ok(&r, 0);
	run_wait(&r);
	run_destroy(&r);
	assert_string_equal(r.out_buf, "ready\n");
	assert_int_equal(r.res.end, SANDBOX_TIMEOUT);
	assert_int_equal(r.res.exit_code, -1);
	assert_int_equal(r.res.signal, SIGKILL);
	assert_string_equal(r.res.reason, "wall-clock timeout of 300 ms reached");
	assert_true(r.res.wall_ms >= 300);
	assert_true(r.res.wall_ms < 3300);
	run_cleanup(&r);

	run_init(&r, &zg, NULL);
	run_start_ok(&r, 0);
	read_line(&r, line, sizeof(line));
	assert_string_equal(line, "ready\n");
	assert_int_equal(sandbox_time_left_ms(r.sb), UINT64_MAX);
	assert_int_equal(sandbox_try_reap(r.sb, &r.res), -EAGAIN);
	assert_int_equal(sandbox_kill(r.sb, SANDBOX_KILLED, "cancelled by the user"), 0);
	assert_int_equal(sandbox_kill(r.sb, SANDBOX_TIMEOUT, "second call is ignored"), 0);
	run_wait(&r);
	assert_int_equal(sandbox_kill(r.sb, SANDBOX_KILLED, "after the end"), 0);
	run_destroy(&r);
	assert_int_equal(r.res.end, SANDBOX_KILLED);
	assert_int_equal(r.res.exit_code, -1);
	assert_string_equal(r.res.reason, "cancelled by the user");
	run_cleanup(&r);
	zygote_stop(&zg);
}

/* ---- 5. the cgroup holds the command ---------------------------------------------- */

static void test_cgroup_holds_the_command(void **state)
{
	char init_dirs[8][512], cmd_dirs[8][512], line[64];
	uint64_t peak = 0, cpu = 0;
	struct zygote zg;
	struct run r;
	pid_t cmd;
	int n_init, n_cmd;

	/* The command is in the job's cgroup(s), as pid 1 is, and the cgroup counts it. */
	zygote_start(&zg, cmd_burn_then_wait);
	run_init(&r, &zg, NULL);
	r.spec.limits.pids = 8;
	r.spec.limits.memory_bytes = 64 << 20;
	r.spec.limits.timeout_ms = 20000;
	run_start_ok(&r, 1);
	read_line(&r, line, sizeof(line));
	assert_string_equal(line, "burnt\n");
	n_init = cgroup_dirs(sandbox_pid(r.sb), init_dirs, 8);
	if (n_init == 0) {
		print_message("skipped: the sandbox ran in no job cgroup (no usable cgroups)\n");
		run_wait(&r);
		run_destroy(&r);
		run_cleanup(&r);
		zygote_stop(&zg);
		skip();
	}
	cmd = command_host_pid(sandbox_pid(r.sb));
	assert_true(cmd > 0);
	n_cmd = cgroup_dirs(cmd, cmd_dirs, 8);
	assert_int_equal(n_cmd, n_init);
	for (int i = 0; i < n_init; i++)
		assert_string_equal(cmd_dirs[i], init_dirs[i]);
	assert_int_equal(sandbox_usage(r.sb, &peak, &cpu), 0);
	assert_true(cpu >= 250); /* the command's 300 ms of cpu, as the cgroup counts */
	run_wait(&r);
	run_destroy(&r);
	assert_int_equal(r.res.exit_code, 0);
	assert_true(r.res.cpu_ms >= 250);
	assert_true(r.res.peak_memory_bytes > 0);
	for (int i = 0; i < n_init; i++)
		if (access(init_dirs[i], F_OK) == 0 || errno != ENOENT)
			fail_msg("%s is still there after sandbox_destroy()", init_dirs[i]);
	run_cleanup(&r);
	zygote_stop(&zg);

	/* pids.max: the init and the command count, so two forks of four. */
	zygote_start(&zg, cmd_fork_until_refused);
	run_init(&r, &zg, NULL);
	r.spec.limits.pids = 4;
	r.spec.limits.timeout_ms = 10000;
	run_start_ok(&r, 0);
	run_wait(&r);
	run_destroy(&r);
	assert_string_equal(r.out_buf, "forked 2: Resource temporarily unavailable\n");
	assert_int_equal(r.res.exit_code, 0);
	assert_true(r.res.wall_ms < 5000); /* the forked children died with the command */
	run_cleanup(&r);
	zygote_stop(&zg);
}

/* ---- 6. destroy leaves nothing ----------------------------------------------------- */

static void test_destroy_leaves_no_state_and_no_process(void **state)
{
	struct zygote zg;
	struct run r;
	struct dirent *de;
	DIR *d;
	char line[32];
	pid_t init, cmd;
	int n = 0;

	zygote_start(&zg, cmd_sleep_forever);
	run_init(&r, &zg, NULL);
	run_start_ok(&r, 0);
	read_line(&r, line, sizeof(line));
	assert_string_equal(line, "ready\n");
	/* One private dir for it while it runs, none after. */
	d = opendir(r.state_dir);
	assert_non_null(d);
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	assert_int_equal(n, 1);
	init = sandbox_pid(r.sb);
	cmd = command_host_pid(init);
	assert_true(init > 0 && cmd > 0);
	assert_int_equal(kill(init, 0), 0);
	assert_int_equal(kill(cmd, 0), 0);
	close(r.out[0]);
	r.out[0] = -1;
	run_destroy(&r); /* running: killed, then purged */
	assert_int_equal(th_count_entries(r.state_dir), 0);
	if (!gone_within(init, 2000))
		fail_msg("pid 1 (%d) is still there after sandbox_destroy()", (int)init);
	if (!gone_within(cmd, 2000))
		fail_msg("the command (%d) is still there after sandbox_destroy()", (int)cmd);
	run_cleanup(&r);

	/* And after a command that ended by itself. */
	zygote_stop(&zg);
	zygote_start(&zg, cmd_ids);
	run_init(&r, &zg, NULL);
	run_start_ok(&r, 0);
	init = sandbox_pid(r.sb);
	run_wait(&r);
	run_destroy(&r);
	assert_int_equal(r.res.exit_code, 7);
	assert_int_equal(th_count_entries(r.state_dir), 0);
	if (!gone_within(init, 2000))
		fail_msg("pid 1 (%d) is still there after sandbox_destroy()", (int)init);
	run_cleanup(&r);
	zygote_stop(&zg);
}

/* ---- 7. the zygote keeps serving --------------------------------------------------- */

static void test_zygote_serves_one_after_another_and_two_at_once(void **state)
{
	struct zygote zg;
	struct run r, a, b;
	char line[32], want[32];
	pid_t seen[3];

	zygote_start(&zg, cmd_echo_stdin);
	for (int i = 0; i < 3; i++) {
		char in = (char)('1' + i);
		run_init(&r, &zg, NULL);
		run_start_ok(&r, 1);
		seen[i] = sandbox_pid(r.sb);
		for (int j = 0; j < i; j++)
			assert_true(seen[j] != seen[i]);
		assert_int_equal(write(r.in[1], &in, 1), 1);
		run_wait(&r);
		run_destroy(&r);
		snprintf(want, sizeof(want), "ready\ngot %c\n", in);
		assert_string_equal(r.out_buf, want);
		assert_int_equal(r.res.end, SANDBOX_EXITED);
		assert_int_equal(r.res.exit_code, 1 + i);
		assert_int_equal(th_count_entries(r.state_dir), 0);
		run_cleanup(&r);
	}

	/* Two at once: both running (each said ready and waits on its stdin), then each
	 * told its own exit code, and both waited. */
	run_init(&a, &zg, NULL);
	run_init(&b, &zg, NULL);
	a.spec.slot = 1;
	b.spec.slot = 2;
	run_start_ok(&a, 1);
	run_start_ok(&b, 1);
	assert_true(sandbox_pid(a.sb) != sandbox_pid(b.sb));
	read_line(&a, line, sizeof(line));
	assert_string_equal(line, "ready\n");
	read_line(&b, line, sizeof(line));
	assert_string_equal(line, "ready\n");
	assert_int_equal(sandbox_try_reap(a.sb, NULL), -EAGAIN);
	assert_int_equal(sandbox_try_reap(b.sb, NULL), -EAGAIN);
	assert_int_equal(write(a.in[1], "4", 1), 1);
	assert_int_equal(write(b.in[1], "5", 1), 1);
	run_wait(&b);
	run_wait(&a);
	assert_string_equal(a.out_buf, "got 4\n");
	assert_string_equal(b.out_buf, "got 5\n");
	assert_int_equal(a.res.exit_code, 4);
	assert_int_equal(b.res.exit_code, 5);
	run_destroy(&a);
	run_destroy(&b);
	run_cleanup(&a);
	run_cleanup(&b);
	zygote_stop(&zg);
}

/* ---- 8. a zygote that is gone ------------------------------------------------------ */

static void test_start_through_a_gone_zygote_fails_and_leaves_nothing(void **state)
{
	char before[8][512];
	struct zygote zg;
	struct run r;
	int st, n_before;

	/* Whether cgroups are in use here: a sandbox of a live zygote tells. */
	zygote_start(&zg, cmd_sleep_forever);
	run_init(&r, &zg, NULL);
	run_start_ok(&r, 0);
	n_before = cgroup_dirs(sandbox_pid(r.sb), before, 8);
	close(r.out[0]);
	r.out[0] = -1;
	run_destroy(&r);
	run_cleanup(&r);

	/* Killed: its end of the socket closes with it. */
	assert_int_equal(kill(zg.pid, SIGKILL), 0);
	assert_int_equal(waitpid(zg.pid, &st, 0), zg.pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	for (int attempt = 0; attempt < 2; attempt++) {
		run_init(&r, &zg, NULL);
		r.spec.limits.pids = 8;
		r.spec.limits.memory_bytes = 64 << 20;
		assert_int_equal(run_start(&r, 0), -EPIPE);
		assert_null(r.sb);
		assert_string_equal(r.err, "the zygote did not clone the sandbox: Broken pipe "
					   "(it is gone)");
		assert_int_equal(th_count_entries(r.state_dir), 0);
		run_cleanup(&r);
	}
	/* No job cgroup of this process is left where the live one was. */
	for (int i = 0; i < n_before; i++)
		assert_int_equal(count_own_cgroups(before[i]), 0);
	sandbox_zygote_free(zg.z);
}

/* A zygote that does not answer in time: the start fails and leaves nothing; once the
 * zygote answers again, the next start gets its own child, not the late reply. */
static void test_a_late_reply_is_not_taken_for_the_next_start(void **state)
{
	struct zygote zg;
	struct run r;
	pid_t first;

	zygote_start(&zg, cmd_ids);
	run_one(&zg, &r); /* warm: the zygote is serving */
	assert_int_equal(r.res.exit_code, 7);
	run_cleanup(&r);

	assert_int_equal(kill(zg.pid, SIGSTOP), 0);
	run_init(&r, &zg, NULL);
	assert_int_equal(run_start(&r, 0), -ETIMEDOUT);
	assert_string_equal(r.err, "the zygote did not clone the sandbox: Connection timed out "
				   "(it did not answer in time)");
	assert_int_equal(th_count_entries(r.state_dir), 0);
	run_cleanup(&r);
	assert_int_equal(kill(zg.pid, SIGCONT), 0);

	for (int i = 0; i < 2; i++) {
		run_init(&r, &zg, NULL);
		run_start_ok(&r, 0);
		first = sandbox_pid(r.sb);
		run_wait(&r);
		assert_int_equal(sandbox_pid(r.sb), first);
		run_destroy(&r);
		assert_string_equal(r.out_buf, "pid=2 uid=1000 gid=1000\n");
		assert_int_equal(r.res.end, SANDBOX_EXITED);
		assert_int_equal(r.res.exit_code, 7);
		run_cleanup(&r);
	}
	zygote_stop(&zg);
}

/* A zygote whose parent is already gone refuses to serve. */
static void test_orphaned_zygote_refuses(void **state)
{
	int sv[2], rp[2], st, r = 0;
	pid_t mid;

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(pipe2(rp, O_CLOEXEC), 0);
	mid = fork();
	assert_true(mid >= 0);
	if (mid == 0) {
		pid_t parent = getpid();
		if (fork() == 0) {
			/* Once orphaned, try: adopted by pid 1, or by a subreaper (r = 1). */
			for (int i = 0; i < 500 && getppid() == parent; i++)
				usleep(10000);
			r = getppid() == 1 ? sandbox_zygote_serve(sv[1], serve_command, NULL) : 1;
			_exit(write(rp[1], &r, sizeof(r)) == (ssize_t)sizeof(r) ? 0 : 1);
		}
		_exit(0);
	}
	close(rp[1]);
	close(sv[1]);
	assert_int_equal(waitpid(mid, &st, 0), mid);
	assert_int_equal(read(rp[0], &r, sizeof(r)), (ssize_t)sizeof(r));
	close(rp[0]);
	close(sv[0]);
	if (r == 1) {
		print_message("skipped: an orphan is adopted by a subreaper here, not pid 1\n");
		skip();
	}
	assert_int_equal(r, -ESRCH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_zygote_sandbox_runs_the_command),
	    cmocka_unit_test(test_command_sees_the_sandbox_not_the_host),
	    cmocka_unit_test(test_seccomp_filter_holds_in_the_command),
	    cmocka_unit_test(test_timeout_and_kill_end_the_command),
	    cmocka_unit_test(test_cgroup_holds_the_command),
	    cmocka_unit_test(test_destroy_leaves_no_state_and_no_process),
	    cmocka_unit_test(test_zygote_serves_one_after_another_and_two_at_once),
	    cmocka_unit_test(test_start_through_a_gone_zygote_fails_and_leaves_nothing),
	    cmocka_unit_test(test_a_late_reply_is_not_taken_for_the_next_start),
	    cmocka_unit_test(test_orphaned_zygote_refuses),
	};
	char info[160], err[512];

	/* As test_sandbox does for a tier: a host that cannot start a native sandbox (no
	 * user namespaces, say) skips (ctest's code 77), saying why. */
	if (sandbox_tier_check(SANDBOX_TIER_NATIVE, info, sizeof(info), err, sizeof(err)) < 0) {
		printf("SKIP: %s\n", err);
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
