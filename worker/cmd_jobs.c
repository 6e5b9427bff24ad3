/* cmd_jobs.c - `reelbox list`, `retry`, `delete` and `fetch`: the jobs of a queue at a
 * glance, a failed one sent again, a finished one removed, its video copied here.
 *
 * A render farm is a black box until its jobs can be seen: list reads the queue's index
 * of recent jobs (queue_list(), docs/queue.md) and prints one line a job, newest first:
 * id, state, age, attempts, progress, worker and error. --json prints the queue's array
 * as it is, for scripts and the dashboard.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "lazylib.h"
#include "queue.h"
#include "utf8.h"

/* How many jobs list shows when not told. */
#define LIST_DEFAULT 20

enum { OPT_STATE = OPT_CLI_LAST + 40, OPT_LIMIT };

struct list_args {
	const char *redis, *state, *config;
	unsigned limit;
	int json;
};

static const char list_usage[] =
    "usage: reelbox list [--redis URL] [--state S] [--limit N] [--json]\n"
    "  The most recent jobs, newest first: id, state, age, attempts, progress, worker and\n"
    "  error (finished jobs stay listed until their result expires).\n"
    "      --redis URL   the queue (default $REELBOX_REDIS_URL, else redis://127.0.0.1:6379)\n"
    "      --state S     only jobs in state S: queued, running, succeeded, failed,\n"
    "                    cancelled or dead\n"
    "      --limit N     at most N jobs, 1 to 1000 (20)\n"
    "      --json        one JSON array of job objects (id, state, attempts, ...)\n"
    "      --config FILE operator configuration (JSON)\n";

static int list_parse(int argc, char **argv, struct list_args *a)
{
	static const struct option opts[] = {
	    {"redis", required_argument, NULL, OPT_REDIS},
	    {"state", required_argument, NULL, OPT_STATE},
	    {"limit", required_argument, NULL, OPT_LIMIT},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"config", required_argument, NULL, OPT_CONFIG},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	char *end;
	unsigned long n;
	int c;

	a->limit = LIST_DEFAULT;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_REDIS:
			a->redis = optarg;
			break;
		case OPT_STATE:
			a->state = optarg;
			break;
		case OPT_LIMIT:
			errno = 0;
			n = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-' || n < 1 ||
			    n > QUEUE_LIST_MAX)
				return cli_usage_error("list",
						       "--limit takes a number of jobs from "
						       "1 to %d, not '%.32s'",
						       QUEUE_LIST_MAX, optarg);
			a->limit = (unsigned)n;
			break;
		case OPT_JSON:
			a->json = 1;
			break;
		case OPT_CONFIG:
			a->config = optarg;
			break;
		case 'h':
			fputs(list_usage, stdout);
			return -1;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind != argc)
		return cli_usage_error("list", "takes no arguments, only options (see --help)");
	return 0;
}

/* A duration as a person reads it at a glance: 42s, 7m, 3h, 2d. */
static void fmt_age(char *buf, size_t len, long long ms)
{
	long long s = ms < 0 ? 0 : ms / 1000;

	if (s < 120)
		snprintf(buf, len, "%llds", s);
	else if (s < 7200)
		snprintf(buf, len, "%lldm", s / 60);
	else if (s < 172800)
		snprintf(buf, len, "%lldh", s / 3600);
	else
		snprintf(buf, len, "%lldd", s / 86400);
}

/* The first line of s, cut to at most max bytes between characters. */
static void one_line(char *buf, size_t len, const char *raw, size_t max)
{
	/* A value from Redis is anyone's: no escape sequence reaches the terminal. */
	char s[3 * QUEUE_LIST_VALUE_MAX + 4];
	size_t n = strcspn(raw, "\r\n");

	if (n > QUEUE_LIST_VALUE_MAX)
		n = QUEUE_LIST_VALUE_MAX;
	n = utf8_sanitize_term(s, sizeof(s), raw, n);
	s[n] = '\0';

	if (n > max)
		n = max;
	if (n >= len)
		n = len - 1;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (s[n] && s[n] != '\r' && s[n] != '\n' && n >= 3)
		memcpy(buf + n - 3, "...", 4);
}

