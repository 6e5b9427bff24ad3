/* cmd_runtimes.c - `reelbox runtimes`: what scripts can run and import on this host.
 *
 * A script author (or the prompt a model gets) needs to know which interpreters exist
 * and what they can import; an operator needs to know that what the config promises
 * (a runtime's "packages") is really there. Both are answered from inside a real
 * sandbox, started the way `reelbox exec` starts one (cli_sandbox_exec), with the
 * runtime's own environment: a package that imports on the host but not in the sandbox
 * (a module under /root, a pyenv shim) is reported as missing, which is the truth for
 * jobs.
 *
 * Each probe prints lines "reelbox-probe: version TEXT", "reelbox-probe: have NAME
 * [VERSION]" and "reelbox-probe: missing NAME" on stdout (anything else a package prints
 * on import is ignored). Exit status: 0 when every installed runtime ran its probe and
 * can import every package the operator lists for it, 1 otherwise, 2 usage or
 * configuration error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli.h"
#include "runtime_kind.h"
#include "sandbox.h"

#define PROBE_OUT_MAX 65536
#define PROBE_TAG     "reelbox-probe: "

static const char runtimes_usage[] =
    "usage: reelbox runtimes [--json] [--config FILE]\n"
    "  Lists each runtime of the operator's table with its interpreter, version and\n"
    "  the packages scripts can import (a shell's: commands), checked inside a sandbox.\n"
    "      --json            one JSON array on stdout\n"
    "      --config FILE     operator configuration (JSON)\n"
    "  Exit status: 0 every listed package is there, 1 one is missing or an interpreter\n"
    "  failed its probe, 2 usage or configuration error.\n";

/* Often asked for by scripts (and models) beyond what the operator lists: reported when
 * they happen to be there, so authors learn of them. */
static const char *const python_extra[] = {
    "numpy",   "PIL",	 "matplotlib", "scipy",	  "cv2",    "cairo", "imageio",
    "skimage", "pandas", "sympy",      "moviepy", "pygame", "manim", "svgwrite",
    "shapely", "noise",	 "numba",      "PyQt5",	  NULL};
static const char *const shell_extra[] = {"ffmpeg", "ffprobe",	    "convert", "magick", "gnuplot",
					  "sox",    "rsvg-convert", "python3", "node",	 "lua",
					  "awk",    "bc",	    NULL};
static const char *const node_extra[] = {"canvas", "sharp", NULL};

static const char py_probe[] =
    "import sys, importlib\n"
    "print('" PROBE_TAG "version Python ' + sys.version.split()[0], flush=True)\n"
    "for m in sys.argv[1:]:\n"
    "    try:\n"
    "        mod = importlib.import_module(m)\n"
    "        v = getattr(mod, '__version__', '')\n"
    "        print('" PROBE_TAG "have %s %s' % (m, v if isinstance(v, str) else ''), "
    "flush=True)\n"
    "    except BaseException:\n"
    "        print('" PROBE_TAG "missing ' + m, flush=True)\n";

static const char node_probe[] = "console.log('" PROBE_TAG "version Node.js ' + process.version);"
				 "for (const m of process.argv.slice(1)) {"
				 " try { const x = require(m); console.log('" PROBE_TAG
				 "have ' + m + ' ' + ((x && x.version) || '')); }"
				 " catch (e) { console.log('" PROBE_TAG "missing ' + m); } }";

static const char sh_probe[] =
    "for c in \"$@\"; do if p=$(command -v \"$c\"); then echo \"" PROBE_TAG
    "have $c $p\"; else echo \"" PROBE_TAG "missing $c\"; fi; done";

struct probe {
	char version[128];
	json_t *have;	 /* name -> version ("" unknown) */
	json_t *missing; /* names */
	int ran;	 /* the probe exited 0 */
	char error[512];
};

static void quiet_denied(void *opaque, const char *msg)
{
	(void)opaque;
	(void)msg;
}

