/* audio.c - decode a script's audio file into 48 kHz stereo PCM fitted to the video, encode
 * PCM as AAC or Opus, and remux a finished video with that track (render_audio_mux).
 *
 * The decoder reads bytes a script wrote: a complex parser on untrusted input. It runs
 * only in the confined encoder child (worker/encoder.c), reads through the descriptor it
 * was handed (pread/lseek, from offset 0), and may open nothing: the demuxer's io_open
 * (how HLS, concat and friends reach other files) is refused. Reading is bounded by
 * bytes, packets and the samples wanted. The shape of the encode is FFmpeg's
 * doc/examples: send-frame / receive-packet, a NULL frame to flush,
 * av_interleaved_write_frame.
 */
#define _GNU_SOURCE
#include "audio.h"
#include "render.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/mem.h>
#include <libavutil/opt.h>
#include <libavutil/sha.h>
#include <libswresample/swresample.h>

#define BLOCK 4096 /* samples per channel of silence handed over at a time */

int64_t render_audio_samples(int64_t frames, int fps_num, int fps_den)
{
	__int128 num, den;

	if (frames <= 0 || fps_num <= 0 || fps_den <= 0)
		return 0;
	num = (__int128)frames * RENDER_AUDIO_RATE * fps_den;
	den = fps_num;
	return (int64_t)((num * 2 + den) / (den * 2)); /* round half up */
}

static int av_say(int averr, const char *what, char *err, size_t errlen)
{
	char buf[AV_ERROR_MAX_STRING_SIZE];

	av_strerror(averr, buf, sizeof(buf));
	snprintf(err, errlen, "%s: %s", what, buf);
	if (averr < 0 && averr > -4096)
		return averr;
	return averr == AVERROR_INVALIDDATA || averr == AVERROR_DECODER_NOT_FOUND ||
		       averr == AVERROR_DEMUXER_NOT_FOUND || averr == AVERROR_STREAM_NOT_FOUND
		   ? -EINVAL
		   : -EIO;
}

/* ---- reading and writing through a descriptor -------------------------------------- */

struct fdio {
	int fd;
	int64_t pos;
	uint64_t read_total, read_cap; /* read_cap 0: none */
};

static int fdio_read(void *opaque, uint8_t *buf, int size)
{
	struct fdio *io = opaque;
	ssize_t n;

	if (io->read_cap && io->read_total >= io->read_cap)
		return AVERROR(EFBIG);
	do
		n = pread(io->fd, buf, (size_t)size, io->pos);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return AVERROR(errno);
	if (n == 0)
		return AVERROR_EOF;
	io->pos += n;
	io->read_total += (uint64_t)n;
	return (int)n;
}

static int fdio_write(void *opaque, uint8_t *buf, int size)
{
	struct fdio *io = opaque;
	int done = 0;

	while (done < size) {
		ssize_t n = pwrite(io->fd, buf + done, (size_t)(size - done), io->pos);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return AVERROR(n < 0 ? errno : EIO);
		done += (int)n;
		io->pos += n;
	}
	return size;
}

/* Sizes by lseek, not fstat: the confined encoder has no stat. */
static int64_t fdio_seek(void *opaque, int64_t offset, int whence)
{
	struct fdio *io = opaque;
	off_t end;

	switch (whence & ~AVSEEK_FORCE) {
	case AVSEEK_SIZE:
		end = lseek(io->fd, 0, SEEK_END);
		return end < 0 ? AVERROR(errno) : (int64_t)end;
	case SEEK_SET:
		break;
	case SEEK_CUR:
		offset += io->pos;
		break;
	case SEEK_END:
		if ((end = lseek(io->fd, 0, SEEK_END)) < 0)
			return AVERROR(errno);
		offset += end;
		break;
	default:
		return AVERROR(EINVAL);
	}
	if (offset < 0)
		return AVERROR(EINVAL);
	io->pos = offset;
	return offset;
}

