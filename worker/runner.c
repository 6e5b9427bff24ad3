/* runner.c - one job in flight, from its specs to its verdict, on a libuv loop.
 *
 * Why the job is watched here and not waited for: a worker runs many jobs on one loop,
 * and every part of a job can hang (a script that never exits, an encoder that never
 * finishes, a write end parked in flight that keeps a pipe from reaching EOF), so each
 * is a handle on the loop with a bound: the sandbox's pidfd, the script's stderr (a
 * short drain once the sandbox is gone), the encoder's job socket, the seccomp listener
 * (at most MAX_DENIED_ANSWERED answers) and one wall clock for the whole job. That
 * clock is the runner's alone (specs.h): the script's sandbox has no deadline of its
 * own, so the encode and the finalise are covered and one sentence tells the timeout.
 *
 * runner_start() reads as its steps (the specs from specs.c, then open the output, the
 * pipes, the sandbox, the encoder, and watch); the job is over when the encoder has
 * exited, the sandbox is reaped and the log is closed (maybe_finish), and then
 * verdict.c decides why it ended, without I/O, before the runner moves the file into
 * place and hints.c explains a failure.
 */
#define _GNU_SOURCE
#include "runner.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "encoder.h"
#include "hints.h"
#include "logtail.h"
#include "pool.h"
#include "render.h"
#include "sandbox.h"
#include "specs.h"
#include "verdict.h"

/* Bigger than the 64 KiB default: the script's writes and the encoder's reads batch
 * better. */
#define FRAME_PIPE_BYTES (1 << 20)
/* How long a script may take to exit by itself once the encoder closed its stream at the
 * frame ceiling. (Before that the encoder drained the stream for up to RENDER_DRAIN_MS,
 * counting bytes: a script that ended by itself meanwhile had its arithmetic checked.) */
#define CEILING_GRACE_MS 1000
/* After the sandbox is gone, how long its stderr may take to reach EOF: a write end
 * parked in flight would hold it open for good. */
#define LOG_DRAIN_MS 250
/* Denied calls the worker answers (and names) per job before it leaves the rest to the
 * kernel. */
#define MAX_DENIED_ANSWERED 1000

struct runner {
	uv_loop_t *loop;
	const struct runner_ops *ops;
	void *opaque;
	struct runner_result res;

	struct sandbox *sb;
	struct sandbox_result sbres;
	struct pool *pool;  /* where a warm sandbox may come from, or NULL */
	unsigned pool_slot; /* a warm sandbox's slot, given back once it is destroyed */
	int64_t total_frames;
	uint32_t timeout_s;
	uint64_t start_ns;
	uint64_t encoder_memory;    /* the encoder cgroup's limit, for the sentence */
	char *tmp_path;		    /* the temporary video file the encoder writes */
	char *poster_tmp;	    /* the temporary poster file beside it ("" once moved) */
	int64_t poster_frame;	    /* the job's "poster_frame", or -1: the encoder picks */
	int64_t still;		    /* run --still's frame (a PNG, no video, no poster), or -1 */
	char *sheet_tmp;	    /* the contact sheet's temporary file, like the poster's */
	int sheet_cols, sheet_rows; /* the job's contact sheet; 0: none */
	/* A job with audio: the file it names in $SCRATCH, and the second temporary file
	 * the encoder remuxes the video and its track into (the one committed) */
	char audio_name[256];
	char *audio_tmp;
	int audio_handed; /* AUDIO or AUDIO_NONE was sent */

	/* The encoder process (encoder.h): its job socket, pidfd and what it said. */
	int enc_sock, enc_pidfd;
	uv_poll_t enc_poll;
	int enc_done, enc_stream_end, enc_protocol_error, have_result, have_status;
	int enc_status;
	struct encoder_msg enc_result;
	int64_t frames_done;
	uint64_t first_progress_ns, last_progress_ns; /* when frames were first / last reported */

	uv_poll_t pidfd_poll;
	uv_poll_t notify_poll; /* the seccomp listener; open only when notify_fd >= 0 */
	int notify_fd;
	int denied_answered;
	uv_timer_t deadline; /* the job's wall clock: script, encode and finalise */
	uv_timer_t grace;    /* after the ceiling: the script's time to exit by itself */
	uv_timer_t drain;    /* after the reap: the log pipe's time to reach EOF */
	uv_pipe_t log_pipe;
	int handles_open;
	int log_open, reaped, ceiling_killed, grace_fired, finished, timed_out;
	int64_t last_progress;
	char cancel_reason[200];
	struct logtail log;
	struct hints hints; /* what a failure sentence may tell (hints.h) */
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void on_handle_closed(uv_handle_t *h)
{
	struct runner *r = h->data;

	if (--r->handles_open == 0)
		r->ops->done(r->opaque, &r->res);
}

static void close_handle(struct runner *r, uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, on_handle_closed);
}

