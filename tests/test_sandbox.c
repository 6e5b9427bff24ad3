/* test_sandbox.c - what a script sees inside the sandbox, and what is left after it.
 *
 * Every test runs the real sandbox: /bin/sh -c probes inside, stdout captured through
 * a pipe, and where it matters the claim is checked from the host side too.
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
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/nsfs.h>

#include "helpers.h"
#include "internal.h"
#include "sandbox.h"

#define SECRET_NAME  "REELBOX_TEST_SECRET"
#define SECRET_VALUE "hunter2-must-not-leak"

static const char *const base_env[] = {"PATH=/usr/bin:/bin", "HOME=/scratch", "LANG=C.UTF-8",
				       "WIDTH=64", NULL};

/* The tier every run_init() spec uses: REELBOX_TEST_TIER=gvisor runs the suite again
 * in gVisor (ctest's test_sandbox_gvisor); tests of what only one tier has skip. */
static enum sandbox_tier tier = SANDBOX_TIER_NATIVE;

#define NATIVE_ONLY()                                                                              \
	do {                                                                                       \
		if (tier != SANDBOX_TIER_NATIVE)                                                   \
			skip();                                                                    \
	} while (0)

struct run {
	struct sandbox_spec spec;
	const char *argv[8];
	char *state_dir;
	int rc;
	char err[256];
	char out[65536];
	size_t out_len;
	char errout[8192];
	size_t err_len;
	char denied[4096]; /* sentences from sandbox_notify_handle(), one per line */
	unsigned n_denied;
	struct sandbox_result res;
};

static void append_line(char *buf, size_t size, const char *line)
{
	size_t n = strlen(buf);

	if (n + 1 < size)
		snprintf(buf + n, size - n, "%s\n", line);
}

static void run_init(struct run *r, const char *script)
{
	memset(r, 0, sizeof(*r));
	r->state_dir = th_tmpdir("sandbox");
	assert_non_null(r->state_dir);
	r->argv[0] = "/bin/sh";
	r->argv[1] = "-c";
	r->argv[2] = script;
	r->spec.tier = tier;
	r->spec.argv = r->argv;
	r->spec.envp = base_env;
	r->spec.stdin_fd = -1;
	r->spec.state_dir = r->state_dir;
}

static void run_cleanup(struct run *r)
{
	th_rm_rf(r->state_dir);
	free(r->state_dir);
}

static void drain(int fd, char *buf, size_t cap, size_t *len, int *open)
{
	char sink[4096];
	ssize_t n;

	if (*len + 1 < cap)
		n = read(fd, buf + *len, cap - 1 - *len);
	else
		n = read(fd, sink, sizeof(sink));
	if (n > 0 && *len + 1 < cap)
		*len += (size_t)n;
	if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
		*open = 0;
	buf[*len] = '\0';
}

/* Start, then collect stdout and stderr until both close, answering denied calls and
 * letting sandbox_try_reap() enforce the timeout meanwhile; then wait. Optional hook
 * runs once stdout has data. */
static int run_sandbox_hook(struct run *r, void (*hook)(struct run *, struct sandbox *))
{
	int out[2], errp[2], out_open = 1, err_open = 1, hooked = 0, listening;
	struct sandbox *sb;

	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_int_equal(pipe2(errp, O_CLOEXEC), 0);
	r->spec.stdout_fd = out[1];
	r->spec.stderr_fd = errp[1];
	r->rc = sandbox_start(&r->spec, &sb, r->err, sizeof(r->err));
	close(out[1]);
	close(errp[1]);
	if (r->rc < 0) {
		close(out[0]);
		close(errp[0]);
		return r->rc;
	}
	listening = sandbox_notify_fd(sb) >= 0;
	while (out_open || err_open) {
		struct pollfd p[3] = {
		    {.fd = out_open ? out[0] : -1, .events = POLLIN},
		    {.fd = err_open ? errp[0] : -1, .events = POLLIN},
		    {.fd = listening ? sandbox_notify_fd(sb) : -1, .events = POLLIN}};
		if (poll(p, 3, 50) > 0) {
			if (p[0].revents)
				drain(out[0], r->out, sizeof(r->out), &r->out_len, &out_open);
			if (p[1].revents)
				drain(errp[0], r->errout, sizeof(r->errout), &r->err_len,
				      &err_open);
			if (p[2].revents) {
				char msg[512];
				int n = sandbox_notify_handle(sb, msg, sizeof(msg));
				if (n < 0)
					listening = 0;
				if (n > 0) {
					r->n_denied++;
					append_line(r->denied, sizeof(r->denied), msg);
				}
			}
		}
		if (hook && !hooked && r->out_len) {
			hooked = 1;
			hook(r, sb);
		}
		if (sandbox_try_reap(sb, NULL) == 0)
			break;
	}
	close(out[0]);
	close(errp[0]);
	assert_int_equal(sandbox_wait(sb, &r->res), 0);
	sandbox_destroy(sb);
	return 0;
}

static int run_sandbox(struct run *r)
{
	return run_sandbox_hook(r, NULL);
}

/* Run a probe script and insist that it ran and exited 0. */
static void probe(struct run *r, const char *script)
{
	run_init(r, script);
	assert_int_equal(run_sandbox(r), 0);
	if (r->res.exit_code != 0)
		fail_msg("probe exited %d (signal %d, %s); stderr: %s", r->res.exit_code,
			 r->res.signal, r->res.reason, r->errout);
}

/* ---- identity and privileges ----------------------------------------------------- */

static void test_script_runs_as_unprivileged_user_without_capabilities(void **state)
{
	struct run r;

	probe(&r, "id -u; id -g; id -G; grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs)' "
		  "/proc/self/status; hostname");
	/* The Sentry's /proc/self/status has no CapAmb and NoNewPrivs lines. */
	if (tier == SANDBOX_TIER_GVISOR)
		assert_string_equal(r.out, "1000\n1000\n1000\n"
					   "CapInh:\t0000000000000000\n"
					   "CapPrm:\t0000000000000000\n"
					   "CapEff:\t0000000000000000\n"
					   "CapBnd:\t0000000000000000\n"
					   "reelbox\n");
	else
		assert_string_equal(r.out, "1000\n1000\n1000\n"
					   "CapInh:\t0000000000000000\n"
					   "CapPrm:\t0000000000000000\n"
					   "CapEff:\t0000000000000000\n"
					   "CapBnd:\t0000000000000000\n"
					   "CapAmb:\t0000000000000000\n"
					   "NoNewPrivs:\t1\n"
					   "reelbox\n");
	run_cleanup(&r);
}

