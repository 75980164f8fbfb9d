/*
 * lifeline-writer: a verifying random writer for replication scenarios.
 * Threads apply a seeded mix of every mutating file operation to their own
 * subtree (modelled in memory, every result predicted) and to one shared
 * folder (racy, only errno-checked), then check their subtrees against the
 * model. It owns nothing outside DIR and leaves the tree there for a
 * replica comparison (lifeline-treehash).
 */
#include "common/log.h"
#include "common/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#define NDIRS          4                /* slot 0: the thread's root; d1..d3 */
#define NNAMES         8                /* f0..f7 in each folder */
#define NSLOTS         (NDIRS * NNAMES)
#define NKEYS          4                /* user.k0..user.k3 */
#define XVAL_MAX       64
#define TARGET_MAX     48
#define NSHARED        16               /* s0..s15 in DIR/shared */
#define MAX_IO         (256 * 1024)
#define MAX_FILE       (1024 * 1024)    /* bounds the model's memory */
#define MAX_THREADS    64
#define MAX_REPORTS    20               /* mismatches printed per thread */
#define SHARED_ONE_IN  5                /* share of ops done in DIR/shared */
#define ERR_SIGBUS     (-1)             /* pseudo-errno: the mapping faulted */
#define ERR_SIZE       (-2)             /* pseudo-errno: fstat disagrees with the model */
#define DIR_MAX        1024             /* DIR and its tI: paths stay below PATH_MAX */

enum etype { E_NONE, E_FILE, E_SYMLINK };
#define M_NONE    (1u << E_NONE)
#define M_FILE    (1u << E_FILE)
#define M_SYMLINK (1u << E_SYMLINK)
#define M_ANY     (M_NONE | M_FILE | M_SYMLINK)

/* What one regular file of a thread's subtree must hold. */
struct inode {
	bool            used;
	int             nlink;
	unsigned char  *data;
	size_t          size, cap;
	unsigned        xmask;          /* which user.kN exist */
	unsigned char   xval[NKEYS][XVAL_MAX];
	size_t          xlen[NKEYS];
};

struct entry {
	enum etype      type;
	int             ino;            /* E_FILE: index in model.inodes */
	char            target[TARGET_MAX]; /* E_SYMLINK */
};

struct mdir {
	bool            exists;
	struct entry    ents[NNAMES];
};

/* A thread's subtree: its root (always there) and d1..d3 of files. */
struct model {
	struct mdir     dirs[NDIRS];
	struct inode    inodes[NSLOTS];
};

struct opstat {
	uint64_t        ok, expected, unsupported, skipped, unexpected;
};

enum op {
	OP_CREATE, OP_CREATE_EXCL, OP_CREATE_TRUNC, OP_WRITE, OP_READ,
	OP_TRUNCATE, OP_RENAME, OP_EXCHANGE, OP_NOREPLACE, OP_LINK, OP_SYMLINK,
	OP_UNLINK, OP_MKDIR, OP_RMDIR, OP_CHMOD, OP_CHOWN, OP_UTIMENS,
	OP_SETXATTR, OP_RMXATTR, OP_FALLOCATE, OP_PUNCH, OP_FSYNC, OP_FDATASYNC,
	OP_MMAP, OP_COUNT
};

struct ctx {
	const char     *dir;
	uint64_t        seed;
	int             threads;
	uint64_t        ops;            /* 0: no op limit */
	uint64_t        deadline_ms;    /* 0: no time limit */
	FILE           *log;
	bool            root;           /* chown is possible */
	uint32_t        skip;           /* ops left out of the mix (--skip), by bit */
	atomic_int      failures;
};

struct worker {
	int             id;
	struct ctx     *ctx;
	pthread_t       thread;
	uint64_t        rng;
	uint64_t        quota;          /* ops for this thread; 0: until the deadline */
	uint64_t        opno;
	enum op         cur;
	bool            broken;         /* the model no longer matches: stop */
	bool            verifying;      /* reports name the check, not an op */
	char            detail[64];     /* the current op's offsets and sizes */
	int             reports;
	char            root[DIR_MAX + 16];
	char            shared[DIR_MAX + 16];
	unsigned char  *iobuf;          /* MAX_IO bytes */
	unsigned char  *cmpbuf;         /* MAX_IO bytes */
	struct model    m;
	struct opstat   stats[OP_COUNT];
};

struct opdesc {
	const char     *name;
	unsigned        weight;
	void          (*priv)(struct worker *);
	void          (*shared)(struct worker *);   /* NULL: private only */
};

/* ---- randomness: one stream per thread, so a seed replays a thread ---- */

static uint64_t
splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint64_t
rnd(struct worker *w)
{
	w->rng = splitmix64(w->rng);
	return w->rng;
}

/* Uniform enough in [0, n) for a test; n > 0. */
static uint64_t
rnd_below(struct worker *w, uint64_t n)
{
	return rnd(w) % n;
}

static void
fill_random(struct worker *w, unsigned char *buf, size_t len)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = rnd(w);

		memcpy(buf + i, &v, len - i < 8 ? len - i : 8);
	}
}

/*
 * A length from 1 B to MAX_IO, log-uniform so small writes dominate, and an
 * offset at the end (append), inside, or anywhere below MAX_FILE (a hole).
 */
static void
pick_range(struct worker *w, size_t size, size_t *off, size_t *len)
{
	*len = 1 + rnd_below(w, (uint64_t)1 << rnd_below(w, 19));
	switch (rnd_below(w, 4)) {
	case 0:  *off = size; break;
	case 1:  *off = rnd_below(w, MAX_FILE - *len + 1); break;
	default: *off = rnd_below(w, size + 1); break;
	}
	if (*off + *len > MAX_FILE)
		*off = MAX_FILE - *len;
}

/* A range inside a file of size > 0, for reads and mmap writes. */
static void
pick_inside(struct worker *w, size_t size, size_t *off, size_t *len)
{
	*len = 1 + rnd_below(w, (uint64_t)1 << rnd_below(w, 19));
	*off = rnd_below(w, size);
	if (*len > size - *off)
		*len = size - *off;
}

/* ---- the model ---- */

static void
ino_resize(struct inode *in, size_t size)
{
	if (size > in->cap) {
		size_t cap = in->cap ? in->cap : 4096;

		while (cap < size)
			cap *= 2;
		in->data = xrealloc(in->data, cap);
		in->cap = cap;
	}
	if (size > in->size)
		memset(in->data + in->size, 0, size - in->size);
	in->size = size;
}

static void
ino_write(struct inode *in, size_t off, const void *buf, size_t len)
{
	if (off + len > in->size)
		ino_resize(in, off + len);
	memcpy(in->data + off, buf, len);
}

static int
ino_new(struct model *m)
{
	for (int i = 0; i < NSLOTS; i++) {
		if (!m->inodes[i].used) {
			memset(&m->inodes[i], 0, sizeof(m->inodes[i]));
			m->inodes[i].used = true;
			m->inodes[i].nlink = 1;
			return i;
		}
	}
	fatalx("model: no free inode");     /* each one has a name: impossible */
}

/* Drop one name; the file goes when its last name does. */
static void
ent_clear(struct model *m, struct entry *e)
{
	if (e->type == E_FILE && --m->inodes[e->ino].nlink == 0) {
		free(m->inodes[e->ino].data);
		memset(&m->inodes[e->ino], 0, sizeof(m->inodes[e->ino]));
	}
	e->type = E_NONE;
}

static void
ent_move(struct model *m, struct entry *dst, struct entry *src)
{
	ent_clear(m, dst);
	*dst = *src;
	src->type = E_NONE;
}

static struct entry *
ent_at(struct worker *w, int d, int k)
{
	return &w->m.dirs[d].ents[k];
}

static struct inode *
ino_of(struct worker *w, int d, int k)
{
	return &w->m.inodes[ent_at(w, d, k)->ino];
}

