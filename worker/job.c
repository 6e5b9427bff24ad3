/* job.c - a render job: defaults, the rules it must pass, and its JSON document.
 *
 * The queue's job document is one JSON object (UTF-8). Every field is optional except
 * "script" or "prompt" (exactly one); unknown fields, duplicate fields, null and wrong types are
 * refused:
 *
 *   {
 *     "id": "clip-42",              [A-Za-z0-9_-]{1,63}; names the output <id>.<ext>
 *     "script": "import sys\n...",  the script's text (a JSON string; \u0000 allowed)
 *     "prompt": "a bar chart ...",  instead of "script": the worker asks its model for the
 *                                   script (1..16384 bytes of UTF-8 text, no NUL)
 *     "script_name": "render.py",   its file name under /job/; default script<ext>
 *     "runtime": "python3",         default: from script_name's extension
 *     "tier": "gvisor",             native gvisor: the sandbox it runs in; default the
 *                                   operator's, who may require one (tier_resolve)
 *     "width": 1280, "height": 720, or "size": "1280x720" (not both); default 1280x720;
 *                                   even for mp4 and webm, any for gif; at most 7680x4320
 *     "fps": 30,                    1..120 frames a second; default 30. Exact rates as a
 *                                   string "30000/1001" (N/D, D at most 1001 once
 *                                   reduced); 23.976, 29.97, 47.952, 59.94 and 119.88
 *                                   (as numbers or strings) mean N*1000/1001
 *     "frames": 150,                1..operator cap; default ceil(fps*5)
 *     "poster_frame": 12,           the poster's frame, 0..frames-1; default: picked by
 *                                   content (no black or blank frame when there is another)
 *     "contact_sheet": "4x3",       COLSxROWS of evenly spaced frames in one JPEG beside
 *                                   the video, 1..10 each; default none
 *     "audio": "audio.wav",         a file the script writes in $SCRATCH (relative path of
 *                                   [A-Za-z0-9._-] parts, no . or ..), muxed as the
 *                                   audio track fitted to the video; not for gif
 *     "pix_fmt": "rgb24",           rgb24 rgba bgr24 gray yuv420p; default rgb24
 *     "format": "mp4",              mp4 webm gif mov; default mp4
 *     "codec": "av1",               h264 hevc av1 (mp4), vp9 av1 (webm); default the
 *                                   format's own (h264, vp9, gif, prores for mov)
 *     "crf": 23,                    0..51 (mp4), 0..63 (webm); any value is ignored for gif
 *     "preset": "veryfast",         ultrafast .. placebo, as x264 names them
 *     "limits": {"timeout": 60, "memory": 512, "pids": 64, "scratch": 64, "cpus": 1.0},
 *                                   seconds, MB, count, MB, CPUs; each at least the
 *                                   minimum a sandbox needs (1 s, 32 MB, 8 pids, 1 MB,
 *                                   0.01) and at most the operator's maximum; a
 *                                   missing one is the default
 *     "retries": 0,                 retries after the script's own failure
 *     "upload": {"url": "https://bucket.s3.../clip-42.mp4?X-Amz-...",
 *                "headers": {"x-amz-meta-owner": "ana"}},
 *                                   a presigned PUT URL the finished video is sent to;
 *                                   headers: strings, no Host, Content-Length,
 *                                   Transfer-Encoding, Expect, Connection, no line break
 *     "webhook": {"url": "https://producer.example/hooks/reelbox"}
 *                                   POSTed the final result, signed (delivery.h)
 *     "chunks": 4,                  2..64 frame ranges rendered by any workers and
 *                                   joined (mp4, webm, mov; not a prompt job, a still
 *                                   or a contact sheet yet)
 *     "chunk": {"parent": "clip-42", "index": 1, "start": 38, "count": 38},
 *     "join": true                  written by the worker that splits a chunked job into
 *                                   its children, honoured only when the queue's claim
 *                                   says the job is that child or that join
 *   }
 *
 * job_from_json refuses what cannot be stored faithfully (wrong type, too long, a number
 * that does not fit, an explicit value that would read as "unset"); job_resolve then
 * applies the rules that depend on the operator's configuration.
 */
#define _GNU_SOURCE
#include "job.h"
#include "delivery.h"
#include "errf.h"
#include "fields.h"
#include "render.h"
#include "utf8.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JOB_MIN_SIDE	 2
#define JOB_MAX_FPS	 120
#define JOB_MIN_AV1_SIDE 64   /* SVT-AV1 refuses smaller sources */
#define JOB_MAX_FPS_DEN	 1001 /* the broadcast rates' 1001; no player needs finer */

/* The smallest limits a job may ask for (see job_check_limit). */
#define JOB_MIN_TIMEOUT_S  1
#define JOB_MIN_MEMORY_MB  32
#define JOB_MIN_PIDS	   8
#define JOB_MIN_SCRATCH_MB 1
#define JOB_MIN_CPUS	   0.01

static const char *const job_pix_fmts[] = {"rgb24", "rgba", "bgr24", "gray", "yuv420p", NULL};

/* A printable copy of an untrusted string for an error sentence: control bytes in a job
 * must not reach a terminal or a JSON-lines log as escape sequences. */
static const char *job_show(char *dst, size_t dstlen, const char *s)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < dstlen; i++)
		dst[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	dst[i] = '\0';
	if (s[i] && i >= 3)
		memcpy(dst + i - 3, "...", 3);
	return dst;
}

static int job_in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(s, *list))
			return 1;
	return 0;
}

static void job_join(char *dst, size_t dstlen, const char *const *list)
{
	size_t used = 0;

	dst[0] = '\0';
	for (; *list && used < dstlen; list++)
		used +=
		    (size_t)snprintf(dst + used, dstlen - used, "%s%s", used ? ", " : "", *list);
}

/* render's preset names, for a sentence that lists them. */
static void job_preset_names(char *dst, size_t dstlen)
{
	const char *names[32];
	int n = 0;

	while (n < 31 && (names[n] = render_preset_name(n)))
		n++;
	names[n] = NULL;
	job_join(dst, dstlen, names);
}

