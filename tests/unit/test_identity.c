/*
 * Unit tests of engine/identity: the public address claimed and released
 * on the public interface, the management address kept on it (never a
 * source address) when it shares the public subnet, and the failures named
 * with the command that failed. Each case runs in a namespace of its own
 * (helpers/netns_fixture.h) and is skipped without root.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "common/util.h"
#include "engine/engine.h"
#include "engine/identity.h"
#include "helpers/netns_fixture.h"

#define PUBLIC_IP   "192.0.2.10"
#define PEER_PUB    "192.0.2.2"

static char err[512];

/* The node's configuration, with the management address given. */
static struct config *
conf_with(const char *public_if, const char *management)
{
	char *text = xasprintf(
	    "[cluster]\nname = demo\nmode = ha\n"
	    "[node primary]\nchannel = 203.0.113.1/30\n"
	    "public = %s " PUBLIC_IP "/24\nmanagement = %s\n"
	    "[node secondary]\nchannel = 203.0.113.2/30\n"
	    "public = pub9 " PUBLIC_IP "/24\nmanagement = 198.51.100.12/24\n"
	    "[protect]\ndata = /var/lib/app\n", public_if, management);
	struct config *conf = config_parse_string(text, "test.conf", err, sizeof(err));

	if (conf == NULL) {
		fprintf(stderr, "test configuration refused: %s\n", err);
		_exit(1);
	}
	free(text);
	return conf;
}

/* `ip -o addr show dev ifname` of the current namespace. */
static char *
addrs_of(const char *ifname)
{
	static char buf[4096];
	char *cmd = xasprintf("ip -o -4 addr show dev %s", ifname);
	FILE *p = popen(cmd, "r");
	size_t len;

	CHECK(p != NULL);
	len = fread(buf, 1, sizeof(buf) - 1, p);
	buf[len] = '\0';
	CHECK(pclose(p) == 0);
	free(cmd);
	return buf;
}

static int
count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

/* What fn(e) logs on stderr; its return code in *rc. */
static char *
logged(int (*fn)(struct engine *), struct engine *e, int *rc)
{
	static char buf[4096];
	FILE *tmp = tmpfile();
	int saved = dup(2);
	size_t n;

	CHECK(tmp != NULL);
	fflush(stderr);
	dup2(fileno(tmp), 2);
	*rc = fn(e);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	n = fread(buf, 1, sizeof(buf) - 1, tmp);
	buf[n] = '\0';
	fclose(tmp);
	return buf;
}

/*
 * Claim puts the address with its prefix on the public interface, once even
 * when claimed twice (a claim after a crash that left it there); release
 * takes it away, and a second release does nothing.
 */
static void
body_claim_release(void)
{
	struct engine e = { .self = NODE_PRIMARY };

	log_init(LOG_TO_STDERR, 0, "test_identity");
	veth("pub0", NULL, "pub1", PEER_PUB "/24");
	e.conf = conf_with("pub0", "198.51.100.11/24");
	CHECK(count(addrs_of("pub0"), "inet ") == 0);

	CHECK(identity_claim(&e) == 0);
	CHECK(e.public_claimed);
	CHECK(count(addrs_of("pub0"), "inet " PUBLIC_IP "/24 ") == 1);
	CHECK(identity_claim(&e) == 0);
	CHECK(count(addrs_of("pub0"), "inet " PUBLIC_IP "/24 ") == 1);
	CHECK(count(addrs_of("pub0"), "inet ") == 1);
	/* Not a management-style address: a normal source, not deprecated. */
	CHECK(strstr(addrs_of("pub0"), "deprecated") == NULL);

	CHECK(identity_release(&e) == 0);
	CHECK(!e.public_claimed);
	CHECK(count(addrs_of("pub0"), "inet ") == 0);
	CHECK(identity_release(&e) == 0);
	CHECK(!e.public_claimed);
	config_free(e.conf);
}

/* Release only takes away what this engine claimed: someone else's address stays. */
static void
body_release_unclaimed(void)
{
	struct engine e = { .self = NODE_PRIMARY };

	log_init(LOG_TO_STDERR, 0, "test_identity");
	veth("pub0", PUBLIC_IP "/24", "pub1", PEER_PUB "/24");
	e.conf = conf_with("pub0", "198.51.100.11/24");
	CHECK(identity_release(&e) == 0);
	CHECK(count(addrs_of("pub0"), "inet " PUBLIC_IP "/24 ") == 1);
	config_free(e.conf);
}

/* No such interface: -1, the command and its interface in the log, nothing claimed. */
static void
body_claim_fails(void)
{
	struct engine e = { .self = NODE_PRIMARY };
	const char *out;
	int rc;

	log_init(LOG_TO_STDERR, 0, "test_identity");
	e.conf = conf_with("nosuch0", "198.51.100.11/24");
	out = logged(identity_claim, &e, &rc);
	CHECK(rc == -1);
	CHECK(!e.public_claimed);
	if (strstr(out, "ip addr replace " PUBLIC_IP "/24 dev nosuch0 failed (exit ") == NULL) {
		fprintf(stderr, "unexpected log: %s\n", out);
		_exit(1);
	}
	config_free(e.conf);
}

/*
 * An address removed behind the engine's back: the release fails in ip(8),
 * but the engine no longer counts the address as its own either way.
 */
static void
body_release_gone(void)
{
	struct engine e = { .self = NODE_PRIMARY };
	const char *out;
	int rc;

	log_init(LOG_TO_STDERR, 0, "test_identity");
	veth("pub0", NULL, "pub1", PEER_PUB "/24");
	e.conf = conf_with("pub0", "198.51.100.11/24");
	CHECK(identity_claim(&e) == 0);
	RUN("ip addr del " PUBLIC_IP "/24 dev pub0");
	out = logged(identity_release, &e, &rc);
	CHECK(rc == -1);
	CHECK(!e.public_claimed);
	CHECK(strstr(out, "ip addr del " PUBLIC_IP "/24 dev pub0 failed (exit ") != NULL);
	config_free(e.conf);
}

