/* model.c - the two model dialects over httpc, and the script in an answer (see model.h).
 *
 * One call is: build the request JSON once, POST it, and on a 429, a 5xx or a lost
 * connection wait (the server's Retry-After, capped, else an exponential backoff with
 * jitter so a farm of workers does not retry in step) and POST it again, a bounded number
 * of times. A 2xx answer is parsed strictly: the fields the dialect promises must be there
 * with the right types, or the call fails with a sentence saying which one was not.
 *
 * The key: it is copied once into the call, put into one header per exchange (the header
 * string is wiped as soon as httpc has its own copy, and httpc wipes that one), and wiped
 * when the call ends. Whatever comes back - the answer, a server's error message - is
 * redacted before it leaves this file, and every sentence is redacted again on the way
 * out, so a server that echoes the key (or a proxy that logs it into an error page)
 * cannot put it into a job's result, a log or Redis.
 */
#define _GNU_SOURCE
#include "model.h"
#include "utf8.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#define REDACTED	"[redacted]"
#define QUOTE_MAX	200 /* bytes of a server's error message a sentence quotes */
#define URL_SHOWN_MAX	200
#define BACKOFF_MAX_MS	60000u
#define KEY_ENV_DEFAULT "REELBOX_MODEL_KEY"

struct model_call {
	struct httpc *http;
	enum model_api api;
	char *endpoint;		   /* url + "/chat/completions" or "/messages" */
	char shown[URL_SHOWN_MAX]; /* the URL as sentences show it: no userinfo, no query */
	char *key;
	char key_env[64];
	char *body;
	size_t body_len;
	unsigned timeout_ms, connect_timeout_ms, retries, backoff_ms, ra_cap_ms;
	size_t max_response;
	struct httpc_req *req;
	uv_timer_t *timer; /* the wait before a retry; freed in its close callback */
	unsigned http_calls;
	uint64_t start_ns, rng;
	int in_done;
	model_done_cb done;
	void *arg;
};

__attribute__((format(printf, 3, 4))) static void say(char *err, size_t errlen, const char *fmt,
						      ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

char *model_redact(const char *s, size_t len, const char *key, size_t *outlen)
{
	size_t klen = key ? strlen(key) : 0, n = 0, o = 0;
	const char *p, *hit;
	char *out;

	if (klen)
		for (p = s; (hit = memmem(p, len - (size_t)(p - s), key, klen)); p = hit + klen)
			n++;
	out = malloc(len - n * klen + n * (sizeof(REDACTED) - 1) + 1);
	if (!out)
		return NULL;
	for (p = s; n && (hit = memmem(p, len - (size_t)(p - s), key, klen)); p = hit + klen) {
		memcpy(out + o, p, (size_t)(hit - p));
		o += (size_t)(hit - p);
		memcpy(out + o, REDACTED, sizeof(REDACTED) - 1);
		o += sizeof(REDACTED) - 1;
	}
	memcpy(out + o, p, len - (size_t)(p - s));
	o += len - (size_t)(p - s);
	out[o] = '\0';
	if (outlen)
		*outlen = o;
	return out;
}

void model_answer_free(struct model_answer *ans)
{
	if (!ans)
		return;
	free(ans->text);
	ans->text = NULL;
	ans->text_len = 0;
}

/* ---- the request ---- */

/* http://user:pass@host:8000/v1?x=y -> http://host:8000/v1: a URL's userinfo or query
 * may hold a credential, and the URL is in every sentence. */
static void show_url(const char *url, char *out, size_t len)
{
	const char *host = strstr(url, "://"), *path, *at;
	size_t n;

	host = host ? host + 3 : url;
	path = host + strcspn(host, "/?#");
	at = memchr(host, '@', (size_t)(path - host));
	n = (size_t)(host - url);
	snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), url);
	if (at)
		host = at + 1;
	n = strlen(out);
	snprintf(out + n, len - n, "%.*s", (int)strcspn(host, "?#"), host);
	n = strlen(out);
	while (n > 0 && out[n - 1] == '/')
		out[--n] = '\0';
}

static int check_turns(const struct model_turn *turns, size_t n, char *err, size_t errlen)
{
	if (!n || turns[0].role != MODEL_USER || turns[n - 1].role != MODEL_USER) {
		say(err, errlen, "a model conversation starts and ends with a user turn");
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (!turns[i].text || (i && turns[i].role == turns[i - 1].role)) {
			say(err, errlen, "model turn %zu is empty or repeats the previous role",
			    i + 1);
			return -EINVAL;
		}
	}
	return 0;
}

