/* delivery.c - uploads and webhooks with retries on the worker's loop (see delivery.h).
 *
 * One engine serves both: a "send" is a request (a file or a body) tried up to max_tries
 * times within a total time, with a pause that doubles after each failure that may pass
 * (no connection, a timeout, a 5xx, 408 or 429: Retry-After is honoured within the
 * bound). Each send owns copies of everything it sends and a timer of its own, freed in
 * the timer's close callback, so the caller's strings may go at once.
 */
#define _GNU_SOURCE
#include "delivery.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "lazylib.h"
#include "secretenv.h"

#define UPLOAD_TOTAL_MS	  600000u
#define UPLOAD_TRIES	  4u
#define UPLOAD_BACKOFF_MS 500u
#define HOOK_TOTAL_MS	  60000u
#define HOOK_TRIES	  5u
#define HOOK_BACKOFF_MS	  1000u
#define TAG_MAX		  64

struct send {
	struct delivery *d;
	uv_timer_t *timer; /* its own allocation: freed when closed */
	struct httpc_req *req;
	char *url, *body, *path;
	size_t body_len;
	char **headers;	  /* NULL-terminated copies */
	const char *what; /* "upload" or "webhook", for sentences */
	unsigned tries, max_tries, backoff_ms;
	uint64_t deadline_ms;
	delivery_done_cb done;
	void *arg;
	char tag[TAG_MAX];
	struct send *prev, *next;
};

struct delivery {
	struct httpc *c;
	struct send *sends;
	unsigned pending;
};

/* ---- checks and helpers --------------------------------------------------------- */

int delivery_check_url(const char *what, const char *url, char *err, size_t errlen)
{
	size_t n = strnlen(url, DELIVERY_URL_MAX + 1);

	if (strncasecmp(url, "http://", 7) && strncasecmp(url, "https://", 8)) {
		snprintf(err, errlen, "'%s' must be an http:// or https:// URL", what);
		return -EINVAL;
	}
	if (n > DELIVERY_URL_MAX) {
		snprintf(err, errlen, "'%s' is longer than %d bytes", what, DELIVERY_URL_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		/* A space, a control character or a line break would split the request line
		 * (request smuggling); a producer percent-encodes them. */
		if (url[i] <= 0x20 || url[i] >= 0x7f) {
			snprintf(err, errlen,
				 "'%s' holds a space, a control or a non-ASCII byte at offset %zu; "
				 "percent-encode it",
				 what, i);
			return -EINVAL;
		}
	}
	return 0;
}

static int token_char(unsigned char c)
{
	return isalnum(c) || strchr("!#$%&'*+-.^_`|~", c);
}

/* Headers the transfer sets itself: a job's Host would aim the request elsewhere than
 * the URL's host, a Content-Length or Transfer-Encoding of its own would desynchronise
 * the body (request smuggling), Expect and Connection change how it is sent. */
static const char *const reserved_headers[] = {"host",	 "content-length", "transfer-encoding",
					       "expect", "connection",	   NULL};

int delivery_check_header(const char *name, const char *value, char *err, size_t errlen)
{
	size_t n = strlen(name);

	if (!n || n > 128) {
		snprintf(err, errlen, "an upload header name must be 1 to 128 bytes");
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (!token_char((unsigned char)name[i])) {
			snprintf(err, errlen,
				 "upload header name '%.128s' holds a byte a header name cannot "
				 "(letters, digits and !#$%%&'*+-.^_`|~ only)",
				 name);
			return -EINVAL;
		}
	}
	for (const char *const *r = reserved_headers; *r; r++) {
		if (!strcasecmp(name, *r)) {
			snprintf(err, errlen,
				 "upload header '%s' is set by the worker itself; leave it out",
				 name);
			return -EINVAL;
		}
	}
	/* A CR or LF in a value would start a header (or a request) of its own. */
	if (strpbrk(value, "\r\n")) {
		snprintf(err, errlen, "upload header '%s' has a line break in its value", name);
		return -EINVAL;
	}
	if (n + 2 + strlen(value) >= DELIVERY_HEADER_MAX) {
		snprintf(err, errlen, "upload header '%s' is longer than %d bytes", name,
			 DELIVERY_HEADER_MAX);
		return -EINVAL;
	}
	return 0;
}

const char *delivery_content_type(const char *format)
{
	if (format && !strcmp(format, "webm"))
		return "video/webm";
	if (format && !strcmp(format, "gif"))
		return "image/gif";
	if (format && !strcmp(format, "mov"))
		return "video/quicktime";
	return "video/mp4";
}

void delivery_strip_query(const char *url, char *out, size_t len)
{
	size_t n = strcspn(url, "?#");

	snprintf(out, len, "%.*s", (int)n, url);
}

int delivery_sign(const char *secret, size_t secret_len, const char *body, size_t body_len,
		  char out[DELIVERY_SIGNATURE_MAX])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;

	if (!HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)body, body_len, mac,
		  &mac_len) ||
	    mac_len != 32)
		return -EIO;
	memcpy(out, "sha256=", 7);
	for (unsigned i = 0; i < mac_len; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", mac[i]);
	return 0;
}

