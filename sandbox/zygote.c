/* zygote.c - sandboxes cloned by a process that has an interpreter loaded.
 *
 * A warm pool member of the python3 runtime used to start python3 and import numpy and
 * Pillow in each new sandbox: about 0.15 s of CPU per member, paid again for every job
 * (a member serves one job). A zygote pays it once. It is a separate process the worker
 * started from a fresh exec (none of the worker's memory, so none of its secrets), with
 * the interpreter loaded and warmed on the host, that does one thing: clone sandboxes.
 *
 * The worker's sandbox_start() stays the owner of everything: it prepares the plan, the
 * state dir, the cgroups and the pipes exactly as for a cold start, then, instead of
 * clone3 in its own thread, sends the plan (flattened into a memfd) and the child's ends
 * of the pipes to the zygote, which clones the same child with the same code (proc.c) and
 * answers with its pid and pidfd. The worker then releases it as its own: id maps, the
 * cgroup attach, the report. The child builds the same root, drops the same privileges,
 * installs the same filter; at the point where a cold child executes reelbox-init, it
 * forks first: pid 2 keeps the zygote's image (the interpreter, its imports) and runs the
 * command function (the worker's loader: read the job's script on stdin, run it), pid 1
 * executes reelbox-init told to adopt pid 2 as its command. From there the sandbox is a
 * cold one's: the same namespaces, root, ids, rlimits, filter, cgroup, init and status.
 *
 * What a member shares with the zygote, and so with the other members: the memory image
 * at fork (copy-on-write; nothing of any job is ever in the zygote: scripts and job
 * environments go to the member's stdin), the address layout (no new ASLR per member),
 * and seeds made at the zygote's start (the command reseeds what it can). The zygote is
 * root on the host like the worker's cloning thread and runs only reelbox's code and the
 * interpreter's start-up; its own usage (the import, the page tables of each clone) is
 * charged to wherever the worker put it, not to a job.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

#define PLAN_MAGIC    0x72627a31u /* "rbz1" */
#define PLAN_MAX      (8u << 20)  /* a plan is a few KiB; files for /job ride in it too */
#define REPLY_WAIT_MS 10000
#define REQ_FDS	      8 /* plan, stdin, stdout, stderr, sync, error, status, notify */
#define POLL_MS	      250

struct sandbox_zygote {
	int sock;
	unsigned owed;	      /* replies still to come for requests given up on (timed out) */
	pthread_mutex_t lock; /* one request in flight */
};

struct sandbox_zygote *sandbox_zygote_new(int sock)
{
	struct sandbox_zygote *z = calloc(1, sizeof(*z));

	if (!z)
		return NULL;
	z->sock = sock;
	pthread_mutex_init(&z->lock, NULL);
	return z;
}

void sandbox_zygote_free(struct sandbox_zygote *z)
{
	if (!z)
		return;
	if (z->sock >= 0)
		close(z->sock);
	pthread_mutex_destroy(&z->lock);
	free(z);
}

/* ---- the plan, flattened: a header, then records read in order ---------------------- */

struct plan_head {
	uint32_t magic;
	uint32_t n_ops, n_files, n_filter, n_argv, n_envp;
	struct sandbox_ids ids;
	struct sandbox_rlimits rlimits;
	char scratch_opts[96];
	char job_opts[96];
};

struct out {
	char *p;
	size_t len, cap;
	int oom;
};

static void put(struct out *o, const void *p, size_t n)
{
	if (o->oom)
		return;
	if (o->len + n > o->cap) {
		size_t cap = o->cap ? o->cap : 4096;
		char *q;
		while (cap < o->len + n)
			cap *= 2;
		if (cap > PLAN_MAX || !(q = realloc(o->p, cap))) {
			o->oom = 1;
			return;
		}
		o->p = q;
		o->cap = cap;
	}
	memcpy(o->p + o->len, p, n);
	o->len += n;
}

/* A string: its length plus one (0 for NULL), then its bytes and the NUL. */
static void put_str(struct out *o, const char *s)
{
	uint32_t n = s ? (uint32_t)strlen(s) + 1 : 0;

	put(o, &n, sizeof(n));
	if (s)
		put(o, s, n);
}

