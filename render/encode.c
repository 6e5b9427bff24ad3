/* encode.c - encode a frame stream into MP4 (x264, x265, AV1), WebM (VP9, AV1), GIF or
 * MOV (ProRes 4444).
 *
 * The shape is FFmpeg's doc/examples encode_video.c and mux.c: one encoder, one
 * stream, a send-frame / receive-packet loop, a NULL frame to flush, and
 * av_interleaved_write_frame. GIF goes through a small filter graph first so every
 * frame gets its own palette. The file is written beside the target under a hidden
 * temporary name and only renamed into place by render_commit().
 */
#define _GNU_SOURCE
#include "avload.h"
#include "checks.h"
#include "fdio.h"
#include "poster.h"
#include "sheet.h"
#include "render.h"
#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavformat/avformat.h>
#include <libavutil/dict.h>
#include <libavutil/imgutils.h>
#include <libavutil/mem.h>
#include <libavutil/opt.h>
#include <libavutil/sha.h>
#include <libswscale/swscale.h>

struct render {
	struct render_spec spec; /* its strings point at output or at static names */
	enum render_container container;
	enum render_codec codec; /* never DEFAULT once opened (render_codec_for) */
	int alpha_dropped;	 /* an rgba stream into a codec without alpha ... */
	int alpha_used;		 /* ... that made a pixel less than opaque: a warning */
	char *output, *tmp_path;
	int tmp_fd;
	int stop_fd; /* see render_set_stop_fd() */
	int fd_mode; /* tmp_fd is the caller's (spec->output_fd): not closed, not renamed */
	atomic_int cancel;
	int streamed, finished, committed;

	AVFormatContext *oc;
	AVStream *st;
	AVCodecContext *enc;
	AVPacket *pkt;
	AVFrame *in;	/* the reader's frame, referenced, never copied */
	AVFrame *frame; /* the converted frame: encoder input, or the graph's for GIF */
	enum AVPixelFormat conv_fmt;
	struct SwsContext *sws;

	AVFilterGraph *graph;
	AVFilterContext *src, *sink;
	AVFrame *filt;

	struct render_reader rd;
	int reader_open;
	int64_t frames;
	int hit_ceiling;
	int refused; /* a certain finding of the checks stopped the encode */
	int cut;     /* reading stopped with the writer maybe still writing */
	struct render_checks checks;
	int checking;
	struct timespec t0;
	uint64_t first_frame_ms;
	struct poster *poster; /* poster.c; NULL when the spec asks for none */
	struct sheet *sheet;   /* sheet.c; likewise */
};

static const char *const presets[] = {"ultrafast", "superfast", "veryfast", "faster",	"fast",
				      "medium",	   "slow",	"slower",   "veryslow", "placebo"};

static const char *const container_names[] = {
    [RENDER_MP4] = "mp4", [RENDER_WEBM] = "webm", [RENDER_GIF] = "gif", [RENDER_MOV] = "mov"};
static const int crf_max[] = {
    [RENDER_MP4] = 51, [RENDER_WEBM] = 63, [RENDER_GIF] = 63, [RENDER_MOV] = 63};

/* Codecs by name, their crf range (0: none, crf is ignored) and the libavcodec encoders
 * that make them, the preferred first: the first one this libavcodec has is used. */
static const struct {
	const char *name;
	int crf_max;
	const char *encoders[3];
} codecs[] = {
    [RENDER_CODEC_DEFAULT] = {"", 0, {NULL}},
    [RENDER_CODEC_H264] = {"h264", 51, {"libx264"}},
    [RENDER_CODEC_HEVC] = {"hevc", 51, {"libx265"}},
    [RENDER_CODEC_VP9] = {"vp9", 63, {"libvpx-vp9"}},
    [RENDER_CODEC_AV1] = {"av1", 63, {"libsvtav1", "libaom-av1", "librav1e"}},
    [RENDER_CODEC_PRORES] = {"prores", 0, {"prores_ks"}},
    [RENDER_CODEC_GIF] = {"gif", 0, {"gif"}},
};
#define N_CODECS ((int)(sizeof(codecs) / sizeof(codecs[0])))

/* Which codecs each container takes, its own first. */
static const enum render_codec container_codecs[][4] = {
    [RENDER_MP4] = {RENDER_CODEC_H264, RENDER_CODEC_HEVC, RENDER_CODEC_AV1},
    [RENDER_WEBM] = {RENDER_CODEC_VP9, RENDER_CODEC_AV1},
    [RENDER_GIF] = {RENDER_CODEC_GIF},
    [RENDER_MOV] = {RENDER_CODEC_PRORES},
};

int render_codec_from_name(const char *name)
{
	if (!name || !*name)
		return RENDER_CODEC_DEFAULT;
	for (int i = 1; i < N_CODECS; i++)
		if (!strcmp(codecs[i].name, name))
			return i;
	return -EINVAL;
}

int render_codec_for(int container, int codec, char *err, size_t errlen)
{
	const enum render_codec *list;
	char names[64] = "";

	if (container < 0 || container > RENDER_MOV || codec < 0 || codec >= N_CODECS)
		return -EINVAL;
	list = container_codecs[container];
	if (codec == RENDER_CODEC_DEFAULT)
		return list[0];
	for (int i = 0; i < 4 && list[i]; i++) {
		if ((int)list[i] == codec)
			return codec;
		snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
			 i ? ", " : "", codecs[list[i]].name);
	}
	snprintf(err, errlen, "codec %s cannot go in .%s; .%s takes %s", codecs[codec].name,
		 container_names[container], container_names[container], names);
	return -EINVAL;
}

/* The first encoder this libavcodec has for codec, or NULL. */
static const AVCodec *codec_encoder(int codec)
{
	const AVCodec *c = NULL;

	for (int i = 0; i < 3 && !c && codecs[codec].encoders[i]; i++)
		c = avcodec_find_encoder_by_name(codecs[codec].encoders[i]);
	return c;
}

