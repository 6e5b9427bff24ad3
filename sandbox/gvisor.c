/* gvisor.c - the gvisor tier: the same sandbox, with gVisor's user-space kernel between
 * the script and the host's.
 *
 * sandbox_start() with spec->tier == SANDBOX_TIER_GVISOR lands here. The job gets what
 * the native tier gives it, built from the same mount plan (mounts.c): the same system
 * binds read-only, the same generated /etc, /job read-only, the same size- and
 * inode-limited scratch tmpfs, the same uid, environment, rlimits and cgroup. Only the
 * kernel that answers the script differs: runsc's Sentry, itself confined by seccomp.
 *
 * Per sandbox, under its state dir (<state>/sb-.../, 0700, removed by destroy and by
 * the sweep of a dead owner's dirs):
 *
 *   bundle/config.json   the OCI spec; bundle/rootfs the read-only root it names
 *   job/                 the spec's files, bound read-only on /job
 *   scratch/             mount point of the scratch tmpfs, in runsc's namespace only
 *   runsc/               runsc's --root: its state for this one container
 *   log/runsc.log        runsc's own log (JSON lines), read back for a failed start,
 *                        on a 1 MiB tmpfs in runsc's namespace, never the host's disk
 *
 * The launcher is a child cloned into the job's cgroup (every process runsc starts,
 * the Sentry, the gofer and the ptrace stubs, is then charged to the job and killed
 * with it), in a mount namespace of its own where the scratch tmpfs, made by this
 * process with fsmount(), is moved onto scratch/; it executes `runsc run` with the
 * job's stdio as its own. The worker keeps the tmpfs's descriptor: the files the
 * script left are read through it after runsc is gone (sandbox_scratch_open), and
 * nothing is ever mounted in the worker's namespace.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

#define DEFAULT_RUNSC		"/usr/bin/runsc"
#define DEFAULT_OVERHEAD_MEMORY (128ull << 20)
#define DEFAULT_OVERHEAD_PIDS	160u
#define START_TIMEOUT_MS	10000
#define LOG_TAIL_BYTES		4096
#define LOG_TMPFS_OPTS		"size=1m,nr_inodes=16,mode=0700"
#define INIT_NAME		".reelbox-init"
/* Host tasks per process of the script: the ptrace platform's stub and its threads. */
#define TASKS_PER_PROCESS 8
#define CPU_ALLOWANCE_S	  2 /* the Sentry's own start, on top of a job's cpu_seconds */
#define LAUNCH_PATH	  "PATH=/usr/sbin:/usr/bin:/sbin:/bin"

static const char *const platforms[] = {"auto", "ptrace", "kvm", "systrap"};

static struct {
	char runsc[256];
	char platform[16];
	uint64_t overhead_memory;
	uint32_t overhead_pids;
} opts = {DEFAULT_RUNSC, "auto", DEFAULT_OVERHEAD_MEMORY, DEFAULT_OVERHEAD_PIDS};

int sandbox_gvisor_configure(const struct sandbox_gvisor_options *o, char *err, size_t errlen)
{
	const char *runsc = o && o->runsc ? o->runsc : DEFAULT_RUNSC;
	const char *platform = o && o->platform ? o->platform : "auto";
	size_t i;

	if (runsc[0] != '/' || strlen(runsc) >= sizeof(opts.runsc)) {
		sandbox_errf(err, errlen, "the runsc path \"%.64s\" must be absolute and short",
			     runsc);
		return -EINVAL;
	}
	for (i = 0; i < sizeof(platforms) / sizeof(platforms[0]); i++)
		if (!strcmp(platform, platforms[i]))
			break;
	if (i == sizeof(platforms) / sizeof(platforms[0])) {
		sandbox_errf(err, errlen,
			     "unknown gVisor platform \"%.32s\" (auto, ptrace, kvm or systrap)",
			     platform);
		return -EINVAL;
	}
	snprintf(opts.runsc, sizeof(opts.runsc), "%s", runsc);
	snprintf(opts.platform, sizeof(opts.platform), "%s", platform);
	opts.overhead_memory =
	    o && o->overhead_memory_bytes ? o->overhead_memory_bytes : DEFAULT_OVERHEAD_MEMORY;
	opts.overhead_pids = o && o->overhead_pids ? o->overhead_pids : DEFAULT_OVERHEAD_PIDS;
	return 0;
}

/* What "auto" settled on in sandbox_tier_check(), "" before. */
static char auto_platform[16];

/* "auto": what the tier check found working, else the KVM platform where /dev/kvm opens
 * (a VM without nested virtualisation has none), else ptrace, which works on any host
 * that allows ptrace. */
