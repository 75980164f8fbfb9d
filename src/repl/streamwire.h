/*
 * The messages of the journal stream, after the HELLO of kind
 * WIRE_KIND_STREAM: the common 24-byte channel header (common/wire.h, with
 * the sender's epoch) and these payloads, big-endian, field by field.
 *
 *   POS      receiver -> sender   where the receiver's journal stands, and its
 *                                 epoch history, so the sender finds the
 *                                 shared prefix
 *   RECORDS  sender -> receiver   records back to back, from first_seq, maybe
 *                                 zstd-compressed (the DR hop)
 *   ACK      receiver -> sender   durable (and applied) up to
 *   CUT      sender -> receiver   your records after keep_seq are not in the
 *                                 cluster's journal: set them aside
 *   SKIP     sender -> receiver   the records you lack are gone here (quota):
 *                                 go on from next_seq, the files need a check
 *   UP       receiver -> sender   for the active, relayed up the chain: the
 *                                 wants of a check (check.h), a request for
 *                                 a check of the whole copy or of what the
 *                                 active lists as touched, or the list of a
 *                                 copy that crashed while active (check.h)
 *   START    sender -> receiver   the receiver's journal is a prefix of the
 *                                 sender's (no CUT is coming): records follow
 *                                 from next_seq; only now is it in step
 *   CHECKED  sender -> receiver   a check of your copy ended: once every
 *                                 record up to seq is applied it is in sync;
 *                                 with the tokens of the lists (TARGETS) it
 *                                 covered
 */
#ifndef LIFELINE_STREAMWIRE_H
#define LIFELINE_STREAMWIRE_H

#include <stddef.h>
#include <stdint.h>

#include "repl/history.h"

#define STREAM_PORT          9729                 /* journal streams on channel addresses */

/*
 * The stream's own protocol version, in the min and max of its HELLO (the
 * heartbeat channels keep WIRE_VERSION). Both ends must speak the same:
 * a node that would send what the other cannot read is refused at the
 * HELLO, with both versions named, rather than failing on a record
 * mid-stream. Version 2 added UP kind 4 (the targets of a copy that
 * crashed while active), CHECKED with the tokens it covered, and VERIFY
 * records with several entries (OP_VERIFY_ENTRIES, op.h).
 */
#define STREAM_VERSION       2
#define STREAM_MAX_RAW       (8u * 1024 * 1024)   /* record bytes in one RECORDS */
#define STREAM_MAX_PAYLOAD   (STREAM_MAX_RAW + 1024)

#define STREAM_POS_SIZE      48                   /* before the history */
#define STREAM_RECORDS_HEAD  24
#define STREAM_ACK_SIZE      16
#define STREAM_CUT_SIZE      16                   /* before the history */
#define STREAM_SKIP_SIZE     8
#define STREAM_UP_HEAD       4                    /* before the body */
#define STREAM_CHECKED_SIZE  8                    /* before the tokens */
#define STREAM_CHECKED_TOKENS 16                  /* lists one CHECKED can say it covered */
#define STREAM_START_SIZE    8

/* UP kinds. */
enum stream_up_kind {
	STREAM_UP_WANTS = 1,     /* body: check_wants_encode */
	STREAM_UP_CHECK = 2,     /* body: none; check the whole copy */
	STREAM_UP_TOUCHED = 3,   /* body: none; check what the active lists as touched */
	STREAM_UP_TARGETS = 4,   /* body: check_list_put (a crashed active's copy); check them */
};

/* POS flags. */
#define STREAM_POS_NEEDS_CHECK  0x1   /* the receiver's copy is known to differ */
#define STREAM_POS_NEEDS_TOUCHED 0x2  /* it lacks records the active lists as touched */

enum stream_codec {
	STREAM_CODEC_NONE = 0,
	STREAM_CODEC_ZSTD = 1,
};

