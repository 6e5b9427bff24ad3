/* fuzz_job.c - libFuzzer target for the queue's job document (worker/job.c).
 *
 * Any producer that can reach Redis writes these documents, so job_from_json() and
 * job_resolve() see hostile JSON. The input is the document as the queue hands it over.
 * Besides "no crash" the target checks what job.c promises: a refused document or job
 * leaves the job as it was, the sentence can go into JSON, job_to_json() gives back a
 * document that parses to the same job (before and after resolving), and a resolved job
 * obeys every documented rule of docs/jobs.md under the built-in configuration.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_job: %s:%d: check failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static struct config cfg;

static int in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(s, *list))
			return 1;
	return 0;
}

/* The sentence ends up in the result document, the job's events and the worker's
 * JSON-lines log: it must be UTF-8, and job_show() keeps the document's control bytes
 * out of it, jansson's own error text included (it quotes the token it stopped in,
 * raw: found by this target, regression seeds job-not-json-*). */
static void check_err(const char *err)
{
	json_t *j;

	CHECK(err[0]);
	j = json_string(err);
	CHECK(j);
	json_decref(j);
	for (const char *p = err; *p; p++)
		CHECK((unsigned char)*p >= 0x20 && *p != 0x7F);
}

static void check_str(const char *s, size_t size)
{
	CHECK(strnlen(s, size) < size);
}

static int job_eq(const struct job *a, const struct job *b)
{
	return !strcmp(a->id, b->id) && a->script_len == b->script_len &&
	       !a->script == !b->script &&
	       (!a->script || !memcmp(a->script, b->script, a->script_len + 1)) &&
	       !strcmp(a->script_name, b->script_name) && !strcmp(a->runtime, b->runtime) &&
	       a->width == b->width && a->height == b->height && a->fps == b->fps &&
	       a->fps_den == b->fps_den && !strcmp(a->codec, b->codec) && a->frames == b->frames &&
	       !strcmp(a->pix_fmt, b->pix_fmt) && !strcmp(a->format, b->format) &&
	       a->crf == b->crf && !strcmp(a->preset, b->preset) &&
	       a->limits.timeout_s == b->limits.timeout_s &&
	       a->limits.memory_mb == b->limits.memory_mb && a->limits.pids == b->limits.pids &&
	       a->limits.scratch_mb == b->limits.scratch_mb && a->limits.cpus == b->limits.cpus &&
	       a->retries == b->retries;
}

/* job_from_json(job_to_json(job)) is job: the queue's producer side and the worker's
 * side must agree on every field. */
