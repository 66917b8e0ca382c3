/*
 * monitor - the nflog group read with libpcap, turned into flow alerts,
 * pcap evidence and a reconcile against the kernel's deny counters (see
 * monitor.h).
 *
 * TRUST: logged packets are hostile; nflog.c parses them with every length
 * checked.  Alert lines are built with json.c (escaped, valid UTF-8).  The
 * prefix is ours (rules compiled by nftgen.c) but is treated as data.
 * FAILURE: an unusable alert or state file is logged once and skipped; a
 * malformed record is counted (malformed) and skipped.
 */
#include "monitor.h"

#include "audit.h"

#include "json.h"
#include "log.h"
#include "netlink.h"
#include "nflog.h"
#include "strbuf.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define MONITOR_PREFIX "sekisho deny "
#define MONITOR_WHAT_MAX 64
#define MONITOR_CHAIN_MAX 64
#define MONITOR_BUCKETS 4096
#define MONITOR_DISPATCH_ROUNDS 64 /* buffers read per monitor_read() */

/* Per chain of table inet sekisho that logs denials: seen here vs counted there. */
struct monitor_chain {
	char name[MONITOR_CHAIN_MAX];
	char what[MONITOR_WHAT_MAX]; /* the prefix's subject, e.g. "joho->lgwan" */
	uint64_t seen, seen_bytes;
	uint64_t seen_base, kernel_base;
	uint64_t kernel_last; /* at the last reconcile */
};

struct monitor_flow {
	struct monitor_flow *next;
	char what[MONITOR_WHAT_MAX];
	int version;
	uint8_t proto;
	uint8_t src[16], dst[16];
	uint16_t dport, sport;
	bool have_ports;
	char in[IF_NAMESIZE], out[IF_NAMESIZE];
	struct timeval first, last;
	uint64_t packets, bytes;
	uint64_t reported; /* packets at the last alert line */
	time_t reported_at;
};

/* Denied traffic in the audit log: the alert of each new flow, at most
 * MONITOR_AUDIT_PER_S records a second (audit_event opens, appends and
 * fdatasyncs: a scan of many new flows must not stall the reader); flows
 * over the rate are counted in the next record's "audit_suppressed". */
#define MONITOR_AUDIT_PER_S 10

struct monitor {
	time_t audit_sec;
	unsigned audit_n;
	unsigned long long audit_suppressed;
	pcap_t *p;
	unsigned group;
	int alerts_fd;
	char *alerts_path, *state_path, *evidence_dir;
	bool alerts_failing, state_failing;
	struct evidence *ev;
	struct monitor_flow *buckets[MONITOR_BUCKETS];
	size_t nflows;
	struct {
		struct monitor_chain *v;
		size_t n, cap;
	} chains;
	/* the last packet's attribution (a flood repeats one prefix) */
	bool have_last;
	char last_prefix[NFLOG_PREFIX_MAX], last_what[MONITOR_WHAT_MAX];
	ptrdiff_t last_chain; /* index into chains, -1 = none */
	/* totals since start */
	uint64_t packets, bytes, malformed, foreign, not_ip, flows_total, flows_refused;
	uint64_t alerts, suppressed_total;
	/* the alert budget */
	double tokens;
	struct timespec refilled;
	uint64_t suppressed; /* held back since the last "suppressed" line */
	/* libpcap's drop counters at the last check */
	unsigned ps_drop, ps_ifdrop, ps_recv;
	time_t started, last_reconcile, last_stats;
	bool read_failing;      /* logged once until a read succeeds */
	time_t read_rest_until; /* monitor_fd() is -1 until then */
};

/* --- alert lines --------------------------------------------------------- */

static void monitor_time_str(const struct timeval *tv, char *buf, size_t size)
{
	struct tm tm;
	time_t t = tv->tv_sec;
	char s[32];

	gmtime_r(&t, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, size, "%s.%03ldZ", s, (long)(tv->tv_usec / 1000));
}

static void monitor_now_str(char *buf, size_t size)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	monitor_time_str(&tv, buf, size);
}