struct stream_pos {
	uint64_t	first_seq;      /* oldest record in its journal, 0 if empty */
	uint64_t	last_seq;       /* newest record, 0 if empty */
	uint64_t	durable_seq;
	uint64_t	applied_seq;
	uint64_t	last_epoch;     /* epoch of the newest record */
	uint32_t	flags;
	struct history	history;
};

struct stream_ack {
	uint64_t	durable_seq;
	uint64_t	applied_seq;
};

struct stream_cut {
	uint64_t	keep_seq;
	uint64_t	sender_last_seq;
	struct history	history;        /* the sender's, for the receiver's own check */
};

/*
 * Encoders return the bytes of the whole message (header and payload)
 * written to buf, 0 when buflen is too small.
 */
size_t	stream_encode_pos(uint8_t *buf, size_t buflen, uint64_t epoch, const struct stream_pos *p);
size_t	stream_encode_ack(uint8_t *buf, size_t buflen, uint64_t epoch, const struct stream_ack *a);
size_t	stream_encode_cut(uint8_t *buf, size_t buflen, uint64_t epoch, const struct stream_cut *c);
size_t	stream_encode_skip(uint8_t *buf, size_t buflen, uint64_t epoch, uint64_t next_seq);
size_t	stream_encode_up(uint8_t *buf, size_t buflen, uint64_t epoch, unsigned kind,
	    const uint8_t *body, size_t body_len);
/*
 * CHECKED: u64 seq, then (when ntokens > 0) u32 count and count u64
 * tokens, at most STREAM_CHECKED_TOKENS; the decoder takes both forms.
 */
size_t	stream_encode_checked(uint8_t *buf, size_t buflen, uint64_t epoch, uint64_t seq,
	    const uint64_t *tokens, size_t ntokens);
size_t	stream_encode_start(uint8_t *buf, size_t buflen, uint64_t epoch, uint64_t next_seq);

/*
 * A RECORDS message from count encoded records (raw, back to back, raw_len
 * bytes, the first of seq first_seq). With STREAM_CODEC_ZSTD the body is
 * compressed at level (1..19) when that makes it smaller; the message says
 * which. buf must hold WIRE_HDR_SIZE + STREAM_RECORDS_HEAD + the
 * compressBound of raw_len. 0 on error.
 */
size_t	stream_encode_records(uint8_t *buf, size_t buflen, uint64_t epoch, enum stream_codec codec,
	    int level, uint64_t first_seq, uint32_t count, const uint8_t *raw, size_t raw_len);

/* Payload decoders: 0, or -1 with why naming the field and what was expected. */
int	stream_decode_pos(const uint8_t *p, size_t len, struct stream_pos *pos, char *why,
	    size_t whylen);
int	stream_decode_ack(const uint8_t *p, size_t len, struct stream_ack *a, char *why,
	    size_t whylen);
int	stream_decode_cut(const uint8_t *p, size_t len, struct stream_cut *c, char *why,
	    size_t whylen);
int	stream_decode_skip(const uint8_t *p, size_t len, uint64_t *next_seq, char *why,
	    size_t whylen);
/* UP: the kind, and the body as a pointer into p (empty but for WANTS and TARGETS). */
int	stream_decode_up(const uint8_t *p, size_t len, unsigned *kind, const uint8_t **body,
	    size_t *body_len, char *why, size_t whylen);
int	stream_decode_checked(const uint8_t *p, size_t len, uint64_t *seq,
	    uint64_t tokens[STREAM_CHECKED_TOKENS], size_t *ntokens, char *why, size_t whylen);
int	stream_decode_start(const uint8_t *p, size_t len, uint64_t *next_seq, char *why,
	    size_t whylen);

/*
 * Decode a RECORDS payload into out (at least STREAM_MAX_RAW bytes): the
 * raw records, checked to be exactly count whole records with seqs rising
 * by one from first_seq. Returns the raw length, or -1 with why.
 */
long	stream_decode_records(const uint8_t *p, size_t len, uint8_t *out, uint64_t *first_seq,
	    uint32_t *count, char *why, size_t whylen);

#endif
