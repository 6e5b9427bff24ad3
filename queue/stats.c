/* stats.c - the queue at a glance: `reelbox top`, and later the dashboard and /metrics.
 *
 * One Lua script reads everything at once, so every number in an answer is from the
 * same instant on Redis's clock: jobs per state over the recent-jobs index (the same
 * bounded walk as the list script, at most QUEUE_RECENT_MAX hashes), the delayed set,
 * the stream, what finished in the last minute, and the worker registry P:workers
 * (docs/queue.md, "Watching the queue"), pruned of entries not refreshed for an hour.
 *
 * The script is sent with EVAL through queue_command(): its answer is a flat array
 * that queue_command() turns into one item a line, so the script makes sure no item
 * it returns can hold a line break. Worker entries are whatever anyone with Redis
 * access wrote: the script returns only names and values within their caps, with
 * every byte outside printable ASCII replaced (a value is JSON, so its text needs no
 * more), and this file copies only the known fields, each bounded, from a value that
 * parses as a JSON object; anything else is counted as malformed and left out.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "queue_internal.h"

#define STATS_WORKERS_MAX  256	   /* workers one answer lists */
#define STATS_WORKER_LOOK  1024	   /* registry fields one call looks at */
#define STATS_WORKER_VALUE 1024	   /* bytes of a worker's value; a longer one is skipped */
#define STATS_WORKER_NAME  200	   /* bytes of a worker's name; a longer one is skipped */
#define STATS_WORKER_STR   128	   /* bytes kept of each string field */
#define STATS_ALIVE_MS	   15000   /* a worker seen this recently is alive */
#define STATS_PRUNE_MS	   3600000 /* a worker not seen for this long is removed */
#define STATS_MINUTE_MS	   60000
#define STATS_HEAD	   16 /* numbers in front of the worker pairs, see stats_lua */

/* KEYS: the recent index, the delayed set, the jobs stream, the worker registry.
 * ARGV: prefix, most ids to look at, prune age (ms), value cap, name cap, most workers
 * listed, most registry fields looked at.
 * Answers {now, scanned, queued, running, succeeded, failed, cancelled, dead, delayed,
 * stream length, oldest queued job's created (-1: none), finished in the last minute
 * succeeded, failed, dead, cancelled, frames of those succeeded, malformed workers,
 * then name, value, name, value ...} sorted by name. Times outside 0..1e15 ms, which
 * only a hand-written hash holds, are ignored (a Lua number too big for an integer
 * reply would not convert). */
static const char stats_lua[] =
    "local idx, delayed, jobs, reg = KEYS[1], KEYS[2], KEYS[3], KEYS[4]\n"
    "local prefix, scan, prune = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local vmax, nmax, wmax, look = tonumber(ARGV[4]), tonumber(ARGV[5]),\n"
    "                               tonumber(ARGV[6]), tonumber(ARGV[7])\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local function ms(s)\n"
    "  local n = tonumber(s)\n"
    "  if n and n >= 0 and n < 1e15 then return math.floor(n) end\n"
    "  return nil\n"
    "end\n"
    "local function count(r) if type(r) == 'number' then return r end return 0 end\n"
    "local st = {queued = 0, running = 0, succeeded = 0, failed = 0, cancelled = 0, dead = 0}\n"
    "local fin = {succeeded = 0, failed = 0, dead = 0, cancelled = 0}\n"
    "local frames, oldest, seen, start = 0, -1, 0, 0\n"
    "while seen < scan do\n"
    "  local ids = redis.pcall('ZREVRANGE', idx, start, start + 99)\n"
    "  if ids.err or #ids == 0 then break end\n"
    "  start = start + #ids\n"
    "  for _, id in ipairs(ids) do\n"
    "    seen = seen + 1\n"
    "    if #id <= 63 and not string.find(id, '[^A-Za-z0-9_%-]') then\n"
    "      local v = redis.pcall('HMGET', prefix .. ':job:' .. id, 'state', 'created',\n"
    "                            'finished', 'frames')\n"
    "      if not v.err and v[1] and st[v[1]] then\n"
    "        st[v[1]] = st[v[1]] + 1\n"
    "        local c, f = ms(v[2]), ms(v[3])\n"
    "        if v[1] == 'queued' and c and (oldest < 0 or c < oldest) then oldest = c end\n"
    "        if f and fin[v[1]] and f > now - 60000 then\n"
    "          fin[v[1]] = fin[v[1]] + 1\n"
    "          local n = tonumber(v[4])\n"
    "          if v[1] == 'succeeded' and n and n > 0 and n < 1e9 then\n"
    "            frames = frames + math.floor(n)\n"
    "          end\n"
    "        end\n"
    "      end\n"
    "    end\n"
    "    if seen >= scan then break end\n"
    "  end\n"
    "end\n"
    "local function clean(s)\n"
    "  return (string.gsub(string.gsub(s, '[\\t\\r\\n]', ' '), '[%z\\1-\\31\\127-\\255]', '?'))\n"
    "end\n"
    "local ws, bad, got, cursor, looked = {}, 0, {}, '0', 0\n"
    "repeat\n"
    "  local r = redis.pcall('HSCAN', reg, cursor, 'COUNT', 100)\n"
    "  if r.err then break end\n"
    "  cursor = r[1]\n"
    "  for i = 1, #r[2], 2 do\n"
    "    local name, v = r[2][i], r[2][i + 1]\n"
    "    looked = looked + 1\n"
    "    if not got[name] then\n"
    "      got[name] = true\n"
    "      local ok, w = false, nil\n"
    "      if #v <= vmax then ok, w = pcall(cjson.decode, v) end\n"
    "      local at = ok and type(w) == 'table' and ms(w.seen)\n"
    "      if at and now - at > prune then\n"
    "        redis.call('HDEL', reg, name)\n"
    "      elseif at and #name <= nmax then\n"
    "        if #ws < wmax then ws[#ws + 1] = {clean(name), clean(v)} end\n"
    "      else\n"
    "        bad = bad + 1\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "until cursor == '0' or looked >= look\n"
    "table.sort(ws, function(a, b) return a[1] < b[1] end)\n"
    "local out = {now, seen, st.queued, st.running, st.succeeded, st.failed, st.cancelled,\n"
    "             st.dead, count(redis.pcall('ZCARD', delayed)),\n"
    "             count(redis.pcall('XLEN', jobs)), oldest, fin.succeeded, fin.failed,\n"
    "             fin.dead, fin.cancelled, frames, bad}\n"
    "for _, w in ipairs(ws) do out[#out + 1] = w[1]; out[#out + 1] = w[2] end\n"
    "return out\n";

