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

#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

/* Write a /proc/sys file (no rename there); -1 with errno. */
static int
write_sysctl(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -1;
	if (write(fd, value, strlen(value)) != (ssize_t)strlen(value))
		rc = -1;
	close(fd);
	return rc;
}

/* The management address shares the public interface and subnet (IPv4 or IPv6). */
static bool
management_on_public(const struct node_conf *n)
{
	return ipaddr_in_subnet(&n->management, &n->public_addr);
}

/*
 * IPv4 picks a source address from the first (primary) address of the
 * subnet and takes no notice of preferred_lft 0, which only IPv6 heeds.
 * So once the public address is in place the management address, added
 * first, is taken out and put back: the public address, promoted, is then
 * the primary and every connection the active makes on that network leaves
 * from it. promote_secondaries keeps the public address (and the routes)
 * when the primary goes; identity_management() turned it on. The
 * management address is gone for the length of two ip(8) calls.
 */
static int
management_behind_public(struct engine *e)
{
	const struct node_conf *n = &e->conf->nodes[e->self];
	char addr[INET6_ADDRSTRLEN + 8];
	char *del[] = { "ip", "addr", "del", addr, "dev", (char *)n->public_if, NULL };
	char *add[] = { "ip", "addr", "add", addr, "dev", (char *)n->public_if,
	    "preferred_lft", "0", NULL };
	int rc;

	if (!management_on_public(n) || n->public_addr.family != AF_INET)
		return 0;
	ipaddr_str(&n->management, addr, sizeof(addr));
	run_argv(del, 1);               /* absent already: nothing to move */
	if ((rc = run_argv(add, 1)) != 0) {
		log_warnx("cannot put the management address %s back on %s (ip exit %d)", addr,
		    n->public_if, rc);
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
	management_behind_public(e);
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

	if (!management_on_public(n))
		return 0;
	if (n->public_addr.family == AF_INET) {
		char *path = xasprintf("/proc/sys/net/ipv4/conf/%s/promote_secondaries",
		    n->public_if);

		/* For management_behind_public(): the public address stays when it goes. */
		if (write_sysctl(path, "1\n") < 0)
			log_warn("cannot write %s: the management address stays a source address", path);
		free(path);
	}
	ipaddr_str(&n->management, addr, sizeof(addr));
	if ((rc = run_argv(argv, 1)) != 0) {
		log_warnx("cannot add the management address %s to %s (ip exit %d)", addr,
		    n->public_if, rc);
		return -1;
	}
	log_info("management address %s on the public interface %s, never a source address "
	    "once the public address is claimed", addr, n->public_if);
	return 0;
}
