/*
 * Public identity of the node. The address is added with `ip addr replace`
 * so a claim after a crash that left the address in place is harmless.
 * These are short netlink round trips done by ip(8); the cluster engine will
 * move them to libnftables and netlink directly, together with the filter.
 */
#include "engine/identity.h"
#include "engine/engine.h"
#include "common/log.h"
#include "common/util.h"

static int
ip_addr(struct engine *e, const char *verb)
{
	const struct node_conf *n = &e->conf->nodes[e->self];
	char addr[INET6_ADDRSTRLEN + 8];
	char *argv[] = { "ip", "addr", (char *)verb, addr, "dev", (char *)n->public_if, NULL };
	int rc;

	ipaddr_str(&n->public_addr, addr, sizeof(addr));
	rc = run_argv(argv, 1);
	if (rc != 0) {
		log_warnx("ip addr %s %s dev %s failed (exit %d)", verb, addr, n->public_if, rc);
		return -1;
	}
	return 0;
}

int
identity_claim(struct engine *e)
{
	if (ip_addr(e, "replace") < 0)
		return -1;
	e->public_claimed = true;
	log_info("public address claimed on %s", e->conf->nodes[e->self].public_if);
	return 0;
}

int
identity_release(struct engine *e)
{
	if (!e->public_claimed)
		return 0;
	e->public_claimed = false;
	if (ip_addr(e, "del") < 0)
		return -1;
	log_info("public address released");
	return 0;
}

int
identity_management(struct engine *e)
{
	const struct node_conf *n = &e->conf->nodes[e->self];
	char addr[INET6_ADDRSTRLEN + 8];
	char *argv[] = { "ip", "addr", "replace", addr, "dev", (char *)n->public_if,
	    "preferred_lft", "0", NULL };
	int rc;

	if (!ipaddr_in_subnet(&n->management, &n->public_addr))
		return 0;
	ipaddr_str(&n->management, addr, sizeof(addr));
	if ((rc = run_argv(argv, 1)) != 0) {
		log_warnx("cannot add the management address %s to %s (ip exit %d)", addr,
		    n->public_if, rc);
		return -1;
	}
	log_info("management address %s on the public interface %s, never a source address",
	    addr, n->public_if);
	return 0;
}