const char *sandbox_gvisor_platform(void)
{
	int fd;

	if (strcmp(opts.platform, "auto"))
		return opts.platform;
	if (auto_platform[0])
		return auto_platform;
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return "ptrace";
	close(fd);
	return "kvm";
}

/* ---- the bundle on disk --------------------------------------------------------------- */

struct gv_paths {
	char bundle[PATH_MAX], rootfs[PATH_MAX], job[PATH_MAX], scratch[PATH_MAX];
	char root[PATH_MAX], logdir[PATH_MAX], log[PATH_MAX], config[PATH_MAX];
	const char *id; /* the sandbox dir's name, "sb-<pid>-<start>-<seq>" */
};

static int gv_paths(struct gv_paths *p, const char *sb_dir)
{
	int n = 0;

	n |= snprintf(p->bundle, PATH_MAX, "%s/bundle", sb_dir) >= PATH_MAX;
	n |= snprintf(p->rootfs, PATH_MAX, "%s/bundle/rootfs", sb_dir) >= PATH_MAX;
	n |= snprintf(p->config, PATH_MAX, "%s/bundle/config.json", sb_dir) >= PATH_MAX;
	n |= snprintf(p->job, PATH_MAX, "%s/job", sb_dir) >= PATH_MAX;
	n |= snprintf(p->scratch, PATH_MAX, "%s/scratch", sb_dir) >= PATH_MAX;
	n |= snprintf(p->root, PATH_MAX, "%s/runsc", sb_dir) >= PATH_MAX;
	n |= snprintf(p->logdir, PATH_MAX, "%s/log", sb_dir) >= PATH_MAX;
	n |= snprintf(p->log, PATH_MAX, "%s/log/runsc.log", sb_dir) >= PATH_MAX;
	p->id = strrchr(sb_dir, '/') ? strrchr(sb_dir, '/') + 1 : sb_dir;
	return n ? -ENAMETOOLONG : 0;
}

static int write_file_at(int dir, const char *name, const void *data, size_t len, mode_t mode)
{
	int fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	const char *p = data;
	int r = 0;

	if (fd < 0)
		return -errno;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fchmod(fd, mode) < 0 && r == 0)
		r = -errno;
	close(fd);
	return r;
}

/* mkdir -p of rel (and, with last, of rel itself) under dir; rel comes from the mount
 * plan, never from the job. */
static int mkdirs_at(int dir, const char *rel, int last)
{
	char buf[PATH_MAX];
	size_t len = strlen(rel);

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, rel, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && (buf[i] != '\0' || !last))
			continue;
		char c = buf[i];
		buf[i] = '\0';
		if (mkdirat(dir, buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		buf[i] = c;
	}
	return 0;
}

/* The root runsc serves read-only: the plan's directories, links, generated files and
 * the mount points of its binds (a file bind needs a file to land on). */
static int build_rootfs(int rootfd, const struct sandbox_mounts *m)
{
	int r = 0;

	for (size_t i = 0; i < m->n_ops && r == 0; i++) {
		const struct sandbox_mount *op = &m->ops[i];

		/* runsc gives the sandbox its own /dev: null, zero, full, random, urandom,
		 * fd, std*, shm, pts; the plan's device binds are not taken. */
		if (!strcmp(op->dst, "dev") || !strncmp(op->dst, "dev/", 4))
			continue;
		switch (op->op) {
		case SANDBOX_MNT_DIR:
		case SANDBOX_MNT_JOB:
		case SANDBOX_MNT_TMPFS:
		case SANDBOX_MNT_PROC:
			r = mkdirs_at(rootfd, op->dst, 1);
			break;
		case SANDBOX_MNT_SYMLINK:
			if (!strcmp(op->dst, "tmp")) { /* a mount point: see write_config */
				r = mkdirs_at(rootfd, op->dst, 1);
				break;
			}
			if ((r = mkdirs_at(rootfd, op->dst, 0)) == 0 &&
			    symlinkat(op->data, rootfd, op->dst) < 0 && errno != EEXIST)
				r = -errno;
			break;
		case SANDBOX_MNT_FILE:
			r = write_file_at(rootfd, op->dst, op->data, strlen(op->data), 0644);
			break;
		case SANDBOX_MNT_BIND:
			if ((r = mkdirs_at(rootfd, op->dst, op->is_dir)) == 0 && !op->is_dir)
				r = write_file_at(rootfd, op->dst, "", 0, 0644);
			break;
		default:
			break;
		}
	}
	return r;
}

