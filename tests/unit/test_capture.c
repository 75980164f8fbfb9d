/*
 * Unit tests of repl/capture: a real FUSE mount over a scratch directory,
 * every operation through it, the ops the sink receives (types, paths,
 * fields, order), the files underneath, threads, failures, and stop.
 * Skipped without root or /dev/fuse.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>

#include <dirent.h>
#include <grp.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "helpers/tmpdir.h"
#include "repl/capture.h"
#include "repl/record.h"

#define ROOT      7       /* the root index every op must carry */
#define WATCHDOG  60      /* seconds a test may take before it is stopped */
#define HIDDEN_LEN 64     /* bytes of a hidden name and its NUL, at most */

/* An op as the sink saw it, with copies of its strings and data. */
struct rec {
	struct op	 op;
	char		*path;
	char		*path2;
	char		*name;
	uint8_t		*data;
};

/*
 * The sink of the tests. Its callbacks run on FUSE threads, where cmocka
 * must not be used: they count what is wrong and the test asserts it.
 */
struct recorder {
	pthread_mutex_t	 mu;
	atomic_ulong	 owner;       /* thread holding mu through lock(), or 0 */
	atomic_uint	 locks;
	atomic_uint	 in_emit;
	atomic_uint	 violations;  /* emit without the lock, overlap, wait with it */
	atomic_uint	 barriers;
	atomic_uint	 after_writes;
	atomic_uint	 fail;        /* emits still to refuse */
	struct rec	*recs;
	size_t		 n;
	size_t		 cap;
};

struct fixture {
	char		*tmp;
	char		*dir;
	struct recorder	 r;
	struct capture	*c;
	size_t		 next;        /* first op not yet checked */
	bool		 xattr_ok;
	char		 paths[4][PATH_MAX];
	int		 pathi;
};

static char watched[PATH_MAX];   /* the mount point, for the watchdog */

static bool
held_by_me(struct recorder *r)
{
	return atomic_load(&r->owner) == (unsigned long)pthread_self();
}

static void
rec_lock(void *arg)
{
	struct recorder *r = arg;

	pthread_mutex_lock(&r->mu);
	atomic_store(&r->owner, (unsigned long)pthread_self());
	atomic_fetch_add(&r->locks, 1);
}

static void
rec_unlock(void *arg)
{
	struct recorder *r = arg;

	atomic_store(&r->owner, 0);
	pthread_mutex_unlock(&r->mu);
}

static char *
copy_str(const char *s, size_t len)
{
	char *p;

	if (s == NULL)
		return NULL;
	p = xmalloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

static int
rec_emit(void *arg, const struct op *op)
{
	struct recorder *r = arg;
	struct rec *x;

	if (!held_by_me(r) || atomic_fetch_add(&r->in_emit, 1) != 0)
		atomic_fetch_add(&r->violations, 1);
	usleep(50);   /* widen the window in which an overlap would show */
	atomic_fetch_sub(&r->in_emit, 1);
	if (atomic_load(&r->fail) > 0) {
		atomic_fetch_sub(&r->fail, 1);
		return -1;
	}
	if (r->n == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 64;
		r->recs = xrealloc(r->recs, r->cap * sizeof(*r->recs));
	}
	x = &r->recs[r->n++];
	x->op = *op;
	x->path = copy_str(op->path, op->path_len);
	x->path2 = copy_str(op->path2, op->path2_len);
	x->name = copy_str(op->name, op->name_len);
	x->data = op->data_len ? xmalloc(op->data_len) : NULL;
	if (op->data_len)
		memcpy(x->data, op->data, op->data_len);
	return 0;
}

static int
rec_barrier(void *arg, const struct op *op)
{
	struct recorder *r = arg;

	if (held_by_me(r) || op->type != RECORD_FSYNC_BARRIER)
		atomic_fetch_add(&r->violations, 1);
	atomic_fetch_add(&r->barriers, 1);
	return 0;
}

static int
rec_after_write(void *arg, const struct op *op)
{
	struct recorder *r = arg;

	if (held_by_me(r) || op->type != RECORD_WRITE)
		atomic_fetch_add(&r->violations, 1);
	atomic_fetch_add(&r->after_writes, 1);
	return 0;
}

/* The watchdog: a test stuck in the mount is ended, the mount detached. */
static void
on_alarm(int sig)
{
	static const char msg[] = "test_capture: watchdog fired, detaching the mount\n";

	(void)sig;
	(void)!write(2, msg, sizeof(msg) - 1);
	if (watched[0] != '\0')
		umount2(watched, MNT_DETACH);
	_exit(1);
}

/* Whether /proc/self/mountinfo lists a mount at dir. */
static bool
mounted(const char *dir)
{
	FILE *fp = fopen("/proc/self/mountinfo", "r");
	char line[4096], mp[PATH_MAX];
	bool found = false;

	assert_non_null(fp);
	while (!found && fgets(line, sizeof(line), fp) != NULL)
		found = sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 &&
		    strcmp(mp, dir) == 0;
	fclose(fp);
	return found;
}

/* A path in the mount; four at a time stay valid. */
static const char *
P(struct fixture *f, const char *name)
{
	char *p = f->paths[f->pathi++ % 4];

	snprintf(p, PATH_MAX, "%s/%s", f->dir, name);
	return p;
}

/* A path in the scratch folder, beside the mount. */
static char *
scratch(struct fixture *f, const char *name)
{
	return xasprintf("%s/%s", f->tmp, name);
}

static void
put_file(const char *path, const char *data)
{
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	assert_int_equal(close(fd), 0);
}

/* Whole file into buf (at most len bytes); returns its size. */
static size_t
get_file(const char *path, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, len);
	assert_true(n >= 0);
	close(fd);
	return (size_t)n;
}

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	pthread_mutex_init(&f->r.mu, NULL);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	size_t i;

	if (f->c != NULL)
		capture_stop(f->c);
	if (f->dir != NULL && mounted(f->dir))
		umount2(f->dir, MNT_DETACH);
	alarm(0);
	watched[0] = '\0';
	if (f->tmp != NULL)
		rm_rf(f->tmp);
	for (i = 0; i < f->r.n; i++) {
		free(f->r.recs[i].path);
		free(f->r.recs[i].path2);
		free(f->r.recs[i].name);
		free(f->r.recs[i].data);
	}
	free(f->r.recs);
	pthread_mutex_destroy(&f->r.mu);
	free(f->tmp);
	free(f->dir);
	free(f);
	return 0;
}

/*
 * Skip without root or FUSE; else make the scratch folder with "data" in
 * it (and "old" in that), arm the watchdog and mount the capture.
 */
static void mount_capture(struct fixture *f, bool writeback);

static void
start(struct fixture *f, bool writeback)
{
	char *probe;

	if (geteuid() != 0 || access("/dev/fuse", R_OK | W_OK) != 0)
		skip();
	umask(022);
	f->tmp = tmpdir();
	f->dir = scratch(f, "data");
	assert_int_equal(mkdir(f->dir, 0755), 0);
	put_file(P(f, "old"), "0123456789");
	probe = scratch(f, "probe");
	put_file(probe, "");
	f->xattr_ok = setxattr(probe, "user.probe", "1", 1, 0) == 0;
	if (!f->xattr_ok)
		print_message("user xattrs refused under %s (%s): xattr part skipped\n",
		    f->tmp, strerror(errno));
	free(probe);
	mount_capture(f, writeback);
}

/* Mount the capture over f->dir (again, after a stop), the watchdog armed. */
static void
mount_capture(struct fixture *f, bool writeback)
{
	struct capture_opts o = { .root = ROOT, .writeback = writeback };
	char err[256] = "";

	xstrlcpy(watched, f->dir, sizeof(watched));
	signal(SIGALRM, on_alarm);
	alarm(WATCHDOG);
	o.dir = f->dir;
	o.sink = (struct capture_sink){ .arg = &f->r, .lock = rec_lock,
	    .unlock = rec_unlock, .emit = rec_emit, .barrier = rec_barrier,
	    .after_write = rec_after_write };
	f->c = capture_start(&o, err, sizeof(err));
	if (f->c == NULL)
		fail_msg("capture_start: %s", err);
	assert_true(mounted(f->dir));
}

static void
stop(struct fixture *f)
{
	capture_stop(f->c);
	f->c = NULL;
	assert_false(mounted(f->dir));
}

