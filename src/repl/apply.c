/*
 * The applier: redoes journal records on a passive node's copy of the
 * protected directories, every path confined beneath its directory, and
 * owns the position file that says how far it got, so that a crash at any
 * point neither skips a record nor applies one twice with another result.
 */
#include "repl/apply.h"
#include "repl/confop.h"
#include "repl/confroot.h"
#include "common/bytes.h"
#include "common/log.h"
#include "common/util.h"

#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>

#include <linux/openat2.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

/*
 * Every open of a path below a root. RESOLVE_NO_SYMLINKS goes beyond
 * invariant 6: the capture sees paths after the kernel resolved symlinks,
 * so a record never names a path through one, and a symlink on the way in
 * the copy means the copy diverged (or was tampered with). Following it,
 * even inside the root, would write to another file than the active did.
 */
#define RESOLVE_FLAGS  (RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS)

/*
 * The position file: two slots, each able to hold the whole state, written
 * in turn with pwrite and fdatasync, so the one not being written is always
 * whole. The valid slot with the highest generation wins on open (the
 * generation rather than the seq: an intent slot has the same seq as the
 * slot before it). A slot, big-endian:
 *    0 u32 magic  4 u16 version  6 u16 intent type (0: none)  8 u64 gen
 *   16 u64 epoch  24 u64 seq (the last record applied)
 *   32 u64 intent epoch  40 u64 intent seq  48 u32 intent length  52 u32 zero
 *   56 2 x { u32 st_mode (0: absent)  u32 zero  u64 ino  u64 size }: path, path2
 *  104 u8[16] zero  120 u64 checksum
 * then the intent's op, as op_encode lays it out. The checksum is XXH3-64
 * of the head with the checksum zeroed, then the op bytes.
 */
#define POS_MAGIC        0x4c4c4150u       /* "LLAP" */
#define POS_VERSION      1
#define POS_HEAD         128
#define POS_INTENT_MAX   (OP_HEAD_SIZE + 2 * (OP_PATH_MAX + 1) + OP_NAME_MAX + 1)
#define POS_STRIDE       16384             /* slot 1 starts here: another page */

#define S_MAGIC     0
#define S_VERSION   4
#define S_ITYPE     6
#define S_GEN       8
#define S_EPOCH     16
#define S_SEQ       24
#define S_IEPOCH    32
#define S_ISEQ      40
#define S_ILEN      48
#define S_BEFORE    56
#define S_SNAP      24                     /* bytes of one snapshot */
#define S_CHECKSUM  120

_Static_assert(S_BEFORE + 2 * S_SNAP + 16 == S_CHECKSUM, "position slot layout");
_Static_assert(S_CHECKSUM + 8 == POS_HEAD, "checksum ends the slot head");
_Static_assert(POS_HEAD + POS_INTENT_MAX <= POS_STRIDE, "an intent fits its slot");

/* Files written since the last sync, kept open to be fsynced by it. */
#define DIRTY_MAX   32

/* What a name was when an intent was taken: st_mode 0 means absent. */
struct snap {
	uint32_t	mode;
	uint64_t	ino;
	uint64_t	size;
};

struct applier {
	int		*roots;           /* directory descriptors, by record root index */
	size_t		 nroots;
	const struct confroots *conf;     /* which roots are config entries; NULL: none */
	applier_aside_fn *aside;          /* sets a config folder's entries aside */
	void		*aside_arg;
	bool		*need_syncfs;     /* by root: a change no kept fd covers */
	int		 posfd;
	unsigned	 slot;            /* the slot holding the durable state */
	uint64_t	 gen;             /* its generation */
	struct apply_pos pos;             /* applied */
	struct apply_pos durable;         /* as in the position file */

	bool		 intent;          /* an entry op is under way (or was at a crash) */
	uint16_t	 itype;
	struct apply_pos ipos;
	struct snap	 before[2];
	uint32_t	 ilen;
	uint8_t		 ibuf[POS_INTENT_MAX];

	struct {
		int	 fd;
		dev_t	 dev;
		ino_t	 ino;
	}		 dirty[DIRTY_MAX];
	size_t		 ndirty;
};

/* One record being applied, for the messages. */
struct job {
	struct applier	*a;
	const struct op	*op;
	uint64_t	 seq;
	char		*why;
	size_t		 whylen;
};

/* The parent directory of a path, opened beneath its root, and the last name. */
struct loc {
	int		 dirfd;           /* -1: the parent does not exist */
	const char	*name;            /* "." for the root itself */
};

/*
 * Where an intent stands on a look at the copy: not done yet (do it all),
 * done (only what follows the main call is left, all of it harmless to
 * repeat), or neither, which no crash explains.
 */
enum progress { NOT_DONE, DONE, NEITHER };

/*
 * Crash points for test_apply: called after each step that changes the
 * disk (a file system call, an fsync, a write of the position file), named
 * by the step. No program defines it; the unit test does, to end a child
 * process there as a crash would and resume in the parent.
 */
void	apply_crash_point(const char *what) __attribute__((weak));

static void
step(const char *what)
{
	if (apply_crash_point != NULL)
		apply_crash_point(what);
}

static enum apply_result say(const struct job *, enum apply_result, const char *, ...)
    __attribute__((format(printf, 3, 4)));

/* why = "TYPE seq N "PATH": what", and the result to return. */
static enum apply_result
say(const struct job *j, enum apply_result r, const char *fmt, ...)
{
	char msg[320], q[OP_QUOTE_SIZE];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	why_printf(j->why, j->whylen, "%s seq %llu \"%s\": %s", record_type_name(j->op->type),
	    (unsigned long long)j->seq, op_quote(j->op->path, j->op->path_len, q), msg);
	return r;
}

/*
 * What a failed call means. Escapes (EXDEV from openat2, a symlink on the
 * way to the parent) are refused: nothing was done and the stream stops.
 * This node's own trouble fails: retry later. Anything else says the copy
 * is not what the record expects: diverged, the check repairs the path.
 * A symlink as the last name (ELOOP from O_NOFOLLOW) is such a divergence:
 * it was not followed.
 */
static enum apply_result
result_of(int err, bool resolving)
{
	switch (err) {
	case EXDEV:
	case ELOOP:
		return resolving ? APPLY_REFUSED : APPLY_DIVERGED;
	case EIO:
	case ENOSPC:
	case EDQUOT:
	case EROFS:
	case ENOMEM:
	case ENOBUFS:
	case EMFILE:
	case ENFILE:
	case EINTR:
	case EAGAIN:
	case EBADF:
		return APPLY_FAILED;
	default:
		return APPLY_DIVERGED;
	}
}

static enum apply_result
sys(const struct job *j, int err, bool resolving, const char *what)
{
	return say(j, result_of(err, resolving), "%s: %s", what, strerror(err));
}

/* openat2 beneath dirfd, close-on-exec. -1 with errno. */
static int
beneath(int dirfd, const char *path, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.mode = (flags & O_CREAT) ? mode : 0,
		.resolve = RESOLVE_FLAGS,
	};
	long fd;

	do {
		fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	} while (fd == -1 && errno == EINTR);
	return (int)fd;
}

