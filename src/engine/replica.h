/*
 * lifelined's handle on lifeline-repl, this node's data plane: it finds the
 * running program or starts it detached, watches it (status polls and a
 * pidfd), keeps its last replication status, and carries the engine's
 * requests to it (protocol: common/replctl.h). Everything runs on the
 * engine's event loop and never blocks it (ARCHITECTURE.md invariant 7),
 * except replica_free, which is called when the engine exits.
 */
#ifndef LIFELINE_REPLICA_H
#define LIFELINE_REPLICA_H

#include <jansson.h>
#include <stdbool.h>

struct event_base;
struct replica;

#define REPLICA_POLL_MS        250   /* a status request this often */
#define REPLICA_START_POLL_MS  100   /* ... and this often while a started program has not answered */
#define REPLICA_SILENT_MS     2000   /* no status answer for this long: the program is down */
#define REPLICA_START_MS     10000   /* a started program still silent after this is reported */
#define REPLICA_STOP_MS       3000   /* replica_free(r, true) waits at most this long */

struct replica_opts {
	const char *state_dir;   /* the socket is STATE_DIR/REPLCTL_SOCKET_NAME */
	const char *conf_path;   /* passed to the program as -f CONF */
	const char *name;        /* this node's identity, passed as -i NAME */
	bool        debug;       /* pass -d: the program logs to stderr, like lifelined -d */
	/*
	 * The program to start. NULL: $LIFELINE_REPL when set and not empty,
	 * else REPLCTL_PROGRAM in the folder of /proc/self/exe. It is run by
	 * path, never searched in PATH.
	 */
	const char *program;
	/*
	 * The program answers: for the first time, after a restart, or after
	 * a silence. The engine must then send the role again, since a
	 * restarted program knows none.
	 */
	void      (*on_up)(void *arg);
	/* The program died or stopped answering; why says which, in words. */
	void      (*on_down)(void *arg, const char *why);
	void       *arg;
};

/*
 * The end of one replica_request. answer is the program's answer line, a
 * JSON object (its "ok" is not checked here), borrowed for the duration of
 * the call: json_incref it to keep it. When there is no answer, answer is
 * NULL and err says why (cannot connect, closed, bad answer, timed out,
 * engine stopping); err is plain ASCII. A callback must not free the
 * replica; it may make new requests and cancel others.
 */
typedef void (*replica_cb)(void *arg, json_t *answer, const char *err);

/*
 * Start watching lifeline-repl. If something already answers on the socket
 * it is used (the program outlives lifelined); if nothing listens there it
 * is started, detached from lifelined (double fork, setsid, stdin from
 * /dev/null, stdout and stderr inherited, not a child of lifelined, so the
 * engine's SIGCHLD reaping never sees it), and polled until it answers. A
 * program that listens but does not answer is never doubled: it is
 * reported down and polled. A program that dies is started again at once,
 * or after a growing delay (0.5 s doubling up to 30 s) while it keeps
 * failing: dying before it answers, or within 10 s of its first answer.
 * on_up and on_down are never called from inside replica_new. The process
 * must ignore SIGPIPE (lifelined does): a program that closes a connection
 * while a request is being written must not kill the engine.
 * Returns NULL, having logged why, when the socket path is too long.
 */
struct replica *replica_new(struct event_base *base, const struct replica_opts *o);

/*
 * Send req (stolen) on a connection of its own, so that a request answered
 * late ("role active", "drain") never holds up the status polls, and call
 * cb(arg, ...) exactly once: with the first answer line, or with an error
 * when the connection fails or nothing arrives within timeout_ms (> 0).
 * cb may be NULL. cb is never called from inside replica_request. Returns 0,
 * or -1 when the replica is being freed (then cb is never called).
 * {"cmd":"stop"} sent this way ends the program and the next poll starts
 * it anew (a restart); to stop it for good use replica_free(r, true).
 */
int replica_request(struct replica *r, json_t *req, int timeout_ms, replica_cb cb, void *arg);

/*
 * Send req (stolen) and wait for its answer, blocking, within timeout_ms:
 * only while the engine exits. The answer (decref it), or NULL with err.
 */
json_t *replica_call_sync(struct replica *r, json_t *req, int timeout_ms, char *err,
    size_t errlen);

/*
 * Drop every pending request whose arg is arg, without calling its
 * callback, and close its connection. For an owner that is being freed.
 */
void replica_cancel(struct replica *r, void *arg);

/*
 * The replication object of the last status answer (a new reference to the
 * cached object: read it, do not change it) while the program answers;
 * otherwise a new {"state":"disconnected", "error":WHY} where WHY says what
 * is wrong: not started yet, cannot spawn PATH: ERROR, no answer for N ms,
 * the pid that exited, a start that takes long.
 */
json_t *replica_status(const struct replica *r);

/*
 * Whether the program counts as up: it answered a status request within
 * the last REPLICA_SILENT_MS, still listens, and its process has not ended.
 */
bool replica_up(const struct replica *r);

/*
 * Stop watching and free r; NULL is allowed. Every pending request's
 * callback is called once, with a NULL answer and err "engine stopping"
 * (an owner freed earlier should have cancelled its requests). The program
 * is left running unless stop_program: then {"cmd":"stop"} is sent and its
 * exit awaited, both within REPLICA_STOP_MS in all, blocking, since the
 * engine is exiting. A program that this handle started and that never
 * answered is sent SIGTERM instead when the stop request finds nobody.
 */
void replica_free(struct replica *r, bool stop_program);

#endif
