/* join.c - the chunks of a chunked job become one video, packet by packet.
 *
 * Each chunk (render_spec.chunk) is a Matroska file holding one frame range encoded with
 * the final container's codec and settings, its first frame a keyframe. Joining them is
 * FFmpeg's concat demuxer done by hand, with nothing re-encoded: read every chunk's
 * packets in order and write them into the final muxer with timestamps moved past the
 * frames before it. Two passes: the first reads and checks everything (codec, size,
 * extradata, keyframe, every frame of the range exactly once, the total, and the audio
 * samples each chunk's frames span) before a byte of the output is written; the second
 * writes, decoding only the frames the poster looks at. Chunks with audio carry their
 * range of the job's track as PCM (render_chunk_audio, at the end of this file): the join
 * concatenates it and encodes the whole track once, so no encoder priming or padding
 * falls at a border.
 *
 * Timestamps: Matroska keeps milliseconds and no decode timestamps, so a chunk's frame
 * numbers are recovered, not trusted: frame k's timestamp is round(k * 1000 / rate)
 * after the muxer's shift, rounded back to k exactly for every rate up to 1000 fps, and
 * the set of k must be 0..n-1 with none missing or doubled. The output's timestamps are
 * then whole frames in the stream's time base 1/rate, the normal path's (30000/1001
 * stays exact); the decode timestamps are the packet's position less the largest
 * reorder delay any chunk needs, so they rise by one a packet across every border.
 */
#define _GNU_SOURCE
#include "audio.h"
#include "fdio.h"
#include "poster.h"
#include "render.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/mem.h>

/* A chunk's timestamps beyond this many milliseconds (about 30 years) are refused: no
 * arithmetic on them can overflow. */
#define PTS_LIMIT (INT64_C(1) << 40)

/* One chunk as the first pass found it. */
struct chunk_scan {
	int64_t frames;	 /* packets = frames */
	int64_t *pos;	 /* each packet's frame number in the chunk, in decode order */
	int64_t pts_min; /* the muxer's shift, in the chunk's time base */
};

struct join {
	const struct render_spec *spec;
	AVRational rate;
	enum AVCodecID codec_id;
	int n;
	struct chunk_scan *scan;
	AVCodecParameters *par; /* chunk 0's, the reference */
	char alpha_mode[8];	/* chunk 0's "alpha_mode" tag (VP9 alpha), "" for none */
	int64_t total, delay;
	int64_t last_dts; /* the output's last decode timestamp, across chunk borders */
	int has_audio;	  /* chunk 0 has a PCM track: every chunk must, and the join encodes */
	struct render_audio_enc *aenc;
	float *planes[2]; /* a PCM packet deinterleaved for the audio encoder */
	int planes_cap;
	char *err;
	size_t errlen;
};

static uint64_t ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)(now.tv_sec - t0->tv_sec) * 1000 +
	       (uint64_t)((now.tv_nsec - t0->tv_nsec) / 1000000);
}

static enum AVCodecID codec_id_of(int codec)
{
	switch (codec) {
	case RENDER_CODEC_H264:
		return AV_CODEC_ID_H264;
	case RENDER_CODEC_HEVC:
		return AV_CODEC_ID_HEVC;
	case RENDER_CODEC_VP9:
		return AV_CODEC_ID_VP9;
	case RENDER_CODEC_AV1:
		return AV_CODEC_ID_AV1;
	case RENDER_CODEC_PRORES:
		return AV_CODEC_ID_PRORES;
	default:
		return AV_CODEC_ID_NONE;
	}
}

/* The sentence for chunk k, with libav's reason when averr is one. */
static int chunk_fail(struct join *j, int k, int ret, const char *what)
{
	char why[AV_ERROR_MAX_STRING_SIZE] = "";

	if (ret < -4095 || ret == AVERROR_INVALIDDATA || ret == AVERROR_EOF) {
		av_strerror(ret, why, sizeof(why));
		snprintf(j->err, j->errlen, "chunk %d of %d %s (%s)", k + 1, j->n, what, why);
		return -EINVAL;
	}
	snprintf(j->err, j->errlen, "chunk %d of %d %s", k + 1, j->n, what);
	return ret < 0 ? ret : -EINVAL;
}

static void close_input(AVFormatContext **ic)
{
	AVIOContext *pb = *ic ? (*ic)->pb : NULL;

	avformat_close_input(ic);
	fd_io_free(&pb);
}

/* Open chunk k's Matroska through its descriptor. Only the Matroska demuxer is tried
 * (no probing: the bytes are untrusted), and the file must hold one video stream. */