/* What the sandbox and the encoder said, as verdict.h's facts. */
static void gather_facts(const struct runner *r, const struct sandbox_helper_usage *usage,
			 struct verdict_facts *f)
{
	*f = (struct verdict_facts){
	    .cancel_reason = r->cancel_reason,
	    .timed_out = r->timed_out,
	    .grace_fired = r->grace_fired,
	    .timeout_s = r->timeout_s,
	    .frames_done = r->frames_done,
	    .total_frames = r->total_frames,
	    .sb = &r->sbres,
	    .enc_done = r->enc_done,
	    .enc_stream_end = r->enc_stream_end,
	    .have_result = r->have_result,
	    .result = &r->enc_result,
	    .protocol_error = r->enc_protocol_error,
	    .have_status = r->have_status,
	    .status = r->enc_status,
	    .oom = usage->oom,
	    .encoder_memory = r->encoder_memory,
	};
}

/* The result's measurements: the sandbox's, the encoder's cgroup's and its RESULT. */
static void measure(struct runner *r, const struct sandbox_helper_usage *usage)
{
	struct runner_result *res = &r->res;
	const struct sandbox_result *sb = &r->sbres;
	const struct encoder_msg *er = &r->enc_result;

	res->exit_code = sb->exit_code;
	res->signal = sb->signal;
	res->sandbox_ms = sb->wall_ms;
	res->peak_memory_bytes = sb->peak_memory_bytes;
	res->script_cpu_ms = sb->cpu_ms;
	res->encoder_cpu_ms = usage->cpu_ms;
	res->encoder_peak_memory_bytes = usage->peak_memory_bytes;
	res->frames = r->frames_done;
	/* A job that ended without the encoder's own figures (killed, failed) still says
	 * when its frames came, from the progress reports (coarser: they are batched). */
	if (r->first_progress_ns) {
		res->first_frame_ms = (r->first_progress_ns - r->start_ns) / 1000000;
		res->encode_ms = (r->last_progress_ns - r->first_progress_ns) / 1000000;
	}
	if (!r->have_result)
		return;
	if (er->rc == 0) {
		res->frames = er->frames;
		res->first_frame_ms = er->first_frame_ms;
		res->encode_ms = er->encode_ms;
		memcpy(res->stream_kind, er->stream_kind, sizeof(res->stream_kind));
	}
	if (er->rc == 0 && r->audio_name[0]) {
		snprintf(res->audio_name, sizeof(res->audio_name), "%s", r->audio_name);
		snprintf(res->audio_codec, sizeof(res->audio_codec), "%s", er->audio_codec);
		res->audio_samples = er->audio_samples;
		res->audio_source_s = (double)er->audio_source_us / 1e6;
		res->audio_fitted = er->audio_fitted;
	}
	res->frame_cap_hit = (er->flags & ENCODER_F_FRAME_CAP_HIT) != 0;
	res->n_warnings = 0;
	for (int i = 0; i < RENDER_MAX_WARNINGS && i < RUNNER_MAX_WARNINGS; i++)
		if (er->warnings[i][0])
			snprintf(res->warnings[res->n_warnings++], RUNNER_WARNING_LEN, "%s",
				 er->warnings[i]);
}

/* The poster goes into place after its video: the size the encoder reported must
 * match the file, as for the video. A poster that cannot be moved leaves the video
 * standing, without a poster. */
static void commit_poster(struct runner *r)
{
	const struct encoder_msg *er = &r->enc_result;
	char err[256];
	struct stat st;

	if (!r->poster_tmp || !r->poster_tmp[0] || er->poster_bytes == 0 ||
	    stat(r->poster_tmp, &st) < 0 || (uint64_t)st.st_size != er->poster_bytes)
		return;
	runner_poster_path(r->res.output, r->res.poster, sizeof(r->res.poster));
	if (render_output_commit(r->poster_tmp, r->res.poster, err, sizeof(err)) < 0) {
		r->res.poster[0] = '\0';
		return;
	}
	r->poster_tmp[0] = '\0';
	r->res.poster_frame = er->poster_frame;
	r->res.poster_ms = er->poster_ms;
}

/* The contact sheet likewise, after the video. */
static void commit_sheet(struct runner *r)
{
	const struct encoder_msg *er = &r->enc_result;
	char err[256];
	struct stat st;

	if (!r->sheet_tmp || !r->sheet_tmp[0] || er->sheet_bytes == 0 ||
	    stat(r->sheet_tmp, &st) < 0 || (uint64_t)st.st_size != er->sheet_bytes)
		return;
	runner_sheet_path(r->res.output, r->res.contact_sheet, sizeof(r->res.contact_sheet));
	if (render_output_commit(r->sheet_tmp, r->res.contact_sheet, err, sizeof(err)) < 0) {
		r->res.contact_sheet[0] = '\0';
		return;
	}
	r->sheet_tmp[0] = '\0';
	r->res.sheet_filled = er->sheet_filled;
}