/* The answer's lines, split in place (text is modified). */
struct stats_lines {
	char **line;
	size_t n;
};

static int split_lines(char *text, struct stats_lines *l)
{
	size_t cap = 1;

	for (const char *p = text; *p; p++)
		cap += *p == '\n';
	if (!(l->line = calloc(cap, sizeof(*l->line))))
		return -ENOMEM;
	l->n = 0;
	for (char *p = text;;) {
		char *nl = strchr(p, '\n');
		l->line[l->n++] = p;
		if (!nl)
			break;
		*nl = '\0';
		p = nl + 1;
	}
	return 0;
}

static long long line_int(const struct stats_lines *l, size_t i)
{
	return i < l->n ? strtoll(l->line[i], NULL, 10) : 0;
}

/* A string field of a worker's value, cut to STATS_WORKER_STR bytes between
 * characters (jansson decoded it, so it is UTF-8); NULL when it is not a string. */
static json_t *worker_str(json_t *v)
{
	const char *s = json_string_value(v);
	size_t n;

	if (!s)
		return NULL;
	n = strlen(s);
	if (n > STATS_WORKER_STR) {
		n = STATS_WORKER_STR;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	return json_stringn(s, n);
}

/* A whole number within [0, max] (Lua's cjson may write one as 1.7e+12); NULL
 * otherwise. */
static json_t *worker_int(json_t *v, long long max)
{
	double d = json_number_value(v);

	if (!json_is_number(v) || !(d >= 0 && d <= (double)max) || d != (double)(long long)d)
		return NULL;
	return json_integer((long long)d);
}

/* One registry entry as the answer lists it, or NULL when its value is malformed (not
 * a JSON object, or no usable "seen"). The name is the registry's field, the name the
 * worker's jobs carry; only the known fields of the value are copied. */
static json_t *worker_json(const char *name, const char *value, long long now)
{
	static const char *const strs[] = {"host", "version"};
	static const struct {
		const char *key;
		long long max;
	} ints[] = {{"pid", 1LL << 31},
		    {"slots", 1 << 20},
		    {"running", 1 << 20},
		    {"started", 1000000000000000LL}};
	json_t *v = json_loads(value, JSON_REJECT_DUPLICATES, NULL), *o = NULL, *seen;
	long long age;

	if (!json_is_object(v) ||
	    !(seen = worker_int(json_object_get(v, "seen"), 1000000000000000LL)) ||
	    !(o = json_object())) {
		json_decref(v);
		return NULL;
	}
	age = now - json_integer_value(seen);
	json_object_set_new(o, "name", json_string(name));
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		json_t *s = worker_str(json_object_get(v, strs[i]));
		if (s)
			json_object_set_new(o, strs[i], s);
	}
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		json_t *n = worker_int(json_object_get(v, ints[i].key), ints[i].max);
		if (n)
			json_object_set_new(o, ints[i].key, n);
	}
	if (json_is_boolean(json_object_get(v, "stopping")))
		json_object_set(o, "stopping", json_object_get(v, "stopping"));
	json_object_set_new(o, "seen", seen);
	json_object_set_new(o, "heartbeat_age_ms", json_integer(age < 0 ? 0 : age));
	json_object_set_new(o, "alive", json_boolean(age < STATS_ALIVE_MS));
	json_decref(v);
	return o;
}

