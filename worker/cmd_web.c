/* cmd_web.c - `reelbox web`: the dashboard, a page and its API over the queue.
 *
 * It reads the options, the token and the operator's config, then runs libmicrohttpd
 * with a thread per connection (an event stream blocks its own thread, nobody else's)
 * until SIGINT or SIGTERM. What a request may do is decided in web_http.c, what it
 * gets in web_api.c, web_sse.c and web_media.c (web.h says who calls whom).
 *
 * Loopback is the default; a listen address anyone else can reach requires a token,
 * which lives only in this process's memory: read from the variable --token-env names
 * (never a flag, which every user on the host sees in /proc/PID/cmdline), then wiped
 * from the environment block.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "lazylib.h"
#include "secretenv.h"
#include "web.h"

#define WEB_MAX_CONNECTIONS 32
#define WEB_PER_IP	    16 /* a browser opens 6 at once, plus its event streams */
#define WEB_IDLE_TIMEOUT_S  30 /* a silent connection is dropped (slowloris) */

enum { OPT_LISTEN = OPT_CLI_LAST + 60, OPT_TOKEN_ENV, OPT_OUTPUT_DIR };

struct web_args {
	const char *listen, *redis, *token_env, *config, *output_dir;
};

/* The address to bind, and what it says about who can reach it. */
struct listen_addr {
	struct sockaddr_storage sa;
	int v6, loopback, wildcard;
	uint16_t port;
	char host[WEB_HOST_LEN]; /* as a Host header names it: 127.0.0.1, [::1] */
};

static const char web_usage[] =
    "usage: reelbox web [--listen ADDR:PORT] [--redis URL] [--token-env NAME]\n"
    "                   [--output-dir DIR] [--config FILE]\n"
    "  The dashboard: the queue's jobs by state, a job's settings, log and video, and\n"
    "  cancel, retry and delete, live, at http://ADDR:PORT/.\n"
    "      --listen ADDR:PORT  where to listen (127.0.0.1:8080); ADDR is an IPv4 address,\n"
    "                          [IPv6] or localhost; off loopback --token-env is required\n"
    "      --redis URL         the queue (default $REELBOX_REDIS_URL, else\n"
    "                          redis://127.0.0.1:6379)\n"
    "      --token-env NAME    require the token held in environment variable NAME (16 to\n"
    "                          256 characters of [A-Za-z0-9._~-]) on every request: as\n"
    "                          Authorization: Bearer TOKEN, or open /?token=TOKEN once\n"
    "      --output-dir DIR    the workers' output dir: videos are served only from\n"
    "                          inside it (default the config's output_dir, reelbox-out)\n"
    "      --config FILE       operator configuration (JSON)\n";

static int web_parse(int argc, char **argv, struct web_args *a)
{
	static const struct option opts[] = {
	    {"listen", required_argument, NULL, OPT_LISTEN},
	    {"redis", required_argument, NULL, OPT_REDIS},
	    {"token-env", required_argument, NULL, OPT_TOKEN_ENV},
	    {"output-dir", required_argument, NULL, OPT_OUTPUT_DIR},
	    {"config", required_argument, NULL, OPT_CONFIG},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c;

	a->listen = "127.0.0.1:8080";
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_LISTEN:
			a->listen = optarg;
			break;
		case OPT_REDIS:
			a->redis = optarg;
			break;
		case OPT_TOKEN_ENV:
			a->token_env = optarg;
			break;
		case OPT_CONFIG:
			a->config = optarg;
			break;
		case OPT_OUTPUT_DIR:
			a->output_dir = optarg;
			break;
		case 'h':
			fputs(web_usage, stdout);
			return -1;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind != argc)
		return cli_usage_error("web", "takes no arguments, only options (see --help)");
	return 0;
}