/* A committed verdict's file goes into place; a failure turns the verdict. */
static void commit_video(struct runner *r, struct verdict *v)
{
	/* With audio the file is the remux beside it; the video-only one is removed. */
	char *file = r->audio_tmp ? r->audio_tmp : r->tmp_path;
	struct stat st;

	/* The encoder is confined but parsed untrusted bytes: its size must match. */
	if (stat(file, &st) < 0 || (uint64_t)st.st_size != r->enc_result.bytes) {
		v->end = RUNNER_END_ENCODER_FAILED;
		snprintf(v->error, sizeof(v->error),
			 "the encoder's file does not match its report");
	} else if (render_output_commit(file, r->res.output, v->error, sizeof(v->error)) == 0) {
		file[0] = '\0';
		commit_poster(r);
		commit_sheet(r);
	} else {
		v->end = RUNNER_END_INTERNAL;
		if (!v->error[0])
			snprintf(v->error, sizeof(v->error), "could not move the video into place");
	}
}

/* The job is over: measure, decide (verdict.c), commit, explain. */
static void decide(struct runner *r)
{
	struct runner_result *res = &r->res;
	struct sandbox_helper_usage usage;
	struct verdict_facts f;
	struct verdict v;

	sandbox_helper_usage(r->sb, &usage);
	measure(r, &usage);
	gather_facts(r, &usage, &f);
	verdict_decide(&f, &v);
	if (v.commit)
		commit_video(r, &v);
	res->cancelled = v.cancelled;
	res->limit_hit = v.limit_hit;
	if (v.error[0]) {
		res->succeeded = 0;
		res->end = v.end;
		snprintf(res->error, sizeof(res->error), "%s", v.error);
		res->bytes = 0;
		res->sha256[0] = '\0';
	} else {
		res->succeeded = 1;
		res->end = RUNNER_END_SUCCEEDED;
		res->bytes = r->enc_result.bytes;
		memcpy(res->sha256, r->enc_result.sha256, sizeof(res->sha256));
	}
	logtail_copy(&r->log, res->log_tail, sizeof(res->log_tail));
	if (!res->succeeded && !res->cancelled)
		hints_explain(&r->hints, res->log_tail, r->frames_done, res->error,
			      sizeof(res->error));
	res->total_ms = (now_ns() - r->start_ns) / 1000000;
}

static void kill_encoder(struct runner *r)
{
	if (r->enc_pidfd >= 0)
		pidfd_send_signal(r->enc_pidfd, SIGKILL, NULL, 0);
	if (r->sb)
		sandbox_helper_kill(r->sb);
}

static void close_log(struct runner *r);

/* Called whenever something finished: the job is over when the encoder has exited,
 * the sandbox is reaped and the script's stderr is closed. */
static void maybe_finish(struct runner *r)
{
	if (r->finished || !r->enc_done || !r->reaped || r->log_open)
		return;
	r->finished = 1;
	logtail_flush(&r->log);
	decide(r);
	if (r->tmp_path[0])
		unlink(r->tmp_path);
	if (r->poster_tmp && r->poster_tmp[0])
		unlink(r->poster_tmp);
	if (r->sheet_tmp && r->sheet_tmp[0])
		unlink(r->sheet_tmp);
	if (r->audio_tmp && r->audio_tmp[0])
		unlink(r->audio_tmp);
	/* The polls go first: uv_close() takes their fds out of the loop's epoll set
	 * before the fds are closed. */
	if (r->notify_fd >= 0)
		close_handle(r, (uv_handle_t *)&r->notify_poll);
	close_handle(r, (uv_handle_t *)&r->enc_poll);
	sandbox_destroy(r->sb);
	r->sb = NULL;
	close_handle(r, (uv_handle_t *)&r->deadline);
	close_handle(r, (uv_handle_t *)&r->grace);
	close_handle(r, (uv_handle_t *)&r->drain);
	close_handle(r, (uv_handle_t *)&r->pidfd_poll);
}

static void on_ceiling_grace(uv_timer_t *h)
{
	struct runner *r = h->data;

	if (!r->reaped && r->sb) {
		r->grace_fired = 1;
		sandbox_kill(r->sb, SANDBOX_KILLED, "the frame ceiling was reached");
	}
}

static void enc_finished(struct runner *r)
{
	if (r->enc_done)
		return;
	r->enc_done = 1;
	uv_poll_stop(&r->enc_poll);
	maybe_finish(r);
}

