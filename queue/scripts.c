/* scripts.c - the Lua scripts that make every state change of a job atomic.
 *
 * Each script is one EVAL: Redis runs it to the end before any other command, so a
 * claim, a heartbeat and a completion never interleave. Scripts read the clock with
 * TIME (allowed since Redis 5 replicates scripts by their effects) and store times as
 * Unix milliseconds. The key layout is in docs/queue.md; the take script builds job
 * hash names from the prefix, so the queue needs a single Redis, not a cluster.
 *
 * A fencing token is "<n>-<nonce>": n from INCR P:fence, the nonce 64 random bits the
 * claiming worker drew. The counter alone restarts at 1 when Redis loses its data (no
 * persistence, an everysec AOF that lost its last second, a lagging replica promoted),
 * and an old owner's token would then match a new claim of a job submitted again under
 * the same id; the nonce makes every claim's token its own across Redis lifetimes. Each
 * claim also records the SHA-1 of the document it handed out (doc_sha), and a result
 * is accepted only with that same digest: a completion must be for the exact document
 * the job holds now.
 *
 * Nothing a producer wrote reaches a client unchecked: the take script reads stream
 * entries inside Redis and sends a document only when it is within the cap, and the
 * status and event scripts send values only up to their caps. A producer can write
 * anything into Redis (a 400 MB document with a bare XADD); a worker that read it
 * whole would stall its event loop and lose its leases.
 */
#include "queue_internal.h"

/* The scripts spell these numbers out. */
_Static_assert(QUEUE_RECENT_MAX == 10000, "PRELUDE's RECENT_MAX");
_Static_assert(QUEUE_LIST_VALUE_MAX == 256, "list_lua's cap");

/* The chunked jobs' helpers (docs/queue.md, "Chunked jobs"), prepended with PRELUDE:
 *  job_prefix(h, id)     the key prefix a job hash name was built from.
 *  stop_job(...)         a queued or running job ends cancelled, its worker told.
 *  stop_children(...)    every child of a split parent stopped; the split is over.
 *  chunk_ended(h, ...)   a child's final state reaches its parent (from finish): the
 *                        last success queues the join delivery, once; a fallback sentence
 *                        queues the whole render; any other end fails the parent.
 *  chunk_progress(...)   a child's frames summed into its parent's progress.
 *  claim_role(h, sha)    what a claim of this document is: a child render, the join, the
 *                        whole fallback, or '' (a document a producer wrote). Only a
 *                        document whose digest the split script recorded gets a role. */
#define CHUNK_FNS                                                                                  \
	"local function job_prefix(h, id)\n"                                                       \
	"  local tail = ':job:' .. id\n"                                                           \
	"  if #h <= #tail or string.sub(h, -#tail) ~= tail then return nil end\n"                  \
	"  return string.sub(h, 1, #h - #tail)\n"                                                  \
	"end\n"                                                                                    \
	"local function stop_job(p, h, id, ttl, group, why)\n"                                     \
	"  local st = redis.call('HGET', h, 'state')\n"                                            \
	"  if st ~= 'queued' and st ~= 'running' then return end\n"                                \
	"  local worker = redis.call('HGET', h, 'worker')\n"                                       \
	"  drop_entry(p .. ':jobs', group, redis.call('HGET', h, 'entry'))\n"                      \
	"  redis.call('ZREM', p .. ':delayed', id)\n"                                              \
	"  redis.call('HSET', h, 'cancel', '1', 'entry', '')\n"                                    \
	"  redis.call('HDEL', h, 'stopped')\n"                                                     \
	"  finish(h, h .. ':events', ttl, id, 'cancelled', why)\n"                                 \
	"  if st == 'running' and worker then\n"                                                   \
	"    local k = p .. ':cancel:' .. worker\n"                                                \
	"    redis.call('LPUSH', k, id)\n"                                                         \
	"    redis.call('LTRIM', k, 0, 255)\n"                                                     \
	"    redis.call('EXPIRE', k, math.min(tonumber(ttl), 3600))\n"                             \
	"  end\n"                                                                                  \
	"end\n"                                                                                    \
	"local function stop_children(p, ph, pid, ttl, why)\n"                                     \
	"  local n = tonumber(redis.call('HGET', ph, 'chunks_total')) or 0\n"                      \
	"  local group = redis.call('HGET', ph, 'chunk_group') or 'workers'\n"                     \
	"  redis.call('HDEL', ph, 'split')\n"                                                      \
	"  for k = 0, n - 1 do\n"                                                                  \
	"    local cid = pid .. '-c' .. k\n"                                                       \
	"    local ch = p .. ':job:' .. cid\n"                                                     \
	"    if redis.call('HGET', ch, 'parent') == pid then stop_job(p, ch, cid, ttl, group, "    \
	"why) end\n"                                                                               \
	"  end\n"                                                                                  \
	"end\n"                                                                                    \
	"local function requeue_parent(p, ph, pid, field)\n"                                       \
	"  local doc = redis.call('HGET', ph, field)\n"                                            \
	"  if not doc then return false end\n"                                                     \
	"  local e = redis.call('XADD', p .. ':jobs', '*', 'id', pid, 'job', doc)\n"               \
	"  redis.call('HSET', ph, 'entry', e)\n"                                                   \
	"  ring(p .. ':jobs:wake', 1)\n"                                                           \
	"  return true\n"                                                                          \
	"end\n"                                                                                    \
	"chunk_ended = function(h, id, state, ttl)\n"                                              \
	"  local pid = redis.call('HGET', h, 'parent')\n"                                          \
	"  if not pid then return end\n"                                                           \
	"  local p = job_prefix(h, id)\n"                                                          \
	"  if not p then return end\n"                                                             \
	"  local ph = p .. ':job:' .. pid\n"                                                       \
	"  local gen = redis.call('HGET', ph, 'split')\n"                                          \
	"  if redis.call('HGET', ph, 'state') ~= 'running' or not gen or\n"                        \
	"     gen ~= redis.call('HGET', h, 'split') then return end\n"                             \
	"  local idx = redis.call('HGET', h, 'chunk_index') or '?'\n"                              \
	"  local pev = ph .. ':events'\n"                                                          \
	"  if state == 'succeeded' then\n"                                                         \
	"    local w = cut(redis.call('HGET', h, 'worker') or '', 120)\n"                          \
	"    if redis.call('HSETNX', ph .. ':chunks', 'w' .. idx, w) == 0 then return end\n"       \
	"    local out = redis.call('HGET', h, 'output') or ''\n"                                  \
	"    redis.call('HSET', ph .. ':chunks', 'o' .. idx, cut(string.match(out, '[^/]*$'), "    \
	"80))\n"                                                                                   \
	"    local done = redis.call('HINCRBY', ph, 'chunks_done', 1)\n"                           \
	"    local total = tonumber(redis.call('HGET', ph, 'chunks_total')) or 0\n"                \
	"    if done == total and redis.call('HSETNX', ph, 'join_queued', now_ms()) == 1 then\n"   \
	"      local ws = {}\n"                                                                    \
	"      for k = 0, total - 1 do\n"                                                          \
	"        ws[#ws + 1] = {worker = redis.call('HGET', ph .. ':chunks', 'w' .. k) or '',\n"   \
	"                       file = redis.call('HGET', ph .. ':chunks', 'o' .. k) or ''}\n"     \
	"      end\n"                                                                              \
	"      redis.call('HSET', ph, 'chunk_workers', cjson.encode(ws))\n"                        \
	"      requeue_parent(p, ph, pid, 'join_doc')\n"                                           \
	"    end\n"                                                                                \
	"    return\n"                                                                             \
	"  end\n"                                                                                  \
	"  local fb = redis.call('HGET', h, 'chunk_fallback')\n"                                   \
	"  if state == 'failed' and fb then\n"                                                     \
	"    local why = 'chunk ' .. idx .. ' (' .. id .. '): ' .. cut(fb, 400)\n"                 \
	"    stop_children(p, ph, pid, ttl, 'the parent job ' .. pid .. ' renders whole "          \
	"instead')\n"                                                                              \
	"    redis.call('HSET', ph, 'chunk_fallback', why)\n"                                      \
	"    requeue_parent(p, ph, pid, 'whole_doc')\n"                                            \
	"    return\n"                                                                             \
	"  end\n"                                                                                  \
	"  local err = cut(redis.call('HGET', h, 'error') or state, 600)\n"                        \
	"  local why = 'chunk ' .. idx .. ' (' .. id .. ') ended ' .. state .. ': ' .. err\n"      \
	"  redis.call('HDEL', ph, 'split')\n"                                                      \
	"  finish(ph, pev, ttl, pid, 'failed', why)\n"                                             \
	"  stop_children(p, ph, pid, ttl, 'a sibling chunk ended ' .. state .. ' first')\n"        \
	"end\n"                                                                                    \
	"local function chunk_progress(h, id, frames)\n"                                           \
	"  local pid = redis.call('HGET', h, 'parent')\n"                                          \
	"  if not pid then return end\n"                                                           \
	"  local p = job_prefix(h, id)\n"                                                          \
	"  if not p then return end\n"                                                             \
	"  local ph = p .. ':job:' .. pid\n"                                                       \
	"  local gen = redis.call('HGET', ph, 'split')\n"                                          \
	"  if redis.call('HGET', ph, 'state') ~= 'running' or not gen or\n"                        \
	"     gen ~= redis.call('HGET', h, 'split') then return end\n"                             \
	"  local idx = redis.call('HGET', h, 'chunk_index') or '?'\n"                              \
	"  redis.call('HSET', ph .. ':chunks', 'f' .. idx, frames)\n"                              \
	"  local n, sum = tonumber(redis.call('HGET', ph, 'chunks_total')) or 0, 0\n"              \
	"  for k = 0, n - 1 do\n"                                                                  \
	"    sum = sum + (tonumber(redis.call('HGET', ph .. ':chunks', 'f' .. k)) or 0)\n"         \
	"  end\n"                                                                                  \
	"  local total = tonumber(redis.call('HGET', ph, 'progress_total')) or 0\n"                \
	"  redis.call('HSET', ph, 'progress_frames', sum)\n"                                       \
	"  emit(ph .. ':events', {type = 'progress', id = pid, frames = sum, total = total})\n"    \
	"end\n"                                                                                    \
	"local function claim_role(h, sha)\n"                                                      \
	"  if redis.call('HGET', h, 'parent') and redis.call('HGET', h, 'chunk_sha') == sha "      \
	"then\n"                                                                                   \
	"    return 'chunk', ''\n"                                                                 \
	"  end\n"                                                                                  \
	"  if redis.call('HGET', h, 'join_queued') and redis.call('HGET', h, 'join_sha') == sha "  \
	"then\n"                                                                                   \
	"    return 'join', cut(redis.call('HGET', h, 'chunk_workers') or '[]', 16000)\n"          \
	"  end\n"                                                                                  \
	"  if redis.call('HGET', h, 'chunk_fallback') and redis.call('HGET', h, 'whole_sha') == "  \
	"sha then\n"                                                                               \
	"    return 'whole', cut(redis.call('HGET', h, 'chunk_fallback'), 1000)\n"                 \
	"  end\n"                                                                                  \
	"  return '', ''\n"                                                                        \
	"end\n"

