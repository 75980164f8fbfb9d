/*
 * lifeline-treehash: one hash over everything replication must carry for a
 * folder (names, types, modes, owners, sizes, link counts, contents, symlink
 * targets, xattrs), so a scenario can compare a primary's tree with a replica's
 * by one line, and diff the --list outputs when they differ.
 */
#include "common/log.h"
#include "common/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <xxhash.h>

#define MAX_DEPTH      256              /* deeper is a loop or a broken tree */
#define MAX_EXCLUDES   64
#define MAX_DIR_NAMES  (1u << 22)       /* entries read from one folder */
#define READ_CHUNK     (256 * 1024)
#define HIDDEN_PREFIX  ".fuse_hidden"

struct options {
	const char     *root;
	bool            list;
	bool            mtime;
	const char     *excludes[MAX_EXCLUDES];
	size_t          nexcludes;
};

struct walk {
	const struct options *opt;
	XXH3_state_t   *total;          /* over every entry line, in order */
	size_t          entries;
	size_t          hidden;         /* .fuse_hidden* files seen */
	char           *buf;            /* READ_CHUNK bytes for file contents */
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: lifeline-treehash DIR [--list] [--mtime] [--exclude NAME]...\n"
	    "\n"
	    "Walks DIR (symlinks not followed, entries in byte order) and prints\n"
	    "  total HASH N entries\n"
	    "over every entry below DIR (DIR itself is not one).\n"
	    "  --list          first print one line per entry:\n"
	    "                  PATH TYPE MODE UID GID SIZE NLINK CONTENT TARGET XATTRS [MTIME]\n"
	    "                  (TYPE f d l c b p s; '-' where a field does not apply;\n"
	    "                  CONTENT and XATTRS are XXH3-64; bytes outside ! .. ~ as \\xHH)\n"
	    "  --mtime         include each entry's mtime (in the lines and the total)\n"
	    "  --exclude NAME  skip entries whose name matches NAME (a glob), with\n"
	    "                  their subtree; may be given %d times\n"
	    "Files named " HIDDEN_PREFIX "* (open files FUSE hid after an unlink) are\n"
	    "not entries: they are counted and named on stderr.\n"
	    "Exit 0, or 1 with a message on stderr.\n", MAX_EXCLUDES);
}

/*
 * Print s so that one line stays one line and fields split on spaces: every
 * byte outside '!'..'~', and the backslash itself, becomes \xHH.
 */
static void
put_escaped(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p < '!' || *p > '~' || *p == '\\')
			fprintf(f, "\\x%02x", *p);
		else
			fputc(*p, f);
	}
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char
type_letter(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:  return 'f';
	case S_IFDIR:  return 'd';
	case S_IFLNK:  return 'l';
	case S_IFCHR:  return 'c';
	case S_IFBLK:  return 'b';
	case S_IFIFO:  return 'p';
	case S_IFSOCK: return 's';
	default:       return '?';
	}
}

/* XXH3-64 of a regular file's bytes, holes read as zeros. 0 or -1. */
static int
hash_content(struct walk *w, const char *path, XXH64_hash_t *out)
{
	XXH3_state_t *st = XXH3_createState();
	int fd, rc = -1;

	if (st == NULL)
		fatalx("XXH3_createState");
	XXH3_64bits_reset(st);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd == -1) {
		log_warn("open %s", path);
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, w->buf, READ_CHUNK);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			log_warn("read %s", path);
			goto out;
		}
		if (n == 0)
			break;
		XXH3_64bits_update(st, w->buf, (size_t)n);
	}
	*out = XXH3_64bits_digest(st);
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	XXH3_freeState(st);
	return rc;
}

/*
 * Read the names of path's xattrs into a NUL-separated list. Returns the
 * list's length (0: none, or a filesystem without xattrs) or -1. The size
 * can change between the two calls, so a bounded retry covers ERANGE.
 */
static ssize_t
list_xattrs(const char *path, char **namesp)
{
	for (int attempt = 0; attempt < 8; attempt++) {
		ssize_t len = llistxattr(path, NULL, 0);
		char *names;

		if (len == -1 && (errno == ENOTSUP || errno == ENOSYS))
			return 0;
		if (len <= 0) {
			if (len == -1)
				log_warn("llistxattr %s", path);
			return len;
		}
		names = xmalloc((size_t)len);
		len = llistxattr(path, names, (size_t)len);
		if (len >= 0) {
			*namesp = names;
			return len;
		}
		free(names);
		if (errno != ERANGE) {
			log_warn("llistxattr %s", path);
			return -1;
		}
	}
	log_warnx("llistxattr %s: the list keeps changing", path);
	return -1;
}

