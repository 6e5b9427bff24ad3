/* test_join.c - a chunked render joined (render/join.c) against the same render made whole.
 *
 * A deterministic yuv420p stream whose frames stamp their index into their top row of 8x8
 * blocks (a 16-bit binary code, black or white) over a moving texture is encoded once
 * whole and once as uneven chunks (render_spec.chunk), the chunks are joined, and both
 * finals are decoded with libav: the same frame count, every frame's stamp equal to its
 * place (nothing dropped or doubled at a border), timestamps continuous and exact (also
 * at 30000/1001), and the joined frames' PSNR against the source within 0.5 dB of the
 * whole render's; for MP4 (H.264), WebM (VP9) and MOV (ProRes). Then the refusals: a
 * chunk of another size, codec or settings, truncated or garbage chunks, zero chunks,
 * too many, and a total that is not the job's. Last, the join inside the encoder's box
 * (encoder_spawn_join, as root: a real sandbox's helper ticket).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>

#include "audio.h"
#include "encoder.h"
#include "helpers.h"
#include "render.h"
#include "sandbox.h"

#define W	    128
#define H	    64
#define FRAMES	    120
#define STAMP_BITS  (W / 8) /* one 8x8 block per bit along the top row */
#define FRAME_BYTES (W * H * 3 / 2)

static char *dir;

/* Frame i of the source: luma and chroma planes of yuv420p. */
static void make_frame(int i, uint8_t *f)
{
	uint8_t *y = f, *u = f + W * H, *v = u + W * H / 4;

	for (int r = 0; r < H; r++)
		for (int c = 0; c < W; c++) {
			int bit = c / 8;
			if (r < 8)
				y[r * W + c] = (i >> bit) & 1 ? 235 : 16;
			else /* a texture that moves: real motion for the encoder */
				y[r * W + c] =
				    (uint8_t)(64 + ((c * 3 + r * 2 + i * 5) & 127) / 2 +
					      40 * ((((c + i * 2) / 16) + (r / 16)) & 1));
		}
	for (int k = 0; k < W * H / 4; k++) {
		u[k] = (uint8_t)(128 + ((k + i) & 31) - 16);
		v[k] = (uint8_t)(128 - ((k / 7 + i) & 15));
	}
}

/* A temporary file in dir: its descriptor (read-write) and path. */
static int temp_file(const char *tag, char *path, size_t len)
{
	int fd;

	snprintf(path, len, "%s/%s-XXXXXX", dir, tag);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	return fd;
}

