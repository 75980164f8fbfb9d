/*
 * The node's public identity: the shared public address is configured only
 * on the active node. (The nftables filter that hides a passive's copy, and
 * gratuitous ARP on promotion, arrive with the cluster engine.)
 */
#ifndef LIFELINE_IDENTITY_H
#define LIFELINE_IDENTITY_H

struct engine;

/* Configure the public address on the public interface. 0 or -1 (logged). */
int identity_claim(struct engine *e);

/*
 * When the management address lies in the public subnet it shares the
 * public interface: make sure it is there, with preferred_lft 0 so that it
 * is never chosen as a source address once the public address is claimed
 * (IPv6 heeds that; for IPv4 identity_claim puts it behind the public
 * address). Nothing to do otherwise. 0 or -1 (logged).
 */
int identity_management(struct engine *e);

/* Remove it again; harmless when it is not there. 0 or -1 (logged). */
int identity_release(struct engine *e);

#endif
