/*
 * lifeline.conf: the key table, loading through inih with a reader that
 * counts lines, validation with FILE:LINE messages, the normalized text and
 * its hash. The key table is the one list of keys: parsing, defaults,
 * printing and the man page check all walk it.
 */
#include "common/config.h"
#include "common/log.h"
#include "common/util.h"

#include <dirent.h>
#include <errno.h>
#include <ini.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define CONFIG_MAX_SIZE		(1024 * 1024)
#define CLUSTER_NAME_MAX	32
#define SERVICE_NAME_MAX	64
#define IDENTITY_MAX_SIZE	4096

#define K_REQUIRED	0x1	/* the section is incomplete without it */
#define K_REPEAT	0x2	/* every occurrence appends (a struct strlist) */
#define K_OPTIONAL	0x4	/* a string that may be unset: not printed then */

enum sect {
	SECT_NONE,
	SECT_CLUSTER,
	SECT_NODE,
	SECT_FAILOVER,
	SECT_REPLICATION,
	SECT_PROTECT,
	SECT_SERVICE,
	SECT_COUNT
};

static const struct {
	const char	*word;
	bool		 named;		/* [node NAME], [service NAME] */
} sects[SECT_COUNT] = {
	[SECT_NONE] =		{ "", false },
	[SECT_CLUSTER] =	{ "cluster", false },
	[SECT_NODE] =		{ "node", true },
	[SECT_FAILOVER] =	{ "failover", false },
	[SECT_REPLICATION] =	{ "replication", false },
	[SECT_PROTECT] =	{ "protect", false },
	[SECT_SERVICE] =	{ "service", true },
};

static const char *const node_names[] = {
	"primary", "secondary", "tertiary", NULL
};
static const char *const mode_names[] = { "ha", "dr", "ha+dr", NULL };
static const char *const repl_names[] = { "async", "fsync", "sync", NULL };
static const char *const compress_names[] = { "off", "zstd", "auto", NULL };

static const struct {
	const char	*name;
	int		 signo;
} stop_signals[] = {
	{ "TERM", SIGTERM }, { "INT", SIGINT }, { "KILL", SIGKILL },
	{ "HUP", SIGHUP }, { "QUIT", SIGQUIT }, { "USR1", SIGUSR1 },
	{ "USR2", SIGUSR2 },
};

static const char *const action_names[] = {
	[ACTION_RESTART] = "restart",
	[ACTION_SWITCHOVER] = "switchover",
	[ACTION_LOG] = "log",
	[ACTION_TASK] = "task",
	[ACTION_IGNORE] = "ignore",
};

struct parser;
struct keydef;

typedef int	key_set(struct parser *, const struct keydef *, void *,
		    const char *);
typedef void	key_show(FILE *, const struct keydef *, const void *);
typedef const char *item_check(const char *, const char **);

struct keydef {
	enum sect	 sect;
	const char	*name;
	int		 flags;
	const char	*defval;	/* set as if read from the file */
	const char	*example;	/* a whole line, for a missing required key */
	key_set		*set;
	key_show	*show;
	size_t		 off;		/* the field in the section's struct */
	uint64_t	 min;		/* durations and sizes */
	const void	*arg;		/* enum names, or a list item check */
};

static key_set set_name, set_enum, set_path, set_duration, set_size,
    set_rate, set_bool, set_channel, set_public, set_addr, set_ping,
    set_list, set_cmd, set_unit, set_stop, set_check, set_actions;
static key_show show_str, show_enum, show_duration, show_size, show_bool,
    show_channel, show_public, show_addr, show_ping, show_list, show_stop,
    show_check, show_actions;
static item_check check_data, check_config, check_service_name,
    check_pattern;

#define CL(f)	offsetof(struct config, f)
#define ND(f)	offsetof(struct node_conf, f)
#define SV(f)	offsetof(struct service_conf, f)

/*
 * Every key, in the order config_print() writes them. A default is a string
 * parsed by the key's own setter, so a default can never be a value the
 * file could not hold.
 */
static const struct keydef keys[] = {
	{ SECT_CLUSTER, "name", K_REQUIRED, NULL, "name = demo",
	    set_name, show_str, CL(name), 0, NULL },
	{ SECT_CLUSTER, "mode", K_REQUIRED, NULL, "mode = ha",
	    set_enum, show_enum, CL(mode), 0, mode_names },
	{ SECT_CLUSTER, "state_dir", 0, STATE_DIR_DEFAULT, NULL,
	    set_path, show_str, CL(state_dir), 0, NULL },
	{ SECT_CLUSTER, "tls_dir", 0, "/etc/lifeline/tls", NULL,
	    set_path, show_str, CL(tls_dir), 0, NULL },

	{ SECT_NODE, "channel", K_REQUIRED, NULL, "channel = 203.0.113.1",
	    set_channel, show_channel, 0, 0, NULL },
	{ SECT_NODE, "public", K_REQUIRED, NULL, "public = eth0 192.0.2.10/24",
	    set_public, show_public, 0, 0, NULL },
	{ SECT_NODE, "management", K_REQUIRED, NULL,
	    "management = 198.51.100.11/24",
	    set_addr, show_addr, ND(management), 0, NULL },

	{ SECT_FAILOVER, "heartbeat", 0, "100ms", NULL,
	    set_duration, show_duration, CL(heartbeat_ms), 10, NULL },
	{ SECT_FAILOVER, "timeout", 0, "800ms", NULL,
	    set_duration, show_duration, CL(timeout_ms), 1, NULL },
	{ SECT_FAILOVER, "ping", 0, "gateway", NULL,
	    set_ping, show_ping, 0, 0, NULL },
	{ SECT_FAILOVER, "auto", 0, "yes", NULL,
	    set_bool, show_bool, CL(auto_failover), 0, NULL },

	{ SECT_REPLICATION, "mode", 0, "async", NULL,
	    set_enum, show_enum, CL(repl_mode), 0, repl_names },
	{ SECT_REPLICATION, "queue", 0, "1GiB", NULL,
	    set_size, show_size, CL(queue_bytes), 16ULL << 20, NULL },
	{ SECT_REPLICATION, "compress", 0, "auto", NULL,
	    set_enum, show_enum, CL(compress), 0, compress_names },
	{ SECT_REPLICATION, "bandwidth", 0, "0", NULL,
	    set_rate, show_size, CL(bandwidth), 0, NULL },

	{ SECT_PROTECT, "data", K_REPEAT, NULL, NULL,
	    set_list, show_list, CL(protect_data), 0, check_data },
	{ SECT_PROTECT, "config", K_REPEAT, NULL, NULL,
	    set_list, show_list, CL(protect_config), 0, check_config },
	{ SECT_PROTECT, "service", K_REPEAT, NULL, NULL,
	    set_list, show_list, CL(protect_service), 0, check_service_name },
	{ SECT_PROTECT, "exclude", K_REPEAT, NULL, NULL,
	    set_list, show_list, CL(protect_exclude), 0, check_pattern },

	{ SECT_SERVICE, "start", K_OPTIONAL, NULL, "start = /usr/bin/app",
	    set_cmd, show_str, SV(start), 0, NULL },
	{ SECT_SERVICE, "unit", K_OPTIONAL, NULL, "unit = app.service",
	    set_unit, show_str, SV(unit), 0, NULL },
	{ SECT_SERVICE, "after", K_REPEAT, NULL, NULL,
	    set_list, show_list, SV(after), 0, check_service_name },
	{ SECT_SERVICE, "stop", 0, "signal TERM", NULL,
	    set_stop, show_stop, 0, 0, NULL },
	{ SECT_SERVICE, "stop_timeout", 0, "10s", NULL,
	    set_duration, show_duration, SV(stop_timeout_ms), 1, NULL },
	{ SECT_SERVICE, "start_timeout", 0, "60s", NULL,
	    set_duration, show_duration, SV(start_timeout_ms), 1, NULL },
	{ SECT_SERVICE, "check", 0, "pid", NULL,
	    set_check, show_check, 0, 0, NULL },
	{ SECT_SERVICE, "check_interval", 0, "2s", NULL,
	    set_duration, show_duration, SV(check_interval_ms), 1, NULL },
	{ SECT_SERVICE, "check_timeout", 0, "1s", NULL,
	    set_duration, show_duration, SV(check_timeout_ms), 1, NULL },
	{ SECT_SERVICE, "actions", 0, "restart, restart, switchover", NULL,
	    set_actions, show_actions, 0, 0, NULL },
	{ SECT_SERVICE, "window", 0, "10m", NULL,
	    set_duration, show_duration, SV(window_ms), 1, NULL },
};

#define NKEYS	nitems(keys)

/* The keys seen in one section, by index in keys[]. */
struct sectstate {
	int		 line;		/* of the header; 0 when absent */
	int		 keyline[NKEYS];
};

struct lines {
	int		*v;
	size_t		 n;
};

struct parser {
	struct config	*conf;
	const char	*name;		/* FILE in messages */
	const char	*text;
	size_t		 len;
	size_t		 off;
	int		 lineno;

	char		*err;
	size_t		 errlen;
	int		 errline;
	bool		 failed;

	bool		 fragment;	/* reading a plug-in's fragment (config_load) */
	enum sect	 sect;		/* the section being read */
	void		*obj;		/* what its keys fill in */
	struct sectstate *cur;
	char		 label[SERVICE_NAME_MAX + 16];

