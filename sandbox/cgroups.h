/* cgroups.h - one cgroup per job: memory (no swap), pids and cpu limits.
 *
 * Works on cgroup v2 (production: /sys/fs/cgroup is cgroup2) and on cgroup v1
 * (one hierarchy per controller, as on hybrid hosts), picked at run time by
 * sandbox_cg_detect(). Job cgroups live under our own cgroup in each hierarchy,
 * in <own>/reelbox/rbx-<pid>-<seq>[-<name>], so a crashed worker's leftovers can
 * be told apart by their owner pid and swept.
 *
 * The job cgroup is created before the script runs; the caller then moves the
 * sandbox's pid 1 into it while that process waits on a sync pipe
 * (sandbox_cg_attach), or clones straight into it with CLONE_INTO_CGROUP and
 * sandbox_cg_dirfd() on v2.
 *
 * Functions return 0 or a negative errno; failures a user must read carry one
 * sentence in the caller's err buffer.
 */
#ifndef REELBOX_SANDBOX_CGROUPS_H
#define REELBOX_SANDBOX_CGROUPS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SANDBOX_CG_PATH 512

enum sandbox_cg_version {
	SANDBOX_CG_NONE = 0, /* no usable cgroups: limits rest on rlimits only */
	SANDBOX_CG_V1 = 1,
	SANDBOX_CG_V2 = 2,
};

/* Controller bits. memory, pids and cpu set limits; cpuacct (v1) measures cpu
 * time; freezer (v1) stops a job while it is being killed. */
enum {
	SANDBOX_CG_MEMORY = 1u << 0,
	SANDBOX_CG_PIDS = 1u << 1,
	SANDBOX_CG_CPU = 1u << 2,
	SANDBOX_CG_CPUACCT = 1u << 3,
	SANDBOX_CG_FREEZER = 1u << 4,
};
#define SANDBOX_CG_NCTRL    5
#define SANDBOX_CG_REQUIRED (SANDBOX_CG_MEMORY | SANDBOX_CG_PIDS | SANDBOX_CG_CPU)

/* One mounted hierarchy we use: on v2 the only one, on v1 one per mount
 * (cpu and cpuacct may share one). */
struct sandbox_cg_hier {
	unsigned ctrls;		      /* SANDBOX_CG_* bits usable here */
	char parent[SANDBOX_CG_PATH]; /* host dir that holds the job cgroups */
	char rel[SANDBOX_CG_PATH];    /* the same dir as /proc/<pid>/cgroup names it */
};

struct cg_ops;

/* What sandbox_cg_detect() found. Plain data: copy it, share it between threads. */
struct sandbox_cg_env {
	enum sandbox_cg_version version;
	const struct cg_ops *ops; /* the version's backend; NULL when version is NONE */
	unsigned ctrls;		  /* union of the hierarchies' controllers */
	int nhier;
	struct sandbox_cg_hier hier[SANDBOX_CG_NCTRL];
	char summary[384]; /* one sentence: what is used, or why nothing is */
};

/* Optional knobs for sandbox_cg_detect_with(); NULL means all defaults. */
struct sandbox_cg_config {
	const char *v2_mount;	      /* where cgroup2 must be mounted; NULL = /sys/fs/cgroup */
	const char *parent;	      /* job parent: relative to our own cgroup, or absolute
				       * from the hierarchy root; NULL = "reelbox" */
	unsigned need;		      /* controllers that must be usable; 0 = none
				       * (without a config: SANDBOX_CG_REQUIRED) */
	enum sandbox_cg_version only; /* NONE = try v2 then v1; else that one only */
};

/* Limits for one job; 0 means no limit of that kind. */
struct sandbox_cg_limits {
	uint64_t memory_bytes; /* RAM, and no swap at all */
	uint32_t pids;	       /* processes and threads */
	double cpus;	       /* cpu quota in cores (0.5 = half of one core) */
};

/* Counters read back after (or during) a job. 0 where the kernel has no such file. */
struct sandbox_cg_stats {
	uint64_t oom_kills;	     /* processes killed by the memory limit */
	uint64_t memory_failcnt;     /* v1: times usage bumped into the limit */
	uint64_t memory_peak;	     /* bytes */
	uint64_t pids_max_hits;	     /* forks refused by the pids limit */
	uint64_t cpu_usage_usec;     /* cpu time of every process in the job */
	uint64_t cpu_throttled_usec; /* time spent waiting on the cpu quota */
};

struct sandbox_cg;

