/*
 * The value parsers of lifeline.conf and their canonical printers. Parsers
 * never wrap: a value that does not fit is refused, and the last refusal is
 * kept (per thread) as a problem and an "expected ..." phrase.
 */
#include "common/values.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

struct unit {
	const char	*suffix;
	uint64_t	 mult;
};

static const struct unit duration_units[] = {
	{ "ms",	1 },
	{ "s",	1000 },
	{ "m",	60 * 1000 },
	{ "h",	60 * 60 * 1000 },
};

/* "1G" and "1GiB" are both 1024-based, as in ip(8); "1GB" is 1000-based. */
static const struct unit size_units[] = {
	{ "",		1 },
	{ "B",		1 },
	{ "K",		1ULL << 10 },
	{ "KiB",	1ULL << 10 },
	{ "KB",		1000ULL },
	{ "kB",		1000ULL },
	{ "M",		1ULL << 20 },
	{ "MiB",	1ULL << 20 },
	{ "MB",		1000ULL * 1000 },
	{ "G",		1ULL << 30 },
	{ "GiB",	1ULL << 30 },
	{ "GB",		1000ULL * 1000 * 1000 },
	{ "T",		1ULL << 40 },
	{ "TiB",	1ULL << 40 },
	{ "TB",		1000ULL * 1000 * 1000 * 1000 },
};

/* The units format_size() may choose from. */
static const struct unit size_print_units[] = {
	{ "TiB",	1ULL << 40 },
	{ "GiB",	1ULL << 30 },
	{ "MiB",	1ULL << 20 },
	{ "KiB",	1ULL << 10 },
	{ "TB",		1000ULL * 1000 * 1000 * 1000 },
	{ "GB",		1000ULL * 1000 * 1000 },
	{ "MB",		1000ULL * 1000 },
	{ "KB",		1000ULL },
};

static const struct {
	const char	*word;
	bool		 value;
} bool_words[] = {
	{ "yes", true }, { "no", false },
	{ "true", true }, { "false", false },
	{ "on", true }, { "off", false },
	{ "1", true }, { "0", false },
};

#define DURATION_EXPECTED "expected a number with a unit like 100ms or 1s"
#define SIZE_EXPECTED \
	"expected a number of bytes with an optional unit like 512, 64KiB, " \
	"1GiB or 10MB"

static _Thread_local const char *last_problem = "is not valid";
static _Thread_local const char *last_expected = "expected a valid value";

static int
refuse(const char *problem, const char *expected)
{
	last_problem = problem;
	last_expected = expected;
	return -1;
}

const char *
values_error(void)
{
	return last_expected;
}

const char *
values_problem(void)
{
	return last_problem;
}

/*
 * Parse "DIGITS[.DIGITS]UNIT" against a table of units, exactly: the result
 * must be a whole number of the base unit and fit in 64 bits. Durations and
 * sizes share this so both detect overflow the same way. Returns 0, -1 on a
 * malformed number or unknown unit, -2 when not whole, -3 on overflow.
 */
static int
parse_scaled(const char *s, const struct unit *units, size_t nunits,
    uint64_t *out)
{
	const char *p = s, *frac = NULL;
	size_t nint = 0, nfrac = 0;
	uint64_t ip = 0, fp = 0, pow10 = 1, mult = 0, v;
	unsigned __int128 part;
	size_t i;

	for (; *p >= '0' && *p <= '9'; p++, nint++) {
		if (__builtin_mul_overflow(ip, 10, &ip) ||
		    __builtin_add_overflow(ip, (uint64_t)(*p - '0'), &ip))
			return -3;
	}
	if (*p == '.') {
		frac = ++p;
		while (*p >= '0' && *p <= '9')
			p++;
		nfrac = (size_t)(p - frac);
		if (nfrac == 0)
			return -1;
		while (nfrac > 0 && frac[nfrac - 1] == '0')
			nfrac--;
	}
	if (nint == 0)
		return -1;
	for (i = 0; i < nunits; i++) {
		if (strcmp(p, units[i].suffix) == 0) {
			mult = units[i].mult;
			break;
		}
	}
	if (mult == 0)
		return -1;
	if (__builtin_mul_overflow(ip, mult, &v))
		return -3;
	if (nfrac > 0) {
		/* 18 significant decimals keep fp * mult inside 128 bits. */
		if (nfrac > 18)
			return -2;
		for (i = 0; i < nfrac; i++) {
			fp = fp * 10 + (uint64_t)(frac[i] - '0');
			pow10 *= 10;
		}
		part = (unsigned __int128)fp * mult;
		if (part % pow10 != 0)
			return -2;
		if (__builtin_add_overflow(v, (uint64_t)(part / pow10), &v))
			return -3;
	}
	*out = v;
	return 0;
}

