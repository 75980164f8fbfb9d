/*
 * Fuzz target of the journal stream's messages, what a peer sends on a
 * stream connection: the first byte picks the message type, the rest is its
 * payload. streamwire.c, history.c and record.c are #included. Whatever the bytes, a
 * decoder either refuses with a reason or returns a message that encodes
 * back to the same payload (RECORDS: raw records that pass record_decode).
 */
#include "repl/streamwire.c"
#include "repl/history.c"
#include "repl/record.c"

#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"

static uint8_t out[STREAM_MAX_RAW];
static uint8_t again[STREAM_MAX_PAYLOAD + WIRE_HDR_SIZE];

static void
must(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_streamwire: %s\n", what);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct stream_pos pos;
	static struct stream_cut cut;
	struct stream_ack ack;
	char why[256] = "";
	uint64_t seq;
	uint32_t count;
	size_t n;
	long raw;

	if (size < 1)
		return 0;
	switch (data[0] % 8) {
	case 0:
		if (stream_decode_pos(data + 1, size - 1, &pos, why, sizeof(why)) == 0) {
			n = stream_encode_pos(again, sizeof(again), 1, &pos);
			must(n == size - 1 + WIRE_HDR_SIZE &&
			    memcmp(again + WIRE_HDR_SIZE, data + 1, size - 1) == 0 &&
			    pos.flags == get32(data + 1 + 40), "POS does not encode back");
		} else
			must(why[0] != '\0', "POS refused without a reason");
		break;
	case 1:
		if (stream_decode_ack(data + 1, size - 1, &ack, why, sizeof(why)) == 0)
			must(ack.applied_seq <= ack.durable_seq, "ACK applied past durable");
		else
			must(why[0] != '\0', "ACK refused without a reason");
		break;
	case 2:
		if (stream_decode_cut(data + 1, size - 1, &cut, why, sizeof(why)) == 0) {
			n = stream_encode_cut(again, sizeof(again), 1, &cut);
			must(n == size - 1 + WIRE_HDR_SIZE &&
			    memcmp(again + WIRE_HDR_SIZE, data + 1, size - 1) == 0,
			    "CUT does not encode back");
		} else
			must(why[0] != '\0', "CUT refused without a reason");
		break;
	case 3:
		if (stream_decode_skip(data + 1, size - 1, &seq, why, sizeof(why)) == 0)
			must(seq != 0, "SKIP to 0");
		break;
	case 5: {
		const uint8_t *body;
		size_t blen;
		unsigned kind;

		if (stream_decode_up(data + 1, size - 1, &kind, &body, &blen, why, sizeof(why)) == 0) {
			n = stream_encode_up(again, sizeof(again), 1, kind, body, blen);
			must(n == size - 1 + WIRE_HDR_SIZE &&
			    memcmp(again + WIRE_HDR_SIZE, data + 1, size - 1) == 0,
			    "UP does not encode back");
		} else
			must(why[0] != '\0', "UP refused without a reason");
		break;
	}
	case 6: {
		uint64_t tokens[STREAM_CHECKED_TOKENS];
		size_t ntokens;

		if (stream_decode_checked(data + 1, size - 1, &seq, tokens, &ntokens, why,
		    sizeof(why)) == 0) {
			must(ntokens <= STREAM_CHECKED_TOKENS, "CHECKED with too many tokens");
			n = stream_encode_checked(again, sizeof(again), 1, seq, tokens, ntokens);
			must(n == size - 1 + WIRE_HDR_SIZE &&
			    memcmp(again + WIRE_HDR_SIZE, data + 1, size - 1) == 0,
			    "CHECKED does not encode back");
		} else
			must(why[0] != '\0', "CHECKED refused without a reason");
		break;
	}
	case 7:
		if (stream_decode_start(data + 1, size - 1, &seq, why, sizeof(why)) == 0)
			must(seq != 0, "START at 0");
		else
			must(why[0] != '\0', "START refused without a reason");
		break;
	case 4:
		raw = stream_decode_records(data + 1, size - 1, out, &seq, &count, why, sizeof(why));
		if (raw >= 0) {
			size_t off = 0;

			for (uint32_t i = 0; i < count; i++) {
				struct record_hdr h;

				must(record_decode(out + off, (size_t)raw - off, &h, NULL, why,
				    sizeof(why)) == 0 && h.seq == seq + i, "RECORDS let a bad record through");
				off += record_size(&h);
			}
			must(off == (size_t)raw, "RECORDS length does not match its records");
		} else
			must(why[0] != '\0', "RECORDS refused without a reason");
		break;
	}
	return 0;
}