static uint32_t count_strs(char *const *v)
{
	uint32_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

static int flatten(const struct sandbox_child *c, struct out *o)
{
	struct plan_head h;

	memset(&h, 0, sizeof(h));
	h.magic = PLAN_MAGIC;
	h.n_ops = (uint32_t)c->mounts.n_ops;
	h.n_files = (uint32_t)c->mounts.n_files;
	h.n_filter = c->seccomp.len;
	h.n_argv = count_strs(c->init_argv);
	h.n_envp = count_strs(c->envp);
	h.ids = c->ids;
	h.rlimits = c->rlimits;
	memcpy(h.scratch_opts, c->mounts.scratch_opts, sizeof(h.scratch_opts));
	memcpy(h.job_opts, c->mounts.job_opts, sizeof(h.job_opts));
	put(o, &h, sizeof(h));
	for (size_t i = 0; i < c->mounts.n_ops; i++) {
		const struct sandbox_mount *m = &c->mounts.ops[i];
		int32_t v[3] = {(int32_t)m->op, m->is_dir, m->mkdir_parents};
		put(o, v, sizeof(v));
		put_str(o, m->src);
		put_str(o, m->dst);
		put_str(o, m->data);
	}
	put_str(o, c->mounts.sb_dir);
	for (size_t i = 0; i < c->mounts.n_files; i++) {
		const struct sandbox_file *f = &c->mounts.files[i];
		uint64_t len = f->len;
		int32_t ex = f->executable;
		put_str(o, f->name);
		put(o, &len, sizeof(len));
		put(o, f->data, f->len);
		put(o, &ex, sizeof(ex));
	}
	put(o, c->seccomp.filter, (size_t)c->seccomp.len * sizeof(*c->seccomp.filter));
	put_str(o, c->cwd);
	for (uint32_t i = 0; i < h.n_argv; i++)
		put_str(o, c->init_argv[i]);
	for (uint32_t i = 0; i < h.n_envp; i++)
		put_str(o, c->envp[i]);
	return o->oom ? -ENOMEM : 0;
}

struct in {
	const char *p;
	size_t len, at;
	int bad;
};

static const void *take(struct in *in, size_t n)
{
	const void *r;

	if (in->bad || n > in->len - in->at) {
		in->bad = 1;
		return NULL;
	}
	r = in->p + in->at;
	in->at += n;
	return r;
}

/* A number copied out: the records are packed, so one may sit at any address. */
static void take_into(struct in *in, void *dst, size_t n)
{
	const void *p = take(in, n);

	if (p)
		memcpy(dst, p, n);
	else
		memset(dst, 0, n);
}

static const char *take_str(struct in *in)
{
	uint32_t n;
	const char *s;

	take_into(in, &n, sizeof(n));
	if (n == 0)
		return NULL;
	s = take(in, n);
	if (s && s[n - 1] != '\0')
		in->bad = 1;
	return in->bad ? NULL : s;
}

/* The plan in buf as a child (pointers into buf and into arrays *owned says to free). */
struct unflat {
	struct sandbox_mount *ops;
	struct sandbox_file *files;
	struct sock_filter *filter; /* copied: aligned */
	char **argv, **envp;
};

static void unflat_free(struct unflat *u)
{
	free(u->ops);
	free(u->files);
	free(u->filter);
	free(u->argv);
	free(u->envp);
	memset(u, 0, sizeof(*u));
}

static int unflatten(const char *buf, size_t len, struct sandbox_child *c, struct unflat *u)
{
	struct in in = {.p = buf, .len = len};
	const struct plan_head *h = take(&in, sizeof(*h));

	memset(u, 0, sizeof(*u));
	if (!h || h->magic != PLAN_MAGIC || h->n_ops > 4096 || h->n_files > 4096 ||
	    h->n_filter > 65536 || h->n_argv > 65536 || h->n_envp > 65536)
		return -EINVAL;
	c->ids = h->ids;
	c->rlimits = h->rlimits;
	memcpy(c->mounts.scratch_opts, h->scratch_opts, sizeof(h->scratch_opts));
	memcpy(c->mounts.job_opts, h->job_opts, sizeof(h->job_opts));
	c->mounts.scratch_opts[sizeof(c->mounts.scratch_opts) - 1] = '\0';
	c->mounts.job_opts[sizeof(c->mounts.job_opts) - 1] = '\0';
	u->ops = calloc(h->n_ops + 1, sizeof(*u->ops));
	u->files = calloc(h->n_files + 1, sizeof(*u->files));
	u->filter = calloc(h->n_filter + 1, sizeof(*u->filter));
	u->argv = calloc(h->n_argv + 1, sizeof(*u->argv));
	u->envp = calloc(h->n_envp + 1, sizeof(*u->envp));
	if (!u->ops || !u->files || !u->filter || !u->argv || !u->envp) {
		unflat_free(u);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < h->n_ops; i++) {
		int32_t v[3];
		take_into(&in, v, sizeof(v));
		if (in.bad)
			break;
		u->ops[i].op = (enum sandbox_mount_op)v[0];
		u->ops[i].is_dir = v[1];
		u->ops[i].mkdir_parents = v[2];
		u->ops[i].src = take_str(&in);
		u->ops[i].dst = take_str(&in);
		u->ops[i].data = take_str(&in);
	}
	c->mounts.ops = u->ops;
	c->mounts.n_ops = h->n_ops;
	c->mounts.sb_dir = take_str(&in);
	for (uint32_t i = 0; i < h->n_files && !in.bad; i++) {
		uint64_t flen;
		int32_t ex;
		u->files[i].name = take_str(&in);
		take_into(&in, &flen, sizeof(flen));
		u->files[i].len = (size_t)flen;
		u->files[i].data = take(&in, u->files[i].len);
		take_into(&in, &ex, sizeof(ex));
		u->files[i].executable = ex;
	}
	c->mounts.files = u->files;
	c->mounts.n_files = h->n_files;
	c->seccomp.len = (unsigned short)h->n_filter;
	take_into(&in, u->filter, h->n_filter * sizeof(*u->filter));
	c->seccomp.filter = u->filter;
	c->cwd = take_str(&in);
	for (uint32_t i = 0; i < h->n_argv; i++)
		u->argv[i] = (char *)take_str(&in);
	for (uint32_t i = 0; i < h->n_envp; i++)
		u->envp[i] = (char *)take_str(&in);
	c->init_argv = u->argv;
	c->envp = u->envp;
	if (in.bad || in.at != in.len || !c->mounts.sb_dir || !c->cwd || !u->argv[0] ||
	    h->n_filter != c->seccomp.len) {
		unflat_free(u);
		return -EINVAL;
	}
	return 0;
}

/* ---- the messages ----------------------------------------------------------------- */

static int send_fds(int sock, const void *p, size_t n, const int *fds, int n_fds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * REQ_FDS)];
	struct iovec iov = {.iov_base = (void *)p, .iov_len = n};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t w;

	if (n_fds) {
		struct cmsghdr *cm;
		memset(cbuf, 0, sizeof(cbuf));
		msg.msg_control = cbuf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n_fds);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n_fds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)n_fds);
	}
	do
		w = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	return w == (ssize_t)n ? 0 : (w < 0 ? -errno : -EIO);
}

