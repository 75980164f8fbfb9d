/*
 * The [protect] config entries as the data plane numbers them: after the
 * data directories, root number first + i is config entry i. Its root is
 * the folder holding the entry (so a file and a folder are protected the
 * same way, and an editor's rename over the entry is seen), and every path
 * of its records starts with the entry's own name: a record names nothing
 * beside the entry in that folder. [protect] exclude patterns name what
 * is never replicated.
 */
#ifndef LIFELINE_CONFROOT_H
#define LIFELINE_CONFROOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"

struct confroot {
	char		*entry;       /* absolute, as configured */
	char		*parent;      /* the folder holding it: the root */
	char		*name;        /* its last component */
	size_t		 name_len;
};

struct confroots {
	struct confroot	*v;
	size_t		 n;
	uint16_t	 first;       /* root number of v[0]: how many data directories */
	char		**exclude;
	size_t		 nexclude;
};

/* From a configuration (validated: absolute paths, none "/"). */
void		 confroots_init(struct confroots *cr, const struct config *conf);
void		 confroots_free(struct confroots *cr);

/* The config entry of root number root; NULL for a data directory or none. */
const struct confroot *confroots_at(const struct confroots *cr, unsigned root);

/* path (op.h rules, relative to the root) is the entry itself or below it. */
bool		 confroot_inside(const struct confroot *r, const char *path, size_t len);

/* The absolute path of path below r's root; false when it does not fit. */
bool		 confroot_abspath(const struct confroot *r, const char *path, char *out,
		    size_t outlen);

/*
 * Whether an exclude pattern matches abspath or a folder holding it. A
 * pattern with a '/' is matched against the whole path as the shell does
 * (fnmatch, FNM_PATHNAME: '*' stays within one name); one without, like
 * "*.swp", against each name.
 */
bool		 confroots_excluded(const struct confroots *cr, const char *abspath);

/* The names a passive writes a file under before renaming it into place. */
#define CONFROOT_TMP_PREFIX  ".lifeline-tmp."

/* root is a config root, path lies in its entry, is not excluded nor a temporary name. */
bool		 confroots_covers(const struct confroots *cr, unsigned root, const char *path,
		    size_t len);

/*
 * Make each root (the folder holding an entry) where it is missing, as
 * mkdir -p with mode 0755 does: records can then land on a node where the
 * application was never configured. 0, or -1 with err naming the folder.
 */
int		 confroots_make_parents(const struct confroots *cr, char *err, size_t errlen);

#endif
