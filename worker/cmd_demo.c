/* cmd_demo.c - `reelbox demo`: the talk on sandboxing AI-generated code, reproduced
 * live on this machine, and a page to show it with.
 *
 * The argument of the talk, in the order a room hears it: prompts become videos
 * through a queue and a worker (one needs the repair loop); answers that do what the
 * talk warns of (hallucinated rm -rf, the over-helpful model, direct and indirect prompt
 * injection, resource abuse, persistence) run as the same kind of job and are stopped;
 * the checklist is judged live by the posture probe; the timings are measured. Every
 * claim on the page is something this command measured from outside the sandboxes
 * (demo_host.c, demo_canary.c), never something it assumed.
 *
 * The default needs no network and no key: a private redis-server on a unix socket, a
 * worker child of this very binary, and a stand-in model in this process that replays
 * the recorded answers in examples/demo. Its key is a fresh canary
 * ("sk-reelbox-demo-" + random hex) that exists in the stand-in, in the worker's
 * environment at exec, and here to search for; after the jobs the demo searches every
 * Redis key, every result, every file of the output dir (the worker's log included) and
 * the page itself for it. With REELBOX_MODEL_URL set, the worker asks that model
 * instead, with the key the environment gives it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "demo.h"
#include "errf.h"
#include "posture.h"
#include "queue.h"
#include "sandbox.h"
#include "standin.h"

/* A file in the videos dir: the dir (PATH_MAX + 16), '/', a job id (< 64), an extension. */
#define DEMO_FILE_MAX (PATH_MAX + 16 + 64 + 16)

#define DEMO_MAX_JOBS	  64
#define DEMO_POLL_MS	  200
#define DEMO_DEFAULT_WAIT 600

extern char **environ;

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

struct demo {
	const char *out_opt, *redis_opt, *config_path;
	int wait_s;
	struct config cfg;
	char out[PATH_MAX], videos[PATH_MAX + 16], tmp[PATH_MAX], worker_log[PATH_MAX + 16];
	char url[PATH_MAX + 16];
	pid_t redis_pid, worker_pid, worker_was;
	struct standin *standin;
	uint16_t standin_port;
	char *key; /* the model key to search for: the canary, or the real one */
	char key_env[64];
	char **worker_env;
	struct queue *q;
	struct demo_canaries canaries;
	struct demo_job jobs[DEMO_MAX_JOBS];
	struct demo_report rep;
	struct demo_table table;
	uint64_t t0;
	int canaries_planted;
};

static const char demo_usage[] =
    "usage: reelbox demo [--out DIR] [--redis URL] [--wait SEC] [--config FILE]\n"
    "  Reproduces the talk on this machine: prompts become videos through a queue and a\n"
    "  worker, threat scenarios (hallucination, the over-helpful model, direct and\n"
    "  indirect prompt injection, resource abuse, persistence) are stopped by the\n"
    "  sandbox, the checklist is judged live, and DIR/report.html shows it all.\n"
    "      --out DIR      where the page, the videos and the worker's log go (demo-out)\n"
    "      --redis URL    use this Redis (default: a private redis-server, removed after)\n"
    "      --wait SEC     give the jobs at most this long (600)\n"
    "      --config FILE  operator configuration (JSON), also given to the worker\n"
    "  Without REELBOX_MODEL_URL the model is a local stand-in that replays the answers\n"
    "  recorded in examples/demo; with it (and REELBOX_MODEL_KEY) the worker asks that\n"
    "  model. Exit status 0 when every video rendered, every threat was contained and\n"
    "  every checklist point holds; 1 otherwise; 2 for a usage or setup error.\n";

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static int parse_args(int argc, char **argv, struct demo *d)
{
	static const struct option opts[] = {
	    {"out", required_argument, NULL, 'o'},  {"redis", required_argument, NULL, 'r'},
	    {"wait", required_argument, NULL, 'w'}, {"config", required_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},	    {0},
	};
	char *end;
	int c;

	d->out_opt = "demo-out";
	d->wait_s = DEMO_DEFAULT_WAIT;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			d->out_opt = optarg;
			break;
		case 'r':
			d->redis_opt = optarg;
			break;
		case 'c':
			d->config_path = optarg;
			break;
		case 'w':
			d->wait_s = (int)strtol(optarg, &end, 10);
			if (*end || d->wait_s < 1 || d->wait_s > 86400)
				return cli_usage_error(
				    "demo", "--wait '%s' is not 1..86400 seconds", optarg);
			break;
		case 'h':
			fputs(demo_usage, stdout);
			return -1;
		default:
			fputs(demo_usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc)
		return cli_usage_error("demo", "unexpected argument '%s'; see reelbox demo --help",
				       argv[optind]);
	if (!*d->out_opt)
		return cli_usage_error("demo", "--out needs a directory");
	return cli_load_config("demo", d->config_path, &d->cfg);
}

