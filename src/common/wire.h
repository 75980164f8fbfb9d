/*
 * The wire format of messages between nodes on a channel: a fixed header
 * (magic, version, type, length, epoch) and a typed payload, all big-endian
 * and encoded field by field, never by casting structs onto buffers.
 */
#ifndef LIFELINE_WIRE_H
#define LIFELINE_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WIRE_MAGIC        0x4c4c5731u      /* "LLW1" */
#define WIRE_VERSION      1
#define WIRE_HDR_SIZE     24
#define WIRE_MAX_PAYLOAD  (64 * 1024)      /* a control message is small */
#define WIRE_NAME_SIZE    32               /* cluster name, NUL padded */

enum wire_type {
	WIRE_HELLO     = 1,   /* first message on every connection, both ways */
	WIRE_HEARTBEAT = 2,
	WIRE_REFUSE    = 3,   /* why the other side closes: text payload */
	WIRE_SWITCHOVER = 4,  /* to the active: hand the role to a node */
	WIRE_ENGINE_STOP = 5, /* lifeline engine stop --cluster: stop your engine */
	WIRE_SWITCHOVER_REPLY = 6, /* from the active: a forwarded switchover started or refused */
	/* On a journal stream connection (repl/streamwire.h). */
	WIRE_STREAM_POS     = 7,  /* receiver: where its journal stands */
	WIRE_STREAM_RECORDS = 8,  /* sender: a batch of records, maybe compressed */
	WIRE_STREAM_ACK     = 9,  /* receiver: durable and applied up to */
	WIRE_STREAM_CUT     = 10, /* sender: your records after a seq are a divergent tail */
	WIRE_STREAM_SKIP    = 11, /* sender: records you lack are gone here; check instead */
	WIRE_STREAM_UP      = 12, /* receiver: for the active (relayed up the chain): wants, a check */
	WIRE_STREAM_CHECKED = 13, /* sender: a check of your copy ended at a seq (relayed down) */
	WIRE_STREAM_START   = 14, /* sender: your journal is a prefix of mine; records follow from a seq */
	/* On a node agent connection (repl/agent.h). */
	WIRE_ENGINE_START   = 15, /* start your engine (lifeline engine start --cluster) */
	WIRE_ENGINE_STARTED = 16, /* its answer: what was done (text); a REFUSE says why not */
	WIRE_PLUGIN_FILES   = 17, /* lifeline plugin install/uninstall: a plug-in's files, or drop them */
	WIRE_PLUGIN_DONE    = 18, /* its answer: what was done (text); a REFUSE says why not */
	WIRE_CONFIG_PUSH    = 19, /* lifeline config push: prepare, commit or abort a lifeline.conf */
	WIRE_CONFIG_DONE    = 20, /* its answer: the config_hash and what was done; a REFUSE says why not */
};

/* HELLO kind: what the connection carries. */
#define WIRE_KIND_BEATS   1
#define WIRE_KIND_STREAM  2
#define WIRE_KIND_AGENT   3

/* lifeline-repl's node agent listens on every channel address (repl/agent.h). */
#define WIRE_AGENT_PORT   9730

/*
 * PLUGIN_FILES: u8 op, 7 reserved, the plug-in's name NUL padded to 32,
 * u16 count, 6 reserved, then per file u16 name length, the name, u32
 * data length, the data. Every file is named "NAME." something, without
 * '/'. The only agent request larger than a hello.
 */
#define WIRE_PLUGIN_PUT        1      /* write these files (replacing the plug-in's) */
#define WIRE_PLUGIN_DROP       2      /* remove the plug-in's files; no file follows */
#define WIRE_PLUGIN_MAX_FILES  16
#define WIRE_PLUGIN_FILE_NAME  128
#define WIRE_AGENT_MAX_PAYLOAD (16 * 1024 * 1024)

