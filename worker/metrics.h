/* metrics.h - what a worker counts, and its Prometheus text.
 *
 * The counters live in the worker and grow as jobs end; the gauges are read from the
 * worker when a scrape asks. This file only names and prints them (the exposition
 * format, version 0.0.4); where they are served is http.h's business.
 */
#ifndef REELBOX_METRICS_H
#define REELBOX_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "runner.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4"

/* A Prometheus histogram with fixed upper bounds (le), counted cumulatively when
 * printed; the +Inf bucket is count. */
#define METRICS_BUCKETS_MAX 12
struct metrics_hist {
	const double *le; /* METRICS_BUCKETS_MAX bounds at most, rising */
	unsigned n;
	uint64_t buckets[METRICS_BUCKETS_MAX]; /* observations <= le[i] and > le[i-1] */
	double sum;
	uint64_t count;
};

void metrics_observe(struct metrics_hist *h, double v);

struct metrics {
	uint64_t succeeded, failed, retried, rejected, dead, lost, cancelled;
	uint64_t frames;
	uint64_t kills_timeout, kills_limit, kills_cancel, kills_sigsys;
	/* prompt jobs: model answers by what became of them, time waiting on the model,
	 * tokens as the APIs reported them */
	uint64_t attempts_rendered, attempts_failed, attempts_model_failed;
	double model_seconds;
	uint64_t tokens_in, tokens_out;
	/* deliveries: uploads and webhooks by outcome, bytes uploaded */
	uint64_t uploads_ok, uploads_failed, upload_bytes, webhooks_ok, webhooks_failed;
	/* distributions: a finished job's wall time, a rendered job's frames per second of
	 * render, a sandbox's start, an upload, one model answer */
	struct metrics_hist duration, fps, sandbox_start, upload, model;
};

/* Zero the counters and give the histograms their buckets. */
void metrics_init(struct metrics *m);

/* Count an upload that ended: ok or not, its wall time and size. */
void metrics_count_upload(struct metrics *m, int ok, double seconds, uint64_t bytes);

/* The warm pool's state (pool.h), when the worker has one. */
struct metrics_pool {
	int on;
	unsigned size, ready, warming, idle_processes;
	uint64_t idle_memory_bytes;
	int zygote;		   /* members are cloned by the zygote */
	uint64_t zygote_rss_bytes; /* its resident memory, shared with the members it cloned */
	uint64_t taken, cold, started, failed, expired;
	double warm_seconds_last;
};

/* The worker's state at the moment of a scrape. */
struct metrics_gauges {
	unsigned running;	  /* jobs running now */
	unsigned results_waiting; /* results sent to Redis and not yet accepted */
	int redis_up, claiming, disk_ok;
	struct metrics_pool pool;
};

/* Count a run that ended: its frames, its wall time, and who ended its sandbox. */
void metrics_count_run(struct metrics *m, const struct runner_result *res);

struct jobrun_attempt;

/* Count a prompt job's attempts: each one's fate, its model time and tokens. */
void metrics_count_attempts(struct metrics *m, const struct jobrun_attempt *a, unsigned n);

/* The Prometheus text: 0 with *text malloc'd and *len its length, or -ENOMEM. */
int metrics_text(const struct metrics *m, const struct metrics_gauges *g, char **text, size_t *len);

#endif
