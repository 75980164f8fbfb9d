/*
 * The capture (capture.h): a FUSE file system mounted over one protected
 * directory. It serves the directory from a descriptor opened before the
 * mount and hands every change to the sink, in the order of the changes.
 *
 * The low-level libfuse API, not the high-level one ARCHITECTURE.md names,
 * on purpose: the high-level library gives every NAME a kernel inode of its
 * own, so after `link a b` the kernel caches pages and sizes for a and for
 * b apart, and a write through one name leaves the other's page cache and
 * size stale (the writeback cache makes it plain). Here the kernel's node id
 * stands for the inode underneath (st_dev and st_ino): every name of a file
 * is one kernel inode, with one page cache and one set of attributes.
 *
 * The node table (below) maps node ids to inodes underneath and keeps, per
 * node, the names we know it by: (parent node, text) entries, kept right by
 * lookup, create, link, rename and unlink. The first name of a node, with
 * its parent's first name and so on up to the root, is the path an op
 * carries; any name of a file does for the passive, which has the same tree.
 * A node lives while the kernel holds it (its lookup count, lowered by
 * forget), while a file handle is open on it, or while a name below it is
 * known (a hard link in a folder the kernel has forgotten still needs that
 * folder's path). When the last link of an inode goes through the mount,
 * its node leaves the inode index ("retired"): a file given the same inode
 * number later gets a node id of its own, never the old one's cache.
 *
 * Work underneath is done by path, relative to the directory descriptor,
 * with the path built from the table; not with an O_PATH descriptor per
 * node, nor by file handle. Paths stay right because every change of a name
 * goes through this mount and updates the table under the same locks as
 * the change underneath: the ordering lock (which every change takes) and
 * names_lock, a read-write lock that rename, unlink and rmdir hold for
 * writing while they change the tree, and that lookups, getattr, open,
 * opendir, readlink and the xattr reads (which take no ordering lock) hold
 * for reading while they build a path and use it. So no request ever
 * follows a path that a rename through the mount made stale (an open that
 * comes after its name was unlinked fails with ENOENT, as the high-level
 * library's did: nothing holds that inode underneath any more). An O_PATH
 * descriptor per node would follow renames by itself, but the kernel can
 * hold millions of inodes, far past any descriptor limit; open_by_handle_at
 * costs a syscall per request and not every file system exports handles;
 * and the op needs the path anyway. Open files are served through their own
 * descriptor (data, fsync, fstat, ftruncate), which follows the inode.
 *
 * Open files unlinked: when a name goes (unlink, or a rename over it) and
 * it was the last name we know of a node with open handles, it is renamed
 * instead to a hidden name at the root of the protected directory,
 * ".fuse_hidden" + the inode number underneath (16 hex digits) + a
 * counter of this capture (8 hex digits), made with RENAME_NOREPLACE (the
 * counter moves on when the name is taken; in the same folder as the name
 * when the root is another file system underneath). That is one RENAME op,
 * the node's later ops name the hidden file, and when its last handle is
 * released (or at capture_stop) the hidden name is removed, an UNLINK op:
 * the passive follows each step. At the root, a folder that held the file
 * can still be removed, and the names stay out of the applications'
 * folders; the prefix is the one libfuse uses, which the tools already
 * leave out of tree comparisons. The node's st_nlink is shown one lower
 * while it has a hidden name (0 for a file with no other name, as on a
 * local file system). A failover while a file is hidden leaves that file
 * behind on the new active, which is garbage.
 *
 * Other FUSE choices, and why:
 * - default_permissions: the kernel checks modes. We run as root, so a node
 *   made here is given the caller's uid and gid, and its mode less the
 *   caller's umask (the group of a set-group-ID directory wins, as on a
 *   local file system): made for root only, then chowned and chmodded,
 *   unless root making it gives it that owner already (then it is made
 *   with its mode). HANDLE_KILLPRIV is off, so the kernel itself clears
 *   set-user-ID bits on writes, through a setattr that is captured.
 * - stat shows the inode numbers of the files underneath.
 * - Names and attributes cached 1 s, no negative caching, page cache not
 *   kept across opens: every change goes through this mount, so the
 *   kernel's caches stay right; the short timeouts bound a change made
 *   underneath all the same.
 * - No direct_io, so a shared writable mmap works: its dirty pages come
 *   back as write requests and are captured like any write.
 * - Writeback cache only when asked (capture_opts.writeback): the kernel
 *   then gathers small writes and sends them in its own order, which is
 *   legal as every fsync is a barrier (ARCHITECTURE.md, Speed). Files
 *   opened write-only are opened read-write underneath, as the kernel then
 *   reads partial pages through them. The kernel then also keeps a
 *   written file's mtime itself (the time of the write(2)) and does not
 *   hand it to us: the ops carry the time the file got underneath, when
 *   the write reached it, which is what the passive gets and what the
 *   file keeps on disk.
 * - Times: each op carries the mtimes its change left underneath (the
 *   entry's, its folders'), read right after the change under the ordering
 *   lock (op.h), so the passive's copy has them rather than its clock.
 * - max_write 1 MiB = OP_MAX_DATA: one request, one WRITE op (a larger one
 *   would be split). A write's data is emitted from the request buffer
 *   itself, without a copy.
 * - O_APPEND and O_DIRECT are dropped underneath: the kernel gives every
 *   write its offset, which the op must carry, and O_DIRECT would refuse
 *   the unaligned request buffers.
 * - copy_file_range is not implemented: the kernel then copies through
 *   read and write, which are captured. No lock or flock either: the
 *   kernel keeps locks locally.
 * - fsync: the file underneath is made durable by a syncer thread while
 *   its FSYNC_BARRIER is journaled and the sink's barrier waits, in
 *   parallel rather than one after the other (ARCHITECTURE.md, Speed).
 * - A pool of threads of our own reads the device (fuse_session_receive_buf)
 *   instead of fuse_session_loop_mt, whose main thread can only be woken by
 *   a signal: capture_stop ends ours with pthread_cancel, which only acts
 *   while a thread waits for a request.
 *
 * When the sink cannot take an op (emit returns -1) the change has been
 * made underneath and stays (the journal has marked the passive for a
 * check); the operation fails with EIO, and a name it created is removed.
 */
#define FUSE_USE_VERSION 314

#include <sys/types.h>
#include <sys/mount.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "common/log.h"
#include "common/util.h"
#include "repl/capture.h"
#include "repl/record.h"

#define CAPTURE_THREADS    16          /* requests served at once */
#define CAPTURE_SYNCERS    8           /* fsyncs underneath run beside their barriers */
#define CAPTURE_MAX_WRITE  (1u << 20)
#define CAPTURE_TIMEOUT    1.0         /* seconds the kernel caches names, attributes */
#define CAPTURE_GRACE_MS   2000        /* capture_stop waits so long for open files */
#define XPATH_MAX          (PATH_MAX + 32)
#define HIDDEN_PREFIX      ".fuse_hidden"
#define HIDDEN_TRIES       64          /* hidden names tried before giving up */
#define TABLE_MIN          1024        /* buckets of a hash table at first */

_Static_assert(CAPTURE_MAX_WRITE == OP_MAX_DATA, "one write request, one WRITE op");

/* ---- The node table ---- */

/*
 * One small chained hash table for the three indexes of the node table
 * (node id, inode, name), entries embedded in their objects. The caller
 * hashes and compares; the table doubles when it holds more entries than
 * buckets.
 */
struct hentry {
	LIST_ENTRY(hentry) link;
	uint64_t	 key;
};
LIST_HEAD(hbucket, hentry);

struct htable {
	struct hbucket	*b;
	size_t		 nb;           /* a power of two */
	size_t		 n;
};

#define container_of(p, type, member) \
	((type *)(void *)((char *)(p) - offsetof(type, member)))

static void
ht_init(struct htable *t)
{
	t->nb = TABLE_MIN;
	t->n = 0;
	t->b = xcalloc(t->nb, sizeof(*t->b));
}

static struct hbucket *
ht_bucket(const struct htable *t, uint64_t key)
{
	return &t->b[key & (t->nb - 1)];
}

static void
ht_grow(struct htable *t)
{
	struct hbucket *old = t->b;
	size_t i, onb = t->nb;

	t->nb *= 2;
	t->b = xcalloc(t->nb, sizeof(*t->b));
	for (i = 0; i < onb; i++) {
		struct hentry *e;

		while ((e = LIST_FIRST(&old[i])) != NULL) {
			LIST_REMOVE(e, link);
			LIST_INSERT_HEAD(ht_bucket(t, e->key), e, link);
		}
	}
	free(old);
}

static void
ht_add(struct htable *t, struct hentry *e, uint64_t key)
{
	if (t->n >= t->nb)
		ht_grow(t);
	e->key = key;
	LIST_INSERT_HEAD(ht_bucket(t, key), e, link);
	t->n++;
}

static void
ht_del(struct htable *t, struct hentry *e)
{
	LIST_REMOVE(e, link);
	t->n--;
}

struct node;

/* A name of a node: text in the folder node parent. */
struct name {
	struct hentry	 by_name;      /* c->names: parent id and text */
	LIST_ENTRY(name) sibling;      /* in node->names; the first is the path */
	struct node	*parent;
	struct node	*node;
	size_t		 len;
	char		 text[];
};

/* An inode underneath, as the kernel knows it: node id, names, holders. */
struct node {
	struct hentry	 by_id;        /* c->ids */
	struct hentry	 by_ino;       /* c->inos, unless retired */
	uint64_t	 id;           /* the kernel's node id; FUSE_ROOT_ID for the root */
	dev_t		 dev;
	ino_t		 ino;
	mode_t		 type;         /* S_IFMT bits: an inode never changes type */
	uint64_t	 nlookup;      /* the kernel's lookup count */
	unsigned	 refs;         /* names in it as a folder, open file handles */
	unsigned	 nopen;        /* open file handles */
	struct name	*hidden;       /* its hidden name, while it has one */
	bool		 retired;      /* the inode underneath is gone (see retire) */
	LIST_HEAD(, name) names;
};

/* A path below the root, as an op carries it: "" is the root itself. */
struct rpath {
	size_t	 len;
	char	 s[OP_PATH_MAX + 1];
};

/* An open file or folder: its descriptor underneath and its node. */
struct handle {
	LIST_ENTRY(handle) link;       /* in c->handles */
	int		 fd;
	struct node	*node;
	DIR		*dp;           /* a folder: readdir's stream, */
	off_t		 off;          /* position */
	struct dirent	*ent;          /* and entry read but not yet sent */
};

struct capture;

/* An fsync underneath, done by a syncer while its barrier is journaled. */
struct syncjob {
	struct syncjob	*next;
	int		 fd;
	int		 datasync;
	int		 res;          /* 0 or -errno, once done */
	bool		 done;
};

struct worker {
	struct capture	*c;
	pthread_t	 tid;
	struct fuse_buf	 buf;
};