static int open_chunk(struct join *j, int k, int fd, AVFormatContext **out, int *vst, int *ast)
{
	const AVInputFormat *mkv = av_find_input_format("matroska");
	AVFormatContext *ic = avformat_alloc_context();
	AVIOContext *pb = fd_io_open(fd, 0);
	int ret;

	*out = NULL;
	if (!ic || !pb || !mkv) {
		avformat_free_context(ic);
		fd_io_free(&pb);
		return mkv ? -ENOMEM
			   : chunk_fail(j, k, -ENOSYS, "cannot be read: no Matroska demuxer");
	}
	ic->pb = pb;
	ic->flags |= AVFMT_FLAG_CUSTOM_IO;
	ret = avformat_open_input(&ic, "", mkv, NULL);
	if (ret < 0) {
		/* avformat_open_input freed ic but never frees a custom pb */
		fd_io_free(&pb);
		return chunk_fail(j, k, ret, "is not a readable Matroska chunk");
	}
	*out = ic;
	*vst = *ast = -1;
	for (unsigned i = 0; i < ic->nb_streams; i++) {
		const AVCodecParameters *p = ic->streams[i]->codecpar;

		if (p->codec_type == AVMEDIA_TYPE_AUDIO) {
			/* the chunk's range of the job's audio, as render_chunk_audio wrote it */
			if (*ast >= 0 || p->codec_id != AV_CODEC_ID_PCM_F32LE ||
			    p->sample_rate != RENDER_AUDIO_RATE ||
			    p->ch_layout.nb_channels != RENDER_AUDIO_CHANNELS)
				return chunk_fail(j, k, -EINVAL,
						  "holds audio that is not one 48 kHz stereo "
						  "float PCM track");
			*ast = (int)i;
		}
		if (p->codec_type != AVMEDIA_TYPE_VIDEO)
			continue;
		if (*vst >= 0)
			return chunk_fail(j, k, -EINVAL, "holds more than one video stream");
		*vst = (int)i;
	}
	if (*vst < 0)
		return chunk_fail(j, k, -EINVAL, "holds no video stream");
	return 0;
}

/* Chunk k's stream against the spec and chunk 0: the same codec, size and extradata,
 * and the same alpha, or the joined file would change codec mid-stream. */
static int check_params(struct join *j, int k, const AVStream *st)
{
	const AVCodecParameters *p = st->codecpar;
	const AVDictionaryEntry *alpha = av_dict_get(st->metadata, "alpha_mode", NULL, 0);
	char what[160];

	if (p->codec_id != j->codec_id) {
		snprintf(what, sizeof(what), "holds %s video, not the job's %s",
			 avcodec_get_name(p->codec_id), avcodec_get_name(j->codec_id));
		return chunk_fail(j, k, -EINVAL, what);
	}
	if (p->width != j->spec->width || p->height != j->spec->height) {
		snprintf(what, sizeof(what), "is %dx%d, not the job's %dx%d", p->width, p->height,
			 j->spec->width, j->spec->height);
		return chunk_fail(j, k, -EINVAL, what);
	}
	if (k == 0) {
		snprintf(j->alpha_mode, sizeof(j->alpha_mode), "%s", alpha ? alpha->value : "");
		return 0;
	}
	if (p->codec_tag != j->par->codec_tag || p->extradata_size != j->par->extradata_size ||
	    (p->extradata_size &&
	     memcmp(p->extradata, j->par->extradata, (size_t)p->extradata_size)))
		return chunk_fail(
		    j, k, -EINVAL,
		    "was encoded with other codec parameters than chunk 1 "
		    "(its extradata or profile differs): the chunks need identical settings");
	if (strcmp(alpha ? alpha->value : "", j->alpha_mode))
		return chunk_fail(j, k, -EINVAL,
				  alpha ? "has an alpha channel and chunk 1 has none"
					: "has no alpha channel and chunk 1 has one");
	return 0;
}

/* Chunk k's frame numbers from its packets' timestamps: each of 0..n-1 exactly once. */
static int number_frames(struct join *j, int k, const AVStream *st, const int64_t *pts)
{
	struct chunk_scan *c = &j->scan[k];
	uint8_t *seen = calloc((size_t)c->frames, 1);
	AVRational tick = av_inv_q(j->rate);

	if (!seen)
		return -ENOMEM;
	c->pts_min = INT64_MAX;
	for (int64_t i = 0; i < c->frames; i++)
		if (pts[i] < c->pts_min)
			c->pts_min = pts[i];
	for (int64_t i = 0; i < c->frames; i++) {
		int64_t f = av_rescale_q_rnd(pts[i] - c->pts_min, st->time_base, tick,
					     AV_ROUND_NEAR_INF | AV_ROUND_PASS_MINMAX);
		if (f < 0 || f >= c->frames || seen[f]) {
			char what[160];
			snprintf(what, sizeof(what),
				 "has %s frame %" PRId64 " among its %" PRId64
				 " (a frame missing, doubled or at another rate)",
				 f >= 0 && f < c->frames ? "a second" : "an out-of-range", f,
				 c->frames);
			free(seen);
			return chunk_fail(j, k, -EINVAL, what);
		}
		seen[f] = 1;
		c->pos[i] = f;
		if (i - f > j->delay)
			j->delay = i - f;
	}
	free(seen);
	return 0;
}

/* One video packet of chunk k in the first pass: checked, its timestamp kept in *pts. */
static int scan_video_packet(struct join *j, int k, const AVPacket *pkt, int64_t **pts,
			     int64_t *cap)
{
	struct chunk_scan *c = &j->scan[k];

	if (pkt->pts == AV_NOPTS_VALUE || pkt->pts < 0 || pkt->pts > PTS_LIMIT)
		return chunk_fail(j, k, -EINVAL, "has a frame without a valid timestamp");
	if (c->frames == 0 && !(pkt->flags & AV_PKT_FLAG_KEY))
		return chunk_fail(j, k, -EINVAL, "does not start on a keyframe");
	if (j->spec->max_frames > 0 && j->total + c->frames >= j->spec->max_frames) {
		char what[120];
		snprintf(what, sizeof(what), "takes the chunks past the job's %" PRId64 " frames",
			 j->spec->max_frames);
		return chunk_fail(j, k, -EINVAL, what);
	}
	if (c->frames == *cap) {
		int64_t *grown = realloc(*pts, sizeof(**pts) * (size_t)(*cap ? 2 * *cap : 256));
		if (!grown)
			return -ENOMEM;
		*pts = grown;
		*cap = *cap ? 2 * *cap : 256;
	}
	(*pts)[c->frames++] = pkt->pts;
	return 0;
}

