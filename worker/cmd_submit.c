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

static void draw_bar(int64_t done, int64_t total)
{
	int width = 30, fill = total > 0 ? (int)(width * done / total) : 0;

	if (fill > width)
		fill = width;
	fprintf(stderr, "\r\033[K[%.*s%*s] %lld/%lld frames", fill,
		"##############################", width - fill, "", (long long)done,
		(long long)total);
}

/* Follow a job's events until it is done; then print its status like `run` does. */
static int wait_for(struct queue *q, const char *id, int json)
{
	char cursor[QUEUE_ENTRY_MAX] = "0", err[QUEUE_ERR_MAX];
	int tty = isatty(2), bar = 0, rc;
	char *status = NULL;

	for (;;) {
		char *ev = NULL;
		rc = queue_wait_event(q, id, cursor, 2000, &ev, err, sizeof(err));
		if (rc == -ETIMEDOUT) {
			/* Events are capped; the job's own state is the truth. */
			if (queue_status(q, id, &status, err, sizeof(err)) == 0) {
				json_t *st = json_loads(status, 0, NULL);
				const char *s =
				    st ? json_string_value(json_object_get(st, "state")) : NULL;
				int over = s && (!strcmp(s, "succeeded") || !strcmp(s, "failed") ||
						 !strcmp(s, "dead"));
				json_decref(st);
				if (over)
					break;
				free(status);
				status = NULL;
			}
			continue;
		}
		if (rc < 0) {
			if (bar)
				fputs("\n", stderr);
			fprintf(stderr, "reelbox submit: lost the job's events: %s\n", err);
			return EXIT_USAGE;
		}
		json_t *e = json_loads(ev, 0, NULL);
		free(ev);
		const char *type = e ? json_string_value(json_object_get(e, "type")) : NULL;
		if (type && !strcmp(type, "progress") && tty) {
			draw_bar(json_integer_value(json_object_get(e, "frames")),
				 json_integer_value(json_object_get(e, "total")));
			bar = 1;
		}
		int over = type && (!strcmp(type, "done") || !strcmp(type, "dead"));
		json_decref(e);
		if (over)
			break;
	}
	if (bar)
		fputs("\r\033[K", stderr);
	if (!status && queue_status(q, id, &status, err, sizeof(err)) < 0) {
		fprintf(stderr, "reelbox submit: %s\n", err);
		return EXIT_USAGE;
	}
	json_t *st = json_loads(status, 0, NULL);
	const char *state = st ? json_string_value(json_object_get(st, "state")) : NULL;
	int ok = state && !strcmp(state, "succeeded");
	if (json) {
		printf("%s\n", status);
	} else if (ok) {
		fprintf(stderr, "reelbox: job %s succeeded: %s\n", id,
			json_string_value(json_object_get(st, "output")) ?: "");
	} else {
		fprintf(stderr, "reelbox: job %s %s: %s\n", id, state ? state : "ended",
			json_string_value(json_object_get(st, "error")) ?: "");
	}
	json_decref(st);
	free(status);
	return ok ? 0 : EXIT_JOB_FAILED;
}

static const char submit_usage[] =
    "usage: reelbox submit [--redis URL] [run's job options] [--format mp4|webm|gif]\n"
    "                      [--retries N] [--id ID] SCRIPT [--wait] [--json]\n";

int cmd_submit(int argc, char **argv)
{
	enum { O_FORMAT = OPT_CLI_LAST + 1, O_ID };
	struct option opts[40];
	struct config cfg;
	struct job job;
	struct cli_job_args ja = {0};
	const char *redis = NULL, *format = NULL, *id = NULL;
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
		case 'o': {
			const char *dot = strrchr(optarg, '.');
			format = dot ? dot + 1 : optarg;
			break;
		}
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
	if (queue_submit(q, doc, newid, err, sizeof(err)) < 0) {
		free(doc);
		queue_close(q);
		rc = cli_usage_error("submit", "%s", err);
		goto out;
	}
	free(doc);
	if (wait) {
		fflush(stdout);
		rc = wait_for(q, newid, json);
	} else {
		if (json)
			printf("{\"id\":\"%s\",\"state\":\"queued\"}\n", newid);
		rc = 0;
	}
	printf("%s\n", newid);
	queue_close(q);
out:
	job_free(&job);
	return rc;
}

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
		const char *key;
		json_t *v;
		json_object_foreach(o, key, v)
		{
			if (json_is_string(v))
				printf("%-10s %s\n", key, json_string_value(v));
			else if (!json_is_null(v)) {
				char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
				printf("%-10s %s\n", key, t ? t : "");
				free(t);
			}
		}
		json_decref(o);
	}
	free(status);
	return 0;
}

int cmd_cancel(int argc, char **argv)
{
	const char *redis = NULL, *id = NULL;
	struct config cfg;
	struct queue *q;
	char state[16] = "", err[QUEUE_ERR_MAX];
	int json = 0, rc;

	rc = parse_id_cmd("cancel", argc, argv, &redis, &id, &json, &cfg);
	if (rc)
		return rc < 0 ? 0 : rc;
	if ((rc = open_queue("cancel", redis_url(redis, &cfg), &cfg, &q)) != 0)
		return rc;
	rc = queue_cancel(q, id, state, err, sizeof(err));
	queue_close(q);
	if (rc < 0)
		return cli_usage_error("cancel", "%s", err);
	if (json)
		printf("{\"id\":\"%s\",\"cancel\":\"%s\"}\n", id, state);
	else
		printf("%s: %s\n", id, state);
	return 0;
}