/* Parse the probe's tagged lines out of what it printed. */
static void parse_probe(struct probe *p, char *out)
{
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		char *t = strstr(line, PROBE_TAG);

		if (!t)
			continue;
		t += strlen(PROBE_TAG);
		if (!strncmp(t, "version ", 8)) {
			snprintf(p->version, sizeof(p->version), "%s", t + 8);
		} else if (!strncmp(t, "have ", 5)) {
			char *name = t + 5, *sp = strchr(name, ' ');
			const char *ver = "";

			if (sp) {
				*sp = '\0';
				ver = sp + 1;
			}
			json_object_set_new(p->have, name, json_string(ver));
		} else if (!strncmp(t, "missing ", 8)) {
			json_array_append_new(p->missing, json_string(t + 8));
		}
	}
}

/* lua -e takes no arguments after the code: the names go into it (they are checked to
 * be [A-Za-z0-9_.@/-], so they cannot leave the string). */
static void lua_probe(const struct runtime *rt, char *code, size_t len)
{
	size_t used = (size_t)snprintf(code, len,
				       "print('" PROBE_TAG "version ' .. _VERSION) "
				       "for _, m in ipairs({");

	for (int i = 0; i < rt->n_packages && used < len; i++)
		used += (size_t)snprintf(code + used, len - used, "'%s',", rt->packages[i]);
	if (used < len)
		snprintf(code + used, len - used,
			 "}) do if pcall(require, m) then print('" PROBE_TAG
			 "have ' .. m) else print('" PROBE_TAG "missing ' .. m) end end");
}

/* The probe's command line for a runtime of this kind: its code, then the names to
 * look for (the operator's list, then the extras not in it). lua_code holds Lua's. */
static int probe_argv(const struct runtime *rt, enum runtime_kind kind, const char **argv,
		      char *lua_code, size_t lua_len)
{
	const char *const *extra = kind == RUNTIME_PYTHON  ? python_extra
				   : kind == RUNTIME_SHELL ? shell_extra
				   : kind == RUNTIME_NODE  ? node_extra
							   : NULL;
	int n = 0;

	argv[n++] = rt->path;
	switch (kind) {
	case RUNTIME_PYTHON:
		argv[n++] = "-c";
		argv[n++] = py_probe;
		break;
	case RUNTIME_NODE:
		argv[n++] = "-e";
		argv[n++] = node_probe;
		break;
	case RUNTIME_SHELL:
		argv[n++] = "-c";
		argv[n++] = sh_probe;
		argv[n++] = "sh";
		break;
	case RUNTIME_LUA:
		lua_probe(rt, lua_code, lua_len);
		argv[n++] = "-e";
		argv[n++] = lua_code;
		break;
	case RUNTIME_OTHER:
		argv[n++] = "--version";
		break;
	}
	if (kind == RUNTIME_PYTHON || kind == RUNTIME_NODE || kind == RUNTIME_SHELL) {
		for (int i = 0; i < rt->n_packages; i++)
			argv[n++] = rt->packages[i];
		for (int i = 0; extra && extra[i]; i++) {
			int listed = 0;

			for (int j = 0; j < rt->n_packages; j++)
				listed |= !strcmp(rt->packages[j], extra[i]);
			if (!listed)
				argv[n++] = extra[i];
		}
	}
	argv[n] = NULL;
	return n;
}

/* What the probe printed (the memfd it wrote to): a version line, or tagged lines. */
static int read_probe(struct probe *p, enum runtime_kind kind, int fd)
{
	char *out = calloc(1, PROBE_OUT_MAX + 1);
	ssize_t got = out ? pread(fd, out, PROBE_OUT_MAX, 0) : -1;

	if (got < 0) {
		free(out);
		snprintf(p->error, sizeof(p->error), "cannot read the probe's output");
		return -EIO;
	}
	if (kind == RUNTIME_OTHER) {
		out[strcspn(out, "\n")] = '\0';
		snprintf(p->version, sizeof(p->version), "%s", out);
	} else {
		parse_probe(p, out);
	}
	free(out);
	return 0;
}

