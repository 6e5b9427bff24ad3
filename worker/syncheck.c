/* syncheck.c - a script parsed, not run, in the sandbox its render would get.
 *
 * Why a sandbox for a parse: the checker is the runtime itself reading untrusted bytes
 * (a parser bug, a tokenizer that recurses, a "coding:" line naming a codec), so it gets
 * exactly what the script's render would: the job's limits, /job read-only, no network.
 * Why on the loop: the worker runs many slots on one loop, so the check is watched like
 * a render (runner.c): the sandbox's pidfd, its stderr into a bounded logtail, one uv
 * timer for its deadline, and a short drain of the pipe once the sandbox is reaped.
 *
 * The check is over when the sandbox is reaped and its stderr is closed (maybe_finish);
 * then the sandbox is destroyed (its cgroup removed: the slot's render must find it
 * gone), the verdict decided from the exit status and the log, and cb runs once every
 * handle has closed. syncheck_cancel() destroys the sandbox at once and never calls cb.
 */
#define _GNU_SOURCE
#include "syncheck.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hints.h"
#include "logtail.h"
#include "runtime_kind.h"
#include "sandbox.h"
#include "specs.h"

/* After the sandbox is gone, how long its stderr may take to reach EOF (a write end
 * parked in flight would hold it open for good; as in runner.c). */
#define LOG_DRAIN_MS 250
/* The failure message in a sentence: the interpreter's line, cut. */
#define MESSAGE_MAX 300
/* A source line Python would show under its error, with its caret: longer ones (or a
 * caret further out) are left out, so the location line and the error line both stay
 * in the bounded tail. */
#define PY_TEXT_MAX "200"

/* Python: compile() the file (py_compile would write a .pyc), print the error the way
 * Python prints it (its location, the offending line, the caret, "SyntaxError: ...")
 * and exit 1. Nothing of the script runs; -E and -S keep the operator's PYTHON* and
 * site-packages out of a parse that needs neither. The path is argv[1], never code. */
static const char py_check[] =
    "import sys\n"
    "p = sys.argv[1]\n"
    "try:\n"
    "    compile(open(p, 'rb').read(), p, 'exec', 0, True)\n"
    "except Exception as e:\n"
    "    import traceback\n"
    "    if isinstance(e, SyntaxError) and max(len(e.text or ''), e.offset or 0,\n"
    "            getattr(e, 'end_offset', 0) or 0) > " PY_TEXT_MAX ":\n"
    "        e.text = None\n"
    "    sys.stderr.write(''.join(traceback.format_exception_only(type(e), e)))\n"
    "    sys.exit(1)\n";

struct syncheck {
	uv_loop_t *loop;
	syncheck_done_cb cb;
	void *opaque;
	char job_path[JOB_NAME_MAX + 8]; /* "/job/<name>": the only path a sentence names */
	uint64_t deadline_ms;

	struct sandbox *sb;
	struct sandbox_result sbres;
	uv_poll_t pidfd_poll;
	uv_timer_t deadline;
	uv_timer_t drain;
	uv_pipe_t log_pipe;
	int handles_open;
	int log_open, reaped, timed_out, finished, cancelled;
	long where; /* the line a location line named (Python's File "...", line N; node's
		     * /job/x.js:N), 0 if none */
	struct logtail log;
	char chunk[4096];

	int rc;
	char sentence[SYNCHECK_SENTENCE];
	char log_tail[SYNCHECK_LOG_TAIL + 1];
};

/* What a check runs: argv and the storage it points into. */
struct checker {
	const char *argv[8];
	char luac[PATH_MAX];
	char lua_code[(JOB_NAME_MAX + 8) * 4 + 160];
};

/* ---- the checker's command line ---- */

/* luac of the runtime's own Lua (luac5.4 for lua5.4: another version's parser would
 * refuse good code or pass bad), beside the runtime or in /usr/bin; 0 when found. */
