/*
 * lifeline-sample: the small TCP service the lab protects. It appends each
 * record to DATA/records and answers OK only once the record is fsynced, so
 * a client can tell exactly which writes a failover must keep. `ask` is its
 * one-request client, for tests.
 */
#include "common/log.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_CONFIG   "/etc/lifeline-sample/sample.conf"
#define DEFAULT_IDENTITY "/etc/lifeline/identity"
#define MAX_LINE         4096           /* a longer request is refused */
#define MAX_LISTEN       8
#define ASK_TIMEOUT_MS   5000

/* The records in memory: an open-addressing set for HAS, plus the count. */
struct store {
	char           *path;           /* DATA/records */
	int             fd;             /* appends */
	size_t          count;          /* records, duplicates included */
	char          **slots;
	size_t          nslots;         /* a power of two */
	size_t          nused;
	bool            broken;         /* a failed write could not be undone */
};

struct sample {
	struct event_base *base;
	struct store    store;
	char            identity[64];
	struct evconnlistener *listeners[MAX_LISTEN];
	size_t          nlisteners;
};

struct options {
	const char     *config;
	bool            config_given;
	char           *listen;
	char           *data;
	const char     *identity;
};

static uint64_t
hash_text(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static size_t
set_find(const struct store *st, const char *text)
{
	size_t i = (size_t)hash_text(text) & (st->nslots - 1);

	while (st->slots[i] != NULL && strcmp(st->slots[i], text) != 0)
		i = (i + 1) & (st->nslots - 1);
	return i;
}

static bool
set_has(const struct store *st, const char *text)
{
	return st->slots[set_find(st, text)] != NULL;
}

static void
set_add(struct store *st, const char *text)
{
	size_t i;

	if ((st->nused + 1) * 2 > st->nslots) {
		char **old = st->slots;
		size_t n = st->nslots;

		st->nslots = n * 2;
		st->slots = xcalloc(st->nslots, sizeof(*st->slots));
		for (size_t j = 0; j < n; j++)
			if (old[j] != NULL)
				st->slots[set_find(st, old[j])] = old[j];
		free(old);
	}
	i = set_find(st, text);
	if (st->slots[i] == NULL) {
		st->slots[i] = xstrdup(text);
		st->nused++;
	}
}

/*
 * Open DATA/records and load what it holds. A last line without its
 * newline is a record whose PUT never got its OK (the machine died during
 * the write): it is logged and cut off, so the next append starts clean.
 */
static int
store_open(struct store *st, const char *datadir)
{
	char *line = NULL;
	size_t cap = 0;
	off_t good = 0;
	ssize_t n;
	FILE *f;
	int dfd;

	st->nslots = 1024;
	st->slots = xcalloc(st->nslots, sizeof(*st->slots));
	st->path = xasprintf("%s/records", datadir);
	st->fd = open(st->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (st->fd < 0) {
		log_warn("cannot open %s", st->path);
		return -1;
	}
	if ((dfd = open(datadir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(dfd);             /* the file's name is durable too */
		close(dfd);
	}
	if ((f = fopen(st->path, "re")) == NULL) {
		log_warn("cannot read %s", st->path);
		return -1;
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		if (line[n - 1] != '\n') {
			log_warnx("%s: ignoring a torn last record (%zd bytes, no newline), "
			    "left by a crash during its write", st->path, n);
			break;
		}
		line[n - 1] = '\0';
		set_add(st, line);
		st->count++;
		good += n;
	}
	free(line);
	if (ferror(f)) {
		log_warn("cannot read %s", st->path);
		fclose(f);
		return -1;
	}
	fclose(f);
	if (n > 0 && (ftruncate(st->fd, good) < 0 || fsync(st->fd) < 0)) {
		log_warn("cannot cut the torn record off %s", st->path);
		return -1;
	}
	return 0;
}

/*
 * Append one record and fsync it. Only then is it counted and may the
 * client hear OK. A failed write is cut back off the file; if even that
 * fails, or fsync failed (the page cache is then in an unknown state),
 * the store refuses every later PUT rather than ever answer OK wrongly.
 */
static int
store_put(struct store *st, const char *text, char *why, size_t whylen)
{
	size_t len = strlen(text);
	char *rec = xmalloc(len + 1);
	const char *p = rec;
	size_t left = len + 1;
	off_t before;
	int rc = -1;

	memcpy(rec, text, len);
	rec[len] = '\n';
	if (st->broken) {
		snprintf(why, whylen, "the records file is in an unknown state after a failed write; restart the sample");
		goto out;
	}
	if ((before = lseek(st->fd, 0, SEEK_END)) < 0) {
		snprintf(why, whylen, "seek: %s", strerror(errno));
		goto out;
	}
	while (left > 0) {
		ssize_t n = write(st->fd, p, left);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(why, whylen, "write: %s", n < 0 ? strerror(errno) : "no progress");
			if (ftruncate(st->fd, before) < 0)
				st->broken = true;
			goto out;
		}
		p += n;
		left -= (size_t)n;
	}
	if (fsync(st->fd) < 0) {
		snprintf(why, whylen, "fsync: %s", strerror(errno));
		st->broken = true;
		(void)!ftruncate(st->fd, before);
		goto out;
	}
	set_add(st, text);
	st->count++;
	rc = 0;
out:
	if (rc < 0)
		log_warnx("PUT refused: %s", why);
	free(rec);
	return rc;
}

/* One request line (without its newline) to its one answer line. */
static void
answer(struct sample *s, const char *line, size_t len, struct evbuffer *out)
{
	char why[256];

	if (memchr(line, '\0', len) != NULL) {
		evbuffer_add_printf(out, "ERR a request must not contain NUL bytes\n");
	} else if (strncmp(line, "PUT ", 4) == 0 && line[4] != '\0') {
		if (store_put(&s->store, line + 4, why, sizeof(why)) < 0)
			evbuffer_add_printf(out, "ERR %s\n", why);
		else
			evbuffer_add_printf(out, "OK %zu\n", s->store.count);
	} else if (strcmp(line, "GET") == 0) {
		evbuffer_add_printf(out, "%s %zu\n", s->identity, s->store.count);
	} else if (strncmp(line, "HAS ", 4) == 0 && line[4] != '\0') {
		evbuffer_add_printf(out, "%s\n", set_has(&s->store, line + 4) ? "YES" : "NO");
	} else
		evbuffer_add_printf(out, "ERR unknown request, expected PUT <text>, GET or HAS <text>\n");
}

static void
on_close_when_flushed(struct bufferevent *bev, void *arg)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		bufferevent_free(bev);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		bufferevent_free(bev);
}

/* Answer every complete line; a line longer than MAX_LINE ends the connection. */
static void
on_read(struct bufferevent *bev, void *arg)
{
	struct sample *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer *out = bufferevent_get_output(bev);
	size_t len;
	char *line;

	while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF)) != NULL) {
		if (len > MAX_LINE) {
			free(line);
			goto too_long;
		}
		answer(s, line, len, out);
		free(line);
	}
	if (evbuffer_get_length(in) <= MAX_LINE)
		return;
