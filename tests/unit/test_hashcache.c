/*
 * Unit tests of repl/hashcache: a hit only for the very stat that was
 * stored, racy entries not stored, the caps, the sweep, and files
 * gathered over several steps. (That a rehash check consults no cache is
 * tested with the scanner and the verifier, in test_check.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "repl/hashcache.h"

#define NOW_SEC  2000000000LL         /* the "time the read started" of these tests */

/* The lstat of a regular file: inode ino, size bytes, changed and modified long before NOW_SEC. */
static struct stat
file_stat(uint64_t ino, uint64_t size)
{
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_mode = S_IFREG | 0644;
	st.st_dev = 0x801;
	st.st_ino = ino;
	st.st_size = (off_t)size;
	st.st_ctim = (struct timespec){ NOW_SEC - 100, 123456789 };
	st.st_mtim = (struct timespec){ NOW_SEC - 200, 987654321 };
	return st;
}

static const struct timespec started = { NOW_SEC, 0 };

/* Store a file of size bytes whose block k hashes to seed + k. */
static bool
put(struct hashcache *c, uint16_t root, const struct stat *st, uint64_t seed)
{
	uint64_t h[8];
	size_t n = hashcache_blocks_of((uint64_t)st->st_size), k;

	assert_true(n <= 8);
	for (k = 0; k < n; k++)
		h[k] = seed + k;
	return hashcache_put(c, root, st, &started, h, n);
}

static void
test_hit(void **state)
{
	struct hashcache *c = hashcache_new(16, 64);
	struct stat st = file_stat(10, 3 * HASHCACHE_BLOCK + 1), empty = file_stat(11, 0);
	const uint64_t *h;
	struct hashcache_stats s;
	size_t n = 0;

	assert_true(put(c, 0, &st, 100));
	h = hashcache_get(c, 0, &st, &n);
	assert_non_null(h);
	assert_int_equal(n, 4);
	assert_int_equal(h[0], 100);
	assert_int_equal(h[3], 103);
	/* An empty file is remembered too: it says the file had no xattrs. */
	assert_true(put(c, 0, &empty, 0));
	assert_non_null(hashcache_get(c, 0, &empty, &n));
	assert_int_equal(n, 0);
	/* The root is part of the key: the same inode under another root is unknown. */
	assert_null(hashcache_get(c, 1, &st, &n));
	hashcache_stats(c, &s);
	assert_int_equal(s.entries, 2);
	assert_int_equal(s.blocks, 4);
	assert_int_equal(s.hits, 2);
	assert_int_equal(s.misses, 1);
	assert_int_equal(s.stored, 2);
	hashcache_free(c);
}

/* Any of ctime, size, mtime, inode or device that moved: a miss. */
static void
test_miss_on_change(void **state)
{
	struct hashcache *c = hashcache_new(16, 64);
	struct stat st = file_stat(20, 5000), moved;
	size_t n;

	assert_true(put(c, 0, &st, 7));
	moved = st;
	moved.st_ctim.tv_nsec++;                  /* changed underneath, mtime and size restored */
	assert_null(hashcache_get(c, 0, &moved, &n));
	moved = st;
	moved.st_ctim.tv_sec++;
	assert_null(hashcache_get(c, 0, &moved, &n));
	moved = st;
	moved.st_size++;
	assert_null(hashcache_get(c, 0, &moved, &n));
	moved = st;
	moved.st_mtim.tv_nsec--;
	assert_null(hashcache_get(c, 0, &moved, &n));
	moved = st;
	moved.st_ino++;
	assert_null(hashcache_get(c, 0, &moved, &n));
	moved = st;
	moved.st_dev++;
	assert_null(hashcache_get(c, 0, &moved, &n));
	moved = st;
	moved.st_mode = S_IFDIR | 0755;           /* only regular files */
	assert_null(hashcache_get(c, 0, &moved, &n));
	assert_non_null(hashcache_get(c, 0, &st, &n));
	/* Stored again for a new ctime: the old one no longer hits. */
	moved = st;
	moved.st_ctim.tv_sec += 10;
	assert_true(put(c, 0, &moved, 9));
	assert_null(hashcache_get(c, 0, &st, &n));
	assert_int_equal(hashcache_get(c, 0, &moved, &n)[0], 9);
	hashcache_free(c);
}

/* A ctime within HASHCACHE_RACY_NS of the read's start is not stored. */
static void
test_racy_not_stored(void **state)
{
	struct hashcache *c = hashcache_new(16, 64);
	struct stat st = file_stat(30, 10);
	struct hashcache_stats s;
	size_t n;

	st.st_ctim = (struct timespec){ NOW_SEC - 1, 1 };         /* 0.999999999 s before */
	assert_false(put(c, 0, &st, 1));
	assert_null(hashcache_get(c, 0, &st, &n));
	st.st_ctim = (struct timespec){ NOW_SEC, 500 };          /* after the start */
	assert_false(put(c, 0, &st, 1));
	st.st_ctim = (struct timespec){ NOW_SEC - 1, 0 };         /* exactly the margin: old enough */
	assert_true(put(c, 0, &st, 1));
	assert_non_null(hashcache_get(c, 0, &st, &n));
	hashcache_stats(c, &s);
	assert_int_equal(s.racy, 2);
	assert_int_equal(s.stored, 1);
	hashcache_free(c);
}

