/*
 * Manifests of config entries and their comparison on a passive
 * (confcheck.h).
 */
#include "repl/confcheck.h"
#include "repl/beneath.h"
#include "repl/confop.h"
#include "repl/record.h"
#include "common/bytes.h"
#include "common/util.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

/* One entry of a manifest, or of this node's copy. */
struct mentry {
	char		*path;       /* owned in a walk; into the record when decoded */
	size_t		 path_len;
	uint8_t		 kind;
	uint32_t	 mode, uid, gid;
	uint64_t	 size, hash, xhash;
};

struct mlist {
	struct mentry	*v;
	size_t		 n, cap;
	bool		 owned;
};

static void
mlist_free(struct mlist *l)
{
	if (l->owned)
		for (size_t i = 0; i < l->n; i++)
			free(l->v[i].path);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static struct mentry *
mlist_push(struct mlist *l)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 32;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	memset(&l->v[l->n], 0, sizeof(l->v[0]));
	return &l->v[l->n++];
}

/*
 * Tree order: byte order with '/' before every other byte, so everything
 * below a folder comes right after it ("d", "d/a", "d.x").
 */
static int
path_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;

	for (size_t i = 0; i < n; i++) {
		unsigned x = a[i] == '/' ? 0 : (unsigned char)a[i] + 1u;
		unsigned y = b[i] == '/' ? 0 : (unsigned char)b[i] + 1u;

		if (x != y)
			return x < y ? -1 : 1;
	}
	return alen < blen ? -1 : alen > blen;
}

static int
cmp_mentry(const void *x, const void *y)
{
	const struct mentry *a = x, *b = y;

	return path_cmp(a->path, a->path_len, b->path, b->path_len);
}

/* ---- walking a copy ---- */

struct walker {
	const struct confroots	*cr;
	int			 rootfd;
	uint16_t		 root;
	uint8_t			*buf;        /* CONFOP_MAX_DATA */
	char			 target[OP_PATH_MAX + 1];
	struct mlist		*out;
	char			*why;
	size_t			 whylen;
};

static int walk(struct walker *, const char *);

static int
walk_folder(struct walker *wk, const char *path)
{
	char rel[OP_PATH_MAX + 1], **names;
	size_t n;
	int rc = 0;

	if ((names = confop_names(wk->rootfd, path, &n)) == NULL) {
		why_printf(wk->why, wk->whylen, "cannot list %s: %s", path, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		int len = snprintf(rel, sizeof(rel), "%s/%s", path, names[i]);

		if (rc == 0 && len > 0 && (size_t)len < sizeof(rel) &&
		    confroots_covers(wk->cr, wk->root, rel, (size_t)len))
			rc = walk(wk, rel);
		free(names[i]);
	}
	free(names);
	return rc;
}

/* path and all below it into wk->out; an entry gone meanwhile is left out. */
static int
walk(struct walker *wk, const char *path)
{
	struct mentry *e;
	struct op op;
	char why[512];
	enum confop_read r;
	const uint8_t *block;
	size_t blen;

	r = confop_read(wk->rootfd, wk->root, path, wk->buf, wk->target, &op, why, sizeof(why));
	if (r == CONFOP_FAIL) {
		why_printf(wk->why, wk->whylen, "%s", why);
		return -1;
	}
	if (r == CONFOP_GONE || (r == CONFOP_OK && op.type == RECORD_CONFIG_REMOVE))
		return 0;
	e = mlist_push(wk->out);
	e->path = xstrdup(path);
	e->path_len = strlen(path);
	if (r == CONFOP_SKIP) {
		e->kind = 's';
		return 0;
	}
	e->mode = op.mode & 07777;
	e->uid = op.uid;
	e->gid = op.gid;
	op_xattr_block(&op, &block, &blen);
	e->xhash = blen > 0 ? XXH3_64bits(block, blen) : 0;
	switch (op.type) {
	case RECORD_CONFIG_FILE:
		e->kind = 'f';
		e->size = op.size;
		e->hash = XXH3_64bits(op.data + blen, (size_t)op.size);
		return 0;
	case RECORD_CONFIG_SYMLINK:
		e->kind = 'l';
		e->size = op.path2_len;
		e->hash = XXH3_64bits(op.path2, op.path2_len);
		return 0;
	default:
		e->kind = 'd';
		return walk_folder(wk, path);
	}
}

static int
walk_entry(const struct confroots *cr, int rootfd, uint16_t root, struct mlist *out, char *why,
    size_t whylen)
{
	const struct confroot *r = confroots_at(cr, root);
	struct walker wk = { .cr = cr, .rootfd = rootfd, .root = root, .out = out, .why = why,
	    .whylen = whylen };
	int rc = 0;

	out->owned = true;
	if (r == NULL) {
		why_printf(why, whylen, "root %u is not a config entry", root);
		return -1;
	}
	wk.buf = xmalloc(CONFOP_MAX_DATA);
	if (confroots_covers(cr, root, r->name, r->name_len))
		rc = walk(&wk, r->name);
	free(wk.buf);
	if (rc == 0 && out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), cmp_mentry);
	return rc;
}