static void job_runtime_names(const struct config *cfg, char *dst, size_t dstlen)
{
	size_t used = 0;

	dst[0] = '\0';
	for (int i = 0; i < cfg->n_runtimes && used < dstlen; i++)
		used += (size_t)snprintf(dst + used, dstlen - used, "%s%s", used ? ", " : "",
					 cfg->runtimes[i].name);
	if (!cfg->n_runtimes)
		snprintf(dst, dstlen, "none");
}

void job_init(struct job *job)
{
	memset(job, 0, sizeof(*job));
	job->width = 1280;
	job->height = 720;
	job->fps = 30;
	job->fps_den = 1;
	job->crf = -1;
	job->poster_frame = -1;
	job->still = -1;
}

void job_free(struct job *job)
{
	free(job->script);
	job->script = NULL;
	job->script_len = 0;
	free(job->prompt);
	job->prompt = NULL;
	job->prompt_len = 0;
	free(job->upload_url);
	job->upload_url = NULL;
	for (char **h = job->upload_headers; h && *h; h++)
		free(*h);
	free(job->upload_headers);
	job->upload_headers = NULL;
	free(job->webhook_url);
	job->webhook_url = NULL;
}

/* The id becomes a file name in the output dir and a Redis key: only [A-Za-z0-9_-],
 * so "../x", "a/b", ".hidden" and the empty name can never point outside it. */
int job_check_id(const char *id, char *err, size_t errlen)
{
	size_t n = strnlen(id, JOB_ID_MAX);
	int ok = n > 0 && n < JOB_ID_MAX;
	char shown[80];

	for (size_t i = 0; ok && i < n; i++)
		if (!isalnum((unsigned char)id[i]) && id[i] != '_' && id[i] != '-')
			ok = 0;
	if (!ok) {
		char id0[JOB_ID_MAX + 1];

		/* id may fill its whole buffer without a NUL: show a bounded copy. */
		memcpy(id0, id, n);
		id0[n] = '\0';
		worker_err(err, errlen,
			   "id '%s' is not allowed: use 1 to %d letters, digits, '_' or '-'",
			   job_show(shown, sizeof(shown), id0), JOB_ID_MAX - 1);
		return -EINVAL;
	}
	return 0;
}

/* script_name is shown as /job/<name>: one plain path component, never "." or "..",
 * never a hidden file, nothing a terminal would interpret. */
static int job_check_script_name(const char *name, char *err, size_t errlen)
{
	size_t n = strnlen(name, JOB_NAME_MAX);
	char shown[80];
	int ok = n > 0 && n < JOB_NAME_MAX && name[0] != '.';

	for (size_t i = 0; ok && i < n; i++)
		if (name[i] < 0x20 || name[i] >= 0x7f || name[i] == '/')
			ok = 0;
	if (!ok) {
		worker_err(
		    err, errlen,
		    "script_name '%s' is not allowed: use a plain file name of printable ASCII, "
		    "without '/', not starting with '.', at most %d bytes",
		    job_show(shown, sizeof(shown), name), JOB_NAME_MAX - 1);
		return -EINVAL;
	}
	return 0;
}

/* A limit: 0 takes the operator's default; then it must lie within [min, max]. The
 * minima are what the smallest sandbox needs to run at all (measured: python3 with
 * numpy peaks at 17 MB and runs with 2 pids), so a job below one is refused here, once,
 * with its reason, instead of failing on every worker as if the host were at fault. */
static int job_check_limit(const char *name, const char *unit, uint32_t *v, uint32_t def,
			   uint32_t min, uint32_t max, const char *why_min, char *err,
			   size_t errlen)
{
	if (*v == 0)
		*v = def;
	if (*v < min) {
		worker_err(err, errlen, "%s %u%s is below the minimum of %u%s: %s", name, *v, unit,
			   min, unit, why_min);
		return -EINVAL;
	}
	if (*v > max) {
		worker_err(err, errlen, "%s %u%s is above the operator's maximum of %u%s", name, *v,
			   unit, max, unit);
		return -EINVAL;
	}
	return 0;
}

static int job_resolve_runtime(struct job *job, const struct config *cfg, char *err, size_t errlen)
{
	const struct runtime *rt;
	char names[512], shown[80];

	job_runtime_names(cfg, names, sizeof(names));
	if (job->runtime[0]) {
		rt = config_find_runtime(cfg, job->runtime);
		if (!rt) {
			worker_err(err, errlen, "unknown runtime '%s'; known: %s",
				   job_show(shown, sizeof(shown), job->runtime), names);
			return -EINVAL;
		}
	} else if (job->script_name[0]) {
		rt = config_runtime_for_script(cfg, job->script_name);
		if (!rt) {
			worker_err(err, errlen,
				   "cannot tell the runtime of '%s' from its extension; name one "
				   "(known: %s)",
				   job_show(shown, sizeof(shown), job->script_name), names);
			return -EINVAL;
		}
		snprintf(job->runtime, sizeof(job->runtime), "%s", rt->name);
	} else {
		worker_err(err, errlen,
			   "the job names neither a runtime nor a script_name to guess it "
			   "from; known runtimes: %s",
			   names);
		return -EINVAL;
	}
	if (!job->script_name[0])
		snprintf(job->script_name, sizeof(job->script_name), "script%s",
			 rt->n_ext ? rt->ext[0] : "");
	return 0;
}

/* A prompt job's prompt: the model's input, so bounded and text. Its script comes from
 * each attempt (jobrun.c), resolved then as a script job's. */
static int job_check_prompt(const struct job *j, char *err, size_t errlen)
{
	if (j->script) {
		worker_err(err, errlen, "the job has both a script and a prompt; give exactly one");
		return -EINVAL;
	}
	if (j->prompt_len == 0 || j->prompt_len > JOB_PROMPT_MAX ||
	    memchr(j->prompt, '\0', j->prompt_len) || !utf8_valid(j->prompt, j->prompt_len)) {
		worker_err(err, errlen,
			   "the prompt is %zu bytes: it must be 1 to %d bytes of UTF-8 text "
			   "without NUL",
			   j->prompt_len, JOB_PROMPT_MAX);
		return -EINVAL;
	}
	return 0;
}

