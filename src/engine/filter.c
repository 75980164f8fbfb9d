/*
 * The passive's hiding filter, spoken to nftables through libnftables. The
 * whole ruleset is the text of hide_v4 and hide_v6 below; filter_is_hiding
 * reads the tables back and looks for those same rules.
 */
#include "engine/filter.h"
#include "common/util.h"
#include "common/values.h"

#include <nftables/libnftables.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The order of operations is what makes the node invisible, so it is the
 * engine's to keep: filter_hide runs at start-up and on every demotion
 * BEFORE the public address is (or may still be) configured, so the kernel
 * never answers an ARP for it nor sends a packet from it, not even for the
 * instant between `ip addr add` and a filter that comes later. filter_unhide
 * runs only after this node has won a higher epoch, persisted it, and so
 * knows the other node is no longer serving (invariant 1).
 *
 * Each template goes to nftables as one buffer, which libnftables sends as
 * one transaction: the leading "table ...; delete table ..." pair removes an
 * earlier version (the bare "table" line makes the delete harmless when the
 * table is absent), and the new tables appear in the same commit, so there
 * is no moment without a filter while replacing it.
 *
 * Priority -350 runs before the raw tables (-300) and connection tracking
 * (-200): a hidden address gets no conntrack entry, and no other table acts
 * on its packets first. Defragmentation (-400) still runs before, so every
 * fragment is judged on the reassembled packet.
 *
 * The ARP and neighbour discovery rules cover both directions: input keeps
 * the kernel from answering who-has for the address (or learning it from
 * a claim by the active node), output keeps it from ever announcing it. The
 * engine's own probes use packet sockets, which these hooks do not see.
 *
 * $pub is the address as nft prints it, $nd the same IPv6 address as the
 * number nft prints for the target field of a neighbour message (ICMPv6
 * bytes 8-23, which nft 1.0.6 has no name for), $comment a label.
 */
static const char remove_tables[] =
	"table inet lifeline\n"
	"delete table inet lifeline\n"
	"table arp lifeline\n"
	"delete table arp lifeline\n";

static const char hide_v4[] =
	"table inet lifeline {\n"
	"	comment \"$comment\"\n"
	"	chain input {\n"
	"		type filter hook input priority -350; policy accept;\n"
	"		ip daddr $pub drop\n"
	"		ip saddr $pub drop\n"
	"	}\n"
	"	chain forward {\n"
	"		type filter hook forward priority -350; policy accept;\n"
	"		ip daddr $pub drop\n"
	"		ip saddr $pub drop\n"
	"	}\n"
	"	chain output {\n"
	"		type filter hook output priority -350; policy accept;\n"
	"		ip daddr $pub drop\n"
	"		ip saddr $pub drop\n"
	"	}\n"
	"}\n"
	"table arp lifeline {\n"
	"	comment \"$comment\"\n"
	"	chain input {\n"
	"		type filter hook input priority -350; policy accept;\n"
	"		arp daddr ip $pub drop\n"
	"		arp saddr ip $pub drop\n"
	"	}\n"
	"	chain output {\n"
	"		type filter hook output priority -350; policy accept;\n"
	"		arp daddr ip $pub drop\n"
	"		arp saddr ip $pub drop\n"
	"	}\n"
	"}\n";

static const char hide_v6[] =
	"table inet lifeline {\n"
	"	comment \"$comment\"\n"
	"	chain input {\n"
	"		type filter hook input priority -350; policy accept;\n"
	"		ip6 daddr $pub drop\n"
	"		ip6 saddr $pub drop\n"
	"		icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } @th,64,128 $nd drop\n"
	"	}\n"
	"	chain forward {\n"
	"		type filter hook forward priority -350; policy accept;\n"
	"		ip6 daddr $pub drop\n"
	"		ip6 saddr $pub drop\n"
	"	}\n"
	"	chain output {\n"
	"		type filter hook output priority -350; policy accept;\n"
	"		ip6 daddr $pub drop\n"
	"		ip6 saddr $pub drop\n"
	"		icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } @th,64,128 $nd drop\n"
	"	}\n"
	"}\n";

static const char list_tables[] = "list tables\n";

struct words {
	char		 pub[INET6_ADDRSTRLEN];
	char		 nd[2 + 32 + 1];
	char		 comment[64 + INET6_ADDRSTRLEN + IF_NAMESIZE];
};

/*
 * Refuse what could never be a shared public address before it reaches a
 * rule: hiding 0.0.0.0 would also drop every DHCP exchange, hiding a
 * multicast or loopback address makes no sense.
 */