/* Sample-exact: chunk k's frames [total, total + frames) span exactly these samples of
 * the job's audio, so the borders join without a gap or an overlap. */
static int check_samples(struct join *j, int k, int64_t samples)
{
	int64_t frames = j->scan[k].frames;
	int64_t want = render_audio_samples(j->total + frames, j->rate.num, j->rate.den) -
		       render_audio_samples(j->total, j->rate.num, j->rate.den);
	char what[160];

	if (samples == want)
		return 0;
	snprintf(what, sizeof(what),
		 "holds %" PRId64 " audio samples, not the %" PRId64 " its frames span", samples,
		 want);
	return chunk_fail(j, k, -EINVAL, what);
}

/* The first pass over chunk k: its stream checked, its packets counted and numbered. */
static int scan_chunk(struct join *j, int k, int fd)
{
	struct chunk_scan *c = &j->scan[k];
	AVFormatContext *ic = NULL;
	AVPacket *pkt = av_packet_alloc();
	int64_t *pts = NULL, cap = 0, samples = 0;
	int vst, ast, ret;

	if (!pkt)
		return -ENOMEM;
	ret = open_chunk(j, k, fd, &ic, &vst, &ast);
	if (ret == 0 && k == 0)
		j->has_audio = ast >= 0;
	if (ret == 0 && (ast >= 0) != j->has_audio)
		ret = chunk_fail(j, k, -EINVAL,
				 ast >= 0 ? "has audio and chunk 1 has none"
					  : "has no audio and chunk 1 has");
	if (ret == 0 && (ret = check_params(j, k, ic->streams[vst])) == 0 && k == 0) {
		j->par = avcodec_parameters_alloc();
		ret =
		    j->par ? avcodec_parameters_copy(j->par, ic->streams[vst]->codecpar) : -ENOMEM;
		if (ret < 0)
			ret = chunk_fail(j, k, ret, "has codec parameters that cannot be copied");
	}
	while (ret == 0) {
		ret = av_read_frame(ic, pkt);
		if (ret == AVERROR_EOF) {
			ret = 0;
			break;
		}
		if (ret < 0) {
			ret = chunk_fail(j, k, ret, "is truncated or corrupt");
			break;
		}
		if (pkt->stream_index == ast) {
			if (pkt->size % (int)(sizeof(float) * RENDER_AUDIO_CHANNELS))
				ret = chunk_fail(j, k, -EINVAL, "has a torn audio packet");
			samples += pkt->size / (int)(sizeof(float) * RENDER_AUDIO_CHANNELS);
			av_packet_unref(pkt);
			continue;
		}
		if (pkt->stream_index != vst) {
			av_packet_unref(pkt);
			continue;
		}
		ret = scan_video_packet(j, k, pkt, &pts, &cap);
		av_packet_unref(pkt);
	}
	if (ret == 0 && c->frames == 0)
		ret = chunk_fail(j, k, -EINVAL, "holds no frames");
	if (ret == 0 && !(c->pos = malloc(sizeof(*c->pos) * (size_t)c->frames)))
		ret = -ENOMEM;
	if (ret == 0)
		ret = number_frames(j, k, ic->streams[vst], pts);
	if (ret == 0 && j->has_audio)
		ret = check_samples(j, k, samples);
	if (ret == 0)
		j->total += c->frames;
	free(pts);
	av_packet_free(&pkt);
	close_input(&ic);
	if (ret == -ENOMEM)
		snprintf(j->err, j->errlen, "out of memory joining chunk %d of %d", k + 1, j->n);
	return ret;
}

/* ---- the poster: decode the frames it looks at ------------------------------------ */

struct join_poster {
	struct poster *p;
	AVCodecContext *dec;
	AVFrame *frame;
	uint8_t *buf;
	int size;
	int done; /* no frame it wants is left: decoding stops */
};

static int poster_wants(const struct join *j, int64_t index)
{
	const struct render_spec *s = j->spec;

	return s->poster_frame >= 0 ? index == s->poster_frame : poster_sampled(index, j->total);
}

static void poster_setup(struct join *j, struct join_poster *jp)
{
	const AVCodec *codec = avcodec_find_decoder(j->codec_id);
	char err[200];

	memset(jp, 0, sizeof(*jp));
	if (!j->spec->use_poster_fd ||
	    poster_open(&jp->p, j->spec->poster_fd, j->spec->poster_frame, j->total, j->spec->width,
			j->spec->height, err, sizeof(err)) < 0)
		return;
	/* No decoder (or none that opens) leaves the poster without a frame: the video
	 * stands without it, as in the normal path. */
	jp->dec = codec ? avcodec_alloc_context3(codec) : NULL;
	jp->frame = av_frame_alloc();
	if (!jp->dec || !jp->frame || avcodec_parameters_to_context(jp->dec, j->par) < 0)
		goto off;
	/* One thread: a few frames for a pick, at most the whole video for the content-aware
	 * one, and no decoder's thread pool to count against the encoder box's pids limit. */
	jp->dec->thread_count = 1;
	jp->dec->pkt_timebase = av_inv_q(j->rate);
	if (avcodec_open2(jp->dec, codec, NULL) < 0)
		goto off;
	return;
off:
	jp->done = 1;
}

