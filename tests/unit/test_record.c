/* Unit tests of repl/record: round trips, exact bytes, every refusal, torn tails. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "repl/record.h"

/* Encode one record with the given fields; fails the test if it does not fit. */
static size_t
put_record(uint8_t *buf, size_t buflen, uint16_t type, uint64_t epoch, uint64_t seq,
    const void *payload, uint32_t length)
{
	struct record_hdr h = { .type = type, .epoch = epoch, .seq = seq, .length = length };
	size_t n = record_encode(buf, buflen, &h, payload);

	assert_int_equal(n, RECORD_HDR_SIZE + length);
	return n;
}

/* Recompute the checksum after a test changed a header byte on purpose. */
static void
reseal(uint8_t *buf)
{
	uint8_t copy[RECORD_HDR_SIZE];
	uint32_t length = (uint32_t)buf[24] << 24 | (uint32_t)buf[25] << 16 |
	    (uint32_t)buf[26] << 8 | buf[27];
	XXH3_state_t *st = XXH3_createState();
	uint64_t sum;
	int i;

	memcpy(copy, buf, sizeof(copy));
	memset(copy + 40, 0, 8);
	XXH3_64bits_reset(st);
	XXH3_64bits_update(st, copy, sizeof(copy));
	XXH3_64bits_update(st, buf + RECORD_HDR_SIZE, length);
	sum = XXH3_64bits_digest(st);
	XXH3_freeState(st);
	for (i = 0; i < 8; i++)
		buf[40 + i] = (uint8_t)(sum >> (56 - 8 * i));
}

static void
round_trip(uint16_t type, uint16_t flags, uint64_t epoch, uint64_t seq, uint32_t length)
{
	struct record_hdr in = { .type = type, .flags = flags, .epoch = epoch, .seq = seq,
	    .length = length }, out;
	uint8_t *payload = malloc(length + 1), *buf = malloc(RECORD_HDR_SIZE + length);
	const uint8_t *got = NULL;
	char why[256];
	uint32_t i;

	assert_non_null(payload);
	assert_non_null(buf);
	for (i = 0; i < length; i++)
		payload[i] = (uint8_t)(i * 31 + 7);
	assert_int_equal(record_encode(buf, RECORD_HDR_SIZE + length, &in, payload),
	    RECORD_HDR_SIZE + length);
	assert_int_equal(record_decode(buf, RECORD_HDR_SIZE + length, &out, &got, why,
	    sizeof(why)), 0);
	assert_int_equal(out.version, RECORD_VERSION);
	assert_int_equal(out.type, type);
	assert_int_equal(out.flags, flags);
	assert_true(out.epoch == epoch);
	assert_true(out.seq == seq);
	assert_int_equal(out.length, length);
	assert_int_equal(record_size(&out), RECORD_HDR_SIZE + length);
	assert_ptr_equal(got, buf + RECORD_HDR_SIZE);
	if (length > 0)
		assert_memory_equal(got, payload, length);
	free(payload);
	free(buf);
}

static void
test_round_trips(void **state)
{
	round_trip(RECORD_WRITE, 0, 1, 1, 0);
	round_trip(RECORD_CHMOD, 0x8001, 7, 0x1122334455667788ULL, 1);
	round_trip(RECORD_DATA, 0, UINT64_MAX, UINT64_MAX - 1, 64 * 1024);
	round_trip(RECORD_RENAME, 3, 2, 99, 300);
	round_trip(RECORD_FSYNC_BARRIER, 0, 0, 0, 0);
	round_trip(RECORD_VERIFY, 0, 5, 6, RECORD_MAX_PAYLOAD);
}