static void check_round_trip(const struct job *job)
{
	struct job back;
	char err[512] = "";
	char *doc = job_to_json(job);

	CHECK(doc);
	job_init(&back);
	if (job_from_json(&back, doc, strlen(doc), err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz_job: job_to_json gave %s, refused: %s\n", doc, err);
		abort();
	}
	CHECK(job_eq(job, &back));
	job_free(&back);
	free(doc);
}

static void check_parsed(const struct job *j)
{
	check_str(j->id, sizeof(j->id));
	check_str(j->script_name, sizeof(j->script_name));
	check_str(j->runtime, sizeof(j->runtime));
	check_str(j->pix_fmt, sizeof(j->pix_fmt));
	check_str(j->format, sizeof(j->format));
	check_str(j->preset, sizeof(j->preset));
	CHECK(!j->script || j->script[j->script_len] == '\0');
	CHECK(!j->prompt || j->prompt[j->prompt_len] == '\0');
	CHECK(j->width >= 0 && j->height >= 0 && j->fps >= 0 && j->fps_den >= 0 && j->frames >= 0);
	check_str(j->codec, sizeof(j->codec));
	CHECK(j->crf >= -1 && j->retries >= 0);
	if (j->id[0]) {
		char err[512] = "";
		CHECK(job_check_id(j->id, err, sizeof(err)) == 0);
	}
}

static void check_resolved(const struct job *j)
{
	static const char *const pix_fmts[] = {"rgb24", "rgba", "bgr24", "gray", "yuv420p", NULL};
	static const char *const formats[] = {"mp4", "webm", "gif", "mov", NULL};
	static const char *const presets[] = {"ultrafast", "superfast", "veryfast", "faster",
					      "fast",	   "medium",	"slow",	    "slower",
					      "veryslow",  "placebo",	NULL};

	check_parsed(j);
	if (j->prompt) {
		/* A prompt job: no script until an attempt brings one; a runtime only if named. */
		CHECK(!j->script && j->prompt_len > 0 && j->prompt_len <= JOB_PROMPT_MAX);
		CHECK(!memchr(j->prompt, '\0', j->prompt_len) && !j->script_name[0]);
		CHECK(!j->runtime[0] || config_find_runtime(&cfg, j->runtime));
	} else {
		CHECK(j->script && j->script_len > 0 && j->script_len <= cfg.max_script_bytes);
		CHECK(j->script_name[0] && j->script_name[0] != '.' &&
		      !strchr(j->script_name, '/'));
		CHECK(config_find_runtime(&cfg, j->runtime));
	}
	CHECK(j->width >= 2 && j->height >= 2 && j->width <= 7680 && j->height <= 4320);
	CHECK(j->width % 2 == 0 && j->height % 2 == 0);
	/* The rate, reduced: 1..120 frames a second, a denominator of at most 1001. */
	CHECK(j->fps_den >= 1 && j->fps_den <= 1001 && j->fps >= j->fps_den &&
	      (int64_t)j->fps <= 120 * (int64_t)j->fps_den);
	CHECK(j->frames >= 1 && j->frames <= cfg.max_frames);
	CHECK(in_list(j->pix_fmt, pix_fmts) && in_list(j->format, formats));
	CHECK(!j->preset[0] || in_list(j->preset, presets));
	if (j->crf != -1 && strcmp(j->format, "gif"))
		CHECK(strcmp(j->format, "mov") && j->crf >= 0 &&
		      j->crf <= (!strcmp(j->format, "webm") || !strcmp(j->codec, "av1") ? 63 : 51));
	CHECK(j->limits.timeout_s >= 1 && j->limits.timeout_s <= cfg.maxima.timeout_s);
	CHECK(j->limits.memory_mb >= 1 && j->limits.memory_mb <= cfg.maxima.memory_mb);
	CHECK(j->limits.pids >= 1 && j->limits.pids <= cfg.maxima.pids);
	CHECK(j->limits.scratch_mb >= 1 && j->limits.scratch_mb <= cfg.maxima.scratch_mb);
	CHECK(isfinite(j->limits.cpus) && j->limits.cpus > 0 && j->limits.cpus <= cfg.maxima.cpus);
	CHECK(j->retries >= 0 && j->retries < cfg.max_attempts);
	CHECK(job_encoder_memory(j) <= (uint64_t)cfg.encoder_memory_mb << 20);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	config_defaults(&cfg);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct job job, before;
	char err[512] = "";
	int r;

	job_init(&job);
	r = job_from_json(&job, (const char *)data, size, err, sizeof(err));
	if (r < 0) {
		CHECK(r == -EINVAL || r == -ENOMEM);
		check_err(err);
		job_init(&before);
		CHECK(job_eq(&job, &before)); /* a refused document changes nothing */
		return 0;
	}
	CHECK(r == 0);
	check_parsed(&job);
	check_round_trip(&job);

	before = job;
	err[0] = '\0';
	r = job_resolve(&job, &cfg, err, sizeof(err));
	if (r < 0) {
		CHECK(r == -EINVAL);
		check_err(err);
		CHECK(job_eq(&job, &before) && job.script == before.script);
	} else {
		CHECK(r == 0);
		check_resolved(&job);
		check_round_trip(&job);
	}
	job_free(&job);
	return 0;
}
