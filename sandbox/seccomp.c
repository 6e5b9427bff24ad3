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
 *     flood the job log.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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

int sandbox_seccomp_rate_limit(struct sandbox_denied *d, char *msg, size_t len)
{
	uint64_t h = hash_str(msg);
	size_t used = strlen(msg);
	unsigned i;

	d->total++;
	snprintf(d->last, sizeof(d->last), "%s", msg);
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
