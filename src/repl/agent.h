/*
 * The node agent: what lifeline-repl answers for the other nodes while this
 * node's engine is stopped. It listens on every channel address, port
 * WIRE_AGENT_PORT, with the cluster's mutual TLS, and takes one request per
 * connection: ENGINE_START, from `lifeline engine start --cluster` given on
 * another node, PLUGIN_FILES, from `lifeline plugin install|uninstall`, or
 * CONFIG_PUSH, one phase of `lifeline config push` (repl/configstage.h).
 * The agent authenticates and parses; what a request means is its owner's
 * callback.
 *
 *   peer -> agent   HELLO (kind WIRE_KIND_AGENT), ENGINE_START, PLUGIN_FILES
 *                   or CONFIG_PUSH
 *   agent -> peer   HELLO, then ENGINE_STARTED, PLUGIN_DONE or CONFIG_DONE
 *                   (what was done) or REFUSE (why not)
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
 * Put or drop a plug-in's files for a request of peer (names checked by
 * the wire decoder): 0 with what was done in msg, or -1 with why not.
 * Runs on the loop.
 */
struct wire_plugin_files;
typedef int agent_plugin_fn(void *arg, enum node_id peer, const struct wire_plugin_files *req,
    char *msg, size_t msglen);

/*
 * One phase of a config push from peer (decoded and checked): 0 with
 * done filled in (the config_hash, what was done), or -1 with why not in
 * done->text. Runs on the loop.
 */
struct wire_config_push;
struct wire_config_done;
typedef int agent_config_fn(void *arg, enum node_id peer, const struct wire_config_push *req,
    struct wire_config_done *done);

/*
 * Listen on every channel address of self. NULL with err when no address
 * could be listened on or the TLS material is unusable.
 */
struct agent	*agent_new(struct event_base *base, const struct config *conf, enum node_id self,
		    agent_start_fn *start, void *arg, char *err, size_t errlen);
/* Take PLUGIN_FILES requests too (refused until this is called). */
void		 agent_on_plugin(struct agent *a, agent_plugin_fn *fn);
/* Take CONFIG_PUSH requests too (refused until this is called). */
void		 agent_on_config(struct agent *a, agent_config_fn *fn);
void		 agent_free(struct agent *a);

#endif
