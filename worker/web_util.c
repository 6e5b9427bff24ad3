/* web_util.c - what the dashboard's answers share: responses that always carry the
 * security headers, the page's Content-Security-Policy, and a small pool of blocking
 * queue clients.
 *
 * A blocking queue client is not thread-safe and libmicrohttpd runs each connection on
 * a thread of its own, so a request borrows a client from the pool under a mutex and
 * gives it back; one whose connection broke is closed, and the next request connects
 * afresh, so the dashboard follows a Redis that went away and came back.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "web.h"

/* The SHA-256 of what lies between open and close in the page, base64, as CSP wants it. */
static int block_hash(const char *open, const char *close, char *out, size_t outlen)
{
	const char *a = memmem(web_index_html, web_index_html_len, open, strlen(open)), *b;
	unsigned char md[32];
	unsigned int mdlen = 0;

	if (!a)
		return -ENOENT;
	a += strlen(open);
	b = memmem(a, web_index_html_len - (size_t)(a - web_index_html), close, strlen(close));
	if (!b || outlen < 48)
		return -ENOENT;
	if (!EVP_Digest(a, (size_t)(b - a), md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
		return -EIO;
	EVP_EncodeBlock((unsigned char *)out, md, 32);
	return 0;
}

int web_csp_init(struct web *w, char *err, size_t errlen)
{
	char script[64], style[64];

	if (block_hash("<script>", "</script>", script, sizeof(script)) < 0 ||
	    block_hash("<style>", "</style>", style, sizeof(style)) < 0) {
		snprintf(err, errlen, "the embedded page has no <script> or <style> block");
		return -EINVAL;
	}
	/* Default-deny: nothing loads but what the page itself is (its own script and style
	 * by hash, so an injected inline script never runs), and it calls only this server;
	 * no framing (clickjacking), no <base>, no form posts elsewhere. */
	snprintf(w->csp, sizeof(w->csp),
		 "default-src 'none'; script-src 'sha256-%s'; style-src 'sha256-%s'; "
		 "img-src 'self'; media-src 'self'; connect-src 'self'; base-uri 'none'; "
		 "form-action 'none'; frame-ancestors 'none'",
		 script, style);
	return 0;
}

void web_headers(const struct web *w, struct MHD_Response *r, const char *type)
{
	if (type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, "Content-Security-Policy", w->csp);
	/* A JSON answer is never sniffed into HTML or script. */
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	/* No job id or token leaves in a Referer. */
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	/* Another site cannot embed our videos or read our answers as resources. */
	MHD_add_response_header(r, "Cross-Origin-Resource-Policy", "same-origin");
	/* The queue changes every second, and a shared cache must never keep an answer
	 * that needed the token. */
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
}

static enum MHD_Result queue_resp(const struct web *w, struct MHD_Connection *c, unsigned status,
				  const char *type, struct MHD_Response *r)
{
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	web_headers(w, r, type);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

enum MHD_Result web_send(const struct web *w, struct MHD_Connection *c, unsigned status,
			 const char *type, const char *body, size_t len, int copy)
{
	return queue_resp(
	    w, c, status, type,
	    MHD_create_response_from_buffer(len, (void *)body,
					    copy ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_PERSISTENT));
}

enum MHD_Result web_send_owned(const struct web *w, struct MHD_Connection *c, unsigned status,
			       const char *type, char *body, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);

	if (!r)
		free(body);
	return queue_resp(w, c, status, type, r);
}

enum MHD_Result web_send_text(const struct web *w, struct MHD_Connection *c, unsigned status,
			      const char *line)
{
	return web_send(w, c, status, "text/plain; charset=utf-8", line, strlen(line), 1);
}

enum MHD_Result web_send_error(const struct web *w, struct MHD_Connection *c, unsigned status,
			       const char *sentence)
{
	json_t *o = json_pack("{s:s}", "error", sentence);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	if (!s)
		return MHD_NO;
	return web_send_owned(w, c, status, "application/json", s, strlen(s));
}

unsigned web_status_for(int rc)
{
	switch (rc) {
	case -ENOENT:
		return MHD_HTTP_NOT_FOUND;
	case -EINVAL:
		return MHD_HTTP_BAD_REQUEST;
	case -EBUSY:
	case -ENODATA:
	case -EEXIST:
		return MHD_HTTP_CONFLICT;
	default:
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	}
}

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int web_queue_get(struct web *w, struct queue **q, char *err, size_t errlen)
{
	struct queue *stale = NULL;

	pthread_mutex_lock(&w->lock);
	*q = w->n_idle ? w->idle[--w->n_idle] : NULL;
	if (*q && mono_ms() - w->idle_since[w->n_idle] > WEB_POOL_IDLE_MS) {
		stale = *q;
		*q = NULL;
	}
	pthread_mutex_unlock(&w->lock);
	queue_close(stale);
	if (*q)
		return 0;
	return queue_open(q, w->redis_url, &w->qopts, err, errlen);
}

/* Answers after which the client's connection is no longer to be trusted. */
static int broken(int rc)
{
	return rc == -ENOTCONN || rc == -EIO || rc == -EMSGSIZE || rc == -ETIMEDOUT ||
	       rc == -ECONNREFUSED || rc == -ENOMEM;
}

void web_queue_put(struct web *w, struct queue *q, int rc)
{
	if (!q)
		return;
	if (broken(rc)) {
		/* Its connection broke, and the idle ones most likely with it (Redis restarted):
		 * all are dropped, so the next requests connect afresh instead of failing once
		 * each. */
		queue_close(q);
		web_queue_drain(w);
		return;
	}
	pthread_mutex_lock(&w->lock);
	if (!w->stopping && w->n_idle < WEB_POOL_MAX) {
		w->idle_since[w->n_idle] = mono_ms();
		w->idle[w->n_idle++] = q;
		q = NULL;
	}
	pthread_mutex_unlock(&w->lock);
	queue_close(q);
}

void web_queue_drain(struct web *w)
{
	pthread_mutex_lock(&w->lock);
	while (w->n_idle)
		queue_close(w->idle[--w->n_idle]);
	pthread_mutex_unlock(&w->lock);
}
