#!/usr/bin/env python3
"""
gen_policy - write a benchmark rules directory: a copy of the default rules/
with the segment networks widened so that up to ~114k registered hosts fit,
registered-only switched on in shirei, joho and lgwan, and N registered
hosts (IPv4 + IPv6, every fourth with a MAC) spread over those segments.

Address plan (everything inside the benchmarking ranges 198.18.0.0/15 and
2001:2::/48):

    shirei   198.18.0.0/17                    2001:2:0:1::/64   25% of N
    joho     198.18.128.0/17, 198.19.128.0/18 2001:2:0:2::/64   45% of N
    lgwan    198.19.0.0/17                    2001:2:0:3::/64   30% of N
    internet (uplink, no networks; the forwarding bench uses 198.19.255.0/24)

The default hosts keep their last octet: 198.18.1.x stays, 198.18.2.x
becomes 198.18.130.x, 198.18.3.x becomes 198.19.3.x.  The first address
after each network address is left for the box (its gateway address).

One joho host, `bench-src` (198.18.255.254, MAC 02:00:00:be:0c:01), is always
generated last in joho: the forwarding benchmark sends from it.  A file
`bench.rules` adds the one flow the forwarding benchmark measures:
`allow joho -> internet tcp/5201 udp/5201` (iperf3).

Outputs (all optional except the rules directory):
    --out DIR        the rules directory
    --hosts FILE     one registered host a line: name seg ipv4 ipv6 mac|-
                     (default hosts included; bench-src last)
    --linear FILE    nft text: table ip sk_bench_linear, a forward chain
                     with one `ip saddr X accept` per registered host,
                     bench-src last (the naive anchor of bench/forwarding.sh)
    --equiv FILE     nft text: a hand-written `table inet sekisho` in the
                     layout of DESIGN.md (sets + vmap), used as the nft -f
                     anchor when `sekisho show` is not available
"""
import argparse
import ipaddress
import os
import re
import sys

SEGS = {
    # seg: (ipv4 networks, ipv6 network, share of N, old /24 prefix, new /24 prefix)
    "shirei": (["198.18.0.0/17"], "2001:2:0:1::/64", 0.25, "198.18.1.", "198.18.1."),
    "joho": (["198.18.128.0/17", "198.19.128.0/18"], "2001:2:0:2::/64", 0.45,
             "198.18.2.", "198.18.130."),
    "lgwan": (["198.19.0.0/17"], "2001:2:0:3::/64", 0.30, "198.18.3.", "198.19.3."),
}
OLD_NETS = {"shirei": "198.18.1.0/24", "joho": "198.18.2.0/24", "lgwan": "198.18.3.0/24"}
BENCH_SRC = ("bench-src", "joho", "198.18.255.254", "2001:2:0:2:be::1", "02:00:00:be:0c:01")
BENCH_PORT = 5201
IPV4_RE = re.compile(r"(?<![\d.])(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})(?![\d./])")
HOST_RE = re.compile(r"^\s*host\s+(\S+)\s+(.*)$")
SEG_RE = re.compile(r"^\s*segment\s+([A-Za-z][A-Za-z0-9_-]*)\b")


def strip_comment(line):
    out, q = [], False
    for i, c in enumerate(line):
        if c == '"' and (i == 0 or line[i - 1] != "\\"):
            q = not q
        if c == "#" and not q:
            break
        out.append(c)
    return "".join(out)