/* Feed one name and its value, length-prefixed so no two lists collide. */
static int
hash_one_xattr(XXH3_state_t *st, const char *path, const char *name)
{
	ssize_t len = lgetxattr(path, name, NULL, 0);
	char *val;
	uint64_t len64;

	if (len == -1) {
		log_warn("lgetxattr %s %s", path, name);
		return -1;
	}
	val = xmalloc((size_t)len);
	len = lgetxattr(path, name, val, (size_t)len);
	if (len == -1) {
		log_warn("lgetxattr %s %s", path, name);
		free(val);
		return -1;
	}
	len64 = (uint64_t)len;
	XXH3_64bits_update(st, name, strlen(name) + 1);
	XXH3_64bits_update(st, &len64, sizeof(len64));
	XXH3_64bits_update(st, val, (size_t)len);
	free(val);
	return 0;
}

/*
 * Hash the sorted name=value list of path's xattrs in every namespace this
 * process can read. *has is false when there are none. 0 or -1.
 */
static int
hash_xattrs(const char *path, bool *has, XXH64_hash_t *out)
{
	char *names = NULL, **sorted = NULL;
	size_t n = 0;
	ssize_t len = list_xattrs(path, &names);
	XXH3_state_t *st;
	int rc = -1;

	*has = len > 0;
	if (len <= 0)
		return len == 0 ? 0 : -1;
	for (ssize_t i = 0; i < len; i += (ssize_t)strlen(names + i) + 1)
		n++;
	sorted = xcalloc(n, sizeof(*sorted));
	n = 0;
	for (ssize_t i = 0; i < len; i += (ssize_t)strlen(names + i) + 1)
		sorted[n++] = names + i;
	qsort(sorted, n, sizeof(*sorted), cmp_names);
	if ((st = XXH3_createState()) == NULL)
		fatalx("XXH3_createState");
	XXH3_64bits_reset(st);
	for (size_t i = 0; i < n; i++)
		if (hash_one_xattr(st, path, sorted[i]) == -1)
			goto out;
	*out = XXH3_64bits_digest(st);
	rc = 0;
out:
	XXH3_freeState(st);
	free(sorted);
	free(names);
	return rc;
}

/* The SIZE field: bytes for files and symlinks, major:minor for devices. */
static void
put_size(FILE *f, const struct stat *st)
{
	if (S_ISREG(st->st_mode) || S_ISLNK(st->st_mode))
		fprintf(f, " %lld", (long long)st->st_size);
	else if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
		fprintf(f, " %u:%u", major(st->st_rdev), minor(st->st_rdev));
	else
		fputs(" -", f);     /* a folder's size is its history, not its content */
}

/* The TARGET field: a symlink's target, escaped. */
static int
put_target(FILE *f, const char *path, const struct stat *st)
{
	char target[PATH_MAX + 1];
	ssize_t n;

	if (!S_ISLNK(st->st_mode)) {
		fputs(" -", f);
		return 0;
	}
	if ((n = readlink(path, target, sizeof(target) - 1)) == -1) {
		log_warn("readlink %s", path);
		return -1;
	}
	target[n] = '\0';
	fputc(' ', f);
	put_escaped(f, target);
	return 0;
}

/*
 * Write the whole line of one entry into f (no newline). A folder's link
 * count is left out: it follows from its subfolders, which are entries too,
 * and some filesystems report 1.
 */
static int
format_entry(struct walk *w, FILE *f, const char *rel, const char *path,
    const struct stat *st)
{
	XXH64_hash_t h;
	bool has;

	put_escaped(f, rel);
	fprintf(f, " %c %04o %u %u", type_letter(st->st_mode),
	    (unsigned)(st->st_mode & 07777), (unsigned)st->st_uid,
	    (unsigned)st->st_gid);
	put_size(f, st);
	if (S_ISDIR(st->st_mode))
		fputs(" -", f);
	else
		fprintf(f, " %llu", (unsigned long long)st->st_nlink);
	if (S_ISREG(st->st_mode)) {
		if (hash_content(w, path, &h) == -1)
			return -1;
		fprintf(f, " %016llx", (unsigned long long)h);
	} else
		fputs(" -", f);
	if (put_target(f, path, st) == -1)
		return -1;
	if (hash_xattrs(path, &has, &h) == -1)
		return -1;
	if (has)
		fprintf(f, " %016llx", (unsigned long long)h);
	else
		fputs(" -", f);
	if (w->opt->mtime)
		fprintf(f, " %lld.%09ld", (long long)st->st_mtim.tv_sec,
		    st->st_mtim.tv_nsec);
	return 0;
}

/* Add one entry's line to the total, and print it with --list. */
static int
emit_entry(struct walk *w, const char *rel, const char *path,
    const struct stat *st)
{
	char *line = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&line, &len);
	int rc;

	if (f == NULL)
		fatal("open_memstream");
	rc = format_entry(w, f, rel, path, st);
	fputc('\n', f);
	if (fclose(f) != 0)
		fatal("open_memstream");
	if (rc == 0) {
		XXH3_64bits_update(w->total, line, len);
		w->entries++;
		if (w->opt->list)
			fputs(line, stdout);
	}
	free(line);
	return rc;
}

static bool
excluded(const struct options *opt, const char *name)
{
	for (size_t i = 0; i < opt->nexcludes; i++)
		if (fnmatch(opt->excludes[i], name, 0) == 0)
			return true;
	return false;
}

