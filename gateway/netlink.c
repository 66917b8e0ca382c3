/*
 * netlink - applies, reads and deletes table inet sekisho with libnftnl and
 * libmnl (see netlink.h for the batch and its error mapping).
 *
 * The objects are built the way nft(8) builds them from the same text (set
 * key types and userdata, register use, implicit protocol dependencies), so
 * `nft list table inet sekisho` prints the same after `sekisho apply` as
 * after `sekisho show | nft -f -`; tests cross-check this.
 *
 * TRUST: the IR; the kernel's replies are parsed with libmnl/libnftnl and
 * bounded by their lengths.
 * FAILURE: -1 and a message; the batch is all or nothing in the kernel.
 */
#include "netlink.h"
#include "log.h"
#include "nftprint.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/gen.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#define NETLINK_MSG_ROOM (256u * 1024)   /* free bytes kept before building one message */
#define NETLINK_ELEMS_BYTES (60u * 1024) /* element bytes per NEWSETELEM (nest limit 64 KiB) */
#define NETLINK_RCVBUF_MIN (4u << 20)    /* socket receive buffer for the acks */
#define NETLINK_ACK_TRUESIZE 2048u       /* socket memory one ack may take */
#define NETLINK_DUMP_RETRIES 5           /* dumps interrupted by a concurrent change */
#define NETLINK_UDATA_MAX 512            /* bytes of userdata built for one object */
#define NETLINK_RECV_BYTES 32768         /* one recv of replies or acks */

/* nft's datatype numbers (nftables include/datatype.h), stored as set key
 * types; concatenations shift the earlier types left by 6 bits each. */
enum {
	NL_TYPE_IPADDR = 7,
	NL_TYPE_IP6ADDR = 8,
	NL_TYPE_ETHERADDR = 9,
	NL_TYPE_INET_SERVICE = 13,
	NL_TYPE_ICMP_TYPE = 14,
	NL_TYPE_ICMP6_TYPE = 29,
	NL_TYPE_IFNAME = 41,
};
#define NL_TYPE_BITS 6
/* nft's byte order and expression numbers in set userdata */
enum { NL_BYTEORDER_INVALID = 0, NL_BYTEORDER_HOST = 1, NL_BYTEORDER_BIG = 2 };
enum { NL_EXPR_VERDICT = 1, NL_EXPR_PAYLOAD = 7, NL_EXPR_META = 9, NL_EXPR_CONCAT = 13 };
/* nft's protocol and field numbers in the typeof userdata of inline sets
 * (proto_desc_id and the header templates' field indices) */
enum {
	NL_DESC_ICMP = 4,
	NL_DESC_UDP = 6,
	NL_DESC_TCP = 8,
	NL_DESC_IP = 12,
	NL_DESC_IP6 = 13,
	NL_DESC_ICMP6 = 14
};
enum {
	NL_FIELD_L4_DPORT = 2,
	NL_FIELD_ICMP_TYPE = 1,
	NL_FIELD_IP_SADDR = 11,
	NL_FIELD_IP_DADDR = 12,
	NL_FIELD_IP6_SADDR = 8,
	NL_FIELD_IP6_DADDR = 9
};
#define NL_ARPHRD_ETHER 1

/* --- the batch --------------------------------------------------------- */

/* What a sequence number stands for, to name it in an error. */
struct netlink_obj {
	const char *kind;  /* "table", "chain", "set", "set elements", "rule" */
	const char *name;  /* chain or set name; rule: its comment */
	const char *chain; /* rule: its chain */
};

struct netlink_batch {
	char *buf;
	size_t len, cap;
	uint32_t seq0, seq;
	struct {
		struct netlink_obj *v;
		size_t n, cap;
	} objs; /* objs.v[seq - seq0] */
	uint32_t set_id;
	size_t nacks;
	const char *fail_rule; /* test hook */
};

struct netlink_elem {
	uint8_t key[32];
	uint8_t klen;
	bool end;    /* NFT_SET_ELEM_INTERVAL_END */
	bool open;   /* interval to the end of the address space */
	int verdict; /* maps: NF_ACCEPT, NFT_JUMP, ...; -1000 = none */
	const char *chain;
};

struct netlink_elems {
	struct netlink_elem *v;
	size_t n, cap;
};

#define NL_NO_VERDICT (-1000)

static void netlink_reserve(struct netlink_batch *b, size_t n)
{
	if (b->cap - b->len >= n)
		return;
	while (b->cap - b->len < n)
		b->cap = b->cap ? b->cap * 2 : 1u << 20;
	b->buf = xreallocarray(b->buf, b->cap, 1);
}

static struct nlmsghdr *netlink_msg(struct netlink_batch *b, uint16_t type, uint16_t flags,
                                    const char *kind, const char *name, const char *chain)
{
	struct netlink_obj *o;
	struct nlmsghdr *nlh;

	netlink_reserve(b, NETLINK_MSG_ROOM);
	memset(b->buf + b->len, 0, NETLINK_MSG_ROOM);
	nlh = nftnl_nlmsg_build_hdr(b->buf + b->len, type, NFPROTO_INET, flags | NLM_F_ACK, b->seq);
	o = VEC_PUSH(b->objs);
	o->kind = kind;
	o->name = name;
	o->chain = chain;
	b->seq++;
	b->nacks++;
	return nlh;
}

static void netlink_msg_end(struct netlink_batch *b, struct nlmsghdr *nlh)
{
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
}

static void netlink_batch_begin(struct netlink_batch *b, uint32_t genid)
{
	struct nlmsghdr *nlh;
	struct nfgenmsg *nfg;
	struct netlink_obj *o;

	netlink_reserve(b, NETLINK_MSG_ROOM);
	memset(b->buf + b->len, 0, 64);
	nlh = mnl_nlmsg_put_header(b->buf + b->len);
	nlh->nlmsg_type = NFNL_MSG_BATCH_BEGIN;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = b->seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_UNSPEC;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = htons(NFNL_SUBSYS_NFTABLES);
	/* a batch built against another generation fails with ERESTART */
	mnl_attr_put_u32(nlh, NFNL_BATCH_GENID, htonl(genid));
	o = VEC_PUSH(b->objs);
	o->kind = "batch";
	b->seq++;
	netlink_msg_end(b, nlh);
}

static void netlink_batch_end(struct netlink_batch *b)
{
	struct nlmsghdr *nlh;
	struct nfgenmsg *nfg;
	struct netlink_obj *o;

	netlink_reserve(b, 64);
	memset(b->buf + b->len, 0, 64);
	nlh = mnl_nlmsg_put_header(b->buf + b->len);
	nlh->nlmsg_type = NFNL_MSG_BATCH_END;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = b->seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_UNSPEC;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = htons(NFNL_SUBSYS_NFTABLES);
	o = VEC_PUSH(b->objs);
	o->kind = "batch";
	b->seq++;
	netlink_msg_end(b, nlh);
}

static void netlink_batch_free(struct netlink_batch *b)
{
	free(b->buf);
	free(b->objs.v);
	memset(b, 0, sizeof(*b));
}

/* --- table and chains -------------------------------------------------- */