/* ---- the manifest ---- */

int
confcheck_manifest(const struct confroots *cr, int rootfd, uint16_t root, uint8_t *buf,
    size_t cap, struct op *op, char *why, size_t whylen)
{
	struct mlist l = { 0 };
	size_t len = 0;
	int rc = -1;

	if (walk_entry(cr, rootfd, root, &l, why, whylen) < 0)
		goto out;
	for (size_t i = 0; i < l.n; i++) {
		const struct mentry *e = &l.v[i];
		uint8_t *p = buf + len;

		if (cap - len < CONFCHECK_HEAD + e->path_len) {
			why_printf(why, whylen, "%s: more entries than a manifest of %zu bytes holds "
			    "(%zu)", confroots_at(cr, root)->entry, cap, l.n);
			goto out;
		}
		put16(p, (uint16_t)e->path_len);
		p[2] = e->kind;
		p[3] = 0;
		put32(p + 4, e->mode);
		put32(p + 8, e->uid);
		put32(p + 12, e->gid);
		put64(p + 16, e->size);
		put64(p + 24, e->hash);
		put64(p + 32, e->xhash);
		memcpy(p + CONFCHECK_HEAD, e->path, e->path_len);
		len += CONFCHECK_HEAD + e->path_len;
	}
	memset(op, 0, sizeof(*op));
	op->type = RECORD_CONFIG_MANIFEST;
	op->root = root;
	op->path = confroots_at(cr, root)->name;
	op->path_len = (uint16_t)confroots_at(cr, root)->name_len;
	op->size = l.n;
	op->data = buf;
	op->data_len = (uint32_t)len;
	rc = 0;
out:
	mlist_free(&l);
	return rc;
}

/* The manifest's entries, checked: framing, paths within the entry, byte order. */
static int
manifest_decode(const struct op *op, struct mlist *out, char *why, size_t whylen)
{
	size_t off = 0;

	out->owned = false;
	while (off < op->data_len) {
		const uint8_t *p = op->data + off;
		struct mentry *e;
		size_t plen;

		if (op->data_len - off < CONFCHECK_HEAD ||
		    op->data_len - off - CONFCHECK_HEAD < (plen = get16(p))) {
			why_printf(why, whylen, "a manifest entry cut short");
			return -1;
		}
		e = mlist_push(out);
		e->path = (char *)(uintptr_t)(p + CONFCHECK_HEAD);
		e->path_len = plen;
		e->kind = p[2];
		e->mode = get32(p + 4);
		e->uid = get32(p + 8);
		e->gid = get32(p + 12);
		e->size = get64(p + 16);
		e->hash = get64(p + 24);
		e->xhash = get64(p + 32);
		if (!strchr("fdls", e->kind) || e->kind == '\0' || p[3] != 0 ||
		    !op_path_valid(e->path, plen) || memchr(e->path, '\0', plen) != NULL ||
		    plen < op->path_len || memcmp(e->path, op->path, op->path_len) != 0 ||
		    (plen > op->path_len && e->path[op->path_len] != '/')) {
			why_printf(why, whylen, "a manifest entry of kind %u, or with a path outside "
			    "the entry or against the rules", p[2]);
			return -1;
		}
		if (out->n > 1 && cmp_mentry(&out->v[out->n - 2], e) >= 0) {
			why_printf(why, whylen, "manifest entries not in tree order of paths");
			return -1;
		}
		off += CONFCHECK_HEAD + plen;
	}
	if (out->n != op->size) {
		why_printf(why, whylen, "a manifest of %zu entries saying %llu", out->n,
		    (unsigned long long)op->size);
		return -1;
	}
	return 0;
}

/* ---- keeping this node's version ---- */