static void
close_loc(struct loc *l)
{
	if (l->dirfd != -1)
		close(l->dirfd);
	l->dirfd = -1;
}

/*
 * Open the parent of path beneath the root, for *at() calls on the last
 * name. The parent is opened O_RDONLY, not O_PATH, so it can be fsynced.
 * A missing parent is not an error here (dirfd -1): what it means depends
 * on the op. -1 with errno for the rest (an escape, an I/O error).
 */
static int
open_loc(const struct applier *a, unsigned root, const char *path, size_t len,
    struct loc *l)
{
	char parent[OP_PATH_MAX + 1];
	const char *slash = len > 0 ? memrchr(path, '/', len) : NULL;

	l->dirfd = -1;
	l->name = len > 0 ? (slash != NULL ? slash + 1 : path) : ".";
	if (slash == NULL)
		strcpy(parent, ".");
	else {
		memcpy(parent, path, (size_t)(slash - path));
		parent[slash - path] = '\0';
	}
	/*
	 * No O_NOFOLLOW: with it a symlinked parent fails as ENOTDIR, which
	 * reads as "missing"; without it RESOLVE_NO_SYMLINKS gives ELOOP.
	 */
	l->dirfd = beneath(a->roots[root], parent, O_RDONLY | O_DIRECTORY, 0);
	if (l->dirfd == -1 && (errno == ENOENT || errno == ENOTDIR))
		return 0;
	return l->dirfd == -1 ? -1 : 0;
}

