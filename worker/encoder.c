/* encoder.c - the encoder server, its confined children, and the worker's side.
 *
 * See encoder.h for the protocol. The server is single-threaded and does nothing but
 * fork: a request arrives with its descriptors, a child is forked, confined and
 * handed the job; SIGCHLD (through a signalfd) tells the server to reap and say
 * EXITED on that job's socket. The server never reads a byte the script wrote.
 */
#define _GNU_SOURCE
#include "encoder.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "errf.h"

#define ENCODER_MAGIC  0x72626531u /* "rbe1" */
#define SERVER_FD      3
#define MAX_CHILDREN   1024
#define SEND_TIMEOUT_S 2
#define AUDIO_NONE_MAX 512 /* 'n' and a sentence */
/* The join's chunk files ride after the cgroups' (encoder_spawn_join) */
#define REQUEST_MAX_FDS (6 + SANDBOX_HELPER_MAX_CG + RENDER_JOIN_MAX_CHUNKS) /* 6: audio */

struct encoder_request {
	uint32_t magic;
	int32_t width, height, fps_num, fps_den, crf, threads;
	int64_t max_frames;
	char pix_fmt[16], preset[16], container[8], codec[8];
	uint32_t uid, gid, pids;
	int32_t n_cg;
	uint64_t memory_bytes, cpu_seconds, file_bytes;
	/* A poster file rides after the video's (then the cgroups'): 0 or 1; its frame or -1 */
	int32_t has_poster;
	int64_t poster_frame;
	int32_t still; /* 0 or 1: poster_frame as a PNG into the output, no video */
	/* A contact sheet's file rides after the poster's: 0 or 1, and its grid */
	int32_t has_sheet, sheet_cols, sheet_rows;
	/* Audio (render_spec.use_audio): 0 or 1; its output file rides last of all. The
	 * name is for sentences; the file itself comes after the script (encoder_send_audio) */
	int32_t has_audio;
	uint32_t audio_wait_s;
	char audio_name[256];
	/* A join (encoder_spawn_join): this many chunk files ride after the cgroups'; the
	 * frame pipe's place holds the output again. 0: an encode. */
	int32_t n_chunks;
	/* 0 or 1: render_spec.chunk, the frames as a chunk of a chunked job (Matroska), and
	 * its first frame in the job (its audio range starts there) */
	int32_t chunk;
	int64_t chunk_first_frame;
};

/* ---- the worker's side --------------------------------------------------------------- */

static pid_t server_pid = -1;
static int server_sock = -1;
static const char *server_program = "/proc/self/exe";

void encoder_set_program(const char *path)
{
	server_program = path && *path ? path : "/proc/self/exe";
}

