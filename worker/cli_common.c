/* cli_common.c - what the commands share: the job options, the operator's config, the
 * script file, and the contract's summary of a finished job.
 *
 * run and submit take the same job options and must read them the same way: a flag is
 * parsed here through the job's field table (fields.h), so --memory means what
 * "limits.memory" means in a job document, with the same range. A failure is one line,
 * "reelbox CMD: reason", and exit status 2, before anything runs. The result summary is
 * built once for `run --json`, the worker's record in Redis and `submit --wait --json`,
 * so the three agree field by field.
 */
#define _GNU_SOURCE
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lazylib.h"
#include "fields.h"
#include "queue.h"
#include "sandbox.h"
#include "utf8.h"

const struct option cli_job_options[] = {
    {"runtime", required_argument, NULL, OPT_RUNTIME},
    {"size", required_argument, NULL, OPT_SIZE},
    {"fps", required_argument, NULL, OPT_FPS},
    {"frames", required_argument, NULL, OPT_FRAMES},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"pix-fmt", required_argument, NULL, OPT_PIX_FMT},
    {"crf", required_argument, NULL, OPT_CRF},
    {"preset", required_argument, NULL, OPT_PRESET},
    {"codec", required_argument, NULL, OPT_CODEC},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"memory", required_argument, NULL, OPT_MEMORY},
    {"pids", required_argument, NULL, OPT_PIDS},
    {"scratch", required_argument, NULL, OPT_SCRATCH},
    {"cpus", required_argument, NULL, OPT_CPUS},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"prompt", required_argument, NULL, OPT_PROMPT},
    {"prompt-file", required_argument, NULL, OPT_PROMPT_FILE},
    {"poster-frame", required_argument, NULL, OPT_POSTER_FRAME},
    {"contact-sheet", required_argument, NULL, OPT_CONTACT_SHEET},
    {"audio", required_argument, NULL, OPT_AUDIO},
    {"chunks", required_argument, NULL, OPT_CHUNKS},
    {"frames-per-chunk", required_argument, NULL, OPT_FRAMES_PER_CHUNK},
    {"tier", required_argument, NULL, OPT_TIER},
};
const size_t cli_n_job_options = sizeof(cli_job_options) / sizeof(cli_job_options[0]);

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "reelbox %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_USAGE;
}

/* The field a job option sets: its flag with '_' for '-', in the job's table or its
 * limits' (fields.h); *base is where that table's struct lives in job. */
static const struct field *job_option_field(int opt, struct job *job, void **base,
					    const char **flag)
{
	char name[32];
	const struct field *f;
	size_t i;

	for (i = 0; i < cli_n_job_options && cli_job_options[i].val != opt; i++)
		;
	if (i == cli_n_job_options)
		return NULL;
	*flag = cli_job_options[i].name;
	snprintf(name, sizeof(name), "%s", *flag);
	for (char *p = name; *p; p++)
		*p = *p == '-' ? '_' : *p;
	*base = job;
	if ((f = field_find(job_fields, name)))
		return f->cli ? f : NULL;
	*base = &job->limits;
	f = field_find(limit_fields, name);
	return f && f->cli ? f : NULL;
}

/* --prompt TEXT or --prompt-file FILE ("-": stdin), read whole up to one byte past the
 * job's cap so an oversized prompt is named, not cut; job_resolve checks the rest. */
