/* seccomp.c - the syscall filter.
 *
 * HOOK ONLY for now (issue 3 fills it in with a libseccomp allowlist). The parent
 * compiles the filter into a BPF program before the clone (libseccomp allocates, so it
 * cannot run in the child); the child installs it as its very last step before the
 * exec of the init, after no_new_privs, so the init and everything it starts are
 * filtered and nothing before needs to be allowed by the policy but execveat.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/seccomp.h>

#include "internal.h"

int sandbox_seccomp_prepare_from_parent(const struct sandbox_spec *spec, struct sock_fprog *prog)
{
	prog->len = 0;
	prog->filter = NULL;
	return 0;
}

int sandbox_seccomp_install_from_child(const struct sock_fprog *prog)
{
	if (!prog->len)
		return 0;
	/* TSYNC is not wanted (the child has one thread); the filter applies to this
	 * process and is inherited by everything the init starts. */
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog) < 0)
		return -errno;
	return 0;
}

void sandbox_seccomp_free(struct sock_fprog *prog)
{
	free(prog->filter);
	prog->filter = NULL;
	prog->len = 0;
}