/* Write one line (no newline in b) to the alert file and the log, budget aside. */
static void monitor_write_line(struct monitor *m, struct strbuf *b)
{
	log_info("alert %s", b->s);
	m->alerts++;
	if (m->alerts_fd < 0)
		return;
	strbuf_putc(b, '\n');
	if (write(m->alerts_fd, b->s, b->len) != (ssize_t)b->len) {
		if (!m->alerts_failing)
			log_error_errno("cannot write alert file %s", m->alerts_path);
		m->alerts_failing = true;
	} else {
		m->alerts_failing = false;
	}
	b->s[--b->len] = '\0';
}

static void monitor_refill(struct monitor *m)
{
	struct timespec now;
	double dt;

	clock_gettime(CLOCK_MONOTONIC, &now);
	dt = (double)(now.tv_sec - m->refilled.tv_sec) +
	     (double)(now.tv_nsec - m->refilled.tv_nsec) / 1e9;
	m->refilled = now;
	if (dt > 0)
		m->tokens += dt * MONITOR_ALERTS_PER_S;
	if (m->tokens > MONITOR_ALERTS_PER_S)
		m->tokens = MONITOR_ALERTS_PER_S;
}

/* Emit a line within the budget; beyond it the line is counted as suppressed. */
static bool monitor_alert(struct monitor *m, struct strbuf *b)
{
	monitor_refill(m);
	if (m->tokens < 1) {
		m->suppressed++;
		m->suppressed_total++;
		return false;
	}
	m->tokens -= 1;
	monitor_write_line(m, b);
	return true;
}

/* The "suppressed" line, within the budget unless force (at exit). */
static void monitor_flush_suppressed(struct monitor *m, bool force)
{
	struct strbuf b = STRBUF_INIT;
	char now[40];

	if (!m->suppressed)
		return;
	monitor_refill(m);
	if (m->tokens < 1 && !force)
		return;
	if (m->tokens >= 1)
		m->tokens -= 1;
	monitor_now_str(now, sizeof(now));
	strbuf_printf(&b,
	              "{\"time\":\"%s\",\"event\":\"suppressed\",\"lines\":%llu,"
	              "\"limit_per_s\":%d}",
	              now, (unsigned long long)m->suppressed, MONITOR_ALERTS_PER_S);
	m->suppressed = 0;
	monitor_write_line(m, &b);
	strbuf_free(&b);
}

/* --- attribution ---------------------------------------------------------- */

/*
 * The prefix "sekisho deny <what> " -> what ("joho->lgwan", "shirei
 * unregistered", "box") and the chain that counts it.  Returns false for a
 * prefix that is not ours.
 */
static bool monitor_attribute(const char *prefix, char *what, size_t wsize, char *chain,
                              size_t csize)
{
	size_t n, plen = sizeof(MONITOR_PREFIX) - 1;
	const char *arrow, *sp;
	char w1[MONITOR_WHAT_MAX];

	if (strncmp(prefix, MONITOR_PREFIX, plen) != 0)
		return false;
	prefix += plen;
	n = strlen(prefix);
	while (n && prefix[n - 1] == ' ')
		n--;
	if (n == 0 || n >= wsize)
		return false;
	memcpy(what, prefix, n);
	what[n] = '\0';
	sp = strchr(what, ' ');
	snprintf(w1, sizeof(w1), "%.*s", sp ? (int)(sp - what) : (int)n, what);
	chain[0] = '\0';
	if ((arrow = strstr(w1, "->")) != NULL)
		snprintf(chain, csize, "%.*s_to_%s", (int)(arrow - w1), w1, arrow + 2);
	else if (strcmp(w1, "box") == 0)
		snprintf(chain, csize, "input");
	else if (strcmp(w1, "unknown") == 0)
		snprintf(chain, csize, "forward");
	else if (sp)
		snprintf(chain, csize, "in_%s", w1);
	return true;
}

static struct monitor_chain *monitor_chain_get(struct monitor *m, const char *name)
{
	struct monitor_chain *c;

	for (size_t i = 0; i < m->chains.n; i++)
		if (strcmp(m->chains.v[i].name, name) == 0)
			return &m->chains.v[i];
	c = VEC_PUSH(m->chains);
	snprintf(c->name, sizeof(c->name), "%s", name);
	return c;
}

