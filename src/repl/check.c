/*
 * The full system check: the scanner that turns the protected directories
 * into VERIFY ops, the verifier that compares a passive's copy with them
 * and quarantines what only it has, the wants that go back upstream, and
 * the responder that answers them with repair ops in the journal's order.
 */
#include "repl/check.h"
#include "common/bytes.h"
#include "common/log.h"
#include "common/util.h"
#include "repl/record.h"

#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>

#include <linux/fs.h>             /* RENAME_NOREPLACE */
#include <linux/openat2.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#define BLOCK            OP_VERIFY_BLOCK
#define LOOKS_PER_STEP   64        /* entries a step may find gone before it returns */
#define BATCH_ENTRIES    128       /* small entries in one VERIFY (OP_VERIFY_ENTRIES) */
#define BATCH_BYTES      (1u << 20) /* file bytes one such VERIFY reads under the lock */
#define WANTS_VERSION    1
#define QUARANTINE_TRIES 1000      /* name, name.1, ... name.999 */

/*
 * The active side opens paths the way the applier does on the passive:
 * beneath the root, never through a symlink (a path the walk built from
 * listings names real directories; a symlink on the way means the tree
 * changed under the walk), and never following the last name.
 */
#define RESOLVE_FLAGS  (RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS)

_Static_assert(CHECK_WANT_HEAD == 2 + 1 + 1 + 2 + 2 + 4, "want head layout");
_Static_assert(CHECK_WANTS_HEAD == 1 + 1 + 2, "wants message head layout");
_Static_assert(CHECK_WANTS_MAX <= UINT16_MAX, "the count fits its u16 field");
_Static_assert(CHECK_VERIFY_BLOCKS * 8 <= OP_MAX_DATA, "the hashes of a VERIFY fit its data");

/* ---- small helpers ---- */


/* openat2 beneath dirfd ("" is dirfd itself), never following a symlink. -1 with errno. */
static int
beneath(int dirfd, const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
		.resolve = RESOLVE_FLAGS,
	};
	long fd;

	do {
		fd = syscall(SYS_openat2, dirfd, path[0] == '\0' ? "." : path, &how, sizeof(how));
	} while (fd == -1 && errno == EINTR);
	return (int)fd;
}

/* out = dir/name ("" is the root). -1 with ENAMETOOLONG past OP_PATH_MAX. */
static int
join(char out[OP_PATH_MAX + 1], const char *dir, const char *name)
{
	int n = dir[0] == '\0' ? snprintf(out, OP_PATH_MAX + 1, "%s", name) :
	    snprintf(out, OP_PATH_MAX + 1, "%s/%s", dir, name);

	if (n < 0 || n > OP_PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* parent = path up to its last '/' ("" at the top); returns the last name. */
static const char *
split(const char *path, char parent[OP_PATH_MAX + 1])
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL) {
		parent[0] = '\0';
		return path;
	}
	memcpy(parent, path, (size_t)(slash - path));
	parent[slash - path] = '\0';
	return slash + 1;
}

/* Whether path is dir or below it ("" holds everything). */
static bool
is_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return n == 0 || (strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/'));
}

static bool
checked_type(mode_t mode)
{
	return S_ISREG(mode) || S_ISDIR(mode) || S_ISLNK(mode);
}

/* pread until len bytes or the end of the file; the bytes read, or -1. */
static ssize_t
read_at(int fd, uint8_t *buf, size_t len, uint64_t off)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = pread(fd, buf + got, len - got, (off_t)(off + got));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* The target of a symlink beneath a root (not NUL-terminated). Its length, or -1. */
static ssize_t
link_target(int rootfd, const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	if ((fd = beneath(rootfd, path, O_PATH)) == -1)
		return -1;
	n = readlinkat(fd, "", buf, len);
	close(fd);
	return n >= 0 && (size_t)n < len ? n : -1;
}

/* ---- sorted name lists ---- */

struct names {
	char	**v;
	size_t	  n;
	size_t	  cap;
};

static void
names_add(struct names *l, const char *s)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 16;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = xstrdup(s);
}

