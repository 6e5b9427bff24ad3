/* scratch.c - a file the script left in its scratch dir, opened safely after it exited.
 *
 * The scratch dir is a tmpfs mounted in the sandbox's own mount namespace: the host has
 * no path to it, and it is gone once the sandbox's processes exit unless a descriptor
 * holds it. So the child, once its root is built and before anything of the job's runs,
 * sends an O_PATH descriptor of /scratch to the parent (sandbox_scratch_send_from_child,
 * over the socket the seccomp listener takes next), and the parent keeps it until
 * sandbox_destroy(). Everything in that tree was written by the script and is hostile:
 * a name is resolved beneath the root only, on the same mount, with no symbolic or magic
 * link followed, and only a regular file is opened for the caller. The open itself
 * cannot block (O_NONBLOCK: a FIFO opens at once and is then refused by its type).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/openat2.h>

#include "internal.h"
#include "policy.h"

int sandbox_scratch_send_from_child(int sock)
{
	/* O_PATH: the descriptor grants no read or write of its own, only a place to
	 * resolve names beneath. */
	int fd = open("/scratch", O_PATH | O_DIRECTORY | O_CLOEXEC), r;

	if (fd < 0)
		return -errno;
	r = sandbox_policy_send_listener(sock, fd);
	close(fd);
	return r;
}

int sandbox_scratch_receive_from_parent(int sock, int *scratch_fd)
{
	return sandbox_policy_recv_listener(sock, scratch_fd);
}

/* What the name is, when it is not a regular file: for the sentence. The lstat-like
 * look goes through the same resolution rules (no link followed, beneath the root). */
static const char *kind_of(mode_t m)
{
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISLNK(m))
		return "a symbolic link";
	if (S_ISSOCK(m))
		return "a socket";
	if (S_ISCHR(m) || S_ISBLK(m))
		return "a device";
	return "not a regular file";
}

static void say_not_regular(const char *what, const char *name, const char *kind, char *err,
			    size_t errlen)
{
	sandbox_errf(err, errlen,
		     "the job names %s \"%s\" but in $SCRATCH it is %s: %s must be a regular "
		     "file the script wrote",
		     what, name, kind, what);
}

/* Why openat2 refused: a link on the way (ELOOP), an escape (EXDEV), nothing there. */
static int say_open_failure(int e, const char *what, const char *name, char *err, size_t errlen)
{
	switch (e) {
	case ENOENT:
		sandbox_errf(err, errlen,
			     "the job names %s \"%s\" but the script wrote no such file in "
			     "$SCRATCH",
			     what, name);
		break;
	case ELOOP:
		sandbox_errf(err, errlen,
			     "the job names %s \"%s\" but in $SCRATCH it is (or passes through) "
			     "a symbolic link: %s must be a regular file the script wrote",
			     what, name, what);
		break;
	case EXDEV:
		sandbox_errf(err, errlen,
			     "the job names %s \"%s\" but it leads out of $SCRATCH: %s must be a "
			     "regular file the script wrote there",
			     what, name, what);
		break;
	case ENOTDIR:
		sandbox_errf(err, errlen,
			     "the job names %s \"%s\" but a part of that path in $SCRATCH is not "
			     "a directory",
			     what, name);
		break;
	default:
		sandbox_errf(err, errlen, "cannot open %s \"%s\" in $SCRATCH: %s", what, name,
			     sandbox_strerror(e));
	}
	return -e;
}

int sandbox_scratch_open(struct sandbox *sb, const char *name, const char *what, char *err,
			 size_t errlen)
{
	struct open_how how = {
	    .flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
	    /* every escape refused: '..' above the root, absolute names, links of any
	     * kind (the script made them), other mounts */
	    .resolve =
		RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	struct stat st;
	int fd;

	what = what && *what ? what : "a file";
	if (!sb || sb->scratch_fd < 0) {
		sandbox_errf(err, errlen, "the sandbox's scratch dir is not available");
		return -EBADF;
	}
	if (!name || !*name || name[0] == '/') {
		sandbox_errf(err, errlen, "%s must name a file inside $SCRATCH", what);
		return -EINVAL;
	}
	do
		fd = (int)syscall(SYS_openat2, sb->scratch_fd, name, &how, sizeof(how));
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		int e = errno;
		struct open_how look = {.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
					.resolve = how.resolve};
		int pfd;

		/* O_NOFOLLOW on a last component that is a link gives ELOOP; a FIFO or a
		 * device may refuse the open itself (nodev): name what is there. */
		if (e != ENOENT && e != ELOOP && e != EXDEV &&
		    (pfd = (int)syscall(SYS_openat2, sb->scratch_fd, name, &look, sizeof(look))) >=
			0) {
			if (fstat(pfd, &st) == 0 && !S_ISREG(st.st_mode)) {
				say_not_regular(what, name, kind_of(st.st_mode), err, errlen);
				close(pfd);
				return -EINVAL;
			}
			close(pfd);
		}
		return say_open_failure(e, what, name, err, errlen);
	}
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return say_open_failure(e, what, name, err, errlen);
	}
	if (!S_ISREG(st.st_mode)) {
		say_not_regular(what, name, kind_of(st.st_mode), err, errlen);
		close(fd);
		return -EINVAL;
	}
	return fd;
}