struct wire_plugin_file {
	char           name[WIRE_PLUGIN_FILE_NAME + 1];
	const uint8_t *data;              /* into the decoded payload */
	uint32_t       len;
};

struct wire_plugin_files {
	uint8_t                 op;
	char                    plugin[33];
	size_t                  nfiles;
	struct wire_plugin_file files[WIRE_PLUGIN_MAX_FILES];
};

/*
 * CONFIG_PUSH, one phase of the two-phase commit of `lifeline config push`:
 * u8 phase, 7 reserved (zero), the SHA-256 of the text (32 bytes: the
 * push's name in every phase), u32 text length, 4 reserved (zero), then
 * the text of lifeline.conf: PREPARE only, without NUL bytes, at most
 * WIRE_CONFIG_MAX_TEXT; COMMIT and ABORT carry none.
 */
#define WIRE_CONFIG_PREPARE    1      /* validate the text, stage it beside lifeline.conf */
#define WIRE_CONFIG_COMMIT     2      /* put the staged text in place, reload the engine */
#define WIRE_CONFIG_ABORT      3      /* remove the staged text */
#define WIRE_CONFIG_PUSH_MIN   48
#define WIRE_CONFIG_DIGEST     32
#define WIRE_CONFIG_MAX_TEXT   (1024 * 1024)  /* config_load's own limit */

struct wire_config_push {
	uint8_t      phase;
	uint8_t      digest[WIRE_CONFIG_DIGEST];   /* SHA-256 of text */
	const char  *text;                         /* PREPARE: into the payload, not NUL ended */
	uint32_t     len;
};

/*
 * CONFIG_DONE: u8 phase (the request's), 7 reserved (zero), the
 * config_hash in 64 lowercase hex digits (PREPARE: the staged file's as
 * this node loads it, COMMIT: the one now in place; ABORT: 64 '0', none),
 * then what was done, printable text of at most 255 bytes.
 */
#define WIRE_CONFIG_DONE_MIN   72

struct wire_config_done {
	uint8_t phase;
	char    config_hash[65];
	char    text[256];
};

/* ENGINE_START: 8 reserved bytes, zero. */
#define WIRE_ENGINE_START_SIZE 8

/* SWITCHOVER_REPLY: u8 started, u8 target, 6 reserved, then the reason (text). */
#define WIRE_SWITCHOVER_REPLY_MIN 8

/* ENGINE_STOP: one byte, whether the applications stay up. */
#define WIRE_STOP_APPS       0
#define WIRE_LEAVE_APPS      1
#define WIRE_ENGINE_STOP_SIZE 8

/* SWITCHOVER: asked of the active by another node (lifeline switchover). */
struct wire_switchover {
	uint8_t  target;      /* enum node_id to become active */
	uint8_t  requester;   /* enum node_id where the command was given */
	uint8_t  reserved[6];
};
#define WIRE_SWITCHOVER_SIZE 8

/* The header as decoded. On the wire: u32 magic, u16 version, u16 type,
 * u32 length, u32 reserved (0), u64 epoch. */
struct wire_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t length;      /* payload bytes after the header */
	uint32_t reserved;
	uint64_t epoch;       /* the sender's persisted epoch */
};

/*
 * HELLO features: what the sender takes beyond version 1's messages. Older
 * builds send 0 there and ignore the byte, so a feature is used on a
 * connection only when the peer's hello offered it.
 */
#define WIRE_FEAT_HB_CONFIG  0x01   /* heartbeats of WIRE_HEARTBEAT_SIZE, with a config hash */

/* HELLO: who is talking, and what it speaks. 48 bytes. */
struct wire_hello {
	char     cluster[WIRE_NAME_SIZE];
	uint8_t  identity;    /* enum node_id */
	uint8_t  role;        /* enum role */
	uint8_t  channel;     /* index of the sender's channel address */
	uint8_t  kind;        /* WIRE_KIND_BEATS or WIRE_KIND_STREAM */
	uint16_t min_version;
	uint16_t max_version;
	uint8_t  features;    /* WIRE_FEAT_*; was reserved (zero) */
	uint8_t  reserved[7];
};
#define WIRE_HELLO_SIZE 48

