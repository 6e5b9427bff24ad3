/* internal.h - the sandbox's private seams, one section per concern.
 *
 * Every function says on which side of clone() it runs. The ..._from_parent ones run
 * in the worker (any thread, may allocate); the ..._from_child ones run in the cloned
 * child of a possibly multithreaded process before it executes the init, so they may
 * use only async-signal-safe system calls: no malloc, no stdio, no locks, and no
 * glibc set*id wrappers (they broadcast to threads that do not exist in the child).
 * Everything the child needs is computed by the parent beforehand and reaches the
 * child through struct sandbox_child, which the clone copies.
 */
#ifndef REELBOX_SANDBOX_INTERNAL_H
#define REELBOX_SANDBOX_INTERNAL_H

#include <linux/filter.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "cgroups.h"
#include "sandbox.h"

/* Ids inside the sandbox: the script runs as this unprivileged user and group. */
#define SANDBOX_INNER_ID 1000

/* When reelbox runs as root, slot N maps the inner id to host uid/gid BASE+N, an id
 * no account uses (without root, the user's subordinate id START+N from /etc/subuid
 * and /etc/subgid, through newuidmap, when the user has a range for every slot): a
 * script that escaped the namespaces would own no host file and could signal no host
 * process. 1500000 is clear of useradd's range (1000-60000),
 * systemd's dynamic users (61184-65519) and the /etc/subuid blocks useradd hands
 * out (100000 + 65536 per user, for the first 21 users); it is inside the range
 * systemd-nspawn picks container ids from, so a host running such containers should
 * move it. When reelbox is not root and the user has no such range, the inner id maps
 * to the invoking user, the only id an unprivileged process may map by itself. */
#define SANDBOX_HOST_ID_BASE 1500000u
#define SANDBOX_MAX_SLOT     65535u

/* Descriptors the child arranges before it executes the init. */
#define SANDBOX_FD_STATUS 3 /* init writes the command's wait status here */
#define SANDBOX_FD_INIT	  4 /* the sealed memfd holding reelbox-init (CLOEXEC) */
#define SANDBOX_FD_ERROR  5 /* setup failures go to the parent here (CLOEXEC) */
#define SANDBOX_FD_SYNC	  6 /* the sync pipe's read end, until the id switch (CLOEXEC) */
#define SANDBOX_FD_NOTIFY 7 /* the child's end of the listener socketpair (CLOEXEC) */

/* ---- err.c: error sentences (a leaf: every file may call it) --------------------- */

/* strerror() that is thread-safe and never NULL; takes err or -err. */
const char *sandbox_strerror(int err);
/* One sentence into the caller's err buffer; a NULL or empty buffer is skipped. */
void sandbox_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- proc.c: the child process and its error reports ---------------------------- */

/* The steps of the child's setup, named in the parent's error message. */
enum sandbox_step {
	SANDBOX_STEP_PDEATHSIG = 1,
	SANDBOX_STEP_FDS,
	SANDBOX_STEP_IDS,
	SANDBOX_STEP_MOUNT,
	SANDBOX_STEP_HOSTNAME,
	SANDBOX_STEP_RLIMIT,
	SANDBOX_STEP_CHDIR,
	SANDBOX_STEP_SESSION,
	SANDBOX_STEP_CAPS,
	SANDBOX_STEP_SECCOMP,
	SANDBOX_STEP_EXEC,
};

/* What a failing child writes to the error pipe: one write, below PIPE_BUF. */
struct sandbox_child_error {
	int step;
	int err;
	char detail[120];
};

/* Report a failed step on fd (the error pipe) and exit. Async-signal-safe. */
__attribute__((noreturn)) void sandbox_child_fail(int fd, int step, const char *detail, int err);

/* A phrase naming a step, for the parent's error message. */
const char *sandbox_step_name(int step);

/* The memfd holding reelbox-init, created and sealed once per process; -errno if the
 * kernel refused. */
int sandbox_proc_init_memfd(void);

/* ---- ids.c: user namespace id maps and the switch to the inner user ------------- */