static bool
dir_empty(const struct mdir *md)
{
	for (int k = 0; k < NNAMES; k++)
		if (md->ents[k].type != E_NONE)
			return false;
	return true;
}

static void
model_free(struct model *m)
{
	for (int i = 0; i < NSLOTS; i++)
		free(m->inodes[i].data);
}

/* ---- names ---- */

static void
dir_path(struct worker *w, int d, char *buf)
{
	if (d == 0)
		snprintf(buf, PATH_MAX, "%s", w->root);
	else
		snprintf(buf, PATH_MAX, "%s/d%d", w->root, d);
}

static void
ent_path(struct worker *w, int d, int k, char *buf)
{
	if (d == 0)
		snprintf(buf, PATH_MAX, "%s/f%d", w->root, k);
	else
		snprintf(buf, PATH_MAX, "%s/d%d/f%d", w->root, d, k);
}

/*
 * A name slot in an existing folder whose model type is in mask, scanning
 * every slot once from a random start. False when there is none.
 */
static bool
pick(struct worker *w, unsigned mask, int *d, int *k)
{
	unsigned start = (unsigned)rnd_below(w, NSLOTS);

	for (unsigned i = 0; i < NSLOTS; i++) {
		unsigned slot = (start + i) % NSLOTS;
		int dd = (int)(slot / NNAMES), kk = (int)(slot % NNAMES);

		if (w->m.dirs[dd].exists &&
		    (mask & (1u << w->m.dirs[dd].ents[kk].type))) {
			*d = dd;
			*k = kk;
			return true;
		}
	}
	return false;
}

/*
 * Mostly a name of the wanted kind, one time in ten any name, so expected
 * failures (ENOENT, ELOOP, EEXIST) are exercised and checked too.
 */
static bool
pick_mostly(struct worker *w, unsigned mask, int *d, int *k)
{
	if (rnd_below(w, 10) == 0)
		return pick(w, M_ANY, d, k);
	return pick(w, mask, d, k) || pick(w, M_ANY, d, k);
}

/* Like pick, for a file the predicate accepts. */
static bool
pick_file_where(struct worker *w, bool (*accept)(const struct inode *),
    int *d, int *k)
{
	unsigned start = (unsigned)rnd_below(w, NSLOTS);

	for (unsigned i = 0; i < NSLOTS; i++) {
		unsigned slot = (start + i) % NSLOTS;
		int dd = (int)(slot / NNAMES), kk = (int)(slot % NNAMES);

		if (w->m.dirs[dd].exists && ent_at(w, dd, kk)->type == E_FILE &&
		    accept(ino_of(w, dd, kk))) {
			*d = dd;
			*k = kk;
			return true;
		}
	}
	return false;
}

static bool
is_nonempty(const struct inode *in)
{
	return in->size > 0;
}

static bool
has_xattrs(const struct inode *in)
{
	return in->xmask != 0;
}

/* An existing folder of the subtree (the root always exists). */
static int
pick_dir(struct worker *w)
{
	int d = (int)rnd_below(w, NDIRS);

	return w->m.dirs[d].exists ? d : 0;
}

/* ---- results ---- */

static const char *
errname(int e)
{
	const char *s;

	switch (e) {
	case 0:          return "ok";
	case ERR_SIGBUS: return "SIGBUS";
	case ERR_SIZE:   return "SIZE";
	}
	s = strerrorname_np(e);
	return s != NULL ? s : "E?";
}

static const char *
errtext(int e)
{
	switch (e) {
	case 0:          return "success";
	case ERR_SIGBUS: return "bus error writing through the mapping";
	case ERR_SIZE:   return "fstat size differs from the model";
	}
	return strerror(e);
}

static void
log_op(struct worker *w, const char *what, const char *p1, const char *p2,
    int got)
{
	if (w->ctx->log == NULL)
		return;
	fprintf(w->ctx->log, "t%d %" PRIu64 " %s %s%s%s%s%s -> %s\n", w->id,
	    w->opno, what, p1, p2 ? " " : "", p2 ? p2 : "",
	    w->detail[0] ? " " : "", w->detail, errname(got));
}

static void note(struct worker *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Say what the op is about to do beyond its paths, for the log and reports. */
static void
note(struct worker *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->detail, sizeof(w->detail), fmt, ap);
	va_end(ap);
}

static const struct opdesc optable[OP_COUNT];

