/*
 * The lab's address plan, in two tables that read as the whole network, and
 * the plumbing that turns them into namespaces, bridges and veth pairs.
 * Every link of a host goes to a bridge in the switch namespace, so that a
 * link cut on one node leaves the carrier of its peers up.
 */
#include "cli/labapp.h"
#include "cli/labnet.h"
#include "common/util.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HA    (1u << LAB_HA)
#define DR    (1u << LAB_DR)
#define HADR  (1u << LAB_HA_DR)
#define ALL   (HA | DR | HADR)

const struct lab_network lab_networks[LAB_NET_COUNT] = {
	/* name             bridge     subnet              gateway            public IP */
	[LAB_NET_PUBLIC_A] =
	{ "public site A",  "br-pub",  "192.0.2.0/24",     "192.0.2.1/24",    "192.0.2.10/24",  LAB_CUT_PUBLIC },
	[LAB_NET_PUBLIC_DR] =
	{ "public DR site", "br-dr",   "198.18.0.0/24",    "198.18.0.1/24",   "198.18.0.10/24", LAB_CUT_PUBLIC },
	[LAB_NET_MANAGEMENT] =
	{ "management",     "br-mgmt", "198.51.100.0/24",  "198.51.100.1/24", NULL,             LAB_CUT_MANAGEMENT },
	[LAB_NET_CH_PS] =
	{ "channel P-S",    "br-ps",   "203.0.113.0/29",   NULL,              NULL,             LAB_CUT_CH_PS },
	[LAB_NET_CH_PS2] =
	{ "channel P-S 2",  "br-ps2",  "203.0.113.24/29",  NULL,              NULL,             LAB_CUT_CH_PS2 },
	[LAB_NET_CH_PT] =
	{ "channel P-T",    "br-pt",   "203.0.113.8/29",   NULL,              NULL,             LAB_CUT_CH_PT },
	[LAB_NET_CH_ST] =
	{ "channel S-T",    "br-st",   "203.0.113.16/29",  NULL,              NULL,             LAB_CUT_CH_ST },
};

/*
 * Every interface of the lab. A node's eth0 has the node's own address on
 * its public LAN (deprecated, see link_add); the engine adds the public IP
 * when the node becomes active. Channel interfaces are named
 * in the order their addresses appear in the node's `channel =` line.
 */
const struct lab_link lab_links[] = {
	/* modes    host           ifname   network              address */
	{ ALL,      LAB_PRIMARY,   "eth0",  LAB_NET_PUBLIC_A,    "192.0.2.11/24" },
	{ ALL,      LAB_PRIMARY,   "mgmt0", LAB_NET_MANAGEMENT,  "198.51.100.11/24" },
	{ ALL,      LAB_PRIMARY,   "ch0",   LAB_NET_CH_PS,       "203.0.113.1/29" },
	{ ALL,      LAB_PRIMARY,   "ch1",   LAB_NET_CH_PS2,      "203.0.113.25/29" },
	{ HADR,     LAB_PRIMARY,   "ch2",   LAB_NET_CH_PT,       "203.0.113.9/29" },

	{ HA | HADR, LAB_SECONDARY, "eth0", LAB_NET_PUBLIC_A,    "192.0.2.12/24" },
	{ DR,       LAB_SECONDARY, "eth0",  LAB_NET_PUBLIC_DR,   "198.18.0.12/24" },
	{ ALL,      LAB_SECONDARY, "mgmt0", LAB_NET_MANAGEMENT,  "198.51.100.12/24" },
	{ ALL,      LAB_SECONDARY, "ch0",   LAB_NET_CH_PS,       "203.0.113.2/29" },
	{ ALL,      LAB_SECONDARY, "ch1",   LAB_NET_CH_PS2,      "203.0.113.26/29" },
	{ HADR,     LAB_SECONDARY, "ch2",   LAB_NET_CH_ST,       "203.0.113.17/29" },

	{ HADR,     LAB_TERTIARY,  "eth0",  LAB_NET_PUBLIC_DR,   "198.18.0.13/24" },
	{ HADR,     LAB_TERTIARY,  "mgmt0", LAB_NET_MANAGEMENT,  "198.51.100.13/24" },
	{ HADR,     LAB_TERTIARY,  "ch0",   LAB_NET_CH_PT,       "203.0.113.10/29" },
	{ HADR,     LAB_TERTIARY,  "ch1",   LAB_NET_CH_ST,       "203.0.113.18/29" },

	{ ALL,      LAB_CLIENT,    "eth0",  LAB_NET_PUBLIC_A,    "192.0.2.100/24" },
};
const size_t lab_nlinks = nitems(lab_links);