/* --- flows --------------------------------------------------------------- */

static uint32_t monitor_hash(const char *what, const struct nflog_ip *ip)
{
	uint32_t h = 2166136261u;
	size_t alen = ip->version == 6 ? 16 : 4;

#define MIX(byte) (h = (h ^ (uint8_t)(byte)) * 16777619u)
	for (const char *s = what; *s; s++)
		MIX(*s);
	MIX(ip->proto);
	for (size_t i = 0; i < alen; i++) {
		MIX(ip->src[i]);
		MIX(ip->dst[i]);
	}
	MIX(ip->dport >> 8);
	MIX(ip->dport);
#undef MIX
	return h % MONITOR_BUCKETS;
}

static void monitor_addr_str(int version, const uint8_t *a, char *buf, size_t size)
{
	if (!inet_ntop(version == 6 ? AF_INET6 : AF_INET, a, buf, (socklen_t)size))
		snprintf(buf, size, "?");
}

static void monitor_audit(struct monitor *m, const struct strbuf *alert)
{
	struct strbuf d = STRBUF_INIT;
	time_t now = time(NULL);
	size_t n = alert->s ? alert->len : 0;

	/* the alert line may already carry its newline */
	while (n && alert->s[n - 1] == '\n')
		n--;
	if (now != m->audit_sec) {
		m->audit_sec = now;
		m->audit_n = 0;
	}
	if (m->audit_n >= MONITOR_AUDIT_PER_S || n < 2 || alert->s[n - 1] != '}') {
		m->audit_suppressed++;
		return;
	}
	m->audit_n++;
	strbuf_append(&d, alert->s, n - 1);
	if (m->audit_suppressed)
		strbuf_printf(&d, ",\"audit_suppressed\":%llu", m->audit_suppressed);
	strbuf_putc(&d, '}');
	if (!d.overflow && audit_event("denied-traffic", d.s) == 0)
		m->audit_suppressed = 0;
	strbuf_free(&d);
}

static void monitor_flow_line(struct monitor *m, struct monitor_flow *f, const char *state)
{
	struct strbuf b = STRBUF_INIT;
	char now[40], first[40], last[40], src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN], pb[8];
	char pair[MONITOR_WHAT_MAX], rule[MONITOR_WHAT_MAX + sizeof(MONITOR_PREFIX)];
	const char *sp = strchr(f->what, ' '), *arrow;
	bool fst = true;

	monitor_now_str(now, sizeof(now));
	monitor_time_str(&f->first, first, sizeof(first));
	monitor_time_str(&f->last, last, sizeof(last));
	monitor_addr_str(f->version, f->src, src, sizeof(src));
	monitor_addr_str(f->version, f->dst, dst, sizeof(dst));
	snprintf(pair, sizeof(pair), "%.*s", sp ? (int)(sp - f->what) : (int)strlen(f->what),
	         f->what);
	strbuf_putc(&b, '{');
	json_key(&b, &fst, "time");
	json_cstr(&b, now);
	json_key(&b, &fst, "event");
	json_cstr(&b, "deny");
	json_key(&b, &fst, "state");
	json_cstr(&b, state);
	snprintf(rule, sizeof(rule), MONITOR_PREFIX "%s", f->what);
	json_key(&b, &fst, "rule");
	json_cstr(&b, rule);
	json_key(&b, &fst, "pair");
	json_cstr(&b, pair);
	if ((arrow = strstr(pair, "->")) != NULL) {
		json_key(&b, &fst, "from");
		json_string(&b, pair, (size_t)(arrow - pair));
		json_key(&b, &fst, "to");
		json_cstr(&b, arrow + 2);
	}
	if (sp) {
		json_key(&b, &fst, "reason");
		json_cstr(&b, sp + 1);
	}
	json_key(&b, &fst, "proto");
	json_cstr(&b, nflog_proto_name(f->proto, pb, sizeof(pb)));
	json_key(&b, &fst, "src");
	json_cstr(&b, src);
	json_key(&b, &fst, "dst");
	json_cstr(&b, dst);
	if (f->have_ports && (f->proto == 1 || f->proto == 58)) {
		strbuf_printf(&b, ",\"icmp_type\":%u,\"icmp_code\":%u", f->dport, f->sport);
	} else if (f->have_ports) {
		strbuf_printf(&b, ",\"sport\":%u,\"dport\":%u", f->sport, f->dport);
	}
	if (f->in[0]) {
		json_key(&b, &fst, "in");
		json_cstr(&b, f->in);
	}
	if (f->out[0]) {
		json_key(&b, &fst, "out");
		json_cstr(&b, f->out);
	}
	strbuf_printf(&b, ",\"first\":\"%s\",\"last\":\"%s\",\"packets\":%llu,\"bytes\":%llu}",
	              first, last, (unsigned long long)f->packets, (unsigned long long)f->bytes);
	if (monitor_alert(m, &b))
		f->reported = f->packets;
	f->reported_at = time(NULL);
	if (strcmp(state, "new") == 0)
		monitor_audit(m, &b);
	strbuf_free(&b);
}

