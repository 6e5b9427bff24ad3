/* config.c - the operator's configuration: built-in defaults, a JSON file, the environment.
 *
 * Precedence is file, then environment, then flags (flags are the CLI's business): each
 * layer overlays the one before. A layer that fails leaves cfg exactly as it was.
 *
 * The config file is one JSON object; every key is optional and unknown keys are errors:
 *
 *   {
 *     "runtimes": {
 *       "python3": {"path": "/usr/bin/python3", "extensions": [".py"],
 *                   "env": ["PYTHONDONTWRITEBYTECODE=1"], "packages": ["numpy", "PIL"]},
 *       "node": null
 *     },
 *     "defaults": {"timeout": 60, "memory": 512, "pids": 64, "scratch": 64, "cpus": 1.0},
 *     "maxima":   {"timeout": 600, "memory": 4096, "pids": 256, "scratch": 1024, "cpus": 2},
 *     "max_frames": 36000, "max_script_bytes": 1048576, "encoder_memory": 2048,
 *     "state_dir": "/var/tmp/reelbox", "output_dir": "reelbox-out",
 *     "redis_url": "redis://127.0.0.1:6379", "concurrency": 1,
 *     "redis_ca": "/etc/reelbox/redis-ca.pem", "redis_cert": "...", "redis_key": "...",
 *     "lease": 30, "result_ttl": 86400, "max_attempts": 3,
 *     "model": {"api": "openai", "url": "http://127.0.0.1:8000/v1", "name": "some-model",
 *               "key_env": "REELBOX_MODEL_KEY", "key_file": "/etc/reelbox/model.key",
 *               "max_attempts": 3, "timeout": 120},
 *     "keep_uploaded": false,
 *     "tiers": {"enabled": ["native", "gvisor"], "default": "native", "prompt": "gvisor",
 *               "runtimes": {"sh": "gvisor"}},
 *     "gvisor": {"runsc": "/usr/bin/runsc", "platform": "auto", "overhead_memory": 128,
 *                "overhead_pids": 160}
 *   }
 *
 * Units: timeout, lease and result_ttl in seconds, memory, encoder_memory and scratch in
 * MB, cpus a
 * fraction of CPUs. A runtime entry replaces the built-in entry of the same name whole
 * (path is required and absolute; extensions, env and packages default to none); null
 * removes it. packages names what scripts may import (a shell's: commands), as told to
 * authors; `reelbox runtimes` checks it.
 * "keep_uploaded": true keeps a video the worker uploaded (a job's "upload") in output_dir
 * too; by default it is removed once the upload succeeded and the result is recorded.
 * "model" names the endpoint prompt jobs ask (modelcfg.c reads its key: never from here);
 * "tiers" (tier.h) says which sandbox tiers this worker runs, the default and which jobs
 * must use which; every tier it names must be enabled and every runtime exist. "gvisor"
 * is how the gvisor tier runs runsc (overhead_memory in MB).
 * "defaults", "maxima" and "model" overlay field by field; after the overlay every default must be
 * positive and within its maximum.
 */
#define _GNU_SOURCE
#include "job.h"
#include "errf.h"
#include "fields.h"
#include "queue.h"
#include "secretenv.h"
#include "sandbox.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONFIG_MAX_CONCURRENCY 1024
#define CONFIG_MAX_CPUS	       1024.0

static void config_add_runtime(struct config *cfg, const char *name, const char *path,
			       const char *ext, const char *env1, const char *env2)
{
	struct runtime *rt = &cfg->runtimes[cfg->n_runtimes++];

	memset(rt, 0, sizeof(*rt));
	snprintf(rt->name, sizeof(rt->name), "%s", name);
	snprintf(rt->path, sizeof(rt->path), "%s", path);
	snprintf(rt->ext[rt->n_ext++], sizeof(rt->ext[0]), "%s", ext);
	if (env1)
		snprintf(rt->env[rt->n_env++], sizeof(rt->env[0]), "%s", env1);
	if (env2)
		snprintf(rt->env[rt->n_env++], sizeof(rt->env[0]), "%s", env2);
}

static void config_add_packages(struct runtime *rt, const char *p1, const char *p2)
{
	if (p1)
		snprintf(rt->packages[rt->n_packages++], sizeof(rt->packages[0]), "%s", p1);
	if (p2)
		snprintf(rt->packages[rt->n_packages++], sizeof(rt->packages[0]), "%s", p2);
}

