/*
 * Config entries, read whole on the active and written whole on a passive
 * (confop.h).
 */
#include "repl/confop.h"
#include "repl/confroot.h"
#include "repl/beneath.h"
#include "repl/record.h"
#include "common/log.h"
#include "common/util.h"

#include <sys/stat.h>
#include <sys/xattr.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define XNAMES_MAX  65536            /* bytes of a name list (XATTR_LIST_MAX) */
#define TMP_PREFIX  CONFROOT_TMP_PREFIX

/* ---- paths ---- */

/* The folder part of path ("" for the root) and its last name. */
static void
split(const char *path, char dir[OP_PATH_MAX + 1], const char **name)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL) {
		dir[0] = '\0';
		*name = path;
		return;
	}
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	*name = slash + 1;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- reading, on the active ---- */

char **
confop_names(int rootfd, const char *path, size_t *n)
{
	char **names = xcalloc(1, sizeof(*names));
	size_t cap = 1;
	struct dirent *d;
	DIR *dir;
	int fd, saved;

	*n = 0;
	if ((fd = open_beneath(rootfd, path, O_RDONLY | O_DIRECTORY, 0)) == -1 ||
	    (dir = fdopendir(fd)) == NULL) {
		saved = errno;
		if (fd != -1)
			close(fd);
		free(names);
		errno = saved;
		return NULL;
	}
	while ((d = readdir(dir)) != NULL) {
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		if (*n == cap) {
			cap *= 2;
			names = xrealloc(names, cap * sizeof(*names));
		}
		names[(*n)++] = xstrdup(d->d_name);
	}
	closedir(dir);
	if (*n > 1)
		qsort(names, *n, sizeof(*names), cmp_str);
	return names;
}

/*
 * The xattrs of fd into buf at *len (cap bytes), as an xattr block: names
 * in byte order. 0; 1 when they do not fit; -1 with errno.
 */
static int
xattrs_put(int fd, uint8_t *buf, size_t cap, size_t *len)
{
	char *names = xmalloc(XNAMES_MAX), **v = xcalloc(XNAMES_MAX / 2, sizeof(*v));
	ssize_t n = flistxattr(fd, names, XNAMES_MAX);
	size_t count = 0;
	int rc = 0;

	if (n < 0) {
		rc = errno == ENOTSUP ? 0 : -1;
		goto out;
	}
	for (char *s = names; s < names + n; s += strlen(s) + 1)
		if (*s != '\0')
			v[count++] = s;
	qsort(v, count, sizeof(*v), cmp_str);
	for (size_t i = 0; i < count && rc == 0; i++) {
		size_t nl = strlen(v[i]);
		ssize_t vl;

		/* The value goes right after the head and name it will get. */
		if (cap - *len < OP_XATTR_HEAD + nl) {
			rc = 1;
			break;
		}
		vl = fgetxattr(fd, v[i], buf + *len + OP_XATTR_HEAD + nl,
		    cap - *len - OP_XATTR_HEAD - nl);
		if (vl < 0) {
			if (errno == ENODATA)      /* removed meanwhile: its event follows */
				continue;
			rc = errno == ERANGE ? 1 : -1;
			break;
		}
		uint8_t *value = xmalloc((size_t)vl + 1);

		memcpy(value, buf + *len + OP_XATTR_HEAD + nl, (size_t)vl);
		if (!op_xattr_put(buf, cap, len, v[i], nl, value, (size_t)vl))
			rc = 1;
		free(value);
	}
out:
	free(v);
	free(names);
	return rc;
}