static int append_msg(json_t *msgs, const char *role, const char *text)
{
	json_t *t = json_stringn(text, strlen(text));

	/* json_stringn refuses ill-formed UTF-8: the caller sanitizes what it quotes. */
	return t ? json_array_append_new(msgs, json_pack("{s:s,s:o}", "role", role, "content", t))
		 : -1;
}

static json_t *messages_json(const struct model_config *cfg, const char *system,
			     const struct model_turn *turns, size_t n)
{
	json_t *msgs = json_array();
	int bad = !msgs;

	if (!bad && cfg->api == MODEL_API_OPENAI && system && *system)
		bad = append_msg(msgs, "system", system) < 0;
	for (size_t i = 0; i < n && !bad; i++)
		bad = append_msg(msgs, turns[i].role == MODEL_USER ? "user" : "assistant",
				 turns[i].text) < 0;
	if (bad) {
		json_decref(msgs);
		return NULL;
	}
	return msgs;
}

/* Anthropic requires max_tokens; OpenAI's newer models refuse it (they want
 * max_completion_tokens), so that dialect sends it only when the operator set one. */
static int build_body(struct model_call *c, const struct model_config *cfg, const char *system,
		      const struct model_turn *turns, size_t n, char *err, size_t errlen)
{
	unsigned max_tokens = cfg->max_tokens ? cfg->max_tokens : MODEL_DEFAULT_MAX_TOKENS;
	json_t *msgs = messages_json(cfg, system, turns, n), *root = NULL;
	int bad = 0;

	if (msgs)
		root = json_pack("{s:s,s:o}", "model", cfg->name, "messages", msgs);
	if (root && (cfg->api == MODEL_API_ANTHROPIC || cfg->max_tokens))
		bad |= json_object_set_new(root, "max_tokens", json_integer(max_tokens));
	if (root && cfg->api == MODEL_API_ANTHROPIC && system && *system)
		bad |= json_object_set_new(root, "system", json_stringn(system, strlen(system)));
	if (root && !bad)
		c->body = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (!c->body) {
		say(err, errlen,
		    "the model request could not be built: the prompt, a turn or the model name "
		    "is not valid UTF-8 (or memory ran out)");
		return -EINVAL;
	}
	c->body_len = strlen(c->body);
	return 0;
}

static int key_ok(const char *key)
{
	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		if (*p < 0x21 || *p > 0x7e)
			return 0;
	return 1;
}

static void call_free(struct model_call *c);

static int call_setup(struct model_call *c, const struct model_config *cfg, char *err,
		      size_t errlen)
{
	const char *path = cfg->api == MODEL_API_ANTHROPIC ? "/messages" : "/chat/completions";
	size_t ulen = strlen(cfg->url);

	while (ulen && cfg->url[ulen - 1] == '/')
		ulen--;
	show_url(cfg->url, c->shown, sizeof(c->shown));
	snprintf(c->key_env, sizeof(c->key_env), "%s",
		 cfg->key_env ? cfg->key_env : KEY_ENV_DEFAULT);
	if (asprintf(&c->endpoint, "%.*s%s", (int)ulen, cfg->url, path) < 0) {
		c->endpoint = NULL;
		return -ENOMEM;
	}
	if (cfg->key && *cfg->key && !(c->key = strdup(cfg->key)))
		return -ENOMEM;
	c->api = cfg->api;
	c->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : MODEL_DEFAULT_TIMEOUT_MS;
	c->connect_timeout_ms =
	    cfg->connect_timeout_ms ? cfg->connect_timeout_ms : MODEL_DEFAULT_CONNECT_TIMEOUT_MS;
	c->max_response = cfg->max_response ? cfg->max_response : MODEL_DEFAULT_MAX_RESPONSE;
	c->retries = cfg->retries == MODEL_NO_RETRIES ? 0
		     : cfg->retries		      ? cfg->retries
						      : MODEL_DEFAULT_RETRIES;
	c->backoff_ms = cfg->backoff_ms ? cfg->backoff_ms : MODEL_DEFAULT_BACKOFF_MS;
	c->ra_cap_ms =
	    cfg->retry_after_cap_ms ? cfg->retry_after_cap_ms : MODEL_DEFAULT_RETRY_AFTER_CAP_MS;
	c->start_ns = uv_hrtime();
	c->rng = c->start_ns | 1;
	return 0;
}