static AVIOContext *fdio_open(int fd, int write, uint64_t read_cap)
{
	const int size = 1 << 16;
	struct fdio *io = av_mallocz(sizeof(*io));
	uint8_t *buf = av_malloc(size);
	AVIOContext *pb = NULL;

	if (io && buf)
		pb = avio_alloc_context(buf, size, write, io, write ? NULL : fdio_read,
					write ? fdio_write : NULL, fdio_seek);
	if (!pb) {
		av_free(io);
		av_free(buf);
		return NULL;
	}
	io->fd = fd;
	io->read_cap = read_cap;
	pb->seekable = AVIO_SEEKABLE_NORMAL;
	return pb;
}

static void fdio_free(AVIOContext **pb)
{
	if (!*pb)
		return;
	av_freep(&(*pb)->opaque);
	av_freep(&(*pb)->buffer);
	avio_context_free(pb);
}

/* A demuxer may not open other files (HLS, concat, image sequences): the input is this
 * descriptor and nothing else. */
static int refuse_open(AVFormatContext *s, AVIOContext **pb, const char *url, int flags,
		       AVDictionary **options)
{
	return AVERROR(EPERM);
}

/* The mov muxer's faststart pass reopens its output to read it back: the same
 * descriptor, read-only. */
static int out_reopen(AVFormatContext *s, AVIOContext **pb, const char *url, int flags,
		      AVDictionary **options)
{
	const struct fdio *out = s->pb ? s->pb->opaque : NULL;

	if (!out || (flags & AVIO_FLAG_WRITE))
		return AVERROR(EPERM);
	*pb = fdio_open(out->fd, 0, 0);
	return *pb ? 0 : AVERROR(ENOMEM);
}

static int io_close(AVFormatContext *s, AVIOContext *pb)
{
	fdio_free(&pb);
	return 0;
}

/* ---- the decoder ---------------------------------------------------------------------- */

struct dec {
	const char *name;
	AVFormatContext *ic;
	AVIOContext *pb; /* ours: a failed avformat_open_input frees ic, not a custom pb */
	AVCodecContext *cc;
	SwrContext *swr;
	AVPacket *pkt;
	AVFrame *frame;
	int stream;
	int in_rate, in_fmt;
	AVChannelLayout in_layout;
	float *out[2];
	int out_cap;
	int64_t want, delivered, decoded;
	render_audio_sink_fn sink;
	void *opaque;
};

static int grow_out(struct dec *d, int n)
{
	if (n <= d->out_cap)
		return 0;
	for (int c = 0; c < 2; c++) {
		float *p = av_realloc_array(d->out[c], (size_t)n, sizeof(float));
		if (!p)
			return -ENOMEM;
		d->out[c] = p;
	}
	d->out_cap = n;
	return 0;
}

/* Hand the sink what the converter produced, up to the samples wanted; the rest is
 * counted (the source was longer) and dropped. */
static int deliver(struct dec *d, int got)
{
	int64_t left = d->want - d->delivered;
	int n = got < left ? got : (int)left;
	int rc;

	d->decoded += got;
	if (n <= 0)
		return 0;
	rc = d->sink(d->opaque, (const float *const *)d->out, n);
	if (rc < 0)
		return rc;
	d->delivered += n;
	return 0;
}

static int open_swr(struct dec *d, const AVFrame *f, char *err, size_t errlen)
{
	AVChannelLayout stereo = AV_CHANNEL_LAYOUT_STEREO;
	int ret;

	if (f->sample_rate <= 0 || f->sample_rate > 768000 || f->ch_layout.nb_channels <= 0 ||
	    f->ch_layout.nb_channels > 64) {
		snprintf(err, errlen, "%s has audio libav cannot convert (%d Hz, %d channels)",
			 d->name, f->sample_rate, f->ch_layout.nb_channels);
		return -EINVAL;
	}
	if (f->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC)
		av_channel_layout_default(&d->in_layout, f->ch_layout.nb_channels);
	else if ((ret = av_channel_layout_copy(&d->in_layout, &f->ch_layout)) < 0)
		return av_say(ret, "cannot read the audio's channel layout", err, errlen);
	d->in_rate = f->sample_rate;
	d->in_fmt = f->format;
	ret = swr_alloc_set_opts2(&d->swr, &stereo, AV_SAMPLE_FMT_FLTP, RENDER_AUDIO_RATE,
				  &d->in_layout, f->format, f->sample_rate, 0, NULL);
	if (ret >= 0)
		ret = swr_init(d->swr);
	if (ret < 0)
		return av_say(ret, "cannot set up the audio resampler", err, errlen);
	return 0;
}

