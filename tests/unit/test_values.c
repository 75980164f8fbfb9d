/*
 * Unit tests of the lifeline.conf value parsers: every parser with good
 * and bad input, overflow, and the canonical printers round-tripping.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/util.h"
#include "common/values.h"

static const struct {
	const char	*in;
	int		 rc;
	uint64_t	 ms;
	const char	*problem;	/* when rc == -1 */
} durations[] = {
	{ "100ms", 0, 100, NULL },
	{ "0ms", 0, 0, NULL },
	{ "0s", 0, 0, NULL },
	{ "1s", 0, 1000, NULL },
	{ "1.5s", 0, 1500, NULL },
	{ "1.50s", 0, 1500, NULL },
	{ "0.001s", 0, 1, NULL },
	{ "2m", 0, 120000, NULL },
	{ "1.5m", 0, 90000, NULL },
	{ "1h", 0, 3600000, NULL },
	{ "10m", 0, 600000, NULL },
	{ "1.0ms", 0, 1, NULL },
	{ "18446744073709551615ms", 0, UINT64_MAX, NULL },
	{ "100", -1, 0, "has no unit" },
	{ "1.5", -1, 0, "has no unit" },
	{ "0", -1, 0, "has no unit" },
	{ "", -1, 0, "is not a duration" },
	{ "fast", -1, 0, "is not a duration" },
	{ "ms", -1, 0, "is not a duration" },
	{ "-1s", -1, 0, "is not a duration" },
	{ "+1s", -1, 0, "is not a duration" },
	{ "1 s", -1, 0, "is not a duration" },
	{ " 1s", -1, 0, "is not a duration" },
	{ "1d", -1, 0, "is not a duration" },
	{ "1S", -1, 0, "is not a duration" },
	{ "1sec", -1, 0, "is not a duration" },
	{ ".5s", -1, 0, "is not a duration" },
	{ "1.s", -1, 0, "is not a duration" },
	{ "1..5s", -1, 0, "is not a duration" },
	{ "1.5ms", -1, 0, "is not a whole number of milliseconds" },
	{ "0.0001s", -1, 0, "is not a whole number of milliseconds" },
	{ "18446744073709551616ms", -1, 0, "is too large" },
	{ "18446744073709552s", -1, 0, "is too large" },
	{ "5124095576030432h", -1, 0, "is too large" },
	{ "18446744073709551615.5s", -1, 0, "is too large" },
	{ "99999999999999999999999999h", -1, 0, "is too large" },
};

static void
test_durations(void **state)
{
	size_t i;

	for (i = 0; i < nitems(durations); i++) {
		uint64_t ms = 12345;
		int rc = parse_duration_ms(durations[i].in, &ms);

		print_message("duration \"%s\"\n", durations[i].in);
		assert_int_equal(rc, durations[i].rc);
		if (rc == 0)
			assert_int_equal(ms, durations[i].ms);
		else {
			assert_int_equal(ms, 12345);
			assert_string_equal(values_problem(), durations[i].problem);
			assert_true(strncmp(values_error(), "expected ", 9) == 0);
		}
	}
}

static const struct {
	const char	*in;
	int		 rc;
	uint64_t	 bytes;
} sizes[] = {
	{ "0", 0, 0 },
	{ "512", 0, 512 },
	{ "512B", 0, 512 },
	{ "64KiB", 0, 64 << 10 },
	{ "64K", 0, 64 << 10 },
	{ "1KB", 0, 1000 },
	{ "1kB", 0, 1000 },
	{ "16MiB", 0, 16 << 20 },
	{ "10MB", 0, 10000000 },
	{ "1G", 0, 1ULL << 30 },
	{ "1GiB", 0, 1ULL << 30 },
	{ "1GB", 0, 1000000000 },
	{ "1.5GiB", 0, 3ULL << 29 },
	{ "0.5K", 0, 512 },
	{ "2T", 0, 2ULL << 40 },
	{ "1TB", 0, 1000000000000ULL },
	{ "18446744073709551615", 0, UINT64_MAX },
	{ "16777215TiB", 0, 16777215ULL << 40 },
	{ "18446744073709551616", -1, 0 },
	{ "16777216TiB", -1, 0 },
	{ "18446744073709552KB", -1, 0 },
	{ "", -1, 0 },
	{ "big", -1, 0 },
	{ "-1", -1, 0 },
	{ "1 GiB", -1, 0 },
	{ "1XB", -1, 0 },
	{ "1gib", -1, 0 },
	{ "1.5", -1, 0 },
	{ "0.3K", -1, 0 },
	{ "1e6", -1, 0 },
	{ "0x10", -1, 0 },
};

