/* tls.c - Redis over TLS (rediss://) for both queue clients: an in-process bridge.
 *
 * Why a bridge: Debian's hiredis 0.14 has no TLS and no way to hand the async client a
 * connected descriptor (redisAsyncConnect* only dial by address or unix path; only the
 * blocking client has redisConnectFd, and two transports would mean two sets of bugs).
 * Driving hiredis's reader and command formatter over a transport of our own would mean
 * a second copy of everything sync.c and async.c do with a redisContext (its buffers,
 * the libuv adapter hooks, the reply bounds); a bridge keeps hiredis and both clients
 * untouched: they speak plain RESP to a unix socket, and this file carries the bytes to
 * Redis inside TLS. One transport serves the blocking and the async client alike, and
 * every async reconnect goes through it again. The cost: a thread and a unix socket
 * hop per connection (three for a worker), against Redis's own network round trip.
 *
 * One connection, as a client makes it (qtls_dial, blocking, at most connect_timeout_ms):
 *   1. TCP to host:port, then the TLS handshake (OpenSSL, TLS 1.2 or later, the peer's
 *      certificate verified against the CA file or the system store, its name checked
 *      against the URL's host, SNI sent for a name, the client certificate when
 *      configured), then one PING answered by Redis: with TLS 1.3 a server that wants a
 *      client certificate says so only after the client's handshake completed, so the
 *      answer is what proves the session. Any failure is one sentence for the caller.
 *   2. A unix socket is made for this one connection in the client's private directory
 *      and a pump thread takes the session: it accepts one connection there (from this
 *      process only, within the same timeout), removes the socket, and pumps bytes both
 *      ways until either side closes.
 *   3. The caller connects hiredis to that path (redisConnectUnix / redisAsyncConnectUnix).
 *
 * The sockets live in a directory made with mkdtemp, mode 0700, under $XDG_RUNTIME_DIR
 * or /tmp, never in the abstract namespace: any process in the network namespace could
 * connect to an abstract socket and talk to Redis with our TLS identity. Bounds: at
 * most QTLS_MAX_CONN pumps per client, 16 KiB buffered each way per connection, every
 * wait before the pump has a deadline, and qtls_free stops and joins every pump.
 * Nothing here sees the Redis password (AUTH travels inside the pumped bytes), so no
 * sentence can hold it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "queue_internal.h"

#define QTLS_MAX_CONN 16
#define QTLS_BUF      (16u << 10)

struct qtls;

struct pump {
	struct qtls *t;
	pthread_t th;
	int used, done;
	SSL *ssl;
	int tcp, lis;
	uint64_t accept_by; /* queue_now_ms() deadline for the client's connect */
	char path[108];
};

struct qtls {
	SSL_CTX *ctx;
	char host[256];
	char where[300];
	int port;
	int insecure;
	int ca_given, cert_given;
	char dir[96]; /* at most 64 + 19 bytes */
	int stop[2];  /* closing stop[1] tells every pump to end */
	unsigned seq;
	pthread_mutex_t mu;
	struct pump pumps[QTLS_MAX_CONN];
};

/* ---- Setup ---- */

static int ctx_error(char *err, size_t errlen, const char *what, const char *path)
{
	unsigned long e = ERR_peek_last_error();
	const char *why = e ? ERR_reason_error_string(e) : NULL;

	/* "system lib" says less than the errno behind it. */
	if (path[0] && access(path, R_OK) < 0) {
		int en = errno;
		qerr(err, errlen, "cannot read the Redis %s %s: %s", what, path, strerror(en));
		ERR_clear_error();
		return -en;
	}

	qerr(err, errlen, "cannot use the Redis %s %s: %s", what, path,
	     why ? why : "unreadable or not PEM");
	ERR_clear_error();
	return -EINVAL;
}

