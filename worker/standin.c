/* standin.c - the demo's stand-in model: OpenAI chat-completions on loopback (see standin.h).
 *
 * Why libmicrohttpd with a thread of its own, not worker/http.c: http.c serves GETs on the
 * worker's libuv loop, while `reelbox demo` (and a test) needs a server that answers no
 * matter what the calling thread is doing, including blocking in model_ask_sync. MHD's
 * internal polling thread gives exactly that; everything it touches here is either
 * read-only (the embedded scenarios, the key) or atomic (the counters).
 *
 * Stateless by design: which answer to give is read from the request itself (the first
 * user message names the scenario, the assistant turns already in the conversation say
 * which attempt this is), so a retried request, two workers or a restarted demo all get
 * the same answer for the same conversation.
 */
#define _GNU_SOURCE
#include "standin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "lazylib.h"

#define STANDIN_PATH		"/v1/chat/completions"
#define STANDIN_MODEL		"reelbox-standin"
#define STANDIN_DISCARD_MAX	(64u << 20) /* past this a too-big body just closes the link */
#define STANDIN_MAX_CONNECTIONS 32u
#define STANDIN_IDLE_TIMEOUT_S	60u
#define STANDIN_HTTP_TOO_LARGE	413u /* MHD_HTTP_CONTENT_TOO_LARGE, missing from older MHDs */

struct standin {
	struct MHD_Daemon *daemon;
	char *key;
	size_t key_len;
	atomic_uint requests;
	atomic_int key_elsewhere;
};

/* One request's body as it arrives; freed when MHD says the request is done. */
struct standin_req {
	char *body;
	size_t len, cap, received;
	int too_big;
};

const struct demo_scenario *demo_scenario_find(const char *id)
{
	for (size_t i = 0; id && i < demo_n_scenarios; i++)
		if (!strcmp(demo_scenarios[i].id, id))
			return &demo_scenarios[i];
	return NULL;
}

/* ---- answers ---- */

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *root)
{
	char *text = root ? json_dumps(root, JSON_COMPACT) : NULL;
	struct MHD_Response *resp;
	enum MHD_Result ret;

	json_decref(root);
	if (!text)
		return MHD_NO;
	/* json_dumps' buffer is the C library's malloc (this project keeps jansson's
	 * defaults), so MHD may free() it. */
	resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "POST");
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* An error in OpenAI's shape: {"error": {"message", "type", "param", "code"}}. */
static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *type,
				  const char *code, const char *message)
{
	return send_json(c, status,
			 json_pack("{s:{s:s,s:s,s:n,s:s?}}", "error", "message", message, "type",
				   type, "param", "code", code));
}

/* The text of a message's "content": a string, or OpenAI's array of parts, whose "text"
 * parts are joined. malloc'd ("" when there is none), NULL without memory. */
static char *content_text(const json_t *msg)
{
	const json_t *content = json_object_get(msg, "content"), *part;
	size_t i, len = 0;
	char *out;

	if (json_is_string(content))
		return strdup(json_string_value(content));
	json_array_foreach(content, i, part) len +=
	    json_string_length(json_object_get(part, "text"));
	if (!(out = malloc(len + 1)))
		return NULL;
	len = 0;
	json_array_foreach(content, i, part)
	{
		const json_t *t = json_object_get(part, "text");

		memcpy(out + len, json_string_value(t) ? json_string_value(t) : "",
		       json_string_length(t));
		len += json_string_length(t);
	}
	out[len] = '\0';
	return out;
}

/* The scenario whose prompt is in text: the longest match, so a prompt that contains
 * another's cannot be mistaken for it. */
static const struct demo_scenario *match_scenario(const char *text)
{
	const struct demo_scenario *best = NULL;
	size_t best_len = 0;

	for (size_t i = 0; text && i < demo_n_scenarios; i++) {
		size_t len = strlen(demo_scenarios[i].prompt);

		if (len > best_len && strstr(text, demo_scenarios[i].prompt)) {
			best = &demo_scenarios[i];
			best_len = len;
		}
	}
	return best;
}