too_long:
	evbuffer_add_printf(out, "ERR request longer than %d bytes refused; closing\n", MAX_LINE);
	bufferevent_disable(bev, EV_READ);
	bufferevent_setcb(bev, NULL, on_close_when_flushed, on_event, s);
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
    void *arg)
{
	struct sample *s = arg;
	struct bufferevent *bev;

	bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		log_warnx("cannot make a buffer for a new connection");
		close(fd);
		return;
	}
	bufferevent_setcb(bev, on_read, NULL, on_event, s);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void
on_accept_error(struct evconnlistener *l, void *arg)
{
	log_warn("accept");
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct sample *s = arg;

	log_info("signal %d: exiting", (int)sig);
	event_base_loopbreak(s->base);
}

/*
 * "192.0.2.10:8080" or "[2001:db8::1]:8080" to a socket address. Returns
 * 0, or -1 after saying what was expected.
 */
static int
parse_addrport(const char *s, struct sockaddr_storage *ss, socklen_t *sslen)
{
	char host[INET6_ADDRSTRLEN + 2], *end;
	const char *colon = strrchr(s, ':');
	size_t hlen;
	long port;

	memset(ss, 0, sizeof(*ss));
	if (colon == NULL || (hlen = (size_t)(colon - s)) == 0 || hlen >= sizeof(host))
		goto bad;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || colon[1] == '\0' || port < 1 || port > 65535)
		goto bad;
	if (host[0] == '[' && host[hlen - 1] == ']') {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		host[hlen - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &sin6->sin6_addr) != 1)
			goto bad;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*sslen = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			goto bad;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*sslen = sizeof(*sin);
	}
	return 0;