/* Decoded frames to the poster: its own index from the timestamp we gave the packet. */
static void poster_drain(struct join *j, struct join_poster *jp)
{
	while (avcodec_receive_frame(jp->dec, jp->frame) >= 0) {
		int64_t index = jp->frame->best_effort_timestamp;
		const AVFrame *f = jp->frame;
		int size;

		if (index != AV_NOPTS_VALUE && poster_wants(j, index) &&
		    (size = av_image_get_buffer_size(f->format, f->width, f->height, 1)) > 0) {
			if (size > jp->size) {
				av_free(jp->buf);
				jp->buf = av_malloc((size_t)size);
				jp->size = jp->buf ? size : 0;
			}
			if (jp->buf && av_image_copy_to_buffer(
					   jp->buf, size, (const uint8_t *const *)f->data,
					   f->linesize, f->format, f->width, f->height, 1) >= 0)
				poster_take(jp->p, index, jp->buf, f->format, f->width, f->height);
		}
		av_frame_unref(jp->frame);
	}
}

/* A packet of the joined stream (its timestamps in frames) to the decoder, while a
 * frame the poster wants may still come. A decoder error ends the poster's decoding. */
static void poster_packet(struct join *j, struct join_poster *jp, AVPacket *pkt)
{
	int64_t last = j->spec->poster_frame >= 0 ? j->spec->poster_frame : j->total - 1;

	if (jp->done || !jp->dec)
		return;
	if (pkt && pkt->dts > last) {
		pkt = NULL; /* every frame it wants was sent: flush */
		jp->done = 1;
	}
	if (avcodec_send_packet(jp->dec, pkt) < 0) {
		jp->done = 1;
		return;
	}
	poster_drain(j, jp);
	if (!pkt)
		jp->done = 1;
}

/* The poster written into res (NULL: the join failed, none is written) and freed. */
static void poster_teardown(struct join_poster *jp, struct render_result *res)
{
	if (jp->p && res)
		poster_end(jp->p, res);
	poster_free(jp->p);
	avcodec_free_context(&jp->dec);
	av_frame_free(&jp->frame);
	av_free(jp->buf);
}

/* ---- the second pass: write ---------------------------------------------------------- */

static int open_output(struct join *j, AVFormatContext **out, char *err, size_t errlen)
{
	static const char *const muxers[] = {"mp4", "webm", "gif", "mov"};
	int container = render_container_from_path(j->spec->output);
	AVDictionary *opts = NULL;
	AVFormatContext *oc = NULL;
	AVStream *st;
	int ret;

	ret = avformat_alloc_output_context2(&oc, NULL, muxers[container], j->spec->output);
	if (ret < 0 || !oc)
		return av_fail(ret, "cannot set up the output container", err, errlen);
	*out = oc;
	st = avformat_new_stream(oc, NULL);
	if (!st)
		return -ENOMEM;
	if ((ret = avcodec_parameters_copy(st->codecpar, j->par)) < 0)
		return av_fail(ret, "cannot copy the codec parameters", err, errlen);
	/* Matroska's tags mean nothing to MP4/MOV: the muxer picks its own, except hvc1,
	 * the tag Apple's players need (encode.c sets it the same way), and ProRes's, which
	 * names the profile (ap4h, 4444) and which Matroska keeps: without it MOV says apch
	 * (HQ, 4:2:2) and decoders read the frames at another depth. */
	if (j->codec_id == AV_CODEC_ID_HEVC && container == RENDER_MP4)
		st->codecpar->codec_tag = MKTAG('h', 'v', 'c', '1');
	else if (j->codec_id == AV_CODEC_ID_PRORES)
		st->codecpar->codec_tag =
		    j->par->codec_tag ? j->par->codec_tag : MKTAG('a', 'p', '4', 'h');
	else
		st->codecpar->codec_tag = 0;
	st->time_base = av_inv_q(j->rate);
	st->avg_frame_rate = j->rate;
	st->r_frame_rate = j->rate;
	if (j->alpha_mode[0])
		av_dict_set(&st->metadata, "alpha_mode", j->alpha_mode, 0);
	if (j->has_audio &&
	    (ret = render_audio_enc_open(oc, container, NULL, NULL, &j->aenc, err, errlen)) < 0)
		return ret;
	oc->pb = fd_io_open(j->spec->output_fd, 1);
	if (!oc->pb)
		return -ENOMEM;
	oc->flags |= AVFMT_FLAG_CUSTOM_IO;
	oc->io_open = fd_io_reopen;
	oc->io_close2 = fd_io_close2;
	if (container == RENDER_MP4 || container == RENDER_MOV)
		av_dict_set(&opts, "movflags", "+faststart", 0);
	ret = avformat_write_header(oc, &opts);
	av_dict_free(&opts);
	return ret < 0 ? av_fail(ret, "cannot write the container header", err, errlen) : 0;
}