char *delivery_secret_from_env(const char *name)
{
	char *v = getenv(name), *copy;

	if (!v || !*v)
		return NULL;
	copy = strdup(v);
	secret_env_wipe(name);
	return copy;
}

/* ---- the sends ------------------------------------------------------------------- */

int delivery_new(struct delivery **out, struct httpc *c)
{
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	(*out)->c = c;
	return 0;
}

unsigned delivery_pending(const struct delivery *d)
{
	return d ? d->pending : 0;
}

static void timer_closed(uv_handle_t *h)
{
	free(h);
}

static void send_free(struct send *s)
{
	struct delivery *d = s->d;

	if (s->prev)
		s->prev->next = s->next;
	else
		d->sends = s->next;
	if (s->next)
		s->next->prev = s->prev;
	d->pending--;
	if (s->req)
		httpc_cancel(s->req);
	uv_timer_stop(s->timer);
	uv_close((uv_handle_t *)s->timer, timer_closed);
	for (char **h = s->headers; h && *h; h++) {
		explicit_bzero(*h, strlen(*h));
		free(*h);
	}
	free(s->headers);
	free(s->url);
	free(s->body);
	free(s->path);
	free(s);
}

void delivery_free(struct delivery *d)
{
	if (!d)
		return;
	while (d->sends)
		send_free(d->sends);
	free(d);
}

static uint64_t now_ms(void)
{
	return uv_hrtime() / 1000000u;
}

static void try_send(struct send *s);

static void on_pause_over(uv_timer_t *t)
{
	try_send(t->data);
}

static void finish(struct send *s, int rc, const char *why)
{
	delivery_done_cb done = s->done;
	void *arg = s->arg;
	char tag[TAG_MAX];

	snprintf(tag, sizeof(tag), "%s", s->tag);
	s->req = NULL;
	send_free(s);
	if (done)
		done(arg, tag, rc, why);
}

static int may_retry(const struct httpc_response *res)
{
	if (res->err)
		return res->err != -EINVAL;
	return res->status >= 500 || res->status == 408 || res->status == 429;
}

/* One attempt is over: done on a 2xx; else another try after the pause when one may
 * pass and the pause ends within the bound; else the last sentence ends it. */
static void on_answer(struct httpc_req *req, struct httpc_response *res, void *arg)
{
	struct send *s = arg;
	char why[HTTPC_ERROR_MAX + 128];
	uint64_t pause = (uint64_t)s->backoff_ms << (s->tries - 1);

	(void)req;
	s->req = NULL;
	if (!res->err && res->status >= 200 && res->status < 300) {
		finish(s, 0, NULL);
		return;
	}
	if (res->err)
		snprintf(why, sizeof(why), "the %s failed on try %u: %s", s->what, s->tries,
			 res->error);
	else
		snprintf(why, sizeof(why), "the %s failed on try %u: the server answered HTTP %ld",
			 s->what, s->tries, res->status);
	if (res->retry_after_ms > 0 && (uint64_t)res->retry_after_ms > pause)
		pause = (uint64_t)res->retry_after_ms;
	if (!may_retry(res) || s->tries >= s->max_tries || now_ms() + pause >= s->deadline_ms) {
		finish(s, res->err ? res->err : -EIO, why);
		return;
	}
	uv_timer_start(s->timer, on_pause_over, pause, 0);
}

static void try_send(struct send *s)
{
	struct httpc_request rq = {
	    .method = s->path ? "PUT" : "POST",
	    .url = s->url,
	    .headers = (const char *const *)s->headers,
	    .body = s->body,
	    .body_len = s->body_len,
	    .body_file = s->path,
	    .connect_timeout_ms = 10000,
	    .max_response = 64 * 1024,
	};
	char err[256], why[320];
	uint64_t now = now_ms();

	s->tries++;
	rq.timeout_ms = now < s->deadline_ms ? (unsigned)(s->deadline_ms - now) : 1;
	if (httpc_start(s->d->c, &rq, on_answer, s, &s->req, err, sizeof(err)) < 0) {
		snprintf(why, sizeof(why), "the %s could not start: %s", s->what, err);
		s->req = NULL;
		finish(s, -EIO, why);
	}
}

