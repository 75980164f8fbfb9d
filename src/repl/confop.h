/*
 * Whole-entry ops of [protect] config entries (the CONFIG types of op.h):
 * on the active, an entry read as it is now; on a passive, the copy made
 * the same, each file atomically (a temporary file beside it, fsync,
 * rename, fsync of its folder), so a crash or a reader never sees half a
 * configuration file.
 */
#ifndef LIFELINE_CONFOP_H
#define LIFELINE_CONFOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repl/apply.h"
#include "repl/op.h"

/* The bytes a CONFIG_FILE's xattrs and content may take together. */
#define CONFOP_MAX_DATA  OP_MAX_DATA

enum confop_read {
	CONFOP_OK,       /* op describes the entry (CONFIG_REMOVE when it is gone) */
	CONFOP_SKIP,     /* nothing replicates it (a device, a fifo, a socket) or it is
			    over CONFOP_MAX_DATA: why says which */
	CONFOP_FAIL,     /* it could not be read: why */
	CONFOP_GONE,     /* it changed while being read: the event that follows sends it */
};

/*
 * Read path (op.h rules, relative to rootfd, not "") into op for root:
 * CONFIG_FILE with its xattrs and content in buf (CONFOP_MAX_DATA bytes),
 * CONFIG_DIR with its xattrs in buf, CONFIG_SYMLINK with its target in
 * target (OP_PATH_MAX + 1 bytes), or CONFIG_REMOVE when it does not exist.
 * op points into path, buf and target.
 */
enum confop_read confop_read(int rootfd, uint16_t root, const char *path, uint8_t *buf,
		    char *target, struct op *op, char *why, size_t whylen);

/*
 * The names in folder path below rootfd (beneath it, as confop_apply
 * opens), without "." and "..", in byte order, for the walks of the
 * watcher and the check; each and the array malloc'd. NULL with errno
 * when it cannot be listed.
 */
char		**confop_names(int rootfd, const char *path, size_t *n);

/*
 * What a passive must respect while applying: keep(arg, path) says an
 * entry must be left alone (an exclude pattern matches it; path relative
 * to rootfd); aside(arg, path) is called before a folder that still holds
 * entries is removed (the active removed or replaced it, but this copy has
 * what no record named: it is set aside first, never just deleted): 0 to
 * go on, -1 to leave the folder (diverged). Either may be NULL.
 */
typedef bool	 confop_keep_fn(void *arg, const char *path);
struct confop_env {
	confop_keep_fn	*keep;
	int		(*aside)(void *arg, const char *path);
	void		*arg;
};

/*
 * Make the copy below rootfd what op (any CONFIG type but MANIFEST) says.
 * A REMOVE of a folder removes all below it but what keep says to leave
 * (and so the folders holding that). APPLY_OK; APPLY_DIVERGED when the
 * copy cannot take it as it is (its folder is missing, a folder with
 * excluded entries or one that could not be set aside stands where a file
 * goes); APPLY_FAILED on this disk's errors. why names the path and what
 * failed. env may be NULL.
 */
enum apply_result confop_apply(int rootfd, const struct op *op, const struct confop_env *env,
		    char *why, size_t whylen);

#endif