static void test_worker_signal_dispositions_do_not_reach_the_script(void **state)
{
	struct run r;
	void (*old)(int);

	NATIVE_ONLY(); /* the Sentry's /proc/self/status shows no Sig* lines */
	old = signal(SIGPIPE, SIG_IGN);
	run_init(&r, NULL);
	r.argv[0] = "/bin/grep";
	r.argv[1] = "-E";
	r.argv[2] = "^Sig(Ign|Blk)";
	r.argv[3] = "/proc/self/status";
	assert_int_equal(run_sandbox(&r), 0);
	signal(SIGPIPE, old);
	assert_string_equal(r.out, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
	run_cleanup(&r);
}

/* ---- filesystem ------------------------------------------------------------------ */

static void test_root_is_read_only(void **state)
{
	struct run r;

	probe(&r, "for p in /probe /usr/probe /etc/probe /job/probe /bin/probe /dev/probe; do "
		  "  if touch $p 2>/dev/null; then echo \"wrote $p\"; fi; done; "
		  "export LC_ALL=C; touch /probe 2>&1; mkdir /etc/x 2>&1; true");
	assert_null(strstr(r.out, "wrote"));
	/* The Sentry checks the root-owned dirs' permissions before the read-only mount. */
	if (tier == SANDBOX_TIER_GVISOR) {
		assert_non_null(strstr(r.out, "touch: cannot touch '/probe': "));
		run_cleanup(&r);
		return;
	}
	assert_non_null(strstr(r.out, "touch: cannot touch '/probe': Read-only file system"));
	if (!strstr(r.out, "mkdir: cannot create directory '/etc/x': Read-only"))
		fail_msg("output: %s", r.out);
	run_cleanup(&r);
}

static void test_only_scratch_proc_and_device_nodes_are_writable_mounts(void **state)
{
	struct run r;

	NATIVE_ONLY(); /* the Sentry's mountinfo does not show its read-only binds' flags */
	/* Field 5 is the mount point, field 6 its per-mount options. */
	probe(&r,
	      "awk '$6 ~ /(^|,)rw(,|$)/ {print $5}' /proc/self/mountinfo | sort | tr '\\n' ' '; "
	      "echo; awk '$6 !~ /nosuid/ {print \"suid:\" $5}' /proc/self/mountinfo; "
	      "awk '$6 !~ /nodev/ {print $5}' /proc/self/mountinfo | sort | tr '\\n' ' '");
	assert_string_equal(r.out, "/dev/full /dev/null /dev/random /dev/urandom /dev/zero /proc "
				   "/scratch \n"
				   "/dev/full /dev/null /dev/random /dev/urandom /dev/zero ");
	run_cleanup(&r);
}

static void test_system_programs_and_merged_usr_links_are_there(void **state)
{
	struct run r;

	probe(&r,
	      "for d in /bin /lib /sbin; do if [ -L $d ]; then echo link; "
	      "elif [ -d $d ]; then echo dir; fi; done; test -x /bin/sh && echo sh; "
	      "test -e /etc/shadow || echo no-shadow; test -e /etc/ssl/private || echo no-keys; "
	      "grep -c . /etc/passwd; readlink /tmp || true");
	char want[256];
	struct stat st;
	const char *bin = lstat("/bin", &st) == 0 && S_ISLNK(st.st_mode) ? "link" : "dir";
	const char *lib = lstat("/lib", &st) == 0 && S_ISLNK(st.st_mode) ? "link" : "dir";
	const char *sbin = lstat("/sbin", &st) == 0 && S_ISLNK(st.st_mode) ? "link" : "dir";
	/* gvisor: /tmp is the scratch tmpfs bound again, not a link (tested by the scratch
	 * test's /tmp/t). */
	snprintf(want, sizeof(want), "%s\n%s\n%s\nsh\nno-shadow\nno-keys\n3\n%s", bin, lib, sbin,
		 tier == SANDBOX_TIER_GVISOR ? "" : "scratch\n");
	assert_string_equal(r.out, want);
	run_cleanup(&r);
}

static void test_job_files_are_visible_read_only(void **state)
{
	static const char script[] = "#!/bin/sh\necho from-job \"$1\"\n";
	struct sandbox_file files[2] = {{"script.sh", script, sizeof(script) - 1, 1},
					{"data.txt", "abc", 3, 0}};
	struct run r;

	run_init(&r, "/job/script.sh arg; cat /job/data.txt; echo; "
		     "python3 -c 'import os,sys; [print(oct(os.stat(p).st_mode & 0o777)[2:], p) "
		     "for p in sys.argv[1:]]' /job/script.sh /job/data.txt; "
		     "echo x > /job/data.txt 2>/dev/null || echo refused");
	r.spec.files = files;
	r.spec.n_files = 2;
	assert_int_equal(run_sandbox(&r), 0);
	assert_string_equal(r.out, "from-job arg\nabc\n755 /job/script.sh\n644 /job/data.txt\n"
				   "refused\n");
	run_cleanup(&r);
}

static void test_scratch_is_writable_and_bounded(void **state)
{
	struct run r;

	run_init(&r, "pwd; echo $HOME; head -c 524288 /dev/zero > half && echo half-ok; "
		     "head -c 2097152 /dev/zero 2>&1 > big; echo big=$?; "
		     "test $(wc -c < big) -le 1048576 && echo bounded; "
		     "echo hi > /tmp/t && cat /scratch/t");
	r.spec.limits.scratch_bytes = 1 << 20;
	r.spec.limits.file_bytes = 64 << 20; /* so the tmpfs, not RLIMIT_FSIZE, stops it */
	assert_int_equal(run_sandbox(&r), 0);
	assert_non_null(strstr(r.out, "/scratch\n/scratch\nhalf-ok\n"));
	assert_non_null(strstr(r.out, "No space left on device"));
	assert_non_null(strstr(r.out, "big=1\nbounded\n"));
	run_cleanup(&r);
}

/* sandbox_scratch_open: after the script, a regular file beneath scratch opens and reads;
 * a link (out of scratch, inside it, or on the way), a FIFO (without blocking), a
 * directory, a missing name and an escape are each refused with their sentence. */
static void test_scratch_files_open_after_the_script_only_as_regular_files(void **state)
{
	static const struct {
		const char *name;
		int rc;
		const char *says;
	} bad[] = {
	    {"link", -ELOOP, "symbolic link"},
	    {"inlink", -ELOOP, "symbolic link"},
	    {"ld/e/b.wav", -ELOOP, "symbolic link"},
	    {"fifo", -EINVAL, "it is a FIFO"},
	    {"dir", -EINVAL, "it is a directory"},
	    {"missing", -ENOENT, "wrote no such file"},
	    {"../etc/passwd", -EXDEV, "leads out of $SCRATCH"},
	    {"/etc/passwd", -EINVAL, "inside $SCRATCH"},
	};
	struct sandbox *sb;
	struct run r;
	char err[256], buf[16];
	int fd;

	run_init(&r, "printf data > a.wav && mkdir -p d/e && printf x > d/e/b.wav && "
		     "ln -s /etc/passwd link && ln -s a.wav inlink && ln -s /scratch/d ld && "
		     "mkfifo fifo && mkdir dir");
	r.spec.stdout_fd = r.spec.stderr_fd = -1;
	assert_int_equal(sandbox_start(&r.spec, &sb, r.err, sizeof(r.err)), 0);
	assert_int_equal(sandbox_wait(sb, &r.res), 0);
	assert_int_equal(r.res.exit_code, 0);
	fd = sandbox_scratch_open(sb, "a.wav", "audio", err, sizeof(err));
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), 4);
	assert_memory_equal(buf, "data", 4);
	close(fd);
	fd = sandbox_scratch_open(sb, "d/e/b.wav", "audio", err, sizeof(err));
	assert_true(fd >= 0);
	close(fd);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		fd = sandbox_scratch_open(sb, bad[i].name, "audio", err, sizeof(err));
		/* gvisor: a FIFO lives in the Sentry, never in the host's tmpfs. */
		if (tier == SANDBOX_TIER_GVISOR && !strcmp(bad[i].name, "fifo") && fd == -ENOENT)
			continue;
		if (fd != bad[i].rc || !strstr(err, bad[i].says))
			fail_msg("%s: %d, '%s'", bad[i].name, fd, err);
	}
	sandbox_destroy(sb);
	run_cleanup(&r);
}

static void test_scratch_inode_count_is_bounded(void **state)
{
	struct run r;

	run_init(&r, "i=0; while [ $i -lt 5000 ]; do printf '' > f$i 2>/dev/null || break; "
		     "i=$((i+1)); done; echo $i");
	r.spec.limits.scratch_bytes = 1 << 20; /* 1024 inodes, the floor */
	assert_int_equal(run_sandbox(&r), 0);
	int made = atoi(r.out);
	assert_true(made > 900);
	assert_true(made < 1100);
	run_cleanup(&r);
}

static void test_file_size_limit_ends_with_its_value(void **state)
{
	struct run r;

	run_init(&r, "exec head -c 200000 /dev/zero > /scratch/f");
	r.spec.limits.file_bytes = 102400;
	assert_int_equal(run_sandbox(&r), 0);
	/* gvisor: the Sentry holds the limit; runsc reports the signal as 128 + SIGXFSZ,
	 * which a script could also exit with, so it stays an exit code. */
	if (tier == SANDBOX_TIER_GVISOR) {
		assert_int_equal(r.res.exit_code, 128 + SIGXFSZ);
		run_cleanup(&r);
		return;
	}
	assert_int_equal(r.res.end, SANDBOX_FSIZE);
	assert_int_equal(r.res.signal, SIGXFSZ);
	assert_string_equal(r.res.reason, "file size limit of 102400 bytes reached");
	run_cleanup(&r);
}

static void test_process_limit_refuses_extra_forks(void **state)
{
	struct run r;

	/* init and sh count too: the third background sleep is one too many. */
	run_init(&r, "for i in 1 2 3 4 5 6; do sleep 5 & done; wait");
	r.spec.limits.pids = 4;
	assert_int_equal(run_sandbox(&r), 0);
	assert_int_equal(r.res.exit_code, 2);
	if (!strstr(r.errout, "Cannot fork"))
		fail_msg("stderr: %s", r.errout);
	assert_true(r.res.wall_ms < 4000); /* the sleeps died with the shell */
	run_cleanup(&r);
}

