/*
 * Encoding and decoding of the journal stream's messages. Decoders check
 * every size before use; a RECORDS body is checked record by record, so the
 * receiver appends only whole, sealed records in seq order.
 */
#include "repl/streamwire.h"
#include "repl/record.h"
#include "common/bytes.h"
#include "common/wire.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <zstd.h>

_Static_assert(5 * 8 + 4 + 4 == STREAM_POS_SIZE, "pos layout");
_Static_assert(1 + 3 + 4 + 8 + 4 + 4 == STREAM_RECORDS_HEAD, "records head layout");
_Static_assert(STREAM_MAX_PAYLOAD <= UINT32_MAX, "length fits the header");

size_t
stream_encode_pos(uint8_t *buf, size_t buflen, uint64_t epoch, const struct stream_pos *pos)
{
	size_t hlen = history_wire_size(&pos->history);
	size_t total = WIRE_HDR_SIZE + STREAM_POS_SIZE + hlen;
	uint8_t *p;

	if (buflen < total)
		return 0;
	p = wire_put_hdr(buf, WIRE_STREAM_POS, (uint32_t)(STREAM_POS_SIZE + hlen), epoch);
	p = put64(p, pos->first_seq);
	p = put64(p, pos->last_seq);
	p = put64(p, pos->durable_seq);
	p = put64(p, pos->applied_seq);
	p = put64(p, pos->last_epoch);
	p = put32(p, pos->flags);
	p = put32(p, 0);
	history_encode(p, hlen, &pos->history);
	return total;
}

size_t
stream_encode_ack(uint8_t *buf, size_t buflen, uint64_t epoch, const struct stream_ack *a)
{
	uint8_t *p;

	if (buflen < WIRE_HDR_SIZE + STREAM_ACK_SIZE)
		return 0;
	p = wire_put_hdr(buf, WIRE_STREAM_ACK, STREAM_ACK_SIZE, epoch);
	p = put64(p, a->durable_seq);
	put64(p, a->applied_seq);
	return WIRE_HDR_SIZE + STREAM_ACK_SIZE;
}

size_t
stream_encode_cut(uint8_t *buf, size_t buflen, uint64_t epoch, const struct stream_cut *c)
{
	size_t hlen = history_wire_size(&c->history);
	size_t total = WIRE_HDR_SIZE + STREAM_CUT_SIZE + hlen;
	uint8_t *p;

	if (buflen < total)
		return 0;
	p = wire_put_hdr(buf, WIRE_STREAM_CUT, (uint32_t)(STREAM_CUT_SIZE + hlen), epoch);
	p = put64(p, c->keep_seq);
	p = put64(p, c->sender_last_seq);
	history_encode(p, hlen, &c->history);
	return total;
}

size_t
stream_encode_skip(uint8_t *buf, size_t buflen, uint64_t epoch, uint64_t next_seq)
{
	uint8_t *p;

	if (buflen < WIRE_HDR_SIZE + STREAM_SKIP_SIZE)
		return 0;
	p = wire_put_hdr(buf, WIRE_STREAM_SKIP, STREAM_SKIP_SIZE, epoch);
	put64(p, next_seq);
	return WIRE_HDR_SIZE + STREAM_SKIP_SIZE;
}

/*
 * Compress only when asked and when it pays: a batch of already
 * compressed data is sent as it is rather than grown.
 */
size_t
stream_encode_records(uint8_t *buf, size_t buflen, uint64_t epoch, enum stream_codec codec,
    int level, uint64_t first_seq, uint32_t count, const uint8_t *raw, size_t raw_len)
{
	uint8_t *body = buf + WIRE_HDR_SIZE + STREAM_RECORDS_HEAD, *p;
	size_t room, body_len = raw_len;

	if (raw_len > STREAM_MAX_RAW || count == 0 || buflen < WIRE_HDR_SIZE + STREAM_RECORDS_HEAD)
		return 0;
	room = buflen - WIRE_HDR_SIZE - STREAM_RECORDS_HEAD;
	if (codec == STREAM_CODEC_ZSTD) {
		size_t n = ZSTD_compress(body, room, raw, raw_len, level);

		if (!ZSTD_isError(n) && n < raw_len)
			body_len = n;
		else
			codec = STREAM_CODEC_NONE;
	}
	if (codec == STREAM_CODEC_NONE) {
		if (room < raw_len)
			return 0;
		memcpy(body, raw, raw_len);
	}
	p = wire_put_hdr(buf, WIRE_STREAM_RECORDS, (uint32_t)(STREAM_RECORDS_HEAD + body_len), epoch);
	*p++ = (uint8_t)codec;
	memset(p, 0, 3);
	p += 3;
	p = put32(p, (uint32_t)raw_len);
	p = put64(p, first_seq);
	p = put32(p, count);
	put32(p, 0);
	return WIRE_HDR_SIZE + STREAM_RECORDS_HEAD + body_len;
}