static int cli_prompt_option(const char *cmd, int opt, const char *arg, struct job *job)
{
	size_t cap = JOB_PROMPT_MAX + 1, n = 0;
	ssize_t got;
	char *buf;
	int fd;

	if (job->prompt)
		return cli_usage_error(cmd, "give one prompt: --prompt or --prompt-file, once");
	if (opt == OPT_PROMPT) {
		job->prompt = strdup(arg);
		job->prompt_len = strlen(arg);
		return job->prompt ? 0 : cli_usage_error(cmd, "out of memory for the prompt");
	}
	fd = strcmp(arg, "-") ? open(arg, O_RDONLY | O_CLOEXEC | O_NOCTTY) : dup(0);
	if (fd < 0)
		return cli_usage_error(cmd, "cannot read the prompt file %s: %s", arg,
				       strerror(errno));
	if (!(buf = malloc(cap + 1))) {
		close(fd);
		return cli_usage_error(cmd, "out of memory for the prompt");
	}
	while (n < cap && (got = read(fd, buf + n, cap - n)) != 0) {
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			int e = errno;
			close(fd);
			free(buf);
			return cli_usage_error(cmd, "cannot read the prompt file %s: %s", arg,
					       strerror(e));
		}
		n += (size_t)got;
	}
	close(fd);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	job->prompt = buf;
	job->prompt_len = n;
	return 0;
}

int cli_script_or_prompt(const char *cmd, int argc, char **argv, int first, const struct job *job,
			 const char **script)
{
	*script = NULL;
	if (job->prompt) {
		if (first != argc)
			return cli_usage_error(cmd, "give a SCRIPT or a prompt, not both");
		return 0;
	}
	if (first != argc - 1)
		return cli_usage_error(cmd,
				       "expected exactly one SCRIPT (or --prompt TEXT); see "
				       "reelbox %s --help",
				       cmd);
	*script = argv[first];
	return 0;
}

/* --fps RATE (job_parse_fps): a rate of 0 or a zero denominator is refused here, the
 * rest of the range by job_resolve, as for a job document. */
static int cli_fps_option(const char *cmd, const char *arg, struct job *job)
{
	int num, den;

	if (job_parse_fps(arg, &num, &den) < 0)
		return cli_usage_error(cmd,
				       "--fps '%s' is not a rate: give a whole number, N/D such as "
				       "30000/1001, or 23.976, 29.97, 47.952, 59.94, 119.88",
				       arg);
	if (den < 1)
		return cli_usage_error(
		    cmd, "--fps '%s' is not a rate: the denominator must be at least 1", arg);
	if (num < 1)
		return cli_usage_error(cmd, "--fps '%s' is not allowed: it must be from 1 to 120",
				       arg);
	job->fps = num;
	job->fps_den = den;
	return 0;
}

int cli_job_option(const char *cmd, int opt, const char *arg, struct job *job,
		   struct cli_job_args *ja)
{
	const struct field *f;
	const char *flag;
	char *end;
	void *base;
	double d;

	switch (opt) {
	case OPT_SIZE:
		if (job_parse_size(arg, &job->width, &job->height) < 0)
			return cli_usage_error(
			    cmd, "--size '%s' is not WIDTHxHEIGHT, e.g. 1280x720", arg);
		return 0;
	case OPT_DURATION:
		errno = 0;
		d = strtod(arg, &end);
		if (errno || end == arg || *end || !isfinite(d) || d <= 0)
			return cli_usage_error(
			    cmd, "--duration '%s' is not a positive number of seconds", arg);
		ja->duration = d;
		return 0;
	case OPT_CONFIG:
		ja->config_path = arg;
		return 0;
	case OPT_FPS:
		return cli_fps_option(cmd, arg, job);
	case OPT_PROMPT:
	case OPT_PROMPT_FILE:
		return cli_prompt_option(cmd, opt, arg, job);
	case OPT_FRAMES_PER_CHUNK:
		errno = 0;
		job->frames_per_chunk = strtoll(arg, &end, 10);
		if (errno || end == arg || *end || job->frames_per_chunk < 1)
			return cli_usage_error(
			    cmd, "--frames-per-chunk '%s' is not a positive whole number", arg);
		return 0;
	}
	if (!(f = job_option_field(opt, job, &base, &flag)))
		return cli_usage_error(cmd, "unknown option");
	if (field_from_text(f, base, arg) < 0)
		return cli_usage_error(cmd, "--%s '%s' %s", flag, arg, f->cli);
	if (opt == OPT_FRAMES)
		ja->have_frames = 1;
	return 0;
}