static void
names_free(struct names *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int
cmp_names(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Whether name is in the sorted list. */
static bool
names_has(const struct names *l, const char *name)
{
	return l->n > 0 && bsearch(&name, l->v, l->n, sizeof(*l->v), cmp_names) != NULL;
}

/*
 * Whether name is in the sorted list, for names asked in ascending order:
 * *from is where the last one was looked for (0 to start), so a pass over
 * a whole other sorted list costs one step through this one.
 */
static bool
sorted_has(const struct names *l, size_t *from, const char *name)
{
	while (*from < l->n && strcmp(l->v[*from], name) < 0)
		(*from)++;
	return *from < l->n && strcmp(l->v[*from], name) == 0;
}

/*
 * The entries of a directory, sorted in byte order: with all false only
 * the types the check compares (regular files, directories, symlinks; the
 * others are counted in *others), as both sides list them the same way.
 * 0, or -1 with errno.
 */
static int
read_names(int dirfd, bool all, struct names *out, uint64_t *others)
{
	struct dirent *d;
	struct stat st;
	DIR *dir;
	int fd, saved;

	memset(out, 0, sizeof(*out));
	if ((fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	if ((dir = fdopendir(fd)) == NULL) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	errno = 0;
	while ((d = readdir(dir)) != NULL) {
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		if (!all && d->d_type == DT_UNKNOWN &&
		    fstatat(dirfd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			d->d_type = IFTODT(st.st_mode);
		if (all || d->d_type == DT_REG || d->d_type == DT_DIR || d->d_type == DT_LNK)
			names_add(out, d->d_name);
		else if (d->d_type != DT_UNKNOWN && others != NULL)
			(*others)++;
		errno = 0;
	}
	saved = errno;
	closedir(dir);
	if (saved != 0) {
		names_free(out);
		errno = saved;
		return -1;
	}
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), cmp_names);
	return 0;
}

/* ---- xattrs ---- */

struct xattr {
	char	*name;
	uint8_t	*value;
	size_t	 len;
};

struct xattrs {
	struct xattr	*v;
	size_t		 n;
};

static void
xattrs_free(struct xattrs *x)
{
	size_t i;

	for (i = 0; i < x->n; i++) {
		free(x->v[i].name);
		free(x->v[i].value);
	}
	free(x->v);
	memset(x, 0, sizeof(*x));
}

static int
cmp_xattr(const void *x, const void *y)
{
	return strcmp(((const struct xattr *)x)->name, ((const struct xattr *)y)->name);
}

/* The value of one xattr, malloc'd. -1 with errno. */
static int
xattr_value(int fd, const char *name, struct xattr *x)
{
	ssize_t n;

	for (;;) {
		if ((n = fgetxattr(fd, name, NULL, 0)) == -1)
			return -1;
		x->value = xmalloc((size_t)n + 1);
		if ((n = fgetxattr(fd, name, x->value, (size_t)n)) >= 0)
			break;
		free(x->value);
		x->value = NULL;
		if (errno != ERANGE)
			return -1;
	}
	x->len = (size_t)n;
	x->name = xstrdup(name);
	return 0;
}

/*
 * Every xattr of an open file or directory with its value, sorted by name.
 * Nothing else writes the entry meanwhile (the lock on the active, the
 * applier's order on a passive), but a size that grew is retried anyway.
 * 0, or -1 with errno.
 */
static int
xattrs_read(int fd, struct xattrs *out)
{
	char *list = NULL, *p;
	ssize_t n;
	int saved;

	memset(out, 0, sizeof(*out));
	for (;;) {
		if ((n = flistxattr(fd, NULL, 0)) <= 0)
			return n == 0 || errno == ENOTSUP ? 0 : -1;
		list = xmalloc((size_t)n);
		if ((n = flistxattr(fd, list, (size_t)n)) >= 0)
			break;
		free(list);
		if (errno != ERANGE)
			return -1;
	}
	out->v = xcalloc((size_t)n, sizeof(*out->v));
	for (p = list; p < list + n; p += strlen(p) + 1) {
		if (xattr_value(fd, p, &out->v[out->n]) == -1) {
			if (errno == ENODATA)
				continue;
			goto fail;
		}
		out->n++;
	}
	free(list);
	qsort(out->v, out->n, sizeof(*out->v), cmp_xattr);
	return 0;
fail:
	saved = errno;
	free(list);
	xattrs_free(out);
	errno = saved;
	return -1;
}

/* Whether the open entry has any xattr. -1 with errno. */
static int
has_xattrs(int fd)
{
	ssize_t n = flistxattr(fd, NULL, 0);

	if (n == -1)
		return errno == ENOTSUP ? 0 : -1;
	return n > 0;
}

/* ---- a walk of directories, depth first in name order ---- */

struct frame {
	char		*dir;
	struct names	 names;
	size_t		 next;
};

struct walk {
	struct frame	*f;
	size_t		 n;
	size_t		 cap;
};

enum { WALK_EMPTY, WALK_ENTRY, WALK_DONE };

/* Push a directory and its entries (taken). */
static void
walk_push(struct walk *w, const char *dir, struct names *names)
{
	if (w->n == w->cap) {
		w->cap = w->cap ? 2 * w->cap : 8;
		w->f = xrealloc(w->f, w->cap * sizeof(*w->f));
	}
	w->f[w->n].dir = xstrdup(dir);
	w->f[w->n].names = *names;
	w->f[w->n].next = 0;
	w->n++;
	memset(names, 0, sizeof(*names));
}

static void
walk_pop(struct walk *w)
{
	w->n--;
	free(w->f[w->n].dir);
	names_free(&w->f[w->n].names);
}

static void
walk_free(struct walk *w)
{
	while (w->n > 0)
		walk_pop(w);
	free(w->f);
	memset(w, 0, sizeof(*w));
}

/*
 * The next entry of the innermost directory (WALK_ENTRY, its path in out),
 * or that directory finished (WALK_DONE, its path in out, popped), or
 * nothing left (WALK_EMPTY). A path over the limit is logged and skipped.
 */
static int
walk_next(struct walk *w, char out[OP_PATH_MAX + 1])
{
	struct frame *f;

	while (w->n > 0) {
		f = &w->f[w->n - 1];
		if (f->next == f->names.n) {
			snprintf(out, OP_PATH_MAX + 1, "%s", f->dir);
			walk_pop(w);
			return WALK_DONE;
		}
		if (join(out, f->dir, f->names.v[f->next++]) == 0)
			return WALK_ENTRY;
		log_warnx("check: %s/%s: path longer than %d bytes, not checked", f->dir,
		    f->names.v[f->next - 1], OP_PATH_MAX);
	}
	return WALK_EMPTY;
}

/* Pop the directories whose entries are all taken: the innermost then has one left, if any. */
static void
walk_trim(struct walk *w)
{
	while (w->n > 0 && w->f[w->n - 1].next == w->f[w->n - 1].names.n)
		walk_pop(w);
}

/* ---- ops from what is on disk ---- */

/* An op of type on root/path with the owner, mode and mtime of st. */
static struct op
op_from(unsigned type, uint16_t root, const char *path, const struct stat *st)
{
	struct op op = {
		.type = (uint16_t)type,
		.root = root,
		.path = path,
		.path_len = (uint16_t)strlen(path),
		.mode = st->st_mode,
		.uid = st->st_uid,
		.gid = st->st_gid,
		.mtime_sec = st->st_mtim.tv_sec,
		.mtime_nsec = (uint32_t)st->st_mtim.tv_nsec,
	};

	return op;
}

/* Emit under the caller's lock; counts the op. -1 logged. */
static int
emit(const struct check_emitter *em, const struct op *op, uint64_t *count)
{
	char q[OP_QUOTE_SIZE];

	if (em->emit(em->arg, op) == -1) {
		log_warnx("check: could not journal the %s of \"%s\"", record_type_name(op->type),
		    op_quote(op->path, op->path_len, q));
		return -1;
	}
	(*count)++;
	return 0;
}

/* ---- scanner ---- */

enum scan_phase {
	SCAN_PICK,        /* choose the next entry */
	SCAN_LOOK,        /* see what the entry is, and emit its first VERIFY */
	SCAN_FILE,        /* the next blocks of a regular file */
	SCAN_DIR,         /* the next chunk of a directory's names */
	SCAN_XATTRS,      /* the xattrs of the file or directory just done */
};

struct check_scanner {
	int			*roots;
	size_t			 nroots;
	struct check_emitter	 em;
	struct check_target	*targets;     /* paths owned */
	size_t			 ntargets;
	size_t			 next_target; /* or root, without targets */
	struct walk		 walk;
	enum scan_phase		 phase;
	uint16_t		 root;
	char			 path[OP_PATH_MAX + 1];
	bool			 is_dir;      /* the entry under way */
	bool			 shallow;     /* it is a shallow target: not walked below */
	bool			 xattrs;      /* it had xattrs at its first VERIFY */
	uint64_t		 off;         /* SCAN_FILE: the next block */
	char			*after;       /* SCAN_DIR: last name of the chunk before */
	struct names		 children;    /* a directory's names, walked after its xattrs */
	uint8_t			*block;
	uint8_t			*data;        /* OP_MAX_DATA */
	bool			 begun;       /* the first VERIFY is out */
	struct hashcache	*cache;       /* borrowed, or NULL */
	bool			 rehash;      /* read every file anyway */
	struct hashcache_fill	 fill;        /* the big file being read, for the cache */
	struct check_scan_stats	 st;
};

struct check_scanner *
check_scanner_new(const int *roots, size_t nroots, const struct check_emitter *em,
    const struct check_target *targets, size_t ntargets)
{
	struct check_scanner *s;
	size_t i;

	for (i = 0; i < ntargets; i++) {
		if (targets[i].root >= nroots || targets[i].path == NULL ||
		    !op_path_valid(targets[i].path, strlen(targets[i].path))) {
			log_warnx("check: target %zu is not a path of a protected directory", i);
			return NULL;
		}
	}
	s = xcalloc(1, sizeof(*s));
	s->roots = xcalloc(nroots + 1, sizeof(*s->roots));
	memcpy(s->roots, roots, nroots * sizeof(*roots));
	s->nroots = nroots;
	s->em = *em;
	s->targets = xcalloc(ntargets + 1, sizeof(*s->targets));
	for (i = 0; i < ntargets; i++) {
		s->targets[i].root = targets[i].root;
		s->targets[i].path = xstrdup(targets[i].path);
		s->targets[i].shallow = targets[i].shallow;
	}
	s->ntargets = ntargets;
	s->block = xmalloc(BLOCK);
	s->data = xmalloc(OP_MAX_DATA);
	return s;
}

void
check_scanner_free(struct check_scanner *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->ntargets; i++)
		free((char *)s->targets[i].path);
	free(s->targets);
	walk_free(&s->walk);
	names_free(&s->children);
	free(s->after);
	free(s->roots);
	free(s->block);
	free(s->data);
	hashcache_fill_drop(&s->fill);
	free(s);
}

void
check_scanner_use_cache(struct check_scanner *s, struct hashcache *cache, bool rehash)
{
	s->cache = cache;
	s->rehash = rehash;
}

void
check_scanner_stats(const struct check_scanner *s, struct check_scan_stats *st)
{
	*st = s->st;
}

/* The next entry to look at: the walk's, else the next target or root. false: done. */
static bool
scan_pick(struct check_scanner *s)
{
	for (;;) {
		switch (walk_next(&s->walk, s->path)) {
		case WALK_ENTRY:
			s->phase = SCAN_LOOK;
			s->shallow = false;
			return true;
		case WALK_DONE:
			continue;
		}
		break;
	}
	if (s->ntargets > 0 && s->next_target < s->ntargets) {
		s->root = s->targets[s->next_target].root;
		snprintf(s->path, sizeof(s->path), "%s", s->targets[s->next_target].path);
		s->shallow = s->targets[s->next_target].shallow;
	} else if (s->ntargets == 0 && s->next_target < s->nroots) {
		s->root = (uint16_t)s->next_target;
		s->path[0] = '\0';
		s->shallow = false;
	} else
		return false;
	s->next_target++;
	s->phase = SCAN_LOOK;
	return true;
}

/*
 * Emit a VERIFY, the first of the check marked as such (op.h). 1 emitted,
 * -1 failed.
 */
static int
scan_emit(struct check_scanner *s, struct op *op)
{
	if (!s->begun)
		op->flags |= OP_VERIFY_BEGIN | (s->ntargets == 0 ? OP_VERIFY_FULL : 0) |
		    (s->rehash ? OP_VERIFY_REHASH : 0);
	if (emit(&s->em, op, &s->st.records) == -1)
		return -1;
	s->begun = true;
	return 1;
}

/*
 * The entry went away or changed type since it was listed: the records of
 * that change reach the passive too, so there is nothing to compare.
 */
static int
scan_gone(struct check_scanner *s)
{
	s->st.skipped_gone++;
	s->phase = SCAN_PICK;
	return 0;
}

/* An entry that could not be read: logged, counted, and the walk goes on. */
static int
scan_error(struct check_scanner *s, const char *what)
{
	char q[OP_QUOTE_SIZE];

	if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
		return scan_gone(s);
	log_warn("check: root %u \"%s\": %s", s->root, op_quote(s->path, strlen(s->path), q),
	    what);
	s->st.errors++;
	s->phase = SCAN_PICK;
	return 0;
}

/* The phase after the content of a file or directory: its xattrs, or the next entry. */
static void
scan_content_done(struct check_scanner *s)
{
	if (s->xattrs) {
		s->phase = SCAN_XATTRS;
		return;
	}
	if (s->is_dir && !s->shallow)
		walk_push(&s->walk, s->path, &s->children);
	else if (s->is_dir)
		names_free(&s->children);
	s->phase = SCAN_PICK;
}

/*
 * The remembered hashes of n blocks from block first of the file of the
 * current root whose stat is st, or NULL: no cache, a rehash, not known,
 * or its stat moved since.
 */
static const uint64_t *
scan_lookup(struct check_scanner *s, const struct stat *st, size_t first, size_t n)
{
	const uint64_t *h;
	size_t nb;

	if (s->cache == NULL || s->rehash ||
	    (h = hashcache_get(s->cache, s->root, st, &nb)) == NULL || first + n > nb)
		return NULL;
	s->st.cached++;
	return h + first;
}

/*
 * Read and hash n blocks of an open file from byte off (none past size)
 * into hashes. The bytes read, or -1 with errno.
 */
static int64_t
hash_blocks(uint8_t *block, int fd, uint64_t off, uint64_t size, size_t n, uint64_t *hashes)
{
	int64_t total = 0;
	ssize_t got;
	size_t i;

	for (i = 0; i < n; i++, off += BLOCK) {
		/* No more than the size: a short read would cost one more pread to see the end. */
		if ((got = read_at(fd, block, size - off < BLOCK ? size - off : BLOCK, off)) == -1)
			return -1;
		hashes[i] = XXH3_64bits(block, (size_t)got);
		total += got;
	}
	return total;
}

/*
 * One VERIFY of up to CHECK_VERIFY_BLOCKS blocks of a regular file, from
 * s->off, read and hashed under the lock (or their hashes remembered by
 * the cache for this very stat); the first also says whether the file
 * has xattrs. A file read whole without xattrs, its stat the same at
 * every step, is remembered. 1 emitted, 0 nothing (gone), -1 emit failed.
 */
static int
scan_file(struct check_scanner *s)
{
	uint64_t hashes[CHECK_VERIFY_BLOCKS];
	const uint64_t *cached;
	struct timespec started;
	struct stat st;
	struct op op;
	uint64_t size;
	size_t first = (size_t)(s->off / BLOCK), n, i;
	int64_t got;
	int fd, x = 0, r = -1;

	if ((fd = beneath(s->roots[s->root], s->path, O_RDONLY | O_NONBLOCK)) == -1)
		return scan_error(s, "open");
	if (fstat(fd, &st) == -1) {
		r = scan_error(s, "fstat");
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = scan_gone(s);
		goto out;
	}
	size = (uint64_t)st.st_size;
	if (s->off > 0 && s->off >= size) {
		/* It shrank since the VERIFY before: that one said the size then. */
		hashcache_fill_drop(&s->fill);
		scan_content_done(s);
		r = 0;
		goto out;
	}
	n = hashcache_blocks_of(size) - first;
	if (n > CHECK_VERIFY_BLOCKS)
		n = CHECK_VERIFY_BLOCKS;
	if ((cached = scan_lookup(s, &st, first, n)) != NULL) {
		/* Remembered files have no xattrs. */
		for (i = 0; i < n; i++)
			put64(s->data + 8 * i, cached[i]);
	} else {
		if (s->off == 0 && (x = has_xattrs(fd)) == -1) {
			r = scan_error(s, "flistxattr");
			goto out;
		}
		clock_gettime(CLOCK_REALTIME, &started);
		if (s->off == 0 && x == 0 && s->cache != NULL)
			hashcache_fill_start(&s->fill, s->root, &st, &started);
		if ((got = hash_blocks(s->block, fd, s->off, size, n, hashes)) == -1) {
			hashcache_fill_drop(&s->fill);
			r = scan_error(s, "read");
			goto out;
		}
		hashcache_fill_add(&s->fill, s->root, &st, first, hashes, n);
		for (i = 0; i < n; i++)
			put64(s->data + 8 * i, hashes[i]);
		s->st.bytes += (uint64_t)got;
	}
	op = op_from(RECORD_VERIFY, s->root, s->path, &st);
	op.offset = s->off;
	op.size = size;
	op.data = s->data;
	op.data_len = (uint32_t)(8 * n);
	if (s->off == 0) {
		s->xattrs = x == 1;
		op.flags = s->xattrs ? 0 : OP_VERIFY_NOXATTRS;
	}
	r = scan_emit(s, &op);
	s->off += (uint64_t)n * BLOCK;
	if (s->off >= size) {
		if (s->cache != NULL && s->fill.on)
			hashcache_fill_end(s->cache, &s->fill);
		hashcache_fill_drop(&s->fill);
		scan_content_done(s);
	}
out:
	close(fd);
	return r;
}

/*
 * Lay out one chunk of a directory's names in s->data from start: the
 * lower bound first when after is set, then as many names as fit. Returns
 * the bytes; *count says how many names after the bound.
 */
static size_t
dir_chunk(struct check_scanner *s, const struct names *l, size_t start, size_t *count)
{
	size_t len = 0, k, i;

	if (s->after != NULL) {
		len = strlen(s->after) + 1;
		memcpy(s->data, s->after, len);
	}
	for (i = start; i < l->n; i++) {
		k = strlen(l->v[i]) + 1;
		if (len + k > OP_MAX_DATA)
			break;
		memcpy(s->data + len, l->v[i], k);
		len += k;
	}
	*count = i - start;
	return len;
}

/*
 * One VERIFY of a chunk of a directory's names. The directory is listed
 * again under the lock for every chunk, so each chunk is what it held at
 * its own place in the order; the next starts after the last name this
 * one held, whatever was added or removed between. 1, 0 (gone), -1.
 */
static int
scan_dir(struct check_scanner *s)
{
	struct names l;
	struct stat st;
	struct op op;
	size_t start = 0, count;
	int fd, x = 0, r;
	bool first = s->after == NULL;

	if ((fd = beneath(s->roots[s->root], s->path, O_RDONLY | O_DIRECTORY)) == -1)
		return scan_error(s, "open");
	if (fstat(fd, &st) == -1 || (first && (x = has_xattrs(fd)) == -1) ||
	    read_names(fd, false, &l, first ? &s->st.skipped_type : NULL) == -1) {
		r = scan_error(s, "listing");
		close(fd);
		return r;
	}
	close(fd);
	if (!first)
		while (start < l.n && strcmp(l.v[start], s->after) <= 0)
			start++;
	op = op_from(RECORD_VERIFY, s->root, s->path, &st);
	op.data = s->data;
	op.data_len = (uint32_t)dir_chunk(s, &l, start, &count);
	op.offset = start;
	op.size = l.n;
	if (first) {
		s->xattrs = x == 1;
		op.flags = s->xattrs ? 0 : OP_VERIFY_NOXATTRS;
	} else
		op.flags = OP_VERIFY_AFTER;
	r = scan_emit(s, &op);
	free(s->after);
	s->after = NULL;
	if (start + count == l.n) {
		names_free(&s->children);
		s->children = l;
		scan_content_done(s);
		return r;
	}
	s->after = xstrdup(l.v[start + count - 1]);
	names_free(&l);
	return r;
}

/* The xattr VERIFY of the file or directory just done (op.h). 1, 0, -1. */
static int
scan_xattrs(struct check_scanner *s)
{
	struct xattrs x;
	struct stat st;
	struct op op;
	size_t i, len = 0, k;
	int fd, r;

	s->xattrs = false;
	if ((fd = beneath(s->roots[s->root], s->path, O_RDONLY | O_NONBLOCK)) == -1)
		return scan_error(s, "open");
	if (fstat(fd, &st) == -1) {
		r = scan_error(s, "fstat");
		close(fd);
		return r;
	}
	if (S_ISDIR(st.st_mode) != s->is_dir || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) {
		/* Replaced by another type: its children, if any, are not this directory's. */
		close(fd);
		return scan_gone(s);
	}
	if (xattrs_read(fd, &x) == -1) {
		r = scan_error(s, "xattrs");
		close(fd);
		return r;
	}
	close(fd);
	for (i = 0; i < x.n; i++) {
		k = strlen(x.v[i].name) + 1;
		memcpy(s->data + len, x.v[i].name, k);
		put64(s->data + len + k, XXH3_64bits(x.v[i].value, x.v[i].len));
		len += k + 8;
	}
	op = op_from(RECORD_VERIFY, s->root, s->path, &st);
	op.flags = OP_VERIFY_XATTRS;
	op.size = x.n;
	op.data = s->data;
	op.data_len = (uint32_t)len;
	xattrs_free(&x);
	r = scan_emit(s, &op);
	scan_content_done(s);
	return r;
}

/* The VERIFY of a symlink: its target. 1, 0, -1. */
static int
scan_link(struct check_scanner *s, const struct stat *st)
{
	char target[PATH_MAX];
	struct op op;
	ssize_t n;
	int r;

	s->phase = SCAN_PICK;
	if ((n = link_target(s->roots[s->root], s->path, target, sizeof(target))) <= 0)
		return n == -1 ? scan_error(s, "readlink") : scan_gone(s);
	op = op_from(RECORD_VERIFY, s->root, s->path, st);
	op.size = (uint64_t)n;
	op.data = (const uint8_t *)target;
	op.data_len = (uint32_t)n;
	r = scan_emit(s, &op);
	return r;
}

/* What the entry is, then its first VERIFY in the same hold of the lock. */
static int
scan_look(struct check_scanner *s)
{
	struct stat st;
	int fd;

	if ((fd = beneath(s->roots[s->root], s->path, O_PATH)) == -1)
		return scan_error(s, "open");
	if (fstat(fd, &st) == -1) {
		close(fd);
		return scan_error(s, "fstat");
	}
	close(fd);
	if (!checked_type(st.st_mode)) {
		s->st.skipped_type++;
		s->phase = SCAN_PICK;
		return 0;
	}
	s->st.entries++;
	s->is_dir = S_ISDIR(st.st_mode);
	s->xattrs = false;
	s->off = 0;
	hashcache_fill_drop(&s->fill);
	free(s->after);
	s->after = NULL;
	if (S_ISLNK(st.st_mode))
		return scan_link(s, &st);
	s->phase = s->is_dir ? SCAN_DIR : SCAN_FILE;
	return s->is_dir ? scan_dir(s) : scan_file(s);
}

/*
 * One small entry of the batch: a regular file of at most one block with
 * no xattrs (its content hashed, or its hash remembered by the cache for
 * this very stat: then one fstatat is all it costs) or a symlink, found in
 * dirfd under the lock, into e (hash: where its hash goes). 1 taken (read),
 * 2 taken from the cache, 0 not one for a batch (the walk checks it
 * alone), -1 gone since the listing (ENOENT), -2 of a type not checked.
 */
static int
batch_entry(struct check_scanner *s, int dirfd, const char *name, struct op_entry *e,
    uint8_t hash[8], char *target, size_t tlen)
{
	const uint64_t *cached;
	struct timespec started;
	struct stat st;
	uint64_t h = 0;
	size_t n;
	ssize_t got;
	int fd, x;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return errno == ENOENT ? -1 : 0;
	if (!checked_type(st.st_mode))
		return -2;
	*e = (struct op_entry){ .name = name, .name_len = (uint16_t)strlen(name),
	    .mode = st.st_mode, .uid = st.st_uid, .gid = st.st_gid,
	    .mtime_sec = st.st_mtim.tv_sec, .mtime_nsec = (uint32_t)st.st_mtim.tv_nsec,
	    .size = (uint64_t)st.st_size };
	if (S_ISLNK(st.st_mode)) {
		if ((got = readlinkat(dirfd, name, target, tlen)) <= 0 || (size_t)got >= tlen)
			return 0;
		e->size = (uint64_t)got;
		e->data = (const uint8_t *)target;
		e->data_len = (uint32_t)got;
		return 1;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > (off_t)BLOCK)
		return 0;
	n = st.st_size > 0 ? 1 : 0;
	if ((cached = scan_lookup(s, &st, 0, n)) != NULL) {
		if (n > 0) {
			put64(hash, cached[0]);
			e->data = hash;
			e->data_len = 8;
		}
		return 2;
	}
	clock_gettime(CLOCK_REALTIME, &started);
	if ((fd = beneath(dirfd, name, O_RDONLY | O_NONBLOCK)) == -1)
		return 0;
	x = has_xattrs(fd);
	got = x == 0 ? read_at(fd, s->block, (size_t)st.st_size, 0) : -1;
	close(fd);
	if (got != st.st_size)
		return 0;
	if (got > 0) {
		h = XXH3_64bits(s->block, (size_t)got);
		put64(hash, h);
		e->data = hash;
		e->data_len = 8;
	}
	if (s->cache != NULL)
		hashcache_put(s->cache, s->root, &st, &started, &h, n);
	return 1;
}

/*
 * Several small entries of the directory being walked in one VERIFY
 * (OP_VERIFY_ENTRIES), from the walk's next name on, read and hashed in
 * one hold of the lock, up to BATCH_ENTRIES of them or BATCH_BYTES of
 * content: a check of many small files then costs the journal, the
 * stream and the passive one record per batch, not one per file. Each
 * says what the entry's own VERIFY would have said at that moment. The
 * first entry that is not one for a batch (a directory, a bigger file, a
 * file with xattrs, one that cannot be read, a path over the limit) ends
 * it, left to the walk, which checks it alone; entries gone since the
 * listing and types not checked are passed over as the walk would.
 * 1: emitted; 0: no entry taken; 2: entries passed over, nothing to emit;
 * -1: emit failed.
 */
static int
scan_batch(struct check_scanner *s)
{
	char target[PATH_MAX];
	struct op_entry e;
	struct frame *f;
	struct op op;
	uint8_t hash[8];
	size_t len = 0, count = 0, k, dirlen;
	uint64_t bytes = 0;
	bool passed = false;
	int dirfd, r;

	walk_trim(&s->walk);
	if (s->walk.n == 0)
		return 0;
	f = &s->walk.f[s->walk.n - 1];
	dirlen = strlen(f->dir);
	s->em.lock(s->em.arg);
	if ((dirfd = beneath(s->roots[s->root], f->dir, O_RDONLY | O_DIRECTORY)) == -1) {
		s->em.unlock(s->em.arg);
		return 0;
	}
	while (f->next < f->names.n && count < BATCH_ENTRIES && bytes < BATCH_BYTES) {
		const char *name = f->names.v[f->next];

		if (dirlen > 0 && dirlen + 1 + strlen(name) > OP_PATH_MAX)
			break;
		if ((r = batch_entry(s, dirfd, name, &e, hash, target, sizeof(target))) < 0) {
			if (r == -1)
				s->st.skipped_gone++;
			else
				s->st.skipped_type++;
			f->next++;
			passed = true;
			continue;
		}
		if (r == 0 || (k = op_entry_put(s->data + len, OP_MAX_DATA - len, &e)) == 0)
			break;
		len += k;
		count++;
		if (r == 1 && S_ISREG(e.mode))
			bytes += e.size;   /* read under the lock: the cache's are not */
		f->next++;
	}
	close(dirfd);
	r = passed ? 2 : 0;
	if (count > 0) {
		op = (struct op){ .type = RECORD_VERIFY, .root = s->root, .path = f->dir,
		    .path_len = (uint16_t)dirlen, .mode = S_IFDIR, .flags = OP_VERIFY_ENTRIES,
		    .size = count, .data = s->data, .data_len = (uint32_t)len };
		s->st.entries += count;
		s->st.bytes += bytes;
		r = scan_emit(s, &op);
	}
	s->em.unlock(s->em.arg);
	return r;
}

/* One phase under the lock. 1 emitted, 0 nothing emitted, -1 emit failed. */
static int
scan_locked(struct check_scanner *s)
{
	switch (s->phase) {
	case SCAN_LOOK:
		return scan_look(s);
	case SCAN_FILE:
		return scan_file(s);
	case SCAN_DIR:
		return scan_dir(s);
	case SCAN_XATTRS:
		return scan_xattrs(s);
	default:
		fatalx("check: scanner in phase %d under the lock", s->phase);
	}
}

int
check_scanner_step(struct check_scanner *s)
{
	int looks, r;

	for (looks = 0; looks < LOOKS_PER_STEP; looks++) {
		if (s->phase == SCAN_PICK && s->begun) {
			if ((r = scan_batch(s)) == 1 || r == -1)
				return r;
			if (r == 2)
				continue;
		}
		if (s->phase == SCAN_PICK && !scan_pick(s))
			return 0;
		s->em.lock(s->em.arg);
		r = scan_locked(s);
		s->em.unlock(s->em.arg);
		if (r != 0)
			return r;
	}
	return 1;
}

/* ---- wants on the wire ---- */

size_t
check_want_size(const struct check_want *w)
{
	return CHECK_WANT_HEAD + (size_t)w->path_len + 1 + 8 * (size_t)w->nblocks +
	    w->xnames_len;
}

/* xattr names: each 1 to OP_NAME_MAX bytes followed by a NUL, up to the end. */
static bool
xnames_valid(const char *p, size_t len)
{
	const char *end = p + len, *nul;

	for (; p < end; p = nul + 1) {
		if ((nul = memchr(p, '\0', (size_t)(end - p))) == NULL || nul == p ||
		    nul - p > OP_NAME_MAX)
			return false;
	}
	return true;
}

/*
 * What is wrong with a want, NULL if nothing: the rules of check.h, the
 * same for one being encoded (a programming error) and one decoded from
 * the network. path[path_len] must be its NUL.
 */
static const char *
want_problem(const struct check_want *w)
{
	size_t i;

	if (w->kind < CHECK_WANT_BLOCKS || w->kind > CHECK_WANT_ENTRY)
		return "unknown kind";
	if (w->path == NULL || w->path_len > OP_PATH_MAX || w->path[w->path_len] != '\0' ||
	    !op_path_valid(w->path, w->path_len))
		return "path breaks the rules (empty, \".\" or \"..\" component, leading or "
		    "trailing '/', NUL)";
	if (w->path_len == 0 && w->kind != CHECK_WANT_ATTRS)
		return "empty path: blocks and entries are below the root";
	if ((w->kind == CHECK_WANT_BLOCKS) != (w->nblocks > 0) ||
	    w->nblocks > CHECK_VERIFY_BLOCKS)
		return "block count: 1 to 128 for blocks, none otherwise";
	for (i = 0; i < w->nblocks; i++) {
		if (w->blocks[i] % BLOCK != 0 || w->blocks[i] > INT64_MAX ||
		    (i > 0 && w->blocks[i] <= w->blocks[i - 1]))
			return "block offsets not ascending multiples of 64 KiB";
	}
	if (w->xnames_len > 0 && (w->kind != CHECK_WANT_ATTRS ||
	    w->xnames_len > CHECK_XNAMES_MAX || w->xnames == NULL ||
	    !xnames_valid(w->xnames, w->xnames_len)))
		return "xattr names: for attrs only, each 1 to 255 bytes and a NUL, 64 KiB in all";
	return NULL;
}

static uint8_t *
want_encode(uint8_t *p, const struct check_want *w)
{
	size_t i;

	p = put16(p, w->root);
	*p++ = w->kind;
	*p++ = 0;
	p = put16(p, w->path_len);
	p = put16(p, w->nblocks);
	p = put32(p, w->xnames_len);
	memcpy(p, w->path, w->path_len);
	p[w->path_len] = '\0';
	p += w->path_len + 1;
	for (i = 0; i < w->nblocks; i++)
		p = put64(p, w->blocks[i]);
	if (w->xnames_len > 0)
		memcpy(p, w->xnames, w->xnames_len);
	return p + w->xnames_len;
}

size_t
check_wants_encode(uint8_t *buf, size_t buflen, const struct check_want *w, size_t n,
    size_t *taken)
{
	uint8_t *p = buf + CHECK_WANTS_HEAD;
	size_t i;

	*taken = 0;
	if (buflen < CHECK_WANTS_HEAD)
		return 0;
	for (i = 0; i < n && i < CHECK_WANTS_MAX; i++) {
		if (want_problem(&w[i]) != NULL) {
			log_warnx("check: want %zu not encoded: %s", i, want_problem(&w[i]));
			return 0;
		}
		if (check_want_size(&w[i]) > buflen - (size_t)(p - buf))
			break;
		p = want_encode(p, &w[i]);
	}
	if (i == 0 && n > 0)
		return 0;
	buf[0] = WANTS_VERSION;
	buf[1] = 0;
	put16(buf + 2, (uint16_t)i);
	*taken = i;
	return (size_t)(p - buf);
}

/* One want at *off; pointers into buf. 0, or -1 with why. */
static int
want_decode(const uint8_t *buf, size_t len, size_t *off, struct check_want *w, char *why,
    size_t whylen)
{
	const uint8_t *p = buf + *off;
	size_t left = len - *off, need, i;
	const char *problem;

	if (left < CHECK_WANT_HEAD) {
		why_printf(why, whylen, "want head cut short at byte %zu", *off);
		return -1;
	}
	memset(w, 0, sizeof(*w));
	w->root = get16(p);
	w->kind = p[2];
	w->path_len = get16(p + 4);
	w->nblocks = get16(p + 6);
	w->xnames_len = get32(p + 8);
	if (p[3] != 0 || w->path_len > OP_PATH_MAX || w->nblocks > CHECK_VERIFY_BLOCKS ||
	    w->xnames_len > CHECK_XNAMES_MAX) {
		why_printf(why, whylen, "want at byte %zu: reserved byte %u, path of %u bytes, %u "
		    "blocks, %u bytes of xattr names: over a limit", *off, p[3], w->path_len,
		    w->nblocks, w->xnames_len);
		return -1;
	}
	need = CHECK_WANT_HEAD + (size_t)w->path_len + 1 + 8 * (size_t)w->nblocks +
	    w->xnames_len;
	if (left < need) {
		why_printf(why, whylen, "want at byte %zu of %zu bytes runs past the end (%zu left)",
		    *off, need, left);
		return -1;
	}
	p += CHECK_WANT_HEAD;
	w->path = (const char *)p;
	if (memchr(p, '\0', w->path_len) != NULL || p[w->path_len] != '\0') {
		why_printf(why, whylen, "want at byte %zu: path holds a NUL or is not followed by one",
		    *off);
		return -1;
	}
	p += w->path_len + 1;
	for (i = 0; i < w->nblocks; i++, p += 8)
		w->blocks[i] = get64(p);
	w->xnames = (const char *)p;
	if ((problem = want_problem(w)) != NULL) {
		why_printf(why, whylen, "want at byte %zu: %s", *off, problem);
		return -1;
	}
	*off += need;
	return 0;
}

int
check_wants_decode(const uint8_t *buf, size_t len, struct check_want *out, size_t max,
    size_t *n, char *why, size_t whylen)
{
	size_t off = CHECK_WANTS_HEAD, count, i;

	*n = 0;
	if (len < CHECK_WANTS_HEAD || buf[0] != WANTS_VERSION || buf[1] != 0) {
		why_printf(why, whylen, "wants message of %zu bytes: expected version %d and a zero "
		    "reserved byte in a 4-byte head", len, WANTS_VERSION);
		return -1;
	}
	count = get16(buf + 2);
	if (count > CHECK_WANTS_MAX || count > max) {
		why_printf(why, whylen, "%zu wants, expected at most %zu", count,
		    max < CHECK_WANTS_MAX ? max : (size_t)CHECK_WANTS_MAX);
		return -1;
	}
	for (i = 0; i < count; i++)
		if (want_decode(buf, len, &off, &out[i], why, whylen) == -1)
			return -1;
	if (off != len) {
		why_printf(why, whylen, "%zu bytes after the last of %zu wants", len - off, count);
		return -1;
	}
	*n = count;
	return 0;
}

/* ---- results ---- */

void
check_result_clear(struct check_result *r)
{
	size_t i;

	for (i = 0; i < r->nwants; i++) {
		free((char *)r->wants[i].path);
		free((char *)r->wants[i].xnames);
	}
	for (i = 0; i < r->nmoved; i++)
		free(r->moved[i]);
	free(r->wants);
	free(r->moved);
	memset(r, 0, sizeof(*r));
}

/*
 * Add a want (path copied). The same want twice in a row, which a
 * directory's ATTRS often would be, is added once.
 */
static struct check_want *
want_add(struct check_result *r, uint16_t root, uint8_t kind, const char *path)
{
	struct check_want *w = r->nwants > 0 ? &r->wants[r->nwants - 1] : NULL;

	if (w != NULL && kind != CHECK_WANT_BLOCKS && w->kind == kind && w->root == root &&
	    strcmp(w->path, path) == 0)
		return w;
	if (r->nwants == r->wants_cap) {
		r->wants_cap = r->wants_cap ? 2 * r->wants_cap : 16;
		r->wants = xrealloc(r->wants, r->wants_cap * sizeof(*r->wants));
	}
	w = &r->wants[r->nwants++];
	memset(w, 0, sizeof(*w));
	w->root = root;
	w->kind = kind;
	w->path = xstrdup(path);
	w->path_len = (uint16_t)strlen(path);
	return w;
}

/* An ATTRS want carrying the xattr names only this node has (copied). */
static void
want_attrs(struct check_result *r, uint16_t root, const char *path, const struct names *extra)
{
	struct check_want *w = want_add(r, root, CHECK_WANT_ATTRS, path);
	size_t i, len = 0, k;
	char *p;

	if (extra == NULL || extra->n == 0 || w->xnames_len > 0)
		return;
	for (i = 0; i < extra->n; i++)
		len += strlen(extra->v[i]) + 1;
	if (len > CHECK_XNAMES_MAX) {
		log_warnx("check: %s: %zu bytes of extra xattr names, more than a want holds; "
		    "they stay until a later check", path, len);
		return;
	}
	w->xnames = p = xmalloc(len);
	w->xnames_len = (uint32_t)len;
	for (i = 0; i < extra->n; i++) {
		k = strlen(extra->v[i]) + 1;
		memcpy(p, extra->v[i], k);
		p += k;
	}
}

static void
moved_add(struct check_result *r, char *rel)
{
	if (r->nmoved == r->moved_cap) {
		r->moved_cap = r->moved_cap ? 2 * r->moved_cap : 8;
		r->moved = xrealloc(r->moved, r->moved_cap * sizeof(*r->moved));
	}
	r->moved[r->nmoved++] = rel;
}

/* ---- quarantine ---- */

/* Copy the xattrs, owner, mode and times of an open entry to another. -1 with errno. */
static int
copy_meta(int in, int out, const struct stat *st)
{
	struct timespec ts[2] = { st->st_atim, st->st_mtim };
	struct xattrs x;
	size_t i;

	if (xattrs_read(in, &x) == -1)
		return -1;
	for (i = 0; i < x.n; i++) {
		if (fsetxattr(out, x.v[i].name, x.v[i].value, x.v[i].len, 0) == -1) {
			xattrs_free(&x);
			return -1;
		}
	}
	xattrs_free(&x);
	if (fchown(out, st->st_uid, st->st_gid) == -1 || fchmod(out, st->st_mode & 07777) == -1 ||
	    futimens(out, ts) == -1)
		return -1;
	return fsync(out);
}

static int copy_entry(int, const char *, int, const char *);

/* Copy the entries of an open directory into another, recursively. -1 with errno. */
static int
copy_dir_entries(int in, int out)
{
	struct names l;
	size_t i;
	int rc = 0;

	if (read_names(in, true, &l, NULL) == -1)
		return -1;
	for (i = 0; i < l.n && rc == 0; i++)
		rc = copy_entry(in, l.v[i], out, l.v[i]);
	names_free(&l);
	return rc;
}

static int
copy_bytes(int in, int out)
{
	uint8_t *buf = xmalloc(BLOCK);
	uint64_t off = 0;
	ssize_t n;
	int rc = 0;

	while ((n = read_at(in, buf, BLOCK, off)) > 0 && rc == 0) {
		rc = write_full(out, buf, (size_t)n);
		off += (uint64_t)n;
	}
	free(buf);
	return n == -1 ? -1 : rc;
}

/*
 * Copy one entry (a directory with all below it) from sdir/sname to
 * ddir/dname, which must not exist: content, xattrs, owner, mode, times,
 * each file fsynced, so the source may be removed after. For a quarantine
 * on another file system than the copy. -1 with errno.
 */
static int
copy_entry(int sdir, const char *sname, int ddir, const char *dname)
{
	struct timespec ts[2];
	char target[PATH_MAX];
	struct stat st;
	ssize_t n;
	int in = -1, out = -1, rc = -1, saved;

	if (fstatat(sdir, sname, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return -1;
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	if (S_ISLNK(st.st_mode)) {
		if ((n = readlinkat(sdir, sname, target, sizeof(target) - 1)) == -1)
			return -1;
		target[n] = '\0';
		if (symlinkat(target, ddir, dname) == -1 ||
		    fchownat(ddir, dname, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) == -1)
			return -1;
		return utimensat(ddir, dname, ts, AT_SYMLINK_NOFOLLOW);
	}
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
		if (mknodat(ddir, dname, st.st_mode, st.st_rdev) == -1 ||
		    fchownat(ddir, dname, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) == -1)
			return -1;
		return utimensat(ddir, dname, ts, AT_SYMLINK_NOFOLLOW);
	}
	if (S_ISDIR(st.st_mode)) {
		if (mkdirat(ddir, dname, 0700) == -1)
			return -1;
		in = openat(sdir, sname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		out = openat(ddir, dname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (in != -1 && out != -1 && copy_dir_entries(in, out) == 0)
			rc = copy_meta(in, out, &st);
	} else {
		in = openat(sdir, sname, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		out = openat(ddir, dname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		    0600);
		if (in != -1 && out != -1 && copy_bytes(in, out) == 0)
			rc = copy_meta(in, out, &st);
	}
	saved = errno;
	if (in != -1)
		close(in);
	if (out != -1)
		close(out);
	errno = saved;
	return rc;
}

/* Remove an entry and all below it: only after its copy is durable. -1 with errno. */
static int
remove_entry(int dir, const char *name)
{
	struct names l;
	struct stat st;
	size_t i;
	int fd, rc = 0;

	if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return -1;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dir, name, 0);
	if ((fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -1;
	if (read_names(fd, true, &l, NULL) == -1) {
		close(fd);
		return -1;
	}
	for (i = 0; i < l.n && rc == 0; i++)
		rc = remove_entry(fd, l.v[i]);
	names_free(&l);
	close(fd);
	return rc == 0 ? unlinkat(dir, name, AT_REMOVEDIR) : -1;
}

/*
 * fsync every folder from qdir up to the one holding qroot, so folders
 * mkdir_p made for the quarantine are durable before the entry leaves the
 * copy: a crash must not lose what was moved into a folder that vanished.
 */
static int
sync_parents(const char *qroot, const char *qdir)
{
	char *p = xstrdup(qdir), *slash;
	size_t stop = strlen(qroot);
	int rc = 0;

	while (rc == 0 && strlen(p) >= stop) {
		rc = fsync_parent_dir(p);
		if ((slash = strrchr(p, '/')) == NULL)
			break;
		*slash = '\0';
	}
	free(p);
	return rc;
}

/*
 * Move dir/name to qdir under qname: a rename that replaces nothing, or
 * on another file system a durable copy, then the removal. 0, 1 when
 * qname is taken, -1 with errno.
 */
static int
move_aside(int dir, const char *name, int qdir, const char *qname)
{
	struct stat st;

	if (renameat2(dir, name, qdir, qname, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno == EEXIST)
		return 1;
	if (errno != EXDEV)
		return -1;
	if (fstatat(qdir, qname, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	if (copy_entry(dir, name, qdir, qname) == -1 || fsync(qdir) == -1)
		return -1;
	return remove_entry(dir, name);
}

/*
 * Move the entry name of directory dirpath (open as dirfd) of root into
 * QUARANTINE/root<N>/dirpath/, under its name or the first free
 * "name.<k>", never over anything, and make both directories durable.
 * Invariant 5: what only this node has is moved aside and reported, never
 * deleted. The move is added to res and logged. -1 with errno.
 */
static int
quarantine(const char *qroot, uint16_t root, int dirfd, const char *dirpath, const char *name,
    struct check_result *res)
{
	char *qdir = xasprintf("%s/root%u%s%s", qroot, root, dirpath[0] ? "/" : "", dirpath);
	char qname[NAME_MAX + 16], q[OP_QUOTE_SIZE];
	int qfd = -1, r = 1, k, saved;

	if (mkdir_p(qdir, 0700) == -1 || sync_parents(qroot, qdir) == -1 ||
	    (qfd = open(qdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		goto out;
	for (k = 0; k < QUARANTINE_TRIES && r == 1; k++) {
		if (k == 0)
			snprintf(qname, sizeof(qname), "%s", name);
		else
			snprintf(qname, sizeof(qname), "%s.%d", name, k);
		r = move_aside(dirfd, name, qfd, qname);
	}
	if (r == 1)
		errno = EEXIST;
	if (r != 0 || fsync(qfd) == -1 || fsync(dirfd) == -1) {
		r = -1;
		goto out;
	}
	moved_add(res, xasprintf("root%u%s%s/%s", root, dirpath[0] ? "/" : "", dirpath, qname));
	log_info("check: root %u: \"%s\" only on this node, moved into quarantine as %s",
	    root, op_quote(name, strlen(name), q), res->moved[res->nmoved - 1]);
out:
	saved = errno;
	if (qfd != -1)
		close(qfd);
	free(qdir);
	errno = saved;
	return r == 0 ? 0 : -1;
}

/* ---- verifier ---- */

/* A directory whose listing this verifier has seen. */
struct listed {
	uint16_t	 root;
	char		*path;
};

struct check_verifier {
	struct applier		*a;
	char			*quarantine;
	struct listed		*listed;     /* a chain: each an ancestor of the next */
	size_t			 nlisted;
	size_t			 listed_cap;
	bool			 has_wanted; /* the last entry wanted whole */
	uint16_t		 wanted_root;
	char			 wanted[OP_PATH_MAX + 1];
	uint8_t			*block;
	struct hashcache	*cache;      /* borrowed, or NULL */
	bool			 rehash;     /* this check reads every file anyway */
	struct hashcache_fill	 fill;       /* the big file being read, for the cache */
	struct check_verify_stats st;
};

/* Where the entry a VERIFY names stands on this node. */
struct spot {
	enum { SPOT_HERE, SPOT_MISSING, SPOT_NO_PARENT } state;
	int		 dirfd;       /* its directory; -1 for a root itself */
	bool		 borrowed;    /* dirfd is the caller's: not closed with the spot */
	char		 parent[OP_PATH_MAX + 1];
	const char	*name;
	struct stat	 st;
};

struct check_verifier *
check_verifier_new(struct applier *a, const char *quarantine)
{
	struct check_verifier *v = xcalloc(1, sizeof(*v));

	v->a = a;
	v->quarantine = xstrdup(quarantine);
	v->block = xmalloc(BLOCK);
	return v;
}

void
check_verifier_free(struct check_verifier *v)
{
	if (v == NULL)
		return;
	while (v->nlisted > 0)
		free(v->listed[--v->nlisted].path);
	free(v->listed);
	free(v->quarantine);
	free(v->block);
	hashcache_fill_drop(&v->fill);
	free(v);
}

void
check_verifier_use_cache(struct check_verifier *v, struct hashcache *cache)
{
	v->cache = cache;
}

void
check_verifier_stats(const struct check_verifier *v, struct check_verify_stats *st)
{
	*st = v->st;
}

/*
 * Forget the listings that are not of path or above it, and the entry
 * wanted whole unless path is it or below it: the scanner walks depth
 * first and visits each entry once, so once a VERIFY comes from elsewhere
 * they are done. A new check (OP_VERIFY_BEGIN) forgets everything.
 */
static void
listed_trim(struct check_verifier *v, const struct op *op)
{
	struct listed *l;

	while (v->nlisted > 0) {
		l = &v->listed[v->nlisted - 1];
		if (!(op->flags & OP_VERIFY_BEGIN) && l->root == op->root &&
		    is_under(op->path, l->path))
			break;
		free(l->path);
		v->nlisted--;
	}
	if ((op->flags & OP_VERIFY_BEGIN) || v->wanted_root != op->root ||
	    !is_under(op->path, v->wanted))
		v->has_wanted = false;
}

static void
listed_push(struct check_verifier *v, uint16_t root, const char *path)
{
	if (v->nlisted > 0 && strcmp(v->listed[v->nlisted - 1].path, path) == 0)
		return;
	if (v->nlisted == v->listed_cap) {
		v->listed_cap = v->listed_cap ? 2 * v->listed_cap : 16;
		v->listed = xrealloc(v->listed, v->listed_cap * sizeof(*v->listed));
	}
	v->listed[v->nlisted].root = root;
	v->listed[v->nlisted].path = xstrdup(path);
	v->nlisted++;
}

/* Whether the listing of dir was seen (after listed_trim for a path below it). */
static bool
is_listed(const struct check_verifier *v, const char *dir)
{
	size_t i;

	for (i = 0; i < v->nlisted; i++)
		if (strcmp(v->listed[i].path, dir) == 0)
			return true;
	return false;
}

/* Want the whole entry, and its directory's attributes after it (its mtime moves). */
static void
want_entry(struct check_verifier *v, uint16_t root, const char *path, struct check_result *res)
{
	char parent[OP_PATH_MAX + 1];

	want_add(res, root, CHECK_WANT_ENTRY, path);
	split(path, parent);
	want_attrs(res, root, parent, NULL);
	v->has_wanted = true;
	v->wanted_root = root;
	snprintf(v->wanted, sizeof(v->wanted), "%s", path);
}

/*
 * This node has the entry as another type (or a symlink to elsewhere): move
 * it aside and want the active's whole.
 */
static int
replace(struct check_verifier *v, uint16_t root, const char *path, int dirfd,
    const char *parent, const char *name, struct check_result *res, char *why, size_t whylen)
{
	char q[OP_QUOTE_SIZE];

	if (dirfd == -1) {
		why_printf(why, whylen, "root %u: the verify says the root is not a directory", root);
		return -1;
	}
	if (quarantine(v->quarantine, root, dirfd, parent, name, res) == -1) {
		why_printf(why, whylen, "root %u \"%s\": moving it into quarantine: %s", root,
		    op_quote(path, strlen(path), q), strerror(errno));
		return -1;
	}
	v->st.quarantined++;
	want_entry(v, root, path, res);
	return 0;
}

/*
 * The directory of the entry is missing here, or is not a directory. In a
 * walk its own VERIFY came first and asked for it; in a targeted check the
 * nearest ancestor that is not a directory here is found, moved aside if it
 * is something else, and wanted whole.
 */
static int
want_ancestor(struct check_verifier *v, const struct op *op, struct check_result *res,
    char *why, size_t whylen)
{
	char prefix[OP_PATH_MAX + 1], parent[OP_PATH_MAX + 1];
	const char *slash = op->path, *name;
	struct stat st;
	int fd, rc;

	split(op->path, parent);
	if (is_listed(v, parent)) {
		v->st.covered++;
		return 0;
	}
	while ((slash = strchr(slash, '/')) != NULL) {
		memcpy(prefix, op->path, (size_t)(slash - op->path));
		prefix[slash++ - op->path] = '\0';
		if ((fd = applier_openat(v->a, op->root, prefix, O_PATH, 0)) == -1) {
			if (errno != ENOENT)
				goto fail;
			want_entry(v, op->root, prefix, res);
			return 0;
		}
		rc = fstat(fd, &st);
		close(fd);
		if (rc == -1)
			goto fail;
		if (S_ISDIR(st.st_mode))
			continue;
		name = split(prefix, parent);
		if ((fd = applier_openat(v->a, op->root, parent, O_RDONLY | O_DIRECTORY, 0)) == -1)
			goto fail;
		rc = replace(v, op->root, prefix, fd, parent, name, res, why, whylen);
		close(fd);
		return rc;
	}
	return 0;
fail:
	why_printf(why, whylen, "root %u: looking for the missing directory of \"%s\": %s", op->root,
	    op_quote(op->path, op->path_len, prefix), strerror(errno));
	return -1;
}

/*
 * Find the entry of a VERIFY on this node; dirfd, when not -1, is its
 * directory, already open. 0, or -1 with errno.
 */
static int
locate(struct check_verifier *v, const struct op *op, int dirfd, struct spot *sp)
{
	int fd;

	memset(sp, 0, sizeof(*sp));
	sp->dirfd = -1;
	sp->state = SPOT_HERE;
	if (op->path_len == 0) {
		if ((fd = applier_openat(v->a, op->root, "", O_PATH, 0)) == -1)
			return -1;
		sp->name = "";
		if (fstat(fd, &sp->st) == -1) {
			close(fd);
			return -1;
		}
		close(fd);
		return 0;
	}
	sp->name = split(op->path, sp->parent);
	sp->borrowed = dirfd != -1;
	sp->dirfd = dirfd != -1 ? dirfd :
	    applier_openat(v->a, op->root, sp->parent, O_RDONLY | O_DIRECTORY, 0);
	if (sp->dirfd == -1) {
		if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP)
			return -1;
		sp->state = SPOT_NO_PARENT;
		return 0;
	}
	if (fstatat(sp->dirfd, sp->name, &sp->st, AT_SYMLINK_NOFOLLOW) == -1) {
		if (errno != ENOENT)
			return -1;
		sp->state = SPOT_MISSING;
	}
	return 0;
}

/* Whether owner, mode (not of a symlink), mtime and, if asked, size differ. */
static bool
attrs_differ(const struct stat *st, const struct op *op, bool size)
{
	return (!S_ISLNK(st->st_mode) && st->st_mode != op->mode) || st->st_uid != op->uid ||
	    st->st_gid != op->gid || st->st_mtim.tv_sec != op->mtime_sec ||
	    (uint64_t)st->st_mtim.tv_nsec != op->mtime_nsec ||
	    (size && (uint64_t)st->st_size != op->size);
}

/* The names of the xattrs of an open entry. -1 with errno. */
static int
xattr_names(int fd, struct names *out)
{
	struct xattrs x;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (xattrs_read(fd, &x) == -1)
		return -1;
	for (i = 0; i < x.n; i++)
		names_add(out, x.v[i].name);
	xattrs_free(&x);
	return 0;
}

/*
 * The attributes a first VERIFY of a file or directory carries: owner,
 * mode, mtime, the size of a file, and no xattrs when it says so. Any
 * difference wants ATTRS, with the xattr names only this node has. fd is
 * the open entry, or -1 for a file the cache knows has no xattrs. *bare
 * (when not NULL) says whether the entry was seen without xattrs.
 */
static int
verify_attrs(const struct op *op, int fd, const struct stat *st, bool changed,
    struct check_result *res, bool *bare)
{
	struct names extra = { 0 };

	if (bare != NULL)
		*bare = fd == -1;
	if ((op->flags & OP_VERIFY_NOXATTRS) && fd != -1) {
		if (xattr_names(fd, &extra) == -1)
			return -1;
		if (bare != NULL)
			*bare = extra.n == 0;
	}
	if (changed || extra.n > 0 || (op->offset == 0 && !(op->flags & OP_VERIFY_AFTER) &&
	    attrs_differ(st, op, S_ISREG(st->st_mode))))
		want_attrs(res, op->root, op->path, &extra);
	names_free(&extra);
	return 0;
}

/*
 * This node's block hashes of a file VERIFY (block first on, n of them):
 * remembered by the cache for this very stat (no read at all, and *fd
 * stays -1), else read from the file, opened into *fd. A file read whole
 * from its first VERIFY on, as big as the active's, its stat the same at
 * each, is gathered in v->fill for the cache. The blocks this node has
 * (its size may be smaller) in *have. 0, or -1 with errno.
 */
static int
local_hashes(struct check_verifier *v, const struct op *op, const struct spot *sp, size_t first,
    size_t n, uint64_t *hashes, size_t *have, int *fd)
{
	const struct stat *st = &sp->st;
	size_t nlocal = hashcache_blocks_of((uint64_t)st->st_size), nb;
	const uint64_t *cached = NULL;
	struct timespec started;

	*fd = -1;
	*have = first >= nlocal ? 0 : nlocal - first < n ? nlocal - first : n;
	if (v->cache != NULL && !v->rehash &&
	    (cached = hashcache_get(v->cache, op->root, st, &nb)) != NULL && nb == nlocal) {
		memcpy(hashes, cached + first, *have * sizeof(*hashes));
		v->st.cached++;
		return 0;
	}
	clock_gettime(CLOCK_REALTIME, &started);
	if ((*fd = beneath(sp->dirfd, sp->name, O_RDONLY | O_NONBLOCK)) == -1)
		return -1;
	if (op->offset == 0 && v->cache != NULL && (op->flags & OP_VERIFY_NOXATTRS) &&
	    (uint64_t)st->st_size == op->size)
		hashcache_fill_start(&v->fill, op->root, st, &started);
	if (hash_blocks(v->block, *fd, op->offset, (uint64_t)st->st_size, *have, hashes) == -1) {
		hashcache_fill_drop(&v->fill);
		return -1;
	}
	hashcache_fill_add(&v->fill, op->root, st, first, hashes, *have);
	return 0;
}

/*
 * Compare this node's blocks of a file VERIFY with the active's hashes and
 * want the ones that differ. The file is sp's (found with fstatat in its
 * directory, opened beneath it when it must be read): nothing but the
 * applier, which is this thread, writes the copy.
 */
static int
verify_file(struct check_verifier *v, const struct op *op, const struct spot *sp,
    struct check_result *res)
{
	uint64_t hashes[CHECK_VERIFY_BLOCKS];
	struct check_want *w = NULL;
	const struct stat *st = &sp->st;
	uint64_t off, alen, mine, size = (uint64_t)sp->st.st_size;
	size_t first = (size_t)(op->offset / BLOCK), n = op->data_len / 8, have, i;
	bool bare = false;
	int fd, rc = -1;

	if (local_hashes(v, op, sp, first, n, hashes, &have, &fd) == -1)
		goto out;
	for (i = 0; i < n; i++) {
		off = op->offset + (uint64_t)i * BLOCK;
		alen = op->size - off < BLOCK ? op->size - off : BLOCK;
		/* This node's length of the block, as far as its own size goes. */
		mine = off >= size ? 0 : size - off < BLOCK ? size - off : BLOCK;
		if (i < have && mine == alen && hashes[i] == get64(op->data + 8 * i))
			continue;
		if (w == NULL || w->nblocks == CHECK_VERIFY_BLOCKS) {
			w = want_add(res, op->root, CHECK_WANT_BLOCKS, op->path);
		}
		w->blocks[w->nblocks++] = off;
		v->st.blocks_differ++;
	}
	rc = 0;
	if (op->offset == 0) {
		rc = verify_attrs(op, fd, st, false, res, &bare);
		if (!bare)
			hashcache_fill_drop(&v->fill);
	}
	if (v->fill.on && op->offset + (uint64_t)n * BLOCK >= op->size)
		hashcache_fill_end(v->cache, &v->fill);
out:
	if (fd != -1)
		close(fd);
	return rc;
}

/*
 * The names of a directory chunk: the lower bound (NULL for the first
 * chunk) and the entries, as op_decode checked them (sorted, one component).
 */
static const char *
chunk_names(const struct op *op, struct names *entries)
{
	const char *p = (const char *)op->data, *end = p + op->data_len, *lo = NULL;

	memset(entries, 0, sizeof(*entries));
	if ((op->flags & OP_VERIFY_AFTER) && p < end) {
		lo = p;
		p += strlen(p) + 1;
	}
	for (; p < end; p += strlen(p) + 1)
		names_add(entries, p);
	return lo;
}

/*
 * A chunk of the active's names of a directory: this node's names in the
 * chunk's range that the active lacked are moved aside, the active's
 * names this node lacks are wanted whole, and the directory's attributes
 * are wanted after them when anything moved or differs.
 */
static int
verify_dir(struct check_verifier *v, const struct op *op, struct check_result *res,
    char *why, size_t whylen)
{
	struct names local = { 0 }, entries;
	char path[OP_PATH_MAX + 1], q[OP_QUOTE_SIZE];
	const char *lo = chunk_names(op, &entries), *hi = NULL;
	bool changed = false;
	struct stat st;
	size_t i, j;
	int fd, rc = -1;

	/* A chunk before the final covers names up to its last; with none, nothing. */
	if (op->offset + entries.n != op->size)
		hi = entries.n > 0 ? entries.v[entries.n - 1] : "";
	if ((fd = applier_openat(v->a, op->root, op->path, O_RDONLY | O_DIRECTORY, 0)) == -1 ||
	    fstat(fd, &st) == -1 || read_names(fd, false, &local, NULL) == -1)
		goto fail;
	/* Both lists are sorted: each pass steps through the other list alongside. */
	for (i = 0, j = 0; i < local.n; i++) {
		if (lo != NULL && strcmp(local.v[i], lo) <= 0)
			continue;
		if (hi != NULL && (hi[0] == '\0' || strcmp(local.v[i], hi) > 0))
			break;
		if (sorted_has(&entries, &j, local.v[i]))
			continue;
		if (quarantine(v->quarantine, op->root, fd, op->path, local.v[i], res) == -1)
			goto fail;
		v->st.quarantined++;
		changed = true;
	}
	for (i = 0, j = 0; i < entries.n; i++) {
		if (sorted_has(&local, &j, entries.v[i]) || join(path, op->path, entries.v[i]) == -1)
			continue;
		want_add(res, op->root, CHECK_WANT_ENTRY, path);
		changed = true;
	}
	if (verify_attrs(op, fd, &st, changed, res, NULL) == -1)
		goto fail;
	rc = 0;
	goto out;
fail:
	why_printf(why, whylen, "root %u directory \"%s\": %s", op->root,
	    op_quote(op->path, op->path_len, q), strerror(errno));
out:
	if (fd != -1)
		close(fd);
	names_free(&local);
	names_free(&entries);
	return rc;
}

/* A symlink: another target is another entry; else owner and mtime. */
static int
verify_link(struct check_verifier *v, const struct op *op, const struct spot *sp,
    struct check_result *res, char *why, size_t whylen)
{
	char target[PATH_MAX];
	ssize_t n;

	if ((n = readlinkat(sp->dirfd, sp->name, target, sizeof(target))) == -1) {
		why_printf(why, whylen, "root %u: readlink: %s", op->root, strerror(errno));
		return -1;
	}
	if ((size_t)n != op->data_len || memcmp(target, op->data, (size_t)n) != 0)
		return replace(v, op->root, op->path, sp->dirfd, sp->parent, sp->name, res, why,
		    whylen);
	if (attrs_differ(&sp->st, op, false))
		want_attrs(res, op->root, op->path, NULL);
	return 0;
}

/* The active's xattr list against this node's: any difference wants ATTRS. */
static int
verify_xattrs(struct check_verifier *v, const struct op *op, struct check_result *res)
{
	const uint8_t *p = op->data, *end = op->data + op->data_len;
	struct names extra = { 0 }, theirs = { 0 };
	struct xattrs x;
	bool differ = false;
	size_t i, j = 0;
	int fd;

	if ((fd = applier_openat(v->a, op->root, op->path, O_RDONLY | O_NONBLOCK, 0)) == -1)
		return -1;
	if (xattrs_read(fd, &x) == -1) {
		close(fd);
		return -1;
	}
	close(fd);
	for (; p < end; p += strlen((const char *)p) + 1 + 8) {
		names_add(&theirs, (const char *)p);
		/* Both lists are sorted: step through ours alongside. */
		while (j < x.n && strcmp(x.v[j].name, (const char *)p) < 0)
			j++;
		if (j == x.n || strcmp(x.v[j].name, (const char *)p) != 0 ||
		    XXH3_64bits(x.v[j].value, x.v[j].len) !=
		    get64(p + strlen((const char *)p) + 1))
			differ = true;
	}
	for (i = 0; i < x.n; i++)
		if (!names_has(&theirs, x.v[i].name))
			names_add(&extra, x.v[i].name);
	if (differ || extra.n > 0)
		want_attrs(res, op->root, op->path, &extra);
	names_free(&extra);
	names_free(&theirs);
	xattrs_free(&x);
	return 0;
}

/* Compare an entry found here with its VERIFY. */
static int
verify_here(struct check_verifier *v, const struct op *op, const struct spot *sp,
    struct check_result *res, char *why, size_t whylen)
{
	char q[OP_QUOTE_SIZE];
	int rc;

	if ((sp->st.st_mode & S_IFMT) != (op->mode & S_IFMT))
		return replace(v, op->root, op->path, sp->dirfd, sp->parent, sp->name, res, why,
		    whylen);
	if (S_ISDIR(op->mode) && !(op->flags & OP_VERIFY_XATTRS))
		return verify_dir(v, op, res, why, whylen);
	if (S_ISLNK(op->mode))
		return verify_link(v, op, sp, res, why, whylen);
	rc = (op->flags & OP_VERIFY_XATTRS) ? verify_xattrs(v, op, res) :
	    verify_file(v, op, sp, res);
	if (rc == -1)
		why_printf(why, whylen, "root %u \"%s\": %s", op->root,
		    op_quote(op->path, op->path_len, q), strerror(errno));
	return rc;
}

/*
 * The entry is missing here. When its directory's listing was seen, that
 * listing wanted it; else (a targeted check) it is wanted now.
 */
static void
verify_missing(struct check_verifier *v, const struct op *op, const struct spot *sp,
    struct check_result *res)
{
	if (is_listed(v, sp->parent)) {
		v->st.covered++;
		return;
	}
	want_entry(v, op->root, op->path, res);
}

/* One entry's VERIFY; dirfd, when not -1, is its directory, open. */
static int
verify_one(struct check_verifier *v, const struct op *op, int dirfd, struct check_result *res,
    char *why, size_t whylen)
{
	struct spot sp;
	char q[OP_QUOTE_SIZE];
	size_t before = res->nwants;
	int rc = 0;

	listed_trim(v, op);
	if (v->has_wanted) {
		/* Its whole entry is on the way, as the active has it then. */
		v->st.covered++;
		return 0;
	}
	v->st.verified++;
	if (S_ISDIR(op->mode) && !(op->flags & OP_VERIFY_XATTRS))
		listed_push(v, op->root, op->path);
	if (locate(v, op, dirfd, &sp) == -1) {
		why_printf(why, whylen, "root %u \"%s\": %s", op->root,
		    op_quote(op->path, op->path_len, q), strerror(errno));
		return -1;
	}
	if (sp.state == SPOT_NO_PARENT)
		rc = want_ancestor(v, op, res, why, whylen);
	else if (sp.state == SPOT_MISSING)
		verify_missing(v, op, &sp, res);
	else
		rc = verify_here(v, op, &sp, res, why, whylen);
	if (sp.dirfd != -1 && !sp.borrowed)
		close(sp.dirfd);
	v->st.wants += res->nwants - before;
	return rc;
}

/*
 * Whether a regular file of a batch is, on this node, what the active's
 * entry says at the cost of one fstatat: the same type, mode, owner,
 * mtime and size, and the hash the cache remembers for its very stat the
 * active's. Only once the batch's first entry trimmed what the verifier
 * remembers (the rest of the batch shares its directory) and while no
 * entry is being wanted whole; false: verify it the long way.
 */
static bool
entry_unchanged(struct check_verifier *v, const struct op *op, int dirfd,
    const struct op_entry *e)
{
	const uint64_t *h;
	struct stat st;
	size_t nb;

	if (dirfd == -1 || v->cache == NULL || v->rehash || v->has_wanted || !S_ISREG(e->mode) ||
	    fstatat(dirfd, e->name, &st, AT_SYMLINK_NOFOLLOW) == -1 || st.st_mode != e->mode ||
	    st.st_uid != e->uid || st.st_gid != e->gid || st.st_mtim.tv_sec != e->mtime_sec ||
	    (uint64_t)st.st_mtim.tv_nsec != e->mtime_nsec || (uint64_t)st.st_size != e->size ||
	    (h = hashcache_get(v->cache, op->root, &st, &nb)) == NULL)
		return false;
	if (nb != e->data_len / 8 || (nb == 1 && h[0] != get64(e->data)))
		return false;
	v->st.verified++;
	v->st.cached++;
	return true;
}

/*
 * A VERIFY of several small entries of a directory (OP_VERIFY_ENTRIES):
 * each verified as its own VERIFY would be, in order, with the directory
 * opened once for all of them.
 */
static int
verify_entries(struct check_verifier *v, const struct op *op, struct check_result *res,
    char *why, size_t whylen)
{
	char path[OP_PATH_MAX + 1], q[OP_QUOTE_SIZE];
	struct op_entry e;
	struct op one;
	size_t off = 0;
	bool first = true;
	int dirfd, rc = 0;

	dirfd = applier_openat(v->a, op->root, op->path, O_RDONLY | O_DIRECTORY, 0);
	if (dirfd == -1 && errno != ENOENT && errno != ENOTDIR && errno != ELOOP) {
		why_printf(why, whylen, "root %u directory \"%s\": %s", op->root,
		    op_quote(op->path, op->path_len, q), strerror(errno));
		return -1;
	}
	while (rc == 0 && op_entry_next(op, &off, &e)) {
		if (!first && entry_unchanged(v, op, dirfd, &e))
			continue;
		first = false;
		if (join(path, op->path, e.name) == -1) {
			why_printf(why, whylen, "root %u: an entry of \"%s\" over the path limit",
			    op->root, op_quote(op->path, op->path_len, q));
			rc = -1;
			break;
		}
		one = (struct op){ .type = RECORD_VERIFY, .root = op->root, .path = path,
		    .path_len = (uint16_t)strlen(path), .mode = e.mode, .uid = e.uid, .gid = e.gid,
		    .mtime_sec = e.mtime_sec, .mtime_nsec = e.mtime_nsec, .size = e.size,
		    .data = e.data, .data_len = e.data_len,
		    .flags = S_ISREG(e.mode) ? OP_VERIFY_NOXATTRS : 0 };
		/* A directory that is missing here, or not one: each entry finds out alone. */
		rc = verify_one(v, &one, dirfd, res, why, whylen);
	}
	if (dirfd != -1)
		close(dirfd);
	return rc;
}

int
check_verify(struct check_verifier *v, const struct op *op, struct check_result *res,
    char *why, size_t whylen)
{
	if (op->type != RECORD_VERIFY || op->path == NULL || op->path[op->path_len] != '\0') {
		why_printf(why, whylen, "not a decoded VERIFY op");
		return -1;
	}
	if (op->flags & OP_VERIFY_BEGIN)
		v->rehash = (op->flags & OP_VERIFY_REHASH) != 0;
	if (op->flags & OP_VERIFY_ENTRIES)
		return verify_entries(v, op, res, why, whylen);
	return verify_one(v, op, -1, res, why, whylen);
}

/* ---- responder ---- */

struct check_responder {
	int			*roots;
	size_t			 nroots;
	struct check_emitter	 em;
	struct check_want	*q;          /* copies, answered from qhead */
	size_t			 qhead;
	size_t			 qn;
	size_t			 qcap;
	bool			 started;    /* the ENTRY at qhead sent its top entry */
	struct walk		 walk;       /* its directories still to send */
	bool			 file;       /* a file of it is being sent */
	char			 fpath[OP_PATH_MAX + 1];
	uint64_t		 off;        /* the file's next block */
	uint8_t			*block;
	struct check_respond_stats st;
};

struct check_responder *
check_responder_new(const int *roots, size_t nroots, const struct check_emitter *em)
{
	struct check_responder *r = xcalloc(1, sizeof(*r));

	r->roots = xcalloc(nroots + 1, sizeof(*r->roots));
	memcpy(r->roots, roots, nroots * sizeof(*roots));
	r->nroots = nroots;
	r->em = *em;
	r->block = xmalloc(BLOCK);
	return r;
}

static void
want_free(struct check_want *w)
{
	free((char *)w->path);
	free((char *)w->xnames);
}

void
check_responder_free(struct check_responder *r)
{
	if (r == NULL)
		return;
	while (r->qhead < r->qn)
		want_free(&r->q[r->qhead++]);
	free(r->q);
	walk_free(&r->walk);
	free(r->roots);
	free(r->block);
	free(r);
}

void
check_responder_stats(const struct check_responder *r, struct check_respond_stats *st)
{
	*st = r->st;
}

void
check_responder_add(struct check_responder *r, const struct check_want *w)
{
	struct check_want *c;
	char *x = NULL;

	if (want_problem(w) != NULL || w->root >= r->nroots) {
		log_warnx("check: want dropped: %s", w->root >= r->nroots ?
		    "a root this node does not protect" : want_problem(w));
		return;
	}
	if (r->qn == r->qcap) {
		r->qcap = r->qcap ? 2 * r->qcap : 16;
		r->q = xrealloc(r->q, r->qcap * sizeof(*r->q));
	}
	c = &r->q[r->qn++];
	*c = *w;
	c->path = xstrdup(w->path);
	if (w->xnames_len > 0) {
		x = xmalloc(w->xnames_len);
		memcpy(x, w->xnames, w->xnames_len);
	}
	c->xnames = x;
}

static int
r_emit(struct check_responder *r, const struct op *op)
{
	return emit(&r->em, op, &r->st.ops);
}

static int
emit_utimens(struct check_responder *r, uint16_t root, const char *path, const struct stat *st)
{
	struct op op = op_from(RECORD_UTIMENS, root, path, st);

	op.atime_nsec = OP_TIME_OMIT;
	return r_emit(r, &op);
}

/*
 * The xattrs of an open file or directory: a SETXATTR for each, then a
 * REMOVEXATTR for each of the passive's extra names it still lacks.
 */
static int
emit_xattrs(struct check_responder *r, uint16_t root, const char *path, int fd,
    const char *xnames, uint32_t xnames_len)
{
	const char *p, *end = xnames != NULL ? xnames + xnames_len : NULL;
	struct op op = { .root = root, .path = path, .path_len = (uint16_t)strlen(path) };
	struct xattrs x;
	bool have;
	size_t i;
	int rc = 0;

	if (xattrs_read(fd, &x) == -1) {
		log_warn("check: root %u: reading the xattrs of %s", root, path);
		r->st.lost++;
		return 0;
	}
	op.type = RECORD_SETXATTR;
	for (i = 0; i < x.n && rc == 0; i++) {
		op.name = x.v[i].name;
		op.name_len = (uint16_t)strlen(x.v[i].name);
		op.data = x.v[i].value;
		op.data_len = (uint32_t)x.v[i].len;
		rc = r_emit(r, &op);
	}
	op.type = RECORD_REMOVEXATTR;
	op.data = NULL;
	op.data_len = 0;
	for (p = xnames; p != NULL && p < end && rc == 0; p += strlen(p) + 1) {
		for (i = 0, have = false; i < x.n && !have; i++)
			have = strcmp(x.v[i].name, p) == 0;
		if (have)
			continue;
		op.name = p;
		op.name_len = (uint16_t)strlen(p);
		rc = r_emit(r, &op);
	}
	xattrs_free(&x);
	return rc;
}

/*
 * Every attribute of an entry as it is now: the size of a file, owner,
 * mode (not of a symlink), xattrs (fd: the open file or directory; -1 for
 * a symlink, whose xattrs are not replicated) and, last, the mtime, which
 * nothing after it moves. Owner before mode: a chown clears set-id bits.
 */
static int
emit_attrs(struct check_responder *r, uint16_t root, const char *path, int fd,
    const struct stat *st, const char *xnames, uint32_t xnames_len)
{
	struct op op;

	if (S_ISREG(st->st_mode)) {
		op = op_from(RECORD_TRUNCATE, root, path, st);
		op.size = (uint64_t)st->st_size;
		if (r_emit(r, &op) == -1)
			return -1;
	}
	op = op_from(RECORD_CHOWN, root, path, st);
	if (r_emit(r, &op) == -1)
		return -1;
	if (!S_ISLNK(st->st_mode)) {
		op = op_from(RECORD_CHMOD, root, path, st);
		op.mode = st->st_mode & 07777;
		if (r_emit(r, &op) == -1)
			return -1;
	}
	if (fd != -1 && emit_xattrs(r, root, path, fd, xnames, xnames_len) == -1)
		return -1;
	return emit_utimens(r, root, path, st);
}

/*
 * Open a wanted path as it is now: a file or directory for reading, a
 * symlink as O_PATH (*fd -1 then for the xattrs). 1 found, 0 gone.
 */
static int
r_open(struct check_responder *r, uint16_t root, const char *path, int *fd, struct stat *st)
{
	int pfd;

	*fd = -1;
	if ((pfd = beneath(r->roots[root], path, O_PATH)) == -1)
		return 0;
	if (fstat(pfd, st) == -1 || !checked_type(st->st_mode)) {
		close(pfd);
		return 0;
	}
	if (!S_ISLNK(st->st_mode)) {
		*fd = beneath(r->roots[root], path, O_RDONLY | O_NONBLOCK);
		if (*fd == -1 || fstat(*fd, st) == -1) {
			close(pfd);
			return 0;
		}
	}
	close(pfd);
	return 1;
}

/* One DATA op: the block at off of the open file as it is now. */
static int
emit_block(struct check_responder *r, uint16_t root, const char *path, int fd,
    const struct stat *st, uint64_t off)
{
	struct op op = op_from(RECORD_DATA, root, path, st);
	ssize_t got;

	if ((got = read_at(fd, r->block, BLOCK, off)) == -1) {
		log_warn("check: root %u: reading %s at %llu", root, path,
		    (unsigned long long)off);
		r->st.lost++;
		return 0;
	}
	op.offset = off;
	op.size = (uint64_t)st->st_size;
	op.data = r->block;
	op.data_len = (uint32_t)got;
	return got > 0 ? r_emit(r, &op) : 0;
}

/* BLOCKS: each block still within the file, else its size; then the mtime. */
static int
respond_blocks(struct check_responder *r, const struct check_want *w)
{
	struct stat st;
	struct op op;
	size_t i, sent = 0;
	int fd, rc = 0;

	if (!r_open(r, w->root, w->path, &fd, &st) || !S_ISREG(st.st_mode)) {
		r->st.gone++;
		goto out;
	}
	for (i = 0; i < w->nblocks && rc == 0; i++) {
		if (w->blocks[i] >= (uint64_t)st.st_size)
			continue;
		rc = emit_block(r, w->root, w->path, fd, &st, w->blocks[i]);
		sent++;
	}
	if (rc == 0 && sent == 0) {
		op = op_from(RECORD_TRUNCATE, w->root, w->path, &st);
		op.size = (uint64_t)st.st_size;
		rc = r_emit(r, &op);
	}
	if (rc == 0)
		rc = emit_utimens(r, w->root, w->path, &st);
out:
	if (fd != -1)
		close(fd);
	return rc;
}

static int
respond_attrs(struct check_responder *r, const struct check_want *w)
{
	struct stat st;
	int fd, rc = 0;

	if (!r_open(r, w->root, w->path, &fd, &st))
		r->st.gone++;
	else
		rc = emit_attrs(r, w->root, w->path, fd, &st, w->xnames, w->xnames_len);
	if (fd != -1)
		close(fd);
	return rc;
}

/*
 * The next blocks of the file being sent whole, then its attributes. A
 * file gone meanwhile was removed or renamed, and the passive may hold
 * part of it under its new name: counted as lost, for a targeted check.
 */
static int
send_file_blocks(struct check_responder *r, uint16_t root)
{
	struct stat st;
	unsigned n;
	int fd, rc = 0;

	if (!r_open(r, root, r->fpath, &fd, &st) || !S_ISREG(st.st_mode)) {
		log_warnx("check: root %u: %s went away while being sent", root, r->fpath);
		r->st.lost++;
		r->file = false;
		goto out;
	}
	for (n = 0; n < CHECK_VERIFY_BLOCKS && r->off < (uint64_t)st.st_size && rc == 0; n++) {
		rc = emit_block(r, root, r->fpath, fd, &st, r->off);
		r->off += BLOCK;
	}
	if (rc == 0 && r->off >= (uint64_t)st.st_size) {
		r->file = false;
		rc = emit_attrs(r, root, r->fpath, fd, &st, NULL, 0);
	}
out:
	if (fd != -1)
		close(fd);
	return rc;
}

/*
 * Send one entry whole as it is now: a directory as MKDIR, its entries
 * left to the walk; a file as CREATE and its first blocks; a symlink.
 */
static int
send_entry(struct check_responder *r, uint16_t root, const char *path)
{
	struct names names;
	char target[PATH_MAX];
	struct stat st;
	struct op op;
	ssize_t n;
	int fd, rc = 0;

	if (!r_open(r, root, path, &fd, &st)) {
		r->st.gone++;
		return 0;
	}
	op = op_from(S_ISDIR(st.st_mode) ? RECORD_MKDIR : S_ISREG(st.st_mode) ?
	    RECORD_CREATE : RECORD_SYMLINK, root, path, &st);
	if (S_ISREG(st.st_mode)) {
		op.flags = OP_CREATE_TRUNC;
		if ((rc = r_emit(r, &op)) == 0) {
			r->file = true;
			r->off = 0;
			snprintf(r->fpath, sizeof(r->fpath), "%s", path);
			rc = send_file_blocks(r, root);
		}
	} else if (S_ISDIR(st.st_mode)) {
		if (read_names(fd, false, &names, &r->st.skipped_type) == -1) {
			log_warn("check: root %u: listing %s", root, path);
			memset(&names, 0, sizeof(names));
		}
		if ((rc = r_emit(r, &op)) == 0)
			walk_push(&r->walk, path, &names);
		names_free(&names);
	} else if ((n = link_target(r->roots[root], path, target, sizeof(target))) > 0) {
		op.path2 = target;
		op.path2_len = (uint16_t)n;
		if ((rc = r_emit(r, &op)) == 0)
			rc = emit_attrs(r, root, path, -1, &st, NULL, 0);
	} else
		r->st.gone++;
	if (fd != -1)
		close(fd);
	return rc;
}

/* A directory sent whole, its entries done: its attributes, after them. */
static int
send_dir_attrs(struct check_responder *r, uint16_t root, const char *path)
{
	struct stat st;
	int fd, rc = 0;

	if (!r_open(r, root, path, &fd, &st) || !S_ISDIR(st.st_mode)) {
		log_warnx("check: root %u: directory %s went away while being sent", root, path);
		r->st.lost++;
	} else
		rc = emit_attrs(r, root, path, fd, &st, NULL, 0);
	if (fd != -1)
		close(fd);
	return rc;
}

/* One step of an ENTRY want. 1: more to do; 0: done; -1: emit failed. */
static int
entry_step(struct check_responder *r, const struct check_want *w)
{
	char path[OP_PATH_MAX + 1];

	if (r->file)
		return send_file_blocks(r, w->root) == -1 ? -1 : 1;
	if (!r->started) {
		r->started = true;
		return send_entry(r, w->root, w->path) == -1 ? -1 : 1;
	}
	switch (walk_next(&r->walk, path)) {
	case WALK_ENTRY:
		return send_entry(r, w->root, path) == -1 ? -1 : 1;
	case WALK_DONE:
		return send_dir_attrs(r, w->root, path) == -1 ? -1 : 1;
	default:
		return 0;
	}
}

int
check_responder_step(struct check_responder *r)
{
	struct check_want *w;
	int rc;

	if (r->qhead == r->qn)
		return 0;
	w = &r->q[r->qhead];
	r->em.lock(r->em.arg);
	if (w->kind == CHECK_WANT_BLOCKS)
		rc = respond_blocks(r, w);
	else if (w->kind == CHECK_WANT_ATTRS)
		rc = respond_attrs(r, w);
	else
		rc = entry_step(r, w);
	r->em.unlock(r->em.arg);
	if (rc == 1)
		return 1;
	/* This want is answered (or dropped after a failed emit). */
	r->st.wants++;
	walk_free(&r->walk);
	r->started = r->file = false;
	want_free(w);
	if (++r->qhead == r->qn)
		r->qhead = r->qn = 0;
	else if (r->qhead > 64 && 2 * r->qhead > r->qn) {
		/* Mostly answered: move the rest to the front. */
		memmove(r->q, r->q + r->qhead, (r->qn - r->qhead) * sizeof(*r->q));
		r->qn -= r->qhead;
		r->qhead = 0;
	}
	return rc == -1 ? -1 : 1;
}

/* ---- after a crash of the active ---- */

bool
check_list_put(uint8_t *buf, size_t cap, size_t *len, uint16_t root, const char *path,
    size_t plen, bool deep)
{
	if (plen > OP_PATH_MAX || (plen > 0 && !op_path_valid(path, plen)) ||
	    *len > cap || cap - *len < 4 + plen)
		return false;
	put16(buf + *len, root);
	put16(buf + *len + 2, (uint16_t)(plen | (deep ? CHECK_LIST_DEEP : 0)));
	memcpy(buf + *len + 4, path, plen);
	*len += 4 + plen;
	return true;
}

int
check_list_decode(const uint8_t *buf, size_t len, uint64_t *token, check_list_fn *each,
    void *arg, char *why, size_t whylen)
{
	size_t at = CHECK_LIST_HEAD;

	if (len < CHECK_LIST_HEAD) {
		snprintf(why, whylen, "a list of %zu bytes, expected at least %d", len,
		    CHECK_LIST_HEAD);
		return -1;
	}
	if ((*token = get64(buf)) == 0) {
		snprintf(why, whylen, "a list with token 0, expected another");
		return -1;
	}
	while (at < len) {
		uint16_t root, lf;
		size_t plen;
		const char *path;

		if (len - at < 4) {
			snprintf(why, whylen, "%zu bytes after the last entry, expected none or an "
			    "entry of at least 4", len - at);
			return -1;
		}
		root = get16(buf + at);
		lf = get16(buf + at + 2);
		plen = lf & ~CHECK_LIST_DEEP;
		path = (const char *)buf + at + 4;
		if (plen > len - at - 4 || plen > OP_PATH_MAX) {
			snprintf(why, whylen, "an entry of %zu path bytes, %zu left", plen,
			    len - at - 4);
			return -1;
		}
		if (plen > 0 && !op_path_valid(path, plen)) {
			snprintf(why, whylen, "an entry whose path breaks the rules of a path");
			return -1;
		}
		if (each(arg, root, path, plen, (lf & CHECK_LIST_DEEP) != 0) != 0) {
			snprintf(why, whylen, "an entry was refused");
			return -1;
		}
		at += 4 + plen;
	}
	return 0;
}

static bool
changed_since(const struct stat *st, const struct timespec *since)
{
	return st->st_ctim.tv_sec > since->tv_sec ||
	    (st->st_ctim.tv_sec == since->tv_sec && st->st_ctim.tv_nsec >= since->tv_nsec);
}

/* List a directory beneath a root for the walk. 0, 1 when gone, -1 with errno. */
static int
recent_list(int rootfd, const char *path, struct names *out)
{
	int fd, rc, saved;

	if ((fd = beneath(rootfd, path, O_RDONLY | O_DIRECTORY)) == -1)
		return errno == ENOENT || errno == ENOTDIR ? 1 : -1;
	rc = read_names(fd, false, out, NULL);
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

int
check_recent(const int *roots, size_t nroots, const struct timespec *since,
    check_list_fn *pick, void *arg, struct check_recent_stats *st, char *why, size_t whylen)
{
	char path[OP_PATH_MAX + 1];
	struct walk w = { 0 };
	struct names names;
	struct stat sb;
	int rc = -1, fd;

	memset(st, 0, sizeof(*st));
	for (size_t r = 0; r < nroots; r++) {
		if (fstat(roots[r], &sb) == -1) {
			snprintf(why, whylen, "root %zu: %s", r, strerror(errno));
			goto out;
		}
		st->entries++;
		if (changed_since(&sb, since)) {
			st->picked++;
			if (pick(arg, (uint16_t)r, "", 0, false) != 0)
				goto refused;
		}
		if (recent_list(roots[r], "", &names) != 0) {
			snprintf(why, whylen, "root %zu: cannot list it: %s", r, strerror(errno));
			goto out;
		}
		walk_push(&w, "", &names);
		for (;;) {
			int next = walk_next(&w, path);

			if (next == WALK_EMPTY)
				break;
			if (next == WALK_DONE)
				continue;
			if ((fd = beneath(roots[r], path, O_PATH)) == -1 || fstat(fd, &sb) == -1) {
				if (fd != -1)
					close(fd);
				if (errno == ENOENT)
					continue;        /* gone under the walk: its parent moved */
				snprintf(why, whylen, "root %zu: %s: %s", r, path, strerror(errno));
				goto out;
			}
			close(fd);
			if (!checked_type(sb.st_mode))
				continue;
			st->entries++;
			if (changed_since(&sb, since)) {
				st->picked++;
				if (pick(arg, (uint16_t)r, path, strlen(path), S_ISDIR(sb.st_mode)) != 0)
					goto refused;
				continue;               /* a directory picked deep covers its tree */
			}
			if (!S_ISDIR(sb.st_mode))
				continue;
			if ((fd = recent_list(roots[r], path, &names)) == 1)
				continue;
			if (fd == -1) {
				snprintf(why, whylen, "root %zu: cannot list %s: %s", r, path,
				    strerror(errno));
				goto out;
			}
			walk_push(&w, path, &names);
		}
	}
	rc = 0;
	goto out;
refused:
	snprintf(why, whylen, "an entry could not be listed");
out:
	walk_free(&w);
	return rc;
}
