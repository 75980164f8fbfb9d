/*
 * Unit tests of cli/init: the TLS files of a new cluster (a CA and one
 * certificate per node of the mode, with their modes, identities and
 * validity), accepted by common/tls as a node's own files; an existing CA
 * kept unless forced; and `lifeline init` with its messages and exit codes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cli/init.h"
#include "common/config.h"
#include "common/tls.h"
#include "common/util.h"
#include "helpers/captured.h"
#include "helpers/tmpdir.h"

static const char conf_fmt[] =
    "[cluster]\n"
    "name = %s\n"
    "mode = %s\n"
    "tls_dir = %s\n"
    "[node primary]\n"
    "channel = 203.0.113.1/30, 203.0.113.9/30\n"
    "public = eth0 192.0.2.10/24\n"
    "management = 198.51.100.11/24\n"
    "[node secondary]\n"
    "channel = 203.0.113.2/30\n"
    "public = eth0 192.0.2.10/24\n"
    "management = 198.51.100.12/24\n"
    "%s"
    "[protect]\n"
    "data = /var/lib/app\n";

/* Only in mode ha+dr: a section a pair does not use is refused. */
static const char tertiary[] =
    "[node tertiary]\n"
    "channel = 203.0.113.10/30\n"
    "public = eth0 198.18.0.10/24\n"
    "management = 198.51.100.13/24\n";

struct fixture {
	char *dir, *tls;
};

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	f->dir = tmpdir();
	f->tls = xasprintf("%s/tls", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	rm_rf(f->dir);
	free(f->dir);
	free(f->tls);
	free(f);
	return 0;
}

static struct config *
conf_of(const char *name, const char *mode, const char *tls_dir)
{
	char *text = xasprintf(conf_fmt, name, mode, tls_dir,
	    strcmp(mode, "ha+dr") == 0 ? tertiary : ""), err[512];
	struct config *conf = config_parse_string(text, "test.conf", err, sizeof(err));

	if (conf == NULL)
		fail_msg("test configuration refused: %s", err);
	free(text);
	return conf;
}

/* dir/name's permission bits, or -1 when it does not exist. */
static int
mode_of(const char *dir, const char *name)
{
	char *path = xasprintf("%s/%s", dir, name);
	struct stat st;
	int r = stat(path, &st);

	free(path);
	return r == 0 ? (int)(st.st_mode & 07777) : -1;
}

static X509 *
load_cert(const char *dir, const char *name)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *fp = fopen(path, "r");
	X509 *cert;

	if (fp == NULL)
		fail_msg("cannot open %s", path);
	cert = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	if (cert == NULL)
		fail_msg("%s is not a PEM certificate", path);
	free(path);
	return cert;
}

/* The subjectAltName URIs of cert, comma separated. */
static void
uris_of(X509 *cert, char *out, size_t outlen)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);

	out[0] = '\0';
	for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);

		if (g->type != GEN_URI)
			continue;
		snprintf(out + strlen(out), outlen - strlen(out), "%s%s", out[0] ? "," : "",
		    (const char *)ASN1_STRING_get0_data(g->d.uniformResourceIdentifier));
	}
	GENERAL_NAMES_free(names);
}

/* Seconds from now to t (negative: in the past). */
static long
secs_from_now(const ASN1_TIME *t)
{
	int days = 0, secs = 0;

	assert_int_equal(ASN1_TIME_diff(&days, &secs, NULL, t), 1);
	return (long)days * 86400 + secs;
}

/* t is want seconds from now, give or take the few seconds the test took. */
static void
assert_from_now(const ASN1_TIME *t, long want)
{
	long got = secs_from_now(t);

	if (got < want - 10 || got > want + 1)
		fail_msg("%ld s from now, expected %ld", got, want);
}

/* The whole of dir/name; fails when it cannot be read. */
static char *
read_file_at(const char *dir, const char *name, size_t *len)
{
	char *path = xasprintf("%s/%s", dir, name), *text = read_file(path, 1 << 20, len);

	if (text == NULL)
		fail_msg("cannot read %s", path);
	free(path);
	return text;
}

