/* modelcfg.c - the model settings and the key, read once at start (see modelcfg.h). */
#define _GNU_SOURCE
#include "modelcfg.h"
#include "errf.h"
#include "secretenv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_ENV_DEFAULT "REELBOX_MODEL_KEY"

const char modelcfg_none_sentence[] =
    "this worker has no model for prompt jobs: set REELBOX_MODEL_URL, REELBOX_MODEL_NAME and "
    "REELBOX_MODEL_KEY (or the config's model block)";

/* The key without the line end an editor leaves in a file, or a trailing space. */
static void trim(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
}

/* The key from its variable: copied, then wiped in place and removed. The value sits in
 * the environment block the kernel shows as /proc/<pid>/environ, so the bytes are
 * overwritten, not only unlinked from environ. 1 when the variable is unset or empty. */
static int key_from_env(struct modelcfg *m, char *err, size_t errlen)
{
	char *v = getenv(m->key_env);
	size_t n;

	if (!v || !*v)
		return 1;
	n = strlen(v);
	if (n > MODELCFG_KEY_MAX) {
		worker_err(err, errlen, "%s is longer than %d bytes", m->key_env, MODELCFG_KEY_MAX);
		return -EINVAL;
	}
	m->key = strdup(v);
	secret_env_wipe(m->key_env);
	if (!m->key) {
		worker_err(err, errlen, "out of memory reading %s", m->key_env);
		return -ENOMEM;
	}
	trim(m->key);
	return 0;
}

/* The key from a file only the worker's user may read: a key file others can read is
 * refused (as ssh refuses such a private key), since anyone on the host could use it. */
static int key_from_file(struct modelcfg *m, const char *path, char *err, size_t errlen)
{
	char buf[MODELCFG_KEY_MAX + 2];
	struct stat st;
	ssize_t n;
	int fd, r;

	/* O_NONBLOCK: a FIFO named as the key file would otherwise hang the start for good
	 * (it is refused below, as anything that is not a regular file is). */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 && errno == ELOOP) {
		/* A symlink planted in its place would send another file as the key. */
		worker_err(err, errlen,
			   "the model key file %s is a symbolic link: point key_file at the file "
			   "itself",
			   path);
		return -EACCES;
	}
	if (fd < 0 || fstat(fd, &st) < 0) {
		r = -errno;
		worker_err(err, errlen, "cannot read the model key file %s: %s", path,
			   strerror(-r));
		if (fd >= 0)
			close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode) || (st.st_mode & 077)) {
		close(fd);
		worker_err(err, errlen,
			   "the model key file %s must be a regular file only its owner can read "
			   "(mode %03o): chmod 600 it",
			   path, (unsigned)(st.st_mode & 0777));
		return -EACCES;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0 || (size_t)n > MODELCFG_KEY_MAX) {
		explicit_bzero(buf, sizeof(buf));
		worker_err(err, errlen, "the model key file %s is unreadable or above %d bytes",
			   path, MODELCFG_KEY_MAX);
		return -EINVAL;
	}
	buf[n] = '\0';
	trim(buf);
	if (!buf[0]) {
		worker_err(err, errlen, "the model key file %s is empty: write the key into it",
			   path);
		return -EINVAL;
	}
	m->key = strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	if (!m->key) {
		worker_err(err, errlen, "out of memory reading %s", path);
		return -ENOMEM;
	}
	return 0;
}

/* Every byte of a key goes into an HTTP header: visible ASCII only, so a line break can
 * never start a header of its own. */
static int key_ok(const char *k)
{
	for (; *k; k++)
		if ((unsigned char)*k <= 0x20 || (unsigned char)*k >= 0x7f)
			return 0;
	return 1;
}

int modelcfg_load(struct modelcfg *m, const struct config *cfg, char *err, size_t errlen)
{
	const struct model_settings *s = &cfg->model;
	int r, from_file = 0;

	memset(m, 0, sizeof(*m));
	snprintf(m->key_env, sizeof(m->key_env), "%s",
		 s->key_env[0] ? s->key_env : KEY_ENV_DEFAULT);
	/* The key is taken out of the environment even when no model is set, so it can
	 * reach no process this one starts. */
	r = key_from_env(m, err, errlen);
	if (r < 0)
		return r;
	if (!s->url[0]) {
		modelcfg_free(m);
		return 1;
	}
	if (!s->name[0]) {
		modelcfg_free(m);
		worker_err(err, errlen,
			   "a model url is set but no model name: set REELBOX_MODEL_NAME or the "
			   "config's model.name");
		return -EINVAL;
	}
	if (r == 1 && s->key_file[0]) {
		if ((r = key_from_file(m, s->key_file, err, errlen)) < 0)
			return r;
		from_file = 1;
	}
	if (m->key && (!*m->key || !key_ok(m->key))) {
		modelcfg_free(m);
		worker_err(err, errlen,
			   "the model key holds a space or a control character; check %s",
			   from_file ? "the key file" : m->key_env);
		return -EINVAL;
	}
	m->max_attempts = s->max_attempts > 0 ? s->max_attempts : 3;
	m->mc = (struct model_config){
	    .api = !strcmp(s->api, "anthropic") ? MODEL_API_ANTHROPIC : MODEL_API_OPENAI,
	    .url = s->url,
	    .name = s->name,
	    .key = m->key,
	    .key_env = m->key_env,
	    .timeout_ms = (s->timeout_s ? s->timeout_s : 120) * 1000u,
	};
	return 0;
}

void modelcfg_free(struct modelcfg *m)
{
	if (m->key) {
		explicit_bzero(m->key, strlen(m->key));
		free(m->key);
	}
	m->key = NULL;
	m->mc.key = NULL;
}