int
stream_decode_pos(const uint8_t *p, size_t len, struct stream_pos *pos, char *why, size_t whylen)
{
	char herr[192] = "";
	size_t used = 0;

	if (len < STREAM_POS_SIZE) {
		snprintf(why, whylen, "POS of %zu bytes, expected at least %d", len, STREAM_POS_SIZE);
		return -1;
	}
	pos->first_seq = get64(p);
	pos->last_seq = get64(p + 8);
	pos->durable_seq = get64(p + 16);
	pos->applied_seq = get64(p + 24);
	pos->last_epoch = get64(p + 32);
	pos->flags = get32(p + 40);
	if (pos->durable_seq > pos->last_seq || pos->applied_seq > pos->durable_seq ||
	    (pos->first_seq > pos->last_seq + 1)) {
		snprintf(why, whylen, "POS: first %" PRIu64 ", last %" PRIu64 ", durable %" PRIu64
		    ", applied %" PRIu64 ", expected first <= last + 1 and applied <= durable <= last",
		    pos->first_seq, pos->last_seq, pos->durable_seq, pos->applied_seq);
		return -1;
	}
	if (history_decode(p + STREAM_POS_SIZE, len - STREAM_POS_SIZE, &pos->history, &used,
	    herr, sizeof(herr)) < 0 || used != len - STREAM_POS_SIZE) {
		snprintf(why, whylen, "POS: %s", herr[0] != '\0' ? herr : "bytes after the epoch history");
		return -1;
	}
	return 0;
}

int
stream_decode_ack(const uint8_t *p, size_t len, struct stream_ack *a, char *why, size_t whylen)
{
	if (len != STREAM_ACK_SIZE) {
		snprintf(why, whylen, "ACK of %zu bytes, expected %d", len, STREAM_ACK_SIZE);
		return -1;
	}
	a->durable_seq = get64(p);
	a->applied_seq = get64(p + 8);
	if (a->applied_seq > a->durable_seq) {
		snprintf(why, whylen, "ACK: applied %" PRIu64 " past durable %" PRIu64,
		    a->applied_seq, a->durable_seq);
		return -1;
	}
	return 0;
}

int
stream_decode_cut(const uint8_t *p, size_t len, struct stream_cut *c, char *why, size_t whylen)
{
	char herr[192] = "";
	size_t used = 0;

	if (len < STREAM_CUT_SIZE) {
		snprintf(why, whylen, "CUT of %zu bytes, expected at least %d", len, STREAM_CUT_SIZE);
		return -1;
	}
	c->keep_seq = get64(p);
	c->sender_last_seq = get64(p + 8);
	if (c->keep_seq > c->sender_last_seq) {
		snprintf(why, whylen, "CUT: keep %" PRIu64 " past the sender's last record %" PRIu64,
		    c->keep_seq, c->sender_last_seq);
		return -1;
	}
	if (history_decode(p + STREAM_CUT_SIZE, len - STREAM_CUT_SIZE, &c->history, &used,
	    herr, sizeof(herr)) < 0 || used != len - STREAM_CUT_SIZE) {
		snprintf(why, whylen, "CUT: %s", herr[0] != '\0' ? herr : "bytes after the epoch history");
		return -1;
	}
	return 0;
}

int
stream_decode_skip(const uint8_t *p, size_t len, uint64_t *next_seq, char *why, size_t whylen)
{
	if (len != STREAM_SKIP_SIZE) {
		snprintf(why, whylen, "SKIP of %zu bytes, expected %d", len, STREAM_SKIP_SIZE);
		return -1;
	}
	*next_seq = get64(p);
	if (*next_seq == 0) {
		snprintf(why, whylen, "SKIP to seq 0, expected a seq from 1");
		return -1;
	}
	return 0;
}