/* The header's bytes are fixed: big-endian, in this order, checksum last. */
static void
test_header_bytes(void **state)
{
	static const uint8_t want[RECORD_HDR_SIZE] = {
		'L', 'L', 'J', '1', 0, 1, 0, RECORD_SETXATTR,
		0, 0, 0, 0, 0, 0, 0x01, 0x02,                   /* epoch */
		0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, /* seq */
		0, 0, 0, 3, 0xab, 0xcd,                         /* length, flags */
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0,                   /* reserved */
		0x8b, 0xe5, 0x65, 0x16, 0xe9, 0x42, 0xcc, 0xcd, /* checksum */
	};
	struct record_hdr h = { .type = RECORD_SETXATTR, .epoch = 0x0102,
	    .seq = 0x1020304050607080ULL, .length = 3, .flags = 0xabcd };
	uint8_t buf[RECORD_HDR_SIZE + 3], check[RECORD_HDR_SIZE + 3];

	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(record_encode(buf, sizeof(buf), &h, "abc"), sizeof(buf));
	/* The checksum is XXH3-64 of the header with a zero checksum, then the payload. */
	memcpy(check, buf, sizeof(check));
	memset(check + 40, 0xff, 8);
	reseal(check);
	assert_memory_equal(buf, check, sizeof(buf));
	assert_memory_equal(buf, want, sizeof(want));
	assert_memory_equal(buf + RECORD_HDR_SIZE, "abc", 3);
}

static void
test_encode_refusals(void **state)
{
	uint8_t buf[RECORD_HDR_SIZE + 16] = { 0 };
	struct record_hdr h = { .type = RECORD_WRITE, .length = 16 };

	assert_int_equal(record_encode(buf, sizeof(buf) - 1, &h, buf), 0);
	assert_int_equal(record_encode(buf, sizeof(buf), &h, NULL), 0);
	h.type = 0;
	assert_int_equal(record_encode(buf, sizeof(buf), &h, buf), 0);
	h.type = RECORD_TYPE_MAX + 1;
	assert_int_equal(record_encode(buf, sizeof(buf), &h, buf), 0);
	h.type = RECORD_WRITE;
	h.length = RECORD_MAX_PAYLOAD + 1;
	assert_int_equal(record_encode(buf, SIZE_MAX, &h, buf), 0);
	h.length = 0;
	assert_int_equal(record_encode(buf, RECORD_HDR_SIZE - 1, &h, NULL), 0);
	assert_int_equal(record_encode(buf, RECORD_HDR_SIZE, &h, NULL), RECORD_HDR_SIZE);
}

/* Decode buf and expect a refusal whose reason contains each word given. */
static void
refused(const uint8_t *buf, size_t len, const char *word1, const char *word2)
{
	struct record_hdr h;
	const uint8_t *p;
	char why[256] = "";

	assert_int_equal(record_decode(buf, len, &h, &p, why, sizeof(why)), -1);
	if (strstr(why, word1) == NULL || strstr(why, word2) == NULL)
		fail_msg("reason \"%s\" lacks \"%s\" or \"%s\"", why, word1, word2);
}

