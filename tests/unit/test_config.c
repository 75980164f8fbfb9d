/*
 * Unit tests of the configuration module: defaults, every rule and
 * cross-check as a table of one-line edits to a good file, the normalized
 * print and its hash, identity files, and the man page naming every key.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/config.h"
#include "common/util.h"
#include "helpers/tmpdir.h"

/* Line numbers in the expected messages below count from here. */
static const char base[] =
    "[cluster]\n"					/*  1 */
    "name = demo\n"					/*  2 */
    "mode = ha\n"					/*  3 */
    "\n"						/*  4 */
    "[node primary]\n"					/*  5 */
    "channel = 203.0.113.1, 203.0.113.25\n"		/*  6 */
    "public = eth0 192.0.2.10/24\n"			/*  7 */
    "management = 198.51.100.11/24\n"			/*  8 */
    "\n"						/*  9 */
    "[node secondary]\n"				/* 10 */
    "channel = 203.0.113.2, 203.0.113.26\n"		/* 11 */
    "public = eth0 192.0.2.10/24\n"			/* 12 */
    "management = 198.51.100.12/24\n"			/* 13 */
    "\n"						/* 14 */
    "[protect]\n"					/* 15 */
    "data = /var/lib/app\n"				/* 16 */
    "service = app\n"					/* 17 */
    "\n"						/* 18 */
    "[service app]\n"					/* 19 */
    "start = /usr/bin/app\n";				/* 20 */

static const char tertiary[] =
    "\n"						/* 21 */
    "[node tertiary]\n"					/* 22 */
    "channel = 203.0.113.10\n"				/* 23 */
    "public = eth0 198.18.0.10/24\n"			/* 24 */
    "management = 198.51.100.13/24\n";			/* 25 */

/*
 * base with up to two edits: the first occurrence of each "from" replaced
 * by its "to"; an empty "from" appends "to" at the end.
 */