int render_codec_available(int codec, char *err, size_t errlen)
{
	int ret;

	if (codec <= RENDER_CODEC_DEFAULT || codec >= N_CODECS)
		return -EINVAL;
	if ((ret = render_libav_load(err, errlen)) < 0)
		return ret;
	if (codec_encoder(codec))
		return 0;
	snprintf(err, errlen,
		 "codec %s is not available here: this libavcodec has no %s%s%s%s%s encoder",
		 codecs[codec].name, codecs[codec].encoders[0],
		 codecs[codec].encoders[1] ? ", " : "",
		 codecs[codec].encoders[1] ? codecs[codec].encoders[1] : "",
		 codecs[codec].encoders[2] ? " or " : "",
		 codecs[codec].encoders[2] ? codecs[codec].encoders[2] : "");
	return -ENOSYS;
}

int render_codec_crf_max(int codec)
{
	return codec > 0 && codec < N_CODECS ? codecs[codec].crf_max : 0;
}

int render_keeps_alpha(int container, int codec)
{
	return (container == RENDER_WEBM && codec == RENDER_CODEC_VP9) ||
	       (container == RENDER_MOV && codec == RENDER_CODEC_PRORES);
}

/* The stream's exact rate: fps_num/fps_den, or fps/1 for callers that set only fps. */
static AVRational spec_rate(const struct render_spec *spec)
{
	return spec->fps_num > 0 ? (AVRational){spec->fps_num, spec->fps_den}
				 : (AVRational){spec->fps, 1};
}

int render_preset_known(const char *preset)
{
	if (!preset)
		return 0;
	for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++)
		if (!strcmp(presets[i], preset))
			return 1;
	return 0;
}

const char *render_preset_name(int i)
{
	if (i < 0 || (size_t)i >= sizeof(presets) / sizeof(presets[0]))
		return NULL;
	return presets[i];
}

int render_container_from_name(const char *name)
{
	for (size_t i = 0; name && i < sizeof(container_names) / sizeof(container_names[0]); i++)
		if (!strcmp(container_names[i], name))
			return (int)i;
	return -EINVAL;
}

int render_crf_max(int container)
{
	if (container < 0 || (size_t)container >= sizeof(crf_max) / sizeof(crf_max[0]))
		return -EINVAL;
	return crf_max[container];
}

int render_needs_even_size(int container)
{
	return container != RENDER_GIF;
}

int render_container_from_path(const char *path)
{
	const char *dot = path ? strrchr(path, '.') : NULL;

	if (!dot || strchr(dot, '/'))
		return -EINVAL;
	for (size_t i = 0; i < sizeof(container_names) / sizeof(container_names[0]); i++)
		if (!strcasecmp(dot + 1, container_names[i]))
			return (int)i;
	return -EINVAL;
}

static uint64_t ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)(now.tv_sec - t0->tv_sec) * 1000 +
	       (uint64_t)((now.tv_nsec - t0->tv_nsec) / 1000000);
}

/* Say what libav reported and map it to an errno: errno-style codes pass through,
 * "not found" and invalid-data tags become -EINVAL, anything else -EIO. */
int av_fail(int averr, const char *what, char *err, size_t errlen)
{
	char buf[AV_ERROR_MAX_STRING_SIZE];

	av_strerror(averr, buf, sizeof(buf));
	snprintf(err, errlen, "%s: %s", what, buf);
	if (averr < 0 && averr > -4096)
		return averr;
	switch (averr) {
	case AVERROR_INVALIDDATA:
	case AVERROR_ENCODER_NOT_FOUND:
	case AVERROR_MUXER_NOT_FOUND:
	case AVERROR_FILTER_NOT_FOUND:
	case AVERROR_OPTION_NOT_FOUND:
		return -EINVAL;
	default:
		return -EIO;
	}
}

/* The temporary file: ".<name>.tmp-XXXXXX" in the target's directory, so the final
 * rename never crosses a file system. mkostemp gives O_EXCL; the mode is then the
 * 0644 a finished video should have. */
int render_output_temp(const char *output, char **tmp_path, char *err, size_t errlen)
{
	const char *slash = strrchr(output, '/');
	const char *base = slash ? slash + 1 : output;
	int dirlen = slash ? (int)(slash - output) + 1 : 0;
	int fd;

	*tmp_path = NULL;
	if (!*base) {
		snprintf(err, errlen, "output path \"%s\" names a directory, not a file", output);
		return -EINVAL;
	}
	if (asprintf(tmp_path, "%.*s.%.200s.tmp-XXXXXX", dirlen, output, base) < 0) {
		*tmp_path = NULL;
		return -ENOMEM;
	}
	fd = mkostemp(*tmp_path, O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT && dirlen > 0)
			snprintf(err, errlen, "output directory '%.*s' does not exist",
				 dirlen > 1 ? dirlen - 1 : dirlen, output);
		else
			snprintf(err, errlen, "cannot create a temporary file beside %s: %s",
				 output, strerror(e));
		free(*tmp_path);
		*tmp_path = NULL;
		return -e;
	}
	if (fchmod(fd, 0644) < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot set the mode of %s: %s", *tmp_path, strerror(e));
		close(fd);
		unlink(*tmp_path);
		free(*tmp_path);
		*tmp_path = NULL;
		return -e;
	}
	return fd;
}

static int make_temp(struct render *r, char *err, size_t errlen)
{
	int fd = render_output_temp(r->output, &r->tmp_path, err, errlen);

	if (fd < 0)
		return fd;
	r->tmp_fd = fd;
	return 0;
}

/* Output through a descriptor: libav's AVIO on our own write/seek (and, for the MP4
 * faststart pass, read) callbacks over one file, so the encoder needs no open(). */
struct fd_io {
	int fd;
	int64_t pos;
};

static int fd_io_read(void *opaque, uint8_t *buf, int size)
{
	struct fd_io *io = opaque;
	ssize_t n;

	do
		n = pread(io->fd, buf, (size_t)size, io->pos);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return AVERROR(errno);
	if (n == 0)
		return AVERROR_EOF;
	io->pos += n;
	return (int)n;
}

static int fd_io_write(void *opaque, uint8_t *buf, int size)
{
	struct fd_io *io = opaque;
	int done = 0;

	while (done < size) {
		ssize_t n = pwrite(io->fd, buf + done, (size_t)(size - done), io->pos);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return AVERROR(errno);
		if (n == 0)
			return AVERROR(EIO);
		done += (int)n;
		io->pos += n;
	}
	return size;
}

/* The file's size by lseek, not fstat: a confined encoder has no stat at all. All
 * reads and writes are positioned, so the descriptor's own offset does not matter. */