static void stop_server(void)
{
	if (server_sock >= 0)
		close(server_sock);
	server_sock = -1;
	if (server_pid > 0) {
		kill(server_pid, SIGKILL);
		while (waitpid(server_pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	server_pid = -1;
}

int encoder_server_start(char *err, size_t errlen)
{
	static char *const argv[] = {"reelbox", "__encoder", NULL};
	static char *const envp[] = {NULL};
	int sv[2];
	pid_t parent = getpid(), pid;

	if (server_pid > 0 && waitpid(server_pid, NULL, WNOHANG) == 0)
		return 0;
	stop_server();
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		snprintf(err, errlen, "cannot create the encoder server's socket: %s",
			 strerror(errno));
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		int e = errno;
		close(sv[0]);
		close(sv[1]);
		snprintf(err, errlen, "cannot start the encoder server: %s", strerror(e));
		return -e;
	}
	if (pid == 0) {
		/* Async-signal-safe only: the worker may have threads. A fresh exec with an
		 * empty environment: nothing of the worker's memory (its Redis password)
		 * exists in the server or in any encoder. */
		int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);

		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		if (getppid() != parent)
			_exit(127);
		if (devnull < 0 || dup2(sv[1], SERVER_FD) < 0 || dup2(devnull, 0) < 0 ||
		    dup2(devnull, 1) < 0 || dup2(devnull, 2) < 0)
			_exit(127);
		/* Nothing else of the worker's: its Redis connections are not close-on-exec. */
		if (close_range(SERVER_FD + 1, ~0U, 0) < 0)
			_exit(127);
		execve(server_program, argv, envp);
		_exit(127);
	}
	close(sv[1]);
	server_pid = pid;
	server_sock = sv[0];
	/* A request is one small record; a server that stopped reading must not block the
	 * worker's loop: the send gives up, and the server is restarted. */
	setsockopt(server_sock, SOL_SOCKET, SO_SNDTIMEO,
		   &(struct timeval){.tv_sec = SEND_TIMEOUT_S}, sizeof(struct timeval));
	return 0;
}

static int send_request(const struct encoder_request *rq, const int *fds, int nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * REQUEST_MAX_FDS)];
	struct iovec iov = {.iov_base = (void *)rq, .iov_len = sizeof(*rq)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *c;
	ssize_t n;

	memset(cbuf, 0, sizeof(cbuf));
	mh.msg_control = cbuf;
	mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	do
		n = sendmsg(server_sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == (ssize_t)sizeof(*rq) ? 0 : -EIO;
}

/* encoder_spawn and encoder_spawn_join: one request, its descriptors, the job socket. */
static int spawn_request(const struct render_spec *spec, int frame_fd, int out_fd,
			 const int *chunk_fds, int n_chunks, const struct sandbox_helper_ticket *t,
			 char *err, size_t errlen)
{
	struct encoder_request rq;
	const char *dot = spec->output ? strrchr(spec->output, '.') : NULL;
	int sv[2], fds[REQUEST_MAX_FDS], nfds = 0, r;

	memset(&rq, 0, sizeof(rq));
	rq.magic = ENCODER_MAGIC;
	rq.width = spec->width;
	rq.height = spec->height;
	rq.fps_num = spec->fps_num > 0 ? spec->fps_num : spec->fps;
	rq.fps_den = spec->fps_num > 0 ? spec->fps_den : 1;
	snprintf(rq.codec, sizeof(rq.codec), "%s", spec->codec ? spec->codec : "");
	rq.crf = spec->crf;
	rq.threads = spec->threads;
	rq.max_frames = spec->max_frames;
	snprintf(rq.pix_fmt, sizeof(rq.pix_fmt), "%s", spec->pix_fmt ? spec->pix_fmt : "rgb24");
	snprintf(rq.preset, sizeof(rq.preset), "%s", spec->preset ? spec->preset : "");
	snprintf(rq.container, sizeof(rq.container), "%s", dot ? dot + 1 : "mp4");
	rq.uid = t->uid;
	rq.gid = t->gid;
	rq.pids = t->pids;
	rq.n_cg = t->n_cg;
	rq.memory_bytes = t->memory_bytes;
	rq.cpu_seconds = t->cpu_seconds;
	rq.file_bytes = t->file_bytes;
	rq.has_poster = spec->use_poster_fd && spec->poster_fd >= 0;
	rq.poster_frame = spec->poster_frame >= 0 ? spec->poster_frame : -1;
	rq.still = spec->still != 0;
	rq.has_sheet = spec->use_sheet_fd && spec->sheet_fd >= 0;
	rq.sheet_cols = spec->sheet_cols;
	rq.sheet_rows = spec->sheet_rows;
	rq.has_audio = spec->use_audio && spec->audio_out_fd >= 0;
	rq.audio_wait_s = spec->audio_wait_s;
	snprintf(rq.audio_name, sizeof(rq.audio_name), "%s",
		 rq.has_audio && spec->audio_name ? spec->audio_name : "");
	rq.n_chunks = n_chunks;
	rq.chunk = spec->chunk != 0 && n_chunks == 0;
	rq.chunk_first_frame = rq.chunk ? spec->chunk_first_frame : 0;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0) {
		snprintf(err, errlen, "cannot create the encoder's socket: %s", strerror(errno));
		return -errno;
	}
	fds[nfds++] = sv[1];
	fds[nfds++] = frame_fd;
	fds[nfds++] = out_fd;
	if (rq.has_poster)
		fds[nfds++] = spec->poster_fd;
	if (rq.has_sheet)
		fds[nfds++] = spec->sheet_fd;
	for (int i = 0; i < t->n_cg && i < SANDBOX_HELPER_MAX_CG; i++)
		fds[nfds++] = t->cg_fds[i];
	for (int i = 0; i < n_chunks; i++)
		fds[nfds++] = chunk_fds[i];
	if (rq.has_audio)
		fds[nfds++] = spec->audio_out_fd;

	r = encoder_server_start(err, errlen);
	if (r == 0 && (r = send_request(&rq, fds, nfds)) < 0) {
		/* The server died (a crash, the OOM killer): one fresh start, one retry. */
		stop_server();
		r = encoder_server_start(err, errlen);
		if (r == 0)
			r = send_request(&rq, fds, nfds);
		if (r < 0)
			snprintf(err, errlen, "cannot reach the encoder server: %s", strerror(-r));
	}
	close(sv[1]);
	if (r < 0) {
		close(sv[0]);
		return r;
	}
	return sv[0];
}

