/* cmd_submit.c - `reelbox submit`, `status` and `cancel`: the producer's side. */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "delivery.h"
#include "cli_follow.h"
#include "queue.h"

static const char submit_usage[] =
    "usage: reelbox submit [OPTIONS] SCRIPT\n"
    "       reelbox submit [OPTIONS] --prompt TEXT\n"
    "  Enqueues SCRIPT (or a prompt: the worker asks its model for the script) as a render\n"
    "  job and prints its id as the last line of stdout.\n"
    "      --prompt TEXT     a prompt job; --prompt-file FILE (- for stdin) reads it\n"
    "      --redis URL       the queue (default $REELBOX_REDIS_URL, else\n"
    "                        redis://127.0.0.1:6379)\n"
    "      --wait            follow the job to its end and exit like run (0 succeeded,\n"
    "                        1 failed); Ctrl-C stops waiting, not the job\n"
    "      --json            stdout is one JSON document: {\"id\", \"state\"}, or with\n"
    "                        --wait the job's final status\n"
    "      --progress FILE|- with --wait: key=value progress blocks to FILE or stdout\n"
    "  -o, --output NAME.EXT the worker writes OUTPUT_DIR/NAME.EXT: NAME becomes the job\n"
    "                        id, EXT (mp4, webm, gif) the format; a file name, no path\n"
    "      --format FMT      mp4 (default), webm, gif or mov\n"
    "      --id ID           the job id (default: generated); 1-63 of A-Z a-z 0-9 _ -\n"
    "      --retries N       re-runs after the script's own failure (0)\n"
    "      --upload-url URL  a presigned PUT URL: the worker uploads the video there\n"
    "      --webhook URL     the worker POSTs the final result there, signed\n"
    "      --chunks N        render N frame ranges (2-64) on any workers and join them;\n"
    "                        the script sees FRAME_START and FRAME_COUNT (mp4 webm mov)\n"
    "      --frames-per-chunk K   as many chunks as K frames each make\n"
    "  job options, as for run:\n"
    "      --runtime NAME    interpreter from the runtime table (default: by extension)\n"
    "      --tier NAME       sandbox tier: native or gvisor (default: the operator's)\n"
    "      --size WxH        frame size (1280x720)\n"
    "      --fps RATE        frames per second (30): N, N/D (30000/1001) or 29.97\n"
    "      --codec NAME      h264 hevc av1 (.mp4), vp9 av1 (.webm); default the container's\n"
    "      --frames N        frame count ceiling (fps*5), or --duration SEC\n"
    "      --pix-fmt NAME    raw stream format: rgb24 rgba bgr24 gray yuv420p\n"
    "      --crf N, --preset NAME   encoder quality and speed, as in ffmpeg\n"
    "      --timeout SEC --memory MB --pids N --scratch MB --cpus F   sandbox limits\n"
    "      --audio NAME      mux the file the script wrote as $SCRATCH/NAME as the audio\n"
    "                        track (AAC in .mp4/.mov, Opus in .webm), fitted to the video\n"
    "      --config FILE     operator configuration (JSON)\n";

/* -o NAME.EXT on submit: the worker writes OUTPUT_DIR/<id>.<format>, so the name is
 * honoured as the id. A path is refused: where files go is the worker's --output-dir,
 * and a producer must not name a place on the worker's disk. */
static int output_as_id(const char *output, const char **id, const char **format, char *idbuf,
			size_t idlen)
{
	const char *dot = strrchr(output, '.');
	char err[256];

	if (strchr(output, '/'))
		return cli_usage_error("submit",
				       "-o '%s' is a path; submit takes a file name: the worker "
				       "writes NAME.EXT into its --output-dir (use -o NAME.mp4, or "
				       "--id NAME --format mp4)",
				       output);
	if (!dot || dot == output ||
	    (strcmp(dot, ".mp4") && strcmp(dot, ".webm") && strcmp(dot, ".gif") &&
	     strcmp(dot, ".mov")))
		return cli_usage_error(
		    "submit", "output '%s' has an unknown extension; use .mp4, .webm, .gif or .mov",
		    output);
	snprintf(idbuf, idlen, "%.*s", (int)(dot - output), output);
	if (job_check_id(idbuf, err, sizeof(err)) < 0)
		return cli_usage_error("submit",
				       "-o '%s': the name becomes the job id (the worker writes "
				       "<id>.<ext>), and %s",
				       output, err);
	if (*id && strcmp(*id, idbuf))
		return cli_usage_error("submit",
				       "-o '%s' names the job %s but --id says %s; give one",
				       output, idbuf, *id);
	if (*format && strcmp(*format, dot + 1))
		return cli_usage_error("submit",
				       "-o '%s' asks for %s but --format says %s; give one", output,
				       dot + 1, *format);
	*id = idbuf;
	*format = dot + 1;
	return 0;
}