static int64_t fd_size(int fd)
{
	off_t end = lseek(fd, 0, SEEK_END);

	return end < 0 ? AVERROR(errno) : (int64_t)end;
}

static int64_t fd_io_seek(void *opaque, int64_t offset, int whence)
{
	struct fd_io *io = opaque;
	int64_t size;

	switch (whence & ~AVSEEK_FORCE) {
	case AVSEEK_SIZE:
		return fd_size(io->fd);
	case SEEK_SET:
		break;
	case SEEK_CUR:
		offset += io->pos;
		break;
	case SEEK_END:
		if ((size = fd_size(io->fd)) < 0)
			return size;
		offset += size;
		break;
	default:
		return AVERROR(EINVAL);
	}
	if (offset < 0)
		return AVERROR(EINVAL);
	io->pos = offset;
	return offset;
}

AVIOContext *fd_io_open(int fd, int write)
{
	const int size = 1 << 16;
	struct fd_io *io = av_mallocz(sizeof(*io));
	uint8_t *buf = av_malloc(size);
	AVIOContext *pb = NULL;

	if (io && buf)
		pb = avio_alloc_context(buf, size, write, io, write ? NULL : fd_io_read,
					write ? fd_io_write : NULL, fd_io_seek);
	if (!pb) {
		av_free(io);
		av_free(buf);
		return NULL;
	}
	io->fd = fd;
	pb->seekable = AVIO_SEEKABLE_NORMAL;
	return pb;
}

void fd_io_free(AVIOContext **pb)
{
	if (!*pb)
		return;
	av_freep(&(*pb)->opaque);
	av_freep(&(*pb)->buffer);
	avio_context_free(pb);
}

/* The muxer reopens its output by name for the faststart pass (mov's shift_data):
 * hand it a reading context over the same descriptor instead. */
int fd_io_reopen(AVFormatContext *s, AVIOContext **pb, const char *url, int flags,
		 AVDictionary **options)
{
	const struct fd_io *out = s->pb ? s->pb->opaque : NULL;

	if (!out || (flags & AVIO_FLAG_WRITE))
		return AVERROR(EPERM);
	*pb = fd_io_open(out->fd, 0);
	return *pb ? 0 : AVERROR(ENOMEM);
}

int fd_io_close2(AVFormatContext *s, AVIOContext *pb)
{
	fd_io_free(&pb);
	return 0;
}

/* x264 preset names mapped to libvpx's deadline and cpu-used: the two fastest run
 * in realtime mode, the rest in "good" from cpu-used 5 down to 0. */
static void vp9_speed(const char *preset, const char **deadline, const char **cpu_used)
{
	static const char *const cpu[] = {"8", "7", "5", "4", "3", "2", "1", "0", "0", "0"};
	size_t i;

	for (i = 0; i < sizeof(presets) / sizeof(presets[0]); i++)
		if (!strcmp(presets[i], preset))
			break;
	if (i == sizeof(presets) / sizeof(presets[0]))
		i = 5;
	*deadline = i < 2 ? "realtime" : "good";
	*cpu_used = cpu[i];
}

/* split/palettegen/paletteuse with a palette per frame: palettegen in single mode
 * emits one palette per input frame, so the graph streams instead of buffering. */
static int open_gif_graph(struct render *r, char *err, size_t errlen)
{
	static const enum AVPixelFormat out_fmts[] = {AV_PIX_FMT_PAL8, AV_PIX_FMT_NONE};
	static const char *desc =
	    "[in]split[a][b];[a]palettegen=stats_mode=single[p];[b][p]paletteuse=new=1[out]";
	AVFilterInOut *outputs = avfilter_inout_alloc();
	AVFilterInOut *inputs = avfilter_inout_alloc();
	char args[256];
	int ret = AVERROR(ENOMEM);

	r->graph = avfilter_graph_alloc();
	if (!outputs || !inputs || !r->graph)
		goto end;
	snprintf(args, sizeof(args), "video_size=%dx%d:pix_fmt=%d:time_base=%d/%d:pixel_aspect=1/1",
		 r->spec.width, r->spec.height, r->conv_fmt, spec_rate(&r->spec).den,
		 spec_rate(&r->spec).num);
	ret = avfilter_graph_create_filter(&r->src, avfilter_get_by_name("buffer"), "in", args,
					   NULL, r->graph);
	if (ret < 0)
		goto end;
	ret = avfilter_graph_create_filter(&r->sink, avfilter_get_by_name("buffersink"), "out",
					   NULL, NULL, r->graph);
	if (ret < 0)
		goto end;
	ret = av_opt_set_int_list(r->sink, "pix_fmts", out_fmts, AV_PIX_FMT_NONE,
				  AV_OPT_SEARCH_CHILDREN);
	if (ret < 0)
		goto end;
	outputs->name = av_strdup("in");
	outputs->filter_ctx = r->src;
	inputs->name = av_strdup("out");
	inputs->filter_ctx = r->sink;
	ret = avfilter_graph_parse_ptr(r->graph, desc, &inputs, &outputs, NULL);
	if (ret < 0)
		goto end;
	ret = avfilter_graph_config(r->graph, NULL);
end:
	avfilter_inout_free(&inputs);
	avfilter_inout_free(&outputs);
	return ret < 0 ? av_fail(ret, "cannot build the GIF palette filter", err, errlen) : 0;
}

/* The x264 preset name's place in presets[] (medium when unknown). */
static size_t preset_index(const char *preset)
{
	size_t i;

	for (i = 0; i < sizeof(presets) / sizeof(presets[0]); i++)
		if (!strcmp(presets[i], preset))
			return i;
	return 5;
}

