/* open_beneath (beneath.h). */
#include "repl/beneath.h"

#include <sys/syscall.h>

#include <linux/openat2.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

int
open_beneath(int dirfd, const char *path, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.mode = (flags & O_CREAT) ? mode : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS,
	};
	long fd;

	do {
		fd = syscall(SYS_openat2, dirfd, path[0] == '\0' ? "." : path, &how, sizeof(how));
	} while (fd == -1 && errno == EINTR);
	return (int)fd;
}