/* "ADDR:PORT" with ADDR an IPv4 address, [IPv6] or localhost: 0, or EXIT_USAGE. */
static int parse_listen(const char *s, struct listen_addr *l)
{
	char addr[64];
	const char *colon = s[0] == '[' ? strstr(s, "]:") : strrchr(s, ':');
	char *end;
	unsigned long port;
	size_t n = colon ? (size_t)(colon - s) + (s[0] == '[') : 0;

	memset(l, 0, sizeof(*l));
	if (!colon || n == 0 || n >= sizeof(addr))
		goto bad;
	memcpy(addr, s + (s[0] == '['), n - 2 * (s[0] == '['));
	addr[n - 2 * (s[0] == '[')] = '\0';
	colon += s[0] == '[' ? 2 : 1;
	errno = 0;
	port = strtoul(colon, &end, 10);
	if (errno || end == colon || *end || colon[0] == '-' || port > 65535)
		goto bad;
	l->port = (uint16_t)port;
	if (!strcmp(addr, "localhost"))
		snprintf(addr, sizeof(addr), "127.0.0.1");
	if (s[0] == '[') {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&l->sa;
		if (inet_pton(AF_INET6, addr, &a6->sin6_addr) != 1)
			goto bad;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(l->port);
		l->v6 = 1;
		l->loopback = IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr);
		l->wildcard = IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr);
		snprintf(l->host, sizeof(l->host), "[%s]", addr);
		return 0;
	}
	struct sockaddr_in *a4 = (struct sockaddr_in *)&l->sa;
	if (inet_pton(AF_INET, addr, &a4->sin_addr) != 1)
		goto bad;
	a4->sin_family = AF_INET;
	a4->sin_port = htons(l->port);
	l->loopback = (ntohl(a4->sin_addr.s_addr) >> 24) == 127;
	l->wildcard = a4->sin_addr.s_addr == htonl(INADDR_ANY);
	snprintf(l->host, sizeof(l->host), "%s", addr);
	return 0;
bad:
	return cli_usage_error("web",
			       "--listen takes ADDR:PORT (127.0.0.1:8080, [::1]:8080, "
			       "0.0.0.0:8080), not '%.64s'",
			       s);
}

/* The Host values this server answers to, now that its port is known. */
static void allow_hosts(struct web *w, const struct listen_addr *l)
{
	const char *names[] = {l->host, "localhost", "127.0.0.1", "[::1]"};
	int n = l->loopback || l->wildcard ? 4 : 1;

	w->any_host = l->wildcard;
	for (int i = 0; i < n && w->n_hosts + 2 <= WEB_HOSTS_MAX; i++) {
		snprintf(w->hosts[w->n_hosts++], WEB_HOST_LEN, "%s:%u", names[i],
			 (unsigned)w->port);
		if (w->port == 80) /* a browser leaves the default port out */
			snprintf(w->hosts[w->n_hosts++], WEB_HOST_LEN, "%s", names[i]);
	}
}

/* The token from the variable name: copied, checked, then wiped in place and removed
 * (the environment block is what /proc/PID/environ shows). 0, or EXIT_USAGE. */
static int read_token(struct web *w, const char *name)
{
	const char *ok = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._~-";
	char *v = getenv(name);
	size_t n;
	unsigned int mdlen = 0;

	if (!v || !*v)
		return cli_usage_error("web", "--token-env %.64s: the variable is unset or empty",
				       name);
	n = strlen(v);
	/* Cookie- and header-safe, long enough not to be guessed: never echoed back. */
	if (n < WEB_TOKEN_MIN || n > WEB_TOKEN_MAX || strspn(v, ok) != n)
		return cli_usage_error("web",
				       "the token in %.64s must be %d to %d characters of "
				       "[A-Za-z0-9._~-] (e.g. openssl rand -hex 32)",
				       name, WEB_TOKEN_MIN, WEB_TOKEN_MAX);
	if (!(w->token = strdup(v)))
		return cli_usage_error("web", "out of memory");
	secret_env_wipe(name);
	if (!EVP_Digest(w->token, n, w->token_sha, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
		return cli_usage_error("web", "cannot hash the token");
	return 0;
}

/* The dir videos are served from, resolved once (the workers record resolved paths): a
 * dir that is not there serves no video, said once on stderr. */
static void media_root(struct web *w, const char *dir)
{
	char *real = realpath(dir, NULL);

	if (!real || strlen(real) >= sizeof(w->media_root) || !strcmp(real, "/"))
		fprintf(stderr,
			"reelbox web: no video will be served: the output dir '%.200s' %s (give "
			"--output-dir DIR, the dir the workers write to)\n",
			dir, real ? "is the root or too long" : strerror(errno));
	else
		snprintf(w->media_root, sizeof(w->media_root), "%s", real);
	free(real);
}

/* The listening socket, bound here rather than by MHD so its port (a free one for port
 * 0) and the Host values it implies are known before the first request can arrive.
 * 0, or a negative errno. */
static int listen_socket(struct listen_addr *l, int *fd)
{
	struct sockaddr_storage got;
	socklen_t len = sizeof(got);
	int one = 1, e;

	*fd = socket(l->v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*fd < 0)
		return -errno;
	setsockopt(*fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (l->v6) /* [::] means IPv6 only, as written; 0.0.0.0 is IPv4's */
		setsockopt(*fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(*fd, (struct sockaddr *)&l->sa,
		 l->v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)) < 0 ||
	    listen(*fd, 64) < 0 || getsockname(*fd, (struct sockaddr *)&got, &len) < 0) {
		e = -errno;
		close(*fd);
		return e;
	}
	l->port = ntohs(l->v6 ? ((struct sockaddr_in6 *)&got)->sin6_port
			      : ((struct sockaddr_in *)&got)->sin_port);
	return 0;
}

static struct MHD_Daemon *start_daemon(struct web *w, int fd)
{
	unsigned flags =
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL;

	return MHD_start_daemon(
	    flags, 0, NULL, NULL, web_request, w, MHD_OPTION_LISTEN_SOCKET, fd,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)WEB_MAX_CONNECTIONS,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)WEB_PER_IP, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)WEB_IDLE_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)65536,
	    MHD_OPTION_UNESCAPE_CALLBACK, web_unescape, NULL, MHD_OPTION_NOTIFY_CONNECTION,
	    web_guard_notify, w, MHD_OPTION_NOTIFY_COMPLETED, web_guard_completed, w,
	    MHD_OPTION_END);
}

