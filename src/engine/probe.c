/*
 * Probes of the public network for the failover rules: ICMP echo rounds,
 * ARP probes of the public IP, and a watch for claims of it by another
 * MAC. Every socket is non-blocking, every wait is a libevent timer.
 */
#include "engine/probe.h"
#include "engine/garp.h"
#include "common/log.h"
#include "common/util.h"
#include "common/values.h"

#include <event2/event.h>

#include <errno.h>
#include <linux/icmp.h>
#include <net/ethernet.h>
#include <netinet/icmp6.h>
#include <netpacket/packet.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ICMP_HDR	8
#define COOKIE_LEN	8
#define ECHO_LEN	(ICMP_HDR + COOKIE_LEN)
#define READ_BURST	64		/* datagrams or frames per wake-up */

static int
check_timeout(uint64_t timeout_ms, char *err, size_t errlen)
{
	if (timeout_ms < 1 || timeout_ms > PROBE_MAX_TIMEOUT_MS) {
		snprintf(err, errlen, "probe: timeout %llu ms out of range, "
		    "expected 1 to %d", (unsigned long long)timeout_ms,
		    PROBE_MAX_TIMEOUT_MS);
		return -1;
	}
	return 0;
}

static struct timeval
ms_to_tv(uint64_t ms)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	return tv;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ICMP echo ---------------------------------------------------------- */

enum target_state { T_IDLE, T_PENDING };

struct ping_target {
	struct ipaddr		 addr;
	enum target_state	 state;
	uint16_t		 seq;
	uint64_t		 sent_ns;
};

struct ping_sock {
	int			 fd;
	bool			 raw;
	struct event		*ev;
};

struct probe_ping {
	probe_ping_cb		*cb;
	void			*arg;
	struct ping_target	 t[PROBE_MAX_TARGETS];
	size_t			 n;
	struct ping_sock	 s4, s6;
	struct event		*timer;
	uint16_t		 ident;		/* raw sockets only */
	uint16_t		 next_seq;
	uint8_t			 cookie[COOKIE_LEN];
	size_t			 pending;
	bool			 busy;
	int			 in_cb;
	bool			 dead;
};

static void on_ping_readable(evutil_socket_t, short, void *);
static void on_ping_timeout(evutil_socket_t, short, void *);

/*
 * A ping socket needs no privilege but exists only for the groups in
 * net.ipv4.ping_group_range (which also governs IPv6); a raw socket needs
 * CAP_NET_RAW and sees every ICMP message of the namespace, so it gets a
 * kernel filter that lets only echo replies through.
 */
static int
open_ping(int family, struct ping_sock *s, char *err, size_t errlen)
{
	int proto = family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
	const char *name = family == AF_INET ? "ICMP" : "ICMPv6";
	int dgram_errno;

	s->fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
	if (s->fd >= 0) {
		s->raw = false;
		return 0;
	}
	dgram_errno = errno;
	s->fd = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
	if (s->fd < 0) {
		snprintf(err, errlen, "probe: no %s socket: ping socket "
		    "refused (%s, see net.ipv4.ping_group_range), raw socket "
		    "refused (%s)", name, strerror(dgram_errno), strerror(errno));
		return -1;
	}
	s->raw = true;
	if (family == AF_INET) {
		struct icmp_filter f = { ~(1u << ICMP_ECHOREPLY) };

		if (setsockopt(s->fd, SOL_RAW, ICMP_FILTER, &f, sizeof(f)) < 0)
			goto filter;
	} else {
		struct icmp6_filter f;

		ICMP6_FILTER_SETBLOCKALL(&f);
		ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &f);
		if (setsockopt(s->fd, IPPROTO_ICMPV6, ICMP6_FILTER, &f,
		    sizeof(f)) < 0)
			goto filter;
	}
	return 0;
filter:
	snprintf(err, errlen, "probe: %s filter: %s", name, strerror(errno));
	close(s->fd);
	s->fd = -1;
	return -1;
}

static void
ping_destroy(struct probe_ping *p)
{
	struct ping_sock *socks[] = { &p->s4, &p->s6 };

	for (size_t i = 0; i < nitems(socks); i++) {
		if (socks[i]->ev != NULL)
			event_free(socks[i]->ev);
		if (socks[i]->fd >= 0)
			close(socks[i]->fd);
	}
	if (p->timer != NULL)
		event_free(p->timer);
	free(p);
}