int encoder_spawn(const struct render_spec *spec, int frame_fd, int out_fd,
		  const struct sandbox_helper_ticket *t, char *err, size_t errlen)
{
	if (spec->chunk && (spec->still || spec->chunk_first_frame < 0)) {
		snprintf(err, errlen, "a chunk of a chunked job is a frame range of a video, %s",
			 spec->still ? "not a still" : "from frame 0 on");
		return -EINVAL;
	}
	return spawn_request(spec, frame_fd, out_fd, NULL, 0, t, err, errlen);
}

int encoder_spawn_join(const struct render_spec *spec, const int *chunk_fds, int n, int out_fd,
		       const struct sandbox_helper_ticket *t, char *err, size_t errlen)
{
	struct render_spec s = *spec;

	if (n < 1 || n > RENDER_JOIN_MAX_CHUNKS || !chunk_fds) {
		snprintf(err, errlen, "a join takes 1 to %d chunks, not %d", RENDER_JOIN_MAX_CHUNKS,
			 n);
		return -EINVAL;
	}
	for (int i = 0; i < n; i++)
		if (chunk_fds[i] < 0) {
			snprintf(err, errlen, "chunk %d of %d has no file", i + 1, n);
			return -EBADF;
		}
	/* A join writes a video and its poster: never a still or a contact sheet. */
	s.still = 0;
	s.use_sheet_fd = 0;
	/* No frame pipe: the output takes its place, so the layout stays an encode's. */
	return spawn_request(&s, out_fd, out_fd, chunk_fds, n, t, err, errlen);
}

int encoder_read(int sock, struct encoder_msg *m, int *pidfd)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 4)];
	struct iovec iov = {.iov_base = m, .iov_len = sizeof(*m)};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *c;
	int got = -1;
	ssize_t n;

	*pidfd = -1;
	m->type = 0;
	/* ECONNRESET says the peer closed with our STOP byte unread: the kernel reports it
	 * once, before the records still queued, so read on. */
	do
		n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (n < 0 && (errno == EINTR || errno == ECONNRESET));
	if (n < 0)
		return errno == EAGAIN ? 0 : -EPIPE;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (got < 0 && m->type == ENCODER_STARTED)
				got = fd;
			else
				close(fd);
		}
	}
	/* The end of the socket; descriptors riding on an empty record are closed above. */
	if (n == 0) {
		if (got >= 0)
			close(got);
		return -EPIPE;
	}
	/* Strict: one whole record of a known type, strings terminated, numbers sane. */
	if (n != (ssize_t)sizeof(*m) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
	    m->type < ENCODER_STARTED || m->type > ENCODER_EXITED || m->frames < 0 || m->rc > 0 ||
	    m->rc < -4095 || (m->type == ENCODER_STARTED && got < 0)) {
		if (got >= 0)
			close(got);
		return -EPROTO;
	}
	if ((m->flags & ~ENCODER_F_KNOWN) || m->poster_frame < -1 || m->sheet_filled < 0 ||
	    m->sheet_filled > SHEET_CELLS_MAX || m->audio_fitted < 0 || m->audio_fitted > 2 ||
	    m->audio_samples < 0 || m->audio_source_us < 0) {
		if (got >= 0)
			close(got);
		return -EPROTO;
	}
	m->sha256[sizeof(m->sha256) - 1] = '\0';
	m->stream_kind[sizeof(m->stream_kind) - 1] = '\0';
	m->err[sizeof(m->err) - 1] = '\0';
	m->audio_codec[sizeof(m->audio_codec) - 1] = '\0';
	for (int i = 0; i < RENDER_MAX_WARNINGS; i++)
		m->warnings[i][sizeof(m->warnings[i]) - 1] = '\0';
	if (m->type == ENCODER_RESULT && m->rc == 0 &&
	    (strlen(m->sha256) != 64 || strspn(m->sha256, "0123456789abcdef") != 64)) {
		return -EPROTO;
	}
	*pidfd = got;
	return 1;
}