#define WEB_STOP_GRACE_S 5

/* A request blocked on a Redis that stopped answering holds MHD_stop_daemon until the
 * queue client's command deadline (10 s and more): past the grace period the process
 * ends without it, saying why. */
static void *stop_watchdog(void *arg)
{
	sleep(WEB_STOP_GRACE_S);
	fprintf(stderr,
		"reelbox web: a request still waits on Redis after %d s; stopping without "
		"it\n",
		WEB_STOP_GRACE_S);
	_exit(0);
	return arg;
}

/* Serve until SIGINT or SIGTERM: the signals are blocked before MHD's threads start (so
 * they inherit the mask) and taken here with sigwait. */
static int serve(struct web *w, struct listen_addr *l, const char *listen)
{
	struct MHD_Daemon *d;
	pthread_t dog;
	sigset_t set;
	int sig = 0, fd, rc;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((rc = listen_socket(l, &fd)) < 0)
		return cli_usage_error("web", "cannot listen on %.64s: %s", listen, strerror(-rc));
	w->port = l->port;
	allow_hosts(w, l);
	if ((rc = web_guard_start(w)) < 0) {
		close(fd);
		return cli_usage_error("web", "cannot start a thread: %s", strerror(-rc));
	}
	if (!(d = start_daemon(w, fd))) {
		close(fd);
		w->stopping = 1;
		web_guard_stop(w);
		return cli_usage_error("web", "cannot start the HTTP server on %.64s", listen);
	}
	printf("reelbox web: http://%s:%u/%s\n", l->wildcard ? "localhost" : l->host,
	       (unsigned)w->port, w->token ? " (token required)" : "");
	fflush(stdout);
	sigwait(&set, &sig);
	w->stopping = 1;
	pthread_create(&dog, NULL, stop_watchdog, NULL);
	MHD_stop_daemon(d);
	web_guard_stop(w);
	return 0;
}

/* `reelbox web`: 0 after SIGINT/SIGTERM, EXIT_USAGE for a bad option, a missing token
 * or an address it cannot listen on. */
int cmd_web(int argc, char **argv)
{
	struct web_args a = {0};
	struct listen_addr l;
	struct config cfg;
	struct web w = {0};
	char err[256];
	int rc;

	if ((rc = web_parse(argc, argv, &a)) != 0)
		return rc < 0 ? 0 : rc;
	if ((rc = parse_listen(a.listen, &l)) != 0)
		return rc;
	/* Default-deny: an address others can reach serves nothing without a token. */
	if (!l.loopback && !a.token_env)
		return cli_usage_error("web",
				       "--listen %.64s is not loopback: give --token-env NAME "
				       "(anyone who can reach it could cancel and delete jobs)",
				       a.listen);
	/* Both are loaded on first use (lazy/lazylib.c): a missing one is said here. */
	if (rb_lib_load(RB_LIB_MHD, err, sizeof(err)) < 0 ||
	    rb_lib_load(RB_LIB_CRYPTO, err, sizeof(err)) < 0)
		return cli_usage_error("web", "%s", err);
	if (a.token_env && (rc = read_token(&w, a.token_env)) != 0)
		goto out;
	if ((rc = cli_load_config("web", a.config, &cfg)) != 0)
		goto out;
	if (web_csp_init(&w, err, sizeof(err)) < 0) {
		rc = cli_usage_error("web", "%s", err);
		goto out;
	}
	media_root(&w, a.output_dir ? a.output_dir : cfg.output_dir);
	cli_queue_opts(&w.qopts, &cfg);
	w.redis_url = cli_redis_url(a.redis, &cfg);
	pthread_mutex_init(&w.lock, NULL);
	rc = serve(&w, &l, a.listen);
	web_queue_drain(&w);
	pthread_mutex_destroy(&w.lock);
out:
	if (w.token)
		explicit_bzero(w.token, strlen(w.token));
	free(w.token);
	return rc;
}