/* The script: there, within the operator's cap, with a name that is safe to show. */
static int job_check_script(const struct job *j, const struct config *cfg, char *err, size_t errlen)
{
	if (!j->script || j->script_len == 0) {
		worker_err(err, errlen,
			   "the job has no script: it is missing or empty (or give "
			   "a prompt for the worker's model)");
		return -EINVAL;
	}
	if (j->script_len > cfg->max_script_bytes) {
		worker_err(err, errlen,
			   "the script is %zu bytes, above the operator's cap of %zu bytes",
			   j->script_len, cfg->max_script_bytes);
		return -EINVAL;
	}
	return j->script_name[0] ? job_check_script_name(j->script_name, err, errlen) : 0;
}

static int job_gcd(int a, int b)
{
	while (b) {
		int t = a % b;
		a = b;
		b = t;
	}
	return a;
}

/* The rate reduced (60/2 is 30), then 1..JOB_MAX_FPS frames a second with a
 * denominator of at most JOB_MAX_FPS_DEN. */
static int job_check_rate(struct job *j, char *err, size_t errlen)
{
	char shown[32];
	int g;

	job_fps_text(j, shown, sizeof(shown));
	if (j->fps_den < 1) {
		worker_err(err, errlen, "fps %s is not a rate: the denominator must be at least 1",
			   shown);
		return -EINVAL;
	}
	if (j->fps < j->fps_den || j->fps / j->fps_den > JOB_MAX_FPS ||
	    (j->fps / j->fps_den == JOB_MAX_FPS && j->fps % j->fps_den)) {
		worker_err(err, errlen, "fps %s is not allowed: it must be from 1 to %d", shown,
			   JOB_MAX_FPS);
		return -EINVAL;
	}
	g = job_gcd(j->fps, j->fps_den);
	j->fps /= g;
	j->fps_den /= g;
	if (j->fps_den > JOB_MAX_FPS_DEN) {
		worker_err(err, errlen,
			   "fps %s is not allowed: the denominator must be at most %d (as in "
			   "30000/1001)",
			   shown, JOB_MAX_FPS_DEN);
		return -EINVAL;
	}
	return 0;
}

/* "contact_sheet": "COLSxROWS", each a whole number 1..10 written plainly ("4x3"; no
 * sign, space or leading zero), into sheet_cols and sheet_rows. */
static int job_check_sheet(struct job *j, char *err, size_t errlen)
{
	const char *s = j->contact_sheet;
	char shown[32];
	int c = 0, r = 0, n = 0;

	j->sheet_cols = j->sheet_rows = 0;
	if (!s[0])
		return 0;
	if (sscanf(s, "%2d%*1[x]%2d%n", &c, &r, &n) != 2 || s[n] || s[0] == '0' ||
	    !strchr("123456789", s[strcspn(s, "x") + 1]) || c < 1 || c > 10 || r < 1 || r > 10 ||
	    strspn(s, "0123456789x") != strlen(s)) {
		worker_err(err, errlen,
			   "contact_sheet '%s' is not allowed: give COLSxROWS, 1 to 10 each "
			   "(e.g. 4x3)",
			   job_show(shown, sizeof(shown), s));
		return -EINVAL;
	}
	j->sheet_cols = c;
	j->sheet_rows = r;
	return 0;
}

/* Size, rate and count of the frames; frames 0 becomes ceil(fps * 5). */
static int job_check_frames(struct job *j, const struct config *cfg, char *err, size_t errlen)
{
	if (j->width < JOB_MIN_SIDE || j->height < JOB_MIN_SIDE) {
		worker_err(err, errlen,
			   "size %dx%d is not allowed: width and height must be at least %d",
			   j->width, j->height, JOB_MIN_SIDE);
		return -EINVAL;
	}
	if (j->width > RENDER_MAX_WIDTH || j->height > RENDER_MAX_HEIGHT) {
		worker_err(err, errlen, "size %dx%d is not allowed: the largest is %dx%d", j->width,
			   j->height, RENDER_MAX_WIDTH, RENDER_MAX_HEIGHT);
		return -EINVAL;
	}
	if (job_check_rate(j, err, errlen) < 0)
		return -EINVAL;
	if (j->frames == 0)
		j->frames = ((int64_t)j->fps * 5 + j->fps_den - 1) / j->fps_den;
	if (j->frames < 1) {
		worker_err(err, errlen, "frames %lld is not allowed: it must be at least 1",
			   (long long)j->frames);
		return -EINVAL;
	}
	if (j->frames > cfg->max_frames) {
		worker_err(err, errlen, "frames %lld is above the operator's cap of %lld",
			   (long long)j->frames, (long long)cfg->max_frames);
		return -EINVAL;
	}
	if (job_check_sheet(j, err, errlen) < 0)
		return -EINVAL;
	if (j->poster_frame >= j->frames) {
		worker_err(err, errlen,
			   "poster_frame %lld is past the last frame: it must be below frames "
			   "(%lld)",
			   (long long)j->poster_frame, (long long)j->frames);
		return -EINVAL;
	}
	return 0;
}

/* The codec, known and allowed in the container (render's rules), and present in this
 * libavcodec when it is not the container's own: a job for an encoder this host lacks
 * is refused here (at submit, if the submitting host has libav; else on the worker).
 * Returns the render codec. */
static int job_check_codec(struct job *j, int container, char *err, size_t errlen)
{
	char shown[80];
	int codec = render_codec_from_name(j->codec), r;

	if (codec < 0) {
		worker_err(err, errlen, "unknown codec '%s'; known: h264, hevc, vp9, av1, prores",
			   job_show(shown, sizeof(shown), j->codec));
		return -EINVAL;
	}
	if ((r = render_codec_for(container, codec, err, errlen)) < 0)
		return r;
	if (r == RENDER_CODEC_AV1 &&
	    (j->width < JOB_MIN_AV1_SIDE || j->height < JOB_MIN_AV1_SIDE)) {
		worker_err(err, errlen,
			   "size %dx%d is too small for av1: SVT-AV1 needs at least %dx%d",
			   j->width, j->height, JOB_MIN_AV1_SIDE, JOB_MIN_AV1_SIDE);
		return -EINVAL;
	}
	if (codec != RENDER_CODEC_DEFAULT &&
	    (codec = render_codec_available(r, err, errlen)) == -ENOSYS)
		return -EINVAL;
	return r;
}

