/* render.h - turn a frame stream into a video file.
 *
 * The renderer knows nothing of namespaces or jobs: it reads a raw, Y4M or PPM frame
 * stream from a descriptor, encodes it with libav as it arrives, and writes a video
 * to a temporary file beside the target, which render_commit() renames into place.
 *
 * Functions return 0 or a negative errno (AVERROR values are mapped to -EINVAL/-EIO);
 * failures a user must see carry one sentence in the caller's err buffer.
 */
#ifndef REELBOX_RENDER_H
#define REELBOX_RENDER_H

#include <stddef.h>
#include <stdint.h>

struct render;

enum render_container {
	RENDER_MP4 = 0, /* H.264 (libx264), yuv420p, moov first */
	RENDER_WEBM,	/* VP9 (libvpx-vp9) */
	RENDER_GIF,	/* GIF with a palette per frame */
	RENDER_MOV,	/* ProRes 4444 (prores_ks), yuva444p10le with an rgba stream */
};

/* The video codec inside the container. DEFAULT is the container's own (H.264 in MP4,
 * VP9 in WebM, GIF, ProRes in MOV); the others are asked for by name. */
enum render_codec {
	RENDER_CODEC_DEFAULT = 0,
	RENDER_CODEC_H264,
	RENDER_CODEC_HEVC,   /* libx265, tagged hvc1; MP4 only */
	RENDER_CODEC_VP9,    /* libvpx-vp9; WebM only */
	RENDER_CODEC_AV1,    /* libsvtav1, else libaom-av1, else librav1e; MP4 and WebM */
	RENDER_CODEC_PRORES, /* prores_ks profile 4444; MOV only */
	RENDER_CODEC_GIF,
};

struct render_spec {
	int width, height;    /* the output size; raw frames must have exactly this size */
	int fps;	      /* frames per second when fps_num is 0 (a whole rate) */
	int fps_num, fps_den; /* the exact rate fps_num/fps_den (30000/1001); 0: fps/1 */
	const char *codec;    /* "h264" "hevc" "vp9" "av1" "prores"; NULL: the container's */
	const char *pix_fmt;  /* the raw stream's format: rgb24 rgba bgr24 gray yuv420p */
	int64_t max_frames;   /* a ceiling: reading stops once it is reached */
	const char *output;   /* final path; the container comes from the extension */
	int crf;	      /* -1: the encoder's default for the container */
	const char *preset;   /* NULL: "medium" (x264 names; mapped for VP9) */
	int threads;	      /* encoder threads; 0 = auto */
	/* When >= 0 (set it explicitly: 0 is a valid descriptor, so callers that zero the
	 * spec must set -1 to write by path), the container is written into this seekable
	 * file, which the caller opened and later renames (render_output_temp and
	 * render_output_commit); output then only names the container by its extension.
	 * This is how a confined encoder process that may open nothing writes its video. */
	int output_fd;
	int use_output_fd; /* output_fd is meant: 0 keeps the path mode for zeroed specs */
	/* The poster (poster.c): a JPEG of one frame, as wide as the video or at most 1280,
	 * written into poster_fd when use_poster_fd (the confined encoder's way, like
	 * output_fd; the caller renames it with the video). Otherwise none: a zeroed spec
	 * and the path mode make none. poster_frame >= 0 names the frame (0-based); -1
	 * picks one by content, avoiding black and blank frames. */
	int poster_fd;
	int use_poster_fd;
	int64_t poster_frame;
	/* A still instead of a video (reelbox run --still): frame poster_frame, at the
	 * frame's size, as a PNG into the output (fd or temporary file, as a video would
	 * be); no video is encoded and the output's extension is not a container's. The
	 * caller sets max_frames to poster_frame + 1, so reading stops at that frame. */
	int still;
	/* The contact sheet (sheet.c): sheet_cols x sheet_rows evenly spaced frames of
	 * max_frames in one JPEG, written into sheet_fd when use_sheet_fd (fd mode only). */
	int sheet_fd;
	int use_sheet_fd;
	int sheet_cols, sheet_rows;
	/* The audio track (audio.c): when use_audio, the encoder process that made the video
	 * adds the file the job names (audio_name, for sentences; its descriptor is handed
	 * over once the script has exited, waited for at most audio_wait_s) with
	 * render_audio_mux, into audio_out_fd (fd mode only), which becomes the video. */
	int audio_out_fd;
	int use_audio;
	const char *audio_name;
	uint32_t audio_wait_s;
	/* A chunk of a chunked job (render_join): the output is Matroska whatever the
	 * output's extension, holding the frames encoded exactly as the final container's
	 * codec and settings would get them (the extension and codec still choose those),
	 * starting on a keyframe. No poster or contact sheet: the join makes the poster. */
	int chunk;
	/* A chunk's first frame in the whole job (its FRAME_START): with use_audio, the
	 * chunk's range of the job's audio is added as PCM (render_chunk_audio). */
	int64_t chunk_first_frame;
};

