/* Unit tests of repl/streamwire: every message round trip, compression, every refusal. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/wire.h"
#include "repl/record.h"
#include "common/bytes.h"
#include "repl/streamwire.h"

/*
 * count records of payload_len bytes each from seq first into raw; returns
 * the bytes. Payloads repeat a letter, or with noise are pseudo-random (no
 * compressor shrinks them).
 */
static size_t
make_batch(uint8_t *raw, size_t cap, uint64_t first, uint32_t count, uint32_t payload_len,
    bool noise)
{
	uint8_t *payload = calloc(1, payload_len + 1);
	uint64_t x = 88172645463325252ull;
	size_t off = 0;

	assert_non_null(payload);
	for (uint32_t i = 0; i < count; i++) {
		struct record_hdr h = { .type = RECORD_WRITE, .epoch = 3, .seq = first + i,
		    .length = payload_len };

		memset(payload, 'a' + (int)(i % 3), payload_len);
		for (uint32_t k = 0; noise && k < payload_len; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			payload[k] = (uint8_t)x;
		}
		off += record_encode(raw + off, cap - off, &h, payload);
	}
	free(payload);
	return off;
}

/* Decode the header of a whole message and return its payload. */
static const uint8_t *
payload_of(const uint8_t *msg, size_t len, uint16_t type, size_t *plen)
{
	struct wire_hdr h;
	char why[256];

	assert_int_equal(wire_decode_hdr_max(msg, len, STREAM_MAX_PAYLOAD, &h, why, sizeof(why)), 0);
	assert_int_equal(h.type, type);
	assert_int_equal(h.epoch, 7);
	assert_int_equal(WIRE_HDR_SIZE + h.length, len);
	*plen = h.length;
	return msg + WIRE_HDR_SIZE;
}

static void
test_pos_round_trip(void **state)
{
	struct stream_pos *in = calloc(1, sizeof(*in)), *out = calloc(1, sizeof(*out));
	uint8_t buf[256];
	char why[256];
	size_t n, plen;
	const uint8_t *p;

	in->first_seq = 5;
	in->last_seq = 90;
	in->durable_seq = 80;
	in->applied_seq = 70;
	in->last_epoch = 3;
	in->flags = STREAM_POS_NEEDS_CHECK;
	assert_int_equal(history_begin(&in->history, 1, 1, why, sizeof(why)), 0);
	assert_int_equal(history_begin(&in->history, 3, 60, why, sizeof(why)), 0);
	n = stream_encode_pos(buf, sizeof(buf), 7, in);
	assert_int_equal(n, WIRE_HDR_SIZE + STREAM_POS_SIZE + 4 + 2 * 16);
	assert_int_equal(stream_encode_pos(buf, n - 1, 7, in), 0);
	p = payload_of(buf, n, WIRE_STREAM_POS, &plen);
	assert_int_equal(stream_decode_pos(p, plen, out, why, sizeof(why)), 0);
	assert_int_equal(out->first_seq, 5);
	assert_int_equal(out->last_seq, 90);
	assert_int_equal(out->durable_seq, 80);
	assert_int_equal(out->applied_seq, 70);
	assert_int_equal(out->last_epoch, 3);
	assert_int_equal(out->flags, STREAM_POS_NEEDS_CHECK);
	assert_int_equal(out->history.n, 2);
	assert_int_equal(history_epoch_at(&out->history, 60), 3);

	/* Inconsistent positions, a short history, trailing bytes. */
	in->applied_seq = 85;
	n = stream_encode_pos(buf, sizeof(buf), 7, in);
	assert_int_equal(stream_decode_pos(buf + WIRE_HDR_SIZE, n - WIRE_HDR_SIZE, out, why,
	    sizeof(why)), -1);
	assert_non_null(strstr(why, "expected first <= last + 1 and applied <= durable <= last"));
	in->applied_seq = 70;
	n = stream_encode_pos(buf, sizeof(buf), 7, in);
	assert_int_equal(stream_decode_pos(buf + WIRE_HDR_SIZE, n - WIRE_HDR_SIZE - 1, out, why,
	    sizeof(why)), -1);
	assert_non_null(strstr(why, "POS: epoch history"));
	assert_int_equal(stream_decode_pos(buf + WIRE_HDR_SIZE, 10, out, why, sizeof(why)), -1);
	assert_string_equal(why, "POS of 10 bytes, expected at least 48");
	free(in);
	free(out);
}