size_t
stream_encode_up(uint8_t *buf, size_t buflen, uint64_t epoch, unsigned kind, const uint8_t *body,
    size_t body_len)
{
	size_t total = WIRE_HDR_SIZE + STREAM_UP_HEAD + body_len;
	uint8_t *p;

	if (buflen < total || STREAM_UP_HEAD + body_len > STREAM_MAX_PAYLOAD ||
	    (kind != STREAM_UP_WANTS && kind != STREAM_UP_CHECK && kind != STREAM_UP_TOUCHED &&
	    kind != STREAM_UP_TARGETS) ||
	    (kind == STREAM_UP_WANTS || kind == STREAM_UP_TARGETS) != (body_len != 0))
		return 0;
	p = wire_put_hdr(buf, WIRE_STREAM_UP, (uint32_t)(STREAM_UP_HEAD + body_len), epoch);
	*p++ = (uint8_t)kind;
	memset(p, 0, 3);
	if (body_len > 0)
		memcpy(p + 3, body, body_len);
	return total;
}

int
stream_decode_up(const uint8_t *p, size_t len, unsigned *kind, const uint8_t **body,
    size_t *body_len, char *why, size_t whylen)
{
	if (len < STREAM_UP_HEAD) {
		snprintf(why, whylen, "UP of %zu bytes, expected at least %d", len, STREAM_UP_HEAD);
		return -1;
	}
	if (p[1] != 0 || p[2] != 0 || p[3] != 0) {
		snprintf(why, whylen, "UP with reserved bytes set, expected zeros");
		return -1;
	}
	*kind = p[0];
	*body = p + STREAM_UP_HEAD;
	*body_len = len - STREAM_UP_HEAD;
	if ((*kind == STREAM_UP_WANTS || *kind == STREAM_UP_TARGETS) && *body_len == 0) {
		snprintf(why, whylen, "UP of %s without a body",
		    *kind == STREAM_UP_WANTS ? "wants" : "targets");
		return -1;
	}
	if (*kind != STREAM_UP_WANTS && *kind != STREAM_UP_TARGETS && *body_len != 0) {
		snprintf(why, whylen, "UP asking for a check with a body of %zu bytes, expected none",
		    *body_len);
		return -1;
	}
	if (*kind != STREAM_UP_WANTS && *kind != STREAM_UP_CHECK && *kind != STREAM_UP_TOUCHED &&
	    *kind != STREAM_UP_TARGETS) {
		snprintf(why, whylen, "UP of kind %u, expected %d (wants), %d (check), %d "
		    "(touched) or %d (targets)", *kind, STREAM_UP_WANTS, STREAM_UP_CHECK,
		    STREAM_UP_TOUCHED, STREAM_UP_TARGETS);
		return -1;
	}
	return 0;
}

size_t
stream_encode_checked(uint8_t *buf, size_t buflen, uint64_t epoch, uint64_t seq,
    const uint64_t *tokens, size_t ntokens)
{
	size_t plen = STREAM_CHECKED_SIZE + (ntokens > 0 ? 4 + 8 * ntokens : 0);
	uint8_t *p;

	if (ntokens > STREAM_CHECKED_TOKENS || buflen < WIRE_HDR_SIZE + plen)
		return 0;
	p = wire_put_hdr(buf, WIRE_STREAM_CHECKED, (uint32_t)plen, epoch);
	put64(p, seq);
	if (ntokens > 0) {
		put32(p + 8, (uint32_t)ntokens);
		for (size_t i = 0; i < ntokens; i++)
			put64(p + 12 + 8 * i, tokens[i]);
	}
	return WIRE_HDR_SIZE + plen;
}

int
stream_decode_checked(const uint8_t *p, size_t len, uint64_t *seq,
    uint64_t tokens[STREAM_CHECKED_TOKENS], size_t *ntokens, char *why, size_t whylen)
{
	uint32_t n;

	*ntokens = 0;
	if (len != STREAM_CHECKED_SIZE && len < STREAM_CHECKED_SIZE + 4) {
		snprintf(why, whylen, "CHECKED of %zu bytes, expected %d, or %d and tokens", len,
		    STREAM_CHECKED_SIZE, STREAM_CHECKED_SIZE + 4);
		return -1;
	}
	*seq = get64(p);
	if (len == STREAM_CHECKED_SIZE)
		return 0;
	n = get32(p + 8);
	if (n == 0 || n > STREAM_CHECKED_TOKENS || len != STREAM_CHECKED_SIZE + 4 + 8 * (size_t)n) {
		snprintf(why, whylen, "CHECKED of %zu bytes with %" PRIu32 " tokens, expected 1 to "
		    "%d tokens of 8 bytes", len, n, STREAM_CHECKED_TOKENS);
		return -1;
	}
	for (uint32_t i = 0; i < n; i++)
		tokens[i] = get64(p + 12 + 8 * i);
	*ntokens = n;
	return 0;
}