def rewrite_file(text, hosts_by_seg, defaults):
    """Widen networks, move default host addresses, switch registered-only
    on and insert the generated hosts at the end of each segment block."""
    lines = text.split("\n")
    out = []
    seg, depth, seen_regonly = None, 0, False
    for line in lines:
        code = strip_comment(line)
        m = SEG_RE.match(code)
        if seg is None and m and "{" in code:
            seg, depth, seen_regonly = m.group(1), 0, False
        if seg in SEGS:
            nets4, net6, _, old, new = SEGS[seg]
            if re.match(r"^\s*network\s+" + re.escape(OLD_NETS[seg]) + r"\s*(#.*)?$", line):
                ind = re.match(r"^(\s*)", line).group(1)
                for n in nets4:
                    out.append(f"{ind}network {n}    # bench: widened from {OLD_NETS[seg]}")
                depth += code.count("{") - code.count("}")
                continue
            if re.match(r"^\s*registered-only\b", code):
                seen_regonly = True
            hm = HOST_RE.match(code)
            if hm:
                line = line.replace(old, new)
                addrs = IPV4_RE.findall(strip_comment(line))
                mac = re.search(r"\bmac\s+(\S+)", code)
                v6 = [a for a in hm.group(2).split() if ":" in a and a != (mac.group(1) if mac else "")]
                defaults.append((hm.group(1), seg, addrs[0] if addrs else "-",
                                 v6[0] if v6 else "-", mac.group(1) if mac else "-"))
        depth += code.count("{") - code.count("}")
        if seg is not None and depth == 0 and "}" in code:
            if seg in SEGS:
                if not seen_regonly:
                    out.append("    registered-only                  # bench: switched on")
                out.append(f"    # bench: {len(hosts_by_seg[seg])} generated registered hosts")
                for h in hosts_by_seg[seg]:
                    mac = f" mac {h[4]}" if h[4] != "-" else ""
                    out.append(f"    host {h[0]} {h[2]} {h[3]}{mac}")
            seg = None
        out.append(line)
    return "\n".join(out)


def addresses(nets, skip):
    for n in nets:
        net = ipaddress.ip_network(n)
        # skip the network address, the box's address (first host), broadcast
        for a in range(int(net.network_address) + 2, int(net.broadcast_address)):
            s = str(ipaddress.IPv4Address(a))
            if s not in skip:
                yield s


def gen_hosts(n, used4):
    counts = {s: int(n * SEGS[s][2]) for s in SEGS}
    counts["joho"] += n - sum(counts.values())
    hosts = {}
    serial = 0
    skip = set(used4) | {BENCH_SRC[2]}
    for seg in SEGS:
        nets4, net6, _, _, _ = SEGS[seg]
        v6base = int(ipaddress.IPv6Network(net6).network_address)
        want = counts[seg] - (1 if seg == "joho" else 0)
        hs = []
        it = addresses(nets4, skip)
        for i in range(want):
            try:
                a4 = next(it)
            except StopIteration:
                sys.exit(f"gen_policy: {seg}: no room for {counts[seg]} hosts")
            serial += 1
            # 2001:2:0:S:1::/80 keeps generated hosts apart from the defaults
            a6 = str(ipaddress.IPv6Address(v6base + (1 << 64 - 16) + i + 1))
            mac = "-"
            if serial % 4 == 0:
                mac = "02:00:%02x:%02x:%02x:%02x" % ((serial >> 24) & 255, (serial >> 16) & 255,
                                                     (serial >> 8) & 255, serial & 255)
            hs.append((f"b-{seg}-{i + 1}", seg, a4, a6, mac))
        if seg == "joho":
            hs.append(BENCH_SRC)
        hosts[seg] = hs
    return hosts


def nft_linear(allhosts):
    out = ["# naive anchor: one rule per registered host, the measured source last",
           "table ip sk_bench_linear {",
           "\tchain forward {",
           "\t\ttype filter hook forward priority filter; policy drop;",
           '\t\tiifname "inet0" ct state established,related accept']
    for h in allhosts:
        if h[2] != "-":
            out.append(f"\t\tip saddr {h[2]} accept")
    out += ["\t}", "}", ""]
    return "\n".join(out)