static void
report(struct worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One line per problem, capped per thread so a cascade stays readable. */
static void
report(struct worker *w, const char *fmt, ...)
{
	char msg[PATH_MAX * 3];
	va_list ap;

	atomic_fetch_add(&w->ctx->failures, 1);
	if (w->reports++ >= MAX_REPORTS)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (w->verifying)
		log_warnx("t%d verify: %s", w->id, msg);
	else
		log_warnx("t%d op %" PRIu64 " %s: %s", w->id, w->opno,
		    optable[w->cur].name, msg);
}

/*
 * Compare what happened (got: 0 or an errno) with what the model predicted
 * (want). A mismatch means the model no longer describes the subtree, so the
 * thread stops there: every later check would only echo this one.
 */
static bool
expect(struct worker *w, int want, int got, const char *p1, const char *p2)
{
	struct opstat *s = &w->stats[w->cur];

	log_op(w, optable[w->cur].name, p1, p2, got);
	if (got == want) {
		if (got == 0)
			s->ok++;
		else
			s->expected++;
		return true;
	}
	s->unexpected++;
	report(w, "%s%s%s%s%s: got %s (%s), expected %s", p1, p2 ? " -> " : "",
	    p2 ? p2 : "", w->detail[0] ? " " : "", w->detail, errname(got),
	    errtext(got), errname(want));
	w->broken = true;
	return false;
}

/* A feature the filesystem lacks: counted, the model left unchanged. */
static bool
unsupported(struct worker *w, int got, int unsup, const char *p1)
{
	if (got != unsup)
		return false;
	log_op(w, optable[w->cur].name, p1, NULL, got);
	w->stats[w->cur].unsupported++;
	return true;
}

/*
 * In the shared folder threads race each other, so a missing or already
 * present name, or a name of the wrong type, is normal. Anything else is a
 * filesystem fault.
 */
static void
shared_result(struct worker *w, int got, const char *p1, const char *p2)
{
	static const int normal[] = {
		ENOENT, EEXIST, ENOTEMPTY, EISDIR, ENOTDIR, ELOOP, ENODATA,
		EOPNOTSUPP, EPERM, EINVAL,
	};
	struct opstat *s = &w->stats[w->cur];

	log_op(w, optable[w->cur].name, p1, p2, got);
	if (got == 0) {
		s->ok++;
		return;
	}
	for (size_t i = 0; i < nitems(normal); i++) {
		if (got == normal[i]) {
			s->expected++;
			return;
		}
	}
	s->unexpected++;
	report(w, "%s%s%s: got %s (%s) in the shared folder", p1,
	    p2 ? " -> " : "", p2 ? p2 : "", errname(got), errtext(got));
}

static void
skipped(struct worker *w)
{
	w->stats[w->cur].skipped++;
}

/* ---- system calls, each returning 0 or the errno ---- */

static int
err_of(int rc)
{
	return rc == -1 ? errno : 0;
}

static int
sys_open(const char *path, int flags, mode_t mode, int *fdp)
{
	*fdp = open(path, flags | O_NOFOLLOW | O_CLOEXEC, mode);
	return *fdp == -1 ? errno : 0;
}

static int
close_keep(int fd, int err)
{
	if (close(fd) == -1 && err == 0)
		err = errno;
	return err;
}

static int
sys_create(const char *path, int flags, mode_t mode)
{
	int fd, err = sys_open(path, O_CREAT | O_WRONLY | flags, mode, &fd);

	return err ? err : close_keep(fd, 0);
}

static int
write_all(int fd, bool append, size_t off, const unsigned char *buf,
    size_t len)
{
	while (len > 0) {
		ssize_t n = append ? write(fd, buf, len)
		    : pwrite(fd, buf, len, (off_t)off);

		if (n <= 0)
			return n == 0 ? EIO : errno;
		buf += n;
		off += (size_t)n;
		len -= (size_t)n;
	}
	return 0;
}

/* pwrite never appends on an O_APPEND descriptor in Linux, so append uses write. */
static int
sys_write(const char *path, bool append, size_t off, const unsigned char *buf,
    size_t len)
{
	int fd, err = sys_open(path, O_WRONLY | (append ? O_APPEND : 0), 0, &fd);

	if (err)
		return err;
	return close_keep(fd, write_all(fd, append, off, buf, len));
}

/* Read up to len bytes at off; *got is what came back before EOF. */
static int
sys_read(const char *path, size_t off, unsigned char *buf, size_t len,
    size_t *got)
{
	int fd, err = sys_open(path, O_RDONLY, 0, &fd);

	*got = 0;
	if (err)
		return err;
	while (*got < len) {
		ssize_t n = pread(fd, buf + *got, len - *got, (off_t)(off + *got));

		if (n == -1) {
			err = errno;
			break;
		}
		if (n == 0)
			break;
		*got += (size_t)n;
	}
	return close_keep(fd, err);
}

/* By path (setattr without a handle) or through a descriptor. */
static int
sys_truncate(const char *path, bool bypath, size_t size)
{
	int fd, err;

	if (bypath)
		return err_of(truncate(path, (off_t)size));
	if ((err = sys_open(path, O_WRONLY, 0, &fd)) != 0)
		return err;
	return close_keep(fd, err_of(ftruncate(fd, (off_t)size)));
}

static int
sys_fallocate(const char *path, int mode, size_t off, size_t len)
{
	int fd, err = sys_open(path, O_WRONLY, 0, &fd);

	if (err)
		return err;
	return close_keep(fd, err_of(fallocate(fd, mode, (off_t)off, (off_t)len)));
}

static int
sys_fsync(const char *path, bool dir, bool datasync)
{
	int fd, err = sys_open(path, O_RDONLY | (dir ? O_DIRECTORY : 0), 0, &fd);

	if (err)
		return err;
	return close_keep(fd, err_of(datasync ? fdatasync(fd) : fsync(fd)));
}

/* Set while a thread touches a mapping: a SIGBUS there becomes an error. */
static _Thread_local sigjmp_buf *bus_env;

static void
on_sigbus(int sig)
{
	if (bus_env != NULL)
		siglongjmp(*bus_env, 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * Copy into the mapping. A filesystem whose idea of the file's size is
 * smaller than the model's faults here; that is reported, not a crash.
 */
static int
copy_to_map(unsigned char *dst, const unsigned char *src, size_t len)
{
	sigjmp_buf env;

	if (sigsetjmp(env, 1) != 0) {
		bus_env = NULL;
		return ERR_SIGBUS;
	}
	bus_env = &env;
	memcpy(dst, src, len);
	bus_env = NULL;
	return 0;
}

/*
 * Write through a shared writable mapping of the pages that hold
 * [off, off+len), then msync, as an application using mmap would. The
 * range lies inside the file (size, checked by fstat first).
 */
static int
sys_mmap_write(const char *path, size_t size, size_t off,
    const unsigned char *buf, size_t len, size_t *seen)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), start = off & ~(pg - 1);
	size_t maplen = off + len - start;
	int fd, err = sys_open(path, O_RDWR, 0, &fd);
	unsigned char *map;
	struct stat st;

	if (err)
		return err;
	if (fstat(fd, &st) == -1)
		return close_keep(fd, errno);
	*seen = (size_t)st.st_size;
	if ((size_t)st.st_size != size)
		return close_keep(fd, ERR_SIZE);
	map = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
	    (off_t)start);
	if (map == MAP_FAILED)
		return close_keep(fd, errno);
	err = copy_to_map(map + (off - start), buf, len);
	if (err == 0)
		err = err_of(msync(map, maplen, MS_SYNC));
	if (munmap(map, maplen) == -1 && err == 0)
		err = errno;
	return close_keep(fd, err);
}

/* ---- private operations: predict, do, compare, then update the model ---- */

static const mode_t file_modes[] = { 0600, 0640, 0644, 0660, 0664, 0700, 0755 };
static const mode_t dir_modes[] = { 0700, 0750, 0755, 0775 };
static const unsigned ids[] = { 0, 1000, 1001, 65534 };

static void
do_create(struct worker *w, int flags)
{
	char p[PATH_MAX];
	int d, k, want, got;
	struct entry *e;

	if (!(rnd_below(w, 10) < 7 ? pick(w, M_NONE, &d, &k) ||
	    pick(w, M_ANY, &d, &k) : pick(w, M_ANY, &d, &k))) {
		skipped(w);
		return;
	}
	e = ent_at(w, d, k);
	if (e->type == E_NONE)
		want = 0;
	else if (flags & O_EXCL)
		want = EEXIST;
	else
		want = e->type == E_SYMLINK ? ELOOP : 0;
	ent_path(w, d, k, p);
	got = sys_create(p, flags, file_modes[rnd_below(w, nitems(file_modes))]);
	if (!expect(w, want, got, p, NULL) || want != 0)
		return;
	if (e->type == E_NONE) {
		e->type = E_FILE;
		e->ino = ino_new(&w->m);
	} else if (flags & O_TRUNC)
		ino_resize(ino_of(w, d, k), 0);
}

static void op_create(struct worker *w)       { do_create(w, 0); }
static void op_create_excl(struct worker *w)  { do_create(w, O_EXCL); }
static void op_create_trunc(struct worker *w) { do_create(w, O_TRUNC); }

/* The errno opening an existing name (O_NOFOLLOW, no O_CREAT) must give. */
static int
open_want(const struct entry *e)
{
	switch (e->type) {
	case E_FILE:    return 0;
	case E_SYMLINK: return ELOOP;
	default:        return ENOENT;
	}
}

static void
op_write(struct worker *w)
{
	char p[PATH_MAX];
	int d, k, want;
	size_t off, len, size;
	bool append = rnd_below(w, 8) == 0;

	if (!pick_mostly(w, M_FILE, &d, &k)) {
		skipped(w);
		return;
	}
	want = open_want(ent_at(w, d, k));
	size = want == 0 ? ino_of(w, d, k)->size : 0;
	pick_range(w, size, &off, &len);
	if (append && size + len <= MAX_FILE)
		off = size;
	else
		append = false;
	note(w, "%s%zu+%zu", append ? "append@" : "@", off, len);
	fill_random(w, w->iobuf, len);
	ent_path(w, d, k, p);
	if (expect(w, want, sys_write(p, append, off, w->iobuf, len), p, NULL) &&
	    want == 0)
		ino_write(ino_of(w, d, k), off, w->iobuf, len);
}

/* Read a range back during the run: a stale page shows up near its cause. */
static void
op_read(struct worker *w)
{
	char p[PATH_MAX];
	int d, k;
	size_t off, len, got;
	struct inode *in;

	if (!pick_file_where(w, is_nonempty, &d, &k)) {
		skipped(w);
		return;
	}
	in = ino_of(w, d, k);
	pick_inside(w, in->size, &off, &len);
	note(w, "@%zu+%zu", off, len);
	ent_path(w, d, k, p);
	if (!expect(w, 0, sys_read(p, off, w->iobuf, len, &got), p, NULL))
		return;
	if (got != len || memcmp(w->iobuf, in->data + off, len) != 0) {
		report(w, "%s: bytes %zu..%zu read back differ from what was"
		    " written (%zu of %zu read)", p, off, off + len, got, len);
		w->broken = true;
	}
}

