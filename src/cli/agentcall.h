/*
 * The CLI's side of the node agent (repl/agent.h): one blocking request to
 * another node's lifeline-repl over the cluster's TLS, on the channels.
 */
#ifndef LIFELINE_AGENTCALL_H
#define LIFELINE_AGENTCALL_H

#include <stddef.h>

#include "common/config.h"

/*
 * Ask peer's agent to start its engine, trying each channel pair in turn
 * (each within a few seconds). 0 with what the peer did in msg, or -1 with
 * why not in msg (no answer on any channel, refused and why).
 */
int agent_engine_start(const struct config *conf, enum node_id self, enum node_id peer,
    char *msg, size_t msglen);

#endif