/* A chunk's PCM packet (interleaved float) to the audio encoder, deinterleaved: the
 * chunks' tracks become one and are encoded once, so no priming or padding falls at a
 * border. */
static int audio_packet(struct join *j, const AVPacket *pkt)
{
	int n = pkt->size / (int)(sizeof(float) * RENDER_AUDIO_CHANNELS);
	const float *in = (const float *)pkt->data;

	if (n > j->planes_cap) {
		for (int c = 0; c < 2; c++) {
			float *grown = realloc(j->planes[c], sizeof(float) * (size_t)n);
			if (!grown)
				return -ENOMEM;
			j->planes[c] = grown;
		}
		j->planes_cap = n;
	}
	for (int i = 0; i < n; i++) {
		float l, r;
		memcpy(&l, in + 2 * i, sizeof(l)); /* the packet's data may be unaligned */
		memcpy(&r, in + 2 * i + 1, sizeof(r));
		j->planes[0][i] = l;
		j->planes[1][i] = r;
	}
	return render_audio_enc_write(j->aenc, (const float *const *)j->planes, n, j->err,
				      j->errlen);
}

/* Chunk k's packets into the output, frame numbers moved past the frames before it. */
static int copy_chunk(struct join *j, int k, int fd, int64_t before, AVFormatContext *oc,
		      struct join_poster *jp)
{
	const struct chunk_scan *c = &j->scan[k];
	AVFormatContext *ic = NULL;
	AVPacket *pkt = av_packet_alloc();
	int64_t i = 0;
	int vst, ast, ret;

	if (!pkt)
		return -ENOMEM;
	ret = open_chunk(j, k, fd, &ic, &vst, &ast);
	while (ret == 0) {
		ret = av_read_frame(ic, pkt);
		if (ret == AVERROR_EOF) {
			ret = i == c->frames ? 0 : chunk_fail(j, k, -EIO, "changed while joined");
			break;
		}
		if (ret < 0) {
			ret = chunk_fail(j, k, ret, "is truncated or corrupt");
			break;
		}
		if (pkt->stream_index == ast && ast >= 0) {
			ret = audio_packet(j, pkt);
			av_packet_unref(pkt);
			continue;
		}
		if (pkt->stream_index != vst) {
			av_packet_unref(pkt);
			continue;
		}
		/* The first pass numbered this very file; a second reading that differs means
		 * someone wrote to it meanwhile. */
		if (i >= c->frames || pkt->pts == AV_NOPTS_VALUE ||
		    av_rescale_q_rnd(pkt->pts - c->pts_min, ic->streams[vst]->time_base,
				     av_inv_q(j->rate),
				     AV_ROUND_NEAR_INF | AV_ROUND_PASS_MINMAX) != c->pos[i]) {
			ret = chunk_fail(j, k, -EIO, "changed while joined");
			break;
		}
		pkt->pts = before + c->pos[i];
		pkt->dts = before + i - j->delay;
		pkt->duration = 1;
		pkt->pos = -1;
		pkt->stream_index = 0;
		if (pkt->dts <= j->last_dts || pkt->dts > pkt->pts) {
			ret = chunk_fail(j, k, -EINVAL, "has frames out of decoding order");
			break;
		}
		j->last_dts = pkt->dts;
		poster_packet(j, jp, pkt);
		av_packet_rescale_ts(pkt, av_inv_q(j->rate), oc->streams[0]->time_base);
		ret = av_interleaved_write_frame(oc, pkt);
		if (ret < 0)
			ret = av_fail(ret, "cannot write to the output", j->err, j->errlen);
		i++;
	}
	av_packet_free(&pkt);
	close_input(&ic);
	return ret;
}

static int check_spec(struct join *j, const int *fds, int n)
{
	int container = render_container_from_path(j->spec->output);
	int codec = render_codec_from_name(j->spec->codec);

	if (n < 1 || n > RENDER_JOIN_MAX_CHUNKS || !fds) {
		snprintf(j->err, j->errlen, "a join takes 1 to %d chunks, not %d",
			 RENDER_JOIN_MAX_CHUNKS, n);
		return -EINVAL;
	}
	if (container < 0 || container == RENDER_GIF) {
		snprintf(j->err, j->errlen, "chunks join into .mp4, .webm or .mov, not \"%s\"",
			 j->spec->output ? j->spec->output : "");
		return -EINVAL;
	}
	if (codec < 0) {
		snprintf(j->err, j->errlen, "codec \"%s\" is not one of h264 hevc vp9 av1 prores",
			 j->spec->codec);
		return -EINVAL;
	}
	if ((codec = render_codec_for(container, codec, j->err, j->errlen)) < 0)
		return codec;
	j->codec_id = codec_id_of(codec);
	if (!j->spec->use_output_fd || j->spec->output_fd < 0) {
		snprintf(j->err, j->errlen, "a join writes into a descriptor (use_output_fd)");
		return -EINVAL;
	}
	j->rate = j->spec->fps_num > 0 ? (AVRational){j->spec->fps_num, j->spec->fps_den}
				       : (AVRational){j->spec->fps, 1};
	if (j->rate.num < 1 || j->rate.den < 1 || av_q2d(j->rate) > 1000) {
		snprintf(j->err, j->errlen, "fps %d/%d is outside 1..1000", j->rate.num,
			 j->rate.den);
		return -EINVAL;
	}
	return 0;
}