struct sandbox_ids {
	uid_t host_uid;
	gid_t host_gid;
	int host_is_root; /* mapping a foreign id, and clearing groups, is allowed */
	int subordinate;  /* not root: the slot's id of the user's /etc/subuid range, mapped
			   * by newuidmap/newgidmap; groups may then be cleared too */
	char uid_map[48]; /* "1000 <host uid> 1\n" */
	char gid_map[48];
};

/* Without root: are the user's subordinate ids usable for per-slot host ids (a range of
 * SANDBOX_MAX_SLOT + 1 ids in /etc/subuid and /etc/subgid, newuidmap and newgidmap
 * installed)? 1 or 0, and *why (if asked) says why not. Found once per process. */
int sandbox_ids_subordinate(const char **why);
int sandbox_ids_prepare_from_parent(struct sandbox_ids *ids, unsigned slot);
int sandbox_ids_write_from_parent(const struct sandbox_ids *ids, pid_t pid);
int sandbox_ids_switch_from_child(const struct sandbox_ids *ids);
/* Tighten the new user namespace's own limits (inotify instances, nested namespaces)
 * through proc_fd, the root of a proc mount: /proc/sys/user/ shows the limits of the
 * reader's user namespace, whatever proc mount it reads through. Needs
 * CAP_SYS_RESOURCE in the namespace, so before the caps drop; *what names the limit
 * that failed. cgroupns_later: one cgroup namespace is still to be made (and then no
 * other). */
int sandbox_ids_limit_from_child(int proc_fd, int cgroupns_later, const char **what);

/* ---- mounts.c: the new root ------------------------------------------------------ */

enum sandbox_mount_op {
	SANDBOX_MNT_DIR,     /* mkdir dst */
	SANDBOX_MNT_SYMLINK, /* symlink data -> dst */
	SANDBOX_MNT_FILE,    /* create dst holding data (a generated /etc file) */
	SANDBOX_MNT_BIND,    /* read-only, nosuid, nodev bind of src on dst */
	SANDBOX_MNT_DEV,     /* bind of a host device node on dst (nosuid, noexec) */
	SANDBOX_MNT_TMPFS,   /* tmpfs on dst with options data */
	SANDBOX_MNT_PROC,    /* a fresh proc for the new pid namespace */
	SANDBOX_MNT_JOB,     /* a tmpfs on dst holding the spec's files */
	SANDBOX_MNT_RDONLY,  /* make the mount at dst read-only */
};

struct sandbox_mount {
	enum sandbox_mount_op op;
	const char *src;   /* absolute host path (BIND, DEV) */
	const char *dst;   /* path relative to the new root, no leading '/' */
	const char *data;  /* symlink target, file content or tmpfs options */
	int is_dir;	   /* BIND: the source is a directory */
	int mkdir_parents; /* BIND: create missing parents of dst, refusing symlinks */
};

struct sandbox_mounts {
	struct sandbox_mount *ops;
	size_t n_ops;
	const char *sb_dir; /* private host dir the new root is mounted on */
	/* the spec's files, which the child writes into /job's tmpfs */
	const struct sandbox_file *files;
	size_t n_files;
	char scratch_opts[96];
	char job_opts[96];
	int cgroupns_later; /* a zygote's child: its cgroup namespace is made after the attach */
};

int sandbox_mounts_prepare_from_parent(struct sandbox_mounts *m, const struct sandbox_spec *spec,
				       uint64_t scratch_bytes, const char *sb_dir, char *err,
				       size_t errlen);
void sandbox_mounts_free(struct sandbox_mounts *m);
/* While the child still has the worker's file-system ids, which may search the state
 * dir's path: make every mount private, mount the new root's tmpfs on that dir and
 * enter it, so later steps need no path through the 0700 dir. */
int sandbox_mounts_prepare_from_child(const struct sandbox_mounts *m);
/* Build the new root, pivot into it and leave it read-only; on failure *what names
 * the path that failed. Sets the user namespace's limits on the way (they need a
 * proc mount). */
int sandbox_mounts_apply_from_child(const struct sandbox_mounts *m, const char **what);

/* ---- caps.c: capabilities, securebits, no_new_privs ----------------------------- */

int sandbox_caps_drop_from_child(void);