/* What the encoder is asked for: the stream's pix_fmt, the container, its crf and
 * preset. Unset pix_fmt and format take rgb24 and mp4. The container's rules are
 * render's (render.h): the job asks, so the two can never disagree. */
static int job_check_encoding(struct job *j, char *err, size_t errlen)
{
	char list[256], shown[80];
	int container, codec, max;

	if (!j->pix_fmt[0])
		snprintf(j->pix_fmt, sizeof(j->pix_fmt), "rgb24");
	if (!job_in_list(j->pix_fmt, job_pix_fmts)) {
		job_join(list, sizeof(list), job_pix_fmts);
		worker_err(err, errlen, "unknown pix_fmt '%s'; known: %s",
			   job_show(shown, sizeof(shown), j->pix_fmt), list);
		return -EINVAL;
	}
	if (!j->format[0])
		snprintf(j->format, sizeof(j->format), "mp4");
	if ((container = render_container_from_name(j->format)) < 0) {
		worker_err(err, errlen, "unknown format '%s'; known: mp4, webm, gif, mov",
			   job_show(shown, sizeof(shown), j->format));
		return -EINVAL;
	}
	if (render_needs_even_size(container) && (j->width % 2 || j->height % 2)) {
		worker_err(err, errlen,
			   "size %dx%d is not allowed: width and height must be even for %s (GIF "
			   "takes any size)",
			   j->width, j->height, j->format);
		return -EINVAL;
	}
	if ((codec = job_check_codec(j, container, err, errlen)) < 0)
		return codec;
	/* crf -1 is the encoder's default. GIF and ProRes have no crf: any value is
	 * ignored, the same way for run, submit and a document in the stream, since they
	 * all resolve here and the resolved job carries no crf to the encoder. */
	if (!(max = render_codec_crf_max(codec)))
		j->crf = -1;
	if (j->crf != -1 && (j->crf < 0 || j->crf > max)) {
		worker_err(err, errlen, "crf %d is not allowed for %s%s%s: it must be from 0 to %d",
			   j->crf, j->format, j->codec[0] ? " with " : "", j->codec, max);
		return -EINVAL;
	}
	if (j->preset[0] && !render_preset_known(j->preset)) {
		job_preset_names(list, sizeof(list));
		worker_err(err, errlen, "unknown preset '%s'; known: %s",
			   job_show(shown, sizeof(shown), j->preset), list);
		return -EINVAL;
	}
	return 0;
}

int job_check_audio_name(const char *name, char *err, size_t errlen)
{
	static const char ok[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";
	size_t len = strlen(name);
	char shown[80];

	job_show(shown, sizeof(shown), name);
	if (len == 0 || len > 255) {
		worker_err(err, errlen,
			   "audio '%s' is not allowed: give a file name in $SCRATCH "
			   "of 1 to 255 bytes",
			   shown);
		return -EINVAL;
	}
	/* The name is resolved beneath the scratch dir anyway (sandbox_scratch_open); a
	 * plain relative path is refused early so a mistake is said at submit. */
	for (const char *c = name;; c += strcspn(c, "/") + 1) {
		size_t n = strcspn(c, "/");

		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.') ||
		    strspn(c, ok) < n) {
			worker_err(
			    err, errlen,
			    "audio '%s' is not allowed: give a path inside $SCRATCH "
			    "(\"audio.wav\", \"out/a.wav\") of letters, digits, '.', '_' and "
			    "'-', without '.' or '..' parts or a leading '/'",
			    shown);
			return -EINVAL;
		}
		if (!c[n])
			return 0;
	}
}

/* "audio": a valid name, and a video in a container with an audio track. */
static int job_check_audio(const struct job *j, int container, char *err, size_t errlen)
{
	if (!j->audio[0])
		return 0;
	if (job_check_audio_name(j->audio, err, errlen) < 0)
		return -EINVAL;
	if (j->still >= 0) {
		worker_err(err, errlen,
			   "--still writes one PNG frame, which has no sound: "
			   "leave out --audio");
		return -EINVAL;
	}
	if (!render_audio_codec_for(container)) {
		worker_err(err, errlen,
			   "%s has no audio track: write .mp4, .webm or .mov to keep "
			   "audio '%s'",
			   j->format, j->audio);
		return -EINVAL;
	}
	return 0;
}

/* The sandbox's limits, each from the operator's default when unset. */
static int job_check_limits(struct job_limits *l, const struct config *cfg, char *err,
			    size_t errlen)
{
	int r;

	if ((r = job_check_limit("timeout", " s", &l->timeout_s, cfg->defaults.timeout_s,
				 JOB_MIN_TIMEOUT_S, cfg->maxima.timeout_s,
				 "a job needs at least a second to start its sandbox", err,
				 errlen)) ||
	    (r = job_check_limit("memory", " MB", &l->memory_mb, cfg->defaults.memory_mb,
				 JOB_MIN_MEMORY_MB, cfg->maxima.memory_mb,
				 "an interpreter alone needs about 17 MB (python3 with numpy)", err,
				 errlen)) ||
	    (r = job_check_limit(
		 "pids", "", &l->pids, cfg->defaults.pids, JOB_MIN_PIDS, cfg->maxima.pids,
		 "the sandbox's init, the interpreter and its threads need a few", err, errlen)) ||
	    (r = job_check_limit("scratch", " MB", &l->scratch_mb, cfg->defaults.scratch_mb,
				 JOB_MIN_SCRATCH_MB, cfg->maxima.scratch_mb,
				 "the scratch dir needs some room", err, errlen)))
		return r;
	if (l->cpus == 0)
		l->cpus = cfg->defaults.cpus;
	if (!isfinite(l->cpus) || l->cpus < JOB_MIN_CPUS) {
		worker_err(err, errlen,
			   "cpus %g is not allowed: it must be at least %g (the kernel's smallest "
			   "CPU quota)",
			   l->cpus, JOB_MIN_CPUS);
		return -EINVAL;
	}
	if (l->cpus > cfg->maxima.cpus) {
		worker_err(err, errlen, "cpus %g is above the operator's maximum of %g", l->cpus,
			   cfg->maxima.cpus);
		return -EINVAL;
	}
	return 0;
}

