/* cgroup_impl.h - shared by cgroup_common.c, cgroup_v1.c and cgroup_v2.c only.
 * Callers use cgroups.h. */
#ifndef REELBOX_SANDBOX_CGROUP_IMPL_H
#define REELBOX_SANDBOX_CGROUP_IMPL_H

#include "cgroups.h"
#include "internal.h"

#include <stdint.h>

#define CG_NAME_MAX 96
#define CG_PREFIX   "rbx-"

/* The job cgroup in one hierarchy. */
struct cg_dir {
	int fd; /* O_DIRECTORY, held for the job's lifetime */
	unsigned ctrls;
	char path[SANDBOX_CG_PATH + CG_NAME_MAX];
	char rel[SANDBOX_CG_PATH + CG_NAME_MAX];
};

struct sandbox_cg {
	enum sandbox_cg_version version;
	struct sandbox_cg_limits lim;
	char name[CG_NAME_MAX];
	int ndirs;
	struct cg_dir dirs[SANDBOX_CG_NCTRL];
};

/* cgroup_common.c */
int cg_open_dir(const char *path);
int cg_write(int dirfd, const char *file, const char *val);
int cg_writef(int dirfd, const char *file, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* cg_write() to a job dir, with a sentence naming file, value and dir on failure. */
int cg_set(const struct cg_dir *d, const char *file, const char *val, char *err, size_t len);
int cg_read(int dirfd, const char *file, char *buf, size_t len);
int cg_read_u64(int dirfd, const char *file, uint64_t *v);
int cg_read_key(int dirfd, const char *file, const char *key, uint64_t *v);
int cg_has_file(int dirfd, const char *file);
int cg_own_path(const char *ctrl, char *out, size_t len);
/* The same, read from a /proc cgroup file of choice (/proc/thread-self/cgroup). */
int cg_own_path_in(const char *file, const char *ctrl, char *out, size_t len);
int cg_find_mount(const char *fstype, const char *ctrl, const char *mnt, char *mnt_out,
		  char *root_out, size_t len);
int cg_host_path(const char *mnt, const char *root, const char *rel, char *out, size_t len);
int cg_parent_rel(const char *own, const char *parent, char *out, size_t len);
int cg_mkdir_p(const char *mnt, const char *root, const char *rel, char *err, size_t len);
int cg_procs_empty(const struct sandbox_cg *cg);
int cg_signal_all(struct sandbox_cg *cg);
const struct cg_dir *cg_dir_for(const struct sandbox_cg *cg, unsigned ctrl);
const char *cg_ctrl_name(unsigned ctrl);
void cg_sleep_ms(unsigned ms);

/* cgroup_v1.c */
int cg1_detect(struct sandbox_cg_env *env, const char *parent, unsigned need, char *err,
	       size_t len);
int cg1_apply(struct sandbox_cg *cg, char *err, size_t len);
int cg1_stats(const struct sandbox_cg *cg, struct sandbox_cg_stats *st);
int cg1_freeze(struct sandbox_cg *cg, int frozen);

/* cgroup_v2.c */
int cg2_detect(struct sandbox_cg_env *env, const char *mnt, const char *parent, unsigned need,
	       char *err, size_t len);
int cg2_apply(struct sandbox_cg *cg, char *err, size_t len);
int cg2_stats(const struct sandbox_cg *cg, struct sandbox_cg_stats *st);
int cg2_kill(struct sandbox_cg *cg);

#endif
