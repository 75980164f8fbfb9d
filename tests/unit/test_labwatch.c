/*
 * Unit tests of cli/labwatch: which ARP frames count as answers to the
 * client's request, the per-sample MAC set, the sample application's
 * answer, and the verdict, summary and outage of whole runs (table-driven).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <net/if_arp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/labwatch.h"
#include "common/util.h"
#include "engine/garp.h"

#define CLIENT_IP	"192.0.2.100"
#define PUBLIC_IP	"192.0.2.10"

static const uint8_t client_mac[6] = { 0x02, 0x4c, 0x00, 0x03, 0x0f, 0x01 };
static const uint8_t mac_p[6] = { 0x02, 0x4c, 0x00, 0x00, 0x00, 0x01 };
static const uint8_t mac_s[6] = { 0x02, 0x4c, 0x00, 0x01, 0x05, 0x01 };

static struct in_addr
ip4(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a;
}

static struct watch_query
query(void)
{
	struct watch_query q;

	memcpy(q.mac, client_mac, 6);
	q.ip = ip4(CLIENT_IP);
	q.target = ip4(PUBLIC_IP);
	return q;
}

/* An ARP reply from mac for the public IP to the client, as a node sends it. */
static struct arp_msg
reply_from(const uint8_t mac[6])
{
	struct arp_msg m;

	memset(&m, 0, sizeof(m));
	memcpy(m.eth_dst, client_mac, 6);
	m.op = ARPOP_REPLY;
	memcpy(m.sha, mac, 6);
	m.spa = ip4(PUBLIC_IP);
	memcpy(m.tha, client_mac, 6);
	m.tpa = ip4(CLIENT_IP);
	return m;
}

/* ---- ARP frames ------------------------------------------------------ */

enum mutation { M_NONE, M_REQUEST, M_OTHER_SENDER_IP, M_OTHER_TARGET_IP,
    M_OTHER_TARGET_MAC, M_GRATUITOUS, M_SHORT, M_NOT_ARP, M_BROADCAST_DST };

static const struct {
	const char     *name;
	enum mutation   how;
	bool            answer;
} arp_rows[] = {
	{ "a reply to the client's request", M_NONE, true },
	{ "a reply sent to broadcast still answers (target MAC and IP are ours)",
	  M_BROADCAST_DST, true },
	{ "a request is no answer", M_REQUEST, false },
	{ "a reply about another address", M_OTHER_SENDER_IP, false },
	{ "a reply to another host's IP", M_OTHER_TARGET_IP, false },
	{ "a reply to another host's MAC", M_OTHER_TARGET_MAC, false },
	{ "a gratuitous reply (target = sender)", M_GRATUITOUS, false },
	{ "a frame cut short", M_SHORT, false },
	{ "an IPv4 frame, not ARP", M_NOT_ARP, false },
};

static void
test_arp_answer(void **state)
{
	struct watch_query q = query();

	for (size_t i = 0; i < nitems(arp_rows); i++) {
		struct arp_msg m = reply_from(mac_s);
		uint8_t frame[GARP_FRAME_MAX], mac[6] = { 0 };
		size_t len;
		bool got;

		switch (arp_rows[i].how) {
		case M_REQUEST:
			m.op = ARPOP_REQUEST;
			break;
		case M_OTHER_SENDER_IP:
			m.spa = ip4("192.0.2.11");
			break;
		case M_OTHER_TARGET_IP:
			m.tpa = ip4("192.0.2.101");
			break;
		case M_OTHER_TARGET_MAC:
			m.tha[5] ^= 0xff;
			break;
		case M_GRATUITOUS:
			memset(m.eth_dst, 0xff, 6);
			memcpy(m.tha, mac_s, 6);
			m.tpa = m.spa;
			break;
		case M_BROADCAST_DST:
			memset(m.eth_dst, 0xff, 6);
			break;
		default:
			break;
		}
		len = garp_arp_build(frame, sizeof(frame), &m);
		assert_true(len > 0);
		if (arp_rows[i].how == M_SHORT)
			len = 14 + 20;
		if (arp_rows[i].how == M_NOT_ARP) {
			frame[12] = 0x08;
			frame[13] = 0x00;
		}
		got = watch_arp_answer(&q, frame, len, mac);
		if (got != arp_rows[i].answer)
			fail_msg("%s: got %s", arp_rows[i].name, got ? "an answer" : "no answer");
		if (got)
			assert_memory_equal(mac, mac_s, 6);
	}
}

