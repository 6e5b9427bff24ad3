/* avload.c - load FFmpeg's libraries with dlopen when render is first used.
 *
 * libav drags in some 170 shared libraries, and loading them costs tens of
 * milliseconds and megabytes that `reelbox exec`, `reelbox status` and an idle worker
 * never use. So with REELBOX_LAZY_LIBAV (the default) the binary does not link them:
 * cmake/libav_trampolines.cmake generates, for each libav function render/ calls, a
 * trampoline of the same name that jumps through rb_av_ptrs[], and this file fills
 * that table from dlopen()/dlsym() on the SONAMEs the build was linked against.
 *
 * render's entry points call render_libav_load() first, so a missing FFmpeg is one
 * sentence from render_open(). Any other libav call before that (a test calling
 * av_log_set_level, say) takes the trampolines' slow path, which loads here too, and aborts
 * with the sentence if it cannot: like the dynamic loader would, only later.
 *
 * Without REELBOX_LAZY_LIBAV libav is linked normally and this file does nothing.
 */
#define _GNU_SOURCE
#include "avload.h"
#include "render.h"

#include <errno.h>
#include <stdio.h>

#ifdef REELBOX_LAZY_LIBAV

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define HIDDEN __attribute__((visibility("hidden")))

/* Generated: libav_syms.c (names, SONAMEs) and libav_tramp.S (the table). */
HIDDEN extern const size_t rb_av_nlibs, rb_av_nsyms;
HIDDEN extern const char *const rb_av_sonames[];
HIDDEN extern const char *const rb_av_sym_names[];
HIDDEN extern const unsigned char rb_av_sym_lib[];
HIDDEN extern void *rb_av_ptrs[];

HIDDEN void rb_av_lazy_resolve(unsigned sym);

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int load_ret;
static char load_err[512];

static pthread_mutex_t level_lock = PTHREAD_MUTEX_INITIALIZER;
static int loaded, level_pending, pending_level;

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

static void load(void)
{
	void *handles[16] = {0};
	void **ptrs = NULL;

	if (rb_av_nlibs > sizeof(handles) / sizeof(handles[0])) {
		snprintf(load_err, sizeof(load_err),
			 "reelbox was built against %zu libav libraries, "
			 "more than the loader handles",
			 rb_av_nlibs);
		goto fail;
	}
	for (size_t i = 0; i < rb_av_nlibs; i++) {
		handles[i] = dlopen(rb_av_sonames[i], RTLD_NOW | RTLD_GLOBAL);
		if (!handles[i]) {
			snprintf(load_err, sizeof(load_err),
				 "cannot load %s: %s; is FFmpeg installed?", rb_av_sonames[i],
				 dl_reason(rb_av_sonames[i]));
			goto fail;
		}
	}
	/* All or nothing: a half-filled table would send some calls down the slow path. */
	ptrs = calloc(rb_av_nsyms ? rb_av_nsyms : 1, sizeof(*ptrs));
	if (!ptrs) {
		snprintf(load_err, sizeof(load_err), "out of memory loading FFmpeg's libraries");
		goto fail;
	}
	for (size_t i = 0; i < rb_av_nsyms; i++) {
		const char *so = rb_av_sonames[rb_av_sym_lib[i]];

		dlerror();
		ptrs[i] = dlsym(handles[rb_av_sym_lib[i]], rb_av_sym_names[i]);
		if (!ptrs[i]) {
			snprintf(
			    load_err, sizeof(load_err),
			    "cannot find %s in %s: %s; is it the FFmpeg reelbox was built against?",
			    rb_av_sym_names[i], so, dl_reason(so));
			goto fail;
		}
	}
	for (size_t i = 0; i < rb_av_nsyms; i++)
		__atomic_store_n(&rb_av_ptrs[i], ptrs[i], __ATOMIC_RELEASE);

	pthread_mutex_lock(&level_lock);
	loaded = 1;
	if (level_pending) {
		for (size_t i = 0; i < rb_av_nsyms; i++)
			if (!strcmp(rb_av_sym_names[i], "av_log_set_level"))
				((void (*)(int))ptrs[i])(pending_level);
	}
	pthread_mutex_unlock(&level_lock);
	free(ptrs);
	return;
fail:
	free(ptrs);
	load_ret = -ENOENT;
}

int render_libav_load(char *err, size_t errlen)
{
	pthread_once(&load_once, load);
	if (load_ret < 0)
		snprintf(err, errlen, "%s", load_err);
	return load_ret;
}

int render_libav_defer_log_level(int level)
{
	int deferred;

	pthread_mutex_lock(&level_lock);
	deferred = !loaded;
	if (deferred) {
		level_pending = 1;
		pending_level = level;
	}
	pthread_mutex_unlock(&level_lock);
	return deferred;
}

/* The trampolines' slow path: a libav call before render_libav_load() succeeded. */
void rb_av_lazy_resolve(unsigned sym)
{
	char err[512];

	if (render_libav_load(err, sizeof(err)) < 0) {
		fprintf(stderr, "reelbox: %s\n", err);
		abort();
	}
}

#else /* !REELBOX_LAZY_LIBAV: libav is linked the ordinary way */

int render_libav_load(char *err, size_t errlen)
{
	return 0;
}

int render_libav_defer_log_level(int level)
{
	return 0;
}

#endif
