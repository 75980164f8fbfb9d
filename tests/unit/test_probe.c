/*
 * Unit tests of engine/probe on a real libevent loop: ICMP echo rounds,
 * ARP probes of the public IP (also through the hiding filter), and the
 * watch for another MAC claiming it. Tests that need root run in a forked
 * child with two network namespaces of its own (the node and a peer joined
 * by a veth pair), which vanish with the child.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
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
#include "engine/garp.h"
#include "engine/probe.h"
#include "helpers/netns_fixture.h"

#define PUBLIC_IP	"192.0.2.10"
#define PEER_PUB	"192.0.2.1"
#define NOBODY		"192.0.2.2"

static char err[512];		/* what a failed call said; CHECK_RC prints it */

/*
 * Run the loop until a callback breaks it or limit_ms passes; returns the
 * milliseconds it ran.
 */
static uint64_t
run_loop(struct event_base *base, uint64_t limit_ms)
{
	struct timeval tv = { (time_t)(limit_ms / 1000),
	    (suseconds_t)(limit_ms % 1000) * 1000 };
	uint64_t start = now_mono_ms();

	CHECK(event_base_loopexit(base, &tv) == 0);
	CHECK(event_base_dispatch(base) >= 0);
	return now_mono_ms() - start;
}

/* Lines in a /proc/self/net table, header excluded. */
static int
proc_net_entries(const char *name)
{
	char path[64], line[512];
	FILE *f;
	int n = -1;

	snprintf(path, sizeof(path), "/proc/self/net/%s", name);
	CHECK((f = fopen(path, "r")) != NULL);
	for (int i = 0; i < 1000 && fgets(line, sizeof(line), f) != NULL; i++)
		n++;
	fclose(f);
	return n;
}

/* ICMP echo ------------------------------------------------------------ */

#define NTARGETS 3

struct pings {
	struct event_base	*base;
	struct probe_ping	*p;
	int			 calls;
	int			 want;		/* break the loop after this many */
	int			 reported[NTARGETS];
	bool			 answered[NTARGETS];
	double			 rtt[NTARGETS];
	bool			 chain;		/* start round 2 from the last report */
	bool			 free_first;	/* free the pinger in the first report */
	bool			 busy_wrong;	/* busy in the last report, or idle before */
};

static void
on_ping(void *arg, int i, bool answered, double rtt_ms)
{
	struct pings *r = arg;

	CHECK(i >= 0 && i < NTARGETS);
	r->calls++;
	r->reported[i]++;
	r->answered[i] = answered;
	r->rtt[i] = rtt_ms;
	if (probe_ping_busy(r->p) != (r->calls % NTARGETS != 0))
		r->busy_wrong = true;
	if (r->free_first) {
		probe_ping_free(r->p);
		r->p = NULL;
		r->free_first = false;
		return;
	}
	if (r->chain && r->calls == NTARGETS) {
		CHECK(!probe_ping_busy(r->p));
		CHECK_RC(probe_ping_send(r->p, 300, err, sizeof(err)));
	}
	if (r->calls == r->want)
		event_base_loopbreak(r->base);
}

/*
 * One round to the peer (answers), an address nobody has (does not), and
 * loopback (answers): each reported once, the silent one at the timeout.
 */
