/* mounts.c - the sandbox's filesystem: a new root on tmpfs, built from a plan.
 *
 * The parent turns the host's layout and the spec into a flat list of operations
 * (mkdir, symlink, bind, tmpfs ...) with paths relative to the new root; the child
 * only walks that list with plain system calls, then pivots into the new root and
 * detaches the host's. What the script sees:
 *
 *   /usr /bin /sbin /lib* read-only binds (merged-usr symlinks recreated as symlinks)
 *   /etc                  a few public pieces a runtime needs, plus generated passwd,
 *                         group, hosts and hostname; never the host's whole /etc
 *   /job                  read-only: the spec's files, on a tmpfs of its own
 *   /scratch              size- and inode-limited tmpfs owned by the script; /tmp -> it
 *   /proc                 fresh, for the sandbox's pid namespace only
 *   /dev                  null zero full random urandom, fd and std* links, shm -> scratch
 *   spec->binds           read-only, where the operator's runtime table puts them
 *
 * Everything else, / included, is read-only. Every mount is nosuid, and every one but
 * the five device binds (which must keep working as devices) is nodev.
 *
 * /proc/self/mountinfo names the root of every mount inside its file system: a bind of
 * a host dir would show that dir's host path. So the only binds are of system paths
 * the script sees under the same name anyway; /job is a tmpfs the child fills from the
 * spec's bytes, not a bind of the state dir, whose name carries the worker's pid.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

/* The new root's tmpfs: owned by the sandbox user, who builds it after the id switch. */
#define STR_(x) #x
#define STR(x)	STR_(x)
#define ROOT_OPTS                                                                                  \
	"size=1m,nr_inodes=4096,mode=0755,uid=" STR(SANDBOX_INNER_ID) ",gid=" STR(SANDBOX_INNER_ID)
#define DEV_OPTS    "size=64k,nr_inodes=64,mode=0755"
#define MAX_SYS_OPS 64

static const char *const sys_roots[] = {"usr", "bin", "sbin", "lib", "lib64", "lib32", "libx32"};

/* Public pieces of /etc a runtime reads. Anything not listed stays out: /etc holds
 * shadow, ssh host keys, TLS private keys and the worker's own configuration. */
static const char *const etc_pieces[] = {
    "etc/alternatives",	 "etc/fonts",	  "etc/ssl/certs",	"etc/ssl/openssl.cnf",
    "etc/ld.so.cache",	 "etc/localtime", "etc/timezone",	"etc/mime.types",
    "etc/nsswitch.conf", "etc/python3",	  "etc/debian_version",
};

/* Generated identity files: the script's user exists by name, the host's users do not. */
static const char passwd_txt[] = "root:x:0:0:root:/root:/usr/sbin/nologin\n"
				 "reelbox:x:1000:1000:reelbox:/scratch:/bin/sh\n"
				 "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
static const char group_txt[] = "root:x:0:\nreelbox:x:1000:\nnogroup:x:65534:\n";
static const char hosts_txt[] = "127.0.0.1\tlocalhost reelbox\n::1\tlocalhost ip6-localhost\n";
static const char hostname_txt[] = "reelbox\n";

static const char *const dev_nodes[] = {"null", "zero", "full", "random", "urandom"};

static struct sandbox_mount sys_ops[MAX_SYS_OPS];
static size_t n_sys_ops;
static pthread_once_t sys_once = PTHREAD_ONCE_INIT;

static void sys_add(enum sandbox_mount_op op, const char *src, const char *dst, const char *data,
		    int is_dir, int mkdir_parents)
{
	if (n_sys_ops == MAX_SYS_OPS)
		return;
	sys_ops[n_sys_ops++] = (struct sandbox_mount){op, src, dst, data, is_dir, mkdir_parents};
}

/* Add host path "/<rel>" to the plan as it is on the host: a directory or file becomes a
 * bind, a symlink is recreated (merged-usr's /bin -> usr/bin stays a link, so paths
 * through it resolve inside the new root). Missing entries are skipped. The strings are
 * kept for the life of the process. */
static void sys_add_host(const char *rel, int mkdir_parents)
{
	char *src, *target;
	struct stat st;
	ssize_t n;

	if (asprintf(&src, "/%s", rel) < 0)
		return;
	if (lstat(src, &st) < 0) {
		free(src);
		return;
	}
	if (S_ISLNK(st.st_mode)) {
		target = calloc(1, PATH_MAX);
		n = target ? readlink(src, target, PATH_MAX - 1) : -1;
		if (n > 0)
			sys_add(SANDBOX_MNT_SYMLINK, NULL, src + 1, target, 0, mkdir_parents);
		else
			free(target);
		return;
	}
	if (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)) {
		sys_add(SANDBOX_MNT_BIND, src, src + 1, NULL, S_ISDIR(st.st_mode), mkdir_parents);
		return;
	}
	free(src);
}