static void netlink_table_msg(struct netlink_batch *b, uint16_t type, const char *comment)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;

	if (!t)
		log_fatal("out of memory");
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, NFTGEN_TABLE);
	if (type == NFT_MSG_NEWTABLE)
		nftnl_table_set_u32(t, NFTNL_TABLE_FLAGS, 0);
	if (comment) {
		struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(NETLINK_UDATA_MAX);
		if (!ud)
			log_fatal("out of memory");
		nftnl_udata_put_strz(ud, NFTNL_UDATA_TABLE_COMMENT, comment);
		nftnl_table_set_data(t, NFTNL_TABLE_USERDATA, nftnl_udata_buf_data(ud),
		                     nftnl_udata_buf_len(ud));
		nftnl_udata_buf_free(ud);
	}
	nlh = netlink_msg(b, type, type == NFT_MSG_NEWTABLE ? NLM_F_CREATE : 0, "table",
	                  NFTGEN_TABLE, NULL);
	nftnl_table_nlmsg_build_payload(nlh, t);
	netlink_msg_end(b, nlh);
	nftnl_table_free(t);
}

static void netlink_chain_msg(struct netlink_batch *b, const struct nftgen_chain *c)
{
	struct nftnl_chain *ch = nftnl_chain_alloc();
	struct nlmsghdr *nlh;

	if (!ch)
		log_fatal("out of memory");
	nftnl_chain_set_str(ch, NFTNL_CHAIN_TABLE, NFTGEN_TABLE);
	nftnl_chain_set_str(ch, NFTNL_CHAIN_NAME, c->name);
	if (c->base) {
		nftnl_chain_set_u32(ch, NFTNL_CHAIN_HOOKNUM, (uint32_t)c->hook);
		nftnl_chain_set_s32(ch, NFTNL_CHAIN_PRIO, c->prio);
		nftnl_chain_set_str(ch, NFTNL_CHAIN_TYPE, c->type);
		nftnl_chain_set_u32(ch, NFTNL_CHAIN_POLICY, c->policy_drop ? NF_DROP : NF_ACCEPT);
	}
	nlh = netlink_msg(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE, "chain", c->name, NULL);
	nftnl_chain_nlmsg_build_payload(nlh, ch);
	netlink_msg_end(b, nlh);
	nftnl_chain_free(ch);
}

/* --- sets -------------------------------------------------------------- */

/* How one set is declared: the numbers nft stores for the same text. */
struct netlink_setdesc {
	uint32_t flags;
	uint32_t key_type, key_len;
	uint32_t size; /* named sets: the size hint, 0 = none */
	bool map;      /* data: verdict */
	uint32_t key_byteorder;
	bool merge; /* inline interval sets: MERGE_ELEMENTS */
	/* KEY_TYPEOF: the expression the key came from (inline sets: payload or
	 * meta with its numbers; concat declared by type: no member data) */
	uint32_t key_typeof, typeof_a, typeof_b;
	bool data_verdict_typeof; /* DATA_TYPEOF: verdict (inline maps) */
};

static void netlink_set_udata(struct nftnl_set *s, const struct netlink_setdesc *d)
{
	struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(NETLINK_UDATA_MAX);
	struct nftnl_udata *nest, *inner;

	if (!ud)
		log_fatal("out of memory");
	nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, d->key_byteorder);
	if (d->map)
		nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_DATABYTEORDER, NL_BYTEORDER_INVALID);
	if (d->merge)
		nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_MERGE_ELEMENTS, 1);
	if (d->key_typeof) {
		nest = nftnl_udata_nest_start(ud, NFTNL_UDATA_SET_KEY_TYPEOF);
		nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_TYPEOF_EXPR, d->key_typeof);
		inner = nftnl_udata_nest_start(ud, NFTNL_UDATA_SET_TYPEOF_DATA);
		if (d->key_typeof == NL_EXPR_PAYLOAD) {
			nftnl_udata_put_u32(ud, 0 /* payload desc */, d->typeof_a);
			nftnl_udata_put_u32(ud, 1 /* payload field */, d->typeof_b);
		} else if (d->key_typeof == NL_EXPR_META) {
			nftnl_udata_put_u32(ud, 0 /* meta key */, d->typeof_a);
		}
		nftnl_udata_nest_end(ud, inner);
		nftnl_udata_nest_end(ud, nest);
	}
	if (d->data_verdict_typeof) {
		nest = nftnl_udata_nest_start(ud, NFTNL_UDATA_SET_DATA_TYPEOF);
		nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_TYPEOF_EXPR, NL_EXPR_VERDICT);
		inner = nftnl_udata_nest_start(ud, NFTNL_UDATA_SET_TYPEOF_DATA);
		nftnl_udata_nest_end(ud, inner);
		nftnl_udata_nest_end(ud, nest);
	}
	if (d->map)
		nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_DATA_INTERVAL, 0);
	nftnl_set_set_data(s, NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud),
	                   nftnl_udata_buf_len(ud));
	nftnl_udata_buf_free(ud);
}

static struct nftnl_set *netlink_set_obj(const char *name, uint32_t id)
{
	struct nftnl_set *s = nftnl_set_alloc();

	if (!s)
		log_fatal("out of memory");
	nftnl_set_set_str(s, NFTNL_SET_TABLE, NFTGEN_TABLE);
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	nftnl_set_set_u32(s, NFTNL_SET_ID, id);
	return s;
}

static size_t netlink_elem_bytes(const struct netlink_elem *e)
{
	size_t n = 4 + 4 + 4 + NLMSG_ALIGN(e->klen);

	if (e->end)
		n += 8;
	if (e->open)
		n += 4 + 8;
	if (e->verdict != NL_NO_VERDICT)
		n += 4 + 4 + 8 + (e->chain ? 4 + NLMSG_ALIGN(strlen(e->chain) + 1) : 0);
	return n;
}

static void netlink_elem_to(struct nftnl_set *s, const struct netlink_elem *e)
{
	struct nftnl_set_elem *ne = nftnl_set_elem_alloc();

	if (!ne)
		log_fatal("out of memory");
	nftnl_set_elem_set(ne, NFTNL_SET_ELEM_KEY, e->key, e->klen);
	if (e->end)
		nftnl_set_elem_set_u32(ne, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
	if (e->open) {
		struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(64);
		if (!ud)
			log_fatal("out of memory");
		nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_ELEM_FLAGS, NFTNL_SET_ELEM_F_INTERVAL_OPEN);
		nftnl_set_elem_set(ne, NFTNL_SET_ELEM_USERDATA, nftnl_udata_buf_data(ud),
		                   nftnl_udata_buf_len(ud));
		nftnl_udata_buf_free(ud);
	}
	if (e->verdict != NL_NO_VERDICT) {
		nftnl_set_elem_set_u32(ne, NFTNL_SET_ELEM_VERDICT, (uint32_t)e->verdict);
		if (e->chain)
			nftnl_set_elem_set_str(ne, NFTNL_SET_ELEM_CHAIN, e->chain);
	}
	nftnl_set_elem_add(s, ne);
}

