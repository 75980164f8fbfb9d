/*
 * Unit tests of common/tls and cli/init: the files init writes, real TLS
 * handshakes over a socketpair between the contexts of two nodes, the
 * refusals (another cluster's CA, another cluster's name, no identity,
 * TLS 1.2, no client certificate) and the file-by-file error messages.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cli/init.h"
#include "common/config.h"
#include "common/tls.h"
#include "common/util.h"
#include "helpers/tmpdir.h"

static const char conf_fmt[] =
    "[cluster]\n"
    "name = %s\n"
    "mode = %s\n"
    "tls_dir = %s\n"
    "\n"
    "[node primary]\n"
    "channel = 203.0.113.1, 203.0.113.25\n"
    "public = eth0 192.0.2.10/24\n"
    "management = 198.51.100.11/24\n"
    "\n"
    "[node secondary]\n"
    "channel = 203.0.113.2, 203.0.113.26\n"
    "public = eth0 192.0.2.10/24\n"
    "management = 198.51.100.12/24\n"
    "\n"
    "[protect]\n"
    "data = /var/lib/app\n"
    "service = app\n"
    "\n"
    "[service app]\n"
    "start = /usr/bin/app\n"
    "%s";

static const char tertiary[] =
    "\n"
    "[node tertiary]\n"
    "channel = 203.0.113.10\n"
    "public = eth0 198.18.0.10/24\n"
    "management = 198.51.100.13/24\n";

/* Two clusters both named demo, each from its own init: A and B. */
static char *dir_a, *dir_b;

/* A scratch copy of a cluster's tls_dir, to break one file at a time. */
static char *
copy_dir(const char *src)
{
	char *dst = tmpdir(), *from = xasprintf("%s/.", src);
	char *argv[] = { "cp", "-a", from, dst, NULL };

	assert_int_equal(run_argv(argv, 1), 0);
	free(from);
	return dst;
}

static char *
conf_text(const char *name, bool trio, const char *tls_dir)
{
	return xasprintf(conf_fmt, name, trio ? "ha+dr" : "ha", tls_dir,
	    trio ? tertiary : "");
}

static struct config *
conf_new(const char *name, bool trio, const char *tls_dir)
{
	char *text = conf_text(name, trio, tls_dir), err[512];
	struct config *conf;

	conf = config_parse_string(text, "test.conf", err, sizeof(err));
	if (conf == NULL)
		fail_msg("config: %s", err);
	free(text);
	return conf;
}

static void
init_dir(const char *dir, const char *name, bool trio)
{
	struct config *conf = conf_new(name, trio, dir);
	char err[512];

	if (init_write_tls(conf, false, err, sizeof(err)) != 0)
		fail_msg("init: %s", err);
	config_free(conf);
}

static char *
path_in(const char *dir, const char *name)
{
	return xasprintf("%s/%s", dir, name);
}

static void
assert_mode(const char *dir, const char *name, mode_t mode)
{
	char *p = path_in(dir, name);
	struct stat st;

	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, mode);
	free(p);
}

static bool
exists(const char *dir, const char *name)
{
	char *p = path_in(dir, name);
	struct stat st;
	bool r = stat(p, &st) == 0;

	free(p);
	return r;
}

static void
assert_contains(const char *s, const char *part)
{
	if (strstr(s, part) == NULL)
		fail_msg("\"%s\" does not contain \"%s\"", s, part);
}

static int
group_setup(void **state)
{
	dir_a = tmpdir();
	dir_b = tmpdir();
	init_dir(dir_a, "demo", false);
	init_dir(dir_b, "demo", false);
	return 0;
}

static int
group_teardown(void **state)
{
	rm_rf(dir_a);
	rm_rf(dir_b);
	free(dir_a);
	free(dir_b);
	return 0;
}

/*
 * A certificate made by hand and signed by dir's CA: uri NULL for no
 * subjectAltName at all; validity from days_from to days_to around now.
 * Written as outdir/node.crt and outdir/node.key (0600).
 */