struct capture {
	char			*dir;         /* absolute: mount point and directory */
	int			 dfd;         /* the directory underneath */
	dev_t			 dev;         /* of the mount, to know it is still ours */
	uint16_t		 root;
	bool			 writeback;
	struct capture_sink	 sink;
	struct fuse_session	*se;
	bool			 mounted;     /* se is mounted (fuse_session_unmount due) */
	struct worker		 workers[CAPTURE_THREADS];
	size_t			 nworkers;
	pthread_t		 syncers[CAPTURE_SYNCERS];
	size_t			 nsyncers;
	pthread_mutex_t		 sync_mu;     /* the queue of syncjobs */
	pthread_cond_t		 sync_cv;     /* a job queued, or the syncers end */
	pthread_cond_t		 sync_done;   /* a job done */
	struct syncjob		*sync_head;
	struct syncjob		**sync_tail;
	bool			 sync_end;
	pthread_rwlock_t	 names_lock;  /* see the top of the file */
	pthread_mutex_t		 mu;          /* the table below */
	struct htable		 ids;
	struct htable		 inos;
	struct htable		 names;
	struct node		*rootn;
	uid_t			 euid;        /* who makes nodes underneath */
	gid_t			 egid;
	uint64_t		 next_id;
	uint32_t		 hidden_seq;  /* the counter of hidden names (ordering lock) */
	LIST_HEAD(, handle)	 handles;     /* open, for capture_stop */
	atomic_uint_fast64_t	 nnodes;      /* the table's size, for capture_stats */
	atomic_uint_fast64_t	 nnames;
	atomic_uint_fast64_t	 nhidden;
	atomic_uint_fast64_t	 ops;
	atomic_uint_fast64_t	 emitted;
	uint64_t		 barrier_done; /* emitted when the last returned barrier began (order lock) */
	bool			 barrier_seen; /* one has returned since the mount */
	atomic_uint_fast64_t	 emit_errors;
};

static uint64_t
ino_key(dev_t dev, ino_t ino)
{
	return mix64((uint64_t)ino ^ mix64((uint64_t)dev));
}

static uint64_t
name_key(const struct node *parent, const char *text, size_t len)
{
	return XXH3_64bits_withSeed(text, len, parent->id);
}

/* The node of a kernel node id, or NULL (mu held). */
static struct node *
node_by_id(const struct capture *c, uint64_t id)
{
	struct hentry *e;

	LIST_FOREACH(e, ht_bucket(&c->ids, mix64(id)), link) {
		struct node *n = container_of(e, struct node, by_id);

		if (n->id == id)
			return n;
	}
	return NULL;
}

/* The node of an inode underneath, or NULL (mu held). */
static struct node *
node_by_ino(const struct capture *c, dev_t dev, ino_t ino)
{
	struct hentry *e;

	LIST_FOREACH(e, ht_bucket(&c->inos, ino_key(dev, ino)), link) {
		struct node *n = container_of(e, struct node, by_ino);

		if (n->ino == ino && n->dev == dev)
			return n;
	}
	return NULL;
}

/* The entry of text in folder parent, or NULL (mu held). */
static struct name *
name_find(const struct capture *c, const struct node *parent, const char *text)
{
	size_t len = strlen(text);
	struct hentry *e;

	LIST_FOREACH(e, ht_bucket(&c->names, name_key(parent, text, len)), link) {
		struct name *nm = container_of(e, struct name, by_name);

		if (nm->parent == parent && nm->len == len && memcmp(nm->text, text, len) == 0)
			return nm;
	}
	return NULL;
}

static void node_put(struct capture *c, struct node *n);

/* The node of st, made when new (mu held). */
static struct node *
node_get(struct capture *c, const struct stat *st)
{
	struct node *n = node_by_ino(c, st->st_dev, st->st_ino);

	if (n != NULL)
		return n;
	n = xcalloc(1, sizeof(*n));
	n->id = c->next_id++;
	n->dev = st->st_dev;
	n->ino = st->st_ino;
	n->type = st->st_mode & S_IFMT;
	LIST_INIT(&n->names);
	ht_add(&c->ids, &n->by_id, mix64(n->id));
	ht_add(&c->inos, &n->by_ino, ino_key(n->dev, n->ino));
	atomic_fetch_add(&c->nnodes, 1);
	return n;
}

/* A new entry: text in parent names n, not yet in n's list (mu held). */
static struct name *
name_new(struct capture *c, struct node *n, struct node *parent, const char *text)
{
	size_t len = strlen(text);
	struct name *nm = xmalloc(sizeof(*nm) + len + 1);

	nm->parent = parent;
	nm->node = n;
	nm->len = len;
	memcpy(nm->text, text, len + 1);
	parent->refs++;
	ht_add(&c->names, &nm->by_name, name_key(parent, text, len));
	atomic_fetch_add(&c->nnames, 1);
	return nm;
}

/*
 * Add text in parent as the last name of n, unless it is one already;
 * returns it (mu held). The first name stays the path of n.
 */
static struct name *
name_add(struct capture *c, struct node *n, struct node *parent, const char *text)
{
	size_t len = strlen(text);
	struct name *nm, *last = NULL;

	LIST_FOREACH(nm, &n->names, sibling) {
		if (nm->parent == parent && nm->len == len && memcmp(nm->text, text, len) == 0)
			return nm;
		last = nm;
	}
	nm = name_new(c, n, parent, text);
	if (last != NULL)
		LIST_INSERT_AFTER(last, nm, sibling);
	else
		LIST_INSERT_HEAD(&n->names, nm, sibling);
	return nm;
}

/* Forget a name; its folder may go with it (mu held). */
static void
name_del(struct capture *c, struct name *nm)
{
	struct node *parent = nm->parent;

	if (nm->node->hidden == nm) {
		nm->node->hidden = NULL;
		atomic_fetch_sub(&c->nhidden, 1);
	}
	ht_del(&c->names, &nm->by_name);
	atomic_fetch_sub(&c->nnames, 1);
	LIST_REMOVE(nm, sibling);
	free(nm);
	parent->refs--;
	node_put(c, parent);
}

/*
 * Free n when nothing holds it any more: the kernel forgot it, no handle
 * is open on it and no known name is below it (mu held).
 */
static void
node_put(struct capture *c, struct node *n)
{
	struct name *nm;

	if (n == c->rootn || n->nlookup > 0 || n->refs > 0)
		return;
	ht_del(&c->ids, &n->by_id);
	if (!n->retired)
		ht_del(&c->inos, &n->by_ino);
	atomic_fetch_sub(&c->nnodes, 1);
	while ((nm = LIST_FIRST(&n->names)) != NULL)
		name_del(c, nm);
	free(n);
}

/*
 * The last link of an inode was removed through the mount: its node leaves
 * the inode index, so that a new file given the same inode number later
 * gets a node id of its own (the kernel may still hold the old one for a
 * while, nameless). mu held.
 */
static void
retire(struct capture *c, const struct stat *st)
{
	struct node *n = node_by_ino(c, st->st_dev, st->st_ino);

	if (n == NULL || n == c->rootn)
		return;
	ht_del(&c->inos, &n->by_ino);
	n->retired = true;
}

/*
 * text in parent is now a name of n, as the tree underneath says (a lookup
 * or a new entry): an entry for it that named another node is moved, and a
 * folder keeps one name only (mu held).
 */
static void
name_set(struct capture *c, struct node *n, struct node *parent, const char *text)
{
	struct name *nm = name_find(c, parent, text), *old;

	if (n == c->rootn)
		return;
	if (nm != NULL && nm->node == n)
		return;
	if (nm != NULL)
		name_del(c, nm);
	if (n->type == S_IFDIR)
		while ((old = LIST_FIRST(&n->names)) != NULL)
			name_del(c, old);
	(void)name_add(c, n, parent, text);
}

/*
 * Rename the entry nm to text in parent, keeping its place among the
 * node's names; a name that was hidden is no longer (mu held). Returns the
 * new entry.
 */
static struct name *
name_move(struct capture *c, struct name *nm, struct node *parent, const char *text)
{
	struct name *moved = name_new(c, nm->node, parent, text);

	LIST_INSERT_AFTER(nm, moved, sibling);
	name_del(c, nm);
	return moved;
}

/* The path of n: its first name, after its folder's path (mu held). */
static int
node_path(const struct capture *c, const struct node *n, struct rpath *p)
{
	char *end = p->s + sizeof(p->s) - 1, *at = end;

	*end = '\0';
	while (n != c->rootn) {
		const struct name *nm = LIST_FIRST(&n->names);

		if (nm == NULL)
			return -ENOENT;
		if (at != end) {
			if (at == p->s)
				return -ENAMETOOLONG;
			*--at = '/';
		}
		if ((size_t)(at - p->s) < nm->len)
			return -ENAMETOOLONG;
		at -= nm->len;
		memcpy(at, nm->text, nm->len);
		n = nm->parent;
	}
	p->len = (size_t)(end - at);
	memmove(p->s, at, p->len + 1);
	return 0;
}

/* p, then "/" and text (just text at the root); -ENAMETOOLONG past OP_PATH_MAX. */
static int
path_join(struct rpath *p, const char *text)
{
	size_t len = strlen(text), sep = p->len > 0;

	if (p->len + sep + len > OP_PATH_MAX)
		return -ENAMETOOLONG;
	if (sep)
		p->s[p->len] = '/';
	memcpy(p->s + p->len + sep, text, len + 1);
	p->len += sep + len;
	return 0;
}

/* The form of p for the *at calls on the directory descriptor. */
static const char *
under(const struct rpath *p)
{
	return p->len > 0 ? p->s : ".";
}

/*
 * The node of kernel id ino and its path (which may be -ENOENT: a node
 * with no name left). *np is NULL for an id we never gave (-ESTALE).
 */
static int
path_of(struct capture *c, fuse_ino_t ino, struct node **np, struct rpath *p)
{
	struct node *n;
	int res;

	pthread_mutex_lock(&c->mu);
	n = node_by_id(c, ino);
	res = n != NULL ? node_path(c, n, p) : -ESTALE;
	pthread_mutex_unlock(&c->mu);
	if (np != NULL)
		*np = n;
	return res;
}

/* The node of folder parent and the path of text in it. */
static int
child_path(struct capture *c, fuse_ino_t parent, const char *text, struct node **pn,
    struct rpath *p)
{
	int res;

	if ((res = path_of(c, parent, pn, p)) != 0)
		return res;
	return path_join(p, text);
}

/* ---- Locks, ops, the sink ---- */

/* The capture serving req; counts the request. */
static struct capture *
cap(fuse_req_t req)
{
	struct capture *c = fuse_req_userdata(req);

	atomic_fetch_add_explicit(&c->ops, 1, memory_order_relaxed);
	return c;
}

/* -errno of a failed call returning -1, else 0. */
static int
syserr(long r)
{
	return r == -1 ? -errno : 0;
}

static void
order_lock(struct capture *c)
{
	c->sink.lock(c->sink.arg);
}

static void
order_unlock(struct capture *c)
{
	c->sink.unlock(c->sink.arg);
}