/* NEWSET, then the elements in as many NEWSETELEM messages as needed. */
static uint32_t netlink_set_msgs(struct netlink_batch *b, const char *name,
                                 const struct netlink_setdesc *d, const struct netlink_elems *els,
                                 bool anonymous, const char *rule_comment, const char *chain)
{
	uint32_t id = ++b->set_id;
	struct nftnl_set *s = netlink_set_obj(name, id);
	struct nlmsghdr *nlh;
	size_t i = 0;
	const char *what = anonymous ? rule_comment : name;

	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, d->flags);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, d->key_type);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, d->key_len);
	if (d->map) {
		nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
		nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, 0);
	}
	if (anonymous)
		nftnl_set_set_u32(s, NFTNL_SET_DESC_SIZE, (uint32_t)els->n);
	else if (d->size)
		nftnl_set_set_u32(s, NFTNL_SET_DESC_SIZE, d->size);
	netlink_set_udata(s, d);
	nlh = netlink_msg(b, NFT_MSG_NEWSET, NLM_F_CREATE, anonymous ? "inline set of rule" : "set",
	                  what, chain);
	nftnl_set_nlmsg_build_payload(nlh, s);
	netlink_msg_end(b, nlh);
	nftnl_set_free(s);

	while (i < els->n) {
		size_t bytes = 0;

		s = netlink_set_obj(name, id);
		while (i < els->n && bytes + netlink_elem_bytes(&els->v[i]) < NETLINK_ELEMS_BYTES) {
			bytes += netlink_elem_bytes(&els->v[i]);
			netlink_elem_to(s, &els->v[i]);
			i++;
		}
		nlh =
		    netlink_msg(b, NFT_MSG_NEWSETELEM, NLM_F_CREATE,
		                anonymous ? "inline set of rule" : "elements of set", what, chain);
		nftnl_set_elems_nlmsg_build_payload(nlh, s);
		netlink_msg_end(b, nlh);
		nftnl_set_free(s);
	}
	return id;
}

static struct netlink_elem *netlink_elem_push(struct netlink_elems *els, const void *key,
                                              size_t klen)
{
	struct netlink_elem *e = VEC_PUSH(*els);

	memcpy(e->key, key, klen);
	e->klen = (uint8_t)klen;
	e->verdict = NL_NO_VERDICT;
	return e;
}

/* key + 1 over len bytes (big endian); false if it wrapped past the end */
static bool netlink_key_next(uint8_t *key, size_t len)
{
	for (size_t i = len; i-- > 0;)
		if (++key[i] != 0)
			return true;
	return false;
}

/*
 * Intervals the way nft sends them: an end marker at 0 unless the first
 * range starts there, each range's start, and an end marker after it (or,
 * for a range that reaches the last value, the start flagged open).
 */
static void netlink_interval(struct netlink_elems *els, const uint8_t *lo, const uint8_t *hi,
                             size_t len, bool first)
{
	uint8_t zero[16] = {0}, next[16];
	struct netlink_elem *e;

	if (first && memcmp(lo, zero, len) != 0)
		netlink_elem_push(els, zero, len)->end = true;
	e = netlink_elem_push(els, lo, len);
	memcpy(next, hi, len);
	if (netlink_key_next(next, len))
		netlink_elem_push(els, next, len)->end = true;
	else
		e->open = true;
}

static int netlink_verdict_code(enum nftgen_verdict_code c)
{
	switch (c) {
	case NFTGEN_V_ACCEPT:
		return NF_ACCEPT;
	case NFTGEN_V_DROP:
		return NF_DROP;
	case NFTGEN_V_RETURN:
		return NFT_RETURN;
	case NFTGEN_V_JUMP:
		return NFT_JUMP;
	case NFTGEN_V_GOTO:
		return NFT_GOTO;
	case NFTGEN_V_NONE:
		break;
	}
	return NFT_CONTINUE;
}

static void netlink_named_set(struct netlink_batch *b, const struct nftgen_set *s, uint32_t *id_r)
{
	struct netlink_setdesc d = {0};
	struct netlink_elems els = {0};

	d.key_byteorder = NL_BYTEORDER_BIG;
	d.size = s->size;
	switch (s->type) {
	case NFTGEN_SET_NET4:
	case NFTGEN_SET_NET6: {
		size_t len = s->type == NFTGEN_SET_NET4 ? 4 : 16;
		d.flags = NFT_SET_INTERVAL;
		d.key_type = len == 4 ? NL_TYPE_IPADDR : NL_TYPE_IP6ADDR;
		d.key_len = (uint32_t)len;
		for (size_t i = 0; i < s->elems.n; i++)
			netlink_interval(&els, s->elems.v[i].lo, s->elems.v[i].hi, len, i == 0);
		break;
	}
	case NFTGEN_SET_ADDR4:
	case NFTGEN_SET_ADDR6: {
		size_t len = s->type == NFTGEN_SET_ADDR4 ? 4 : 16;
		d.key_type = len == 4 ? NL_TYPE_IPADDR : NL_TYPE_IP6ADDR;
		d.key_len = (uint32_t)len;
		for (size_t i = 0; i < s->elems.n; i++)
			netlink_elem_push(&els, s->elems.v[i].lo, len);
		break;
	}
	case NFTGEN_SET_ADDR4_MAC:
	case NFTGEN_SET_ADDR6_MAC: {
		size_t len = s->type == NFTGEN_SET_ADDR4_MAC ? 4 : 16;
		d.key_type = ((len == 4 ? NL_TYPE_IPADDR : NL_TYPE_IP6ADDR) << NL_TYPE_BITS) |
		             NL_TYPE_ETHERADDR;
		d.key_len = (uint32_t)len + 8; /* each part padded to 4 bytes */
		d.key_byteorder = NL_BYTEORDER_INVALID;
		d.key_typeof = NL_EXPR_CONCAT;
		for (size_t i = 0; i < s->elems.n; i++) {
			uint8_t key[32] = {0};
			memcpy(key, s->elems.v[i].lo, len);
			memcpy(key + len, s->elems.v[i].mac, 6);
			netlink_elem_push(&els, key, d.key_len);
		}
		break;
	}
	case NFTGEN_SET_IFPAIR_VMAP:
		d.flags = NFT_SET_MAP;
		d.key_type = (NL_TYPE_IFNAME << NL_TYPE_BITS) | NL_TYPE_IFNAME;
		d.key_len = 2 * NFTGEN_IFNAME_LEN;
		d.map = true;
		d.key_byteorder = NL_BYTEORDER_INVALID;
		d.key_typeof = NL_EXPR_CONCAT;
		for (size_t i = 0; i < s->elems.n; i++) {
			uint8_t key[32];
			struct netlink_elem *e;
			memcpy(key, s->elems.v[i].ifname[0], NFTGEN_IFNAME_LEN);
			memcpy(key + NFTGEN_IFNAME_LEN, s->elems.v[i].ifname[1], NFTGEN_IFNAME_LEN);
			e = netlink_elem_push(&els, key, sizeof(key));
			e->verdict = netlink_verdict_code(s->elems.v[i].verdict.code);
			e->chain = s->elems.v[i].verdict.chain;
		}
		break;
	}
	*id_r = netlink_set_msgs(b, s->name, &d, &els, false, NULL, NULL);
	free(els.v);
}