static void
craft(const char *cadir, const char *outdir, const char *node,
    const char *uri, long days_from, long days_to)
{
	char *cap = path_in(cadir, "ca.crt"), *cakp = path_in(cadir, "ca.key");
	char *crtp = xasprintf("%s/%s.crt", outdir, node);
	char *keyp = xasprintf("%s/%s.key", outdir, node);
	char *san = uri ? xasprintf("URI:%s", uri) : NULL;
	X509V3_CTX v3;
	X509_NAME *name = X509_NAME_new();
	X509 *ca, *cert = X509_new();
	EVP_PKEY *cakey, *key;
	BIO *bio;
	FILE *f;
	time_t now = time(NULL);
	int fd;

	assert_non_null(bio = BIO_new_file(cap, "r"));
	assert_non_null(ca = PEM_read_bio_X509(bio, NULL, NULL, NULL));
	BIO_free(bio);
	assert_non_null(bio = BIO_new_file(cakp, "r"));
	assert_non_null(cakey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL));
	BIO_free(bio);
	assert_non_null(key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"));

	assert_int_equal(X509_set_version(cert, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(cert), 4242), 1);
	assert_non_null(X509_time_adj_ex(X509_getm_notBefore(cert), days_from, 0, &now));
	assert_non_null(X509_time_adj_ex(X509_getm_notAfter(cert), days_to, 0, &now));
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)node, -1, -1, 0), 1);
	assert_int_equal(X509_set_subject_name(cert, name), 1);
	assert_int_equal(X509_set_issuer_name(cert, X509_get_subject_name(ca)), 1);
	assert_int_equal(X509_set_pubkey(cert, key), 1);
	X509V3_set_ctx(&v3, ca, cert, NULL, NULL, 0);
	{
		const struct { int nid; const char *v; } exts[] = {
			{ NID_basic_constraints, "critical,CA:FALSE" },
			{ NID_key_usage, "critical,digitalSignature" },
			{ NID_ext_key_usage, "serverAuth,clientAuth" },
			{ NID_subject_key_identifier, "hash" },
			{ NID_authority_key_identifier, "keyid:always" },
			{ NID_subject_alt_name, san },
		};

		for (size_t i = 0; i < nitems(exts); i++) {
			X509_EXTENSION *ext;

			if (exts[i].v == NULL)
				continue;
			ext = X509V3_EXT_nconf_nid(NULL, &v3, exts[i].nid, exts[i].v);
			assert_non_null(ext);
			assert_int_equal(X509_add_ext(cert, ext, -1), 1);
			X509_EXTENSION_free(ext);
		}
	}
	assert_true(X509_sign(cert, cakey, NULL) > 0);

	assert_non_null(f = fopen(crtp, "w"));
	assert_int_equal(PEM_write_X509(f, cert), 1);
	assert_int_equal(fclose(f), 0);
	unlink(keyp);
	assert_true((fd = open(keyp, O_WRONLY | O_CREAT | O_EXCL, 0600)) >= 0);
	assert_non_null(f = fdopen(fd, "w"));
	assert_int_equal(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
	assert_int_equal(fclose(f), 0);

	X509_NAME_free(name);
	X509_free(cert);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(cakey);
	free(san);
	free(cap);
	free(cakp);
	free(crtp);
	free(keyp);
}

/*
 * A handshake between two SSL objects over a non-blocking socketpair,
 * stepped in turn from one thread. After the handshake the server writes
 * one byte and the client reads it: in TLS 1.3 the client finishes its
 * handshake before the server has judged the client certificate, so only
 * that read tells the client it was refused. Bounded to about 5 s.
 */
struct end {
	SSL	*ssl;
	int	 fd;
	bool	 server, hs_done, done, failed;
	char	 err[512];
};

struct hs {
	struct end s, c;
};

