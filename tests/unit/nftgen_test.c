/*
 * nftgen_test - unit tests of the compiler on hand-built policies: the
 * layout other tests rely on (set and chain names, rule comments), family
 * handling, expired exceptions, port merging.  With an argument "print" it
 * prints the show text of the default fixture instead (for debugging).
 */
#include "fixture.h"
#include "nftgen.h"
#include "nftprint.h"
#include "strbuf.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static struct nftgen_table *compile(struct policy *p, struct strbuf *sb)
{
	struct nftgen_table *t = nftgen_compile(p, NULL);
	strbuf_reset(sb);
	nftprint_table(t, sb, true);
	return t;
}

static bool has(const struct strbuf *sb, const char *s)
{
	if (strstr(sb->s, s))
		return true;
	fprintf(stderr, "missing: %s\n", s);
	return false;
}

static void test_default_layout(void)
{
	struct policy *p = fx_default();
	struct strbuf sb = STRBUF_INIT;
	struct nftgen_table *t = compile(p, &sb);

	FX_CHECK(nftgen_set(t, "joho_net4") && nftgen_set(t, "joho_net6"));
	FX_CHECK(nftgen_set(t, "shirei_reg4") && nftgen_set(t, "shirei_reg6mac"));
	FX_CHECK(!nftgen_set(t, "internet_net4"));
	FX_CHECK(!nftgen_set(t, "joho_reg4")); /* joho is not registered-only */
	FX_CHECK(nftgen_set(t, "pairs") && nftgen_set(t, "pairs")->elems.n == 15);
	FX_CHECK(nftgen_chain(t, "forward") && nftgen_chain(t, "input"));
	FX_CHECK(nftgen_chain(t, "joho_to_lgwan") && nftgen_chain(t, "internet_to_shirei"));
	FX_CHECK(nftgen_chain(t, "in_internet") && nftgen_chain(t, "mail_redirect"));
	FX_CHECK(has(&sb, "\"joho0\" . \"lgwan0\" : goto joho_to_lgwan,"));
	FX_CHECK(has(&sb, "\"joho0\" . \"joho0\" : accept,"));
	FX_CHECK(has(&sb, "tcp dport { 80, 443 } counter accept comment \"rules/test.rules:19\""));
	FX_CHECK(
	    has(&sb, "icmpv6 type echo-request counter accept comment \"rules/test.rules:19\""));
	FX_CHECK(
	    has(&sb, "ip saddr 198.18.2.10 ip daddr 198.18.1.10 tcp dport 8443 counter accept"));
	FX_CHECK(has(&sb, "ip6 saddr 2001:2:0:2::10 ip6 daddr 2001:2:0:1::10 tcp dport 8443"));
	FX_CHECK(has(&sb, "iifname \"joho0\" ip daddr 198.18.3.25 tcp dport 25 counter redirect to "
	                  ":10025 comment \"rules/test.rules:22\""));
	FX_CHECK(has(&sb, "iifname \"joho0\" ct status dnat tcp dport 10025 counter accept"));
	FX_CHECK(has(&sb, "log prefix \"sekisho deny joho->lgwan \" group 5 queue-threshold 1 "
	                  "counter drop comment \"sekisho: default deny joho->lgwan\""));
	FX_CHECK(has(&sb, "ip saddr != @shirei_net4 log prefix \"sekisho deny shirei spoofed \""));
	FX_CHECK(has(&sb, "log prefix \"sekisho deny shirei unregistered \""));
	FX_CHECK(has(&sb, "ip saddr @joho_net4 log prefix \"sekisho deny internet spoofed \""));
	FX_CHECK(
	    has(&sb, "ip saddr 198.18.3.80 ip daddr 198.18.2.30 tcp dport 8080 counter accept"));
	FX_CHECK(strlen(t->digest) == 16);
	nftgen_free(t);
	strbuf_free(&sb);
	fx_free(p);
}

