/*
 * The capture (capture.h): a FUSE file system mounted over one protected
 * directory. It serves the directory from a descriptor opened before the
 * mount and hands every change to the sink, in the order of the changes.
 *
 * FUSE choices, and why:
 * - Paths always (nullpath_ok = 0) and open files hidden on unlink, not
 *   removed (hard_remove = 0). Every op needs a path the passive can redo,
 *   and libfuse computes it per request from its node tree, so a rename
 *   moves open files with it. An open file that is unlinked is renamed to
 *   ".fuse_hiddenNNN" (a RENAME op), its later writes name that file, and
 *   its last release removes it (UNLINK op): the passive follows each step.
 *   A failover in between leaves a hidden file there, which is garbage.
 * - default_permissions: the kernel checks modes. We run as root, so a node
 *   made here is then given the caller's uid and gid, and its mode less the
 *   caller's umask (the group of a set-group-ID directory wins, as on a
 *   local file system). HANDLE_KILLPRIV is off, so the kernel itself clears
 *   set-user-ID bits on writes, through a chmod that is captured.
 * - use_ino: stat shows the inode numbers of the files underneath.
 * - Names and attributes cached 1 s, no negative caching, no kernel_cache:
 *   every change goes through this mount, so the kernel's caches stay
 *   right; the short timeouts bound a change made underneath all the same.
 * - No direct_io, so a shared writable mmap works: its dirty pages come
 *   back as write requests and are captured like any write.
 * - Writeback cache only when asked (capture_opts.writeback): the kernel
 *   then gathers small writes and sends them in its own order, which is
 *   legal as every fsync is a barrier (ARCHITECTURE.md, Speed). Files
 *   opened write-only are opened read-write underneath, as the kernel then
 *   reads partial pages through them.
 * - max_write 1 MiB = OP_MAX_DATA: one request, one WRITE op (a larger one
 *   would be split). No splice: the high-level API copies a write's data
 *   into memory anyway.
 * - O_APPEND and O_DIRECT are dropped underneath: the kernel gives every
 *   write its offset, which the op must carry, and O_DIRECT would refuse
 *   the unaligned request buffers.
 * - copy_file_range is not implemented: the kernel then copies through
 *   read and write, which are captured. No lock or flock either: the
 *   kernel keeps locks locally.
 * - A pool of threads of our own reads the device (fuse_session_receive_buf,
 *   the custom loop of fuse_lowlevel.h) instead of fuse_loop_mt, whose main
 *   thread can only be woken by a signal: capture_stop ends ours with
 *   pthread_cancel, which only acts while a thread waits for a request.
 *
 * When the sink cannot take an op (emit returns -1) the change has been
 * made underneath and stays (the journal has marked the passive for a
 * check); the operation fails with EIO, and a name it created is removed.
 */
#define FUSE_USE_VERSION 314

#include <sys/types.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <fuse_lowlevel.h>
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

#include "common/log.h"
#include "common/util.h"
#include "repl/capture.h"
#include "repl/record.h"

#define CAPTURE_THREADS    16          /* requests served at once */
#define CAPTURE_MAX_WRITE  (1u << 20)
#define CAPTURE_TIMEOUT    1.0         /* seconds the kernel caches names, attributes */
#define CAPTURE_GRACE_MS   2000        /* capture_stop waits so long for open files */
#define XPATH_MAX          (PATH_MAX + 32)

struct capture;

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
	struct fuse		*fuse;
	struct worker		 workers[CAPTURE_THREADS];
	size_t			 nworkers;
	atomic_uint_fast64_t	 ops;
	atomic_uint_fast64_t	 emitted;
	atomic_uint_fast64_t	 emit_errors;
};

/* libfuse calls unlink for hidden files inside fuse_destroy, without our data. */
static _Thread_local struct capture *destroying;

