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
	struct wire_heartbeat hb = { .seq = 1, .active = 0xff, .config_known = true };
	uint8_t buf[WIRE_HDR_SIZE + WIRE_HEARTBEAT_SIZE];

	assert_int_equal(wire_encode_heartbeat(buf, 0x0102, &hb), sizeof(buf));
	assert_memory_equal(buf, want, sizeof(want));
}

static void
test_heartbeat_round_trip(void **state)
{
	struct wire_heartbeat in = { .seq = 7, .sent_ns = 0x1122334455667788ULL,
	    .echo_seq = 6, .echo_ns = 99, .echo_held_us = 70000, .role = 0, .active = NODE_PRIMARY,
	    .flags = WIRE_HB_PING_OK | WIRE_HB_IN_SYNC, .config_known = true,
	    .config_hash = { 0x9f, 0x2c, 1, 2, 3, 4, 5, 0xff } }, out;
	uint8_t buf[WIRE_HDR_SIZE + WIRE_HEARTBEAT_SIZE];
	char why[128];

	assert_int_equal(wire_encode_heartbeat(buf, 3, &in), sizeof(buf));
	assert_int_equal(wire_decode_heartbeat(buf + WIRE_HDR_SIZE, WIRE_HEARTBEAT_SIZE, &out,
	    why, sizeof(why)), 0);
	assert_int_equal(out.seq, 7);
	assert_true(out.sent_ns == 0x1122334455667788ULL);
	assert_int_equal(out.echo_seq, 6);
	assert_int_equal(out.echo_ns, 99);
	assert_int_equal(out.echo_held_us, 70000);
	assert_int_equal(out.active, NODE_PRIMARY);
	assert_int_equal(out.flags, WIRE_HB_PING_OK | WIRE_HB_IN_SYNC);
	assert_true(out.config_known);
	assert_memory_equal(out.config_hash, in.config_hash, WIRE_HB_HASH_SIZE);
}

/*
 * A peer of an older build sends the 40-byte heartbeat and ignores the
 * hello's features byte: its beats are taken, its configuration unknown;
 * a node that was not offered the long form sends the short one.
 */
static void
test_heartbeat_short_form(void **state)
{
	struct wire_heartbeat in = { .seq = 3, .active = NODE_SECONDARY, .role = 1 }, out;
	uint8_t buf[WIRE_HDR_SIZE + WIRE_HEARTBEAT_SIZE];
	struct wire_hdr h;
	char why[128];

	memset(&out, 0xaa, sizeof(out));
	assert_int_equal(wire_encode_heartbeat(buf, 1, &in), WIRE_HDR_SIZE + WIRE_HEARTBEAT_V1_SIZE);
	assert_int_equal(wire_decode_hdr(buf, WIRE_HDR_SIZE, &h, why, sizeof(why)), 0);
	assert_int_equal(h.length, WIRE_HEARTBEAT_V1_SIZE);
	assert_int_equal(wire_decode_heartbeat(buf + WIRE_HDR_SIZE, h.length, &out, why,
	    sizeof(why)), 0);
	assert_false(out.config_known);
	assert_int_equal(out.seq, 3);
	assert_int_equal(out.active, NODE_SECONDARY);
	for (size_t i = 0; i < WIRE_HB_HASH_SIZE; i++)
		assert_int_equal(out.config_hash[i], 0);
}

/* The hello's features byte goes both ways; an old hello (zero there) offers none. */
static void
test_hello_features(void **state)
{
	struct wire_hello in = { .identity = NODE_PRIMARY, .kind = WIRE_KIND_BEATS,
	    .min_version = 1, .max_version = 1, .features = WIRE_FEAT_HB_CONFIG }, out;
	uint8_t buf[WIRE_HDR_SIZE + WIRE_HELLO_SIZE];
	char why[128];

	strcpy(in.cluster, "lab");
	wire_encode_hello(buf, 1, &in);
	assert_int_equal(buf[WIRE_HDR_SIZE + WIRE_NAME_SIZE + 8], WIRE_FEAT_HB_CONFIG);
	assert_int_equal(wire_decode_hello(buf + WIRE_HDR_SIZE, WIRE_HELLO_SIZE, &out, why,
	    sizeof(why)), 0);
	assert_int_equal(out.features, WIRE_FEAT_HB_CONFIG);
	buf[WIRE_HDR_SIZE + WIRE_NAME_SIZE + 8] = 0;
	assert_int_equal(wire_decode_hello(buf + WIRE_HDR_SIZE, WIRE_HELLO_SIZE, &out, why,
	    sizeof(why)), 0);
	assert_int_equal(out.features, 0);
}

