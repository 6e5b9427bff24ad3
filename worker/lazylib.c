/* lazylib.c - load libcurl, libmicrohttpd and OpenSSL with dlopen on first use.
 *
 * With their dependencies they are some 32 shared libraries (gnutls, krb5, ldap, ssh2
 * ...), and mapping and relocating them at every start was a third of the CPU of
 * `reelbox exec -- /bin/true`, which, like `run` and a worker without deliveries, a model
 * or rediss://, never calls them (docs/capacity.md). So with REELBOX_LAZY_LIBS (the
 * default) the binary does not link them: cmake/lazy_trampolines.cmake generates, for
 * each of their functions queue/ and worker/ call, a trampoline of the same name that
 * jumps through rb_lazy_ptrs[], and this file fills the entries of one library from
 * dlopen()/dlsym() on the SONAME the build was linked against, the first time it is
 * needed: rb_lib_load() where a feature starts, or a trampoline's slow path.
 *
 * Without REELBOX_LAZY_LIBS (and in the fuzz targets, which link the libraries) the
 * libraries are linked normally and this file does nothing.
 */
#define _GNU_SOURCE
#include "lazylib.h"

#include <errno.h>
#include <stdio.h>

#ifdef REELBOX_LAZY_LIBS

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HIDDEN __attribute__((visibility("hidden")))

/* Generated: lazy_syms.c (names, SONAMEs) and lazy_tramp.S (the table). */
HIDDEN extern const size_t rb_lazy_nlibs, rb_lazy_nsyms;
HIDDEN extern const char *const rb_lazy_sonames[];
HIDDEN extern const char *const rb_lazy_sym_names[];
HIDDEN extern const unsigned char rb_lazy_sym_lib[];
HIDDEN extern void *rb_lazy_ptrs[];

HIDDEN void rb_lazy_lazy_resolve(unsigned sym);

/* What to install when a library is missing: Debian 12's packages. */
static const char *const package[RB_LIB_COUNT] = {
    [RB_LIB_CRYPTO] = "libssl3",
    [RB_LIB_SSL] = "libssl3",
    [RB_LIB_CURL] = "libcurl4",
    [RB_LIB_MHD] = "libmicrohttpd12",
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int state[RB_LIB_COUNT]; /* 0 not tried, 1 loaded, -1 failed (errs[] says why) */
static char errs[RB_LIB_COUNT][256];

/* dlerror() often starts with the name it was given; the sentence already has it. */
static const char *dl_reason(const char *name)
{
	const char *e = dlerror();
	size_t n = strlen(name);

	if (!e)
		return "unknown error";
	if (!strncmp(e, name, n) && e[n] == ':' && e[n + 1] == ' ')
		return e + n + 2;
	return e;
}

/* Under lock: dlopen one library and fill its entries, all or none (a half-filled
 * table would send some calls down the slow path again). */
static int load_one(enum rb_lib lib)
{
	const char *so = rb_lazy_sonames[lib];
	void *h = dlopen(so, RTLD_NOW | RTLD_LOCAL);
	void **ptrs;

	if (!h) {
		snprintf(errs[lib], sizeof(errs[lib]), "cannot load %s: %s; install %s", so,
			 dl_reason(so), package[lib]);
		return -ENOENT;
	}
	if (!(ptrs = calloc(rb_lazy_nsyms ? rb_lazy_nsyms : 1, sizeof(*ptrs)))) {
		snprintf(errs[lib], sizeof(errs[lib]), "out of memory loading %s", so);
		return -ENOMEM;
	}
	for (size_t i = 0; i < rb_lazy_nsyms; i++) {
		if (rb_lazy_sym_lib[i] != lib)
			continue;
		dlerror();
		if (!(ptrs[i] = dlsym(h, rb_lazy_sym_names[i]))) {
			snprintf(errs[lib], sizeof(errs[lib]),
				 "cannot find %s in %s: %s; is it the version reelbox was built "
				 "against?",
				 rb_lazy_sym_names[i], so, dl_reason(so));
			free(ptrs);
			return -ENOENT;
		}
	}
	for (size_t i = 0; i < rb_lazy_nsyms; i++)
		if (rb_lazy_sym_lib[i] == lib)
			__atomic_store_n(&rb_lazy_ptrs[i], ptrs[i], __ATOMIC_RELEASE);
	free(ptrs);
	return 0;
}

static int load_locked(enum rb_lib lib)
{
	int rc;

	if (state[lib])
		return state[lib] > 0 ? 0 : -ENOENT;
	/* libssl's calls go to libcrypto too (ERR_*, X509_*): both or neither. */
	if (lib == RB_LIB_SSL && (rc = load_locked(RB_LIB_CRYPTO)) < 0) {
		snprintf(errs[lib], sizeof(errs[lib]), "%s", errs[RB_LIB_CRYPTO]);
		state[lib] = -1;
		return rc;
	}
	rc = load_one(lib);
	__atomic_store_n(&state[lib], rc < 0 ? -1 : 1, __ATOMIC_RELEASE);
	return rc < 0 ? -ENOENT : 0;
}

int rb_lib_load(enum rb_lib lib, char *err, size_t errlen)
{
	int rc;

	if ((unsigned)lib >= RB_LIB_COUNT) {
		snprintf(err, errlen, "no lazily loaded library number %d", (int)lib);
		return -EINVAL;
	}
	if (rb_lazy_nlibs != RB_LIB_COUNT) {
		snprintf(err, errlen, "reelbox was built with %zu lazily loaded libraries, not %d",
			 rb_lazy_nlibs, (int)RB_LIB_COUNT);
		return -EINVAL;
	}
	if (__atomic_load_n(&state[lib], __ATOMIC_ACQUIRE) > 0)
		return 0;
	pthread_mutex_lock(&lock);
	rc = load_locked(lib);
	if (rc < 0)
		snprintf(err, errlen, "%s", errs[lib]);
	pthread_mutex_unlock(&lock);
	return rc;
}

int rb_lib_loaded(enum rb_lib lib)
{
	return (unsigned)lib < RB_LIB_COUNT && __atomic_load_n(&state[lib], __ATOMIC_ACQUIRE) > 0;
}

/* The trampolines' slow path: a call into a library nobody loaded yet. */
void rb_lazy_lazy_resolve(unsigned sym)
{
	char err[300];

	if (sym >= rb_lazy_nsyms) {
		fprintf(stderr, "reelbox: lazy call %u out of the table\n", sym);
		_exit(127);
	}
	if (rb_lib_load((enum rb_lib)rb_lazy_sym_lib[sym], err, sizeof(err)) < 0) {
		fprintf(stderr, "reelbox: %s\n", err);
		_exit(127);
	}
}

#else /* !REELBOX_LAZY_LIBS: the libraries are linked the ordinary way */

int rb_lib_load(enum rb_lib lib, char *err, size_t errlen)
{
	return 0;
}

int rb_lib_loaded(enum rb_lib lib)
{
	return 1;
}

#endif
