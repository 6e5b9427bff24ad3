/* fdio.h - render's internal helpers shared by encode.c and join.c: libav I/O over a
 * descriptor the caller opened (a confined encoder may open nothing), libav's errors as
 * one sentence, and a file's sha256.
 */
#ifndef REELBOX_RENDER_FDIO_H
#define REELBOX_RENDER_FDIO_H

#include <stddef.h>

#include <libavformat/avformat.h>

/* An AVIOContext over fd (positioned reads or writes from offset 0, seekable, the size
 * by lseek); NULL when out of memory. fd stays the caller's. */
AVIOContext *fd_io_open(int fd, int write);
void fd_io_free(AVIOContext **pb);

/* The muxer's io_open/io_close2 for the MP4 faststart pass: a reading context over the
 * output's own descriptor instead of a reopen by name. */
int fd_io_reopen(AVFormatContext *s, AVIOContext **pb, const char *url, int flags,
		 AVDictionary **options);
int fd_io_close2(AVFormatContext *s, AVIOContext *pb);

/* "what: libav's reason" into err; an errno-style code, -EINVAL or -EIO. */
int av_fail(int averr, const char *what, char *err, size_t errlen);

/* The hex sha256 of fd's whole contents, read with pread. */
int hash_fd(int fd, char hex[65], char *err, size_t errlen);

#endif