/* A pair: the CA and two node certificates, each with its mode. */
static void
test_ha_files(void **state)
{
	struct fixture *f = *state;
	struct config *conf = conf_of("demo", "ha", f->tls);
	char err[512] = "";

	assert_int_equal(init_write_tls(conf, false, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(mode_of(f->tls, "ca.crt"), 0644);
	assert_int_equal(mode_of(f->tls, "ca.key"), 0600);
	assert_int_equal(mode_of(f->tls, "primary.crt"), 0644);
	assert_int_equal(mode_of(f->tls, "primary.key"), 0600);
	assert_int_equal(mode_of(f->tls, "secondary.crt"), 0644);
	assert_int_equal(mode_of(f->tls, "secondary.key"), 0600);
	/* Not a node of the mode: no files. */
	assert_int_equal(mode_of(f->tls, "tertiary.crt"), -1);
	assert_int_equal(mode_of(f->tls, "tertiary.key"), -1);
	config_free(conf);
}

/* Each node's files are what common/tls accepts as that node's own, in both roles. */
static void
test_files_accepted_by_tls(void **state)
{
	struct fixture *f = *state;
	struct config *conf = conf_of("trio.example", "ha+dr", f->tls);
	char err[512] = "";

	assert_int_equal(init_write_tls(conf, false, err, sizeof(err)), 0);
	for (int n = 0; n < NODE_COUNT; n++) {
		SSL_CTX *s = tls_server_ctx(f->tls, "trio.example", n, err, sizeof(err));
		SSL_CTX *c;

		if (s == NULL)
			fail_msg("node %s: server context refused: %s", node_name(n), err);
		c = tls_client_ctx(f->tls, "trio.example", n, err, sizeof(err));
		if (c == NULL)
			fail_msg("node %s: client context refused: %s", node_name(n), err);
		SSL_CTX_free(s);
		SSL_CTX_free(c);
	}
	/* Another cluster's name: the same files carry no identity there. */
	assert_null(tls_server_ctx(f->tls, "other", NODE_PRIMARY, err, sizeof(err)));
	config_free(conf);
}

/* The CA: a CA of path length 0, signing only; nodes: one identity URI each. */
static void
test_certificate_contents(void **state)
{
	struct fixture *f = *state;
	struct config *conf = conf_of("demo", "ha", f->tls);
	char err[512], uris[256], buf[256];
	X509 *ca, *node;
	EVP_PKEY *cakey;

	assert_int_equal(init_write_tls(conf, false, err, sizeof(err)), 0);
	ca = load_cert(f->tls, "ca.crt");
	node = load_cert(f->tls, "secondary.crt");
	cakey = X509_get0_pubkey(ca);

	assert_int_equal(EVP_PKEY_get_id(cakey), EVP_PKEY_ED25519);
	assert_int_equal(EVP_PKEY_get_id(X509_get0_pubkey(node)), EVP_PKEY_ED25519);
	assert_int_equal(X509_check_ca(ca), 1);
	assert_int_equal(X509_get_pathlen(ca), 0);
	assert_true(X509_get_key_usage(ca) & KU_KEY_CERT_SIGN);
	assert_false(X509_get_key_usage(ca) & KU_DIGITAL_SIGNATURE);
	assert_int_equal(X509_verify(ca, cakey), 1);

	assert_int_equal(X509_check_ca(node), 0);
	assert_int_equal(X509_verify(node, cakey), 1);
	assert_int_equal(X509_check_issued(ca, node), X509_V_OK);
	assert_true(X509_get_extended_key_usage(node) & XKU_SSL_SERVER);
	assert_true(X509_get_extended_key_usage(node) & XKU_SSL_CLIENT);
	uris_of(node, uris, sizeof(uris));
	assert_string_equal(uris, "lifeline://demo/secondary");
	uris_of(ca, uris, sizeof(uris));
	assert_string_equal(uris, "");

	/* For people: CN=NODE, O=CLUSTER. */
	X509_NAME_get_text_by_NID(X509_get_subject_name(node), NID_commonName, buf, sizeof(buf));
	assert_string_equal(buf, "secondary");
	X509_NAME_get_text_by_NID(X509_get_subject_name(node), NID_organizationName, buf,
	    sizeof(buf));
	assert_string_equal(buf, "demo");

	/* Valid from a day back, for INIT_VALID_DAYS. */
	assert_from_now(X509_get0_notBefore(node), -86400);
	assert_from_now(X509_get0_notAfter(node), (long)INIT_VALID_DAYS * 86400);
	assert_from_now(X509_get0_notBefore(ca), -86400);
	assert_from_now(X509_get0_notAfter(ca), (long)INIT_VALID_DAYS * 86400);

	/* Serials are random: two certificates never share one. */
	assert_int_not_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(ca),
	    X509_get0_serialNumber(node)), 0);
	X509_free(ca);
	X509_free(node);
	config_free(conf);
}