/* mkdir -p for the output dir, then its absolute path. */
static int make_out_dirs(struct demo *d, char *err, size_t errlen)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s", d->out_opt);
	for (char *s = strchr(p + 1, '/');; s = strchr(s + 1, '/')) {
		if (s)
			*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST) {
			worker_err(err, errlen, "cannot create %s: %s", p, strerror(errno));
			return -errno;
		}
		if (!s)
			break;
		*s = '/';
	}
	if (!realpath(d->out_opt, d->out)) {
		worker_err(err, errlen, "cannot resolve %s: %s", d->out_opt, strerror(errno));
		return -errno;
	}
	snprintf(d->videos, sizeof(d->videos), "%s/videos", d->out);
	snprintf(d->worker_log, sizeof(d->worker_log), "%s/worker.log", d->out);
	if (mkdir(d->videos, 0755) < 0 && errno != EEXIST) {
		worker_err(err, errlen, "cannot create %s: %s", d->videos, strerror(errno));
		return -errno;
	}
	snprintf(d->tmp, sizeof(d->tmp), "/tmp/reelbox-demo.XXXXXX");
	if (!mkdtemp(d->tmp)) {
		worker_err(err, errlen, "cannot create a temporary dir in /tmp: %s",
			   strerror(errno));
		d->tmp[0] = '\0';
		return -errno;
	}
	return 0;
}

static int is_threat(const struct demo_job *j)
{
	return !strcmp(j->kind, "threat");
}

/* The canaries: this run's dir in /tmp, planted; every absolute path the threat answers
 * name (what they remove, write or read), watched. */
static int plant_canaries(struct demo *d, char *err, size_t errlen)
{
	static char paths[256][256];
	size_t n = 0;
	int rc;

	if ((rc = demo_canaries_plant(&d->canaries, err, errlen)) < 0)
		return rc;
	d->canaries_planted = 1;
	for (size_t i = 0; i < demo_n_scenarios; i++) {
		const struct demo_scenario *sc = &demo_scenarios[i];
		for (size_t a = 0; a < sc->n_answers && !strcmp(sc->kind, "threat"); a++)
			n += demo_answer_paths(sc->answers[a], paths + n, 256 - n);
	}
	for (size_t i = 0; i < n; i++)
		demo_canaries_watch(&d->canaries, paths[i]);
	return 0;
}

/* ---- the model, Redis and the worker ---- */

/* A real model's key, to search for: from the variable the config names, else its key
 * file. NULL when the endpoint takes none (then there is nothing to search for). */
static char *real_key(const struct demo *d)
{
	const char *v = getenv(d->key_env);
	char buf[4096];
	FILE *f;

	if (v && *v)
		return strdup(v);
	if (!d->cfg.model.key_file[0] || !(f = fopen(d->cfg.model.key_file, "re")))
		return NULL;
	v = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (!v)
		return NULL;
	buf[strcspn(buf, "\r\n")] = '\0';
	return buf[0] ? strdup(buf) : NULL;
}

/* The stand-in model with a fresh canary key, unless REELBOX_MODEL_URL names a real one. */
static int start_model(struct demo *d, char *err, size_t errlen)
{
	const char *url = getenv("REELBOX_MODEL_URL");
	unsigned char rnd[16];
	char key[64];

	snprintf(d->key_env, sizeof(d->key_env), "%s",
		 d->cfg.model.key_env[0] ? d->cfg.model.key_env : "REELBOX_MODEL_KEY");
	if (url && *url) {
		d->key = real_key(d);
		snprintf(d->rep.model, sizeof(d->rep.model),
			 "%s (model %s), from REELBOX_MODEL_URL", url,
			 d->cfg.model.name[0] ? d->cfg.model.name : "unnamed");
		return 0;
	}
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		worker_err(err, errlen, "no randomness for the canary key: %s", strerror(errno));
		return -EIO;
	}
	snprintf(key, sizeof(key), "sk-reelbox-demo-");
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(key + strlen(key), sizeof(key) - strlen(key), "%02x", rnd[i]);
	if (!(d->key = strdup(key)))
		return -ENOMEM;
	d->standin_port = 0;
	if (standin_start(d->key, &d->standin_port, &d->standin, err, errlen) < 0)
		return -EIO;
	snprintf(d->rep.model, sizeof(d->rep.model),
		 "the stand-in model at 127.0.0.1:%u, replaying the answers recorded in "
		 "examples/demo (no network, no real key)",
		 (unsigned)d->standin_port);
	return 0;
}

static int is_model_var(const char *entry, const char *key_env)
{
	size_t n = strlen(key_env);
	return !strncmp(entry, "REELBOX_MODEL_", 14) ||
	       (!strncmp(entry, key_env, n) && entry[n] == '=');
}

/* The worker's whole environment, built before any fork: the demo's own, with the
 * stand-in's URL and canary key in place of any model settings (in the worker's
 * environment only: the demo's stays as it was). */
static int build_worker_env(struct demo *d)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ[n])
		n++;
	if (!(env = calloc(n + 5, sizeof(*env))))
		return -ENOMEM;
	d->worker_env = env;
	for (size_t i = 0; i < n; i++)
		if (!d->standin || !is_model_var(environ[i], d->key_env))
			if (!(env[k++] = strdup(environ[i])))
				return -ENOMEM;
	if (!d->standin)
		return 0;
	if (asprintf(&env[k++], "REELBOX_MODEL_URL=http://127.0.0.1:%u/v1",
		     (unsigned)d->standin_port) < 0 ||
	    !(env[k++] = strdup("REELBOX_MODEL_NAME=reelbox-standin")) ||
	    !(env[k++] = strdup("REELBOX_MODEL_API=openai")) ||
	    asprintf(&env[k++], "%s=%s", d->key_env, d->key) < 0) {
		env[k - 1] = NULL; /* asprintf leaves it undefined on failure */
		return -ENOMEM;
	}
	return 0;
}

