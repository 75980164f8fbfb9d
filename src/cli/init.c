/*
 * lifeline init: a new cluster CA and one certificate per node, made with
 * OpenSSL 3 EVP and X509 calls, written into tls_dir. What the files hold
 * and how a node proves its identity with them is in common/tls.h.
 *
 * Keys are Ed25519: one fixed curve and encoding, so there is no parameter
 * to choose wrong; signatures are deterministic, so no signature depends on
 * the quality of the random generator at the moment it is made; keys and
 * signatures are small and fast. Every peer is Lifeline on OpenSSL 3 with
 * TLS 1.3, which supports Ed25519 certificates; browsers do not, but they
 * never see these certificates (the management web service has its own).
 */
#include "cli/init.h"
#include "common/config.h"
#include "common/tls.h"
#include "common/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define BACKDATE_SECONDS	(24 * 3600)

/* One file to write, held in memory until every file is ready. */
struct pem {
	char	*name;
	char	*data;
	size_t	 len;
	mode_t	 mode;
};

static const char *
ssl_reason(void)
{
	const char *r = ERR_reason_error_string(ERR_peek_last_error());

	return r != NULL ? r : "no reason given";
}

static int
add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
	if ((ext = X509V3_EXT_nconf_nid(NULL, &v3, nid, value)) == NULL)
		return -1;
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok == 1 ? 0 : -1;
}

/* A positive random 127-bit serial: unique without keeping a counter. */
static int
set_serial(X509 *cert)
{
	unsigned char rnd[16];
	BIGNUM *bn;
	int rc = -1;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return -1;
	rnd[0] = (rnd[0] & 0x7f) | 0x40;
	if ((bn = BN_bin2bn(rnd, sizeof(rnd), NULL)) == NULL)
		return -1;
	if (BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL)
		rc = 0;
	BN_free(bn);
	return rc;
}

/*
 * A certificate for key, signed by signer: the CA itself when issuer is
 * NULL, else a node certificate carrying uri as its identity. notBefore is
 * set a day back, so that a node whose clock lags the machine that ran init
 * still accepts the files at once.
 */
static X509 *
new_cert(const char *cluster, const char *cn, EVP_PKEY *key, X509 *issuer,
    EVP_PKEY *signer, const char *uri, time_t now)
{
	X509_NAME *name = NULL;
	X509 *cert;
	char *san = NULL;
	bool ok = false;

	if ((cert = X509_new()) == NULL || (name = X509_NAME_new()) == NULL)
		goto out;
	if (X509_set_version(cert, X509_VERSION_3) != 1 || set_serial(cert) < 0 ||
	    X509_time_adj_ex(X509_getm_notBefore(cert), 0, -BACKDATE_SECONDS,
	    &now) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(cert), INIT_VALID_DAYS, 0,
	    &now) == NULL)
		goto out;
	if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
	    (const unsigned char *)cluster, -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0) != 1 ||
	    X509_set_subject_name(cert, name) != 1 ||
	    X509_set_issuer_name(cert, issuer != NULL ?
	    X509_get_subject_name(issuer) : name) != 1 ||
	    X509_set_pubkey(cert, key) != 1)
		goto out;
	if (issuer == NULL) {
		if (add_ext(cert, cert, NID_basic_constraints,
		    "critical,CA:TRUE,pathlen:0") < 0 ||
		    add_ext(cert, cert, NID_key_usage,
		    "critical,keyCertSign,cRLSign") < 0 ||
		    add_ext(cert, cert, NID_subject_key_identifier, "hash") < 0 ||
		    add_ext(cert, cert, NID_authority_key_identifier,
		    "keyid:always") < 0)
			goto out;
	} else {
		san = xasprintf("URI:%s", uri);
		if (add_ext(cert, issuer, NID_basic_constraints,
		    "critical,CA:FALSE") < 0 ||
		    add_ext(cert, issuer, NID_key_usage,
		    "critical,digitalSignature") < 0 ||
		    add_ext(cert, issuer, NID_ext_key_usage,
		    "serverAuth,clientAuth") < 0 ||
		    add_ext(cert, issuer, NID_subject_key_identifier, "hash") < 0 ||
		    add_ext(cert, issuer, NID_authority_key_identifier,
		    "keyid:always") < 0 ||
		    add_ext(cert, issuer, NID_subject_alt_name, san) < 0)
			goto out;
	}
	/* Ed25519 signs the message itself: no separate digest. */
	if (X509_sign(cert, signer, NULL) <= 0)
		goto out;
	ok = true;