static void
test_sizes(void **state)
{
	size_t i;

	for (i = 0; i < nitems(sizes); i++) {
		uint64_t bytes = 777;

		print_message("size \"%s\"\n", sizes[i].in);
		assert_int_equal(parse_size(sizes[i].in, &bytes), sizes[i].rc);
		assert_int_equal(bytes, sizes[i].rc == 0 ? sizes[i].bytes : 777);
		if (sizes[i].rc != 0)
			assert_non_null(strstr(values_error(), "expected"));
	}
	assert_int_equal(parse_size("99999999999999999999", &(uint64_t){0}), -1);
	assert_string_equal(values_problem(), "is too large");
	assert_int_equal(parse_size("0.3K", &(uint64_t){0}), -1);
	assert_string_equal(values_problem(), "is not a whole number of bytes");
}

static void
test_bools(void **state)
{
	static const struct {
		const char	*in;
		int		 rc;
		bool		 b;
	} t[] = {
		{ "yes", 0, true }, { "no", 0, false },
		{ "true", 0, true }, { "false", 0, false },
		{ "on", 0, true }, { "off", 0, false },
		{ "1", 0, true }, { "0", 0, false },
		{ "YES", 0, true }, { "Off", 0, false },
		{ "", -1, false }, { "y", -1, false }, { "2", -1, false },
		{ "maybe", -1, false }, { "yes ", -1, false },
	};
	size_t i;

	for (i = 0; i < nitems(t); i++) {
		bool b = !t[i].b;

		print_message("bool \"%s\"\n", t[i].in);
		assert_int_equal(parse_bool(t[i].in, &b), t[i].rc);
		if (t[i].rc == 0)
			assert_int_equal(b, t[i].b);
		else
			assert_string_equal(values_problem(), "is not a boolean");
	}
}

static const struct {
	const char	*in;
	int		 want;		/* 1 required, 0 optional, -1 refused */
	int		 rc;
	int		 family;
	int		 prefix;
	const char	*out;		/* ipaddr_str, or the problem */
} addrs[] = {
	{ "192.0.2.10", 0, 0, AF_INET, -1, "192.0.2.10" },
	{ "192.0.2.10/24", 0, 0, AF_INET, 24, "192.0.2.10/24" },
	{ "192.0.2.10/024", 0, 0, AF_INET, 24, "192.0.2.10/24" },
	{ "192.0.2.10/0", 1, 0, AF_INET, 0, "192.0.2.10/0" },
	{ "192.0.2.10/32", 1, 0, AF_INET, 32, "192.0.2.10/32" },
	{ "192.0.2.10", -1, 0, AF_INET, -1, "192.0.2.10" },
	{ "2001:db8::10", 0, 0, AF_INET6, -1, "2001:db8::10" },
	{ "2001:DB8:0::10/64", 1, 0, AF_INET6, 64, "2001:db8::10/64" },
	{ "2001:db8::1/128", 1, 0, AF_INET6, 128, "2001:db8::1/128" },
	{ "::ffff:192.0.2.1", 0, 0, AF_INET6, -1, "::ffff:192.0.2.1" },
	{ "192.0.2.10", 1, -1, 0, 0, "has no prefix" },
	{ "192.0.2.10/24", -1, -1, 0, 0, "has a prefix" },
	{ "192.0.2.10/33", 0, -1, 0, 0, "has a prefix out of range" },
	{ "192.0.2.10/99999999999999999999", 0, -1, 0, 0, "has a prefix out of range" },
	{ "2001:db8::1/129", 0, -1, 0, 0, "has a prefix out of range" },
	{ "192.0.2.10/", 0, -1, 0, 0, "has a bad prefix" },
	{ "192.0.2.10/-1", 0, -1, 0, 0, "has a bad prefix" },
	{ "192.0.2.10/+24", 0, -1, 0, 0, "has a bad prefix" },
	{ "192.0.2.10/24/1", 0, -1, 0, 0, "has a bad prefix" },
	{ "192.0.2.10/2 4", 0, -1, 0, 0, "has a bad prefix" },
	{ "", 0, -1, 0, 0, "is not an IP address" },
	{ "/24", 0, -1, 0, 0, "is not an IP address" },
	{ "192.0.2", 0, -1, 0, 0, "is not an IP address" },
	{ "192.0.2.256", 0, -1, 0, 0, "is not an IP address" },
	{ "192.0.2.10 ", 0, -1, 0, 0, "is not an IP address" },
	{ "host.example", 0, -1, 0, 0, "is not an IP address" },
	{ "fe80::1%eth0", 0, -1, 0, 0, "is not an IP address" },
	{ "2001:db8:::1", 0, -1, 0, 0, "is not an IP address" },
	{ "1111:2222:3333:4444:5555:6666:7777:8888:9999", 0, -1, 0, 0,
	    "is not an IP address" },
};