def nft_equiv(hosts_by_seg):
    """A hand-written table in the DESIGN.md layout (before the compiler
    existed; kept so the anchor runs without sekisho)."""
    o = ["table inet sekisho {"]
    for seg, hs in hosts_by_seg.items():
        r4 = [h[2] for h in hs if h[2] != "-" and h[4] == "-"]
        r6 = [h[3] for h in hs if h[3] != "-"]
        rm = [f"{h[2]} . {h[4]}" for h in hs if h[2] != "-" and h[4] != "-"]
        for name, typ, els in ((f"{seg}_reg4", "ipv4_addr", r4), (f"{seg}_reg6", "ipv6_addr", r6),
                               (f"{seg}_reg4mac", "ipv4_addr . ether_addr", rm)):
            o.append(f"\tset {name} {{\n\t\ttype {typ}")
            if els:
                o.append("\t\telements = { " + ",\n\t\t\t".join(els) + " }")
            o.append("\t}")
    for seg in hosts_by_seg:
        o += [f"\tchain in_{seg} {{",
              f"\t\tip saddr @{seg}_reg4 return",
              f"\t\tip saddr . ether saddr @{seg}_reg4mac return",
              f"\t\tip6 saddr @{seg}_reg6 return",
              '\t\tip6 saddr fe80::/10 return',
              f'\t\tlog group 5 prefix "unregistered {seg}" counter drop',
              "\t}"]
    o += ["\tchain joho_internet {",
          f"\t\tmeta l4proto {{ tcp, udp }} th dport {BENCH_PORT} counter accept",
          "\t\ttcp dport { 80, 443 } counter accept",
          "\t\tudp dport 53 counter accept",
          "\t}",
          "\tchain drop_log {",
          '\t\tlog group 5 counter drop',
          "\t}",
          "\tchain forward {",
          "\t\ttype filter hook forward priority filter; policy drop;",
          '\t\tiifname vmap { "shirei0" : jump in_shirei, "joho0" : jump in_joho, "lgwan0" : jump in_lgwan }',
          "\t\tct state established,related accept",
          "\t\tct state invalid drop",
          '\t\tiifname . oifname vmap { "joho0" . "inet0" : jump joho_internet }',
          "\t\tjump drop_log",
          "\t}",
          "}", ""]
    return "\n".join(o)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("n", type=int, help="number of registered hosts to generate")
    ap.add_argument("--rules", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                    "..", "rules"), help="the default rules dir")
    ap.add_argument("--out", required=True)
    ap.add_argument("--hosts")
    ap.add_argument("--linear")
    ap.add_argument("--equiv")
    a = ap.parse_args()
    if a.n < 1 or a.n > 110000:
        sys.exit("gen_policy: N must be within 1..110000")

    files = sorted(f for f in os.listdir(a.rules) if f.endswith(".rules"))
    texts = {f: open(os.path.join(a.rules, f), encoding="utf-8").read() for f in files}
    used4 = set()
    for f, t in texts.items():
        for seg, (_, _, _, old, new) in SEGS.items():
            t = t.replace(old, new)
        used4.update(IPV4_RE.findall(t))
    hosts = gen_hosts(a.n, used4)

    os.makedirs(a.out, exist_ok=True)
    defaults = []
    for f, t in texts.items():
        with open(os.path.join(a.out, f), "w", encoding="utf-8") as fp:
            fp.write(rewrite_file(t, hosts, defaults))
    with open(os.path.join(a.out, "bench.rules"), "w", encoding="utf-8") as fp:
        fp.write("# bench: the flow bench/forwarding.sh measures (iperf3 control + data)\n"
                 f"allow joho -> internet tcp/{BENCH_PORT} udp/{BENCH_PORT} from bench-src\n")

    allhosts = defaults + [h for seg in SEGS for h in hosts[seg] if h[0] != BENCH_SRC[0]]
    allhosts.append(BENCH_SRC)
    if a.hosts:
        with open(a.hosts, "w") as fp:
            for h in allhosts:
                fp.write(" ".join(h) + "\n")
    if a.linear:
        with open(a.linear, "w") as fp:
            fp.write(nft_linear(allhosts))
    if a.equiv:
        byseg = {s: [h for h in allhosts if h[1] == s] for s in SEGS}
        with open(a.equiv, "w") as fp:
            fp.write(nft_equiv(byseg))


if __name__ == "__main__":
    main()
