/* tier_check.c - can a tier start on this host? A real start of /bin/true in it. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

int sandbox_tier_check(enum sandbox_tier t, char *info, size_t infolen, char *err, size_t errlen)
{
	static const char *const argv[] = {"/bin/true", NULL};
	static const char *const envp[] = {"PATH=/usr/bin:/bin", NULL};
	struct sandbox_spec spec = {.tier = t,
				    .argv = argv,
				    .envp = envp,
				    .stdin_fd = -1,
				    .stdout_fd = -1,
				    .stderr_fd = -1,
				    .slot = SANDBOX_MAX_SLOT,
				    .limits = {.timeout_ms = 30000}};
	struct sandbox_enforcement e;
	struct sandbox_result res;
	struct sandbox *sb;
	char version[80];
	int r;

	if ((unsigned)t >= SANDBOX_TIER_COUNT) {
		sandbox_errf(err, errlen, "there is no tier %d", (int)t);
		return -EINVAL;
	}
	/* "auto" on a host with /dev/kvm: KVM when it runs, else ptrace (a platform of the
	 * same tier, not a weaker tier). */
	if (t == SANDBOX_TIER_GVISOR && sandbox_gvisor_platform_is_auto() &&
	    !strcmp(sandbox_gvisor_platform(), "kvm")) {
		sandbox_gvisor_pin_platform("kvm");
		if (sandbox_tier_check(t, info, infolen, err, errlen) == 0)
			return 0;
		sandbox_gvisor_pin_platform("ptrace");
	}
	if ((r = sandbox_start(&spec, &sb, err, errlen)) < 0)
		return r;
	r = sandbox_wait(sb, &res);
	sandbox_destroy(sb);
	if (r < 0 || res.end != SANDBOX_EXITED || res.exit_code != 0) {
		char why[64];
		snprintf(why, sizeof(why), "%s exited with status %d",
			 t == SANDBOX_TIER_GVISOR ? "runsc" : "/bin/true", res.exit_code);
		sandbox_errf(err, errlen, "the %s tier could not run /bin/true: %s",
			     sandbox_tier_name(t),
			     r < 0	     ? sandbox_strerror(r)
			     : res.reason[0] ? res.reason
					     : why);
		return r < 0 ? r : -EIO;
	}
	if (t == SANDBOX_TIER_GVISOR) {
		sandbox_gvisor_version(version, sizeof(version));
		snprintf(info, infolen, "%s, platform %s", version, sandbox_gvisor_platform());
	} else {
		sandbox_enforcement(&e);
		snprintf(info, infolen, "namespaces, seccomp, cgroup %s", e.cgroup);
	}
	return 0;
}
