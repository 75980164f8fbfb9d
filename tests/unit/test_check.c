/*
 * Unit tests of repl/check: the full system check end to end without a
 * network. Two trees, A (the active's) and P (a passive's copy), differ in
 * every way the check knows. The scanner walks A and emits VERIFY ops
 * through an emitter that encodes each as a journal record into a list;
 * a "passive" goes through the list in order: each VERIFY goes to the
 * verifier over an applier opened on P, its wants travel through the wire
 * codec to the responder on A, whose repair records are appended to the
 * same list; every record is applied to P with applier_apply. At the end
 * A and P must be identical (types, content, size, mode, owner, mtime,
 * xattrs, symlink targets) and the quarantine must hold exactly what only
 * P had. Also: A changing between a VERIFY and its repair, a targeted
 * check, a directory listed over several VERIFYs, a quarantine on another
 * file system, the hash caches of both sides (a file changed underneath
 * with its mtime kept, a rehash), and the wants codec with its refusals.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/util.h"
#include "helpers/tmpdir.h"
#include "repl/apply.h"
#include "repl/check.h"
#include "repl/hashcache.h"
#include "repl/op.h"
#include "repl/record.h"

#include <xxhash.h>

#define NROOTS     2
#define MAX_STEPS  1000000L           /* no loop in these tests may run longer */

/* ---- the journal: records in a list ---- */

struct rec {
	uint8_t	*buf;
	size_t	 len;
};

struct journal_list {
	struct rec	*v;
	size_t		 n;
	size_t		 cap;
	uint64_t	 seq;
	int		 depth;       /* the emitter's lock, held or not */
	size_t		 emits_unlocked;
};

static void
jl_lock(void *arg)
{
	struct journal_list *j = arg;

	assert_int_equal(j->depth, 0);
	j->depth++;
}

static void
jl_unlock(void *arg)
{
	struct journal_list *j = arg;

	assert_int_equal(j->depth, 1);
	j->depth--;
}

/* Append one op as an encoded record with the next seq. */
static void
jl_append(struct journal_list *j, const struct op *op)
{
	struct record_hdr h = { .type = op->type, .epoch = 1 };
	size_t plen = op_size(op);
	uint8_t *payload = malloc(plen);

	assert_non_null(payload);
	assert_int_equal(op_encode(payload, plen, op), plen);
	h.seq = ++j->seq;
	h.length = (uint32_t)plen;
	if (j->n == j->cap) {
		j->cap = j->cap ? 2 * j->cap : 256;
		j->v = realloc(j->v, j->cap * sizeof(*j->v));
		assert_non_null(j->v);
	}
	j->v[j->n].len = RECORD_HDR_SIZE + plen;
	j->v[j->n].buf = malloc(j->v[j->n].len);
	assert_non_null(j->v[j->n].buf);
	assert_int_equal(record_encode(j->v[j->n].buf, j->v[j->n].len, &h, payload),
	    j->v[j->n].len);
	j->n++;
	free(payload);
}

static int
jl_emit(void *arg, const struct op *op)
{
	struct journal_list *j = arg;

	if (j->depth != 1)
		j->emits_unlocked++;
	jl_append(j, op);
	return 0;
}

static void
jl_free(struct journal_list *j)
{
	size_t i;

	for (i = 0; i < j->n; i++)
		free(j->v[i].buf);
	free(j->v);
	memset(j, 0, sizeof(*j));
}

/* Decode record i of the list; the op points into it. */
static void
jl_get(const struct journal_list *j, size_t i, struct record_hdr *h, struct op *op)
{
	const uint8_t *payload;
	char why[256];

	if (record_decode(j->v[i].buf, j->v[i].len, h, &payload, why, sizeof(why)) == -1 ||
	    op_decode(h->type, payload, h->length, op, why, sizeof(why)) == -1)
		fail_msg("record %zu: %s", i, why);
}

/* ---- fixture ---- */

struct fx {
	char			*dir;
	char			 a[NROOTS][PATH_MAX];    /* the active's directories */
	char			 p[NROOTS][PATH_MAX];    /* the passive's copies */
	char			 q[PATH_MAX];            /* the dated quarantine folder */
	char			 pos[PATH_MAX];
	int			 afd[NROOTS];
	struct journal_list	 j;
	struct check_emitter	 em;
	struct applier		*ap;
	struct check_verifier	*v;
	struct check_responder	*r;
	size_t			 applied;     /* records of j applied to P */
	size_t			 verifies;    /* VERIFY records seen by the passive */
	size_t			 wants;       /* wants sent upstream */
	size_t			 moved;       /* entries moved into quarantine */
	char			 moved_as[4096]; /* where, as reported: "a,b,..." */
	size_t			 diverged;    /* records the applier found diverged */
	struct hashcache	*sc;          /* the scanner's cache, when a test gives one */
	bool			 rehash;      /* run_check's scans read every file */
};

static void
path_of(char *buf, size_t size, const char *dir, const char *rel)
{
	int n = snprintf(buf, size, "%s/%s", dir, rel);

	assert_true(n > 0 && (size_t)n < size);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char name[32];
	int i;

	assert_non_null(f);
	f->dir = tmpdir();
	for (i = 0; i < NROOTS; i++) {
		snprintf(name, sizeof(name), "A%d", i);
		path_of(f->a[i], PATH_MAX, f->dir, name);
		snprintf(name, sizeof(name), "P%d", i);
		path_of(f->p[i], PATH_MAX, f->dir, name);
		assert_int_equal(mkdir(f->a[i], 0755), 0);
		assert_int_equal(mkdir(f->p[i], 0755), 0);
	}
	path_of(f->q, PATH_MAX, f->dir, "quarantine/2026-01-01T00:00:00");
	path_of(f->pos, PATH_MAX, f->dir, "apply.pos");
	f->em = (struct check_emitter){ &f->j, jl_lock, jl_unlock, jl_emit };
	*state = f;
	return 0;
}