int encoder_stop(int sock)
{
	ssize_t n;

	do
		n = send(sock, "s", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == 1 ? 0 : -errno;
}

/* AUDIO: the byte 'a' with the file by SCM_RIGHTS; AUDIO_NONE: 'n' and the sentence. */
int encoder_send_audio(int sock, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = "a", .iov_len = 1};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	ssize_t n;

	memset(cbuf, 0, sizeof(cbuf));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	do
		n = sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == 1 ? 0 : -errno;
}

int encoder_send_audio_none(int sock, const char *reason)
{
	char buf[AUDIO_NONE_MAX];
	int len = snprintf(buf, sizeof(buf), "n%s", reason ? reason : "");
	ssize_t n;

	if (len >= (int)sizeof(buf))
		len = (int)sizeof(buf) - 1;
	do
		n = send(sock, buf, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == len ? 0 : -errno;
}

/* ---- the server and its children ------------------------------------------------------ */

struct child_ctx {
	int sock;
	int64_t last_sent;
};

static void send_msg(int sock, const struct encoder_msg *m, int flags)
{
	ssize_t n;

	do
		n = send(sock, m, sizeof(*m), MSG_NOSIGNAL | flags);
	while (n < 0 && errno == EINTR);
}

/* Progress is a hint: a full socket drops it rather than stall the encode. */
static void on_child_progress(void *opaque, int64_t frames)
{
	struct child_ctx *c = opaque;
	struct encoder_msg m;

	memset(&m, 0, sizeof(m));
	m.type = ENCODER_PROGRESS;
	m.frames = frames;
	send_msg(c->sock, &m, MSG_DONTWAIT);
	c->last_sent = frames;
}

static int valid_request(const struct encoder_request *rq)
{
	return rq->magic == ENCODER_MAGIC && rq->n_cg >= 0 && rq->n_cg <= SANDBOX_HELPER_MAX_CG &&
	       memchr(rq->pix_fmt, 0, sizeof(rq->pix_fmt)) &&
	       memchr(rq->preset, 0, sizeof(rq->preset)) &&
	       (rq->has_poster == 0 || rq->has_poster == 1) && rq->poster_frame >= -1 &&
	       (rq->still == 0 || (rq->still == 1 && rq->poster_frame >= 0)) &&
	       (rq->has_sheet == 0 || rq->has_sheet == 1) && rq->n_chunks >= 0 &&
	       rq->n_chunks <= RENDER_JOIN_MAX_CHUNKS &&
	       (rq->has_audio == 0 || (rq->has_audio == 1 && rq->still == 0)) &&
	       memchr(rq->audio_name, 0, sizeof(rq->audio_name)) &&
	       (rq->n_chunks == 0 || (rq->still == 0 && rq->has_sheet == 0)) &&
	       /* a chunk is a frame range of a video: no still, no join */
	       (rq->chunk == 0 || (rq->chunk == 1 && rq->still == 0 && rq->n_chunks == 0 &&
				   rq->chunk_first_frame >= 0)) &&
	       memchr(rq->container, 0, sizeof(rq->container)) &&
	       memchr(rq->codec, 0, sizeof(rq->codec));
}

/* A RESULT that says the job never got an encoder (the server's own failures). */
static void refuse(int sock, int rc, const char *why)
{
	struct encoder_msg m;

	memset(&m, 0, sizeof(m));
	m.type = ENCODER_RESULT;
	m.rc = rc;
	snprintf(m.err, sizeof(m.err), "%s", why);
	send_msg(sock, &m, MSG_DONTWAIT);
}

/* The helper box the request describes, with the descriptors that came with it. */
static void request_ticket(const struct encoder_request *rq, const int *fds,
			   struct sandbox_helper_ticket *t)
{
	memset(t, 0, sizeof(*t));
	t->uid = rq->uid;
	t->gid = rq->gid;
	t->pids = rq->pids;
	t->n_cg = rq->n_cg;
	for (int i = 0; i < SANDBOX_HELPER_MAX_CG; i++)
		t->cg_fds[i] = i < rq->n_cg ? fds[3 + rq->has_poster + rq->has_sheet + i] : -1;
	t->memory_bytes = rq->memory_bytes;
	t->cpu_seconds = rq->cpu_seconds;
	t->file_bytes = rq->file_bytes;
}

/* Where the audio output rides among a request's descriptors: last of all. */
static int audio_out_index(const struct encoder_request *rq)
{
	return 3 + rq->has_poster + rq->has_sheet + rq->n_cg + rq->n_chunks;
}

/* Wait (at most rq->audio_wait_s) for the worker's AUDIO or AUDIO_NONE, past its STOP
 * byte. The worker is trusted, but a record is still checked for its shape. */
static int wait_audio(const struct encoder_request *rq, int sock, int *fd, char *err, size_t errlen)
{
	struct timespec t0, now;
	int64_t limit_ms = (int64_t)(rq->audio_wait_s ? rq->audio_wait_s : 3600) * 1000;

	*fd = -1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		char buf[AUDIO_NONE_MAX], cbuf[CMSG_SPACE(sizeof(int) * 4)];
		struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf) - 1};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = cbuf,
				    .msg_controllen = sizeof(cbuf)};
		struct pollfd p = {.fd = sock, .events = POLLIN};
		struct cmsghdr *c;
		int64_t left;
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = limit_ms -
		       ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0 || poll(&p, 1, (int)(left > 60000 ? 60000 : left)) < 0) {
			if (left > 0 && errno == EINTR)
				continue;
			if (left > 0)
				return -errno;
			snprintf(err, errlen,
				 "the audio file was not handed to the encoder within "
				 "%lld s",
				 (long long)(limit_ms / 1000));
			return -ETIMEDOUT;
		}
		if (!(p.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "the worker went away before handing over the audio");
			return -EPIPE;
		}
		for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
				int got;
				memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				if (buf[0] == 'a' && n == 1 && *fd < 0)
					*fd = got;
				else
					close(got);
			}
		}
		if (buf[0] == 'a' && *fd >= 0)
			return 0;
		if (buf[0] == 'n') {
			buf[n] = '\0';
			snprintf(err, errlen, "%s", n > 1 ? buf + 1 : "the job's audio is missing");
			return -ENOENT;
		}
		/* 's' (STOP) and anything else: not ours to answer; wait on. */
	}
}