static void
test_ipaddr(void **state)
{
	char buf[INET6_ADDRSTRLEN + 8];
	size_t i;

	for (i = 0; i < nitems(addrs); i++) {
		struct ipaddr a = { .family = 99 };

		print_message("address \"%s\" want %d\n", addrs[i].in,
		    addrs[i].want);
		assert_int_equal(parse_ipaddr(addrs[i].in, addrs[i].want, &a),
		    addrs[i].rc);
		if (addrs[i].rc == 0) {
			assert_int_equal(a.family, addrs[i].family);
			assert_int_equal(a.prefix, addrs[i].prefix);
			assert_string_equal(ipaddr_str(&a, buf, sizeof(buf)),
			    addrs[i].out);
		} else {
			assert_int_equal(a.family, 99);
			assert_string_equal(values_problem(), addrs[i].out);
			assert_true(strncmp(values_error(), "expected ", 9) == 0);
		}
	}
}

static struct ipaddr
addr(const char *s)
{
	struct ipaddr a;

	assert_int_equal(parse_ipaddr(s, 0, &a), 0);
	return a;
}

static void
test_ipaddr_compare(void **state)
{
	static const struct {
		const char	*a, *b;
		bool		 equal, inside;	/* a == b, a inside b */
	} t[] = {
		{ "192.0.2.10", "192.0.2.10/24", true, true },
		{ "192.0.2.200", "192.0.2.10/24", false, true },
		{ "192.0.3.1", "192.0.2.10/24", false, false },
		{ "203.0.113.7", "203.0.113.1/29", false, true },
		{ "203.0.113.8", "203.0.113.1/29", false, false },
		{ "198.51.100.1", "192.0.2.10/0", false, true },
		{ "192.0.2.10", "192.0.2.10", true, false },	/* no prefix */
		{ "192.0.2.11", "192.0.2.10/32", false, false },
		{ "2001:db8::1", "2001:db8::ffff/64", false, true },
		{ "2001:db8:1::1", "2001:db8::ffff/64", false, false },
		{ "2001:db8::1", "2001:db8::1/128", true, true },
		{ "2001:db8::8000", "2001:db8::/113", false, false },
		{ "2001:db8::7fff", "2001:db8::/113", false, true },
		{ "::ffff:192.0.2.10", "192.0.2.10/24", false, false },
	};
	size_t i;

	for (i = 0; i < nitems(t); i++) {
		struct ipaddr a = addr(t[i].a), b = addr(t[i].b);

		print_message("%s vs %s\n", t[i].a, t[i].b);
		assert_int_equal(ipaddr_equal(&a, &b), t[i].equal);
		assert_int_equal(ipaddr_in_subnet(&a, &b), t[i].inside);
	}
}