#define RENDER_MAX_WARNINGS 4
#define RENDER_WARNING_LEN  200

/* After the frame ceiling (or once a stream is found wrong) the reader reads on without
 * encoding, for at most this long and this many bytes, to learn whether what the script
 * wrote was whole frames. Bounded both ways: the script may never stop writing. */
#define RENDER_DRAIN_MS	   1000
#define RENDER_DRAIN_BYTES (512ull << 20)

struct render_result {
	int64_t frames;	     /* frames encoded */
	int hit_ceiling;     /* 1 when reading stopped at max_frames */
	uint64_t bytes;	     /* size of the finished file */
	char sha256[65];     /* hex digest of the finished file */
	char stream_kind[8]; /* "raw", "y4m" or "ppm" */
	uint64_t first_frame_ms, encode_ms;

	/* The stream, as far as it was read (set by render_finish and render_stream_facts) */
	uint64_t stream_bytes; /* bytes read from the script, drained ones included */
	int frame_cap_hit;     /* the ceiling cut the stream short: it held more after it */
	int cut;	       /* reading stopped while the writer may still have been writing
				* (a drain cap, or a stream refused early): its end is unknown */
	int n_warnings;	       /* sentences about likely mistakes that did not fail it */
	char warnings[RENDER_MAX_WARNINGS][RENDER_WARNING_LEN];

	/* The poster, when one was asked for: its size (0 when it could not be made: the
	 * video still stands), the frame it shows and the time it cost the encoder. */
	uint64_t poster_bytes;
	int64_t poster_frame;
	uint64_t poster_ms;
	/* The contact sheet, when one was asked for: its size (0: none could be made) and
	 * how many cells hold their frame (fewer when the stream ended early). */
	uint64_t sheet_bytes;
	int sheet_filled;
	/* render_join with chunks that carry audio: the track it encoded ("" for none) and
	 * its samples at 48 kHz. */
	char audio_codec[8];
	int64_t audio_samples;
};

/* Called from the reading thread after each encoded frame. */
typedef void (*render_progress_fn)(void *opaque, int64_t frames_done);

/* FFmpeg's libraries are loaded with dlopen on first use, not at startup (see
 * avload.c); render_open() and the stream reader call this themselves. Returns 0, or
 * -ENOENT with a sentence when they cannot be loaded. Idempotent and thread-safe;
 * a failure is final. */
int render_libav_load(char *err, size_t errlen);

/* Container for a path's extension (.mp4 .webm .gif), or -EINVAL. */
int render_container_from_path(const char *path);

/* Bytes per frame of a raw stream of this format and size, or 0 if the name is unknown. */
size_t render_frame_bytes(const char *pix_fmt, int width, int height);

/* ---- what render accepts: the source of the rules a job is validated by ------------ */

/* The largest frame: each side at most RENDER_MAX_WIDTH, and at most this many pixels
 * (RENDER_MAX_WIDTH x RENDER_MAX_HEIGHT, either way round). */
#define RENDER_MAX_WIDTH  7680
#define RENDER_MAX_HEIGHT 4320

/* Container for a format name ("mp4", "webm", "gif", "mov"), or -EINVAL. */
int render_container_from_name(const char *name);

