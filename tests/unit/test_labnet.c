/*
 * The lab's address plan: the right hosts in each mode, no address used
 * twice, every channel pair in one /29, everything in the documentation
 * ranges, and a lifeline.conf that the engine's own loader accepts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/labnet.h"
#include "common/config.h"

static const enum lab_mode modes[] = { LAB_HA, LAB_DR, LAB_HA_DR };

struct v4net {
	uint32_t        addr;
	int             prefix;
};

static struct v4net
parse_cidr(const char *s)
{
	char buf[64];
	struct in_addr in;
	struct v4net n = { 0, 32 };
	char *slash;

	assert_true(strlen(s) < sizeof(buf));
	strcpy(buf, s);
	if ((slash = strchr(buf, '/')) != NULL) {
		*slash = '\0';
		n.prefix = atoi(slash + 1);
	}
	assert_int_equal(inet_pton(AF_INET, buf, &in), 1);
	n.addr = ntohl(in.s_addr);
	return n;
}

static bool
inside(uint32_t addr, struct v4net net)
{
	uint32_t mask = net.prefix == 0 ? 0 : 0xffffffffu << (32 - net.prefix);

	return (addr & mask) == (net.addr & mask);
}

static bool
in_doc_range(const char *s)
{
	static const char *ranges[] = {
		"192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "198.18.0.0/24",
	};
	struct v4net a = parse_cidr(s);

	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		struct v4net r = parse_cidr(ranges[i]);

		if (inside(a.addr, r) && a.prefix >= r.prefix)
			return true;
	}
	return false;
}

static bool
net_in_mode(enum lab_mode mode, enum lab_netid net)
{
	for (size_t i = 0; i < lab_nlinks; i++)
		if (lab_links[i].net == net && lab_link_in_mode(&lab_links[i], mode))
			return true;
	return false;
}

static void
test_hosts_per_mode(void **state)
{
	static const bool want[LAB_MODE_COUNT][LAB_HOST_COUNT] = {
		/*             primary secondary tertiary client */
		[LAB_HA]    = { true,  true,     false,   true },
		[LAB_DR]    = { true,  true,     false,   true },
		[LAB_HA_DR] = { true,  true,     true,    true },
	};

	for (size_t m = 0; m < 3; m++)
		for (int h = 0; h < LAB_HOST_COUNT; h++)
			assert_int_equal(lab_host_in_mode(modes[m], h), want[modes[m]][h]);
	assert_false(lab_is_node(LAB_CLIENT));
	assert_true(lab_is_node(LAB_TERTIARY));
}

/* Every address of a mode: links, switch gateways, one public IP per LAN. */
static size_t
mode_addresses(enum lab_mode mode, const char **out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < lab_nlinks; i++)
		if (lab_link_in_mode(&lab_links[i], mode) && lab_links[i].addr != NULL) {
			assert_true(n < max);
			out[n++] = lab_links[i].addr;
		}
	for (int net = 0; net < LAB_NET_COUNT; net++) {
		if (!net_in_mode(mode, net))
			continue;
		if (lab_networks[net].gateway != NULL)
			out[n++] = lab_networks[net].gateway;
		if (lab_networks[net].public_ip != NULL)
			out[n++] = lab_networks[net].public_ip;
	}
	return n;
}

static void
test_no_duplicate_addresses(void **state)
{
	for (size_t m = 0; m < 3; m++) {
		const char *addrs[64];
		size_t n = mode_addresses(modes[m], addrs, 48);

		assert_true(n > 5);
		for (size_t i = 0; i < n; i++)
			for (size_t j = i + 1; j < n; j++)
				if (parse_cidr(addrs[i]).addr == parse_cidr(addrs[j]).addr)
					fail_msg("mode %s: %s used twice", lab_mode_name(modes[m]), addrs[i]);
	}
}

static void
test_channel_pairs(void **state)
{
	for (size_t m = 0; m < 3; m++) {
		int nchannels = 0;

		for (int net = 0; net < LAB_NET_COUNT; net++) {
			const struct lab_link *ends[4];
			size_t n = 0;
			struct v4net sub;

			if ((lab_networks[net].kind & LAB_CUT_CHANNEL) == 0 || !net_in_mode(modes[m], net))
				continue;
			nchannels++;
			sub = parse_cidr(lab_networks[net].subnet);
			assert_int_equal(sub.prefix, 29);
			for (size_t i = 0; i < lab_nlinks; i++)
				if ((int)lab_links[i].net == net && lab_link_in_mode(&lab_links[i], modes[m])) {
					assert_true(n < 4);
					ends[n++] = &lab_links[i];
				}
			assert_int_equal(n, 2);
			assert_int_not_equal(ends[0]->host, ends[1]->host);
			for (size_t i = 0; i < 2; i++) {
				assert_non_null(ends[i]->addr);
				assert_int_equal(parse_cidr(ends[i]->addr).prefix, 29);
				assert_true(inside(parse_cidr(ends[i]->addr).addr, sub));
			}
		}
		assert_int_equal(nchannels, modes[m] == LAB_HA_DR ? 4 : 2);
	}
}

