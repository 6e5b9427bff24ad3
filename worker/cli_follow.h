/* cli_follow.h - what a producer sees of a job: `submit --wait` following it to its end,
 * and `status` as a person reads it.
 */
#ifndef REELBOX_CLI_FOLLOW_H
#define REELBOX_CLI_FOLLOW_H

#include <jansson.h>
#include <stdio.h>

#include "cli_progress.h"

struct queue;

struct cli_follow_opts {
	int json;		       /* print the final status document on stdout */
	int id_printed;		       /* the id is already on stdout as its last line */
	struct cli_progress *progress; /* opened by the caller */
	const char *redis_url;	       /* named when nothing claims the job */
};

/* Follow job id until it ends (or the user interrupts), then say how it ended, like
 * `run`: 0 succeeded, EXIT_JOB_FAILED it did not, EXIT_USAGE the queue went away, 130
 * interrupted (the job is left as it is; the sentence says so and how to cancel it). */
int cli_follow_job(struct queue *q, const char *id, const struct cli_follow_opts *o);

/* The job's state as a person reads it, in a fixed order: state, attempts, times and
 * durations, progress, output, error, the log's last lines. The worker's whole result
 * document is not repeated (status --json has it). now_ms is the wall clock in Unix ms. */
void cli_print_status_text(FILE *out, json_t *st, long long now_ms);

/* The last n non-empty lines of a log, each indented with "  | ". */
void cli_print_log_lines(FILE *out, const char *log, int n);

/* "already exists" made useful: what the job with that id is doing, and when its id is
 * free again (its result expires result_ttl_s after it ended). */
void cli_exists_sentence(char *buf, size_t len, const char *id, json_t *st, long long now_ms,
			 unsigned result_ttl_s);

/* The wall clock in Unix milliseconds. */
long long cli_wall_ms(void);

#endif
