/* fuzz_encoder_msg.c - libFuzzer target for encoder_read() (worker/encoder.c).
 *
 * The encoder child parses a script's frames, so the worker treats what it says on the
 * job socket as untrusted: encoder_read() must accept only whole, sane records. The
 * first input byte is how many descriptors ride along (0..7, past the 4 the reader has
 * room for); the rest is sent as one SOCK_SEQPACKET record. Besides "no crash": an
 * accepted record has a known type, sane numbers and terminated strings, a pidfd only
 * for STARTED, and no descriptor the reader was handed outlives the call unless it is
 * the returned pidfd.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "encoder.h"

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_encoder_msg: %s:%d: check failed: %s\n", __FILE__,   \
				__LINE__, #cond);                                                  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* encoder.c's server half confines its children through sandbox/; encoder_read() never
 * gets there, so these stand in for linking the whole sandbox and fail loudly if it did. */
int sandbox_helper_policy_prepare(char *err, size_t errlen)
{
	abort();
}

int sandbox_helper_confine(const struct sandbox_helper_ticket *t, const int *keep, int n_keep,
			   char *err, size_t errlen)
{
	abort();
}

static int devnull = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	CHECK(devnull >= 0);
	return 0;
}

/* Descriptors this process holds: what the reader was handed and did not return must
 * be closed, whichever number the kernel gave it. */
static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	CHECK(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

static void send_record(int sock, const uint8_t *rec, size_t len, int nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = (void *)rec, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	int fds[8];

	memset(&u, 0, sizeof(u));
	for (int i = 0; i < nfds; i++)
		CHECK((fds[i] = dup(devnull)) >= 0);
	if (nfds) {
		struct cmsghdr *c;

		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	CHECK(sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)len);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct encoder_msg m;
	int sv[2], pidfd = -2, r, nfds, before;

	if (size < 1 || size > 1 + sizeof(m) + 64)
		return 0;
	nfds = data[0] % 8;
	before = open_fds();
	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
	send_record(sv[1], data + 1, size - 1, nfds);

	memset(&m, 0xA5, sizeof(m)); /* what the record does not cover is garbage */
	r = encoder_read(sv[0], &m, &pidfd);
	CHECK(r == 1 || r == -EPROTO || r == -EPIPE);
	if (r == 1) {
		CHECK(size - 1 == sizeof(m));
		CHECK(m.type >= ENCODER_STARTED && m.type <= ENCODER_EXITED);
		CHECK(m.frames >= 0 && m.rc <= 0 && m.rc >= -4095);
		CHECK(strnlen(m.sha256, sizeof(m.sha256)) < sizeof(m.sha256));
		CHECK(strnlen(m.stream_kind, sizeof(m.stream_kind)) < sizeof(m.stream_kind));
		for (size_t w = 0; w < sizeof(m.warnings) / sizeof(m.warnings[0]); w++)
			CHECK(strnlen(m.warnings[w], sizeof(m.warnings[w])) <
			      sizeof(m.warnings[w]));
		CHECK(strnlen(m.err, sizeof(m.err)) < sizeof(m.err));
		if (m.type == ENCODER_STARTED)
			CHECK(pidfd >= 0 && fcntl(pidfd, F_GETFD) == FD_CLOEXEC);
		else
			CHECK(pidfd == -1);
		if (m.type == ENCODER_RESULT && m.rc == 0)
			CHECK(strlen(m.sha256) == 64 && strspn(m.sha256, "0123456789abcdef") == 64);
	} else {
		CHECK(pidfd == -1);
	}
	if (pidfd >= 0)
		close(pidfd);

	/* nothing more is pending while the peer lives; its end is the end of the socket */
	CHECK(encoder_read(sv[0], &m, &pidfd) == 0 && pidfd == -1);
	close(sv[1]);
	CHECK(encoder_read(sv[0], &m, &pidfd) == -EPIPE && pidfd == -1);
	close(sv[0]);
	CHECK(open_fds() == before); /* every descriptor that rode along was closed */
	return 0;
}
