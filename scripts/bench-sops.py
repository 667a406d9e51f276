#!/usr/bin/env python3
"""shroud vs the real sops 3.11 and rops, side by side in one run (issue 27).

Workloads: a ~5 MB YAML stream (1,086 Secret documents with comments); a ~4.3 MB single YAML
document with ~90,000 values (rops reads one document per file, so it is measured here); a
~50 KB Kubernetes Secrets file; 200 small files encrypted and decrypted one process each; 100
small files for a PGP key decrypted one process each through the real GnuPG (gpg calls per file
counted through SOPS_GPG_EXEC); start-up (`--version`) against a static hello-world. For each:
median wall time, CPU time (user + sys of the child, gpg included) and the largest peak RSS
over RUNS runs after a warm-up, and the ratios to shroud.
Usage: bench-sops.py SHROUD SOPS [RUNS] [--rops ROPS] [--hello HELLO]
"""
import argparse, os, statistics, subprocess, sys, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("shroud")
ap.add_argument("sops")
ap.add_argument("runs", nargs="?", type=int, default=5)
ap.add_argument("--rops")
ap.add_argument("--hello")
ARGS = ap.parse_args()
SHROUD, SOPS, RUNS = ARGS.shroud, ARGS.sops, ARGS.runs
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
R1 = "age18wmw49a72cf2r3xg9vklvhuhql25dzv0ufwdrqf29fe25w7alshqxcgy93"
KEYFILE = os.path.join(ROOT, "keys/test-age.txt")
ENV = dict(os.environ, SOPS_AGE_KEY_FILE=KEYFILE, SOPS_DISABLE_VERSION_CHECK="1",
           ROPS_AGE=next(l for l in open(KEYFILE) if l.startswith("AGE-SECRET-KEY")).strip())


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


def single(limit):
    """One document of many short values: configuration blocks of 20 values each."""
    out, i, values = [], 0, 0
    size = 0
    while size < limit:
        block = [f"service_{i}:", f"    # owner: team-{i % 23}", f"    name: service-{i}",
                 f"    image: registry.example.com/team/service-{i}:1.{i % 50}.3",
                 f"    replicas: {i % 7 + 1}", f"    enabled: {'true' if i % 3 else 'false'}",
                 "    env:"]
        for j in range(10):
            if j % 5 == 0:
                block.append(f"        # group {j}")
            block.append(f"        VAR_{j}: val-{i}-{j}-{'z' * (8 + (i * j) % 24)}")
        block.append("    hosts:")
        block += [f"        - h{j}.s{i}.example.com" for j in range(3)]
        block.append(f"    timeout: {30 + i % 90}")
        text = "\n".join(block) + "\n"
        out.append(text)
        size += len(text)
        values += 18
        i += 1
    return "".join(out), values


