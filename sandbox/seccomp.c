/* seccomp.c - the syscall filter, its listener, and what the script's author is told.
 *
 * The policy itself (what is allowed, what is denied and why) lives in policy.c. This
 * file wires it into the sandbox:
 *   - the parent builds the filter once per process, in SANDBOX_POLICY_NOTIFY mode, and
 *     every sandbox shares that one read-only program (libseccomp allocates, so it
 *     cannot run in the child);
 *   - the child installs it as its very last step before the exec of the init, after
 *     the caps drop and no_new_privs, so the init and everything it starts are filtered
 *     and nothing before needs to be on the allowlist; it then sends the listener fd to
 *     the parent over a socketpair (sendmsg and close are allowed) and closes its copy,
 *     so no process inside holds the fd that answers for the filter;
 *   - the parent answers every denied call with the policy's errno and gets a sentence
 *     naming it. Repeats are held back: a script looping on a denied call must not
 *     flood the job log;
 *   - the encoder helper's allowlist (helper.c) is built here once per process too, and
 *     installed by each helper as its last confinement step.
 * The rest of the sandbox reaches the policy only through this file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <linux/seccomp.h>

#include "internal.h"
#include "policy.h"

static pthread_once_t policy_once = PTHREAD_ONCE_INIT;
static struct sock_fprog policy_prog;
static int policy_rc;
static char policy_err[256];

/* The policy compiled at build time by policy_gen/gen.c (same table, same flags). */
extern const unsigned char reelbox_policy_blob[], reelbox_policy_blob_end[];

/* Never freed: every sandbox of the process points at it, the clone copies the
 * pointer, and the filter is the same for all of them. The embedded program is used
 * when the build made one; compiling it here is the fallback. */
static void policy_build_once(void)
{
	size_t bytes =
	    (size_t)((uintptr_t)reelbox_policy_blob_end - (uintptr_t)reelbox_policy_blob);

	if (bytes && bytes % sizeof(struct sock_filter) == 0 &&
	    bytes / sizeof(struct sock_filter) <= BPF_MAXINSNS) {
		policy_prog.len = (unsigned short)(bytes / sizeof(struct sock_filter));
		policy_prog.filter = (struct sock_filter *)(uintptr_t)reelbox_policy_blob;
		return;
	}
	policy_rc = sandbox_policy_build(&policy_prog, SANDBOX_POLICY_NOTIFY, policy_err,
					 sizeof(policy_err));
}

int sandbox_seccomp_prepare_from_parent(struct sock_fprog *prog, char *err, size_t errlen)
{
	pthread_once(&policy_once, policy_build_once);
	prog->len = 0;
	prog->filter = NULL;
	if (policy_rc < 0) {
		snprintf(err, errlen, "cannot build the seccomp filter: %s",
			 policy_err[0] ? policy_err : sandbox_strerror(-policy_rc));
		return policy_rc;
	}
	*prog = policy_prog;
	return 0;
}

int sandbox_seccomp_install_from_child(const struct sock_fprog *prog, int sock)
{
	int listener = -1, r;

	/* TSYNC is not wanted (the child has one thread); the filter applies to this
	 * process and is inherited by everything the init starts. */
	if ((r = sandbox_policy_install(prog, &listener)) < 0)
		return r;
	r = sandbox_policy_send_listener(sock, listener);
	close(listener);
	close(sock);
	return r;
}

int sandbox_seccomp_receive_from_parent(int sock, int *listener)
{
	return sandbox_policy_recv_listener(sock, listener);
}

const char *sandbox_seccomp_sigsys_reason(void)
{
	return sandbox_policy_sigsys_reason();
}

void sandbox_seccomp_free(struct sock_fprog *prog)
{
	/* The program is the shared one: forget it, never free it. */
	prog->filter = NULL;
	prog->len = 0;
}

/* FNV-1a: enough to tell a handful of sentences apart. */
static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static int power_of_ten(unsigned n)
{
	while (n >= 10 && n % 10 == 0)
		n /= 10;
	return n == 1;
}

/* Count msg; 1 when it should be shown (msg may get a suffix), 0 when held back. */
static int rate_limit(struct sandbox_denied *d, char *msg, size_t len)
{
	uint64_t h = hash_str(msg);
	size_t used = strlen(msg);
	unsigned i;

	d->total++;
	/* The result keeps the sentence's start; a long one is cut, as before. */
	snprintf(d->last, sizeof(d->last), "%.*s", (int)sizeof(d->last) - 1, msg);
	for (i = 0; i < d->n_distinct; i++) {
		if (d->seen[i].hash != h)
			continue;
		d->seen[i].count++;
		if (!power_of_ten(d->seen[i].count))
			return 0;
		snprintf(msg + used, len - used, " (%u times so far)", d->seen[i].count);
		return 1;
	}
	if (d->n_distinct < SANDBOX_DENIED_DISTINCT) {
		d->seen[d->n_distinct].hash = h;
		d->seen[d->n_distinct].count = 1;
		d->n_distinct++;
		return 1;
	}
	if (d->overflow_told)
		return 0;
	d->overflow_told = 1;
	snprintf(msg + used, len - used,
		 " (%d different denials shown; further ones are counted, not shown)",
		 SANDBOX_DENIED_DISTINCT);
	return 1;
}

int sandbox_seccomp_answer_from_parent(int listener, struct sandbox_denied *d, char *msg,
				       size_t len)
{
	struct pollfd p = {.fd = listener, .events = POLLIN};
	char buf[384];
	int r;

	if (len)
		msg[0] = '\0';
	if (listener < 0)
		return -EBADF;
	/* The receive blocks when nothing is pending: look first, so a spurious
	 * wake-up (or a hang-up) never stalls the caller's event loop. */
	do
		r = poll(&p, 1, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (!(p.revents & POLLIN))
		return p.revents & (POLLHUP | POLLERR | POLLNVAL) ? -EPIPE : 0;
	buf[0] = '\0';
	/* A negative answer means the caller died meanwhile: the call never ran, but
	 * it was made, so a sentence that came back still counts. */
	sandbox_policy_notify_receive_and_deny(listener, buf, sizeof(buf));
	if (!buf[0] || !rate_limit(d, buf, sizeof(buf)))
		return 0;
	snprintf(msg, len, "%s", buf);
	return 1;
}

/* ---- the encoder helper's filter -------------------------------------------------- */

/* Built by the process that forks helpers, before its first fork; each helper then
 * installs its copy of it. Never freed, like the job's. */
static struct sock_fprog helper_prog;

int sandbox_seccomp_helper_prepare(char *err, size_t errlen)
{
	if (helper_prog.filter)
		return 0;
	return sandbox_policy_build_helper(&helper_prog, err, errlen);
}

int sandbox_seccomp_helper_ready(void)
{
	return helper_prog.filter != NULL;
}

int sandbox_seccomp_helper_install(void)
{
	if (!helper_prog.filter)
		return -EINVAL;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &helper_prog) < 0 ? -errno : 0;
}
