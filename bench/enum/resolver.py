#!/usr/bin/env python3
"""Queries reaching an npchain node per ENUM lookup made through a recursive resolver (unbound).

    bench/enum/resolver.py [--numbers K] [--unknown U] [--mode stub|forward]
                           [--qname-minimisation yes|no] [--negative-ttl S] [--trace] [--keep DIR]

Starts one npchain node (a devnet of two operators, only node 0 runs: reads need no quorum, as in
run.py) whose genesis has ranges +4915 (OPA) and +4916 (OPB) and K/2 ported numbers, and a local
unbound in front of it (its own config in a temporary directory, run in the foreground):

    stub-zone (or forward-zone) for the ENUM origin pointing at the node,
    domain-insecure for the origin (the zone is unsigned; unbound validates, with the root's
    trust anchor, so without it every answer would be SERVFAIL),
    do-not-query-localhost: no (the node is on loopback),
    qname-minimisation: yes (unbound's default).

Then it looks up, one at a time through unbound with dig, K distinct numbers of the ranges (half
ported, half not) and U numbers in no range, in a shuffled order, and reads the node's
`npchain_queries_total{kind="enum",...}` counters (GET /metrics on its HTTP port) before and after
each lookup. Printed: the queries that reached the node for the first lookup (cold cache) and for
each following lookup of a number not asked before (warm cache: what the resolver cached from the
lookups before it), by kind of number, with the node's result labels; then the same number asked
again (its NAPTR has TTL 0, so every repeat reaches the node). Each answer is checked (ported:
`;npdi;rn=`, not ported: `;npdi` without rn, unknown: NXDOMAIN).

`--negative-ttl S` writes `negative-ttl = S` into the node's `[dns]` section (a node that does not
know the key refuses its config: the script then says so and stops). `--trace` relays the node's
queries through a small UDP relay that prints every name and type unbound asks for the first two
lookups. `--mode forward` uses a forward-zone instead (unbound then sends the client's question
as it is, recursion desired). Writes bench/enum/resolver-results.json. Needs Debian packages
unbound and dnsutils (installed if missing) and a release build (done here).
"""

import argparse, json, os, random, re, shutil, signal, socket, statistics, subprocess, sys, tempfile, threading, time
import urllib.request
from pathlib import Path

from common import ORIGIN, ROOT, enum_name, free_port, need, sh, wait_for
RANGE_A, RANGE_B = 4915_000_000_000, 4916_000_000_000  # OPA's +4915, OPB's +4916
UNKNOWN = 4940_000_000_000  # in no range
# The root zone's KSK-2017 (IANA): unbound validates as a carrier's resolver does.
ROOT_ANCHOR = ". DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D"












def dig(port, name, qtype="NAPTR", klass="IN"):
    """(status, answer lines) of one dig."""
    out = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+tries=1", "+time=5", "+noall", "+comments",
                          "+answer", "-c", klass, "-t", qtype, name], text=True, capture_output=True).stdout
    m = re.search(r"status: (\w+)", out)
    answers = [line for line in out.splitlines() if line and not line.startswith(";")]
    return (m.group(1) if m else "TIMEOUT"), answers


def enum_counters(http_port):
    """The node's `npchain_queries_total{kind="enum",result=R}` values by R."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=5).read().decode()
    return {m.group(1): int(float(m.group(2)))
            for m in re.finditer(r'^npchain_queries_total\{kind="enum",result="(\w+)"\} (\S+)$', text, re.M)}


def settled(http_port):
    """The counters once they stop moving (unbound may still be asking when dig has its answer)."""
    last = enum_counters(http_port)
    while True:
        time.sleep(0.15)
        now = enum_counters(http_port)
        if now == last:
            return now
        last = now


def delta(before, after):
    d = {k: after.get(k, 0) - before.get(k, 0) for k in set(before) | set(after)}
    return {k: v for k, v in sorted(d.items()) if v}


class Relay:
    """A UDP relay between unbound and the node that records each question's name and type."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.seen, self.lock = [], threading.Lock()
        threading.Thread(target=self.loop, daemon=True).start()

    @staticmethod
    def question(packet):
        labels, i = [], 12
        while i < len(packet) and packet[i]:
            labels.append(packet[i + 1:i + 1 + packet[i]].decode(errors="replace"))
            i += 1 + packet[i]
        qtype = int.from_bytes(packet[i + 1:i + 3], "big") if i + 3 <= len(packet) else 0
        names = {1: "A", 2: "NS", 6: "SOA", 28: "AAAA", 35: "NAPTR", 43: "DS", 48: "DNSKEY"}
        return ".".join(labels) or ".", names.get(qtype, str(qtype))

    def loop(self):
        while True:
            packet, client = self.sock.recvfrom(65535)
            with self.lock:
                self.seen.append(self.question(packet))
            threading.Thread(target=self.forward, args=(packet, client), daemon=True).start()

    def forward(self, packet, client):
        up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        up.settimeout(3)
        try:
            up.sendto(packet, ("127.0.0.1", self.upstream))
            self.sock.sendto(up.recvfrom(65535)[0], client)
        except OSError:
            pass
        finally:
            up.close()

    def take(self):
        with self.lock:
            seen, self.seen = self.seen, []
        return seen