static int check_config(const struct model_config *cfg, char *err, size_t errlen)
{
	if (!cfg->url ||
	    (strncasecmp(cfg->url, "http://", 7) && strncasecmp(cfg->url, "https://", 8))) {
		say(err, errlen,
		    "the model URL must start with http:// or https://; check "
		    "REELBOX_MODEL_URL");
		return -EINVAL;
	}
	if (!cfg->name || !*cfg->name) {
		say(err, errlen,
		    "no model name is set; set REELBOX_MODEL_NAME or the config's "
		    "model.name");
		return -EINVAL;
	}
	if (cfg->key && !key_ok(cfg->key)) {
		/* A line break in the key would let it write headers of its own. */
		say(err, errlen, "the model key contains a space or a control character; check %s",
		    cfg->key_env ? cfg->key_env : KEY_ENV_DEFAULT);
		return -EINVAL;
	}
	return 0;
}

static void on_http_done(struct httpc_req *req, struct httpc_response *res, void *arg);

/* One exchange. The header carrying the key is built here and wiped as soon as httpc
 * has copied it. */
static int start_http(struct model_call *c, char *err, size_t errlen)
{
	const char *headers[5] = {"Content-Type: application/json"};
	char *auth = NULL;
	struct httpc_request rq = {.method = "POST",
				   .url = c->endpoint,
				   .headers = headers,
				   .body = c->body,
				   .body_len = c->body_len,
				   .timeout_ms = c->timeout_ms,
				   .connect_timeout_ms = c->connect_timeout_ms,
				   .max_response = c->max_response};
	int n = 1, rc;

	if (c->api == MODEL_API_ANTHROPIC)
		headers[n++] = "anthropic-version: " MODEL_ANTHROPIC_VERSION;
	if (c->key &&
	    asprintf(&auth,
		     c->api == MODEL_API_ANTHROPIC ? "x-api-key: %s" : "Authorization: Bearer %s",
		     c->key) < 0) {
		say(err, errlen, "out of memory calling the model");
		return -ENOMEM;
	}
	if (auth)
		headers[n++] = auth;
	rc = httpc_start(c->http, &rq, on_http_done, c, &c->req, err, errlen);
	if (auth) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	if (!rc)
		c->http_calls++;
	return rc;
}

int model_ask(struct httpc *http, const struct model_config *cfg, const char *system,
	      const struct model_turn *turns, size_t nturns, model_done_cb done, void *arg,
	      struct model_call **out, char *err, size_t errlen)
{
	struct model_call *c;
	int rc;

	if (out)
		*out = NULL;
	if ((rc = check_config(cfg, err, errlen)) < 0 ||
	    (rc = check_turns(turns, nturns, err, errlen)) < 0)
		return rc;
	if (!(c = calloc(1, sizeof(*c)))) {
		say(err, errlen, "out of memory calling the model");
		return -ENOMEM;
	}
	c->http = http;
	c->done = done;
	c->arg = arg;
	if ((rc = call_setup(c, cfg, err, errlen)) < 0) {
		say(err, errlen, "out of memory calling the model");
		call_free(c);
		return rc;
	}
	if ((rc = build_body(c, cfg, system, turns, nturns, err, errlen)) < 0 ||
	    (rc = start_http(c, err, errlen)) < 0) {
		call_free(c);
		return rc;
	}
	if (out)
		*out = c;
	return 0;
}

/* ---- the answer ---- */

static void timer_closed(uv_handle_t *h)
{
	free(h);
}

static void call_free(struct model_call *c)
{
	if (c->req)
		httpc_cancel(c->req);
	if (c->timer) {
		uv_timer_stop(c->timer);
		uv_close((uv_handle_t *)c->timer, timer_closed);
	}
	if (c->key) {
		explicit_bzero(c->key, strlen(c->key));
		free(c->key);
	}
	free(c->endpoint);
	free(c->body);
	free(c);
}

void model_cancel(struct model_call *c)
{
	if (c && !c->in_done)
		call_free(c);
}