static size_t
nrecs(struct fixture *f)
{
	size_t n;

	pthread_mutex_lock(&f->r.mu);
	n = f->r.n;
	pthread_mutex_unlock(&f->r.mu);
	return n;
}

/* The next op, which must be of type on path (and path2 when not NULL). */
static const struct rec *
expect(struct fixture *f, uint16_t type, const char *path, const char *path2)
{
	const struct rec *x;

	if (f->next >= nrecs(f))
		fail_msg("expected %s %s, got no op", record_type_name(type), path);
	x = &f->r.recs[f->next++];
	if (x->op.type != type || strcmp(x->path, path) != 0)
		fail_msg("op %zu: expected %s %s, got %s %s", f->next - 1,
		    record_type_name(type), path, record_type_name(x->op.type), x->path);
	if (path2 != NULL && (x->path2 == NULL || strcmp(x->path2, path2) != 0))
		fail_msg("op %zu: %s %s: path2 %s, expected %s", f->next - 1,
		    record_type_name(type), path, x->path2 ? x->path2 : "(none)", path2);
	assert_int_equal(x->op.root, ROOT);
	assert_int_equal(x->op.path_len, strlen(x->path));
	return x;
}

/*
 * The hidden name of inode ino, the capture's n-th: at the root,
 * ".fuse_hidden", the inode number in 16 hex digits, n in 8.
 */
static void
hidden_name(char *buf, ino_t ino, unsigned n)
{
	snprintf(buf, HIDDEN_LEN, ".fuse_hidden%016jx%08x", (uintmax_t)ino, n);
}

/* Wait (at most 5 s) for an op emitted after the syscall returned: a release. */
static void
wait_op(struct fixture *f)
{
	int i;

	for (i = 0; i < 500 && nrecs(f) <= f->next; i++)
		usleep(10000);
}

/*
 * The ops on path up to its FSYNC_BARRIER: writes, and the sizes and times
 * the writeback cache may send with them. Returns whether want (len bytes)
 * was written at off by one of them.
 */
static bool
until_barrier(struct fixture *f, const char *path, uint64_t off, const char *want,
    size_t len)
{
	bool seen = false;

	for (;;) {
		const struct rec *x;

		if (f->next >= nrecs(f))
			fail_msg("no FSYNC_BARRIER of %s", path);
		x = expect(f, f->r.recs[f->next].op.type, path, NULL);
		if (x->op.type == RECORD_FSYNC_BARRIER)
			return seen;
		if (x->op.type != RECORD_WRITE && x->op.type != RECORD_TRUNCATE &&
		    x->op.type != RECORD_UTIMENS)
			fail_msg("op %zu: %s %s before the barrier", f->next - 1,
			    record_type_name(x->op.type), path);
		if (x->op.type == RECORD_WRITE && want != NULL && x->op.offset <= off &&
		    x->op.offset + x->op.data_len >= off + len &&
		    memcmp(x->data + (off - x->op.offset), want, len) == 0)
			seen = true;
	}
}

/* Write s into a /proc or /sys file. 0, or -1 with errno. */
static int
write_proc(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), e;
	ssize_t n;

	if (fd == -1)
		return -1;
	n = write(fd, s, strlen(s));
	e = errno;
	close(fd);
	errno = e;
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

static void
expect_none(struct fixture *f)
{
	size_t n = nrecs(f);

	if (n != f->next)
		fail_msg("unexpected op %zu: %s %s", f->next,
		    record_type_name(f->r.recs[f->next].op.type), f->r.recs[f->next].path);
}

/* Write big bytes at offset 5 of a and check they came as WRITE ops in order. */
static void
big_write(struct fixture *f, int fd, uint8_t *buf, size_t big)
{
	uint8_t *back = xmalloc(big);
	size_t i, got = 0, nops = 0;

	for (i = 0; i < big; i++)
		buf[i] = (uint8_t)(i * 7 + i / 4096);
	assert_int_equal(pwrite(fd, buf, big, 5), (ssize_t)big);
	while (got < big) {
		const struct rec *x = expect(f, RECORD_WRITE, "a", NULL);

		assert_int_equal(x->op.offset, 5 + got);
		assert_true(x->op.data_len > 0 && x->op.data_len <= OP_MAX_DATA);
		assert_true(got + x->op.data_len <= big);
		assert_memory_equal(x->data, buf + got, x->op.data_len);
		got += x->op.data_len;
		nops++;
	}
	assert_true(nops >= 4 && nops <= 5);    /* 1 MiB requests: max_write took */
	assert_int_equal(pread(fd, back, big, 5), (ssize_t)big);
	assert_memory_equal(back, buf, big);
	free(back);
}