out:
	if (!ok) {
		X509_free(cert);
		cert = NULL;
	}
	X509_NAME_free(name);
	free(san);
	return cert;
}

/* Move a memory BIO's contents into p. */
static int
pem_take(BIO *bio, struct pem *p, const char *name, mode_t mode)
{
	char *data;
	long n;

	if ((n = BIO_get_mem_data(bio, &data)) <= 0)
		return -1;
	p->name = xstrdup(name);
	p->data = xmalloc((size_t)n);
	memcpy(p->data, data, (size_t)n);
	p->len = (size_t)n;
	p->mode = mode;
	return 0;
}

static int
pem_cert(X509 *cert, struct pem *p, const char *name)
{
	BIO *bio;
	int rc = -1;

	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return -1;
	if (PEM_write_bio_X509(bio, cert) == 1)
		rc = pem_take(bio, p, name, 0644);
	BIO_free(bio);
	return rc;
}

/* PKCS#8, unencrypted: the engine starts unattended. */
static int
pem_key(EVP_PKEY *key, struct pem *p, const char *name)
{
	BIO *bio;
	int rc = -1;

	if ((bio = BIO_new(BIO_s_secmem())) == NULL)
		return -1;
	if (PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1)
		rc = pem_take(bio, p, name, 0600);
	BIO_free(bio);
	return rc;
}

/*
 * Replace dir/name durably, then set its mode exactly: the open in
 * write_file_atomic() is subject to the umask, which could make a
 * certificate unreadable to the engine's tools or, never wider than asked,
 * a key narrower than 0600.
 */
static int
pem_write(const char *dir, const struct pem *p, char *err, size_t errlen)
{
	char *path = xasprintf("%s/%s", dir, p->name);
	int rc = -1;

	if (write_file_atomic(path, p->data, p->len, p->mode) < 0 ||
	    chmod(path, p->mode) < 0)
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
	else
		rc = 0;
	free(path);
	return rc;
}

/* Refuse to replace a CA by accident: every node holds files signed by it. */
static int
check_no_ca(const char *dir, char *err, size_t errlen)
{
	static const char *const names[] = { TLS_CA_CRT, TLS_CA_KEY };
	struct stat st;
	size_t i;

	for (i = 0; i < nitems(names); i++) {
		char *path = xasprintf("%s/%s", dir, names[i]);
		int r = lstat(path, &st), saved = errno;

		if (r == 0)
			snprintf(err, errlen, "%s already holds a cluster CA; "
			    "--force replaces it and every node must get the "
			    "new files", dir);
		else if (saved != ENOENT)
			snprintf(err, errlen, "cannot check %s: %s", path,
			    strerror(saved));
		free(path);
		if (r == 0 || saved != ENOENT)
			return -1;
	}
	return 0;
}

