#!/usr/bin/env python3
"""Writes docs/performance.md and its plots from one run of bench/compare.sh.

    report.py RESULTS.tsv MEMORY.tsv OUT_DIR SECONDS REPS OBJECTS

RESULTS.tsv: section, case, then p11cluster-bench's line (module op threads
seconds ops ops_per_s p50_us p99_us max_us errors). MEMORY.tsv: name
rss_before_kib rss_after_kib objects. Several runs of one case are reduced
to their median. Plots are drawn with gnuplot (PNG) into OUT_DIR/perf/.
bench/performance-notes.md, if present, is appended as it is.
"""
import datetime
import os
import platform
import statistics
import subprocess
import sys
from collections import defaultdict

results_path, memory_path, out_dir, seconds, reps, objects = sys.argv[1:7]
perf_dir = os.path.join(out_dir, "perf")
os.makedirs(perf_dir, exist_ok=True)

runs = defaultdict(list)  # (section, case, op, threads) -> [row]
for line in open(results_path):
    f = line.rstrip("\n").split("\t")
    if len(f) < 12:
        continue
    section, case, _module, op, threads = f[0], f[1], f[2], f[3], int(f[4])
    row = {"ops_s": float(f[7]), "p50": float(f[8]), "p99": float(f[9]), "max": float(f[10]),
           "errors": int(f[11])}
    runs[(section, case, op, threads)].append(row)


def median(section, case, op, threads, field="ops_s"):
    rows = runs.get((section, case, op, threads))
    return statistics.median(r[field] for r in rows) if rows else None


def fmt(x, digits=0):
    if x is None:
        return "—"
    return f"{x:,.{digits}f}"


def plot(name, script):
    path = os.path.join(perf_dir, name)
    full = f"set terminal pngcairo size 900,480 font 'sans,10'\nset output '{path}'\n" + script
    try:
        subprocess.run(["gnuplot"], input=full.encode(), check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"report.py: no plot {name}: {e}", file=sys.stderr)


def data_file(name, rows):
    path = os.path.join(perf_dir, name)
    with open(path, "w") as f:
        for r in rows:
            f.write("\t".join(str(x) for x in r) + "\n")
    return path


md = []
cpu = "unknown"
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
except OSError:
    pass
md.append("# Performance\n")
md.append(f"Written by `bench/compare.sh` on {datetime.date.today().isoformat()}, one run: "
          f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}. "
          f"Every figure is the median of {reps} runs of {seconds} s each (after a 1 s warm-up), "
          "the runs of one comparison interleaved so that drift on the machine hits every side "
          "alike. Keys are token objects on every side. Each operation is the whole PKCS#11 "
          "sequence an application makes (`C_SignInit` + `C_Sign`, `C_GenerateRandom`, ...); "
          "see bench/README.md.\n")

# --- 1. overhead -------------------------------------------------------------
ops = ["rsa-sign", "ecdsa-sign", "aes-gcm", "sha256", "random", "ec-keygen"]
md.append("## 1. Overhead: one member through the cluster\n")
md.append("SoftHSM directly, the cluster over that one SoftHSM token (an in-process member), "
          "and p11-kit's proxy module over the same SoftHSM. Target: the cluster at least 0.97 "
          "of direct, and never slower than p11-kit's proxy.\n")
md.append("Ratios are the median of the ratios of runs made one after the other (run i of "
          "the cluster over run i of SoftHSM), with their range over the runs: the range shows "
          "how much the machine itself moved while it measured.\n")
md.append("| operation | threads | SoftHSM ops/s | cluster ops/s | cluster / direct (range) | "
          "p11-kit proxy ops/s | proxy / direct (range) | cluster >= 0.97 | cluster / proxy |")
md.append("|---|---|---|---|---|---|---|---|---|")
bars = []
missed = []


def paired(a_case, b_case, op, t):
    a = runs.get(("overhead", a_case, op, t), [])
    b = runs.get(("overhead", b_case, op, t), [])
    ratios = [x["ops_s"] / y["ops_s"] for x, y in zip(a, b) if y["ops_s"] > 0]
    if not ratios:
        return None, None, None
    return statistics.median(ratios), min(ratios), max(ratios)