/* An existing CA is kept, with a message saying how to replace it; --force replaces it. */
static void
test_existing_ca(void **state)
{
	struct fixture *f = *state;
	struct config *conf = conf_of("demo", "ha", f->tls);
	char err[512] = "", *want, *before, *after;
	size_t len;

	assert_int_equal(init_write_tls(conf, false, err, sizeof(err)), 0);
	before = read_file_at(f->tls, "ca.crt", &len);
	assert_int_equal(init_write_tls(conf, false, err, sizeof(err)), -1);
	want = xasprintf("%s already holds a cluster CA; --force replaces it and every node "
	    "must get the new files", f->tls);
	assert_string_equal(err, want);
	after = read_file_at(f->tls, "ca.crt", &len);
	assert_string_equal(before, after);
	free(after);

	assert_int_equal(init_write_tls(conf, true, err, sizeof(err)), 0);
	after = read_file_at(f->tls, "ca.crt", &len);
	assert_string_not_equal(before, after);
	free(before);
	free(after);
	free(want);
	config_free(conf);
}

/* ca.key alone (ca.crt lost) still counts as a CA not to replace by accident. */
static void
test_existing_ca_key_only(void **state)
{
	struct fixture *f = *state;
	struct config *conf = conf_of("demo", "ha", f->tls);
	char err[512] = "", *crt = xasprintf("%s/ca.crt", f->tls);

	assert_int_equal(init_write_tls(conf, false, err, sizeof(err)), 0);
	assert_int_equal(unlink(crt), 0);
	assert_int_equal(init_write_tls(conf, false, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "already holds a cluster CA"));
	assert_int_equal(mode_of(f->tls, "ca.crt"), -1);
	free(crt);
	config_free(conf);
}

/* A tls_dir that cannot be made: the message names it and why. */
static void
test_tls_dir_not_made(void **state)
{
	struct fixture *f = *state;
	char *file = xasprintf("%s/plain", f->dir), *tls = xasprintf("%s/tls", file);
	struct config *conf = conf_of("demo", "ha", tls);
	char err[512] = "", *want;

	assert_int_equal(write_file_atomic(file, "x", 1, 0644), 0);
	assert_int_equal(init_write_tls(conf, false, err, sizeof(err)), -1);
	want = xasprintf("cannot create %s: Not a directory", tls);
	assert_string_equal(err, want);
	free(want);
	free(tls);
	free(file);
	config_free(conf);
}

/* A tight umask narrows nothing: certificates stay readable, keys stay 0600. */
static void
test_umask_ignored(void **state)
{
	struct fixture *f = *state;
	struct config *conf = conf_of("demo", "ha", f->tls);
	char err[512];
	mode_t old = umask(0077);

	assert_int_equal(init_write_tls(conf, false, err, sizeof(err)), 0);
	umask(old);
	assert_int_equal(mode_of(f->tls, "ca.crt"), 0644);
	assert_int_equal(mode_of(f->tls, "primary.crt"), 0644);
	assert_int_equal(mode_of(f->tls, "primary.key"), 0600);
	config_free(conf);
}

/* ---- init_main ----------------------------------------------------------- */

static int
init_fn(void *arg, int argc, char **argv)
{
	return init_main(argc, argv);
}

static void
run_init(struct output *o, int argc, char **argv)
{
	run_captured(o, init_fn, NULL, argc, argv);
}

static char *
write_conf(struct fixture *f, const char *mode)
{
	char *path = xasprintf("%s/lifeline.conf", f->dir);
	char *text = xasprintf(conf_fmt, "demo", mode, f->tls,
	    strcmp(mode, "ha+dr") == 0 ? tertiary : "");

	assert_int_equal(write_file_atomic(path, text, strlen(text), 0644), 0);
	free(text);
	return path;
}