void config_defaults(struct config *cfg)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	/* Everything but the runtime slots, which config_add_runtime() zeroes one by one as
	 * it fills them (nothing reads past n_runtimes): the 16 slots are three quarters of
	 * the struct, and zeroing them cost every command's start 25 page faults, a quarter
	 * of a millisecond here (docs/capacity.md, cold exec). */
	_Static_assert(offsetof(struct config, runtimes) == 0, "runtimes first");
	memset((char *)cfg + sizeof(cfg->runtimes), 0, sizeof(*cfg) - sizeof(cfg->runtimes));
	/* Interpreters by absolute path: a job never gets whatever PATH finds first. */
	config_add_runtime(cfg, "python3", "/usr/bin/python3", ".py", "PYTHONDONTWRITEBYTECODE=1",
			   "PYTHONUNBUFFERED=1");
	/* What the contract promises scripts where the machine has it; `reelbox runtimes`
	 * checks it inside a sandbox. */
	config_add_packages(&cfg->runtimes[cfg->n_runtimes - 1], "numpy", "PIL");
	config_add_runtime(cfg, "sh", "/bin/sh", ".sh", NULL, NULL);
	config_add_packages(&cfg->runtimes[cfg->n_runtimes - 1], "ffmpeg", NULL);
	config_add_runtime(cfg, "node", "/usr/bin/node", ".js", "NODE_DISABLE_COLORS=1", NULL);
	config_add_runtime(cfg, "lua", "/usr/bin/lua", ".lua", NULL, NULL);

	cfg->defaults = (struct job_limits){
	    .timeout_s = 60, .memory_mb = 512, .pids = 64, .scratch_mb = 64, .cpus = 1.0};
	cfg->maxima = (struct job_limits){.timeout_s = 600,
					  .memory_mb = 4096,
					  .pids = 256,
					  .scratch_mb = 1024,
					  .cpus = ncpu > 0 ? (double)ncpu : 2.0};
	cfg->max_frames = 36000;
	cfg->max_script_bytes = 1 << 20;
	cfg->encoder_memory_mb = 2048;
	/* /var/tmp/reelbox as root; a user's own dir otherwise (sandbox.h) */
	if (sandbox_state_default_dir(cfg->state_dir, sizeof(cfg->state_dir)) < 0)
		snprintf(cfg->state_dir, sizeof(cfg->state_dir), "%s", SANDBOX_DEFAULT_STATE_DIR);
	snprintf(cfg->output_dir, sizeof(cfg->output_dir), "reelbox-out");
	snprintf(cfg->redis_url, sizeof(cfg->redis_url), "redis://127.0.0.1:6379");
	cfg->concurrency = 1;
	cfg->pool.max_age_s = 600;
	cfg->pool.zygote = 1;
	cfg->lease_s = 30;
	cfg->result_ttl_s = 86400;
	cfg->max_attempts = 3;
	cfg->model.max_attempts = 3;
	cfg->model.timeout_s = 120;
	tier_defaults(&cfg->tiers);
}

const struct runtime *config_find_runtime(const struct config *cfg, const char *name)
{
	for (int i = 0; i < cfg->n_runtimes; i++)
		if (!strcmp(cfg->runtimes[i].name, name))
			return &cfg->runtimes[i];
	return NULL;
}

/* The runtime whose extension list holds the script's last extension. Extensions
 * compare case-sensitively, as the kernel compares file names. */
const struct runtime *config_runtime_for_script(const struct config *cfg, const char *name)
{
	const char *dot = name ? strrchr(name, '.') : NULL;

	if (!dot || dot == name || strchr(dot, '/'))
		return NULL;
	for (int i = 0; i < cfg->n_runtimes; i++)
		for (int j = 0; j < cfg->runtimes[i].n_ext; j++)
			if (!strcmp(cfg->runtimes[i].ext[j], dot))
				return &cfg->runtimes[i];
	return NULL;
}

/* ---- config file ---- */

#define CFG_STR(f) FIELD_STR, offsetof(struct config, f), sizeof(((struct config *)0)->f)

#define MODEL_STR(f)                                                                               \
	FIELD_STR, offsetof(struct model_settings, f), sizeof(((struct model_settings *)0)->f)

/* The "model" block; the rules between its keys are config_check_model's. */
static const struct field model_fields[] = {
    {"api", MODEL_STR(api)},
    {"url", MODEL_STR(url)},
    {"name", MODEL_STR(name)},
    {"key_env", MODEL_STR(key_env)},
    {"key_file", MODEL_STR(key_file)},
    {"max_attempts", FIELD_INT, offsetof(struct model_settings, max_attempts), 0, 1, 10},
    {"timeout", FIELD_U32, offsetof(struct model_settings, timeout_s), 0, 1, 3600},
    {NULL},
};