static void
test_documentation_ranges(void **state)
{
	for (int net = 0; net < LAB_NET_COUNT; net++) {
		struct v4net sub = parse_cidr(lab_networks[net].subnet);

		assert_true(in_doc_range(lab_networks[net].subnet));
		if (lab_networks[net].gateway != NULL) {
			assert_true(in_doc_range(lab_networks[net].gateway));
			assert_true(inside(parse_cidr(lab_networks[net].gateway).addr, sub));
		}
		if (lab_networks[net].public_ip != NULL) {
			assert_true(in_doc_range(lab_networks[net].public_ip));
			assert_true(inside(parse_cidr(lab_networks[net].public_ip).addr, sub));
		}
	}
	for (size_t i = 0; i < lab_nlinks; i++) {
		const struct lab_link *l = &lab_links[i];

		if (l->addr == NULL) {
			assert_string_equal(l->ifname, "eth0");
			assert_true(lab_is_node(l->host));
			continue;
		}
		assert_true(in_doc_range(l->addr));
		assert_true(inside(parse_cidr(l->addr).addr, parse_cidr(lab_networks[l->net].subnet)));
		assert_int_equal(parse_cidr(l->addr).prefix,
		    parse_cidr(lab_networks[l->net].subnet).prefix);
	}
}

/* Interface names fit IFNAMSIZ on both ends, once per host and per switch. */
static void
test_interface_names(void **state)
{
	for (size_t m = 0; m < 3; m++)
		for (size_t i = 0; i < lab_nlinks; i++) {
			const struct lab_link *a = &lab_links[i];

			if (!lab_link_in_mode(a, modes[m]))
				continue;
			assert_true(strlen(a->ifname) + 2 < IFNAMSIZ);
			for (size_t j = i + 1; j < lab_nlinks; j++) {
				const struct lab_link *b = &lab_links[j];

				if (lab_link_in_mode(b, modes[m]) && a->host == b->host)
					assert_string_not_equal(a->ifname, b->ifname);
			}
		}
	for (int a = 0; a < LAB_HOST_COUNT; a++)
		for (int b = a + 1; b < LAB_HOST_COUNT; b++)
			assert_int_not_equal(lab_host_name(a)[0], lab_host_name(b)[0]);
}

static void
test_names(void **state)
{
	for (int m = 0; m < LAB_MODE_COUNT; m++)
		assert_int_equal(lab_mode_parse(lab_mode_name(m)), m);
	for (int h = 0; h < LAB_HOST_COUNT; h++)
		assert_int_equal(lab_host_parse(lab_host_name(h)), h);
	assert_int_equal(lab_mode_parse("HA"), -1);
	assert_int_equal(lab_host_parse("switch"), -1);
	assert_int_equal(lab_cut_parse("public"), LAB_CUT_PUBLIC);
	assert_int_equal(lab_cut_parse("all"), LAB_CUT_ALL);
	assert_int_equal(lab_cut_parse("disk"), -1);
	assert_string_equal(lab_cut_name(LAB_CUT_MANAGEMENT), "management");
	assert_int_equal(lab_public_net(LAB_HA, LAB_SECONDARY), LAB_NET_PUBLIC_A);
	assert_int_equal(lab_public_net(LAB_DR, LAB_SECONDARY), LAB_NET_PUBLIC_DR);
	assert_int_equal(lab_public_net(LAB_HA_DR, LAB_TERTIARY), LAB_NET_PUBLIC_DR);
	assert_int_equal(lab_public_net(LAB_HA_DR, LAB_SECONDARY), LAB_NET_PUBLIC_A);
}

static void
test_prefix(void **state)
{
	char a[16], b[16], ns[LAB_NS_MAX];

	lab_prefix("/run/lifeline-lab", a, sizeof(a));
	lab_prefix("/tmp/other", b, sizeof(b));
	assert_int_equal(strlen(a), 9);
	assert_memory_equal(a, "ll-", 3);
	assert_int_equal(strspn(a + 3, "0123456789abcdef"), 6);
	assert_string_not_equal(a, b);
	lab_prefix("/run/lifeline-lab", b, sizeof(b));
	assert_string_equal(a, b);
	lab_ns_name(a, "secondary", ns, sizeof(ns));
	assert_true(strlen(ns) < 32);
}