static void
names_read(struct capture *c)
{
	pthread_rwlock_rdlock(&c->names_lock);
}

static void
names_write(struct capture *c)
{
	pthread_rwlock_wrlock(&c->names_lock);
}

static void
names_done(struct capture *c)
{
	pthread_rwlock_unlock(&c->names_lock);
}

/* op names p. */
static void
set_path(struct op *op, const struct rpath *p)
{
	op->path = p->s;
	op->path_len = (uint16_t)p->len;
}

/* op's second path: a relative path, or a symlink's target text. */
static int
set_path2(struct op *op, const char *s)
{
	size_t len = strlen(s);

	if (len > OP_PATH_MAX)
		return -ENAMETOOLONG;
	op->path2 = s;
	op->path2_len = (uint16_t)len;
	return 0;
}

static int
set_name(struct op *op, const char *name)
{
	size_t len = strlen(name);

	if (len > OP_NAME_MAX)
		return -ERANGE;
	op->name = name;
	op->name_len = (uint16_t)len;
	return 0;
}

/*
 * Take back a name made underneath whose op could not be journaled, so that
 * the EIO the application gets is the whole truth. Other changes stay.
 */
static void
undo(struct capture *c, const struct op *op)
{
	switch (op->type) {
	case RECORD_CREATE:
	case RECORD_SYMLINK:
		(void)unlinkat(c->dfd, op->path, 0);
		break;
	case RECORD_MKDIR:
		(void)unlinkat(c->dfd, op->path, AT_REMOVEDIR);
		break;
	case RECORD_LINK:
		(void)unlinkat(c->dfd, op->path2, 0);
		break;
	default:
		break;
	}
}

/* Hand op to the sink, the ordering lock held. 0, or -EIO when it was refused. */
static int
emit(struct capture *c, struct op *op)
{
	op->root = c->root;
	if (c->sink.emit(c->sink.arg, op) == 0) {
		atomic_fetch_add(&c->emitted, 1);
		return 0;
	}
	if (atomic_fetch_add(&c->emit_errors, 1) == 0)
		log_warnx("capture %s: %s of %s not journaled, failing it with EIO"
		    " (further failures are only counted)", c->dir,
		    record_type_name(op->type), op->path);
	undo(c, op);
	return -EIO;
}

/* st as the kernel is to see it: a hidden name is not a link (mu held). */
static void
shown_locked(const struct node *n, struct stat *st)
{
	if (n != NULL && n->hidden != NULL && st->st_nlink > 0)
		st->st_nlink--;
}

static void
shown(struct capture *c, const struct node *n, struct stat *st)
{
	pthread_mutex_lock(&c->mu);
	shown_locked(n, st);
	pthread_mutex_unlock(&c->mu);
}

/* The inode of st is gone underneath (its last link removed): see retire. */
static void
gone(struct capture *c, const struct stat *st)
{
	pthread_mutex_lock(&c->mu);
	retire(c, st);
	pthread_mutex_unlock(&c->mu);
}

/*
 * A lookup or a new entry: name in folder pn is the inode of st. Enters it
 * in the table and counts the kernel's reference the reply will give.
 */
static struct node *
entry_add(struct capture *c, struct stat *st, struct node *pn, const char *name)
{
	struct node *n;

	pthread_mutex_lock(&c->mu);
	n = node_get(c, st);
	name_set(c, n, pn, name);
	n->nlookup++;
	shown_locked(n, st);
	pthread_mutex_unlock(&c->mu);
	return n;
}

/* The kernel gives back count references to n. */
static void
forget_node(struct capture *c, struct node *n, uint64_t count)
{
	n->nlookup -= count < n->nlookup ? count : n->nlookup;
	node_put(c, n);
}

/* Reply with the entry of n; a reply the kernel did not take gives its reference back. */
static void
reply_entry(struct capture *c, fuse_req_t req, struct node *n, const struct stat *st)
{
	struct fuse_entry_param e = { .ino = n->id, .attr = *st,
	    .attr_timeout = CAPTURE_TIMEOUT, .entry_timeout = CAPTURE_TIMEOUT };

	if (fuse_reply_entry(req, &e) != 0) {
		pthread_mutex_lock(&c->mu);
		forget_node(c, n, 1);
		pthread_mutex_unlock(&c->mu);
	}
}

/* The path of the entry nm (mu held). */
static int
name_path(const struct capture *c, const struct name *nm, struct rpath *p)
{
	int res = node_path(c, nm->parent, p);

	return res != 0 ? res : path_join(p, nm->text);
}

/* Whether nm (or, when NULL, a name we do not know) is the last name we know of n. */
static bool
last_name(const struct node *n, const struct name *nm)
{
	if (nm == NULL)
		return LIST_EMPTY(&n->names);
	return LIST_FIRST(&n->names) == nm && LIST_NEXT(nm, sibling) == NULL;
}

static void folder_mtime(struct capture *, const struct rpath *, int64_t *, uint32_t *);

/*
 * Give the name at p (entry nm, or NULL, of open file n in folder pn) a
 * hidden name instead: a RENAME op (see the top of the file). Both locks
 * held. 0, or -errno (-EIO when the op was refused: the rename stays).
 */
static int
hide(struct capture *c, struct node *n, struct node *pn, struct name *nm,
    const struct rpath *p)
{
	struct op op = { .type = RECORD_RENAME };
	struct node *hp = c->rootn;
	char text[NAME_MAX + 1];
	struct rpath h;
	int res = -EEXIST, i;

	for (i = 0; i < HIDDEN_TRIES && res == -EEXIST; i++) {
		snprintf(text, sizeof(text), HIDDEN_PREFIX "%016" PRIx64 "%08" PRIx32,
		    (uint64_t)n->ino, c->hidden_seq++);
		h.len = 0;
		if (hp != c->rootn) {
			pthread_mutex_lock(&c->mu);
			res = node_path(c, hp, &h);
			pthread_mutex_unlock(&c->mu);
			if (res != 0)
				return res;
		}
		if ((res = path_join(&h, text)) != 0)
			return res;
		res = syserr(renameat2(c->dfd, p->s, c->dfd, h.s, RENAME_NOREPLACE));
		if (res == -EXDEV && hp == c->rootn) {
			hp = pn;          /* the root is another file system: beside it */
			res = -EEXIST;
		}
	}
	if (res != 0) {
		log_warnx("capture %s: cannot hide %s, unlinked while open: %s", c->dir,
		    p->s, strerror(-res));
		return res;
	}
	pthread_mutex_lock(&c->mu);
	if (nm != NULL)
		name_del(c, nm);
	if ((nm = name_find(c, hp, text)) != NULL)
		name_del(c, nm);
	n->hidden = name_add(c, n, hp, text);
	atomic_fetch_add(&c->nhidden, 1);
	pthread_mutex_unlock(&c->mu);
	set_path(&op, p);
	op.path2 = h.s;
	op.path2_len = (uint16_t)h.len;
	folder_mtime(c, p, &op.dir_mtime_sec, &op.dir_mtime_nsec);
	folder_mtime(c, &h, &op.dir2_mtime_sec, &op.dir2_mtime_nsec);
	return emit(c, &op);
}

/*
 * Remove the hidden name of n, an UNLINK op, if no handle is open on it
 * any more: its last release, or capture_stop.
 */
static void
unhide(struct capture *c, struct node *n)
{
	struct op op = { .type = RECORD_UNLINK };
	struct rpath p;
	struct stat st;
	int res;

	order_lock(c);
	names_write(c);
	pthread_mutex_lock(&c->mu);
	res = n->nopen == 0 && n->hidden != NULL ? name_path(c, n->hidden, &p) : -EAGAIN;
	pthread_mutex_unlock(&c->mu);
	if (res == 0 && (res = syserr(fstatat(c->dfd, p.s, &st, AT_SYMLINK_NOFOLLOW))) == 0 &&
	    (res = syserr(unlinkat(c->dfd, p.s, 0))) == 0) {
		pthread_mutex_lock(&c->mu);
		name_del(c, n->hidden);
		if (st.st_nlink <= 1)
			retire(c, &st);
		pthread_mutex_unlock(&c->mu);
		set_path(&op, &p);
		folder_mtime(c, &p, &op.dir_mtime_sec, &op.dir_mtime_nsec);
		(void)emit(c, &op);
	} else if (res != -EAGAIN)
		log_warnx("capture %s: cannot remove the hidden name of inode %ju: %s",
		    c->dir, (uintmax_t)n->ino, strerror(-res));
	names_done(c);
	order_unlock(c);
}

/* An open file or folder. */
static struct handle *
handle_new(struct capture *c, struct node *n, int fd, DIR *dp)
{
	struct handle *h = xcalloc(1, sizeof(*h));

	h->fd = fd;
	h->dp = dp;
	h->node = n;
	pthread_mutex_lock(&c->mu);
	LIST_INSERT_HEAD(&c->handles, h, link);
	n->refs++;
	if (dp == NULL)
		n->nopen++;
	pthread_mutex_unlock(&c->mu);
	return h;
}

static struct handle *
handle_of(const struct fuse_file_info *fi)
{
	return (struct handle *)(uintptr_t)fi->fh;
}

/*
 * Close h: the last handle of a hidden file takes its hidden name with it.
 * The count goes down under names_lock, which an unlink deciding to hide
 * the file holds for writing until the hidden name is in the table: so
 * either the unlink sees no handle left, or this sees the hidden name.
 */
static void
handle_free(struct capture *c, struct handle *h)
{
	struct node *n = h->node;
	bool last_hidden = false;

	if (h->dp != NULL)
		closedir(h->dp);
	else
		close(h->fd);
	names_read(c);
	pthread_mutex_lock(&c->mu);
	LIST_REMOVE(h, link);
	if (h->dp == NULL && --n->nopen == 0)
		last_hidden = n->hidden != NULL;
	pthread_mutex_unlock(&c->mu);
	names_done(c);
	if (last_hidden)
		unhide(c, n);
	pthread_mutex_lock(&c->mu);
	n->refs--;
	node_put(c, n);
	pthread_mutex_unlock(&c->mu);
	free(h);
}

/* stat of the folder holding p (not the root). */
static int
parent_stat(struct capture *c, const struct rpath *p, struct stat *st)
{
	const char *slash = strrchr(p->s, '/');
	struct rpath pp;

	if (slash == NULL)
		return syserr(fstat(c->dfd, st));
	pp.len = (size_t)(slash - p->s);
	memcpy(pp.s, p->s, pp.len);
	pp.s[pp.len] = '\0';
	return syserr(fstatat(c->dfd, pp.s, st, 0));
}

/*
 * The times a change leaves behind, read underneath right after it (the
 * ordering lock held) and carried by its op, so the stand-by gets the
 * active's mtimes, not its applier's clock (op.h). A time that cannot be
 * read is left 0.0, "not known": the change itself is done and journaled.
 */
static void
take_mtime(const struct stat *st, int64_t *sec, uint32_t *nsec)
{
	*sec = st->st_mtim.tv_sec;
	*nsec = (uint32_t)st->st_mtim.tv_nsec;
}

