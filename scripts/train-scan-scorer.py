#!/usr/bin/env python3
"""Fit the generic detector's linear scorer on the credata-dev corpus; write src/scan/weights.json.

  scripts/train-scan-scorer.py [--bin target/release/shroud] [--corpus ../shared/corpora/credata-dev]
                               [--check-only] [--summary FILE]

1. Runs `shroud scan --format json --all-candidates` over the corpus: every generic candidate
   comes back with its features (the Rust side owns the feature definitions; this script only
   sees names). Findings of the specific rules come back as usual.
2. Labels each candidate by the corpus line labels: positive when its line lies in a `secret`
   label span. UUID-shaped values become candidates only under a key that names a credential
   (`access_token`, not `client_id`); elsewhere the scanner vetoes them.
3. Drops features seen on fewer than 10 candidates, then fits L2-regularised logistic regression
   (C = 0.3; coordinate descent, deterministic, pure Python) and picks the threshold that
   maximises line-level F1 (the corpus's own scoring) with precision >= 0.90.
4. The repository-split score, what the CI gate (scripts/test-scan.sh) checks: grouped 6-fold
   cross-validation by repository, three seeded fold assignments. For each fold, fit on the
   other repositories (threshold picked on them too) and score the fold's repositories, never
   seen; the findings of all folds are pooled and scored like score.py does. The in-sample
   score on all 34 repositories is printed too, but it is not what unseen repositories get.
5. Fits on all 34 repositories and writes the weights (not with --check-only).

Deterministic: the same binary and corpus give the same weights file byte for byte.
"""
import argparse, json, math, os, random, subprocess, sys
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(ROOT, "src", "scan", "weights.json")
GENERIC = "generic-secret"
# Inverse regularisation strength (as in scikit-learn's LogisticRegression): chosen by the
# repository-split score, where it matters most.
C = float(os.environ.get("SCORER_C", "0.3"))
EPOCHS = 60
TOL = 1e-4
# Features seen on fewer candidates than this get no weight: a cross with a handful of
# examples would otherwise carry a large weight learned from one repository's habits.
MIN_SUPPORT = int(os.environ.get("SCORER_MIN_SUPPORT", "10"))
MIN_PRECISION = float(os.environ.get("SCORER_MIN_PRECISION", "0.90"))
FOLDS = 6
SEEDS = (7, 11, 13)


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
    """samples: list of (features, y). Returns (bias, weights).

    L2-regularised logistic regression, minimising sum(log-loss) + ||w||^2 / (2 C) (the
    bias unregularised), by cyclic coordinate descent with a Newton step per weight (binary
    features: each step touches only the candidates that have the feature). Deterministic.
    """
    support = defaultdict(int)
    for feats, _ in samples:
        for f in set(feats):
            support[f] += 1
    names = sorted(f for f, n in support.items() if n >= MIN_SUPPORT and f != PRIOR)
    index = {f: j for j, f in enumerate(names)}
    rows = [sorted({index[f] for f in feats if f in index}) for feats, _ in samples]
    ys = [y for _, y in samples]
    cols = [[] for _ in names]
    for i, r in enumerate(rows):
        for j in r:
            cols[j].append(i)
    lam = 1.0 / C
    w = [0.0] * len(names)
    n = len(samples)
    pos = sum(ys)
    bias = math.log(max(pos, 0.5) / max(n - pos, 0.5))
    z = [bias] * n

    def sig(v):
        return 1.0 / (1.0 + math.exp(-max(-35.0, min(35.0, v))))

    def step(members, wj, reg):
        g = reg * wj
        h = reg
        for i in members:
            p = sig(z[i])
            g += p - ys[i]
            h += p * (1.0 - p)
        d = -g / max(h, 1e-12)
        # A Newton step on a logistic loss can overshoot: halve it until the 1-D objective drops.
        def obj(t):
            v = 0.5 * reg * (wj + t) ** 2
            for i in members:
                m = z[i] + t
                v += math.log1p(math.exp(-abs(m))) + max(m, 0.0) - ys[i] * m
            return v
        base = obj(0.0)
        while abs(d) > 1e-12 and obj(d) > base - 1e-12 * abs(d):
            d *= 0.5
        return d

    for _ in range(EPOCHS):
        biggest = 0.0
        d = step(range(n), bias, 0.0)
        bias += d
        if d:
            z = [v + d for v in z]
        biggest = max(biggest, abs(d))
        for j, members in enumerate(cols):
            d = step(members, w[j], lam)
            if d:
                w[j] += d
                for i in members:
                    z[i] += d
            biggest = max(biggest, abs(d))
        if biggest < TOL:
            break
    return bias, {names[j]: v for j, v in enumerate(w) if abs(v) > 1e-6}


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


def repository_split(labels, fixed, cands, samples, repos, seed):
    """Grouped K-fold by repository: every repository is scored by a model that never saw it."""
    order = repos[:]
    random.Random(seed).shuffle(order)
    folds = [set(order[i::FOLDS]) for i in range(FOLDS)]
    pooled = set()
    for fold in folds:
        fit_repos = set(repos) - fold
        tr = [s for (key, _), s in zip(cands, samples) if repo_of(key[0]) in fit_repos]
        m = fit(tr)
        tr_cands = [c for c in cands if repo_of(c[0][0]) in fit_repos]
        te_cands = [c for c in cands if repo_of(c[0][0]) in fold]
        t = pick_threshold(m, tr_cands, fixed, Scorer(labels, fit_repos))
        pooled |= {k for k, s in line_scores(m, te_cands).items() if s >= t}
    return Scorer(labels, set(repos)).score(fixed | pooled)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "shroud"))
    ap.add_argument("--corpus", default=os.path.join(ROOT, "..", "shared", "corpora", "credata-dev"))
    ap.add_argument("--check-only", action="store_true", help="print the scores, write nothing")
    ap.add_argument("--summary", help="also write the scores as JSON to this file")
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
    print("candidates: %d (%d positive); fixed-rule lines: %d" %
          (len(samples), sum(y for _, y in samples), len(fixed)), flush=True)

    runs = []
    for seed in SEEDS:
        r = repository_split(labels, fixed, cands, samples, repos, seed)
        runs.append(r)
        print("repository split, seed %2d: recall %.3f precision %.3f F1 %.3f" % ((seed,) + r), flush=True)
    split = tuple(sum(x[i] for x in runs) / len(runs) for i in range(3))
    print("repository split (%d-fold by repository, %d seeds): recall %.3f precision %.3f F1 %.3f"
          % ((FOLDS, len(SEEDS)) + split))

    model = fit(samples)
    t = pick_threshold(model, cands, fixed, Scorer(labels, set(repos)))
    allr = evaluate(model, t, cands, fixed, Scorer(labels, set(repos)))
    print("in-sample, all %d repositories: recall %.3f precision %.3f F1 %.3f (threshold %.2f)"
          % ((len(repos),) + allr + (t,)))
    summary = {
        "repository_split": {"folds": FOLDS, "seeds": list(SEEDS),
                             "recall": round(split[0], 3), "precision": round(split[1], 3),
                             "f1": round(split[2], 3),
                             "per_seed": [[round(x, 3) for x in r] for r in runs]},
        "in_sample": [round(x, 3) for x in allr],
    }
    if a.summary:
        with open(a.summary, "w") as fh:
            json.dump(summary, fh, indent=1)
            fh.write("\n")
    if a.check_only:
        return
    bias, w = model
    out = {
        "comment": "Generated by scripts/train-scan-scorer.py from credata-dev; do not edit.",
        "repository_split": summary["repository_split"],
        "in_sample": summary["in_sample"],
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
