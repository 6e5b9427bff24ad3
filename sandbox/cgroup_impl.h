/* cgroup_impl.h - shared by the cgroup files only: cgroup_job.c (what every version
 * does the same way), cgroup_fs.c (the file helpers, a leaf) and the two backends,
 * cgroup_v1.c and cgroup_v2.c. Callers use cgroups.h.
 */
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
	const struct cg_ops *ops; /* the env's backend, copied at creation */
	struct sandbox_cg_limits lim;
	char name[CG_NAME_MAX];
	int ndirs;
	struct cg_dir dirs[SANDBOX_CG_NCTRL];
};

/* What one cgroup version does its own way, as crun's cgroup managers: one table per
 * version, picked once by sandbox_cg_detect() and kept in the env and in each job, so
 * cgroup_job.c never asks which version it runs on. A NULL entry means the version
 * has no such thing, and cgroup_job.c takes its other way. */
struct cg_ops {
	enum sandbox_cg_version version;
	/* Find the hierarchies and our place in them, make the job parent(s) and fill
	 * env's hierarchies and controllers; else one sentence in err. v2_mount is where
	 * cgroup2 must be mounted (v1 finds its mounts itself). */
	int (*detect)(struct sandbox_cg_env *env, const char *v2_mount, const char *parent,
		      unsigned need, char *err, size_t len);
	/* Write cg->lim into the fresh job dirs. */
	int (*apply)(struct sandbox_cg *cg, char *err, size_t len);
	/* Fill the counters the version has (st is zeroed). */
	int (*stats)(const struct sandbox_cg *cg, struct sandbox_cg_stats *st);
	/* Kill the whole job in one stroke (v2: cgroup.kill); < 0 when the kernel has
	 * no way, and cgroup_job.c kills pid by pid. */
	int (*kill_all)(struct sandbox_cg *cg);
	/* Stop (1) or resume (0) the whole job while it is killed pid by pid (v1). */
	int (*freeze)(struct sandbox_cg *cg, int frozen);
	/* The dir fd for clone3's CLONE_INTO_CGROUP (v2). */
	int (*clone_fd)(const struct sandbox_cg *cg);
	/* Move the calling thread in, saving the way back in *back (v1). */
	int (*enter_thread)(struct sandbox_cg *cg, struct sandbox_cg_thread *back);
};

extern const struct cg_ops cg_v1_ops; /* cgroup_v1.c */
extern const struct cg_ops cg_v2_ops; /* cgroup_v2.c */

/* ---- cgroup_fs.c: the file helpers ---------------------------------------------- */

const char *cg_ctrl_name(unsigned ctrl);
void cg_sleep_ms(unsigned ms);
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
/* A /proc file read whole once (at most CG_TEXT_MAX bytes), to look several hierarchies
 * up in it: reading /proc/.../cgroup and mountinfo once per hierarchy was about a
 * millisecond of every start on cgroup v1. */
#define CG_TEXT_MAX (4u << 20)
struct cg_text {
	char *buf;
	size_t len;
};
int cg_text_read(const char *file, struct cg_text *t);
void cg_text_free(struct cg_text *t);
/* cg_own_path_in() on a text read by cg_text_read(). */
int cg_own_path_text(const struct cg_text *t, const char *ctrl, char *out, size_t len);
/* While a snapshot is held (by the calling thread), cg_own_path() and cg_find_mount()
 * read /proc/self/cgroup and /proc/self/mountinfo as they were when it was taken:
 * detection's view of one moment, read once. 0, or -errno (nothing held then). */
int cg_snapshot_take(void);
void cg_snapshot_drop(void);
int cg_find_mount(const char *fstype, const char *ctrl, const char *mnt, char *mnt_out,
		  char *root_out, size_t len);
int cg_host_path(const char *mnt, const char *root, const char *rel, char *out, size_t len);
int cg_parent_rel(const char *own, const char *parent, char *out, size_t len);
int cg_mkdir_p(const char *mnt, const char *root, const char *rel, char *err, size_t len);
/* Put the calling thread back where sandbox_cg_enter_thread() found it, closing the
 * saved fds; the first error, or 0. */
int cg_thread_return(struct sandbox_cg_thread *back);

#endif
