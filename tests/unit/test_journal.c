/*
 * Unit tests of repl/journal: round trips through the files, rollover,
 * recovery of torn and corrupt tails, refusals, consumers and deletion,
 * readers, group commit, quota and truncation, spare segments, zeros
 * written ahead.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "common/util.h"
#include "helpers/tmpdir.h"
#include "repl/journal.h"

#define MIB        (1024u * 1024)
#define BIG        (100u * 1024)     /* ~10 records of it fill a 1 MiB segment */

struct fixture {
	char	*dir;        /* the test's scratch folder */
	char	*jdir;       /* the journal inside it */
};

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	f->dir = tmpdir();
	f->jdir = xasprintf("%s/journal", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	rm_rf(f->dir);
	free(f->jdir);
	free(f->dir);
	free(f);
	return 0;
}

/* The payload of record seq: recognisable, different for every seq. */
static void
fill(uint8_t *p, size_t len, uint64_t seq)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(seq * 131 + i * 7 + (i >> 8));
}

static bool
payload_ok(const uint8_t *p, size_t len, uint64_t seq)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != (uint8_t)(seq * 131 + i * 7 + (i >> 8)))
			return false;
	return true;
}

static struct journal *
open_j(const char *dir, uint64_t seg_bytes, uint64_t quota, struct journal_recovery *rec)
{
	struct journal_opts o = { .dir = dir, .segment_bytes = seg_bytes, .quota_bytes = quota };
	struct journal_recovery local;
	struct journal *j;
	char err[512] = "";

	j = journal_open(&o, rec != NULL ? rec : &local, err, sizeof(err));
	if (j == NULL)
		fail_msg("journal_open %s: %s", dir, err);
	return j;
}

/* journal_open must fail; err gets why. */
static void
open_fails(const char *dir, char *err, size_t errlen)
{
	struct journal_opts o = { .dir = dir, .segment_bytes = MIB };
	struct journal_recovery rec;
	struct journal *j;

	err[0] = '\0';
	j = journal_open(&o, &rec, err, errlen);
	if (j != NULL) {
		journal_close(j);
		fail_msg("journal_open %s succeeded, expected a refusal", dir);
	}
	assert_true(err[0] != '\0');
}

static void
has(const char *s, const char *word)
{
	if (strstr(s, word) == NULL)
		fail_msg("\"%s\" lacks \"%s\"", s, word);
}

/* Append one record of len payload bytes with the pattern of its seq. */
static uint64_t
append1(struct journal *j, uint64_t epoch, size_t len)
{
	uint64_t want = journal_last_seq(j) + 1, seq = 0;
	uint8_t *p = xmalloc(len);
	char err[512];

	fill(p, len, want);
	if (journal_append(j, epoch, RECORD_WRITE, p, len, &seq, err, sizeof(err)) != 0)
		fail_msg("append: %s", err);
	assert_int_equal(seq, want);
	free(p);
	return seq;
}

static void
sync_ok(struct journal *j)
{
	char err[512];

	if (journal_sync(j, err, sizeof(err)) != 0)
		fail_msg("sync: %s", err);
}

/* Read seqs from..to with a new reader and check each; then the reader is at the end. */
static void
read_all(struct journal *j, uint64_t from, uint64_t to, bool durable_only)
{
	struct journal_reader *r;
	struct record_hdr h;
	const uint8_t *rec;
	size_t reclen;
	char err[512];
	uint64_t seq;
	int rc;

	r = journal_reader_new(j, from - 1, durable_only, err, sizeof(err));
	if (r == NULL)
		fail_msg("reader_new after %" PRIu64 ": %s", from - 1, err);
	for (seq = from; seq <= to; seq++) {
		rc = journal_reader_next(r, &h, &rec, &reclen, err, sizeof(err));
		if (rc != 1)
			fail_msg("reader at %" PRIu64 ": rc %d: %s", seq, rc, err);
		assert_int_equal(h.seq, seq);
		assert_int_equal(reclen, RECORD_HDR_SIZE + h.length);
		assert_true(payload_ok(rec + RECORD_HDR_SIZE, h.length, seq));
	}
	assert_int_equal(journal_reader_next(r, &h, &rec, &reclen, err, sizeof(err)), 0);
	journal_reader_free(r);
}

static char *
seg_path(const char *jdir, uint64_t first)
{
	return xasprintf("%s/%016" PRIx64 ".seg", jdir, first);
}

static bool
exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

static uint64_t
file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

/* The first seqs of the segment files, sorted; returns how many. */
static size_t
list_segs(const char *jdir, uint64_t *firsts, size_t max, uint64_t *total_bytes)
{
	struct dirent *de;
	size_t n = 0, i, k;
	DIR *d = opendir(jdir);
	char *path;

	assert_non_null(d);
	if (total_bytes != NULL)
		*total_bytes = 0;
	while ((de = readdir(d)) != NULL) {
		if (strlen(de->d_name) != 20 || strcmp(de->d_name + 16, ".seg") != 0)
			continue;
		assert_true(n < max);
		firsts[n++] = strtoull(de->d_name, NULL, 16);
		if (total_bytes != NULL) {
			path = xasprintf("%s/%s", jdir, de->d_name);
			*total_bytes += file_size(path);
			free(path);
		}
	}
	closedir(d);
	for (i = 1; i < n; i++)
		for (k = i; k > 0 && firsts[k - 1] > firsts[k]; k--) {
			uint64_t t = firsts[k];
			firsts[k] = firsts[k - 1];
			firsts[k - 1] = t;
		}
	return n;
}