static void
test_hb_hash(void **state)
{
	uint8_t out[WIRE_HB_HASH_SIZE];
	static const uint8_t want[WIRE_HB_HASH_SIZE] = { 0x9f, 0x2c, 0x00, 0x11, 0xab, 0xcd, 0xef, 0x01 };
	char hash[65];

	memset(hash, 'e', 64);
	hash[64] = '\0';
	memcpy(hash, "9f2c0011abcdef01", 16);
	assert_int_equal(wire_hb_hash(hash, out), 0);
	assert_memory_equal(out, want, sizeof(want));
	hash[3] = 'C';                 /* upper case is not how a config_hash is written */
	assert_int_equal(wire_hb_hash(hash, out), -1);
	assert_int_equal(wire_hb_hash("9f2c", out), -1);
	assert_int_equal(wire_hb_hash(NULL, out), -1);
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
	assert_int_equal(wire_decode_heartbeat(p, WIRE_HEARTBEAT_V1_SIZE - 1, &out, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "expected 48 (or 40"));
	assert_int_equal(wire_decode_heartbeat(p, WIRE_HEARTBEAT_SIZE + 1, &out, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "of 49 bytes"));
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

static const char conf_text[] = "[cluster]\nname = demo\n";

static size_t
prepare_msg(uint8_t **out)
{
	struct wire_config_push r = { .phase = WIRE_CONFIG_PREPARE, .text = conf_text,
	    .len = sizeof(conf_text) - 1 };

	wire_config_digest(r.text, r.len, r.digest);
	return wire_encode_config_push(out, 5, &r);
}

static void
test_config_push(void **state)
{
	struct wire_config_push in = { .phase = WIRE_CONFIG_COMMIT }, out;
	uint8_t *buf, digest[WIRE_CONFIG_DIGEST];
	struct wire_hdr h;
	char why[128];
	size_t n = prepare_msg(&buf);

	assert_int_equal(n, WIRE_HDR_SIZE + WIRE_CONFIG_PUSH_MIN + sizeof(conf_text) - 1);
	assert_int_equal(wire_decode_hdr_max(buf, n, WIRE_AGENT_MAX_PAYLOAD, &h, why, sizeof(why)), 0);
	assert_int_equal(h.type, WIRE_CONFIG_PUSH);
	assert_int_equal(wire_decode_config_push(buf + WIRE_HDR_SIZE, h.length, &out, why,
	    sizeof(why)), 0);
	assert_int_equal(out.phase, WIRE_CONFIG_PREPARE);
	assert_int_equal(out.len, sizeof(conf_text) - 1);
	assert_memory_equal(out.text, conf_text, out.len);
	wire_config_digest(conf_text, sizeof(conf_text) - 1, digest);
	assert_memory_equal(out.digest, digest, sizeof(digest));
	free(buf);

	/* Commit and abort name the push by its digest and carry no text. */
	memcpy(in.digest, digest, sizeof(digest));
	in.text = conf_text;
	in.len = 5;                    /* ignored: not a prepare */
	n = wire_encode_config_push(&buf, 5, &in);
	assert_int_equal(n, WIRE_HDR_SIZE + WIRE_CONFIG_PUSH_MIN);
	assert_int_equal(wire_decode_config_push(buf + WIRE_HDR_SIZE, WIRE_CONFIG_PUSH_MIN, &out, why,
	    sizeof(why)), 0);
	assert_int_equal(out.phase, WIRE_CONFIG_COMMIT);
	assert_int_equal(out.len, 0);
	assert_memory_equal(out.digest, digest, sizeof(digest));
	free(buf);
}

/* Spoil one thing of a good prepare; each must be refused, saying what. */
static void
test_config_push_refusals(void **state)
{
	static const struct {
		const char *what;
		size_t      offset;      /* in the payload; SIZE_MAX: cut the last byte */
		uint8_t     value;
		const char *expect;
	} rows[] = {
		{ "phase 0", 0, 0, "phase 0, expected prepare" },
		{ "phase 4", 0, 4, "phase 4" },
		{ "reserved", 3, 1, "reserved byte 3" },
		{ "reserved after length", 46, 1, "reserved byte 46" },
		{ "digest", 9, 0x55, "does not match its SHA-256" },
		{ "text", WIRE_CONFIG_PUSH_MIN + 2, 'x', "does not match its SHA-256" },
		{ "NUL in text", WIRE_CONFIG_PUSH_MIN + 2, 0, "NUL byte" },
		{ "length", 43, 0x7f, "announcing" },
		{ "cut", SIZE_MAX, 0, "announcing" },
	};

	for (size_t i = 0; i < nitems(rows); i++) {
		struct wire_config_push out;
		uint8_t *buf;
		size_t n = prepare_msg(&buf) - WIRE_HDR_SIZE;
		char why[128] = "";
		int rc;

		if (rows[i].offset == SIZE_MAX)
			n--;
		else
			buf[WIRE_HDR_SIZE + rows[i].offset] = rows[i].value;
		rc = wire_decode_config_push(buf + WIRE_HDR_SIZE, n, &out, why, sizeof(why));
		if (rc != -1 || strstr(why, rows[i].expect) == NULL)
			fail_msg("%s: rc %d, \"%s\" lacks \"%s\"", rows[i].what, rc, why, rows[i].expect);
		free(buf);
	}
	{
		struct wire_config_push out;
		uint8_t shortbuf[WIRE_CONFIG_PUSH_MIN - 1] = { 1 };
		uint8_t *buf;
		struct wire_config_push commit = { .phase = WIRE_CONFIG_ABORT };
		size_t n;
		char why[128];

		assert_int_equal(wire_decode_config_push(shortbuf, sizeof(shortbuf), &out, why,
		    sizeof(why)), -1);
		assert_non_null(strstr(why, "expected at least 48"));
		/* An abort with text is refused; so is an empty prepare. */
		n = prepare_msg(&buf);
		buf[WIRE_HDR_SIZE] = WIRE_CONFIG_ABORT;
		assert_int_equal(wire_decode_config_push(buf + WIRE_HDR_SIZE, n - WIRE_HDR_SIZE, &out,
		    why, sizeof(why)), -1);
		assert_non_null(strstr(why, "config abort with"));
		free(buf);
		n = wire_encode_config_push(&buf, 0, &commit);
		buf[WIRE_HDR_SIZE] = WIRE_CONFIG_PREPARE;
		assert_int_equal(wire_decode_config_push(buf + WIRE_HDR_SIZE, n - WIRE_HDR_SIZE, &out,
		    why, sizeof(why)), -1);
		assert_non_null(strstr(why, "expected 1 to"));
		free(buf);
	}
}

static void
test_config_done(void **state)
{
	struct wire_config_done in = { .phase = WIRE_CONFIG_COMMIT }, out;
	uint8_t buf[WIRE_HDR_SIZE + WIRE_CONFIG_DONE_MIN + 255];
	struct wire_hdr h;
	char why[128];
	size_t n;

	memset(in.config_hash, 'a', 64);
	memcpy(in.config_hash, "9f2c", 4);
	snprintf(in.text, sizeof(in.text), "in place; the engine reloads");
	n = wire_encode_config_done(buf, sizeof(buf), 2, &in);
	assert_int_equal(n, WIRE_HDR_SIZE + WIRE_CONFIG_DONE_MIN + strlen(in.text));
	assert_int_equal(wire_decode_hdr(buf, n, &h, why, sizeof(why)), 0);
	assert_int_equal(h.type, WIRE_CONFIG_DONE);
	assert_int_equal(wire_decode_config_done(buf + WIRE_HDR_SIZE, h.length, &out, why,
	    sizeof(why)), 0);
	assert_int_equal(out.phase, WIRE_CONFIG_COMMIT);
	assert_string_equal(out.config_hash, in.config_hash);
	assert_string_equal(out.text, in.text);

	/* No hash (an abort): 64 '0', still a hash by form. */
	in.config_hash[0] = '\0';
	n = wire_encode_config_done(buf, sizeof(buf), 2, &in);
	assert_int_equal(wire_decode_config_done(buf + WIRE_HDR_SIZE, n - WIRE_HDR_SIZE, &out, why,
	    sizeof(why)), 0);
	assert_int_equal(strspn(out.config_hash, "0"), 64);

	buf[WIRE_HDR_SIZE + 8] = 'Z';
	assert_int_equal(wire_decode_config_done(buf + WIRE_HDR_SIZE, n - WIRE_HDR_SIZE, &out, why,
	    sizeof(why)), -1);
	assert_non_null(strstr(why, "64 lowercase hex"));
	buf[WIRE_HDR_SIZE + 8] = '0';
	buf[WIRE_HDR_SIZE] = 9;
	assert_int_equal(wire_decode_config_done(buf + WIRE_HDR_SIZE, n - WIRE_HDR_SIZE, &out, why,
	    sizeof(why)), -1);
	assert_non_null(strstr(why, "phase 9"));
	buf[WIRE_HDR_SIZE] = 1;
	buf[WIRE_HDR_SIZE + 5] = 1;
	assert_int_equal(wire_decode_config_done(buf + WIRE_HDR_SIZE, n - WIRE_HDR_SIZE, &out, why,
	    sizeof(why)), -1);
	assert_non_null(strstr(why, "reserved byte 5"));
	assert_int_equal(wire_decode_config_done(buf + WIRE_HDR_SIZE, WIRE_CONFIG_DONE_MIN - 1, &out,
	    why, sizeof(why)), -1);
	assert_non_null(strstr(why, "expected 72 to"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello_round_trip),
		cmocka_unit_test(test_header_bytes),
		cmocka_unit_test(test_heartbeat_round_trip),
		cmocka_unit_test(test_heartbeat_short_form),
		cmocka_unit_test(test_hello_features),
		cmocka_unit_test(test_hb_hash),
		cmocka_unit_test(test_config_push),
		cmocka_unit_test(test_config_push_refusals),
		cmocka_unit_test(test_config_done),
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