static void monitor_account(struct monitor *m, const struct nflog_rec *r, const struct nflog_ip *ip,
                            const struct timeval *ts)
{
	char what[MONITOR_WHAT_MAX], chain[MONITOR_CHAIN_MAX];
	struct monitor_flow *f;
	uint32_t h;
	size_t alen = ip->version == 6 ? 16 : 4;

	struct monitor_chain *c = NULL;

	if (m->have_last && strcmp(r->prefix, m->last_prefix) == 0) {
		/* a flood repeats one prefix: skip the parse and the chain lookup */
		c = m->last_chain >= 0 ? &m->chains.v[m->last_chain] : NULL;
		memcpy(what, m->last_what, sizeof(what));
	} else {
		if (!monitor_attribute(r->prefix, what, sizeof(what), chain, sizeof(chain))) {
			m->foreign++;
			snprintf(what, sizeof(what), "other");
			chain[0] = '\0';
		}
		if (chain[0]) {
			c = monitor_chain_get(m, chain);
			if (!c->what[0])
				snprintf(c->what, sizeof(c->what), "%s", what);
		}
		snprintf(m->last_prefix, sizeof(m->last_prefix), "%s", r->prefix);
		memcpy(m->last_what, what, sizeof(what));
		m->last_chain = c ? c - m->chains.v : -1; /* an index: the vector may move */
		m->have_last = true;
	}
	if (c) {
		c->seen++;
		c->seen_bytes += r->payload_len;
	}
	h = monitor_hash(what, ip);
	for (f = m->buckets[h]; f; f = f->next) {
		if (f->version == ip->version && f->proto == ip->proto && f->dport == ip->dport &&
		    memcmp(f->src, ip->src, alen) == 0 && memcmp(f->dst, ip->dst, alen) == 0 &&
		    strcmp(f->what, what) == 0)
			break;
	}
	if (f) {
		f->last = *ts;
		f->packets++;
		f->bytes += r->payload_len;
		f->sport = ip->sport;
		return;
	}
	if (m->nflows >= MONITOR_MAX_FLOWS) {
		m->flows_refused++;
		return;
	}
	f = xcalloc(1, sizeof(*f));
	snprintf(f->what, sizeof(f->what), "%s", what);
	f->version = ip->version;
	f->proto = ip->proto;
	memcpy(f->src, ip->src, alen);
	memcpy(f->dst, ip->dst, alen);
	f->dport = ip->dport;
	f->sport = ip->sport;
	f->have_ports = ip->have_ports;
	if (r->indev && !if_indextoname(r->indev, f->in))
		snprintf(f->in, sizeof(f->in), "#%u", r->indev);
	if (r->outdev && !if_indextoname(r->outdev, f->out))
		snprintf(f->out, sizeof(f->out), "#%u", r->outdev);
	f->first = f->last = *ts;
	f->packets = 1;
	f->bytes = r->payload_len;
	f->next = m->buckets[h];
	m->buckets[h] = f;
	m->nflows++;
	m->flows_total++;
	monitor_flow_line(m, f, "new");
}

