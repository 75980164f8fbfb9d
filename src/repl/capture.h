/*
 * The capture: a FUSE file system (libfuse 3, high-level API, multithreaded)
 * mounted over one protected directory on the active node. It works on the
 * directory underneath through a descriptor opened before the mount, so the
 * applications keep their paths; each mutating operation is done there and
 * handed to the sink as an op, both under the sink's ordering lock. Reads
 * take no lock.
 */
#ifndef LIFELINE_CAPTURE_H
#define LIFELINE_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repl/op.h"

struct capture;

/*
 * Where the ops go (the journal, in lifeline-repl; a recorder in tests).
 * lock/unlock bracket "do the operation underneath, then emit": the order
 * of emits is the order of the changes. emit runs with the lock held and
 * returns 0, or -1 when the op could not be journaled (the operation then
 * fails with EIO, after being undone where it can be; see capture.c).
 * barrier runs without the lock when an application calls fsync on a file
 * (op is the FSYNC_BARRIER, already emitted): it returns when the mode says
 * the fsync may return (async: at once; fsync/sync: acknowledged by the
 * passive), 0 or -errno. after_write, when not NULL, runs without the lock
 * after each write is emitted (sync mode waits there): 0, or -errno, which
 * the write then returns (its data stays written and journaled).
 */
struct capture_sink {
	void	*arg;
	void	(*lock)(void *arg);
	void	(*unlock)(void *arg);
	int	(*emit)(void *arg, const struct op *op);
	int	(*barrier)(void *arg, const struct op *op);
	int	(*after_write)(void *arg, const struct op *op);
};

struct capture_opts {
	const char	*dir;        /* the protected directory; the mount point too */
	uint16_t	 root;       /* its index in [protect] data, put in every op */
	struct capture_sink sink;
	bool		 writeback;  /* kernel writeback cache (faster buffered writes) */
};

/*
 * Open dir, mount the capture over it and serve it from threads of its own.
 * Returns when the mount is in place (an application opening a file after
 * this goes through the capture). NULL with err on failure, nothing left
 * mounted.
 */
struct capture	*capture_start(const struct capture_opts *o, char *err, size_t errlen);

/*
 * Unmount and stop the threads. When files are still open through the
 * mount it is detached: new opens reach the directory underneath,
 * uncaptured, while the open files are still served and captured for a
 * grace period (2 s), then fail with ENOTCONN; the caller should treat a
 * busy stop as a reason for a targeted check. The sink is called until
 * this returns (files unlinked while open lose their hidden names at the
 * end, UNLINK ops), and its barrier and after_write must return for it to
 * finish. NULL is ignored.
 */
void		 capture_stop(struct capture *c);

/*
 * Remove, detached, a capture mount at dir whose process is gone (a crash
 * or kill -9 leaves it in place, and every access through it fails with
 * ENOTCONN), so that the directory underneath is reachable again. Only
 * mounts of the capture's own type are touched. Returns how many were
 * removed, or -1 (logged).
 */
int		 capture_clear_stale(const char *dir);

/*
 * Operations served and ops emitted since start, for status; and the node
 * table now: inodes the kernel holds or a path needs (the root included),
 * names known, open files unlinked that have a hidden name.
 */
struct capture_stats {
	uint64_t	ops;
	uint64_t	emitted;
	uint64_t	emit_errors;
	uint64_t	nodes;
	uint64_t	names;
	uint64_t	hidden;
};
void		 capture_stats(const struct capture *c, struct capture_stats *st);

#endif
