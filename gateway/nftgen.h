/*
 * nftgen - compiles a checked struct policy into a small intermediate
 * representation of the one nftables table the gateway owns.
 *
 * The IR is what every later stage reads: nftprint.c prints it as nft syntax
 * (`sekisho show`), netlink.c turns it into libnftnl objects and one batch,
 * ctcut.c evaluates conntrack tuples against it.  It has no knowledge of
 * nft syntax or netlink: a table of named sets and chains, and rules made of
 * a few high-level matches, a log/counter flag and one final action, each
 * rule carrying the "file:line" of the statement it came from.
 *
 * Layout (docs: DESIGN.md "nftables layout"; other tests rely on the names):
 *   sets   <seg>_net4/_net6 (interval), <seg>_reg4/_reg6, <seg>_reg4mac/
 *          _reg6mac (registered-only segments), grp_<name>_4/_6 (groups used
 *          by compiled flows), map `pairs` (iifname . oifname : verdict)
 *   chains forward (hook forward, policy drop), in_<seg> (ingress checks),
 *          <src>_to_<dst> (every ordered pair of segments), input (hook
 *          input, policy drop), mail_redirect (nat prerouting)
 *
 * TRUST: the policy must have passed policy_check(); names and addresses are
 * taken as resolved there.  Nothing here touches the system.
 * FAILURE: allocation failure is fatal (xalloc); otherwise compiling cannot
 * fail.  Flows that can match no address family (from an IPv4-only host to
 * an IPv6-only host) compile to nothing and are reported as a warning.
 */
#ifndef SEKISHO_NFTGEN_H
#define SEKISHO_NFTGEN_H

#include "policy.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NFTGEN_TABLE "sekisho"   /* table inet sekisho */
#define NFTGEN_PAIRS_MAP "pairs" /* the iifname . oifname verdict map */
#define NFTGEN_COMMENT_MAX 127   /* bytes of a comment (kernel/nft limit 128 with NUL) */
#define NFTGEN_IFNAME_LEN 16     /* IFNAMSIZ: interface names as set keys */
#define NFTGEN_LOG_QTHRESHOLD 1  /* nflog queue-threshold of every deny */
#define NFTGEN_DIGEST_PREFIX "sekisho fnv1a64:"
/* Hash sets of at least this many elements carry `size N` (N = their
 * element count): the kernel then sizes the hash table once instead of
 * growing it insert by insert (~20% faster loads at 100k hosts). */
#define NFTGEN_SIZE_HINT_MIN 1024

enum nftgen_set_type {
	NFTGEN_SET_NET4,        /* ipv4_addr, flags interval */
	NFTGEN_SET_NET6,        /* ipv6_addr, flags interval */
	NFTGEN_SET_ADDR4,       /* ipv4_addr */
	NFTGEN_SET_ADDR6,       /* ipv6_addr */
	NFTGEN_SET_ADDR4_MAC,   /* ipv4_addr . ether_addr */
	NFTGEN_SET_ADDR6_MAC,   /* ipv6_addr . ether_addr */
	NFTGEN_SET_IFPAIR_VMAP, /* ifname . ifname : verdict */
};

enum nftgen_verdict_code {
	NFTGEN_V_NONE,
	NFTGEN_V_ACCEPT,
	NFTGEN_V_DROP,
	NFTGEN_V_RETURN,
	NFTGEN_V_JUMP,
	NFTGEN_V_GOTO,
};

struct nftgen_verdict {
	enum nftgen_verdict_code code;
	const char *chain; /* JUMP/GOTO: the target chain's name (owned by the chain) */
};

/* One element of a named set or of an inline (anonymous) list.  Which fields
 * are used depends on the set type. */
struct nftgen_elem {
	uint8_t lo[16], hi[16]; /* address, or inclusive range [lo, hi] (interval sets) */
	uint8_t mac[6];         /* *_MAC sets */
	char ifname[2][NFTGEN_IFNAME_LEN]; /* IFPAIR_VMAP (both), iifname vmaps (first) */
	struct nftgen_verdict verdict;     /* maps */
};

struct nftgen_set {
	char *name;
	enum nftgen_set_type type;
	struct {
		struct nftgen_elem *v;
		size_t n, cap;
	} elems;       /* sorted, no duplicates; interval sets merged into disjoint ranges */
	uint32_t size; /* `size N` hint, 0 = none (see NFTGEN_SIZE_HINT_MIN) */
};

enum nftgen_match_type {
	NFTGEN_M_IIF_LO,         /* iif "lo" */
	NFTGEN_M_IIFNAME,        /* iifname "x" | iifname { "x", "y" } */
	NFTGEN_M_CT_STATE,       /* ct state <ct_bits> (any of) */
	NFTGEN_M_CT_STATUS_DNAT, /* ct status dnat */
	NFTGEN_M_ADDR,           /* ip/ip6 saddr/daddr [!=] @set | addr | { addrs } */
	NFTGEN_M_ADDR_MAC,       /* ip/ip6 saddr . ether saddr @set */
	NFTGEN_M_PORTS,          /* tcp/udp dport port | lo-hi | { ... } */
	NFTGEN_M_ICMP_TYPES,     /* icmp/icmpv6 type t | { ... } */
};