static void
end_fail(struct end *e, int r)
{
	unsigned long code;
	size_t off = 0;

	snprintf(e->err, sizeof(e->err), "SSL_get_error %d",
	    SSL_get_error(e->ssl, r));
	off = strlen(e->err);
	while ((code = ERR_get_error()) != 0 && off + 2 < sizeof(e->err)) {
		e->err[off++] = ';';
		e->err[off++] = ' ';
		ERR_error_string_n(code, e->err + off, sizeof(e->err) - off);
		off = strlen(e->err);
	}
	e->failed = true;
	shutdown(e->fd, SHUT_WR);
}

static void
end_step(struct end *e)
{
	char c;
	int r, se;

	if (e->done || e->failed)
		return;
	ERR_clear_error();
	if (!e->hs_done) {
		if ((r = SSL_do_handshake(e->ssl)) != 1)
			goto check;
		e->hs_done = true;
	}
	ERR_clear_error();
	r = e->server ? SSL_write(e->ssl, "k", 1) : SSL_read(e->ssl, &c, 1);
	if (r == 1) {
		e->done = true;
		return;
	}
check:
	se = SSL_get_error(e->ssl, r);
	if (se == SSL_ERROR_WANT_READ || se == SSL_ERROR_WANT_WRITE)
		return;
	end_fail(e, r);
}

static void
hs_run(struct hs *h, SSL_CTX *sctx, SSL_CTX *cctx)
{
	int sv[2], i;

	memset(h, 0, sizeof(*h));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	h->s.fd = sv[0];
	h->c.fd = sv[1];
	h->s.server = true;
	assert_non_null(h->s.ssl = SSL_new(sctx));
	assert_non_null(h->c.ssl = SSL_new(cctx));
	assert_int_equal(SSL_set_fd(h->s.ssl, sv[0]), 1);
	assert_int_equal(SSL_set_fd(h->c.ssl, sv[1]), 1);
	SSL_set_accept_state(h->s.ssl);
	SSL_set_connect_state(h->c.ssl);
	for (i = 0; i < 500; i++) {
		struct pollfd pfd[2] = { { sv[0], POLLIN, 0 }, { sv[1], POLLIN, 0 } };

		end_step(&h->c);
		end_step(&h->s);
		if ((h->s.done || h->s.failed) && (h->c.done || h->c.failed))
			return;
		poll(pfd, 2, 10);
	}
	fail_msg("handshake did not end in 5 s");
}

static void
hs_free(struct hs *h)
{
	SSL_free(h->s.ssl);
	SSL_free(h->c.ssl);
	close(h->s.fd);
	close(h->c.fd);
}

static SSL_CTX *
ctx_ok(bool server, const char *dir, enum node_id self)
{
	char err[512];
	SSL_CTX *ctx;

	ctx = server ? tls_server_ctx(dir, "demo", self, err, sizeof(err)) :
	    tls_client_ctx(dir, "demo", self, err, sizeof(err));
	if (ctx == NULL)
		fail_msg("ctx: %s", err);
	return ctx;
}

/* The context a misbehaving or foreign client would build by hand. */
static SSL_CTX *
manual_client(const char *dir, const char *node, int max_version)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	char *ca = path_in(dir, "ca.crt");

	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_set_max_proto_version(ctx, max_version), 1);
	if (node != NULL) {
		char *crt = xasprintf("%s/%s.crt", dir, node);
		char *key = xasprintf("%s/%s.key", dir, node);

		assert_int_equal(SSL_CTX_use_certificate_file(ctx, crt, SSL_FILETYPE_PEM), 1);
		assert_int_equal(SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM), 1);
		free(crt);
		free(key);
	}
	assert_int_equal(SSL_CTX_load_verify_locations(ctx, ca, NULL), 1);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	free(ca);
	return ctx;
}

