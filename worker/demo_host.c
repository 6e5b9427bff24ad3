/* demo_host.c - the demo's host-side proof, measured from outside every sandbox.
 *
 * What a threat scenario's script tried is only half the argument; the other half is
 * what the host shows afterwards. Each check here looks at the real thing (every file's
 * bytes, every process in /proc, the state dir's entries, the canary files' inodes)
 * and writes one sentence of evidence, so the report says what was measured rather than
 * what the design promises.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "demo.h"
#include "errf.h"

/* The host ids root's sandboxes run as (sandbox/internal.h: slot N is BASE+N). */
#define SANDBOX_ID_FIRST 1500000u
#define SANDBOX_ID_LAST	 (1500000u + 65535u)

/* ---- a needle in files ---- */

int demo_buf_contains(const char *buf, size_t len, const char *needle)
{
	size_t n = strlen(needle);
	return n && len >= n && memmem(buf, len, needle, n) != NULL;
}

static int file_contains(const char *path, const char *needle)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), hit = 0;
	void *p;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) == 0 && st.st_size > 0) {
		p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p != MAP_FAILED) {
			hit = demo_buf_contains(p, (size_t)st.st_size, needle);
			munmap(p, (size_t)st.st_size);
		} else {
			hit = -errno;
		}
	}
	close(fd);
	return hit;
}

/* nftw passes no opaque pointer: the walk's state is file-local, one walk at a time. */
static struct {
	const char *needle;
	size_t root_len, files, hits;
	char *which;
	size_t whichlen;
	int err;
} walk;

static int walk_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	int hit;

	(void)st;
	(void)ftw;
	if (type != FTW_F)
		return 0;
	walk.files++;
	hit = file_contains(path, walk.needle);
	if (hit < 0) {
		walk.err = hit;
		return 0;
	}
	if (hit) {
		size_t used = strlen(walk.which);
		walk.hits++;
		if (used + 2 < walk.whichlen)
			snprintf(walk.which + used, walk.whichlen - used, "%s%s", used ? ", " : "",
				 path + walk.root_len);
	}
	return 0;
}

int demo_files_contain(const char *dir, const char *needle, size_t *files, size_t *hits,
		       char *which, size_t whichlen)
{
	int rc;

	walk.needle = needle;
	walk.root_len = strlen(dir) + 1;
	walk.files = walk.hits = 0;
	walk.which = which;
	walk.whichlen = whichlen;
	walk.err = 0;
	if (whichlen)
		which[0] = '\0';
	rc = nftw(dir, walk_one, 16, FTW_PHYS);
	*files = walk.files;
	*hits = walk.hits;
	if (rc < 0)
		return -errno;
	return walk.err;
}

/* ---- processes ---- */

/* A process's parent, host uid range membership and whether it runs reelbox. */
struct proc_facts {
	pid_t ppid;
	int in_range;	/* any of its uids in the sandbox's range */
	int other_ns;	/* another pid namespace than ours */
	int is_reelbox; /* its executable is a reelbox binary */
	int zombie;	/* dead, not yet reaped: it runs nothing */
	char comm[32];
};

static int proc_facts(pid_t pid, const char *my_ns, struct proc_facts *f)
{
	char path[64], buf[4096], link[PATH_MAX];
	unsigned long u[4] = {0};
	ssize_t n;
	char *p;
	FILE *fp;

	memset(f, 0, sizeof(*f));
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (!(fp = fopen(path, "re")))
		return -errno;
	while (fgets(buf, sizeof(buf), fp)) {
		if (!strncmp(buf, "PPid:", 5))
			f->ppid = (pid_t)atoi(buf + 5);
		else if (!strncmp(buf, "Name:", 5) && (p = buf + 5 + strspn(buf + 5, " \t")))
			snprintf(f->comm, sizeof(f->comm), "%.*s", (int)strcspn(p, "\n"), p);
		else if (!strncmp(buf, "State:", 6))
			f->zombie = strchr(buf + 6, 'Z') != NULL;
		else if (!strncmp(buf, "Uid:", 4))
			sscanf(buf + 4, "%lu %lu %lu %lu", &u[0], &u[1], &u[2], &u[3]);
	}
	fclose(fp);
	for (int i = 0; i < 4; i++)
		f->in_range |= u[i] >= SANDBOX_ID_FIRST && u[i] <= SANDBOX_ID_LAST;
	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)pid);
	n = readlink(path, link, sizeof(link) - 1);
	f->other_ns = n > 0 && my_ns[0] && (link[n] = '\0', strcmp(link, my_ns) != 0);
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = '\0';
		p = strrchr(link, '/');
		f->is_reelbox = p && !strncmp(p + 1, "reelbox", 7);
	}
	return 0;
}

static int is_mine(pid_t pid, const pid_t *mine, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (mine[i] == pid)
			return 1;
	return 0;
}

/* Whose the process is: 1 mine (a descendant of mine[], or left to init), 0 another
 * reelbox's, -1 neither (someone's container: not a sandbox of ours at all). */