static void
flip_byte(const char *path, uint64_t off)
{
	uint8_t b;
	int fd = open(path, O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
	b ^= 0x20;
	assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
	close(fd);
}

/* A whole encoded record of seq and epoch, with the payload of its seq. */
static size_t
encode(uint8_t *buf, size_t buflen, uint64_t seq, uint64_t epoch, uint32_t len)
{
	struct record_hdr h = { .type = RECORD_WRITE, .seq = seq, .epoch = epoch, .length = len };
	uint8_t *p = xmalloc(len);
	size_t n;

	fill(p, len, seq);
	n = record_encode(buf, buflen, &h, p);
	assert_int_equal(n, RECORD_HDR_SIZE + len);
	free(p);
	return n;
}

static void
test_round_trip(void **state)
{
	struct fixture *f = *state;
	struct journal_recovery rec;
	struct journal *j;
	uint8_t hdr[JOURNAL_SEGMENT_HDR_SIZE];
	char *path, *tmp, err[512];
	uint64_t seq, firsts[4], total;
	int fd;

	j = open_j(f->jdir, 0, 0, &rec);
	assert_false(rec.cut);
	assert_int_equal(rec.segments, 0);
	assert_int_equal(rec.last_seq, 0);
	assert_int_equal(journal_first_seq(j), 0);
	assert_int_equal(journal_last_seq(j), 0);
	assert_int_equal(journal_bytes(j), 0);
	read_all(j, 1, 0, false);                     /* an empty journal reads nothing */
	for (seq = 1; seq <= 100; seq++)
		append1(j, seq < 50 ? 3 : 4, (size_t)(seq * 37 % 500));
	assert_int_equal(journal_first_seq(j), 1);
	assert_int_equal(journal_last_seq(j), 100);
	assert_int_equal(journal_last_epoch(j), 4);
	sync_ok(j);
	assert_int_equal(journal_durable_seq(j), 100);
	assert_int_equal(list_segs(f->jdir, firsts, 4, &total), 1);
	assert_int_equal(firsts[0], 1);
	assert_int_equal(journal_bytes(j), total);
	journal_close(j);

	/* The segment header: magic, version, first seq, sealed by XXH3. */
	path = seg_path(f->jdir, 1);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, hdr, sizeof(hdr)), sizeof(hdr));
	close(fd);
	assert_memory_equal(hdr, "LLSG\0\1", 6);
	assert_int_equal(hdr[15], 1);                 /* first_seq, big-endian */
	assert_int_equal(hdr[23], 0);                 /* epoch floor: no record before it */
	assert_true(XXH3_64bits(hdr, 56) == ((uint64_t)hdr[56] << 56 | (uint64_t)hdr[57] << 48 |
	    (uint64_t)hdr[58] << 40 | (uint64_t)hdr[59] << 32 | (uint64_t)hdr[60] << 24 |
	    (uint64_t)hdr[61] << 16 | (uint64_t)hdr[62] << 8 | hdr[63]));
	free(path);

	/* A leftover temporary file goes at open; records all come back. */
	tmp = xasprintf("%s/0000000000000065.seg.tmp", f->jdir);
	assert_int_equal(write_file_atomic(tmp, "x", 1, 0600), 0);
	j = open_j(f->jdir, 0, 0, &rec);
	assert_false(exists(tmp));
	free(tmp);
	assert_false(rec.cut);
	assert_int_equal(rec.first_seq, 1);
	assert_int_equal(rec.last_seq, 100);
	assert_int_equal(rec.last_epoch, 4);
	assert_int_equal(rec.segments, 1);
	assert_int_equal(journal_durable_seq(j), 100);
	read_all(j, 1, 100, false);
	read_all(j, 51, 100, true);
	assert_int_equal(append1(j, 4, 10), 101);
	journal_close(j);

	/* A segment size below 1 MiB is refused. */
	{
		struct journal_opts o = { .dir = f->jdir, .segment_bytes = MIB - 1 };

		assert_null(journal_open(&o, &rec, err, sizeof(err)));
		has(err, "at least");
	}
}

static void
test_rollover(void **state)
{
	struct fixture *f = *state;
	struct journal_recovery rec;
	struct journal *j;
	uint64_t firsts[16], total, seq;
	size_t n, i;
	char *path;

	j = open_j(f->jdir, MIB, 0, NULL);
	for (seq = 1; seq <= 35; seq++)
		append1(j, 1, BIG);
	append1(j, 1, MIB + MIB / 2);               /* 36: bigger than a segment */
	append1(j, 1, 10);                          /* 37 */
	n = list_segs(f->jdir, firsts, 16, &total);
	assert_int_equal(journal_bytes(j), total);
	/* (1 MiB - 64) / (100 KiB + 48) = 10 records per segment. */
	assert_int_equal(n, 6);
	assert_int_equal(firsts[0], 1);
	assert_int_equal(firsts[1], 11);
	assert_int_equal(firsts[2], 21);
	assert_int_equal(firsts[3], 31);
	assert_int_equal(firsts[4], 36);
	assert_int_equal(firsts[5], 37);
	for (i = 0; i < n; i++) {
		path = seg_path(f->jdir, firsts[i]);
		if (firsts[i] == 36)
			assert_int_equal(file_size(path), 64 + 48 + MIB + MIB / 2);
		else
			assert_true(file_size(path) <= MIB);
		free(path);
	}
	sync_ok(j);
	journal_close(j);

	j = open_j(f->jdir, MIB, 0, &rec);
	assert_false(rec.cut);
	assert_int_equal(rec.segments, 6);
	assert_int_equal(rec.first_seq, 1);
	assert_int_equal(rec.last_seq, 37);
	read_all(j, 1, 37, false);
	read_all(j, 24, 37, true);                  /* positioned inside a segment */
	read_all(j, 31, 37, false);                 /* at a segment's first record */
	journal_close(j);
}

/*
 * Cut the last segment at each point in cuts of the last record (which
 * starts at start and ends at end) and reopen: the tail is cut and said so,
 * every record before is there, and the next append takes the lost seq.
 */
static void
torn_at(const char *jdir, const char *path, uint64_t start, uint64_t end, uint64_t last,
    uint64_t cut)
{
	struct journal_recovery rec;
	struct journal *j;

	assert_int_equal(truncate(path, (off_t)cut), 0);
	j = open_j(jdir, MIB, 0, &rec);
	if (cut == start) {
		assert_false(rec.cut);
	} else {
		if (!rec.cut || rec.cut_bytes != cut - start)
			fail_msg("cut at %" PRIu64 ": cut %d, %" PRIu64 " bytes", cut, rec.cut,
			    rec.cut_bytes);
		assert_string_equal(rec.cut_path, path);
		has(rec.cut_why, "torn");
	}
	assert_int_equal(file_size(path), start);
	assert_int_equal(rec.last_seq, last - 1);
	assert_int_equal(journal_last_seq(j), last - 1);
	assert_int_equal(append1(j, 2, (size_t)(end - start - RECORD_HDR_SIZE)), last);
	sync_ok(j);
	assert_int_equal(file_size(path), end);
	journal_close(j);
}

static void
test_torn_tail(void **state)
{
	struct fixture *f = *state;
	struct journal *j;
	uint64_t start, end, cut;
	char *path;

	/* The last record follows others in the only segment: every byte. */
	j = open_j(f->jdir, MIB, 0, NULL);
	append1(j, 1, 300);
	append1(j, 2, 0);
	start = journal_bytes(j);
	append1(j, 2, 100);
	end = journal_bytes(j);
	sync_ok(j);
	journal_close(j);
	path = seg_path(f->jdir, 1);
	for (cut = start; cut < end; cut++)
		torn_at(f->jdir, path, start, end, 3, cut);
	j = open_j(f->jdir, MIB, 0, NULL);
	read_all(j, 1, 3, false);
	journal_close(j);
	free(path);
}

/* The last record is the first of its segment: a cut leaves only the header. */
static void
test_torn_first_of_segment(void **state)
{
	struct fixture *f = *state;
	struct journal *j;
	uint64_t cut, seq, end, last;
	char *path;

	j = open_j(f->jdir, MIB, 0, NULL);
	for (seq = 1; seq <= 10; seq++)
		append1(j, 2, BIG);
	last = append1(j, 2, 30000);                /* does not fit: segment 11 */
	sync_ok(j);
	journal_close(j);
	path = seg_path(f->jdir, last);
	end = file_size(path);
	assert_int_equal(end, 64 + 48 + 30000);
	for (cut = 64; cut < end; cut += cut < 64 + 60 ? 1 : 997)
		torn_at(f->jdir, path, 64, end, last, cut);
	torn_at(f->jdir, path, 64, end, last, end - 1);
	j = open_j(f->jdir, MIB, 0, NULL);
	read_all(j, 1, last, false);
	journal_close(j);
	free(path);
}