static void
op_truncate(struct worker *w)
{
	char p[PATH_MAX];
	int d, k, want;
	size_t size = 0;
	bool bypath;
	struct entry *e;

	if (!pick_mostly(w, M_FILE, &d, &k)) {
		skipped(w);
		return;
	}
	e = ent_at(w, d, k);
	want = open_want(e);
	if (want == 0)
		size = ino_of(w, d, k)->size;
	size = rnd_below(w, 2) ? rnd_below(w, size + 1)
	    : size + rnd_below(w, MAX_IO);
	if (size > MAX_FILE)
		size = MAX_FILE;
	/* truncate(2) would follow a symlink: only by path when there is none */
	bypath = e->type != E_SYMLINK && rnd_below(w, 2);
	note(w, "%s%zu", bypath ? "path:" : "fd:", size);
	ent_path(w, d, k, p);
	if (expect(w, want, sys_truncate(p, bypath, size), p, NULL) && want == 0)
		ino_resize(ino_of(w, d, k), size);
}

/* The model side of a successful renameat2 of two names. */
static void
apply_rename(struct worker *w, struct entry *src, struct entry *dst,
    unsigned flags)
{
	if (flags & RENAME_EXCHANGE) {
		struct entry t = *src;

		*src = *dst;
		*dst = t;
	} else if (src == dst) {
		return;
	} else if (src->type == E_FILE && dst->type == E_FILE &&
	    src->ino == dst->ino) {
		return;     /* two links to one file: POSIX leaves both names */
	} else
		ent_move(&w->m, dst, src);
}

static int
rename_want(const struct entry *src, const struct entry *dst, unsigned flags)
{
	if (src->type == E_NONE)
		return ENOENT;
	if ((flags & RENAME_EXCHANGE) && dst->type == E_NONE)
		return ENOENT;
	if ((flags & RENAME_NOREPLACE) && dst->type != E_NONE)
		return EEXIST;
	return 0;
}

/* Targets that make the rename succeed most often; pick_mostly adds the rest. */
static unsigned
rename_dst_mask(unsigned flags)
{
	if (flags & RENAME_EXCHANGE)
		return M_FILE | M_SYMLINK;
	if (flags & RENAME_NOREPLACE)
		return M_NONE;
	return M_ANY;
}

static void
rename_names(struct worker *w, unsigned flags)
{
	char p1[PATH_MAX], p2[PATH_MAX];
	int sd, sk, dd, dk, want, got;
	struct entry *src, *dst;

	if (!pick_mostly(w, M_FILE | M_SYMLINK, &sd, &sk) ||
	    !pick_mostly(w, rename_dst_mask(flags), &dd, &dk)) {
		skipped(w);
		return;
	}
	if ((flags & RENAME_EXCHANGE) && sd == dd && sk == dk)
		dk = (dk + 1) % NNAMES;
	src = ent_at(w, sd, sk);
	dst = ent_at(w, dd, dk);
	want = rename_want(src, dst, flags);
	ent_path(w, sd, sk, p1);
	ent_path(w, dd, dk, p2);
	got = err_of(renameat2(AT_FDCWD, p1, AT_FDCWD, p2, flags));
	if (flags && want == 0 && unsupported(w, got, EINVAL, p1))
		return;
	if (expect(w, want, got, p1, p2) && want == 0)
		apply_rename(w, src, dst, flags);
}

static int
rename_dir_want(const struct mdir *s, const struct mdir *t, bool same,
    unsigned flags)
{
	if (!s->exists || ((flags & RENAME_EXCHANGE) && !t->exists))
		return ENOENT;
	if ((flags & RENAME_NOREPLACE) && t->exists)
		return EEXIST;
	if (!same && t->exists && !(flags & RENAME_EXCHANGE) && !dir_empty(t))
		return ENOTEMPTY;
	return 0;
}

/* Folders move with everything in them: the capture's path bookkeeping. */
static void
rename_dirs(struct worker *w, unsigned flags)
{
	char p1[PATH_MAX], p2[PATH_MAX];
	int s = 1 + (int)rnd_below(w, NDIRS - 1), t = 1 + (int)rnd_below(w, NDIRS - 1);
	int want, got;
	struct mdir *ms, *mt;

	if ((flags & RENAME_EXCHANGE) && s == t)
		t = 1 + t % (NDIRS - 1);
	ms = &w->m.dirs[s];
	mt = &w->m.dirs[t];
	want = rename_dir_want(ms, mt, s == t, flags);
	dir_path(w, s, p1);
	dir_path(w, t, p2);
	got = err_of(renameat2(AT_FDCWD, p1, AT_FDCWD, p2, flags));
	if (flags && want == 0 && unsupported(w, got, EINVAL, p1))
		return;
	if (want == ENOTEMPTY && got == EEXIST)
		got = ENOTEMPTY;        /* POSIX allows either */
	if (!expect(w, want, got, p1, p2) || want != 0 || s == t)
		return;
	if (flags & RENAME_EXCHANGE) {
		struct mdir tmp = *ms;

		*ms = *mt;
		*mt = tmp;
	} else {
		*mt = *ms;
		memset(ms, 0, sizeof(*ms));
	}
}

static void
do_rename(struct worker *w, unsigned flags)
{
	if (rnd_below(w, 4) == 0)
		rename_dirs(w, flags);
	else
		rename_names(w, flags);
}

static void op_rename(struct worker *w)    { do_rename(w, 0); }
static void op_exchange(struct worker *w)  { do_rename(w, RENAME_EXCHANGE); }
static void op_noreplace(struct worker *w) { do_rename(w, RENAME_NOREPLACE); }

/* Hard links to files only: a linked symlink would need inode identity too. */
static void
op_link(struct worker *w)
{
	char p1[PATH_MAX], p2[PATH_MAX];
	int sd, sk, dd, dk, want;
	struct entry *src, *dst;

	if ((!pick(w, M_FILE, &sd, &sk) && !pick(w, M_NONE, &sd, &sk)) ||
	    !pick_mostly(w, M_NONE, &dd, &dk)) {
		skipped(w);
		return;
	}
	src = ent_at(w, sd, sk);
	dst = ent_at(w, dd, dk);
	want = src->type == E_NONE ? ENOENT : dst->type != E_NONE ? EEXIST : 0;
	ent_path(w, sd, sk, p1);
	ent_path(w, dd, dk, p2);
	if (!expect(w, want, err_of(link(p1, p2)), p1, p2) || want != 0)
		return;
	*dst = *src;
	w->m.inodes[src->ino].nlink++;
}

/* A target inside the subtree, one going up a level, or a dangling one. */
static void
symlink_target(struct worker *w, char *buf, size_t size)
{
	int j = 1 + (int)rnd_below(w, NDIRS - 1), k = (int)rnd_below(w, NNAMES);

	switch (rnd_below(w, 4)) {
	case 0:  snprintf(buf, size, "f%d", k); break;
	case 1:  snprintf(buf, size, "../d%d/f%d", j, k); break;
	case 2:  snprintf(buf, size, "d%d", j); break;
	default: snprintf(buf, size, "/nonexistent/%d", k); break;
	}
}

static void
op_symlink(struct worker *w)
{
	char p[PATH_MAX], target[TARGET_MAX];
	int d, k, want;
	struct entry *e;

	if (!pick_mostly(w, M_NONE, &d, &k)) {
		skipped(w);
		return;
	}
	e = ent_at(w, d, k);
	symlink_target(w, target, sizeof(target));
	want = e->type != E_NONE ? EEXIST : 0;
	ent_path(w, d, k, p);
	if (!expect(w, want, err_of(symlink(target, p)), p, target) || want != 0)
		return;
	e->type = E_SYMLINK;
	memcpy(e->target, target, sizeof(target));
}