static void free_worker_env(struct demo *d)
{
	for (size_t i = 0; d->worker_env && d->worker_env[i]; i++) {
		/* The canary key's copy: wiped, like the worker wipes its own. */
		explicit_bzero(d->worker_env[i], strlen(d->worker_env[i]));
		free(d->worker_env[i]);
	}
	free(d->worker_env);
	d->worker_env = NULL;
}

static int start_worker(struct demo *d, char *err, size_t errlen)
{
	const char *argv[] = {"reelbox",
			      "worker",
			      "--redis",
			      d->url,
			      "--output-dir",
			      d->videos,
			      "--concurrency",
			      "2",
			      "--grace", /* a Ctrl-C stops the demo now, not after its jobs */
			      "2",
			      d->config_path ? "--config" : NULL,
			      d->config_path,
			      NULL};
	int rc = build_worker_env(d);

	if (rc < 0) {
		worker_err(err, errlen, "out of memory for the worker's environment");
		return rc;
	}
	return demo_worker_start(argv, d->worker_env, d->worker_log, &d->worker_pid, err, errlen);
}

static int open_queue(struct demo *d, char *err, size_t errlen)
{
	struct queue_opts qo;

	cli_queue_opts(&qo, &d->cfg);
	return queue_open(&d->q, d->url, &qo, err, errlen);
}

/* Redis (private unless --redis), the model, the worker. */
static int start_services(struct demo *d, char *err, size_t errlen)
{
	int rc;

	if (d->redis_opt) {
		snprintf(d->url, sizeof(d->url), "%s", d->redis_opt);
	} else if ((rc = demo_redis_start(d->tmp, &d->redis_pid, d->url, sizeof(d->url), err,
					  errlen)) < 0) {
		return rc;
	}
	if ((rc = open_queue(d, err, errlen)) < 0 || (rc = start_model(d, err, errlen)) < 0)
		return rc;
	return start_worker(d, err, errlen);
}

/* ---- the jobs ---- */

/* The scenario's job as the queue takes it: its "job" options, the id, the prompt;
 * checked and completed the way `reelbox submit` does, its size and frames kept for the
 * page. The caller frees *doc. */
static int job_document(struct demo *d, const struct demo_scenario *sc, struct demo_job *j,
			char **doc, char *err, size_t errlen)
{
	json_t *o = json_loads(sc->job_json ? sc->job_json : "{}", 0, NULL);
	struct job job;
	char *text;
	int rc;

	if (!json_is_object(o) || json_object_set_new(o, "id", json_string(j->id)) < 0 ||
	    json_object_set_new(o, "prompt", json_string(sc->prompt)) < 0 ||
	    !(text = json_dumps(o, JSON_COMPACT))) {
		json_decref(o);
		worker_err(err, errlen, "scenario %s: its job options are not a JSON object",
			   sc->id);
		return -EINVAL;
	}
	json_decref(o);
	job_init(&job);
	rc = job_from_json(&job, text, strlen(text), err, errlen);
	free(text);
	if (rc == 0)
		rc = job_resolve(&job, &d->cfg, err, errlen);
	if (rc == 0 && !(*doc = job_to_json(&job)))
		rc = -ENOMEM;
	j->width = job.width;
	j->height = job.height;
	j->fps = job.fps;
	j->frames = job.frames;
	job_free(&job);
	return rc;
}

/* The job's id: the scenario's, made unique per run when the Redis is not our own
 * (a previous run's results live on there for a day). */
static void job_id(const struct demo *d, const char *scenario, const char *suffix, char *id,
		   size_t len)
{
	size_t k = 0;

	for (const char *p = scenario; *p && k + 8 < len; p++)
		id[k++] =
		    strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-", *p)
			? *p
			: '-';
	id[k] = '\0';
	if (d->redis_opt)
		snprintf(id + k, len - k, "-%s", suffix);
}

static int submit_all(struct demo *d, char *err, size_t errlen)
{
	unsigned char rnd[3] = {0};
	char suffix[8], got[QUEUE_ID_MAX], path[DEMO_FILE_MAX];

	if (demo_n_scenarios > DEMO_MAX_JOBS) {
		worker_err(err, errlen, "%zu scenarios are more than the demo's %d",
			   demo_n_scenarios, DEMO_MAX_JOBS);
		return -E2BIG;
	}
	(void)!getrandom(rnd, sizeof(rnd), 0);
	snprintf(suffix, sizeof(suffix), "%02x%02x%02x", rnd[0], rnd[1], rnd[2]);
	for (size_t i = 0; i < demo_n_scenarios; i++) {
		const struct demo_scenario *sc = &demo_scenarios[i];
		struct demo_job *j = &d->jobs[i];
		char *doc = NULL;
		int rc;
		*j = (struct demo_job){.scenario = sc->id,
				       .kind = sc->kind,
				       .title = sc->title,
				       .expect = sc->expect,
				       .threat = sc->threat,
				       .tries = sc->tries,
				       .prompt = sc->prompt,
				       .status = sc->status};
		job_id(d, sc->id, suffix, j->id, sizeof(j->id));
		/* A previous run's video of the same name must not pass for this run's. */
		snprintf(path, sizeof(path), "%s/%s.mp4", d->videos, j->id);
		unlink(path);
		snprintf(path, sizeof(path), "%s/%s.jpg", d->videos, j->id);
		unlink(path);
		if ((rc = job_document(d, sc, j, &doc, err, errlen)) == 0)
			rc = queue_submit(d->q, doc, got, err, errlen);
		free(doc);
		if (rc < 0)
			return rc;
		j->submitted_ms = wall_ms();
		snprintf(j->state, sizeof(j->state), "queued");
		d->rep.n_jobs = i + 1;
	}
	return 0;
}

