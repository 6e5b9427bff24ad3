/* cmd_logs.c - `reelbox logs ID [-f]`: a job's log lines from its log stream in Redis.
 *
 * The worker ships the script's stderr there while the job runs (worker/logship.c), so
 * the log can be read during the run and after it, until the result expires. -f
 * follows it: it waits for new lines and ends once the job has reached a final state
 * and every line has been read (the state comes with the lines, from one script, so no
 * line written before the end is missed). A job whose stream holds nothing (it never
 * ran, or ran on an older worker) shows the result's log tail instead, said on stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "queue.h"
#include "utf8.h"

#define FOLLOW_BLOCK_MS 1000
#define LINE_MAX_OUT	4096 /* bytes of one line printed; the rest of it is cut */

static const char logs_usage[] =
    "usage: reelbox logs [--redis URL] [--config FILE] [-f|--follow] JOB_ID\n"
    "  Prints the job's log (its script's stderr lines, as the worker shipped them while\n"
    "  it ran; at most 1 MiB per attempt and the newest 256 batches are kept). -f waits\n"
    "  for new lines until the job ends.\n";

struct logs_args {
	const char *redis, *config, *id;
	int follow;
};

static int logs_parse(int argc, char **argv, struct logs_args *a)
{
	static const struct option opts[] = {
	    {"redis", required_argument, NULL, OPT_REDIS},
	    {"config", required_argument, NULL, OPT_CONFIG},
	    {"follow", no_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "hf", opts, NULL)) != -1) {
		switch (c) {
		case OPT_REDIS:
			a->redis = optarg;
			break;
		case OPT_CONFIG:
			a->config = optarg;
			break;
		case 'f':
			a->follow = 1;
			break;
		case 'h':
			fputs(logs_usage, stdout);
			return -1;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1)
		return cli_usage_error("logs", "expected one JOB_ID (reelbox logs --help)");
	a->id = argv[optind];
	return 0;
}

static int is_final(const char *st)
{
	return !strcmp(st, "succeeded") || !strcmp(st, "failed") || !strcmp(st, "cancelled") ||
	       !strcmp(st, "dead");
}

/* Print a batch terminal-safe, line by line (a value in Redis may have been written by
 * hand; the worker's own lines are clean already), each line ending in a newline. */
static void print_text(const char *text)
{
	size_t n = strlen(text);
	char *clean = malloc(3 * LINE_MAX_OUT + 1);

	if (!clean)
		return;
	while (n) {
		const char *nl = memchr(text, '\n', n);
		size_t len = nl ? (size_t)(nl - text) : n, out;
		size_t take = len > LINE_MAX_OUT ? LINE_MAX_OUT : len;

		out = utf8_sanitize_term(clean, 3 * LINE_MAX_OUT + 1, text, take);
		fwrite(clean, 1, out, stdout);
		putchar('\n');
		text += nl ? len + 1 : len;
		n -= nl ? len + 1 : len;
	}
	free(clean);
}

/* Print one read's entries; *attempt tracks the claim they came from (a header on
 * stderr when it changes). Returns the number printed, or -1 for a bad document. */
static int print_entries(const json_t *doc, long long *attempt, const char **state)
{
	json_t *entries = json_object_get(doc, "entries"), *e;
	size_t i;

	*state = json_string_value(json_object_get(doc, "state"));
	if (!json_is_array(entries) || !*state)
		return -1;
	json_array_foreach(entries, i, e)
	{
		long long a = json_integer_value(json_object_get(e, "attempt"));
		const char *text = json_string_value(json_object_get(e, "text"));

		/* A header where the claim changes (not before a first attempt's lines). */
		if (a != *attempt && (*attempt != -1 || a > 1)) {
			fflush(stdout);
			fprintf(stderr, "-- attempt %lld --\n", a);
		}
		*attempt = a;
		print_text(text ? text : "");
	}
	fflush(stdout);
	return (int)json_array_size(entries);
}

/* Nothing in the stream: the result's log tail, when the job has one. */
static void print_tail(struct queue *q, const char *id)
{
	char err[QUEUE_ERR_MAX], *st = NULL;
	json_t *doc;
	const char *log;

	if (queue_status(q, id, &st, err, sizeof(err)) < 0)
		return;
	doc = json_loads(st, 0, NULL);
	free(st);
	log = json_string_value(json_object_get(doc, "log"));
	if (log && log[0]) {
		fprintf(stderr, "(no log stream for %s; the result's log tail:)\n", id);
		print_text(log);
	}
	json_decref(doc);
}

/* Read (and with follow, wait for) entries until there are no more: without follow,
 * when a read comes back empty; with it, when it comes back empty after the job ended.
 * Returns 0, or the exit status of an error (said on stderr). */
static int read_all(struct queue *q, const struct logs_args *a, int *printed)
{
	char cursor[QUEUE_ENTRY_MAX] = "0", err[QUEUE_ERR_MAX], *text;
	long long attempt = -1;
	const char *state;
	json_t *doc;
	int n, rc;

	for (;;) {
		rc = queue_log_read(q, a->id, cursor, a->follow ? FOLLOW_BLOCK_MS : 0, &text, err,
				    sizeof(err));
		if (rc == -ENOENT || rc == -EINVAL)
			return cli_usage_error("logs", "%s", err);
		if (rc < 0) {
			fprintf(stderr, "reelbox logs: %s\n", err);
			return EXIT_JOB_FAILED;
		}
		doc = json_loads(text, 0, NULL);
		free(text);
		n = doc ? print_entries(doc, &attempt, &state) : -1;
		if (n < 0) {
			json_decref(doc);
			fprintf(stderr, "reelbox logs: unexpected answer from Redis\n");
			return EXIT_JOB_FAILED;
		}
		*printed += n;
		rc = n == 0 && (!a->follow || is_final(state));
		json_decref(doc);
		if (rc)
			return 0;
	}
}

/* `reelbox logs ID [-f]`: 0 printed (or nothing to print), EXIT_USAGE an unknown job,
 * a bad id or option, or Redis away; EXIT_JOB_FAILED Redis failed mid-read. */
int cmd_logs(int argc, char **argv)
{
	struct logs_args a = {0};
	struct config cfg;
	struct queue *q;
	int rc, printed = 0;

	if ((rc = logs_parse(argc, argv, &a)) != 0)
		return rc < 0 ? 0 : rc;
	if ((rc = cli_load_config("logs", a.config, &cfg)) != 0 ||
	    (rc = cli_open_queue("logs", cli_redis_url(a.redis, &cfg), &cfg, &q)) != 0)
		return rc;
	rc = read_all(q, &a, &printed);
	if (rc == 0 && printed == 0)
		print_tail(q, a.id);
	queue_close(q);
	return rc;
}
