/* cmd_run.c - `reelbox run` and `reelbox exec`: one sandbox, no Redis. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli_progress.h"
#include "encoder.h"
#include "hints.h"
#include "jobrun.h"
#include "modelcfg.h"
#include "pool.h"
#include "render.h"
#include "sandbox.h"
#include "specs.h"

static const char run_usage[] =
    "usage: reelbox run [OPTIONS] SCRIPT\n"
    "       reelbox run [OPTIONS] --prompt TEXT\n"
    "  -o, --output FILE     .mp4 (H.264), .webm (VP9), .gif or .mov (ProRes 4444); default\n"
    "                        SCRIPT's stem + .mp4\n"
    "                        (prompt.mp4 for a prompt)\n"
    "      --prompt TEXT     ask the operator's model (REELBOX_MODEL_URL, _NAME, _KEY) for\n"
    "                        the script, render it, repair it on failure; or\n"
    "      --prompt-file FILE  the prompt from a file (- for stdin)\n"
    "      --runtime NAME    interpreter from the runtime table (default: by extension)\n"
    "      --tier NAME       sandbox tier: native (default) or gvisor\n"
    "      --size WxH        frame size (1280x720)\n"
    "      --fps RATE        frames per second (30): N, N/D (30000/1001) or 29.97\n"
    "      --codec NAME      h264 hevc av1 (.mp4), vp9 av1 (.webm); default the container's\n"
    "      --frames N        frame count ceiling (fps*5), or --duration SEC\n"
    "      --pix-fmt NAME    raw stream format: rgb24 rgba bgr24 gray yuv420p\n"
    "      --crf N, --preset NAME   encoder quality and speed, as in ffmpeg\n"
    "      --timeout SEC --memory MB --pids N --scratch MB --cpus F   sandbox limits\n"
    "      --still N         write frame N (0-based) as a PNG to -o FILE.png, no video;\n"
    "                        the script is stopped once frame N is read\n"
    "      --warm            start a warm sandbox first (python3 and numpy, Pillow\n"
    "                        imported), then hand it the job: a worker's --pool path,\n"
    "                        for tests; no faster for one job\n"
    "      --audio NAME      mux the file the script wrote as $SCRATCH/NAME as the audio\n"
    "                        track (AAC in .mp4/.mov, Opus in .webm), fitted to the video\n"
    "      --json            print one JSON summary on stdout\n"
    "      --progress FILE|- key=value progress blocks (as ffmpeg -progress) to FILE or\n"
    "                        stdout; on a terminal stderr shows a line with an ETA\n"
    "      --config FILE     operator configuration (JSON)\n";

static const char exec_usage[] =
    "usage: reelbox exec [--timeout SEC --memory MB --pids N --scratch MB --cpus F]\n"
    "                    [--tier native|gvisor] [--config FILE] -- CMD [ARG...]\n";

struct run_ui {
	struct cli_progress prog;
	struct runner_result res;
	json_t *extra; /* a prompt job's attempts */
	struct jobrun *jr;
	int finished;
	struct pool *pool; /* --warm's, closed when the job is done */
};

static void ui_progress(void *opaque, int64_t done, int64_t total)
{
	struct run_ui *ui = opaque;

	cli_progress_update(&ui->prog, done, total);
}

static void ui_log_line(void *opaque, const char *line, size_t len)
{
	struct run_ui *ui = opaque;
	int shown = ui->prog.shown;

	cli_progress_clear(&ui->prog);
	fprintf(stderr, "[script] %.*s\n", (int)len, line);
	if (shown)
		cli_progress_redraw(&ui->prog);
}

static void ui_done(void *opaque, const struct runner_result *res)
{
	struct run_ui *ui = opaque;

	ui->res = *res;
	ui->extra = jobrun_result_extra(ui->jr, 0);
	ui->finished = 1;
	/* --warm's pool: its timers would keep the loop turning after the job */
	pool_close(ui->pool, NULL, NULL);
	ui->pool = NULL;
	cli_progress_end(&ui->prog, res->succeeded ? "succeeded" : "failed");
}

static const struct runner_ops run_ops = {
    .progress = ui_progress,
    .log_line = ui_log_line,
    .done = ui_done,
};

/* The default output: the script's stem + .mp4 in the current directory. */
static void default_output(const char *script, char *out, size_t len)
{
	const char *base = strrchr(script, '/');
	const char *dot;

	base = base ? base + 1 : script;
	dot = strrchr(base, '.');
	if (!dot || dot == base)
		dot = base + strlen(base);
	snprintf(out, len, "%.*s.mp4", (int)(dot - base), base);
}

