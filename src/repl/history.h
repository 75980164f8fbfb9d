/*
 * The epoch history of a journal: at which seq each epoch began. With it
 * two nodes find the longest prefix their journals share (one active writes
 * each epoch, so equal epochs at every seq mean equal records), and an old
 * active that comes back knows which of its records no one else has: its
 * divergent tail, to be quarantined (invariant 5).
 */
#ifndef LIFELINE_HISTORY_H
#define LIFELINE_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#define HISTORY_MAX_SPANS  1024          /* more are pruned from the front */
#define HISTORY_FILE_NAME  "epochs"

/* Records from start_seq on, up to the next span's start, carry epoch. */
struct epoch_span {
	uint64_t	epoch;
	uint64_t	start_seq;
};

struct history {
	struct epoch_span v[HISTORY_MAX_SPANS];
	size_t		  n;
};

/*
 * Load the history from path: 1 loaded, 0 no file (an empty history), -1
 * with err naming the line when the file is malformed or out of order.
 */
int		history_load(const char *path, struct history *h, char *err, size_t errlen);

/* Replace path atomically and durably (write, fsync, rename). 0 or -1 (logged). */
int		history_save(const char *path, const struct history *h);

/*
 * Note that epoch begins at start_seq: when a node becomes active (its
 * next record's seq) and when a receiver sees a record of a new epoch.
 * The epoch must be above the last one and start_seq not below the last
 * start; a span that would begin where the last one does replaces it
 * (that epoch never wrote a record). 0, or -1 with err.
 */
int		history_begin(struct history *h, uint64_t epoch, uint64_t start_seq,
		    char *err, size_t errlen);

/* The epoch of the record at seq, 0 when seq is before every span. */
uint64_t	history_epoch_at(const struct history *h, uint64_t seq);

/* The epoch of the last span, 0 when empty. */
uint64_t	history_last_epoch(const struct history *h);

/*
 * The highest seq s <= min(a_last, b_last) such that every seq from 1 to s
 * has the same epoch in a and in b: records up to s are the same on both
 * nodes, records after s on either node are not on the other.
 */
uint64_t	history_common(const struct history *a, uint64_t a_last,
		    const struct history *b, uint64_t b_last);

/* Forget spans that begin after keep_seq (the journal was cut there). */
void		history_truncate(struct history *h, uint64_t keep_seq);

/* Wire form: u32 count, then count times u64 epoch, u64 start_seq. */
size_t		history_wire_size(const struct history *h);
size_t		history_encode(uint8_t *buf, size_t buflen, const struct history *h);
int		history_decode(const uint8_t *buf, size_t len, struct history *h,
		    size_t *used, char *err, size_t errlen);

#endif