/* The verification and identity every connection of this client uses. */
static int ctx_setup(struct qtls *t, const struct queue_opts *o, char *err, size_t errlen)
{
	const char *ca = o->tls_ca && *o->tls_ca ? o->tls_ca : NULL;
	const char *cert = o->tls_cert && *o->tls_cert ? o->tls_cert : NULL;
	const char *key = o->tls_key && *o->tls_key ? o->tls_key : NULL;

	if (!(t->ctx = SSL_CTX_new(TLS_client_method()))) {
		qerr(err, errlen, "cannot start TLS (OpenSSL): out of memory");
		return -ENOMEM;
	}
	/* TLS 1.0 and 1.1 are broken; no Redis that speaks TLS needs them. */
	SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(t->ctx,
			 SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (ca && SSL_CTX_load_verify_locations(t->ctx, ca, NULL) != 1)
		return ctx_error(err, errlen, "CA file (REELBOX_REDIS_CA, redis_ca)", ca);
	if (!ca && SSL_CTX_set_default_verify_paths(t->ctx) != 1)
		return ctx_error(err, errlen, "system CA store", "");
	if (!cert != !key) {
		qerr(err, errlen,
		     "a Redis client certificate needs both REELBOX_REDIS_CERT and "
		     "REELBOX_REDIS_KEY (config redis_cert and redis_key): only the %s is set",
		     cert ? "certificate" : "key");
		return -EINVAL;
	}
	if (cert && SSL_CTX_use_certificate_chain_file(t->ctx, cert) != 1)
		return ctx_error(err, errlen, "client certificate (REELBOX_REDIS_CERT)", cert);
	if (key && SSL_CTX_use_PrivateKey_file(t->ctx, key, SSL_FILETYPE_PEM) != 1)
		return ctx_error(err, errlen, "client key (REELBOX_REDIS_KEY)", key);
	if (cert && SSL_CTX_check_private_key(t->ctx) != 1)
		return ctx_error(err, errlen, "client key (it does not match the certificate)",
				 key);
	/* Default-deny: the peer must prove who it is, unless the URL says ?insecure=1. */
	SSL_CTX_set_verify(t->ctx, t->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
	t->ca_given = ca != NULL;
	t->cert_given = cert != NULL;
	return 0;
}

/* The private directory the per-connection sockets are made in. */
static int dir_setup(struct qtls *t, char *err, size_t errlen)
{
	const char *base = getenv("XDG_RUNTIME_DIR");
	struct stat st;

	/* The socket path, base/reelbox-tls-XXXXXX/cN, must fit sun_path's 108 bytes. */
	if (!base || base[0] != '/' || strlen(base) > 64 || stat(base, &st) < 0 ||
	    !S_ISDIR(st.st_mode))
		base = "/tmp";
	snprintf(t->dir, sizeof(t->dir), "%s/reelbox-tls-XXXXXX", base);
	/* mkdtemp makes it 0700: only this user can reach the sockets inside. */
	if (!mkdtemp(t->dir)) {
		int e = errno;
		qerr(err, errlen, "cannot make a private directory for the TLS bridge in %s: %s",
		     base, strerror(e));
		t->dir[0] = '\0';
		return -e;
	}
	return 0;
}

int qtls_new(struct qtls **out, const struct queue_url *u, const struct queue_opts *o, char *err,
	     size_t errlen)
{
	struct qtls *t = calloc(1, sizeof(*t));
	int rc;

	*out = NULL;
	if (!t)
		return -ENOMEM;
	/* OpenSSL may be loaded on first use (the caller's tls_prepare): a missing one is
	 * said here. */
	if (o->tls_prepare && (rc = o->tls_prepare(err, errlen)) < 0) {
		free(t);
		return rc;
	}
	t->stop[0] = t->stop[1] = -1;
	snprintf(t->host, sizeof(t->host), "%s", u->host);
	snprintf(t->where, sizeof(t->where), "%s", u->where);
	t->port = u->port;
	t->insecure = u->insecure;
	pthread_mutex_init(&t->mu, NULL);
	if ((rc = ctx_setup(t, o, err, errlen)) < 0 || (rc = dir_setup(t, err, errlen)) < 0)
		goto fail;
	if (pipe2(t->stop, O_CLOEXEC) < 0) {
		rc = -errno;
		qerr(err, errlen, "cannot start the TLS bridge: %s", strerror(-rc));
		goto fail;
	}
	*out = t;
	return 0;
fail:
	qtls_free(t);
	return rc;
}

void qtls_free(struct qtls *t)
{
	if (!t)
		return;
	if (t->stop[1] >= 0)
		close(t->stop[1]); /* every pump sees POLLHUP on stop[0] and ends */
	t->stop[1] = -1;
	for (int i = 0; i < QTLS_MAX_CONN; i++)
		if (t->pumps[i].used)
			pthread_join(t->pumps[i].th, NULL);
	if (t->stop[0] >= 0)
		close(t->stop[0]);
	if (t->dir[0])
		rmdir(t->dir);
	SSL_CTX_free(t->ctx);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

/* ---- Dial ---- */

static int remaining_ms(uint64_t deadline)
{
	uint64_t now = queue_now_ms();

	return now >= deadline ? 0 : (int)(deadline - now);
}

/* Wait for events on fd until the deadline: 1 ready, 0 timed out, -errno. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd p = {.fd = fd, .events = events};
	int r;

	do {
		r = poll(&p, 1, remaining_ms(deadline));
	} while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

static void tcp_tune(int fd)
{
	int on = 1, idle = 15, intvl = 5, cnt = 3;

	/* A peer gone without a FIN (a dead host) ends the pump within a minute. */
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
}

/* One address, non-blocking, by the deadline: the fd, or -errno. */
static int tcp_try(const struct addrinfo *ai, uint64_t deadline)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int r, e = 0;
	socklen_t el = sizeof(e);

	if (fd < 0)
		return -errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		r = -errno;
		close(fd);
		return r;
	}
	r = wait_fd(fd, POLLOUT, deadline);
	if (r == 0)
		e = ETIMEDOUT;
	else if (r < 0)
		e = -r;
	else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
		e = errno;
	if (e) {
		close(fd);
		return -e;
	}
	return fd;
}