/* One decoded frame through the converter. A source that changes its rate, format or
 * channels midway is refused rather than guessed at. */
static int convert(struct dec *d, const AVFrame *f, char *err, size_t errlen)
{
	int n, got, ret;

	if (f && !d->swr && (ret = open_swr(d, f, err, errlen)) < 0)
		return ret;
	if (!d->swr)
		return 0;
	if (f && (f->sample_rate != d->in_rate || f->format != d->in_fmt ||
		  f->ch_layout.nb_channels != d->in_layout.nb_channels)) {
		snprintf(err, errlen,
			 "%s changes its sample rate, format or channels midway; "
			 "write one format throughout",
			 d->name);
		return -EINVAL;
	}
	n = swr_get_out_samples(d->swr, f ? f->nb_samples : 0);
	if (n < 0)
		return av_say(n, "cannot resample the audio", err, errlen);
	if ((ret = grow_out(d, n + 16)) < 0)
		return ret;
	got = swr_convert(d->swr, (uint8_t **)d->out, d->out_cap,
			  f ? (const uint8_t **)f->extended_data : NULL, f ? f->nb_samples : 0);
	if (got < 0)
		return av_say(got, "cannot resample the audio", err, errlen);
	return deliver(d, got);
}

static int receive_frames(struct dec *d, char *err, size_t errlen)
{
	int ret;

	for (;;) {
		ret = avcodec_receive_frame(d->cc, d->frame);
		if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
			return 0;
		if (ret < 0)
			return ret;
		ret = convert(d, d->frame, err, errlen);
		av_frame_unref(d->frame);
		if (ret < 0)
			return ret;
	}
}

static int open_input(struct dec *d, int fd, char *err, size_t errlen)
{
	const AVCodec *codec = NULL;
	char what[320];
	int ret;

	d->ic = avformat_alloc_context();
	if (!d->ic)
		return -ENOMEM;
	d->ic->pb = d->pb = fdio_open(fd, 0, RENDER_AUDIO_MAX_READ);
	if (!d->pb)
		return -ENOMEM;
	d->ic->flags |= AVFMT_FLAG_CUSTOM_IO;
	d->ic->io_open = refuse_open;
	snprintf(what, sizeof(what), "%s is not audio libav can read", d->name);
	ret = avformat_open_input(&d->ic, NULL, NULL, NULL);
	if (ret < 0)
		return av_say(ret, what, err, errlen);
	ret = avformat_find_stream_info(d->ic, NULL);
	if (ret < 0)
		return av_say(ret, what, err, errlen);
	ret = av_find_best_stream(d->ic, AVMEDIA_TYPE_AUDIO, -1, -1, &codec, 0);
	if (ret < 0) {
		snprintf(err, errlen, "%s is not audio libav can read: it has no audio stream%s",
			 d->name, ret == AVERROR_DECODER_NOT_FOUND ? " this FFmpeg decodes" : "");
		return -EINVAL;
	}
	d->stream = ret;
	d->cc = avcodec_alloc_context3(codec);
	if (!d->cc)
		return -ENOMEM;
	ret = avcodec_parameters_to_context(d->cc, d->ic->streams[d->stream]->codecpar);
	if (ret >= 0) {
		d->cc->pkt_timebase = d->ic->streams[d->stream]->time_base;
		ret = avcodec_open2(d->cc, codec, NULL);
	}
	if (ret < 0)
		return av_say(ret, what, err, errlen);
	d->pkt = av_packet_alloc();
	d->frame = av_frame_alloc();
	return d->pkt && d->frame ? 0 : -ENOMEM;
}

/* Read packets until the source ends or the samples wanted are out and one more came
 * (so a longer source is known to be longer). */