/* One message with up to max_fds descriptors (CLOEXEC); *n_fds says how many came. */
static int recv_fds(int sock, void *p, size_t n, int *fds, int max_fds, int *n_fds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * REQ_FDS)];
	struct iovec iov = {.iov_base = p, .iov_len = n};
	struct msghdr msg = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	ssize_t r;

	*n_fds = 0;
	do
		r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		const int *got = (const int *)CMSG_DATA(cm);
		for (int i = 0; i < k; i++) {
			if (*n_fds < max_fds)
				fds[(*n_fds)++] = got[i];
			else
				close(got[i]);
		}
	}
	if (r == 0)
		return -EPIPE;
	if ((size_t)r != n || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
		return -EPROTO;
	return 0;
}

/* ---- the worker's side ------------------------------------------------------------ */

pid_t sandbox_zygote_clone(struct sandbox_zygote *z, const struct sandbox_child *c, int *pidfd)
{
	struct out o = {0};
	int32_t reply = 0;
	int fds[REQ_FDS], got[1], n_got = 0, plan = -1, r;
	struct pollfd p = {.fd = z->sock, .events = POLLIN};
	char op = 'C';

	*pidfd = -1;
	if ((r = flatten(c, &o)) < 0)
		goto out;
	plan = memfd_create("reelbox-plan", MFD_CLOEXEC);
	if (plan < 0 || write(plan, o.p, o.len) != (ssize_t)o.len) {
		r = plan < 0 ? -errno : -EIO;
		goto out;
	}
	fds[0] = plan;
	fds[1] = c->stdio[0];
	fds[2] = c->stdio[1];
	fds[3] = c->stdio[2];
	fds[4] = c->sync_fd;
	fds[5] = c->error_fd;
	fds[6] = c->status_fd;
	fds[7] = c->notify_fd;
	pthread_mutex_lock(&z->lock);
	r = send_fds(z->sock, &op, 1, fds, REQ_FDS);
	/* The zygote answers every request, in order: the replies to requests given up on
	 * come before ours, and are dropped (their children exit: their sync pipes are
	 * closed). Taking one of them for ours would release the wrong child. */
	while (r == 0) {
		do
			r = poll(&p, 1, REPLY_WAIT_MS);
		while (r < 0 && errno == EINTR);
		r = r == 0 ? -ETIMEDOUT
			   : (r < 0 ? -errno
				    : recv_fds(z->sock, &reply, sizeof(reply), got, 1, &n_got));
		if (r < 0 || !z->owed)
			break;
		z->owed--;
		if (n_got)
			close(got[0]);
		n_got = 0;
		reply = 0;
	}
	if (r == -ETIMEDOUT)
		z->owed++;
	pthread_mutex_unlock(&z->lock);
	if (r == 0 && reply > 0 && n_got == 1) {
		*pidfd = got[0];
		r = reply;
	} else {
		if (n_got)
			close(got[0]);
		if (r == 0)
			r = reply < 0 ? reply : -EPROTO;
	}
out:
	if (plan >= 0)
		close(plan);
	free(o.p);
	return r;
}