static void
test_init_files(void **state)
{
	assert_mode(dir_a, "ca.crt", 0644);
	assert_mode(dir_a, "ca.key", 0600);
	assert_mode(dir_a, "primary.crt", 0644);
	assert_mode(dir_a, "primary.key", 0600);
	assert_mode(dir_a, "secondary.crt", 0644);
	assert_mode(dir_a, "secondary.key", 0600);
	assert_false(exists(dir_a, "tertiary.crt"));
	assert_false(exists(dir_a, "tertiary.key"));
}

static void
test_init_trio(void **state)
{
	char *dir = tmpdir();
	SSL_CTX *s, *c;
	struct hs h;
	int id = -1;
	char err[512];

	init_dir(dir, "trio.example", true);
	assert_mode(dir, "tertiary.crt", 0644);
	assert_mode(dir, "tertiary.key", 0600);
	assert_non_null(s = tls_server_ctx(dir, "trio.example", NODE_SECONDARY, err, sizeof(err)));
	assert_non_null(c = tls_client_ctx(dir, "trio.example", NODE_TERTIARY, err, sizeof(err)));
	hs_run(&h, s, c);
	assert_true(h.s.done);
	assert_true(h.c.done);
	assert_int_equal(tls_peer_check(h.s.ssl, "trio.example", &id, err, sizeof(err)), 0);
	assert_int_equal(id, NODE_TERTIARY);
	hs_free(&h);
	SSL_CTX_free(s);
	SSL_CTX_free(c);
	rm_rf(dir);
	free(dir);
}

static char *
slurp(const char *dir, const char *name)
{
	char *p = path_in(dir, name), *data;
	size_t len;

	assert_non_null(data = read_file(p, 65536, &len));
	free(p);
	return data;
}

static void
test_init_refuses_overwrite(void **state)
{
	char *dir = tmpdir(), *before, *after, err[512];
	struct config *conf = conf_new("demo", false, dir);

	assert_int_equal(init_write_tls(conf, false, err, sizeof(err)), 0);
	before = slurp(dir, "ca.crt");
	assert_int_equal(init_write_tls(conf, false, err, sizeof(err)), -1);
	assert_contains(err, dir);
	assert_contains(err, "already holds a cluster CA; --force replaces it "
	    "and every node must get the new files");
	after = slurp(dir, "ca.crt");
	assert_string_equal(before, after);
	free(after);

	assert_int_equal(init_write_tls(conf, true, err, sizeof(err)), 0);
	after = slurp(dir, "ca.crt");
	assert_string_not_equal(before, after);
	assert_mode(dir, "ca.key", 0600);
	free(after);
	free(before);
	config_free(conf);
	rm_rf(dir);
	free(dir);
}