/* Codec for a name ("h264" "hevc" "vp9" "av1" "prores"), or -EINVAL; NULL and "" are
 * RENDER_CODEC_DEFAULT. */
int render_codec_from_name(const char *name);

/* The codec a container gets for codec (DEFAULT becomes the container's own), or
 * -EINVAL with a sentence naming the codecs the container takes ("codec av1 cannot go in
 * .gif; .gif takes gif"). */
int render_codec_for(int container, int codec, char *err, size_t errlen);

/* Whether this libavcodec has an encoder for codec (loading libav first): 0, or -ENOSYS
 * with a sentence naming the encoders looked for, or -ENOENT when libav cannot load. */
int render_codec_available(int codec, char *err, size_t errlen);

/* The largest crf of a codec as render_codec_for gave it (51 for H.264 and HEVC, 63 for
 * VP9 and AV1); 0 for the ones without a crf (GIF, ProRes), which ignore it. */
int render_codec_crf_max(int codec);

/* Whether the stream's alpha channel survives this container and codec: VP9 in WebM
 * (yuva420p) and ProRes 4444 in MOV. An rgba stream into any other gets a warning. */
int render_keeps_alpha(int container, int codec);

/* Whether preset is a name render accepts (x264's ultrafast..placebo). */
int render_preset_known(const char *preset);

/* The i-th preset name, fastest first (0 is "ultrafast"); NULL past the last. For a
 * sentence that lists them. */
const char *render_preset_name(int i);

/* The largest crf of a container (51 for H.264, 63 for VP9; GIF ignores crf and takes
 * up to 63), or -EINVAL for an unknown one. crf -1 is always the encoder's default. */
int render_crf_max(int container);

/* Whether the container needs even sides: H.264 and VP9 carry yuv420p, whose chroma
 * planes are half size both ways; GIF is palette-indexed and takes any size. */
int render_needs_even_size(int container);

/* libav logs process-wide: errors only, unless verbose (encoder statistics and all).
 * Does not load libav: before it is loaded, the level is applied when it is. */
void render_quiet_logs(int verbose);

/* A temporary file beside output (".<name>.tmp-XXXXXX", mode 0644, O_CLOEXEC) for an
 * encoder to write into: the fd, and the malloc'd path in *tmp_path. A missing
 * directory is named in err. */
int render_output_temp(const char *output, char **tmp_path, char *err, size_t errlen);

/* Rename a finished temporary file into place and sync the directory. */
int render_output_commit(const char *tmp_path, const char *output, char *err, size_t errlen);

/* Memory an encode of this spec needs at most (the encoder's look-ahead and reference
 * frames, the reader's frame, libav's own), in bytes: what an encoder process's memory
 * limit is set from. Measured on libx264/libvpx-vp9 per preset; see docs/capacity.md. */
uint64_t render_memory_estimate(const struct render_spec *spec);

/* Open the encoder and the temporary output file. */
int render_open(const struct render_spec *spec, struct render **out, char *err, size_t errlen);

/* Read frames from fd until EOF or the ceiling, encoding each as it arrives; blocking.
 * Returns 0 when the stream was well formed with at least one frame. Does not close fd. */
int render_stream(struct render *r, int fd, render_progress_fn progress, void *opaque, char *err,
		  size_t errlen);

/* A descriptor whose readability means "the writer is gone": render_stream() then reads
 * only what is already buffered and ends there instead of waiting for an EOF that a
 * writer end held elsewhere would never deliver. -1 (the default) for none. */
void render_set_stop_fd(struct render *r, int fd);

/* Whether render_stream() stopped because it reached max_frames. */
int render_hit_ceiling(const struct render *r);

/* The stream fields of res (stream_bytes, frame_cap_hit, cut, warnings, hit_ceiling),
 * whether render_stream() succeeded or not; render_finish() sets them too. */
void render_stream_facts(const struct render *r, struct render_result *res);

/* Ask a render_stream() running on another thread to stop at the next frame boundary. */
void render_cancel(struct render *r);