/* The content of fd after the xattrs in buf: 0, 1 when over cap, -1 with errno. */
static int
content_put(int fd, uint8_t *buf, size_t cap, size_t *len)
{
	uint8_t probe;
	ssize_t n;

	for (;;) {
		if (*len == cap)
			break;
		if ((n = read(fd, buf + *len, cap - *len)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			return 0;
		*len += (size_t)n;
	}
	while ((n = read(fd, &probe, 1)) < 0 && errno == EINTR)
		;
	return n == 0 ? 0 : n > 0 ? 1 : -1;
}

static enum confop_read
read_fail(char *why, size_t whylen, const char *path, const char *what)
{
	why_printf(why, whylen, "%s: %s: %s", path, what, strerror(errno));
	return CONFOP_FAIL;
}

/* A file or folder opened by name: its attributes, xattrs and (a file) content. */
static enum confop_read
read_whole(int dirfd, const char *name, const char *path, bool is_dir, uint8_t *buf,
    struct op *op, char *why, size_t whylen)
{
	struct stat st;
	size_t len = 0, xlen;
	int fd, r;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
	    (is_dir ? O_DIRECTORY : 0));
	if (fd == -1 && (errno == ENOENT || errno == ELOOP || errno == ENOTDIR)) {
		/* Gone (or replaced by a symlink) since the lstat: its own event follows. */
		why_printf(why, whylen, "%s: changed while being read", path);
		return CONFOP_GONE;
	}
	if (fd == -1)
		return read_fail(why, whylen, path, "open");
	if (fstat(fd, &st) == -1 || (is_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))) {
		close(fd);
		why_printf(why, whylen, "%s: changed while being read", path);
		return CONFOP_GONE;
	}
	if ((r = xattrs_put(fd, buf, CONFOP_MAX_DATA, &len)) == 0 && !is_dir)
		r = content_put(fd, buf, CONFOP_MAX_DATA, (xlen = len, &len));
	else
		xlen = len;
	close(fd);
	if (r < 0)
		return read_fail(why, whylen, path, "read");
	if (r > 0) {
		why_printf(why, whylen, "%s: over the %u bytes a config record holds (content "
		    "and xattrs); protect its folder as data instead", path, CONFOP_MAX_DATA);
		return CONFOP_SKIP;
	}
	op->type = is_dir ? RECORD_CONFIG_DIR : RECORD_CONFIG_FILE;
	op->mode = st.st_mode & 07777;
	op->uid = st.st_uid;
	op->gid = st.st_gid;
	op->mtime_sec = st.st_mtim.tv_sec;
	op->mtime_nsec = (uint32_t)st.st_mtim.tv_nsec;
	op->size = is_dir ? 0 : len - xlen;
	op->data = buf;
	op->data_len = (uint32_t)len;
	return CONFOP_OK;
}

enum confop_read
confop_read(int rootfd, uint16_t root, const char *path, uint8_t *buf, char *target,
    struct op *op, char *why, size_t whylen)
{
	char dir[OP_PATH_MAX + 1];
	const char *name;
	struct stat st, dst;
	enum confop_read r = CONFOP_OK;
	int dirfd;
	ssize_t n;

	memset(op, 0, sizeof(*op));
	op->root = root;
	op->path = path;
	op->path_len = (uint16_t)strlen(path);
	op->type = RECORD_CONFIG_REMOVE;
	split(path, dir, &name);
	if ((dirfd = open_beneath(rootfd, dir, O_RDONLY | O_DIRECTORY, 0)) == -1) {
		/* Its folder is gone (or is no folder): that folder's own record says so. */
		if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
			return CONFOP_OK;
		return read_fail(why, whylen, path, "opening its folder");
	}
	if (dir[0] != '\0' && fstat(dirfd, &dst) == 0) {
		op->dir_mtime_sec = dst.st_mtim.tv_sec;
		op->dir_mtime_nsec = (uint32_t)dst.st_mtim.tv_nsec;
	}
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		if (errno != ENOENT)
			r = read_fail(why, whylen, path, "lstat");
		goto out;
	}
	if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
		r = read_whole(dirfd, name, path, S_ISDIR(st.st_mode), buf, op, why, whylen);
	} else if (S_ISLNK(st.st_mode)) {
		if ((n = readlinkat(dirfd, name, target, OP_PATH_MAX + 1)) <= 0 ||
		    n > OP_PATH_MAX) {
			why_printf(why, whylen, "%s: a symlink whose target cannot be read or is "
			    "longer than %d bytes", path, OP_PATH_MAX);
			r = CONFOP_FAIL;
			goto out;
		}
		target[n] = '\0';
		op->type = RECORD_CONFIG_SYMLINK;
		op->path2 = target;
		op->path2_len = (uint16_t)n;
		op->uid = st.st_uid;
		op->gid = st.st_gid;
		op->mtime_sec = st.st_mtim.tv_sec;
		op->mtime_nsec = (uint32_t)st.st_mtim.tv_nsec;
	} else {
		why_printf(why, whylen, "%s: a device, fifo or socket, which nothing replicates", path);
		r = CONFOP_SKIP;
	}
out:
	close(dirfd);
	return r;
}

/* ---- applying, on a passive ---- */

