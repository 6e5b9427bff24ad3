/* cgroup.c - the per-sandbox cgroup: memory, pids and cpu limits.
 *
 * HOOK ONLY for now (issue 3 fills it in). The seams, in the order sandbox_start()
 * and sandbox_destroy() call them:
 *   create_from_parent   before clone3; a cgroup v2 dir fd in cg->clone_fd makes the
 *                        child start inside it (CLONE_INTO_CGROUP, no race)
 *   attach_from_parent   after clone3, before the child is released (cgroup v1)
 *   classify             after the reap: OOM or pids events turn into the result's
 *                        end and reason; usage fills cpu_ms and peak_memory_bytes
 *   destroy              after the reap
 *   sweep_stale          when reelbox starts
 */
#include <stdlib.h>

#include "internal.h"

int sandbox_cgroup_create_from_parent(struct sandbox_cgroup *cg, const struct sandbox_spec *spec,
				      char *err, size_t errlen)
{
	cg->clone_fd = -1;
	cg->path = NULL;
	return 0;
}

int sandbox_cgroup_attach_from_parent(struct sandbox_cgroup *cg, pid_t pid)
{
	return 0;
}

void sandbox_cgroup_classify(struct sandbox_cgroup *cg, struct sandbox_result *res)
{
}

void sandbox_cgroup_destroy(struct sandbox_cgroup *cg)
{
	free(cg->path);
	cg->path = NULL;
}

int sandbox_cgroup_sweep_stale(void)
{
	return 0;
}
