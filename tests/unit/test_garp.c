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
#include <fcntl.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netpacket/packet.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "common/values.h"
#include "engine/garp.h"

#define PUBLIC_IP	"192.0.2.10"
#define PEER_PUB	"192.0.2.1"

/* In the child, a failed check ends the child: cmocka lives in the parent. */
#define CHECK(c) do {							\
	if (!(c)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n",		\
		    __FILE__, __LINE__, #c);				\
		_exit(1);						\
	}								\
} while (0)

#define CHECK_RC(call) do {						\
	if ((call) != 0) {						\
		fprintf(stderr, "%s:%d: %s failed: %s\n",		\
		    __FILE__, __LINE__, #call, err);			\
		_exit(1);						\
	}								\
} while (0)

static int ns_node = -1, ns_peer = -1;
static char err[512];

/* Run a command given as one line of words; its exit status. */
static int
run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int
run(const char *fmt, ...)
{
	char line[512], *argv[32], *save = NULL, *w;
	va_list ap;
	int argc = 0;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	for (w = strtok_r(line, " ", &save); w != NULL && argc < 31;
	    w = strtok_r(NULL, " ", &save))
		argv[argc++] = w;
	argv[argc] = NULL;
	return run_argv(argv, 1);
}

#define RUN(...) do {							\
	if (run(__VA_ARGS__) != 0) {					\
		fprintf(stderr, "%s:%d: command failed: ", __FILE__,	\
		    __LINE__);						\
		fprintf(stderr, __VA_ARGS__);				\
		fprintf(stderr, "\n");					\
		_exit(1);						\
	}								\
} while (0)

static void
enter(int ns)
{
	CHECK(setns(ns, CLONE_NEWNET) == 0);
}

static void
set_sysctl(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	CHECK(fd >= 0);
	CHECK(write(fd, value, strlen(value)) == (ssize_t)strlen(value));
	close(fd);
}

/*
 * The namespace the caller is in now, made quiet: no IPv6 (so no
 * link-local chatter leaves the documentation ranges) and loopback up.
 */
static int
prepare_ns(void)
{
	int fd = open("/proc/self/ns/net", O_RDONLY);

	CHECK(fd >= 0);
	set_sysctl("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
	set_sysctl("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
	RUN("ip link set lo up");
	return fd;
}

/*
 * Run body in a child inside fresh namespaces: the node's (entered at the
 * start) and the peer's. Skipped without root or without namespaces.
 */
static void
isolated(void (*body)(void))
{
	int status;
	pid_t pid;

	if (geteuid() != 0) {
		print_message("skipped: needs root for network namespaces\n");
		skip();
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(60);
		if (unshare(CLONE_NEWNET) < 0)
			_exit(77);
		ns_node = prepare_ns();
		CHECK(unshare(CLONE_NEWNET) == 0);
		ns_peer = prepare_ns();
		enter(ns_node);
		body();
		exit(0);		/* exit, not _exit: leak checks run */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
		print_message("skipped: cannot create a network namespace\n");
		skip();
	}
	if (WIFSIGNALED(status))
		fail_msg("test child killed by signal %d", WTERMSIG(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/*
 * Wait, at most 3 s, until ifname of the current namespace is
 * operationally up: until the kernel's link watch has seen the carrier, a
 * new veth still has the no-op queue that drops every frame sent.
 */
static void
wait_running(const char *ifname)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int i;

	CHECK(fd >= 0);
	for (i = 0; i < 300; i++) {
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
		CHECK(ioctl(fd, SIOCGIFFLAGS, &ifr) == 0);
		if (ifr.ifr_flags & IFF_RUNNING)
			break;
		usleep(10000);
	}
	close(fd);
	CHECK(i < 300);
}

/*
 * A veth pair: node_if in the node's namespace, peer_if in the peer's,
 * each with its address (ADDRESS/PREFIX or NULL), both up and running.
 * Ends in the node's namespace.
 */
static void
veth(const char *node_if, const char *node_addr, const char *peer_if,
    const char *peer_addr)
{
	enter(ns_node);
	RUN("ip link add %s type veth peer name %s netns /proc/self/fd/%d",
	    node_if, peer_if, ns_peer);
	if (node_addr != NULL)
		RUN("ip addr add %s dev %s", node_addr, node_if);
	RUN("ip link set %s up", node_if);
	enter(ns_peer);
	if (peer_addr != NULL)
		RUN("ip addr add %s dev %s", peer_addr, peer_if);
	RUN("ip link set %s up", peer_if);
	wait_running(peer_if);
	enter(ns_node);
	wait_running(node_if);
}

static struct ipaddr
addr(const char *s)
{
	struct ipaddr a;

	CHECK(parse_ipaddr(s, 0, &a) == 0);
	return a;
}

static void
mac_of(const char *ifname, uint8_t mac[6])
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	CHECK(ioctl(fd, SIOCGIFHWADDR, &ifr) == 0);
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	close(fd);
}

/* A packet socket on ifname of the current namespace that gets ARP frames. */
static int
arp_listener(const char *ifname)
{
	struct sockaddr_ll sll;
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ARP));

	CHECK(fd >= 0);
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ARP);
	sll.sll_ifindex = (int)if_nametoindex(ifname);
	CHECK(sll.sll_ifindex > 0);
	CHECK(bind(fd, (struct sockaddr *)&sll, sizeof(sll)) == 0);
	return fd;
}

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