/* The video is finished in fds[2]: wait for the audio, then remux both into the audio
 * output, which becomes the job's file (m's bytes and sha256). */
static int add_audio(const struct encoder_request *rq, const int *fds, struct encoder_msg *m)
{
	struct render_audio_result res;
	char name[32];
	int afd, rc;

	rc = wait_audio(rq, fds[0], &afd, m->err, sizeof(m->err));
	if (rc < 0)
		return rc;
	snprintf(name, sizeof(name), "video.%s", rq->container);
	/* A chunk keeps its range of the track as PCM; the join encodes the whole once. */
	if (rq->chunk)
		rc = render_chunk_audio(fds[2], afd, fds[audio_out_index(rq)], rq->audio_name,
					rq->chunk_first_frame, m->frames, rq->fps_num, rq->fps_den,
					&res, m->err, sizeof(m->err));
	else
		rc = render_audio_mux(fds[2], afd, fds[audio_out_index(rq)],
				      render_container_from_path(name), rq->audio_name, m->frames,
				      rq->fps_num, rq->fps_den, &res, m->err, sizeof(m->err));
	close(afd);
	if (rc < 0)
		return rc;
	m->bytes = res.bytes;
	memcpy(m->sha256, res.sha256, sizeof(m->sha256));
	memcpy(m->audio_codec, res.codec, sizeof(m->audio_codec));
	m->audio_samples = res.samples;
	m->audio_source_us = (int64_t)(res.source_duration_s * 1e6);
	m->audio_fitted = res.fitted;
	return 0;
}

/* Confine this process, then encode the frame stream into out_fd. *r is the open
 * render when there is one (also after a failed stream). */
static int confine_and_encode(const struct encoder_request *rq, const int *fds,
			      struct child_ctx *ctx, struct render **r, char *err, size_t errlen)
{
	int keep[6] = {fds[0], fds[1], fds[2], -1, -1, -1};
	int n_keep = 3 + rq->has_poster + rq->has_sheet;
	struct sandbox_helper_ticket t;
	char output[32];
	int rc;