/* Scan the host once: which system dirs exist and which are merged-usr links. */
static void sys_scan(void)
{
	for (size_t i = 0; i < sizeof(sys_roots) / sizeof(sys_roots[0]); i++)
		sys_add_host(sys_roots[i], 0);
	sys_add(SANDBOX_MNT_DIR, NULL, "etc", NULL, 1, 0);
	for (size_t i = 0; i < sizeof(etc_pieces) / sizeof(etc_pieces[0]); i++)
		sys_add_host(etc_pieces[i], 1);

	/* Debian's python3.X keeps sitecustomize.py in /etc/python3.X. */
	DIR *d = opendir("/etc");
	struct dirent *de;
	while (d && (de = readdir(d))) {
		char rel[300];
		if (strncmp(de->d_name, "python3.", 8) != 0)
			continue;
		snprintf(rel, sizeof(rel), "etc/%s", de->d_name);
		sys_add_host(rel, 0);
	}
	if (d)
		closedir(d);

	sys_add(SANDBOX_MNT_FILE, NULL, "etc/passwd", passwd_txt, 0, 0);
	sys_add(SANDBOX_MNT_FILE, NULL, "etc/group", group_txt, 0, 0);
	sys_add(SANDBOX_MNT_FILE, NULL, "etc/hosts", hosts_txt, 0, 0);
	sys_add(SANDBOX_MNT_FILE, NULL, "etc/hostname", hostname_txt, 0, 0);
}

/* Check an extra bind's target: absolute, no "." or ".." parts, and not on a path
 * the sandbox itself provides (a bind over /proc or /scratch would undo a protection). */
static int check_target(const char *t)
{
	static const char *const reserved[] = {"proc", "dev", "scratch", "tmp", "job"};
	const char *p;

	if (t[0] != '/' || !t[1])
		return -EINVAL;
	for (p = t; *p;) {
		while (*p == '/')
			p++;
		size_t len = strcspn(p, "/");
		if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
			return -EINVAL;
		p += len;
	}
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		size_t len = strlen(reserved[i]);
		if (!strncmp(t + 1, reserved[i], len) && (t[1 + len] == '\0' || t[1 + len] == '/'))
			return -EINVAL;
	}
	return 0;
}

/* A plain file name: not empty, no '/', not "." or "..", at most NAME_MAX bytes. */
static int plain_name(const char *n)
{
	size_t len = n ? strlen(n) : 0;

	return len > 0 && len < 256 && !strchr(n, '/') && strcmp(n, ".") && strcmp(n, "..");
}

/* /job's tmpfs holds exactly the files: a page per file rounded up, plus one. */
static int plan_job(struct sandbox_mounts *m, const struct sandbox_spec *spec, char *err,
		    size_t errlen)
{
	uint64_t job_bytes = 4096;

	m->files = spec->files;
	m->n_files = spec->n_files;
	for (size_t i = 0; i < spec->n_files; i++) {
		const char *name = spec->files[i].name;

		if (!plain_name(name)) {
			/* Cut a long name short: the sentence must keep its point. */
			sandbox_errf(
			    err, errlen, "job file name \"%.64s%s\" is not a plain file name",
			    name ? name : "(null)", name && strlen(name) > 64 ? "..." : "");
			return -EINVAL;
		}
		job_bytes += (spec->files[i].len + 4095) / 4096 * 4096;
	}
	snprintf(m->job_opts, sizeof(m->job_opts),
		 "size=%llu,nr_inodes=%zu,mode=0755,uid=%d,gid=%d", (unsigned long long)job_bytes,
		 spec->n_files + 16, SANDBOX_INNER_ID, SANDBOX_INNER_ID);
	return 0;
}

/* An inode cap as well as a byte cap: an inode flood costs kernel memory that the
 * size= option does not count. */
static void plan_scratch(struct sandbox_mounts *m, uint64_t scratch_bytes)
{
	uint64_t inodes = scratch_bytes / 4096;

	if (inodes < 1024)
		inodes = 1024;
	if (inodes > 262144)
		inodes = 262144;
	/* 0711, not 0700: a rootless worker whose slots run as subordinate uids must search
	 * it to open the script's audio file by name (sandbox_scratch_open); nothing else
	 * runs in the sandbox's mount namespace, so the search bit shows no one else. */
	snprintf(m->scratch_opts, sizeof(m->scratch_opts),
		 "size=%llu,nr_inodes=%llu,mode=0711,uid=%d,gid=%d",
		 (unsigned long long)scratch_bytes, (unsigned long long)inodes, SANDBOX_INNER_ID,
		 SANDBOX_INNER_ID);
}

