/*
 * Unit tests of repl/stream: a primary's sender and a secondary's receiver
 * in one process, each with its own journal, over real TLS between two
 * channel addresses on the loopback of a private network namespace.
 * Checked: the journal arrives whole and acknowledged; an old active's
 * divergent tail is saved in quarantine and replaced by the new epoch's
 * records; a sender of a lower epoch is refused; zstd on the way.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/init.h"
#include "common/config.h"
#include "common/tls.h"
#include "common/util.h"
#include "helpers/netns_fixture.h"
#include "helpers/tmpdir.h"
#include "repl/stream.h"

static const char conf_fmt[] =
    "[cluster]\n"
    "name = streamtest\n"
    "mode = ha\n"
    "tls_dir = %s/tls\n"
    "state_dir = %s\n"
    "\n"
    "[node primary]\n"
    "channel = 203.0.113.1/29\n"
    "public = eth0 192.0.2.10/24\n"
    "management = 198.51.100.11/24\n"
    "\n"
    "[node secondary]\n"
    "channel = 203.0.113.2/29\n"
    "public = eth0 192.0.2.10/24\n"
    "management = 198.51.100.12/24\n"
    "\n"
    "[protect]\n"
    "data = /var/lib/app\n";

/* One node of the test: its journal, history, TLS and stream objects. */
struct node {
	struct stream_env	 env;
	struct journal		*j;
	struct history		 history;
	char			*dir, *history_path, *quarantine;
	int			 consumer;
	struct sender		*sender;
	struct receiver		*receiver;
};

static char *top;
static struct config *conf;
static struct event_base *base;

static void
node_open(struct node *n, enum node_id self, uint64_t epoch)
{
	struct journal_opts o = { 0 };
	struct journal_recovery rec;
	char err[512], *jdir;

	memset(n, 0, sizeof(*n));
	n->dir = xasprintf("%s/%s", top, node_name(self));
	jdir = xasprintf("%s/journal", n->dir);
	n->history_path = xasprintf("%s/epochs", n->dir);
	n->quarantine = xasprintf("%s/quarantine", n->dir);
	CHECK(mkdir_p(n->dir, 0700) == 0);
	o.dir = jdir;
	o.segment_bytes = 1024 * 1024;
	n->j = journal_open(&o, &rec, err, sizeof(err));
	if (n->j == NULL) {
		fprintf(stderr, "journal_open: %s\n", err);
		_exit(1);
	}
	CHECK(history_load(n->history_path, &n->history, err, sizeof(err)) >= 0);
	n->env.base = base;
	n->env.conf = conf;
	n->env.self = self;
	n->env.server_ctx = tls_server_ctx(conf->tls_dir, conf->name, self, err, sizeof(err));
	n->env.client_ctx = tls_client_ctx(conf->tls_dir, conf->name, self, err, sizeof(err));
	CHECK(n->env.server_ctx != NULL && n->env.client_ctx != NULL);
	n->env.journal = n->j;
	n->env.history = &n->history;
	n->env.history_path = n->history_path;
	n->env.quarantine_dir = n->quarantine;
	n->env.epoch = epoch;
	free(jdir);
}

static void
node_close(struct node *n)
{
	sender_free(n->sender);
	receiver_free(n->receiver);
	journal_close(n->j);
	SSL_CTX_free(n->env.server_ctx);
	SSL_CTX_free(n->env.client_ctx);
	free(n->dir);
	free(n->history_path);
	free(n->quarantine);
}

/* Append count records of epoch to n's journal, noting a new epoch in its history. */
static void
append(struct node *n, uint64_t epoch, int count, int fill)
{
	uint8_t payload[3000];
	char err[256];

	if (epoch > history_last_epoch(&n->history)) {
		CHECK(history_begin(&n->history, epoch, journal_last_seq(n->j) + 1, err,
		    sizeof(err)) == 0);
		CHECK(history_save(n->history_path, &n->history) == 0);
	}
	for (int i = 0; i < count; i++) {
		uint64_t seq;

		memset(payload, fill + i % 7, sizeof(payload));
		CHECK(journal_append(n->j, epoch, RECORD_WRITE, payload, sizeof(payload), &seq,
		    err, sizeof(err)) == 0);
	}
	CHECK(journal_sync(n->j, err, sizeof(err)) == 0);
}

