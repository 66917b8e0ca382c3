/*
 * fuzz_relay_conf - libFuzzer target over the relayd.conf parser
 * (relay_conf_parse over the defaults).  Checks: the result and the
 * messages agree (false <=> an "error:" was reported), the counts stay
 * within their limits, and the lookups run over whatever was parsed
 * (routes for a few domains, explicit clients for v4, v6 and v4-mapped
 * addresses).  relay_conf_check is not run: it asks the system.
 */
#include "relay_conf.h"

#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const domains[] = {"example.jp", "a.example.jp", "LGWAN.example.lg.jp.",
	                                      "", "x"};
	struct relay_conf c;
	struct strbuf err = STRBUF_INIT;
	struct sockaddr_in in = {.sin_family = AF_INET};
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
	bool ok;

	relay_conf_init(&c);
	ok = relay_conf_parse(&c, "fuzz.conf", (const char *)data, size, &err);
	if (ok != !(err.s && strstr(err.s, ": error: ")))
		abort();
	if (c.nlisten > RELAY_CONF_MAX_LISTEN || c.nroutes > RELAY_CONF_MAX_ROUTES ||
	    c.nexplicit_clients > RELAY_CONF_MAX_EXPLICIT)
		abort();
	for (size_t i = 0; i < sizeof(domains) / sizeof(domains[0]); i++) {
		const struct relay_route *r = relay_conf_route(&c, domains[i]);
		if (r && (r < c.routes || r >= c.routes + c.nroutes))
			abort();
	}
	inet_pton(AF_INET, "198.18.2.10", &in.sin_addr);
	relay_conf_explicit_client(&c, (struct sockaddr *)&in);
	inet_pton(AF_INET6, "2001:2:0:2::10", &in6.sin6_addr);
	relay_conf_explicit_client(&c, (struct sockaddr *)&in6);
	inet_pton(AF_INET6, "::ffff:198.18.2.10", &in6.sin6_addr);
	relay_conf_explicit_client(&c, (struct sockaddr *)&in6);
	relay_conf_free(&c);
	strbuf_free(&err);
	return 0;
}