/*
 * Read a folder's names, sorted in byte order so the walk (and so the
 * total) does not depend on the filesystem's order. Returns the count or
 * -1; the caller frees each name and the array.
 */
static ssize_t
read_names(const char *path, char ***namesp)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;

	if (d == NULL) {
		log_warn("opendir %s", path);
		return -1;
	}
	errno = 0;
	while ((de = readdir(d)) != NULL && n < MAX_DIR_NAMES) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			names = xrealloc(names, cap * sizeof(*names));
		}
		names[n++] = xstrdup(de->d_name);
	}
	if (errno != 0 || n == MAX_DIR_NAMES) {
		if (errno != 0)
			log_warn("readdir %s", path);
		else
			log_warnx("%s: more than %u entries", path, MAX_DIR_NAMES);
		closedir(d);
		for (size_t i = 0; i < n; i++)
			free(names[i]);
		free(names);
		return -1;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), cmp_names);
	*namesp = names;
	return (ssize_t)n;
}

static int walk_dir(struct walk *w, const char *rel, int depth);

/* One name in a folder: skip, count as hidden, or emit (and descend). */
static int
walk_entry(struct walk *w, const char *dirrel, const char *name, int depth)
{
	char *rel = dirrel[0] != '\0' ? xasprintf("%s/%s", dirrel, name)
	    : xstrdup(name);
	char *path = xasprintf("%s/%s", w->opt->root, rel);
	struct stat st;
	int rc = 0;

	if (excluded(w->opt, name))
		goto out;
	if (strncmp(name, HIDDEN_PREFIX, strlen(HIDDEN_PREFIX)) == 0) {
		w->hidden++;
		log_warnx("%s: a file FUSE hid after an unlink while it was"
		    " open; not counted", rel);
		goto out;
	}
	if (lstat(path, &st) == -1) {
		log_warn("lstat %s", path);
		rc = -1;
		goto out;
	}
	rc = emit_entry(w, rel, path, &st);
	if (rc == 0 && S_ISDIR(st.st_mode))
		rc = walk_dir(w, rel, depth + 1);
out:
	free(path);
	free(rel);
	return rc;
}

/* Walk the folder rel (relative to the root, "" for the root) depth first. */
static int
walk_dir(struct walk *w, const char *rel, int depth)
{
	char *path = rel[0] != '\0' ? xasprintf("%s/%s", w->opt->root, rel)
	    : xstrdup(w->opt->root);
	char **names = NULL;
	ssize_t n;
	int rc = 0;

	if (depth > MAX_DEPTH) {
		log_warnx("%s: deeper than %d folders", path, MAX_DEPTH);
		free(path);
		return -1;
	}
	n = read_names(path, &names);
	free(path);
	if (n == -1)
		return -1;
	for (ssize_t i = 0; i < n; i++) {
		if (rc == 0)
			rc = walk_entry(w, rel, names[i], depth);
		free(names[i]);
	}
	free(names);
	return rc;
}

static void
parse_options(int argc, char **argv, struct options *opt)
{
	static const struct option longopts[] = {
		{ "list",    no_argument,       NULL, 'l' },
		{ "mtime",   no_argument,       NULL, 'm' },
		{ "exclude", required_argument, NULL, 'x' },
		{ "help",    no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	while ((c = getopt_long(argc, argv, "lmx:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'l': opt->list = true; break;
		case 'm': opt->mtime = true; break;
		case 'x':
			if (opt->nexcludes == MAX_EXCLUDES)
				fatalx("at most %d --exclude", MAX_EXCLUDES);
			opt->excludes[opt->nexcludes++] = optarg;
			break;
		case 'h': usage(stdout); exit(0);
		default:  usage(stderr); exit(1);
		}
	}
	if (argc - optind != 1) {
		usage(stderr);
		exit(1);
	}
	opt->root = argv[optind];
}

int
main(int argc, char **argv)
{
	struct options opt = { 0 };
	struct walk w = { .opt = &opt };
	struct stat st;
	int rc;

	log_init(LOG_TO_STDERR, 0, "lifeline-treehash");
	parse_options(argc, argv, &opt);
	if (stat(opt.root, &st) == -1)
		fatal("%s", opt.root);
	if (!S_ISDIR(st.st_mode))
		fatalx("%s: not a folder", opt.root);
	if ((w.total = XXH3_createState()) == NULL)
		fatalx("XXH3_createState");
	XXH3_64bits_reset(w.total);
	w.buf = xmalloc(READ_CHUNK);
	rc = walk_dir(&w, "", 0);
	if (rc == 0)
		printf("total %016llx %zu entries\n",
		    (unsigned long long)XXH3_64bits_digest(w.total), w.entries);
	if (w.hidden > 0)
		log_warnx("%zu " HIDDEN_PREFIX "* file(s) not counted: a file"
		    " was unlinked while still open", w.hidden);
	XXH3_freeState(w.total);
	free(w.buf);
	if (rc == 0 && fflush(stdout) != 0)
		fatal("stdout");
	return rc == 0 ? 0 : 1;
}