static void
test_strlist(void **state)
{
	static const struct {
		const char	*in;
		int		 rc;
		const char	*joined;	/* items joined with '|' */
	} t[] = {
		{ "a", 0, "a" },
		{ "a, b ,c", 0, "a|b|c" },
		{ " a\t,\tb c ", 0, "a|b c" },
		{ "/etc/app/*.dpkg-*", 0, "/etc/app/*.dpkg-*" },
		{ "", -1, NULL },
		{ " ", -1, NULL },
		{ "a,", -1, NULL },
		{ ",a", -1, NULL },
		{ "a,,b", -1, NULL },
		{ "a, ,b", -1, NULL },
	};
	size_t i, j;

	for (i = 0; i < nitems(t); i++) {
		struct strlist l = { NULL, 0 };
		char joined[64] = "";

		print_message("list \"%s\"\n", t[i].in);
		assert_int_equal(strlist_split(t[i].in, &l), t[i].rc);
		if (t[i].rc != 0) {
			assert_int_equal(l.n, 0);
			assert_null(l.v);
			assert_string_equal(values_problem(), "has an empty item");
			continue;
		}
		for (j = 0; j < l.n; j++) {
			if (j > 0)
				strcat(joined, "|");
			strcat(joined, l.v[j]);
		}
		assert_string_equal(joined, t[i].joined);
		strlist_free(&l);
		assert_int_equal(l.n, 0);
	}
}

static void
test_strlist_append(void **state)
{
	struct strlist l = { NULL, 0 };

	strlist_add(&l, "first");
	assert_int_equal(strlist_split("second, third", &l), 0);
	assert_int_equal(strlist_split("fourth,,", &l), -1);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.v[0], "first");
	assert_string_equal(l.v[2], "third");
	strlist_free(&l);
	strlist_free(&l);
	assert_null(l.v);
}

static void
test_format(void **state)
{
	static const struct {
		uint64_t	 ms;
		const char	*text;
	} d[] = {
		{ 0, "0s" }, { 1, "1ms" }, { 100, "100ms" }, { 1000, "1s" },
		{ 1500, "1500ms" }, { 60000, "1m" }, { 90000, "90s" },
		{ 600000, "10m" }, { 3600000, "1h" }, { 5400000, "90m" },
		{ 86400000, "24h" }, { UINT64_MAX, "18446744073709551615ms" },
	};
	static const struct {
		uint64_t	 bytes;
		const char	*text;
	} s[] = {
		{ 0, "0" }, { 1, "1" }, { 512, "512" }, { 1000, "1KB" },
		{ 1024, "1KiB" }, { 1536, "1536" }, { 16 << 20, "16MiB" },
		{ 1ULL << 30, "1GiB" }, { 3ULL << 29, "1536MiB" },
		{ 10000000, "10MB" }, { 125000000, "125MB" },
		{ 1ULL << 40, "1TiB" }, { 1000000000000ULL, "1TB" },
		{ 1024000, "1000KiB" }, { UINT64_MAX, "18446744073709551615" },
	};
	char buf[32];
	uint64_t back;
	size_t i;

	for (i = 0; i < nitems(d); i++) {
		assert_string_equal(format_duration(d[i].ms, buf, sizeof(buf)),
		    d[i].text);
		assert_int_equal(parse_duration_ms(buf, &back), 0);
		assert_int_equal(back, d[i].ms);
	}
	for (i = 0; i < nitems(s); i++) {
		assert_string_equal(format_size(s[i].bytes, buf, sizeof(buf)),
		    s[i].text);
		assert_int_equal(parse_size(buf, &back), 0);
		assert_int_equal(back, s[i].bytes);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_bools),
		cmocka_unit_test(test_ipaddr),
		cmocka_unit_test(test_ipaddr_compare),
		cmocka_unit_test(test_strlist),
		cmocka_unit_test(test_strlist_append),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