/* Every sentence leaves through here, redacted once more whatever built it. */
static void complete(struct model_call *c, int rc, struct model_answer *ans, const char *sentence)
{
	struct model_answer none = {.input_tokens = -1, .output_tokens = -1};
	char *safe = NULL;

	if (!ans)
		ans = &none;
	ans->ms = (unsigned)((uv_hrtime() - c->start_ns) / 1000000u);
	ans->http_calls = c->http_calls;
	if (rc < 0)
		safe = model_redact(sentence, strlen(sentence), c->key, NULL);
	c->in_done = 1;
	c->req = NULL;
	c->done(c, rc, ans, rc < 0 ? (safe ? safe : "model call failed") : NULL, c->arg);
	free(safe);
	call_free(c);
}

static long json_count(json_t *obj, const char *name)
{
	json_t *v = json_object_get(obj, name);

	return json_is_integer(v) && json_integer_value(v) >= 0 ? (long)json_integer_value(v) : -1;
}

static int set_text(struct model_call *c, struct model_answer *a, const char *s, size_t len)
{
	a->text = model_redact(s, len, c->key, &a->text_len);
	return a->text ? 0 : -ENOMEM;
}

static const char *parse_openai(struct model_call *c, json_t *root, struct model_answer *a)
{
	json_t *choices = json_object_get(root, "choices"), *c0, *content;
	const char *fin;

	if (!json_is_array(choices) || !json_array_size(choices))
		return "the answer has no \"choices\"";
	c0 = json_array_get(choices, 0);
	content = json_object_get(json_object_get(c0, "message"), "content");
	if (!json_is_string(content))
		return "the answer has no text (choices[0].message.content is not a string)";
	if (set_text(c, a, json_string_value(content), json_string_length(content)) < 0)
		return "out of memory reading the answer";
	fin = json_string_value(json_object_get(c0, "finish_reason"));
	a->truncated = fin && !strcmp(fin, "length");
	a->input_tokens = json_count(json_object_get(root, "usage"), "prompt_tokens");
	a->output_tokens = json_count(json_object_get(root, "usage"), "completion_tokens");
	return NULL;
}

static const char *parse_anthropic(struct model_call *c, json_t *root, struct model_answer *a)
{
	json_t *content = json_object_get(root, "content"), *block;
	const char *type = json_string_value(json_object_get(root, "type")), *stop;
	size_t i, total = 0, o = 0;
	char *text;

	if (type && strcmp(type, "message"))
		return "the answer's \"type\" is not \"message\"";
	if (!json_is_array(content))
		return "the answer has no \"content\" list";
	json_array_foreach(content, i, block) if (json_is_string(json_object_get(block, "text")))
	    total += json_string_length(json_object_get(block, "text"));
	if (!(text = malloc(total + 1)))
		return "out of memory reading the answer";
	json_array_foreach(content, i, block)
	{
		json_t *t = json_object_get(block, "text");
		const char *bt = json_string_value(json_object_get(block, "type"));

		if (bt && !strcmp(bt, "text") && json_is_string(t)) {
			memcpy(text + o, json_string_value(t), json_string_length(t));
			o += json_string_length(t);
		}
	}
	text[o] = '\0';
	if (set_text(c, a, text, o) < 0)
		a->text = NULL;
	free(text);
	if (!a->text)
		return "out of memory reading the answer";
	stop = json_string_value(json_object_get(root, "stop_reason"));
	a->truncated = stop && !strcmp(stop, "max_tokens");
	a->input_tokens = json_count(json_object_get(root, "usage"), "input_tokens");
	a->output_tokens = json_count(json_object_get(root, "usage"), "output_tokens");
	return NULL;
}

/* What made an answer unreadable, in words that do not quote it. */
static const char *json_fault(const json_error_t *e)
{
	switch (json_error_code(e)) {
	case json_error_invalid_utf8:
		return "bytes that are not UTF-8";
	case json_error_null_character:
		return "a NUL character";
	case json_error_duplicate_key:
		return "a key given twice";
	case json_error_premature_end_of_input:
		return "an answer cut short";
	default:
		return "a syntax error";
	}
}