static void
test_corrupt_last_record(void **state)
{
	struct fixture *f = *state;
	struct journal_recovery rec;
	struct journal *j;
	uint64_t start, end;
	char *path;

	j = open_j(f->jdir, MIB, 0, NULL);
	append1(j, 1, 50);
	append1(j, 1, 50);
	start = journal_bytes(j);
	append1(j, 1, 50);
	end = journal_bytes(j);
	journal_close(j);
	path = seg_path(f->jdir, 1);
	flip_byte(path, start + RECORD_HDR_SIZE + 20);
	j = open_j(f->jdir, MIB, 0, &rec);
	assert_true(rec.cut);
	assert_int_equal(rec.cut_bytes, end - start);
	assert_string_equal(rec.cut_path, path);
	has(rec.cut_why, "corrupt record 2");
	has(rec.cut_why, "checksum");
	assert_int_equal(rec.last_seq, 2);
	assert_int_equal(file_size(path), start);
	read_all(j, 1, 2, false);
	assert_int_equal(append1(j, 1, 5), 3);
	journal_close(j);
	free(path);
}

/* Three segments of ten big records each, and one record in a fourth. */
static void
four_segments(const char *jdir)
{
	struct journal *j = open_j(jdir, MIB, 0, NULL);
	uint64_t seq;

	for (seq = 1; seq <= 31; seq++)
		append1(j, 1, BIG);
	sync_ok(j);
	journal_close(j);
}

static void
test_corrupt_earlier_segment(void **state)
{
	struct fixture *f = *state;
	char err[512], *path = seg_path(f->jdir, 11), *other;
	struct journal_recovery rec;
	struct journal *j;

	four_segments(f->jdir);
	flip_byte(path, 64 + 3 * (RECORD_HDR_SIZE + BIG) + 100);
	open_fails(f->jdir, err, sizeof(err));
	has(err, path);
	has(err, "corrupt record 3");
	has(err, "expected");
	flip_byte(path, 64 + 3 * (RECORD_HDR_SIZE + BIG) + 100);
	j = open_j(f->jdir, MIB, 0, &rec);          /* mended: opens again, nothing cut */
	assert_false(rec.cut);
	journal_close(j);

	/* A segment header of another version. */
	flip_byte(path, 5);
	open_fails(f->jdir, err, sizeof(err));
	has(err, path);
	has(err, "version 33, expected 1");
	flip_byte(path, 5);

	/* A header whose first seq is not the name's. */
	other = seg_path(f->jdir, 12);
	assert_int_equal(rename(path, other), 0);
	open_fails(f->jdir, err, sizeof(err));
	has(err, other);
	has(err, "first seq 11, expected 12");
	assert_int_equal(rename(other, path), 0);
	free(other);
	free(path);
}

/*
 * A segment named for seq 1, with a header that says 1, whose records start
 * at 2: made from the records of a journal that started at 2.
 */
static void
test_first_record_mismatch(void **state)
{
	struct fixture *f = *state;
	char *other = xasprintf("%s/other", f->dir), *a = seg_path(f->jdir, 1),
	    *b = xasprintf("%s/0000000000000002.seg", other), *abuf, *bbuf, err[512];
	uint8_t rec[RECORD_HDR_SIZE + 16];
	struct journal *j;
	size_t alen, blen, n;

	j = open_j(f->jdir, MIB, 0, NULL);
	append1(j, 1, 16);
	journal_close(j);
	j = open_j(other, MIB, 0, NULL);
	n = encode(rec, sizeof(rec), 2, 1, 16);
	assert_int_equal(journal_append_record(j, rec, n, err, sizeof(err)), 0);
	journal_close(j);

	abuf = read_file(a, MIB, &alen);
	bbuf = read_file(b, MIB, &blen);
	assert_non_null(abuf);
	assert_non_null(bbuf);
	assert_int_equal(alen, blen);
	memcpy(abuf + 64, bbuf + 64, blen - 64);
	assert_int_equal(write_file_atomic(a, abuf, alen, 0600), 0);
	open_fails(f->jdir, err, sizeof(err));
	has(err, a);
	has(err, "first record has seq 2, expected 1");
	free(abuf);
	free(bbuf);
	free(a);
	free(b);
	free(other);
}

static void
test_seq_gap(void **state)
{
	struct fixture *f = *state;
	char err[512], *path = seg_path(f->jdir, 11), *third = seg_path(f->jdir, 21);

	four_segments(f->jdir);
	assert_int_equal(unlink(path), 0);
	open_fails(f->jdir, err, sizeof(err));
	has(err, third);
	has(err, "gap");
	has(err, "expected 11");
	free(third);
	free(path);
}

static void
test_append_record(void **state)
{
	struct fixture *f = *state;
	struct journal_recovery rec;
	struct journal *j;
	uint8_t buf[RECORD_HDR_SIZE + 64];
	char err[512];
	size_t n;

	j = open_j(f->jdir, MIB, 0, NULL);
	/* Empty: any seq starts it; then only the next one. */
	n = encode(buf, sizeof(buf), 50, 3, 10);
	assert_int_equal(journal_append_record(j, buf, n, err, sizeof(err)), 0);
	assert_int_equal(journal_first_seq(j), 50);
	assert_int_equal(journal_last_seq(j), 50);
	n = encode(buf, sizeof(buf), 52, 3, 10);
	assert_int_equal(journal_append_record(j, buf, n, err, sizeof(err)), -1);
	has(err, "seq 52, expected 51");
	n = encode(buf, sizeof(buf), 50, 3, 10);
	assert_int_equal(journal_append_record(j, buf, n, err, sizeof(err)), -1);
	has(err, "seq 50, expected 51");
	n = encode(buf, sizeof(buf), 51, 2, 10);
	assert_int_equal(journal_append_record(j, buf, n, err, sizeof(err)), -1);
	has(err, "epoch 2 below");
	n = encode(buf, sizeof(buf), 51, 4, 10);
	assert_int_equal(journal_append_record(j, buf, n - 1, err, sizeof(err)), -1);
	has(err, "incomplete");
	assert_int_equal(journal_append_record(j, buf, n + 1, err, sizeof(err)), -1);
	has(err, "expected one record");
	buf[RECORD_HDR_SIZE] ^= 1;
	assert_int_equal(journal_append_record(j, buf, n, err, sizeof(err)), -1);
	has(err, "checksum");
	buf[RECORD_HDR_SIZE] ^= 1;
	assert_int_equal(journal_last_seq(j), 50);
	assert_int_equal(journal_append_record(j, buf, n, err, sizeof(err)), 0);
	assert_int_equal(journal_last_epoch(j), 4);
	/* The journal's own appends go on from there. */
	assert_int_equal(append1(j, 4, 7), 52);
	sync_ok(j);
	journal_close(j);

	j = open_j(f->jdir, MIB, 0, &rec);
	assert_int_equal(rec.first_seq, 50);
	assert_int_equal(rec.last_seq, 52);
	assert_int_equal(rec.last_epoch, 4);
	read_all(j, 50, 52, false);
	journal_close(j);
}