/* The capture serving the current request; counts it. */
static struct capture *
cap(void)
{
	struct capture *c = fuse_get_context()->private_data;

	if (c == NULL)
		c = destroying;
	atomic_fetch_add_explicit(&c->ops, 1, memory_order_relaxed);
	return c;
}

/* -errno of a failed call returning -1, else 0. */
static int
syserr(long r)
{
	return r == -1 ? -errno : 0;
}

/* A path from FUSE ("/a/b") relative to the directory underneath. */
static const char *
rel(const char *path)
{
	return path[1] == '\0' ? "." : path + 1;
}

/* Name path (FUSE's form) in op; -ENAMETOOLONG when no record could carry it. */
static int
set_path(struct op *op, const char *path)
{
	size_t len = strlen(path + 1);

	if (len > OP_PATH_MAX)
		return -ENAMETOOLONG;
	op->path = path + 1;
	op->path_len = (uint16_t)len;
	return 0;
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

/* Hand op to the sink, the lock held. 0, or -EIO when it was refused. */
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

static void
lock(struct capture *c)
{
	c->sink.lock(c->sink.arg);
}

/*
 * The end of every mutating operation: the change underneath has been done
 * under the lock with result res (0 or -errno); emit its op if it
 * succeeded, then release the lock.
 */
static int
commit(struct capture *c, int res, struct op *op)
{
	if (res == 0)
		res = emit(c, op);
	c->sink.unlock(c->sink.arg);
	return res;
}

/* stat of the directory holding path (FUSE's form). */
static int
parent_stat(struct capture *c, const char *path, struct stat *st)
{
	const char *slash = strrchr(path, '/');
	char buf[PATH_MAX];
	size_t n;

	if (slash == path)
		return syserr(fstat(c->dfd, st));
	n = (size_t)(slash - (path + 1));
	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path + 1, n);
	buf[n] = '\0';
	return syserr(fstatat(c->dfd, buf, st, 0));
}

/*
 * Give a node root has just made the owner, group and mode the caller would
 * have got on a local file system, and note them in op: a symlink keeps
 * its mode; a directory made in a set-group-ID one keeps the bit. When that
 * fails the node is removed again.
 */