static int tcp_connect(struct qtls *t, uint64_t deadline, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	char port[16];
	int r, fd = -ENOENT;

	snprintf(port, sizeof(port), "%d", t->port);
	if ((r = getaddrinfo(t->host, port, &hints, &res)) != 0) {
		qerr(err, errlen, "cannot connect to Redis at %s: %s", t->where, gai_strerror(r));
		return -EHOSTUNREACH;
	}
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
		if ((fd = tcp_try(ai, deadline)) >= 0 || !remaining_ms(deadline))
			break;
	freeaddrinfo(res);
	if (fd < 0) {
		qerr(err, errlen, "cannot connect to Redis at %s: %s; is redis-server running?",
		     t->where, strerror(-fd));
		return fd;
	}
	tcp_tune(fd);
	return fd;
}

/* What to tell the operator after a failed handshake or first read. */
static const char *tls_hint(const struct qtls *t, long verify, const char *reason)
{
	if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH)
		return "the certificate is not for this host: name the host as the certificate "
		       "does in the Redis URL";
	if (verify == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
	    verify == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
	    verify == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
	    verify == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE)
		return t->ca_given ? "check that REELBOX_REDIS_CA holds the CA that signed the "
				     "server's certificate"
				   : "give the CA in REELBOX_REDIS_CA";
	if (reason && (strstr(reason, "certificate required") ||
		       (!t->cert_given && strstr(reason, "handshake failure"))))
		return "the server wants a client certificate: give it in REELBOX_REDIS_CERT and "
		       "REELBOX_REDIS_KEY";
	if (reason && (strstr(reason, "wrong version number") || strstr(reason, "packet length")))
		return "is this a TLS port? (redis:// is Redis without TLS)";
	if (reason && strstr(reason, "unknown ca"))
		return "the server does not trust the client certificate's CA";
	return "check the Redis URL and the TLS settings";
}

