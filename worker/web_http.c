/* web_http.c - one request to the dashboard: the checks it must pass, then its route.
 *
 * Every request passes the same gate, in this order, before anything reads Redis:
 *  1. it has no body (nothing here reads one: 413, before a byte of it is read);
 *  2. its Host names this server (a page on another site that rebinds its DNS name to
 *     127.0.0.1 sends its own name: 421);
 *  3. when a token is configured, it carries it (Authorization: Bearer, or the cookie
 *     that `/?token=` sets once), compared in constant time: else 401;
 *  4. a write is a POST with the custom header X-Reelbox-Request: 1 (a cross-site page
 *     cannot send it without a CORS preflight, which this server never grants) from
 *     this very origin (Origin, or Sec-Fetch-Site: same-origin): else 403.
 * Only then does the path pick its answer; job ids in paths are checked with
 * queue_id_valid, so no id reaches Redis or a file name unchecked.
 */
#define _GNU_SOURCE
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "web.h"

static const char *header(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* 1 when host (a Host header's value) is one this server answers to. */
static int host_ok(const struct web *w, const char *host)
{
	char port[8];
	const char *colon;
	size_t n;

	if (!host || !*host || strlen(host) >= WEB_HOST_LEN)
		return 0;
	for (int i = 0; i < w->n_hosts; i++)
		if (!strcasecmp(host, w->hosts[i]))
			return 1;
	if (!w->any_host)
		return 0;
	/* A wildcard bind serves names we cannot know: any plain name with our port. The
	 * token guards it (required off loopback), and a rebinding page cannot send the
	 * cookie, which its browser keeps for the real name. */
	snprintf(port, sizeof(port), ":%u", (unsigned)w->port);
	colon = strrchr(host, ':');
	if (!colon || strcmp(colon, port))
		return 0;
	n = (size_t)(colon - host);
	if (host[0] == '[')
		return n > 2 && host[n - 1] == ']' &&
		       strspn(host + 1, "0123456789abcdefABCDEF:.") == n - 2;
	return n > 0 && strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				     "0123456789.-") == n;
}

/* 1 when candidate is the token: both hashed, so neither the comparison's time nor a
 * length check tells an attacker how much of a guess was right. */
static int token_is(const struct web *w, const char *candidate)
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	if (!candidate || strlen(candidate) > WEB_TOKEN_MAX)
		return 0;
	if (!EVP_Digest(candidate, strlen(candidate), md, &mdlen, EVP_sha256(), NULL) ||
	    mdlen != 32)
		return 0;
	return CRYPTO_memcmp(md, w->token_sha, 32) == 0;
}

static int auth_ok(const struct web *w, struct MHD_Connection *c)
{
	const char *a = header(c, MHD_HTTP_HEADER_AUTHORIZATION);

	if (!w->token)
		return 1; /* loopback without --token-env: the operator chose no token */
	if (a && !strncasecmp(a, "Bearer ", 7) && token_is(w, a + 7))
		return 1;
	return token_is(w, MHD_lookup_connection_value(c, MHD_COOKIE_KIND, WEB_COOKIE));
}

/* `/?token=T` once: T becomes an HttpOnly, SameSite=Strict cookie (no script can read
 * it, no other site's request carries it) and a 303 to / takes it out of the address
 * bar and the history. A wrong token is a 401 like any other. */
static enum MHD_Result token_login(struct web *w, struct MHD_Connection *c, const char *t)
{
	struct MHD_Response *r;
	char cookie[WEB_TOKEN_MAX + 96];
	enum MHD_Result ret;

	if (!w->token || !token_is(w, t))
		return web_send_text(w, c, MHD_HTTP_UNAUTHORIZED,
				     w->token ? "wrong token\n"
					      : "this dashboard takes no token\n");
	snprintf(cookie, sizeof(cookie), "%s=%s; Path=/; HttpOnly; SameSite=Strict", WEB_COOKIE,
		 w->token);
	if (!(r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT)))
		return MHD_NO;
	web_headers(w, r, "text/plain; charset=utf-8");
	MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE, cookie);
	MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, "/");
	ret = MHD_queue_response(c, MHD_HTTP_SEE_OTHER, r);
	explicit_bzero(cookie, sizeof(cookie));
	MHD_destroy_response(r);
	return ret;
}

/* A write from this page only: the custom header (cross-site requests cannot carry it
 * without a preflight we never answer) and our own origin. */
static int csrf_ok(struct MHD_Connection *c)
{
	const char *x = header(c, "X-Reelbox-Request"), *origin = header(c, "Origin");
	const char *host = header(c, MHD_HTTP_HEADER_HOST), *site = header(c, "Sec-Fetch-Site");
	char want[WEB_HOST_LEN + 16];

	if (!x || strcmp(x, "1"))
		return 0;
	if (origin) {
		snprintf(want, sizeof(want), "http://%s", host ? host : "");
		return !strcasecmp(origin, want);
	}
	return site && !strcmp(site, "same-origin");
}

size_t web_unescape(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	/* Default-deny: %00 stays as written, so a NUL never cuts an id, a path or the token
	 * short ("/video/j1%00x" is no job, "?token=T%00junk" no token). */
	if (strstr(s, "%00"))
		return strlen(s);
	return MHD_http_unescape(s);
}

