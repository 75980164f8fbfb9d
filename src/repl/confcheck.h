/*
 * The check of [protect] config entries: on the active, a manifest of
 * each entry (every file, folder and symlink below it, hashed) journaled
 * as a CONFIG_MANIFEST record; on a passive, when the applier reaches it,
 * a comparison of its own copy. What differs there is drift: a change
 * made on the passive (or one it missed). The active's copy wins: the
 * passive's version is kept in the quarantine, never just overwritten,
 * each drift is reported naming the file, and the entry is asked for
 * whole (the active's watcher sends it again).
 *
 * A manifest entry, big-endian, back to back in tree order of paths (byte
 * order with '/' before every other byte: a folder, then all below it):
 *   u16 path_len, u8 kind, u8 reserved (0), u32 mode (permission bits),
 *   u32 uid, u32 gid, u64 size, u64 content hash, u64 xattrs hash, then
 *   the path (relative to the root, the entry's name first; no NUL).
 * kind: 'f' a file (hash: XXH3-64 of its content), 'd' a folder (hash 0),
 * 'l' a symlink (hash of its target), 's' present but not replicated (a
 * fifo, a file over a record's size): not compared. The xattrs hash is
 * XXH3-64 of its xattr block (op.h), 0 for none. Times are not compared:
 * a folder's mtime moves with every editor's temporary file.
 */
#ifndef LIFELINE_CONFCHECK_H
#define LIFELINE_CONFCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repl/confroot.h"
#include "repl/op.h"

#define CONFCHECK_HEAD  40

/*
 * Build the manifest of config root root (rootfd: the folder holding the
 * entry) into buf (cap bytes), as op (a CONFIG_MANIFEST pointing into buf).
 * Excluded entries are left out. 0; -1 with why when the entry has more
 * than fits or a folder cannot be listed (then no manifest is sent: a
 * partial one would make the passive's extra entries look like drift).
 */
int		 confcheck_manifest(const struct confroots *cr, int rootfd, uint16_t root,
		    uint8_t *buf, size_t cap, struct op *op, char *why, size_t whylen);

/* One difference a passive found. */
struct confdrift {
	char		*path;       /* absolute */
	const char	*what;       /* "content", "owner", "mode", "xattrs", "type",
				        "missing here", "only here" */
	char		*kept;       /* where this node's version was put; NULL if none */
};

struct confcheck_result {
	struct confdrift *drift;
	size_t		  ndrift;
	bool		  want;       /* ask the active for the entry whole */
};
void		 confcheck_result_clear(struct confcheck_result *r);

/*
 * Compare this node's copy of the entry the manifest op names (rootfd:
 * the folder holding it) with it. Each difference is listed; this node's
 * version of what differs or is only here is copied into quarantine
 * (QUARANTINE/<absolute path>), and what is only here is then removed, so
 * that the active's copy, asked for whole, is all that remains. 0, or -1
 * with why (a malformed manifest, a copy that cannot be read or kept: then
 * nothing is removed).
 */
int		 confcheck_compare(const struct confroots *cr, int rootfd, const struct op *op,
		    const char *quarantine, struct confcheck_result *res, char *why,
		    size_t whylen);

/*
 * Copy path (in config root root, relative to rootfd) and all below it
 * that no exclude matches into quarantine, at its absolute path, as a
 * drifted version is kept: before a folder the active removed, but that
 * still holds what no record named, is removed. *kept: where path went
 * (malloc'd; NULL when nothing was there). 0, or -1 with why.
 */
int		 confcheck_keep_tree(const struct confroots *cr, int rootfd, uint16_t root,
		    const char *path, const char *quarantine, char **kept, char *why,
		    size_t whylen);

#endif