/* What the stand-in says to a prompt it has no recording for. malloc'd or NULL. */
static char *unknown_answer(void)
{
	size_t len = 512;
	char *out;

	for (size_t i = 0; i < demo_n_scenarios; i++)
		len += strlen(demo_scenarios[i].id) + 2;
	if (!(out = malloc(len)))
		return NULL;
	snprintf(out, len,
		 "I am reelbox's stand-in model: I replay the answers recorded for `reelbox demo` "
		 "(examples/demo) and know only its prompts (");
	for (size_t i = 0; i < demo_n_scenarios; i++) {
		strcat(out, demo_scenarios[i].id);
		strcat(out, i + 1 < demo_n_scenarios ? ", " : "");
	}
	strcat(out, "). To have any other prompt answered, point REELBOX_MODEL_URL and "
		    "REELBOX_MODEL_KEY at a real model.");
	return out;
}

/* The chat.completion object for answer, with usage estimated at 4 bytes a token. */
static json_t *completion(const char *model, const char *answer, size_t prompt_bytes)
{
	static atomic_uint serial;
	char id[64];
	json_int_t in = (json_int_t)((prompt_bytes + 3) / 4);
	json_int_t out = (json_int_t)((strlen(answer) + 3) / 4);

	snprintf(id, sizeof(id), "chatcmpl-standin-%u", atomic_fetch_add(&serial, 1) + 1);
	return json_pack("{s:s,s:s,s:I,s:s,s:[{s:i,s:{s:s,s:s},s:n,s:s}],s:{s:I,s:I,s:I}}", "id",
			 id, "object", "chat.completion", "created", (json_int_t)time(NULL),
			 "model", model, "choices", "index", 0, "message", "role", "assistant",
			 "content", answer, "logprobs", "finish_reason", "stop", "usage",
			 "prompt_tokens", in, "completion_tokens", out, "total_tokens", in + out);
}

/* A parsed request's answer: the scenario of its first user message, attempt number
 * (assistant turns so far) picking the recorded answer. */
static enum MHD_Result answer_request(struct MHD_Connection *c, const json_t *root)
{
	const json_t *msgs = json_object_get(root, "messages"), *m;
	const char *model = json_string_value(json_object_get(root, "model"));
	const struct demo_scenario *sc = NULL;
	size_t i, assistants = 0, prompt_bytes = 0;
	char *first_user = NULL, *unknown = NULL;
	enum MHD_Result ret;

	if (!json_is_array(msgs) || !json_array_size(msgs))
		return send_error(c, MHD_HTTP_BAD_REQUEST, "invalid_request_error", NULL,
				  "'messages' must be a non-empty array of messages.");
	json_array_foreach(msgs, i, m)
	{
		const char *role = json_string_value(json_object_get(m, "role"));
		char *text = content_text(m);

		prompt_bytes += text ? strlen(text) : 0;
		if (role && !strcmp(role, "assistant"))
			assistants++;
		if (role && !strcmp(role, "user") && !first_user)
			first_user = text;
		else
			free(text);
	}
	sc = match_scenario(first_user);
	free(first_user);
	if (!sc && !(unknown = unknown_answer()))
		return MHD_NO;
	ret = send_json(
	    c, MHD_HTTP_OK,
	    completion(model ? model : STANDIN_MODEL,
		       sc ? sc->answers[assistants < sc->n_answers ? assistants : sc->n_answers - 1]
			  : unknown,
		       prompt_bytes));
	free(unknown);
	return ret;
}

/* ---- the key ---- */

static int holds_key(const struct standin *s, const char *p, size_t len)
{
	return p && len >= s->key_len && memmem(p, len, s->key, s->key_len);
}

static int holds_key_str(const struct standin *s, const char *p)
{
	return p && holds_key(s, p, strlen(p));
}

/* Any string in a JSON value, keys included, that holds the key: the raw body may have
 * it escaped ("\u0073k-..."), the decoded text cannot. */
