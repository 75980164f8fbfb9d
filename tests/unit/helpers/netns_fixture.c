/*
 * The network namespace fixture of the unit tests (netns_fixture.h): the
 * forked child, its two namespaces, veth pairs between them, the ip(8)
 * commands run inside and the packet sockets that watch ARP there.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netpacket/packet.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "common/values.h"
#include "helpers/netns_fixture.h"

int ns_node = -1, ns_peer = -1;

int
run(const char *fmt, ...)
{
	char line[512], *argv[32], *save = NULL, *w;
	va_list ap;
	int argc = 0;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	for (w = strtok_r(line, " ", &save); w != NULL && argc < 31;
	    w = strtok_r(NULL, " ", &save))
		argv[argc++] = w;
	argv[argc] = NULL;
	return run_argv(argv, 1);
}

void
enter(int ns)
{
	CHECK(setns(ns, CLONE_NEWNET) == 0);
}

void
set_sysctl(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	CHECK(fd >= 0);
	CHECK(write(fd, value, strlen(value)) == (ssize_t)strlen(value));
	close(fd);
}

/*
 * The namespace the caller is in now, made quiet: no IPv6 (so no
 * link-local chatter leaves the documentation ranges) and loopback up.
 */
static int
prepare_ns(void)
{
	int fd = open("/proc/self/ns/net", O_RDONLY);

	CHECK(fd >= 0);
	set_sysctl("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
	set_sysctl("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
	RUN("ip link set lo up");
	return fd;
}

void
isolated(void (*body)(void))
{
	int status;
	pid_t pid;

	if (geteuid() != 0) {
		print_message("skipped: needs root for network namespaces\n");
		skip();
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(60);
		if (unshare(CLONE_NEWNET) < 0)
			_exit(77);
		ns_node = prepare_ns();
		CHECK(unshare(CLONE_NEWNET) == 0);
		ns_peer = prepare_ns();
		enter(ns_node);
		body();
		exit(0);		/* exit, not _exit: leak checks run */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
		print_message("skipped: cannot create a network namespace\n");
		skip();
	}
	if (WIFSIGNALED(status))
		fail_msg("test child killed by signal %d", WTERMSIG(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/*
 * Wait, at most 3 s, until ifname of the current namespace is
 * operationally up: until the kernel's link watch has seen the carrier, a
 * new veth still has the no-op queue that drops every frame sent.
 */
static void
wait_running(const char *ifname)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int i;

	CHECK(fd >= 0);
	for (i = 0; i < 300; i++) {
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
		CHECK(ioctl(fd, SIOCGIFFLAGS, &ifr) == 0);
		if (ifr.ifr_flags & IFF_RUNNING)
			break;
		usleep(10000);
	}
	close(fd);
	CHECK(i < 300);
}

void
veth(const char *node_if, const char *node_addr, const char *peer_if,
    const char *peer_addr)
{
	enter(ns_node);
	RUN("ip link add %s type veth peer name %s netns /proc/self/fd/%d",
	    node_if, peer_if, ns_peer);
	if (node_addr != NULL)
		RUN("ip addr add %s dev %s", node_addr, node_if);
	RUN("ip link set %s up", node_if);
	enter(ns_peer);
	if (peer_addr != NULL)
		RUN("ip addr add %s dev %s", peer_addr, peer_if);
	RUN("ip link set %s up", peer_if);
	wait_running(peer_if);
	enter(ns_node);
	wait_running(node_if);
}

struct ipaddr
addr(const char *s)
{
	struct ipaddr a;

	CHECK(parse_ipaddr(s, 0, &a) == 0);
	return a;
}

void
mac_of(const char *ifname, uint8_t mac[6])
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	CHECK(ioctl(fd, SIOCGIFHWADDR, &ifr) == 0);
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	close(fd);
}

int
arp_listener(const char *ifname)
{
	struct sockaddr_ll sll;
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ARP));

	CHECK(fd >= 0);
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ARP);
	sll.sll_ifindex = (int)if_nametoindex(ifname);
	CHECK(sll.sll_ifindex > 0);
	CHECK(bind(fd, (struct sockaddr *)&sll, sizeof(sll)) == 0);
	return fd;
}