static int
own(struct capture *c, const char *path, mode_t mode, struct op *op)
{
	const struct fuse_context *fc = fuse_get_context();
	mode_t perm = mode & 07777 & ~(fc->umask & 0777);
	gid_t gid = fc->gid;
	struct stat pst;
	int res;

	if (parent_stat(c, path, &pst) == 0 && (pst.st_mode & S_ISGID)) {
		gid = pst.st_gid;
		if (S_ISDIR(mode))
			perm |= S_ISGID;
	}
	res = syserr(fchownat(c->dfd, rel(path), fc->uid, gid, AT_SYMLINK_NOFOLLOW));
	if (res == 0 && !S_ISLNK(mode))
		res = syserr(fchmodat(c->dfd, rel(path), perm, 0));
	if (res != 0) {
		(void)unlinkat(c->dfd, rel(path), S_ISDIR(mode) ? AT_REMOVEDIR : 0);
		return res;
	}
	op->uid = fc->uid;
	op->gid = gid;
	op->mode = S_ISLNK(mode) ? 0 : perm;
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
xattr_path(const struct capture *c, const char *path, char *buf, size_t len)
{
	int n = snprintf(buf, len, "/proc/self/fd/%d/%s", c->dfd, rel(path));

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
barrier(struct capture *c, const char *path, int datasync)
{
	struct op op = { .type = RECORD_FSYNC_BARRIER,
	    .flags = datasync ? OP_FSYNC_DATA : 0 };
	int res;

	if ((res = set_path(&op, path)) != 0)
		return res;
	lock(c);
	if ((res = commit(c, 0, &op)) != 0)
		return res;
	return c->sink.barrier(c->sink.arg, &op);
}

/* ---- FUSE operations ---- */

static void *
fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	struct capture *c = fuse_get_context()->private_data;

	cfg->use_ino = 1;
	cfg->nullpath_ok = 0;
	cfg->hard_remove = 0;
	cfg->entry_timeout = CAPTURE_TIMEOUT;
	cfg->attr_timeout = CAPTURE_TIMEOUT;
	cfg->negative_timeout = 0;
	cfg->kernel_cache = 0;
	cfg->auto_cache = 0;
	cfg->direct_io = 0;
	conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_HANDLE_KILLPRIV);
	if (c->writeback && (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	else
		conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	conn->max_write = CAPTURE_MAX_WRITE;
	return c;
}

static int
fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct capture *c = cap();

	if (fi != NULL)
		return syserr(fstat((int)fi->fh, st));
	return syserr(fstatat(c->dfd, rel(path), st, AT_SYMLINK_NOFOLLOW));
}

static int
fs_readlink(const char *path, char *buf, size_t size)
{
	struct capture *c = cap();
	ssize_t n;

	if (size == 0)
		return -EINVAL;
	if ((n = readlinkat(c->dfd, rel(path), buf, size - 1)) == -1)
		return -errno;
	buf[n] = '\0';
	return 0;
}

/* Regular files, FIFOs and sockets: what a passive can make again. */
static int
fs_mknod(const char *path, mode_t mode, dev_t rdev)
{
	struct capture *c = cap();
	struct op op = { .type = RECORD_CREATE, .flags = OP_CREATE_EXCL };
	int res;

	if (!S_ISREG(mode) && !S_ISFIFO(mode) && !S_ISSOCK(mode))
		return -EPERM;
	if ((res = set_path(&op, path)) != 0)
		return res;
	lock(c);
	res = syserr(mknodat(c->dfd, rel(path), (mode & S_IFMT) | 0600, 0));
	if (res == 0 && (res = own(c, path, mode, &op)) == 0)
		op.mode |= mode & S_IFMT;
	return commit(c, res, &op);
}

static int
fs_mkdir(const char *path, mode_t mode)
{
	struct capture *c = cap();
	struct op op = { .type = RECORD_MKDIR };
	int res;

	if ((res = set_path(&op, path)) != 0)
		return res;
	lock(c);
	res = syserr(mkdirat(c->dfd, rel(path), 0700));
	if (res == 0)
		res = own(c, path, S_IFDIR | (mode & 07777), &op);
	return commit(c, res, &op);
}

static int
fs_symlink(const char *target, const char *path)
{
	struct capture *c = cap();
	struct op op = { .type = RECORD_SYMLINK };
	int res;

	if ((res = set_path(&op, path)) != 0 || (res = set_path2(&op, target)) != 0)
		return res;
	lock(c);
	res = syserr(symlinkat(target, c->dfd, rel(path)));
	if (res == 0)
		res = own(c, path, S_IFLNK | 0777, &op);
	return commit(c, res, &op);
}

/* unlink and rmdir. */
static int
remove_name(const char *path, uint16_t type, int flags)
{
	struct capture *c = cap();
	struct op op = { .type = type };
	int res;

	if ((res = set_path(&op, path)) != 0)
		return res;
	lock(c);
	res = syserr(unlinkat(c->dfd, rel(path), flags));
	return commit(c, res, &op);
}

static int
fs_unlink(const char *path)
{
	return remove_name(path, RECORD_UNLINK, 0);
}

static int
fs_rmdir(const char *path)
{
	return remove_name(path, RECORD_RMDIR, AT_REMOVEDIR);
}

static int
fs_rename(const char *from, const char *to, unsigned int flags)
{
	struct capture *c = cap();
	struct op op = { .type = RECORD_RENAME, .flags = flags };
	int res;

	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	if ((res = set_path(&op, from)) != 0 || (res = set_path2(&op, to + 1)) != 0)
		return res;
	lock(c);
	res = syserr(renameat2(c->dfd, rel(from), c->dfd, rel(to), flags));
	return commit(c, res, &op);
}

static int
fs_link(const char *from, const char *to)
{
	struct capture *c = cap();
	struct op op = { .type = RECORD_LINK };
	int res;

	if ((res = set_path(&op, from)) != 0 || (res = set_path2(&op, to + 1)) != 0)
		return res;
	lock(c);
	res = syserr(linkat(c->dfd, rel(from), c->dfd, rel(to), 0));
	return commit(c, res, &op);
}

static int
fs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct capture *c = cap();
	struct op op = { .type = RECORD_CHMOD, .mode = mode & 07777 };
	int res;

	if ((res = set_path(&op, path)) != 0)
		return res;
	lock(c);
	if (fi != NULL)
		res = syserr(fchmod((int)fi->fh, mode));
	else
		res = syserr(fchmodat(c->dfd, rel(path), mode, 0));
	return commit(c, res, &op);
}

