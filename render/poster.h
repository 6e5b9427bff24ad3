/* poster.h - render's internal side of the poster: one frame of the stream as a JPEG.
 *
 * The encoder hands every frame it reads to poster_take(); a few are looked at (see
 * poster_sampled) and the one that best shows the video is kept, converted to the
 * poster's size, until poster_write() encodes it with libav's mjpeg encoder into the
 * descriptor the caller gave (the confined encoder opens nothing).
 */
#ifndef REELBOX_RENDER_POSTER_H
#define REELBOX_RENDER_POSTER_H

#include <stddef.h>
#include <stdint.h>

#include <libavutil/pixfmt.h>

/* The poster's width at most; a wider video's poster is scaled down, aspect kept. */
#define POSTER_MAX_WIDTH 1280
/* Frames scored in the stream's body (evenly spaced over max_frames); a few early ones
 * (1, 2, 4, 8, ...) are added so a stream shorter than its ceiling has candidates. */
#define POSTER_SAMPLES 16

/* A frame's luma, as the pick sees it: mean and standard deviation on 0..255 (full
 * range), and whether it is blank (near black, near white or near uniform). */
struct poster_score {
	double mean, stddev;
	int blank;
};

/* Thresholds of a blank frame on full-range luma: darker than this mean, brighter than
 * that one, or flatter than this standard deviation. */
#define POSTER_BLACK_MEAN  24.0
#define POSTER_WHITE_MEAN  245.0
#define POSTER_FLAT_STDDEV 6.0

/* Score a luma plane (w x h, rows linesize apart). */
struct poster_score poster_score_luma(const uint8_t *luma, int linesize, int w, int h);

/* Whether a beats b: a non-blank frame beats a blank one; two non-blank frames by
 * contrast (stddev, less the further the mean is from mid-grey); two blank ones by
 * mean + stddev (the least black of them). Ties go to b, the earlier frame. */
int poster_better(const struct poster_score *a, const struct poster_score *b);

/* Whether frame index is one the pick scores, for a stream of at most max_frames
 * (0: unknown): 0 and the powers of two below the stride, then every stride-th frame,
 * stride = max_frames / POSTER_SAMPLES (at least 1), doubling past 16 strides when
 * the stream is longer than expected. */
int poster_sampled(int64_t index, int64_t max_frames);

/* The poster's size for a video of w x h: the same, or POSTER_MAX_WIDTH wide. */
void poster_size(int w, int h, int *pw, int *ph);

struct poster;
struct render_spec;
struct render_result;

/* pick: the frame to use (>= 0), or -1 for the content-aware pick. fd: where the JPEG
 * goes (written from offset 0). */
int poster_open(struct poster **out, int fd, int64_t pick, int64_t max_frames, int width,
		int height, char *err, size_t errlen);

/* A still instead of a poster (render_spec.still): frame only, at the video's size, a
 * PNG (rgb24) into fd; poster_write fails with a sentence when the stream ended before
 * that frame. */
int poster_open_still(struct poster **out, int fd, int64_t frame, int width, int height, char *err,
		      size_t errlen);

/* One frame of the stream, index counted from 0, as the reader holds it. A frame that
 * cannot be scaled leaves the poster without it (poster_write says so), never fails the
 * video. */
void poster_take(struct poster *p, int64_t index, const uint8_t *data, enum AVPixelFormat fmt,
		 int w, int h);

/* Encode the kept frame into the descriptor and sync it. *bytes is its size, *frame
 * the frame it shows, *ms the time the poster cost in all (sampling included). */
int poster_write(struct poster *p, uint64_t *bytes, int64_t *frame, uint64_t *ms, char *err,
		 size_t errlen);

/* encode.c's hooks. poster_begin: the poster the spec asks for into spec->poster_fd
 * (*out NULL when none). poster_end: write it and fill res's poster fields; a poster
 * that cannot be made leaves them 0 and the video stands. */
int poster_begin(struct poster **out, const struct render_spec *spec, char *err, size_t errlen);
void poster_end(struct poster *p, struct render_result *res);

void poster_free(struct poster *p);

#endif
