/* specs.c - a job becomes a sandbox_spec and a render_spec (why: specs.h). */
#define _GNU_SOURCE
#include "specs.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The encoder's threads: x264 runs about 1.5 per core of quota well; the encoder's
 * cgroup allows 64 tasks, so the host's core count is never the measure. */
#define ENCODER_THREADS_PER_CPU 1.5
#define ENCODER_THREADS_MAX	16
#define ENCODER_THREADS_NO_CPUS 2
/* Up to this many pixels a frame, one thread: x264's frame threads (and their lookahead
 * thread and buffers) cost 10% more CPU at 160x120 and 320x240 and a quarter of a tiny
 * job's encoder (64x48: 46 -> 35 ms) for no gain in time. */
#define ENCODER_ONE_THREAD_PIXELS (320 * 240)
#define ENCODER_PIDS		  64
#define ENCODER_PIDS_AV1	  128 /* SVT-AV1's ~87 threads at lp=2 (render/encode.c) */

/* The environment is built twice over one list: once to measure, once to fill the
 * single allocation (the strings right after the NULL-terminated vector). */
struct env_build {
	char **vec; /* NULL while measuring */
	char *str;
	size_t n, used, cap;
};

static void env_add(struct env_build *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void env_add(struct env_build *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(b->vec ? b->str + b->used : NULL, b->vec ? b->cap - b->used : 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (b->vec)
		b->vec[b->n] = b->str + b->used;
	b->n++;
	b->used += (size_t)n + 1;
}

/* FPS as a number any script parses with float(): "30", or 29.97 for 30000/1001 (three
 * decimals, trailing zeros cut). Only the contract's names go in: a broadcast decimal
 * names its rate exactly (29.97 is 30000/1001; docs/writing-scripts.md). */
static void env_fps(struct env_build *b, const struct job *job)
{
	char dec[32];

	job_fps_decimal(job, dec, sizeof(dec));
	env_add(b, "FPS=%s", dec);
}

static void env_list(struct env_build *b, const struct job *job, const struct runtime *rt,
		     const char *const *extra)
{
	if (job) {
		env_add(b, "WIDTH=%d", job->width);
		env_add(b, "HEIGHT=%d", job->height);
		env_fps(b, job);
		env_add(b, "FRAMES=%lld", (long long)job->frames);
		env_add(b, "PIX_FMT=%s", job->pix_fmt[0] ? job->pix_fmt : "rgb24");
		/* A chunk's range (docs/writing-scripts.md); FRAMES stays the whole job's, so a
		 * script computes frame n exactly as the whole render would. */
		if (job->chunk.parent[0]) {
			env_add(b, "FRAME_START=%lld", (long long)job->chunk.start);
			env_add(b, "FRAME_COUNT=%lld", (long long)job->chunk.count);
		}
	}
	env_add(b, "SCRATCH=%s", "/scratch");
	env_add(b, "HOME=%s", "/scratch");
	env_add(b, "PATH=%s", "/usr/local/bin:/usr/bin:/bin");
	env_add(b, "LANG=%s", "C.UTF-8");
	for (int i = 0; rt && i < rt->n_env; i++)
		env_add(b, "%.127s", rt->env[i]);
	for (size_t i = 0; extra && extra[i]; i++)
		env_add(b, "%s", extra[i]);
}

char **job_env(const struct job *job, const struct runtime *rt, const char *const *extra)
{
	struct env_build measure = {0}, fill;
	char **vec;

	env_list(&measure, job, rt, extra);
	vec = calloc(1, (measure.n + 1) * sizeof(char *) + measure.used);
	if (!vec)
		return NULL;
	fill = (struct env_build){
	    .vec = vec, .str = (char *)(vec + measure.n + 1), .cap = measure.used};
	env_list(&fill, job, rt, extra);
	vec[fill.n] = NULL;
	return vec;
}

uint64_t job_cpu_seconds(uint32_t timeout_s)
{
	return (uint64_t)timeout_s * 2 + 10;
}

void job_timeout_sentence(char *buf, size_t len, uint32_t timeout_s)
{
	snprintf(buf, len, "wall-clock timeout of %u s reached", timeout_s);
}

/* The script's box from the job's limits, without a deadline (see specs.h). */
static struct sandbox_limits box_limits(const struct job_limits *lim)
{
	return (struct sandbox_limits){
	    .memory_bytes = (uint64_t)lim->memory_mb << 20,
	    .scratch_bytes = (uint64_t)lim->scratch_mb << 20,
	    .pids = lim->pids,
	    .cpus = lim->cpus,
	    .cpu_seconds = job_cpu_seconds(lim->timeout_s),
	};
}

int job_sandbox_spec(struct job_sandbox *box, const struct job *job, const struct config *cfg,
		     unsigned slot, char *err, size_t errlen)
{
	const struct runtime *rt = config_find_runtime(cfg, job->runtime);

	memset(box, 0, sizeof(*box));
	if (!rt) {
		snprintf(err, errlen, "unknown runtime '%s'", job->runtime);
		return -EINVAL;
	}
	box->env = job_env(job, rt, NULL);
	if (!box->env)
		return -ENOMEM;
	snprintf(box->script_path, sizeof(box->script_path), "/job/%s", job->script_name);
	box->argv[0] = rt->path;
	box->argv[1] = box->script_path;
	if (job->n_join_fds > 0) {
		/* The join runs no script: a sandbox that exits at once still gives the
		 * encoder its helper box, which lives until the sandbox is destroyed. */
		box->argv[0] = "/bin/true";
		box->argv[1] = NULL;
	}
	box->file = (struct sandbox_file){
	    .name = job->script_name, .data = job->script, .len = job->script_len};
	box->spec = (struct sandbox_spec){
	    .tier = job->resolved_tier,
	    .argv = box->argv,
	    .envp = (const char *const *)box->env,
	    .files = &box->file,
	    .n_files = 1,
	    .stdin_fd = -1,
	    .stdout_fd = -1,
	    .stderr_fd = -1,
	    .slot = slot,
	    .state_dir = cfg->state_dir[0] ? cfg->state_dir : NULL,
	    .limits = box_limits(&job->limits),
	    /* The encoder's box: memory from size and preset (admitted against the
	     * operator's maximum), the job's cpu quota, CPU seconds for its wall clock. */
	    .helper =
		{
		    .enabled = 1,
		    .memory_bytes = job_encoder_memory(job),
		    .pids = strcmp(job->codec, "av1") ? ENCODER_PIDS : ENCODER_PIDS_AV1,
		    .cpus = job->limits.cpus,
		    .cpu_seconds = job_cpu_seconds(job->limits.timeout_s),
		},
	};
	return 0;
}

int exec_sandbox_spec(struct job_sandbox *box, const struct config *cfg,
		      const struct job_limits *lim, const char *const *argv,
		      const char *const *extra_env)
{
	memset(box, 0, sizeof(*box));
	box->env = job_env(NULL, NULL, extra_env);
	if (!box->env)
		return -ENOMEM;
	box->spec = (struct sandbox_spec){
	    .tier = cfg->tiers.dflt,
	    .argv = argv,
	    .envp = (const char *const *)box->env,
	    .stdin_fd = -1,
	    .stdout_fd = -1,
	    .stderr_fd = -1,
	    .state_dir = cfg->state_dir[0] ? cfg->state_dir : NULL,
	    .limits = box_limits(lim),
	};
	/* No runner watches this sandbox: sandbox_wait() keeps its wall clock. */
	box->spec.limits.timeout_ms = (uint64_t)lim->timeout_s * 1000;
	return 0;
}

void job_sandbox_free(struct job_sandbox *box)
{
	free(box->env);
	box->env = NULL;
}

void job_render_spec(const struct job *job, const char *output, struct render_spec *out)
{
	int threads = job->limits.cpus > 0 ? (int)ceil(job->limits.cpus * ENCODER_THREADS_PER_CPU)
					   : ENCODER_THREADS_NO_CPUS;

	if ((int64_t)job->width * job->height <= ENCODER_ONE_THREAD_PIXELS)
		threads = 1;

	*out = (struct render_spec){
	    .width = job->width,
	    .height = job->height,
	    .fps = job->fps,
	    .fps_num = job->fps,
	    .fps_den = job->fps_den > 0 ? job->fps_den : 1,
	    .codec = job->codec[0] ? job->codec : NULL,
	    .pix_fmt = job->pix_fmt,
	    .max_frames = job->frames,
	    .output = output,
	    .crf = job->crf,
	    .preset = job->preset[0] ? job->preset : NULL,
	    .threads = threads > ENCODER_THREADS_MAX ? ENCODER_THREADS_MAX : threads,
	};
	if (job->chunk.parent[0]) {
		/* The chunk intermediate, cut at the range: a script that ignores its range
		 * hits this ceiling (frame_cap_hit), which the worker reports. */
		out->chunk = 1;
		out->chunk_first_frame = job->chunk.start;
		out->max_frames = job->chunk.count;
	}
}
