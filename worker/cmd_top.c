/* cmd_top.c - `reelbox top`: the queue at a glance, refreshed in place.
 *
 * Each frame is one queue_stats() (jobs per state, the backlog, throughput and the
 * worker registry, all from one instant on Redis's clock) and one queue_list() of the
 * running jobs for their progress bars. On a terminal the frame is redrawn every
 * --interval seconds until Ctrl-C or SIGTERM, which restore the cursor and exit 0;
 * into a pipe, or with --once, one frame is printed and top exits; --json prints the
 * stats with the running jobs as one document, for scripts.
 *
 * Everything shown comes from Redis, which anyone with access to it can write: every
 * string goes through utf8_sanitize_term() before it reaches the terminal, and is cut
 * to its column. The Redis URL is never shown: it may carry a password.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "queue.h"
#include "utf8.h"

#define TOP_BAR	     12	 /* cells of a progress bar */
#define TOP_RUNNING  200 /* running jobs one frame asks for */
#define EXIT_TOP_ERR 1	 /* Redis could not be read (--once, --json, a pipe) */

enum { OPT_INTERVAL = OPT_CLI_LAST + 60, OPT_ONCE };

struct top_args {
	const char *redis, *config;
	double interval;
	int once, json;
};

static volatile sig_atomic_t g_stop;

static const char top_usage[] =
    "usage: reelbox top [--redis URL] [--interval SEC] [--once] [--json]\n"
    "  The queue at a glance: jobs per state, the backlog, throughput over the last\n"
    "  minute, the workers and their heartbeats, and the running jobs with progress.\n"
    "  Redrawn in place on a terminal until Ctrl-C; one frame into a pipe.\n"
    "      --redis URL      the queue (default $REELBOX_REDIS_URL, else "
    "redis://127.0.0.1:6379)\n"
    "      --interval SEC   seconds between frames, 0.1 to 3600 (1)\n"
    "      --once           print one frame and exit\n"
    "      --json           one JSON document: the queue's stats and the running jobs\n"
    "      --config FILE    operator configuration (JSON)\n";

static int top_parse(int argc, char **argv, struct top_args *a)
{
	static const struct option opts[] = {
	    {"redis", required_argument, NULL, OPT_REDIS},
	    {"interval", required_argument, NULL, OPT_INTERVAL},
	    {"once", no_argument, NULL, OPT_ONCE},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"config", required_argument, NULL, OPT_CONFIG},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	char *end;
	int c;

	a->interval = 1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_REDIS:
			a->redis = optarg;
			break;
		case OPT_INTERVAL:
			errno = 0;
			a->interval = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(a->interval >= 0.1) ||
			    a->interval > 3600)
				return cli_usage_error("top",
						       "--interval takes seconds from 0.1 to 3600, "
						       "not '%.32s'",
						       optarg);
			break;
		case OPT_ONCE:
			a->once = 1;
			break;
		case OPT_JSON:
			a->json = 1;
			break;
		case OPT_CONFIG:
			a->config = optarg;
			break;
		case 'h':
			fputs(top_usage, stdout);
			return -1;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind != argc)
		return cli_usage_error("top", "takes no arguments, only options (see --help)");
	return 0;
}

/* ---- formatting ---- */

/* A string from Redis made safe for the terminal and cut to at most max bytes between
 * characters. */
static void term_str(char *buf, size_t len, const char *s, size_t max)
{
	size_t n;

	if (!s)
		s = "-";
	utf8_sanitize_term(buf, len, s, strlen(s));
	n = strlen(buf);
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)buf[n] & 0xC0) == 0x80)
			n--;
		buf[n] = '\0';
	}
}

/* A duration at a glance: 850ms, 42s, 7m, 3h, 2d. */
static void fmt_age(char *buf, size_t len, long long ms)
{
	long long s = ms < 0 ? 0 : ms / 1000;

	if (ms >= 0 && ms < 1000)
		snprintf(buf, len, "%lldms", ms);
	else if (s < 120)
		snprintf(buf, len, "%llds", s);
	else if (s < 7200)
		snprintf(buf, len, "%lldm", s / 60);
	else if (s < 172800)
		snprintf(buf, len, "%lldh", s / 3600);
	else
		snprintf(buf, len, "%lldd", s / 86400);
}

