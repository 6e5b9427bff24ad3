/* sandbox.h - run one command in a container-tier sandbox.
 *
 * The sandbox knows nothing of jobs, frames or Redis: it takes a command, the files
 * to show under /job, an environment, three descriptors for stdio and a set of
 * limits, and gives back a handle whose pidfd can be watched from an event loop.
 *
 * Functions return 0 or a negative errno; where a user must be told something,
 * a one-sentence reason is written into the caller's err buffer.
 */
#ifndef REELBOX_SANDBOX_H
#define REELBOX_SANDBOX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct sandbox;
struct sandbox_zygote;

/* A file the sandbox shows read-only under /job/<name>. */
struct sandbox_file {
	const char *name; /* a plain file name, no '/' */
	const void *data;
	size_t len;
	int executable;
};

/* An extra read-only bind of a host path (a runtime's own tree, say). */
struct sandbox_bind {
	const char *source; /* host path */
	const char *target; /* path inside; NULL means the same as source */
	int optional;	    /* skip silently when the source does not exist */
};

struct sandbox_limits {
	uint64_t timeout_ms;	/* wall clock from start to kill; 0 = none */
	uint64_t memory_bytes;	/* cgroup memory, no swap (RLIMIT_DATA without one); 0 = none */
	uint64_t scratch_bytes; /* size of the scratch tmpfs; 0 = 64 MiB */
	uint32_t pids;		/* cgroup pids.max and RLIMIT_NPROC (per sandbox: its user
				 * namespace's count); 0 = none */
	double cpus;		/* cgroup cpu quota in cores; 0 = none */
	uint64_t cpu_seconds;	/* RLIMIT_CPU; 0 = none */
	uint64_t file_bytes;	/* RLIMIT_FSIZE; 0 = scratch size */
	uint32_t open_files;	/* RLIMIT_NOFILE; 0 = 256 */
};

/* A helper works for the sandbox from outside it: the encoder that reads what the
 * script writes does the job's heaviest work, so it is boxed like the job. It gets a
 * cgroup of its own beside the sandbox's (its own memory allowance, the job's cpu
 * quota, a few threads), an unprivileged host uid of its own (not the script's: no
 * shared per-user counts, no signals either way), no capabilities, no_new_privs and a
 * seccomp allowlist that leaves it only the descriptors it was handed. */
struct sandbox_helper_limits {
	int enabled;
	uint64_t memory_bytes; /* cgroup memory, no swap; RLIMIT_AS without cgroups */
	uint32_t pids;	       /* threads; 0 = 64 */
	double cpus;	       /* cpu quota in cores; 0 = none */
	uint64_t cpu_seconds;  /* RLIMIT_CPU; 0 = none */
	uint64_t file_bytes;   /* RLIMIT_FSIZE: the largest video it may write; 0 = none */
};

/* Where a sandbox runs: reelbox's own sandbox on the host kernel, or gVisor's runsc, a
 * user-space kernel between the script and the host's (slower to start, a far smaller
 * host kernel surface). Zero is native, so a spec that names none is native. */
enum sandbox_tier {
	SANDBOX_TIER_NATIVE = 0,
	SANDBOX_TIER_GVISOR = 1,
};
#define SANDBOX_TIER_COUNT 2

struct sandbox_spec {
	enum sandbox_tier tier;
	const char *const *argv; /* argv[0] is an absolute path inside the sandbox */
	const char *const *envp; /* the complete environment; nothing else is passed */
	const char *cwd;	 /* inside path; NULL means the scratch dir */
	const struct sandbox_file *files;
	size_t n_files;
	const struct sandbox_bind *binds;
	size_t n_binds;
	int stdin_fd;  /* becomes fd 0; -1 means empty (/dev/null) */
	int stdout_fd; /* becomes fd 1; -1 means /dev/null */
	int stderr_fd; /* becomes fd 2; -1 means /dev/null */
	struct sandbox_limits limits;
	unsigned slot;	       /* concurrency slot: picks the host uid and cgroup name */
	const char *state_dir; /* host dir for per-sandbox state; NULL = default */
	/* Where sandbox_wait() reports each denied system call it answers (one sentence,
	 * "denied socket(AF_INET): network access; ..."); NULL means stderr, as
	 * "reelbox: <msg>". Unused by callers that serve sandbox_notify_fd() themselves. */
	void (*on_denied)(void *opaque, const char *msg);
	void *denied_opaque;
	struct sandbox_helper_limits helper; /* a helper cgroup for this sandbox, if enabled */
	/* Native tier: clone through this zygote (see below): the command is the zygote's
	 * command function, argv only names it. NULL: clone here and execute argv. */
	struct sandbox_zygote *zygote;
};

