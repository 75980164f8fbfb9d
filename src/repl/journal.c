/*
 * The journal: owns the folder of segment files, the order of appends, the
 * group commit that makes them durable, the consumers whose progress lets
 * old segments go, and the readers that ship or apply records in order.
 *
 * A segment is "<first seq, 16 lowercase hex digits>.seg": a 64-byte header,
 * then records back to back as record.h encodes them. The header, big-endian:
 *    0 u32 magic "LLSG"   4 u16 version   6 u16 flags (none yet, zero)
 *    8 u64 first_seq      the seq of its first record, also its file name
 *   16 u64 epoch_floor    the journal's last epoch when it was made: what an
 *                         empty segment remembers of the epoch order
 *   24 u64 segment_bytes  the size limit in force when it was made (a note)
 *   32 u64 created        wall clock, ms since 1970 (a note)
 *   40 u8[16] reserved    zero on write, ignored on read
 *   56 u64 checksum       XXH3-64 of bytes 0..55
 * Only the last segment may hold no record. A segment is made beside its
 * name as NAME.tmp, fsynced, then renamed, so a named segment always has a
 * whole header; a leftover .tmp is removed by journal_open.
 *
 * Durability: every segment before the last is fsynced (with the folder)
 * when the next one is started, so a crash can never leave a seq gap
 * between segments; journal_sync then only needs the last segment and,
 * after a rollover, the folder.
 *
 * Spares: a segment every consumer is done with is renamed
 * "<first seq>.spare" (up to JOURNAL_SPARES of them) instead of being
 * deleted, and the next new segment is made from it: its header is
 * rewritten and its records overwrite the old ones in place. On ext4 an
 * fdatasync of an append must commit the file's new size in the file
 * system's own journal, beside the application's fsync of its data; an
 * overwrite within the file's size needs only the data written and the
 * disk's cache flushed. Whatever a spare held past the last record is
 * stale: each record written short of the file's end is followed by
 * JOURNAL_GUARD zero bytes, and a tail that starts with zeros is the clean
 * end of a segment, not a torn record. Spares are dropped whenever seqs
 * go back (journal_truncate_after, a restart at another seq), so a stale
 * record can never carry the seq that follows the last one.
 *
 * Written ahead: a segment made new (no spare) grows as records are
 * appended, and each growth costs the next sync that commit. So before a
 * small record would grow it, JOURNAL_AHEAD bytes of zeros are written
 * past the end first (one commit per MiB instead of one per sync). Big
 * records are not worth it: writing zeros ahead of 1 MiB writes would
 * double what the journal writes, where growing costs one commit per MiB
 * anyway.
 */
#include "repl/journal.h"
#include "common/bytes.h"
#include "common/log.h"
#include "common/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

/* Offsets of the fields in the segment header. */
#define SEG_MAGIC         0x4c4c5347u    /* "LLSG" */
#define SEG_VERSION       1
#define SEG_RESERVED      16
#define SOFF_MAGIC        0
#define SOFF_VERSION      4
#define SOFF_FLAGS        6
#define SOFF_FIRST_SEQ    8
#define SOFF_EPOCH_FLOOR  16
#define SOFF_SEG_BYTES    24
#define SOFF_CREATED      32
#define SOFF_RESERVED     40
#define SOFF_CHECKSUM     56
#define SEG_HDR           JOURNAL_SEGMENT_HDR_SIZE

_Static_assert(4 + 2 + 2 + 8 + 8 + 8 + 8 + SEG_RESERVED + 8 == SEG_HDR,
    "segment header layout");
_Static_assert(SOFF_RESERVED + SEG_RESERVED == SOFF_CHECKSUM, "reserved before checksum");
_Static_assert(SOFF_CHECKSUM + 8 == SEG_HDR, "checksum ends the header");

/*
 * The record header's length field, at the offset record.h documents: the
 * reader and the recovery walk need a record's size before they have all of
 * its bytes. record_decode still judges every record before it is used.
 */
#define REC_OFF_LENGTH    24

#define SEG_NAME_LEN      (16 + 4)       /* "%016x.seg" */
#define SPARE_SUFFIX      ".spare"
#define SPARE_NAME_LEN    (16 + 6)       /* "%016x.spare" */
#define JOURNAL_SPARES    2              /* one is enough while a passive keeps up */
#define JOURNAL_GUARD     RECORD_HDR_SIZE  /* zeros after a record written inside a spare */
#define JOURNAL_AHEAD     (1024u * 1024)   /* zeros written ahead of small records */
#define AHEAD_RECORD_MAX  (JOURNAL_AHEAD / 4)
#define SEG_MIN_BYTES     (1024u * 1024)
#define READAHEAD         (256u * 1024)

struct seg {
	uint64_t	 first;        /* seq of its first record (its name) */
	uint64_t	 nrec;         /* records in it; only the last may have none */
	uint64_t	 size;         /* bytes in the file: header and whole records */
	uint64_t	 floor;        /* epoch_floor of its header */
};

struct consumer {
	bool		 used;
	bool		 overflowed;
	unsigned	 gen;          /* bumped at add and remove: waiters notice */
	char		 name[32];
	uint64_t	 done;
};

struct journal_reader {
	struct journal	*j;
	LIST_ENTRY(journal_reader) entry;
	bool		 registered;
	bool		 durable_only;
	uint64_t	 next;         /* seq to return next; changed under the lock */
	uint64_t	 gen;          /* j->gen when its position was last trusted */
	char		 gone[256];    /* set under the lock when its records are cut */
	/* Private to the reader's thread. */
	int		 fd;
	uint64_t	 seg_first;
	uint64_t	 off;          /* where record next (or one before it) starts */
	uint8_t		*buf;
	size_t		 cap;
	uint64_t	 buf_off;      /* file offset of buf[0] */
	size_t		 buf_len;
};

struct journal {
	pthread_mutex_t	 mu;
	pthread_cond_t	 appended;     /* an append, or durable_seq moved */
	pthread_cond_t	 synced;       /* a group commit ended */
	pthread_cond_t	 done;         /* a consumer moved, or went */
	char		*dir;
	int		 dirfd;
	uint64_t	 seg_bytes;
	uint64_t	 quota;
	bool		 write_ahead;

	struct seg	*segs;         /* by first seq */
	size_t		 nsegs, segcap;
	int		 fd;           /* the last segment; -1 if none */
	uint64_t	 fd_end;       /* bytes in that file: records, then stale or zeros */
	uint64_t	 bytes;        /* sum of segs[].size */
	char		 spares[JOURNAL_SPARES][SPARE_NAME_LEN + 1];
	size_t		 nspares;
	bool		 dir_dirty;    /* a segment was named since the last fsync of dir */

	uint64_t	 next_seq;     /* seq the next record gets */
	uint64_t	 last_epoch;
	uint64_t	 durable_seq;
	uint64_t	 gen;          /* bumped whenever seqs are taken back */
	bool		 syncing;
	char		 broken[320];  /* set once the files are in an unknown state */

	uint8_t		*wbuf;
	size_t		 wcap;
	struct consumer	 consumers[JOURNAL_MAX_CONSUMERS];
	LIST_HEAD(, journal_reader) readers;
};

/* Where the next record of a reader lies, as seen under the lock. */
struct plan {
	uint64_t	 first;        /* segment holding it */
	uint64_t	 end;          /* bytes of whole records in that segment */
};

static void fail(char *, size_t, const char *, ...) __attribute__((format(printf, 3, 4)));

static void
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void
seg_name(char name[SEG_NAME_LEN + 1], uint64_t first)
{
	snprintf(name, SEG_NAME_LEN + 1, "%016" PRIx64 ".seg", first);
}

/* A segment's name gives its first seq; anything else is not a segment. */
static bool
seg_parse_name(const char *name, uint64_t *first)
{
	uint64_t v = 0;
	int i;

	if (strlen(name) != SEG_NAME_LEN || strcmp(name + 16, ".seg") != 0)
		return false;
	for (i = 0; i < 16; i++) {
		char c = name[i];

		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return false;
	}
	*first = v;
	return true;
}