/* Open the applier, verifier and responder once the trees are built. */
static void
start(struct fx *f)
{
	const char *roots[NROOTS];
	char err[256];
	int i;

	for (i = 0; i < NROOTS; i++) {
		roots[i] = f->p[i];
		f->afd[i] = open(f->a[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		assert_true(f->afd[i] >= 0);
	}
	f->ap = applier_open(roots, NROOTS, f->pos, err, sizeof(err));
	if (f->ap == NULL)
		fail_msg("applier_open: %s", err);
	f->v = check_verifier_new(f->ap, f->q);
	f->r = check_responder_new(f->afd, NROOTS, &f->em);
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	int i;

	check_responder_free(f->r);
	check_verifier_free(f->v);
	hashcache_free(f->sc);
	applier_close(f->ap);
	for (i = 0; i < NROOTS; i++)
		if (f->afd[i] > 0)
			close(f->afd[i]);
	jl_free(&f->j);
	rm_rf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* ---- building trees ---- */

/* A byte of a file's content: a pattern that differs per seed and offset. */
static uint8_t
pattern(unsigned seed, size_t i)
{
	return (uint8_t)(((i * 2654435761u) >> 13) ^ (seed * 131u) ^ (i >> 16));
}

static void
put_file(const char *root, const char *rel, size_t size, unsigned seed, mode_t mode)
{
	char path[PATH_MAX];
	uint8_t *buf = malloc(size + 1);
	size_t i;
	int fd;

	assert_non_null(buf);
	for (i = 0; i < size; i++)
		buf[i] = pattern(seed, i);
	path_of(path, sizeof(path), root, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, size), (ssize_t)size);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	free(buf);
}

/* Change one byte at off (to what the pattern of another seed has). */
static void
poke(const char *root, const char *rel, size_t off)
{
	char path[PATH_MAX];
	uint8_t b;
	int fd;

	path_of(path, sizeof(path), root, rel);
	fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
	b ^= 0x5a;
	assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
	close(fd);
}

static void
put_dir(const char *root, const char *rel, mode_t mode)
{
	char path[PATH_MAX];

	path_of(path, sizeof(path), root, rel);
	assert_int_equal(mkdir(path, mode), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void
put_link(const char *root, const char *rel, const char *target)
{
	char path[PATH_MAX];

	path_of(path, sizeof(path), root, rel);
	assert_int_equal(symlink(target, path), 0);
}

static void
put_xattr(const char *root, const char *rel, const char *name, const char *value)
{
	char path[PATH_MAX];

	path_of(path, sizeof(path), root, rel);
	assert_int_equal(lsetxattr(path, name, value, strlen(value), 0), 0);
}

static void
put_owner(const char *root, const char *rel, uid_t uid, gid_t gid)
{
	char path[PATH_MAX];

	path_of(path, sizeof(path), root, rel);
	assert_int_equal(lchown(path, uid, gid), 0);
}

static void
put_mode(const char *root, const char *rel, mode_t mode)
{
	char path[PATH_MAX];

	path_of(path, sizeof(path), root, rel);
	assert_int_equal(chmod(path, mode), 0);
}

static void
put_mtime(const char *root, const char *rel, time_t sec, long nsec)
{
	struct timespec ts[2] = { { 0, UTIME_OMIT }, { sec, nsec } };
	char path[PATH_MAX];

	path_of(path, sizeof(path), root, rel);
	assert_int_equal(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), 0);
}

/* ---- comparing trees ---- */

static size_t
list_xattrs(const char *path, char *buf, size_t size)
{
	ssize_t n = llistxattr(path, buf, size);

	assert_true(n >= 0);
	return (size_t)n;
}

/* The xattrs of path as "name=value;..." sorted by name (values short here). */
static void
xattr_text(const char *path, char *out, size_t size)
{
	char list[4096], value[1024], *names[64];
	size_t n = list_xattrs(path, list, sizeof(list)), k = 0, i, j;
	char *p;
	ssize_t v;

	for (p = list; p < list + n && k < 64; p += strlen(p) + 1)
		names[k++] = p;
	for (i = 1; i < k; i++)
		for (j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			p = names[j];
			names[j] = names[j - 1];
			names[j - 1] = p;
		}
	out[0] = '\0';
	for (i = 0; i < k; i++) {
		v = lgetxattr(path, names[i], value, sizeof(value) - 1);
		assert_true(v >= 0);
		value[v] = '\0';
		snprintf(out + strlen(out), size - strlen(out), "%s=%s;", names[i], value);
	}
}

static bool
compared_type(mode_t m)
{
	return S_ISREG(m) || S_ISDIR(m) || S_ISLNK(m);
}

/* The sorted names of the checked types in a directory. */
static size_t
dir_names(const char *path, char ***out)
{
	char sub[PATH_MAX], **v = NULL;
	struct dirent *d;
	struct stat st;
	size_t n = 0, i, j;
	DIR *dir = opendir(path);

	assert_non_null(dir);
	while ((d = readdir(dir)) != NULL) {
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		path_of(sub, sizeof(sub), path, d->d_name);
		assert_int_equal(lstat(sub, &st), 0);
		if (!compared_type(st.st_mode))
			continue;
		v = realloc(v, (n + 1) * sizeof(*v));
		assert_non_null(v);
		v[n++] = strdup(d->d_name);
	}
	closedir(dir);
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && strcmp(v[j - 1], v[j]) > 0; j--) {
			char *t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	*out = v;
	return n;
}

static void
same_content(const char *a, const char *p, off_t size)
{
	uint8_t *x = malloc((size_t)size + 1), *y = malloc((size_t)size + 1);
	int fa = open(a, O_RDONLY | O_CLOEXEC), fp = open(p, O_RDONLY | O_CLOEXEC);

	assert_true(x != NULL && y != NULL && fa >= 0 && fp >= 0);
	assert_int_equal(read(fa, x, (size_t)size + 1), size);
	assert_int_equal(read(fp, y, (size_t)size + 1), size);
	if (memcmp(x, y, (size_t)size) != 0)
		fail_msg("%s and %s differ in content", a, p);
	close(fa);
	close(fp);
	free(x);
	free(y);
}

/* Fail unless the entries at a and p are the same, all the way down. */
static void
same_tree(const char *a, const char *p)
{
	char xa[4096], xp[4096], la[PATH_MAX], lp[PATH_MAX], **na, **np;
	struct stat sa, sp;
	size_t n, m, i;
	ssize_t k;

	assert_int_equal(lstat(a, &sa), 0);
	if (lstat(p, &sp) != 0)
		fail_msg("%s missing on the passive", p);
	if ((sa.st_mode & S_IFMT) != (sp.st_mode & S_IFMT) ||
	    (!S_ISLNK(sa.st_mode) && sa.st_mode != sp.st_mode) ||
	    sa.st_uid != sp.st_uid || sa.st_gid != sp.st_gid ||
	    sa.st_mtim.tv_sec != sp.st_mtim.tv_sec || sa.st_mtim.tv_nsec != sp.st_mtim.tv_nsec ||
	    (!S_ISDIR(sa.st_mode) && sa.st_size != sp.st_size))
		fail_msg("%s: mode 0%o/0%o owner %u:%u/%u:%u mtime %ld.%09ld/%ld.%09ld size "
		    "%lld/%lld", p, sa.st_mode, sp.st_mode, sa.st_uid, sa.st_gid, sp.st_uid,
		    sp.st_gid, (long)sa.st_mtim.tv_sec, sa.st_mtim.tv_nsec, (long)sp.st_mtim.tv_sec,
		    sp.st_mtim.tv_nsec, (long long)sa.st_size, (long long)sp.st_size);
	if (S_ISLNK(sa.st_mode)) {
		k = readlink(a, la, sizeof(la) - 1);
		assert_true(k > 0);
		la[k] = '\0';
		k = readlink(p, lp, sizeof(lp) - 1);
		assert_true(k > 0);
		lp[k] = '\0';
		assert_string_equal(la, lp);
		return;
	}
	xattr_text(a, xa, sizeof(xa));
	xattr_text(p, xp, sizeof(xp));
	if (strcmp(xa, xp) != 0)
		fail_msg("%s: xattrs \"%s\" on the active, \"%s\" on the passive", p, xa, xp);
	if (S_ISREG(sa.st_mode)) {
		same_content(a, p, sa.st_size);
		return;
	}
	n = dir_names(a, &na);
	m = dir_names(p, &np);
	for (i = 0; i < n || i < m; i++) {
		if (i >= n || i >= m || strcmp(na[i], np[i]) != 0)
			fail_msg("%s: entry %zu is \"%s\" on the active, \"%s\" on the passive", p,
			    i, i < n ? na[i] : "(none)", i < m ? np[i] : "(none)");
		path_of(la, sizeof(la), a, na[i]);
		path_of(lp, sizeof(lp), p, np[i]);
		same_tree(la, lp);
	}
	for (i = 0; i < n; i++)
		free(na[i]);
	for (i = 0; i < m; i++)
		free(np[i]);
	free(na);
	free(np);
}

static void
same_trees(const struct fx *f)
{
	int i;

	for (i = 0; i < NROOTS; i++)
		same_tree(f->a[i], f->p[i]);
}

/* ---- the passive: verify, want, repair, apply ---- */

/* Send wants upstream as the stream would: through the codec, to the responder. */
static void
send_wants(struct fx *f, const struct check_result *res)
{
	static struct check_want got[CHECK_WANTS_MAX];
	size_t off = 0, taken, n, i;
	uint8_t *msg = malloc(1 << 20);
	char why[256];
	size_t len;

	assert_non_null(msg);
	while (off < res->nwants) {
		len = check_wants_encode(msg, 1 << 20, res->wants + off, res->nwants - off, &taken);
		assert_true(len > 0 && taken > 0);
		if (check_wants_decode(msg, len, got, CHECK_WANTS_MAX, &n, why, sizeof(why)) != 0)
			fail_msg("wants decode: %s", why);
		assert_int_equal(n, taken);
		for (i = 0; i < n; i++)
			check_responder_add(f->r, &got[i]);
		off += taken;
	}
	f->wants += res->nwants;
	free(msg);
}

/* Answer every queued want, each step emitting under the lock. */
static void
respond_all(struct fx *f)
{
	long steps = 0;
	int rc;

	while ((rc = check_responder_step(f->r)) == 1)
		assert_true(++steps < MAX_STEPS);
	assert_int_equal(rc, 0);
}

/*
 * Go through the journal in order as a passive: a VERIFY is checked
 * (wants answered at once, their repairs appended), then every record is
 * applied. Records the applier finds diverged are counted (a test that
 * expects none says so).
 */
static void
catch_up(struct fx *f)
{
	struct check_result res = { 0 };
	struct record_hdr h;
	struct op op;
	enum apply_result ar;
	char why[512];

	for (; f->applied < f->j.n; f->applied++) {
		jl_get(&f->j, f->applied, &h, &op);
		if (h.type == RECORD_VERIFY) {
			f->verifies++;
			assert_int_equal(applier_sync(f->ap, why, sizeof(why)), 0);
			if (check_verify(f->v, &op, &res, why, sizeof(why)) != 0)
				fail_msg("verify of record %zu: %s", f->applied, why);
			f->moved += res.nmoved;
			for (size_t k = 0; k < res.nmoved; k++)
				snprintf(f->moved_as + strlen(f->moved_as),
				    sizeof(f->moved_as) - strlen(f->moved_as), "%s%s",
				    f->moved_as[0] ? "," : "", res.moved[k]);
			send_wants(f, &res);
			check_result_clear(&res);
			respond_all(f);
			jl_get(&f->j, f->applied, &h, &op);   /* the list may have moved */
		}
		ar = applier_apply(f->ap, &h, &op, why, sizeof(why));
		if (ar == APPLY_DIVERGED)
			f->diverged++;
		else if (ar != APPLY_OK)
			fail_msg("apply of record %zu (%s): %d %s", f->applied,
			    record_type_name(h.type), ar, why);
	}
	assert_int_equal(applier_sync(f->ap, why, sizeof(why)), 0);
}

/*
 * Run a check: the scanner to its end, one record per step at most, with
 * the passive catching up after every step (interleaved) or after the
 * whole scan.
 */
static void
run_check(struct fx *f, const struct check_target *t, size_t nt, bool interleaved,
    struct check_scan_stats *st)
{
	struct check_scanner *s = check_scanner_new(f->afd, NROOTS, &f->em, t, nt);
	size_t before;
	long steps = 0;
	int rc;

	assert_non_null(s);
	if (f->sc != NULL)
		check_scanner_use_cache(s, f->sc, f->rehash);
	for (;;) {
		before = f->j.n;
		if ((rc = check_scanner_step(s)) != 1)
			break;
		assert_true(f->j.n - before <= 1);
		assert_true(++steps < MAX_STEPS);
		if (interleaved)
			catch_up(f);
	}
	assert_int_equal(rc, 0);
	assert_int_equal(f->j.emits_unlocked, 0);
	if (st != NULL)
		check_scanner_stats(s, st);
	check_scanner_free(s);
	catch_up(f);
}

/* Whether the quarantine holds rel as a regular file with size bytes of pattern seed. */
static void
quarantined_file(const struct fx *f, const char *rel, size_t size, unsigned seed)
{
	char path[PATH_MAX];
	struct stat st;
	uint8_t *buf = malloc(size + 1);
	size_t i;
	int fd;

	assert_non_null(buf);
	path_of(path, sizeof(path), f->q, rel);
	if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
		fail_msg("%s not quarantined as a file", rel);
	assert_int_equal(st.st_size, (off_t)size);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, size + 1), (ssize_t)size);
	for (i = 0; i < size; i++)
		if (buf[i] != pattern(seed, i))
			fail_msg("%s: byte %zu differs from what the passive had", rel, i);
	close(fd);
	free(buf);
}

/* The entries of a quarantine directory, "a,b,c" sorted. */
static void
quarantine_names(const struct fx *f, const char *rel, char *out, size_t size)
{
	char path[PATH_MAX], **v;
	size_t n, i;

	path_of(path, sizeof(path), f->q, rel);
	n = dir_names(path, &v);
	out[0] = '\0';
	for (i = 0; i < n; i++) {
		snprintf(out + strlen(out), size - strlen(out), "%s%s", i ? "," : "", v[i]);
		free(v[i]);
	}
	free(v);
}

/* ---- the tests ---- */

#define BIG  (9u * 1024 * 1024 + 100)   /* two file VERIFYs: 128 blocks, then 17 */

/*
 * Two trees with every difference the check knows, P being the passive's.
 * Entries meant to match get the same mtime on both sides.
 */
static void
build_differences(struct fx *f)
{
	const char *a = f->a[0], *p = f->p[0];
	char path[PATH_MAX];

	/* Content: blocks of a big file, a short file, a longer one, edge sizes. */
	put_file(a, "big", BIG, 1, 0644);
	put_file(p, "big", BIG, 1, 0644);
	poke(p, "big", 65536 + 7);
	poke(p, "big", 140u * 65536 + 3);
	put_file(a, "short", 10000, 2, 0644);
	put_file(p, "short", 5000, 2, 0644);
	put_file(a, "longer", 70000, 3, 0644);
	put_file(p, "longer", 200000, 3, 0644);
	put_file(a, "exact64k", 65536, 4, 0644);
	put_file(p, "exact64k", 65536, 4, 0644);
	poke(p, "exact64k", 65535);
	put_file(a, "plus1", 65537, 5, 0644);
	put_file(p, "plus1", 65537, 5, 0644);
	poke(p, "plus1", 65536);
	put_file(a, "empty", 0, 6, 0644);
	put_file(p, "empty", 0, 6, 0644);
	put_file(a, "emptied", 0, 7, 0644);
	put_file(p, "emptied", 10, 7, 0644);
	put_file(a, "same", 3000, 8, 0644);
	put_file(p, "same", 3000, 8, 0644);

	/* Only on A: a file, and a subtree with all kinds in it. */
	put_file(a, "missing", 100000, 9, 0640);
	put_dir(a, "sub", 0755);
	put_file(a, "sub/a", 1000, 10, 0600);
	put_xattr(a, "sub/a", "user.sub", "yes");
	put_dir(a, "sub/deep", 0750);
	put_file(a, "sub/deep/b", 200000, 11, 0644);
	put_link(a, "sub/link", "a");
	put_file(a, "sub/empty", 0, 12, 0644);
	put_owner(a, "sub/deep", 1234, 5678);

	/* Only on P: moved into quarantine. */
	put_file(p, "extra", 777, 13, 0644);
	put_dir(p, "extradir", 0755);
	put_file(p, "extradir/x", 4321, 14, 0644);

	/* Type mismatches both ways, a symlink to elsewhere. */
	put_file(a, "tm", 5000, 15, 0644);
	put_dir(p, "tm", 0755);
	put_file(p, "tm/inner", 99, 16, 0644);
	put_dir(a, "tm2", 0755);
	put_file(a, "tm2/f", 12345, 17, 0644);
	put_file(p, "tm2", 50, 18, 0644);
	put_link(a, "link", "target-a");
	put_link(p, "link", "target-p");

	/* Attributes: mode, owner, mtime, xattrs (changed, extra, none on A). */
	put_file(a, "attrs", 100, 19, 0640);
	put_file(p, "attrs", 100, 19, 0600);
	put_owner(a, "attrs", 1234, 5678);
	put_file(a, "xa", 100, 20, 0644);
	put_file(p, "xa", 100, 20, 0644);
	put_xattr(a, "xa", "user.one", "1");
	put_xattr(a, "xa", "user.two", "2");
	put_xattr(p, "xa", "user.one", "X");
	put_xattr(p, "xa", "user.three", "3");
	put_file(a, "noxa", 100, 21, 0644);
	put_file(p, "noxa", 100, 21, 0644);
	put_xattr(p, "noxa", "user.extra", "e");
	put_dir(a, "xd", 0755);
	put_dir(p, "xd", 0755);
	put_xattr(a, "xd", "user.dir", "d");

	/* Not checked: a fifo on A. */
	path_of(path, sizeof(path), a, "fifo");
	assert_int_equal(mkfifo(path, 0644), 0);

	/* The second root: one file differs, one only on P. */
	put_file(f->a[1], "r1", 3000, 22, 0644);
	put_file(f->p[1], "r1", 3000, 23, 0644);
	put_file(f->p[1], "extra1", 10, 24, 0644);

	/* The same mtime on entries meant to match; the rest differ. */
	put_mtime(a, "same", 1700000000, 5);
	put_mtime(p, "same", 1700000000, 5);
	put_mtime(a, "empty", 1700000001, 6);
	put_mtime(p, "empty", 1700000001, 6);
	put_mtime(a, "link", 1600000000, 0);
}

/* Everything only P had is in the quarantine, under root<N>/, with its content. */
static void
check_quarantine(const struct fx *f)
{
	char names[1024], path[PATH_MAX], target[64];
	ssize_t n;

	quarantine_names(f, "root0", names, sizeof(names));
	assert_string_equal(names, "extra,extradir,link,tm,tm2");
	quarantine_names(f, "root1", names, sizeof(names));
	assert_string_equal(names, "extra1");
	quarantined_file(f, "root0/extra", 777, 13);
	quarantined_file(f, "root0/extradir/x", 4321, 14);
	quarantined_file(f, "root0/tm/inner", 99, 16);
	quarantined_file(f, "root0/tm2", 50, 18);
	quarantined_file(f, "root1/extra1", 10, 24);
	path_of(path, sizeof(path), f->q, "root0/link");
	n = readlink(path, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = '\0';
	assert_string_equal(target, "target-p");
}

/* A second check of identical trees finds nothing: no want, no move, no repair. */
static void
check_again_finds_nothing(struct fx *f)
{
	size_t wants = f->wants, moved = f->moved, records = f->j.n, verifies = f->verifies;

	run_check(f, NULL, 0, false, NULL);
	assert_int_equal(f->wants, wants);
	assert_int_equal(f->moved, moved);
	assert_int_equal(f->j.n - records, f->verifies - verifies);
	same_trees(f);
}

static void
round_trip(void **state, bool interleaved)
{
	struct fx *f = *state;
	struct check_scan_stats st;
	struct check_respond_stats rs;
	struct check_verify_stats vs;

	build_differences(f);
	start(f);
	run_check(f, NULL, 0, interleaved, &st);
	assert_int_equal(f->diverged, 0);
	same_trees(f);
	check_quarantine(f);
	assert_int_equal(f->moved, 6);
	assert_string_equal(f->moved_as,
	    "root0/extra,root0/extradir,root0/link,root0/tm,root0/tm2,root1/extra1");

	/* The counters say what happened. */
	assert_int_equal(st.skipped_type, 1);                  /* the fifo */
	assert_int_equal(st.errors, 0);
	assert_int_equal(st.bytes, BIG + 10000 + 70000 + 65536 + 65537 + 3000 + 100000 + 1000 +
	    200000 + 5000 + 12345 + 3 * 100 + 3000);
	assert_int_equal(st.records, f->verifies);
	assert_int_equal(st.entries, 26);           /* both roots, 24 below them */
	check_verifier_stats(f->v, &vs);
	assert_int_equal(vs.quarantined, 6);
	assert_int_equal(vs.wants, f->wants);
	/* big: 2; short: 1; longer: 1; exact64k: 1; plus1: 1; r1: 1 */
	assert_int_equal(vs.blocks_differ, 7);
	check_responder_stats(f->r, &rs);
	assert_int_equal(rs.wants, f->wants);
	assert_int_equal(rs.gone + rs.lost, 0);

	check_again_finds_nothing(f);
}

/* The passive checks each VERIFY after the whole scan is in the journal. */
static void
test_round_trip(void **state)
{
	round_trip(state, false);
}

/* The passive checks each VERIFY as soon as it is emitted: repairs come between them. */
static void
test_round_trip_interleaved(void **state)
{
	round_trip(state, true);
}

/* The paths of the VERIFY records from index from of the journal, "a,b,..." in order. */
static void
verify_paths(const struct fx *f, size_t from, char *out, size_t size)
{
	struct record_hdr h;
	struct op op;
	size_t i;

	struct op_entry e;
	size_t off;

	out[0] = '\0';
	for (i = from; i < f->j.n; i++) {
		jl_get(&f->j, i, &h, &op);
		if (h.type != RECORD_VERIFY)
			continue;
		if (!(op.flags & OP_VERIFY_ENTRIES)) {
			snprintf(out + strlen(out), size - strlen(out), "%s%u:%s",
			    out[0] ? "," : "", op.root, op.path);
			continue;
		}
		/* Several entries in one record: each as its own VERIFY would name it. */
		for (off = 0; op_entry_next(&op, &off, &e);)
			snprintf(out + strlen(out), size - strlen(out), "%s%u:%s%s%s",
			    out[0] ? "," : "", op.root, op.path, op.path_len ? "/" : "", e.name);
	}
}

/* The application's write to A: done and journaled under the lock, as the capture does. */
static void
app_write(struct fx *f, const char *rel, uint64_t off, const char *text)
{
	struct op op = { .type = RECORD_WRITE, .path = rel, .path_len = (uint16_t)strlen(rel),
	    .offset = off, .data = (const uint8_t *)text, .data_len = (uint32_t)strlen(text) };
	char path[PATH_MAX];
	int fd;

	path_of(path, sizeof(path), f->a[0], rel);
	f->em.lock(f->em.arg);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, text, strlen(text), (off_t)off), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(f->em.emit(f->em.arg, &op), 0);
	f->em.unlock(f->em.arg);
}

static void
app_unlink(struct fx *f, const char *rel)
{
	struct op op = { .type = RECORD_UNLINK, .path = rel, .path_len = (uint16_t)strlen(rel) };
	char path[PATH_MAX];

	path_of(path, sizeof(path), f->a[0], rel);
	f->em.lock(f->em.arg);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(f->em.emit(f->em.arg, &op), 0);
	f->em.unlock(f->em.arg);
}

/* Only the scanner: its VERIFYs go into the journal, the passive does not look yet. */
static void
scan_only(struct fx *f)
{
	struct check_scanner *s = check_scanner_new(f->afd, NROOTS, &f->em, NULL, 0);
	long steps = 0;
	int rc;

	assert_non_null(s);
	while ((rc = check_scanner_step(s)) == 1)
		assert_true(++steps < MAX_STEPS);
	assert_int_equal(rc, 0);
	check_scanner_free(s);
}

/*
 * A changes between a VERIFY and its repair: the application writes to a
 * file whose block differs and removes another that differs. The repair
 * carries the data as it is when the responder reads it, and nothing is
 * sent for what is gone; the copies end identical.
 */
static void
test_change_before_repair(void **state)
{
	struct fx *f = *state;
	struct check_respond_stats rs;
	struct record_hdr h;
	struct op op;
	size_t i, data_ops = 0;

	put_file(f->a[0], "f", 100000, 30, 0644);
	put_file(f->p[0], "f", 100000, 30, 0644);
	poke(f->p[0], "f", 10);
	put_file(f->a[0], "h", 5000, 31, 0644);
	put_file(f->p[0], "h", 5000, 32, 0644);
	/*
	 * The roots' mtimes differ, so the check repairs P's root after the
	 * unlink below reaches it (a replicated unlink moves the passive's
	 * directory mtime to its own clock: only a check sets it back). With
	 * coarse timestamps they could otherwise be equal by chance.
	 */
	put_mtime(f->p[0], "", 1600000000, 0);
	start(f);
	scan_only(f);
	app_write(f, "f", 0, "NEW-CONTENT");
	app_unlink(f, "h");
	catch_up(f);
	assert_int_equal(f->diverged, 0);

	for (i = 0; i < f->j.n; i++) {
		jl_get(&f->j, i, &h, &op);
		if (h.type != RECORD_DATA)
			continue;
		assert_string_equal(op.path, "f");
		assert_int_equal(op.offset, 0);
		assert_int_equal(op.size, 100000);
		assert_int_equal(op.data_len, 65536);
		assert_memory_equal(op.data, "NEW-CONTENT", 11);
		data_ops++;
	}
	assert_int_equal(data_ops, 1);
	check_responder_stats(f->r, &rs);
	assert_true(rs.gone >= 1);                 /* h: its wants found nothing */
	same_trees(f);
}

/*
 * A targeted check emits VERIFYs only for the paths given (and below a
 * directory given); a path whose directory the passive lacks wants the
 * nearest missing directory whole.
 */
static void
test_targeted(void **state)
{
	struct fx *f = *state;
	struct check_target t1[] = { { 0, "b/c", false }, { 0, "e", false } };
	struct check_target t2[] = { { 0, "b", false } };
	char paths[512];
	size_t from;
	int i;

	put_file(f->a[0], "a", 100, 40, 0644);
	put_file(f->p[0], "a", 100, 40, 0644);
	put_dir(f->a[0], "b", 0755);
	put_file(f->a[0], "b/c", 1000, 41, 0644);
	put_file(f->a[0], "b/d", 2000, 42, 0644);
	put_file(f->a[0], "e", 3000, 43, 0644);
	put_file(f->p[0], "e", 3000, 44, 0644);
	put_mtime(f->a[0], "a", 1700000000, 0);
	put_mtime(f->p[0], "a", 1700000000, 0);
	for (i = 0; i < NROOTS; i++) {
		put_mtime(f->a[i], "", 1700000000, 0);
		put_mtime(f->p[i], "", 1700000000, 0);
	}
	start(f);

	run_check(f, t1, 2, false, NULL);
	verify_paths(f, 0, paths, sizeof(paths));
	assert_string_equal(paths, "0:b/c,0:e");
	same_trees(f);                              /* b came whole, e repaired */
	assert_int_equal(f->moved, 0);

	from = f->j.n;
	run_check(f, t2, 1, false, NULL);
	verify_paths(f, from, paths, sizeof(paths));
	assert_string_equal(paths, "0:b,0:b/c,0:b/d");
	assert_null(check_scanner_new(f->afd, NROOTS, &f->em,
	    (struct check_target[]){ { 0, "../x", false } }, 1));
	assert_null(check_scanner_new(f->afd, NROOTS, &f->em,
	    (struct check_target[]){ { NROOTS, "", false } }, 1));
}

/*
 * A shallow target checks a directory's own listing and attributes, not
 * what is below it: the name only the passive still has is moved aside,
 * the files both have are not walked. Only a full check says FULL on its
 * first VERIFY.
 */
static void
test_targeted_shallow(void **state)
{
	struct fx *f = *state;
	struct check_target t[] = { { 0, "s", true } };
	struct record_hdr h;
	struct op op;
	char paths[512];
	size_t from;
	int i;

	put_dir(f->a[0], "s", 0755);
	put_dir(f->p[0], "s", 0755);
	put_file(f->a[0], "s/keep", 500, 50, 0644);
	put_file(f->p[0], "s/keep", 500, 50, 0644);
	put_file(f->p[0], "s/stale", 700, 51, 0644);
	put_mtime(f->a[0], "s/keep", 1700000000, 0);
	put_mtime(f->p[0], "s/keep", 1700000000, 0);
	put_mtime(f->a[0], "s", 1700000000, 0);
	put_mtime(f->p[0], "s", 1700000000, 0);
	for (i = 0; i < NROOTS; i++) {
		put_mtime(f->a[i], "", 1700000000, 0);
		put_mtime(f->p[i], "", 1700000000, 0);
	}
	start(f);

	from = f->j.n;
	run_check(f, t, 1, false, NULL);
	verify_paths(f, from, paths, sizeof(paths));
	assert_string_equal(paths, "0:s");
	jl_get(&f->j, from, &h, &op);
	assert_true(op.flags & OP_VERIFY_BEGIN);
	assert_false(op.flags & OP_VERIFY_FULL);
	assert_int_equal(f->moved, 1);
	same_trees(f);

	from = f->j.n;
	run_check(f, NULL, 0, false, NULL);
	jl_get(&f->j, from, &h, &op);
	assert_true((op.flags & (OP_VERIFY_BEGIN | OP_VERIFY_FULL)) ==
	    (OP_VERIFY_BEGIN | OP_VERIFY_FULL));
}

/*
 * A check after another: what the verifier remembered of the first (the
 * root's listing seen, an entry wanted whole) must not hide what the second
 * finds, here an entry the passive lost and one it changed since.
 */
static void
test_check_after_check(void **state)
{
	struct fx *f = *state;
	struct check_target t[] = { { 1, "c", false }, { 1, "d", false } };
	char path[PATH_MAX];
	size_t wants;

	put_file(f->a[1], "c", 100, 80, 0644);
	put_file(f->a[1], "d", 100, 81, 0644);
	put_file(f->a[1], "e", 100, 82, 0644);
	start(f);
	run_check(f, NULL, 0, false, NULL);
	same_trees(f);

	/* The passive loses c (with its root's mtime kept) and d changes. */
	path_of(path, sizeof(path), f->p[1], "c");
	assert_int_equal(unlink(path), 0);
	put_mtime(f->p[1], "", 1700000000, 0);
	put_mtime(f->a[1], "", 1700000000, 0);
	poke(f->p[1], "d", 3);
	wants = f->wants;
	run_check(f, t, 2, false, NULL);
	assert_true(f->wants > wants);
	same_trees(f);
}

#define MANY      4500
#define NAME_PAD  240        /* 4500 names of ~250 bytes: more than one VERIFY's data */

static void
many_name(char *out, size_t size, int i, const char *tag)
{
	snprintf(out, size, "many/n%04d%s-%0*d", i, tag, NAME_PAD, 0);
}

/*
 * A directory whose names do not fit one VERIFY: its chunks each cover a
 * range of names, so the passive finds the names it lacks and the ones
 * only it has in every chunk, none twice and none missed between chunks.
 */
static void
test_big_directory(void **state)
{
	struct fx *f = *state;
	struct record_hdr h;
	struct op op;
	char name[PATH_MAX], names[8192], want[8192] = "";
	size_t i, chunks = 0, afters = 0;
	int k;

	put_dir(f->a[0], "many", 0755);
	put_dir(f->p[0], "many", 0755);
	for (k = 0; k < MANY; k++) {
		many_name(name, sizeof(name), k, "");
		put_file(f->a[0], name, 0, 0, 0644);
		put_mtime(f->a[0], name, 1700000000, k);
		if (k % 500 != 7) {
			put_file(f->p[0], name, 0, 0, 0644);
			put_mtime(f->p[0], name, 1700000000, k);
		}
		if (k % 700 == 3) {
			many_name(name, sizeof(name), k, "x");
			put_file(f->p[0], name, 1, 50, 0644);
			snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s%s",
			    want[0] ? "," : "", name + 5);
		}
	}
	start(f);
	run_check(f, NULL, 0, true, NULL);
	assert_int_equal(f->diverged, 0);
	for (i = 0; i < f->j.n; i++) {
		jl_get(&f->j, i, &h, &op);
		if (h.type == RECORD_VERIFY && strcmp(op.path, "many") == 0 &&
		    !(op.flags & (OP_VERIFY_XATTRS | OP_VERIFY_ENTRIES))) {
			chunks++;
			afters += (op.flags & OP_VERIFY_AFTER) != 0;
		}
	}
	assert_true(chunks >= 2);
	assert_int_equal(afters, chunks - 1);
	assert_int_equal(f->moved, 7);
	quarantine_names(f, "root0/many", names, sizeof(names));
	assert_string_equal(names, want);
	same_trees(f);
}

