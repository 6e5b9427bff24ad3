/* sheet.h - render's internal side of the contact sheet: evenly spaced frames in a grid.
 *
 * A reviewer (or a vision model) checks one image instead of a video: cols x rows cells,
 * cell k showing frame k * frames / cells (0-based, rounded down) of the job's frame
 * count, each scaled down so the sheet is at most SHEET_MAX_WIDTH wide. The encoder hands
 * every frame it reads to sheet_take(); the frames a cell wants are scaled straight into
 * their place on one canvas, and sheet_write() encodes it as a JPEG into the caller's
 * descriptor (the confined encoder opens nothing).
 */
#ifndef REELBOX_RENDER_SHEET_H
#define REELBOX_RENDER_SHEET_H

#include <stddef.h>
#include <stdint.h>

#include <libavutil/pixfmt.h>

#define SHEET_MAX_WIDTH 1920
#define SHEET_MAX_SIDE	10 /* columns and rows: 1 to 10 each */

struct sheet;

/* The frame cell k of cells shows, for a stream of frames frames. */
int64_t sheet_cell_frame(int k, int cells, int64_t frames);

/* A cell's size for a video of w x h in cols columns: the frame's size, or scaled down
 * (aspect kept) so cols cells fit SHEET_MAX_WIDTH; even sides, at least 2. */
void sheet_cell_size(int w, int h, int cols, int *cw, int *ch);

int sheet_open(struct sheet **out, int fd, int cols, int rows, int64_t frames, int width,
	       int height, char *err, size_t errlen);

/* One frame of the stream, index counted from 0, as the reader holds it. */
void sheet_take(struct sheet *s, int64_t index, const uint8_t *data, enum AVPixelFormat fmt, int w,
		int h);

/* Encode the canvas into the descriptor; cells whose frame never came stay black.
 * *bytes its size, *filled how many cells hold their frame. */
int sheet_write(struct sheet *s, uint64_t *bytes, int *filled, char *err, size_t errlen);

void sheet_free(struct sheet *s);

#endif
