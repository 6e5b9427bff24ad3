/* demo.h - the parts `reelbox demo` is made of (cmd_demo.c runs them in order):
 *
 *   demo_procs.c  the private redis-server and the worker child, started and stopped
 *   demo_host.c   the host-side proof: a needle in files, processes in the sandbox's id
 *                 range, sandbox dirs left behind, canary files, the logs' denial lines
 *   demo_table.c  the live table on the terminal
 *   demo_media.c  posters cut from the videos, and the sandbox's own start-up, measured
 *
 * Each is a leaf: it calls the modules below it, never back into cmd_demo.c.
 */
#ifndef REELBOX_DEMO_H
#define REELBOX_DEMO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "demo_report.h"
#include "job.h"

/* ---- demo_procs.c ---- */

/* Start redis-server on a unix socket in dir (no persistence, no TCP port), wait until
 * it answers, and write its URL (unix://dir/redis.sock) into url. 0, or a negative errno
 * with one sentence in err. */
int demo_redis_start(const char *dir, pid_t *pid, char *url, size_t urllen, char *err,
		     size_t errlen);

/* Start `reelbox worker` (this very binary) with its stderr to log_path, in its own
 * process group (a Ctrl-C reaches the demo, which stops it in order). env is the whole
 * environment it gets (built before the fork: the stand-in's threads are running).
 * argv is its argument list after "worker". */
int demo_worker_start(const char *const *argv, char *const *env, const char *log_path, pid_t *pid,
		      char *err, size_t errlen);

/* Send sig to pid, wait up to wait_ms for it to exit, then SIGKILL and reap. Returns its
 * wait status, or -1 when it was not ours to wait for. */
int demo_child_stop(pid_t pid, int sig, int wait_ms);

/* 1 when the child pid has exited (reaped now, its status in *status). */
int demo_child_exited(pid_t pid, int *status);

/* ---- demo_host.c ---- */

/* Every regular file under dir, read whole: how many there were, how many hold needle,
 * and the first few of those (relative paths) in which. 0 or a negative errno. */
int demo_files_contain(const char *dir, const char *needle, size_t *files, size_t *hits,
		       char *which, size_t whichlen);

/* 1 when needle occurs in the buffer. */
int demo_buf_contains(const char *buf, size_t len, const char *needle);

/* Processes of a sandbox still alive: a host uid in the sandbox's range (root's
 * sandboxes) or another pid namespace, that descend from one of mine[] or were left
 * to init. Those under another reelbox on this host are counted in *foreign, not in
 * the return value. evidence gets one sentence. */
size_t demo_sandbox_leftovers(const pid_t *mine, size_t n_mine, size_t *foreign, char *evidence,
			      size_t evlen);

/* The sandbox dirs of mine[] (sb-<pid>-...) still in state_dir; evidence: a sentence. */
size_t demo_state_leftovers(const char *state_dir, const pid_t *mine, size_t n_mine, char *evidence,
			    size_t evlen);

#define DEMO_MAX_CANARIES 48

/* A host path a threat answer aims at: planted by the demo (under the canary dir) or
 * merely watched (what was there before the run, or that nothing was). */
struct demo_canary {
	char path[256];
	int planted, existed, is_dir;
	unsigned long ino;
	long long size, mtime_ns;
	char content[96]; /* a planted file's bytes */
};

struct demo_canaries {
	char dir[64]; /* /tmp/reelbox-demo-canary.<pid> */
	size_t n;
	struct demo_canary c[DEMO_MAX_CANARIES];
};

/* Plant this run's canary dir in /tmp (where the hallucination's rm aims) with a file in
 * it. 0 or a negative errno with err. */
int demo_canaries_plant(struct demo_canaries *cs, char *err, size_t errlen);
/* Watch one more absolute path as it is now (skipped: /proc, /sys, /dev, and an absent
 * path whose parent dir does not exist either: nothing could appear there). */
void demo_canaries_watch(struct demo_canaries *cs, const char *path);
/* 1 when every canary and watched path is as it was; evidence says which is not, or
 * lists them. */
int demo_canaries_check(const struct demo_canaries *cs, char *evidence, size_t evlen);
/* Remove this run's canary dir, whole. */
void demo_canaries_remove(struct demo_canaries *cs);

/* The absolute paths an answer names, up to max. A glob's directory stands for it:
 * "/tmp/" followed by a star names /tmp. */
size_t demo_answer_paths(const char *answer, char out[][256], size_t max);

/* The "reelbox: denied ..." and "reelbox: N denied ..." lines of every log in a result
 * (its log tail and each model attempt's), each once, into out. */
void demo_denial_lines(json_t *result, char *out, size_t outlen);

/* ---- demo_table.c ---- */

/* The live table: on a terminal the rows are redrawn in place, otherwise one line is
 * printed per change of state. */
struct demo_table {
	int tty;
	int drawn; /* rows on screen to move back over */
	char last[64][32];
};

void demo_table_init(struct demo_table *t, int tty);
void demo_table_draw(struct demo_table *t, const struct demo_job *jobs, size_t n, uint64_t now_ms);

/* ---- demo_media.c ---- */

/* Cut a poster (a JPEG of the frame at second at) from video into poster, with ffmpeg
 * inside the sandbox a job gets (a video is bytes to parse: it is parsed in there).
 * 0, or a negative errno with err. */
int demo_poster(const struct config *cfg, const char *video, const char *poster, double at,
		char *err, size_t errlen);

/* The sandbox's start-up as a user meets it: start to reap of /bin/true, the median of
 * runs; 0 with *ms, or a negative errno with err. */
int demo_sandbox_startup(const struct config *cfg, int runs, uint64_t *ms, char *err,
			 size_t errlen);

#endif