	struct sectstate single[SECT_COUNT];	/* the unnamed sections */
	struct sectstate node[NODE_COUNT];
	struct sectstate *svc;			/* one per conf->services */
	struct lines	 itemline[NKEYS];	/* line of each list item */
};

static int fail(struct parser *, int, const char *, ...)
    __attribute__((format(printf, 3, 4)));

/* Record the first error only; later ones are consequences. */
static int
fail(struct parser *p, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->failed)
		return -1;
	p->failed = true;
	p->errline = line;
	n = snprintf(p->err, p->errlen, "%s:%d: ", p->name, line);
	if (n >= 0 && (size_t)n < p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int
badval(struct parser *p, const struct keydef *k, const char *val,
    const char *problem, const char *expected)
{
	return fail(p, p->lineno, "%s %s \"%s\" %s, %s", p->label, k->name,
	    val, problem, expected);
}

static size_t
key_index(enum sect s, const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		if (keys[i].sect == s && strcmp(keys[i].name, name) == 0)
			return i;
	}
	fatalx("config: no key %s in section %s", name, sects[s].word);
}

/* "a, b and c" from the keys of section s that have all the flags in mask. */
static void
join_keys(enum sect s, int mask, const char *last, char *buf, size_t len)
{
	size_t i, n = 0, total = 0, at = 0;

	for (i = 0; i < NKEYS; i++) {
		if (keys[i].sect == s && (keys[i].flags & mask) == mask)
			total++;
	}
	buf[0] = '\0';
	for (i = 0; i < NKEYS; i++) {
		if (keys[i].sect != s || (keys[i].flags & mask) != mask)
			continue;
		n++;
		at += (size_t)snprintf(buf + at, at < len ? len - at : 0, "%s%s",
		    n == 1 ? "" : n == total ? last : ", ", keys[i].name);
	}
}

/* "ha, dr or ha+dr" from a NULL-terminated list of words. */
static void
join_words(const char *const *w, char *buf, size_t len)
{
	size_t i, at = 0;

	buf[0] = '\0';
	for (i = 0; w[i] != NULL; i++) {
		at += (size_t)snprintf(buf + at, at < len ? len - at : 0, "%s%s",
		    i == 0 ? "" : w[i + 1] == NULL ? " or " : ", ", w[i]);
	}
}

static bool
valid_name(const char *s, size_t max, const char *extra)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > max)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr(extra, c) != NULL))
			return false;
	}
	return true;
}

/*
 * A path the engine can compare as a string: absolute, and no ".", ".." or
 * empty component and no trailing slash, so one directory has one spelling
 * and "inside" is a prefix test.
 */
static const char *
path_problem(const char *s)
{
	const char *c, *e;

	if (s[0] != '/')
		return "is not an absolute path";
	if (s[1] == '\0')
		return NULL;
	for (c = s + 1;; c = e + 1) {
		e = strchrnul(c, '/');
		if (e == c)
			return *e == '\0' ? "ends with a slash" :
			    "has an empty component (//)";
		if ((e - c == 1 && c[0] == '.') ||
		    (e - c == 2 && c[0] == '.' && c[1] == '.'))
			return "has a . or .. component";
		if (*e == '\0')
			return NULL;
	}
}

#define PATH_EXPECTED \
	"expected an absolute path without . or .. components or a trailing " \
	"slash, like /var/lib/app"

static bool
path_inside(const char *child, const char *parent)
{
	size_t n = strlen(parent);

	if (strcmp(parent, "/") == 0)
		return strcmp(child, "/") != 0;
	return strncmp(child, parent, n) == 0 && child[n] == '/';
}

static void *
field(void *obj, const struct keydef *k)
{
	return (char *)obj + k->off;
}

static const void *
cfield(const void *obj, const struct keydef *k)
{
	return (const char *)obj + k->off;
}

static int
set_name(struct parser *p, const struct keydef *k, void *obj, const char *val)
{
	char **dst = field(obj, k);

	if (!valid_name(val, CLUSTER_NAME_MAX, "_.-"))
		return badval(p, k, val, "is not a valid name",
		    "expected 1 to 32 letters, digits, '_', '.' or '-'");
	free(*dst);
	*dst = xstrdup(val);
	return 0;
}

static int
set_enum(struct parser *p, const struct keydef *k, void *obj, const char *val)
{
	const char *const *names = k->arg;
	char words[128], expected[160];
	int i;

	for (i = 0; names[i] != NULL; i++) {
		if (strcmp(val, names[i]) == 0) {
			*(int *)field(obj, k) = i;
			return 0;
		}
	}
	join_words(names, words, sizeof(words));
	snprintf(expected, sizeof(expected), "expected %s", words);
	return badval(p, k, val, "is not a known value", expected);
}

static int
set_path(struct parser *p, const struct keydef *k, void *obj, const char *val)
{
	char **dst = field(obj, k);
	const char *problem = path_problem(val);

	if (problem != NULL)
		return badval(p, k, val, problem, PATH_EXPECTED);
	free(*dst);
	*dst = xstrdup(val);
	return 0;
}

static int
set_duration(struct parser *p, const struct keydef *k, void *obj,
    const char *val)
{
	char min[32], expected[64];
	uint64_t ms;

	if (parse_duration_ms(val, &ms) == -1)
		return badval(p, k, val, values_problem(), values_error());
	if (ms < k->min) {
		snprintf(expected, sizeof(expected), "expected at least %s",
		    format_duration(k->min, min, sizeof(min)));
		return badval(p, k, val, "is too short", expected);
	}
	*(uint64_t *)field(obj, k) = ms;
	return 0;
}

static int
set_size(struct parser *p, const struct keydef *k, void *obj, const char *val)
{
	char min[32], expected[64];
	uint64_t bytes;

	if (parse_size(val, &bytes) == -1)
		return badval(p, k, val, values_problem(), values_error());
	if (bytes < k->min) {
		snprintf(expected, sizeof(expected), "expected at least %s",
		    format_size(k->min, min, sizeof(min)));
		return badval(p, k, val, "is too small", expected);
	}
	*(uint64_t *)field(obj, k) = bytes;
	return 0;
}

/* A size per second: "10MB" or "10MB/s". */
static int
set_rate(struct parser *p, const struct keydef *k, void *obj, const char *val)
{
	size_t n = strlen(val);
	uint64_t bytes;
	char *copy;
	int rc;

	if (n < 2 || strcmp(val + n - 2, "/s") != 0)
		return set_size(p, k, obj, val);
	copy = xstrdup(val);
	copy[n - 2] = '\0';
	rc = parse_size(copy, &bytes);
	free(copy);
	if (rc == -1)
		return badval(p, k, val, values_problem(), values_error());
	*(uint64_t *)field(obj, k) = bytes;
	return 0;
}

static int
set_bool(struct parser *p, const struct keydef *k, void *obj, const char *val)
{
	if (parse_bool(val, field(obj, k)) == -1)
		return badval(p, k, val, values_problem(), values_error());
	return 0;
}

static int
set_channel(struct parser *p, const struct keydef *k, void *obj,
    const char *val)
{
	struct node_conf *n = obj;
	struct strlist items = { NULL, 0 };
	struct ipaddr a[CONFIG_MAX_CHANNELS];
	size_t i;
	int rc = -1;

	if (strlist_split(val, &items) == -1) {
		badval(p, k, val, values_problem(), values_error());
		goto out;
	}
	if (items.n > CONFIG_MAX_CHANNELS) {
		badval(p, k, val, "has more than 4 addresses",
		    "expected 1 to 4 channel addresses");
		goto out;
	}
	for (i = 0; i < items.n; i++) {
		if (parse_ipaddr(items.v[i], 0, &a[i]) == -1) {
			badval(p, k, items.v[i], values_problem(),
			    values_error());
			goto out;
		}
	}
	memcpy(n->channels, a, items.n * sizeof(a[0]));
	n->nchannels = items.n;
	rc = 0;
out:
	strlist_free(&items);
	return rc;
}

/*
 * Linux's own rule for interface names (dev_valid_name): shorter than
 * IF_NAMESIZE, not "." or "..", no '/', ':' or blank.
 */
static bool
valid_ifname(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n >= IF_NAMESIZE)
		return false;
	if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] == '/' || s[i] == ':' || s[i] == ' ' || s[i] == '\t')
			return false;
	}
	return true;
}

static int
set_public(struct parser *p, const struct keydef *k, void *obj,
    const char *val)
{
	struct node_conf *n = obj;
	const char *sp = strpbrk(val, " \t"), *addr;
	struct ipaddr a;
	size_t iflen;

	if (sp == NULL)
		return badval(p, k, val, "is not an interface and an address",
		    "expected IFNAME ADDRESS/PREFIX like eth0 192.0.2.10/24");
	iflen = (size_t)(sp - val);
	addr = sp + strspn(sp, " \t");
	if (strpbrk(addr, " \t") != NULL)
		return badval(p, k, val, "has more than two words",
		    "expected IFNAME ADDRESS/PREFIX like eth0 192.0.2.10/24");
	if (!valid_ifname(val, iflen))
		return badval(p, k, val, "has a bad interface name",
		    "expected 1 to 15 characters without '/', ':' or blanks, like eth0");
	if (parse_ipaddr(addr, 1, &a) == -1)
		return badval(p, k, addr, values_problem(), values_error());
	memcpy(n->public_if, val, iflen);
	n->public_if[iflen] = '\0';
	n->public_addr = a;
	return 0;
}

