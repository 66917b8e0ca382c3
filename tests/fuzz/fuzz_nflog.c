/*
 * fuzz_nflog - libFuzzer target over gateway/nflog.c, the monitor's parser
 * of NFLOG records (DLT_NFLOG) and of the logged IP packets.  Checks: the
 * payload lies inside the record, the prefix is NUL-terminated within its
 * bound, the decoded fields are consistent (an IP version of 4 or 6, ports
 * only with a transport header).
 */
#include "nflog.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_ip(const uint8_t *p, size_t len)
{
	struct nflog_ip ip;
	char buf[8];

	if (nflog_decode_ip(p, len, &ip) == 0) {
		if (ip.version != 4 && ip.version != 6)
			abort();
		if (ip.fragment && ip.have_ports)
			abort();
		if (!nflog_proto_name(ip.proto, buf, sizeof(buf))[0])
			abort();
	} else if (len >= 40 && p[0] >> 4 == 6) {
		abort(); /* a complete IPv6 header always decodes */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nflog_rec r;

	if (nflog_parse(data, size, &r) == 0) {
		if (strnlen(r.prefix, sizeof(r.prefix)) >= sizeof(r.prefix))
			abort();
		if (r.payload) {
			if (r.payload < data || r.payload + r.payload_len > data + size)
				abort();
			fuzz_ip(r.payload, r.payload_len);
		}
	}
	fuzz_ip(data, size); /* the IP decoder on its own */
	return 0;
}