static int
check_public(const struct ipaddr *ip, char *err, size_t errlen)
{
	char s[INET6_ADDRSTRLEN + 8];

	if (ip == NULL) {
		snprintf(err, errlen, "filter: no public address given");
		return -1;
	}
	if (ip->family != AF_INET && ip->family != AF_INET6) {
		snprintf(err, errlen, "filter: public address has unknown "
		    "family %d", ip->family);
		return -1;
	}
	ipaddr_str(ip, s, sizeof(s));
	if (ip->family == AF_INET) {
		uint32_t a = ntohl(ip->v4.s_addr);

		if (a == 0 || a == 0xffffffffu || (a >> 28) == 0xe ||
		    (a >> 24) == 127) {
			snprintf(err, errlen, "filter: %s cannot be a public "
			    "address (unspecified, broadcast, multicast or "
			    "loopback)", s);
			return -1;
		}
	} else if (IN6_IS_ADDR_UNSPECIFIED(&ip->v6) ||
	    IN6_IS_ADDR_MULTICAST(&ip->v6) || IN6_IS_ADDR_LOOPBACK(&ip->v6)) {
		snprintf(err, errlen, "filter: %s cannot be a public address "
		    "(unspecified, multicast or loopback)", s);
		return -1;
	}
	return 0;
}

/*
 * The interface name ends up inside a quoted nft string, so only the
 * characters interface names really use are let through.
 */