static void
op_unlink(struct worker *w)
{
	char p[PATH_MAX];
	int d, k;
	struct entry *e;

	if (!pick_mostly(w, M_FILE | M_SYMLINK, &d, &k)) {
		skipped(w);
		return;
	}
	e = ent_at(w, d, k);
	ent_path(w, d, k, p);
	if (expect(w, e->type == E_NONE ? ENOENT : 0, err_of(unlink(p)), p, NULL) &&
	    e->type != E_NONE)
		ent_clear(&w->m, e);
}

enum dirwant { DW_MISSING, DW_EMPTY };

/*
 * d1..d3: mostly one where mkdir or rmdir will succeed, when there is one,
 * otherwise any (EEXIST, ENOENT, ENOTEMPTY are checked too).
 */
static int
pick_subdir(struct worker *w, enum dirwant want)
{
	int start = (int)rnd_below(w, NDIRS - 1);

	if (rnd_below(w, 4) == 0)
		return 1 + start;
	for (int i = 0; i < NDIRS - 1; i++) {
		int d = 1 + (start + i) % (NDIRS - 1);
		const struct mdir *md = &w->m.dirs[d];

		if (want == DW_MISSING ? !md->exists : md->exists && dir_empty(md))
			return d;
	}
	return 1 + start;
}

static void
op_mkdir(struct worker *w)
{
	char p[PATH_MAX];
	int d = pick_subdir(w, DW_MISSING);
	struct mdir *md = &w->m.dirs[d];
	mode_t mode = dir_modes[rnd_below(w, nitems(dir_modes))];

	dir_path(w, d, p);
	if (expect(w, md->exists ? EEXIST : 0, err_of(mkdir(p, mode)), p, NULL) &&
	    !md->exists) {
		memset(md, 0, sizeof(*md));
		md->exists = true;
	}
}

/*
 * Folders rarely empty by chance, so half the time rmdir first unlinks what
 * its folder holds, each unlink checked and counted as one.
 */
static void
empty_dir(struct worker *w, int d)
{
	char p[PATH_MAX];
	enum op saved = w->cur;

	w->cur = OP_UNLINK;
	for (int k = 0; k < NNAMES && !w->broken; k++) {
		struct entry *e = ent_at(w, d, k);

		if (e->type == E_NONE)
			continue;
		ent_path(w, d, k, p);
		if (expect(w, 0, err_of(unlink(p)), p, NULL))
			ent_clear(&w->m, e);
	}
	w->cur = saved;
}

static void
op_rmdir(struct worker *w)
{
	char p[PATH_MAX];
	int d = pick_subdir(w, DW_EMPTY), want;
	struct mdir *md = &w->m.dirs[d];

	if (md->exists && rnd_below(w, 2) == 0)
		empty_dir(w, d);
	if (w->broken)
		return;
	want = !md->exists ? ENOENT : !dir_empty(md) ? ENOTEMPTY : 0;
	dir_path(w, d, p);
	if (expect(w, want, err_of(rmdir(p)), p, NULL) && want == 0)
		md->exists = false;
}

/* chmod follows symlinks, so it is given a file or a folder only. */
static void
op_chmod(struct worker *w)
{
	char p[PATH_MAX];
	int d, k;
	mode_t mode;

	if (rnd_below(w, 4) == 0 || !pick(w, M_FILE, &d, &k)) {
		dir_path(w, pick_dir(w), p);
		mode = dir_modes[rnd_below(w, nitems(dir_modes))];
	} else {
		ent_path(w, d, k, p);
		mode = file_modes[rnd_below(w, nitems(file_modes))];
	}
	expect(w, 0, err_of(chmod(p, mode)), p, NULL);
}

/* Any name or folder, not following symlinks. */
static void
pick_any_path(struct worker *w, char *p)
{
	int d, k;

	if (rnd_below(w, 4) == 0 || !pick(w, M_FILE | M_SYMLINK, &d, &k))
		dir_path(w, pick_dir(w), p);
	else
		ent_path(w, d, k, p);
}

/* Without root chown fails by design; the op then changes a mode instead. */
static void
op_chown(struct worker *w)
{
	char p[PATH_MAX];
	uid_t uid = ids[rnd_below(w, nitems(ids))];
	gid_t gid = ids[rnd_below(w, nitems(ids))];

	if (!w->ctx->root) {
		op_chmod(w);
		return;
	}
	pick_any_path(w, p);
	expect(w, 0, err_of(fchownat(AT_FDCWD, p, uid, gid, AT_SYMLINK_NOFOLLOW)),
	    p, NULL);
}

static void
random_times(struct worker *w, struct timespec ts[2])
{
	for (int i = 0; i < 2; i++) {
		switch (rnd_below(w, 6)) {
		case 0:  ts[i].tv_nsec = UTIME_NOW; break;
		case 1:  ts[i].tv_nsec = UTIME_OMIT; break;
		default:
			ts[i].tv_sec = 1000000000 + (time_t)rnd_below(w, 1000000000);
			ts[i].tv_nsec = (long)rnd_below(w, 1000000000);
			break;
		}
	}
}

static void
op_utimens(struct worker *w)
{
	char p[PATH_MAX];
	struct timespec ts[2];

	pick_any_path(w, p);
	random_times(w, ts);
	expect(w, 0, err_of(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW)), p,
	    NULL);
}

/* user.* xattrs exist on files and folders only: a symlink gives EPERM. */
static int
xattr_want(const struct entry *e, const struct inode *in, int key, int flags)
{
	bool has;

	if (e->type == E_NONE)
		return ENOENT;
	if (e->type == E_SYMLINK)
		return EPERM;
	has = in->xmask & (1u << key);
	if ((flags & XATTR_CREATE) && has)
		return EEXIST;
	if ((flags & XATTR_REPLACE) && !has)
		return ENODATA;
	return 0;
}

static void
op_setxattr(struct worker *w)
{
	static const int flagset[] = { 0, 0, XATTR_CREATE, XATTR_REPLACE };
	char p[PATH_MAX], name[16];
	unsigned char val[XVAL_MAX];
	int d, k, key = (int)rnd_below(w, NKEYS), want, got;
	int flags = flagset[rnd_below(w, nitems(flagset))];
	size_t len = 1 + rnd_below(w, XVAL_MAX);
	struct entry *e;
	struct inode *in;

	if (!pick_mostly(w, M_FILE, &d, &k)) {
		skipped(w);
		return;
	}
	e = ent_at(w, d, k);
	in = e->type == E_FILE ? ino_of(w, d, k) : NULL;
	want = xattr_want(e, in, key, flags);
	fill_random(w, val, len);
	snprintf(name, sizeof(name), "user.k%d", key);
	ent_path(w, d, k, p);
	got = err_of(lsetxattr(p, name, val, len, flags));
	if (in != NULL && unsupported(w, got, EOPNOTSUPP, p))
		return;
	if (!expect(w, want, got, p, name) || want != 0)
		return;
	in->xmask |= 1u << key;
	memcpy(in->xval[key], val, len);
	in->xlen[key] = len;
}

static void
op_rmxattr(struct worker *w)
{
	char p[PATH_MAX], name[16];
	int d, k, key = (int)rnd_below(w, NKEYS), want, got;
	struct entry *e;
	struct inode *in;

	if (!pick_file_where(w, has_xattrs, &d, &k) && !pick(w, M_FILE, &d, &k) &&
	    !pick(w, M_NONE, &d, &k)) {
		skipped(w);
		return;
	}
	e = ent_at(w, d, k);
	in = e->type == E_FILE ? ino_of(w, d, k) : NULL;
	if (in != NULL && in->xmask != 0 && rnd_below(w, 4) != 0)
		while (!(in->xmask & (1u << key)))  /* ends: a bit is set */
			key = (key + 1) % NKEYS;
	want = xattr_want(e, in, key, XATTR_REPLACE);
	snprintf(name, sizeof(name), "user.k%d", key);
	ent_path(w, d, k, p);
	got = err_of(lremovexattr(p, name));
	if (in != NULL && unsupported(w, got, EOPNOTSUPP, p))
		return;
	if (expect(w, want, got, p, name) && want == 0)
		in->xmask &= ~(1u << key);
}

