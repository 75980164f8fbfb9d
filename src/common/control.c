/*
 * Server side of the control protocol, on a daemon's event loop. Each
 * client gets a bufferevent; a complete line is one request, answered by a
 * handler from the command table, at once or later (control_answer). A
 * client that sends a line longer than CTL_MAX_LINE gets an error and is
 * disconnected.
 */
#include "common/control.h"
#include "common/ctl.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* A request kept for a later answer; forgets its client when that goes. */
struct control_later {
	struct client              *cl;
	LIST_ENTRY(control_later)   entry;
};

/* A connected client; tracked so that control_free can close what is open. */
struct client {
	struct control       *c;
	struct bufferevent   *bev;
	LIST_ENTRY(client)    entry;
	LIST_HEAD(, control_later) waiting;
};

struct control {
	struct event_base            *base;
	void                         *ctx;
	const struct control_command *table;
	struct evconnlistener        *listener;
	char                         *path;
	LIST_HEAD(, client)           clients;
};

static void
client_free(struct client *cl)
{
	struct control_later *l;

	while ((l = LIST_FIRST(&cl->waiting)) != NULL) {
		LIST_REMOVE(l, entry);
		l->cl = NULL;
	}
	LIST_REMOVE(cl, entry);
	bufferevent_free(cl->bev);
	free(cl);
}

json_t *
control_dispatch(void *ctx, const struct control_command *table,
    const char *line, size_t len, struct control_later *later)
{
	char err[256];
	json_t *req, *answer;
	const char *cmd;

	if ((req = ctl_parse_request(line, len, err, sizeof(err))) == NULL)
		return ctl_error("%s", err);
	cmd = json_string_value(json_object_get(req, "cmd"));
	for (const struct control_command *c = table; c->name != NULL; c++) {
		if (strcmp(c->name, cmd) == 0) {
			answer = c->fn(ctx, req, later);
			if (answer == NULL && later == NULL)
				answer = ctl_error("\"%s\" answers later, and this caller cannot wait", cmd);
			json_decref(req);
			return answer;
		}
	}
	/* Name what is understood, so a newer CLI talking to an older engine says so. */
	{
		char known[512] = "";

		for (const struct control_command *c = table; c->name != NULL; c++) {
			if (known[0] != '\0')
				strncat(known, ", ", sizeof(known) - strlen(known) - 1);
			strncat(known, c->name, sizeof(known) - strlen(known) - 1);
		}
		answer = ctl_error("unknown command \"%s\", this engine knows: %s", cmd, known);
	}
	json_decref(req);
	return answer;
}

/*
 * Send one answer line. An answer that cannot be encoded (it should not
 * happen: handlers build valid JSON) is replaced by a fixed error, never
 * allowed to take the engine down.
 */
static void
send_answer(struct bufferevent *bev, json_t *answer)
{
	static const char fallback[] = "{\"ok\":false,\"error\":\"the answer could not be encoded\"}";
	char *text = answer != NULL ? json_dumps(answer, JSON_COMPACT) : NULL;

	if (text == NULL) {
		log_warnx("control: an answer could not be encoded; sent an error instead");
		evbuffer_add(bufferevent_get_output(bev), fallback, sizeof(fallback) - 1);
	} else
		evbuffer_add(bufferevent_get_output(bev), text, strlen(text));
	evbuffer_add(bufferevent_get_output(bev), "\n", 1);
	free(text);
	json_decref(answer);
}

void
control_answer(struct control_later *later, json_t *answer)
{
	if (later->cl != NULL) {
		LIST_REMOVE(later, entry);
		send_answer(later->cl->bev, answer);
	} else
		json_decref(answer);
	free(later);
}

static void
on_client_drained(struct bufferevent *bev, void *arg)
{
	client_free(arg);
}

static void
on_client_read(struct bufferevent *bev, void *arg)
{
	struct client *cl = arg;
	struct control *c = cl->c;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len;
	char *line;

	while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF)) != NULL) {
		struct control_later *later = xcalloc(1, sizeof(*later));
		json_t *answer;

		later->cl = cl;
		LIST_INSERT_HEAD(&cl->waiting, later, entry);
		answer = control_dispatch(c->ctx, c->table, line, len, later);
		free(line);
		if (answer != NULL)
			control_answer(later, answer);
	}
	if (evbuffer_get_length(in) > CTL_MAX_LINE) {
		log_warnx("control: request longer than %d bytes, client dropped", CTL_MAX_LINE);
		send_answer(bev, ctl_error("request longer than %d bytes, expected one JSON object per line",
		    CTL_MAX_LINE));
		/* Answer, then close once the answer is out. */
		bufferevent_disable(bev, EV_READ);
		bufferevent_setcb(bev, NULL, on_client_drained, NULL, cl);
	}
}

static void
on_client_event(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		client_free(arg);
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct control *c = arg;
	struct bufferevent *bev;
	struct client *cl;

	bev = bufferevent_socket_new(c->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		close(fd);
		return;
	}
	cl = xcalloc(1, sizeof(*cl));
	cl->c = c;
	cl->bev = bev;
	LIST_INIT(&cl->waiting);
	LIST_INSERT_HEAD(&c->clients, cl, entry);
	bufferevent_setcb(bev, on_client_read, NULL, on_client_event, cl);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/* Is a daemon answering on path already? */
static int
socket_is_live(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, live;

	xstrlcpy(sun.sun_path, path, sizeof(sun.sun_path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return 0;
	live = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	close(fd);
	return live;
}

struct control *
control_new(struct event_base *base, void *ctx, const char *path,
    const struct control_command *table)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct control *c;
	mode_t old_umask;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_warnx("control socket path too long (%zu bytes, at most %zu): %s",
		    strlen(path), sizeof(sun.sun_path) - 1, path);
		return NULL;
	}
	if (socket_is_live(path)) {
		log_warnx("another %s already answers on %s", program_invocation_short_name, path);
		return NULL;
	}
	unlink(path);
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		log_warn("control socket");
		return NULL;
	}
	old_umask = umask(0077);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		umask(old_umask);
		log_warn("bind %s", path);
		close(fd);
		return NULL;
	}
	umask(old_umask);
	if (chmod(path, 0600) < 0 || listen(fd, 16) < 0) {
		log_warn("control socket %s", path);
		close(fd);
		unlink(path);
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	c->base = base;
	c->ctx = ctx;
	c->table = table;
	c->path = xstrdup(path);
	LIST_INIT(&c->clients);
	c->listener = evconnlistener_new(base, on_accept, c,
	    LEV_OPT_CLOSE_ON_FREE, -1, fd);
	if (c->listener == NULL)
		fatalx("cannot listen on the control socket");
	log_info("control socket %s", path);
	return c;
}

void
control_free(struct control *c)
{
	if (c == NULL)
		return;
	while (!LIST_EMPTY(&c->clients))
		client_free(LIST_FIRST(&c->clients));
	evconnlistener_free(c->listener);
	unlink(c->path);
	free(c->path);
	free(c);
}
