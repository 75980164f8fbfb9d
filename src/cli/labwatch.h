/*
 * `lifeline lab watch`: the client-side checker that proves "never two
 * active nodes". From the lab's client it asks, every sample, who has the
 * public IP (ARP) and who serves it (one GET to the sample application),
 * logs one line per sample and sums the run up.
 */
#ifndef LIFELINE_LABWATCH_H
#define LIFELINE_LABWATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#define WATCH_MACS_MAX		8	/* distinct MACs one sample keeps */
#define WATCH_NODE_MAX		32	/* a node name and its NUL */
#define WATCH_NODES_MAX		8	/* distinct node names one run tracks */

/* One sample: the MACs that answered its ARP round, the node that served. */
struct watch_sample {
	uint64_t	 t_ms;			/* start, since the run started */
	uint8_t		 macs[WATCH_MACS_MAX][6];
	unsigned	 nmacs;
	char		 node[WATCH_NODE_MAX];	/* "" when no answer */
};

/* What an answer to the client's "who has target" must match. */
struct watch_query {
	uint8_t		 mac[6];		/* the client's */
	struct in_addr	 ip;			/* the client's */
	struct in_addr	 target;		/* the public IP */
};

/* Why a sample counts as a two-answer sample (0: it does not). */
enum watch_why {
	WATCH_FINE = 0,
	WATCH_TWO_MACS,		/* two MACs answered one ARP round */
	WATCH_NODE_SWITCH,	/* node changed next to a two-MAC round */
	WATCH_FLIP_BACK,	/* A, B, A in three consecutive samples */
};

struct watch_node {
	char		 name[WATCH_NODE_MAX];
	uint64_t	 first_ms;
	uint64_t	 last_ms;
};

/* The run so far, fed one sample at a time by watch_summary_add. */
struct watch_summary {
	size_t		 samples;
	size_t		 conflicts;		/* K: two-answer samples */
	uint64_t	 last_ms;		/* t of the last sample */
	char		 final_node[WATCH_NODE_MAX];	/* of the last sample */
	struct watch_node nodes[WATCH_NODES_MAX];	/* first appearance order */
	size_t		 nnodes;
	bool		 nodes_more;		/* names beyond WATCH_NODES_MAX */

	bool		 answered;		/* some sample had a node */
	uint64_t	 last_answer_ms;
	char		 last_answer_node[WATCH_NODE_MAX];
	bool		 have_outage;		/* two answers: a gap exists */
	uint64_t	 outage_ms;		/* longest gap between answers */
	uint64_t	 outage_from_ms;
	uint64_t	 outage_to_ms;
	char		 outage_from[WATCH_NODE_MAX];
	char		 outage_to[WATCH_NODE_MAX];

	enum watch_why	 first_why;		/* of the first conflict */
	struct watch_sample first_conflict;

	struct {				/* the two samples before */
		bool	 valid;
		unsigned nmacs;
		char	 node[WATCH_NODE_MAX];
	} prev[2];				/* [0]: i-1, [1]: i-2 */
};

/*
 * Is the Ethernet frame an ARP reply to q (op 2, sender = q->target,
 * target = q's own MAC and IP)? Then copy the sender's hardware address
 * into mac. Gratuitous replies (target MAC = the sender's own) are not.
 */
bool watch_arp_answer(const struct watch_query *q, const uint8_t *frame,
    size_t len, uint8_t mac[6]);

/* Note mac in s once. Returns 1 when new, 0 when known or no room. */
int watch_sample_add_mac(struct watch_sample *s, const uint8_t mac[6]);

/*
 * Read the sample application's answer to GET, "<identity> <n>", without
 * its newline, into node. Returns false for anything else (ERR ..., an
 * empty or cut line, a name too long for nodelen).
 */
bool watch_parse_answer(const char *line, size_t len, char *node,
    size_t nodelen);

void watch_summary_init(struct watch_summary *sum);

/*
 * Add the next sample of the run. Returns why it is a two-answer sample,
 * or WATCH_FINE; the count is in sum->conflicts.
 */
enum watch_why watch_summary_add(struct watch_summary *sum,
    const struct watch_sample *s);

/* "1523 02:4c:00:00:00:01 primary" or "1543 - -", no newline. */
void watch_format_sample(const struct watch_sample *s, char *buf, size_t len);

/*
 * The end-of-run report, lines ending in newlines: "samples N, two-answer
 * samples K, nodes seen: ...", the longest outage, and the first
 * two-answer sample when there was one.
 */
void watch_format_summary(const struct watch_summary *sum, char *buf,
    size_t len);

const char *watch_why_name(enum watch_why why);

/*
 * `lifeline lab [--dir DIR] watch [--interval MS] [--duration S]
 * [--out FILE]`, argv[0] = "watch". Exit 0 when no sample had two answers,
 * 1 when one had (or on failure), 2 on bad usage.
 */
int lab_watch(const char *dir, int argc, char **argv);

#endif