static void
test_falling_epoch(void **state)
{
	struct fixture *f = *state;
	struct journal *j;
	uint64_t seq = 0;
	char err[512];

	j = open_j(f->jdir, MIB, 0, NULL);
	append1(j, 5, 10);
	assert_int_equal(journal_append(j, 4, RECORD_WRITE, "abc", 3, &seq, err, sizeof(err)),
	    -1);
	has(err, "epoch 4 below the last record's 5");
	assert_int_equal(journal_last_seq(j), 1);
	assert_int_equal(journal_append(j, 5, 0, NULL, 0, &seq, err, sizeof(err)), -1);
	has(err, "type 0");
	assert_int_equal(append1(j, 5, 10), 2);
	assert_int_equal(append1(j, 6, 10), 3);
	journal_close(j);
	/* The epoch order survives a reopen. */
	j = open_j(f->jdir, MIB, 0, NULL);
	assert_int_equal(journal_last_epoch(j), 6);
	assert_int_equal(journal_append(j, 5, RECORD_WRITE, "abc", 3, &seq, err, sizeof(err)),
	    -1);
	journal_close(j);
}

static void
test_consumers(void **state)
{
	struct fixture *f = *state;
	struct journal *j;
	uint64_t firsts[8], total;
	int a, b, c[4];

	four_segments(f->jdir);
	j = open_j(f->jdir, MIB, 0, NULL);

	/* Without consumers nothing goes. */
	assert_int_equal(list_segs(f->jdir, firsts, 8, NULL), 4);
	a = journal_consumer_add(j, "secondary", 0);
	b = journal_consumer_add(j, "apply", 5);
	assert_true(a >= 0 && b >= 0 && a != b);
	assert_int_equal(journal_consumer_seq(j, b), 5);

	journal_consumer_done(j, a, 20);
	assert_int_equal(list_segs(f->jdir, firsts, 8, NULL), 4);
	journal_consumer_done(j, b, 9);             /* one short of segment 1's end */
	assert_int_equal(list_segs(f->jdir, firsts, 8, NULL), 4);
	journal_consumer_done(j, b, 10);
	assert_int_equal(list_segs(f->jdir, firsts, 8, &total), 3);
	assert_int_equal(firsts[0], 11);
	assert_int_equal(journal_first_seq(j), 11);
	assert_int_equal(journal_bytes(j), total);
	journal_consumer_done(j, b, 8);             /* never backwards */
	assert_int_equal(journal_consumer_seq(j, b), 10);

	/* Both at the end: only the last segment stays. */
	journal_consumer_done(j, a, 31);
	journal_consumer_done(j, b, 31);
	assert_int_equal(list_segs(f->jdir, firsts, 8, &total), 1);
	assert_int_equal(firsts[0], 31);
	assert_int_equal(journal_first_seq(j), 31);
	assert_int_equal(journal_last_seq(j), 31);
	assert_int_equal(journal_bytes(j), total);
	read_all(j, 31, 31, false);

	/* The table holds four. */
	c[0] = journal_consumer_add(j, "x", 0);
	c[1] = journal_consumer_add(j, "y", 0);
	assert_true(c[0] >= 0 && c[1] >= 0);
	assert_int_equal(journal_consumer_add(j, "z", 0), -1);
	journal_consumer_remove(j, c[0]);
	assert_int_equal(journal_consumer_add(j, "z", 0), c[0]);
	journal_close(j);
}

static void
test_readers(void **state)
{
	struct fixture *f = *state;
	struct journal_reader *r, *r2;
	struct record_hdr h;
	const uint8_t *rec;
	struct journal *j;
	size_t reclen;
	char err[512];
	uint64_t seq;
	int c;

	four_segments(f->jdir);
	j = open_j(f->jdir, MIB, 0, NULL);
	read_all(j, 1, 31, false);
	read_all(j, 15, 31, false);

	/* At the end: 0, then the new record once it is appended. */
	r = journal_reader_new(j, 31, false, err, sizeof(err));
	assert_non_null(r);
	assert_int_equal(journal_reader_next(r, &h, &rec, &reclen, err, sizeof(err)), 0);
	assert_int_equal(journal_wait_append(j, 31, false, 10), 0);
	append1(j, 1, 20);
	assert_int_equal(journal_wait_append(j, 31, false, 10), 1);
	assert_int_equal(journal_reader_next(r, &h, &rec, &reclen, err, sizeof(err)), 1);
	assert_int_equal(h.seq, 32);
	assert_true(payload_ok(rec + RECORD_HDR_SIZE, 20, 32));
	assert_int_equal(journal_reader_next(r, &h, &rec, &reclen, err, sizeof(err)), 0);
	journal_reader_free(r);

	assert_null(journal_reader_new(j, 33, false, err, sizeof(err)));
	has(err, "at most the last seq 32");

	/* A reader in segment 1 whose records are deleted under it. */
	r = journal_reader_new(j, 0, false, err, sizeof(err));
	r2 = journal_reader_new(j, 12, false, err, sizeof(err));
	assert_non_null(r);
	assert_non_null(r2);
	for (seq = 1; seq <= 3; seq++)
		assert_int_equal(journal_reader_next(r, &h, &rec, &reclen, err, sizeof(err)), 1);
	c = journal_consumer_add(j, "secondary", 0);
	journal_consumer_done(j, c, 20);
	assert_int_equal(journal_first_seq(j), 21);
	assert_int_equal(journal_reader_next(r, &h, &rec, &reclen, err, sizeof(err)), -1);
	has(err, "record 4 was deleted");
	assert_int_equal(journal_reader_next(r2, &h, &rec, &reclen, err, sizeof(err)), -1);
	has(err, "record 13 was deleted");
	journal_reader_free(r);
	journal_reader_free(r2);
	assert_null(journal_reader_new(j, 10, false, err, sizeof(err)));
	has(err, "deleted");
	read_all(j, 21, 32, false);                 /* from the oldest kept */
	journal_close(j);
}

