/* state.c - the per-sandbox host directory the new root is mounted on, and its sweep.
 *
 * Layout: <state_dir>/sb-<pid>-<starttime>-<seq>/, an empty dir. The child mounts its
 * root's tmpfs on it inside its own mount namespace (mounts.c), and /job is a tmpfs the
 * child fills from the spec's bytes, so nothing of a job is ever written here and the
 * host sees an empty dir. The dir exists so that mount has a private place to go: a
 * mount on a shared path such as /tmp would hide the host files below it from the
 * binds. The owner's pid and its start time (field 22 of /proc/<pid>/stat) are in the
 * name, so a sweep can tell a live owner from a dead one even after the pid has been
 * reused. Removal still empties a dir without following a symlink: the state dir is
 * ours alone, but a dir an older reelbox left held the job's files.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

static pthread_once_t self_once = PTHREAD_ONCE_INIT;
static unsigned long long self_start;
static char default_dir[256];
static unsigned state_seq;

/* Start time of a process in clock ticks since boot, or 0 if it does not exist. */
static unsigned long long proc_start_time(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long long t = 0;
	ssize_t n;
	char *p;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
	if (!p)
		return 0;
	p++; /* at the space before field 3 */
	for (int field = 3; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (p)
		t = strtoull(p + 1, NULL, 10);
	return t;
}

/* Is dir an absolute path to a directory of ours that nobody else may write? */
static int private_dir(const char *dir)
{
	struct stat st;

	return dir && dir[0] == '/' && lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) &&
	       st.st_uid == geteuid() && !(st.st_mode & 022);
}

/* The default state dir: /var/tmp/reelbox for root. Another user cannot use (and must
 * not trust) a dir root or someone else made: $XDG_RUNTIME_DIR/reelbox when the login
 * session gave it a private runtime dir (systemd's /run/user/<uid>, 0700), else
 * /tmp/reelbox-<uid>, which open_base() refuses unless this user owns it alone. */
static void self_init(void)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");

	self_start = proc_start_time(getpid());
	if (geteuid() == 0)
		snprintf(default_dir, sizeof(default_dir), "%s", SANDBOX_DEFAULT_STATE_DIR);
	else if (private_dir(xdg) && strlen(xdg) + sizeof("/reelbox") <= sizeof(default_dir))
		snprintf(default_dir, sizeof(default_dir), "%s/reelbox", xdg);
	else
		snprintf(default_dir, sizeof(default_dir), "/tmp/reelbox-%u", (unsigned)geteuid());
}

int sandbox_state_default_dir(char *buf, size_t len)
{
	pthread_once(&self_once, self_init);
	if (snprintf(buf, len, "%s", default_dir) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

/* Open the state dir, creating it if needed, and insist that it is ours alone: in a dir
 * another user owns or can write, they could swap a sandbox's mount point for a symlink
 * and have the child mount its root wherever the link points. */
static int open_base(const char *dir, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	/* root's dir is searchable (0711) for the tests that look for leftovers; a user's
	 * is theirs alone. */
	if (mkdir(dir, geteuid() == 0 ? 0711 : 0700) < 0 && errno != EEXIST) {
		int e = errno;
		sandbox_errf(err, errlen, "cannot create the sandbox state dir %s: %s", dir,
			     sandbox_strerror(e));
		return -e;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		sandbox_errf(err, errlen, "cannot open the sandbox state dir %s: %s", dir,
			     sandbox_strerror(e));
		return -e;
	}
	if (fstat(fd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 022)) {
		sandbox_errf(err, errlen,
			     "the sandbox state dir %s must be a directory owned by uid %u and "
			     "writable by nobody else",
			     dir, (unsigned)geteuid());
		close(fd);
		return -EPERM;
	}
	return fd;
}

int sandbox_state_create(const char *state_dir, char **sb_dir, char *err, size_t errlen)
{
	char name[96];
	int base, r = 0;

	pthread_once(&self_once, self_init);
	if (!state_dir)
		state_dir = default_dir;
	*sb_dir = NULL;
	if ((base = open_base(state_dir, err, errlen)) < 0)
		return base;
	snprintf(name, sizeof(name), "sb-%d-%llu-%u", (int)getpid(), self_start,
		 __atomic_fetch_add(&state_seq, 1, __ATOMIC_RELAXED));
	if (mkdirat(base, name, 0700) < 0) {
		r = -errno;
		sandbox_errf(err, errlen, "cannot create %s/%s: %s", state_dir, name,
			     sandbox_strerror(r));
	} else if (asprintf(sb_dir, "%s/%s", state_dir, name) < 0) {
		*sb_dir = NULL;
		unlinkat(base, name, AT_REMOVEDIR);
		r = -ENOMEM;
	}
	close(base);
	return r;
}

/* Empty the directory dir_fd without following any symlink: links are unlinked, not
 * resolved, so a link planted in a state dir cannot make us delete host files. */
static int remove_contents(int dir_fd, int depth)
{
	DIR *d;
	struct dirent *de;
	int fd, r = 0;

	if (depth > 8)
		return -ELOOP;
	fd = dup(dir_fd);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (unlinkat(dir_fd, de->d_name, 0) == 0)
			continue;
		if (errno != EISDIR && errno != EPERM) {
			r = -errno;
			continue;
		}
		int sub =
		    openat(dir_fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0) {
			r = -errno;
			continue;
		}
		int rr = remove_contents(sub, depth + 1);
		close(sub);
		if (rr < 0)
			r = rr;
		else if (unlinkat(dir_fd, de->d_name, AT_REMOVEDIR) < 0)
			r = -errno;
	}
	closedir(d);
	return r;
}

int sandbox_state_remove(const char *sb_dir)
{
	int fd, r;

	fd = open(sb_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	r = remove_contents(fd, 0);
	close(fd);
	if (r < 0)
		return r;
	return rmdir(sb_dir) < 0 ? -errno : 0;
}

int sandbox_state_sweep(const char *state_dir)
{
	struct dirent *de;
	int removed = 0;
	DIR *d;

	pthread_once(&self_once, self_init);
	if (!state_dir)
		state_dir = default_dir;
	d = opendir(state_dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		unsigned long long start;
		unsigned seq;
		char *path;
		int pid, used = 0;

		if (sscanf(de->d_name, "sb-%d-%llu-%u%n", &pid, &start, &seq, &used) != 3 ||
		    de->d_name[used] != '\0' || pid <= 0)
			continue;
		if (proc_start_time(pid) == start)
			continue; /* its owner still runs */
		if (asprintf(&path, "%s/%s", state_dir, de->d_name) < 0)
			continue;
		if (sandbox_state_remove(path) == 0)
			removed++;
		free(path);
	}
	closedir(d);
	return removed;
}
