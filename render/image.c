/* image.c - one still image from one frame: JPEG (mjpeg) or PNG, written into a
 * descriptor.
 *
 * A leaf of render/ that the poster (poster.c), the still and the contact sheet
 * (sheet.c) share: the confined encoder opens nothing, so the image is one packet from
 * libav's encoder, pwritten into the file the worker opened, and synced.
 */
#define _GNU_SOURCE
#include "image.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>

#define JPEG_QSCALE 3 /* ffmpeg's -q:v: 2 (best) .. 31; 3 is visually lossless at 720p */

/* One image from a frame: mjpeg with a fixed quantiser on full-range yuv420p, or png on
 * rgb24; single-threaded (a few milliseconds; no threads for the sandbox's filter to
 * allow). */
static int encode_image(AVFrame *f, int png, AVPacket *pkt)
{
	const AVCodec *codec = avcodec_find_encoder(png ? AV_CODEC_ID_PNG : AV_CODEC_ID_MJPEG);
	AVCodecContext *c = codec ? avcodec_alloc_context3(codec) : NULL;
	int ret;

	if (!c)
		return codec ? AVERROR(ENOMEM) : AVERROR_ENCODER_NOT_FOUND;
	c->width = f->width;
	c->height = f->height;
	c->pix_fmt = AV_PIX_FMT_YUV420P; /* with color_range JPEG: what yuvj420p meant */
	c->color_range = AVCOL_RANGE_JPEG;
	c->time_base = (AVRational){1, 25};
	c->thread_count = 1;
	if (png) {
		c->pix_fmt = AV_PIX_FMT_RGB24;
		c->color_range = AVCOL_RANGE_UNSPECIFIED;
	} else {
		c->flags |= AV_CODEC_FLAG_QSCALE;
		c->global_quality = FF_QP2LAMBDA * JPEG_QSCALE;
	}
	ret = avcodec_open2(c, codec, NULL);
	if (ret >= 0) {
		f->pts = 0;
		f->quality = c->global_quality;
		ret = avcodec_send_frame(c, f);
	}
	if (ret >= 0)
		ret = avcodec_send_frame(c, NULL);
	if (ret >= 0)
		ret = avcodec_receive_packet(c, pkt);
	avcodec_free_context(&c);
	return ret;
}

static int write_all(int fd, const uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, buf + done, len - done, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return fsync(fd) < 0 ? -errno : 0;
}

int render_image_write(AVFrame *f, int png, int fd, uint64_t *bytes, const char *what, char *err,
		       size_t errlen)
{
	AVPacket *pkt = av_packet_alloc();
	int ret;

	*bytes = 0;
	if (!pkt)
		return -ENOMEM;
	ret = encode_image(f, png, pkt);
	if (ret < 0) {
		char why[AV_ERROR_MAX_STRING_SIZE];
		av_strerror(ret, why, sizeof(why));
		snprintf(err, errlen, "cannot encode the %s: %s", what, why);
		ret = -EIO;
	} else if ((ret = write_all(fd, pkt->data, (size_t)pkt->size)) < 0) {
		snprintf(err, errlen, "cannot write the %s: %s", what, strerror(-ret));
	} else {
		*bytes = (uint64_t)pkt->size;
	}
	av_packet_free(&pkt);
	return ret;
}