static void
test_durable_readers(void **state)
{
	struct fixture *f = *state;
	struct journal_reader *r;
	struct record_hdr h;
	const uint8_t *rec;
	struct journal *j;
	size_t reclen;
	char err[512];
	uint64_t seq;

	j = open_j(f->jdir, MIB, 0, NULL);
	for (seq = 1; seq <= 5; seq++)
		append1(j, 1, 100);
	sync_ok(j);
	for (seq = 6; seq <= 8; seq++)
		append1(j, 1, 100);
	assert_int_equal(journal_durable_seq(j), 5);
	r = journal_reader_new(j, 0, true, err, sizeof(err));
	assert_non_null(r);
	for (seq = 1; seq <= 5; seq++) {
		assert_int_equal(journal_reader_next(r, &h, &rec, &reclen, err, sizeof(err)), 1);
		assert_int_equal(h.seq, seq);
	}
	assert_int_equal(journal_reader_next(r, &h, &rec, &reclen, err, sizeof(err)), 0);
	read_all(j, 1, 8, false);                   /* a sender sees all */
	assert_int_equal(journal_wait_append(j, 5, true, 10), 0);
	sync_ok(j);
	assert_int_equal(journal_wait_append(j, 5, true, 10), 1);
	for (seq = 6; seq <= 8; seq++) {
		assert_int_equal(journal_reader_next(r, &h, &rec, &reclen, err, sizeof(err)), 1);
		assert_int_equal(h.seq, seq);
		assert_true(payload_ok(rec + RECORD_HDR_SIZE, h.length, seq));
	}
	assert_int_equal(journal_reader_next(r, &h, &rec, &reclen, err, sizeof(err)), 0);
	journal_reader_free(r);
	journal_close(j);
}

#define GC_THREADS  4
#define GC_RECORDS  150

struct gc_arg {
	struct journal	*j;
	int		 id;
	uint64_t	 seqs[GC_RECORDS];
	bool		 failed;
	char		 err[512];
};

/*
 * Each thread appends records that carry its id and counter, and syncs
 * after each; on return, every record it appended must be durable.
 */
static void *
gc_thread(void *p)
{
	struct gc_arg *a = p;
	uint8_t payload[64];
	int i;

	for (i = 0; i < GC_RECORDS; i++) {
		memset(payload, 0, sizeof(payload));
		payload[0] = (uint8_t)a->id;
		payload[1] = (uint8_t)(i >> 8);
		payload[2] = (uint8_t)i;
		if (journal_append(a->j, 1, RECORD_WRITE, payload, 17 + (size_t)(i % 40),
		    &a->seqs[i], a->err, sizeof(a->err)) != 0 ||
		    journal_sync(a->j, a->err, sizeof(a->err)) != 0) {
			a->failed = true;
			return NULL;
		}
		if (journal_durable_seq(a->j) < a->seqs[i]) {
			snprintf(a->err, sizeof(a->err), "synced %" PRIu64 " but durable is %"
			    PRIu64, a->seqs[i], journal_durable_seq(a->j));
			a->failed = true;
			return NULL;
		}
	}
	return NULL;
}

static void
test_group_commit(void **state)
{
	struct fixture *f = *state;
	struct gc_arg args[GC_THREADS];
	pthread_t t[GC_THREADS];
	struct journal_recovery rec;
	struct journal_reader *r;
	struct record_hdr h;
	const uint8_t *p;
	struct journal *j;
	int next[GC_THREADS] = { 0 }, i, id, n;
	size_t reclen;
	char err[512];

	j = open_j(f->jdir, MIB, 0, NULL);
	for (i = 0; i < GC_THREADS; i++) {
		memset(&args[i], 0, sizeof(args[i]));
		args[i].j = j;
		args[i].id = i;
		assert_int_equal(pthread_create(&t[i], NULL, gc_thread, &args[i]), 0);
	}
	for (i = 0; i < GC_THREADS; i++) {
		pthread_join(t[i], NULL);
		if (args[i].failed)
			fail_msg("thread %d: %s", i, args[i].err);
	}
	assert_int_equal(journal_last_seq(j), GC_THREADS * GC_RECORDS);
	assert_int_equal(journal_durable_seq(j), GC_THREADS * GC_RECORDS);
	journal_close(j);

	/* Every record is on disk, in order, each thread's own in its order. */
	j = open_j(f->jdir, MIB, 0, &rec);
	assert_false(rec.cut);
	assert_int_equal(rec.last_seq, GC_THREADS * GC_RECORDS);
	r = journal_reader_new(j, 0, true, err, sizeof(err));
	assert_non_null(r);
	for (n = 0; journal_reader_next(r, &h, &p, &reclen, err, sizeof(err)) == 1; n++) {
		p += RECORD_HDR_SIZE;
		id = p[0];
		assert_true(id < GC_THREADS);
		i = p[1] << 8 | p[2];
		assert_int_equal(i, next[id]);
		assert_int_equal(h.seq, args[id].seqs[i]);
		assert_int_equal(h.length, 17 + i % 40);
		next[id]++;
	}
	assert_int_equal(n, GC_THREADS * GC_RECORDS);
	journal_reader_free(r);
	journal_close(j);
}

#define CC_RECORDS  300

struct cc_arg {
	struct journal	*j;
	bool		 durable_only;
	uint64_t	 got;         /* records read and checked */
	char		 err[512];
};

/* Payload sizes vary so that records straddle readahead and segment ends. */
static size_t
cc_len(uint64_t seq)
{
	return (size_t)(seq * 7919 % 60000);
}

static void *
cc_appender(void *p)
{
	struct cc_arg *a = p;
	uint8_t *buf = xmalloc(60000);
	uint64_t seq, got;

	for (seq = 1; seq <= CC_RECORDS; seq++) {
		fill(buf, cc_len(seq), seq);
		if (journal_append(a->j, 1, RECORD_WRITE, buf, cc_len(seq), &got, a->err,
		    sizeof(a->err)) != 0 || got != seq ||
		    (seq % 10 == 0 && journal_sync(a->j, a->err, sizeof(a->err)) != 0))
			break;
		a->got = seq;
	}
	free(buf);
	return NULL;
}

/* Read every record as it comes, waiting when there is none yet. */
static void *
cc_reader(void *p)
{
	struct cc_arg *a = p;
	struct journal_reader *r;
	struct record_hdr h;
	const uint8_t *rec;
	size_t reclen;
	int rc;

	r = journal_reader_new(a->j, 0, a->durable_only, a->err, sizeof(a->err));
	if (r == NULL)
		return NULL;
	while (a->got < CC_RECORDS) {
		rc = journal_reader_next(r, &h, &rec, &reclen, a->err, sizeof(a->err));
		if (rc < 0)
			break;
		if (rc == 0) {
			journal_wait_append(a->j, a->got, a->durable_only, -1);
			continue;
		}
		if (h.seq != a->got + 1 || h.length != cc_len(h.seq) ||
		    !payload_ok(rec + RECORD_HDR_SIZE, h.length, h.seq)) {
			snprintf(a->err, sizeof(a->err), "record %" PRIu64 " after %" PRIu64
			    ": wrong seq, length or payload", h.seq, a->got);
			break;
		}
		a->got = h.seq;
	}
	journal_reader_free(r);
	return NULL;
}