static int
copy_file(int rootfd, const char *path, const char *to)
{
	char buf[65536];
	ssize_t n;
	int in, out, rc = -1;
	struct stat st;

	if ((in = open_beneath(rootfd, path, O_RDONLY | O_NOFOLLOW, 0)) == -1)
		return -1;
	if (fstat(in, &st) == -1 ||
	    (out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600)) == -1) {
		close(in);
		return -1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			goto out;
	if (n == 0 && fchown(out, st.st_uid, st.st_gid) == 0 &&
	    fchmod(out, st.st_mode & 07777) == 0 && fsync(out) == 0)
		rc = 0;
out:
	close(in);
	close(out);
	return rc;
}

/*
 * This node's version of path, into the quarantine under its absolute
 * path: a file's content and attributes, a symlink, or a folder with all
 * below it. 0, or -1 with errno.
 */
static int
keep_copy(const struct confroots *cr, int rootfd, uint16_t root, const struct mentry *e,
    const char *quarantine, char **kept)
{
	const struct confroot *r = confroots_at(cr, root);
	char abs[PATH_MAX], to[PATH_MAX], target[OP_PATH_MAX + 1], dir[PATH_MAX];
	struct stat st;
	ssize_t n;
	int fd, rc;

	if (!confroot_abspath(r, e->path, abs, sizeof(abs)) ||
	    snprintf(to, sizeof(to), "%s%s", quarantine, abs) >= (int)sizeof(to)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s", to);
	*strrchr(dir, '/') = '\0';
	if (mkdir_p(dir, 0700) == -1)
		return -1;
	if ((fd = open_beneath(rootfd, e->path, O_PATH | O_NOFOLLOW, 0)) == -1)
		return -1;
	rc = fstat(fd, &st);
	close(fd);
	if (rc == -1)
		return -1;
	if (S_ISREG(st.st_mode))
		rc = copy_file(rootfd, e->path, to);
	else if (S_ISLNK(st.st_mode)) {
		char parent[OP_PATH_MAX + 1];
		const char *slash = strrchr(e->path, '/');
		int pfd;

		snprintf(parent, sizeof(parent), "%.*s", slash ? (int)(slash - e->path) : 0, e->path);
		if ((pfd = open_beneath(rootfd, parent, O_RDONLY | O_DIRECTORY, 0)) == -1)
			return -1;
		n = readlinkat(pfd, slash ? slash + 1 : e->path, target, sizeof(target) - 1);
		close(pfd);
		if (n < 0)
			return -1;
		target[n] = '\0';
		rc = symlink(target, to);
	} else if (S_ISDIR(st.st_mode)) {
		rc = mkdir(to, st.st_mode & 07777) == -1 && errno != EEXIST ? -1 : 0;
	} else {
		return 0;                 /* a fifo or device: nothing to keep */
	}
	if (rc == 0)
		*kept = xstrdup(to);
	return rc;
}

/* ---- comparing ---- */

static const char *
difference(const struct mentry *a, const struct mentry *b)
{
	if (a->kind == 's' || b->kind == 's')
		return NULL;
	if (a->kind != b->kind)
		return "type";
	if (a->size != b->size || a->hash != b->hash)
		return "content";
	if (a->uid != b->uid || a->gid != b->gid)
		return "owner";
	if (a->mode != b->mode)
		return "mode";
	if (a->xhash != b->xhash)
		return "xattrs";
	return NULL;
}

static bool
below(const struct mentry *e, const struct mentry *top)
{
	return e->path_len > top->path_len && memcmp(e->path, top->path, top->path_len) == 0 &&
	    e->path[top->path_len] == '/';
}

static void
drift_add(struct confcheck_result *res, const struct confroots *cr, uint16_t root,
    const struct mentry *e, const char *what, char *kept)
{
	char abs[PATH_MAX], rel[OP_PATH_MAX + 1];
	struct confdrift *d;

	res->drift = xrealloc(res->drift, (res->ndrift + 1) * sizeof(*res->drift));
	d = &res->drift[res->ndrift++];
	/* A manifest's paths are not NUL-terminated: they lie in the record. */
	snprintf(rel, sizeof(rel), "%.*s", (int)e->path_len, e->path);
	if (!confroot_abspath(confroots_at(cr, root), rel, abs, sizeof(abs)))
		snprintf(abs, sizeof(abs), "%s", rel);
	d->path = xstrdup(abs);
	d->what = what;
	d->kept = kept;
	res->want = true;
}

static bool
keep_excluded(void *arg, const char *path)
{
	const struct confroots *cr = ((const void **)arg)[0];
	const uint16_t *root = ((const void **)arg)[1];

	return !confroots_covers(cr, *root, path, strlen(path));
}

/* What only this node has goes, once its copy is kept. */
static int
remove_here(const struct confroots *cr, int rootfd, uint16_t root, const struct mentry *e,
    char *why, size_t whylen)
{
	struct op op = { .type = RECORD_CONFIG_REMOVE, .root = root, .path = e->path,
	    .path_len = (uint16_t)e->path_len };
	const void *arg[2] = { cr, &root };
	struct confop_env env = { .keep = keep_excluded, .arg = (void *)arg };
	char path[OP_PATH_MAX + 1];

	memcpy(path, e->path, e->path_len);
	path[e->path_len] = '\0';
	op.path = path;
	return confop_apply(rootfd, &op, &env, why, whylen) == APPLY_OK ? 0 : -1;
}

int
confcheck_compare(const struct confroots *cr, int rootfd, const struct op *op,
    const char *quarantine, struct confcheck_result *res, char *why, size_t whylen)
{
	struct mlist want = { 0 }, have = { 0 };
	size_t i = 0, k = 0;
	int rc = -1;

	if (manifest_decode(op, &want, why, whylen) < 0 ||
	    walk_entry(cr, rootfd, op->root, &have, why, whylen) < 0)
		goto out;
	while (i < want.n || k < have.n) {
		int c = i == want.n ? 1 : k == have.n ? -1 :
		    cmp_mentry(&want.v[i], &have.v[k]);
		char *kept = NULL;
		const char *what;

		if (c < 0) {
			/* What the active could not send ('s') is not missing here. */
			if (want.v[i].kind != 's')
				drift_add(res, cr, op->root, &want.v[i], "missing here", NULL);
			i++;
			continue;
		}
		if (c == 0) {
			what = difference(&want.v[i], &have.v[k]);
			if (what != NULL) {
				if (keep_copy(cr, rootfd, op->root, &have.v[k], quarantine, &kept) < 0) {
					why_printf(why, whylen, "keeping this node's %s: %s",
					    have.v[k].path, strerror(errno));
					goto out;
				}
				drift_add(res, cr, op->root, &have.v[k], what, kept);
			}
			i++, k++;
			continue;
		}
		/* Only here: kept, then removed with all below it (not listed one by one). */
		if (keep_copy(cr, rootfd, op->root, &have.v[k], quarantine, &kept) < 0) {
			why_printf(why, whylen, "keeping this node's %s: %s", have.v[k].path,
			    strerror(errno));
			goto out;
		}
		size_t top = k++;

		if (have.v[top].kind == 'd')
			for (; k < have.n && below(&have.v[k], &have.v[top]); k++) {
				char *sub = NULL;

				if (keep_copy(cr, rootfd, op->root, &have.v[k], quarantine, &sub) < 0) {
					why_printf(why, whylen, "keeping this node's %s: %s",
					    have.v[k].path, strerror(errno));
					free(kept);
					goto out;
				}
				free(sub);
			}
		if (remove_here(cr, rootfd, op->root, &have.v[top], why, whylen) < 0) {
			free(kept);
			goto out;
		}
		drift_add(res, cr, op->root, &have.v[top], "only here", kept);
	}
	rc = 0;
out:
	mlist_free(&want);
	mlist_free(&have);
	return rc;
}

int
confcheck_keep_tree(const struct confroots *cr, int rootfd, uint16_t root, const char *path,
    const char *quarantine, char **kept, char *why, size_t whylen)
{
	struct walker wk = { .cr = cr, .rootfd = rootfd, .root = root, .why = why,
	    .whylen = whylen };
	struct mlist l = { .owned = true };
	int rc = -1;

	*kept = NULL;
	wk.out = &l;
	wk.buf = xmalloc(CONFOP_MAX_DATA);
	if (walk(&wk, path) < 0)
		goto out;
	if (l.n > 1)
		qsort(l.v, l.n, sizeof(*l.v), cmp_mentry);
	for (size_t i = 0; i < l.n; i++) {
		char *one = NULL;

		if (keep_copy(cr, rootfd, root, &l.v[i], quarantine, &one) < 0) {
			why_printf(why, whylen, "keeping %s: %s", l.v[i].path, strerror(errno));
			free(*kept);
			*kept = NULL;
			goto out;
		}
		if (*kept == NULL)
			*kept = one;
		else
			free(one);
	}
	rc = 0;
out:
	free(wk.buf);
	mlist_free(&l);
	return rc;
}

void
confcheck_result_clear(struct confcheck_result *r)
{
	for (size_t i = 0; i < r->ndrift; i++) {
		free(r->drift[i].path);
		free(r->drift[i].kept);
	}
	free(r->drift);
	memset(r, 0, sizeof(*r));
}