for op in ops:
    for t in (1, 2):
        d = median("overhead", "softhsm", op, t)
        c = median("overhead", "p11cluster", op, t)
        p = median("overhead", "p11-kit-proxy", op, t)
        if d is None:
            continue
        rc, rc_lo, rc_hi = paired("p11cluster", "softhsm", op, t)
        rp, rp_lo, rp_hi = paired("p11-kit-proxy", "softhsm", op, t)
        cp, _, _ = paired("p11cluster", "p11-kit-proxy", op, t)
        ok = rc is not None and rc >= 0.97
        if not ok:
            missed.append(f"{op} x{t}")
        md.append(f"| {op} | {t} | {fmt(d)} | {fmt(c)} | {fmt(rc, 3)} ({fmt(rc_lo, 2)}–{fmt(rc_hi, 2)}) "
                  f"| {fmt(p)} | {fmt(rp, 3)} ({fmt(rp_lo, 2)}–{fmt(rp_hi, 2)}) | "
                  f"{'met' if ok else '**missed**'} | {fmt(cp, 3)} |")
        bars.append((f'"{op} x{t}"', f"{rc or 0:.4f}", f"{rp or 0:.4f}"))
md.append("")
md.append("0.97 of direct met for every operation." if not missed else
          "0.97 of direct missed for: " + ", ".join(missed) + " (see the notes below).")
md.append("\n![overhead](perf/overhead.png)\n")
f = data_file("overhead.dat", bars)
plot("overhead.png", f"""
set title 'Throughput relative to SoftHSM directly (1.0 = direct)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set yrange [0.6:1.15]
set ytics 0.05
set grid ytics
set xtics rotate by -30
set arrow from graph 0, first 0.97 to graph 1, first 0.97 nohead dt 2 lc rgb 'red'
plot '{f}' using 2:xtic(1) title 'p11cluster (1 member)', '' using 3 title "p11-kit proxy"
""")

# --- 2. scaling --------------------------------------------------------------
policies = ["round-robin", "random", "weighted", "least-outstanding", "latency-aware"]
sizes = [1, 2, 4, 8]
cap = median("scaling", "capacity-1", "ecdsa-sign", 8)
md.append("## 2. Scaling over simulated HSMs\n")
md.append("Each member is a simulated network HSM (`tests/support/sim_hsm.cpp`: SoftHSM behind "
          "a 2 ms service time and 2 calls at once, so at most 1,000 ECDSA P-256 signatures/s). "
          f"One member measured directly with 8 threads gives {fmt(cap)} signatures/s: the "
          "capacity of one. The cluster runs 4 client threads per member. Target: at least 95% "
          "of N x that capacity at every size.\n")
md.append("| policy | " + " | ".join(f"{n} member{'s' if n > 1 else ''}" for n in sizes) + " |")
md.append("|---|" + "---|" * len(sizes))
scale_rows = []
scale_missed = []
for policy in policies:
    cells = []
    for n in sizes:
        v = median("scaling", f"{policy}/{n}", "ecdsa-sign", 4 * n)
        share = v / (n * cap) if v and cap else None
        if share is not None and share < 0.95:
            scale_missed.append(f"{policy} at {n}")
        cells.append(f"{fmt(v)} ({fmt(share * 100 if share else None, 1)}%)")
    md.append(f"| {policy} | " + " | ".join(cells) + " |")
for n in sizes:
    scale_rows.append([n, n * (cap or 0)] +
                      [median("scaling", f"{p}/{n}", "ecdsa-sign", 4 * n) or 0 for p in policies])
md.append("")
md.append("Met by every policy at every size." if not scale_missed else
          "Below 95%: " + ", ".join(scale_missed) + " (see the notes below).")
md.append("\n![scaling](perf/scaling.png)\n")
f = data_file("scaling.dat", scale_rows)
lines = ", ".join(f"'{f}' using 1:{i + 3} with linespoints title '{p}'" for i, p in enumerate(policies))
plot("scaling.png", f"""
set title 'Signatures/s over N simulated HSMs (1,000/s each)'
set xlabel 'members'
set ylabel 'ops/s'
set xtics (1, 2, 4, 8)
set key left top
set grid
plot '{f}' using 1:2 with lines dt 2 lc rgb 'black' title 'N x capacity', {lines}
""")

# --- 3. heterogeneous --------------------------------------------------------
md.append("## 3. One member five times slower\n")
md.append("Three simulated members at 1 ms per signature and one at 5 ms, one call at once "
          "each. \"fast only\" is the three fast members alone with the same policy. With 3 "
          "client threads the fast members alone can just serve the load; with 6 they are "
          "overloaded and the slow member's capacity is needed. Target (at 3 threads): "
          "least-outstanding and latency-aware keep p99 within 1.5x of the fast members alone; "
          "round-robin shows the difference.\n")
