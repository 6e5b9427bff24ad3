/* specs.h - a job becomes the specs the lower modules understand, here and only here.
 *
 * sandbox/ and render/ know nothing of jobs: a sandbox_spec is a command, files, an
 * environment and limits; a render_spec is a size, a rate, a format and an output. The
 * rules that turn a job into them were written twice (the runner's and `reelbox exec`'s),
 * and two copies of a rule drift. They live in this file: the script's environment (the
 * contract's WIDTH..PIX_FMT, the base PATH, HOME, SCRATCH and LANG, the runtime's own),
 * the limits (CPU seconds from the wall clock), the encoder's box and threads, and who
 * owns the wall clock and how its end is told.
 *
 * The wall clock has one owner per path. A job's is the runner's timer: it must cover
 * the script, the encode and the finalise, and the sandbox only knows the script, so a
 * job's sandbox gets no deadline of its own. `reelbox exec` has no runner (it blocks in
 * sandbox_wait, which serves denied calls meanwhile), so its sandbox keeps the
 * deadline; either way the sentence a user reads comes from job_timeout_sentence().
 */
#ifndef REELBOX_SPECS_H
#define REELBOX_SPECS_H

#include <stddef.h>
#include <stdint.h>

#include "job.h"
#include "render.h"
#include "sandbox.h"

/* A sandbox_spec and everything it points to that is not the caller's: the argv, the
 * script's /job file and the environment. The stdio fds (and on_denied) are the
 * caller's plumbing: set them in spec before sandbox_start(). */
struct job_sandbox {
	struct sandbox_spec spec;
	const char *argv[3];
	char script_path[JOB_NAME_MAX + 8];
	struct sandbox_file file;
	char **env; /* one allocation, NULL-terminated */
};

/* The sandbox of a resolved job (job_resolve), in its resolved tier: the runtime's
 * interpreter on /job/<name>, the job's limits without a deadline (the runner owns the
 * wall clock), and the encoder's box (memory from size and preset, the job's cpu quota). The job
 * and cfg must outlive the spec. 0, -EINVAL with a sentence (an unknown runtime) or -ENOMEM. */
int job_sandbox_spec(struct job_sandbox *box, const struct job *job, const struct config *cfg,
		     unsigned slot, char *err, size_t errlen);

/* The sandbox of `reelbox exec` and the runtimes probe: argv with the base environment
 * plus extra_env (NULL-terminated, may be NULL), the limits a job would get and the
 * sandbox's own deadline (no runner watches it), in the config's default tier. 0 or
 * -ENOMEM. */
int exec_sandbox_spec(struct job_sandbox *box, const struct config *cfg,
		      const struct job_limits *lim, const char *const *argv,
		      const char *const *extra_env);

void job_sandbox_free(struct job_sandbox *box);

/* The encode of a resolved job into output (its extension names the container): size,
 * rate, format, the frame count as a ceiling, quality and as many encoder threads as
 * the job's cpu quota can run. Points into job. */
void job_render_spec(const struct job *job, const char *output, struct render_spec *out);

/* The environment a script gets: the contract's list (with a job), the base (PATH,
 * HOME, SCRATCH, LANG), then the runtime's fixed vars and extra (each may be NULL).
 * A NULL-terminated array in one allocation; free() it. NULL without memory. */
char **job_env(const struct job *job, const struct runtime *rt, const char *const *extra);

/* RLIMIT_CPU for a job's wall clock: every thread busy for its whole time would be a
 * runaway; twice the clock plus a start-up margin is not. */
uint64_t job_cpu_seconds(uint32_t timeout_s);

/* The one sentence of a wall clock that ran out: "wall-clock timeout of 30 s reached". */
void job_timeout_sentence(char *buf, size_t len, uint32_t timeout_s);

#endif
