/* lazylib.h - libcurl, libmicrohttpd and OpenSSL, loaded on first use (see lazylib.c).
 *
 * A leaf: queue/ and worker/ both include it, it includes neither.
 */
#ifndef REELBOX_LAZY_LAZYLIB_H
#define REELBOX_LAZY_LAZYLIB_H

#include <stddef.h>

/* In CMakeLists.txt's order (RB_LAZY_LIBS), which the generated table follows. */
enum rb_lib {
	RB_LIB_CRYPTO, /* libcrypto.so.3: digests, the webhook's HMAC, TLS */
	RB_LIB_SSL,    /* libssl.so.3: queue/tls.c (rediss://) */
	RB_LIB_CURL,   /* libcurl.so.4: worker/httpc.c (model calls, uploads, webhooks) */
	RB_LIB_MHD,    /* libmicrohttpd.so.12: the metrics port, `reelbox web`, the stand-in */
	RB_LIB_COUNT,
};

/* Load one library (and what it needs) if it is not loaded yet; thread-safe, and cheap
 * once loaded. 0, or -ENOENT with one sentence in err ("cannot load libcurl.so.4: ...;
 * install libcurl4"). Call it where a feature starts, so a missing library is an error
 * there; a call that reaches an unloaded library first loads it anyway, and ends the
 * process with that sentence (exit 127, as the dynamic loader would at start) if it
 * cannot. Without REELBOX_LAZY_LIBS the libraries are linked and this returns 0. */
int rb_lib_load(enum rb_lib lib, char *err, size_t errlen);

/* 1 once rb_lib_load (or a call through it) loaded lib, else 0; always 1 without
 * REELBOX_LAZY_LIBS. */
int rb_lib_loaded(enum rb_lib lib);

#endif