static int json_holds_key(const struct standin *s, const json_t *v)
{
	const char *name;
	const json_t *child;
	size_t i;

	if (json_is_string(v))
		return holds_key(s, json_string_value(v), json_string_length(v));
	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, name,
				    child) if (holds_key_str(s, name) ||
					       json_holds_key(s, child)) return 1;
	}
	json_array_foreach(v, i, child) if (json_holds_key(s, child)) return 1;
	return 0;
}

static enum MHD_Result seen_in_value(void *cls, enum MHD_ValueKind kind, const char *name,
				     const char *value)
{
	struct standin *s = cls;

	/* The one place the key belongs; anywhere else it would end up in a log. */
	if (kind == MHD_HEADER_KIND && !strcasecmp(name, MHD_HTTP_HEADER_AUTHORIZATION))
		return MHD_YES;
	if (holds_key_str(s, name) || holds_key_str(s, value))
		atomic_store(&s->key_elsewhere, 1);
	return MHD_YES;
}

/* Note the key if the request carries it outside its Authorization header. */
static void scan_for_key(struct standin *s, struct MHD_Connection *c, const char *url,
			 const struct standin_req *r)
{
	MHD_get_connection_values(c, MHD_HEADER_KIND | MHD_GET_ARGUMENT_KIND | MHD_FOOTER_KIND,
				  seen_in_value, s);
	if (holds_key_str(s, url) || holds_key(s, r->body, r->len))
		atomic_store(&s->key_elsewhere, 1);
}

/* "Bearer KEY", the scheme's case aside, compared in constant time. */
static int authorized(const struct standin *s, struct MHD_Connection *c)
{
	const char *v =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	unsigned char diff = 0;

	if (!v || strncasecmp(v, "Bearer ", 7) || strlen(v + 7) != s->key_len)
		return 0;
	/* A byte-by-byte early exit would let a client time its way to the key. */
	for (size_t i = 0; i < s->key_len; i++)
		diff |= (unsigned char)(v[7 + i] ^ s->key[i]);
	return diff == 0;
}

/* ---- a request ---- */

/* The body so far: kept up to STANDIN_BODY_MAX, then counted and dropped; -1 (close the
 * connection) past STANDIN_DISCARD_MAX, so a client cannot keep it reading for ever. */
static int take_body(struct standin_req *r, const char *data, size_t n)
{
	r->received += n;
	if (r->received > STANDIN_DISCARD_MAX)
		return -1;
	if (r->too_big || r->len + n > STANDIN_BODY_MAX) {
		r->too_big = 1;
		free(r->body);
		r->body = NULL;
		r->len = r->cap = 0;
		return 0;
	}
	if (r->len + n + 1 > r->cap) {
		size_t cap = r->cap ? r->cap : 16384;
		char *p;

		while (cap < r->len + n + 1)
			cap *= 2;
		if (!(p = realloc(r->body, cap)))
			return -1;
		r->body = p;
		r->cap = cap;
	}
	memcpy(r->body + r->len, data, n);
	r->len += n;
	r->body[r->len] = '\0';
	return 0;
}

static enum MHD_Result respond(struct standin *s, struct MHD_Connection *c, const char *url,
			       const char *method, struct standin_req *r)
{
	json_error_t jerr;
	json_t *root;
	enum MHD_Result ret;

	atomic_fetch_add(&s->requests, 1);
	scan_for_key(s, c, url, r);
	if (strcmp(method, MHD_HTTP_METHOD_POST))
		return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "invalid_request_error", NULL,
				  "Only POST is served here.");
	if (strcmp(url, STANDIN_PATH))
		return send_error(c, MHD_HTTP_NOT_FOUND, "invalid_request_error", "unknown_url",
				  "Unknown URL: the stand-in model serves only POST " STANDIN_PATH
				  ".");
	if (!authorized(s, c))
		return send_error(c, MHD_HTTP_UNAUTHORIZED, "invalid_request_error",
				  "invalid_api_key",
				  "Incorrect or missing API key: send the key the demo started the "
				  "stand-in model with, as Authorization: Bearer KEY.");
	if (r->too_big)
		return send_error(c, STANDIN_HTTP_TOO_LARGE, "invalid_request_error",
				  "request_too_large",
				  "The request body is larger than the stand-in's 8 MiB limit.");
	if (!(root = json_loadb(r->body ? r->body : "", r->len, 0, &jerr)))
		return send_error(c, MHD_HTTP_BAD_REQUEST, "invalid_request_error", NULL,
				  "We could not parse the JSON body of your request.");
	if (json_holds_key(s, root))
		atomic_store(&s->key_elsewhere, 1);
	ret = answer_request(c, root);
	json_decref(root);
	return ret;
}