static void answer_ok(struct model_call *c, const struct httpc_response *res)
{
	struct model_answer a = {.input_tokens = -1, .output_tokens = -1};
	char sentence[MODEL_ERROR_MAX];
	const char *why;
	json_error_t jerr;
	json_t *root = json_loadb(res->body, res->body_len, JSON_REJECT_DUPLICATES, &jerr);

	if (!json_is_object(root)) {
		/* Not jansson's text: it quotes the bytes near the error, maybe part of a key. */
		snprintf(sentence, sizeof(sentence),
			 "model at %s: the answer is not a JSON object (%s at byte %d of %zu); "
			 "check that the URL speaks the %s API",
			 c->shown, root ? "another JSON value" : json_fault(&jerr),
			 root ? 0 : jerr.position, res->body_len,
			 c->api == MODEL_API_ANTHROPIC ? "Anthropic Messages"
						       : "OpenAI chat-completions");
		json_decref(root);
		complete(c, -EPROTO, NULL, sentence);
		return;
	}
	why = c->api == MODEL_API_ANTHROPIC ? parse_anthropic(c, root, &a)
					    : parse_openai(c, root, &a);
	json_decref(root);
	if (why) {
		model_answer_free(&a);
		snprintf(sentence, sizeof(sentence), "model at %s: %s", c->shown, why);
		complete(c, strstr(why, "memory") ? -ENOMEM : -EPROTO, NULL, sentence);
		return;
	}
	complete(c, 0, &a, NULL);
}

static const char *reason(long status)
{
	static const struct {
		long status;
		const char *text;
	} t[] = {{400, "Bad Request"},	      {401, "Unauthorized"},
		 {403, "Forbidden"},	      {404, "Not Found"},
		 {405, "Method Not Allowed"}, {408, "Request Timeout"},
		 {413, "Payload Too Large"},  {422, "Unprocessable Entity"},
		 {429, "Too Many Requests"},  {500, "Internal Server Error"},
		 {502, "Bad Gateway"},	      {503, "Service Unavailable"},
		 {504, "Gateway Timeout"},    {529, "Overloaded"}};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i].status == status)
			return t[i].text;
	return status >= 500   ? "Server Error"
	       : status >= 400 ? "Client Error"
			       : "Unexpected Status";
}

/* The server's own words from an error body ({"error": {"message": ...}} in both
 * dialects, {"message": ...} or {"detail": ...} from others): redacted whole, then cut
 * to QUOTE_MAX terminal-safe bytes. Empty when the body says nothing usable. */
static void server_message(struct model_call *c, const struct httpc_response *res, char *out,
			   size_t len)
{
	json_t *root = json_loadb(res->body, res->body_len, 0, NULL), *e;
	const char *m = NULL;
	char *red;
	size_t rlen, cap = len < QUOTE_MAX + 1 ? len : QUOTE_MAX + 1;

	out[0] = '\0';
	e = json_object_get(root, "error");
	m = json_string_value(json_object_get(e, "message"));
	if (!m)
		m = json_string_value(e);
	if (!m)
		m = json_string_value(json_object_get(root, "message"));
	if (!m)
		m = json_string_value(json_object_get(root, "detail"));
	if (m && *m && (red = model_redact(m, strlen(m), c->key, &rlen))) {
		rlen = utf8_sanitize_term(out, cap, red, rlen);
		while (rlen && (out[rlen - 1] == '.' || isspace((unsigned char)out[rlen - 1])))
			out[--rlen] = '\0'; /* the sentence goes on after it */
		free(red);
	}
	json_decref(root);
}

static void http_failed(struct model_call *c, const struct httpc_response *res, int tries)
{
	char msg[QUOTE_MAX + 1], sentence[MODEL_ERROR_MAX], after[32] = "";
	const char *sep;
	long st = res->status;

	server_message(c, res, msg, sizeof(msg));
	sep = msg[0] ? ": " : "";
	if (tries > 1)
		snprintf(after, sizeof(after), " after %d tries", tries);
	if (st == 401 || st == 403) {
		snprintf(sentence, sizeof(sentence), "model at %s: %ld %s%s%s: %s %s", c->shown, st,
			 reason(st), sep, msg, c->key ? "check" : "no key was sent: set",
			 c->key_env);
		complete(c, -EACCES, NULL, sentence);
	} else if (st == 429) {
		snprintf(
		    sentence, sizeof(sentence),
		    "model at %s: 429 Too Many Requests%s%s%s: the key's rate limit is reached; "
		    "try later or run fewer slots",
		    c->shown, after, sep, msg);
		complete(c, -EAGAIN, NULL, sentence);
	} else if (st >= 500) {
		snprintf(sentence, sizeof(sentence), "model at %s: %ld %s%s%s%s", c->shown, st,
			 reason(st), after, sep, msg);
		complete(c, -EAGAIN, NULL, sentence);
	} else {
		snprintf(sentence, sizeof(sentence), "model at %s: %ld %s%s%s%s", c->shown, st,
			 reason(st), sep, msg,
			 st == 404
			     ? "; check the model URL (the base, e.g. .../v1) and the model name"
			     : "");
		complete(c, -EPROTO, NULL, sentence);
	}
}