static bool
synced(struct node *up, struct node *down)
{
	return journal_durable_seq(down->j) == journal_last_seq(up->j) &&
	    journal_consumer_seq(up->j, up->consumer) == journal_last_seq(up->j);
}

/* Run the loop until the downstream journal is durable and acked up to the upstream's end. */
static bool
run_until_synced(struct node *up, struct node *down, int max_ms)
{
	struct timeval tv = { 0, 20 * 1000 };

	for (int waited = 0; waited < max_ms; waited += 20) {
		if (synced(up, down))
			return true;
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	return synced(up, down);
}

static void
run_for(int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/* Every record of a from seq 1 equals b's, byte for byte. */
static void
same_records(struct node *a, struct node *b)
{
	struct journal_reader *ra, *rb;
	struct record_hdr ha, hb;
	const uint8_t *pa, *pb;
	size_t la, lb;
	char err[256];
	int n = 0;

	ra = journal_reader_new(a->j, journal_first_seq(a->j) - 1, false, err, sizeof(err));
	rb = journal_reader_new(b->j, journal_first_seq(a->j) - 1, false, err, sizeof(err));
	CHECK(ra != NULL && rb != NULL);
	for (;;) {
		int x = journal_reader_next(ra, &ha, &pa, &la, err, sizeof(err));
		int y;
		uint8_t *copy;

		if (x == 0)
			break;
		CHECK(x == 1);
		copy = xmalloc(la);
		memcpy(copy, pa, la);
		y = journal_reader_next(rb, &hb, &pb, &lb, err, sizeof(err));
		CHECK(y == 1 && la == lb && memcmp(copy, pb, la) == 0);
		free(copy);
		n++;
	}
	CHECK(journal_reader_next(rb, &hb, &pb, &lb, err, sizeof(err)) == 0);
	CHECK(n > 0);
	journal_reader_free(ra);
	journal_reader_free(rb);
}

/* The one file quarantine_dir holds after a cut, and its size. */
static off_t
quarantined_bytes(const char *qdir)
{
	DIR *d = opendir(qdir);
	struct dirent *e;
	off_t size = -1;

	CHECK(d != NULL);
	while ((e = readdir(d)) != NULL) {
		char *path;
		struct stat st;

		if (e->d_name[0] == '.')
			continue;
		path = xasprintf("%s/%s/journal-tail.llj", qdir, e->d_name);
		if (stat(path, &st) == 0)
			size = st.st_size;
		free(path);
	}
	closedir(d);
	return size;
}

static void
lab_setup(void)
{
	char *text = xasprintf(conf_fmt, top, top), err[512];

	RUN("ip link set lo up");
	RUN("ip addr add 203.0.113.1/29 dev lo");
	RUN("ip addr add 203.0.113.2/29 dev lo");
	conf = config_parse_string(text, "stream.conf", err, sizeof(err));
	if (conf == NULL) {
		fprintf(stderr, "config: %s\n", err);
		_exit(1);
	}
	free(text);
	CHECK(init_write_tls(conf, false, err, sizeof(err)) == 0);
	CHECK(evthread_use_pthreads() == 0);
	base = event_base_new();
	CHECK(base != NULL);
}

static void
body_ship_and_cut(void)
{
	struct node p, s;
	char err[512];

	lab_setup();
	node_open(&p, NODE_PRIMARY, 1);
	node_open(&s, NODE_SECONDARY, 1);
	append(&p, 1, 800, 'a');

	/* The whole journal arrives, durable and acknowledged; zstd on the way. */
	s.receiver = receiver_new(&s.env, err, sizeof(err));
	CHECK(s.receiver != NULL);
	receiver_set_upstream(s.receiver, NODE_PRIMARY);
	p.consumer = journal_consumer_add(p.j, "secondary", 0);
	p.sender = sender_new(&p.env, NODE_SECONDARY, p.consumer, STREAM_CODEC_ZSTD, 0);
	CHECK(run_until_synced(&p, &s, 10000));
	same_records(&p, &s);
	{
		struct stream_status st;

		sender_status(p.sender, &st);
		CHECK(st.connected && st.sent_seq == 800 && st.durable_seq == 800);
		CHECK(st.wire_bytes < st.raw_bytes);     /* repetitive payloads compress */
	}
	/* New records are shipped when the sender is woken. */
	append(&p, 1, 50, 'k');
	sender_wake(p.sender);
	CHECK(run_until_synced(&p, &s, 10000));
	same_records(&p, &s);

	/*
	 * Roles change: the secondary becomes active in epoch 2 and writes 30
	 * records; the primary, cut off, had written 12 more of epoch 1 that
	 * nobody got. It comes back as the downstream: its 12 go to quarantine.
	 */
	sender_free(p.sender);
	p.sender = NULL;
	receiver_free(s.receiver);
	s.receiver = NULL;
	append(&p, 1, 12, 'x');
	s.env.epoch = 2;
	append(&s, 2, 30, 'n');
	p.env.epoch = 2;
	p.receiver = receiver_new(&p.env, err, sizeof(err));
	CHECK(p.receiver != NULL);
	receiver_set_upstream(p.receiver, NODE_SECONDARY);
	s.consumer = journal_consumer_add(s.j, "primary", 0);
	s.sender = sender_new(&s.env, NODE_PRIMARY, s.consumer, STREAM_CODEC_NONE, 0);
	CHECK(run_until_synced(&s, &p, 10000));
	same_records(&s, &p);
	CHECK(journal_last_seq(p.j) == 880);
	CHECK(history_epoch_at(&p.history, 851) == 2);
	CHECK(p.env.needs_check);
	/* 12 records of 48 + 3000 bytes each were set aside, not lost. */
	CHECK(quarantined_bytes(p.quarantine) == 12 * (48 + 3000));

	node_close(&p);
	node_close(&s);
	event_base_free(base);
	config_free(conf);
}

static void
body_lower_epoch_refused(void)
{
	struct node p, s;
	char err[512];

	lab_setup();
	node_open(&p, NODE_PRIMARY, 2);
	node_open(&s, NODE_SECONDARY, 3);
	append(&p, 2, 10, 'a');
	s.receiver = receiver_new(&s.env, err, sizeof(err));
	CHECK(s.receiver != NULL);
	receiver_set_upstream(s.receiver, NODE_PRIMARY);
	p.consumer = journal_consumer_add(p.j, "secondary", 0);
	p.sender = sender_new(&p.env, NODE_SECONDARY, p.consumer, STREAM_CODEC_NONE, 0);
	run_for(1500);
	CHECK(journal_last_seq(s.j) == 0);
	{
		struct stream_status st;

		receiver_status(s.receiver, &st);
		CHECK(!st.connected);
		CHECK(strstr(st.last_error, "records from a lower epoch are refused") != NULL);
	}
	node_close(&p);
	node_close(&s);
	event_base_free(base);
	config_free(conf);
}

static void
in_namespace(void (*body)(void))
{
	top = tmpdir();
	isolated(body);
	rm_rf(top);
	free(top);
}

static void
test_ship_and_cut(void **state)
{
	in_namespace(body_ship_and_cut);
}

static void
test_lower_epoch_refused(void **state)
{
	in_namespace(body_lower_epoch_refused);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ship_and_cut),
		cmocka_unit_test(test_lower_epoch_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