/* The queue's side: retries within the operator's attempts, and an encoder that fits
 * in the memory the operator gives one. */
static int job_check_cost(const struct job *j, const struct config *cfg, char *err, size_t errlen)
{
	if (j->retries < 0 || j->retries > cfg->max_attempts - 1) {
		worker_err(err, errlen,
			   "retries %d is not allowed: it must be from 0 to %d (%d attempts)",
			   j->retries, cfg->max_attempts - 1, cfg->max_attempts);
		return -EINVAL;
	}
	if (job_encoder_memory(j) > ((uint64_t)cfg->encoder_memory_mb << 20)) {
		worker_err(err, errlen,
			   "encoding %dx%d %s with preset %s needs about %llu MB, above the "
			   "operator's encoder maximum of %u MB (encoder_memory): choose a faster "
			   "preset or a smaller size",
			   j->width, j->height, j->format, j->preset[0] ? j->preset : "medium",
			   (unsigned long long)(job_encoder_memory(j) >> 20),
			   cfg->encoder_memory_mb);
		return -EINVAL;
	}
	return 0;
}

/* Rules are checked on a copy and the filled job is committed only when all pass, so a
 * refused job reads as the caller left it. */
/* "chunks" (or --frames-per-chunk) and "chunk": what a split render can be. Each rule is
 * one sentence; the join copies packets, so only the containers it can concatenate, and
 * only what one chunk can make whole (no still or contact sheet yet; audio is joined as
 * the chunks' PCM, encoded once). */
static int job_check_chunks(struct job *j, char *err, size_t errlen)
{
	size_t room = JOB_ID_MAX - 1 - strlen("-c63");

	if (j->frames_per_chunk > 0 && !j->chunks) {
		int64_t n = (j->frames + j->frames_per_chunk - 1) / j->frames_per_chunk;
		if (n < 2 || n > JOB_CHUNKS_MAX) {
			worker_err(err, errlen,
				   "--frames-per-chunk %lld makes %lld chunks of %lld frames: it "
				   "must make 2 to %d",
				   (long long)j->frames_per_chunk, (long long)n,
				   (long long)j->frames, JOB_CHUNKS_MAX);
			return -EINVAL;
		}
		j->chunks = (int)n;
	}
	if (j->chunk.parent[0] && (j->chunks || j->join)) {
		worker_err(err, errlen, "a job's 'chunk' cannot have 'chunks' or 'join' too");
		return -EINVAL;
	}
	if (j->chunk.parent[0] && j->chunk.start + j->chunk.count > j->frames) {
		worker_err(err, errlen,
			   "'chunk' frames %lld to %lld are past the job's %lld frames",
			   (long long)j->chunk.start,
			   (long long)(j->chunk.start + j->chunk.count - 1), (long long)j->frames);
		return -EINVAL;
	}
	if (!j->chunks && !j->join)
		return 0;
	if (!j->chunks) {
		worker_err(err, errlen, "'join' needs 'chunks'");
		return -EINVAL;
	}
	if (strcmp(j->format, "mp4") && strcmp(j->format, "webm") && strcmp(j->format, "mov")) {
		worker_err(err, errlen, "chunks need format mp4, webm or mov, not %s", j->format);
		return -EINVAL;
	}
	if (j->still >= 0) {
		worker_err(err, errlen, "chunks render a video: leave out --still");
		return -EINVAL;
	}
	if (j->prompt) {
		worker_err(err, errlen,
			   "chunks need a script: each chunk of a prompt job would ask the model "
			   "for a script of its own");
		return -EINVAL;
	}
	if (j->sheet_cols) {
		worker_err(err, errlen,
			   "chunks cannot make a contact sheet yet: leave out contact_sheet");
		return -EINVAL;
	}
	if (j->id[0] && strlen(j->id) > room) {
		worker_err(err, errlen,
			   "job id '%s' is too long for chunks: its children are <id>-c<k>, so it "
			   "may have %zu characters at most",
			   j->id, room);
		return -EINVAL;
	}
	if (j->chunks > j->frames) {
		worker_err(err, errlen, "chunks %d is more than the job's %lld frames", j->chunks,
			   (long long)j->frames);
		return -EINVAL;
	}
	return 0;
}

int job_resolve(struct job *job, const struct config *cfg, char *err, size_t errlen)
{
	struct job j = *job;
	int r;

	if ((j.id[0] && (r = job_check_id(j.id, err, errlen))))
		return r;
	if (j.prompt) {
		/* A prompt job may name its runtime (the model is told to use it); the
		 * script and its name come with each attempt. */
		if ((r = job_check_prompt(&j, err, errlen)) ||
		    (j.runtime[0] && (r = job_resolve_runtime(&j, cfg, err, errlen))))
			return r;
		j.script_name[0] = '\0';
	} else if ((r = job_check_script(&j, cfg, err, errlen)) ||
		   (r = job_resolve_runtime(&j, cfg, err, errlen))) {
		return r;
	}
	/* After the runtime: a runtime's rule may require a tier. */
	if ((r = tier_resolve(&cfg->tiers, j.tier, j.prompt || j.from_prompt, j.runtime,
			      &j.resolved_tier, err, errlen)))
		return r;
	if ((r = job_check_frames(&j, cfg, err, errlen)) ||
	    (r = job_check_encoding(&j, err, errlen)) ||
	    (r = job_check_audio(&j, render_container_from_name(j.format), err, errlen)) ||
	    (r = job_check_limits(&j.limits, cfg, err, errlen)) ||
	    (r = job_check_cost(&j, cfg, err, errlen)) || (r = job_check_chunks(&j, err, errlen)))
		return r;
	*job = j;
	return 0;
}

void job_chunk_range(int64_t frames, int n, int k, int64_t *start, int64_t *count)
{
	int64_t base = frames / n, extra = frames % n;

	*start = k * base + (k < extra ? k : extra);
	*count = base + (k < extra ? 1 : 0);
}

uint64_t job_encoder_memory(const struct job *job)
{
	char name[16];
	struct render_spec spec = {
	    .width = job->width,
	    .height = job->height,
	    .fps = job->fps,
	    .codec = job->codec[0] ? job->codec : NULL,
	    .pix_fmt = job->pix_fmt[0] ? job->pix_fmt : "rgb24",
	    .output = name,
	    .preset = job->preset[0] ? job->preset : NULL,
	};

	snprintf(name, sizeof(name), "v.%s", job->format[0] ? job->format : "mp4");
	return render_memory_estimate(&spec);
}

