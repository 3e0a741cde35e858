#!/usr/bin/env python3
"""ENUM answers, npchain vs Knot DNS, measured with dnsperf on the same data and queries.

    bench/enum/run.py N [--seconds S] [--runs R] [--keep DIR]

Makes N ported numbers (half of them +4915… ported OPA->OPB, half +4916… OPB->OPA), loads them
into one npchain node as the genesis migration list, and writes the same routing records as a
Knot zone file. Queries: 60 % ported numbers, 30 % numbers in a range that are not ported, 10 %
numbers in no range (NXDOMAIN). Knot gets an explicit record for every not-ported number the
queries ask (a zone file cannot hold "every number of a range" with npchain's exact answer
text; a wildcard would not match below the names the ported numbers create). Both servers
answer the same NAPTR text for every query (checked with dig before measuring).

Per server: load time, resident memory (VmRSS and peak VmHWM), saturated queries/s with
dnsperf, and latency percentiles from a paced dnsperf run. Prints a table and writes
bench/enum/results-N.json. Needs Debian packages knot, dnsperf, dnsutils (installed if missing)
and a release build (`cargo build --release`, done here).
"""

import argparse, json, os, random, re, shutil, signal, socket, statistics, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ORIGIN = "e164.arpa"
PORTED_A, PORTED_B = 4915_000_000_000, 4916_000_000_000  # OPA's and OPB's ranges +4915, +4916
UNKNOWN = 4940_000_000_000  # in no range
RN = {"OPA": "+49D001", "OPB": "+49D002"}


def sh(*args, **kw):
    return subprocess.run(args, check=True, text=True, capture_output=True, **kw).stdout


def need(tool, package):
    if shutil.which(tool) is None:
        subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def enum_name(number):
    return ".".join(reversed(str(number))) + "." + ORIGIN


def naptr(number, rn):
    tail = f";rn={rn}" if rn else ""
    return f'100 10 "u" "E2U+pstn:tel" "!^.*$!tel:+{number};npdi{tail}!" .'


def memory(pid):
    status = Path(f"/proc/{pid}/status").read_text()
    get = lambda k: int(re.search(rf"{k}:\s+(\d+) kB", status).group(1)) * 1024
    return {"rss_bytes": get("VmRSS"), "peak_rss_bytes": get("VmHWM")}


def wait_for(what, cond, limit=3600):
    start = time.time()
    while time.time() - start < limit:
        if cond():
            return time.time() - start
        time.sleep(0.2)
    sys.exit(f"timed out waiting for {what}")


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
    ap.add_argument("--paced-qps", type=int, default=10_000)
    ap.add_argument("--queries", type=int, default=1_000_000)
    ap.add_argument("--keep", help="work in this directory and leave it")
    args = ap.parse_args()
    for tool, package in [("knotd", "knot"), ("dnsperf", "dnsperf"), ("dig", "dnsutils")]:
        need(tool, package)
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
        run(args, npchain, work, procs)
    finally:
        stop()


def run(args, npchain, work, procs):
    n, rng = args.n, random.Random(7)
    half = n // 2
    ported = [(PORTED_A + 3 * i, "OPB") for i in range(half)] + [(PORTED_B + 3 * i, "OPA") for i in range(n - half)]
    home = lambda num: "OPA" if num < PORTED_B else "OPB"
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

    # npchain: a devnet of two operators; only node 0 runs (reads need no quorum)
    ports = {k: free_port() for k in ("http", "dns", "p2p")}
    sh(str(npchain), "devnet", "--validators", "2", "--data", str(work / "devnet"), "--fresh", "--print-only",
       "--ranges", str(work / "ranges.csv"), "--ported", str(work / "ported.csv"),
       "--http-port", str(ports["http"]), "--dns-port", str(ports["dns"]), "--p2p-port", str(ports["p2p"]))
    log = open(work / "npchain.log", "w")
    t = time.time()
    node = subprocess.Popen([str(npchain), "node", "--config", str(work / "devnet/node-0/config.toml")],
                            stdout=log, stderr=log)
    procs.append(node)
    wait_for("npchain to load", lambda: "hostmaster" in dig(ports["dns"], ORIGIN, "SOA"))
    np_load = time.time() - t
    print(f"npchain: loaded in {np_load:.1f} s", flush=True)

    # Knot DNS, same records
    kport = free_port()
    (work / "knot").mkdir(exist_ok=True)
    (work / "knot.conf").write_text(f"""server:
    listen: 127.0.0.1@{kport}
    rundir: {work}/knot
    udp-workers: {os.cpu_count()}
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
    knot = subprocess.Popen(["knotd", "-c", str(work / "knot.conf")], stdout=log, stderr=log)
    procs.append(knot)
    wait_for("Knot to load", lambda: "hostmaster" in dig(kport, ORIGIN, "SOA"), limit=3600)
    knot_load = time.time() - t
    print(f"knot: loaded in {knot_load:.1f} s", flush=True)

    # the same answers
    for q in queries[:200]:
        for attempt in range(3):  # dig itself times out now and then on a busy machine
            a, b = dig(ports["dns"], enum_name(q)), dig(kport, enum_name(q))
            if a == b:
                break
        else:
            sys.exit(f"answers differ for +{q}: npchain {a!r}, knot {b!r}")
    sample = q_ported[0]
    print(f"sample +{sample}: {dig(ports['dns'], enum_name(sample))}", flush=True)

    results = {"n": n, "queries": len(queries), "seconds": args.seconds, "runs": args.runs,
               "cores": os.cpu_count(), "servers": {}}
    for name, port, proc, load in [("npchain", ports["dns"], node, np_load), ("knot", kport, knot, knot_load)]:
        loaded_mem = memory(proc.pid)
        runs = [saturated(port, work / "queries.txt", args.seconds) for _ in range(args.runs)]
        lat = paced(port, work / "queries.txt", 10, args.paced_qps)
        results["servers"][name] = {
            "load_s": load, "memory_loaded": loaded_mem, "memory_after": memory(proc.pid),
            "qps_runs": [r["qps"] for r in runs], "qps_median": statistics.median(r["qps"] for r in runs),
            "avg_latency_us_median": statistics.median(r["avg_latency_us"] for r in runs),
            "lost": sum(r["lost"] for r in runs), "paced": lat,
        }
        print(f"{name}: {results['servers'][name]}", flush=True)
    (ROOT / f"bench/enum/results-{n}.json").write_text(json.dumps(results, indent=1) + "\n")
    mib = lambda b: b / 2**20
    print(f"\nENUM, {n} ported numbers, {len(queries)} queries, {os.cpu_count()} cores shared with dnsperf")
    print(f"{'server':<8} {'load s':>7} {'RSS MiB':>8} {'peak MiB':>9} {'qps (median)':>13} {'avg us':>7} "
          f"{'p50 us':>7} {'p99 us':>7} (paced {args.paced_qps}/s)")
    for name, r in results["servers"].items():
        m = r["memory_after"]
        print(f"{name:<8} {r['load_s']:>7.1f} {mib(m['rss_bytes']):>8.0f} {mib(m['peak_rss_bytes']):>9.0f} "
              f"{r['qps_median']:>13.0f} {r['avg_latency_us_median']:>7.0f} {r['paced']['p50_us']:>7.0f} "
              f"{r['paced']['p99_us']:>7.0f}")


if __name__ == "__main__":
    main()