static void on_enc_msg(struct runner *r, const struct encoder_msg *m, int pidfd)
{
	switch (m->type) {
	case ENCODER_STARTED:
		if (r->enc_pidfd < 0)
			r->enc_pidfd = pidfd;
		else
			close(pidfd);
		/* Killed meanwhile: the new process must not outlive the decision. */
		if (r->timed_out || r->cancel_reason[0])
			kill_encoder(r);
		break;
	case ENCODER_PROGRESS:
	case ENCODER_STREAM_END:
		if (m->frames > r->frames_done && m->frames <= r->total_frames) {
			r->last_progress_ns = now_ns();
			if (!r->frames_done)
				r->first_progress_ns = r->last_progress_ns;
			r->frames_done = m->frames;
			if (r->ops->progress && r->frames_done != r->last_progress) {
				r->last_progress = r->frames_done;
				r->ops->progress(r->opaque, r->frames_done, r->total_frames);
			}
		}
		if (m->type != ENCODER_STREAM_END || r->enc_stream_end)
			break;
		r->enc_stream_end = 1;
		/* The ceiling was reached and the stream closed: a script that stops by
		 * itself within the grace keeps its own exit status; one that goes on is
		 * stopped. */
		if (m->value && !r->reaped && !r->ceiling_killed && r->sb) {
			r->ceiling_killed = 1;
			uv_timer_start(&r->grace, on_ceiling_grace, CEILING_GRACE_MS, 0);
		}
		break;
	case ENCODER_RESULT:
		if (!r->have_result && m->frames <= r->total_frames) {
			r->enc_result = *m;
			r->have_result = 1;
		}
		break;
	case ENCODER_EXITED:
		r->enc_status = (int)m->value;
		r->have_status = 1;
		enc_finished(r);
		break;
	}
}

/* The encoder's job socket: drain every pending record; a record that breaks the
 * protocol ends the encoder (it parsed untrusted bytes and may be compromised). */
static void on_enc(uv_poll_t *h, int status, int events)
{
	struct runner *r = h->data;
	struct encoder_msg m;
	int pidfd, n;

	for (int i = 0; i < 64 && !r->enc_done; i++) {
		n = encoder_read(r->enc_sock, &m, &pidfd);
		if (n == 0)
			return;
		if (n == -EPROTO) {
			r->enc_protocol_error = 1;
			kill_encoder(r);
			continue;
		}
		if (n < 0) {
			enc_finished(r);
			return;
		}
		on_enc_msg(r, &m, pidfd);
	}
}

static void on_drain(uv_timer_t *h)
{
	close_log(h->data);
}

/* The sandbox is gone: the audio file the job names is opened beneath its scratch dir,
 * by descriptor (sandbox_scratch_open: no link followed, regular files only, a FIFO
 * cannot block), and handed to the encoder, which decodes it in its confinement; the
 * worker reads none of it. Without the file the encoder is told why, and the job fails
 * with that sentence. */
static void hand_audio(struct runner *r)
{
	char err[400];
	int fd;

	if (!r->audio_name[0] || r->audio_handed)
		return;
	r->audio_handed = 1;
	/* Handed whatever the script's end: whether that end was a success (a script
	 * stopped at the frame ceiling is one) is verdict.c's to say, after the encoder's
	 * RESULT, and a failed script's sentence wins over the audio's there. */
	fd = sandbox_scratch_open(r->sb, r->audio_name, "audio", err, sizeof(err));
	if (fd < 0) {
		encoder_send_audio_none(r->enc_sock, err);
		return;
	}
	if (encoder_send_audio(r->enc_sock, fd) < 0)
		encoder_send_audio_none(r->enc_sock,
					"could not hand the audio file to the encoder");
	close(fd);
}

static void on_pidfd(uv_poll_t *h, int status, int events)
{
	struct runner *r = h->data;

	if (r->reaped)
		return;
	if (sandbox_try_reap(r->sb, &r->sbres) == 0) {
		r->reaped = 1;
		uv_poll_stop(h);
		uv_timer_stop(&r->grace);
		/* Every process of the sandbox is gone: what the pipes hold is all there is.
		 * A write end parked in flight (SCM_RIGHTS) would keep them from reaching
		 * EOF, so the encoder drains what is buffered and stops, and the log gets a
		 * short grace, then is closed. */
		if (!r->enc_done) {
			encoder_stop(r->enc_sock);
			hand_audio(r);
		}
		if (r->log_open)
			uv_timer_start(&r->drain, on_drain, LOG_DRAIN_MS, 0);
		maybe_finish(r);
	}
}

/* A process of the sandbox made a denied system call and waits for the answer:
 * answer it (the call fails in the script) and put the sentence into the job log, so
 * it shows in the result's log tail and on the terminal. */