/* Decimal digits into *v (at most INT_MAX); the first byte after them. NULL if none. */
static const char *job_digits(const char *s, long long *v)
{
	*v = 0;
	if (!isdigit((unsigned char)*s))
		return NULL;
	for (; isdigit((unsigned char)*s); s++)
		if ((*v = *v * 10 + (*s - '0')) > INT_MAX)
			return NULL;
	return s;
}

int job_parse_fps(const char *s, int *num, int *den)
{
	/* NTSC's rates: N*1000/1001 written the way editors and players write them. */
	static const char *const ntsc[] = {"23.976", "29.97", "47.952", "59.94", "119.88"};
	long long n, d = 1;
	const char *p = s ? job_digits(s, &n) : NULL;

	if (!p)
		return -EINVAL;
	if (*p == '/') {
		if (!(p = job_digits(p + 1, &d)) || *p)
			return -EINVAL;
		goto done;
	}
	if (*p == '.' && p[1]) {
		size_t len = strlen(p), i;
		for (i = 1; i < len && p[i] == '0'; i++)
			;
		if (i == len && i <= 9)
			goto done; /* "25.0" is 25 */
		for (i = 0; i < sizeof(ntsc) / sizeof(ntsc[0]); i++) {
			size_t k = strlen(ntsc[i]);
			if (!strncmp(s, ntsc[i], k) && strspn(s + k, "0") == strlen(s + k)) {
				*num = (int)((n + 1) * 1000);
				*den = 1001;
				return 0;
			}
		}
		return -EINVAL;
	}
	if (*p)
		return -EINVAL;
done:
	*num = (int)n;
	*den = (int)d;
	return 0;
}

void job_fps_text(const struct job *job, char *buf, size_t len)
{
	if (job->fps_den == 1)
		snprintf(buf, len, "%d", job->fps);
	else
		snprintf(buf, len, "%d/%d", job->fps, job->fps_den);
}

void job_fps_decimal(const struct job *job, char *buf, size_t len)
{
	size_t n;

	if (job->fps_den <= 1) {
		snprintf(buf, len, "%d", job->fps);
		return;
	}
	snprintf(buf, len, "%.3f", (double)job->fps / job->fps_den);
	for (n = strlen(buf); n > 1 && buf[n - 1] == '0'; n--)
		buf[n - 1] = '\0';
	if (n && buf[n - 1] == '.')
		buf[n - 1] = '\0';
}

/* "1280x720": decimal digits, one lowercase x, decimal digits, nothing else. Ranges
 * are job_resolve's business; this only refuses what is not a size or overflows. */
int job_parse_size(const char *s, int *w, int *h)
{
	long long v[2] = {0, 0};

	if (!s)
		return -EINVAL;
	for (int i = 0; i < 2; i++) {
		if (!isdigit((unsigned char)*s))
			return -EINVAL;
		for (; isdigit((unsigned char)*s); s++) {
			v[i] = v[i] * 10 + (*s - '0');
			if (v[i] > INT_MAX)
				return -EINVAL;
		}
		if (*s != (i == 0 ? 'x' : '\0'))
			return -EINVAL;
		s++;
	}
	*w = (int)v[0];
	*h = (int)v[1];
	return 0;
}

/* ---- JSON: the rows of job_fields (fields.h), with the document's sentences ---- */

/* "upload": {"url", "headers": {name: value}}, the lines split back at ": ". */
static json_t *job_upload_json(const struct job *job)
{
	json_t *h = json_object();

	for (char **l = job->upload_headers; h && l && *l; l++) {
		char *colon = strchr(*l, ':');
		char name[DELIVERY_HEADER_MAX];

		snprintf(name, sizeof(name), "%.*s", (int)(colon - *l), *l);
		if (json_object_set_new(h, name, json_string(colon + 2)) < 0) {
			json_decref(h);
			return NULL;
		}
	}
	return h ? json_pack("{s:s, s:o}", "url", job->upload_url, "headers", h) : NULL;
}

/* The script as the document's "script"; the size is written as width and height. */
static int job_put_own(const struct field *f, const void *base, json_t *obj, void *arg)
{
	const struct job *job = base;
	json_t *v;

	(void)arg;
	if (!strcmp(f->name, "upload") && job->upload_url)
		v = job_upload_json(job);
	else if (!strcmp(f->name, "webhook") && job->webhook_url)
		v = json_pack("{s:s}", "url", job->webhook_url);
	else if (!strcmp(f->name, "script") && job->script)
		v = json_stringn(job->script, job->script_len);
	else if (!strcmp(f->name, "prompt") && job->prompt)
		v = json_stringn(job->prompt, job->prompt_len);
	else if (!strcmp(f->name, "fps") && job->fps_den == 1)
		v = json_integer(job->fps);
	else if (!strcmp(f->name, "fps"))
		v = json_sprintf("%d/%d", job->fps, job->fps_den);
	else if (!strcmp(f->name, "chunk") && job->chunk.parent[0])
		v = json_pack("{s:s, s:i, s:I, s:I}", "parent", job->chunk.parent, "index",
			      job->chunk.index, "start", (json_int_t)job->chunk.start, "count",
			      (json_int_t)job->chunk.count);
	else if (!strcmp(f->name, "join") && job->join)
		v = json_true();
	else
		return 0;
	return v ? json_object_set_new(obj, f->name, v) : -1;
}

/* The job document described at the top of this file, compact, with unset fields left
 * out so that job_from_json(job_to_json(job)) gives the same job back. NULL with errno
 * EILSEQ when the script or a name is not UTF-8 text, ENOMEM when out of memory. */
char *job_to_json(const struct job *job)
{
	json_t *o = json_object();
	char *out = NULL;
	int bad = !o || field_to_json(job_fields, job, o, job_put_own, NULL);

	if (!bad)
		out = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!out)
		errno = bad ? EILSEQ : ENOMEM;
	return out;
}

static const char *job_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