/* The audio's last frames, the trailer (MP4's index moved first), sync, size and hash. */
static int finish_output(struct join *j, AVFormatContext *oc, struct render_result *res,
			 off_t *size)
{
	int64_t want = render_audio_samples(j->total, j->rate.num, j->rate.den);
	int ret;

	if (j->aenc && (ret = render_audio_enc_flush(j->aenc, j->err, j->errlen)) < 0)
		return ret;
	if (j->aenc && render_audio_enc_samples(j->aenc) != want) {
		snprintf(j->err, j->errlen,
			 "the joined audio holds %" PRId64 " samples, not %" PRId64,
			 render_audio_enc_samples(j->aenc), want);
		return -EIO;
	}
	if ((ret = av_write_trailer(oc)) < 0)
		return av_fail(ret, "cannot finish the container", j->err, j->errlen);
	avio_flush(oc->pb);
	if (oc->pb->error < 0)
		return av_fail(oc->pb->error, "cannot write the output", j->err, j->errlen);
	if (fsync(j->spec->output_fd) < 0 || (*size = lseek(j->spec->output_fd, 0, SEEK_END)) < 0) {
		ret = -errno;
		snprintf(j->err, j->errlen, "cannot sync the video file: %s", strerror(-ret));
		return ret;
	}
	return hash_fd(j->spec->output_fd, res->sha256, j->err, j->errlen);
}

int render_join_progress(const int *chunk_fds, int n, const struct render_spec *spec,
			 render_progress_fn progress, void *opaque, struct render_result *res,
			 char *err, size_t errlen)
{
	struct join j = {.spec = spec, .n = n, .err = err, .errlen = errlen, .last_dts = INT64_MIN};
	struct join_poster jp = {0};
	AVFormatContext *oc = NULL;
	struct timespec t0;
	int64_t before = 0;
	off_t size = 0;
	int ret;

	memset(res, 0, sizeof(*res));
	res->poster_frame = -1;
	if (errlen)
		err[0] = '\0';
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((ret = render_libav_load(err, errlen)) < 0 || (ret = check_spec(&j, chunk_fds, n)) < 0)
		return ret;
	if (!(j.scan = calloc((size_t)n, sizeof(*j.scan)))) {
		snprintf(err, errlen, "out of memory joining %d chunks", n);
		return -ENOMEM;
	}
	for (int k = 0; k < n && ret == 0; k++)
		ret = scan_chunk(&j, k, chunk_fds[k]);
	if (ret == 0 && spec->max_frames > 0 && j.total != spec->max_frames) {
		snprintf(err, errlen,
			 "the %d chunks hold %" PRId64 " frames, not the job's %" PRId64, n,
			 j.total, spec->max_frames);
		ret = -EINVAL;
	}
	if (ret == 0)
		ret = open_output(&j, &oc, err, errlen);
	if (ret == 0)
		poster_setup(&j, &jp);
	for (int k = 0; k < n && ret == 0; k++) {
		ret = copy_chunk(&j, k, chunk_fds[k], before, oc, &jp);
		before += j.scan[k].frames;
		if (ret == 0 && progress)
			progress(opaque, before);
	}
	if (ret == 0)
		ret = finish_output(&j, oc, res, &size);
	if (ret == 0) {
		poster_packet(&j, &jp, NULL);
		poster_teardown(&jp, res);
		res->frames = j.total;
		res->bytes = (uint64_t)size;
		if (j.aenc) {
			snprintf(res->audio_codec, sizeof(res->audio_codec), "%s",
				 render_audio_enc_codec(j.aenc));
			res->audio_samples = render_audio_enc_samples(j.aenc);
		}
		snprintf(res->stream_kind, sizeof(res->stream_kind), "join");
	} else {
		poster_teardown(&jp, NULL);
		if (ret == -ENOMEM && errlen && !err[0])
			snprintf(err, errlen, "out of memory joining %d chunks", n);
	}
	if (oc) {
		fd_io_free(&oc->pb);
		avformat_free_context(oc);
	}
	for (int k = 0; k < n; k++)
		free(j.scan[k].pos);
	free(j.scan);
	avcodec_parameters_free(&j.par);
	render_audio_enc_free(&j.aenc);
	free(j.planes[0]);
	free(j.planes[1]);
	res->encode_ms = ms_since(&t0);
	return ret;
}

int render_join(const int *chunk_fds, int n, const struct render_spec *spec,
		struct render_result *res, char *err, size_t errlen)
{
	return render_join_progress(chunk_fds, n, spec, NULL, NULL, res, err, errlen);
}

/* ---- a chunk's audio: its range of the job's track, as PCM ------------------------------ */

struct chunk_audio {
	AVFormatContext *ic, *oc;
	AVPacket *vpkt, *apkt;
	int vin, pending; /* the video stream in ic; vpkt holds a packet not yet written */
	int video_done;
	AVRational rate;
	int64_t vcount, vbase, last_dts; /* video packets read, the first's pts, last dts */
	AVStream *vst, *ast;		 /* in oc */
	int64_t skip;			 /* samples still to drop before the range */
	int64_t written;		 /* samples of the range written */
	float buf[2 * 1024];		 /* interleaved, one packet's worth */
	int fill;
	char *err;
	size_t errlen;
};