static void on_notify(uv_poll_t *h, int status, int events)
{
	struct runner *r = h->data;
	char msg[512], line[600];
	int n;

	if (!r->sb || status < 0) {
		uv_poll_stop(h);
		return;
	}
	n = sandbox_notify_handle(r->sb, msg, sizeof(msg));
	if (n < 0) {
		/* Hung up: every process of the sandbox is gone. Level-triggered, so it
		 * would fire again and again. */
		uv_poll_stop(h);
		return;
	}
	if (++r->denied_answered == MAX_DENIED_ANSWERED) {
		/* Enough to tell the author what went wrong; more would only spend the
		 * worker's CPU on the job. The kernel answers the rest (ENOSYS). uv_close()
		 * takes the fd out of the loop before the listener is closed. */
		close_handle(r, (uv_handle_t *)h);
		sandbox_notify_close(r->sb);
		r->notify_fd = -1;
		logtail_flush(&r->log);
		n = snprintf(line, sizeof(line),
			     "reelbox: %d denied system calls answered; later ones fail with "
			     "ENOSYS without a report\n",
			     MAX_DENIED_ANSWERED);
		logtail_feed(&r->log, line, (size_t)n);
		return;
	}
	if (n == 0)
		return;
	/* A line of its own, not glued to a half-written line of the script's. */
	logtail_flush(&r->log);
	n = snprintf(line, sizeof(line), "reelbox: %s\n", msg);
	logtail_feed(&r->log, line, n < (int)sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* The job's wall clock ran out, in whatever phase: everything of the job dies. */
static void on_deadline(uv_timer_t *h)
{
	struct runner *r = h->data;
	char reason[128];

	if (r->finished)
		return;
	r->timed_out = 1;
	job_timeout_sentence(reason, sizeof(reason), r->timeout_s);
	if (r->sb && !r->reaped)
		sandbox_kill(r->sb, SANDBOX_TIMEOUT, reason);
	kill_encoder(r);
	close_log(r);
}

static void on_log_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	static __thread char chunk[16384];

	buf->base = chunk;
	buf->len = sizeof(chunk);
}

static void on_log_closed(uv_handle_t *h)
{
	struct runner *r = h->data;

	r->log_open = 0;
	maybe_finish(r);
	on_handle_closed(h);
}

static void close_log(struct runner *r)
{
	if (r->log_open && !uv_is_closing((uv_handle_t *)&r->log_pipe))
		uv_close((uv_handle_t *)&r->log_pipe, on_log_closed);
}

static void on_log_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct runner *r = s->data;

	if (n > 0) {
		logtail_feed(&r->log, buf->base, (size_t)n);
		return;
	}
	if (n < 0)
		close_log(r);
}

static void emit_log_line(void *opaque, const char *line, size_t len)
{
	struct runner *r = opaque;

	if (r->ops->log_line)
		r->ops->log_line(r->opaque, line, len);
}

/* What runner_start opens before the loop watches anything: the specs, the script's
 * stdout (frames) and stderr (log) pipes and the temporary video file. Each step takes
 * what it needs and closes what it hands on; launch_close() closes the rest. */
struct launch {
	struct job_sandbox box;
	struct render_spec rspec;
	int frame[2], log[2];
	int tmp_fd;
	int poster_fd;
	int sheet_fd;
	int audio_fd;
	const int *join_fds; /* a chunked job's join (job.h): its chunk files */
	int n_join;
};

static void launch_close(struct launch *l)
{
	for (int i = 0; i < 2; i++) {
		if (l->frame[i] >= 0)
			close(l->frame[i]);
		if (l->log[i] >= 0)
			close(l->log[i]);
		l->frame[i] = l->log[i] = -1;
	}
	if (l->tmp_fd >= 0)
		close(l->tmp_fd);
	if (l->poster_fd >= 0)
		close(l->poster_fd);
	if (l->sheet_fd >= 0)
		close(l->sheet_fd);
	if (l->audio_fd >= 0)
		close(l->audio_fd);
	l->tmp_fd = l->poster_fd = l->sheet_fd = l->audio_fd = -1;
	job_sandbox_free(&l->box);
}

static int runner_new(uv_loop_t *loop, const struct job *job, const struct config *cfg,
		      const struct launch *l, const struct runner_ops *ops, void *opaque,
		      struct runner **out)
{
	struct runner *r = calloc(1, sizeof(*r));
	int rc;

	if (!r)
		return -ENOMEM;
	r->loop = loop;
	r->notify_fd = -1;
	r->enc_sock = -1;
	r->enc_pidfd = -1;
	r->ops = ops;
	r->opaque = opaque;
	r->start_ns = now_ns();
	r->total_frames = job->frames;
	/* A join has no frame stream to end: its encoder sends no STREAM_END. */
	r->enc_stream_end = job->n_join_fds > 0;
	r->audio_handed = job->n_join_fds > 0; /* and no audio file to hand over */
	r->timeout_s = job->limits.timeout_s;
	r->encoder_memory = l->box.spec.helper.memory_bytes;
	r->res.exit_code = -1;
	r->poster_frame = job->poster_frame >= 0 ? job->poster_frame : -1;
	r->still = job->still >= 0 ? job->still : -1;
	r->sheet_cols = job->sheet_cols;
	r->sheet_rows = job->sheet_rows;
	snprintf(r->audio_name, sizeof(r->audio_name), "%s", job->audio);
	r->res.width = job->width;
	r->res.height = job->height;
	r->res.fps = job->fps;
	r->res.fps_den = job->fps_den;
	r->res.tier = job->resolved_tier;
	snprintf(r->res.output, sizeof(r->res.output), "%s", l->rspec.output);
	hints_init(&r->hints, job, cfg);
	rc = logtail_init(&r->log, RUNNER_LOG_TAIL, emit_log_line, r);
	if (rc < 0) {
		free(r);
		return rc;
	}
	*out = r;
	return 0;
}