static int owner_of(const struct proc_facts *f, const char *my_ns, const pid_t *mine, size_t n_mine)
{
	struct proc_facts a;
	pid_t p = f->ppid;

	for (int depth = 0; p > 1 && depth < 64; depth++) {
		if (is_mine(p, mine, n_mine))
			return 1;
		if (proc_facts(p, my_ns, &a) < 0)
			break;
		if (a.is_reelbox)
			return 0;
		p = a.ppid;
	}
	/* Left to init: a uid of the range says it came out of a sandbox. */
	return f->in_range ? 1 : -1;
}

size_t demo_sandbox_leftovers(const pid_t *mine, size_t n_mine, size_t *foreign, char *evidence,
			      size_t evlen)
{
	char my_ns[PATH_MAX] = "", list[512] = "";
	size_t left = 0, seen = 0;
	struct dirent *de;
	ssize_t n;
	DIR *d;

	*foreign = 0;
	n = readlink("/proc/self/ns/pid", my_ns, sizeof(my_ns) - 1);
	my_ns[n > 0 ? n : 0] = '\0';
	if (!(d = opendir("/proc"))) {
		worker_err(evidence, evlen, "could not read /proc: %s", strerror(errno));
		return 1;
	}
	while ((de = readdir(d))) {
		pid_t pid = (pid_t)atoi(de->d_name);
		struct proc_facts f;
		int who;
		if (pid <= 0 || pid == getpid() || proc_facts(pid, my_ns, &f) < 0)
			continue;
		seen++;
		if ((!f.in_range && !f.other_ns) || f.zombie)
			continue;
		who = owner_of(&f, my_ns, mine, n_mine);
		if (who == 0)
			(*foreign)++;
		if (who != 1)
			continue;
		if (left++ < 4) {
			size_t used = strlen(list);
			snprintf(list + used, sizeof(list) - used, "%spid %d (%s, parent %d%s)",
				 used ? ", " : "", (int)pid, f.comm, (int)f.ppid,
				 f.in_range ? ", a sandbox uid" : "");
		}
	}
	closedir(d);
	if (left)
		worker_err(evidence, evlen,
			   "%zu process%s of this demo's sandboxes still alive after the jobs: %s",
			   left, left == 1 ? "" : "es", list);
	else
		worker_err(evidence, evlen,
			   "none of the %zu processes on this host is a sandbox process of this "
			   "demo (host uid %u-%u or another pid namespace, under the worker)%s",
			   seen, SANDBOX_ID_FIRST, SANDBOX_ID_LAST,
			   *foreign ? "; sandboxes of other reelbox processes were not counted"
				    : "");
	return left;
}

size_t demo_state_leftovers(const char *state_dir, const pid_t *mine, size_t n_mine, char *evidence,
			    size_t evlen)
{
	size_t left = 0, others = 0;
	char first[300] = "";
	struct dirent *de;
	DIR *d = opendir(state_dir);

	if (!d) {
		worker_err(evidence, evlen, "%s does not exist: no sandbox dir is left", state_dir);
		return 0;
	}
	while ((de = readdir(d))) {
		int pid;
		if (sscanf(de->d_name, "sb-%d-", &pid) != 1)
			continue;
		if (!is_mine((pid_t)pid, mine, n_mine)) {
			others++;
			continue;
		}
		if (!left++)
			snprintf(first, sizeof(first), "%s", de->d_name);
	}
	closedir(d);
	if (left)
		worker_err(evidence, evlen, "%zu sandbox dir%s of this demo left in %s, e.g. %s",
			   left, left == 1 ? "" : "s", state_dir, first);
	else
		worker_err(evidence, evlen,
			   "no sandbox dir of this demo's worker is left in %s (sb-<pid>-...)%s",
			   state_dir, others ? "; other processes' dirs were not counted" : "");
	return left;
}

/* ---- the logs' denial lines ---- */

static void add_denials(const char *log, char *out, size_t outlen)
{
	const char *line = log;

	while (line && *line) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		size_t used = strlen(out);
		if (len > 8 && !strncmp(line, "reelbox: ", 9) && memmem(line, len, "denied", 6) &&
		    !memmem(out, used, line, len) && used + len + 2 < outlen) {
			memcpy(out + used, line, len);
			out[used + len] = '\n';
			out[used + len + 1] = '\0';
		}
		line = end ? end + 1 : NULL;
	}
}

void demo_denial_lines(json_t *result, char *out, size_t outlen)
{
	json_t *a;
	size_t i;

	if (!outlen)
		return;
	out[0] = '\0';
	json_array_foreach(json_object_get(result, "attempts"), i, a)
	    add_denials(json_string_value(json_object_get(a, "log")), out, outlen);
	add_denials(json_string_value(json_object_get(result, "log")), out, outlen);
	if (out[0])
		out[strlen(out) - 1] = '\0';
}