/* Helpers prepended to every script:
 *  now_ms()        Redis's clock in Unix milliseconds.
 *  emit(ev, data)  one event, appended to the job's capped events stream and published
 *                  on the channel of the same name (XREAD BLOCK or SUBSCRIBE).
 *  cut(s, n)       s cut to n bytes: for hash values a producer may have overwritten.
 *  valid_id(s)     1 to 63 characters of [A-Za-z0-9_-], as queue_id_valid().
 *  ring(wake, n)   n rings of the doorbell list idle workers block on (capped at 64).
 *  entry_doc()     the document a stream entry carries, or false once it is gone.
 *  drop_entry()    XACK and XDEL: the stream only ever holds live jobs.
 *  dead_letter()   append to the capped dead-letter stream, document cut at cap bytes.
 *  finish()        enter a final state; the hash and events expire after the TTL.
 *  stale(h)        the answer to a caller whose claim no longer holds the job: {'stale',
 *                  state, worker}, state '' when the hash is gone.
 *  owns(h, t, d)   the job is this claim's: token t, and document digest d when the
 *                  hash has one (hashes written before digests existed have none).
 * Entry ids read from a job hash go through pcall: a producer may have written a
 * malformed one, and an error would abort a script halfway. */
#define PRELUDE                                                                                    \
	"local RECENT_MAX = 10000\n" /* QUEUE_RECENT_MAX */                                        \
	"local function now_ms()\n"                                                                \
	"  local t = redis.call('TIME')\n"                                                         \
	"  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"                     \
	"end\n"                                                                                    \
	"local function emit(ev, data)\n"                                                          \
	"  if ev == '' then return end\n"                                                          \
	"  local js = cjson.encode(data)\n"                                                        \
	"  redis.call('XADD', ev, 'MAXLEN', '~', 64, '*', 'type', data.type, 'data', js)\n"        \
	"  redis.call('PUBLISH', ev, js)\n"                                                        \
	"end\n"                                                                                    \
	"local function cut(s, n)\n"                                                               \
	"  if type(s) == 'string' and #s > n then return string.sub(s, 1, n) end\n"                \
	"  return s\n"                                                                             \
	"end\n"                                                                                    \
	"local function valid_id(s)\n"                                                             \
	"  return #s >= 1 and #s <= 63 and not string.find(s, '[^A-Za-z0-9_%-]')\n"                \
	"end\n"                                                                                    \
	"local function ring(wake, n)\n"                                                           \
	"  for _ = 1, math.min(n, 64) do redis.pcall('LPUSH', wake, '1') end\n"                    \
	"  redis.pcall('LTRIM', wake, 0, 63)\n"                                                    \
	"end\n"                                                                                    \
	"local function entry_doc(jobs, entry)\n"                                                  \
	"  if not entry or entry == '' then return false end\n"                                    \
	"  local r = redis.pcall('XRANGE', jobs, entry, entry)\n"                                  \
	"  if r.err or #r == 0 then return false end\n"                                            \
	"  local f = r[1][2]\n"                                                                    \
	"  for i = 1, #f, 2 do if f[i] == 'job' then return f[i + 1] end end\n"                    \
	"  return false\n"                                                                         \
	"end\n"                                                                                    \
	"local function drop_entry(jobs, group, entry)\n"                                          \
	"  if entry and entry ~= '' then\n"                                                        \
	"    redis.pcall('XACK', jobs, group, entry)\n"                                            \
	"    redis.pcall('XDEL', jobs, entry)\n"                                                   \
	"  end\n"                                                                                  \
	"end\n"                                                                                    \
	"local function dead_letter(dead, maxlen, id, entry, reason, attempts, doc, cap)\n"        \
	"  local a = {'XADD', dead, 'MAXLEN', '~', maxlen, '*', 'id', id, 'entry', entry,\n"       \
	"             'error', reason, 'attempts', attempts, 'at', now_ms()}\n"                    \
	"  if doc then\n"                                                                          \
	"    cap = tonumber(cap)\n"                                                                \
	"    if #doc > cap then\n"                                                                 \
	"      doc = string.sub(doc, 1, cap)\n"                                                    \
	"      a[#a + 1] = 'truncated'; a[#a + 1] = '1'\n"                                         \
	"    end\n"                                                                                \
	"    a[#a + 1] = 'job'; a[#a + 1] = doc\n"                                                 \
	"  end\n"                                                                                  \
	"  redis.call(unpack(a))\n"                                                                \
	"end\n"                                                                                    \
	"local function remember(jobs, id, now)\n"                                                 \
	"  local k = jobs .. ':recent'\n"                                                          \
	"  redis.pcall('ZADD', k, now, id)\n"                                                      \
	"  redis.pcall('PERSIST', k)\n"                                                            \
	"  redis.pcall('ZREMRANGEBYRANK', k, 0, -(RECENT_MAX + 1))\n"                              \
	"end\n"                                                                                    \
	"local function forget_when_idle(h, id, ttl)\n"                                            \
	"  local tail = ':job:' .. id\n"                                                           \
	"  if #h <= #tail or string.sub(h, -#tail) ~= tail then return end\n"                      \
	"  local p = string.sub(h, 1, #h - #tail)\n"                                               \
	"  local n, d = redis.pcall('XLEN', p .. ':jobs'), redis.pcall('ZCARD', p .. "             \
	"':delayed')\n"                                                                            \
	"  if n == 0 and d == 0 then redis.pcall('EXPIRE', p .. ':jobs:recent', ttl) end\n"        \
	"end\n"                                                                                    \
	"local chunk_ended\n" /* defined after finish: a child's end reaches its parent */         \
	"local function finish(h, ev, ttl, id, state, err)\n"                                      \
	"  redis.call('HSET', h, 'state', state, 'finished', now_ms())\n"                          \
	"  if err then redis.call('HSET', h, 'error', err) end\n"                                  \
	"  redis.call('HDEL', h, 'not_before', 'doc')\n"                                           \
	"  local out = redis.call('HGET', h, 'output')\n"                                          \
	"  emit(ev, {type = 'done', id = id, state = state,\n"                                     \
	"            error = redis.call('HGET', h, 'error') or nil, output = out or nil})\n"       \
	"  redis.call('EXPIRE', h, ttl)\n"                                                         \
	"  if ev ~= '' then redis.call('EXPIRE', ev, ttl) end\n"                                   \
	"  redis.call('EXPIRE', h .. ':log', ttl)\n"                                               \
	"  forget_when_idle(h, id, ttl)\n"                                                         \
	"  redis.call('EXPIRE', h .. ':chunks', ttl)\n"                                            \
	"  chunk_ended(h, id, state, ttl)\n"                                                       \
	"end\n"                                                                                    \
	"local function keep_doc(h, doc)\n"                                                        \
	"  if doc then redis.call('HSET', h, 'doc', doc) end\n"                                    \
	"end\n"                                                                                    \
	"local function is_final(st)\n"                                                            \
	"  return st == 'succeeded' or st == 'failed' or st == 'dead' or st == 'cancelled'\n"      \
	"end\n"                                                                                    \
	"local function stale(h)\n"                                                                \
	"  return {'stale', cut(redis.call('HGET', h, 'state') or '', 32),\n"                      \
	"          cut(redis.call('HGET', h, 'worker') or '', 200)}\n"                             \
	"end\n"                                                                                    \
	"local function owns(h, token, sha)\n"                                                     \
	"  if redis.call('HGET', h, 'token') ~= token then return false end\n"                     \
	"  local d = redis.call('HGET', h, 'doc_sha')\n"                                           \
	"  return not d or d == sha\n"                                                             \
	"end\n"                                                                                    \
	"local function confirm_stop(h)\n"                                                         \
	"  if not redis.call('HGET', h, 'stopped') then\n"                                         \
	"    redis.call('HSET', h, 'stopped', now_ms())\n"                                         \
	"  end\n"                                                                                  \
	"end\n" CHUNK_FNS