	request_ticket(rq, fds, &t);
	for (int i = 3; i < n_keep; i++)
		keep[i] = fds[i];
	if (rq->has_audio)
		keep[n_keep++] = fds[audio_out_index(rq)];
	rc = sandbox_helper_confine(&t, keep, n_keep, err, errlen);
	if (rc < 0)
		return rc;
	struct render_spec spec = {
	    .width = rq->width,
	    .height = rq->height,
	    .fps_num = rq->fps_num,
	    .fps_den = rq->fps_den,
	    .codec = rq->codec[0] ? rq->codec : NULL,
	    .pix_fmt = rq->pix_fmt,
	    .max_frames = rq->max_frames,
	    .output = output,
	    .crf = rq->crf,
	    .preset = rq->preset[0] ? rq->preset : NULL,
	    .threads = rq->threads,
	    .output_fd = fds[2],
	    .use_output_fd = 1,
	    .poster_fd = rq->has_poster ? fds[3] : -1,
	    .use_poster_fd = rq->has_poster,
	    .poster_frame = rq->poster_frame,
	    .still = rq->still,
	    .sheet_fd = rq->has_sheet ? fds[3 + rq->has_poster] : -1,
	    .use_sheet_fd = rq->has_sheet,
	    .sheet_cols = rq->sheet_cols,
	    .sheet_rows = rq->sheet_rows,
	    .chunk = rq->chunk,
	};
	snprintf(output, sizeof(output), "video.%s", rq->container);
	rc = render_open(&spec, r, err, errlen);
	if (rc < 0)
		return rc;
	render_set_stop_fd(*r, fds[0]);
	return render_stream(*r, fds[1], on_child_progress, ctx, err, errlen);
}

static void say_stream_end(const struct child_ctx *ctx, const struct render *r)
{
	struct encoder_msg end;

	memset(&end, 0, sizeof(end));
	end.type = ENCODER_STREAM_END;
	end.frames = ctx->last_sent;
	end.value = r ? render_hit_ceiling(r) : 0;
	send_msg(ctx->sock, &end, 0);
}

/* The RESULT: how the stream ended and what the checks saw (whether or not it failed),
 * then the finished file's facts. Returns the encode's final rc. */
static int finish_result(struct render *r, int rc, const struct child_ctx *ctx,
			 struct encoder_msg *m)
{
	struct render_result res, facts;

	memset(&facts, 0, sizeof(facts));
	if (r)
		render_stream_facts(r, &facts);
	m->stream_bytes = facts.stream_bytes;
	m->flags =
	    (facts.frame_cap_hit ? ENCODER_F_FRAME_CAP_HIT : 0) | (facts.cut ? ENCODER_F_CUT : 0);
	for (int i = 0; i < facts.n_warnings && i < RENDER_MAX_WARNINGS; i++)
		memcpy(m->warnings[i], facts.warnings[i], sizeof(m->warnings[i]));
	if (rc == 0)
		rc = render_finish(r, &res, m->err, sizeof(m->err));
	if (rc == 0) {
		m->frames = res.frames;
		m->value = res.hit_ceiling;
		m->bytes = res.bytes;
		m->first_frame_ms = res.first_frame_ms;
		m->encode_ms = res.encode_ms;
		memcpy(m->sha256, res.sha256, sizeof(m->sha256));
		memcpy(m->stream_kind, res.stream_kind, sizeof(m->stream_kind));
		m->poster_bytes = res.poster_bytes;
		m->poster_frame = res.poster_bytes ? res.poster_frame : -1;
		m->poster_ms = res.poster_ms;
		m->sheet_bytes = res.sheet_bytes;
		m->sheet_filled = res.sheet_filled;
	} else {
		m->frames = ctx->last_sent;
	}
	m->rc = rc < 0 && rc >= -4095 ? rc : (rc ? -EIO : 0);
	return rc;
}

/* The join's child: confine (keeping the job socket, the output, the poster and the
 * chunks), join, say RESULT, exit. fds: the job socket, the output twice, the poster
 * file when there is one, the helper's cgroups, then the chunk files. */