static void monitor_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
	struct monitor *m = (struct monitor *)user;
	struct nflog_rec r;
	struct nflog_ip ip;

	if (nflog_parse(bytes, h->caplen, &r) < 0 || !r.payload) {
		m->malformed++;
		return;
	}
	m->packets++;
	m->bytes += r.payload_len;
	if (m->ev)
		evidence_write(m->ev, &h->ts, r.payload, r.payload_len, r.payload_len);
	if (nflog_decode_ip(r.payload, r.payload_len, &ip) < 0) {
		m->not_ip++;
		return;
	}
	monitor_account(m, &r, &ip, &h->ts);
}

/* --- files ----------------------------------------------------------------- */

/* Make the parent directory of path (one level) if it is missing. */
static void monitor_mkparent(const char *path, mode_t mode)
{
	char *dup = xstrdup(path);

	if (mkdir(dirname(dup), mode) < 0 && errno != EEXIST)
		log_warn_errno("cannot create %s", dup);
	free(dup);
}

static void monitor_write_state(struct monitor *m, uint64_t kernel_total, bool kernel_ok)
{
	struct strbuf b = STRBUF_INIT, tmp = STRBUF_INIT;
	struct evidence_stats es = {0};
	size_t ev_files = 0;
	uint64_t ev_bytes = 0, seen_total = 0;
	char now[40], since[40];
	struct timeval st = {m->started, 0};
	FILE *f;
	bool ok;

	if (!m->state_path)
		return;
	if (m->ev)
		evidence_stats(m->ev, &es, &ev_files, &ev_bytes);
	monitor_now_str(now, sizeof(now));
	monitor_time_str(&st, since, sizeof(since));
	strbuf_printf(&b,
	              "{\"updated\":\"%s\",\"since\":\"%s\",\"group\":%u,\"packets\":%llu,"
	              "\"bytes\":%llu,\"malformed\":%llu,\"flows\":%zu,\"flows_total\":%llu,"
	              "\"flows_refused\":%llu,\"alerts\":%llu,\"suppressed\":%llu,",
	              now, since, m->group, (unsigned long long)m->packets,
	              (unsigned long long)m->bytes, (unsigned long long)m->malformed, m->nflows,
	              (unsigned long long)m->flows_total, (unsigned long long)m->flows_refused,
	              (unsigned long long)m->alerts, (unsigned long long)m->suppressed_total);
	strbuf_printf(&b, "\"pcap\":{\"received\":%u,\"dropped\":%u,\"ifdropped\":%u},", m->ps_recv,
	              m->ps_drop, m->ps_ifdrop);
	strbuf_puts(&b, "\"evidence\":{\"dir\":");
	json_cstr(&b, m->evidence_dir);
	strbuf_printf(&b, ",\"packets\":%llu,\"lost\":%llu,\"files\":%zu,\"bytes\":%llu},",
	              (unsigned long long)es.packets, (unsigned long long)es.lost, ev_files,
	              (unsigned long long)ev_bytes);
	strbuf_puts(&b, "\"chains\":[");
	for (size_t i = 0; i < m->chains.n; i++) {
		struct monitor_chain *c = &m->chains.v[i];
		uint64_t seen = c->seen - c->seen_base;
		uint64_t kern = c->kernel_last >= c->kernel_base ? c->kernel_last - c->kernel_base
		                                                 : c->kernel_last;

		seen_total += seen;
		strbuf_printf(&b, "%s{\"chain\":", i ? "," : "");
		json_cstr(&b, c->name);
		strbuf_puts(&b, ",\"what\":");
		json_cstr(&b, c->what[0] ? c->what : NULL);
		if (kernel_ok)
			strbuf_printf(&b, ",\"kernel\":%llu,\"seen\":%llu,\"missing\":%lld}",
			              (unsigned long long)kern, (unsigned long long)seen,
			              (long long)(kern - seen));
		else
			strbuf_printf(&b, ",\"kernel\":null,\"seen\":%llu,\"missing\":null}",
			              (unsigned long long)seen);
	}
	strbuf_puts(&b, "],");
	if (kernel_ok)
		strbuf_printf(&b, "\"kernel_denied\":%llu,\"seen_denied\":%llu,\"missing\":%lld}\n",
		              (unsigned long long)kernel_total, (unsigned long long)seen_total,
		              (long long)(kernel_total - seen_total));
	else
		strbuf_printf(&b, "\"kernel_denied\":null,\"seen_denied\":%llu,\"missing\":null}\n",
		              (unsigned long long)seen_total);
	strbuf_printf(&tmp, "%s.tmp", m->state_path);
	f = fopen(tmp.s, "we");
	ok = f != NULL;
	if (f) {
		ok = fwrite(b.s, 1, b.len, f) == b.len;
		ok = fclose(f) == 0 && ok;
		ok = ok && rename(tmp.s, m->state_path) == 0;
		if (!ok)
			unlink(tmp.s);
	}
	if (!ok) {
		if (!m->state_failing)
			log_error_errno("cannot write monitor state %s", m->state_path);
		m->state_failing = true;
	} else {
		m->state_failing = false;
	}
	strbuf_free(&tmp);
	strbuf_free(&b);
}

