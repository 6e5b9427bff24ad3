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
#include "cli_follow.h"
#include "queue.h"

/* --redis, else REELBOX_REDIS_URL, else the config file, else the built-in default. */
static const char *redis_url(const char *flag, const struct config *cfg)
{
	const char *env = getenv("REELBOX_REDIS_URL");

	if (flag)
		return flag;
	if (env && *env)
		return env;
	return cfg->redis_url[0] ? cfg->redis_url : "redis://127.0.0.1:6379";
}

static int open_queue(const char *cmd, const char *url, const struct config *cfg, struct queue **q)
{
	struct queue_opts qo;
	char err[QUEUE_ERR_MAX];

	queue_opts_init(&qo);
	qo.lease_ms = cfg->lease_s * 1000;
	qo.result_ttl_s = cfg->result_ttl_s;
	qo.max_attempts = (uint32_t)cfg->max_attempts;
	if (queue_open(q, url, &qo, err, sizeof(err)) < 0)
		return cli_usage_error(cmd, "%s", err);
	return 0;
}

static const char submit_usage[] =
    "usage: reelbox submit [OPTIONS] SCRIPT\n"
    "  Enqueues SCRIPT as a render job and prints its id as the last line of stdout.\n"
    "      --redis URL       the queue (default $REELBOX_REDIS_URL, else\n"
    "                        redis://127.0.0.1:6379)\n"
    "      --wait            follow the job to its end and exit like run (0 succeeded,\n"
    "                        1 failed); Ctrl-C stops waiting, not the job\n"
    "      --json            stdout is one JSON document: {\"id\", \"state\"}, or with\n"
    "                        --wait the job's final status\n"
    "      --progress FILE|- with --wait: key=value progress blocks to FILE or stdout\n"
    "  -o, --output NAME.EXT the worker writes OUTPUT_DIR/NAME.EXT: NAME becomes the job\n"
    "                        id, EXT (mp4, webm, gif) the format; a file name, no path\n"
    "      --format FMT      mp4 (default), webm or gif\n"
    "      --id ID           the job id (default: generated); 1-63 of A-Z a-z 0-9 _ -\n"
    "      --retries N       re-runs after the script's own failure (0)\n"
    "  job options, as for run:\n"
    "      --runtime NAME    interpreter from the runtime table (default: by extension)\n"
    "      --size WxH        frame size (1280x720)\n"
    "      --fps N           frames per second (30)\n"
    "      --frames N        frame count ceiling (fps*5), or --duration SEC\n"
    "      --pix-fmt NAME    raw stream format: rgb24 rgba bgr24 gray yuv420p\n"
    "      --crf N, --preset NAME   encoder quality and speed, as in ffmpeg\n"
    "      --timeout SEC --memory MB --pids N --scratch MB --cpus F   sandbox limits\n"
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
	    (strcmp(dot, ".mp4") && strcmp(dot, ".webm") && strcmp(dot, ".gif")))
		return cli_usage_error(
		    "submit", "output '%s' has an unknown extension; use .mp4, .webm or .gif",
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

int cmd_submit(int argc, char **argv)
{
	enum { O_FORMAT = OPT_CLI_LAST + 1, O_ID };
	struct option opts[40];
	struct config cfg;
	struct job job;
	struct cli_job_args ja = {0};
	const char *redis = NULL, *format = NULL, *id = NULL, *output = NULL, *progress = NULL;
	char idbuf[JOB_ID_MAX];
	int wait = 0, json = 0, c, rc;
	size_t n = cli_n_job_options;

	memcpy(opts, cli_job_options, n * sizeof(struct option));
	opts[n++] = (struct option){"redis", required_argument, NULL, OPT_REDIS};
	opts[n++] = (struct option){"wait", no_argument, NULL, OPT_WAIT};
	opts[n++] = (struct option){"json", no_argument, NULL, OPT_JSON};
	opts[n++] = (struct option){"retries", required_argument, NULL, OPT_RETRIES};
	opts[n++] = (struct option){"format", required_argument, NULL, O_FORMAT};
	opts[n++] = (struct option){"output", required_argument, NULL, 'o'};
	opts[n++] = (struct option){"id", required_argument, NULL, O_ID};
	opts[n++] = (struct option){"progress", required_argument, NULL, OPT_PROGRESS};
	opts[n++] = (struct option){"help", no_argument, NULL, 'h'};
	opts[n] = (struct option){0};

	job_init(&job);
	optind = 1;
	/* Options may follow SCRIPT (the contract shows `SCRIPT [--wait] [--json]`). */
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		char *end;
		switch (c) {
		case OPT_REDIS:
			redis = optarg;
			break;
		case OPT_WAIT:
			wait = 1;
			break;
		case OPT_JSON:
			json = 1;
			break;
		case O_FORMAT:
			format = optarg;
			break;
		case O_ID:
			id = optarg;
			break;
		case 'o':
			output = optarg;
			break;
		case OPT_PROGRESS:
			progress = optarg;
			break;
		case OPT_RETRIES: {
			long v = strtol(optarg, &end, 10);
			if (*end || v < 0 || v > 1000) {
				job_free(&job);
				return cli_usage_error("submit", "--retries '%s' is not 0..1000",
						       optarg);
			}
			job.retries = (int)v;
			break;
		}
		case 'h':
			fputs(submit_usage, stdout);
			job_free(&job);
			return 0;
		case '?':
			fputs(submit_usage, stderr);
			job_free(&job);
			return EXIT_USAGE;
		default:
			if ((rc = cli_job_option("submit", c, optarg, &job, &ja)) != 0) {
				job_free(&job);
				return rc;
			}
		}
	}
	if (optind != argc - 1) {
		job_free(&job);
		return cli_usage_error("submit",
				       "expected exactly one SCRIPT; see reelbox submit --help");
	}
	if (progress && !wait) {
		job_free(&job);
		return cli_usage_error("submit", "--progress follows a job: give --wait too");
	}
	if (output && (rc = output_as_id(output, &id, &format, idbuf, sizeof(idbuf))) != 0) {
		job_free(&job);
		return rc;
	}
	if ((rc = cli_load_config("submit", ja.config_path, &cfg)) != 0 ||
	    (rc = cli_load_script("submit", argv[optind], &cfg, &job)) != 0)
		goto out;
	if (format) {
		if (strlen(format) >= sizeof(job.format)) {
			rc = cli_usage_error("submit", "format '%s' is not mp4, webm or gif",
					     format);
			goto out;
		}
		snprintf(job.format, sizeof(job.format), "%s", format);
	}
	if (id) {
		char err[256];
		if (job_check_id(id, err, sizeof(err)) < 0) {
			rc = cli_usage_error("submit", "%s", err);
			goto out;
		}
		snprintf(job.id, sizeof(job.id), "%s", id);
	}
	/* Validate here too, so a producer hears of a bad job at once, not from the
	 * dead-letter stream. */
	if ((rc = cli_resolve_job("submit", &job, &ja, &cfg)) != 0)
		goto out;

	char *doc = job_to_json(&job);
	if (!doc) {
		rc = cli_usage_error(
		    "submit", "the script is not UTF-8 text; reelbox jobs carry text scripts");
		goto out;
	}
	struct queue *q;
	char newid[QUEUE_ID_MAX], err[QUEUE_ERR_MAX];
	if ((rc = open_queue("submit", redis_url(redis, &cfg), &cfg, &q)) != 0) {
		free(doc);
		goto out;
	}
	if ((rc = queue_submit(q, doc, newid, err, sizeof(err))) < 0) {
		char *st = NULL, why[QUEUE_ERR_MAX];
		json_t *o;

		free(doc);
		/* Which job holds the id, and when it is free again. */
		if (rc == -EEXIST && queue_status(q, newid, &st, why, sizeof(why)) == 0 &&
		    (o = json_loads(st, 0, NULL))) {
			cli_exists_sentence(err, sizeof(err), newid, o, cli_wall_ms(),
					    cfg.result_ttl_s);
			json_decref(o);
		}
		free(st);
		queue_close(q);
		rc = cli_usage_error("submit", "%s", err);
		goto out;
	}
	free(doc);
	if (wait) {
		/* The id first, so a user can cancel or follow the job from elsewhere: on
		 * stdout when it is its only line, else on stderr. */
		struct cli_progress prog;
		struct cli_follow_opts fo = {
		    .json = json, .progress = &prog, .redis_url = redis_url(redis, &cfg)};
		int stdout_taken = json || (progress && !strcmp(progress, "-"));

		if ((rc = cli_progress_open(&prog, "submit", progress, json, isatty(2), newid)) !=
		    0) {
			queue_close(q);
			goto out;
		}
		if (!stdout_taken) {
			printf("%s\n", newid);
			fo.id_printed = 1;
		} else {
			fprintf(stderr, "reelbox: submitted job %s\n", newid);
		}
		fflush(stdout);
		rc = cli_follow_job(q, newid, &fo);
	} else {
		/* With --json stdout is exactly one JSON document; else the id is the last
		 * line. */
		if (json)
			printf("{\"id\":\"%s\",\"state\":\"queued\"}\n", newid);
		else
			printf("%s\n", newid);
		rc = 0;
	}
	queue_close(q);
out:
	job_free(&job);
	return rc;
}