/* The model side of fallocate: allocation may extend, a punched hole reads zeros. */
static void
apply_fallocate(struct inode *in, int mode, size_t off, size_t len)
{
	if (mode & FALLOC_FL_PUNCH_HOLE) {
		if (off < in->size)
			memset(in->data + off, 0,
			    off + len > in->size ? in->size - off : len);
	} else if (!(mode & FALLOC_FL_KEEP_SIZE) && off + len > in->size)
		ino_resize(in, off + len);
}

static void
do_fallocate(struct worker *w, int mode)
{
	char p[PATH_MAX];
	int d, k, want, got;
	size_t off, len;

	if (!pick_mostly(w, M_FILE, &d, &k)) {
		skipped(w);
		return;
	}
	want = open_want(ent_at(w, d, k));
	pick_range(w, want == 0 ? ino_of(w, d, k)->size : 0, &off, &len);
	note(w, "mode%d@%zu+%zu", mode, off, len);
	ent_path(w, d, k, p);
	got = sys_fallocate(p, mode, off, len);
	if (want == 0 && unsupported(w, got, EOPNOTSUPP, p))
		return;
	if (expect(w, want, got, p, NULL) && want == 0)
		apply_fallocate(ino_of(w, d, k), mode, off, len);
}

static void
op_fallocate(struct worker *w)
{
	do_fallocate(w, rnd_below(w, 2) ? 0 : FALLOC_FL_KEEP_SIZE);
}

static void
op_punch(struct worker *w)
{
	do_fallocate(w, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE);
}

static void
do_fsync(struct worker *w, bool datasync)
{
	char p[PATH_MAX];
	int d, k;

	if (rnd_below(w, 4) == 0 || !pick_mostly(w, M_FILE, &d, &k)) {
		dir_path(w, pick_dir(w), p);
		expect(w, 0, sys_fsync(p, true, datasync), p, NULL);
		return;
	}
	ent_path(w, d, k, p);
	expect(w, open_want(ent_at(w, d, k)), sys_fsync(p, false, datasync), p,
	    NULL);
}

static void op_fsync(struct worker *w)     { do_fsync(w, false); }
static void op_fdatasync(struct worker *w) { do_fsync(w, true); }

static void
op_mmap(struct worker *w)
{
	char p[PATH_MAX];
	int d, k, got;
	size_t off, len, seen = 0;

	if (!pick_file_where(w, is_nonempty, &d, &k)) {
		skipped(w);
		return;
	}
	pick_inside(w, ino_of(w, d, k)->size, &off, &len);
	note(w, "@%zu+%zu", off, len);
	fill_random(w, w->iobuf, len);
	ent_path(w, d, k, p);
	got = sys_mmap_write(p, ino_of(w, d, k)->size, off, w->iobuf, len, &seen);
	if (got == ERR_SIZE)
		note(w, "@%zu+%zu fstat %zu model %zu", off, len, seen,
		    ino_of(w, d, k)->size);
	if (expect(w, 0, got, p, NULL))
		ino_write(ino_of(w, d, k), off, w->iobuf, len);
}

/* ---- shared-folder operations: racy on purpose, only errno-checked ---- */

static void
shared_name(struct worker *w, char *buf)
{
	snprintf(buf, PATH_MAX, "%s/s%d", w->shared, (int)rnd_below(w, NSHARED));
}

static void
sh_create(struct worker *w)
{
	static const int flagset[] = { 0, O_EXCL, O_TRUNC };
	char p[PATH_MAX];

	shared_name(w, p);
	shared_result(w, sys_create(p, flagset[rnd_below(w, nitems(flagset))],
	    0644), p, NULL);
}

static void
sh_write(struct worker *w)
{
	char p[PATH_MAX];
	size_t off, len;

	shared_name(w, p);
	pick_range(w, 0, &off, &len);
	fill_random(w, w->iobuf, len);
	shared_result(w, sys_write(p, false, off, w->iobuf, len), p, NULL);
}

static void
sh_truncate(struct worker *w)
{
	char p[PATH_MAX];

	shared_name(w, p);
	shared_result(w, sys_truncate(p, false, rnd_below(w, MAX_IO)), p, NULL);
}

static void
sh_rename(struct worker *w)
{
	static const unsigned flagset[] = { 0, 0, RENAME_EXCHANGE, RENAME_NOREPLACE };
	char p1[PATH_MAX], p2[PATH_MAX];
	unsigned flags = flagset[rnd_below(w, nitems(flagset))];

	shared_name(w, p1);
	shared_name(w, p2);
	shared_result(w, err_of(renameat2(AT_FDCWD, p1, AT_FDCWD, p2, flags)),
	    p1, p2);
}

static void
sh_link(struct worker *w)
{
	char p1[PATH_MAX], p2[PATH_MAX];

	shared_name(w, p1);
	shared_name(w, p2);
	shared_result(w, err_of(link(p1, p2)), p1, p2);
}

static void
sh_symlink(struct worker *w)
{
	char p[PATH_MAX], target[TARGET_MAX];

	shared_name(w, p);
	snprintf(target, sizeof(target), "s%d", (int)rnd_below(w, NSHARED));
	shared_result(w, err_of(symlink(target, p)), p, target);
}

static void
sh_unlink(struct worker *w)
{
	char p[PATH_MAX];

	shared_name(w, p);
	shared_result(w, err_of(unlink(p)), p, NULL);
}

static void
sh_mkdir(struct worker *w)
{
	char p[PATH_MAX];

	shared_name(w, p);
	shared_result(w, err_of(mkdir(p, 0755)), p, NULL);
}

static void
sh_rmdir(struct worker *w)
{
	char p[PATH_MAX];

	shared_name(w, p);
	shared_result(w, err_of(rmdir(p)), p, NULL);
}

/* A symlink's target is a name in the shared folder, so following it is fine. */
static void
sh_chmod(struct worker *w)
{
	char p[PATH_MAX];

	shared_name(w, p);
	shared_result(w, err_of(chmod(p, file_modes[rnd_below(w,
	    nitems(file_modes))])), p, NULL);
}

static void
sh_setxattr(struct worker *w)
{
	char p[PATH_MAX], name[16];
	unsigned char val[XVAL_MAX];
	size_t len = 1 + rnd_below(w, XVAL_MAX);

	shared_name(w, p);
	snprintf(name, sizeof(name), "user.k%d", (int)rnd_below(w, NKEYS));
	fill_random(w, val, len);
	shared_result(w, err_of(lsetxattr(p, name, val, len, 0)), p, name);
}

static void
sh_rmxattr(struct worker *w)
{
	char p[PATH_MAX], name[16];

	shared_name(w, p);
	snprintf(name, sizeof(name), "user.k%d", (int)rnd_below(w, NKEYS));
	shared_result(w, err_of(lremovexattr(p, name)), p, name);
}

static void
sh_utimens(struct worker *w)
{
	char p[PATH_MAX];
	struct timespec ts[2];

	shared_name(w, p);
	random_times(w, ts);
	shared_result(w, err_of(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW)),
	    p, NULL);
}

static void
sh_fsync(struct worker *w)
{
	char p[PATH_MAX];

	shared_name(w, p);
	shared_result(w, sys_fsync(p, false, false), p, NULL);
}

