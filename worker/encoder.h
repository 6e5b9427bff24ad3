/* encoder.h - the encoder process: a job's frames become a video outside the worker.
 *
 * Encoding is the heaviest work a job causes, and it parses bytes a script wrote, so it
 * runs in a process of its own inside the job's box (sandbox.h's helper: its own
 * cgroup, uid, rlimits and seccomp allowlist), never in the worker. Loading libav costs
 * about 100 ms, so one long-lived "encoder server" (this binary re-executed as
 * `reelbox __encoder`, with an empty environment: it holds no secret) loads it once and
 * forks one confined child per job. The frames flow from the script's pipe straight
 * into that child; the worker only supervises.
 *
 * Per job there is one SOCK_SEQPACKET socket, the job socket. Over it the server says
 * STARTED (with a pidfd of the child) and, after the reap, EXITED with the wait status;
 * the child says PROGRESS, STREAM_END (it stopped reading: EOF, ceiling or error) and
 * RESULT. The worker sends one byte, STOP, when no writer can be left (the sandbox is
 * gone): the child then reads what is buffered and treats the rest as the end, so a
 * write end parked in flight cannot hold the job. A job with audio: after STOP the worker
 * sends AUDIO (the file the script wrote, by SCM_RIGHTS) or AUDIO_NONE (why there is
 * none); the child, its video finished, waits for it (bounded), decodes the file in its
 * confinement and remuxes the video with the track into a second file (render.h's
 * render_audio_mux), whose size and digest RESULT then reports. The socket ends (EOF) when both the
 * child and the server have closed it. Every message is one fixed-size record, checked
 * field by field: the child parsed untrusted bytes and is not believed blindly.
 */
#ifndef REELBOX_ENCODER_H
#define REELBOX_ENCODER_H

#include <stddef.h>
#include <stdint.h>

#include "render.h"
#include "sandbox.h"

enum encoder_msg_type {
	ENCODER_STARTED = 1, /* pid; a pidfd rides along */
	ENCODER_PROGRESS,    /* frames encoded so far */
	ENCODER_STREAM_END,  /* frames, hit_ceiling: the frame pipe is closed */
	ENCODER_RESULT,	     /* rc, err or the render_result fields */
	ENCODER_EXITED,	     /* status: the child's wait status */
};

/* RESULT flags: what the encoder knows about how the stream ended. FRAME_CAP_HIT: the
 * ceiling cut the stream (it held more). CUT: the pipe was closed with the writer maybe
 * still writing (a drain cap, a stream refused early), so a broken pipe is ours. */
#define ENCODER_F_FRAME_CAP_HIT 0x1u
#define ENCODER_F_CUT		0x2u
#define ENCODER_F_KNOWN		(ENCODER_F_FRAME_CAP_HIT | ENCODER_F_CUT)

struct encoder_msg {
	uint32_t type;
	int32_t rc;	/* RESULT: 0 or a negative errno */
	int64_t frames; /* PROGRESS, STREAM_END, RESULT */
	int64_t value;	/* STARTED: pid; EXITED: wait status; STREAM_END: hit_ceiling */
	uint64_t bytes, first_frame_ms, encode_ms;
	uint64_t stream_bytes; /* RESULT: bytes read from the script, drained ones too */
	uint32_t flags;	       /* RESULT: ENCODER_F_* */
	char sha256[65];
	char stream_kind[8];
	char err[512];
	/* RESULT: sentences about likely mistakes in the stream ("" = none), whether or not
	 * it failed (render.h's checks) */
	char warnings[RENDER_MAX_WARNINGS][RENDER_WARNING_LEN];
	/* RESULT: the poster written into the poster file (0 bytes: none could be made), the
	 * frame it shows (-1: none) and the encoder's time for it */
	uint64_t poster_bytes;
	int64_t poster_frame;
	uint64_t poster_ms;
	/* RESULT: the contact sheet written into its file (0 bytes: none), cells filled */
	uint64_t sheet_bytes;
	int32_t sheet_filled;
	/* RESULT of a job with audio (render_spec.use_audio): bytes and sha256 above are the
	 * file with the track (the audio output); the track's codec ("aac", "opus"), its
	 * samples at 48 kHz, the source's length in microseconds and audio.h's fit */
	char audio_codec[8];
	int64_t audio_samples;
	int64_t audio_source_us;
	int32_t audio_fitted;
};

#define SHEET_CELLS_MAX 100 /* 10x10, render/sheet.h's largest grid */

/* Start the encoder server if it is not running (idempotent). Call from a thread that
 * lives as long as the process: the server dies with the thread that forked it. */
int encoder_server_start(char *err, size_t errlen);

/* The program the server runs: NULL (the default) is this very binary. Tests, whose
 * binary is not reelbox, name reelbox here. */
void encoder_set_program(const char *path);

/* Hand one job to a confined encoder child. frame_fd (the script's pipe, read end) and
 * out_fd (the temporary video file) are passed along and may be closed by the caller
 * right after; so is spec->poster_fd (the temporary poster file) when use_poster_fd. Returns the
 * job socket (nonblocking, close-on-exec), or a negative errno with a sentence. */
int encoder_spawn(const struct render_spec *spec, int frame_fd, int out_fd,
		  const struct sandbox_helper_ticket *ticket, char *err, size_t errlen);

/* Hand the join of a chunked job to a confined encoder child (the same helper box as
 * encoder_spawn: the chunk files are bytes other processes wrote, parsed here): n chunk
 * files (1..RENDER_JOIN_MAX_CHUNKS, regular files, read from offset 0) in order, joined
 * packet by packet (render_join) into out_fd, the poster into spec->poster_fd when
 * use_poster_fd. spec names the final video: output's extension, codec, rate, size,
 * max_frames = the frames the chunks must hold in all. The job socket then says
 * STARTED, PROGRESS (frames joined), RESULT (frames, bytes, sha256, the poster fields,
 * or rc and err) and EXITED; no STREAM_END (there is no frame pipe), and STOP is
 * ignored. The descriptors may be closed by the caller right after. Returns the job
 * socket, or a negative errno with a sentence. */
int encoder_spawn_join(const struct render_spec *spec, const int *chunk_fds, int n, int out_fd,
		       const struct sandbox_helper_ticket *ticket, char *err, size_t errlen);

/* Read one message from the job socket without blocking: 1 with *m filled (and
 * *pidfd for STARTED, else -1), 0 when nothing is pending, -EPIPE at the end of the
 * socket, or -EPROTO for a message that breaks the protocol (the caller kills). */
int encoder_read(int sock, struct encoder_msg *m, int *pidfd);

/* Tell the child that no writer is left: drain what is buffered, then finish. */
int encoder_stop(int sock);

/* A job with audio: once the sandbox has exited, hand the child the audio file (a
 * regular file opened beneath the scratch dir by sandbox_scratch_open; the caller closes
 * its copy), or tell it there is none and why (the sentence the job fails with). The
 * child waits for one of the two after its video is finished, at most audio_wait_s. */
int encoder_send_audio(int sock, int fd);
int encoder_send_audio_none(int sock, const char *reason);

/* `reelbox __encoder`: the server's main loop, on the socket at fd 3. */
int encoder_server_main(int argc, char **argv);

#endif
