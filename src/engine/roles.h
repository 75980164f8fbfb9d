/*
 * The role state machine. A node starts passive and hidden; every
 * heartbeat it asks decide() what to do and does it, in the order the
 * invariants require: the epoch is persisted before a node serves, the
 * filter is lifted only after that, and a demoted node is hidden first and
 * stops its services after.
 */
#ifndef LIFELINE_ROLES_H
#define LIFELINE_ROLES_H

#include <jansson.h>
#include <stdbool.h>

struct engine;
struct roles;

/*
 * Hide the public IP (before anything else: invariant 2), start the probes
 * of the public network and the decision tick. Returns NULL with a reason
 * in err when the node cannot be hidden: then it must not run at all.
 * With resume_active the node was the active of its persisted epoch when
 * its engine stopped with the applications left running: it is not hidden
 * and starts active (a peer in a higher epoch still demotes it at once).
 */
struct roles *roles_new(struct engine *e, bool resume_active, char *err, size_t errlen);

/* Stop deciding: the engines of the cluster are being stopped. */
void roles_hold(struct roles *r);

/* Stop the tick and the probes (the role is left as it is). */
void roles_free(struct roles *r);

/* {"decision", "reason", "veto", "ping_ok", "filtered"} for status. */
json_t *roles_json(const struct roles *r);

/*
 * A managed switchover to target, or to the default (the HA partner of the
 * active; from the tertiary, the primary) when target is -1. On the active
 * it starts at once: hide, stop the services, release the address, then
 * persist the next epoch naming the target, which takes over when its
 * heartbeats carry that epoch. On another node the request is sent to the
 * active. *resolved gets the target. Returns 0, or -1 with why in err.
 */
int roles_switchover(struct roles *r, int target, int *resolved, char *err, size_t errlen);

/*
 * lifeline make-active --force: the administrator makes this node active
 * because the active site is lost. Refused while the active node is heard
 * (a switchover is the clean way then). The new epoch is above every epoch
 * this node has seen. Returns 0, or -1 with why in err.
 */
int roles_make_active(struct roles *r, char *err, size_t errlen);

/* Whether the hiding filter is in place now. */
bool roles_filtered(const struct roles *r);

#endif