void
probe_ping_free(struct probe_ping *p)
{
	if (p == NULL)
		return;
	if (p->in_cb > 0)
		p->dead = true;
	else
		ping_destroy(p);
}

struct probe_ping *
probe_ping_new(struct event_base *base, const struct ipaddr *targets,
    size_t ntargets, probe_ping_cb *cb, void *arg, char *err, size_t errlen)
{
	struct probe_ping *p;
	size_t i;

	if (base == NULL || cb == NULL) {
		snprintf(err, errlen, "probe: ping needs an event base and a "
		    "callback");
		return NULL;
	}
	if (targets == NULL || ntargets < 1 || ntargets > PROBE_MAX_TARGETS) {
		snprintf(err, errlen, "probe: %zu ping targets, expected 1 to %d",
		    targets == NULL ? 0 : ntargets, PROBE_MAX_TARGETS);
		return NULL;
	}
	for (i = 0; i < ntargets; i++) {
		const struct ipaddr *a = &targets[i];

		if ((a->family == AF_INET && a->v4.s_addr != INADDR_ANY &&
		    !IN_MULTICAST(ntohl(a->v4.s_addr))) ||
		    (a->family == AF_INET6 && !IN6_IS_ADDR_UNSPECIFIED(&a->v6) &&
		    !IN6_IS_ADDR_MULTICAST(&a->v6)))
			continue;
		snprintf(err, errlen, "probe: ping target %zu is not a unicast "
		    "IPv4 or IPv6 address", i);
		return NULL;
	}
	p = xcalloc(1, sizeof(*p));
	p->s4.fd = p->s6.fd = -1;
	p->cb = cb;
	p->arg = arg;
	p->n = ntargets;
	for (i = 0; i < ntargets; i++)
		p->t[i].addr = targets[i];
	if (getrandom(p->cookie, sizeof(p->cookie), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(p->cookie) ||
	    getrandom(&p->ident, sizeof(p->ident), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(p->ident)) {
		snprintf(err, errlen, "probe: no random bytes: %s",
		    strerror(errno));
		goto fail;
	}
	for (i = 0; i < ntargets; i++) {
		struct ping_sock *s = targets[i].family == AF_INET ?
		    &p->s4 : &p->s6;

		if (s->fd >= 0)
			continue;
		if (open_ping(targets[i].family, s, err, errlen) < 0)
			goto fail;
		s->ev = event_new(base, s->fd, EV_READ | EV_PERSIST,
		    on_ping_readable, p);
		if (s->ev == NULL || event_add(s->ev, NULL) < 0) {
			snprintf(err, errlen, "probe: cannot watch the ICMP "
			    "socket");
			goto fail;
		}
	}
	if ((p->timer = evtimer_new(base, on_ping_timeout, p)) == NULL) {
		snprintf(err, errlen, "probe: cannot create a timer");
		goto fail;
	}
	return p;
fail:
	ping_destroy(p);
	return NULL;
}

static uint16_t
inet_sum(const uint8_t *b, size_t len)
{
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (i < len)
		sum += (uint32_t)b[i] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/*
 * One echo request. The kernel fills in the checksum for ICMPv6 and
 * replaces the identifier on a ping socket; the IPv4 checksum is ours.
 */
static int
ping_one(struct probe_ping *p, struct ping_target *t)
{
	struct ping_sock *s = t->addr.family == AF_INET ? &p->s4 : &p->s6;
	uint8_t msg[ECHO_LEN];
	struct sockaddr_storage to;
	socklen_t tolen;
	uint16_t sum;

	memset(msg, 0, sizeof(msg));
	memset(&to, 0, sizeof(to));
	msg[0] = t->addr.family == AF_INET ? ICMP_ECHO : ICMP6_ECHO_REQUEST;
	msg[4] = (uint8_t)(p->ident >> 8);
	msg[5] = (uint8_t)p->ident;
	msg[6] = (uint8_t)(t->seq >> 8);
	msg[7] = (uint8_t)t->seq;
	memcpy(msg + ICMP_HDR, p->cookie, COOKIE_LEN);
	if (t->addr.family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&to;

		sum = inet_sum(msg, sizeof(msg));
		msg[2] = (uint8_t)(sum >> 8);
		msg[3] = (uint8_t)sum;
		sin->sin_family = AF_INET;
		sin->sin_addr = t->addr.v4;
		tolen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&to;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = t->addr.v6;
		tolen = sizeof(*sin6);
	}
	return sendto(s->fd, msg, sizeof(msg), MSG_DONTWAIT,
	    (struct sockaddr *)&to, tolen) == (ssize_t)sizeof(msg) ? 0 : -1;
}

int
probe_ping_send(struct probe_ping *p, uint64_t timeout_ms, char *err,
    size_t errlen)
{
	struct timeval tv;
	char addr[INET6_ADDRSTRLEN + 8];
	size_t i;

	if (p == NULL || p->dead) {
		snprintf(err, errlen, "probe: no pinger");
		return -1;
	}
	if (check_timeout(timeout_ms, err, errlen) < 0)
		return -1;
	if (p->busy) {
		snprintf(err, errlen, "probe: the previous ping round is still "
		    "running");
		return -1;
	}
	for (i = 0; i < p->n; i++) {
		struct ping_target *t = &p->t[i];

		t->seq = p->next_seq++;
		t->sent_ns = now_ns();
		t->state = T_PENDING;
		if (ping_one(p, t) < 0)
			log_debug("ping %s: %s", ipaddr_str(&t->addr, addr,
			    sizeof(addr)), strerror(errno));
	}
	p->pending = p->n;
	p->busy = true;
	tv = ms_to_tv(timeout_ms);
	evtimer_add(p->timer, &tv);
	return 0;
}

bool
probe_ping_busy(const struct probe_ping *p)
{
	return p != NULL && p->busy;
}

/*
 * Deliver one report. Returns false when the callback freed the pinger,
 * which is then gone and must not be touched.
 */
static bool
ping_report(struct probe_ping *p, size_t i, bool answered, double rtt_ms)
{
	p->in_cb++;
	p->cb(p->arg, (int)i, answered, rtt_ms);
	p->in_cb--;
	if (p->dead) {
		ping_destroy(p);
		return false;
	}
	return true;
}

/* Which pending target, if any, an echo reply from "from" answers. */
static struct ping_target *
match_reply(struct probe_ping *p, const struct ping_sock *s,
    const struct sockaddr_storage *from, const uint8_t *icmp, size_t len)
{
	int family = from->ss_family;
	uint16_t seq;

	if (len < ECHO_LEN || icmp[1] != 0 ||
	    icmp[0] != (family == AF_INET ? ICMP_ECHOREPLY : ICMP6_ECHO_REPLY))
		return NULL;
	if (s->raw && (uint16_t)(icmp[4] << 8 | icmp[5]) != p->ident)
		return NULL;
	if (memcmp(icmp + ICMP_HDR, p->cookie, COOKIE_LEN) != 0)
		return NULL;
	seq = (uint16_t)(icmp[6] << 8 | icmp[7]);
	for (size_t i = 0; i < p->n; i++) {
		struct ping_target *t = &p->t[i];

		if (t->state != T_PENDING || t->seq != seq ||
		    t->addr.family != family)
			continue;
		if (family == AF_INET && t->addr.v4.s_addr ==
		    ((const struct sockaddr_in *)from)->sin_addr.s_addr)
			return t;
		if (family == AF_INET6 && memcmp(&t->addr.v6,
		    &((const struct sockaddr_in6 *)from)->sin6_addr, 16) == 0)
			return t;
	}
	return NULL;
}

/*
 * Read what the socket holds, a bounded burst, and report each target
 * answered. A raw IPv4 socket hands over the IP header too; ping sockets
 * also return queued ICMP errors (host unreachable) as failed reads, which
 * are skipped: those targets are reported at the timeout.
 */
static void
on_ping_readable(evutil_socket_t fd, short what, void *arg)
{
	struct probe_ping *p = arg;
	struct ping_sock *s = fd == p->s4.fd ? &p->s4 : &p->s6;

	for (int burst = 0; burst < READ_BURST; burst++) {
		struct sockaddr_storage from;
		socklen_t fromlen = sizeof(from);
		struct ping_target *t;
		uint8_t buf[1500];
		const uint8_t *icmp = buf;
		ssize_t n;
		size_t len, hl;
		double rtt;

		n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT,
		    (struct sockaddr *)&from, &fromlen);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			continue;
		}
		len = (size_t)n;
		if (s->raw && s == &p->s4) {
			hl = len > 0 ? (size_t)(buf[0] & 0x0f) * 4 : 0;
			if (hl < 20 || hl > len)
				continue;
			icmp += hl;
			len -= hl;
		}
		if ((t = match_reply(p, s, &from, icmp, len)) == NULL)
			continue;
		rtt = (double)(now_ns() - t->sent_ns) / 1e6;
		t->state = T_IDLE;
		if (--p->pending == 0) {
			evtimer_del(p->timer);
			p->busy = false;
		}
		if (!ping_report(p, (size_t)(t - p->t), true, rtt))
			return;
	}
}

/*
 * The round is over: every target still pending did not answer in time.
 * They are collected first, so that a callback starting the next round
 * (allowed from the last report) cannot mix the two rounds.
 */
static void
on_ping_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct probe_ping *p = arg;
	size_t late[PROBE_MAX_TARGETS], nlate = 0, i;

	for (i = 0; i < p->n; i++) {
		if (p->t[i].state == T_PENDING) {
			p->t[i].state = T_IDLE;
			late[nlate++] = i;
		}
	}
	p->pending = 0;
	if (nlate == 0)
		p->busy = false;
	for (i = 0; i < nlate; i++) {
		if (i == nlate - 1)
			p->busy = false;
		if (!ping_report(p, late[i], false, 0))
			return;
	}
}

