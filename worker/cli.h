/* cli.h - the reelbox subcommands and what they share.
 *
 * Exit statuses follow the contract: 0 succeeded, 1 the job failed, 2 usage or
 * configuration error with a one-line reason on stderr.
 */
#ifndef REELBOX_CLI_H
#define REELBOX_CLI_H

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>

#include "job.h"
#include "runner.h"

#define REELBOX_VERSION "0.1.0" /* as project() in CMakeLists.txt */

#define EXIT_JOB_FAILED 1
#define EXIT_USAGE	2

int cmd_run(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_worker(int argc, char **argv);
int cmd_submit(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_cancel(int argc, char **argv);
int cmd_list(int argc, char **argv); /* cmd_jobs.c */
int cmd_retry(int argc, char **argv);
int cmd_delete(int argc, char **argv);
int cmd_fetch(int argc, char **argv);
int cmd_web(int argc, char **argv);  /* cmd_web.c */
int cmd_logs(int argc, char **argv); /* cmd_logs.c */
int cmd_top(int argc, char **argv);  /* cmd_top.c */

int cmd_runtimes(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_posture(int argc, char **argv);

struct sandbox_result;

/* Run argv in the sandbox a job gets, the way `reelbox exec` does: the contract's base
 * environment plus extra_env, limits lim (already within the operator's maxima), the
 * given stdio; block until it ends. on_denied (may be NULL: stderr) hears of each denied
 * system call. 0 with *res filled, or a negative errno with one sentence in err. */
int cli_sandbox_exec(const struct config *cfg, const struct job_limits *lim,
		     const char *const *argv, const char *const *extra_env, int stdin_fd,
		     int stdout_fd, int stderr_fd, void (*on_denied)(void *, const char *),
		     void *opaque, struct sandbox_result *res, char *err, size_t errlen);

/* Print "reelbox CMD: reason" on stderr and return EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Options shared by run and submit: what the job asks for. Long-option ids start at
 * CLI_JOB_OPT_BASE so a command can add its own. */
enum {
	CLI_JOB_OPT_BASE = 1000,
	OPT_RUNTIME = CLI_JOB_OPT_BASE,
	OPT_SIZE,
	OPT_FPS,
	OPT_FRAMES,
	OPT_DURATION,
	OPT_PIX_FMT,
	OPT_CRF,
	OPT_PRESET,
	OPT_TIMEOUT,
	OPT_MEMORY,
	OPT_PIDS,
	OPT_SCRATCH,
	OPT_CPUS,
	OPT_JSON,
	OPT_CONFIG,
	OPT_REDIS,
	OPT_WAIT,
	OPT_RETRIES,
	OPT_PROGRESS,
	OPT_PROMPT,
	OPT_PROMPT_FILE,
	OPT_CODEC,
	OPT_POSTER_FRAME,
	OPT_CONTACT_SHEET,
	OPT_AUDIO,
	OPT_CHUNKS,
	OPT_FRAMES_PER_CHUNK,
	OPT_TIER,
	OPT_CLI_LAST,
};

extern const struct option cli_job_options[];
extern const size_t cli_n_job_options;

/* What the job options collected; duration is applied after fps is known. */
struct cli_job_args {
	double duration;
	int have_frames;
	const char *config_path;
};

/* Apply one parsed job option; 0, or EXIT_USAGE after printing the reason. */
int cli_job_option(const char *cmd, int opt, const char *arg, struct job *job,
		   struct cli_job_args *ja);

/* Load the operator configuration: built-ins, then the file (--config, REELBOX_CONFIG or
 * /etc/reelbox/config.json when present), then the environment. */
int cli_load_config(const char *cmd, const char *path, struct config *cfg);

/* What run and submit render: a prompt (--prompt or --prompt-file set job->prompt, and
 * then no SCRIPT may follow) or exactly one SCRIPT, left in *script. 0, or EXIT_USAGE
 * after the reason. */
int cli_script_or_prompt(const char *cmd, int argc, char **argv, int first, const struct job *job,
			 const char **script);

struct queue;

/* The queue a command talks to: --redis (flag), else REELBOX_REDIS_URL, else the config
 * file's, else the built-in default. */
const char *cli_redis_url(const char *flag, const struct config *cfg);

/* The queue options from the config: lease, result TTL, attempts, and the TLS files
 * (rediss://; qo points into cfg, which must outlive the open). */
struct queue_opts;
void cli_queue_opts(struct queue_opts *qo, const struct config *cfg);

/* Open it with those options; 0, or EXIT_USAGE after the reason. A rediss:// URL with
 * ?insecure=1 is warned about on stderr. */
int cli_open_queue(const char *cmd, const char *url, const struct config *cfg, struct queue **q);

/* EXIT_USAGE after one line when a --redis value in argv (before "--") carries a
 * password, else 0. argv[0] is the command's name. */
int cli_refuse_url_in_argv(int argc, char **argv);

/* run, exec and submit: without a "tiers" block in a config file, every tier may be
 * named on the command line (whoever types it is the operator); a file's block holds. */
void cli_tiers_for_command(struct config *cfg);

/* Hand the config's "gvisor" block to the sandbox (sandbox_gvisor_configure), then start
 * a sandbox of tier t (sandbox_tier_check), whose description goes into info (may be
 * NULL). 0, or EXIT_USAGE after one line: "reelbox CMD: tier gvisor cannot start: ...". */
int cli_check_tier(const char *cmd, const struct config *cfg, enum sandbox_tier t, char *info,
		   size_t infolen);

/* Read a script file (bounded by the config) into the job: bytes, name, runtime. */
int cli_load_script(const char *cmd, const char *path, const struct config *cfg, struct job *job);

/* Finish a job from the CLI: duration to frames, then job_resolve. */
int cli_resolve_job(const char *cmd, struct job *job, const struct cli_job_args *ja,
		    const struct config *cfg);

/* The result's "limits" object: which limits hold on this host for this process
 * ({"cgroup": "v2"|"v2-delegated"|"v1"|"none", "rootless", "slot_uids", "enforced",
 * "not_enforced", "summary"}, sandbox_enforcement()); NULL when out of memory. */
json_t *cli_limits_json(void);
/* One stderr line, "reelbox CMD: limits: ...", when this process is not root or a
 * cgroup limit does not hold here; nothing otherwise. */
void cli_tell_limits(const char *cmd);

/* The contract's summary of a finished job as compact JSON (malloc'd), with output as
 * the path to report and worker (may be NULL) naming who ran it. Every string is made
 * well-formed UTF-8 first, so NULL means out of memory, never "the script wrote bad
 * bytes". extra (may be NULL) adds its keys: a prompt job's prompt, script and attempts. */
char *cli_result_json(const struct runner_result *res, const char *output, const char *worker,
		      json_t *extra);

/* The contract's --json summary of a finished job, one line on out. 0, or -ENOMEM when
 * it could not be built (a fixed "failed" object was printed instead) or -EIO when out
 * could not be written: either way the caller must not report success. */
int cli_print_result_json(FILE *out, const struct runner_result *res, json_t *extra);

#endif
