/*
 * netlink_test - applies hand-built policies through netlink.c inside fresh
 * network namespaces (unshare, so nothing outlives the test) and checks:
 *   - `nft list table inet sekisho` after netlink_apply() equals the listing
 *     after `nft -f` of the nftprint text (the show == apply cross-check),
 *     also at the byte level of the kernel's netlink dump (set userdata);
 *   - netlink_read() finds the digest comment and the IR's object counts;
 *   - a rule the kernel rejects (SEKISHO_TEST_FAIL_RULE) fails the apply,
 *     names the rule's file:line and leaves the previous table;
 *   - netlink_delete() removes the table and leaves other tables alone.
 * Needs root (CAP_SYS_ADMIN for unshare, CAP_NET_ADMIN); exits 77 (skip)
 * otherwise.  "netlink_test apply" applies the default fixture in the
 * current namespace (for manual checks).
 */
#include "fixture.h"
#include "netlink.h"
#include "nftgen.h"
#include "nftprint.h"
#include "strbuf.h"

#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <sched.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *run(const char *cmd, const char *input)
{
	char tmp[] = "/tmp/sk-unit-XXXXXX";
	struct strbuf out = STRBUF_INIT, full = STRBUF_INIT;
	int fd = mkstemp(tmp);
	FILE *f;
	char buf[4096];
	size_t n;

	if (fd < 0)
		return NULL;
	if (input && write(fd, input, strlen(input)) < 0)
		return NULL;
	close(fd);
	strbuf_printf(&full, "%s < %s 2>&1", cmd, tmp);
	f = popen(full.s, "r");
	while (f && (n = fread(buf, 1, sizeof(buf), f)) > 0)
		strbuf_append(&out, buf, n);
	if (f)
		pclose(f);
	unlink(tmp);
	strbuf_free(&full);
	return strbuf_detach(&out);
}

/* The kernel's view of every set and rule of the table, attribute by
 * attribute (set userdata in hex; rules as libnftnl prints them), so that
 * the cross-check also covers what `nft list` does not print. */
static int dump_set_cb(const struct nlmsghdr *nlh, void *data)
{
	struct strbuf *sb = data;
	struct nftnl_set *s = nftnl_set_alloc();
	uint32_t len = 0;
	const uint8_t *ud;

	if (nftnl_set_nlmsg_parse(nlh, s) == 0) {
		uint32_t flags = nftnl_set_get_u32(s, NFTNL_SET_FLAGS);
		strbuf_printf(sb, "set %s flags %#x key %u/%u data %u/%u size %u udata",
		              flags & NFT_SET_ANONYMOUS ? "(anon)"
		                                        : nftnl_set_get_str(s, NFTNL_SET_NAME),
		              flags, nftnl_set_get_u32(s, NFTNL_SET_KEY_TYPE),
		              nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN),
		              nftnl_set_get_u32(s, NFTNL_SET_DATA_TYPE),
		              nftnl_set_get_u32(s, NFTNL_SET_DATA_LEN),
		              nftnl_set_get_u32(s, NFTNL_SET_DESC_SIZE));
		ud = nftnl_set_get_data(s, NFTNL_SET_USERDATA, &len);
		for (uint32_t i = 0; ud && i < len; i++)
			strbuf_printf(sb, " %02x", ud[i]);
		strbuf_putc(sb, '\n');
	}
	nftnl_set_free(s);
	return MNL_CB_OK;
}

static int dump_rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct strbuf *sb = data;
	struct nftnl_rule *r = nftnl_rule_alloc();
	char buf[8192];

	if (nftnl_rule_nlmsg_parse(nlh, r) == 0) {
		nftnl_rule_unset(r, NFTNL_RULE_HANDLE);
		nftnl_rule_snprintf(buf, sizeof(buf), r, NFTNL_OUTPUT_DEFAULT, 0);
		strbuf_printf(sb, "%s\n", buf);
	}
	nftnl_rule_free(r);
	return MNL_CB_OK;
}

static char *dump_kernel(void)
{
	struct strbuf sb = STRBUF_INIT;
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	static const uint16_t types[] = {NFT_MSG_GETSET, NFT_MSG_GETRULE};

	mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID);
	for (size_t i = 0; i < 2; i++) {
		char buf[32768];
		struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(
		    buf, types[i], NFPROTO_INET, NLM_F_DUMP, (uint32_t)time(NULL) + (uint32_t)i);
		uint32_t seq = nlh->nlmsg_seq;
		int n;

		mnl_attr_put_strz(nlh, NFTA_SET_TABLE, "sekisho");
		mnl_socket_sendto(nl, nlh, nlh->nlmsg_len);
		while ((n = (int)mnl_socket_recvfrom(nl, buf, sizeof(buf))) > 0)
			if (mnl_cb_run(buf, (size_t)n, seq, mnl_socket_get_portid(nl),
			               i == 0 ? dump_set_cb : dump_rule_cb, &sb) <= MNL_CB_STOP)
				break;
	}
	mnl_socket_close(nl);
	return strbuf_detach(&sb);
}