/* Give every entry of P's rel the mtime of A's entry of that name, when it has one. */
static void
same_mtimes(const struct fx *f, const char *rel)
{
	char a[PATH_MAX], p[PATH_MAX], **v;
	struct stat st;
	size_t n, i;

	path_of(a, sizeof(a), f->a[0], rel);
	n = dir_names(a, &v);
	for (i = 0; i < n; i++) {
		char sub[PATH_MAX];

		snprintf(sub, sizeof(sub), "%s/%s", rel, v[i]);
		path_of(a, sizeof(a), f->a[0], sub);
		path_of(p, sizeof(p), f->p[0], sub);
		assert_int_equal(lstat(a, &st), 0);
		if (lstat(p, &st) == 0 && lstat(a, &st) == 0)
			put_mtime(f->p[0], sub, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
		free(v[i]);
	}
	free(v);
}

/* The VERIFY records with OP_VERIFY_ENTRIES from index from: how many, and their entries. */
static size_t
batches(const struct fx *f, size_t from, size_t *entries, size_t *largest)
{
	struct record_hdr h;
	struct op op;
	size_t i, n = 0;

	*entries = *largest = 0;
	for (i = from; i < f->j.n; i++) {
		jl_get(&f->j, i, &h, &op);
		if (h.type != RECORD_VERIFY || !(op.flags & OP_VERIFY_ENTRIES))
			continue;
		n++;
		*entries += op.size;
		if (op.size > *largest)
			*largest = op.size;
	}
	return n;
}

#define NBAT  300

/*
 * A directory of many small entries, checked several to a VERIFY
 * (OP_VERIFY_ENTRIES), with a difference of every kind inside the
 * batches: content, size, mode, owner, mtime, an extra xattr on the
 * passive, a file the passive lacks, one only it has, a directory where
 * the active has a file, symlinks to elsewhere or of another type, and a
 * subdirectory the passive lacks whole. What may not be batched (a file
 * over one block, one with xattrs, a directory) is checked alone between
 * batches. The copy ends identical, the quarantine holds what only the
 * passive had, and a second check finds nothing.
 */
static void
batch_check(void **state, bool interleaved)
{
	struct fx *f = *state;
	struct check_scan_stats st;
	struct check_verify_stats vs;
	char name[64], names[1024], paths[65536];
	size_t n, entries, largest, size;
	int i;

	put_dir(f->a[0], "bat", 0755);
	put_dir(f->p[0], "bat", 0755);
	for (i = 0; i < NBAT; i++) {
		snprintf(name, sizeof(name), "bat/f%03d", i);
		size = i % 50 == 0 ? 0 : i == 10 ? 65536 : i == 11 ? 65537 : (size_t)(i * 37) % 2000 + 1;
		if (i == 100 || i == 200 || i == 201 || i == 202)
			continue;
		put_file(f->a[0], name, size, (unsigned)i, 0644);
		if (i != 7)
			put_file(f->p[0], name, i == 260 ? size + 50 : size, (unsigned)i, 0644);
	}
	poke(f->p[0], "bat/f005", 3);
	poke(f->p[0], "bat/f010", 65535);
	put_mode(f->p[0], "bat/f006", 0600);
	put_owner(f->p[0], "bat/f009", 1234, 5678);
	put_xattr(f->a[0], "bat/f020", "user.a", "1");
	put_xattr(f->p[0], "bat/f020", "user.a", "1");
	put_xattr(f->p[0], "bat/f250", "user.extra", "e");
	put_file(f->a[0], "bat/f100", 10, 100, 0644);
	put_dir(f->p[0], "bat/f100", 0755);
	put_file(f->p[0], "bat/f100/inner", 10, 101, 0644);
	put_file(f->p[0], "bat/f150x", 33, 150, 0644);
	put_link(f->a[0], "bat/f200", "target-a");
	put_link(f->p[0], "bat/f200", "target-p");
	put_link(f->a[0], "bat/f201", "f000");
	put_link(f->p[0], "bat/f201", "f000");
	put_link(f->a[0], "bat/f202", "f001");
	put_file(f->p[0], "bat/f202", 5, 202, 0644);
	put_dir(f->a[0], "bat/f120sub", 0700);
	for (i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "bat/f120sub/s%d", i);
		put_file(f->a[0], name, 100, 300 + (unsigned)i, 0644);
	}
	same_mtimes(f, "bat");
	put_mtime(f->p[0], "bat/f008", 1600000000, 8);
	put_mtime(f->a[0], "bat", 1700000000, 0);
	put_mtime(f->p[0], "bat", 1700000000, 0);
	for (i = 0; i < NROOTS; i++) {
		put_mtime(f->a[i], "", 1700000000, 0);
		put_mtime(f->p[i], "", 1700000000, 0);
	}
	start(f);

	run_check(f, NULL, 0, interleaved, &st);
	assert_int_equal(f->diverged, 0);
	same_trees(f);
	quarantine_names(f, "root0/bat", names, sizeof(names));
	assert_string_equal(names, "f100,f150x,f200,f202");
	quarantined_file(f, "root0/bat/f150x", 33, 150);
	quarantined_file(f, "root0/bat/f202", 5, 202);
	check_verifier_stats(f->v, &vs);
	assert_int_equal(vs.blocks_differ, 3);            /* f005, f010, f260 */
	assert_int_equal(vs.quarantined, 4);

	/* Batches did the small entries: a few records, none over the bound. */
	n = batches(f, 0, &entries, &largest);
	assert_true(n >= 3);
	assert_true(largest <= 128);
	/* bat's NBAT files and symlinks but f011 (65537 bytes) and f020 (xattrs); f120sub's 5. */
	assert_int_equal(entries, NBAT - 2 + 5);
	assert_int_equal(st.entries, 3 + NBAT + 1 + 5);   /* roots and bat; bat's; f120sub's */
	assert_true(st.records < 20);
	verify_paths(f, 0, paths, sizeof(paths));
	assert_non_null(strstr(paths, ",0:bat/f010,0:bat/f011,0:bat/f012,"));
	assert_non_null(strstr(paths, ",0:bat/f120,0:bat/f120sub,0:bat/f120sub/s0,"));
	assert_non_null(strstr(paths, ",0:bat/f120sub/s4,0:bat/f121,"));

	check_again_finds_nothing(f);
}