static int find_luac(const char *rt_path, const char *real_base, char *out, size_t len)
{
	char dir[PATH_MAX], pattern[PATH_MAX + 8];
	const char *version = real_base + 3; /* after "lua" */
	const char *dirs[2];
	int found = 0;

	if (!strncmp(real_base, "luajit", 6))
		return -ENOENT;
	snprintf(dir, sizeof(dir), "%s", rt_path);
	dirs[0] = dirname(dir);
	dirs[1] = "/usr/bin";
	for (int d = 0; d < 2 && !found; d++) {
		glob_t g;

		snprintf(pattern, sizeof(pattern), "%s/luac*", dirs[d]);
		if (glob(pattern, 0, NULL, &g) != 0)
			continue;
		for (size_t i = 0; i < g.gl_pathc && !found; i++) {
			char *real = realpath(g.gl_pathv[i], NULL);
			const char *base = real ? strrchr(real, '/') + 1 : "";

			if (real && !strncmp(base, "luac", 4) && !strcmp(base + 4, version) &&
			    access(real, X_OK) == 0) {
				snprintf(out, len, "%s", real);
				found = 1;
			}
			free(real);
		}
		globfree(&g);
	}
	return found ? 0 : -ENOENT;
}

/* Lua without luac: the runtime loadfile()s the path (a compile, no run). The path goes
 * into the code as \ddd escapes: a script name may hold quotes and brackets, and must
 * not become code (a name like x").."... would). */
static void lua_code(const char *path, char *code, size_t len)
{
	size_t n = (size_t)snprintf(code, len, "local f, e = loadfile(\"");

	for (const unsigned char *p = (const unsigned char *)path; *p && n < len; p++)
		n += (size_t)snprintf(code + n, len - n, "\\%03u", *p);
	if (n < len)
		snprintf(code + n, len - n,
			 "\") if not f then io.stderr:write(tostring(e), \"\\n\") os.exit(1) end");
}

/* The checker for rt on path: 0 with argv filled, 1 when the runtime has none. */
static int checker_argv(const struct runtime *rt, const char *path, struct checker *ck)
{
	char real_base[NAME_MAX + 1];
	const char *own = strrchr(rt->path, '/');
	int n = 0;

	switch (runtime_kind(rt, real_base, sizeof(real_base))) {
	case RUNTIME_PYTHON:
		ck->argv[n++] = rt->path;
		ck->argv[n++] = "-E";
		ck->argv[n++] = "-S";
		ck->argv[n++] = "-c";
		ck->argv[n++] = py_check;
		break;
	case RUNTIME_SHELL:
		/* busybox named as itself would take -n for an applet's name. */
		if (own && !strcmp(own + 1, "busybox"))
			return 1;
		ck->argv[n++] = rt->path;
		ck->argv[n++] = "-n";
		break;
	case RUNTIME_NODE:
		ck->argv[n++] = rt->path;
		ck->argv[n++] = "--check";
		break;
	case RUNTIME_LUA:
		if (find_luac(rt->path, real_base, ck->luac, sizeof(ck->luac)) == 0) {
			ck->argv[n++] = ck->luac;
			ck->argv[n++] = "-p";
			break;
		}
		lua_code(path, ck->lua_code, sizeof(ck->lua_code));
		ck->argv[n++] = rt->path;
		ck->argv[n++] = "-e";
		ck->argv[n++] = ck->lua_code;
		ck->argv[n] = NULL;
		return 0;
	case RUNTIME_OTHER:
		return 1;
	}
	ck->argv[n++] = path;
	ck->argv[n] = NULL;
	return 0;
}

/* ---- the verdict ---- */

/* Cut s to at most max bytes on a character boundary, marking the cut with "...". */
static void cut_utf8(char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return;
	n = max - 3;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	memcpy(s + n, "...", 4);
}

/* Copy src into out[len], cut on a character boundary (src is well-formed UTF-8). */
static void copy_cut(char *out, size_t len, const char *src)
{
	size_t n = strnlen(src, len - 1);

	if (src[n])
		while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
			n--;
	memcpy(out, src, n);
	out[n] = '\0';
}

