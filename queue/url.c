/* url.c - Redis URLs: redis://[[user]:password@]host[:port][/db], the same over TLS as
 * rediss://[[user]:password@]host[:port][/db][?insecure=1], and
 * unix:///path/to/socket[?db=N]. No message names the credentials. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue_internal.h"

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Copy n bytes of s into out, decoding %XX escapes (passwords may hold '@' or ':'). */
static int decode(char *out, size_t outlen, const char *s, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];
		if (c == '%') {
			int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
			int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
			if (hi < 0 || lo < 0)
				return -EINVAL;
			c = hi * 16 + lo;
			i += 2;
		}
		if (o + 1 >= outlen)
			return -ENAMETOOLONG;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

static int parse_db(const char *s, int *db)
{
	char *end;
	long v;

	if (!*s)
		return 0;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 0 || v > 100000)
		return -EINVAL;
	*db = (int)v;
	return 0;
}

/* unix:///path/to/socket[?db=N] */
static int parse_unix(struct queue_url *u, const char *url, char *err, size_t errlen)
{
	const char *q = strchr(url + 7, '?');
	size_t n = q ? (size_t)(q - (url + 7)) : strlen(url + 7);

	u->is_unix = 1;
	if (n == 0 || url[7] != '/' || decode(u->path, sizeof(u->path), url + 7, n) < 0) {
		qerr(err, errlen, "bad Redis URL '%s': expected unix:///path/to/socket", url);
		return -EINVAL;
	}
	if (q && (strncmp(q, "?db=", 4) || parse_db(q + 4, &u->db) < 0)) {
		qerr(err, errlen, "bad Redis URL '%s': the only option is ?db=N", url);
		return -EINVAL;
	}
	snprintf(u->where, sizeof(u->where), "%s", u->path);
	return 0;
}

/* [user:]password@ before the host; *p moves past it. The last '@' before the path
 * ends the credentials. */
static int parse_credentials(struct queue_url *u, const char **p, const char *slash, char *err,
			     size_t errlen)
{
	const char *at = NULL, *colon;
	int r = 0;

	for (const char *s = *p; s < slash; s++)
		if (*s == '@')
			at = s;
	if (!at)
		return 0;
	colon = memchr(*p, ':', (size_t)(at - *p));
	if (colon) {
		r |= decode(u->user, sizeof(u->user), *p, (size_t)(colon - *p));
		r |= decode(u->pass, sizeof(u->pass), colon + 1, (size_t)(at - colon - 1));
	} else {
		/* redis://password@host, as some clients write it */
		r |= decode(u->pass, sizeof(u->pass), *p, (size_t)(at - *p));
	}
	if (r) {
		qerr(err, errlen, "bad Redis URL: the credentials do not decode");
		return -EINVAL;
	}
	*p = at + 1;
	return 0;
}

/* host, or [IPv6]; *hostend is where it stops (':' of a port, the path, or the end). */
static int parse_host(struct queue_url *u, const char *p, const char *slash, const char *url,
		      const char **hostend, char *err, size_t errlen)
{
	size_t n;

	if (*p == '[') {
		const char *rb = memchr(p, ']', (size_t)(slash - p));
		if (!rb || (size_t)(rb - p - 1) >= sizeof(u->host) || rb == p + 1) {
			qerr(err, errlen, "bad Redis URL '%s': unclosed IPv6 address", url);
			return -EINVAL;
		}
		memcpy(u->host, p + 1, (size_t)(rb - p - 1));
		*hostend = rb + 1;
	} else {
		*hostend = memchr(p, ':', (size_t)(slash - p));
		if (!*hostend)
			*hostend = slash;
		n = (size_t)(*hostend - p);
		if (n >= sizeof(u->host)) {
			qerr(err, errlen, "bad Redis URL: the host name is too long");
			return -EINVAL;
		}
		memcpy(u->host, p, n);
	}
	if (!u->host[0])
		snprintf(u->host, sizeof(u->host), "127.0.0.1");
	return 0;
}

/* :port between the host and the path, when there is one. */
static int parse_port(struct queue_url *u, const char *hostend, const char *slash, const char *url,
		      char *err, size_t errlen)
{
	char buf[16], *end;
	size_t n;
	long v;

	if (*hostend != ':') {
		if (hostend == slash)
			return 0;
		qerr(err, errlen, "bad Redis URL '%s'", url);
		return -EINVAL;
	}
	n = (size_t)(slash - hostend - 1);
	if (n == 0 || n >= sizeof(buf)) {
		qerr(err, errlen, "bad Redis URL '%s': bad port", url);
		return -EINVAL;
	}
	memcpy(buf, hostend + 1, n);
	buf[n] = '\0';
	v = strtol(buf, &end, 10);
	if (*end || v < 1 || v > 65535) {
		qerr(err, errlen, "bad Redis URL '%s': port must be 1-65535", url);
		return -EINVAL;
	}
	u->port = (int)v;
	return 0;
}

