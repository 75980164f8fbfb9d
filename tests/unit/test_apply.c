/*
 * Unit tests of repl/apply: every record type applied and checked on disk,
 * confinement beneath the root, the same tree as doing the ops directly,
 * and replay after a crash at every step.
 *
 * Crash simulation. apply.c calls apply_crash_point(step) after every step
 * that changes the disk: each file system call on the copy, each fsync and
 * syncfs, each pwrite and fdatasync of the position file. It is a weak
 * symbol that no program defines; this file defines it. For a sequence of
 * records, a reference run without crash counts the steps (N) and names
 * them, and gives the reference tree. Then for every k in 1..N a child
 * process opens the applier on a fresh copy, applies the sequence and
 * _exit()s inside the k-th step's crash point, as a crash would, with
 * nothing closed or synced. The parent then opens the applier again (which
 * finishes a pending intent), feeds it the whole sequence again (records at
 * or before the position are skipped, as the journal would resend them)
 * and compares the tree with the reference: file types, modes, owners,
 * sizes, contents, symlink targets, hard links and user xattrs. A second
 * pass crashes the recovery itself too, at each of its first steps.
 *
 * What this cannot show: a process crash keeps the page cache, so writes
 * that were never fsynced survive. The order that makes a power loss safe
 * (intent durable before the op, the op's fsyncs before the position) is
 * checked on the traced step names instead (test_durability_order).
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
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "common/util.h"
#include "helpers/tmpdir.h"
#include "repl/apply.h"

#define CRASHED  86                     /* exit status of a child that "crashed" */
#define MAXSTEPS 4096

/* Whether dump() shows each entry's mtime (the crash tests, whose ops all carry them). */
static bool dump_mtimes;

/* ---- the crash hook ---- */

static long crash_at;                   /* 0: never; k: _exit in the k-th step */
static long steps;
static char *step_names[MAXSTEPS];      /* the steps seen, when tracing */
static bool tracing;

void	apply_crash_point(const char *what);

void
apply_crash_point(const char *what)
{
	steps++;
	if (tracing && steps <= MAXSTEPS)
		step_names[steps - 1] = (char *)what;
	if (crash_at > 0 && steps == crash_at)
		_exit(CRASHED);
}

static void
trace_start(void)
{
	steps = 0;
	crash_at = 0;
	tracing = true;
}

/* ---- fixture ---- */

/* buf = dir/rel; a path that does not fit fails the test. */
static void
join(char *buf, size_t size, const char *dir, const char *rel)
{
	int n = snprintf(buf, size, "%s/%s", dir, rel);

	assert_true(n > 0 && (size_t)n < size);
}

struct fx {
	char	*dir;
	char	 root[PATH_MAX];
	char	 root2[PATH_MAX];
	char	 outside[PATH_MAX];
	char	 pos[PATH_MAX];
};

static void
fresh(struct fx *f)
{
	char *argv[] = { "rm", "-rf", f->root, f->root2, f->outside, NULL };

	assert_int_equal(run_argv(argv, 1), 0);
	unlink(f->pos);
	assert_int_equal(mkdir(f->root, 0755), 0);
	assert_int_equal(mkdir(f->root2, 0755), 0);
	assert_int_equal(mkdir(f->outside, 0755), 0);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->dir = tmpdir();
	join(f->root, sizeof(f->root), f->dir, "root");
	join(f->root2, sizeof(f->root2), f->dir, "root2");
	join(f->outside, sizeof(f->outside), f->dir, "outside");
	join(f->pos, sizeof(f->pos), f->dir, "apply.pos");
	umask(077);                         /* the applier must not depend on it */
	fresh(f);
	crash_at = 0;
	tracing = false;
	dump_mtimes = false;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	rm_rf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static struct applier *
open_applier(const struct fx *f)
{
	const char *roots[] = { f->root, f->root2 };
	char err[512] = "";
	struct applier *a = applier_open(roots, 2, f->pos, err, sizeof(err));

	if (a == NULL)
		fail_msg("applier_open: %s", err);
	return a;
}

/* ---- ops ---- */

#define OP(t, p, ...) ((struct op){ .type = (t), .path = (p), \
    .path_len = (uint16_t)strlen(p), __VA_ARGS__ })
#define P2(s)   .path2 = (s), .path2_len = (uint16_t)strlen(s)
#define NAME(s) .name = (s), .name_len = (uint16_t)strlen(s)
#define DATA(s) .data = (const uint8_t *)(s), .data_len = (uint32_t)strlen(s)

/*
 * Apply op as seq (epoch 1) the way lifeline-repl does: encoded into a
 * payload, decoded, applied. The decoded op points into buf.
 */
static enum apply_result
apply_as(struct applier *a, uint64_t epoch, uint64_t seq, const struct op *op, char *why,
    size_t whylen)
{
	static uint8_t buf[OP_HEAD_SIZE + 3 * (OP_PATH_MAX + 1) + OP_MAX_DATA];
	struct record_hdr h = { .type = op->type, .epoch = epoch, .seq = seq };
	struct op dec;
	size_t n = op_encode(buf, sizeof(buf), op);

	if (n == 0 || op_decode(op->type, buf, n, &dec, why, whylen) == -1) {
		fprintf(stderr, "op of seq %llu does not encode and decode: %s\n",
		    (unsigned long long)seq, why);
		return (enum apply_result)-1;
	}
	return applier_apply(a, &h, &dec, why, whylen);
}

static const char *
result_name(enum apply_result r)
{
	switch (r) {
	case APPLY_OK:       return "ok";
	case APPLY_DIVERGED: return "diverged";
	case APPLY_REFUSED:  return "refused";
	case APPLY_FAILED:   return "failed";
	}
	return "not a result";
}

static void
expect(struct applier *a, uint64_t seq, const struct op *op, enum apply_result want,
    const char *word, int line)
{
	char why[512] = "";
	enum apply_result r = apply_as(a, 1, seq, op, why, sizeof(why));

	if (r != want)
		fail_msg("line %d: seq %llu: %s, expected %s: %s", line, (unsigned long long)seq,
		    result_name(r), result_name(want), why);
	if (word != NULL && strstr(why, word) == NULL)
		fail_msg("line %d: reason \"%s\" lacks \"%s\"", line, why, word);
}
#define APPLY(a, seq, op, want, word) expect(a, seq, &(op), want, word, __LINE__)

/* A raw op, not through op_decode: the applier's own checks must hold. */
static enum apply_result
raw(struct applier *a, uint64_t seq, const struct op *op, char *why, size_t whylen)
{
	struct record_hdr h = { .type = op->type, .epoch = 1, .seq = seq };

	return applier_apply(a, &h, op, why, whylen);
}

/* ---- looking at trees ---- */

static char *
at(const char *dir, const char *rel)
{
	static char path[4][PATH_MAX];
	static int i;

	i = (i + 1) % 4;
	join(path[i], sizeof(path[i]), dir, rel);
	return path[i];
}

static char *
slurp(const char *path, size_t *lenp)
{
	static char buf[1 << 16];
	int fd = open(path, O_RDONLY | O_NOFOLLOW);
	ssize_t n;

	if (fd == -1)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	if (lenp != NULL)
		*lenp = (size_t)n;
	return buf;
}

static void
put_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

struct seen {
	ino_t	ino;
	char	path[256];
};

static void
put_mtime(FILE *out, const struct stat *st)
{
	if (dump_mtimes)
		fprintf(out, " mtime=%lld.%09ld", (long long)st->st_mtim.tv_sec,
		    st->st_mtim.tv_nsec);
}

