/* cmd_posture.c - `reelbox posture`: the sandboxing checklist, audited on this host now.
 *
 * How does an operator know the checklist in docs/security.md holds on the machine in
 * front of them (its kernel, its cgroups, its configuration)? By running it as code
 * against the live system: posture.c runs a probe as a real job and measures each point
 * from inside the job and from the host. This prints the points with their evidence.
 *
 * Exit status: 0 every point holds, 1 one does not (each named on stderr with what
 * failed), 2 usage or configuration error, or no job could be run to measure.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "posture.h"
#include "sandbox.h"

static const char posture_usage[] =
    "usage: reelbox posture [--json] [--tier native|gvisor] [--config FILE]\n"
    "  Runs a probe as a real job on this host now and checks the sandboxing checklist\n"
    "  (docs/security.md) point by point, each with what was measured: isolation,\n"
    "  filesystem (default deny), network, secrets, limits, lifetime, cleanup, audit.\n"
    "      --json            one JSON object on stdout: points, facts, probe_ms\n"
    "      --tier NAME       the tier to audit: native (default) or gvisor; gvisor's points\n"
    "                        are measured where gVisor keeps them (docs/security.md)\n"
    "      --config FILE     operator configuration (JSON)\n"
    "  Exit status: 0 every point holds, 1 a point does not hold on this host (named on\n"
    "  stderr), 2 usage or configuration error, or the probe job could not run.\n";

static int posture_parse(int argc, char **argv, const char **config, int *json,
			 enum sandbox_tier *tier)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, OPT_JSON},
	    {"tier", required_argument, NULL, OPT_TIER},
	    {"config", required_argument, NULL, OPT_CONFIG},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_JSON:
			*json = 1;
			break;
		case OPT_CONFIG:
			*config = optarg;
			break;
		case OPT_TIER:
			if (sandbox_tier_parse(optarg, tier) < 0)
				return cli_usage_error(
				    "posture", "--tier is native or gvisor, not '%s'", optarg);
			break;
		case 'h':
			fputs(posture_usage, stdout);
			return 0;
		default:
			fputs(posture_usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc)
		return cli_usage_error("posture", "takes no arguments; see reelbox posture --help");
	return -1;
}

/* One point as a person reads it: the verdict, the id, the title, then its facts (and
 * what does not hold) one per line under it. Facts are separated by "; " outside
 * double quotes (a quoted log line may hold one). */
static void print_point(const struct posture_point *p)
{
	const char *s = p->evidence, *start = s;
	int quoted = 0;

	printf("  %-5s  %-10s  %s\n", p->holds ? "holds" : "FAILS", p->id, p->title);
	if (!p->holds)
		printf("  %-5s  %-10s  does not hold: %s\n", "", "", p->failed);
	for (;; s++) {
		if (*s == '"')
			quoted = !quoted;
		if (*s && (quoted || s[0] != ';' || s[1] != ' '))
			continue;
		if (s > start)
			printf("  %-5s  %-10s  %.*s\n", "", "", (int)(s - start), start);
		if (!*s)
			break;
		start = s + 2;
	}
}

/* "network (socket(AF_INET) was created), secrets (...)": every point that fails. */
static void print_failing(const struct posture_report *rep)
{
	int first = 1;

	fprintf(stderr, "reelbox posture: does not hold on this host: ");
	for (int i = 0; i < POSTURE_POINTS; i++) {
		const struct posture_point *p = &rep->points[i];
		if (p->holds)
			continue;
		fprintf(stderr, "%s%s (%s)", first ? "" : ", ", p->id, p->failed);
		first = 0;
	}
	fprintf(stderr, "\n");
}

static int print_json(const struct posture_report *rep)
{
	json_t *j = posture_json(rep);
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	int ok = text && printf("%s\n", text) >= 0 && fflush(stdout) == 0;

	free(text);
	json_decref(j);
	return ok ? 0 : cli_usage_error("posture", "cannot write the JSON report");
}

int cmd_posture(int argc, char **argv)
{
	enum sandbox_tier tier = SANDBOX_TIER_NATIVE;
	struct posture_report rep;
	const char *config = NULL;
	struct config cfg;
	int json = 0, rc, held = 0;
	char err[512], info[256];

	if ((rc = posture_parse(argc, argv, &config, &json, &tier)) >= 0)
		return rc;
	if ((rc = cli_load_config("posture", config, &cfg)) != 0)
		return rc;
	cli_tiers_for_command(&cfg);
	sandbox_sweep_stale(cfg.state_dir[0] ? cfg.state_dir : NULL);
	/* A tier that cannot start is said so, never audited in another's place. */
	if ((rc = cli_check_tier("posture", &cfg, tier, info, sizeof(info))) != 0)
		return rc;
	if (posture_run_tier(&cfg, tier, &rep, err, sizeof(err)) < 0)
		return cli_usage_error("posture", "cannot run the posture probe: %s", err);
	json_object_set_new(rep.facts, "tier_info", json_string(info));
	for (int i = 0; i < POSTURE_POINTS; i++)
		held += rep.points[i].holds;
	if (json) {
		rc = print_json(&rep);
	} else {
		printf("The sandboxing checklist, measured in a live job on this host just now "
		       "(%.1f s), tier %s (%s):\n\n",
		       (double)rep.probe_ms / 1000.0, sandbox_tier_name(tier), info);
		for (int i = 0; i < POSTURE_POINTS; i++)
			print_point(&rep.points[i]);
		printf("\n%d of %d points hold on this host.\n", held, POSTURE_POINTS);
		rc = 0;
	}
	if (rc == 0 && held < POSTURE_POINTS) {
		print_failing(&rep);
		rc = EXIT_JOB_FAILED;
	}
	posture_free(&rep);
	return rc;
}
