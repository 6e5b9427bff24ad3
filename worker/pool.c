/* pool.c - warm sandboxes (see pool.h).
 *
 * A member is a sandbox started with the python3 runtime running the loader below on
 * the runtime's base environment (no job's variables), stdin a pipe whose write end the
 * pool keeps, stdout and stderr pipes whose read ends the pool keeps. The loader imports
 * numpy and Pillow, writes one byte 'R' to stdout and blocks reading stdin. The pool reads
 * that byte (so the frame stream a job's encoder gets starts with the script's first
 * byte), and the member is ready. A job takes it: the pool writes the job's environment
 * and script into stdin in one non-blocking write (the pipe was sized for it) and closes
 * it; the loader replaces its environment with the job's, makes stdin /dev/null and runs
 * the script as __main__ under the name it has cold (/job/<name>), tracebacks and
 * syntax errors told as a cold start tells them.
 *
 * While a member waits, the pool answers its denied system calls (none are expected: the
 * imports run under the same filter as any job) and watches its stdout: end-of-file
 * before 'R' is a loader that died (its limits, a broken numpy), and the member is
 * destroyed. A member that is not ready within WARM_TIMEOUT_MS, or ready for longer than
 * max_age, is destroyed and replaced: hard lifetimes, here too.
 *
 * The refill's CPU budget: one member warms at a time, in its own cgroup under the
 * default job's cpu quota, so a burst of takes costs running jobs at most that quota of
 * one core until the pool is full again; after three failed starts in a row the pool
 * waits BACKOFF_MS before the next (a host that cannot start one does not spin).
 */
#define _GNU_SOURCE
#include "pool.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "loader.h"
#include "specs.h"
#include "zygote.h"

#define WARM_TIMEOUT_MS	 60000
#define TICK_MS		 1000
#define BACKOFF_MS	 30000
#define FAILS_BEFORE_OFF 3
#define POOL_MAX	 64
#define REFILL_DELAY_MS	 25
#define WAIT_MEMBER_MS	 100 /* a job that fits, for a zygote's member (wait_member) */

struct member {
	struct pool *p;
	struct sandbox *sb;
	int go_fd, frame_fd, log_fd;
	unsigned slot;
	int ready;
	uint64_t born_ms, ready_ms;
	uv_poll_t frame_poll, notify_poll;
	int notify_polled, handles;
	struct member *next;
};

struct pool {
	uv_loop_t *loop;
	const struct config *cfg;
	struct job_sandbox box; /* the members' spec: the loader, the base environment */
	const char *argv[4];
	unsigned size, first_slot, n_slots;
	unsigned char *slot_used;
	struct member *members;
	uv_timer_t tick, kick; /* the hard-lifetime check; a refill after the current event */
	int closing, tick_open /* timers not yet closed */, fails;
	int frozen; /* pool_freeze(): no refill */
	uint64_t backoff_until_ms;
	unsigned out;		  /* slots of taken members not yet released */
	unsigned closing_members; /* members whose handles the loop has not let go of yet */
	struct pool_stats st;
	struct sandbox_zygote *zygote; /* members cloned by it, or NULL: python3 exec'd */
	pid_t zygote_pid;
	unsigned zygote_restarts;
	void (*log)(void *opaque, const char *event, const char *why);
	void *log_opaque;
	char zygote_why[400]; /* why there is none, when the config asked for one */
	void (*done)(void *opaque);
	void *done_opaque;
};