/* One line per entry below dirfd, sorted, recursively; see the header comment. */
static void
dump_dir(FILE *out, int dirfd, const char *prefix, struct seen *seen, size_t *nseen)
{
	struct dirent **names;
	int i, n = scandirat(dirfd, ".", &names, NULL, alphasort);

	assert_true(n >= 0);
	for (i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		char path[256], target[256], list[1024], value[256];
		struct stat st;
		ssize_t len, vlen;
		size_t k;
		int fd;

		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
			free(names[i]);
			continue;
		}
		snprintf(path, sizeof(path), "%s%s", prefix, name);
		assert_int_equal(fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
		fprintf(out, "%s mode=%o owner=%u:%u", path, (unsigned)st.st_mode,
		    (unsigned)st.st_uid, (unsigned)st.st_gid);
		put_mtime(out, &st);
		if (S_ISLNK(st.st_mode)) {
			len = readlinkat(dirfd, name, target, sizeof(target) - 1);
			assert_true(len >= 0);
			target[len] = '\0';
			fprintf(out, " -> %s", target);
		}
		if (S_ISREG(st.st_mode)) {
			static char data[1 << 16];

			fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW);
			assert_true(fd >= 0);
			len = read(fd, data, sizeof(data));
			assert_true(len >= 0);
			fprintf(out, " size=%lld xxh3=%016llx", (long long)st.st_size,
			    (unsigned long long)XXH3_64bits(data, (size_t)len));
			if (st.st_nlink > 1) {
				for (k = 0; k < *nseen && seen[k].ino != st.st_ino; k++)
					;
				if (k == *nseen) {
					seen[k].ino = st.st_ino;
					snprintf(seen[k].path, sizeof(seen[k].path), "%s", path);
					(*nseen)++;
				}
				fprintf(out, " links=%ju same-as=%s", (uintmax_t)st.st_nlink,
				    seen[k].path);
			}
			len = flistxattr(fd, list, sizeof(list));
			for (k = 0; len > 0 && k < (size_t)len; k += strlen(list + k) + 1) {
				if (strncmp(list + k, "user.", 5) != 0)
					continue;
				vlen = fgetxattr(fd, list + k, value, sizeof(value) - 1);
				assert_true(vlen >= 0);
				value[vlen] = '\0';
				fprintf(out, " %s=%s", list + k, value);
			}
			close(fd);
		}
		fputc('\n', out);
		if (S_ISDIR(st.st_mode)) {
			char sub[260];

			fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
			assert_true(fd >= 0);
			snprintf(sub, sizeof(sub), "%s/", path);
			dump_dir(out, fd, sub, seen, nseen);
			close(fd);
		}
		free(names[i]);
	}
	free(names);
}

/* The tree below dir as text, malloc'd; the directory itself first. */
static char *
dump(const char *dir)
{
	struct seen seen[64];
	size_t nseen = 0, len;
	struct stat st;
	char *text;
	FILE *out = open_memstream(&text, &len);
	int fd = open(dir, O_RDONLY | O_DIRECTORY);

	assert_non_null(out);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	fprintf(out, ". mode=%o owner=%u:%u", (unsigned)st.st_mode, (unsigned)st.st_uid,
	    (unsigned)st.st_gid);
	put_mtime(out, &st);
	fputc('\n', out);
	dump_dir(out, fd, "", seen, &nseen);
	close(fd);
	fclose(out);
	return text;
}

/* ---- each type, on disk ---- */