static void test_cpu_limit_ends_with_its_value(void **state)
{
	struct run r;

	run_init(&r, "while :; do :; done");
	r.spec.limits.cpu_seconds = 1;
	r.spec.limits.timeout_ms = 20000;
	assert_int_equal(run_sandbox(&r), 0);
	assert_int_equal(r.res.end, SANDBOX_CPU);
	assert_int_equal(r.res.signal, SIGXCPU);
	assert_string_equal(r.res.reason, "CPU time limit of 1 s reached");
	run_cleanup(&r);
}

/* ---- network and processes ------------------------------------------------------- */

static void test_no_network_interface_but_lo(void **state)
{
	struct run r;

	probe(&r, "tail -n +3 /proc/self/net/dev | cut -d: -f1 | tr -d ' '; "
		  "test -e /sys/class/net || echo no-sys");
	/* The Sentry's /sys is its own, listing its own loopback only. */
	assert_string_equal(r.out, tier == SANDBOX_TIER_GVISOR ? "lo\n" : "lo\nno-sys\n");
	run_cleanup(&r);
}

static void test_only_its_own_processes_are_visible(void **state)
{
	struct run r;
	char script[256], want[64];

	/* The test process's own host pid must not show up inside. */
	snprintf(script, sizeof(script),
		 "echo $$; for p in /proc/[0-9]*; do echo ${p#/proc/}; done; "
		 "test -e /proc/%d && echo host-visible; "
		 "test -r /proc/1/environ && echo init-readable; true",
		 (int)getpid());
	probe(&r, script);
	/* The shell is pid 2 and the only process listed: the init, pid 1, is hidden
	 * because it is not dumpable, and the glob needs no child process. */
	snprintf(want, sizeof(want), "2\n2\n");
	/* The Sentry lists the init (its environment is the job's own, nothing else). */
	if (tier == SANDBOX_TIER_GVISOR)
		snprintf(want, sizeof(want), "2\n1\n2\ninit-readable\n");
	assert_string_equal(r.out, want);
	run_cleanup(&r);
}

/* ---- environment and descriptors ------------------------------------------------- */

static void test_environment_is_exactly_the_spec(void **state)
{
	struct run r;

	run_init(&r, NULL);
	r.argv[0] = "/usr/bin/env";
	r.argv[1] = NULL;
	assert_int_equal(run_sandbox(&r), 0);
	/* runsc passes the same variables, not always in the spec's order. */
	if (tier == SANDBOX_TIER_GVISOR) {
		size_t lines = 0;
		for (size_t i = 0; base_env[i]; i++) {
			char line[64];
			snprintf(line, sizeof(line), "%s\n", base_env[i]);
			assert_non_null(strstr(r.out, line));
		}
		for (const char *c = r.out; *c; c++)
			lines += *c == '\n';
		assert_int_equal(lines, 4);
		run_cleanup(&r);
		return;
	}
	assert_string_equal(r.out, "PATH=/usr/bin:/bin\nHOME=/scratch\nLANG=C.UTF-8\nWIDTH=64\n");
	run_cleanup(&r);
}

static void check_init_environ_from_host(struct run *r, struct sandbox *sb)
{
	char path[64], *env;
	size_t len;

	if (tier == SANDBOX_TIER_GVISOR)
		return; /* the host sees runsc, whose environment is PATH alone */
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)sandbox_pid(sb));
	env = th_read_file(path, &len);
	if (!env)
		return; /* not root on the host: the init is not dumpable, so unreadable */
	for (size_t i = 0; i < len; i++)
		if (!env[i])
			env[i] = '\n';
	assert_null(strstr(env, SECRET_NAME));
	assert_non_null(strstr(env, "WIDTH=64\n"));
	free(env);
}

static void test_worker_secret_is_in_no_environ_inside(void **state)
{
	struct run r;

	assert_string_equal(getenv(SECRET_NAME), SECRET_VALUE);
	run_init(&r, "sleep 0.3 & echo started; "
		     "for f in /proc/1/environ /proc/[0-9]*/environ; do cat $f 2>/dev/null; done "
		     "| tr '\\0' '\\n' | grep -c -e " SECRET_NAME " -e " SECRET_VALUE "; "
		     "grep -c WIDTH=64 /proc/self/environ; wait");
	assert_int_equal(run_sandbox_hook(&r, check_init_environ_from_host), 0);
	assert_string_equal(r.out, "started\n0\n1\n");
	run_cleanup(&r);
}

static void test_no_descriptor_above_2_reaches_the_command(void **state)
{
	struct run r;
	int leak = open("/etc/hostname", O_RDONLY); /* deliberately not CLOEXEC */

	assert_true(leak >= 0);
	assert_int_equal(dup2(leak, 50), 50);
	run_init(&r, NULL);
	r.argv[0] = "/bin/ls";
	r.argv[1] = "/proc/self/fd";
	r.argv[2] = NULL;
	if (tier == SANDBOX_TIER_GVISOR) { /* runsc 20221219 refuses ls's statx */
		r.argv[0] = "/usr/bin/python3";
		r.argv[1] = "-c";
		r.argv[2] = "import os; print(*sorted(os.listdir('/proc/self/fd')), sep='\\n')";
	}
	assert_int_equal(run_sandbox(&r), 0);
	close(leak);
	close(50);
	/* 3 is ls's own directory handle. */
	assert_string_equal(r.out, "0\n1\n2\n3\n");
	run_cleanup(&r);
}

/* A blocking pipe takes a big write whole, as Linux does: a script that ignores write()'s
 * count (Python's -u, PYTHONUNBUFFERED) must not lose frames. In gVisor the init's relay
 * keeps this true (runsc cuts writes to a host pipe short). */
static void test_big_writes_to_stdout_are_whole(void **state)
{
	struct run r;

	run_init(&r, NULL);
	r.argv[0] = "/usr/bin/python3";
	r.argv[1] = "-c";
	r.argv[2] = "import os, sys\n"
		    "b = bytes(2764800)\n"
		    "print(*[os.write(1, b) for _ in range(4)], file=sys.stderr)\n";
	assert_int_equal(run_sandbox(&r), 0);
	assert_int_equal(r.res.exit_code, 0);
	assert_string_equal(r.errout, "2764800 2764800 2764800 2764800\n");
	run_cleanup(&r);
}

static void test_stdin_is_empty(void **state)
{
	struct run r;

	probe(&r, "wc -c; readlink /proc/self/fd/0");
	/* gvisor: the host's /dev/null, donated to the Sentry, reads as "host:[2]". */
	if (tier == SANDBOX_TIER_GVISOR)
		assert_int_equal(strncmp(r.out, "0\nhost:", 7), 0);
	else
		assert_string_equal(r.out, "0\n/dev/null\n");
	run_cleanup(&r);
}

/* ---- lifetime -------------------------------------------------------------------- */

static char daemon_marker[32];

/* How many host processes carry the marker in their argv. */
static int count_marked(void)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d))) {
		char path[300], *cmd;
		size_t len;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
		cmd = th_read_file(path, &len);
		if (!cmd)
			continue;
		for (size_t i = 0; i + 1 < len; i++)
			if (!cmd[i])
				cmd[i] = ' ';
		if (strstr(cmd, daemon_marker))
			n++;
		free(cmd);
	}
	closedir(d);
	return n;
}

static void check_daemon_running(struct run *r, struct sandbox *sb)
{
	int seen = 0;

	if (tier == SANDBOX_TIER_GVISOR)
		return; /* the Sentry's processes are not host processes */
	for (int i = 0; i < 100 && !seen; i++) {
		seen = count_marked();
		if (!seen)
			usleep(10000);
	}
	assert_int_equal(seen, 1);
}

static void test_daemonised_grandchild_is_gone_after_the_job(void **state)
{
	struct run r;
	char script[256];

	/* The script spells the marker so that only the daemon's argv carries it. */
	snprintf(daemon_marker, sizeof(daemon_marker), "sleep 4242.%d", (int)getpid());
	snprintf(script, sizeof(script),
		 "m=4242; setsid sleep $m.%d </dev/null >/dev/null 2>&1 & echo started; sleep 0.3",
		 (int)getpid());
	run_init(&r, script);
	assert_int_equal(run_sandbox_hook(&r, check_daemon_running), 0);
	assert_string_equal(r.out, "started\n");
	assert_int_equal(r.res.exit_code, 0);
	assert_int_equal(count_marked(), 0);
	run_cleanup(&r);
}

