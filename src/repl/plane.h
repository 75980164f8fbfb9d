/*
 * The data plane of one node, as lifeline-repl runs it: the journal, the
 * receiver of the upstream's stream, the applier, the senders to the nodes
 * downstream and, on the active node, the capture over every protected
 * directory. lifelined says which role the node has and who is up- and
 * downstream (common/replctl.h); the plane does it in the order that loses
 * nothing: an active applies all it received before it captures, a
 * demoted one stops capturing before it applies.
 *
 * Every function runs on the owner's libevent loop (made after
 * evthread_use_pthreads); the plane's own threads are the applier, the
 * receiver's fsyncs and the captures'.
 */
#ifndef LIFELINE_PLANE_H
#define LIFELINE_PLANE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"

struct event_base;
struct plane;

/*
 * Open the journal, the epoch history and the applier under
 * STATE_DIR/repl, remove capture mounts a crash left, listen for streams.
 * The node starts idle: nothing mounted, nothing applied until a role is
 * given. NULL with err.
 */
struct plane	*plane_open(struct event_base *base, const struct config *conf, enum node_id self,
		    char *err, size_t errlen);

/* Unmount, stop every thread and connection, close the journal. */
void		 plane_close(struct plane *p);

/*
 * Passive in epoch: take the stream of upstream (-1: none), apply it, and
 * relay it to down[]. A node that was active stops capturing first and
 * counts what it journaled as applied. 0, or -1 with err.
 */
int		 plane_passive(struct plane *p, uint64_t epoch, int upstream, const int *down,
		    size_t ndown, char *err, size_t errlen);

/*
 * Active in epoch, shipping to down[]: done(arg, 0, last_seq, NULL) once
 * every record received is durable and applied and the capture is mounted
 * over every protected directory; done(arg, -1, 0, why) when that cannot
 * be (the node is then passive with no upstream). done runs on the loop,
 * maybe before this returns.
 */
typedef void plane_done_fn(void *arg, int rc, uint64_t last_seq, const char *why);
void		 plane_activate(struct plane *p, uint64_t epoch, const int *down, size_t ndown,
		    plane_done_fn *done, void *arg);

/*
 * The active's applications are stopped (a switchover): unmount the
 * capture and call done once every node downstream acknowledged the last
 * record, or with -1 and who lags after timeout_ms. A lifeline-repl that
 * was started again after dying on the active (idle, with the journal it
 * left) ships to down[] for the drain; an active one keeps its chain.
 */
void		 plane_drain(struct plane *p, const int *down, size_t ndown, int timeout_ms,
		    plane_done_fn *done, void *arg);

/*
 * Start a check on the active node: of everything (full), or of the
 * entries the touched list names. With rehash it trusts no remembered
 * hashes (hashcache.h), on this node nor on the passives: every file is
 * read. Its progress is in the status. 0, or -1 with err (not active, one
 * already running).
 */
int		 plane_check(struct plane *p, bool full, bool rehash, char *err, size_t errlen);

/*
 * Call done(arg, check) on the loop once check number id is no longer
 * running (ended, failed or stopped, or another check has the number
 * now), with the status's "check" object (borrowed), or when timeout_ms
 * (bounded by the caller) passed first, with the object saying "running";
 * with check NULL when lifeline-repl stops first. While a check runs or
 * someone waits, its end is looked for every few milliseconds, not on the
 * slower tick.
 */
typedef void	 plane_check_fn(void *arg, json_t *check);
void		 plane_check_wait(struct plane *p, uint64_t id, int timeout_ms, plane_check_fn *done,
		    void *arg);

/* The number of the last check started (status "check.id"), 0 before any. */
uint64_t	 plane_check_id(const struct plane *p);

/*
 * Take the [replication] settings of a reloaded configuration (mode,
 * queue, compress, bandwidth; the last two for streams started from then
 * on) and failover.timeout. Everything else is read at start only.
 */
void		 plane_tune(struct plane *p, const struct config *conf);

/* The "replication" object of lifeline status (CONTRACT.md fields and more). */
json_t		*plane_status(struct plane *p);

#endif