static int
set_addr(struct parser *p, const struct keydef *k, void *obj, const char *val)
{
	if (parse_ipaddr(val, 1, field(obj, k)) == -1)
		return badval(p, k, val, values_problem(), values_error());
	return 0;
}

static int
set_ping(struct parser *p, const struct keydef *k, void *obj, const char *val)
{
	struct config *c = obj;
	struct strlist items = { NULL, 0 };
	struct ipaddr a[CONFIG_MAX_PING];
	size_t i, j;
	int rc = -1;

	if (strcmp(val, "gateway") == 0) {
		c->nping = 0;
		return 0;
	}
	if (strlist_split(val, &items) == -1) {
		badval(p, k, val, values_problem(), values_error());
		goto out;
	}
	if (items.n > CONFIG_MAX_PING) {
		badval(p, k, val, "has more than 8 addresses",
		    "expected gateway or 1 to 8 addresses");
		goto out;
	}
	for (i = 0; i < items.n; i++) {
		if (parse_ipaddr(items.v[i], -1, &a[i]) == -1) {
			badval(p, k, items.v[i], values_problem(),
			    "expected gateway or addresses without a prefix like 192.0.2.1");
			goto out;
		}
		for (j = 0; j < i; j++) {
			if (ipaddr_equal(&a[i], &a[j])) {
				badval(p, k, items.v[i], "is listed twice",
				    "expected each target once");
				goto out;
			}
		}
	}
	memcpy(c->ping, a, items.n * sizeof(a[0]));
	c->nping = items.n;
	rc = 0;
out:
	strlist_free(&items);
	return rc;
}

static const char *
check_data(const char *s, const char **expected)
{
	const char *problem = path_problem(s);

	*expected = PATH_EXPECTED;
	if (problem == NULL && strcmp(s, "/") == 0) {
		*expected = "expected a directory below /, like /var/lib/app";
		return "is the root directory";
	}
	return problem;
}

static const char *
check_config(const char *s, const char **expected)
{
	*expected = PATH_EXPECTED;
	return path_problem(s);
}

static const char *
check_service_name(const char *s, const char **expected)
{
	*expected = "expected 1 to 64 letters, digits, '_', '.', '@' or '-'";
	return valid_name(s, SERVICE_NAME_MAX, "_.@-") ? NULL :
	    "is not a valid service name";
}

static const char *
check_pattern(const char *s, const char **expected)
{
	*expected = "expected a glob pattern of absolute paths like /etc/app/*.dpkg-*, or of "
	    "names like *.swp";
	if (strpbrk(s, " \t") != NULL)
		return "contains a blank";
	if (strchr(s, '/') != NULL && s[0] != '/')
		return "has a '/' but does not start with one";
	return NULL;
}

/*
 * A repeatable key: each item of each occurrence is checked and appended,
 * and remembers its line so later cross-checks can point at it.
 */
static int
set_list(struct parser *p, const struct keydef *k, void *obj, const char *val)
{
	struct strlist *list = field(obj, k);
	struct lines *lines = &p->itemline[k - keys];
	struct strlist items = { NULL, 0 };
	item_check *check = (item_check *)k->arg;
	const char *problem, *expected;
	size_t i, j;
	int rc = -1;

	if (strlist_split(val, &items) == -1) {
		badval(p, k, val, values_problem(), values_error());
		goto out;
	}
	for (i = 0; i < items.n; i++) {
		if ((problem = check(items.v[i], &expected)) != NULL) {
			badval(p, k, items.v[i], problem, expected);
			goto out;
		}
		for (j = 0; j < list->n; j++) {
			if (strcmp(list->v[j], items.v[i]) != 0)
				continue;
			if (p->fragment)        /* lifeline.conf has it already */
				break;
			fail(p, p->lineno, "%s %s \"%s\" is listed twice "
			    "(first at line %d), expected it once",
			    p->label, k->name, items.v[i], lines->v[j]);
			goto out;
		}
		if (j < list->n)
			continue;
		strlist_add(list, items.v[i]);
		lines->v = xrealloc(lines->v, list->n * sizeof(*lines->v));
		lines->v[list->n - 1] = p->lineno;
		lines->n = list->n;
	}
	rc = 0;
out:
	strlist_free(&items);
	return rc;
}

static int
set_cmd(struct parser *p, const struct keydef *k, void *obj, const char *val)
{
	char **dst = field(obj, k);

	if (*val == '\0')
		return badval(p, k, val, "is empty",
		    "expected a command line like /usr/bin/app --flag");
	free(*dst);
	*dst = xstrdup(val);
	return 0;
}

/* A systemd unit: NAME.TYPE of letters, digits and _.@-:\\ (instances included). */
static int
set_unit(struct parser *p, const struct keydef *k, void *obj, const char *val)
{
	char **dst = field(obj, k);
	const char *dot = strrchr(val, '.');

	if (!valid_name(val, 255, "_.@-:\\") || dot == NULL || dot == val || dot[1] == '\0' ||
	    (dot[-1] == '@'))
		return badval(p, k, val, "is not a systemd unit name",
		    "expected a unit like postgresql@15-main.service");
	free(*dst);
	*dst = xstrdup(val);
	return 0;
}

/* Split "WORD REST" at the first blank; rest is "" when there is none. */
static size_t
first_word(const char *val, const char **rest)
{
	size_t n = strcspn(val, " \t");

	*rest = val + n + strspn(val + n, " \t");
	return n;
}

static int
set_stop(struct parser *p, const struct keydef *k, void *obj, const char *val)
{
	struct service_conf *s = obj;
	const char *rest, *sig;
	size_t n = first_word(val, &rest), i;

	if (n == 6 && strncmp(val, "signal", n) == 0) {
		sig = strncmp(rest, "SIG", 3) == 0 ? rest + 3 : rest;
		for (i = 0; i < nitems(stop_signals); i++) {
			if (strcmp(sig, stop_signals[i].name) == 0) {
				s->stop_kind = STOP_SIGNAL;
				s->stop_signal = stop_signals[i].signo;
				free(s->stop_cmd);
				s->stop_cmd = NULL;
				return 0;
			}
		}
		return badval(p, k, val, "names an unknown signal",
		    "expected signal TERM, INT, KILL, HUP, QUIT, USR1 or USR2");
	}
	if (n == 4 && strncmp(val, "exec", n) == 0 && *rest != '\0') {
		s->stop_kind = STOP_EXEC;
		free(s->stop_cmd);
		s->stop_cmd = xstrdup(rest);
		return 0;
	}
	return badval(p, k, val, "is not a stop method",
	    "expected signal NAME (TERM, INT, KILL, HUP, QUIT, USR1, USR2) "
	    "or exec COMMAND");
}