/* The claim shared by the claim and take scripts: take the job a stream entry carries
 * for this consumer. Answers {'ok', token, attempt, doc_sha}; or, having acknowledged
 * and deleted the entry, {'done', state} for a job that already ended (a second
 * delivery changes nothing) or was cancelled, {'dup'} for a second entry of a job
 * another live entry carries, and {'dead', reason} when the attempts are used up
 * (workers kept dying on it). A hash is created for entries a raw client added with
 * XADD alone. doc (false when the caller did not read it) is read from the entry when
 * needed: its digest is recorded with the token, and it goes to the dead-letter stream.
 * nonce is the claiming worker's 64 random bits (16 hex digits). */
#define CLAIM_FN                                                                                   \
	"local function other_live(jobs, h, entry)\n"                                              \
	"  local cur = redis.call('HGET', h, 'entry')\n"                                           \
	"  if not cur or cur == '' or cur == entry then return false end\n"                        \
	"  local r = redis.pcall('XRANGE', jobs, cur, cur)\n"                                      \
	"  return not r.err and #r > 0\n"                                                          \
	"end\n"                                                                                    \
	"local function claim(h, ev, id, entry, doc, jobs, fence, dead, consumer, group, "         \
	"max_default,\n"                                                                           \
	"                     ttl, dead_maxlen, dead_cap, nonce)\n"                                \
	"  local st = redis.call('HGET', h, 'state')\n"                                            \
	"  if is_final(st) then drop_entry(jobs, group, entry); return {'done', st} end\n"         \
	"  if other_live(jobs, h, entry) then drop_entry(jobs, group, entry); return {'dup'} "     \
	"end\n"                                                                                    \
	"  local now = now_ms()\n"                                                                 \
	"  if not st then\n"                                                                       \
	"    redis.call('HSET', h, 'id', id, 'state', 'queued', 'attempts', 0,\n"                  \
	"               'max_attempts', max_default, 'created', now)\n"                            \
	"    remember(jobs, id, now)\n"                                                            \
	"  end\n"                                                                                  \
	"  if redis.call('HGET', h, 'cancel') == '1' then\n"                                       \
	"    drop_entry(jobs, group, entry); finish(h, ev, ttl, id, 'cancelled', 'cancelled by "   \
	"request')\n"                                                                              \
	"    return {'done', 'cancelled'}\n"                                                       \
	"  end\n"                                                                                  \
	"  if st == 'running' and redis.call('HEXISTS', h, 'token') == 1 then\n"                   \
	"    redis.call('HSET', h, 'error', 'lease expired: worker ' ..\n"                         \
	"               cut(redis.call('HGET', h, 'worker') or '?', 200) .. ' stopped "            \
	"heart-beating')\n"                                                                        \
	"  end\n"                                                                                  \
	"  local attempts = redis.call('HINCRBY', h, 'attempts', 1)\n"                             \
	"  local max = tonumber(redis.call('HGET', h, 'max_attempts')) or tonumber(max_default)\n" \
	"  doc = doc or entry_doc(jobs, entry)\n"                                                  \
	"  if attempts > max then\n"                                                               \
	"    redis.call('HSET', h, 'attempts', max)\n"                                             \
	"    local reason = 'gave up after ' .. max .. ' attempts; last: ' ..\n"                   \
	"                   cut(redis.call('HGET', h, 'error') or 'worker lost', 1024)\n"          \
	"    dead_letter(dead, dead_maxlen, id, entry, reason, max, doc, dead_cap)\n"              \
	"    drop_entry(jobs, group, entry); finish(h, ev, ttl, id, 'dead', reason)\n"             \
	"    keep_doc(h, doc)\n"                                                                   \
	"    return {'dead', reason}\n"                                                            \
	"  end\n"                                                                                  \
	"  local token = redis.call('INCR', fence) .. '-' .. nonce\n"                              \
	"  local sha = redis.sha1hex(doc or '')\n"                                                 \
	"  redis.call('HSET', h, 'state', 'running', 'token', token, 'doc_sha', sha, 'worker', "   \
	"consumer,\n"                                                                              \
	"             'entry', entry, 'started', now, 'heartbeat', now)\n"                         \
	"  redis.call('HDEL', h, 'not_before', 'doc', 'stopped')\n"                                \
	"  emit(ev, {type = 'running', id = id, attempt = attempts, worker = consumer})\n"         \
	"  local role, note = claim_role(h, sha)\n"                                                \
	"  return {'ok', token, attempts, sha, role, note}\n"                                      \
	"end\n"