static void test_timeout_fires_and_the_reason_says_so(void **state)
{
	struct run r;

	/* runsc takes longer than 300 ms to start the shell. */
	uint64_t ms = tier == SANDBOX_TIER_GVISOR ? 3000 : 300;
	char want[64];

	run_init(&r, "echo going; sleep 10");
	r.spec.limits.timeout_ms = ms;
	assert_int_equal(run_sandbox(&r), 0);
	assert_string_equal(r.out, "going\n");
	assert_int_equal(r.res.end, SANDBOX_TIMEOUT);
	assert_int_equal(r.res.exit_code, -1);
	assert_int_equal(r.res.signal, SIGKILL);
	snprintf(want, sizeof(want), "wall-clock timeout of %s reached",
		 ms == 300 ? "300 ms" : "3 s");
	assert_string_equal(r.res.reason, want);
	assert_true(r.res.wall_ms >= ms);
	assert_true(r.res.wall_ms < ms + 3000);
	run_cleanup(&r);
}

static void test_wait_enforces_the_timeout_by_itself(void **state)
{
	struct run r;
	struct sandbox *sb;

	run_init(&r, "sleep 10");
	r.spec.stdout_fd = r.spec.stderr_fd = -1;
	r.spec.limits.timeout_ms = 1000;
	assert_int_equal(sandbox_start(&r.spec, &sb, r.err, sizeof(r.err)), 0);
	uint64_t left = sandbox_time_left_ms(sb);
	assert_true(left > 500 && left <= 1000);
	assert_int_equal(sandbox_wait(sb, &r.res), 0);
	assert_int_equal(r.res.end, SANDBOX_TIMEOUT);
	assert_string_equal(r.res.reason, "wall-clock timeout of 1 s reached");
	assert_int_equal(sandbox_time_left_ms(sb), 0);
	sandbox_destroy(sb);
	run_cleanup(&r);
}

static void test_kill_ends_the_sandbox_with_the_given_reason(void **state)
{
	struct run r;
	struct sandbox *sb;

	run_init(&r, "sleep 10");
	r.spec.stdout_fd = r.spec.stderr_fd = -1;
	assert_int_equal(sandbox_start(&r.spec, &sb, r.err, sizeof(r.err)), 0);
	assert_int_equal(sandbox_time_left_ms(sb), UINT64_MAX);
	assert_int_equal(sandbox_try_reap(sb, &r.res), -EAGAIN);
	assert_int_equal(sandbox_kill(sb, SANDBOX_KILLED, "cancelled by the user"), 0);
	assert_int_equal(sandbox_kill(sb, SANDBOX_TIMEOUT, "second call is ignored"), 0);
	assert_int_equal(sandbox_wait(sb, &r.res), 0);
	assert_int_equal(sandbox_kill(sb, SANDBOX_KILLED, "after the end"), 0);
	assert_int_equal(r.res.end, SANDBOX_KILLED);
	assert_int_equal(r.res.exit_code, -1);
	assert_string_equal(r.res.reason, "cancelled by the user");
	sandbox_destroy(sb);
	run_cleanup(&r);
}

static void test_exit_code_is_passed_through(void **state)
{
	struct run r;

	run_init(&r, "exit 42");
	assert_int_equal(run_sandbox(&r), 0);
	assert_int_equal(r.res.end, SANDBOX_EXITED);
	assert_int_equal(r.res.exit_code, 42);
	assert_int_equal(r.res.signal, 0);
	assert_string_equal(r.res.reason, "");
	run_cleanup(&r);
}

static void test_result_survives_a_worker_that_ignores_sigchld(void **state)
{
	struct run r;
	void (*old)(int) = signal(SIGCHLD, SIG_IGN);

	run_init(&r, "exit 42");
	assert_int_equal(run_sandbox(&r), 0);
	signal(SIGCHLD, old);
	assert_int_equal(r.res.exit_code, 42);
	assert_true(r.res.cpu_ms < 10000);
	run_cleanup(&r);
}

static void test_killing_signal_is_passed_through(void **state)
{
	struct run r;

	run_init(&r, "kill -SEGV $$");
	assert_int_equal(run_sandbox(&r), 0);
	if (tier == SANDBOX_TIER_GVISOR) { /* 128 + N: see the file size limit's test */
		assert_int_equal(r.res.exit_code, 128 + SIGSEGV);
		run_cleanup(&r);
		return;
	}
	assert_int_equal(r.res.end, SANDBOX_EXITED);
	assert_int_equal(r.res.exit_code, -1);
	assert_int_equal(r.res.signal, SIGSEGV);
	assert_string_equal(r.res.reason, "the command was killed by signal 11 (SIGSEGV)");
	run_cleanup(&r);
}

static void test_missing_command_exits_127_with_a_message(void **state)
{
	struct run r;

	run_init(&r, NULL);
	r.argv[0] = "/usr/bin/no-such-program";
	r.argv[1] = NULL;
	assert_int_equal(run_sandbox(&r), 0);
	assert_int_equal(r.res.exit_code, 127);
	if (!strstr(r.errout, "cannot execute /usr/bin/no-such-program: No such file"))
		fail_msg("stderr: %s", r.errout);
	run_cleanup(&r);
}

static void test_unexecutable_command_exits_126_with_a_message(void **state)
{
	struct sandbox_file file = {"data.txt", "abc", 3, 0};
	struct run r;

	run_init(&r, NULL);
	r.argv[0] = "/job/data.txt";
	r.argv[1] = NULL;
	r.spec.files = &file;
	r.spec.n_files = 1;
	assert_int_equal(run_sandbox(&r), 0);
	assert_int_equal(r.res.exit_code, 126);
	if (!strstr(r.errout, "cannot execute /job/data.txt: Permission denied"))
		fail_msg("stderr: %s", r.errout);
	run_cleanup(&r);
}

/* blob.S: reelbox-init as the reelbox binary carries it. */
extern const unsigned char reelbox_init_blob[];
extern const unsigned char reelbox_init_blob_end[];

/* Every sandbox executes the init from its sealed memfd: all of it is there, and on
 * x86-64 it is the libc-free build of a few KiB (a static glibc one was 690 KB). */
static void test_init_is_small_and_whole_in_its_sealed_memfd(void **state)
{
	size_t len = (size_t)((uintptr_t)reelbox_init_blob_end - (uintptr_t)reelbox_init_blob);
	int fd = sandbox_proc_init_memfd();
	unsigned char *copy = malloc(len + 1);
	struct stat st;

	assert_non_null(copy);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal((size_t)st.st_size, len);
	assert_int_equal(pread(fd, copy, len + 1, 0), (ssize_t)len);
	assert_memory_equal(copy, reelbox_init_blob, len);
	assert_memory_equal(copy, "\177ELF", 4);
	assert_int_equal(fcntl(fd, F_GET_SEALS) & F_SEAL_WRITE, F_SEAL_WRITE);
	free(copy);
#ifdef __x86_64__
	if (len >= 64 * 1024)
		fail_msg("reelbox-init is %zu bytes: not the libc-free build", len);
#endif
}

static void test_setup_failure_names_the_step_and_leaves_nothing(void **state)
{
	struct run r;

	NATIVE_ONLY(); /* runsc's own setup steps are runsc's: tested by the missing command */
	run_init(&r, "true");
	r.spec.cwd = "/no/such/dir";
	assert_true(run_sandbox(&r) < 0);
	assert_int_equal(r.rc, -ENOENT);
	assert_string_equal(r.err, "sandbox setup failed while changing to the working "
				   "directory /no/such/dir: No such file or directory");
	assert_int_equal(th_count_entries(r.state_dir), 0);
	run_cleanup(&r);
}

static void test_bad_spec_is_refused_with_a_reason(void **state)
{
	struct run r;
	struct sandbox_bind bind = {"/usr/share", "/proc/x", 0};
	struct sandbox_file file = {"../evil", "x", 1, 0};

	run_init(&r, "true");
	r.argv[0] = "sh";
	assert_int_equal(run_sandbox(&r), -EINVAL);
	assert_non_null(strstr(r.err, "must be an absolute path"));
	run_cleanup(&r);

	run_init(&r, "true");
	r.spec.binds = &bind;
	r.spec.n_binds = 1;
	assert_int_equal(run_sandbox(&r), -EINVAL);
	assert_non_null(strstr(r.err, "outside /proc"));
	assert_int_equal(th_count_entries(r.state_dir), 0);
	run_cleanup(&r);

	run_init(&r, "true");
	r.spec.files = &file;
	r.spec.n_files = 1;
	assert_int_equal(run_sandbox(&r), -EINVAL);
	assert_non_null(strstr(r.err, "not a plain file name"));
	assert_int_equal(th_count_entries(r.state_dir), 0);
	run_cleanup(&r);

	/* Longer than NAME_MAX: refused before the clone, not as a failed mount step. */
	char long_name[300];
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	file.name = long_name;
	run_init(&r, "true");
	r.spec.files = &file;
	r.spec.n_files = 1;
	assert_int_equal(run_sandbox(&r), -EINVAL);
	assert_non_null(strstr(r.err, "not a plain file name"));
	assert_int_equal(th_count_entries(r.state_dir), 0);
	run_cleanup(&r);
}