def run(cmd, cwd, stdout, env=None, stdin=None):
    """One process: wall seconds, CPU seconds and peak RSS (KiB) of that child alone."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=cwd, env=env or ENV, stdout=stdout, stderr=subprocess.PIPE,
                         stdin=stdin)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    err = p.stderr.read()
    p.stderr.close()
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"{cmd}: exit {p.returncode}: {err.decode(errors='replace')[:300]}")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss


def measure(cmds, cwd, env=None):
    """Runs the command list RUNS times (plus a warm-up); medians of the totals, largest RSS."""
    walls, cpus, rss = [], [], 0
    for k in range(RUNS + 1):
        w = c = 0.0
        for cmd, out, inp in cmds:
            with open(out, "wb") as f, open(inp or os.devnull, "rb") as i:
                dw, dc, dr = run(cmd, cwd, f, env, i)
            w += dw
            c += dc
            rss = max(rss, dr)
        if k:
            walls.append(w)
            cpus.append(c)
    return statistics.median(walls), statistics.median(cpus), rss


def encrypt_args(tool, exe, src):
    if tool == "rops":
        return [exe, "encrypt", "--age", R1, "-f", "yaml"], src
    return [exe, "encrypt", "--age", R1, src], None


def decrypt_args(tool, exe, src):
    if tool == "rops":
        return [exe, "decrypt", "-f", "yaml"], src
    return [exe, "decrypt", src], None


def main():
    d = tempfile.mkdtemp(prefix="bench-sops-")
    big, docs = stream(5_000_000)
    open(os.path.join(d, "stream.yaml"), "w").write(big)
    one, values = single(4_300_000)
    open(os.path.join(d, "single.yaml"), "w").write(one)
    k8s, _ = stream(50_000)
    open(os.path.join(d, "secrets.yaml"), "w").write(k8s)
    small = os.path.join(d, "small")
    os.makedirs(small)
    for i in range(200):
        open(os.path.join(small, f"s{i}.yaml"), "w").write(
            f"db:\n    user: app{i}\n    password: pw-{i}-{'z' * 24}\n    port: {5000 + i}\n")
    tools = [("sops", SOPS), ("shroud", SHROUD)]
    rops = [("rops", ARGS.rops)] if ARGS.rops else []
    for tool, exe in tools + rops:
        names = ("single.yaml",) if tool == "rops" else ("stream.yaml", "single.yaml", "secrets.yaml")
        for name in names:
            args, inp = encrypt_args(tool, exe, name)
            with open(os.path.join(d, f"{tool}.{name}"), "wb") as f, \
                    open(os.path.join(d, inp) if inp else os.devnull, "rb") as i:
                run(args, d, f, stdin=i)
        if tool == "rops":
            continue
        for i in range(200):
            with open(os.path.join(small, f"{tool}.s{i}.yaml"), "wb") as f:
                run([exe, "encrypt", "--age", R1, f"s{i}.yaml"], small, f)
    null = os.devnull
    rows = []
    for label, name, peers in (
            (f"5 MB YAML stream ({docs} documents)", "stream.yaml", tools),
            (f"4.3 MB YAML document ({values:,} values)", "single.yaml", tools + rops),
            ("50 KB Secrets file", "secrets.yaml", tools)):
        for op in ("encrypt", "decrypt"):
            res = {}
            for tool, exe in peers:
                src = name if op == "encrypt" else f"{tool}.{name}"
                args, inp = (encrypt_args if op == "encrypt" else decrypt_args)(tool, exe, src)
                res[tool] = measure([(args, null, os.path.join(d, inp) if inp else None)], d)
            rows.append((f"{label}, {op}", res))
    for op in ("encrypt", "decrypt"):
        res = {}
        for tool, exe in tools:
            cmds = []
            for i in range(200):
                src = f"s{i}.yaml" if op == "encrypt" else f"{tool}.s{i}.yaml"
                cmds.append(([exe, op] + (["--age", R1] if op == "encrypt" else []) + [src], null, None))
            res[tool] = measure(cmds, small)
        rows.append((f"200 small files, one process each, {op}", res))
    rows.append(pgp(d))
    # Start-up: 200 `--version` calls; the static hello-world is the floor.
    res = {}
    starters = tools + ([("hello-world (static)", ARGS.hello)] if ARGS.hello else [])
    for tool, exe in starters:
        args = [exe] if tool.startswith("hello") else [exe, "--version"]
        res[tool] = measure([(args, null, None)] * 200, d)
    rows.append(("start-up: 200 `--version` calls", res))

    print(f"shroud vs sops 3.11 and rops ({RUNS} runs, medians; peak RSS: the largest of any run)")
    print("| workload | tool | wall | CPU | peak RSS | sops CPU / tool CPU | tool wall / shroud wall |")
    print("|---|---|---|---|---|---|---|")
    for label, res in rows:
        sops_cpu = res.get("sops", (0, 0, 0))[1]
        shroud_wall = res.get("shroud", (0, 0, 0))[0]
        for tool, (w, c, r) in res.items():
            ratio = f"{sops_cpu / max(c, 1e-9):.1f}×" if sops_cpu else ""
            wall = f"{w / shroud_wall:.2f}×" if shroud_wall else ""
            print(f"| {label} | {tool} | {w * 1000:.0f} ms | {c * 1000:.0f} ms | {r / 1024:.1f} MiB "
                  f"| {ratio} | {wall} |")
    print()
    for label, res in rows:
        if "shroud" in res and "sops" in res:
            s, h = res["sops"], res["shroud"]
            line = (f"{label}: shroud CPU = {h[1] / s[1]:.4f}× sops CPU, wall {s[0] / h[0]:.1f}× faster")
            if "rops" in res:
                line += f"; shroud wall = {h[0] / res['rops'][0]:.3f}× rops wall"
            if "hello-world (static)" in res:
                line += (f"; per call: shroud {h[0] / 200 * 1000:.2f} ms, sops {s[0] / 200 * 1000:.2f} ms,"
                         f" static hello-world {res['hello-world (static)'][0] / 200 * 1000:.2f} ms")
            print(line)


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
        cmds = [([exe, "decrypt", f"{tool}.p{i}.yaml"], os.devnull, None) for i in range(100)]
        res[tool] = measure(cmds, small, env)
    subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, capture_output=True)
    label = (f"100 PGP files, one process each, decrypt (gpg calls per file: "
             f"sops {calls['sops']:g}, shroud {calls['shroud']:g})")
    return label, res


main()