/* The "pool" block: only python3 has a warm start (pool.c says why). */
static const struct field pool_fields[] = {
    {"python3", FIELD_INT, offsetof(struct pool_settings, python3), 0, 0, 64},
    {"max_age", FIELD_U32, offsetof(struct pool_settings, max_age_s), 0, 10, 86400},
    {"zygote", FIELD_INT, offsetof(struct pool_settings, zygote), 0, 0, 1},
    {NULL},
};

#define GVISOR_STR(f)                                                                              \
	FIELD_STR, offsetof(struct gvisor_settings, f), sizeof(((struct gvisor_settings *)0)->f)

/* The "gvisor" block: how the gvisor tier runs runsc (sandbox_gvisor_configure); the
 * rules between its keys are config_check_gvisor's. Memory in MB, as everywhere here. */
static const struct field gvisor_fields[] = {
    {"runsc", GVISOR_STR(runsc)},
    {"platform", GVISOR_STR(platform)},
    {"overhead_memory", FIELD_U32, offsetof(struct gvisor_settings, overhead_memory_mb), 0, 1,
     1 << 20},
    {"overhead_pids", FIELD_U32, offsetof(struct gvisor_settings, overhead_pids), 0, 1, 65536},
    {NULL},
};

/* The config file's own keys; "defaults" and "maxima" are limit tables (fields.h). */
static const struct field config_fields[] = {
    {"runtimes", FIELD_OWN},
    {"defaults", FIELD_OBJECT, offsetof(struct config, defaults), .sub = limit_fields},
    {"maxima", FIELD_OBJECT, offsetof(struct config, maxima), .sub = limit_fields},
    {"max_frames", FIELD_I64, offsetof(struct config, max_frames), 0, 1, INT64_MAX},
    {"max_script_bytes", FIELD_SIZE, offsetof(struct config, max_script_bytes), 0, 1, INT32_MAX},
    {"encoder_memory", FIELD_U32, offsetof(struct config, encoder_memory_mb), 0, 64, 1 << 20},
    {"state_dir", CFG_STR(state_dir)},
    {"output_dir", CFG_STR(output_dir)},
    {"redis_url", CFG_STR(redis_url)},
    {"concurrency", FIELD_INT, offsetof(struct config, concurrency), 0, 1, CONFIG_MAX_CONCURRENCY},
    {"lease", FIELD_U32, offsetof(struct config, lease_s), 0, 1, UINT32_MAX},
    {"result_ttl", FIELD_U32, offsetof(struct config, result_ttl_s), 0, 1, UINT32_MAX},
    {"max_attempts", FIELD_INT, offsetof(struct config, max_attempts), 0, 1, 1000},
    {"model", FIELD_OBJECT, offsetof(struct config, model), .sub = model_fields},
    {"keep_uploaded", FIELD_INT, offsetof(struct config, keep_uploaded), 0, 0, 1},
    {"redis_ca", CFG_STR(redis_ca)},
    {"redis_cert", CFG_STR(redis_cert)},
    {"redis_key", CFG_STR(redis_key)},
    {"pool", FIELD_OBJECT, offsetof(struct config, pool), .sub = pool_fields},
    {"tiers", FIELD_OWN},
    {"gvisor", FIELD_OBJECT, offsetof(struct config, gvisor), .sub = gvisor_fields},
    {NULL},
};

/* One value of a row into base, or the sentence that says what it must be. */
static int config_value(const struct field *f, void *base, json_t *v, const char *key,
			const char *file, char *err, size_t errlen)
{
	enum field_fault fault = field_from_json(f, base, v);

	if (f->type == FIELD_REAL && !fault &&
	    *(double *)((char *)base + f->offset) > CONFIG_MAX_CPUS)
		fault = FIELD_OUT_OF_RANGE;
	if (fault == FIELD_OK)
		return 0;
	if (f->type == FIELD_STR && fault == FIELD_WRONG_TYPE)
		worker_err(err, errlen, "'%s' in %s must be a string", key, file);
	else if (f->type == FIELD_STR)
		worker_err(err, errlen,
			   "'%s' in %s must be a non-empty string of at most %zu bytes", key, file,
			   f->size - 1);
	else if (f->type == FIELD_REAL)
		worker_err(err, errlen, "'%s' in %s must be a number above 0 and at most %g", key,
			   file, CONFIG_MAX_CPUS);
	else if (f->type == FIELD_OBJECT)
		worker_err(err, errlen, "'%s' in %s must be an object", key, file);
	else
		worker_err(err, errlen, "'%s' in %s must be an integer from %lld to %lld", key,
			   file, f->min, f->max);
	return -EINVAL;
}