static const char *mode_names[LAB_MODE_COUNT] = { "ha", "dr", "ha+dr" };
static const char *host_names[LAB_HOST_COUNT] = {
	"primary", "secondary", "tertiary", "client"
};

static const struct {
	const char     *name;
	enum lab_cut    cut;
} cut_names[] = {
	{ "public", LAB_CUT_PUBLIC },
	{ "channel", LAB_CUT_CHANNEL },
	{ "channel-ps", LAB_CUT_CH_PS },
	{ "channel-ps2", LAB_CUT_CH_PS2 },
	{ "channel-pt", LAB_CUT_CH_PT },
	{ "channel-st", LAB_CUT_CH_ST },
	{ "management", LAB_CUT_MANAGEMENT },
	{ "all", LAB_CUT_ALL },
};

#define SAMPLE_PORT 8080

const char *
lab_mode_name(enum lab_mode mode)
{
	return (unsigned)mode < LAB_MODE_COUNT ? mode_names[mode] : "?";
}

int
lab_mode_parse(const char *s)
{
	for (int i = 0; i < LAB_MODE_COUNT; i++)
		if (strcmp(s, mode_names[i]) == 0)
			return i;
	return -1;
}

const char *
lab_host_name(enum lab_host host)
{
	return (unsigned)host < LAB_HOST_COUNT ? host_names[host] : "?";
}

int
lab_host_parse(const char *s)
{
	for (int i = 0; i < LAB_HOST_COUNT; i++)
		if (strcmp(s, host_names[i]) == 0)
			return i;
	return -1;
}

const char *
lab_cut_name(enum lab_cut cut)
{
	for (size_t i = 0; i < nitems(cut_names); i++)
		if (cut_names[i].cut == cut)
			return cut_names[i].name;
	return "?";
}

int
lab_cut_parse(const char *s)
{
	for (size_t i = 0; i < nitems(cut_names); i++)
		if (strcmp(s, cut_names[i].name) == 0)
			return (int)cut_names[i].cut;
	return -1;
}

bool
lab_link_in_mode(const struct lab_link *l, enum lab_mode mode)
{
	return (l->modes & (1u << mode)) != 0;
}

bool
lab_host_in_mode(enum lab_mode mode, enum lab_host host)
{
	for (size_t i = 0; i < lab_nlinks; i++)
		if (lab_links[i].host == host && lab_link_in_mode(&lab_links[i], mode))
			return true;
	return false;
}

bool
lab_is_node(enum lab_host host)
{
	return host != LAB_CLIENT;
}

enum lab_netid
lab_public_net(enum lab_mode mode, enum lab_host host)
{
	for (size_t i = 0; i < lab_nlinks; i++) {
		const struct lab_link *l = &lab_links[i];

		if (l->host == host && lab_link_in_mode(l, mode) &&
		    lab_networks[l->net].kind == LAB_CUT_PUBLIC)
			return l->net;
	}
	return LAB_NET_PUBLIC_A;
}

void
lab_prefix(const char *realdir, char *out, size_t len)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)realdir; *p; p++) {
		h ^= *p;
		h *= 16777619u;
	}
	snprintf(out, len, "ll-%06x", (unsigned)(h & 0xffffff));
}

void
lab_ns_name(const char *prefix, const char *what, char *out, size_t len)
{
	snprintf(out, len, "%s-%s", prefix, what);
}

/* "192.0.2.1/24" without its prefix, into buf. */
static const char *
addr_only(const char *cidr, char *buf, size_t len)
{
	size_t n = strcspn(cidr, "/");

	if (n >= len)
		n = len - 1;
	memcpy(buf, cidr, n);
	buf[n] = '\0';
	return buf;
}

/*
 * The [node NAME] section of one node: its channel addresses in table
 * order, its public interface and address, its management address.
 */