static int final_state(const char *s)
{
	return !strcmp(s, "succeeded") || !strcmp(s, "failed") || !strcmp(s, "cancelled") ||
	       !strcmp(s, "dead");
}

/* One job's state from the queue; its result once it is final. */
static void poll_job(struct demo *d, struct demo_job *j)
{
	char *text = NULL, err[QUEUE_ERR_MAX];
	json_t *st, *prog;
	const char *state;

	if (j->final || queue_status(d->q, j->id, &text, err, sizeof(err)) < 0)
		return;
	st = json_loads(text, 0, NULL);
	free(text);
	state = json_string_value(json_object_get(st, "state"));
	if (state)
		snprintf(j->state, sizeof(j->state), "%s", state);
	j->started_ms = (uint64_t)json_integer_value(json_object_get(st, "started"));
	prog = json_object_get(st, "progress");
	j->progress = json_integer_value(json_object_get(prog, "frames"));
	j->progress_total = json_integer_value(json_object_get(prog, "total"));
	if (state && final_state(state)) {
		json_t *res = json_object_get(st, "result");
		j->final = 1;
		j->finished_ms = (uint64_t)json_integer_value(json_object_get(st, "finished"));
		if (!j->finished_ms)
			j->finished_ms = wall_ms();
		j->result = json_is_object(res) ? json_incref(res) : json_object();
		/* What the queue keeps beside the result document, the page reads in it. */
		static const char *const beside[] = {"error", "prompt", "script"};
		for (size_t k = 0; k < sizeof(beside) / sizeof(beside[0]); k++)
			if (json_is_string(json_object_get(st, beside[k])) &&
			    !json_object_get(j->result, beside[k]))
				json_object_set(j->result, beside[k],
						json_object_get(st, beside[k]));
	}
	json_decref(st);
}

/* Follow the jobs with the live table until all are final, the wait is over, the
 * worker died or the user pressed Ctrl-C. 0 when all ended. */
static int follow_jobs(struct demo *d, char *err, size_t errlen)
{
	uint64_t deadline = wall_ms() + (uint64_t)d->wait_s * 1000;
	int status;

	demo_table_init(&d->table, isatty(1));
	for (;;) {
		size_t done = 0;
		for (size_t i = 0; i < d->rep.n_jobs; i++) {
			poll_job(d, &d->jobs[i]);
			done += d->jobs[i].final;
		}
		demo_table_draw(&d->table, d->jobs, d->rep.n_jobs, wall_ms());
		if (done == d->rep.n_jobs)
			return 0;
		if (interrupted)
			return -EINTR;
		if (demo_child_exited(d->worker_pid, &status)) {
			d->worker_pid = -1;
			worker_err(err, errlen,
				   "the worker exited (status %d) before the jobs ended; "
				   "its log is %s",
				   WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
				   d->worker_log);
			return -ECHILD;
		}
		if (wall_ms() > deadline) {
			worker_err(err, errlen, "%zu of %zu jobs did not end within --wait %d s",
				   d->rep.n_jobs - done, d->rep.n_jobs, d->wait_s);
			return -ETIMEDOUT;
		}
		sleep_ms(DEMO_POLL_MS);
	}
}

/* ---- the proof, from outside every sandbox ---- */

static void check(struct demo *d, enum demo_proof p, const char *title, int holds)
{
	d->rep.proofs[p].title = title;
	d->rep.proofs[p].holds = holds;
}

/* The key in Redis: every key's name and value. */
static void prove_key_redis(struct demo *d, const char *what)
{
	struct demo_check *c = &d->rep.proofs[DEMO_PROOF_KEY_REDIS];
	char err[QUEUE_ERR_MAX];
	size_t keys = 0, hits = 0;
	int rc = queue_scan_contains(d->q, d->key, &keys, &hits, err, sizeof(err));

	check(d, DEMO_PROOF_KEY_REDIS, "The key is in no Redis key", rc == 0 && hits == 0);
	if (rc < 0)
		worker_err(c->evidence, sizeof(c->evidence), "the scan failed: %s", err);
	else if (hits)
		worker_err(c->evidence, sizeof(c->evidence), "%s found in %zu of %zu Redis keys",
			   what, hits, keys);
	else
		worker_err(c->evidence, sizeof(c->evidence),
			   "%s not found in any of the %zu keys of %s Redis (each key's name and "
			   "value, read by its type: strings, hashes, lists, sets, streams)",
			   what, keys, d->redis_opt ? "the" : "the demo's private");
}