static int decode_all(struct dec *d, char *err, size_t errlen)
{
	char what[320];
	int ret = 0;

	snprintf(what, sizeof(what), "%s is not audio libav can read", d->name);
	for (int64_t packets = 0; d->delivered < d->want || d->decoded <= d->want; packets++) {
		if (packets >= RENDER_AUDIO_MAX_PACKETS) {
			snprintf(err, errlen,
				 "%s holds more than %d packets before its audio "
				 "ends; write a plain WAV",
				 d->name, RENDER_AUDIO_MAX_PACKETS);
			return -EFBIG;
		}
		ret = av_read_frame(d->ic, d->pkt);
		if (ret == AVERROR_EOF)
			break;
		if (ret == AVERROR(EFBIG)) {
			snprintf(err, errlen,
				 "%s: read %llu bytes without reaching the end of "
				 "the audio the video needs",
				 d->name, (unsigned long long)RENDER_AUDIO_MAX_READ);
			return -EFBIG;
		}
		if (ret < 0)
			return av_say(ret, what, err, errlen);
		if (d->pkt->stream_index == d->stream) {
			ret = avcodec_send_packet(d->cc, d->pkt);
			if (ret >= 0 || ret == AVERROR(EAGAIN))
				ret = receive_frames(d, err, errlen);
		}
		av_packet_unref(d->pkt);
		if (ret < 0)
			return err[0] ? ret : av_say(ret, what, err, errlen);
	}
	if (d->delivered >= d->want && d->decoded > d->want)
		return 0;
	/* The end of the source: drain the decoder, then the converter. */
	ret = avcodec_send_packet(d->cc, NULL);
	if (ret >= 0)
		ret = receive_frames(d, err, errlen);
	if (ret >= 0)
		ret = convert(d, NULL, err, errlen);
	if (ret < 0)
		return err[0] ? ret : av_say(ret, what, err, errlen);
	return 0;
}

static int pad_silence(struct dec *d)
{
	float *z = av_calloc(BLOCK, sizeof(float));
	const float *planes[2] = {z, z};
	int rc = 0;

	if (!z)
		return -ENOMEM;
	while (rc == 0 && d->delivered < d->want) {
		int64_t left = d->want - d->delivered;
		int n = left < BLOCK ? (int)left : BLOCK;

		rc = d->sink(d->opaque, planes, n);
		if (rc == 0)
			d->delivered += n;
	}
	av_free(z);
	return rc;
}

static void dec_facts(const struct dec *d, struct render_audio_facts *f)
{
	int64_t diff = d->decoded - d->want;

	memset(f, 0, sizeof(*f));
	f->delivered = d->delivered;
	f->decoded = d->decoded;
	f->source_duration_s = (double)d->decoded / RENDER_AUDIO_RATE;
	if (d->ic && d->ic->duration > 0 && d->ic->duration != AV_NOPTS_VALUE)
		f->source_duration_s = (double)d->ic->duration / AV_TIME_BASE;
	f->fitted = diff > RENDER_AUDIO_EXACT_SLACK    ? RENDER_AUDIO_TRIMMED
		    : diff < -RENDER_AUDIO_EXACT_SLACK ? RENDER_AUDIO_PADDED
						       : RENDER_AUDIO_EXACT;
}

static void dec_free(struct dec *d)
{
	avformat_close_input(&d->ic);
	fdio_free(&d->pb);
	avcodec_free_context(&d->cc);
	swr_free(&d->swr);
	av_packet_free(&d->pkt);
	av_frame_free(&d->frame);
	av_channel_layout_uninit(&d->in_layout);
	av_freep(&d->out[0]);
	av_freep(&d->out[1]);
}

