/*
 * Gratuitous ARP and unsolicited neighbour advertisements, written byte by
 * byte into Ethernet frames and sent from an AF_PACKET socket, so that they
 * carry the interface's own MAC and bypass the node's packet filter.
 */
#include "engine/garp.h"
#include "common/bytes.h"
#include "common/util.h"
#include "common/values.h"

#include <errno.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netpacket/packet.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#define ETH_HDR		14
#define ARP_LEN		28
#define ETH_MIN		60		/* without the FCS */
#define IP6_HDR		40
#define NA_LEN		32		/* advertisement + link-layer option */

static const uint8_t broadcast_mac[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t allnodes_mac[6] = { 0x33, 0x33, 0x00, 0x00, 0x00, 0x01 };

static int
check_ifname(const char *ifname, char *err, size_t errlen)
{
	if (ifname == NULL || *ifname == '\0') {
		snprintf(err, errlen, "no interface name given");
		return -1;
	}
	if (strlen(ifname) >= IF_NAMESIZE) {
		snprintf(err, errlen, "interface name \"%.*s...\" is longer than "
		    "%d characters", IF_NAMESIZE, ifname, IF_NAMESIZE - 1);
		return -1;
	}
	return 0;
}

/*
 * The socket is opened with protocol 0 and only bind() names the EtherType
 * to receive, so no frame of another interface can slip in between socket()
 * and bind(). Ethertype 0 makes a socket that only sends.
 */
static int
open_packet(const char *ifname, uint16_t ethertype, struct garp_link *link,
    char *err, size_t errlen)
{
	struct sockaddr_ll sll;
	struct ifreq ifr;
	int fd;

	if (check_ifname(ifname, err, errlen) < 0)
		return -1;
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "packet socket for %s: %s", ifname,
		    strerror(errno));
		return -1;
	}
	memset(&ifr, 0, sizeof(ifr));
	xstrlcpy(ifr.ifr_name, ifname, sizeof(ifr.ifr_name));
	if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) {
		snprintf(err, errlen, "interface %s: %s", ifname,
		    strerror(errno));
		goto fail;
	}
	link->ifindex = ifr.ifr_ifindex;
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
		snprintf(err, errlen, "MAC address of %s: %s", ifname,
		    strerror(errno));
		goto fail;
	}
	if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
		snprintf(err, errlen, "interface %s is not Ethernet (hardware "
		    "type %d)", ifname, ifr.ifr_hwaddr.sa_family);
		goto fail;
	}
	memcpy(link->mac, ifr.ifr_hwaddr.sa_data, 6);
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ethertype);
	sll.sll_ifindex = link->ifindex;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		snprintf(err, errlen, "bind packet socket to %s: %s", ifname,
		    strerror(errno));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

int
garp_open(const char *ifname, struct garp_link *link, char *err, size_t errlen)
{
	return open_packet(ifname, ETH_P_ARP, link, err, errlen);
}

static uint8_t *
put(uint8_t *p, const void *src, size_t n)
{
	memcpy(p, src, n);
	return p + n;
}

size_t
garp_arp_build(uint8_t *buf, size_t len, const struct arp_msg *m)
{
	uint8_t *p = buf;

	if (len < ETH_MIN)
		return 0;
	memset(buf, 0, ETH_MIN);
	p = put(p, m->eth_dst, 6);
	p = put(p, m->sha, 6);
	p = put16(p, ETH_P_ARP);
	p = put16(p, ARPHRD_ETHER);
	p = put16(p, ETH_P_IP);
	*p++ = 6;
	*p++ = 4;
	p = put16(p, m->op);
	p = put(p, m->sha, 6);
	p = put(p, &m->spa, 4);
	p = put(p, m->tha, 6);
	put(p, &m->tpa, 4);
	return ETH_MIN;
}

bool
garp_arp_parse(const uint8_t *buf, size_t len, struct arp_msg *m)
{
	const uint8_t *a = buf + ETH_HDR;

	if (len < ETH_HDR + ARP_LEN || get16(buf + 12) != ETH_P_ARP)
		return false;
	if (get16(a) != ARPHRD_ETHER || get16(a + 2) != ETH_P_IP ||
	    a[4] != 6 || a[5] != 4)
		return false;
	memcpy(m->eth_dst, buf, 6);
	memcpy(m->eth_src, buf + 6, 6);
	m->op = get16(a + 6);
	memcpy(m->sha, a + 8, 6);
	memcpy(&m->spa, a + 14, 4);
	memcpy(m->tha, a + 18, 6);
	memcpy(&m->tpa, a + 24, 4);
	return true;
}