/* HEARTBEAT flags: what the sender sees, for the peer's decide(). */
#define WIRE_HB_PING_OK      0x01   /* sender reaches its public ping targets */
#define WIRE_HB_IN_SYNC      0x02   /* sender's copy is in sync with the active */
#define WIRE_HB_ACTIVE_LOST  0x04   /* sender has lost the active on every channel */
#define WIRE_HB_STANDBY_KNOWN 0x08  /* sender, the active, has durably recorded that a
				       stand-by exists: only then may one count as in sync */

/*
 * HEARTBEAT: sent every heartbeat interval on every channel. 48 bytes to a
 * peer whose hello offered WIRE_FEAT_HB_CONFIG, else the 40 bytes of
 * version 1 (without the config hash), which is also accepted.
 * The RTT is measured without synchronized clocks: each side echoes the
 * peer's last sent_ns and how long it held it, so the peer computes
 * rtt = now - echo_ns - echo_held_us.
 */
#define WIRE_HB_HASH_SIZE 8          /* the first bytes of the config_hash (SHA-256) */
struct wire_heartbeat {
	uint64_t seq;         /* per connection, from 1 */
	uint64_t sent_ns;     /* sender's monotonic clock */
	uint64_t echo_seq;    /* last seq received from the peer, 0 if none */
	uint64_t echo_ns;     /* that heartbeat's sent_ns */
	uint32_t echo_held_us;/* time from its receipt to this send */
	uint8_t  role;
	uint8_t  active;      /* node the sender holds active, 0xff = none */
	uint8_t  flags;
	uint8_t  reserved;
	/* The long form only: */
	uint8_t  config_hash[WIRE_HB_HASH_SIZE]; /* the sender's running configuration */
	bool     config_known;        /* decoded from the long form; send: write the long form */
};
#define WIRE_HEARTBEAT_SIZE    48
#define WIRE_HEARTBEAT_V1_SIZE 40    /* without config_hash */

/* Write a header of WIRE_HDR_SIZE bytes at p; returns p past it. */
uint8_t *wire_put_hdr(uint8_t *p, uint16_t type, uint32_t length, uint64_t epoch);

/* Encoders write the whole message (header and payload) into buf and
 * return its size; buf must hold WIRE_HDR_SIZE + the payload size. */
size_t wire_encode_hello(uint8_t *buf, uint64_t epoch, const struct wire_hello *h);
/* The long form when hb->config_known, else the 40-byte one; its size either way. */
size_t wire_encode_heartbeat(uint8_t *buf, uint64_t epoch, const struct wire_heartbeat *hb);
size_t wire_encode_switchover(uint8_t *buf, uint64_t epoch, const struct wire_switchover *s);
size_t wire_encode_engine_stop(uint8_t *buf, uint64_t epoch, int apps);
/* buf holds WIRE_HDR_SIZE + 8 + 255; the reason is cut at 255 bytes. */
size_t wire_encode_switchover_reply(uint8_t *buf, uint64_t epoch, int started, int target,
    const char *why);
/* Returns 0 with *started, *target and a printable reason, or -1 with why. */
int wire_decode_switchover_reply(const uint8_t *p, size_t len, int *started, int *target,
    char *reason, size_t reasonlen, char *why, size_t whylen);
