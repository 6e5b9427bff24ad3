/* image.h - render's internal writer of one still image (image.c). */
#ifndef REELBOX_RENDER_IMAGE_H
#define REELBOX_RENDER_IMAGE_H

#include <stddef.h>
#include <stdint.h>

struct AVFrame;

/* Encode f (full-range yuv420p for a JPEG, rgb24 for a PNG) and write it into fd from
 * offset 0, synced; *bytes its size. what names it in a failure's sentence. */
int render_image_write(struct AVFrame *f, int png, int fd, uint64_t *bytes, const char *what,
		       char *err, size_t errlen);

#endif
