/* demo_table.c - the demo's live table: one row per job, redrawn in place on a
 * terminal; in a log (a pipe, CI) one line per change of state instead, so the output
 * reads as a story rather than a screenful of repaints. */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "demo.h"

void demo_table_init(struct demo_table *t, int tty)
{
	memset(t, 0, sizeof(*t));
	t->tty = tty;
}

/* What the state column says: the state, with the frames while it renders. */
static void state_text(const struct demo_job *j, char *buf, size_t len)
{
	if (!strcmp(j->state, "running") && j->progress_total > 0)
		snprintf(buf, len, "running %lld/%lld", (long long)j->progress,
			 (long long)j->progress_total);
	else
		snprintf(buf, len, "%s", j->state[0] ? j->state : "submitting");
}

/* The model's attempts of a finished prompt job: "1", "2 (repaired)", "-" before. */
static void attempt_text(const struct demo_job *j, char *buf, size_t len)
{
	size_t n = json_array_size(json_object_get(j->result, "attempts"));

	if (!j->final || !n)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%zu%s", n,
			 n > 1 && !strcmp(j->state, "succeeded") ? " (repaired)" : "");
}

/* How long the job ran (or runs): the queue's start to its end; 0 while it waits. */
static double seconds(const struct demo_job *j, uint64_t now_ms)
{
	uint64_t end = j->final ? j->finished_ms : now_ms;
	return j->started_ms && end >= j->started_ms ? (double)(end - j->started_ms) / 1e3 : 0;
}

static void row(const struct demo_job *j, uint64_t now_ms, char *buf, size_t len)
{
	char state[48], attempt[40];

	state_text(j, state, sizeof(state));
	attempt_text(j, attempt, sizeof(attempt));
	snprintf(buf, len, "%-22.22s %-18.18s %-17s %-12s %6.1fs", j->scenario,
		 j->threat ? j->threat : j->kind, state, attempt, seconds(j, now_ms));
}

static void header(void)
{
	printf("%-22s %-18s %-17s %-12s %7s\n", "scenario", "kind", "state", "model tries", "time");
}

void demo_table_draw(struct demo_table *t, const struct demo_job *jobs, size_t n, uint64_t now_ms)
{
	char line[160];

	if (t->tty) {
		if (t->drawn)
			printf("\033[%dA", t->drawn);
		else
			header();
		for (size_t i = 0; i < n; i++) {
			row(&jobs[i], now_ms, line, sizeof(line));
			printf("\r\033[K%s\n", line);
		}
		t->drawn = (int)n;
	} else {
		if (!t->drawn) {
			header();
			t->drawn = 1;
		}
		for (size_t i = 0; i < n && i < sizeof(t->last) / sizeof(t->last[0]); i++) {
			if (!strcmp(t->last[i], jobs[i].state))
				continue;
			snprintf(t->last[i], sizeof(t->last[i]), "%s", jobs[i].state);
			row(&jobs[i], now_ms, line, sizeof(line));
			printf("%s\n", line);
		}
	}
	fflush(stdout);
}
