/* Unit tests of common/wire: round trips, exact bytes, and every refusal. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/util.h"
#include "common/wire.h"

static void
test_hello_round_trip(void **state)
{
	struct wire_hello in = { .identity = NODE_SECONDARY, .role = 1, .channel = 2,
	    .kind = 1, .min_version = 1, .max_version = 3 }, out;
	uint8_t buf[WIRE_HDR_SIZE + WIRE_HELLO_SIZE];
	struct wire_hdr h;
	char why[128];

	strcpy(in.cluster, "lab");
	assert_int_equal(wire_encode_hello(buf, 42, &in), sizeof(buf));
	assert_int_equal(wire_decode_hdr(buf, sizeof(buf), &h, why, sizeof(why)), 0);
	assert_int_equal(h.type, WIRE_HELLO);
	assert_int_equal(h.length, WIRE_HELLO_SIZE);
	assert_int_equal(h.epoch, 42);
	assert_int_equal(wire_decode_hello(buf + WIRE_HDR_SIZE, h.length, &out, why, sizeof(why)), 0);
	assert_string_equal(out.cluster, "lab");
	assert_int_equal(out.identity, NODE_SECONDARY);
	assert_int_equal(out.role, 1);
	assert_int_equal(out.channel, 2);
	assert_int_equal(out.kind, 1);
	assert_int_equal(out.min_version, 1);
	assert_int_equal(out.max_version, 3);
}

/* The header's bytes are fixed: big-endian, in this order. */
static void
test_header_bytes(void **state)
{
	static const uint8_t want[WIRE_HDR_SIZE] = {
		'L', 'L', 'W', '1', 0, 1, 0, 2, 0, 0, 0, WIRE_HEARTBEAT_SIZE, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0x01, 0x02,
	};
	struct wire_heartbeat hb = { .seq = 1, .active = 0xff };
	uint8_t buf[WIRE_HDR_SIZE + WIRE_HEARTBEAT_SIZE];

	assert_int_equal(wire_encode_heartbeat(buf, 0x0102, &hb), sizeof(buf));
	assert_memory_equal(buf, want, sizeof(want));
}

static void
test_heartbeat_round_trip(void **state)
{
	struct wire_heartbeat in = { .seq = 7, .sent_ns = 0x1122334455667788ULL,
	    .echo_seq = 6, .echo_ns = 99, .echo_held_us = 70000, .role = 0, .active = NODE_PRIMARY,
	    .flags = WIRE_HB_PING_OK | WIRE_HB_IN_SYNC }, out;
	uint8_t buf[WIRE_HDR_SIZE + WIRE_HEARTBEAT_SIZE];
	char why[128];

	wire_encode_heartbeat(buf, 3, &in);
	assert_int_equal(wire_decode_heartbeat(buf + WIRE_HDR_SIZE, WIRE_HEARTBEAT_SIZE, &out,
	    why, sizeof(why)), 0);
	assert_int_equal(out.seq, 7);
	assert_true(out.sent_ns == 0x1122334455667788ULL);
	assert_int_equal(out.echo_seq, 6);
	assert_int_equal(out.echo_ns, 99);
	assert_int_equal(out.echo_held_us, 70000);
	assert_int_equal(out.active, NODE_PRIMARY);
	assert_int_equal(out.flags, WIRE_HB_PING_OK | WIRE_HB_IN_SYNC);
}

static void
test_partial_header_waits(void **state)
{
	uint8_t buf[WIRE_HDR_SIZE + WIRE_HEARTBEAT_SIZE];
	struct wire_heartbeat hb = { .seq = 1 };
	struct wire_hdr h;
	char why[128];

	wire_encode_heartbeat(buf, 1, &hb);
	for (size_t n = 0; n < WIRE_HDR_SIZE; n++)
		assert_int_equal(wire_decode_hdr(buf, n, &h, why, sizeof(why)), 1);
}