bad:
	log_warnx("bad address \"%s\", expected ADDRESS:PORT like 192.0.2.10:8080 or [2001:db8::1]:8080", s);
	return -1;
}

/*
 * Listen on one address with IP_FREEBIND, so the sample may start a moment
 * before the engine adds the public IP (or on a node that never has it).
 */
static int
listen_on(struct sample *s, const char *addr)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct evconnlistener *l;
	int fd, one = 1;

	if (parse_addrport(addr, &ss, &sslen) < 0)
		return -1;
	if (s->nlisteners == MAX_LISTEN) {
		log_warnx("too many listen addresses, at most %d", MAX_LISTEN);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, ss.ss_family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6,
	    ss.ss_family == AF_INET ? IP_FREEBIND : IPV6_FREEBIND, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, sslen) < 0 || listen(fd, 128) < 0) {
		log_warn("cannot listen on %s", addr);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	l = evconnlistener_new(s->base, on_accept, s, LEV_OPT_CLOSE_ON_FREE, 0, fd);
	if (l == NULL) {
		log_warnx("cannot watch the listener on %s", addr);
		close(fd);
		return -1;
	}
	evconnlistener_set_error_cb(l, on_accept_error);
	s->listeners[s->nlisteners++] = l;
	return 0;
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/*
 * Read sample.conf: `listen = ADDR:PORT[, ADDR:PORT ...]` and `data = DIR`,
 * comments after # or ;. Options given on the command line win. A missing
 * file is an error only when --config named it.
 */
static int
load_config(struct options *o)
{
	char *line = NULL;
	size_t cap = 0;
	int lineno = 0, rc = -1;
	FILE *f;

	if ((f = fopen(o->config, "re")) == NULL) {
		if (errno == ENOENT && !o->config_given)
			return 0;
		log_warn("cannot read %s", o->config);
		return -1;
	}
	while (getline(&line, &cap, f) > 0) {
		char *key, *val, *eq;

		lineno++;
		key = trim(line);
		if (*key == '\0' || *key == '#' || *key == ';')
			continue;
		if ((eq = strchr(key, '=')) == NULL) {
			log_warnx("%s:%d: expected key = value", o->config, lineno);
			goto out;
		}
		*eq = '\0';
		key = trim(key);
		val = trim(eq + 1);
		if (*val == '\0') {
			log_warnx("%s:%d: %s has no value", o->config, lineno, key);
			goto out;
		}
		if (strcmp(key, "listen") == 0) {
			if (o->listen == NULL)
				o->listen = xstrdup(val);
		} else if (strcmp(key, "data") == 0) {
			if (o->data == NULL)
				o->data = xstrdup(val);
		} else {
			log_warnx("%s:%d: unknown key \"%s\", expected listen or data",
			    o->config, lineno, key);
			goto out;
		}
	}
	rc = 0;
out:
	free(line);
	fclose(f);
	return rc;
}

static int
load_identity(struct sample *s, const char *override)
{
	char *text, *word;
	size_t n;

	if (override != NULL) {
		xstrlcpy(s->identity, override, sizeof(s->identity));
		return 0;
	}
	if ((text = read_file(DEFAULT_IDENTITY, 4096, NULL)) == NULL) {
		log_warn("cannot read the identity from %s (or give --identity NAME)",
		    DEFAULT_IDENTITY);
		return -1;
	}
	word = trim(text);
	n = strcspn(word, " \t\r\n");
	word[n] = '\0';
	if (n == 0 || n >= sizeof(s->identity)) {
		log_warnx("%s: expected one word, the node's identity", DEFAULT_IDENTITY);
		free(text);
		return -1;
	}
	xstrlcpy(s->identity, word, sizeof(s->identity));
	free(text);
	return 0;
}

static int
serve(struct options *o)
{
	struct sample s = { .store.fd = -1 };
	struct event *sigs[2] = { NULL, NULL };
	char *list = NULL, *item, *save;
	int rc = 1;

	if (load_config(o) < 0 || load_identity(&s, o->identity) < 0)
		goto out;
	if (o->listen == NULL || o->data == NULL) {
		log_warnx("no %s: give --%s or set it in %s", o->listen == NULL ? "listen address" :
		    "data folder", o->listen == NULL ? "listen ADDR:PORT" : "data DIR", o->config);
		goto out;
	}
	if ((s.base = event_base_new()) == NULL) {
		log_warnx("cannot create the event loop");
		goto out;
	}
	if (store_open(&s.store, o->data) < 0)
		goto out;
	list = xstrdup(o->listen);
	for (item = strtok_r(list, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save))
		if (listen_on(&s, trim(item)) < 0)
			goto out;
	signal(SIGPIPE, SIG_IGN);
	sigs[0] = evsignal_new(s.base, SIGTERM, on_signal, &s);
	sigs[1] = evsignal_new(s.base, SIGINT, on_signal, &s);
	for (size_t i = 0; i < nitems(sigs); i++)
		if (sigs[i] == NULL || evsignal_add(sigs[i], NULL) < 0) {
			log_warnx("cannot watch signals");
			goto out;
		}
	log_info("%s serves %zu records from %s on %s", s.identity, s.store.count,
	    s.store.path, o->listen);
	if (event_base_dispatch(s.base) < 0)
		log_warnx("event loop failed");
	else
		rc = 0;
out:
	for (size_t i = 0; i < nitems(sigs); i++)
		if (sigs[i] != NULL)
			event_free(sigs[i]);
	for (size_t i = 0; i < s.nlisteners; i++)
		evconnlistener_free(s.listeners[i]);
	if (s.store.fd >= 0)
		close(s.store.fd);
	for (size_t i = 0; i < s.store.nslots; i++)
		free(s.store.slots[i]);
	free(s.store.slots);
	free(s.store.path);
	free(list);
	if (s.base != NULL)
		event_base_free(s.base);
	return rc;
}

/* Wait for fd to be ready for events until deadline; 0, or -1 on timeout. */
static int
wait_ready(int fd, short events, uint64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int n;

	do {
		uint64_t now = now_mono_ms();

		n = poll(&pfd, 1, now >= deadline ? 0 : (int)(deadline - now));
	} while (n < 0 && errno == EINTR);
	return n > 0 ? 0 : -1;
}

/*
 * The client: connect, send one request line, print the one answer line.
 * Exit 0 with the answer (even an ERR answer: the server spoke), 1 when
 * there is no answer within the timeout.
 */
static int
ask(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t sslen, len = sizeof(int);
	char *req = xstrdup(""), buf[MAX_LINE + 64];
	const char *target = NULL;
	long timeout = ASK_TIMEOUT_MS;
	uint64_t deadline;
	size_t got = 0;
	int fd = -1, soerr = 0, rc = 1, nwords = 0;
	char *nl;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--timeout") == 0 || strncmp(argv[i], "--timeout=", 10) == 0) {
			const char *v = argv[i][9] == '=' ? argv[i] + 10 : i + 1 < argc ? argv[++i] : "";
			char *end;

			timeout = strtol(v, &end, 10);
			if (*v == '\0' || *end != '\0' || timeout <= 0 || timeout > 3600000) {
				fprintf(stderr, "lifeline-sample: bad --timeout \"%s\", expected milliseconds (1 to 3600000)\n", v);
				rc = 2;
				goto out;
			}
		} else if (target == NULL)
			target = argv[i];
		else {
			char *r = xasprintf("%s%s%s", req, nwords++ ? " " : "", argv[i]);

			free(req);
			req = r;
		}
	}
	if (target == NULL || nwords == 0) {
		fprintf(stderr, "usage: lifeline-sample ask ADDR:PORT REQUEST [--timeout MS]\n");
		rc = 2;
		goto out;
	}
	if (parse_addrport(target, &ss, &sslen) < 0) {
		rc = 2;
		goto out;
	}
	deadline = now_mono_ms() + (uint64_t)timeout;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || (connect(fd, (struct sockaddr *)&ss, sslen) < 0 && errno != EINPROGRESS)) {
		fprintf(stderr, "lifeline-sample: cannot connect to %s: %s\n", target, strerror(errno));
		goto out;
	}
	if (wait_ready(fd, POLLOUT, deadline) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 || soerr != 0) {
		fprintf(stderr, "lifeline-sample: cannot connect to %s: %s\n", target,
		    soerr != 0 ? strerror(soerr) : "timed out");
		goto out;
	}
	{
		char *line = xasprintf("%s\n", req);
		ssize_t n = send(fd, line, strlen(line), MSG_NOSIGNAL);
		size_t want = strlen(line);

		free(line);
		if (n < 0 || (size_t)n != want) {
			fprintf(stderr, "lifeline-sample: cannot send to %s: %s\n", target,
			    n < 0 ? strerror(errno) : "short send");
			goto out;
		}
	}
	for (;;) {
		ssize_t n;

		if (wait_ready(fd, POLLIN, deadline) < 0) {
			fprintf(stderr, "lifeline-sample: no answer from %s within %ld ms\n", target, timeout);
			goto out;
		}
		n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			fprintf(stderr, "lifeline-sample: %s closed the connection without an answer%s%s\n",
			    target, n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
			goto out;
		}
		got += (size_t)n;
		buf[got] = '\0';
		if ((nl = strchr(buf, '\n')) != NULL)
			break;
		if (got == sizeof(buf) - 1) {
			fprintf(stderr, "lifeline-sample: answer from %s too long\n", target);
			goto out;
		}
	}
	*nl = '\0';
	if (nl > buf && nl[-1] == '\r')
		nl[-1] = '\0';
	printf("%s\n", buf);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(req);
	return rc;
}

static void
usage(FILE *out)
{
	fprintf(out, "usage: lifeline-sample [--config FILE] [--listen ADDR:PORT] [--data DIR] [--identity NAME]\n"
	    "       lifeline-sample ask ADDR:PORT REQUEST [--timeout MS]\n");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config",   required_argument, NULL, 'c' },
		{ "listen",   required_argument, NULL, 'l' },
		{ "data",     required_argument, NULL, 'd' },
		{ "identity", required_argument, NULL, 'i' },
		{ "help",     no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct options o = { .config = DEFAULT_CONFIG };
	int ch, rc;

	log_init(LOG_TO_STDERR, 0, "lifeline-sample");
	if (argc > 1 && strcmp(argv[1], "ask") == 0)
		return ask(argc - 1, argv + 1);
	while ((ch = getopt_long(argc, argv, "c:l:d:i:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o.config = optarg;
			o.config_given = true;
			break;
		case 'l':
			free(o.listen);
			o.listen = xstrdup(optarg);
			break;
		case 'd':
			free(o.data);
			o.data = xstrdup(optarg);
			break;
		case 'i':
			o.identity = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "lifeline-sample: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	rc = serve(&o);
	free(o.listen);
	free(o.data);
	return rc;
}