struct japply {
	const struct op	*op;
	confop_keep_fn	*keep;
	int		(*aside)(void *, const char *);
	void		*keep_arg;
	char		*why;
	size_t		 whylen;
};

static enum apply_result say(const struct japply *, enum apply_result, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static enum apply_result
say(const struct japply *j, enum apply_result r, const char *fmt, ...)
{
	char msg[256], q[OP_QUOTE_SIZE];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	why_printf(j->why, j->whylen, "%s of %s: %s", record_type_name(j->op->type),
	    op_quote(j->op->path, j->op->path_len, q), msg);
	return r;
}

/* This disk failing is worth a retry; anything else is the copy not being as expected. */
static enum apply_result
sys(const struct japply *j, const char *what)
{
	int err = errno;
	enum apply_result r = err == EIO || err == ENOSPC || err == EDQUOT || err == EROFS ||
	    err == ENOMEM ? APPLY_FAILED : APPLY_DIVERGED;

	return say(j, r, "%s: %s", what, strerror(err));
}

static int
set_mtime(int fd, int64_t sec, uint32_t nsec)
{
	struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = sec, .tv_nsec = nsec } };

	if (sec == 0 && nsec == 0)
		return 0;
	return futimens(fd, ts);
}

/* The xattrs of fd become the block's: set each, remove the rest. */
static int
xattrs_apply(int fd, const struct op *op)
{
	const uint8_t *block;
	size_t len, off = 0;
	struct op_xattr x;
	char name[OP_NAME_MAX + 1], *names = NULL;
	ssize_t n;
	int rc = -1;

	op_xattr_block(op, &block, &len);
	while (op_xattr_next(block, len, &off, &x)) {
		memcpy(name, x.name, x.name_len);
		name[x.name_len] = '\0';
		if (fsetxattr(fd, name, x.value, x.value_len, 0) == -1)
			return -1;
	}
	names = xmalloc(XNAMES_MAX);
	if ((n = flistxattr(fd, names, XNAMES_MAX)) < 0) {
		rc = errno == ENOTSUP && len == 0 ? 0 : -1;
		goto out;
	}
	for (char *s = names; s < names + n; s += strlen(s) + 1) {
		bool listed = false;

		off = 0;
		while (!listed && op_xattr_next(block, len, &off, &x))
			listed = x.name_len == strlen(s) && memcmp(x.name, s, x.name_len) == 0;
		/* security.* (SELinux labels, capabilities) is this host's to set. */
		if (!listed && strncmp(s, "security.", 9) != 0 && fremovexattr(fd, s) == -1 &&
		    errno != ENODATA)
			goto out;
	}
	rc = 0;
out:
	free(names);
	return rc;
}

static int remove_tree(int, const char *, char *, confop_keep_fn *, void *);

/*
 * The entry is a file or symlink now where this copy has a folder: the
 * folder goes first (what an exclude keeps in it stays, and then so does
 * the folder: diverged).
 */
/*
 * Whether folder name (at rel) holds an entry keep does not leave alone:
 * what would be lost with it. -1 with errno when it cannot be listed.
 */