/* The encoder's options for its codec: crf and a speed from the x264 preset name. */
static void codec_options(struct render *r, AVDictionary **opts)
{
	/* SVT-AV1's presets 0 (slowest) .. 13, from ultrafast .. placebo. */
	static const char *const svt[] = {"12", "11", "10", "9", "8", "7", "6", "5", "4", "3"};
	static const char *const aom[] = {"8", "7", "6", "6", "5", "4", "3", "2", "1", "0"};
	const char *preset = r->spec.preset ? r->spec.preset : "medium";
	const char *name = r->enc->codec->name;
	char crf[16];

	snprintf(crf, sizeof(crf), "%d", r->spec.crf);
	switch (r->codec) {
	case RENDER_CODEC_H264:
	case RENDER_CODEC_HEVC:
		av_dict_set(opts, "crf",
			    r->spec.crf >= 0		    ? crf
			    : r->codec == RENDER_CODEC_H264 ? "23"
							    : "28",
			    0);
		av_dict_set(opts, "preset", preset, 0);
		if (r->codec == RENDER_CODEC_HEVC)
			av_dict_set(opts, "x265-params", "log-level=error", 0);
		break;
	case RENDER_CODEC_VP9: {
		const char *deadline, *cpu_used;
		vp9_speed(preset, &deadline, &cpu_used);
		r->enc->bit_rate = 0;
		av_dict_set(opts, "crf", r->spec.crf >= 0 ? crf : "32", 0);
		av_dict_set(opts, "b", "0", 0);
		av_dict_set(opts, "deadline", deadline, 0);
		av_dict_set(opts, "cpu-used", cpu_used, 0);
		av_dict_set(opts, "row-mt", "1", 0);
		break;
	}
	case RENDER_CODEC_AV1:
		if (!strcmp(name, "libsvtav1")) {
			av_dict_set(opts, "crf", r->spec.crf >= 0 ? crf : "35", 0);
			av_dict_set(opts, "preset", svt[preset_index(preset)], 0);
			/* SVT-AV1 starts ~19 threads at lp=1 and ~87 at lp=2, whatever the
			 * host's cores: lp stays at most 2 so the encoder's pids limit holds
			 * (a failed thread start deadlocks SVT-AV1 instead of failing). */
			av_dict_set(opts, "svtav1-params", r->spec.threads == 1 ? "lp=1" : "lp=2",
				    0);
		} else if (!strcmp(name, "libaom-av1")) {
			r->enc->bit_rate = 0;
			av_dict_set(opts, "crf", r->spec.crf >= 0 ? crf : "35", 0);
			av_dict_set(opts, "cpu-used", aom[preset_index(preset)], 0);
			av_dict_set(opts, "row-mt", "1", 0);
		}
		break;
	case RENDER_CODEC_PRORES:
		av_dict_set(opts, "profile", "4444", 0);
		av_dict_set(opts, "vendor", "apl0", 0);
		break;
	default:
		break;
	}
}

static int open_encoder(struct render *r, char *err, size_t errlen)
{
	const AVCodec *codec = codec_encoder(r->codec);
	AVRational rate = spec_rate(&r->spec);
	AVDictionary *opts = NULL;
	int ret;

	if (!codec)
		return render_codec_available(r->codec, err, errlen) < 0 ? -ENOSYS : -EINVAL;
	r->enc = avcodec_alloc_context3(codec);
	if (!r->enc)
		return -ENOMEM;
	r->enc->width = r->spec.width;
	r->enc->height = r->spec.height;
	/* One tick a frame: frame N has pts N, N*1001/30000 s at 30000/1001. */
	r->enc->time_base = av_inv_q(rate);
	r->enc->framerate = rate;
	r->enc->thread_count = r->spec.threads;
	r->enc->pix_fmt = r->conv_fmt;
	codec_options(r, &opts);
	if (r->codec == RENDER_CODEC_GIF) {
		/* The palette graph takes conv_fmt and gives the encoder PAL8. */
		r->enc->pix_fmt = AV_PIX_FMT_PAL8;
		r->enc->time_base = av_buffersink_get_time_base(r->sink);
	}
	if (r->oc->oformat->flags & AVFMT_GLOBALHEADER)
		r->enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
	ret = avcodec_open2(r->enc, codec, &opts);
	av_dict_free(&opts);
	if (ret < 0)
		return av_fail(ret, "cannot open the video encoder", err, errlen);

	r->st = avformat_new_stream(r->oc, NULL);
	if (!r->st)
		return -ENOMEM;
	r->st->time_base = r->enc->time_base;
	r->st->avg_frame_rate = r->enc->framerate;
	r->st->r_frame_rate = r->enc->framerate;
	ret = avcodec_parameters_from_context(r->st->codecpar, r->enc);
	if (ret < 0)
		return av_fail(ret, "cannot copy the encoder parameters", err, errlen);
	/* hvc1, not hev1: the tag Apple's players (and browsers on their systems) need. */
	if (r->codec == RENDER_CODEC_HEVC && !r->spec.chunk)
		r->st->codecpar->codec_tag = MKTAG('h', 'v', 'c', '1');
	return 0;
}

/* 64 MiB plus bytes per pixel an encode holds at its peak, per preset (ultrafast..
 * placebo): the encoder cgroup's memory peak on 360p and 1080p noise (the worst case:
 * nothing compresses), 90 frames so every look-ahead fills, plus about 15%. x264 grows
 * with its look-ahead, reference frames and b-frames; libvpx and the GIF palette graph
 * barely with the preset. docs/capacity.md has the measurements. */
#define HEVC_BPP   260 /* libx265 medium: 460 MB peak RSS on 1080p noise, plus 15% */
#define AV1_BPP	   330 /* libsvtav1 preset 8, lp=2: 563 MB on 1080p noise, plus 15% */
#define PRORES_BPP 100 /* prores_ks 4444 with alpha: 212 MB on 1080p noise */
uint64_t render_memory_estimate(const struct render_spec *spec)
{
	static const uint16_t x264_bpp[] = {36, 85, 112, 150, 190, 215, 260, 325, 400, 530};
	const char *preset = spec->preset ? spec->preset : "medium";
	int container = render_container_from_path(spec->output);
	uint64_t pixels = (uint64_t)(spec->width > 0 ? spec->width : 1) *
			  (uint64_t)(spec->height > 0 ? spec->height : 1);
	size_t i;
	unsigned bpp;

	for (i = 0; i < sizeof(presets) / sizeof(presets[0]); i++)
		if (!strcmp(presets[i], preset))
			break;
	if (i == sizeof(presets) / sizeof(presets[0]))
		i = 5;
	switch (render_codec_for(container, render_codec_from_name(spec->codec), NULL, 0)) {
	case RENDER_CODEC_VP9:
		bpp = 150;
		break;
	case RENDER_CODEC_GIF:
		bpp = 100;
		break;
	case RENDER_CODEC_PRORES:
		bpp = PRORES_BPP;
		break;
	case RENDER_CODEC_HEVC:
		bpp = HEVC_BPP;
		break;
	case RENDER_CODEC_AV1:
		bpp = AV1_BPP;
		break;
	default:
		bpp = x264_bpp[i];
		break;
	}
	return (64ull << 20) + pixels * bpp;
}

