/* posture_obs.h - what `reelbox posture` measured, between posture.c and posture_judge.c.
 *
 * posture.c runs the probe job and fills a posture_obs: the probe's own report (from the
 * job's log) and what the host saw of the job while it ran and after it ended.
 * posture_judge.c turns that into the eight points without any I/O, so the rules are
 * in one place and read as the checklist does.
 */
#ifndef REELBOX_POSTURE_OBS_H
#define REELBOX_POSTURE_OBS_H

#include <jansson.h>
#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "job.h"
#include "posture.h"
#include "runner.h"

#define POSTURE_CANARY_NAME "REELBOX_POSTURE_CANARY"
#define POSTURE_MAX_CG	    16
#define POSTURE_MAX_STATE   4
#define POSTURE_NS	    7  /* user pid mnt net ipc uts cgroup, as posture_ns_names */
#define POSTURE_MAX_HOST    64 /* the gvisor tier: runsc's processes of the job, kept */

extern const char *const posture_ns_names[POSTURE_NS];

/* A cgroup value: a number, or one of these. */
#define POSTURE_UNLIMITED (-1)
#define POSTURE_UNKNOWN	  (-2)

struct posture_obs {
	const struct config *cfg;
	const struct runtime *rt; /* python3 */
	unsigned slot;
	enum sandbox_tier tier;
	uint32_t timeout_s;	      /* the probe job's wall clock (the operator's default) */
	char canary[40];	      /* the canary's value, set in this process during the job */
	char host_ns[POSTURE_NS][64]; /* this process's namespaces */

	/* From the job's log. */
	char *report; /* the probe's JSON text, reassembled */
	size_t report_len, report_cap;
	int chunks, chunks_total, ended, bad_chunk;
	json_t *probe;	       /* the report parsed; NULL if it never came */
	json_t *net;	       /* POSTURE-NET */
	int n_denied;	       /* "reelbox: denied ..." lines in the log */
	char denied_inet[256]; /* the line naming socket(AF_INET), "" if none */

	/* From the host, while the job ran (at POSTURE-END). */
	int seen;	   /* the job's processes were found by their pid namespace */
	int n_procs;	   /* how many */
	pid_t host_probe;  /* the probe's pid on the host */
	char pid1_cmd[64]; /* the command of the job's pid 1 */
	long host_uid;	   /* the probe's real uid as the host sees it, -1 unknown */
	long enc_uid;	   /* its encoder's, from the encoder's cgroup (-enc), -1 unknown */
	long userns_owner; /* NS_GET_OWNER_UID of the job's user namespace, -1 unknown */
	int environ_read;  /* job processes whose environ the host could read */
	int canary_found;  /* the canary's value was in one of them */
	int marker_seen;   /* the probe's scratch file, seen through /proc/<pid>/root */
	int signalled;	   /* SIGUSR1 went to the probe */
	char cg_dirs[POSTURE_MAX_CG][PATH_MAX]; /* the job's cgroup dirs, every hierarchy,
						 * then its encoder's (from n_cg_job on) */
	int n_cg, n_cg_job;
	int64_t cg_memory, cg_swap, cg_pids; /* bytes, bytes (memsw on v1: minus memory), count */
	double cg_cpus;			     /* cores; <0 as POSTURE_UNLIMITED/UNKNOWN */
	int cg_v2;
	char state_dir[PATH_MAX]; /* the sandbox state dir */
	/* What this host lets the sandbox enforce (sandbox_enforcement()). */
	int rootless;		  /* reelbox is not root: the job runs as our own uid */
	char limits_cgroup[16];	  /* "v2", "v2-delegated", "v1" or "none" */
	char slot_uids[16];	  /* "per-slot", "subuid" or "shared" */
	char limits_summary[512]; /* its one sentence */
	char state_new[POSTURE_MAX_STATE][128]; /* its entries that came with the job */
	int n_state_new;

	/* The gvisor tier: the script is a task of gVisor's Sentry, which the host sees as
	 * runsc-sandbox (with runsc and its gofer) in the job's cgroup; the host's facts
	 * above are measured on those processes. */
	char sentry_ns[POSTURE_NS][64];	   /* the Sentry's namespaces on the host */
	char sentry_seccomp[8];		   /* Seccomp of its host /proc/<pid>/status */
	char sentry_nnp[8];		   /* NoNewPrivs there */
	pid_t host_pids[POSTURE_MAX_HOST]; /* the job's host processes, from cgroup.procs */
	unsigned long long host_starts[POSTURE_MAX_HOST]; /* their start times, to know them */
	int n_host;

	/* The job's end. */
	struct runner_result res;
	int finished;

	/* From the host, after the job (within a second of its end). */
	int left_in_ns; /* processes still in the job's pid, user or mount namespace */
	int left_uid;	/* processes of the job's or its encoder's host uid (not ours) */
	int cg_left;	/* of cg_dirs */
	int state_left; /* of state_new */
};

/* Judge the eight points from obs into rep->points (posture_judge.c). */
void posture_judge(const struct posture_obs *o, struct posture_report *rep);

/* What the host saw, as the "host" object of the facts. */
json_t *posture_host_facts(const struct posture_obs *o);

#endif