/* submit: create the job hash, append the job to the stream and ring the doorbell
 * (P:jobs:wake, named after the stream so producers keep passing three keys).
 * KEYS: job hash, jobs stream, events.  ARGV: id, document, max attempts, group.
 * The group is created here too (from the stream's start, "0"), so jobs submitted
 * before any worker ever ran are not skipped. */
static const char submit_lua[] =
    PRELUDE "local h, jobs, ev = KEYS[1], KEYS[2], KEYS[3]\n"
	    "if redis.call('EXISTS', h) == 1 then return {'exists'} end\n"
	    "redis.pcall('XGROUP', 'CREATE', jobs, ARGV[4], '0', 'MKSTREAM')\n"
	    "local e = redis.call('XADD', jobs, '*', 'id', ARGV[1], 'job', ARGV[2])\n"
	    "local now = now_ms()\n"
	    "redis.call('HSET', h, 'id', ARGV[1], 'state', 'queued', 'attempts', 0,\n"
	    "           'max_attempts', ARGV[3], 'created', now, 'entry', e)\n"
	    "remember(jobs, ARGV[1], now)\n"
	    "emit(ev, {type = 'queued', id = ARGV[1]})\n"
	    "ring(jobs .. ':wake', 1)\n"
	    "return {'ok', e}\n";

/* take: one step of a worker's fetch, all inside Redis.
 * KEYS: jobs, dead, delayed, fence, doorbell.
 * ARGV: group, consumer, lease ms, XAUTOCLAIM cursor, prefix, default max attempts, ttl,
 * dead maxlen, document cap, dead-letter document cap, nonce.
 * It moves due retries from the delayed set back into the stream (ringing the
 * doorbell for them), takes over one entry whose lease expired (XAUTOCLAIM ... JUSTID)
 * or else reads one new entry (XREADGROUP, which never blocks inside a script), and
 * claims it. Only the id and a document within the cap leave Redis:
 *   {'ok', cursor, entry, id, token, attempt, doc, doc_sha}   a job for this consumer;
 *   {'needid', cursor, entry, doc}   the entry has no id field: the caller reads the
 *                                    document's "id" and runs the claim script;
 *   {'drop', cursor, entry, reason}  dead-lettered here: the id field is not a job id,
 *                                    or the document is over the cap (a job the entry
 *                                    names ends dead with that reason);
 *   {'skip', cursor, entry}          nothing to do (ended, duplicate, gone, dead);
 *   {'none', cursor}                 no entry: the doorbell is emptied, and the caller
 *                                    blocks on it (BLPOP) for up to its poll time.
 * A document over the cap is dead-lettered (cut to the dead-letter cap) without being
 * sent: a producer's bare XADD of a 400 MB document must not cross the wire. */
static const char take_lua[] = PRELUDE CLAIM_FN
    "local jobs, dead, delayed, fence, wake = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]\n"
    "local group, consumer, prefix, ttl = ARGV[1], ARGV[2], ARGV[5], ARGV[7]\n"
    "local cap = tonumber(ARGV[9])\n"
    "local moved = 0\n"
    "for _, id in ipairs(redis.call('ZRANGEBYSCORE', delayed, '-inf', now_ms(), 'LIMIT', 0, 100)) "
    "do\n"
    "  redis.call('ZREM', delayed, id)\n"
    "  local h = prefix .. ':job:' .. id\n"
    "  local doc = redis.call('HGET', h, 'doc')\n"
    "  if redis.call('HGET', h, 'state') == 'queued' and doc then\n"
    "    local e = redis.call('XADD', jobs, '*', 'id', id, 'job', doc)\n"
    "    redis.call('HSET', h, 'entry', e)\n"
    "    redis.call('HDEL', h, 'doc', 'not_before')\n"
    "    moved = moved + 1\n"
    "  end\n"
    "end\n"
    "if moved > 0 then ring(wake, moved) end\n"
    "local a = redis.pcall('XAUTOCLAIM', jobs, group, consumer, ARGV[3], ARGV[4], 'COUNT', 1, "
    "'JUSTID')\n"
    "if a.err then\n"
    "  if not string.find(a.err, 'NOGROUP', 1, true) then return a end\n"
    "  redis.call('XGROUP', 'CREATE', jobs, group, '0', 'MKSTREAM')\n"
    "  a = redis.call('XAUTOCLAIM', jobs, group, consumer, ARGV[3], '0-0', 'COUNT', 1, 'JUSTID')\n"
    "end\n"
    "local cursor, entry, fields = a[1], a[2][1], nil\n"
    "if entry then\n"
    "  local r = redis.call('XRANGE', jobs, entry, entry)\n"
    "  if #r == 0 then\n"
    "    redis.call('XACK', jobs, group, entry)\n"
    "    return {'skip', cursor, entry}\n"
    "  end\n"
    "  fields = r[1][2]\n"
    "else\n"
    "  local r = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', 1, 'STREAMS', jobs, "
    "'>')\n"
    "  if not r then\n"
    "    redis.call('DEL', wake)\n"
    "    return {'none', cursor}\n"
    "  end\n"
    "  entry, fields = r[1][2][1][1], r[1][2][1][2]\n"
    "  redis.pcall('LPOP', wake)\n"
    "end\n"
    "local id, doc = nil, ''\n"
    "for i = 1, #fields, 2 do\n"
    "  if fields[i] == 'id' then id = fields[i + 1] elseif fields[i] == 'job' then doc = fields[i "
    "+ 1] end\n"
    "end\n"
    "fields = nil\n"
    "if id and not valid_id(id) then\n"
    "  local reason = \"job id '\" .. cut(id, 64) .. \"' is not 1-63 characters of "
    "[A-Za-z0-9_-]\"\n"
    "  dead_letter(dead, ARGV[8], '', entry, reason, 0, doc, ARGV[10])\n"
    "  drop_entry(jobs, group, entry)\n"
    "  return {'drop', cursor, entry, reason}\n"
    "end\n"
    "local h, ev = '', ''\n"
    "if id then h, ev = prefix .. ':job:' .. id, prefix .. ':job:' .. id .. ':events' end\n"
    "if #doc > cap then\n"
    "  local reason = 'job document is ' .. #doc .. ' bytes, over the ' .. cap ..\n"
    "                 '-byte cap (queue doc_max)'\n"
    "  local attempts = 0\n"
    "  if id then\n"
    "    local st = redis.call('HGET', h, 'state')\n"
    "    if is_final(st) or other_live(jobs, h, entry) then\n"
    "      drop_entry(jobs, group, entry)\n"
    "      return {'skip', cursor, entry}\n"
    "    end\n"
    "    if not st then\n"
    "      redis.call('HSET', h, 'id', id, 'state', 'queued', 'attempts', 0,\n"
    "                 'max_attempts', ARGV[6], 'created', now_ms())\n"
    "      remember(jobs, id, now_ms())\n"
    "    end\n"
    "    attempts = tonumber(redis.call('HGET', h, 'attempts')) or 0\n"
    "  end\n"
    "  dead_letter(dead, ARGV[8], id or '', entry, reason, attempts, doc, ARGV[10])\n"
    "  drop_entry(jobs, group, entry)\n"
    "  if id then finish(h, ev, ttl, id, 'dead', reason) end\n"
    "  return {'drop', cursor, entry, reason}\n"
    "end\n"
    "if not id then return {'needid', cursor, entry, doc} end\n"
    "local r = claim(h, ev, id, entry, doc, jobs, fence, dead, consumer, group, ARGV[6], ttl,\n"
    "                ARGV[8], ARGV[10], ARGV[11])\n"
    "if r[1] ~= 'ok' then return {'skip', cursor, entry} end\n"
    "return {'ok', cursor, entry, id, r[2], r[3], doc, r[4], r[5], r[6]}\n";

/* claim: the claim of an entry without an id field, once the caller has read the id
 * from the document the take script sent it.
 * KEYS: job hash, jobs, events, fence counter, dead.
 * ARGV: entry, id, consumer, group, default max attempts, ttl, dead maxlen, doc cap, nonce.
 * Answers as the claim above. */