static long long jint(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);

	return json_integer_value(b ? json_object_get(v, b) : v);
}

/* "[#######.............]  35%" for frames of total; blanks when total is unknown. */
static void fmt_bar(char *buf, size_t len, long long frames, long long total)
{
	char bar[TOP_BAR + 1];
	long long cells;

	if (total <= 0) {
		snprintf(buf, len, "%-*s", TOP_BAR + 7, "[unknown total]");
		return;
	}
	if (frames < 0)
		frames = 0;
	if (frames > total)
		frames = total;
	cells = frames * TOP_BAR / total;
	for (int i = 0; i < TOP_BAR; i++)
		bar[i] = i < cells ? '#' : '.';
	bar[TOP_BAR] = '\0';
	snprintf(buf, len, "[%s] %3lld%%", bar, frames * 100 / total);
}

static void print_jobs(FILE *f, json_t *st)
{
	static const char *const states[] = {"queued", "running",   "succeeded",
					     "failed", "cancelled", "dead"};
	json_t *fin = json_object_get(st, "finished_last_minute");
	json_t *oldest = json_object_get(st, "oldest_queued_age_ms");
	long long done = 0;
	char age[24] = "-";

	fputs("JOBS     ", f);
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		fputc(' ', f);
		fputs(states[i], f);
		fprintf(f, " %lld", jint(st, "states", states[i]));
	}
	fputc('\n', f);
	if (json_is_integer(oldest))
		fmt_age(age, sizeof(age), json_integer_value(oldest));
	fprintf(f, "BACKLOG   stream %lld  delayed %lld  oldest queued %s  (%lld recent jobs)\n",
		jint(st, "stream_length", NULL), jint(st, "delayed", NULL), age,
		jint(st, "scanned", NULL));
	for (size_t i = 2; i < sizeof(states) / sizeof(states[0]); i++)
		done += jint(fin, states[i], NULL);
	fprintf(f,
		"LAST MIN  %lld jobs/min (succeeded %lld, failed %lld, dead %lld, cancelled %lld)"
		"  %.1f frames/s\n",
		done, jint(fin, "succeeded", NULL), jint(fin, "failed", NULL),
		jint(fin, "dead", NULL), jint(fin, "cancelled", NULL),
		(double)jint(st, "frames_last_minute", NULL) / 60.0);
}

static void print_workers(FILE *f, json_t *st)
{
	json_t *ws = json_object_get(st, "workers"), *w;
	size_t i, alive = 0;

	json_array_foreach(ws, i, w) alive += json_is_true(json_object_get(w, "alive"));
	fprintf(f, "\nWORKERS   %zu alive of %zu", alive, json_array_size(ws));
	if (jint(st, "workers_malformed", NULL) > 0)
		fprintf(f, " (%lld malformed entries left out)",
			jint(st, "workers_malformed", NULL));
	fprintf(f, "\n");
	if (!json_array_size(ws))
		return;
	fprintf(f, "  %-28s %-16s %7s %9s\n", "NAME", "HOST", "RUNNING", "HEARTBEAT");
	json_array_foreach(ws, i, w)
	{
		char name[128], host[96], beat[24], run[24];
		json_t *slots = json_object_get(w, "slots");
		const char *mark = "";

		if (!json_is_true(json_object_get(w, "alive")))
			mark = "  NOT ALIVE";
		else if (json_is_true(json_object_get(w, "stopping")))
			mark = "  STOPPING";
		term_str(name, sizeof(name), json_string_value(json_object_get(w, "name")), 28);
		term_str(host, sizeof(host), json_string_value(json_object_get(w, "host")), 16);
		fmt_age(beat, sizeof(beat), jint(w, "heartbeat_age_ms", NULL));
		if (json_is_integer(slots))
			snprintf(run, sizeof(run), "%lld/%lld", jint(w, "running", NULL),
				 json_integer_value(slots));
		else
			snprintf(run, sizeof(run), "-");
		fprintf(f, "  %-28s %-16s %7s %9s%s\n", name, host, run, beat, mark);
	}
}

