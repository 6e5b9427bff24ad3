/* caps.c - leave the child with no capability it could ever regain.
 *
 * Runs after the mounts (they need CAP_SYS_ADMIN in the namespace) and before the
 * exec of the init. Order matters: securebits and the bounding set need CAP_SETPCAP,
 * so they go first and capset() clears the sets last.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/securebits.h>

#include "internal.h"

int sandbox_caps_drop_from_child(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {{0}};
	unsigned long bits;

	/* Locked securebits: uid 0 gets no implicit capabilities (NOROOT), a uid change
	 * cannot keep or restore any (KEEP_CAPS off, locked), and no ambient capability can
	 * be raised, so even a setuid-0 exec inside gains nothing. */
	bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
	       SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
	       SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
	if (syscall(SYS_prctl, PR_SET_SECUREBITS, bits, 0, 0, 0) < 0)
		return -errno;

	/* An empty bounding set: no file capability on any binary can grant anything. */
	for (unsigned long cap = 0; cap < 64; cap++) {
		if (syscall(SYS_prctl, PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (errno == EINVAL)
				break; /* past the kernel's last capability */
			return -errno;
		}
	}
	if (syscall(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 &&
	    errno != EINVAL)
		return -errno;
	/* Empty effective, permitted and inheritable sets for the init and the script. */
	if (syscall(SYS_capset, &hdr, data) < 0)
		return -errno;
	/* no_new_privs: no setuid bit or file capability works across execve, and it is
	 * what lets the seccomp filter be installed without CAP_SYS_ADMIN. */
	if (syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	return 0;
}
