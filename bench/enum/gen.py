#!/usr/bin/env python3
"""Data for bench/enum/run.sh: the same routing records for npchain and for Knot DNS.

    gen.py N QUERIES OUTDIR [SEED]

Writes into OUTDIR:
  ranges.csv   prefix,operator       six number ranges, OPA's and OPB's
  ported.csv   number,operator       N distinct ported numbers, each ported to the other operator
  zone         Knot zone file of e164.arpa.: SOA, NS, one NAPTR per ported number, and wildcard
               NAPTRs that answer every not-ported number of a range (see below)
  queries.txt  QUERIES dnsperf lines "<name> NAPTR", shuffled: 60 % ported numbers, 30 % numbers
               of a range that are not ported, 10 % numbers in no range (NXDOMAIN)
  check.txt    a few "<kind> <number> <expected rn or ->" lines for the dig checks
  stats.txt    key=value counts (ported, wildcards, queries by kind)

Wildcards: a DNS wildcard `*.X` only answers a name whose closest existing ancestor is X
(RFC 4592). The ported numbers' names create every intermediate digit name below a range
(empty non-terminals), so one wildcard at the range would almost never match. The zone gets a
wildcard at the range's name AND at every empty non-terminal below it; then every not-ported
number of a range is answered, which is what npchain answers from its range table. The
wildcard's answer is `!^(.*)$!tel:\\1;npdi!` (the query's own number substituted by the
client) where npchain writes the number literally: `!^.*$!tel:+<number>;npdi!`.
"""

import bisect, random, sys
from pathlib import Path

# (prefix, digits of the whole number, holder); ported numbers go to the other operator
RANGES = [
    ("49151", 13, "OPA"), ("49152", 13, "OPA"),
    ("49160", 13, "OPB"), ("49162", 13, "OPB"),
    ("49170", 12, "OPA"), ("49176", 12, "OPB"),
]
UNKNOWN = ("49189", 13)  # in no range: NXDOMAIN on both servers
RN = {"OPA": "D001", "OPB": "D002"}  # a devnet's routing numbers (crates/cli/src/devnet.rs)
OTHER = {"OPA": "OPB", "OPB": "OPA"}
SVC = '100 10 "u" "E2U+pstn:tel"'


def rev(digits):
    return ".".join(reversed(digits))


def main():
    n, nq, out = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    rng = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 7)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ranges.csv").write_text("prefix,operator\n" + "".join(f"+{p},{op}\n" for p, _, op in RANGES))
    shares = [n // len(RANGES) + (1 if i < n % len(RANGES) else 0) for i in range(len(RANGES))]
    picked = []  # per range: sorted suffixes (ints)
    wildcards = 0
    with open(out / "ported.csv", "w") as csv, open(out / "zone", "w") as zone:
        csv.write("number,operator\n")
        zone.write("$ORIGIN e164.arpa.\n$TTL 0\n"
                   "@ SOA ns.e164.arpa. hostmaster.e164.arpa. 1 3600 600 86400 0\n@ NS ns.e164.arpa.\n")
        for (prefix, length, holder), k in zip(RANGES, shares):
            width = length - len(prefix)
            suffixes = sorted(rng.sample(range(10 ** width), k))
            picked.append(suffixes)
            to = OTHER[holder]
            tail = f";npdi;rn={RN[to]}!\" ."
            wild = f' NAPTR {SVC} "!^(.*)$!tel:\\\\1;npdi!" .\n'
            zone.write(f"*.{rev(prefix)}{wild}")
            wildcards += 1
            prev = None
            csv_lines, zone_lines = [], []
            for s in suffixes:
                d = f"{s:0{width}d}"
                csv_lines.append(f"+{prefix}{d},{to}\n")
                # new empty non-terminals: the ancestors (below the range) not shared with prev
                common = 0
                if prev is not None:
                    while common < width and prev[common] == d[common]:
                        common += 1
                for cut in range(common + 1, width):
                    zone_lines.append(f"*.{rev(prefix + d[:cut])}{wild}")
                    wildcards += 1
                zone_lines.append(f'{rev(prefix + d)} NAPTR {SVC} "!^.*$!tel:+{prefix}{d}{tail}\n')
                prev = d
                if len(zone_lines) > 200_000:
                    csv.writelines(csv_lines), zone.writelines(zone_lines)
                    csv_lines, zone_lines = [], []
            csv.writelines(csv_lines), zone.writelines(zone_lines)

    def number(i, s):
        prefix, length, _ = RANGES[i]
        return f"{prefix}{s:0{length - len(prefix)}d}"

    def ported_pick():
        i = rng.randrange(len(RANGES))
        while not picked[i]:
            i = rng.randrange(len(RANGES))
        s = picked[i][rng.randrange(len(picked[i]))]
        return number(i, s), RN[OTHER[RANGES[i][2]]]

    def home_pick():
        while True:
            i = rng.randrange(len(RANGES))
            width = RANGES[i][1] - len(RANGES[i][0])
            s = rng.randrange(10 ** width)
            j = bisect.bisect_left(picked[i], s)
            if j == len(picked[i]) or picked[i][j] != s:
                return number(i, s)

    def unknown_pick():
        prefix, length = UNKNOWN
        return f"{prefix}{rng.randrange(10 ** (length - len(prefix))):0{length - len(prefix)}d}"

    n_ported, n_home = nq * 6 // 10, nq * 3 // 10
    n_unknown = nq - n_ported - n_home
    queries = ([ported_pick()[0] for _ in range(n_ported)] + [home_pick() for _ in range(n_home)]
               + [unknown_pick() for _ in range(n_unknown)])
    rng.shuffle(queries)
    with open(out / "queries.txt", "w") as f:
        f.writelines(f"{rev(q)}.e164.arpa NAPTR\n" for q in queries)
    with open(out / "check.txt", "w") as f:
        for _ in range(8):
            num, rn = ported_pick()
            f.write(f"ported {num} {rn}\n")
        for _ in range(6):
            f.write(f"home {home_pick()} -\n")
        for _ in range(3):
            f.write(f"unknown {unknown_pick()} -\n")
    (out / "stats.txt").write_text(
        f"ported={n}\nwildcards={wildcards}\nzone_records={n + wildcards + 2}\nqueries={nq}\n"
        f"queries_ported={n_ported}\nqueries_home={n_home}\nqueries_unknown={n_unknown}\n")


if __name__ == "__main__":
    main()