/* Corrupt one field of a good message; each must be refused with a reason. */
static void
test_refusals(void **state)
{
	static const struct {
		const char *what;
		size_t      offset;      /* byte to overwrite in the whole message */
		uint8_t     value;
		int         part;        /* 0 header, 1 hello payload */
		const char *expect;
	} rows[] = {
		{ "magic", 0, 'X', 0, "bad magic" },
		{ "version 0", 5, 0, 0, "protocol version 0" },
		{ "oversized", 9, 0x10, 0, "expected at most" },
		{ "identity", WIRE_HDR_SIZE + WIRE_NAME_SIZE, 9, 1, "identity 9" },
		{ "role", WIRE_HDR_SIZE + WIRE_NAME_SIZE + 1, 2, 1, "role 2" },
		{ "min version 0", WIRE_HDR_SIZE + WIRE_NAME_SIZE + 5, 0, 1, "versions 0..1" },
		{ "min above max", WIRE_HDR_SIZE + WIRE_NAME_SIZE + 5, 5, 1, "versions 5..1" },
		{ "unterminated name", WIRE_HDR_SIZE + WIRE_NAME_SIZE - 1, 'x', 1, "unterminated" },
	};

	for (size_t i = 0; i < nitems(rows); i++) {
		struct wire_hello hello = { .identity = 0, .min_version = 1, .max_version = 1 };
		uint8_t buf[WIRE_HDR_SIZE + WIRE_HELLO_SIZE];
		struct wire_hdr h;
		char why[128] = "";
		int rc;

		memset(hello.cluster, 'a', WIRE_NAME_SIZE - 1);
		hello.cluster[WIRE_NAME_SIZE - 1] = '\0';
		wire_encode_hello(buf, 1, &hello);
		buf[rows[i].offset] = rows[i].value;
		if (rows[i].part == 0)
			rc = wire_decode_hdr(buf, sizeof(buf), &h, why, sizeof(why));
		else
			rc = wire_decode_hello(buf + WIRE_HDR_SIZE, WIRE_HELLO_SIZE, &(struct wire_hello){ 0 },
			    why, sizeof(why));
		if (rc != -1 || strstr(why, rows[i].expect) == NULL)
			fail_msg("%s: rc %d, \"%s\" lacks \"%s\"", rows[i].what, rc, why, rows[i].expect);
	}
}

static void
test_heartbeat_refusals(void **state)
{
	uint8_t buf[WIRE_HDR_SIZE + WIRE_HEARTBEAT_SIZE];
	struct wire_heartbeat hb = { .seq = 1, .active = 0xff }, out;
	uint8_t *p = buf + WIRE_HDR_SIZE;
	char why[128];

	wire_encode_heartbeat(buf, 1, &hb);
	assert_int_equal(wire_decode_heartbeat(p, WIRE_HEARTBEAT_SIZE - 1, &out, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "expected 40"));
	p[37] = 5;
	assert_int_equal(wire_decode_heartbeat(p, WIRE_HEARTBEAT_SIZE, &out, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "node 5"));
	p[37] = 0xff;
	p[7] = 0;                      /* seq 0 */
	assert_int_equal(wire_decode_heartbeat(p, WIRE_HEARTBEAT_SIZE, &out, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "sequence 0"));
}