static void
test_decode_refusals(void **state)
{
	uint8_t good[RECORD_HDR_SIZE + 8], buf[sizeof(good)];
	struct record_hdr h;
	char why[256];

	put_record(good, sizeof(good), RECORD_WRITE, 4, 10, "12345678", 8);

	memcpy(buf, good, sizeof(buf));
	buf[3] = '2';
	refused(buf, sizeof(buf), "magic 0x4c4c4a32", "expected 0x4c4c4a31");
	refused(buf, 4, "magic", "expected");          /* judged before the header is whole */

	memcpy(buf, good, sizeof(buf));
	buf[5] = 2;
	reseal(buf);
	refused(buf, sizeof(buf), "version 2", "expected 1");

	memcpy(buf, good, sizeof(buf));
	buf[7] = 0;
	reseal(buf);
	refused(buf, sizeof(buf), "type 0", "expected 1 to 23");
	buf[7] = RECORD_TYPE_MAX + 1;
	reseal(buf);
	refused(buf, sizeof(buf), "type 24", "expected 1 to 23");
	buf[6] = 1;
	buf[7] = RECORD_WRITE;
	reseal(buf);
	refused(buf, sizeof(buf), "type 257", "expected");

	/* Oversize is refused from the header alone, before waiting for 16 MiB. */
	memcpy(buf, good, sizeof(buf));
	buf[24] = 0x01;
	buf[25] = 0x00;
	buf[26] = 0x00;
	buf[27] = 0x01;
	refused(buf, RECORD_HDR_SIZE, "length 16777217", "at most 16777216");
	buf[24] = 0xff;
	refused(buf, 28, "length", "at most");

	/* A flipped bit in the header, the payload or the checksum itself. */
	memcpy(buf, good, sizeof(buf));
	buf[16 + 7] ^= 0x01;                           /* seq */
	refused(buf, sizeof(buf), "checksum", "expected");
	memcpy(buf, good, sizeof(buf));
	buf[29] ^= 0x40;                               /* flags */
	refused(buf, sizeof(buf), "checksum", "expected");
	memcpy(buf, good, sizeof(buf));
	buf[35] ^= 0x01;                               /* reserved, not resealed */
	refused(buf, sizeof(buf), "checksum", "expected");
	memcpy(buf, good, sizeof(buf));
	buf[RECORD_HDR_SIZE + 5] ^= 0x80;              /* payload */
	refused(buf, sizeof(buf), "checksum", "8 payload bytes");
	memcpy(buf, good, sizeof(buf));
	buf[47] ^= 0x01;                               /* checksum */
	refused(buf, sizeof(buf), "checksum", "expected");

	/* Reserved bytes are ignored on read when the checksum covers them. */
	memcpy(buf, good, sizeof(buf));
	buf[30] = 0x5a;
	buf[39] = 0xa5;
	reseal(buf);
	assert_int_equal(record_decode(buf, sizeof(buf), &h, NULL, why, sizeof(why)), 0);
	assert_int_equal(h.seq, 10);

	/* A refusal with no room for a reason still refuses. */
	memcpy(buf, good, sizeof(buf));
	buf[0] = 0;
	assert_int_equal(record_decode(buf, sizeof(buf), &h, NULL, NULL, 0), -1);
	/* All zeroes, as in preallocated space, is never a record. */
	memset(buf, 0, sizeof(buf));
	refused(buf, sizeof(buf), "magic", "expected");
}

/* Every cut of a valid record waits for more bytes; none is called corrupt. */
static void
test_incomplete_record(void **state)
{
	uint8_t buf[RECORD_HDR_SIZE + 100], payload[100], longer[sizeof(buf) + 7];
	struct record_hdr h;
	char why[256];
	size_t cut;

	memset(payload, 0x77, sizeof(payload));
	put_record(buf, sizeof(buf), RECORD_WRITE, 1, 1, payload, sizeof(payload));
	for (cut = 0; cut < sizeof(buf); cut++) {
		why[0] = '\0';
		assert_int_equal(record_decode(buf, cut, &h, NULL, why, sizeof(why)), 1);
		assert_non_null(strstr(why, "incomplete"));
	}
	assert_int_equal(record_decode(buf, sizeof(buf), &h, NULL, why, sizeof(why)), 0);
	/* Bytes after the record are not its business. */
	memcpy(longer, buf, sizeof(buf));
	memset(longer + sizeof(buf), 0xff, sizeof(longer) - sizeof(buf));
	assert_int_equal(record_decode(longer, sizeof(longer), &h, NULL, why, sizeof(why)), 0);
	assert_int_equal(record_size(&h), sizeof(buf));
}

/* Three records of different sizes, seq 5, 6, 7; ends[i] is the end of record i. */
static size_t
three_records(uint8_t *buf, size_t buflen, size_t ends[3])
{
	static const uint8_t payload[1000];
	size_t off = 0;

	off += put_record(buf + off, buflen - off, RECORD_WRITE, 2, 5, payload, 1000);
	ends[0] = off;
	off += put_record(buf + off, buflen - off, RECORD_UNLINK, 2, 6, NULL, 0);
	ends[1] = off;
	off += put_record(buf + off, buflen - off, RECORD_TRUNCATE, 3, 7, payload, 17);
	ends[2] = off;
	return off;
}