/* How long `cancel` waits for a running job's worker to confirm the stop. */
#define CANCEL_CONFIRM_MS 5000

static int parse_id_cmd(const char *cmd, int argc, char **argv, const char **redis, const char **id,
			int *json, struct config *cfg)
{
	static const struct option opts[] = {
	    {"redis", required_argument, NULL, OPT_REDIS},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"config", required_argument, NULL, OPT_CONFIG},
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
			*json = 1;
			break;
		case OPT_CONFIG:
			config = optarg;
			break;
		case 'h':
			printf("usage: reelbox %s [--redis URL] [--json] JOB_ID\n", cmd);
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
	if ((rc = open_queue("status", redis_url(redis, &cfg), &cfg, &q)) != 0)
		return rc;
	rc = queue_status(q, id, &status, err, sizeof(err));
	queue_close(q);
	if (rc < 0)
		return cli_usage_error("status", "%s", err);
	if (json) {
		printf("%s\n", status);
	} else {
		json_t *o = json_loads(status, 0, NULL);
		cli_print_status_text(stdout, o, cli_wall_ms());
		json_decref(o);
	}
	free(status);
	return 0;
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
int cmd_cancel(int argc, char **argv)
{
	const char *redis = NULL, *id = NULL;
	struct queue_cancel_info info;
	struct config cfg;
	struct queue *q;
	char err[QUEUE_ERR_MAX], detail[300] = "";
	int json = 0, rc, stopped = 0, exit_rc = 0;

	rc = parse_id_cmd("cancel", argc, argv, &redis, &id, &json, &cfg);
	if (rc)
		return rc < 0 ? 0 : rc;
	if ((rc = open_queue("cancel", redis_url(redis, &cfg), &cfg, &q)) != 0)
		return rc;
	rc = queue_cancel(q, id, &info, err, sizeof(err));
	if (rc < 0) {
		queue_close(q);
		return cli_usage_error("cancel", "%s", err);
	}
	if (rc == 1 && !strcmp(info.state, "cancelled")) {
		snprintf(detail, sizeof(detail), "cancelled (it was cancelled before)");
	} else if (rc == 1) {
		snprintf(detail, sizeof(detail), "too late: it already %s", info.state);
		exit_rc = EXIT_JOB_FAILED;
	} else if (!strcmp(info.was, "running")) {
		/* A worker that stopped heart-beating a lease ago will not answer soon. */
		int alive = info.heartbeat_age_ms < (long long)cfg.lease_s * 1000;
		stopped = alive && wait_stopped(q, id, CANCEL_CONFIRM_MS);
		if (stopped)
			snprintf(detail, sizeof(detail), "cancelled (worker %.120s stopped it)",
				 info.worker);
		else
			snprintf(
			    detail, sizeof(detail),
			    "cancelled; worker %.120s has not confirmed that it stopped the job "
			    "(%s)",
			    info.worker,
			    alive ? "it stops it as soon as it hears"
				  : "it stopped heart-beating; it stops the job if it comes back");
	} else {
		snprintf(detail, sizeof(detail), "cancelled");
	}
	queue_close(q);
	if (json) {
		json_t *o =
		    json_pack("{s:s, s:s, s:s, s:s}", "id", id, "state", info.state, "cancel",
			      exit_rc ? "too late" : "cancelled", "detail", detail);
		if (o && info.was[0])
			json_object_set_new(o, "was", json_string(info.was));
		if (o && !strcmp(info.was, "running"))
			json_object_set_new(o, "stopped", json_boolean(stopped));
		char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
		printf("%s\n", text ? text : "{}");
		free(text);
		json_decref(o);
	} else {
		printf("%s: %s\n", id, detail);
	}
	return exit_rc;
}
