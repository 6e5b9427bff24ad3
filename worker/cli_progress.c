/* cli_progress.c - the progress line and the --progress key=value blocks (see
 * cli_progress.h). */
#define _GNU_SOURCE
#include "cli_progress.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* A block at most this often (the last one always), like ffmpeg's -stats_period. */
#define PROGRESS_PERIOD_NS 500000000ull

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int cli_progress_open(struct cli_progress *p, const char *cmd, const char *target, int stdout_taken,
		      int tty, const char *job)
{
	memset(p, 0, sizeof(*p));
	p->tty = tty;
	p->job = job;
	p->start_ns = mono_ns();
	if (!target)
		return 0;
	if (!strcmp(target, "-")) {
		if (stdout_taken)
			return cli_usage_error(cmd, "--progress - would mix key=value lines into "
						    "the JSON on stdout; give a file");
		p->out = stdout;
		return 0;
	}
	p->out = fopen(target, "we");
	if (!p->out)
		return cli_usage_error(cmd, "cannot open --progress file '%s': %s", target,
				       strerror(errno));
	p->own_out = 1;
	setvbuf(p->out, NULL, _IOLBF, 0);
	return 0;
}

void cli_format_duration(double secs, char *buf, size_t len)
{
	long s;

	if (secs < 0) {
		snprintf(buf, len, "--");
		return;
	}
	s = (long)(secs + 0.5);
	if (s >= 3600)
		snprintf(buf, len, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
	else
		snprintf(buf, len, "%ld:%02ld", s / 60, s % 60);
}

static double rate(const struct cli_progress *p, uint64_t now)
{
	double secs = (double)(now - p->first_ns) / 1e9;

	if (!p->first_ns || secs <= 0 || p->done <= p->first_done)
		return 0;
	return (double)(p->done - p->first_done) / secs;
}

double cli_progress_eta(const struct cli_progress *p)
{
	double r = rate(p, mono_ns());

	if (r <= 0 || p->total <= 0)
		return -1;
	return (double)(p->total - p->done) / r;
}

void cli_progress_redraw(struct cli_progress *p)
{
	char eta[32];

	if (!p->tty || p->total <= 0)
		return;
	cli_format_duration(cli_progress_eta(p), eta, sizeof(eta));
	fprintf(stderr, "\r\033[Kreelbox: frame %lld/%lld (%d%%) %.1f fps, ETA %s",
		(long long)p->done, (long long)p->total, (int)(100 * p->done / p->total),
		rate(p, mono_ns()), eta);
	p->shown = 1;
}

void cli_progress_clear(struct cli_progress *p)
{
	if (p->tty && p->shown)
		fputs("\r\033[K", stderr);
	p->shown = 0;
}

static void write_block(struct cli_progress *p, const char *state, int end)
{
	uint64_t now = mono_ns();
	double eta = cli_progress_eta(p);

	if (!p->out)
		return;
	if (p->job)
		fprintf(p->out, "job=%s\n", p->job);
	fprintf(p->out, "frame=%lld\ntotal_frames=%lld\nfps=%.2f\nelapsed_ms=%llu\n",
		(long long)p->done, (long long)p->total, rate(p, now),
		(unsigned long long)((now - p->start_ns) / 1000000));
	if (!end)
		fprintf(p->out, "eta_ms=%lld\n", eta < 0 ? -1LL : (long long)(eta * 1000));
	fprintf(p->out, "state=%s\nprogress=%s\n", state, end ? "end" : "continue");
	fflush(p->out);
	p->last_write_ns = now;
}

void cli_progress_update(struct cli_progress *p, int64_t done, int64_t total)
{
	uint64_t now = mono_ns();

	if (!p->first_ns) {
		p->first_ns = now;
		p->first_done = done;
	}
	p->done = done;
	p->total = total;
	cli_progress_redraw(p);
	if (p->out && (now - p->last_write_ns >= PROGRESS_PERIOD_NS || done == total))
		write_block(p, "running", 0);
}

void cli_progress_end(struct cli_progress *p, const char *state)
{
	cli_progress_clear(p);
	write_block(p, state, 1);
	if (p->own_out)
		fclose(p->out);
	p->out = NULL;
}