/* Run one runtime's probe in a sandbox; what it found goes into *p. */
static int probe_runtime(const struct config *cfg, const struct runtime *rt, enum runtime_kind kind,
			 const char *real_base, struct probe *p)
{
	const char *argv[8 + JOB_MAX_RUNTIME_PKGS + 32];
	const char *env[JOB_MAX_RUNTIME_ENV + 1];
	char lua_code[4096], err[512];
	struct sandbox_result res;
	struct job_limits lim = cfg->defaults;
	int fd, rc;

	probe_argv(rt, kind, argv, lua_code, sizeof(lua_code));
	for (int i = 0; i < rt->n_env; i++)
		env[i] = rt->env[i];
	env[rt->n_env] = NULL;

	fd = memfd_create("reelbox-probe", MFD_CLOEXEC);
	if (fd < 0) {
		snprintf(p->error, sizeof(p->error), "cannot create a memfd: %s", strerror(errno));
		return -errno;
	}
	if (lim.timeout_s > 60)
		lim.timeout_s = 60;
	rc = cli_sandbox_exec(cfg, &lim, argv, env, -1, fd, -1, quiet_denied, NULL, &res, err,
			      sizeof(err));
	if (rc < 0) {
		snprintf(p->error, sizeof(p->error), "%s", err);
		close(fd);
		return rc;
	}
	rc = read_probe(p, kind, fd);
	close(fd);
	if (rc < 0)
		return rc;
	if (kind == RUNTIME_SHELL)
		snprintf(p->version, sizeof(p->version), "%.100s", real_base);
	p->ran = res.end == SANDBOX_EXITED && res.signal == 0 && res.exit_code == 0;
	if (!p->ran)
		snprintf(p->error, sizeof(p->error), "its probe failed in the sandbox: %s",
			 res.reason[0] ? res.reason : "it exited with a non-zero status");
	return 0;
}

/* "numpy 1.24.2, PIL 9.4.0" from a have-object, for names in (or, with listed 0, not
 * in) the operator's list; a shell's commands by name alone (their value is a path). */
static void print_have(const struct runtime *rt, json_t *have, int listed, int names_only)
{
	const char *name;
	json_t *v;
	int first = 1;

	json_object_foreach(have, name, v)
	{
		int in = 0;
		for (int j = 0; j < rt->n_packages; j++)
			in |= !strcmp(rt->packages[j], name);
		if (in != listed)
			continue;
		if (names_only)
			printf("%s%s", first ? "" : ", ", name);
		else
			printf("%s%s%s%s", first ? "" : ", ", name,
			       json_string_value(v)[0] ? " " : "", json_string_value(v));
		first = 0;
	}
	if (first)
		printf("(none)");
	printf("\n");
}

/* One runtime as a person reads it: path, version, extensions, then its packages. */
static void print_runtime(const struct runtime *rt, enum runtime_kind kind, int installed,
			  const struct probe *p, json_t *listed_missing)
{
	printf("%-10s %s", rt->name, rt->path);
	if (!installed) {
		printf(": not installed on this host\n");
		return;
	}
	printf(" (%s)", p->version[0] ? p->version : "version unknown");
	for (int j = 0; j < rt->n_ext; j++)
		printf("%s%s", j ? " " : ", for ", rt->ext[j]);
	printf("\n");
	if (!p->ran)
		printf("  FAILED:   %s\n", p->error);
	if (rt->n_packages) {
		printf("  %-9s ", kind == RUNTIME_SHELL ? "commands:" : "packages:");
		print_have(rt, p->have, 1, kind == RUNTIME_SHELL);
	}
	if (json_array_size(listed_missing)) {
		size_t k;
		json_t *v;
		printf("  MISSING:  ");
		json_array_foreach(listed_missing, k, v)
		    printf("%s%s", k ? ", " : "", json_string_value(v));
		printf(" (the operator lists them, but scripts cannot use them here)\n");
	}
	if (kind == RUNTIME_PYTHON || kind == RUNTIME_SHELL || kind == RUNTIME_NODE) {
		printf("  %-9s ", "also:");
		print_have(rt, p->have, 0, kind == RUNTIME_SHELL);
	}
}

