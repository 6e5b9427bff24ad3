/* stream.h - render's internal frame-stream reader (raw, Y4M, PPM).
 *
 * The reader turns bytes from an untrusted descriptor into whole frames. It is
 * strict and bounded: a header line is never longer than a fixed limit, a declared
 * size must be the job's and is checked before anything is allocated, and at most
 * one frame plus a small look-ahead is held in memory. Every read has a size bound,
 * and with a stop descriptor no read can wait forever. Everything that goes wrong
 * gets one sentence.
 */
#ifndef REELBOX_RENDER_STREAM_H
#define REELBOX_RENDER_STREAM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <libavutil/buffer.h>
#include <libavutil/pixfmt.h>

#include "render.h"

struct render_checks;

/* render.h's largest frame: a side, and the pixels of either orientation. */
#define RENDER_MAX_DIM	      RENDER_MAX_WIDTH
#define RENDER_MAX_AREA	      (RENDER_MAX_WIDTH * RENDER_MAX_HEIGHT)
#define RENDER_Y4M_LINE_MAX   256
#define RENDER_PPM_HEADER_MAX 512
#define RENDER_LOOK_CAP	      4096

enum render_kind {
	RENDER_KIND_RAW = 0,
	RENDER_KIND_Y4M,
	RENDER_KIND_PPM,
};

struct render_reader {
	int fd;
	enum render_kind kind;
	const atomic_int *cancel;  /* may be NULL */
	int stop_fd;		   /* -1, or readable once the writer is gone */
	int stopping;		   /* stop_fd fired: read only what was buffered then */
	uint64_t drain_left;	   /* bytes still to read once stopping */
	int job_width, job_height; /* every Y4M/PPM frame must be exactly this size */

	/* The frames as the stream carries them; 0 until the first header is read. */
	enum AVPixelFormat fmt;
	int width, height;
	int maxval; /* PPM only */
	size_t frame_bytes;
	uint8_t *frame; /* one frame of frame_bytes, valid after render_reader_next() == 1 */
	AVBufferRef *frame_buf; /* owns frame, so an AVFrame can reference it without a copy */

	int64_t frames; /* whole frames delivered */
	uint64_t bytes; /* bytes consumed from fd */
	const char *raw_name;

	uint8_t look[RENDER_LOOK_CAP];
	size_t look_pos, look_len;
	int eof;

	/* render_reader_drain(): read on without a consumer, within a deadline and a byte
	 * budget; a read that would pass either returns -ETIME. */
	int draining;
	uint64_t drain_until_ns, drain_max_bytes;
	/* The first-frame facts of a raw stream (encode.c's), for the length's sentence. */
	const struct render_checks *checks;
};

/* Bind a reader to fd and recognise the stream by its first bytes: "YUV4MPEG2 " is
 * Y4M (its stream header is parsed here), "P6" and a blank is PPM, anything else
 * raw frames of pix_fmt at width x height. Y4M and PPM frames must also be exactly
 * width x height (-EPROTO otherwise). Reads at most one look-ahead buffer.
 *
 * stop_fd is -1 or a descriptor that becomes readable (or hung up) when the writer is
 * gone. With one, fd is switched to O_NONBLOCK and every wait is a poll() on both;
 * once stop_fd fires the reader takes only the bytes fd held at that moment, never
 * waits again, and then sees EOF. */
int render_reader_open(struct render_reader *rd, int fd, const char *pix_fmt, int width, int height,
		       const atomic_int *cancel, int stop_fd, char *err, size_t errlen);

/* Read the next whole frame into rd->frame. Returns 1 for a frame, 0 at a clean end
 * of a stream that had at least one frame, or a negative errno with a sentence:
 * -EPROTO for a malformed stream or a frame that is not the job's size, -ENODATA
 * for a stream without frames, -EFBIG for a declared size over the limit,
 * -ECANCELED when cancelled. */
int render_reader_next(struct render_reader *rd, char *err, size_t errlen);

/* Read on after the consumer stopped (the frame ceiling, or a stream found wrong), frame
 * by frame, to learn how the stream ends: at most max_ms and max_bytes more. Returns 0
 * when the stream ended cleanly (EOF, or everything buffered once stop_fd fired): every
 * byte the script wrote is then counted in rd->bytes and rd->frames. Returns 1 when a
 * cap came first (the writer may still be writing; the length is unknown), or a
 * negative errno with a sentence for an end that is not whole frames (raw: the
 * arithmetic) or not well formed (Y4M, PPM). */
int render_reader_drain(struct render_reader *rd, uint64_t max_ms, uint64_t max_bytes, char *err,
			size_t errlen);

void render_reader_free(struct render_reader *rd);

const char *render_kind_name(enum render_kind kind);

/* The pixel format a raw stream name stands for, or AV_PIX_FMT_NONE. */
enum AVPixelFormat render_raw_format(const char *pix_fmt);

#endif