static void test_extra_binds_are_read_only_and_optional_ones_may_be_missing(void **state)
{
	struct run r;
	char *dir = th_tmpdir("bind");
	char path[512];
	struct sandbox_bind binds[2] = {{dir, "/opt/runtime/tree", 0},
					{"/no/such/source", NULL, 1}};

	snprintf(path, sizeof(path), "%s/lib.txt", dir);
	assert_int_equal(th_write_file(path, "runtime", 7, 0644), 0);
	chmod(dir, 0755);
	run_init(&r, "cat /opt/runtime/tree/lib.txt; echo; "
		     "touch /opt/runtime/tree/new 2>/dev/null || echo refused");
	r.spec.binds = binds;
	r.spec.n_binds = 2;
	assert_int_equal(run_sandbox(&r), 0);
	assert_string_equal(r.out, "runtime\nrefused\n");
	th_rm_rf(dir);
	free(dir);
	run_cleanup(&r);
}

/* ---- seccomp: denied calls are answered, named and counted ------------------------ */

#define PYTHON "/usr/bin/python3"

struct denials {
	unsigned n;
	char lines[4096];
};

static void collect_denied(void *opaque, const char *msg)
{
	struct denials *d = opaque;

	d->n++;
	append_line(d->lines, sizeof(d->lines), msg);
}

/* Run python code through sandbox_wait(), which must answer the denied calls itself;
 * stdout goes to a pipe read after the end (the probes print little). */
static void run_python_waiting(struct run *r, const char *code, struct denials *d)
{
	struct sandbox *sb;
	int out[2];
	ssize_t n;

	run_init(r, NULL);
	r->argv[0] = PYTHON;
	r->argv[1] = "-c";
	r->argv[2] = code;
	r->spec.stderr_fd = -1;
	r->spec.limits.timeout_ms = 30000;
	r->spec.on_denied = collect_denied;
	r->spec.denied_opaque = d;
	memset(d, 0, sizeof(*d));
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	r->spec.stdout_fd = out[1];
	if (sandbox_start(&r->spec, &sb, r->err, sizeof(r->err)) < 0)
		fail_msg("sandbox_start: %s", r->err);
	close(out[1]);
	assert_true(sandbox_notify_fd(sb) >= 0);
	assert_int_equal(sandbox_wait(sb, &r->res), 0);
	n = read(out[0], r->out, sizeof(r->out) - 1);
	r->out_len = n > 0 ? (size_t)n : 0;
	r->out[r->out_len] = '\0';
	close(out[0]);
	sandbox_destroy(sb);
}

static void test_script_runs_under_a_seccomp_filter(void **state)
{
	NATIVE_ONLY(); /* the Sentry answers the script's calls; runsc filters its own */
	struct run r;

	probe(&r, "grep -E '^Seccomp(_filters)?:' /proc/self/status");
	assert_string_equal(r.out, "Seccomp:\t2\nSeccomp_filters:\t1\n");
	assert_int_equal(r.res.denied_calls, 0);
	assert_string_equal(r.res.last_denied, "");
	run_cleanup(&r);
}

static void test_denied_inet_socket_is_named_to_on_denied_and_in_the_result(void **state)
{
	NATIVE_ONLY(); /* no seccomp listener: the Sentry answers */
	static const char want[] =
	    "denied socket(AF_INET): network access; only AF_UNIX sockets exist inside";
	struct denials d;
	struct run r;

	if (access(PYTHON, X_OK) != 0)
		skip();
	run_python_waiting(&r,
			   "import socket\n"
			   "try:\n    socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n"
			   "except OSError as e:\n    print(e.errno)\n",
			   &d);
	assert_int_equal(r.res.exit_code, 0);
	assert_string_equal(r.out, "97\n"); /* EAFNOSUPPORT, the policy's answer */
	assert_int_equal(d.n, 1);
	assert_string_equal(d.lines, "denied socket(AF_INET): network access; only AF_UNIX "
				     "sockets exist inside\n");
	assert_int_equal(r.res.denied_calls, 1);
	assert_string_equal(r.res.last_denied, want);
	run_cleanup(&r);
}

static void test_a_loop_on_a_denied_call_is_counted_not_flooded(void **state)
{
	NATIVE_ONLY(); /* no seccomp listener: the Sentry answers */
	struct denials d;
	struct run r;

	if (access(PYTHON, X_OK) != 0)
		skip();
	run_python_waiting(&r,
			   "import ctypes\n"
			   "libc = ctypes.CDLL(None)\n"
			   "for i in range(1000):\n    libc.syscall(101, 0, 0, 0, 0)\n" /* ptrace */
			   "print('looped')\n",
			   &d);
	assert_string_equal(r.out, "looped\n");
	assert_int_equal(r.res.denied_calls, 1000);
	/* The first one, then its 10th, 100th and 1000th occurrence. */
	assert_int_equal(d.n, 4);
	assert_non_null(strstr(d.lines, "denied ptrace: reading or steering another process\n"));
	assert_non_null(strstr(d.lines, "(1000 times so far)\n"));
	run_cleanup(&r);
}

static void test_serving_denials_through_the_fd_answers_them(void **state)
{
	NATIVE_ONLY(); /* no seccomp listener: the Sentry answers */
	struct run r;

	if (access(PYTHON, X_OK) != 0)
		skip();
	run_init(&r, NULL);
	r.argv[0] = PYTHON;
	r.argv[1] = "-c";
	r.argv[2] = "import ctypes, os\n"
		    "r = ctypes.CDLL(None, use_errno=True).syscall(272, 0x10000000)\n" /* unshare */
		    "print(r, ctypes.get_errno())\n";
	assert_int_equal(run_sandbox(&r), 0);
	assert_string_equal(r.out, "-1 1\n"); /* EPERM */
	assert_int_equal(r.n_denied, 1);
	assert_string_equal(r.denied, "denied unshare(CLONE_NEWUSER): new namespaces (user "
				      "namespaces open kernel attack surface)\n");
	run_cleanup(&r);
}

static void test_sigsys_kill_names_the_kill_set_in_the_reason(void **state)
{
	NATIVE_ONLY(); /* no host seccomp filter on the script */
	struct denials d;
	struct run r;
	char want[256];

	if (access(PYTHON, X_OK) != 0)
		skip();
	/* reboot(2) with a bad magic: killed before it could even fail. */
	run_python_waiting(&r, "import ctypes\nctypes.CDLL(None).syscall(169, 0, 0, 0, 0)\n", &d);
	assert_int_equal(r.res.end, SANDBOX_EXITED);
	assert_int_equal(r.res.signal, SIGSYS);
	snprintf(want, sizeof(want),
		 "the command was killed by SIGSYS: it made a system call "
		 "the sandbox forbids outright (kexec, kernel modules, reboot, "
		 "swap, setting the clock, process accounting, I/O ports) or "
		 "used a foreign ABI (x32, i386)");
	assert_string_equal(r.res.reason, want);
	assert_int_equal(d.n, 0);
	run_cleanup(&r);
}

/* ---- cgroups: limits that name themselves, and nothing left behind ----------------- */

/* The host dirs of the sandbox's job cgroup, from /proc/<pid>/cgroup (the v1 mounts
 * under /sys/fs/cgroup/<controllers>, v2 at /sys/fs/cgroup). */
static char cg_dirs[8][512];
static int n_cg_dirs;

static void find_cgroup_dirs(struct run *r, struct sandbox *sb)
{
	char path[64], *text, *line, *save = NULL;
	size_t len;

	n_cg_dirs = 0;
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)sandbox_pid(sb));
	text = th_read_file(path, &len);
	assert_non_null(text);
	for (line = strtok_r(text, "\n", &save); line && n_cg_dirs < 8;
	     line = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		struct stat st;

		if (!c2 || !strstr(c2, "/rbx-"))
			continue;
		*c2 = '\0';
		snprintf(cg_dirs[n_cg_dirs], sizeof(cg_dirs[0]), "/sys/fs/cgroup%s%s%s",
			 c1[1] ? "/" : "", c1 + 1, c2 + 1);
		if (stat(cg_dirs[n_cg_dirs], &st) == 0 && S_ISDIR(st.st_mode))
			n_cg_dirs++;
	}
	free(text);
}