/* Readers in other threads see only whole records while the writer rolls over. */
static void
test_readers_concurrent(void **state)
{
	struct fixture *f = *state;
	struct cc_arg w = { 0 }, rs[2] = { 0 };
	uint64_t firsts[32];
	pthread_t tw, tr[2];
	struct journal *j;
	int i;

	j = open_j(f->jdir, MIB, 0, NULL);
	w.j = rs[0].j = rs[1].j = j;
	rs[1].durable_only = true;
	for (i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&tr[i], NULL, cc_reader, &rs[i]), 0);
	assert_int_equal(pthread_create(&tw, NULL, cc_appender, &w), 0);
	pthread_join(tw, NULL);
	if (w.got != CC_RECORDS)
		fail_msg("appender stopped after %" PRIu64 ": %s", w.got, w.err);
	for (i = 0; i < 2; i++) {
		pthread_join(tr[i], NULL);
		if (rs[i].got != CC_RECORDS)
			fail_msg("reader %d stopped after %" PRIu64 ": %s", i, rs[i].got,
			    rs[i].err);
	}
	assert_true(list_segs(f->jdir, firsts, 32, NULL) >= 8);
	journal_close(j);
}

struct done_arg {
	struct journal	*j;
	int		 consumer;
};

static void *
done_later(void *p)
{
	struct done_arg *a = p;
	struct timespec ts = { 0, 20 * 1000 * 1000 };

	nanosleep(&ts, NULL);
	journal_consumer_done(a->j, a->consumer, 5);
	nanosleep(&ts, NULL);
	journal_consumer_done(a->j, a->consumer, 10);
	return NULL;
}

static void
test_wait_done(void **state)
{
	struct fixture *f = *state;
	struct done_arg a;
	struct journal *j;
	pthread_t t;
	int c;

	j = open_j(f->jdir, MIB, 0, NULL);
	c = journal_consumer_add(j, "secondary", 0);
	assert_int_equal(journal_wait_done(j, c, 0, 0), 0);
	assert_int_equal(journal_wait_done(j, c, 1, 0), 1);
	assert_int_equal(journal_wait_done(j, c, 1, 30), 1);

	a.j = j;
	a.consumer = c;
	assert_int_equal(pthread_create(&t, NULL, done_later, &a), 0);
	assert_int_equal(journal_wait_done(j, c, 10, -1), 0);
	assert_int_equal(journal_consumer_seq(j, c), 10);
	pthread_join(t, NULL);

	journal_consumer_remove(j, c);
	assert_int_equal(journal_wait_done(j, c, 11, 10), -1);
	journal_close(j);
}

struct seen {
	int		 consumer;
	uint64_t	 seqs[64];
	size_t		 n;
	bool		 bad;
};

static void
on_overflow(void *arg, int consumer, const struct record_hdr *h, const uint8_t *payload)
{
	struct seen *s = arg;

	if (consumer != s->consumer || s->n == 64 || !payload_ok(payload, h->length, h->seq))
		s->bad = true;
	else
		s->seqs[s->n++] = h->seq;
}

static void
test_quota(void **state)
{
	struct fixture *f = *state;
	struct seen seen = { 0 };
	struct journal *j;
	uint64_t seq, firsts[8], total;
	int apply, sec;
	size_t i;

	j = open_j(f->jdir, MIB, 2 * MIB, NULL);
	apply = journal_consumer_add(j, "apply", 0);
	sec = journal_consumer_add(j, "secondary", 0);
	for (seq = 1; seq <= 25; seq++)
		append1(j, 1, BIG);
	assert_true(journal_bytes(j) > 2 * MIB);

	/* The applier holds the oldest segment back: nothing to gain. */
	journal_consumer_done(j, sec, 3);
	assert_int_equal(journal_enforce_quota(j, apply, on_overflow, &seen), 0);
	assert_int_equal(seen.n, 0);
	assert_false(journal_consumer_overflowed(j, sec));

	journal_consumer_done(j, apply, 25);
	seen.consumer = sec;
	assert_int_equal(journal_enforce_quota(j, apply, on_overflow, &seen), 1);
	assert_false(seen.bad);
	assert_int_equal(seen.n, 22);               /* 4 to 25: exactly what it lacked */
	for (i = 0; i < seen.n; i++)
		assert_int_equal(seen.seqs[i], 4 + i);
	assert_true(journal_consumer_overflowed(j, sec));
	assert_false(journal_consumer_overflowed(j, apply));
	assert_int_equal(journal_consumer_seq(j, sec), 25);
	assert_int_equal(journal_wait_done(j, sec, 25, 0), -1);   /* cut loose, not done */
	assert_int_equal(list_segs(f->jdir, firsts, 8, &total), 1);
	assert_int_equal(firsts[0], 21);
	assert_int_equal(journal_bytes(j), total);
	assert_true(total <= 2 * MIB);
	journal_consumer_clear_overflow(j, sec);
	assert_false(journal_consumer_overflowed(j, sec));

	/* Under the quota: nothing happens. */
	seen.n = 0;
	assert_int_equal(journal_enforce_quota(j, apply, on_overflow, &seen), 0);
	assert_int_equal(seen.n, 0);
	journal_close(j);
}

/*
 * SKIP from upstream: everything here goes, the journal goes on at the
 * seq given, a consumer that lacked records hears each of them and is
 * marked, one that had them all is not, a reader behind fails, and a
 * reopened journal knows where it stands.
 */
static void
test_skip_to(void **state)
{
	struct fixture *f = *state;
	struct journal_recovery rec;
	struct seen seen = { 0 };
	struct journal_reader *r;
	struct record_hdr h;
	const uint8_t *p;
	uint8_t buf[4096];
	uint64_t firsts[8], total;
	struct journal *j;
	char err[512];
	size_t len;
	int apply, down;

	j = open_j(f->jdir, MIB, 0, NULL);
	apply = journal_consumer_add(j, "apply", 0);
	down = journal_consumer_add(j, "tertiary", 0);
	for (int i = 0; i < 10; i++)
		append1(j, 1, 100);
	sync_ok(j);
	journal_consumer_done(j, apply, 10);
	journal_consumer_done(j, down, 4);
	r = journal_reader_new(j, 5, false, err, sizeof(err));
	assert_non_null(r);

	seen.consumer = down;
	assert_int_equal(journal_skip_to(j, 8, on_overflow, &seen, err, sizeof(err)), 0);
	assert_int_equal(seen.n, 0);                /* 8 is not past the last + 1: nothing */
	assert_int_equal(journal_skip_to(j, 20, on_overflow, &seen, err, sizeof(err)), 0);
	assert_false(seen.bad);
	assert_int_equal(seen.n, 6);                /* 5 to 10, what it lacked */
	for (size_t i = 0; i < seen.n; i++)
		assert_int_equal(seen.seqs[i], 5 + i);
	assert_true(journal_consumer_overflowed(j, down));
	assert_false(journal_consumer_overflowed(j, apply));
	assert_int_equal(journal_consumer_seq(j, down), 19);
	assert_int_equal(journal_consumer_seq(j, apply), 19);
	assert_int_equal(journal_last_seq(j), 19);
	assert_int_equal(journal_durable_seq(j), 19);
	assert_int_equal(journal_first_seq(j), 0);
	assert_int_equal(journal_oldest_seq(j), 20);
	assert_int_equal(journal_reader_next(r, &h, &p, &len, err, sizeof(err)), -1);
	has(err, "skipped");
	journal_reader_free(r);
	assert_int_equal(list_segs(f->jdir, firsts, 8, &total), 1);
	assert_int_equal(firsts[0], 20);

	len = encode(buf, sizeof(buf), 20, 2, 100);
	assert_int_equal(journal_append_record(j, buf, len, err, sizeof(err)), 0);
	len = encode(buf, sizeof(buf), 22, 2, 100);
	assert_int_equal(journal_append_record(j, buf, len, err, sizeof(err)), -1);
	sync_ok(j);
	journal_close(j);

	j = open_j(f->jdir, MIB, 0, &rec);
	assert_int_equal(rec.first_seq, 20);
	assert_int_equal(rec.last_seq, 20);
	assert_int_equal(journal_oldest_seq(j), 20);
	read_all(j, 20, 20, true);
	journal_close(j);

	/* A journal skipped with nothing after it reopens where the skip left it. */
	j = open_j(f->jdir, MIB, 0, NULL);
	assert_int_equal(journal_skip_to(j, 40, NULL, NULL, err, sizeof(err)), 0);
	journal_close(j);
	j = open_j(f->jdir, MIB, 0, NULL);
	assert_int_equal(journal_last_seq(j), 39);
	assert_int_equal(journal_oldest_seq(j), 40);
	journal_close(j);
}

