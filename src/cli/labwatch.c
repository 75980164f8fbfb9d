/*
 * `lifeline lab watch`: the checker every failover scenario runs in the
 * lab's client. It owns the sampling loop (ARP round + GET per sample), the
 * per-sample log, the verdict "never two active nodes" and the outage
 * figure the failover benchmark reads.
 */
#include "cli/labnet.h"
#include "cli/lab.h"
#include "cli/labwatch.h"
#include "common/util.h"
#include "engine/garp.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <net/ethernet.h>
#include <net/if_arp.h>
#include <netpacket/packet.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define WATCH_PORT		8080	/* the sample application (CONTRACT.md) */
#define CONNECT_MS		15	/* a GET that does not connect: "none" */
#define ANSWER_MS		15	/* a GET that does not answer: "none" */
#define INTERVAL_DEFAULT_MS	20
#define INTERVAL_MIN_MS		5
#define INTERVAL_MAX_MS		10000
#define DURATION_DEFAULT_S	3600	/* the bound when no --duration is given */
#define DURATION_MAX_S		86400
#define FRAMES_PER_WAKE		64	/* ARP frames read per poll wake-up */
#define ANSWER_MAX		128	/* "<identity> <n>\n" fits */
#define SUMMARY_MAX		2048

static const uint8_t broadcast_mac[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

/* A running watch: the sockets, where it asks, where it writes. */
struct watch {
	int		 arpfd;
	int		 sigfd;
	struct garp_link link;
	struct watch_query q;
	struct sockaddr_in server;	/* public IP, WATCH_PORT */
	FILE		*out;
	const char	*outname;
	int		 interval_ms;
	uint64_t	 duration_ms;
	bool		 stop;		/* SIGTERM or SIGINT came */
	bool		 failed;	/* the loop itself broke */
	size_t		 send_failures;
};

/* One GET in flight: connecting, then waiting for its answer line. */
struct get {
	int		 fd;		/* -1 once done */
	bool		 connected;	/* GET sent, reading */
	uint64_t	 deadline;
	char		 buf[ANSWER_MAX];
	size_t		 len;
};

static void watch_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void bufcat(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
watch_err(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "lifeline lab: watch: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

/* Append to a NUL-terminated buffer; a report cut at len is still a report. */
static void
bufcat(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strnlen(buf, len);
	va_list ap;

	if (used + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

/* ---- the pure parts: answers, samples, the verdict ------------------ */

bool
watch_arp_answer(const struct watch_query *q, const uint8_t *frame, size_t len,
    uint8_t mac[6])
{
	struct arp_msg m;

	if (!garp_arp_parse(frame, len, &m) || m.op != ARPOP_REPLY)
		return false;
	if (m.spa.s_addr != q->target.s_addr || m.tpa.s_addr != q->ip.s_addr ||
	    memcmp(m.tha, q->mac, 6) != 0)
		return false;
	memcpy(mac, m.sha, 6);
	return true;
}

int
watch_sample_add_mac(struct watch_sample *s, const uint8_t mac[6])
{
	for (unsigned i = 0; i < s->nmacs; i++)
		if (memcmp(s->macs[i], mac, 6) == 0)
			return 0;
	if (s->nmacs == WATCH_MACS_MAX)
		return 0;
	memcpy(s->macs[s->nmacs++], mac, 6);
	return 1;
}

bool
watch_parse_answer(const char *line, size_t len, char *node, size_t nodelen)
{
	size_t name, i;

	for (name = 0; name < len && line[name] != ' '; name++)
		if (!isalnum((unsigned char)line[name]) && line[name] != '-' &&
		    line[name] != '_' && line[name] != '.')
			return false;
	if (name == 0 || name >= len || name + 1 >= nodelen)
		return false;
	for (i = name + 1; i < len; i++)
		if (!isdigit((unsigned char)line[i]))
			return false;
	if (i == name + 1)
		return false;			/* no count */
	memcpy(node, line, name);
	node[name] = '\0';
	return true;
}

void
watch_summary_init(struct watch_summary *sum)
{
	memset(sum, 0, sizeof(*sum));
}

/* Note that name answered at t_ms: first and last time per node name. */
static void
summary_node(struct watch_summary *sum, const char *name, uint64_t t_ms)
{
	struct watch_node *n;

	for (size_t i = 0; i < sum->nnodes; i++)
		if (strcmp(sum->nodes[i].name, name) == 0) {
			sum->nodes[i].last_ms = t_ms;
			return;
		}
	if (sum->nnodes == WATCH_NODES_MAX) {
		sum->nodes_more = true;
		return;
	}
	n = &sum->nodes[sum->nnodes++];
	xstrlcpy(n->name, name, sizeof(n->name));
	n->first_ms = n->last_ms = t_ms;
}

/*
 * THE VERDICT on one sample, given the two before it. A sample is a
 * two-answer sample when
 *
 *  (a) two or more MACs answered its ARP round: two nodes claimed the
 *      public IP within one period. This is the assertion that matters.
 *  (b) its GET was served by another node than the previous sample's, and
 *      the previous sample's ARP round had two MACs: the node change comes
 *      out of a moment when both held the address. A node change between
 *      consecutive samples on its own is NOT counted: a switchover quick
 *      enough to fall between two samples (A answers one round, B the
 *      next, one MAC each) is what a good engine does, and the check must
 *      not fail the engine for being fast.
 *  (c) three consecutive samples were served by A, B, A: no switchover
 *      goes there and back within two periods, so both were serving, even
 *      if one of them hid from ARP.
 */
enum watch_why
watch_summary_add(struct watch_summary *sum, const struct watch_sample *s)
{
	enum watch_why why = WATCH_FINE;
	bool has = s->node[0] != '\0';

	if (s->nmacs >= 2)
		why = WATCH_TWO_MACS;
	else if (has && sum->prev[0].valid && sum->prev[0].node[0] != '\0' &&
	    strcmp(sum->prev[0].node, s->node) != 0 && sum->prev[0].nmacs >= 2)
		why = WATCH_NODE_SWITCH;
	else if (has && sum->prev[0].valid && sum->prev[1].valid &&
	    sum->prev[0].node[0] != '\0' && strcmp(sum->prev[0].node, s->node) != 0 &&
	    strcmp(sum->prev[1].node, s->node) == 0)
		why = WATCH_FLIP_BACK;

	if (why != WATCH_FINE && sum->conflicts++ == 0) {
		sum->first_why = why;
		sum->first_conflict = *s;
	}
	sum->samples++;
	sum->last_ms = s->t_ms;
	xstrlcpy(sum->final_node, s->node, sizeof(sum->final_node));
	if (has) {
		summary_node(sum, s->node, s->t_ms);
		if (sum->answered) {
			uint64_t gap = s->t_ms - sum->last_answer_ms;

			if (!sum->have_outage || gap > sum->outage_ms) {
				sum->have_outage = true;
				sum->outage_ms = gap;
				sum->outage_from_ms = sum->last_answer_ms;
				sum->outage_to_ms = s->t_ms;
				xstrlcpy(sum->outage_from, sum->last_answer_node,
				    sizeof(sum->outage_from));
				xstrlcpy(sum->outage_to, s->node, sizeof(sum->outage_to));
			}
		}
		sum->answered = true;
		sum->last_answer_ms = s->t_ms;
		xstrlcpy(sum->last_answer_node, s->node, sizeof(sum->last_answer_node));
	}
	sum->prev[1] = sum->prev[0];
	sum->prev[0].valid = true;
	sum->prev[0].nmacs = s->nmacs;
	xstrlcpy(sum->prev[0].node, s->node, sizeof(sum->prev[0].node));
	return why;
}

void
watch_format_sample(const struct watch_sample *s, char *buf, size_t len)
{
	if (len == 0)
		return;
	buf[0] = '\0';
	bufcat(buf, len, "%llu ", (unsigned long long)s->t_ms);
	if (s->nmacs == 0)
		bufcat(buf, len, "-");
	for (unsigned i = 0; i < s->nmacs; i++) {
		const uint8_t *m = s->macs[i];

		bufcat(buf, len, "%s%02x:%02x:%02x:%02x:%02x:%02x", i > 0 ? "," : "",
		    m[0], m[1], m[2], m[3], m[4], m[5]);
	}
	bufcat(buf, len, " %s", s->node[0] != '\0' ? s->node : "-");
}

const char *
watch_why_name(enum watch_why why)
{
	switch (why) {
	case WATCH_FINE:
		return "fine";
	case WATCH_TWO_MACS:
		return "two MACs answered one ARP request";
	case WATCH_NODE_SWITCH:
		return "the serving node changed right after a two-MAC round";
	case WATCH_FLIP_BACK:
		return "served by A, B, A in three consecutive samples";
	}
	return "?";
}

void
watch_format_summary(const struct watch_summary *sum, char *buf, size_t len)
{
	char line[256];

	if (len == 0)
		return;
	buf[0] = '\0';
	bufcat(buf, len, "samples %zu, two-answer samples %zu, nodes seen:",
	    sum->samples, sum->conflicts);
	if (sum->nnodes == 0)
		bufcat(buf, len, " none");
	for (size_t i = 0; i < sum->nnodes; i++) {
		const struct watch_node *n = &sum->nodes[i];

		if (strcmp(n->name, sum->final_node) == 0)
			bufcat(buf, len, " %s(%llu..)", n->name,
			    (unsigned long long)n->first_ms);
		else
			bufcat(buf, len, " %s(%llu..%llums)", n->name,
			    (unsigned long long)n->first_ms, (unsigned long long)n->last_ms);
	}
	if (sum->nodes_more)
		bufcat(buf, len, " and others");
	bufcat(buf, len, "\n");

	if (sum->have_outage)
		bufcat(buf, len, "longest outage %llu ms (%s at %llu ms, %s at %llu ms)",
		    (unsigned long long)sum->outage_ms, sum->outage_from,
		    (unsigned long long)sum->outage_from_ms, sum->outage_to,
		    (unsigned long long)sum->outage_to_ms);
	else
		bufcat(buf, len, "longest outage: none (fewer than two answers)");
	if (sum->answered && sum->final_node[0] == '\0')
		bufcat(buf, len, "; no answer after %llu ms (%llu ms to the end)",
		    (unsigned long long)sum->last_answer_ms,
		    (unsigned long long)(sum->last_ms - sum->last_answer_ms));
	bufcat(buf, len, "\n");

	if (sum->conflicts > 0) {
		watch_format_sample(&sum->first_conflict, line, sizeof(line));
		bufcat(buf, len, "first two-answer sample: %s (%s)\n", line,
		    watch_why_name(sum->first_why));
	}
}

/* ---- the client and its sockets ------------------------------------- */

/* "192.0.2.10/24" to its address. */
static int
cidr_addr(const char *cidr, struct in_addr *out)
{
	char buf[INET_ADDRSTRLEN];
	size_t n = strcspn(cidr, "/");

	if (n >= sizeof(buf))
		return -1;
	memcpy(buf, cidr, n);
	buf[n] = '\0';
	return inet_pton(AF_INET, buf, out) == 1 ? 0 : -1;
}

/*
 * Where the client asks, from the lab's address plan: its interface on
 * the public LAN, its own address there, and that LAN's public IP (site
 * A's, 192.0.2.10, in every mode).
 */
static int
client_plan(const char **ifname, struct in_addr *own, struct in_addr *target)
{
	for (size_t i = 0; i < lab_nlinks; i++) {
		const struct lab_link *l = &lab_links[i];
		const struct lab_network *n = &lab_networks[l->net];

		if (l->host != LAB_CLIENT || n->kind != LAB_CUT_PUBLIC || n->public_ip == NULL)
			continue;
		if (cidr_addr(l->addr, own) < 0 || cidr_addr(n->public_ip, target) < 0)
			return -1;
		*ifname = l->ifname;
		return 0;
	}
	return -1;
}

/*
 * Move this (single-threaded) process into the client's network namespace,
 * the one `lab exec client` enters: named from the lab folder's real path
 * like every lab namespace. Only the network namespace: the checker uses
 * sockets and interface ioctls, no path inside the node, and --out is
 * already open.
 */
static int
enter_client(const char *dir, char *err, size_t errlen)
{
	char real[PATH_MAX], prefix[16], ns[LAB_NS_MAX], path[PATH_MAX];
	int fd, rc;

	if (realpath(dir, real) == NULL) {
		if (errno == ENOENT)
			snprintf(err, errlen, "no lab at %s; start one with lifeline lab up", dir);
		else
			snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	lab_prefix(real, prefix, sizeof(prefix));
	lab_ns_name(prefix, lab_host_name(LAB_CLIENT), ns, sizeof(ns));
	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			snprintf(err, errlen, "no lab at %s (no namespace %s); start one with "
			    "lifeline lab up", real, ns);
		else
			snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if ((rc = setns(fd, CLONE_NEWNET)) < 0)
		snprintf(err, errlen, "cannot enter the namespace %s: %s", path, strerror(errno));
	close(fd);
	return rc;
}

/* Broadcast "who has the public IP, tell the client" from the client's MAC. */
static void
send_request(struct watch *w)
{
	struct arp_msg m;
	struct sockaddr_ll to;
	uint8_t frame[GARP_FRAME_MAX];
	size_t len;

	memset(&m, 0, sizeof(m));
	memcpy(m.eth_dst, broadcast_mac, 6);
	m.op = ARPOP_REQUEST;
	memcpy(m.sha, w->q.mac, 6);
	m.spa = w->q.ip;
	m.tpa = w->q.target;
	len = garp_arp_build(frame, sizeof(frame), &m);
	memset(&to, 0, sizeof(to));
	to.sll_family = AF_PACKET;
	to.sll_protocol = htons(ETH_P_ARP);
	to.sll_ifindex = w->link.ifindex;
	to.sll_halen = 6;
	memcpy(to.sll_addr, broadcast_mac, 6);
	if (sendto(w->arpfd, frame, len, MSG_DONTWAIT, (struct sockaddr *)&to,
	    sizeof(to)) != (ssize_t)len && w->send_failures++ == 0)
		watch_err("cannot send the ARP request (%s); counting, not repeating this",
		    strerror(errno));
}

/*
 * Note every ARP answer waiting on the socket in s, at most
 * FRAMES_PER_WAKE per call (the rest wait for the next poll). Returns -1
 * when the socket reports an error (the link went down): the caller stops
 * polling it for this sample instead of spinning on it.
 */
static int
read_answers(struct watch *w, struct watch_sample *s)
{
	uint8_t frame[256], mac[6];
	struct sockaddr_ll from;
	socklen_t fromlen;
	ssize_t n;

	for (int i = 0; i < FRAMES_PER_WAKE; i++) {
		fromlen = sizeof(from);
		n = recvfrom(w->arpfd, frame, sizeof(frame), MSG_DONTWAIT,
		    (struct sockaddr *)&from, &fromlen);
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
		if (from.sll_pkttype == PACKET_OUTGOING)
			continue;
		if (watch_arp_answer(&w->q, frame, (size_t)n, mac))
			watch_sample_add_mac(s, mac);
	}
	return 0;
}

static void
get_close(struct get *g)
{
	if (g->fd >= 0)
		close(g->fd);
	g->fd = -1;
}

static void
get_send(struct get *g, uint64_t now)
{
	if (send(g->fd, "GET\n", 4, MSG_NOSIGNAL | MSG_DONTWAIT) != 4) {
		get_close(g);
		return;
	}
	g->connected = true;
	g->deadline = now + ANSWER_MS;
}

/* Start one GET without blocking; a GET that cannot start is "none". */
static void
get_start(struct get *g, const struct sockaddr_in *sin, uint64_t now)
{
	memset(g, 0, sizeof(*g));
	g->deadline = now + CONNECT_MS;
	g->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (g->fd < 0)
		return;
	if (connect(g->fd, (const struct sockaddr *)sin, sizeof(*sin)) == 0)
		get_send(g, now);
	else if (errno != EINPROGRESS)
		get_close(g);
}

/* The GET's socket is ready: finish connecting, or read its answer line. */
static void
get_event(struct get *g, uint64_t now, struct watch_sample *s)
{
	int soerr = 0;
	socklen_t slen = sizeof(soerr);
	const char *nl;
	ssize_t n;

	if (!g->connected) {
		if (getsockopt(g->fd, SOL_SOCKET, SO_ERROR, &soerr, &slen) < 0 || soerr != 0)
			get_close(g);
		else
			get_send(g, now);
		return;
	}
	n = recv(g->fd, g->buf + g->len, sizeof(g->buf) - 1 - g->len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n > 0)
		g->len += (size_t)n;
	nl = memchr(g->buf, '\n', g->len);
	if (n > 0 && nl == NULL && g->len < sizeof(g->buf) - 1)
		return;				/* more of the line to come */
	if (n >= 0 || nl != NULL)
		watch_parse_answer(g->buf, nl != NULL ? (size_t)(nl - g->buf) : g->len,
		    s->node, sizeof(s->node));
	get_close(g);
}

/*
 * One sample. The ARP request and the GET leave together; every ARP
 * answer arriving until the period ends counts for this sample (the
 * kernel's own requests for the public IP are answered alike, which is
 * as good a proof). The GET has CONNECT_MS to connect and ANSWER_MS to
 * answer, even past the period: the sample ends when both are done, so a
 * slow answer is never taken for the next sample's. Periods end on a grid
 * of the interval from the start (a late sample has a shorter period, and
 * one that overran skips the grid points it passed). Returns 0, or -1 when
 * a signal asked to stop or polling failed (the sample is dropped).
 */
static int
sample_once(struct watch *w, uint64_t start, struct watch_sample *s)
{
	uint64_t t0 = now_mono_ms(), iv = (uint64_t)w->interval_ms, now, wake;
	uint64_t end = start + ((t0 - start) / iv + 1) * iv;	/* on the grid: no drift */
	bool arp_ok = true;
	struct pollfd pfd[3];
	struct get g;

	memset(s, 0, sizeof(*s));
	s->t_ms = t0 - start;
	send_request(w);
	get_start(&g, &w->server, t0);
	for (;;) {			/* ends by end and g.deadline at the latest */
		int n = 0, arpi = -1, geti = -1;

		now = now_mono_ms();
		if (g.fd >= 0 && now >= g.deadline)
			get_close(&g);
		if (now >= end && g.fd < 0)
			break;
		wake = now < end ? end : UINT64_MAX;
		if (g.fd >= 0 && g.deadline < wake)
			wake = g.deadline;
		pfd[n].fd = w->sigfd;
		pfd[n++].events = POLLIN;
		if (arp_ok) {
			pfd[n].fd = w->arpfd;
			pfd[n].events = POLLIN;
			arpi = n++;
		}
		if (g.fd >= 0) {
			pfd[n].fd = g.fd;
			pfd[n].events = g.connected ? POLLIN : POLLOUT;
			geti = n++;
		}
		if (poll(pfd, (nfds_t)n, (int)(wake - now)) < 0) {
			if (errno == EINTR)
				continue;
			watch_err("poll: %s", strerror(errno));
			w->failed = true;
			break;
		}
		if (pfd[0].revents != 0) {
			w->stop = true;
			break;
		}
		if (arpi >= 0 && pfd[arpi].revents != 0 && read_answers(w, s) < 0)
			arp_ok = false;
		if (geti >= 0 && pfd[geti].revents != 0)
			get_event(&g, now_mono_ms(), s);
	}
	get_close(&g);
	return w->stop || w->failed ? -1 : 0;
}

/* Sample until --duration passes or a signal; each line out as it is known. */
static void
watch_run(struct watch *w, struct watch_summary *sum)
{
	uint64_t start = now_mono_ms(), end = start + w->duration_ms;
	struct watch_sample s;
	char line[256];

	while (now_mono_ms() < end) {
		if (sample_once(w, start, &s) < 0)
			break;
		watch_summary_add(sum, &s);
		watch_format_sample(&s, line, sizeof(line));
		fprintf(w->out, "%s\n", line);
		fflush(w->out);
	}
}

/* ---- the subcommand ------------------------------------------------- */

static int
parse_args(struct watch *w, int argc, char **argv)
{
	const char *interval = NULL, *duration = NULL;
	char *end;
	double secs;
	long ms;

	for (int i = 1; i < argc; i++) {
		int rc;

		if ((rc = lab_opt_value(argc, argv, &i, "--interval", &interval)) == 0 &&
		    (rc = lab_opt_value(argc, argv, &i, "--duration", &duration)) == 0 &&
		    (rc = lab_opt_value(argc, argv, &i, "--out", &w->outname)) == 0)
			return lab_usage_error("watch", "unexpected argument \"%s\"", argv[i]);
		if (rc < 0)
			return lab_usage_error("watch", "%s needs a value", argv[i]);
	}
	w->interval_ms = INTERVAL_DEFAULT_MS;
	if (interval != NULL) {
		errno = 0;
		ms = strtol(interval, &end, 10);
		if (errno != 0 || end == interval || *end != '\0' ||
		    ms < INTERVAL_MIN_MS || ms > INTERVAL_MAX_MS)
			return lab_usage_error("watch",
			    "bad --interval \"%s\", expected milliseconds from %d to %d",
			    interval, INTERVAL_MIN_MS, INTERVAL_MAX_MS);
		w->interval_ms = (int)ms;
	}
	w->duration_ms = (uint64_t)DURATION_DEFAULT_S * 1000;
	if (duration != NULL) {
		errno = 0;
		secs = strtod(duration, &end);
		if (errno != 0 || end == duration || *end != '\0' || !isfinite(secs) ||
		    secs <= 0 || secs > DURATION_MAX_S)
			return lab_usage_error("watch",
			    "bad --duration \"%s\", expected seconds above 0, at most %d",
			    duration, DURATION_MAX_S);
		w->duration_ms = (uint64_t)(secs * 1000 + 0.5);
	}
	if (w->outname != NULL && w->outname[0] == '\0')
		return lab_usage_error("watch", "--out needs a file");
	return 0;
}

int
lab_watch(const char *dir, int argc, char **argv)
{
	struct watch w = { .arpfd = -1, .sigfd = -1 };
	struct watch_summary sum;
	char err[PATH_MAX + 128], report[SUMMARY_MAX];
	const char *ifname = NULL;
	sigset_t mask, oldmask;
	bool masked = false;
	int rc = 1;

	if ((rc = parse_args(&w, argc, argv)) != 0)
		return rc;
	rc = 1;
	w.out = stdout;
	if (w.outname != NULL && (w.out = fopen(w.outname, "we")) == NULL) {
		watch_err("cannot open %s: %s", w.outname, strerror(errno));
		return 1;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, &oldmask) < 0) {
		watch_err("sigprocmask: %s", strerror(errno));
		goto out;
	}
	masked = true;
	if ((w.sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		watch_err("signalfd: %s", strerror(errno));
		goto out;
	}
	if (client_plan(&ifname, &w.q.ip, &w.q.target) < 0) {
		watch_err("the lab's address plan has no client on a public LAN");
		goto out;
	}
	if (enter_client(dir, err, sizeof(err)) < 0) {
		watch_err("%s", err);
		goto out;
	}
	if ((w.arpfd = garp_open(ifname, &w.link, err, sizeof(err))) < 0) {
		watch_err("%s", err);
		goto out;
	}
	memcpy(w.q.mac, w.link.mac, 6);
	w.server.sin_family = AF_INET;
	w.server.sin_port = htons(WATCH_PORT);
	w.server.sin_addr = w.q.target;

	watch_summary_init(&sum);
	watch_run(&w, &sum);
	watch_format_summary(&sum, report, sizeof(report));
	if (w.out != stdout && fflush(w.out) == EOF)
		w.failed = true;
	if (ferror(w.out)) {
		watch_err("writing %s failed", w.outname != NULL ? w.outname : "stdout");
		w.failed = true;
	}
	fputs(report, stdout);
	if (w.send_failures > 0)
		printf("ARP requests that could not be sent: %zu\n", w.send_failures);
	fflush(stdout);
	rc = sum.conflicts > 0 || w.failed ? 1 : 0;
out:
	if (w.arpfd >= 0)
		close(w.arpfd);
	if (w.sigfd >= 0) {
		struct signalfd_siginfo si;

		/* the signals that stopped us, so the old mask does not deliver them */
		for (int i = 0; i < 8 && read(w.sigfd, &si, sizeof(si)) == sizeof(si); i++)
			;
		close(w.sigfd);
	}
	if (masked)
		sigprocmask(SIG_SETMASK, &oldmask, NULL);
	if (w.out != NULL && w.out != stdout)
		fclose(w.out);
	return rc;
}
