/* job.h - a render job, the operator's configuration, and the rules between them.
 *
 * A job is filled from CLI options (reelbox run/submit) or from a JSON document
 * (the queue), then validated field by field against the operator's configuration;
 * each rule that fails gives one sentence saying what is wrong and what is allowed.
 */
#ifndef REELBOX_JOB_H
#define REELBOX_JOB_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "tier.h"

#define JOB_ID_MAX	     64
#define JOB_NAME_MAX	     128
#define JOB_MAX_RUNTIMES     16
#define JOB_MAX_RUNTIME_ENV  8
#define JOB_MAX_RUNTIME_PKGS 24
#define JOB_PROMPT_MAX	     16384 /* bytes of a prompt job's prompt */

struct job_limits {
	uint32_t timeout_s;
	uint32_t memory_mb;
	uint32_t pids;
	uint32_t scratch_mb;
	double cpus;
};

/* One interpreter the operator allows: name -> absolute path, plus fixed env. */
struct runtime {
	char name[32];
	char path[PATH_MAX]; /* e.g. /usr/bin/python3, never a PATH lookup */
	char ext[8][16];     /* extensions that default to it: ".py" */
	int n_ext;
	char env[JOB_MAX_RUNTIME_ENV][128]; /* "PYTHONDONTWRITEBYTECODE=1" */
	int n_env;
	/* What the operator offers scripts beyond the interpreter: importable modules
	 * ("numpy", "PIL") or, for a shell, commands ("ffmpeg"). Told to authors in failure
	 * hints and checked inside a sandbox by `reelbox runtimes`. */
	char packages[JOB_MAX_RUNTIME_PKGS][48];
	int n_packages;
};

/* The model a prompt job's script comes from (config "model", REELBOX_MODEL_*). The key
 * is not here: modelcfg.c reads it at start into the worker's memory only. */
struct model_settings {
	char api[16];		 /* "openai" (default) or "anthropic" */
	char url[512];		 /* the API base, e.g. http://127.0.0.1:8000/v1; "" = none */
	char name[128];		 /* the request's "model" */
	char key_env[64];	 /* the variable holding the key; "" = REELBOX_MODEL_KEY */
	char key_file[PATH_MAX]; /* else a file holding it (mode 0600 or stricter) */
	int max_attempts;	 /* model answers tried per job, 1..10 (3) */
	uint32_t timeout_s;	 /* one model call, retries included in each exchange (120) */
};

/* The warm pool (pool.h, config "pool"): sandboxes started ahead of their job. */
struct pool_settings {
	int python3;	    /* warm python3 sandboxes kept ready, 0..64 (0: no pool) */
	uint32_t max_age_s; /* a ready one older than this is replaced, 10..86400 (600) */
	int zygote;	    /* 1: members are forked from a warmed interpreter (zygote.h) */
};

struct config {
	struct runtime runtimes[JOB_MAX_RUNTIMES];
	int n_runtimes;
	struct job_limits defaults; /* what a job gets when it asks for nothing */
	struct job_limits maxima;   /* what a job may ask for at most */
	int64_t max_frames;	    /* the operator's frame cap */
	size_t max_script_bytes;
	uint32_t encoder_memory_mb; /* the most memory one job's encoder process may get */
	char state_dir[PATH_MAX];   /* sandbox state, swept at start */
	char output_dir[PATH_MAX];  /* worker outputs */
	char redis_url[256];
	/* rediss:// (docs/queue.md, "Redis over TLS"): the CA file (empty: the system store),
	 * a client certificate and its key (empty: none). */
	char redis_ca[PATH_MAX];
	char redis_cert[PATH_MAX];
	char redis_key[PATH_MAX];
	int concurrency;
	uint32_t lease_s;
	uint32_t result_ttl_s;
	int max_attempts;
	struct model_settings model;
	int keep_uploaded; /* an uploaded video stays in output_dir too (default: removed) */
	struct pool_settings pool;
	struct tier_settings tiers;    /* "tiers": which exist, the default, the rules */
	struct gvisor_settings gvisor; /* "gvisor": how the gvisor tier runs runsc */
};