/* A line number right after the script's path in a line: "/job/x.py", line 3 (Python),
 * /job/x.js:3 alone on its line (node). 0 when the line is not one of those. */
static long location_line(const char *line, const char *path)
{
	const char *p = strstr(line, path);
	char *end;
	long n;

	if (!p)
		return 0;
	p += strlen(path);
	if (!strncmp(p, "\", line ", 8))
		p += 8;
	else if (*p == ':')
		p++;
	else
		return 0;
	if (!isdigit((unsigned char)*p))
		return 0;
	n = strtol(p, &end, 10);
	if (*end && *end != ',' && !(*end == '\n' && !end[1]))
		return 0;
	return n > 0 ? n : 0;
}

/* Every clean line of the checker's stderr passes here: the location is kept even when
 * a long source line pushes it out of the tail. */
static void on_log_line(void *opaque, const char *line, size_t len)
{
	struct syncheck *c = opaque;
	long n = location_line(line, c->job_path);

	if (n > 0 && (!c->where || strstr(line, "\", line ")))
		c->where = n;
}

/* The interpreter's error line as a message: the prefix up to the script's path goes
 * (the checker's own name, the path), "N:" and "line N:" become "line N: ", and a
 * message without its line gets the location's: "SyntaxError: ... (line 3)". */
static void failure_message(const struct syncheck *c, const char *pick, char *out, size_t len)
{
	const char *p = strstr(pick, c->job_path), *after, *rest;
	char *end = NULL;
	long n = 0;

	if (!p) {
		copy_cut(out, len, pick);
	} else {
		after = p + strlen(c->job_path);
		after += strspn(after, ": ");
		rest = after;
		if (!strncmp(rest, "line ", 5))
			rest += 5;
		if (isdigit((unsigned char)*rest))
			n = strtol(rest, &end, 10);
		if (n > 0 && *end == ':')
			snprintf(out, len, "line %ld: %s", n, end + 1 + strspn(end + 1, " "));
		else
			copy_cut(out, len, after);
	}
	cut_utf8(out, MESSAGE_MAX);
	if (strncmp(out, "line ", 5) && c->where > 0)
		snprintf(out + strlen(out), len - strlen(out), " (line %ld)", c->where);
}

static void format_ms(char *buf, size_t len, uint64_t ms)
{
	if (ms % 1000 == 0)
		snprintf(buf, len, "%llu s", (unsigned long long)(ms / 1000));
	else
		snprintf(buf, len, "%llu ms", (unsigned long long)ms);
}

/* Why the check ended, from the sandbox's result and the log: rc and sentence. */
static void decide(struct syncheck *c)
{
	const struct sandbox_result *r = &c->sbres;
	char pick[MESSAGE_MAX + 200], msg[MESSAGE_MAX + 40], when[32];

	logtail_copy(&c->log, c->log_tail, sizeof(c->log_tail));
	if (c->timed_out) {
		format_ms(when, sizeof(when), c->deadline_ms);
		c->rc = -ETIMEDOUT;
		snprintf(c->sentence, sizeof(c->sentence),
			 "the syntax check did not finish within %s and was stopped", when);
	} else if (r->end != SANDBOX_EXITED || r->signal) {
		c->rc = -EIO;
		snprintf(c->sentence, sizeof(c->sentence), "the syntax check was stopped: %s",
			 r->reason[0] ? r->reason : "its sandbox ended it");
	} else if (r->exit_code == 0) {
		c->rc = 1;
		c->sentence[0] = c->log_tail[0] = '\0';
	} else if ((r->exit_code == 126 || r->exit_code == 127) &&
		   strstr(c->log_tail, "reelbox-init: ")) {
		c->rc = -ENOENT;
		snprintf(c->sentence, sizeof(c->sentence),
			 "the syntax check could not start: its interpreter cannot be executed "
			 "in the sandbox (exit status %d)",
			 r->exit_code);
	} else if (hints_last_error_line(c->log_tail, pick, sizeof(pick))) {
		c->rc = 0;
		failure_message(c, pick, msg, sizeof(msg));
		snprintf(c->sentence, sizeof(c->sentence), "the script does not parse: %s", msg);
	} else {
		c->rc = 0;
		snprintf(c->sentence, sizeof(c->sentence),
			 "the script does not parse (its syntax check exited with status %d "
			 "without a message)",
			 r->exit_code);
	}
}