static int
has_entries(const struct japply *j, int dirfd, const char *name, const char *rel)
{
	char child[OP_PATH_MAX + 1];
	struct dirent *d;
	DIR *dir;
	int fd, found = 0;

	if ((fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return errno == ENOTDIR ? 0 : -1;
	if ((dir = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while (!found && (d = readdir(dir)) != NULL) {
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		found = snprintf(child, sizeof(child), "%s/%s", rel, d->d_name) >= (int)sizeof(child) ||
		    j->keep == NULL || !j->keep(j->keep_arg, child);
	}
	closedir(dir);
	return found;
}

/*
 * Remove name and all below it but what keep leaves; a folder that still
 * holds entries is first set aside (aside). APPLY_OK when it is gone, or
 * kept only for excluded entries (kept then says so).
 */
static enum apply_result
remove_entry(const struct japply *j, int dirfd, const char *name, bool *kept)
{
	char rel[OP_PATH_MAX + 1];
	int r;

	memcpy(rel, j->op->path, j->op->path_len + 1u);
	*kept = false;
	if (j->aside != NULL && (r = has_entries(j, dirfd, name, rel)) != 0) {
		if (r == -1 && errno != ENOENT)
			return sys(j, "listing the folder to remove");
		if (r == 1 && j->aside(j->keep_arg, rel) == -1)
			return say(j, APPLY_DIVERGED, "a folder holding entries no record named stands "
			    "there, and it could not be set aside");
	}
	if ((r = remove_tree(dirfd, name, rel, j->keep, j->keep_arg)) == -1)
		return sys(j, "removing it");
	*kept = r == 1;
	return APPLY_OK;
}

/*
 * The entry is a file or symlink now where this copy has a folder: the
 * folder goes first (what an exclude keeps in it stays, and then so does
 * the folder: diverged).
 */
static enum apply_result
clear_folder(const struct japply *j, int dirfd, const char *name)
{
	enum apply_result r;
	bool kept;

	if ((r = remove_entry(j, dirfd, name, &kept)) != APPLY_OK)
		return r;
	if (kept)
		return say(j, APPLY_DIVERGED, "a folder with excluded entries stands where it goes");
	return APPLY_OK;
}

/* The temporary name beside name: hidden, and never a name replicated (confroots_covers). */
static void
tmp_name(const char *name, char out[NAME_MAX + 1])
{
	snprintf(out, NAME_MAX + 1, "%s%.*s", TMP_PREFIX, NAME_MAX - (int)strlen(TMP_PREFIX), name);
}

static enum apply_result
apply_file(const struct japply *j, int dirfd, const char *name)
{
	const struct op *op = j->op;
	const uint8_t *content = op->data + (op->data_len - op->size);
	char tmp[NAME_MAX + 1];
	struct stat st;
	enum apply_result r;
	int fd;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
	    (r = clear_folder(j, dirfd, name)) != APPLY_OK)
		return r;
	tmp_name(name, tmp);
	if (unlinkat(dirfd, tmp, 0) == -1 && errno != ENOENT)
		return sys(j, "removing a stale temporary file");
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1)
		return sys(j, "making the temporary file");
	/* chown before chmod: chown clears the set-id bits. */
	if (write_full(fd, content, (size_t)op->size) == -1 || fchown(fd, op->uid, op->gid) == -1 ||
	    fchmod(fd, op->mode & 07777) == -1 || xattrs_apply(fd, op) == -1 ||
	    set_mtime(fd, op->mtime_sec, op->mtime_nsec) == -1 || fsync(fd) == -1) {
		r = sys(j, "writing the temporary file");
		close(fd);
		unlinkat(dirfd, tmp, 0);
		return r;
	}
	close(fd);
	if (renameat(dirfd, tmp, dirfd, name) == -1) {
		r = sys(j, "renaming the temporary file over it");
		unlinkat(dirfd, tmp, 0);
		return r;
	}
	return APPLY_OK;
}

static enum apply_result
apply_dir(const struct japply *j, int dirfd, const char *name)
{
	const struct op *op = j->op;
	struct stat st;
	enum apply_result r = APPLY_OK;
	int fd;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		if (errno != ENOENT)
			return sys(j, "lstat");
		if (mkdirat(dirfd, name, op->mode & 07777) == -1)
			return sys(j, "mkdir");
	} else if (!S_ISDIR(st.st_mode)) {
		/* The entry is a folder now: what stood there is replaced, as on the active. */
		if (unlinkat(dirfd, name, 0) == -1 || mkdirat(dirfd, name, op->mode & 07777) == -1)
			return sys(j, "replacing a file by a folder");
	}
	if ((fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return sys(j, "open");
	if (fchown(fd, op->uid, op->gid) == -1 || fchmod(fd, op->mode & 07777) == -1 ||
	    xattrs_apply(fd, op) == -1 || set_mtime(fd, op->mtime_sec, op->mtime_nsec) == -1)
		r = sys(j, "setting its attributes");
	close(fd);
	return r;
}

static enum apply_result
apply_symlink(const struct japply *j, int dirfd, const char *name)
{
	const struct op *op = j->op;
	struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT },
	    { .tv_sec = op->mtime_sec, .tv_nsec = op->mtime_nsec } };
	char tmp[NAME_MAX + 1];
	struct stat st;
	enum apply_result r;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
	    (r = clear_folder(j, dirfd, name)) != APPLY_OK)
		return r;
	tmp_name(name, tmp);
	if (unlinkat(dirfd, tmp, 0) == -1 && errno != ENOENT)
		return sys(j, "removing a stale temporary symlink");
	if (symlinkat(op->path2, dirfd, tmp) == -1)
		return sys(j, "symlink");
	if (fchownat(dirfd, tmp, op->uid, op->gid, AT_SYMLINK_NOFOLLOW) == -1 ||
	    utimensat(dirfd, tmp, ts, AT_SYMLINK_NOFOLLOW) == -1 ||
	    renameat(dirfd, tmp, dirfd, name) == -1) {
		r = sys(j, "putting the symlink in place");
		unlinkat(dirfd, tmp, 0);
		return r;
	}
	return APPLY_OK;
}

