/*
 * The check's memory of file contents: the XXH3 hashes of each 64 KiB
 * block of a regular file without xattrs, as the scanner (active) or the
 * verifier (passive) last read them, trusted only while the file's ctime,
 * size, mtime and inode are what they were then. An unchanged file then
 * costs a check one fstatat per side instead of open, read, xattr list and
 * close.
 *
 * Why ctime: every change a check compares (content, size, mode, owner,
 * xattrs, times, links) moves it, and no application can set it back,
 * while utimensat sets any mtime: a file changed underneath with its mtime
 * and size restored is still read again. What the cache does not catch is
 * what no stat shows: the disk itself returning other bytes than were
 * written (`lifeline check --full --rehash` reads everything), or the
 * clock stepped back onto the very nanosecond of an older ctime.
 *
 * In memory only: a restarted lifeline-repl starts empty, so its first
 * check reads everything. Not thread-safe: one thread uses a cache at a
 * time (the plane keeps one for the scanner's thread, one for the
 * applier's).
 */
#ifndef LIFELINE_HASHCACHE_H
#define LIFELINE_HASHCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#define HASHCACHE_BLOCK        65536u           /* OP_VERIFY_BLOCK */
/*
 * The bounds of one cache: a table slot of 56 bytes per file (at most 448
 * MiB of table at the cap) and the hashes of files of more than one block
 * beside it. Past them nothing more is remembered (those files are read
 * at every check) until a sweep makes room.
 */
#define HASHCACHE_MAX_ENTRIES  (4u << 20)       /* files remembered */
#define HASHCACHE_MAX_BLOCKS   (16u << 20)      /* block hashes in all: 128 MiB, 1 TiB of files */
#define HASHCACHE_FILE_BLOCKS  (1u << 20)       /* a bigger file (64 GiB) is not remembered */

/*
 * A file read within this much of its ctime is not remembered ("racily
 * clean", as git calls it): the kernel stamps ctime from a coarse clock
 * (a jiffy, up to 10 ms behind the real time, and whole seconds on some
 * file systems), so a change made just after the read, in the same tick,
 * could leave the very ctime the read saw. Such a file is read again at
 * the next check, by then old enough.
 */
#define HASHCACHE_RACY_NS      1000000000LL

struct hashcache;

struct hashcache_stats {
	uint64_t	entries;      /* remembered now */
	uint64_t	blocks;       /* their block hashes */
	uint64_t	hits;         /* lookups answered */
	uint64_t	misses;       /* lookups not answered: unknown, or the stat moved */
	uint64_t	stored;
	uint64_t	racy;         /* not stored: read too soon after its ctime */
	uint64_t	full;         /* not stored: a cap was reached */
	uint64_t	swept;        /* dropped unused by hashcache_sweep */
};

/* A cache of at most max_entries files and max_blocks hashes in all. */
struct hashcache *hashcache_new(size_t max_entries, size_t max_blocks);
void		 hashcache_free(struct hashcache *c);

/* Forget everything (a role change); the counters stay. */
void		 hashcache_clear(struct hashcache *c);

/*
 * The block hashes of the file of root whose lstat is st, as remembered,
 * in *nblocks (ceil(size / 64 KiB)), or NULL: nothing remembered for its
 * root, device and inode, or its ctime (to the ns), size or mtime moved,
 * or it is not a regular file. A hit keeps the entry through the next
 * sweep. The pointer is valid until the next put, sweep or clear.
 */
const uint64_t	*hashcache_get(struct hashcache *c, uint16_t root, const struct stat *st,
		    size_t *nblocks);

/*
 * Remember the block hashes of a regular file without xattrs whose lstat
 * was st before a read that started at started (CLOCK_REALTIME): all
 * ceil(size / 64 KiB) of them. Not stored (false, counted): a ctime
 * within HASHCACHE_RACY_NS of started, a cap reached (the entries already
 * there stay: nothing is evicted but by a sweep), a count of hashes that
 * does not fit the size. A put for a file already known replaces it.
 */
bool		 hashcache_put(struct hashcache *c, uint16_t root, const struct stat *st,
		    const struct timespec *started, const uint64_t *hashes, size_t nblocks);

/*
 * Drop the entries neither looked up with a hit nor stored since the sweep
 * before: files gone or changed since. Call it when a full check begins,
 * so the cache holds what the last full check saw.
 */
void		 hashcache_sweep(struct hashcache *c);

void		 hashcache_stats(const struct hashcache *c, struct hashcache_stats *st);

/* ceil(size / 64 KiB): the hashes a file of that size has. */
size_t		 hashcache_blocks_of(uint64_t size);

/*
 * A file hashed over several steps (the scanner and the verifier take
 * CHECK_VERIFY_BLOCKS blocks at a time, and let other work in between):
 * its hashes are gathered, and stored only if every step saw the same
 * stat. Zero it to start; fill_start for its first step (the stat before
 * the read, the time the read started), fill_add for each step's hashes
 * (first: the index of the first block; the stat of that step), fill_end
 * when the last block is in (stored when all of them are, then emptied),
 * fill_drop to give up. Any mismatch (another stat, a block out of order)
 * drops it.
 */
struct hashcache_fill {
	bool		 on;
	uint16_t	 root;
	struct stat	 st;
	struct timespec	 started;
	uint64_t	*hashes;
	size_t		 n, need;
};

void		 hashcache_fill_start(struct hashcache_fill *f, uint16_t root, const struct stat *st,
		    const struct timespec *started);
void		 hashcache_fill_add(struct hashcache_fill *f, uint16_t root, const struct stat *st,
		    size_t first, const uint64_t *hashes, size_t n);
bool		 hashcache_fill_end(struct hashcache *c, struct hashcache_fill *f);
void		 hashcache_fill_drop(struct hashcache_fill *f);

/* Whether two lstats describe the same file at the same moment, for the cache. */
bool		 hashcache_same(const struct stat *a, const struct stat *b);

#endif
