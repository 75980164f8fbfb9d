/*
 * The engine's side of the data plane: tells lifeline-repl (through the
 * replica handle) this node's part of the replication chain whenever the
 * role or the epoch changes, holds the applications until the capture is
 * in place, drains the queue before a switchover hands the epoch on, and
 * turns the death of lifeline-repl on the active node into a switchover.
 */
#ifndef LIFELINE_REPLICATION_H
#define LIFELINE_REPLICATION_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct engine;
struct replication;

/* Find or start lifeline-repl. Never NULL. */
struct replication *replication_new(struct engine *e, bool debug);

/*
 * Stop watching, at the engine's exit. lifeline-repl runs on: with the
 * applications left running it goes on as it is (the active captures);
 * with them stopped (apps_stopped) an active one unmounts its capture,
 * ships its queue down the chain within a few seconds (what is left ships
 * when the engine is back) and is told passive with no stream in or out,
 * so that it only waits; a passive one keeps receiving. Either way the
 * node's agent answers `lifeline engine start --cluster`. Blocking.
 */
void replication_free(struct replication *rp, bool apps_stopped);

/*
 * The node became active in e->state.epoch: done(arg, true) once the
 * capture is mounted and everything received is applied (start the
 * applications then), done(arg, false, why) when that failed; it is
 * retried while the node stays active, and done called again on success.
 */
typedef void replication_ready_fn(void *arg, bool ok, const char *why);
void replication_activate(struct replication *rp, replication_ready_fn *done, void *arg);

/*
 * The applications of the active are stopped for a switchover: done(arg,
 * true) once every node downstream has every record, done(arg, false,
 * why) when it did not happen within timeout_ms.
 */
void replication_drain(struct replication *rp, int timeout_ms, replication_ready_fn *done,
    void *arg);

/*
 * Call every tick: a passive node whose applications are stopped follows
 * the active of its epoch (sent once per change, and again when
 * lifeline-repl restarts).
 */
void replication_follow(struct replication *rp, bool apps_stopped);

/*
 * The engine took a new configuration: lifeline-repl takes its
 * [replication] settings too. done(arg, ok, why) when it answered (done
 * may be NULL).
 */
void replication_reload(struct replication *rp, replication_ready_fn *done, void *arg);

/*
 * Start a system check in lifeline-repl (on the active), full or of the
 * touched entries, with rehash reading every file (no remembered hashes):
 * done(arg, id, NULL) with the check's number (its status "check.id"), or
 * done(arg, 0, why).
 */
typedef void replication_check_fn(void *arg, uint64_t id, const char *why);
void replication_check(struct replication *rp, bool full, bool rehash, replication_check_fn *done,
    void *arg);

/*
 * Wait, without blocking the loop, for check number id to end:
 * done(arg, check, NULL) with lifeline-repl's status object of the check
 * (borrowed; its "state" is "running" still when timeout_ms, at most
 * 60000, passed first), or done(arg, NULL, why) when lifeline-repl did
 * not answer.
 */
typedef void replication_check_over_fn(void *arg, json_t *check, const char *why);
void replication_check_wait(struct replication *rp, uint64_t id, int timeout_ms,
    replication_check_over_fn *done, void *arg);

/*
 * How this passive's copy stands, from lifeline-repl's last status: in
 * sync with the active, disconnected from it (in sync as far as it knows,
 * for the caller to judge by how long), known behind (syncing, out of
 * sync, checking), or not known yet (lifeline-repl not yet told this
 * node is passive, or its last status is from before: keep the last view).
 */
enum replication_view { REPL_VIEW_UNKNOWN, REPL_VIEW_IN_SYNC, REPL_VIEW_DISCONNECTED,
	REPL_VIEW_BEHIND };
enum replication_view replication_view(const struct replication *rp);

/* The "replication" object of the status. */
json_t *replication_json(const struct replication *rp);

/* Called with the reason when lifeline-repl dies on this node. */
void replication_on_death(struct replication *rp, void (*fn)(struct engine *e, const char *why));

#endif