static bool
has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void
seghdr_encode(uint8_t *b, uint64_t first, uint64_t floor, uint64_t seg_bytes)
{
	memset(b, 0, SEG_HDR);
	put32(b + SOFF_MAGIC, SEG_MAGIC);
	put16(b + SOFF_VERSION, SEG_VERSION);
	put16(b + SOFF_FLAGS, 0);
	put64(b + SOFF_FIRST_SEQ, first);
	put64(b + SOFF_EPOCH_FLOOR, floor);
	put64(b + SOFF_SEG_BYTES, seg_bytes);
	put64(b + SOFF_CREATED, now_wall_ms());
	put64(b + SOFF_CHECKSUM, XXH3_64bits(b, SOFF_CHECKSUM));
}

/* Check a segment header; why says what is wrong and what was expected. */
static int
seghdr_decode(const uint8_t *b, uint64_t *first, uint64_t *floor, char *why, size_t whylen)
{
	uint64_t got, want;
	uint32_t magic;
	uint16_t version;

	if ((magic = get32(b + SOFF_MAGIC)) != SEG_MAGIC) {
		fail(why, whylen, "bad segment magic 0x%08x, expected 0x%08x (\"LLSG\")", magic,
		    SEG_MAGIC);
		return -1;
	}
	if ((version = get16(b + SOFF_VERSION)) != SEG_VERSION) {
		fail(why, whylen, "segment version %u, expected %u", version, SEG_VERSION);
		return -1;
	}
	got = get64(b + SOFF_CHECKSUM);
	want = XXH3_64bits(b, SOFF_CHECKSUM);
	if (got != want) {
		fail(why, whylen, "segment header checksum 0x%016" PRIx64 ", expected 0x%016"
		    PRIx64, got, want);
		return -1;
	}
	*first = get64(b + SOFF_FIRST_SEQ);
	*floor = get64(b + SOFF_EPOCH_FLOOR);
	return 0;
}

/* Write len bytes at off, then guard zero bytes after them (guard <= JOURNAL_GUARD). */
static int
pwrite_guarded(int fd, const uint8_t *p, size_t len, uint64_t off, size_t guard)
{
	static const uint8_t zeros[JOURNAL_GUARD];
	struct iovec iov[2] = { { (void *)p, len }, { (void *)zeros, guard } };
	int cnt = guard > 0 ? 2 : 1;
	ssize_t n;

	while (iov[0].iov_len + iov[1].iov_len > 0) {
		n = pwritev(fd, iov, cnt, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = ENOSPC;
			return -1;
		}
		off += (uint64_t)n;
		for (int i = 0; i < 2 && n > 0; i++) {
			size_t k = (size_t)n < iov[i].iov_len ? (size_t)n : iov[i].iov_len;

			iov[i].iov_base = (uint8_t *)iov[i].iov_base + k;
			iov[i].iov_len -= k;
			n -= (ssize_t)k;
		}
		if (iov[0].iov_len == 0 && cnt == 2) {
			iov[0] = iov[1];
			iov[1].iov_len = 0;
			cnt = 1;
		}
	}
	return 0;
}

/* True when the len bytes at p are zero: the clean end of a segment made from a spare. */
static bool
all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != 0)
			return false;
	return true;
}

static int
write_all(int fd, const uint8_t *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = ENOSPC;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void
deadline_after(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Wait on cv until the deadline (NULL: forever). ETIMEDOUT once it passed. */
static int
wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, const struct timespec *deadline)
{
	if (deadline == NULL)
		return pthread_cond_wait(cv, mu);
	return pthread_cond_timedwait(cv, mu, deadline);
}

static void
cond_init_mono(pthread_cond_t *cv)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	if (pthread_condattr_setclock(&a, CLOCK_MONOTONIC) != 0)
		fatalx("pthread_condattr_setclock CLOCK_MONOTONIC");
	pthread_cond_init(cv, &a);
	pthread_condattr_destroy(&a);
}

/* The journal holds no record at all (it may still know a last seq). */
static bool
is_empty(const struct journal *j)
{
	return j->nsegs == 0 || j->segs[0].nrec == 0;
}

static uint64_t
first_seq_locked(const struct journal *j)
{
	return is_empty(j) ? 0 : j->segs[0].first;
}

static uint64_t
seg_last(const struct seg *s)
{
	return s->first + s->nrec - 1;
}