/* What submit was asked: the job (as far as its options go) and how to send it. */
struct submit_args {
	struct job job;
	struct cli_job_args ja;
	const char *redis, *format, *id, *output, *progress, *script, *upload_url, *webhook;
	char idbuf[JOB_ID_MAX];
	int wait, json;
};

/* The options (they may follow SCRIPT: the contract shows `SCRIPT [--wait] [--json]`).
 * 0, EXIT_USAGE after saying why, or -1 when --help was printed. */
static int submit_options(int argc, char **argv, struct submit_args *a)
{
	enum { O_FORMAT = OPT_CLI_LAST + 1, O_ID, O_UPLOAD_URL, O_WEBHOOK };
	struct option opts[40];
	size_t n = cli_n_job_options;
	long v;
	int c, rc;

	memcpy(opts, cli_job_options, n * sizeof(struct option));
	opts[n++] = (struct option){"redis", required_argument, NULL, OPT_REDIS};
	opts[n++] = (struct option){"wait", no_argument, NULL, OPT_WAIT};
	opts[n++] = (struct option){"json", no_argument, NULL, OPT_JSON};
	opts[n++] = (struct option){"retries", required_argument, NULL, OPT_RETRIES};
	opts[n++] = (struct option){"format", required_argument, NULL, O_FORMAT};
	opts[n++] = (struct option){"output", required_argument, NULL, 'o'};
	opts[n++] = (struct option){"id", required_argument, NULL, O_ID};
	opts[n++] = (struct option){"progress", required_argument, NULL, OPT_PROGRESS};
	opts[n++] = (struct option){"upload-url", required_argument, NULL, O_UPLOAD_URL};
	opts[n++] = (struct option){"webhook", required_argument, NULL, O_WEBHOOK};
	opts[n++] = (struct option){"help", no_argument, NULL, 'h'};
	opts[n] = (struct option){0};
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		char *end;
		switch (c) {
		case OPT_REDIS:
			a->redis = optarg;
			break;
		case OPT_WAIT:
			a->wait = 1;
			break;
		case OPT_JSON:
			a->json = 1;
			break;
		case O_FORMAT:
			a->format = optarg;
			break;
		case O_ID:
			a->id = optarg;
			break;
		case O_UPLOAD_URL:
			a->upload_url = optarg;
			break;
		case O_WEBHOOK:
			a->webhook = optarg;
			break;
		case 'o':
			a->output = optarg;
			break;
		case OPT_PROGRESS:
			a->progress = optarg;
			break;
		case OPT_RETRIES:
			v = strtol(optarg, &end, 10);
			if (*end || v < 0 || v > 1000)
				return cli_usage_error("submit", "--retries '%s' is not 0..1000",
						       optarg);
			a->job.retries = (int)v;
			break;
		case 'h':
			fputs(submit_usage, stdout);
			return -1;
		case '?':
			fputs(submit_usage, stderr);
			return EXIT_USAGE;
		default:
			if ((rc = cli_job_option("submit", c, optarg, &a->job, &a->ja)) != 0)
				return rc;
		}
	}
	return 0;
}

/* The options, then what they say together: one SCRIPT, --progress only with --wait,
 * -o as the id and format. */
static int submit_parse(int argc, char **argv, struct submit_args *a)
{
	int rc = submit_options(argc, argv, a);

	if (rc)
		return rc;
	if ((rc = cli_script_or_prompt("submit", argc, argv, optind, &a->job, &a->script)) != 0)
		return rc;
	if (a->progress && !a->wait)
		return cli_usage_error("submit", "--progress follows a job: give --wait too");
	if (a->output)
		return output_as_id(a->output, &a->id, &a->format, a->idbuf, sizeof(a->idbuf));
	return 0;
}

