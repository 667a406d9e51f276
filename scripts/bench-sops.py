#!/usr/bin/env python3
"""shroud vs the real sops 3.11, side by side in one run (issue: sops as the oracle).

Workloads: a ~5 MB YAML stream (1,000+ Secret documents with comments), a ~50 KB Kubernetes
Secrets file, 200 small files encrypted and decrypted one process each, and 100 small files for
a PGP key decrypted one process each through the real GnuPG (a fresh key in a temporary
GNUPGHOME; gpg calls per file are counted through SOPS_GPG_EXEC). For each: median wall time
and CPU time (user + sys of the children, gpg included) over RUNS runs, and the sops/shroud
ratios. Usage: bench-sops.py SHROUD SOPS [RUNS]
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


def run(cmd, cwd, stdout, env=None):
    """One process: wall seconds and the child's CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, env=env or ENV, stdout=stdout, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        sys.exit(f"{cmd}: exit {r.returncode}: {r.stderr.decode(errors='replace')[:300]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def measure(cmds, cwd, env=None):
    """Runs the command list RUNS times (plus a warm-up); medians of the totals."""
    walls, cpus = [], []
    for k in range(RUNS + 1):
        w = c = 0.0
        for cmd, out in cmds:
            with open(out, "wb") as f:
                dw, dc = run(cmd, cwd, f, env)
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
    rows.append(pgp(d))
    print(f"shroud vs sops 3.11 ({RUNS} runs, medians; stream: {len(big) / 1e6:.1f} MB, {docs} documents)")
    print("| workload | sops wall | shroud wall | wall ratio | sops CPU | shroud CPU | CPU ratio |")
    print("|---|---|---|---|---|---|---|")
    for label, res in rows:
        (sw, sc), (hw, hc) = res["sops"], res["shroud"]
        print(f"| {label} | {sw * 1000:.0f} ms | {hw * 1000:.0f} ms | **{sw / hw:.1f}×** | "
              f"{sc * 1000:.0f} ms | {hc * 1000:.0f} ms | **{sc / max(hc, 1e-9):.1f}×** |")



def pgp(d):
    """100 small files for one PGP key, decrypted one process each by both tools."""
    home = tempfile.mkdtemp(prefix="gpg", dir="/tmp")  # agent socket paths must be short
    os.chmod(home, 0o700)
    env = dict(ENV, GNUPGHOME=home)
    env.pop("SOPS_AGE_KEY_FILE", None)
    subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "bench@shroud.invalid",
                    "default", "default", "never"], env=env, check=True, capture_output=True)
    colons = subprocess.run(["gpg", "--batch", "--with-colons", "--list-keys", "bench@shroud.invalid"],
                            env=env, check=True, capture_output=True, text=True).stdout
    fpr = next(l.split(":")[9] for l in colons.splitlines() if l.startswith("fpr:"))
    small = os.path.join(d, "pgp")
    os.makedirs(small)
    for tool, exe in (("sops", SOPS), ("shroud", SHROUD)):
        for i in range(100):
            open(os.path.join(small, f"p{i}.yaml"), "w").write(
                f"db:\n    user: app{i}\n    password: pw-{i}-{'z' * 24}\n")
            with open(os.path.join(small, f"{tool}.p{i}.yaml"), "wb") as f:
                run([exe, "encrypt", "--pgp", fpr, f"p{i}.yaml"], small, f, env)
    # gpg calls per decrypted file, counted through a logging SOPS_GPG_EXEC.
    log = os.path.join(d, "gpg-calls")
    wrapper = os.path.join(d, "gpg-count")
    open(wrapper, "w").write(f"#!/bin/sh\necho x >> '{log}'\nexec gpg \"$@\"\n")
    os.chmod(wrapper, 0o755)
    calls = {}
    for tool, exe in (("sops", SOPS), ("shroud", SHROUD)):
        open(log, "w").close()
        for i in range(100):
            run([exe, "decrypt", f"{tool}.p{i}.yaml"], small, subprocess.DEVNULL,
                dict(env, SOPS_GPG_EXEC=wrapper))
        calls[tool] = sum(1 for _ in open(log)) / 100
    res = {}
    for tool, exe in (("sops", SOPS), ("shroud", SHROUD)):
        cmds = [([exe, "decrypt", f"{tool}.p{i}.yaml"], os.devnull) for i in range(100)]
        res[tool] = measure(cmds, small, env)
    subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, capture_output=True)
    label = (f"100 PGP files, one process each, decrypt (gpg calls per file: "
             f"sops {calls['sops']:g}, shroud {calls['shroud']:g})")
    return label, res


main()
