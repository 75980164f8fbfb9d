/*
 * Config roots: numbering, confinement and exclusion of [protect] config
 * entries (confroot.h).
 */
#include "repl/confroot.h"
#include "common/util.h"

#include <sys/stat.h>

#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
confroots_init(struct confroots *cr, const struct config *conf)
{
	const struct strlist *c = &conf->protect_config, *x = &conf->protect_exclude;

	memset(cr, 0, sizeof(*cr));
	cr->first = (uint16_t)conf->protect_data.n;
	cr->n = c->n;
	cr->v = xcalloc(c->n + 1, sizeof(*cr->v));
	for (size_t i = 0; i < c->n; i++) {
		struct confroot *r = &cr->v[i];
		const char *slash = strrchr(c->v[i], '/');

		r->entry = xstrdup(c->v[i]);
		r->parent = slash == c->v[i] ? xstrdup("/") :
		    xasprintf("%.*s", (int)(slash - c->v[i]), c->v[i]);
		r->name = xstrdup(slash + 1);
		r->name_len = strlen(r->name);
	}
	cr->nexclude = x->n;
	cr->exclude = xcalloc(x->n + 1, sizeof(*cr->exclude));
	for (size_t i = 0; i < x->n; i++)
		cr->exclude[i] = xstrdup(x->v[i]);
}

void
confroots_free(struct confroots *cr)
{
	for (size_t i = 0; i < cr->n; i++) {
		free(cr->v[i].entry);
		free(cr->v[i].parent);
		free(cr->v[i].name);
	}
	for (size_t i = 0; i < cr->nexclude; i++)
		free(cr->exclude[i]);
	free(cr->v);
	free(cr->exclude);
	memset(cr, 0, sizeof(*cr));
}

const struct confroot *
confroots_at(const struct confroots *cr, unsigned root)
{
	if (root < cr->first || root - cr->first >= cr->n)
		return NULL;
	return &cr->v[root - cr->first];
}

bool
confroot_inside(const struct confroot *r, const char *path, size_t len)
{
	return len >= r->name_len && memcmp(path, r->name, r->name_len) == 0 &&
	    (len == r->name_len || path[r->name_len] == '/');
}

bool
confroot_abspath(const struct confroot *r, const char *path, char *out, size_t outlen)
{
	bool top = strcmp(r->parent, "/") == 0;

	int n = snprintf(out, outlen, "%s/%s", top ? "" : r->parent, path);

	return n >= 0 && (size_t)n < outlen;
}

/* One pattern against the path, or against its last name when the pattern has no '/'. */
static bool
matches(const char *pattern, const char *path)
{
	if (strchr(pattern, '/') != NULL)
		return fnmatch(pattern, path, FNM_PATHNAME) == 0;
	return fnmatch(pattern, strrchr(path, '/') + 1, 0) == 0;
}

bool
confroots_excluded(const struct confroots *cr, const char *abspath)
{
	char prefix[PATH_MAX];
	size_t len = strlen(abspath);

	if (cr->nexclude == 0 || abspath[0] != '/' || len >= sizeof(prefix))
		return false;
	/* The path and each folder above it, so an excluded folder hides what it holds. */
	memcpy(prefix, abspath, len + 1);
	while (len > 1) {
		for (size_t i = 0; i < cr->nexclude; i++)
			if (matches(cr->exclude[i], prefix))
				return true;
		while (len > 0 && prefix[len - 1] != '/')
			len--;
		if (len > 1)
			len--;
		prefix[len] = '\0';
	}
	return false;
}

bool
confroots_covers(const struct confroots *cr, unsigned root, const char *path, size_t len)
{
	const struct confroot *r = confroots_at(cr, root);
	char abs[PATH_MAX];

	const char *name = memrchr(path, '/', len);

	if (r == NULL || !confroot_inside(r, path, len))
		return false;
	/* A passive's temporary file (repl/confop.c) is never anybody's configuration. */
	name = name != NULL ? name + 1 : path;
	if ((size_t)(path + len - name) >= sizeof(CONFROOT_TMP_PREFIX) - 1 &&
	    memcmp(name, CONFROOT_TMP_PREFIX, sizeof(CONFROOT_TMP_PREFIX) - 1) == 0)
		return false;
	return confroot_abspath(r, path, abs, sizeof(abs)) && !confroots_excluded(cr, abs);
}

int
confroots_make_parents(const struct confroots *cr, char *err, size_t errlen)
{
	for (size_t i = 0; i < cr->n; i++)
		if (mkdir_p(cr->v[i].parent, 0755) == -1) {
			why_printf(err, errlen, "config entry %s: cannot make the folder %s: %s",
			    cr->v[i].entry, cr->v[i].parent, strerror(errno));
			return -1;
		}
	return 0;
}