/* op.mtime: of the open file fd, else of the entry at p. */
static void
entry_mtime(struct capture *c, struct op *op, const struct rpath *p, int fd)
{
	struct stat st;

	if ((fd != -1 ? fstat(fd, &st) : fstatat(c->dfd, under(p), &st,
	    AT_SYMLINK_NOFOLLOW)) == 0)
		take_mtime(&st, &op->mtime_sec, &op->mtime_nsec);
}

/* The mtime of the folder holding p, into sec and nsec (op.dir_mtime or dir2_mtime). */
static void
folder_mtime(struct capture *c, const struct rpath *p, int64_t *sec, uint32_t *nsec)
{
	struct stat st;

	if (parent_stat(c, p, &st) == 0)
		take_mtime(&st, sec, nsec);
}

/*
 * What a node the caller makes at p is to be, as on a local file system:
 * the caller's uid and gid (the group of a set-group-ID folder wins, and a
 * folder made in one keeps the bit) and its mode less the caller's umask.
 * made_right: root making it already gives it that owner and group.
 */
struct owner {
	uid_t	 uid;
	gid_t	 gid;
	mode_t	 perm;
	bool	 made_right;
};

static void
owner_of(struct capture *c, fuse_req_t req, const struct rpath *p, mode_t mode,
    struct owner *o)
{
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	struct stat pst;
	bool sgid = parent_stat(c, p, &pst) == 0 && (pst.st_mode & S_ISGID);

	o->uid = fc->uid;
	o->gid = sgid ? pst.st_gid : fc->gid;
	o->perm = mode & 07777 & ~(fc->umask & 0777);
	if (sgid && S_ISDIR(mode))
		o->perm |= S_ISGID;
	o->made_right = o->uid == c->euid && (sgid || o->gid == c->egid);
}

/*
 * The mode to make a node with: its own when it already has its owner
 * (and no set-ID or sticky bit, which the kernel may drop), else room for
 * root only until own() gives it away.
 */
static mode_t
make_mode(const struct owner *o, mode_t root_only)
{
	return o->made_right && !(o->perm & 07000) ? o->perm : root_only;
}

/*
 * Give the node just made at p (st: as made; open as fd, or -1) the owner,
 * group and mode of o where it has not got them (a symlink keeps its
 * mode), and note them in op and st. When that fails the node is removed.
 */
static int
own(struct capture *c, const struct owner *o, const struct rpath *p, int fd,
    struct stat *st, struct op *op)
{
	bool lnk = S_ISLNK(st->st_mode), changed = false;
	int res = 0;

	if (st->st_uid != o->uid || st->st_gid != o->gid) {
		res = fd != -1 ? syserr(fchown(fd, o->uid, o->gid)) :
		    syserr(fchownat(c->dfd, p->s, o->uid, o->gid, AT_SYMLINK_NOFOLLOW));
		changed = true;
	}
	if (res == 0 && !lnk && (st->st_mode & 07777) != o->perm) {
		res = fd != -1 ? syserr(fchmod(fd, o->perm)) :
		    syserr(fchmodat(c->dfd, p->s, o->perm, 0));
		changed = true;
	}
	if (res == 0 && changed)
		res = fd != -1 ? syserr(fstat(fd, st)) :
		    syserr(fstatat(c->dfd, p->s, st, AT_SYMLINK_NOFOLLOW));
	if (res != 0) {
		(void)unlinkat(c->dfd, p->s, S_ISDIR(st->st_mode) ? AT_REMOVEDIR : 0);
		return res;
	}
	op->uid = o->uid;
	op->gid = o->gid;
	op->mode = lnk ? 0 : o->perm;
	return 0;
}

/* Flags to open a file underneath with, from the application's. */
static int
under_flags(const struct capture *c, int flags)
{
	flags &= ~(O_CREAT | O_EXCL | O_NOCTTY | O_APPEND | O_DIRECT);
	if (c->writeback && (flags & O_ACCMODE) == O_WRONLY)
		flags = (flags & ~O_ACCMODE) | O_RDWR;
	return flags | O_CLOEXEC | O_NOFOLLOW;
}

/* A path for the *xattr calls, which have no *at form: through /proc. */
static int
xattr_path(const struct capture *c, const struct rpath *p, char *buf, size_t len)
{
	int n = snprintf(buf, len, "/proc/self/fd/%d/%s", c->dfd, under(p));

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* The time an op carries: as asked, or what UTIME_NOW set underneath. */
static void
op_time(const struct timespec *asked, const struct timespec *set, int64_t *sec,
    uint32_t *nsec)
{
	const struct timespec *t = asked;

	*sec = 0;
	if (asked->tv_nsec == UTIME_OMIT) {
		*nsec = OP_TIME_OMIT;
		return;
	}
	if (asked->tv_nsec == UTIME_NOW) {
		if (set == NULL) {
			*nsec = OP_TIME_NOW;
			return;
		}
		t = set;
	}
	*sec = t->tv_sec;
	*nsec = (uint32_t)t->tv_nsec;
}

/*
 * After an fsync underneath: put the barrier in the journal, in order, and
 * wait (without the lock) for what the mode demands of it.
 */
static int
barrier(struct capture *c, fuse_ino_t ino, int datasync)
{
	struct op op = { .type = RECORD_FSYNC_BARRIER,
	    .flags = datasync ? OP_FSYNC_DATA : 0 };
	struct rpath p;
	uint64_t mark = 0;
	int res;

	order_lock(c);
	/*
	 * Nothing captured since a barrier that already returned: every record
	 * this fsync covers is as durable as the mode asks (a database's
	 * recovery fsyncs every file of its folder; most have nothing new).
	 */
	if (c->barrier_seen && atomic_load(&c->emitted) == c->barrier_done) {
		order_unlock(c);
		return 0;
	}
	if ((res = path_of(c, ino, NULL, &p)) == 0) {
		set_path(&op, &p);
		res = emit(c, &op);
		mark = atomic_load(&c->emitted);
	}
	order_unlock(c);
	if (res != 0 || (res = c->sink.barrier(c->sink.arg, &op)) != 0)
		return res;
	order_lock(c);
	if (!c->barrier_seen || mark > c->barrier_done)
		c->barrier_done = mark;
	c->barrier_seen = true;
	order_unlock(c);
	return 0;
}

/* ---- The table's life ---- */

/* The table with the root in it: node FUSE_ROOT_ID, the directory itself. */
static void
table_init(struct capture *c, const struct stat *st)
{
	ht_init(&c->ids);
	ht_init(&c->inos);
	ht_init(&c->names);
	LIST_INIT(&c->handles);
	c->next_id = FUSE_ROOT_ID;
	c->rootn = node_get(c, st);
	c->rootn->nlookup = 1;
}

/*
 * Once no thread serves requests any more: close what the kernel left
 * open, so files hidden while open lose their hidden names (UNLINK ops),
 * as their last release would have done; and any hidden name still left.
 */
static void
close_handles(struct capture *c)
{
	struct handle *h;
	struct node *n;
	size_t i;

	pthread_mutex_lock(&c->mu);
	while ((h = LIST_FIRST(&c->handles)) != NULL) {
		pthread_mutex_unlock(&c->mu);
		handle_free(c, h);
		pthread_mutex_lock(&c->mu);
	}
	for (i = 0; i < c->ids.nb; i++) {
		struct hentry *e;

	again:
		LIST_FOREACH(e, &c->ids.b[i], link) {
			n = container_of(e, struct node, by_id);
			if (n->hidden != NULL) {
				pthread_mutex_unlock(&c->mu);
				unhide(c, n);
				pthread_mutex_lock(&c->mu);
				if (n->hidden == NULL)
					goto again;
				log_warnx("capture %s: a hidden name stays: inode %ju",
				    c->dir, (uintmax_t)n->ino);
			}
		}
	}
	pthread_mutex_unlock(&c->mu);
}

/* Free every name and node; nothing serves requests any more. */
static void
table_free(struct capture *c)
{
	size_t i;

	for (i = 0; c->names.b != NULL && i < c->names.nb; i++) {
		struct hentry *e;

		while ((e = LIST_FIRST(&c->names.b[i])) != NULL) {
			LIST_REMOVE(e, link);
			free(container_of(e, struct name, by_name));
		}
	}
	for (i = 0; c->ids.b != NULL && i < c->ids.nb; i++) {
		struct hentry *e;

		while ((e = LIST_FIRST(&c->ids.b[i])) != NULL) {
			LIST_REMOVE(e, link);
			free(container_of(e, struct node, by_id));
		}
	}
	free(c->names.b);
	free(c->ids.b);
	free(c->inos.b);
}

/* ---- FUSE operations ---- */

static void
ll_init(void *userdata, struct fuse_conn_info *conn)
{
	struct capture *c = userdata;

	conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_HANDLE_KILLPRIV |
	    FUSE_CAP_EXPORT_SUPPORT | FUSE_CAP_READDIRPLUS | FUSE_CAP_POSIX_ACL);
	if (c->writeback && (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	else
		conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	conn->max_write = CAPTURE_MAX_WRITE;
}

static void
ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct capture *c = cap(req);
	struct node *pn, *n = NULL;
	struct rpath p;
	struct stat st;
	int res;

	names_read(c);
	if ((res = child_path(c, parent, name, &pn, &p)) == 0 &&
	    (res = syserr(fstatat(c->dfd, p.s, &st, AT_SYMLINK_NOFOLLOW))) == 0)
		n = entry_add(c, &st, pn, name);
	names_done(c);
	if (res != 0)
		fuse_reply_err(req, -res);
	else
		reply_entry(c, req, n, &st);
}

static void
ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct capture *c = cap(req);
	struct node *n;

	pthread_mutex_lock(&c->mu);
	if ((n = node_by_id(c, ino)) != NULL)
		forget_node(c, n, nlookup);
	pthread_mutex_unlock(&c->mu);
	fuse_reply_none(req);
}

static void
ll_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct capture *c = cap(req);
	struct node *n;
	size_t i;

	pthread_mutex_lock(&c->mu);
	for (i = 0; i < count; i++)
		if ((n = node_by_id(c, forgets[i].ino)) != NULL)
			forget_node(c, n, forgets[i].nlookup);
	pthread_mutex_unlock(&c->mu);
	fuse_reply_none(req);
}

static void
ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct capture *c = cap(req);
	struct node *n = NULL;
	struct rpath p;
	struct stat st;
	int res;

	if (fi != NULL) {
		n = handle_of(fi)->node;
		res = syserr(fstat(handle_of(fi)->fd, &st));
	} else {
		names_read(c);
		if ((res = path_of(c, ino, &n, &p)) == 0)
			res = syserr(fstatat(c->dfd, under(&p), &st, AT_SYMLINK_NOFOLLOW));
		names_done(c);
	}
	if (res != 0) {
		fuse_reply_err(req, -res);
		return;
	}
	shown(c, n, &st);
	fuse_reply_attr(req, &st, CAPTURE_TIMEOUT);
}

