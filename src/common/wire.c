/*
 * Encoding and decoding of channel messages. Every field is written with an
 * explicit size and byte order so that nodes of different builds agree, and
 * every decoder checks sizes and values before anything is used.
 */
#include "common/wire.h"
#include "common/bytes.h"
#include "common/config.h"
#include "common/log.h"
#include "common/util.h"

#include <openssl/evp.h>
#include <stdbool.h>

#include <stdio.h>
#include <string.h>

/* The payload layouts add up to the sizes the header announces. */
_Static_assert(4 + 2 + 2 + 4 + 4 + 8 == WIRE_HDR_SIZE, "header layout");
_Static_assert(WIRE_NAME_SIZE + 4 * 1 + 2 * 2 + 1 + sizeof(((struct wire_hello *)0)->reserved)
    == WIRE_HELLO_SIZE, "hello layout");
_Static_assert(4 * 8 + 4 + 3 * 1 + sizeof(((struct wire_heartbeat *)0)->reserved)
    == WIRE_HEARTBEAT_V1_SIZE, "heartbeat layout");
_Static_assert(WIRE_HEARTBEAT_V1_SIZE + WIRE_HB_HASH_SIZE == WIRE_HEARTBEAT_SIZE,
    "long heartbeat layout");
_Static_assert(1 + 7 + WIRE_CONFIG_DIGEST + 4 + 4 == WIRE_CONFIG_PUSH_MIN, "config push layout");
_Static_assert(1 + 7 + 64 == WIRE_CONFIG_DONE_MIN, "config done layout");

uint8_t *
wire_put_hdr(uint8_t *p, uint16_t type, uint32_t length, uint64_t epoch)
{
	p = put32(p, WIRE_MAGIC);
	p = put16(p, WIRE_VERSION);
	p = put16(p, type);
	p = put32(p, length);
	p = put32(p, 0);
	return put64(p, epoch);
}

size_t
wire_encode_hello(uint8_t *buf, uint64_t epoch, const struct wire_hello *h)
{
	uint8_t *p = wire_put_hdr(buf, WIRE_HELLO, WIRE_HELLO_SIZE, epoch);

	memset(p, 0, WIRE_HELLO_SIZE);
	memcpy(p, h->cluster, strnlen(h->cluster, WIRE_NAME_SIZE));
	p += WIRE_NAME_SIZE;
	*p++ = h->identity;
	*p++ = h->role;
	*p++ = h->channel;
	*p++ = h->kind;
	p = put16(p, h->min_version);
	p = put16(p, h->max_version);
	*p = h->features;
	return WIRE_HDR_SIZE + WIRE_HELLO_SIZE;
}

size_t
wire_encode_heartbeat(uint8_t *buf, uint64_t epoch, const struct wire_heartbeat *hb)
{
	size_t size = hb->config_known ? WIRE_HEARTBEAT_SIZE : WIRE_HEARTBEAT_V1_SIZE;
	uint8_t *p = wire_put_hdr(buf, WIRE_HEARTBEAT, (uint32_t)size, epoch);

	p = put64(p, hb->seq);
	p = put64(p, hb->sent_ns);
	p = put64(p, hb->echo_seq);
	p = put64(p, hb->echo_ns);
	p = put32(p, hb->echo_held_us);
	*p++ = hb->role;
	*p++ = hb->active;
	*p++ = hb->flags;
	*p++ = 0;
	if (hb->config_known)
		memcpy(p, hb->config_hash, WIRE_HB_HASH_SIZE);
	return WIRE_HDR_SIZE + size;
}

size_t
wire_encode_switchover(uint8_t *buf, uint64_t epoch, const struct wire_switchover *sw)
{
	uint8_t *p = wire_put_hdr(buf, WIRE_SWITCHOVER, WIRE_SWITCHOVER_SIZE, epoch);

	memset(p, 0, WIRE_SWITCHOVER_SIZE);
	p[0] = sw->target;
	p[1] = sw->requester;
	return WIRE_HDR_SIZE + WIRE_SWITCHOVER_SIZE;
}