/* --- pcap drops, reconcile ------------------------------------------------- */

static void monitor_check_stats(struct monitor *m)
{
	struct pcap_stat ps;
	struct strbuf b = STRBUF_INIT;
	char now[40];

	if (pcap_stats(m->p, &ps) < 0)
		return;
	m->ps_recv = ps.ps_recv;
	if (ps.ps_drop == m->ps_drop && ps.ps_ifdrop == m->ps_ifdrop)
		return;
	log_warn("nflog:%u: samples lost: %u dropped (socket buffer), %u dropped by the "
	         "interface since start",
	         m->group, ps.ps_drop, ps.ps_ifdrop);
	monitor_now_str(now, sizeof(now));
	strbuf_printf(&b,
	              "{\"time\":\"%s\",\"event\":\"drops\",\"group\":%u,\"dropped\":%u,"
	              "\"ifdropped\":%u,\"new_dropped\":%u,\"new_ifdropped\":%u}",
	              now, m->group, ps.ps_drop, ps.ps_ifdrop, ps.ps_drop - m->ps_drop,
	              ps.ps_ifdrop - m->ps_ifdrop);
	m->ps_drop = ps.ps_drop;
	m->ps_ifdrop = ps.ps_ifdrop;
	monitor_write_line(m, &b); /* outside the budget: losing this line would hide loss */
	strbuf_free(&b);
}

/* The chains of the running table that log denials; false when it cannot be read. */
static bool monitor_read_kernel(struct monitor *m, struct netlink_running *run)
{
	struct strbuf err = STRBUF_INIT;

	if (netlink_read(run, &err) < 0) {
		log_error("monitor: cannot read the counters: %s", err.s);
		strbuf_free(&err);
		return false;
	}
	strbuf_free(&err);
	for (size_t i = 0; i < run->chains.n; i++) {
		const char *name = run->chains.v[i].name;

		if (strstr(name, "_to_") || strncmp(name, "in_", 3) == 0 ||
		    strcmp(name, "input") == 0 || strcmp(name, "forward") == 0)
			monitor_chain_get(m, name)->kernel_last = run->chains.v[i].drop_packets;
	}
	return true;
}

