/*
 * The node's persisted role state: the epoch and the node that was active
 * in it. Written with write, fsync, rename before the node acts on it
 * (invariant 1), read back at start-up.
 */
#ifndef LIFELINE_STATE_H
#define LIFELINE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATE_FILE_NAME "role.json"

struct node_state {
	uint64_t epoch;
	int      active;          /* enum node_id active in this epoch, -1 none */
	bool     ever_in_sync;    /* a stand-by was once in sync with the active */
};

/* A cluster that was just created: the primary active in epoch 1. */
void state_new_cluster(struct node_state *st);

/*
 * Load STATE_DIR/role.json. Returns 1 when loaded, 0 when the file does not
 * exist (a new node), -1 with a message in err when it exists but is bad.
 */
int state_load(const char *state_dir, struct node_state *st, char *err, size_t errlen);

/* Persist durably. Returns 0 or -1 (logged). */
int state_save(const char *state_dir, const struct node_state *st);

#endif