/* The rate: whole and positive both ways, from 1 to 1000 frames a second. */
static int check_rate(const struct render_spec *spec, char *err, size_t errlen)
{
	AVRational q = spec_rate(spec);

	if (q.num < 1 || q.den < 1 || q.num < q.den || q.num / q.den > 1000 ||
	    (q.num / q.den == 1000 && q.num % q.den)) {
		snprintf(err, errlen, "fps %d/%d is outside 1..1000", q.num, q.den);
		return -EINVAL;
	}
	return 0;
}

static int check_spec(const struct render_spec *spec, int container, char *err, size_t errlen)
{
	static const char *const cname[] = {"H.264", "VP9", "GIF", "ProRes"};
	int codec;

	if (container < 0) {
		snprintf(err, errlen, "output \"%s\" must end in .mp4, .webm, .gif or .mov",
			 spec->output ? spec->output : "");
		return -EINVAL;
	}
	if ((codec = render_codec_from_name(spec->codec)) < 0) {
		snprintf(err, errlen, "codec \"%s\" is not one of h264 hevc vp9 av1 prores",
			 spec->codec);
		return -EINVAL;
	}
	if ((codec = render_codec_for(container, codec, err, errlen)) < 0)
		return codec;
	if (spec->width < 1 || spec->height < 1 || spec->width > RENDER_MAX_DIM ||
	    spec->height > RENDER_MAX_DIM ||
	    (int64_t)spec->width * spec->height > RENDER_MAX_AREA) {
		snprintf(err, errlen, "size %dx%d is outside 1x1..%dx%d", spec->width, spec->height,
			 RENDER_MAX_WIDTH, RENDER_MAX_HEIGHT);
		return -EINVAL;
	}
	if (render_needs_even_size(container) && (spec->width % 2 || spec->height % 2)) {
		snprintf(err, errlen, "size %dx%d must be even for %s (yuv420p)", spec->width,
			 spec->height, cname[container]);
		return -EINVAL;
	}
	if (check_rate(spec, err, errlen) < 0)
		return -EINVAL;
	if (!render_frame_bytes(spec->pix_fmt ? spec->pix_fmt : "rgb24", 2, 2)) {
		snprintf(err, errlen,
			 "pixel format \"%s\" is not one of rgb24 rgba bgr24 gray yuv420p",
			 spec->pix_fmt);
		return -EINVAL;
	}
	if (spec->preset && !render_preset_known(spec->preset)) {
		snprintf(err, errlen, "preset \"%s\" is not one of ultrafast..placebo",
			 spec->preset);
		return -EINVAL;
	}
	if (spec->crf < -1 ||
	    spec->crf > (codecs[codec].crf_max ? codecs[codec].crf_max : crf_max[container])) {
		snprintf(err, errlen, "crf %d is outside 0..%d for %s", spec->crf,
			 codecs[codec].crf_max ? codecs[codec].crf_max : crf_max[container],
			 codec == RENDER_CODEC_HEVC || codec == RENDER_CODEC_AV1
			     ? codecs[codec].name
			     : cname[container]);
		return -EINVAL;
	}
	if (spec->threads < 0) {
		snprintf(err, errlen, "threads %d is negative", spec->threads);
		return -EINVAL;
	}
	return 0;
}

/* What the encoder takes: yuv420p, or yuva420p for VP9 with an rgba stream; ProRes
 * 4444 in 10 bits, with alpha for rgba; RGB32 into the GIF palette graph. An rgba stream
 * into anything else loses its alpha, which *dropped records for a warning. */
static enum AVPixelFormat conv_format(int container, int codec, const char *pix_fmt, int *dropped)
{
	int alpha = pix_fmt && !strcmp(pix_fmt, "rgba");

	*dropped = alpha && codec != RENDER_CODEC_GIF && !render_keeps_alpha(container, codec);
	switch (codec) {
	case RENDER_CODEC_GIF:
		return AV_PIX_FMT_RGB32;
	case RENDER_CODEC_PRORES:
		return alpha ? AV_PIX_FMT_YUVA444P10LE : AV_PIX_FMT_YUV444P10LE;
	case RENDER_CODEC_VP9:
		return alpha ? AV_PIX_FMT_YUVA420P : AV_PIX_FMT_YUV420P;
	default:
		return AV_PIX_FMT_YUV420P;
	}
}

/* render_open's steps: the handle from the spec, the muxer and its output, the frames. */
static struct render *render_new(const struct render_spec *spec, int container)
{
	struct render *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->tmp_fd = -1;
	r->stop_fd = -1;
	r->spec = *spec;
	r->container = (enum render_container)container;
	r->spec.preset = NULL;
	r->output = strdup(spec->output);
	if (spec->preset) {
		/* presets[] outlives us; keep that pointer instead of the caller's string */
		for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++)
			if (!strcmp(presets[i], spec->preset))
				r->spec.preset = presets[i];
	}
	r->spec.pix_fmt =
	    av_get_pix_fmt_name(render_raw_format(spec->pix_fmt ? spec->pix_fmt : "rgb24"));
	r->spec.output = r->output;
	r->spec.codec = NULL;
	r->codec = (enum render_codec)render_codec_for(
	    container, render_codec_from_name(spec->codec), NULL, 0);
	r->conv_fmt = conv_format(r->container, r->codec, r->spec.pix_fmt, &r->alpha_dropped);
	return r;
}