/* The mix: weights are relative; writes dominate as they do in real use. */
static const struct opdesc optable[OP_COUNT] = {
	[OP_CREATE]       = { "create",       6, op_create,       sh_create },
	[OP_CREATE_EXCL]  = { "create-excl",  3, op_create_excl,  sh_create },
	[OP_CREATE_TRUNC] = { "create-trunc", 3, op_create_trunc, sh_create },
	[OP_WRITE]        = { "write",       20, op_write,        sh_write },
	[OP_READ]         = { "read",         6, op_read,         NULL },
	[OP_TRUNCATE]     = { "truncate",     6, op_truncate,     sh_truncate },
	[OP_RENAME]       = { "rename",       6, op_rename,       sh_rename },
	[OP_EXCHANGE]     = { "rename-exch",  3, op_exchange,     sh_rename },
	[OP_NOREPLACE]    = { "rename-norepl", 3, op_noreplace,   sh_rename },
	[OP_LINK]         = { "link",         3, op_link,         sh_link },
	[OP_SYMLINK]      = { "symlink",      3, op_symlink,      sh_symlink },
	[OP_UNLINK]       = { "unlink",       5, op_unlink,       sh_unlink },
	[OP_MKDIR]        = { "mkdir",        2, op_mkdir,        sh_mkdir },
	[OP_RMDIR]        = { "rmdir",        2, op_rmdir,        sh_rmdir },
	[OP_CHMOD]        = { "chmod",        3, op_chmod,        sh_chmod },
	[OP_CHOWN]        = { "chown",        2, op_chown,        NULL },
	[OP_UTIMENS]      = { "utimens",      3, op_utimens,      sh_utimens },
	[OP_SETXATTR]     = { "setxattr",     4, op_setxattr,     sh_setxattr },
	[OP_RMXATTR]      = { "removexattr",  2, op_rmxattr,      sh_rmxattr },
	[OP_FALLOCATE]    = { "fallocate",    3, op_fallocate,    NULL },
	[OP_PUNCH]        = { "punch-hole",   3, op_punch,        NULL },
	[OP_FSYNC]        = { "fsync",        3, op_fsync,        sh_fsync },
	[OP_FDATASYNC]    = { "fdatasync",    2, op_fdatasync,    NULL },
	[OP_MMAP]         = { "mmap-write",   5, op_mmap,         NULL },
};

static unsigned
weight_of(const struct ctx *c, int op)
{
	return (c->skip & (1u << op)) ? 0 : optable[op].weight;
}

static enum op
choose_op(struct worker *w)
{
	unsigned total = 0, r;

	for (int i = 0; i < OP_COUNT; i++)
		total += weight_of(w->ctx, i);
	r = (unsigned)rnd_below(w, total);
	for (int i = 0; i < OP_COUNT; i++) {
		if (r < weight_of(w->ctx, i))
			return (enum op)i;
		r -= weight_of(w->ctx, i);
	}
	return OP_WRITE;
}

static bool
time_is_up(const struct ctx *c)
{
	return c->deadline_ms != 0 && now_mono_ms() >= c->deadline_ms;
}

/* One thread: ops until its share of --ops is done, time is up, or its model breaks. */
static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	for (w->opno = 0; !w->broken; w->opno++) {
		const struct opdesc *od;

		if (w->quota != 0 && w->opno >= w->quota)
			break;
		if (time_is_up(w->ctx))
			break;
		w->cur = choose_op(w);
		w->detail[0] = '\0';
		od = &optable[w->cur];
		if (od->shared != NULL && rnd_below(w, SHARED_ONE_IN) == 0)
			od->shared(w);
		else
			od->priv(w);
	}
	return NULL;
}

/* ---- verification at the end ---- */

/* Is name one the model says folder d holds? Names are fN and, in the root, dN. */
static bool
name_expected(struct worker *w, int d, const char *name)
{
	int n = name[1] - '0';

	if (name[0] == '\0' || name[1] == '\0' || name[2] != '\0')
		return false;
	if (name[0] == 'f' && n >= 0 && n < NNAMES)
		return ent_at(w, d, n)->type != E_NONE;
	if (name[0] == 'd' && d == 0 && n >= 1 && n < NDIRS)
		return w->m.dirs[n].exists;
	return false;
}

static int
expected_names(struct worker *w, int d)
{
	int n = 0;

	for (int k = 0; k < NNAMES; k++)
		n += ent_at(w, d, k)->type != E_NONE;
	if (d == 0)
		for (int j = 1; j < NDIRS; j++)
			n += w->m.dirs[j].exists;
	return n;
}

/* The folder holds exactly the names the model has: no more, no fewer. */
static void
verify_names(struct worker *w, int d)
{
	char p[PATH_MAX];
	DIR *dir;
	struct dirent *de;
	int seen = 0;

	dir_path(w, d, p);
	if ((dir = opendir(p)) == NULL) {
		report(w, "opendir %s: %s", p, strerror(errno));
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (name_expected(w, d, de->d_name))
			seen++;
		else
			report(w, "%s/%s: present, the model has no such name", p,
			    de->d_name);
	}
	closedir(dir);
	if (seen != expected_names(w, d))
		report(w, "%s: %d expected names found, the model has %d", p,
		    seen, expected_names(w, d));
}

/* Read the whole file back and compare it with the model. */
static void
verify_content(struct worker *w, const char *p, const struct inode *in)
{
	size_t off = 0, got;

	for (; off < in->size; off += MAX_IO) {
		size_t len = in->size - off < MAX_IO ? in->size - off : MAX_IO;
		int err = sys_read(p, off, w->cmpbuf, len, &got);

		if (err != 0) {
			report(w, "%s: read: %s", p, strerror(err));
			return;
		}
		if (got != len || memcmp(w->cmpbuf, in->data + off, len) != 0) {
			report(w, "%s: content differs in bytes %zu..%zu", p, off,
			    off + len);
			return;
		}
	}
}

static void
verify_xattrs(struct worker *w, const char *p, const struct inode *in)
{
	unsigned char val[XVAL_MAX + 1];
	char name[16];

	for (int key = 0; key < NKEYS; key++) {
		ssize_t n;
		bool has = in->xmask & (1u << key);

		snprintf(name, sizeof(name), "user.k%d", key);
		n = lgetxattr(p, name, val, sizeof(val));
		if (n == -1 && !has && (errno == ENODATA || errno == EOPNOTSUPP))
			continue;
		if (n == -1 || !has || (size_t)n != in->xlen[key] ||
		    memcmp(val, in->xval[key], (size_t)n) != 0)
			report(w, "%s: xattr %s differs from the model (%s)", p,
			    name, n == -1 ? strerror(errno) : has ? "value" :
			    "should be absent");
	}
}

static void
verify_file(struct worker *w, const char *p, const struct inode *in,
    const struct stat *st)
{
	if ((size_t)st->st_size != in->size)
		report(w, "%s: size %lld, the model has %zu", p,
		    (long long)st->st_size, in->size);
	else
		verify_content(w, p, in);
	if (st->st_nlink != (nlink_t)in->nlink)
		report(w, "%s: %lu links, the model has %d", p,
		    (unsigned long)st->st_nlink, in->nlink);
	verify_xattrs(w, p, in);
}

static void
verify_entry(struct worker *w, int d, int k)
{
	const struct entry *e = ent_at(w, d, k);
	char p[PATH_MAX], target[TARGET_MAX + 1];
	struct stat st;
	ssize_t n;

	ent_path(w, d, k, p);
	if (lstat(p, &st) == -1) {
		report(w, "%s: %s", p, strerror(errno));
		return;
	}
	if (e->type == E_FILE && S_ISREG(st.st_mode))
		verify_file(w, p, ino_of(w, d, k), &st);
	else if (e->type == E_SYMLINK && S_ISLNK(st.st_mode)) {
		n = readlink(p, target, sizeof(target) - 1);
		target[n < 0 ? 0 : n] = '\0';
		if (n < 0 || strcmp(target, e->target) != 0)
			report(w, "%s: symlink to '%s', the model has '%s'", p,
			    target, e->target);
	} else
		report(w, "%s: mode %o, the model has a %s", p,
		    (unsigned)st.st_mode, e->type == E_FILE ? "file" : "symlink");
}