/* The running jobs, at most max lines of them (0: all). */
static void print_running(FILE *f, json_t *run, long long now, size_t max)
{
	json_t *o;
	size_t i;

	fprintf(f, "\nRUNNING   %zu%s\n", json_array_size(run),
		json_array_size(run) >= TOP_RUNNING ? " or more" : "");
	if (!json_array_size(run))
		return;
	fprintf(f, "  %-20s %-18s %-19s %11s %5s\n", "ID", "WORKER", "PROGRESS", "FRAMES", "AGE");
	json_array_foreach(run, i, o)
	{
		char id[96], worker[96], bar[64], frames[48], age[24] = "-";
		long long fr = jint(o, "progress", "frames"), total = jint(o, "progress", "total");
		json_t *started = json_object_get(o, "started");

		if (max && i >= max) {
			fprintf(f, "  ... and %zu more\n", json_array_size(run) - i);
			break;
		}
		term_str(id, sizeof(id), json_string_value(json_object_get(o, "id")), 20);
		term_str(worker, sizeof(worker), json_string_value(json_object_get(o, "worker")),
			 18);
		fmt_bar(bar, sizeof(bar), fr, total);
		snprintf(frames, sizeof(frames), "%lld/%lld", fr, total);
		if (json_is_integer(started))
			fmt_age(age, sizeof(age), now - json_integer_value(started));
		fprintf(f, "  %-20s %-18s %-19s %11s %5s\n", id, worker, bar, frames, age);
	}
}

/* ---- reading the queue ---- */

/* The stats and the running jobs; 0, or -errno with err set. */
static int top_read(struct queue *q, json_t **st, json_t **run, char *err, size_t errlen)
{
	char *s = NULL;
	int rc;

	*st = *run = NULL;
	if ((rc = queue_stats(q, &s, err, errlen)) < 0)
		return rc;
	*st = json_loads(s, 0, NULL);
	free(s);
	s = NULL;
	if ((rc = queue_list(q, "running", TOP_RUNNING, &s, err, errlen)) < 0)
		goto fail;
	*run = json_loads(s, 0, NULL);
	free(s);
	if (json_is_object(*st) && json_is_array(*run))
		return 0;
	snprintf(err, errlen, "unexpected answer from Redis");
	rc = -EIO;
fail:
	json_decref(*st);
	json_decref(*run);
	*st = *run = NULL;
	return rc;
}

/* Open the queue; 0, or -errno with err set (-EINVAL: the URL is malformed). */
static int top_open(const struct top_args *a, const struct config *cfg, struct queue **q, char *err,
		    size_t errlen)
{
	struct queue_opts qo;

	cli_queue_opts(&qo, cfg);
	return queue_open(q, cli_redis_url(a->redis, cfg), &qo, err, errlen);
}

/* How many running jobs fit on a screen of rows lines below the rest of the frame
 * (0: no limit); always a few. */
static size_t running_lines(json_t *st, int rows)
{
	long long used = 15 + (long long)json_array_size(json_object_get(st, "workers"));

	if (!rows)
		return 0;
	return rows - used > 3 ? (size_t)(rows - used) : 3;
}

/* One frame into f: the header line, then the stats and running jobs, or the error
 * that kept them from being read. rows (0: no limit) bounds the running jobs shown. */