/* A raw stream of frames [first, first + count) in a file, at offset 0. */
static int source_fd(int first, int count)
{
	static uint8_t f[FRAME_BYTES];
	char path[PATH_MAX];
	int fd = temp_file("src", path, sizeof(path));

	for (int i = first; i < first + count; i++) {
		make_frame(i, f);
		assert_int_equal(write(fd, f, sizeof(f)), (ssize_t)sizeof(f));
	}
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

static struct render_spec base_spec(const char *output, const char *preset, int fps_num,
				    int fps_den)
{
	struct render_spec s = {
	    .width = W,
	    .height = H,
	    .fps_num = fps_num,
	    .fps_den = fps_den,
	    .pix_fmt = "yuv420p",
	    .output = output,
	    .crf = -1,
	    .preset = preset,
	    .threads = 1,
	    .output_fd = -1,
	    .poster_fd = -1,
	    .poster_frame = -1,
	    .sheet_fd = -1,
	};
	return s;
}

/* Frames [first, first + count) encoded by render into a new file: its descriptor. */
static int encode(struct render_spec spec, int first, int count, int chunk, char *path, size_t len)
{
	struct render_result res;
	struct render *r = NULL;
	char err[512];
	int in = source_fd(first, count), out = temp_file(chunk ? "chunk" : "whole", path, len);

	spec.chunk = chunk;
	spec.max_frames = count;
	spec.output_fd = out;
	spec.use_output_fd = 1;
	if (render_open(&spec, &r, err, sizeof(err)) < 0)
		fail_msg("render_open: %s", err);
	if (render_stream(r, in, NULL, NULL, err, sizeof(err)) < 0 ||
	    render_finish(r, &res, err, sizeof(err)) < 0)
		fail_msg("render: %s", err);
	assert_int_equal(res.frames, count);
	render_close(r);
	close(in);
	return out;
}

/* What decoding a final gave: frames, their stamps, pts (stream time base) and luma PSNR
 * against the source. */
struct decoded {
	int frames;
	int stamp[FRAMES + 8];
	int64_t pts[FRAMES + 8];
	AVRational tb;
	double psnr;
};

static int read_stamp(const AVFrame *f, int shift)
{
	int v = 0;

	for (int b = 0; b < STAMP_BITS; b++) {
		long sum = 0;
		for (int r = 2; r < 6; r++)
			for (int c = b * 8 + 2; c < b * 8 + 6; c++)
				sum += shift ? ((const uint16_t *)(f->data[0] +
								   r * f->linesize[0]))[c] >>
						   shift
					     : f->data[0][r * f->linesize[0] + c];
		if (sum / 16 > 128)
			v |= 1 << b;
	}
	return v;
}

/* Luma squared error of a decoded frame against source frame i (8-bit scale). */
static double luma_sse(const AVFrame *f, int i, int shift)
{
	static uint8_t src[FRAME_BYTES];
	double sse = 0;

	make_frame(i, src);
	for (int r = 0; r < H; r++)
		for (int c = 0; c < W; c++) {
			double d = shift
				       ? ((const uint16_t *)(f->data[0] + r * f->linesize[0]))[c] /
					     (double)(1 << shift)
				       : f->data[0][r * f->linesize[0] + c];
			d -= src[r * W + c];
			sse += d * d;
		}
	return sse;
}

/* Bits a decoded luma sample has past 8: ProRes 4444 decodes at 12, other ProRes at 10. */
static int depth_shift(int fmt)
{
	switch (fmt) {
	case AV_PIX_FMT_YUV420P:
	case AV_PIX_FMT_YUVA420P:
		return 0;
	case AV_PIX_FMT_YUV422P10LE:
	case AV_PIX_FMT_YUV444P10LE:
	case AV_PIX_FMT_YUVA444P10LE:
		return 2;
	case AV_PIX_FMT_YUV444P12LE:
	case AV_PIX_FMT_YUVA444P12LE:
		return 4;
	default:
		fail_msg("unexpected decoded pixel format %d", fmt);
		return 0;
	}
}

static void decode_file(const char *path, struct decoded *d)
{
	AVFormatContext *ic = NULL;
	AVCodecContext *dec;
	const AVCodec *codec;
	AVPacket *pkt = av_packet_alloc();
	AVFrame *f = av_frame_alloc();
	double sse = 0;
	int ret, eof = 0, vst = -1;

	memset(d, 0, sizeof(*d));
	assert_int_equal(avformat_open_input(&ic, path, NULL, NULL), 0);
	for (unsigned i = 0; i < ic->nb_streams; i++)
		if (ic->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_VIDEO)
			vst = (int)i;
	assert_true(vst >= 0);
	d->tb = ic->streams[vst]->time_base;
	codec = avcodec_find_decoder(ic->streams[vst]->codecpar->codec_id);
	assert_non_null(codec);
	dec = avcodec_alloc_context3(codec);
	assert_int_equal(avcodec_parameters_to_context(dec, ic->streams[vst]->codecpar), 0);
	dec->thread_count = 1;
	assert_int_equal(avcodec_open2(dec, codec, NULL), 0);
	while (!eof) {
		ret = av_read_frame(ic, pkt);
		if (ret >= 0 && pkt->stream_index != vst) {
			av_packet_unref(pkt);
			continue;
		}
		if (ret < 0) {
			eof = 1;
			ret = avcodec_send_packet(dec, NULL);
		} else {
			ret = avcodec_send_packet(dec, pkt);
			av_packet_unref(pkt);
		}
		assert_true(ret >= 0);
		while (avcodec_receive_frame(dec, f) >= 0) {
			int shift = depth_shift(f->format);
			assert_true(d->frames < FRAMES + 8);
			d->stamp[d->frames] = read_stamp(f, shift);
			d->pts[d->frames] = f->best_effort_timestamp;
			sse += luma_sse(f, d->frames < FRAMES ? d->frames : 0, shift);
			d->frames++;
			av_frame_unref(f);
		}
	}
	d->psnr = 10 * log10(255.0 * 255.0 / (sse / ((double)W * H * d->frames)));
	av_frame_free(&f);
	av_packet_free(&pkt);
	avcodec_free_context(&dec);
	avformat_close_input(&ic);
}

/* Every frame in its place, each timestamp index/rate from the first: exactly where the
 * time base holds it (MP4, MOV), else rounded to the nearest tick (WebM's milliseconds). */
static void assert_exact_from(const struct decoded *d, int num, int den)
{
	assert_int_equal(d->frames, FRAMES);
	for (int i = 0; i < d->frames; i++) {
		if (d->stamp[i] != i)
			fail_msg("frame %d carries stamp %d", i, d->stamp[i]);
		/* pts - pts0 == i * den / num / tb, in integers, rounded half up */
		int64_t q = (int64_t)num * d->tb.num;
		int64_t want = ((int64_t)i * den * d->tb.den * 2 + q) / (2 * q);
		if (d->pts[i] - d->pts[0] != want)
			fail_msg("frame %d at pts %lld (tb %d/%d), not %d*%d/%d s", i,
				 (long long)d->pts[i], d->tb.num, d->tb.den, i, den, num);
	}
}

/* ... and the first frame at 0 (a file without an audio track's priming before it). */
static void assert_exact(const struct decoded *d, int num, int den)
{
	assert_exact_from(d, num, den);
	assert_int_equal(d->pts[0], 0);
}

static const int chunk_sizes[] = {37, 23, 31, 29}; /* uneven, 120 in all */

/* Whole vs chunked+joined for one format (and codec: NULL, the container's) at one rate. */
static void whole_vs_joined(const char *output, const char *codec, const char *preset, int num,
			    int den)
{
	struct render_spec spec = base_spec(output, preset, num, den);
	char whole_path[PATH_MAX], joined_path[PATH_MAX], chunk_path[PATH_MAX], poster[PATH_MAX];
	struct render_result res;
	struct decoded whole, joined;
	int fds[4], first = 0, whole_fd, joined_fd, poster_fd;
	char err[512];

	spec.codec = codec;
	whole_fd = encode(spec, 0, FRAMES, 0, whole_path, sizeof(whole_path));
	for (int k = 0; k < 4; k++) {
		fds[k] = encode(spec, first, chunk_sizes[k], 1, chunk_path, sizeof(chunk_path));
		first += chunk_sizes[k];
	}
	joined_fd = temp_file("joined", joined_path, sizeof(joined_path));
	poster_fd = temp_file("poster", poster, sizeof(poster));
	spec.output_fd = joined_fd;
	spec.use_output_fd = 1;
	spec.poster_fd = poster_fd;
	spec.use_poster_fd = 1;
	spec.max_frames = FRAMES;
	if (render_join(fds, 4, &spec, &res, err, sizeof(err)) < 0)
		fail_msg("render_join %s: %s", output, err);
	assert_int_equal(res.frames, FRAMES);
	assert_int_equal((off_t)res.bytes, lseek(joined_fd, 0, SEEK_END));
	assert_int_equal(strlen(res.sha256), 64);
	assert_true(res.poster_bytes > 0);
	assert_int_equal((off_t)res.poster_bytes, lseek(poster_fd, 0, SEEK_END));
	assert_true(res.poster_frame >= 0 && res.poster_frame < FRAMES);
	print_message("%s: whole %lld bytes, joined %llu\n", output,
		      (long long)lseek(whole_fd, 0, SEEK_END), (unsigned long long)res.bytes);

	decode_file(whole_path, &whole);
	decode_file(joined_path, &joined);
	assert_exact(&whole, num, den);
	assert_exact(&joined, num, den);
	assert_int_equal(whole.tb.num, joined.tb.num);
	assert_int_equal(whole.tb.den, joined.tb.den);
	print_message("%s at %d/%d: PSNR whole %.2f dB, joined %.2f dB\n", output, num, den,
		      whole.psnr, joined.psnr);
	assert_true(fabs(whole.psnr - joined.psnr) <= 0.5);
	assert_true(joined.psnr > 25);

	/* A chosen poster frame is that frame. */
	spec.poster_frame = 17;
	assert_int_equal(ftruncate(joined_fd, 0), 0);
	assert_int_equal(ftruncate(poster_fd, 0), 0);
	if (render_join(fds, 4, &spec, &res, err, sizeof(err)) < 0)
		fail_msg("render_join %s (poster 17): %s", output, err);
	assert_int_equal(res.poster_frame, 17);
	assert_true(res.poster_bytes > 0);

	for (int k = 0; k < 4; k++)
		close(fds[k]);
	close(whole_fd);
	close(joined_fd);
	close(poster_fd);
}

static void test_mp4_h264_joined_equals_whole(void **state)
{
	(void)state;
	whole_vs_joined("x.mp4", NULL, "veryfast", 25, 1); /* B-frames across every border */
}

static void test_mp4_h264_joined_equals_whole_at_30000_and_120000_over_1001(void **state)
{
	(void)state;
	whole_vs_joined("x.mp4", NULL, "medium", 30000, 1001);
	/* 8.34 ms a frame: Matroska's milliseconds still give every frame back exactly */
	whole_vs_joined("x.mp4", NULL, "veryfast", 120000, 1001);
}

static void test_webm_vp9_joined_equals_whole(void **state)
{
	(void)state;
	whole_vs_joined("x.webm", NULL, "veryfast", 30000, 1001); /* alt-ref: hidden frames */
}

static void test_mov_prores_joined_equals_whole(void **state)
{
	(void)state;
	whole_vs_joined("x.mov", NULL, NULL, 24000, 1001);
}

/* HEVC (x265) and AV1 where this libavcodec has their encoders. */
static void test_hevc_and_av1_joined_equal_whole_where_available(void **state)
{
	char err[512];

	(void)state;
	if (render_codec_available(RENDER_CODEC_HEVC, err, sizeof(err)) == 0)
		whole_vs_joined("x.mp4", "hevc", "veryfast", 30000, 1001);
	else
		print_message("hevc skipped: %s\n", err);
	if (render_codec_available(RENDER_CODEC_AV1, err, sizeof(err)) == 0) {
		whole_vs_joined("x.mp4", "av1", "veryfast", 25, 1);
		whole_vs_joined("x.webm", "av1", "veryfast", 30000, 1001);
	} else {
		print_message("av1 skipped: %s\n", err);
	}
}

/* An rgba stream: the stamp in white/black, alpha 255 on the left half, 64 on the right. */
static int rgba_source_fd(int first, int count)
{
	static uint8_t f[W * H * 4];
	char path[PATH_MAX];
	int fd = temp_file("rgba", path, sizeof(path));

	for (int i = first; i < first + count; i++) {
		for (int r = 0; r < H; r++)
			for (int c = 0; c < W; c++) {
				uint8_t *p = f + (r * W + c) * 4;
				uint8_t v = r < 8 ? ((i >> (c / 8)) & 1 ? 255 : 0)
						  : (uint8_t)((c * 2 + r + i * 3) & 255);
				p[0] = p[1] = p[2] = v;
				p[3] = c < W / 2 ? 255 : 64;
			}
		assert_int_equal(write(fd, f, sizeof(f)), (ssize_t)sizeof(f));
	}
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* VP9 with alpha: the joined WebM keeps the alpha channel (Matroska's BlockAdditions go
 * through the join with their packets), checked by decoding it with libvpx's decoder. */
static void test_webm_vp9_alpha_survives_the_join(void **state)
{
	struct render_spec spec = base_spec("x.webm", "veryfast", 25, 1);
	char path[PATH_MAX], joined[PATH_MAX], cmd[PATH_MAX * 2], out[256];
	struct render_result res;
	int fds[2], counts[2] = {14, 10}, first = 0, jfd;
	char err[512];

	(void)state;
	spec.pix_fmt = "rgba";
	for (int k = 0; k < 2; k++) {
		struct render *r = NULL;
		int in = rgba_source_fd(first, counts[k]);

		fds[k] = temp_file("achunk", path, sizeof(path));
		spec.chunk = 1;
		spec.max_frames = counts[k];
		spec.output_fd = fds[k];
		spec.use_output_fd = 1;
		assert_int_equal(render_open(&spec, &r, err, sizeof(err)), 0);
		assert_int_equal(render_stream(r, in, NULL, NULL, err, sizeof(err)), 0);
		assert_int_equal(render_finish(r, &res, err, sizeof(err)), 0);
		render_close(r);
		close(in);
		first += counts[k];
	}
	jfd = temp_file("ajoined", joined, sizeof(joined));
	spec.chunk = 0;
	spec.max_frames = 24;
	spec.output_fd = jfd;
	if (render_join(fds, 2, &spec, &res, err, sizeof(err)) < 0)
		fail_msg("render_join: %s", err);
	assert_int_equal(res.frames, 24);
	snprintf(cmd, sizeof(cmd),
		 "ffprobe -v error -show_entries stream_tags=alpha_mode -of csv=p=0 %s", joined);
	assert_int_equal(th_run(cmd, out, sizeof(out)), 0);
	assert_int_equal(atoi(out), 1);
	/* the mean alpha of the right half over all frames, as libvpx-vp9 decodes it */
	snprintf(cmd, sizeof(cmd),
		 "ffmpeg -v error -c:v libvpx-vp9 -i %s -vf crop=%d:%d:%d:0,format=rgba "
		 "-f rawvideo - | od -An -v -tu1 -w4 | awk '{a+=$4; n++} END {printf \"%%d %%d\", "
		 "n, a/n}'",
		 joined, W / 2, H, W / 2);
	assert_int_equal(th_run(cmd, out, sizeof(out)), 0);
	{
		int n = 0, mean = 0;
		assert_int_equal(sscanf(out, "%d %d", &n, &mean), 2);
		print_message("joined alpha: %d pixels, mean alpha %d (source 64)\n", n, mean);
		assert_int_equal(n, 24 * W / 2 * H);
		assert_true(mean > 56 && mean < 72);
	}
	close(fds[0]);
	close(fds[1]);
	close(jfd);
}

/* ---- audio: each chunk's range as PCM, joined and encoded once ------------------------- */

static void assert_refused(const int *fds, int n, struct render_spec spec, const char *want);

/* A 48 kHz stereo 16-bit WAV: a 440 Hz sine left, 660 Hz right, seconds long. */
static int wav_fd(double seconds)
{
	int n = (int)(seconds * 48000), fd;
	char path[PATH_MAX];
	uint8_t hdr[44] = "RIFF\0\0\0\0WAVEfmt \x10\0\0\0\x01\0\x02\0\x80\xbb\0\0"
			  "\0\xee\x02\0\x04\0\x10\0data";
	uint32_t data = (uint32_t)n * 4, riff = data + 36;
	int16_t *pcm = malloc((size_t)n * 4);

	assert_non_null(pcm);
	memcpy(hdr + 4, &riff, 4);
	memcpy(hdr + 40, &data, 4);
	for (int i = 0; i < n; i++) {
		pcm[2 * i] = (int16_t)(12000 * sin(2 * M_PI * 440 * i / 48000.0));
		pcm[2 * i + 1] = (int16_t)(12000 * sin(2 * M_PI * 660 * i / 48000.0));
	}
	fd = temp_file("wav", path, sizeof(path));
	assert_int_equal(write(fd, hdr, 44), 44);
	assert_int_equal(write(fd, pcm, (size_t)n * 4), (ssize_t)n * 4);
	free(pcm);
	return fd;
}

/* An audio packet, copied out (the test calls only libav functions render links). */
struct apkt {
	int size;
	int64_t pts;
	uint8_t *data;
};

/* The audio stream's packets of a file, and their count. */
static int audio_packets(const char *path, struct apkt *pkts, int max)
{
	AVFormatContext *ic = NULL;
	AVPacket *p = av_packet_alloc();
	int n = 0, ast = -1;

	assert_int_equal(avformat_open_input(&ic, path, NULL, NULL), 0);
	for (unsigned i = 0; i < ic->nb_streams; i++)
		if (ic->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO)
			ast = (int)i;
	assert_true(ast >= 0);
	while (av_read_frame(ic, p) >= 0) {
		if (p->stream_index == ast && n < max) {
			pkts[n].size = p->size;
			pkts[n].pts = p->pts;
			pkts[n].data = malloc((size_t)p->size);
			assert_non_null(pkts[n].data);
			memcpy(pkts[n++].data, p->data, (size_t)p->size);
		}
		av_packet_unref(p);
	}
	av_packet_free(&p);
	avformat_close_input(&ic);
	return n;
}

/* The chunks carry their ranges of a WAV as PCM (render_chunk_audio); the join encodes
 * the whole track once: its packets are byte for byte those of the whole render's track
 * (render_audio_mux), so no gap, overlap or priming click sits at any border. */
static void audio_whole_vs_joined(const char *output, int container)
{
	struct render_spec spec = base_spec(output, "veryfast", 30000, 1001);
	char path[PATH_MAX], whole_path[PATH_MAX], joined_path[PATH_MAX], err[512];
	struct render_audio_result ares;
	struct render_result res;
	static struct apkt a[1024], b[1024];
	int wav = wav_fd(4.5), fds[4], first = 0, whole_v, whole_fd, joined_fd, na, nb;
	struct decoded d, dw;

	whole_v = encode(spec, 0, FRAMES, 0, path, sizeof(path));
	whole_fd = temp_file("awhole", whole_path, sizeof(whole_path));
	if (render_audio_mux(whole_v, wav, whole_fd, container, "a.wav", FRAMES, 30000, 1001, &ares,
			     err, sizeof(err)) < 0)
		fail_msg("render_audio_mux: %s", err);
	for (int k = 0; k < 4; k++) {
		int v = encode(spec, first, chunk_sizes[k], 1, path, sizeof(path));

		fds[k] = temp_file("achunk", path, sizeof(path));
		if (render_chunk_audio(v, wav, fds[k], "a.wav", first, chunk_sizes[k], 30000, 1001,
				       &ares, err, sizeof(err)) < 0)
			fail_msg("render_chunk_audio: %s", err);
		assert_string_equal(ares.codec, "pcm");
		assert_int_equal(ares.samples,
				 render_audio_samples(first + chunk_sizes[k], 30000, 1001) -
				     render_audio_samples(first, 30000, 1001));
		close(v);
		first += chunk_sizes[k];
	}
	joined_fd = temp_file("ajoined", joined_path, sizeof(joined_path));
	spec.output_fd = joined_fd;
	spec.use_output_fd = 1;
	spec.max_frames = FRAMES;
	if (render_join(fds, 4, &spec, &res, err, sizeof(err)) < 0)
		fail_msg("render_join with audio: %s", err);
	/* the video as the whole render's: the same frames, from the same first timestamp
	 * (WebM starts the video after Opus's priming, 7 ms in, in both) */
	decode_file(joined_path, &d);
	assert_exact_from(&d, 30000, 1001);
	decode_file(whole_path, &dw);
	assert_exact_from(&dw, 30000, 1001);
	assert_int_equal(d.pts[0], dw.pts[0]);
	na = audio_packets(whole_path, a, 1024);
	nb = audio_packets(joined_path, b, 1024);
	print_message("%s: whole track %d packets, joined %d\n", output, na, nb);
	assert_int_equal(na, nb);
	for (int i = 0; i < na; i++) {
		if (a[i].size != b[i].size || memcmp(a[i].data, b[i].data, (size_t)a[i].size) ||
		    a[i].pts != b[i].pts)
			fail_msg("audio packet %d differs (size %d vs %d, pts %lld vs %lld)", i,
				 a[i].size, b[i].size, (long long)a[i].pts, (long long)b[i].pts);
		free(a[i].data);
		free(b[i].data);
	}
	/* a chunk whose track is shorter than its frames: refused before anything is written */
	{
		int v = encode(spec, 0, 20, 1, path, sizeof(path)), shortc[2];

		shortc[0] = fds[0];
		shortc[1] = temp_file("ashort", path, sizeof(path));
		assert_int_equal(render_chunk_audio(v, wav, shortc[1], "a.wav", chunk_sizes[0], 10,
						    30000, 1001, &ares, err, sizeof(err)),
				 0);
		spec.max_frames = chunk_sizes[0] + 20;
		assert_refused(shortc, 2, spec, "audio samples, not the 32032 its frames span");
		close(v);
		close(shortc[1]);
	}
	/* a chunk without audio among chunks with: refused */
	{
		int mixed[2] = {fds[0], encode(spec, 0, 10, 1, path, sizeof(path))};
		spec.max_frames = chunk_sizes[0] + 10;
		assert_refused(mixed, 2, spec, "chunk 2 of 2 has no audio and chunk 1 has");
		close(mixed[1]);
	}
	for (int k = 0; k < 4; k++)
		close(fds[k]);
	close(wav);
	close(whole_v);
	close(whole_fd);
	close(joined_fd);
}

static void test_audio_in_chunks_joins_to_the_whole_renders_track(void **state)
{
	(void)state;
	audio_whole_vs_joined("x.mp4", RENDER_MP4);   /* AAC */
	audio_whole_vs_joined("x.webm", RENDER_WEBM); /* Opus */
}

/* A join that must fail: its sentence contains want, and nothing passes as a video. */
static void assert_refused(const int *fds, int n, struct render_spec spec, const char *want)
{
	char path[PATH_MAX], err[512] = "";
	struct render_result res;
	int out = temp_file("refused", path, sizeof(path)), ret;

	spec.output_fd = out;
	spec.use_output_fd = 1;
	ret = render_join(fds, n, &spec, &res, err, sizeof(err));
	print_message("refused: %s\n", err);
	assert_true(ret < 0);
	if (!strstr(err, want))
		fail_msg("expected \"%s\" in \"%s\"", want, err);
	assert_null(strchr(err, '\n'));
	close(out);
}

static void test_a_chunk_of_another_size_codec_or_settings_is_refused(void **state)
{
	struct render_spec spec = base_spec("x.mp4", "veryfast", 25, 1);
	struct render_spec small = base_spec("x.mp4", "veryfast", 25, 1);
	struct render_spec vp9 = base_spec("x.webm", "veryfast", 25, 1);
	struct render_spec other = base_spec("x.mp4", "ultrafast", 25, 1);
	char path[PATH_MAX];
	int fds[2];

	(void)state;
	spec.max_frames = 20;
	fds[0] = encode(spec, 0, 10, 1, path, sizeof(path));
	/* a chunk of another size: 3 of our frames' bytes are 12 frames of 64x32 */
	small.width = 64;
	small.height = 32;
	{
		struct render_result res;
		struct render *r = NULL;
		char err[512];
		int in = source_fd(0, 3), out = temp_file("small", path, sizeof(path));

		small.chunk = 1;
		small.max_frames = 10;
		small.output_fd = out;
		small.use_output_fd = 1;
		assert_int_equal(render_open(&small, &r, err, sizeof(err)), 0);
		assert_int_equal(render_stream(r, in, NULL, NULL, err, sizeof(err)), 0);
		assert_int_equal(render_finish(r, &res, err, sizeof(err)), 0);
		render_close(r);
		close(in);
		fds[1] = out;
	}
	assert_refused(fds, 2, spec, "chunk 2 of 2 is 64x32, not the job's 128x64");
	close(fds[1]);

	fds[1] = encode(vp9, 10, 10, 1, path, sizeof(path));
	assert_refused(fds, 2, spec, "chunk 2 of 2 holds vp9 video, not the job's h264");
	close(fds[1]);

	/* ultrafast has no CABAC and no B-frames: other parameter sets */
	fds[1] = encode(other, 10, 10, 1, path, sizeof(path));
	assert_refused(fds, 2, spec, "other codec parameters than chunk 1");
	close(fds[1]);
	close(fds[0]);
}

/* A copy of fd's first len bytes (all when len < 0) with byte flips at the offsets. */
static int damaged_copy(int fd, off_t len, const off_t *flips, int n_flips)
{
	char path[PATH_MAX];
	off_t size = lseek(fd, 0, SEEK_END);
	uint8_t *buf;
	int out = temp_file("damaged", path, sizeof(path));

	if (len < 0 || len > size)
		len = size;
	buf = malloc((size_t)size);
	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, (size_t)size, 0), size);
	for (int i = 0; i < n_flips; i++)
		if (flips[i] < len)
			buf[flips[i]] ^= 0xff;
	assert_int_equal(write(out, buf, (size_t)len), len);
	free(buf);
	return out;
}

