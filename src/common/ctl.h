/*
 * The control protocol between lifeline (CLI) and lifelined: one JSON object
 * per line over a UNIX stream socket. A request is {"cmd": NAME, ...}; the
 * answer is {"ok": true, ...} or {"ok": false, "error": "why"}.
 */
#ifndef LIFELINE_CTL_H
#define LIFELINE_CTL_H

#include <jansson.h>
#include <stdint.h>

#define CTL_SOCKET_NAME "lifelined.sock"     /* inside state_dir */
#define CTL_MAX_LINE    (1024 * 1024)        /* a longer line is refused */

/*
 * Send req to the engine at path and wait up to timeout_ms for one answer.
 * Returns the answer (caller frees), or NULL with a reason in err
 * ("cannot connect to /var/lib/lifeline/lifelined.sock: No such file ...").
 */
json_t *ctl_call(const char *path, json_t *req, int timeout_ms,
    char *err, size_t errlen);

/* Build the answers of the protocol. Both steal nothing from the caller. */
json_t *ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
json_t *ctl_ok(void);

/*
 * Decode one request line. Returns the object, or NULL with a message in
 * err naming what was wrong and what was expected.
 */
json_t *ctl_parse_request(const char *line, size_t len, char *err, size_t errlen);

/*
 * The arguments of a check_wait request (lifelined's, and lifeline-repl's
 * in common/replctl.h): "id" from 1, "timeout_ms" from 0 to
 * CTL_CHECK_WAIT_MAX_MS. NULL when both are right, else the error answer.
 */
#define CTL_CHECK_WAIT_MAX_MS  60000   /* one check_wait waits at most this long */
json_t *ctl_check_wait_args(json_t *req, uint64_t *id, int *timeout_ms);

#endif