/* Why a sandbox ended, in the order the kernel or reelbox decided it. */
enum sandbox_end {
	SANDBOX_EXITED = 0, /* the command exited or was signalled by itself */
	SANDBOX_KILLED,	    /* sandbox_kill() was called (reason in the result) */
	SANDBOX_TIMEOUT,    /* the wall clock ran out */
	SANDBOX_OOM,	    /* the memory limit was reached */
	SANDBOX_PIDS,	    /* the pids limit was reached */
	SANDBOX_CPU,	    /* RLIMIT_CPU was reached */
	SANDBOX_FSIZE,	    /* RLIMIT_FSIZE was reached */
};

struct sandbox_result {
	enum sandbox_end end;
	int exit_code;	  /* the command's exit code, or -1 when it was killed */
	int signal;	  /* the signal that killed it, or 0 */
	char reason[256]; /* one sentence when end != SANDBOX_EXITED or signal != 0 */
	uint64_t wall_ms; /* start to reap */
	uint64_t cpu_ms;  /* user+system of everything in the sandbox, when known */
	uint64_t peak_memory_bytes;
	unsigned denied_calls; /* system calls the seccomp policy refused, reported or not */
	char last_denied[160]; /* the sentence of the last one, "" if none */
};

/* Default host directory for per-sandbox state (the /job files), when reelbox is root. */
#define SANDBOX_DEFAULT_STATE_DIR "/var/tmp/reelbox"

/* The state dir a NULL spec->state_dir means for this process: SANDBOX_DEFAULT_STATE_DIR
 * as root; for another user $XDG_RUNTIME_DIR/reelbox when that is a private dir of the
 * user's, else /tmp/reelbox-<uid> (created 0700; refused unless the user owns it alone).
 * 0, or -ENAMETOOLONG when buf is too small. */
int sandbox_state_default_dir(char *buf, size_t len);

/* ---- tiers ---------------------------------------------------------------------------- */

/* "native" or "gvisor"; "?" for anything else. */
const char *sandbox_tier_name(enum sandbox_tier t);
/* 0 and *t set, or -EINVAL for a name that is not a tier. */
int sandbox_tier_parse(const char *name, enum sandbox_tier *t);

/* How the gvisor tier runs runsc; set once at start-up, before any gvisor sandbox. */
struct sandbox_gvisor_options {
	const char *runsc;		/* absolute path of runsc; NULL = "/usr/bin/runsc" */
	const char *platform;		/* "auto" (kvm when /dev/kvm opens, else ptrace), "ptrace",
					 * "kvm" or "systrap"; NULL = "auto" */
	uint64_t overhead_memory_bytes; /* added to a job's memory limit for gVisor's own
					 * processes (its kernel, gofer, stubs); 0 = 128 MiB */
	uint32_t overhead_pids;		/* added to a job's pids limit for their threads;
					 * 0 = 160 */
};
/* Copies the strings. 0, or -EINVAL with one sentence (a relative runsc path, an unknown
 * platform). */
int sandbox_gvisor_configure(const struct sandbox_gvisor_options *o, char *err, size_t errlen);

/* Can a sandbox of tier t start on this host? Starts /bin/true in it, the whole path a
 * job takes (gvisor: about 0.3 s). 0 with a short description in info ("runsc
 * 0.0~20221219.0, platform ptrace"; "namespaces, seccomp, cgroup v1"), or a negative
 * errno with one sentence in err naming what is missing. Never falls back to another
 * tier. */
int sandbox_tier_check(enum sandbox_tier t, char *info, size_t infolen, char *err, size_t errlen);

/* ---- what this host lets the sandbox enforce ----------------------------------------- */

#define SANDBOX_ENFORCED_MAX 12

/* Which limits hold here, detected once per process (the detection sandbox_start()
 * uses). Without root the job runs as the invoking user's own uid mapped inside (every
 * slot the same uid, unless /etc/subuid gives the user a range for every slot), and the
 * cgroup limits hold only in a delegated cgroup v2 subtree; otherwise memory is an
 * RLIMIT_DATA per process and there is no cpu quota. */
