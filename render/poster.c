/* poster.c - the poster: the frame that best shows a video, as a JPEG beside it.
 *
 * Why a pick and not "frame N": scripts fade in from black, open on a title card of
 * one colour, or clear the screen before drawing, so a fixed frame is often blank. The
 * pick looks at about POSTER_SAMPLES frames spread over the stream as it is encoded
 * (the length is not known in advance: max_frames is a ceiling), scores each on a
 * 160-pixel-wide luma thumbnail (cheap: the full-size conversion happens only for a new
 * best), and keeps the best one so far: no reservoir of frames, one poster-sized copy.
 * A job may name the frame instead (pick >= 0); the pick still runs as the fallback for
 * a stream that ends before that frame.
 *
 * The JPEG is libav's mjpeg encoder on full-range 4:2:0 (yuvj420p, spelled as yuv420p with
 * color_range JPEG, which libav prefers now), one packet written with
 * pwrite into the caller's descriptor: the confined encoder process opens nothing.
 */
#define _GNU_SOURCE
#include "poster.h"
#include "image.h"
#include "render.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavutil/imgutils.h>
#include <libavutil/mem.h>
#include <libswscale/swscale.h>

#define THUMB_WIDTH 160

struct poster {
	int fd;
	int64_t pick, max_frames;
	int width, height; /* the video's */
	int pw, ph;	   /* the poster's */
	int tw, th;	   /* the thumbnail's */
	struct SwsContext *thumb_sws, *full_sws;
	AVFrame *best, *thumb;
	struct poster_score best_score;
	int64_t best_index;
	int have, picked;
	int png;     /* a still (poster_open_still): frame pick, full size, rgb24 PNG */
	int broken;  /* a frame could not be scaled: no poster */
	uint64_t ns; /* time spent here */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct poster_score poster_score_luma(const uint8_t *luma, int linesize, int w, int h)
{
	struct poster_score s = {0, 0, 1};
	uint64_t sum = 0, sq = 0, n = (uint64_t)(w > 0 ? w : 0) * (uint64_t)(h > 0 ? h : 0);
	double var;

	if (!luma || n == 0)
		return s;
	for (int y = 0; y < h; y++) {
		const uint8_t *row = luma + (ptrdiff_t)y * linesize;
		for (int x = 0; x < w; x++) {
			sum += row[x];
			sq += (uint64_t)row[x] * row[x];
		}
	}
	s.mean = (double)sum / (double)n;
	var = (double)sq / (double)n - s.mean * s.mean;
	s.stddev = var > 0 ? sqrt(var) : 0;
	s.blank = s.mean < POSTER_BLACK_MEAN || s.mean > POSTER_WHITE_MEAN ||
		  s.stddev < POSTER_FLAT_STDDEV;
	return s;
}

/* Contrast, less for a frame far from mid-grey (a dim or washed-out frame). */
static double interest(const struct poster_score *s)
{
	return s->stddev * (1.0 - fabs(s->mean - 128.0) / 256.0);
}

int poster_better(const struct poster_score *a, const struct poster_score *b)
{
	if (a->blank != b->blank)
		return !a->blank;
	if (!a->blank)
		return interest(a) > interest(b);
	return a->mean + a->stddev > b->mean + b->stddev;
}

int poster_sampled(int64_t index, int64_t max_frames)
{
	int64_t stride = max_frames / POSTER_SAMPLES;

	if (index < 0)
		return 0;
	if (stride < 1)
		stride = 1;
	if (index < stride)
		return (index & (index - 1)) == 0; /* 0 and the powers of two */
	while (index >= POSTER_SAMPLES * stride && stride < (INT64_MAX / 4) / POSTER_SAMPLES)
		stride *= 2;
	return index % stride == 0;
}

void poster_size(int w, int h, int *pw, int *ph)
{
	if (w <= POSTER_MAX_WIDTH) {
		*pw = w;
		*ph = h;
		return;
	}
	*pw = POSTER_MAX_WIDTH;
	*ph = (int)(((int64_t)h * POSTER_MAX_WIDTH + w / 2) / w);
	if (*ph < 1)
		*ph = 1;
}

static AVFrame *yuvj_frame(int w, int h)
{
	AVFrame *f = av_frame_alloc();

	if (!f)
		return NULL;
	f->format = AV_PIX_FMT_YUV420P;
	f->width = w;
	f->height = h;
	f->color_range = AVCOL_RANGE_JPEG;
	if (av_frame_get_buffer(f, 0) < 0)
		av_frame_free(&f);
	return f;
}

int poster_open(struct poster **out, int fd, int64_t pick, int64_t max_frames, int width,
		int height, char *err, size_t errlen)
{
	struct poster *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (!p)
		return -ENOMEM;
	p->fd = fd;
	p->pick = pick;
	p->max_frames = max_frames;
	p->width = width;
	p->height = height;
	poster_size(width, height, &p->pw, &p->ph);
	p->tw = width < THUMB_WIDTH ? width : THUMB_WIDTH;
	p->th = (int)(((int64_t)height * p->tw + width / 2) / width);
	if (p->th < 1)
		p->th = 1;
	p->best = yuvj_frame(p->pw, p->ph);
	p->thumb = yuvj_frame(p->tw, p->th);
	if (!p->best || !p->thumb) {
		poster_free(p);
		snprintf(err, errlen, "cannot allocate the poster's frames");
		return -ENOMEM;
	}
	*out = p;
	return 0;
}

int poster_open_still(struct poster **out, int fd, int64_t frame, int width, int height, char *err,
		      size_t errlen)
{
	struct poster *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (!p)
		return -ENOMEM;
	p->fd = fd;
	p->pick = frame;
	p->png = 1;
	p->width = p->pw = width;
	p->height = p->ph = height;
	p->best = av_frame_alloc();
	if (p->best) {
		p->best->format = AV_PIX_FMT_RGB24;
		p->best->width = width;
		p->best->height = height;
		if (av_frame_get_buffer(p->best, 0) < 0)
			av_frame_free(&p->best);
	}
	if (!p->best) {
		poster_free(p);
		snprintf(err, errlen, "cannot allocate the still's frame");
		return -ENOMEM;
	}
	*out = p;
	return 0;
}

/* Scale src into dst through a context made (or kept) for this source. */
static int scale_into(struct SwsContext **sws, const uint8_t *const *src, const int *src_ls,
		      enum AVPixelFormat fmt, int w, int h, AVFrame *dst, int flags)
{
	struct SwsContext *was = *sws;
	int ret = av_frame_make_writable(dst);

