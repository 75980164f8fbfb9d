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
#include "engine/filter.h"

#define PUBLIC_IP	"192.0.2.10"
#define PEER_PUB	"192.0.2.1"
#define NODE_MGMT	"198.51.100.11"
#define PEER_MGMT	"198.51.100.1"

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
	struct sockaddr_ll sll;
	struct in_addr spa, tpa;
	uint64_t deadline = now_mono_ms() + (uint64_t)timeout_ms;
	bool answered = false;
	int fd;

	CHECK(inet_pton(AF_INET, sender, &spa) == 1);
	CHECK(inet_pton(AF_INET, target, &tpa) == 1);
	mac_of(ifname, mac);
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ARP));
	CHECK(fd >= 0);
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ARP);
	sll.sll_ifindex = (int)if_nametoindex(ifname);
	CHECK(sll.sll_ifindex > 0);
	CHECK(bind(fd, (struct sockaddr *)&sll, sizeof(sll)) == 0);

	memset(frame, 0, sizeof(frame));
	memset(frame, 0xff, 6);
	memcpy(frame + 6, mac, 6);
	memcpy(frame + 12, "\x08\x06\x00\x01\x08\x00\x06\x04\x00\x01", 10);
	memcpy(frame + 22, mac, 6);
	memcpy(frame + 28, &spa, 4);
	memcpy(frame + 38, &tpa, 4);
	sll.sll_halen = 6;
	memset(sll.sll_addr, 0xff, 6);
	CHECK(sendto(fd, frame, sizeof(frame), 0, (struct sockaddr *)&sll,
	    sizeof(sll)) == (ssize_t)sizeof(frame));

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