/* --upload-url and --webhook: checked as the worker's admission checks them. */
static int submit_delivery(struct submit_args *a, struct job *job)
{
	char err[256];

	if (a->upload_url) {
		if (delivery_check_url("--upload-url", a->upload_url, err, sizeof(err)) < 0)
			return cli_usage_error("submit", "%s", err);
		if (!(job->upload_url = strdup(a->upload_url)))
			return cli_usage_error("submit", "out of memory");
	}
	if (a->webhook) {
		if (delivery_check_url("--webhook", a->webhook, err, sizeof(err)) < 0)
			return cli_usage_error("submit", "%s", err);
		if (!(job->webhook_url = strdup(a->webhook)))
			return cli_usage_error("submit", "out of memory");
	}
	return 0;
}

/* The job made whole and checked as a worker would (a producer hears of a bad job at
 * once, not from the dead-letter stream), and its document in *doc. */
static int submit_prepare(struct submit_args *a, struct config *cfg, char **doc)
{
	struct job *job = &a->job;
	char err[256];
	int rc;

	if ((rc = cli_load_config("submit", a->ja.config_path, cfg)) != 0)
		return rc;
	/* The worker's operator decides again at admission, with the worker's config. */
	cli_tiers_for_command(cfg);
	if (a->script && (rc = cli_load_script("submit", a->script, cfg, job)) != 0)
		return rc;
	if (a->format) {
		if (strlen(a->format) >= sizeof(job->format))
			return cli_usage_error("submit", "format '%s' is not mp4, webm, gif or mov",
					       a->format);
		snprintf(job->format, sizeof(job->format), "%s", a->format);
	}
	if (a->id) {
		if (job_check_id(a->id, err, sizeof(err)) < 0)
			return cli_usage_error("submit", "%s", err);
		snprintf(job->id, sizeof(job->id), "%s", a->id);
	}
	if ((rc = submit_delivery(a, job)) != 0 ||
	    (rc = cli_resolve_job("submit", job, &a->ja, cfg)) != 0)
		return rc;
	*doc = job_to_json(job);
	if (!*doc)
		return cli_usage_error(
		    "submit", "the script is not UTF-8 text; reelbox jobs carry text scripts");
	return 0;
}

/* queue_submit, with a taken id told as which job holds it and when it is free. */
static int submit_enqueue(struct queue *q, const char *doc, const struct config *cfg,
			  char newid[QUEUE_ID_MAX])
{
	char err[QUEUE_ERR_MAX], *st = NULL, why[QUEUE_ERR_MAX];
	int rc = queue_submit(q, doc, newid, err, sizeof(err));
	json_t *o;

	if (rc >= 0)
		return 0;
	if (rc == -EEXIST && queue_status(q, newid, &st, why, sizeof(why)) == 0 &&
	    (o = json_loads(st, 0, NULL))) {
		cli_exists_sentence(err, sizeof(err), newid, o, cli_wall_ms(), cfg->result_ttl_s);
		json_decref(o);
	}
	free(st);
	return cli_usage_error("submit", "%s", err);
}

/* --wait: the id first, so a user can cancel or follow the job from elsewhere (on
 * stdout when it is its only line, else on stderr), then the job to its end. */
static int submit_follow(struct queue *q, const struct submit_args *a, const char *url,
			 const char *newid)
{
	struct cli_progress prog;
	struct cli_follow_opts fo = {.json = a->json, .progress = &prog, .redis_url = url};
	int stdout_taken = a->json || (a->progress && !strcmp(a->progress, "-"));
	int rc = cli_progress_open(&prog, "submit", a->progress, a->json, isatty(2), newid);

	if (rc != 0)
		return rc;
	if (!stdout_taken) {
		printf("%s\n", newid);
		fo.id_printed = 1;
	} else {
		fprintf(stderr, "reelbox: submitted job %s\n", newid);
	}
	fflush(stdout);
	return cli_follow_job(q, newid, &fo);
}

static int submit_run(const struct submit_args *a, const struct config *cfg, const char *doc)
{
	const char *url = cli_redis_url(a->redis, cfg);
	char newid[QUEUE_ID_MAX];
	struct queue *q;
	int rc;

	if ((rc = cli_open_queue("submit", url, cfg, &q)) != 0)
		return rc;
	if ((rc = submit_enqueue(q, doc, cfg, newid)) == 0) {
		if (a->wait)
			rc = submit_follow(q, a, url, newid);
		else if (a->json) /* stdout is exactly one JSON document */
			printf("{\"id\":\"%s\",\"state\":\"queued\"}\n", newid);
		else /* the id is the last line */
			printf("%s\n", newid);
	}
	queue_close(q);
	return rc;
}