/* reelbox-init into the root, from the memfd the native tier executes it from. */
static int write_init(int rootfd)
{
	int in = sandbox_proc_init_memfd(), out, r = 0;
	off_t off = 0, size;
	struct stat st;

	if (in < 0)
		return in;
	if (fstat(in, &st) < 0)
		return -errno;
	size = st.st_size;
	out = openat(rootfd, INIT_NAME, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0755);
	if (out < 0)
		return -errno;
	while (off < size && r == 0) {
		ssize_t n = sendfile(out, in, &off, (size_t)(size - off));
		if (n <= 0 && !(n < 0 && errno == EINTR))
			r = n < 0 ? -errno : -EIO;
	}
	close(out);
	return r;
}

static int write_job_files(const char *dir, const struct sandbox_spec *spec)
{
	int fd, r = 0;

	if (mkdir(dir, 0755) < 0)
		return -errno;
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return -errno;
	for (size_t i = 0; i < spec->n_files && r == 0; i++)
		r = write_file_at(fd, spec->files[i].name, spec->files[i].data, spec->files[i].len,
				  spec->files[i].executable ? 0755 : 0644);
	close(fd);
	return r;
}

/* The OCI spec: the plan's binds read-only, /job and /scratch, a fresh /proc; the
 * script's uid, no capabilities, no_new_privs, the job's rlimits and environment. */
static int write_config(const struct gv_paths *p, const struct sandbox_mounts *m,
			const struct sandbox_spec *spec, const struct sandbox_rlimits *rl)
{
	/* The init starts as root with the capabilities it needs to kill what the command
	 * leaves and to drop to the script's user (init.c); the script keeps none. */
	static const char caps[] =
	    "{\"bounding\":[\"CAP_SETUID\",\"CAP_SETGID\",\"CAP_SETPCAP\",\"CAP_KILL\"],"
	    "\"effective\":[\"CAP_SETUID\",\"CAP_SETGID\",\"CAP_SETPCAP\",\"CAP_KILL\"],"
	    "\"inheritable\":[],"
	    "\"permitted\":[\"CAP_SETUID\",\"CAP_SETGID\",\"CAP_SETPCAP\",\"CAP_KILL\"],"
	    "\"ambient\":[]}";
	struct sandbox_oci_buf b = {0};
	int r;

	sandbox_oci_f(&b, "{\"ociVersion\":\"1.0.2\",\"process\":{\"terminal\":false,");
	/* reelbox-init is pid 1, as in the native tier, and relays stdout (init.c). */
	sandbox_oci_f(&b, "\"user\":{\"uid\":0,\"gid\":0},\"args\":[\"/%s\",\"--relay\"",
		      INIT_NAME);
	for (size_t i = 0; spec->argv[i]; i++) {
		sandbox_oci_raw(&b, ",", 1);
		sandbox_oci_str(&b, spec->argv[i]);
	}
	sandbox_oci_raw(&b, "]", 1);
	sandbox_oci_raw(&b, ",\"env\":", 7);
	sandbox_oci_strs(&b, spec->envp);
	sandbox_oci_raw(&b, ",\"cwd\":", 7);
	sandbox_oci_str(&b, spec->cwd ? spec->cwd : "/scratch");
	sandbox_oci_raw(&b, ",\"capabilities\":", 16);
	sandbox_oci_raw(&b, caps, sizeof(caps) - 1);
	sandbox_oci_raw(&b, ",\"noNewPrivileges\":true,\"rlimits\":", 34);
	sandbox_oci_rlimits(&b, rl);
	sandbox_oci_f(
	    &b, "},\"root\":{\"path\":\"rootfs\",\"readonly\":true},\"hostname\":\"reelbox\",");
	sandbox_oci_f(
	    &b, "\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\","
		"\"options\":[\"nosuid\",\"nodev\",\"noexec\"]}");
	for (size_t i = 0; i < m->n_ops; i++) {
		const struct sandbox_mount *op = &m->ops[i];
		char dst[PATH_MAX];

		snprintf(dst, sizeof(dst), "/%s", op->dst);
		if (op->op == SANDBOX_MNT_BIND)
			sandbox_oci_mount(&b, dst, "bind", op->src,
					  "\"bind\",\"ro\",\"nosuid\",\"nodev\"");
		else if (op->op == SANDBOX_MNT_JOB)
			sandbox_oci_mount(&b, dst, "bind", p->job,
					  "\"bind\",\"ro\",\"nosuid\",\"nodev\"");
		else if (op->op == SANDBOX_MNT_TMPFS && !strcmp(op->dst, "scratch"))
			sandbox_oci_mount(&b, dst, "bind", p->scratch,
					  "\"bind\",\"rw\",\"nosuid\",\"nodev\"");
		/* /tmp and /dev/shm are the scratch tmpfs again, bound rather than linked:
		 * runsc would put tmpfs of its own there, outside the scratch limit (and its
		 * /dev/shm is root's: POSIX shared memory would fail). */
		else if (op->op == SANDBOX_MNT_SYMLINK &&
			 (!strcmp(op->dst, "tmp") || !strcmp(op->dst, "dev/shm")))
			sandbox_oci_mount(&b, dst, "bind", p->scratch,
					  "\"bind\",\"rw\",\"nosuid\",\"nodev\"");
	}
	/* Namespaces of the Sentry's own; no cgroupsPath: the launcher's cgroup holds all. */
	sandbox_oci_f(&b, "],\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"ipc\"},"
			  "{\"type\":\"uts\"},{\"type\":\"mount\"},{\"type\":\"network\"}]}}\n");
	if (b.oom) {
		free(b.p);
		return -ENOMEM;
	}
	r = write_file_at(AT_FDCWD, p->config, b.p, b.len, 0600);
	free(b.p);
	return r;
}

