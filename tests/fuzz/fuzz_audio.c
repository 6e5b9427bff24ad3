/* fuzz_audio.c - libFuzzer target for render/audio.c's decoder (render_audio_decode).
 *
 * The audio file a job names is written by the script: every byte is hostile, and the
 * demuxers and decoders libav picks for it are large parsers. The input is the file
 * (through a memfd, read with pread like the confined encoder reads its descriptor).
 * Besides "no crash": a success hands the sink exactly the samples asked for (a short
 * 0.1 s, so the fuzzer stays fast), every block is 1..samples left long with finite
 * values, and a failure is a negative errno with a printable sentence.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <libavutil/log.h>

#include "audio.h"
#include "render.h"

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_audio: %s:%d: check failed: %s\n", __FILE__,         \
				__LINE__, #cond);                                                  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#define WANT 4800

struct got {
	int64_t n;
};

static int sink(void *opaque, const float *const planes[2], int n)
{
	struct got *g = opaque;

	CHECK(n > 0 && g->n + n <= WANT);
	for (int c = 0; c < 2; c++)
		for (int i = 0; i < n; i++)
			CHECK(isfinite(planes[c][i]));
	g->n += n;
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	av_log_set_level(AV_LOG_QUIET);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct render_audio_facts f;
	struct got g = {0};
	char err[512];
	int fd = memfd_create("audio", MFD_CLOEXEC), rc;

	CHECK(fd >= 0);
	CHECK(size == 0 || write(fd, data, size) == (ssize_t)size);
	err[0] = '\0';
	rc = render_audio_decode(fd, "a.wav", WANT, sink, &g, &f, err, sizeof(err));
	close(fd);
	if (rc == 0) {
		CHECK(g.n == WANT && f.delivered == WANT);
		CHECK(f.fitted >= RENDER_AUDIO_EXACT && f.fitted <= RENDER_AUDIO_PADDED);
	} else {
		CHECK(rc < 0 && rc >= -4095);
		CHECK(err[0] != '\0');
		for (const char *p = err; *p; p++)
			CHECK((unsigned char)*p >= 0x20 || *p == '\t');
	}
	return 0;
}