/* "ADDRESS:PORT", or "[ADDRESS]:PORT" for IPv6. */
static int
parse_endpoint(const char *s, struct ipaddr *a, uint16_t *port)
{
	char addr[INET6_ADDRSTRLEN + 2];
	const char *colon, *start = s, *end;
	unsigned long v = 0;
	const char *d;

	if (*s == '[') {
		start = s + 1;
		if ((end = strchr(start, ']')) == NULL || end[1] != ':')
			return -1;
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL)
			return -1;
		end = colon;
	}
	if ((size_t)(end - start) >= sizeof(addr))
		return -1;
	memcpy(addr, start, (size_t)(end - start));
	addr[end - start] = '\0';
	if (parse_ipaddr(addr, -1, a) == -1)
		return -1;
	if ((a->family == AF_INET6) != (*s == '['))
		return -1;
	d = colon + 1;
	if (*d == '\0' || strspn(d, "0123456789") != strlen(d) || strlen(d) > 5)
		return -1;
	for (; *d != '\0'; d++)
		v = v * 10 + (unsigned long)(*d - '0');
	if (v == 0 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/* A plug-in's or a plug-in check's name: 1 to 32 of [a-z0-9_-]. */
static bool
plugin_word(const char *s)
{
	return valid_name(s, 32, "_-") && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") ==
	    strlen(s);
}

static int
set_check(struct parser *p, const struct keydef *k, void *obj,
    const char *val)
{
	struct service_conf *s = obj;
	const char *rest;
	size_t n = first_word(val, &rest);
	struct ipaddr a;
	uint16_t port;

	if (strcmp(val, "pid") == 0) {
		s->check_kind = CHECK_PID;
	} else if (n == 3 && strncmp(val, "tcp", n) == 0) {
		if (parse_endpoint(rest, &a, &port) == -1)
			return badval(p, k, val, "is not a TCP endpoint",
			    "expected tcp ADDRESS:PORT like tcp 192.0.2.10:8080 "
			    "or tcp [2001:db8::10]:8080");
		s->check_kind = CHECK_TCP;
		s->check_addr = a;
		s->check_port = port;
	} else if (n == 4 && strncmp(val, "exec", n) == 0 && *rest != '\0') {
		s->check_kind = CHECK_EXEC;
		free(s->check_cmd);
		s->check_cmd = xstrdup(rest);
	} else if (n == 6 && strncmp(val, "plugin", n) == 0) {
		const char *check;
		size_t pn = first_word(rest, &check);
		char *plugin = xasprintf("%.*s", (int)pn, rest);

		if (!plugin_word(plugin) || !plugin_word(check)) {
			free(plugin);
			return badval(p, k, val, "is not a plug-in check",
			    "expected plugin NAME CHECK, each 1 to 32 of a-z, 0-9, '_' or '-', "
			    "like plugin postgresql query");
		}
		s->check_kind = CHECK_PLUGIN;
		free(s->check_plugin);
		free(s->check_name);
		s->check_plugin = plugin;
		s->check_name = xstrdup(check);
	} else
		return badval(p, k, val, "is not a check",
		    "expected pid, tcp ADDRESS:PORT, exec COMMAND or plugin NAME CHECK");
	if (s->check_kind != CHECK_EXEC) {
		free(s->check_cmd);
		s->check_cmd = NULL;
	}
	if (s->check_kind != CHECK_PLUGIN) {
		free(s->check_plugin);
		free(s->check_name);
		s->check_plugin = s->check_name = NULL;
	}
	return 0;
}

static void
free_actions(struct service_conf *s)
{
	size_t i;

	for (i = 0; i < s->nactions; i++)
		free(s->actions[i].task);
	s->nactions = 0;
}

static int
set_actions(struct parser *p, const struct keydef *k, void *obj,
    const char *val)
{
	struct service_conf *s = obj;
	struct service_action a[SERVICE_MAX_ACTIONS];
	struct strlist items = { NULL, 0 };
	const char *rest;
	size_t i, n, na = 0;
	int rc = -1, j;

	if (strlist_split(val, &items) == -1) {
		badval(p, k, val, values_problem(), values_error());
		goto out;
	}
	if (items.n > SERVICE_MAX_ACTIONS) {
		badval(p, k, val, "has more than 8 actions",
		    "expected 1 to 8 actions");
		goto out;
	}
	for (i = 0; i < items.n; i++) {
		n = first_word(items.v[i], &rest);
		for (j = 0; j < (int)nitems(action_names); j++) {
			if (strlen(action_names[j]) == n &&
			    strncmp(items.v[i], action_names[j], n) == 0)
				break;
		}
		if (j == (int)nitems(action_names) ||
		    (j == ACTION_TASK) != (*rest != '\0') ||
		    (j == ACTION_TASK && !valid_name(rest, SERVICE_NAME_MAX, "_.@-"))) {
			badval(p, k, items.v[i], "is not an action",
			    "expected restart, switchover, log, ignore or task NAME");
			goto out;
		}
		a[na].kind = (enum action_kind)j;
		a[na++].task = j == ACTION_TASK ? xstrdup(rest) : NULL;
	}
	free_actions(s);
	memcpy(s->actions, a, na * sizeof(a[0]));
	s->nactions = na;
	na = 0;
	rc = 0;
out:
	for (i = 0; i < na; i++)
		free(a[i].task);
	strlist_free(&items);
	return rc;
}

static void
show_str(FILE *out, const struct keydef *k, const void *obj)
{
	fputs(*(char *const *)cfield(obj, k), out);
}

static void
show_enum(FILE *out, const struct keydef *k, const void *obj)
{
	fputs(((const char *const *)k->arg)[*(const int *)cfield(obj, k)], out);
}

static void
show_duration(FILE *out, const struct keydef *k, const void *obj)
{
	char buf[32];

	fputs(format_duration(*(const uint64_t *)cfield(obj, k), buf,
	    sizeof(buf)), out);
}

static void
show_size(FILE *out, const struct keydef *k, const void *obj)
{
	char buf[32];

	fputs(format_size(*(const uint64_t *)cfield(obj, k), buf,
	    sizeof(buf)), out);
}

static void
show_bool(FILE *out, const struct keydef *k, const void *obj)
{
	fputs(*(const bool *)cfield(obj, k) ? "yes" : "no", out);
}

static void
show_addrs(FILE *out, const struct ipaddr *a, size_t n)
{
	char buf[INET6_ADDRSTRLEN + 8];
	size_t i;

	for (i = 0; i < n; i++)
		fprintf(out, "%s%s", i ? ", " : "", ipaddr_str(&a[i], buf,
		    sizeof(buf)));
}

static void
show_channel(FILE *out, const struct keydef *k, const void *obj)
{
	const struct node_conf *n = obj;

	show_addrs(out, n->channels, n->nchannels);
}

static void
show_public(FILE *out, const struct keydef *k, const void *obj)
{
	const struct node_conf *n = obj;
	char buf[INET6_ADDRSTRLEN + 8];

	fprintf(out, "%s %s", n->public_if, ipaddr_str(&n->public_addr, buf,
	    sizeof(buf)));
}

static void
show_addr(FILE *out, const struct keydef *k, const void *obj)
{
	char buf[INET6_ADDRSTRLEN + 8];

	fputs(ipaddr_str(cfield(obj, k), buf, sizeof(buf)), out);
}

static void
show_ping(FILE *out, const struct keydef *k, const void *obj)
{
	const struct config *c = obj;

	if (c->nping == 0)
		fputs("gateway", out);
	else
		show_addrs(out, c->ping, c->nping);
}

static void
show_list(FILE *out, const struct keydef *k, const void *obj)
{
	const struct strlist *l = cfield(obj, k);
	size_t i;

	for (i = 0; i < l->n; i++)
		fprintf(out, "%s%s", i ? ", " : "", l->v[i]);
}

static void
show_stop(FILE *out, const struct keydef *k, const void *obj)
{
	const struct service_conf *s = obj;
	size_t i;

	if (s->stop_kind == STOP_EXEC) {
		fprintf(out, "exec %s", s->stop_cmd);
		return;
	}
	for (i = 0; i < nitems(stop_signals); i++) {
		if (stop_signals[i].signo == s->stop_signal)
			fprintf(out, "signal %s", stop_signals[i].name);
	}
}

static void
show_check(FILE *out, const struct keydef *k, const void *obj)
{
	const struct service_conf *s = obj;
	char buf[INET6_ADDRSTRLEN + 8];

	switch (s->check_kind) {
	case CHECK_PID:
		fputs("pid", out);
		break;
	case CHECK_TCP:
		ipaddr_str(&s->check_addr, buf, sizeof(buf));
		fprintf(out, s->check_addr.family == AF_INET6 ? "tcp [%s]:%u" :
		    "tcp %s:%u", buf, s->check_port);
		break;
	case CHECK_EXEC:
		fprintf(out, "exec %s", s->check_cmd);
		break;
	case CHECK_PLUGIN:
		fprintf(out, "plugin %s %s", s->check_plugin, s->check_name);
		break;
	}
}

static void
show_actions(FILE *out, const struct keydef *k, const void *obj)
{
	const struct service_conf *s = obj;
	size_t i;

	for (i = 0; i < s->nactions; i++) {
		fprintf(out, "%s%s", i ? ", " : "", action_names[s->actions[i].kind]);
		if (s->actions[i].kind == ACTION_TASK)
			fprintf(out, " %s", s->actions[i].task);
	}
}

/* Defaults go through the setters; a default they refuse is a bug here. */
static void
apply_defaults(struct parser *p, enum sect s, void *obj)
{
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		if (keys[i].sect != s || keys[i].defval == NULL)
			continue;
		if (keys[i].set(p, &keys[i], obj, keys[i].defval) == -1)
			fatalx("config: default %s = %s refused: %s",
			    keys[i].name, keys[i].defval, p->err);
	}
}

/*
 * Open the section named by a header line. The reader calls this itself,
 * because inih tells the handler nothing about sections without keys, so
 * an empty [node tertiary] or a misspelt empty section would go unseen.
 */
static int
begin_section(struct parser *p, const char *hdr)
{
	const char *rest, *word;
	size_t n = first_word(hdr, &rest), i;
	enum sect s;
	struct sectstate *st;
	int id;

	for (s = SECT_CLUSTER; s < SECT_COUNT; s++) {
		if (strlen(sects[s].word) == n && strncmp(hdr, sects[s].word, n) == 0)
			break;
	}
	if (s == SECT_COUNT)
		return fail(p, p->lineno, "unknown section [%s], expected [cluster], "
		    "[node NAME], [failover], [replication], [protect] or "
		    "[service NAME]", hdr);
	word = sects[s].word;
	if (p->fragment && s != SECT_PROTECT && s != SECT_SERVICE)
		return fail(p, p->lineno, "[%s] in a plug-in's fragment, expected only "
		    "[protect] and [service NAME] there", hdr);
	if (p->fragment && s == SECT_PROTECT)
		p->single[s].line = 0;       /* each fragment adds to [protect] */
	if (sects[s].named && *rest == '\0')
		return fail(p, p->lineno, "[%s] needs a name, expected %s", word,
		    s == SECT_NODE ? "[node primary], [node secondary] or "
		    "[node tertiary]" : "[service NAME]");
	if (!sects[s].named && *rest != '\0')
		return fail(p, p->lineno, "[%s] takes no name, expected [%s]",
		    hdr, word);

	switch (s) {
	case SECT_NODE:
		if ((id = node_from_name(rest)) == -1)
			return fail(p, p->lineno, "unknown node [node %s], expected "
			    "[node primary], [node secondary] or [node tertiary]",
			    rest);
		st = &p->node[id];
		p->obj = &p->conf->nodes[id];
		p->conf->nodes[id].present = true;
		p->conf->nodes[id].line = p->lineno;
		break;
	case SECT_SERVICE:
		if (!valid_name(rest, SERVICE_NAME_MAX, "_.@-"))
			return fail(p, p->lineno, "[service %s] has a bad name, "
			    "expected 1 to 64 letters, digits, '_', '.', '@' or '-'",
			    rest);
		for (i = 0; i < p->conf->nservices; i++) {
			if (strcmp(p->conf->services[i].name, rest) == 0)
				return fail(p, p->lineno, "[service %s] appears "
				    "again (first at line %d), expected each "
				    "section once", rest, p->svc[i].line);
		}
		i = p->conf->nservices++;
		p->conf->services = xrealloc(p->conf->services,
		    p->conf->nservices * sizeof(*p->conf->services));
		p->svc = xrealloc(p->svc, p->conf->nservices * sizeof(*p->svc));
		memset(&p->conf->services[i], 0, sizeof(p->conf->services[i]));
		memset(&p->svc[i], 0, sizeof(p->svc[i]));
		p->conf->services[i].name = xstrdup(rest);
		p->conf->services[i].line = p->lineno;
		st = &p->svc[i];
		p->obj = &p->conf->services[i];
		break;
	default:
		st = &p->single[s];
		p->obj = p->conf;
		break;
	}
	if (st->line != 0)
		return fail(p, p->lineno, "[%s] appears again (first at line %d), "
		    "expected each section once", hdr, st->line);
	st->line = p->lineno;
	p->sect = s;
	p->cur = st;
	if (sects[s].named)
		snprintf(p->label, sizeof(p->label), "[%s %s]", word, rest);
	else
		snprintf(p->label, sizeof(p->label), "[%s]", word);
	if (s == SECT_SERVICE)
		apply_defaults(p, s, p->obj);
	return 0;
}

