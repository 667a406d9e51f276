#!/usr/bin/env python3
"""Fit the generic detector's linear scorer on the credata-dev corpus; write src/scan/weights.json.

  scripts/train-scan-scorer.py [--bin target/release/shroud] [--corpus ../shared/corpora/credata-dev]
                               [--check-only]

1. Runs `shroud scan --format json --all-candidates` over the corpus: every generic candidate
   comes back with its features (the Rust side owns the feature definitions; this script only
   sees names). Findings of the specific rules come back as usual.
2. Labels each candidate by the corpus line labels: positive when its line lies in a `secret`
   label span. UUID-shaped values never become candidates (the scanner vetoes them).
3. Drops features seen on fewer than 10 candidates, then fits L2-regularised logistic regression (deterministic Adagrad, pure Python) and picks the
   threshold that maximises line-level F1 (the corpus's own scoring) with precision >= 0.88.
4. Checks generalisation by repository: fit on 24 repositories, score the other 10 (a fixed,
   seeded split), and prints both numbers; then fits on all 34 and writes the weights.

Deterministic: the same binary and corpus give the same weights file byte for byte.
"""
import argparse, json, math, os, random, subprocess, sys
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(ROOT, "src", "scan", "weights.json")
GENERIC = "generic-secret"
L2 = float(os.environ.get("SCORER_L2", "1e-5"))
EPOCHS = 40
# Features seen on fewer candidates than this get no weight: a cross with a handful of
# examples would otherwise carry a large weight learned from one repository's habits.
MIN_SUPPORT = int(os.environ.get("SCORER_MIN_SUPPORT", "10"))
MIN_PRECISION = float(os.environ.get("SCORER_MIN_PRECISION", "0.87"))


def run_scan(binary, files):
    r = subprocess.run([binary, "scan", "--format", "json", "--no-baseline", "--all-candidates", "."],
                       cwd=files, capture_output=True)
    if r.returncode not in (0, 1):
        sys.exit("scan failed (%d): %s" % (r.returncode, r.stderr.decode(errors="replace")[-2000:]))
    return json.loads(r.stdout)["findings"]


def norm(path):
    p = os.path.normpath(path)
    return p.split("credata-dev/files/", 1)[1] if "credata-dev/files/" in p else p


def load(corpus, binary):
    labels = json.load(open(os.path.join(corpus, "ground_truth.json")))["labels"]
    findings = run_scan(binary, os.path.join(corpus, "files"))
    fixed, cands = set(), []
    for f in findings:
        key = (norm(f["path"]), f["line"])
        if f["rule"] == GENERIC:
            msg = f["message"] or ""
            feats = msg.split(": ", 1)[1].split() if ": " in msg else []
            cands.append((key, feats))
        else:
            fixed.add(key)
    return labels, fixed, cands


def repo_of(path):
    return path.split("/", 1)[0]


class Scorer:
    """Line-level scoring exactly as score.py does, restricted to a set of repositories."""

    def __init__(self, labels, repos):
        self.spans = defaultdict(list)
        self.pos = 0
        for i, l in enumerate(labels):
            if repo_of(l["file"]) in repos:
                self.spans[l["file"]].append((l["line"], l["end_line"], i, l["label"] == "secret"))
                self.pos += l["label"] == "secret"
        self.repos = repos

    def score(self, found):
        hit = {}
        unlabelled = 0
        for f, ln in found:
            if repo_of(f) not in self.repos:
                continue
            m = [(i, s) for a, b, i, s in self.spans.get(f, ()) if a <= ln <= b]
            for i, s in m:
                hit[i] = s
            unlabelled += not m
        tp = sum(1 for s in hit.values() if s)
        fp = sum(1 for s in hit.values() if not s) + unlabelled
        r = tp / self.pos if self.pos else 0.0
        p = tp / (tp + fp) if tp + fp else 0.0
        return r, p, (2 * r * p / (r + p) if r + p else 0.0)


def label_of(spans_secret, key):
    f, ln = key
    return any(a <= ln <= b for a, b in spans_secret.get(f, ()))


def fit(samples):
    """samples: list of (features, y). Returns (bias, weights)."""
    support = defaultdict(int)
    for feats, _ in samples:
        for f in set(feats):
            support[f] += 1
    samples = [([f for f in feats if support[f] >= MIN_SUPPORT and f != PRIOR], y)
               for feats, y in samples]
    w = defaultdict(float)
    g2 = defaultdict(lambda: 1e-8)
    bias, gb2 = 0.0, 1e-8
    order = list(range(len(samples)))
    rnd = random.Random(12)
    lr = 0.3
    n = len(samples)
    for _ in range(EPOCHS):
        rnd.shuffle(order)
        for i in order:
            feats, y = samples[i]
            z = bias + sum(w[f] for f in feats)
            p = 1 / (1 + math.exp(-max(-30, min(30, z))))
            g = p - y
            gb2 += g * g
            bias -= lr * g / math.sqrt(gb2)
            for f in feats:
                gf = g + L2 * w[f] * n / 1000
                g2[f] += gf * gf
                w[f] -= lr * gf / math.sqrt(g2[f])
    return bias, {k: v for k, v in w.items() if abs(v) > 1e-6}