/* What `reelbox run` was asked: the job and where its video and reports go. */
struct run_args {
	struct job job;
	struct cli_job_args ja;
	struct config cfg;
	const char *script, *output, *progress;
	char outbuf[PATH_MAX];
	int json;
	struct modelcfg model; /* a prompt job's */
	int have_model;
	const char *still; /* --still N, as given */
	int warm;	   /* --warm: through a warm sandbox made first (pool.h) */
};

#define OPT_STILL    (OPT_CLI_LAST + 1) /* run's own options */
#define OPT_WARM     (OPT_CLI_LAST + 2)
#define WARM_WAIT_MS 60000

#define RUN_GO (-1) /* run_parse: the options are read, go on */

static int run_parse(int argc, char **argv, struct run_args *a)
{
	struct option opts[32];
	size_t n = cli_n_job_options;
	int c, rc;

	memcpy(opts, cli_job_options, cli_n_job_options * sizeof(struct option));
	opts[n++] = (struct option){"output", required_argument, NULL, 'o'};
	opts[n++] = (struct option){"json", no_argument, NULL, OPT_JSON};
	opts[n++] = (struct option){"progress", required_argument, NULL, OPT_PROGRESS};
	opts[n++] = (struct option){"still", required_argument, NULL, OPT_STILL};
	opts[n++] = (struct option){"warm", no_argument, NULL, OPT_WARM};
	opts[n++] = (struct option){"help", no_argument, NULL, 'h'};
	opts[n] = (struct option){0};
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			a->output = optarg;
			break;
		case OPT_JSON:
			a->json = 1;
			break;
		case OPT_PROGRESS:
			a->progress = optarg;
			break;
		case OPT_STILL:
			a->still = optarg;
			break;
		case OPT_WARM:
			a->warm = 1;
			break;
		case 'h':
			fputs(run_usage, stdout);
			return 0;
		case '?':
			fputs(run_usage, stderr);
			return EXIT_USAGE;
		default:
			if ((rc = cli_job_option("run", c, optarg, &a->job, &a->ja)) != 0)
				return rc;
		}
	}
	if ((rc = cli_script_or_prompt("run", argc, argv, optind, &a->job, &a->script)) != 0)
		return rc;
	return RUN_GO;
}

/* --still N: frame N as a PNG to -o FILE.png; the frame count becomes N + 1 (the ceiling
 * stops the script once frame N is read), so --frames and --duration do not go with it. */
static int run_prepare_still(struct run_args *a)
{
	const char *dot = a->output ? strrchr(a->output, '.') : NULL;
	char *end;
	long long n;

	errno = 0;
	n = strtoll(a->still, &end, 10);
	if (errno || end == a->still || *end || n < 0 || n >= INT64_MAX - 1)
		return cli_usage_error("run", "--still '%s' is not a frame number (0 or more)",
				       a->still);
	if (!dot || strchr(dot, '/') || strcasecmp(dot, ".png"))
		return cli_usage_error("run", "--still writes a PNG: give -o FILE.png");
	if (a->ja.have_frames || a->ja.duration > 0)
		return cli_usage_error("run",
				       "--still %lld renders frames 0 to %lld: give no "
				       "--frames or --duration",
				       n, n);
	a->job.still = n;
	a->job.frames = n + 1;
	snprintf(a->job.format, sizeof(a->job.format), "mp4");
	return cli_resolve_job("run", &a->job, &a->ja, &a->cfg);
}

/* The configuration, the script, the output (its extension is the job's format) and
 * the job's rules. 0, or the exit status. */