/*
 * A header line as inih sees it: '[' up to the first ']' that comes before
 * an inline comment. Without that ']' inih reports the syntax error itself.
 * Blanks around the name are dropped; text after the ']' is refused, where
 * inih would ignore it.
 */
static int
header_line(struct parser *p, const char *line)
{
	const char *s = line + 1, *e, *after;
	char name[CONFIG_MAX_LINE + 1];

	for (e = s; *e != '\0' && *e != ']'; e++) {
		if (*e == ';' && (e[-1] == ' ' || e[-1] == '\t'))
			return 0;
	}
	if (*e != ']')
		return 0;
	after = e + 1 + strspn(e + 1, " \t");
	while (s < e && (*s == ' ' || *s == '\t'))
		s++;
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	memcpy(name, s, (size_t)(e - s));
	name[e - s] = '\0';
	if (*after != '\0' && *after != ';' && *after != '#')
		return fail(p, p->lineno, "text after the section header [%s], "
		    "expected nothing or a comment", name);
	return begin_section(p, name);
}

/*
 * inih's fgets-like reader: one line per call, so inih's line numbers are
 * ours. It refuses what inih would mangle silently: a line longer than
 * its buffer (inih would cut it in two) and NUL bytes. Leading blanks are
 * dropped, so an indented line is never taken as the continuation of the
 * previous value.
 */
static char *
reader(char *str, int num, void *stream)
{
	struct parser *p = stream;
	const char *line, *nl, *s;
	size_t len, max = CONFIG_MAX_LINE;

	if (num < 4)
		fatalx("config: inih line buffer of %d bytes", num);
	if ((size_t)num - 3 < max)
		max = (size_t)num - 3;

	if (p->failed || p->off >= p->len)
		return NULL;
	line = p->text + p->off;
	nl = memchr(line, '\n', p->len - p->off);
	len = nl ? (size_t)(nl - line) : p->len - p->off;
	p->off += len + (nl ? 1 : 0);
	p->lineno++;
	if (p->lineno == 1 && len >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0) {
		line += 3;
		len -= 3;
	}
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (memchr(line, '\0', len) != NULL) {
		fail(p, p->lineno, "contains a NUL byte, expected a text file");
		return NULL;
	}
	if (len > max) {
		fail(p, p->lineno, "line is %zu characters long, expected at "
		    "most %zu", len, max);
		return NULL;
	}
	for (s = line; s < line + len && (*s == ' ' || *s == '\t'); s++)
		;
	len -= (size_t)(s - line);
	memcpy(str, s, len);
	str[len] = '\0';
	if (str[0] == '[' && header_line(p, str) == -1)
		return NULL;
	return str;
}

/* inih's handler: 1 to go on, 0 on an error (already in p->err). */
/*
 * Whether "key = value" as -nv prints it stays within CONFIG_MAX_LINE, so
 * that the normalized file (what config push sends) loads again. Printing
 * puts " = " around the key and a blank after each comma. (Repeatable keys
 * print one item per line, always shorter than the line they came from;
 * durations and sizes are short whatever their spelling.)
 */
static bool
normalized_fits(const struct keydef *k, const char *value)
{
	size_t grow = 0;

	if (k->flags & K_REPEAT)
		return true;
	for (const char *c = value; *c != '\0'; c++)
		grow += *c == ',' && c[1] != ' ';
	return strlen(k->name) + 3 + strlen(value) + grow <= CONFIG_MAX_LINE;
}

static int
on_key(void *user, const char *section, const char *name, const char *value)
{
	struct parser *p = user;
	const struct keydef *k = NULL;
	char known[256];
	size_t i;

	if (p->failed)
		return 0;
	if (name == NULL)
		return 1;
	if (p->sect == SECT_NONE) {
		fail(p, p->lineno, "%s = %s is outside any section, expected a "
		    "[section] header above it", name, value);
		return 0;
	}
	for (i = 0; i < NKEYS; i++) {
		if (keys[i].sect == p->sect && strcmp(keys[i].name, name) == 0) {
			k = &keys[i];
			break;
		}
	}
	if (k == NULL) {
		join_keys(p->sect, 0, ", ", known, sizeof(known));
		fail(p, p->lineno, "%s unknown key \"%s\", expected one of %s",
		    p->label, name, known);
		return 0;
	}
	if (p->cur->keyline[i] != 0 && !(k->flags & K_REPEAT)) {
		fail(p, p->lineno, "%s %s is set again (first at line %d), "
		    "expected each key once", p->label, k->name,
		    p->cur->keyline[i]);
		return 0;
	}
	if (value[0] == ';') {
		fail(p, p->lineno, "%s %s starts with \";\", which reads as a comment "
		    "once written back, expected a value", p->label, k->name);
		return 0;
	}
	if (!normalized_fits(k, value)) {
		fail(p, p->lineno, "%s %s is too long once normalized (\"%s = ...\" with a blank "
		    "after each comma), expected at most %d characters on its line",
		    p->label, k->name, k->name, CONFIG_MAX_LINE);
		return 0;
	}
	p->cur->keyline[i] = p->lineno;
	return k->set(p, k, p->obj, value) == 0;
}

static const char *
node_label(enum node_id id, char *buf, size_t len)
{
	snprintf(buf, len, "[node %s]", node_names[id]);
	return buf;
}

/* Every required key of one section, reported at its header line. */
static int
check_required_in(struct parser *p, enum sect s, const struct sectstate *st,
    const char *label)
{
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		if (keys[i].sect == s && (keys[i].flags & K_REQUIRED) &&
		    st->keyline[i] == 0)
			return fail(p, st->line, "%s has no %s, expected a line "
			    "like \"%s\"", label, keys[i].name, keys[i].example);
	}
	return 0;
}

static int
check_required(struct parser *p)
{
	char label[SERVICE_NAME_MAX + 16], req[128];
	enum sect s;
	size_t i;

	for (s = SECT_CLUSTER; s < SECT_COUNT; s++) {
		if (sects[s].named)
			continue;
		join_keys(s, K_REQUIRED, " and ", req, sizeof(req));
		if (p->single[s].line == 0 && req[0] != '\0')
			return fail(p, 0, "no [%s] section, expected one with %s",
			    sects[s].word, req);
		snprintf(label, sizeof(label), "[%s]", sects[s].word);
		if (check_required_in(p, s, &p->single[s], label) == -1)
			return -1;
	}
	for (i = 0; i < NODE_COUNT; i++) {
		if (p->conf->nodes[i].present && check_required_in(p, SECT_NODE,
		    &p->node[i], node_label(i, label, sizeof(label))) == -1)
			return -1;
	}
	for (i = 0; i < p->conf->nservices; i++) {
		snprintf(label, sizeof(label), "[service %s]",
		    p->conf->services[i].name);
		if (check_required_in(p, SECT_SERVICE, &p->svc[i], label) == -1)
			return -1;
	}
	return 0;
}

static int
check_mode_nodes(struct parser *p)
{
	const struct config *c = p->conf;
	int mode_line = p->single[SECT_CLUSTER].keyline[key_index(SECT_CLUSTER,
	    "mode")];
	char req[64];
	int i;

	join_keys(SECT_NODE, K_REQUIRED, " and ", req, sizeof(req));
	for (i = 0; i < NODE_COUNT; i++) {
		bool needed = config_mode_has(c->mode, i);

		if (needed && !c->nodes[i].present)
			return fail(p, mode_line, "[cluster] mode %s needs a "
			    "[node %s] section, expected one with %s",
			    mode_name(c->mode), node_names[i], req);
		if (!needed && c->nodes[i].present)
			return fail(p, c->nodes[i].line, "[node %s] is not used "
			    "in mode %s, expected it only in mode ha+dr",
			    node_names[i], mode_name(c->mode));
	}
	return 0;
}