static void on_retry_timer(uv_timer_t *t)
{
	struct model_call *c = t->data;
	char err[HTTPC_ERROR_MAX], sentence[MODEL_ERROR_MAX];
	int rc = start_http(c, err, sizeof(err));

	if (rc < 0) {
		snprintf(sentence, sizeof(sentence), "model at %s: %s", c->shown, err);
		complete(c, rc, NULL, sentence);
	}
}

/* Wait before exchange number http_calls + 1: the server's Retry-After when it gave one
 * (capped: a server cannot park a slot for an hour), else backoff_ms doubled per retry,
 * drawn from its upper half so workers that failed together do not retry together. */
static int schedule_retry(struct model_call *c, long retry_after_ms)
{
	uint64_t wait = c->backoff_ms;

	if (retry_after_ms >= 0)
		wait = (uint64_t)retry_after_ms < c->ra_cap_ms ? (uint64_t)retry_after_ms
							       : c->ra_cap_ms;
	else {
		for (unsigned i = 1; i < c->http_calls && wait < BACKOFF_MAX_MS; i++)
			wait *= 2;
		if (wait > BACKOFF_MAX_MS)
			wait = BACKOFF_MAX_MS;
		c->rng ^= c->rng << 13, c->rng ^= c->rng >> 7, c->rng ^= c->rng << 17;
		wait = wait / 2 + c->rng % (wait / 2 + 1);
	}
	if (!c->timer) {
		if (!(c->timer = calloc(1, sizeof(*c->timer))))
			return -ENOMEM;
		uv_timer_init(httpc_loop(c->http), c->timer);
		c->timer->data = c;
	}
	return uv_timer_start(c->timer, on_retry_timer, wait, 0);
}

static int retryable(const struct httpc_response *res)
{
	if (res->err)
		return res->err == -ECONNREFUSED || res->err == -ECONNRESET;
	return res->status == 429 || (res->status >= 500 && res->status <= 599);
}

static void on_http_done(struct httpc_req *req, struct httpc_response *res, void *arg)
{
	struct model_call *c = arg;
	char sentence[MODEL_ERROR_MAX];

	c->req = NULL;
	if (retryable(res) && c->http_calls <= c->retries &&
	    schedule_retry(c, res->err ? -1 : res->retry_after_ms) == 0)
		return;
	if (res->err) {
		snprintf(sentence, sizeof(sentence), "model at %s: %s%s", c->shown, res->error,
			 res->err == -ETIMEDOUT ? "; the model may be busy, or raise model.timeout"
						: "");
		complete(c, res->err, NULL, sentence);
	} else if (res->status >= 200 && res->status <= 299)
		answer_ok(c, res);
	else
		http_failed(c, res, (int)c->http_calls);
}

/* ---- blocking, for `reelbox run` ---- */

struct sync_result {
	int rc, finished;
	struct model_answer *ans;
	char *err;
	size_t errlen;
};

static void sync_done(struct model_call *call, int rc, struct model_answer *ans, const char *err,
		      void *arg)
{
	struct sync_result *r = arg;

	r->rc = rc;
	r->finished = 1;
	*r->ans = *ans;
	ans->text = NULL;
	if (rc < 0)
		say(r->err, r->errlen, "%s", err);
}

int model_ask_sync(const struct model_config *cfg, const char *system,
		   const struct model_turn *turns, size_t nturns, struct model_answer *ans,
		   char *err, size_t errlen)
{
	struct sync_result r = {.ans = ans, .err = err, .errlen = errlen};
	struct httpc *http;
	uv_loop_t loop;
	int rc;

	memset(ans, 0, sizeof(*ans));
	if (uv_loop_init(&loop) < 0) {
		say(err, errlen, "could not start an event loop for the model call");
		return -ENOMEM;
	}
	rc = httpc_new(&http, &loop, err, errlen);
	if (!rc && (rc = model_ask(http, cfg, system, turns, nturns, sync_done, &r, NULL, err,
				   errlen)) == 0) {
		uv_run(&loop, UV_RUN_DEFAULT);
		rc = r.finished ? r.rc : -EIO;
	}
	if (http)
		httpc_free(http);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	return rc;
}