static const char claim_lua[] = PRELUDE CLAIM_FN
    "return claim(KEYS[1], KEYS[3], ARGV[2], ARGV[1], false, KEYS[2], KEYS[4],\n"
    "             KEYS[5], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9])\n";

/* heartbeat: renew the lease while the token is still the job's.
 * KEYS: job hash, jobs.  ARGV: token, consumer, group.
 * XCLAIM ... JUSTID with min-idle 0 resets the entry's idle time, which is what
 * XAUTOCLAIM compares with the lease. It comes first on purpose: Redis refuses a
 * script's first write that may grow memory (HSET) at maxmemory, not one after a write
 * that went through, so a heartbeat keeps its lease while Redis is full and a result
 * waits to be recorded. Answers 0, 1 (a cancel flag a producer set by hand) or
 * stale(h): the job is no longer this claim's (taken over, ended, cancelled, gone). */
static const char heartbeat_lua[] =
    PRELUDE "local h, jobs = KEYS[1], KEYS[2]\n"
	    "if redis.call('HGET', h, 'token') ~= ARGV[1] or\n"
	    "   redis.call('HGET', h, 'state') ~= 'running' then return stale(h) end\n"
	    "local entry = redis.call('HGET', h, 'entry')\n"
	    "if entry and entry ~= '' then\n"
	    "  redis.call('XCLAIM', jobs, ARGV[3], ARGV[2], 0, entry, 'JUSTID')\n"
	    "end\n"
	    "redis.call('HSET', h, 'heartbeat', now_ms(), 'worker', ARGV[2])\n"
	    "if redis.call('HGET', h, 'cancel') == '1' then return 1 end\n"
	    "return 0\n";

/* progress: frames done of total, for the owner only.
 * KEYS: job hash, events.  ARGV: token, frames, total, id.  Answers like heartbeat. */
static const char progress_lua[] =
    PRELUDE "local h, ev = KEYS[1], KEYS[2]\n"
	    "if redis.call('HGET', h, 'token') ~= ARGV[1] or\n"
	    "   redis.call('HGET', h, 'state') ~= 'running' then return stale(h) end\n"
	    "redis.call('HSET', h, 'progress_frames', ARGV[2], 'progress_total', ARGV[3])\n"
	    "chunk_progress(h, ARGV[4], tonumber(ARGV[2]) or 0)\n"
	    "emit(ev, {type = 'progress', id = ARGV[4], frames = tonumber(ARGV[2]),\n"
	    "          total = tonumber(ARGV[3])})\n"
	    "if redis.call('HGET', h, 'cancel') == '1' then return 1 end\n"
	    "return 0\n";

/* complete: record the final state and result fields, once.
 * KEYS: job hash, jobs, events.  ARGV: token, group, ttl, state, id, doc_sha, then
 * field/value pairs. The token and digest check is the fence: a worker whose claim no
 * longer holds the job gets stale(h) and changes nothing. {'already', state} means this
 * same claim finished the job before (a completion replayed after a lost reply), and
 * {'cancelled'} that the job was cancelled first: a cancel wins over any result not yet
 * recorded (the cancel script ends the job at once; a cancel flag a producer set by hand
 * on a running job wins here). The owner's answer after a cancel is its confirmation that the job's
 * sandbox is gone (the `stopped` field). */
static const char complete_lua[] =
    PRELUDE "local h, jobs, ev = KEYS[1], KEYS[2], KEYS[3]\n"
	    "local st = redis.call('HGET', h, 'state')\n"
	    "if not owns(h, ARGV[1], ARGV[6]) then return stale(h) end\n"
	    "if st == 'cancelled' then confirm_stop(h); return {'cancelled'} end\n"
	    "if st ~= 'running' then return {'already', cut(st, 32)} end\n"
	    "if redis.call('HGET', h, 'cancel') == '1' then\n"
	    "  drop_entry(jobs, ARGV[2], redis.call('HGET', h, 'entry'))\n"
	    "  finish(h, ev, ARGV[3], ARGV[5], 'cancelled', 'cancelled by request')\n"
	    "  confirm_stop(h); return {'cancelled'}\n"
	    "end\n"
	    "if #ARGV >= 8 then\n"
	    "  local a = {'HSET', h}\n"
	    "  for i = 7, #ARGV do a[#a + 1] = ARGV[i] end\n"
	    "  redis.call(unpack(a))\n"
	    "end\n"
	    "local entry = redis.call('HGET', h, 'entry')\n"
	    "local kept = ARGV[4] == 'failed' and entry_doc(jobs, entry)\n"
	    "drop_entry(jobs, ARGV[2], entry)\n"
	    "if ARGV[4] == 'succeeded' then redis.call('HDEL', h, 'error') end\n"
	    "finish(h, ev, ARGV[3], ARGV[5], ARGV[4], nil)\n"
	    "keep_doc(h, kept)\n"
	    "return {'ok', ARGV[4]}\n";

/* retry: a failure that may be transient. Back to 'queued' with a not-before time
 * (base * 2^(attempt-1), capped) in the delayed set, from which promote re-adds it
 * to the stream; or dead-lettered once the attempts are used up.
 * KEYS: job hash, jobs, events, delayed, dead.
 * ARGV: token, group, ttl, error, base ms, cap ms, dead maxlen, doc cap, id, doc_sha.
 * Answers like complete for a claim that no longer holds the job or was cancelled. */
static const char retry_lua[] = PRELUDE
    "local h, jobs, ev, delayed, dead = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]\n"
    "local group, ttl, id = ARGV[2], ARGV[3], ARGV[9]\n"
    "local st = redis.call('HGET', h, 'state')\n"
    "if not owns(h, ARGV[1], ARGV[10]) then return stale(h) end\n"
    "if st == 'cancelled' then confirm_stop(h); return {'cancelled'} end\n"
    "if st ~= 'running' then return {'already', cut(st, 32)} end\n"
    "if redis.call('HGET', h, 'cancel') == '1' then\n"
    "  drop_entry(jobs, group, redis.call('HGET', h, 'entry'))\n"
    "  finish(h, ev, ttl, id, 'cancelled', 'cancelled by request')\n"
    "  confirm_stop(h); return {'cancelled'}\n"
    "end\n"
    "local attempts = tonumber(redis.call('HGET', h, 'attempts')) or 1\n"
    "local max = tonumber(redis.call('HGET', h, 'max_attempts')) or 1\n"
    "local entry = redis.call('HGET', h, 'entry')\n"
    "local doc = entry_doc(jobs, entry)\n"
    "local reason\n"
    "if attempts >= max then\n"
    "  reason = 'gave up after ' .. attempts .. ' attempts; last: ' .. ARGV[4]\n"
    "elseif not doc then\n"
    "  reason = 'its stream entry was deleted; last: ' .. ARGV[4]\n"
    "end\n"
    "if reason then\n"
    "  dead_letter(dead, ARGV[7], id, entry or '', reason, attempts, doc, ARGV[8])\n"
    "  drop_entry(jobs, group, entry); finish(h, ev, ttl, id, 'dead', reason)\n"
    "  keep_doc(h, doc)\n"
    "  return {'dead', reason}\n"
    "end\n"
    "local delay = math.min(tonumber(ARGV[6]), tonumber(ARGV[5]) * 2 ^ (attempts - 1))\n"
    "delay = math.floor(delay)\n"
    "local nb = now_ms() + delay\n"
    "redis.call('HSET', h, 'state', 'queued', 'error', ARGV[4], 'not_before', nb,\n"
    "           'doc', doc, 'entry', '')\n"
    "redis.call('ZADD', delayed, nb, id)\n"
    "drop_entry(jobs, group, entry)\n"
    "emit(ev, {type = 'retry', id = id, attempt = attempts, error = ARGV[4], delay_ms = delay})\n"
    "return {'retry', delay}\n";

/* reject: dead-letter a malformed job at once.
 * KEYS: job hash ('' when the entry names no valid id), jobs, events ('' likewise),
 * dead.  ARGV: entry, id, reason, token ('' when not claimed), group, ttl, dead
 * maxlen, doc cap, doc_sha. */
