/*
 * Unit tests of engine/filter: the hiding tables, checked by their effect.
 * Each test that needs root runs in a forked child with two network
 * namespaces of its own (the node and a peer joined by veth pairs), which
 * vanish with the child; the host's ruleset and interfaces are never used.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "common/values.h"
#include "engine/filter.h"
#include "helpers/netns_fixture.h"

#define PUBLIC_IP	"192.0.2.10"
#define PEER_PUB	"192.0.2.1"
#define NODE_MGMT	"198.51.100.11"
#define PEER_MGMT	"198.51.100.1"

static char err[512];		/* what a failed call said; CHECK_RC prints it */

static bool
pings(const char *target)
{
	return run("ping -c 1 -W 1 -n -q %s", target) == 0;
}

static bool
pings_from(const char *source, const char *target)
{
	return run("ping -c 1 -W 1 -n -q -I %s %s", source, target) == 0;
}

/*
 * Ask "who has target, tell sender" on ifname of the current namespace,
 * the way any host on the LAN would, and wait up to timeout_ms for a reply
 * whose sender address is target. Written from the RFC 826 layout here, not
 * with the code under test.
 */
static bool
arp_answered(const char *ifname, const char *sender, const char *target,
    int timeout_ms)
{
	uint8_t frame[60], mac[6];
	struct in_addr spa, tpa;
	uint64_t deadline = now_mono_ms() + (uint64_t)timeout_ms;
	bool answered = false;
	int fd;

	CHECK(inet_pton(AF_INET, sender, &spa) == 1);
	CHECK(inet_pton(AF_INET, target, &tpa) == 1);
	mac_of(ifname, mac);
	fd = arp_listener(ifname);

	memset(frame, 0, sizeof(frame));
	memset(frame, 0xff, 6);
	memcpy(frame + 6, mac, 6);
	memcpy(frame + 12, "\x08\x06\x00\x01\x08\x00\x06\x04\x00\x01", 10);
	memcpy(frame + 22, mac, 6);
	memcpy(frame + 28, &spa, 4);
	memcpy(frame + 38, &tpa, 4);
	CHECK(send(fd, frame, sizeof(frame), 0) == (ssize_t)sizeof(frame));

	for (int i = 0; i < 1000 && !answered; i++) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		uint64_t now = now_mono_ms();
		uint8_t buf[1600];
		ssize_t n;

		if (now >= deadline || poll(&pfd, 1, (int)(deadline - now)) <= 0)
			break;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n >= 42 && buf[20] == 0 && buf[21] == 2 &&
		    memcmp(buf + 28, &tpa, 4) == 0)
			answered = true;
	}
	close(fd);
	return answered;
}