static void
test_ack_cut_skip(void **state)
{
	struct stream_ack ack = { .durable_seq = 12, .applied_seq = 10 }, back;
	struct stream_cut *cut = calloc(1, sizeof(*cut)), *cback = calloc(1, sizeof(*cback));
	uint8_t buf[256];
	char why[256];
	size_t n, plen;
	const uint8_t *p;
	uint64_t next;

	n = stream_encode_ack(buf, sizeof(buf), 7, &ack);
	p = payload_of(buf, n, WIRE_STREAM_ACK, &plen);
	assert_int_equal(stream_decode_ack(p, plen, &back, why, sizeof(why)), 0);
	assert_int_equal(back.durable_seq, 12);
	assert_int_equal(back.applied_seq, 10);
	assert_int_equal(stream_decode_ack(p, plen - 1, &back, why, sizeof(why)), -1);
	ack.applied_seq = 13;
	n = stream_encode_ack(buf, sizeof(buf), 7, &ack);
	assert_int_equal(stream_decode_ack(buf + WIRE_HDR_SIZE, n - WIRE_HDR_SIZE, &back, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "ACK: applied 13 past durable 12");

	cut->keep_seq = 100;
	cut->sender_last_seq = 130;
	assert_int_equal(history_begin(&cut->history, 2, 101, why, sizeof(why)), 0);
	n = stream_encode_cut(buf, sizeof(buf), 7, cut);
	p = payload_of(buf, n, WIRE_STREAM_CUT, &plen);
	assert_int_equal(stream_decode_cut(p, plen, cback, why, sizeof(why)), 0);
	assert_int_equal(cback->keep_seq, 100);
	assert_int_equal(cback->sender_last_seq, 130);
	assert_int_equal(history_epoch_at(&cback->history, 101), 2);
	cut->keep_seq = 131;
	n = stream_encode_cut(buf, sizeof(buf), 7, cut);
	assert_int_equal(stream_decode_cut(buf + WIRE_HDR_SIZE, n - WIRE_HDR_SIZE, cback, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "CUT: keep 131 past the sender's last record 130");

	n = stream_encode_skip(buf, sizeof(buf), 7, 500);
	p = payload_of(buf, n, WIRE_STREAM_SKIP, &plen);
	assert_int_equal(stream_decode_skip(p, plen, &next, why, sizeof(why)), 0);
	assert_int_equal(next, 500);
	memset(buf + WIRE_HDR_SIZE, 0, 8);
	assert_int_equal(stream_decode_skip(p, plen, &next, why, sizeof(why)), -1);
	free(cut);
	free(cback);
}

/* UP (wants or a check request) and CHECKED, and what they refuse. */
static void
test_up_checked(void **state)
{
	static const uint8_t body[] = { 1, 0, 0, 1, 0xaa };
	uint8_t buf[256];
	const uint8_t *p, *b;
	char why[256];
	size_t n, plen, blen;
	unsigned kind;
	uint64_t seq;

	n = stream_encode_up(buf, sizeof(buf), 7, STREAM_UP_WANTS, body, sizeof(body));
	p = payload_of(buf, n, WIRE_STREAM_UP, &plen);
	assert_int_equal(stream_decode_up(p, plen, &kind, &b, &blen, why, sizeof(why)), 0);
	assert_int_equal(kind, STREAM_UP_WANTS);
	assert_int_equal(blen, sizeof(body));
	assert_memory_equal(b, body, sizeof(body));
	n = stream_encode_up(buf, sizeof(buf), 7, STREAM_UP_CHECK, NULL, 0);
	p = payload_of(buf, n, WIRE_STREAM_UP, &plen);
	assert_int_equal(stream_decode_up(p, plen, &kind, &b, &blen, why, sizeof(why)), 0);
	assert_int_equal(kind, STREAM_UP_CHECK);
	assert_int_equal(blen, 0);
	/* What an encoder never writes. */
	assert_int_equal(stream_encode_up(buf, sizeof(buf), 7, STREAM_UP_CHECK, body, 1), 0);
	assert_int_equal(stream_encode_up(buf, sizeof(buf), 7, STREAM_UP_WANTS, NULL, 0), 0);
	assert_int_equal(stream_encode_up(buf, sizeof(buf), 7, 9, body, 1), 0);
	/* What a decoder refuses. */
	assert_int_equal(stream_decode_up(p, 3, &kind, &b, &blen, why, sizeof(why)), -1);
	assert_string_equal(why, "UP of 3 bytes, expected at least 4");
	buf[WIRE_HDR_SIZE + 2] = 1;
	assert_int_equal(stream_decode_up(p, plen, &kind, &b, &blen, why, sizeof(why)), -1);
	assert_string_equal(why, "UP with reserved bytes set, expected zeros");
	buf[WIRE_HDR_SIZE + 2] = 0;
	buf[WIRE_HDR_SIZE] = 9;
	assert_int_equal(stream_decode_up(p, plen, &kind, &b, &blen, why, sizeof(why)), -1);
	assert_string_equal(why, "UP of kind 9, expected 1 (wants), 2 (check), 3 (touched) or "
	    "4 (targets)");
	buf[WIRE_HDR_SIZE] = STREAM_UP_TOUCHED;     /* no body: a targeted check */
	assert_int_equal(stream_decode_up(p, plen, &kind, &b, &blen, why, sizeof(why)), 0);
	assert_int_equal(kind, STREAM_UP_TOUCHED);
	assert_int_equal(stream_encode_up(buf, sizeof(buf), 7, STREAM_UP_TOUCHED, body, 1), 0);
	n = stream_encode_up(buf, sizeof(buf), 7, STREAM_UP_TOUCHED, NULL, 0);
	p = payload_of(buf, n, WIRE_STREAM_UP, &plen);
	buf[WIRE_HDR_SIZE] = STREAM_UP_WANTS;
	assert_int_equal(stream_decode_up(p, plen, &kind, &b, &blen, why, sizeof(why)), -1);
	assert_string_equal(why, "UP of wants without a body");

	/* TARGETS: a body, like wants. */
	n = stream_encode_up(buf, sizeof(buf), 7, STREAM_UP_TARGETS, body, sizeof(body));
	p = payload_of(buf, n, WIRE_STREAM_UP, &plen);
	assert_int_equal(stream_decode_up(p, plen, &kind, &b, &blen, why, sizeof(why)), 0);
	assert_int_equal(kind, STREAM_UP_TARGETS);
	assert_int_equal(blen, sizeof(body));
	assert_int_equal(stream_decode_up(p, STREAM_UP_HEAD, &kind, &b, &blen, why, sizeof(why)), -1);
	assert_string_equal(why, "UP of targets without a body");
	assert_int_equal(stream_encode_up(buf, sizeof(buf), 7, STREAM_UP_TARGETS, NULL, 0), 0);

	{
		uint64_t tokens[STREAM_CHECKED_TOKENS], mine[STREAM_CHECKED_TOKENS + 1];
		size_t ntokens = 99;

		/* Without tokens, as before. */
		n = stream_encode_checked(buf, sizeof(buf), 7, 4242, NULL, 0);
		p = payload_of(buf, n, WIRE_STREAM_CHECKED, &plen);
		assert_int_equal(plen, STREAM_CHECKED_SIZE);
		assert_int_equal(stream_decode_checked(p, plen, &seq, tokens, &ntokens, why,
		    sizeof(why)), 0);
		assert_int_equal(seq, 4242);
		assert_int_equal(ntokens, 0);
		assert_int_equal(stream_decode_checked(p, plen + 1, &seq, tokens, &ntokens, why,
		    sizeof(why)), -1);
		assert_string_equal(why, "CHECKED of 9 bytes, expected 8, or 12 and tokens");
		/* With tokens. */
		for (size_t i = 0; i <= STREAM_CHECKED_TOKENS; i++)
			mine[i] = 1000 + i;
		n = stream_encode_checked(buf, sizeof(buf), 7, 4243, mine, 2);
		p = payload_of(buf, n, WIRE_STREAM_CHECKED, &plen);
		assert_int_equal(plen, STREAM_CHECKED_SIZE + 4 + 16);
		assert_int_equal(stream_decode_checked(p, plen, &seq, tokens, &ntokens, why,
		    sizeof(why)), 0);
		assert_int_equal(seq, 4243);
		assert_int_equal(ntokens, 2);
		assert_int_equal(tokens[0], 1000);
		assert_int_equal(tokens[1], 1001);
		assert_int_equal(stream_decode_checked(p, plen - 1, &seq, tokens, &ntokens, why,
		    sizeof(why)), -1);
		put32(buf + WIRE_HDR_SIZE + 8, 0);
		assert_int_equal(stream_decode_checked(p, plen, &seq, tokens, &ntokens, why,
		    sizeof(why)), -1);
		put32(buf + WIRE_HDR_SIZE + 8, 3);
		assert_int_equal(stream_decode_checked(p, plen, &seq, tokens, &ntokens, why,
		    sizeof(why)), -1);
		/* At most STREAM_CHECKED_TOKENS, both ways. */
		assert_int_equal(stream_encode_checked(buf, sizeof(buf), 7, 1, mine,
		    STREAM_CHECKED_TOKENS + 1), 0);
		n = stream_encode_checked(buf, sizeof(buf), 7, 1, mine, STREAM_CHECKED_TOKENS);
		p = payload_of(buf, n, WIRE_STREAM_CHECKED, &plen);
		assert_int_equal(stream_decode_checked(p, plen, &seq, tokens, &ntokens, why,
		    sizeof(why)), 0);
		assert_int_equal(ntokens, STREAM_CHECKED_TOKENS);
		put32(buf + WIRE_HDR_SIZE + 8, STREAM_CHECKED_TOKENS + 1);
		assert_int_equal(stream_decode_checked(p, plen, &seq, tokens, &ntokens, why,
		    sizeof(why)), -1);
	}

	n = stream_encode_start(buf, sizeof(buf), 7, 31);
	p = payload_of(buf, n, WIRE_STREAM_START, &plen);
	assert_int_equal(stream_decode_start(p, plen, &seq, why, sizeof(why)), 0);
	assert_int_equal(seq, 31);
	memset(buf + WIRE_HDR_SIZE, 0, 8);
	assert_int_equal(stream_decode_start(p, plen, &seq, why, sizeof(why)), -1);
	assert_string_equal(why, "START at seq 0, expected a seq from 1");
}

/* Records through both codecs: what comes out is what went in. */
static void
records_round_trip(enum stream_codec codec, uint32_t count, uint32_t payload_len, bool noise,
    bool expect_smaller)
{
	size_t cap = STREAM_MAX_RAW, bufcap = STREAM_MAX_PAYLOAD + WIRE_HDR_SIZE + 65536;
	uint8_t *raw = malloc(cap), *buf = malloc(bufcap), *out = malloc(STREAM_MAX_RAW);
	size_t raw_len = make_batch(raw, cap, 41, count, payload_len, noise), n, plen;
	const uint8_t *p;
	uint64_t first = 0;
	uint32_t got = 0;
	char why[256];

	n = stream_encode_records(buf, bufcap, 7, codec, 3, 41, count, raw, raw_len);
	assert_true(n > 0);
	if (expect_smaller)
		assert_true(n < raw_len);
	p = payload_of(buf, n, WIRE_STREAM_RECORDS, &plen);
	assert_int_equal(p[0], expect_smaller ? STREAM_CODEC_ZSTD : STREAM_CODEC_NONE);
	assert_int_equal(stream_decode_records(p, plen, out, &first, &got, why, sizeof(why)),
	    (long)raw_len);
	assert_int_equal(first, 41);
	assert_int_equal(got, count);
	assert_memory_equal(out, raw, raw_len);
	free(raw);
	free(buf);
	free(out);
}

static void
test_records(void **state)
{
	records_round_trip(STREAM_CODEC_NONE, 1, 10, false, false);
	records_round_trip(STREAM_CODEC_NONE, 50, 4096, false, false);
	records_round_trip(STREAM_CODEC_ZSTD, 50, 4096, false, true);  /* repetitive: compresses */
	records_round_trip(STREAM_CODEC_ZSTD, 2, 4096, true, false);   /* noise: sent as it is */
}

static void
test_records_refused(void **state)
{
	uint8_t raw[4096], buf[8192], *out = malloc(STREAM_MAX_RAW);
	size_t raw_len = make_batch(raw, sizeof(raw), 10, 3, 100, false), n;
	uint8_t *p = buf + WIRE_HDR_SIZE;
	uint64_t first;
	uint32_t count;
	char why[256];

	n = stream_encode_records(buf, sizeof(buf), 7, STREAM_CODEC_NONE, 0, 10, 3, raw, raw_len);
	/* Announced count larger than the records sent. */
	p[19] = 4;
	assert_int_equal(stream_decode_records(p, n - WIRE_HDR_SIZE, out, &first, &count, why,
	    sizeof(why)), -1);
	assert_non_null(strstr(why, "record 3 of 4"));
	/* Fewer announced than sent: bytes left over. */
	p[19] = 2;
	assert_int_equal(stream_decode_records(p, n - WIRE_HDR_SIZE, out, &first, &count, why,
	    sizeof(why)), -1);
	assert_non_null(strstr(why, "bytes after 2 records"));
	/* First seq that does not match the records. */
	p[19] = 3;
	p[15] = 11;
	assert_int_equal(stream_decode_records(p, n - WIRE_HDR_SIZE, out, &first, &count, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "RECORDS: record 0 has seq 10, expected 11");
	p[15] = 10;
	/* A flipped byte in a record: its checksum catches it. */
	p[STREAM_RECORDS_HEAD + 60] ^= 1;
	assert_int_equal(stream_decode_records(p, n - WIRE_HDR_SIZE, out, &first, &count, why,
	    sizeof(why)), -1);
	assert_non_null(strstr(why, "record 0 of 3"));
	p[STREAM_RECORDS_HEAD + 60] ^= 1;
	/* Unknown codec, body shorter than announced. */
	p[0] = 9;
	assert_int_equal(stream_decode_records(p, n - WIRE_HDR_SIZE, out, &first, &count, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "RECORDS: codec 9, expected 0 (none) or 1 (zstd)");
	p[0] = 0;
	assert_int_equal(stream_decode_records(p, n - WIRE_HDR_SIZE - 1, out, &first, &count, why,
	    sizeof(why)), -1);
	assert_non_null(strstr(why, "announced"));
	/* A zstd body that is not a frame. */
	p[0] = 1;
	assert_int_equal(stream_decode_records(p, n - WIRE_HDR_SIZE, out, &first, &count, why,
	    sizeof(why)), -1);
	assert_non_null(strstr(why, "compressed frame"));
	/* And the intact message still decodes. */
	p[0] = 0;
	assert_int_equal(stream_decode_records(p, n - WIRE_HDR_SIZE, out, &first, &count, why,
	    sizeof(why)), (long)raw_len);
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pos_round_trip),
		cmocka_unit_test(test_ack_cut_skip),
		cmocka_unit_test(test_up_checked),
		cmocka_unit_test(test_records),
		cmocka_unit_test(test_records_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