/* MHD calls this once with no data (the headers are in), once per piece of the body, and
 * once more with none: the answer goes out on that last call. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_len, void **ctx)
{
	struct standin_req *r = *ctx;

	(void)version;
	if (!r) {
		if (!(r = calloc(1, sizeof(*r))))
			return MHD_NO;
		*ctx = r;
		return MHD_YES;
	}
	if (*upload_len) {
		if (take_body(r, upload, *upload_len) < 0)
			return MHD_NO;
		*upload_len = 0;
		return MHD_YES;
	}
	return respond(cls, c, url, method, r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **ctx,
			 enum MHD_RequestTerminationCode why)
{
	struct standin_req *r = *ctx;

	(void)cls;
	(void)c;
	(void)why;
	if (r) {
		free(r->body);
		free(r);
		*ctx = NULL;
	}
}

/* ---- the server ---- */

static int key_ok(const char *key)
{
	if (!key || !*key)
		return 0;
	/* A key that could end the header line would let it add headers of its own. */
	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		if (*p <= ' ' || *p == 0x7f)
			return 0;
	return 1;
}

int standin_start(const char *key, uint16_t *port, struct standin **out, char *err, size_t errlen)
{
	/* Loopback only: the stand-in is for this host's worker, never for the network. */
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port ? *port : 0)};
	const union MHD_DaemonInfo *info;
	struct standin *s;
	int rc;

	*out = NULL;
	if (!port || !key_ok(key)) {
		snprintf(err, errlen,
			 "the stand-in model needs a port to write to and a key of printable "
			 "characters without spaces");
		return -EINVAL;
	}
	if ((rc = rb_lib_load(RB_LIB_MHD, err, errlen)) < 0)
		return rc;
	if (!(s = calloc(1, sizeof(*s))) || !(s->key = strdup(key))) {
		free(s);
		snprintf(err, errlen, "out of memory starting the stand-in model");
		return -ENOMEM;
	}
	s->key_len = strlen(key);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	errno = 0;
	s->daemon = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, *port, NULL, NULL, on_request, s,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED,
	    on_completed, s, MHD_OPTION_CONNECTION_LIMIT, STANDIN_MAX_CONNECTIONS,
	    MHD_OPTION_CONNECTION_TIMEOUT, STANDIN_IDLE_TIMEOUT_S, MHD_OPTION_END);
	if (!s->daemon) {
		rc = errno ? -errno : -EADDRINUSE;
		snprintf(err, errlen,
			 "the stand-in model cannot listen on 127.0.0.1:%u: %s; pick another "
			 "port or 0 for any free one",
			 (unsigned)*port, strerror(-rc));
		standin_stop(s);
		return rc;
	}
	info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	if (info && info->port)
		*port = info->port;
	*out = s;
	return 0;
}

unsigned standin_requests(const struct standin *s)
{
	return s ? atomic_load(&((struct standin *)s)->requests) : 0;
}

int standin_key_seen_elsewhere(const struct standin *s)
{
	return s ? atomic_load(&((struct standin *)s)->key_elsewhere) : 0;
}

void standin_stop(struct standin *s)
{
	if (!s)
		return;
	if (s->daemon)
		MHD_stop_daemon(s->daemon);
	if (s->key) {
		explicit_bzero(s->key, s->key_len);
		free(s->key);
	}
	free(s);
}