#define OP(...) (m->ops[m->n_ops++] = (struct sandbox_mount){__VA_ARGS__})

/* The paths the sandbox provides itself: /job, /scratch and /tmp, /proc, /dev. */
static void plan_own(struct sandbox_mounts *m)
{
	static const char *const dev_src[] = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random",
					      "/dev/urandom"};
	static const char *const dev_dst[] = {"dev/null", "dev/zero", "dev/full", "dev/random",
					      "dev/urandom"};

	OP(SANDBOX_MNT_DIR, NULL, "job", NULL, 1, 0);
	OP(SANDBOX_MNT_JOB, NULL, "job", NULL, 1, 0);
	OP(SANDBOX_MNT_DIR, NULL, "scratch", NULL, 1, 0);
	OP(SANDBOX_MNT_TMPFS, NULL, "scratch", m->scratch_opts, 1, 0);
	OP(SANDBOX_MNT_SYMLINK, NULL, "tmp", "scratch", 0, 0);
	OP(SANDBOX_MNT_DIR, NULL, "proc", NULL, 1, 0);
	OP(SANDBOX_MNT_PROC, NULL, "proc", NULL, 1, 0);
	OP(SANDBOX_MNT_DIR, NULL, "dev", NULL, 1, 0);
	OP(SANDBOX_MNT_TMPFS, NULL, "dev", DEV_OPTS, 1, 0);
	for (size_t i = 0; i < sizeof(dev_nodes) / sizeof(dev_nodes[0]); i++)
		OP(SANDBOX_MNT_DEV, dev_src[i], dev_dst[i], NULL, 0, 0);
	OP(SANDBOX_MNT_SYMLINK, NULL, "dev/fd", "/proc/self/fd", 0, 0);
	OP(SANDBOX_MNT_SYMLINK, NULL, "dev/stdin", "/proc/self/fd/0", 0, 0);
	OP(SANDBOX_MNT_SYMLINK, NULL, "dev/stdout", "/proc/self/fd/1", 0, 0);
	OP(SANDBOX_MNT_SYMLINK, NULL, "dev/stderr", "/proc/self/fd/2", 0, 0);
	/* POSIX shm and semaphores land in scratch, inside its size limit. */
	OP(SANDBOX_MNT_SYMLINK, NULL, "dev/shm", "../scratch", 0, 0);
	OP(SANDBOX_MNT_RDONLY, NULL, "dev", NULL, 1, 0);
}

/* The spec's extra read-only binds, each checked against the sandbox's own paths. */
static int plan_binds(struct sandbox_mounts *m, const struct sandbox_spec *spec, char *err,
		      size_t errlen)
{
	for (size_t i = 0; i < spec->n_binds; i++) {
		const struct sandbox_bind *b = &spec->binds[i];
		const char *target = b->target ? b->target : b->source;
		struct stat st;

		if (!b->source || b->source[0] != '/' || check_target(target) < 0) {
			sandbox_errf(
			    err, errlen,
			    "bind %s -> %s is not allowed: paths must be absolute, without "
			    "'..', and outside /proc, /dev, /scratch, /tmp and /job",
			    b->source ? b->source : "(null)", target ? target : "(null)");
			return -EINVAL;
		}
		if (stat(b->source, &st) < 0) {
			int e = errno;
			if (b->optional)
				continue;
			sandbox_errf(err, errlen, "cannot bind %s into the sandbox: %s", b->source,
				     sandbox_strerror(e));
			return -e;
		}
		while (*target == '/')
			target++;
		OP(SANDBOX_MNT_BIND, b->source, target, NULL, S_ISDIR(st.st_mode), 1);
	}
	return 0;
}

#undef OP

int sandbox_mounts_prepare_from_parent(struct sandbox_mounts *m, const struct sandbox_spec *spec,
				       uint64_t scratch_bytes, const char *sb_dir, char *err,
				       size_t errlen)
{
	int r;

	pthread_once(&sys_once, sys_scan);
	memset(m, 0, sizeof(*m));
	m->sb_dir = sb_dir;
	if ((r = plan_job(m, spec, err, errlen)) < 0)
		return r;
	plan_scratch(m, scratch_bytes);
	/* The host's system paths scanned once, then the sandbox's own, then the spec's. */
	m->ops = calloc(n_sys_ops + 32 + spec->n_binds, sizeof(*m->ops));
	if (!m->ops)
		return -ENOMEM;
	memcpy(m->ops, sys_ops, n_sys_ops * sizeof(*m->ops));
	m->n_ops = n_sys_ops;
	plan_own(m);
	if ((r = plan_binds(m, spec, err, errlen)) < 0)
		sandbox_mounts_free(m);
	return r;
}