static void top_frame(FILE *f, const struct top_args *a, json_t *st, json_t *run, const char *error,
		      int rows)
{
	time_t t = time(NULL);
	struct tm tm;
	char when[32] = "";

	if (gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	fprintf(f, "reelbox top  %s", when);
	if (!a->once && rows)
		fprintf(f, "  (every %gs, Ctrl-C to quit)", a->interval);
	fprintf(f, "\n\n");
	if (error) {
		char e[512];
		term_str(e, sizeof(e), error, 300);
		fprintf(f, "Redis unreachable: %s (retrying)\n", e);
		return;
	}
	print_jobs(f, st);
	print_workers(f, st);
	print_running(f, run, jint(st, "now", NULL), running_lines(st, rows));
}

/* --json, --once, or a pipe: one document or frame; exit 1 when Redis cannot be read. */
static int top_once(const struct top_args *a, const struct config *cfg)
{
	struct queue *q = NULL;
	char err[QUEUE_ERR_MAX] = "";
	json_t *st = NULL, *run = NULL;
	int rc;

	if ((rc = top_open(a, cfg, &q, err, sizeof(err))) < 0) {
		fprintf(stderr, "reelbox top: %s\n", err);
		return rc == -EINVAL ? EXIT_USAGE : EXIT_TOP_ERR;
	}
	rc = top_read(q, &st, &run, err, sizeof(err));
	queue_close(q);
	if (rc < 0) {
		fprintf(stderr, "reelbox top: %s\n", err);
		return EXIT_TOP_ERR;
	}
	if (a->json) {
		char *s;
		json_object_set(st, "running", run);
		s = json_dumps(st, JSON_COMPACT);
		if (s)
			printf("%s\n", s);
		free(s);
		rc = s ? 0 : EXIT_TOP_ERR;
	} else {
		top_frame(stdout, a, st, run, NULL, 0);
		rc = 0;
	}
	json_decref(st);
	json_decref(run);
	return fflush(stdout) == 0 ? rc : EXIT_TOP_ERR;
}

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static int term_rows(void)
{
	struct winsize w;

	return ioctl(STDOUT_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_row > 0 ? w.ws_row : 24;
}

/* Sleep s seconds, or until SIGINT or SIGTERM. */
static void top_sleep(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};

	while (!g_stop && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Draw one frame in place: home, clear, the frame written at once. A Redis that went
 * away is shown on the screen and tried again at the next frame. */
static void top_draw(const struct top_args *a, const struct config *cfg, struct queue **q)
{
	char err[QUEUE_ERR_MAX] = "", *buf = NULL;
	json_t *st = NULL, *run = NULL;
	size_t len = 0;
	FILE *f;
	int rc = 0;

	if (!*q)
		rc = top_open(a, cfg, q, err, sizeof(err));
	if (*q && (rc = top_read(*q, &st, &run, err, sizeof(err))) < 0) {
		queue_close(*q);
		*q = NULL;
	}
	if ((f = open_memstream(&buf, &len))) {
		top_frame(f, a, st, run, rc < 0 ? err : NULL, term_rows());
		if (fclose(f) == 0 && !g_stop) {
			fputs("\x1b[H\x1b[2J", stdout);
			fwrite(buf, 1, len, stdout);
			fflush(stdout);
		}
	}
	free(buf);
	json_decref(st);
	json_decref(run);
}

/* On a terminal: redraw every interval until SIGINT or SIGTERM, then show the cursor
 * again and exit 0. A malformed Redis URL is a usage error before anything is drawn. */
static int top_live(const struct top_args *a, const struct config *cfg)
{
	struct sigaction sa = {0};
	struct queue *q = NULL;
	char err[QUEUE_ERR_MAX] = "";

	if (top_open(a, cfg, &q, err, sizeof(err)) == -EINVAL) {
		fprintf(stderr, "reelbox top: %s\n", err);
		return EXIT_USAGE;
	}
	sa.sa_handler = on_signal; /* no SA_RESTART: the signal ends the sleep at once */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	fputs("\x1b[?25l", stdout);
	while (!g_stop) {
		top_draw(a, cfg, &q);
		top_sleep(a->interval);
	}
	fputs("\x1b[?25h\n", stdout);
	fflush(stdout);
	queue_close(q);
	return 0;
}

/* `reelbox top`: 0; 1 when Redis cannot be read for a single frame; 2 for a bad option. */
int cmd_top(int argc, char **argv)
{
	struct top_args a = {0};
	struct config cfg;
	int rc;

	if ((rc = top_parse(argc, argv, &a)) != 0)
		return rc < 0 ? 0 : rc;
	if ((rc = cli_load_config("top", a.config, &cfg)) != 0)
		return rc;
	if (a.once || a.json || !isatty(STDOUT_FILENO))
		return top_once(&a, &cfg);
	return top_live(&a, &cfg);
}