/* The id segment of path (up to the next '/' or its end) into id; the rest in *rest. */
static int take_id(const char *path, char id[QUEUE_ID_MAX], const char **rest)
{
	size_t n = strcspn(path, "/");

	if (n == 0 || n >= QUEUE_ID_MAX)
		return 0;
	memcpy(id, path, n);
	id[n] = '\0';
	*rest = path + n;
	return queue_id_valid(id);
}

static enum MHD_Result bad_id(struct web *w, struct MHD_Connection *c)
{
	return web_send_error(w, c, MHD_HTTP_NOT_FOUND,
			      "no such path: job ids are 1-63 characters of [A-Za-z0-9_-]");
}

/* GET /api/jobs/ID and /api/jobs/ID/log. */
static enum MHD_Result get_job(struct web *w, struct MHD_Connection *c, const char *path)
{
	char id[QUEUE_ID_MAX];
	const char *rest;

	if (!take_id(path, id, &rest))
		return bad_id(w, c);
	if (!*rest)
		return web_api_job(w, c, id);
	if (!strcmp(rest, "/log"))
		return web_api_log(w, c, id);
	return web_send_error(w, c, MHD_HTTP_NOT_FOUND, "no such path");
}

static enum MHD_Result route_get(struct web *w, struct MHD_Connection *c, const char *url)
{
	char id[QUEUE_ID_MAX];
	const char *rest;

	if (!strcmp(url, "/"))
		return web_send(w, c, MHD_HTTP_OK, "text/html; charset=utf-8", web_index_html,
				web_index_html_len, 0);
	if (!strcmp(url, "/api/overview"))
		return web_api_overview(w, c);
	if (!strcmp(url, "/api/jobs"))
		return web_api_jobs(w, c);
	if (!strncmp(url, "/api/jobs/", 10))
		return get_job(w, c, url + 10);
	if (!strcmp(url, "/api/events"))
		return web_sse(w, c);
	if (!strcmp(url, "/metrics"))
		return web_api_metrics(w, c);
	if (!strcmp(url, "/healthz"))
		return web_api_healthz(w, c);
	if (!strncmp(url, "/video/", 7) || !strncmp(url, "/poster/", 8)) {
		int poster = url[1] == 'p';
		if (!take_id(url + (poster ? 8 : 7), id, &rest) || *rest)
			return bad_id(w, c);
		return web_media(w, c, id, poster);
	}
	return web_send_text(w, c, MHD_HTTP_NOT_FOUND, "no such page\n");
}

/* POST /api/jobs/ID/cancel|retry|delete, after the CSRF check. */
static enum MHD_Result route_post(struct web *w, struct MHD_Connection *c, const char *url)
{
	char id[QUEUE_ID_MAX];
	const char *rest;

	if (!csrf_ok(c))
		return web_send_error(w, c, MHD_HTTP_FORBIDDEN,
				      "a write must come from this dashboard's page (the "
				      "X-Reelbox-Request header and this origin)");
	if (strncmp(url, "/api/jobs/", 10))
		return web_send_error(w, c, MHD_HTTP_NOT_FOUND, "no such path");
	if (!take_id(url + 10, id, &rest))
		return bad_id(w, c);
	if (strcmp(rest, "/cancel") && strcmp(rest, "/retry") && strcmp(rest, "/delete"))
		return web_send_error(w, c, MHD_HTTP_NOT_FOUND,
				      "no such action: cancel, retry or delete");
	return web_api_action(w, c, id, rest + 1);
}

/* A request with a body, or one that says it will send one. */
static int has_body(struct MHD_Connection *c, size_t upload_len)
{
	const char *len = header(c, MHD_HTTP_HEADER_CONTENT_LENGTH);

	return upload_len > 0 || header(c, MHD_HTTP_HEADER_TRANSFER_ENCODING) ||
	       (len && strcmp(len, "0"));
}

enum MHD_Result web_request(void *cls, struct MHD_Connection *c, const char *url,
			    const char *method, const char *version, const char *upload,
			    size_t *upload_len, void **req)
{
	static int seen;
	struct web *w = cls;
	const char *t;
	int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");

	/* The first call has the headers: a request that brings a body is refused there
	 * (its connection then closes); the answer comes on the second, once the request is
	 * complete, so the connection can be kept alive. */
	if (!*req) {
		*req = &seen;
		web_guard_request(w, c);
		if (has_body(c, *upload_len))
			return web_send_text(w, c, MHD_HTTP_CONTENT_TOO_LARGE,
					     "this dashboard reads no request bodies\n");
		return MHD_YES;
	}
	if (*upload_len) { /* not reached: a body was refused above */
		*upload_len = 0;
		return MHD_YES;
	}
	if (!host_ok(w, header(c, MHD_HTTP_HEADER_HOST)))
		return web_send_text(w, c, MHD_HTTP_MISDIRECTED_REQUEST,
				     "the Host header names no address this dashboard serves\n");
	t = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token");
	if (get && !strcmp(url, "/") && t)
		return token_login(w, c, t);
	if (!auth_ok(w, c))
		return web_send_text(w, c, MHD_HTTP_UNAUTHORIZED,
				     "a token is required: Authorization: Bearer TOKEN, or open "
				     "/?token=TOKEN once\n");
	if (get)
		return route_get(w, c, url);
	if (!strcmp(method, "POST"))
		return route_post(w, c, url);
	return web_send_text(w, c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET, HEAD and POST\n");
}
