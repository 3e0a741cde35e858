#!/usr/bin/env python3
"""ENUM answers, npchain vs Knot DNS, measured with dnsperf on the same data and queries.

    bench/enum/run.py N [--threads T] [--seconds S] [--runs R] [--paced-qps Q] [--keep DIR]
    bench/enum/run.py N --observer [--threads T] ...

Makes N ported numbers (half of them +4915… ported OPA->OPB, half +4916… OPB->OPA), loads them
into one npchain node as the genesis migration list, and writes the same routing records as a
Knot zone file. Queries: 60 % ported numbers, 30 % numbers in a range that are not ported, 10 %
numbers in no range (NXDOMAIN). Knot gets an explicit record for every not-ported number the
queries ask (a zone file cannot hold "every number of a range" with npchain's exact answer
text; a wildcard would not match below the names the ported numbers create). Both servers
answer the same NAPTR text for every query (checked with dig before measuring).

Both servers get the same number of UDP threads, `--threads T` (default 1): Knot
`udp-workers: T`, npchain `[dns] threads = T` in its node config.

Per server: load time, resident memory (VmRSS and peak VmHWM), saturated queries/s with
dnsperf (median of R runs), and latency percentiles from a paced dnsperf run at half of that
server's own saturated rate (or at `--paced-qps Q` for both). Prints both side by side with the
ratio npchain/Knot and writes bench/enum/results-N.json (results-N-tT.json with T > 1).

`--observer`: read scale-out instead of the comparison. Both validators of the devnet run
(consensus commits empty blocks), plus an observer: a node whose key is in no validator set,
listed as a peer by both validators, serving ENUM from the same committed state it follows over
p2p. Measured with dnsperf: the validator alone, the observer alone, and both at once (one
dnsperf each, started together; the sum). Knot is not run. Writes
bench/enum/results-N-observer.json.

Needs Debian packages knot, dnsperf, dnsutils (installed if missing) and a release build
(`cargo build --release`, done here). dnsperf shares the machine's cores with the servers.
"""

import argparse, json, os, tomllib, random, re, shutil, signal, socket, statistics, subprocess, sys, tempfile, time
import urllib.request
from pathlib import Path

from common import ORIGIN, ROOT, enum_name, free_port, need, sh, wait_for
PORTED_A, PORTED_B = 4915_000_000_000, 4916_000_000_000  # OPA's and OPB's ranges +4915, +4916
UNKNOWN = 4940_000_000_000  # in no range
RN = {"OPA": "+49D001", "OPB": "+49D002"}










def naptr(number, rn):
    tail = f";rn={rn}" if rn else ""
    return f'100 10 "u" "E2U+pstn:tel" "!^.*$!tel:+{number};npdi{tail}!" .'


def memory(pid):
    status = Path(f"/proc/{pid}/status").read_text()
    get = lambda k: int(re.search(rf"{k}:\s+(\d+) kB", status).group(1)) * 1024
    return {"rss_bytes": get("VmRSS"), "peak_rss_bytes": get("VmHWM")}




def dig(port, name, qtype="NAPTR"):
    return subprocess.run(
        ["dig", "@127.0.0.1", "-p", str(port), "+short", "+tries=1", "+time=2", qtype, name],
        text=True, capture_output=True).stdout.strip()