/* Frames into one sample: each MAC once, at most WATCH_MACS_MAX. */
static void
test_sample_macs(void **state)
{
	struct watch_query q = query();
	struct watch_sample s;
	const uint8_t *order[] = { mac_p, mac_p, mac_s, mac_p, mac_s };
	uint8_t frame[GARP_FRAME_MAX], mac[6];

	memset(&s, 0, sizeof(s));
	for (size_t i = 0; i < nitems(order); i++) {
		struct arp_msg m = reply_from(order[i]);
		size_t len = garp_arp_build(frame, sizeof(frame), &m);

		assert_true(watch_arp_answer(&q, frame, len, mac));
		watch_sample_add_mac(&s, mac);
	}
	assert_int_equal(s.nmacs, 2);
	assert_memory_equal(s.macs[0], mac_p, 6);
	assert_memory_equal(s.macs[1], mac_s, 6);

	memset(&s, 0, sizeof(s));
	for (int i = 0; i < WATCH_MACS_MAX + 3; i++) {
		uint8_t m[6] = { 0x02, 0, 0, 0, 0, (uint8_t)i };

		assert_int_equal(watch_sample_add_mac(&s, m), i < WATCH_MACS_MAX ? 1 : 0);
	}
	assert_int_equal(s.nmacs, WATCH_MACS_MAX);
}

/* ---- the sample application's answer --------------------------------- */

static const struct {
	const char     *line;
	const char     *node;           /* NULL: not an answer */
} answer_rows[] = {
	{ "primary 2", "primary" },
	{ "secondary 0", "secondary" },
	{ "node-3.x_y 123456", "node-3.x_y" },
	{ "ERR unknown request, expected PUT <text>, GET or HAS <text>", NULL },
	{ "", NULL },
	{ "primary", NULL },
	{ "primary ", NULL },
	{ "primary 2x", NULL },
	{ " 2", NULL },
	{ "pri mary 2", NULL },
	{ "OK 1", "OK" },               /* the shape of a GET answer: a name and a count */
	{ "a-name-far-too-long-for-the-buffer-of-a-node 1", NULL },
};

static void
test_parse_answer(void **state)
{
	for (size_t i = 0; i < nitems(answer_rows); i++) {
		char node[WATCH_NODE_MAX] = "untouched";
		const char *line = answer_rows[i].line;
		bool got = watch_parse_answer(line, strlen(line), node, sizeof(node));

		if (got != (answer_rows[i].node != NULL))
			fail_msg("\"%s\": %s", line, got ? "taken as an answer" : "refused");
		if (got)
			assert_string_equal(node, answer_rows[i].node);
		else
			assert_string_equal(node, "untouched");
	}
}

/* ---- samples, verdicts and summaries ---------------------------------- */

/* One sample of a table row: MACs by letter ("", "p", "s", "ps"), a node or "". */
struct srow {
	uint64_t        t;
	const char     *macs;
	const char     *node;
	enum watch_why  why;
};

#define ROW_MAX 12

