/* fields.c - the job's and its limits' field tables, and the walks over them (fields.h).
 *
 * A leaf: it knows the structs' layout and the JSON and text forms of one value, never a
 * sentence or a rule; job.c, config.c and cli_common.c say what a fault means to their
 * reader.
 */
#define _GNU_SOURCE
#include "fields.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"

#define JOB_STR(f)    FIELD_STR, offsetof(struct job, f), sizeof(((struct job *)0)->f)
#define JOB_NUM(t, f) t, offsetof(struct job, f), 0
#define LIM(f)	      FIELD_U32, offsetof(struct job_limits, f), 0, 1, UINT32_MAX

/* The document's order. width, height and fps take 0 so that job_resolve, not the
 * parser, names their real range; frames and crf start where "unset" ends. */
const struct field job_fields[] = {
    {"id", JOB_STR(id)},
    {"script", FIELD_OWN},
    {"prompt", FIELD_OWN},
    {"script_name", JOB_STR(script_name)},
    {"runtime", JOB_STR(runtime), .cli = "is too long"},
    {"tier", JOB_STR(tier), .cli = "is not a tier: use native or gvisor"},
    {"width", JOB_NUM(FIELD_INT, width), 0, INT_MAX},
    {"height", JOB_NUM(FIELD_INT, height), 0, INT_MAX},
    {"size", FIELD_OWN},
    {"fps", FIELD_OWN},
    {"frames", JOB_NUM(FIELD_I64, frames), 1, INT64_MAX, .cli = "is not a positive whole number"},
    {"poster_frame", JOB_NUM(FIELD_I64, poster_frame), 0, INT64_MAX,
     .cli = "is not a frame number (0 or more)"},
    {"contact_sheet", JOB_STR(contact_sheet), .cli = "is not COLSxROWS (e.g. 4x3)"},
    {"audio", JOB_STR(audio), .cli = "is too long (255 bytes at most)"},
    {"pix_fmt", JOB_STR(pix_fmt), .cli = "is not known"},
    {"format", JOB_STR(format)},
    {"codec", JOB_STR(codec), .cli = "is not known"},
    /* The range depends on the format (and GIF ignores crf): job_resolve says. */
    {"crf", JOB_NUM(FIELD_INT, crf), 0, INT_MAX, .cli = "is not a whole number of 0 or more"},
    {"preset", JOB_STR(preset), .cli = "is not known"},
    {"limits", FIELD_OBJECT, offsetof(struct job, limits), .sub = limit_fields},
    {"retries", JOB_NUM(FIELD_INT, retries), 0, INT_MAX},
    {"upload", FIELD_OWN},
    {"webhook", FIELD_OWN},
    {"chunks", JOB_NUM(FIELD_INT, chunks), 2, 64, .cli = "is not a whole number of 2 to 64"},
    {"chunk", FIELD_OWN},
    {"join", FIELD_OWN},
    {NULL},
};

const struct field limit_fields[] = {
    {"timeout", LIM(timeout_s), .cli = "is not a positive number of seconds"},
    {"memory", LIM(memory_mb), .cli = "is not a positive number of MB"},
    {"pids", LIM(pids), .cli = "is not a positive whole number"},
    {"scratch", LIM(scratch_mb), .cli = "is not a positive number of MB"},
    {"cpus", FIELD_REAL, offsetof(struct job_limits, cpus), 0, 0, 0,
     .cli = "is not a positive number"},
    {NULL},
};

const struct field *field_find(const struct field *table, const char *name)
{
	for (; table->name; table++)
		if (!strcmp(table->name, name))
			return table;
	return NULL;
}

void field_names(const struct field *table, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (; table->name && used < len; table++)
		used +=
		    (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "", table->name);
}

static void *at(const struct field *f, const void *base)
{
	return (char *)base + f->offset;
}

long long field_int(const struct field *f, const void *base)
{
	switch (f->type) {
	case FIELD_INT:
		return *(const int *)at(f, base);
	case FIELD_I64:
		return *(const int64_t *)at(f, base);
	case FIELD_U32:
		return *(const uint32_t *)at(f, base);
	case FIELD_SIZE:
		return (long long)*(const size_t *)at(f, base);
	default:
		return 0;
	}
}

