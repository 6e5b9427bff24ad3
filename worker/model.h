/* model.h - asking a language model for a script, in the two dialects reelbox speaks.
 *
 * The worker (never the sandbox) calls the model: the API key that pays for the answer
 * stays in the worker's memory. This module turns a system prompt and a conversation into
 * one HTTP exchange over httpc (OpenAI chat-completions or Anthropic Messages), retries
 * what is worth retrying, parses the answer strictly, and hands back the text with the key
 * redacted. It knows nothing of jobs, Redis or the sandbox; the repair loop is the
 * caller's. It also holds the one rule for taking a script out of an answer.
 *
 * Every failure is one sentence that names the endpoint and says what to do, e.g.
 * "model at http://127.0.0.1:8000/v1: 401 Unauthorized: check REELBOX_MODEL_KEY". No
 * sentence, answer or error ever contains the key: the key goes into one request header,
 * and any text coming back is redacted ("[redacted]") before it is returned.
 */
#ifndef REELBOX_MODEL_H
#define REELBOX_MODEL_H

#include <stddef.h>

#include <uv.h>

#include "httpc.h"

enum model_api {
	MODEL_API_OPENAI,    /* POST {url}/chat/completions, Authorization: Bearer KEY */
	MODEL_API_ANTHROPIC, /* POST {url}/messages, x-api-key: KEY, anthropic-version */
};

enum model_role { MODEL_USER, MODEL_ASSISTANT };

#define MODEL_ERROR_MAX		768
#define MODEL_ANTHROPIC_VERSION "2023-06-01"

/* What a field of struct model_config left 0 means. */
#define MODEL_DEFAULT_TIMEOUT_MS	 120000u
#define MODEL_DEFAULT_CONNECT_TIMEOUT_MS 10000u
#define MODEL_DEFAULT_MAX_RESPONSE	 (4u << 20)
#define MODEL_DEFAULT_RETRIES		 3u
#define MODEL_DEFAULT_BACKOFF_MS	 1000u
#define MODEL_DEFAULT_RETRY_AFTER_CAP_MS 30000u
#define MODEL_DEFAULT_MAX_TOKENS	 4096u
#define MODEL_NO_RETRIES		 (~0u)

struct model_config {
	enum model_api api;
	const char *url;     /* the base, e.g. http://127.0.0.1:8000/v1 (no trailing path) */
	const char *name;    /* the "model" field */
	const char *key;     /* NULL or "" sends no key header (local servers without auth) */
	const char *key_env; /* named in 401/403 sentences; NULL means REELBOX_MODEL_KEY */
	unsigned timeout_ms; /* one HTTP exchange, total */
	unsigned connect_timeout_ms;
	size_t max_response;	     /* bytes of one HTTP response body */
	unsigned retries;	     /* extra exchanges after a 429, a 5xx or a lost connection;
				      * MODEL_NO_RETRIES for none */
	unsigned backoff_ms;	     /* the first wait; doubled each retry (with jitter) */
	unsigned retry_after_cap_ms; /* a server's Retry-After is honoured up to this */
	unsigned max_tokens;	     /* sent as max_tokens (Anthropic requires one) */
};

struct model_turn {
	enum model_role role;
	const char *text;
};

struct model_answer {
	char *text; /* the answer, key redacted, NUL-terminated; owned */
	size_t text_len;
	long input_tokens;   /* -1 when the API did not say */
	long output_tokens;  /* -1 when the API did not say */
	int truncated;	     /* 1 when the model stopped at max_tokens */
	unsigned ms;	     /* wall time of the whole call, retries and waits included */
	unsigned http_calls; /* HTTP exchanges made */
};

struct model_call;

/* rc is 0 with ans filled (the callback owns ans->text: model_answer_free()), or a
 * negative errno with a sentence in err (then ans->text is NULL but ms and http_calls
 * are set): -ETIMEDOUT, -ECONNREFUSED, -EHOSTUNREACH, -EFBIG, -ECONNRESET (transport),
 * -EACCES (401/403), -EAGAIN (429 or 5xx after every retry), -EPROTO (a malformed answer
 * or another HTTP status). The call is freed after the callback returns. */
typedef void (*model_done_cb)(struct model_call *call, int rc, struct model_answer *ans,
			      const char *err, void *arg);

/* Ask the model: system is the system prompt, turns the conversation (it starts and ends
 * with a user turn, and roles alternate). Everything is copied; the key is wiped from
 * this module's copies when the call ends. Returns 0 (done will run on the loop, never
 * from inside this function), or -EINVAL/-ENOMEM with a sentence in err. */
int model_ask(struct httpc *http, const struct model_config *cfg, const char *system,
	      const struct model_turn *turns, size_t nturns, model_done_cb done, void *arg,
	      struct model_call **out, char *err, size_t errlen);

/* Stop a call (its HTTP request or its wait before a retry); done is never called.
 * Cancel (or let finish) every call before httpc_free() of the client it runs on. */
void model_cancel(struct model_call *call);

/* The same, blocking on a private loop: for `reelbox run`. */
int model_ask_sync(const struct model_config *cfg, const char *system,
		   const struct model_turn *turns, size_t nturns, struct model_answer *ans,
		   char *err, size_t errlen);

void model_answer_free(struct model_answer *ans);

/* A copy of s[0..len) with every occurrence of key replaced by "[redacted]" (no change
 * when key is NULL or ""); NULL when out of memory. *outlen, if non-NULL, gets its
 * length. */
char *model_redact(const char *s, size_t len, const char *key, size_t *outlen);

/* ---- the script in an answer ---- */

struct model_script {
	char *code; /* owned; NUL-terminated */
	size_t len;
	const char *runtime; /* "python3", "sh", "node", "lua", or NULL when nothing named one */
	int fenced;	     /* 1 when it came from a fenced code block */
};

/* Take the script out of a model's answer: the first fenced code block (``` or ~~~),
 * whose language tag (else a shebang on its first line) names the runtime
 * (python/py/python3 -> python3, sh/bash/shell -> sh, js/javascript/node -> node,
 * lua -> lua), else the whole answer (a shebang may still name the runtime).
 * offered, if non-NULL, is a NULL-terminated list of runtimes the operator offers: a named
 * runtime outside it is refused. Returns 0, or -EINVAL (unknown or unoffered language,
 * unclosed block, empty script) / -EFBIG (over max_len bytes) / -ENOMEM with a sentence
 * meant for the model in err, e.g. "the code block is tagged 'ruby', which this worker
 * cannot run; answer with one fenced block tagged python, sh, node or lua". */
int model_extract_script(const char *answer, size_t len, size_t max_len, const char *const *offered,
			 struct model_script *out, char *err, size_t errlen);

void model_script_free(struct model_script *s);

#endif