static void test_expired_exception_dropped(void)
{
	struct policy *p = fx_default();
	struct strbuf sb = STRBUF_INIT;
	struct nftgen_table *t;
	char digest[17];

	t = compile(p, &sb);
	memcpy(digest, t->digest, sizeof(digest));
	nftgen_free(t);
	for (size_t i = 0; i < p->flows.n; i++)
		if (p->flows.v[i].kind == FLOW_EXCEPTION)
			p->flows.v[i].expired = true;
	t = compile(p, &sb);
	FX_CHECK(!strstr(sb.s, "tcp dport 8080"));
	FX_CHECK(strcmp(digest, t->digest) != 0);
	nftgen_free(t);
	strbuf_free(&sb);
	fx_free(p);
}

static void test_groups_macs_families(void)
{
	struct policy *p = fx_policy();
	struct segment *a, *b;
	struct strbuf sb = STRBUF_INIT;
	struct nftgen_table *t;

	a = fx_segment(p, "a", SEG_JOHO, "a0 a1",
	               "198.18.10.0/24 198.18.11.0/24 198.18.12.0/24 2001:2:0:a::/64");
	a->registered_only = true;
	fx_host(p, a, "h4", "198.18.10.4", "02:00:00:00:00:04");
	fx_host(p, a, "h6", "2001:2:0:a::6", NULL);
	fx_host(p, a, "h46", "198.18.10.46 2001:2:0:a::46", NULL);
	b = fx_segment(p, "b", SEG_OTHER, "b0", "198.18.20.0/24 2001:2:0:b::/64");
	fx_host(p, b, "s6", "2001:2:0:b::1", NULL);
	fx_host(p, b, "s4", "198.18.20.1 198.18.20.2", NULL);
	fx_group(p, "clients", "h4 h46");
	fx_flow(p, FLOW_ALLOW, "a", "b", "tcp/443,80,81,100-200,150-300", "clients", "s4", 3);
	fx_flow(p, FLOW_ALLOW, "a", "b", "ping", "h6", NULL, 4);
	fx_flow(p, FLOW_ALLOW, "a", "b", "udp/53", "h4", "s6", 5); /* no common family */
	t = compile(p, &sb);
	FX_CHECK(has(&sb, "198.18.10.0-198.18.12.255,"));
	FX_CHECK(has(&sb, "198.18.10.4 . 02:00:00:00:00:04,"));
	FX_CHECK(has(&sb, "ip saddr @grp_clients_4 ip daddr { 198.18.20.1, 198.18.20.2 } tcp dport "
	                  "{ 80-81, 100-300, 443 } counter accept comment \"rules/test.rules:3\""));
	FX_CHECK(!nftgen_set(t, "grp_clients_6") || nftgen_set(t, "grp_clients_6")->elems.n == 1);
	FX_CHECK(has(&sb, "ip6 saddr 2001:2:0:a::6 icmpv6 type echo-request counter accept"));
	FX_CHECK(
	    !strstr(sb.s, "icmp type echo-request counter accept comment \"rules/test.rules:4\""));
	FX_CHECK(!strstr(sb.s, "udp dport 53"));
	FX_CHECK(has(
	    &sb, "iifname vmap { \"a0\" : jump in_a, \"a1\" : jump in_a, \"b0\" : jump in_b }"));
	FX_CHECK(has(&sb, "\"a0\" . \"a1\" : accept,"));
	nftgen_free(t);
	strbuf_free(&sb);
	fx_free(p);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "print") == 0) {
		struct policy *p = fx_default();
		struct strbuf sb = STRBUF_INIT;
		struct nftgen_table *t = compile(p, &sb);
		fputs(sb.s, stdout);
		nftgen_free(t);
		strbuf_free(&sb);
		fx_free(p);
		return 0;
	}
	test_default_layout();
	test_expired_exception_dropped();
	test_groups_macs_families();
	if (fx_failures)
		fprintf(stderr, "nftgen_test: %d failures\n", fx_failures);
	return fx_failures ? 1 : 0;
}