/* ---- limits.c: rlimits ----------------------------------------------------------- */

struct sandbox_rlimits {
	int n;
	struct {
		int resource;
		struct rlimit rl;
	} set[10];
};

/* Fill in defaults (scratch size, open files) and the rlimits, clamped to the hard
 * limits this process has: raising a hard limit needs CAP_SYS_RESOURCE on the host. */
void sandbox_limits_normalize(struct sandbox_limits *l);
/* cgroup: the sandbox has a cgroup, which holds the pids and memory limits: RLIMIT_NPROC
 * is then set above the pids limit so the cgroup, which can name its limit, is the one
 * that fires. Without one, the memory limit is an RLIMIT_DATA per process. */
void sandbox_limits_prepare_from_parent(const struct sandbox_limits *l, int cgroup,
					struct sandbox_rlimits *out);
int sandbox_limits_apply_from_child(const struct sandbox_rlimits *r);
/* CLOCK_MONOTONIC in nanoseconds: the wall-clock limit's clock. */
uint64_t sandbox_now_ns(void);

/* ---- cgroup.c: per-sandbox cgroup (the sandbox's only caller of cgroups.h) -------- */

struct sandbox_cgroup {
	struct sandbox_cg *cg;	   /* NULL when the host has no usable cgroups */
	struct sandbox_cg *helper; /* the helper's cgroup beside the sandbox's, or NULL */
	int clone_fd;		   /* the dir for CLONE_INTO_CGROUP (v2; owned by cg), or -1 */
	int unenforced;		   /* limits were asked for but no cgroup could hold them */
	int memory_limited;	   /* memory_bytes was set on the cgroup */
	int entered;		   /* the cloning thread is inside (v1), back holds the way out */
	int born_inside;	   /* the child was cloned from inside (v1): no attach needed */
	int must_attach;	   /* cloned elsewhere (a zygote): attach, whatever the version */
	struct sandbox_cg_thread back;
};

/* Create the per-sandbox cgroup before the clone; a v2 dir fd goes into clone3. */
int sandbox_cgroup_create_from_parent(struct sandbox_cgroup *cg, const struct sandbox_spec *spec,
				      char *err, size_t errlen);
/* The helper's cgroup (spec->helper.enabled), created beside the sandbox's. */
int sandbox_cgroup_create_helper_from_parent(struct sandbox_cgroup *cg,
					     const struct sandbox_spec *spec, char *err,
					     size_t errlen);
/* Around the clone3: on cgroup v1 the calling thread moves into the job cgroup just
 * before and back right after, so the child is born inside without the slow attach.
 * Enter does nothing where it is not needed or fails (the attach then moves the
 * child); leave fails only when the thread cannot get out, and the child must then
 * be killed (cloned: the clone succeeded). */
void sandbox_cgroup_enter_from_parent(struct sandbox_cgroup *cg);
int sandbox_cgroup_leave_from_parent(struct sandbox_cgroup *cg, int cloned);
/* Move the child in (cgroup v1) before it is released to run anything, unless it was
 * born inside. */
int sandbox_cgroup_attach_from_parent(struct sandbox_cgroup *cg, pid_t pid);
/* Does this sandbox have a cgroup (which then holds its pids limit)? */
int sandbox_cgroup_exists(const struct sandbox_cgroup *cg);
/* After the reap: name the limit that ended the sandbox (OOM, pids) and fill usage. */
void sandbox_cgroup_classify(struct sandbox_cgroup *cg, struct sandbox_result *res);
void sandbox_cgroup_destroy(struct sandbox_cgroup *cg);
int sandbox_cgroup_sweep_stale(void);
/* The helper's cgroup: its cgroup.procs fds (how many; 0 without one), what it used,
 * and a kill of everything in it. */
int sandbox_cgroup_helper_fds(const struct sandbox_cgroup *cg, int *fds, int max);
int sandbox_cgroup_helper_usage(const struct sandbox_cgroup *cg, struct sandbox_helper_usage *u);
int sandbox_cgroup_helper_kill(struct sandbox_cgroup *cg);
/* New values for the helper cgroup's limits, before any helper entered it. */
int sandbox_cgroup_helper_set_limits(struct sandbox_cgroup *cg,
				     const struct sandbox_helper_limits *h, char *err,
				     size_t errlen);