static int open_output(struct render *r, char *err, size_t errlen)
{
	static const char *const muxers[] = {"mp4", "webm", "gif", "mov"};
	AVDictionary *mux_opts = NULL;
	int ret;

	/* A chunk is Matroska, which holds every codec a chunked container takes; the
	 * encoder is still the final container's (open_encoder looks at r->container). */
	ret = avformat_alloc_output_context2(&r->oc, NULL,
					     r->spec.chunk ? "matroska" : muxers[r->container],
					     r->fd_mode ? r->output : r->tmp_path);
	if (ret < 0 || !r->oc)
		return av_fail(ret, "cannot set up the output container", err, errlen);
	if (r->container == RENDER_GIF && (ret = open_gif_graph(r, err, errlen)) < 0)
		return ret;
	if ((ret = open_encoder(r, err, errlen)) < 0)
		return ret;
	if (r->fd_mode) {
		r->oc->pb = fd_io_open(r->tmp_fd, 1);
		r->oc->flags |= AVFMT_FLAG_CUSTOM_IO;
		r->oc->io_open = fd_io_reopen;
		r->oc->io_close2 = fd_io_close2;
		ret = r->oc->pb ? 0 : AVERROR(ENOMEM);
	} else {
		ret = avio_open(&r->oc->pb, r->tmp_path, AVIO_FLAG_WRITE);
	}
	if (ret < 0)
		return av_fail(ret, "cannot open the temporary output", err, errlen);
	if (!r->spec.chunk && (r->container == RENDER_MP4 || r->container == RENDER_MOV))
		av_dict_set(&mux_opts, "movflags", "+faststart", 0);
	ret = avformat_write_header(r->oc, &mux_opts);
	av_dict_free(&mux_opts);
	if (ret < 0)
		return av_fail(ret, "cannot write the container header", err, errlen);
	return 0;
}

static int alloc_frames(struct render *r, char *err, size_t errlen)
{
	int ret;

	r->pkt = av_packet_alloc();
	r->frame = av_frame_alloc();
	r->filt = av_frame_alloc();
	r->in = av_frame_alloc();
	if (!r->pkt || !r->frame || !r->filt || !r->in)
		return -ENOMEM;
	r->frame->format = r->conv_fmt;
	r->frame->width = r->spec.width;
	r->frame->height = r->spec.height;
	ret = av_frame_get_buffer(r->frame, 0);
	return ret < 0 ? av_fail(ret, "cannot allocate a video frame", err, errlen) : 0;
}

int render_open(const struct render_spec *spec, struct render **out, char *err, size_t errlen)
{
	int container = spec->still ? RENDER_MP4 : render_container_from_path(spec->output);
	struct render *r;
	int ret;

	*out = NULL;
	if ((ret = render_libav_load(err, errlen)) < 0)
		return ret;
	ret = check_spec(spec, container, err, errlen);
	if (ret < 0)
		return ret;
	if (spec->chunk && (spec->still || container == RENDER_GIF)) {
		snprintf(err, errlen, "a chunk must be .mp4, .webm or .mov video, not %s",
			 spec->still ? "a still" : ".gif");
		return -EINVAL;
	}
	r = render_new(spec, container);
	if (!r)
		return -ENOMEM;
	ret = -ENOMEM;
	if (!r->output)
		goto fail;
	if (spec->use_output_fd) {
		r->fd_mode = 1;
		r->tmp_fd = spec->output_fd;
	} else if ((ret = make_temp(r, err, errlen)) < 0) {
		goto fail;
	}
	if (spec->still)
		ret = poster_open_still(&r->poster, r->tmp_fd, spec->poster_frame, spec->width,
					spec->height, err, errlen);
	else if ((ret = open_output(r, err, errlen)) >= 0 &&
		 (ret = alloc_frames(r, err, errlen)) >= 0 && !spec->chunk)
		ret = poster_begin(&r->poster, spec, err, errlen);
	if (ret >= 0 && !spec->still && !spec->chunk && spec->use_sheet_fd)
		ret = sheet_open(&r->sheet, spec->sheet_fd, spec->sheet_cols, spec->sheet_rows,
				 spec->max_frames, spec->width, spec->height, err, errlen);
	if (ret < 0)
		goto fail;
	*out = r;
	return 0;
fail:
	render_close(r);
	return ret;
}

/* encode_video.c's loop: send one frame (NULL flushes), then drain every packet the
 * encoder has ready into the muxer. */
static int encode(struct render *r, AVFrame *frame, char *err, size_t errlen)
{
	int ret = avcodec_send_frame(r->enc, frame);

	if (ret < 0)
		return av_fail(ret, "the encoder refused a frame", err, errlen);
	for (;;) {
		ret = avcodec_receive_packet(r->enc, r->pkt);
		if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
			return 0;
		if (ret < 0)
			return av_fail(ret, "encoding failed", err, errlen);
		av_packet_rescale_ts(r->pkt, r->enc->time_base, r->st->time_base);
		r->pkt->stream_index = r->st->index;
		ret = av_interleaved_write_frame(r->oc, r->pkt);
		if (ret < 0)
			return av_fail(ret, "cannot write to the output", err, errlen);
	}
}

/* For GIF, push a frame (or NULL at the end) through the palette graph and encode
 * whatever comes out; for the others, straight to the encoder. */
static int submit(struct render *r, AVFrame *frame, char *err, size_t errlen)
{
	int ret;

	if (!r->graph)
		return encode(r, frame, err, errlen);
	ret = av_buffersrc_add_frame_flags(r->src, frame, AV_BUFFERSRC_FLAG_KEEP_REF);
	if (ret < 0)
		return av_fail(ret, "the GIF palette filter refused a frame", err, errlen);
	for (;;) {
		ret = av_buffersink_get_frame(r->sink, r->filt);
		if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
			return 0;
		if (ret < 0)
			return av_fail(ret, "the GIF palette filter failed", err, errlen);
		r->filt->pict_type = AV_PICTURE_TYPE_NONE;
		ret = encode(r, r->filt, err, errlen);
		av_frame_unref(r->filt);
		if (ret < 0)
			return ret;
	}
}

/* Whether an rgba frame of n pixels has a pixel that is not fully opaque: only then does
 * a container without alpha lose something worth a warning. */
static int has_transparency(const uint8_t *rgba, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (rgba[i * 4 + 3] != 255)
			return 1;
	return 0;
}

/* Convert the reader's frame (the job's size, in the stream's format) to the
 * encoder's format: bicubic for the chroma, as the ffmpeg command line's default
 * scaler, and sliced over the encoder's thread count. The reader refuses frames of any
 * other size, so nothing is ever rescaled. The input AVFrame only references the
 * reader's buffer, so nothing is copied on the way in. */