/* Flush the encoder, write the trailer, fsync and hash the temporary file. */
int render_finish(struct render *r, struct render_result *res, char *err, size_t errlen);

/* Atomically rename the finished temporary file to the output path. */
int render_commit(struct render *r, char *err, size_t errlen);

/* Free everything; removes the temporary file unless it was committed. */
void render_close(struct render *r);

/* ---- joining the chunks of a chunked job (join.c) ------------------------------------ */

/* The most chunks one join takes: the encoder request carries one descriptor each. */
#define RENDER_JOIN_MAX_CHUNKS 64

/* Join n chunk files (render_spec.chunk's output, read through their descriptors from
 * offset 0: regular seekable files; nothing is opened by name) in order into the final
 * container spec describes (output's extension, codec, rate, size; written into
 * spec->output_fd, which use_output_fd must set; the poster into spec->poster_fd when
 * use_poster_fd, as render_finish would). Packet-level: nothing is re-encoded; chunk
 * k's frames follow chunk k-1's with exact timestamps. Checked: every chunk holds the
 * codec, size and codec parameters (extradata) of the first and of the spec, starts on
 * a keyframe and holds each of its frames once; the total is spec->max_frames when that
 * is > 0. The chunks are untrusted bytes: a bad one is a sentence, never a broken file.
 * progress (may be NULL) is called with the frames joined so far. Fills res (frames,
 * bytes, sha256, the poster fields, encode_ms). Returns 0 or a negative errno. */
int render_join(const int *chunk_fds, int n, const struct render_spec *spec,
		struct render_result *res, char *err, size_t errlen);

/* render_join with a progress callback (frames joined so far, after each chunk). */
int render_join_progress(const int *chunk_fds, int n, const struct render_spec *spec,
			 render_progress_fn progress, void *opaque, struct render_result *res,
			 char *err, size_t errlen);

/* ---- audio (audio.c): a script's audio file muxed as the video's track ------------- */

/* What render_audio_mux did. fitted is audio.h's enum render_audio_fit (0 exact,
 * 1 trimmed, 2 padded). */
struct render_audio_result {
	char codec[8];		  /* "aac" or "opus" */
	int64_t samples;	  /* samples per channel in the track, at 48 kHz */
	int64_t source_samples;	  /* what the source yielded at 48 kHz (as far as read) */
	double source_duration_s; /* the source's own length */
	int fitted;
	uint64_t bytes;	 /* size of the new file */
	char sha256[65]; /* its hex digest */
};

/* Copy the finished video in video_fd (read from offset 0; no re-encode) into out_fd
 * with an audio track made from the file in audio_fd: decoded (any format libav reads),
 * resampled to 48 kHz stereo, trimmed or padded with silence to exactly frames at
 * fps_num/fps_den, encoded as AAC (MP4, MOV) or Opus (WebM), interleaved, MP4's moov
 * first. container is enum render_container; name is the audio file's name for
 * sentences. The decoder parses untrusted bytes: call this only in a confined process.
 * out_fd is synced and hashed into res. */
int render_audio_mux(int video_fd, int audio_fd, int out_fd, int container, const char *name,
		     int64_t frames, int fps_num, int fps_den, struct render_audio_result *res,
		     char *err, size_t errlen);

/* A chunk's audio (join.c): copy the finished chunk in chunk_fd (render_spec.chunk's
 * Matroska, read from offset 0; no re-encode) into out_fd with its range of the job's
 * audio as a 48 kHz stereo float PCM track: the file in audio_fd decoded as for
 * render_audio_mux, and of it exactly the samples frames [first_frame, first_frame +
 * frames) span at fps_num/fps_den (render_audio_samples of both ends), so the chunks'
 * tracks join sample-exactly; render_join encodes them once. res's codec is "pcm". */
int render_chunk_audio(int chunk_fd, int audio_fd, int out_fd, const char *name,
		       int64_t first_frame, int64_t frames, int fps_num, int fps_den,
		       struct render_audio_result *res, char *err, size_t errlen);

/* The audio codec a container takes ("aac", "opus"), NULL when it takes none (GIF). */
const char *render_audio_codec_for(int container);

#endif
