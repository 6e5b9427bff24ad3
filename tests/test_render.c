/* test_render.c - the encoder on synthetic frames, checked with ffprobe and ffmpeg. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <libavutil/log.h>

#include "helpers.h"
#include "render.h"

static char *dir;

static int setup(void **state)
{
	dir = th_tmpdir("render");
	return dir ? 0 : -1;
}

static int teardown(void **state)
{
	th_rm_rf(dir);
	free(dir);
	return 0;
}

/* Every test starts from an empty directory, so "nothing left behind" is countable. */
static int empty_dir(void **state)
{
	th_rm_rf(dir);
	return mkdir(dir, 0700);
}

/* Smooth moving rgb24 gradients: easy to encode well, so a low PSNR means a real
 * mistake (wrong format, swapped channels, wrong stride), not codec loss. */
static uint8_t *gradient(int w, int h, int n, size_t *len)
{
	uint8_t *p;

	*len = (size_t)w * h * 3 * n;
	p = malloc(*len);
	assert_non_null(p);
	for (int i = 0; i < n; i++)
		for (int y = 0; y < h; y++)
			for (int x = 0; x < w; x++) {
				uint8_t *px = p + (((size_t)i * h + y) * w + x) * 3;
				px[0] = (uint8_t)(x * 255 / (w - 1));
				px[1] = (uint8_t)(y * 255 / (h - 1));
				px[2] = (uint8_t)((x + y + 4 * i) * 255 / (w + h + 4 * n));
			}
	return p;
}