/* Copy a JSON string into a fixed buffer; never truncates (a cut path is another path). */
static int config_str(json_t *v, char *dst, size_t dstlen, const char *key, const char *file,
		      char *err, size_t errlen)
{
	const struct field f = {key, FIELD_STR, 0, dstlen};

	return config_value(&f, dst, v, key, file, err, errlen);
}

/* A nested object ("defaults", "maxima", "model"): each key a row of lf's table. */
static int config_object(const struct field *lf, json_t *obj, void *base, const char *file,
			 char *err, size_t errlen)
{
	const struct field *f;
	const char *k;
	json_t *v;
	char key[64], known[128];
	int r;

	if (!json_is_object(obj)) {
		worker_err(err, errlen, "'%s' in %s must be an object", lf->name, file);
		return -EINVAL;
	}
	json_object_foreach(obj, k, v)
	{
		snprintf(key, sizeof(key), "%s.%.40s", lf->name, k);
		if (!(f = field_find(lf->sub, k))) {
			field_names(lf->sub, known, sizeof(known));
			worker_err(err, errlen, "unknown key '%s' in %s; known: %s", key, file,
				   known);
			return -EINVAL;
		}
		if ((r = config_value(f, base, v, key, file, err, errlen)))
			return r;
	}
	return 0;
}

static int config_runtime_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= sizeof(((struct runtime *)0)->name))
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._+-", *s))
			return 0;
	return 1;
}

/* The contract fixes these for every script; a runtime's env must not replace them. */
static const char *const config_reserved_env[] = {"WIDTH",   "HEIGHT",	    "FPS",	   "FRAMES",
						  "PIX_FMT", "SCRATCH",	    "HOME",	   "PATH",
						  "LANG",    "FRAME_START", "FRAME_COUNT", NULL};

static int config_env_ok(const char *s)
{
	const char *eq = strchr(s, '=');
	size_t n;

	if (!eq || eq == s || (!isalpha((unsigned char)*s) && *s != '_'))
		return 0;
	for (const char *p = s; p < eq; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			return 0;
	n = (size_t)(eq - s);
	for (int i = 0; config_reserved_env[i]; i++)
		if (strlen(config_reserved_env[i]) == n && !strncmp(config_reserved_env[i], s, n))
			return 0;
	for (const char *p = eq + 1; *p; p++)
		if (!isprint((unsigned char)*p))
			return 0;
	return 1;
}

/* A package name is passed to a probe as one argv word (and, for lua, inside a quoted
 * string), so it is a module or command name and nothing else: no option, no quote. */
static int config_package_ok(const char *s)
{
	if (!*s || *s == '-' || *s == '.')
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("_.-@/", *s))
			return 0;
	return 1;
}

static int config_ext_ok(const char *s)
{
	return s[0] == '.' && s[1] && !strchr(s + 1, '.') && !strchr(s, '/');
}

/* An array of at most max strings into the rows (each len bytes) of dst, *count of them;
 * a string ok() refuses is named with the sentence's tail bad. */
static int config_strings(json_t *v, char *dst, size_t len, size_t max, int *count,
			  int (*ok)(const char *), const char *bad, const char *key,
			  const char *file, char *err, size_t errlen)
{
	json_t *e;
	size_t i;
	int r;

	if (!json_is_array(v) || json_array_size(v) > max) {
		worker_err(err, errlen, "'%s' in %s must be an array of at most %zu strings", key,
			   file, max);
		return -EINVAL;
	}
	json_array_foreach(v, i, e)
	{
		char *s = dst + i * len;

		if ((r = config_str(e, s, len, key, file, err, errlen)))
			return r;
		if (!ok(s)) {
			worker_err(err, errlen, "'%s' in %s: '%s' %s", key, file, s, bad);
			return -EINVAL;
		}
	}
	*count = (int)json_array_size(v);
	return 0;
}