static void
test_batches(void **state)
{
	batch_check(state, false);
}

static void
test_batches_interleaved(void **state)
{
	batch_check(state, true);
}

/*
 * Entries change between the directory's listing and their batch: one
 * removed, one written (by the application, journaled under the lock).
 * The batch passes over the one gone and hashes the other as it is then;
 * the copy ends identical.
 */
static void
test_batch_changes(void **state)
{
	struct fx *f = *state;
	struct check_scanner *s;
	struct check_scan_stats st;
	struct record_hdr h;
	struct op op;
	char name[32];
	long steps = 0;
	bool listed = false;
	int i, rc;

	put_dir(f->a[0], "g", 0755);
	put_dir(f->p[0], "g", 0755);
	for (i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "g/g%02d", i);
		put_file(f->a[0], name, 500, (unsigned)i, 0644);
		put_file(f->p[0], name, 500, (unsigned)i, 0644);
	}
	same_mtimes(f, "g");
	/*
	 * g's mtimes differ, so its listing wants its attributes, answered
	 * after the unlink below reached the passive (which moved its g's
	 * mtime to its own clock: the test's UNLINK carries no dir_mtime).
	 */
	put_mtime(f->p[0], "g", 1600000000, 0);
	start(f);
	s = check_scanner_new(f->afd, NROOTS, &f->em, NULL, 0);
	assert_non_null(s);
	while (!listed) {
		assert_int_equal(check_scanner_step(s), 1);
		assert_true(++steps < 100);
		jl_get(&f->j, f->j.n - 1, &h, &op);
		listed = strcmp(op.path, "g") == 0 && !(op.flags & OP_VERIFY_ENTRIES);
	}
	app_unlink(f, "g/g03");
	app_write(f, "g/g05", 7, "CHANGED");
	while ((rc = check_scanner_step(s)) == 1)
		assert_true(++steps < MAX_STEPS);
	assert_int_equal(rc, 0);
	check_scanner_stats(s, &st);
	check_scanner_free(s);
	assert_int_equal(st.skipped_gone, 1);
	catch_up(f);
	assert_int_equal(f->diverged, 0);
	same_trees(f);
}