static void
test_each_type(void **state)
{
	struct fx *f = *state;
	struct applier *a = open_applier(f);
	struct stat st;
	struct timespec now;
	char buf[64];
	size_t len;
	uint64_t s = 0;

	APPLY(a, ++s, OP(RECORD_MKDIR, "d", .mode = S_IFDIR | 02750, .uid = 1000, .gid = 1001),
	    APPLY_OK, NULL);
	assert_int_equal(lstat(at(f->root, "d"), &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 02750);
	assert_int_equal(st.st_uid, 1000);
	assert_int_equal(st.st_gid, 1001);

	/* Exact mode, set-id bits too, whatever the umask (077 here). */
	APPLY(a, ++s, OP(RECORD_CREATE, "d/f", .mode = S_IFREG | 06755, .uid = 7, .gid = 8,
	    .flags = OP_CREATE_EXCL), APPLY_OK, NULL);
	assert_int_equal(lstat(at(f->root, "d/f"), &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 06755);
	assert_int_equal(st.st_uid, 7);
	assert_int_equal(st.st_gid, 8);
	assert_int_equal(st.st_size, 0);

	APPLY(a, ++s, OP(RECORD_WRITE, "d/f", .offset = 3, DATA("abc")), APPLY_OK, NULL);
	APPLY(a, ++s, OP(RECORD_WRITE, "d/f", .offset = 0, DATA("xy")), APPLY_OK, NULL);
	assert_memory_equal(slurp(at(f->root, "d/f"), &len), "xy\0abc", 6);
	assert_int_equal(len, 6);

	APPLY(a, ++s, OP(RECORD_TRUNCATE, "d/f", .size = 4), APPLY_OK, NULL);
	assert_memory_equal(slurp(at(f->root, "d/f"), &len), "xy\0a", 4);
	assert_int_equal(len, 4);
	APPLY(a, ++s, OP(RECORD_TRUNCATE, "d/f", .size = 10), APPLY_OK, NULL);
	assert_int_equal(lstat(at(f->root, "d/f"), &st), 0);
	assert_int_equal(st.st_size, 10);

	/* CREATE without O_EXCL on an existing file: O_TRUNC empties it, owner stays. */
	APPLY(a, ++s, OP(RECORD_CREATE, "d/f", .mode = 0600, .uid = 1, .gid = 1,
	    .flags = OP_CREATE_TRUNC), APPLY_OK, NULL);
	assert_int_equal(lstat(at(f->root, "d/f"), &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(st.st_uid, 7);
	assert_int_equal(st.st_mode & 07777, 06755);

	APPLY(a, ++s, OP(RECORD_CHMOD, "d/f", .mode = 0604), APPLY_OK, NULL);
	assert_int_equal(lstat(at(f->root, "d/f"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0604);
	APPLY(a, ++s, OP(RECORD_CHMOD, "", .mode = S_IFDIR | 0711), APPLY_OK, NULL);
	assert_int_equal(lstat(f->root, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0711);

	APPLY(a, ++s, OP(RECORD_CHOWN, "d/f", .uid = 42, .gid = UINT32_MAX), APPLY_OK, NULL);
	assert_int_equal(lstat(at(f->root, "d/f"), &st), 0);
	assert_int_equal(st.st_uid, 42);
	assert_int_equal(st.st_gid, 8);

	APPLY(a, ++s, OP(RECORD_UTIMENS, "d/f", .atime_sec = 1000, .atime_nsec = 5,
	    .mtime_sec = 2000, .mtime_nsec = 999999999), APPLY_OK, NULL);
	assert_int_equal(lstat(at(f->root, "d/f"), &st), 0);
	assert_int_equal(st.st_atim.tv_sec, 1000);
	assert_int_equal(st.st_atim.tv_nsec, 5);
	assert_int_equal(st.st_mtim.tv_sec, 2000);
	assert_int_equal(st.st_mtim.tv_nsec, 999999999);
	APPLY(a, ++s, OP(RECORD_UTIMENS, "d/f", .atime_nsec = OP_TIME_NOW,
	    .mtime_nsec = OP_TIME_OMIT), APPLY_OK, NULL);
	clock_gettime(CLOCK_REALTIME, &now);
	assert_int_equal(lstat(at(f->root, "d/f"), &st), 0);
	assert_true(st.st_atim.tv_sec >= now.tv_sec - 5);
	assert_int_equal(st.st_mtim.tv_sec, 2000);

	APPLY(a, ++s, OP(RECORD_SETXATTR, "d/f", NAME("user.k"), DATA("v1"),
	    .flags = XATTR_CREATE), APPLY_OK, NULL);
	/* Replayed with XATTR_CREATE, it must not fail. */
	APPLY(a, ++s, OP(RECORD_SETXATTR, "d/f", NAME("user.k"), DATA("v2"),
	    .flags = XATTR_CREATE), APPLY_OK, NULL);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(getxattr(at(f->root, "d/f"), "user.k", buf, sizeof(buf)), 2);
	assert_string_equal(buf, "v2");
	APPLY(a, ++s, OP(RECORD_REMOVEXATTR, "d/f", NAME("user.k")), APPLY_OK, NULL);
	assert_int_equal(getxattr(at(f->root, "d/f"), "user.k", buf, sizeof(buf)), -1);
	assert_int_equal(errno, ENODATA);
	APPLY(a, ++s, OP(RECORD_REMOVEXATTR, "d/f", NAME("user.k")), APPLY_OK, NULL);

	APPLY(a, ++s, OP(RECORD_FALLOCATE, "d/f", .offset = 0, .size = 8192), APPLY_OK, NULL);
	assert_int_equal(lstat(at(f->root, "d/f"), &st), 0);
	assert_int_equal(st.st_size, 8192);
	APPLY(a, ++s, OP(RECORD_FALLOCATE, "d/f", .offset = 8192, .size = 8192,
	    .flags = FALLOC_FL_KEEP_SIZE), APPLY_OK, NULL);
	assert_int_equal(lstat(at(f->root, "d/f"), &st), 0);
	assert_int_equal(st.st_size, 8192);

	/* DATA: the block, and the file's length from the active. */
	APPLY(a, ++s, OP(RECORD_DATA, "d/f", .offset = 2, .size = 5, DATA("BLK")), APPLY_OK,
	    NULL);
	assert_memory_equal(slurp(at(f->root, "d/f"), &len), "\0\0BLK", 5);
	assert_int_equal(len, 5);

	/* VERIFY and FSYNC_BARRIER change nothing but the position. */
	{
		char *before = dump(f->root), *after;
		static const uint8_t h8[8];

		APPLY(a, ++s, OP(RECORD_VERIFY, "d/f", .size = 5, .mode = S_IFREG | 0604,
		    .data = h8, .data_len = 8), APPLY_OK, NULL);
		APPLY(a, ++s, OP(RECORD_FSYNC_BARRIER, "d/f", .flags = OP_FSYNC_DATA), APPLY_OK,
		    NULL);
		after = dump(f->root);
		assert_string_equal(before, after);
		free(before);
		free(after);
	}

	APPLY(a, ++s, OP(RECORD_LINK, "d/f", P2("hard")), APPLY_OK, NULL);
	{
		struct stat st2;

		assert_int_equal(lstat(at(f->root, "d/f"), &st), 0);
		assert_int_equal(lstat(at(f->root, "hard"), &st2), 0);
		assert_true(st.st_ino == st2.st_ino);
		assert_int_equal(st.st_nlink, 2);
	}

	APPLY(a, ++s, OP(RECORD_SYMLINK, "d/ln", P2("../../outside/x"), .uid = 5, .gid = 6),
	    APPLY_OK, NULL);
	assert_int_equal(lstat(at(f->root, "d/ln"), &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(st.st_uid, 5);
	assert_int_equal(st.st_gid, 6);
	assert_int_equal(readlink(at(f->root, "d/ln"), buf, sizeof(buf)), 15);
	assert_memory_equal(buf, "../../outside/x", 15);
	/* Owner and times of the link itself: lchown, not the target. */
	APPLY(a, ++s, OP(RECORD_CHOWN, "d/ln", .uid = 9, .gid = 9), APPLY_OK, NULL);
	assert_int_equal(lstat(at(f->root, "d/ln"), &st), 0);
	assert_int_equal(st.st_uid, 9);
	APPLY(a, ++s, OP(RECORD_UTIMENS, "d/ln", .atime_nsec = OP_TIME_OMIT, .mtime_sec = 77),
	    APPLY_OK, NULL);
	assert_int_equal(lstat(at(f->root, "d/ln"), &st), 0);
	assert_int_equal(st.st_mtim.tv_sec, 77);
	/* An xattr on a symlink is skipped: no fd for it without following it. */
	APPLY(a, ++s, OP(RECORD_SETXATTR, "d/ln", NAME("user.k"), DATA("v")), APPLY_OK, NULL);

	APPLY(a, ++s, OP(RECORD_RENAME, "hard", P2("d/g")), APPLY_OK, NULL);
	assert_int_equal(access(at(f->root, "hard"), F_OK), -1);
	assert_int_equal(lstat(at(f->root, "d/g"), &st), 0);
	APPLY(a, ++s, OP(RECORD_CREATE, "d/h", .mode = 0644, .flags = OP_CREATE_EXCL), APPLY_OK,
	    NULL);
	APPLY(a, ++s, OP(RECORD_RENAME, "d/h", P2("d/g"), .flags = RENAME_NOREPLACE),
	    APPLY_DIVERGED, "path2 exists");
	APPLY(a, ++s, OP(RECORD_RENAME, "d/h", P2("d/ln"), .flags = RENAME_EXCHANGE), APPLY_OK,
	    NULL);
	assert_int_equal(lstat(at(f->root, "d/h"), &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(lstat(at(f->root, "d/ln"), &st), 0);
	assert_true(S_ISREG(st.st_mode));

	APPLY(a, ++s, OP(RECORD_UNLINK, "d/h"), APPLY_OK, NULL);
	assert_int_equal(lstat(at(f->root, "d/h"), &st), -1);
	APPLY(a, ++s, OP(RECORD_MKDIR, "d/e", .mode = 0700), APPLY_OK, NULL);
	APPLY(a, ++s, OP(RECORD_RMDIR, "d/e"), APPLY_OK, NULL);
	assert_int_equal(lstat(at(f->root, "d/e"), &st), -1);

	/* Root index 1 is the second directory. */
	APPLY(a, ++s, OP(RECORD_CREATE, "other", .root = 1, .mode = 0640, .uid = 3, .gid = 3),
	    APPLY_OK, NULL);
	assert_int_equal(lstat(at(f->root2, "other"), &st), 0);
	assert_int_equal(lstat(at(f->root, "other"), &st), -1);

	assert_true(applier_pos(a).seq == s);
	applier_close(a);
}

/* The copy differs from what the record expects: diverged, position moves on. */
static void
test_diverged(void **state)
{
	struct fx *f = *state;
	struct applier *a = open_applier(f);
	uint64_t s = 0;

	put_file(at(f->root, "x"), "x");
	mkdir(at(f->root, "full"), 0755);
	put_file(at(f->root, "full/y"), "y");
	APPLY(a, ++s, OP(RECORD_UNLINK, "missing"), APPLY_DIVERGED, "missing");
	APPLY(a, ++s, OP(RECORD_WRITE, "missing", DATA("a")), APPLY_DIVERGED, "No such file");
	APPLY(a, ++s, OP(RECORD_WRITE, "nodir/f", DATA("a")), APPLY_DIVERGED, "directory is missing");
	APPLY(a, ++s, OP(RECORD_CREATE, "x", .flags = OP_CREATE_EXCL), APPLY_DIVERGED, "exists");
	APPLY(a, ++s, OP(RECORD_CREATE, "nodir/f"), APPLY_DIVERGED, "directory is missing");
	APPLY(a, ++s, OP(RECORD_MKDIR, "x"), APPLY_DIVERGED, "exists");
	APPLY(a, ++s, OP(RECORD_RMDIR, "full"), APPLY_DIVERGED, "not empty");
	APPLY(a, ++s, OP(RECORD_RMDIR, "x"), APPLY_DIVERGED, "not a directory");
	APPLY(a, ++s, OP(RECORD_UNLINK, "full"), APPLY_DIVERGED, "is a directory");
	APPLY(a, ++s, OP(RECORD_RENAME, "missing", P2("z")), APPLY_DIVERGED, "missing");
	APPLY(a, ++s, OP(RECORD_RENAME, "x", P2("z"), .flags = RENAME_EXCHANGE), APPLY_DIVERGED,
	    "path2 is missing");
	APPLY(a, ++s, OP(RECORD_LINK, "x", P2("full/y")), APPLY_DIVERGED, "path2 exists");
	APPLY(a, ++s, OP(RECORD_WRITE, "full", DATA("a")), APPLY_DIVERGED, "Is a directory");
	APPLY(a, ++s, OP(RECORD_WRITE, "x/under", DATA("a")), APPLY_DIVERGED, "directory is missing");
	assert_true(applier_pos(a).seq == s);
	applier_close(a);
	/* The files are as they were. */
	assert_string_equal(slurp(at(f->root, "x"), NULL), "x");
	assert_string_equal(slurp(at(f->root, "full/y"), NULL), "y");

	/* The position of diverged entry ops is durable. */
	a = open_applier(f);
	assert_true(applier_pos(a).seq == s);
	applier_close(a);
}

/* ---- confinement ---- */

static void
test_confined(void **state)
{
	struct fx *f = *state;
	struct applier *a;
	char *outside_before, *outside_after, why[512];
	struct op op;
	struct stat st;
	uint64_t s = 0;

	put_file(at(f->outside, "secret"), "s");
	assert_int_equal(symlink(at(f->outside, "secret"), at(f->root, "evil")), 0);
	assert_int_equal(symlink(f->outside, at(f->root, "dl")), 0);
	assert_int_equal(symlink("../outside", at(f->root, "rel")), 0);
	assert_int_equal(mkdir(at(f->root, "sub"), 0755), 0);
	put_file(at(f->root, "sub/f"), "inside");
	assert_int_equal(symlink("sub", at(f->root, "din")), 0);
	outside_before = dump(f->outside);
	a = open_applier(f);

	/* A symlink as the last name is never followed: the copy diverged. */
	APPLY(a, ++s, OP(RECORD_WRITE, "evil", DATA("pwned")), APPLY_DIVERGED, "symbolic links");
	APPLY(a, ++s, OP(RECORD_TRUNCATE, "evil", .size = 0), APPLY_DIVERGED, NULL);
	APPLY(a, ++s, OP(RECORD_DATA, "evil", .size = 1, DATA("p")), APPLY_DIVERGED, NULL);
	APPLY(a, ++s, OP(RECORD_CHMOD, "evil", .mode = 0777), APPLY_DIVERGED, NULL);
	APPLY(a, ++s, OP(RECORD_FALLOCATE, "evil", .size = 1 << 20), APPLY_DIVERGED, NULL);
	APPLY(a, ++s, OP(RECORD_CREATE, "evil", .mode = 0666), APPLY_DIVERGED, "not a regular");
	APPLY(a, ++s, OP(RECORD_SETXATTR, "evil", NAME("user.x"), DATA("p")), APPLY_OK, NULL);
	/* On the link itself. */
	APPLY(a, ++s, OP(RECORD_CHOWN, "evil", .uid = 99, .gid = 99), APPLY_OK, NULL);
	APPLY(a, ++s, OP(RECORD_UTIMENS, "evil", .mtime_sec = 1), APPLY_OK, NULL);
	APPLY(a, ++s, OP(RECORD_RENAME, "evil", P2("evil2")), APPLY_OK, NULL);
	APPLY(a, ++s, OP(RECORD_LINK, "evil2", P2("evil3")), APPLY_OK, NULL);
	APPLY(a, ++s, OP(RECORD_UNLINK, "evil3"), APPLY_OK, NULL);
	assert_int_equal(lstat(at(f->root, "evil2"), &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(st.st_uid, 99);

	/* A directory symlink on the way: refused, whether it leads out or not. */
	APPLY(a, ++s, OP(RECORD_WRITE, "dl/secret", DATA("pwned")), APPLY_REFUSED, "beneath");
	APPLY(a, s, OP(RECORD_CREATE, "dl/new", .mode = 0666), APPLY_REFUSED, "beneath");
	APPLY(a, s, OP(RECORD_UNLINK, "dl/secret"), APPLY_REFUSED, NULL);
	APPLY(a, s, OP(RECORD_MKDIR, "rel/newdir"), APPLY_REFUSED, NULL);
	APPLY(a, s, OP(RECORD_SYMLINK, "dl/ln", P2("x")), APPLY_REFUSED, NULL);
	APPLY(a, s, OP(RECORD_RENAME, "sub/f", P2("dl/stolen")), APPLY_REFUSED, "path2");
	APPLY(a, s, OP(RECORD_LINK, "sub/f", P2("rel/stolen")), APPLY_REFUSED, "path2");
	APPLY(a, s, OP(RECORD_RENAME, "dl/secret", P2("here")), APPLY_REFUSED, NULL);
	APPLY(a, s, OP(RECORD_CHMOD, "dl/secret", .mode = 0777), APPLY_REFUSED, NULL);
	APPLY(a, s, OP(RECORD_CHOWN, "dl/secret", .uid = 1), APPLY_REFUSED, NULL);
	APPLY(a, s, OP(RECORD_UTIMENS, "dl/secret", .mtime_sec = 1), APPLY_REFUSED, NULL);
	APPLY(a, s, OP(RECORD_SETXATTR, "dl/secret", NAME("user.x"), DATA("p")), APPLY_REFUSED,
	    NULL);
	APPLY(a, s, OP(RECORD_WRITE, "din/f", DATA("redirected")), APPLY_REFUSED, NULL);
	assert_true(applier_pos(a).seq == s - 1);     /* refused: the position stays */

	/* Raw ops that op_decode would refuse: the applier refuses them again. */
	op = OP(RECORD_WRITE, "../outside/secret", DATA("pwned"));
	assert_int_equal(raw(a, s, &op, why, sizeof(why)), APPLY_REFUSED);
	assert_non_null(strstr(why, "rules"));
	op = OP(RECORD_WRITE, "sub/../../outside/secret", DATA("pwned"));
	assert_int_equal(raw(a, s, &op, why, sizeof(why)), APPLY_REFUSED);
	op = OP(RECORD_CREATE, "/tmp/abs", .mode = 0666);
	assert_int_equal(raw(a, s, &op, why, sizeof(why)), APPLY_REFUSED);
	op = OP(RECORD_RENAME, "sub/f", P2("../outside/stolen"));
	assert_int_equal(raw(a, s, &op, why, sizeof(why)), APPLY_REFUSED);
	assert_non_null(strstr(why, "path2"));
	op = OP(RECORD_LINK, "sub/f", P2("sub//g"));
	assert_int_equal(raw(a, s, &op, why, sizeof(why)), APPLY_REFUSED);
	op = OP(RECORD_UNLINK, "");
	assert_int_equal(raw(a, s, &op, why, sizeof(why)), APPLY_REFUSED);
	op = OP(RECORD_UNLINK, "sub/./f");
	assert_int_equal(raw(a, s, &op, why, sizeof(why)), APPLY_REFUSED);
	op = OP(RECORD_WRITE, "sub/f/", DATA("x"));
	assert_int_equal(raw(a, s, &op, why, sizeof(why)), APPLY_REFUSED);
	op = OP(RECORD_WRITE, "sub/f", .root = 2, DATA("x"));
	assert_int_equal(raw(a, s, &op, why, sizeof(why)), APPLY_REFUSED);
	assert_non_null(strstr(why, "root 2"));
	{
		/* And op_decode refuses the same bytes. */
		uint8_t buf[256];
		struct op dec;
		size_t n;

		op = OP(RECORD_WRITE, "../outside/secret", DATA("pwned"));
		n = op_encode(buf, sizeof(buf), &op);
		assert_int_not_equal(n, 0);
		assert_int_equal(op_decode(RECORD_WRITE, buf, n, &dec, why, sizeof(why)), -1);
	}
	/* applier_openat is confined the same way. */
	assert_int_equal(applier_openat(a, 0, "dl/secret", O_RDONLY, 0), -1);
	assert_int_equal(errno, ELOOP);
	assert_int_equal(applier_openat(a, 0, "../outside/secret", O_RDONLY, 0), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(applier_openat(a, 0, "evil2", O_RDONLY, 0), -1);
	assert_int_equal(errno, ELOOP);
	assert_int_equal(applier_openat(a, 5, "sub/f", O_RDONLY, 0), -1);
	{
		int fd = applier_openat(a, 0, "sub/f", O_RDONLY, 0);

		assert_true(fd >= 0);
		close(fd);
		fd = applier_openat(a, 0, "", O_RDONLY | O_DIRECTORY, 0);
		assert_true(fd >= 0);
		close(fd);
	}
	applier_close(a);

	/* Nothing outside changed; the inside target of "din" neither. */
	outside_after = dump(f->outside);
	assert_string_equal(outside_before, outside_after);
	assert_string_equal(slurp(at(f->outside, "secret"), NULL), "s");
	assert_int_equal(lstat(at(f->outside, "secret"), &st), 0);
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(st.st_mode & 07777, 0644 & ~077);
	assert_string_equal(slurp(at(f->root, "sub/f"), NULL), "inside");
	free(outside_before);
	free(outside_after);
}

/* Order, epochs, replays, roots: the rules before any op is looked at. */
static void
test_order(void **state)
{
	struct fx *f = *state;
	struct applier *a = open_applier(f);
	struct record_hdr h = { .type = RECORD_CREATE, .epoch = 5, .seq = 10 };
	struct op op = OP(RECORD_CREATE, "a", .mode = 0600);
	char why[512];

	/* The first record may have any seq. */
	assert_int_equal(applier_apply(a, &h, &op, why, sizeof(why)), APPLY_OK);
	assert_true(applier_pos(a).seq == 10 && applier_pos(a).epoch == 5);
	/* A replay is skipped as applied: no second create, no divergence. */
	assert_int_equal(applier_apply(a, &h, &op, why, sizeof(why)), APPLY_OK);
	h.seq = 3;
	assert_int_equal(applier_apply(a, &h, &op, why, sizeof(why)), APPLY_OK);
	/* A gap. */
	h.seq = 12;
	assert_int_equal(applier_apply(a, &h, &op, why, sizeof(why)), APPLY_REFUSED);
	assert_non_null(strstr(why, "missing"));
	/* A lower epoch. */
	h.seq = 11;
	h.epoch = 4;
	op = OP(RECORD_CREATE, "b", .mode = 0600);
	assert_int_equal(applier_apply(a, &h, &op, why, sizeof(why)), APPLY_REFUSED);
	assert_non_null(strstr(why, "epoch 4 below"));
	assert_int_equal(access(at(f->root, "b"), F_OK), -1);
	/* A header and an op that disagree. */
	h.epoch = 6;
	h.type = RECORD_MKDIR;
	assert_int_equal(applier_apply(a, &h, &op, why, sizeof(why)), APPLY_REFUSED);
	h.type = RECORD_CREATE;
	assert_int_equal(applier_apply(a, &h, &op, why, sizeof(why)), APPLY_OK);
	assert_true(applier_pos(a).seq == 11 && applier_pos(a).epoch == 6);
	applier_close(a);

	a = open_applier(f);
	assert_true(applier_pos(a).seq == 11 && applier_pos(a).epoch == 6);
	applier_close(a);
}

/* State-setting records are durable at applier_sync; entry records at once. */
static void
test_batched_position(void **state)
{
	struct fx *f = *state;
	struct applier *a = open_applier(f), *b;
	char err[256];

	APPLY(a, 1, OP(RECORD_CREATE, "f", .mode = 0600, .flags = OP_CREATE_EXCL), APPLY_OK, NULL);
	APPLY(a, 2, OP(RECORD_WRITE, "f", DATA("one")), APPLY_OK, NULL);
	APPLY(a, 3, OP(RECORD_CHMOD, "f", .mode = 0640), APPLY_OK, NULL);
	assert_true(applier_pos(a).seq == 3);
	/* Another look at the file: only the exclusive create is durable yet. */
	b = open_applier(f);
	assert_true(applier_pos(b).seq == 1);
	applier_close(b);
	assert_int_equal(applier_sync(a, err, sizeof(err)), 0);
	b = open_applier(f);
	assert_true(applier_pos(b).seq == 3);
	applier_close(b);
	/* An entry record makes what came before durable with it. */
	APPLY(a, 4, OP(RECORD_WRITE, "f", DATA("two")), APPLY_OK, NULL);
	APPLY(a, 5, OP(RECORD_LINK, "f", P2("g")), APPLY_OK, NULL);
	b = open_applier(f);
	assert_true(applier_pos(b).seq == 5);
	applier_close(b);
	/*
	 * A create without O_EXCL is state-setting: batched like a write, and
	 * the name shows the file whole (owner, mode, mtime) at once.
	 */
	{
		struct stat st;

		APPLY(a, 6, OP(RECORD_CREATE, "n", .mode = S_IFREG | 0604, .uid = 5, .gid = 6,
		    .mtime_sec = 1000000000, .mtime_nsec = 7), APPLY_OK, NULL);
		b = open_applier(f);
		assert_true(applier_pos(b).seq == 5);
		applier_close(b);
		assert_int_equal(lstat(at(f->root, "n"), &st), 0);
		assert_true(S_ISREG(st.st_mode));
		assert_int_equal(st.st_mode & 07777, 0604);
		assert_int_equal(st.st_uid, 5);
		assert_int_equal(st.st_gid, 6);
		assert_int_equal(st.st_mtim.tv_sec, 1000000000);
		assert_int_equal(st.st_mtim.tv_nsec, 7);
		assert_int_equal(applier_sync(a, err, sizeof(err)), 0);
		b = open_applier(f);
		assert_true(applier_pos(b).seq == 6);
		applier_close(b);
	}
	/* Many files: the set of kept files fills and is flushed, nothing lost. */
	{
		char name[16];
		uint64_t s = 7;
		int i;

		for (i = 0; i < 40; i++) {
			snprintf(name, sizeof(name), "m%d", i);
			APPLY(a, s++, OP(RECORD_CREATE, name, .mode = 0600), APPLY_OK, NULL);
		}
		for (i = 0; i < 40; i++) {
			snprintf(name, sizeof(name), "m%d", i);
			APPLY(a, s++, OP(RECORD_WRITE, name, DATA("data")), APPLY_OK, NULL);
		}
		assert_int_equal(applier_sync(a, err, sizeof(err)), 0);
		assert_string_equal(slurp(at(f->root, "m39"), NULL), "data");
	}
	applier_close(a);
}

/*
 * A node that was active wrote its records itself: the position jumps to
 * its last one, durably, and the next record applied is the one after it.
 * Moving back (the journal was cut) works the same way.
 */
static void
test_set_position(void **state)
{
	struct fx *f = *state;
	struct applier *a = open_applier(f), *b;
	char err[256];

	APPLY(a, 1, OP(RECORD_CREATE, "f", .mode = 0600), APPLY_OK, NULL);
	APPLY(a, 2, OP(RECORD_WRITE, "f", DATA("one")), APPLY_OK, NULL);
	assert_int_equal(applier_set_pos(a, (struct apply_pos){ 1, 40 }, err, sizeof(err)), 0);
	b = open_applier(f);
	assert_true(applier_pos(b).seq == 40 && applier_pos(b).epoch == 1);
	applier_close(b);
	/* What came before the jump was synced with it. */
	assert_string_equal(slurp(at(f->root, "f"), NULL), "one");
	APPLY(a, 40, OP(RECORD_WRITE, "f", DATA("old")), APPLY_OK, NULL);   /* replay: skipped */
	assert_string_equal(slurp(at(f->root, "f"), NULL), "one");
	APPLY(a, 42, OP(RECORD_WRITE, "f", DATA("gap")), APPLY_REFUSED, "records are missing");
	APPLY(a, 41, OP(RECORD_WRITE, "f", DATA("two")), APPLY_OK, NULL);
	assert_string_equal(slurp(at(f->root, "f"), NULL), "two");
	assert_int_equal(applier_set_pos(a, (struct apply_pos){ 1, 30 }, err, sizeof(err)), 0);
	APPLY(a, 31, OP(RECORD_WRITE, "f", DATA("new")), APPLY_OK, NULL);
	assert_string_equal(slurp(at(f->root, "f"), NULL), "new");
	applier_close(a);
}

/* ---- the same tree as the ops done directly ---- */

/*
 * The times the capture would have read after op number i: each its own,
 * so a time the applier set from the wrong field, or failed to set again
 * after a crash, shows in the dump. The encoder keeps those the type carries.
 */
static void
stamp(struct op *op, size_t i)
{
	op->mtime_sec = 1600000000 + (int64_t)i;
	op->mtime_nsec = (uint32_t)(100 + i);
	op->dir_mtime_sec = 1700000000 + (int64_t)i;
	op->dir_mtime_nsec = (uint32_t)(200 + i);
	op->dir2_mtime_sec = 1800000000 + (int64_t)i;
	op->dir2_mtime_nsec = (uint32_t)(300 + i);
}

/*
 * A sequence with every entry op, renames over a target and exchanges,
 * links, unlinks, directories, and state-setting ops between them.
 * collapse: the file system can FALLOC_FL_COLLAPSE_RANGE (ext4, xfs).
 */
static size_t
sequence(struct op *ops, bool collapse)
{
	static char block[8193];
	size_t i, n = 0;

	memset(block, 'B', 8192);
	ops[n++] = OP(RECORD_MKDIR, "d", .mode = 0750, .uid = 1000, .gid = 1000);
	ops[n++] = OP(RECORD_CREATE, "d/a", .mode = 0640, .uid = 1001, .gid = 1002,
	    .flags = OP_CREATE_EXCL);
	ops[n++] = OP(RECORD_WRITE, "d/a", DATA("hello"));
	ops[n++] = OP(RECORD_CREATE, "d/b", .mode = 0600, .flags = OP_CREATE_EXCL);
	ops[n++] = OP(RECORD_WRITE, "d/b", .offset = 2, DATA("world!"));
	ops[n++] = OP(RECORD_RENAME, "d/a", P2("d/b"));                   /* over a target */
	ops[n++] = OP(RECORD_LINK, "d/b", P2("hard"));
	ops[n++] = OP(RECORD_CREATE, "c", .mode = 0644, .uid = 3, .gid = 4);
	ops[n++] = OP(RECORD_WRITE, "c", .data = (const uint8_t *)block, .data_len = 8192);
	ops[n++] = OP(RECORD_RENAME, "d/b", P2("c"), .flags = RENAME_EXCHANGE);
	ops[n++] = OP(RECORD_SYMLINK, "d/ln", P2("../c"), .uid = 1003, .gid = 1003);
	ops[n++] = OP(RECORD_MKDIR, "e", .mode = 0755);
	ops[n++] = OP(RECORD_MKDIR, "e/f", .mode = 0700, .uid = 2, .gid = 2);
	ops[n++] = OP(RECORD_CREATE, "e/f/x", .mode = 0444, .flags = OP_CREATE_EXCL);
	ops[n++] = OP(RECORD_UNLINK, "e/f/x");
	ops[n++] = OP(RECORD_RMDIR, "e/f");
	ops[n++] = OP(RECORD_UNLINK, "hard");
	ops[n++] = OP(RECORD_RENAME, "e", P2("d/e"));                     /* a directory */
	if (collapse)
		ops[n++] = OP(RECORD_FALLOCATE, "d/b", .offset = 0, .size = 4096,
		    .flags = FALLOC_FL_COLLAPSE_RANGE);
	else
		ops[n++] = OP(RECORD_FALLOCATE, "d/b", .offset = 0, .size = 16384);
	ops[n++] = OP(RECORD_TRUNCATE, "c", .size = 2);
	ops[n++] = OP(RECORD_CHMOD, "d", .mode = 0700);
	ops[n++] = OP(RECORD_CHOWN, "c", .uid = 5, .gid = 6);
	ops[n++] = OP(RECORD_SETXATTR, "c", NAME("user.k"), DATA("v"));
	ops[n++] = OP(RECORD_UNLINK, "d/ln");
	ops[n++] = OP(RECORD_RENAME, "c", P2("d/c2"), .flags = RENAME_NOREPLACE);
	ops[n++] = OP(RECORD_CREATE, "d/b", .mode = 0600, .flags = OP_CREATE_TRUNC);
	ops[n++] = OP(RECORD_WRITE, "d/b", DATA("end"));
	ops[n++] = OP(RECORD_LINK, "d/c2", P2("d/e/c3"));
	ops[n++] = OP(RECORD_RENAME, "d/e/c3", P2("d/c2"));               /* two links, one file */
	for (i = 0; i < n; i++)
		stamp(&ops[i], i);
	return n;
}

/* Whether the file system of dir can collapse a range. */
static bool
can_collapse(const char *dir)
{
	char path[PATH_MAX];
	int fd;
	bool ok;

	join(path, sizeof(path), dir, "probe");
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 16384), 0);
	ok = fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, 0, 4096) == 0;
	close(fd);
	unlink(path);
	return ok;
}

/* Each op with the usual path calls, as an application on the active would. */
static void
direct(const char *root, const struct op *op)
{
	char p[PATH_MAX], p2[PATH_MAX];
	int fd;

	join(p, sizeof(p), root, op->path);
	if (op->path2_len > 0)
		join(p2, sizeof(p2), root, op->path2);
	switch (op->type) {
	case RECORD_MKDIR:
		assert_int_equal(mkdir(p, 0), 0);
		assert_int_equal(chown(p, op->uid, op->gid), 0);
		assert_int_equal(chmod(p, op->mode & 07777), 0);
		break;
	case RECORD_CREATE: {
		struct stat st;
		bool existed = lstat(p, &st) == 0;

		fd = open(p, O_WRONLY | O_CREAT | (op->flags & OP_CREATE_EXCL ? O_EXCL : 0) |
		    (op->flags & OP_CREATE_TRUNC ? O_TRUNC : 0), op->mode & 07777);
		assert_true(fd >= 0);
		if (!existed) {
			/* The application's owner, and its mode without the umask. */
			assert_int_equal(fchown(fd, op->uid, op->gid), 0);
			assert_int_equal(fchmod(fd, op->mode & 07777), 0);
		}
		close(fd);
		break;
	}
	case RECORD_WRITE:
		fd = open(p, O_WRONLY);
		assert_true(fd >= 0);
		assert_int_equal(pwrite(fd, op->data, op->data_len, (off_t)op->offset),
		    (ssize_t)op->data_len);
		close(fd);
		break;
	case RECORD_TRUNCATE:
		assert_int_equal(truncate(p, (off_t)op->size), 0);
		break;
	case RECORD_RENAME:
		assert_int_equal(renameat2(AT_FDCWD, p, AT_FDCWD, p2, op->flags), 0);
		break;
	case RECORD_LINK:
		assert_int_equal(link(p, p2), 0);
		break;
	case RECORD_SYMLINK:
		assert_int_equal(symlink(op->path2, p), 0);
		assert_int_equal(lchown(p, op->uid, op->gid), 0);
		break;
	case RECORD_UNLINK:
		assert_int_equal(unlink(p), 0);
		break;
	case RECORD_RMDIR:
		assert_int_equal(rmdir(p), 0);
		break;
	case RECORD_FALLOCATE:
		fd = open(p, O_WRONLY);
		assert_true(fd >= 0);
		assert_int_equal(fallocate(fd, (int)op->flags, (off_t)op->offset,
		    (off_t)op->size), 0);
		close(fd);
		break;
	case RECORD_CHMOD:
		assert_int_equal(chmod(p, op->mode & 07777), 0);
		break;
	case RECORD_CHOWN:
		assert_int_equal(lchown(p, op->uid, op->gid), 0);
		break;
	case RECORD_SETXATTR:
		assert_int_equal(setxattr(p, op->name, op->data, op->data_len, 0), 0);
		break;
	default:
		fail_msg("direct: type %u not in the sequence", op->type);
	}
}

/*
 * The caller of the applier, as lifeline-repl is: open, feed every record
 * (those at or before the position are skipped), sync now and then and at
 * the end, close. No cmocka asserts: it runs in crashing children too.
 * 0, or -1 after saying why on stderr.
 */
static int
run(const struct fx *f, const struct op *ops, size_t n)
{
	const char *roots[] = { f->root, f->root2 };
	char why[512], err[512];
	struct applier *a = applier_open(roots, 2, f->pos, err, sizeof(err));
	enum apply_result r;
	size_t i;

	if (a == NULL) {
		fprintf(stderr, "run: applier_open: %s\n", err);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if ((r = apply_as(a, 1, i + 1, &ops[i], why, sizeof(why))) != APPLY_OK) {
			fprintf(stderr, "run: seq %zu: %s: %s\n", i + 1, result_name(r), why);
			return -1;
		}
		if (i % 4 == 3 && applier_sync(a, err, sizeof(err)) == -1) {
			fprintf(stderr, "run: sync: %s\n", err);
			return -1;
		}
	}
	if (applier_sync(a, err, sizeof(err)) == -1 || applier_pos(a).seq != n) {
		fprintf(stderr, "run: final sync or position %llu: %s\n",
		    (unsigned long long)applier_pos(a).seq, err);
		return -1;
	}
	applier_close(a);
	return 0;
}

static void
test_same_as_direct(void **state)
{
	struct fx *f = *state;
	struct op ops[64];
	size_t i, n = sequence(ops, can_collapse(f->dir));
	char *applied, *done;

	assert_int_equal(run(f, ops, n), 0);
	applied = dump(f->root);
	for (i = 0; i < n; i++)
		direct(f->root2, &ops[i]);
	done = dump(f->root2);
	assert_string_equal(applied, done);
	/* The sequence does what it says: spot checks of the reference itself. */
	assert_non_null(strstr(applied, "d/b mode=100644 owner=3:4 size=3"));
	assert_non_null(strstr(applied, "d/c2 mode=100640 owner=5:6"));
	assert_non_null(strstr(applied, "links=2 same-as=d/c2"));
	assert_non_null(strstr(applied, "d/e mode=40755"));
	assert_non_null(strstr(applied, "user.k=v"));
	assert_null(strstr(applied, "hard"));
	free(applied);
	free(done);
}

/* ---- crashes ---- */

static int
run_child(const struct fx *f, const struct op *ops, size_t n, long crash)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		crash_at = crash;
		steps = 0;
		tracing = false;
		_exit(run(f, ops, n) == 0 ? 0 : 2);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/*
 * Crash at step k of a run on a fresh copy, then (depth 2) crash again at
 * step j of the recovery, then recover in this process: the tree must be
 * the reference tree. Returns whether the child crashed at all.
 */
static bool
crash_and_check(struct fx *f, const struct op *ops, size_t n, long k, long j,
    const char *ref, long nsteps)
{
	int rc;
	char *got;

	fresh(f);
	rc = run_child(f, ops, n, k);
	if (rc == 0)
		return false;
	if (rc != CRASHED)
		fail_msg("crash at step %ld: the run failed before it (exit %d)", k, rc);
	if (j > 0 && (rc = run_child(f, ops, n, j)) != 0 && rc != CRASHED)
		fail_msg("crash at step %ld (%s), then %ld of the recovery: recovery failed "
		    "(exit %d)", k, k <= nsteps ? step_names[k - 1] : "?", j, rc);
	crash_at = 0;
	tracing = false;
	if (run(f, ops, n) != 0)
		fail_msg("crash at step %ld (%s), then %ld: the final run failed", k,
		    k <= nsteps ? step_names[k - 1] : "?", j);
	got = dump(f->root);
	if (strcmp(got, ref) != 0)
		fail_msg("crash at step %ld (%s), then %ld: tree differs\n--- want\n%s--- got\n%s",
		    k, k <= nsteps ? step_names[k - 1] : "?", j, ref, got);
	free(got);
	return true;
}

static void
test_crash_every_step(void **state)
{
	struct fx *f = *state;
	struct op ops[64];
	size_t n = sequence(ops, can_collapse(f->dir));
	long k, j, nsteps;
	char *ref;

	trace_start();
	assert_int_equal(run(f, ops, n), 0);
	tracing = false;
	nsteps = steps;
	assert_true(nsteps > (long)n && nsteps <= MAXSTEPS);
	dump_mtimes = true;
	ref = dump(f->root);
	/*
	 * Times from the records as stamp() gave them: d/c2's from its last
	 * TRUNCATE (op 19), d's as path2's folder of the last rename (op 28),
	 * d/e's as path's folder of it.
	 */
	assert_non_null(strstr(ref, "d/c2 mode=100640 owner=5:6 mtime=1600000019.000000119"));
	assert_non_null(strstr(ref, "\nd mode=40700 owner=1000:1000 mtime=1800000028.000000328"));
	assert_non_null(strstr(ref, "\nd/e mode=40755 owner=0:0 mtime=1700000028.000000228"));

	for (k = 1; k <= nsteps; k++)
		assert_true(crash_and_check(f, ops, n, k, 0, ref, nsteps));
	/* Past the last step the run ends without a crash: every step was a crash point. */
	assert_false(crash_and_check(f, ops, n, nsteps + 1, 0, ref, nsteps));

	/* Crash, then crash again early in the recovery (where a pending intent is finished). */
	for (k = 1; k <= nsteps; k++)
		for (j = 1; j <= 3; j++)
			crash_and_check(f, ops, n, k, j, ref, nsteps);
	free(ref);
}

/*
 * What a power loss needs and a process crash cannot show: for an entry op
 * the intent is durable before the op, the op's fsyncs come before the
 * position; for state-setting ops the files are fsynced before the position.
 */
static void
test_durability_order(void **state)
{
	struct fx *f = *state;
	struct applier *a = open_applier(f);
	char err[256], *seen;
	size_t len;
	long i;
	FILE *out;

	trace_start();
	APPLY(a, 1, OP(RECORD_CREATE, "f", .mode = 0600, .flags = OP_CREATE_EXCL), APPLY_OK, NULL);
	APPLY(a, 2, OP(RECORD_WRITE, "f", DATA("x")), APPLY_OK, NULL);
	assert_int_equal(applier_sync(a, err, sizeof(err)), 0);
	APPLY(a, 3, OP(RECORD_WRITE, "f", DATA("y")), APPLY_OK, NULL);
	APPLY(a, 4, OP(RECORD_RENAME, "f", P2("g")), APPLY_OK, NULL);
	tracing = false;
	out = open_memstream(&seen, &len);
	for (i = 0; i < steps; i++)
		fprintf(out, "%s ", step_names[i]);
	fclose(out);
	assert_string_equal(seen,
	    /* create: intent, create, owner, mode, fsync file and directory, position */
	    "pos-write pos-sync create fchown fchmod fsync fsync-dir pos-write pos-sync "
	    /* write, then the sync: the file, then the position */
	    "pwrite fsync-dirty pos-write pos-sync "
	    /* write, then the rename flushes it, its intent carries the position */
	    "pwrite fsync-dirty pos-write pos-sync renameat2 fsync-dir2 fsync-dir "
	    "pos-write pos-sync ");
	free(seen);
	applier_close(a);
}

/* ---- the position file ---- */

static uint64_t
slot_gen(const char *pos, int slot)
{
	uint8_t b[8];
	uint64_t v = 0;
	int fd = open(pos, O_RDONLY), i;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, b, 8, slot * 16384 + 8), 8);
	close(fd);
	for (i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

static void
flip(const char *pos, off_t off)
{
	uint8_t c;
	int fd = open(pos, O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, off), 1);
	c ^= 0x40;
	assert_int_equal(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

static void
test_torn_slot(void **state)
{
	struct fx *f = *state;
	struct applier *a;
	struct stat st;
	char err[512];
	const char *roots[] = { f->root, f->root2 };
	int newest;

	/* New: a file of two slots, made 0600 with a rename, nothing applied. */
	a = open_applier(f);
	assert_true(applier_pos(a).seq == 0);
	assert_int_equal(stat(f->pos, &st), 0);
	assert_int_equal(st.st_size, 2 * 16384);
	assert_int_equal(st.st_mode & 07777, 0600);
	APPLY(a, 1, OP(RECORD_MKDIR, "d", .mode = 0755), APPLY_OK, NULL);
	APPLY(a, 2, OP(RECORD_CREATE, "d/f", .mode = 0600), APPLY_OK, NULL);
	APPLY(a, 3, OP(RECORD_RENAME, "d/f", P2("g")), APPLY_OK, NULL);
	applier_close(a);

	/*
	 * The newest slot says seq 3; the other holds the rename's intent
	 * (position 2). Tear the newest: the intent is found done and finished.
	 */
	newest = slot_gen(f->pos, 1) > slot_gen(f->pos, 0);
	flip(f->pos, newest * 16384 + 20);
	a = open_applier(f);
	assert_true(applier_pos(a).seq == 3);
	APPLY(a, 3, OP(RECORD_RENAME, "d/f", P2("g")), APPLY_OK, NULL);   /* a replay */
	assert_int_equal(lstat(at(f->root, "g"), &st), 0);
	assert_int_equal(lstat(at(f->root, "d/f"), &st), -1);
	APPLY(a, 4, OP(RECORD_UNLINK, "g"), APPLY_OK, NULL);
	applier_close(a);

	/* Both torn: refused, not guessed. */
	flip(f->pos, 20);
	flip(f->pos, 16384 + 20);
	assert_null(applier_open(roots, 2, f->pos, err, sizeof(err)));
	assert_non_null(strstr(err, "no valid position slot"));
	/* A missing root. */
	unlink(f->pos);
	roots[1] = at(f->dir, "nowhere");
	assert_null(applier_open(roots, 2, f->pos, err, sizeof(err)));
	assert_non_null(strstr(err, "nowhere"));
}

/* Inode numbers tell a done RENAME_EXCHANGE from one not done, after a crash. */
static void
test_crash_exchange(void **state)
{
	struct fx *f = *state;
	struct op ops[4];
	char *ref;
	long k, nsteps;
	size_t n = 0;

	ops[n++] = OP(RECORD_CREATE, "a", .mode = 0600, .uid = 1);
	ops[n++] = OP(RECORD_CREATE, "b", .mode = 0644, .uid = 2);
	ops[n++] = OP(RECORD_RENAME, "a", P2("b"), .flags = RENAME_EXCHANGE);
	ops[n++] = OP(RECORD_RENAME, "b", P2("a"), .flags = RENAME_EXCHANGE);
	trace_start();
	assert_int_equal(run(f, ops, 3), 0);
	tracing = false;
	nsteps = steps;
	ref = dump(f->root);
	assert_non_null(strstr(ref, "a mode=100644 owner=2:0"));
	for (k = 1; k <= nsteps; k++)
		assert_true(crash_and_check(f, ops, 3, k, 0, ref, nsteps));
	free(ref);
	/* Exchanged twice: back as created, whatever crash came between. */
	trace_start();
	fresh(f);
	assert_int_equal(run(f, ops, 4), 0);
	tracing = false;
	nsteps = steps;
	ref = dump(f->root);
	assert_non_null(strstr(ref, "a mode=100600 owner=1:0"));
	for (k = 1; k <= nsteps; k++)
		assert_true(crash_and_check(f, ops, 4, k, 0, ref, nsteps));
	free(ref);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_each_type, setup, teardown),
		cmocka_unit_test_setup_teardown(test_diverged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_confined, setup, teardown),
		cmocka_unit_test_setup_teardown(test_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batched_position, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_position, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_as_direct, setup, teardown),
		cmocka_unit_test_setup_teardown(test_durability_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_slot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_exchange, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_every_step, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
