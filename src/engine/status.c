/*
 * Builds the status object. Fields the engine cannot know yet are reported
 * as unknown (null, "disconnected", up: false) rather than guessed: an
 * administrator acts on this output.
 */
#include "engine/status.h"
#include "engine/replication.h"
#include "engine/engine.h"
#include "engine/membership.h"
#include "engine/roles.h"
#include "common/wire.h"
#include "engine/services.h"
#include "common/util.h"

#include <arpa/inet.h>

const char *
role_name(enum role role)
{
	return role == ROLE_ACTIVE ? "active" : "passive";
}

/* An address without its prefix, as status shows it. */
static const char *
addr_only(const struct ipaddr *a, char *buf, size_t len)
{
	struct ipaddr bare = *a;

	bare.prefix = -1;
	return ipaddr_str(&bare, buf, len);
}

/*
 * The configured channels to peer while membership is not running: each pair of channel addresses
 * that share a subnet (the prefix of either side decides).
 */
static json_t *
channels_json(const struct config *conf, enum node_id self, enum node_id peer)
{
	const struct node_conf *a = &conf->nodes[self], *b = &conf->nodes[peer];
	json_t *arr = json_array();

	for (size_t i = 0; i < a->nchannels; i++) {
		for (size_t j = 0; j < b->nchannels; j++) {
			const struct ipaddr *x = &a->channels[i], *y = &b->channels[j];
			char local[64], remote[64];

			if (!((x->prefix >= 0 && ipaddr_in_subnet(y, x)) ||
			    (y->prefix >= 0 && ipaddr_in_subnet(x, y))))
				continue;
			json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:b, s:n}",
			    "peer", node_name(peer),
			    "local", addr_only(x, local, sizeof(local)),
			    "remote", addr_only(y, remote, sizeof(remote)),
			    "up", 0, "rtt_ms"));
		}
	}
	return arr;
}

/*
 * One entry per node of the mode. A peer's role is what its last heartbeat
 * said while it is alive; a silent peer's role is unknown, not remembered.
 */
static json_t *
nodes_json(const struct engine *e)
{
	json_t *arr = json_array();

	for (int id = 0; id < NODE_COUNT; id++) {
		struct peer_view v = { .role = -1 };
		const char *role = "unknown";
		json_t *chans;

		if (!config_mode_has(e->conf->mode, id))
			continue;
		if (id == (int)e->self) {
			json_array_append_new(arr, json_pack("{s:s, s:s, s:b, s:[], s:s#}",
			    "identity", node_name(id), "role", role_name(e->role),
			    "reachable", 1, "channels", "config_hash", e->conf->hash,
			    (int)(2 * WIRE_HB_HASH_SIZE)));
			continue;
		}
		if (e->membership != NULL) {
			membership_peer(e->membership, id, &v);
			chans = membership_channels_json(e->membership, id);
		} else
			chans = channels_json(e->conf, e->self, id);
		if (v.alive && v.role >= 0)
			role = role_name(v.role);
		json_array_append_new(arr, json_pack("{s:s, s:s, s:b, s:o, s:b, s:o, s:s?}",
		    "identity", node_name(id), "role", role, "reachable", v.alive,
		    "epoch", v.met ? json_integer((json_int_t)v.epoch) : json_null(),
		    "in_sync", v.alive && (v.flags & WIRE_HB_IN_SYNC),
		    "channels", chans,
		    "config_hash", v.config_known ? v.config_hash : NULL));
	}
	return arr;
}

/*
 * The reachable peers that have run another configuration than this node
 * for longer than a push takes (membership.h): [{"identity", "config_hash"}],
 * each hash the first 16 hex digits, as heartbeats carry it.
 */
static json_t *
mismatch_json(const struct engine *e)
{
	json_t *arr = json_array();

	for (int id = 0; id < NODE_COUNT && e->membership != NULL; id++) {
		struct peer_view v;

		if (id == (int)e->self || !config_mode_has(e->conf->mode, id))
			continue;
		membership_peer(e->membership, id, &v);
		if (v.config_mismatch)
			json_array_append_new(arr, json_pack("{s:s, s:s}", "identity", node_name(id),
			    "config_hash", v.config_hash));
	}
	return arr;
}

json_t *
status_json(const struct engine *e)
{
	const struct config *conf = e->conf;
	const struct node_conf *me = &conf->nodes[e->self];
	char pub[64];

	addr_only(&me->public_addr, pub, sizeof(pub));
	return json_pack("{s:s, s:s, s:I, s:s, s:o, s:s, s:s, s:s?, s:s?, s:I, s:o, "
	    "s:{s:s, s:s, s:b, s:b}, s:o, s:o, s:o, s:o}",
	    "cluster", conf->name,
	    "mode", mode_name(conf->mode),
	    "epoch", (json_int_t)e->state.epoch,
	    "config_hash", conf->hash,
	    "config_mismatch", mismatch_json(e),
	    "self", node_name(e->self),
	    "role", role_name(e->role),
	    "waiting", e->waiting[0] != '\0' ? e->waiting : NULL,
	    "alone", e->alone[0] != '\0' ? e->alone : NULL,
	    "uptime_s", (json_int_t)((now_mono_ms() - e->started_ms) / 1000),
	    "nodes", nodes_json(e),
	    "public", "ip", pub, "interface", me->public_if,
	    "configured", e->public_claimed, "filtered", roles_filtered(e->roles),
	    "replication", e->replication != NULL ? replication_json(e->replication) :
	    json_pack("{s:s, s:s}", "mode", repl_mode_name(conf->repl_mode), "state", "disconnected"),
	    "services", services_json(e->services),
	    "decision", e->roles != NULL ? roles_json(e->roles) : json_null(),
	    "switchover_reply", e->switch_reply.seq == 0 ? json_null() :
	    json_pack("{s:I, s:b, s:s, s:s}", "seq", (json_int_t)e->switch_reply.seq,
	    "started", e->switch_reply.started, "target", node_name(e->switch_reply.target),
	    "reason", e->switch_reply.reason));
}
