/*
 * Small helpers shared by every program: allocation that aborts on failure,
 * durable file replacement, whole-file reads, running a command without a
 * shell, and clocks.
 */
#ifndef LIFELINE_UTIL_H
#define LIFELINE_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

void  *xmalloc(size_t size);
void  *xcalloc(size_t n, size_t size);
void  *xrealloc(void *p, size_t size);
char  *xstrdup(const char *s);
char  *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Copy with truncation; returns strlen(src) like strlcpy. */
size_t xstrlcpy(char *dst, const char *src, size_t size);

/*
 * Replace path with data durably: write a temporary file beside it, fsync,
 * rename over path, fsync the directory. Returns 0, or -1 with errno set.
 */
/* fsync the folder that holds path, so a new name in it is durable. 0 or -1. */
int fsync_parent_dir(const char *path);

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);

/*
 * Read a whole file of at most max bytes into a NUL-terminated buffer.
 * Returns NULL with errno set (EFBIG when larger than max).
 */
char *read_file(const char *path, size_t max, size_t *lenp);

/* Write all len bytes of buf to fd, going on after EINTR and short writes. 0, or -1 with errno. */
int write_full(int fd, const void *buf, size_t len);

/* Create path and its parents (mkdir -p). Returns 0 or -1 with errno set. */
int mkdir_p(const char *path, mode_t mode);

/*
 * Run argv[0] (searched in PATH) with argv, no shell, and wait for it.
 * stdout and stderr go to /dev/null when quiet. Returns the exit status
 * (0..255), 128+signal if it was killed, or -1 if it could not be started.
 */
int run_argv(char *const argv[], int quiet);

/* Milliseconds on the monotonic clock, and on the wall clock. */
uint64_t now_mono_ms(void);
uint64_t now_wall_ms(void);

/*
 * Write a reason into why (whylen bytes), for functions that say why they
 * refused; a NULL why or a zero whylen is allowed and writes nothing.
 */
void why_printf(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* DIR/YYYYmmdd-HHMMSS-SUFFIX for this moment, local time: a dated folder. Caller frees. */
char *dated_path(const char *dir, const char *suffix);

/*
 * Make msg valid UTF-8 in place, for JSON: a message may quote outside
 * bytes (a file name, a bad request) or be cut inside a character by its
 * buffer. Invalid bytes become '?'.
 */
void utf8_sanitize(char *msg);

/*
 * splitmix64's finalizer: spreads dense keys (inode numbers, node ids)
 * over every bit, for the slots of a hash table.
 */
static inline uint64_t
mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

#endif