size_t
stream_encode_start(uint8_t *buf, size_t buflen, uint64_t epoch, uint64_t next_seq)
{
	if (buflen < WIRE_HDR_SIZE + STREAM_START_SIZE)
		return 0;
	put64(wire_put_hdr(buf, WIRE_STREAM_START, STREAM_START_SIZE, epoch), next_seq);
	return WIRE_HDR_SIZE + STREAM_START_SIZE;
}

int
stream_decode_start(const uint8_t *p, size_t len, uint64_t *next_seq, char *why, size_t whylen)
{
	if (len != STREAM_START_SIZE) {
		snprintf(why, whylen, "START of %zu bytes, expected %d", len, STREAM_START_SIZE);
		return -1;
	}
	*next_seq = get64(p);
	if (*next_seq == 0) {
		snprintf(why, whylen, "START at seq 0, expected a seq from 1");
		return -1;
	}
	return 0;
}

/* Check that raw holds exactly count whole records, seqs rising by one from first. */
static int
check_batch(const uint8_t *raw, size_t raw_len, uint64_t first, uint32_t count, char *why,
    size_t whylen)
{
	struct record_hdr h;
	char reason[192];
	size_t off = 0;

	for (uint32_t i = 0; i < count; i++) {
		if (record_decode(raw + off, raw_len - off, &h, NULL, reason, sizeof(reason)) != 0) {
			snprintf(why, whylen, "RECORDS: record %" PRIu32 " of %" PRIu32 ": %s",
			    i, count, reason);
			return -1;
		}
		if (h.seq != first + i) {
			snprintf(why, whylen, "RECORDS: record %" PRIu32 " has seq %" PRIu64
			    ", expected %" PRIu64, i, h.seq, first + i);
			return -1;
		}
		off += record_size(&h);
	}
	if (off != raw_len) {
		snprintf(why, whylen, "RECORDS: %zu bytes after %" PRIu32 " records", raw_len - off,
		    count);
		return -1;
	}
	return 0;
}

long
stream_decode_records(const uint8_t *p, size_t len, uint8_t *out, uint64_t *first_seq,
    uint32_t *count, char *why, size_t whylen)
{
	uint8_t codec;
	uint32_t raw_len;
	const uint8_t *body = p + STREAM_RECORDS_HEAD;
	size_t body_len;

	if (len < STREAM_RECORDS_HEAD) {
		snprintf(why, whylen, "RECORDS of %zu bytes, expected at least %d", len,
		    STREAM_RECORDS_HEAD);
		return -1;
	}
	codec = p[0];
	raw_len = get32(p + 4);
	*first_seq = get64(p + 8);
	*count = get32(p + 16);
	body_len = len - STREAM_RECORDS_HEAD;
	if (raw_len > STREAM_MAX_RAW || *count == 0 || *first_seq == 0) {
		snprintf(why, whylen, "RECORDS: %" PRIu32 " bytes, %" PRIu32 " records from seq %"
		    PRIu64 ", expected 1 to %u bytes, at least one record, seqs from 1",
		    raw_len, *count, *first_seq, STREAM_MAX_RAW);
		return -1;
	}
	switch (codec) {
	case STREAM_CODEC_NONE:
		if (body_len != raw_len) {
			snprintf(why, whylen, "RECORDS: body of %zu bytes, announced %" PRIu32,
			    body_len, raw_len);
			return -1;
		}
		memcpy(out, body, body_len);
		break;
	case STREAM_CODEC_ZSTD: {
		unsigned long long size = ZSTD_getFrameContentSize(body, body_len);
		size_t n;

		if (size != raw_len) {
			snprintf(why, whylen, "RECORDS: compressed frame of %llu bytes, announced %"
			    PRIu32, size, raw_len);
			return -1;
		}
		n = ZSTD_decompress(out, STREAM_MAX_RAW, body, body_len);
		if (ZSTD_isError(n) || n != raw_len) {
			snprintf(why, whylen, "RECORDS: cannot decompress: %s",
			    ZSTD_isError(n) ? ZSTD_getErrorName(n) : "wrong size");
			return -1;
		}
		break;
	}
	default:
		snprintf(why, whylen, "RECORDS: codec %u, expected 0 (none) or 1 (zstd)", codec);
		return -1;
	}
	if (check_batch(out, raw_len, *first_seq, *count, why, whylen) < 0)
		return -1;
	return (long)raw_len;
}
