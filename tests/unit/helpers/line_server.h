/*
 * A fake of a daemon's control socket for unit tests: a thread that
 * listens on a UNIX socket, takes each line any client sends, and hands it
 * to a callback that may answer on the same connection. The fake
 * lifeline-repl of test_replication and test_roles and the fake engine of
 * test_commands are this with a callback each.
 */
#ifndef LIFELINE_TEST_LINE_SERVER_H
#define LIFELINE_TEST_LINE_SERVER_H

#include <jansson.h>

struct line_server;

/* Called on the server's thread for every complete line (without its newline). */
typedef void line_fn(void *arg, int fd, const char *line);

/* Listen on path (an old socket there is removed) and serve; NULL when that fails. */
struct line_server *line_server_start(const char *path, line_fn *fn, void *arg);

/* Stop serving, close every connection and the socket; NULL is fine. */
void line_server_stop(struct line_server *ls);

/* Send answer (stolen) as one line of compact JSON. */
void line_server_send(int fd, json_t *answer);

#endif