static void test_cgroup_dirs_are_gone_after_destroy(void **state)
{
	struct run r;

	run_init(&r, "echo running; sleep 0.2");
	r.spec.limits.memory_bytes = 64 << 20;
	r.spec.limits.pids = 16;
	assert_int_equal(run_sandbox_hook(&r, find_cgroup_dirs), 0);
	if (n_cg_dirs == 0) {
		print_message("skipped: the sandbox ran in no job cgroup (no usable cgroups)\n");
		run_cleanup(&r);
		skip();
	}
	for (int i = 0; i < n_cg_dirs; i++)
		if (access(cg_dirs[i], F_OK) == 0 || errno != ENOENT)
			fail_msg("%s is still there after sandbox_destroy()", cg_dirs[i]);
	run_cleanup(&r);
}

/* Skip unless a sandbox gets a job cgroup on this host. */
static void need_cgroups(void)
{
	struct run r;

	run_init(&r, "echo running; sleep 0.1");
	assert_int_equal(run_sandbox_hook(&r, find_cgroup_dirs), 0);
	run_cleanup(&r);
	if (n_cg_dirs == 0) {
		print_message("skipped: no usable cgroups on this host\n");
		skip();
	}
}

static void test_memory_hog_ends_oom_with_the_limit_named(void **state)
{
	struct run r;

	need_cgroups();
	if (access(PYTHON, X_OK) != 0)
		skip();
	run_init(&r, NULL);
	r.argv[0] = PYTHON;
	r.argv[1] = "-c";
	r.argv[2] = "a = []\nwhile True:\n    a.append(b'x' * (1 << 20))\n";
	r.spec.limits.memory_bytes = 64 << 20;
	r.spec.limits.timeout_ms = 20000;
	assert_int_equal(run_sandbox(&r), 0);
	assert_int_equal(r.res.end, SANDBOX_OOM);
	assert_int_equal(r.res.signal, SIGKILL);
	if (tier == SANDBOX_TIER_GVISOR) { /* the cgroup also holds gVisor's allowance */
		assert_string_equal(r.res.reason, "memory limit of 64 MB reached (with 128 MB "
						  "more for gVisor's own processes)");
		run_cleanup(&r);
		return;
	}
	assert_string_equal(r.res.reason, "memory limit of 64 MB reached");
	assert_true(r.res.peak_memory_bytes > (32u << 20));
	assert_true(r.res.peak_memory_bytes <= (64u << 20));
	assert_true(r.res.wall_ms < 15000);
	run_cleanup(&r);
}

static void test_fork_bomb_is_reported_as_the_process_limit(void **state)
{
	struct run r;

	need_cgroups();
	run_init(&r, "b() { while :; do b & done; }; b");
	r.spec.limits.pids = 16;
	r.spec.limits.timeout_ms = 5000;
	assert_int_equal(run_sandbox(&r), 0);
	/* gvisor: the Sentry's RLIMIT_NPROC refuses the forks, the cgroup never fills. */
	if (tier == SANDBOX_TIER_GVISOR) {
		if (!strstr(r.errout, "Cannot fork"))
			fail_msg("stderr: %.300s", r.errout);
		run_cleanup(&r);
		return;
	}
	if (r.res.end != SANDBOX_PIDS)
		fail_msg("ended %d, exit %d, signal %d, reason '%s', %llu ms; stderr: %.300s",
			 r.res.end, r.res.exit_code, r.res.signal, r.res.reason,
			 (unsigned long long)r.res.wall_ms, r.errout);
	assert_string_equal(r.res.reason, "process limit of 16 reached");
	run_cleanup(&r);
}

static void test_cgroup_measures_cpu_of_every_process(void **state)
{
	struct run r;

	need_cgroups();
	/* Two busy children the shell never waits for: pid 1 reaps them, and only the
	 * cgroup sees their time in full. */
	run_init(&r, "for i in 1 2; do (i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done) & "
		     "done; wait");
	assert_int_equal(run_sandbox(&r), 0);
	assert_int_equal(r.res.exit_code, 0);
	assert_true(r.res.cpu_ms > 100);
	assert_true(r.res.peak_memory_bytes > 0);
	run_cleanup(&r);
}

/* ---- kernel budgets: the user namespace's owner ---------------------------------- */

/* The host id a sandbox of this slot runs as: 1500000 + slot as root (internal.h's
 * SANDBOX_HOST_ID_BASE), the invoking user otherwise. */
static uid_t slot_host_uid(unsigned slot)
{
	return geteuid() == 0 ? 1500000 + slot : geteuid();
}

static void need_python3(void)
{
	if (access("/usr/bin/python3", X_OK) != 0)
		skip();
}

static void run_python(struct run *r, const char *code)
{
	run_init(r, NULL);
	r->argv[0] = "/usr/bin/python3";
	r->argv[1] = "-c";
	r->argv[2] = code;
}

static uid_t userns_owner;

static void read_userns_owner(struct run *r, struct sandbox *sb)
{
	char path[64];
	int fd;

	(void)r;
	snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)sandbox_pid(sb));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ioctl(fd, NS_GET_OWNER_UID, &userns_owner), 0);
	close(fd);
}

/* The kernel charges a user namespace's per-user counts to its owner: the sandbox's
 * must be the slot's host uid, not root. */
static void test_user_namespace_is_owned_by_the_slot_host_uid(void **state)
{
	NATIVE_ONLY(); /* runsc makes its own namespaces */
	struct run r;

	run_init(&r, "echo up; sleep 1");
	r.spec.slot = 7;
	userns_owner = (uid_t)-1;
	assert_int_equal(run_sandbox_hook(&r, read_userns_owner), 0);
	assert_int_equal(r.res.exit_code, 0);
	assert_int_equal(userns_owner, slot_host_uid(7));
	run_cleanup(&r);
}

/* The thread that cloned wore the slot's ids for the clone alone: it has its own ids,
 * securebits and dumpable flag back, in every thread of the worker. */
static void test_cloning_thread_gets_its_own_ids_and_securebits_back(void **state)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	uid_t ru2, eu2, su2;
	gid_t rg2, eg2, sg2;
	int bits = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
	int dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
	struct run r;

	assert_int_equal(getresuid(&ru, &eu, &su), 0);
	assert_int_equal(getresgid(&rg, &eg, &sg), 0);
	probe(&r, "true");
	assert_int_equal(getresuid(&ru2, &eu2, &su2), 0);
	assert_int_equal(getresgid(&rg2, &eg2, &sg2), 0);
	assert_int_equal(eu2, eu);
	assert_int_equal(ru2, ru);
	assert_int_equal(su2, su);
	assert_int_equal(eg2, eg);
	assert_int_equal(rg2, rg);
	assert_int_equal(sg2, sg);
	assert_int_equal((uid_t)setfsuid((uid_t)-1), eu);
	assert_int_equal((gid_t)setfsgid((gid_t)-1), eg);
	assert_int_equal(prctl(PR_GET_SECUREBITS, 0, 0, 0, 0), bits);
	assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), dumpable);
	run_cleanup(&r);
}

static const char inotify_hog[] = "import ctypes, sys, time\n"
				  "libc = ctypes.CDLL(None, use_errno=True)\n"
				  "n = 0\n"
				  "while n < 4096 and libc.inotify_init1(0) >= 0:\n"
				  "    n += 1\n"
				  "print(n, flush=True)\n"
				  "time.sleep(3)\n";

static int host_inotify_got;

static void open_inotify_on_the_host(struct run *r, struct sandbox *sb)
{
	int fds[32];

	(void)r;
	(void)sb;
	host_inotify_got = 0;
	while (host_inotify_got < 32 && (fds[host_inotify_got] = inotify_init1(IN_CLOEXEC)) >= 0)
		host_inotify_got++;
	for (int i = 0; i < host_inotify_got; i++)
		close(fds[i]);
}

/* A job holding every inotify instance it can get leaves the host's users theirs:
 * it is stopped at its namespace's 16, and what it holds is charged to its own uid. */
static void test_inotify_hog_gets_16_and_leaves_the_host_its_own(void **state)
{
	NATIVE_ONLY(); /* the Sentry's inotify is its own, in its memory */
	struct run r;

	need_python3();
	run_python(&r, inotify_hog);
	assert_int_equal(run_sandbox_hook(&r, open_inotify_on_the_host), 0);
	assert_int_equal(host_inotify_got, 32);
	assert_int_equal(r.res.exit_code, 0);
	assert_string_equal(r.out, "16\n");
	run_cleanup(&r);
}

