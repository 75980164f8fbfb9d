/*
 * The config watcher: on the active node, inotify over every [protect]
 * config entry (no FUSE: a configuration is written rarely, by editors and
 * package managers, and must stay writable when Lifeline is down), turning
 * each change into a whole-entry op (repl/confop.h) in the same ordered
 * journal as the data.
 *
 * Order: every function but confwatch_new/free runs with the journal's
 * ordering lock held (the caller's), and the capture calls
 * confwatch_sync_locked before it journals each data change: any config
 * change that ended before a data change began is journaled before it.
 *
 * Coalescing: the events the kernel queued are read into a set of dirty
 * entries; a flush reads each entry once as it is then. A file written in
 * many pieces is sent once per flush; a temporary file made and renamed
 * away between two flushes is never sent; a folder made or moved in is sent
 * with all it holds.
 */
#ifndef LIFELINE_CONFWATCH_H
#define LIFELINE_CONFWATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repl/confroot.h"
#include "repl/op.h"

struct confwatch;

/* Journal one op (under the lock): 0, or -1 (logged by the callee). */
typedef int	 confwatch_emit_fn(void *arg, const struct op *op);

/*
 * Watch every entry of cr (borrowed; rootfds[i], borrowed too, is the
 * folder holding cr->v[i], and confwatch_refresh_locked replaces it when
 * that folder is replaced). Nothing is sent until a flush. NULL with err
 * when inotify cannot be had at all; watches that fail are reported by
 * the flushes (status), not here.
 */
struct confwatch *confwatch_new(const struct confroots *cr, int *rootfds,
		    confwatch_emit_fn *emit, void *arg, char *err, size_t errlen);

/*
 * The folder holding an entry may have been replaced under its path (a
 * package reinstalled, a release folder swapped, a symlink on the path
 * moved): compare each with what is held, and where it differs hold and
 * watch the new one and mark the entry dirty with all below it (reported).
 * Also done by the next flush after the kernel said a held folder went.
 * Returns how many were replaced.
 */
int		 confwatch_refresh_locked(struct confwatch *w);
void		 confwatch_free(struct confwatch *w);

/* The inotify descriptor: readable when events wait. */
int		 confwatch_fd(const struct confwatch *w);

/* Read the events the kernel has into the dirty set, without sending. */
void		 confwatch_take_locked(struct confwatch *w);

/*
 * Read the events the kernel has and send every dirty entry as it is now.
 * Cheap when nothing changed (one read that finds nothing). Returns the
 * ops emitted, or -1 when one could not be journaled (the entry stays
 * dirty for the next flush).
 */
int		 confwatch_sync_locked(struct confwatch *w);

/* Read the events the kernel has: whether any entry is now dirty. */
bool		 confwatch_changed_locked(struct confwatch *w);

/* Mark every entry dirty, all below it too: the next flush sends the whole set. */
void		 confwatch_all_dirty_locked(struct confwatch *w);

/* Mark one entry (root number, path in it) dirty with all below it: a passive wants it. */
void		 confwatch_want_locked(struct confwatch *w, uint16_t root, const char *path);

/*
 * The file whose number the watcher doubles once when the kernel refuses a
 * watch for want of them: /proc/sys/fs/inotify/max_user_watches unless a
 * test names another (NULL: back to it). The host's limit is the host's:
 * a test must never raise it.
 */
void		 confwatch_limit_file(const char *path);

struct confwatch_stats {
	uint64_t	 events;      /* inotify events read */
	uint64_t	 emitted;     /* ops journaled */
	uint64_t	 skipped;     /* entries no record can carry (too big, a fifo...) */
	uint64_t	 errors;      /* entries that could not be read or journaled */
	uint64_t	 overflows;   /* the kernel's queue overflowed: everything was sent again */
	uint64_t	 watches;     /* folders watched now */
	bool		 watch_limit; /* fs.inotify.max_user_watches was reached */
	char		 last_problem[256];
};
void		 confwatch_stats(const struct confwatch *w, struct confwatch_stats *st);

#endif
