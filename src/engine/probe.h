/*
 * Non-blocking probes of the public network on the engine's libevent loop:
 * ICMP echo to the ping targets, an ARP probe of the public IP (does
 * another node still answer for it?), and a watch for another MAC claiming
 * the public IP. Every probe is bounded by a timeout and never blocks.
 *
 * Callbacks run from the loop, never from inside a probe_* call. A
 * callback may free the probe that called it; the memory goes once the
 * callback has returned.
 */
#ifndef LIFELINE_PROBE_H
#define LIFELINE_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct ipaddr;

#define PROBE_MAX_TARGETS	16
#define PROBE_MAX_TIMEOUT_MS	60000

/* ICMP echo. */

struct probe_ping;

/*
 * Once per target and round: answered with the round-trip time in
 * milliseconds, or not answered (rtt_ms 0) when the timeout passed first.
 */
typedef void probe_ping_cb(void *arg, int target_index, bool answered,
    double rtt_ms);

/*
 * A pinger for up to PROBE_MAX_TARGETS IPv4 or IPv6 targets (copied). It
 * uses an unprivileged ping socket where net.ipv4.ping_group_range allows
 * one, a raw ICMP socket (CAP_NET_RAW) otherwise; replies are matched by
 * source address, sequence number, a random payload cookie, and, on a raw
 * socket, the identifier. Returns NULL with a message in err.
 */
struct probe_ping *probe_ping_new(struct event_base *base,
    const struct ipaddr *targets, size_t ntargets, probe_ping_cb *cb,
    void *arg, char *err, size_t errlen);

/*
 * Start a round: one echo request to every target, each reported once,
 * within timeout_ms (1..PROBE_MAX_TIMEOUT_MS). A target whose request could
 * not even be sent (no route) is reported as not answered at the timeout.
 * Returns 0, or -1 with a message in err, also while a round is running.
 */
int probe_ping_send(struct probe_ping *p, uint64_t timeout_ms, char *err,
    size_t errlen);

/*
 * Whether a round is running. It turns false just before the last report
 * of a round, so that callback may start the next round.
 */
bool probe_ping_busy(const struct probe_ping *p);

void probe_ping_free(struct probe_ping *p);

/* ARP probe: who has IP? */

struct probe_arp;

/* Exactly once: answered with the MAC that answered, or not (mac NULL). */
typedef void probe_arp_cb(void *arg, bool answered, const uint8_t mac[6]);

/*
 * Send one ARP request for ip on ifname with sender address 0.0.0.0
 * (RFC 5227 probe, so no neighbour learns anything from it) and report the
 * first ARP frame from another MAC whose sender address is ip, or none
 * within timeout_ms. Runs from a packet socket, so it works while this
 * node's own filter hides ip. IPv4 only for now. Returns NULL with a
 * message in err; free the probe after (or in) its callback.
 */
struct probe_arp *probe_arp_start(struct event_base *base, const char *ifname,
    const struct ipaddr *ip, uint64_t timeout_ms, probe_arp_cb *cb, void *arg,
    char *err, size_t errlen);

void probe_arp_free(struct probe_arp *a);

/* Claims of the public IP by another MAC. */

struct probe_garp;

/* For every claim seen, with the claimer's MAC. */
typedef void probe_garp_cb(void *arg, const uint8_t mac[6]);

/*
 * Watch ifname for ARP frames from another MAC with sender address ip:
 * gratuitous ARP (request or reply form), and any request or reply another
 * node sends from ip, since a node only uses the public IP once it claims
 * it. Frames this node sends are ignored. IPv4 only for now. Runs until
 * freed; returns NULL with a message in err.
 */
struct probe_garp *probe_watch_garp(struct event_base *base,
    const char *ifname, const struct ipaddr *ip, probe_garp_cb *cb, void *arg,
    char *err, size_t errlen);

void probe_garp_free(struct probe_garp *w);

#endif