static int
fs_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	struct capture *c = cap();
	struct op op = { .type = RECORD_CHOWN, .uid = uid, .gid = gid };
	int res;

	if ((res = set_path(&op, path)) != 0)
		return res;
	lock(c);
	if (fi != NULL)
		res = syserr(fchown((int)fi->fh, uid, gid));
	else
		res = syserr(fchownat(c->dfd, rel(path), uid, gid, AT_SYMLINK_NOFOLLOW));
	return commit(c, res, &op);
}

/* truncate(2) by path: there is no truncateat. */
static int
truncate_at(struct capture *c, const char *path, off_t size)
{
	int fd, res;

	fd = openat(c->dfd, rel(path), O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1)
		return -errno;
	res = syserr(ftruncate(fd, size));
	close(fd);
	return res;
}

static int
fs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct capture *c = cap();
	struct op op = { .type = RECORD_TRUNCATE, .size = (uint64_t)size };
	int res;

	if ((res = set_path(&op, path)) != 0)
		return res;
	lock(c);
	if (fi != NULL)
		res = syserr(ftruncate((int)fi->fh, size));
	else
		res = truncate_at(c, path, size);
	return commit(c, res, &op);
}

/*
 * Open an existing file underneath. An O_TRUNC open empties it, a change
 * emitted as a TRUNCATE to 0: then locked is true, the lock is held, and
 * this releases it.
 */
static int
open_existing(struct capture *c, const char *path, struct fuse_file_info *fi,
    bool locked)
{
	struct op op = { .type = RECORD_TRUNCATE };
	int fd = -1, res;

	if ((res = set_path(&op, path)) == 0)
		res = syserr(fd = openat(c->dfd, rel(path), under_flags(c, fi->flags)));
	if (locked && (fi->flags & O_TRUNC))
		res = commit(c, res, &op);
	else if (locked)
		c->sink.unlock(c->sink.arg);
	if (res != 0 && fd != -1)
		close(fd);
	if (res == 0)
		fi->fh = (uint64_t)fd;
	return res;
}

static int
fs_open(const char *path, struct fuse_file_info *fi)
{
	struct capture *c = cap();

	if (!(fi->flags & O_TRUNC))
		return open_existing(c, path, fi, false);
	lock(c);
	return open_existing(c, path, fi, true);
}

/*
 * A new file, made by root with room for the owner only, then given to the
 * caller. When it turns out to exist (made since the kernel looked) and the
 * caller did not ask O_EXCL, it is opened as it is.
 */
static int
fs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct capture *c = cap();
	struct op op = { .type = RECORD_CREATE };
	int fd, res;

	if ((res = set_path(&op, path)) != 0)
		return res;
	op.flags = (fi->flags & O_EXCL ? OP_CREATE_EXCL : 0) |
	    (fi->flags & O_TRUNC ? OP_CREATE_TRUNC : 0);
	lock(c);
	fd = openat(c->dfd, rel(path), under_flags(c, fi->flags) | O_CREAT | O_EXCL, 0600);
	if (fd == -1 && errno == EEXIST && !(fi->flags & O_EXCL))
		return open_existing(c, path, fi, true);
	res = syserr(fd);
	if (res == 0 && (res = own(c, path, S_IFREG | mode, &op)) == 0)
		op.mode |= S_IFREG;
	if ((res = commit(c, res, &op)) != 0 && fd != -1)
		close(fd);
	if (res == 0)
		fi->fh = (uint64_t)fd;
	return res;
}