static const char reject_lua[] =
    PRELUDE "local h, jobs, ev, dead = KEYS[1], KEYS[2], KEYS[3], KEYS[4]\n"
	    "local entry, id, reason, group = ARGV[1], ARGV[2], ARGV[3], ARGV[5]\n"
	    "local attempts = 0\n"
	    "if h ~= '' then\n"
	    "  local st = redis.call('HGET', h, 'state')\n"
	    "  if ARGV[4] ~= '' then\n"
	    "    if not owns(h, ARGV[4], ARGV[9]) then return stale(h) end\n"
	    "    if st == 'cancelled' then confirm_stop(h); return {'cancelled'} end\n"
	    "    if st ~= 'running' then return {'already', cut(st, 32)} end\n"
	    "    entry = redis.call('HGET', h, 'entry') or entry\n"
	    "  elseif is_final(st) then\n"
	    "    drop_entry(jobs, group, entry); return {'already', cut(st, 32)}\n"
	    "  end\n"
	    "  attempts = tonumber(redis.call('HGET', h, 'attempts')) or 0\n"
	    "end\n"
	    "local doc = entry_doc(jobs, entry)\n"
	    "dead_letter(dead, ARGV[7], id, entry, reason, attempts, doc, ARGV[8])\n"
	    "drop_entry(jobs, group, entry)\n"
	    "if h ~= '' then\n"
	    "  if redis.call('EXISTS', h) == 0 then\n"
	    "    redis.call('HSET', h, 'id', id, 'attempts', 0, 'created', now_ms())\n"
	    "    remember(jobs, id, now_ms())\n"
	    "  end\n"
	    "  finish(h, ev, ARGV[6], id, 'dead', reason)\n"
	    "  keep_doc(h, doc)\n"
	    "end\n"
	    "return {'ok', 'dead'}\n";

/* cancel: a queued or running job ends 'cancelled' at once, in this one step, so the
 * answer is what happened: {'cancelled', was} or {'final', state} when it had already
 * ended (too late). A running job's worker is told at once: the job id goes onto its
 * list P:cancel:<worker>, on which its fetch connection always blocks, and it kills the
 * sandbox; its heartbeat finds the job no longer running too. The claim keeps its token,
 * so the worker's answer (a completion, which records nothing but `stopped`) confirms
 * the sandbox is gone. Answers {'cancelled', 'running', worker, ms since its last
 * heartbeat} for a running job.
 * KEYS: job hash, jobs, events, delayed.  ARGV: group, ttl, id, prefix. */
static const char cancel_lua[] =
    PRELUDE "local h, jobs, ev, delayed = KEYS[1], KEYS[2], KEYS[3], KEYS[4]\n"
	    "local group, ttl, id, prefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4]\n"
	    "local st = redis.call('HGET', h, 'state')\n"
	    "if not st then return {'missing'} end\n"
	    "if st ~= 'queued' and st ~= 'running' then return {'final', cut(st, 32)} end\n"
	    "local worker = redis.call('HGET', h, 'worker')\n"
	    "drop_entry(jobs, group, redis.call('HGET', h, 'entry'))\n"
	    "redis.call('ZREM', delayed, id)\n"
	    "redis.call('HSET', h, 'cancel', '1', 'entry', '')\n"
	    "redis.call('HDEL', h, 'stopped')\n"
	    "finish(h, ev, ttl, id, 'cancelled', 'cancelled by request')\n"
	    "if redis.call('HGET', h, 'split') then\n"
	    "  stop_children(prefix, h, id, ttl, 'its parent job ' .. id .. ' was cancelled')\n"
	    "end\n"
	    "if st == 'running' and worker then\n"
	    "  local k = prefix .. ':cancel:' .. worker\n"
	    "  redis.call('LPUSH', k, id)\n"
	    "  redis.call('LTRIM', k, 0, 255)\n"
	    "  redis.call('EXPIRE', k, math.min(tonumber(ttl), 3600))\n"
	    "  local hb = tonumber(redis.call('HGET', h, 'heartbeat')) or 0\n"
	    "  return {'cancelled', 'running', cut(worker, 200), now_ms() - hb}\n"
	    "end\n"
	    "return {'cancelled', st}\n";

/* status: the job hash for `reelbox status`, each value at most cap bytes and all of
 * them at most budget bytes; internal fields (doc, token, entry, doc_sha) stay in Redis.
 * KEYS: job hash.  ARGV: cap, budget.  Answers {} for an unknown job, else
 * {{field, value, ...}, {omitted field, ...}}. A hash of more than 64 fields (a
 * producer's doing) is read by the documented field names only. */
static const char status_lua[] = PRELUDE
    "local h, cap, budget = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "local n = redis.call('HLEN', h)\n"
    "if n == 0 then return {} end\n"
    "local keys = {'id', 'state', 'attempts', 'max_attempts', 'created', 'started', 'heartbeat',\n"
    "              'finished', 'not_before', 'worker', 'progress_frames', 'progress_total', "
    "'cancel',\n"
    "              'output', 'bytes', 'sha256', 'frames', 'exit_code', 'signal', 'error', 'log',\n"
    "              'result', 'stopped', 'prompt', 'script', 'parent', 'chunk_index',\n"
    "              'chunks_total', 'chunks_done', 'chunk_fallback', 'chunk_workers'}\n"
    "if n <= 64 then keys = redis.call('HKEYS', h) end\n"
    "local hidden = {doc = 1, token = 1, entry = 1, doc_sha = 1, chunk_doc = 1, join_doc = 1,\n"
    "                whole_doc = 1, join_sha = 1, whole_sha = 1, chunk_sha = 1, split = 1,\n"
    "                splits = 1, chunk_group = 1, split_token = 1}\n"
    "local out, omitted, used = {}, {}, 0\n"
    "for _, k in ipairs(keys) do\n"
    "  if #k <= 64 and not hidden[k] then\n"
    "    local len = redis.call('HSTRLEN', h, k)\n"
    "    if len > cap or used + len > budget then\n"
    "      omitted[#omitted + 1] = k\n"
    "    elseif len > 0 or redis.call('HEXISTS', h, k) == 1 then\n"
    "      out[#out + 1] = k\n"
    "      out[#out + 1] = redis.call('HGET', h, k)\n"
    "      used = used + len\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return {out, omitted}\n";

/* event: the next event after a cursor, without blocking.
 * KEYS: events.  ARGV: cursor ("0" for the first), cap.  Answers {} when there is none,
 * else {entry, data}, data '' when it is over cap bytes (the caller still moves past it). */
static const char event_lua[] =
    PRELUDE "local r = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', 1)\n"
	    "if #r == 0 then return {} end\n"
	    "local f, data = r[1][2], ''\n"
	    "for i = 1, #f, 2 do\n"
	    "  if f[i] == 'data' and #f[i + 1] <= tonumber(ARGV[2]) then data = f[i + 1] end\n"
	    "end\n"
	    "return {r[1][1], data}\n";

/* requeue: `reelbox retry`, a failed or dead job back to the queue under the same id,
 * from the document its hash kept when it ended (keep_doc). Its attempts start again
 * at 0; its result, error, claim and log go; a 'retry' event says it was by request. It
 * answers {'missing'}, {'state', state} for a job in another state, {'nodoc'} for one
 * whose document was not kept (over the cap, or gone with its entry), or {'ok', entry}.
 * KEYS: job hash, jobs, events.  ARGV: id, group. */