/* One key of a runtime entry. */
static int config_runtime_key(struct runtime *rt, const char *k, json_t *v, const char *key,
			      const char *file, char *err, size_t errlen)
{
	int r;

	if (!strcmp(k, "path")) {
		if ((r = config_str(v, rt->path, sizeof(rt->path), key, file, err, errlen)))
			return r;
		if (rt->path[0] != '/') {
			worker_err(err, errlen, "'%s' in %s must be an absolute path, not '%s'",
				   key, file, rt->path);
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(k, "extensions"))
		return config_strings(v, rt->ext[0], sizeof(rt->ext[0]), 8, &rt->n_ext,
				      config_ext_ok, "is not an extension like \".py\"", key, file,
				      err, errlen);
	if (!strcmp(k, "env"))
		return config_strings(
		    v, rt->env[0], sizeof(rt->env[0]), JOB_MAX_RUNTIME_ENV, &rt->n_env,
		    config_env_ok, "is not NAME=VALUE with a name outside the contract's variables",
		    key, file, err, errlen);
	if (!strcmp(k, "packages"))
		return config_strings(v, rt->packages[0], sizeof(rt->packages[0]),
				      JOB_MAX_RUNTIME_PKGS, &rt->n_packages, config_package_ok,
				      "is not a module or command name (letters, digits and _.-@/, "
				      "not starting with '-' or '.')",
				      key, file, err, errlen);
	worker_err(err, errlen, "unknown key '%s' in %s; known: path, extensions, env, packages",
		   key, file);
	return -EINVAL;
}

static int config_runtime(json_t *obj, struct runtime *rt, const char *name, const char *file,
			  char *err, size_t errlen)
{
	const char *k;
	json_t *v;
	char key[96];
	int r;

	memset(rt, 0, sizeof(*rt));
	snprintf(rt->name, sizeof(rt->name), "%s", name);
	if (!json_is_object(obj)) {
		worker_err(err, errlen, "'runtimes.%s' in %s must be an object or null", name,
			   file);
		return -EINVAL;
	}
	json_object_foreach(obj, k, v)
	{
		snprintf(key, sizeof(key), "runtimes.%s.%.40s", name, k);
		if ((r = config_runtime_key(rt, k, v, key, file, err, errlen)))
			return r;
	}
	if (!rt->path[0]) {
		worker_err(err, errlen, "'runtimes.%s' in %s needs a 'path'", name, file);
		return -EINVAL;
	}
	return 0;
}

static int config_runtimes(json_t *obj, struct config *cfg, const char *file, char *err,
			   size_t errlen)
{
	const char *name;
	json_t *v;
	int r;

	if (!json_is_object(obj)) {
		worker_err(err, errlen, "'runtimes' in %s must be an object", file);
		return -EINVAL;
	}
	json_object_foreach(obj, name, v)
	{
		struct runtime *slot = (struct runtime *)config_find_runtime(cfg, name);

		if (!config_runtime_name_ok(name)) {
			worker_err(
			    err, errlen,
			    "runtime name '%.40s' in %s must be 1 to 31 letters, digits or ._+-",
			    name, file);
			return -EINVAL;
		}
		if (json_is_null(v)) {
			if (slot) {
				int idx = (int)(slot - cfg->runtimes);
				memmove(slot, slot + 1,
					(size_t)(cfg->n_runtimes - idx - 1) * sizeof(*slot));
				cfg->n_runtimes--;
			}
			continue;
		}
		if (!slot) {
			if (cfg->n_runtimes >= JOB_MAX_RUNTIMES) {
				worker_err(err, errlen, "'runtimes' in %s has more than %d entries",
					   file, JOB_MAX_RUNTIMES);
				return -EINVAL;
			}
			slot = &cfg->runtimes[cfg->n_runtimes++];
		}
		r = config_runtime(v, slot, name, file, err, errlen);
		if (r)
			return r;
	}
	return 0;
}

/* After the overlay every default must be within its maximum. */
static int config_check_limits(const struct config *cfg, const char *file, char *err, size_t errlen)
{
	for (const struct field *f = limit_fields; f->name; f++) {
		double def = f->type == FIELD_REAL ? cfg->defaults.cpus
						   : (double)field_int(f, &cfg->defaults),
		       max = f->type == FIELD_REAL ? cfg->maxima.cpus
						   : (double)field_int(f, &cfg->maxima);

		if (def > max) {
			worker_err(err, errlen,
				   "'defaults.%s' (%g) in %s is above 'maxima.%s' (%g); a job "
				   "asking for nothing would be refused",
				   f->name, def, file, f->name, max);
			return -EINVAL;
		}
	}
	return 0;
}

/* A variable name a shell could set: [A-Za-z_][A-Za-z0-9_]*. */
static int config_env_name_ok(const char *s)
{
	if (!*s || isdigit((unsigned char)*s))
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return 0;
	return 1;
}

/* The model block's rules, after the file and again after the environment. The URL is
 * named in sentences and logs, so it must carry no credentials: those go in the key. */
static int config_check_model(const struct model_settings *m, const char *from, char *err,
			      size_t errlen)
{
	const char *rest = m->url;

	if (m->api[0] && strcmp(m->api, "openai") && strcmp(m->api, "anthropic")) {
		worker_err(err, errlen,
			   "model api '%.32s' (%s) is not known: use openai or anthropic", m->api,
			   from);
		return -EINVAL;
	}
	if (m->url[0]) {
		if (!strncmp(rest, "http://", 7))
			rest += 7;
		else if (!strncmp(rest, "https://", 8))
			rest += 8;
		else
			rest = NULL;
		if (!rest || !*rest) {
			worker_err(err, errlen,
				   "model url '%.64s' (%s) must start with http:// or https://",
				   m->url, from);
			return -EINVAL;
		}
		/* The path is appended to the URL: a query or fragment would swallow it, and
		 * a query may carry a credential that sentences and logs would show. */
		if (rest[strcspn(rest, "?# \t\r\n")]) {
			worker_err(
			    err, errlen,
			    "model url (%s) must be a plain base URL without a query, fragment, "
			    "space or line break (e.g. https://host/v1); put the key in "
			    "REELBOX_MODEL_KEY",
			    from);
			return -EINVAL;
		}
		/* A user:password@ part would be printed with every model sentence. */
		if (strcspn(rest, "/?#") > strcspn(rest, "@")) {
			worker_err(err, errlen,
				   "model url (%s) must not carry credentials: put the key in "
				   "REELBOX_MODEL_KEY (or key_env/key_file)",
				   from);
			return -EINVAL;
		}
	}
	if (m->key_env[0] && !config_env_name_ok(m->key_env)) {
		worker_err(err, errlen, "model key_env '%.64s' (%s) is not a variable name",
			   m->key_env, from);
		return -EINVAL;
	}
	if (m->key_file[0] && m->key_file[0] != '/') {
		worker_err(err, errlen, "model key_file (%s) must be an absolute path", from);
		return -EINVAL;
	}
	return 0;
}

/* A tier rule for a runtime the config does not have would never hold: a typo there
 * would leave that runtime's jobs in the default tier. */
static int config_check_tier_rules(const struct config *cfg, const char *file, char *err,
				   size_t errlen)
{
	for (int i = 0; i < cfg->tiers.n_rules; i++)
		if (!config_find_runtime(cfg, cfg->tiers.rules[i].runtime)) {
			worker_err(err, errlen,
				   "'tiers.runtimes.%s' in %s names a runtime the config does not "
				   "have",
				   cfg->tiers.rules[i].runtime, file);
			return -EINVAL;
		}
	return 0;
}

/* runsc is run by path, so an absolute one; a platform sandbox.h knows. */
static int config_check_gvisor(const struct gvisor_settings *g, const char *file, char *err,
			       size_t errlen)
{
	static const char *const platforms[] = {"auto", "ptrace", "kvm", "systrap", NULL};
	int known = !g->platform[0];

	if (g->runsc[0] && g->runsc[0] != '/') {
		worker_err(err, errlen, "'gvisor.runsc' in %s must be an absolute path, not '%s'",
			   file, g->runsc);
		return -EINVAL;
	}
	for (int i = 0; platforms[i]; i++)
		known |= !strcmp(g->platform, platforms[i]);
	if (!known) {
		worker_err(err, errlen,
			   "'gvisor.platform' in %s is '%s': use auto, ptrace, kvm or systrap",
			   file, g->platform);
		return -EINVAL;
	}
	return 0;
}

/* One key of the file: its row read with its sentence, plus the rules of a few. */
static int config_key(struct config *cfg, const struct field *f, json_t *v, const char *file,
		      char *err, size_t errlen)
{
	int r;

	if (f->type == FIELD_OWN && !strcmp(f->name, "tiers"))
		return tier_config_read(&cfg->tiers, v, file, err, errlen);
	if (f->type == FIELD_OWN)
		return config_runtimes(v, cfg, file, err, errlen);
	if (f->offset == offsetof(struct config, keep_uploaded) && json_is_boolean(v)) {
		cfg->keep_uploaded = json_is_true(v);
		return 0;
	}
	if (f->type == FIELD_OBJECT)
		return config_object(f, v, (char *)cfg + f->offset, file, err, errlen);
	r = config_value(f, cfg, v, f->name, file, err, errlen);
	/* The state dir is swept at start: a relative one would sweep the cwd. */
	if (!r && f->offset == offsetof(struct config, state_dir) && cfg->state_dir[0] != '/') {
		worker_err(err, errlen, "'state_dir' in %s must be an absolute path", file);
		r = -EINVAL;
	}
	return r;
}

static int config_apply(json_t *root, struct config *cfg, const char *file, char *err,
			size_t errlen)
{
	const struct field *f;
	const char *k;
	json_t *v;
	char known[256];
	int r;

	if (!json_is_object(root)) {
		worker_err(err, errlen, "%s must hold one JSON object", file);
		return -EINVAL;
	}
	json_object_foreach(root, k, v)
	{
		if (!(f = field_find(config_fields, k))) {
			field_names(config_fields, known, sizeof(known));
			worker_err(err, errlen, "unknown key '%.64s' in %s; known: %s", k, file,
				   known);
			return -EINVAL;
		}
		if ((r = config_key(cfg, f, v, file, err, errlen)))
			return r;
	}
	if ((r = config_check_limits(cfg, file, err, errlen)) ||
	    (r = config_check_tier_rules(cfg, file, err, errlen)) ||
	    (r = config_check_gvisor(&cfg->gvisor, file, err, errlen)))
		return r;
	return config_check_model(&cfg->model, file, err, errlen);
}

/* Parse into a copy and commit only when every key is good, so a bad file never leaves
 * a half-applied configuration behind. Duplicate keys are refused: which of two values
 * wins would otherwise depend on the parser. */
int config_load_file(struct config *cfg, const char *path, char *err, size_t errlen)
{
	struct config *tmp;
	json_error_t jerr;
	json_t *root;
	FILE *f;
	int r;

	f = fopen(path, "re");
	if (!f) {
		r = -errno;
		worker_err(err, errlen, "cannot read config file %s: %s", path, strerror(-r));
		return r;
	}
	root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
	fclose(f);
	if (!root) {
		worker_err(err, errlen, "config file %s is not valid JSON: line %d, column %d: %s",
			   path, jerr.line, jerr.column, jerr.text);
		return -EINVAL;
	}
	tmp = malloc(sizeof(*tmp));
	if (!tmp) {
		json_decref(root);
		worker_err(err, errlen, "out of memory reading %s", path);
		return -ENOMEM;
	}
	memcpy(tmp, cfg, sizeof(*tmp));
	r = config_apply(root, tmp, path, err, errlen);
	if (r == 0)
		memcpy(cfg, tmp, sizeof(*cfg));
	free(tmp);
	json_decref(root);
	return r;
}

/* ---- environment ---- */

static int config_env_num(const char *name, long long min, long long max, long long *out, char *err,
			  size_t errlen)
{
	const char *s = getenv(name);
	char *end;
	long long x;

	if (!s || !*s)
		return 1;
	errno = 0;
	x = strtoll(s, &end, 10);
	if (!isdigit((unsigned char)*s) || *end || errno || x < min || x > max) {
		worker_err(err, errlen, "%s='%.64s' must be an integer from %lld to %lld", name, s,
			   min, max);
		return -EINVAL;
	}
	*out = x;
	return 0;
}

static int config_env_str(const char *name, char *dst, size_t dstlen, char *err, size_t errlen)
{
	const char *s = getenv(name);

	if (!s || !*s)
		return 1;
	if (strlen(s) >= dstlen) {
		worker_err(err, errlen, "%s is longer than %zu bytes", name, dstlen - 1);
		return -EINVAL;
	}
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

/* REELBOX_MODEL_URL, _NAME and _API over the file's model block, checked as the file's. */
static int config_env_model(struct model_settings *m, const struct model_settings *from, char *err,
			    size_t errlen)
{
	int r;

	*m = *from;
	if ((r = config_env_str("REELBOX_MODEL_URL", m->url, sizeof(m->url), err, errlen)) < 0 ||
	    (r = config_env_str("REELBOX_MODEL_NAME", m->name, sizeof(m->name), err, errlen)) < 0 ||
	    (r = config_env_str("REELBOX_MODEL_API", m->api, sizeof(m->api), err, errlen)) < 0)
		return r;
	return config_check_model(m, "from the environment", err, errlen);
}

/* REELBOX_REDIS_CA, _CERT and _KEY over the file's redis_ca, redis_cert, redis_key: into
 * tls (3 paths) first, so a failure leaves cfg as it was. */
static int config_env_tls(const struct config *cfg, char tls[3][PATH_MAX], char *err, size_t errlen)
{
	static const char *const names[3] = {"REELBOX_REDIS_CA", "REELBOX_REDIS_CERT",
					     "REELBOX_REDIS_KEY"};
	const char *from[3] = {cfg->redis_ca, cfg->redis_cert, cfg->redis_key};

	for (int i = 0; i < 3; i++) {
		int r = config_env_str(names[i], tls[i], PATH_MAX, err, errlen);
		if (r < 0)
			return r;
		if (r == 1)
			snprintf(tls[i], PATH_MAX, "%s", from[i]);
	}
	return 0;
}

/* The environment layer, between the config file and the flags. Set and non-empty:
 *   REELBOX_REDIS_URL    redis_url     (also the contract's fallback for --redis); a
 *                        value with a password is wiped from the environment once read
 *   REELBOX_REDIS_CA, REELBOX_REDIS_CERT, REELBOX_REDIS_KEY   redis_ca, _cert, _key
 *   REELBOX_CONCURRENCY  concurrency   1..1024
 *   REELBOX_OUTPUT_DIR   output_dir
 *   REELBOX_LEASE        lease, seconds
 *   REELBOX_STATE_DIR    state_dir, absolute
 *   REELBOX_MODEL_URL, REELBOX_MODEL_NAME, REELBOX_MODEL_API   model.url, .name, .api
 * (the key, REELBOX_MODEL_KEY or model.key_env, is modelcfg.c's, read once at start).
 * An empty variable counts as unset. On error cfg is unchanged. */
int config_load_env(struct config *cfg, char *err, size_t errlen)
{
	char url[sizeof(cfg->redis_url)], out[sizeof(cfg->output_dir)];
	char state[sizeof(cfg->state_dir)], tls[3][PATH_MAX];
	const struct field *conc_f = field_find(config_fields, "concurrency");
	const struct field *lease_f = field_find(config_fields, "lease");
	struct model_settings model;
	long long conc, lease;
	int r_url, r_out, r_state, r_conc, r_lease, r;

	r_url = config_env_str("REELBOX_REDIS_URL", url, sizeof(url), err, errlen);
	if (r_url < 0)
		return r_url;
	r_out = config_env_str("REELBOX_OUTPUT_DIR", out, sizeof(out), err, errlen);
	if (r_out < 0)
		return r_out;
	r_state = config_env_str("REELBOX_STATE_DIR", state, sizeof(state), err, errlen);
	if (r_state < 0)
		return r_state;
	if (r_state == 0 && state[0] != '/') {
		worker_err(err, errlen, "REELBOX_STATE_DIR='%.64s' must be an absolute path",
			   state);
		return -EINVAL;
	}
	/* The same ranges as the file's keys. */
	r_conc =
	    config_env_num("REELBOX_CONCURRENCY", conc_f->min, conc_f->max, &conc, err, errlen);
	if (r_conc < 0)
		return r_conc;
	r_lease = config_env_num("REELBOX_LEASE", lease_f->min, lease_f->max, &lease, err, errlen);
	if (r_lease < 0)
		return r_lease;
	if ((r = config_env_model(&model, &cfg->model, err, errlen)) < 0 ||
	    (r = config_env_tls(cfg, tls, err, errlen)) < 0)
		return r;

	cfg->model = model;
	memcpy(cfg->redis_ca, tls[0], PATH_MAX);
	memcpy(cfg->redis_cert, tls[1], PATH_MAX);
	memcpy(cfg->redis_key, tls[2], PATH_MAX);
	/* The password now lives in cfg only: /proc/<pid>/environ must not show it. */
	if (r_url == 0 && queue_url_has_password(url))
		secret_env_wipe("REELBOX_REDIS_URL");
	if (r_url == 0)
		memcpy(cfg->redis_url, url, sizeof(url));
	if (r_out == 0)
		memcpy(cfg->output_dir, out, sizeof(out));
	if (r_state == 0)
		memcpy(cfg->state_dir, state, sizeof(state));
	if (r_conc == 0)
		cfg->concurrency = (int)conc;
	if (r_lease == 0)
		cfg->lease_s = (uint32_t)lease;
	return 0;
}