static void list_print_row(json_t *o)
{
	json_t *p = json_object_get(o, "progress");
	long long frames = json_integer_value(json_object_get(p, "frames"));
	long long total = json_integer_value(json_object_get(p, "total"));
	const char *worker = json_string_value(json_object_get(o, "worker"));
	const char *error = json_string_value(json_object_get(o, "error"));
	char age[16], attempts[24], progress[32] = "-", w[40], e[100];

	fmt_age(age, sizeof(age), json_integer_value(json_object_get(o, "age_ms")));
	snprintf(attempts, sizeof(attempts), "%lld/%lld",
		 (long long)json_integer_value(json_object_get(o, "attempts")),
		 (long long)json_integer_value(json_object_get(o, "max_attempts")));
	if (total > 0)
		snprintf(progress, sizeof(progress), "%lld%%",
			 frames >= total ? 100 : frames * 100 / total);
	one_line(w, sizeof(w), worker ? worker : "-", 30);
	one_line(e, sizeof(e), error ? error : "", 80);
	printf("%-24s %-9s %5s %8s %8s  %-30s %s\n", json_string_value(json_object_get(o, "id")),
	       json_string_value(json_object_get(o, "state")), age, attempts, progress, w, e);
}

/* `reelbox list`: 0, or EXIT_USAGE with one sentence (a bad option, Redis away). */
int cmd_list(int argc, char **argv)
{
	struct list_args a = {0};
	struct config cfg;
	struct queue *q;
	char *out = NULL, err[QUEUE_ERR_MAX];
	json_t *arr;
	int rc;

	if ((rc = list_parse(argc, argv, &a)) != 0)
		return rc < 0 ? 0 : rc;
	if ((rc = cli_load_config("list", a.config, &cfg)) != 0 ||
	    (rc = cli_open_queue("list", cli_redis_url(a.redis, &cfg), &cfg, &q)) != 0)
		return rc;
	rc = queue_list(q, a.state, a.limit, &out, err, sizeof(err));
	queue_close(q);
	if (rc < 0)
		return cli_usage_error("list", "%s", err);
	if (a.json) {
		printf("%s\n", out);
		free(out);
		return 0;
	}
	arr = json_loads(out, 0, NULL);
	free(out);
	if (json_array_size(arr) == 0) {
		printf("no jobs%s%s (finished jobs are listed until their result expires)\n",
		       a.state ? " in state " : "", a.state ? a.state : "");
	} else {
		printf("%-24s %-9s %5s %8s %8s  %-30s %s\n", "ID", "STATE", "AGE", "ATTEMPTS",
		       "PROGRESS", "WORKER", "ERROR");
		for (size_t i = 0; i < json_array_size(arr); i++)
			list_print_row(json_array_get(arr, i));
	}
	json_decref(arr);
	return 0;
}

struct id_args {
	const char *redis, *config, *id, *out;
};