static const char requeue_lua[] =
    PRELUDE "local h, jobs, ev, id = KEYS[1], KEYS[2], KEYS[3], ARGV[1]\n"
	    "local st = redis.call('HGET', h, 'state')\n"
	    "if not st then return {'missing'} end\n"
	    "if st ~= 'failed' and st ~= 'dead' then return {'state', cut(st, 32)} end\n"
	    "local parent = redis.call('HGET', h, 'parent')\n"
	    "if parent then return {'child', cut(parent, 64)} end\n"
	    "local doc = redis.call('HGET', h, 'chunk_doc') or redis.call('HGET', h, 'doc')\n"
	    "if not doc then return {'nodoc'} end\n"
	    "redis.pcall('XGROUP', 'CREATE', jobs, ARGV[2], '0', 'MKSTREAM')\n"
	    "local e = redis.call('XADD', jobs, '*', 'id', id, 'job', doc)\n"
	    "doc = nil\n"
	    "redis.call('HDEL', h, 'doc', 'finished', 'error', 'not_before', 'cancel', 'stopped',\n"
	    "           'token', 'doc_sha', 'started', 'heartbeat', 'progress_frames',\n"
	    "           'progress_total', 'output', 'bytes', 'sha256', 'frames', 'exit_code',\n"
	    "           'signal', 'log', 'result', 'poster', 'script', 'split', 'chunks_total',\n"
	    "           'chunks_done', 'chunk_doc', 'join_doc', 'join_sha', 'whole_doc',\n"
	    "           'whole_sha', 'join_queued', 'chunk_fallback', 'chunk_workers')\n"
	    "redis.call('DEL', h .. ':chunks')\n"
	    "redis.call('HSET', h, 'state', 'queued', 'attempts', 0, 'entry', e)\n"
	    "redis.call('DEL', h .. ':log')\n" /* attempts start again: so does the log */
	    "redis.call('PERSIST', h)\n"
	    "redis.call('PERSIST', ev)\n"
	    "remember(jobs, id, now_ms())\n"
	    "emit(ev, {type = 'retry', id = id, attempt = 0, error = 'retried by request',\n"
	    "          delay_ms = 0, by = 'request', was = st})\n"
	    "ring(jobs .. ':wake', 1)\n"
	    "return {'ok', e}\n";

/* delete: `reelbox delete`, a finished job's hash, events and index entry gone at once.
 * A queued or running job is refused ({'state', state}: cancel it first), so no worker
 * ever holds a job whose hash is gone by this path. Answers {'missing'} or {'ok', state}.
 * KEYS: job hash, events, index, delayed.  ARGV: id. */
static const char delete_lua[] =
    PRELUDE "local h, ev, idx, delayed, id = KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1]\n"
	    "local st = redis.call('HGET', h, 'state')\n"
	    "if not st then\n"
	    "  if redis.call('EXISTS', h) == 1 then return {'state', ''} end\n"
	    "  return {'missing'}\n"
	    "end\n"
	    "if not is_final(st) then return {'state', cut(st, 32)} end\n"
	    "local p = job_prefix(h, id)\n"
	    "local n = tonumber(redis.call('HGET', h, 'chunks_total')) or 0\n"
	    "for k = 0, (p and n or 0) - 1 do\n"
	    "  local ch = p .. ':job:' .. id .. '-c' .. k\n"
	    "  if redis.call('HGET', ch, 'parent') == id and\n"
	    "     is_final(redis.call('HGET', ch, 'state')) then\n"
	    "    redis.call('DEL', ch, ch .. ':events', ch .. ':log', ch .. ':chunks')\n"
	    "  end\n"
	    "end\n"
	    "redis.call('DEL', h, ev, h .. ':log', h .. ':chunks')\n"
	    "redis.call('ZREM', idx, id)\n"
	    "redis.call('ZREM', delayed, id)\n"
	    "return {'ok', st}\n";

/* list: the most recent jobs of the index P:jobs:recent (newest first), each row
 * {id, state, attempts, max_attempts, created, started, finished, worker,
 * progress_frames, progress_total, error}, every value cut to QUEUE_LIST_VALUE_MAX bytes.
 * KEYS: the index.  ARGV: prefix, state ('' for any), limit, most ids to look at.
 * Answers {now_ms, row, ...}. The work is bounded by the ids looked at, the reply by the
 * limit and the cut: an index entry whose hash expired (or a name that is no job id, or
 * a key that is not a hash) is skipped and removed, once the scan is over, so the index
 * cleans itself as results expire. */
static const char list_lua[] = PRELUDE
    "local idx, prefix, want = KEYS[1], ARGV[1], ARGV[2]\n"
    "local limit, scan = tonumber(ARGV[3]), tonumber(ARGV[4])\n"
    "local cap = 256\n" /* QUEUE_LIST_VALUE_MAX */
    "local fields = {'state', 'attempts', 'max_attempts', 'created', 'started', 'finished',\n"
    "                'worker', 'progress_frames', 'progress_total', 'error'}\n"
    "local out, gone, seen, start = {now_ms()}, {}, 0, 0\n"
    "while #out - 1 < limit and seen < scan do\n"
    "  local ids = redis.call('ZREVRANGE', idx, start, start + 99)\n"
    "  if #ids == 0 then break end\n"
    "  start = start + #ids\n"
    "  for _, id in ipairs(ids) do\n"
    "    seen = seen + 1\n"
    "    local v = {}\n"
    "    if valid_id(id) then\n"
    "      v = redis.pcall('HMGET', prefix .. ':job:' .. id, unpack(fields))\n"
    "      if v.err then v = {} end\n"
    "    end\n"
    "    if not v[1] then\n"
    "      gone[#gone + 1] = id\n"
    "    elseif want == '' or v[1] == want then\n"
    "      local row = {id}\n"
    "      for i = 1, #fields do row[#row + 1] = cut(v[i] or '', cap) end\n"
    "      out[#out + 1] = row\n"
    "      if #out - 1 >= limit then break end\n"
    "    end\n"
    "    if seen >= scan then break end\n"
    "  end\n"
    "end\n"
    "for _, id in ipairs(gone) do redis.call('ZREM', idx, id) end\n"
    "return out\n";

/* log: a batch of a running job's log lines appended to its log stream, by the claim
 * that holds it (the fence: a worker that lost the job writes nothing). The stream is
 * trimmed to about ARGV[4] entries and gets the result TTL at each append, so the log
 * of a job whose worker vanished goes away by itself; finish() gives it the result's
 * TTL and delete removes it. KEYS: job hash, log.  ARGV: token, attempt, text, maxlen,
 * ttl. */
static const char log_lua[] =
    PRELUDE "local h, log = KEYS[1], KEYS[2]\n"
	    "if redis.call('HGET', h, 'token') ~= ARGV[1] or\n"
	    "   redis.call('HGET', h, 'state') ~= 'running' then return stale(h) end\n"
	    "redis.call('XADD', log, 'MAXLEN', '~', ARGV[4], '*', 'a', ARGV[2], 't', ARGV[3])\n"
	    "redis.call('EXPIRE', log, ARGV[5])\n"
	    "return 0\n";

/* logread: the job's state and its log entries after a cursor, each {entry, attempt,
 * text}, at most ARGV[2] entries and ARGV[3] bytes of text (an entry a hand-written
 * XADD made bigger than ARGV[4] is cut), so the reply is bounded whatever the stream
 * holds. {'missing'} for an unknown job. KEYS: job hash, log.  ARGV: cursor, count,
 * budget, entry cap. */
static const char logread_lua[] =
    PRELUDE "local st = redis.call('HGET', KEYS[1], 'state')\n"
	    "if not st then return {'missing'} end\n"
	    "local out, used, cap = {'ok', cut(st, 32)}, 0, tonumber(ARGV[4])\n"
	    "local r = redis.call('XRANGE', KEYS[2], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])\n"
	    "for _, e in ipairs(r) do\n"
	    "  local a, t = '0', ''\n"
	    "  for i = 1, #e[2], 2 do\n"
	    "    if e[2][i] == 'a' then a = cut(e[2][i + 1], 12)\n"
	    "    elseif e[2][i] == 't' then t = cut(e[2][i + 1], cap) end\n"
	    "  end\n"
	    "  if used > 0 and used + #t > tonumber(ARGV[3]) then break end\n"
	    "  used = used + #t\n"
	    "  out[#out + 1] = e[1]; out[#out + 1] = a; out[#out + 1] = t\n"
	    "end\n"
	    "return out\n";

