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

void metrics_count_run(struct metrics *m, const struct runner_result *res)
{
	m->frames += (uint64_t)(res->frames > 0 ? res->frames : 0);
	m->duration_sum += (double)res->total_ms / 1000.0;
	m->duration_count++;
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
	head(f, "reelbox_job_duration_seconds", "summary", "Wall time of finished jobs.");
	fprintf(f,
		"reelbox_job_duration_seconds_sum %.3f\nreelbox_job_duration_seconds_count %llu\n",
		m->duration_sum, (unsigned long long)m->duration_count);
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

int metrics_text(const struct metrics *m, const struct metrics_gauges *g, char **text, size_t *len)
{
	FILE *f = open_memstream(text, len);

	if (!f)
		return -ENOMEM;
	counters(f, m, g->running);
	gauges(f, g);
	if (fclose(f) != 0) {
		free(*text);
		*text = NULL;
		return -ENOMEM;
	}
	return 0;
}