size_t
wire_encode_engine_stop(uint8_t *buf, uint64_t epoch, int apps)
{
	uint8_t *p = wire_put_hdr(buf, WIRE_ENGINE_STOP, WIRE_ENGINE_STOP_SIZE, epoch);

	memset(p, 0, WIRE_ENGINE_STOP_SIZE);
	p[0] = (uint8_t)apps;
	return WIRE_HDR_SIZE + WIRE_ENGINE_STOP_SIZE;
}

int
wire_decode_engine_stop(const uint8_t *p, size_t len, char *why, size_t whylen)
{
	if (len != WIRE_ENGINE_STOP_SIZE) {
		snprintf(why, whylen, "engine stop of %zu bytes, expected %d", len, WIRE_ENGINE_STOP_SIZE);
		return -1;
	}
	if (p[0] != WIRE_STOP_APPS && p[0] != WIRE_LEAVE_APPS) {
		snprintf(why, whylen, "engine stop with applications mode %u, expected 0 or 1", p[0]);
		return -1;
	}
	return p[0];
}

size_t
wire_encode_switchover_reply(uint8_t *buf, uint64_t epoch, int started, int target,
    const char *why)
{
	size_t n = strlen(why) > 255 ? 255 : strlen(why);
	uint8_t *p = wire_put_hdr(buf, WIRE_SWITCHOVER_REPLY, (uint32_t)(WIRE_SWITCHOVER_REPLY_MIN + n), epoch);

	memset(p, 0, WIRE_SWITCHOVER_REPLY_MIN);
	p[0] = (uint8_t)(started != 0);
	p[1] = (uint8_t)target;
	memcpy(p + WIRE_SWITCHOVER_REPLY_MIN, why, n);
	return WIRE_HDR_SIZE + WIRE_SWITCHOVER_REPLY_MIN + n;
}

int
wire_decode_switchover_reply(const uint8_t *p, size_t len, int *started, int *target,
    char *reason, size_t reasonlen, char *why, size_t whylen)
{
	if (len < WIRE_SWITCHOVER_REPLY_MIN || len > WIRE_SWITCHOVER_REPLY_MIN + 255) {
		snprintf(why, whylen, "switchover reply of %zu bytes, expected %d to %d", len,
		    WIRE_SWITCHOVER_REPLY_MIN, WIRE_SWITCHOVER_REPLY_MIN + 255);
		return -1;
	}
	if (p[0] > 1 || p[1] >= NODE_COUNT) {
		snprintf(why, whylen, "switchover reply with started %u and node %u, expected 0 or 1 "
		    "and a node", p[0], p[1]);
		return -1;
	}
	*started = p[0];
	*target = p[1];
	wire_decode_refuse(p + WIRE_SWITCHOVER_REPLY_MIN, len - WIRE_SWITCHOVER_REPLY_MIN,
	    reason, reasonlen);
	return 0;
}

/* A message whose payload is text of at most 255 bytes (longer is cut). */
static size_t
encode_text(uint8_t *buf, size_t buflen, uint16_t type, uint64_t epoch, const char *text)
{
	size_t n = strlen(text);

	if (n > 255)
		n = 255;
	if (buflen < WIRE_HDR_SIZE)
		return 0;
	if (n > buflen - WIRE_HDR_SIZE)
		n = buflen - WIRE_HDR_SIZE;
	memcpy(wire_put_hdr(buf, type, (uint32_t)n, epoch), text, n);
	return WIRE_HDR_SIZE + n;
}

size_t
wire_encode_refuse(uint8_t *buf, size_t buflen, uint64_t epoch, const char *why)
{
	return encode_text(buf, buflen, WIRE_REFUSE, epoch, why);
}

