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

/*
 * Send peer's agent a plug-in's files to install, or ask it to drop them
 * (files->op); the same channels and answers as agent_engine_start.
 */
struct wire_plugin_files;
int agent_plugin_files(const struct config *conf, enum node_id self, enum node_id peer,
    const struct wire_plugin_files *files, char *msg, size_t msglen);

/*
 * One phase of a config push to peer's agent (req->phase). 0 with the
 * node's answer in done (the config_hash, what was done), or -1 with why
 * in msg: refused and why, or no answer on any channel (each address
 * tried, and what came of it).
 */
struct wire_config_push;
struct wire_config_done;
int agent_config_push(const struct config *conf, enum node_id self, enum node_id peer,
    const struct wire_config_push *req, struct wire_config_done *done, char *msg, size_t msglen);

#endif
