/* posture.h - the sandboxing checklist, audited as code against the live system.
 *
 * docs/security.md lists what reelbox promises for every job (isolation, default deny,
 * no network, no secrets inside, limits, hard lifetimes, cleanup, an audit trail). A
 * promise in a document is not evidence: this runs a probe (worker/posture_probe.py,
 * embedded at build time) as a real job on this host now, looks at the job from the
 * host while it runs and after it ended, and judges each point from what was measured.
 * `reelbox posture` prints the result; `reelbox demo` shows it beside the threats.
 */
#ifndef REELBOX_POSTURE_H
#define REELBOX_POSTURE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "sandbox.h"

struct config;

#define POSTURE_POINTS 8

/* The slots posture_run() uses: POSTURE_SLOT_BASE + (pid % POSTURE_SLOTS), above every
 * slot a worker can have (concurrency is at most 1024) and the slot 0 of `reelbox run`
 * and `exec`, and one per process, so the host uid the job runs as is the probe's alone
 * (two audits at once do not meet) and "no process of its uid left" means this job. */
#define POSTURE_SLOT_BASE 1024u
#define POSTURE_SLOTS	  4096u

struct posture_point {
	const char *id;	     /* "isolation", "filesystem", "network", "secrets", "limits",
			      * "lifetime", "cleanup", "audit" (in this order) */
	const char *title;   /* the docs' name of the point and what it means */
	int holds;	     /* 1 holds, 0 does not */
	char evidence[1024]; /* what was measured, "; "-separated facts */
	char failed[256];    /* what does not hold, one clause; "" when it holds */
};

struct posture_report {
	struct posture_point points[POSTURE_POINTS];
	json_t *facts;		/* the probe's raw report, plus "net" (its network attempts) and
				 * "host" (what posture.c saw from outside the job) */
	uint64_t probe_ms;	/* the probe job, start to end, and the checks after it */
	enum sandbox_tier tier; /* the tier the probe ran in */
};

/* Run the probe in a real job now (cfg's python3 runtime, its default limits, slot
 * POSTURE_SLOT_BASE + pid % POSTURE_SLOTS) and judge each point. While it runs, an
 * environment variable canary is set in this process (REELBOX_POSTURE_CANARY, removed
 * after): call it where no other thread reads the environment meanwhile, and from a
 * thread that lives as long as the process (it starts the encoder server if none runs,
 * encoder.h). It blocks for the job: about 0.2 s here, at most the default wall clock
 * and 2 s. 0 with rep filled (posture_free() it), or a negative errno with one sentence
 * in err: no python3 runtime, or the job could not start or did not report. */
int posture_run(const struct config *cfg, struct posture_report *rep, char *err, size_t errlen);
/* The same in a given slot (0 .. 65535: the sandbox refuses others). */
int posture_run_slot(const struct config *cfg, unsigned slot, struct posture_report *rep, char *err,
		     size_t errlen);

/* The same in a given tier (posture_run is native). The gvisor tier's points are judged
 * on the same promises, measured where gVisor keeps them (posture_judge.c). */
int posture_run_tier(const struct config *cfg, enum sandbox_tier tier, struct posture_report *rep,
		     char *err, size_t errlen);

/* {"points":[{"id","title","holds","evidence","failed"?}], "holds": all of them,
 * "facts":{...}, "probe_ms", "tier"}: a new reference, NULL without memory. */
json_t *posture_json(const struct posture_report *rep);

/* 1 when every point holds. */
int posture_all_hold(const struct posture_report *rep);

void posture_free(struct posture_report *rep);

/* The probe's source, generated from worker/posture_probe.py (cmake/posture_probe.cmake). */
extern const char posture_probe_py[];
extern const size_t posture_probe_py_len;

#endif