int
parse_duration_ms(const char *s, uint64_t *ms)
{
	size_t n = strlen(s);

	if (n > 0 && s[n - 1] >= '0' && s[n - 1] <= '9' &&
	    strspn(s, "0123456789.") == n)
		return refuse("has no unit", DURATION_EXPECTED);
	switch (parse_scaled(s, duration_units, nitems(duration_units), ms)) {
	case 0:
		return 0;
	case -2:
		return refuse("is not a whole number of milliseconds",
		    DURATION_EXPECTED);
	case -3:
		return refuse("is too large",
		    "expected a duration below 2^64 milliseconds");
	default:
		return refuse("is not a duration", DURATION_EXPECTED);
	}
}

int
parse_size(const char *s, uint64_t *bytes)
{
	switch (parse_scaled(s, size_units, nitems(size_units), bytes)) {
	case 0:
		return 0;
	case -2:
		return refuse("is not a whole number of bytes", SIZE_EXPECTED);
	case -3:
		return refuse("is too large", "expected a size below 2^64 bytes");
	default:
		return refuse("is not a size", SIZE_EXPECTED);
	}
}

int
parse_bool(const char *s, bool *b)
{
	size_t i;

	for (i = 0; i < nitems(bool_words); i++) {
		if (strcasecmp(s, bool_words[i].word) == 0) {
			*b = bool_words[i].value;
			return 0;
		}
	}
	return refuse("is not a boolean",
	    "expected yes or no (also true/false, on/off, 1/0)");
}

/*
 * The address part goes through inet_pton, which is strict (no "1.2.3", no
 * scope ids); the prefix must be plain decimal digits within the family's
 * width, so "/024" is 24 but "/+24" and "/24x" are refused.
 */
int
parse_ipaddr(const char *s, int want_prefix, struct ipaddr *a)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	struct ipaddr r;
	int width;

	memset(&r, 0, sizeof(r));
	r.prefix = -1;
	if (alen == 0 || alen >= INET6_ADDRSTRLEN)
		goto bad;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	if (inet_pton(AF_INET, buf, &r.v4) == 1)
		r.family = AF_INET;
	else if (inet_pton(AF_INET6, buf, &r.v6) == 1)
		r.family = AF_INET6;
	else
		goto bad;
	width = r.family == AF_INET ? 32 : 128;

	if (slash != NULL) {
		const char *d = slash + 1;
		size_t nd = strspn(d, "0123456789");

		if (want_prefix < 0)
			return refuse("has a prefix",
			    "expected an address without a prefix like 192.0.2.1");
		if (nd == 0 || d[nd] != '\0')
			return refuse("has a bad prefix", r.family == AF_INET ?
			    "expected /N after the address with N from 0 to 32" :
			    "expected /N after the address with N from 0 to 128");
		r.prefix = 0;
		for (; *d != '\0'; d++) {
			r.prefix = r.prefix * 10 + (*d - '0');
			if (r.prefix > width)
				break;
		}
		if (r.prefix > width)
			return refuse("has a prefix out of range",
			    r.family == AF_INET ?
			    "expected a prefix from 0 to 32 for IPv4" :
			    "expected a prefix from 0 to 128 for IPv6");
	} else if (want_prefix > 0)
		return refuse("has no prefix",
		    "expected ADDRESS/PREFIX like 192.0.2.10/24 or 2001:db8::10/64");
	*a = r;
	return 0;
bad:
	if (want_prefix > 0)
		return refuse("is not an IP address",
		    "expected ADDRESS/PREFIX like 192.0.2.10/24 or 2001:db8::10/64");
	if (want_prefix < 0)
		return refuse("is not an IP address",
		    "expected an IPv4 or IPv6 address like 192.0.2.1 or 2001:db8::1");
	return refuse("is not an IP address",
	    "expected an IPv4 or IPv6 address like 192.0.2.10, optionally "
	    "with /PREFIX");
}