/* --- expressions ------------------------------------------------------- */

static struct nftnl_expr *netlink_expr(struct nftnl_rule *r, const char *name)
{
	struct nftnl_expr *e = nftnl_expr_alloc(name);

	if (!e)
		log_fatal("out of memory");
	nftnl_rule_add_expr(r, e);
	return e;
}

static void netlink_meta(struct nftnl_rule *r, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = netlink_expr(r, "meta");

	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
}

static void netlink_cmp(struct nftnl_rule *r, uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = netlink_expr(r, "cmp");

	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
}

static void netlink_payload(struct nftnl_rule *r, uint32_t base, uint32_t off, uint32_t len,
                            uint32_t dreg)
{
	struct nftnl_expr *e = netlink_expr(r, "payload");

	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
}

static void netlink_lookup(struct nftnl_rule *r, const char *set, uint32_t id, bool verdict_map,
                           bool invert)
{
	struct nftnl_expr *e = netlink_expr(r, "lookup");

	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
	if (verdict_map)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, id);
	if (invert)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
}

static void netlink_ct_bits(struct nftnl_rule *r, uint32_t key, uint32_t bits)
{
	struct nftnl_expr *e = netlink_expr(r, "ct");
	uint32_t zero = 0;

	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
	e = netlink_expr(r, "bitwise");
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, sizeof(bits));
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, &bits, sizeof(bits));
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, &zero, sizeof(zero));
	netlink_cmp(r, NFT_CMP_NEQ, &zero, sizeof(zero));
}

static void netlink_verdict(struct nftnl_rule *r, const struct nftgen_verdict *v)
{
	struct nftnl_expr *e = netlink_expr(r, "immediate");

	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)netlink_verdict_code(v->code));
	if (v->chain)
		nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, v->chain);
}

/* meta nfproto ipv4|ipv6, once per rule (nft's implicit dependency) */
static void netlink_nfproto(struct nftnl_rule *r, int family, int *ctx)
{
	uint8_t p = family == AF_INET6 ? NFPROTO_IPV6 : NFPROTO_IPV4;

	if (*ctx == family)
		return;
	netlink_meta(r, NFT_META_NFPROTO, NFT_REG_1);
	netlink_cmp(r, NFT_CMP_EQ, &p, 1);
	*ctx = family;
}

static void netlink_l4proto(struct nftnl_rule *r, uint8_t proto)
{
	netlink_meta(r, NFT_META_L4PROTO, NFT_REG_1);
	netlink_cmp(r, NFT_CMP_EQ, &proto, 1);
}

/* An inline set (anonymous, constant) for a rule; returns its id. */
static uint32_t netlink_inline_set(struct netlink_batch *b, const struct nftgen_rule *rule,
                                   const char *chain, struct netlink_setdesc *d,
                                   const struct netlink_elems *els, const char *name)
{
	d->flags |= NFT_SET_ANONYMOUS | NFT_SET_CONSTANT;
	return netlink_set_msgs(b, name, d, els, true, rule->comment, chain);
}

struct netlink_rulectx {
	struct netlink_batch *b;
	const struct nftgen_table *t;
	const uint32_t *set_ids; /* parallel to t->sets */
	const struct nftgen_rule *rule;
	const char *chain;
	struct nftnl_rule *r;
	int family; /* nfproto already matched */
};

static uint32_t netlink_named_id(const struct netlink_rulectx *c, const char *name)
{
	for (size_t i = 0; i < c->t->sets.n; i++)
		if (strcmp(c->t->sets.v[i].name, name) == 0)
			return c->set_ids[i];
	return 0;
}

static void netlink_match_addr(struct netlink_rulectx *c, const struct nftgen_match *m)
{
	size_t len = nftgen_addr_len(m->family);
	uint32_t off = m->family == AF_INET ? (m->daddr ? 16 : 12) : (m->daddr ? 24 : 8);

	netlink_nfproto(c->r, m->family, &c->family);
	netlink_payload(c->r, NFT_PAYLOAD_NETWORK_HEADER, off, (uint32_t)len, NFT_REG_1);
	if (m->set) {
		netlink_lookup(c->r, m->set, netlink_named_id(c, m->set), false, m->negate);
	} else if (m->addrs.n == 1) {
		netlink_cmp(c->r, NFT_CMP_EQ, m->addrs.v[0], (uint32_t)len);
	} else {
		struct netlink_setdesc d = {0};
		struct netlink_elems els = {0};
		uint32_t id;

		d.key_type = m->family == AF_INET ? NL_TYPE_IPADDR : NL_TYPE_IP6ADDR;
		d.key_len = (uint32_t)len;
		d.key_byteorder = NL_BYTEORDER_BIG;
		d.key_typeof = NL_EXPR_PAYLOAD;
		d.typeof_a = m->family == AF_INET ? NL_DESC_IP : NL_DESC_IP6;
		if (m->family == AF_INET)
			d.typeof_b = m->daddr ? NL_FIELD_IP_DADDR : NL_FIELD_IP_SADDR;
		else
			d.typeof_b = m->daddr ? NL_FIELD_IP6_DADDR : NL_FIELD_IP6_SADDR;
		for (size_t i = 0; i < m->addrs.n; i++)
			netlink_elem_push(&els, m->addrs.v[i], len);
		id = netlink_inline_set(c->b, c->rule, c->chain, &d, &els, "__set%d");
		free(els.v);
		netlink_lookup(c->r, "__set%d", id, false, false);
	}
}

static void netlink_match_ports(struct netlink_rulectx *c, const struct nftgen_match *m)
{
	netlink_l4proto(c->r, m->proto);
	netlink_payload(c->r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG_1);
	if (m->ports.n == 1) {
		uint16_t lo = htons(m->ports.v[0].lo), hi = htons(m->ports.v[0].hi);
		if (m->ports.v[0].lo == m->ports.v[0].hi) {
			netlink_cmp(c->r, NFT_CMP_EQ, &lo, 2);
		} else {
			netlink_cmp(c->r, NFT_CMP_GTE, &lo, 2);
			netlink_cmp(c->r, NFT_CMP_LTE, &hi, 2);
		}
	} else {
		struct netlink_setdesc d = {0};
		struct netlink_elems els = {0};
		bool interval = false;
		uint32_t id;

		for (size_t i = 0; i < m->ports.n; i++)
			if (m->ports.v[i].lo != m->ports.v[i].hi)
				interval = true;
		d.flags = interval ? NFT_SET_INTERVAL : 0;
		d.merge = interval;
		d.key_type = NL_TYPE_INET_SERVICE;
		d.key_len = 2;
		d.key_byteorder = NL_BYTEORDER_BIG;
		d.key_typeof = NL_EXPR_PAYLOAD;
		d.typeof_a = m->proto == IPPROTO_UDP ? NL_DESC_UDP : NL_DESC_TCP;
		d.typeof_b = NL_FIELD_L4_DPORT;
		for (size_t i = 0; i < m->ports.n; i++) {
			uint16_t lo = htons(m->ports.v[i].lo), hi = htons(m->ports.v[i].hi);
			if (interval)
				netlink_interval(&els, (uint8_t *)&lo, (uint8_t *)&hi, 2, i == 0);
			else
				netlink_elem_push(&els, &lo, 2);
		}
		id = netlink_inline_set(c->b, c->rule, c->chain, &d, &els, "__set%d");
		free(els.v);
		netlink_lookup(c->r, "__set%d", id, false, false);
	}
}