static int
check_protected(struct parser *p)
{
	const struct config *c = p->conf;
	size_t i, j;

	for (i = 0; i < c->nservices; i++) {
		const struct service_conf *s = &c->services[i];

		if (s->start == NULL && s->unit == NULL)
			return fail(p, s->line, "[service %s] has no start and no unit, expected "
			    "a line like \"start = /usr/bin/app\" or \"unit = app.service\"",
			    s->name);
		if (s->start != NULL && s->unit != NULL)
			return fail(p, p->svc[i].keyline[key_index(SECT_SERVICE, "unit")],
			    "[service %s] has both start and unit, expected one: a command "
			    "the engine runs, or a systemd unit", s->name);
	}
	for (i = 0; i < c->nservices; i++) {
		for (j = 0; j < c->protect_service.n; j++) {
			if (strcmp(c->protect_service.v[j], c->services[i].name) == 0)
				break;
		}
		if (j == c->protect_service.n)
			return fail(p, c->services[i].line, "[service %s] is not "
			    "protected: add \"service = %s\" to [protect]",
			    c->services[i].name, c->services[i].name);
	}
	return 0;
}

/*
 * Follow the after lists from service i, depth first; on reaching a
 * service already on the path, write the cycle into buf and return it.
 * mark: 0 unseen, 1 on the path, 2 done. *start: where the cycle begins.
 */
static bool
find_cycle(const struct config *c, size_t i, char *mark, size_t *path, size_t depth,
    size_t *start, char *buf, size_t len)
{
	const struct strlist *after = &c->services[i].after;

	mark[i] = 1;
	path[depth] = i;
	for (size_t j = 0; j < after->n; j++) {
		const struct service_conf *d = config_service(c, after->v[j]);
		size_t k, at = 0, from;

		if (d == NULL)
			continue;            /* a unit: it has no after list */
		k = (size_t)(d - c->services);
		if (mark[k] == 2)
			continue;
		if (mark[k] == 0) {
			if (find_cycle(c, k, mark, path, depth + 1, start, buf, len))
				return true;
			continue;
		}
		for (from = 0; path[from] != k; from++)
			;
		*start = k;
		buf[0] = '\0';
		for (size_t n = from; n <= depth; n++)
			at += (size_t)snprintf(buf + at, at < len ? len - at : 0, "%s -> ",
			    c->services[path[n]].name);
		snprintf(buf + at, at < len ? len - at : 0, "%s", d->name);
		return true;
	}
	mark[i] = 2;
	return false;
}

/*
 * Each after names another protected service, and following them never
 * comes back to where it started: then there is an order to start them in.
 */
static int
check_dependencies(struct parser *p)
{
	const struct config *c = p->conf;
	size_t after = key_index(SECT_SERVICE, "after");
	char cycle[512];
	size_t start = 0;
	char *mark = xcalloc(c->nservices + 1, 1);
	size_t *path = xcalloc(c->nservices + 1, sizeof(*path));
	int rc = 0;

	for (size_t i = 0; i < c->nservices && rc == 0; i++) {
		const struct service_conf *s = &c->services[i];

		for (size_t j = 0; j < s->after.n && rc == 0; j++) {
			bool known = false;

			for (size_t k = 0; k < c->protect_service.n; k++)
				known |= strcmp(c->protect_service.v[k], s->after.v[j]) == 0;
			if (strcmp(s->after.v[j], s->name) == 0)
				rc = fail(p, p->svc[i].keyline[after], "[service %s] after "
				    "names the service itself, expected the services it "
				    "needs started first", s->name);
			else if (!known)
				rc = fail(p, p->svc[i].keyline[after], "[service %s] after "
				    "\"%s\" is not a protected service, expected a name "
				    "listed as a service in [protect]", s->name, s->after.v[j]);
		}
	}
	for (size_t i = 0; i < c->nservices && rc == 0; i++) {
		if (mark[i] == 0 && find_cycle(c, i, mark, path, 0, &start, cycle,
		    sizeof(cycle)))
			rc = fail(p, p->svc[start].keyline[after], "[service %s] after "
			    "makes a loop (%s), expected an order the services can start in",
			    c->services[start].name, cycle);
	}
	free(mark);
	free(path);
	return rc;
}

/* The line of the first key that is set, else 0. */
static int
line_of(const struct sectstate *st, enum sect s, const char *a, const char *b)
{
	int l = st->keyline[key_index(s, a)];

	if (l == 0 && b != NULL)
		l = st->keyline[key_index(s, b)];
	return l != 0 ? l : st->line;
}

/*
 * Three heartbeats per timeout, so one lost or late beat never looks like
 * a dead node.
 */
static int
check_timings(struct parser *p)
{
	const struct config *c = p->conf;
	char t[32], h[32], m[32];
	uint64_t min;
	size_t i;

	if (__builtin_mul_overflow(c->heartbeat_ms, 3, &min))
		min = UINT64_MAX;
	if (c->timeout_ms < min)
		return fail(p, line_of(&p->single[SECT_FAILOVER], SECT_FAILOVER,
		    "timeout", "heartbeat"), "[failover] timeout %s is less than "
		    "3 times heartbeat %s, expected at least %s",
		    format_duration(c->timeout_ms, t, sizeof(t)),
		    format_duration(c->heartbeat_ms, h, sizeof(h)),
		    format_duration(min, m, sizeof(m)));
	for (i = 0; i < c->nservices; i++) {
		const struct service_conf *s = &c->services[i];

		if (s->check_timeout_ms >= s->check_interval_ms)
			return fail(p, line_of(&p->svc[i], SECT_SERVICE,
			    "check_timeout", "check_interval"), "[service %s] "
			    "check_timeout %s is not shorter than check_interval "
			    "%s, expected a timeout below the interval", s->name,
			    format_duration(s->check_timeout_ms, t, sizeof(t)),
			    format_duration(s->check_interval_ms, h, sizeof(h)));
	}
	return 0;
}

/*
 * Data directories are mounted over by the capture file system: two that
 * nest would capture the same write twice, and the state_dir holds the
 * journal, which must never capture itself.
 */
static int
check_paths(struct parser *p)
{
	const struct config *c = p->conf;
	const struct strlist *d = &c->protect_data;
	const int *line = p->itemline[key_index(SECT_PROTECT, "data")].v;
	size_t i, j;

	for (i = 0; i < d->n; i++) {
		for (j = 0; j < d->n; j++) {
			if (path_inside(d->v[i], d->v[j]))
				return fail(p, line[i], "[protect] data \"%s\" is "
				    "inside data \"%s\" (line %d), expected "
				    "directories that do not overlap", d->v[i],
				    d->v[j], line[j]);
		}
		if (strcmp(d->v[i], c->state_dir) == 0 ||
		    path_inside(d->v[i], c->state_dir))
			return fail(p, line[i], "[protect] data \"%s\" is %s "
			    "state_dir \"%s\", expected data outside Lifeline's "
			    "own state", d->v[i], strcmp(d->v[i], c->state_dir) ?
			    "inside" : "the", c->state_dir);
		if (path_inside(c->state_dir, d->v[i]))
			return fail(p, line[i], "[protect] data \"%s\" contains "
			    "state_dir \"%s\", expected data outside Lifeline's "
			    "own state", d->v[i], c->state_dir);
	}
	return 0;
}

/*
 * Config entries are watched and sent whole, data directories captured:
 * an entry inside data (or holding it) would be replicated twice, two
 * entries that nest would send the same file twice, and "/" or the
 * state_dir are no application's configuration.
 */
static int
check_config_paths(struct parser *p)
{
	const struct config *c = p->conf;
	const struct strlist *k = &c->protect_config, *d = &c->protect_data;
	const int *line = p->itemline[key_index(SECT_PROTECT, "config")].v;

	for (size_t i = 0; i < k->n; i++) {
		if (strcmp(k->v[i], "/") == 0)
			return fail(p, line[i], "[protect] config \"/\" names the whole system, "
			    "expected an application's configuration file or folder");
		for (size_t j = 0; j < d->n; j++)
			if (strcmp(k->v[i], d->v[j]) == 0 || path_inside(k->v[i], d->v[j]) ||
			    path_inside(d->v[j], k->v[i]))
				return fail(p, line[i], "[protect] config \"%s\" overlaps data "
				    "\"%s\", expected configuration outside the data directories "
				    "(what is in them is replicated with them)", k->v[i], d->v[j]);
		for (size_t j = 0; j < k->n; j++)
			if (i != j && (strcmp(k->v[i], k->v[j]) == 0 ||
			    path_inside(k->v[i], k->v[j])))
				return fail(p, line[i], "[protect] config \"%s\" is inside config "
				    "\"%s\" (line %d), expected entries that do not overlap",
				    k->v[i], k->v[j], line[j]);
		if (strcmp(k->v[i], c->state_dir) == 0 || path_inside(k->v[i], c->state_dir) ||
		    path_inside(c->state_dir, k->v[i]))
			return fail(p, line[i], "[protect] config \"%s\" overlaps state_dir \"%s\", "
			    "expected configuration outside Lifeline's own state", k->v[i],
			    c->state_dir);
	}
	return 0;
}

static const char *
family_name(int family)
{
	return family == AF_INET ? "IPv4" : "IPv6";
}

/*
 * ha: one shared public address; dr: one per site; ha+dr: the pair shares
 * one and the DR tertiary has its own. All public addresses are of one
 * family, so clients and ping targets see one kind of network.
 */