int cmd_submit(int argc, char **argv)
{
	struct submit_args a = {0};
	struct config cfg;
	char *doc = NULL;
	int rc;

	job_init(&a.job);
	rc = submit_parse(argc, argv, &a);
	if (rc == 0 && (rc = submit_prepare(&a, &cfg, &doc)) == 0)
		rc = submit_run(&a, &cfg, doc);
	free(doc);
	job_free(&a.job);
	return rc < 0 ? 0 : rc;
}

/* What status prints: the text form, the JSON document, or the model's final script. */
enum { STATUS_TEXT, STATUS_JSON, STATUS_SCRIPT, OPT_SCRIPT = OPT_CLI_LAST + 10 };

/* How long `cancel` waits for a running job's worker to confirm the stop. */
#define CANCEL_CONFIRM_MS 5000

static int parse_id_cmd(const char *cmd, int argc, char **argv, const char **redis, const char **id,
			int *json, struct config *cfg)
{
	static const struct option opts[] = {
	    {"redis", required_argument, NULL, OPT_REDIS},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"config", required_argument, NULL, OPT_CONFIG},
	    {"script", no_argument, NULL, OPT_SCRIPT},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *config = NULL;
	char err[256];
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_REDIS:
			*redis = optarg;
			break;
		case OPT_JSON:
			*json = STATUS_JSON;
			break;
		case OPT_SCRIPT:
			if (strcmp(cmd, "status"))
				return cli_usage_error(cmd, "--script is an option of status");
			*json = STATUS_SCRIPT;
			break;
		case OPT_CONFIG:
			config = optarg;
			break;
		case 'h':
			printf("usage: reelbox %s [--redis URL] [--json%s] JOB_ID\n", cmd,
			       strcmp(cmd, "status") ? "" : " | --script");
			return -1;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1)
		return cli_usage_error(cmd, "expected exactly one JOB_ID");
	*id = argv[optind];
	if (job_check_id(*id, err, sizeof(err)) < 0)
		return cli_usage_error(cmd, "%s", err);
	return cli_load_config(cmd, config, cfg);
}

/* `status --script`: the script a prompt job's model wrote last (the one that rendered,
 * when one did), exactly as it ran. 0, or 1 with a sentence when there is none. */
static int print_script(const char *id, const char *status)
{
	json_t *st = json_loads(status, 0, NULL);
	json_t *script = json_object_get(st, "script");
	int rc = 0;

	json_t *whole = json_object_get(json_object_get(st, "result"), "script_bytes");

	if (json_is_string(script)) {
		fwrite(json_string_value(script), 1, json_string_length(script), stdout);
		if (json_integer_value(whole) > (json_int_t)json_string_length(script))
			fprintf(stderr,
				"reelbox status: the script is cut at %zu of its %lld bytes: the "
				"queue keeps at most 60 KiB of it\n",
				json_string_length(script), (long long)json_integer_value(whole));
	} else {
		fprintf(stderr,
			"reelbox status: job %s has no script from a model: it is a script job, "
			"has not finished, or the model never gave one\n",
			id);
		rc = EXIT_JOB_FAILED;
	}
	json_decref(st);
	return rc;
}

int cmd_status(int argc, char **argv)
{
	const char *redis = NULL, *id = NULL;
	struct config cfg;
	struct queue *q;
	char *status = NULL, err[QUEUE_ERR_MAX];
	int json = 0, rc;

	rc = parse_id_cmd("status", argc, argv, &redis, &id, &json, &cfg);
	if (rc)
		return rc < 0 ? 0 : rc;
	if ((rc = cli_open_queue("status", cli_redis_url(redis, &cfg), &cfg, &q)) != 0)
		return rc;
	rc = queue_status(q, id, &status, err, sizeof(err));
	queue_close(q);
	if (rc < 0)
		return cli_usage_error("status", "%s", err);
	if (json == STATUS_SCRIPT) {
		rc = print_script(id, status);
	} else if (json) {
		printf("%s\n", status);
	} else {
		json_t *o = json_loads(status, 0, NULL);
		cli_print_status_text(stdout, o, cli_wall_ms());
		json_decref(o);
	}
	free(status);
	return rc;
}