static void netlink_match_icmp(struct netlink_rulectx *c, const struct nftgen_match *m)
{
	netlink_nfproto(c->r, m->family, &c->family);
	netlink_l4proto(c->r, m->family == AF_INET6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP);
	netlink_payload(c->r, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1, NFT_REG_1);
	if (m->types.n == 1) {
		netlink_cmp(c->r, NFT_CMP_EQ, &m->types.v[0], 1);
	} else {
		struct netlink_setdesc d = {0};
		struct netlink_elems els = {0};
		uint32_t id;

		d.key_type = m->family == AF_INET6 ? NL_TYPE_ICMP6_TYPE : NL_TYPE_ICMP_TYPE;
		d.key_len = 1;
		d.key_byteorder = NL_BYTEORDER_BIG;
		d.key_typeof = NL_EXPR_PAYLOAD;
		d.typeof_a = m->family == AF_INET6 ? NL_DESC_ICMP6 : NL_DESC_ICMP;
		d.typeof_b = NL_FIELD_ICMP_TYPE;
		for (size_t i = 0; i < m->types.n; i++)
			netlink_elem_push(&els, &m->types.v[i], 1);
		id = netlink_inline_set(c->b, c->rule, c->chain, &d, &els, "__set%d");
		free(els.v);
		netlink_lookup(c->r, "__set%d", id, false, false);
	}
}

static void netlink_match(struct netlink_rulectx *c, const struct nftgen_match *m)
{
	switch (m->type) {
	case NFTGEN_M_IIF_LO: {
		uint32_t lo = if_nametoindex("lo");
		netlink_meta(c->r, NFT_META_IIF, NFT_REG_1);
		netlink_cmp(c->r, NFT_CMP_EQ, &lo, sizeof(lo));
		break;
	}
	case NFTGEN_M_IIFNAME:
		netlink_meta(c->r, NFT_META_IIFNAME, NFT_REG_1);
		if (m->ifnames.n == 1) {
			netlink_cmp(c->r, NFT_CMP_EQ, m->ifnames.v[0], NFTGEN_IFNAME_LEN);
		} else {
			struct netlink_setdesc d = {0};
			struct netlink_elems els = {0};
			uint32_t id;

			d.key_type = NL_TYPE_IFNAME;
			d.key_len = NFTGEN_IFNAME_LEN;
			d.key_byteorder = NL_BYTEORDER_HOST;
			d.key_typeof = NL_EXPR_META;
			d.typeof_a = NFT_META_IIFNAME;
			for (size_t i = 0; i < m->ifnames.n; i++)
				netlink_elem_push(&els, m->ifnames.v[i], NFTGEN_IFNAME_LEN);
			id = netlink_inline_set(c->b, c->rule, c->chain, &d, &els, "__set%d");
			free(els.v);
			netlink_lookup(c->r, "__set%d", id, false, false);
		}
		break;
	case NFTGEN_M_CT_STATE:
		netlink_ct_bits(c->r, NFT_CT_STATE, m->ct_bits);
		break;
	case NFTGEN_M_CT_STATUS_DNAT:
		netlink_ct_bits(c->r, NFT_CT_STATUS, 0x20 /* IPS_DST_NAT */);
		break;
	case NFTGEN_M_ADDR:
		netlink_match_addr(c, m);
		break;
	case NFTGEN_M_ADDR_MAC: {
		size_t len = nftgen_addr_len(m->family);
		uint16_t ether = NL_ARPHRD_ETHER;
		/* nft packs registers 4 bytes at a time: the MAC follows the address */
		uint32_t mreg = len == 4 ? NFT_REG32_00 + 1 : NFT_REG_2;

		netlink_nfproto(c->r, m->family, &c->family);
		netlink_meta(c->r, NFT_META_IIFTYPE, NFT_REG_1);
		netlink_cmp(c->r, NFT_CMP_EQ, &ether, sizeof(ether));
		netlink_payload(c->r, NFT_PAYLOAD_NETWORK_HEADER, len == 4 ? 12 : 8, (uint32_t)len,
		                NFT_REG_1);
		netlink_payload(c->r, NFT_PAYLOAD_LL_HEADER, 6, 6, mreg);
		netlink_lookup(c->r, m->set, netlink_named_id(c, m->set), false, false);
		break;
	}
	case NFTGEN_M_PORTS:
		netlink_match_ports(c, m);
		break;
	case NFTGEN_M_ICMP_TYPES:
		netlink_match_icmp(c, m);
		break;
	}
}