/* Index of the segment holding seq, which must lie in the journal. */
static size_t
seg_find(const struct journal *j, uint64_t seq)
{
	size_t lo = 0, hi = j->nsegs;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (j->segs[mid].first <= seq)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static void
seg_push(struct journal *j, const struct seg *s)
{
	if (j->nsegs == j->segcap) {
		j->segcap = j->segcap ? 2 * j->segcap : 16;
		j->segs = xrealloc(j->segs, j->segcap * sizeof(*j->segs));
	}
	j->segs[j->nsegs++] = *s;
	j->bytes += s->size;
}

static int
seg_cmp(const void *a, const void *b)
{
	const struct seg *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

static void
set_broken(struct journal *j, const char *what)
{
	if (j->broken[0] == '\0') {
		xstrlcpy(j->broken, what, sizeof(j->broken));
		log_warnx("journal %s: %s; no more appends or syncs until it is reopened",
		    j->dir, what);
	}
}

/*
 * Read one segment at open: check its header against its name and its
 * neighbour, scan its records, and cut a torn or corrupt tail if it is the
 * last one (an earlier segment was fsynced whole before the next began, so
 * damage there is not a crash's doing and cutting it would lose what
 * follows). The kept bytes are fsynced: what a crashed process left in the
 * page cache becomes durable before anyone is told it is.
 */
static int
load_segment(struct journal *j, size_t i, struct journal_recovery *rec, uint64_t *last_epoch,
    char *err, size_t errlen)
{
	struct seg *s = &j->segs[i];
	bool last = i + 1 == j->nsegs;
	char name[SEG_NAME_LEN + 1], why[256];
	struct record_hdr h0, hl;
	uint64_t first, floor, lastseq = 0;
	uint8_t *map = MAP_FAILED;
	size_t len = 0, valid, p, lastp;
	struct stat st;
	size_t tail;
	bool clean;
	int fd, rc = -1;

	seg_name(name, s->first);
	fd = openat(j->dirfd, name, O_RDWR | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fail(err, errlen, "%s/%s: %s", j->dir, name, strerror(errno));
		goto out;
	}
	len = (size_t)st.st_size;
	if (len < SEG_HDR) {
		fail(err, errlen, "%s/%s: %zu bytes, expected at least the %d-byte segment "
		    "header", j->dir, name, len, SEG_HDR);
		goto out;
	}
	map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		fail(err, errlen, "%s/%s: mmap: %s", j->dir, name, strerror(errno));
		goto out;
	}
	if (seghdr_decode(map, &first, &floor, why, sizeof(why)) < 0) {
		fail(err, errlen, "%s/%s: %s", j->dir, name, why);
		goto out;
	}
	if (first != s->first) {
		fail(err, errlen, "%s/%s: header says first seq %" PRIu64 ", expected %" PRIu64
		    " as its name says", j->dir, name, first, s->first);
		goto out;
	}
	s->floor = floor;
	if (i > 0 && s->first != j->segs[i - 1].first + j->segs[i - 1].nrec) {
		fail(err, errlen, "%s/%s: seq gap: starts at %" PRIu64 ", expected %" PRIu64
		    " after the previous segment", j->dir, name, s->first,
		    j->segs[i - 1].first + j->segs[i - 1].nrec);
		goto out;
	}

	valid = record_scan(map + SEG_HDR, len - SEG_HDR, &lastseq, why, sizeof(why));
	tail = len - SEG_HDR - valid;
	clean = tail == 0 || all_zero(map + SEG_HDR + valid, tail < JOURNAL_GUARD ? tail :
	    JOURNAL_GUARD);
	if (!clean && !last) {
		fail(err, errlen, "%s/%s: %s; expected whole valid records up to the end of a "
		    "segment that is not the last", j->dir, name, why);
		goto out;
	}
	s->nrec = 0;
	if (valid > 0) {
		record_decode(map + SEG_HDR, valid, &h0, NULL, NULL, 0);
		if (h0.seq != s->first) {
			fail(err, errlen, "%s/%s: first record has seq %" PRIu64 ", expected %"
			    PRIu64 " as the header says", j->dir, name, h0.seq, s->first);
			goto out;
		}
		if (h0.epoch < floor || h0.epoch < *last_epoch) {
			fail(err, errlen, "%s/%s: first record has epoch %" PRIu64 ", expected at "
			    "least %" PRIu64, j->dir, name, h0.epoch,
			    floor > *last_epoch ? floor : *last_epoch);
			goto out;
		}
		/* The prefix is valid: find the last record by its lengths alone. */
		for (p = lastp = 0; p < valid; p += RECORD_HDR_SIZE +
		    get32(map + SEG_HDR + p + REC_OFF_LENGTH))
			lastp = p;
		record_decode(map + SEG_HDR + lastp, valid - lastp, &hl, NULL, NULL, 0);
		s->nrec = lastseq - s->first + 1;
		*last_epoch = hl.epoch;
	} else if (floor > *last_epoch)
		*last_epoch = floor;
	s->size = SEG_HDR + valid;
	if (last)
		j->fd_end = clean ? len : s->size;

	if (!clean) {
		if (ftruncate(fd, (off_t)s->size) < 0) {
			fail(err, errlen, "%s/%s: cutting the tail at %" PRIu64 ": %s", j->dir,
			    name, s->size, strerror(errno));
			goto out;
		}
		rec->cut = true;
		rec->cut_bytes = len - s->size;
		snprintf(rec->cut_path, sizeof(rec->cut_path), "%s/%s", j->dir, name);
		xstrlcpy(rec->cut_why, why, sizeof(rec->cut_why));
		log_warnx("journal %s/%s: cut %" PRIu64 " bytes at offset %" PRIu64 ": %s",
		    j->dir, name, rec->cut_bytes, s->size, why);
	}
	if (fdatasync(fd) < 0) {
		fail(err, errlen, "%s/%s: fdatasync: %s", j->dir, name, strerror(errno));
		goto out;
	}
	j->bytes += s->size;
	rc = 0;
out:
	if (map != MAP_FAILED)
		munmap(map, len);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* List the segments, remove leftover temporary files. */
static int
list_segments(struct journal *j, char *err, size_t errlen)
{
	struct dirent *de;
	struct seg s = { 0 };
	bool removed = false;
	DIR *d;
	int fd;

	if ((fd = dup(j->dirfd)) < 0 || (d = fdopendir(fd)) == NULL) {
		fail(err, errlen, "%s: %s", j->dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (has_suffix(de->d_name, ".tmp")) {
			if (unlinkat(j->dirfd, de->d_name, 0) < 0)
				log_warn("journal %s/%s: removing a leftover", j->dir, de->d_name);
			else
				log_info("journal %s/%s: removed a leftover temporary file",
				    j->dir, de->d_name);
			removed = true;
		} else if (seg_parse_name(de->d_name, &s.first))
			seg_push(j, &s);
		else if (strlen(de->d_name) == SPARE_NAME_LEN && has_suffix(de->d_name, SPARE_SUFFIX)) {
			if (j->nspares < JOURNAL_SPARES)
				xstrlcpy(j->spares[j->nspares++], de->d_name, SPARE_NAME_LEN + 1);
			else if (unlinkat(j->dirfd, de->d_name, 0) < 0)
				log_warn("journal %s/%s: removing a spare segment", j->dir, de->d_name);
		} else
			log_warnx("journal %s/%s: not a segment, left alone", j->dir, de->d_name);
	}
	closedir(d);
	j->bytes = 0;   /* load_segment counts the bytes it keeps */
	if (j->nsegs > 1)
		qsort(j->segs, j->nsegs, sizeof(*j->segs), seg_cmp);
	if (removed && fsync(j->dirfd) < 0) {
		fail(err, errlen, "%s: fsync: %s", j->dir, strerror(errno));
		return -1;
	}
	return 0;
}

struct journal *
journal_open(const struct journal_opts *o, struct journal_recovery *rec, char *err,
    size_t errlen)
{
	struct journal_recovery dummy;
	struct journal *j;
	char name[SEG_NAME_LEN + 1];
	uint64_t last_epoch = 0;
	size_t i;

	if (rec == NULL)
		rec = &dummy;
	memset(rec, 0, sizeof(*rec));
	if (o->dir == NULL || o->dir[0] == '\0') {
		fail(err, errlen, "journal: no folder given");
		return NULL;
	}
	if (o->segment_bytes != 0 && o->segment_bytes < SEG_MIN_BYTES) {
		fail(err, errlen, "journal %s: segment size %" PRIu64 " bytes, expected at "
		    "least %u (1 MiB)", o->dir, o->segment_bytes, SEG_MIN_BYTES);
		return NULL;
	}
	j = xcalloc(1, sizeof(*j));
	pthread_mutex_init(&j->mu, NULL);
	cond_init_mono(&j->appended);
	cond_init_mono(&j->synced);
	cond_init_mono(&j->done);
	LIST_INIT(&j->readers);
	j->dir = xstrdup(o->dir);
	j->dirfd = -1;
	j->fd = -1;
	j->seg_bytes = o->segment_bytes ? o->segment_bytes : JOURNAL_SEGMENT_DEFAULT;
	j->quota = o->quota_bytes;
	j->write_ahead = o->write_ahead;

	if (mkdir_p(j->dir, 0700) < 0 ||
	    (j->dirfd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		fail(err, errlen, "journal %s: %s", j->dir, strerror(errno));
		goto fail;
	}
	if (list_segments(j, err, errlen) < 0)
		goto fail;
	for (i = 0; i < j->nsegs; i++)
		if (load_segment(j, i, rec, &last_epoch, err, errlen) < 0)
			goto fail;
	if (j->nsegs > 0) {
		struct seg *s = &j->segs[j->nsegs - 1];

		seg_name(name, s->first);
		j->fd = openat(j->dirfd, name, O_WRONLY | O_CLOEXEC);
		if (j->fd < 0) {
			fail(err, errlen, "%s/%s: %s", j->dir, name, strerror(errno));
			goto fail;
		}
		j->next_seq = s->first + s->nrec;
	} else
		j->next_seq = 1;
	if (fsync(j->dirfd) < 0) {
		fail(err, errlen, "%s: fsync: %s", j->dir, strerror(errno));
		goto fail;
	}
	j->last_epoch = last_epoch;
	j->durable_seq = j->next_seq - 1;

	rec->first_seq = first_seq_locked(j);
	rec->last_seq = is_empty(j) ? 0 : j->next_seq - 1;
	rec->last_epoch = last_epoch;
	rec->segments = j->nsegs;
	return j;
fail:
	journal_close(j);
	return NULL;
}

void
journal_close(struct journal *j)
{
	if (j == NULL)
		return;
	if (!LIST_EMPTY(&j->readers))
		fatalx("journal_close %s: a reader is still open", j->dir);
	if (j->fd >= 0)
		close(j->fd);
	if (j->dirfd >= 0)
		close(j->dirfd);
	pthread_cond_destroy(&j->appended);
	pthread_cond_destroy(&j->synced);
	pthread_cond_destroy(&j->done);
	pthread_mutex_destroy(&j->mu);
	free(j->segs);
	free(j->wbuf);
	free(j->dir);
	free(j);
}

void
journal_lock(struct journal *j)
{
	pthread_mutex_lock(&j->mu);
}

void
journal_unlock(struct journal *j)
{
	pthread_mutex_unlock(&j->mu);
}

/*
 * A spare renamed to tmp and opened for writing, its size in *end; -1 when
 * there is none (or it cannot be had: then it is dropped, and a new file
 * will do).
 */
static int
take_spare(struct journal *j, const char *tmp, uint64_t *end)
{
	struct stat st;
	int fd;

	while (j->nspares > 0) {
		const char *spare = j->spares[--j->nspares];

		if (renameat(j->dirfd, spare, j->dirfd, tmp) < 0) {
			log_warn("journal %s/%s: reusing a spare segment", j->dir, spare);
			continue;
		}
		if ((fd = openat(j->dirfd, tmp, O_WRONLY | O_CLOEXEC)) >= 0 && fstat(fd, &st) == 0) {
			*end = (uint64_t)st.st_size;
			return fd;
		}
		log_warn("journal %s/%s: opening a reused spare segment", j->dir, tmp);
		if (fd >= 0)
			close(fd);
		unlinkat(j->dirfd, tmp, 0);
	}
	return -1;
}

/*
 * Drop every spare, before seqs go back: a spare's stale records could
 * otherwise carry the seqs about to be written. The caller fsyncs the
 * folder before the journal takes a lower seq. -1 (errno) if one stays.
 */
static int
drop_spares(struct journal *j)
{
	while (j->nspares > 0) {
		const char *spare = j->spares[j->nspares - 1];

		if (unlinkat(j->dirfd, spare, 0) < 0 && errno != ENOENT)
			return -1;
		j->nspares--;
	}
	return 0;
}

/*
 * Start the segment whose first record is first. The segment being left is
 * fsynced first, with the folder if a name in it is not yet durable: a crash
 * must never keep a later segment and lose the end of an earlier one, which
 * journal_open would rightly call a gap. This costs appends up to three
 * fsyncs once per segment, never per record.
 */
static int
new_segment(struct journal *j, uint64_t first, char *err, size_t errlen)
{
	char name[SEG_NAME_LEN + 1], tmp[SEG_NAME_LEN + 5];
	uint8_t hdr[SEG_HDR];
	struct seg s = { .first = first, .size = SEG_HDR, .floor = j->last_epoch };
	uint64_t end;
	int fd;

	if (j->fd >= 0 && fdatasync(j->fd) < 0) {
		fail(err, errlen, "%s: fdatasync of the full segment: %s", j->dir,
		    strerror(errno));
		set_broken(j, err);
		return -1;
	}
	if (j->dir_dirty && fsync(j->dirfd) < 0) {
		fail(err, errlen, "%s: fsync: %s", j->dir, strerror(errno));
		set_broken(j, err);
		return -1;
	}
	j->dir_dirty = false;

	seg_name(name, first);
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	seghdr_encode(hdr, first, j->last_epoch, j->seg_bytes);
	if ((fd = take_spare(j, tmp, &end)) < 0) {
		fd = openat(j->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		end = SEG_HDR;
	}
	if (fd < 0 || pwrite_guarded(fd, hdr, sizeof(hdr), 0, end > SEG_HDR ? JOURNAL_GUARD : 0) < 0 ||
	    fdatasync(fd) < 0 || renameat2(j->dirfd, tmp, j->dirfd, name, RENAME_NOREPLACE) < 0) {
		fail(err, errlen, "%s/%s: starting a segment: %s", j->dir, name,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		unlinkat(j->dirfd, tmp, 0);
		return -1;
	}
	if (j->fd >= 0)
		close(j->fd);
	j->fd = fd;
	j->fd_end = end > SEG_HDR + JOURNAL_GUARD ? end : SEG_HDR;
	j->dir_dirty = true;
	seg_push(j, &s);
	return 0;
}

/*
 * Zeros from the end of the last segment's file up to end (at most the
 * segment size, at least the record's end). A failure only loses the
 * speed-up: the record is then written as an append.
 */
static void
write_ahead(struct journal *j, uint64_t end)
{
	static const uint8_t zeros[64 * 1024];
	uint64_t off = j->fd_end;
	ssize_t k;

	if (end > j->seg_bytes)
		end = j->seg_bytes;
	while (off < end) {
		size_t len = end - off < sizeof(zeros) ? (size_t)(end - off) : sizeof(zeros);

		if ((k = pwrite(j->fd, zeros, len, (off_t)off)) <= 0) {
			if (k < 0 && errno == EINTR)
				continue;
			break;
		}
		off += (uint64_t)k;
	}
	j->fd_end = off;
}

/*
 * Write one encoded record at the end of the journal, starting a segment if
 * this one is full (a record larger than a segment gets one of its own). A
 * failed write is cut back so that no partial record stays behind; if even
 * that fails, the journal refuses everything until it is reopened.
 */
static int
write_record(struct journal *j, const uint8_t *buf, size_t n, uint64_t seq, uint64_t epoch,
    char *err, size_t errlen)
{
	char name[SEG_NAME_LEN + 1];
	struct seg *cur;
	size_t guard;
	int saved;

	cur = j->nsegs > 0 ? &j->segs[j->nsegs - 1] : NULL;
	if (cur == NULL || (cur->nrec > 0 && cur->size + n > j->seg_bytes)) {
		if (new_segment(j, seq, err, errlen) < 0)
			return -1;
		cur = &j->segs[j->nsegs - 1];
	}
	if (j->write_ahead && cur->size + n > j->fd_end && n <= AHEAD_RECORD_MAX)
		write_ahead(j, cur->size + n + JOURNAL_AHEAD);
	guard = cur->size + n < j->fd_end ? JOURNAL_GUARD : 0;
	if (pwrite_guarded(j->fd, buf, n, cur->size, guard) < 0) {
		saved = errno;
		seg_name(name, cur->first);
		fail(err, errlen, "%s/%s: writing record %" PRIu64 ": %s", j->dir, name, seq,
		    strerror(saved));
		if (ftruncate(j->fd, (off_t)cur->size) < 0) {
			char what[300];

			snprintf(what, sizeof(what), "%s/%s: cannot cut a partial record "
			    "back to %" PRIu64 " bytes: %s", j->dir, name, cur->size,
			    strerror(errno));
			set_broken(j, what);
		}
		j->fd_end = cur->size;
		return -1;
	}
	cur->size += n;
	if (cur->size + guard > j->fd_end)
		j->fd_end = cur->size + guard;
	cur->nrec++;
	j->bytes += n;
	j->next_seq = seq + 1;
	j->last_epoch = epoch;
	pthread_cond_broadcast(&j->appended);
	return 0;
}

static int
check_append(struct journal *j, uint64_t epoch, char *err, size_t errlen)
{
	if (j->broken[0] != '\0') {
		fail(err, errlen, "journal %s failed earlier: %s", j->dir, j->broken);
		return -1;
	}
	if (epoch < j->last_epoch) {
		fail(err, errlen, "journal %s: epoch %" PRIu64 " below the last record's %"
		    PRIu64 "; epochs never fall", j->dir, epoch, j->last_epoch);
		return -1;
	}
	return 0;
}

int
journal_append_locked(struct journal *j, uint64_t epoch, unsigned type, const void *payload,
    size_t len, uint64_t *seq, char *err, size_t errlen)
{
	struct record_hdr h = { .type = (uint16_t)type, .epoch = epoch };
	size_t n;

	if (check_append(j, epoch, err, errlen) < 0)
		return -1;
	if (!record_type_valid(type) || len > RECORD_MAX_PAYLOAD) {
		fail(err, errlen, "journal %s: record type %u with %zu payload bytes, expected "
		    "a type %u to %u and at most %u bytes", j->dir, type, len, RECORD_TYPE_MIN,
		    RECORD_TYPE_MAX, RECORD_MAX_PAYLOAD);
		return -1;
	}
	h.seq = j->next_seq;
	h.length = (uint32_t)len;
	if (j->wcap < record_size(&h)) {
		free(j->wbuf);
		j->wcap = record_size(&h) > 4096 ? record_size(&h) : 4096;
		j->wbuf = xmalloc(j->wcap);
	}
	n = record_encode(j->wbuf, j->wcap, &h, payload);
	if (n == 0) {
		fail(err, errlen, "journal %s: record %" PRIu64 " does not encode", j->dir,
		    h.seq);
		return -1;
	}
	if (write_record(j, j->wbuf, n, h.seq, epoch, err, errlen) < 0)
		return -1;
	if (seq != NULL)
		*seq = h.seq;
	return 0;
}

int
journal_append(struct journal *j, uint64_t epoch, unsigned type, const void *payload,
    size_t len, uint64_t *seq, char *err, size_t errlen)
{
	int rc;

	journal_lock(j);
	rc = journal_append_locked(j, epoch, type, payload, len, seq, err, errlen);
	journal_unlock(j);
	return rc;
}

/*
 * An empty journal takes the first record from upstream at whatever seq it
 * has. If its empty last segment was named for another seq, that segment is
 * removed (durably, so it cannot come back beside the new one) and the
 * journal restarts at seq. Readers waiting at the old position are told.
 */
static int
restart_at(struct journal *j, uint64_t seq, char *err, size_t errlen)
{
	struct journal_reader *r;
	char name[SEG_NAME_LEN + 1];

	if (drop_spares(j) < 0 || fsync(j->dirfd) < 0) {
		fail(err, errlen, "%s: dropping the spare segments: %s", j->dir, strerror(errno));
		return -1;
	}
	if (j->nsegs > 0) {
		seg_name(name, j->segs[0].first);
		if (unlinkat(j->dirfd, name, 0) < 0 || fsync(j->dirfd) < 0) {
			fail(err, errlen, "%s/%s: removing the empty segment: %s", j->dir, name,
			    strerror(errno));
			return -1;
		}
		close(j->fd);
		j->fd = -1;
		j->nsegs = 0;
		j->bytes = 0;
		j->dir_dirty = false;
	}
	LIST_FOREACH(r, &j->readers, entry)
		if (r->next != seq)
			snprintf(r->gone, sizeof(r->gone), "journal %s restarted at seq %"
			    PRIu64 " from upstream; the reader waited for %" PRIu64, j->dir,
			    seq, r->next);
	j->next_seq = seq;
	j->durable_seq = seq - 1;
	j->gen++;
	return 0;
}

int
journal_append_record(struct journal *j, const uint8_t *rec, size_t len, char *err,
    size_t errlen)
{
	struct record_hdr h;
	char why[256];
	int rc = -1;

	if (record_decode(rec, len, &h, NULL, why, sizeof(why)) != 0) {
		fail(err, errlen, "journal %s: received record refused: %s", j->dir, why);
		return -1;
	}
	if (record_size(&h) != len) {
		fail(err, errlen, "journal %s: received %zu bytes, expected one record of %zu",
		    j->dir, len, record_size(&h));
		return -1;
	}
	if (h.seq == 0 || h.seq == UINT64_MAX) {
		fail(err, errlen, "journal %s: received record has seq %" PRIu64 ", expected "
		    "1 to %" PRIu64, j->dir, h.seq, UINT64_MAX - 1);
		return -1;
	}
	journal_lock(j);
	if (check_append(j, h.epoch, err, errlen) < 0)
		goto out;
	if (!is_empty(j) && h.seq != j->next_seq) {
		fail(err, errlen, "journal %s: received record has seq %" PRIu64 ", expected %"
		    PRIu64, j->dir, h.seq, j->next_seq);
		goto out;
	}
	if (h.seq != j->next_seq && restart_at(j, h.seq, err, errlen) < 0)
		goto out;
	rc = write_record(j, rec, len, h.seq, h.epoch, err, errlen);
out:
	journal_unlock(j);
	return rc;
}

/*
 * Group commit. One caller at a time runs fdatasync on the last segment
 * (and fsync on the folder after a rollover) with the lock released, so
 * appends go on meanwhile; it covers every record appended before it
 * started. Callers that come while it runs wait, and return at once if it
 * covered them; otherwise one of them runs the next. Earlier segments were
 * made durable when they were left (new_segment). If the seqs were taken
 * back while it ran (journal_truncate_after), durable_seq is not moved.
 * An fsync failure is final: the kernel may have dropped the pages, so a
 * later fsync that succeeds would prove nothing.
 */
int
journal_sync(struct journal *j, char *err, size_t errlen)
{
	uint64_t target, gen;
	bool dirty;
	int fd = -1, rc = 0;

	journal_lock(j);
	target = j->next_seq - 1;
	while (j->durable_seq < target) {
		if (j->broken[0] != '\0') {
			fail(err, errlen, "journal %s failed earlier: %s", j->dir, j->broken);
			rc = -1;
			break;
		}
		if (j->syncing) {
			pthread_cond_wait(&j->synced, &j->mu);
			continue;
		}
		j->syncing = true;
		target = j->next_seq - 1;
		gen = j->gen;
		dirty = j->dir_dirty;
		j->dir_dirty = false;
		fd = j->fd >= 0 ? dup(j->fd) : -1;
		if (j->fd >= 0 && fd < 0) {
			fail(err, errlen, "journal %s: dup: %s", j->dir, strerror(errno));
			j->dir_dirty |= dirty;
			j->syncing = false;
			pthread_cond_broadcast(&j->synced);
			rc = -1;
			break;
		}
		journal_unlock(j);

		if (fd >= 0 && fdatasync(fd) < 0) {
			fail(err, errlen, "journal %s: fdatasync: %s", j->dir, strerror(errno));
			rc = -1;
		} else if (dirty && fsync(j->dirfd) < 0) {
			fail(err, errlen, "journal %s: fsync of the folder: %s", j->dir,
			    strerror(errno));
			rc = -1;
		}
		if (fd >= 0)
			close(fd);

		journal_lock(j);
		j->syncing = false;
		if (rc < 0)
			set_broken(j, err);
		else if (gen == j->gen && target > j->durable_seq) {
			j->durable_seq = target;
			pthread_cond_broadcast(&j->appended);
		}
		pthread_cond_broadcast(&j->synced);
		if (rc < 0)
			break;
	}
	journal_unlock(j);
	return rc;
}

uint64_t
journal_first_seq(struct journal *j)
{
	uint64_t v;

	journal_lock(j);
	v = first_seq_locked(j);
	journal_unlock(j);
	return v;
}

uint64_t
journal_oldest_seq(struct journal *j)
{
	uint64_t v;

	journal_lock(j);
	v = is_empty(j) ? j->next_seq : j->segs[0].first;
	journal_unlock(j);
	return v;
}

uint64_t
journal_last_seq(struct journal *j)
{
	uint64_t v;

	journal_lock(j);
	v = j->next_seq - 1;
	journal_unlock(j);
	return v;
}

uint64_t
journal_last_epoch(struct journal *j)
{
	uint64_t v;

	journal_lock(j);
	v = j->last_epoch;
	journal_unlock(j);
	return v;
}

uint64_t
journal_durable_seq(struct journal *j)
{
	uint64_t v;

	journal_lock(j);
	v = j->durable_seq;
	journal_unlock(j);
	return v;
}

uint64_t
journal_bytes(struct journal *j)
{
	uint64_t v;

	journal_lock(j);
	v = j->bytes;
	journal_unlock(j);
	return v;
}

/* A consumed segment kept as a spare while there is room for one, else deleted. */
static bool
retire_segment(struct journal *j, const char *name, uint64_t first)
{
	if (j->nspares < JOURNAL_SPARES) {
		char *spare = j->spares[j->nspares];

		snprintf(spare, SPARE_NAME_LEN + 1, "%016" PRIx64 SPARE_SUFFIX, first);
		if (renameat(j->dirfd, name, j->dirfd, spare) == 0) {
			j->nspares++;
			return true;
		}
		log_warn("journal %s/%s: keeping a consumed segment as a spare", j->dir, name);
	}
	if (unlinkat(j->dirfd, name, 0) < 0 && errno != ENOENT) {
		log_warn("journal %s/%s: deleting a consumed segment", j->dir, name);
		return false;
	}
	return true;
}

/*
 * Delete the oldest segments whose records every consumer is done with.
 * The last segment always stays: it is the one being appended to. Up to
 * JOURNAL_SPARES of them are kept as spares instead. A
 * deletion needs no fsync of the folder: a segment that comes back after a
 * crash only holds records that are still in order.
 */
static void
delete_done_segments(struct journal *j)
{
	char name[SEG_NAME_LEN + 1];
	uint64_t min = UINT64_MAX;
	bool any = false;
	size_t i, n = 0;

	for (i = 0; i < JOURNAL_MAX_CONSUMERS; i++)
		if (j->consumers[i].used) {
			any = true;
			if (j->consumers[i].done < min)
				min = j->consumers[i].done;
		}
	if (!any)
		return;
	while (n + 1 < j->nsegs && seg_last(&j->segs[n]) <= min) {
		seg_name(name, j->segs[n].first);
		if (!retire_segment(j, name, j->segs[n].first))
			break;
		log_debug("journal %s/%s: deleted, every consumer is past %" PRIu64, j->dir,
		    name, seg_last(&j->segs[n]));
		j->bytes -= j->segs[n].size;
		n++;
	}
	if (n > 0) {
		memmove(j->segs, j->segs + n, (j->nsegs - n) * sizeof(*j->segs));
		j->nsegs -= n;
	}
}

static struct consumer *
consumer_get(struct journal *j, int c)
{
	if (c < 0 || c >= JOURNAL_MAX_CONSUMERS)
		fatalx("journal %s: consumer %d, expected 0 to %d", j->dir, c,
		    JOURNAL_MAX_CONSUMERS - 1);
	return &j->consumers[c];
}

int
journal_consumer_add(struct journal *j, const char *name, uint64_t done_seq)
{
	struct consumer *c;
	int i, rc = -1;

	journal_lock(j);
	for (i = 0; i < JOURNAL_MAX_CONSUMERS; i++) {
		c = &j->consumers[i];
		if (c->used)
			continue;
		c->used = true;
		c->overflowed = false;
		c->gen++;
		c->done = done_seq;
		xstrlcpy(c->name, name, sizeof(c->name));
		rc = i;
		break;
	}
	journal_unlock(j);
	if (rc < 0)
		log_warnx("journal %s: no room for consumer %s, %d already", j->dir, name,
		    JOURNAL_MAX_CONSUMERS);
	return rc;
}

void
journal_consumer_remove(struct journal *j, int consumer)
{
	struct consumer *c;

	journal_lock(j);
	c = consumer_get(j, consumer);
	if (c->used) {
		c->used = false;
		c->gen++;
		pthread_cond_broadcast(&j->done);
		delete_done_segments(j);
	}
	journal_unlock(j);
}

void
journal_consumer_done(struct journal *j, int consumer, uint64_t seq)
{
	struct consumer *c;

	journal_lock(j);
	c = consumer_get(j, consumer);
	if (c->used && seq > c->done) {
		c->done = seq;
		pthread_cond_broadcast(&j->done);
		delete_done_segments(j);
	}
	journal_unlock(j);
}

uint64_t
journal_consumer_seq(struct journal *j, int consumer)
{
	uint64_t v;

	journal_lock(j);
	v = consumer_get(j, consumer)->done;
	journal_unlock(j);
	return v;
}

bool
journal_consumer_overflowed(struct journal *j, int consumer)
{
	bool v;

	journal_lock(j);
	v = consumer_get(j, consumer)->overflowed;
	journal_unlock(j);
	return v;
}

void
journal_tune(struct journal *j, uint64_t quota_bytes, uint64_t segment_bytes)
{
	journal_lock(j);
	j->quota = quota_bytes;
	if (segment_bytes != 0)
		j->seg_bytes = segment_bytes < SEG_MIN_BYTES ? SEG_MIN_BYTES : segment_bytes;
	journal_unlock(j);
}

void
journal_consumer_clear_overflow(struct journal *j, int consumer)
{
	journal_lock(j);
	consumer_get(j, consumer)->overflowed = false;
	journal_unlock(j);
}

int
journal_wait_done(struct journal *j, int consumer, uint64_t seq, int timeout_ms)
{
	struct timespec deadline;
	struct consumer *c;
	bool timedout;
	unsigned gen;
	int rc;

	if (timeout_ms >= 0)
		deadline_after(&deadline, timeout_ms);
	journal_lock(j);
	c = consumer_get(j, consumer);
	gen = c->gen;
	for (timedout = false;; timedout = wait_until(&j->done, &j->mu,
	    timeout_ms >= 0 ? &deadline : NULL) == ETIMEDOUT) {
		if (!c->used || c->gen != gen || c->overflowed) {
			rc = -1;
			break;
		}
		if (c->done >= seq) {
			rc = 0;
			break;
		}
		if (timedout) {
			rc = 1;
			break;
		}
	}
	journal_unlock(j);
	return rc;
}

int
journal_wait_append(struct journal *j, uint64_t seq, bool durable, int timeout_ms)
{
	struct timespec deadline;
	bool timedout;
	int rc = 0;

	if (timeout_ms >= 0)
		deadline_after(&deadline, timeout_ms);
	journal_lock(j);
	for (timedout = false;; timedout = wait_until(&j->appended, &j->mu,
	    timeout_ms >= 0 ? &deadline : NULL) == ETIMEDOUT) {
		if ((durable ? j->durable_seq : j->next_seq - 1) > seq) {
			rc = 1;
			break;
		}
		if (timedout)
			break;
	}
	journal_unlock(j);
	return rc;
}

/* Readers. */

static void
reader_init(struct journal_reader *r, struct journal *j, uint64_t next, bool durable_only)
{
	memset(r, 0, sizeof(*r));
	r->j = j;
	r->next = next;
	r->durable_only = durable_only;
	r->gen = j->gen;
	r->fd = -1;
}

static void
reader_drop(struct journal_reader *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	r->buf_len = 0;
}

static void
reader_fini(struct journal_reader *r)
{
	reader_drop(r);
	free(r->buf);
	r->buf = NULL;
}

/*
 * Under the lock: where the reader's next record lies, if it may be read
 * yet. 1 with p filled, 0 if not yet, -1 if it is gone. A reader only reads
 * what was whole when the lock was held, so a concurrent append never shows
 * it half a record.
 */
static int
reader_plan(struct journal_reader *r, struct plan *p, char *err, size_t errlen)
{
	struct journal *j = r->j;
	uint64_t limit;
	size_t i;

	if (r->gone[0] != '\0') {
		fail(err, errlen, "%s", r->gone);
		return -1;
	}
	if (r->gen != j->gen) {
		/* Seqs were taken back: what it buffered may be stale. */
		reader_drop(r);
		r->gen = j->gen;
	}
	limit = r->durable_only ? j->durable_seq : j->next_seq - 1;
	if (is_empty(j) || r->next > limit)
		return 0;
	if (r->next < j->segs[0].first) {
		fail(err, errlen, "journal %s: record %" PRIu64 " was deleted, the oldest kept "
		    "is %" PRIu64, j->dir, r->next, j->segs[0].first);
		return -1;
	}
	i = seg_find(j, r->next);
	p->first = j->segs[i].first;
	p->end = j->segs[i].size;
	return 1;
}

/* Make the bytes [r->off, r->off + need) of the segment be in r->buf. */
static int
reader_fill(struct journal_reader *r, const struct plan *p, size_t need, char *err,
    size_t errlen)
{
	char name[SEG_NAME_LEN + 1];
	size_t want, got = 0;
	ssize_t n;

	if (r->off >= r->buf_off && r->off + need <= r->buf_off + r->buf_len)
		return 0;
	seg_name(name, p->first);
	if (r->off + need > p->end) {
		fail(err, errlen, "%s/%s: record %" PRIu64 " at offset %" PRIu64 " needs %zu "
		    "bytes, expected within the %" PRIu64 " bytes of whole records", r->j->dir,
		    name, r->next, r->off, need, p->end);
		return -1;
	}
	want = need > READAHEAD ? need : READAHEAD;
	if (r->off + want > p->end)
		want = (size_t)(p->end - r->off);
	if (want > r->cap) {
		free(r->buf);
		r->buf = xmalloc(want);
		r->cap = want;
	}
	r->buf_len = 0;
	while (got < want) {
		n = pread(r->fd, r->buf + got, want - got, (off_t)(r->off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fail(err, errlen, "%s/%s: reading %zu bytes at offset %" PRIu64 ": %s",
			    r->j->dir, name, want, r->off, n < 0 ? strerror(errno) :
			    "the file ends first");
			return -1;
		}
		got += (size_t)n;
	}
	r->buf_off = r->off;
	r->buf_len = want;
	return 0;
}

/*
 * Read the record r->next from the segment the plan names, walking from its
 * start if the reader was not there yet. Does not move r->next: the caller
 * does, under the lock, once it knows the record was not taken back.
 */
static int
reader_fetch(struct journal_reader *r, const struct plan *p, struct record_hdr *h,
    const uint8_t **rec, size_t *reclen, char *err, size_t errlen)
{
	struct journal *j = r->j;
	char name[SEG_NAME_LEN + 1], why[256];
	const uint8_t *at;
	uint32_t length;

	seg_name(name, p->first);
	if (r->fd >= 0 && r->seg_first != p->first)
		reader_drop(r);
	if (r->fd < 0) {
		r->fd = openat(j->dirfd, name, O_RDONLY | O_CLOEXEC);
		if (r->fd < 0) {
			if (errno == ENOENT)
				fail(err, errlen, "%s/%s: segment deleted under the reader, "
				    "record %" PRIu64 " is gone", j->dir, name, r->next);
			else
				fail(err, errlen, "%s/%s: %s", j->dir, name, strerror(errno));
			return -1;
		}
		r->seg_first = p->first;
		r->off = SEG_HDR;
		r->buf_len = 0;
	}
	for (;;) {
		if (reader_fill(r, p, RECORD_HDR_SIZE, err, errlen) < 0)
			return -1;
		at = r->buf + (r->off - r->buf_off);
		if (record_decode(at, RECORD_HDR_SIZE, h, NULL, why, sizeof(why)) < 0)
			goto corrupt;
		length = get32(at + REC_OFF_LENGTH);
		if (reader_fill(r, p, RECORD_HDR_SIZE + (size_t)length, err, errlen) < 0)
			return -1;
		at = r->buf + (r->off - r->buf_off);
		if (record_decode(at, RECORD_HDR_SIZE + (size_t)length, h, NULL, why,
		    sizeof(why)) != 0)
			goto corrupt;
		if (h->seq == r->next)
			break;
		if (h->seq > r->next) {
			fail(err, errlen, "%s/%s: record at offset %" PRIu64 " has seq %" PRIu64
			    ", expected %" PRIu64 " or below", j->dir, name, r->off, h->seq,
			    r->next);
			return -1;
		}
		r->off += record_size(h);
	}
	*rec = at;
	*reclen = record_size(h);
	r->off += *reclen;
	return 1;
corrupt:
	fail(err, errlen, "%s/%s: record %" PRIu64 " at offset %" PRIu64 " is corrupt: %s",
	    j->dir, name, r->next, r->off, why);
	return -1;
}

/* One step of a reader the caller runs with the lock held throughout. */
static int
reader_step_locked(struct journal_reader *r, struct record_hdr *h, const uint8_t **rec,
    size_t *reclen, char *err, size_t errlen)
{
	struct plan p;
	int rc;

	if ((rc = reader_plan(r, &p, err, errlen)) <= 0)
		return rc;
	if ((rc = reader_fetch(r, &p, h, rec, reclen, err, errlen)) == 1)
		r->next++;
	return rc;
}

struct journal_reader *
journal_reader_new(struct journal *j, uint64_t after_seq, bool durable_only, char *err,
    size_t errlen)
{
	struct journal_reader *r = NULL;
	uint64_t last;

	journal_lock(j);
	last = j->next_seq - 1;
	if (after_seq > last) {
		fail(err, errlen, "journal %s: cannot read after seq %" PRIu64 ", expected at "
		    "most the last seq %" PRIu64, j->dir, after_seq, last);
		goto out;
	}
	if (is_empty(j) ? after_seq != last : after_seq + 1 < j->segs[0].first) {
		fail(err, errlen, "journal %s: cannot read after seq %" PRIu64 ": deleted, "
		    "expected at least %" PRIu64, j->dir, after_seq,
		    is_empty(j) ? last : j->segs[0].first - 1);
		goto out;
	}
	r = xmalloc(sizeof(*r));
	reader_init(r, j, after_seq + 1, durable_only);
	r->registered = true;
	LIST_INSERT_HEAD(&j->readers, r, entry);
out:
	journal_unlock(j);
	return r;
}

void
journal_reader_free(struct journal_reader *r)
{
	if (r == NULL)
		return;
	if (r->registered) {
		journal_lock(r->j);
		LIST_REMOVE(r, entry);
		journal_unlock(r->j);
	}
	reader_fini(r);
	free(r);
}

/*
 * The I/O runs without the lock, so appends and other readers go on. If the
 * seqs were taken back meanwhile (gen moved), what was read may be stale:
 * the reader forgets its place and tries again, or fails if its records
 * were cut.
 */
int
journal_reader_next(struct journal_reader *r, struct record_hdr *h, const uint8_t **rec,
    size_t *reclen, char *err, size_t errlen)
{
	struct journal *j = r->j;
	struct plan p;
	uint64_t gen;
	int rc;

	for (;;) {
		journal_lock(j);
		rc = reader_plan(r, &p, err, errlen);
		gen = j->gen;
		journal_unlock(j);
		if (rc <= 0)
			return rc;
		rc = reader_fetch(r, &p, h, rec, reclen, err, errlen);
		journal_lock(j);
		if (r->gone[0] != '\0') {
			fail(err, errlen, "%s", r->gone);
			rc = -1;
		} else if (gen != j->gen) {
			journal_unlock(j);
			reader_drop(r);
			continue;
		} else if (rc == 1)
			r->next++;
		journal_unlock(j);
		return rc;
	}
}

/*
 * Past the quota, cut loose the consumers that hold back the oldest
 * segment (all but keep), telling fn every record each of them had not
 * done, then delete what nobody needs. If keep itself holds it back nothing
 * is cut: that would free nothing. fn runs with the lock held. A consumer
 * whose records cannot be read back is not cut: fn would miss files, and
 * a check that misses files is worse than a journal over its quota.
 */
int
journal_enforce_quota(struct journal *j, int keep, journal_overflow_fn *fn, void *arg)
{
	struct journal_reader r;
	struct record_hdr h;
	const uint8_t *rec;
	struct consumer *c;
	uint64_t oldest, last;
	char err[512];
	size_t reclen;
	int i, rc, n = 0;

	journal_lock(j);
	if (j->quota == 0 || j->bytes <= j->quota || j->nsegs < 2)
		goto out;
	oldest = seg_last(&j->segs[0]);
	if (keep >= 0 && consumer_get(j, keep)->used && j->consumers[keep].done < oldest)
		goto out;
	last = j->next_seq - 1;
	for (i = 0; i < JOURNAL_MAX_CONSUMERS; i++) {
		c = &j->consumers[i];
		if (!c->used || i == keep || c->done >= oldest)
			continue;
		reader_init(&r, j, c->done + 1 < j->segs[0].first ? j->segs[0].first :
		    c->done + 1, false);
		while ((rc = reader_step_locked(&r, &h, &rec, &reclen, err, sizeof(err))) == 1)
			if (fn != NULL)
				fn(arg, i, &h, rec + RECORD_HDR_SIZE);
		reader_fini(&r);
		if (rc < 0) {
			log_warnx("journal %s: consumer %s not cut loose: %s", j->dir, c->name,
			    err);
			continue;
		}
		log_warnx("journal %s: over the quota of %" PRIu64 " bytes, consumer %s cut "
		    "loose at %" PRIu64 " (was at %" PRIu64 ")", j->dir, j->quota, c->name,
		    last, c->done);
		c->done = last;
		c->overflowed = true;
		n++;
	}
	if (n > 0) {
		pthread_cond_broadcast(&j->done);
		delete_done_segments(j);
	}
out:
	journal_unlock(j);
	return n;
}

/*
 * Tell fn every record consumer c had not done, from the oldest kept.
 * 0, or -1 with err when they cannot be read back.
 */
static int
undone_records(struct journal *j, int c, journal_overflow_fn *fn, void *arg, char *err,
    size_t errlen)
{
	struct journal_reader r;
	struct record_hdr h;
	const uint8_t *rec;
	size_t reclen;
	uint64_t from = j->consumers[c].done + 1;
	int rc;

	if (is_empty(j))
		return 0;
	if (from < j->segs[0].first)
		from = j->segs[0].first;
	reader_init(&r, j, from, false);
	while ((rc = reader_step_locked(&r, &h, &rec, &reclen, err, errlen)) == 1)
		if (fn != NULL)
			fn(arg, c, &h, rec + RECORD_HDR_SIZE);
	reader_fini(&r);
	return rc < 0 ? -1 : 0;
}

int
journal_skip_to(struct journal *j, uint64_t next_seq, journal_overflow_fn *fn, void *arg,
    char *err, size_t errlen)
{
	struct journal_reader *r;
	char name[SEG_NAME_LEN + 1], what[320];
	uint64_t last;
	int rc = -1;

	journal_lock(j);
	if (j->broken[0] != '\0') {
		fail(err, errlen, "journal %s failed earlier: %s", j->dir, j->broken);
		goto out;
	}
	last = j->next_seq - 1;
	if (next_seq <= j->next_seq) {
		rc = 0;
		goto out;
	}
	for (int i = 0; i < JOURNAL_MAX_CONSUMERS; i++) {
		struct consumer *c = &j->consumers[i];

		if (!c->used)
			continue;
		if (c->done < last) {
			/* A list that misses files would make the check miss them: a record
			 * that cannot be read back still counts, as a file unknown. */
			if (undone_records(j, i, fn, arg, err, errlen) < 0)
				log_warnx("journal %s: consumer %s: %s; its copy needs a full check",
				    j->dir, c->name, err);
			c->overflowed = true;
		}
		c->done = next_seq - 1;
	}
	/* From here on, a failure leaves files in a state the journal cannot name. */
	for (size_t k = 0; k < j->nsegs; k++) {
		seg_name(name, j->segs[k].first);
		if (unlinkat(j->dirfd, name, 0) < 0 && errno != ENOENT) {
			fail(err, errlen, "%s/%s: deleting a skipped segment: %s", j->dir, name,
			    strerror(errno));
			goto broken;
		}
	}
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
	j->nsegs = 0;
	j->bytes = 0;
	j->dir_dirty = true;
	if (new_segment(j, next_seq, err, errlen) < 0)
		goto broken;
	if (fsync(j->dirfd) < 0) {
		fail(err, errlen, "%s: fsync: %s", j->dir, strerror(errno));
		goto broken;
	}
	j->dir_dirty = false;
	j->next_seq = next_seq;
	j->durable_seq = next_seq - 1;
	j->gen++;
	LIST_FOREACH(r, &j->readers, entry)
		if (r->next < next_seq && r->gone[0] == '\0')
			snprintf(r->gone, sizeof(r->gone), "journal %s: records up to %" PRIu64
			    " skipped (upstream no longer holds them); the reader was at %" PRIu64,
			    j->dir, next_seq - 1, r->next);
	pthread_cond_broadcast(&j->done);
	pthread_cond_broadcast(&j->appended);
	log_warnx("journal %s: upstream no longer holds records %" PRIu64 "..%" PRIu64
	    ": dropped what was here, going on at %" PRIu64, j->dir, last + 1, next_seq - 1,
	    next_seq);
	rc = 0;
	goto out;
broken:
	snprintf(what, sizeof(what), "%s", err);
	set_broken(j, what);
out:
	journal_unlock(j);
	return rc;
}

/* Copy the records from seq from on, as encoded, into a new file at path. */
static int
save_records(struct journal *j, uint64_t from, const char *path, char *err, size_t errlen)
{
	struct journal_reader r;
	struct record_hdr h;
	const uint8_t *rec;
	size_t reclen;
	int fd, rc;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		fail(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	reader_init(&r, j, from, false);
	while ((rc = reader_step_locked(&r, &h, &rec, &reclen, err, errlen)) == 1)
		if (write_all(fd, rec, reclen) < 0) {
			fail(err, errlen, "%s: writing record %" PRIu64 ": %s", path, h.seq,
			    strerror(errno));
			rc = -1;
			break;
		}
	reader_fini(&r);
	if (rc == 0 && (fsync(fd) < 0 || fsync_parent_dir(path) < 0)) {
		fail(err, errlen, "%s: fsync: %s", path, strerror(errno));
		rc = -1;
	}
	close(fd);
	return rc;
}

/*
 * Find where record seq starts in segment i, and the epoch of the record
 * before it (or the segment's floor when seq is its first).
 */
static int
record_offset(struct journal *j, size_t i, uint64_t seq, uint64_t *off, uint64_t *epoch,
    char *err, size_t errlen)
{
	struct journal_reader r;
	struct record_hdr h;
	const uint8_t *rec;
	size_t reclen;
	int rc = 0;

	*off = SEG_HDR;
	*epoch = j->segs[i].floor;
	if (seq == j->segs[i].first) {
		if (i > 0) {
			/* The epoch of the previous segment's last record. */
			reader_init(&r, j, seq - 1, false);
			rc = reader_step_locked(&r, &h, &rec, &reclen, err, errlen);
			reader_fini(&r);
			if (rc != 1)
				return -1;
			*epoch = h.epoch;
		}
		return 0;
	}
	reader_init(&r, j, seq - 1, false);
	rc = reader_step_locked(&r, &h, &rec, &reclen, err, errlen);
	if (rc == 1) {
		*epoch = h.epoch;
		*off = r.off;
	}
	reader_fini(&r);
	return rc == 1 ? 0 : -1;
}

/*
 * Cut the records after keep_seq: save them, shorten the segment that
 * holds keep_seq (or the first one, to its header, when nothing is kept),
 * delete those after it, and make all that durable before returning.
 * Consumers and readers past keep_seq are moved back or told.
 */
int
journal_truncate_after(struct journal *j, uint64_t keep_seq, const char *save_path, char *err,
    size_t errlen)
{
	struct journal_reader *r;
	char name[SEG_NAME_LEN + 1], what[320];
	uint64_t last, lowest, off, epoch;
	size_t i, k;
	int fd = -1, rc = -1;

	journal_lock(j);
	if (j->broken[0] != '\0') {
		fail(err, errlen, "journal %s failed earlier: %s", j->dir, j->broken);
		goto out;
	}
	last = j->next_seq - 1;
	if (keep_seq >= last) {
		rc = 0;
		goto out;
	}
	lowest = is_empty(j) ? last : j->segs[0].first - 1;
	if (keep_seq < lowest) {
		fail(err, errlen, "journal %s: cannot keep up to seq %" PRIu64 ", expected at "
		    "least %" PRIu64 ": older records were deleted", j->dir, keep_seq, lowest);
		goto out;
	}
	i = seg_find(j, keep_seq + 1);
	if (record_offset(j, i, keep_seq + 1, &off, &epoch, err, errlen) < 0)
		goto out;
	if (save_path != NULL && save_records(j, keep_seq + 1, save_path, err, errlen) < 0)
		goto out;

	/* From here on, a failure leaves files in a state the journal cannot name. */
	if (drop_spares(j) < 0) {
		fail(err, errlen, "%s: dropping the spare segments: %s", j->dir, strerror(errno));
		goto broken;
	}
	for (k = j->nsegs; k-- > i + 1;) {
		seg_name(name, j->segs[k].first);
		if (unlinkat(j->dirfd, name, 0) < 0 && errno != ENOENT) {
			fail(err, errlen, "%s/%s: deleting a cut segment: %s", j->dir, name,
			    strerror(errno));
			goto broken;
		}
		j->bytes -= j->segs[k].size;
		j->nsegs = k;
	}
	seg_name(name, j->segs[i].first);
	fd = openat(j->dirfd, name, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)off) < 0 || fdatasync(fd) < 0 ||
	    fsync(j->dirfd) < 0) {
		fail(err, errlen, "%s/%s: cutting after seq %" PRIu64 " at offset %" PRIu64
		    ": %s", j->dir, name, keep_seq, off, strerror(errno));
		goto broken;
	}
	if (j->fd >= 0)
		close(j->fd);
	j->fd = fd;
	j->fd_end = off;
	fd = -1;
	j->dir_dirty = false;
	j->bytes -= j->segs[i].size - off;
	j->segs[i].size = off;
	j->segs[i].nrec = keep_seq + 1 - j->segs[i].first;
	j->next_seq = keep_seq + 1;
	j->last_epoch = epoch;
	if (j->durable_seq > keep_seq)
		j->durable_seq = keep_seq;
	j->gen++;
	for (k = 0; k < JOURNAL_MAX_CONSUMERS; k++)
		if (j->consumers[k].used && j->consumers[k].done > keep_seq)
			j->consumers[k].done = keep_seq;
	LIST_FOREACH(r, &j->readers, entry)
		if (r->next > keep_seq + 1 && r->gone[0] == '\0')
			snprintf(r->gone, sizeof(r->gone), "journal %s: cut after seq %" PRIu64
			    " under the reader, which was at %" PRIu64, j->dir, keep_seq,
			    r->next);
	log_warnx("journal %s: cut after seq %" PRIu64 ", %" PRIu64 " records removed%s%s",
	    j->dir, keep_seq, last - keep_seq, save_path ? " and saved to " : "",
	    save_path ? save_path : "");
	rc = 0;
	goto out;
broken:
	snprintf(what, sizeof(what), "%s", err);
	set_broken(j, what);
out:
	if (fd >= 0)
		close(fd);
	journal_unlock(j);
	return rc;
}
