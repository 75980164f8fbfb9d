/*
 * The engine's one shared object: what lifelined knows about itself and its
 * cluster. Every engine module gets a pointer to it; only lifelined.c
 * creates, reloads and frees it.
 */
#ifndef LIFELINE_ENGINE_H
#define LIFELINE_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"
#include "engine/state.h"

struct event_base;
struct services;
struct control;
struct membership;
struct roles;
struct replication;

enum role { ROLE_PASSIVE, ROLE_ACTIVE };

struct engine {
	struct event_base *base;
	struct config     *conf;         /* replaced whole by a good reload */
	const char        *conf_path;
	enum node_id       self;
	struct node_state  state;        /* persisted: epoch and who was active */
	enum role          role;
	bool               public_claimed; /* public address configured here */
	char               waiting[160]; /* why the node is not active, or "" */
	uint8_t            beat_flags;   /* WIRE_HB_* this node reports in its heartbeats */
	uint64_t           started_ms;
	struct services   *services;
	struct control    *control;
	struct membership *membership;   /* NULL while the node runs alone */
	struct roles      *roles;
	struct replication *replication; /* lifeline-repl, the data plane */
	char               alone[600];   /* why membership could not start, or "" */
	bool               leave_apps;   /* stopping with the applications left running */
	struct {                         /* the active's answer to our last forwarded switchover */
		uint64_t   seq;          /* 0 = none yet */
		bool       started;
		int        target;
		char       reason[256];
	} switch_reply;
};

const char *role_name(enum role role);

#endif
