/*
 * Announcing the public IP on the wire: gratuitous ARP (IPv4) and
 * unsolicited neighbour advertisements (IPv6) from a packet socket, and the
 * ARP frame reader and writer that the probes (engine/probe.c) share.
 */
#ifndef LIFELINE_GARP_H
#define LIFELINE_GARP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

struct ipaddr;

#define GARP_MAX_COUNT	16		/* frames one garp_send may queue */
#define GARP_FRAME_MAX	128		/* room for any frame built here */

/*
 * Announce ip from ifname's MAC address, count frames queued at once
 * (1..GARP_MAX_COUNT). IPv4: ARP requests with sender = target = ip to the
 * broadcast address, alternating with the reply form (op 2, target MAC =
 * own MAC) that some neighbours only honour. IPv6: unsolicited neighbour
 * advertisements (override flag, target link-layer option) from ip to
 * ff02::1. Never blocks and never sleeps: the engine spaces repeats on its
 * loop. The frames leave through a packet socket, so they go out even while
 * the filter still hides the address. Returns 0, or -1 with a message in
 * err (bad argument, unknown or non-Ethernet interface, or a send that
 * failed, including a full transmit queue).
 */
int garp_send(const char *ifname, const struct ipaddr *ip, int count,
    char *err, size_t errlen);

/* One ARP message for Ethernet and IPv4, host byte order for op. */
struct arp_msg {
	uint8_t		 eth_src[6];	/* parse only: frame source */
	uint8_t		 eth_dst[6];
	uint16_t	 op;		/* 1 request, 2 reply */
	uint8_t		 sha[6];
	struct in_addr	 spa;
	uint8_t		 tha[6];
	struct in_addr	 tpa;
};

/* An interface as a packet socket sees it. */
struct garp_link {
	int		 ifindex;
	uint8_t		 mac[6];
};

/*
 * Open a non-blocking, close-on-exec AF_PACKET socket bound to ifname that
 * receives and sends whole Ethernet frames of type ARP, and fill link with
 * the interface's index and MAC. Returns the socket, or -1 with a message
 * in err (no such interface, not Ethernet, no CAP_NET_RAW).
 */
int garp_open(const char *ifname, struct garp_link *link, char *err,
    size_t errlen);

/*
 * Write the Ethernet frame for m (source = m->sha, destination =
 * m->eth_dst), padded to the 60-byte Ethernet minimum, into buf. Returns
 * its length, or 0 when len is too small.
 */
size_t garp_arp_build(uint8_t *buf, size_t len, const struct arp_msg *m);

/*
 * Read an Ethernet frame as an ARP message for Ethernet and IPv4. Returns
 * false for anything else (other EtherType, other hardware or protocol
 * type, short frame).
 */
bool garp_arp_parse(const uint8_t *buf, size_t len, struct arp_msg *m);

/*
 * Write the Ethernet frame of an unsolicited neighbour advertisement of ip
 * from mac to all nodes (ff02::1), checksum included. Returns its length,
 * or 0 when len is too small.
 */
size_t garp_na_build(uint8_t *buf, size_t len, const uint8_t mac[6],
    const struct in6_addr *ip);

#endif