static int memfd_with(const void *data, size_t len)
{
	int fd = memfd_create("frames", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

static char *path_in_dir(const char *name)
{
	char *p;

	assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

/* Open, stream fd, finish and commit; fails the test with the error sentence. */
static void render_fd(const char *out, int w, int h, const char *pix_fmt, int fd,
		      struct render_result *res)
{
	struct render_spec spec = {.width = w,
				   .height = h,
				   .fps = 10,
				   .pix_fmt = pix_fmt,
				   .output = out,
				   .crf = -1,
				   .preset = "ultrafast"};
	char err[256] = "";
	struct render *r;

	if (render_open(&spec, &r, err, sizeof(err)) < 0)
		fail_msg("render_open: %s", err);
	if (render_stream(r, fd, NULL, NULL, err, sizeof(err)) < 0)
		fail_msg("render_stream: %s", err);
	if (render_finish(r, res, err, sizeof(err)) < 0)
		fail_msg("render_finish: %s", err);
	if (render_commit(r, err, sizeof(err)) < 0)
		fail_msg("render_commit: %s", err);
	render_close(r);
}

static void render_gradient(const char *out, int w, int h, int n, struct render_result *res)
{
	size_t len;
	uint8_t *frames = gradient(w, h, n, &len);
	int fd = memfd_with(frames, len);

	render_fd(out, w, h, "rgb24", fd, res);
	close(fd);
	free(frames);
}

/* "key=value" lines of ffprobe for the first video stream, frames counted. */
static void probe(const char *file, char *out, size_t outlen)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
		 "ffprobe -v error -count_frames -select_streams v:0 -show_entries "
		 "stream=codec_name,width,height,pix_fmt,nb_read_frames -of default=nw=1 '%s'",
		 file);
	assert_int_equal(th_run(cmd, out, outlen), 0);
}

static void expect_line(const char *probe_out, const char *line)
{
	char want[128];

	snprintf(want, sizeof(want), "%s\n", line);
	if (!strstr(probe_out, want))
		fail_msg("ffprobe said:\n%s\nbut not \"%s\"", probe_out, line);
}

static void test_mp4_is_h264_yuv420p_with_every_frame(void **state)
{
	struct render_result res;
	char *out = path_in_dir("clip.mp4"), pr[1024];

	render_gradient(out, 96, 64, 12, &res);
	assert_int_equal(res.frames, 12);
	assert_int_equal(res.hit_ceiling, 0);
	assert_string_equal(res.stream_kind, "raw");
	probe(out, pr, sizeof(pr));
	expect_line(pr, "codec_name=h264");
	expect_line(pr, "width=96");
	expect_line(pr, "height=64");
	expect_line(pr, "pix_fmt=yuv420p");
	expect_line(pr, "nb_read_frames=12");
	free(out);
}

/* Walk the top-level boxes; "+faststart" means moov comes before mdat. */
static void test_mp4_puts_moov_before_mdat(void **state)
{
	struct render_result res;
	char *out = path_in_dir("fast.mp4");
	int moov = -1, mdat = -1, idx = 0;
	size_t len, off = 0;
	uint8_t *d;

	render_gradient(out, 64, 48, 20, &res);
	d = (uint8_t *)th_read_file(out, &len);
	assert_non_null(d);
	while (off + 8 <= len) {
		uint64_t size =
		    (uint64_t)d[off] << 24 | d[off + 1] << 16 | d[off + 2] << 8 | d[off + 3];
		if (size == 1) {
			assert_true(off + 16 <= len);
			size = 0;
			for (int i = 8; i < 16; i++)
				size = size << 8 | d[off + i];
		} else if (size == 0) {
			size = len - off;
		}
		assert_true(size >= 8 && size <= len - off);
		if (!memcmp(d + off + 4, "moov", 4))
			moov = idx;
		if (!memcmp(d + off + 4, "mdat", 4))
			mdat = idx;
		off += size;
		idx++;
	}
	assert_int_equal(off, len);
	assert_true(moov >= 0 && mdat >= 0);
	assert_true(moov < mdat);
	free(d);
	free(out);
}

static void test_webm_is_vp9_with_every_frame(void **state)
{
	struct render_result res;
	char *out = path_in_dir("clip.webm"), pr[1024];

	render_gradient(out, 96, 64, 12, &res);
	assert_int_equal(res.frames, 12);
	probe(out, pr, sizeof(pr));
	expect_line(pr, "codec_name=vp9");
	expect_line(pr, "width=96");
	expect_line(pr, "height=64");
	expect_line(pr, "pix_fmt=yuv420p");
	expect_line(pr, "nb_read_frames=12");
	free(out);
}

static void test_gif_has_every_frame_at_the_output_size(void **state)
{
	struct render_result res;
	char *out = path_in_dir("clip.gif"), pr[1024];

	render_gradient(out, 95, 63, 12, &res);
	assert_int_equal(res.frames, 12);
	probe(out, pr, sizeof(pr));
	expect_line(pr, "codec_name=gif");
	expect_line(pr, "width=95");
	expect_line(pr, "height=63");
	expect_line(pr, "nb_read_frames=12");
	free(out);
}

static void test_sha256_and_size_describe_the_committed_file(void **state)
{
	struct render_result res;
	char *out = path_in_dir("hash.mp4"), cmd[512], sum[256] = "";
	struct stat st;

	render_gradient(out, 64, 48, 5, &res);
	snprintf(cmd, sizeof(cmd), "sha256sum '%s'", out);
	assert_int_equal(th_run(cmd, sum, sizeof(sum)), 0);
	sum[64] = '\0';
	assert_string_equal(res.sha256, sum);
	assert_int_equal(stat(out, &st), 0);
	assert_int_equal(res.bytes, (uint64_t)st.st_size);
	assert_int_equal(st.st_mode & 0777, 0644);
	free(out);
}

/* Until commit the video lives under a hidden temporary name beside the target;
 * a render that fails leaves the directory exactly as it found it. */
static void test_failed_render_leaves_no_file(void **state)
{
	struct render_spec spec = {.width = 64,
				   .height = 48,
				   .fps = 10,
				   .pix_fmt = "rgb24",
				   .crf = -1,
				   .preset = "ultrafast"};
	char *out = path_in_dir("broken.mp4"), err[256] = "";
	size_t len;
	uint8_t *frames = gradient(64, 48, 3, &len);
	int fd = memfd_with(frames, len - 100);
	struct render *r;
	struct dirent *de;
	DIR *d;

	spec.output = out;
	assert_int_equal(render_open(&spec, &r, err, sizeof(err)), 0);
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			assert_memory_equal(de->d_name, ".broken.mp4.tmp-", 16);
	closedir(d);
	assert_int_equal(th_count_entries(dir), 1);
	assert_int_equal(render_stream(r, fd, NULL, NULL, err, sizeof(err)), -EPROTO);
	assert_string_equal(err, "27,548 bytes: 9,116 bytes more than 2 frames of 64x48 rgb24: did "
				 "the script print text to stdout?");
	render_close(r);
	assert_int_equal(th_count_entries(dir), 0);
	assert_int_equal(access(out, F_OK), -1);
	close(fd);
	free(frames);
	free(out);
}

static void test_finished_but_uncommitted_render_leaves_no_file(void **state)
{
	struct render_spec spec = {.width = 64,
				   .height = 48,
				   .fps = 10,
				   .pix_fmt = "rgb24",
				   .crf = -1,
				   .preset = "ultrafast"};
	char *out = path_in_dir("later.webm"), err[256] = "";
	size_t len;
	uint8_t *frames = gradient(64, 48, 3, &len);
	int fd = memfd_with(frames, len);
	struct render_result res;
	struct render *r;

	spec.output = out;
	assert_int_equal(render_open(&spec, &r, err, sizeof(err)), 0);
	assert_int_equal(render_stream(r, fd, NULL, NULL, err, sizeof(err)), 0);
	assert_int_equal(render_finish(r, &res, err, sizeof(err)), 0);
	assert_int_equal(access(out, F_OK), -1);
	render_close(r);
	assert_int_equal(th_count_entries(dir), 0);
	close(fd);
	free(frames);
	free(out);
}

static void test_zero_frames_fail_and_leave_no_file(void **state)
{
	struct render_spec spec = {
	    .width = 64, .height = 48, .fps = 10, .pix_fmt = "rgb24", .crf = -1};
	char *out = path_in_dir("empty.gif"), err[256] = "";
	struct render_result res;
	struct render *r;
	int p[2];

	spec.output = out;
	assert_int_equal(pipe(p), 0);
	close(p[1]);
	assert_int_equal(render_open(&spec, &r, err, sizeof(err)), 0);
	assert_int_equal(render_stream(r, p[0], NULL, NULL, err, sizeof(err)), -ENODATA);
	assert_string_equal(err, "script wrote no frames (0 bytes on stdout)");
	assert_int_equal(render_finish(r, &res, err, sizeof(err)), -EINVAL);
	render_close(r);
	assert_int_equal(th_count_entries(dir), 0);
	close(p[0]);
	free(out);
}

/* Decode the video back and compare it with the frames we wrote. */
static double psnr_against(const char *video, const char *raw, int w, int h)
{
	char cmd[1024], out[4096] = "";
	const char *avg;

	snprintf(cmd, sizeof(cmd),
		 "ffmpeg -hide_banner -nostats -v info -i '%s' -f rawvideo -pix_fmt rgb24 -s %dx%d "
		 "-r 10 -i '%s' -lavfi '[0:v]format=rgb24[a];[a][1:v]psnr' -f null - 2>&1",
		 video, w, h, raw);
	assert_int_equal(th_run(cmd, out, sizeof(out)), 0);
	avg = strstr(out, "average:");
	if (!avg)
		fail_msg("no PSNR in ffmpeg's output:\n%s", out);
	if (!strncmp(avg + 8, "inf", 3))
		return 1e9;
	return strtod(avg + 8, NULL);
}

static void test_rgb24_gradient_survives_encoding_above_35_db(void **state)
{
	struct render_result res;
	char *out = path_in_dir("fidelity.mp4"), *raw = path_in_dir("src.raw");
	size_t len;
	uint8_t *frames = gradient(128, 96, 10, &len);
	int fd = memfd_with(frames, len);
	double db;

	assert_int_equal(th_write_file(raw, frames, len, 0600), 0);
	render_fd(out, 128, 96, "rgb24", fd, &res);
	db = psnr_against(out, raw, 128, 96);
	if (db < 35.0)
		fail_msg("PSNR %.2f dB is below 35 dB", db);
	close(fd);
	free(frames);
	free(out);
	free(raw);
}

/* The same frames as bgr24 must come out the same: channel order is honoured. */
static void test_bgr24_input_keeps_its_channel_order(void **state)
{
	struct render_result res;
	char *out = path_in_dir("bgr.mp4"), *raw = path_in_dir("src.raw");
	size_t len;
	uint8_t *frames = gradient(128, 96, 10, &len);
	int fd;
	double db;

	assert_int_equal(th_write_file(raw, frames, len, 0600), 0);
	for (size_t i = 0; i < len; i += 3) {
		uint8_t t = frames[i];
		frames[i] = frames[i + 2];
		frames[i + 2] = t;
	}
	fd = memfd_with(frames, len);
	render_fd(out, 128, 96, "bgr24", fd, &res);
	db = psnr_against(out, raw, 128, 96);
	if (db < 35.0)
		fail_msg("PSNR %.2f dB is below 35 dB", db);
	close(fd);
	free(frames);
	free(out);
	free(raw);
}

/* A Y4M stream's header must give the job's size; 4:4:4 is converted for the encoder. */
static void test_y4m_444_stream_is_encoded_at_the_job_size(void **state)
{
	char *out = path_in_dir("y4m.mp4"), pr[1024];
	const char *hdr = "YUV4MPEG2 W64 H48 F25:1 Ip C444\n";
	struct render_result res;
	size_t plane = 64 * 48;
	int fd = memfd_create("y4m", MFD_CLOEXEC);
	uint8_t *frame = malloc(plane * 3);

	assert_non_null(frame);
	for (size_t i = 0; i < plane * 3; i++)
		frame[i] = (uint8_t)(i < plane ? i % 251 : 128);
	assert_int_equal(write(fd, hdr, strlen(hdr)), (ssize_t)strlen(hdr));
	for (int i = 0; i < 4; i++) {
		assert_int_equal(write(fd, "FRAME\n", 6), 6);
		assert_int_equal(write(fd, frame, plane * 3), (ssize_t)(plane * 3));
	}
	lseek(fd, 0, SEEK_SET);
	render_fd(out, 64, 48, "rgb24", fd, &res);
	assert_string_equal(res.stream_kind, "y4m");
	assert_int_equal(res.frames, 4);
	probe(out, pr, sizeof(pr));
	expect_line(pr, "width=64");
	expect_line(pr, "height=48");
	expect_line(pr, "nb_read_frames=4");
	close(fd);
	free(frame);
	free(out);
}

static void test_ppm_stream_renders_to_webm(void **state)
{
	char *out = path_in_dir("ppm.webm"), pr[1024], hdr[32];
	struct render_result res;
	int fd = memfd_create("ppm", MFD_CLOEXEC);
	uint8_t frame[40 * 30 * 3];

	for (size_t i = 0; i < sizeof(frame); i++)
		frame[i] = (uint8_t)(i * 3);
	snprintf(hdr, sizeof(hdr), "P6\n40 30\n255\n");
	for (int i = 0; i < 3; i++) {
		assert_int_equal(write(fd, hdr, strlen(hdr)), (ssize_t)strlen(hdr));
		assert_int_equal(write(fd, frame, sizeof(frame)), (ssize_t)sizeof(frame));
	}
	lseek(fd, 0, SEEK_SET);
	render_fd(out, 40, 30, "rgb24", fd, &res);
	assert_string_equal(res.stream_kind, "ppm");
	probe(out, pr, sizeof(pr));
	expect_line(pr, "codec_name=vp9");
	expect_line(pr, "width=40");
	expect_line(pr, "nb_read_frames=3");
	close(fd);
	free(out);
}

static void expect_open_error(struct render_spec spec, const char *needle)
{
	struct render *r = (struct render *)1;
	char err[256] = "";

	assert_int_equal(render_open(&spec, &r, err, sizeof(err)), -EINVAL);
	assert_null(r);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
}

static void test_bad_specs_are_rejected_with_a_sentence(void **state)
{
	char *out = path_in_dir("x.mp4");
	struct render_spec ok = {
	    .width = 64, .height = 48, .fps = 10, .pix_fmt = "rgb24", .output = out, .crf = -1};
	struct render_spec s;

	s = ok, s.output = "video.avi";
	expect_open_error(s, "must end in .mp4, .webm, .gif or .mov");
	s = ok, s.width = 63;
	expect_open_error(s, "must be even");
	s = ok, s.width = 8000;
	expect_open_error(s, "outside 1x1..7680x4320");
	s = ok, s.crf = 52;
	expect_open_error(s, "crf 52 is outside 0..51");
	s = ok, s.preset = "turbo";
	expect_open_error(s, "preset \"turbo\"");
	s = ok, s.pix_fmt = "yuv444p";
	expect_open_error(s, "\"yuv444p\"");
	s = ok, s.fps = 0;
	expect_open_error(s, "fps 0");
	assert_int_equal(th_count_entries(dir), 0);
	free(out);
}

static void test_helpers_name_containers_and_presets(void **state)
{
	assert_int_equal(render_container_from_path("a/b.mp4"), RENDER_MP4);
	assert_int_equal(render_container_from_path("b.MP4"), RENDER_MP4);
	assert_int_equal(render_container_from_path("b.webm"), RENDER_WEBM);
	assert_int_equal(render_container_from_path("b.gif"), RENDER_GIF);
	assert_int_equal(render_container_from_path("b.mkv"), -EINVAL);
	assert_int_equal(render_container_from_path("dir.mp4/b"), -EINVAL);
	assert_int_equal(render_container_from_path(NULL), -EINVAL);
	assert_true(render_preset_known("ultrafast"));
	assert_true(render_preset_known("veryfast"));
	assert_true(render_preset_known("placebo"));
	assert_false(render_preset_known("fastest"));
	assert_false(render_preset_known(NULL));
}

/* The rules a job is validated by come from here (job.c asks, it keeps no copy). */
static void test_the_rules_a_job_is_checked_by_come_from_render(void **state)
{
	int n = 0;

	assert_int_equal(render_container_from_name("mp4"), RENDER_MP4);
	assert_int_equal(render_container_from_name("webm"), RENDER_WEBM);
	assert_int_equal(render_container_from_name("gif"), RENDER_GIF);
	assert_int_equal(render_container_from_name("MP4"), -EINVAL);
	assert_int_equal(render_container_from_name(NULL), -EINVAL);
	assert_int_equal(render_crf_max(RENDER_MP4), 51);
	assert_int_equal(render_crf_max(RENDER_WEBM), 63);
	assert_int_equal(render_crf_max(7), -EINVAL);
	assert_true(render_needs_even_size(RENDER_MP4));
	assert_true(render_needs_even_size(RENDER_WEBM));
	assert_false(render_needs_even_size(RENDER_GIF));
	assert_string_equal(render_preset_name(0), "ultrafast");
	for (const char *p; (p = render_preset_name(n)); n++)
		assert_true(render_preset_known(p));
	assert_int_equal(n, 10);
	assert_string_equal(render_preset_name(n - 1), "placebo");
	assert_null(render_preset_name(-1));
	assert_int_equal(RENDER_MAX_WIDTH, 7680);
	assert_int_equal(RENDER_MAX_HEIGHT, 4320);
}

/* ---- exact rates, alpha and codecs (issue 15) ---- */

/* Debian 12's libx265 (3.5) keeps some of its frame filter's buffers past
 * x265_encoder_close: allocated and lost inside the library, from x265_encoder_open,
 * nothing of ours. LeakSanitizer (the sanitizer build) is told to look past them. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libx265.so\n";
}

/* Render n frames of an explicit spec from a memfd; 0 or the failing step's errno. */
static int render_spec_frames(struct render_spec *spec, const void *frames, size_t len,
			      struct render_result *res, char *err, size_t errlen)
{
	int fd = memfd_with(frames, len), rc;
	struct render *r;

	if ((rc = render_open(spec, &r, err, errlen)) < 0) {
		close(fd);
		return rc;
	}
	if ((rc = render_stream(r, fd, NULL, NULL, err, errlen)) == 0 &&
	    (rc = render_finish(r, res, err, errlen)) == 0)
		rc = render_commit(r, err, errlen);
	render_close(r);
	close(fd);
	return rc;
}

static void test_30000_1001_has_a_1001_tick_per_frame(void **state)
{
	struct render_spec spec = {.width = 64,
				   .height = 48,
				   .fps_num = 30000,
				   .fps_den = 1001,
				   .pix_fmt = "rgb24",
				   .crf = -1,
				   .preset = "ultrafast"};
	char *out = path_in_dir("ntsc.mp4"), pr[4096], err[256] = "";
	struct render_result res;
	size_t len;
	uint8_t *frames = gradient(64, 48, 10, &len);
	int64_t pts[10];
	int n = 0;
	char *line;

	(void)state;
	spec.output = out;
	if (render_spec_frames(&spec, frames, len, &res, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	snprintf(pr, sizeof(pr),
		 "ffprobe -v error -select_streams v:0 -show_entries "
		 "stream=r_frame_rate,avg_frame_rate,time_base -of default=nw=1 '%s'",
		 out);
	assert_int_equal(th_run(pr, pr, sizeof(pr)), 0);
	expect_line(pr, "r_frame_rate=30000/1001");
	expect_line(pr, "avg_frame_rate=30000/1001");
	expect_line(pr, "time_base=1/30000");
	snprintf(pr, sizeof(pr),
		 "ffprobe -v error -select_streams v:0 -show_entries frame=pts -of csv=p=0 '%s'",
		 out);
	assert_int_equal(th_run(pr, pr, sizeof(pr)), 0);
	for (line = strtok(pr, "\n"); line && n < 10; line = strtok(NULL, "\n"))
		pts[n++] = strtoll(line, NULL, 10);
	assert_int_equal(n, 10);
	for (int i = 0; i < 10; i++)
		if (pts[i] != (int64_t)i * 1001)
			fail_msg("frame %d has pts %lld, not %d", i, (long long)pts[i], i * 1001);
	free(frames);
	free(out);
}

/* Half transparent, half opaque red: the alpha a decoder gives back, at both halves. */
static uint8_t *half_transparent(int w, int h, int n, size_t *len)
{
	uint8_t *p;

	*len = (size_t)w * h * 4 * n;
	p = calloc(1, *len);
	assert_non_null(p);
	for (size_t i = 0; i < *len / 4; i++)
		if ((int)(i % (size_t)w) >= w / 2)
			memcpy(p + i * 4, "\xff\x00\x00\xff", 4);
	return p;
}

/* The first frame decoded back as rgba (with decoder, "" for the default), its alpha at
 * the left and right edges of the middle row. */
static void decoded_alpha(const char *file, const char *decoder, int w, int h, int *left,
			  int *right)
{
	char cmd[2600], raw[512];
	uint8_t px[4];
	FILE *f;

	snprintf(raw, sizeof(raw), "%s.rgba", file);
	snprintf(cmd, sizeof(cmd),
		 "ffmpeg -v error -y %s -i '%s' -frames:v 1 -pix_fmt rgba -f rawvideo '%s'",
		 decoder, file, raw);
	assert_int_equal(th_run(cmd, NULL, 0), 0);
	f = fopen(raw, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, ((long)(h / 2) * w) * 4, SEEK_SET), 0);
	assert_int_equal(fread(px, 1, 4, f), 4);
	*left = px[3];
	assert_int_equal(fseek(f, ((long)(h / 2) * w + w - 1) * 4, SEEK_SET), 0);
	assert_int_equal(fread(px, 1, 4, f), 4);
	*right = px[3];
	fclose(f);
	unlink(raw);
}

static void render_alpha(const char *name, struct render_result *res, char **out)
{
	struct render_spec spec = {.width = 64,
				   .height = 48,
				   .fps = 10,
				   .pix_fmt = "rgba",
				   .crf = -1,
				   .preset = "ultrafast"};
	char err[256] = "";
	size_t len;
	uint8_t *frames = half_transparent(64, 48, 3, &len);

	*out = path_in_dir(name);
	spec.output = *out;
	if (render_spec_frames(&spec, frames, len, res, err, sizeof(err)) < 0)
		fail_msg("%s: %s", name, err);
	free(frames);
}

static void test_rgba_into_webm_keeps_its_alpha(void **state)
{
	struct render_result res;
	char *out, pr[1024];
	int left, right;

	(void)state;
	render_alpha("alpha.webm", &res, &out);
	assert_int_equal(res.n_warnings, 0);
	snprintf(pr, sizeof(pr),
		 "ffprobe -v error -show_entries stream=codec_name:stream_tags=alpha_mode "
		 "-of default=nw=1 '%s'",
		 out);
	assert_int_equal(th_run(pr, pr, sizeof(pr)), 0);
	expect_line(pr, "codec_name=vp9");
	expect_line(pr, "TAG:alpha_mode=1");
	decoded_alpha(out, "-c:v libvpx-vp9", 64, 48, &left, &right);
	assert_int_equal(left, 0);
	assert_int_equal(right, 255);
	free(out);
}

static void test_rgba_into_mov_is_prores_4444_with_alpha(void **state)
{
	struct render_result res;
	char *out, pr[1024];
	int left, right;

	(void)state;
	render_alpha("alpha.mov", &res, &out);
	probe(out, pr, sizeof(pr));
	expect_line(pr, "codec_name=prores");
	expect_line(pr, "nb_read_frames=3");
	assert_non_null(strstr(pr, "pix_fmt=yuva444p"));
	decoded_alpha(out, "", 64, 48, &left, &right);
	assert_int_equal(left, 0);
	assert_int_equal(right, 255);
	free(out);
}

static void test_rgba_into_mp4_drops_alpha_with_a_warning(void **state)
{
	struct render_result res;
	char *out;

	(void)state;
	render_alpha("alpha.mp4", &res, &out);
	assert_int_equal(res.n_warnings, 1);
	assert_non_null(strstr(res.warnings[0], "transparency was dropped: h264 in .mp4"));
	free(out);
}

/* A Y4M stream that names the broadcast rate in its header (F30000:1001) is taken; the
 * video's rate is the spec's, exact. */
static void test_y4m_with_a_broadcast_rate_header_keeps_the_exact_rate(void **state)
{
	static const char hdr[] = "YUV4MPEG2 W64 H48 F30000:1001 Ip A1:1 C420jpeg\n";
	struct render_spec spec = {.width = 64,
				   .height = 48,
				   .fps_num = 30000,
				   .fps_den = 1001,
				   .pix_fmt = "rgb24",
				   .crf = -1,
				   .preset = "ultrafast"};
	char *out = path_in_dir("y4m.mp4"), pr[1024], err[256] = "";
	size_t fsize = 64 * 48 * 3 / 2, len = sizeof(hdr) - 1 + 3 * (6 + fsize), at = 0;
	uint8_t *buf = malloc(len);
	struct render_result res;

	(void)state;
	assert_non_null(buf);
	memcpy(buf, hdr, sizeof(hdr) - 1);
	at = sizeof(hdr) - 1;
	for (int i = 0; i < 3; i++) {
		memcpy(buf + at, "FRAME\n", 6);
		memset(buf + at + 6, 100 + i * 20, fsize);
		at += 6 + fsize;
	}
	spec.output = out;
	if (render_spec_frames(&spec, buf, len, &res, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_string_equal(res.stream_kind, "y4m");
	snprintf(pr, sizeof(pr),
		 "ffprobe -v error -select_streams v:0 -show_entries stream=r_frame_rate "
		 "-of default=nw=1 '%s'",
		 out);
	assert_int_equal(th_run(pr, pr, sizeof(pr)), 0);
	expect_line(pr, "r_frame_rate=30000/1001");
	free(buf);
	free(out);
}

/* An rgba stream that is opaque everywhere loses nothing in .mp4: no warning. */
static void test_opaque_rgba_into_mp4_says_nothing(void **state)
{
	struct render_spec spec = {.width = 64,
				   .height = 48,
				   .fps = 10,
				   .pix_fmt = "rgba",
				   .crf = -1,
				   .preset = "ultrafast"};
	char *out = path_in_dir("opaque.mp4"), err[256] = "";
	struct render_result res;
	size_t len = (size_t)64 * 48 * 4 * 3;
	uint8_t *frames = malloc(len);

	(void)state;
	assert_non_null(frames);
	memset(frames, 255, len);
	spec.output = out;
	if (render_spec_frames(&spec, frames, len, &res, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_int_equal(res.n_warnings, 0);
	free(frames);
	free(out);
}

/* hevc and av1 where this libavcodec has them: the codec ffprobe names, every frame. */
static void expect_codec(const char *codec, const char *name, const char *probe_name)
{
	struct render_spec spec = {.width = 64,
				   .height = 64,
				   .fps_num = 24000,
				   .fps_den = 1001,
				   .pix_fmt = "rgb24",
				   .crf = -1,
				   .preset = "ultrafast",
				   .codec = codec,
				   .threads = 1};
	char *out = path_in_dir(name), pr[1024], err[256] = "";
	struct render_result res;
	size_t len;
	uint8_t *frames;

	if (render_codec_available(render_codec_from_name(codec), err, sizeof(err)) < 0) {
		fprintf(stderr, "skipped %s: %s\n", codec, err);
		free(out);
		return;
	}
	frames = gradient(64, 64, 6, &len);
	spec.output = out;
	if (render_spec_frames(&spec, frames, len, &res, err, sizeof(err)) < 0)
		fail_msg("%s: %s", name, err);
	probe(out, pr, sizeof(pr));
	expect_line(pr, probe_name);
	expect_line(pr, "nb_read_frames=6");
	free(frames);
	free(out);
}

static void test_hevc_and_av1_make_what_ffprobe_names(void **state)
{
	(void)state;
	expect_codec("hevc", "h.mp4", "codec_name=hevc");
	expect_codec("av1", "a.mp4", "codec_name=av1");
	expect_codec("av1", "a.webm", "codec_name=av1");
}

static void test_codecs_fit_their_containers(void **state)
{
	char err[128] = "";

	(void)state;
	assert_int_equal(render_codec_from_name(NULL), RENDER_CODEC_DEFAULT);
	assert_int_equal(render_codec_from_name("av1"), RENDER_CODEC_AV1);
	assert_int_equal(render_codec_from_name("x264"), -EINVAL);
	assert_int_equal(render_codec_for(RENDER_MOV, RENDER_CODEC_DEFAULT, err, sizeof(err)),
			 RENDER_CODEC_PRORES);
	assert_int_equal(render_codec_for(RENDER_MP4, RENDER_CODEC_HEVC, err, sizeof(err)),
			 RENDER_CODEC_HEVC);
	assert_int_equal(render_codec_for(RENDER_GIF, RENDER_CODEC_AV1, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "codec av1 cannot go in .gif; .gif takes gif");
	assert_int_equal(render_codec_crf_max(RENDER_CODEC_AV1), 63);
	assert_int_equal(render_codec_crf_max(RENDER_CODEC_PRORES), 0);
	assert_true(render_keeps_alpha(RENDER_WEBM, RENDER_CODEC_VP9));
	assert_false(render_keeps_alpha(RENDER_WEBM, RENDER_CODEC_AV1));
	assert_int_equal(render_container_from_path("x.MOV"), RENDER_MOV);
}

static void test_bad_rates_are_rejected_with_a_sentence(void **state)
{
	char *out = path_in_dir("x.mp4");
	struct render_spec s = {.width = 64,
				.height = 48,
				.fps_num = 1,
				.fps_den = 0,
				.pix_fmt = "rgb24",
				.output = out,
				.crf = -1};

	(void)state;
	expect_open_error(s, "fps 1/0 is outside 1..1000");
	s.fps_num = 1, s.fps_den = 2;
	expect_open_error(s, "fps 1/2 is outside 1..1000");
	s.fps_num = 1001, s.fps_den = 1;
	expect_open_error(s, "fps 1001/1");
	s.fps_num = 30, s.codec = "prores";
	expect_open_error(s, "codec prores cannot go in .mp4; .mp4 takes h264, hevc, av1");
	s.codec = "nope";
	expect_open_error(s, "codec \"nope\" is not one of");
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_mp4_is_h264_yuv420p_with_every_frame, empty_dir),
	    cmocka_unit_test_setup(test_mp4_puts_moov_before_mdat, empty_dir),
	    cmocka_unit_test_setup(test_webm_is_vp9_with_every_frame, empty_dir),
	    cmocka_unit_test_setup(test_gif_has_every_frame_at_the_output_size, empty_dir),
	    cmocka_unit_test_setup(test_sha256_and_size_describe_the_committed_file, empty_dir),
	    cmocka_unit_test_setup(test_failed_render_leaves_no_file, empty_dir),
	    cmocka_unit_test_setup(test_finished_but_uncommitted_render_leaves_no_file, empty_dir),
	    cmocka_unit_test_setup(test_zero_frames_fail_and_leave_no_file, empty_dir),
	    cmocka_unit_test_setup(test_rgb24_gradient_survives_encoding_above_35_db, empty_dir),
	    cmocka_unit_test_setup(test_bgr24_input_keeps_its_channel_order, empty_dir),
	    cmocka_unit_test_setup(test_y4m_444_stream_is_encoded_at_the_job_size, empty_dir),
	    cmocka_unit_test_setup(test_ppm_stream_renders_to_webm, empty_dir),
	    cmocka_unit_test_setup(test_bad_specs_are_rejected_with_a_sentence, empty_dir),
	    cmocka_unit_test(test_helpers_name_containers_and_presets),
	    cmocka_unit_test(test_the_rules_a_job_is_checked_by_come_from_render),
	    cmocka_unit_test_setup(test_30000_1001_has_a_1001_tick_per_frame, empty_dir),
	    cmocka_unit_test_setup(test_rgba_into_webm_keeps_its_alpha, empty_dir),
	    cmocka_unit_test_setup(test_rgba_into_mov_is_prores_4444_with_alpha, empty_dir),
	    cmocka_unit_test_setup(test_rgba_into_mp4_drops_alpha_with_a_warning, empty_dir),
	    cmocka_unit_test_setup(test_opaque_rgba_into_mp4_says_nothing, empty_dir),
	    cmocka_unit_test_setup(test_y4m_with_a_broadcast_rate_header_keeps_the_exact_rate,
				   empty_dir),
	    cmocka_unit_test_setup(test_hevc_and_av1_make_what_ffprobe_names, empty_dir),
	    cmocka_unit_test(test_codecs_fit_their_containers),
	    cmocka_unit_test_setup(test_bad_rates_are_rejected_with_a_sentence, empty_dir),
	};

	av_log_set_level(AV_LOG_ERROR);
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
