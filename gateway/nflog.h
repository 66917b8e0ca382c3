/*
 * nflog - one NFLOG record (libpcap's DLT_NFLOG link type) taken apart:
 * the log prefix, the in/out interface indexes and the logged IP packet,
 * then the packet's protocol, addresses and ports.
 *
 * TRUST: none; the record comes from the kernel, but the logged packet is
 * whatever a host on a segment sent.  Every length is checked against the
 * bytes captured; the TLV walk is bounded (NFLOG_MAX_TLVS).
 * FAILURE: nflog_parse() returns -1 on a record it cannot take apart;
 * nflog_decode_ip() fills what it could and says how far it got.
 */
#ifndef SEKISHO_NFLOG_H
#define SEKISHO_NFLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NFLOG_MAX_TLVS 64    /* more attributes than the kernel ever sends */
#define NFLOG_PREFIX_MAX 128 /* nftables limits log prefixes to 127 bytes */

/* What one NFLOG record carries (pointers into the record). */
struct nflog_rec {
	uint8_t family;                /* NFPROTO_* of the hook (2 = IPv4, 10 = IPv6) */
	char prefix[NFLOG_PREFIX_MAX]; /* NUL-terminated; "" when absent */
	uint32_t indev, outdev;        /* interface indexes; 0 when absent */
	const uint8_t *payload;        /* the IP packet; NULL when absent */
	size_t payload_len;
};

/* The IP packet's flow fields (addresses in network order). */
struct nflog_ip {
	int version;   /* 4 or 6; 0 = not an IP packet */
	uint8_t proto; /* IPPROTO_*, after IPv6 extension headers */
	uint8_t src[16], dst[16];
	uint16_t sport, dport; /* TCP/UDP/SCTP ports; ICMP: type as dport, code as sport */
	bool have_ports;
	bool fragment; /* a non-first fragment: no transport header */
	uint8_t tcp_flags;
};

/*
 * Take apart one DLT_NFLOG record of len bytes (TLV lengths and types in
 * host byte order, as libpcap delivers them live).  Returns 0 and fills r,
 * or -1 when the header is short or a TLV overruns the record.
 */
int nflog_parse(const uint8_t *p, size_t len, struct nflog_rec *r);

/*
 * Decode an IPv4 or IPv6 packet's flow fields into ip (zeroed first).
 * Returns 0 when at least the IP header was complete, -1 otherwise.
 */
int nflog_decode_ip(const uint8_t *p, size_t len, struct nflog_ip *ip);

/* The protocol's name for alerts ("tcp", "udp", "icmp", "icmpv6", or the number). */
const char *nflog_proto_name(uint8_t proto, char *buf, size_t size);

#endif