static void set_int(const struct field *f, void *base, long long v)
{
	switch (f->type) {
	case FIELD_INT:
		*(int *)at(f, base) = (int)v;
		break;
	case FIELD_I64:
		*(int64_t *)at(f, base) = v;
		break;
	case FIELD_U32:
		*(uint32_t *)at(f, base) = (uint32_t)v;
		break;
	case FIELD_SIZE:
		*(size_t *)at(f, base) = (size_t)v;
		break;
	default:
		break;
	}
}

static int real_ok(const struct field *f, double x)
{
	return isfinite(x) && x > (double)f->min && (f->max <= 0 || x <= (double)f->max);
}

enum field_fault field_from_json(const struct field *f, void *base, json_t *v)
{
	size_t n;

	switch (f->type) {
	case FIELD_STR:
		if (!json_is_string(v))
			return FIELD_WRONG_TYPE;
		/* Never truncated (a cut path is another path), never with a NUL inside. */
		n = json_string_length(v);
		if (n == 0 || n >= f->size || strlen(json_string_value(v)) != n)
			return FIELD_BAD_LENGTH;
		memcpy(at(f, base), json_string_value(v), n + 1);
		return FIELD_OK;
	case FIELD_REAL:
		if (!json_is_number(v))
			return FIELD_WRONG_TYPE;
		if (!real_ok(f, json_number_value(v)))
			return FIELD_OUT_OF_RANGE;
		*(double *)at(f, base) = json_number_value(v);
		return FIELD_OK;
	case FIELD_OBJECT:
		return json_is_object(v) ? FIELD_OK : FIELD_WRONG_TYPE;
	case FIELD_OWN:
		return FIELD_WRONG_TYPE;
	default:
		if (!json_is_integer(v))
			return json_is_real(v) ? FIELD_FRACTION : FIELD_WRONG_TYPE;
		if (json_integer_value(v) < f->min || json_integer_value(v) > f->max)
			return FIELD_OUT_OF_RANGE;
		set_int(f, base, json_integer_value(v));
		return FIELD_OK;
	}
}

static int set_new(json_t *obj, const char *key, json_t *v)
{
	return v ? json_object_set_new(obj, key, v) : -1;
}

/* One field onto obj when it is set: a value the reader would take back. */
static int field_put(const struct field *f, const void *base, json_t *obj,
		     int (*own)(const struct field *, const void *, json_t *, void *), void *arg)
{
	json_t *sub;
	int bad;

	switch (f->type) {
	case FIELD_STR:
		return *(const char *)at(f, base) ? set_new(obj, f->name, json_string(at(f, base)))
						  : 0;
	case FIELD_REAL:
		return *(const double *)at(f, base) > (double)f->min
			   ? set_new(obj, f->name, json_real(*(const double *)at(f, base)))
			   : 0;
	case FIELD_OBJECT:
		if (!(sub = json_object()))
			return -1;
		bad = field_to_json(f->sub, at(f, base), sub, own, arg);
		if (!bad && json_object_size(sub))
			bad = json_object_set(obj, f->name, sub);
		json_decref(sub);
		return bad;
	case FIELD_OWN:
		return own ? own(f, base, obj, arg) : 0;
	default:
		return field_int(f, base) >= f->min
			   ? set_new(obj, f->name, json_integer(field_int(f, base)))
			   : 0;
	}
}

int field_to_json(const struct field *table, const void *base, json_t *obj,
		  int (*own)(const struct field *f, const void *base, json_t *obj, void *arg),
		  void *arg)
{
	int bad = 0;

	for (; table->name; table++)
		bad |= field_put(table, base, obj, own, arg) ? -1 : 0;
	return bad;
}

int field_from_text(const struct field *f, void *base, const char *text)
{
	long long lo = f->min > f->cli_min ? f->min : f->cli_min, v;
	char *end;
	double d;

	errno = 0;
	switch (f->type) {
	case FIELD_STR:
		if (strlen(text) >= f->size)
			return -EINVAL;
		memcpy(at(f, base), text, strlen(text) + 1);
		return 0;
	case FIELD_REAL:
		d = strtod(text, &end);
		if (errno || end == text || *end || !real_ok(f, d))
			return -EINVAL;
		*(double *)at(f, base) = d;
		return 0;
	case FIELD_OBJECT:
	case FIELD_OWN:
		return -EINVAL;
	default:
		v = strtoll(text, &end, 10);
		if (errno || end == text || *end || v < lo || v > f->max)
			return -EINVAL;
		set_int(f, base, v);
		return 0;
	}
}
