/* fields.h - the job's fields and its limits as one table each, and what reads and writes
 * them.
 *
 * A row says a field's name, its C type, where it lives in its struct and the range a
 * value may take; the job's JSON parser and writer (job.c), the operator's config file
 * (config.c: "defaults" and "maxima" are limit tables, its own keys a table of its own)
 * and the CLI's job options (cli_common.c) all walk these rows instead of spelling the
 * fields again. What stays with each reader is its sentences (a document, a config file
 * and a flag name a bad value differently) and the rules between fields (job_resolve).
 *
 * The ranges are the document's: what job_from_json and the config file accept. A value
 * outside the range is the struct's "unset" (0 frames, -1 crf, 0 limits, "" strings), so
 * the writer leaves exactly those out and job_from_json(job_to_json(j)) gives j back.
 */
#ifndef REELBOX_FIELDS_H
#define REELBOX_FIELDS_H

#include <jansson.h>
#include <stddef.h>

enum field_type {
	FIELD_STR,    /* char[size]: 1..size-1 bytes, no NUL inside */
	FIELD_INT,    /* int */
	FIELD_I64,    /* int64_t */
	FIELD_U32,    /* uint32_t */
	FIELD_SIZE,   /* size_t */
	FIELD_REAL,   /* double above min (and at most max, when max > 0) */
	FIELD_OBJECT, /* a struct of its own, described by sub */
	FIELD_OWN,    /* read and written by the table's owner (a script, a size) */
};

struct field {
	const char *name; /* the key in a document; a CLI flag is the name with '-' for '_' */
	enum field_type type;
	size_t offset;		 /* in the struct the table describes */
	size_t size;		 /* FIELD_STR: the buffer's size */
	long long min, max;	 /* whole numbers: inclusive; FIELD_REAL: see above */
	const struct field *sub; /* FIELD_OBJECT: its table */
	/* The CLI job option's sentence after "--flag 'value' ", when a value does not
	 * parse: "is not a positive number of MB". NULL: no job option sets it. */
	const char *cli;
	long long cli_min; /* a flag's floor when it is above min (--fps 0 is no rate) */
};

/* What went wrong reading one value. */
enum field_fault {
	FIELD_OK = 0,
	FIELD_WRONG_TYPE,   /* not a string / integer / number / object */
	FIELD_FRACTION,	    /* a whole number was asked for */
	FIELD_OUT_OF_RANGE, /* an integer outside [min, max], a real not above min */
	FIELD_BAD_LENGTH,   /* an empty, too long or NUL-holding string */
};

/* The job document's fields (struct job), in the order documents list them. */
extern const struct field job_fields[];
/* A job's limits (struct job_limits): the job's "limits", the config's "defaults" and
 * "maxima", the CLI's --timeout --memory --pids --scratch --cpus. */
extern const struct field limit_fields[];

/* The row named name, or NULL. Tables end with a row whose name is NULL. */
const struct field *field_find(const struct field *table, const char *name);

/* "a, b, c": the names of a table, for "known: ..." in a sentence. */
void field_names(const struct field *table, char *buf, size_t len);

/* Read v into the field of base, whole or not at all. */
enum field_fault field_from_json(const struct field *f, void *base, json_t *v);

/* The value of an integer field (FIELD_INT .. FIELD_SIZE) of base. */
long long field_int(const struct field *f, const void *base);

/* Set every set field of base on obj (a nested table as an object, left out when
 * empty); a FIELD_OWN row calls own, which may be NULL. 0, or -1 when a value could not
 * be made (a string that is not UTF-8, memory). */
int field_to_json(const struct field *table, const void *base, json_t *obj,
		  int (*own)(const struct field *f, const void *base, json_t *obj, void *arg),
		  void *arg);

/* Read a CLI argument into the field of base: the whole text a number in the flag's
 * range (see cli_min), or a string that fits. 0, or -EINVAL. */
int field_from_text(const struct field *f, void *base, const char *text);

#endif