/* After every thread stopped: the subtree reads back as the model says. */
static void
verify_worker(struct worker *w)
{
	int before = w->reports;

	w->verifying = true;
	w->detail[0] = '\0';
	for (int d = 0; d < NDIRS; d++) {
		if (!w->m.dirs[d].exists)
			continue;
		verify_names(w, d);
		for (int k = 0; k < NNAMES; k++)
			if (ent_at(w, d, k)->type != E_NONE)
				verify_entry(w, d, k);
	}
	if (w->reports != before)
		w->broken = true;
}

/* ---- main ---- */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: lifeline-writer DIR (--seconds N | --ops N) [--threads T]\n"
	    "                       [--seed S] [--log FILE] [--skip OP]...\n"
	    "\n"
	    "T threads (default 4) apply a random mix of file operations, seeded\n"
	    "by S (default 1), each to its own subtree DIR/tI (which must not\n"
	    "exist yet) and sometimes to DIR/shared, until N seconds have passed\n"
	    "or N operations were done in all. Each thread predicts every result\n"
	    "in its subtree from an in-memory model and at the end reads the\n"
	    "subtree back against it (names, types, sizes, contents, link counts,\n"
	    "symlink targets, user xattrs). The tree is left in place.\n"
	    "  --log FILE   one line per operation: thread, number, op, paths, result\n"
	    "  --skip OP    leave an operation out of the mix (its name in the table)\n"
	    "Prints a table of operations per type; exit 0, or 1 when an\n"
	    "operation gave an unexpected result or the verification failed.\n");
}

static int
op_named(const char *name)
{
	for (int i = 0; i < OP_COUNT; i++)
		if (strcmp(optable[i].name, name) == 0 && i != OP_WRITE)
			return i;
	fatalx("--skip %s: not an operation of the mix (write cannot be left out)", name);
}

static uint64_t
parse_u64(const char *s, const char *what, uint64_t min, uint64_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min ||
	    v > max)
		fatalx("%s: '%s' is not a number in %" PRIu64 "..%" PRIu64, what,
		    s, min, max);
	return v;
}

static const char *
parse_options(int argc, char **argv, struct ctx *c, const char **logpath)
{
	static const struct option longopts[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "ops",     required_argument, NULL, 'n' },
		{ "threads", required_argument, NULL, 't' },
		{ "seed",    required_argument, NULL, 'S' },
		{ "log",     required_argument, NULL, 'l' },
		{ "skip",    required_argument, NULL, 'x' },
		{ "help",    no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	uint64_t seconds = 0;
	int ch;

	while ((ch = getopt_long(argc, argv, "s:n:t:S:l:x:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 's': seconds = parse_u64(optarg, "--seconds", 1, 86400); break;
		case 'n': c->ops = parse_u64(optarg, "--ops", 1, UINT64_MAX / 2); break;
		case 't': c->threads = (int)parse_u64(optarg, "--threads", 1,
		    MAX_THREADS); break;
		case 'S': c->seed = parse_u64(optarg, "--seed", 0, UINT64_MAX); break;
		case 'l': *logpath = optarg; break;
		case 'x': c->skip |= 1u << op_named(optarg); break;
		case 'h': usage(stdout); exit(0);
		default:  usage(stderr); exit(1);
		}
	}
	if (argc - optind != 1 || (seconds == 0 && c->ops == 0)) {
		usage(stderr);
		exit(1);
	}
	if (strlen(argv[optind]) > DIR_MAX)
		fatalx("%s: longer than %d bytes", argv[optind], DIR_MAX);
	if (seconds != 0)
		c->deadline_ms = now_mono_ms() + seconds * 1000;
	return argv[optind];
}

/* Each thread's own subtree must start empty, or its model would be wrong. */
static void
worker_init(struct worker *w, struct ctx *c, int id)
{
	memset(w, 0, sizeof(*w));
	w->id = id;
	w->ctx = c;
	w->rng = splitmix64(c->seed ^ splitmix64((uint64_t)id + 1));
	if (c->ops != 0)
		w->quota = c->ops / (uint64_t)c->threads +
		    ((uint64_t)id < c->ops % (uint64_t)c->threads);
	snprintf(w->root, sizeof(w->root), "%s/t%d", c->dir, id);
	snprintf(w->shared, sizeof(w->shared), "%s/shared", c->dir);
	if (mkdir(w->root, 0755) == -1)
		fatal("%s (the writer needs it not to exist yet)", w->root);
	w->m.dirs[0].exists = true;
	w->iobuf = xmalloc(MAX_IO);
	w->cmpbuf = xmalloc(MAX_IO);
}

static void
print_row(const char *name, const struct opstat *s)
{
	printf("%-14s %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8"
	    PRIu64 "\n", name, s->ok, s->expected, s->unsupported, s->skipped,
	    s->unexpected);
}

static void
print_summary(struct worker *ws, int n)
{
	struct opstat total = { 0 };

	printf("%-14s %8s %8s %8s %8s %8s\n", "op", "ok", "errno", "unsupp",
	    "skipped", "UNEXP");
	for (int op = 0; op < OP_COUNT; op++) {
		struct opstat s = { 0 };

		for (int i = 0; i < n; i++) {
			s.ok += ws[i].stats[op].ok;
			s.expected += ws[i].stats[op].expected;
			s.unsupported += ws[i].stats[op].unsupported;
			s.skipped += ws[i].stats[op].skipped;
			s.unexpected += ws[i].stats[op].unexpected;
		}
		print_row(optable[op].name, &s);
		total.ok += s.ok;
		total.expected += s.expected;
		total.unsupported += s.unsupported;
		total.skipped += s.skipped;
		total.unexpected += s.unexpected;
	}
	print_row("total", &total);
}

static void
open_log(struct ctx *c, const char *path)
{
	if (path == NULL)
		return;
	if ((c->log = fopen(path, "we")) == NULL)
		fatal("%s", path);
	setvbuf(c->log, NULL, _IOLBF, 0);   /* the log must survive a crash */
}

int
main(int argc, char **argv)
{
	struct ctx c = { .threads = 4, .seed = 1 };
	const char *logpath = NULL;
	struct worker *ws;
	int bad = 0;

	log_init(LOG_TO_STDERR, 0, "lifeline-writer");
	c.dir = parse_options(argc, argv, &c, &logpath);
	c.root = geteuid() == 0;
	signal(SIGBUS, on_sigbus);
	open_log(&c, logpath);
	ws = xcalloc((size_t)c.threads, sizeof(*ws));
	if (mkdir(c.dir, 0755) == -1 && errno != EEXIST)
		fatal("%s", c.dir);
	for (int i = 0; i < c.threads; i++)
		worker_init(&ws[i], &c, i);
	if (mkdir(ws[0].shared, 0755) == -1 && errno != EEXIST)
		fatal("%s", ws[0].shared);
	for (int i = 0; i < c.threads; i++)
		if ((errno = pthread_create(&ws[i].thread, NULL, worker_main,
		    &ws[i])) != 0)
			fatal("pthread_create");
	for (int i = 0; i < c.threads; i++)
		pthread_join(ws[i].thread, NULL);
	print_summary(ws, c.threads);
	for (int i = 0; i < c.threads; i++) {
		if (!ws[i].broken)
			verify_worker(&ws[i]);
		printf("t%d: %s\n", i, ws[i].broken ? "FAILED" : "verified");
		bad |= ws[i].broken;
		model_free(&ws[i].m);
		free(ws[i].iobuf);
		free(ws[i].cmpbuf);
	}
	free(ws);
	if (c.log != NULL && fclose(c.log) != 0)
		log_warn("%s", logpath);
	bad |= atomic_load(&c.failures) != 0;
	printf("%s\n", bad ? "FAIL" : "PASS");
	return bad ? 1 : 0;
}
