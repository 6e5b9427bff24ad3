/* test_audio.c - render/audio.c: the sample count of a video's length, the decoder's fit
 * (exact, trimmed, padded, resampled, mono), corrupt and non-audio input, and the remux
 * of a real video with its track checked by ffprobe. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "audio.h"
#include "helpers.h"
#include "render.h"

static char *dir;

static int setup(void **state)
{
	dir = th_tmpdir("audio");
	return dir ? 0 : -1;
}

static int teardown(void **state)
{
	th_rm_rf(dir);
	free(dir);
	return 0;
}

/* A 16-bit PCM WAV of n frames at rate with ch channels: a 440 Hz tone at half scale. */
static int write_wav(const char *name, int rate, int ch, int64_t n)
{
	char path[512];
	size_t data = (size_t)n * (size_t)ch * 2, off = 44;
	uint8_t *b = calloc(1, 44 + data);
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	memcpy(b, "RIFF", 4);
	*(uint32_t *)(b + 4) = (uint32_t)(36 + data);
	memcpy(b + 8, "WAVEfmt ", 8);
	*(uint32_t *)(b + 16) = 16;
	*(uint16_t *)(b + 20) = 1;
	*(uint16_t *)(b + 22) = (uint16_t)ch;
	*(uint32_t *)(b + 24) = (uint32_t)rate;
	*(uint32_t *)(b + 28) = (uint32_t)(rate * ch * 2);
	*(uint16_t *)(b + 32) = (uint16_t)(ch * 2);
	*(uint16_t *)(b + 34) = 16;
	memcpy(b + 36, "data", 4);
	*(uint32_t *)(b + 40) = (uint32_t)data;
	for (int64_t i = 0; i < n; i++)
		for (int c = 0; c < ch; c++, off += 2)
			*(int16_t *)(b + off) = (int16_t)(16000 * sin(2 * M_PI * 440 * i / rate));
	assert_int_equal(th_write_file(path, b, 44 + data, 0644), 0);
	free(b);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

struct count {
	int64_t n, nonzero_after;
	int64_t at;
	double peak_left, peak_right;
};

static int counting_sink(void *opaque, const float *const planes[2], int n)
{
	struct count *c = opaque;

	for (int i = 0; i < n; i++) {
		if (fabsf(planes[0][i]) > c->peak_left)
			c->peak_left = fabsf(planes[0][i]);
		if (fabsf(planes[1][i]) > c->peak_right)
			c->peak_right = fabsf(planes[1][i]);
		if (c->at >= 0 && c->n + i >= c->at && (planes[0][i] != 0 || planes[1][i] != 0))
			c->nonzero_after++;
	}
	c->n += n;
	return 0;
}

static void test_samples_are_the_videos_exact_length(void **state)
{
	assert_int_equal(render_audio_samples(150, 30, 1), 240000);
	/* 300 frames at 30000/1001: 10.01 s */
	assert_int_equal(render_audio_samples(300, 30000, 1001), 480480);
	/* 1 frame at 30000/1001 is 1601.6 samples: rounded */
	assert_int_equal(render_audio_samples(1, 30000, 1001), 1602);
	assert_int_equal(render_audio_samples(0, 30, 1), 0);
	assert_int_equal(render_audio_samples(10, 0, 1), 0);
}

static void test_shorter_wav_is_padded_with_silence(void **state)
{
	struct render_audio_facts f;
	struct count c = {.at = 48000};
	char err[512];
	int fd = write_wav("short.wav", 48000, 2, 48000);

	assert_int_equal(
	    render_audio_decode(fd, "short.wav", 96000, counting_sink, &c, &f, err, sizeof(err)),
	    0);
	close(fd);
	assert_int_equal(c.n, 96000);
	assert_int_equal(c.nonzero_after, 0); /* the second second is silence */
	assert_true(c.peak_left > 0.45 && c.peak_left < 0.5);
	assert_int_equal(f.fitted, RENDER_AUDIO_PADDED);
	assert_int_equal(f.decoded, 48000);
	assert_true(fabs(f.source_duration_s - 1.0) < 0.001);
}

static void test_longer_wav_is_trimmed(void **state)
{
	struct render_audio_facts f;
	struct count c = {.at = -1};
	char err[512];
	int fd = write_wav("long.wav", 48000, 2, 3 * 48000);

	assert_int_equal(
	    render_audio_decode(fd, "long.wav", 48000, counting_sink, &c, &f, err, sizeof(err)), 0);
	close(fd);
	assert_int_equal(c.n, 48000);
	assert_int_equal(f.fitted, RENDER_AUDIO_TRIMMED);
	assert_true(fabs(f.source_duration_s - 3.0) < 0.001);
}

static void test_mono_44100_is_resampled_to_stereo_48k(void **state)
{
	struct render_audio_facts f;
	struct count c = {.at = -1};
	char err[512];
	int fd = write_wav("mono.wav", 44100, 1, 44100);

	assert_int_equal(
	    render_audio_decode(fd, "mono.wav", 48000, counting_sink, &c, &f, err, sizeof(err)), 0);
	close(fd);
	assert_int_equal(c.n, 48000);
	assert_int_equal(f.fitted, RENDER_AUDIO_EXACT);
	assert_true(c.peak_left > 0.2 && c.peak_right > 0.2); /* both sides hear it */
}

static void test_corrupt_file_is_refused_with_a_sentence(void **state)
{
	char path[512], err[512];
	struct count c = {.at = -1};
	static const char junk[] = "RIFF\x10\0\0\0WAVEfmt \xff\xff\xff\xff garbage garbage";
	int fd;

	snprintf(path, sizeof(path), "%s/bad.wav", dir);
	assert_int_equal(th_write_file(path, junk, sizeof(junk), 0644), 0);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_int_equal(
	    render_audio_decode(fd, "bad.wav", 48000, counting_sink, &c, NULL, err, sizeof(err)),
	    -EINVAL);
	close(fd);
	assert_non_null(strstr(err, "bad.wav is not audio libav can read"));
	assert_int_equal(c.n, 0);

	/* text is not audio either */
	snprintf(path, sizeof(path), "%s/text.wav", dir);
	assert_int_equal(th_write_file(path, "hello\n", 6, 0644), 0);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(render_audio_decode(fd, "text.wav", 48000, counting_sink, &c, NULL, err,
					sizeof(err)) < 0);
	close(fd);
	assert_non_null(strstr(err, "text.wav is not audio libav can read"));
}

/* A real remux: a 2-second H.264 MP4 (ffmpeg's testsrc) and a 1-second WAV become an MP4
 * with an AAC track as long as the video; the video packets are the same. */
static void remux_case(const char *ext, const char *codec)
{
	char cmd[1024], out[512], path[512], err[512];
	struct render_audio_result res;
	int vfd, afd, ofd, container;

	snprintf(path, sizeof(path), "%s/v.%s", dir, ext);
	snprintf(cmd, sizeof(cmd),
		 "ffmpeg -v error -y -f lavfi -i testsrc=size=64x48:rate=25 -frames:v 50 %s "
		 "'%s'",
		 !strcmp(ext, "webm") ? "-c:v libvpx-vp9 -deadline realtime" : "-c:v libx264",
		 path);
	assert_int_equal(th_run(cmd, NULL, 0), 0);
	vfd = open(path, O_RDONLY | O_CLOEXEC);
	afd = write_wav("one.wav", 48000, 2, 48000);
	snprintf(path, sizeof(path), "%s/o.%s", dir, ext);
	ofd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	container = render_container_from_path(path);
	assert_int_equal(render_audio_mux(vfd, afd, ofd, container, "one.wav", 50, 25, 1, &res, err,
					  sizeof(err)),
			 0);
	close(vfd);
	close(afd);
	close(ofd);
	assert_string_equal(res.codec, codec);
	assert_int_equal(res.samples, 96000);
	assert_int_equal(res.fitted, RENDER_AUDIO_PADDED);
	assert_int_equal(strlen(res.sha256), 64);
	snprintf(cmd, sizeof(cmd),
		 "ffprobe -v error -select_streams a:0 -show_entries "
		 "stream=codec_name,sample_rate,channels -of csv=p=0 '%s'",
		 path);
	assert_int_equal(th_run(cmd, out, sizeof(out)), 0);
	snprintf(cmd, sizeof(cmd), "%s,48000,2\n", codec);
	assert_string_equal(out, cmd);
	snprintf(cmd, sizeof(cmd),
		 "ffprobe -v error -count_packets -select_streams v:0 -show_entries "
		 "stream=nb_read_packets -of csv=p=0 '%s'",
		 path);
	assert_int_equal(th_run(cmd, out, sizeof(out)), 0);
	assert_string_equal(out, "50\n");
}

static void test_remux_mp4_gets_an_aac_track(void **state)
{
	remux_case("mp4", "aac");
}

static void test_remux_webm_gets_an_opus_track(void **state)
{
	remux_case("webm", "opus");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_samples_are_the_videos_exact_length),
	    cmocka_unit_test(test_shorter_wav_is_padded_with_silence),
	    cmocka_unit_test(test_longer_wav_is_trimmed),
	    cmocka_unit_test(test_mono_44100_is_resampled_to_stereo_48k),
	    cmocka_unit_test(test_corrupt_file_is_refused_with_a_sentence),
	    cmocka_unit_test(test_remux_mp4_gets_an_aac_track),
	    cmocka_unit_test(test_remux_webm_gets_an_opus_track),
	};

	render_quiet_logs(0);
	return cmocka_run_group_tests(tests, setup, teardown);
}