/* Copy the chunk's video packets up to time t (in tb), or all when tb.num is 0. */
static int chunk_audio_video(struct chunk_audio *ca, int64_t t, AVRational tb)
{
	AVStream *is = ca->ic->streams[ca->vin];
	int ret;

	while (!ca->video_done) {
		if (!ca->pending) {
			ret = av_read_frame(ca->ic, ca->vpkt);
			if (ret == AVERROR_EOF) {
				ca->video_done = 1;
				break;
			}
			if (ret < 0)
				return av_fail(ret, "cannot read the chunk back", ca->err,
					       ca->errlen);
			if (ca->vpkt->stream_index != ca->vin) {
				av_packet_unref(ca->vpkt);
				continue;
			}
			if (ca->vpkt->pts == AV_NOPTS_VALUE) {
				snprintf(ca->err, ca->errlen,
					 "the chunk has a frame without a timestamp");
				return -EINVAL;
			}
			/* Matroska keeps no decode timestamps and the muxer wants rising ones:
			 * packet i gets frame i less 16 (x264's most B-frames), never past its
			 * pts; the join renumbers them anyway. */
			if (ca->vcount == 0)
				ca->vbase = ca->vpkt->pts;
			ca->vpkt->dts = ca->vbase + av_rescale_q(ca->vcount++ - 16,
								 av_inv_q(ca->rate), is->time_base);
			if (ca->vpkt->dts > ca->vpkt->pts)
				ca->vpkt->dts = ca->vpkt->pts;
			if (ca->vcount > 1 && ca->vpkt->dts <= ca->last_dts) {
				snprintf(ca->err, ca->errlen,
					 "the chunk's frames are out of decoding order");
				return -EINVAL;
			}
			ca->last_dts = ca->vpkt->dts;
			ca->pending = 1;
		}
		if (tb.num && av_compare_ts(ca->vpkt->dts - ca->vbase, is->time_base, t, tb) > 0)
			break;
		av_packet_rescale_ts(ca->vpkt, is->time_base, ca->vst->time_base);
		ca->vpkt->stream_index = ca->vst->index;
		ca->vpkt->pos = -1;
		ca->pending = 0;
		ret = av_interleaved_write_frame(ca->oc, ca->vpkt);
		if (ret < 0)
			return av_fail(ret, "cannot write the chunk", ca->err, ca->errlen);
	}
	return 0;
}

static int chunk_audio_flush(struct chunk_audio *ca)
{
	const AVRational tb = {1, RENDER_AUDIO_RATE};
	int ret;

	if (!ca->fill)
		return 0;
	if ((ret = chunk_audio_video(ca, ca->written, tb)) < 0)
		return ret;
	if ((ret = av_new_packet(ca->apkt, ca->fill * (int)sizeof(float) * 2)) < 0)
		return av_fail(ret, "cannot write the chunk's audio", ca->err, ca->errlen);
	memcpy(ca->apkt->data, ca->buf, (size_t)ca->fill * sizeof(float) * 2);
	ca->apkt->pts = ca->apkt->dts = ca->written;
	ca->apkt->duration = ca->fill;
	av_packet_rescale_ts(ca->apkt, tb, ca->ast->time_base);
	ca->apkt->stream_index = ca->ast->index;
	ca->written += ca->fill;
	ca->fill = 0;
	ret = av_interleaved_write_frame(ca->oc, ca->apkt);
	return ret < 0 ? av_fail(ret, "cannot write the chunk's audio", ca->err, ca->errlen) : 0;
}

/* render_audio_decode's sink: drop the samples before the range, pack the rest. */
static int chunk_audio_sink(void *opaque, const float *const planes[2], int n)
{
	struct chunk_audio *ca = opaque;
	int i = 0, ret;

	if (ca->skip > 0) {
		i = ca->skip < n ? (int)ca->skip : n;
		ca->skip -= i;
	}
	for (; i < n; i++) {
		ca->buf[2 * ca->fill] = planes[0][i];
		ca->buf[2 * ca->fill + 1] = planes[1][i];
		if (++ca->fill == 1024 && (ret = chunk_audio_flush(ca)) < 0)
			return ret;
	}
	return 0;
}

