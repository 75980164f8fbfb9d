/*
 * One request to another node's agent (agentcall.h), blocking: connect
 * with a deadline, TLS 1.3 with this node's certificate, HELLO both ways,
 * the request, the answer. The CLI has no loop to keep; each channel gets
 * AGENT_CALL_MS before the next is tried.
 */
#include "cli/agentcall.h"
#include "common/tls.h"
#include "common/util.h"
#include "common/values.h"
#include "common/wire.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define AGENT_CALL_MS 3000

/* A TCP connection from local to remote:port within timeout_ms, blocking afterwards. */
static int
dial(const struct channel_pair *pair, int timeout_ms, char *why, size_t whylen)
{
	struct sockaddr_storage local, remote;
	socklen_t llen = ipaddr_sockaddr(&pair->local, 0, &local);
	socklen_t rlen = ipaddr_sockaddr(&pair->remote, WIRE_AGENT_PORT, &remote);
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	struct pollfd pfd;
	int fd, err = 0, one = 1;
	socklen_t errlen = sizeof(err);

	if ((fd = socket(local.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
		snprintf(why, whylen, "socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&local, llen) < 0) {
		snprintf(why, whylen, "cannot use this node's channel address: %s", strerror(errno));
		goto fail;
	}
	if (connect(fd, (struct sockaddr *)&remote, rlen) < 0 && errno != EINPROGRESS) {
		snprintf(why, whylen, "%s", strerror(errno));
		goto fail;
	}
	pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
	if (poll(&pfd, 1, timeout_ms) <= 0) {
		snprintf(why, whylen, "no answer within %d ms", timeout_ms);
		goto fail;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen) < 0 || err != 0) {
		snprintf(why, whylen, "%s", strerror(err != 0 ? err : errno));
		goto fail;
	}
	/* From here on plain blocking I/O, each read and write bounded. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
fail:
	close(fd);
	return -1;
}

static int
read_full(SSL *ssl, uint8_t *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		int n = SSL_read(ssl, buf + got, (int)(len - got));

		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

/* The next message into buf (header decoded into h); -1 with why. */
static int
read_msg(SSL *ssl, struct wire_hdr *h, uint8_t *payload, size_t max, char *why, size_t whylen)
{
	uint8_t hdr[WIRE_HDR_SIZE];

	if (read_full(ssl, hdr, sizeof(hdr)) < 0) {
		snprintf(why, whylen, "the connection ended before an answer");
		return -1;
	}
	if (wire_decode_hdr_max(hdr, sizeof(hdr), (uint32_t)max, h, why, whylen) < 0)
		return -1;
	if (read_full(ssl, payload, h->length) < 0) {
		snprintf(why, whylen, "the connection ended inside a message");
		return -1;
	}
	return 0;
}

/* A request and the answer type that says it was done. */
struct agent_req {
	const uint8_t *msg;           /* the whole request message, header included */
	size_t         len;
	uint16_t       done;          /* ENGINE_STARTED, PLUGIN_DONE, CONFIG_DONE */
	struct wire_config_done *config_done;   /* CONFIG_DONE decoded into */
};

/* Write all of buf, however SSL_write splits it. */
static int
write_all(SSL *ssl, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		int n = SSL_write(ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);

		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The exchange on one TLS connection to peer. */
static int
exchange(SSL *ssl, const struct config *conf, enum node_id self, enum node_id peer,
    const struct agent_req *req, char *msg, size_t msglen)
{
	struct wire_hello hello = {
		.identity = (uint8_t)self, .kind = WIRE_KIND_AGENT,
		.min_version = WIRE_VERSION, .max_version = WIRE_VERSION,
	};
	uint8_t out[WIRE_HDR_SIZE + WIRE_HELLO_SIZE];
	uint8_t payload[WIRE_CONFIG_DONE_MIN + 256];   /* the longest answer */
	struct wire_hdr h;
	size_t n;
	int id;

	if (SSL_connect(ssl) != 1) {
		unsigned long e = ERR_get_error();

		snprintf(msg, msglen, "TLS: %s", e != 0 ? ERR_reason_error_string(e) : "handshake failed");
		return -1;
	}
	if (tls_peer_check(ssl, conf->name, &id, msg, msglen) < 0)
		return -1;
	if (id != (int)peer) {
		snprintf(msg, msglen, "the certificate of %s answered", node_name(id));
		return -1;
	}
	xstrlcpy(hello.cluster, conf->name, sizeof(hello.cluster));
	n = wire_encode_hello(out, 0, &hello);
	if (write_all(ssl, out, n) < 0 || write_all(ssl, req->msg, req->len) < 0) {
		snprintf(msg, msglen, "cannot send the request");
		return -1;
	}
	for (int i = 0; i < 2; i++) {
		if (read_msg(ssl, &h, payload, sizeof(payload), msg, msglen) < 0)
			return -1;
		if (h.type == WIRE_REFUSE) {
			char why[256];

			wire_decode_refuse(payload, h.length, why, sizeof(why));
			snprintf(msg, msglen, "refused: %.200s", why);
			return -1;
		}
		if (i == 0) {
			struct wire_hello theirs;

			if (h.type != WIRE_HELLO) {
				snprintf(msg, msglen, "message type %u before the hello", h.type);
				return -1;
			}
			if (wire_decode_hello(payload, h.length, &theirs, msg, msglen) < 0 ||
			    wire_check_hello(&theirs, WIRE_KIND_AGENT, conf->name, peer, msg, msglen) < 0)
				return -1;
		} else if (h.type != req->done) {
			snprintf(msg, msglen, "message type %u, expected the answer to the request", h.type);
			return -1;
		} else if (req->config_done != NULL) {
			if (wire_decode_config_done(payload, h.length, req->config_done, msg, msglen) < 0)
				return -1;
			snprintf(msg, msglen, "%s", req->config_done->text);
		} else
			wire_decode_refuse(payload, h.length, msg, msglen);
	}
	return 0;
}

/* Send req to peer's agent on each channel in turn until one answers. */
static int
agent_call(const struct config *conf, enum node_id self, enum node_id peer,
    const struct agent_req *req, char *msg, size_t msglen)
{
	struct channel_pair pairs[CONFIG_MAX_CHANNELS];
	size_t npairs = config_channel_pairs(conf, self, peer, pairs, nitems(pairs));
	char tried[1024] = "", why[256], addr[64];
	SSL_CTX *ctx;
	int rc = -1;

	if (npairs == 0) {
		snprintf(msg, msglen, "no channel to %s in the configuration", node_name(peer));
		return -1;
	}
	if ((ctx = tls_client_ctx(conf->tls_dir, conf->name, self, why, sizeof(why))) == NULL) {
		snprintf(msg, msglen, "%s", why);
		return -1;
	}
	for (size_t i = 0; i < npairs && rc < 0; i++) {
		SSL *ssl;
		int fd;

		struct ipaddr bare = pairs[i].remote;

		bare.prefix = -1;         /* the address alone, without its subnet */
		ipaddr_str(&bare, addr, sizeof(addr));
		if ((fd = dial(&pairs[i], AGENT_CALL_MS, why, sizeof(why))) >= 0) {
			if ((ssl = SSL_new(ctx)) == NULL || SSL_set_fd(ssl, fd) != 1)
				snprintf(why, sizeof(why), "cannot set up TLS");
			else if (exchange(ssl, conf, self, peer, req, why, sizeof(why)) == 0) {
				snprintf(msg, msglen, "%s", why);
				rc = 0;
			}
			if (ssl != NULL)
				SSL_free(ssl);
			close(fd);
		}
		if (rc < 0)
			snprintf(tried + strlen(tried), sizeof(tried) - strlen(tried), "%s%s port %d: %s",
			    i > 0 ? "; " : "", addr, WIRE_AGENT_PORT, why);
	}
	if (rc < 0)
		snprintf(msg, msglen, "%s", tried);
	SSL_CTX_free(ctx);
	return rc;
}

int
agent_engine_start(const struct config *conf, enum node_id self, enum node_id peer, char *msg,
    size_t msglen)
{
	uint8_t buf[WIRE_HDR_SIZE + WIRE_ENGINE_START_SIZE];
	struct agent_req req = { buf, wire_encode_engine_start(buf, 0), WIRE_ENGINE_STARTED, NULL };

	return agent_call(conf, self, peer, &req, msg, msglen);
}

int
agent_plugin_files(const struct config *conf, enum node_id self, enum node_id peer,
    const struct wire_plugin_files *files, char *msg, size_t msglen)
{
	uint8_t *buf;
	struct agent_req req;
	int rc;

	req.len = wire_encode_plugin_files(&buf, 0, files);
	req.msg = buf;
	req.done = WIRE_PLUGIN_DONE;
	req.config_done = NULL;
	rc = agent_call(conf, self, peer, &req, msg, msglen);
	free(buf);
	return rc;
}

int
agent_config_push(const struct config *conf, enum node_id self, enum node_id peer,
    const struct wire_config_push *push, struct wire_config_done *done, char *msg, size_t msglen)
{
	uint8_t *buf;
	struct agent_req req;
	int rc;

	req.len = wire_encode_config_push(&buf, 0, push);
	req.msg = buf;
	req.done = WIRE_CONFIG_DONE;
	req.config_done = done;
	rc = agent_call(conf, self, peer, &req, msg, msglen);
	free(buf);
	return rc;
}
