#!/usr/bin/env python3
"""Ours next to pip's XGBoost and LightGBM on the same features and the same splits.

    python3 tools/compare_models.py --db DB --split within_task|by_task|by_target [--holdout NAME...] [--json]

Exports the feature table (`coordctl export --features`), trains pip `xgboost`
(rank:pairwise, TenSet's recipe: depth 6, eta 0.2, 300 rounds) and `lightgbm`
(LambdaRank) on the split's training side, computes PCA, peak@1 and peak@5 exactly as
MODEL-METRICS.md says (per (task, device) group, averaged weighted by test records), and
prints them beside `coordctl model eval` for our own models. LightGBM's LambdaRank needs
integer relevance: the label (normalized throughput in (0, 1]) is scaled to 0..30.

Which pip XGBoost: ours links Debian's libxgboost 1.7; pip's 1.7.6 (`pip install
xgboost==1.7.6`) gives the same PCA to three decimals on every split of the reference
dataset. XGBoost 2 and later sample pairwise pairs differently (even with one uniform pair
per record, set below), so their figures differ by a few hundredths either way. Each row
carries the library's version.
"""
import argparse, csv, json, os, subprocess, sys, tempfile, time

def find_coordctl(root):
    """The release build of coordctl in the checkout, else the debug one (training in a debug
    build takes many times longer), else the one on PATH; --coordctl overrides."""
    built = [p for p in (os.path.join(root, ".build", c, "coordctl") for c in ("release", "debug")) if os.access(p, os.X_OK)]
    return built[0] if built else "coordctl"

def pca(p, y):
    n = len(p)
    if n < 2:
        return 0.5
    right = sum(1 for i in range(n) for j in range(i + 1, n) if (p[i] > p[j]) == (y[i] > y[j]))
    return 2.0 * right / (n * (n - 1))

def peak(k, p, y):
    best = max(y)
    if best <= 0:
        return 0.0
    order = sorted(range(len(p)), key=lambda i: (-p[i], i))
    running, total = 0.0, 0.0
    for r in range(k):
        if r < len(order):
            running = max(running, y[order[r]])
        total += running / best
    return total / k

def report(scores, labels, groups):
    by = {}
    for i, g in enumerate(groups):
        by.setdefault(g, []).append(i)
    w = sum(len(v) for v in by.values())
    out = {"records": len(labels), "groups": len(by), "weighting": "records"}
    for name, f in (("pca", lambda p, y: pca(p, y)), ("peak1", lambda p, y: peak(1, p, y)), ("peak5", lambda p, y: peak(5, p, y))):
        out[name] = sum(len(idx) * f([scores[i] for i in idx], [labels[i] for i in idx]) for idx in by.values()) / w
    return out

def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True)
    ap.add_argument("--split", required=True, choices=["within_task", "by_task", "by_target"])
    ap.add_argument("--holdout", nargs="*", default=[])
    ap.add_argument("--rounds", type=int, default=300)
    ap.add_argument("--coordctl", default=find_coordctl(root))
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if a.split != "within_task" and not a.holdout:
        sys.exit("--split %s needs --holdout" % a.split)
    try:
        import numpy as np, xgboost as xgb, lightgbm as lgb
    except ImportError as e:
        sys.exit("needs numpy, xgboost and lightgbm (pip install xgboost lightgbm): %s" % e)

    with tempfile.TemporaryDirectory() as tmp:
        table = os.path.join(tmp, "features.csv")
        subprocess.run([a.coordctl, "export", "--db", a.db, "--features", "-o", table], check=True)
        with open(table, newline="") as f:
            rows = list(csv.reader(f))
    header, rows = rows[0], rows[1:]
    keys = 9
    col = {name: i for i, name in enumerate(header[:keys])}
    X = np.array([[float(v) for v in r[keys:]] for r in rows], dtype=np.float32)
    y = np.array([float(r[col["label"]]) for r in rows])
    g = np.array([int(r[col["group"]]) for r in rows])
    if a.split == "within_task":
        test = np.array([r[col["within_task_test"]] == "1" for r in rows])
    elif a.split == "by_task":
        held = set(a.holdout)
        test = np.array([bool(held & set(filter(None, r[col["networks"]].split(";")))) for r in rows])
    else:
        held = set(a.holdout)
        test = np.array([r[col["target"]] in held or r[col["device"]] in held for r in rows])
    if test.sum() == 0 or (~test).sum() == 0:
        sys.exit("the split leaves %d records to train on and %d to test" % ((~test).sum(), test.sum()))

    def grouped(mask):
        idx = np.where(mask)[0]
        idx = idx[np.argsort(g[idx], kind="stable")]
        sizes = np.unique(g[idx], return_counts=True)[1]
        return idx, sizes

    tr, tr_sizes = grouped(~test)
    te = np.where(test)[0]
    results = []

    start = time.time()
    d = xgb.DMatrix(X[tr], label=y[tr])
    d.set_group(tr_sizes)
    params = {"objective": "rank:pairwise", "max_depth": 6, "eta": 0.2, "tree_method": "hist", "seed": 0,
              "nthread": 2, "verbosity": 0}
    if int(xgb.__version__.split(".")[0]) >= 2:
        # XGBoost 2 samples pairs from the top of each group by default; 1.x (Debian's
        # libxgboost, ours) samples one pair per record uniformly. Same method, same model.
        params.update({"lambdarank_pair_method": "mean", "lambdarank_num_pair_per_sample": 1})
    booster = xgb.train(params, d, num_boost_round=a.rounds)
    seconds = time.time() - start
    s = booster.predict(xgb.DMatrix(X[te]))
    results.append(dict(kind="pip-xgboost", version=xgb.__version__, trainRecords=int(len(tr)), trainSeconds=seconds, **report(list(s), list(y[te]), list(g[te]))))

    start = time.time()
    data = lgb.Dataset(X[tr], label=np.rint(y[tr] * 30).astype(int), group=tr_sizes)
    ranker = lgb.train({"objective": "lambdarank", "learning_rate": 0.2, "max_depth": 6, "num_leaves": 63,
                        "min_data_in_leaf": 5, "seed": 0, "num_threads": 2, "verbose": -1}, data, num_boost_round=a.rounds)
    seconds = time.time() - start
    s = ranker.predict(X[te])
    results.append(dict(kind="pip-lightgbm", version=lgb.__version__, trainRecords=int(len(tr)), trainSeconds=seconds, **report(list(s), list(y[te]), list(g[te]))))

    ours_cmd = [a.coordctl, "model", "eval", "--db", a.db, "--split", a.split, "--rounds", str(a.rounds), "--json"]
    if a.holdout:
        ours_cmd += ["--holdout"] + a.holdout
    ours = json.loads(subprocess.run(ours_cmd, check=True, capture_output=True, text=True).stdout)
    models = ours["models"] + results
    if a.json:
        print(json.dumps({"split": a.split, "holdout": a.holdout, "models": models}, sort_keys=True))
        return
    print("%s%s: test and train records, metrics per (task, device) weighted by test records"
          % (a.split, (" holding out " + ", ".join(a.holdout)) if a.holdout else ""))
    print("%-13s %7s %7s %6s %6s %6s %8s" % ("kind", "test", "train", "PCA", "peak1", "peak5", "train s"))
    for m in models:
        print("%-13s %7d %7d %6.3f %6.3f %6.3f %8.1f" % (m["kind"], m["records"], m["trainRecords"], m["pca"], m["peak1"],
                                                       m["peak5"], m["trainSeconds"]))

if __name__ == "__main__":
    main()
