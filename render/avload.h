/* avload.h - render's internal side of loading libav on first use (see avload.c). */
#ifndef REELBOX_RENDER_AVLOAD_H
#define REELBOX_RENDER_AVLOAD_H

/* Before libav is loaded, remember an av_log_set_level() for the loader to apply and
 * return 1; once it is loaded return 0, and the caller sets the level itself. */
int render_libav_defer_log_level(int level);

#endif