static int chunk_audio_open(struct chunk_audio *ca, int chunk_fd, int out_fd)
{
	const AVInputFormat *mkv = av_find_input_format("matroska");
	AVIOContext *pb = fd_io_open(chunk_fd, 0);
	AVCodecParameters *ap;
	int ret;

	ca->ic = avformat_alloc_context();
	if (!ca->ic || !pb || !mkv) {
		fd_io_free(&pb);
		return -ENOMEM;
	}
	ca->ic->pb = pb;
	ca->ic->flags |= AVFMT_FLAG_CUSTOM_IO;
	if ((ret = avformat_open_input(&ca->ic, "", mkv, NULL)) < 0) {
		fd_io_free(&pb);
		return av_fail(ret, "cannot read the chunk back", ca->err, ca->errlen);
	}
	ca->vin = -1;
	for (unsigned i = 0; i < ca->ic->nb_streams; i++)
		if (ca->ic->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_VIDEO && ca->vin < 0)
			ca->vin = (int)i;
	if (ca->vin < 0) {
		snprintf(ca->err, ca->errlen, "the chunk has no video to add the audio to");
		return -EINVAL;
	}
	ret = avformat_alloc_output_context2(&ca->oc, NULL, "matroska", "chunk.mkv");
	if (ret < 0 || !ca->oc)
		return av_fail(ret, "cannot set up the chunk", ca->err, ca->errlen);
	if (!(ca->vst = avformat_new_stream(ca->oc, NULL)) ||
	    !(ca->ast = avformat_new_stream(ca->oc, NULL)))
		return -ENOMEM;
	if ((ret = avcodec_parameters_copy(ca->vst->codecpar, ca->ic->streams[ca->vin]->codecpar)) <
	    0)
		return av_fail(ret, "cannot copy the codec parameters", ca->err, ca->errlen);
	ca->vst->time_base = ca->ic->streams[ca->vin]->time_base;
	av_dict_copy(&ca->vst->metadata, ca->ic->streams[ca->vin]->metadata, 0);
	ap = ca->ast->codecpar;
	ap->codec_type = AVMEDIA_TYPE_AUDIO;
	ap->codec_id = AV_CODEC_ID_PCM_F32LE;
	ap->format = AV_SAMPLE_FMT_FLT;
	ap->sample_rate = RENDER_AUDIO_RATE;
	av_channel_layout_default(&ap->ch_layout, RENDER_AUDIO_CHANNELS);
	ap->bits_per_coded_sample = 32;
	ap->block_align = (int)sizeof(float) * RENDER_AUDIO_CHANNELS;
	ca->ast->time_base = (AVRational){1, RENDER_AUDIO_RATE};
	ca->oc->pb = fd_io_open(out_fd, 1);
	if (!ca->oc->pb)
		return -ENOMEM;
	ca->oc->flags |= AVFMT_FLAG_CUSTOM_IO;
	ret = avformat_write_header(ca->oc, NULL);
	return ret < 0 ? av_fail(ret, "cannot write the chunk's header", ca->err, ca->errlen) : 0;
}

int render_chunk_audio(int chunk_fd, int audio_fd, int out_fd, const char *name,
		       int64_t first_frame, int64_t frames, int fps_num, int fps_den,
		       struct render_audio_result *res, char *err, size_t errlen)
{
	struct chunk_audio ca = {.err = err, .errlen = errlen};
	struct render_audio_facts facts;
	int64_t s0, s1;
	off_t size = 0;
	int ret;

	memset(res, 0, sizeof(*res));
	err[0] = '\0';
	if ((ret = render_libav_load(err, errlen)) < 0)
		return ret;
	if (first_frame < 0 || frames < 1 || fps_num < 1 || fps_den < 1) {
		snprintf(err, errlen, "a chunk's audio needs its frame range and rate");
		return -EINVAL;
	}
	s0 = render_audio_samples(first_frame, fps_num, fps_den);
	s1 = render_audio_samples(first_frame + frames, fps_num, fps_den);
	ca.skip = s0;
	ca.rate = (AVRational){fps_num, fps_den};
	ca.vpkt = av_packet_alloc();
	ca.apkt = av_packet_alloc();
	ret = ca.vpkt && ca.apkt ? chunk_audio_open(&ca, chunk_fd, out_fd) : -ENOMEM;
	if (ret == 0)
		ret = render_audio_decode(audio_fd, name, s1, chunk_audio_sink, &ca, &facts, err,
					  errlen);
	if (ret == 0)
		ret = chunk_audio_flush(&ca);
	if (ret == 0)
		ret = chunk_audio_video(&ca, 0, (AVRational){0, 1});
	if (ret == 0 && ca.written != s1 - s0) {
		snprintf(err, errlen, "the chunk's audio holds %" PRId64 " samples, not %" PRId64,
			 ca.written, s1 - s0);
		ret = -EIO;
	}
	if (ret == 0 && (ret = av_write_trailer(ca.oc)) < 0)
		ret = av_fail(ret, "cannot finish the chunk", err, errlen);
	if (ret == 0) {
		avio_flush(ca.oc->pb);
		if (ca.oc->pb->error < 0)
			ret = av_fail(ca.oc->pb->error, "cannot write the chunk", err, errlen);
	}
	if (ret == 0 && (fsync(out_fd) < 0 || (size = lseek(out_fd, 0, SEEK_END)) < 0)) {
		ret = -errno;
		snprintf(err, errlen, "cannot sync the chunk: %s", strerror(-ret));
	}
	if (ret == 0 && (ret = hash_fd(out_fd, res->sha256, err, errlen)) == 0) {
		res->bytes = (uint64_t)size;
		snprintf(res->codec, sizeof(res->codec), "pcm");
		res->samples = ca.written;
		res->source_samples = facts.decoded;
		res->source_duration_s = facts.source_duration_s;
		res->fitted = facts.fitted;
	}
	if (ret == -ENOMEM && !err[0])
		snprintf(err, errlen, "out of memory while adding the chunk's audio");
	av_packet_free(&ca.vpkt);
	av_packet_free(&ca.apkt);
	if (ca.ic) {
		AVIOContext *pb = ca.ic->pb;
		avformat_close_input(&ca.ic);
		fd_io_free(&pb);
	}
	if (ca.oc) {
		fd_io_free(&ca.oc->pb);
		avformat_free_context(ca.oc);
	}
	return ret;
}