/* ARP probe and claim watch --------------------------------------------- */

static int
check_v4(const struct ipaddr *ip, const char *what, char *err, size_t errlen)
{
	if (ip == NULL) {
		snprintf(err, errlen, "probe: %s: no address given", what);
		return -1;
	}
	if (ip->family == AF_INET6) {
		snprintf(err, errlen, "probe: %s: IPv6 is not supported yet "
		    "(needs neighbour solicitation)", what);
		return -1;
	}
	if (ip->family != AF_INET || ip->v4.s_addr == INADDR_ANY) {
		snprintf(err, errlen, "probe: %s: not a unicast IPv4 address",
		    what);
		return -1;
	}
	return 0;
}

/*
 * Read up to a burst of ARP frames and return the first one from another
 * node whose sender address is ip. Frames this node sent come back on a
 * packet socket as PACKET_OUTGOING; they and anything from our own MAC
 * are not an answer.
 */
static bool
read_claim(int fd, const struct garp_link *link, struct in_addr ip,
    struct arp_msg *m)
{
	for (int burst = 0; burst < READ_BURST; burst++) {
		struct sockaddr_ll from;
		socklen_t fromlen = sizeof(from);
		uint8_t buf[1600];
		ssize_t n;

		n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT,
		    (struct sockaddr *)&from, &fromlen);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return false;
			continue;
		}
		if (from.sll_pkttype == PACKET_OUTGOING ||
		    !garp_arp_parse(buf, (size_t)n, m))
			continue;
		if (m->spa.s_addr == ip.s_addr &&
		    memcmp(m->sha, link->mac, 6) != 0 &&
		    memcmp(m->eth_src, link->mac, 6) != 0)
			return true;
	}
	return false;
}

