/*
 * The status object of `lifeline status --json` (CONTRACT.md), built from
 * what the engine knows now.
 */
#ifndef LIFELINE_STATUS_H
#define LIFELINE_STATUS_H

#include <jansson.h>

struct engine;

json_t *status_json(const struct engine *e);

#endif
