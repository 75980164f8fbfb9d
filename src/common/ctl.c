/*
 * Client side and message helpers of the control protocol. The engine's
 * server side lives in engine/control.c on the event loop; this file is the
 * blocking client the CLI and the lab use.
 */
#include "common/ctl.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int
wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int n;

	do {
		uint64_t now = now_mono_ms();
		int left = now >= deadline ? 0 : (int)(deadline - now);

		n = poll(&pfd, 1, left);
	} while (n < 0 && errno == EINTR);
	if (n == 0)
		errno = ETIMEDOUT;
	return n > 0 ? 0 : -1;
}

static int
send_all(int fd, const char *buf, size_t len, uint64_t deadline)
{
	while (len > 0) {
		ssize_t n;

		if (wait_fd(fd, POLLOUT, deadline) < 0)
			return -1;
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read until the first newline; returns a malloc'd line without it. */
static char *
recv_line(int fd, uint64_t deadline, size_t *lenp)
{
	size_t cap = 8192, len = 0;
	char *buf = xmalloc(cap);

	for (;;) {
		ssize_t n;
		char *nl;

		if (len + 1 >= cap) {
			if (cap >= CTL_MAX_LINE) {
				errno = EMSGSIZE;
				goto fail;
			}
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		if (wait_fd(fd, POLLIN, deadline) < 0)
			goto fail;
		n = recv(fd, buf + len, cap - len - 1, 0);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			goto fail;
		}
		if (n == 0) {
			errno = ECONNRESET;
			goto fail;
		}
		len += (size_t)n;
		buf[len] = '\0';
		if ((nl = memchr(buf, '\n', len)) != NULL) {
			*nl = '\0';
			*lenp = (size_t)(nl - buf);
			return buf;
		}
	}
fail:
	free(buf);
	return NULL;
}

json_t *
ctl_call(const char *path, json_t *req, int timeout_ms, char *err, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	uint64_t deadline = now_mono_ms() + (uint64_t)timeout_ms;
	json_t *answer = NULL;
	json_error_t jerr;
	char *out = NULL, *line = NULL;
	size_t len;
	int fd = -1;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "socket path too long: %s", path);
		return NULL;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		snprintf(err, errlen, "cannot reach the engine at %s: %s (is lifelined running?)",
		    path, strerror(errno));
		goto out;
	}
	out = json_dumps(req, JSON_COMPACT);
	if (out == NULL)
		fatalx("cannot encode a control request");
	len = strlen(out);
	out = xrealloc(out, len + 2);
	out[len++] = '\n';
	out[len] = '\0';
	if (send_all(fd, out, len, deadline) < 0) {
		snprintf(err, errlen, "sending to %s: %s", path, strerror(errno));
		goto out;
	}
	if ((line = recv_line(fd, deadline, &len)) == NULL) {
		snprintf(err, errlen, "no answer from the engine at %s: %s", path,
		    errno == ETIMEDOUT ? "timed out" : strerror(errno));
		goto out;
	}
	answer = json_loadb(line, len, 0, &jerr);
	if (answer == NULL || !json_is_object(answer)) {
		snprintf(err, errlen, "bad answer from the engine at %s: %s", path,
		    answer == NULL ? jerr.text : "not a JSON object");
		json_decref(answer);
		answer = NULL;
	}
out:
	if (fd >= 0)
		close(fd);
	free(out);
	free(line);
	return answer;
}

json_t *
ctl_error(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	utf8_sanitize(msg);
	return json_pack("{s:b, s:s}", "ok", 0, "error", msg);
}

json_t *
ctl_ok(void)
{
	return json_pack("{s:b}", "ok", 1);
}

json_t *
ctl_check_wait_args(json_t *req, uint64_t *id, int *timeout_ms)
{
	json_t *i = json_object_get(req, "id"), *t = json_object_get(req, "timeout_ms");

	if (!json_is_integer(i) || json_integer_value(i) < 1)
		return ctl_error("\"id\" must be the number of a check, from 1");
	if (!json_is_integer(t) || json_integer_value(t) < 0 ||
	    json_integer_value(t) > CTL_CHECK_WAIT_MAX_MS)
		return ctl_error("\"timeout_ms\" must be an integer from 0 to %d",
		    CTL_CHECK_WAIT_MAX_MS);
	*id = (uint64_t)json_integer_value(i);
	*timeout_ms = (int)json_integer_value(t);
	return NULL;
}

json_t *
ctl_parse_request(const char *line, size_t len, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *req, *cmd;

	req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (req == NULL) {
		snprintf(err, errlen, "request is not valid JSON (%s at column %d), expected one object per line",
		    jerr.text, jerr.column);
		return NULL;
	}
	if (!json_is_object(req)) {
		snprintf(err, errlen, "request is not a JSON object, expected {\"cmd\": NAME, ...}");
		goto bad;
	}
	cmd = json_object_get(req, "cmd");
	if (!json_is_string(cmd)) {
		snprintf(err, errlen, "request has no \"cmd\" string, expected {\"cmd\": NAME, ...}");
		goto bad;
	}
	return req;
bad:
	json_decref(req);
	return NULL;
}