static void fresh_netns(void)
{
	if (unshare(CLONE_NEWNET) < 0) {
		perror("unshare");
		exit(77);
	}
	free(run("ip link set lo up", NULL));
}

/* nft's listing with handles and counters normalised; mnl dump without
 * sequence numbers, port ids and handles. */
#define LIST_CMD                                                                                   \
	"nft list table inet sekisho | sed -E 's/packets [0-9]+ bytes [0-9]+/packets 0 bytes 0/'"

static void crosscheck(struct policy *p, const char *what)
{
	struct nftgen_table *t = nftgen_compile(p, NULL);
	struct strbuf text = STRBUF_INIT, err = STRBUF_INIT;
	char *via_nft, *via_sk, *kern_nft, *kern_sk, *out;

	nftprint_table(t, &text, true);
	fresh_netns();
	out = run("nft -f -", text.s);
	FX_CHECK(out && out[0] == '\0');
	if (out && out[0])
		fprintf(stderr, "%s: nft -f: %s\n", what, out);
	free(out);
	via_nft = run(LIST_CMD, NULL);
	kern_nft = dump_kernel();
	fresh_netns();
	FX_CHECK(netlink_apply(t, &err) == 0);
	if (err.len)
		fprintf(stderr, "%s: apply: %s\n", what, err.s);
	via_sk = run(LIST_CMD, NULL);
	kern_sk = dump_kernel();
	FX_CHECK(strcmp(via_nft, via_sk) == 0);
	FX_CHECK(strcmp(kern_nft, kern_sk) == 0);
	if (strcmp(kern_nft, kern_sk) != 0) {
		FILE *f = fopen("/tmp/sk-unit-kern-nft.txt", "w");
		if (f) {
			fputs(kern_nft, f);
			fclose(f);
		}
		f = fopen("/tmp/sk-unit-kern-sk.txt", "w");
		if (f) {
			fputs(kern_sk, f);
			fclose(f);
		}
		fprintf(stderr,
		        "%s: kernel objects differ: diff /tmp/sk-unit-kern-nft.txt "
		        "/tmp/sk-unit-kern-sk.txt\n",
		        what);
	}
	free(kern_nft);
	free(kern_sk);
	if (strcmp(via_nft, via_sk) != 0) {
		FILE *f = fopen("/tmp/sk-unit-via-nft.txt", "w");
		if (f) {
			fputs(via_nft, f);
			fclose(f);
		}
		f = fopen("/tmp/sk-unit-via-sk.txt", "w");
		if (f) {
			fputs(via_sk, f);
			fclose(f);
		}
		fprintf(stderr,
		        "%s: listings differ: diff /tmp/sk-unit-via-nft.txt "
		        "/tmp/sk-unit-via-sk.txt\n",
		        what);
	}
	free(via_nft);
	free(via_sk);
	strbuf_free(&text);
	strbuf_free(&err);
	nftgen_free(t);
}

static void test_read_fail_delete(void)
{
	struct policy *p = fx_default();
	struct nftgen_table *t = nftgen_compile(p, NULL), *t2;
	struct strbuf err = STRBUF_INIT;
	struct netlink_running r;
	char comment[64];
	char *before, *after;

	fresh_netns();
	free(run("nft add table ip other && nft add chain ip other c", NULL));
	FX_CHECK(netlink_read(&r, &err) == 0 && !r.exists);
	netlink_running_free(&r);
	FX_CHECK(netlink_apply(t, &err) == 0);
	FX_CHECK(netlink_apply(t, &err) == 0); /* replacing works too */
	/* a generation change between reading and sending: retried once */
	setenv(NETLINK_STALE_GENID_ENV, "1", 1);
	FX_CHECK(netlink_apply(t, &err) == 0);
	unsetenv(NETLINK_STALE_GENID_ENV);
	FX_CHECK(netlink_read(&r, &err) == 0 && r.exists);
	nftprint_table_comment(t, comment, sizeof(comment));
	FX_CHECK(r.comment && strcmp(r.comment, comment) == 0);
	FX_CHECK(r.nrules == t->nrules);
	FX_CHECK(r.nsets == t->sets.n);
	FX_CHECK(r.nchains == t->chains.n);
	netlink_running_free(&r);

	/* a rejected rule: the old table stays, the error names file:line */
	p->flows.v[0].pos.line = 99;
	t2 = nftgen_compile(p, NULL);
	before = run(LIST_CMD, NULL);
	setenv(NETLINK_FAIL_RULE_ENV, "rules/test.rules:99", 1);
	strbuf_reset(&err);
	FX_CHECK(netlink_apply(t2, &err) < 0);
	unsetenv(NETLINK_FAIL_RULE_ENV);
	FX_CHECK(err.s && strstr(err.s, "rules/test.rules:99: kernel rejected the rule"));
	if (err.s)
		fprintf(stderr, "(expected) %s\n", err.s);
	after = run(LIST_CMD, NULL);
	FX_CHECK(strcmp(before, after) == 0);
	free(before);
	free(after);

	strbuf_reset(&err);
	FX_CHECK(netlink_delete(&err) == 0);
	FX_CHECK(netlink_read(&r, &err) == 0 && !r.exists);
	netlink_running_free(&r);
	FX_CHECK(netlink_delete(&err) == 0); /* nothing to delete is fine */
	after = run("nft list tables", NULL);
	FX_CHECK(strstr(after, "table ip other") != NULL);
	free(after);
	nftgen_free(t);
	nftgen_free(t2);
	strbuf_free(&err);
	fx_free(p);
}