size_t
wire_encode_engine_started(uint8_t *buf, size_t buflen, uint64_t epoch, const char *what)
{
	return encode_text(buf, buflen, WIRE_ENGINE_STARTED, epoch, what);
}

size_t
wire_encode_plugin_done(uint8_t *buf, size_t buflen, uint64_t epoch, const char *what)
{
	return encode_text(buf, buflen, WIRE_PLUGIN_DONE, epoch, what);
}

size_t
wire_encode_plugin_files(uint8_t **out, uint64_t epoch, const struct wire_plugin_files *r)
{
	size_t len = 48;
	uint8_t *p;

	for (size_t i = 0; i < r->nfiles; i++)
		len += 2 + strlen(r->files[i].name) + 4 + r->files[i].len;
	*out = xmalloc(WIRE_HDR_SIZE + len);
	p = wire_put_hdr(*out, WIRE_PLUGIN_FILES, (uint32_t)len, epoch);
	memset(p, 0, 48);
	p[0] = r->op;
	memcpy(p + 8, r->plugin, strnlen(r->plugin, 32));
	put16(p + 40, (uint16_t)r->nfiles);
	p += 48;
	for (size_t i = 0; i < r->nfiles; i++) {
		size_t n = strlen(r->files[i].name);

		p = put16(p, (uint16_t)n);
		memcpy(p, r->files[i].name, n);
		p = put32(p + n, r->files[i].len);
		memcpy(p, r->files[i].data, r->files[i].len);
		p += r->files[i].len;
	}
	return WIRE_HDR_SIZE + len;
}

