/*
 * fuzz_mailflows - libFuzzer target over the mail flows reader
 * (mailflows_parse).  Checks: failure leaves an empty list and a message;
 * success respects the limits, and the writer's format of what was parsed
 * parses again to the same flows (round trip); mailflows_match runs over
 * the flows with each flow's own destination.
 */
#include "mailflows.h"

#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool fuzz_same(const struct mailflow *a, const struct mailflow *b)
{
	if (strcmp(a->src_seg, b->src_seg) || strcmp(a->dst_seg, b->dst_seg) ||
	    a->family != b->family || memcmp(a->addr, b->addr, 16) || a->port != b->port ||
	    a->nnets != b->nnets || strcmp(a->origin, b->origin))
		return false;
	for (size_t i = 0; i < a->nnets; i++)
		if (a->nets[i].family != b->nets[i].family ||
		    a->nets[i].prefix != b->nets[i].prefix ||
		    memcmp(a->nets[i].addr, b->nets[i].addr, 16))
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mailflows mf, again;
	struct strbuf err = STRBUF_INIT, out = STRBUF_INIT;

	if (!mailflows_parse(&mf, "fuzz", (const char *)data, size, &err)) {
		if (mf.n || mf.v || !err.len)
			abort();
		goto out;
	}
	if (mf.n > MAILFLOWS_MAX_FLOWS)
		abort();
	for (size_t i = 0; i < mf.n; i++) {
		const struct mailflow *f = &mf.v[i];
		struct sockaddr_storage c, d;

		if (f->nnets == 0 || f->nnets > MAILFLOWS_MAX_NETS || f->port == 0)
			abort();
		mailflows_format(f, &out);
		/* the flow's own destination from its first network's address */
		memset(&c, 0, sizeof(c));
		memset(&d, 0, sizeof(d));
		if (f->family == AF_INET) {
			d.ss_family = AF_INET;
			memcpy(&((struct sockaddr_in *)&d)->sin_addr, f->addr, 4);
			((struct sockaddr_in *)&d)->sin_port = htons(f->port);
		} else {
			d.ss_family = AF_INET6;
			memcpy(&((struct sockaddr_in6 *)&d)->sin6_addr, f->addr, 16);
			((struct sockaddr_in6 *)&d)->sin6_port = htons(f->port);
		}
		if (f->nets[0].family == AF_INET) {
			c.ss_family = AF_INET;
			memcpy(&((struct sockaddr_in *)&c)->sin_addr, f->nets[0].addr, 4);
		} else {
			c.ss_family = AF_INET6;
			memcpy(&((struct sockaddr_in6 *)&c)->sin6_addr, f->nets[0].addr, 16);
		}
		/* the network's own address is inside it: some flow must match */
		if (!mailflows_match(&mf, (struct sockaddr *)&c, (struct sockaddr *)&d))
			abort();
	}
	if (!mailflows_parse(&again, "again", out.s ? out.s : "", out.len, &err) || again.n != mf.n)
		abort();
	for (size_t i = 0; i < mf.n; i++)
		if (!fuzz_same(&mf.v[i], &again.v[i]))
			abort();
	mailflows_free(&again);
out:
	mailflows_free(&mf);
	strbuf_free(&err);
	strbuf_free(&out);
	return 0;
}