/* truncate(2) by path: there is no truncateat. */
static int
truncate_at(struct capture *c, const struct rpath *p, off_t size)
{
	int fd, res;

	fd = openat(c->dfd, p->s, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1)
		return -errno;
	res = syserr(ftruncate(fd, size));
	close(fd);
	return res;
}

/*
 * One change of setattr (mode, owner, size, times) on the node n at p,
 * through fd when the kernel gave a handle (else -1), and its op. The
 * ordering lock is held.
 */
static int
set_mode(struct capture *c, const struct node *n, const struct rpath *p, int fd, mode_t mode)
{
	struct op op = { .type = RECORD_CHMOD, .mode = mode & 07777 };
	int res;

	if (n->type == S_IFLNK)
		return -EOPNOTSUPP;
	if (fd != -1)
		res = syserr(fchmod(fd, mode & 07777));
	else
		res = syserr(fchmodat(c->dfd, under(p), mode & 07777, 0));
	set_path(&op, p);
	return res != 0 ? res : emit(c, &op);
}

static int
set_owner(struct capture *c, const struct rpath *p, int fd, uid_t uid, gid_t gid)
{
	struct op op = { .type = RECORD_CHOWN, .uid = uid, .gid = gid };
	int res;

	if (fd != -1)
		res = syserr(fchown(fd, uid, gid));
	else
		res = syserr(fchownat(c->dfd, under(p), uid, gid, AT_SYMLINK_NOFOLLOW));
	set_path(&op, p);
	return res != 0 ? res : emit(c, &op);
}

static int
set_size(struct capture *c, const struct rpath *p, int fd, off_t size)
{
	struct op op = { .type = RECORD_TRUNCATE, .size = (uint64_t)size };
	int res;

	if (fd != -1)
		res = syserr(ftruncate(fd, size));
	else
		res = truncate_at(c, p, size);
	if (res != 0)
		return res;
	set_path(&op, p);
	entry_mtime(c, &op, p, fd);
	return emit(c, &op);
}

/* UTIME_NOW is read back and sent as a time: the passive's clock is not ours. */
static int
set_times(struct capture *c, const struct rpath *p, int fd, const struct timespec tv[2])
{
	struct op op = { .type = RECORD_UTIMENS };
	struct stat st;
	bool have;
	int res;

	if (fd != -1) {
		res = syserr(futimens(fd, tv));
		have = res == 0 && fstat(fd, &st) == 0;
	} else {
		res = syserr(utimensat(c->dfd, under(p), tv, AT_SYMLINK_NOFOLLOW));
		have = res == 0 && fstatat(c->dfd, under(p), &st, AT_SYMLINK_NOFOLLOW) == 0;
	}
	if (res != 0)
		return res;
	op_time(&tv[0], have ? &st.st_atim : NULL, &op.atime_sec, &op.atime_nsec);
	op_time(&tv[1], have ? &st.st_mtim : NULL, &op.mtime_sec, &op.mtime_nsec);
	set_path(&op, p);
	return emit(c, &op);
}

/* A time of setattr: as given, now, or left alone. */
static struct timespec
set_time(int to_set, int set, int now, struct timespec t)
{
	if (!(to_set & set))
		return (struct timespec){ .tv_nsec = UTIME_OMIT };
	if (to_set & now)
		return (struct timespec){ .tv_nsec = UTIME_NOW };
	return t;
}

/*
 * chmod, chown, truncate and utimens, in that order, each its op; a change
 * of ctime alone (the writeback cache) is nothing to do.
 */
static void
ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
    struct fuse_file_info *fi)
{
	struct capture *c = cap(req);
	int fd = fi != NULL ? handle_of(fi)->fd : -1;
	struct node *n = NULL;
	struct rpath p;
	struct stat st;
	int res;

	order_lock(c);
	res = path_of(c, ino, &n, &p);
	if (res == 0 && (to_set & FUSE_SET_ATTR_MODE))
		res = set_mode(c, n, &p, fd, attr->st_mode);
	if (res == 0 && (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)))
		res = set_owner(c, &p, fd,
		    to_set & FUSE_SET_ATTR_UID ? attr->st_uid : (uid_t)-1,
		    to_set & FUSE_SET_ATTR_GID ? attr->st_gid : (gid_t)-1);
	if (res == 0 && (to_set & FUSE_SET_ATTR_SIZE))
		res = set_size(c, &p, fd, attr->st_size);
	if (res == 0 && (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME))) {
		struct timespec tv[2] = {
			set_time(to_set, FUSE_SET_ATTR_ATIME, FUSE_SET_ATTR_ATIME_NOW, attr->st_atim),
			set_time(to_set, FUSE_SET_ATTR_MTIME, FUSE_SET_ATTR_MTIME_NOW, attr->st_mtim),
		};

		res = set_times(c, &p, fd, tv);
	}
	if (res == 0)
		res = fd != -1 ? syserr(fstat(fd, &st)) :
		    syserr(fstatat(c->dfd, under(&p), &st, AT_SYMLINK_NOFOLLOW));
	order_unlock(c);
	if (res != 0) {
		fuse_reply_err(req, -res);
		return;
	}
	shown(c, n, &st);
	fuse_reply_attr(req, &st, CAPTURE_TIMEOUT);
}

static void
ll_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct capture *c = cap(req);
	char buf[PATH_MAX + 1];
	struct rpath p;
	ssize_t n = -1;
	int res;

	names_read(c);
	if ((res = path_of(c, ino, NULL, &p)) == 0 &&
	    (n = readlinkat(c->dfd, under(&p), buf, sizeof(buf) - 1)) == -1)
		res = -errno;
	names_done(c);
	if (res != 0) {
		fuse_reply_err(req, -res);
		return;
	}
	buf[n] = '\0';
	fuse_reply_readlink(req, buf);
}

/*
 * The end of mknod, mkdir and symlink: res says whether the node was made
 * at p in folder pn; stat it, give it to its owner (o), emit op, enter it
 * in the table, release the ordering lock and reply.
 */
static void
made(struct capture *c, fuse_req_t req, int res, const struct owner *o, struct op *op,
    const struct rpath *p, struct node *pn, const char *name)
{
	struct node *n = NULL;
	struct stat st;

	if (res == 0) {
		set_path(op, p);
		if ((res = syserr(fstatat(c->dfd, p->s, &st, AT_SYMLINK_NOFOLLOW))) != 0)
			undo(c, op);
		else if ((res = own(c, o, p, -1, &st, op)) == 0) {
			if (op->type == RECORD_CREATE)
				op->mode |= st.st_mode & S_IFMT;
			take_mtime(&st, &op->mtime_sec, &op->mtime_nsec);
			folder_mtime(c, p, &op->dir_mtime_sec, &op->dir_mtime_nsec);
		}
	}
	if (res == 0 && (res = emit(c, op)) != 0)
		gone(c, &st);
	if (res == 0)
		n = entry_add(c, &st, pn, name);
	order_unlock(c);
	if (res != 0)
		fuse_reply_err(req, -res);
	else
		reply_entry(c, req, n, &st);
}

/* Regular files, FIFOs and sockets: what a passive can make again. */
static void
ll_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	struct capture *c = cap(req);
	struct op op = { .type = RECORD_CREATE, .flags = OP_CREATE_EXCL };
	struct node *pn = NULL;
	struct owner o;
	struct rpath p;
	int res;

	(void)rdev;
	if (!S_ISREG(mode) && !S_ISFIFO(mode) && !S_ISSOCK(mode)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	order_lock(c);
	if ((res = child_path(c, parent, name, &pn, &p)) == 0) {
		owner_of(c, req, &p, mode, &o);
		res = syserr(mknodat(c->dfd, p.s, (mode & S_IFMT) | make_mode(&o, 0600), 0));
	}
	made(c, req, res, &o, &op, &p, pn, name);
}

static void
ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct capture *c = cap(req);
	struct op op = { .type = RECORD_MKDIR };
	struct node *pn = NULL;
	struct owner o;
	struct rpath p;
	int res;

	order_lock(c);
	if ((res = child_path(c, parent, name, &pn, &p)) == 0) {
		owner_of(c, req, &p, S_IFDIR | (mode & 07777), &o);
		res = syserr(mkdirat(c->dfd, p.s, make_mode(&o, 0700)));
	}
	made(c, req, res, &o, &op, &p, pn, name);
}

static void
ll_symlink(fuse_req_t req, const char *target, fuse_ino_t parent, const char *name)
{
	struct capture *c = cap(req);
	struct op op = { .type = RECORD_SYMLINK };
	struct node *pn = NULL;
	struct owner o;
	struct rpath p;
	int res;

	if ((res = set_path2(&op, target)) != 0) {
		fuse_reply_err(req, -res);
		return;
	}
	order_lock(c);
	if ((res = child_path(c, parent, name, &pn, &p)) == 0) {
		owner_of(c, req, &p, S_IFLNK | 0777, &o);
		res = syserr(symlinkat(target, c->dfd, p.s));
	}
	made(c, req, res, &o, &op, &p, pn, name);
}

/*
 * name in folder pn (at p) goes: it is unlinked, or, when it is the last
 * name we know of a file open through the mount, hidden. Emits the op;
 * both locks held.
 */
static int
remove_file(struct capture *c, struct node *pn, const char *name, const struct rpath *p)
{
	struct op op = { .type = RECORD_UNLINK };
	struct node *n;
	struct name *nm;
	struct stat st;
	bool hidden;
	int res;

	if (fstatat(c->dfd, p->s, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return -errno;
	pthread_mutex_lock(&c->mu);
	nm = name_find(c, pn, name);
	n = node_by_ino(c, st.st_dev, st.st_ino);
	hidden = n != NULL && n->nopen > 0 && !S_ISDIR(st.st_mode) && last_name(n, nm);
	pthread_mutex_unlock(&c->mu);
	if (hidden)
		return hide(c, n, pn, nm, p);
	if ((res = syserr(unlinkat(c->dfd, p->s, 0))) != 0)
		return res;
	pthread_mutex_lock(&c->mu);
	if (nm != NULL)
		name_del(c, nm);
	if (st.st_nlink <= 1)
		retire(c, &st);
	pthread_mutex_unlock(&c->mu);
	set_path(&op, p);
	folder_mtime(c, p, &op.dir_mtime_sec, &op.dir_mtime_nsec);
	return emit(c, &op);
}

static void
ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct capture *c = cap(req);
	struct node *pn;
	struct rpath p;
	int res;

	order_lock(c);
	names_write(c);
	if ((res = child_path(c, parent, name, &pn, &p)) == 0)
		res = remove_file(c, pn, name, &p);
	names_done(c);
	order_unlock(c);
	fuse_reply_err(req, -res);
}

static void
ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct capture *c = cap(req);
	struct op op = { .type = RECORD_RMDIR };
	struct node *pn;
	struct name *nm;
	struct rpath p;
	struct stat st;
	int res;

	order_lock(c);
	names_write(c);
	if ((res = child_path(c, parent, name, &pn, &p)) == 0 &&
	    (res = syserr(fstatat(c->dfd, p.s, &st, AT_SYMLINK_NOFOLLOW))) == 0 &&
	    (res = syserr(unlinkat(c->dfd, p.s, AT_REMOVEDIR))) == 0) {
		pthread_mutex_lock(&c->mu);
		if ((nm = name_find(c, pn, name)) != NULL)
			name_del(c, nm);
		retire(c, &st);
		pthread_mutex_unlock(&c->mu);
		set_path(&op, &p);
		folder_mtime(c, &p, &op.dir_mtime_sec, &op.dir_mtime_nsec);
		res = emit(c, &op);
	}
	names_done(c);
	order_unlock(c);
	fuse_reply_err(req, -res);
}