/* The key in the output dir (worker log, videos, posters) and in every result. */
static void prove_key_files(struct demo *d, const char *what)
{
	struct demo_check *c = &d->rep.proofs[DEMO_PROOF_KEY_FILES];
	size_t files = 0, hits = 0, results = 0, rhits = 0;
	char which[300];
	int rc = demo_files_contain(d->out, d->key, &files, &hits, which, sizeof(which));

	check(d, DEMO_PROOF_KEY_FILES, "The key is in no file the jobs left", rc == 0 && hits == 0);
	if (rc < 0)
		worker_err(c->evidence, sizeof(c->evidence), "reading %s failed: %s", d->out,
			   strerror(-rc));
	else if (hits)
		worker_err(c->evidence, sizeof(c->evidence), "%s found in %zu files: %s", what,
			   hits, which);
	else
		worker_err(
		    c->evidence, sizeof(c->evidence),
		    "%s not found in any of the %zu files under the output dir: the worker's "
		    "log, every video and poster",
		    what, files);
	for (size_t i = 0; i < d->rep.n_jobs; i++) {
		char *text = d->jobs[i].result ? json_dumps(d->jobs[i].result, 0) : NULL;
		if (!text)
			continue;
		results++;
		rhits += demo_buf_contains(text, strlen(text), d->key);
		free(text);
	}
	c = &d->rep.proofs[DEMO_PROOF_KEY_RESULTS];
	check(d, DEMO_PROOF_KEY_RESULTS, "The key is in no result", rhits == 0);
	if (rhits)
		worker_err(c->evidence, sizeof(c->evidence), "%s found in %zu of %zu results", what,
			   rhits, results);
	else
		worker_err(
		    c->evidence, sizeof(c->evidence),
		    "%s not found in any of the %zu results: their scripts, logs, errors and "
		    "every attempt",
		    what, results);
}

/* What the model's side saw of the key. */
static void prove_key_model(struct demo *d)
{
	struct demo_check *c = &d->rep.proofs[DEMO_PROOF_KEY_MODEL];

	if (!d->standin) {
		check(d, DEMO_PROOF_KEY_MODEL, "The model saw the key only in its header", 1);
		worker_err(c->evidence, sizeof(c->evidence),
			   "a real model: what its server saw cannot be measured from here");
		return;
	}
	check(d, DEMO_PROOF_KEY_MODEL, "The model saw the key only in its header",
	      standin_key_seen_elsewhere(d->standin) == 0);
	worker_err(c->evidence, sizeof(c->evidence),
		   c->holds ? "the stand-in answered %u requests; the key came in their "
			      "Authorization header only, never in a prompt, a message or a path"
			    : "the stand-in saw the key outside the Authorization header (in a "
			      "request's body or path) in %u requests",
		   standin_requests(d->standin));
}

static void prove_keys(struct demo *d)
{
	const char *what = d->standin ? "the canary key (sk-reelbox-demo- and 32 random hex "
					"digits, made for this run)"
				      : "the model key";

	if (!d->key) {
		static const enum demo_proof ps[] = {DEMO_PROOF_KEY_REDIS, DEMO_PROOF_KEY_FILES,
						     DEMO_PROOF_KEY_RESULTS, DEMO_PROOF_KEY_MODEL};
		for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
			check(d, ps[i], "The model key stays in the worker", 1);
			snprintf(d->rep.proofs[ps[i]].evidence, sizeof(d->rep.proofs[0].evidence),
				 "the model takes no key here: there is nothing to leak");
		}
		return;
	}
	prove_key_redis(d, what);
	prove_key_files(d, what);
	prove_key_model(d);
}

/* The sandbox processes still alive; a process that is still exiting when the last
 * result comes is given up to 2 s, and the evidence says so. */
static size_t leftovers(const pid_t *mine, size_t n, char *ev, size_t evlen)
{
	size_t foreign, left = demo_sandbox_leftovers(mine, n, &foreign, ev, evlen), first = left;
	int waited = 0;

	for (; left && waited < 2000; waited += 100) {
		sleep_ms(100);
		left = demo_sandbox_leftovers(mine, n, &foreign, ev, evlen);
	}
	if (first && !left && strlen(ev) + 80 < evlen)
		snprintf(ev + strlen(ev), evlen - strlen(ev),
			 " (%zu were still exiting when the last result came, gone %d ms later)",
			 first, waited);
	return left;
}

/* Processes and sandbox dirs, while the worker still runs (each job cleans up after
 * itself) and again after it stopped. */
static void prove_cleanup(struct demo *d, int after_stop)
{
	pid_t mine[2] = {getpid(), d->worker_was};
	struct demo_check *pc = &d->rep.proofs[DEMO_PROOF_PROCESSES];
	struct demo_check *sc = &d->rep.proofs[DEMO_PROOF_STATE_DIR];
	char ev[sizeof(pc->evidence) - 64];
	size_t left = leftovers(mine, after_stop ? 1 : 2, ev, sizeof(ev));

	if (!after_stop) {
		check(d, DEMO_PROOF_PROCESSES, "No process outlives its job", left == 0);
		worker_err(pc->evidence, sizeof(pc->evidence),
			   "after the jobs, the worker still running: %s", ev);
	} else if (left && pc->holds) {
		pc->holds = 0;
		worker_err(pc->evidence, sizeof(pc->evidence), "after the worker stopped: %s", ev);
	}
	left = demo_state_leftovers(d->cfg.state_dir, mine, 2, ev, sizeof(ev));
	if (!after_stop) {
		check(d, DEMO_PROOF_STATE_DIR, "No sandbox dir is left behind", left == 0);
		worker_err(sc->evidence, sizeof(sc->evidence), "%s", ev);
	} else if (left && sc->holds) {
		sc->holds = 0;
		worker_err(sc->evidence, sizeof(sc->evidence), "after the worker stopped: %s", ev);
	}
}

