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
#include <pthread.h>
#include <pwd.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/securebits.h>

#include "internal.h"

/* newuidmap and newgidmap (Debian's uidmap package): setuid-root helpers that write an
 * id map of the caller's subordinate ids (/etc/subuid, /etc/subgid) into a child's
 * user namespace. Fixed paths: never found through PATH. */
#define NEWUIDMAP "/usr/bin/newuidmap"
#define NEWGIDMAP "/usr/bin/newgidmap"

static pthread_once_t sub_once = PTHREAD_ONCE_INIT;
static struct {
	int usable; /* both ranges found, both helpers present */
	unsigned long uid_base, gid_base;
	char why[160]; /* why not, when not */
} sub;

/* The first range of at least SANDBOX_MAX_SLOT + 1 ids for name or uid in file
 * ("name:start:count" lines, the owner by name or number); 0 and *base, or -1. */
static int find_range(const char *file, const char *name, unsigned long id, unsigned long *base)
{
	char line[256], idstr[24];
	FILE *f = fopen(file, "re");
	int found = -1;

	if (!f)
		return -1;
	snprintf(idstr, sizeof(idstr), "%lu", id);
	while (found < 0 && fgets(line, sizeof(line), f)) {
		char *save = NULL, *owner = strtok_r(line, ":", &save);
		char *start = strtok_r(NULL, ":", &save), *count = strtok_r(NULL, ":\n", &save);
		char *end1, *end2;
		unsigned long b, n;

		if (!owner || !start || !count || (strcmp(owner, name) && strcmp(owner, idstr)))
			continue;
		errno = 0;
		b = strtoul(start, &end1, 10);
		n = strtoul(count, &end2, 10);
		/* every slot must fit, and no slot may land on root */
		if (!errno && !*end1 && !*end2 && b > 0 && n > SANDBOX_MAX_SLOT &&
		    b + SANDBOX_MAX_SLOT < 0xfffffffful) {
			*base = b;
			found = 0;
		}
	}
	fclose(f);
	return found;
}

/* Without root, per-slot host ids need the user's subordinate ranges and the helpers
 * that may map them; otherwise every slot shares the user's own id. */
static void sub_init(void)
{
	struct passwd pw, *res = NULL;
	char buf[1024];
	const char *name;

	if (geteuid() == 0)
		return;
	name = getpwuid_r(geteuid(), &pw, buf, sizeof(buf), &res) == 0 && res ? pw.pw_name : "";
	if (access(NEWUIDMAP, X_OK) < 0 || access(NEWGIDMAP, X_OK) < 0)
		snprintf(sub.why, sizeof(sub.why), "no %s and %s (Debian's uidmap package)",
			 NEWUIDMAP, NEWGIDMAP);
	else if (find_range("/etc/subuid", name, geteuid(), &sub.uid_base) < 0 ||
		 find_range("/etc/subgid", name, getegid(), &sub.gid_base) < 0)
		snprintf(sub.why, sizeof(sub.why),
			 "no range of %u subordinate ids for this user in /etc/subuid and "
			 "/etc/subgid",
			 SANDBOX_MAX_SLOT + 1);
	else
		sub.usable = 1;
}

int sandbox_ids_subordinate(const char **why)
{
	pthread_once(&sub_once, sub_init);
	if (why)
		*why = sub.why;
	return sub.usable;
}

int sandbox_ids_prepare_from_parent(struct sandbox_ids *ids, unsigned slot)
{
	if (slot > SANDBOX_MAX_SLOT)
		return -ERANGE;
	ids->host_is_root = geteuid() == 0;
	ids->subordinate = !ids->host_is_root && sandbox_ids_subordinate(NULL);
	if (ids->host_is_root) {
		ids->host_uid = SANDBOX_HOST_ID_BASE + slot;
		ids->host_gid = SANDBOX_HOST_ID_BASE + slot;
	} else if (ids->subordinate) {
		ids->host_uid = (uid_t)(sub.uid_base + slot);
		ids->host_gid = (gid_t)(sub.gid_base + slot);
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

/* Run newuidmap or newgidmap PID 1000 HOST 1 with nothing of ours: an empty
 * environment, /dev/null for stdio. 0, or -EPERM when it refused. */
static int run_idmap(const char *tool, pid_t pid, unsigned long host)
{
	char spid[24], shost[24], sinner[24];
	char *argv[] = {(char *)tool, spid, sinner, shost, "1", NULL};
	char *envp[] = {NULL};
	posix_spawn_file_actions_t fa;
	pid_t child;
	int r, st;

	snprintf(spid, sizeof(spid), "%d", (int)pid);
	snprintf(sinner, sizeof(sinner), "%d", SANDBOX_INNER_ID);
	snprintf(shost, sizeof(shost), "%lu", host);
	if ((r = posix_spawn_file_actions_init(&fa)))
		return -r;
	for (int fd = 0; fd < 3; fd++)
		posix_spawn_file_actions_addopen(&fa, fd, "/dev/null", O_RDWR, 0);
	r = posix_spawn(&child, tool, &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	if (r)
		return -r;
	while ((r = waitpid(child, &st, 0)) < 0 && errno == EINTR)
		;
	/* ECHILD: a process that ignores SIGCHLD has its children reaped for it, and the
	 * wait returns only once the tool has exited; the map itself is checked after. */
	if (r < 0)
		return errno == ECHILD ? 0 : -errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EPERM;
}

/* Does /proc/<pid>/<name> hold exactly the map we asked for? 0, or -EPERM. */
static int check_map(pid_t pid, const char *name, unsigned long host)
{
	char path[64], buf[128];
	unsigned long in, out, count;
	ssize_t n;
	int fd, used = 0;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EPERM;
	buf[n] = '\0';
	if (sscanf(buf, "%lu %lu %lu\n%n", &in, &out, &count, &used) != 3 || buf[used] ||
	    in != SANDBOX_INNER_ID || out != host || count != 1)
		return -EPERM;
	return 0;
}

/* Write the child's maps. The pid cannot be reused meanwhile: it is our unreaped child.
 * As root we keep setgroups allowed so the child can drop the host's supplementary
 * groups; with subordinate ids newgidmap keeps it allowed too; otherwise the kernel
 * demands "deny" before an unprivileged gid_map. */
int sandbox_ids_write_from_parent(const struct sandbox_ids *ids, pid_t pid)
{
	int r;

	if (ids->subordinate) {
		if ((r = run_idmap(NEWUIDMAP, pid, ids->host_uid)) < 0 ||
		    (r = run_idmap(NEWGIDMAP, pid, ids->host_gid)) < 0 ||
		    (r = check_map(pid, "uid_map", ids->host_uid)) < 0)
			return r;
		return check_map(pid, "gid_map", ids->host_gid);
	}
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
	if ((ids->host_is_root || ids->subordinate) && syscall(SYS_setgroups, 0, NULL) < 0)
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

int sandbox_ids_limit_from_child(int proc_fd, int cgroupns_later, const char **what)
{
	for (size_t i = 0; i < sizeof(userns_limits) / sizeof(userns_limits[0]); i++) {
		const char *v = userns_limits[i][1];
		const char *cg = "sys/user/max_cgroup_namespaces", *name = userns_limits[i][0];
		size_t k = 0;

		/* A zygote's child makes its own after the cgroup attach: room for that one. */
		while (cg[k] && cg[k] == name[k])
			k++;
		if (cgroupns_later && cg[k] == name[k])
			v = "1";
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