int render_audio_decode(int fd, const char *name, int64_t n_samples, render_audio_sink_fn sink,
			void *opaque, struct render_audio_facts *facts, char *err, size_t errlen)
{
	struct dec d = {.name = name && *name ? name : "the audio file",
			.want = n_samples,
			.sink = sink,
			.opaque = opaque,
			.stream = -1};
	int rc;

	err[0] = '\0';
	if ((rc = render_libav_load(err, errlen)) < 0)
		return rc;
	if (n_samples < 0 || !sink) {
		snprintf(err, errlen, "render_audio_decode: bad arguments");
		return -EINVAL;
	}
	rc = open_input(&d, fd, err, errlen);
	if (rc == 0)
		rc = decode_all(&d, err, errlen);
	if (rc == 0 && d.decoded == 0 && n_samples > 0) {
		snprintf(err, errlen, "%s is not audio libav can read: it decodes to no samples",
			 d.name);
		rc = -EINVAL;
	}
	if (rc == 0)
		rc = pad_silence(&d);
	if (rc == -ENOMEM && !err[0])
		snprintf(err, errlen, "out of memory while decoding %s", d.name);
	if (facts)
		dec_facts(&d, facts);
	dec_free(&d);
	return rc;
}

/* ---- the encoder ---------------------------------------------------------------------- */

struct render_audio_enc {
	AVFormatContext *oc;
	AVStream *st;
	AVCodecContext *cc;
	AVFrame *frame;
	AVPacket *pkt;
	int fill; /* samples buffered in frame */
	int64_t pts, written;
	render_audio_before_fn before;
	void *opaque;
	const char *codec_name;
};