/* Run init_main with its chatter sent to /dev/null. */
static int
run_init_main(int argc, char **argv)
{
	int out, err, null, rc;

	fflush(stdout);
	fflush(stderr);
	out = dup(1);
	err = dup(2);
	null = open("/dev/null", O_WRONLY);
	dup2(null, 1);
	dup2(null, 2);
	rc = init_main(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(out, 1);
	dup2(err, 2);
	close(out);
	close(err);
	close(null);
	return rc;
}

static void
test_init_main(void **state)
{
	char *dir = tmpdir(), *tls = path_in(dir, "tls");
	char *cfg = path_in(dir, "lifeline.conf"), *text = conf_text("demo", false, tls);
	char *missing = path_in(dir, "nope.conf");
	char *a_ok[] = { "init", "-f", cfg, NULL };
	char *a_force[] = { "init", "--force", "-f", cfg, NULL };
	char *a_bad[] = { "init", "--frobnicate", NULL };
	char *a_noarg[] = { "init", "-f", NULL };
	char *a_missing[] = { "init", "-f", missing, NULL };

	assert_int_equal(write_file_atomic(cfg, text, strlen(text), 0644), 0);
	assert_int_equal(run_init_main(3, a_ok), 0);
	assert_true(exists(tls, "ca.crt"));
	assert_true(exists(tls, "secondary.key"));
	assert_int_equal(run_init_main(3, a_ok), 1);
	assert_int_equal(run_init_main(4, a_force), 0);
	assert_int_equal(run_init_main(2, a_bad), 2);
	assert_int_equal(run_init_main(2, a_noarg), 2);
	assert_int_equal(run_init_main(3, a_missing), 1);
	free(text);
	free(cfg);
	free(tls);
	free(missing);
	rm_rf(dir);
	free(dir);
}

static void
handshake_pair(enum node_id server, enum node_id client)
{
	SSL_CTX *s = ctx_ok(true, dir_a, server), *c = ctx_ok(false, dir_a, client);
	char err[512];
	struct hs h;
	int id = -1;

	hs_run(&h, s, c);
	if (!h.s.done || !h.c.done)
		fail_msg("server: %s; client: %s", h.s.err, h.c.err);
	assert_string_equal(SSL_get_version(h.s.ssl), "TLSv1.3");
	assert_int_equal(tls_peer_check(h.s.ssl, "demo", &id, err, sizeof(err)), 0);
	assert_int_equal(id, client);
	assert_int_equal(tls_peer_check(h.c.ssl, "demo", &id, err, sizeof(err)), 0);
	assert_int_equal(id, server);
	/* The same names in the other cluster's identity are not enough. */
	assert_int_equal(tls_peer_check(h.s.ssl, "other", &id, err, sizeof(err)), -1);
	assert_contains(err, "is of cluster \"demo\", not \"other\"");
	hs_free(&h);
	SSL_CTX_free(s);
	SSL_CTX_free(c);
}

static void
test_handshake_primary_secondary(void **state)
{
	handshake_pair(NODE_PRIMARY, NODE_SECONDARY);
	handshake_pair(NODE_SECONDARY, NODE_PRIMARY);
}

/* Same cluster name, another init: the CA, not the name, keeps it out. */
static void
test_other_cluster_ca_refused(void **state)
{
	SSL_CTX *s = ctx_ok(true, dir_a, NODE_PRIMARY);
	SSL_CTX *c = ctx_ok(false, dir_b, NODE_SECONDARY);
	struct hs h;

	hs_run(&h, s, c);
	assert_true(h.s.failed);
	assert_true(h.c.failed);
	/* B's client rejects A's server certificate first. */
	assert_contains(h.c.err, "certificate verify failed");
	hs_free(&h);
	SSL_CTX_free(c);

	/* A client that does not check lets the server do it. */
	c = manual_client(dir_b, "secondary", TLS1_3_VERSION);
	SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
	hs_run(&h, s, c);
	assert_true(h.s.failed);
	assert_true(h.c.failed);
	assert_contains(h.s.err, "certificate verify failed");
	hs_free(&h);
	SSL_CTX_free(c);
	SSL_CTX_free(s);
}

static void
peer_refused(const char *uri, const char *expect)
{
	char *dir = tmpdir(), err[512] = "";
	SSL_CTX *s = ctx_ok(true, dir_a, NODE_PRIMARY), *c;
	struct hs h;
	int id = -1;

	craft(dir_a, dir, "secondary", uri, -1, 30);
	c = manual_client(dir_a, NULL, TLS1_3_VERSION);
	{
		char *crt = path_in(dir, "secondary.crt"), *key = path_in(dir, "secondary.key");

		assert_int_equal(SSL_CTX_use_certificate_file(c, crt, SSL_FILETYPE_PEM), 1);
		assert_int_equal(SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM), 1);
		free(crt);
		free(key);
	}
	hs_run(&h, s, c);
	if (!h.s.done || !h.c.done)
		fail_msg("server: %s; client: %s", h.s.err, h.c.err);
	assert_int_equal(tls_peer_check(h.s.ssl, "demo", &id, err, sizeof(err)), -1);
	assert_int_equal(id, -1);
	assert_contains(err, expect);
	hs_free(&h);
	SSL_CTX_free(s);
	SSL_CTX_free(c);
	rm_rf(dir);
	free(dir);
}