/* ---- the hash cache ---- */

#define BIG_SIZE  (3 * 65536 + 1000)  /* a file of four blocks, read in one VERIFY */
#define SMALL_N   5                   /* files h/t0... of 500 bytes, batched */

/*
 * Identical files on both sides, old enough to be remembered, with a cache
 * on each side (the scanner's in f->sc, the verifier's in *pc); a first
 * full check reads them all and remembers them, a second reads none.
 */
static void
cache_warm(struct fx *f, struct hashcache **pc)
{
	struct hashcache *ac = hashcache_new(1000, 10000), *vc = hashcache_new(1000, 10000);
	struct check_verify_stats vs;
	struct check_scan_stats st;
	struct timespec wait = { 1, 100 * 1000 * 1000 };
	char name[32];
	int i;

	put_dir(f->a[0], "h", 0755);
	put_dir(f->p[0], "h", 0755);
	/* Small files after "small" in the listing: one batch, after big and small. */
	for (i = 0; i < SMALL_N; i++) {
		snprintf(name, sizeof(name), "h/t%d", i);
		put_file(f->a[0], name, 500, 92 + (unsigned)i, 0644);
		put_file(f->p[0], name, 500, 92 + (unsigned)i, 0644);
	}
	put_file(f->a[0], "h/small", 1000, 90, 0644);
	put_file(f->p[0], "h/small", 1000, 90, 0644);
	put_file(f->a[0], "h/big", BIG_SIZE, 91, 0644);
	put_file(f->p[0], "h/big", BIG_SIZE, 91, 0644);
	same_mtimes(f, "h");
	put_mtime(f->p[0], "h", 1600000000, 0);
	put_mtime(f->a[0], "h", 1600000000, 0);
	/* Past the racy margin: a file read within 1 s of its ctime is not remembered. */
	nanosleep(&wait, NULL);
	start(f);
	f->sc = ac;
	check_verifier_use_cache(f->v, vc);
	run_check(f, NULL, 0, false, &st);
	same_trees(f);
	assert_int_equal(st.cached, 0);
	/* The second reads nothing: every file VERIFY is answered by the caches. */
	run_check(f, NULL, 0, false, &st);
	assert_int_equal(st.cached, 2 + SMALL_N);
	assert_int_equal(st.bytes, 0);
	check_verifier_stats(f->v, &vs);
	assert_int_equal(vs.cached, 2 + SMALL_N);
	*pc = vc;
}