/* ---- the script in an answer ---- */

static const struct {
	const char *tag, *runtime;
} tags[] = {{"python", "python3"}, {"py", "python3"},	   {"python3", "python3"},
	    {"sh", "sh"},	   {"bash", "sh"},	   {"shell", "sh"},
	    {"js", "node"},	   {"javascript", "node"}, {"node", "node"},
	    {"lua", "lua"}};

static const char *const all_runtimes[] = {"python3", "sh", "node", "lua", NULL};

static const char *runtime_of_tag(const char *tag, size_t len)
{
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
		if (strlen(tags[i].tag) == len && !strncasecmp(tags[i].tag, tag, len))
			return tags[i].runtime;
	return NULL;
}

/* #!/usr/bin/env -S python3 -u -> python3; #!/bin/bash -> sh; versions are fine
 * (python3.11, lua5.4). Sets *name to the interpreter's base name for sentences. */
static const char *runtime_of_shebang(const char *code, char *name, size_t namelen)
{
	const char *p = code + 2, *eol = code + strcspn(code, "\r\n"), *w, *base;
	size_t n;

	name[0] = '\0';
	if (strncmp(code, "#!", 2))
		return NULL;
	for (;;) {
		while (p < eol && (*p == ' ' || *p == '\t'))
			p++;
		for (w = p; p < eol && *p != ' ' && *p != '\t'; p++)
			;
		if (w == p)
			return NULL;
		base = memrchr(w, '/', (size_t)(p - w));
		base = base ? base + 1 : w;
		n = (size_t)(p - base);
		if ((n == 3 && !strncmp(base, "env", 3)) || *base == '-')
			continue;
		break;
	}
	utf8_sanitize_term(name, namelen, base, n);
	if (!strncmp(name, "python", 6))
		return "python3";
	if (!strcmp(name, "sh") || !strcmp(name, "bash") || !strcmp(name, "dash"))
		return "sh";
	if (!strcmp(name, "node") || !strcmp(name, "nodejs"))
		return "node";
	if (!strncmp(name, "lua", 3) && strncmp(name, "luajit", 6))
		return "lua";
	return NULL;
}

static void list_runtimes(const char *const *offered, char *out, size_t len)
{
	size_t n = 0, o = 0;

	while (offered[n])
		n++;
	out[0] = '\0';
	for (size_t i = 0; i < n && o < len; i++) {
		snprintf(out + o, len - o, "%s%s",
			 i == 0	      ? ""
			 : i + 1 == n ? " or "
				      : ", ",
			 offered[i]);
		o = strlen(out);
	}
}

struct fence {
	char ch;
	size_t count, indent;
	const char *info, *body, *body_end;
	size_t info_len;
	unsigned line;
	int closed;
};

static int only_blank(const char *p, const char *end)
{
	for (; p < end; p++)
		if (!isspace((unsigned char)*p))
			return 0;
	return 1;
}

/* The first line of 3+ backticks or tildes opens a block (an info string with a backtick
 * is inline code, not a fence); a line of at least as many of the same character, with
 * nothing after them, closes it. Indentation of the opening line is any run of spaces
 * (a block inside a list item), and that much is later taken off every line. */
static int find_fence(const char *s, size_t len, struct fence *f)
{
	const char *p = s, *end = s + len;
	unsigned line = 0;

	memset(f, 0, sizeof(*f));
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p)), *next, *q = p;
		size_t n = 0;

		next = eol ? eol + 1 : end;
		eol = eol ? eol : end;
		line++;
		while (q < eol && *q == ' ')
			q++;
		if (q < eol && (*q == '`' || *q == '~'))
			while (q + n < eol && q[n] == *q)
				n++;
		if (n >= 3 && !f->body) {
			const char *info = q + n;

			while (info < eol && isspace((unsigned char)*info))
				info++;
			if (!(*q == '`' && memchr(info, '`', (size_t)(eol - info)))) {
				*f = (struct fence){.ch = *q,
						    .count = n,
						    .indent = (size_t)(q - p),
						    .body = next,
						    .line = line};
				while (info < eol && (*info == '{' || *info == '.'))
					info++;
				f->info = info;
				while (info + f->info_len < eol &&
				       !strchr(" \t\r{},", info[f->info_len]))
					f->info_len++;
			}
		} else if (n >= f->count && f->body && *q == f->ch && only_blank(q + n, eol)) {
			f->body_end = p;
			f->closed = 1;
			return 1;
		}
		p = next;
	}
	if (f->body)
		f->body_end = end;
	return f->body != NULL;
}