/* The scratch tmpfs, made here as a detached mount: the launcher moves it into its
 * own namespace; the descriptor stays the worker's. */
static int make_tmpfs(const char *opts_str)
{
	char buf[128], *save = NULL;
	int fs, mfd = -1, r = 0;

	if ((fs = fsopen("tmpfs", FSOPEN_CLOEXEC)) < 0)
		return -errno;
	snprintf(buf, sizeof(buf), "%s", opts_str);
	for (char *kv = strtok_r(buf, ",", &save); kv && r == 0; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');
		if (!eq)
			continue;
		*eq = '\0';
		if (fsconfig(fs, FSCONFIG_SET_STRING, kv, eq + 1, 0) < 0)
			r = -errno;
	}
	/* The same mode bits as the native tier's; only the Sentry and gofer see it. */
	if (r == 0 && fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		r = -errno;
	if (r == 0 &&
	    (mfd = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)) < 0)
		r = -errno;
	close(fs);
	return r < 0 ? r : mfd;
}

/* ---- the launcher ----------------------------------------------------------------------- */

struct gv_launch {
	char *argv[16];
	char platform_arg[32];
	char *envp[2];
	const char *scratch_path;
	int scratch_fd;
	const char *log_path;
	int log_fd; /* the log's tmpfs, detached: moved onto log_path */
	int stdio[3];
	struct rlimit cpu; /* RLIMIT_CPU for runsc and all it starts; 0 = none */
	int status_fd;	   /* write end: runsc's wait status */
	int sync_fd;	   /* read end: one byte once the cgroup holds the child */
	int error_fd;	   /* write end, CLOEXEC: an errno when the exec fails */
};

/* Signals back to their defaults and unblocked: runsc waits for its own children, and
 * a worker that ignores SIGCHLD must not pass that on. Async-signal-safe. */