/* The video's path with its extension replaced by ext. */
static int side_path(const char *video, const char *ext, char *out, size_t len)
{
	const char *slash = strrchr(video, '/');
	const char *dot = strrchr(slash ? slash + 1 : video, '.');
	int stem =
	    dot && dot != (slash ? slash + 1 : video) ? (int)(dot - video) : (int)strlen(video);

	return snprintf(out, len, "%.*s%s", stem, video, ext) < (int)len ? 0 : -ENAMETOOLONG;
}

int runner_poster_path(const char *video, char *out, size_t len)
{
	return side_path(video, ".jpg", out, len);
}

int runner_sheet_path(const char *video, char *out, size_t len)
{
	return side_path(video, ".sheet.jpg", out, len);
}

/* A job with a contact sheet (render/sheet.c) gets a third temporary file, handled as
 * the poster's. */
static int open_sheet(struct runner *r, struct launch *l, char *err, size_t errlen)
{
	char sheet[PATH_MAX];

	if (!r->sheet_cols || !r->sheet_rows)
		return 0;
	if (runner_sheet_path(l->rspec.output, sheet, sizeof(sheet)) < 0) {
		snprintf(err, errlen, "output path is too long for its contact sheet");
		return -ENAMETOOLONG;
	}
	l->sheet_fd = render_output_temp(sheet, &r->sheet_tmp, err, errlen);
	if (l->sheet_fd < 0)
		return l->sheet_fd;
	l->rspec.sheet_fd = l->sheet_fd;
	l->rspec.use_sheet_fd = 1;
	l->rspec.sheet_cols = r->sheet_cols;
	l->rspec.sheet_rows = r->sheet_rows;
	return 0;
}

/* Every video gets a poster (render/poster.c): a second temporary file beside the
 * video's, written by the same confined encoder, moved into place with the video. */
static int open_poster(struct runner *r, struct launch *l, char *err, size_t errlen)
{
	char poster[PATH_MAX];

	if (runner_poster_path(l->rspec.output, poster, sizeof(poster)) < 0) {
		snprintf(err, errlen, "output path is too long for its poster");
		return -ENAMETOOLONG;
	}
	l->poster_fd = render_output_temp(poster, &r->poster_tmp, err, errlen);
	if (l->poster_fd < 0)
		return l->poster_fd;
	l->rspec.poster_fd = l->poster_fd;
	l->rspec.use_poster_fd = 1;
	l->rspec.poster_frame = r->poster_frame;
	return 0;
}

/* A job with audio gets a second temporary video file beside the first: the confined
 * encoder remuxes the finished video with the track into it (it may open nothing), and
 * that one is committed. */
static int open_audio(struct runner *r, struct launch *l, char *err, size_t errlen)
{
	/* A join's audio is in its chunks (PCM), encoded once into the joined file. */
	if (!r->audio_name[0] || l->n_join)
		return 0;
	l->audio_fd = render_output_temp(l->rspec.output, &r->audio_tmp, err, errlen);
	if (l->audio_fd < 0)
		return l->audio_fd;
	l->rspec.audio_out_fd = l->audio_fd;
	l->rspec.use_audio = 1;
	l->rspec.audio_name = r->audio_name;
	l->rspec.audio_wait_s = r->timeout_s;
	return 0;
}

/* The temporary file beside the output that the encoder writes into. */
static int open_output(struct runner *r, struct launch *l, char *err, size_t errlen)
{
	const char *output = l->rspec.output;
	int rc;

	if (r->still >= 0) {
		/* A still: the PNG goes where the video would, through the same temporary
		 * file and checks; there is no poster beside it. */
		l->rspec.still = 1;
		l->rspec.poster_frame = r->still;
		l->tmp_fd = render_output_temp(output, &r->tmp_path, err, errlen);
		return l->tmp_fd < 0 ? l->tmp_fd : 0;
	}
	if (render_container_from_path(output) < 0) {
		snprintf(err, errlen, "output \"%s\" must end in .mp4, .webm, .gif or .mov",
			 output);
		return -EINVAL;
	}
	l->tmp_fd = render_output_temp(output, &r->tmp_path, err, errlen);
	if (l->tmp_fd < 0)
		return l->tmp_fd;
	if ((rc = open_poster(r, l, err, errlen)) < 0 || (rc = open_audio(r, l, err, errlen)) < 0)
		return rc;
	return open_sheet(r, l, err, errlen);
}