/* Creates, writes and truncates, as the ops and as the files. */
static void
test_files(void **state)
{
	struct fixture *f = *state;
	size_t big = 3 * OP_MAX_DATA + 100;
	uint8_t *buf = xmalloc(big), got[2048];
	const struct rec *x;
	struct stat st;
	int fd;

	start(f, false);
	fd = open(P(f, "a"), O_CREAT | O_EXCL | O_RDWR, 0640);
	assert_true(fd >= 0);
	x = expect(f, RECORD_CREATE, "a", NULL);
	assert_int_equal(x->op.flags, OP_CREATE_EXCL);
	assert_int_equal(x->op.mode, S_IFREG | 0640);
	assert_int_equal(x->op.uid, 0);
	assert_int_equal(x->op.gid, 0);
	assert_int_equal(write(fd, "hello", 5), 5);
	x = expect(f, RECORD_WRITE, "a", NULL);
	assert_int_equal(x->op.offset, 0);
	assert_int_equal(x->op.data_len, 5);
	assert_memory_equal(x->data, "hello", 5);
	big_write(f, fd, buf, big);
	assert_true(atomic_load(&f->r.after_writes) >= 5);
	assert_int_equal(close(fd), 0);
	expect_none(f);

	fd = open(P(f, "old"), O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	x = expect(f, RECORD_TRUNCATE, "old", NULL);
	assert_int_equal(x->op.size, 0);
	assert_int_equal(close(fd), 0);

	fd = open(P(f, "b"), O_CREAT | O_WRONLY | O_TRUNC, 0666);
	assert_true(fd >= 0);
	x = expect(f, RECORD_CREATE, "b", NULL);
	assert_int_equal(x->op.flags, OP_CREATE_TRUNC);
	assert_int_equal(x->op.mode, S_IFREG | 0644);      /* umask 022 */
	assert_int_equal(close(fd), 0);
	assert_int_equal(open(P(f, "b"), O_CREAT | O_EXCL | O_WRONLY, 0600), -1);
	assert_int_equal(errno, EEXIST);

	assert_int_equal(truncate(P(f, "a"), 1000), 0);
	x = expect(f, RECORD_TRUNCATE, "a", NULL);
	assert_int_equal(x->op.size, 1000);
	expect_none(f);

	stop(f);
	assert_int_equal(stat(P(f, "a"), &st), 0);
	assert_int_equal(st.st_size, 1000);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(get_file(P(f, "a"), got, sizeof(got)), 1000);
	assert_memory_equal(got, "hello", 5);
	assert_memory_equal(got + 5, buf, 995);
	assert_int_equal(get_file(P(f, "old"), got, sizeof(got)), 0);
	assert_int_equal(stat(P(f, "b"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	free(buf);
}

/* Names: mkdir, symlink, link, the renames, unlink, rmdir. */
static void
test_names(void **state)
{
	struct fixture *f = *state;
	const struct rec *x;
	char got[64];
	int fd;

	start(f, false);
	assert_int_equal(mkdir(P(f, "d"), 0750), 0);
	x = expect(f, RECORD_MKDIR, "d", NULL);
	assert_int_equal(x->op.mode, 0750);
	assert_int_equal(symlink("../old", P(f, "d/s")), 0);
	x = expect(f, RECORD_SYMLINK, "d/s", "../old");
	assert_int_equal(x->op.uid, 0);
	assert_int_equal(link(P(f, "old"), P(f, "d/h")), 0);
	expect(f, RECORD_LINK, "old", "d/h");

	fd = open(P(f, "b"), O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "bb", 2), 2);
	assert_int_equal(close(fd), 0);
	expect(f, RECORD_CREATE, "b", NULL);
	expect(f, RECORD_WRITE, "b", NULL);
	assert_int_equal(rename(P(f, "b"), P(f, "d/b")), 0);
	x = expect(f, RECORD_RENAME, "b", "d/b");
	assert_int_equal(x->op.flags, 0);

	fd = open(P(f, "c"), O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "cc", 2), 2);
	assert_int_equal(close(fd), 0);
	expect(f, RECORD_CREATE, "c", NULL);
	expect(f, RECORD_WRITE, "c", NULL);
	assert_int_equal(rename(P(f, "c"), P(f, "d/b")), 0);      /* over b */
	expect(f, RECORD_RENAME, "c", "d/b");

	assert_int_equal(renameat2(AT_FDCWD, P(f, "d/b"), AT_FDCWD, P(f, "old"),
	    RENAME_NOREPLACE), -1);
	assert_int_equal(errno, EEXIST);
	expect_none(f);
	assert_int_equal(renameat2(AT_FDCWD, P(f, "d/b"), AT_FDCWD, P(f, "old"),
	    RENAME_EXCHANGE), 0);
	x = expect(f, RECORD_RENAME, "d/b", "old");
	assert_int_equal(x->op.flags, RENAME_EXCHANGE);

	fd = open(P(f, "d"), O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_int_equal(fsync(fd), 0);
	expect(f, RECORD_FSYNC_BARRIER, "d", NULL);
	assert_int_equal(close(fd), 0);
	/* Nothing captured since that barrier: the next fsync needs none. */
	fd = open(f->dir, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_int_equal(fsync(fd), 0);
	expect_none(f);
	assert_int_equal(atomic_load(&f->r.barriers), 1);
	assert_int_equal(mkdir(P(f, "e"), 0755), 0);
	expect(f, RECORD_MKDIR, "e", NULL);
	assert_int_equal(fsync(fd), 0);
	expect(f, RECORD_FSYNC_BARRIER, "", NULL);     /* the directory itself */
	assert_int_equal(close(fd), 0);
	assert_int_equal(atomic_load(&f->r.barriers), 2);

	/*
	 * d/h, a link to what the exchange made d/b, unlinked while open: the
	 * file keeps a name, so nothing is hidden; its writes name d/b.
	 */
	fd = open(P(f, "d/h"), O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(unlink(P(f, "d/h")), 0);
	expect(f, RECORD_UNLINK, "d/h", NULL);
	assert_int_equal(access(P(f, "d/h"), F_OK), -1);
	assert_int_equal(write(fd, "hh", 2), 2);
	expect(f, RECORD_WRITE, "d/b", NULL);
	assert_int_equal(close(fd), 0);
	assert_int_equal(unlink(P(f, "d/s")), 0);
	expect(f, RECORD_UNLINK, "d/s", NULL);
	assert_int_equal(rmdir(P(f, "d")), -1);
	assert_int_equal(errno, ENOTEMPTY);
	expect_none(f);
	assert_int_equal(unlink(P(f, "d/b")), 0);
	expect(f, RECORD_UNLINK, "d/b", NULL);
	assert_int_equal(rmdir(P(f, "d")), 0);
	expect(f, RECORD_RMDIR, "d", NULL);
	expect_none(f);

	stop(f);
	assert_int_equal(get_file(P(f, "old"), got, sizeof(got)), 2);
	assert_memory_equal(got, "cc", 2);
	assert_int_equal(access(P(f, "d"), F_OK), -1);
	assert_int_equal(access(P(f, "b"), F_OK), -1);
}

/* Whether the time carried in sec/nsec is the mtime the entry rel has underneath. */
static void
same_mtime(int under, const char *rel, int64_t sec, uint32_t nsec, const char *what)
{
	struct stat st;

	assert_int_equal(fstatat(under, rel, &st, AT_SYMLINK_NOFOLLOW | (*rel ? 0 : AT_EMPTY_PATH)),
	    0);
	if (sec != st.st_mtim.tv_sec || nsec != (uint32_t)st.st_mtim.tv_nsec)
		fail_msg("%s: carried %lld.%09u, %s has %lld.%09ld underneath", what,
		    (long long)sec, nsec, *rel ? rel : "the root", (long long)st.st_mtim.tv_sec,
		    st.st_mtim.tv_nsec);
}

/*
 * Each op carries the times its change left underneath: the entry's mtime
 * (written, truncated, made) and the mtime of the folders whose names it
 * changed, read right after it. A pause before each op moves the clock on,
 * so a time read before the change, or of another entry, would differ.
 */
static void
test_times(void **state)
{
	struct fixture *f = *state;
	const struct rec *x;
	int fd, under;

	/* The folder underneath, opened between two mounts: the mount hides its path. */
	start(f, false);
	stop(f);
	under = open(f->dir, O_PATH | O_DIRECTORY);
	assert_true(under >= 0);
	mount_capture(f, false);

	usleep(20000);
	assert_int_equal(mkdir(P(f, "d"), 0755), 0);
	x = expect(f, RECORD_MKDIR, "d", NULL);
	same_mtime(under, "d", x->op.mtime_sec, x->op.mtime_nsec, "MKDIR mtime");
	same_mtime(under, "", x->op.dir_mtime_sec, x->op.dir_mtime_nsec, "MKDIR dir_mtime");
	usleep(20000);
	fd = open(P(f, "d/a"), O_CREAT | O_EXCL | O_WRONLY, 0644);
	assert_true(fd >= 0);
	x = expect(f, RECORD_CREATE, "d/a", NULL);
	same_mtime(under, "d/a", x->op.mtime_sec, x->op.mtime_nsec, "CREATE mtime");
	same_mtime(under, "d", x->op.dir_mtime_sec, x->op.dir_mtime_nsec, "CREATE dir_mtime");
	usleep(20000);
	assert_int_equal(write(fd, "abc", 3), 3);
	x = expect(f, RECORD_WRITE, "d/a", NULL);
	same_mtime(under, "d/a", x->op.mtime_sec, x->op.mtime_nsec, "WRITE mtime");
	usleep(20000);
	assert_int_equal(fallocate(fd, 0, 0, 8192), 0);
	x = expect(f, RECORD_FALLOCATE, "d/a", NULL);
	same_mtime(under, "d/a", x->op.mtime_sec, x->op.mtime_nsec, "FALLOCATE mtime");
	usleep(20000);
	assert_int_equal(ftruncate(fd, 2), 0);
	x = expect(f, RECORD_TRUNCATE, "d/a", NULL);
	same_mtime(under, "d/a", x->op.mtime_sec, x->op.mtime_nsec, "TRUNCATE mtime");
	assert_int_equal(close(fd), 0);
	usleep(20000);
	assert_int_equal(symlink("a", P(f, "d/s")), 0);
	x = expect(f, RECORD_SYMLINK, "d/s", "a");
	same_mtime(under, "d/s", x->op.mtime_sec, x->op.mtime_nsec, "SYMLINK mtime");
	same_mtime(under, "d", x->op.dir_mtime_sec, x->op.dir_mtime_nsec, "SYMLINK dir_mtime");
	assert_int_equal(mkdir(P(f, "e"), 0755), 0);
	expect(f, RECORD_MKDIR, "e", NULL);
	usleep(20000);
	assert_int_equal(rename(P(f, "d/a"), P(f, "e/a")), 0);
	x = expect(f, RECORD_RENAME, "d/a", "e/a");
	same_mtime(under, "d", x->op.dir_mtime_sec, x->op.dir_mtime_nsec, "RENAME dir_mtime");
	same_mtime(under, "e", x->op.dir2_mtime_sec, x->op.dir2_mtime_nsec, "RENAME dir2_mtime");
	usleep(20000);
	assert_int_equal(link(P(f, "e/a"), P(f, "d/h")), 0);
	x = expect(f, RECORD_LINK, "e/a", "d/h");
	same_mtime(under, "d", x->op.dir_mtime_sec, x->op.dir_mtime_nsec, "LINK dir_mtime");
	usleep(20000);
	assert_int_equal(unlink(P(f, "d/h")), 0);
	x = expect(f, RECORD_UNLINK, "d/h", NULL);
	same_mtime(under, "d", x->op.dir_mtime_sec, x->op.dir_mtime_nsec, "UNLINK dir_mtime");
	assert_int_equal(unlink(P(f, "d/s")), 0);
	expect(f, RECORD_UNLINK, "d/s", NULL);
	usleep(20000);
	assert_int_equal(rmdir(P(f, "d")), 0);
	x = expect(f, RECORD_RMDIR, "d", NULL);
	same_mtime(under, "", x->op.dir_mtime_sec, x->op.dir_mtime_nsec, "RMDIR dir_mtime");
	usleep(20000);
	fd = open(P(f, "e/a"), O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	x = expect(f, RECORD_TRUNCATE, "e/a", NULL);
	same_mtime(under, "e/a", x->op.mtime_sec, x->op.mtime_nsec, "O_TRUNC mtime");
	assert_int_equal(close(fd), 0);
	expect_none(f);
	close(under);
	stop(f);
}

/* Attributes: chmod, chown, utimens, xattrs, fallocate; fsync barriers. */
static void
test_attributes(void **state)
{
	struct fixture *f = *state;
	struct timespec ts[2] = { { 1000, 5 }, { 0, UTIME_OMIT } };
	const struct rec *x;
	struct stat st;
	char val[16];
	time_t now;
	int fd;

	start(f, false);
	assert_int_equal(chmod(P(f, "old"), 0600), 0);
	x = expect(f, RECORD_CHMOD, "old", NULL);
	assert_int_equal(x->op.mode, 0600);
	assert_int_equal(chown(P(f, "old"), 1234, 1234), 0);
	x = expect(f, RECORD_CHOWN, "old", NULL);
	assert_int_equal(x->op.uid, 1234);
	assert_int_equal(x->op.gid, 1234);
	assert_int_equal(chmod(f->dir, 0711), 0);
	x = expect(f, RECORD_CHMOD, "", NULL);         /* the directory itself */
	assert_int_equal(x->op.mode, 0711);
	assert_int_equal(symlink("old", P(f, "s")), 0);
	expect(f, RECORD_SYMLINK, "s", "old");
	assert_int_equal(lchown(P(f, "s"), 1234, (gid_t)-1), 0);
	x = expect(f, RECORD_CHOWN, "s", NULL);
	assert_int_equal(x->op.uid, 1234);
	assert_int_equal(x->op.gid, UINT32_MAX);

	assert_int_equal(utimensat(AT_FDCWD, P(f, "old"), ts, 0), 0);
	x = expect(f, RECORD_UTIMENS, "old", NULL);
	assert_int_equal(x->op.atime_sec, 1000);
	assert_int_equal(x->op.atime_nsec, 5);
	assert_int_equal(x->op.mtime_nsec, OP_TIME_OMIT);
	now = time(NULL);
	assert_int_equal(utimensat(AT_FDCWD, P(f, "old"), NULL, 0), 0);
	x = expect(f, RECORD_UTIMENS, "old", NULL);
	assert_true(x->op.atime_nsec < 1000000000 && x->op.mtime_nsec < 1000000000);
	assert_true(x->op.atime_sec >= now - 1 && x->op.atime_sec <= now + 5);
	assert_true(x->op.mtime_sec >= now - 1 && x->op.mtime_sec <= now + 5);

	if (f->xattr_ok) {
		assert_int_equal(setxattr(P(f, "old"), "user.k", "v1", 2, XATTR_CREATE), 0);
		x = expect(f, RECORD_SETXATTR, "old", NULL);
		assert_string_equal(x->name, "user.k");
		assert_int_equal(x->op.name_len, 6);
		assert_int_equal(x->op.data_len, 2);
		assert_memory_equal(x->data, "v1", 2);
		assert_int_equal(x->op.flags, XATTR_CREATE);
		assert_int_equal(setxattr(P(f, "old"), "user.k", "v2", 2, XATTR_CREATE), -1);
		assert_int_equal(errno, EEXIST);
		assert_int_equal(getxattr(P(f, "old"), "user.k", val, sizeof(val)), 2);
		assert_memory_equal(val, "v1", 2);
		assert_int_equal(removexattr(P(f, "old"), "user.k"), 0);
		x = expect(f, RECORD_REMOVEXATTR, "old", NULL);
		assert_string_equal(x->name, "user.k");
		assert_int_equal(getxattr(P(f, "old"), "user.k", val, sizeof(val)), -1);
	}
	expect_none(f);

	fd = open(P(f, "old"), O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 65536), 0);
	x = expect(f, RECORD_FALLOCATE, "old", NULL);
	assert_int_equal(x->op.offset, 0);
	assert_int_equal(x->op.size, 65536);
	assert_int_equal(x->op.flags, FALLOC_FL_KEEP_SIZE);
	assert_int_equal(fsync(fd), 0);
	x = expect(f, RECORD_FSYNC_BARRIER, "old", NULL);
	assert_int_equal(x->op.flags, 0);
	assert_int_equal(atomic_load(&f->r.barriers), 1);
	assert_int_equal(fdatasync(fd), 0);            /* nothing new: no barrier */
	expect_none(f);
	assert_int_equal(pwrite(fd, "x", 1, 0), 1);
	expect(f, RECORD_WRITE, "old", NULL);
	assert_int_equal(fdatasync(fd), 0);
	x = expect(f, RECORD_FSYNC_BARRIER, "old", NULL);
	assert_int_equal(x->op.flags, OP_FSYNC_DATA);
	assert_int_equal(atomic_load(&f->r.barriers), 2);
	assert_int_equal(close(fd), 0);
	expect_none(f);

	stop(f);
	assert_int_equal(lstat(P(f, "old"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_uid, 1234);
	assert_int_equal(st.st_size, 10);
	assert_true(st.st_blocks * 512 >= 65536);
	assert_int_equal(lstat(P(f, "s"), &st), 0);
	assert_int_equal(st.st_uid, 1234);
	assert_int_equal(st.st_gid, 0);
	assert_int_equal(stat(f->dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0711);
}

/* Ownership: a node made through the mount belongs to its maker. */
static void
test_owner(void **state)
{
	struct fixture *f = *state;
	const struct rec *x;
	struct stat st;
	int status;
	pid_t pid;

	start(f, false);
	assert_int_equal(mkdir(P(f, "g"), 0755), 0);
	expect(f, RECORD_MKDIR, "g", NULL);
	assert_int_equal(chown(P(f, "g"), 0, 1234), 0);
	expect(f, RECORD_CHOWN, "g", NULL);
	assert_int_equal(chmod(P(f, "g"), 02775), 0);
	expect(f, RECORD_CHMOD, "g", NULL);
	assert_int_equal(mkfifo(P(f, "g/fifo"), 0640), 0);
	x = expect(f, RECORD_CREATE, "g/fifo", NULL);
	assert_int_equal(x->op.mode, S_IFIFO | 0640);
	assert_int_equal(x->op.gid, 1234);          /* from the set-group-ID dir */
	assert_int_equal(mkdir(P(f, "g/sub"), 0700), 0);
	x = expect(f, RECORD_MKDIR, "g/sub", NULL);
	assert_int_equal(x->op.mode, S_ISGID | 0700);
	assert_int_equal(x->op.gid, 1234);

	/* Another user's file: made by root, then given away. */
	assert_int_equal(mkdir(P(f, "pub"), 0777), 0);
	expect(f, RECORD_MKDIR, "pub", NULL);
	assert_int_equal(chmod(P(f, "pub"), 0777), 0);
	expect(f, RECORD_CHMOD, "pub", NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		umask(002);         /* in pub first: the scratch folder is root's only */
		if (chdir(P(f, "pub")) != 0 || setgroups(0, NULL) != 0 ||
		    setgid(4321) != 0 || setuid(4321) != 0)
			_exit(2);
		_exit(open("u", O_CREAT | O_WRONLY, 0666) >= 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	x = expect(f, RECORD_CREATE, "pub/u", NULL);
	assert_int_equal(x->op.uid, 4321);
	assert_int_equal(x->op.gid, 4321);
	assert_int_equal(x->op.mode, S_IFREG | 0664);
	expect_none(f);
	stop(f);
	assert_int_equal(lstat(P(f, "pub/u"), &st), 0);
	assert_int_equal(st.st_uid, 4321);
	assert_int_equal(st.st_gid, 4321);
	assert_int_equal(st.st_mode & 07777, 0664);
	assert_int_equal(lstat(P(f, "g/fifo"), &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_equal(st.st_gid, 1234);
	assert_int_equal(lstat(P(f, "g/sub"), &st), 0);
	assert_int_equal(st.st_mode & 07777, S_ISGID | 0700);
}

/* A shared writable mapping: its pages come back as writes, msync as a barrier. */
static void
test_mmap(void **state)
{
	struct fixture *f = *state;
	const struct rec *x;
	char got[8192];
	bool seen = false;
	char *p;
	int fd;

	start(f, false);
	fd = open(P(f, "m"), O_CREAT | O_RDWR, 0644);
	assert_true(fd >= 0);
	expect(f, RECORD_CREATE, "m", NULL);
	assert_int_equal(ftruncate(fd, 8192), 0);
	x = expect(f, RECORD_TRUNCATE, "m", NULL);
	assert_int_equal(x->op.size, 8192);
	p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(p != MAP_FAILED);
	memcpy(p + 4096, "mmapdata", 8);
	assert_int_equal(msync(p, 8192, MS_SYNC), 0);
	while (f->next < nrecs(f) && f->r.recs[f->next].op.type == RECORD_WRITE) {
		x = expect(f, RECORD_WRITE, "m", NULL);
		if (x->op.offset <= 4096 && x->op.offset + x->op.data_len >= 4096 + 8 &&
		    memcmp(x->data + (4096 - x->op.offset), "mmapdata", 8) == 0)
			seen = true;
	}
	assert_true(seen);
	expect(f, RECORD_FSYNC_BARRIER, "m", NULL);
	assert_int_equal(munmap(p, 8192), 0);
	assert_int_equal(close(fd), 0);
	stop(f);
	assert_int_equal(get_file(P(f, "m"), got, sizeof(got)), 8192);
	assert_memory_equal(got + 4096, "mmapdata", 8);
}

/* Reading, listing and looking up take no lock and emit nothing. */
static void
test_reads_no_lock(void **state)
{
	struct fixture *f = *state;
	char buf[64];
	struct statvfs sv;
	struct stat st;
	struct dirent *de;
	bool found = false;
	DIR *d;
	int fd;

	start(f, false);
	assert_int_equal(symlink("old", P(f, "s")), 0);
	expect(f, RECORD_SYMLINK, "s", "old");
	atomic_store(&f->r.locks, 0);

	assert_int_equal(stat(P(f, "old"), &st), 0);
	assert_int_equal(st.st_size, 10);
	fd = open(P(f, "old"), O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 10);
	assert_memory_equal(buf, "0123456789", 10);
	assert_int_equal(pread(fd, buf, 4, 6), 4);
	assert_memory_equal(buf, "6789", 4);
	assert_int_equal(lseek(fd, 0, SEEK_DATA), 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(close(fd), 0);
	assert_int_equal(readlink(P(f, "s"), buf, sizeof(buf)), 3);
	assert_int_equal(statvfs(f->dir, &sv), 0);
	assert_true(sv.f_blocks > 0);
	assert_int_equal(access(P(f, "old"), R_OK), 0);
	assert_int_equal(stat(P(f, "nothing"), &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(listxattr(P(f, "old"), buf, sizeof(buf)) >= 0, 1);
	d = opendir(f->dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		found |= strcmp(de->d_name, "old") == 0 && de->d_type == DT_REG;
	closedir(d);
	assert_true(found);

	assert_int_equal(atomic_load(&f->r.locks), 0);
	expect_none(f);
	stop(f);
}

struct writer {
	char		 path[PATH_MAX];
	int		 id;
	int		 err;
};

#define WRITERS  4
#define CHUNKS   64
#define CHUNK    4096

static void
fill_chunk(uint8_t *b, int id, int i)
{
	memset(b, id * CHUNKS + i, CHUNK);
	b[0] = (uint8_t)id;
	b[1] = (uint8_t)i;
}

/* One thread: its own file, CHUNKS writes; errors are reported, not asserted. */
static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	uint8_t b[CHUNK];
	int fd, i;

	fd = open(w->path, O_CREAT | O_WRONLY, 0644);
	if (fd == -1) {
		w->err = errno;
		return NULL;
	}
	for (i = 0; i < CHUNKS && w->err == 0; i++) {
		fill_chunk(b, w->id, i);
		if (write(fd, b, CHUNK) != CHUNK)
			w->err = errno ? errno : EIO;
	}
	if (close(fd) != 0 && w->err == 0)
		w->err = errno;
	return NULL;
}

/* Writers at once: each write emitted once, in order per file, never overlapping. */
static void
test_threads(void **state)
{
	struct fixture *f = *state;
	struct writer w[WRITERS];
	pthread_t t[WRITERS];
	int next[WRITERS] = { 0 }, creates = 0, i;
	uint8_t want[CHUNK];
	size_t k, n;

	start(f, false);
	for (i = 0; i < WRITERS; i++) {
		w[i] = (struct writer){ .id = i };
		snprintf(w[i].path, sizeof(w[i].path), "%s/t%d", f->dir, i);
	}
	for (i = 0; i < WRITERS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
	for (i = 0; i < WRITERS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].err, 0);
	}
	n = nrecs(f);
	assert_int_equal(n, WRITERS * (1 + CHUNKS));
	for (k = 0; k < n; k++) {
		const struct rec *x = &f->r.recs[k];

		assert_true(x->path[0] == 't' && x->path[1] >= '0' && x->path[1] < '0' + WRITERS);
		i = x->path[1] - '0';
		if (x->op.type == RECORD_CREATE) {
			assert_int_equal(next[i], 0);
			creates++;
			continue;
		}
		assert_int_equal(x->op.type, RECORD_WRITE);
		assert_int_equal(x->op.offset, (uint64_t)next[i] * CHUNK);
		assert_int_equal(x->op.data_len, CHUNK);
		fill_chunk(want, i, next[i]);
		assert_memory_equal(x->data, want, CHUNK);
		next[i]++;
	}
	assert_int_equal(creates, WRITERS);
	for (i = 0; i < WRITERS; i++)
		assert_int_equal(next[i], CHUNKS);
	assert_int_equal(atomic_load(&f->r.violations), 0);
	f->next = n;
	stop(f);
}

/* A refused emit fails the operation with EIO and takes back a new name. */
static void
test_emit_failure(void **state)
{
	struct fixture *f = *state;
	struct capture_stats st;
	struct stat sb;
	int fd;

	start(f, false);
	atomic_store(&f->r.fail, 1);
	assert_int_equal(mkdir(P(f, "x"), 0755), -1);
	assert_int_equal(errno, EIO);
	assert_int_equal(stat(P(f, "x"), &sb), -1);
	atomic_store(&f->r.fail, 1);
	assert_int_equal(open(P(f, "y"), O_CREAT | O_WRONLY, 0644), -1);
	assert_int_equal(errno, EIO);
	assert_int_equal(stat(P(f, "y"), &sb), -1);
	fd = open(P(f, "z"), O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	expect(f, RECORD_CREATE, "z", NULL);
	atomic_store(&f->r.fail, 1);
	assert_int_equal(write(fd, "zzz", 3), -1);
	assert_int_equal(errno, EIO);
	assert_int_equal(close(fd), 0);
	expect_none(f);
	capture_stats(f->c, &st);
	assert_int_equal(st.emit_errors, 3);
	assert_int_equal(st.emitted, 1);
	assert_true(st.ops > st.emitted);
	stop(f);
	assert_int_equal(access(P(f, "x"), F_OK), -1);
	assert_int_equal(access(P(f, "y"), F_OK), -1);
	assert_int_equal(stat(P(f, "z"), &sb), 0);
	assert_int_equal(sb.st_size, 3);       /* the write itself stays */
}

/*
 * Stop with files open: the mount goes at once, within the grace period;
 * an unlinked open file (hidden, as hard_remove is off) is removed at stop
 * and both steps reach the sink; the open descriptor fails afterwards.
 */
static void
test_stop_busy(void **state)
{
	struct fixture *f = *state;
	struct timespec t0, t1;
	char hidden[HIDDEN_LEN];
	struct dirent *de;
	struct stat st;
	int fd, fd2;
	DIR *d;

	start(f, false);
	fd = open(P(f, "open"), O_CREAT | O_RDWR, 0644);
	assert_true(fd >= 0);
	expect(f, RECORD_CREATE, "open", NULL);
	fd2 = open(P(f, "gone"), O_CREAT | O_RDWR, 0644);
	assert_true(fd2 >= 0);
	expect(f, RECORD_CREATE, "gone", NULL);
	assert_int_equal(fstat(fd2, &st), 0);
	hidden_name(hidden, st.st_ino, 0);
	assert_int_equal(unlink(P(f, "gone")), 0);
	expect(f, RECORD_RENAME, "gone", hidden);
	assert_int_equal(write(fd2, "still", 5), 5);
	expect(f, RECORD_WRITE, hidden, NULL);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	stop(f);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 10);
	expect(f, RECORD_UNLINK, hidden, NULL);
	expect_none(f);
	assert_int_equal(write(fd, "x", 1), -1);
	assert_int_equal(errno, ENOTCONN);        /* the connection was ended */
	close(fd);
	close(fd2);
	d = opendir(f->dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		assert_true(strncmp(de->d_name, ".fuse_hidden", 12) != 0);
	closedir(d);
}

/* With the writeback cache the data still arrives whole, before the barrier. */
static void
test_writeback(void **state)
{
	struct fixture *f = *state;
	uint8_t want[65536], seen[65536], got[65536];
	size_t covered = 0, writes = 0;
	int fd, i;

	start(f, true);
	for (i = 0; i < (int)sizeof(want); i++)
		want[i] = (uint8_t)(i * 13);
	memset(seen, 0, sizeof(seen));
	fd = open(P(f, "w"), O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	expect(f, RECORD_CREATE, "w", NULL);
	for (i = 0; i < 16; i++)
		assert_int_equal(write(fd, want + i * 4096, 4096), 4096);
	assert_int_equal(fsync(fd), 0);
	while (f->next < nrecs(f) && f->r.recs[f->next].op.type != RECORD_FSYNC_BARRIER) {
		const struct rec *x = &f->r.recs[f->next++];

		assert_string_equal(x->path, "w");
		if (x->op.type != RECORD_WRITE)
			continue;
		assert_true(x->op.offset + x->op.data_len <= sizeof(seen));
		memcpy(seen + x->op.offset, x->data, x->op.data_len);
		covered += x->op.data_len;
		writes++;
	}
	expect(f, RECORD_FSYNC_BARRIER, "w", NULL);
	assert_true(covered >= sizeof(want));
	assert_true(writes < 16);          /* the cache gathered the 4 KiB writes */
	assert_memory_equal(seen, want, sizeof(want));
	assert_int_equal(close(fd), 0);
	stop(f);
	assert_int_equal(get_file(P(f, "w"), got, sizeof(got)), sizeof(got));
	assert_memory_equal(got, want, sizeof(want));
}

/* ---- Hard links: one kernel inode per file, whatever its names ---- */

/* pread of exactly len bytes at off, compared with want. */
static void
read_equal(int fd, off_t off, const char *want, size_t len)
{
	char got[256];

	assert_true(len <= sizeof(got));
	assert_int_equal(pread(fd, got, len, off), (ssize_t)len);
	assert_memory_equal(got, want, len);
}

/*
 * a and b, two names of one file, both open: what is written through a
 * is read through b at once, size and bytes, and a truncate through a is
 * b's size at once; the ops name a, the file's first name.
 */
static void
hardlink_write_read(struct fixture *f, bool writeback)
{
	struct stat st;
	char got[64];
	int fa, fb;

	start(f, writeback);
	fa = open(P(f, "a"), O_CREAT | O_RDWR, 0644);
	assert_true(fa >= 0);
	expect(f, RECORD_CREATE, "a", NULL);
	assert_int_equal(write(fa, "hello", 5), 5);
	assert_int_equal(fsync(fa), 0);
	assert_true(until_barrier(f, "a", 0, "hello", 5));
	assert_int_equal(link(P(f, "a"), P(f, "b")), 0);
	expect(f, RECORD_LINK, "a", "b");
	fb = open(P(f, "b"), O_RDONLY);
	assert_true(fb >= 0);
	read_equal(fb, 0, "hello", 5);                  /* b's pages are cached now */

	assert_int_equal(pwrite(fa, "WORLD!!", 7, 3), 7);
	assert_int_equal(fstat(fb, &st), 0);
	assert_int_equal(st.st_size, 10);
	assert_int_equal(stat(P(f, "b"), &st), 0);
	assert_int_equal(st.st_size, 10);
	read_equal(fb, 0, "helWORLD!!", 10);
	assert_int_equal(read(fb, got, sizeof(got)), 10);
	assert_memory_equal(got, "helWORLD!!", 10);

	assert_int_equal(ftruncate(fa, 4), 0);
	assert_int_equal(fstat(fb, &st), 0);
	assert_int_equal(st.st_size, 4);
	assert_int_equal(pread(fb, got, sizeof(got), 0), 4);
	assert_memory_equal(got, "helW", 4);
	assert_int_equal(fsync(fa), 0);
	(void)until_barrier(f, "a", 0, NULL, 0);
	assert_int_equal(close(fb), 0);
	assert_int_equal(close(fa), 0);
	stop(f);
	assert_int_equal(get_file(P(f, "b"), got, sizeof(got)), 4);
	assert_memory_equal(got, "helW", 4);
}

static void
test_hardlink(void **state)
{
	hardlink_write_read(*state, false);
}

static void
test_hardlink_writeback(void **state)
{
	hardlink_write_read(*state, true);
}

/* A shared mapping written through a is read through b at once, then captured. */
static void
test_hardlink_mmap(void **state)
{
	struct fixture *f = *state;
	char *p;
	int fa, fb;

	start(f, true);
	fa = open(P(f, "a"), O_CREAT | O_RDWR, 0644);
	assert_true(fa >= 0);
	expect(f, RECORD_CREATE, "a", NULL);
	assert_int_equal(ftruncate(fa, 8192), 0);
	assert_int_equal(fsync(fa), 0);                 /* and times the cache sends */
	(void)until_barrier(f, "a", 0, NULL, 0);
	assert_int_equal(link(P(f, "a"), P(f, "b")), 0);
	expect(f, RECORD_LINK, "a", "b");
	fb = open(P(f, "b"), O_RDONLY);
	assert_true(fb >= 0);
	read_equal(fb, 4096, "\0\0\0\0\0\0\0\0", 8);
	p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fa, 0);
	assert_true(p != MAP_FAILED);
	memcpy(p + 4096, "mmapdata", 8);
	read_equal(fb, 4096, "mmapdata", 8);            /* before any msync */
	assert_int_equal(msync(p, 8192, MS_SYNC), 0);
	assert_true(until_barrier(f, "a", 4096, "mmapdata", 8));
	assert_int_equal(munmap(p, 8192), 0);
	assert_int_equal(close(fb), 0);
	assert_int_equal(close(fa), 0);
	stop(f);
}

/* st_ino is the inode underneath, the same for every name; st_nlink counts them. */
static void
test_hardlink_stat(void **state)
{
	struct fixture *f = *state;
	struct stat sa, sb, so, under;
	int fd;

	start(f, false);
	assert_int_equal(mkdir(P(f, "d"), 0755), 0);
	expect(f, RECORD_MKDIR, "d", NULL);
	assert_int_equal(link(P(f, "old"), P(f, "d/b")), 0);
	expect(f, RECORD_LINK, "old", "d/b");
	assert_int_equal(stat(P(f, "old"), &so), 0);
	assert_int_equal(stat(P(f, "d/b"), &sb), 0);
	assert_int_equal(so.st_ino, sb.st_ino);
	assert_int_equal(so.st_nlink, 2);
	assert_int_equal(sb.st_nlink, 2);
	fd = open(P(f, "d/b"), O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sa), 0);
	assert_int_equal(sa.st_ino, so.st_ino);
	assert_int_equal(sa.st_nlink, 2);
	assert_int_equal(link(P(f, "d/b"), P(f, "c")), 0);
	expect(f, RECORD_LINK, "old", "c");             /* the file's first name */
	assert_int_equal(stat(P(f, "old"), &so), 0);
	assert_int_equal(so.st_nlink, 3);
	assert_int_equal(unlink(P(f, "old")), 0);
	expect(f, RECORD_UNLINK, "old", NULL);
	assert_int_equal(fstat(fd, &sa), 0);
	assert_int_equal(sa.st_nlink, 2);
	assert_int_equal(stat(P(f, "c"), &sa), 0);
	assert_int_equal(sa.st_nlink, 2);
	assert_int_equal(close(fd), 0);
	expect_none(f);
	stop(f);
	assert_int_equal(stat(P(f, "c"), &under), 0);
	assert_int_equal(under.st_ino, sb.st_ino);
	assert_int_equal(under.st_nlink, 2);
}

/*
 * The name a file was opened by goes while another stays: a plain UNLINK,
 * and the writes name the other one. Here the other name is one the
 * capture never looked up (made before the mount): the open file's last
 * known name is hidden, and the other stays a link of it.
 */
static void
test_unlink_other_name(void **state)
{
	struct fixture *f = *state;
	char hidden[HIDDEN_LEN], got[64];
	struct stat st;
	int fa, fb;

	start(f, false);
	fa = open(P(f, "a"), O_CREAT | O_RDWR, 0644);
	assert_true(fa >= 0);
	expect(f, RECORD_CREATE, "a", NULL);
	assert_int_equal(link(P(f, "a"), P(f, "b")), 0);
	expect(f, RECORD_LINK, "a", "b");
	fb = open(P(f, "b"), O_RDWR);
	assert_true(fb >= 0);
	assert_int_equal(unlink(P(f, "b")), 0);
	expect(f, RECORD_UNLINK, "b", NULL);
	assert_int_equal(write(fb, "via-b", 5), 5);
	expect(f, RECORD_WRITE, "a", NULL);
	assert_int_equal(link(P(f, "a"), P(f, "b2")), 0);
	expect(f, RECORD_LINK, "a", "b2");
	assert_int_equal(unlink(P(f, "a")), 0);
	expect(f, RECORD_UNLINK, "a", NULL);
	assert_int_equal(write(fa, "A", 1), 1);
	expect(f, RECORD_WRITE, "b2", NULL);
	assert_int_equal(fstat(fa, &st), 0);
	assert_int_equal(st.st_nlink, 1);
	assert_int_equal(close(fa), 0);
	assert_int_equal(close(fb), 0);
	expect_none(f);
	stop(f);
	assert_int_equal(get_file(P(f, "b2"), got, sizeof(got)), 5);
	assert_memory_equal(got, "Aia-b", 5);

	/* A second name made underneath, unknown to the capture. */
	assert_int_equal(link(P(f, "b2"), P(f, "under")), 0);
	f->next = nrecs(f);
	mount_capture(f, false);
	fa = open(P(f, "b2"), O_RDWR);
	assert_true(fa >= 0);
	assert_int_equal(fstat(fa, &st), 0);
	assert_int_equal(st.st_nlink, 2);
	hidden_name(hidden, st.st_ino, 0);
	assert_int_equal(unlink(P(f, "b2")), 0);
	expect(f, RECORD_RENAME, "b2", hidden);
	assert_int_equal(fstat(fa, &st), 0);
	assert_int_equal(st.st_nlink, 1);               /* "under" */
	assert_int_equal(pwrite(fa, "U", 1, 0), 1);
	expect(f, RECORD_WRITE, hidden, NULL);
	assert_int_equal(close(fa), 0);
	wait_op(f);
	expect(f, RECORD_UNLINK, hidden, NULL);
	expect_none(f);
	stop(f);
	assert_int_equal(get_file(P(f, "under"), got, sizeof(got)), 5);
	assert_memory_equal(got, "Uia-b", 5);
	assert_int_equal(access(P(f, hidden), F_OK), -1);
}

/* Files open below a folder renamed twice: their ops follow the folder. */
static void
test_rename_dir_open(void **state)
{
	struct fixture *f = *state;
	int fd, fd2;

	start(f, false);
	assert_int_equal(mkdir(P(f, "d"), 0755), 0);
	expect(f, RECORD_MKDIR, "d", NULL);
	assert_int_equal(mkdir(P(f, "d/e"), 0755), 0);
	expect(f, RECORD_MKDIR, "d/e", NULL);
	fd = open(P(f, "d/e/f"), O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	expect(f, RECORD_CREATE, "d/e/f", NULL);
	fd2 = open(P(f, "d/g"), O_CREAT | O_WRONLY, 0644);
	assert_true(fd2 >= 0);
	expect(f, RECORD_CREATE, "d/g", NULL);
	assert_int_equal(rename(P(f, "d"), P(f, "x")), 0);
	expect(f, RECORD_RENAME, "d", "x");
	assert_int_equal(write(fd, "1", 1), 1);
	expect(f, RECORD_WRITE, "x/e/f", NULL);
	assert_int_equal(write(fd2, "2", 1), 1);
	expect(f, RECORD_WRITE, "x/g", NULL);
	assert_int_equal(rename(P(f, "x/e"), P(f, "y")), 0);
	expect(f, RECORD_RENAME, "x/e", "y");
	assert_int_equal(write(fd, "3", 1), 1);
	expect(f, RECORD_WRITE, "y/f", NULL);
	assert_int_equal(fsync(fd), 0);
	expect(f, RECORD_FSYNC_BARRIER, "y/f", NULL);
	assert_int_equal(fchmod(fd, 0600), 0);
	expect(f, RECORD_CHMOD, "y/f", NULL);
	assert_int_equal(renameat2(AT_FDCWD, P(f, "x"), AT_FDCWD, P(f, "y"),
	    RENAME_EXCHANGE), 0);
	expect(f, RECORD_RENAME, "x", "y");
	assert_int_equal(write(fd, "4", 1), 1);
	expect(f, RECORD_WRITE, "x/f", NULL);
	assert_int_equal(write(fd2, "5", 1), 1);
	expect(f, RECORD_WRITE, "y/g", NULL);
	assert_int_equal(close(fd), 0);
	assert_int_equal(close(fd2), 0);
	expect_none(f);
	stop(f);
}

/*
 * The last name of an open file goes (unlink, or a rename over it): it is
 * renamed to a hidden name at the root instead, the writes name that, and
 * the last close removes it. The folder that held it can go meanwhile.
 */
static void
test_unlink_open(void **state)
{
	struct fixture *f = *state;
	char hidden[HIDDEN_LEN], hidden2[HIDDEN_LEN], got[16];
	struct capture_stats cs;
	struct stat st;
	int fd, fd2;

	start(f, false);
	assert_int_equal(mkdir(P(f, "d"), 0755), 0);
	expect(f, RECORD_MKDIR, "d", NULL);
	fd = open(P(f, "d/f"), O_CREAT | O_RDWR, 0644);
	assert_true(fd >= 0);
	expect(f, RECORD_CREATE, "d/f", NULL);
	assert_int_equal(write(fd, "before", 6), 6);
	expect(f, RECORD_WRITE, "d/f", NULL);
	assert_int_equal(fstat(fd, &st), 0);
	hidden_name(hidden, st.st_ino, 0);
	assert_int_equal(unlink(P(f, "d/f")), 0);
	expect(f, RECORD_RENAME, "d/f", hidden);
	assert_int_equal(f->r.recs[f->next - 1].op.flags, 0);
	assert_int_equal(access(P(f, "d/f"), F_OK), -1);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_nlink, 0);               /* as on a local file system */
	capture_stats(f->c, &cs);
	assert_int_equal(cs.hidden, 1);
	assert_int_equal(rmdir(P(f, "d")), 0);          /* not kept by the hidden file */
	expect(f, RECORD_RMDIR, "d", NULL);
	assert_int_equal(pwrite(fd, "after", 5, 6), 5);
	expect(f, RECORD_WRITE, hidden, NULL);
	assert_int_equal(ftruncate(fd, 8), 0);
	expect(f, RECORD_TRUNCATE, hidden, NULL);
	assert_int_equal(pread(fd, got, sizeof(got), 0), 8);
	assert_memory_equal(got, "beforeaf", 8);
	assert_int_equal(close(fd), 0);
	wait_op(f);                                     /* release is asynchronous */
	expect(f, RECORD_UNLINK, hidden, NULL);
	capture_stats(f->c, &cs);
	assert_int_equal(cs.hidden, 0);

	/* A rename over an open file's last name hides it first. */
	fd = open(P(f, "t"), O_CREAT | O_RDWR, 0644);
	assert_true(fd >= 0);
	expect(f, RECORD_CREATE, "t", NULL);
	fd2 = open(P(f, "s"), O_CREAT | O_RDWR, 0644);
	assert_true(fd2 >= 0);
	expect(f, RECORD_CREATE, "s", NULL);
	assert_int_equal(fstat(fd, &st), 0);
	hidden_name(hidden2, st.st_ino, 1);
	assert_int_equal(rename(P(f, "s"), P(f, "t")), 0);
	expect(f, RECORD_RENAME, "t", hidden2);
	expect(f, RECORD_RENAME, "s", "t");
	assert_int_equal(write(fd, "old t", 5), 5);
	expect(f, RECORD_WRITE, hidden2, NULL);
	assert_int_equal(write(fd2, "new t", 5), 5);
	expect(f, RECORD_WRITE, "t", NULL);
	assert_int_equal(close(fd2), 0);
	assert_int_equal(close(fd), 0);
	wait_op(f);
	expect(f, RECORD_UNLINK, hidden2, NULL);
	expect_none(f);
	stop(f);
	assert_int_equal(access(P(f, hidden), F_OK), -1);
	assert_int_equal(access(P(f, hidden2), F_OK), -1);
	assert_int_equal(get_file(P(f, "t"), got, sizeof(got)), 5);
	assert_memory_equal(got, "new t", 5);
}

struct churn {
	struct fixture	*f;
	atomic_bool	 stop;
	int		 err;
};

/*
 * Open, write and close f over and over; errors are kept, not asserted.
 * An open may fail with ENOENT: the name was found, then unlinked before
 * the file was opened underneath, where nothing holds it any more.
 */
static void *
churn_main(void *arg)
{
	struct churn *ch = arg;
	const char *path = P(ch->f, "f");
	int fd;

	while (!atomic_load(&ch->stop) && ch->err == 0) {
		if ((fd = open(path, O_CREAT | O_RDWR, 0644)) == -1) {
			if (errno != ENOENT)
				ch->err = errno;
			continue;
		}
		if (write(fd, "x", 1) != 1)
			ch->err = errno ? errno : EIO;
		if (close(fd) != 0 && ch->err == 0)
			ch->err = errno;
	}
	return NULL;
}

/*
 * Unlinks racing with opens and closes of the same file: every file hidden
 * while open loses its hidden name once closed, nothing is left at the
 * root, and no write fails for want of a path.
 */
static void
test_unlink_race(void **state)
{
	struct fixture *f = *state;
	struct churn ch[2] = { { .f = f }, { .f = f } };
	struct capture_stats cs;
	struct dirent *de;
	const char *path;
	size_t hides = 0, k;
	pthread_t t[2];
	uint64_t end;
	int i;
	DIR *d;

	start(f, false);
	path = P(f, "f");
	for (i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, churn_main, &ch[i]), 0);
	for (end = now_mono_ms() + 1500; now_mono_ms() < end;)
		(void)unlink(path);
	for (i = 0; i < 2; i++) {
		atomic_store(&ch[i].stop, true);
		pthread_join(t[i], NULL);
		assert_int_equal(ch[i].err, 0);
	}
	for (k = 0; k < nrecs(f); k++)
		hides += f->r.recs[k].op.type == RECORD_RENAME;
	print_message("%zu opens hidden\n", hides);
	for (i = 0; i < 500; i++) {
		capture_stats(f->c, &cs);
		if (cs.hidden == 0)
			break;
		usleep(10000);                          /* releases are asynchronous */
	}
	assert_int_equal(cs.hidden, 0);
	assert_int_equal(cs.emit_errors, 0);
	d = opendir(f->dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, ".fuse_hidden", 12) == 0)
			fail_msg("%s left at the root", de->d_name);
	closedir(d);
	f->next = nrecs(f);
	assert_int_equal(atomic_load(&f->r.violations), 0);
	stop(f);
}

/* The table size once the kernel has forgotten what it can (at most 5 s). */
static struct capture_stats
settled(struct fixture *f, uint64_t want_nodes)
{
	struct capture_stats cs;
	int i;

	for (i = 0; i < 50; i++) {
		sync();
		if (write_proc("/proc/sys/vm/drop_caches", "2") != 0)
			fail_msg("drop_caches: %s", strerror(errno));
		usleep(100000);
		capture_stats(f->c, &cs);
		if (i >= 2 && cs.nodes <= want_nodes)
			break;
	}
	return cs;
}

/*
 * Many lookups, then the kernel drops its caches: every FORGET reaches the
 * table and no node is left but the root. A folder the kernel forgot stays
 * while a known name of an open file is below it: its path is needed.
 */
static void
test_forget(void **state)
{
	struct fixture *f = *state;
	struct capture_stats cs;
	char name[64];
	struct stat st;
	int fd, i;

	start(f, false);
	assert_int_equal(mkdir(P(f, "d"), 0755), 0);
	for (i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "d/f%d", i);
		fd = open(P(f, name), O_CREAT | O_WRONLY, 0644);
		assert_true(fd >= 0);
		assert_int_equal(close(fd), 0);
		assert_int_equal(stat(P(f, name), &st), 0);
	}
	f->next = nrecs(f);
	capture_stats(f->c, &cs);
	assert_true(cs.nodes >= 201);
	cs = settled(f, 1);
	assert_int_equal(cs.nodes, 1);
	assert_int_equal(cs.names, 0);
	assert_int_equal(stat(P(f, "d/f7"), &st), 0);   /* looked up again */
	capture_stats(f->c, &cs);
	assert_int_equal(cs.nodes, 3);
	assert_int_equal(cs.names, 2);

	/* d/f7, linked to b and open by that name: d is forgotten but kept. */
	assert_int_equal(link(P(f, "d/f7"), P(f, "b")), 0);
	expect(f, RECORD_LINK, "d/f7", "b");
	fd = open(P(f, "b"), O_WRONLY);
	assert_true(fd >= 0);
	cs = settled(f, 3);
	assert_int_equal(cs.nodes, 3);                  /* root, d, the file */
	assert_int_equal(write(fd, "x", 1), 1);
	expect(f, RECORD_WRITE, "d/f7", NULL);
	assert_int_equal(close(fd), 0);
	cs = settled(f, 1);
	assert_int_equal(cs.nodes, 1);
	assert_int_equal(cs.names, 0);
	expect_none(f);
	stop(f);
}

/*
 * A capture whose process died (kill -9) leaves its mount behind, dead:
 * capture_clear_stale removes it and the directory underneath is back.
 */
static void
test_stale_mount(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	int status;
	pid_t pid;

	start(f, false);
	stop(f);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct capture_opts o = { .dir = f->dir, .root = ROOT, .sink = {
		    .arg = &f->r, .lock = rec_lock, .unlock = rec_unlock, .emit = rec_emit,
		    .barrier = rec_barrier } };
		char err[256];

		_exit(capture_start(&o, err, sizeof(err)) != NULL ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(stat(P(f, "old"), &st), -1);
	assert_int_equal(errno, ENOTCONN);
	assert_int_equal(capture_clear_stale(f->dir), 1);
	assert_int_equal(stat(P(f, "old"), &st), 0);
	assert_int_equal(capture_clear_stale(f->dir), 0);
	assert_int_equal(capture_clear_stale("/tmp"), 0);
}

/* What capture_start refuses. */
static void
test_start_refusals(void **state)
{
	struct fixture *f = *state;
	struct capture_opts o = { .dir = "/nonexistent/lifeline-capture" };
	char err[256] = "";

	if (geteuid() != 0 || access("/dev/fuse", R_OK | W_OK) != 0)
		skip();
	o.sink = (struct capture_sink){ .arg = &f->r, .lock = rec_lock,
	    .unlock = rec_unlock, .emit = rec_emit, .barrier = rec_barrier };
	assert_null(capture_start(&o, err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/lifeline-capture"));
	o.dir = "/tmp";
	o.sink.emit = NULL;
	err[0] = '\0';
	assert_null(capture_start(&o, err, sizeof(err)));
	assert_non_null(strstr(err, "sink"));
	assert_false(mounted("/tmp"));
	capture_stop(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_times, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attributes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_owner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mmap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reads_no_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_emit_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writeback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hardlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hardlink_writeback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hardlink_mmap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hardlink_stat, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unlink_other_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename_dir_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unlink_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unlink_race, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_mount, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_refusals, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
