/*
 * The lab's address plan and network plumbing: which hosts a mode has,
 * every link of every host with its address (one static table), the
 * configuration files the lab writes, and the ip(8) commands that build and
 * cut the namespaces' links.
 */
#ifndef LIFELINE_LABNET_H
#define LIFELINE_LABNET_H

#include "cli/labapp.h"

#include <stdbool.h>
#include <stddef.h>

enum lab_mode { LAB_HA, LAB_DR, LAB_HA_DR, LAB_MODE_COUNT };

/* Hosts that have a namespace of their own; the switch is not a host. */
enum lab_host { LAB_PRIMARY, LAB_SECONDARY, LAB_TERTIARY, LAB_CLIENT, LAB_HOST_COUNT };

/* The networks a node can lose with `lab cut`, as a bit mask. */
enum lab_cut {
	LAB_CUT_PUBLIC = 1 << 0,
	LAB_CUT_CH_PS = 1 << 1,            /* one channel at a time, for redundancy tests */
	LAB_CUT_MANAGEMENT = 1 << 2,
	LAB_CUT_CH_PS2 = 1 << 3,
	LAB_CUT_CH_PT = 1 << 4,
	LAB_CUT_CH_ST = 1 << 5,
	LAB_CUT_CHANNEL = LAB_CUT_CH_PS | LAB_CUT_CH_PS2 | LAB_CUT_CH_PT | LAB_CUT_CH_ST,
	LAB_CUT_ALL = LAB_CUT_PUBLIC | LAB_CUT_CHANNEL | LAB_CUT_MANAGEMENT,
};

enum lab_netid {
	LAB_NET_PUBLIC_A, LAB_NET_PUBLIC_DR, LAB_NET_MANAGEMENT,
	LAB_NET_CH_PS, LAB_NET_CH_PS2, LAB_NET_CH_PT, LAB_NET_CH_ST,
	LAB_NET_COUNT
};

/* One LAN of the lab: a bridge in the switch namespace. */
struct lab_network {
	const char     *name;
	const char     *bridge;         /* in the switch namespace */
	const char     *subnet;         /* with prefix */
	const char     *gateway;        /* the switch's address with prefix, or NULL */
	const char     *public_ip;      /* the service address on a public LAN, or NULL */
	enum lab_cut    kind;
};

/* One interface of one host, plugged into one network. */
struct lab_link {
	unsigned        modes;          /* bit (1 << enum lab_mode) per mode */
	enum lab_host   host;
	const char     *ifname;         /* inside the host's namespace */
	enum lab_netid  net;
	const char     *addr;           /* with prefix */
};

extern const struct lab_network lab_networks[LAB_NET_COUNT];
extern const struct lab_link lab_links[];
extern const size_t lab_nlinks;

#define LAB_NS_MAX 64               /* room for any namespace name */
#define LAB_SWITCH "switch"

const char *lab_mode_name(enum lab_mode mode);
int         lab_mode_parse(const char *s);             /* -1 if unknown */
const char *lab_host_name(enum lab_host host);
int         lab_host_parse(const char *s);             /* -1 if unknown */
const char *lab_cut_name(enum lab_cut cut);            /* one bit, or ALL */
int         lab_cut_parse(const char *s);              /* -1 if unknown */

bool lab_host_in_mode(enum lab_mode mode, enum lab_host host);
bool lab_link_in_mode(const struct lab_link *l, enum lab_mode mode);
bool lab_is_node(enum lab_host host);                  /* not the client */

/* The public LAN of host in mode, and its gateway and public addresses. */
enum lab_netid lab_public_net(enum lab_mode mode, enum lab_host host);

/*
 * The namespace prefix of a lab folder: "ll-" and six hex digits of a hash
 * of the folder's real path, so two labs in two folders never collide.
 */
void lab_prefix(const char *realdir, char *out, size_t len);
/* "PREFIX-primary", "PREFIX-switch". */
void lab_ns_name(const char *prefix, const char *what, char *out, size_t len);

/*
 * The text of lifeline.conf for mode (the same on every node), and of the
 * sample application's sample.conf. bindir is the absolute folder of the
 * build's programs; app the protected application (cli/labapp.h). Both
 * are malloc'd.
 */
char *lab_config_text(enum lab_mode mode, const char *replication, const char *bindir,
    enum lab_app app);
char *lab_sample_config_text(enum lab_mode mode);

/*
 * Build the switch, every host namespace and every link of mode. Returns 0,
 * or -1 with the failing command and its exit code in err. The namespaces
 * it made are appended to made[] (at most LAB_HOST_COUNT + 1 names of
 * LAB_NS_MAX) even on failure, so the caller can remove them.
 */
int labnet_create(const char *prefix, enum lab_mode mode,
    char made[][LAB_NS_MAX], size_t *nmade, char *err, size_t errlen);

/*
 * Make one host's namespace and links again (after labnet_delete_host), its
 * links up or left down. Returns 0, or -1 with err.
 */
int labnet_create_host(const char *prefix, enum lab_mode mode, enum lab_host host,
    bool up, char *err, size_t errlen);

/* Remove a host's namespace and its veth pairs; 0 when gone. */
int labnet_delete_host(const char *prefix, enum lab_mode mode, enum lab_host host);

/* Delete one namespace (ip netns del). */
int labnet_delete_ns(const char *ns);
bool labnet_ns_exists(const char *ns);

/*
 * Set the links of host that belong to the networks in mask up or down.
 * Bringing eth0 up restores its default route. Returns 0, or -1 with err.
 */
int labnet_set_links(const char *prefix, enum lab_mode mode, enum lab_host host,
    unsigned mask, bool up, char *err, size_t errlen);

#endif