static struct policy *groups_policy(void)
{
	struct policy *p = fx_policy();
	struct segment *a, *b;

	a = fx_segment(p, "a", SEG_JOHO, "a0 a1",
	               "198.18.10.0/24 198.18.11.0/24 198.18.12.0/24 "
	               "2001:2:0:a::/64");
	a->registered_only = true;
	fx_host(p, a, "h4", "198.18.10.4", "02:00:00:00:00:04");
	fx_host(p, a, "h6", "2001:2:0:a::6", "02:00:00:00:00:06");
	fx_host(p, a, "h46", "198.18.10.46 2001:2:0:a::46", NULL);
	b = fx_segment(p, "b", SEG_OTHER, "b0", "0.0.0.0/1 2001:2:0:b::/64 ::/1");
	fx_host(p, b, "s6", "2001:2:0:b::1", NULL);
	fx_host(p, b, "s4", "198.18.20.1 198.18.20.2", NULL);
	fx_segment(p, "up", SEG_INTERNET, "up0 up1", NULL);
	fx_group(p, "clients", "h4 h46");
	fx_flow(p, FLOW_ALLOW, "a", "b", "tcp/443,80,81,100-200,150-300 udp/1-65535", "clients",
	        "s4", 3);
	fx_flow(p, FLOW_ALLOW, "a", "b", "ping tcp/65535", "h6", NULL, 4);
	fx_flow(p, FLOW_MAIL, "a", "b", NULL, NULL, "clients", 5);
	fx_flow(p, FLOW_ALLOW, "a", "up", "tcp/0-10,22", NULL, NULL, 6);
	fx_mgmt(p, "clients", "tcp/22 ping", 7);
	return p;
}

/* Thousands of registered hosts: size hints, elements over many messages. */
static struct policy *big_policy(void)
{
	struct policy *p = fx_policy();
	struct segment *a, *b;

	a = fx_segment(p, "a", SEG_JOHO, "a0", "198.18.0.0/16 2001:2:0:a::/64");
	a->registered_only = true;
	b = fx_segment(p, "b", SEG_OTHER, "b0", "198.19.0.0/16");
	fx_host(p, b, "srv", "198.19.0.1", NULL);
	for (int i = 0; i < 6000; i++) {
		char name[32], addrs[96], mac[32];

		snprintf(name, sizeof(name), "h%d", i);
		snprintf(addrs, sizeof(addrs), "198.18.%d.%d 2001:2:0:a::%x", 1 + i / 250,
		         1 + i % 250, 0x1000 + i);
		snprintf(mac, sizeof(mac), "02:00:00:00:%02x:%02x", (i >> 8) & 255, i & 255);
		fx_host(p, a, name, addrs, i % 2 ? mac : NULL);
	}
	fx_flow(p, FLOW_ALLOW, "a", "b", "tcp/443", NULL, "srv", 3);
	return p;
}

int main(int argc, char **argv)
{
	struct policy *p;

	if (geteuid() != 0) {
		fprintf(stderr, "netlink_test: needs root; skipped\n");
		return 77;
	}
	if (argc > 1 && strcmp(argv[1], "dump") == 0) {
		char *d = dump_kernel();
		fputs(d, stdout);
		free(d);
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "apply") == 0) {
		struct strbuf err = STRBUF_INIT;
		struct nftgen_table *t;
		int rc;

		p = fx_default();
		t = nftgen_compile(p, NULL);
		rc = netlink_apply(t, &err);
		if (rc)
			fprintf(stderr, "%s\n", err.s);
		nftgen_free(t);
		fx_free(p);
		strbuf_free(&err);
		return rc ? 1 : 0;
	}
	p = fx_default();
	crosscheck(p, "default");
	fx_free(p);
	p = groups_policy();
	crosscheck(p, "groups");
	fx_free(p);
	p = big_policy();
	crosscheck(p, "big");
	fx_free(p);
	test_read_fail_delete();
	if (fx_failures)
		fprintf(stderr, "netlink_test: %d failures\n", fx_failures);
	return fx_failures ? 1 : 0;
}