/* One value of a row into base, or the sentence that says what it must be. */
static int job_json_value(const struct field *f, const char *key, void *base, json_t *v, char *err,
			  size_t errlen)
{
	enum field_fault fault = field_from_json(f, base, v);

	if (fault == FIELD_OK)
		return 0;
	if (f->type == FIELD_STR && fault == FIELD_WRONG_TYPE)
		worker_err(err, errlen, "'%s' must be a string, not %s", key, job_type_name(v));
	else if (f->type == FIELD_STR)
		worker_err(err, errlen, "'%s' must be a string of 1 to %zu bytes without NUL", key,
			   f->size - 1);
	else if (f->type == FIELD_REAL)
		worker_err(err, errlen, "'%s' must be a number above %lld", key, f->min);
	else if (f->type == FIELD_OBJECT)
		worker_err(err, errlen, "'%s' must be an object, not %s", key, job_type_name(v));
	else if (fault == FIELD_OUT_OF_RANGE)
		worker_err(err, errlen, "'%s' %lld is out of range: it must be from %lld to %lld",
			   key, json_integer_value(v), f->min, f->max);
	else
		worker_err(err, errlen, "'%s' must be an integer, not %s", key,
			   fault == FIELD_FRACTION ? "a fraction" : job_type_name(v));
	return -EINVAL;
}

static int job_json_limits(const struct field *lf, json_t *obj, struct job_limits *l, char *err,
			   size_t errlen)
{
	const struct field *f;
	const char *k;
	json_t *v;
	char key[48], shown[48], known[128];
	int r;

	if ((r = job_json_value(lf, "limits", l, obj, err, errlen)))
		return r;
	json_object_foreach(obj, k, v)
	{
		snprintf(key, sizeof(key), "limits.%s", job_show(shown, sizeof(shown), k));
		if (!(f = field_find(limit_fields, k))) {
			field_names(limit_fields, known, sizeof(known));
			worker_err(err, errlen, "unknown field '%s'; known: %s", key, known);
			return -EINVAL;
		}
		if ((r = job_json_value(f, key, l, v, err, errlen)))
			return r;
	}
	return 0;
}

/* "script" or "prompt": a string copied whole (job_resolve bounds it). */
static int job_json_text(const char *key, char **dst, size_t *dst_len, json_t *v, char *err,
			 size_t errlen)
{
	if (!json_is_string(v)) {
		worker_err(err, errlen, "'%s' must be a string, not %s", key, job_type_name(v));
		return -EINVAL;
	}
	*dst_len = json_string_length(v);
	*dst = malloc(*dst_len + 1);
	if (!*dst) {
		worker_err(err, errlen, "out of memory for a %zu-byte %s", *dst_len, key);
		return -ENOMEM;
	}
	memcpy(*dst, json_string_value(v), *dst_len + 1);
	return 0;
}

static int job_json_size(struct job *j, json_t *v, char *err, size_t errlen)
{
	char shown[48];
	int is_str = json_is_string(v);

	if (is_str && !job_parse_size(json_string_value(v), &j->width, &j->height))
		return 0;
	worker_err(err, errlen, "'size' must be a string like \"1280x720\", not %s%s%s",
		   is_str ? "'" : job_type_name(v),
		   is_str ? job_show(shown, sizeof(shown), json_string_value(v)) : "",
		   is_str ? "'" : "");
	return -EINVAL;
}

/* An object holding "url" (and for the upload "headers"), nothing else: checked here,
 * at admission, so a bad header never reaches a request. */
static int job_json_url(const char *key, json_t *v, char **dst, char *err, size_t errlen)
{
	json_t *u = json_object_get(v, "url");
	const char *k;
	json_t *x;
	char what[32];

	if (!json_is_object(v)) {
		worker_err(err, errlen, "'%s' must be an object with a \"url\", not %s", key,
			   job_type_name(v));
		return -EINVAL;
	}
	json_object_foreach(v, k, x)
	{
		if (strcmp(k, "url") && (strcmp(key, "upload") || strcmp(k, "headers"))) {
			worker_err(err, errlen, "unknown field '%s.%s'; known: url%s", key,
				   job_show((char[48]){0}, 48, k),
				   strcmp(key, "upload") ? "" : ", headers");
			return -EINVAL;
		}
	}
	snprintf(what, sizeof(what), "%s.url", key);
	if (!json_is_string(u) || strlen(json_string_value(u)) != json_string_length(u)) {
		worker_err(err, errlen, "'%s' must be a string", what);
		return -EINVAL;
	}
	if (delivery_check_url(what, json_string_value(u), err, errlen) < 0)
		return -EINVAL;
	if (!(*dst = strdup(json_string_value(u)))) {
		worker_err(err, errlen, "out of memory for '%s'", what);
		return -ENOMEM;
	}
	return 0;
}

static int job_json_headers(struct job *j, json_t *h, char *err, size_t errlen)
{
	const char *k;
	json_t *v;
	size_t i = 0;

	if (!h)
		return 0;
	if (!json_is_object(h) || json_object_size(h) > DELIVERY_HEADERS_MAX) {
		worker_err(err, errlen, "'upload.headers' must be an object of at most %d strings",
			   DELIVERY_HEADERS_MAX);
		return -EINVAL;
	}
	if (!(j->upload_headers = calloc(json_object_size(h) + 1, sizeof(char *))))
		return -ENOMEM;
	json_object_foreach(h, k, v)
	{
		if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
			worker_err(err, errlen, "upload header '%s' must be a string without NUL",
				   job_show((char[48]){0}, 48, k));
			return -EINVAL;
		}
		if (delivery_check_header(k, json_string_value(v), err, errlen) < 0)
			return -EINVAL;
		if (asprintf(&j->upload_headers[i++], "%s: %s", k, json_string_value(v)) < 0) {
			j->upload_headers[i - 1] = NULL;
			return -ENOMEM;
		}
	}
	return 0;
}

/* "fps": a whole number, a real that is one of job_parse_fps's decimals, or a string
 * job_parse_fps takes ("30000/1001", "29.97"). Ranges are job_resolve's. */