static char **copy_headers(const char *const *in, const char *extra1, const char *extra2)
{
	size_t n = 0, k = 0;
	char **out;

	while (in && in[n])
		n++;
	if (!(out = calloc(n + 3, sizeof(*out))))
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!(out[k++] = strdup(in[i])))
			goto oom;
	if (extra1 && !(out[k++] = strdup(extra1)))
		goto oom;
	if (extra2 && !(out[k++] = strdup(extra2)))
		goto oom;
	return out;
oom:
	for (size_t i = 0; i < k; i++)
		free(out[i]);
	free(out);
	return NULL;
}

static struct send *send_new(struct delivery *d, const char *url, const char *tag)
{
	struct send *s = calloc(1, sizeof(*s));

	if (!s || !(s->timer = calloc(1, sizeof(*s->timer))) || !(s->url = strdup(url))) {
		if (s)
			free(s->timer);
		free(s);
		return NULL;
	}
	uv_timer_init(httpc_loop(d->c), s->timer);
	s->timer->data = s;
	s->d = d;
	snprintf(s->tag, sizeof(s->tag), "%s", tag ? tag : "");
	s->next = d->sends;
	if (d->sends)
		d->sends->prev = s;
	d->sends = s;
	d->pending++;
	return s;
}

int delivery_upload(struct delivery *d, const struct delivery_upload_spec *spec,
		    delivery_done_cb done, void *arg, char *err, size_t errlen)
{
	char ctype[64];
	struct send *s;

	snprintf(ctype, sizeof(ctype), "Content-Type: %s", spec->content_type);
	if (!(s = send_new(d, spec->url, spec->tag))) {
		snprintf(err, errlen, "out of memory starting the upload");
		return -ENOMEM;
	}
	s->what = "upload";
	s->done = done;
	s->arg = arg;
	s->max_tries = spec->max_tries ? spec->max_tries : UPLOAD_TRIES;
	s->backoff_ms = spec->backoff_ms ? spec->backoff_ms : UPLOAD_BACKOFF_MS;
	s->deadline_ms = now_ms() + (spec->total_ms ? spec->total_ms : UPLOAD_TOTAL_MS);
	if (!(s->path = strdup(spec->path)) ||
	    !(s->headers = copy_headers(spec->headers, ctype, NULL))) {
		send_free(s);
		snprintf(err, errlen, "out of memory starting the upload");
		return -ENOMEM;
	}
	try_send(s);
	return 0;
}

int delivery_webhook(struct delivery *d, const char *url, const char *secret, const char *body,
		     const char *tag, unsigned total_ms, delivery_done_cb done, void *arg,
		     char *err, size_t errlen)
{
	char sig[DELIVERY_SIGNATURE_MAX], line[sizeof(sig) + 32];
	struct send *s;

	/* libcrypto is loaded on first use (lazy/lazylib.c): a missing one is said here. */
	if (rb_lib_load(RB_LIB_CRYPTO, err, errlen) < 0)
		return -ENOENT;
	if (delivery_sign(secret, strlen(secret), body, strlen(body), sig) < 0) {
		snprintf(err, errlen, "the webhook's body could not be signed");
		return -EIO;
	}
	snprintf(line, sizeof(line), "%s: %s", DELIVERY_SIGNATURE_HEADER, sig);
	if (!(s = send_new(d, url, tag))) {
		snprintf(err, errlen, "out of memory starting the webhook");
		return -ENOMEM;
	}
	s->what = "webhook";
	s->done = done;
	s->arg = arg;
	s->max_tries = HOOK_TRIES;
	s->backoff_ms = HOOK_BACKOFF_MS;
	s->deadline_ms = now_ms() + (total_ms ? total_ms : HOOK_TOTAL_MS);
	s->body_len = strlen(body);
	if (!(s->body = strdup(body)) ||
	    !(s->headers = copy_headers(NULL, "Content-Type: application/json", line))) {
		send_free(s);
		snprintf(err, errlen, "out of memory starting the webhook");
		return -ENOMEM;
	}
	try_send(s);
	return 0;
}
