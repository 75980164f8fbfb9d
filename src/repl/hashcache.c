/*
 * The check's hash cache (hashcache.h): a flat hash table of files by
 * root, device and inode, each with the stat it was read at and its block
 * hashes, bounded in entries and hashes, swept of what a full check did
 * not see.
 */
#include "repl/hashcache.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

#define MIN_SLOTS   1024
#define RUN_BITS    4          /* 16 inodes in a row share a run of slots */
#define MAX_DEVS    65535          /* distinct (root, device) pairs told apart */

/*
 * One file, in a flat table probed linearly: a lookup of an unchanged
 * file touches one or two cache lines, not a bucket and a chain of
 * allocations (a check of many small files does little else per file).
 * The hash of a file of one block is kept in the slot itself.
 */
struct slot {
	uint64_t	 ino, size;
	int64_t		 ctime_sec, mtime_sec;
	uint32_t	 ctime_nsec, mtime_nsec;
	uint32_t	 nblocks;
	uint16_t	 dev;         /* index in devs[] + 1; 0: the slot is empty */
	bool		 used;        /* hit or stored since the last sweep */
	union {
		uint64_t	 one;        /* nblocks <= 1 */
		uint64_t	*many;       /* nblocks > 1, malloc'd */
	}		 h;
};

struct hashcache {
	struct slot	*slots;
	size_t		 nslots;      /* a power of two, above 4/3 of the entries */
	struct {
		uint64_t	 dev;
		uint16_t	 root;
	}		*devs;        /* the (root, device) pairs seen, for slot.dev */
	size_t		 ndevs;
	size_t		 max_entries, max_blocks;
	struct hashcache_stats st;
};

size_t
hashcache_blocks_of(uint64_t size)
{
	return (size_t)((size + HASHCACHE_BLOCK - 1) / HASHCACHE_BLOCK);
}

bool
hashcache_same(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	    a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

struct hashcache *
hashcache_new(size_t max_entries, size_t max_blocks)
{
	struct hashcache *c = xcalloc(1, sizeof(*c));

	c->nslots = MIN_SLOTS;
	c->slots = xcalloc(c->nslots, sizeof(*c->slots));
	c->max_entries = max_entries;
	c->max_blocks = max_blocks;
	return c;
}

static const uint64_t *
slot_hashes(const struct slot *sl)
{
	return sl->nblocks > 1 ? sl->h.many : &sl->h.one;
}

static void
slot_free(struct slot *sl)
{
	if (sl->nblocks > 1)
		free(sl->h.many);
	memset(sl, 0, sizeof(*sl));
}

void
hashcache_clear(struct hashcache *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nslots; i++)
		if (c->slots[i].dev != 0)
			slot_free(&c->slots[i]);
	c->st.entries = 0;
	c->st.blocks = 0;
}

void
hashcache_free(struct hashcache *c)
{
	if (c == NULL)
		return;
	hashcache_clear(c);
	free(c->slots);
	free(c->devs);
	free(c);
}

/* The number of (root, dev) in slot.dev, 0 when unknown (and not added unless add). */
static uint16_t
dev_id(struct hashcache *c, uint16_t root, uint64_t dev, bool add)
{
	size_t i;

	for (i = 0; i < c->ndevs; i++)
		if (c->devs[i].dev == dev && c->devs[i].root == root)
			return (uint16_t)(i + 1);
	if (!add || c->ndevs == MAX_DEVS)
		return 0;
	c->devs = xrealloc(c->devs, (c->ndevs + 1) * sizeof(*c->devs));
	c->devs[c->ndevs].dev = dev;
	c->devs[c->ndevs].root = root;
	return (uint16_t)++c->ndevs;
}

/*
 * The slot of (dev, ino), or the empty slot where it would go. Inodes
 * that differ only in their low RUN_BITS go to neighbouring slots, the
 * runs spread by a hash of the rest: files made one after the other
 * mostly have consecutive inode numbers and a check looks them up in
 * about that order (a folder's names), so one lookup brings the next
 * ones' cache lines and pages in (a third of the time per lookup for
 * 100,000 files made in order).
 */
static struct slot *
probe(const struct hashcache *c, uint16_t dev, uint64_t ino)
{
	size_t mask = c->nslots - 1;
	size_t i = (size_t)((mix64((ino >> RUN_BITS) ^ ((uint64_t)dev << 48)) << RUN_BITS) |
	    (ino & ((1u << RUN_BITS) - 1))) & mask;

	while (c->slots[i].dev != 0 && !(c->slots[i].ino == ino && c->slots[i].dev == dev))
		i = (i + 1) & mask;
	return &c->slots[i];
}

static bool
slot_matches(const struct slot *sl, const struct stat *st)
{
	return sl->size == (uint64_t)st->st_size &&
	    sl->ctime_sec == st->st_ctim.tv_sec && sl->ctime_nsec == (uint32_t)st->st_ctim.tv_nsec &&
	    sl->mtime_sec == st->st_mtim.tv_sec && sl->mtime_nsec == (uint32_t)st->st_mtim.tv_nsec;
}

const uint64_t *
hashcache_get(struct hashcache *c, uint16_t root, const struct stat *st, size_t *nblocks)
{
	uint16_t dev;
	struct slot *sl;

	if (!S_ISREG(st->st_mode) || (dev = dev_id(c, root, (uint64_t)st->st_dev, false)) == 0) {
		c->st.misses++;
		return NULL;
	}
	sl = probe(c, dev, (uint64_t)st->st_ino);
	if (sl->dev == 0 || !slot_matches(sl, st)) {
		c->st.misses++;
		return NULL;
	}
	sl->used = true;
	c->st.hits++;
	*nblocks = sl->nblocks;
	return slot_hashes(sl);
}