/* How many times needle occurs in `nft list ruleset` of this namespace. */
static int
ruleset_count(const char *needle)
{
	char buf[8192];
	size_t len;
	FILE *f = popen("nft list ruleset", "r");
	int count = 0;
	const char *p;

	CHECK(f != NULL);
	len = fread(buf, 1, sizeof(buf) - 1, f);
	buf[len] = '\0';
	CHECK(pclose(f) == 0);
	for (p = buf; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		count++;
	return count;
}

static bool
is_hiding(const char *ip)
{
	struct ipaddr a = addr(ip);
	bool hiding = true;

	CHECK_RC(filter_is_hiding(&a, &hiding, err, sizeof(err)));
	return hiding;
}

/* Both nodes' views of the public and the management network. */
static void
expect_visible(bool public_visible)
{
	enter(ns_peer);
	RUN("ip neigh flush dev pub1");
	CHECK(pings(PUBLIC_IP) == public_visible);
	CHECK(arp_answered("pub1", PEER_PUB, PUBLIC_IP, 500) == public_visible);
	CHECK(pings(NODE_MGMT));
	CHECK(arp_answered("mgmt1", PEER_MGMT, NODE_MGMT, 500));
	enter(ns_node);
	CHECK(pings_from(PUBLIC_IP, PEER_PUB) == public_visible);
	CHECK(pings_from(NODE_MGMT, PEER_MGMT));
}

/*
 * The engine's order: hide first, then the address appears; the peer can
 * neither ping it nor resolve it, not even with a static neighbour entry,
 * while the management address answers; after unhide everything answers.
 */
static void
body_hide_unhide(void)
{
	struct ipaddr pub = addr(PUBLIC_IP);
	uint8_t mac[6];
	char lladdr[32];

	veth("pub0", NULL, "pub1", PEER_PUB "/24");
	veth("mgmt0", NODE_MGMT "/24", "mgmt1", PEER_MGMT "/24");

	CHECK(!is_hiding(PUBLIC_IP));
	CHECK_RC(filter_hide(&pub, "pub0", err, sizeof(err)));
	CHECK(is_hiding(PUBLIC_IP));
	RUN("ip addr add " PUBLIC_IP "/24 dev pub0");
	expect_visible(false);

	/* The inet table alone stops traffic, even when ARP is bypassed. */
	mac_of("pub0", mac);
	snprintf(lladdr, sizeof(lladdr), "%02x:%02x:%02x:%02x:%02x:%02x",
	    mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	enter(ns_peer);
	RUN("ip neigh replace " PUBLIC_IP " lladdr %s dev pub1 nud permanent",
	    lladdr);
	CHECK(!pings(PUBLIC_IP));
	RUN("ip neigh del " PUBLIC_IP " dev pub1");
	enter(ns_node);

	CHECK_RC(filter_unhide(err, sizeof(err)));
	CHECK(!is_hiding(PUBLIC_IP));
	expect_visible(true);
	CHECK_RC(filter_unhide(err, sizeof(err)));
	CHECK(ruleset_count("table ") == 0);
}

/*
 * Hiding replaces the tables: twice for one address leaves one copy of
 * each rule, a new address leaves no rule for the old one.
 */
static void
body_idempotent(void)
{
	struct ipaddr pub = addr(PUBLIC_IP), other = addr("192.0.2.99");

	veth("pub0", PUBLIC_IP "/24", "pub1", PEER_PUB "/24");
	CHECK_RC(filter_hide(&other, "pub0", err, sizeof(err)));
	CHECK(is_hiding("192.0.2.99"));
	CHECK(!is_hiding(PUBLIC_IP));
	CHECK_RC(filter_hide(&pub, "pub0", err, sizeof(err)));
	CHECK_RC(filter_hide(&pub, "pub0", err, sizeof(err)));
	CHECK(is_hiding(PUBLIC_IP));
	CHECK(is_hiding(PUBLIC_IP "/24"));	/* as node_conf holds it */
	CHECK(!is_hiding("192.0.2.99"));
	CHECK(ruleset_count("192.0.2.99") == 0);
	CHECK(ruleset_count("table ") == 2);
	CHECK(ruleset_count("ip daddr " PUBLIC_IP " drop") == 3);
	CHECK(ruleset_count("arp saddr ip " PUBLIC_IP " drop") == 2);
	CHECK(ruleset_count("hides " PUBLIC_IP " on pub0") == 2);
	enter(ns_peer);
	CHECK(!pings(PUBLIC_IP));
	enter(ns_node);
	CHECK_RC(filter_unhide(err, sizeof(err)));
	CHECK(ruleset_count("table ") == 0);
}

/* A table with a rule missing does not count as hiding. */
static void
body_partial(void)
{
	struct ipaddr pub = addr(PUBLIC_IP);

	CHECK_RC(filter_hide(&pub, "pub0", err, sizeof(err)));
	CHECK(is_hiding(PUBLIC_IP));
	RUN("nft flush chain arp lifeline output");
	CHECK(!is_hiding(PUBLIC_IP));
	RUN("nft delete table arp lifeline");
	CHECK(!is_hiding(PUBLIC_IP));
	CHECK_RC(filter_hide(&pub, "pub0", err, sizeof(err)));
	CHECK(is_hiding(PUBLIC_IP));
	CHECK_RC(filter_unhide(err, sizeof(err)));
}

/*
 * IPv6: the inet table alone, with the neighbour discovery rules; it
 * replaces an IPv4 version, arp table included. Rules only, no traffic.
 */
static void
body_ipv6(void)
{
	struct ipaddr v6 = addr("2001:db8::10"), v4 = addr(PUBLIC_IP);

	CHECK_RC(filter_hide(&v4, "pub0", err, sizeof(err)));
	CHECK_RC(filter_hide(&v6, "pub0", err, sizeof(err)));
	CHECK(is_hiding("2001:db8::10"));
	CHECK(!is_hiding(PUBLIC_IP));
	CHECK(!is_hiding("2001:db8::11"));
	CHECK(ruleset_count("table arp lifeline") == 0);
	CHECK(ruleset_count("ip6 saddr 2001:db8::10 drop") == 3);
	CHECK(ruleset_count("@th,64,128 0x20010db8000000000000000000000010 drop")
	    == 2);
	CHECK_RC(filter_unhide(err, sizeof(err)));
	CHECK(!is_hiding("2001:db8::10"));
}

static void
test_hide_unhide(void **state)
{
	isolated(body_hide_unhide);
}

static void
test_idempotent(void **state)
{
	isolated(body_idempotent);
}

static void
test_partial(void **state)
{
	isolated(body_partial);
}

static void
test_ipv6(void **state)
{
	isolated(body_ipv6);
}

/* Bad input is refused before nftables is asked anything: no root needed. */
static void
test_bad_input(void **state)
{
	struct ipaddr a;
	char msg[256];
	bool hiding;

	assert_int_equal(filter_hide(NULL, "eth0", msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "no public address"));

	assert_int_equal(parse_ipaddr(PUBLIC_IP, 0, &a), 0);
	assert_int_equal(filter_hide(&a, NULL, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "no interface name"));
	assert_int_equal(filter_hide(&a, "eth0\" drop", msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "bad interface name"));
	assert_int_equal(filter_hide(&a, "a-very-long-interface-name", msg,
	    sizeof(msg)), -1);
	assert_non_null(strstr(msg, "bad interface name"));

	a.family = 0;
	assert_int_equal(filter_hide(&a, "eth0", msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "unknown family"));
	assert_int_equal(filter_is_hiding(&a, &hiding, msg, sizeof(msg)), -1);

	assert_int_equal(parse_ipaddr("0.0.0.0", 0, &a), 0);
	assert_int_equal(filter_hide(&a, "eth0", msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "0.0.0.0 cannot be a public address"));
	assert_int_equal(parse_ipaddr("224.0.0.1", 0, &a), 0);
	assert_int_equal(filter_hide(&a, "eth0", msg, sizeof(msg)), -1);
	assert_int_equal(parse_ipaddr("ff02::1", 0, &a), 0);
	assert_int_equal(filter_hide(&a, "eth0", msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "ff02::1 cannot be a public address"));

	assert_int_equal(parse_ipaddr(PUBLIC_IP, 0, &a), 0);
	assert_int_equal(filter_is_hiding(&a, NULL, msg, sizeof(msg)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_hide_unhide),
		cmocka_unit_test(test_idempotent),
		cmocka_unit_test(test_partial),
		cmocka_unit_test(test_ipv6),
	};

	log_init(LOG_TO_STDERR, 0, "test_filter");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