static const char signal_hog[] =
    "import ctypes, signal, os, time\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGRTMIN})\n"
    "n = 0\n"
    "while n < 200000 and libc.sigqueue(os.getpid(), int(signal.SIGRTMIN), None) == 0:\n"
    "    n += 1\n"
    "print(n, flush=True)\n"
    "time.sleep(3)\n";

static int host_timer_err;

static void create_a_timer_on_the_host(struct run *r, struct sandbox *sb)
{
	struct sigevent sev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGRTMIN};
	timer_t t;

	(void)r;
	(void)sb;
	host_timer_err = timer_create(CLOCK_MONOTONIC, &sev, &t) == 0 ? 0 : errno;
	if (host_timer_err == 0)
		timer_delete(t);
}

/* A job that queues blocked real-time signals to itself is stopped at 64
 * (RLIMIT_SIGPENDING), and the host's users can still create timers meanwhile. */
static void test_signal_queue_hog_gets_64_and_the_host_can_still_create_timers(void **state)
{
	NATIVE_ONLY(); /* the Sentry's signals and timers are its own */
	struct run r;

	need_python3();
	run_python(&r, signal_hog);
	assert_int_equal(run_sandbox_hook(&r, create_a_timer_on_the_host), 0);
	assert_int_equal(host_timer_err, 0);
	assert_int_equal(r.res.exit_code, 0);
	assert_string_equal(r.out, "64\n");
	run_cleanup(&r);
}

/* No mount line inside names a host path: /job is a tmpfs of its own, not a bind of
 * the state dir (whose name carries the worker's pid). */
static void test_mountinfo_names_no_host_path(void **state)
{
	struct sandbox_file file = {"script.sh", "echo hi\n", 8, 0};
	struct run r;

	run_init(&r, "cat /proc/self/mountinfo; echo; awk '$5 == \"/job\" {print \"job:\" $4}' "
		     "/proc/self/mountinfo; cat /job/script.sh");
	r.spec.files = &file;
	r.spec.n_files = 1;
	assert_int_equal(run_sandbox(&r), 0);
	assert_int_equal(r.res.exit_code, 0);
	if (strstr(r.out, r.state_dir) || strstr(r.out, "/sb-") || strstr(r.out, "/var/tmp"))
		fail_msg("mountinfo names a host path: %s", r.out);
	assert_non_null(strstr(r.out, "\njob:/\necho hi\n"));
	run_cleanup(&r);
}

/* ---- purge and sweep ------------------------------------------------------------- */

/* One private dir per sandbox, 0700 and owned by reelbox's own uid: only the mount point
 * of the sandbox's root, which nobody else needs to enter (the slot's uid owns nothing on
 * the host). */
static void count_state_while_running(struct run *r, struct sandbox *sb)
{
	DIR *d = opendir(r->state_dir);
	struct dirent *de;
	struct stat st;
	char path[1024];
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		n++;
		assert_int_equal(fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW), 0);
		assert_true(S_ISDIR(st.st_mode));
		assert_int_equal(st.st_mode & 07777, 0700);
		assert_int_equal(st.st_uid, geteuid());
		/* Nothing of the job is written to the host: /job is a tmpfs of the child's.
		 * gvisor: the bundle and /job are files in this dir until the destroy. */
		snprintf(path, sizeof(path), "%s/%s", r->state_dir, de->d_name);
		if (tier == SANDBOX_TIER_NATIVE)
			assert_int_equal(th_count_entries(path), 0);
	}
	closedir(d);
	assert_int_equal(n, 1);
}

static void test_state_dir_is_empty_after_destroy(void **state)
{
	struct sandbox_file file = {"script.sh", "echo hi", 7, 0};
	struct run r;

	run_init(&r, "echo running; sleep 0.1");
	r.spec.files = &file;
	r.spec.n_files = 1;
	r.spec.slot = 3;
	assert_int_equal(run_sandbox_hook(&r, count_state_while_running), 0);
	assert_int_equal(th_count_entries(r.state_dir), 0);
	run_cleanup(&r);
}

static void test_sweep_removes_only_stale_state_dirs(void **state)
{
	char *dir = th_tmpdir("sweep"), *canary_dir = th_tmpdir("canary");
	char path[512], canary[512];
	struct run r;
	struct sandbox *sb;
	pid_t dead;

	/* A pid that surely belongs to no running process: a reaped child's. */
	dead = fork();
	if (dead == 0)
		_exit(0);
	waitpid(dead, NULL, 0);

	snprintf(canary, sizeof(canary), "%s/canary", canary_dir);
	assert_int_equal(th_write_file(canary, "keep", 4, 0644), 0);
	snprintf(path, sizeof(path), "%s/sb-%d-12345-0", dir, (int)dead);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/sb-%d-12345-0/job", dir, (int)dead);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/sb-%d-12345-0/job/script.py", dir, (int)dead);
	assert_int_equal(th_write_file(path, "x", 1, 0644), 0);
	/* A planted link to a host dir: the sweep must unlink it, not empty its target. */
	snprintf(path, sizeof(path), "%s/sb-%d-12345-0/job/link", dir, (int)dead);
	assert_int_equal(symlink(canary_dir, path), 0);
	snprintf(path, sizeof(path), "%s/not-ours", dir);
	assert_int_equal(mkdir(path, 0700), 0);

	/* A live sandbox of this very process must survive the sweep. */
	run_init(&r, "sleep 10");
	r.spec.stdout_fd = r.spec.stderr_fd = -1;
	r.spec.state_dir = dir;
	assert_int_equal(sandbox_start(&r.spec, &sb, r.err, sizeof(r.err)), 0);
	assert_int_equal(th_count_entries(dir), 3);

	/* At least the one planted: the count is the larger of the dirs and the cgroups
	 * swept, and cgroups are host-wide (another run's dead worker leaves some). */
	assert_true(sandbox_sweep_stale(dir) >= 1);
	assert_int_equal(th_count_entries(dir), 2); /* the live one and not-ours */
	assert_int_equal(access(canary, F_OK), 0);
	assert_true(sandbox_sweep_stale(dir) >= 0);
	assert_int_equal(th_count_entries(dir), 2);

	sandbox_destroy(sb);
	assert_int_equal(th_count_entries(dir), 1);
	th_rm_rf(dir);
	th_rm_rf(canary_dir);
	free(dir);
	free(canary_dir);
	run_cleanup(&r);
}

static void test_sandbox_dies_with_its_parent_and_the_sweep_cleans_up(void **state)
{
	char *dir = th_tmpdir("orphan");
	int ready[2], st, left = 1;
	pid_t helper;
	char c;

	snprintf(daemon_marker, sizeof(daemon_marker), "sleep 4343.%d", (int)getpid());
	assert_int_equal(pipe(ready), 0);
	helper = fork();
	assert_true(helper >= 0);
	if (helper == 0) {
		/* Start a sandbox and die without destroying it, as a crashed worker. */
		char script[128];
		snprintf(script, sizeof(script), "m=4343; sleep $m.%d", (int)getppid());
		const char *argv[] = {"/bin/sh", "-c", script, NULL};
		struct sandbox_spec spec = {.argv = argv,
					    .envp = base_env,
					    .stdin_fd = -1,
					    .stdout_fd = -1,
					    .stderr_fd = -1,
					    .state_dir = dir};
		struct sandbox *sb;
		char err[256];

		if (sandbox_start(&spec, &sb, err, sizeof(err)) < 0)
			_exit(1);
		for (int i = 0; i < 200 && !count_marked(); i++)
			usleep(10000);
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		_exit(0);
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	assert_int_equal(waitpid(helper, &st, 0), helper);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);

	for (int i = 0; i < 200 && (left = count_marked()); i++)
		usleep(10000);
	assert_int_equal(left, 0);
	assert_int_equal(th_count_entries(dir), 1);
	assert_true(sandbox_sweep_stale(dir) >= 1); /* cgroups are host-wide: see above */
	assert_int_equal(th_count_entries(dir), 0);
	th_rm_rf(dir);
	free(dir);
}

/* ---- concurrency ----------------------------------------------------------------- */

static void *start_several(void *arg)
{
	const char *state_dir = arg;
	long failures = 0;

	for (int i = 0; i < 5; i++) {
		const char *argv[] = {"/bin/sh", "-c", "exit 7", NULL};
		struct sandbox_spec spec = {.argv = argv,
					    .envp = base_env,
					    .stdin_fd = -1,
					    .stdout_fd = -1,
					    .stderr_fd = -1,
					    .state_dir = state_dir,
					    .slot = (unsigned)i};
		struct sandbox_result res;
		struct sandbox *sb;
		char err[256];

		if (sandbox_start(&spec, &sb, err, sizeof(err)) < 0) {
			failures++;
			continue;
		}
		if (sandbox_wait(sb, &res) < 0 || res.exit_code != 7)
			failures++;
		sandbox_destroy(sb);
	}
	return (void *)failures;
}