static void
ping_round(struct event_base *base, bool chain)
{
	struct ipaddr targets[NTARGETS] = {
		addr(PEER_PUB), addr(NOBODY), addr("127.0.0.1"),
	};
	struct pings r;
	uint64_t ms;

	memset(&r, 0, sizeof(r));
	r.base = base;
	r.want = chain ? 2 * NTARGETS : NTARGETS;
	r.chain = chain;
	r.p = probe_ping_new(base, targets, NTARGETS, on_ping, &r, err,
	    sizeof(err));
	if (r.p == NULL) {
		fprintf(stderr, "probe_ping_new: %s\n", err);
		_exit(1);
	}
	CHECK_RC(probe_ping_send(r.p, 300, err, sizeof(err)));
	CHECK(probe_ping_busy(r.p));
	CHECK(probe_ping_send(r.p, 300, err, sizeof(err)) == -1);
	CHECK(strstr(err, "still running") != NULL);
	ms = run_loop(base, 5000);

	CHECK(r.calls == r.want);
	for (int i = 0; i < NTARGETS; i++)
		CHECK(r.reported[i] == (chain ? 2 : 1));
	CHECK(r.answered[0] && r.rtt[0] > 0 && r.rtt[0] < 300);
	CHECK(!r.answered[1] && r.rtt[1] == 0);
	CHECK(r.answered[2] && r.rtt[2] > 0 && r.rtt[2] < 300);
	CHECK(ms >= (chain ? 590 : 290) && ms < (chain ? 2000 : 1500));
	CHECK(!r.busy_wrong);
	CHECK(!probe_ping_busy(r.p));
	probe_ping_free(r.p);
}

/*
 * Raw ICMP socket first (ping_group_range excludes everyone in a new
 * namespace), then an unprivileged ping socket, told apart by where the
 * kernel lists the socket (a ping socket once it has sent). Freeing a
 * pinger in the middle of a round is allowed.
 */
static void
body_ping(void)
{
	struct event_base *base = event_base_new();
	struct ipaddr one = addr(PEER_PUB);
	struct probe_ping *p;

	CHECK(base != NULL);
	veth("pub0", PUBLIC_IP "/24", "pub1", PEER_PUB "/24");

	CHECK((p = probe_ping_new(base, &one, 1, on_ping, NULL, err,
	    sizeof(err))) != NULL);
	CHECK_RC(probe_ping_send(p, 100, err, sizeof(err)));
	CHECK(proc_net_entries("raw") == 1 && proc_net_entries("icmp") == 0);
	probe_ping_free(p);
	ping_round(base, false);
	ping_round(base, true);

	set_sysctl("/proc/sys/net/ipv4/ping_group_range", "0 0");
	CHECK((p = probe_ping_new(base, &one, 1, on_ping, NULL, err,
	    sizeof(err))) != NULL);
	CHECK_RC(probe_ping_send(p, 100, err, sizeof(err)));
	CHECK(proc_net_entries("raw") == 0 && proc_net_entries("icmp") == 1);
	probe_ping_free(p);
	ping_round(base, false);
	ping_round(base, true);
	event_base_free(base);
}

/* A callback may free its pinger; nothing more is reported after that. */
static void
body_ping_free_in_callback(void)
{
	struct event_base *base = event_base_new();
	struct ipaddr targets[NTARGETS] = {
		addr(PEER_PUB), addr(NOBODY), addr("127.0.0.1"),
	};
	struct pings r;

	veth("pub0", PUBLIC_IP "/24", "pub1", PEER_PUB "/24");
	memset(&r, 0, sizeof(r));
	r.base = base;
	r.want = -1;
	r.free_first = true;
	CHECK((r.p = probe_ping_new(base, targets, NTARGETS, on_ping, &r, err,
	    sizeof(err))) != NULL);
	CHECK_RC(probe_ping_send(r.p, 200, err, sizeof(err)));
	run_loop(base, 600);
	CHECK(r.calls == 1 && r.p == NULL);
	event_base_free(base);
}

/* ARP probe ------------------------------------------------------------ */

struct arp_result {
	struct event_base	*base;
	struct probe_arp	*a;
	int			 calls;
	bool			 answered;
	uint8_t			 mac[6];
	bool			 mac_null;
};

static void
on_arp(void *arg, bool answered, const uint8_t mac[6])
{
	struct arp_result *r = arg;

	r->calls++;
	r->answered = answered;
	r->mac_null = mac == NULL;
	if (mac != NULL)
		memcpy(r->mac, mac, 6);
	probe_arp_free(r->a);
	event_base_loopbreak(r->base);
}