/* Right CA, wrong identity: verification passes, tls_peer_check does not. */
static void
test_wrong_identity_refused(void **state)
{
	peer_refused("lifeline://other/secondary",
	    "peer certificate \"CN=secondary\" is of cluster \"other\", not \"demo\"");
	peer_refused("lifeline://demo/quaternary", "names an unknown node \"quaternary\"");
	peer_refused(NULL, "carries no lifeline://CLUSTER/NODE identity");
	peer_refused("https://demo/secondary", "carries no lifeline://CLUSTER/NODE identity");
	peer_refused("lifeline://demo", "malformed identity");
	peer_refused("lifeline://demo/secondary/x", "malformed identity");
}

static void
test_tls12_refused(void **state)
{
	SSL_CTX *s = ctx_ok(true, dir_a, NODE_PRIMARY);
	SSL_CTX *c = manual_client(dir_a, "secondary", TLS1_2_VERSION);
	struct hs h;

	hs_run(&h, s, c);
	assert_true(h.s.failed);
	assert_true(h.c.failed);
	assert_contains(h.s.err, "unsupported protocol");
	hs_free(&h);
	SSL_CTX_free(c);
	SSL_CTX_free(s);
}

static void
test_no_client_cert_refused(void **state)
{
	SSL_CTX *s = ctx_ok(true, dir_a, NODE_PRIMARY);
	SSL_CTX *c = manual_client(dir_a, NULL, TLS1_3_VERSION);
	struct hs h;

	hs_run(&h, s, c);
	assert_true(h.s.failed);
	assert_true(h.c.failed);
	assert_contains(h.s.err, "peer did not return a certificate");
	hs_free(&h);
	SSL_CTX_free(c);
	SSL_CTX_free(s);
}

/* Break one file of a scratch copy of A and read the message. */
static void
ctx_fails(const char *dir, const char *cluster, enum node_id self,
    const char *expect1, const char *expect2)
{
	char err[512] = "";
	SSL_CTX *ctx;

	ctx = tls_client_ctx(dir, cluster, self, err, sizeof(err));
	if (ctx != NULL)
		fail_msg("client context made, expected \"%s\"", expect1);
	assert_contains(err, expect1);
	if (expect2 != NULL)
		assert_contains(err, expect2);
	err[0] = '\0';
	ctx = tls_server_ctx(dir, cluster, self, err, sizeof(err));
	assert_null(ctx);
	assert_contains(err, expect1);
	assert_int_equal(ERR_peek_error(), 0);
}

static void
copy_file(const char *from_dir, const char *from, const char *to_dir, const char *to)
{
	char *a = path_in(from_dir, from), *b = path_in(to_dir, to);
	char *argv[] = { "cp", "-p", a, b, NULL };

	assert_int_equal(run_argv(argv, 1), 0);
	free(a);
	free(b);
}