__attribute__((noreturn)) static void join_main(const struct encoder_request *rq, const int *fds)
{
	const int *chunks = fds + 3 + rq->has_poster + rq->n_cg;
	int keep[3 + RENDER_JOIN_MAX_CHUNKS], n_keep = 0;
	struct child_ctx ctx = {.sock = fds[0]};
	struct sandbox_helper_ticket t;
	struct render_result res;
	struct encoder_msg m;
	char output[32];
	int rc;

	keep[n_keep++] = fds[0];
	keep[n_keep++] = fds[2];
	if (rq->has_poster)
		keep[n_keep++] = fds[3];
	for (int i = 0; i < rq->n_chunks; i++)
		keep[n_keep++] = chunks[i];
	memset(&m, 0, sizeof(m));
	m.type = ENCODER_RESULT;
	request_ticket(rq, fds, &t);
	/* The chunks are bytes other encoders wrote: parsed only once confined, like frames. */
	rc = sandbox_helper_confine(&t, keep, n_keep, m.err, sizeof(m.err));
	if (rc == 0) {
		struct render_spec spec = {
		    .width = rq->width,
		    .height = rq->height,
		    .fps_num = rq->fps_num,
		    .fps_den = rq->fps_den,
		    .codec = rq->codec[0] ? rq->codec : NULL,
		    .max_frames = rq->max_frames,
		    .output = output,
		    .crf = rq->crf,
		    .threads = rq->threads,
		    .output_fd = fds[2],
		    .use_output_fd = 1,
		    .poster_fd = rq->has_poster ? fds[3] : -1,
		    .use_poster_fd = rq->has_poster,
		    .poster_frame = rq->poster_frame,
		};
		snprintf(output, sizeof(output), "video.%s", rq->container);
		rc = render_join_progress(chunks, rq->n_chunks, &spec, on_child_progress, &ctx,
					  &res, m.err, sizeof(m.err));
	}
	if (rc == 0) {
		m.frames = res.frames;
		m.bytes = res.bytes;
		m.encode_ms = res.encode_ms;
		memcpy(m.sha256, res.sha256, sizeof(m.sha256));
		memcpy(m.stream_kind, res.stream_kind, sizeof(m.stream_kind));
		m.poster_bytes = res.poster_bytes;
		m.poster_frame = res.poster_bytes ? res.poster_frame : -1;
		m.poster_ms = res.poster_ms;
		memcpy(m.audio_codec, res.audio_codec, sizeof(m.audio_codec));
		m.audio_samples = res.audio_samples;
	} else {
		m.frames = ctx.last_sent;
		m.poster_frame = -1;
	}
	m.rc = rc < 0 && rc >= -4095 ? rc : (rc ? -EIO : 0);
	send_msg(ctx.sock, &m, 0);
	_exit(rc == 0 ? 0 : 1);
}

/* One job in a forked child: confine, encode, close the frame pipe, say STREAM_END,
 * finish, say RESULT, exit. fds: the job socket, the frame pipe, the video file, the
 * poster file and the contact sheet's when there are, then the helper's cgroups. */
__attribute__((noreturn)) static void child_main(const struct encoder_request *rq, const int *fds)
{
	struct child_ctx ctx = {.sock = fds[0]};
	struct encoder_msg m;
	struct render *r = NULL;
	sigset_t none;
	int rc;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGCHLD, SIG_DFL);
	prctl(PR_SET_NAME, rq->n_chunks ? "reelbox-join" : "reelbox-encode", 0, 0, 0);
	if (rq->n_chunks)
		join_main(rq, fds);
	memset(&m, 0, sizeof(m));
	m.type = ENCODER_RESULT;
	rc = confine_and_encode(rq, fds, &ctx, &r, m.err, sizeof(m.err));
	/* The script's next write gets EPIPE at once; the worker starts its grace. */
	close(fds[1]);
	say_stream_end(&ctx, r);
	rc = finish_result(r, rc, &ctx, &m);
	if (rc == 0 && rq->has_audio && (rc = add_audio(rq, fds, &m)) < 0) {
		m.rc = rc >= -4095 ? rc : -EIO;
		m.sha256[0] = '\0';
	}
	send_msg(ctx.sock, &m, 0);
	_exit(rc == 0 ? 0 : 1);
}

struct slot {
	pid_t pid;
	int sock;
};

static void say_exited(struct slot *s, int status)
{
	struct encoder_msg m;

	memset(&m, 0, sizeof(m));
	m.type = ENCODER_EXITED;
	m.value = status;
	send_msg(s->sock, &m, MSG_DONTWAIT);
	close(s->sock);
	s->pid = 0;
	s->sock = -1;
}

static void reap_children(struct slot *slots)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		for (int i = 0; i < MAX_CHILDREN; i++)
			if (slots[i].pid == pid)
				say_exited(&slots[i], status);
}

