/*
 * The applier: redoes journal records on a passive node's copy of the
 * protected directories, in order, and nothing else writes there. Every path
 * is opened beneath its directory (openat2 RESOLVE_BENEATH |
 * RESOLVE_NO_MAGICLINKS, invariant 6, and RESOLVE_NO_SYMLINKS: records name
 * real paths, so a symlink on the way means the copy diverged). The last
 * name is never followed. Where it stands is persisted so a crash at any
 * point resumes without harm (invariant 8).
 */
#ifndef LIFELINE_APPLY_H
#define LIFELINE_APPLY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "repl/op.h"
#include "repl/record.h"

struct applier;

/* Where the applier stands: the last record applied. */
struct apply_pos {
	uint64_t	epoch;
	uint64_t	seq;
};

enum apply_result {
	APPLY_OK,         /* applied (or found already applied on the replay after a crash) */
	APPLY_DIVERGED,   /* the copy does not match the record (e.g. the file is missing):
	                     the path is out of sync and needs a check; position moves on */
	APPLY_REFUSED,    /* the record names a place outside its root, an unknown root,
	                     or comes from a lower epoch than the position: not applied,
	                     position unchanged, the caller logs and stops the stream */
	APPLY_FAILED,     /* this node's own disk failed (EIO, ENOSPC): not applied,
	                     position unchanged; retry later */
};

/*
 * Open the applier over the copies of the protected directories (in the
 * order of [protect] data: record root index i names roots[i]) and its
 * position file pos_path (created if missing: nothing applied). Each root
 * is opened once as a directory descriptor. An op that a crash left half
 * done is finished here, before this returns. NULL with err on failure.
 */
struct applier	*applier_open(const char *const *roots, size_t nroots, const char *pos_path,
		    char *err, size_t errlen);
void		 applier_close(struct applier *a);
/*
 * Roots from cr->first on are [protect] config entries (repl/confroot.h),
 * each opened as the folder holding the entry: the CONFIG ops go to them
 * and only there, each within its entry, and what cr excludes is never
 * written or removed. Data ops on them are refused. cr is borrowed: it
 * must outlive the applier. Without this call no root takes CONFIG ops.
 */
struct confroots;
/*
 * aside(arg, root, path), when not NULL, is called before a folder of a
 * config entry that still holds entries is removed: it sets them aside
 * (the quarantine) and returns 0, or -1 to leave the folder.
 */
typedef int	 applier_aside_fn(void *arg, unsigned root, const char *path);
void		 applier_config_roots(struct applier *a, const struct confroots *cr,
		    applier_aside_fn *aside, void *arg);
/*
 * The folder holding config entry root as its path names it now (opened
 * again, and made if missing, when it is not the one held). -1 with errno.
 */
int		 applier_config_fd(struct applier *a, unsigned root);

/*
 * Move the position to pos, durably, without applying anything: the copy
 * already holds every record up to pos (this node wrote them itself while
 * it was active), or the journal was cut back to pos and what the copy
 * holds past it is left to the check. Whatever was applied is synced
 * first. 0, or -1 with err (also while an entry op is pending: resolve it
 * by applying its record again first).
 */
int		 applier_set_pos(struct applier *a, struct apply_pos pos, char *err, size_t errlen);

/* The last record applied, as persisted or since. */
struct apply_pos applier_pos(const struct applier *a);

/*
 * Apply one decoded record. Records must come in seq order, each after the
 * position (a record at or before it is skipped as APPLY_OK: replay; a gap
 * is refused; the first record after an empty position may have any seq).
 * A record that is not state-setting (record_is_state_setting) has its
 * position made durable before this returns; state-setting ones are made
 * durable in batches by applier_sync, and so is a CREATE without
 * OP_CREATE_EXCL (invariant 8 names only the exclusive create: the file is
 * made whole under no name and then linked, so replay finds it whole). VERIFY changes nothing here (the
 * caller checks it first) and FSYNC_BARRIER only moves the position (the
 * journal already made the data durable on this node). After APPLY_FAILED
 * the caller resumes from applier_pos() + 1, which may be earlier than the
 * record that failed. why says what went wrong, naming the record's type,
 * seq and path.
 */
enum apply_result applier_apply(struct applier *a, const struct record_hdr *h, const struct op *op,
		    char *why, size_t whylen);

/*
 * Make the position durable (fsync of the files written, then the
 * position). 0, or -1 with err; then the position falls back to the last
 * durable one and the caller resumes from applier_pos() + 1.
 */
int		 applier_sync(struct applier *a, char *err, size_t errlen);

/*
 * Open a path of a root beneath it, for the check and the quarantine:
 * openat2 with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS
 * and O_NOFOLLOW, so a symlink anywhere fails with ELOOP (O_PATH opens a
 * last-component symlink itself). path follows the rules of op.h ("" is
 * the root itself), else EINVAL. -1 with errno.
 */
int		 applier_openat(const struct applier *a, unsigned root, const char *path, int flags,
		    mode_t mode);

#endif
