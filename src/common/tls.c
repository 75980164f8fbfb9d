/*
 * Cluster TLS: loads and checks a node's CA, certificate and key, builds the
 * TLS 1.3 mutual-authentication contexts of the channels, and reads a peer's
 * node identity from its certificate. The file layout and the identity
 * encoding are described in tls.h.
 */
#include "common/tls.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define PEM_MAX		(64 * 1024)
#define CLUSTER_MAX	64
#define NODE_NAME_MAX	16

/* The last OpenSSL reason on this thread's queue, for a message. */
static const char *
ssl_reason(void)
{
	const char *r = ERR_reason_error_string(ERR_peek_last_error());

	return r != NULL ? r : "no reason given";
}

/*
 * Read a PEM file whole. A private key must not be reachable by group or
 * others: a copy made without keeping modes would otherwise go unnoticed.
 * Messages say which file and why, since the administrator fixes them by
 * hand on one node.
 */
static char *
slurp(const char *path, bool secret, size_t *lenp, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
		if (errno == ENOENT)
			snprintf(err, errlen, "%s is missing; `lifeline init` "
			    "writes it, then copy the tls_dir to every node", path);
		else
			snprintf(err, errlen, "cannot read %s: %s", path,
			    strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s is not a regular file", path);
		goto fail;
	}
	if (secret && (st.st_mode & 077) != 0) {
		snprintf(err, errlen, "%s is accessible by group or others "
		    "(mode %04o), expected mode 0600: chmod 600 %s", path,
		    (unsigned)(st.st_mode & 07777), path);
		goto fail;
	}
	if (st.st_size > PEM_MAX) {
		snprintf(err, errlen, "%s is too large for a PEM file (%lld "
		    "bytes)", path, (long long)st.st_size);
		goto fail;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "cannot read %s: %s", path,
			    strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	close(fd);
	*lenp = len;
	return buf;
fail:
	if (buf != NULL) {
		OPENSSL_cleanse(buf, (size_t)st.st_size + 1);
		free(buf);
	}
	close(fd);
	return NULL;
}

static X509 *
load_cert(const char *path, char *err, size_t errlen)
{
	X509 *cert = NULL;
	BIO *bio;
	size_t len;
	char *buf;

	if ((buf = slurp(path, false, &len, err, errlen)) == NULL)
		return NULL;
	if ((bio = BIO_new_mem_buf(buf, (int)len)) != NULL)
		cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	if (cert == NULL)
		snprintf(err, errlen, "%s is not a PEM certificate: %s", path,
		    ssl_reason());
	BIO_free(bio);
	free(buf);
	return cert;
}

/* Never ask for a passphrase on a terminal: the engine runs unattended. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

static EVP_PKEY *
load_key(const char *path, char *err, size_t errlen)
{
	EVP_PKEY *key = NULL;
	BIO *bio;
	size_t len;
	char *buf;

	if ((buf = slurp(path, true, &len, err, errlen)) == NULL)
		return NULL;
	if ((bio = BIO_new_mem_buf(buf, (int)len)) != NULL)
		key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	if (key == NULL)
		snprintf(err, errlen, "%s is not an unencrypted PEM private "
		    "key: %s", path, ssl_reason());
	BIO_free(bio);
	OPENSSL_cleanse(buf, len);
	free(buf);
	return key;
}

/* A certificate time as "2035-06-30 12:00:00 UTC". */
static void
time_str(const ASN1_TIME *t, char *buf, size_t len)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1 ||
	    strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		xstrlcpy(buf, "an unreadable date", len);
}

/* The subject of a certificate in one line, for messages. */
static void
subject_str(X509 *cert, char *buf, size_t len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long n;

	xstrlcpy(buf, "(no subject)", len);
	if (bio == NULL)
		return;
	if (X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0,
	    XN_FLAG_RFC2253) > 0 && (n = BIO_get_mem_data(bio, &data)) > 0)
		snprintf(buf, len, "\"%.*s\"", (int)n, data);
	BIO_free(bio);
}

/*
 * The identity URI of a certificate, split into its cluster and node
 * words. Exactly one lifeline:// URI must be present: a second one would
 * make the identity depend on which one a reader picks. Returns 0, or -1
 * with the reason in why.
 */