def dnsperf(port, queries, seconds, extra=()):
    out = sh("dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(queries), "-l", str(seconds), *extra)
    return out


def saturated(port, queries, seconds):
    out = dnsperf(port, queries, seconds, ("-c", "8", "-T", "1", "-q", "256"))
    qps = float(re.search(r"Queries per second:\s+([\d.]+)", out).group(1))
    lost = int(re.search(r"Queries lost:\s+(\d+)", out).group(1))
    avg = float(re.search(r"Average Latency \(s\):\s+([\d.]+)", out).group(1))
    return {"qps": qps, "lost": lost, "avg_latency_us": avg * 1e6}


def paced(port, queries, seconds, qps):
    out = dnsperf(port, queries, seconds, ("-c", "4", "-T", "1", "-Q", str(qps), "-v"))
    lat = sorted(float(m.group(1)) for m in re.finditer(r"^> \S+ .* ([\d.]+)$", out, re.M))
    pick = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1e6
    return {"rate": qps, "answers": len(lat), "p50_us": pick(0.5), "p99_us": pick(0.99), "p999_us": pick(0.999)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="UDP threads of each server")
    ap.add_argument("--paced-qps", type=int, help="paced rate for both (default: half of each one's saturated qps)")
    ap.add_argument("--observer", action="store_true", help="measure a validator plus an observer instead")
    ap.add_argument("--queries", type=int, default=1_000_000)
    ap.add_argument("--keep", help="work in this directory and leave it")
    ap.add_argument("--no-build", action="store_true", help="use target/release/npchain as it is")
    args = ap.parse_args()
    for tool, package in [("knotd", "knot"), ("dnsperf", "dnsperf"), ("dig", "dnsutils")]:
        need(tool, package)
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "npchain-cli"], cwd=ROOT, check=True)
    npchain = ROOT / "target/release/npchain"
    work = Path(args.keep or tempfile.mkdtemp(prefix="enum-bench-"))
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
        (observe if args.observer else run)(args, npchain, work, procs)
    finally:
        stop()