/* Copy lines of s[0..len), taking up to indent spaces off each and every CR before a
 * line feed (a shell script with CRLF endings fails in confusing ways). */
static char *copy_lines(const char *s, size_t len, size_t indent, size_t *outlen)
{
	char *out = malloc(len + 2), *o = out;
	const char *p = s, *end = s + len;

	if (!out)
		return NULL;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *stop = eol ? eol : end;

		for (size_t i = 0; i < indent && p < stop && *p == ' '; i++)
			p++;
		if (stop > p && stop[-1] == '\r')
			stop--;
		memcpy(o, p, (size_t)(stop - p));
		o += stop - p;
		*o++ = '\n';
		p = eol ? eol + 1 : end;
	}
	*o = '\0';
	*outlen = (size_t)(o - out);
	return out;
}

/* The runtime the block's tag (else the script's shebang) names, or NULL when neither
 * names one; a name this worker cannot run or does not offer is a sentence for the model. */
static int name_runtime(const struct fence *f, struct model_script *out, const char *const *offered,
			char *err, size_t errlen)
{
	char name[64], list[128];
	const char *what = "the code block is tagged";
	size_t i;

	list_runtimes(offered, list, sizeof(list));
	if (f && f->info_len) {
		utf8_sanitize_term(name, sizeof(name), f->info, f->info_len);
		out->runtime = runtime_of_tag(f->info, f->info_len);
	} else {
		out->runtime = runtime_of_shebang(out->code, name, sizeof(name));
		what = "the script's first line runs";
		if (!name[0])
			return 0;
	}
	if (!out->runtime) {
		say(err, errlen,
		    "%s '%s', which this worker cannot run; answer with one fenced block tagged %s",
		    what, name, list);
		return -EINVAL;
	}
	for (i = 0; offered[i]; i++)
		if (!strcmp(offered[i], out->runtime))
			return 0;
	say(err, errlen,
	    "the script is %s, which this worker does not offer; answer with one fenced block "
	    "tagged %s",
	    out->runtime, list);
	return -EINVAL;
}

int model_extract_script(const char *answer, size_t len, size_t max_len, const char *const *offered,
			 struct model_script *out, char *err, size_t errlen)
{
	struct fence f;
	const char *s = answer;
	int fenced = find_fence(answer, len, &f), rc;

	memset(out, 0, sizeof(*out));
	offered = offered ? offered : all_runtimes;
	if (fenced && !f.closed) {
		say(err, errlen,
		    "the code block that opens on line %u is never closed (was the answer cut "
		    "short?); answer with the whole script in one fenced block",
		    f.line);
		return -EINVAL;
	}
	if (!fenced) {
		while (s < answer + len && isspace((unsigned char)*s))
			s++;
		f = (struct fence){.body = s, .body_end = answer + len};
		while (f.body_end > s && isspace((unsigned char)f.body_end[-1]))
			f.body_end--;
	}
	if (only_blank(f.body, f.body_end)) {
		say(err, errlen,
		    fenced ? "the code block is empty; answer with the whole script in it"
			   : "the answer is empty; answer with a script in one fenced "
			     "code block");
		return -EINVAL;
	}
	if (!(out->code = copy_lines(f.body, (size_t)(f.body_end - f.body), f.indent, &out->len))) {
		say(err, errlen, "out of memory taking the script from the answer");
		return -ENOMEM;
	}
	out->fenced = fenced;
	if (max_len && out->len > max_len) {
		say(err, errlen,
		    "the script is %zu bytes, over this worker's %zu-byte limit; write "
		    "a shorter script",
		    out->len, max_len);
		model_script_free(out);
		return -EFBIG;
	}
	if ((rc = name_runtime(fenced ? &f : NULL, out, offered, err, errlen)) < 0)
		model_script_free(out);
	return rc;
}

void model_script_free(struct model_script *s)
{
	if (!s)
		return;
	free(s->code);
	s->code = NULL;
	s->len = 0;
	s->runtime = NULL;
}