static void
test_file_errors(void **state)
{
	char *d, *p, *exp;

	d = copy_dir(dir_a);
	p = path_in(d, "ca.crt");
	unlink(p);
	exp = xasprintf("%s is missing", p);
	ctx_fails(d, "demo", NODE_PRIMARY, exp, NULL);
	free(exp);
	free(p);
	rm_rf(d);
	free(d);

	d = copy_dir(dir_a);
	p = path_in(d, "secondary.key");
	unlink(p);
	exp = xasprintf("%s is missing", p);
	ctx_fails(d, "demo", NODE_SECONDARY, exp, NULL);
	free(exp);
	free(p);
	rm_rf(d);
	free(d);

	d = copy_dir(dir_a);
	p = path_in(d, "secondary.crt");
	unlink(p);
	assert_int_equal(mkdir(p, 0755), 0);
	exp = xasprintf("%s is not a regular file", p);
	ctx_fails(d, "demo", NODE_SECONDARY, exp, NULL);
	free(exp);
	free(p);
	rm_rf(d);
	free(d);

	d = copy_dir(dir_a);
	p = path_in(d, "primary.crt");
	assert_int_equal(write_file_atomic(p, "garbage\n", 8, 0644), 0);
	exp = xasprintf("%s is not a PEM certificate", p);
	ctx_fails(d, "demo", NODE_PRIMARY, exp, NULL);
	free(exp);
	free(p);
	rm_rf(d);
	free(d);

	d = copy_dir(dir_a);
	p = path_in(d, "primary.key");
	assert_int_equal(chmod(p, 0644), 0);
	exp = xasprintf("%s is accessible by group or others (mode 0644)", p);
	ctx_fails(d, "demo", NODE_PRIMARY, exp, "chmod 600");
	free(exp);
	free(p);
	rm_rf(d);
	free(d);

	/* A key of the same cluster, but another node's. */
	d = copy_dir(dir_a);
	copy_file(d, "primary.key", d, "secondary.key");
	exp = xasprintf("%s/secondary.key does not match %s/secondary.crt", d, d);
	ctx_fails(d, "demo", NODE_SECONDARY, exp, NULL);
	free(exp);
	rm_rf(d);
	free(d);

	/* B's pair beside A's CA: a mixed copy of two init runs. */
	d = copy_dir(dir_a);
	copy_file(dir_b, "secondary.crt", d, "secondary.crt");
	copy_file(dir_b, "secondary.key", d, "secondary.key");
	exp = xasprintf("%s/secondary.crt is not signed by %s/ca.crt", d, d);
	ctx_fails(d, "demo", NODE_SECONDARY, exp, NULL);
	free(exp);
	rm_rf(d);
	free(d);

	d = copy_dir(dir_a);
	craft(dir_a, d, "secondary", "lifeline://demo/secondary", -30, -1);
	exp = xasprintf("%s/secondary.crt expired on", d);
	ctx_fails(d, "demo", NODE_SECONDARY, exp, NULL);
	free(exp);
	rm_rf(d);
	free(d);

	d = copy_dir(dir_a);
	craft(dir_a, d, "secondary", "lifeline://demo/secondary", 2, 30);
	exp = xasprintf("%s/secondary.crt is not valid before", d);
	ctx_fails(d, "demo", NODE_SECONDARY, exp, "clock");
	free(exp);
	rm_rf(d);
	free(d);

	/* Own files that name another cluster or node are caught at load. */
	d = copy_dir(dir_a);
	craft(dir_a, d, "secondary", "lifeline://other/secondary", -1, 30);
	ctx_fails(d, "demo", NODE_SECONDARY, "is the certificate of node "
	    "secondary of cluster \"other\", expected node secondary of "
	    "cluster \"demo\"", NULL);
	rm_rf(d);
	free(d);

	d = copy_dir(dir_a);
	copy_file(d, "primary.crt", d, "secondary.crt");
	copy_file(d, "primary.key", d, "secondary.key");
	ctx_fails(d, "demo", NODE_SECONDARY, "is the certificate of node "
	    "primary of cluster \"demo\", expected node secondary", NULL);
	rm_rf(d);
	free(d);

	ctx_fails(dir_a, "demo", NODE_TERTIARY, "tertiary.crt is missing", NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_files),
		cmocka_unit_test(test_init_trio),
		cmocka_unit_test(test_init_refuses_overwrite),
		cmocka_unit_test(test_init_main),
		cmocka_unit_test(test_handshake_primary_secondary),
		cmocka_unit_test(test_other_cluster_ca_refused),
		cmocka_unit_test(test_wrong_identity_refused),
		cmocka_unit_test(test_tls12_refused),
		cmocka_unit_test(test_no_client_cert_refused),
		cmocka_unit_test(test_file_errors),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