/*
 * A file of the passive's copy changed underneath with its size and mtime
 * restored (as a tool that keeps mtimes, or a disk put back, leaves it):
 * its ctime moved, so the next full check, caches warm, reads it again on
 * the passive and finds it different, and the repair makes it identical.
 */
static void
test_cache_changed_underneath(void **state)
{
	struct fx *f = *state;
	struct hashcache *vc = NULL;
	struct hashcache_stats hs;
	struct check_verify_stats before, after;
	struct check_scan_stats st;
	struct stat small, big, t3;
	char path[PATH_MAX];
	size_t wants;

	cache_warm(f, &vc);
	path_of(path, sizeof(path), f->p[0], "h/t3");
	assert_int_equal(lstat(path, &t3), 0);
	path_of(path, sizeof(path), f->p[0], "h/small");
	assert_int_equal(lstat(path, &small), 0);
	path_of(path, sizeof(path), f->p[0], "h/big");
	assert_int_equal(lstat(path, &big), 0);
	poke(f->p[0], "h/small", 10);
	poke(f->p[0], "h/big", 2 * 65536 + 5);
	poke(f->p[0], "h/t3", 499);
	put_mtime(f->p[0], "h/small", small.st_mtim.tv_sec, small.st_mtim.tv_nsec);
	put_mtime(f->p[0], "h/big", big.st_mtim.tv_sec, big.st_mtim.tv_nsec);
	put_mtime(f->p[0], "h/t3", t3.st_mtim.tv_sec, t3.st_mtim.tv_nsec);
	wants = f->wants;
	check_verifier_stats(f->v, &before);
	run_check(f, NULL, 0, false, &st);
	check_verifier_stats(f->v, &after);
	/* The active's files did not change: its cache answers all. */
	assert_int_equal(st.cached, 2 + SMALL_N);
	/* The passive read the three again and wanted a block of each; the rest it did not read. */
	assert_int_equal(after.cached - before.cached, SMALL_N - 1);
	assert_int_equal(after.blocks_differ - before.blocks_differ, 3);
	assert_true(f->wants > wants);
	same_trees(f);
	hashcache_stats(vc, &hs);
	assert_true(hs.misses >= 3);
	hashcache_free(vc);
}

/*
 * With rehash the caches are not consulted, on either side: a passive
 * cache made to hide a difference (the hashes of the active's content for
 * a copy whose bytes differ: what a disk returning other bytes than were
 * written would look like) hides it from a plain check, not from a
 * rehash, whose first VERIFY says so.
 */
static void
test_cache_rehash(void **state)
{
	struct fx *f = *state;
	struct hashcache *vc = NULL;
	struct check_verify_stats before, after;
	struct check_scan_stats st;
	struct timespec later;
	struct record_hdr h;
	struct op op;
	struct stat ps;
	uint8_t buf[1000];
	uint64_t hash;
	char path[PATH_MAX];
	size_t wants, first;
	int fd;

	cache_warm(f, &vc);
	path_of(path, sizeof(path), f->a[0], "h/small");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	close(fd);
	hash = XXH3_64bits(buf, sizeof(buf));
	path_of(path, sizeof(path), f->p[0], "h/small");
	assert_int_equal(lstat(path, &ps), 0);
	poke(f->p[0], "h/small", 10);
	put_mtime(f->p[0], "h/small", ps.st_mtim.tv_sec, ps.st_mtim.tv_nsec);
	assert_int_equal(lstat(path, &ps), 0);
	clock_gettime(CLOCK_REALTIME, &later);
	later.tv_sec += 2;
	assert_true(hashcache_put(vc, 0, &ps, &later, &hash, 1));

	wants = f->wants;
	run_check(f, NULL, 0, false, NULL);
	assert_int_equal(f->wants, wants);          /* hidden by the poisoned cache */

	f->rehash = true;
	first = f->j.n;
	check_verifier_stats(f->v, &before);
	run_check(f, NULL, 0, false, &st);
	check_verifier_stats(f->v, &after);
	jl_get(&f->j, first, &h, &op);
	assert_true((op.flags & OP_VERIFY_BEGIN) && (op.flags & OP_VERIFY_REHASH));
	assert_int_equal(st.cached, 0);
	assert_int_equal(st.bytes, 1000 + BIG_SIZE + SMALL_N * 500);
	assert_int_equal(after.cached, before.cached);
	assert_true(f->wants > wants);
	same_trees(f);
	hashcache_free(vc);
}

/*
 * A quarantine on another file system than the copy: entries are copied
 * (content, mode, owner, times, xattrs, symlinks, subdirectories), made
 * durable, then removed from the copy.
 */
static void
test_quarantine_other_fs(void **state)
{
	struct fx *f = *state;
	char shm[] = "/dev/shm/lifeline-test-check-XXXXXX", path[PATH_MAX], x[64];
	struct stat st, tmp;
	ssize_t n;

	assert_int_equal(stat("/dev/shm", &st), 0);
	assert_int_equal(stat(f->dir, &tmp), 0);
	if (st.st_dev == tmp.st_dev)
		skip();
	assert_non_null(mkdtemp(shm));
	path_of(f->q, sizeof(f->q), shm, "q");
	put_dir(f->p[0], "gone", 0750);
	put_file(f->p[0], "gone/file", 100000, 60, 0640);
	put_xattr(f->p[0], "gone/file", "user.k", "v");
	put_owner(f->p[0], "gone/file", 1234, 5678);
	put_mtime(f->p[0], "gone/file", 1600000000, 42);
	put_link(f->p[0], "gone/link", "file");
	put_dir(f->p[0], "gone/d", 0700);
	put_file(f->p[0], "gone/d/e", 10, 61, 0644);
	start(f);
	run_check(f, NULL, 0, false, NULL);
	same_trees(f);
	assert_int_equal(f->moved, 1);

	quarantined_file(f, "root0/gone/file", 100000, 60);
	quarantined_file(f, "root0/gone/d/e", 10, 61);
	path_of(path, sizeof(path), f->q, "root0/gone/file");
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode, S_IFREG | 0640);
	assert_int_equal(st.st_uid, 1234);
	assert_int_equal(st.st_gid, 5678);
	assert_int_equal(st.st_mtim.tv_sec, 1600000000);
	assert_int_equal(st.st_mtim.tv_nsec, 42);
	n = lgetxattr(path, "user.k", x, sizeof(x));
	assert_int_equal(n, 1);
	assert_memory_equal(x, "v", 1);
	path_of(path, sizeof(path), f->q, "root0/gone");
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode, S_IFDIR | 0750);
	path_of(path, sizeof(path), f->q, "root0/gone/link");
	n = readlink(path, x, sizeof(x));
	assert_int_equal(n, 4);
	assert_memory_equal(x, "file", 4);
	path_of(path, sizeof(path), f->p[0], "gone");
	assert_int_equal(lstat(path, &st), -1);
	rm_rf(shm);
}

/*
 * An entry only the passive has, twice under the same name: the second is
 * moved in beside the first, never over it, and each move is reported.
 */