/*
 * Before a rename over newname in folder npn (at p): an open file losing
 * its last known name there is hidden first, as an unlink would. Both
 * locks held.
 */
static int
hide_target(struct capture *c, struct node *npn, const char *newname, const struct rpath *p)
{
	struct node *n;
	struct name *nm;
	struct stat st;
	bool hidden;

	if (fstatat(c->dfd, p->s, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return errno == ENOENT ? 0 : -errno;
	pthread_mutex_lock(&c->mu);
	nm = name_find(c, npn, newname);
	n = node_by_ino(c, st.st_dev, st.st_ino);
	hidden = n != NULL && n->nopen > 0 && !S_ISDIR(st.st_mode) && last_name(n, nm);
	pthread_mutex_unlock(&c->mu);
	return hidden ? hide(c, n, npn, nm, p) : 0;
}

/*
 * The table after a rename underneath of name in pn to newname in npn;
 * replaced, when not NULL, is the inode that newname was, now gone.
 */
static void
renamed(struct capture *c, struct node *pn, const char *name, struct node *npn,
    const char *newname, unsigned int flags, const struct stat *replaced)
{
	struct name *from, *to;

	pthread_mutex_lock(&c->mu);
	if (replaced != NULL)
		retire(c, replaced);
	from = name_find(c, pn, name);
	to = name_find(c, npn, newname);
	if (flags & RENAME_EXCHANGE) {
		if (from != NULL)
			(void)name_move(c, from, npn, newname);
		if (to != NULL)
			(void)name_move(c, to, pn, name);
	} else {
		if (to != NULL && to != from)
			name_del(c, to);
		if (from != NULL)
			(void)name_move(c, from, npn, newname);
	}
	pthread_mutex_unlock(&c->mu);
}

static void
ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
    const char *newname, unsigned int flags)
{
	struct capture *c = cap(req);
	struct op op = { .type = RECORD_RENAME, .flags = flags };
	struct node *pn, *npn;
	struct rpath from, to;
	struct stat sst, tst;
	bool replaced = false;
	int res;

	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	order_lock(c);
	names_write(c);
	if ((res = child_path(c, parent, name, &pn, &from)) == 0 &&
	    (res = child_path(c, newparent, newname, &npn, &to)) == 0 &&
	    (res = syserr(fstatat(c->dfd, from.s, &sst, AT_SYMLINK_NOFOLLOW))) == 0 &&
	    flags == 0 && (res = hide_target(c, npn, newname, &to)) == 0 &&
	    fstatat(c->dfd, to.s, &tst, AT_SYMLINK_NOFOLLOW) == 0)
		replaced = (tst.st_dev != sst.st_dev || tst.st_ino != sst.st_ino) &&
		    (S_ISDIR(tst.st_mode) || tst.st_nlink <= 1);
	if (res == 0 &&
	    (res = syserr(renameat2(c->dfd, from.s, c->dfd, to.s, flags))) == 0) {
		renamed(c, pn, name, npn, newname, flags, replaced ? &tst : NULL);
		set_path(&op, &from);
		op.path2 = to.s;
		op.path2_len = (uint16_t)to.len;
		folder_mtime(c, &from, &op.dir_mtime_sec, &op.dir_mtime_nsec);
		folder_mtime(c, &to, &op.dir2_mtime_sec, &op.dir2_mtime_nsec);
		res = emit(c, &op);
	}
	names_done(c);
	order_unlock(c);
	fuse_reply_err(req, -res);
}

static void
ll_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct capture *c = cap(req);
	struct op op = { .type = RECORD_LINK };
	struct node *n = NULL, *npn;
	struct rpath from, to;
	struct stat st;
	int res;

	order_lock(c);
	if ((res = path_of(c, ino, &n, &from)) == 0 &&
	    (res = child_path(c, newparent, newname, &npn, &to)) == 0 &&
	    (res = syserr(linkat(c->dfd, from.s, c->dfd, to.s, 0))) == 0) {
		set_path(&op, &from);
		op.path2 = to.s;
		op.path2_len = (uint16_t)to.len;
		folder_mtime(c, &to, &op.dir_mtime_sec, &op.dir_mtime_nsec);
		if ((res = syserr(fstatat(c->dfd, to.s, &st, AT_SYMLINK_NOFOLLOW))) != 0)
			undo(c, &op);
		else if ((res = emit(c, &op)) == 0)
			n = entry_add(c, &st, npn, newname);
	}
	order_unlock(c);
	if (res != 0)
		fuse_reply_err(req, -res);
	else
		reply_entry(c, req, n, &st);
}

/*
 * Open an existing file. An O_TRUNC open empties it, a change emitted as a
 * TRUNCATE to 0, under the ordering lock; other opens only read the table.
 * The handle counts on the node before the lock goes, so that an unlink
 * right after it hides the file instead of leaving it without a name.
 */
static void
ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct capture *c = cap(req);
	struct op op = { .type = RECORD_TRUNCATE };
	bool trunc = fi->flags & O_TRUNC;
	struct node *n = NULL;
	struct rpath p;
	int fd = -1, res;

	if (trunc)
		order_lock(c);
	else
		names_read(c);
	if ((res = path_of(c, ino, &n, &p)) == 0)
		res = syserr(fd = openat(c->dfd, under(&p), under_flags(c, fi->flags)));
	if (res == 0 && trunc) {
		set_path(&op, &p);
		entry_mtime(c, &op, &p, fd);
		if ((res = emit(c, &op)) != 0)
			close(fd);
	}
	if (res == 0)
		fi->fh = (uint64_t)(uintptr_t)handle_new(c, n, fd, NULL);
	if (trunc)
		order_unlock(c);
	else
		names_done(c);
	if (res != 0) {
		fuse_reply_err(req, -res);
		return;
	}
	if (fuse_reply_open(req, fi) != 0)
		handle_free(c, handle_of(fi));
}

/*
 * A new file, made by root with room for the owner only, then given to the
 * caller. When it turns out to exist (made since the kernel looked) and the
 * caller did not ask O_EXCL, it is opened as it is (emptied with O_TRUNC).
 */
static void
ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
    struct fuse_file_info *fi)
{
	struct capture *c = cap(req);
	struct op op = { .type = RECORD_CREATE,
	    .flags = (fi->flags & O_EXCL ? OP_CREATE_EXCL : 0) |
	    (fi->flags & O_TRUNC ? OP_CREATE_TRUNC : 0) };
	struct fuse_entry_param e = { .attr_timeout = CAPTURE_TIMEOUT,
	    .entry_timeout = CAPTURE_TIMEOUT };
	struct node *pn = NULL, *n = NULL;
	struct owner o;
	struct rpath p;
	int fd = -1, res;

	order_lock(c);
	if ((res = child_path(c, parent, name, &pn, &p)) != 0)
		goto out;
	owner_of(c, req, &p, S_IFREG | mode, &o);
	fd = openat(c->dfd, p.s, under_flags(c, fi->flags) | O_CREAT | O_EXCL,
	    make_mode(&o, 0600));
	if (fd == -1 && errno == EEXIST && !(fi->flags & O_EXCL)) {
		op = (struct op){ .type = RECORD_TRUNCATE };
		set_path(&op, &p);
		if ((res = syserr(fd = openat(c->dfd, p.s, under_flags(c, fi->flags)))) == 0 &&
		    (res = syserr(fstat(fd, &e.attr))) == 0 && (fi->flags & O_TRUNC)) {
			take_mtime(&e.attr, &op.mtime_sec, &op.mtime_nsec);
			res = emit(c, &op);
		}
	} else if ((res = syserr(fd)) == 0) {
		set_path(&op, &p);
		if ((res = syserr(fstat(fd, &e.attr))) != 0)
			undo(c, &op);
		else if ((res = own(c, &o, &p, fd, &e.attr, &op)) == 0) {
			op.mode |= S_IFREG;
			take_mtime(&e.attr, &op.mtime_sec, &op.mtime_nsec);
			folder_mtime(c, &p, &op.dir_mtime_sec, &op.dir_mtime_nsec);
			if ((res = emit(c, &op)) != 0)
				gone(c, &e.attr);
		}
	}
	if (res == 0) {
		n = entry_add(c, &e.attr, pn, name);
		fi->fh = (uint64_t)(uintptr_t)handle_new(c, n, fd, NULL);
	}
out:
	order_unlock(c);
	if (res != 0) {
		if (fd != -1)
			close(fd);
		fuse_reply_err(req, -res);
		return;
	}
	e.ino = n->id;
	if (fuse_reply_create(req, &e, fi) != 0) {
		handle_free(c, handle_of(fi));
		pthread_mutex_lock(&c->mu);
		forget_node(c, n, 1);
		pthread_mutex_unlock(&c->mu);
	}
}

/* Reads go from the file underneath to the kernel, without a lock. */
static void
ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);

	(void)cap(req);
	(void)ino;
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = handle_of(fi)->fd;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

/* Emit the bytes of one write, in ops of at most OP_MAX_DATA; op names the file. */
static int
emit_write(struct capture *c, struct op *op, const char *buf, size_t len, off_t off)
{
	size_t done, n;

	for (done = 0; done < len; done += n) {
		n = len - done > OP_MAX_DATA ? OP_MAX_DATA : len - done;
		op->offset = (uint64_t)off + done;
		op->data = (const uint8_t *)buf + done;
		op->data_len = (uint32_t)n;
		if (emit(c, op) != 0)
			return -EIO;
	}
	return 0;
}

/* The path of an open file's node for its op; a file always has one. */
static int
open_path(struct capture *c, struct node *n, struct rpath *p)
{
	int res;

	pthread_mutex_lock(&c->mu);
	res = node_path(c, n, p);
	pthread_mutex_unlock(&c->mu);
	if (res != 0) {
		if (atomic_fetch_add(&c->emit_errors, 1) == 0)
			log_warnx("capture %s: an open file (inode %ju) has no path: %s",
			    c->dir, (uintmax_t)n->ino, strerror(-res));
		return -EIO;
	}
	return 0;
}