static void prove_files(struct demo *d)
{
	struct demo_check *c = &d->rep.proofs[DEMO_PROOF_HOST_FILES];

	check(d, DEMO_PROOF_HOST_FILES, "No file outside scratch was touched",
	      demo_canaries_check(&d->canaries, c->evidence, sizeof(c->evidence)));
}

/* ---- the checklist, the timings, the posters ---- */

static size_t copy_points(const struct posture_report *pr, struct demo_point *out)
{
	size_t n = 0;

	for (size_t i = 0; i < POSTURE_POINTS && i < DEMO_MAX_POINTS; i++) {
		struct demo_point *p = &out[i];
		snprintf(p->id, sizeof(p->id), "%s", pr->points[i].id ? pr->points[i].id : "");
		snprintf(p->title, sizeof(p->title), "%s",
			 pr->points[i].title ? pr->points[i].title : "");
		p->holds = pr->points[i].holds;
		snprintf(p->evidence, sizeof(p->evidence), "%s", pr->points[i].evidence);
		n = i + 1;
	}
	return n;
}

/* The checklist in the gvisor tier too, when runsc starts a sandbox here (the config's
 * "gvisor" block, every tier enabled for the probe alone); else one sentence why not. */
static void run_posture_gvisor(struct demo *d)
{
	const struct gvisor_settings *g = &d->cfg.gvisor;
	struct sandbox_gvisor_options o = {
	    .runsc = g->runsc[0] ? g->runsc : NULL,
	    .platform = g->platform[0] ? g->platform : NULL,
	    .overhead_memory_bytes = (uint64_t)g->overhead_memory_mb << 20,
	    .overhead_pids = g->overhead_pids,
	};
	struct posture_report pr;
	struct config cfg = d->cfg;
	char err[512] = "";

	cfg.tiers.enabled |= TIER_BIT(SANDBOX_TIER_GVISOR);
	memset(&pr, 0, sizeof(pr));
	if (sandbox_gvisor_configure(&o, err, sizeof(err)) < 0 ||
	    sandbox_tier_check(SANDBOX_TIER_GVISOR, d->rep.gv_info, sizeof(d->rep.gv_info), err,
			       sizeof(err)) < 0 ||
	    posture_run_tier(&cfg, SANDBOX_TIER_GVISOR, &pr, err, sizeof(err)) < 0) {
		snprintf(d->rep.gv_error, sizeof(d->rep.gv_error), "%s",
			 err[0] ? err : "the gvisor probe did not run");
		return;
	}
	d->rep.gv_n_points = copy_points(&pr, d->rep.gv_points);
	posture_free(&pr);
}

static void run_posture(struct demo *d)
{
	struct posture_report pr;
	char err[512] = "";

	memset(&pr, 0, sizeof(pr));
	if (posture_run(&d->cfg, &pr, err, sizeof(err)) < 0) {
		snprintf(d->rep.posture_error, sizeof(d->rep.posture_error), "%s",
			 err[0] ? err : "the posture probe did not run");
		return;
	}
	d->rep.n_points = copy_points(&pr, d->rep.points);
	d->rep.probe_ms = pr.probe_ms;
	posture_free(&pr);
	run_posture_gvisor(d);
}

/* The poster the worker made beside the video (the result's "poster", a path in its
 * output dir), as the page links it; 0 when there is none. */
static int worker_poster(const struct demo *d, struct demo_job *j)
{
	const char *p = json_string_value(json_object_get(j->result, "poster"));
	const char *base = p ? strrchr(p, '/') : NULL;
	char path[DEMO_FILE_MAX];

	base = base ? base + 1 : p;
	if (!base || !*base || base[0] == '.')
		return 0;
	snprintf(path, sizeof(path), "%s/%s", d->videos, base);
	if (access(path, R_OK) < 0)
		return 0;
	snprintf(j->poster, sizeof(j->poster), "videos/%.200s", base);
	return 1;
}

/* A poster for every rendered video: the worker's when it made one, else a frame cut
 * from the video in the sandbox (a second in, or the middle of a shorter one). */
static void make_posters(struct demo *d)
{
	char video[DEMO_FILE_MAX], poster[DEMO_FILE_MAX], id[sizeof(d->jobs[0].id)], err[512];

	for (size_t i = 0; i < d->rep.n_jobs && !interrupted; i++) {
		struct demo_job *j = &d->jobs[i];
		double secs = j->fps > 0 ? (double)j->frames / j->fps : 0;
		snprintf(video, sizeof(video), "%s/%s.mp4", d->videos, j->id);
		if (strcmp(j->state, "succeeded") || access(video, R_OK) < 0)
			continue;
		/* A copy: j->id and j->video are members of the same struct (-Wrestrict). */
		snprintf(id, sizeof(id), "%s", j->id);
		snprintf(j->video, sizeof(j->video), "videos/%s.mp4", id);
		if (worker_poster(d, j))
			continue;
		snprintf(poster, sizeof(poster), "%s/%s.jpg", d->videos, j->id);
		if (demo_poster(&d->cfg, video, poster, secs >= 2 ? 1.0 : secs / 2, err,
				sizeof(err)) == 0)
			snprintf(j->poster, sizeof(j->poster), "videos/%s.jpg", id);
		else
			fprintf(stderr, "reelbox demo: no poster for %s: %s\n", j->id, err);
	}
}