struct probe_arp {
	probe_arp_cb		*cb;
	void			*arg;
	int			 fd;
	struct garp_link	 link;
	struct in_addr		 ip;
	struct event		*ev;
	struct event		*timer;
	bool			 done;
	int			 in_cb;
	bool			 dead;
};

static void
arp_close(struct probe_arp *a)
{
	if (a->ev != NULL)
		event_free(a->ev);
	if (a->timer != NULL)
		event_free(a->timer);
	if (a->fd >= 0)
		close(a->fd);
	a->ev = a->timer = NULL;
	a->fd = -1;
}

void
probe_arp_free(struct probe_arp *a)
{
	if (a == NULL)
		return;
	if (a->in_cb > 0) {
		a->dead = true;
		return;
	}
	arp_close(a);
	free(a);
}

/* The one report: the socket closes first, so nothing else can arrive. */
static void
arp_finish(struct probe_arp *a, bool answered, const uint8_t *mac)
{
	uint8_t copy[6];

	if (answered)
		memcpy(copy, mac, 6);
	a->done = true;
	arp_close(a);
	a->in_cb++;
	a->cb(a->arg, answered, answered ? copy : NULL);
	a->in_cb--;
	if (a->dead)
		probe_arp_free(a);
}

static void
on_arp_readable(evutil_socket_t fd, short what, void *arg)
{
	struct probe_arp *a = arg;
	struct arp_msg m;

	if (!a->done && read_claim(a->fd, &a->link, a->ip, &m))
		arp_finish(a, true, m.sha);
}

static void
on_arp_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct probe_arp *a = arg;

	if (!a->done)
		arp_finish(a, false, NULL);
}