/* Probe one runtime of the table: its JSON object appended to all, its lines printed
 * unless json. 1 when it fails its promise (the probe failed or a listed package is
 * missing), 0 when it keeps it, or -1 when no sandbox could start (why says why). */
static int check_runtime(const struct config *cfg, const struct runtime *rt, int json, json_t *all,
			 char *why, size_t whylen)
{
	struct probe p = {.have = json_object(), .missing = json_array()};
	char real_base[NAME_MAX + 1];
	enum runtime_kind kind = runtime_kind(rt, real_base, sizeof(real_base));
	int installed = access(rt->path, X_OK) == 0, bad;
	json_t *ext = json_array(), *listed_missing = json_array();

	if (installed && probe_runtime(cfg, rt, kind, real_base, &p) < 0) {
		snprintf(why, whylen, "%s", p.error);
		json_decref(p.have);
		json_decref(p.missing);
		json_decref(ext);
		json_decref(listed_missing);
		return -1;
	}
	for (int j = 0; j < rt->n_ext; j++)
		json_array_append_new(ext, json_string(rt->ext[j]));
	for (int j = 0; j < rt->n_packages; j++)
		if (installed && !json_object_get(p.have, rt->packages[j]))
			json_array_append_new(listed_missing, json_string(rt->packages[j]));
	bad = installed && (!p.ran || json_array_size(listed_missing));
	if (!json)
		print_runtime(rt, kind, installed, &p, listed_missing);
	json_array_append_new(
	    all, json_pack("{s:s, s:s, s:o, s:b, s:s?, s:O, s:o, s:s?}", "name", rt->name, "path",
			   rt->path, "extensions", ext, "installed", installed, "version",
			   p.version[0] ? p.version : NULL, "importable", p.have, "missing",
			   listed_missing, "error", installed && !p.ran ? p.error : NULL));
	json_decref(p.have);
	json_decref(p.missing);
	return bad;
}

static int runtimes_parse(int argc, char **argv, const char **config, int *json)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, OPT_JSON},
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
		case 'h':
			fputs(runtimes_usage, stdout);
			return 0;
		default:
			fputs(runtimes_usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc)
		return cli_usage_error("runtimes",
				       "takes no arguments; see reelbox runtimes --help");
	return -1;
}

int cmd_runtimes(int argc, char **argv)
{
	const char *config = NULL;
	struct config cfg;
	int json = 0, rc, bad = 0;
	char why[512];
	json_t *all;

	if ((rc = runtimes_parse(argc, argv, &config, &json)) >= 0)
		return rc;
	if ((rc = cli_load_config("runtimes", config, &cfg)) != 0)
		return rc;
	sandbox_sweep_stale(cfg.state_dir[0] ? cfg.state_dir : NULL);

	all = json_array();
	for (int i = 0; i < cfg.n_runtimes; i++) {
		rc = check_runtime(&cfg, &cfg.runtimes[i], json, all, why, sizeof(why));
		if (rc < 0) {
			json_decref(all);
			return cli_usage_error("runtimes", "cannot start a sandbox: %s", why);
		}
		bad |= rc;
	}
	if (json) {
		char *text = json_dumps(all, JSON_COMPACT);
		if (!text || printf("%s\n", text) < 0) {
			free(text);
			json_decref(all);
			return cli_usage_error("runtimes", "cannot write the JSON list");
		}
		free(text);
	} else {
		printf("\nScripts can use the packages above and nothing else: jobs have no "
		       "network, so nothing can be installed.\nMore: docs/jobs.md, \"Offering "
		       "packages\".\n");
	}
	json_decref(all);
	return bad ? EXIT_JOB_FAILED : 0;
}