/* ---- the zygote's side ------------------------------------------------------------ */

static int read_plan(int fd, char **buf, size_t *len)
{
	off_t size = lseek(fd, 0, SEEK_END);
	ssize_t n;

	*buf = NULL;
	if (size <= 0 || (uint64_t)size > PLAN_MAX || lseek(fd, 0, SEEK_SET) < 0)
		return -EINVAL;
	if (!(*buf = malloc((size_t)size)))
		return -ENOMEM;
	n = pread(fd, *buf, (size_t)size, 0);
	if (n != size) {
		free(*buf);
		*buf = NULL;
		return -EIO;
	}
	*len = (size_t)size;
	return 0;
}

static void serve_one(int sock, void (*command)(void *), void *opaque)
{
	struct sandbox_child c;
	struct unflat u = {0};
	int fds[REQ_FDS], n = 0, pidfd = -1, r;
	int32_t reply;
	char op, *buf = NULL;
	size_t len = 0;
	pid_t pid = -1;

	r = recv_fds(sock, &op, 1, fds, REQ_FDS, &n);
	if (r == -EPIPE)
		return; /* the worker closed: the loop sees the hang-up */
	memset(&c, 0, sizeof(c));
	if (r == 0 && (op != 'C' || n != REQ_FDS))
		r = -EPROTO;
	if (r == 0 && (r = read_plan(fds[0], &buf, &len)) == 0 &&
	    (r = unflatten(buf, len, &c, &u)) == 0) {
		c.stdio[0] = fds[1];
		c.stdio[1] = fds[2];
		c.stdio[2] = fds[3];
		c.sync_fd = fds[4];
		c.error_fd = fds[5];
		c.status_fd = fds[6];
		c.notify_fd = fds[7];
		c.command_fn = command;
		c.command_opaque = opaque;
		c.mounts.cgroupns_later = 1;
		if ((c.init_fd = sandbox_proc_init_memfd()) < 0)
			r = c.init_fd;
		else if ((pid = sandbox_proc_clone_from_parent(&c, -1, &pidfd)) < 0)
			r = (int)pid;
	}
	reply = r < 0 ? r : (int32_t)pid;
	if (send_fds(sock, &reply, sizeof(reply), &pidfd, r < 0 ? 0 : 1) < 0 && pid > 0)
		kill(pid, SIGKILL); /* nobody will release it */
	if (pidfd >= 0)
		close(pidfd);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	unflat_free(&u);
	free(buf);
}

int sandbox_zygote_serve(int sock, void (*command)(void *), void *opaque)
{
	struct pollfd p = {.fd = sock, .events = POLLIN};

	/* The zygote dies with the worker; its sandboxes die with it (their parent-death
	 * signal). A zygote started by a worker that is already gone stops here. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() == 1)
		return -ESRCH;
	for (;;) {
		int r = poll(&p, 1, POLL_MS);
		/* The sandboxes' pid 1s are our children: reap the ones that ended (the
		 * worker learns of the end from their pidfds and status pipes). */
		while (waitpid(-1, NULL, WNOHANG | __WALL) > 0)
			;
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL)))
			break;
		if (r > 0 && (p.revents & POLLIN))
			serve_one(sock, command, opaque);
	}
	/* The peer closed: no more clones, but the sandboxes it took are still running
	 * jobs, and they end with this process (their parent-death signal). Stay until the
	 * last has ended. */
	while (waitpid(-1, NULL, __WALL) > 0 || errno == EINTR)
		;
	return 0;
}