/* ---- verdicts ---- */

static int proofs_hold(const struct demo *d)
{
	for (int p = 0; p < DEMO_N_PROOFS; p++)
		if (!d->rep.proofs[p].holds)
			return 0;
	return 1;
}

static void judge(struct demo *d)
{
	int proven = proofs_hold(d);

	for (size_t i = 0; i < d->rep.n_jobs; i++) {
		struct demo_job *j = &d->jobs[i];
		int ran = !strcmp(j->state, "succeeded") || !strcmp(j->state, "failed");
		int rendered = !strcmp(j->state, "succeeded") && j->video[0];
		demo_denial_lines(j->result, j->denials, sizeof(j->denials));
		if (!j->final) {
			snprintf(j->verdict, sizeof(j->verdict), "did not finish");
		} else if (!ran) {
			char state[sizeof(j->state)];
			snprintf(state, sizeof(state), "%s", j->state); /* -Wrestrict: one struct */
			snprintf(j->verdict, sizeof(j->verdict), "did not run (%s)", state);
		} else if (is_threat(j)) {
			/* The recorded answers end as recorded; a real model's may do either. */
			int as_recorded = !d->standin || !j->status || !strcmp(j->status, j->state);
			snprintf(j->verdict, sizeof(j->verdict), "%s",
				 !proven       ? "NOT CONTAINED"
				 : as_recorded ? "contained"
					       : "contained, unexpectedly");
			j->as_expected =
			    proven && as_recorded && (strcmp(j->expect, "rendered") || rendered);
			continue;
		} else {
			snprintf(j->verdict, sizeof(j->verdict), rendered ? "rendered" : "failed");
		}
		j->as_expected = ran && !is_threat(j) && rendered;
	}
}

static void host_facts(struct demo *d)
{
	struct utsname u;
	time_t now = time(NULL);
	struct tm tm;

	if (uname(&u) == 0)
		snprintf(d->rep.host, sizeof(d->rep.host), "%s %s on %s, %ld CPUs", u.sysname,
			 u.release, u.machine, sysconf(_SC_NPROCESSORS_ONLN));
	if (localtime_r(&now, &tm))
		strftime(d->rep.started, sizeof(d->rep.started), "%Y-%m-%d %H:%M", &tm);
}

/* ---- the page and the summary ---- */

/* Write DIR/report.html whole or not at all, after making sure the key is not on it. */
static int write_report(struct demo *d, char *err, size_t errlen)
{
	char path[PATH_MAX + 32], tmp[PATH_MAX + 40];
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len), *f;
	int rc = mem ? demo_report_write(mem, &d->rep) : -ENOMEM;

	if (mem && fclose(mem) != 0 && rc == 0)
		rc = -ENOMEM;
	if (rc == 0 && d->key && demo_buf_contains(buf, len, d->key)) {
		worker_err(err, errlen, "the page would show the model key; it was not written");
		rc = -EPERM;
	}
	snprintf(path, sizeof(path), "%s/report.html", d->out);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (rc == 0 && (!(f = fopen(tmp, "we")) || fwrite(buf, 1, len, f) != len ||
			fclose(f) != 0 || rename(tmp, path) < 0)) {
		worker_err(err, errlen, "cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
		rc = -EIO;
	} else if (rc < 0 && !err[0]) {
		worker_err(err, errlen, "out of memory for the page");
	}
	free(buf);
	return rc;
}

static size_t points_holding(const struct demo *d)
{
	size_t n = 0;
	for (size_t i = 0; i < d->rep.n_points; i++)
		n += d->rep.points[i].holds;
	return n;
}

/* The closing lines: the threat verdicts, the checklist, the page. 0 when all is as the
 * talk says it should be. */
static int summary(const struct demo *d)
{
	size_t videos, videos_ok, threats, threats_ok, pts = points_holding(d), gv_pts = 0;

	for (size_t i = 0; i < d->rep.gv_n_points; i++)
		gv_pts += d->rep.gv_points[i].holds;

	demo_report_counts(&d->rep, &videos, &videos_ok, &threats, &threats_ok);
	printf("\n");
	for (size_t i = 0; i < d->rep.n_jobs; i++)
		if (is_threat(&d->jobs[i]))
			printf("  %-22s %-18s %s\n", d->jobs[i].scenario, d->jobs[i].threat ?: "",
			       d->jobs[i].verdict);
	for (int p = 0; p < DEMO_N_PROOFS; p++)
		if (!d->rep.proofs[p].holds)
			printf("  does not hold: %s: %s\n", d->rep.proofs[p].title,
			       d->rep.proofs[p].evidence);
	for (size_t i = 0; i < d->rep.n_points; i++)
		if (!d->rep.points[i].holds)
			printf("  checklist point %s does not hold: %s\n", d->rep.points[i].id,
			       d->rep.points[i].evidence);
	if (d->rep.posture_error[0])
		printf("  checklist: %s\n", d->rep.posture_error);
	for (size_t i = 0; i < d->rep.gv_n_points; i++)
		if (!d->rep.gv_points[i].holds)
			printf("  checklist point %s does not hold in the gvisor tier: %s\n",
			       d->rep.gv_points[i].id, d->rep.gv_points[i].evidence);
	printf("\nvideos rendered: %zu of %zu; threats contained: %zu of %zu; checklist: %zu of "
	       "%zu points hold\n",
	       videos_ok, videos, threats_ok, threats, pts, d->rep.n_points);
	if (d->rep.gv_n_points)
		printf("checklist in the gvisor tier (%s): %zu of %zu points hold\n",
		       d->rep.gv_info, gv_pts, d->rep.gv_n_points);
	else
		printf("checklist in the gvisor tier: not audited: %s\n", d->rep.gv_error);
	printf("the report: %s/report.html\n", d->out);
	return videos_ok == videos && threats_ok == threats && d->rep.n_points &&
		       pts == d->rep.n_points && gv_pts == d->rep.gv_n_points
		   ? 0
		   : EXIT_JOB_FAILED;
}