/* Probe ip on ifname of the current namespace; how long it took. */
static uint64_t
arp_probe(struct event_base *base, const char *ifname, const char *ip,
    struct arp_result *r)
{
	struct ipaddr a = addr(ip);
	uint64_t ms;

	memset(r, 0, sizeof(*r));
	r->base = base;
	r->a = probe_arp_start(base, ifname, &a, 400, on_arp, r, err,
	    sizeof(err));
	if (r->a == NULL) {
		fprintf(stderr, "probe_arp_start: %s\n", err);
		_exit(1);
	}
	ms = run_loop(base, 3000);
	CHECK(r->calls == 1);
	CHECK(r->mac_null == !r->answered);
	return ms;
}

/*
 * The peer sees the node's MAC for the public IP, and nothing once the
 * node hides it. Then the roles swap: the peer owns the address and the
 * node, hidden as a passive, still sees the peer's MAC through its own
 * filter, which is what the failover rule needs.
 */
static void
body_arp_probe(void)
{
	struct event_base *base = event_base_new();
	struct ipaddr pub = addr(PUBLIC_IP);
	struct arp_result r;
	uint8_t node_mac[6], peer_mac[6];
	uint64_t ms;

	veth("pub0", PUBLIC_IP "/24", "pub1", PEER_PUB "/24");
	mac_of("pub0", node_mac);
	enter(ns_peer);
	mac_of("pub1", peer_mac);

	ms = arp_probe(base, "pub1", PUBLIC_IP, &r);
	CHECK(r.answered && memcmp(r.mac, node_mac, 6) == 0 && ms < 400);
	ms = arp_probe(base, "pub1", NOBODY, &r);
	CHECK(!r.answered && ms >= 390 && ms < 1500);

	enter(ns_node);
	CHECK_RC(filter_hide(&pub, "pub0", err, sizeof(err)));
	enter(ns_peer);
	ms = arp_probe(base, "pub1", PUBLIC_IP, &r);
	CHECK(!r.answered && ms >= 390 && ms < 1500);

	enter(ns_node);
	RUN("ip addr del " PUBLIC_IP "/24 dev pub0");
	enter(ns_peer);
	RUN("ip addr add " PUBLIC_IP "/24 dev pub1");
	enter(ns_node);
	ms = arp_probe(base, "pub0", PUBLIC_IP, &r);
	CHECK(r.answered && memcmp(r.mac, peer_mac, 6) == 0 && ms < 400);
	CHECK_RC(filter_unhide(err, sizeof(err)));
	event_base_free(base);
}

/* Claim watch ---------------------------------------------------------- */

struct claims {
	struct event_base	*base;
	struct probe_garp	*w;
	int			 calls;
	uint8_t			 mac[6];
	bool			 free_it;
};

static void
on_claim(void *arg, const uint8_t mac[6])
{
	struct claims *c = arg;

	c->calls++;
	memcpy(c->mac, mac, 6);
	if (c->free_it) {
		probe_garp_free(c->w);
		c->w = NULL;
	}
	event_base_loopbreak(c->base);
}

/*
 * The node, active on the public IP, ignores its own announcements and
 * the peer's announcements of other addresses, and hears the peer's claim
 * of the public IP with the peer's MAC.
 */
static void
body_watch(void)
{
	struct event_base *base = event_base_new();
	struct ipaddr pub = addr(PUBLIC_IP), other = addr("192.0.2.50");
	struct claims c;
	uint8_t peer_mac[6];

	veth("pub0", PUBLIC_IP "/24", "pub1", PEER_PUB "/24");
	enter(ns_peer);
	mac_of("pub1", peer_mac);
	enter(ns_node);
	memset(&c, 0, sizeof(c));
	c.base = base;
	CHECK((c.w = probe_watch_garp(base, "pub0", &pub, on_claim, &c, err,
	    sizeof(err))) != NULL);

	CHECK_RC(garp_send("pub0", &pub, 2, err, sizeof(err)));
	enter(ns_peer);
	CHECK_RC(garp_send("pub1", &other, 2, err, sizeof(err)));
	enter(ns_node);
	run_loop(base, 300);
	CHECK(c.calls == 0);

	enter(ns_peer);
	CHECK_RC(garp_send("pub1", &pub, 1, err, sizeof(err)));
	enter(ns_node);
	run_loop(base, 2000);
	CHECK(c.calls == 1 && memcmp(c.mac, peer_mac, 6) == 0);

	c.free_it = true;
	enter(ns_peer);
	CHECK_RC(garp_send("pub1", &pub, 2, err, sizeof(err)));
	enter(ns_node);
	run_loop(base, 2000);
	CHECK(c.calls == 2 && c.w == NULL);
	run_loop(base, 200);
	CHECK(c.calls == 2);
	event_base_free(base);
}