/* Returns WIRE_STOP_APPS or WIRE_LEAVE_APPS, or -1 with why. */
int wire_decode_engine_stop(const uint8_t *p, size_t len, char *why, size_t whylen);
/* A REFUSE carries a reason of at most 255 bytes (longer is cut). */
size_t wire_encode_refuse(uint8_t *buf, size_t buflen, uint64_t epoch, const char *why);
size_t wire_encode_engine_start(uint8_t *buf, uint64_t epoch);
/* ENGINE_STARTED carries what was done, at most 255 bytes, as a REFUSE its reason. */
size_t wire_encode_engine_started(uint8_t *buf, size_t buflen, uint64_t epoch, const char *what);
size_t wire_encode_plugin_done(uint8_t *buf, size_t buflen, uint64_t epoch, const char *what);
/* The whole message, header included, malloc'd into *out; its length. */
size_t wire_encode_plugin_files(uint8_t **out, uint64_t epoch, const struct wire_plugin_files *r);

/*
 * CONFIG_PUSH, malloc'd into *out with its header; its length. A PREPARE's
 * digest must be wire_config_digest of its text (the decoder checks it).
 */
size_t wire_encode_config_push(uint8_t **out, uint64_t epoch, const struct wire_config_push *r);
/* Every field checked; the text points into p. 0, or -1 with why. */
int wire_decode_config_push(const uint8_t *p, size_t len, struct wire_config_push *r, char *why,
    size_t whylen);
/* buf holds WIRE_HDR_SIZE + WIRE_CONFIG_DONE_MIN + 255; the text is cut at 255 bytes. */
size_t wire_encode_config_done(uint8_t *buf, size_t buflen, uint64_t epoch,
    const struct wire_config_done *d);
int wire_decode_config_done(const uint8_t *p, size_t len, struct wire_config_done *d, char *why,
    size_t whylen);
/* The SHA-256 of a configuration's text, which names a push. */
void wire_config_digest(const char *text, size_t len, uint8_t digest[WIRE_CONFIG_DIGEST]);
/* Whether s is a config_hash: 64 lowercase hex digits. */
bool wire_is_config_hash(const char *s);
/* The first WIRE_HB_HASH_SIZE bytes of a config_hash (hex) into out; -1 if s is none. */
int wire_hb_hash(const char *config_hash, uint8_t out[WIRE_HB_HASH_SIZE]);

/*
 * The checks every receiver of a HELLO makes: the connection's kind, this
 * cluster, the identity the certificate gave (peer), and a protocol
 * version both sides speak. 0, or -1 with why (what was wrong and what
 * was expected).
 */
int wire_check_hello(const struct wire_hello *h, unsigned kind, const char *cluster, int peer,
    char *why, size_t whylen);

/*
 * Decode a header from len available bytes. Returns 0 when complete and
 * valid, 1 when more bytes are needed, -1 when invalid (why says what was
 * wrong and what was expected: bad magic, version, oversized length).
 * A version other than WIRE_VERSION is accepted here: the HELLO's version
 * range decides what the two sides speak.
 */
int wire_decode_hdr(const uint8_t *buf, size_t len, struct wire_hdr *h,
    char *why, size_t whylen);
/* The same with another limit on the payload (the journal stream's). */
int wire_decode_hdr_max(const uint8_t *buf, size_t len, uint32_t max_payload,
    struct wire_hdr *h, char *why, size_t whylen);

/* Payload decoders: -1 with why when the size or a field is wrong. */
int wire_decode_hello(const uint8_t *p, size_t len, struct wire_hello *h,
    char *why, size_t whylen);
int wire_decode_heartbeat(const uint8_t *p, size_t len, struct wire_heartbeat *hb,
    char *why, size_t whylen);
int wire_decode_switchover(const uint8_t *p, size_t len, struct wire_switchover *s,
    char *why, size_t whylen);
int wire_decode_engine_start(const uint8_t *p, size_t len, char *why, size_t whylen);
/* Every name checked; the files' data point into p. */
int wire_decode_plugin_files(const uint8_t *p, size_t len, struct wire_plugin_files *r, char *why,
    size_t whylen);
/* The reason of a REFUSE (or the text of ENGINE_STARTED), made printable, into out. */
void wire_decode_refuse(const uint8_t *p, size_t len, char *out, size_t outlen);

#endif