/* announce: a worker's entry in the registry P:workers (`reelbox top`, the dashboard),
 * its JSON with "name" and "seen" (Redis's clock) set here; removed at a clean stop.
 * KEYS: the registry.  ARGV: name, JSON object (at most 1 KiB), leaving (1 or 0). */
static const char announce_lua[] =
    PRELUDE "if ARGV[3] == '1' then redis.call('HDEL', KEYS[1], ARGV[1]); return 0 end\n"
	    "local ok, d = pcall(cjson.decode, ARGV[2])\n"
	    "if not ok or type(d) ~= 'table' then return redis.error_reply('bad announce') end\n"
	    "d.name = ARGV[1]; d.seen = now_ms()\n"
	    "redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(d))\n"
	    "return 0\n";

/* split: a claimed job with "chunks" becomes its children, in one step (docs/queue.md,
 * "Chunked jobs"). The claim is checked like a completion's; the children (documents the
 * worker built, ids <id>-c<k>) are queued as ordinary jobs whose hashes name their parent
 * and the digest of the document this script gave them (chunk_sha: a producer's document
 * claiming to be a chunk never has it); the parent keeps its original, join and whole
 * documents and their digests, stays running with no entry and no token (no worker holds
 * it until the join), and its attempts start again for the join. Ids of an earlier split's
 * children (a retried parent) are reused; any other job under such an id refuses the split:
 * {'bad', sentence}. Replayed by the same claim: {'ok', 'already'}.
 * KEYS: job hash, jobs, events.  ARGV: token, doc_sha, group, ttl, id, total frames, join
 * document, whole document, JSON array of the child documents. */
static const char split_lua[] = PRELUDE
    "local h, jobs, ev = KEYS[1], KEYS[2], KEYS[3]\n"
    "local token, sha, group, ttl, id = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]\n"
    "if redis.call('HGET', h, 'split_token') == token then return {'ok', 'already'} end\n"
    "local st = redis.call('HGET', h, 'state')\n"
    "if not owns(h, token, sha) then return stale(h) end\n"
    "if st == 'cancelled' then confirm_stop(h); return {'cancelled'} end\n"
    "if st ~= 'running' then return {'already', cut(st, 32)} end\n"
    "local p = job_prefix(h, id)\n"
    "local ok, kids = pcall(cjson.decode, ARGV[9])\n"
    "if not p or not ok or type(kids) ~= 'table' or #kids < 2 or #kids > 64 then\n"
    "  return {'bad', 'the split of job ' .. id .. ' carries no list of 2 to 64 child documents'}\n"
    "end\n"
    "local old = tonumber(redis.call('HGET', h, 'chunks_total')) or 0\n"
    "for k = 0, math.max(old, #kids) - 1 do\n"
    "  local cid = id .. '-c' .. k\n"
    "  local ch = p .. ':job:' .. cid\n"
    "  local cst = redis.call('HGET', ch, 'state')\n"
    "  if not valid_id(cid) then\n"
    "    return {'bad', 'child id ' .. cid .. ' is longer than 63 characters'}\n"
    "  end\n"
    "  if redis.call('EXISTS', ch) == 1 and\n"
    "     (redis.call('HGET', ch, 'parent') ~= id or not is_final(cst)) then\n"
    "    return {'bad', 'job id ' .. cid .. ' is taken by another job (' .. cut(cst or '?', 32) "
    "..\n"
    "                   '): a chunked job needs ids <id>-c0 .. -c' .. (#kids - 1) .. ' free'}\n"
    "  end\n"
    "end\n"
    "for k = 0, math.max(old, #kids) - 1 do\n"
    "  local ch = p .. ':job:' .. id .. '-c' .. k\n"
    "  if redis.call('EXISTS', ch) == 1 then\n"
    "    redis.call('DEL', ch, ch .. ':events', ch .. ':log', ch .. ':chunks')\n"
    "  end\n"
    "end\n"
    "local entry = redis.call('HGET', h, 'entry')\n"
    "local doc = entry_doc(jobs, entry) or redis.call('HGET', h, 'chunk_doc')\n"
    "if not doc then return {'bad', 'the stream entry of job ' .. id .. ' is gone'} end\n"
    "drop_entry(jobs, group, entry)\n"
    "local gen = redis.call('HINCRBY', h, 'splits', 1)\n"
    "local max = redis.call('HGET', h, 'max_attempts') or '3'\n"
    "local now = now_ms()\n"
    "for k = 1, #kids do\n"
    "  local cid = id .. '-c' .. (k - 1)\n"
    "  local ch = p .. ':job:' .. cid\n"
    "  local d = kids[k]\n"
    "  if type(d) ~= 'string' then return redis.error_reply('split: child document not a string') "
    "end\n"
    "  local e = redis.call('XADD', jobs, '*', 'id', cid, 'job', d)\n"
    "  redis.call('HSET', ch, 'id', cid, 'state', 'queued', 'attempts', 0, 'max_attempts', max,\n"
    "             'created', now, 'entry', e, 'parent', id, 'chunk_index', k - 1, 'split', gen,\n"
    "             'chunk_sha', redis.sha1hex(d))\n"
    "  emit(ch .. ':events', {type = 'queued', id = cid})\n"
    "end\n"
    "redis.call('DEL', h .. ':chunks')\n"
    "redis.call('HSET', h, 'split', gen, 'split_token', token, 'chunks_total', #kids,\n"
    "           'chunks_done', 0, 'chunk_group', group, 'chunk_doc', doc, 'join_doc', ARGV[7],\n"
    "           'join_sha', redis.sha1hex(ARGV[7]), 'whole_doc', ARGV[8],\n"
    "           'whole_sha', redis.sha1hex(ARGV[8]), 'entry', '', 'attempts', 0,\n"
    "           'progress_frames', 0, 'progress_total', ARGV[6])\n"
    "redis.call('HDEL', h, 'token', 'doc_sha', 'chunk_fallback', 'join_queued', 'chunk_workers')\n"
    "ring(jobs .. ':wake', #kids)\n"
    "emit(ev, {type = 'progress', id = id, frames = 0, total = tonumber(ARGV[6])})\n"
    "return {'ok', #kids}\n";

const char *const queue_scripts[QS_COUNT] = {
    [QS_SUBMIT] = submit_lua,	  [QS_CLAIM] = claim_lua,	[QS_HEARTBEAT] = heartbeat_lua,
    [QS_PROGRESS] = progress_lua, [QS_COMPLETE] = complete_lua, [QS_RETRY] = retry_lua,
    [QS_REJECT] = reject_lua,	  [QS_CANCEL] = cancel_lua,	[QS_TAKE] = take_lua,
    [QS_STATUS] = status_lua,	  [QS_EVENT] = event_lua,	[QS_LIST] = list_lua,
    [QS_REQUEUE] = requeue_lua,	  [QS_DELETE] = delete_lua,	[QS_LOG] = log_lua,
    [QS_LOGREAD] = logread_lua,	  [QS_ANNOUNCE] = announce_lua, [QS_SPLIT] = split_lua,
};

const char *const queue_script_names[QS_COUNT] = {
    [QS_SUBMIT] = "submit",	[QS_CLAIM] = "claim",	    [QS_HEARTBEAT] = "heartbeat",
    [QS_PROGRESS] = "progress", [QS_COMPLETE] = "complete", [QS_RETRY] = "retry",
    [QS_REJECT] = "reject",	[QS_CANCEL] = "cancel",	    [QS_TAKE] = "take",
    [QS_STATUS] = "status",	[QS_EVENT] = "event",	    [QS_LIST] = "list",
    [QS_REQUEUE] = "requeue",	[QS_DELETE] = "delete",	    [QS_LOG] = "log",
    [QS_LOGREAD] = "logread",	[QS_ANNOUNCE] = "announce", [QS_SPLIT] = "split",
};
