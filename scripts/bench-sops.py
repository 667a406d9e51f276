#!/usr/bin/env python3
"""shroud vs the real sops 3.11, side by side in one run (issue: sops as the oracle).

Workloads: a ~5 MB YAML stream (1,000+ Secret documents with comments), a ~50 KB Kubernetes
Secrets file, and 200 small files encrypted and decrypted one process each. For each: median
wall time and CPU time (user + sys of the child) over RUNS runs, for encrypt and decrypt, and
the sops/shroud ratios. Usage: bench-sops.py SHROUD SOPS [RUNS]
"""
import os, resource, statistics, subprocess, sys, tempfile, time

SHROUD, SOPS = sys.argv[1], sys.argv[2]
RUNS = int(sys.argv[3]) if len(sys.argv) > 3 else 5
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
R1 = "age18wmw49a72cf2r3xg9vklvhuhql25dzv0ufwdrqf29fe25w7alshqxcgy93"
ENV = dict(os.environ, SOPS_AGE_KEY_FILE=os.path.join(ROOT, "keys/test-age.txt"),
           SOPS_DISABLE_VERSION_CHECK="1")


def document(i):
    lines = ["---", f"# service {i}: generated configuration", "apiVersion: v1", "kind: Secret",
             "metadata:", f"    name: service-{i}", f"    namespace: team-{i % 17}", "    labels:",
             f"        app: service-{i}", "        tier: backend # which tier", "stringData:"]
    for j in range(24):
        if j % 4 == 0:
            lines.append(f"    # credential group {j}")
        lines.append(f"    key_{j}: value-{i}-{j}-{'x' * (60 + (i * j) % 90)}")
    lines += [f"    port: {8000 + i}", f"    ratio: 0.{i % 97}", "    enabled: true", "    hosts:"]
    lines += [f"        - host-{j}.service-{i}.internal.example.com" for j in range(6)]
    lines.append("    certificate: |")
    lines += [f"        MIIC{j}{'A' * 56}" for j in range(12)]
    return "\n".join(lines) + "\n"


def stream(limit):
    out, i = [], 0
    size = 0
    while size < limit:
        d = document(i)
        out.append(d)
        size += len(d)
        i += 1
    return "".join(out), i


def run(cmd, cwd, stdout):
    """One process: wall seconds and the child's CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, env=ENV, stdout=stdout, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        sys.exit(f"{cmd}: exit {r.returncode}: {r.stderr.decode(errors='replace')[:300]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def measure(cmds, cwd):
    """Runs the command list RUNS times (plus a warm-up); medians of the totals."""
    walls, cpus = [], []
    for k in range(RUNS + 1):
        w = c = 0.0
        for cmd, out in cmds:
            with open(out, "wb") as f:
                dw, dc = run(cmd, cwd, f)
            w += dw
            c += dc
        if k:
            walls.append(w)
            cpus.append(c)
    return statistics.median(walls), statistics.median(cpus)


def main():
    d = tempfile.mkdtemp(prefix="bench-sops-")
    big, docs = stream(5_000_000)
    open(os.path.join(d, "stream.yaml"), "w").write(big)
    k8s, _ = stream(50_000)
    open(os.path.join(d, "secrets.yaml"), "w").write(k8s)
    small = os.path.join(d, "small")
    os.makedirs(small)
    for i in range(200):
        open(os.path.join(small, f"s{i}.yaml"), "w").write(
            f"db:\n    user: app{i}\n    password: pw-{i}-{'z' * 24}\n    port: {5000 + i}\n")
    rows = []
    for tool, exe in (("sops", SOPS), ("shroud", SHROUD)):
        # Encrypted inputs for the decrypt runs, written by each tool itself.
        for name in ("stream.yaml", "secrets.yaml"):
            with open(os.path.join(d, f"{tool}.{name}"), "wb") as f:
                run([exe, "encrypt", "--age", R1, name], d, f)
        for i in range(200):
            with open(os.path.join(small, f"{tool}.s{i}.yaml"), "wb") as f:
                run([exe, "encrypt", "--age", R1, f"s{i}.yaml"], small, f)
    null = os.devnull
    for label, name, n in (("5 MB YAML stream", "stream.yaml", 1), ("50 KB Secrets file", "secrets.yaml", 1)):
        for op in ("encrypt", "decrypt"):
            res = {}
            for tool, exe in (("sops", SOPS), ("shroud", SHROUD)):
                src = name if op == "encrypt" else f"{tool}.{name}"
                args = [exe, op] + (["--age", R1] if op == "encrypt" else []) + [src]
                res[tool] = measure([(args, null)], d)
            rows.append((f"{label}, {op}", res))
    for op in ("encrypt", "decrypt"):
        res = {}
        for tool, exe in (("sops", SOPS), ("shroud", SHROUD)):
            cmds = []
            for i in range(200):
                src = f"s{i}.yaml" if op == "encrypt" else f"{tool}.s{i}.yaml"
                cmds.append(([exe, op] + (["--age", R1] if op == "encrypt" else []) + [src], null))
            res[tool] = measure(cmds, small)
        rows.append((f"200 small files, one process each, {op}", res))
    print(f"shroud vs sops 3.11 ({RUNS} runs, medians; stream: {len(big) / 1e6:.1f} MB, {docs} documents)")
    print("| workload | sops wall | shroud wall | wall ratio | sops CPU | shroud CPU | CPU ratio |")
    print("|---|---|---|---|---|---|---|")
    for label, res in rows:
        (sw, sc), (hw, hc) = res["sops"], res["shroud"]
        print(f"| {label} | {sw * 1000:.0f} ms | {hw * 1000:.0f} ms | **{sw / hw:.1f}×** | "
              f"{sc * 1000:.0f} ms | {hc * 1000:.0f} ms | **{sc / max(hc, 1e-9):.1f}×** |")


main()