static int open_pipes(struct launch *l, char *err, size_t errlen)
{
	if (pipe2(l->frame, O_CLOEXEC) < 0 || pipe2(l->log, O_CLOEXEC) < 0) {
		int rc = -errno;

		snprintf(err, errlen, "cannot create pipes: %s", strerror(errno));
		return rc;
	}
	fcntl(l->frame[1], F_SETPIPE_SZ, FRAME_PIPE_BYTES);
	return 0;
}

/* The script's sandbox, writing frames and log into the pipes; the worker keeps no
 * write end. */
/* A warm sandbox from the pool, first of all: the script starts while the outputs open
 * (its frames wait in the pipe for the encoder). Its own pipes are the job's. 1 when
 * taken; 0 (the job starts cold, later) otherwise. */
static int take_warm(struct runner *r, struct launch *l, struct pool *pool)
{
	uint64_t t0 = uv_hrtime();
	int frame_fd, log_fd;

	if (!pool || pool_take(pool, &l->box, &r->sb, &frame_fd, &log_fd, &r->pool_slot,
			       &r->res.cold_why) != 1)
		return 0;
	r->pool = pool;
	l->frame[0] = frame_fd;
	l->log[0] = log_fd;
	fcntl(frame_fd, F_SETPIPE_SZ, FRAME_PIPE_BYTES);
	r->res.warm = 1;
	r->res.sandbox_start_us = (uv_hrtime() - t0) / 1000;
	return 1;
}

/* The script's sandbox, cold: its pipes, then the start; the worker keeps no write end. */
static int start_sandbox(struct runner *r, struct launch *l, char *err, size_t errlen)
{
	uint64_t t0;
	int rc;

	if (r->res.warm)
		return 0;
	if ((rc = open_pipes(l, err, errlen)) < 0)
		return rc;
	t0 = uv_hrtime();
	l->box.spec.stdout_fd = l->frame[1];
	l->box.spec.stderr_fd = l->log[1];
	rc = sandbox_start(&l->box.spec, &r->sb, err, errlen);
	/* namespaces, root, cgroup and filter made, the script exec'd: the start's cost */
	r->res.sandbox_start_us = (uv_hrtime() - t0) / 1000;
	close(l->frame[1]);
	close(l->log[1]);
	l->frame[1] = l->log[1] = -1;
	return rc;
}

/* The encoder, in the sandbox's helper box: the frames go from the script's pipe
 * straight into it, and the worker keeps no end of that pipe at all. */
static int start_encoder(struct runner *r, struct launch *l, char *err, size_t errlen)
{
	struct sandbox_helper_ticket ticket;
	int rc;

	memset(&ticket, 0, sizeof(ticket));
	for (int i = 0; i < SANDBOX_HELPER_MAX_CG; i++)
		ticket.cg_fds[i] = -1;
	rc = sandbox_helper_ticket(r->sb, &ticket, err, errlen);
	if (rc == 0) {
		rc = l->n_join
			 ? encoder_spawn_join(&l->rspec, l->join_fds, l->n_join, l->tmp_fd, &ticket,
					      err, errlen)
			 : encoder_spawn(&l->rspec, l->frame[0], l->tmp_fd, &ticket, err, errlen);
		if (rc >= 0) {
			r->enc_sock = rc;
			rc = 0;
		}
	}
	sandbox_helper_ticket_close(&ticket);
	close(l->frame[0]);
	close(l->tmp_fd);
	if (l->poster_fd >= 0)
		close(l->poster_fd);
	if (l->sheet_fd >= 0)
		close(l->sheet_fd);
	if (l->audio_fd >= 0)
		close(l->audio_fd);
	l->frame[0] = l->tmp_fd = l->poster_fd = l->sheet_fd = l->audio_fd = -1;
	return rc;
}

/* From here the loop watches the job: the sandbox's pidfd, the script's stderr, the
 * encoder's job socket, the seccomp listener and the job's wall clock. */
static void watch(struct runner *r, struct launch *l)
{
	uv_loop_t *loop = r->loop;

	uv_timer_init(loop, &r->deadline);
	uv_timer_init(loop, &r->grace);
	uv_timer_init(loop, &r->drain);
	uv_poll_init(loop, &r->pidfd_poll, sandbox_pidfd(r->sb));
	uv_poll_init(loop, &r->enc_poll, r->enc_sock);
	uv_pipe_init(loop, &r->log_pipe, 0);
	r->deadline.data = r->grace.data = r->drain.data = r;
	r->pidfd_poll.data = r->enc_poll.data = r->log_pipe.data = r;
	r->handles_open = 6;
	r->notify_fd = sandbox_notify_fd(r->sb);
	/* Without the poll a denied call would block the script for good: end the job. */
	if (r->notify_fd >= 0 && uv_poll_init(loop, &r->notify_poll, r->notify_fd) < 0) {
		r->notify_fd = -1;
		sandbox_kill(r->sb, SANDBOX_KILLED, "cannot watch the sandbox's seccomp listener");
	}
	if (r->notify_fd >= 0) {
		r->notify_poll.data = r;
		r->handles_open++;
		uv_poll_start(&r->notify_poll, UV_READABLE, on_notify);
	}
	uv_pipe_open(&r->log_pipe, l->log[0]);
	l->log[0] = -1;
	r->log_open = 1;
	uv_read_start((uv_stream_t *)&r->log_pipe, on_log_alloc, on_log_read);
	uv_poll_start(&r->pidfd_poll, UV_READABLE, on_pidfd);
	uv_poll_start(&r->enc_poll, UV_READABLE | UV_DISCONNECT, on_enc);
	/* The one owner of a job's wall clock (specs.h): the sandbox has no deadline. */
	if (r->timeout_s)
		uv_timer_start(&r->deadline, on_deadline, (uint64_t)r->timeout_s * 1000, 0);
}