static int job_json_fps(struct job *j, json_t *v, char *err, size_t errlen)
{
	char text[40], shown[48];

	if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= INT_MAX) {
		j->fps = (int)json_integer_value(v);
		j->fps_den = 1;
		return 0;
	}
	if (json_is_integer(v)) {
		worker_err(err, errlen, "'fps' %lld is out of range: it must be from 1 to %d",
			   (long long)json_integer_value(v), JOB_MAX_FPS);
		return -EINVAL;
	}
	if (json_is_real(v))
		snprintf(text, sizeof(text), "%.15g", json_real_value(v));
	else if (json_is_string(v) && json_string_length(v) < sizeof(text) &&
		 strlen(json_string_value(v)) == json_string_length(v))
		snprintf(text, sizeof(text), "%s", json_string_value(v));
	else {
		worker_err(err, errlen,
			   "'fps' must be a number or a string such as \"30000/1001\", not %s",
			   json_is_string(v) ? "that string" : job_type_name(v));
		return -EINVAL;
	}
	if (job_parse_fps(text, &j->fps, &j->fps_den) < 0) {
		worker_err(err, errlen,
			   "'fps' %s is not a rate: give a whole number, N/D such as "
			   "\"30000/1001\", or 23.976, 29.97, 47.952, 59.94, 119.88",
			   job_show(shown, sizeof(shown), text));
		return -EINVAL;
	}
	return 0;
}

/* "chunk": {"parent", "index", "start", "count"}, every one given; ranges against the
 * job's frames are job_resolve's. */
static int job_json_chunk(struct job *j, json_t *v, char *err, size_t errlen)
{
	json_t *p = json_object_get(v, "parent"), *i = json_object_get(v, "index");
	json_t *s = json_object_get(v, "start"), *c = json_object_get(v, "count");

	if (!json_is_object(v) || json_object_size(v) != 4 || !json_is_string(p) ||
	    !json_is_integer(i) || !json_is_integer(s) || !json_is_integer(c) ||
	    json_string_length(p) >= sizeof(j->chunk.parent) || json_integer_value(i) < 0 ||
	    json_integer_value(i) >= JOB_CHUNKS_MAX || json_integer_value(s) < 0 ||
	    json_integer_value(c) < 1 || json_integer_value(s) > INT64_MAX / 2 ||
	    json_integer_value(c) > INT64_MAX / 2) {
		worker_err(
		    err, errlen,
		    "'chunk' must be {\"parent\": ID, \"index\": 0..%d, \"start\": 0 or more, "
		    "\"count\": 1 or more}",
		    JOB_CHUNKS_MAX - 1);
		return -EINVAL;
	}
	if (job_check_id(json_string_value(p), err, errlen) < 0)
		return -EINVAL;
	snprintf(j->chunk.parent, sizeof(j->chunk.parent), "%s", json_string_value(p));
	j->chunk.index = (int)json_integer_value(i);
	j->chunk.start = json_integer_value(s);
	j->chunk.count = json_integer_value(c);
	return 0;
}

static int job_json_field(struct job *j, const char *k, json_t *v, char *err, size_t errlen)
{
	const struct field *f = field_find(job_fields, k);
	char known[256];
	int r;

	if (!f) {
		field_names(job_fields, known, sizeof(known));
		worker_err(err, errlen, "unknown field '%s' in the job; known: %s",
			   job_show((char[48]){0}, 48, k), known);
		return -EINVAL;
	}
	if (!strcmp(k, "script"))
		return job_json_text(k, &j->script, &j->script_len, v, err, errlen);
	if (!strcmp(k, "prompt"))
		return job_json_text(k, &j->prompt, &j->prompt_len, v, err, errlen);
	if (!strcmp(k, "size"))
		return job_json_size(j, v, err, errlen);
	if (!strcmp(k, "fps"))
		return job_json_fps(j, v, err, errlen);
	if (!strcmp(k, "webhook"))
		return job_json_url(k, v, &j->webhook_url, err, errlen);
	if (!strcmp(k, "chunk"))
		return job_json_chunk(j, v, err, errlen);
	if (!strcmp(k, "join")) {
		if (!json_is_true(v)) {
			worker_err(err, errlen, "'join' must be true when given");
			return -EINVAL;
		}
		j->join = 1;
		return 0;
	}
	if (!strcmp(k, "upload"))
		return (r = job_json_url(k, v, &j->upload_url, err, errlen))
			   ? r
			   : job_json_headers(j, json_object_get(v, "headers"), err, errlen);
	if (f->type == FIELD_OBJECT)
		return job_json_limits(f, v, &j->limits, err, errlen);
	/* 0 frames and -1 crf mean "unset" in the struct; their rows' ranges start above,
	 * so the document must leave those fields out rather than spell the sentinel. */
	if ((r = job_json_value(f, k, j, v, err, errlen)))
		return r;
	return !strcmp(k, "id") ? job_check_id(j->id, err, errlen) : 0;
}

/* Parse the job document into *job, which must have been job_init'ed (or filled before):
 * on success it is replaced whole, on failure left as it was. Duplicate keys are refused:
 * a producer's parser and ours must never disagree on which "id" or "limits" counts. */
int job_from_json(struct job *job, const char *json, size_t len, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root, *v;
	const char *k;
	struct job j;
	int r = 0;

	root = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (!root) {
		char shown[JSON_ERROR_TEXT_LENGTH];
		/* jansson quotes the token it stopped at, raw: a producer's bytes. */
		worker_err(err, errlen, "the job is not valid JSON: line %d, column %d: %s",
			   jerr.line, jerr.column, job_show(shown, sizeof(shown), jerr.text));
		return -EINVAL;
	}
	if (!json_is_object(root)) {
		worker_err(err, errlen, "the job must be a JSON object, not %s",
			   job_type_name(root));
		json_decref(root);
		return -EINVAL;
	}
	if (json_object_get(root, "size") &&
	    (json_object_get(root, "width") || json_object_get(root, "height"))) {
		worker_err(err, errlen, "the job gives both 'size' and 'width'/'height'; give one");
		json_decref(root);
		return -EINVAL;
	}
	job_init(&j);
	json_object_foreach(root, k, v)
	{
		if ((r = job_json_field(&j, k, v, err, errlen)))
			break;
	}
	json_decref(root);
	if (r) {
		job_free(&j);
		return r;
	}
	job_free(job);
	*job = j;
	return 0;
}