static int
cert_identity(X509 *cert, char *cluster, size_t clen, char *node, size_t nlen,
    char *why, size_t whylen)
{
	GENERAL_NAMES *gens;
	const size_t slen = strlen(TLS_URI_SCHEME);
	const char *found = NULL, *slash;
	size_t flen = 0;
	int i, n, rc = -1;

	gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	n = gens != NULL ? sk_GENERAL_NAME_num(gens) : 0;
	for (i = 0; i < n; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const char *s;
		int len;

		if (g->type != GEN_URI)
			continue;
		s = (const char *)ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
		len = ASN1_STRING_length(g->d.uniformResourceIdentifier);
		if (len < 0 || (size_t)len < slen ||
		    strncasecmp(s, TLS_URI_SCHEME, slen) != 0)
			continue;
		if (found != NULL) {
			snprintf(why, whylen, "carries more than one %s identity",
			    TLS_URI_SCHEME);
			goto out;
		}
		found = s + slen;
		flen = (size_t)len - slen;
	}
	if (found == NULL) {
		snprintf(why, whylen, "carries no %sCLUSTER/NODE identity",
		    TLS_URI_SCHEME);
		goto out;
	}
	slash = memchr(found, '/', flen);
	if (memchr(found, '\0', flen) != NULL || slash == NULL ||
	    slash == found || slash + 1 == found + flen ||
	    memchr(slash + 1, '/', flen - (size_t)(slash + 1 - found)) != NULL ||
	    (size_t)(slash - found) >= clen ||
	    flen - (size_t)(slash + 1 - found) >= nlen) {
		snprintf(why, whylen, "carries a malformed identity \"%s%.*s\"",
		    TLS_URI_SCHEME, (int)(flen > 80 ? 80 : flen), found);
		goto out;
	}
	snprintf(cluster, clen, "%.*s", (int)(slash - found), found);
	snprintf(node, nlen, "%.*s", (int)(flen - (size_t)(slash + 1 - found)),
	    slash + 1);
	rc = 0;
out:
	GENERAL_NAMES_free(gens);
	return rc;
}

/*
 * Check a node's own certificate against the CA before any peer sees it,
 * so that a stale or mixed-up copy of tls_dir is reported at start-up by
 * file name instead of as a failed handshake on the other node.
 */
static int
verify_own(X509_STORE *store, X509 *cert, int purpose, const char *crtpath,
    const char *capath, char *err, size_t errlen)
{
	X509_STORE_CTX *sctx;
	char when[64];
	const char *which;
	X509 *bad;
	int rc = -1, e;

	if ((sctx = X509_STORE_CTX_new()) == NULL ||
	    X509_STORE_CTX_init(sctx, store, cert, NULL) != 1) {
		snprintf(err, errlen, "cannot verify %s: %s", crtpath, ssl_reason());
		goto out;
	}
	X509_STORE_CTX_set_purpose(sctx, purpose);
	if (X509_verify_cert(sctx) == 1) {
		rc = 0;
		goto out;
	}
	e = X509_STORE_CTX_get_error(sctx);
	bad = X509_STORE_CTX_get_current_cert(sctx);
	which = bad != NULL && X509_cmp(bad, cert) != 0 ? capath : crtpath;
	switch (e) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		time_str(bad ? X509_get0_notAfter(bad) : NULL, when, sizeof(when));
		snprintf(err, errlen, "%s expired on %s; run `lifeline init "
		    "--force` and copy the new files to every node", which, when);
		break;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		time_str(bad ? X509_get0_notBefore(bad) : NULL, when, sizeof(when));
		snprintf(err, errlen, "%s is not valid before %s; is this "
		    "machine's clock right?", which, when);
		break;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		snprintf(err, errlen, "%s is not signed by %s: they come from "
		    "different `lifeline init` runs; copy both from the same "
		    "one", crtpath, capath);
		break;
	case X509_V_ERR_INVALID_PURPOSE:
		snprintf(err, errlen, "%s may not be used for TLS %s "
		    "authentication (extendedKeyUsage)", crtpath,
		    purpose == X509_PURPOSE_SSL_SERVER ? "server" : "client");
		break;
	default:
		snprintf(err, errlen, "%s does not verify against %s: %s",
		    which, capath, X509_verify_cert_error_string(e));
		break;
	}
out:
	X509_STORE_CTX_free(sctx);
	return rc;
}

/*
 * Both contexts: one trust anchor (ca.crt, never the system store), the
 * node's own certificate and key checked file by file, TLS 1.3 only, peer
 * certificate required, and no session resumption, so that every
 * connection is verified against the CA of the files in place now (after
 * `lifeline init --force`, a ticket of the old CA must not let a peer in).
 */
static SSL_CTX *
make_ctx(bool server, const char *tls_dir, const char *cluster,
    enum node_id self, char *err, size_t errlen)
{
	char *capath = NULL, *crtpath = NULL, *keypath = NULL;
	char gotc[CLUSTER_MAX], gotn[NODE_NAME_MAX], why[128];
	X509 *ca = NULL, *cert = NULL;
	EVP_PKEY *key = NULL;
	SSL_CTX *ctx = NULL;
	X509_STORE *store;
	bool ok = false;

	if ((int)self < 0 || self >= NODE_COUNT) {
		snprintf(err, errlen, "no such node %d", (int)self);
		return NULL;
	}
	capath = xasprintf("%s/%s", tls_dir, TLS_CA_CRT);
	crtpath = xasprintf("%s/%s.crt", tls_dir, node_name(self));
	keypath = xasprintf("%s/%s.key", tls_dir, node_name(self));