static int
check_public(struct parser *p)
{
	const struct config *c = p->conf;
	const struct node_conf *n = c->nodes;
	const struct node_conf *pr = &n[NODE_PRIMARY];
	char a[64], b[64];
	size_t pub = key_index(SECT_NODE, "public");
	int i;

	for (i = NODE_SECONDARY; i < NODE_COUNT; i++) {
		bool shared = i == NODE_SECONDARY && c->mode != MODE_DR;
		bool same;

		if (!n[i].present)
			continue;
		ipaddr_str(&n[i].public_addr, a, sizeof(a));
		ipaddr_str(&pr->public_addr, b, sizeof(b));
		if (n[i].public_addr.family != pr->public_addr.family)
			return fail(p, p->node[i].keyline[pub], "[node %s] public "
			    "%s is %s but [node primary] public %s is %s, "
			    "expected one address family for every public "
			    "address", node_names[i], a,
			    family_name(n[i].public_addr.family), b,
			    family_name(pr->public_addr.family));
		same = ipaddr_equal(&n[i].public_addr, &pr->public_addr);
		if (shared && (!same || n[i].public_addr.prefix !=
		    pr->public_addr.prefix))
			return fail(p, p->node[i].keyline[pub], "[node %s] public "
			    "%s differs from [node primary] public %s, expected "
			    "the same shared public address in mode %s",
			    node_names[i], a, b, mode_name(c->mode));
		if (!shared && same)
			return fail(p, p->node[i].keyline[pub], "[node %s] public "
			    "%s is the same as [node primary], expected a public "
			    "address of its own at the DR site in mode %s",
			    node_names[i], a, mode_name(c->mode));
	}
	return 0;
}

/*
 * Channel addresses are Lifeline's own paths: each one unique, none on a
 * public network (a channel that shares the public LAN dies with it), and
 * every pair of nodes able to reach each other over at least one family.
 */
static int
check_channels(struct parser *p)
{
	const struct node_conf *n = p->conf->nodes;
	size_t ch = key_index(SECT_NODE, "channel");
	char a[64], b[64];
	size_t x, y;
	int i, j;

	for (i = 0; i < NODE_COUNT; i++) {
		for (x = 0; x < n[i].nchannels; x++) {
			const struct ipaddr *ca = &n[i].channels[x];

			ipaddr_str(ca, a, sizeof(a));
			for (j = 0; j <= i; j++) {
				for (y = 0; y < (j == i ? x : n[j].nchannels); y++) {
					if (ipaddr_equal(ca, &n[j].channels[y]))
						return fail(p, p->node[i].keyline[ch],
						    "[node %s] channel %s is also a "
						    "channel address of [node %s], "
						    "expected each channel address "
						    "once", node_names[i], a,
						    node_names[j]);
				}
			}
			for (j = 0; j < NODE_COUNT; j++) {
				if (n[j].present && ipaddr_in_subnet(ca,
				    &n[j].public_addr))
					return fail(p, p->node[i].keyline[ch],
					    "[node %s] channel %s is inside the "
					    "public subnet %s of [node %s], "
					    "expected channels on networks of "
					    "their own", node_names[i], a,
					    ipaddr_str(&n[j].public_addr, b,
					    sizeof(b)), node_names[j]);
			}
		}
	}
	for (i = 0; i < NODE_COUNT; i++) {
		for (j = 0; j < i; j++) {
			bool common = false;

			if (!n[i].present || !n[j].present)
				continue;
			for (x = 0; x < n[i].nchannels; x++) {
				for (y = 0; y < n[j].nchannels; y++) {
					if (n[i].channels[x].family ==
					    n[j].channels[y].family)
						common = true;
				}
			}
			if (!common)
				return fail(p, p->node[i].keyline[ch], "[node %s] "
				    "channel has no address of a family that "
				    "[node %s] channel has, expected both ends "
				    "of a channel in one address family",
				    node_names[i], node_names[j]);
		}
	}
	return 0;
}

/*
 * A management address must reach its node whatever its role. It may sit
 * in the public subnet (it then shares the public interface and is added
 * with preferred_lft 0), but it can never be a public address, which
 * follows the active role from node to node.
 */
static int
check_management(struct parser *p)
{
	const struct node_conf *n = p->conf->nodes;
	size_t mg = key_index(SECT_NODE, "management");
	char a[64];
	int i, j;

	for (i = 0; i < NODE_COUNT; i++) {
		if (!n[i].present)
			continue;
		ipaddr_str(&n[i].management, a, sizeof(a));
		for (j = 0; j < i; j++) {
			if (n[j].present && ipaddr_equal(&n[i].management,
			    &n[j].management))
				return fail(p, p->node[i].keyline[mg], "[node %s] "
				    "management %s is also the management address "
				    "of [node %s], expected one address per node",
				    node_names[i], a, node_names[j]);
		}
		for (j = 0; j < NODE_COUNT; j++) {
			if (n[j].present && ipaddr_equal(&n[i].management,
			    &n[j].public_addr))
				return fail(p, p->node[i].keyline[mg], "[node %s] "
				    "management %s is the public address of [node %s], "
				    "expected an address that stays with the node",
				    node_names[i], a, node_names[j]);
		}
	}
	return 0;
}

/* Ping targets are probed from the public network, so share its family. */
static int
check_ping(struct parser *p)
{
	const struct config *c = p->conf;
	int fam = c->nodes[NODE_PRIMARY].public_addr.family;
	char a[64];
	size_t i;

	for (i = 0; i < c->nping; i++) {
		if (c->ping[i].family != fam)
			return fail(p, line_of(&p->single[SECT_FAILOVER],
			    SECT_FAILOVER, "ping", NULL), "[failover] ping %s is "
			    "%s but the public addresses are %s, expected "
			    "targets on the public network",
			    ipaddr_str(&c->ping[i], a, sizeof(a)),
			    family_name(c->ping[i].family), family_name(fam));
	}
	return 0;
}

/* In this order: each check may rely on the ones before it. */
static int (*const checks[])(struct parser *) = {
	check_required,
	check_mode_nodes,
	check_protected,
	check_dependencies,
	check_timings,
	check_paths,
	check_config_paths,
	check_public,
	check_channels,
	check_management,
	check_ping,
};

static void
print_section(FILE *out, enum sect s, const char *label, const void *obj,
    bool *first)
{
	size_t i;

	fprintf(out, "%s%s\n", *first ? "" : "\n", label);
	*first = false;
	for (i = 0; i < NKEYS; i++) {
		if (keys[i].sect != s)
			continue;
		if ((keys[i].flags & K_REPEAT) &&
		    ((const struct strlist *)cfield(obj, &keys[i]))->n == 0)
			continue;
		/* One line per item of a repeatable key keeps every line short. */
		if (keys[i].flags & K_REPEAT) {
			const struct strlist *l = cfield(obj, &keys[i]);

			for (size_t j = 0; j < l->n; j++)
				fprintf(out, "%s = %s\n", keys[i].name, l->v[j]);
			continue;
		}
		if ((keys[i].flags & K_OPTIONAL) &&
		    *(char *const *)cfield(obj, &keys[i]) == NULL)
			continue;
		fprintf(out, "%s = ", keys[i].name);
		keys[i].show(out, &keys[i], obj);
		fputc('\n', out);
	}
}

/*
 * Sections in the order of the key table, nodes by identity, services in
 * file order; so equal configurations print the same text.
 */
void
config_print(FILE *out, const struct config *conf)
{
	char label[SERVICE_NAME_MAX + 16];
	bool first = true;
	enum sect s;
	size_t i;

	for (s = SECT_CLUSTER; s < SECT_COUNT; s++) {
		switch (s) {
		case SECT_NODE:
			for (i = 0; i < NODE_COUNT; i++) {
				if (conf->nodes[i].present)
					print_section(out, s, node_label(i, label,
					    sizeof(label)), &conf->nodes[i], &first);
			}
			break;
		case SECT_SERVICE:
			for (i = 0; i < conf->nservices; i++) {
				snprintf(label, sizeof(label), "[service %s]",
				    conf->services[i].name);
				print_section(out, s, label, &conf->services[i],
				    &first);
			}
			break;
		default:
			snprintf(label, sizeof(label), "[%s]", sects[s].word);
			print_section(out, s, label, conf, &first);
			break;
		}
	}
}

/* config_hash is over the printed text, so equal text means equal hash. */
static void
hash_config(struct config *conf)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	if ((f = open_memstream(&text, &len)) == NULL)
		fatal("open_memstream");
	config_print(f, conf);
	if (fclose(f) != 0)
		fatal("config print");
	if (EVP_Digest(text, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != 32)
		fatalx("SHA-256 failed");
	for (i = 0; i < mdlen; i++)
		snprintf(conf->hash + 2 * i, 3, "%02x", md[i]);
	free(text);
}