static const struct {
	const char     *name;
	struct srow     s[ROW_MAX];
	size_t          n;
	size_t          conflicts;
	const char     *summary;
} runs[] = {
	{ "a quiet run", {
	    { 0, "p", "primary", WATCH_FINE },
	    { 20, "p", "primary", WATCH_FINE },
	    { 40, "p", "primary", WATCH_FINE },
	  }, 3, 0,
	  "samples 3, two-answer samples 0, nodes seen: primary(0..)\n"
	  "longest outage 20 ms (primary at 0 ms, primary at 20 ms)\n" },
	{ "a failover with an outage", {
	    { 0, "p", "primary", WATCH_FINE },
	    { 20, "p", "primary", WATCH_FINE },
	    { 40, "", "", WATCH_FINE },
	    { 60, "", "", WATCH_FINE },
	    { 80, "s", "", WATCH_FINE },
	    { 100, "s", "secondary", WATCH_FINE },
	    { 120, "s", "secondary", WATCH_FINE },
	  }, 7, 0,
	  "samples 7, two-answer samples 0, nodes seen: primary(0..20ms) secondary(100..)\n"
	  "longest outage 80 ms (primary at 20 ms, secondary at 100 ms)\n" },
	{ "a switchover between two samples is not two answers", {
	    { 0, "p", "primary", WATCH_FINE },
	    { 20, "p", "primary", WATCH_FINE },
	    { 40, "s", "secondary", WATCH_FINE },
	    { 60, "s", "secondary", WATCH_FINE },
	  }, 4, 0,
	  "samples 4, two-answer samples 0, nodes seen: primary(0..20ms) secondary(40..)\n"
	  "longest outage 20 ms (primary at 0 ms, primary at 20 ms)\n" },
	{ "two MACs answer one request", {
	    { 0, "p", "primary", WATCH_FINE },
	    { 20, "ps", "primary", WATCH_TWO_MACS },
	    { 40, "sp", "", WATCH_TWO_MACS },
	    { 60, "p", "primary", WATCH_FINE },
	  }, 4, 2,
	  "samples 4, two-answer samples 2, nodes seen: primary(0..)\n"
	  "longest outage 40 ms (primary at 20 ms, primary at 60 ms)\n"
	  "first two-answer sample: 20 02:4c:00:00:00:01,02:4c:00:01:05:01 primary "
	  "(two MACs answered one ARP request)\n" },
	{ "the node changes right after a two-MAC round", {
	    { 0, "ps", "primary", WATCH_TWO_MACS },
	    { 20, "s", "secondary", WATCH_NODE_SWITCH },
	    { 40, "s", "secondary", WATCH_FINE },
	  }, 3, 2,
	  "samples 3, two-answer samples 2, nodes seen: primary(0..0ms) secondary(20..)\n"
	  "longest outage 20 ms (primary at 0 ms, secondary at 20 ms)\n"
	  "first two-answer sample: 0 02:4c:00:00:00:01,02:4c:00:01:05:01 primary "
	  "(two MACs answered one ARP request)\n" },
	{ "A, B, A while ARP shows one MAC", {
	    { 0, "p", "primary", WATCH_FINE },
	    { 20, "p", "secondary", WATCH_FINE },
	    { 40, "p", "primary", WATCH_FLIP_BACK },
	    { 60, "p", "secondary", WATCH_FLIP_BACK },
	  }, 4, 2,
	  "samples 4, two-answer samples 2, nodes seen: primary(0..40ms) secondary(20..)\n"
	  "longest outage 20 ms (primary at 0 ms, secondary at 20 ms)\n"
	  "first two-answer sample: 40 02:4c:00:00:00:01 primary "
	  "(served by A, B, A in three consecutive samples)\n" },
	{ "A, -, B, -, A is not consecutive", {
	    { 0, "p", "primary", WATCH_FINE },
	    { 20, "", "", WATCH_FINE },
	    { 40, "s", "secondary", WATCH_FINE },
	    { 60, "", "", WATCH_FINE },
	    { 80, "p", "primary", WATCH_FINE },
	  }, 5, 0,
	  "samples 5, two-answer samples 0, nodes seen: primary(0..) secondary(40..40ms)\n"
	  "longest outage 40 ms (primary at 0 ms, secondary at 40 ms)\n" },
	{ "nobody answers", {
	    { 0, "", "", WATCH_FINE },
	    { 20, "", "", WATCH_FINE },
	  }, 2, 0,
	  "samples 2, two-answer samples 0, nodes seen: none\n"
	  "longest outage: none (fewer than two answers)\n" },
	{ "the run ends in an outage", {
	    { 0, "p", "primary", WATCH_FINE },
	    { 20, "p", "primary", WATCH_FINE },
	    { 40, "", "", WATCH_FINE },
	    { 60, "", "", WATCH_FINE },
	    { 100, "", "", WATCH_FINE },
	  }, 5, 0,
	  "samples 5, two-answer samples 0, nodes seen: primary(0..20ms)\n"
	  "longest outage 20 ms (primary at 0 ms, primary at 20 ms); "
	  "no answer after 20 ms (80 ms to the end)\n" },
	{ "one answer only", {
	    { 0, "", "", WATCH_FINE },
	    { 20, "p", "primary", WATCH_FINE },
	    { 40, "", "", WATCH_FINE },
	  }, 3, 0,
	  "samples 3, two-answer samples 0, nodes seen: primary(20..20ms)\n"
	  "longest outage: none (fewer than two answers); no answer after 20 ms (20 ms to the end)\n" },
	{ "the longest of several outages, same node restarted", {
	    { 0, "p", "primary", WATCH_FINE },
	    { 20, "", "", WATCH_FINE },
	    { 40, "p", "primary", WATCH_FINE },
	    { 60, "", "", WATCH_FINE },
	    { 80, "", "", WATCH_FINE },
	    { 100, "", "", WATCH_FINE },
	    { 120, "p", "primary", WATCH_FINE },
	    { 140, "", "", WATCH_FINE },
	    { 160, "s", "secondary", WATCH_FINE },
	  }, 9, 0,
	  "samples 9, two-answer samples 0, nodes seen: primary(0..120ms) secondary(160..)\n"
	  "longest outage 80 ms (primary at 40 ms, primary at 120 ms)\n" },
};