static void
test_main_writes_and_says_what(void **state)
{
	struct fixture *f = *state;
	char *path = write_conf(f, "ha+dr");
	char *argv[] = { "init", "-f", path, NULL };
	struct output o;
	char *line;

	run_init(&o, 3, argv);
	assert_int_equal(o.rc, 0);
	assert_string_equal(o.err, "");
	line = xasprintf("wrote the TLS files of cluster demo (mode ha+dr) in %s:\n", f->tls);
	assert_non_null(strstr(o.out, line));
	assert_non_null(strstr(o.out, "  tertiary.key   its private key\n"));
	assert_non_null(strstr(o.out, "ca.key need not be copied"));
	assert_null(strstr(o.out, "was replaced"));
	assert_int_equal(mode_of(f->tls, "tertiary.key"), 0600);
	free(line);

	/* Again: refused, one line on stderr, exit 1, nothing on stdout. */
	run_init(&o, 3, argv);
	assert_int_equal(o.rc, 1);
	assert_string_equal(o.out, "");
	line = xasprintf("lifeline init: %s already holds a cluster CA; --force replaces it "
	    "and every node must get the new files\n", f->tls);
	assert_string_equal(o.err, line);
	free(line);

	/* --force, as the long option of the config file too: replaced, and said so. */
	{
		char *argv2[] = { "init", "--force", "--config", path, NULL };

		run_init(&o, 4, argv2);
		assert_int_equal(o.rc, 0);
		assert_non_null(strstr(o.out, "The cluster CA was replaced"));
	}
	free(path);
}

static void
test_main_usage(void **state)
{
	static const struct {
		const char *args[3];
		int         rc;
		const char *err;        /* NULL: stderr stays empty */
		const char *out;
	} rows[] = {
		{ { "--help" }, 0, NULL, "usage: lifeline " INIT_USAGE "\n" },
		{ { "-h" }, 0, NULL, "usage: lifeline " INIT_USAGE "\n" },
		{ { "--forse" }, 2, "lifeline init: unexpected argument \"--forse\"; usage: lifeline "
		    INIT_USAGE "\n", "" },
		{ { "extra" }, 2, "lifeline init: unexpected argument \"extra\"", "" },
		/* -f without its FILE is bad usage, not the default file. */
		{ { "-f" }, 2, "lifeline init: unexpected argument \"-f\"", "" },
		{ { "--force", "--config" }, 2, "unexpected argument \"--config\"", "" },
	};

	for (size_t i = 0; i < nitems(rows); i++) {
		char *argv[5] = { "init" };
		struct output o;
		int argc = 1;

		for (size_t j = 0; j < nitems(rows[i].args) && rows[i].args[j]; j++)
			argv[argc++] = (char *)rows[i].args[j];
		run_init(&o, argc, argv);
		if (o.rc != rows[i].rc)
			fail_msg("row %zu: exit %d, expected %d", i, o.rc, rows[i].rc);
		if (rows[i].err == NULL ? o.err[0] != '\0' : strstr(o.err, rows[i].err) == NULL)
			fail_msg("row %zu: stderr \"%s\"", i, o.err);
		if (strcmp(o.out, rows[i].out) != 0)
			fail_msg("row %zu: stdout \"%s\"", i, o.out);
	}
}

/* A configuration that does not load: its FILE:LINE message, exit 1, no files. */
static void
test_main_bad_config(void **state)
{
	struct fixture *f = *state;
	char *path = xasprintf("%s/bad.conf", f->dir), *missing = xasprintf("%s/none.conf", f->dir);
	char *argv[] = { "init", "-f", path, NULL };
	char *want;
	struct output o;

	assert_int_equal(write_file_atomic(path, "[cluster]\nname = demo\nmode = trio\n", 33, 0644), 0);
	run_init(&o, 3, argv);
	assert_int_equal(o.rc, 1);
	want = xasprintf("lifeline init: %s:3: ", path);
	if (strncmp(o.err, want, strlen(want)) != 0)
		fail_msg("stderr \"%s\" does not start with \"%s\"", o.err, want);
	assert_int_equal(mode_of(f->dir, "tls"), -1);
	free(want);

	argv[2] = missing;
	run_init(&o, 3, argv);
	assert_int_equal(o.rc, 1);
	want = xasprintf("lifeline init: %s", missing);
	assert_non_null(strstr(o.err, want));
	assert_non_null(strstr(o.err, "No such file or directory"));
	free(want);
	free(path);
	free(missing);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ha_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_files_accepted_by_tls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_certificate_contents, setup, teardown),
		cmocka_unit_test_setup_teardown(test_existing_ca, setup, teardown),
		cmocka_unit_test_setup_teardown(test_existing_ca_key_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tls_dir_not_made, setup, teardown),
		cmocka_unit_test_setup_teardown(test_umask_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_main_writes_and_says_what, setup, teardown),
		cmocka_unit_test(test_main_usage),
		cmocka_unit_test_setup_teardown(test_main_bad_config, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