/* The one sentence for a TLS failure (ret and the SSL error of the failed call). */
static void tls_fail(const struct qtls *t, SSL *ssl, int sslerr, char *err, size_t errlen)
{
	long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
	unsigned long e = ERR_peek_last_error();
	const char *reason = e ? ERR_reason_error_string(e) : NULL;
	char why[200];

	if (v != X509_V_OK && (!reason || strstr(reason, "certificate verify failed")))
		snprintf(why, sizeof(why), "certificate verify failed (%s)",
			 X509_verify_cert_error_string(v));
	else if (reason)
		snprintf(why, sizeof(why), "%s", reason);
	else if (sslerr == SSL_ERROR_SYSCALL && errno)
		snprintf(why, sizeof(why), "%s", strerror(errno));
	else
		snprintf(why, sizeof(why), "the server closed the connection");
	qerr(err, errlen, "TLS to %s failed: %s; %s", t->where, why, tls_hint(t, v, reason));
	ERR_clear_error();
}

/* Run an SSL call (handshake, or read/write of the probe) to completion by the deadline.
 * Returns its positive result, or 0 with err set. */
static int ssl_step(const struct qtls *t, SSL *ssl, int fd, uint64_t deadline, int op, void *buf,
		    int len, char *err, size_t errlen)
{
	for (;;) {
		int r, e, w;

		ERR_clear_error();
		errno = 0;
		r = op == 0   ? SSL_connect(ssl)
		    : op == 1 ? SSL_write(ssl, buf, len)
			      : SSL_read(ssl, buf, len);
		if (r > 0)
			return r;
		e = SSL_get_error(ssl, r);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			tls_fail(t, ssl, e, err, errlen);
			return 0;
		}
		w = wait_fd(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
		if (w <= 0) {
			qerr(err, errlen,
			     "TLS to %s failed: no answer within the connect timeout%s", t->where,
			     op == 0 ? "; is this a TLS port? (redis:// is Redis without TLS)"
				     : "");
			return 0;
		}
	}
}

/* The handshake, then a PING whose reply line (+PONG, or -NOAUTH before AUTH) shows
 * Redis took the session. The reply is read whole, so the pump starts at a clean
 * boundary. */
static int tls_open(struct qtls *t, SSL *ssl, int fd, uint64_t deadline, char *err, size_t errlen)
{
	static const char ping[] = "*1\r\n$4\r\nPING\r\n";
	char c = 0, first = 0;
	int n = 0;

	if (!ssl_step(t, ssl, fd, deadline, 0, NULL, 0, err, errlen) ||
	    !ssl_step(t, ssl, fd, deadline, 1, (void *)ping, (int)sizeof(ping) - 1, err, errlen))
		return -ECONNREFUSED;
	while (c != '\n') {
		if (!ssl_step(t, ssl, fd, deadline, 2, &c, 1, err, errlen))
			return -ECONNREFUSED;
		if (n++ == 0)
			first = c;
		if (n > 512)
			break;
	}
	if (first != '+' && first != '-') {
		qerr(err, errlen,
		     "%s did not answer like Redis over TLS; check the host and port of the Redis "
		     "URL",
		     t->where);
		return -EPROTO;
	}
	return 0;
}

/* SNI and the name check: a DNS name is sent as SNI and matched against the
 * certificate's names; an IP address is matched against its IP entries (SNI carries
 * names only). */
static int ssl_prepare(struct qtls *t, SSL **out, int fd)
{
	struct in6_addr a6;
	int is_ip = inet_pton(AF_INET, t->host, &a6) == 1 || inet_pton(AF_INET6, t->host, &a6) == 1;
	SSL *ssl = SSL_new(t->ctx);

	*out = ssl;
	if (!ssl || SSL_set_fd(ssl, fd) != 1)
		return -ENOMEM;
	if (!is_ip && SSL_set_tlsext_host_name(ssl, t->host) != 1)
		return -ENOMEM;
	if (t->insecure)
		return 0;
	if (is_ip)
		return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), t->host) == 1 ? 0
											: -ENOMEM;
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	return SSL_set1_host(ssl, t->host) == 1 ? 0 : -ENOMEM;
}