static void
test_quarantine_name_taken(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX];

	put_file(f->p[0], "extra", 100, 70, 0644);
	start(f);
	run_check(f, NULL, 0, false, NULL);
	assert_string_equal(f->moved_as, "root0/extra");
	put_file(f->p[0], "extra", 200, 71, 0644);
	run_check(f, NULL, 0, false, NULL);
	assert_string_equal(f->moved_as, "root0/extra,root0/extra.1");
	quarantined_file(f, "root0/extra", 100, 70);
	quarantined_file(f, "root0/extra.1", 200, 71);
	path_of(path, sizeof(path), f->p[0], "extra");
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(f->diverged, 0);
}

/* Three wants, one of each kind, with every field set. */
static size_t
sample_wants(struct check_want w[3])
{
	static const char xnames[] = "user.a\0user.bb";

	memset(w, 0, 3 * sizeof(*w));
	w[0] = (struct check_want){ .root = 1, .kind = CHECK_WANT_BLOCKS, .path = "d/f",
	    .path_len = 3, .nblocks = 3 };
	w[0].blocks[0] = 0;
	w[0].blocks[1] = 65536;
	w[0].blocks[2] = 128u * 65536;
	w[1] = (struct check_want){ .root = 0, .kind = CHECK_WANT_ATTRS, .path = "",
	    .path_len = 0, .xnames = xnames, .xnames_len = sizeof(xnames) };
	w[2] = (struct check_want){ .root = 7, .kind = CHECK_WANT_ENTRY, .path = "d/e",
	    .path_len = 3 };
	return 3;
}

static void
refused_wants(const uint8_t *buf, size_t len, size_t max, const char *word)
{
	static struct check_want out[CHECK_WANTS_MAX];
	char why[256] = "";
	size_t n = 99;

	assert_int_equal(check_wants_decode(buf, len, out, max, &n, why, sizeof(why)), -1);
	assert_int_equal(n, 0);
	if (strstr(why, word) == NULL)
		fail_msg("reason \"%s\" lacks \"%s\"", why, word);
}

/*
 * The wants codec: a round trip of each kind, as many as fit, and the
 * refusal of every malformed message a peer could send.
 */
static void
test_wants_codec(void **state)
{
	static struct check_want out[CHECK_WANTS_MAX], many[CHECK_WANTS_MAX + 1];
	struct check_want w[3];
	uint8_t buf[4096], bad[4096];
	size_t n = sample_wants(w), len, taken, i, got, size;
	char why[256];

	len = check_wants_encode(buf, sizeof(buf), w, n, &taken);
	assert_int_equal(taken, 3);
	assert_int_equal(len, CHECK_WANTS_HEAD + check_want_size(&w[0]) +
	    check_want_size(&w[1]) + check_want_size(&w[2]));
	assert_int_equal(check_wants_decode(buf, len, out, 3, &got, why, sizeof(why)), 0);
	assert_int_equal(got, 3);
	for (i = 0; i < 3; i++) {
		assert_int_equal(out[i].root, w[i].root);
		assert_int_equal(out[i].kind, w[i].kind);
		assert_int_equal(out[i].path_len, w[i].path_len);
		assert_string_equal(out[i].path, w[i].path);
		assert_int_equal(out[i].nblocks, w[i].nblocks);
		assert_memory_equal(out[i].blocks, w[i].blocks, 8 * w[i].nblocks);
		assert_int_equal(out[i].xnames_len, w[i].xnames_len);
		if (w[i].xnames_len > 0)
			assert_memory_equal(out[i].xnames, w[i].xnames, w[i].xnames_len);
	}

	/* Only what fits is taken; the bound holds whatever the buffer. */
	size = CHECK_WANTS_HEAD + check_want_size(&w[0]) + check_want_size(&w[1]);
	assert_int_equal(check_wants_encode(buf, size, w, n, &taken), size);
	assert_int_equal(taken, 2);
	assert_int_equal(check_wants_encode(buf, 10, w, n, &taken), 0);
	assert_int_equal(taken, 0);
	for (i = 0; i <= CHECK_WANTS_MAX; i++)
		many[i] = w[2];
	{
		uint8_t *big = malloc(1 << 20);

		assert_non_null(big);
		len = check_wants_encode(big, 1 << 20, many, CHECK_WANTS_MAX + 1, &taken);
		assert_int_equal(taken, CHECK_WANTS_MAX);
		assert_int_equal(check_wants_decode(big, len, out, CHECK_WANTS_MAX, &got, why,
		    sizeof(why)), 0);
		assert_int_equal(got, CHECK_WANTS_MAX);
		refused_wants(big, len, CHECK_WANTS_MAX - 1, "at most");
		put16(big + 2, CHECK_WANTS_MAX + 1);
		refused_wants(big, len, CHECK_WANTS_MAX + 1, "at most 256");
		free(big);
	}

	/* A want that breaks the rules is not encoded. */
	w[2].path = "../x";
	w[2].path_len = 4;
	assert_int_equal(check_wants_encode(buf, sizeof(buf), w, n, &taken), 0);
	sample_wants(w);

	/* Every cut of the message is refused. */
	len = check_wants_encode(buf, sizeof(buf), w, n, &taken);
	for (i = 0; i < len; i++) {
		assert_int_equal(check_wants_decode(buf, i, out, 3, &got, why, sizeof(why)), -1);
		assert_int_equal(got, 0);
	}
	refused_wants(buf, 3, 3, "version");
	refused_wants(buf, len - 1, 3, "past the end");

	/* Bytes a peer could change, each refused with its reason. */
	{
		/* Offsets in the message: head 4, want 0 head 4..15, path at 16 ("d/f"). */
		static const struct {
			size_t		 at;
			uint8_t		 byte;
			const char	*word;
		} cases[] = {
			{ 0, 2, "version" },
			{ 1, 1, "reserved" },
			{ 6, 0, "unknown kind" },
			{ 6, 4, "unknown kind" },
			{ 7, 1, "reserved byte 1" },
			{ 16, '.', "path breaks the rules" },
			{ 16, '/', "path breaks the rules" },
			{ 17, 0, "holds a NUL" },
			{ 19, 'x', "not followed by one" },
		};

		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			memcpy(bad, buf, len);
			bad[cases[i].at] = cases[i].byte;
			refused_wants(bad, len, 3, cases[i].word);
		}
	}
	/* "../x" for "d/f" ... is four bytes: a path of the same length swapped in. */
	w[2].path = "ab/x";
	w[2].path_len = 4;
	len = check_wants_encode(buf, sizeof(buf), &w[2], 1, &taken);
	memcpy(bad, buf, len);
	memcpy(bad + CHECK_WANTS_HEAD + CHECK_WANT_HEAD, "../x", 4);
	refused_wants(bad, len, 1, "path breaks the rules");
	sample_wants(w);

	/* Blocks: ascending multiples of 64 KiB, only for BLOCKS, at most 128. */
	w[0].blocks[1] = 0;
	assert_int_equal(check_wants_encode(buf, sizeof(buf), w, 1, &taken), 0);
	sample_wants(w);
	len = check_wants_encode(buf, sizeof(buf), w, 1, &taken);
	memcpy(bad, buf, len);
	put64(bad + CHECK_WANTS_HEAD + CHECK_WANT_HEAD + 4 + 8, 65537);
	refused_wants(bad, len, 1, "ascending multiples");
	put16(bad + CHECK_WANTS_HEAD + 6, CHECK_VERIFY_BLOCKS + 1);
	refused_wants(bad, len, 1, "over a limit");
	len = check_wants_encode(buf, sizeof(buf), &w[2], 1, &taken);
	memcpy(bad, buf, len);
	bad[CHECK_WANTS_HEAD + 2] = CHECK_WANT_BLOCKS;
	refused_wants(bad, len, 1, "block count");

	/* Xattr names: only for ATTRS, each ended by a NUL, never empty. */
	len = check_wants_encode(buf, sizeof(buf), &w[1], 1, &taken);
	memcpy(bad, buf, len);
	bad[len - 1] = 'x';
	refused_wants(bad, len, 1, "xattr names");
	memcpy(bad, buf, len);
	bad[CHECK_WANTS_HEAD + CHECK_WANT_HEAD + 1] = '\0';   /* "\0ser.a": an empty name */
	refused_wants(bad, len, 1, "xattr names");
	memcpy(bad, buf, len);
	bad[CHECK_WANTS_HEAD + 2] = CHECK_WANT_ENTRY;
	refused_wants(bad, len, 1, "empty path");

	/* Nothing may follow the last want. */
	len = check_wants_encode(buf, sizeof(buf), w, n, &taken);
	buf[len] = 0;
	refused_wants(buf, len + 1, 3, "after the last");
}

/* ---- after a crash of the active: the entries changed since a moment ---- */

struct picks {
	char	text[4096];     /* "root:path:D|F," in the order picked */
	int	refuse_at;      /* pick number that says no, or -1 */
	int	n;
};

static int
collect(void *arg, uint16_t root, const char *path, size_t len, bool deep)
{
	struct picks *p = arg;
	size_t at = strlen(p->text);

	if (p->n++ == p->refuse_at)
		return -1;
	snprintf(p->text + at, sizeof(p->text) - at, "%u:%.*s:%c,", root, (int)len, path,
	    deep ? 'D' : 'F');
	return 0;
}