/* ---- the loop ---- */

static void on_handle_closed(uv_handle_t *h)
{
	struct syncheck *c = h->data;

	if (--c->handles_open > 0)
		return;
	if (!c->cancelled)
		c->cb(c->opaque, c->rc, c->sentence, c->log_tail);
	logtail_free(&c->log);
	free(c);
}

static void close_handle(uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, on_handle_closed);
}

static void close_log(struct syncheck *c);

/* The check is over when the sandbox is reaped and its stderr closed: the sandbox is
 * destroyed (cgroup and state gone) before anything else, then the handles close and
 * the last one to close calls cb. */
static void maybe_finish(struct syncheck *c)
{
	if (c->finished || c->cancelled || !c->reaped || c->log_open)
		return;
	c->finished = 1;
	logtail_flush(&c->log);
	/* The poll goes first: uv_close() takes the pidfd out of the loop's epoll set
	 * before sandbox_destroy() closes it. */
	close_handle((uv_handle_t *)&c->pidfd_poll);
	sandbox_destroy(c->sb);
	c->sb = NULL;
	decide(c);
	close_handle((uv_handle_t *)&c->deadline);
	close_handle((uv_handle_t *)&c->drain);
}

static void on_drain(uv_timer_t *h)
{
	close_log(h->data);
}

static void on_pidfd(uv_poll_t *h, int status, int events)
{
	struct syncheck *c = h->data;

	if (c->reaped || !c->sb)
		return;
	if (sandbox_try_reap(c->sb, &c->sbres) == 0) {
		c->reaped = 1;
		uv_poll_stop(h);
		uv_timer_stop(&c->deadline);
		if (c->log_open)
			uv_timer_start(&c->drain, on_drain, LOG_DRAIN_MS, 0);
		maybe_finish(c);
	}
}

/* The deadline: the sandbox dies; the pidfd reports the reap as for any end. */
static void on_deadline(uv_timer_t *h)
{
	struct syncheck *c = h->data;

	if (c->reaped || !c->sb)
		return;
	c->timed_out = 1;
	sandbox_kill(c->sb, SANDBOX_TIMEOUT, "the syntax check's deadline passed");
}

static void on_log_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct syncheck *c = h->data;

	buf->base = c->chunk;
	buf->len = sizeof(c->chunk);
}

static void on_log_closed(uv_handle_t *h)
{
	struct syncheck *c = h->data;

	c->log_open = 0;
	maybe_finish(c);
	on_handle_closed(h);
}

static void close_log(struct syncheck *c)
{
	if (c->log_open && !uv_is_closing((uv_handle_t *)&c->log_pipe))
		uv_close((uv_handle_t *)&c->log_pipe, on_log_closed);
}

/* The checker's stderr: every byte goes through the logtail (bounded memory, clean
 * lines); the tail is what the verdict reads. */
static void on_log_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct syncheck *c = s->data;

	if (n > 0)
		logtail_feed(&c->log, buf->base, (size_t)n);
	else if (n < 0)
		close_log(c);
}

/* From here the loop watches the check: its pidfd, its stderr and its deadline. */
static void watch(struct syncheck *c, int log_fd)
{
	uv_timer_init(c->loop, &c->deadline);
	uv_timer_init(c->loop, &c->drain);
	uv_poll_init(c->loop, &c->pidfd_poll, sandbox_pidfd(c->sb));
	uv_pipe_init(c->loop, &c->log_pipe, 0);
	c->deadline.data = c->drain.data = c->pidfd_poll.data = c->log_pipe.data = c;
	c->handles_open = 4;
	uv_pipe_open(&c->log_pipe, log_fd);
	c->log_open = 1;
	uv_read_start((uv_stream_t *)&c->log_pipe, on_log_alloc, on_log_read);
	uv_poll_start(&c->pidfd_poll, UV_READABLE, on_pidfd);
	uv_timer_start(&c->deadline, on_deadline, c->deadline_ms, 0);
}