/* Whether the job's worker confirmed that it stopped the cancelled job (the `stopped`
 * field its completion sets), waiting up to wait_ms. */
static int wait_stopped(struct queue *q, const char *id, int wait_ms)
{
	char err[QUEUE_ERR_MAX];

	for (int waited = 0;; waited += 100) {
		char *status = NULL;
		int stopped = 0;
		if (queue_status(q, id, &status, err, sizeof(err)) == 0) {
			json_t *st = json_loads(status, 0, NULL);
			stopped = json_integer_value(json_object_get(st, "stopped")) > 0;
			json_decref(st);
			free(status);
		}
		if (stopped || waited >= wait_ms)
			return stopped;
		usleep(100 * 1000);
	}
}

/* `reelbox cancel ID`: the cancel script ends a queued or running job `cancelled` in
 * one atomic step, so its answer is what happened: cancelled, or too late (the job had
 * already ended; exit 1 unless it was cancelled before). For a running job, cancel
 * then waits briefly for its worker to confirm that the sandbox is gone. */
/* What a cancel did, as one sentence: detail, *stopped (the worker confirmed it), and
 * EXIT_JOB_FAILED when it came too late. */
static int cancel_outcome(struct queue *q, const char *id, int rc,
			  const struct queue_cancel_info *info, const struct config *cfg,
			  char *detail, size_t len, int *stopped)
{
	int alive;

	if (rc == 1 && !strcmp(info->state, "cancelled")) {
		snprintf(detail, len, "cancelled (it was cancelled before)");
		return 0;
	}
	if (rc == 1) {
		snprintf(detail, len, "too late: it already %s", info->state);
		return EXIT_JOB_FAILED;
	}
	if (strcmp(info->was, "running")) {
		snprintf(detail, len, "cancelled");
		return 0;
	}
	/* A worker that stopped heart-beating a lease ago will not answer soon. */
	alive = info->heartbeat_age_ms < (long long)cfg->lease_s * 1000;
	*stopped = alive && wait_stopped(q, id, CANCEL_CONFIRM_MS);
	if (*stopped)
		snprintf(detail, len, "cancelled (worker %.120s stopped it)", info->worker);
	else
		snprintf(detail, len,
			 "cancelled; worker %.120s has not confirmed that it stopped the job (%s)",
			 info->worker,
			 alive ? "it stops it as soon as it hears"
			       : "it stopped heart-beating; it stops the job if it comes back");
	return 0;
}

static void cancel_print_json(const char *id, const struct queue_cancel_info *info, int exit_rc,
			      const char *detail, int stopped)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "id", id, "state", info->state, "cancel",
			      exit_rc ? "too late" : "cancelled", "detail", detail);
	char *text;

	if (o && info->was[0])
		json_object_set_new(o, "was", json_string(info->was));
	if (o && !strcmp(info->was, "running"))
		json_object_set_new(o, "stopped", json_boolean(stopped));
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	printf("%s\n", text ? text : "{}");
	free(text);
	json_decref(o);
}

int cmd_cancel(int argc, char **argv)
{
	const char *redis = NULL, *id = NULL;
	struct queue_cancel_info info;
	struct config cfg;
	struct queue *q;
	char err[QUEUE_ERR_MAX], detail[300] = "";
	int json = 0, rc, stopped = 0, exit_rc;

	rc = parse_id_cmd("cancel", argc, argv, &redis, &id, &json, &cfg);
	if (rc)
		return rc < 0 ? 0 : rc;
	if ((rc = cli_open_queue("cancel", cli_redis_url(redis, &cfg), &cfg, &q)) != 0)
		return rc;
	rc = queue_cancel(q, id, &info, err, sizeof(err));
	if (rc < 0) {
		queue_close(q);
		return cli_usage_error("cancel", "%s", err);
	}
	exit_rc = cancel_outcome(q, id, rc, &info, &cfg, detail, sizeof(detail), &stopped);
	queue_close(q);
	if (json)
		cancel_print_json(id, &info, exit_rc, detail, stopped);
	else
		printf("%s: %s\n", id, detail);
	return exit_rc;
}