static void
print_node_section(FILE *f, enum lab_mode mode, enum lab_host host)
{
	const char *sep = "";

	fprintf(f, "[node %s]\nchannel = ", lab_host_name(host));
	for (size_t i = 0; i < lab_nlinks; i++) {
		const struct lab_link *l = &lab_links[i];

		if (l->host == host && lab_link_in_mode(l, mode) &&
		    (lab_networks[l->net].kind & LAB_CUT_CHANNEL) != 0) {
			fprintf(f, "%s%s", sep, l->addr);
			sep = ", ";
		}
	}
	fprintf(f, "\npublic = eth0 %s\n",
	    lab_networks[lab_public_net(mode, host)].public_ip);
	for (size_t i = 0; i < lab_nlinks; i++) {
		const struct lab_link *l = &lab_links[i];

		if (l->host == host && lab_link_in_mode(l, mode) &&
		    l->net == LAB_NET_MANAGEMENT)
			fprintf(f, "management = %s\n", l->addr);
	}
	fprintf(f, "\n");
}

/*
 * One lifeline.conf for every node of the lab. In ha mode both nodes share
 * the site A gateway as ping target and the sample is checked over TCP on
 * the public IP; with a DR site the nodes' gateways and public IPs differ
 * while the file must stay the same everywhere, so the ping target is left
 * to its default (each node's gateway) and the check is by pid. The
 * application's section comes from cli/labapp.
 */
char *
lab_config_text(enum lab_mode mode, const char *replication, const char *bindir,
    enum lab_app app)
{
	char *buf = NULL, ip[64], check[96];
	size_t len = 0;
	FILE *f;