/* ---- Pump ---- */

struct half {
	char d[QTLS_BUF];
	size_t off, len;
};

/* The one connection from this process, by the deadline; the socket file goes away
 * either way. */
static int pump_accept(struct pump *p)
{
	struct ucred cr;
	socklen_t cl = sizeof(cr);
	int fd = -1;

	struct pollfd f[2] = {{.fd = p->lis, .events = POLLIN},
			      {.fd = p->t->stop[0], .events = POLLIN}};
	int r;

	do {
		r = poll(f, 2, remaining_ms(p->accept_by));
	} while (r < 0 && errno == EINTR);
	if (r > 0 && (f[0].revents & POLLIN) && !f[1].revents)
		fd = accept4(p->lis, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	unlink(p->path);
	close(p->lis);
	p->lis = -1;
	/* Only this process: the directory keeps others out, this says so twice. */
	if (fd >= 0 &&
	    (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0 || cr.pid != getpid())) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* One step of each direction; 1 progress, 0 none, -1 done (EOF or error). */
static int pump_step(SSL *ssl, int ux, struct half *up, struct half *dn, int *rd_want, int *wr_want)
{
	int prog = 0;
	ssize_t n;

	if (!up->len) {
		n = read(ux, up->d, sizeof(up->d));
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return -1; /* the client closed: nothing more to carry */
		if (n > 0)
			up->off = 0, up->len = (size_t)n, prog = 1;
	}
	if (up->len) {
		ERR_clear_error();
		int r = SSL_write(ssl, up->d + up->off, (int)up->len), e;
		if (r > 0) {
			up->off += (size_t)r, up->len -= (size_t)r, prog = 1, *wr_want = 0;
		} else {
			e = SSL_get_error(ssl, r);
			if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
				return -1;
			*wr_want = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
		}
	}
	if (!dn->len) {
		ERR_clear_error();
		int r = SSL_read(ssl, dn->d, (int)sizeof(dn->d)), e;
		if (r > 0) {
			dn->off = 0, dn->len = (size_t)r, prog = 1, *rd_want = 0;
		} else {
			e = SSL_get_error(ssl, r);
			if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
				return -1; /* Redis closed, or the session broke */
			*rd_want = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
		}
	}
	if (dn->len) {
		n = write(ux, dn->d + dn->off, dn->len);
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		if (n > 0)
			dn->off += (size_t)n, dn->len -= (size_t)n, prog = 1;
	}
	return prog;
}

/* Carry bytes until either side closes or the client is freed. Buffers are bounded:
 * a full buffer stops reading its source until the other side takes it. */
static void pump_run(struct pump *p, int ux)
{
	struct half *up = malloc(sizeof(*up)), *dn = malloc(sizeof(*dn));
	int rd_want = POLLIN, wr_want = 0, r;

	if (!up || !dn)
		goto out;
	up->len = dn->len = 0;
	for (;;) {
		while ((r = pump_step(p->ssl, ux, up, dn, &rd_want, &wr_want)) > 0)
			;
		if (r < 0)
			break;
		short te = (short)((dn->len ? 0 : rd_want) | (up->len ? wr_want : 0));
		struct pollfd f[3] = {
		    {.fd = ux, .events = (short)((up->len ? 0 : POLLIN) | (dn->len ? POLLOUT : 0))},
		    {.fd = te ? p->tcp : -1, .events = te},
		    {.fd = p->t->stop[0], .events = POLLIN},
		};
		if (!f[0].events)
			f[0].fd = -1;
		if (poll(f, 3, -1) < 0 && errno != EINTR)
			break;
		if (f[2].revents)
			break;
	}
out:
	free(up);
	free(dn);
}

static void *pump_main(void *arg)
{
	struct pump *p = arg;
	int ux = pump_accept(p);

	if (ux >= 0) {
		pump_run(p, ux);
		close(ux);
		SSL_shutdown(p->ssl); /* best effort, non-blocking: a close_notify */
	}
	SSL_free(p->ssl);
	close(p->tcp);
	pthread_mutex_lock(&p->t->mu);
	p->done = 1;
	pthread_mutex_unlock(&p->t->mu);
	return NULL;
}

/* A free pump slot (finished ones joined first), or NULL when all are busy. */
static struct pump *slot_take(struct qtls *t)
{
	struct pump *free_slot = NULL;

	pthread_mutex_lock(&t->mu);
	for (int i = 0; i < QTLS_MAX_CONN; i++) {
		struct pump *p = &t->pumps[i];
		if (p->used && p->done) {
			pthread_join(p->th, NULL);
			p->used = 0;
		}
		if (!p->used && !free_slot)
			free_slot = p;
	}
	if (free_slot) {
		memset(free_slot, 0, sizeof(*free_slot));
		free_slot->used = 1;
		free_slot->t = t;
	}
	pthread_mutex_unlock(&t->mu);
	return free_slot;
}

/* The listening socket for one connection, in the private directory. */
static int listen_one(struct qtls *t, struct pump *p)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	unsigned n;

	if (fd < 0)
		return -errno;
	pthread_mutex_lock(&t->mu);
	n = t->seq++;
	pthread_mutex_unlock(&t->mu);
	snprintf(p->path, sizeof(p->path), "%s/c%u", t->dir, n);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", p->path);
	unlink(p->path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

/* Hand the session to a pump thread (signals stay with the process's other threads). */
static int pump_start(struct pump *p)
{
	sigset_t all, old;
	int r;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&p->th, NULL, pump_main, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -r;
}

static int dial_fail(struct qtls *t, struct pump *p, SSL *ssl, int fd, int rc)
{
	SSL_free(ssl);
	if (fd >= 0)
		close(fd);
	if (p) {
		if (p->lis >= 0) {
			close(p->lis);
			unlink(p->path);
		}
		pthread_mutex_lock(&t->mu);
		p->used = 0;
		pthread_mutex_unlock(&t->mu);
	}
	return rc;
}

int qtls_dial(struct qtls *t, uint32_t timeout_ms, char path[108], char *err, size_t errlen)
{
	uint64_t deadline = queue_now_ms() + (timeout_ms ? timeout_ms : 2000);
	struct pump *p = slot_take(t);
	SSL *ssl = NULL;
	int fd, rc;

	if (!p) {
		qerr(err, errlen, "TLS to %s: %d connections are open already", t->where,
		     QTLS_MAX_CONN);
		return -EMFILE;
	}
	p->lis = -1;
	if ((fd = tcp_connect(t, deadline, err, errlen)) < 0)
		return dial_fail(t, p, NULL, -1, fd);
	if ((rc = ssl_prepare(t, &ssl, fd)) < 0) {
		qerr(err, errlen, "TLS to %s: cannot set up the session", t->where);
		return dial_fail(t, p, ssl, fd, rc);
	}
	if ((rc = tls_open(t, ssl, fd, deadline, err, errlen)) < 0)
		return dial_fail(t, p, ssl, fd, rc);
	if ((p->lis = listen_one(t, p)) < 0) {
		rc = p->lis;
		p->lis = -1;
		qerr(err, errlen, "TLS to %s: cannot make the bridge socket: %s", t->where,
		     strerror(-rc));
		return dial_fail(t, p, ssl, fd, rc);
	}
	p->ssl = ssl;
	p->tcp = fd;
	p->accept_by = queue_now_ms() + (timeout_ms ? timeout_ms : 2000);
	snprintf(path, 108, "%s", p->path);
	if ((rc = pump_start(p)) < 0) {
		qerr(err, errlen, "TLS to %s: cannot start the bridge thread: %s", t->where,
		     strerror(-rc));
		return dial_fail(t, p, ssl, fd, rc);
	}
	return 0;
}