static char *
edit(const char *text, const char *from, const char *to)
{
	const char *at;
	char *out;

	if (from == NULL)
		return xstrdup(text);
	if (*from == '\0')
		return xasprintf("%s%s", text, to);
	at = strstr(text, from);
	if (at == NULL)
		fail_msg("edit: \"%s\" not in the text", from);
	out = xasprintf("%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
	return out;
}

static char *
edit2(const char *f1, const char *t1, const char *f2, const char *t2)
{
	char *once = edit(base, f1, t1), *twice = edit(once, f2, t2);

	free(once);
	return twice;
}

static struct config *
parse(const char *text, char *err, size_t len)
{
	err[0] = '\0';
	return config_parse_string(text, "t.conf", err, len);
}

static void
test_base_parses(void **state)
{
	char err[512];
	struct config *c = parse(base, err, sizeof(err));
	char buf[64];

	if (c == NULL)
		fail_msg("%s", err);
	assert_string_equal(c->path, "t.conf");
	assert_string_equal(c->name, "demo");
	assert_int_equal(c->mode, MODE_HA);
	assert_true(c->nodes[NODE_PRIMARY].present);
	assert_true(c->nodes[NODE_SECONDARY].present);
	assert_false(c->nodes[NODE_TERTIARY].present);
	assert_int_equal(c->nodes[NODE_PRIMARY].line, 5);
	assert_int_equal(c->nodes[NODE_SECONDARY].line, 10);
	assert_int_equal(c->nodes[NODE_PRIMARY].nchannels, 2);
	assert_string_equal(ipaddr_str(&c->nodes[NODE_PRIMARY].channels[1], buf,
	    sizeof(buf)), "203.0.113.25");
	assert_string_equal(c->nodes[NODE_SECONDARY].public_if, "eth0");
	assert_string_equal(ipaddr_str(&c->nodes[NODE_SECONDARY].public_addr,
	    buf, sizeof(buf)), "192.0.2.10/24");
	assert_string_equal(ipaddr_str(&c->nodes[NODE_SECONDARY].management,
	    buf, sizeof(buf)), "198.51.100.12/24");
	assert_int_equal(c->protect_data.n, 1);
	assert_string_equal(c->protect_data.v[0], "/var/lib/app");
	assert_int_equal(c->protect_service.n, 1);
	assert_int_equal(c->protect_config.n, 0);
	assert_int_equal(c->nservices, 1);
	assert_int_equal(c->services[0].line, 19);
	assert_ptr_equal(config_service(c, "app"), &c->services[0]);
	assert_null(config_service(c, "nginx"));
	config_free(c);
}

static void
test_defaults(void **state)
{
	char err[512];
	struct config *c = parse(base, err, sizeof(err));
	const struct service_conf *s;

	assert_non_null(c);
	assert_string_equal(c->state_dir, "/var/lib/lifeline");
	assert_string_equal(c->tls_dir, "/etc/lifeline/tls");
	assert_int_equal(c->heartbeat_ms, 100);
	assert_int_equal(c->timeout_ms, 800);
	assert_int_equal(c->nping, 0);
	assert_true(c->auto_failover);
	assert_int_equal(c->repl_mode, REPL_ASYNC);
	assert_int_equal(c->queue_bytes, 1ULL << 30);
	assert_int_equal(c->compress, COMPRESS_AUTO);
	assert_int_equal(c->bandwidth, 0);
	s = &c->services[0];
	assert_string_equal(s->start, "/usr/bin/app");
	assert_int_equal(s->stop_kind, STOP_SIGNAL);
	assert_int_equal(s->stop_signal, SIGTERM);
	assert_null(s->stop_cmd);
	assert_int_equal(s->stop_timeout_ms, 10000);
	assert_int_equal(s->check_kind, CHECK_PID);
	assert_null(s->check_cmd);
	assert_int_equal(s->check_interval_ms, 2000);
	assert_int_equal(s->check_timeout_ms, 1000);
	assert_int_equal(s->nactions, 3);
	assert_int_equal(s->actions[0].kind, ACTION_RESTART);
	assert_int_equal(s->actions[1].kind, ACTION_RESTART);
	assert_int_equal(s->actions[2].kind, ACTION_SWITCHOVER);
	assert_int_equal(s->window_ms, 600000);
	config_free(c);
}

static void
test_values_set(void **state)
{
	char err[512], buf[64];
	char *text = edit(base, "", "stop = exec /usr/bin/app --stop\n"
	    "stop_timeout = 1.5s\n"
	    "check = tcp [2001:db8::10]:8080\n"
	    "check_interval = 3s\n"
	    "check_timeout = 2500ms\n"
	    "actions = log, task page-ops, ignore, switchover\n"
	    "window = 1h\n"
	    "\n[failover]\n"
	    "heartbeat = 50ms\n"
	    "timeout = 150ms\n"
	    "ping = 192.0.2.1, 192.0.2.2\n"
	    "auto = off\n"
	    "\n[replication]\n"
	    "mode = sync\n"
	    "queue = 16MiB\n"
	    "compress = zstd\n"
	    "bandwidth = 10MB/s\n");
	struct config *c;
	const struct service_conf *s;

	c = parse(text, err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	s = &c->services[0];
	assert_int_equal(s->stop_kind, STOP_EXEC);
	assert_string_equal(s->stop_cmd, "/usr/bin/app --stop");
	assert_int_equal(s->stop_timeout_ms, 1500);
	assert_int_equal(s->check_kind, CHECK_TCP);
	assert_int_equal(s->check_addr.family, AF_INET6);
	assert_string_equal(ipaddr_str(&s->check_addr, buf, sizeof(buf)),
	    "2001:db8::10");
	assert_int_equal(s->check_port, 8080);
	assert_int_equal(s->check_interval_ms, 3000);
	assert_int_equal(s->check_timeout_ms, 2500);
	assert_int_equal(s->nactions, 4);
	assert_int_equal(s->actions[0].kind, ACTION_LOG);
	assert_int_equal(s->actions[1].kind, ACTION_TASK);
	assert_string_equal(s->actions[1].task, "page-ops");
	assert_int_equal(s->actions[2].kind, ACTION_IGNORE);
	assert_int_equal(s->actions[3].kind, ACTION_SWITCHOVER);
	assert_int_equal(s->window_ms, 3600000);
	assert_int_equal(c->heartbeat_ms, 50);
	assert_int_equal(c->timeout_ms, 150);
	assert_int_equal(c->nping, 2);
	assert_false(c->auto_failover);
	assert_int_equal(c->repl_mode, REPL_SYNC);
	assert_string_equal(repl_mode_name(c->repl_mode), "sync");
	assert_int_equal(c->queue_bytes, 16 << 20);
	assert_int_equal(c->compress, COMPRESS_ZSTD);
	assert_int_equal(c->bandwidth, 10000000);
	config_free(c);
	free(text);
}

/* Files that are unusual but right. */
static const struct {
	const char	*what;
	const char	*from, *to, *from2, *to2;
} good[] = {
	{ "mode ha+dr with its tertiary", "mode = ha\n", "mode = ha+dr\n",
	    "", tertiary },
	{ "mode dr with two sites", "mode = ha\n", "mode = dr\n",
	    "192.0.2.10/24\nmanagement = 198.51.100.12", "198.18.0.10/24\nmanagement = 198.51.100.12" },
	{ "timeout of exactly 3 heartbeats", "", "\n[failover]\nheartbeat = 10ms\ntimeout = 30ms\n",
	    NULL, NULL },
	{ "indented keys are not continuation lines", "start = /usr/bin/app\n",
	    "  start = /usr/bin/app\n\tcheck = pid\n", NULL, NULL },
	{ "comments, blanks and CRLF", "mode = ha\n",
	    "mode = ha ; the pair\r\n# a comment\n; another\n   \n", NULL, NULL },
	{ "an empty section", "[protect]\n", "[failover]\n\n[protect]\n", NULL, NULL },
	{ "a repeatable key and lists", "data = /var/lib/app\n",
	    "data = /var/lib/app\ndata = /srv/a, /srv/b\nconfig = /etc/app\nconfig = /etc/app2.conf\n"
	    "exclude = *.tmp, /etc/app/*.dpkg-*\n", NULL, NULL },
	{ "a protected systemd unit", "service = app\n", "service = app, nginx.service, getty@tty1\n",
	    NULL, NULL },
	{ "a management address on the public LAN", "management = 198.51.100.12/24",
	    "management = 192.0.2.12/24", NULL, NULL },
	{ "a data dir beside state_dir", "data = /var/lib/app\n", "data = /var/lib/lifeline2\n",
	    NULL, NULL },
	{ "four channels with prefixes", "203.0.113.1, 203.0.113.25",
	    "203.0.113.1/29, 203.0.113.25/29, 203.0.113.33, 2001:db8:c::1", NULL, NULL },
	{ "ping targets", "", "\n[failover]\nping = 192.0.2.1, 192.0.2.2, 192.0.2.3, 192.0.2.4, "
	    "192.0.2.5, 192.0.2.6, 192.0.2.7, 192.0.2.8\n", NULL, NULL },
};

static void
test_good(void **state)
{
	char err[512];
	size_t i;

	for (i = 0; i < nitems(good); i++) {
		char *text = edit2(good[i].from, good[i].to, good[i].from2,
		    good[i].to2);
		struct config *c;

		print_message("good: %s\n", good[i].what);
		c = parse(text, err, sizeof(err));
		if (c == NULL)
			fail_msg("%s: %s", good[i].what, err);
		config_free(c);
		free(text);
	}
}

/* Every rule, as an edit of base and the exact message it must give. */
static const struct {
	const char	*from, *to, *from2, *to2;
	const char	*err;
} bad[] = {
	/* values */
	{ "", "\n[failover]\ntimeout = fast\n", NULL, NULL,
	    "t.conf:23: [failover] timeout \"fast\" is not a duration, expected a number with a unit like 100ms or 1s" },
	{ "", "\n[failover]\nheartbeat = 100\n", NULL, NULL,
	    "t.conf:23: [failover] heartbeat \"100\" has no unit, expected a number with a unit like 100ms or 1s" },
	{ "", "window = 5124095576030432h\n", NULL, NULL,
	    "t.conf:21: [service app] window \"5124095576030432h\" is too large, expected a duration below 2^64 milliseconds" },
	{ "", "\n[failover]\nheartbeat = 9ms\n", NULL, NULL,
	    "t.conf:23: [failover] heartbeat \"9ms\" is too short, expected at least 10ms" },
	{ "", "stop_timeout = 0s\n", NULL, NULL,
	    "t.conf:21: [service app] stop_timeout \"0s\" is too short, expected at least 1ms" },
	{ "", "\n[replication]\nqueue = 1 GiB\n", NULL, NULL,
	    "t.conf:23: [replication] queue \"1 GiB\" is not a size, expected a number of bytes with an optional unit like 512, 64KiB, 1GiB or 10MB" },
	{ "", "\n[replication]\nqueue = 18446744073709551616\n", NULL, NULL,
	    "t.conf:23: [replication] queue \"18446744073709551616\" is too large, expected a size below 2^64 bytes" },
	{ "", "\n[replication]\nqueue = 16777215\n", NULL, NULL,
	    "t.conf:23: [replication] queue \"16777215\" is too small, expected at least 16MiB" },
	{ "", "\n[replication]\nbandwidth = fast/s\n", NULL, NULL,
	    "t.conf:23: [replication] bandwidth \"fast/s\" is not a size, expected a number of bytes with an optional unit like 512, 64KiB, 1GiB or 10MB" },
	{ "", "\n[replication]\ncompress = lz4\n", NULL, NULL,
	    "t.conf:23: [replication] compress \"lz4\" is not a known value, expected off, zstd or auto" },
	{ "", "\n[failover]\nauto = maybe\n", NULL, NULL,
	    "t.conf:23: [failover] auto \"maybe\" is not a boolean, expected yes or no (also true/false, on/off, 1/0)" },
	{ "mode = ha\n", "mode = active\n", NULL, NULL,
	    "t.conf:3: [cluster] mode \"active\" is not a known value, expected ha, dr or ha+dr" },
	{ "name = demo", "name = a-cluster-name-of-33-characters-x", NULL, NULL,
	    "t.conf:2: [cluster] name \"a-cluster-name-of-33-characters-x\" is not a valid name, expected 1 to 32 letters, digits, '_', '.' or '-'" },
	{ "name = demo", "name = d/emo", NULL, NULL,
	    "t.conf:2: [cluster] name \"d/emo\" is not a valid name, expected 1 to 32 letters, digits, '_', '.' or '-'" },
	{ "mode = ha\n", "mode = ha\nstate_dir = var/lib/lifeline\n", NULL, NULL,
	    "t.conf:4: [cluster] state_dir \"var/lib/lifeline\" is not an absolute path, expected an absolute path without . or .. components or a trailing slash, like /var/lib/app" },
	{ "mode = ha\n", "mode = ha\ntls_dir = /etc/lifeline/tls/\n", NULL, NULL,
	    "t.conf:4: [cluster] tls_dir \"/etc/lifeline/tls/\" ends with a slash, expected an absolute path without . or .. components or a trailing slash, like /var/lib/app" },
	{ "data = /var/lib/app", "data = /var//lib/app", NULL, NULL,
	    "t.conf:16: [protect] data \"/var//lib/app\" has an empty component (//), expected an absolute path without . or .. components or a trailing slash, like /var/lib/app" },
	{ "data = /var/lib/app", "data = /var/lib/./app", NULL, NULL,
	    "t.conf:16: [protect] data \"/var/lib/./app\" has a . or .. component, expected an absolute path without . or .. components or a trailing slash, like /var/lib/app" },
	{ "data = /var/lib/app", "data = /srv/x, /", NULL, NULL,
	    "t.conf:16: [protect] data \"/\" is the root directory, expected a directory below /, like /var/lib/app" },
	{ "data = /var/lib/app", "data = /var/lib/app,", NULL, NULL,
	    "t.conf:16: [protect] data \"/var/lib/app,\" has an empty item, expected a comma-separated list like a, b, c" },
	{ "service = app\n", "service = app\nservice = web, app\n", NULL, NULL,
	    "t.conf:18: [protect] service \"app\" is listed twice (first at line 17), expected it once" },
	{ "service = app\n", "service = app\nservice = web/1\n", NULL, NULL,
	    "t.conf:18: [protect] service \"web/1\" is not a valid service name, expected 1 to 64 letters, digits, '_', '.', '@' or '-'" },
	{ "service = app\n", "service = app\nexclude = *.tmp *.swp\n", NULL, NULL,
	    "t.conf:18: [protect] exclude \"*.tmp *.swp\" contains a blank, expected a glob pattern of absolute paths like /etc/app/*.dpkg-*, or of names like *.swp" },
	{ "channel = 203.0.113.1, 203.0.113.25", "channel = 203.0.113.1, 203.0.113.3, 203.0.113.4, 203.0.113.5, 203.0.113.6", NULL, NULL,
	    "t.conf:6: [node primary] channel \"203.0.113.1, 203.0.113.3, 203.0.113.4, 203.0.113.5, 203.0.113.6\" has more than 4 addresses, expected 1 to 4 channel addresses" },
	{ "channel = 203.0.113.1, 203.0.113.25", "channel = 203.0.113.1, 203.0.113.250/40", NULL, NULL,
	    "t.conf:6: [node primary] channel \"203.0.113.250/40\" has a prefix out of range, expected a prefix from 0 to 32 for IPv4" },
	{ "public = eth0 192.0.2.10/24\nmanagement = 198.51.100.11", "public = eth0 192.0.2.10\nmanagement = 198.51.100.11", NULL, NULL,
	    "t.conf:7: [node primary] public \"192.0.2.10\" has no prefix, expected ADDRESS/PREFIX like 192.0.2.10/24 or 2001:db8::10/64" },
	{ "public = eth0 192.0.2.10/24\nmanagement = 198.51.100.11", "public = 192.0.2.10/24\nmanagement = 198.51.100.11", NULL, NULL,
	    "t.conf:7: [node primary] public \"192.0.2.10/24\" is not an interface and an address, expected IFNAME ADDRESS/PREFIX like eth0 192.0.2.10/24" },
	{ "public = eth0 192.0.2.10/24\nmanagement = 198.51.100.11", "public = eth:0 192.0.2.10/24\nmanagement = 198.51.100.11", NULL, NULL,
	    "t.conf:7: [node primary] public \"eth:0 192.0.2.10/24\" has a bad interface name, expected 1 to 15 characters without '/', ':' or blanks, like eth0" },
	{ "public = eth0 192.0.2.10/24\nmanagement = 198.51.100.11", "public = eth0 192.0.2.10/24 up\nmanagement = 198.51.100.11", NULL, NULL,
	    "t.conf:7: [node primary] public \"eth0 192.0.2.10/24 up\" has more than two words, expected IFNAME ADDRESS/PREFIX like eth0 192.0.2.10/24" },
	{ "management = 198.51.100.11/24", "management = 198.51.100.11", NULL, NULL,
	    "t.conf:8: [node primary] management \"198.51.100.11\" has no prefix, expected ADDRESS/PREFIX like 192.0.2.10/24 or 2001:db8::10/64" },
	{ "", "\n[failover]\nping = 192.0.2.1, gateway\n", NULL, NULL,
	    "t.conf:23: [failover] ping \"gateway\" is not an IP address, expected gateway or addresses without a prefix like 192.0.2.1" },
	{ "", "\n[failover]\nping = 192.0.2.1, 192.0.2.1\n", NULL, NULL,
	    "t.conf:23: [failover] ping \"192.0.2.1\" is listed twice, expected each target once" },
	{ "", "\n[failover]\nping = 192.0.2.1, 192.0.2.2, 192.0.2.3, 192.0.2.4, 192.0.2.5, 192.0.2.6, 192.0.2.7, 192.0.2.8, 192.0.2.9\n", NULL, NULL,
	    "t.conf:23: [failover] ping \"192.0.2.1, 192.0.2.2, 192.0.2.3, 192.0.2.4, 192.0.2.5, 192.0.2.6, 192.0.2.7, 192.0.2.8, 192.0.2.9\" has more than 8 addresses, expected gateway or 1 to 8 addresses" },
	{ "", "start = /usr/bin/other\n", NULL, NULL,
	    "t.conf:21: [service app] start is set again (first at line 20), expected each key once" },
	{ "", "stop = signal STOP\n", NULL, NULL,
	    "t.conf:21: [service app] stop \"signal STOP\" names an unknown signal, expected signal TERM, INT, KILL, HUP, QUIT, USR1 or USR2" },
	{ "", "stop = exec\n", NULL, NULL,
	    "t.conf:21: [service app] stop \"exec\" is not a stop method, expected signal NAME (TERM, INT, KILL, HUP, QUIT, USR1, USR2) or exec COMMAND" },
	{ "", "check = tcp 192.0.2.10:0\n", NULL, NULL,
	    "t.conf:21: [service app] check \"tcp 192.0.2.10:0\" is not a TCP endpoint, expected tcp ADDRESS:PORT like tcp 192.0.2.10:8080 or tcp [2001:db8::10]:8080" },
	{ "", "check = tcp 192.0.2.10:65536\n", NULL, NULL,
	    "t.conf:21: [service app] check \"tcp 192.0.2.10:65536\" is not a TCP endpoint, expected tcp ADDRESS:PORT like tcp 192.0.2.10:8080 or tcp [2001:db8::10]:8080" },
	{ "", "check = tcp [192.0.2.10]:80\n", NULL, NULL,
	    "t.conf:21: [service app] check \"tcp [192.0.2.10]:80\" is not a TCP endpoint, expected tcp ADDRESS:PORT like tcp 192.0.2.10:8080 or tcp [2001:db8::10]:8080" },
	{ "", "check = http://192.0.2.10/\n", NULL, NULL,
	    "t.conf:21: [service app] check \"http://192.0.2.10/\" is not a check, expected pid, tcp ADDRESS:PORT, exec COMMAND or plugin NAME CHECK" },
	{ "", "check = plugin PostgreSQL query\n", NULL, NULL,
	    "t.conf:21: [service app] check \"plugin PostgreSQL query\" is not a plug-in check, expected plugin NAME CHECK, each 1 to 32 of a-z, 0-9, '_' or '-', like plugin postgresql query" },
	{ "", "check = plugin postgresql\n", NULL, NULL,
	    "t.conf:21: [service app] check \"plugin postgresql\" is not a plug-in check, expected plugin NAME CHECK, each 1 to 32 of a-z, 0-9, '_' or '-', like plugin postgresql query" },
	{ "", "actions = restart, task\n", NULL, NULL,
	    "t.conf:21: [service app] actions \"task\" is not an action, expected restart, switchover, log, ignore or task NAME" },
	{ "", "actions = restart, log now\n", NULL, NULL,
	    "t.conf:21: [service app] actions \"log now\" is not an action, expected restart, switchover, log, ignore or task NAME" },
	{ "", "actions = log, log, log, log, log, log, log, log, log\n", NULL, NULL,
	    "t.conf:21: [service app] actions \"log, log, log, log, log, log, log, log, log\" has more than 8 actions, expected 1 to 8 actions" },
	{ "", "unit = app.service\n", NULL, NULL,
	    "t.conf:21: [service app] has both start and unit, expected one: a command the engine runs, or a systemd unit" },
	{ "start = /usr/bin/app\n", "unit = postgresql@.service\n", NULL, NULL,
	    "t.conf:20: [service app] unit \"postgresql@.service\" is not a systemd unit name, expected a unit like postgresql@15-main.service" },
	{ "start = /usr/bin/app\n", "unit = app\n", NULL, NULL,
	    "t.conf:20: [service app] unit \"app\" is not a systemd unit name, expected a unit like postgresql@15-main.service" },
	{ "", "after = db\n", NULL, NULL,
	    "t.conf:21: [service app] after \"db\" is not a protected service, expected a name listed as a service in [protect]" },
	{ "", "after = app\n", NULL, NULL,
	    "t.conf:21: [service app] after names the service itself, expected the services it needs started first" },
	{ "service = app\n", "service = app, db\n",
	    "", "after = db\n[service db]\nstart = /usr/bin/db\nafter = app\n",
	    "t.conf:21: [service app] after makes a loop (app -> db -> app), expected an order the services can start in" },
	{ "service = app\n", "service = app, db, web\n",
	    "", "[service web]\nstart = /usr/bin/web\nafter = db, app\n[service db]\nstart = /usr/bin/db\nafter = web\n",
	    "t.conf:23: [service web] after makes a loop (web -> db -> web), expected an order the services can start in" },
	{ "start = /usr/bin/app\n", "start =\n", NULL, NULL,
	    "t.conf:20: [service app] start \"\" is empty, expected a command line like /usr/bin/app --flag" },

	/* structure */
	{ "", "\n[failover]\ntimout = 1s\n", NULL, NULL,
	    "t.conf:23: [failover] unknown key \"timout\", expected one of heartbeat, timeout, ping, auto" },
	{ "", "restart = always\n", NULL, NULL,
	    "t.conf:21: [service app] unknown key \"restart\", expected one of start, unit, after, stop, stop_timeout, start_timeout, check, check_interval, check_timeout, actions, window" },
	{ "", "\n[failovr]\n", NULL, NULL,
	    "t.conf:22: unknown section [failovr], expected [cluster], [node NAME], [failover], [replication], [protect] or [service NAME]" },
	{ "", "\n[node backup]\n", NULL, NULL,
	    "t.conf:22: unknown node [node backup], expected [node primary], [node secondary] or [node tertiary]" },
	{ "", "\n[node]\n", NULL, NULL,
	    "t.conf:22: [node] needs a name, expected [node primary], [node secondary] or [node tertiary]" },
	{ "", "\n[service]\n", NULL, NULL,
	    "t.conf:22: [service] needs a name, expected [service NAME]" },
	{ "", "\n[failover main]\n", NULL, NULL,
	    "t.conf:22: [failover main] takes no name, expected [failover]" },
	{ "", "\n[service a b]\n", NULL, NULL,
	    "t.conf:22: [service a b] has a bad name, expected 1 to 64 letters, digits, '_', '.', '@' or '-'" },
	{ "", "\n[service app]\nstart = /bin/true\n", NULL, NULL,
	    "t.conf:22: [service app] appears again (first at line 19), expected each section once" },
	{ "", "\n[node primary]\n", NULL, NULL,
	    "t.conf:22: [node primary] appears again (first at line 5), expected each section once" },
	{ "", "\n[cluster] ; again\n", NULL, NULL,
	    "t.conf:22: [cluster] appears again (first at line 1), expected each section once" },
	{ "", "\n[failover] heartbeat = 1s\n", NULL, NULL,
	    "t.conf:22: text after the section header [failover], expected nothing or a comment" },
	{ "", "\n[failover\n", NULL, NULL,
	    "t.conf:22: cannot parse this line, expected \"key = value\", a [section] header or a ; comment" },
	{ "", "check pid\n", NULL, NULL,
	    "t.conf:21: cannot parse this line, expected \"key = value\", a [section] header or a ; comment" },
	{ "[cluster]\n", "mode = ha\n[cluster]\n", NULL, NULL,
	    "t.conf:1: mode = ha is outside any section, expected a [section] header above it" },
	{ "mode = ha\n", "mode = ha\nmode = dr\n", NULL, NULL,
	    "t.conf:4: [cluster] mode is set again (first at line 3), expected each key once" },
	{ "[cluster]\nname = demo\nmode = ha\n", "", NULL, NULL,
	    "t.conf:0: no [cluster] section, expected one with name and mode" },
	{ "name = demo\n", "", NULL, NULL,
	    "t.conf:1: [cluster] has no name, expected a line like \"name = demo\"" },
	{ "management = 198.51.100.12/24\n", "", NULL, NULL,
	    "t.conf:10: [node secondary] has no management, expected a line like \"management = 198.51.100.11/24\"" },
	{ "start = /usr/bin/app\n", "stop = signal INT\n", NULL, NULL,
	    "t.conf:19: [service app] has no start and no unit, expected a line like \"start = /usr/bin/app\" or \"unit = app.service\"" },
	{ "channel = 203.0.113.2, 203.0.113.26\npublic = eth0 192.0.2.10/24\nmanagement = 198.51.100.12/24\n", "", NULL, NULL,
	    "t.conf:10: [node secondary] has no channel, expected a line like \"channel = 203.0.113.1\"" },

	/* modes and nodes */
	{ "mode = ha\n", "mode = ha+dr\n", NULL, NULL,
	    "t.conf:3: [cluster] mode ha+dr needs a [node tertiary] section, expected one with channel, public and management" },
	{ "", tertiary, NULL, NULL,
	    "t.conf:22: [node tertiary] is not used in mode ha, expected it only in mode ha+dr" },
	{ "mode = ha\n", "mode = dr\n", "", tertiary,
	    "t.conf:22: [node tertiary] is not used in mode dr, expected it only in mode ha+dr" },
	{ "[node secondary]\nchannel = 203.0.113.2, 203.0.113.26\npublic = eth0 192.0.2.10/24\nmanagement = 198.51.100.12/24\n", "", NULL, NULL,
	    "t.conf:3: [cluster] mode ha needs a [node secondary] section, expected one with channel, public and management" },
	{ "mode = ha\n", "mode = dr\n", NULL, NULL,
	    "t.conf:12: [node secondary] public 192.0.2.10/24 is the same as [node primary], expected a public address of its own at the DR site in mode dr" },
	{ "192.0.2.10/24\nmanagement = 198.51.100.12", "192.0.2.11/24\nmanagement = 198.51.100.12", NULL, NULL,
	    "t.conf:12: [node secondary] public 192.0.2.11/24 differs from [node primary] public 192.0.2.10/24, expected the same shared public address in mode ha" },
	{ "192.0.2.10/24\nmanagement = 198.51.100.12", "192.0.2.10/25\nmanagement = 198.51.100.12", NULL, NULL,
	    "t.conf:12: [node secondary] public 192.0.2.10/25 differs from [node primary] public 192.0.2.10/24, expected the same shared public address in mode ha" },
	{ "mode = ha\n", "mode = ha+dr\n", "", "\n[node tertiary]\nchannel = 203.0.113.10\npublic = eth0 192.0.2.10/24\nmanagement = 198.51.100.13/24\n",
	    "t.conf:24: [node tertiary] public 192.0.2.10/24 is the same as [node primary], expected a public address of its own at the DR site in mode ha+dr" },
	{ "mode = ha\n", "mode = dr\n", "192.0.2.10/24\nmanagement = 198.51.100.12", "2001:db8::10/64\nmanagement = 198.51.100.12",
	    "t.conf:12: [node secondary] public 2001:db8::10/64 is IPv6 but [node primary] public 192.0.2.10/24 is IPv4, expected one address family for every public address" },

	/* addresses */
	{ "channel = 203.0.113.2,", "channel = 203.0.113.25,", NULL, NULL,
	    "t.conf:11: [node secondary] channel 203.0.113.25 is also a channel address of [node primary], expected each channel address once" },
	{ "203.0.113.1, 203.0.113.25", "203.0.113.1, 203.0.113.1/29", NULL, NULL,
	    "t.conf:6: [node primary] channel 203.0.113.1/29 is also a channel address of [node primary], expected each channel address once" },
	{ "203.0.113.2, 203.0.113.26", "203.0.113.2, 192.0.2.99", NULL, NULL,
	    "t.conf:11: [node secondary] channel 192.0.2.99 is inside the public subnet 192.0.2.10/24 of [node primary], expected channels on networks of their own" },
	{ "203.0.113.2, 203.0.113.26", "2001:db8:c::2", NULL, NULL,
	    "t.conf:11: [node secondary] channel has no address of a family that [node primary] channel has, expected both ends of a channel in one address family" },
	{ "198.51.100.12/24", "198.51.100.11/24", NULL, NULL,
	    "t.conf:13: [node secondary] management 198.51.100.11/24 is also the management address of [node primary], expected one address per node" },
	{ "198.51.100.12/24", "192.0.2.10/24", NULL, NULL,
	    "t.conf:13: [node secondary] management 192.0.2.10/24 is the public address of [node primary], expected an address that stays with the node" },
	{ "", "\n[failover]\nping = 192.0.2.1, 2001:db8::1\n", NULL, NULL,
	    "t.conf:23: [failover] ping 2001:db8::1 is IPv6 but the public addresses are IPv4, expected targets on the public network" },

	/* timings */
	{ "", "\n[failover]\nheartbeat = 400ms\n", NULL, NULL,
	    "t.conf:23: [failover] timeout 800ms is less than 3 times heartbeat 400ms, expected at least 1200ms" },
	{ "", "\n[failover]\ntimeout = 299ms\n", NULL, NULL,
	    "t.conf:23: [failover] timeout 299ms is less than 3 times heartbeat 100ms, expected at least 300ms" },
	{ "", "\n[failover]\nheartbeat = 6148914691236517206ms\n", NULL, NULL,
	    "t.conf:23: [failover] timeout 800ms is less than 3 times heartbeat 6148914691236517206ms, expected at least 18446744073709551615ms" },
	{ "", "check_timeout = 2s\n", NULL, NULL,
	    "t.conf:21: [service app] check_timeout 2s is not shorter than check_interval 2s, expected a timeout below the interval" },
	{ "", "check_interval = 500ms\n", NULL, NULL,
	    "t.conf:21: [service app] check_timeout 1s is not shorter than check_interval 500ms, expected a timeout below the interval" },

	/* protected set */
	{ "service = app\n", "service = nginx\n", NULL, NULL,
	    "t.conf:19: [service app] is not protected: add \"service = app\" to [protect]" },
	{ "data = /var/lib/app", "data = /var/lib/lifeline/app", NULL, NULL,
	    "t.conf:16: [protect] data \"/var/lib/lifeline/app\" is inside state_dir \"/var/lib/lifeline\", expected data outside Lifeline's own state" },
	{ "data = /var/lib/app", "data = /var/lib/lifeline", NULL, NULL,
	    "t.conf:16: [protect] data \"/var/lib/lifeline\" is the state_dir \"/var/lib/lifeline\", expected data outside Lifeline's own state" },
	{ "mode = ha\n", "mode = ha\nstate_dir = /var/lib/app/.lifeline\n", NULL, NULL,
	    "t.conf:17: [protect] data \"/var/lib/app\" contains state_dir \"/var/lib/app/.lifeline\", expected data outside Lifeline's own state" },
	{ "data = /var/lib/app\n", "data = /srv/app/uploads\ndata = /srv/b, /srv/app\n", NULL, NULL,
	    "t.conf:16: [protect] data \"/srv/app/uploads\" is inside data \"/srv/app\" (line 17), expected directories that do not overlap" },
};

static void
test_bad(void **state)
{
	char err[1024];
	size_t i;

	for (i = 0; i < nitems(bad); i++) {
		char *text = edit2(bad[i].from, bad[i].to, bad[i].from2,
		    bad[i].to2);
		struct config *c;

		print_message("bad[%zu]: %s\n", i, bad[i].err);
		c = parse(text, err, sizeof(err));
		if (c != NULL)
			fail_msg("bad[%zu] accepted", i);
		assert_string_equal(err, bad[i].err);
		/* FILE:LINE: what is wrong, what is expected */
		assert_true(strncmp(err, "t.conf:", 7) == 0);
		assert_true(strstr(err, ", expected ") != NULL ||
		    strstr(err, ": add ") != NULL);
		config_free(c);
		free(text);
	}
}

/*
 * A channel on the other site's public LAN in dr: every public subnet
 * counts, not only the node's own.
 */
static void
test_channel_in_other_public(void **state)
{
	char err[512];
	char *a = edit(base, "mode = ha\n", "mode = dr\n");
	char *b = edit(a, "192.0.2.10/24\nmanagement = 198.51.100.12",
	    "198.18.0.10/24\nmanagement = 198.51.100.12");
	char *c = edit(b, "203.0.113.1, 203.0.113.25", "203.0.113.1, 198.18.0.7");

	assert_null(parse(c, err, sizeof(err)));
	assert_string_equal(err, "t.conf:6: [node primary] channel 198.18.0.7 is "
	    "inside the public subnet 198.18.0.10/24 of [node secondary], "
	    "expected channels on networks of their own");
	free(a);
	free(b);
	free(c);
}

static void
test_error_truncated(void **state)
{
	char err[12];

	memset(err, 'x', sizeof(err));
	assert_null(config_parse_string("[nope]\n", "t.conf", err, sizeof(err)));
	assert_string_equal(err, "t.conf:1: u");
	assert_null(config_parse_string("[nope]\n", "t.conf", err, 0));
}

static void
test_long_line(void **state)
{
	char err[512], line[CONFIG_MAX_LINE + 2];
	char *text, *ok;
	struct config *c;

	/* A line of exactly CONFIG_MAX_LINE characters passes... */
	memset(line, 'x', sizeof(line));
	memcpy(line, "start = /", 9);
	line[CONFIG_MAX_LINE] = '\0';
	ok = edit(base, "start = /usr/bin/app", line);
	c = parse(ok, err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	assert_int_equal(strlen(c->services[0].start), CONFIG_MAX_LINE - 8);
	config_free(c);

	/* ...and one more is refused, not split in two. */
	line[CONFIG_MAX_LINE] = 'x';
	line[CONFIG_MAX_LINE + 1] = '\0';
	text = edit(base, "start = /usr/bin/app", line);
	assert_null(parse(text, err, sizeof(err)));
	assert_string_equal(err, "t.conf:20: line is 198 characters long, "
	    "expected at most 197");
	free(text);
	free(ok);
}

static void
test_round_trip(void **state)
{
	char err[512];
	char *text = edit2("mode = ha\n", "mode = ha+dr\n", "", tertiary);
	char *more = edit(text, "start = /usr/bin/app\n", "start = /usr/bin/app\n"
	    "check = tcp [2001:db8::10]:8080\n"
	    "stop = exec /bin/kill -TERM 1\nactions = task a, log\n"
	    "\n[replication]\nqueue = 1536MiB\nbandwidth = 1000000\n");
	char *first = NULL, *second = NULL;
	size_t n1, n2;
	struct config *c1, *c2;
	FILE *f;

	c1 = parse(more, err, sizeof(err));
	if (c1 == NULL)
		fail_msg("%s", err);
	f = open_memstream(&first, &n1);
	config_print(f, c1);
	fclose(f);
	c2 = parse(first, err, sizeof(err));
	if (c2 == NULL)
		fail_msg("printed text refused: %s\n%s", err, first);
	f = open_memstream(&second, &n2);
	config_print(f, c2);
	fclose(f);
	assert_string_equal(first, second);
	assert_string_equal(c1->hash, c2->hash);
	assert_non_null(strstr(first, "\nqueue = 1536MiB\n"));
	assert_non_null(strstr(first, "\nbandwidth = 1MB\n"));
	assert_non_null(strstr(first, "\nactions = task a, log\n"));
	assert_non_null(strstr(first, "\ncheck = tcp [2001:db8::10]:8080\n"));
	config_free(c1);
	config_free(c2);
	free(first);
	free(second);
	free(text);
	free(more);
}

static void
sha256_hex(const char *text, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n, i;

	assert_int_equal(EVP_Digest(text, len, md, &n, EVP_sha256(), NULL), 1);
	assert_int_equal(n, 32);
	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

static char *
hash_of(const char *text)
{
	char err[512];
	struct config *c = parse(text, err, sizeof(err));
	char *h;

	if (c == NULL)
		fail_msg("%s", err);
	h = xstrdup(c->hash);
	config_free(c);
	return h;
}

static void
test_hash(void **state)
{
	char err[512], want[65];
	struct config *c = parse(base, err, sizeof(err));
	char *printed = NULL, *h1, *h2;
	size_t len, i;
	FILE *f;
	/* Same configuration, written differently: same hash. */
	char *same = edit(base, "", "; defaults spelt out\n"
	    "stop = signal SIGTERM\nwindow = 600s\n\n[failover]\n"
	    "timeout=0.8s\nauto = true\n\n[replication]\nqueue = 1024MiB\n");
	/* One value changed: another hash. */
	char *other = edit(base, "", "\n[failover]\nheartbeat = 200ms\n");

	assert_non_null(c);
	assert_int_equal(strlen(c->hash), 64);
	for (i = 0; i < 64; i++)
		assert_non_null(strchr("0123456789abcdef", c->hash[i]));
	f = open_memstream(&printed, &len);
	config_print(f, c);
	fclose(f);
	sha256_hex(printed, len, want);
	assert_string_equal(c->hash, want);

	h1 = hash_of(base);
	assert_string_equal(h1, c->hash);
	h2 = hash_of(same);
	assert_string_equal(h2, c->hash);
	free(h2);
	h2 = hash_of(other);
	assert_string_not_equal(h2, c->hash);
	free(h2);

	free(h1);
	free(same);
	free(other);
	free(printed);
	config_free(c);
}

static char *
temp_file(const char *content, size_t len)
{
	char *path = xstrdup("/tmp/lifeline-test-XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	close(fd);
	return path;
}

static void
test_load(void **state)
{
	char err[512], *path, *want;
	struct config *c;

	assert_null(config_load("/nonexistent/lifeline.conf", err, sizeof(err)));
	assert_string_equal(err, "/nonexistent/lifeline.conf: cannot open: "
	    "No such file or directory");
	assert_null(config_load("/", err, sizeof(err)));
	assert_string_equal(err, "/: cannot open: Is a directory");

	path = temp_file(base, strlen(base));
	c = config_load(path, err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	assert_string_equal(c->path, path);
	config_free(c);
	unlink(path);
	free(path);

	path = temp_file("[cluster]\nname = a\0b\n", 21);
	assert_null(config_load(path, err, sizeof(err)));
	want = xasprintf("%s:2: contains a NUL byte, expected a text file", path);
	assert_string_equal(err, want);
	free(want);
	unlink(path);
	free(path);

	path = temp_file("\xef\xbb\xbf[cluster]\nname = demo\n", 25);
	assert_null(config_load(path, err, sizeof(err)));
	want = xasprintf("%s:1: [cluster] has no mode, expected a line like "
	    "\"mode = ha\"", path);
	assert_string_equal(err, want);
	free(want);
	unlink(path);
	free(path);
}

static void
test_identity(void **state)
{
	static const struct {
		const char	*content;	/* NULL: no file */
		int		 id;
		const char	*err;		/* after "PATH: " */
	} t[] = {
		{ "primary", NODE_PRIMARY, NULL },
		{ "secondary\n", NODE_SECONDARY, NULL },
		{ "  \ttertiary \r\n\n", NODE_TERTIARY, NULL },
		{ "", -1, "empty, expected one word: primary, secondary or tertiary" },
		{ " \n\n", -1, "empty, expected one word: primary, secondary or tertiary" },
		{ "primary secondary\n", -1, "more than one word, expected one word: primary, secondary or tertiary" },
		{ "Primary\n", -1, "unknown identity \"Primary\", expected primary, secondary or tertiary" },
		{ "boss\n", -1, "unknown identity \"boss\", expected primary, secondary or tertiary" },
		{ NULL, -1, "cannot open: No such file or directory" },
	};
	char err[512], *want;
	size_t i;

	for (i = 0; i < nitems(t); i++) {
		char *path = t[i].content ? temp_file(t[i].content,
		    strlen(t[i].content)) : xstrdup("/nonexistent/identity");

		print_message("identity \"%s\"\n", t[i].content ? t[i].content : "(none)");
		err[0] = '\0';
		assert_int_equal(identity_load(NULL, path, err, sizeof(err)),
		    t[i].id);
		if (t[i].err != NULL) {
			want = xasprintf("%s: %s", path, t[i].err);
			assert_string_equal(err, want);
			free(want);
		}
		if (t[i].content)
			unlink(path);
		free(path);
	}
	assert_int_equal(identity_load("tertiary", "/nonexistent", err,
	    sizeof(err)), NODE_TERTIARY);
	assert_int_equal(identity_load("quaternary", NULL, err, sizeof(err)), -1);
	assert_string_equal(err, "--identity: unknown identity \"quaternary\", "
	    "expected primary, secondary or tertiary");
}

static void
test_names(void **state)
{
	static const struct {
		enum cluster_mode mode;
		bool		 has[NODE_COUNT];
	} t[] = {
		{ MODE_HA, { true, true, false } },
		{ MODE_DR, { true, true, false } },
		{ MODE_HA_DR, { true, true, true } },
	};
	size_t i, j;

	for (i = 0; i < nitems(t); i++) {
		for (j = 0; j < NODE_COUNT; j++)
			assert_int_equal(config_mode_has(t[i].mode, j), t[i].has[j]);
	}
	assert_string_equal(mode_name(MODE_HA), "ha");
	assert_string_equal(mode_name(MODE_DR), "dr");
	assert_string_equal(mode_name(MODE_HA_DR), "ha+dr");
	assert_string_equal(repl_mode_name(REPL_FSYNC), "fsync");
	for (j = 0; j < NODE_COUNT; j++)
		assert_int_equal(node_from_name(node_name(j)), (int)j);
	assert_int_equal(node_from_name("Primary"), -1);
	assert_int_equal(node_from_name(""), -1);
}

/* The replication chain for each mode and active node. */
static void
test_chain(void **state)
{
	static const struct {
		enum cluster_mode mode;
		enum node_id	 active;
		size_t		 n;
		enum node_id	 chain[NODE_COUNT];
	} t[] = {
		{ MODE_HA, NODE_PRIMARY, 2, { NODE_PRIMARY, NODE_SECONDARY } },
		{ MODE_HA, NODE_SECONDARY, 2, { NODE_SECONDARY, NODE_PRIMARY } },
		{ MODE_HA, NODE_TERTIARY, 0, { 0 } },
		{ MODE_DR, NODE_SECONDARY, 2, { NODE_SECONDARY, NODE_PRIMARY } },
		{ MODE_HA_DR, NODE_PRIMARY, 3, { NODE_PRIMARY, NODE_SECONDARY, NODE_TERTIARY } },
		{ MODE_HA_DR, NODE_SECONDARY, 3, { NODE_SECONDARY, NODE_PRIMARY, NODE_TERTIARY } },
		{ MODE_HA_DR, NODE_TERTIARY, 3, { NODE_TERTIARY, NODE_PRIMARY, NODE_SECONDARY } },
	};

	for (size_t i = 0; i < nitems(t); i++) {
		enum node_id chain[NODE_COUNT];
		size_t n = config_chain(t[i].mode, t[i].active, chain);

		assert_int_equal(n, t[i].n);
		for (size_t j = 0; j < n; j++)
			assert_int_equal(chain[j], t[i].chain[j]);
	}
}

/* The CLI finds a running engine's state_dir even in a broken file. */
static void
test_peek_state_dir(void **state)
{
	static const struct {
		const char *text;       /* NULL: no file */
		const char *want;
	} t[] = {
		{ NULL, STATE_DIR_DEFAULT },
		{ "[cluster]\nname = x\n", STATE_DIR_DEFAULT },
		{ "[cluster]\nstate_dir = /srv/ll\nmode = nonsense\nbogus = 1\n", "/srv/ll" },
		{ "[node primary]\nstate_dir = /elsewhere\n", STATE_DIR_DEFAULT },
		{ "[cluster]\nstate_dir = relative/dir\n", STATE_DIR_DEFAULT },
		{ "garbage without sections\n[cluster]\nstate_dir = /srv/x ; note\n", "/srv/x" },
	};
	char path[] = "/tmp/lifeline-test-peek-XXXXXX";
	int fd = mkstemp(path);
	size_t i;

	assert_true(fd >= 0);
	close(fd);
	for (i = 0; i < nitems(t); i++) {
		char *dir;

		if (t[i].text == NULL)
			unlink(path);
		else
			assert_int_equal(write_file_atomic(path, t[i].text,
			    strlen(t[i].text), 0600), 0);
		dir = config_peek_state_dir(path);
		if (strcmp(dir, t[i].want) != 0)
			fail_msg("row %zu: got %s, want %s", i, dir, t[i].want);
		free(dir);
	}
	unlink(path);
}

/*
 * Every key of the table is documented under its own section of
 * lifeline.conf(5) as ".It Cm KEY ...", so the page cannot fall behind.
 */
static void
test_man_page(void **state)
{
	const char *top = getenv("LIFELINE_SOURCE_DIR");
	const char *section, *key;
	char *path, *page;
	size_t i;

	if (top == NULL)
		top = ".";
	path = xasprintf("%s/docs/lifeline.conf.5", top);
	page = read_file(path, 1 << 20, NULL);
	if (page == NULL)
		fail_msg("%s: %s (set LIFELINE_SOURCE_DIR)", path, strerror(errno));
	for (i = 0; (key = config_key(i, &section)) != NULL; i++) {
		char *hdr = xasprintf("\n.Ss \"[%s", section);
		char *item = xasprintf("\n.It Cm %s", key);
		const char *start = strstr(page, hdr), *end, *at;

		print_message("[%s] %s\n", section, key);
		if (start == NULL)
			fail_msg("%s: no subsection for [%s]", path, section);
		start += strlen(hdr);
		end = strstr(start, "\n.Ss ");
		if (end == NULL || (strstr(start, "\n.Sh ") != NULL &&
		    strstr(start, "\n.Sh ") < end))
			end = strstr(start, "\n.Sh ");
		if (end == NULL)
			end = start + strlen(start);
		/* ".It Cm KEY" alone or followed by its argument. */
		for (at = strstr(start, item); at != NULL && at < end;
		    at = strstr(at + 1, item)) {
			char next = at[strlen(item)];

			if (next == ' ' || next == '\n')
				break;
		}
		if (at == NULL || at >= end)
			fail_msg("%s: [%s] %s is not documented", path, section, key);
		free(hdr);
		free(item);
	}
	assert_true(i >= 27);
	free(page);
	free(path);
}

/* Write text to dir/name (dir/plugins made as needed). */
static void
put(const char *dir, const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f;

	mkdir_p(dir, 0700);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	free(path);
}

/*
 * Installed plug-ins' fragments (STATE_DIR/plugins/NAME.conf) add to
 * [protect] and add [service NAME] sections; what the file protects
 * already is not added twice; a fragment's error names the fragment; a
 * parsed string never reads fragments.
 */
static void
test_plugin_fragments(void **state)
{
	char *dir = tmpdir(), *plugins = xasprintf("%s/plugins", dir);
	char *with_dir = xasprintf("name = demo\nstate_dir = %s\n", dir);
	char *full = edit(base, "name = demo\n", with_dir);
	char *conf_path = xasprintf("%s/lifeline.conf", dir), err[512];
	const char *frag = "; written by lifeline plugin install\n"
	    "[protect]\ndata = /var/lib/app\ndata = /var/lib/pg\nconfig = /etc/pg\n"
	    "service = pg\n\n[service pg]\nstart = /usr/bin/pg\n"
	    "check = plugin pg query\n";
	struct config *c;

	put(dir, "lifeline.conf", full);
	put(plugins, "pg.conf", frag);
	put(plugins, ".staged.conf", "[cluster]\n");     /* hidden files are not read */

	c = config_load(conf_path, err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	assert_int_equal(c->protect_data.n, 2);             /* /var/lib/app once */
	assert_string_equal(c->protect_data.v[1], "/var/lib/pg");
	assert_string_equal(c->protect_config.v[0], "/etc/pg");
	assert_non_null(config_service(c, "pg"));
	assert_int_equal(config_service(c, "pg")->check_kind, CHECK_PLUGIN);
	config_free(c);

	c = config_parse_string(full, "t.conf", err, sizeof(err));
	assert_non_null(c);
	assert_null(config_service(c, "pg"));
	config_free(c);

	put(plugins, "pg.conf", "[cluster]\nname = other\n");
	assert_null(config_load(conf_path, err, sizeof(err)));
	assert_non_null(strstr(err, "/plugins/pg.conf:1: [cluster] in a plug-in's fragment, "
	    "expected only [protect] and [service NAME] there"));

	put(plugins, "pg.conf", "[protect]\nservice = app\n[service app]\nstart = x\n");
	assert_null(config_load(conf_path, err, sizeof(err)));
	assert_non_null(strstr(err, "/plugins/pg.conf:3: [service app] appears again"));
	rm_rf(dir);
	free(dir);
	free(plugins);
	free(with_dir);
	free(full);
	free(conf_path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base_parses),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_values_set),
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_channel_in_other_public),
		cmocka_unit_test(test_error_truncated),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_chain),
		cmocka_unit_test(test_peek_state_dir),
		cmocka_unit_test(test_man_page),
		cmocka_unit_test(test_plugin_fragments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