/* The bytes of records from..to, as encoded, read back from the journal. */
static uint8_t *
encoded(struct journal *j, uint64_t from, uint64_t to, size_t *len)
{
	struct journal_reader *r;
	struct record_hdr h;
	const uint8_t *rec;
	uint8_t *out = NULL;
	size_t reclen;
	char err[512];
	uint64_t seq;

	*len = 0;
	r = journal_reader_new(j, from - 1, false, err, sizeof(err));
	assert_non_null(r);
	for (seq = from; seq <= to; seq++) {
		assert_int_equal(journal_reader_next(r, &h, &rec, &reclen, err, sizeof(err)), 1);
		out = xrealloc(out, *len + reclen);
		memcpy(out + *len, rec, reclen);
		*len += reclen;
	}
	journal_reader_free(r);
	return out;
}

static void
test_truncate_after(void **state)
{
	struct fixture *f = *state;
	struct journal_reader *r;
	struct journal_recovery rec;
	struct record_hdr h;
	const uint8_t *p;
	struct journal *j;
	uint64_t firsts[8], total;
	uint8_t *want;
	char *save = xasprintf("%s/divergent", f->dir), *got, err[512];
	size_t wantlen, gotlen, reclen;
	int c;

	four_segments(f->jdir);
	j = open_j(f->jdir, MIB, 0, NULL);
	append1(j, 2, 10);                          /* 32, a newer epoch */
	c = journal_consumer_add(j, "secondary", 20);
	r = journal_reader_new(j, 16, false, err, sizeof(err));
	assert_non_null(r);

	want = encoded(j, 16, 32, &wantlen);
	assert_int_equal(journal_truncate_after(j, 15, save, err, sizeof(err)), 0);
	got = read_file(save, 64 * MIB, &gotlen);
	assert_non_null(got);
	assert_int_equal(gotlen, wantlen);
	assert_memory_equal(got, want, wantlen);
	free(got);
	free(want);
	assert_int_equal(journal_last_seq(j), 15);
	assert_int_equal(journal_last_epoch(j), 1);
	assert_int_equal(journal_consumer_seq(j, c), 15);
	assert_int_equal(list_segs(f->jdir, firsts, 8, &total), 2);
	assert_int_equal(journal_bytes(j), total);
	assert_int_equal(total, 2 * 64 + 15 * (RECORD_HDR_SIZE + BIG));
	/* The reader that was past the cut is told; its records are gone. */
	assert_int_equal(journal_reader_next(r, &h, &p, &reclen, err, sizeof(err)), -1);
	has(err, "cut after seq 15");
	journal_reader_free(r);

	/* The journal goes on at 16, and keeps it all after a reopen. */
	assert_int_equal(append1(j, 3, 10), 16);
	sync_ok(j);
	journal_close(j);
	j = open_j(f->jdir, MIB, 0, &rec);
	assert_false(rec.cut);
	assert_int_equal(rec.last_seq, 16);
	assert_int_equal(rec.last_epoch, 3);
	read_all(j, 1, 16, false);

	/* Nothing to cut past the end; below the oldest kept is refused. */
	assert_int_equal(journal_truncate_after(j, 16, NULL, err, sizeof(err)), 0);
	c = journal_consumer_add(j, "secondary", 0);
	journal_consumer_done(j, c, 16);
	assert_int_equal(journal_first_seq(j), 11);
	assert_int_equal(journal_truncate_after(j, 9, NULL, err, sizeof(err)), -1);
	has(err, "expected at least 10");

	/* Keep nothing: the journal is empty but remembers where it was. */
	assert_int_equal(journal_truncate_after(j, 10, NULL, err, sizeof(err)), 0);
	assert_int_equal(journal_first_seq(j), 0);
	assert_int_equal(journal_last_seq(j), 10);
	read_all(j, 11, 10, false);
	journal_close(j);
	j = open_j(f->jdir, MIB, 0, &rec);
	assert_int_equal(rec.segments, 1);
	assert_int_equal(journal_last_seq(j), 10);
	assert_int_equal(journal_last_epoch(j), 1);
	/* A record larger than a segment fills the empty one, no new one. */
	assert_int_equal(append1(j, 3, MIB + 1000), 11);
	assert_int_equal(list_segs(f->jdir, firsts, 8, &total), 1);
	assert_int_equal(firsts[0], 11);
	assert_int_equal(total, 64 + RECORD_HDR_SIZE + MIB + 1000);
	read_all(j, 11, 11, false);
	journal_close(j);
	free(save);
}

static char *
spare_path(const char *jdir, uint64_t first)
{
	return xasprintf("%s/%016" PRIx64 ".spare", jdir, first);
}

static ino_t
inode_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_ino;
}

/*
 * Consumed segments become spares (two at most), a new segment is made
 * from one, its records overwrite the stale ones in place, and a reopen
 * finds the clean end after the last record without cutting anything.
 */