static void reset_signals(void)
{
	struct sigaction sa = {.sa_handler = SIG_DFL};
	sigset_t none;

	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* The launcher's second half: run runsc as its child and write runsc's wait status to
 * fd 4, so the result does not depend on the worker reaping it (a worker that ignores
 * SIGCHLD has its children reaped by the kernel, status and all). */
__attribute__((noreturn)) static void wait_for_runsc(const struct gv_launch *l)
{
	int e, st = 0;
	pid_t pid = vfork();

	if (pid == 0) {
		/* runsc dies with the launcher: sandbox_kill() signals the launcher. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) == 0)
			execve(l->argv[0], l->argv, l->envp);
		e = errno;
		(void)!write(3, &e, sizeof(e));
		_exit(127);
	}
	if (pid < 0) {
		e = errno;
		(void)!write(3, &e, sizeof(e));
		_exit(127);
	}
	/* Ours closed: the parent sees the error pipe's end, and the job's pipes end
	 * with runsc. */
	for (int fd = 0; fd <= 3; fd++)
		close(fd);
	while (wait4(pid, &st, __WALL, NULL) < 0 && errno == EINTR)
		;
	(void)!write(4, &st, sizeof(st));
	_exit(0);
}

/* A descriptor of fd's file with an open file description of its own, above 15: runsc
 * makes the descriptors it is given non-blocking and writes a file from its own offset,
 * which must not change the caller's (a CLI's terminal, a `> file`). Sockets cannot be
 * reopened and are shared. Async-signal-safe. */
static int own_description(int fd, int for_reading)
{
	char path[32] = "/proc/self/fd/";
	struct stat st;
	int len = 14, digits = 1, nfd, r;

	if (fstat(fd, &st) < 0)
		return -1;
	if (S_ISSOCK(st.st_mode))
		return fcntl(fd, F_DUPFD_CLOEXEC, 16);
	for (int v = fd; v >= 10; v /= 10)
		digits++;
	for (int i = digits - 1, v = fd; i >= 0; i--, v /= 10)
		path[len + i] = (char)('0' + v % 10);
	path[len + digits] = '\0';
	nfd =
	    open(path, (for_reading ? O_RDONLY : O_WRONLY | (S_ISREG(st.st_mode) ? O_APPEND : 0)) |
			   O_CLOEXEC | O_NOCTTY);
	if (nfd < 0)
		return -1;
	r = fcntl(nfd, F_DUPFD_CLOEXEC, 16);
	close(nfd);
	return r;
}

/* In the cloned child: async-signal-safe calls only (the worker may have threads). */
__attribute__((noreturn)) static void launcher_child(const struct gv_launch *l)
{
	int fds[5], e;
	char c;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		goto fail;
	/* Wait for the parent to finish moving us into the cgroup (v1 without entry). */
	if (read(l->sync_fd, &c, 1) != 1) {
		errno = EPIPE;
		goto fail;
	}
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    move_mount(l->scratch_fd, "", AT_FDCWD, l->scratch_path, MOVE_MOUNT_F_EMPTY_PATH) < 0 ||
	    move_mount(l->log_fd, "", AT_FDCWD, l->log_path, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		goto fail;
	reset_signals();
	/* The job's CPU time on the host: gVisor's ptrace platform does not count it
	 * against the script's own RLIMIT_CPU, every runsc process inherits this one. */
	if (l->cpu.rlim_cur && setrlimit(RLIMIT_CPU, &l->cpu) < 0)
		goto fail;
	/* Above every fd we keep, then onto 0-2, 3 (the error pipe) and 4 (the status). */
	for (int i = 0; i < 3; i++)
		if ((fds[i] = own_description(l->stdio[i], i == 0)) < 0)
			goto fail;
	if ((fds[3] = fcntl(l->error_fd, F_DUPFD_CLOEXEC, 16)) < 0 ||
	    (fds[4] = fcntl(l->status_fd, F_DUPFD_CLOEXEC, 16)) < 0)
		goto fail;
	for (int i = 0; i < 3; i++)
		if (dup2(fds[i], i) < 0)
			goto fail;
	if (dup3(fds[3], 3, O_CLOEXEC) < 0 || dup3(fds[4], 4, O_CLOEXEC) < 0)
		goto fail;
	if (syscall(SYS_close_range, 5u, ~0u, 0u) < 0 || setsid() < 0)
		goto fail;
	wait_for_runsc(l);
fail:
	e = errno;
	(void)!write(l->error_fd, &e, sizeof(e));
	_exit(127);
}

static pid_t clone_launcher(const struct gv_launch *l, int cgroup_fd, int *pidfd)
{
	struct {
		uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls,
		    set_tid, set_tid_size, cgroup;
	} args = {0};
	long pid;

	args.flags = CLONE_PIDFD | (cgroup_fd >= 0 ? CLONE_INTO_CGROUP : 0);
	args.pidfd = (uint64_t)(uintptr_t)pidfd;
	args.exit_signal = SIGCHLD;
	args.cgroup = cgroup_fd >= 0 ? (uint64_t)cgroup_fd : 0;
	pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid == 0)
		launcher_child(l);
	return pid < 0 ? -errno : (pid_t)pid;
}

/* The job's cgroup, raised by what gVisor's own processes need: the Sentry, the gofer
 * and the stubs count against memory and pids like the script does. */
static struct sandbox_spec cgroup_spec(const struct sandbox_spec *spec)
{
	struct sandbox_spec s = *spec;

	if (s.limits.memory_bytes)
		s.limits.memory_bytes += opts.overhead_memory;
	/* The script's own count is the Sentry's RLIMIT_NPROC (prepare); the cgroup only
	 * stops gVisor's host tasks past what that many processes need. */
	if (s.limits.pids)
		s.limits.pids = s.limits.pids * TASKS_PER_PROCESS + opts.overhead_pids;
	return s;
}

static int prepare(struct sandbox *sb, const struct sandbox_spec *spec, struct gv_paths *p,
		   struct sandbox_mounts *m, struct sandbox_rlimits *rl, char *err, size_t errlen)
{
	struct sandbox_spec cgs = cgroup_spec(spec);
	int r, rootfd;

	if ((r = sandbox_state_create(spec->state_dir, &sb->sb_dir, err, errlen)) < 0)
		return r;
	if ((r = gv_paths(p, sb->sb_dir)) < 0) {
		sandbox_errf(err, errlen, "the gVisor bundle's path is too long");
		return r;
	}
	if ((r = sandbox_mounts_prepare_from_parent(m, spec, sb->limits.scratch_bytes, sb->sb_dir,
						    err, errlen)) < 0 ||
	    (r = sandbox_cgroup_create_from_parent(&sb->cgroup, &cgs, err, errlen)) < 0 ||
	    (r = sandbox_cgroup_create_helper_from_parent(&sb->cgroup, spec, err, errlen)) < 0)
		return r;
	sandbox_limits_prepare_from_parent(&sb->limits, sandbox_cgroup_exists(&sb->cgroup), rl);
	/* The cgroup counts gVisor's host threads, not the script's processes: the Sentry
	 * holds those to RLIMIT_NPROC, the job's own number. */
	for (int i = 0; i < rl->n; i++)
		if (rl->set[i].resource == RLIMIT_NPROC && sb->limits.pids)
			rl->set[i].rl.rlim_cur = rl->set[i].rl.rlim_max = sb->limits.pids;
	if (mkdir(p->bundle, 0700) < 0 || mkdir(p->rootfs, 0755) < 0 ||
	    mkdir(p->scratch, 0700) < 0 || mkdir(p->root, 0700) < 0 || mkdir(p->logdir, 0700) < 0)
		r = -errno;
	else if ((rootfd = open(p->rootfs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		r = -errno;
	else {
		if ((r = build_rootfs(rootfd, m)) == 0)
			r = write_init(rootfd);
		close(rootfd);
	}
	if (r == 0 && (r = write_job_files(p->job, spec)) == 0)
		r = write_config(p, m, spec, rl);
	if (r < 0) {
		sandbox_errf(err, errlen, "cannot write the gVisor bundle: %s",
			     sandbox_strerror(r));
		return r;
	}
	if ((sb->scratch_fd = make_tmpfs(m->scratch_opts)) < 0) {
		r = sb->scratch_fd;
		sb->scratch_fd = -1;
		sandbox_errf(err, errlen, "cannot make the scratch tmpfs: %s", sandbox_strerror(r));
		return r;
	}
	/* runsc logs what the script makes its Sentry warn about: a small tmpfs of its own,
	 * charged to the job's cgroup, holds it, not the host's disk. */
	if ((sb->gv_log_fd = make_tmpfs(LOG_TMPFS_OPTS)) < 0) {
		r = sb->gv_log_fd;
		sb->gv_log_fd = -1;
		sandbox_errf(err, errlen, "cannot make runsc's log tmpfs: %s", sandbox_strerror(r));
		return r;
	}
	return 0;
}

static void plan_launch(struct gv_launch *l, struct gv_paths *p, const struct sandbox_spec *spec,
			int devnull)
{
	int i = 0;

	snprintf(l->platform_arg, sizeof(l->platform_arg), "--platform=%s",
		 sandbox_gvisor_platform());
	l->argv[i++] = opts.runsc;
	l->argv[i++] = "--root";
	l->argv[i++] = p->root;
	/* No network at all: a loopback only, nothing reaches the host's interfaces. */
	l->argv[i++] = "--network=none";
	/* runsc configures no cgroup of its own: it runs inside the job's. */
	l->argv[i++] = "--ignore-cgroups";
	l->argv[i++] = l->platform_arg;
	l->argv[i++] = "--log-format=json";
	l->argv[i++] = "--log";
	l->argv[i++] = p->log;
	l->argv[i++] = "run";
	l->argv[i++] = "--bundle";
	l->argv[i++] = p->bundle;
	/* The container id names runsc's abstract control socket: unique per sandbox. */
	l->argv[i++] = (char *)p->id;
	l->argv[i] = NULL;
	/* runsc gets a PATH and nothing else of the worker's environment. */
	l->envp[0] = LAUNCH_PATH;
	l->envp[1] = NULL;
	l->scratch_path = p->scratch;
	l->stdio[0] = spec->stdin_fd >= 0 ? spec->stdin_fd : devnull;
	l->stdio[1] = spec->stdout_fd >= 0 ? spec->stdout_fd : devnull;
	l->stdio[2] = spec->stderr_fd >= 0 ? spec->stderr_fd : devnull;
}

/* Release the launcher once the cgroup holds it, and wait for its exec: the error
 * pipe closes (CLOEXEC) when runsc runs, or carries the errno of the step that failed. */
static int release_launcher(struct sandbox *sb, int sync_w, int error_r, char *err, size_t errlen)
{
	struct pollfd pfd = {.fd = error_r, .events = POLLIN};
	int r, e;
	ssize_t n;

	if ((r = sandbox_cgroup_attach_from_parent(&sb->cgroup, sb->pid)) < 0) {
		sandbox_errf(err, errlen, "cannot move runsc into the job's cgroup: %s",
			     sandbox_strerror(r));
		return r;
	}
	if (write(sync_w, "x", 1) != 1) {
		r = -errno;
		sandbox_errf(err, errlen, "cannot release runsc: %s", sandbox_strerror(r));
		return r;
	}
	do
		r = poll(&pfd, 1, START_TIMEOUT_MS);
	while (r < 0 && errno == EINTR);
	if (r == 0) {
		sandbox_errf(err, errlen, "runsc did not start within %d s",
			     START_TIMEOUT_MS / 1000);
		return -ETIMEDOUT;
	}
	do
		n = read(error_r, &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return 0;
	e = n == (ssize_t)sizeof(e) && e > 0 ? e : EIO;
	sandbox_errf(err, errlen, "cannot start %s: %s", opts.runsc, sandbox_strerror(e));
	return -e;
}

static void close_pair(int p[2])
{
	for (int i = 0; i < 2; i++)
		if (p[i] >= 0)
			close(p[i]);
	p[0] = p[1] = -1;
}

static int launch(struct sandbox *sb, struct gv_paths *p, const struct sandbox_spec *spec,
		  char *err, size_t errlen)
{
	struct gv_launch l = {0};
	int sync[2] = {-1, -1}, error[2] = {-1, -1}, status[2] = {-1, -1}, devnull = -1, r;

	if (pipe2(sync, O_CLOEXEC) < 0 || pipe2(error, O_CLOEXEC) < 0 ||
	    pipe2(status, O_CLOEXEC | O_NONBLOCK) < 0 ||
	    (devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0) {
		r = -errno;
		sandbox_errf(err, errlen, "cannot create runsc's pipes: %s", sandbox_strerror(r));
		goto out;
	}
	plan_launch(&l, p, spec, devnull);
	l.scratch_fd = sb->scratch_fd;
	l.log_fd = sb->gv_log_fd;
	l.log_path = p->logdir;
	l.sync_fd = sync[0];
	l.error_fd = error[1];
	l.status_fd = status[1];
	if (sb->limits.cpu_seconds)
		l.cpu.rlim_cur = l.cpu.rlim_max = sb->limits.cpu_seconds + CPU_ALLOWANCE_S;
	sb->start_ns = sandbox_now_ns();
	if (sb->limits.timeout_ms)
		sb->deadline_ns = sb->start_ns + sb->limits.timeout_ms * 1000000ull;
	sandbox_cgroup_enter_from_parent(&sb->cgroup);
	sb->pid = clone_launcher(&l, sb->cgroup.clone_fd, &sb->pidfd);
	if ((r = sandbox_cgroup_leave_from_parent(&sb->cgroup, sb->pid > 0)) < 0) {
		sandbox_errf(err, errlen,
			     "cannot move the cloning thread out of the job's cgroup: %s",
			     sandbox_strerror(r));
		goto out;
	}
	if (sb->pid < 0) {
		r = sb->pid;
		sb->pid = -1;
		sb->pidfd = -1;
		sandbox_errf(err, errlen, "cannot start runsc's launcher: %s", sandbox_strerror(r));
		goto out;
	}
	close(sync[0]);
	close(error[1]);
	close(status[1]);
	sync[0] = error[1] = status[1] = -1;
	sb->status_fd = status[0];
	status[0] = -1;
	r = release_launcher(sb, sync[1], error[0], err, errlen);
out:
	close_pair(sync);
	close_pair(error);
	close_pair(status);
	if (devnull >= 0)
		close(devnull);
	return r;
}

int sandbox_gvisor_start(struct sandbox *sb, const struct sandbox_spec *spec, char *err,
			 size_t errlen)
{
	struct sandbox_mounts m = {0};
	struct sandbox_rlimits rl = {0};
	struct gv_paths *p;
	int r;

	if (access(opts.runsc, X_OK) < 0) {
		r = -errno;
		sandbox_errf(err, errlen,
			     "the gvisor tier needs runsc, and %s %s (install Debian's runsc "
			     "package or set gvisor.runsc)",
			     opts.runsc, r == -ENOENT ? "does not exist" : "cannot be executed");
		return r;
	}
	if (!(p = malloc(sizeof(*p))))
		return -ENOMEM;
	r = prepare(sb, spec, p, &m, &rl, err, errlen);
	if (r == 0)
		r = launch(sb, p, spec, err, errlen);
	sandbox_mounts_free(&m);
	free(p);
	return r;
}

/* The last error runsc logged (its log is JSON lines: {"msg":"...","level":"error",...}),
 * from the log's tail: a bounded scan for one field, no parser. */
static void last_logged_error(const struct sandbox *sb, char *out, size_t len)
{
	char buf[LOG_TAIL_BYTES + 1], *line = NULL, *at;
	ssize_t n;
	size_t o = 0;
	off_t size;
	int fd;

	out[0] = '\0';
	if (sb->gv_log_fd < 0 ||
	    (fd = openat(sb->gv_log_fd, "runsc.log", O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return;
	size = lseek(fd, 0, SEEK_END);
	n = size < 0
		? -1
		: pread(fd, buf, LOG_TAIL_BYTES, size > LOG_TAIL_BYTES ? size - LOG_TAIL_BYTES : 0);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (at = buf; (at = strstr(at, "\"level\":\"error\"")); at++)
		line = at;
	if (!line)
		return;
	while (line > buf && line[-1] != '\n')
		line--;
	if (strncmp(line, "{\"msg\":\"", 8))
		return;
	for (at = line + 8; *at && *at != '"' && o + 1 < len; at++) {
		if (*at == '\\' && at[1])
			at++;
		out[o++] = (unsigned char)*at < 0x20 ? ' ' : *at;
	}
	out[o] = '\0';
}

int sandbox_gvisor_status(struct sandbox *sb, int runsc_status, int *status, char *reason,
			  size_t len)
{
	struct sandbox_cg_stats st;
	int code;

	reason[0] = '\0';
	/* runsc's processes carry the job's RLIMIT_CPU (plus the Sentry's allowance): one
	 * of them dying of it (the script's process killed, or runsc failing) with the
	 * job's cgroup past the job's cpu time is the script's CPU limit. */
	if ((!WIFEXITED(runsc_status) || WEXITSTATUS(runsc_status) >= 128) &&
	    sb->limits.cpu_seconds && sb->cgroup.cg && sandbox_cg_stats(sb->cgroup.cg, &st) == 0 &&
	    st.cpu_usage_usec >= sb->limits.cpu_seconds * 1000000) {
		*status = SIGXCPU;
		return 1;
	}
	if (!WIFEXITED(runsc_status)) {
		snprintf(reason, len, "gVisor's runsc was killed by signal %d",
			 WTERMSIG(runsc_status));
		return 0;
	}
	code = WEXITSTATUS(runsc_status);
	if (code == 128) {
		char msg[180];
		last_logged_error(sb, msg, sizeof(msg));
		if (msg[0]) {
			snprintf(reason, len, "gVisor's runsc failed: %s", msg);
			return 0;
		}
	}
	/* 128 + N is a command killed by signal N, or one that exited so: runsc tells
	 * them apart to no one. Read as what the script says, never as a limit that
	 * fired, unless the job's cgroup agrees (the CPU check above; OOM and pids
	 * after it). */
	*status = code << 8;
	return 1;
}

void sandbox_gvisor_explain(struct sandbox *sb, struct sandbox_result *res)
{
	char more[96];

	/* The cgroup's limit includes gVisor's allowance: name the job's own, and the rest. */
	/* Killed by the cgroup, as the native tier says it (runsc's status cannot). */
	if (res->end == SANDBOX_OOM || res->end == SANDBOX_CPU) {
		res->exit_code = -1;
		res->signal = res->end == SANDBOX_OOM ? SIGKILL : SIGXCPU;
	}
	if (res->end == SANDBOX_OOM && sb->limits.memory_bytes) {
		snprintf(res->reason, sizeof(res->reason), "memory limit of %llu MB reached",
			 (unsigned long long)(sb->limits.memory_bytes >> 20));
		snprintf(more, sizeof(more), " (with %llu MB more for gVisor's own processes)",
			 (unsigned long long)(opts.overhead_memory >> 20));
	} else if (res->end == SANDBOX_PIDS && sb->limits.pids) {
		snprintf(res->reason, sizeof(res->reason), "process limit of %u reached",
			 sb->limits.pids);
		snprintf(more, sizeof(more), " (as %u of gVisor's host tasks)",
			 sb->limits.pids * TASKS_PER_PROCESS + opts.overhead_pids);
	} else {
		return;
	}
	strncat(res->reason, more, sizeof(res->reason) - strlen(res->reason) - 1);
}

/* ---- what runs here ---------------------------------------------------------------- */

/* The first line `runsc --version` prints ("runsc version 0.0~20221219.0"). */
void sandbox_gvisor_version(char *out, size_t len)
{
	char *argv[] = {opts.runsc, "--version", NULL}, *envp[] = {LAUNCH_PATH, NULL};
	posix_spawn_file_actions_t fa;
	char buf[256];
	int pipefd[2], st;
	ssize_t n = 0;
	pid_t pid;

	snprintf(out, len, "runsc");
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	if (posix_spawn(&pid, opts.runsc, &fa, NULL, argv, envp) == 0) {
		close(pipefd[1]);
		pipefd[1] = -1;
		n = read(pipefd[0], buf, sizeof(buf) - 1);
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (n <= 0)
		return;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (!strncmp(buf, "runsc version ", 14))
		snprintf(out, len, "runsc %.64s", buf + 14);
}

void sandbox_gvisor_pin_platform(const char *p)
{
	snprintf(auto_platform, sizeof(auto_platform), "%s", p);
}

int sandbox_gvisor_platform_is_auto(void)
{
	return !strcmp(opts.platform, "auto") && !auto_platform[0];
}
