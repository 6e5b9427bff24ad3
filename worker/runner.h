/* runner.h - one job in flight: a sandboxed script feeding an encoder.
 *
 * The runner takes a job's two specs (specs.h: the sandbox_spec and the render_spec)
 * and runs them. The frames go from the script's pipe straight into an encoder process
 * inside the job's box (encoder.h); the worker only supervises, on a libuv loop: the
 * sandbox's pidfd, its stderr, the encoder's job socket and one wall clock for the
 * whole job (script, encode, finalise). Nothing here waits without a deadline. `reelbox run` drives
 * one runner on a private loop; the worker drives many on its loop.
 */
#ifndef REELBOX_RUNNER_H
#define REELBOX_RUNNER_H

#include <limits.h>
#include <stdint.h>
#include <uv.h>

#include "job.h"

#define RUNNER_LOG_TAIL	    4096
#define RUNNER_MAX_WARNINGS 4
#define RUNNER_WARNING_LEN  200

struct runner;

/* Why a job ended, for code that acts on it (the worker's retry decision, its kill
 * counters): error says it to a person, this says it to a program, so nothing has to
 * match the sentence's words. Exactly one per result, decided with the sentence. */
enum runner_end {
	RUNNER_END_SUCCEEDED = 0,
	RUNNER_END_SCRIPT_FAILED,  /* its exit status, a signal, a denied call: its own doing */
	RUNNER_END_LIMIT,	   /* a sandbox limit named in error: memory, pids, CPU, size */
	RUNNER_END_TIMEOUT,	   /* the job's wall clock ran out (script, encode or finalise) */
	RUNNER_END_CANCELLED,	   /* runner_cancel(): by request, or the worker stopping */
	RUNNER_END_BAD_STREAM,	   /* the encoder refused what the script wrote, or could not
				    * encode it (its sentence says which) */
	RUNNER_END_ENCODER_FAILED, /* the encoder died (its memory, a signal), broke its
				    * protocol or reported a file it did not write */
	RUNNER_END_INTERNAL,	   /* the host's side, not the job's: the disk refused the
				    * video (full, read-only: ENOSPC, EDQUOT, EROFS) or it could
				    * not be moved into place; another worker may succeed */
	RUNNER_END_MODEL,	   /* a prompt job's model could not be asked (jobrun.c): no
				    * answer, a refused key, an outage past every retry */
};

struct runner_result {
	int succeeded;
	enum runner_end end;
	char error[512]; /* one sentence when !succeeded */
	int exit_code;	 /* the script's, -1 when it was killed or never ran */
	int signal;	 /* the signal that killed the script, 0 if none */
	int limit_hit;	 /* a sandbox limit (timeout, memory, ...) ended the job */
	int cancelled;
	int64_t frames;
	int width, height, fps, fps_den; /* the rate, fps/fps_den (job.h) */
	uint64_t bytes;
	char sha256[65];
	char output[PATH_MAX];
	char stream_kind[8];
	char log_tail[RUNNER_LOG_TAIL + 1];
	uint64_t total_ms, first_frame_ms, sandbox_ms, encode_ms;
	uint64_t sandbox_start_us;  /* sandbox_start(): from nothing to the script running; a
				     * warm sandbox's take: the script handed to it */
	int warm;		    /* the sandbox came from the warm pool (pool.h) */
	enum sandbox_tier tier;	    /* the sandbox tier the job ran in (tier.h) */
	const char *cold_why;	    /* with a pool, why this job started cold; else NULL */
	uint64_t peak_memory_bytes; /* the script's */
	uint64_t script_cpu_ms;	    /* every process of the sandbox */
	uint64_t encoder_cpu_ms;    /* the encoder process, from its cgroup */
	uint64_t encoder_peak_memory_bytes; /* likewise; 0 without cgroups */
	int frame_cap_hit;		    /* the frame count cut the stream short */
	int n_warnings; /* sentences about likely mistakes in the stream that did not fail it */
	char warnings[RUNNER_MAX_WARNINGS][RUNNER_WARNING_LEN];
	char poster[PATH_MAX];	      /* the poster beside the video ("" when none was made) */
	int64_t poster_frame;	      /* the frame it shows */
	uint64_t poster_ms;	      /* the encoder's time for it: sampling, scaling, JPEG */
	char contact_sheet[PATH_MAX]; /* the contact sheet beside it ("" when none) */
	int sheet_filled;	      /* its cells that hold their frame */
	/* The audio track of a job with "audio" ("" name: none): the file's name in
	 * $SCRATCH, the codec, its samples at 48 kHz, the source's own length and how it
	 * was fitted (audio.h's enum render_audio_fit: 0 exact, 1 trimmed, 2 padded) */
	char audio_name[256];
	char audio_codec[8];
	int64_t audio_samples;
	double audio_source_s;
	int audio_fitted;
};

struct runner_ops {
	/* frames encoded so far; called on the loop thread, coalesced */
	void (*progress)(void *opaque, int64_t done, int64_t total);
	/* one line of the script's stderr (no newline), for a terminal or a log */
	void (*log_line)(void *opaque, const char *line, size_t len);
	/* the job is over; the runner may be freed from here with runner_free() */
	void (*done)(void *opaque, const struct runner_result *res);
};

struct pool;

/* Start a validated job (see job_resolve). output is the final path of the video. With
 * a pool (NULL: none), a warm sandbox that fits the job is taken instead of a cold start. */
int runner_start(uv_loop_t *loop, const struct job *job, const struct config *cfg,
		 const char *output, unsigned slot, struct pool *pool, const struct runner_ops *ops,
		 void *opaque, struct runner **out, char *err, size_t errlen);

/* The poster's path for a video: its extension replaced by .jpg (out.mp4: out.jpg;
 * <id>.<token>.mp4: <id>.<token>.jpg). 0, or -ENAMETOOLONG. */
int runner_poster_path(const char *video, char *out, size_t len);

/* The contact sheet's: the extension replaced by .sheet.jpg. */
int runner_sheet_path(const char *video, char *out, size_t len);

/* Kill the job's sandbox; it ends failed with this reason. Safe after done. */
void runner_cancel(struct runner *r, const char *reason);

/* Free a runner whose done callback has run. */
void runner_free(struct runner *r);

/* "succeeded", "script_failed", "limit", "timeout", "cancelled", "bad_stream",
 * "encoder_failed", "internal", "model": a stable word for logs and metrics labels. */
const char *runner_end_name(enum runner_end end);

#endif
