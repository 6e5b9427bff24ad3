/* modelcfg.h - the operator's model settings and the key, made ready for model.c.
 *
 * The key that pays for a prompt job's answers is read once, at start, from the variable
 * the config names (REELBOX_MODEL_KEY by default) or else from a key file, and from then
 * on exists only in this process's memory: the variable's value is wiped from the
 * environment block (so /proc/<pid>/environ no longer shows it) and removed, and the copy
 * held here is wiped when it is freed. Nothing here prints the key.
 */
#ifndef REELBOX_MODELCFG_H
#define REELBOX_MODELCFG_H

#include <stddef.h>

#include "job.h"
#include "model.h"

#define MODELCFG_KEY_MAX 4096

struct modelcfg {
	struct model_config mc; /* url and name point into the config: it must outlive this */
	char *key;		/* NULL when the endpoint takes no key */
	char key_env[64];	/* the variable named in sentences */
	int max_attempts;
};

/* Make the model ready from cfg->model and the key. 0 when a model is configured, 1 when
 * none is (no url: prompt jobs are refused with a sentence), or -EINVAL / -EACCES /
 * -ENOMEM with one sentence in err (a key file that others may read, a key with bytes a
 * header cannot carry). */
int modelcfg_load(struct modelcfg *m, const struct config *cfg, char *err, size_t errlen);

/* Wipe the key and forget it. */
void modelcfg_free(struct modelcfg *m);

/* The sentence for a prompt job where no model is configured. */
extern const char modelcfg_none_sentence[];

#endif