int cli_load_config(const char *cmd, const char *path, struct config *cfg)
{
	char err[512];

	config_defaults(cfg);
	if (!path)
		path = getenv("REELBOX_CONFIG");
	if (!path && access("/etc/reelbox/config.json", F_OK) == 0)
		path = "/etc/reelbox/config.json";
	if (path && config_load_file(cfg, path, err, sizeof(err)) < 0)
		return cli_usage_error(cmd, "%s", err);
	if (config_load_env(cfg, err, sizeof(err)) < 0)
		return cli_usage_error(cmd, "%s", err);
	return 0;
}

void cli_tiers_for_command(struct config *cfg)
{
	if (!cfg->tiers.from_file)
		cfg->tiers.enabled = TIER_BIT(SANDBOX_TIER_COUNT) - 1;
}

int cli_check_tier(const char *cmd, const struct config *cfg, enum sandbox_tier t, char *info,
		   size_t infolen)
{
	const struct gvisor_settings *g = &cfg->gvisor;
	struct sandbox_gvisor_options o = {
	    .runsc = g->runsc[0] ? g->runsc : NULL,
	    .platform = g->platform[0] ? g->platform : NULL,
	    .overhead_memory_bytes = (uint64_t)g->overhead_memory_mb << 20,
	    .overhead_pids = g->overhead_pids,
	};
	char own[256], err[512];

	if (sandbox_gvisor_configure(&o, err, sizeof(err)) < 0)
		return cli_usage_error(cmd, "tier gvisor cannot start: %s", err);
	/* Checked before any job, never worked around: a tier that cannot start is an
	 * error, not a quiet run in another tier. */
	if (sandbox_tier_check(t, info ? info : own, info ? infolen : sizeof(own), err,
			       sizeof(err)) < 0)
		return cli_usage_error(cmd, "tier %s cannot start: %s", sandbox_tier_name(t), err);
	return 0;
}

int cli_load_script(const char *cmd, const char *path, const struct config *cfg, struct job *job)
{
	struct stat st;
	const char *base = strrchr(path, '/');
	char *buf;
	size_t used = 0;
	int fd;

	base = base ? base + 1 : path;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cli_usage_error(cmd, "cannot open script '%s': %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return cli_usage_error(cmd, "script '%s' is not a regular file", path);
	}
	if ((size_t)st.st_size > cfg->max_script_bytes) {
		close(fd);
		return cli_usage_error(cmd,
				       "script '%s' is %lld bytes, above the limit of %zu bytes",
				       path, (long long)st.st_size, cfg->max_script_bytes);
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return cli_usage_error(cmd, "out of memory reading '%s'", path);
	}
	while (used < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + used, (size_t)st.st_size - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		used += (size_t)n;
	}
	close(fd);
	buf[used] = '\0';
	free(job->script);
	job->script = buf;
	job->script_len = used;
	if (strlen(base) >= sizeof(job->script_name))
		return cli_usage_error(cmd, "script name '%s' is too long", base);
	snprintf(job->script_name, sizeof(job->script_name), "%s", base);
	return 0;
}

int cli_resolve_job(const char *cmd, struct job *job, const struct cli_job_args *ja,
		    const struct config *cfg)
{
	char err[512];

	if (ja->duration > 0) {
		if (ja->have_frames)
			return cli_usage_error(cmd, "give --frames or --duration, not both");
		double fps =
		    job->fps > 0 && job->fps_den > 0 ? (double)job->fps / job->fps_den : 30;
		double f = ceil(ja->duration * fps - 1e-9);
		if (f < 1 || f > (double)INT64_MAX / 2)
			return cli_usage_error(cmd, "--duration %g gives no usable frame count",
					       ja->duration);
		job->frames = (int64_t)f;
	}
	if (job_resolve(job, cfg, err, sizeof(err)) < 0)
		return cli_usage_error(cmd, "%s", err);
	return 0;
}