/* Sections and keys of CONTRACT.md, the only ones the loader accepts. */
static void
check_keys(const char *text)
{
	static const struct {
		const char *section;
		const char *keys;
	} allowed[] = {
		{ "cluster", " name mode state_dir tls_dir " },
		{ "node ", " channel public management " },
		{ "failover", " heartbeat timeout ping auto " },
		{ "replication", " mode queue compress bandwidth " },
		{ "protect", " data config service exclude " },
		{ "service ", " start stop stop_timeout check check_interval check_timeout actions window " },
	};
	char *copy = strdup(text), *save, *line;
	const char *keys = NULL;

	for (line = strtok_r(copy, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char key[64];

		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (line[0] == '[') {
			keys = NULL;
			for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
				size_t n = strlen(allowed[i].section);

				if (strncmp(line + 1, allowed[i].section, n) == 0 &&
				    (allowed[i].section[n - 1] == ' ' || line[1 + n] == ']'))
					keys = allowed[i].keys;
			}
			if (keys == NULL)
				fail_msg("unknown section %s", line);
			continue;
		}
		assert_non_null(keys);
		assert_int_equal(sscanf(line, "%63s =", key), 1);
		{
			char word[70];

			snprintf(word, sizeof(word), " %s ", key);
			if (strstr(keys, word) == NULL)
				fail_msg("unknown key in line \"%s\"", line);
		}
	}
	free(copy);
}

static void
test_config_text(void **state)
{
	static const struct {
		enum lab_mode mode;
		const char *want[8];
		const char *unwanted[3];
	} cases[] = {
		{ LAB_HA, {
			"[cluster]\nname = lab\nmode = ha\nstate_dir = /var/lib/lifeline\ntls_dir = /etc/lifeline/tls\n",
			"[node primary]\nchannel = 203.0.113.1/29, 203.0.113.25/29\n"
			"public = eth0 192.0.2.10/24\nmanagement = 198.51.100.11/24\n",
			"[node secondary]\nchannel = 203.0.113.2/29, 203.0.113.26/29\n"
			"public = eth0 192.0.2.10/24\nmanagement = 198.51.100.12/24\n",
			"[failover]\nping = 192.0.2.1\n",
			"[replication]\nmode = fsync\n",
			"[protect]\ndata = /var/lib/lifeline-sample\nconfig = /etc/lifeline-sample\n"
			"exclude = /etc/lifeline-sample/*.dpkg-*, *.swp\nservice = sample\n",
			"[service sample]\nstart = /opt/ll/bin/lifeline-sample --config /etc/lifeline-sample/sample.conf\n"
			"check = tcp 192.0.2.10:8080\n",
			NULL }, { "[node tertiary]", NULL } },
		{ LAB_DR, {
			"mode = dr\n",
			"[node secondary]\nchannel = 203.0.113.2/29, 203.0.113.26/29\n"
			"public = eth0 198.18.0.10/24\nmanagement = 198.51.100.12/24\n",
			"check = pid\n",
			NULL }, { "[node tertiary]", "ping =", NULL } },
		{ LAB_HA_DR, {
			"mode = ha+dr\n",
			"[node primary]\nchannel = 203.0.113.1/29, 203.0.113.25/29, 203.0.113.9/29\n",
			"[node secondary]\nchannel = 203.0.113.2/29, 203.0.113.26/29, 203.0.113.17/29\n"
			"public = eth0 192.0.2.10/24\n",
			"[node tertiary]\nchannel = 203.0.113.10/29, 203.0.113.18/29\n"
			"public = eth0 198.18.0.10/24\nmanagement = 198.51.100.13/24\n",
			NULL }, { "ping =", NULL } },
	};

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		char *text = lab_config_text(cases[c].mode, "fsync", "/opt/ll/bin", LAB_APP_SAMPLE);
		char err[512];
		struct config *conf;

		assert_non_null(text);
		for (size_t i = 0; cases[c].want[i] != NULL; i++)
			if (strstr(text, cases[c].want[i]) == NULL)
				fail_msg("mode %s: missing\n%s\nin\n%s", lab_mode_name(cases[c].mode),
				    cases[c].want[i], text);
		for (size_t i = 0; cases[c].unwanted[i] != NULL; i++)
			if (strstr(text, cases[c].unwanted[i]) != NULL)
				fail_msg("mode %s: unexpected %s", lab_mode_name(cases[c].mode),
				    cases[c].unwanted[i]);
		check_keys(text);
		conf = config_parse_string(text, "lab.conf", err, sizeof(err));
		if (conf == NULL)
			fail_msg("mode %s: the engine's loader refuses the lab's config: %s\n%s",
			    lab_mode_name(cases[c].mode), err, text);
		config_free(conf);
		free(text);
	}
}

static void
test_sample_config_text(void **state)
{
	char *ha = lab_sample_config_text(LAB_HA);
	char *dr = lab_sample_config_text(LAB_DR);

	assert_non_null(strstr(ha, "\nlisten = 192.0.2.10:8080\n"));
	assert_non_null(strstr(ha, "\ndata = /var/lib/lifeline-sample\n"));
	assert_non_null(strstr(dr, "\nlisten = 192.0.2.10:8080, 198.18.0.10:8080\n"));
	free(ha);
	free(dr);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hosts_per_mode),
		cmocka_unit_test(test_no_duplicate_addresses),
		cmocka_unit_test(test_channel_pairs),
		cmocka_unit_test(test_documentation_ranges),
		cmocka_unit_test(test_interface_names),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_config_text),
		cmocka_unit_test(test_sample_config_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
