/* demo_report.h - what `reelbox demo` measured, and the one HTML page that shows it.
 *
 * cmd_demo.c runs the talk (prompt jobs, threat scenarios, the checklist, timings) and
 * fills a struct demo_report; demo_report.c only writes it out. The page is one file
 * (inline CSS, no script at all) beside the videos it links relatively, so the folder
 * can be copied to a laptop and opened from disk in front of a projector. Every string
 * on it came from a model, a script, a log or an error, so every string is escaped.
 */
#ifndef REELBOX_DEMO_REPORT_H
#define REELBOX_DEMO_REPORT_H

#include <jansson.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The host-side proof, measured after the jobs (one check each). */
enum demo_proof {
	DEMO_PROOF_KEY_REDIS,	/* the model key in no Redis key */
	DEMO_PROOF_KEY_FILES,	/* nor in any file of the output dir (worker log, videos) */
	DEMO_PROOF_KEY_RESULTS, /* nor in any job's result */
	DEMO_PROOF_KEY_MODEL,	/* the model saw it only where it belongs */
	DEMO_PROOF_PROCESSES,	/* no process left in the sandbox's uid range */
	DEMO_PROOF_HOST_FILES,	/* the files the scripts attacked are intact */
	DEMO_PROOF_STATE_DIR,	/* no sandbox dir left behind */
	DEMO_N_PROOFS
};

struct demo_check {
	const char *title;
	int holds;
	char evidence[1024];
};

/* One prompt job: the scenario it came from and what became of it. */
struct demo_job {
	const char *scenario, *kind, *title, *expect, *threat, *tries, *prompt;
	const char *status; /* how the recorded answer's job ends: succeeded or failed */
	int width, height, fps;
	int64_t frames;
	char id[64];
	char state[16]; /* queued running succeeded failed cancelled dead */
	int final;
	int64_t progress, progress_total;		/* frames encoded so far, while it runs */
	uint64_t submitted_ms, started_ms, finished_ms; /* the queue's times (wall clock) */
	json_t *result;	       /* the worker's result (owned), NULL until final */
	char video[PATH_MAX];  /* relative to the report: videos/<id>.mp4, "" when none */
	char poster[PATH_MAX]; /* likewise, "" when none could be made */
	char denials[2048];    /* the sandbox's "reelbox: denied ..." lines of its logs */
	char verdict[32];      /* rendered, contained, NOT CONTAINED, failed ... */
	int as_expected;
};

/* A checklist point as the posture probe judged it. */
struct demo_point {
	char id[48], title[160];
	int holds;
	char evidence[1024];
};

#define DEMO_MAX_POINTS 16

struct demo_report {
	struct demo_job *jobs;
	size_t n_jobs;
	struct demo_check proofs[DEMO_N_PROOFS];
	struct demo_point points[DEMO_MAX_POINTS];
	size_t n_points;
	char posture_error[512]; /* when the probe could not run */
	uint64_t probe_ms;
	/* The same probe in the gvisor tier, beside the native one, when runsc starts here;
	 * else gv_error says why not. */
	struct demo_point gv_points[DEMO_MAX_POINTS];
	size_t gv_n_points;
	char gv_info[256];  /* "runsc 0.0~20221219.0, platform ptrace" */
	char gv_error[512]; /* why the gvisor tier was not audited */
	char model[600];    /* "the stand-in (recorded answers)" or the model's URL */
	char started[64];   /* local date and time */
	uint64_t wall_ms;
	uint64_t sandbox_true_ms; /* median start-to-exit of /bin/true in the sandbox */
	char host[256];		  /* kernel and machine */
	int interrupted;
};

/* How the jobs went, counted the way the page's headline does. */
void demo_report_counts(const struct demo_report *r, size_t *videos, size_t *videos_ok,
			size_t *threats, size_t *threats_ok);

/* Write the page to out. 0, or -EIO when it could not be written. */
int demo_report_write(FILE *out, const struct demo_report *r);

/* Append s to out escaped for HTML text and attribute values: & < > " ' and control
 * characters other than newline and tab (a log's escape sequences) become harmless. */
void demo_html_escape(FILE *out, const char *s);

#endif