/* {"a": line[first], "b": line[first + 1], ...} for the NULL-terminated names. */
static json_t *counts_json(const struct stats_lines *l, size_t first, const char *const *names)
{
	json_t *o = json_object();

	for (size_t i = 0; o && names[i]; i++)
		json_object_set_new(o, names[i], json_integer(line_int(l, first + i)));
	return o;
}

/* The script's answer as queue_stats' object; NULL for an answer of another shape. */
static json_t *stats_json(const struct stats_lines *l)
{
	static const char *const states[] = {"queued",	  "running", "succeeded", "failed",
					     "cancelled", "dead",    NULL};
	static const char *const fin[] = {"succeeded", "failed", "dead", "cancelled", NULL};
	long long now = line_int(l, 0), oldest = line_int(l, 10), bad = line_int(l, 16);
	json_t *o, *ws;

	if (l->n < STATS_HEAD + 1 || (l->n - STATS_HEAD - 1) % 2 || now <= 0 ||
	    !(o = json_object()))
		return NULL;
	json_object_set_new(o, "now", json_integer(now));
	json_object_set_new(o, "scanned", json_integer(line_int(l, 1)));
	json_object_set_new(o, "states", counts_json(l, 2, states));
	json_object_set_new(o, "delayed", json_integer(line_int(l, 8)));
	json_object_set_new(o, "stream_length", json_integer(line_int(l, 9)));
	json_object_set_new(o, "oldest_queued_age_ms",
			    oldest < 0 ? json_null()
				       : json_integer(now > oldest ? now - oldest : 0));
	json_object_set_new(o, "finished_last_minute", counts_json(l, 11, fin));
	json_object_set_new(o, "frames_last_minute", json_integer(line_int(l, 15)));
	ws = json_array();
	for (size_t i = STATS_HEAD + 1; ws && i + 1 < l->n; i += 2) {
		json_t *w = worker_json(l->line[i], l->line[i + 1], now);
		if (w)
			json_array_append_new(ws, w);
		else
			bad++;
	}
	json_object_set_new(o, "workers", ws);
	json_object_set_new(o, "workers_malformed", json_integer(bad));
	return o;
}

/* Run the script: EVAL (Redis caches the body by its digest, so a repeated call costs
 * no new script) with the keys and bounds. 0 with *text (malloc'd), or -errno. */
static int stats_eval(struct queue *q, const struct queue_opts *o, char **text, char *err,
		      size_t errlen)
{
	char k[4][192], a[7][32];
	const char *argv[15];
	int rc;

	snprintf(k[0], sizeof(k[0]), "%s:jobs:recent", o->prefix);
	snprintf(k[1], sizeof(k[1]), "%s:delayed", o->prefix);
	snprintf(k[2], sizeof(k[2]), "%s:jobs", o->prefix);
	snprintf(k[3], sizeof(k[3]), "%s:workers", o->prefix);
	snprintf(a[0], sizeof(a[0]), "%.31s", o->prefix);
	snprintf(a[1], sizeof(a[1]), "%d", QUEUE_RECENT_MAX);
	snprintf(a[2], sizeof(a[2]), "%d", STATS_PRUNE_MS);
	snprintf(a[3], sizeof(a[3]), "%d", STATS_WORKER_VALUE);
	snprintf(a[4], sizeof(a[4]), "%d", STATS_WORKER_NAME);
	snprintf(a[5], sizeof(a[5]), "%d", STATS_WORKERS_MAX);
	snprintf(a[6], sizeof(a[6]), "%d", STATS_WORKER_LOOK);
	argv[0] = "EVAL";
	argv[1] = stats_lua;
	argv[2] = "4";
	for (int i = 0; i < 4; i++)
		argv[3 + i] = k[i];
	argv[7] = o->prefix;
	for (int i = 1; i < 7; i++)
		argv[7 + i] = a[i];
	rc = queue_command(q, text, 14, argv);
	if (rc == -EIO && *text)
		qerr(err, errlen, "Redis refused the stats script: %.200s", *text);
	else if (rc < 0)
		qerr(err, errlen, "could not read the queue's stats from Redis: %s", strerror(-rc));
	if (rc < 0) {
		free(*text);
		*text = NULL;
	}
	return rc;
}

int queue_stats(struct queue *q, char **json_out, char *err, size_t errlen)
{
	struct stats_lines l = {0};
	char *text = NULL;
	json_t *o = NULL;
	int rc;

	*json_out = NULL;
	if ((rc = stats_eval(q, qsync_opts(q), &text, err, errlen)) < 0)
		return rc;
	if ((rc = split_lines(text, &l)) == 0 && !(o = stats_json(&l))) {
		qerr(err, errlen, "unexpected answer from the stats script");
		rc = -EIO;
	}
	if (o && !(*json_out = json_dumps(o, JSON_COMPACT)))
		rc = -ENOMEM;
	json_decref(o);
	free(l.line);
	free(text);
	return rc;
}
