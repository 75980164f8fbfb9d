/*
 * The passive's hiding filter: two nftables tables owned by Lifeline,
 * `table inet lifeline` and `table arp lifeline`, that make the node's copy
 * of the public IP invisible (ARCHITECTURE.md, invariant 2). Only the public
 * IP appears in their rules, so the management address is never filtered.
 */
#ifndef LIFELINE_FILTER_H
#define LIFELINE_FILTER_H

#include <stdbool.h>
#include <stddef.h>

struct ipaddr;

/*
 * Install the hiding tables for public_ip in one nftables transaction,
 * replacing any earlier version of them (so hiding twice is harmless and
 * hiding a new address leaves no rule for the old one). An IPv4 address
 * gets both tables; an IPv6 address gets the inet table, which then also
 * drops neighbour solicitations and advertisements for it. ifname only
 * labels the tables (their comment) for an administrator reading
 * `nft list ruleset`: the rules match on any interface.
 *
 * The engine calls this before the public address is ever configured and
 * removes it only after winning a higher epoch. Returns 0, or -1 with a
 * message in err.
 */
int filter_hide(const struct ipaddr *public_ip, const char *ifname,
    char *err, size_t errlen);

/*
 * Delete both tables in one transaction; harmless when they are absent.
 * Returns 0, or -1 with a message in err.
 */
int filter_unhide(char *err, size_t errlen);

/*
 * Read the ruleset back: *hiding is true when Lifeline's tables exist and
 * hold every rule filter_hide installs for public_ip (a table left over for
 * another address, or with a rule missing, is not hiding). Returns 0, or -1
 * with a message in err when nftables could not be asked.
 */
int filter_is_hiding(const struct ipaddr *public_ip, bool *hiding,
    char *err, size_t errlen);

#endif