static void
test_scan_every_cut(void **state)
{
	uint8_t buf[3 * RECORD_HDR_SIZE + 1017];
	size_t ends[3], len, cut, want;
	uint64_t last;
	char why[256];

	len = three_records(buf, sizeof(buf), ends);
	assert_int_equal(len, sizeof(buf));
	for (cut = 0; cut <= len; cut++) {
		want = cut >= ends[2] ? ends[2] : cut >= ends[1] ? ends[1] :
		    cut >= ends[0] ? ends[0] : 0;
		last = 1234;
		why[0] = 'x';
		assert_int_equal(record_scan(buf, cut, &last, why, sizeof(why)), want);
		if (want == 0)
			assert_true(last == 1234);
		else
			assert_true(last == (want == ends[0] ? 5 : want == ends[1] ? 6 : 7));
		if (cut == want)
			assert_string_equal(why, "");
		else
			assert_non_null(strstr(why, "torn"));
	}
}

static void
test_scan_corrupt_middle(void **state)
{
	uint8_t buf[3 * RECORD_HDR_SIZE + 1017];
	size_t ends[3], len;
	uint64_t last = 0;
	char why[256];

	len = three_records(buf, sizeof(buf), ends);
	buf[ends[0] + 10] ^= 0x01;                     /* record 1's epoch */
	assert_int_equal(record_scan(buf, len, &last, why, sizeof(why)), ends[0]);
	assert_int_equal(last, 5);
	assert_non_null(strstr(why, "corrupt record 1"));
	assert_non_null(strstr(why, "checksum"));

	len = three_records(buf, sizeof(buf), ends);
	buf[0] = 'X';
	last = 99;
	assert_int_equal(record_scan(buf, len, &last, why, sizeof(why)), 0);
	assert_int_equal(last, 99);
	assert_non_null(strstr(why, "offset 0"));

	/* Zeroed space after the last record ends the prefix there. */
	len = three_records(buf, sizeof(buf), ends);
	memset(buf + ends[1], 0, len - ends[1]);
	assert_int_equal(record_scan(buf, len, &last, why, sizeof(why)), ends[1]);
	assert_int_equal(last, 6);

	assert_int_equal(record_scan(buf, 0, &last, why, sizeof(why)), 0);
	assert_string_equal(why, "");
}

static void
test_scan_order(void **state)
{
	uint8_t buf[4 * RECORD_HDR_SIZE];
	uint64_t last = 0;
	char why[256];
	size_t off;

	/* A gap in seq. */
	off = put_record(buf, sizeof(buf), RECORD_WRITE, 1, 1, NULL, 0);
	off += put_record(buf + off, sizeof(buf) - off, RECORD_WRITE, 1, 2, NULL, 0);
	off += put_record(buf + off, sizeof(buf) - off, RECORD_WRITE, 1, 4, NULL, 0);
	assert_int_equal(record_scan(buf, off, &last, why, sizeof(why)), 2 * RECORD_HDR_SIZE);
	assert_int_equal(last, 2);
	assert_non_null(strstr(why, "seq 4, expected 3"));

	/* A repeated seq. */
	off = put_record(buf, sizeof(buf), RECORD_WRITE, 1, 8, NULL, 0);
	off += put_record(buf + off, sizeof(buf) - off, RECORD_WRITE, 1, 8, NULL, 0);
	assert_int_equal(record_scan(buf, off, &last, why, sizeof(why)), RECORD_HDR_SIZE);
	assert_int_equal(last, 8);
	assert_non_null(strstr(why, "seq 8, expected 9"));

	/* seq does not wrap around. */
	off = put_record(buf, sizeof(buf), RECORD_WRITE, 1, UINT64_MAX, NULL, 0);
	off += put_record(buf + off, sizeof(buf) - off, RECORD_WRITE, 1, 0, NULL, 0);
	assert_int_equal(record_scan(buf, off, &last, why, sizeof(why)), RECORD_HDR_SIZE);
	assert_true(last == UINT64_MAX);

	/* Epochs may rise, never fall. */
	off = put_record(buf, sizeof(buf), RECORD_WRITE, 3, 20, NULL, 0);
	off += put_record(buf + off, sizeof(buf) - off, RECORD_WRITE, 4, 21, NULL, 0);
	off += put_record(buf + off, sizeof(buf) - off, RECORD_WRITE, 4, 22, NULL, 0);
	off += put_record(buf + off, sizeof(buf) - off, RECORD_WRITE, 3, 23, NULL, 0);
	assert_int_equal(record_scan(buf, off, &last, why, sizeof(why)), 3 * RECORD_HDR_SIZE);
	assert_int_equal(last, 22);
	assert_non_null(strstr(why, "record 3"));
	assert_non_null(strstr(why, "epoch 3 below"));

	/* Without a place for the reason or the seq, the length is the same. */
	assert_int_equal(record_scan(buf, off, NULL, NULL, 0), 3 * RECORD_HDR_SIZE);
}