static int convert(struct render *r, char *err, size_t errlen)
{
	const struct render_reader *rd = &r->rd;
	int ret;

	if (!r->sws) {
		r->sws = sws_alloc_context();
		if (!r->sws)
			return -ENOMEM;
		av_opt_set_int(r->sws, "srcw", rd->width, 0);
		av_opt_set_int(r->sws, "srch", rd->height, 0);
		av_opt_set_int(r->sws, "src_format", rd->fmt, 0);
		av_opt_set_int(r->sws, "dstw", r->spec.width, 0);
		av_opt_set_int(r->sws, "dsth", r->spec.height, 0);
		av_opt_set_int(r->sws, "dst_format", r->conv_fmt, 0);
		av_opt_set_int(r->sws, "sws_flags", SWS_BICUBIC, 0);
		av_opt_set_int(r->sws, "threads", r->spec.threads, 0);
		if (sws_init_context(r->sws, NULL, NULL) < 0) {
			snprintf(err, errlen, "cannot convert %dx%d %s to %dx%d", rd->width,
				 rd->height, av_get_pix_fmt_name(rd->fmt), r->spec.width,
				 r->spec.height);
			return -EINVAL;
		}
	}
	ret = av_frame_make_writable(r->frame);
	if (ret < 0)
		return av_fail(ret, "cannot get a writable frame", err, errlen);
	if (r->alpha_dropped && !r->alpha_used && rd->kind == RENDER_KIND_RAW)
		r->alpha_used = has_transparency(rd->frame, (size_t)rd->width * rd->height);
	r->in->format = rd->fmt;
	r->in->width = rd->width;
	r->in->height = rd->height;
	r->in->buf[0] = av_buffer_ref(rd->frame_buf);
	if (!r->in->buf[0])
		return -ENOMEM;
	ret = av_image_fill_arrays(r->in->data, r->in->linesize, rd->frame, rd->fmt, rd->width,
				   rd->height, 1);
	if (ret >= 0)
		ret = sws_scale_frame(r->sws, r->frame, r->in);
	av_frame_unref(r->in);
	if (ret < 0)
		return av_fail(ret, "cannot convert the frame", err, errlen);
	r->frame->pts = r->frames;
	return 0;
}

/* The frame just read, to the poster and the contact sheet (each takes the few it
 * wants), as the reader holds it. */
static void take_stills(struct render *r)
{
	const struct render_reader *rd = &r->rd;

	if (r->poster)
		poster_take(r->poster, r->frames, rd->frame, rd->fmt, rd->width, rd->height);
	if (r->sheet)
		sheet_take(r->sheet, r->frames, rd->frame, rd->fmt, rd->width, rd->height);
}

/* A larger pipe lets the script run further ahead of the encoder between reads. */
static void grow_pipe(int fd)
{
	int size = fcntl(fd, F_GETPIPE_SZ); /* fails on anything but a pipe */

	if (size > 0 && size < (1 << 20))
		(void)fcntl(fd, F_SETPIPE_SZ, 1 << 20);
}

/* The checks for the frames' known mistakes (checks.h), once the first frame is in:
 * all of them for raw streams, the black-clip watch for PPM (its header rules out the
 * rest), none for Y4M (its frames are planar and framed). */
static void start_checks(struct render *r)
{
	struct render_reader *rd = &r->rd;
	int raw = rd->kind == RENDER_KIND_RAW;

	if (rd->kind == RENDER_KIND_Y4M)
		return;
	checks_init(&r->checks, rd->fmt, raw ? r->spec.pix_fmt : "rgb24", rd->width, rd->height,
		    rd->frame_bytes, raw ? r->spec.max_frames : 0);
	r->checking = 1;
	rd->checks = &r->checks;
	if (raw)
		checks_first_frame(&r->checks, rd->frame);
	else
		r->checks.patterns = 0;
}

int render_stream(struct render *r, int fd, render_progress_fn progress, void *opaque, char *err,
		  size_t errlen)
{
	int ret;

	if (r->streamed) {
		snprintf(err, errlen, "render_stream() was already called on this render");
		return -EINVAL;
	}
	r->streamed = 1;
	clock_gettime(CLOCK_MONOTONIC, &r->t0);
	grow_pipe(fd);
	ret = render_reader_open(&r->rd, fd, r->spec.pix_fmt, r->spec.width, r->spec.height,
				 &r->cancel, r->stop_fd, err, errlen);
	r->reader_open = 1;
	if (ret < 0) {
		r->cut = !r->rd.eof;
		return ret;
	}
	for (;;) {
		if (atomic_load(&r->cancel)) {
			snprintf(err, errlen, "the render was cancelled");
			return -ECANCELED;
		}
		if (r->spec.max_frames > 0 && r->frames >= r->spec.max_frames) {
			r->hit_ceiling = 1;
			break;
		}
		ret = render_reader_next(&r->rd, err, errlen);
		if (ret < 0) {
			r->cut = !r->rd.eof;
			return ret;
		}
		if (ret == 0)
			break;
		if (r->frames == 0) {
			r->first_frame_ms = ms_since(&r->t0);
			start_checks(r);
			if (r->checks.refused) {
				r->refused = 1;
				break;
			}
		}
		if (r->checking)
			checks_frame(&r->checks, r->rd.frame);
		if (!r->spec.still && ((ret = convert(r, err, errlen)) < 0 ||
				       (ret = submit(r, r->frame, err, errlen)) < 0))
			return ret;
		take_stills(r);
		r->frames++;
		if (progress)
			progress(opaque, r->frames);
	}
	/* The arithmetic is never skipped: past the ceiling (or a refusal) the stream is
	 * read on, not encoded, until it ends or a cap says enough. A script that stops by
	 * itself meanwhile must have written whole frames. */
	if (r->hit_ceiling || r->refused) {
		ret = render_reader_drain(&r->rd, RENDER_DRAIN_MS, RENDER_DRAIN_BYTES, err, errlen);
		if (ret < 0) {
			r->cut = !r->rd.eof;
			return ret;
		}
		r->cut = ret == 1;
	}
	if (r->refused) {
		snprintf(err, errlen, "%s", r->checks.refusal);
		return -EPROTO;
	}
	if (r->checking) {
		checks_end(&r->checks, r->rd.bytes, !r->cut);
		if (r->checks.refused) {
			snprintf(err, errlen, "%s", r->checks.refusal);
			return -EPROTO;
		}
	}
	return 0;
}

void render_set_stop_fd(struct render *r, int fd)
{
	r->stop_fd = fd;
}

