#define _GNU_SOURCE
#include "runner.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "logtail.h"
#include "render.h"
#include "sandbox.h"

/* Bigger than the 64 KiB default: the script's writes and our reads batch better. */
#define FRAME_PIPE_BYTES (1 << 20)
/* How long a script may take to exit by itself once its frame ceiling was reached. */
#define CEILING_GRACE_MS 1000

struct runner {
	uv_loop_t *loop;
	const struct runner_ops *ops;
	void *opaque;
	struct runner_result res;

	struct sandbox *sb;
	struct sandbox_result sbres;
	struct render *render;
	int64_t total_frames;
	uint32_t timeout_s;
	uint64_t start_ns;

	int frame_fd; /* read end, owned by the render thread until it is done */
	uv_thread_t thread;
	int thread_started;
	int render_rc;
	char render_err[512];
	struct render_result rres;
	atomic_int render_done;
	atomic_llong frames_done;

	uv_async_t async;
	uv_poll_t pidfd_poll;
	uv_poll_t notify_poll; /* the seccomp listener; open only when notify_fd >= 0 */
	int notify_fd;
	uv_timer_t timer;
	uv_pipe_t log_pipe;
	int handles_open;
	int log_open, reaped, ceiling_killed, finished;
	int64_t last_progress;
	char cancel_reason[200];
	struct logtail log;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void fmt_env(char ***pp, char **strp, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fmt_env(char ***pp, char **strp, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsprintf(*strp, fmt, ap);
	va_end(ap);
	**pp = *strp;
	(*pp)++;
	*strp += n + 1;
}

char **runner_build_env(const struct job *job, const struct runtime *rt)
{
	int n_rt = rt ? rt->n_env : 0;
	size_t slots = 10 + (size_t)n_rt;
	size_t strbytes = 9 * 64 + (size_t)n_rt * 130 + 256;
	char **env = calloc(1, slots * sizeof(char *) + strbytes);
	char **p;
	char *s;

	if (!env)
		return NULL;
	p = env;
	s = (char *)(env + slots);
	fmt_env(&p, &s, "WIDTH=%d", job->width);
	fmt_env(&p, &s, "HEIGHT=%d", job->height);
	fmt_env(&p, &s, "FPS=%d", job->fps);
	fmt_env(&p, &s, "FRAMES=%lld", (long long)job->frames);
	fmt_env(&p, &s, "PIX_FMT=%s", job->pix_fmt[0] ? job->pix_fmt : "rgb24");
	fmt_env(&p, &s, "SCRATCH=%s", "/scratch");
	fmt_env(&p, &s, "HOME=%s", "/scratch");
	fmt_env(&p, &s, "PATH=%s", "/usr/local/bin:/usr/bin:/bin");
	fmt_env(&p, &s, "LANG=%s", "C.UTF-8");
	for (int i = 0; i < n_rt; i++)
		fmt_env(&p, &s, "%.127s", rt->env[i]);
	*p = NULL;
	return env;
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

static const char *signal_name(int sig)
{
	static char buf[16];
	const char *abbrev = sigabbrev_np(sig);

	if (!abbrev)
		return "an unknown signal";
	snprintf(buf, sizeof(buf), "SIG%s", abbrev);
	return buf;
}

/* Turn what the sandbox and the encoder said into one verdict and one sentence. The
 * order matters: a cancel or a limit explains a broken stream, a script's own failure
 * explains a missing frame, and only a clean exit with a clean stream is committed. */
static void decide(struct runner *r)
{
	struct runner_result *res = &r->res;
	const struct sandbox_result *sb = &r->sbres;
	char err[512];
	int commit = 0;

	res->exit_code = sb->exit_code;
	res->signal = sb->signal;
	res->sandbox_ms = sb->wall_ms;
	res->peak_memory_bytes = sb->peak_memory_bytes;
	res->frames = atomic_load(&r->frames_done);
	if (r->render_rc == 0) {
		res->frames = r->rres.frames;
		res->first_frame_ms = r->rres.first_frame_ms;
		res->encode_ms = r->rres.encode_ms;
		memcpy(res->stream_kind, r->rres.stream_kind, sizeof(res->stream_kind));
	}

	err[0] = '\0';
	if (r->cancel_reason[0]) {
		res->cancelled = 1;
		snprintf(err, sizeof(err), "%s", r->cancel_reason);
	} else if (r->ceiling_killed && r->render_rc == 0) {
		/* The frame count is a ceiling: stopping the script there is success. */
		commit = 1;
	} else if (sb->end != SANDBOX_EXITED && sb->end != SANDBOX_KILLED) {
		res->limit_hit = 1;
		snprintf(err, sizeof(err), "%s",
			 sb->reason[0] ? sb->reason : "a sandbox limit was reached");
	} else if (sb->signal == SIGSYS) {
		/* The sandbox's reason names the calls it kills for ("the command was
		 * killed by SIGSYS: ..."). */
		const char *why = sb->reason;
		if (!strncmp(why, "the command ", 12))
			why += 12;
		snprintf(err, sizeof(err), "script %s",
			 why[0] ? why
				: "was killed by SIGSYS: it made a system call the "
				  "sandbox does not allow");
	} else if (sb->signal) {
		snprintf(err, sizeof(err), "script was killed by signal %d (%s)", sb->signal,
			 signal_name(sb->signal));
	} else if (sb->exit_code != 0 && sb->denied_calls) {
		/* A failure right after a denied call is most likely caused by it. */
		snprintf(err, sizeof(err),
			 "script exited with status %d after a denied system "
			 "call (%s); see the log",
			 sb->exit_code, sb->last_denied);
	} else if (sb->exit_code != 0) {
		snprintf(err, sizeof(err), "script exited with status %d; see the log",
			 sb->exit_code);
	} else if (r->render_rc != 0) {
		snprintf(err, sizeof(err), "%s",
			 r->render_err[0] ? r->render_err
					  : "the frame stream could not be encoded");
	} else {
		commit = 1;
	}
	if (commit && render_commit(r->render, err, sizeof(err)) != 0 && !err[0])
		snprintf(err, sizeof(err), "could not move the video into place");

	if (err[0]) {
		res->succeeded = 0;
		snprintf(res->error, sizeof(res->error), "%s", err);
		res->bytes = 0;
		res->sha256[0] = '\0';
	} else {
		res->succeeded = 1;
		res->bytes = r->rres.bytes;
		memcpy(res->sha256, r->rres.sha256, sizeof(res->sha256));
	}
	logtail_copy(&r->log, res->log_tail, sizeof(res->log_tail));
	res->total_ms = (now_ns() - r->start_ns) / 1000000;
}

/* Called whenever something finished: the job is over when the render thread is done,
 * the sandbox is reaped and the script's stderr is drained. */
static void maybe_finish(struct runner *r)
{
	if (r->finished || !atomic_load(&r->render_done) || !r->reaped || r->log_open)
		return;
	r->finished = 1;
	uv_thread_join(&r->thread);
	r->thread_started = 0;
	logtail_flush(&r->log);
	decide(r);
	/* The listener poll goes first: uv_close() takes its fd out of the loop's epoll
	 * set before sandbox_destroy() closes the fd. */
	if (r->notify_fd >= 0)
		close_handle(r, (uv_handle_t *)&r->notify_poll);
	sandbox_destroy(r->sb);
	r->sb = NULL;
	close_handle(r, (uv_handle_t *)&r->async);
	close_handle(r, (uv_handle_t *)&r->timer);
	close_handle(r, (uv_handle_t *)&r->pidfd_poll);
}

static void on_progress_frame(void *opaque, int64_t done)
{
	struct runner *r = opaque;

	atomic_store(&r->frames_done, done);
	uv_async_send(&r->async);
}

static void render_thread(void *arg)
{
	struct runner *r = arg;

	r->render_rc = render_stream(r->render, r->frame_fd, on_progress_frame, r, r->render_err,
				     sizeof(r->render_err));
	/* Closing our end now makes a script that keeps writing get EPIPE at once. */
	close(r->frame_fd);
	r->frame_fd = -1;
	uv_async_send(&r->async);
	if (r->render_rc == 0)
		r->render_rc =
		    render_finish(r->render, &r->rres, r->render_err, sizeof(r->render_err));
	atomic_store(&r->render_done, 1);
	uv_async_send(&r->async);
}

static void on_ceiling_grace(uv_timer_t *h)
{
	struct runner *r = h->data;

	if (!r->reaped && r->sb)
		sandbox_kill(r->sb, SANDBOX_KILLED, "the frame ceiling was reached");
}

static void on_async(uv_async_t *h)
{
	struct runner *r = h->data;
	int64_t done = atomic_load(&r->frames_done);

	if (done != r->last_progress && r->ops->progress) {
		r->last_progress = done;
		r->ops->progress(r->opaque, done, r->total_frames);
	}
	/* The ceiling was reached and the stream closed: a script that stops by itself
	 * within the grace keeps its own exit status; one that goes on is stopped. */
	if (r->frame_fd < 0 && done >= r->total_frames && !r->reaped && !r->ceiling_killed &&
	    r->sb) {
		r->ceiling_killed = 1;
		uv_timer_start(&r->timer, on_ceiling_grace, CEILING_GRACE_MS, 0);
	}
	maybe_finish(r);
}

static void on_pidfd(uv_poll_t *h, int status, int events)
{
	struct runner *r = h->data;

	if (r->reaped)
		return;
	if (sandbox_try_reap(r->sb, &r->sbres) == 0) {
		r->reaped = 1;
		uv_poll_stop(h);
		uv_timer_stop(&r->timer);
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
	if (n == 0)
		return;
	/* A line of its own, not glued to a half-written line of the script's. */
	logtail_flush(&r->log);
	n = snprintf(line, sizeof(line), "reelbox: %s\n", msg);
	logtail_feed(&r->log, line, n < (int)sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void on_timeout(uv_timer_t *h)
{
	struct runner *r = h->data;
	char reason[128];

	if (r->reaped || !r->sb)
		return;
	snprintf(reason, sizeof(reason), "wall-clock timeout of %u s reached", r->timeout_s);
	sandbox_kill(r->sb, SANDBOX_TIMEOUT, reason);
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

static void on_log_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct runner *r = s->data;

	if (n > 0) {
		logtail_feed(&r->log, buf->base, (size_t)n);
		return;
	}
	if (n < 0 && !uv_is_closing((uv_handle_t *)s))
		uv_close((uv_handle_t *)s, on_log_closed);
}

static void emit_log_line(void *opaque, const char *line, size_t len)
{
	struct runner *r = opaque;

	if (r->ops->log_line)
		r->ops->log_line(r->opaque, line, len);
}

int runner_start(uv_loop_t *loop, const struct job *job, const struct config *cfg,
		 const char *output, unsigned slot, const struct runner_ops *ops, void *opaque,
		 struct runner **out, char *err, size_t errlen)
{
	const struct runtime *rt = config_find_runtime(cfg, job->runtime);
	struct runner *r;
	int frame_pipe[2] = {-1, -1}, log_pipe[2] = {-1, -1};
	char **env = NULL;
	char script_path[JOB_NAME_MAX + 8];
	int rc;

	if (!rt) {
		snprintf(err, errlen, "unknown runtime '%s'", job->runtime);
		return -EINVAL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->loop = loop;
	r->notify_fd = -1;
	r->ops = ops;
	r->opaque = opaque;
	r->frame_fd = -1;
	r->start_ns = now_ns();
	r->total_frames = job->frames;
	r->timeout_s = job->limits.timeout_s;
	r->res.exit_code = -1;
	r->res.width = job->width;
	r->res.height = job->height;
	r->res.fps = job->fps;
	snprintf(r->res.output, sizeof(r->res.output), "%s", output);
	rc = logtail_init(&r->log, RUNNER_LOG_TAIL, emit_log_line, r);
	if (rc < 0)
		goto fail;

	struct render_spec rspec = {
	    .width = job->width,
	    .height = job->height,
	    .fps = job->fps,
	    .pix_fmt = job->pix_fmt,
	    .max_frames = job->frames,
	    .output = output,
	    .crf = job->crf,
	    .preset = job->preset[0] ? job->preset : NULL,
	};
	if (pipe2(frame_pipe, O_CLOEXEC) < 0 || pipe2(log_pipe, O_CLOEXEC) < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot create pipes: %s", strerror(errno));
		goto fail;
	}
	fcntl(frame_pipe[1], F_SETPIPE_SZ, FRAME_PIPE_BYTES);

	env = runner_build_env(job, rt);
	if (!env) {
		rc = -ENOMEM;
		goto fail;
	}
	snprintf(script_path, sizeof(script_path), "/job/%s", job->script_name);
	const char *argv[] = {rt->path, script_path, NULL};
	struct sandbox_file file = {
	    .name = job->script_name,
	    .data = job->script,
	    .len = job->script_len,
	};
	struct sandbox_spec spec = {
	    .argv = argv,
	    .envp = (const char *const *)env,
	    .files = &file,
	    .n_files = 1,
	    .stdin_fd = -1,
	    .stdout_fd = frame_pipe[1],
	    .stderr_fd = log_pipe[1],
	    .slot = slot,
	    .state_dir = cfg->state_dir[0] ? cfg->state_dir : NULL,
	    .limits =
		{
		    .timeout_ms = (uint64_t)job->limits.timeout_s * 1000,
		    .memory_bytes = (uint64_t)job->limits.memory_mb << 20,
		    .scratch_bytes = (uint64_t)job->limits.scratch_mb << 20,
		    .pids = job->limits.pids,
		    .cpus = job->limits.cpus,
		    .cpu_seconds = (uint64_t)job->limits.timeout_s * 2 + 10,
		},
	};
	rc = sandbox_start(&spec, &r->sb, err, errlen);
	free(env);
	env = NULL;
	close(frame_pipe[1]);
	close(log_pipe[1]);
	frame_pipe[1] = log_pipe[1] = -1;
	if (rc < 0)
		goto fail;
	/* The encoder opens while the script starts up (the first use loads libav), the
	 * frame pipe holding what the script writes meanwhile. */
	rc = render_open(&rspec, &r->render, err, errlen);
	if (rc < 0) {
		sandbox_destroy(r->sb);
		r->sb = NULL;
		goto fail;
	}

	r->frame_fd = frame_pipe[0];
	frame_pipe[0] = -1;

	uv_async_init(loop, &r->async, on_async);
	uv_timer_init(loop, &r->timer);
	uv_poll_init(loop, &r->pidfd_poll, sandbox_pidfd(r->sb));
	uv_pipe_init(loop, &r->log_pipe, 0);
	r->async.data = r->timer.data = r->pidfd_poll.data = r->log_pipe.data = r;
	r->handles_open = 4;
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
	uv_pipe_open(&r->log_pipe, log_pipe[0]);
	log_pipe[0] = -1;
	r->log_open = 1;
	uv_read_start((uv_stream_t *)&r->log_pipe, on_log_alloc, on_log_read);
	uv_poll_start(&r->pidfd_poll, UV_READABLE, on_pidfd);
	if (r->timeout_s)
		uv_timer_start(&r->timer, on_timeout, sandbox_time_left_ms(r->sb), 0);

	if (uv_thread_create(&r->thread, render_thread, r) != 0) {
		/* Without a reader the job cannot go on: end it as a failure. */
		snprintf(r->render_err, sizeof(r->render_err), "cannot start the encoder thread");
		r->render_rc = -EAGAIN;
		close(r->frame_fd);
		r->frame_fd = -1;
		atomic_store(&r->render_done, 1);
		sandbox_kill(r->sb, SANDBOX_KILLED, "the encoder thread could not start");
	} else {
		r->thread_started = 1;
	}
	*out = r;
	return 0;

fail:
	free(env);
	for (int i = 0; i < 2; i++) {
		if (frame_pipe[i] >= 0)
			close(frame_pipe[i]);
		if (log_pipe[i] >= 0)
			close(log_pipe[i]);
	}
	if (r->render)
		render_close(r->render);
	logtail_free(&r->log);
	free(r);
	return rc < 0 ? rc : -EIO;
}

void runner_cancel(struct runner *r, const char *reason)
{
	if (r->finished || r->cancel_reason[0])
		return;
	snprintf(r->cancel_reason, sizeof(r->cancel_reason), "%s", reason ? reason : "cancelled");
	render_cancel(r->render);
	if (r->sb && !r->reaped)
		sandbox_kill(r->sb, SANDBOX_KILLED, r->cancel_reason);
}

void runner_free(struct runner *r)
{
	if (!r)
		return;
	if (r->thread_started)
		uv_thread_join(&r->thread);
	if (r->sb)
		sandbox_destroy(r->sb);
	if (r->render)
		render_close(r->render);
	logtail_free(&r->log);
	free(r);
}