def unbound_conf(work, port, node_dns, mode, qname_min):
    zone = (f"stub-zone:\n    name: \"{ORIGIN}\"\n    stub-addr: 127.0.0.1@{node_dns}\n" if mode == "stub" else
            f"forward-zone:\n    name: \"{ORIGIN}\"\n    forward-addr: 127.0.0.1@{node_dns}\n")
    return f"""server:
    interface: 127.0.0.1
    port: {port}
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "{work}"
    pidfile: ""
    use-syslog: no
    logfile: ""
    verbosity: 1
    num-threads: 1
    qname-minimisation: {qname_min}
    trust-anchor: "{ROOT_ANCHOR}"
    domain-insecure: "{ORIGIN}"
    do-not-query-localhost: no
remote-control:
    control-enable: no
{zone}"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--numbers", type=int, default=20, help="distinct numbers of the ranges (half ported)")
    ap.add_argument("--unknown", type=int, default=5, help="numbers in no range")
    ap.add_argument("--repeats", type=int, default=5, help="times the first ported number is asked again")
    ap.add_argument("--first", choices=["ported", "not_ported", "unknown"], default="ported",
                    help="the kind of number of the first (cold-cache) lookup")
    ap.add_argument("--mode", choices=["stub", "forward"], default="stub")
    ap.add_argument("--qname-minimisation", choices=["yes", "no"], default="yes")
    ap.add_argument("--negative-ttl", type=int, help="write [dns] negative-ttl = S into the node's config")
    ap.add_argument("--trace", action="store_true", help="print the names unbound asks the node")
    ap.add_argument("--no-build", action="store_true", help="use target/release/npchain as it is")
    ap.add_argument("--keep", help="work in this directory and leave it")
    args = ap.parse_args()
    for tool, package in [("unbound", "unbound"), ("dig", "dnsutils")]:
        need(tool, package)
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "npchain-cli"], cwd=ROOT, check=True)
    npchain = ROOT / "target/release/npchain"
    work = Path(args.keep or tempfile.mkdtemp(prefix="enum-resolver-"))
    work.mkdir(parents=True, exist_ok=True)
    procs = []

    def stop(*_):
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    signal.signal(signal.SIGTERM, lambda *_: (stop(), sys.exit(1)))
    try:
        run(args, npchain, work, procs)
    finally:
        stop()


def run(args, npchain, work, procs):
    rng = random.Random(15)
    k = max(args.numbers, 2)
    ported = [RANGE_A + 7 * i for i in range(k // 2)]          # OPA's numbers ported to OPB
    not_ported = [RANGE_B + 7 * i + 3 for i in range(k - k // 2)]  # OPB's own, never ported
    unknown = [UNKNOWN + rng.randrange(10**9) for _ in range(args.unknown)]
    (work / "ranges.csv").write_text("prefix,operator\n+4915,OPA\n+4916,OPB\n")
    (work / "ported.csv").write_text("number,operator\n" + "".join(f"+{n},OPB\n" for n in ported))
    ports = {k: free_port() for k in ("http", "dns", "p2p")}
    sh(str(npchain), "devnet", "--validators", "2", "--data", str(work / "devnet"), "--fresh", "--print-only",
       "--ranges", str(work / "ranges.csv"), "--ported", str(work / "ported.csv"),
       "--http-port", str(ports["http"]), "--dns-port", str(ports["dns"]), "--p2p-port", str(ports["p2p"]))
    config = work / "devnet/node-0/config.toml"
    if args.negative_ttl is not None:
        text = config.read_text()
        assert "\n[dns]\n" in text, "the devnet's node config has a [dns] section"
        config.write_text(text.replace("\n[dns]\n", f"\n[dns]\nnegative-ttl = {args.negative_ttl}\n", 1))
    log = open(work / "npchain.log", "w")
    node = subprocess.Popen([str(npchain), "node", "--config", str(config)], stdout=log, stderr=log)
    procs.append(node)

    def node_up():
        if node.poll() is not None:
            sys.exit(f"the node stopped: {(work / 'npchain.log').read_text()[-2000:]}")
        return dig(ports["dns"], ORIGIN, "SOA")[0] == "NOERROR"

    wait_for("the node to answer", node_up, 120)
    upstream = ports["dns"]
    relay = None
    if args.trace:
        relay = Relay(ports["dns"])
        upstream = relay.port

    uport = free_port()
    (work / "unbound.conf").write_text(unbound_conf(work, uport, upstream, args.mode, args.qname_minimisation))
    sh("unbound-checkconf", str(work / "unbound.conf"))
    ulog = open(work / "unbound.log", "w")
    unbound = subprocess.Popen(["unbound", "-d", "-c", str(work / "unbound.conf")], stdout=ulog, stderr=ulog)
    procs.append(unbound)
    # Ready once it answers a question about itself (nothing reaches the node).
    wait_for("unbound to answer", lambda: dig(uport, "version.server", "TXT", "CH")[0] == "NOERROR", 120)
    if relay:
        relay.take()

    lookups = [(n, "ported") for n in ported] + [(n, "not_ported") for n in not_ported] + \
              [(n, "unknown") for n in unknown]
    rng.shuffle(lookups)
    # the first (cold) lookup is of the kind asked for
    first = next(i for i, (_, kind) in enumerate(lookups) if kind == args.first)
    lookups = lookups[first:] + lookups[:first]
    expect = {"ported": lambda s, a: s == "NOERROR" and len(a) == 1 and ";npdi;rn=" in a[0],
              "not_ported": lambda s, a: s == "NOERROR" and len(a) == 1 and ";npdi!" in a[0],
              "unknown": lambda s, a: s == "NXDOMAIN" and not a}
    rows, mismatches = [], []
    for i, (number, kind) in enumerate(lookups):
        before = settled(ports["http"])
        status, answers = dig(uport, enum_name(number))
        after = settled(ports["http"])
        d = delta(before, after)
        row = {"number": f"+{number}", "kind": kind, "status": status, "queries": sum(d.values()), "by_result": d}
        if relay:
            row["asked"] = [f"{n} {t}" for n, t in relay.take()]
        if not expect[kind](status, answers):
            mismatches.append(f"+{number} ({kind}): {status} {answers}")
        rows.append(row)
        if relay and i < 3:
            print(f"lookup {i + 1} (+{number}, {kind}) asked the node:", *row["asked"], sep="\n    ", flush=True)
        elif relay and i == 3:
            print("    (the other lookups' questions: in the results file)", flush=True)
    sample = next(n for n, kind in lookups if kind == "ported")
    repeats = []
    for _ in range(args.repeats):
        before = settled(ports["http"])
        dig(uport, enum_name(sample))
        repeats.append(sum(delta(before, settled(ports["http"])).values()))

    first, rest = rows[0], rows[1:]
    summary = {"mode": args.mode, "qname_minimisation": args.qname_minimisation,
               "negative_ttl": args.negative_ttl, "unbound": sh("unbound", "-V").splitlines()[0],
               "first": first, "following_mean": statistics.mean(r["queries"] for r in rest) if rest else None,
               "following_by_kind": {}, "repeat_same_number": repeats, "lookups": rows, "mismatches": mismatches}
    print(f"\nqueries reaching the node per lookup through {summary['unbound']} "
          f"({args.mode}-zone, qname-minimisation {args.qname_minimisation}, "
          f"negative-ttl {args.negative_ttl if args.negative_ttl is not None else 'not set'})")
    print(f"  first lookup (cold cache): {first['queries']:>5}  ({first['kind']}, {first['status']}, {first['by_result']})")
    for kind in ("ported", "not_ported", "unknown"):
        qs = [r["queries"] for r in rest if r["kind"] == kind]
        if qs:
            summary["following_by_kind"][kind] = {"lookups": len(qs), "mean": statistics.mean(qs),
                                                  "min": min(qs), "max": max(qs)}
            print(f"  following, {kind:<10}: mean {statistics.mean(qs):5.2f}  min {min(qs)}  max {max(qs)}"
                  f"  over {len(qs)} lookups")
    if rest:
        print(f"  following, all       : mean {summary['following_mean']:5.2f}  over {len(rest)} lookups")
    print(f"  the same ported number again: {repeats}")
    (ROOT / "bench/enum/resolver-results.json").write_text(json.dumps(summary, indent=1) + "\n")
    if mismatches:
        sys.exit("answers not as expected:\n  " + "\n  ".join(mismatches))


if __name__ == "__main__":
    main()
