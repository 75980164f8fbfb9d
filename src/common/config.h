/*
 * The cluster configuration (lifeline.conf, INI): loading with inih, full
 * validation with FILE:LINE messages, the normalized text that -nv prints,
 * and the hash of that text that every node reports as config_hash.
 */
#ifndef LIFELINE_CONFIG_H
#define LIFELINE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <net/if.h>

#include "common/values.h"

#define CONFIG_DEFAULT_PATH   "/etc/lifeline/lifeline.conf"
#define STATE_DIR_DEFAULT     "/var/lib/lifeline"
#define IDENTITY_DEFAULT_PATH "/etc/lifeline/identity"
#define CONFIG_MAX_CHANNELS   4
#define CONFIG_MAX_PING       8

enum cluster_mode { MODE_HA, MODE_DR, MODE_HA_DR };
enum node_id { NODE_PRIMARY, NODE_SECONDARY, NODE_TERTIARY, NODE_COUNT };
enum repl_mode { REPL_ASYNC, REPL_FSYNC, REPL_SYNC };
enum compress_mode { COMPRESS_OFF, COMPRESS_ZSTD, COMPRESS_AUTO };

struct node_conf {
	bool            present;           /* a [node NAME] section exists */
	int             line;              /* line of its section header */
	struct ipaddr   channels[CONFIG_MAX_CHANNELS];
	size_t          nchannels;
	char            public_if[IF_NAMESIZE];
	struct ipaddr   public_addr;       /* always with a prefix */
	struct ipaddr   management;        /* always with a prefix */
};

enum stop_kind { STOP_SIGNAL, STOP_EXEC };
enum check_kind { CHECK_PID, CHECK_TCP, CHECK_EXEC, CHECK_PLUGIN };
enum action_kind { ACTION_RESTART, ACTION_SWITCHOVER, ACTION_LOG, ACTION_TASK, ACTION_IGNORE };

struct service_action {
	enum action_kind kind;
	char            *task;             /* ACTION_TASK only */
};

#define SERVICE_MAX_ACTIONS 8

struct service_conf {
	char            *name;
	int              line;
	char            *start;            /* command line, run by /bin/sh -c, or NULL */
	char            *unit;             /* a systemd unit instead, or NULL */
	enum stop_kind   stop_kind;
	int              stop_signal;      /* STOP_SIGNAL: signal number */
	char            *stop_cmd;         /* STOP_EXEC */
	uint64_t         stop_timeout_ms;
	enum check_kind  check_kind;
	struct ipaddr    check_addr;       /* CHECK_TCP */
	uint16_t         check_port;       /* CHECK_TCP */
	char            *check_cmd;        /* CHECK_EXEC */
	char            *check_plugin;     /* CHECK_PLUGIN: the plug-in's name */
	char            *check_name;       /* CHECK_PLUGIN: its check's name */
	uint64_t         check_interval_ms;
	uint64_t         check_timeout_ms;
	struct service_action actions[SERVICE_MAX_ACTIONS];
	size_t           nactions;
	uint64_t         window_ms;        /* failure count resets after this */
	uint64_t         start_timeout_ms; /* from a start to its first passed check */
	struct strlist   after;            /* services started before this one */
};

struct config {
	char            *path;

	/* [cluster] */
	char            *name;
	enum cluster_mode mode;
	char            *state_dir;
	char            *tls_dir;

	struct node_conf nodes[NODE_COUNT];

	/* [failover] */
	uint64_t         heartbeat_ms;
	uint64_t         timeout_ms;
	struct ipaddr    ping[CONFIG_MAX_PING];
	size_t           nping;            /* 0 means: the default gateway */
	bool             auto_failover;

	/* [replication] */
	enum repl_mode   repl_mode;
	uint64_t         queue_bytes;
	enum compress_mode compress;
	uint64_t         bandwidth;        /* bytes/s on the DR hop, 0 = unlimited */

	/* [protect] */
	struct strlist   protect_data;
	struct strlist   protect_config;
	struct strlist   protect_service;  /* names: a [service NAME] or a unit */
	struct strlist   protect_exclude;

	/* [service NAME] sections, in file order */
	struct service_conf *services;
	size_t           nservices;

	char             hash[65];         /* hex SHA-256 of the normalized text */
};

/*
 * Load and fully validate path. On success returns a config; on failure
 * returns NULL and writes "FILE:LINE: what is wrong, what is expected"
 * (LINE is 0 when the problem is not on one line) into err.
 */
struct config *config_load(const char *path, char *err, size_t errlen);

/* Same, from a string; name stands in for FILE in messages. */
struct config *config_parse_string(const char *text, const char *name,
    char *err, size_t errlen);

void config_free(struct config *conf);

/*
 * The [cluster] state_dir a file names, read leniently: a file with errors
 * elsewhere still answers, so the CLI finds a running engine even while
 * its configuration file is being fixed. STATE_DIR_DEFAULT when the file or
 * the key is missing or the value is not an absolute path. Caller frees.
 */
char *config_peek_state_dir(const char *path);

/* The normalized configuration, every default filled in (what -nv prints). */
void config_print(FILE *out, const struct config *conf);

/* Which nodes the mode requires: ha and dr a pair, ha+dr all three. */
bool config_mode_has(enum cluster_mode mode, enum node_id node);

/*
 * The channels between self and peer: each pair of their channel addresses
 * in one subnet, in the order of self's list, then peer's. Returns how many
 * (at most max) went to out.
 */
struct channel_pair {
	struct ipaddr local, remote;
};
size_t config_channel_pairs(const struct config *conf, enum node_id self, enum node_id peer,
    struct channel_pair *out, size_t max);

/*
 * The replication chain when active is the active node: the nodes of the
 * mode in the order the journal flows, active first, then its HA partner,
 * then the DR node (a DR node that is active ships to the primary, which
 * relays to the secondary). Returns the count (0 when active is not a node
 * of the mode).
 */
size_t config_chain(enum cluster_mode mode, enum node_id active, enum node_id chain[NODE_COUNT]);

const char *node_name(enum node_id id);
int         node_from_name(const char *name);           /* -1 if unknown */
const char *mode_name(enum cluster_mode mode);
const char *repl_mode_name(enum repl_mode mode);

/*
 * Read this node's identity: override when not NULL, else the one word in
 * path (IDENTITY_DEFAULT_PATH when NULL). Returns a node_id, or -1 with a
 * message in err.
 */
int identity_load(const char *override, const char *path, char *err, size_t errlen);

/* The [service NAME] section named name, or NULL (a systemd unit). */
const struct service_conf *config_service(const struct config *conf, const char *name);

/*
 * A service conf with every default, for a protected systemd unit that
 * has no section of its own: unit = name. Free with config_service_clear.
 */
void config_service_default(struct service_conf *s, const char *name);
void config_service_clear(struct service_conf *s);

/*
 * The i-th known key (0, 1, ... until NULL): its name, and through section
 * the section word it belongs to ("cluster", "node", "failover",
 * "replication", "protect", "service"). For documentation checks.
 */
const char *config_key(size_t i, const char **section);

/* The longest line lifeline.conf may hold, in characters. */
#define CONFIG_MAX_LINE       197

#endif
