/* cli_progress.h - how far a job got, for a person and for a program.
 *
 * `run` and `submit --wait` show the same things: on a terminal one line on stderr,
 * redrawn in place ("reelbox: frame 12/150 (8%) 23.5 fps, ETA 0:06"); with
 * `--progress FILE|-` blocks of key=value lines, as ffmpeg's -progress writes them,
 * each ending with progress=continue and the last with progress=end, so a program
 * that is not a terminal can follow a job too.
 */
#ifndef REELBOX_CLI_PROGRESS_H
#define REELBOX_CLI_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

struct cli_progress {
	FILE *out;	    /* the --progress target, or NULL */
	int own_out;	    /* out was opened here (a file, not stdout) */
	int tty;	    /* draw the line on stderr */
	int shown;	    /* the line is on the terminal now */
	const char *job;    /* the job id for job=, or NULL */
	uint64_t start_ns;  /* when following began */
	uint64_t first_ns;  /* the first progress sample: the ETA's rate starts there */
	int64_t first_done; /* and how many frames it had */
	int64_t done, total;
	uint64_t last_write_ns; /* the last block written to out */
};

/* Set up: target is --progress's argument (NULL: none; "-": stdout, refused when
 * stdout_taken, i.e. with --json); tty whether stderr is a terminal. 0, or
 * EXIT_USAGE after printing the reason for cmd. */
int cli_progress_open(struct cli_progress *p, const char *cmd, const char *target, int stdout_taken,
		      int tty, const char *job);

/* Frames done of total: redraw the line, write a block (at most about twice a second,
 * the last one always). */
void cli_progress_update(struct cli_progress *p, int64_t done, int64_t total);

/* Take the line off the terminal (before printing something else); redraw() puts it
 * back. */
void cli_progress_clear(struct cli_progress *p);
void cli_progress_redraw(struct cli_progress *p);

/* The job is over in state (succeeded, failed, ...): the final block, progress=end;
 * the line is cleared; a file is closed. */
void cli_progress_end(struct cli_progress *p, const char *state);

/* "0:06", "1:02:03": seconds as a clock; "--" for a negative value. */
void cli_format_duration(double secs, char *buf, size_t len);

/* Seconds left at the rate seen since the first sample, or -1 when there is no rate
 * yet. */
double cli_progress_eta(const struct cli_progress *p);

#endif