/* A plug-in's name: 1 to 32 of [a-z0-9_-]. */
static bool
plugin_word(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 32 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* A file of plugin: "PLUGIN." then letters, digits, '.', '_', '@' or '-'; no '/'. */
static bool
plugin_file_name(const char *plugin, const char *name)
{
	size_t pn = strlen(plugin), n = strlen(name);

	return n > pn + 1 && strncmp(name, plugin, pn) == 0 && name[pn] == '.' &&
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-") == n &&
	    strstr(name, "..") == NULL;
}

int
wire_decode_plugin_files(const uint8_t *p, size_t len, struct wire_plugin_files *r, char *why,
    size_t whylen)
{
	const uint8_t *end = p + len;

	memset(r, 0, sizeof(*r));
	if (len < 48) {
		snprintf(why, whylen, "plug-in files of %zu bytes, expected at least 48", len);
		return -1;
	}
	r->op = p[0];
	memcpy(r->plugin, p + 8, 32);
	r->nfiles = get16(p + 40);
	for (size_t i = 1; i < 48; i++) {
		bool reserved = i < 8 || i >= 42;
		bool padding = i >= 8 && i < 40 && i - 8 >= strlen(r->plugin);

		if ((reserved || padding) && p[i] != 0) {
			snprintf(why, whylen, "plug-in files with byte %zu set, expected a zero", i);
			return -1;
		}
	}
	if (r->op != WIRE_PLUGIN_PUT && r->op != WIRE_PLUGIN_DROP) {
		snprintf(why, whylen, "plug-in files with op %u, expected %d or %d", r->op,
		    WIRE_PLUGIN_PUT, WIRE_PLUGIN_DROP);
		return -1;
	}
	if (!plugin_word(r->plugin)) {
		snprintf(why, whylen, "plug-in name is not 1 to 32 of [a-z0-9_-]");
		return -1;
	}
	if (r->nfiles > WIRE_PLUGIN_MAX_FILES || (r->op == WIRE_PLUGIN_DROP && r->nfiles != 0)) {
		snprintf(why, whylen, "%zu plug-in files, expected at most %d (none to drop)",
		    r->nfiles, WIRE_PLUGIN_MAX_FILES);
		return -1;
	}
	p += 48;
	for (size_t i = 0; i < r->nfiles; i++) {
		struct wire_plugin_file *f = &r->files[i];
		size_t n;

		if (end - p < 2 || (n = get16(p)) > WIRE_PLUGIN_FILE_NAME || (size_t)(end - p) < 2 + n + 4) {
			snprintf(why, whylen, "plug-in file %zu is cut short or named too long", i);
			return -1;
		}
		memcpy(f->name, p + 2, n);
		f->name[n] = '\0';
		p += 2 + n;
		f->len = get32(p);
		p += 4;
		if ((size_t)(end - p) < f->len) {
			snprintf(why, whylen, "plug-in file %s is cut short", f->name);
			return -1;
		}
		f->data = p;
		p += f->len;
		if (!plugin_file_name(r->plugin, f->name) || memchr(f->name, '\0', n) != NULL) {
			snprintf(why, whylen, "plug-in file \"%s\" is not a file of plug-in %s",
			    f->name, r->plugin);
			return -1;
		}
	}
	if (p != end) {
		snprintf(why, whylen, "%zu bytes after the plug-in files", (size_t)(end - p));
		return -1;
	}
	return 0;
}

size_t
wire_encode_engine_start(uint8_t *buf, uint64_t epoch)
{
	memset(wire_put_hdr(buf, WIRE_ENGINE_START, WIRE_ENGINE_START_SIZE, epoch), 0,
	    WIRE_ENGINE_START_SIZE);
	return WIRE_HDR_SIZE + WIRE_ENGINE_START_SIZE;
}

int
wire_decode_engine_start(const uint8_t *p, size_t len, char *why, size_t whylen)
{
	if (len != WIRE_ENGINE_START_SIZE) {
		snprintf(why, whylen, "engine start of %zu bytes, expected %d", len,
		    WIRE_ENGINE_START_SIZE);
		return -1;
	}
	for (size_t i = 0; i < len; i++)
		if (p[i] != 0) {
			snprintf(why, whylen, "engine start with reserved byte %zu set, expected zeros", i);
			return -1;
		}
	return 0;
}

int
wire_check_hello(const struct wire_hello *h, unsigned kind, const char *cluster, int peer,
    char *why, size_t whylen)
{
	if (h->kind != kind) {
		snprintf(why, whylen, "hello of kind %u, expected %u on this connection", h->kind, kind);
		return -1;
	}
	if (strncmp(h->cluster, cluster, sizeof(h->cluster)) != 0 || h->identity != peer) {
		snprintf(why, whylen, "hello does not match the certificate of %s in cluster %s",
		    node_name(peer), cluster);
		return -1;
	}
	if (h->max_version < WIRE_VERSION || h->min_version > WIRE_VERSION) {
		snprintf(why, whylen, "%s speaks protocol versions %u..%u, this node speaks %u",
		    node_name(peer), h->min_version, h->max_version, WIRE_VERSION);
		return -1;
	}
	return 0;
}

int
wire_decode_hdr(const uint8_t *buf, size_t len, struct wire_hdr *h, char *why, size_t whylen)
{
	return wire_decode_hdr_max(buf, len, WIRE_MAX_PAYLOAD, h, why, whylen);
}

int
wire_decode_hdr_max(const uint8_t *buf, size_t len, uint32_t max_payload, struct wire_hdr *h,
    char *why, size_t whylen)
{
	if (len < WIRE_HDR_SIZE)
		return 1;
	h->magic = get32(buf);
	h->version = get16(buf + 4);
	h->type = get16(buf + 6);
	h->length = get32(buf + 8);
	h->reserved = get32(buf + 12);
	h->epoch = get64(buf + 16);
	if (h->magic != WIRE_MAGIC) {
		snprintf(why, whylen, "bad magic 0x%08x, expected a Lifeline channel message (0x%08x)",
		    h->magic, WIRE_MAGIC);
		return -1;
	}
	if (h->version == 0) {
		snprintf(why, whylen, "protocol version 0, expected 1 or later");
		return -1;
	}
	if (h->length > max_payload) {
		snprintf(why, whylen, "message of %u bytes, expected at most %u",
		    h->length, max_payload);
		return -1;
	}
	return 0;
}

int
wire_decode_hello(const uint8_t *p, size_t len, struct wire_hello *h, char *why, size_t whylen)
{
	if (len != WIRE_HELLO_SIZE) {
		snprintf(why, whylen, "hello of %zu bytes, expected %d", len, WIRE_HELLO_SIZE);
		return -1;
	}
	memcpy(h->cluster, p, WIRE_NAME_SIZE);
	if (memchr(h->cluster, '\0', WIRE_NAME_SIZE) == NULL) {
		snprintf(why, whylen, "hello with an unterminated cluster name, expected at most %d bytes",
		    WIRE_NAME_SIZE - 1);
		return -1;
	}
	p += WIRE_NAME_SIZE;
	h->identity = *p++;
	h->role = *p++;
	h->channel = *p++;
	h->kind = *p++;
	h->min_version = get16(p);
	h->max_version = get16(p + 2);
	h->features = p[4];
	memcpy(h->reserved, p + 5, sizeof(h->reserved));
	if (h->identity >= NODE_COUNT) {
		snprintf(why, whylen, "hello from identity %u, expected primary, secondary or tertiary",
		    h->identity);
		return -1;
	}
	if (h->role > 1) {
		snprintf(why, whylen, "hello with role %u, expected active or passive", h->role);
		return -1;
	}
	if (h->min_version == 0 || h->min_version > h->max_version) {
		snprintf(why, whylen, "hello with versions %u..%u, expected a range from 1",
		    h->min_version, h->max_version);
		return -1;
	}
	return 0;
}

int
wire_decode_heartbeat(const uint8_t *p, size_t len, struct wire_heartbeat *hb,
    char *why, size_t whylen)
{
	if (len != WIRE_HEARTBEAT_SIZE && len != WIRE_HEARTBEAT_V1_SIZE) {
		snprintf(why, whylen, "heartbeat of %zu bytes, expected %d (or %d without a config "
		    "hash)", len, WIRE_HEARTBEAT_SIZE, WIRE_HEARTBEAT_V1_SIZE);
		return -1;
	}
	/* An older peer's beat says nothing of its configuration: unknown, not a mismatch. */
	hb->config_known = len == WIRE_HEARTBEAT_SIZE;
	memset(hb->config_hash, 0, sizeof(hb->config_hash));
	if (hb->config_known)
		memcpy(hb->config_hash, p + WIRE_HEARTBEAT_V1_SIZE, WIRE_HB_HASH_SIZE);
	hb->seq = get64(p);
	hb->sent_ns = get64(p + 8);
	hb->echo_seq = get64(p + 16);
	hb->echo_ns = get64(p + 24);
	hb->echo_held_us = get32(p + 32);
	hb->role = p[36];
	hb->active = p[37];
	hb->flags = p[38];
	hb->reserved = p[39];
	if (hb->role > 1) {
		snprintf(why, whylen, "heartbeat with role %u, expected active or passive", hb->role);
		return -1;
	}
	if (hb->active >= NODE_COUNT && hb->active != 0xff) {
		snprintf(why, whylen, "heartbeat naming node %u active, expected a node or none",
		    hb->active);
		return -1;
	}
	if (hb->seq == 0) {
		snprintf(why, whylen, "heartbeat with sequence 0, expected 1 or more");
		return -1;
	}
	return 0;
}

int
wire_decode_switchover(const uint8_t *p, size_t len, struct wire_switchover *sw,
    char *why, size_t whylen)
{
	if (len != WIRE_SWITCHOVER_SIZE) {
		snprintf(why, whylen, "switchover of %zu bytes, expected %d", len, WIRE_SWITCHOVER_SIZE);
		return -1;
	}
	sw->target = p[0];
	sw->requester = p[1];
	memcpy(sw->reserved, p + 2, sizeof(sw->reserved));
	if (sw->target >= NODE_COUNT || sw->requester >= NODE_COUNT) {
		snprintf(why, whylen, "switchover naming node %u from node %u, expected "
		    "primary, secondary or tertiary", sw->target, sw->requester);
		return -1;
	}
	return 0;
}

void
wire_decode_refuse(const uint8_t *p, size_t len, char *out, size_t outlen)
{
	size_t n = 0;

	if (outlen == 0)
		return;
	for (size_t i = 0; i < len && n + 1 < outlen; i++)
		out[n++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
	out[n] = '\0';
}

/* ---- config push ---- */

void
wire_config_digest(const char *text, size_t len, uint8_t digest[WIRE_CONFIG_DIGEST])
{
	unsigned int n = 0;

	if (EVP_Digest(text, len, digest, &n, EVP_sha256(), NULL) != 1 || n != WIRE_CONFIG_DIGEST)
		fatalx("SHA-256 failed");
}

bool
wire_is_config_hash(const char *s)
{
	return strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

int
wire_hb_hash(const char *config_hash, uint8_t out[WIRE_HB_HASH_SIZE])
{
	if (config_hash == NULL || !wire_is_config_hash(config_hash))
		return -1;
	for (size_t i = 0; i < WIRE_HB_HASH_SIZE; i++) {
		unsigned v;

		sscanf(config_hash + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
	return 0;
}

size_t
wire_encode_config_push(uint8_t **out, uint64_t epoch, const struct wire_config_push *r)
{
	uint32_t n = r->phase == WIRE_CONFIG_PREPARE ? r->len : 0;
	uint8_t *p;

	*out = xmalloc(WIRE_HDR_SIZE + WIRE_CONFIG_PUSH_MIN + n);
	p = wire_put_hdr(*out, WIRE_CONFIG_PUSH, WIRE_CONFIG_PUSH_MIN + n, epoch);
	memset(p, 0, WIRE_CONFIG_PUSH_MIN);
	p[0] = r->phase;
	memcpy(p + 8, r->digest, WIRE_CONFIG_DIGEST);
	put32(p + 40, n);
	if (n > 0)
		memcpy(p + WIRE_CONFIG_PUSH_MIN, r->text, n);
	return WIRE_HDR_SIZE + WIRE_CONFIG_PUSH_MIN + n;
}

/* Whether bytes from..to of p are all zero; else why names the first that is not. */
static bool
zeros(const uint8_t *p, size_t from, size_t to, const char *what, char *why, size_t whylen)
{
	for (size_t i = from; i < to; i++)
		if (p[i] != 0) {
			snprintf(why, whylen, "%s with reserved byte %zu set, expected a zero", what, i);
			return false;
		}
	return true;
}

int
wire_decode_config_push(const uint8_t *p, size_t len, struct wire_config_push *r, char *why,
    size_t whylen)
{
	uint8_t digest[WIRE_CONFIG_DIGEST];

	memset(r, 0, sizeof(*r));
	if (len < WIRE_CONFIG_PUSH_MIN) {
		snprintf(why, whylen, "config push of %zu bytes, expected at least %d", len,
		    WIRE_CONFIG_PUSH_MIN);
		return -1;
	}
	if (!zeros(p, 1, 8, "config push", why, whylen) || !zeros(p, 44, 48, "config push", why,
	    whylen))
		return -1;
	r->phase = p[0];
	memcpy(r->digest, p + 8, WIRE_CONFIG_DIGEST);
	r->len = get32(p + 40);
	r->text = (const char *)p + WIRE_CONFIG_PUSH_MIN;
	if (r->phase < WIRE_CONFIG_PREPARE || r->phase > WIRE_CONFIG_ABORT) {
		snprintf(why, whylen, "config push phase %u, expected prepare (1), commit (2) or "
		    "abort (3)", r->phase);
		return -1;
	}
	if (r->len != len - WIRE_CONFIG_PUSH_MIN) {
		snprintf(why, whylen, "config push announcing %u bytes of text with %zu following",
		    r->len, len - WIRE_CONFIG_PUSH_MIN);
		return -1;
	}
	if (r->phase != WIRE_CONFIG_PREPARE && r->len != 0) {
		snprintf(why, whylen, "config %s with %u bytes of text, expected none",
		    r->phase == WIRE_CONFIG_COMMIT ? "commit" : "abort", r->len);
		return -1;
	}
	if (r->phase == WIRE_CONFIG_PREPARE) {
		if (r->len == 0 || r->len > WIRE_CONFIG_MAX_TEXT) {
			snprintf(why, whylen, "configuration of %u bytes, expected 1 to %d", r->len,
			    WIRE_CONFIG_MAX_TEXT);
			return -1;
		}
		if (memchr(r->text, '\0', r->len) != NULL) {
			snprintf(why, whylen, "configuration with a NUL byte, expected a text file");
			return -1;
		}
		wire_config_digest(r->text, r->len, digest);
		if (memcmp(digest, r->digest, sizeof(digest)) != 0) {
			snprintf(why, whylen, "configuration text does not match its SHA-256: damaged "
			    "on the way");
			return -1;
		}
	}
	return 0;
}

size_t
wire_encode_config_done(uint8_t *buf, size_t buflen, uint64_t epoch,
    const struct wire_config_done *d)
{
	size_t n = strnlen(d->text, 255);
	uint8_t *p;

	if (buflen < WIRE_HDR_SIZE + WIRE_CONFIG_DONE_MIN)
		return 0;
	if (n > buflen - WIRE_HDR_SIZE - WIRE_CONFIG_DONE_MIN)
		n = buflen - WIRE_HDR_SIZE - WIRE_CONFIG_DONE_MIN;
	p = wire_put_hdr(buf, WIRE_CONFIG_DONE, (uint32_t)(WIRE_CONFIG_DONE_MIN + n), epoch);
	memset(p, 0, 8);
	p[0] = d->phase;
	if (wire_is_config_hash(d->config_hash))
		memcpy(p + 8, d->config_hash, 64);
	else
		memset(p + 8, '0', 64);
	memcpy(p + WIRE_CONFIG_DONE_MIN, d->text, n);
	return WIRE_HDR_SIZE + WIRE_CONFIG_DONE_MIN + n;
}

int
wire_decode_config_done(const uint8_t *p, size_t len, struct wire_config_done *d, char *why,
    size_t whylen)
{
	memset(d, 0, sizeof(*d));
	if (len < WIRE_CONFIG_DONE_MIN || len > WIRE_CONFIG_DONE_MIN + 255) {
		snprintf(why, whylen, "config answer of %zu bytes, expected %d to %d", len,
		    WIRE_CONFIG_DONE_MIN, WIRE_CONFIG_DONE_MIN + 255);
		return -1;
	}
	if (!zeros(p, 1, 8, "config answer", why, whylen))
		return -1;
	d->phase = p[0];
	if (d->phase < WIRE_CONFIG_PREPARE || d->phase > WIRE_CONFIG_ABORT) {
		snprintf(why, whylen, "config answer for phase %u, expected 1 to 3", d->phase);
		return -1;
	}
	memcpy(d->config_hash, p + 8, 64);
	d->config_hash[64] = '\0';
	if (!wire_is_config_hash(d->config_hash)) {
		snprintf(why, whylen, "config answer whose hash is not 64 lowercase hex digits");
		return -1;
	}
	wire_decode_refuse(p + WIRE_CONFIG_DONE_MIN, len - WIRE_CONFIG_DONE_MIN, d->text,
	    sizeof(d->text));
	return 0;
}