/*
 * A management address in the public subnet goes on the public interface
 * with preferred_lft 0 (ip(8) shows it "deprecated"); twice leaves one copy,
 * and the public address is not claimed by it.
 */
static void
body_management_in_public_subnet(void)
{
	struct engine e = { .self = NODE_PRIMARY };
	const char *a;

	log_init(LOG_TO_STDERR, 0, "test_identity");
	veth("pub0", NULL, "pub1", PEER_PUB "/24");
	e.conf = conf_with("pub0", "192.0.2.11/24");
	CHECK(identity_management(&e) == 0);
	CHECK(identity_management(&e) == 0);
	a = addrs_of("pub0");
	CHECK(count(a, "inet 192.0.2.11/24 ") == 1);
	CHECK(count(a, "inet ") == 1);
	CHECK(strstr(a, " deprecated ") != NULL);
	CHECK(!e.public_claimed);
	config_free(e.conf);
}

/*
 * identity.h: the management address in the public subnet is "never chosen
 * as a source address (the service's replies leave from the public IP)".
 * In the engine's order (management address at start-up, public address at
 * the claim), traffic the active node sends on the public LAN, or through
 * a gateway there, must leave from the public IP.
 */
static void
body_management_never_source(void)
{
	struct engine e = { .self = NODE_PRIMARY };
	static const char *dests[] = { PEER_PUB, "198.18.0.5" };

	log_init(LOG_TO_STDERR, 0, "test_identity");
	veth("pub0", NULL, "pub1", PEER_PUB "/24");
	e.conf = conf_with("pub0", "192.0.2.11/24");
	CHECK(identity_management(&e) == 0);
	CHECK(identity_claim(&e) == 0);
	RUN("ip route add 198.18.0.0/24 via 192.0.2.1");
	for (size_t i = 0; i < nitems(dests); i++) {
		char *cmd = xasprintf("ip -o route get %s", dests[i]), route[512];
		FILE *p = popen(cmd, "r");
		size_t len;

		CHECK(p != NULL);
		len = fread(route, 1, sizeof(route) - 1, p);
		route[len] = '\0';
		CHECK(pclose(p) == 0);
		if (strstr(route, " src " PUBLIC_IP " ") == NULL) {
			fprintf(stderr, "to %s the source is not the public IP: %s", dests[i], route);
			_exit(1);
		}
		free(cmd);
	}
	/* Released: the management address stays, and is the source again. */
	CHECK(identity_release(&e) == 0);
	{
		FILE *p = popen("ip -o route get " PEER_PUB, "r");
		char route[512];
		size_t len;

		CHECK(p != NULL);
		len = fread(route, 1, sizeof(route) - 1, p);
		route[len] = '\0';
		CHECK(pclose(p) == 0);
		if (strstr(route, " src 192.0.2.11 ") == NULL) {
			fprintf(stderr, "after the release the source is not the management IP: %s",
			    route);
			_exit(1);
		}
	}
	config_free(e.conf);
}

/* A management address elsewhere is not touched: nothing added here. */
static void
body_management_elsewhere(void)
{
	struct engine e = { .self = NODE_PRIMARY };

	log_init(LOG_TO_STDERR, 0, "test_identity");
	veth("pub0", NULL, "pub1", PEER_PUB "/24");
	e.conf = conf_with("pub0", "198.51.100.11/24");
	CHECK(identity_management(&e) == 0);
	CHECK(count(addrs_of("pub0"), "inet ") == 0);
	/* Not even an interface is needed for it. */
	config_free(e.conf);
	e.conf = conf_with("nosuch0", "198.51.100.11/24");
	CHECK(identity_management(&e) == 0);
	config_free(e.conf);
}

static void
body_management_fails(void)
{
	struct engine e = { .self = NODE_PRIMARY };
	const char *out;
	int rc;

	log_init(LOG_TO_STDERR, 0, "test_identity");
	e.conf = conf_with("nosuch0", "192.0.2.11/24");
	out = logged(identity_management, &e, &rc);
	CHECK(rc == -1);
	if (strstr(out, "cannot add the management address 192.0.2.11/24 to nosuch0 (ip exit ") == NULL) {
		fprintf(stderr, "unexpected log: %s\n", out);
		_exit(1);
	}
	config_free(e.conf);
}

static void
test_claim_release(void **state)
{
	isolated(body_claim_release);
}

static void
test_release_unclaimed(void **state)
{
	isolated(body_release_unclaimed);
}

static void
test_claim_fails(void **state)
{
	isolated(body_claim_fails);
}

static void
test_release_gone(void **state)
{
	isolated(body_release_gone);
}

static void
test_management_in_public_subnet(void **state)
{
	isolated(body_management_in_public_subnet);
}

static void
test_management_never_source(void **state)
{
	isolated(body_management_never_source);
}

static void
test_management_elsewhere(void **state)
{
	isolated(body_management_elsewhere);
}

static void
test_management_fails(void **state)
{
	isolated(body_management_fails);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_claim_release),
		cmocka_unit_test(test_release_unclaimed),
		cmocka_unit_test(test_claim_fails),
		cmocka_unit_test(test_release_gone),
		cmocka_unit_test(test_management_in_public_subnet),
		cmocka_unit_test(test_management_never_source),
		cmocka_unit_test(test_management_elsewhere),
		cmocka_unit_test(test_management_fails),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