struct probe_arp *
probe_arp_start(struct event_base *base, const char *ifname,
    const struct ipaddr *ip, uint64_t timeout_ms, probe_arp_cb *cb, void *arg,
    char *err, size_t errlen)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	struct probe_arp *a;
	struct sockaddr_ll to;
	struct arp_msg m;
	struct timeval tv;
	uint8_t frame[GARP_FRAME_MAX];
	size_t len;

	if (base == NULL || cb == NULL) {
		snprintf(err, errlen, "probe: ARP probe needs an event base and "
		    "a callback");
		return NULL;
	}
	if (check_v4(ip, "ARP probe", err, errlen) < 0 ||
	    check_timeout(timeout_ms, err, errlen) < 0)
		return NULL;
	a = xcalloc(1, sizeof(*a));
	a->cb = cb;
	a->arg = arg;
	a->ip = ip->v4;
	if ((a->fd = garp_open(ifname, &a->link, err, errlen)) < 0)
		goto fail;
	a->ev = event_new(base, a->fd, EV_READ | EV_PERSIST, on_arp_readable, a);
	a->timer = evtimer_new(base, on_arp_timeout, a);
	if (a->ev == NULL || a->timer == NULL || event_add(a->ev, NULL) < 0) {
		snprintf(err, errlen, "probe: cannot watch the ARP socket");
		goto fail;
	}

	memset(&m, 0, sizeof(m));
	memcpy(m.eth_dst, bcast, 6);
	memcpy(m.sha, a->link.mac, 6);
	m.op = ARPOP_REQUEST;
	m.tpa = ip->v4;
	len = garp_arp_build(frame, sizeof(frame), &m);
	memset(&to, 0, sizeof(to));
	to.sll_family = AF_PACKET;
	to.sll_protocol = htons(ETH_P_ARP);
	to.sll_ifindex = a->link.ifindex;
	to.sll_halen = 6;
	memcpy(to.sll_addr, bcast, 6);
	if (sendto(a->fd, frame, len, MSG_DONTWAIT, (struct sockaddr *)&to,
	    sizeof(to)) != (ssize_t)len) {
		snprintf(err, errlen, "probe: ARP probe on %s: %s", ifname,
		    strerror(errno));
		goto fail;
	}
	tv = ms_to_tv(timeout_ms);
	evtimer_add(a->timer, &tv);
	return a;
fail:
	probe_arp_free(a);
	return NULL;
}

struct probe_garp {
	probe_garp_cb		*cb;
	void			*arg;
	int			 fd;
	struct garp_link	 link;
	struct in_addr		 ip;
	struct event		*ev;
	int			 in_cb;
	bool			 dead;
};

void
probe_garp_free(struct probe_garp *w)
{
	if (w == NULL)
		return;
	if (w->in_cb > 0) {
		w->dead = true;
		return;
	}
	if (w->ev != NULL)
		event_free(w->ev);
	if (w->fd >= 0)
		close(w->fd);
	free(w);
}

/* Report every claim in the burst, unless a callback freed the watch. */
static void
on_garp_readable(evutil_socket_t fd, short what, void *arg)
{
	struct probe_garp *w = arg;
	struct arp_msg m;

	for (int i = 0; i < READ_BURST && read_claim(w->fd, &w->link, w->ip, &m);
	    i++) {
		w->in_cb++;
		w->cb(w->arg, m.sha);
		w->in_cb--;
		if (w->dead) {
			probe_garp_free(w);
			return;
		}
	}
}

struct probe_garp *
probe_watch_garp(struct event_base *base, const char *ifname,
    const struct ipaddr *ip, probe_garp_cb *cb, void *arg, char *err,
    size_t errlen)
{
	struct probe_garp *w;

	if (base == NULL || cb == NULL) {
		snprintf(err, errlen, "probe: claim watch needs an event base "
		    "and a callback");
		return NULL;
	}
	if (check_v4(ip, "claim watch", err, errlen) < 0)
		return NULL;
	w = xcalloc(1, sizeof(*w));
	w->cb = cb;
	w->arg = arg;
	w->ip = ip->v4;
	if ((w->fd = garp_open(ifname, &w->link, err, errlen)) < 0)
		goto fail;
	w->ev = event_new(base, w->fd, EV_READ | EV_PERSIST, on_garp_readable, w);
	if (w->ev == NULL || event_add(w->ev, NULL) < 0) {
		snprintf(err, errlen, "probe: cannot watch the ARP socket");
		goto fail;
	}
	return w;
fail:
	probe_garp_free(w);
	return NULL;
}