/* A job becomes its specs (specs.c), then: open the output, the pipes, the sandbox,
 * the encoder, and watch. A failed step leaves nothing running and nothing behind. */
int runner_start(uv_loop_t *loop, const struct job *job, const struct config *cfg,
		 const char *output, unsigned slot, struct pool *pool, const struct runner_ops *ops,
		 void *opaque, struct runner **out, char *err, size_t errlen)
{
	struct launch l = {.frame = {-1, -1},
			   .log = {-1, -1},
			   .tmp_fd = -1,
			   .poster_fd = -1,
			   .sheet_fd = -1,
			   .audio_fd = -1};
	struct runner *r = NULL;
	int rc;

	if ((rc = job_sandbox_spec(&l.box, job, cfg, slot, err, errlen)) < 0)
		goto fail;
	job_render_spec(job, output, &l.rspec);
	l.join_fds = job->join_fds;
	l.n_join = job->n_join_fds;
	if ((rc = runner_new(loop, job, cfg, &l, ops, opaque, &r)) < 0)
		goto fail;
	take_warm(r, &l, pool);
	if ((rc = open_output(r, &l, err, errlen)) < 0 ||
	    (rc = start_sandbox(r, &l, err, errlen)) < 0 ||
	    (rc = start_encoder(r, &l, err, errlen)) < 0)
		goto fail;
	watch(r, &l);
	launch_close(&l);
	*out = r;
	return 0;

fail:
	launch_close(&l);
	runner_free(r); /* the sandbox, the temporary file, the log */
	return rc < 0 ? rc : -EIO;
}

void runner_cancel(struct runner *r, const char *reason)
{
	if (r->finished || r->cancel_reason[0])
		return;
	snprintf(r->cancel_reason, sizeof(r->cancel_reason), "%s", reason ? reason : "cancelled");
	if (r->sb && !r->reaped)
		sandbox_kill(r->sb, SANDBOX_KILLED, r->cancel_reason);
	kill_encoder(r);
	close_log(r);
}

void runner_free(struct runner *r)
{
	if (!r)
		return;
	if (r->sb)
		sandbox_destroy(r->sb);
	if (r->res.warm && r->pool)
		pool_slot_release(r->pool, r->pool_slot);
	if (r->enc_pidfd >= 0) {
		pidfd_send_signal(r->enc_pidfd, SIGKILL, NULL, 0);
		close(r->enc_pidfd);
	}
	if (r->enc_sock >= 0)
		close(r->enc_sock);
	if (r->tmp_path) {
		if (r->tmp_path[0])
			unlink(r->tmp_path);
		free(r->tmp_path);
	}
	if (r->poster_tmp) {
		if (r->poster_tmp[0])
			unlink(r->poster_tmp);
		free(r->poster_tmp);
	}
	if (r->sheet_tmp) {
		if (r->sheet_tmp[0])
			unlink(r->sheet_tmp);
		free(r->sheet_tmp);
	}
	if (r->audio_tmp) {
		if (r->audio_tmp[0])
			unlink(r->audio_tmp);
		free(r->audio_tmp);
	}
	logtail_free(&r->log);
	free(r);
}

const char *runner_end_name(enum runner_end end)
{
	static const char *const names[] = {
	    [RUNNER_END_SUCCEEDED] = "succeeded",
	    [RUNNER_END_SCRIPT_FAILED] = "script_failed",
	    [RUNNER_END_LIMIT] = "limit",
	    [RUNNER_END_TIMEOUT] = "timeout",
	    [RUNNER_END_CANCELLED] = "cancelled",
	    [RUNNER_END_BAD_STREAM] = "bad_stream",
	    [RUNNER_END_ENCODER_FAILED] = "encoder_failed",
	    [RUNNER_END_INTERNAL] = "internal",
	    [RUNNER_END_MODEL] = "model",
	};

	if ((unsigned)end >= sizeof(names) / sizeof(names[0]))
		return "internal";
	return names[end];
}
