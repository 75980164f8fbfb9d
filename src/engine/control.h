/*
 * The engine's control socket: a UNIX stream socket (mode 0600) in
 * state_dir where the CLI sends one JSON request per line and reads one JSON
 * answer per line (see common/ctl.h). Requests are dispatched through a
 * table given by the caller.
 */
#ifndef LIFELINE_CONTROL_H
#define LIFELINE_CONTROL_H

#include <jansson.h>

struct engine;
struct control;

/* Handle one request; return the answer (the control module frees it). */
typedef json_t *(*control_fn)(struct engine *e, json_t *req);

struct control_command {
	const char *name;
	control_fn  fn;
	const char *help;
};

/*
 * Listen on path. Refuses to start (returns NULL, logged) when another
 * engine already answers there; removes a stale socket left by a crash.
 * The table ends with a {NULL} row.
 */
struct control *control_new(struct engine *e, const char *path,
    const struct control_command *table);
void control_free(struct control *c);

/* Decode and dispatch one request line; exposed for the unit test. */
json_t *control_dispatch(struct engine *e, const struct control_command *table,
    const char *line, size_t len);

#endif
