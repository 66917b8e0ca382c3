/*
 * udpflood - a one-way small-packet UDP sender and a counting receiver, for
 * bench/forwarding.sh.
 *
 *   udpflood send ADDR PORT SECONDS [PAYLOAD_BYTES]   (default 64)
 *   udpflood recv PORT SECONDS
 *
 * The sender writes datagrams to ADDR:PORT as fast as it can (sendmmsg in
 * batches) for SECONDS and prints how many it sent.  The receiver counts
 * datagrams from the first one on for SECONDS and prints
 * "<received> <seconds> <per second>".  Nothing is ever sent back, so a
 * firewall in between sees every packet in conntrack state NEW and runs its
 * whole ruleset on each, unlike a request/reply benchmark where the
 * established fast path takes over after the first packet.
 *
 * TRUST: a benchmark tool run by hand between namespaces; it reads nothing
 * but its argument list and the datagram count.
 * FAILURE: exits 2 on a usage or socket error; the receiver exits 1 if no
 * datagram arrived within 5 s.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define UDPFLOOD_BATCH 64
#define UDPFLOOD_MAX_PAYLOAD 1472
#define UDPFLOOD_FIRST_WAIT_S 5
#define UDPFLOOD_RCVBUF_BYTES (8 * 1024 * 1024)

static double udpflood_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long udpflood_num(const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "udpflood: bad number '%s' (%ld..%ld)\n", s, lo, hi);
		exit(2);
	}
	return v;
}

static int udpflood_send(const char *addr, int port, int secs, int len)
{
	static char payload[UDPFLOOD_MAX_PAYLOAD];
	struct mmsghdr msgs[UDPFLOOD_BATCH];
	struct iovec iov = {payload, (size_t)len};
	struct sockaddr_in sin;
	unsigned long long sent = 0, errors = 0;
	double end;
	int fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1) {
		fprintf(stderr, "udpflood: bad IPv4 address '%s'\n", addr);
		return 2;
	}
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		perror("udpflood: socket/connect");
		return 2;
	}
	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < UDPFLOOD_BATCH; i++) {
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	end = udpflood_now() + secs;
	while (udpflood_now() < end) {
		int n = sendmmsg(fd, msgs, UDPFLOOD_BATCH, 0);

		if (n > 0)
			sent += (unsigned long long)n;
		else
			errors++; /* ENOBUFS, ECONNREFUSED from an ICMP error: go on */
	}
	close(fd);
	printf("%llu sent %llu errors\n", sent, errors);
	return 0;
}

static int udpflood_recv(int port, int secs)
{
	static char bufs[UDPFLOOD_BATCH][UDPFLOOD_MAX_PAYLOAD];
	struct mmsghdr msgs[UDPFLOOD_BATCH];
	struct iovec iovs[UDPFLOOD_BATCH];
	struct sockaddr_in sin;
	struct timeval tv = {0, 100 * 1000};
	int rcvbuf = UDPFLOOD_RCVBUF_BYTES;
	unsigned long long got = 0;
	double start = 0, now, waited = udpflood_now();
	int fd;

	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) {
		perror("udpflood: socket");
		return 2;
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		perror("udpflood: bind");
		return 2;
	}
	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < UDPFLOOD_BATCH; i++) {
		iovs[i].iov_base = bufs[i];
		iovs[i].iov_len = sizeof(bufs[i]);
		msgs[i].msg_hdr.msg_iov = &iovs[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	/* tell the script we are bound */
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		int n = recvmmsg(fd, msgs, UDPFLOOD_BATCH, 0, NULL);

		now = udpflood_now();
		if (n > 0) {
			if (got == 0)
				start = now;
			got += (unsigned long long)n;
		}
		if (got == 0 && now - waited > UDPFLOOD_FIRST_WAIT_S) {
			printf("0 0 0\n");
			return 1;
		}
		if (got > 0 && now - start >= secs)
			break;
	}
	close(fd);
	printf("%llu %.3f %.0f\n", got, now - start, (double)got / (now - start));
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 5 && argc <= 6 && strcmp(argv[1], "send") == 0)
		return udpflood_send(argv[2], (int)udpflood_num(argv[3], 1, 65535),
		                     (int)udpflood_num(argv[4], 1, 3600),
		                     argc == 6 ? (int)udpflood_num(argv[5], 0, UDPFLOOD_MAX_PAYLOAD)
		                               : 64);
	if (argc == 4 && strcmp(argv[1], "recv") == 0)
		return udpflood_recv((int)udpflood_num(argv[2], 1, 65535),
		                     (int)udpflood_num(argv[3], 1, 3600));
	fputs("usage: udpflood send ADDR PORT SECONDS [PAYLOAD_BYTES]\n"
	      "       udpflood recv PORT SECONDS\n",
	      stderr);
	return 2;
}
