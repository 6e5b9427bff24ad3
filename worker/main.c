/* main.c - reelbox: run model-written render scripts in a sandbox, encode their frames.
 *
 * One binary, subcommands like git: run and exec need no Redis; worker, submit, status
 * and cancel talk to the queue.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>
#include <string.h>

#include "cli.h"
#include "encoder.h"
#include "zygote.h"
#include "render.h"

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
    {"run", cmd_run, "render one script without Redis: sandbox, encode, purge"},
    {"exec", cmd_exec, "run any command in the sandbox a job gets"},
    {"worker", cmd_worker, "pull render jobs from Redis until SIGTERM"},
    {"submit", cmd_submit, "enqueue a script and print its job id"},
    {"status", cmd_status, "show a job's state"},
    {"cancel", cmd_cancel, "cancel a queued or running job"},
    {"list", cmd_list, "list recent jobs: state, age, attempts, progress, error"},
    {"top", cmd_top, "the queue live: jobs per state, throughput, workers, progress"},
    {"retry", cmd_retry, "put a failed or dead job back in the queue"},
    {"delete", cmd_delete, "remove a finished job from the queue"},
    {"fetch", cmd_fetch, "copy a finished job's video here, checking its sha256"},
    {"web", cmd_web, "the dashboard: jobs, logs, videos, cancel/retry/delete, live"},
    {"logs", cmd_logs, "print a job's log, while it runs (-f follows it) and after"},
    {"runtimes", cmd_runtimes, "list the interpreters and packages scripts can use here"},
    {"demo", cmd_demo, "the talk, reproduced: prompts, threats, checklist, report.html"},
    {"posture", cmd_posture, "check the sandboxing checklist on this host, live"},
};

/* What every command runs under, once, before it starts. */
static void start_up(void)
{
	/* Not dumpable: no core file and no /proc/<pid>/mem or ptrace access for another
	 * process, so the worker's Redis password never leaks that way. Only as root: an
	 * unprivileged reelbox must write its sandbox's uid_map, which needs it dumpable. */
	if (geteuid() == 0)
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* No core file either way: an unprivileged reelbox stays dumpable, and a core of
	 * the worker would hold the model's key and the Redis password. */
	setrlimit(RLIMIT_CORE, &(struct rlimit){0, 0});
	render_quiet_logs(getenv("REELBOX_AV_VERBOSE") != NULL);
}

static void usage(FILE *out)
{
	fprintf(out, "usage: reelbox COMMAND [OPTIONS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\nreelbox COMMAND --help shows a command's options.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	/* Internal: the encoder server the worker starts for itself (encoder.h). */
	if (!strcmp(argv[1], "__encoder"))
		return encoder_server_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "__zygote"))
		return zygote_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("reelbox %s\n", REELBOX_VERSION);
		return 0;
	}
	start_up();
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return cli_refuse_url_in_argv(argc - 1, argv + 1)
				   ?: commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "reelbox: unknown command '%s'; see reelbox --help\n", argv[1]);
	return EXIT_USAGE;
}