def make_data(args, work):
    """The migration list, the zone file and the query file; (ported, first queries, a ported sample)."""
    n, rng = args.n, random.Random(7)
    half = n // 2
    ported = [(PORTED_A + 3 * i, "OPB") for i in range(half)] + [(PORTED_B + 3 * i, "OPA") for i in range(n - half)]
    t = time.time()
    (work / "ranges.csv").write_text("prefix,operator\n+4915,OPA\n+4916,OPB\n")
    with open(work / "ported.csv", "w") as f:
        f.write("number,operator\n")
        f.writelines(f"+{num},{op}\n" for num, op in ported)
    # queries: 60 % ported, 30 % not ported in a range, 10 % unknown
    q_ported = [rng.choice(ported)[0] for _ in range(args.queries * 6 // 10)]
    not_ported = sorted({(PORTED_A if rng.random() < 0.5 else PORTED_B) + 3 * rng.randrange(max(half, 1)) + 1
                         for _ in range(args.queries * 3 // 10)})
    q_home = [rng.choice(not_ported) for _ in range(args.queries * 3 // 10)]
    q_unknown = [UNKNOWN + rng.randrange(10**9) for _ in range(args.queries - len(q_ported) - len(q_home))]
    queries = q_ported + q_home + q_unknown
    rng.shuffle(queries)
    with open(work / "queries.txt", "w") as f:
        f.writelines(f"{enum_name(q)} NAPTR\n" for q in queries)
    with open(work / "zone", "w") as f:
        f.write(f"$ORIGIN {ORIGIN}.\n$TTL 0\n@ SOA ns.{ORIGIN}. hostmaster.{ORIGIN}. 1 3600 600 86400 0\n@ NS ns.{ORIGIN}.\n")
        f.writelines(f"{enum_name(num)}. NAPTR {naptr(num, RN[op])}\n" for num, op in ported)
        f.writelines(f"{enum_name(num)}. NAPTR {naptr(num, None)}\n" for num in not_ported)
    print(f"data: {n} ported numbers, {len(not_ported)} not-ported numbers queried, "
          f"{len(queries)} queries; made in {time.time() - t:.0f} s", flush=True)
    return queries, q_ported[0]


def make_devnet(npchain, work):
    """A devnet of two operators (OPA, OPB) holding the migration list; its base ports."""
    ports = {k: free_port() for k in ("http", "dns", "p2p")}
    # the devnet uses base and base + 1 of each
    while any(not port_free(p + 1) for p in ports.values()):
        ports = {k: free_port() for k in ("http", "dns", "p2p")}
    sh(str(npchain), "devnet", "--validators", "2", "--data", str(work / "devnet"), "--fresh", "--print-only",
       "--ranges", str(work / "ranges.csv"), "--ported", str(work / "ported.csv"),
       "--http-port", str(ports["http"]), "--dns-port", str(ports["dns"]), "--p2p-port", str(ports["p2p"]))
    return ports


def port_free(port):
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def set_dns_threads(config, threads):
    """Writes `threads = T` into the [dns] section of a node config (replacing one there)."""
    text = re.sub(r"^threads = \d+\n", "", config.read_text(), flags=re.M)
    assert "\n[dns]\n" in text, f"{config} has a [dns] section"
    config.write_text(text.replace("\n[dns]\n", f"\n[dns]\nthreads = {threads}\n", 1))


class Nodes:
    """Starts npchain nodes with `[dns] threads = T`."""

    def __init__(self, npchain, work, procs, threads):
        self.npchain, self.work, self.procs, self.threads = npchain, work, procs, threads

    def start(self, name, config, dns_port):
        set_dns_threads(config, self.threads)
        log_path = self.work / f"{name}.log"
        t = time.time()
        node = self.spawn(config, log_path)
        wait_for(f"{name} to load", lambda: node.poll() is not None or "hostmaster" in dig(dns_port, ORIGIN, "SOA"), 3600, 0.2)
        if node.poll() is not None:
            sys.exit(f"{name} stopped: {log_path.read_text()[-2000:]}")
        return node, time.time() - t

    def spawn(self, config, log_path):
        log = open(log_path, "a")
        node = subprocess.Popen([str(self.npchain), "node", "--config", str(config)], stdout=log, stderr=log)
        self.procs.append(node)
        return node

    def note(self):
        return f"[dns] threads = {self.threads}"


def start_knot(args, work, procs):
    kport = free_port()
    (work / "knot").mkdir(exist_ok=True)
    (work / "knot.conf").write_text(f"""server:
    listen: 127.0.0.1@{kport}
    rundir: {work}/knot
    udp-workers: {args.threads}
    tcp-workers: 1
    background-workers: 1
database:
    storage: {work}/knot
zone:
  - domain: {ORIGIN}
    file: {work}/zone
    storage: {work}/knot
    journal-content: none
    zonefile-sync: -1
    semantic-checks: off
log:
  - target: {work}/knot/knot.log
    any: info
""")
    t = time.time()
    log = open(work / "knot.out", "w")
    knot = subprocess.Popen(["knotd", "-c", str(work / "knot.conf")], stdout=log, stderr=log)
    procs.append(knot)
    wait_for("Knot to load", lambda: "hostmaster" in dig(kport, ORIGIN, "SOA"), 3600, 0.2)
    return knot, kport, time.time() - t


def same_answers(queries, a_port, b_port, names):
    for q in queries[:200]:
        for attempt in range(3):  # dig itself times out now and then on a busy machine
            a, b = dig(a_port, enum_name(q)), dig(b_port, enum_name(q))
            if a == b:
                break
        else:
            sys.exit(f"answers differ for +{q}: {names[0]} {a!r}, {names[1]} {b!r}")


def measure(args, port, proc, load):
    loaded_mem = memory(proc.pid)
    runs = [saturated(port, args.work / "queries.txt", args.seconds) for _ in range(args.runs)]
    qps = statistics.median(r["qps"] for r in runs)
    rate = args.paced_qps or max(int(qps / 2), 100)
    lat = paced(port, args.work / "queries.txt", 10, rate)
    return {
        "load_s": load, "memory_loaded": loaded_mem, "memory_after": memory(proc.pid),
        "qps_runs": [r["qps"] for r in runs], "qps_median": qps,
        "avg_latency_us_median": statistics.median(r["avg_latency_us"] for r in runs),
        "lost": sum(r["lost"] for r in runs), "paced": lat,
    }


def run(args, npchain, work, procs):
    args.work = work
    queries, sample = make_data(args, work)
    ports = make_devnet(npchain, work)
    # npchain: only node 0 runs (reads need no quorum)
    nodes = Nodes(npchain, work, procs, args.threads)
    node, np_load = nodes.start("npchain", work / "devnet/node-0/config.toml", ports["dns"])
    print(f"npchain: loaded in {np_load:.1f} s ({nodes.note()})", flush=True)
    knot, kport, knot_load = start_knot(args, work, procs)
    print(f"knot: loaded in {knot_load:.1f} s (udp-workers: {args.threads})", flush=True)
    same_answers(queries, ports["dns"], kport, ("npchain", "knot"))
    print(f"sample +{sample}: {dig(ports['dns'], enum_name(sample))}", flush=True)

    results = {"n": args.n, "queries": len(queries), "seconds": args.seconds, "runs": args.runs,
               "cores": os.cpu_count(), "threads": args.threads, "servers": {}}
    for name, port, proc, load in [("npchain", ports["dns"], node, np_load), ("knot", kport, knot, knot_load)]:
        results["servers"][name] = measure(args, port, proc, load)
        print(f"{name}: {results['servers'][name]}", flush=True)
    a, b = results["servers"]["npchain"], results["servers"]["knot"]
    results["ratio_qps"] = a["qps_median"] / b["qps_median"]
    suffix = f"-t{args.threads}" if args.threads != 1 else ""
    (ROOT / f"bench/enum/results-{args.n}{suffix}.json").write_text(json.dumps(results, indent=1) + "\n")

    mib = lambda x: x / 2**20
    rows = [
        ("load s", lambda r: r["load_s"], "{:.1f}"),
        ("RSS MiB", lambda r: mib(r["memory_after"]["rss_bytes"]), "{:.0f}"),
        ("peak RSS MiB", lambda r: mib(r["memory_after"]["peak_rss_bytes"]), "{:.0f}"),
        ("qps (median)", lambda r: r["qps_median"], "{:.0f}"),
        ("avg latency us (saturated)", lambda r: r["avg_latency_us_median"], "{:.0f}"),
        ("paced at qps", lambda r: r["paced"]["rate"], "{:.0f}"),
        ("p50 us (paced)", lambda r: r["paced"]["p50_us"], "{:.0f}"),
        ("p99 us (paced)", lambda r: r["paced"]["p99_us"], "{:.0f}"),
    ]
    print(f"\nENUM, {args.n} ported numbers, {len(queries)} queries, {os.cpu_count()} cores shared with dnsperf; "
          f"UDP threads: knot {args.threads}, npchain {nodes.note()}")
    print(f"{'':<28} {'npchain':>10} {'knot':>10} {'npchain/knot':>13}")
    for label, get, fmt in rows:
        x, y = get(a), get(b)
        print(f"{label:<28} {fmt.format(x):>10} {fmt.format(y):>10} {x / y if y else float('nan'):>13.2f}")


def observer_config(work, node0, name, ports, index):
    """A config for an observer: node 0's settings, its own key, data and ports, every validator a peer."""
    c = tomllib.loads(node0.read_text())
    base = node0.parent
    absolute = lambda p: str((base / p).resolve())
    genesis = tomllib.loads(Path(absolute(c["genesis"])).read_text())
    d = work / name
    sh(str(ROOT / "target/release/npchain"), "init", "--dir", str(d), "--operator", "OBS", "--name", "observer",
       "--p2p-address", f"127.0.0.1:{ports['p2p'] + 2 + index}", "--routing-number", "+49D0FF")
    key = tomllib.loads((d / "operator.toml").read_text())["validator_key"]
    value = lambda v: ("true" if v else "false") if isinstance(v, bool) else json.dumps(v)
    out = [f"data_dir = {json.dumps(str(d / 'data'))}", f"genesis = {json.dumps(absolute(c['genesis']))}"]
    if "ported" in c:
        out.append(f"ported = {json.dumps(absolute(c['ported']))}")
    out += [f"validator_key = {json.dumps(str(d / 'validator.key'))}", "", "[p2p]",
            f"listen = \"127.0.0.1:{ports['p2p'] + 2 + index}\""]
    out += [f"{k} = {value(v)}" for k, v in c["p2p"].items() if k not in ("listen", "peers")]
    for i, op in enumerate(genesis["operators"]):
        out += ["[[p2p.peers]]", f"key = {json.dumps(op['validator_key'])}",
                f"address = \"127.0.0.1:{ports['p2p'] + i}\""]
    out += ["", "[http]", f"listen = \"127.0.0.1:{ports['http'] + 2 + index}\""]
    out += ["", "[dns]", f"listen = \"127.0.0.1:{ports['dns'] + 2 + index}\"", f"origin = {json.dumps(c['dns']['origin'])}"]
    for section in ("consensus", "storage"):
        if section in c:
            out += ["", f"[{section}]"] + [f"{k} = {value(v)}" for k, v in c[section].items()]
    (d / "config.toml").write_text("\n".join(out) + "\n")
    return d / "config.toml", key


def add_peer(config, key, address):
    """Lists one more p2p peer in a validator's config (before its [http] section)."""
    text = config.read_text()
    entry = f'[[p2p.peers]]\nkey = "{key}"\naddress = "{address}"\n'
    config.write_text(text.replace("\n[http]\n", f"{entry}\n[http]\n", 1))


def status(http_port):
    try:
        return json.loads(urllib.request.urlopen(f"http://127.0.0.1:{http_port}/v1/status", timeout=3).read())
    except OSError:
        return None


def observe(args, npchain, work, procs):
    args.work = work
    queries, sample = make_data(args, work)
    ports = make_devnet(npchain, work)
    for p in ports.values():
        if not port_free(p + 2):
            sys.exit(f"port {p + 2} for the observer is taken; run again")
    validators = [work / f"devnet/node-{i}/config.toml" for i in range(2)]
    obs_config, obs_key = observer_config(work, validators[0], "observer", ports, 0)
    for v in validators:
        add_peer(v, obs_key, f"127.0.0.1:{ports['p2p'] + 2}")
    nodes = Nodes(npchain, work, procs, args.threads)
    v0, v0_load = nodes.start("validator-0", validators[0], ports["dns"])
    v1, _ = nodes.start("validator-1", validators[1], ports["dns"] + 1)
    obs, obs_load = nodes.start("observer", obs_config, ports["dns"] + 2)
    print(f"validators and observer loaded ({nodes.note()})", flush=True)
    wait_for("blocks on the validators", lambda: (status(ports["http"]) or {}).get("height", 0) >= 3, 600, 0.2)
    target = status(ports["http"])["height"]
    wait_for("the observer to follow", lambda: (status(ports["http"] + 2) or {}).get("height", 0) >= target, 600, 0.2)
    st = status(ports["http"] + 2)
    print(f"observer at height {st['height']} (validators at {status(ports['http'])['height']}), "
          f"operator {st.get('operator')}", flush=True)
    same_answers(queries, ports["dns"], ports["dns"] + 2, ("validator", "observer"))
    print(f"sample +{sample}: {dig(ports['dns'] + 2, enum_name(sample))}", flush=True)

    results = {"n": args.n, "queries": len(queries), "seconds": args.seconds, "runs": args.runs,
               "cores": os.cpu_count(), "threads": args.threads, "npchain_threads": nodes.note()}
    q = work / "queries.txt"
    results["validator_alone"] = statistics.median(saturated(ports["dns"], q, args.seconds)["qps"] for _ in range(args.runs))
    results["observer_alone"] = statistics.median(saturated(ports["dns"] + 2, q, args.seconds)["qps"] for _ in range(args.runs))
    together = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            outs = [open(Path(tmp) / f"{i}", "w+") for i in range(2)]
            ps = [subprocess.Popen(["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(q), "-l", str(args.seconds),
                                    "-c", "8", "-T", "1", "-q", "256"], stdout=o, stderr=subprocess.STDOUT, text=True)
                  for port, o in zip((ports["dns"], ports["dns"] + 2), outs)]
            for p in ps:
                p.wait()
            qps = []
            for o in outs:
                o.seek(0)
                qps.append(float(re.search(r"Queries per second:\s+([\d.]+)", o.read()).group(1)))
            together.append(qps)
    together.sort(key=sum)
    mid = together[len(together) // 2]
    results["together"] = {"validator": mid[0], "observer": mid[1], "sum": sum(mid), "runs": together}
    results["heights_after"] = {"validator": status(ports["http"])["height"], "observer": status(ports["http"] + 2)["height"]}
    results["rss_bytes"] = {"validator": memory(v0.pid)["rss_bytes"], "observer": memory(obs.pid)["rss_bytes"]}
    (ROOT / f"bench/enum/results-{args.n}-observer.json").write_text(json.dumps(results, indent=1) + "\n")
    print(f"\nENUM read scale-out, {args.n} ported numbers, {os.cpu_count()} cores shared by both validators, "
          f"the observer and dnsperf; npchain {nodes.note()}")
    print(f"  validator alone        {results['validator_alone']:>10.0f} qps")
    print(f"  observer alone         {results['observer_alone']:>10.0f} qps")
    print(f"  both at once           {mid[0]:>10.0f} + {mid[1]:.0f} = {sum(mid):.0f} qps")
    print(f"  heights after: {results['heights_after']}")


if __name__ == "__main__":
    main()
