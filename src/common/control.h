/*
 * A daemon's control socket: a UNIX stream socket (mode 0600) in state_dir
 * where a client sends one JSON request per line and reads one JSON answer
 * per line (see common/ctl.h), served on the daemon's libevent loop.
 * Requests are dispatched through a table given by the caller. lifelined
 * serves the CLI with it, lifeline-repl serves lifelined.
 */
#ifndef LIFELINE_CONTROL_H
#define LIFELINE_CONTROL_H

#include <jansson.h>

struct event_base;
struct control;
struct control_later;

/*
 * Handle one request; return the answer (the control module frees it). A
 * request that is answered later (when something it waits for is done)
 * returns NULL and keeps later for control_answer; later is NULL when the
 * caller cannot wait (unit tests, fuzzing), and then NULL is an error.
 */
typedef json_t *(*control_fn)(void *ctx, json_t *req, struct control_later *later);

struct control_command {
	const char *name;
	control_fn  fn;
	const char *help;
};

/*
 * Listen on path; handlers get ctx. Refuses to start (returns NULL, logged)
 * when another daemon already answers there; removes a stale socket left
 * by a crash. The table ends with a {NULL} row.
 */
struct control *control_new(struct event_base *base, void *ctx, const char *path,
    const struct control_command *table);
void control_free(struct control *c);

/*
 * Answer a request that was kept for later (answer is stolen). When its
 * client went away meanwhile the answer is dropped. Either way later is
 * freed: call this exactly once for each request kept.
 */
void control_answer(struct control_later *later, json_t *answer);

/* Decode and dispatch one request line; exposed for the unit test. */
json_t *control_dispatch(void *ctx, const struct control_command *table,
    const char *line, size_t len, struct control_later *later);

#endif