/* The query of a rediss:// URL: only insecure=1 (and =0), default-deny for the rest. */
static int parse_query(struct queue_url *u, const char *q, const char *url, char *err,
		       size_t errlen)
{
	if (!q)
		return 0;
	if (u->is_tls && (!strcmp(q, "?insecure=1") || !strcmp(q, "?insecure=0"))) {
		u->insecure = q[10] == '1';
		return 0;
	}
	qerr(err, errlen, "bad Redis URL '%s': the only option is ?insecure=1 (rediss:// only)",
	     url);
	return -EINVAL;
}

/* [user:pass@]host[:port][/db] after the scheme, with the query already cut off. */
static int parse_authority(struct queue_url *u, const char *p, const char *url, char *err,
			   size_t errlen)
{
	const char *slash = strchr(p, '/'), *hostend;
	int r;

	if (!slash)
		slash = p + strlen(p);
	if ((r = parse_credentials(u, &p, slash, err, errlen)) ||
	    (r = parse_host(u, p, slash, url, &hostend, err, errlen)) ||
	    (r = parse_port(u, hostend, slash, url, err, errlen)))
		return r;
	if (*slash == '/' && parse_db(slash + 1, &u->db) < 0) {
		qerr(err, errlen, "bad Redis URL '%s': the database must be a number", url);
		return -EINVAL;
	}
	return 0;
}

void queue_url_shown(char *out, size_t len, const char *url)
{
	const char *at = NULL, *p = strstr(url, "://");

	p = p ? p + 3 : url;
	/* The last '@' anywhere: a malformed URL may hold a '/' inside its password. */
	for (const char *s = p; *s; s++)
		if (*s == '@')
			at = s;
	snprintf(out, len, "%.*s%s%.200s", (int)(p - url), url, at ? "***@" : "", at ? at + 1 : p);
}

int queue_url_parse(struct queue_url *u, const char *url, char *err, size_t errlen)
{
	char buf[1024], safe[300];
	const char *p;
	char *q;
	int r;

	memset(u, 0, sizeof(*u));
	if (!url || !*url)
		url = "redis://127.0.0.1:6379";
	u->port = 6379;
	if (!strncmp(url, "unix://", 7))
		return parse_unix(u, url, err, errlen);
	/* Every message below names the URL without its password. */
	queue_url_shown(safe, sizeof(safe), url);
	u->is_tls = !strncmp(url, "rediss://", 9);
	if (!u->is_tls && strncmp(url, "redis://", 8)) {
		qerr(err, errlen,
		     "bad Redis URL '%s': expected redis://host:port[/db], rediss://... or "
		     "unix:///path",
		     safe);
		return -EINVAL;
	}
	if (strlen(url) >= sizeof(buf)) {
		qerr(err, errlen, "bad Redis URL '%s': longer than %zu bytes", safe,
		     sizeof(buf) - 1);
		return -EINVAL;
	}
	memcpy(buf, url, strlen(url) + 1);
	p = buf + (u->is_tls ? 9 : 8);
	if ((q = strchr(p, '?')))
		*q = '\0';
	if ((r = parse_query(u, q ? url + (q - buf) : NULL, safe, err, errlen)) ||
	    (r = parse_authority(u, p, safe, err, errlen)))
		return r;
	snprintf(u->where, sizeof(u->where), "%s%s%s:%d", strchr(u->host, ':') ? "[" : "", u->host,
		 strchr(u->host, ':') ? "]" : "", u->port);
	return 0;
}

int queue_url_has_password(const char *url)
{
	struct queue_url u;
	int r;

	if (!url)
		return 0;
	r = queue_url_parse(&u, url, NULL, 0);
	/* Unparseable: an '@' may still be a password's end. */
	r = r < 0 ? strchr(url, '@') != NULL : u.pass[0] != '\0';
	explicit_bzero(&u, sizeof(u));
	return r;
}

const char *queue_url_warning(const char *url)
{
	struct queue_url u;
	int insecure = queue_url_parse(&u, url, NULL, 0) == 0 && u.insecure;

	explicit_bzero(&u, sizeof(u));
	return insecure ? "the Redis URL says ?insecure=1: TLS without checking the server's "
			  "certificate, so anyone on the path can read and change the queue"
			: NULL;
}
