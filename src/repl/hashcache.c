/*
 * The check's hash cache (hashcache.h): a chained hash table of files by
 * root, device and inode, each with the stat it was read at and its block
 * hashes, bounded in entries and hashes, swept of what a full check did
 * not see.
 */
#include "repl/hashcache.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

#define MIN_BUCKETS  1024

struct hc_entry {
	struct hc_entry	*next;
	uint64_t	 dev, ino, size;
	int64_t		 ctime_sec, mtime_sec;
	uint32_t	 ctime_nsec, mtime_nsec;
	uint32_t	 nblocks;
	uint16_t	 root;
	bool		 used;        /* hit or stored since the last sweep */
	uint64_t	 hashes[];
};

struct hashcache {
	struct hc_entry	**buckets;
	size_t		  nbuckets;   /* a power of two */
	size_t		  max_entries, max_blocks;
	struct hashcache_stats st;
};

/* splitmix64's finalizer: inode numbers are dense, the buckets need them spread. */
static uint64_t
mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static size_t
bucket_of(const struct hashcache *c, uint16_t root, uint64_t dev, uint64_t ino)
{
	return (size_t)(mix(ino ^ mix(dev ^ ((uint64_t)root << 48)))) & (c->nbuckets - 1);
}

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

	c->nbuckets = MIN_BUCKETS;
	c->buckets = xcalloc(c->nbuckets, sizeof(*c->buckets));
	c->max_entries = max_entries;
	c->max_blocks = max_blocks;
	return c;
}

static void
entry_drop(struct hashcache *c, struct hc_entry **link)
{
	struct hc_entry *e = *link;

	*link = e->next;
	c->st.entries--;
	c->st.blocks -= e->nblocks;
	free(e);
}

void
hashcache_clear(struct hashcache *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nbuckets; i++)
		while (c->buckets[i] != NULL)
			entry_drop(c, &c->buckets[i]);
}

void
hashcache_free(struct hashcache *c)
{
	if (c == NULL)
		return;
	hashcache_clear(c);
	free(c->buckets);
	free(c);
}

/* The link that points at the entry of the key, or at the NULL ending its chain. */
static struct hc_entry **
find(struct hashcache *c, uint16_t root, uint64_t dev, uint64_t ino)
{
	struct hc_entry **link = &c->buckets[bucket_of(c, root, dev, ino)];

	while (*link != NULL && !((*link)->ino == ino && (*link)->dev == dev &&
	    (*link)->root == root))
		link = &(*link)->next;
	return link;
}

static bool
entry_matches(const struct hc_entry *e, const struct stat *st)
{
	return e->size == (uint64_t)st->st_size &&
	    e->ctime_sec == st->st_ctim.tv_sec && e->ctime_nsec == (uint32_t)st->st_ctim.tv_nsec &&
	    e->mtime_sec == st->st_mtim.tv_sec && e->mtime_nsec == (uint32_t)st->st_mtim.tv_nsec;
}

const uint64_t *
hashcache_get(struct hashcache *c, uint16_t root, const struct stat *st, size_t *nblocks)
{
	struct hc_entry *e;

	if (!S_ISREG(st->st_mode)) {
		c->st.misses++;
		return NULL;
	}
	e = *find(c, root, (uint64_t)st->st_dev, (uint64_t)st->st_ino);
	if (e == NULL || !entry_matches(e, st)) {
		c->st.misses++;
		return NULL;
	}
	e->used = true;
	c->st.hits++;
	*nblocks = e->nblocks;
	return e->hashes;
}

/* Double the buckets once the chains average two entries: lookups stay short. */
static void
grow(struct hashcache *c)
{
	struct hc_entry **old = c->buckets, *e, *next;
	size_t n = c->nbuckets, i, b;

	if (c->st.entries < 2 * c->nbuckets)
		return;
	c->nbuckets *= 2;
	c->buckets = xcalloc(c->nbuckets, sizeof(*c->buckets));
	for (i = 0; i < n; i++) {
		for (e = old[i]; e != NULL; e = next) {
			next = e->next;
			b = bucket_of(c, e->root, e->dev, e->ino);
			e->next = c->buckets[b];
			c->buckets[b] = e;
		}
	}
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
	struct hc_entry **link, *e;
	size_t blocks_after;

	if (!S_ISREG(st->st_mode) || st->st_size < 0 ||
	    nblocks != hashcache_blocks_of((uint64_t)st->st_size) ||
	    nblocks > HASHCACHE_FILE_BLOCKS)
		return false;
	if (is_racy(st, started)) {
		c->st.racy++;
		return false;
	}
	link = find(c, root, (uint64_t)st->st_dev, (uint64_t)st->st_ino);
	blocks_after = c->st.blocks + nblocks - (*link != NULL ? (*link)->nblocks : 0);
	if ((*link == NULL && c->st.entries >= c->max_entries) || blocks_after > c->max_blocks) {
		c->st.full++;
		return false;
	}
	if (*link != NULL)
		entry_drop(c, link);
	e = xmalloc(sizeof(*e) + nblocks * sizeof(e->hashes[0]));
	*e = (struct hc_entry){ .dev = (uint64_t)st->st_dev, .ino = (uint64_t)st->st_ino,
	    .size = (uint64_t)st->st_size, .ctime_sec = st->st_ctim.tv_sec,
	    .ctime_nsec = (uint32_t)st->st_ctim.tv_nsec, .mtime_sec = st->st_mtim.tv_sec,
	    .mtime_nsec = (uint32_t)st->st_mtim.tv_nsec, .nblocks = (uint32_t)nblocks,
	    .root = root, .used = true };
	if (nblocks > 0)
		memcpy(e->hashes, hashes, nblocks * sizeof(e->hashes[0]));
	e->next = *link;
	*link = e;
	c->st.entries++;
	c->st.blocks += nblocks;
	c->st.stored++;
	grow(c);
	return true;
}

void
hashcache_sweep(struct hashcache *c)
{
	struct hc_entry **link;
	size_t i;

	for (i = 0; i < c->nbuckets; i++) {
		for (link = &c->buckets[i]; *link != NULL;) {
			if ((*link)->used) {
				(*link)->used = false;
				link = &(*link)->next;
				continue;
			}
			entry_drop(c, link);
			c->st.swept++;
		}
	}
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