md.append("| policy | threads | fast only: ops/s, p99 µs | with the slow member: ops/s, p99 µs "
          "| p99 ratio | target |")
md.append("|---|---|---|---|---|---|")
het_rows = []
het_missed = []
for policy in ["round-robin", "least-outstanding", "latency-aware"]:
    for t in (3, 6):
        fo = median("hetero", f"{policy}/fast/{t}", "ecdsa-sign", t)
        fp = median("hetero", f"{policy}/fast/{t}", "ecdsa-sign", t, "p99")
        ao = median("hetero", f"{policy}/all/{t}", "ecdsa-sign", t)
        ap = median("hetero", f"{policy}/all/{t}", "ecdsa-sign", t, "p99")
        ratio = ap / fp if ap and fp else None
        target = "—"
        if t == 3 and policy != "round-robin":
            target = "met" if ratio is not None and ratio <= 1.5 else "**missed**"
            if target != "met":
                het_missed.append(policy)
        md.append(f"| {policy} | {t} | {fmt(fo)}, {fmt(fp)} | {fmt(ao)}, {fmt(ap)} | "
                  f"{fmt(ratio, 2)} | {target} |")
        het_rows.append((f'"{policy} x{t}"', fp or 0, ap or 0))
md.append("")
md.append("Met by both policies." if not het_missed else
          "Missed by: " + ", ".join(het_missed) + " (see the notes below).")
md.append("\n![heterogeneous](perf/heterogeneous.png)\n")
f = data_file("heterogeneous.dat", het_rows)
plot("heterogeneous.png", f"""
set title 'p99 latency (µs): three 1 ms members alone, and with a 5 ms member added'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set grid ytics
set yrange [0:*]
set xtics rotate by -20
plot '{f}' using 2:xtic(1) title 'fast members only', '' using 3 title 'with the slow member'
""")

# --- 4. replication and memory -------------------------------------------------
md.append("## 4. What replication and the object index cost\n")
d = median("replication", "softhsm", "ec-keygen", 1)
c = median("replication", "p11cluster-3", "ec-keygen", 1)
dp = median("replication", "softhsm", "ec-keygen", 1, "p50")
cp = median("replication", "p11cluster-3", "ec-keygen", 1, "p50")
md.append("EC P-256 key pairs (token objects) generated and destroyed, one thread: on one "
          "SoftHSM token directly, and through a cluster of three in-process SoftHSM members "
          "(generated on one member, wrapped under the transport key and unwrapped on the "
          "other two, committed on all three; the destroy reaches all three).\n")
md.append("| | key pairs/s | p50 ms |")
md.append("|---|---|---|")
md.append(f"| SoftHSM, one token | {fmt(d, 1)} | {fmt(dp / 1000 if dp else None, 1)} |")
md.append(f"| p11cluster, 3 members | {fmt(c, 1)} | {fmt(cp / 1000 if cp else None, 1)} |")
if d and c:
    md.append(f"\nThe cluster makes a replicated key pair at {c / d:.2f} of the rate of one "
              f"token ({d / c:.1f}x the time).\n")
md.append(f"Resident memory of a process that loads the module, logs in and reads the label of "
          f"every object, with {int(objects):,} private data objects on the token:\n")
md.append("| | RSS before loading, MiB | RSS after, MiB | objects seen |")
md.append("|---|---|---|---|")
mem = {}
for line in open(memory_path):
    name, before, after, count = line.split()
    mem[name] = (int(before), int(after), int(count))
    md.append(f"| {name} | {int(before) / 1024:.1f} | {int(after) / 1024:.1f} | {count} |")
if "softhsm" in mem and "p11cluster" in mem:
    extra = mem["p11cluster"][1] - mem["softhsm"][1]
    md.append(f"\nThe cluster's process holds {extra / 1024:.1f} MiB more than SoftHSM alone "
              f"({extra * 1024 / max(1, mem['p11cluster'][2]):.0f} bytes per object): its own "
              "index of the objects, its sessions on the member, and its libraries.\n")

notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "performance-notes.md")
if os.path.exists(notes):
    md.append(open(notes).read())
with open(os.path.join(out_dir, "performance.md"), "w") as f:
    f.write("\n".join(md).rstrip() + "\n")