/* ---- seccomp.c: syscall filter and its listener ---------------------------------- */

/* The policy's filter (policy.c), built once per process and shared read-only by
 * every sandbox; the child reads it through its copy of the parent's memory. On
 * failure err holds one sentence. */
int sandbox_seccomp_prepare_from_parent(struct sock_fprog *prog, char *err, size_t errlen);
/* Install it as the last step before executing the init (after the caps drop and
 * no_new_privs) and send the listener to the parent over sock, then close both. */
int sandbox_seccomp_install_from_child(const struct sock_fprog *prog, int sock);
/* Take the listener the child sent; sock is the parent's end, nonblocking. */
int sandbox_seccomp_receive_from_parent(int sock, int *listener);

/* ---- scratch.c: the scratch dir, after the script ------------------------------- */

/* In the child, once its root is built and before anything of the job's runs: send an
 * O_PATH descriptor of /scratch to the parent over sock (the listener's socket; it goes
 * first, the listener after it). */
int sandbox_scratch_send_from_child(int sock);
/* Take it, nonblocking; -EBADMSG when the child sent none. */
int sandbox_scratch_receive_from_parent(int sock, int *scratch_fd);
void sandbox_seccomp_free(struct sock_fprog *prog);

/* Which denied calls were shown: the first SANDBOX_DENIED_DISTINCT sentences, and a
 * repeat again at its 10th, 100th, ... occurrence. */
#define SANDBOX_DENIED_DISTINCT 20
struct sandbox_denied {
	unsigned total;
	unsigned n_distinct;
	int overflow_told; /* the "further denials are counted" line was shown */
	struct {
		uint64_t hash;
		unsigned count;
	} seen[SANDBOX_DENIED_DISTINCT];
	char last[160];
};
/* Answer one pending denied call on listener (nonblocking) and count it in d: 1 with
 * one sentence in msg to show, 0 when there was nothing to answer or the sentence is
 * held back (a repeat), -EPIPE when the listener hung up, -EBADF without one. */
int sandbox_seccomp_answer_from_parent(int listener, struct sandbox_denied *d, char *msg,
				       size_t len);
/* The sentence for a command that died of SIGSYS: the kill set, since the kernel kills
 * before anyone can ask which call it was. */
const char *sandbox_seccomp_sigsys_reason(void);

/* The encoder helper's allowlist: built once per process before helpers are forked
 * (not thread-safe: call it from the process's start-up), installed by each helper as
 * its last step, after no_new_privs. */
int sandbox_seccomp_helper_prepare(char *err, size_t errlen);
int sandbox_seccomp_helper_ready(void);
int sandbox_seccomp_helper_install(void);

/* ---- state.c: the per-sandbox host dir ------------------------------------------ */

/* Create the empty dir <state_dir>/sb-<pid>-<starttime>-<seq>/ the child mounts its new
 * root on (NULL state_dir: the default); the malloc'd path goes to *sb_dir. */
int sandbox_state_create(const char *state_dir, char **sb_dir, char *err, size_t errlen);
int sandbox_state_remove(const char *sb_dir);
/* Remove the sb- dirs whose owner process is gone; how many, or a negative errno. */
int sandbox_state_sweep(const char *state_dir);

/* ---- the child's whole input, built by sandbox_start() --------------------------- */

struct sandbox_child {
	int sync_fd;   /* read end: the parent writes one byte when the id maps are in */
	int notify_fd; /* the child's end of the listener socketpair */
	int error_fd;  /* write end, CLOEXEC */
	int status_fd; /* write end for the init */
	int stdio[3];
	int init_fd;
	struct sandbox_ids ids;
	struct sandbox_mounts mounts;
	struct sandbox_rlimits rlimits;
	struct sock_fprog seccomp;
	const char *cwd;
	char *const *init_argv; /* "reelbox-init", then the command's argv */
	char *const *envp;
	/* A zygote's clone (zygote.c): pid 1 forks before executing the init, pid 2 calls
	 * this (it must not return) and the init adopts it as its command. */
	void (*command_fn)(void *opaque);
	void *command_opaque;
};