/* What the name is now. 0, or -1 with errno. */
static int
look(const struct loc *l, struct snap *s)
{
	struct stat st;

	memset(s, 0, sizeof(*s));
	if (l->dirfd == -1)
		return 0;
	if (fstatat(l->dirfd, l->name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return errno == ENOENT ? 0 : -1;
	s->mode = st.st_mode;
	s->ino = st.st_ino;
	s->size = (uint64_t)st.st_size;
	return 0;
}

/* Open the last name as a file, never following a symlink there. */
static int
open_name(const struct loc *l, int flags)
{
	if (l->dirfd == -1) {
		errno = ENOENT;
		return -1;
	}
	return beneath(l->dirfd, l->name, flags | O_NOFOLLOW | O_NONBLOCK, 0);
}

static int
write_all(int fd, const uint8_t *p, size_t len, uint64_t off)
{
	ssize_t n;

	while (len > 0) {
		if ((n = pwrite(fd, p, len, (off_t)off)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/*
 * fsync every file kept since the last flush, and syncfs the roots where
 * a change had no file to keep (a symlink's owner or times). The fds are
 * closed as they are synced; on failure the rest stay for the next try.
 */
static int
flush_dirty(struct applier *a)
{
	size_t i;

	while (a->ndirty > 0) {
		i = a->ndirty - 1;
		if (fsync(a->dirty[i].fd) == -1)
			return -1;
		step("fsync-dirty");
		close(a->dirty[i].fd);
		a->ndirty--;
	}
	for (i = 0; i < a->nroots; i++) {
		if (!a->need_syncfs[i])
			continue;
		if (syncfs(a->roots[i]) == -1)
			return -1;
		step("syncfs");
		a->need_syncfs[i] = false;
	}
	return 0;
}

/*
 * Keep fd (taken) until the next sync makes its changes durable. A file
 * already kept is not kept twice; a full set is flushed first.
 */
static int
keep_dirty(struct applier *a, int fd)
{
	struct stat st;
	size_t i;
	int saved;

	if (fstat(fd, &st) == -1)
		goto fail;
	for (i = 0; i < a->ndirty; i++) {
		if (a->dirty[i].dev == st.st_dev && a->dirty[i].ino == st.st_ino) {
			close(fd);
			return 0;
		}
	}
	if (a->ndirty == DIRTY_MAX && flush_dirty(a) == -1)
		goto fail;
	a->dirty[a->ndirty].fd = fd;
	a->dirty[a->ndirty].dev = st.st_dev;
	a->dirty[a->ndirty].ino = st.st_ino;
	a->ndirty++;
	return 0;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

/*
 * Keep the name's inode for the next sync after a change by name (owner,
 * times): a regular file or directory is opened and kept; anything else
 * (a symlink) cannot be fsynced, so its root is syncfs'd instead.
 */
static int
keep_name(struct applier *a, unsigned root, const struct loc *l)
{
	struct snap s;
	int fd;

	if (look(l, &s) == -1)
		return -1;
	if (!S_ISREG(s.mode) && !S_ISDIR(s.mode)) {
		a->need_syncfs[root] = true;
		return 0;
	}
	if ((fd = open_name(l, O_RDONLY)) == -1)
		return -1;
	return keep_dirty(a, fd);
}

/* ---- the position file ---- */

/* XXH3-64 of the slot's len bytes with the checksum field taken as zero. */
static uint64_t
slot_checksum(uint8_t *buf, size_t len)
{
	uint8_t stored[8];
	uint64_t sum;

	memcpy(stored, buf + S_CHECKSUM, 8);
	memset(buf + S_CHECKSUM, 0, 8);
	sum = XXH3_64bits(buf, len);
	memcpy(buf + S_CHECKSUM, stored, 8);
	return sum;
}

/* Lay out a slot of generation gen at position pos, with the intent if any. */
static size_t
slot_encode(uint8_t *buf, const struct applier *a, uint64_t gen, struct apply_pos pos)
{
	size_t len = POS_HEAD;
	int i;

	memset(buf, 0, POS_HEAD);
	put32(buf + S_MAGIC, POS_MAGIC);
	put16(buf + S_VERSION, POS_VERSION);
	put64(buf + S_GEN, gen);
	put64(buf + S_EPOCH, pos.epoch);
	put64(buf + S_SEQ, pos.seq);
	if (a->intent) {
		put16(buf + S_ITYPE, a->itype);
		put64(buf + S_IEPOCH, a->ipos.epoch);
		put64(buf + S_ISEQ, a->ipos.seq);
		put32(buf + S_ILEN, a->ilen);
		for (i = 0; i < 2; i++) {
			put32(buf + S_BEFORE + i * S_SNAP, a->before[i].mode);
			put64(buf + S_BEFORE + i * S_SNAP + 8, a->before[i].ino);
			put64(buf + S_BEFORE + i * S_SNAP + 16, a->before[i].size);
		}
		memcpy(buf + POS_HEAD, a->ibuf, a->ilen);
		len += a->ilen;
	}
	put64(buf + S_CHECKSUM, slot_checksum(buf, len));
	return len;
}

/*
 * Make pos (and the intent, if one is under way) durable: write the slot
 * that does not hold the current state, then fdatasync. The file never
 * changes size, so fdatasync has no metadata to wait for. On failure the
 * old slot is still the valid one and nothing in memory changed.
 */
static int
pos_write(struct applier *a, struct apply_pos pos)
{
	uint8_t buf[POS_HEAD + POS_INTENT_MAX];
	unsigned next = a->slot ^ 1;
	size_t len = slot_encode(buf, a, a->gen + 1, pos);
	ssize_t n;

	do {
		n = pwrite(a->posfd, buf, len, (off_t)next * POS_STRIDE);
	} while (n == -1 && errno == EINTR);
	if (n != (ssize_t)len) {
		if (n >= 0)
			errno = EIO;
		return -1;
	}
	step("pos-write");
	if (fdatasync(a->posfd) == -1)
		return -1;
	step("pos-sync");
	a->slot = next;
	a->gen++;
	a->durable = pos;
	return 0;
}

/*
 * Read slot i: 1 and a's state filled if it is valid and newer than what
 * a holds, 0 if it is not (torn, zero, older), -1 with err when a valid
 * slot holds an intent that does not decode (a bug, not a torn write).
 */
static int
slot_load(struct applier *a, unsigned i, char *err, size_t errlen)
{
	uint8_t buf[POS_HEAD + POS_INTENT_MAX];
	struct op op;
	char why[256];
	ssize_t n;
	uint32_t ilen;
	uint16_t itype;
	uint64_t gen;
	int k;

	n = pread(a->posfd, buf, sizeof(buf), (off_t)i * POS_STRIDE);
	if (n < POS_HEAD || get32(buf + S_MAGIC) != POS_MAGIC ||
	    get16(buf + S_VERSION) != POS_VERSION)
		return 0;
	ilen = get32(buf + S_ILEN);
	itype = get16(buf + S_ITYPE);
	if (ilen > POS_INTENT_MAX || (size_t)n < POS_HEAD + ilen ||
	    get64(buf + S_CHECKSUM) != slot_checksum(buf, POS_HEAD + ilen))
		return 0;
	gen = get64(buf + S_GEN);
	if (a->gen != 0 && gen <= a->gen)
		return 0;
	if (itype != 0 && (record_is_state_setting(itype) ||
	    op_decode(itype, buf + POS_HEAD, ilen, &op, why, sizeof(why)) == -1)) {
		if (record_is_state_setting(itype))
			snprintf(why, sizeof(why), "type %u", itype);
		why_printf(err, errlen, "position slot %u holds an intent that is not an entry "
		    "op: %s", i, why);
		return -1;
	}
	a->slot = i;
	a->gen = gen;
	a->pos.epoch = get64(buf + S_EPOCH);
	a->pos.seq = get64(buf + S_SEQ);
	a->durable = a->pos;
	a->intent = itype != 0;
	a->itype = itype;
	a->ipos.epoch = get64(buf + S_IEPOCH);
	a->ipos.seq = get64(buf + S_ISEQ);
	a->ilen = ilen;
	for (k = 0; k < 2; k++) {
		a->before[k].mode = get32(buf + S_BEFORE + k * S_SNAP);
		a->before[k].ino = get64(buf + S_BEFORE + k * S_SNAP + 8);
		a->before[k].size = get64(buf + S_BEFORE + k * S_SNAP + 16);
	}
	memcpy(a->ibuf, buf + POS_HEAD, ilen);
	return 1;
}

/*
 * Open the position file, or make it: a new file gets one slot at
 * position 0 (nothing applied) and is put in place with a rename, once, so
 * a crash while making it leaves no half file. An existing file with no
 * valid slot is corrupt and is not guessed at.
 */
static int
pos_open(struct applier *a, const char *path, char *err, size_t errlen)
{
	uint8_t *img;
	int rc = -1, i, got = 0;

	if ((a->posfd = open(path, O_RDWR | O_CLOEXEC)) == -1 && errno == ENOENT) {
		img = xcalloc(2, POS_STRIDE);
		a->gen = 0;
		slot_encode(img, a, 1, a->pos);
		if (write_file_atomic(path, img, 2 * POS_STRIDE, 0600) == -1) {
			why_printf(err, errlen, "%s: %s", path, strerror(errno));
			free(img);
			goto out;
		}
		free(img);
		a->posfd = open(path, O_RDWR | O_CLOEXEC);
	}
	if (a->posfd == -1) {
		why_printf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	a->gen = 0;
	for (i = 0; i < 2; i++) {
		int r = slot_load(a, (unsigned)i, err, errlen);

		if (r == -1)
			goto out;
		got += r;
	}
	if (got == 0) {
		why_printf(err, errlen, "%s: no valid position slot: the file is corrupt; "
		    "the copy needs a full check before it is applied to again", path);
		goto out;
	}
	rc = 0;
out:
	return rc;
}

/* ---- entry ops: the intent, the look, the redo ---- */

static bool
same(const struct snap *x, const struct snap *y)
{
	return x->mode != 0 && y->mode != 0 && x->ino == y->ino;
}

/*
 * Whether an entry op is done, from what its names were before (b) and
 * are now (n). Nothing but the applier writes the copy, so a name that
 * went away or came since the intent was taken is the op's doing.
 */
static enum progress
progress_of(const struct op *op, const struct snap b[2], const struct snap n[2])
{
	uint64_t len = op->size;

	switch (op->type) {
	case RECORD_CREATE:
		if (b[0].mode == 0)
			return n[0].mode == 0 ? NOT_DONE : S_ISREG(n[0].mode) ? DONE : NEITHER;
		return same(&n[0], &b[0]) ? NOT_DONE : NEITHER;
	case RECORD_MKDIR:
		return n[0].mode == 0 ? NOT_DONE : S_ISDIR(n[0].mode) ? DONE : NEITHER;
	case RECORD_SYMLINK:
		return n[0].mode == 0 ? NOT_DONE : S_ISLNK(n[0].mode) ? DONE : NEITHER;
	case RECORD_UNLINK:
	case RECORD_RMDIR:
		return n[0].mode == 0 ? DONE : same(&n[0], &b[0]) ? NOT_DONE : NEITHER;
	case RECORD_LINK:
		if (n[1].mode == 0)
			return same(&n[0], &b[0]) ? NOT_DONE : NEITHER;
		return same(&n[1], &b[0]) ? DONE : NEITHER;
	case RECORD_RENAME:
		/* As before: not done (and a rename between two links of one file is a no-op). */
		if (same(&n[0], &b[0]) && (b[1].mode == 0 ? n[1].mode == 0 : same(&n[1], &b[1])))
			return NOT_DONE;
		if (op->flags & RENAME_EXCHANGE)
			return same(&n[0], &b[1]) && same(&n[1], &b[0]) ? DONE : NEITHER;
		return n[0].mode == 0 && same(&n[1], &b[0]) ? DONE : NEITHER;
	case RECORD_FALLOCATE:
		if (!same(&n[0], &b[0]))
			return NEITHER;
		/* Only these two move data; the other modes may simply run again. */
		if (op->flags & FALLOC_FL_COLLAPSE_RANGE)
			return n[0].size == b[0].size ? NOT_DONE :
			    b[0].size >= len && n[0].size == b[0].size - len ? DONE : NEITHER;
		if (op->flags & FALLOC_FL_INSERT_RANGE)
			return n[0].size == b[0].size ? NOT_DONE :
			    n[0].size == b[0].size + len ? DONE : NEITHER;
		return NOT_DONE;
	default:
		return NEITHER;
	}
}

/*
 * Whether the copy is fit for the entry op before anything is done: a
 * record that expects a name to be there (or not) and finds otherwise
 * diverged, and is not tried, so nothing is half done. NULL if fit.
 */
static const char *
unfit(const struct op *op, const struct loc l[2], const struct snap b[2])
{
	switch (op->type) {
	case RECORD_CREATE:
		if (l[0].dirfd == -1)
			return "its directory is missing";
		if (b[0].mode != 0 && (op->flags & OP_CREATE_EXCL))
			return "it exists, the record created it";
		if (b[0].mode != 0 && !S_ISREG(b[0].mode))
			return "it exists and is not a regular file";
		return NULL;
	case RECORD_MKDIR:
	case RECORD_SYMLINK:
		if (l[0].dirfd == -1)
			return "its directory is missing";
		return b[0].mode != 0 ? "it exists, the record created it" : NULL;
	case RECORD_UNLINK:
		if (b[0].mode == 0)
			return "it is missing";
		return S_ISDIR(b[0].mode) ? "it is a directory" : NULL;
	case RECORD_RMDIR:
		if (b[0].mode == 0)
			return "it is missing";
		return !S_ISDIR(b[0].mode) ? "it is not a directory" : NULL;
	case RECORD_RENAME:
		if (b[0].mode == 0)
			return "it is missing";
		if (l[1].dirfd == -1)
			return "the directory of path2 is missing";
		if ((op->flags & RENAME_NOREPLACE) && b[1].mode != 0)
			return "path2 exists, the record did not replace it";
		if ((op->flags & RENAME_EXCHANGE) && b[1].mode == 0)
			return "path2 is missing, the record exchanged with it";
		return NULL;
	case RECORD_LINK:
		if (b[0].mode == 0)
			return "it is missing";
		if (S_ISDIR(b[0].mode))
			return "it is a directory";
		if (l[1].dirfd == -1)
			return "the directory of path2 is missing";
		return b[1].mode != 0 ? "path2 exists, the record created it" : NULL;
	case RECORD_FALLOCATE:
		if (b[0].mode == 0)
			return "it is missing";
		return !S_ISREG(b[0].mode) ? "it is not a regular file" : NULL;
	default:
		return "not an entry op";
	}
}

static enum apply_result
sync_dir(const struct job *j, int dirfd, const char *which)
{
	if (fsync(dirfd) == -1)
		return sys(j, errno, false, which);
	step(which);
	return APPLY_OK;
}

/*
 * Give fd (or name in dirfd, not followed, when fd is -1) the mtime the
 * record carries for it, so the copy has the active's time rather than the
 * applier's clock; 0.0 is none (op.h). The atime is left as it is.
 */
static enum apply_result
set_mtime(const struct job *j, int fd, int dirfd, const char *name, int64_t sec, uint32_t nsec,
    const char *which)
{
	struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = sec, .tv_nsec = nsec } };
	int rc;

	if (sec == 0 && nsec == 0)
		return APPLY_OK;
	if (nsec == OP_TIME_NOW || nsec == OP_TIME_OMIT)
		ts[1].tv_nsec = nsec == OP_TIME_NOW ? UTIME_NOW : UTIME_OMIT;
	rc = fd != -1 ? futimens(fd, ts) : utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW);
	if (rc == -1)
		return sys(j, errno, false, which);
	step(which);
	return APPLY_OK;
}

/* The directory's mtime after the change, then the fsync that makes the change durable. */
static enum apply_result
finish_dir(const struct job *j, int dirfd, int64_t sec, uint32_t nsec, const char *which)
{
	enum apply_result r;

	if ((r = set_mtime(j, dirfd, -1, NULL, sec, nsec, "dir-mtime")) != APPLY_OK)
		return r;
	return sync_dir(j, dirfd, which);
}

/*
 * fchown then fchmod (chown may clear set-id bits), exact mode whatever the
 * umask, then the mtime the record carries, and the fsync of all three.
 */
static enum apply_result
set_owner_mode(const struct job *j, int fd)
{
	enum apply_result r;

	if (fchown(fd, j->op->uid, j->op->gid) == -1)
		return sys(j, errno, false, "fchown");
	step("fchown");
	if (fchmod(fd, j->op->mode & 07777) == -1)
		return sys(j, errno, false, "fchmod");
	step("fchmod");
	if ((r = set_mtime(j, fd, -1, NULL, j->op->mtime_sec, j->op->mtime_nsec, "mtime")) !=
	    APPLY_OK)
		return r;
	if (fsync(fd) == -1)
		return sys(j, errno, false, "fsync");
	step("fsync");
	return APPLY_OK;
}

/*
 * Do an entry op, or, when done, only what follows its main call: the
 * owner and mode of what it made, the mtimes the record carries (of what
 * it made and of the directories it changed) and the fsyncs that make it
 * durable,
 * all harmless to repeat. Every step is a call on a name relative to its
 * parent that never follows a symlink.
 */
static enum apply_result
perform(const struct job *j, const struct loc l[2], bool done)
{
	const struct op *op = j->op;
	enum apply_result r = APPLY_OK;
	int fd = -1;

	switch (op->type) {
	case RECORD_CREATE:
		if (j->a->before[0].mode != 0) {
			/* It existed: opening it changed nothing but, maybe, its length. */
			if (!(op->flags & OP_CREATE_TRUNC))
				break;
			if ((fd = open_name(&l[0], O_WRONLY | O_TRUNC)) == -1) {
				r = sys(j, errno, false, "open O_TRUNC");
				break;
			}
			step("truncate");
			if ((r = set_mtime(j, fd, -1, NULL, op->mtime_sec, op->mtime_nsec,
			    "mtime")) == APPLY_OK && fsync(fd) == -1)
				r = sys(j, errno, false, "fsync");
			break;
		}
		fd = done ? open_name(&l[0], O_WRONLY) :
		    beneath(l[0].dirfd, l[0].name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0);
		if (fd == -1) {
			r = sys(j, errno, false, done ? "open" : "create");
			break;
		}
		if (!done)
			step("create");
		if ((r = set_owner_mode(j, fd)) == APPLY_OK)
			r = finish_dir(j, l[0].dirfd, op->dir_mtime_sec, op->dir_mtime_nsec,
			    "fsync-dir");
		break;
	case RECORD_MKDIR:
		if (!done) {
			if (mkdirat(l[0].dirfd, l[0].name, 0700) == -1) {
				r = sys(j, errno, false, "mkdirat");
				break;
			}
			step("mkdirat");
		}
		if ((fd = open_name(&l[0], O_RDONLY | O_DIRECTORY)) == -1) {
			r = sys(j, errno, false, "open");
			break;
		}
		if ((r = set_owner_mode(j, fd)) == APPLY_OK)
			r = finish_dir(j, l[0].dirfd, op->dir_mtime_sec, op->dir_mtime_nsec,
			    "fsync-dir");
		break;
	case RECORD_SYMLINK:
		if (!done) {
			if (symlinkat(op->path2, l[0].dirfd, l[0].name) == -1) {
				r = sys(j, errno, false, "symlinkat");
				break;
			}
			step("symlinkat");
		}
		if (fchownat(l[0].dirfd, l[0].name, op->uid, op->gid, AT_SYMLINK_NOFOLLOW) == -1) {
			r = sys(j, errno, false, "fchownat");
			break;
		}
		step("fchownat");
		if ((r = set_mtime(j, -1, l[0].dirfd, l[0].name, op->mtime_sec, op->mtime_nsec,
		    "mtime")) != APPLY_OK || (r = finish_dir(j, l[0].dirfd, op->dir_mtime_sec,
		    op->dir_mtime_nsec, "fsync-dir")) != APPLY_OK)
			break;
		/* A symlink cannot be opened to fsync its owner: sync its file system. */
		if (syncfs(l[0].dirfd) == -1)
			r = sys(j, errno, false, "syncfs");
		else
			step("syncfs");
		break;
	case RECORD_UNLINK:
	case RECORD_RMDIR:
		if (!done) {
			if (unlinkat(l[0].dirfd, l[0].name,
			    op->type == RECORD_RMDIR ? AT_REMOVEDIR : 0) == -1) {
				r = sys(j, errno, false, "unlinkat");
				break;
			}
			step("unlinkat");
		}
		r = finish_dir(j, l[0].dirfd, op->dir_mtime_sec, op->dir_mtime_nsec, "fsync-dir");
		break;
	case RECORD_RENAME:
		if (!done) {
			if (renameat2(l[0].dirfd, l[0].name, l[1].dirfd, l[1].name,
			    op->flags) == -1) {
				r = sys(j, errno, false, "renameat2");
				break;
			}
			step("renameat2");
		}
		if ((r = finish_dir(j, l[1].dirfd, op->dir2_mtime_sec, op->dir2_mtime_nsec,
		    "fsync-dir2")) == APPLY_OK)
			r = finish_dir(j, l[0].dirfd, op->dir_mtime_sec, op->dir_mtime_nsec,
			    "fsync-dir");
		break;
	case RECORD_LINK:
		if (!done) {
			if (linkat(l[0].dirfd, l[0].name, l[1].dirfd, l[1].name, 0) == -1) {
				r = sys(j, errno, false, "linkat");
				break;
			}
			step("linkat");
		}
		r = finish_dir(j, l[1].dirfd, op->dir_mtime_sec, op->dir_mtime_nsec, "fsync-dir2");
		break;
	case RECORD_FALLOCATE:
		if ((fd = open_name(&l[0], O_WRONLY)) == -1) {
			r = sys(j, errno, false, "open");
			break;
		}
		if (!done) {
			if (fallocate(fd, (int)op->flags, (off_t)op->offset, (off_t)op->size) == -1) {
				r = sys(j, errno, false, "fallocate");
				break;
			}
			step("fallocate");
		}
		if ((r = set_mtime(j, fd, -1, NULL, op->mtime_sec, op->mtime_nsec, "mtime")) !=
		    APPLY_OK)
			break;
		if (fsync(fd) == -1)
			r = sys(j, errno, false, "fsync");
		else
			step("fsync");
		break;
	default:
		r = say(j, APPLY_REFUSED, "not an entry op");
		break;
	}
	if (fd != -1)
		close(fd);
	return r;
}

/* Open the parents an entry op names (path2 too for rename and link). */
static enum apply_result
open_locs(const struct job *j, struct loc l[2])
{
	const struct op *op = j->op;

	l[0].dirfd = l[1].dirfd = -1;
	l[1].name = ".";
	if (open_loc(j->a, op->root, op->path, op->path_len, &l[0]) == -1)
		return sys(j, errno, true, "opening its directory beneath the root");
	if ((op->type == RECORD_RENAME || op->type == RECORD_LINK) &&
	    open_loc(j->a, op->root, op->path2, op->path2_len, &l[1]) == -1) {
		close_loc(&l[0]);
		return sys(j, errno, true, "opening the directory of path2 beneath the root");
	}
	return APPLY_OK;
}

/*
 * Carry the intent through: look at the copy, do the op or what is left
 * of it, then make the new position durable (and drop the intent) if it
 * applied or diverged. Called right after the intent is made durable, and
 * by applier_open for an intent found in the position file after a crash:
 * the same code decides in both cases, from the same "before".
 */
static enum apply_result
resolve(struct applier *a, char *why, size_t whylen)
{
	struct op op;
	struct job j = { .a = a, .op = &op, .seq = a->ipos.seq, .why = why, .whylen = whylen };
	struct snap now[2];
	struct loc l[2];
	enum apply_result r;
	enum progress p;
	char err[256];

	if (op_decode(a->itype, a->ibuf, a->ilen, &op, err, sizeof(err)) == -1) {
		why_printf(why, whylen, "pending intent of seq %llu does not decode: %s",
		    (unsigned long long)a->ipos.seq, err);
		return APPLY_REFUSED;
	}
	if ((r = open_locs(&j, l)) != APPLY_OK)
		return r;
	if (look(&l[0], &now[0]) == -1 || look(&l[1], &now[1]) == -1) {
		r = sys(&j, errno, false, "fstatat");
		goto out;
	}
	p = progress_of(&op, a->before, now);
	if (p == NEITHER)
		r = say(&j, APPLY_DIVERGED, "the copy is neither as before the op nor as after it");
	else
		r = perform(&j, l, p == DONE);
	if (r == APPLY_OK || r == APPLY_DIVERGED) {
		a->intent = false;
		if (pos_write(a, a->ipos) == -1) {
			a->intent = true;
			r = sys(&j, errno, false, "writing the position");
			goto out;
		}
		a->pos = a->ipos;
	}
out:
	close_loc(&l[0]);
	close_loc(&l[1]);
	return r;
}

/*
 * An op that is not state-setting (invariant 8): what was written before
 * it is made durable with the position, then an intent (the op and what
 * its names were) is made durable, then the op is done, then the position
 * after it. A crash anywhere leaves either no intent (the op was not
 * started, or is done and recorded) or an intent that resolve() finishes.
 */
static enum apply_result
apply_entry(struct applier *a, const struct record_hdr *h, const struct job *j0)
{
	struct job j = *j0;
	struct op op;
	struct loc l[2];
	enum apply_result r;
	const char *problem;
	char err[256];
	size_t n;

	/* The intent slot (or the diverged position) carries a->pos with it. */
	if (flush_dirty(a) == -1) {
		a->pos = a->durable;
		return sys(&j, errno, false, "syncing what was applied before");
	}
	if ((n = op_encode(a->ibuf, sizeof(a->ibuf), j.op)) == 0 ||
	    op_decode(h->type, a->ibuf, n, &op, err, sizeof(err)) == -1) {
		if (n == 0)
			snprintf(err, sizeof(err), "does not encode as an op");
		return say(&j, APPLY_REFUSED, "%s", err);
	}
	j.op = &op;
	a->itype = h->type;
	a->ilen = (uint32_t)n;
	a->ipos.epoch = h->epoch;
	a->ipos.seq = h->seq;
	if ((r = open_locs(&j, l)) != APPLY_OK)
		return r;
	if (look(&l[0], &a->before[0]) == -1 || look(&l[1], &a->before[1]) == -1) {
		r = sys(&j, errno, false, "fstatat");
		goto out;
	}
	if ((problem = unfit(&op, l, a->before)) != NULL) {
		r = say(&j, APPLY_DIVERGED, "%s", problem);
		if (pos_write(a, a->ipos) == -1)
			r = sys(&j, errno, false, "writing the position");
		else
			a->pos = a->ipos;
		goto out;
	}
	a->intent = true;
	if (pos_write(a, a->pos) == -1) {
		a->intent = false;
		r = sys(&j, errno, false, "writing the intent");
		goto out;
	}
	close_loc(&l[0]);
	close_loc(&l[1]);
	return resolve(a, j.why, j.whylen);
out:
	close_loc(&l[0]);
	close_loc(&l[1]);
	return r;
}

/* Kernel nsec of a wire time: the sentinels become UTIME_NOW / UTIME_OMIT. */
static long
nsec_of(uint32_t nsec)
{
	if (nsec == OP_TIME_NOW || nsec == (uint32_t)UTIME_NOW)
		return UTIME_NOW;
	if (nsec == OP_TIME_OMIT || nsec == (uint32_t)UTIME_OMIT)
		return UTIME_OMIT;
	return (long)nsec;
}

/*
 * A state-setting op: done again after a crash, it leaves the same state,
 * so it needs no intent. What it changes is kept for applier_sync to make
 * durable before the position says it is applied. Set-xattr ignores
 * XATTR_CREATE/REPLACE and remove-xattr a missing name for that reason:
 * the second time, the active's flags would fail where the first did not.
 */
static enum apply_result
apply_state(struct applier *a, const struct job *j)
{
	const struct op *op = j->op;
	struct timespec ts[2];
	struct loc l;
	struct stat st;
	enum apply_result r = APPLY_OK;
	int fd = -1;

	switch (op->type) {
	case RECORD_VERIFY:          /* the caller checks VERIFY before it calls us */
	case RECORD_FSYNC_BARRIER:   /* the journal already made the data durable here */
		return APPLY_OK;
	}
	if (open_loc(a, op->root, op->path, op->path_len, &l) == -1)
		return sys(j, errno, true, "opening its directory beneath the root");
	if (l.dirfd == -1) {
		r = say(j, APPLY_DIVERGED, "its directory is missing");
		goto out;
	}
	switch (op->type) {
	case RECORD_WRITE:
	case RECORD_TRUNCATE:
	case RECORD_DATA:
		if ((fd = open_name(&l, O_WRONLY)) == -1) {
			r = sys(j, errno, false, "open");
			break;
		}
		if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
			r = say(j, APPLY_DIVERGED, "not a regular file");
			break;
		}
		if (op->type != RECORD_TRUNCATE &&
		    write_all(fd, op->data, op->data_len, op->offset) == -1) {
			r = sys(j, errno, false, "pwrite");
			break;
		}
		if (op->type != RECORD_TRUNCATE)
			step("pwrite");
		if (op->type != RECORD_WRITE && ftruncate(fd, (off_t)op->size) == -1) {
			r = sys(j, errno, false, "ftruncate");
			break;
		}
		if (op->type != RECORD_WRITE)
			step("ftruncate");
		r = set_mtime(j, fd, -1, NULL, op->mtime_sec, op->mtime_nsec, "mtime");
		break;
	case RECORD_CHMOD:
		if ((fd = open_name(&l, O_RDONLY)) == -1) {
			r = sys(j, errno, false, "open");
			break;
		}
		if (fchmod(fd, op->mode & 07777) == -1)
			r = sys(j, errno, false, "fchmod");
		else
			step("fchmod");
		break;
	case RECORD_SETXATTR:
	case RECORD_REMOVEXATTR:
		if ((fd = open_name(&l, O_RDONLY)) == -1 && errno == ELOOP) {
			/*
			 * A symlink: no fd to set it through without following it
			 * or a path-based call, and user xattrs are not allowed on
			 * symlinks anyway. Skipped; the check compares the rest.
			 */
			log_debug("%s seq %llu: xattr on a symlink skipped",
			    record_type_name(op->type), (unsigned long long)j->seq);
			break;
		}
		if (fd == -1) {
			r = sys(j, errno, false, "open");
			break;
		}
		if (op->type == RECORD_SETXATTR) {
			if (fsetxattr(fd, op->name, op->data, op->data_len, 0) == -1) {
				r = sys(j, errno, false, "fsetxattr");
				break;
			}
		} else if (fremovexattr(fd, op->name) == -1 && errno != ENODATA) {
			r = sys(j, errno, false, "fremovexattr");
			break;
		}
		step("xattr");
		break;
	case RECORD_CHOWN:
		if (fchownat(l.dirfd, l.name, op->uid, op->gid, AT_SYMLINK_NOFOLLOW) == -1) {
			r = sys(j, errno, false, "fchownat");
			break;
		}
		step("fchownat");
		if (keep_name(a, op->root, &l) == -1)
			r = sys(j, errno, false, "keeping it for the sync");
		break;
	case RECORD_UTIMENS:
		ts[0].tv_sec = op->atime_sec;
		ts[0].tv_nsec = nsec_of(op->atime_nsec);
		ts[1].tv_sec = op->mtime_sec;
		ts[1].tv_nsec = nsec_of(op->mtime_nsec);
		if (utimensat(l.dirfd, l.name, ts, AT_SYMLINK_NOFOLLOW) == -1) {
			r = sys(j, errno, false, "utimensat");
			break;
		}
		step("utimensat");
		if (keep_name(a, op->root, &l) == -1)
			r = sys(j, errno, false, "keeping it for the sync");
		break;
	default:
		r = say(j, APPLY_REFUSED, "not a state-setting op");
		break;
	}
	if (fd != -1) {
		if (r == APPLY_OK && keep_dirty(a, fd) == -1)
			r = sys(j, errno, false, "keeping it for the sync");
		else if (r != APPLY_OK)
			close(fd);
	}
out:
	close_loc(&l);
	return r;
}

/*
 * The checks every record passes before anything is touched, whoever made
 * the op: a known root, paths under the rules of op.h (the applier is not
 * the only caller that could hand it a raw op), the name an entry needs.
 */
static enum apply_result
check_op(const struct applier *a, const struct record_hdr *h, const struct job *j)
{
	const struct op *op = j->op;
	bool two = op->type == RECORD_RENAME || op->type == RECORD_LINK;

	if (op->type != h->type)
		return say(j, APPLY_REFUSED, "op of type %s in a %s record",
		    record_type_name(op->type), record_type_name(h->type));
	if (op->root >= a->nroots)
		return say(j, APPLY_REFUSED, "root %u, this node protects %zu directories",
		    op->root, a->nroots);
	if (op->path == NULL || !op_path_valid(op->path, op->path_len) ||
	    op->path[op->path_len] != '\0')
		return say(j, APPLY_REFUSED, "path breaks the rules (empty, \".\" or \"..\" "
		    "component, leading or trailing '/', NUL)");
	if (two && (op->path2 == NULL || op->path2_len == 0 ||
	    !op_path_valid(op->path2, op->path2_len) || op->path2[op->path2_len] != '\0'))
		return say(j, APPLY_REFUSED, "path2 breaks the rules");
	if (op->path_len == 0 && (!record_is_state_setting(op->type) ||
	    op->type == RECORD_WRITE || op->type == RECORD_TRUNCATE || op->type == RECORD_DATA))
		return say(j, APPLY_REFUSED, "empty path: the op needs an entry, not the "
		    "directory itself");
	if ((op->type == RECORD_SETXATTR || op->type == RECORD_REMOVEXATTR) &&
	    (op->name == NULL || op->name_len == 0))
		return say(j, APPLY_REFUSED, "no xattr name");
	return APPLY_OK;
}

/*
 * A new file made whole before it gets its name: an unnamed file in the
 * directory (O_TMPFILE), given the record's owner, mode and mtime, then
 * linked under the name, so the name never shows a half-made file. The fd
 * is returned for the next sync to make durable. -1 with errno; EOPNOTSUPP
 * when the file system cannot make unnamed files.
 */
static int
make_whole(const struct job *j, const struct loc *l)
{
	const struct op *op = j->op;
	struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT },
	    { .tv_sec = op->mtime_sec, .tv_nsec = nsec_of(op->mtime_nsec) } };
	int fd, saved;

	fd = openat(l->dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (fd == -1) {
		if (errno == EISDIR || errno == EINVAL)
			errno = EOPNOTSUPP;
		return -1;
	}
	step("tmpfile");
	if (fchown(fd, op->uid, op->gid) == -1 || fchmod(fd, op->mode & 07777) == -1 ||
	    ((op->mtime_sec != 0 || op->mtime_nsec != 0) && futimens(fd, ts) == -1) ||
	    linkat(fd, "", l->dirfd, l->name, AT_EMPTY_PATH) == -1) {
		saved = errno;
		close(fd);
		errno = saved == EOPNOTSUPP ? EIO : saved;
		return -1;
	}
	step("link");
	return fd;
}

/*
 * A CREATE the application made without O_EXCL, applied as a state-setting
 * op (invariant 8 names only the exclusive create as not one): no intent
 * and no syncs of its own; the file and its folder are kept for the next
 * batched sync, as a write is. Done again after a crash it finds the name
 * made whole (make_whole) and leaves it, as the entry op does with a file
 * that exists, emptying it only for O_TRUNC; the folder's mtime is set
 * again either way. Where unnamed files cannot be made, the entry op's
 * way is taken.
 */
static enum apply_result
apply_create(struct applier *a, const struct record_hdr *h, const struct job *j)
{
	const struct op *op = j->op;
	enum apply_result r = APPLY_OK;
	struct snap b;
	struct loc l;
	int fd = -1, dirfd, kept;

	if (open_loc(a, op->root, op->path, op->path_len, &l) == -1)
		return sys(j, errno, true, "opening its directory beneath the root");
	if (l.dirfd == -1) {
		r = say(j, APPLY_DIVERGED, "its directory is missing");
		goto out;
	}
	if (look(&l, &b) == -1) {
		r = sys(j, errno, false, "fstatat");
		goto out;
	}
	if (b.mode != 0 && !S_ISREG(b.mode)) {
		r = say(j, APPLY_DIVERGED, "it exists and is not a regular file");
		goto out;
	}
	if (b.mode == 0 && (fd = make_whole(j, &l)) == -1) {
		if (errno == EOPNOTSUPP) {
			close_loc(&l);
			return apply_entry(a, h, j);
		}
		r = sys(j, errno, false, "create");
		goto out;
	}
	if (b.mode != 0 && (op->flags & OP_CREATE_TRUNC)) {
		if ((fd = open_name(&l, O_WRONLY | O_TRUNC)) == -1) {
			r = sys(j, errno, false, "open O_TRUNC");
			goto out;
		}
		step("truncate");
		if ((r = set_mtime(j, fd, -1, NULL, op->mtime_sec, op->mtime_nsec, "mtime")) !=
		    APPLY_OK)
			goto out;
	}
	if ((r = set_mtime(j, l.dirfd, -1, NULL, op->dir_mtime_sec, op->dir_mtime_nsec,
	    "dir-mtime")) != APPLY_OK)
		goto out;
	if ((dirfd = dup(l.dirfd)) == -1 || keep_dirty(a, dirfd) == -1) {
		r = sys(j, errno, false, "keeping its folder for the sync");
		goto out;
	}
	if (fd != -1) {
		kept = keep_dirty(a, fd);      /* takes fd, or closes it on failure */
		fd = -1;
		if (kept == -1)
			r = sys(j, errno, false, "keeping it for the sync");
	}
out:
	if (fd != -1)
		close(fd);
	close_loc(&l);
	return r;
}

static bool
is_config_type(unsigned type)
{
	return type >= RECORD_CONFIG_FILE && type <= RECORD_CONFIG_MANIFEST;
}

/* An entry excluded on this node is left as it is, whatever a record says. */
static bool
keep_excluded(void *arg, const char *path)
{
	const struct job *j = arg;

	return !confroots_covers(j->a->conf, j->op->root, path, strlen(path));
}

static int
set_aside(void *arg, const char *path)
{
	const struct job *j = arg;

	return j->a->aside(j->a->aside_arg, j->op->root, path);
}

/*
 * The folder holding a config entry, as its path names it now: one made
 * again, or replaced (a package reinstalled), is opened again, so records
 * land where the application reads them. The descriptor, or -1 with errno.
 */
static int
config_root_fd(struct applier *a, unsigned root)
{
	const struct confroot *r = confroots_at(a->conf, root);
	struct stat now, held;
	int fd;

	if (stat(r->parent, &now) == -1 && (errno != ENOENT || mkdir_p(r->parent, 0755) == -1 ||
	    stat(r->parent, &now) == -1))
		return -1;
	if (fstat(a->roots[root], &held) == 0 && held.st_dev == now.st_dev &&
	    held.st_ino == now.st_ino)
		return a->roots[root];
	if ((fd = open(r->parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	log_info("applier: the folder %s holding config entry %s is another one now: "
	    "applying there", r->parent, r->entry);
	close(a->roots[root]);
	a->roots[root] = fd;
	return fd;
}

int
applier_config_fd(struct applier *a, unsigned root)
{
	if (a->conf == NULL || root >= a->nroots || confroots_at(a->conf, root) == NULL) {
		errno = EINVAL;
		return -1;
	}
	return config_root_fd(a, root);
}

/*
 * A config root takes CONFIG ops within its entry, and nothing else; a data
 * root takes no CONFIG op. An excluded path is skipped: the active never
 * sends one unless the nodes' configurations differ, which is reported.
 */
static enum apply_result
apply_config(struct applier *a, const struct job *j)
{
	const struct op *op = j->op;
	const struct confroot *r = a->conf != NULL ? confroots_at(a->conf, op->root) : NULL;
	char q[OP_QUOTE_SIZE];

	if (r == NULL)
		return say(j, APPLY_REFUSED, "root %u is not a [protect] config entry here",
		    op->root);
	if (!is_config_type(op->type))
		return say(j, APPLY_REFUSED, "a data op for root %u, a [protect] config entry",
		    op->root);
	if (!confroot_inside(r, op->path, op->path_len))
		return say(j, APPLY_REFUSED, "the path lies outside config entry %s", r->entry);
	if (op->type == RECORD_CONFIG_MANIFEST)
		return APPLY_OK;                    /* compared by the caller before */
	if (!confroots_covers(a->conf, op->root, op->path, op->path_len)) {
		log_warnx("applier: seq %llu: %s is excluded here ([protect] exclude); left as it "
		    "is (do the nodes' configurations differ?)", (unsigned long long)j->seq,
		    op_quote(op->path, op->path_len, q));
		return APPLY_OK;
	}
	struct confop_env env = { .keep = keep_excluded,
	    .aside = a->aside != NULL ? set_aside : NULL, .arg = (void *)j };
	int fd = config_root_fd(a, op->root);

	if (fd == -1)
		return sys(j, errno, false, "opening the folder holding the config entry");
	return confop_apply(fd, op, &env, j->why, j->whylen);
}

void
applier_config_roots(struct applier *a, const struct confroots *cr, applier_aside_fn *aside,
    void *arg)
{
	a->conf = cr;
	a->aside = aside;
	a->aside_arg = arg;
}

enum apply_result
applier_apply(struct applier *a, const struct record_hdr *h, const struct op *op, char *why,
    size_t whylen)
{
	struct job j = { .a = a, .op = op, .seq = h->seq, .why = why, .whylen = whylen };
	enum apply_result r;

	why_printf(why, whylen, "%s", "");
	if (a->pos.seq != 0 && h->seq <= a->pos.seq)
		return APPLY_OK;                    /* replay of what is applied */
	if (a->pos.seq != 0 && h->seq != a->pos.seq + 1)
		return say(&j, APPLY_REFUSED, "after seq %llu: records are missing",
		    (unsigned long long)a->pos.seq);
	if (h->epoch < a->pos.epoch)
		return say(&j, APPLY_REFUSED, "epoch %llu below the position's %llu",
		    (unsigned long long)h->epoch, (unsigned long long)a->pos.epoch);
	if (a->intent) {
		/* A retry of the op whose intent is pending after a failure. */
		if (h->seq != a->ipos.seq || h->epoch != a->ipos.epoch || h->type != a->itype)
			return say(&j, APPLY_REFUSED, "a %s of epoch %llu seq %llu is pending",
			    record_type_name(a->itype), (unsigned long long)a->ipos.epoch,
			    (unsigned long long)a->ipos.seq);
		return resolve(a, why, whylen);
	}
	if ((r = check_op(a, h, &j)) != APPLY_OK)
		return r;
	if ((a->conf != NULL && confroots_at(a->conf, op->root) != NULL) ||
	    is_config_type(h->type))
		r = apply_config(a, &j);
	else if (h->type == RECORD_CREATE && !(op->flags & OP_CREATE_EXCL))
		r = apply_create(a, h, &j);
	else if (!record_is_state_setting(h->type))
		return apply_entry(a, h, &j);
	else
		r = apply_state(a, &j);
	if (r == APPLY_OK || r == APPLY_DIVERGED) {
		a->pos.epoch = h->epoch;
		a->pos.seq = h->seq;
	}
	return r;
}

/*
 * Make what was applied durable: the files first, then the position. If
 * the files cannot be synced, what they hold is in doubt, so the position
 * falls back to the durable one and the caller applies again from there.
 */
int
applier_sync(struct applier *a, char *err, size_t errlen)
{
	if (flush_dirty(a) == -1) {
		why_printf(err, errlen, "syncing the files applied after seq %llu: %s",
		    (unsigned long long)a->durable.seq, strerror(errno));
		a->pos = a->durable;
		return -1;
	}
	if (a->pos.seq == a->durable.seq && a->pos.epoch == a->durable.epoch)
		return 0;
	if (pos_write(a, a->pos) == -1) {
		why_printf(err, errlen, "writing the position seq %llu: %s",
		    (unsigned long long)a->pos.seq, strerror(errno));
		return -1;
	}
	return 0;
}

int
applier_set_pos(struct applier *a, struct apply_pos pos, char *err, size_t errlen)
{
	if (a->intent) {
		why_printf(err, errlen, "a %s of seq %llu is pending", record_type_name(a->itype),
		    (unsigned long long)a->ipos.seq);
		return -1;
	}
	if (applier_sync(a, err, errlen) == -1)
		return -1;
	if (pos_write(a, pos) == -1) {
		why_printf(err, errlen, "writing the position seq %llu: %s",
		    (unsigned long long)pos.seq, strerror(errno));
		return -1;
	}
	a->pos = pos;
	return 0;
}

struct apply_pos
applier_pos(const struct applier *a)
{
	return a->pos;
}

int
applier_openat(const struct applier *a, unsigned root, const char *path, int flags, mode_t mode)
{
	if (root >= a->nroots || path == NULL || !op_path_valid(path, strlen(path))) {
		errno = EINVAL;
		return -1;
	}
	return beneath(a->roots[root], path[0] == '\0' ? "." : path, flags | O_NOFOLLOW, mode);
}

struct applier *
applier_open(const char *const *roots, size_t nroots, const char *pos_path, char *err,
    size_t errlen)
{
	struct applier *a = xcalloc(1, sizeof(*a));
	enum apply_result r;
	char why[512];
	size_t i;

	a->posfd = -1;
	a->nroots = nroots;
	a->roots = xcalloc(nroots + 1, sizeof(*a->roots));
	a->need_syncfs = xcalloc(nroots + 1, sizeof(*a->need_syncfs));
	for (i = 0; i < nroots; i++)
		a->roots[i] = -1;
	for (i = 0; i < nroots; i++) {
		if ((a->roots[i] = open(roots[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
			why_printf(err, errlen, "%s: %s", roots[i], strerror(errno));
			goto fail;
		}
	}
	if (pos_open(a, pos_path, err, errlen) == -1)
		goto fail;
	if (a->intent) {
		/* A crash left an entry op under way: finish it before anything else. */
		if (a->ipos.seq != a->pos.seq + 1 && a->pos.seq != 0) {
			why_printf(err, errlen, "%s: intent of seq %llu after position %llu", pos_path,
			    (unsigned long long)a->ipos.seq, (unsigned long long)a->pos.seq);
			goto fail;
		}
		r = resolve(a, why, sizeof(why));
		if (r == APPLY_FAILED || r == APPLY_REFUSED) {
			why_printf(err, errlen, "%s: finishing the pending op: %s", pos_path, why);
			goto fail;
		}
		if (r == APPLY_DIVERGED)
			log_warnx("applier: pending op after a crash: %s", why);
		else
			log_info("applier: finished the %s of seq %llu left pending by a crash",
			    record_type_name(a->itype), (unsigned long long)a->ipos.seq);
	}
	return a;
fail:
	applier_close(a);
	return NULL;
}

/* Close without losing what was applied: a last sync, logged if it fails. */
void
applier_close(struct applier *a)
{
	char err[256];
	size_t i;

	if (a == NULL)
		return;
	if (a->posfd != -1 && applier_sync(a, err, sizeof(err)) == -1)
		log_warnx("applier: %s", err);
	for (i = 0; i < a->ndirty; i++)
		close(a->dirty[i].fd);
	for (i = 0; i < a->nroots; i++)
		if (a->roots[i] != -1)
			close(a->roots[i]);
	if (a->posfd != -1)
		close(a->posfd);
	free(a->roots);
	free(a->need_syncfs);
	free(a);
}