	if ((ca = load_cert(capath, err, errlen)) == NULL ||
	    (cert = load_cert(crtpath, err, errlen)) == NULL ||
	    (key = load_key(keypath, err, errlen)) == NULL)
		goto out;
	if (X509_check_ca(ca) == 0) {
		snprintf(err, errlen, "%s is not a CA certificate", capath);
		goto out;
	}
	if (X509_check_private_key(cert, key) != 1) {
		snprintf(err, errlen, "%s does not match %s: they come from "
		    "different `lifeline init` runs", keypath, crtpath);
		goto out;
	}
	if (cert_identity(cert, gotc, sizeof(gotc), gotn, sizeof(gotn), why,
	    sizeof(why)) < 0) {
		snprintf(err, errlen, "%s %s", crtpath, why);
		goto out;
	}
	if (strcmp(gotc, cluster) != 0 || strcmp(gotn, node_name(self)) != 0) {
		snprintf(err, errlen, "%s is the certificate of node %s of "
		    "cluster \"%s\", expected node %s of cluster \"%s\"",
		    crtpath, gotn, gotc, node_name(self), cluster);
		goto out;
	}

	if ((ctx = SSL_CTX_new(server ? TLS_server_method() :
	    TLS_client_method())) == NULL) {
		snprintf(err, errlen, "cannot create a TLS context: %s",
		    ssl_reason());
		goto out;
	}
	store = SSL_CTX_get_cert_store(ctx);
	if (X509_STORE_add_cert(store, ca) != 1) {
		snprintf(err, errlen, "cannot use %s: %s", capath, ssl_reason());
		goto out;
	}
	X509_STORE_set_flags(store, X509_V_FLAG_X509_STRICT);
	if (verify_own(store, cert, server ? X509_PURPOSE_SSL_SERVER :
	    X509_PURPOSE_SSL_CLIENT, crtpath, capath, err, errlen) < 0)
		goto out;

	if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1) {
		snprintf(err, errlen, "this OpenSSL cannot do TLS 1.3: %s",
		    ssl_reason());
		goto out;
	}
	if (SSL_CTX_use_certificate(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "cannot use %s with %s: %s", crtpath,
		    keypath, ssl_reason());
		goto out;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
	    (server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), NULL);
	SSL_CTX_set_verify_depth(ctx, 1);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	if (server) {
		SSL_CTX_set_num_tickets(ctx, 0);
		if (SSL_CTX_add_client_CA(ctx, ca) != 1) {
			snprintf(err, errlen, "cannot use %s: %s", capath,
			    ssl_reason());
			goto out;
		}
	}
	ok = true;
out:
	if (!ok) {
		SSL_CTX_free(ctx);
		ctx = NULL;
	}
	X509_free(ca);
	X509_free(cert);
	EVP_PKEY_free(key);
	free(capath);
	free(crtpath);
	free(keypath);
	ERR_clear_error();
	return ctx;
}

SSL_CTX *
tls_server_ctx(const char *tls_dir, const char *cluster, enum node_id self,
    char *err, size_t errlen)
{
	return make_ctx(true, tls_dir, cluster, self, err, errlen);
}

SSL_CTX *
tls_client_ctx(const char *tls_dir, const char *cluster, enum node_id self,
    char *err, size_t errlen)
{
	return make_ctx(false, tls_dir, cluster, self, err, errlen);
}

/*
 * The verification result is checked again here, and the version too, so
 * that a connection made from a context someone loosened (a test, a debug
 * option) still cannot hand out an identity it did not prove.
 */
int
tls_peer_check(SSL *ssl, const char *cluster, int *peer_id, char *err,
    size_t errlen)
{
	char gotc[CLUSTER_MAX], gotn[NODE_NAME_MAX], why[128], subj[256];
	X509 *cert;
	long v;
	int id;

	if (SSL_version(ssl) != TLS1_3_VERSION) {
		snprintf(err, errlen, "peer uses %s, expected TLSv1.3",
		    SSL_get_version(ssl));
		return -1;
	}
	if ((cert = SSL_get0_peer_certificate(ssl)) == NULL) {
		snprintf(err, errlen, "peer sent no certificate");
		return -1;
	}
	subject_str(cert, subj, sizeof(subj));
	if ((v = SSL_get_verify_result(ssl)) != X509_V_OK) {
		snprintf(err, errlen, "peer certificate %s does not verify "
		    "against the cluster CA: %s", subj,
		    X509_verify_cert_error_string(v));
		return -1;
	}
	if (cert_identity(cert, gotc, sizeof(gotc), gotn, sizeof(gotn), why,
	    sizeof(why)) < 0) {
		snprintf(err, errlen, "peer certificate %s %s", subj, why);
		return -1;
	}
	if (strcmp(gotc, cluster) != 0) {
		snprintf(err, errlen, "peer certificate %s is of cluster "
		    "\"%s\", not \"%s\"", subj, gotc, cluster);
		return -1;
	}
	if ((id = node_from_name(gotn)) < 0) {
		snprintf(err, errlen, "peer certificate %s names an unknown "
		    "node \"%s\", expected primary, secondary or tertiary",
		    subj, gotn);
		return -1;
	}
	*peer_id = id;
	return 0;
}