void sandbox_mounts_free(struct sandbox_mounts *m)
{
	free(m->ops);
	m->ops = NULL;
	m->n_ops = 0;
}

/* ---- child side: async-signal-safe from here on ---------------------------------- */

static int mount_set_flags(const char *path, uint64_t set, int recursive)
{
	struct mount_attr attr = {.attr_set = set};
	struct statvfs sv;
	unsigned long flags = MS_BIND | MS_REMOUNT;

	if (mount_setattr(AT_FDCWD, path, (recursive ? AT_RECURSIVE : 0) | AT_SYMLINK_NOFOLLOW,
			  &attr, sizeof(attr)) == 0)
		return 0;
	if (errno != ENOSYS)
		return -errno;
	/* Before Linux 5.12: a bind remount, keeping the flags the kernel locked when the
	 * mount was copied into this user namespace (dropping them would be refused). */
	if (statvfs(path, &sv) < 0)
		return -errno;
	flags |= sv.f_flag & (ST_NOSUID | ST_NODEV | ST_NOEXEC | ST_NOATIME | ST_NODIRATIME |
			      ST_RELATIME | ST_RDONLY);
	if (set & MOUNT_ATTR_RDONLY)
		flags |= MS_RDONLY;
	if (set & MOUNT_ATTR_NOSUID)
		flags |= MS_NOSUID;
	if (set & MOUNT_ATTR_NODEV)
		flags |= MS_NODEV;
	if (set & MOUNT_ATTR_NOEXEC)
		flags |= MS_NOEXEC;
	return mount(NULL, path, NULL, flags, NULL) < 0 ? -errno : 0;
}

/* mkdir -p of dst's parents inside the new root, refusing to walk through a symlink:
 * before the pivot an absolute link would resolve on the host. */
static int mkdir_parents(const char *dst)
{
	char buf[PATH_MAX];
	size_t len = 0;
	struct stat st;

	while (len < sizeof(buf) - 1 && dst[len]) {
		buf[len] = dst[len];
		len++;
	}
	if (dst[len])
		return -ENAMETOOLONG;
	buf[len] = '\0';
	for (size_t i = 1; i < len; i++) {
		if (buf[i] != '/')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		if (lstat(buf, &st) < 0)
			return -errno;
		if (!S_ISDIR(st.st_mode))
			return -ELOOP;
		buf[i] = '/';
	}
	return 0;
}