static void netlink_rule_msg(struct netlink_batch *b, const struct nftgen_table *t,
                             const uint32_t *set_ids, const struct nftgen_chain *ch,
                             const struct nftgen_rule *rule)
{
	struct netlink_rulectx c = {b, t, set_ids, rule, ch->name, nftnl_rule_alloc(), 0};
	struct nlmsghdr *nlh;
	struct nftnl_expr *e;

	if (!c.r)
		log_fatal("out of memory");
	nftnl_rule_set_str(c.r, NFTNL_RULE_TABLE, NFTGEN_TABLE);
	nftnl_rule_set_str(c.r, NFTNL_RULE_CHAIN, ch->name);
	if (b->fail_rule && rule->comment && strcmp(b->fail_rule, rule->comment) == 0)
		netlink_meta(c.r, 0xffff, NFT_REG_1); /* the test hook: no such meta key */
	for (size_t i = 0; i < rule->matches.n; i++)
		netlink_match(&c, &rule->matches.v[i]);
	if (rule->log_prefix) {
		e = netlink_expr(c.r, "log");
		nftnl_expr_set_str(e, NFTNL_EXPR_LOG_PREFIX, rule->log_prefix);
		nftnl_expr_set_u16(e, NFTNL_EXPR_LOG_GROUP, t->log_group);
		nftnl_expr_set_u16(e, NFTNL_EXPR_LOG_QTHRESHOLD, NFTGEN_LOG_QTHRESHOLD);
	}
	if (rule->counter)
		netlink_expr(c.r, "counter");
	switch (rule->action) {
	case NFTGEN_A_VERDICT:
		netlink_verdict(c.r, &rule->verdict);
		break;
	case NFTGEN_A_VMAP_IIFNAME: {
		struct netlink_setdesc d = {0};
		struct netlink_elems els = {0};
		uint32_t id;

		d.flags = NFT_SET_MAP;
		d.key_type = NL_TYPE_IFNAME;
		d.key_len = NFTGEN_IFNAME_LEN;
		d.map = true;
		d.key_byteorder = NL_BYTEORDER_HOST;
		d.data_verdict_typeof = true;
		for (size_t i = 0; i < rule->vmap.n; i++) {
			struct netlink_elem *el =
			    netlink_elem_push(&els, rule->vmap.v[i].ifname[0], NFTGEN_IFNAME_LEN);
			el->verdict = netlink_verdict_code(rule->vmap.v[i].verdict.code);
			el->chain = rule->vmap.v[i].verdict.chain;
		}
		id = netlink_inline_set(b, rule, ch->name, &d, &els, "__map%d");
		free(els.v);
		netlink_meta(c.r, NFT_META_IIFNAME, NFT_REG_1);
		netlink_lookup(c.r, "__map%d", id, true, false);
		break;
	}
	case NFTGEN_A_VMAP_PAIRS:
		netlink_meta(c.r, NFT_META_IIFNAME, NFT_REG_1);
		netlink_meta(c.r, NFT_META_OIFNAME, NFT_REG_2);
		netlink_lookup(c.r, NFTGEN_PAIRS_MAP, netlink_named_id(&c, NFTGEN_PAIRS_MAP), true,
		               false);
		break;
	case NFTGEN_A_REDIRECT: {
		uint16_t port = htons(rule->redirect_port);
		e = netlink_expr(c.r, "immediate");
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_1);
		nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, &port, sizeof(port));
		e = netlink_expr(c.r, "redir");
		nftnl_expr_set_u32(e, NFTNL_EXPR_REDIR_REG_PROTO_MIN, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_REDIR_FLAGS, NF_NAT_RANGE_PROTO_SPECIFIED);
		break;
	}
	}
	if (rule->comment) {
		struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(NETLINK_UDATA_MAX);
		if (!ud)
			log_fatal("out of memory");
		nftnl_udata_put_strz(ud, NFTNL_UDATA_RULE_COMMENT, rule->comment);
		nftnl_rule_set_data(c.r, NFTNL_RULE_USERDATA, nftnl_udata_buf_data(ud),
		                    nftnl_udata_buf_len(ud));
		nftnl_udata_buf_free(ud);
	}
	nlh = netlink_msg(b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, "rule", rule->comment,
	                  ch->name);
	nftnl_rule_nlmsg_build_payload(nlh, c.r);
	netlink_msg_end(b, nlh);
	nftnl_rule_free(c.r);
}

static void netlink_build(struct netlink_batch *b, const struct nftgen_table *t, uint32_t genid,
                          bool exists)
{
	uint32_t *set_ids = xcalloc(t->sets.n ? t->sets.n : 1, sizeof(*set_ids));
	char comment[64];

	b->seq0 = b->seq = (uint32_t)time(NULL);
	b->fail_rule = getenv(NETLINK_FAIL_RULE_ENV);
	netlink_batch_begin(b, genid);
	/* The table's existence was read at this generation; were it created or
	 * deleted meanwhile, the generation check fails the batch.  Adding and
	 * deleting a table that does not exist would leave the kernel cleanup
	 * work every later netfilter socket close waits for. */
	if (exists)
		netlink_table_msg(b, NFT_MSG_DELTABLE, NULL);
	nftprint_table_comment(t, comment, sizeof(comment));
	netlink_table_msg(b, NFT_MSG_NEWTABLE, comment);
	for (size_t i = 0; i < t->chains.n; i++)
		netlink_chain_msg(b, &t->chains.v[i]);
	for (size_t i = 0; i < t->sets.n; i++)
		netlink_named_set(b, &t->sets.v[i], &set_ids[i]);
	for (size_t i = 0; i < t->chains.n; i++)
		for (size_t j = 0; j < t->chains.v[i].rules.n; j++)
			netlink_rule_msg(b, t, set_ids, &t->chains.v[i],
			                 &t->chains.v[i].rules.v[j]);
	netlink_batch_end(b);
	free(set_ids);
}

/* --- talking to the kernel ---------------------------------------------- */

static struct mnl_socket *netlink_open(struct strbuf *err_r)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	int one = 1;

	if (!nl) {
		strbuf_printf(err_r, "netlink socket: %s", strerror(errno));
		return NULL;
	}
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		strbuf_printf(err_r, "netlink bind: %s", strerror(errno));
		mnl_socket_close(nl);
		return NULL;
	}
	/* errors without the original message, with the kernel's own text */
	mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof(one));
	return nl;
}

static int netlink_gen_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_gen *gen = nftnl_gen_alloc();
	uint32_t *genid = data;

	if (!gen)
		log_fatal("out of memory");
	if (nftnl_gen_nlmsg_parse(nlh, gen) == 0)
		*genid = nftnl_gen_get_u32(gen, NFTNL_GEN_ID);
	nftnl_gen_free(gen);
	return MNL_CB_OK;
}

/* One request, its replies through cb until the ack or the end of a dump. */
static int netlink_talk(struct mnl_socket *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	char buf[NETLINK_RECV_BYTES];
	uint32_t portid = mnl_socket_get_portid(nl), seq = nlh->nlmsg_seq;
	int ret;

	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -1;
	for (;;) {
		ret = (int)mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (ret < 0)
			return -1;
		ret = mnl_cb_run(buf, (size_t)ret, seq, portid, cb, data);
		if (ret <= MNL_CB_STOP)
			return ret < 0 ? -1 : 0;
	}
}

static int netlink_table_exists_cb(const struct nlmsghdr *nlh, void *data)
{
	*(bool *)data = true;
	return MNL_CB_OK;
}

/* Does table inet sekisho exist?  1 yes, 0 no, -1 error. */
static int netlink_table_exists(struct mnl_socket *nl, struct strbuf *err_r)
{
	char buf[256];
	struct nlmsghdr *nlh;
	bool found = false;

	memset(buf, 0, sizeof(buf));
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, NFPROTO_INET, NLM_F_ACK,
	                            (uint32_t)time(NULL));
	mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, NFTGEN_TABLE);
	if (netlink_talk(nl, nlh, netlink_table_exists_cb, &found) < 0) {
		if (errno == ENOENT)
			return 0;
		strbuf_printf(err_r, "reading table inet %s: %s", NFTGEN_TABLE, strerror(errno));
		return -1;
	}
	return found ? 1 : 0;
}

static int netlink_getgen(struct mnl_socket *nl, uint32_t *genid, struct strbuf *err_r)
{
	char buf[256];
	struct nlmsghdr *nlh;

	memset(buf, 0, sizeof(buf));
	nlh =
	    nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETGEN, AF_UNSPEC, NLM_F_ACK, (uint32_t)time(NULL));
	if (netlink_talk(nl, nlh, netlink_gen_cb, genid) < 0) {
		strbuf_printf(err_r, "reading the nftables generation: %s", strerror(errno));
		return -1;
	}
	return 0;
}

struct netlink_ackstate {
	const struct netlink_batch *b;
	struct strbuf *err;
	int nerrors;
	bool restart;
	size_t nacks;
	bool acks_lost; /* the outcome is unknown: acks missing or unreadable */
};