int render_audio_enc_open(AVFormatContext *oc, int container, render_audio_before_fn before,
			  void *opaque, struct render_audio_enc **out, char *err, size_t errlen)
{
	AVChannelLayout stereo = AV_CHANNEL_LAYOUT_STEREO;
	struct render_audio_enc *e;
	const AVCodec *codec;
	int opus = container == RENDER_WEBM, ret;

	*out = NULL;
	if (container != RENDER_MP4 && container != RENDER_MOV && container != RENDER_WEBM) {
		snprintf(err, errlen,
			 "this container has no audio track; audio goes into "
			 ".mp4, .mov or .webm");
		return -EINVAL;
	}
	codec = avcodec_find_encoder_by_name(opus ? "libopus" : "aac");
	if (!codec) {
		snprintf(err, errlen,
			 "this FFmpeg has no %s encoder, which %s audio needs; "
			 "write .mp4 (AAC) instead or install FFmpeg with it",
			 opus ? "libopus" : "aac", opus ? "WebM's Opus" : "AAC");
		return -ENOSYS;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->oc = oc;
	e->before = before;
	e->opaque = opaque;
	e->codec_name = opus ? "opus" : "aac";
	e->st = avformat_new_stream(oc, NULL);
	e->cc = avcodec_alloc_context3(codec);
	e->frame = av_frame_alloc();
	e->pkt = av_packet_alloc();
	if (!e->st || !e->cc || !e->frame || !e->pkt) {
		render_audio_enc_free(&e);
		return -ENOMEM;
	}
	/* libopus takes interleaved floats; the native AAC encoder planar ones. */
	e->cc->sample_fmt = opus ? AV_SAMPLE_FMT_FLT : AV_SAMPLE_FMT_FLTP;
	e->cc->sample_rate = RENDER_AUDIO_RATE;
	e->cc->bit_rate = opus ? 128000 : 160000;
	e->cc->time_base = (AVRational){1, RENDER_AUDIO_RATE};
	av_channel_layout_copy(&e->cc->ch_layout, &stereo);
	if (oc->oformat->flags & AVFMT_GLOBALHEADER)
		e->cc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
	ret = avcodec_open2(e->cc, codec, NULL);
	if (ret >= 0)
		ret = avcodec_parameters_from_context(e->st->codecpar, e->cc);
	if (ret < 0) {
		render_audio_enc_free(&e);
		return av_say(ret, "cannot open the audio encoder", err, errlen);
	}
	e->st->time_base = e->cc->time_base;
	e->frame->format = e->cc->sample_fmt;
	e->frame->sample_rate = RENDER_AUDIO_RATE;
	e->frame->nb_samples = e->cc->frame_size > 0 ? e->cc->frame_size : 1024;
	av_channel_layout_copy(&e->frame->ch_layout, &stereo);
	ret = av_frame_get_buffer(e->frame, 0);
	if (ret < 0) {
		render_audio_enc_free(&e);
		return av_say(ret, "cannot set up the audio encoder", err, errlen);
	}
	*out = e;
	return 0;
}

struct AVStream *render_audio_enc_stream(const struct render_audio_enc *e)
{
	return e->st;
}

const char *render_audio_enc_codec(const struct render_audio_enc *e)
{
	return e->codec_name;
}

int64_t render_audio_enc_samples(const struct render_audio_enc *e)
{
	return e->written;
}

static int drain_packets(struct render_audio_enc *e, char *err, size_t errlen)
{
	int ret;

	for (;;) {
		ret = avcodec_receive_packet(e->cc, e->pkt);
		if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
			return 0;
		if (ret < 0)
			return av_say(ret, "cannot encode the audio", err, errlen);
		av_packet_rescale_ts(e->pkt, e->cc->time_base, e->st->time_base);
		e->pkt->stream_index = e->st->index;
		if (e->before && (ret = e->before(e->opaque, e->pkt, e->st)) < 0) {
			av_packet_unref(e->pkt);
			return ret;
		}
		ret = av_interleaved_write_frame(e->oc, e->pkt);
		if (ret < 0)
			return av_say(ret, "cannot write the audio", err, errlen);
	}
}

static int send_frame(struct render_audio_enc *e, int n, char *err, size_t errlen)
{
	int ret;

	if (n > 0) {
		e->frame->nb_samples = n;
		e->frame->pts = e->pts;
		e->pts += n;
	}
	ret = avcodec_send_frame(e->cc, n > 0 ? e->frame : NULL);
	if (ret < 0)
		return av_say(ret, "cannot encode the audio", err, errlen);
	return drain_packets(e, err, errlen);
}

int render_audio_enc_write(struct render_audio_enc *e, const float *const planes[2], int n,
			   char *err, size_t errlen)
{
	const int size = e->cc->frame_size > 0 ? e->cc->frame_size : 1024;
	int done = 0, ret;

	while (done < n) {
		int take = n - done < size - e->fill ? n - done : size - e->fill;

		if ((ret = av_frame_make_writable(e->frame)) < 0)
			return av_say(ret, "cannot encode the audio", err, errlen);
		e->frame->nb_samples = size;
		if (e->cc->sample_fmt == AV_SAMPLE_FMT_FLT) {
			float *dst = (float *)e->frame->data[0] + 2 * e->fill;
			for (int i = 0; i < take; i++) {
				dst[2 * i] = planes[0][done + i];
				dst[2 * i + 1] = planes[1][done + i];
			}
		} else {
			for (int c = 0; c < 2; c++)
				memcpy((float *)e->frame->data[c] + e->fill, planes[c] + done,
				       (size_t)take * sizeof(float));
		}
		e->fill += take;
		done += take;
		e->written += take;
		if (e->fill == size) {
			e->fill = 0;
			if ((ret = send_frame(e, size, err, errlen)) < 0)
				return ret;
		}
	}
	return 0;
}

int render_audio_enc_flush(struct render_audio_enc *e, char *err, size_t errlen)
{
	int ret;

	if (e->fill > 0) {
		int n = e->fill;

		e->fill = 0;
		if ((ret = send_frame(e, n, err, errlen)) < 0)
			return ret;
	}
	return send_frame(e, 0, err, errlen);
}

void render_audio_enc_free(struct render_audio_enc **e)
{
	if (!*e)
		return;
	avcodec_free_context(&(*e)->cc);
	av_frame_free(&(*e)->frame);
	av_packet_free(&(*e)->pkt);
	free(*e);
	*e = NULL;
}

/* ---- the remux: a finished video plus the fitted audio into a new file ------------------ */

struct mux {
	AVFormatContext *ic, *oc;
	AVIOContext *ipb; /* ours, as struct dec's pb */
	AVPacket *vpkt;
	int vin, vout; /* the video stream's index in ic and in oc */
	int video_done;
	struct render_audio_enc *enc;
	char *err;
	size_t errlen;
};

/* Copy the video's packets (no re-encode) up to time t (in tb), or all when tb.num is 0. */
static int copy_video(struct mux *m, int64_t t, AVRational tb)
{
	AVStream *is = m->ic->streams[m->vin], *os = m->oc->streams[m->vout];
	int ret;

	while (!m->video_done) {
		if (!m->vpkt->data) {
			do {
				ret = av_read_frame(m->ic, m->vpkt);
				if (ret >= 0 && m->vpkt->stream_index != m->vin)
					av_packet_unref(m->vpkt);
			} while (ret >= 0 && !m->vpkt->data);
			if (ret == AVERROR_EOF) {
				m->video_done = 1;
				return 0;
			}
			if (ret < 0)
				return av_say(ret, "cannot read back the video", m->err, m->errlen);
		}
		if (tb.num && m->vpkt->dts != AV_NOPTS_VALUE &&
		    av_compare_ts(m->vpkt->dts, is->time_base, t, tb) > 0)
			return 0;
		av_packet_rescale_ts(m->vpkt, is->time_base, os->time_base);
		m->vpkt->stream_index = m->vout;
		m->vpkt->pos = -1;
		ret = av_interleaved_write_frame(m->oc, m->vpkt); /* takes the reference */
		av_packet_unref(m->vpkt);
		if (ret < 0)
			return av_say(ret, "cannot write the video", m->err, m->errlen);
	}
	return 0;
}

static int before_audio(void *opaque, const AVPacket *pkt, const AVStream *st)
{
	struct mux *m = opaque;

	return copy_video(m, pkt->dts != AV_NOPTS_VALUE ? pkt->dts : pkt->pts, st->time_base);
}

static int to_encoder(void *opaque, const float *const planes[2], int n)
{
	struct mux *m = opaque;

	return render_audio_enc_write(m->enc, planes, n, m->err, m->errlen);
}

static int open_video_in(struct mux *m, int fd)
{
	int ret;

	m->ic = avformat_alloc_context();
	if (!m->ic)
		return -ENOMEM;
	m->ic->pb = m->ipb = fdio_open(fd, 0, 0);
	if (!m->ipb)
		return -ENOMEM;
	m->ic->flags |= AVFMT_FLAG_CUSTOM_IO;
	m->ic->io_open = refuse_open;
	ret = avformat_open_input(&m->ic, NULL, NULL, NULL);
	if (ret >= 0)
		ret = avformat_find_stream_info(m->ic, NULL);
	if (ret >= 0)
		ret = av_find_best_stream(m->ic, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
	if (ret < 0)
		return av_say(ret, "cannot read back the video to add its audio", m->err,
			      m->errlen);
	m->vin = ret;
	m->vpkt = av_packet_alloc();
	return m->vpkt ? 0 : -ENOMEM;
}

static int open_out(struct mux *m, int container, int fd)
{
	static const char *const muxers[] = {"mp4", "webm", "gif", "mov"};
	AVStream *is, *os;
	AVDictionary *opts = NULL;
	int ret;

	ret = avformat_alloc_output_context2(&m->oc, NULL, muxers[container], NULL);
	if (ret < 0 || !m->oc)
		return av_say(ret, "cannot set up the output container", m->err, m->errlen);
	is = m->ic->streams[m->vin];
	os = avformat_new_stream(m->oc, NULL);
	if (!os)
		return -ENOMEM;
	if ((ret = avcodec_parameters_copy(os->codecpar, is->codecpar)) < 0)
		return av_say(ret, "cannot copy the video stream", m->err, m->errlen);
	os->time_base = is->time_base;
	os->avg_frame_rate = is->avg_frame_rate;
	os->r_frame_rate = is->r_frame_rate;
	av_dict_copy(&os->metadata, is->metadata, 0); /* WebM's alpha_mode */
	m->vout = os->index;
	ret = render_audio_enc_open(m->oc, container, before_audio, m, &m->enc, m->err, m->errlen);
	if (ret < 0)
		return ret;
	m->oc->pb = fdio_open(fd, 1, 0);
	if (!m->oc->pb)
		return -ENOMEM;
	m->oc->flags |= AVFMT_FLAG_CUSTOM_IO;
	m->oc->io_open = out_reopen;
	m->oc->io_close2 = io_close;
	if (container == RENDER_MP4 || container == RENDER_MOV)
		av_dict_set(&opts, "movflags", "+faststart", 0);
	ret = avformat_write_header(m->oc, &opts);
	av_dict_free(&opts);
	if (ret < 0)
		return av_say(ret, "cannot write the container header", m->err, m->errlen);
	return 0;
}

static int audio_hash_fd(int fd, char hex[65], uint64_t *bytes)
{
	struct AVSHA *sha = av_sha_alloc();
	const size_t chunk = 1 << 20;
	uint8_t *buf = av_malloc(chunk), digest[32];
	off_t off = 0;
	int ret = 0;

	if (!sha || !buf) {
		ret = -ENOMEM;
		goto end;
	}
	av_sha_init(sha, 256);
	for (;;) {
		ssize_t n = pread(fd, buf, chunk, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			goto end;
		}
		if (n == 0)
			break;
		av_sha_update(sha, buf, (unsigned)n);
		off += n;
	}
	av_sha_final(sha, digest);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	*bytes = (uint64_t)off;
end:
	av_free(buf);
	av_free(sha);
	return ret;
}

static void mux_free(struct mux *m)
{
	render_audio_enc_free(&m->enc);
	if (m->oc) {
		fdio_free(&m->oc->pb);
		avformat_free_context(m->oc);
	}
	avformat_close_input(&m->ic);
	fdio_free(&m->ipb);
	av_packet_free(&m->vpkt);
}

static int mux_run(struct mux *m, int audio_fd, const char *name, int64_t n_samples,
		   struct render_audio_result *res)
{
	struct render_audio_facts facts;
	int ret;

	ret = render_audio_decode(audio_fd, name, n_samples, to_encoder, m, &facts, m->err,
				  m->errlen);
	if (ret < 0)
		return ret;
	if ((ret = render_audio_enc_flush(m->enc, m->err, m->errlen)) < 0 ||
	    (ret = copy_video(m, 0, (AVRational){0, 1})) < 0)
		return ret;
	ret = av_write_trailer(m->oc);
	if (ret < 0)
		return av_say(ret, "cannot finish the container", m->err, m->errlen);
	avio_flush(m->oc->pb);
	if (m->oc->pb->error < 0)
		return av_say(m->oc->pb->error, "cannot write the video", m->err, m->errlen);
	res->samples = render_audio_enc_samples(m->enc);
	res->source_samples = facts.decoded;
	res->source_duration_s = facts.source_duration_s;
	res->fitted = (int)facts.fitted;
	snprintf(res->codec, sizeof(res->codec), "%s", render_audio_enc_codec(m->enc));
	return 0;
}

int render_audio_mux(int video_fd, int audio_fd, int out_fd, int container, const char *name,
		     int64_t frames, int fps_num, int fps_den, struct render_audio_result *res,
		     char *err, size_t errlen)
{
	struct mux m = {.err = err, .errlen = errlen, .vin = -1, .vout = -1};
	int64_t n_samples = render_audio_samples(frames, fps_num, fps_den);
	int ret;

	memset(res, 0, sizeof(*res));
	err[0] = '\0';
	if ((ret = render_libav_load(err, errlen)) < 0)
		return ret;
	ret = open_video_in(&m, video_fd);
	if (ret == 0)
		ret = open_out(&m, container, out_fd);
	if (ret == 0)
		ret = mux_run(&m, audio_fd, name, n_samples, res);
	if (ret == 0 && fsync(out_fd) < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot sync the video file: %s", strerror(-ret));
	}
	if (ret == 0 && (ret = audio_hash_fd(out_fd, res->sha256, &res->bytes)) < 0)
		snprintf(err, errlen, "cannot read back the video file: %s", strerror(-ret));
	if (ret == -ENOMEM && !err[0])
		snprintf(err, errlen, "out of memory while adding the audio");
	mux_free(&m);
	return ret;
}

const char *render_audio_codec_for(int container)
{
	switch (container) {
	case RENDER_MP4:
	case RENDER_MOV:
		return "aac";
	case RENDER_WEBM:
		return "opus";
	default:
		return NULL;
	}
}
