/* demo_media.c - what the demo itself runs in a sandbox: posters cut from the videos,
 * and the sandbox's start-up measured for the timings table.
 *
 * A poster is a frame decoded from a video, and a video is bytes for a parser, so
 * ffmpeg runs in the same sandbox a job gets: the video on its stdin, the JPEG on its
 * stdout, no file of the host in reach. The start-up is timed the way a user meets it
 * (`reelbox exec -- true`: spec, namespaces, mounts, seccomp, exec, exit, reap), to set
 * beside the published figures for docker run and runsc.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "demo.h"
#include "errf.h"
#include "sandbox.h"

static void quiet(void *opaque, const char *msg)
{
	(void)opaque;
	(void)msg;
}

static const char *find_program(const char *name, char *buf, size_t len)
{
	static const char *const dirs[] = {"/usr/bin", "/usr/local/bin", "/bin"};

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(buf, len, "%s/%s", dirs[i], name);
		if (access(buf, X_OK) == 0)
			return buf;
	}
	return NULL;
}

static struct job_limits media_limits(const struct config *cfg)
{
	struct job_limits lim = cfg->defaults;

	lim.timeout_s = 30;
	return lim;
}

int demo_poster(const struct config *cfg, const char *video, const char *poster, double at,
		char *err, size_t errlen)
{
	struct job_limits lim = media_limits(cfg);
	struct sandbox_result res;
	char ffmpeg[64], ss[32], tmp[PATH_MAX];
	const char *argv[] = {ffmpeg, "-nostdin", "-v",	       "error", "-ss",	  ss,
			      "-i",   "pipe:0",	  "-frames:v", "1",	"-f",	  "image2",
			      "-c:v", "mjpeg",	  "-q:v",      "3",	"pipe:1", NULL};
	int in, out, rc;
	struct stat st;

	if (!find_program("ffmpeg", ffmpeg, sizeof(ffmpeg))) {
		worker_err(err, errlen, "no ffmpeg to cut a poster with (install ffmpeg)");
		return -ENOENT;
	}
	snprintf(ss, sizeof(ss), "%.3f", at);
	snprintf(tmp, sizeof(tmp), "%s.tmp", poster);
	if ((in = open(video, O_RDONLY | O_CLOEXEC)) < 0) {
		worker_err(err, errlen, "cannot open %s: %s", video, strerror(errno));
		return -errno;
	}
	if ((out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
		rc = -errno;
		close(in);
		worker_err(err, errlen, "cannot create %s: %s", tmp, strerror(-rc));
		return rc;
	}
	rc = cli_sandbox_exec(cfg, &lim, argv, NULL, in, out, -1, quiet, NULL, &res, err, errlen);
	close(in);
	close(out);
	if (rc == 0 && (res.exit_code != 0 || stat(tmp, &st) < 0 || st.st_size == 0)) {
		worker_err(err, errlen, "ffmpeg in the sandbox made no poster of %s (exit %d%s%s)",
			   video, res.exit_code, res.reason[0] ? ": " : "", res.reason);
		rc = -EIO;
	}
	if (rc == 0 && rename(tmp, poster) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	return rc;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int demo_sandbox_startup(const struct config *cfg, int runs, uint64_t *ms, char *err, size_t errlen)
{
	struct job_limits lim = media_limits(cfg);
	struct sandbox_result res;
	char prog[64];
	const char *argv[] = {prog, NULL};
	uint64_t t[16];

	if (runs < 1 || runs > 16)
		runs = 5;
	if (!find_program("true", prog, sizeof(prog))) {
		worker_err(err, errlen, "no /usr/bin/true to time the sandbox with");
		return -ENOENT;
	}
	for (int i = 0; i < runs; i++) {
		uint64_t t0 = now_ns();
		int rc = cli_sandbox_exec(cfg, &lim, argv, NULL, -1, -1, -1, quiet, NULL, &res, err,
					  errlen);
		if (rc < 0)
			return rc;
		if (res.exit_code != 0) {
			worker_err(err, errlen, "true in the sandbox exited %d: %s", res.exit_code,
				   res.reason);
			return -EIO;
		}
		t[i] = (now_ns() - t0) / 1000000;
	}
	qsort(t, (size_t)runs, sizeof(t[0]), cmp_u64);
	*ms = t[runs / 2];
	return 0;
}