static void
ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	struct capture *c = cap(req);
	struct handle *h = handle_of(fi);
	struct op op = { .type = RECORD_WRITE };
	struct rpath p;
	ssize_t n;
	int res;

	(void)ino;
	order_lock(c);
	n = pwrite(h->fd, buf, size, off);
	if (n == -1)
		res = -errno;
	else if ((res = open_path(c, h->node, &p)) == 0) {
		set_path(&op, &p);
		entry_mtime(c, &op, &p, h->fd);
		res = emit_write(c, &op, buf, (size_t)n, off);
	}
	order_unlock(c);
	if (res == 0 && n > 0 && c->sink.after_write != NULL &&
	    (res = c->sink.after_write(c->sink.arg, &op)) > 0)
		res = 0;
	if (res != 0)
		fuse_reply_err(req, -res);
	else
		fuse_reply_write(req, (size_t)n);
}

static void
ll_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct capture *c = cap(req);
	struct statvfs st;

	(void)ino;
	if (fstatvfs(c->dfd, &st) == -1)
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &st);
}

/* Each close(2) of the application: what a close of ours would report. */
static void
ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int fd;

	(void)cap(req);
	(void)ino;
	if ((fd = dup(handle_of(fi)->fd)) == -1)
		fuse_reply_err(req, errno);
	else
		fuse_reply_err(req, -syserr(close(fd)));
}

static void
ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct capture *c = cap(req);

	(void)ino;
	handle_free(c, handle_of(fi));
	fuse_reply_err(req, 0);
}

/* Queue an fsync of fd for a syncer; done inline when there is none. */
static void
sync_start(struct capture *c, struct syncjob *j)
{
	if (c->nsyncers == 0) {
		j->res = syserr(j->datasync ? fdatasync(j->fd) : fsync(j->fd));
		j->done = true;
		return;
	}
	pthread_mutex_lock(&c->sync_mu);
	j->next = NULL;
	*c->sync_tail = j;
	c->sync_tail = &j->next;
	pthread_cond_signal(&c->sync_cv);
	pthread_mutex_unlock(&c->sync_mu);
}

static int
sync_wait(struct capture *c, struct syncjob *j)
{
	pthread_mutex_lock(&c->sync_mu);
	while (!j->done)
		pthread_cond_wait(&c->sync_done, &c->sync_mu);
	pthread_mutex_unlock(&c->sync_mu);
	return j->res;
}

/*
 * An application's fsync: the file underneath is made durable while its
 * barrier goes into the journal and the sink waits for what the mode
 * demands, not after (two waits on the disk, or a disk and the network, in
 * parallel). The barrier's place among the ops is the same either way: the
 * writes it covers were emitted before the kernel sent the fsync. The
 * application hears success only when both succeeded.
 */
static void
fsync_node(fuse_req_t req, fuse_ino_t ino, int fd, int datasync)
{
	struct capture *c = cap(req);
	struct syncjob j = { .fd = fd, .datasync = datasync };
	int res;

	sync_start(c, &j);
	res = barrier(c, ino, datasync);
	if (sync_wait(c, &j) != 0)
		res = j.res;
	fuse_reply_err(req, -res);
}

static void
ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	fsync_node(req, ino, handle_of(fi)->fd, datasync);
}

static void
ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct capture *c = cap(req);
	struct node *n = NULL;
	struct rpath p;
	DIR *dp = NULL;
	int fd = -1, res;

	names_read(c);
	if ((res = path_of(c, ino, &n, &p)) == 0)
		res = syserr(fd = openat(c->dfd, under(&p),
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
	names_done(c);
	if (res == 0 && (dp = fdopendir(fd)) == NULL) {
		res = -errno;
		close(fd);
	}
	if (res != 0) {
		fuse_reply_err(req, -res);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)handle_new(c, n, fd, dp);
	if (fuse_reply_open(req, fi) != 0)
		handle_free(c, handle_of(fi));
}

/*
 * Entries from offset off (a d_off readdir gave, 0 at first) while they
 * fit in size bytes. An entry that does not fit is kept for the next call.
 */
static void
ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	char *buf = xmalloc(size);
	size_t used = 0;
	int err = 0;

	(void)cap(req);
	(void)ino;
	if (off != h->off) {
		seekdir(h->dp, off);
		h->ent = NULL;
		h->off = off;
	}
	for (;;) {
		struct stat st;
		size_t len;

		if (h->ent == NULL) {
			errno = 0;
			if ((h->ent = readdir(h->dp)) == NULL) {
				err = errno;
				break;
			}
		}
		memset(&st, 0, sizeof(st));
		st.st_ino = h->ent->d_ino;
		st.st_mode = DTTOIF(h->ent->d_type);
		len = fuse_add_direntry(req, buf + used, size - used, h->ent->d_name, &st,
		    h->ent->d_off);
		if (len > size - used)
			break;
		used += len;
		h->off = h->ent->d_off;
		h->ent = NULL;
	}
	if (err != 0 && used == 0)
		fuse_reply_err(req, err);
	else
		fuse_reply_buf(req, buf, used);
	free(buf);
}

static void
ll_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	fsync_node(req, ino, handle_of(fi)->fd, datasync);
}

static void
ll_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
    size_t size, int flags)
{
	struct capture *c = cap(req);
	struct op op = { .type = RECORD_SETXATTR, .flags = (uint32_t)flags,
	    .data = (const uint8_t *)value, .data_len = (uint32_t)size };
	char xp[XPATH_MAX];
	struct rpath p;
	int res;

	if ((res = set_name(&op, name)) != 0 || (size > OP_MAX_DATA && (res = -E2BIG))) {
		fuse_reply_err(req, -res);
		return;
	}
	order_lock(c);
	if ((res = path_of(c, ino, NULL, &p)) == 0 &&
	    (res = xattr_path(c, &p, xp, sizeof(xp))) == 0 &&
	    (res = syserr(lsetxattr(xp, name, value, size, flags))) == 0) {
		set_path(&op, &p);
		res = emit(c, &op);
	}
	order_unlock(c);
	fuse_reply_err(req, -res);
}

/* getxattr (name) and listxattr (NULL): the size alone when size is 0. */
static void
read_xattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct capture *c = cap(req);
	char xp[XPATH_MAX], *buf = size > 0 ? xmalloc(size) : NULL;
	struct rpath p;
	ssize_t n = -1;
	int res;

	names_read(c);
	if ((res = path_of(c, ino, NULL, &p)) == 0 &&
	    (res = xattr_path(c, &p, xp, sizeof(xp))) == 0) {
		n = name != NULL ? lgetxattr(xp, name, buf, size) : llistxattr(xp, buf, size);
		res = syserr(n);
	}
	names_done(c);
	if (res != 0)
		fuse_reply_err(req, -res);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void
ll_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	read_xattr(req, ino, name, size);
}

static void
ll_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	read_xattr(req, ino, NULL, size);
}

static void
ll_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct capture *c = cap(req);
	struct op op = { .type = RECORD_REMOVEXATTR };
	char xp[XPATH_MAX];
	struct rpath p;
	int res;

	if ((res = set_name(&op, name)) != 0) {
		fuse_reply_err(req, -res);
		return;
	}
	order_lock(c);
	if ((res = path_of(c, ino, NULL, &p)) == 0 &&
	    (res = xattr_path(c, &p, xp, sizeof(xp))) == 0 &&
	    (res = syserr(lremovexattr(xp, name))) == 0) {
		set_path(&op, &p);
		res = emit(c, &op);
	}
	order_unlock(c);
	fuse_reply_err(req, -res);
}

static void
ll_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
    struct fuse_file_info *fi)
{
	struct capture *c = cap(req);
	struct handle *h = handle_of(fi);
	struct op op = { .type = RECORD_FALLOCATE, .offset = (uint64_t)off,
	    .size = (uint64_t)len, .flags = (uint32_t)mode };
	struct rpath p;
	int res;

	(void)ino;
	order_lock(c);
	if ((res = syserr(fallocate(h->fd, mode, off, len))) == 0 &&
	    (res = open_path(c, h->node, &p)) == 0) {
		set_path(&op, &p);
		entry_mtime(c, &op, &p, h->fd);
		res = emit(c, &op);
	}
	order_unlock(c);
	fuse_reply_err(req, -res);
}

static void
ll_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi)
{
	off_t r;

	(void)cap(req);
	(void)ino;
	if ((r = lseek(handle_of(fi)->fd, off, whence)) == -1)
		fuse_reply_err(req, errno);
	else
		fuse_reply_lseek(req, r);
}

static const struct fuse_lowlevel_ops capture_ops = {
	.init		= ll_init,
	.lookup		= ll_lookup,
	.forget		= ll_forget,
	.forget_multi	= ll_forget_multi,
	.getattr	= ll_getattr,
	.setattr	= ll_setattr,
	.readlink	= ll_readlink,
	.mknod		= ll_mknod,
	.mkdir		= ll_mkdir,
	.unlink		= ll_unlink,
	.rmdir		= ll_rmdir,
	.symlink	= ll_symlink,
	.rename		= ll_rename,
	.link		= ll_link,
	.open		= ll_open,
	.create		= ll_create,
	.read		= ll_read,
	.write		= ll_write,
	.statfs		= ll_statfs,
	.flush		= ll_flush,
	.release	= ll_release,
	.fsync		= ll_fsync,
	.opendir	= ll_opendir,
	.readdir	= ll_readdir,
	.releasedir	= ll_release,        /* a handle is a handle: same release */
	.fsyncdir	= ll_fsyncdir,
	.setxattr	= ll_setxattr,
	.getxattr	= ll_getxattr,
	.listxattr	= ll_listxattr,
	.removexattr	= ll_removexattr,
	.fallocate	= ll_fallocate,
	.lseek		= ll_lseek,
};

/* ---- Threads, mount, unmount ---- */

/*
 * One thread of the pool: read a request, serve it, until the connection
 * ends (the file system was unmounted: 0, or an error). Cancellation is
 * only enabled while waiting for a request, never while serving one.
 */
static void *
serve(void *arg)
{
	struct worker *w = arg;
	struct fuse_session *se = w->c->se;
	int res;

	for (;;) {
		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
		res = fuse_session_receive_buf(se, &w->buf);
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
		if (res == -EINTR || res == -EAGAIN)
			continue;
		if (res <= 0)
			break;
		fuse_session_process_buf(se, &w->buf);
	}
	return NULL;
}

/* A syncer: fsyncs files underneath for fsync_node until the capture ends. */
static void *
sync_main(void *arg)
{
	struct capture *c = arg;
	struct syncjob *j;

	pthread_mutex_lock(&c->sync_mu);
	for (;;) {
		while (c->sync_head == NULL && !c->sync_end)
			pthread_cond_wait(&c->sync_cv, &c->sync_mu);
		if ((j = c->sync_head) == NULL)
			break;
		if ((c->sync_head = j->next) == NULL)
			c->sync_tail = &c->sync_head;
		pthread_mutex_unlock(&c->sync_mu);
		j->res = syserr(j->datasync ? fdatasync(j->fd) : fsync(j->fd));
		pthread_mutex_lock(&c->sync_mu);
		j->done = true;
		pthread_cond_broadcast(&c->sync_done);
	}
	pthread_mutex_unlock(&c->sync_mu);
	return NULL;
}