static void
test_types(void **state)
{
	static const struct {
		unsigned    type;
		const char *name;
		bool        state_setting;
	} want[] = {
		{ RECORD_WRITE,         "write",         true },
		{ RECORD_TRUNCATE,      "truncate",      true },
		{ RECORD_CREATE,        "create",        false },
		{ RECORD_MKDIR,         "mkdir",         false },
		{ RECORD_UNLINK,        "unlink",        false },
		{ RECORD_RMDIR,         "rmdir",         false },
		{ RECORD_RENAME,        "rename",        false },
		{ RECORD_LINK,          "link",          false },
		{ RECORD_SYMLINK,       "symlink",       false },
		{ RECORD_CHMOD,         "chmod",         true },
		{ RECORD_CHOWN,         "chown",         true },
		{ RECORD_UTIMENS,       "utimens",       true },
		{ RECORD_SETXATTR,      "setxattr",      true },
		{ RECORD_REMOVEXATTR,   "removexattr",   true },
		{ RECORD_FALLOCATE,     "fallocate",     false },
		{ RECORD_FSYNC_BARRIER, "fsync-barrier", true },
		{ RECORD_VERIFY,        "verify",        true },
		{ RECORD_DATA,          "data",          true },
		{ RECORD_CONFIG_FILE,   "config-file",   true },
		{ RECORD_CONFIG_DIR,    "config-dir",    true },
		{ RECORD_CONFIG_SYMLINK, "config-symlink", true },
		{ RECORD_CONFIG_REMOVE, "config-remove", true },
		{ RECORD_CONFIG_MANIFEST, "config-manifest", true },
	};
	size_t i;

	/* Values are on disk: fixed forever. */
	assert_int_equal(RECORD_WRITE, 1);
	assert_int_equal(RECORD_RENAME, 7);
	assert_int_equal(RECORD_FALLOCATE, 15);
	assert_int_equal(RECORD_DATA, 18);
	assert_int_equal(RECORD_CONFIG_FILE, 19);
	assert_int_equal(RECORD_CONFIG_MANIFEST, 23);
	assert_int_equal(sizeof(want) / sizeof(want[0]), RECORD_TYPE_MAX - RECORD_TYPE_MIN + 1);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_int_equal(want[i].type, RECORD_TYPE_MIN + i);
		assert_true(record_type_valid(want[i].type));
		assert_string_equal(record_type_name(want[i].type), want[i].name);
		if (record_is_state_setting(want[i].type) != want[i].state_setting)
			fail_msg("%s: state-setting should be %d", want[i].name,
			    want[i].state_setting);
	}
	assert_false(record_type_valid(0));
	assert_false(record_type_valid(RECORD_TYPE_MAX + 1));
	assert_string_equal(record_type_name(0), "unknown");
	assert_string_equal(record_type_name(65535), "unknown");
	assert_false(record_is_state_setting(0));
	assert_false(record_is_state_setting(RECORD_TYPE_MAX + 1));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_header_bytes),
		cmocka_unit_test(test_encode_refusals),
		cmocka_unit_test(test_decode_refusals),
		cmocka_unit_test(test_incomplete_record),
		cmocka_unit_test(test_scan_every_cut),
		cmocka_unit_test(test_scan_corrupt_middle),
		cmocka_unit_test(test_scan_order),
		cmocka_unit_test(test_types),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