static int
fs_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	ssize_t n;

	(void)cap();
	n = pread((int)fi->fh, buf, size, off);
	return n == -1 ? -errno : (int)n;
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

static int
fs_write(const char *path, const char *buf, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	struct capture *c = cap();
	struct op op = { .type = RECORD_WRITE };
	ssize_t n;
	int res;

	if ((res = set_path(&op, path)) != 0)
		return res;
	lock(c);
	n = pwrite((int)fi->fh, buf, size, off);
	res = n == -1 ? -errno : emit_write(c, &op, buf, (size_t)n, off);
	c->sink.unlock(c->sink.arg);
	if (res == 0 && n > 0 && c->sink.after_write != NULL &&
	    (res = c->sink.after_write(c->sink.arg, &op)) > 0)
		res = 0;
	return res != 0 ? res : (int)n;
}

static int
fs_statfs(const char *path, struct statvfs *st)
{
	struct capture *c = cap();

	return syserr(fstatvfs(c->dfd, st));
}

/* Each close(2) of the application: what a close of ours would report. */
static int
fs_flush(const char *path, struct fuse_file_info *fi)
{
	int fd;

	(void)cap();
	if ((fd = dup((int)fi->fh)) == -1)
		return -errno;
	return syserr(close(fd));
}

static int
fs_release(const char *path, struct fuse_file_info *fi)
{
	(void)cap();
	close((int)fi->fh);
	return 0;
}

static int
fs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	struct capture *c = cap();
	int fd = (int)fi->fh;

	if ((datasync ? fdatasync(fd) : fsync(fd)) == -1)
		return -errno;
	return barrier(c, path, datasync);
}

static int
fs_opendir(const char *path, struct fuse_file_info *fi)
{
	struct capture *c = cap();
	DIR *d;
	int fd;

	fd = openat(c->dfd, rel(path), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return -errno;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -errno;
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	return 0;
}

/* The whole directory at once (offsets 0): libfuse keeps it for the handle. */
static int
fs_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
    struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	DIR *d = (DIR *)(uintptr_t)fi->fh;
	struct dirent *de;
	struct stat st;

	(void)cap();
	rewinddir(d);
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL)
			return -errno;
		memset(&st, 0, sizeof(st));
		st.st_ino = de->d_ino;
		st.st_mode = DTTOIF(de->d_type);
		if (filler(buf, de->d_name, &st, 0, 0) != 0)
			return -ENOMEM;
	}
}

static int
fs_releasedir(const char *path, struct fuse_file_info *fi)
{
	(void)cap();
	closedir((DIR *)(uintptr_t)fi->fh);
	return 0;
}

static int
fs_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi)
{
	struct capture *c = cap();
	int fd = dirfd((DIR *)(uintptr_t)fi->fh);

	if ((datasync ? fdatasync(fd) : fsync(fd)) == -1)
		return -errno;
	return barrier(c, path, datasync);
}

static int
fs_setxattr(const char *path, const char *name, const char *value, size_t size,
    int flags)
{
	struct capture *c = cap();
	struct op op = { .type = RECORD_SETXATTR, .flags = (uint32_t)flags,
	    .data = (const uint8_t *)value, .data_len = (uint32_t)size };
	char xp[XPATH_MAX];
	int res;

	if ((res = set_path(&op, path)) != 0 || (res = set_name(&op, name)) != 0 ||
	    (res = xattr_path(c, path, xp, sizeof(xp))) != 0)
		return res;
	if (size > OP_MAX_DATA)
		return -E2BIG;
	lock(c);
	res = syserr(lsetxattr(xp, name, value, size, flags));
	return commit(c, res, &op);
}