static uint64_t mono_ms(void)
{
	return uv_hrtime() / 1000000;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void maybe_free(struct pool *p)
{
	if (!p->closing || p->members || p->tick_open || p->out || p->closing_members)
		return;
	job_sandbox_free(&p->box);
	free(p->slot_used);
	if (p->done)
		p->done(p->done_opaque);
	free(p);
}

static void unlink_member(struct member *m)
{
	for (struct member **pp = &m->p->members; *pp; pp = &(*pp)->next)
		if (*pp == m) {
			*pp = m->next;
			return;
		}
}

static void on_member_closed(uv_handle_t *h)
{
	struct member *m = h->data;
	struct pool *p = m->p;

	if (--m->handles > 0)
		return;
	free(m);
	p->closing_members--;
	maybe_free(p);
}

/* Let go of the loop's handles; the member's memory goes when both have closed. */
static void release_handles(struct member *m)
{
	unlink_member(m);
	m->p->closing_members++;
	m->handles = 1 + m->notify_polled;
	uv_close((uv_handle_t *)&m->frame_poll, on_member_closed);
	if (m->notify_polled)
		uv_close((uv_handle_t *)&m->notify_poll, on_member_closed);
}

static void slot_free(struct pool *p, unsigned slot)
{
	if (slot >= p->first_slot && slot < p->first_slot + p->n_slots)
		p->slot_used[slot - p->first_slot] = 0;
}

/* Destroy an untaken member: the sandbox (its loader killed, its cgroups removed), its
 * pipes, its slot. */
static void discard(struct member *m)
{
	close_fd(&m->go_fd);
	close_fd(&m->frame_fd);
	close_fd(&m->log_fd);
	if (m->sb)
		sandbox_destroy(m->sb);
	m->sb = NULL;
	slot_free(m->p, m->slot);
	release_handles(m);
}

static void refill(struct pool *p);
static int start_member(struct pool *p, char *err, size_t errlen);

static void on_kick(uv_timer_t *t)
{
	refill(t->data);
}

/* A refill costs a sandbox_start() and then an interpreter's imports: not inside a take,
 * and not on the cores the taken job is starting on (its script, its encoder) either,
 * but REFILL_DELAY_MS later. */
static void refill_soon(struct pool *p)
{
	if (!p->closing)
		uv_timer_start(&p->kick, on_kick, REFILL_DELAY_MS, 0);
}

/* A warming member's stdout is readable (status < 0: its poll failed): its loader's 'R'.
 * 1 when it is ready now, 0 when nothing was there yet, -1 when it failed (discarded). */
static int read_ready(struct member *m, int status)
{
	struct pool *p = m->p;
	char c = 0;
	ssize_t n;

	errno = EIO;
	n = status < 0 ? -1 : read(m->frame_fd, &c, 1);
	if (n < 0 && errno == EAGAIN)
		return 0;
	if (n != 1 || c != 'R') {
		p->st.failed++;
		p->fails++;
		discard(m);
		return -1;
	}
	m->ready = 1;
	m->ready_ms = mono_ms();
	p->fails = 0;
	p->st.warm_ms_last = m->ready_ms - m->born_ms;
	return 1;
}

static void on_frame(uv_poll_t *h, int status, int events)
{
	struct member *m = h->data;
	struct pool *p = m->p;

	(void)events;
	if (m->ready) {
		/* Bytes before any job took it: the loader writes nothing after 'R'. */
		p->st.failed++;
		discard(m);
		refill(p);
		return;
	}
	/* Once ready, watch on for end-of-file: a ready loader that dies (killed, its
	 * memory) goes. */
	if (read_ready(m, status) != 0)
		refill(p);
}

/* No member is ready for a job that fits. With a zygote the next one is tens of
 * milliseconds away and a cold start costs ~0.3 s of CPU: wait for the one warming
 * (starting one if none is), at most WAIT_MEMBER_MS, on the worker's loop. Without a
 * zygote a member is as far away as a cold start: NULL at once. */
static struct member *wait_member(struct pool *p)
{
	uint64_t deadline = mono_ms() + WAIT_MEMBER_MS;
	struct member *m;
	char err[512];

	if (!p->zygote || p->frozen)
		return NULL;
	for (m = p->members; m && m->ready; m = m->next)
		;
	if (!m) {
		if (start_member(p, err, sizeof(err)) < 0) {
			p->st.failed++;
			return NULL;
		}
		m = p->members; /* start_member puts it first */
	}
	for (;;) {
		struct pollfd pf = {.fd = m->frame_fd, .events = POLLIN};
		uint64_t now = mono_ms();
		int r;

		if (now >= deadline)
			return NULL;
		r = poll(&pf, 1, (int)(deadline - now));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return NULL;
		r = read_ready(m, (pf.revents & (POLLERR | POLLNVAL)) ? -1 : 0);
		if (r < 0)
			return NULL;
		if (r > 0)
			return m;
	}
}

static void on_notify(uv_poll_t *h, int status, int events)
{
	struct member *m = h->data;
	char msg[256];

	(void)events;
	if (status < 0 || sandbox_notify_handle(m->sb, msg, sizeof(msg)) < 0) {
		uv_poll_stop(h);
		return;
	}
}

/* A pipe for the member's stdin that holds the largest message in one write: the script
 * (max_script_bytes), its name and the environment. */
static int go_pipe(const struct pool *p, int fds[2])
{
	size_t want = p->cfg->max_script_bytes + 64 * 1024;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	/* Past /proc/sys/fs/pipe-max-size the kernel refuses: take what it gives, and a
	 * message larger than that starts cold (pool_take checks). */
	if (fcntl(fds[1], F_SETPIPE_SZ, (int)(want > (1u << 30) ? 1u << 30 : want)) < 0)
		fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
	fcntl(fds[1], F_SETFL, O_NONBLOCK);
	return 0;
}

static int free_slot(struct pool *p, unsigned *slot)
{
	for (unsigned i = 0; i < p->n_slots; i++)
		if (!p->slot_used[i]) {
			p->slot_used[i] = 1;
			*slot = p->first_slot + i;
			return 0;
		}
	return -ENOSPC;
}

static int start_member(struct pool *p, char *err, size_t errlen)
{
	int go[2] = {-1, -1}, frame[2] = {-1, -1}, log[2] = {-1, -1}, r;
	struct member *m = calloc(1, sizeof(*m));
	struct sandbox_spec spec = p->box.spec;

	if (!m)
		return -ENOMEM;
	m->p = p;
	m->go_fd = m->frame_fd = m->log_fd = -1;
	if ((r = free_slot(p, &m->slot)) < 0) {
		snprintf(err, errlen, "no free slot for a warm sandbox");
		free(m);
		return r;
	}
	if ((r = go_pipe(p, go)) < 0 || pipe2(frame, O_CLOEXEC) < 0 || pipe2(log, O_CLOEXEC) < 0) {
		r = r < 0 ? r : -errno;
		snprintf(err, errlen, "cannot create a warm sandbox's pipes: %s", strerror(-r));
		goto fail;
	}
	spec.stdin_fd = go[0];
	spec.stdout_fd = frame[1];
	spec.stderr_fd = log[1];
	spec.slot = m->slot;
	m->born_ms = mono_ms();
	r = sandbox_start(&spec, &m->sb, err, errlen);
	close_fd(&go[0]);
	close_fd(&frame[1]);
	close_fd(&log[1]);
	if (r < 0)
		goto fail;
	m->go_fd = go[1];
	m->frame_fd = frame[0];
	m->log_fd = log[0];
	uv_poll_init(p->loop, &m->frame_poll, m->frame_fd);
	m->frame_poll.data = m;
	uv_poll_start(&m->frame_poll, UV_READABLE | UV_DISCONNECT, on_frame);
	if (sandbox_notify_fd(m->sb) >= 0 &&
	    uv_poll_init(p->loop, &m->notify_poll, sandbox_notify_fd(m->sb)) == 0) {
		m->notify_polled = 1;
		m->notify_poll.data = m;
		uv_poll_start(&m->notify_poll, UV_READABLE, on_notify);
	}
	m->next = p->members;
	p->members = m;
	p->st.started++;
	return 0;

fail:
	for (int i = 0; i < 2; i++) {
		close_fd(&go[i]);
		close_fd(&frame[i]);
		close_fd(&log[i]);
	}
	slot_free(p, m->slot);
	free(m);
	return r;
}

static void count(struct pool *p, unsigned *ready, unsigned *warming)
{
	*ready = *warming = 0;
	for (struct member *m = p->members; m; m = m->next)
		(*(m->ready ? ready : warming))++;
}

/* One member warming at a time, until size are there. */
/* A zygote that died (killed, out of memory) is started again, twice at most; then the
 * members start python3 themselves. Its sandboxes died with it (their parent-death
 * signal): a job running in one fails, the members waiting are replaced. */
static void zygote_check(struct pool *p)
{
	char why[400];

	if (!p->zygote || waitpid(p->zygote_pid, NULL, WNOHANG) != p->zygote_pid)
		return;
	sandbox_zygote_free(p->zygote);
	p->zygote = p->box.spec.zygote = NULL;
	p->st.zygote = 0;
	if (++p->zygote_restarts > 2) {
		snprintf(p->zygote_why, sizeof(p->zygote_why),
			 "the zygote died %u times; members start python3", p->zygote_restarts);
		if (p->log)
			p->log(p->log_opaque, "pool_zygote_off", p->zygote_why);
		return;
	}
	p->zygote = zygote_start(p->argv[0], p->box.env, &p->zygote_pid, why, sizeof(why));
	if (!p->zygote)
		snprintf(p->zygote_why, sizeof(p->zygote_why), "%s", why);
	else
		p->zygote_why[0] = '\0';
	if (p->log)
		p->log(p->log_opaque, p->zygote ? "pool_zygote_restarted" : "pool_zygote_off",
		       p->zygote ? "the zygote died; a new one is warm" : p->zygote_why);
	p->box.spec.zygote = p->zygote;
	p->st.zygote = p->zygote != NULL;
}

static void refill(struct pool *p)
{
	unsigned ready, warming;
	char err[512];

	if (p->closing || p->frozen || mono_ms() < p->backoff_until_ms)
		return;
	count(p, &ready, &warming);
	if (warming > 0 || ready >= p->size)
		return;
	zygote_check(p);
	if (start_member(p, err, sizeof(err)) < 0) {
		p->st.failed++;
		if (++p->fails >= FAILS_BEFORE_OFF) {
			fprintf(stderr, "reelbox: warm pool: %s; trying again in %d s\n", err,
				BACKOFF_MS / 1000);
			p->backoff_until_ms = mono_ms() + BACKOFF_MS;
			p->fails = 0;
		}
	}
}

/* Hard lifetimes: a member that never got ready, or waited past max_age, goes. */
static void on_tick(uv_timer_t *t)
{
	struct pool *p = t->data;
	uint64_t now = mono_ms(), max_age = (uint64_t)p->cfg->pool.max_age_s * 1000;
	struct member *m = p->members, *next;

	for (; m; m = next) {
		next = m->next;
		if ((!m->ready && now - m->born_ms > WARM_TIMEOUT_MS) ||
		    (m->ready && now - m->ready_ms > max_age)) {
			if (!m->ready)
				p->st.failed++;
			else
				p->st.expired++;
			discard(m);
		}
	}
	refill(p);
}

int pool_new(uv_loop_t *loop, const struct config *cfg, unsigned first_slot, unsigned n_slots,
	     struct pool **out, char *err, size_t errlen)
{
	const struct runtime *rt = config_find_runtime(cfg, "python3");
	struct job tmpl;
	struct pool *p;
	int r;

	*out = NULL;
	if (cfg->pool.python3 <= 0)
		return 0;
	if (!rt) {
		snprintf(err, errlen,
			 "a warm pool needs the python3 runtime, which this config "
			 "removed");
		return -EINVAL;
	}
	if (!(p = calloc(1, sizeof(*p))) || !(p->slot_used = calloc(n_slots, 1))) {
		free(p);
		return -ENOMEM;
	}
	p->loop = loop;
	p->cfg = cfg;
	p->size = cfg->pool.python3 > POOL_MAX ? POOL_MAX : (unsigned)cfg->pool.python3;
	p->first_slot = first_slot;
	p->n_slots = n_slots;
	/* The spec a default python3 job would get, with the loader for its command: limits,
	 * helper box and environment are what pool_take compares a job's against. */
	memset(&tmpl, 0, sizeof(tmpl));
	snprintf(tmpl.runtime, sizeof(tmpl.runtime), "python3");
	snprintf(tmpl.script_name, sizeof(tmpl.script_name), "script.py");
	snprintf(tmpl.codec, sizeof(tmpl.codec), "h264");
	tmpl.width = 64;
	tmpl.height = 64;
	tmpl.fps = tmpl.fps_den = 1;
	tmpl.limits = cfg->defaults;
	tmpl.resolved_tier = SANDBOX_TIER_NATIVE; /* the pool's one tier */
	if ((r = job_sandbox_spec(&p->box, &tmpl, cfg, first_slot, err, errlen)) < 0) {
		free(p->slot_used);
		free(p);
		return r;
	}
	free(p->box.env);
	p->box.env = job_env(NULL, rt, NULL);
	p->argv[0] = rt->path;
	p->argv[1] = "-c";
	p->argv[2] = pool_python_loader;
	p->argv[3] = NULL;
	p->box.spec.argv = p->argv;
	p->box.spec.envp = (const char *const *)p->box.env;
	p->box.spec.files = NULL;
	p->box.spec.n_files = 0;
	p->st.size = p->size;
	p->zygote_pid = -1;
	if (!p->box.env) {
		free(p->slot_used);
		free(p);
		return -ENOMEM;
	}
	if (cfg->pool.zygote) {
		char why[400];
		/* Members forked from one warmed interpreter: the imports once, not per
		 * member. Without it (no libpython here) each member starts python3. */
		p->zygote = zygote_start(rt->path, p->box.env, &p->zygote_pid, why, sizeof(why));
		if (!p->zygote)
			snprintf(p->zygote_why, sizeof(p->zygote_why), "%s", why);
		p->box.spec.zygote = p->zygote;
		p->st.zygote = p->zygote != NULL;
	}
	uv_timer_init(loop, &p->tick);
	p->tick.data = p;
	uv_timer_init(loop, &p->kick);
	p->kick.data = p;
	p->tick_open = 2;
	uv_timer_start(&p->tick, on_tick, TICK_MS, TICK_MS);
	refill(p);
	*out = p;
	return 0;
}

static size_t env_bytes(const struct job_sandbox *box)
{
	size_t n = 0;

	for (char **e = box->env; e && *e; e++)
		n += strlen(*e) + 1;
	return n;
}

/* A job fits a member when only what the message carries differs: the script, its name
 * and the environment. Its tier, limits, cwd, binds and files must be the member's. */
static const char *misfit(const struct pool *p, const struct job_sandbox *box)
{
	const struct sandbox_spec *a = &box->spec, *b = &p->box.spec;

	/* A warm member is native: a job of a stronger tier must never run in one. */
	if (a->tier != b->tier)
		return "tier";
	if (strcmp(a->argv[0], b->argv[0]) || !a->argv[1] || strncmp(a->argv[1], "/job/", 5) ||
	    a->argv[2])
		return "runtime";
	if (a->n_files != 1 || a->n_binds || b->n_binds || a->cwd ||
	    !a->state_dir != !b->state_dir || (a->state_dir && strcmp(a->state_dir, b->state_dir)))
		return "files";
	if (memcmp(&a->limits, &b->limits, sizeof(a->limits)))
		return "limits";
	if (!a->helper.enabled)
		return "helper";
	return NULL;
}

/* The message: name NUL, env entries each NUL-ended, NUL, script. */
static int send_job(struct member *m, const struct job_sandbox *box)
{
	size_t name_len = strlen(box->file.name),
	       len = name_len + 1 + env_bytes(box) + 1 + box->file.len;
	char *msg = malloc(len), *q = msg;
	ssize_t n;

	if (!msg)
		return -ENOMEM;
	memcpy(q, box->file.name, name_len + 1);
	q += name_len + 1;
	for (char **e = box->env; *e; e++) {
		size_t k = strlen(*e) + 1;

		memcpy(q, *e, k);
		q += k;
	}
	*q++ = '\0';
	memcpy(q, box->file.data, box->file.len);
	/* One write into a pipe sized for it: never a partial message, never a wait. */
	n = write(m->go_fd, msg, len);
	free(msg);
	if (n != (ssize_t)len)
		return n < 0 ? -errno : -EMSGSIZE;
	close_fd(&m->go_fd);
	return 0;
}

int pool_take(struct pool *p, const struct job_sandbox *box, struct sandbox **sb, int *frame_fd,
	      int *log_fd, unsigned *slot, const char **why)
{
	struct member *m;
	char err[256];

	*why = NULL;
	if (!p || p->closing) {
		*why = "no pool";
		return 0;
	}
	if ((*why = misfit(p, box)))
		goto cold;
	for (m = p->members; m && !m->ready; m = m->next)
		;
	if (!m && !(m = wait_member(p))) {
		*why = "empty";
		refill_soon(p);
		goto cold;
	}
	if (memchr(box->file.data, '\0', box->file.len)) {
		*why = "script";
		goto cold;
	}
	/* Stop watching before the runner does: the fds change hands now. */
	uv_poll_stop(&m->frame_poll);
	if (m->notify_polled)
		uv_poll_stop(&m->notify_poll);
	/* The job first, then the encoder's box sized for it (cgroup writes, ~0.2 ms): the
	 * script starts while the worker writes them. Should they fail, the script has
	 * begun in a sandbox nothing reads yet: destroyed with what it did, and the job
	 * starts cold. */
	if (send_job(m, box) < 0 ||
	    sandbox_helper_set_limits(m->sb, &box->spec.helper, err, sizeof(err)) < 0) {
		*why = "hand-over";
		p->st.failed++;
		discard(m);
		refill_soon(p);
		goto cold;
	}
	sandbox_restart_clock(m->sb);
	*sb = m->sb;
	*frame_fd = m->frame_fd;
	*log_fd = m->log_fd;
	*slot = m->slot;
	m->sb = NULL;
	m->frame_fd = m->log_fd = -1;
	p->out++;
	p->st.taken++;
	release_handles(m);
	refill_soon(p);
	return 1;

cold:
	p->st.cold++;
	return 0;
}

void pool_set_log(struct pool *p, void (*log)(void *opaque, const char *event, const char *why),
		  void *opaque)
{
	p->log = log;
	p->log_opaque = opaque;
}

void pool_freeze(struct pool *p)
{
	p->frozen = 1;
}

void pool_slot_release(struct pool *p, unsigned slot)
{
	if (!p)
		return;
	slot_free(p, slot);
	if (p->out)
		p->out--;
	refill_soon(p);
	maybe_free(p);
}

/* VmRSS of pid from /proc (bounded read), 0 when it cannot be read. */
static uint64_t resident_bytes(pid_t pid)
{
	char path[64], buf[4096];
	const char *v;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if (!(v = strstr(buf, "\nVmRSS:")))
		return 0;
	return strtoull(v + 7, NULL, 10) * 1024;
}

void pool_stats(struct pool *p, struct pool_stats *st)
{
	uint64_t peak, cpu;

	*st = p->st;
	st->zygote_why = p->zygote_why[0] ? p->zygote_why : NULL;
	st->zygote_rss_bytes = p->zygote ? resident_bytes(p->zygote_pid) : 0;
	st->idle_memory_bytes = 0;
	st->idle_processes = 0;
	count(p, &st->ready, &st->warming);
	for (struct member *m = p->members; m; m = m->next)
		if (m->ready && sandbox_usage(m->sb, &peak, &cpu) == 0) {
			st->idle_memory_bytes += peak;
			st->idle_processes += 2;
		}
}

static void on_tick_closed(uv_handle_t *h)
{
	struct pool *p = h->data;

	p->tick_open--;
	maybe_free(p);
}

void pool_close(struct pool *p, void (*done)(void *opaque), void *opaque)
{
	if (!p) {
		if (done)
			done(opaque);
		return;
	}
	p->closing = 1;
	p->done = done;
	p->done_opaque = opaque;
	while (p->members)
		discard(p->members);
	/* The zygote exits once the sandboxes it cloned (taken ones still running) end. */
	sandbox_zygote_free(p->zygote);
	p->zygote = NULL;
	p->box.spec.zygote = NULL;
	uv_close((uv_handle_t *)&p->tick, on_tick_closed);
	uv_close((uv_handle_t *)&p->kick, on_tick_closed);
}
