/*
 * The event log: every role change, refusal and veto, with its reason, in
 * STATE_DIR/events.jsonl (one JSON object per line, appended), and in the
 * daemon's log. `lifeline events` reads the file, so the history survives
 * engine restarts and can be read while the engine is stopped.
 */
#ifndef LIFELINE_EVENTS_H
#define LIFELINE_EVENTS_H

#include <stdint.h>

#define EVENTS_FILE_NAME "events.jsonl"

enum event_level { EV_INFO, EV_WARNING };

struct engine;

/* Open (create) the event file of e's state_dir. 0, or -1 (logged). */
int events_open(struct engine *e);
void events_close(void);

/*
 * Record one event of kind ("role", "veto", "refusal", "channel",
 * "service", "config", "engine") with a message; also logged.
 */
void event(struct engine *e, enum event_level level, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
