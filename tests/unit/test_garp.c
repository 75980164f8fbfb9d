/*
 * Unit tests of engine/garp: the frames byte by byte, and gratuitous ARP
 * as a neighbour receives it. Tests that need root run in a forked child
 * with two network namespaces of its own (the node and a peer joined by a
 * veth pair), which vanish with the child.
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
#include "engine/garp.h"
#include "helpers/netns_fixture.h"

#define PUBLIC_IP	"192.0.2.10"
#define PEER_PUB	"192.0.2.1"

static char err[512];		/* what a failed call said; CHECK_RC prints it */

/* The next frame within timeout_ms, or 0. */
static size_t
next_frame(int fd, uint8_t *buf, size_t len, int timeout_ms)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	ssize_t n;

	if (poll(&pfd, 1, timeout_ms) <= 0)
		return 0;
	n = recv(fd, buf, len, MSG_DONTWAIT);
	return n > 0 ? (size_t)n : 0;
}

static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t zero[6];

/*
 * Two frames, as the peer's packet socket sees them: a broadcast request
 * and then a reply, both from the node's MAC with sender = target = the
 * public IP. And the peer's neighbour entry, stale with another MAC, now
 * holds the node's.
 */
static void
body_garp_received(void)
{
	struct ipaddr pub = addr(PUBLIC_IP);
	uint8_t mac[6], frame[1600];
	struct in_addr ip;
	char want[64];
	FILE *f;
	size_t n;
	int fd;

	inet_pton(AF_INET, PUBLIC_IP, &ip);
	veth("pub0", PUBLIC_IP "/24", "pub1", PEER_PUB "/24");
	mac_of("pub0", mac);
	enter(ns_peer);
	RUN("ip neigh replace " PUBLIC_IP " lladdr 02:00:00:00:00:99 dev pub1 "
	    "nud stale");
	fd = arp_listener("pub1");
	enter(ns_node);

	CHECK_RC(garp_send("pub0", &pub, 2, err, sizeof(err)));

	for (int i = 0; i < 2; i++) {
		CHECK((n = next_frame(fd, frame, sizeof(frame), 2000)) >= 42);
		CHECK(memcmp(frame, bcast, 6) == 0);
		CHECK(memcmp(frame + 6, mac, 6) == 0);
		CHECK(memcmp(frame + 12, "\x08\x06\x00\x01\x08\x00\x06\x04", 8)
		    == 0);
		CHECK(frame[20] == 0 && frame[21] == (i == 0 ? 1 : 2));
		CHECK(memcmp(frame + 22, mac, 6) == 0);
		CHECK(memcmp(frame + 28, &ip, 4) == 0);
		CHECK(memcmp(frame + 32, i == 0 ? zero : mac, 6) == 0);
		CHECK(memcmp(frame + 38, &ip, 4) == 0);
	}
	CHECK(next_frame(fd, frame, sizeof(frame), 200) == 0);
	close(fd);

	enter(ns_peer);
	snprintf(want, sizeof(want), "lladdr %02x:%02x:%02x:%02x:%02x:%02x",
	    mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	f = popen("ip neigh show " PUBLIC_IP " dev pub1", "r");
	CHECK(f != NULL);
	n = fread(frame, 1, sizeof(frame) - 1, f);
	frame[n] = '\0';
	pclose(f);
	if (strstr((char *)frame, want) == NULL) {
		fprintf(stderr, "neighbour entry \"%s\" lacks %s\n", frame, want);
		_exit(1);
	}
	enter(ns_node);
}

/* What the interface cannot do is said, with its name. */
static void
body_bad_interface(void)
{
	struct ipaddr pub = addr(PUBLIC_IP);

	CHECK(garp_send("nosuch0", &pub, 1, err, sizeof(err)) == -1);
	CHECK(strstr(err, "nosuch0") != NULL);
	CHECK(garp_send("lo", &pub, 1, err, sizeof(err)) == -1);
	CHECK(strstr(err, "lo is not Ethernet") != NULL);
	RUN("ip link add pub0 type veth peer name pub1");
	CHECK(garp_send("pub0", &pub, 1, err, sizeof(err)) == -1);
	CHECK(strstr(err, "pub0") != NULL);
}

static void
test_garp_received(void **state)
{
	isolated(body_garp_received);
}

static void
test_bad_interface(void **state)
{
	isolated(body_bad_interface);
}

static void
test_arp_frame(void **state)
{
	static const uint8_t sha[6] = { 0x02, 0, 0, 0, 0, 0x0a };
	static const uint8_t want[42] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff,	/* destination */
		0x02, 0, 0, 0, 0, 0x0a,			/* source */
		0x08, 0x06,				/* ARP */
		0x00, 0x01, 0x08, 0x00, 6, 4,		/* Ethernet, IPv4 */
		0x00, 0x01,				/* request */
		0x02, 0, 0, 0, 0, 0x0a, 192, 0, 2, 10,	/* sender */
		0, 0, 0, 0, 0, 0, 192, 0, 2, 1,		/* target */
	};
	struct arp_msg m, back;
	uint8_t buf[GARP_FRAME_MAX];

	memset(&m, 0, sizeof(m));
	memset(m.eth_dst, 0xff, 6);
	memcpy(m.sha, sha, 6);
	m.op = 1;
	inet_pton(AF_INET, "192.0.2.10", &m.spa);
	inet_pton(AF_INET, "192.0.2.1", &m.tpa);
	assert_int_equal(garp_arp_build(buf, sizeof(buf), &m), 60);
	assert_memory_equal(buf, want, sizeof(want));
	for (size_t i = sizeof(want); i < 60; i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(garp_arp_build(buf, 59, &m), 0);

	assert_true(garp_arp_parse(want, sizeof(want), &back));
	assert_int_equal(back.op, 1);
	assert_memory_equal(back.eth_src, sha, 6);
	assert_memory_equal(back.sha, sha, 6);
	assert_int_equal(back.spa.s_addr, m.spa.s_addr);
	assert_int_equal(back.tpa.s_addr, m.tpa.s_addr);

	assert_false(garp_arp_parse(want, 41, &back));
	memcpy(buf, want, sizeof(want));
	buf[13] = 0x00;				/* IPv4, not ARP */
	assert_false(garp_arp_parse(buf, sizeof(want), &back));
	memcpy(buf, want, sizeof(want));
	buf[18] = 8;				/* hardware length */
	assert_false(garp_arp_parse(buf, sizeof(want), &back));
}

/*
 * The advertisement checked field by field, and its checksum recomputed
 * here from RFC 4443 2.3 (pseudo-header plus message sums to 0xffff).
 */
static void
test_na_frame(void **state)
{
	static const uint8_t mac[6] = { 0x02, 0, 0, 0, 0, 0x0a };
	struct in6_addr ip, allnodes;
	uint8_t buf[GARP_FRAME_MAX];
	const uint8_t *ip6 = buf + 14, *icmp = buf + 54;
	uint32_t sum = 0;
	size_t len, i;

	inet_pton(AF_INET6, "2001:db8::10", &ip);
	inet_pton(AF_INET6, "ff02::1", &allnodes);
	len = garp_na_build(buf, sizeof(buf), mac, &ip);
	assert_int_equal(len, 14 + 40 + 32);
	assert_int_equal(garp_na_build(buf, len - 1, mac, &ip), 0);
	len = garp_na_build(buf, sizeof(buf), mac, &ip);

	assert_memory_equal(buf, "\x33\x33\x00\x00\x00\x01", 6);
	assert_memory_equal(buf + 6, mac, 6);
	assert_memory_equal(buf + 12, "\x86\xdd", 2);
	assert_int_equal(ip6[0] >> 4, 6);
	assert_int_equal(ip6[4] << 8 | ip6[5], 32);
	assert_int_equal(ip6[6], 58);
	assert_int_equal(ip6[7], 255);
	assert_memory_equal(ip6 + 8, &ip, 16);
	assert_memory_equal(ip6 + 24, &allnodes, 16);
	assert_int_equal(icmp[0], 136);
	assert_int_equal(icmp[1], 0);
	assert_int_equal(icmp[4], 0x20);		/* override, not solicited */
	assert_memory_equal(icmp + 8, &ip, 16);
	assert_int_equal(icmp[24], 2);
	assert_int_equal(icmp[25], 1);
	assert_memory_equal(icmp + 26, mac, 6);

	for (i = 0; i < 32; i += 2)
		sum += (uint32_t)(ip6[8 + i] << 8 | ip6[9 + i]);
	sum += 32 + 58;
	for (i = 0; i < 32; i += 2)
		sum += (uint32_t)(icmp[i] << 8 | icmp[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	assert_int_equal(sum, 0xffff);
}

/* Refused before any socket is opened: no root needed. */
static void
test_bad_input(void **state)
{
	struct ipaddr a;
	char msg[256];

	assert_int_equal(parse_ipaddr(PUBLIC_IP, 0, &a), 0);
	assert_int_equal(garp_send("eth0", &a, 0, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "count 0 out of range"));
	assert_int_equal(garp_send("eth0", &a, GARP_MAX_COUNT + 1, msg,
	    sizeof(msg)), -1);
	assert_non_null(strstr(msg, "out of range"));
	assert_int_equal(garp_send("eth0", NULL, 1, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "no IPv4 or IPv6 address"));
	assert_int_equal(parse_ipaddr("0.0.0.0", 0, &a), 0);
	assert_int_equal(garp_send("eth0", &a, 1, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "unspecified"));
	a.family = 0;
	assert_int_equal(garp_send("eth0", &a, 1, msg, sizeof(msg)), -1);
	assert_int_equal(parse_ipaddr(PUBLIC_IP, 0, &a), 0);
	assert_int_equal(garp_send(NULL, &a, 1, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "no interface name"));
	assert_int_equal(garp_send("a-very-long-interface-name", &a, 1, msg,
	    sizeof(msg)), -1);
	assert_non_null(strstr(msg, "longer than"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_arp_frame),
		cmocka_unit_test(test_na_frame),
		cmocka_unit_test(test_garp_received),
		cmocka_unit_test(test_bad_interface),
	};

	log_init(LOG_TO_STDERR, 0, "test_garp");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
