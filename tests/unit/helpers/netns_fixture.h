/*
 * The fixture of the unit tests that need a network: a forked child with
 * two network namespaces of its own, the node's and a peer's, joined by
 * veth pairs, which vanish with the child. The host's interfaces and
 * ruleset are never used.
 */
#ifndef LIFELINE_TEST_NETNS_FIXTURE_H
#define LIFELINE_TEST_NETNS_FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "common/values.h"

/*
 * In the child, a failed check ends the child: cmocka lives in the parent.
 * CHECK_RC prints the message its caller left in a buffer named err.
 */
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

/* run() that must succeed, or the child ends saying which command failed. */
#define RUN(...) do {							\
	if (run(__VA_ARGS__) != 0) {					\
		fprintf(stderr, "%s:%d: command failed: ", __FILE__,	\
		    __LINE__);						\
		fprintf(stderr, __VA_ARGS__);				\
		fprintf(stderr, "\n");					\
		_exit(1);						\
	}								\
} while (0)

/* The two namespaces of the child, as file descriptors for enter(). */
extern int ns_node, ns_peer;

/*
 * Run body in a child inside fresh namespaces: the node's (entered at the
 * start) and the peer's. Skipped without root or without namespaces; a
 * child that does not exit 0 fails the calling test.
 */
void isolated(void (*body)(void));

/* Move the child into ns_node or ns_peer. */
void enter(int ns);

/*
 * A veth pair: node_if in the node's namespace, peer_if in the peer's,
 * each with its address (ADDRESS/PREFIX or NULL), both up and running.
 * Ends in the node's namespace.
 */
void veth(const char *node_if, const char *node_addr, const char *peer_if,
    const char *peer_addr);

/* Run a command given as one line of words, quietly; its exit status. */
int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Write value to a /proc/sys file of the current namespace. */
void set_sysctl(const char *path, const char *value);

/* "192.0.2.10" (or with a prefix) as an address; a bad one ends the child. */
struct ipaddr addr(const char *s);

/* The hardware address of ifname in the current namespace. */
void mac_of(const char *ifname, uint8_t mac[6]);

/*
 * A packet socket bound to ifname of the current namespace: it gets every
 * ARP frame there, and send() puts a whole Ethernet frame on that link.
 */
int arp_listener(const char *ifname);

#endif
