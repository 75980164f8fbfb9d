/*
 * The node agent: what lifeline-repl answers for the other nodes while this
 * node's engine is stopped. It listens on every channel address, port
 * WIRE_AGENT_PORT, with the cluster's mutual TLS, and takes one request per
 * connection: ENGINE_START, from `lifeline engine start --cluster` given on
 * another node. The agent authenticates and parses; what "start the
 * engine" means is its owner's callback.
 *
 *   peer -> agent   HELLO (kind WIRE_KIND_AGENT), ENGINE_START
 *   agent -> peer   HELLO, then ENGINE_STARTED (what was done) or REFUSE (why not)
 */
#ifndef LIFELINE_AGENT_H
#define LIFELINE_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"

struct event_base;
struct agent;

/*
 * Start the engine for a request of peer: 0 with what was done in msg
 * ("started lifelined (pid 12)", "lifelined already runs"), or -1 with why
 * not. Runs on the loop; must not block.
 */
typedef int agent_start_fn(void *arg, enum node_id peer, char *msg, size_t msglen);

/*
 * Listen on every channel address of self. NULL with err when no address
 * could be listened on or the TLS material is unusable.
 */
struct agent	*agent_new(struct event_base *base, const struct config *conf, enum node_id self,
		    agent_start_fn *start, void *arg, char *err, size_t errlen);
void		 agent_free(struct agent *a);

#endif