struct job {
	char id[JOB_ID_MAX];
	char *script; /* owned; the script's bytes (NULL in a prompt job) */
	size_t script_len;
	char *prompt; /* owned; a prompt job's request to the model (NULL in a script job) */
	size_t prompt_len;
	char script_name[JOB_NAME_MAX]; /* file name shown under /job/, e.g. "render.py" */
	char runtime[32];		/* empty: from the script's extension */
	char tier[8];			/* "native" "gvisor"; empty: the operator's say */
	/* The tier it runs in, from job_resolve (tier_resolve), and whether its script came
	 * from a model (a prompt job's attempt, whose prompt is gone): neither a field. */
	enum sandbox_tier resolved_tier;
	int from_prompt;
	int width, height;
	/* The rate, exact: fps/fps_den frames a second (30000/1001 for 29.97), reduced;
	 * fps_den is 1 for a whole rate. "fps" in the document (job_parse_fps). */
	int fps, fps_den;
	int64_t frames;	       /* 0: ceil(fps * 5) */
	int64_t poster_frame;  /* the poster's frame (0-based, below frames); -1: picked */
	int64_t still;	       /* reelbox run --still: this frame as a PNG, no video; -1: a video */
	char contact_sheet[8]; /* "COLSxROWS" ("4x3"), 1..10 each; "": no sheet */
	int sheet_cols, sheet_rows; /* contact_sheet as job_resolve read it; 0: none */
	/* A file the script writes in $SCRATCH, muxed as the video's audio track (AAC in
	 * MP4/MOV, Opus in WebM): a relative path of [A-Za-z0-9._-] components, no "." or
	 * "..", 1..255 bytes (job_check_audio_name); "": no audio. */
	char audio[256];
	char pix_fmt[16];
	char format[8];		  /* "mp4" "webm" "gif" "mov" */
	char codec[8];		  /* "h264" "hevc" "vp9" "av1" "prores"; empty: the format's */
	int crf;		  /* -1: encoder default */
	char preset[16];	  /* empty: encoder default */
	struct job_limits limits; /* 0 fields: operator default */
	int retries;		  /* retries a deterministic script failure is allowed (queue) */
	/* Delivery (delivery.h): a presigned PUT URL and its extra "Name: value" headers
	 * (NULL-terminated), and a webhook URL; owned, NULL when absent. */
	char *upload_url;
	char **upload_headers;
	char *webhook_url;
	/* A chunked job (docs/jobs.md, "Chunked jobs"): "chunks", 2..JOB_CHUNKS_MAX frame
	 * ranges rendered by any workers and joined; 0: rendered whole. frames_per_chunk is
	 * submit's --frames-per-chunk, turned into chunks by job_resolve (not a field). */
	int chunks;
	int64_t frames_per_chunk;
	/* "chunk": the frame range a child renders, written by the worker that split its
	 * parent; honoured only when the queue's claim says the job is that child. */
	struct job_chunk {
		char parent[JOB_ID_MAX]; /* "": not a chunk */
		int index;
		int64_t start, count;
	} chunk;
	int join; /* "join": true: the split parent's delivery that joins its chunks */
	/* The join's chunk files, opened by the worker (not a field): the job's sandbox runs
	 * nothing and its encoder joins these (encoder_spawn_join). Lent, not owned. */
	const int *join_fds;
	int n_join_fds;
};

#define JOB_CHUNKS_MAX 64

/* The frames of chunk k of n over frames, as even as possible: the first frames % n
 * chunks get one frame more. */
void job_chunk_range(int64_t frames, int n, int k, int64_t *start, int64_t *count);

/* Whether name may be a job's "audio": 1..255 bytes, '/'-separated components of
 * [A-Za-z0-9._-], none empty, "." or "..", no leading '/'. 0, or -EINVAL with one
 * sentence. */
int job_check_audio_name(const char *name, char *err, size_t errlen);

/* Fill cfg with the built-in defaults (runtimes python3 sh node lua, sane limits). */
void config_defaults(struct config *cfg);

/* Overlay a JSON config file on cfg. Unknown keys are an error. */
int config_load_file(struct config *cfg, const char *path, char *err, size_t errlen);

/* Overlay REELBOX_* environment variables (REELBOX_REDIS_URL, ...). */
int config_load_env(struct config *cfg, char *err, size_t errlen);

const struct runtime *config_find_runtime(const struct config *cfg, const char *name);

/* The runtime a script name defaults to by extension, or NULL. */
const struct runtime *config_runtime_for_script(const struct config *cfg, const char *name);

/* A job with every field unset (script NULL, crf -1, ...). */
void job_init(struct job *job);
void job_free(struct job *job);

/* Fill unset fields from the config (runtime from extension, frames = fps*5, limits from
 * defaults) and check every rule. 0, or -EINVAL with one sentence in err. */
int job_resolve(struct job *job, const struct config *cfg, char *err, size_t errlen);

/* Memory the job's encoder process gets (its cgroup limit), in bytes: from size,
 * format and preset (render_memory_estimate). */
uint64_t job_encoder_memory(const struct job *job);

/* 0 if id is 1..63 of [A-Za-z0-9_-] (safe as a file name in the output dir and as part
 * of a Redis key), else -EINVAL with one sentence in err. */
int job_check_id(const char *id, char *err, size_t errlen);

/* Parse a frame rate: a whole number ("30"), a fraction N/D ("30000/1001"), or one of
 * the broadcast decimals 23.976, 29.97, 47.952, 59.94, 119.88 (N*1000/1001) or a
 * decimal that is whole ("25.0"). Any other decimal is refused: 29.98 is no rate a
 * player knows, and reading it as 2998/100 would hide a typo. Not reduced and not
 * range-checked: job_resolve does both. -EINVAL on anything else. */
int job_parse_fps(const char *s, int *num, int *den);

/* "30" or "30000/1001": the rate as the job document and the CLI take it back. */
void job_fps_text(const struct job *job, char *buf, size_t len);

/* "30" or "29.97": the rate as a number any script reads with float() (three decimals at
 * most, trailing zeros cut); the script's FPS. */
void job_fps_decimal(const struct job *job, char *buf, size_t len);

/* Parse "1280x720" into w and h; -EINVAL on anything else. */
int job_parse_size(const char *s, int *w, int *h);

/* JSON form of a job (the queue's job document); job_from_json rejects unknown fields. */
char *job_to_json(const struct job *job);
int job_from_json(struct job *job, const char *json, size_t len, char *err, size_t errlen);

#endif