/* Find a usable cgroup setup: v2 when /sys/fs/cgroup is cgroup2 and memory, pids
 * and cpu can be delegated to our children, else v1 when those three
 * hierarchies are mounted, else NONE. Creates the job parent dir(s). On v2 this
 * may move the worker's own processes into a leaf, <own>/reelbox-worker, since a
 * cgroup with processes cannot hand controllers to its children.
 *
 * Returns 0 with env->version set (NONE included: env->summary and err then say
 * why, and that limits rest on rlimits), or a negative errno when cfg->only asked
 * for a version that is not usable. */
int sandbox_cg_detect(struct sandbox_cg_env *env, char *err, size_t len);
int sandbox_cg_detect_with(struct sandbox_cg_env *env, const struct sandbox_cg_config *cfg,
			   char *err, size_t len);

/* Create the job cgroup rbx-<ourpid>-<seq>[-<name>] and set its limits. name is
 * optional ([A-Za-z0-9_.] and '-', at most 64 characters). -EOPNOTSUPP when a
 * limit is asked for whose controller the env lacks. */
int sandbox_cg_create(const struct sandbox_cg_env *env, const char *name,
		      const struct sandbox_cg_limits *lim, struct sandbox_cg **out, char *err,
		      size_t len);

/* Set new limits on a job cgroup that nothing has entered yet (a warm sandbox's helper
 * box, sized for the job that takes it). The same limits must be set or unset as at
 * creation (-EINVAL otherwise): a controller is enabled once, when the dir is made. */
int sandbox_cg_set_limits(struct sandbox_cg *cg, const struct sandbox_cg_limits *lim, char *err,
			  size_t len);

/* Move pid (a whole process) into the job cgroup in every hierarchy. */
int sandbox_cg_attach(struct sandbox_cg *cg, pid_t pid);

/* Open the job's cgroup.procs in every hierarchy for writing: a process holding these
 * fds enters the job by writing "0" to each (a forked helper does, before it drops
 * its privileges). Returns how many (at most max), or a negative errno. */
int sandbox_cg_procs_fds(const struct sandbox_cg *cg, int *fds, int max);

/* Where the calling thread was before sandbox_cg_enter_thread(): its tasks files. */
struct sandbox_cg_thread {
	int n;
	int fds[SANDBOX_CG_NCTRL];
};

/* v1: move the calling thread (only it) into the job cgroup in every hierarchy, so a
 * process it forks starts inside; sandbox_cg_leave_thread() puts it back. Writing "0"
 * to tasks moves the caller without the kernel's global threadgroup lock, which a pid
 * written to cgroup.procs takes and pays an RCU grace period for (milliseconds). On
 * error the thread is where it was. -EOPNOTSUPP on v2 (use CLONE_INTO_CGROUP). */
int sandbox_cg_enter_thread(struct sandbox_cg *cg, struct sandbox_cg_thread *back);
int sandbox_cg_leave_thread(struct sandbox_cg_thread *back);

/* v2: an O_DIRECTORY fd of the job cgroup for clone3(CLONE_INTO_CGROUP); owned by
 * cg. -EOPNOTSUPP on v1. */
int sandbox_cg_dirfd(const struct sandbox_cg *cg);

/* The job dir's name and its host path in the first hierarchy. */
const char *sandbox_cg_name(const struct sandbox_cg *cg);
const char *sandbox_cg_path(const struct sandbox_cg *cg);

/* Kill every process in the job and wait until the cgroup is empty (-EBUSY if it
 * does not empty within a few seconds). Safe to call any number of times. */
int sandbox_cg_kill(struct sandbox_cg *cg);

/* Read the job's counters. */
int sandbox_cg_stats(const struct sandbox_cg *cg, struct sandbox_cg_stats *st);

/* When a limit was hit, write the sentence that names it ("memory limit of
 * 256 MB reached", "process limit of 64 reached") and return 1; else 0. Only
 * OOM kills count for memory: reaching memory.max while page cache is reclaimed
 * is normal for a job that writes big files. */
int sandbox_cg_limit_reason(const struct sandbox_cg *cg, const struct sandbox_cg_stats *st,
			    char *buf, size_t len);

/* Kill leftovers, remove the job dirs (retrying while the kernel still reports
 * them busy) and free cg. Frees cg even on error; NULL is a no-op. */
int sandbox_cg_destroy(struct sandbox_cg *cg);

/* Remove job cgroups whose owner pid (the <pid> in rbx-<pid>-<seq>) is dead:
 * left by a crashed worker. Kills their processes first. Returns how many were
 * removed, or a negative errno. Assumes the owners lived in our pid namespace. */
int sandbox_cg_sweep(const struct sandbox_cg_env *env);

#endif