	if ((f = open_memstream(&buf, &len)) == NULL)
		return NULL;
	fprintf(f, "# Written by `lifeline lab up`: the same file on every node.\n\n");
	fprintf(f, "[cluster]\nname = lab\nmode = %s\n", lab_mode_name(mode));
	fprintf(f, "state_dir = /var/lib/lifeline\ntls_dir = /etc/lifeline/tls\n\n");
	for (int h = 0; h < LAB_HOST_COUNT; h++)
		if (lab_is_node(h) && lab_host_in_mode(mode, h))
			print_node_section(f, mode, h);
	if (mode == LAB_HA)
		fprintf(f, "[failover]\nping = %s\n\n",
		    addr_only(lab_networks[LAB_NET_PUBLIC_A].gateway, ip, sizeof(ip)));
	fprintf(f, "[replication]\nmode = %s\n\n", replication);
	fprintf(f, "[protect]\ndata = /var/lib/lifeline-sample\n");
	fprintf(f, "config = /etc/lifeline-sample\nexclude = /etc/lifeline-sample/*.dpkg-*, *.swp\n"
	    "service = %s\n\n", lab_app_service_name(app));
	if (mode == LAB_HA)
		snprintf(check, sizeof(check), "tcp %s:%d",
		    addr_only(lab_networks[LAB_NET_PUBLIC_A].public_ip, ip, sizeof(ip)),
		    SAMPLE_PORT);
	else
		snprintf(check, sizeof(check), "pid");
	lab_app_service_section(f, app, check, bindir);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/*
 * The sample's config: like lifeline.conf it is the same file on every node
 * (it lives in a protected config folder, so replication carries it over).
 * With a DR site it names both public IPs; the sample binds them with
 * IP_FREEBIND, and each node only ever receives traffic on its own.
 */
char *
lab_sample_config_text(enum lab_mode mode)
{
	char *buf = NULL, a[64], b[64];
	size_t len = 0;
	FILE *f;

	if ((f = open_memstream(&buf, &len)) == NULL)
		return NULL;
	fprintf(f, "# Written by `lifeline lab up`: see lifeline-sample(8).\n");
	addr_only(lab_networks[LAB_NET_PUBLIC_A].public_ip, a, sizeof(a));
	addr_only(lab_networks[LAB_NET_PUBLIC_DR].public_ip, b, sizeof(b));
	if (mode == LAB_HA)
		fprintf(f, "listen = %s:%d\n", a, SAMPLE_PORT);
	else
		fprintf(f, "listen = %s:%d, %s:%d\n", a, SAMPLE_PORT, b, SAMPLE_PORT);
	fprintf(f, "data = /var/lib/lifeline-sample\n");
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/*
 * Run one ip(8) (or other) command quietly; on failure describe it in err
 * as the command line and its exit code, which is what a reader needs to
 * try it by hand.
 */
static int
run(char *err, size_t errlen, char *const argv[])
{
	char line[512];
	size_t off = 0;
	int rc, saved;

	if ((rc = run_argv(argv, 1)) == 0)
		return 0;
	saved = errno;
	line[0] = '\0';
	for (size_t i = 0; argv[i] != NULL && off < sizeof(line); i++)
		off += (size_t)snprintf(line + off, sizeof(line) - off, "%s%s",
		    i ? " " : "", argv[i]);
	if (rc < 0)
		snprintf(err, errlen, "cannot run `%s`: %s", line, strerror(saved));
	else
		snprintf(err, errlen, "`%s` failed with exit code %d", line, rc);
	return -1;
}

#define RUN(...) run(err, errlen, (char *const[]){ __VA_ARGS__, NULL })

static bool
net_in_mode(enum lab_mode mode, enum lab_netid net)
{
	for (size_t i = 0; i < lab_nlinks; i++)
		if (lab_links[i].net == net && lab_link_in_mode(&lab_links[i], mode))
			return true;
	return false;
}

/* The switch-side end of a link: host letter, dash, ifname ("p-ch0"). */
static void
switch_ifname(const struct lab_link *l, char *out, size_t len)
{
	snprintf(out, len, "%c-%s", lab_host_name(l->host)[0], l->ifname);
}

static int
default_route(const char *ns, enum lab_netid net, char *err, size_t errlen)
{
	char gw[64];

	addr_only(lab_networks[net].gateway, gw, sizeof(gw));
	return RUN("ip", "-n", (char *)ns, "route", "replace", "default", "via", gw,
	    "dev", "eth0", "onlink");
}

/*
 * One veth pair from a host namespace to its bridge in the switch. The
 * node's end has a fixed MAC address (from its row in the table), as a NIC
 * keeps its address across a power cycle. Left down unless up is set.
 */
static int
add_link(const char *prefix, const char *sw, const struct lab_link *l, bool up,
    char *err, size_t errlen)
{
	char ns[LAB_NS_MAX], swif[32], mac[32];
	char *bridge = (char *)lab_networks[l->net].bridge;
	char *ifname = (char *)l->ifname;

	lab_ns_name(prefix, lab_host_name(l->host), ns, sizeof(ns));
	switch_ifname(l, swif, sizeof(swif));
	snprintf(mac, sizeof(mac), "02:4c:00:%02x:%02x:01", (unsigned)l->host,
	    (unsigned)(l - lab_links));
	if (RUN("ip", "-n", (char *)sw, "link", "add", swif, "type", "veth",
	    "peer", "name", ifname, "address", mac, "netns", ns) < 0 ||
	    RUN("ip", "-n", (char *)sw, "link", "set", swif, "master", bridge, "up") < 0)
		return -1;
	/*
	 * A node's own address on its public LAN is deprecated (preferred_lft
	 * 0), as the architecture adds a management address that shares the
	 * public interface: never the source of the service, but it keeps the
	 * node on the LAN (its routes, its pings) whether it holds the public
	 * IP or not. The client's address is an ordinary one.
	 */
	if (l->addr != NULL && lab_is_node(l->host) && lab_networks[l->net].kind == LAB_CUT_PUBLIC) {
		if (RUN("ip", "-n", ns, "addr", "add", (char *)l->addr, "dev", ifname,
		    "preferred_lft", "0") < 0)
			return -1;
	} else if (l->addr != NULL &&
	    RUN("ip", "-n", ns, "addr", "add", (char *)l->addr, "dev", ifname) < 0)
		return -1;
	if (!up)
		return 0;
	if (RUN("ip", "-n", ns, "link", "set", ifname, "up") < 0)
		return -1;
	if (lab_networks[l->net].kind == LAB_CUT_PUBLIC)
		return default_route(ns, l->net, err, errlen);
	return 0;
}

int
labnet_create_host(const char *prefix, enum lab_mode mode, enum lab_host host, bool up,
    char *err, size_t errlen)
{
	char sw[LAB_NS_MAX], ns[LAB_NS_MAX];

	lab_ns_name(prefix, LAB_SWITCH, sw, sizeof(sw));
	lab_ns_name(prefix, lab_host_name(host), ns, sizeof(ns));
	if (RUN("ip", "netns", "add", ns) < 0 ||
	    RUN("ip", "-n", ns, "link", "set", "lo", "up") < 0)
		return -1;
	for (size_t i = 0; i < lab_nlinks; i++)
		if (lab_links[i].host == host && lab_link_in_mode(&lab_links[i], mode) &&
		    add_link(prefix, sw, &lab_links[i], up, err, errlen) < 0)
			return -1;
	return 0;
}

/*
 * The switch first (bridges, gateway addresses, forwarding between the two
 * public LANs), then each host and its links. Nothing is connected to the
 * host's own namespace: the lab has no uplink.
 */
int
labnet_create(const char *prefix, enum lab_mode mode,
    char made[][LAB_NS_MAX], size_t *nmade, char *err, size_t errlen)
{
	char sw[LAB_NS_MAX];

	lab_ns_name(prefix, LAB_SWITCH, sw, sizeof(sw));
	if (RUN("ip", "netns", "add", sw) < 0)
		return -1;
	xstrlcpy(made[(*nmade)++], sw, LAB_NS_MAX);
	if (RUN("ip", "-n", sw, "link", "set", "lo", "up") < 0 ||
	    RUN("ip", "netns", "exec", sw, "sysctl", "-qw", "net.ipv4.ip_forward=1") < 0)
		return -1;
	for (int n = 0; n < LAB_NET_COUNT; n++) {
		const struct lab_network *net = &lab_networks[n];
		char mac[24];

		if (!net_in_mode(mode, n))
			continue;
		/*
		 * A fixed MAC: a bridge otherwise takes the lowest MAC of its
		 * ports, which changes when `lab kill` rebuilds a node's links,
		 * and every neighbour's cached entry for the gateway goes stale.
		 */
		snprintf(mac, sizeof(mac), "02:4c:ff:00:%02x:01", (unsigned)n);
		if (RUN("ip", "-n", sw, "link", "add", (char *)net->bridge, "address", mac,
		    "type", "bridge") < 0 ||
		    RUN("ip", "-n", sw, "link", "set", (char *)net->bridge, "up") < 0)
			return -1;
		if (net->gateway != NULL &&
		    RUN("ip", "-n", sw, "addr", "add", (char *)net->gateway, "dev",
		    (char *)net->bridge) < 0)
			return -1;
	}
	for (int h = 0; h < LAB_HOST_COUNT; h++) {
		if (!lab_host_in_mode(mode, h))
			continue;
		lab_ns_name(prefix, lab_host_name(h), made[*nmade], LAB_NS_MAX);
		if (labnet_create_host(prefix, mode, h, true, err, errlen) < 0) {
			if (labnet_ns_exists(made[*nmade]))
				(*nmade)++;
			return -1;
		}
		(*nmade)++;
	}
	return 0;
}

bool
labnet_ns_exists(const char *ns)
{
	char path[LAB_NS_MAX + 16];

	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	return access(path, F_OK) == 0;
}

/*
 * Remove host's namespace and its links. The switch-side ends are deleted
 * first, at once with their peers: a namespace is freed asynchronously, and
 * its links must not linger when the host is made again under the same
 * names.
 */
int
labnet_delete_host(const char *prefix, enum lab_mode mode, enum lab_host host)
{
	char sw[LAB_NS_MAX], ns[LAB_NS_MAX], swif[32];

	lab_ns_name(prefix, LAB_SWITCH, sw, sizeof(sw));
	lab_ns_name(prefix, lab_host_name(host), ns, sizeof(ns));
	for (size_t i = 0; i < lab_nlinks; i++) {
		if (lab_links[i].host != host || !lab_link_in_mode(&lab_links[i], mode))
			continue;
		switch_ifname(&lab_links[i], swif, sizeof(swif));
		if (labnet_ns_exists(sw))
			run_argv((char *const[]){ "ip", "-n", sw, "link", "del", swif, NULL }, 1);
	}
	return labnet_ns_exists(ns) ? labnet_delete_ns(ns) : 0;
}

int
labnet_delete_ns(const char *ns)
{
	return run_argv((char *const[]){ "ip", "netns", "del", (char *)ns, NULL }, 1) == 0 ? 0 : -1;
}

int
labnet_set_links(const char *prefix, enum lab_mode mode, enum lab_host host,
    unsigned mask, bool up, char *err, size_t errlen)
{
	char ns[LAB_NS_MAX];

	lab_ns_name(prefix, lab_host_name(host), ns, sizeof(ns));
	for (size_t i = 0; i < lab_nlinks; i++) {
		const struct lab_link *l = &lab_links[i];

		if (l->host != host || !lab_link_in_mode(l, mode) ||
		    (lab_networks[l->net].kind & mask) == 0)
			continue;
		if (RUN("ip", "-n", ns, "link", "set", (char *)l->ifname,
		    up ? "up" : "down") < 0)
			return -1;
		if (up && lab_networks[l->net].kind == LAB_CUT_PUBLIC &&
		    default_route(ns, l->net, err, errlen) < 0)
			return -1;
	}
	return 0;
}