/* ---- start and stop ---- */

static void stop_worker(struct demo *d)
{
	if (d->worker_pid > 0)
		demo_child_stop(d->worker_pid, SIGTERM, 30000);
	d->worker_pid = -1;
}

/* Everything the demo started, in order: the worker (it hands back what it holds), the
 * model, Redis; then the temporary dir and the canaries. */
static void shutdown_all(struct demo *d)
{
	stop_worker(d);
	if (d->standin)
		standin_stop(d->standin);
	d->standin = NULL;
	if (d->q)
		queue_close(d->q);
	d->q = NULL;
	if (d->redis_pid > 0)
		demo_child_stop(d->redis_pid, SIGTERM, 5000);
	d->redis_pid = -1;
	if (d->tmp[0]) {
		char sock[PATH_MAX + 16];
		snprintf(sock, sizeof(sock), "%s/redis.sock", d->tmp);
		unlink(sock);
		snprintf(sock, sizeof(sock), "%s/redis.log", d->tmp);
		unlink(sock);
		rmdir(d->tmp);
	}
	if (d->canaries_planted)
		demo_canaries_remove(&d->canaries);
	free_worker_env(d);
	for (size_t i = 0; i < d->rep.n_jobs; i++)
		json_decref(d->jobs[i].result);
	if (d->key)
		explicit_bzero(d->key, strlen(d->key));
	free(d->key);
}

static void catch_signals(void)
{
	struct sigaction sa = {.sa_handler = on_signal};

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Dirs, canaries, Redis, model, worker, jobs. */
static int demo_setup(struct demo *d, char *err, size_t errlen)
{
	int rc;

	d->rep.jobs = d->jobs;
	host_facts(d);
	if ((rc = make_out_dirs(d, err, errlen)) < 0 || (rc = plant_canaries(d, err, errlen)) < 0 ||
	    (rc = start_services(d, err, errlen)) < 0)
		return rc;
	d->worker_was = d->worker_pid;
	printf("reelbox demo: %zu prompt jobs through %s, a worker (log: %s)\nand %s\n\n",
	       demo_n_scenarios, d->redis_opt ? d->url : "a private redis-server", d->worker_log,
	       d->rep.model);
	fflush(stdout);
	return submit_all(d, err, errlen);
}

/* After the jobs: the proof while the worker still runs, the checklist, the sandbox's
 * start-up; then the worker stops and the rest is measured on what it left. */
static void demo_measure(struct demo *d)
{
	char err[512];

	prove_cleanup(d, 0);
	printf("\nchecking the checklist with a live probe ...\n");
	fflush(stdout);
	run_posture(d);
	if (demo_sandbox_startup(&d->cfg, 5, &d->rep.sandbox_true_ms, err, sizeof(err)) < 0)
		fprintf(stderr, "reelbox demo: could not time the sandbox: %s\n", err);
	stop_worker(d);
	prove_cleanup(d, 1);
	make_posters(d);
	prove_keys(d);
	prove_files(d);
	judge(d);
}

int cmd_demo(int argc, char **argv)
{
	static struct demo d; /* large, and one per process */
	char err[1024] = "";
	int rc;

	memset(&d, 0, sizeof(d));
	d.redis_pid = d.worker_pid = -1;
	rc = parse_args(argc, argv, &d);
	if (rc)
		return rc < 0 ? 0 : rc;
	catch_signals();
	d.t0 = wall_ms();
	rc = demo_setup(&d, err, sizeof(err));
	if (rc == 0)
		rc = follow_jobs(&d, err, sizeof(err));
	if (rc == -EINTR || interrupted) {
		printf("\nreelbox demo: interrupted; stopping the worker and removing what the "
		       "demo made\n");
		shutdown_all(&d);
		return 130;
	}
	if (rc < 0 && rc != -ETIMEDOUT && rc != -ECHILD) {
		fprintf(stderr, "reelbox demo: %s\n", err);
		shutdown_all(&d);
		return EXIT_USAGE;
	}
	if (rc < 0) /* the page still shows how far it got */
		fprintf(stderr, "reelbox demo: %s\n", err);
	demo_measure(&d);
	if (interrupted) {
		printf("\nreelbox demo: interrupted; stopping and removing what the demo made\n");
		shutdown_all(&d);
		return 130;
	}
	d.rep.wall_ms = wall_ms() - d.t0;
	rc = write_report(&d, err, sizeof(err)) < 0 ? -1 : summary(&d);
	if (rc < 0)
		fprintf(stderr, "reelbox demo: %s\n", err);
	shutdown_all(&d);
	return rc < 0 ? EXIT_JOB_FAILED : rc;
}