/*
 * Remove name (rel is its path from the root, in a buffer of OP_PATH_MAX
 * + 1) and all below it, but what keep says to leave. 0 removed, 1 kept
 * (something below was left, so it stays), -1 with errno.
 */
static int
remove_tree(int pfd, const char *name, char *rel, confop_keep_fn *keep, void *arg)
{
	size_t rlen = strlen(rel);
	struct stat st;
	struct dirent *d;
	bool kept = false;
	DIR *dir;
	int fd, r = 0;

	if (keep != NULL && keep(arg, rel))
		return 1;
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(pfd, name, 0) == -1 && errno != ENOENT ? -1 : 0;
	if ((fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -1;
	if ((dir = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while (r != -1 && (errno = 0, d = readdir(dir)) != NULL) {
		size_t nlen = strlen(d->d_name);

		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		if (rlen + 1 + nlen > OP_PATH_MAX) {
			kept = true;          /* beyond any path a record can name: left */
			continue;
		}
		rel[rlen] = '/';
		memcpy(rel + rlen + 1, d->d_name, nlen + 1);
		r = remove_tree(dirfd(dir), d->d_name, rel, keep, arg);
		rel[rlen] = '\0';
		kept |= r == 1;
	}
	if (r != -1 && d == NULL && errno != 0)
		r = -1;
	closedir(dir);
	if (r == -1)
		return -1;
	if (kept)
		return 1;
	return unlinkat(pfd, name, AT_REMOVEDIR) == -1 && errno != ENOENT ? -1 : 0;
}

static enum apply_result
apply_remove(const struct japply *j, int dirfd, const char *name)
{
	enum apply_result r;
	bool kept;

	if ((r = remove_entry(j, dirfd, name, &kept)) == APPLY_OK && kept)
		log_info("config: %.*s is kept: it holds entries [protect] exclude names",
		    (int)j->op->path_len, j->op->path);
	return r;
}

enum apply_result
confop_apply(int rootfd, const struct op *op, const struct confop_env *env, char *why,
    size_t whylen)
{
	struct japply j = { .op = op, .keep = env ? env->keep : NULL,
	    .aside = env ? env->aside : NULL, .keep_arg = env ? env->arg : NULL, .why = why,
	    .whylen = whylen };
	char dir[OP_PATH_MAX + 1];
	const char *name;
	enum apply_result r;
	int dirfd;

	split(op->path, dir, &name);
	if ((dirfd = open_beneath(rootfd, dir, O_RDONLY | O_DIRECTORY, 0)) == -1) {
		if ((errno == ENOENT || errno == ENOTDIR) && op->type == RECORD_CONFIG_REMOVE)
			return APPLY_OK;              /* gone with its folder already */
		if (errno == ENOENT || errno == ENOTDIR)
			return say(&j, APPLY_DIVERGED, "its folder is missing");
		if (errno == ELOOP || errno == EXDEV)
			return say(&j, APPLY_DIVERGED, "a symlink on the way to its folder");
		return sys(&j, "opening its folder");
	}
	switch (op->type) {
	case RECORD_CONFIG_FILE:
		r = apply_file(&j, dirfd, name);
		break;
	case RECORD_CONFIG_DIR:
		r = apply_dir(&j, dirfd, name);
		break;
	case RECORD_CONFIG_SYMLINK:
		r = apply_symlink(&j, dirfd, name);
		break;
	case RECORD_CONFIG_REMOVE:
		r = apply_remove(&j, dirfd, name);
		break;
	default:
		r = say(&j, APPLY_REFUSED, "not a whole-entry config op");
		break;
	}
	/* The folder's new name list is durable, and it keeps the active's mtime. */
	if (r == APPLY_OK && fsync(dirfd) == -1)
		r = sys(&j, "fsync of its folder");
	if (r == APPLY_OK && dir[0] != '\0' &&
	    set_mtime(dirfd, op->dir_mtime_sec, op->dir_mtime_nsec) == -1)
		r = sys(&j, "setting its folder's mtime");
	close(dirfd);
	return r;
}