static struct watch_sample
make_sample(const struct srow *r)
{
	struct watch_sample s;

	memset(&s, 0, sizeof(s));
	s.t_ms = r->t;
	for (const char *c = r->macs; *c != '\0'; c++)
		watch_sample_add_mac(&s, *c == 'p' ? mac_p : mac_s);
	xstrlcpy(s.node, r->node, sizeof(s.node));
	return s;
}

static void
test_runs(void **state)
{
	for (size_t i = 0; i < nitems(runs); i++) {
		struct watch_summary sum;
		char report[2048];

		watch_summary_init(&sum);
		for (size_t j = 0; j < runs[i].n; j++) {
			struct watch_sample s = make_sample(&runs[i].s[j]);
			enum watch_why why = watch_summary_add(&sum, &s);

			if (why != runs[i].s[j].why)
				fail_msg("%s: sample at %llu: got \"%s\", expected \"%s\"",
				    runs[i].name, (unsigned long long)runs[i].s[j].t,
				    watch_why_name(why), watch_why_name(runs[i].s[j].why));
		}
		if (sum.samples != runs[i].n || sum.conflicts != runs[i].conflicts)
			fail_msg("%s: %zu samples, %zu two-answer; expected %zu and %zu",
			    runs[i].name, sum.samples, sum.conflicts, runs[i].n,
			    runs[i].conflicts);
		watch_format_summary(&sum, report, sizeof(report));
		if (strcmp(report, runs[i].summary) != 0)
			fail_msg("%s: summary\n%s\nexpected\n%s", runs[i].name, report,
			    runs[i].summary);
	}
}

/* More node names than the summary tracks: the rest are "others". */
static void
test_many_nodes(void **state)
{
	struct watch_summary sum;
	char report[2048];

	watch_summary_init(&sum);
	for (int i = 0; i < WATCH_NODES_MAX + 2; i++) {
		struct watch_sample s;

		memset(&s, 0, sizeof(s));
		s.t_ms = (uint64_t)i * 1000;
		snprintf(s.node, sizeof(s.node), "n%d", i);
		watch_summary_add(&sum, &s);
	}
	assert_int_equal(sum.nnodes, WATCH_NODES_MAX);
	assert_true(sum.nodes_more);
	watch_format_summary(&sum, report, sizeof(report));
	assert_non_null(strstr(report, " n0(0..0ms) "));
	assert_non_null(strstr(report, " and others\n"));
}

static void
test_format_sample(void **state)
{
	struct watch_sample s;
	char line[256], tiny[8];

	memset(&s, 0, sizeof(s));
	s.t_ms = 1543;
	watch_format_sample(&s, line, sizeof(line));
	assert_string_equal(line, "1543 - -");

	s.t_ms = 1523;
	watch_sample_add_mac(&s, mac_p);
	xstrlcpy(s.node, "primary", sizeof(s.node));
	watch_format_sample(&s, line, sizeof(line));
	assert_string_equal(line, "1523 02:4c:00:00:00:01 primary");

	watch_sample_add_mac(&s, mac_s);
	s.node[0] = '\0';
	watch_format_sample(&s, line, sizeof(line));
	assert_string_equal(line, "1523 02:4c:00:00:00:01,02:4c:00:01:05:01 -");

	watch_format_sample(&s, tiny, sizeof(tiny));   /* cut, still terminated */
	assert_string_equal(tiny, "1523 02");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arp_answer),
		cmocka_unit_test(test_sample_macs),
		cmocka_unit_test(test_parse_answer),
		cmocka_unit_test(test_runs),
		cmocka_unit_test(test_many_nodes),
		cmocka_unit_test(test_format_sample),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
