/* limits.c - rlimits, the second layer under the cgroup limits.
 *
 * rlimits are per process (or per user in the sandbox's user namespace, for
 * RLIMIT_NPROC), so they bound what one runaway process can do even where no cgroup
 * controller is available.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define DEFAULT_SCRATCH (64ull << 20)
#define DEFAULT_NOFILE	256

void sandbox_limits_normalize(struct sandbox_limits *l)
{
	if (!l->scratch_bytes)
		l->scratch_bytes = DEFAULT_SCRATCH;
	if (!l->file_bytes)
		l->file_bytes = l->scratch_bytes;
	if (!l->open_files)
		l->open_files = DEFAULT_NOFILE;
}

static void add(struct sandbox_rlimits *out, int resource, rlim_t soft, rlim_t hard)
{
	struct rlimit cur;

	/* Raising a hard limit needs CAP_SYS_RESOURCE on the host, which the child never
	 * has: clamp to what this process may set. */
	if (getrlimit(resource, &cur) == 0 && cur.rlim_max != RLIM_INFINITY) {
		if (hard > cur.rlim_max)
			hard = cur.rlim_max;
		if (soft > hard)
			soft = hard;
	}
	out->set[out->n].resource = resource;
	out->set[out->n].rl = (struct rlimit){soft, hard};
	out->n++;
}

void sandbox_limits_prepare_from_parent(const struct sandbox_limits *l, int cgroup,
					struct sandbox_rlimits *out)
{

	out->n = 0;
	/* No core dumps: a crash must not write the process's memory to scratch. */
	add(out, RLIMIT_CORE, 0, 0);
	add(out, RLIMIT_NOFILE, l->open_files, l->open_files);
	add(out, RLIMIT_FSIZE, l->file_bytes, l->file_bytes);
	/* Queued signals of the slot's user: a job that queues blocked real-time signals
	 * to itself without end pins kernel memory (and, per user, fills the count). */
	add(out, RLIMIT_SIGPENDING, 64, 64);
	/* POSIX message queue bytes: no queue at all, nothing of a job needs one. */
	add(out, RLIMIT_MSGQUEUE, 0, 0);
	/* RLIMIT_NPROC counts every process of the slot's host uid, and a failed fork
	 * does not say which limit refused it. Where the cgroup holds the pids limit,
	 * the rlimit stays as a looser backstop so the cgroup fires first and the
	 * result can name "process limit of N". */
	if (l->pids && cgroup)
		add(out, RLIMIT_NPROC, (rlim_t)l->pids * 2 + 16, (rlim_t)l->pids * 2 + 16);
	else if (l->pids)
		add(out, RLIMIT_NPROC, l->pids, l->pids);
	/* The soft limit sends SIGXCPU, which names the limit in the result; the hard one
	 * a second later is the kernel's SIGKILL for a script that ignores it. */
	if (l->cpu_seconds)
		add(out, RLIMIT_CPU, l->cpu_seconds, l->cpu_seconds + 1);
	/* No cgroup (not root without a delegated subtree, or a host without usable
	 * cgroups): the memory limit becomes each process's private writable memory
	 * (heap, anonymous maps), which bounds a hog's malloc without counting the
	 * address space a runtime only reserves (RLIMIT_AS would stop node at start). */
	if (l->memory_bytes && !cgroup)
		add(out, RLIMIT_DATA, l->memory_bytes, l->memory_bytes);
}

int sandbox_limits_apply_from_child(const struct sandbox_rlimits *r)
{
	for (int i = 0; i < r->n; i++)
		if (syscall(SYS_prlimit64, 0, r->set[i].resource, &r->set[i].rl, NULL) < 0)
			return -errno;
	return 0;
}

uint64_t sandbox_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