int render_hit_ceiling(const struct render *r)
{
	return r->hit_ceiling;
}

void render_stream_facts(const struct render *r, struct render_result *res)
{
	res->hit_ceiling = r->hit_ceiling;
	res->stream_bytes = r->reader_open ? r->rd.bytes : 0;
	res->cut = r->cut;
	res->frame_cap_hit = r->hit_ceiling && (r->cut || r->rd.frames > r->spec.max_frames);
	res->n_warnings = r->checking ? r->checks.n_warnings : 0;
	for (int i = 0; i < res->n_warnings; i++)
		memcpy(res->warnings[i], r->checks.warnings[i], sizeof(res->warnings[i]));
	/* Only a raw rgba stream has an alpha to lose (Y4M and PPM carry none), and only one
	 * that made some pixel less than opaque loses anything. */
	if (r->alpha_used && res->n_warnings < RENDER_MAX_WARNINGS)
		snprintf(res->warnings[res->n_warnings++], sizeof(res->warnings[0]),
			 "the rgba stream's transparency was dropped: %s in .%s has no alpha "
			 "channel; write .webm (VP9) or .mov (ProRes 4444) to keep it",
			 codecs[r->codec].name, container_names[r->container]);
}

void render_cancel(struct render *r)
{
	atomic_store(&r->cancel, 1);
}

/* sha256 of the finished temporary file, read back through our own descriptor. */
int hash_fd(int fd, char hex[65], char *err, size_t errlen)
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
			snprintf(err, errlen, "cannot read back the video file: %s",
				 strerror(-ret));
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
end:
	av_free(buf);
	av_free(sha);
	return ret;
}

/* A still's PNG, written into the output by poster.c, in place of the container. */
static int finish_still(struct render *r, struct render_result *res, char *err, size_t errlen)
{
	return poster_write(r->poster, &res->poster_bytes, &res->poster_frame, &res->poster_ms, err,
			    errlen);
}

/* Flush the encoder, write the trailer and close the container. */
static int finish_container(struct render *r, char *err, size_t errlen)
{
	int ret;

	if (r->graph && (ret = submit(r, NULL, err, errlen)) < 0)
		return ret;
	if ((ret = encode(r, NULL, err, errlen)) < 0)
		return ret;
	ret = av_write_trailer(r->oc);
	if (ret < 0)
		return av_fail(ret, "cannot finish the container", err, errlen);
	if (r->fd_mode) {
		avio_flush(r->oc->pb);
		ret = r->oc->pb->error;
		fd_io_free(&r->oc->pb);
	} else {
		ret = avio_closep(&r->oc->pb);
	}
	if (ret < 0)
		return av_fail(ret, "cannot close the output", err, errlen);
	return 0;
}

int render_finish(struct render *r, struct render_result *res, char *err, size_t errlen)
{
	off_t size;
	int ret;

	memset(res, 0, sizeof(*res));
	if (!r->streamed || r->frames == 0 || r->finished) {
		snprintf(err, errlen, "render_finish() needs one successful render_stream() first");
		return -EINVAL;
	}
	ret = r->spec.still ? finish_still(r, res, err, errlen) : finish_container(r, err, errlen);
	if (ret < 0)
		return ret;
	if (fsync(r->tmp_fd) < 0 || (size = lseek(r->tmp_fd, 0, SEEK_END)) < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot sync the video file: %s", strerror(-ret));
		return ret;
	}
	ret = hash_fd(r->tmp_fd, res->sha256, err, errlen);
	if (ret < 0)
		return ret;
	r->finished = 1;
	res->frames = r->frames;
	render_stream_facts(r, res);
	res->bytes = (uint64_t)size;
	snprintf(res->stream_kind, sizeof(res->stream_kind), "%s", render_kind_name(r->rd.kind));
	res->first_frame_ms = r->first_frame_ms;
	if (r->poster && !r->spec.still)
		poster_end(r->poster, res);
	if (r->sheet &&
	    sheet_write(r->sheet, &res->sheet_bytes, &res->sheet_filled, err, errlen) < 0)
		res->sheet_bytes = 0; /* no sheet; the video stands */
	res->encode_ms = ms_since(&r->t0);
	return 0;
}

/* rename(2) is atomic within a directory; the directory is synced after it so the
 * new name survives a crash as well as the data did. */
int render_output_commit(const char *tmp_path, const char *output, char *err, size_t errlen)
{
	char *dir;
	int dfd;

	if (rename(tmp_path, output) < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot move the video to %s: %s", output, strerror(e));
		return -e;
	}
	dir = strdup(output);
	if (dir) {
		char *slash = strrchr(dir, '/');
		if (slash)
			slash[slash == dir] = '\0';
		dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			(void)fsync(dfd);
			close(dfd);
		}
		free(dir);
	}
	return 0;
}

int render_commit(struct render *r, char *err, size_t errlen)
{
	int ret;

	if (!r->finished || r->committed || r->fd_mode) {
		snprintf(err, errlen, "render_commit() needs a finished, uncommitted render");
		return -EINVAL;
	}
	ret = render_output_commit(r->tmp_path, r->output, err, errlen);
	if (ret == 0)
		r->committed = 1;
	return ret;
}

void render_close(struct render *r)
{
	if (!r)
		return;
	if (r->reader_open)
		render_reader_free(&r->rd);
	poster_free(r->poster);
	sheet_free(r->sheet);
	sws_freeContext(r->sws);
	av_frame_free(&r->in);
	av_frame_free(&r->filt);
	av_frame_free(&r->frame);
	av_packet_free(&r->pkt);
	avfilter_graph_free(&r->graph);
	avcodec_free_context(&r->enc);
	if (r->oc) {
		if (r->fd_mode)
			fd_io_free(&r->oc->pb);
		else if (r->oc->pb)
			avio_closep(&r->oc->pb);
		avformat_free_context(r->oc);
	}
	if (r->tmp_fd >= 0 && !r->fd_mode)
		close(r->tmp_fd);
	if (r->tmp_path && !r->committed)
		unlink(r->tmp_path);
	free(r->tmp_path);
	free(r->output);
	free(r);
}

void render_quiet_logs(int verbose)
{
	int level = verbose ? AV_LOG_INFO : AV_LOG_ERROR;

	if (!render_libav_defer_log_level(level))
		av_log_set_level(level);
}