static void netlink_describe(struct strbuf *err, const struct netlink_obj *o, int code,
                             const char *ext)
{
	if (err->len)
		strbuf_putc(err, '\n');
	if (strcmp(o->kind, "rule") == 0 || strcmp(o->kind, "inline set of rule") == 0)
		strbuf_printf(err, "%s: kernel rejected the %s (chain %s): %s",
		              o->name ? o->name : "?", o->kind, o->chain ? o->chain : "?",
		              strerror(code));
	else
		strbuf_printf(err, "kernel rejected the %s %s: %s", o->kind, o->name ? o->name : "",
		              strerror(code));
	if (ext && *ext)
		strbuf_printf(err, " (%s)", ext);
}

static int netlink_ext_msg_cb(const struct nlattr *attr, void *data)
{
	const char **msg = data;

	if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
	    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
		*msg = mnl_attr_get_str(attr);
	return MNL_CB_OK;
}

static int netlink_ack_cb(const struct nlmsghdr *nlh, void *data)
{
	struct netlink_ackstate *st = data;
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	const char *ext = NULL;
	uint32_t idx;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
		return MNL_CB_OK;
	st->nacks++;
	if (e->error == 0)
		return MNL_CB_OK;
	if (nlh->nlmsg_flags & NLM_F_ACK_TLVS) {
		size_t off = sizeof(*e); /* NETLINK_CAP_ACK: no copy of the request */
		if (mnl_nlmsg_size(off) <= nlh->nlmsg_len)
			mnl_attr_parse(nlh, (unsigned int)off, netlink_ext_msg_cb, &ext);
	}
	idx = e->msg.nlmsg_seq - st->b->seq0;
	if (-e->error == ERESTART && idx == 0) {
		st->restart = true;
		return MNL_CB_OK;
	}
	st->nerrors++;
	if (idx < st->b->objs.n)
		netlink_describe(st->err, &st->b->objs.v[idx], -e->error, ext);
	else
		strbuf_printf(st->err, "%skernel error: %s", st->err->len ? "\n" : "",
		              strerror(-e->error));
	return MNL_CB_OK;
}

/* Send the whole batch in one sendmsg; collect every ack it produced. */
static int netlink_send_batch(struct mnl_socket *nl, const struct netlink_batch *b,
                              struct netlink_ackstate *st)
{
	static mnl_cb_t ctl[NLMSG_MIN_TYPE] = {[NLMSG_ERROR] = netlink_ack_cb};
	int fd = mnl_socket_get_fd(nl);
	int sndbuf = (int)(b->len + 65536), rcvbuf;
	size_t want = b->nacks * NETLINK_ACK_TRUESIZE + NETLINK_RCVBUF_MIN;
	char *buf = xmalloc(NETLINK_RECV_BYTES);
	ssize_t n;

	rcvbuf = want > (size_t)(1 << 30) ? 1 << 30 : (int)want;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (mnl_socket_sendto(nl, b->buf, b->len) < 0) {
		strbuf_printf(st->err, "sending the batch (%zu bytes): %s", b->len,
		              strerror(errno));
		free(buf);
		return -1;
	}
	/* the kernel handled the batch inside sendmsg: every ack is queued now */
	for (;;) {
		n = recv(fd, buf, NETLINK_RECV_BYTES, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			strbuf_printf(st->err, "%sreading the acks: %s", st->err->len ? "\n" : "",
			              strerror(errno));
			st->acks_lost = true;
			free(buf);
			return -1;
		}
		mnl_cb_run2(buf, (size_t)n, 0, mnl_socket_get_portid(nl), NULL, st, ctl,
		            NLMSG_MIN_TYPE);
		if (st->nacks >= b->nacks && !st->nerrors && !st->restart)
			break;
	}
	free(buf);
	if (st->restart || st->nerrors)
		return -1;
	if (st->nacks < b->nacks) {
		strbuf_printf(st->err, "only %zu of %zu messages were acknowledged", st->nacks,
		              b->nacks);
		st->acks_lost = true;
		return -1;
	}
	return 0;
}

/* Does the running table carry t's digest?  (When acks went missing.) */
static bool netlink_runs(const struct nftgen_table *t)
{
	struct netlink_running r;
	struct strbuf err = STRBUF_INIT;
	char comment[64];
	bool same;

	nftprint_table_comment(t, comment, sizeof(comment));
	same = netlink_read(&r, &err) == 0 && r.exists && r.comment &&
	       strcmp(r.comment, comment) == 0 && r.nrules == t->nrules;
	netlink_running_free(&r);
	strbuf_free(&err);
	return same;
}

int netlink_apply(const struct nftgen_table *t, struct strbuf *err_r)
{
	struct mnl_socket *nl = netlink_open(err_r);
	int ret = -1;

	if (!nl)
		return -1;
	for (int attempt = 0; attempt < 2; attempt++) {
		struct netlink_batch b = {0};
		struct netlink_ackstate st = {&b, err_r, 0, false, 0, false};
		uint32_t genid = 0;
		int exists;

		/* the generation first: a change after it fails the batch */
		if (netlink_getgen(nl, &genid, err_r) < 0 ||
		    (exists = netlink_table_exists(nl, err_r)) < 0)
			break;
		if (attempt == 0 && getenv(NETLINK_STALE_GENID_ENV))
			genid--; /* the test hook: as if the ruleset changed meanwhile */
		netlink_build(&b, t, genid, exists == 1);
		ret = netlink_send_batch(nl, &b, &st);
		netlink_batch_free(&b);
		if (ret < 0 && st.acks_lost && st.nerrors == 0 && !st.restart && netlink_runs(t)) {
			/* no error came back and the table carries our digest: committed */
			strbuf_reset(err_r);
			ret = 0;
		}
		if (ret == 0 || !st.restart)
			break;
		if (attempt == 1)
			strbuf_printf(err_r, "the ruleset changed twice while applying; try again");
	}
	mnl_socket_close(nl);
	return ret;
}

int netlink_delete(struct strbuf *err_r)
{
	struct mnl_socket *nl = netlink_open(err_r);
	struct netlink_batch b = {0};
	struct netlink_ackstate st = {&b, err_r, 0, false, 0, false};
	uint32_t genid = 0;
	int ret = -1;

	if (!nl)
		return -1;
	if (netlink_getgen(nl, &genid, err_r) == 0) {
		int exists = netlink_table_exists(nl, err_r);

		if (exists == 0) {
			ret = 0; /* nothing to delete */
		} else if (exists == 1) {
			b.seq0 = b.seq = (uint32_t)time(NULL);
			netlink_batch_begin(&b, genid);
			netlink_table_msg(&b, NFT_MSG_DELTABLE, NULL);
			netlink_batch_end(&b);
			ret = netlink_send_batch(nl, &b, &st);
			if (st.restart)
				strbuf_printf(err_r,
				              "the ruleset changed while deleting; try again");
		}
	}
	netlink_batch_free(&b);
	mnl_socket_close(nl);
	return ret;
}

/* --- reading back ------------------------------------------------------ */

static int netlink_comment_cb(const struct nftnl_udata *attr, void *data)
{
	const char **c = data;

	if (nftnl_udata_type(attr) == NFTNL_UDATA_TABLE_COMMENT) {
		const char *v = nftnl_udata_get(attr);
		uint8_t len = nftnl_udata_len(attr);
		if (len > 0 && v[len - 1] == '\0')
			*c = v;
	}
	return 0;
}