/* Refused arguments, each with its reason. */
static void
body_bad_input(void)
{
	struct event_base *base = event_base_new();
	struct ipaddr t[PROBE_MAX_TARGETS + 1], v6 = addr("2001:db8::10");
	struct ipaddr pub = addr(PUBLIC_IP);
	struct probe_ping *p;

	for (size_t i = 0; i < nitems(t); i++)
		t[i] = addr(PEER_PUB);
	CHECK(probe_ping_new(base, t, 0, on_ping, NULL, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "0 ping targets") != NULL);
	CHECK(probe_ping_new(base, t, nitems(t), on_ping, NULL, err,
	    sizeof(err)) == NULL);
	CHECK(probe_ping_new(base, t, 1, NULL, NULL, err, sizeof(err)) == NULL);
	t[1] = addr("224.0.0.1");
	CHECK(probe_ping_new(base, t, 2, on_ping, NULL, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "target 1 is not a unicast") != NULL);

	CHECK((p = probe_ping_new(base, t, 1, on_ping, NULL, err,
	    sizeof(err))) != NULL);
	CHECK(probe_ping_send(p, 0, err, sizeof(err)) == -1);
	CHECK(strstr(err, "timeout 0 ms out of range") != NULL);
	CHECK(probe_ping_send(p, PROBE_MAX_TIMEOUT_MS + 1, err,
	    sizeof(err)) == -1);
	probe_ping_free(p);

	CHECK(probe_arp_start(base, "lo", &v6, 100, on_arp, NULL, err,
	    sizeof(err)) == NULL);
	CHECK(strstr(err, "IPv6 is not supported yet") != NULL);
	CHECK(probe_arp_start(base, "lo", &pub, 0, on_arp, NULL, err,
	    sizeof(err)) == NULL);
	CHECK(strstr(err, "out of range") != NULL);
	CHECK(probe_arp_start(base, "nosuch0", &pub, 100, on_arp, NULL, err,
	    sizeof(err)) == NULL);
	CHECK(strstr(err, "nosuch0") != NULL);
	CHECK(probe_arp_start(base, "lo", &pub, 100, on_arp, NULL, err,
	    sizeof(err)) == NULL);
	CHECK(strstr(err, "not Ethernet") != NULL);
	CHECK(probe_watch_garp(base, "pub0", &v6, on_claim, NULL, err,
	    sizeof(err)) == NULL);
	CHECK(strstr(err, "IPv6 is not supported yet") != NULL);
	CHECK(probe_watch_garp(NULL, "pub0", &pub, on_claim, NULL, err,
	    sizeof(err)) == NULL);
	event_base_free(base);
}

static void
test_ping(void **state)
{
	isolated(body_ping);
}

static void
test_ping_free_in_callback(void **state)
{
	isolated(body_ping_free_in_callback);
}

static void
test_arp_probe(void **state)
{
	isolated(body_arp_probe);
}

static void
test_watch(void **state)
{
	isolated(body_watch);
}

static void
test_bad_input(void **state)
{
	isolated(body_bad_input);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_ping),
		cmocka_unit_test(test_ping_free_in_callback),
		cmocka_unit_test(test_arp_probe),
		cmocka_unit_test(test_watch),
	};

	log_init(LOG_TO_STDERR, 0, "test_probe");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
