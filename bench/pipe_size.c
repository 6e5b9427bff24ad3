/* pipe_size.c - how fast a frame stream crosses a pipe, by pipe size.
 *
 * A child writes FRAMES frames of 1280x720 rgb24 (2.7 MB each) into a pipe, as a render
 * script does; the parent reads them frame by frame into one buffer, as render/stream.c
 * does. Run once with the kernel's default pipe (64 KiB) and once with the 1 MiB that
 * reelbox asks for with F_SETPIPE_SZ. Built and run by bench/pipe_size.sh.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define W     1280
#define H     720
#define FRAME ((size_t)W * H * 3)

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double run(int pipe_bytes, int frames)
{
	int p[2];
	char *buf = malloc(FRAME);
	double t0;
	pid_t pid;

	if (!buf || pipe(p) < 0)
		exit(1);
	if (pipe_bytes)
		fcntl(p[1], F_SETPIPE_SZ, pipe_bytes);
	memset(buf, 0x55, FRAME);
	t0 = now();
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		for (int i = 0; i < frames; i++) {
			size_t off = 0;
			while (off < FRAME) {
				ssize_t n = write(p[1], buf + off, FRAME - off);
				if (n <= 0)
					_exit(1);
				off += (size_t)n;
			}
		}
		_exit(0);
	}
	close(p[1]);
	for (int i = 0; i < frames; i++) {
		size_t off = 0;
		while (off < FRAME) {
			ssize_t n = read(p[0], buf + off, FRAME - off);
			if (n <= 0)
				exit(1);
			off += (size_t)n;
		}
	}
	close(p[0]);
	waitpid(pid, NULL, 0);
	free(buf);
	return now() - t0;
}

int main(int argc, char **argv)
{
	int frames = argc > 1 ? atoi(argv[1]) : 600;
	int sizes[] = {0, 1 << 20};
	const char *names[] = {"64 KiB (default)", "1 MiB (F_SETPIPE_SZ)"};
	double best[2] = {1e9, 1e9};

	for (int rep = 0; rep < 5; rep++)
		for (int i = 0; i < 2; i++) {
			double t = run(sizes[i], frames);
			if (t < best[i])
				best[i] = t;
		}
	printf("%-22s %10s %12s\n", "pipe", "frames/s", "GB/s");
	for (int i = 0; i < 2; i++)
		printf("%-22s %10.0f %12.2f\n", names[i], frames / best[i],
		       frames * (double)FRAME / best[i] / 1e9);
	printf("1 MiB / 64 KiB: %.2fx the throughput (best of 5 runs of %d frames each)\n",
	       best[0] / best[1], frames);
	return 0;
}