/* Clone the child into new namespaces; *pidfd gets its pidfd. */
pid_t sandbox_proc_clone_from_parent(struct sandbox_child *c, int cgroup_fd, int *pidfd);

/* ---- zygote.c: the same clone, made by a zygote process ---------------------------- */

/* Have z clone c (its command run by the zygote's command function): the pid, or a
 * negative errno; *pidfd the child's pidfd. The child is the zygote's, not ours. */
pid_t sandbox_zygote_clone(struct sandbox_zygote *z, const struct sandbox_child *c, int *pidfd);

/* ---- oci.c: config.json's pieces, written as JSON -------------------------------- */

struct sandbox_oci_buf {
	char *p;
	size_t len, cap;
	int oom; /* an allocation failed: the buffer is incomplete */
};
void sandbox_oci_raw(struct sandbox_oci_buf *b, const char *s, size_t n);
void sandbox_oci_f(struct sandbox_oci_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A JSON string, escaped; an array of them. */
void sandbox_oci_str(struct sandbox_oci_buf *b, const char *s);
void sandbox_oci_strs(struct sandbox_oci_buf *b, const char *const *v);
/* "rlimits": the prepared rlimits by their OCI names. */
void sandbox_oci_rlimits(struct sandbox_oci_buf *b, const struct sandbox_rlimits *r);
/* ",{...}": one entry of "mounts"; options is the inside of its JSON array. */
void sandbox_oci_mount(struct sandbox_oci_buf *b, const char *dst, const char *type,
		       const char *src, const char *options);

/* ---- gvisor.c: the gvisor tier ------------------------------------------------- */

/* Start spec in gVisor: sb is new (sandbox_new), the spec checked. Fills sb_dir,
 * cgroup, scratch_fd, pid and pidfd; on failure the caller undoes what is there. */
int sandbox_gvisor_start(struct sandbox *sb, const struct sandbox_spec *spec, char *err,
			 size_t errlen);
/* runsc's wait status: 1 and the command's wait status in *status, or 0 and one
 * sentence in reason when runsc itself failed or was killed. */
int sandbox_gvisor_status(struct sandbox *sb, int runsc_status, int *status, char *reason,
			  size_t len);

/* The platform runsc runs on ("ptrace", "kvm", "systrap"); "auto" resolved. */
const char *sandbox_gvisor_platform(void);
/* Is the platform "auto" and not yet settled by a tier check? Settle it. */
int sandbox_gvisor_platform_is_auto(void);
void sandbox_gvisor_pin_platform(const char *platform);
/* "runsc <version>", from `runsc --version`; "runsc" when it says nothing usable. */
void sandbox_gvisor_version(char *out, size_t len);
/* After the cgroup's classify: a limit it names is the job's plus gVisor's allowance;
 * say both. */
void sandbox_gvisor_explain(struct sandbox *sb, struct sandbox_result *res);

/* ---- sandbox.c: the handle ------------------------------------------------------- */

struct sandbox {
	enum sandbox_tier tier;
	pid_t pid;
	int pidfd;
	int status_fd;	   /* read end of the init's status pipe, nonblocking */
	uint64_t start_ns; /* CLOCK_MONOTONIC */
	uint64_t deadline_ns;
	struct sandbox_limits limits;
	struct sandbox_helper_limits helper;
	unsigned slot;
	char *sb_dir;
	struct sandbox_cgroup cgroup;
	int notify_fd;	/* the seccomp listener, or -1 */
	int scratch_fd; /* O_PATH of the scratch tmpfs's root (sandbox_scratch_open), or -1 */
	int gv_log_fd;	/* gvisor: the tmpfs holding runsc's log, or -1 */
	struct sandbox_denied denied;
	void (*on_denied)(void *opaque, const char *msg);
	void *denied_opaque;
	struct sandbox_zygote *zygote; /* the spec's, native tier */
	int foreign; /* cloned by a zygote: pid 1 is not our child (reaped there) */
	int reaped;
	struct sandbox_result result;
	int kill_sent;
	enum sandbox_end kill_why;
	char kill_reason[200];
};

#endif