static void test_truncated_corrupt_and_garbage_chunks_are_sentences(void **state)
{
	struct render_spec spec = base_spec("x.mp4", "veryfast", 25, 1);
	char path[PATH_MAX];
	off_t size;
	int fds[2], good;

	(void)state;
	spec.max_frames = 20;
	fds[0] = encode(spec, 0, 10, 1, path, sizeof(path));
	good = encode(spec, 10, 10, 1, path, sizeof(path));
	size = lseek(good, 0, SEEK_END);

	/* cut at half: fewer frames, or a frame missing, never a shorter video */
	fds[1] = damaged_copy(good, size / 2, NULL, 0);
	assert_refused(fds, 2, spec, "chunk");
	close(fds[1]);
	/* cut inside the header */
	fds[1] = damaged_copy(good, 40, NULL, 0);
	assert_refused(fds, 2, spec, "chunk 2 of 2");
	close(fds[1]);
	/* an empty file */
	fds[1] = damaged_copy(good, 0, NULL, 0);
	assert_refused(fds, 2, spec, "chunk 2 of 2");
	close(fds[1]);
	/* the EBML header's bytes flipped */
	fds[1] = damaged_copy(good, -1, (const off_t[]){0, 1, 2, 3, 5, 8}, 6);
	assert_refused(fds, 2, spec, "chunk 2 of 2 is not a readable Matroska chunk");
	close(fds[1]);
	/* garbage: every 7th byte past the header flipped; whatever libav makes of it is a
	 * sentence or a join that still holds exactly the job's frames, never a crash */
	{
		off_t flips[4096];
		int n = 0;
		char err[512], out_path[PATH_MAX];
		struct render_result res;
		int out = temp_file("garbage", out_path, sizeof(out_path)), ret;

		for (off_t o = 200; o < size && n < 4096; o += 7)
			flips[n++] = o;
		fds[1] = damaged_copy(good, -1, flips, n);
		spec.output_fd = out;
		spec.use_output_fd = 1;
		ret = render_join(fds, 2, &spec, &res, err, sizeof(err));
		print_message("garbage chunk: %d %s\n", ret, ret < 0 ? err : "joined");
		assert_true(ret < 0 ? strlen(err) > 0 : res.frames == 20);
		close(out);
		close(fds[1]);
		spec.output_fd = -1;
		spec.use_output_fd = 0;
	}
	/* a regular file that is not Matroska at all */
	{
		char junk[PATH_MAX];
		int j = temp_file("junk", junk, sizeof(junk));
		assert_int_equal(write(j, "RIFF\0\0\0\0WAVEfmt garbage", 24), 24);
		fds[1] = j;
		assert_refused(fds, 2, spec, "chunk 2 of 2 is not a readable Matroska chunk");
		close(j);
	}
	/* the chunks hold 20 frames; a job of 25 or 15 is refused */
	fds[1] = good;
	spec.max_frames = 25;
	assert_refused(fds, 2, spec, "hold 20 frames, not the job's 25");
	spec.max_frames = 15;
	assert_refused(fds, 2, spec, "past the job's 15 frames");
	/* H.264 chunks for a .webm job: the wrong codec */
	spec.max_frames = 20;
	spec.output = "x.webm";
	assert_refused(fds, 2, spec, "holds h264 video, not the job's vp9");
	close(good);
	close(fds[0]);
}