static void test_sandboxes_start_concurrently_from_threads(void **state)
{
	char *dir = th_tmpdir("threads");
	pthread_t t[4];

	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, start_several, dir), 0);
	for (int i = 0; i < 4; i++) {
		void *failures;
		pthread_join(t[i], &failures);
		assert_int_equal((long)failures, 0);
	}
	assert_int_equal(th_count_entries(dir), 0);
	th_rm_rf(dir);
	free(dir);
}

static int listed(const char *const *list, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(list[i], name))
			return 1;
	return 0;
}

/* What holds is said as it is, root or not (it_rootless.sh runs this as a user): the
 * cgroup's three limits are either enforced or listed as not; RLIMIT_DATA stands in for
 * memory exactly when no cgroup holds it; the wall clock and RLIMIT_NPROC always hold. */
static void test_enforcement_says_what_holds(void **state)
{
	static const char *const ctrl[] = {"memory", "pids", "cpu"};
	struct sandbox_enforcement e;
	int rootless = geteuid() != 0;

	(void)state;
	sandbox_enforcement(&e);
	assert_int_equal(e.rootless, rootless);
	if (rootless) {
		assert_true(!strcmp(e.slot_uids, "shared") || !strcmp(e.slot_uids, "subuid"));
		assert_true(strcmp(e.cgroup, "v2") != 0); /* a user's v2 is a delegated one */
	} else {
		assert_string_equal(e.slot_uids, "per-slot");
		assert_true(strcmp(e.cgroup, "v2-delegated") != 0);
	}
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(listed(e.enforced, e.n_enforced, ctrl[i]) +
				     listed(e.not_enforced, e.n_not_enforced, ctrl[i]),
				 1);
	assert_int_equal(listed(e.enforced, e.n_enforced, "rlimit_data"),
			 !listed(e.enforced, e.n_enforced, "memory"));
	assert_int_equal(!strcmp(e.cgroup, "none"), e.n_not_enforced == 3);
	assert_true(listed(e.enforced, e.n_enforced, "wall_clock"));
	assert_true(listed(e.enforced, e.n_enforced, "rlimit_nproc"));
	assert_non_null(strstr(e.summary, "limits: "));
	assert_int_equal(strstr(e.summary, "not root") != NULL, rootless);
}

/* The default state dir: root's, or one of the user's own. */
static void test_default_state_dir_is_the_users_own(void **state)
{
	char dir[256], want[64];
	const char *xdg = getenv("XDG_RUNTIME_DIR");

	(void)state;
	assert_int_equal(sandbox_state_default_dir(dir, sizeof(dir)), 0);
	if (geteuid() == 0) {
		assert_string_equal(dir, SANDBOX_DEFAULT_STATE_DIR);
		return;
	}
	snprintf(want, sizeof(want), "/tmp/reelbox-%u", (unsigned)geteuid());
	if (xdg && !strncmp(dir, xdg, strlen(xdg)))
		assert_string_equal(dir + strlen(xdg), "/reelbox");
	else
		assert_string_equal(dir, want);
	assert_int_equal(sandbox_state_default_dir(dir, 4), -ENAMETOOLONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_script_runs_as_unprivileged_user_without_capabilities),
	    cmocka_unit_test(test_worker_signal_dispositions_do_not_reach_the_script),
	    cmocka_unit_test(test_root_is_read_only),
	    cmocka_unit_test(test_only_scratch_proc_and_device_nodes_are_writable_mounts),
	    cmocka_unit_test(test_system_programs_and_merged_usr_links_are_there),
	    cmocka_unit_test(test_job_files_are_visible_read_only),
	    cmocka_unit_test(test_scratch_is_writable_and_bounded),
	    cmocka_unit_test(test_scratch_inode_count_is_bounded),
	    cmocka_unit_test(test_file_size_limit_ends_with_its_value),
	    cmocka_unit_test(test_process_limit_refuses_extra_forks),
	    cmocka_unit_test(test_cpu_limit_ends_with_its_value),
	    cmocka_unit_test(test_no_network_interface_but_lo),
	    cmocka_unit_test(test_only_its_own_processes_are_visible),
	    cmocka_unit_test(test_environment_is_exactly_the_spec),
	    cmocka_unit_test(test_worker_secret_is_in_no_environ_inside),
	    cmocka_unit_test(test_no_descriptor_above_2_reaches_the_command),
	    cmocka_unit_test(test_stdin_is_empty),
	    cmocka_unit_test(test_big_writes_to_stdout_are_whole),
	    cmocka_unit_test(test_daemonised_grandchild_is_gone_after_the_job),
	    cmocka_unit_test(test_timeout_fires_and_the_reason_says_so),
	    cmocka_unit_test(test_wait_enforces_the_timeout_by_itself),
	    cmocka_unit_test(test_kill_ends_the_sandbox_with_the_given_reason),
	    cmocka_unit_test(test_exit_code_is_passed_through),
	    cmocka_unit_test(test_result_survives_a_worker_that_ignores_sigchld),
	    cmocka_unit_test(test_killing_signal_is_passed_through),
	    cmocka_unit_test(test_missing_command_exits_127_with_a_message),
	    cmocka_unit_test(test_unexecutable_command_exits_126_with_a_message),
	    cmocka_unit_test(test_init_is_small_and_whole_in_its_sealed_memfd),
	    cmocka_unit_test(test_setup_failure_names_the_step_and_leaves_nothing),
	    cmocka_unit_test(test_bad_spec_is_refused_with_a_reason),
	    cmocka_unit_test(test_extra_binds_are_read_only_and_optional_ones_may_be_missing),
	    cmocka_unit_test(test_script_runs_under_a_seccomp_filter),
	    cmocka_unit_test(test_denied_inet_socket_is_named_to_on_denied_and_in_the_result),
	    cmocka_unit_test(test_a_loop_on_a_denied_call_is_counted_not_flooded),
	    cmocka_unit_test(test_serving_denials_through_the_fd_answers_them),
	    cmocka_unit_test(test_sigsys_kill_names_the_kill_set_in_the_reason),
	    cmocka_unit_test(test_cgroup_dirs_are_gone_after_destroy),
	    cmocka_unit_test(test_memory_hog_ends_oom_with_the_limit_named),
	    cmocka_unit_test(test_fork_bomb_is_reported_as_the_process_limit),
	    cmocka_unit_test(test_cgroup_measures_cpu_of_every_process),
	    cmocka_unit_test(test_user_namespace_is_owned_by_the_slot_host_uid),
	    cmocka_unit_test(test_cloning_thread_gets_its_own_ids_and_securebits_back),
	    cmocka_unit_test(test_inotify_hog_gets_16_and_leaves_the_host_its_own),
	    cmocka_unit_test(test_signal_queue_hog_gets_64_and_the_host_can_still_create_timers),
	    cmocka_unit_test(test_mountinfo_names_no_host_path),
	    cmocka_unit_test(test_state_dir_is_empty_after_destroy),
	    cmocka_unit_test(test_sweep_removes_only_stale_state_dirs),
	    cmocka_unit_test(test_sandbox_dies_with_its_parent_and_the_sweep_cleans_up),
	    cmocka_unit_test(test_sandboxes_start_concurrently_from_threads),
	    cmocka_unit_test(test_enforcement_says_what_holds),
	    cmocka_unit_test(test_default_state_dir_is_the_users_own),
	    cmocka_unit_test(test_scratch_files_open_after_the_script_only_as_regular_files),
	};

	const char *t = getenv("REELBOX_TEST_TIER");
	char info[160], err[512];

	if (t && sandbox_tier_parse(t, &tier) < 0) {
		fprintf(stderr, "REELBOX_TEST_TIER=%s is not a tier\n", t);
		return 2;
	}
	/* A tier this host cannot start is skipped (ctest's code 77), saying why. */
	if (tier != SANDBOX_TIER_NATIVE &&
	    sandbox_tier_check(tier, info, sizeof(info), err, sizeof(err)) < 0) {
		printf("SKIP: %s\n", err);
		return 77;
	}
	/* The worker's environment must not reach a script: plant a secret in ours. */
	setenv(SECRET_NAME, SECRET_VALUE, 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
