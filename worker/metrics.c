/* metrics.c - the worker's counters in Prometheus text (see metrics.h).
 *
 * Every metric is printed with its HELP and TYPE lines, in a fixed order, so a scrape
 * reads the same way each time and a test can pick a line by its name.
 */
#define _GNU_SOURCE
#include "metrics.h"
#include "jobrun.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bucket bounds, in the metric's unit (seconds, or frames per second). */
static const double duration_le[] = {0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800};
static const double fps_le[] = {1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500};
static const double start_le[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1};
static const double upload_le[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
static const double model_le[] = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};

#define HIST(h, bounds)                                                                            \
	do {                                                                                       \
		(h).le = (bounds);                                                                 \
		(h).n = sizeof(bounds) / sizeof((bounds)[0]);                                      \
	} while (0)

void metrics_init(struct metrics *m)
{
	memset(m, 0, sizeof(*m));
	HIST(m->duration, duration_le);
	HIST(m->fps, fps_le);
	HIST(m->sandbox_start, start_le);
	HIST(m->upload, upload_le);
	HIST(m->model, model_le);
}

void metrics_observe(struct metrics_hist *h, double v)
{
	if (!h->le || v != v) /* no buckets given, or NaN */
		return;
	for (unsigned i = 0; i < h->n; i++)
		if (v <= h->le[i]) {
			h->buckets[i]++;
			break;
		}
	h->sum += v;
	h->count++;
}

void metrics_count_upload(struct metrics *m, int ok, double seconds, uint64_t bytes)
{
	if (ok) {
		m->uploads_ok++;
		m->upload_bytes += bytes;
	} else {
		m->uploads_failed++;
	}
	metrics_observe(&m->upload, seconds);
}

void metrics_count_run(struct metrics *m, const struct runner_result *res)
{
	m->frames += (uint64_t)(res->frames > 0 ? res->frames : 0);
	metrics_observe(&m->duration, (double)res->total_ms / 1000.0);
	if (res->sandbox_start_us)
		metrics_observe(&m->sandbox_start, (double)res->sandbox_start_us / 1e6);
	if (res->succeeded && res->frames > 0 && res->total_ms > 0)
		metrics_observe(&m->fps, (double)res->frames * 1000.0 / (double)res->total_ms);
	if (res->end == RUNNER_END_CANCELLED)
		m->kills_cancel++;
	else if (res->end == RUNNER_END_TIMEOUT)
		m->kills_timeout++;
	else if (res->limit_hit)
		m->kills_limit++;
	else if (res->signal == SIGSYS)
		m->kills_sigsys++;
}

void metrics_count_attempts(struct metrics *m, const struct jobrun_attempt *a, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (a[i].succeeded)
			m->attempts_rendered++;
		else if (a[i].end == RUNNER_END_MODEL)
			m->attempts_model_failed++;
		else
			m->attempts_failed++;
		m->model_seconds += (double)a[i].model_ms / 1000.0;
		if (a[i].model_ms > 0)
			metrics_observe(&m->model, (double)a[i].model_ms / 1000.0);
		m->tokens_in += a[i].input_tokens > 0 ? (uint64_t)a[i].input_tokens : 0;
		m->tokens_out += a[i].output_tokens > 0 ? (uint64_t)a[i].output_tokens : 0;
	}
}

static void head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void labelled(FILE *f, const char *name, const char *label, const char *value, uint64_t n)
{
	fprintf(f, "%s{%s=\"%s\"} %llu\n", name, label, value, (unsigned long long)n);
}

/* A histogram's lines: cumulative buckets with their le, +Inf, sum and count. */
static void histogram(FILE *f, const char *name, const char *help, const struct metrics_hist *h)
{
	uint64_t cum = 0;

	head(f, name, "histogram", help);
	for (unsigned i = 0; i < h->n; i++) {
		cum += h->buckets[i];
		fprintf(f, "%s_bucket{le=\"%g\"} %llu\n", name, h->le[i], (unsigned long long)cum);
	}
	fprintf(f, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
		(unsigned long long)h->count, name, h->sum, name, (unsigned long long)h->count);
}