static void
test_refuse_text(void **state)
{
	uint8_t buf[WIRE_HDR_SIZE + 300];
	char big[400], out[64];
	struct wire_hdr h;
	char why[128];
	size_t n;

	memset(big, 'r', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	n = wire_encode_refuse(buf, sizeof(buf), 1, big);
	assert_int_equal(n, WIRE_HDR_SIZE + 255);
	assert_int_equal(wire_decode_hdr(buf, n, &h, why, sizeof(why)), 0);
	assert_int_equal(h.length, 255);
	n = wire_encode_refuse(buf, sizeof(buf), 1, "bad\ncert\x01");
	wire_decode_refuse(buf + WIRE_HDR_SIZE, n - WIRE_HDR_SIZE, out, sizeof(out));
	assert_string_equal(out, "bad?cert?");
}

static void
test_switchover(void **state)
{
	struct wire_switchover in = { .target = NODE_TERTIARY, .requester = NODE_SECONDARY }, out;
	uint8_t buf[WIRE_HDR_SIZE + WIRE_SWITCHOVER_SIZE];
	struct wire_hdr h;
	char why[128];

	assert_int_equal(wire_encode_switchover(buf, 9, &in), sizeof(buf));
	assert_int_equal(wire_decode_hdr(buf, sizeof(buf), &h, why, sizeof(why)), 0);
	assert_int_equal(h.type, WIRE_SWITCHOVER);
	assert_int_equal(wire_decode_switchover(buf + WIRE_HDR_SIZE, h.length, &out, why, sizeof(why)), 0);
	assert_int_equal(out.target, NODE_TERTIARY);
	assert_int_equal(out.requester, NODE_SECONDARY);
	buf[WIRE_HDR_SIZE] = 7;
	assert_int_equal(wire_decode_switchover(buf + WIRE_HDR_SIZE, h.length, &out, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "naming node 7"));
	assert_int_equal(wire_decode_switchover(buf + WIRE_HDR_SIZE, 3, &out, why, sizeof(why)), -1);
}

static void
test_engine_stop(void **state)
{
	uint8_t buf[WIRE_HDR_SIZE + WIRE_ENGINE_STOP_SIZE];
	char why[128];

	assert_int_equal(wire_encode_engine_stop(buf, 3, WIRE_LEAVE_APPS), sizeof(buf));
	assert_int_equal(wire_decode_engine_stop(buf + WIRE_HDR_SIZE, WIRE_ENGINE_STOP_SIZE, why,
	    sizeof(why)), WIRE_LEAVE_APPS);
	buf[WIRE_HDR_SIZE] = 2;
	assert_int_equal(wire_decode_engine_stop(buf + WIRE_HDR_SIZE, WIRE_ENGINE_STOP_SIZE, why,
	    sizeof(why)), -1);
	assert_non_null(strstr(why, "mode 2"));
}

static void
test_switchover_reply(void **state)
{
	uint8_t buf[WIRE_HDR_SIZE + WIRE_SWITCHOVER_REPLY_MIN + 255];
	char reason[300], why[128];
	int started, target;
	struct wire_hdr h;
	size_t n;

	n = wire_encode_switchover_reply(buf, 2, 0, NODE_SECONDARY, "secondary is not in sync");
	assert_int_equal(wire_decode_hdr(buf, n, &h, why, sizeof(why)), 0);
	assert_int_equal(h.type, WIRE_SWITCHOVER_REPLY);
	assert_int_equal(wire_decode_switchover_reply(buf + WIRE_HDR_SIZE, h.length, &started, &target,
	    reason, sizeof(reason), why, sizeof(why)), 0);
	assert_int_equal(started, 0);
	assert_int_equal(target, NODE_SECONDARY);
	assert_string_equal(reason, "secondary is not in sync");
	buf[WIRE_HDR_SIZE + 1] = 9;
	assert_int_equal(wire_decode_switchover_reply(buf + WIRE_HDR_SIZE, h.length, &started, &target,
	    reason, sizeof(reason), why, sizeof(why)), -1);
	assert_int_equal(wire_decode_switchover_reply(buf + WIRE_HDR_SIZE, 3, &started, &target,
	    reason, sizeof(reason), why, sizeof(why)), -1);
}

/* The node agent's request and answer. */
static void
test_engine_start(void **state)
{
	uint8_t buf[WIRE_HDR_SIZE + 300];
	struct wire_hdr h;
	char why[128], out[300];
	size_t n = wire_encode_engine_start(buf, 0);

	assert_int_equal(n, WIRE_HDR_SIZE + WIRE_ENGINE_START_SIZE);
	assert_int_equal(wire_decode_hdr(buf, n, &h, why, sizeof(why)), 0);
	assert_int_equal(h.type, WIRE_ENGINE_START);
	assert_int_equal(wire_decode_engine_start(buf + WIRE_HDR_SIZE, h.length, why, sizeof(why)), 0);
	assert_int_equal(wire_decode_engine_start(buf + WIRE_HDR_SIZE, 7, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "7 bytes, expected 8"));
	buf[WIRE_HDR_SIZE + 3] = 1;
	assert_int_equal(wire_decode_engine_start(buf + WIRE_HDR_SIZE, 8, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "reserved byte 3"));

	n = wire_encode_engine_started(buf, sizeof(buf), 0, "started lifelined (pid 7)");
	assert_int_equal(wire_decode_hdr(buf, n, &h, why, sizeof(why)), 0);
	assert_int_equal(h.type, WIRE_ENGINE_STARTED);
	wire_decode_refuse(buf + WIRE_HDR_SIZE, h.length, out, sizeof(out));
	assert_string_equal(out, "started lifelined (pid 7)");
}

/* wire_check_hello: each mismatch refused with its reason, a match taken. */
static void
test_check_hello(void **state)
{
	static const struct {
		unsigned    kind;
		const char *cluster;
		int         identity;
		uint16_t    min, max;
		const char *expect;      /* NULL: accepted */
	} rows[] = {
		{ WIRE_KIND_AGENT, "lab", NODE_SECONDARY, 1, 1, NULL },
		{ WIRE_KIND_AGENT, "lab", NODE_SECONDARY, 1, 3, NULL },
		{ WIRE_KIND_STREAM, "lab", NODE_SECONDARY, 1, 1, "hello of kind 2, expected 3" },
		{ WIRE_KIND_AGENT, "other", NODE_SECONDARY, 1, 1, "certificate of secondary in cluster lab" },
		{ WIRE_KIND_AGENT, "lab", NODE_TERTIARY, 1, 1, "certificate of secondary in cluster lab" },
		{ WIRE_KIND_AGENT, "lab", NODE_SECONDARY, 2, 3, "speaks protocol versions 2..3" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct wire_hello h = {
			.identity = (uint8_t)rows[i].identity, .kind = (uint8_t)rows[i].kind,
			.min_version = rows[i].min, .max_version = rows[i].max,
		};
		char why[200] = "";
		int rc;

		strcpy(h.cluster, rows[i].cluster);
		rc = wire_check_hello(&h, WIRE_KIND_AGENT, "lab", NODE_SECONDARY, why, sizeof(why));
		if (rows[i].expect == NULL)
			assert_int_equal(rc, 0);
		else {
			assert_int_equal(rc, -1);
			if (strstr(why, rows[i].expect) == NULL)
				fail_msg("row %zu: \"%s\" lacks \"%s\"", i, why, rows[i].expect);
		}
	}
}

/* Build a PLUGIN_FILES request of plugin with the given file names, each "data-N". */
static size_t
plugin_msg(uint8_t **out, const char *plugin, uint8_t op, const char *const *names, size_t n)
{
	struct wire_plugin_files r = { .op = op, .nfiles = n };
	static const char data[] = "some bytes\0with a NUL";

	snprintf(r.plugin, sizeof(r.plugin), "%s", plugin);
	for (size_t i = 0; i < n; i++) {
		snprintf(r.files[i].name, sizeof(r.files[i].name), "%s", names[i]);
		r.files[i].data = (const uint8_t *)data;
		r.files[i].len = sizeof(data);
	}
	return wire_encode_plugin_files(out, 7, &r);
}

/* Plug-in files round trip; names outside the plug-in's own are refused. */
static void
test_plugin_files(void **state)
{
	static const char *const good[] = { "pg.so", "pg.conf", "pg.pg.start" };
	static const char *const bad[] = { "pg", "pg.", "other.so", "pg/../x.conf", "pg..conf",
	    "pg.a/b" };
	struct wire_plugin_files r;
	struct wire_hdr h;
	char why[256];
	uint8_t *msg;
	size_t n = plugin_msg(&msg, "pg", WIRE_PLUGIN_PUT, good, 3);

	assert_int_equal(wire_decode_hdr_max(msg, n, WIRE_AGENT_MAX_PAYLOAD, &h, why, sizeof(why)), 0);
	assert_int_equal(h.type, WIRE_PLUGIN_FILES);
	assert_int_equal(h.length, n - WIRE_HDR_SIZE);
	assert_int_equal(wire_decode_plugin_files(msg + WIRE_HDR_SIZE, h.length, &r, why,
	    sizeof(why)), 0);
	assert_int_equal(r.op, WIRE_PLUGIN_PUT);
	assert_string_equal(r.plugin, "pg");
	assert_int_equal(r.nfiles, 3);
	assert_string_equal(r.files[2].name, "pg.pg.start");
	assert_int_equal(r.files[1].len, 22);
	assert_memory_equal(r.files[1].data, "some bytes\0with a NUL", 22);
	/* Cut anywhere: refused, never read past the end. */
	for (size_t cut = 0; cut < h.length; cut += 7)
		assert_int_equal(wire_decode_plugin_files(msg + WIRE_HDR_SIZE, cut, &r, why,
		    sizeof(why)), -1);
	free(msg);

	for (size_t i = 0; i < nitems(bad); i++) {
		n = plugin_msg(&msg, "pg", WIRE_PLUGIN_PUT, &bad[i], 1);
		assert_int_equal(wire_decode_plugin_files(msg + WIRE_HDR_SIZE, n - WIRE_HDR_SIZE, &r,
		    why, sizeof(why)), -1);
		assert_non_null(strstr(why, "is not a file of plug-in pg"));
		free(msg);
	}
	n = plugin_msg(&msg, "Bad Name", WIRE_PLUGIN_PUT, good, 0);
	assert_int_equal(wire_decode_plugin_files(msg + WIRE_HDR_SIZE, n - WIRE_HDR_SIZE, &r, why,
	    sizeof(why)), -1);
	free(msg);
	n = plugin_msg(&msg, "pg", WIRE_PLUGIN_DROP, good, 1);     /* a drop carries no file */
	assert_int_equal(wire_decode_plugin_files(msg + WIRE_HDR_SIZE, n - WIRE_HDR_SIZE, &r, why,
	    sizeof(why)), -1);
	free(msg);
	n = plugin_msg(&msg, "pg", WIRE_PLUGIN_DROP, good, 0);
	assert_int_equal(wire_decode_plugin_files(msg + WIRE_HDR_SIZE, n - WIRE_HDR_SIZE, &r, why,
	    sizeof(why)), 0);
	free(msg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello_round_trip),
		cmocka_unit_test(test_header_bytes),
		cmocka_unit_test(test_heartbeat_round_trip),
		cmocka_unit_test(test_partial_header_waits),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_heartbeat_refusals),
		cmocka_unit_test(test_refuse_text),
		cmocka_unit_test(test_switchover),
		cmocka_unit_test(test_engine_stop),
		cmocka_unit_test(test_switchover_reply),
		cmocka_unit_test(test_engine_start),
		cmocka_unit_test(test_check_hello),
		cmocka_unit_test(test_plugin_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