static void
test_spares(void **state)
{
	struct fixture *f = *state;
	struct journal_recovery rec;
	struct journal *j;
	uint64_t firsts[8], seq;
	char *s1 = spare_path(f->jdir, 1), *s11 = spare_path(f->jdir, 11),
	    *s21 = spare_path(f->jdir, 21), *seg31 = seg_path(f->jdir, 31),
	    *seg41 = seg_path(f->jdir, 41);
	ino_t ino11;
	int c;

	four_segments(f->jdir);                     /* 1, 11, 21 full; 31 holds one */
	j = open_j(f->jdir, MIB, 0, NULL);
	c = journal_consumer_add(j, "secondary", 0);
	journal_consumer_done(j, c, 31);
	assert_int_equal(list_segs(f->jdir, firsts, 8, NULL), 1);
	assert_true(exists(s1));
	assert_true(exists(s11));
	assert_false(exists(s21));                  /* the third is deleted */
	ino11 = inode_of(s11);

	/* Segment 41 is made from the spare that came last, in place. */
	for (seq = 32; seq <= 43; seq++)
		append1(j, 1, BIG);
	assert_false(exists(s11));
	assert_true(exists(s1));
	assert_int_equal(inode_of(seg41), ino11);
	assert_true(file_size(seg41) > 64 + 3 * (RECORD_HDR_SIZE + BIG));
	sync_ok(j);
	journal_close(j);

	j = open_j(f->jdir, MIB, 0, &rec);
	assert_false(rec.cut);
	assert_int_equal(rec.first_seq, 31);
	assert_int_equal(rec.last_seq, 43);
	read_all(j, 31, 43, false);
	/* Appends after a reopen go on in place, short records too. */
	append1(j, 1, 10);
	append1(j, 1, 0);
	sync_ok(j);
	journal_close(j);
	j = open_j(f->jdir, MIB, 0, &rec);
	assert_false(rec.cut);
	assert_int_equal(rec.last_seq, 45);
	read_all(j, 31, 45, false);
	journal_close(j);
	free(s1);
	free(s11);
	free(s21);
	free(seg31);
	free(seg41);
}

/* A torn or corrupt record inside a segment made from a spare is still cut, and said so. */
static void
test_spare_torn_record(void **state)
{
	struct fixture *f = *state;
	struct journal_recovery rec;
	struct journal *j;
	uint64_t seq, start, end;
	char *seg41 = seg_path(f->jdir, 41);
	int c;

	four_segments(f->jdir);
	j = open_j(f->jdir, MIB, 0, NULL);
	c = journal_consumer_add(j, "secondary", 0);
	journal_consumer_done(j, c, 31);
	for (seq = 32; seq <= 42; seq++)
		append1(j, 1, BIG);
	start = 64 + RECORD_HDR_SIZE + BIG;         /* 42 is the second record of 41 */
	end = start + RECORD_HDR_SIZE + BIG;
	sync_ok(j);
	journal_close(j);
	assert_true(file_size(seg41) > end);
	flip_byte(seg41, start + RECORD_HDR_SIZE + 7);
	j = open_j(f->jdir, MIB, 0, &rec);
	assert_true(rec.cut);
	has(rec.cut_why, "corrupt record 1");
	assert_int_equal(rec.last_seq, 41);
	assert_int_equal(file_size(seg41), start);
	read_all(j, 31, 41, false);
	journal_close(j);
	free(seg41);
}

/* Seqs going back drop the spares: none of their stale records can follow the cut. */
static void
test_spares_dropped_on_cut(void **state)
{
	struct fixture *f = *state;
	struct journal *j;
	char err[512], *s1 = spare_path(f->jdir, 1), *s11 = spare_path(f->jdir, 11);
	uint64_t seq;
	int c;

	four_segments(f->jdir);
	j = open_j(f->jdir, MIB, 0, NULL);
	for (seq = 32; seq <= 45; seq++)            /* 41 starts a new segment file */
		append1(j, 1, BIG);
	c = journal_consumer_add(j, "secondary", 0);
	journal_consumer_done(j, c, 30);
	assert_true(exists(s1));
	assert_true(exists(s11));
	journal_consumer_remove(j, c);
	assert_int_equal(journal_truncate_after(j, 38, NULL, err, sizeof(err)), 0);
	assert_false(exists(s1));
	assert_false(exists(s11));
	for (seq = 39; seq <= 55; seq++)
		append1(j, 2, BIG);
	sync_ok(j);
	journal_close(j);
	j = open_j(f->jdir, MIB, 0, NULL);
	assert_int_equal(journal_last_seq(j), 55);
	read_all(j, 31, 55, false);
	journal_close(j);
	free(s1);
	free(s11);
}

static struct journal *
open_ahead(const char *dir, struct journal_recovery *rec)
{
	struct journal_opts o = { .dir = dir, .segment_bytes = 4 * MIB, .write_ahead = true };
	char err[512] = "";
	struct journal *j = journal_open(&o, rec, err, sizeof(err));

	if (j == NULL)
		fail_msg("journal_open %s: %s", dir, err);
	return j;
}

/*
 * Small records are written into zeros written ahead of them (the file
 * grows by a MiB at a time, not by each record); the zeros are the clean
 * end at a reopen, a torn record among them is still cut, and a big record
 * is appended as it comes.
 */
static void
test_write_ahead(void **state)
{
	struct fixture *f = *state;
	struct journal_recovery rec;
	struct journal *j;
	char *path = seg_path(f->jdir, 1);
	uint64_t seq, start;

	j = open_ahead(f->jdir, &rec);
	append1(j, 1, 100);
	assert_true(file_size(path) >= MIB);
	assert_int_equal(journal_bytes(j), 64 + RECORD_HDR_SIZE + 100);
	for (seq = 2; seq <= 300; seq++)
		append1(j, 1, 4096);
	assert_true(file_size(path) < journal_bytes(j) + MIB + 4096 + 2 * RECORD_HDR_SIZE);
	assert_true(file_size(path) >= journal_bytes(j));
	start = journal_bytes(j);
	append1(j, 1, 50);                          /* 301 */
	sync_ok(j);
	journal_close(j);

	j = open_ahead(f->jdir, &rec);
	assert_false(rec.cut);
	assert_int_equal(rec.last_seq, 301);
	read_all(j, 1, 301, false);
	journal_close(j);

	/* The last record torn: its checksum no longer matches. */
	flip_byte(path, start + RECORD_HDR_SIZE + 3);
	j = open_ahead(f->jdir, &rec);
	assert_true(rec.cut);
	has(rec.cut_why, "corrupt record 300");
	assert_int_equal(rec.last_seq, 300);
	assert_int_equal(file_size(path), start);
	/* A big record grows the file by itself alone. */
	append1(j, 1, MIB);
	assert_int_equal(file_size(path), start + RECORD_HDR_SIZE + MIB);
	append1(j, 1, 10);
	sync_ok(j);
	journal_close(j);
	j = open_ahead(f->jdir, &rec);
	assert_false(rec.cut);
	read_all(j, 1, 302, false);
	journal_close(j);
	free(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_first_of_segment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_last_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_earlier_segment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_record_mismatch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seq_gap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_falling_epoch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_consumers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_durable_readers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readers_concurrent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_done, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quota, setup, teardown),
		cmocka_unit_test_setup_teardown(test_skip_to, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncate_after, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spares, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spare_torn_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spares_dropped_on_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_ahead, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