static int receive_request(int sock, struct encoder_request *rq, int *fds, int *nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * REQUEST_MAX_FDS)];
	struct iovec iov = {.iov_base = rq, .iov_len = sizeof(*rq)};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *c;
	ssize_t n;

	*nfds = 0;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n == 0 ? -EPIPE : -errno;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		size_t k;
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*nfds < REQUEST_MAX_FDS)
				fds[(*nfds)++] = fd;
			else
				close(fd);
		}
	}
	if (n != (ssize_t)sizeof(*rq) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
	    !valid_request(rq) ||
	    *nfds != 3 + rq->has_poster + rq->has_sheet + rq->n_cg + rq->n_chunks + rq->has_audio)
		return -EPROTO;
	return 0;
}

static struct slot *free_slot(struct slot *slots)
{
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (slots[i].pid == 0)
			return &slots[i];
	return NULL;
}

/* STARTED, with a pidfd of the child riding along: the worker's way to kill it. */
static int say_started(int sock, pid_t pid)
{
	struct encoder_msg m;
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = &m, .iov_len = sizeof(m)};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	int pidfd = pidfd_open(pid, 0);

	if (pidfd < 0)
		return -errno;
	memset(&m, 0, sizeof(m));
	m.type = ENCODER_STARTED;
	m.value = pid;
	memset(cbuf, 0, sizeof(cbuf));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &pidfd, sizeof(int));
	while (sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno == EINTR)
		;
	close(pidfd);
	return 0;
}

/* Fork a child for one request; the slot keeps the job socket for EXITED. */
static void serve_one(struct slot *slots, const struct encoder_request *rq, const int *fds)
{
	struct slot *s = free_slot(slots);
	pid_t pid, server = getpid();

	if (!s) {
		char why[64];

		worker_err(why, sizeof(why), "the encoder server has %d jobs already",
			   MAX_CHILDREN);
		refuse(fds[0], -EAGAIN, why);
		return;
	}
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		if (getppid() != server)
			_exit(1);
		close(SERVER_FD);
		child_main(rq, fds);
	}
	if (pid < 0) {
		int e = errno;
		char why[128];

		worker_err(why, sizeof(why), "cannot start an encoder: %s", strerror(e));
		refuse(fds[0], -e, why);
		return;
	}
	s->pid = pid;
	s->sock = dup(fds[0]);
	/* Without a pidfd the worker could not kill it: no encoder then. */
	if (say_started(s->sock, pid) < 0)
		kill(pid, SIGKILL);
}

/* One request from the worker: refused with the start-up sentence when libav or the
 * policy could not be loaded, else served. -1 when the worker is gone. */
static int answer_request(struct slot *slots, const char *startup_err)
{
	struct encoder_request rq;
	int fds[REQUEST_MAX_FDS], nfds = 0, r;

	r = receive_request(SERVER_FD, &rq, fds, &nfds);
	if (r == -EPIPE || (r < 0 && r != -EPROTO && r != -EAGAIN))
		return -1;
	if (r == 0 && startup_err[0])
		refuse(fds[0], -ENOENT, startup_err);
	else if (r == 0)
		serve_one(slots, &rq, fds);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	return 0;
}

/* SIGCHLD as a descriptor, so the loop below is one poll. */
static int open_sigchld(void)
{
	sigset_t chld;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	return signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
}

int encoder_server_main(int argc, char **argv)
{
	static struct slot slots[MAX_CHILDREN];
	char err[512];
	int sfd;

	if (getenv("REELBOX_AV_VERBOSE") == NULL)
		render_quiet_logs(0);
	/* Both are paid once here instead of once per job; a failure is kept and each
	 * request is answered with its sentence. */
	if (render_libav_load(err, sizeof(err)) == 0 &&
	    sandbox_helper_policy_prepare(err, sizeof(err)) == 0)
		err[0] = '\0';
	sfd = open_sigchld();
	if (sfd < 0)
		return 1;
	for (int i = 0; i < MAX_CHILDREN; i++)
		slots[i].sock = -1;
	for (;;) {
		struct pollfd p[2] = {{.fd = SERVER_FD, .events = POLLIN},
				      {.fd = sfd, .events = POLLIN}};

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return 1;
		if (p[1].revents) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) > 0)
				;
			reap_children(slots);
		}
		if (p[0].revents && answer_request(slots, err) < 0)
			return 0; /* the worker is gone; the children die with us */
	}
}
