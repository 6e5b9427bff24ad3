/* audio.h - render's audio: decode any file libav reads into 48 kHz stereo PCM, fitted to
 * a video's length, and encode PCM as a container's audio track (audio.c).
 *
 * A render-internal header with a stable API: the whole-job mux (render_audio_mux in
 * render.h) and the chunked join (join.c) are both built from these calls. The decoder
 * is fed untrusted bytes (a file a script wrote), so it only ever runs in the confined
 * encoder process; it reads through a descriptor, never a path, and opens nothing else.
 *
 * The PCM format everywhere is RENDER_AUDIO_RATE Hz, RENDER_AUDIO_CHANNELS channels,
 * float planar (planes[0] left, planes[1] right), full scale +-1.0. Functions return 0 or a
 * negative errno with one sentence in err.
 */
#ifndef REELBOX_RENDER_AUDIO_H
#define REELBOX_RENDER_AUDIO_H

#include <stddef.h>
#include <stdint.h>

struct AVFormatContext;
struct AVPacket;
struct AVStream;

#define RENDER_AUDIO_RATE     48000
#define RENDER_AUDIO_CHANNELS 2

/* How a source was fitted to the video (the result's "fitted"). EXACT: it was within
 * RENDER_AUDIO_EXACT_SLACK samples of the length (a resampled source rounds by a few). */
enum render_audio_fit {
	RENDER_AUDIO_EXACT = 0,
	RENDER_AUDIO_TRIMMED,
	RENDER_AUDIO_PADDED,
};
#define RENDER_AUDIO_EXACT_SLACK 48 /* 1 ms at 48 kHz */

/* The samples (per channel, at RENDER_AUDIO_RATE) of frames video frames at
 * fps_num/fps_den: round(frames * 48000 * fps_den / fps_num), computed exactly. */
int64_t render_audio_samples(int64_t frames, int fps_num, int fps_den);

/* Receives n (> 0) samples per channel; planes stay valid for the call only. A negative
 * return (an errno, with the sentence already in the caller's err) stops the decode. */
typedef int (*render_audio_sink_fn)(void *opaque, const float *const planes[2], int n);

struct render_audio_facts {
	int64_t delivered;	  /* samples given to the sink: always n_samples on success */
	int64_t decoded;	  /* samples the source yielded at 48 kHz before it was fitted
				   * (for a trimmed source, as far as it was read) */
	double source_duration_s; /* the source's own length: its container's figure when
				   * it has one, else decoded / 48000 */
	enum render_audio_fit fitted;
};

/* Decode the audio file open at fd (any container and codec this libav reads; the first
 * audio stream), resample it to 48 kHz stereo float planar and hand exactly n_samples
 * samples to sink: trimmed when the source is longer, padded with silence when shorter.
 * Reads with pread/lseek from offset 0 (the descriptor's offset is not used), opens no
 * other file, and is bounded: it stops once n_samples are out (reading on only to learn
 * that there were more) and gives up after RENDER_AUDIO_MAX_READ bytes or
 * RENDER_AUDIO_MAX_PACKETS packets. name is the file's name for sentences. Corrupt or
 * non-audio input: -EINVAL and "audio.wav is not audio libav can read: Invalid data
 * found when processing input". facts may be NULL. */
int render_audio_decode(int fd, const char *name, int64_t n_samples, render_audio_sink_fn sink,
			void *opaque, struct render_audio_facts *facts, char *err, size_t errlen);

#define RENDER_AUDIO_MAX_READ	 (4ull << 30)
#define RENDER_AUDIO_MAX_PACKETS (1 << 24)

/* ---- the encoder: PCM in, a container's audio stream out ------------------------- */

struct render_audio_enc;

/* Called with each encoded packet (its timestamps in the audio stream's time base, its
 * stream_index set) just before it goes to av_interleaved_write_frame: the caller writes
 * the other streams' packets up to that time first, so the muxer's interleaving queue
 * stays short. NULL for none. A negative return stops the encode with it. */
typedef int (*render_audio_before_fn)(void *opaque, const struct AVPacket *pkt,
				      const struct AVStream *st);

/* Add an audio stream to oc (before avformat_write_header) and open its encoder:
 * container is render.h's enum render_container: AAC (libav's native "aac", 160 kb/s) for
 * MP4 and MOV, Opus ("libopus", 128 kb/s) for WebM; GIF has no audio (-EINVAL). An FFmpeg
 * without libopus: -ENOSYS with a sentence. */
int render_audio_enc_open(struct AVFormatContext *oc, int container, render_audio_before_fn before,
			  void *opaque, struct render_audio_enc **out, char *err, size_t errlen);

/* The stream it added, and its codec's name for the result ("aac" or "opus"). */
struct AVStream *render_audio_enc_stream(const struct render_audio_enc *e);
const char *render_audio_enc_codec(const struct render_audio_enc *e);

/* Encode n samples (any n >= 0; buffered into the codec's frame size) and write the
 * packets they complete. */
int render_audio_enc_write(struct render_audio_enc *e, const float *const planes[2], int n,
			   char *err, size_t errlen);

/* Encode what is buffered (a short last frame) and drain the encoder. Call once, before
 * av_write_trailer. The stream then holds exactly the samples written (the codec's
 * priming is marked as such in the container: an edit list in MP4/MOV, Opus's pre-skip
 * in WebM). */
int render_audio_enc_flush(struct render_audio_enc *e, char *err, size_t errlen);

/* Samples written so far. */
int64_t render_audio_enc_samples(const struct render_audio_enc *e);

void render_audio_enc_free(struct render_audio_enc **e);

#endif