PRIOR = "prior"  # the scanner's hand-set prior accepts this candidate whatever the weights


def predict(model, feats):
    if PRIOR in feats:
        return 1e9
    bias, w = model
    return bias + sum(w.get(f, 0.0) for f in feats)


def line_scores(model, cands):
    best = {}
    for key, feats in cands:
        s = predict(model, feats)
        if s > best.get(key, -1e9):
            best[key] = s
    return best


def pick_threshold(model, cands, fixed, scorer):
    best_lines = line_scores(model, cands)
    grid = sorted(set(round(s, 2) for s in best_lines.values() if s < 1e8))
    best = (-1, 0.0, None)
    for t in grid[:: max(1, len(grid) // 400)]:
        found = fixed | {k for k, s in best_lines.items() if s >= t}
        r, p, f1 = scorer.score(found)
        if p >= MIN_PRECISION and f1 > best[0]:
            best = (f1, t, (r, p, f1))
    return best[1]


def evaluate(model, t, cands, fixed, scorer):
    found = fixed | {k for k, s in line_scores(model, cands).items() if s >= t}
    return scorer.score(found)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "shroud"))
    ap.add_argument("--corpus", default=os.path.join(ROOT, "..", "shared", "corpora", "credata-dev"))
    ap.add_argument("--check-only", action="store_true", help="print the split check, write nothing")
    a = ap.parse_args()
    if not os.path.isfile(os.path.join(a.corpus, "ground_truth.json")):
        sys.exit("corpus not found at %s" % a.corpus)
    labels, fixed, cands = load(a.corpus, a.bin)
    secret = defaultdict(list)
    for l in labels:
        if l["label"] == "secret":
            secret[l["file"]].append((l["line"], l["end_line"]))
    samples = [(feats, 1.0 if label_of(secret, key) else 0.0) for key, feats in cands]
    repos = sorted({repo_of(l["file"]) for l in labels})
    held = set(random.Random(2024).sample(repos, 10))
    fit_repos = set(repos) - held
    print("candidates: %d (%d positive); fixed-rule lines: %d" %
          (len(samples), sum(y for _, y in samples), len(fixed)))

    # Generalisation check by repository.
    tr = [s for (key, _), s in zip(cands, samples) if repo_of(key[0]) in fit_repos]
    m = fit(tr)
    tr_cands = [c for c in cands if repo_of(c[0][0]) in fit_repos]
    te_cands = [c for c in cands if repo_of(c[0][0]) in held]
    t = pick_threshold(m, tr_cands, fixed, Scorer(labels, fit_repos))
    fr = evaluate(m, t, tr_cands, fixed, Scorer(labels, fit_repos))
    te = evaluate(m, t, te_cands, fixed, Scorer(labels, held))
    print("split fit (24 repos):  recall %.3f precision %.3f F1 %.3f" % fr)
    print("split check (10 repos, unseen): recall %.3f precision %.3f F1 %.3f" % te)
    print("held-out repositories: %s" % ", ".join(sorted(held)))

    model = fit(samples)
    t = pick_threshold(model, cands, fixed, Scorer(labels, set(repos)))
    allr = evaluate(model, t, cands, fixed, Scorer(labels, set(repos)))
    print("all 34 repos:          recall %.3f precision %.3f F1 %.3f (threshold %.2f)" % (allr + (t,)))
    if a.check_only:
        return
    bias, w = model
    out = {
        "comment": "Generated by scripts/train-scan-scorer.py from credata-dev; do not edit.",
        "split_check": {"fit": [round(x, 3) for x in fr], "held_out": [round(x, 3) for x in te],
                        "held_out_repos": sorted(held)},
        "bias": round(bias, 4),
        "threshold": t,
        "weights": {k: round(v, 4) for k, v in sorted(w.items()) if abs(round(v, 4)) > 0},
    }
    with open(OUT, "w") as fh:
        json.dump(out, fh, indent=1, sort_keys=False)
        fh.write("\n")
    print("wrote %s (%d weights)" % (os.path.relpath(OUT, ROOT), len(out["weights"])))


if __name__ == "__main__":
    main()