/* The caps: no new entry past max_entries or max_blocks; a replacement still goes. */
static void
test_cap(void **state)
{
	struct hashcache *c = hashcache_new(3, 6);
	struct stat a = file_stat(1, 1), b = file_stat(2, 1), d = file_stat(3, 1);
	struct stat e = file_stat(4, 1), big = file_stat(5, 5 * HASHCACHE_BLOCK);
	struct hashcache_stats s;
	uint64_t h[2] = { 1, 2 };
	size_t n;

	assert_true(put(c, 0, &a, 1));
	assert_true(put(c, 0, &b, 2));
	assert_true(put(c, 0, &d, 3));
	assert_false(put(c, 0, &e, 4));           /* fourth file: refused, nothing evicted */
	assert_null(hashcache_get(c, 0, &e, &n));
	assert_non_null(hashcache_get(c, 0, &a, &n));
	a.st_ctim.tv_sec++;                       /* the same file read again: replaced */
	assert_true(put(c, 0, &a, 5));
	assert_int_equal(hashcache_get(c, 0, &a, &n)[0], 5);
	hashcache_stats(c, &s);
	assert_int_equal(s.entries, 3);
	assert_int_equal(s.full, 1);
	/* Block cap: 3 - 1 + 5 > 6, even in place of a one-block file. */
	big.st_ino = 2;
	assert_false(put(c, 0, &big, 6));
	/* A count of hashes that does not fit the size is refused. */
	assert_false(hashcache_put(c, 0, &b, &started, h, 2));
	hashcache_free(c);
}

/* A sweep drops what was neither hit nor stored since the sweep before. */
static void
test_sweep(void **state)
{
	struct hashcache *c = hashcache_new(16, 64);
	struct stat a = file_stat(1, 1), b = file_stat(2, 1), d = file_stat(3, 1);
	struct hashcache_stats s;
	size_t n;

	assert_true(put(c, 0, &a, 1));
	assert_true(put(c, 0, &b, 2));
	hashcache_sweep(c);                       /* both were stored since: kept */
	assert_non_null(hashcache_get(c, 0, &a, &n));
	assert_true(put(c, 0, &d, 3));
	hashcache_sweep(c);                       /* b unused since the last sweep: gone */
	assert_non_null(hashcache_get(c, 0, &a, &n));
	assert_non_null(hashcache_get(c, 0, &d, &n));
	assert_null(hashcache_get(c, 0, &b, &n));
	hashcache_stats(c, &s);
	assert_int_equal(s.swept, 1);
	assert_int_equal(s.entries, 2);
	hashcache_clear(c);
	assert_null(hashcache_get(c, 0, &a, &n));
	hashcache_stats(c, &s);
	assert_int_equal(s.entries, 0);
	assert_int_equal(s.blocks, 0);
	hashcache_free(c);
}

/* Many files: the table grows and every one is still found. */
static void
test_many(void **state)
{
	struct hashcache *c = hashcache_new(100000, 100000);
	struct stat st;
	size_t n, i;

	for (i = 1; i <= 20000; i++) {
		st = file_stat(i, 100);
		assert_true(put(c, (uint16_t)(i % 3), &st, i));
	}
	for (i = 1; i <= 20000; i++) {
		st = file_stat(i, 100);
		assert_int_equal(hashcache_get(c, (uint16_t)(i % 3), &st, &n)[0], i);
	}
	hashcache_free(c);
}

/* A file gathered over several steps is stored only whole and with one stat throughout. */
static void
test_fill(void **state)
{
	struct hashcache *c = hashcache_new(16, 64);
	struct stat st = file_stat(40, 5 * HASHCACHE_BLOCK), moved = st;
	struct hashcache_fill f = { 0 };
	uint64_t h[5] = { 1, 2, 3, 4, 5 };
	size_t n;

	hashcache_fill_start(&f, 0, &st, &started);
	hashcache_fill_add(&f, 0, &st, 0, h, 3);
	hashcache_fill_add(&f, 0, &st, 3, h + 3, 2);
	assert_true(hashcache_fill_end(c, &f));
	assert_false(f.on);
	assert_int_equal(hashcache_get(c, 0, &st, &n)[4], 5);
	/* Changed between two steps: dropped, nothing stored. */
	st.st_ino = 41;
	moved = st;
	moved.st_ctim.tv_nsec++;
	hashcache_fill_start(&f, 0, &st, &started);
	hashcache_fill_add(&f, 0, &st, 0, h, 3);
	hashcache_fill_add(&f, 0, &moved, 3, h + 3, 2);
	assert_false(f.on);
	assert_false(hashcache_fill_end(c, &f));
	assert_null(hashcache_get(c, 0, &st, &n));
	assert_null(hashcache_get(c, 0, &moved, &n));
	/* A step out of order, or one short: not stored. */
	hashcache_fill_start(&f, 0, &st, &started);
	hashcache_fill_add(&f, 0, &st, 1, h, 3);
	assert_false(hashcache_fill_end(c, &f));
	hashcache_fill_start(&f, 0, &st, &started);
	hashcache_fill_add(&f, 0, &st, 0, h, 3);
	assert_false(hashcache_fill_end(c, &f));
	assert_null(hashcache_get(c, 0, &st, &n));
	hashcache_fill_drop(&f);
	hashcache_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hit),
		cmocka_unit_test(test_miss_on_change),
		cmocka_unit_test(test_racy_not_stored),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_sweep),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_fill),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
