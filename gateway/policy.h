/*
 * policy - the in-memory model of the segment rule files, and the guideline
 * invariants checked over it.
 *
 * rulefile.c parses files into a struct policy (syntax only, names kept as
 * written with their positions); policy_check() resolves names, computes what
 * is derived (host segments, expired exceptions) and reports every
 * inconsistency and guideline violation as a file:line:col diagnostic.
 * nftgen.c compiles only a policy for which policy_check() returned true.
 *
 * SECURITY: rule files are operator input, but are parsed as untrusted bytes
 * (hard limits, no recursion without a bound, every parser has a fuzz target).
 */
#ifndef SEKISHO_POLICY_H
#define SEKISHO_POLICY_H

#include "diag.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POLICY_MAX_FILE_BYTES (16u * 1024 * 1024)
#define POLICY_MAX_INCLUDE_DEPTH 8
#define POLICY_MAX_LINE_BYTES 4096
#define POLICY_NAME_MAX 32   /* host, group and segment names */
#define POLICY_IFNAME_MAX 15 /* IFNAMSIZ - 1 */
#define POLICY_DEFAULT_RELAY_PORT 10025
#define POLICY_DEFAULT_LOG_GROUP 5
#define POLICY_EXPIRY_WARN_DAYS 30
/* Counts that keep checking and compiling cheap on hostile input. */
#define POLICY_MAX_SEGMENTS 64
#define POLICY_MAX_SEGMENT_IFACES 16 /* interfaces of one segment */
#define POLICY_MAX_SEGMENT_NETS 64   /* networks of one segment */
#define POLICY_MAX_FLOWS 16384
#define POLICY_MAX_GROUP_HOSTS (4u * 1024 * 1024) /* all groups, expanded, together */

/* The guideline role of a segment; drives the invariants. */
enum seg_kind {
	SEG_SHIREI,   /* 指令系: isolated, never the internet */
	SEG_JOHO,     /* 情報系 */
	SEG_LGWAN,    /* LGWAN接続系: only mail / screen / exception across */
	SEG_INTERNET, /* the internet uplink: no networks of its own ("anything else") */
	SEG_OTHER,    /* any further segment: default deny like the rest */
};

struct prefix {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	int len; /* prefix length; 32/128 for a single address */
};

/* A reference to a named object as written, resolved by policy_check(). */
struct nameref {
	char *name; /* NULL = not given */
	struct srcpos pos;
};

struct host {
	char *name;
	struct srcpos pos;
	struct {
		struct prefix *v;
		size_t n, cap;
		struct srcpos *pos; /* parallel to v */
	} addrs;                    /* single addresses (len 32/128) */
	bool has_mac;
	uint8_t mac[6];
	char *segment_decl;      /* segment it was declared inside, NULL if top level */
	struct segment *segment; /* resolved: declared-in, else by address; NULL if none */
	bool registered;         /* declared inside a segment block: a registered device */
};

struct group {
	char *name;
	struct srcpos pos;
	struct {
		struct nameref *v;
		size_t n, cap;
	} members; /* host or group names */
	struct {
		struct host **v;
		size_t n, cap;
	} hosts; /* resolved, flattened, deduplicated */
};

struct segment {
	char *id;    /* short id used in rules: [a-z][a-z0-9-]* */
	char *label; /* Japanese label, UTF-8 */
	struct srcpos pos;
	enum seg_kind kind;
	bool kind_given;
	struct {
		char **v;
		struct srcpos *pos; /* parallel to v */
		size_t n, cap;
	} ifaces;
	struct {
		struct prefix *v;
		struct srcpos *pos; /* parallel to v */
		size_t n, cap;
	} nets;
	bool registered_only;
	struct srcpos registered_only_pos; /* where registered-only was given */
	struct {
		struct host **v;
		size_t n, cap;
	} hosts; /* registered hosts declared inside this segment */
};

enum proto { PROTO_TCP, PROTO_UDP, PROTO_PING /* ICMP/ICMPv6 echo-request */ };

struct portrange {
	uint16_t lo, hi; /* lo == hi for one port */
};

struct service {
	enum proto proto;
	struct srcpos pos;
	struct {
		struct portrange *v;
		size_t n, cap;
	} ports; /* empty for PROTO_PING; never empty for tcp/udp */
};