struct sandbox_enforcement {
	int rootless;	    /* reelbox is not root */
	const char *cgroup; /* "v2", "v2-delegated" (not root), "v1" or "none" */
	/* "per-slot" (root: 1500000 + slot), "subuid" (not root: the user's subordinate
	 * id start + slot, by newuidmap) or "shared" (not root: the user's own uid) */
	const char *slot_uids;
	/* what holds, by name: "memory", "pids", "cpu" (the job's cgroup), "wall_clock",
	 * "rlimit_cpu", "rlimit_fsize", "rlimit_nofile", "rlimit_nproc", and
	 * "rlimit_data" (memory per process, only without a cgroup's memory limit) */
	const char *enforced[SANDBOX_ENFORCED_MAX];
	int n_enforced;
	/* what the cgroup would hold and nothing holds here: "memory" (across processes),
	 * "pids" (beyond RLIMIT_NPROC), "cpu" (a quota) */
	const char *not_enforced[SANDBOX_ENFORCED_MAX];
	int n_not_enforced;
	char summary[512]; /* one sentence: what holds and why, for the start line and logs */
};
void sandbox_enforcement(struct sandbox_enforcement *e);

/* Start the command. On success *out owns the sandbox; the caller's stdio fds may be
 * closed right after. */
int sandbox_start(const struct sandbox_spec *spec, struct sandbox **out, char *err, size_t errlen);

/* A pidfd for pid 1 of the sandbox: readable when it has exited. */
int sandbox_pidfd(const struct sandbox *sb);
pid_t sandbox_pid(const struct sandbox *sb);

/* The seccomp listener: readable when a process of the sandbox made a denied system
 * call and is blocked until someone answers it; -1 when there is none. Whoever watches
 * the sandbox must serve it (sandbox_wait() does): an unanswered call blocks the
 * script until its timeout. */
int sandbox_notify_fd(const struct sandbox *sb);

/* Answer one pending denied call (it fails in the script with the policy's errno).
 * Returns 1 with one sentence in msg to show the script's author, 0 when there was
 * nothing to answer or the sentence is held back (a repeat: the first 20 distinct
 * sentences are shown, a repeat again at its 10th, 100th, ... occurrence; every
 * call is counted in the result), or a negative errno when the listener is finished
 * (every process of the sandbox is gone): stop watching the fd then. */
int sandbox_notify_handle(struct sandbox *sb, char *msg, size_t len);

/* Stop answering denied calls: close the listener, so every later denied call fails in
 * the kernel (ENOSYS) at no cost to the caller of this. For a script that makes them
 * in a loop: answering is work done on the job's behalf outside its box. */
void sandbox_notify_close(struct sandbox *sb);

/* Kill everything in the sandbox; reason is kept for the result ("cancelled", ...).
 * Safe to call more than once and after the command has exited. */
int sandbox_kill(struct sandbox *sb, enum sandbox_end why, const char *reason);

/* Reap without blocking: 0 and *res filled when the sandbox is over, -EAGAIN if not. */
int sandbox_try_reap(struct sandbox *sb, struct sandbox_result *res);

/* Block until the sandbox is over, killing it when its timeout passes and answering
 * denied system calls meanwhile (reported to spec->on_denied, or to stderr). */
int sandbox_wait(struct sandbox *sb, struct sandbox_result *res);

/* A sandbox started ahead of its job (a warm pool's) begins the job now: its wall time
 * (and deadline, if any) count from here. */
void sandbox_restart_clock(struct sandbox *sb);

/* What the sandbox's processes use now, from its cgroup: the memory high-water mark and
 * the cpu time so far. -EOPNOTSUPP without a cgroup. For a warm pool's idle cost. */
int sandbox_usage(const struct sandbox *sb, uint64_t *peak_memory_bytes, uint64_t *cpu_ms);

/* Milliseconds until the wall-clock timeout (0 if passed, UINT64_MAX if none). */
uint64_t sandbox_time_left_ms(const struct sandbox *sb);

/* Open the regular file name (relative, inside the scratch dir) the script left behind:
 * after the script has exited and until sandbox_destroy() (a descriptor keeps the scratch
 * tmpfs alive that long). Resolved beneath the scratch root only, on its own mount, no
 * symbolic or magic link followed (openat2 RESOLVE_BENEATH | NO_SYMLINKS |
 * NO_MAGICLINKS | NO_XDEV), opened O_RDONLY | O_NONBLOCK | O_NOFOLLOW (a FIFO cannot
 * block), and refused unless it is a regular file. Returns the descriptor
 * (close-on-exec), or a negative errno with one sentence naming what the script wrote
 * instead ("the job names audio \"a.wav\" but the script wrote no such file in
 * $SCRATCH"). what is the job's word for the file ("audio"). */
