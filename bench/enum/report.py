#!/usr/bin/env python3
"""bench/enum/run.sh's summary: report.py META RAW OUT.json (prints a table, writes OUT.json)."""

import json, statistics, sys


def kv(text):
    return dict(item.split("=", 1) for item in text.split() if "=" in item)


def num(v):
    try:
        return int(v)
    except ValueError:
        try:
            return float(v)
        except ValueError:
            return v


meta = dict(line.split("=", 1) for line in open(sys.argv[1]).read().splitlines() if "=" in line)
runs = {"npchain": [], "knot": []}
paced = {}
for line in open(sys.argv[2]):
    kind, server, _, rest = (line.rstrip("\n").split(" ", 3) + [""])[:4]
    if kind == "saturated":
        codes = rest.split("codes=", 1)[1] if "codes=" in rest else ""
        r = {k: num(v) for k, v in kv(rest.split("codes=")[0]).items()}
        r["codes"] = codes
        runs[server].append(r)
    elif kind == "paced":
        paced[server] = {k: num(v) for k, v in kv(rest).items()}
    elif kind == "paced-lost":
        paced.setdefault(server, {})["lost"] = rest


def memory(s):
    m = kv(s)
    return {"rss_kib": int(m["VmRSS"]), "peak_kib": int(m["VmHWM"])}


out = {k: num(v) for k, v in meta.items() if not k.startswith(("npchain_", "knot_")) or k.endswith(("_version", "_commit", "wildcards"))}
out["servers"] = {}
for s in ("npchain", "knot"):
    rs = runs[s]
    out["servers"][s] = {
        "load_s": float(meta[f"{s}_load_s"]),
        "memory_loaded": memory(meta[f"{s}_mem_loaded"]),
        "memory_after": memory(meta[f"{s}_mem_after"]),
        "qps_runs": [r["qps"] for r in rs],
        "qps_median": statistics.median(r["qps"] for r in rs),
        "avg_latency_us_median": round(statistics.median(r["avg_s"] for r in rs) * 1e6),
        "lost": sum(r["lost"] for r in rs),
        "sent": sum(r["sent"] for r in rs),
        "response_codes_last_run": rs[-1]["codes"],
        "paced": paced.get(s, {}),
    }
with open(sys.argv[3], "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")

mib = lambda kib: kib / 1024
print(f"\nENUM, N={out['n']:,} ported numbers, {out['queries']:,} queries, {out['cores']} cores shared by "
      f"dnsperf and both servers; dnsperf {meta['dnsperf_opts']} -l {out['seconds']} x {out['runs']} "
      f"(medians); latency percentiles from a paced run at {out['paced_qps']} q/s")
print(f"{'server':<8} {'load s':>7} {'RSS MiB loaded/after (peak)':>28} {'q/s median':>11} {'q/s runs':>26} "
      f"{'avg us':>7} {'p50/p99/p99.9 us':>18} {'lost':>6}")
for s, r in out["servers"].items():
    ml, ma, p = r["memory_loaded"], r["memory_after"], r["paced"]
    mem = f"{mib(ml['rss_kib']):.0f}/{mib(ma['rss_kib']):.0f} ({mib(ma['peak_kib']):.0f})"
    runs_s = ",".join(f"{q:.0f}" for q in r["qps_runs"])
    pct = f"{p.get('p50_us', '-')}/{p.get('p99_us', '-')}/{p.get('p999_us', '-')}"
    print(f"{s:<8} {r['load_s']:>7.1f} {mem:>28} {r['qps_median']:>11.0f} {runs_s:>26} "
          f"{r['avg_latency_us_median']:>7} {pct:>18} {r['lost']:>6}")
print(f"Knot zone: {out.get('stat_zone_records')} records ({out.get('stat_wildcards')} wildcards, "
      f"mode {out.get('knot_wildcards')}); written to {sys.argv[3]}")