enum flow_kind {
	FLOW_ALLOW,     /* allow SRC -> DST svc... [from X] [to Y] */
	FLOW_MAIL,      /* mail SRC -> DST to Y [port N]: redirected to the relay */
	FLOW_SCREEN,    /* screen SRC -> DST to Y port N: screen transfer (tcp) */
	FLOW_EXCEPTION, /* exception SRC -> DST svc... [from X] [to Y] { approved-by reason expires
	                   } */
};

struct date {
	int year, month, day;
};

struct flow {
	enum flow_kind kind;
	struct srcpos pos;       /* the keyword starting the statement */
	struct nameref src, dst; /* segment ids */
	struct nameref from, to; /* optional host or group */
	struct {
		struct service *v;
		size_t n, cap;
	} svcs; /* for mail: tcp/25 (or the given port); for screen: tcp/N */
	/* exception only */
	char *approved_by;
	char *reason;
	struct date expires;
	struct srcpos approved_pos, reason_pos, expires_pos;
	/* resolved by policy_check() */
	struct segment *src_seg, *dst_seg;
	struct host *from_host, *to_host; /* exactly one of host/group, or none */
	struct group *from_group, *to_group;
	bool expired;   /* exception past its expiry date: not compiled */
	bool redundant; /* fully shadowed by an earlier flow: compiled anyway, warned */
};

/* Management access to the box itself. */
struct mgmt {
	struct srcpos pos;
	struct nameref from; /* host or group */
	struct {
		struct service *v;
		size_t n, cap;
	} svcs;
	struct host *from_host;
	struct group *from_group;
};

struct policy_file {
	char *path; /* as shown in diagnostics (interned via diag_add_source) */
	char *text;
	size_t len;
};

struct policy {
	struct {
		struct policy_file *v;
		size_t n, cap;
	} files;
	struct {
		struct segment *v;
		size_t n, cap;
	} segs;
	struct {
		struct host *v; /* every host: top-level and inside segments */
		size_t n, cap;
	} hosts;
	struct {
		struct group *v;
		size_t n, cap;
	} groups;
	struct {
		struct flow *v;
		size_t n, cap;
	} flows; /* in file order */
	struct {
		struct mgmt *v;
		size_t n, cap;
	} mgmt;
	/* box settings (box { ... } block) */
	uint16_t relay_port;
	uint16_t log_group;
	struct srcpos box_pos;
	bool box_seen;
	struct date today; /* the date exceptions are judged against */
};

/*
 * Parse every *.rules file directly in dir (sorted by name; include
 * statements pull further files, each at most once) into a new policy.
 * Syntax errors are reported through diag; parsing goes on after an error
 * to report every error of every file.  Returns the policy (never NULL)
 * even when errors were reported: check diag_errors().
 */
struct policy *rulefile_load_dir(const char *dir);
/* Parse one buffer as if it were file `name` (fuzzing, tests). */
struct policy *rulefile_load_buffer(const char *name, const char *text, size_t len);

/*
 * Resolve names and enforce the guideline (see docs/rules.md).  Errors and
 * warnings go through diag.  Returns true when no error was found; only then
 * may the policy be compiled.
 */
bool policy_check(struct policy *p);

/* Free everything the policy owns. */
void policy_free(struct policy *p);

/* Today's date in local time, or SEKISHO_TODAY=YYYY-MM-DD from the
 * environment (tests use it to pin exception expiry). */
struct date policy_today(void);

/* Prefix helpers shared by the parser, checker and compiler. */
bool prefix_parse(const char *s, struct prefix *r);              /* "a.b.c.d[/n]", "v6[/n]" */
void prefix_format(const struct prefix *p, char *buf, size_t n); /* omits /32 and /128 */
bool prefix_overlap(const struct prefix *a, const struct prefix *b);
bool prefix_contains(const struct prefix *net, const struct prefix *addr);

/* Find by name; NULL if absent. */
struct segment *policy_segment(const struct policy *p, const char *id);
struct host *policy_host(const struct policy *p, const char *name);
struct group *policy_group(const struct policy *p, const char *name);

const char *seg_kind_name(enum seg_kind k); /* "shirei", "joho", ... */

/* Free what one flow owns (not the struct itself). */
void policy_flow_free(struct flow *f);

/* Levenshtein distance between two short names (for "did you mean"); large
 * for names longer than POLICY_NAME_MAX. */
int policy_edit_distance(const char *a, const char *b);

#endif