static void distributions(FILE *f, const struct metrics *m)
{
	histogram(f, "reelbox_job_duration_seconds", "Wall time of finished runs.", &m->duration);
	histogram(f, "reelbox_job_frames_per_second",
		  "Frames per second of wall time of the runs that rendered.", &m->fps);
	histogram(f, "reelbox_sandbox_start_seconds",
		  "Time to make a job's sandbox, from nothing to its script running.",
		  &m->sandbox_start);
	histogram(f, "reelbox_upload_seconds", "Wall time of uploads, retries included.",
		  &m->upload);
	histogram(f, "reelbox_model_request_seconds",
		  "Time of each prompt-job attempt's model request, retries included.", &m->model);
}

static void deliveries(FILE *f, const struct metrics *m)
{
	static const char up[] = "reelbox_uploads_total", hook[] = "reelbox_webhooks_total";

	head(f, up, "counter", "Uploads to a job's presigned URL, by outcome.");
	labelled(f, up, "outcome", "ok", m->uploads_ok);
	labelled(f, up, "outcome", "failed", m->uploads_failed);
	head(f, "reelbox_upload_bytes_total", "counter", "Bytes of the videos uploaded.");
	fprintf(f, "reelbox_upload_bytes_total %llu\n", (unsigned long long)m->upload_bytes);
	head(f, hook, "counter", "Webhook deliveries, by outcome.");
	labelled(f, hook, "outcome", "ok", m->webhooks_ok);
	labelled(f, hook, "outcome", "failed", m->webhooks_failed);
}

static void model_counters(FILE *f, const struct metrics *m)
{
	static const char att[] = "reelbox_model_attempts_total",
			  tok[] = "reelbox_model_tokens_total";

	head(f, att, "counter",
	     "Prompt jobs' model answers, by outcome: rendered, failed (the script's fault, "
	     "sent back for repair) or model (no answer: refused key, outage, timeout).");
	labelled(f, att, "outcome", "rendered", m->attempts_rendered);
	labelled(f, att, "outcome", "failed", m->attempts_failed);
	labelled(f, att, "outcome", "model", m->attempts_model_failed);
	head(f, "reelbox_model_seconds_total", "counter",
	     "Time prompt jobs waited on the model, retries included.");
	fprintf(f, "reelbox_model_seconds_total %.3f\n", m->model_seconds);
	head(f, tok, "counter", "Tokens the model APIs reported, by direction.");
	labelled(f, tok, "direction", "input", m->tokens_in);
	labelled(f, tok, "direction", "output", m->tokens_out);
}

static void counters(FILE *f, const struct metrics *m, unsigned running)
{
	static const char jobs[] = "reelbox_jobs_total", kills[] = "reelbox_sandbox_kills_total";

	head(f, jobs, "counter", "Jobs this worker finished, by outcome.");
	labelled(f, jobs, "state", "succeeded", m->succeeded);
	labelled(f, jobs, "state", "failed", m->failed);
	labelled(f, jobs, "state", "retried", m->retried);
	labelled(f, jobs, "state", "rejected", m->rejected);
	labelled(f, jobs, "state", "dead", m->dead);
	labelled(f, jobs, "state", "lost", m->lost);
	labelled(f, jobs, "state", "cancelled", m->cancelled);
	head(f, "reelbox_jobs_running", "gauge", "Jobs running now.");
	fprintf(f, "reelbox_jobs_running %u\n", running);
	head(f, "reelbox_frames_total", "counter", "Frames encoded.");
	fprintf(f, "reelbox_frames_total %llu\n", (unsigned long long)m->frames);
	head(f, kills, "counter", "Sandboxes ended by reelbox, by reason.");
	labelled(f, kills, "reason", "timeout", m->kills_timeout);
	labelled(f, kills, "reason", "limit", m->kills_limit);
	labelled(f, kills, "reason", "cancel", m->kills_cancel);
	labelled(f, kills, "reason", "seccomp", m->kills_sigsys);
	model_counters(f, m);
}

