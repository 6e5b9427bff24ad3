/* checks.h - cheap looks at a raw frame stream for the shapes of known script mistakes.
 *
 * A raw stream has no structure of its own: a script that prints a line to stdout,
 * sends RGBA or float64 bytes as rgb24, shapes its numpy array (W, H, 3) or hard-codes
 * another size still delivers "frames", and the video comes out as garbage marked
 * succeeded. These checks look at the first frame, at the stream's length and at the
 * frames' colour for the patterns those mistakes leave, and turn each into one sentence
 * that names the likely cause and the fix. A pattern that no sound picture has is
 * certain (the job fails); a strong hint becomes a warning in the result.
 *
 * Each check costs one pass over one frame at most: the first frame's (text, wide
 * values, alpha, row stride) run once, the black-clip watch stops at the first frame
 * that is not solid black. render/ internal: encode.c drives it, tests call the
 * detectors directly.
 */
#ifndef REELBOX_RENDER_CHECKS_H
#define REELBOX_RENDER_CHECKS_H

#include <stddef.h>
#include <stdint.h>

#include <libavutil/pixfmt.h>

#include "render.h" /* RENDER_MAX_WARNINGS, RENDER_WARNING_LEN */

#define RENDER_REFUSAL_LEN 400

/* What check_text_line() found at the start of a buffer. */
enum check_text {
	CHECK_TEXT_NONE = 0,
	CHECK_TEXT_WEAK,   /* a short printable line (digits, a symbol): only a hint */
	CHECK_TEXT_STRONG, /* words: "Rendering 30 frames", "done" */
};

/* What check_wide_values() found: pixel values stored in more than one byte. */
enum check_wide {
	CHECK_WIDE_NONE = 0,
	CHECK_WIDE_FLOAT64,
	CHECK_WIDE_FLOAT32,
	CHECK_WIDE_INT64,
	CHECK_WIDE_INT32,
	CHECK_WIDE_INT16,
};

/* What check_row_stride() found: the length the first frame's rows really have. */
enum check_stride {
	CHECK_STRIDE_NONE = 0,
	CHECK_STRIDE_TRANSPOSED, /* HEIGHT pixels: a (W, H, 3) array */
	CHECK_STRIDE_WIDTH,	 /* another common width: a hard-coded size */
	CHECK_STRIDE_GRAY,	 /* WIDTH bytes: one byte a pixel */
	CHECK_STRIDE_RGBA,	 /* WIDTH*4 bytes: four bytes a pixel */
};

struct check_stride_guess {
	enum check_stride kind;
	int width;	   /* CHECK_STRIDE_WIDTH: the width the rows line up at */
	size_t stride;	   /* in bytes */
	double job, found; /* share of byte pairs that differ, at the job's row and at it */
	/* A common width that is a whole multiple of the job's and stands out the same way.
	 * Alone it proves nothing (rows dimmed every other line look alike: scanlines), so
	 * it is never a warning; it only confirms a length of exactly FRAMES such frames. */
	int multiple_width;
};

struct render_checks {
	int width, height;
	int bpp;      /* bytes a pixel of a packed format; 0 for yuv420p */
	int patterns; /* rgb24/bgr24: the first-frame byte patterns apply */
	char fmt[16]; /* the raw format's name, for sentences */
	size_t frame_bytes;
	int64_t frames_wanted; /* FRAMES; 0 when unknown */

	/* A certain finding: the stream is wrong and the job fails with this sentence. */
	int refused;
	char refusal[RENDER_REFUSAL_LEN];
	int n_warnings;
	char warnings[RENDER_MAX_WARNINGS][RENDER_WARNING_LEN];

	/* First-frame facts the end-of-stream sentence can use. */
	enum check_text text;
	char text_quote[48];
	struct check_stride_guess stride;

	/* Every frame so far solid black (the watch ends at the first that is not). */
	int black_watch, all_black;
	int64_t frames_seen;
};

/* Set up the checks for a raw stream of fmt (name) at width x height. */
void checks_init(struct render_checks *c, enum AVPixelFormat fmt, const char *name, int width,
		 int height, size_t frame_bytes, int64_t frames_wanted);

/* The first frame of a raw stream: text, wide values, alpha, row stride. May set
 * c->refused. */
void checks_first_frame(struct render_checks *c, const uint8_t *frame);

/* Every frame, the first included: the black-clip watch. */
void checks_frame(struct render_checks *c, const uint8_t *frame);

/* The stream ended cleanly after frames_read whole frames. complete: total_bytes is all
 * the script wrote (the stream reached its end, no cap cut it). Adds warnings (a black
 * clip, a length that is exactly FRAMES frames of another size) and may set c->refused
 * when two findings agree. */
void checks_end(struct render_checks *c, uint64_t total_bytes, int complete);

/* The sentence for a raw stream whose total_bytes is not whole frames of frame_bytes,
 * with the likely cause: "23,040,047 bytes: 47 bytes more than 133 frames of 320x180
 * rgb24: did the script print text to stdout?". c may be NULL (no first-frame facts);
 * tail is the last partial frame (tail_len bytes) or NULL. */
void checks_explain_length(const struct render_checks *c, int width, int height, const char *fmt,
			   size_t frame_bytes, uint64_t total_bytes, const uint8_t *tail,
			   size_t tail_len, char *err, size_t errlen);

/* ---- the detectors, one pattern each ---- */

/* A newline-terminated printable line at the start of p: its kind, and the line's length
 * without the newline in *line_len. Solid colours (a repeating byte pattern) and smooth
 * pixel runs are not text. */
enum check_text check_text_line(const uint8_t *p, size_t n, size_t *line_len);

/* The byte position (0..3) of 4-byte groups that is 255 everywhere while the other three
 * are not all 255 (an alpha channel), or -1. */
int check_alpha_bytes(const uint8_t *p, size_t n);

/* Whether p reads as little-endian float64/float32/int64/int32/int16 numbers in a
 * pixel's range rather than as bytes. */
enum check_wide check_wide_values(const uint8_t *p, size_t n);

/* Whether the rows of a width x height frame of bpp-byte pixels line up at another
 * length than width pixels: a (W, H, 3) array, a common width, 1 or 4 bytes a pixel.
 * Fills *g (kind CHECK_STRIDE_NONE when nothing stands out). */
void check_row_stride(const uint8_t *p, size_t n, int width, int height, int bpp,
		      struct check_stride_guess *g);

/* Whether a frame is solid black (every colour byte 0; rgba's alpha may be anything). */
int check_solid_black(const uint8_t *p, size_t n, int bpp);

/* v with thousands separators ("23,040,047") in buf. */
const char *checks_grouped(char *buf, size_t n, uint64_t v);

#endif