/* A malloc'd, well-formed UTF-8 copy of s for the result document (NULL stays NULL). */
static char *json_text(const char *s, int *oom)
{
	size_t n;
	char *t;

	if (!s)
		return NULL;
	n = strlen(s);
	t = malloc(UTF8_SANITIZED_MAX(n));
	if (!t) {
		*oom = 1;
		return NULL;
	}
	utf8_sanitize(t, UTF8_SANITIZED_MAX(n), s, n);
	return t;
}

json_t *cli_limits_json(void)
{
	struct sandbox_enforcement e;
	json_t *o, *on = json_array(), *off = json_array();

	sandbox_enforcement(&e);
	for (int i = 0; on && i < e.n_enforced; i++)
		json_array_append_new(on, json_string(e.enforced[i]));
	for (int i = 0; off && i < e.n_not_enforced; i++)
		json_array_append_new(off, json_string(e.not_enforced[i]));
	o = json_pack("{s:s, s:b, s:s, s:o?, s:o?, s:s}", "cgroup", e.cgroup, "rootless",
		      e.rootless, "slot_uids", e.slot_uids, "enforced", on, "not_enforced", off,
		      "summary", e.summary);
	return o;
}

void cli_tell_limits(const char *cmd)
{
	struct sandbox_enforcement e;

	sandbox_enforcement(&e);
	/* Said whenever a job gets less than root with cgroups gives it: never silently. */
	if (e.rootless || e.n_not_enforced)
		fprintf(stderr, "reelbox %s: %s\n", cmd, e.summary);
}

/* The poster beside the video (render/poster.c): named after output as the runner named
 * it after the file it wrote (the worker records a video under another name than the
 * one it rendered to, and moves the poster with it), the frame it shows, its cost. */
static int add_poster(json_t *o, const struct runner_result *res, const char *output)
{
	char path[PATH_MAX];
	int oom = 0, rc;
	char *p;

	if (!output || runner_poster_path(output, path, sizeof(path)) < 0)
		return 0;
	p = json_text(path, &oom);
	rc = oom || !p || json_object_set_new(o, "poster", json_string(p)) < 0 ||
		     json_object_set_new(o, "poster_frame", json_integer(res->poster_frame)) < 0 ||
		     json_object_set_new(json_object_get(o, "timings"), "poster_ms",
					 json_integer((json_int_t)res->poster_ms)) < 0
		 ? -ENOMEM
		 : 0;
	free(p);
	return rc;
}

/* The contact sheet beside the video, named after output as the poster is, and how many
 * of its cells hold their frame. */
static int add_sheet(json_t *o, const struct runner_result *res, const char *output)
{
	char path[PATH_MAX];
	int oom = 0, rc;
	char *p;

	if (!output || runner_sheet_path(output, path, sizeof(path)) < 0)
		return 0;
	p = json_text(path, &oom);
	rc = oom || !p || json_object_set_new(o, "contact_sheet", json_string(p)) < 0 ||
		     json_object_set_new(o, "contact_sheet_cells",
					 json_integer(res->sheet_filled)) < 0
		 ? -ENOMEM
		 : 0;
	free(p);
	return rc;
}

/* The audio track: the file the job named, the codec, the track's length (exactly the
 * video's, in 48 kHz samples), the source's own, and whether it was trimmed or padded. */
static int add_audio(json_t *o, const struct runner_result *res)
{
	static const char *const fits[] = {"exact", "trimmed", "padded"};
	int oom = 0, rc;
	char *name = json_text(res->audio_name, &oom);
	char *codec = json_text(res->audio_codec, &oom);

	rc = oom || !name || !codec ||
		     json_object_set_new(
			 o, "audio",
			 json_pack("{s:s, s:s, s:f, s:f, s:s}", "name", name, "codec", codec,
				   "duration_s", (double)res->audio_samples / 48000.0,
				   "source_duration_s", res->audio_source_s, "fitted",
				   fits[res->audio_fitted >= 0 && res->audio_fitted <= 2
					    ? res->audio_fitted
					    : 0])) < 0
		 ? -ENOMEM
		 : 0;
	free(name);
	free(codec);
	return rc;
}

