/* ids.c - the user namespace's id maps and the child's switch to the inner user.
 *
 * Exactly one uid and one gid exist inside: SANDBOX_INNER_ID. There is no inner root
 * at all, so nothing in the sandbox, not even a kernel bug that resets a process to
 * uid 0 inside, maps to a host id with any privilege.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/securebits.h>

#include "internal.h"

int sandbox_ids_prepare_from_parent(struct sandbox_ids *ids, unsigned slot)
{
	if (slot > SANDBOX_MAX_SLOT)
		return -ERANGE;
	ids->host_is_root = geteuid() == 0;
	if (ids->host_is_root) {
		ids->host_uid = SANDBOX_HOST_ID_BASE + slot;
		ids->host_gid = SANDBOX_HOST_ID_BASE + slot;
	} else {
		ids->host_uid = geteuid();
		ids->host_gid = getegid();
	}
	snprintf(ids->uid_map, sizeof(ids->uid_map), "%d %u 1\n", SANDBOX_INNER_ID,
		 (unsigned)ids->host_uid);
	snprintf(ids->gid_map, sizeof(ids->gid_map), "%d %u 1\n", SANDBOX_INNER_ID,
		 (unsigned)ids->host_gid);
	return 0;
}

static int write_proc(pid_t pid, const char *name, const char *text)
{
	char path[64];
	size_t len = strlen(text);
	int fd, r = 0;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len)
		r = -errno;
	close(fd);
	return r;
}

/* Write the child's maps. The pid cannot be reused meanwhile: it is our unreaped child.
 * As root we keep setgroups allowed so the child can drop the host's supplementary
 * groups; otherwise the kernel demands "deny" before an unprivileged gid_map. */
int sandbox_ids_write_from_parent(const struct sandbox_ids *ids, pid_t pid)
{
	int r;

	if (!ids->host_is_root && (r = write_proc(pid, "setgroups", "deny")) < 0)
		return r;
	if ((r = write_proc(pid, "uid_map", ids->uid_map)) < 0)
		return r;
	return write_proc(pid, "gid_map", ids->gid_map);
}

/* Become the inner user while keeping the namespace's capabilities for the mounts that
 * follow (caps.c drops them all before the exec). Raw system calls: glibc's wrappers
 * would try to signal the parent's other threads, which do not exist here. */
int sandbox_ids_switch_from_child(const struct sandbox_ids *ids)
{
	gid_t g = SANDBOX_INNER_ID;
	uid_t u = SANDBOX_INNER_ID;

	/* The host's supplementary groups (root's gid 0 among them) would otherwise grant
	 * group access to host files inside the binds. */
	if (ids->host_is_root && syscall(SYS_setgroups, 0, NULL) < 0)
		return -errno;
	if (syscall(SYS_prctl, PR_SET_SECUREBITS, SECBIT_NO_SETUID_FIXUP, 0, 0, 0) < 0)
		return -errno;
	if (syscall(SYS_setresgid, g, g, g) < 0)
		return -errno;
	if (syscall(SYS_setresuid, u, u, u) < 0)
		return -errno;
	return 0;
}

/* The user namespace's own limits (proc(5), /proc/sys/user/), checked for every user
 * inside it before the host's per-user limits of the namespace's owner, the slot's
 * uid. A job needs a few inotify instances and no namespace at all; the namespace
 * limits hold even for a process that a kernel bug gave back a capability, and the
 * seccomp policy refuses those calls too. */
static const char *const userns_limits[][2] = {
    /* inotify_init1 in a loop: each instance pins kernel memory and the owner's count */
    {"sys/user/max_inotify_instances", "16"},
    /* inotify_add_watch in a loop: each watch pins an inode in the host's cache */
    {"sys/user/max_inotify_watches", "1024"},
    /* fanotify groups: the same pinning through the other notification API */
    {"sys/user/max_fanotify_groups", "0"},
    /* fanotify marks: as inotify watches */
    {"sys/user/max_fanotify_marks", "0"},
    /* nested user namespaces: every capability inside, the first step of many exploits */
    {"sys/user/max_user_namespaces", "0"},
    /* mount namespaces: a copy of every mount of the job per unshare */
    {"sys/user/max_mnt_namespaces", "0"},
    /* pid namespaces: processes hidden from the job's own pid 1 */
    {"sys/user/max_pid_namespaces", "0"},
    /* network namespaces: a network stack's worth of kernel memory per unshare */
    {"sys/user/max_net_namespaces", "0"},
    /* IPC namespaces: fresh SysV IPC limits of its own */
    {"sys/user/max_ipc_namespaces", "0"},
    /* UTS namespaces: kernel objects a job never needs */
    {"sys/user/max_uts_namespaces", "0"},
    /* cgroup namespaces: a view of the cgroup tree rooted elsewhere */
    {"sys/user/max_cgroup_namespaces", "0"},
    /* time namespaces: clocks offset from the host's */
    {"sys/user/max_time_namespaces", "0"},
};

int sandbox_ids_limit_from_child(int proc_fd, const char **what)
{
	for (size_t i = 0; i < sizeof(userns_limits) / sizeof(userns_limits[0]); i++) {
		const char *v = userns_limits[i][1];
		size_t len = 0;
		ssize_t n;
		int fd;

		*what = userns_limits[i][0];
		fd = openat(proc_fd, userns_limits[i][0], O_WRONLY | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT)
			continue; /* a kernel older than this limit */
		if (fd < 0)
			return -errno;
		while (v[len])
			len++;
		n = write(fd, v, len);
		if (n != (ssize_t)len) {
			int e = n < 0 ? errno : EIO;
			close(fd);
			return -e;
		}
		close(fd);
	}
	return 0;
}
