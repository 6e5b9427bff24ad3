/* sheet.c - the contact sheet: evenly spaced frames of the stream in one JPEG grid.
 *
 * The frames a cell shows are known up front from the job's frame count (the stream's
 * ceiling, which is what a script writes when it honours FRAMES), so nothing is buffered:
 * each wanted frame is scaled once, straight into its cell of a full-range yuv420p
 * canvas, as it goes by. A stream that stops early leaves the later cells black and
 * says how many were filled; sheet.h has the layout.
 */
#define _GNU_SOURCE
#include "sheet.h"
#include "image.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/frame.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>

struct sheet {
	int fd;
	int cols, rows, cells;
	int64_t frames;
	int cw, ch; /* a cell's size */
	int next;   /* the first cell not filled yet */
	int broken; /* a frame could not be scaled: no sheet */
	AVFrame *canvas;
	struct SwsContext *sws;
};

int64_t sheet_cell_frame(int k, int cells, int64_t frames)
{
	if (cells < 1 || frames < 1 || k < 0)
		return 0;
	/* k * frames fits: k < 100 cells, frames below the operator's cap */
	return (int64_t)k * frames / cells;
}

void sheet_cell_size(int w, int h, int cols, int *cw, int *ch)
{
	int max = cols > 0 ? SHEET_MAX_WIDTH / cols : SHEET_MAX_WIDTH;

	*cw = w < max ? w : max;
	*ch = (int)(((int64_t)h * *cw + w / 2) / (w > 0 ? w : 1));
	*cw &= ~1; /* even sides: the chroma planes are half size both ways */
	*ch &= ~1;
	if (*cw < 2)
		*cw = 2;
	if (*ch < 2)
		*ch = 2;
}

int sheet_open(struct sheet **out, int fd, int cols, int rows, int64_t frames, int width,
	       int height, char *err, size_t errlen)
{
	struct sheet *s;

	*out = NULL;
	if (cols < 1 || rows < 1 || cols > SHEET_MAX_SIDE || rows > SHEET_MAX_SIDE) {
		snprintf(err, errlen, "a contact sheet of %dx%d is outside 1x1..%dx%d", cols, rows,
			 SHEET_MAX_SIDE, SHEET_MAX_SIDE);
		return -EINVAL;
	}
	if (!(s = calloc(1, sizeof(*s))))
		return -ENOMEM;
	s->fd = fd;
	s->cols = cols;
	s->rows = rows;
	s->cells = cols * rows;
	s->frames = frames;
	sheet_cell_size(width, height, cols, &s->cw, &s->ch);
	s->canvas = av_frame_alloc();
	if (s->canvas) {
		s->canvas->format = AV_PIX_FMT_YUV420P;
		s->canvas->color_range = AVCOL_RANGE_JPEG;
		s->canvas->width = s->cw * cols;
		s->canvas->height = s->ch * rows;
		if (av_frame_get_buffer(s->canvas, 0) < 0)
			av_frame_free(&s->canvas);
	}
	if (!s->canvas) {
		sheet_free(s);
		snprintf(err, errlen, "cannot allocate the contact sheet");
		return -ENOMEM;
	}
	/* black: Y 0, chroma at its middle */
	for (int y = 0; y < s->canvas->height; y++)
		memset(s->canvas->data[0] + (ptrdiff_t)y * s->canvas->linesize[0], 0,
		       (size_t)s->canvas->width);
	for (int p = 1; p < 3; p++)
		for (int y = 0; y < s->canvas->height / 2; y++)
			memset(s->canvas->data[p] + (ptrdiff_t)y * s->canvas->linesize[p], 128,
			       (size_t)s->canvas->width / 2);
	*out = s;
	return 0;
}

/* The scaler writes full range (JPEG's); the source's range is as swscale found it. */
static void full_range_out(struct SwsContext *sws)
{
	int *inv, *tbl, src_range, dst_range, bright, contrast, sat;

	if (sws_getColorspaceDetails(sws, &inv, &src_range, &tbl, &dst_range, &bright, &contrast,
				     &sat) >= 0)
		sws_setColorspaceDetails(sws, inv, src_range, tbl, 1, bright, contrast, sat);
}

/* Scale a frame into cell k: the canvas's planes offset to the cell's corner. */
static int scale_cell(struct sheet *s, int k, uint8_t *const *src, const int *ls, int h)
{
	AVFrame *c = s->canvas;
	int x = (k % s->cols) * s->cw, y = (k / s->cols) * s->ch;
	uint8_t *dst[4] = {c->data[0] + (ptrdiff_t)y * c->linesize[0] + x,
			   c->data[1] + (ptrdiff_t)(y / 2) * c->linesize[1] + x / 2,
			   c->data[2] + (ptrdiff_t)(y / 2) * c->linesize[2] + x / 2, NULL};

	return sws_scale(s->sws, (const uint8_t *const *)src, ls, 0, h, dst, c->linesize);
}

void sheet_take(struct sheet *s, int64_t index, const uint8_t *data, enum AVPixelFormat fmt, int w,
		int h)
{
	struct SwsContext *was = s->sws;
	uint8_t *src[4];
	int ls[4];

	if (s->broken || s->next >= s->cells ||
	    index != sheet_cell_frame(s->next, s->cells, s->frames))
		return;
	if (av_image_fill_arrays(src, ls, data, fmt, w, h, 1) < 0) {
		s->broken = 1;
		return;
	}
	s->sws = sws_getCachedContext(s->sws, w, h, fmt, s->cw, s->ch, AV_PIX_FMT_YUV420P, SWS_AREA,
				      NULL, NULL, NULL);
	if (!s->sws) {
		s->broken = 1;
		return;
	}
	if (s->sws != was)
		full_range_out(s->sws);
	/* several cells show the same frame when there are fewer frames than cells */
	while (s->next < s->cells && sheet_cell_frame(s->next, s->cells, s->frames) == index) {
		if (scale_cell(s, s->next, src, ls, h) < 0) {
			s->broken = 1;
			return;
		}
		s->next++;
	}
}

int sheet_write(struct sheet *s, uint64_t *bytes, int *filled, char *err, size_t errlen)
{
	*bytes = 0;
	*filled = s->next;
	if (s->broken) {
		snprintf(err, errlen, "cannot scale a frame for the contact sheet");
		return -EIO;
	}
	return render_image_write(s->canvas, 0, s->fd, bytes, "contact sheet", err, errlen);
}

void sheet_free(struct sheet *s)
{
	if (!s)
		return;
	sws_freeContext(s->sws);
	av_frame_free(&s->canvas);
	free(s);
}