	if (ret < 0)
		return ret;
	*sws = sws_getCachedContext(*sws, w, h, fmt, dst->width, dst->height, dst->format, flags,
				    NULL, NULL, NULL);
	if (!*sws)
		return AVERROR(EINVAL);
	if (*sws != was) {
		/* full-range output (JPEG's), the source's range as swscale found it */
		int *inv, *tbl, src_range, dst_range, bright, contrast, sat;
		if (sws_getColorspaceDetails(*sws, &inv, &src_range, &tbl, &dst_range, &bright,
					     &contrast, &sat) >= 0)
			sws_setColorspaceDetails(*sws, inv, src_range, tbl, 1, bright, contrast,
						 sat);
	}
	ret = sws_scale(*sws, src, src_ls, 0, h, dst->data, dst->linesize);
	return ret < 0 ? ret : 0;
}

void poster_take(struct poster *p, int64_t index, const uint8_t *data, enum AVPixelFormat fmt,
		 int w, int h)
{
	int want = p->pick >= 0 && index == p->pick;
	uint8_t *src[4];
	int ls[4], ret = 0;
	uint64_t t0;

	if (p->picked || p->broken || (!want && (p->png || !poster_sampled(index, p->max_frames))))
		return;
	t0 = now_ns();
	ret = av_image_fill_arrays(src, ls, data, fmt, w, h, 1);
	if (ret >= 0 && !want) {
		struct poster_score s;

		/* Not SWS_FAST_BILINEAR: on x86 it makes swscale write machine code at run
		 * time, which the confined encoder's filter refuses (SIGSYS). */
		ret = scale_into(&p->thumb_sws, (const uint8_t *const *)src, ls, fmt, w, h,
				 p->thumb, SWS_BILINEAR);
		if (ret < 0)
			goto end;
		s = poster_score_luma(p->thumb->data[0], p->thumb->linesize[0], p->tw, p->th);
		if (p->have && !poster_better(&s, &p->best_score))
			goto end;
		p->best_score = s;
	}
	if (ret >= 0)
		ret = scale_into(&p->full_sws, (const uint8_t *const *)src, ls, fmt, w, h, p->best,
				 SWS_BICUBIC);
	if (ret >= 0) {
		p->best_index = index;
		p->have = 1;
		p->picked = want;
	}
end:
	p->ns += now_ns() - t0;
	if (ret < 0)
		p->broken = 1;
}

int poster_write(struct poster *p, uint64_t *bytes, int64_t *frame, uint64_t *ms, char *err,
		 size_t errlen)
{
	uint64_t t0 = now_ns();
	int ret;

	*bytes = 0;
	*frame = -1;
	if (p->png && !p->picked) {
		snprintf(err, errlen,
			 "the stream ended before frame %lld: a still needs the script to write "
			 "frames 0 to %lld",
			 (long long)p->pick, (long long)p->pick);
		return -ENODATA;
	}
	if (!p->have || p->broken) {
		snprintf(err, errlen,
			 p->broken ? "cannot scale a frame for the poster"
				   : "the poster has no frame");
		return p->broken ? -EIO : -ENODATA;
	}
	ret = render_image_write(p->best, p->png, p->fd, bytes, p->png ? "still" : "poster", err,
				 errlen);
	if (ret == 0)
		*frame = p->best_index;
	p->ns += now_ns() - t0;
	*ms = p->ns / 1000000;
	return ret;
}

int poster_begin(struct poster **out, const struct render_spec *spec, char *err, size_t errlen)
{
	*out = NULL;
	if (!spec->use_poster_fd)
		return 0;
	return poster_open(out, spec->poster_fd, spec->poster_frame, spec->max_frames, spec->width,
			   spec->height, err, errlen);
}

void poster_end(struct poster *p, struct render_result *res)
{
	char err[200];

	res->poster_bytes = 0;
	res->poster_frame = -1;
	(void)poster_write(p, &res->poster_bytes, &res->poster_frame, &res->poster_ms, err,
			   sizeof(err));
}

void poster_free(struct poster *p)
{
	if (!p)
		return;
	sws_freeContext(p->thumb_sws);
	sws_freeContext(p->full_sws);
	av_frame_free(&p->best);
	av_frame_free(&p->thumb);
	free(p);
}
