/* outdir.h - the worker's output dir: whether it is usable, the work dirs inside it, and
 * the names a claim's video takes there.
 *
 * A leaf that works on paths and knows nothing of the queue: cmd_worker.c decides when a
 * claim may take, point or give up a name (its header tells the fencing), this file says
 * how, each step one system call that cannot replace another claim's file by accident.
 */
#ifndef REELBOX_OUTDIR_H
#define REELBOX_OUTDIR_H

#include <stddef.h>
#include <stdint.h>

/* Below this much free space the output dir counts as full. */
#define OUTDIR_MIN_FREE (16ull << 20)

/* snprintf for paths: -ENAMETOOLONG instead of a silently cut path. */
int outdir_path(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Is out usable: there, a directory, work_dir in it (made again if it was removed),
 * writable, not full? probe also writes and removes a small file, which catches what
 * statvfs cannot (a quota, a dead disk). 0, or -1 with why. */
int outdir_check(const char *out, const char *work_dir, int probe, char *why, size_t len);

/* Remove out/.work/<host>-<pid> of this host's workers whose process is gone: their
 * partial renders will never be finished. */
void outdir_sweep_work_dirs(const char *out);

/* Point stable at final (a symlink to final's file name) if stable is free; 1 when this
 * call made it, 0 when something holds the name (symlink() never replaces). */
int outdir_take_name(const char *final, const char *stable);

/* Remove stable if it still points at final (and so at nobody else's file). */
void outdir_release_name(const char *final, const char *stable);

/* Point stable at final whatever held it: a new link (out/.<id>.<token>.link) renamed
 * over it. 0, or a negative errno. */
int outdir_point_name(const char *out, const char *id, const char *token, const char *final,
		      const char *stable);

/* Remove out/<id>.<token>.<ext> of every claim but final's: videos of claims that were
 * never recorded. Other files and other ids are left alone. */
void outdir_remove_unrecorded(const char *out, const char *id, const char *final);

#endif