static int
check_ifname(const char *ifname, char *err, size_t errlen)
{
	size_t n;

	if (ifname == NULL || *ifname == '\0') {
		snprintf(err, errlen, "filter: no interface name given");
		return -1;
	}
	n = strlen(ifname);
	if (n >= IF_NAMESIZE ||
	    strspn(ifname, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789_.-@") != n) {
		snprintf(err, errlen, "filter: bad interface name \"%.*s\": "
		    "expected at most %d letters, digits or _.-@",
		    IF_NAMESIZE * 2, ifname, IF_NAMESIZE - 1);
		return -1;
	}
	return 0;
}

/*
 * nft prints the 128-bit target field as a hexadecimal number without
 * leading zeros; the template uses the same spelling so that the rules read
 * back exactly as they were written.
 */
static void
fill_words(const struct ipaddr *ip, const char *ifname, struct words *w)
{
	static const char hex[] = "0123456789abcdef";
	char digits[33];
	const char *p;
	int i;

	memset(w, 0, sizeof(*w));
	inet_ntop(ip->family, ip->family == AF_INET ? (const void *)&ip->v4 :
	    (const void *)&ip->v6, w->pub, sizeof(w->pub));
	if (ip->family == AF_INET6) {
		for (i = 0; i < 16; i++) {
			digits[2 * i] = hex[ip->v6.s6_addr[i] >> 4];
			digits[2 * i + 1] = hex[ip->v6.s6_addr[i] & 0xf];
		}
		digits[32] = '\0';
		for (p = digits; *p == '0' && p[1] != '\0'; p++)
			;
		snprintf(w->nd, sizeof(w->nd), "0x%s", p);
	}
	snprintf(w->comment, sizeof(w->comment), "lifeline: hides %s%s%s",
	    w->pub, ifname != NULL ? " on " : "", ifname != NULL ? ifname : "");
}

/* Replace $pub, $nd and $comment in a template; the caller frees. */
static char *
expand(const char *tmpl, const struct words *w)
{
	const struct {
		const char	*name;
		const char	*value;
	} vars[] = {
		{ "$pub", w->pub },
		{ "$nd", w->nd },
		{ "$comment", w->comment },
	};
	size_t cap = strlen(tmpl) * 2 + 256, len = 0;
	char *out = xmalloc(cap);
	const char *t = tmpl;

	while (*t != '\0') {
		const char *val = t;
		size_t skip = 1, vlen = 1, i;

		for (i = 0; *t == '$' && i < nitems(vars); i++) {
			size_t n = strlen(vars[i].name);

			if (strncmp(t, vars[i].name, n) == 0) {
				val = vars[i].value;
				vlen = strlen(val);
				skip = n;
				break;
			}
		}
		if (len + vlen + 1 > cap) {
			cap = (len + vlen + 1) * 2;
			out = xrealloc(out, cap);
		}
		memcpy(out + len, val, vlen);
		len += vlen;
		t += skip;
	}
	out[len] = '\0';
	return out;
}

/*
 * Run commands in a fresh libnftables context, one transaction. A context
 * per call costs a few milliseconds, keeps no netlink socket open between
 * calls, and talks to the network namespace the caller is in now. On
 * failure err gets nft's own first line of complaint.
 */
static int
nft_run(const char *cmds, char **output, char *err, size_t errlen)
{
	struct nft_ctx *nft;
	const char *msg;
	int rc = -1;

	if (output != NULL)
		*output = NULL;
	if ((nft = nft_ctx_new(NFT_CTX_DEFAULT)) == NULL) {
		snprintf(err, errlen, "filter: cannot create an nftables "
		    "context");
		return -1;
	}
	if (nft_ctx_buffer_output(nft) != 0 || nft_ctx_buffer_error(nft) != 0) {
		snprintf(err, errlen, "filter: cannot buffer nftables output");
		goto out;
	}
	if (nft_run_cmd_from_buffer(nft, cmds) != 0) {
		msg = nft_ctx_get_error_buffer(nft);
		if (msg == NULL || *msg == '\0')
			msg = "unknown error";
		snprintf(err, errlen, "filter: nftables: %.*s",
		    (int)strcspn(msg, "\n"), msg);
		goto out;
	}
	if (output != NULL) {
		msg = nft_ctx_get_output_buffer(nft);
		*output = xstrdup(msg != NULL ? msg : "");
	}
	rc = 0;
out:
	nft_ctx_free(nft);
	return rc;
}

int
filter_hide(const struct ipaddr *public_ip, const char *ifname, char *err,
    size_t errlen)
{
	struct words w;
	char *body, *cmds;
	int rc;

	if (check_public(public_ip, err, errlen) < 0 ||
	    check_ifname(ifname, err, errlen) < 0)
		return -1;
	fill_words(public_ip, ifname, &w);
	body = expand(public_ip->family == AF_INET ? hide_v4 : hide_v6, &w);
	cmds = xasprintf("%s%s", remove_tables, body);
	rc = nft_run(cmds, NULL, err, errlen);
	free(cmds);
	free(body);
	return rc;
}

int
filter_unhide(char *err, size_t errlen)
{
	return nft_run(remove_tables, NULL, err, errlen);
}

/*
 * Collect "FAMILY CHAIN RULE" for every drop rule of Lifeline's tables in
 * a text written like nft's listing (a template or the listing itself), so
 * both sides of the comparison go through the same reader.
 */
static void
drop_rules(const char *text, struct strlist *out)
{
	char family[16] = "", chain[32] = "";
	const char *line = text, *end;

	for (; *line != '\0'; line = *end == '\0' ? end : end + 1) {
		char buf[512];
		const char *p = line;
		size_t n;
		int k;

		end = line + strcspn(line, "\n");
		while (*p == ' ' || *p == '\t')
			p++;
		n = (size_t)(end - p);
		if (n == 0 || n >= sizeof(buf))
			continue;
		memcpy(buf, p, n);
		buf[n] = '\0';
		k = 0;
		if (sscanf(buf, "table %15s lifeline {%n", family, &k) == 1 &&
		    (size_t)k == n)
			continue;
		k = 0;
		if (sscanf(buf, "chain %31s {%n", chain, &k) == 1 &&
		    (size_t)k == n)
			continue;
		if (n > 5 && strcmp(buf + n - 5, " drop") == 0) {
			char *item = xasprintf("%s %s %s", family, chain, buf);

			strlist_add(out, item);
			free(item);
		}
	}
}

static bool
strlist_has(const struct strlist *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return true;
	return false;
}

/* Is "table FAMILY lifeline" a line of a `list tables` answer? */
static bool
has_table(const char *tables, const char *family)
{
	char want[64];
	const char *p = tables;
	size_t n;

	n = (size_t)snprintf(want, sizeof(want), "table %s lifeline", family);
	while ((p = strstr(p, want)) != NULL) {
		if ((p == tables || p[-1] == '\n') &&
		    (p[n] == '\n' || p[n] == '\0'))
			return true;
		p += n;
	}
	return false;
}

int
filter_is_hiding(const struct ipaddr *public_ip, bool *hiding, char *err,
    size_t errlen)
{
	struct strlist want = { 0 }, have = { 0 };
	struct words w;
	char *tables = NULL, *listing = NULL, *body = NULL;
	bool v4;
	int rc = -1;

	if (hiding == NULL) {
		snprintf(err, errlen, "filter: nowhere to store the answer");
		return -1;
	}
	*hiding = false;
	if (check_public(public_ip, err, errlen) < 0)
		return -1;
	v4 = public_ip->family == AF_INET;
	if (nft_run(list_tables, &tables, err, errlen) < 0)
		goto out;
	if (!has_table(tables, "inet") || (v4 && !has_table(tables, "arp"))) {
		rc = 0;
		goto out;
	}
	/*
	 * One table per call: nft 1.0.6 answers the second of two "list
	 * table" commands in one buffer with "No such file or directory".
	 */
	if (nft_run("list table inet lifeline\n", &listing, err, errlen) < 0)
		goto out;
	drop_rules(listing, &have);
	if (v4) {
		free(listing);
		if (nft_run("list table arp lifeline\n", &listing, err,
		    errlen) < 0)
			goto out;
		drop_rules(listing, &have);
	}
	fill_words(public_ip, NULL, &w);
	body = expand(v4 ? hide_v4 : hide_v6, &w);
	drop_rules(body, &want);
	*hiding = want.n > 0;
	for (size_t i = 0; i < want.n && *hiding; i++)
		*hiding = strlist_has(&have, want.v[i]);
	rc = 0;
out:
	strlist_free(&want);
	strlist_free(&have);
	free(body);
	free(listing);
	free(tables);
	return rc;
}