/* The options of the commands that name one job: --redis, --config, and for fetch -o. */
static int id_parse(const char *cmd, const char *usage, int argc, char **argv, struct id_args *a)
{
	static const struct option opts[] = {
	    {"redis", required_argument, NULL, OPT_REDIS},
	    {"config", required_argument, NULL, OPT_CONFIG},
	    {"output", required_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
		switch (c) {
		case OPT_REDIS:
			a->redis = optarg;
			break;
		case OPT_CONFIG:
			a->config = optarg;
			break;
		case 'o':
			if (strcmp(cmd, "fetch"))
				return cli_usage_error(cmd, "-o is an option of fetch");
			a->out = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return -1;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1)
		return cli_usage_error(cmd, "expected exactly one JOB_ID");
	a->id = argv[optind];
	if (!queue_id_valid(a->id))
		return cli_usage_error(cmd,
				       "'%.64s' is not a job id (1-63 characters of "
				       "[A-Za-z0-9_-])",
				       a->id);
	return 0;
}

static const char retry_usage[] =
    "usage: reelbox retry [--redis URL] [--config FILE] JOB_ID\n"
    "  Puts a failed or dead job back in the queue under the same id, its attempts\n"
    "  starting again from 0. Exit 1, with the reason, for a job in another state.\n";

/* `reelbox retry ID`: 0 requeued, EXIT_JOB_FAILED refused in its state, EXIT_USAGE an
 * unknown job, a bad id or Redis away. */
int cmd_retry(int argc, char **argv)
{
	struct id_args a = {0};
	struct config cfg;
	struct queue *q;
	char err[QUEUE_ERR_MAX];
	int rc;

	if ((rc = id_parse("retry", retry_usage, argc, argv, &a)) != 0)
		return rc < 0 ? 0 : rc;
	if ((rc = cli_load_config("retry", a.config, &cfg)) != 0 ||
	    (rc = cli_open_queue("retry", cli_redis_url(a.redis, &cfg), &cfg, &q)) != 0)
		return rc;
	rc = queue_requeue(q, a.id, err, sizeof(err));
	queue_close(q);
	if (rc == -EBUSY || rc == -ENODATA) {
		fprintf(stderr, "reelbox retry: %s\n", err);
		return EXIT_JOB_FAILED;
	}
	if (rc < 0)
		return cli_usage_error("retry", "%s", err);
	printf("%s: back in the queue, attempts starting again from 0\n", a.id);
	return 0;
}

static const char delete_usage[] =
    "usage: reelbox delete [--redis URL] [--config FILE] JOB_ID\n"
    "  Removes a finished job's state, events and list entry from the queue (its video\n"
    "  stays where the worker wrote it). A queued or running job is refused: cancel it\n"
    "  first.\n";

/* `reelbox delete ID`: 0 deleted, EXIT_JOB_FAILED a live job (cancel it first),
 * EXIT_USAGE an unknown job, a bad id or Redis away. */
int cmd_delete(int argc, char **argv)
{
	struct id_args a = {0};
	struct config cfg;
	struct queue *q;
	char err[QUEUE_ERR_MAX], state[16];
	int rc;

	if ((rc = id_parse("delete", delete_usage, argc, argv, &a)) != 0)
		return rc < 0 ? 0 : rc;
	if ((rc = cli_load_config("delete", a.config, &cfg)) != 0 ||
	    (rc = cli_open_queue("delete", cli_redis_url(a.redis, &cfg), &cfg, &q)) != 0)
		return rc;
	rc = queue_delete(q, a.id, state, err, sizeof(err));
	queue_close(q);
	if (rc == -EBUSY) {
		fprintf(stderr, "reelbox delete: %s\n", err);
		return EXIT_JOB_FAILED;
	}
	if (rc < 0)
		return cli_usage_error("delete", "%s", err);
	printf("%s: deleted (it was %s)\n", a.id, state);
	return 0;
}

static const char fetch_usage[] =
    "usage: reelbox fetch [--redis URL] [--config FILE] [-o FILE] JOB_ID\n"
    "  Copies a succeeded job's video here when this machine can read the worker's output\n"
    "  dir (a shared one), checking it against the sha256 the job recorded; otherwise says\n"
    "  where the video is.\n"
    "  -o, --output FILE   where to write it (default: the video's name, ID.EXT, here)\n";

/* Copy src to a temporary file beside dst while hashing it; rename it to dst only when
 * the digest is want. Returns 0, EXIT_JOB_FAILED on a mismatch (nothing written), or
 * EXIT_USAGE, with the sentence printed. */
static int copy_checked(int src, const char *path, const char *dst, const char *want,
			const char *id)
{
	char tmp[PATH_MAX], hex[65] = "", buf[65536];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx;
	ssize_t n = 0;
	int out, rc = 0;

	/* libcrypto is loaded on first use (lazy/lazylib.c): a missing one is said here. */
	if (rb_lib_load(RB_LIB_CRYPTO, tmp, sizeof(tmp)) < 0)
		return cli_usage_error("fetch", "%s", tmp);
	ctx = EVP_MD_CTX_new();
	if (snprintf(tmp, sizeof(tmp), "%s.part-XXXXXX", dst) >= (int)sizeof(tmp) || !ctx) {
		EVP_MD_CTX_free(ctx);
		return cli_usage_error("fetch", "the output name %.200s is too long", dst);
	}
	if ((out = mkstemp(tmp)) < 0) {
		EVP_MD_CTX_free(ctx);
		return cli_usage_error("fetch", "cannot create %.200s: %s", tmp, strerror(errno));
	}
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	while ((n = read(src, buf, sizeof(buf))) > 0) {
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		if (write(out, buf, (size_t)n) != n) {
			n = -1;
			break;
		}
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	for (unsigned int i = 0; i < mdlen && i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	if (n < 0 || fsync(out) < 0) {
		rc = cli_usage_error("fetch", "copying %.200s to %.200s failed: %s", path, tmp,
				     strerror(errno));
	} else if (strcmp(hex, want)) {
		/* A file changed or replaced after the job ended is not the job's video. */
		fprintf(stderr,
			"reelbox fetch: %s does not match the sha256 recorded for job %s (it was "
			"changed or replaced after the job ended); nothing was written\n",
			path, id);
		rc = EXIT_JOB_FAILED;
	} else if (rename(tmp, dst) < 0) {
		rc = cli_usage_error("fetch", "cannot write %.200s: %s", dst, strerror(errno));
	}
	close(out);
	if (rc)
		unlink(tmp);
	return rc;
}

/* ID.EXT, EXT the recorded file's extension when it is a short alphanumeric one. */
static void default_name(char *buf, size_t len, const char *id, const char *path)
{
	const char *base = strrchr(path, '/'), *dot;

	base = base ? base + 1 : path;
	dot = strrchr(base, '.');
	if (dot && strlen(dot + 1) >= 1 && strlen(dot + 1) <= 8 &&
	    strspn(dot + 1, "abcdefghijklmnopqrstuvwxyz0123456789") == strlen(dot + 1))
		snprintf(buf, len, "%s%s", id, dot);
	else
		snprintf(buf, len, "%s", id);
}

/* The video of job a->id, as its status st recorded it, copied to -o or ./<name>. */
static int fetch_copy(const struct id_args *a, json_t *st)
{
	const char *path = json_string_value(json_object_get(st, "output"));
	const char *sha = json_string_value(json_object_get(st, "sha256"));
	const char *worker = json_string_value(json_object_get(st, "worker"));
	char name[PATH_MAX];
	struct stat sb;
	int src, rc;

	if (!path || !sha || strlen(sha) != 64) {
		fprintf(stderr, "reelbox fetch: job %s recorded no video with a sha256\n", a->id);
		return EXIT_JOB_FAILED;
	}
	/* O_NOFOLLOW: the recorded output is the file itself, never a link someone put in
	 * its place to make fetch copy another file. */
	src = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (src < 0 && errno == ELOOP) {
		fprintf(stderr,
			"reelbox fetch: %s, the video job %s recorded, is now a symbolic link, not "
			"the file the worker wrote; nothing was copied\n",
			path, a->id);
		return EXIT_JOB_FAILED;
	}
	if (src < 0 || fstat(src, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		fprintf(stderr,
			"reelbox fetch: the video of job %s is on worker %s at %s; this machine "
			"cannot read it (%s): run fetch where that output dir is, or share it\n",
			a->id, worker ? worker : "?", path,
			src < 0 ? strerror(errno) : "not a file");
		if (src >= 0)
			close(src);
		return EXIT_JOB_FAILED;
	}
	default_name(name, sizeof(name), a->id, path);
	rc = copy_checked(src, path, a->out ? a->out : name, sha, a->id);
	close(src);
	if (rc == 0)
		printf("%s: %s (%lld bytes, sha256 %s)\n", a->id, a->out ? a->out : name,
		       (long long)sb.st_size, sha);
	return rc;
}

/* `reelbox fetch ID [-o FILE]`: 0 copied and verified, EXIT_JOB_FAILED no video here
 * (not succeeded, elsewhere, tampered with), EXIT_USAGE unknown job, bad id, Redis away. */
int cmd_fetch(int argc, char **argv)
{
	struct id_args a = {0};
	struct config cfg;
	struct queue *q;
	char err[QUEUE_ERR_MAX], *status = NULL;
	const char *state;
	json_t *st;
	int rc;

	if ((rc = id_parse("fetch", fetch_usage, argc, argv, &a)) != 0)
		return rc < 0 ? 0 : rc;
	if ((rc = cli_load_config("fetch", a.config, &cfg)) != 0 ||
	    (rc = cli_open_queue("fetch", cli_redis_url(a.redis, &cfg), &cfg, &q)) != 0)
		return rc;
	rc = queue_status(q, a.id, &status, err, sizeof(err));
	queue_close(q);
	if (rc < 0)
		return cli_usage_error("fetch", "%s", err);
	st = json_loads(status, 0, NULL);
	free(status);
	state = json_string_value(json_object_get(st, "state"));
	if (!state || strcmp(state, "succeeded")) {
		fprintf(stderr, "reelbox fetch: job %s is %s: only a succeeded job has a video\n",
			a.id, state ? state : "in no known state");
		rc = EXIT_JOB_FAILED;
	} else {
		rc = fetch_copy(&a, st);
	}
	json_decref(st);
	return rc;
}