/* Every string goes through utf8_sanitize() first, whatever its source (the script's log,
 * an error quoting a path or a stream, an operator's path): jansson refuses ill-formed
 * UTF-8, and a script must not be able to make the result unbuildable. What is left to
 * fail is memory. */
char *cli_result_json(const struct runner_result *res, const char *output, const char *worker,
		      json_t *extra)
{
	int oom = 0;
	char *log = json_text(res->log_tail, &oom);
	char *error = json_text(res->error, &oom);
	char *out = json_text(output, &oom);
	char *who = json_text(worker, &oom), *text = NULL;
	json_t *o = NULL;

	if (oom)
		goto done;
	o = json_pack("{s:s, s:s?, s:I, s:i, s:i, s:i, s:I, s:s?, s:s?, s:i, s:i, s:s, "
		      "s:s, s:{s:I, s:I, s:I, s:I}}",
		      "status", res->succeeded ? "succeeded" : "failed", "output",
		      res->succeeded ? out : NULL, "frames", (json_int_t)res->frames, "width",
		      res->width, "height", res->height, "fps", res->fps, "bytes",
		      (json_int_t)res->bytes, "sha256", res->succeeded ? res->sha256 : NULL,
		      "error", res->succeeded ? NULL : error, "exit_code", res->exit_code, "signal",
		      res->signal, "log", log, "tier", sandbox_tier_name(res->tier), "timings",
		      "total_ms", (json_int_t)res->total_ms, "sandbox_ms",
		      (json_int_t)res->sandbox_ms, "first_frame_ms",
		      (json_int_t)res->first_frame_ms, "encode_ms", (json_int_t)res->encode_ms);
	if (!o)
		goto done;
	/* "fps" stays a number for readers that do arithmetic with it (29.97002997... at
	 * 30000/1001); "frame_rate" is the exact rate, as the job document takes it. */
	if ((res->fps_den > 1 &&
	     json_object_set_new(o, "fps", json_real((double)res->fps / res->fps_den)) < 0) ||
	    json_object_set_new(
		o, "frame_rate",
		json_sprintf("%d/%d", res->fps, res->fps_den > 0 ? res->fps_den : 1)) < 0)
		goto done;
	/* What the job cost, each part measured where it ran: the script's sandbox and the
	 * encoder's process (their cgroups), so an operator can see who used what. */
	if (json_object_set_new(
		o, "usage",
		json_pack("{s:I, s:I, s:I, s:I}", "script_cpu_ms", (json_int_t)res->script_cpu_ms,
			  "script_peak_memory_bytes", (json_int_t)res->peak_memory_bytes,
			  "encoder_cpu_ms", (json_int_t)res->encoder_cpu_ms,
			  "encoder_peak_memory_bytes",
			  (json_int_t)res->encoder_peak_memory_bytes)) < 0)
		goto done;
	/* "warm": a warm pool's sandbox ran it (pool.h), so a reader can tell the starts;
	 * "limits": which held (cgroup, rlimits, wall clock), so a result never overstates */
	if ((who && json_object_set_new(o, "worker", json_string(who)) < 0) ||
	    (res->warm && json_object_set_new(o, "warm", json_true()) < 0) ||
	    json_object_set_new(o, "limits", cli_limits_json()) < 0)
		goto done;
	/* The stream's checks (render/checks.c): likely mistakes that did not fail the job,
	 * and whether the frame count cut the stream short. */
	if (json_object_set_new(o, "frame_cap_hit", json_boolean(res->frame_cap_hit)) < 0 ||
	    json_object_set_new(o, "warnings", json_array()) < 0)
		goto done;
	for (int i = 0; i < res->n_warnings && i < RUNNER_MAX_WARNINGS; i++) {
		char *w = json_text(res->warnings[i], &oom);
		int bad =
		    !w || json_array_append_new(json_object_get(o, "warnings"), json_string(w)) < 0;
		free(w);
		if (bad)
			goto done;
	}
	if (res->succeeded && res->poster[0] && add_poster(o, res, output) < 0)
		goto done;
	if (res->succeeded && res->contact_sheet[0] && add_sheet(o, res, output) < 0)
		goto done;
	if (res->succeeded && res->audio_name[0] && add_audio(o, res) < 0)
		goto done;
	/* A prompt job's prompt, script and attempts (jobrun.c), strings already well-formed. */
	if (extra && json_object_update(o, extra) < 0)
		goto done;
	text = json_dumps(o, JSON_COMPACT);
done:
	json_decref(o);
	free(log);
	free(error);
	free(out);
	free(who);
	return text;
}