/* End the syncers once no request is served any more (none waits for them). */
static void
stop_syncers(struct capture *c)
{
	size_t i;

	pthread_mutex_lock(&c->sync_mu);
	c->sync_end = true;
	pthread_cond_broadcast(&c->sync_cv);
	pthread_mutex_unlock(&c->sync_mu);
	for (i = 0; i < c->nsyncers; i++)
		pthread_join(c->syncers[i], NULL);
	c->nsyncers = 0;
}

/*
 * Start the syncers and the pool with every signal blocked: they are the
 * daemon's business. Without syncers, fsyncs are done inline.
 */
static int
start_workers(struct capture *c, char *err, size_t errlen)
{
	sigset_t all, old;
	int e = 0;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (; c->nsyncers < CAPTURE_SYNCERS; c->nsyncers++)
		if (pthread_create(&c->syncers[c->nsyncers], NULL, sync_main, c) != 0)
			break;
	for (; c->nworkers < CAPTURE_THREADS; c->nworkers++) {
		struct worker *w = &c->workers[c->nworkers];

		w->c = c;
		if ((e = pthread_create(&w->tid, NULL, serve, w)) != 0)
			break;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0)
		snprintf(err, errlen, "capture %s: thread: %s", c->dir, strerror(e));
	return e != 0 ? -1 : 0;
}

/*
 * Join the pool: threads still waiting for requests at the deadline (the
 * connection lives on while detached files stay open) are cancelled.
 */
static void
stop_workers(struct capture *c, unsigned grace_ms)
{
	struct timespec dl;
	size_t i;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += grace_ms / 1000;
	dl.tv_nsec += (long)(grace_ms % 1000) * 1000000;
	if (dl.tv_nsec >= 1000000000) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000;
	}
	for (i = 0; i < c->nworkers; i++) {
		struct worker *w = &c->workers[i];

		if (pthread_timedjoin_np(w->tid, NULL, &dl) != 0) {
			pthread_cancel(w->tid);
			pthread_join(w->tid, NULL);
		}
		free(w->buf.mem);
		w->buf.mem = NULL;
	}
	c->nworkers = 0;
}

/* The device number of what is mounted at c->dir, asked without FUSE. */
static int
mounted_dev(const struct capture *c, dev_t *dev)
{
	struct statx stx;

	if (statx(AT_FDCWD, c->dir, AT_STATX_DONT_SYNC, STATX_TYPE, &stx) == -1)
		return -1;
	*dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
	return 0;
}

/*
 * Unmount c->dir if our mount is still there: at once when nothing is open
 * on it, else detached (new opens reach the directory underneath; open
 * files stay served until capture_stop gives up on them). Returns whether
 * it was busy.
 */
static bool
unmount_ours(struct capture *c)
{
	dev_t dev;

	if (mounted_dev(c, &dev) == -1 || dev != c->dev)
		return false;
	if (umount2(c->dir, UMOUNT_NOFOLLOW) == 0)
		return false;
	if (errno == EBUSY && umount2(c->dir, MNT_DETACH | UMOUNT_NOFOLLOW) == 0) {
		log_warnx("capture %s: busy, detached; files still open through it"
		    " fail after %d ms", c->dir, CAPTURE_GRACE_MS);
		return true;
	}
	log_warn("capture %s: unmount", c->dir);
	return false;
}

/* libfuse's messages, into our log. */
static void
fuse_logger(enum fuse_log_level level, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	if (n > 0 && msg[n - 1] == '\n')
		msg[n - 1] = '\0';
	if (level <= FUSE_LOG_WARNING)
		log_warnx("fuse: %s", msg);
	else
		log_debug("fuse: %s", msg);
}

/* Make the FUSE session and mount it over c->dir; note the mount's device. */
static int
mount_fuse(struct capture *c, dev_t under, char *err, size_t errlen)
{
	char *argv[] = { "lifeline", "-o",
	    "allow_other,default_permissions,fsname=lifeline,subtype=lifeline", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);

	fuse_set_log_func(fuse_logger);
	c->se = fuse_session_new(&args, &capture_ops, sizeof(capture_ops), c);
	fuse_opt_free_args(&args);
	if (c->se == NULL) {
		snprintf(err, errlen, "capture %s: cannot set up FUSE", c->dir);
		return -1;
	}
	if (fuse_session_mount(c->se, c->dir) != 0) {
		snprintf(err, errlen, "capture %s: cannot mount FUSE", c->dir);
		fuse_session_destroy(c->se);
		c->se = NULL;
		return -1;
	}
	if (mounted_dev(c, &c->dev) == -1 || c->dev == under) {
		snprintf(err, errlen, "capture %s: mount not in place", c->dir);
		fuse_session_unmount(c->se);
		fuse_session_destroy(c->se);
		c->se = NULL;
		return -1;
	}
	return 0;
}

/*
 * Make sure the connection is over once the threads are gone, so that files
 * still open through a detached mount fail instead of hanging, and tell
 * whether fuse_unmount may be called: it only closes the device when that
 * polls as an error (a dead connection), else it unmounts the path, where
 * nothing of ours is left. A live connection is ended by putting a pipe
 * without reader in place of the device descriptor, its last reference;
 * such a pipe polls as an error too. (fusectl's abort file would do, but it
 * is not mounted everywhere.)
 */
static bool
end_connection(struct capture *c)
{
	int fd = fuse_session_fd(c->se), p[2];
	struct pollfd pfd = { .fd = fd };

	if (fd == -1)
		return false;
	if (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLERR))
		return true;
	if (pipe2(p, O_CLOEXEC) == -1) {
		log_warn("capture %s: cannot end the connection", c->dir);
		return false;
	}
	close(p[0]);
	if (dup3(p[1], fd, O_CLOEXEC) == -1) {
		log_warn("capture %s: cannot end the connection", c->dir);
		close(p[1]);
		return false;
	}
	close(p[1]);
	return true;
}

/*
 * Stop serving: join the threads (giving open files grace_ms), end the
 * connection, remove the names of files hidden while open (UNLINK ops, as
 * their last release would have) and destroy the session.
 */
static void
session_teardown(struct capture *c, unsigned grace_ms)
{
	stop_workers(c, grace_ms);
	stop_syncers(c);
	if (end_connection(c))
		fuse_session_unmount(c->se);
	close_handles(c);
	fuse_session_destroy(c->se);
	c->se = NULL;
}

/* Release what capture_start set up. */
static void
capture_free(struct capture *c)
{
	if (c->se != NULL)
		session_teardown(c, 0);
	table_free(c);
	pthread_rwlock_destroy(&c->names_lock);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->sync_mu);
	pthread_cond_destroy(&c->sync_cv);
	pthread_cond_destroy(&c->sync_done);
	if (c->dfd != -1)
		close(c->dfd);
	free(c->dir);
	free(c);
}

struct capture *
capture_start(const struct capture_opts *o, char *err, size_t errlen)
{
	const struct capture_sink *s = &o->sink;
	pthread_rwlockattr_t rwa;
	struct capture *c;
	struct stat st;

	if (s->lock == NULL || s->unlock == NULL || s->emit == NULL || s->barrier == NULL) {
		snprintf(err, errlen, "capture %s: incomplete sink", o->dir);
		return NULL;
	}
	/* Renames must not starve behind a stream of lookups. */
	pthread_rwlockattr_init(&rwa);
	pthread_rwlockattr_setkind_np(&rwa, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	c = xcalloc(1, sizeof(*c));
	c->dfd = -1;
	c->root = o->root;
	c->sink = *s;
	c->writeback = o->writeback;
	c->euid = geteuid();
	c->egid = getegid();
	pthread_mutex_init(&c->mu, NULL);
	pthread_mutex_init(&c->sync_mu, NULL);
	pthread_cond_init(&c->sync_cv, NULL);
	pthread_cond_init(&c->sync_done, NULL);
	c->sync_tail = &c->sync_head;
	pthread_rwlock_init(&c->names_lock, &rwa);
	pthread_rwlockattr_destroy(&rwa);
	if ((c->dir = realpath(o->dir, NULL)) == NULL ||
	    (c->dfd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    fstat(c->dfd, &st) == -1) {
		snprintf(err, errlen, "%s: %s", o->dir, strerror(errno));
		goto fail;
	}
	table_init(c, &st);
	if (mount_fuse(c, st.st_dev, err, errlen) == -1)
		goto fail;
	if (start_workers(c, err, errlen) == -1) {
		(void)umount2(c->dir, MNT_DETACH | UMOUNT_NOFOLLOW);
		goto fail;
	}
	log_info("capture %s: mounted", c->dir);
	return c;
fail:
	capture_free(c);
	return NULL;
}

/*
 * Unmount, wait for the threads (a busy mount is detached and open files
 * get the grace period), then end the connection: files still open through
 * it fail from then on.
 */
void
capture_stop(struct capture *c)
{
	bool busy;

	if (c == NULL)
		return;
	busy = unmount_ours(c);
	session_teardown(c, CAPTURE_GRACE_MS);
	log_info("capture %s: stopped%s", c->dir, busy ? " (was busy)" : "");
	capture_free(c);
}

void
capture_stats(const struct capture *c, struct capture_stats *st)
{
	st->ops = atomic_load(&c->ops);
	st->emitted = atomic_load(&c->emitted);
	st->emit_errors = atomic_load(&c->emit_errors);
	st->nodes = atomic_load(&c->nnodes);
	st->names = atomic_load(&c->nnames);
	st->hidden = atomic_load(&c->nhidden);
}

/* A mountinfo field with its \ooo escapes (space, tab, newline, backslash) undone. */
static void
unescape_field(char *s)
{
	char *o = s;

	while (*s != '\0') {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 4;
		} else
			*o++ = *s++;
	}
	*o = '\0';
}

/* Whether a capture (file system type fuse.lifeline) is mounted at dir now. */
static bool
capture_mounted_at(const char *dir)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	bool found = false;

	if (f == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		char *save = NULL, *field, *point = NULL, *dash;
		int i = 0;

		/* "id parent major:minor root point options [optional...] - fstype source super" */
		if ((dash = strstr(line, " - ")) == NULL)
			continue;
		*dash = '\0';
		for (field = strtok_r(line, " ", &save); field != NULL; field = strtok_r(NULL, " ", &save))
			if (i++ == 4)
				point = field;
		if (point == NULL || strncmp(dash + 3, "fuse.lifeline ", 14) != 0)
			continue;
		unescape_field(point);
		found = strcmp(point, dir) == 0;
	}
	fclose(f);
	return found;
}

int
capture_clear_stale(const char *dir)
{
	int n = 0;

	/* Bounded: captures are never stacked more than a few deep. */
	while (n < 8 && capture_mounted_at(dir)) {
		if (umount2(dir, MNT_DETACH | UMOUNT_NOFOLLOW) == -1) {
			log_warn("capture %s: cannot remove the mount left by a capture that ended", dir);
			return -1;
		}
		log_warnx("capture %s: removed the mount left by a capture that ended without "
		    "unmounting (a crash); files written through it meanwhile failed", dir);
		n++;
	}
	return n;
}
