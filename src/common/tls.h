/*
 * Cluster TLS: the OpenSSL contexts every channel uses (TLS 1.3 only, both
 * sides present a certificate of the cluster CA) and the check of a peer's
 * node identity after the handshake.
 *
 * Files, all in tls_dir (written by `lifeline init`, see cli/init.h):
 *   ca.crt      the cluster CA certificate, the only trust anchor    0644
 *   ca.key      the CA private key; no node reads it                  0600
 *   NODE.crt    NODE = primary, secondary or tertiary                 0644
 *   NODE.key    its private key                                       0600
 * Keys are Ed25519. A key file that group or others may access is refused,
 * as ssh refuses such a key.
 *
 * Identity: a node certificate carries exactly one subjectAltName URI
 * "lifeline://CLUSTER/NODE", CLUSTER being [cluster] name and NODE a
 * node_name(). That URI is the identity; the subject (CN=NODE, O=CLUSTER)
 * is for people only. A certificate with no such URI, two of them, another
 * cluster's name or an unknown node name has no identity and is refused.
 */
#ifndef LIFELINE_TLS_H
#define LIFELINE_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "common/config.h"

#define TLS_URI_SCHEME	"lifeline://"
#define TLS_CA_CRT	"ca.crt"
#define TLS_CA_KEY	"ca.key"

/*
 * A context for the accepting side of a channel: TLS 1.3 only, presents
 * tls_dir/NODE.crt with NODE.key (NODE = node_name(self)), and requires a
 * client certificate that verifies against tls_dir/ca.crt alone (no system
 * trust store). Before returning it checks the node's own files: present,
 * regular, key private (mode 0600 or narrower), key matching the
 * certificate, certificate signed by ca.crt, within its validity, and
 * naming this cluster and this node. No session resumption: every
 * connection is verified against the CA in force.
 *
 * Returns the context (SSL_CTX_free it), or NULL with a message naming the
 * file and what is wrong in err.
 */
SSL_CTX *tls_server_ctx(const char *tls_dir, const char *cluster,
    enum node_id self, char *err, size_t errlen);

/*
 * The same for the connecting side: presents NODE.crt and verifies the
 * server's certificate against ca.crt. There is no host name check: the
 * caller learns who answered from tls_peer_check() and compares it with the
 * node it meant to reach.
 */
SSL_CTX *tls_client_ctx(const char *tls_dir, const char *cluster,
    enum node_id self, char *err, size_t errlen);

/*
 * After a completed handshake on a connection made from one of the contexts
 * above: the peer's node identity. Returns 0 with *peer_id set to an
 * enum node_id, or -1 with a message for the log in err when the peer sent
 * no certificate, its certificate did not verify, belongs to another
 * cluster, or carries no or an unknown identity. Whether that identity is
 * the one the peer claims in its hello is the caller's check.
 */
int tls_peer_check(SSL *ssl, const char *cluster, int *peer_id,
    char *err, size_t errlen);

#endif