int cli_print_result_json(FILE *out, const struct runner_result *res, json_t *extra)
{
	char *text = cli_result_json(res, res->output, NULL, extra);
	int rc = 0;

	if (!text) {
		/* A fixed document, so stdout still holds the one JSON object it promises. */
		fputs("{\"status\":\"failed\",\"error\":\"internal error: cannot build the JSON "
		      "summary\"}\n",
		      out);
		rc = -ENOMEM;
	} else if (fprintf(out, "%s\n", text) < 0) {
		rc = -EIO;
	}
	free(text);
	if (fflush(out) != 0 && rc == 0)
		rc = -EIO;
	return rc;
}

const char *cli_redis_url(const char *flag, const struct config *cfg)
{
	const char *env = getenv("REELBOX_REDIS_URL");

	if (flag)
		return flag;
	if (env && *env)
		return env;
	return cfg->redis_url[0] ? cfg->redis_url : "redis://127.0.0.1:6379";
}

/* OpenSSL is loaded on first use (lazylib.h): for rediss://, when the queue opens. */
static int load_ssl(char *err, size_t errlen)
{
	return rb_lib_load(RB_LIB_SSL, err, errlen);
}

void cli_queue_opts(struct queue_opts *qo, const struct config *cfg)
{
	queue_opts_init(qo);
	qo->lease_ms = cfg->lease_s * 1000;
	qo->result_ttl_s = cfg->result_ttl_s;
	qo->max_attempts = (uint32_t)cfg->max_attempts;
	qo->tls_ca = cfg->redis_ca;
	qo->tls_cert = cfg->redis_cert;
	qo->tls_key = cfg->redis_key;
	qo->tls_prepare = load_ssl;
}

int cli_open_queue(const char *cmd, const char *url, const struct config *cfg, struct queue **q)
{
	struct queue_opts qo;
	char err[QUEUE_ERR_MAX + 256]; /* a TLS failure's sentence is long */
	const char *warn = queue_url_warning(url);

	cli_queue_opts(&qo, cfg);
	if (warn)
		fprintf(stderr, "reelbox %s: warning: %s\n", cmd, warn);
	if (queue_open(q, url, &qo, err, sizeof(err)) < 0)
		return cli_usage_error(cmd, "%s", err);
	return 0;
}

int cli_refuse_url_in_argv(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		const char *v = NULL;
		if (!strcmp(argv[i], "--redis") && i + 1 < argc)
			v = argv[i + 1];
		else if (!strncmp(argv[i], "--redis=", 8))
			v = argv[i] + 8;
		/* /proc/<pid>/cmdline is world-readable: a password there is everyone's. */
		if (v && queue_url_has_password(v))
			return cli_usage_error(argv[0],
					       "--redis must not carry a password (any user can "
					       "read a command line): put the URL in "
					       "REELBOX_REDIS_URL or the config file's redis_url");
	}
	return 0;
}