/* Create dst (relative to dir_fd) holding len bytes of data. */
static int write_file(int dir_fd, const char *dst, const void *data, size_t len, mode_t mode)
{
	int fd = openat(dir_fd, dst, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, mode);
	size_t off = 0;

	if (fd < 0)
		return -errno;
	while (off < len) {
		ssize_t w = write(fd, (const char *)data + off, len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			int e = -errno;
			close(fd);
			return e;
		}
		off += (size_t)w;
	}
	/* fchmod: the umask must not take the script's read or execute bit away. */
	if (fchmod(fd, mode) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	close(fd);
	return 0;
}

static int make_file(const char *dst, const char *data, mode_t mode)
{
	size_t len = 0;

	while (data && data[len])
		len++;
	return write_file(AT_FDCWD, dst, data, len, mode);
}

/* /job: a tmpfs of the files' size, filled from the spec's bytes (the child's copy of
 * the parent's memory), then read-only. Its mountinfo line names no host path. */
static int make_job(const struct sandbox_mounts *m, const char *dst)
{
	int fd, r = 0;

	if (mount("tmpfs", dst, "tmpfs", MS_NOSUID | MS_NODEV, m->job_opts) < 0)
		return -errno;
	fd = open(dst, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (size_t i = 0; i < m->n_files && r == 0; i++) {
		const struct sandbox_file *f = &m->files[i];
		r = write_file(fd, f->name, f->data, f->len, f->executable ? 0755 : 0644);
	}
	close(fd);
	if (r < 0)
		return r;
	return mount_set_flags(dst, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, 0);
}

/* A fresh proc for the pid namespace. Before it, a full proc mounted just long enough
 * to set the user namespace's limits: the final one (subset=pid) has no /proc/sys. */
static int make_proc(const char *dst, int cgroupns_later, const char **what)
{
	unsigned long fl = MS_NOSUID | MS_NODEV | MS_NOEXEC;
	int fd, r;

	if (mount("proc", dst, "proc", fl, NULL) < 0)
		return -errno;
	fd = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		umount2(dst, MNT_DETACH);
		return r;
	}
	r = sandbox_ids_limit_from_child(fd, cgroupns_later, what);
	close(fd);
	if (umount2(dst, MNT_DETACH) < 0 && r == 0)
		r = -errno;
	if (r < 0)
		return r;
	*what = dst;
	/* hidepid=2 hides processes the script cannot ptrace (the non-dumpable init);
	 * subset=pid (Linux 5.8) also drops the kernel-wide files such as /proc/kcore,
	 * /proc/keys, /proc/sys and /proc/sysrq-trigger. */
	if (mount("proc", dst, "proc", fl, "hidepid=2,subset=pid") == 0)
		return 0;
	if (errno != EINVAL)
		return -errno;
	return mount("proc", dst, "proc", fl, "hidepid=2") < 0 ? -errno : 0;
}

static int do_bind(const struct sandbox_mount *op)
{
	int r;

	if (op->mkdir_parents && (r = mkdir_parents(op->dst)) < 0)
		return r;
	if (op->is_dir) {
		if (mkdir(op->dst, 0755) < 0 && errno != EEXIST)
			return -errno;
	} else if ((r = make_file(op->dst, NULL, 0644)) < 0) {
		return r;
	}
	if (mount(op->src, op->dst, NULL, MS_BIND | MS_REC, NULL) < 0)
		return -errno;
	/* Read-only stops a script from altering the host's programs; nosuid and nodev
	 * stop a setuid binary or device node on the host from granting anything. */
	return mount_set_flags(op->dst, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
			       1);
}

static int do_op(const struct sandbox_mounts *m, const struct sandbox_mount *op, const char **what)
{
	int r;

	switch (op->op) {
	case SANDBOX_MNT_DIR:
		return mkdir(op->dst, 0755) < 0 && errno != EEXIST ? -errno : 0;
	case SANDBOX_MNT_SYMLINK:
		if (op->mkdir_parents && (r = mkdir_parents(op->dst)) < 0)
			return r;
		return symlink(op->data, op->dst) < 0 ? -errno : 0;
	case SANDBOX_MNT_FILE:
		return make_file(op->dst, op->data, 0644);
	case SANDBOX_MNT_BIND:
		return do_bind(op);
	case SANDBOX_MNT_DEV:
		if ((r = make_file(op->dst, NULL, 0666)) < 0)
			return r;
		if (mount(op->src, op->dst, NULL, MS_BIND, NULL) < 0)
			return -errno;
		return mount_set_flags(op->dst, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, 0);
	case SANDBOX_MNT_TMPFS:
		return mount("tmpfs", op->dst, "tmpfs", MS_NOSUID | MS_NODEV, op->data) < 0 ? -errno
											    : 0;
	case SANDBOX_MNT_PROC:
		return make_proc(op->dst, m->cgroupns_later, what);
	case SANDBOX_MNT_JOB:
		return make_job(m, op->dst);
	case SANDBOX_MNT_RDONLY:
		return mount_set_flags(op->dst,
				       MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
					   MOUNT_ATTR_NOEXEC,
				       0);
	}
	return -EINVAL;
}

int sandbox_mounts_prepare_from_child(const struct sandbox_mounts *m)
{
	/* Private, recursively: no mount made here propagates back to the host, and no
	 * host mount event leaks in. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -errno;
	/* The new root goes on our own state dir, not on a shared path such as /tmp: a
	 * mount there would hide the host files below it from the binds. */
	if (mount("tmpfs", m->sb_dir, "tmpfs", MS_NOSUID | MS_NODEV, ROOT_OPTS) < 0 ||
	    chdir(m->sb_dir) < 0)
		return -errno;
	return 0;
}

int sandbox_mounts_apply_from_child(const struct sandbox_mounts *m, const char **what)
{
	int r;

	for (size_t i = 0; i < m->n_ops; i++) {
		*what = m->ops[i].src ? m->ops[i].src : m->ops[i].dst;
		if ((r = do_op(m, &m->ops[i], what)) < 0)
			return r;
	}

	/* pivot_root(".", ".") stacks the old root on the new one; detaching it removes
	 * every host path from the sandbox's view. */
	*what = "pivot_root";
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return -errno;
	if (umount2(".", MNT_DETACH) < 0)
		return -errno;
	if (chdir("/") < 0)
		return -errno;
	*what = "/";
	return mount_set_flags("/", MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, 0);
}