void monitor_reconcile(struct monitor *m, const char *why)
{
	struct netlink_running run;
	struct strbuf b = STRBUF_INIT;
	uint64_t kernel_total = 0, seen_total = 0;
	bool kernel_ok;
	char now[40];

	if (!m)
		return;
	monitor_read(m);
	if (m->ev)
		evidence_tick(m->ev, time(NULL));
	monitor_check_stats(m);
	kernel_ok = monitor_read_kernel(m, &run);
	monitor_now_str(now, sizeof(now));
	strbuf_printf(&b, "{\"time\":\"%s\",\"event\":\"reconcile\",\"why\":", now);
	json_cstr(&b, why);
	strbuf_puts(&b, ",\"chains\":[");
	for (size_t i = 0, n = 0; i < m->chains.n; i++) {
		struct monitor_chain *c = &m->chains.v[i];
		uint64_t seen = c->seen - c->seen_base;
		uint64_t kern = c->kernel_last >= c->kernel_base ? c->kernel_last - c->kernel_base
		                                                 : c->kernel_last;

		seen_total += seen;
		kernel_total += kern;
		if (!seen && !kern)
			continue;
		strbuf_printf(&b, "%s{\"chain\":", n++ ? "," : "");
		json_cstr(&b, c->name);
		strbuf_printf(&b, ",\"kernel\":%llu,\"seen\":%llu}", (unsigned long long)kern,
		              (unsigned long long)seen);
		if (kernel_ok && kern != seen)
			log_warn("reconcile: chain %s: the kernel denied %llu packets, the monitor "
			         "saw %llu",
			         c->name, (unsigned long long)kern, (unsigned long long)seen);
	}
	if (kernel_ok)
		strbuf_printf(&b, "],\"kernel_denied\":%llu,\"seen_denied\":%llu,\"missing\":%lld,",
		              (unsigned long long)kernel_total, (unsigned long long)seen_total,
		              (long long)(kernel_total - seen_total));
	else
		strbuf_printf(&b, "],\"kernel_denied\":null,\"seen_denied\":%llu,\"missing\":null,",
		              (unsigned long long)seen_total);
	strbuf_printf(&b, "\"pcap_dropped\":%u,\"pcap_ifdropped\":%u,\"malformed\":%llu}",
	              m->ps_drop, m->ps_ifdrop, (unsigned long long)m->malformed);
	monitor_write_line(m, &b); /* outside the budget: once a minute */
	monitor_write_state(m, kernel_total, kernel_ok);
	if (kernel_ok)
		netlink_running_free(&run);
	m->last_reconcile = time(NULL);
	strbuf_free(&b);
}

void monitor_rebase(struct monitor *m)
{
	struct netlink_running run;

	if (!m)
		return;
	monitor_read(m);
	for (size_t i = 0; i < m->chains.n; i++)
		m->chains.v[i].kernel_last = 0; /* a chain gone from the new table counts 0 */
	if (monitor_read_kernel(m, &run))
		netlink_running_free(&run);
	for (size_t i = 0; i < m->chains.n; i++) {
		m->chains.v[i].kernel_base = m->chains.v[i].kernel_last;
		m->chains.v[i].seen_base = m->chains.v[i].seen;
	}
}

/* --- the loop ---------------------------------------------------------------- */

int monitor_fd(struct monitor *m)
{
	/* after a read error, rest a second rather than spin on a failing descriptor */
	return time(NULL) < m->read_rest_until ? -1 : pcap_get_selectable_fd(m->p);
}

void monitor_read(struct monitor *m)
{
	for (int i = 0; i < MONITOR_DISPATCH_ROUNDS; i++) {
		int n = pcap_dispatch(m->p, -1, monitor_packet, (u_char *)m);

		if (n < 0) {
			if (!m->read_failing)
				log_error("nflog:%u: %s", m->group, pcap_geterr(m->p));
			m->read_failing = true;
			m->read_rest_until = time(NULL) + 1;
			return;
		}
		m->read_failing = false;
		if (n == 0)
			break;
	}
}

void monitor_tick(struct monitor *m, time_t now)
{
	if (!m)
		return;
	for (size_t i = 0; i < MONITOR_BUCKETS; i++) {
		struct monitor_flow **pp = &m->buckets[i], *f;

		while ((f = *pp) != NULL) {
			bool unreported = f->packets != f->reported;

			if (unreported && now - f->reported_at >= MONITOR_UPDATE_S)
				monitor_flow_line(m, f, "update");
			if (now - f->last.tv_sec >= MONITOR_FLOW_IDLE_S &&
			    f->packets == f->reported) {
				*pp = f->next;
				free(f);
				m->nflows--;
				continue;
			}
			pp = &f->next;
		}
	}
	monitor_flush_suppressed(m, false);
	if (m->ev)
		evidence_tick(m->ev, now);
	if (now - m->last_stats >= MONITOR_UPDATE_S) {
		monitor_check_stats(m);
		m->last_stats = now;
	}
	if (now - m->last_reconcile >= MONITOR_RECONCILE_S)
		monitor_reconcile(m, "periodic");
}