/* Run inih over p's text, reporting a line it cannot parse. */
static void
read_text(struct parser *p)
{
	int rc = ini_parse_stream(reader, p, on_key, p);

	if (rc > 0 && (!p->failed || rc < p->errline)) {
		p->failed = false;
		fail(p, rc, "cannot parse this line, expected \"key = value\", "
		    "a [section] header or a ; comment");
	} else if (rc < 0 && !p->failed)
		fail(p, 0, "inih failed (%d)", rc);
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * What installed plug-ins add (STATE_DIR/plugins/NAME.conf, written by
 * `lifeline plugin install`), read after the file and judged by the same
 * checks, one fragment at a time, so an error names the fragment. A
 * fragment holds only [protect] and [service NAME]; what the file already
 * protects it cannot add twice, and the file's own lines win.
 */
static void
parse_fragments(struct parser *p)
{
	char *dirpath = xasprintf("%s/plugins", p->conf->state_dir);
	DIR *dir = opendir(dirpath);
	struct dirent *de;
	const char *main_name = p->name;
	char **names = NULL;
	size_t n = 0;

	while (dir != NULL && (de = readdir(dir)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len > 5 && strcmp(de->d_name + len - 5, ".conf") == 0 && de->d_name[0] != '.') {
			names = xrealloc(names, (n + 1) * sizeof(*names));
			names[n++] = xasprintf("%s/%s", dirpath, de->d_name);
		}
	}
	if (dir != NULL)
		closedir(dir);
	if (n > 0)
		qsort(names, n, sizeof(*names), by_name);
	for (size_t i = 0; i < n; i++) {
		size_t len;
		char *text = read_file(names[i], CONFIG_MAX_SIZE, &len);

		if (p->failed)
			break;
		if (text == NULL) {
			p->name = names[i];
			fail(p, 0, "cannot read: %s", strerror(errno));
			break;
		}
		p->name = names[i];
		p->text = text;
		p->len = len;
		p->off = 0;
		p->lineno = 0;
		p->sect = SECT_NONE;
		p->fragment = true;
		read_text(p);
		for (size_t c = 0; c < nitems(checks) && !p->failed; c++)
			checks[c](p);
		free(text);
	}
	p->name = main_name;          /* errors were written out already */
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(dirpath);
}

static struct config *
parse(const char *text, size_t len, const char *name, bool with_fragments, char *err,
    size_t errlen)
{
	struct parser p;
	struct config *conf;
	enum sect s;
	size_t i;

	memset(&p, 0, sizeof(p));
	conf = xcalloc(1, sizeof(*conf));
	conf->path = xstrdup(name);
	p.conf = conf;
	p.name = name;
	p.text = text;
	p.len = len;
	p.err = err;
	p.errlen = errlen;
	for (s = SECT_CLUSTER; s < SECT_COUNT; s++) {
		if (!sects[s].named)
			apply_defaults(&p, s, conf);
	}

	read_text(&p);
	for (i = 0; i < nitems(checks) && !p.failed; i++)
		checks[i](&p);
	if (!p.failed && with_fragments)
		parse_fragments(&p);
	if (!p.failed)
		hash_config(conf);

	for (i = 0; i < NKEYS; i++)
		free(p.itemline[i].v);
	free(p.svc);
	if (p.failed) {
		config_free(conf);
		return NULL;
	}
	return conf;
}

struct config *
config_parse_string(const char *text, const char *name, char *err,
    size_t errlen)
{
	return parse(text, strlen(text), name, false, err, errlen);
}

struct config *
config_load(const char *path, char *err, size_t errlen)
{
	struct config *conf;
	size_t len;
	char *text;

	if ((text = read_file(path, CONFIG_MAX_SIZE, &len)) == NULL) {
		if (errno == EFBIG)
			snprintf(err, errlen, "%s: larger than 1MiB, expected a "
			    "configuration file", path);
		else
			snprintf(err, errlen, "%s: cannot open: %s", path,
			    strerror(errno));
		return NULL;
	}
	conf = parse(text, len, path, true, err, errlen);
	free(text);
	return conf;
}

void
config_free(struct config *conf)
{
	size_t i;

	if (conf == NULL)
		return;
	for (i = 0; i < conf->nservices; i++)
		config_service_clear(&conf->services[i]);
	free(conf->services);
	strlist_free(&conf->protect_data);
	strlist_free(&conf->protect_config);
	strlist_free(&conf->protect_service);
	strlist_free(&conf->protect_exclude);
	free(conf->name);
	free(conf->state_dir);
	free(conf->tls_dir);
	free(conf->path);
	free(conf);
}

bool
config_mode_has(enum cluster_mode mode, enum node_id node)
{
	return node != NODE_TERTIARY || mode == MODE_HA_DR;
}

const char *
node_name(enum node_id id)
{
	return (unsigned)id < NODE_COUNT ? node_names[id] : "?";
}

int
node_from_name(const char *name)
{
	int i;

	for (i = 0; i < NODE_COUNT; i++) {
		if (strcmp(name, node_names[i]) == 0)
			return i;
	}
	return -1;
}

const char *
mode_name(enum cluster_mode mode)
{
	return (unsigned)mode < nitems(mode_names) - 1 ? mode_names[mode] : "?";
}

const char *
repl_mode_name(enum repl_mode mode)
{
	return (unsigned)mode < nitems(repl_names) - 1 ? repl_names[mode] : "?";
}

const struct service_conf *
config_service(const struct config *conf, const char *name)
{
	size_t i;

	for (i = 0; i < conf->nservices; i++) {
		if (strcmp(conf->services[i].name, name) == 0)
			return &conf->services[i];
	}
	return NULL;
}

void
config_service_clear(struct service_conf *s)
{
	free(s->name);
	free(s->start);
	free(s->unit);
	free(s->stop_cmd);
	free(s->check_cmd);
	free(s->check_plugin);
	free(s->check_name);
	free_actions(s);
	strlist_free(&s->after);
	memset(s, 0, sizeof(*s));
}

void
config_service_default(struct service_conf *s, const char *name)
{
	struct parser p;
	char err[256];

	memset(&p, 0, sizeof(p));
	p.name = "defaults";
	p.err = err;
	p.errlen = sizeof(err);
	memset(s, 0, sizeof(*s));
	s->name = xstrdup(name);
	s->unit = xstrdup(name);
	apply_defaults(&p, SECT_SERVICE, s);
}

const char *
config_key(size_t i, const char **section)
{
	if (i >= NKEYS)
		return NULL;
	if (section != NULL)
		*section = sects[keys[i].sect].word;
	return keys[i].name;
}

/*
 * The identity file holds one word and nothing else; anything more is
 * refused rather than guessed at, since a wrong identity makes a node
 * act as another.
 */
int
identity_load(const char *override, const char *path, char *err,
    size_t errlen)
{
	const char *src = override != NULL ? "--identity" :
	    path != NULL ? path : IDENTITY_DEFAULT_PATH;
	char *buf = NULL, *w, *e;
	int id = -1;

	if (override != NULL)
		buf = xstrdup(override);
	else if ((buf = read_file(src, IDENTITY_MAX_SIZE, NULL)) == NULL) {
		if (errno == EFBIG)
			snprintf(err, errlen, "%s: too large, expected one word: "
			    "primary, secondary or tertiary", src);
		else
			snprintf(err, errlen, "%s: cannot open: %s", src,
			    strerror(errno));
		return -1;
	}
	w = buf + strspn(buf, " \t\r\n");
	e = w + strcspn(w, " \t\r\n");
	if (*w == '\0') {
		snprintf(err, errlen, "%s: empty, expected one word: primary, "
		    "secondary or tertiary", src);
		goto out;
	}
	if (e[strspn(e, " \t\r\n")] != '\0') {
		snprintf(err, errlen, "%s: more than one word, expected one "
		    "word: primary, secondary or tertiary", src);
		goto out;
	}
	*e = '\0';
	if ((id = node_from_name(w)) == -1)
		snprintf(err, errlen, "%s: unknown identity \"%s\", expected "
		    "primary, secondary or tertiary", src, w);
out:
	free(buf);
	return id;
}

static int
on_peek_key(void *user, const char *section, const char *name, const char *value)
{
	char **dir = user;

	if (strcmp(section, "cluster") == 0 && strcmp(name, "state_dir") == 0 &&
	    value[0] == '/') {
		free(*dir);
		*dir = xstrdup(value);
	}
	return 1;               /* keep going whatever else the file holds */
}

char *
config_peek_state_dir(const char *path)
{
	char *dir = NULL;

	ini_parse(path, on_peek_key, &dir);
	return dir != NULL ? dir : xstrdup(STATE_DIR_DEFAULT);
}

size_t
config_channel_pairs(const struct config *conf, enum node_id self, enum node_id peer,
    struct channel_pair *out, size_t max)
{
	const struct node_conf *me = &conf->nodes[self], *p = &conf->nodes[peer];
	size_t n = 0;

	if (self == peer || !config_mode_has(conf->mode, self) || !config_mode_has(conf->mode, peer))
		return 0;
	for (size_t i = 0; i < me->nchannels; i++) {
		for (size_t j = 0; j < p->nchannels && n < max; j++) {
			const struct ipaddr *x = &me->channels[i], *y = &p->channels[j];

			if (!((x->prefix >= 0 && ipaddr_in_subnet(y, x)) ||
			    (y->prefix >= 0 && ipaddr_in_subnet(x, y))))
				continue;
			out[n].local = *x;
			out[n].remote = *y;
			n++;
		}
	}
	return n;
}

size_t
config_chain(enum cluster_mode mode, enum node_id active, enum node_id chain[NODE_COUNT])
{
	/* The HA partner first: it is the one that fails over, and the nearer. */
	static const enum node_id order[NODE_COUNT][NODE_COUNT] = {
		[NODE_PRIMARY]   = { NODE_PRIMARY, NODE_SECONDARY, NODE_TERTIARY },
		[NODE_SECONDARY] = { NODE_SECONDARY, NODE_PRIMARY, NODE_TERTIARY },
		[NODE_TERTIARY]  = { NODE_TERTIARY, NODE_PRIMARY, NODE_SECONDARY },
	};
	size_t n = 0;

	if (!config_mode_has(mode, active))
		return 0;
	for (size_t i = 0; i < NODE_COUNT; i++)
		if (config_mode_has(mode, order[active][i]))
			chain[n++] = order[active][i];
	return n;
}