const char *
ipaddr_str(const struct ipaddr *a, char *buf, size_t len)
{
	char addr[INET6_ADDRSTRLEN];

	if (inet_ntop(a->family, a->family == AF_INET ?
	    (const void *)&a->v4 : (const void *)&a->v6, addr, sizeof(addr)) == NULL)
		xstrlcpy(addr, "?", sizeof(addr));
	if (a->prefix >= 0)
		snprintf(buf, len, "%s/%d", addr, a->prefix);
	else
		snprintf(buf, len, "%s", addr);
	return buf;
}

bool
ipaddr_equal(const struct ipaddr *a, const struct ipaddr *b)
{
	if (a->family != b->family)
		return false;
	if (a->family == AF_INET)
		return a->v4.s_addr == b->v4.s_addr;
	return memcmp(&a->v6, &b->v6, sizeof(a->v6)) == 0;
}

bool
ipaddr_in_subnet(const struct ipaddr *a, const struct ipaddr *net)
{
	const uint8_t *x, *y;
	int bits, i;

	if (a->family != net->family || net->prefix < 0)
		return false;
	if (a->family == AF_INET) {
		x = (const uint8_t *)&a->v4;
		y = (const uint8_t *)&net->v4;
	} else {
		x = a->v6.s6_addr;
		y = net->v6.s6_addr;
	}
	bits = net->prefix;
	for (i = 0; bits >= 8; i++, bits -= 8) {
		if (x[i] != y[i])
			return false;
	}
	if (bits > 0) {
		uint8_t mask = (uint8_t)(0xff << (8 - bits));

		if ((x[i] & mask) != (y[i] & mask))
			return false;
	}
	return true;
}

int
strlist_split(const char *s, struct strlist *out)
{
	struct strlist items = { NULL, 0 };
	const char *p = s;
	size_t i;

	for (;;) {
		const char *end = strchr(p, ',');
		const char *e = end ? end : p + strlen(p);
		char *item;

		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (p == e) {
			strlist_free(&items);
			return refuse("has an empty item",
			    "expected a comma-separated list like a, b, c");
		}
		item = xmalloc((size_t)(e - p) + 1);
		memcpy(item, p, (size_t)(e - p));
		item[e - p] = '\0';
		items.v = xrealloc(items.v, (items.n + 1) * sizeof(*items.v));
		items.v[items.n++] = item;
		if (end == NULL)
			break;
		p = end + 1;
	}
	out->v = xrealloc(out->v, (out->n + items.n) * sizeof(*out->v));
	for (i = 0; i < items.n; i++)
		out->v[out->n++] = items.v[i];
	free(items.v);
	return 0;
}

void
strlist_add(struct strlist *l, const char *s)
{
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = xstrdup(s);
}

void
strlist_free(struct strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* The largest unit that divides exactly, so the printed text parses back. */
const char *
format_duration(uint64_t ms, char *buf, size_t len)
{
	size_t i;

	if (ms == 0) {
		snprintf(buf, len, "0s");
		return buf;
	}
	for (i = nitems(duration_units); i-- > 0;) {
		if (ms % duration_units[i].mult == 0)
			break;
	}
	snprintf(buf, len, "%" PRIu64 "%s", ms / duration_units[i].mult,
	    duration_units[i].suffix);
	return buf;
}

/*
 * The unit that divides exactly and gives the smallest number: 1GiB, 10MB,
 * 1TB (not 976562500KiB), 1000KiB (not 1024KB).
 */
const char *
format_size(uint64_t bytes, char *buf, size_t len)
{
	const struct unit *best = NULL;
	size_t i;

	for (i = 0; bytes != 0 && i < nitems(size_print_units); i++) {
		const struct unit *u = &size_print_units[i];

		if (bytes % u->mult == 0 && (best == NULL || u->mult > best->mult))
			best = u;
	}
	if (best == NULL)
		snprintf(buf, len, "%" PRIu64, bytes);
	else
		snprintf(buf, len, "%" PRIu64 "%s", bytes / best->mult,
		    best->suffix);
	return buf;
}

socklen_t
ipaddr_sockaddr(const struct ipaddr *a, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_addr = a->v4;
		sin->sin_port = htons(port);
		return sizeof(*sin);
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	sin6->sin6_family = AF_INET6;
	sin6->sin6_addr = a->v6;
	sin6->sin6_port = htons(port);
	return sizeof(*sin6);
}