struct monitor *monitor_open(const struct monitor_opts *o)
{
	char dev[32], errbuf[PCAP_ERRBUF_SIZE] = "";
	struct monitor *m;
	pcap_t *p;
	int rc;

	snprintf(dev, sizeof(dev), "nflog:%u", o->group);
	p = pcap_create(dev, errbuf);
	if (!p) {
		log_error("monitor: %s: %s", dev, errbuf);
		return NULL;
	}
	pcap_set_snaplen(p, EVIDENCE_SNAPLEN);
	pcap_set_immediate_mode(p, 1);
	pcap_set_buffer_size(p, MONITOR_PCAP_BUFFER_BYTES);
	rc = pcap_activate(p);
	if (rc < 0) {
		log_error("monitor: %s: %s", dev, pcap_geterr(p));
		pcap_close(p);
		return NULL;
	}
	if (rc > 0)
		log_warn("monitor: %s: %s", dev, pcap_geterr(p));
	if (pcap_datalink(p) != DLT_NFLOG) {
		log_error("monitor: %s: link type %d, not NFLOG", dev, pcap_datalink(p));
		pcap_close(p);
		return NULL;
	}
	if (pcap_setnonblock(p, 1, errbuf) < 0) {
		log_error("monitor: %s: %s", dev, errbuf);
		pcap_close(p);
		return NULL;
	}
	/* libpcap's SO_RCVBUF is capped at net.core.rmem_max; a burst needs the full buffer */
	if (setsockopt(pcap_get_selectable_fd(p), SOL_SOCKET, SO_RCVBUFFORCE,
	               &(int){MONITOR_PCAP_BUFFER_BYTES}, sizeof(int)) < 0)
		log_warn_errno("monitor: %s: cannot raise the socket buffer to %d bytes", dev,
		               MONITOR_PCAP_BUFFER_BYTES);
	m = xcalloc(1, sizeof(*m));
	m->p = p;
	m->group = o->group;
	m->alerts_fd = -1;
	m->tokens = MONITOR_ALERTS_PER_S;
	clock_gettime(CLOCK_MONOTONIC, &m->refilled);
	m->started = m->last_reconcile = m->last_stats = time(NULL);
	if (o->alerts) {
		m->alerts_path = xstrdup(o->alerts);
		monitor_mkparent(o->alerts, 0750);
		m->alerts_fd = open(o->alerts, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (m->alerts_fd < 0)
			log_error_errno("monitor: cannot open the alert file %s", o->alerts);
	}
	if (o->state_file) {
		m->state_path = xstrdup(o->state_file);
		monitor_mkparent(o->state_file, 0755);
	}
	if (o->evidence.dir) {
		m->evidence_dir = xstrdup(o->evidence.dir);
		m->ev = evidence_open(&o->evidence);
	}
	log_info("monitor: reading %s; alerts to %s; evidence in %s; state in %s", dev,
	         o->alerts ? o->alerts : "the log only", m->ev ? o->evidence.dir : "(none)",
	         o->state_file ? o->state_file : "(none)");
	return m;
}

void monitor_close(struct monitor *m)
{
	if (!m)
		return;
	monitor_read(m);
	for (size_t i = 0; i < MONITOR_BUCKETS; i++) /* what the last updates did not say */
		for (struct monitor_flow *f = m->buckets[i]; f; f = f->next)
			if (f->packets != f->reported)
				monitor_flow_line(m, f, "update");
	monitor_flush_suppressed(m, true);
	monitor_reconcile(m, "exit");
	for (size_t i = 0; i < MONITOR_BUCKETS; i++) {
		struct monitor_flow *f, *next;

		for (f = m->buckets[i]; f; f = next) {
			next = f->next;
			free(f);
		}
	}
	evidence_close(m->ev);
	if (m->alerts_fd >= 0)
		close(m->alerts_fd);
	pcap_close(m->p);
	free(m->chains.v);
	free(m->alerts_path);
	free(m->state_path);
	free(m->evidence_dir);
	free(m);
}
