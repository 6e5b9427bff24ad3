/* pool.h - warm sandboxes: started ahead of their job, each serves exactly one.
 *
 * A worker with a pool (config "pool": {"python3": N}) keeps N python3 sandboxes ready:
 * namespaces made, root mounted, cgroups created, the seccomp filter on, the interpreter
 * started and numpy and Pillow imported, waiting on its stdin for one job. A job that
 * fits (python3, the operator's default limits, its script and environment within a
 * pipe's capacity) takes one instead of starting cold; the pool then refills behind it,
 * one sandbox at a time. A member serves one job and is destroyed after it like any
 * sandbox, so nothing crosses from one job to the next.
 *
 * Why only python3: its start (the interpreter, then numpy and Pillow) is the cost a
 * pool saves, about 100 ms; sh, node and lua start cold in the time of the sandbox
 * itself. Everything runs on the worker's loop; nothing here blocks but sandbox_start()
 * (the same few milliseconds a cold job spends there) and sandbox_destroy().
 */
#ifndef REELBOX_POOL_H
#define REELBOX_POOL_H

#include <stdint.h>
#include <uv.h>

#include "job.h"
#include "sandbox.h"

struct pool;
struct job_sandbox;

/* A pool on loop for cfg->pool (its size 0: no pool, *out NULL and 0). Slots from
 * first_slot up (n of them) are the pool's own: a member's host ids and cgroup names,
 * never a cold job's. cfg must outlive the pool. Starts filling at once. */
int pool_new(uv_loop_t *loop, const struct config *cfg, unsigned first_slot, unsigned n_slots,
	     struct pool **out, char *err, size_t errlen);

/* A job's sandbox from the pool, when a ready member fits box (the spec the job would
 * start cold with): the script and the job's environment go to the member, its helper
 * box is resized for the job, and *sb, the read ends of its stdout (the frames) and
 * stderr (the log) are the caller's, with *slot to give back by pool_slot_release()
 * after sandbox_destroy(). 1 when taken, 0 when the job must start cold (why: a short
 * reason for metrics and logs in *why), negative errno never: a member that fails the
 * hand-over is destroyed and the job starts cold. */
int pool_take(struct pool *p, const struct job_sandbox *box, struct sandbox **sb, int *frame_fd,
	      int *log_fd, unsigned *slot, const char **why);

/* Where the pool tells what the operator should see in the worker's log (the zygote
 * restarted, or given up: event "pool_zygote_restarted" or "pool_zygote_off", with why). */
void pool_set_log(struct pool *p, void (*log)(void *opaque, const char *event, const char *why),
		  void *opaque);

/* Refill no more: the members there stay until taken or closed (`run --warm`'s pool of
 * one, whose process ends with its job). */
void pool_freeze(struct pool *p);

/* The slot of a taken member's destroyed sandbox is free again. */
void pool_slot_release(struct pool *p, unsigned slot);

struct pool_stats {
	unsigned size;	  /* members wanted */
	unsigned ready;	  /* started, imported, waiting for a job */
	unsigned warming; /* started, still importing */
	uint64_t taken, cold, started, failed, expired;
	/* the ready members' cost now: their cgroups' memory high-water marks (the
	 * interpreter, numpy and Pillow, page tables: what the host keeps for them) and
	 * processes (2 each: the init and the interpreter) */
	uint64_t idle_memory_bytes;
	unsigned idle_processes;
	uint64_t warm_ms_last;	   /* the last member's start to ready */
	int zygote;		   /* members are forked from the zygote (zygote.h) */
	uint64_t zygote_rss_bytes; /* the zygote's resident memory (VmRSS), 0 without */
	const char *zygote_why;	   /* the config asked for one and there is none: why; or NULL */
};
void pool_stats(struct pool *p, struct pool_stats *st);

/* Destroy every member and stop refilling; done(opaque) runs once the loop has let go
 * of the pool's handles (the pool is freed then). Taken sandboxes are their takers'. */
void pool_close(struct pool *p, void (*done)(void *opaque), void *opaque);

#endif