/* ct state bits as the kernel defines them (NF_CT_STATE_BIT) */
#define NFTGEN_CT_INVALID 0x1u
#define NFTGEN_CT_ESTABLISHED 0x2u
#define NFTGEN_CT_RELATED 0x4u

struct nftgen_match {
	enum nftgen_match_type type;
	int family;       /* AF_INET/AF_INET6: ADDR, ADDR_MAC, ICMP_TYPES */
	bool daddr;       /* ADDR: destination address */
	bool negate;      /* ADDR with a named set: "!=" */
	char *set;        /* ADDR/ADDR_MAC: named set, else NULL (literal addresses) */
	uint32_t ct_bits; /* CT_STATE */
	uint8_t proto;    /* PORTS: IPPROTO_TCP / IPPROTO_UDP */
	struct {
		struct portrange *v;
		size_t n, cap;
	} ports; /* PORTS: sorted, merged */
	struct {
		uint8_t (*v)[16];
		size_t n, cap;
	} addrs; /* ADDR literal: sorted, unique */
	struct {
		char (*v)[NFTGEN_IFNAME_LEN];
		size_t n, cap;
	} ifnames; /* IIFNAME */
	struct {
		uint8_t *v;
		size_t n, cap;
	} types; /* ICMP_TYPES, in the order given */
};

enum nftgen_action {
	NFTGEN_A_VERDICT,      /* accept / drop / return */
	NFTGEN_A_VMAP_IIFNAME, /* iifname vmap { "x" : jump in_x, ... } (vmap elems) */
	NFTGEN_A_VMAP_PAIRS,   /* iifname . oifname vmap @pairs */
	NFTGEN_A_REDIRECT,     /* redirect to :port */
};

struct nftgen_rule {
	struct {
		struct nftgen_match *v;
		size_t n, cap;
	} matches;
	char *log_prefix; /* log prefix "..." group <log_group> queue-threshold 1; NULL = none */
	bool counter;
	enum nftgen_action action;
	struct nftgen_verdict verdict; /* VERDICT */
	struct {
		struct nftgen_elem *v;
		size_t n, cap;
	} vmap;                  /* VMAP_IIFNAME: ifname[0] -> verdict */
	uint16_t redirect_port;  /* REDIRECT */
	char *comment;           /* "rules/joho.rules:12" or "sekisho: ..." */
	const struct flow *flow; /* the flow compiled, NULL for built-in rules */
};

enum nftgen_chain_kind {
	NFTGEN_CHAIN_FORWARD,
	NFTGEN_CHAIN_INGRESS, /* in_<seg> */
	NFTGEN_CHAIN_PAIR,    /* <src>_to_<dst> */
	NFTGEN_CHAIN_INPUT,
	NFTGEN_CHAIN_MAIL, /* mail_redirect */
};

struct nftgen_chain {
	char *name;
	enum nftgen_chain_kind kind;
	bool base;        /* base chain: type/hook/prio/policy below apply */
	const char *type; /* "filter" | "nat" */
	int hook;         /* NF_INET_* */
	int prio;         /* NF_IP_PRI_FILTER (0), NF_IP_PRI_NAT_DST (-100) */
	bool policy_drop;
	const struct segment *src, *dst; /* PAIR: the segments; INGRESS: src */
	struct {
		struct nftgen_rule *v;
		size_t n, cap;
	} rules;
};

struct nftgen_table {
	char digest[17]; /* 64-bit FNV-1a of the printed table body, hex */
	uint16_t log_group;
	uint16_t relay_port;
	struct {
		struct nftgen_set *v;
		size_t n, cap;
	} sets;
	struct {
		struct nftgen_chain *v;
		size_t n, cap;
	} chains;      /* in creation (and listing) order */
	size_t nrules; /* over all chains */
	char *body;    /* the printed table without the digest comment (nftprint_table) */
	size_t body_len;
};

/*
 * Where rule comments name their files.  Comments are the srcpos file names
 * as parsed; when a snapshot is recompiled (rollback) from another directory,
 * a file name starting with from_prefix is shown with to_prefix instead, so
 * the comments (and the digest) are those of the original apply.
 */
struct nftgen_opts {
	const char *from_prefix; /* NULL: names kept as they are */
	const char *to_prefix;
};

/*
 * Compile a policy for which policy_check() returned true.  Expired
 * exceptions are skipped (the caller warns about them).  Returns a new
 * table, never NULL; free it with nftgen_free().
 */
struct nftgen_table *nftgen_compile(const struct policy *p, const struct nftgen_opts *o);
void nftgen_free(struct nftgen_table *t);

/* Find a chain or set by name; NULL if absent. */
struct nftgen_chain *nftgen_chain(const struct nftgen_table *t, const char *name);
struct nftgen_set *nftgen_set(const struct nftgen_table *t, const char *name);

/* 64-bit FNV-1a of n bytes (the documented, non-cryptographic digest that
 * detects a changed ruleset; not a security property). */
uint64_t nftgen_fnv1a64(const void *p, size_t n);

/* Address helpers used by the printer, netlink and ctcut. */
size_t nftgen_addr_len(int family); /* 4 or 16 */

#endif