/* The Internet checksum of the IPv6 pseudo-header and an ICMPv6 message. */
static uint16_t
icmp6_sum(const struct in6_addr *src, const struct in6_addr *dst,
    const uint8_t *msg, size_t len)
{
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i < 16; i += 2) {
		sum += get16(src->s6_addr + i);
		sum += get16(dst->s6_addr + i);
	}
	sum += (uint32_t)len;
	sum += IPPROTO_ICMPV6;
	for (i = 0; i + 1 < len; i += 2)
		sum += get16(msg + i);
	if (i < len)
		sum += (uint32_t)msg[i] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/*
 * RFC 4861 7.2.6: an unsolicited advertisement goes to all nodes, with the
 * override flag so that caches holding the old node's MAC take the new
 * one, without the solicited flag, and with hop limit 255 or receivers
 * drop it. Its source is the announced address itself.
 */
size_t
garp_na_build(uint8_t *buf, size_t len, const uint8_t mac[6],
    const struct in6_addr *ip)
{
	struct in6_addr allnodes;
	uint8_t *p = buf, *icmp;
	size_t total = ETH_HDR + IP6_HDR + NA_LEN;

	if (len < total)
		return 0;
	memset(buf, 0, total);
	inet_pton(AF_INET6, "ff02::1", &allnodes);
	p = put(p, allnodes_mac, 6);
	p = put(p, mac, 6);
	p = put16(p, ETH_P_IPV6);
	*p = 0x60;				/* version 6, class and flow 0 */
	p += 4;
	p = put16(p, NA_LEN);
	*p++ = IPPROTO_ICMPV6;
	*p++ = 255;
	p = put(p, ip, 16);
	p = put(p, &allnodes, 16);
	icmp = p;
	*p++ = 136;				/* neighbour advertisement */
	*p++ = 0;
	p += 2;					/* checksum, below */
	*p = 0x20;				/* override */
	p += 4;
	p = put(p, ip, 16);
	*p++ = 2;				/* target link-layer address */
	*p++ = 1;				/* in units of 8 bytes */
	put(p, mac, 6);
	put16(icmp + 2, icmp6_sum(ip, &allnodes, icmp, NA_LEN));
	return total;
}

int
garp_send(const char *ifname, const struct ipaddr *ip, int count, char *err,
    size_t errlen)
{
	struct garp_link link;
	struct sockaddr_ll to;
	uint8_t frame[GARP_FRAME_MAX];
	size_t len = 0;
	int fd, i, rc = -1;

	if (ip == NULL || (ip->family != AF_INET && ip->family != AF_INET6)) {
		snprintf(err, errlen, "garp: no IPv4 or IPv6 address given");
		return -1;
	}
	if (count < 1 || count > GARP_MAX_COUNT) {
		snprintf(err, errlen, "garp: count %d out of range, expected 1 "
		    "to %d", count, GARP_MAX_COUNT);
		return -1;
	}
	if (ip->family == AF_INET ? ip->v4.s_addr == INADDR_ANY :
	    IN6_IS_ADDR_UNSPECIFIED(&ip->v6)) {
		snprintf(err, errlen, "garp: cannot announce the unspecified "
		    "address");
		return -1;
	}
	fd = open_packet(ifname, 0, &link, err, errlen);
	if (fd < 0)
		return -1;
	memset(&to, 0, sizeof(to));
	to.sll_family = AF_PACKET;
	to.sll_ifindex = link.ifindex;
	to.sll_halen = 6;
	for (i = 0; i < count; i++) {
		if (ip->family == AF_INET) {
			struct arp_msg m;

			memset(&m, 0, sizeof(m));
			memcpy(m.eth_dst, broadcast_mac, 6);
			memcpy(m.sha, link.mac, 6);
			m.spa = m.tpa = ip->v4;
			m.op = i % 2 == 0 ? ARPOP_REQUEST : ARPOP_REPLY;
			if (m.op == ARPOP_REPLY)
				memcpy(m.tha, link.mac, 6);
			len = garp_arp_build(frame, sizeof(frame), &m);
			to.sll_protocol = htons(ETH_P_ARP);
			memcpy(to.sll_addr, broadcast_mac, 6);
		} else {
			len = garp_na_build(frame, sizeof(frame), link.mac,
			    &ip->v6);
			to.sll_protocol = htons(ETH_P_IPV6);
			memcpy(to.sll_addr, allnodes_mac, 6);
		}
		if (sendto(fd, frame, len, MSG_DONTWAIT, (struct sockaddr *)&to,
		    sizeof(to)) != (ssize_t)len) {
			snprintf(err, errlen, "garp: send on %s (frame %d of "
			    "%d): %s", ifname, i + 1, count, strerror(errno));
			goto out;
		}
	}
	rc = 0;
out:
	close(fd);
	return rc;
}