/*
 * Put every full slot of old[0..n) into the table again (after a resize,
 * or a sweep that emptied some: linear probing cannot just empty a slot
 * in the middle of a run).
 */
static void
reinsert(struct hashcache *c, struct slot *old, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (old[i].dev != 0)
			*probe(c, old[i].dev, old[i].ino) = old[i];
}

/*
 * Double the table once it is three quarters full: runs of probes stay
 * short, and at HASHCACHE_MAX_ENTRIES the table is 8 Mi slots (448 MiB).
 */
static void
grow(struct hashcache *c)
{
	struct slot *old = c->slots;
	size_t n = c->nslots;

	if (4 * c->st.entries < 3 * c->nslots)
		return;
	c->nslots *= 2;
	c->slots = xcalloc(c->nslots, sizeof(*c->slots));
	reinsert(c, old, n);
	free(old);
}

/* Whether st's ctime is too close to the start of the read to be trusted later. */
static bool
is_racy(const struct stat *st, const struct timespec *started)
{
	int64_t ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec;
	int64_t start_ns = (int64_t)started->tv_sec * 1000000000LL + started->tv_nsec;

	return ctime_ns > start_ns - HASHCACHE_RACY_NS;
}

bool
hashcache_put(struct hashcache *c, uint16_t root, const struct stat *st,
    const struct timespec *started, const uint64_t *hashes, size_t nblocks)
{
	struct slot *sl;
	uint16_t dev;
	size_t blocks_after;

	if (!S_ISREG(st->st_mode) || st->st_size < 0 ||
	    nblocks != hashcache_blocks_of((uint64_t)st->st_size) ||
	    nblocks > HASHCACHE_FILE_BLOCKS)
		return false;
	if (is_racy(st, started)) {
		c->st.racy++;
		return false;
	}
	if ((dev = dev_id(c, root, (uint64_t)st->st_dev, true)) == 0) {
		c->st.full++;
		return false;
	}
	sl = probe(c, dev, (uint64_t)st->st_ino);
	blocks_after = c->st.blocks + nblocks - (sl->dev != 0 ? sl->nblocks : 0);
	if ((sl->dev == 0 && c->st.entries >= c->max_entries) || blocks_after > c->max_blocks) {
		c->st.full++;
		return false;
	}
	if (sl->dev != 0) {
		c->st.entries--;
		c->st.blocks -= sl->nblocks;
		slot_free(sl);
	}
	*sl = (struct slot){ .ino = (uint64_t)st->st_ino, .size = (uint64_t)st->st_size,
	    .ctime_sec = st->st_ctim.tv_sec, .ctime_nsec = (uint32_t)st->st_ctim.tv_nsec,
	    .mtime_sec = st->st_mtim.tv_sec, .mtime_nsec = (uint32_t)st->st_mtim.tv_nsec,
	    .nblocks = (uint32_t)nblocks, .dev = dev, .used = true };
	if (nblocks > 1) {
		sl->h.many = xmalloc(nblocks * sizeof(*hashes));
		memcpy(sl->h.many, hashes, nblocks * sizeof(*hashes));
	} else if (nblocks == 1)
		sl->h.one = hashes[0];
	c->st.entries++;
	c->st.blocks += nblocks;
	c->st.stored++;
	grow(c);
	return true;
}

void
hashcache_sweep(struct hashcache *c)
{
	struct slot *old = c->slots;
	uint64_t before = c->st.swept;
	size_t i;

	for (i = 0; i < c->nslots; i++) {
		if (old[i].dev == 0)
			continue;
		if (old[i].used) {
			old[i].used = false;
			continue;
		}
		c->st.entries--;
		c->st.blocks -= old[i].nblocks;
		c->st.swept++;
		slot_free(&old[i]);
	}
	if (c->st.swept == before)
		return;
	/* The holes left would end probe runs early: place the rest again. */
	c->slots = xcalloc(c->nslots, sizeof(*c->slots));
	reinsert(c, old, c->nslots);
	free(old);
}

void
hashcache_stats(const struct hashcache *c, struct hashcache_stats *st)
{
	*st = c->st;
}

/* ---- a file over several steps ---- */

void
hashcache_fill_drop(struct hashcache_fill *f)
{
	free(f->hashes);
	memset(f, 0, sizeof(*f));
}

void
hashcache_fill_start(struct hashcache_fill *f, uint16_t root, const struct stat *st,
    const struct timespec *started)
{
	size_t need = hashcache_blocks_of(st->st_size < 0 ? 0 : (uint64_t)st->st_size);

	hashcache_fill_drop(f);
	if (!S_ISREG(st->st_mode) || need > HASHCACHE_FILE_BLOCKS)
		return;
	f->on = true;
	f->root = root;
	f->st = *st;
	f->started = *started;
	f->need = need;
	f->hashes = xcalloc(need + 1, sizeof(*f->hashes));
}

void
hashcache_fill_add(struct hashcache_fill *f, uint16_t root, const struct stat *st, size_t first,
    const uint64_t *hashes, size_t n)
{
	if (!f->on)
		return;
	if (root != f->root || !hashcache_same(st, &f->st) || first != f->n ||
	    n > f->need - f->n) {
		hashcache_fill_drop(f);
		return;
	}
	memcpy(f->hashes + f->n, hashes, n * sizeof(*hashes));
	f->n += n;
}

bool
hashcache_fill_end(struct hashcache *c, struct hashcache_fill *f)
{
	bool stored = f->on && f->n == f->need &&
	    hashcache_put(c, f->root, &f->st, &f->started, f->hashes, f->n);

	hashcache_fill_drop(f);
	return stored;
}