static int netlink_table_cb(const struct nlmsghdr *nlh, void *data)
{
	struct netlink_running *r = data;
	struct nftnl_table *t = nftnl_table_alloc();

	if (!t)
		log_fatal("out of memory");
	if (nftnl_table_nlmsg_parse(nlh, t) == 0) {
		uint32_t len = 0;
		const void *ud;
		const char *c = NULL;

		r->exists = true;
		if (nftnl_table_is_set(t, NFTNL_TABLE_USERDATA)) {
			ud = nftnl_table_get_data(t, NFTNL_TABLE_USERDATA, &len);
			nftnl_udata_parse(ud, len, netlink_comment_cb, &c);
			if (c)
				r->comment = xstrdup(c);
		}
	}
	nftnl_table_free(t);
	return MNL_CB_OK;
}

static int netlink_set_cb(const struct nlmsghdr *nlh, void *data)
{
	struct netlink_running *r = data;
	struct nftnl_set *s = nftnl_set_alloc();

	if (!s)
		log_fatal("out of memory");
	if (nftnl_set_nlmsg_parse(nlh, s) == 0 &&
	    strcmp(nftnl_set_get_str(s, NFTNL_SET_TABLE), NFTGEN_TABLE) == 0 &&
	    !(nftnl_set_get_u32(s, NFTNL_SET_FLAGS) & NFT_SET_ANONYMOUS))
		r->nsets++;
	nftnl_set_free(s);
	return MNL_CB_OK;
}

static struct netlink_chain_stat *netlink_stat(struct netlink_running *r, const char *name)
{
	struct netlink_chain_stat *c;

	for (size_t i = 0; i < r->chains.n; i++)
		if (strcmp(r->chains.v[i].name, name) == 0)
			return &r->chains.v[i];
	c = VEC_PUSH(r->chains);
	c->name = xstrdup(name);
	return c;
}

static int netlink_chain_cb(const struct nlmsghdr *nlh, void *data)
{
	struct netlink_running *r = data;
	struct nftnl_chain *c = nftnl_chain_alloc();

	if (!c)
		log_fatal("out of memory");
	if (nftnl_chain_nlmsg_parse(nlh, c) == 0 &&
	    strcmp(nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE), NFTGEN_TABLE) == 0) {
		r->nchains++;
		netlink_stat(r, nftnl_chain_get_str(c, NFTNL_CHAIN_NAME));
	}
	nftnl_chain_free(c);
	return MNL_CB_OK;
}

static int netlink_rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct netlink_running *r = data;
	struct nftnl_rule *rule = nftnl_rule_alloc();
	struct nftnl_expr_iter *it;
	struct nftnl_expr *e;
	struct netlink_chain_stat *st;
	uint64_t pkts = 0, bytes = 0;
	int verdict = NFT_CONTINUE;
	bool counted = false, redirect = false;

	if (!rule)
		log_fatal("out of memory");
	if (nftnl_rule_nlmsg_parse(nlh, rule) < 0 ||
	    strcmp(nftnl_rule_get_str(rule, NFTNL_RULE_TABLE), NFTGEN_TABLE) != 0) {
		nftnl_rule_free(rule);
		return MNL_CB_OK;
	}
	r->nrules++;
	st = netlink_stat(r, nftnl_rule_get_str(rule, NFTNL_RULE_CHAIN));
	st->nrules++;
	it = nftnl_expr_iter_create(rule);
	if (!it)
		log_fatal("out of memory");
	while ((e = nftnl_expr_iter_next(it))) {
		const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
		if (strcmp(name, "counter") == 0) {
			pkts = nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_PACKETS);
			bytes = nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_BYTES);
			counted = true;
		} else if (strcmp(name, "immediate") == 0 &&
		           nftnl_expr_is_set(e, NFTNL_EXPR_IMM_VERDICT)) {
			verdict = (int)nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_VERDICT);
		} else if (strcmp(name, "redir") == 0) {
			redirect = true;
		}
	}
	nftnl_expr_iter_destroy(it);
	if (counted) {
		if (!redirect && verdict == NF_ACCEPT) {
			st->accept_packets += pkts;
			st->accept_bytes += bytes;
		} else if (!redirect && verdict == NF_DROP) {
			st->drop_packets += pkts;
			st->drop_bytes += bytes;
		} else {
			st->other_packets += pkts;
			st->other_bytes += bytes;
		}
	}
	nftnl_rule_free(rule);
	return MNL_CB_OK;
}

/* A dump of one object type of the table (errno EINTR: interrupted by a
 * concurrent change; the caller starts the whole read again). */
static int netlink_dump(struct mnl_socket *nl, uint16_t type, mnl_cb_t cb,
                        struct netlink_running *r)
{
	char buf[512];
	struct nlmsghdr *nlh;

	memset(buf, 0, sizeof(buf));
	nlh = nftnl_nlmsg_build_hdr(buf, type, NFPROTO_INET, NLM_F_DUMP, (uint32_t)time(NULL));
	/* NFTA_{CHAIN,SET,RULE}_TABLE are all attribute 1 */
	mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, NFTGEN_TABLE);
	return netlink_talk(nl, nlh, cb, r);
}

static int netlink_read_once(struct mnl_socket *nl, struct netlink_running *r, struct strbuf *err_r)
{
	struct nlmsghdr *nlh;
	char buf[512];

	memset(buf, 0, sizeof(buf));
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, NFPROTO_INET, NLM_F_ACK,
	                            (uint32_t)time(NULL));
	mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, NFTGEN_TABLE);
	if (netlink_talk(nl, nlh, netlink_table_cb, r) < 0) {
		if (errno == ENOENT) {
			r->exists = false;
			return 0;
		}
		return -1;
	}
	if (netlink_dump(nl, NFT_MSG_GETCHAIN, netlink_chain_cb, r) < 0 ||
	    netlink_dump(nl, NFT_MSG_GETSET, netlink_set_cb, r) < 0 ||
	    netlink_dump(nl, NFT_MSG_GETRULE, netlink_rule_cb, r) < 0)
		return -1;
	return 0;
}

int netlink_read(struct netlink_running *r, struct strbuf *err_r)
{
	struct mnl_socket *nl;
	int ret = -1;

	memset(r, 0, sizeof(*r));
	nl = netlink_open(err_r);
	if (!nl)
		return -1;
	for (int i = 0; i < NETLINK_DUMP_RETRIES; i++) {
		ret = netlink_read_once(nl, r, err_r);
		if (ret == 0 || errno != EINTR)
			break;
		netlink_running_free(r); /* changed meanwhile: read again */
	}
	if (ret < 0)
		strbuf_printf(err_r, "reading table inet %s: %s", NFTGEN_TABLE, strerror(errno));
	mnl_socket_close(nl);
	return ret;
}

void netlink_running_free(struct netlink_running *r)
{
	free(r->comment);
	for (size_t i = 0; i < r->chains.n; i++)
		free(r->chains.v[i].name);
	free(r->chains.v);
	memset(r, 0, sizeof(*r));
}