int
init_write_tls(const struct config *conf, bool force, char *err, size_t errlen)
{
	struct pem pems[2 + 2 * NODE_COUNT];
	EVP_PKEY *cakey = NULL, *key = NULL;
	X509 *ca = NULL, *cert = NULL;
	char *uri = NULL, *name = NULL;
	time_t now = time(NULL);
	size_t npem = 0, i;
	int rc = -1, n;

	memset(pems, 0, sizeof(pems));
	if (mkdir_p(conf->tls_dir, 0755) < 0) {
		snprintf(err, errlen, "cannot create %s: %s", conf->tls_dir,
		    strerror(errno));
		goto out;
	}
	if (!force && check_no_ca(conf->tls_dir, err, errlen) < 0)
		goto out;

	if ((cakey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) == NULL ||
	    (ca = new_cert(conf->name, "Lifeline cluster CA", cakey, NULL,
	    cakey, NULL, now)) == NULL) {
		snprintf(err, errlen, "cannot make the cluster CA: %s",
		    ssl_reason());
		goto out;
	}
	for (n = 0; n < NODE_COUNT; n++) {
		if (!config_mode_has(conf->mode, n))
			continue;
		uri = xasprintf("%s%s/%s", TLS_URI_SCHEME, conf->name,
		    node_name(n));
		if ((key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) == NULL ||
		    (cert = new_cert(conf->name, node_name(n), key, ca, cakey,
		    uri, now)) == NULL) {
			snprintf(err, errlen, "cannot make the certificate of "
			    "node %s: %s", node_name(n), ssl_reason());
			goto out;
		}
		name = xasprintf("%s.crt", node_name(n));
		if (pem_cert(cert, &pems[npem++], name) < 0)
			goto pemfail;
		free(name);
		name = xasprintf("%s.key", node_name(n));
		if (pem_key(key, &pems[npem++], name) < 0)
			goto pemfail;
		free(name);
		name = NULL;
		free(uri);
		uri = NULL;
		X509_free(cert);
		cert = NULL;
		EVP_PKEY_free(key);
		key = NULL;
	}
	if (pem_key(cakey, &pems[npem++], TLS_CA_KEY) < 0 ||
	    pem_cert(ca, &pems[npem++], TLS_CA_CRT) < 0)
		goto pemfail;

	for (i = 0; i < npem; i++) {
		if (pem_write(conf->tls_dir, &pems[i], err, errlen) < 0)
			goto out;
	}
	rc = 0;
	goto out;
pemfail:
	snprintf(err, errlen, "cannot encode %s: %s", name ? name : "the CA",
	    ssl_reason());
out:
	for (i = 0; i < nitems(pems); i++) {
		if (pems[i].data != NULL)
			OPENSSL_cleanse(pems[i].data, pems[i].len);
		free(pems[i].data);
		free(pems[i].name);
	}
	free(uri);
	free(name);
	X509_free(cert);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(cakey);
	ERR_clear_error();
	return rc;
}

static void
print_written(const struct config *conf, bool force)
{
	int n;

	printf("wrote the TLS files of cluster %s (mode %s) in %s:\n",
	    conf->name, mode_name(conf->mode), conf->tls_dir);
	printf("  %-14s the cluster CA certificate\n", TLS_CA_CRT);
	printf("  %-14s the cluster CA private key\n", TLS_CA_KEY);
	for (n = 0; n < NODE_COUNT; n++) {
		char crt[32], key[32];

		if (!config_mode_has(conf->mode, n))
			continue;
		snprintf(crt, sizeof(crt), "%s.crt", node_name(n));
		snprintf(key, sizeof(key), "%s.key", node_name(n));
		printf("  %-14s the certificate of node %s\n", crt, node_name(n));
		printf("  %-14s its private key\n", key);
	}
	printf("Certificates are valid for 10 years. Copy %s to the same "
	    "path on every node,\nkeeping the modes (key files 0600), for "
	    "example with scp -rp.\n", conf->tls_dir);
	printf("%s need not be copied: no node reads it. Keep it on this "
	    "machine or offline.\n", TLS_CA_KEY);
	if (force)
		printf("The cluster CA was replaced: a node with the old files "
		    "cannot talk to one with\nthe new files until every node "
		    "has the new ones.\n");
}

int
init_main(int argc, char **argv)
{
	const char *path = CONFIG_DEFAULT_PATH;
	struct config *conf;
	bool force = false;
	char err[1024];
	int i, rc;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--force") == 0)
			force = true;
		else if ((strcmp(argv[i], "-f") == 0 ||
		    strcmp(argv[i], "--config") == 0) && i + 1 < argc)
			path = argv[++i];
		else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			printf("usage: lifeline %s\n", INIT_USAGE);
			return 0;
		} else {
			fprintf(stderr, "lifeline init: unexpected argument "
			    "\"%s\"; usage: lifeline %s\n", argv[i], INIT_USAGE);
			return 2;
		}
	}
	if ((conf = config_load(path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "lifeline init: %s\n", err);
		return 1;
	}
	if (init_write_tls(conf, force, err, sizeof(err)) < 0) {
		fprintf(stderr, "lifeline init: %s\n", err);
		rc = 1;
	} else {
		print_written(conf, force);
		rc = 0;
	}
	config_free(conf);
	return rc;
}