static int run_prepare(struct run_args *a)
{
	static const char *const formats[] = {[RENDER_MP4] = "mp4",
					      [RENDER_WEBM] = "webm",
					      [RENDER_GIF] = "gif",
					      [RENDER_MOV] = "mov"};
	int rc, container;

	char err[512];

	if ((rc = cli_load_config("run", a->ja.config_path, &a->cfg)) != 0)
		return rc;
	cli_tiers_for_command(&a->cfg);
	if ((a->script && (rc = cli_load_script("run", a->script, &a->cfg, &a->job)) != 0))
		return rc;
	if (!a->script) {
		/* The key is read now and lives only in this process (modelcfg.h). */
		rc = modelcfg_load(&a->model, &a->cfg, err, sizeof(err));
		if (rc == 1)
			return cli_usage_error("run", "%s", modelcfg_none_sentence);
		if (rc < 0)
			return cli_usage_error("run", "%s", err);
		a->have_model = 1;
	}
	if (a->job.chunks || a->job.frames_per_chunk)
		/* A split pays off across workers; on one machine a whole render is as fast. */
		return cli_usage_error("run",
				       "run renders a job whole; --chunks splits a job across "
				       "workers: use reelbox submit --chunks N");
	if (a->still)
		return run_prepare_still(a);
	if (!a->output) {
		default_output(a->script ? a->script : "prompt", a->outbuf, sizeof(a->outbuf));
		a->output = a->outbuf;
	}
	container = render_container_from_path(a->output);
	if (container < 0 || (size_t)container >= sizeof(formats) / sizeof(formats[0]))
		return cli_usage_error(
		    "run", "output '%s' has an unknown extension; use .mp4, .webm, .gif or .mov",
		    a->output);
	snprintf(a->job.format, sizeof(a->job.format), "%s", formats[container]);
	return cli_resolve_job("run", &a->job, &a->ja, &a->cfg);
}

/* What the job's end tells the terminal and a --json caller; the exit status. */
static int run_report(const struct run_args *a, const struct runner_result *res, json_t *extra)
{
	if (a->json && cli_print_result_json(stdout, res, extra) < 0) {
		/* The summary is what a --json caller reads: without it the job failed, and
		 * a failed job leaves no file behind. */
		if (res->succeeded)
			unlink(res->output);
		fprintf(stderr, "reelbox: job failed: the JSON summary could not be written "
				"(out of memory or stdout closed); run the job again\n");
		return EXIT_JOB_FAILED;
	}
	if (!res->succeeded) {
		fprintf(stderr, "reelbox: job failed: %s\n", res->error);
		return EXIT_JOB_FAILED;
	}
	if (!a->json)
		fprintf(stderr, "reelbox: wrote %s (%lld frames, %llu bytes, %.1f s)\n",
			res->output, (long long)res->frames, (unsigned long long)res->bytes,
			(double)res->total_ms / 1000.0);
	return 0;
}

/* A prompt job's attempts as they end, for a person at a terminal. */
static void print_attempts(const struct run_ui *ui)
{
	unsigned n;
	const struct jobrun_attempt *at = jobrun_attempts(ui->jr, &n);

	for (unsigned i = 0; i < n; i++)
		fprintf(stderr, "reelbox: attempt %u (%s, model %llu ms, render %llu ms): %s%s\n",
			i + 1, at[i].runtime[0] ? at[i].runtime : "no script",
			(unsigned long long)at[i].model_ms, (unsigned long long)at[i].render_ms,
			at[i].succeeded ? "rendered" : "failed: ", at[i].error);
}

/* --warm: a pool of one, sized for this job, and the loop turned until its sandbox is
 * ready. The job then takes it as a worker's job takes a pool's: the same code path, for
 * tests (tests/it_hostile.sh runs its Python corpus through it) and to see what a warm
 * start is. It saves nothing for one job: the warm-up is the cold start, paid first. */
static int warm_up(uv_loop_t *loop, struct run_args *a, struct config *wcfg, struct pool **pool,
		   char *err, size_t errlen)
{
	uint64_t until = uv_hrtime() / 1000000 + WARM_WAIT_MS;
	struct pool_stats st;
	int rc;

	if (a->job.prompt || strcmp(a->job.runtime, "python3")) {
		snprintf(err, errlen, "--warm takes a python3 script (the pool's one runtime)");
		return -EINVAL;
	}
	if (a->job.resolved_tier != SANDBOX_TIER_NATIVE) {
		snprintf(err, errlen, "--warm runs in the native tier (the pool's one tier)");
		return -EINVAL;
	}
	/* the script goes into the member's stdin: a member that died is an error, not a signal */
	signal(SIGPIPE, SIG_IGN);
	*wcfg = a->cfg;
	wcfg->defaults = a->job.limits;
	wcfg->pool.python3 = 1;
	/* slot 1 on: slot 0 is the cold path's, as a worker's pool follows its slots */
	if ((rc = pool_new(loop, wcfg, 1, 2, pool, err, errlen)) < 0)
		return rc;
	do {
		pool_stats(*pool, &st);
		if (st.ready) {
			pool_freeze(*pool);
			return 0;
		}
		uv_run(loop, UV_RUN_ONCE);
	} while (st.failed < 3 && uv_hrtime() / 1000000 < until);
	snprintf(err, errlen, "--warm: the warm sandbox did not get ready (%llu failed starts)",
		 (unsigned long long)st.failed);
	return -ETIMEDOUT;
}