static void test_zero_chunks_and_too_many_are_refused(void **state)
{
	struct render_spec spec = base_spec("x.mp4", "veryfast", 25, 1);
	int fds[RENDER_JOIN_MAX_CHUNKS + 1];
	char path[PATH_MAX];

	(void)state;
	fds[0] = encode(spec, 0, 3, 1, path, sizeof(path));
	for (int i = 1; i <= RENDER_JOIN_MAX_CHUNKS; i++)
		fds[i] = fds[0];
	assert_refused(fds, 0, spec, "a join takes 1 to 64 chunks, not 0");
	assert_refused(fds, RENDER_JOIN_MAX_CHUNKS + 1, spec,
		       "a join takes 1 to 64 chunks, not 65");
	assert_refused(NULL, 3, spec, "a join takes 1 to 64 chunks");
	spec.output = "x.gif";
	assert_refused(fds, 1, spec, "not \"x.gif\"");
	close(fds[0]);
}

/* A chunk cannot be GIF or a still: it is a video range of a container that joins. */
static void test_a_chunk_of_a_gif_is_refused(void **state)
{
	struct render_spec spec = base_spec("x.gif", NULL, 10, 1);
	struct render *r = NULL;
	char err[512];

	(void)state;
	spec.chunk = 1;
	spec.output_fd = 0;
	spec.use_output_fd = 1;
	assert_int_equal(render_open(&spec, &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not .gif"));
}

/* ---- the join inside the encoder's box ------------------------------------------------ */

static struct sandbox *start_sandbox(void)
{
	static const char *const argv[] = {"/bin/sleep", "30", NULL};
	static const char *const envp[] = {"PATH=/usr/bin:/bin", NULL};
	struct sandbox_spec spec = {
	    .argv = argv,
	    .envp = envp,
	    .stdin_fd = -1,
	    .stdout_fd = -1,
	    .stderr_fd = -1,
	    .slot = 40 + getpid() % 20, /* apart from other suites running meanwhile */
	    .state_dir = dir,
	    .limits = {.timeout_ms = 30000, .memory_bytes = 64 << 20, .pids = 16},
	    .helper = {.enabled = 1, .memory_bytes = 256 << 20, .pids = 8, .cpus = 1},
	};
	struct sandbox *sb = NULL;
	char err[512];

	if (sandbox_start(&spec, &sb, err, sizeof(err)) < 0)
		fail_msg("sandbox_start: %s", err);
	return sb;
}

/* Read a job socket to the end: the RESULT, and how many PROGRESS came. A join says
 * no STREAM_END. */
static void read_job(int sock, int join, struct encoder_msg *result, int *progress)
{
	int got = 0, started = 0;

	*progress = 0;
	alarm(60);
	for (;;) {
		struct pollfd pf = {.fd = sock, .events = POLLIN};
		struct encoder_msg m;
		int fd, r;

		(void)poll(&pf, 1, 1000);
		r = encoder_read(sock, &m, &fd);
		if (r == 0)
			continue;
		if (r < 0)
			break;
		if (fd >= 0)
			close(fd);
		started |= m.type == ENCODER_STARTED;
		*progress += m.type == ENCODER_PROGRESS;
		if (join)
			assert_int_not_equal(m.type, ENCODER_STREAM_END);
		if (m.type == ENCODER_RESULT) {
			*result = m;
			got = 1;
		}
		if (m.type == ENCODER_EXITED) {
			if (!got)
				fail_msg("the child exited with status %#llx and no result",
					 (unsigned long long)m.value);
			break;
		}
	}
	alarm(0);
	assert_true(started);
	assert_true(got);
	close(sock);
}

/* Debian 12's libx265 (3.5) keeps some of its frame filter's buffers past
 * x265_encoder_close (nothing of ours; test_render says the same): LeakSanitizer, in
 * the sanitizer build, is told to look past them. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libx265.so\n";
}

/* Spawn a join and read it to the end. */
static void confined_join(struct sandbox *sb, const struct render_spec *spec, const int *fds, int n,
			  int out, struct encoder_msg *result, int *progress)
{
	struct sandbox_helper_ticket t;
	char err[512];
	int sock;

	assert_int_equal(sandbox_helper_ticket(sb, &t, err, sizeof(err)), 0);
	sock = encoder_spawn_join(spec, fds, n, out, &t, err, sizeof(err));
	if (sock < 0)
		fail_msg("encoder_spawn_join: %s", err);
	sandbox_helper_ticket_close(&t);
	read_job(sock, 1, result, progress);
}

/* A chunk rendered by a confined encoder child (encoder_spawn with spec.chunk), as the
 * worker makes them: its file's descriptor. With wav >= 0 the child is handed that audio
 * file as a job's (encoder_send_audio) and the chunk carries its range as PCM. */
static int confined_chunk(struct sandbox *sb, struct render_spec spec, int first, int count,
			  int wav)
{
	struct sandbox_helper_ticket t;
	struct encoder_msg m;
	char err[512], path[PATH_MAX];
	int in = source_fd(first, count), out = temp_file("cchunk", path, sizeof(path)), sock,
	    progress, aout = -1;

	spec.chunk = 1;
	spec.chunk_first_frame = first;
	spec.max_frames = count;
	if (wav >= 0) {
		aout = temp_file("cchunk-audio", path, sizeof(path));
		spec.use_audio = 1;
		spec.audio_out_fd = aout;
		spec.audio_name = "a.wav";
		spec.audio_wait_s = 30;
	}
	assert_int_equal(sandbox_helper_ticket(sb, &t, err, sizeof(err)), 0);
	sock = encoder_spawn(&spec, in, out, &t, err, sizeof(err));
	if (sock < 0)
		fail_msg("encoder_spawn (chunk): %s", err);
	sandbox_helper_ticket_close(&t);
	close(in);
	if (wav >= 0)
		assert_int_equal(encoder_send_audio(sock, wav), 0);
	read_job(sock, 0, &m, &progress);
	if (m.rc != 0)
		fail_msg("confined chunk: %s", m.err);
	assert_int_equal(m.frames, count);
	assert_int_equal(m.poster_bytes, 0);
	if (wav >= 0) {
		assert_string_equal(m.audio_codec, "pcm");
		assert_int_equal(m.audio_samples,
				 render_audio_samples(first + count, spec.fps_num, spec.fps_den) -
				     render_audio_samples(first, spec.fps_num, spec.fps_den));
		close(out);
		out = aout;
	}
	{ /* Matroska's EBML magic, whatever the output's extension */
		uint8_t magic[4];
		assert_int_equal(pread(out, magic, 4, 0), 4);
		assert_memory_equal(magic, "\x1a\x45\xdf\xa3", 4);
	}
	return out;
}

/* One confined join of 4 chunks of output (codec: NULL for the container's): frames,
 * bytes, poster and progress in the RESULT, the file exact when decoded. */
static void confined_whole_join(struct sandbox *sb, const char *output, const char *codec,
				int **keep_fds)
{
	struct render_spec spec = base_spec(output, "veryfast", 30000, 1001);
	char path[PATH_MAX], joined[PATH_MAX], poster[PATH_MAX];
	static int fds[4];
	struct encoder_msg m;
	struct decoded d;
	int first = 0, out, pfd, progress;

	spec.codec = codec;
	for (int k = 0; k < 4; k++) {
		/* the H.264 chunks as the worker makes them, in the box; the rest here */
		fds[k] = codec || strcmp(output, "x.mp4")
			     ? encode(spec, first, chunk_sizes[k], 1, path, sizeof(path))
			     : confined_chunk(sb, spec, first, chunk_sizes[k], -1);
		first += chunk_sizes[k];
	}
	out = temp_file("confined", joined, sizeof(joined));
	pfd = temp_file("cposter", poster, sizeof(poster));
	spec.max_frames = FRAMES;
	spec.poster_fd = pfd;
	spec.use_poster_fd = 1;
	confined_join(sb, &spec, fds, 4, out, &m, &progress);
	if (m.rc != 0)
		fail_msg("confined join of %s %s: %s", output, codec ? codec : "", m.err);
	print_message("confined join of %s %s: %lld frames, %llu bytes, poster frame %lld "
		      "(%llu bytes), %d progress records\n",
		      output, codec ? codec : "", (long long)m.frames, (unsigned long long)m.bytes,
		      (long long)m.poster_frame, (unsigned long long)m.poster_bytes, progress);
	assert_int_equal(m.frames, FRAMES);
	assert_int_equal((off_t)m.bytes, lseek(out, 0, SEEK_END));
	assert_true(m.poster_bytes > 0);
	assert_int_equal((off_t)m.poster_bytes, lseek(pfd, 0, SEEK_END));
	assert_true(m.poster_frame >= 0);
	assert_true(progress >= 1);
	decode_file(joined, &d);
	assert_exact(&d, 30000, 1001);
	close(out);
	close(pfd);
	if (keep_fds) {
		*keep_fds = fds;
		return;
	}
	for (int k = 0; k < 4; k++)
		close(fds[k]);
}

static void test_the_join_runs_inside_the_encoders_box(void **state)
{
	struct render_spec spec = base_spec("x.mp4", "veryfast", 30000, 1001);
	char path[PATH_MAX], err[512];
	struct sandbox *sb;
	struct encoder_msg m;
	int *fds, out, progress;

	(void)state;
	if (geteuid() != 0) {
		print_message("the confined join needs root (helper ids and cgroups); skipped\n");
		return;
	}
	sb = start_sandbox();
	/* every decoder the poster may need, under the encoder's seccomp filter */
	confined_whole_join(sb, "x.webm", NULL, NULL);
	confined_whole_join(sb, "x.mov", NULL, NULL);
	if (render_codec_available(RENDER_CODEC_AV1, err, sizeof(err)) == 0)
		confined_whole_join(sb, "x.mp4", "av1", NULL);
	if (render_codec_available(RENDER_CODEC_HEVC, err, sizeof(err)) == 0)
		confined_whole_join(sb, "x.mp4", "hevc", NULL);
	confined_whole_join(sb, "x.mp4", NULL, &fds);

	/* a bad chunk inside the box: a sentence in the RESULT, the child exits */
	out = temp_file("confined-bad", path, sizeof(path));
	spec.max_frames = FRAMES;
	{
		int bad[2] = {fds[0], -1};
		bad[1] = damaged_copy(fds[1], 100, NULL, 0);
		confined_join(sb, &spec, bad, 2, out, &m, &progress);
		assert_true(m.rc < 0);
		print_message("confined bad chunk: %s\n", m.err);
		assert_non_null(strstr(m.err, "chunk 2 of 2"));
		close(bad[1]);
	}
	{
		struct sandbox_helper_ticket t;
		assert_int_equal(sandbox_helper_ticket(sb, &t, err, sizeof(err)), 0);
		assert_int_equal(encoder_spawn_join(&spec, fds, RENDER_JOIN_MAX_CHUNKS + 1, out, &t,
						    err, sizeof(err)),
				 -EINVAL);
		assert_non_null(strstr(err, "not 65"));
		sandbox_helper_ticket_close(&t);
	}
	/* chunks with audio made in the box, joined in the box: the track is the whole
	 * render's, byte for byte */
	{
		struct render_audio_result ares;
		static struct apkt a[1024], b[1024];
		char wpath[PATH_MAX], jpath[PATH_MAX];
		int wav = wav_fd(4.5), afds[4], first = 0, whole_v, whole_a, jfd, na, nb;

		spec = base_spec("x.mp4", "veryfast", 30000, 1001);
		for (int k = 0; k < 4; k++) {
			afds[k] = confined_chunk(sb, spec, first, chunk_sizes[k], wav);
			first += chunk_sizes[k];
		}
		jfd = temp_file("cjoined-audio", jpath, sizeof(jpath));
		spec.max_frames = FRAMES;
		confined_join(sb, &spec, afds, 4, jfd, &m, &progress);
		if (m.rc != 0)
			fail_msg("confined join with audio: %s", m.err);
		assert_string_equal(m.audio_codec, "aac");
		assert_int_equal(m.audio_samples, render_audio_samples(FRAMES, 30000, 1001));
		whole_v = encode(spec, 0, FRAMES, 0, path, sizeof(path));
		whole_a = temp_file("cwhole-audio", wpath, sizeof(wpath));
		assert_int_equal(render_audio_mux(whole_v, wav, whole_a, RENDER_MP4, "a.wav",
						  FRAMES, 30000, 1001, &ares, err, sizeof(err)),
				 0);
		na = audio_packets(wpath, a, 1024);
		nb = audio_packets(jpath, b, 1024);
		print_message("confined join with audio: %d packets, whole %d\n", nb, na);
		assert_int_equal(na, nb);
		for (int i = 0; i < na; i++) {
			assert_int_equal(a[i].size, b[i].size);
			assert_memory_equal(a[i].data, b[i].data, (size_t)a[i].size);
			free(a[i].data);
			free(b[i].data);
		}
		for (int k = 0; k < 4; k++)
			close(afds[k]);
		close(wav);
		close(whole_v);
		close(whole_a);
		close(jfd);
	}
	sandbox_destroy(sb);
	for (int k = 0; k < 4; k++)
		close(fds[k]);
	close(out);
}

static int setup(void **state)
{
	char err[512];

	(void)state;
	if (render_libav_load(err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	render_quiet_logs(0);
	/* The encoder server is reelbox re-executed, never this test binary. */
	encoder_set_program(th_reelbox_bin());
	dir = th_tmpdir("join");
	return dir ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	if (getenv("REELBOX_KEEP_TEST_DIR"))
		fprintf(stderr, "kept %s\n", dir);
	else
		th_rm_rf(dir);
	free(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    /* first: a sandbox started after SVT-AV1 ran in this process cannot attach its
	     * cgroup (SVT's threads stay behind); the worker never runs an encoder itself */
	    cmocka_unit_test(test_the_join_runs_inside_the_encoders_box),
	    cmocka_unit_test(test_mp4_h264_joined_equals_whole),
	    cmocka_unit_test(test_mp4_h264_joined_equals_whole_at_30000_and_120000_over_1001),
	    cmocka_unit_test(test_webm_vp9_joined_equals_whole),
	    cmocka_unit_test(test_mov_prores_joined_equals_whole),
	    cmocka_unit_test(test_hevc_and_av1_joined_equal_whole_where_available),
	    cmocka_unit_test(test_webm_vp9_alpha_survives_the_join),
	    cmocka_unit_test(test_audio_in_chunks_joins_to_the_whole_renders_track),
	    cmocka_unit_test(test_a_chunk_of_another_size_codec_or_settings_is_refused),
	    cmocka_unit_test(test_truncated_corrupt_and_garbage_chunks_are_sentences),
	    cmocka_unit_test(test_zero_chunks_and_too_many_are_refused),
	    cmocka_unit_test(test_a_chunk_of_a_gif_is_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