static void gauges(FILE *f, const struct metrics_gauges *g)
{
	head(f, "reelbox_redis_up", "gauge", "Whether the queue's connections are up.");
	fprintf(f, "reelbox_redis_up %d\n", g->redis_up);
	head(f, "reelbox_results_waiting", "gauge",
	     "Results sent to Redis and not yet accepted (refused writes wait here).");
	fprintf(f, "reelbox_results_waiting %u\n", g->results_waiting);
	head(f, "reelbox_claiming", "gauge",
	     "Whether the worker takes new jobs (0 while Redis refuses its results, its output "
	     "dir is unusable, or it is stopping).");
	fprintf(f, "reelbox_claiming %d\n", g->claiming);
	head(f, "reelbox_disk_ok", "gauge",
	     "Whether the output dir is usable (there, writable, not full).");
	fprintf(f, "reelbox_disk_ok %d\n", g->disk_ok);
}

static void pool_lines(FILE *f, const struct metrics_pool *p)
{
	static const char members[] = "reelbox_pool_sandboxes", ev[] = "reelbox_pool_events_total";

	if (!p->on)
		return;
	head(f, "reelbox_pool_size", "gauge", "Warm python3 sandboxes the pool keeps.");
	fprintf(f, "reelbox_pool_size %u\n", p->size);
	head(f, members, "gauge",
	     "Warm sandboxes now, by state: ready (waiting for a job) or "
	     "warming (started, importing numpy and Pillow).");
	labelled(f, members, "state", "ready", p->ready);
	labelled(f, members, "state", "warming", p->warming);
	head(f, "reelbox_pool_idle_memory_bytes", "gauge",
	     "Memory the ready warm sandboxes hold (their cgroups' high-water marks).");
	fprintf(f, "reelbox_pool_idle_memory_bytes %llu\n",
		(unsigned long long)p->idle_memory_bytes);
	head(f, "reelbox_pool_idle_processes", "gauge",
	     "Processes the ready warm sandboxes hold (an init and an interpreter each).");
	fprintf(f, "reelbox_pool_idle_processes %u\n", p->idle_processes);
	head(f, "reelbox_pool_zygote", "gauge",
	     "1 when the members are cloned by the python3 zygote (imports made once), 0 when "
	     "each starts python3.");
	fprintf(f, "reelbox_pool_zygote %d\n", p->zygote);
	head(f, "reelbox_pool_zygote_resident_bytes", "gauge",
	     "The zygote's resident memory (the interpreter, numpy, Pillow), shared "
	     "copy-on-write with every member.");
	fprintf(f, "reelbox_pool_zygote_resident_bytes %llu\n",
		(unsigned long long)p->zygote_rss_bytes);
	head(f, ev, "counter",
	     "Warm pool events: taken (a job started warm), cold (a job started cold beside "
	     "the pool), started, failed (a member died or never got ready), expired "
	     "(replaced at max_age).");
	labelled(f, ev, "event", "taken", p->taken);
	labelled(f, ev, "event", "cold", p->cold);
	labelled(f, ev, "event", "started", p->started);
	labelled(f, ev, "event", "failed", p->failed);
	labelled(f, ev, "event", "expired", p->expired);
	head(f, "reelbox_pool_warm_seconds", "gauge",
	     "The last warm sandbox's time from its start to ready.");
	fprintf(f, "reelbox_pool_warm_seconds %.3f\n", p->warm_seconds_last);
}

int metrics_text(const struct metrics *m, const struct metrics_gauges *g, char **text, size_t *len)
{
	FILE *f = open_memstream(text, len);

	if (!f)
		return -ENOMEM;
	counters(f, m, g->running);
	distributions(f, m);
	deliveries(f, m);
	gauges(f, g);
	pool_lines(f, &g->pool);
	if (fclose(f) != 0) {
		free(*text);
		*text = NULL;
		return -ENOMEM;
	}
	return 0;
}