static int
fs_getxattr(const char *path, const char *name, char *value, size_t size)
{
	struct capture *c = cap();
	char xp[XPATH_MAX];
	ssize_t n;
	int res;

	if ((res = xattr_path(c, path, xp, sizeof(xp))) != 0)
		return res;
	n = lgetxattr(xp, name, value, size);
	return n == -1 ? -errno : (int)n;
}

static int
fs_listxattr(const char *path, char *list, size_t size)
{
	struct capture *c = cap();
	char xp[XPATH_MAX];
	ssize_t n;
	int res;

	if ((res = xattr_path(c, path, xp, sizeof(xp))) != 0)
		return res;
	n = llistxattr(xp, list, size);
	return n == -1 ? -errno : (int)n;
}

static int
fs_removexattr(const char *path, const char *name)
{
	struct capture *c = cap();
	struct op op = { .type = RECORD_REMOVEXATTR };
	char xp[XPATH_MAX];
	int res;

	if ((res = set_path(&op, path)) != 0 || (res = set_name(&op, name)) != 0 ||
	    (res = xattr_path(c, path, xp, sizeof(xp))) != 0)
		return res;
	lock(c);
	res = syserr(lremovexattr(xp, name));
	return commit(c, res, &op);
}

/* UTIME_NOW is read back and sent as a time: the passive's clock is not ours. */
static int
fs_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	struct capture *c = cap();
	struct op op = { .type = RECORD_UTIMENS };
	struct stat st;
	bool have;
	int res;

	if ((res = set_path(&op, path)) != 0)
		return res;
	lock(c);
	if (fi != NULL) {
		res = syserr(futimens((int)fi->fh, tv));
		have = res == 0 && fstat((int)fi->fh, &st) == 0;
	} else {
		res = syserr(utimensat(c->dfd, rel(path), tv, AT_SYMLINK_NOFOLLOW));
		have = res == 0 && fstatat(c->dfd, rel(path), &st, AT_SYMLINK_NOFOLLOW) == 0;
	}
	op_time(&tv[0], have ? &st.st_atim : NULL, &op.atime_sec, &op.atime_nsec);
	op_time(&tv[1], have ? &st.st_mtim : NULL, &op.mtime_sec, &op.mtime_nsec);
	return commit(c, res, &op);
}

static int
fs_fallocate(const char *path, int mode, off_t off, off_t len, struct fuse_file_info *fi)
{
	struct capture *c = cap();
	struct op op = { .type = RECORD_FALLOCATE, .offset = (uint64_t)off,
	    .size = (uint64_t)len, .flags = (uint32_t)mode };
	int res;

	if ((res = set_path(&op, path)) != 0)
		return res;
	lock(c);
	res = syserr(fallocate((int)fi->fh, mode, off, len));
	return commit(c, res, &op);
}

static off_t
fs_lseek(const char *path, off_t off, int whence, struct fuse_file_info *fi)
{
	off_t r;

	(void)cap();
	r = lseek((int)fi->fh, off, whence);
	return r == -1 ? -errno : r;
}