/* One job (a runner, or a prompt job's attempts) on a private loop, until its done
 * callback. The model is called on the same loop (httpc), as the worker does. */
static int run_job(struct run_args *a)
{
	struct run_ui ui = {.finished = 0};
	struct httpc *http = NULL;
	struct pool *pool = NULL;
	struct config wcfg;
	uv_loop_t loop;
	char err[512];
	int rc;

	sandbox_sweep_stale(a->cfg.state_dir[0] ? a->cfg.state_dir : NULL);
	cli_tell_limits("run");
	if ((rc = cli_progress_open(&ui.prog, "run", a->progress, a->json, isatty(2), NULL)) != 0)
		return rc;
	uv_loop_init(&loop);
	rc = a->have_model ? httpc_new(&http, &loop, err, sizeof(err)) : 0;
	if (rc == 0 && a->warm)
		rc = warm_up(&loop, a, &wcfg, &pool, err, sizeof(err));
	ui.pool = pool;
	if (rc == 0) {
		struct jobrun_env env = {.loop = &loop,
					 .cfg = &a->cfg,
					 .http = http,
					 .model = a->have_model ? &a->model : NULL,
					 .slot = 0,
					 .pool = pool};
		rc =
		    jobrun_start(&env, &a->job, a->output, &run_ops, &ui, &ui.jr, err, sizeof(err));
	}
	if (rc < 0) {
		hints_privilege(err, sizeof(err), rc);
		if (http)
			httpc_free(http);
		pool_close(ui.pool, NULL, NULL);
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
		cli_progress_end(&ui.prog, "failed");
		return cli_usage_error("run", "%s", err);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	if (a->have_model && !a->json)
		print_attempts(&ui);
	jobrun_free(ui.jr);
	if (http)
		httpc_free(http);
	pool_close(ui.pool, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	rc = run_report(a, &ui.res, ui.extra);
	json_decref(ui.extra);
	return rc;
}

int cmd_run(int argc, char **argv)
{
	struct run_args a = {0};
	char serr[256];
	int rc;

	/* The encoder server loads libav (about 100 ms) while the options are read and the
	 * sandbox starts; a failure here is told again, as one sentence, by the job. */
	encoder_server_start(serr, sizeof(serr));
	job_init(&a.job);
	rc = run_parse(argc, argv, &a);
	if (rc == RUN_GO && (rc = run_prepare(&a)) == 0 &&
	    (a.job.resolved_tier == SANDBOX_TIER_NATIVE ||
	     (rc = cli_check_tier("run", &a.cfg, a.job.resolved_tier, NULL, 0)) == 0))
		rc = run_job(&a);
	job_free(&a.job);
	modelcfg_free(&a.model);
	return rc;
}

/* Find CMD the way a shell would, but only in the directories the sandbox shows. */
static int resolve_command(const char *cmd, char *out, size_t len)
{
	static const char *const dirs[] = {"/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin",
					   "/sbin"};

	if (strchr(cmd, '/')) {
		snprintf(out, len, "%s", cmd);
		return 0;
	}
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(out, len, "%s/%s", dirs[i], cmd);
		if (access(out, X_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

int cli_sandbox_exec(const struct config *cfg, const struct job_limits *lim,
		     const char *const *argv, const char *const *extra_env, int stdin_fd,
		     int stdout_fd, int stderr_fd, void (*on_denied)(void *, const char *),
		     void *opaque, struct sandbox_result *res, char *err, size_t errlen)
{
	struct job_sandbox box;
	struct sandbox *sb;
	int rc;

	if (exec_sandbox_spec(&box, cfg, lim, argv, extra_env) < 0) {
		snprintf(err, errlen, "out of memory for the sandbox's environment");
		return -ENOMEM;
	}
	box.spec.stdin_fd = stdin_fd;
	box.spec.stdout_fd = stdout_fd;
	box.spec.stderr_fd = stderr_fd;
	box.spec.on_denied = on_denied;
	box.spec.denied_opaque = opaque;
	rc = sandbox_start(&box.spec, &sb, err, errlen);
	job_sandbox_free(&box);
	if (rc < 0) {
		hints_privilege(err, errlen, rc);
		return rc;
	}
	rc = sandbox_wait(sb, res);
	sandbox_destroy(sb);
	if (rc < 0) {
		snprintf(err, errlen, "lost track of the sandbox: %s", strerror(-rc));
		return rc;
	}
	/* With no runner here, the sandbox kept the wall clock (specs.h); a user reads the
	 * same sentence for exec as for a job. */
	if (res->end == SANDBOX_TIMEOUT)
		job_timeout_sentence(res->reason, sizeof(res->reason), lim->timeout_s);
	return 0;
}

/* The limits a job would get: the defaults, with what the options asked for when it
 * is within the operator's maxima. 0, or the exit status after the reason. */
static int exec_limits(const struct config *cfg, const struct job_limits *asked,
		       struct job_limits *lim)
{
	const struct job_limits *mx = &cfg->maxima;

	*lim = cfg->defaults;
#define TAKE(field, unit)                                                                          \
	do {                                                                                       \
		if (asked->field) {                                                                \
			if (asked->field > mx->field)                                              \
				return cli_usage_error(                                            \
				    "exec",                                                        \
				    #field " %g" unit                                              \
					   " is above the operator's maximum of %g" unit,          \
				    (double)asked->field, (double)mx->field);                      \
			lim->field = asked->field;                                                 \
		}                                                                                  \
	} while (0)
	TAKE(timeout_s, " s");
	TAKE(memory_mb, " MB");
	TAKE(pids, "");
	TAKE(scratch_mb, " MB");
	TAKE(cpus, "");
#undef TAKE
	return 0;
}

/* --tier by the jobs' rule (no runtime, no prompt), checked before anything runs; exec's
 * sandbox takes its config's default tier (exec_sandbox_spec), so it becomes that. */
static int exec_tier(struct config *cfg, const struct job *job)
{
	enum sandbox_tier t;
	char err[512];

	cli_tiers_for_command(cfg);
	if (tier_resolve(&cfg->tiers, job->tier, 0, "", &t, err, sizeof(err)) < 0)
		return cli_usage_error("exec", "%s", err);
	cfg->tiers.dflt = t;
	return t == SANDBOX_TIER_NATIVE ? 0 : cli_check_tier("exec", cfg, t, NULL, 0);
}

/* The command's own exit status, as a shell gives it: 128 + the signal that ended it. */
static int exec_status(const struct sandbox_result *res)
{
	/* Denied calls were printed as they happened ("reelbox: denied ..."); a SIGSYS
	 * kill gets its sentence too, since the kernel named no call. */
	if ((res->end != SANDBOX_EXITED || res->signal == SIGSYS) && res->reason[0])
		fprintf(stderr, "reelbox exec: %s\n", res->reason);
	if (res->signal)
		return 128 + res->signal;
	if (res->exit_code < 0)
		return 128 + SIGKILL;
	return res->exit_code;
}

int cmd_exec(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"timeout", required_argument, NULL, OPT_TIMEOUT},
	    {"memory", required_argument, NULL, OPT_MEMORY},
	    {"pids", required_argument, NULL, OPT_PIDS},
	    {"scratch", required_argument, NULL, OPT_SCRATCH},
	    {"cpus", required_argument, NULL, OPT_CPUS},
	    {"config", required_argument, NULL, OPT_CONFIG},
	    {"tier", required_argument, NULL, OPT_TIER},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct sandbox_result res;
	struct job_limits lim;
	struct config cfg;
	struct job job;
	struct cli_job_args ja = {0};
	char path[PATH_MAX], err[512];
	int c, rc;

	job_init(&job);
	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(exec_usage, stdout);
			return 0;
		}
		if (c == '?') {
			fputs(exec_usage, stderr);
			return EXIT_USAGE;
		}
		if ((rc = cli_job_option("exec", c, optarg, &job, &ja)) != 0)
			return rc;
	}
	if (optind >= argc)
		return cli_usage_error("exec",
				       "expected a command after --; see reelbox exec --help");
	if ((rc = cli_load_config("exec", ja.config_path, &cfg)) != 0 ||
	    (rc = exec_limits(&cfg, &job.limits, &lim)) != 0 || (rc = exec_tier(&cfg, &job)) != 0)
		return rc;
	if (resolve_command(argv[optind], path, sizeof(path)) < 0)
		return cli_usage_error("exec", "command '%s' not found in the sandbox's PATH",
				       argv[optind]);
	argv[optind] = path;
	cli_tell_limits("exec");
	rc = cli_sandbox_exec(&cfg, &lim, (const char *const *)&argv[optind], NULL, 0, 1, 2, NULL,
			      NULL, &res, err, sizeof(err));
	if (rc < 0)
		return cli_usage_error("exec", "%s", err);
	return exec_status(&res);
}
