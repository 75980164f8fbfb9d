/*
 * Parsers for the values of lifeline.conf: durations, sizes, booleans,
 * addresses with an optional prefix, comma-separated lists. Each returns 0,
 * or -1 and leaves a short "expected ..." phrase for the caller's message.
 */
#ifndef LIFELINE_VALUES_H
#define LIFELINE_VALUES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

struct ipaddr {
	int             family;            /* AF_INET or AF_INET6 */
	union {
		struct in_addr  v4;
		struct in6_addr v6;
	};
	int             prefix;            /* -1 when none was given */
};

struct strlist {
	char          **v;
	size_t          n;
};

/* "100ms", "1s", "1.5s", "2m", "1h"; a bare number is refused. */
int parse_duration_ms(const char *s, uint64_t *ms);
/* "0", "512", "64KiB", "1GiB" (1024-based), "10MB" (1000-based), "1G" (1024-based, as ip(8)) */
int parse_size(const char *s, uint64_t *bytes);
/* yes/no, true/false, on/off, 1/0 */
int parse_bool(const char *s, bool *b);
/* "192.0.2.10", "192.0.2.10/24", "2001:db8::1/64"; want_prefix: 1 required, 0 optional, -1 refused */
int parse_ipaddr(const char *s, int want_prefix, struct ipaddr *a);

/* Format an address (with "/prefix" when it has one) into buf. */
const char *ipaddr_str(const struct ipaddr *a, char *buf, size_t len);
bool ipaddr_equal(const struct ipaddr *a, const struct ipaddr *b);         /* address only */
/* Is a inside the subnet net/prefix? (same family; net must have a prefix) */
bool ipaddr_in_subnet(const struct ipaddr *a, const struct ipaddr *net);
/* a and port as a socket address; returns its length. */
socklen_t ipaddr_sockaddr(const struct ipaddr *a, uint16_t port, struct sockaddr_storage *ss);

/*
 * Split "a, b ,c" on commas, trimming blanks, and append the items to out
 * (which may already hold items); empty items are an error and then nothing
 * is appended.
 */
int  strlist_split(const char *s, struct strlist *out);
void strlist_add(struct strlist *l, const char *s);
void strlist_free(struct strlist *l);

/* The last parse error phrase ("expected a duration like 100ms or 1s"). */
const char *values_error(void);
/* What was wrong with the last refused value ("is not a duration", "is too large"). */
const char *values_problem(void);

/* Format a duration or size the way the normalized config prints it. */
const char *format_duration(uint64_t ms, char *buf, size_t len);
const char *format_size(uint64_t bytes, char *buf, size_t len);

#endif