int sandbox_scratch_open(struct sandbox *sb, const char *name, const char *what, char *err,
			 size_t errlen);

/* Kill if still running, reap, purge the per-sandbox state and cgroup (killing what
 * is left in it first), close the listener, free. */
void sandbox_destroy(struct sandbox *sb);

/* ---- helpers ------------------------------------------------------------------------ */

#define SANDBOX_HELPER_MAX_CG 5

/* What a process forked for the job needs to enter the helper's box. Plain data plus
 * descriptors: it can cross a unix socket (the cgroup fds by SCM_RIGHTS). */
struct sandbox_helper_ticket {
	uint32_t uid, gid; /* the helper's host ids; 0 when reelbox is not root */
	int32_t n_cg;
	int cg_fds[SANDBOX_HELPER_MAX_CG]; /* cgroup.procs of the helper cgroup, write-only */
	uint64_t memory_bytes, cpu_seconds, file_bytes;
	uint32_t pids;
};

/* The ticket for sb's helper (spec.helper.enabled): new descriptors the caller
 * closes with sandbox_helper_ticket_close(). */
int sandbox_helper_ticket(const struct sandbox *sb, struct sandbox_helper_ticket *t, char *err,
			  size_t errlen);
void sandbox_helper_ticket_close(struct sandbox_helper_ticket *t);

/* Resize sb's helper box for the job that takes a sandbox started ahead of it (a warm
 * pool's): its cgroup's limits and the ticket's rlimits. Before any ticket is used; each
 * limit set or unset as at the start (else -EINVAL, and the caller starts cold). */
int sandbox_helper_set_limits(struct sandbox *sb, const struct sandbox_helper_limits *h, char *err,
			      size_t errlen);

/* Build the helper's seccomp filter once in this process, before forking helpers. */
int sandbox_helper_policy_prepare(char *err, size_t errlen);

/* In a freshly forked, single-threaded helper, before it reads anything the job
 * wrote: enter the helper cgroup, set rlimits, close every descriptor but keep[],
 * drop to the helper's uid with no capabilities, no_new_privs, install the filter.
 * On failure err names the step; the caller must then exit. */
int sandbox_helper_confine(const struct sandbox_helper_ticket *t, const int *keep, int n_keep,
			   char *err, size_t errlen);

/* What the helper cgroup measured: peak memory, cpu time, and whether its memory
 * limit killed something. Zeroes without cgroups. */
struct sandbox_helper_usage {
	uint64_t peak_memory_bytes, cpu_ms;
	int oom;
};
int sandbox_helper_usage(const struct sandbox *sb, struct sandbox_helper_usage *u);

/* Kill everything in the helper cgroup (the helper's own pidfd is the caller's). */
int sandbox_helper_kill(struct sandbox *sb);

/* ---- zygotes ------------------------------------------------------------------------ */

/* A sandbox's command can be a process forked from one that has an interpreter loaded
 * and warmed (a zygote), instead of a fresh exec: the same sandbox (namespaces, root,
 * ids, rlimits, filter, cgroup, init), started without the interpreter's start-up. The
 * zygote is a process of its own, started by the caller from a fresh exec, talking over
 * a SOCK_SEQPACKET socket. */

/* The caller's handle on a zygote at the other end of sock (taken; closed by free). */
struct sandbox_zygote *sandbox_zygote_new(int sock);
void sandbox_zygote_free(struct sandbox_zygote *z);

/* In the zygote process, once warm: clone sandboxes as asked on sock until it closes;
 * each one's pid 2 calls command(opaque), which must not return (it runs the job and
 * exits). Single-threaded callers only. Returns 0 when the peer is gone. */
int sandbox_zygote_serve(int sock, void (*command)(void *opaque), void *opaque);

/* Remove state dirs and cgroups left by sandboxes whose owner process is gone.
 * Returns how many sandboxes were cleaned up (the larger of the two counts: one
 * sandbox leaves a state dir, a cgroup or both), or a negative errno. */
int sandbox_sweep_stale(const char *state_dir);

#endif