static void
now_real(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static struct timespec
minus_ms(struct timespec t, long ms)
{
	t.tv_sec -= ms / 1000;
	t.tv_nsec -= (ms % 1000) * 1000000L;
	if (t.tv_nsec < 0) {
		t.tv_nsec += 1000000000L;
		t.tv_sec--;
	}
	return t;
}

/* Whether every "item," of want is in got, and got holds nothing else. */
static void
same_picks(const char *got, const char *want)
{
	char g[4096], *save = NULL, *tok;
	size_t ng = 0, nw = 0;

	snprintf(g, sizeof(g), "%s", got);
	for (tok = strtok_r(g, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		char item[PATH_MAX];

		snprintf(item, sizeof(item), ",%s,", tok);
		ng++;
		if (strstr(want, item) == NULL)
			fail_msg("picked %s, not expected in %s", tok, want);
	}
	for (const char *c = want; *c != '\0'; c++)
		nw += *c == ',';
	if (nw > 0)
		nw--;                   /* want is ",a,b,": one comma more than items */
	if (ng != nw)
		fail_msg("picked %zu entries (%s), expected %zu (%s)", ng, got, nw, want);
}

/*
 * A crashed active's copy: which entries the walk picks by ctime, with
 * and without a margin before the last journal sync. A write, a chmod, a
 * utimens back to an old mtime, a rename of a directory, a new symlink
 * and a new file after the sync are picked (the directory deep, the roots
 * shallow); what changed before the margin is not, nor what sits in an
 * unchanged directory, nor the directory a changed file is in. A pick
 * refused, or a root that cannot be listed, fails the walk.
 */
static void
test_recent(void **state)
{
	struct fx *f = *state;
	struct timespec t_early, t_sync, since;
	struct check_recent_stats st;
	struct picks p = { .refuse_at = -1 };
	char why[256], from[PATH_MAX], to[PATH_MAX];
	const char *want_sync = ",0::F,0:d/x:F,0:f_chmod:F,0:f_utimens:F,0:e2:D,"
	    "0:keep/sub/q:F,0:ln2:F,1::F,1:new:F,";

	put_file(f->a[0], "old", 100, 1, 0644);
	put_dir(f->a[0], "d", 0755);
	put_file(f->a[0], "d/x", 70000, 2, 0644);
	put_dir(f->a[0], "e", 0755);
	put_file(f->a[0], "e/y", 10, 3, 0644);
	put_dir(f->a[0], "keep", 0755);
	put_file(f->a[0], "keep/z", 10, 4, 0644);
	put_dir(f->a[0], "keep/sub", 0755);
	put_file(f->a[0], "keep/sub/q", 10, 5, 0644);
	put_file(f->a[0], "f_chmod", 10, 6, 0644);
	put_file(f->a[0], "f_utimens", 10, 7, 0644);
	put_link(f->a[0], "ln", "old");
	put_file(f->a[1], "a", 10, 8, 0644);
	sleep_ms(100);
	now_real(&t_early);
	put_file(f->a[0], "early", 10, 9, 0644);
	sleep_ms(100);
	now_real(&t_sync);            /* the journal's last sync */
	sleep_ms(30);
	poke(f->a[0], "d/x", 65536);
	path_of(from, sizeof(from), f->a[0], "f_chmod");
	assert_int_equal(chmod(from, 0600), 0);
	put_mtime(f->a[0], "f_utimens", 1000000000, 0);   /* an mtime from 2001 */
	path_of(from, sizeof(from), f->a[0], "e");
	path_of(to, sizeof(to), f->a[0], "e2");
	assert_int_equal(rename(from, to), 0);
	path_of(from, sizeof(from), f->a[0], "keep/sub/q");
	assert_int_equal(chmod(from, 0640), 0);
	put_link(f->a[0], "ln2", "old");
	put_file(f->a[1], "new", 10, 10, 0644);
	start(f);

	/* No margin: only what changed after the sync. */
	assert_int_equal(check_recent(f->afd, NROOTS, &t_sync, collect, &p, &st, why,
	    sizeof(why)), 0);
	same_picks(p.text, want_sync);
	assert_int_equal(st.picked, 9);
	/* The walk looked at everything but below e2: 2 roots and 15 entries. */
	assert_int_equal(st.entries, 2 + 15);

	/* A margin back to just before "early" was made picks it too, never "old". */
	memset(p.text, 0, sizeof(p.text));
	p.n = 0;
	since = minus_ms(t_early, 10);   /* a file's ctime may trail the clock by a tick */
	assert_int_equal(check_recent(f->afd, NROOTS, &since, collect, &p, &st, why,
	    sizeof(why)), 0);
	same_picks(p.text, ",0::F,0:d/x:F,0:f_chmod:F,0:f_utimens:F,0:e2:D,"
	    "0:keep/sub/q:F,0:ln2:F,1::F,1:new:F,0:early:F,");

	/* Since long ago: the roots, shallow, and every entry of their tops. */
	memset(p.text, 0, sizeof(p.text));
	p.n = 0;
	since = (struct timespec){ 0, 0 };
	assert_int_equal(check_recent(f->afd, NROOTS, &since, collect, &p, &st, why,
	    sizeof(why)), 0);
	same_picks(p.text, ",0::F,0:old:F,0:d:D,0:e2:D,0:keep:D,0:f_chmod:F,0:f_utimens:F,"
	    "0:ln:F,0:early:F,0:ln2:F,1::F,1:a:F,1:new:F,");

	/* A pick that cannot be listed fails the walk: it cannot say it found them all. */
	memset(p.text, 0, sizeof(p.text));
	p.n = 0;
	p.refuse_at = 2;
	assert_int_equal(check_recent(f->afd, NROOTS, &t_sync, collect, &p, &st, why,
	    sizeof(why)), -1);
	p.refuse_at = -1;

	/* A directory that cannot be listed fails it too (not as root: root reads anything). */
	if (geteuid() != 0) {
		path_of(from, sizeof(from), f->a[0], "keep");
		assert_int_equal(chmod(from, 0), 0);
		assert_int_equal(check_recent(f->afd, NROOTS, &t_sync, collect, &p, &st, why,
		    sizeof(why)), -1);
		assert_non_null(strstr(why, "keep"));
		assert_int_equal(chmod(from, 0755), 0);
	}
}

static int
list_entry(void *arg, uint16_t root, const char *path, size_t len, bool deep)
{
	return collect(arg, root, path, len, deep);
}

/* The list a crashed node sends up: round trip, and what a peer could get wrong. */
static void
test_list_codec(void **state)
{
	uint8_t buf[256];
	struct picks p = { .refuse_at = -1 };
	uint64_t token = 0;
	size_t len = CHECK_LIST_HEAD;
	char why[256];

	(void)state;
	put64(buf, 0x1234);
	assert_true(check_list_put(buf, sizeof(buf), &len, 0, "", 0, false));
	assert_true(check_list_put(buf, sizeof(buf), &len, 1, "d/e", 3, true));
	assert_true(check_list_put(buf, sizeof(buf), &len, 0, "f", 1, false));
	assert_false(check_list_put(buf, sizeof(buf), &len, 0, "../x", 4, false));
	assert_false(check_list_put(buf, sizeof(buf), &len, 0, "a/", 2, false));
	assert_false(check_list_put(buf, len + 4, &len, 0, "g", 1, false));
	assert_int_equal(len, CHECK_LIST_HEAD + 4 + 7 + 5);
	assert_int_equal(check_list_decode(buf, len, &token, list_entry, &p, why, sizeof(why)), 0);
	assert_int_equal(token, 0x1234);
	assert_string_equal(p.text, "0::F,1:d/e:D,0:f:F,");

	/* Only the token: an empty list. */
	assert_int_equal(check_list_decode(buf, CHECK_LIST_HEAD, &token, list_entry, &p, why,
	    sizeof(why)), 0);
	/* Torn anywhere inside an entry, or short of the token. */
	for (size_t i = 0; i < len; i++) {
		if (i == CHECK_LIST_HEAD || i == CHECK_LIST_HEAD + 4 ||
		    i == CHECK_LIST_HEAD + 4 + 7)
			continue;       /* ends between two entries: a shorter list */
		assert_int_equal(check_list_decode(buf, i, &token, list_entry, &p, why,
		    sizeof(why)), -1);
	}
	/* Token 0, a path that leaves its root, a length past the end, a refusal. */
	put64(buf, 0);
	assert_int_equal(check_list_decode(buf, len, &token, list_entry, &p, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "token 0"));
	put64(buf, 7);
	buf[CHECK_LIST_HEAD + 4 + 4 + 2] = '.';        /* "d/." */
	assert_int_equal(check_list_decode(buf, len, &token, list_entry, &p, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "rules"));
	buf[CHECK_LIST_HEAD + 4 + 4 + 2] = 'e';
	put16(buf + CHECK_LIST_HEAD + 4 + 2, 200);
	assert_int_equal(check_list_decode(buf, len, &token, list_entry, &p, why, sizeof(why)), -1);
	put16(buf + CHECK_LIST_HEAD + 4 + 2, 3 | CHECK_LIST_DEEP);
	p.refuse_at = p.n + 1;
	assert_int_equal(check_list_decode(buf, len, &token, list_entry, &p, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "refused"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_trip_interleaved, setup, teardown),
		cmocka_unit_test_setup_teardown(test_change_before_repair, setup, teardown),
		cmocka_unit_test_setup_teardown(test_targeted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_targeted_shallow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_after_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_big_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batches_interleaved, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_changed_underneath, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_rehash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quarantine_other_fs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quarantine_name_taken, setup, teardown),
		cmocka_unit_test(test_wants_codec),
		cmocka_unit_test_setup_teardown(test_recent, setup, teardown),
		cmocka_unit_test(test_list_codec),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
