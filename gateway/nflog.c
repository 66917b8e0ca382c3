/*
 * nflog - NFLOG records (DLT_NFLOG) and the IP packets they carry.
 *
 * Record layout (libpcap, pcap-linktype(7)): a 4-byte header (family,
 * version, resource id), then TLVs: u16 length (header included), u16 type,
 * value, padded to 4 bytes.  Attribute values themselves are in network
 * order (the interface indexes are big-endian u32).
 *
 * TRUST: untrusted bytes; bounded walk, every read checked.
 * FAILURE: -1 on a malformed record; never reads past len.
 */
#include "nflog.h"

#include <stdio.h>
#include <string.h>

enum {
	NFLOG_HDR_LEN = 4,
	NFLOG_TLV_HDR_LEN = 4,
	NFULA_IFINDEX_INDEV = 4,
	NFULA_IFINDEX_OUTDEV = 5,
	NFULA_PAYLOAD = 9,
	NFULA_PREFIX = 10,
	NFLOG_MAX_EXT_HDRS = 8, /* IPv6 extension headers followed */
};

static uint32_t nflog_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t nflog_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

int nflog_parse(const uint8_t *p, size_t len, struct nflog_rec *r)
{
	size_t off = NFLOG_HDR_LEN;

	memset(r, 0, sizeof(*r));
	if (len < NFLOG_HDR_LEN)
		return -1;
	r->family = p[0];
	for (int n = 0; off < len && n < NFLOG_MAX_TLVS; n++) {
		uint16_t tlen, type;
		const uint8_t *v;
		size_t vlen;

		if (len - off < NFLOG_TLV_HDR_LEN)
			return -1;
		memcpy(&tlen, p + off, 2);
		memcpy(&type, p + off + 2, 2);
		type &= 0x7fff; /* NLA_F_NESTED / NLA_F_NET_BYTEORDER */
		if (tlen < NFLOG_TLV_HDR_LEN || tlen > len - off)
			return -1;
		v = p + off + NFLOG_TLV_HDR_LEN;
		vlen = tlen - NFLOG_TLV_HDR_LEN;
		switch (type) {
		case NFULA_IFINDEX_INDEV:
			if (vlen >= 4)
				r->indev = nflog_be32(v);
			break;
		case NFULA_IFINDEX_OUTDEV:
			if (vlen >= 4)
				r->outdev = nflog_be32(v);
			break;
		case NFULA_PAYLOAD:
			r->payload = v;
			r->payload_len = vlen;
			break;
		case NFULA_PREFIX: {
			size_t n_ = strnlen((const char *)v, vlen);

			if (n_ >= sizeof(r->prefix))
				n_ = sizeof(r->prefix) - 1;
			memcpy(r->prefix, v, n_);
			r->prefix[n_] = '\0';
			break;
		}
		default:
			break;
		}
		/* the last TLV may end unpadded */
		off += ((size_t)tlen + 3) & ~(size_t)3;
	}
	return 0;
}

/* Ports (or ICMP type/code) from the transport header at p. */
static void nflog_decode_l4(const uint8_t *p, size_t len, struct nflog_ip *ip)
{
	switch (ip->proto) {
	case 6:   /* tcp */
	case 17:  /* udp */
	case 132: /* sctp */
	case 136: /* udplite */
		if (len >= 4) {
			ip->sport = nflog_be16(p);
			ip->dport = nflog_be16(p + 2);
			ip->have_ports = true;
		}
		if (ip->proto == 6 && len >= 14)
			ip->tcp_flags = p[13];
		break;
	case 1:  /* icmp */
	case 58: /* icmpv6 */
		if (len >= 2) {
			ip->dport = p[0];
			ip->sport = p[1];
			ip->have_ports = true;
		}
		break;
	default:
		break;
	}
}

static int nflog_decode_ip4(const uint8_t *p, size_t len, struct nflog_ip *ip)
{
	size_t ihl, tot;

	if (len < 20)
		return -1;
	ihl = (size_t)(p[0] & 0x0f) * 4;
	if (ihl < 20 || ihl > len)
		return -1;
	ip->version = 4;
	ip->proto = p[9];
	memcpy(ip->src, p + 12, 4);
	memcpy(ip->dst, p + 16, 4);
	tot = nflog_be16(p + 2);
	if (tot < ihl || tot > len)
		tot = len; /* trust the capture, not the header */
	if ((nflog_be16(p + 6) & 0x1fff) != 0) {
		ip->fragment = true;
		return 0;
	}
	nflog_decode_l4(p + ihl, tot - ihl, ip);
	return 0;
}

static int nflog_decode_ip6(const uint8_t *p, size_t len, struct nflog_ip *ip)
{
	size_t off = 40;
	uint8_t nh;

	if (len < 40)
		return -1;
	ip->version = 6;
	memcpy(ip->src, p + 8, 16);
	memcpy(ip->dst, p + 24, 16);
	nh = p[6];
	for (int n = 0; n < NFLOG_MAX_EXT_HDRS; n++) {
		if (nh == 0 || nh == 43 || nh == 60) { /* hop-by-hop, routing, dest opts */
			if (len - off < 8)
				break;
			nh = p[off];
			off += ((size_t)p[off + 1] + 1) * 8;
			if (off > len) {
				off = len;
				break;
			}
		} else if (nh == 44) { /* fragment */
			if (len - off < 8)
				break;
			if ((nflog_be16(p + off + 2) & 0xfff8) != 0)
				ip->fragment = true;
			nh = p[off];
			off += 8;
		} else {
			break;
		}
	}
	ip->proto = nh;
	if (!ip->fragment)
		nflog_decode_l4(p + off, len - off, ip);
	return 0;
}

int nflog_decode_ip(const uint8_t *p, size_t len, struct nflog_ip *ip)
{
	memset(ip, 0, sizeof(*ip));
	if (!p || len < 1)
		return -1;
	switch (p[0] >> 4) {
	case 4:
		return nflog_decode_ip4(p, len, ip);
	case 6:
		return nflog_decode_ip6(p, len, ip);
	default:
		return -1;
	}
}

const char *nflog_proto_name(uint8_t proto, char *buf, size_t size)
{
	switch (proto) {
	case 1:
		return "icmp";
	case 6:
		return "tcp";
	case 17:
		return "udp";
	case 58:
		return "icmpv6";
	case 132:
		return "sctp";
	default:
		snprintf(buf, size, "%u", proto);
		return buf;
	}
}
