/*
 * Opening a path beneath a directory descriptor and nowhere else (invariant
 * 6): openat2 with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS |
 * RESOLVE_NO_SYMLINKS, close-on-exec, retried on EINTR. A symlink anywhere
 * on the way fails with ELOOP; "" is the directory itself.
 */
#ifndef LIFELINE_BENEATH_H
#define LIFELINE_BENEATH_H

#include <sys/types.h>

/* -1 with errno. mode is used with O_CREAT only. */
int	open_beneath(int dirfd, const char *path, int flags, mode_t mode);

#endif