static const struct fuse_operations capture_ops = {
	.init		= fs_init,
	.getattr	= fs_getattr,
	.readlink	= fs_readlink,
	.mknod		= fs_mknod,
	.mkdir		= fs_mkdir,
	.unlink		= fs_unlink,
	.rmdir		= fs_rmdir,
	.symlink	= fs_symlink,
	.rename		= fs_rename,
	.link		= fs_link,
	.chmod		= fs_chmod,
	.chown		= fs_chown,
	.truncate	= fs_truncate,
	.open		= fs_open,
	.create		= fs_create,
	.read		= fs_read,
	.write		= fs_write,
	.statfs		= fs_statfs,
	.flush		= fs_flush,
	.release	= fs_release,
	.fsync		= fs_fsync,
	.opendir	= fs_opendir,
	.readdir	= fs_readdir,
	.releasedir	= fs_releasedir,
	.fsyncdir	= fs_fsyncdir,
	.setxattr	= fs_setxattr,
	.getxattr	= fs_getxattr,
	.listxattr	= fs_listxattr,
	.removexattr	= fs_removexattr,
	.utimens	= fs_utimens,
	.fallocate	= fs_fallocate,
	.lseek		= fs_lseek,
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
	struct fuse_session *se = fuse_get_session(w->c->fuse);
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

/* Start the pool with every signal blocked: they are the daemon's business. */
static int
start_workers(struct capture *c, char *err, size_t errlen)
{
	sigset_t all, old;
	int e = 0;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
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

/* Make the FUSE object and mount it over c->dir; note the mount's device. */
static int
mount_fuse(struct capture *c, dev_t under, char *err, size_t errlen)
{
	char *argv[] = { "lifeline", "-o",
	    "allow_other,default_permissions,fsname=lifeline,subtype=lifeline", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);

	fuse_set_log_func(fuse_logger);
	c->fuse = fuse_new(&args, &capture_ops, sizeof(capture_ops), c);
	fuse_opt_free_args(&args);
	if (c->fuse == NULL) {
		snprintf(err, errlen, "capture %s: cannot set up FUSE", c->dir);
		return -1;
	}
	if (fuse_mount(c->fuse, c->dir) != 0) {
		snprintf(err, errlen, "capture %s: cannot mount FUSE", c->dir);
		fuse_destroy(c->fuse);
		c->fuse = NULL;
		return -1;
	}
	if (mounted_dev(c, &c->dev) == -1 || c->dev == under) {
		snprintf(err, errlen, "capture %s: mount not in place", c->dir);
		fuse_unmount(c->fuse);
		fuse_destroy(c->fuse);
		c->fuse = NULL;
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
	int fd = fuse_session_fd(fuse_get_session(c->fuse)), p[2];
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
 * connection and destroy the FUSE object. libfuse unlinks the files it hid
 * (open when unlinked) from inside fuse_destroy, through our unlink, which
 * emits that to the sink as usual.
 */
static void
fuse_teardown(struct capture *c, unsigned grace_ms)
{
	stop_workers(c, grace_ms);
	if (end_connection(c))
		fuse_unmount(c->fuse);
	destroying = c;
	fuse_destroy(c->fuse);
	destroying = NULL;
	c->fuse = NULL;
}

/* Release what capture_start set up. */
static void
capture_free(struct capture *c)
{
	if (c->fuse != NULL)
		fuse_teardown(c, 0);
	if (c->dfd != -1)
		close(c->dfd);
	free(c->dir);
	free(c);
}

struct capture *
capture_start(const struct capture_opts *o, char *err, size_t errlen)
{
	const struct capture_sink *s = &o->sink;
	struct capture *c;
	struct stat st;

	if (s->lock == NULL || s->unlock == NULL || s->emit == NULL || s->barrier == NULL) {
		snprintf(err, errlen, "capture %s: incomplete sink", o->dir);
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	c->dfd = -1;
	c->root = o->root;
	c->sink = *s;
	c->writeback = o->writeback;
	if ((c->dir = realpath(o->dir, NULL)) == NULL ||
	    (c->dfd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    fstat(c->dfd, &st) == -1) {
		snprintf(err, errlen, "%s: %s", o->dir, strerror(errno));
		goto fail;
	}
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
	fuse_teardown(c, CAPTURE_GRACE_MS);
	log_info("capture %s: stopped%s", c->dir, busy ? " (was busy)" : "");
	capture_free(c);
}

void
capture_stats(const struct capture *c, struct capture_stats *st)
{
	st->ops = atomic_load(&c->ops);
	st->emitted = atomic_load(&c->emitted);
	st->emit_errors = atomic_load(&c->emit_errors);
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