/* The job's sandbox running the checker, its stderr into log[1] (closed here). */
static int start_sandbox(struct syncheck *c, const struct job *job, const struct config *cfg,
			 unsigned slot, const struct checker *ck, int log_w, char *err,
			 size_t errlen)
{
	struct job_sandbox box;
	int rc;

	rc = job_sandbox_spec(&box, job, cfg, slot, err, errlen);
	if (rc == 0) {
		box.spec.argv = ck->argv;
		box.spec.stdout_fd = -1;
		box.spec.stderr_fd = log_w;
		/* A parse encodes nothing: no encoder box beside the sandbox. */
		box.spec.helper.enabled = 0;
		rc = sandbox_start(&box.spec, &c->sb, err, errlen);
	}
	job_sandbox_free(&box);
	if (rc < 0)
		return rc;
	/* Denied calls are not answered: the checker needs none, and the kernel fails
	 * them (ENOSYS) at no cost to the worker once the listener is closed. */
	sandbox_notify_close(c->sb);
	return 0;
}

int syncheck_start(uv_loop_t *loop, const struct job *job, const struct config *cfg, unsigned slot,
		   syncheck_done_cb cb, void *opaque, struct syncheck **out, char *err,
		   size_t errlen)
{
	const struct runtime *rt = config_find_runtime(cfg, job->runtime);
	struct checker ck;
	struct syncheck *c;
	int log[2], rc;

	if (!rt) {
		snprintf(err, errlen, "unknown runtime '%s'", job->runtime);
		return -EINVAL;
	}
	if (!job->script) {
		snprintf(err, errlen, "the job has no script to check");
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory for the syntax check");
		return -ENOMEM;
	}
	snprintf(c->job_path, sizeof(c->job_path), "/job/%s", job->script_name);
	if (checker_argv(rt, c->job_path, &ck) == 1) {
		free(c);
		return 1;
	}
	c->loop = loop;
	c->cb = cb;
	c->opaque = opaque;
	c->deadline_ms = SYNCHECK_MAX_MS;
	if (job->limits.timeout_s && (uint64_t)job->limits.timeout_s * 1000 < c->deadline_ms)
		c->deadline_ms = (uint64_t)job->limits.timeout_s * 1000;
	if ((rc = logtail_init(&c->log, SYNCHECK_LOG_TAIL, on_log_line, c)) < 0) {
		free(c);
		snprintf(err, errlen, "out of memory for the syntax check");
		return rc;
	}
	if (pipe2(log, O_CLOEXEC) < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot create a pipe for the syntax check: %s",
			 strerror(errno));
		logtail_free(&c->log);
		free(c);
		return rc;
	}
	rc = start_sandbox(c, job, cfg, slot, &ck, log[1], err, errlen);
	close(log[1]);
	if (rc < 0) {
		close(log[0]);
		logtail_free(&c->log);
		free(c);
		return rc;
	}
	watch(c, log[0]);
	*out = c;
	return 0;
}

void syncheck_cancel(struct syncheck *c)
{
	if (!c || c->cancelled)
		return;
	c->cancelled = 1;
	if (c->finished)
		return; /* the handles are closing; the last one frees without cb */
	close_handle((uv_handle_t *)&c->pidfd_poll);
	/* Kills what is left, reaps and removes the cgroup now: the slot is free. */
	sandbox_destroy(c->sb);
	c->sb = NULL;
	close_handle((uv_handle_t *)&c->deadline);
	close_handle((uv_handle_t *)&c->drain);
	if (!uv_is_closing((uv_handle_t *)&c->log_pipe))
		uv_close((uv_handle_t *)&c->log_pipe, on_log_closed);
}
