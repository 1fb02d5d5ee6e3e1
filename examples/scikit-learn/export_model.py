#!/usr/bin/env python3
"""Train a scikit-learn model on the bundled data and export it as confide/linear-model@1 JSON.

Runs with Debian's python3-sklearn (numpy and scikit-learn; no pandas):

    python3 examples/scikit-learn/export_model.py                       # breast cancer, logistic
    python3 examples/scikit-learn/export_model.py --data data/diabetes.csv --task regression
    confide he keygen --model model.json --out keys/

The feature names are the CSV header, so `confide he encrypt --in data/...csv` matches the
columns by name. A Pipeline([StandardScaler, estimator]) is exported with its scaler (the client
applies it before encryption); a bare estimator is exported without one. `to_confide` reads only
fitted attributes (coef_, intercept_, classes_, mean_, scale_), so it works on any estimator that
has them (LogisticRegression, LinearRegression, Ridge, LinearSVC, SGD*, ...).
"""

import argparse
import csv
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "data")


def _floats(values):
    """A flat list of Python floats from a numpy array or a sequence."""
    flat = values.ravel() if hasattr(values, "ravel") else values
    return [float(v) for v in flat]


def to_confide(model, features):
    """The confide/linear-model@1 dict of a fitted estimator or Pipeline([StandardScaler, estimator])."""
    scaler = None
    estimator = model
    steps = getattr(model, "steps", None)
    if steps is not None:
        if len(steps) == 2:
            scaler, estimator = steps[0][1], steps[1][1]
        elif len(steps) == 1:
            estimator = steps[0][1]
        else:
            raise ValueError("export a Pipeline of at most [StandardScaler, linear estimator]")
        if scaler is not None and not (hasattr(scaler, "mean_") and hasattr(scaler, "scale_")):
            raise ValueError("the first pipeline step must be a fitted StandardScaler")
    coef = estimator.coef_
    ndim = getattr(coef, "ndim", None)
    if ndim is None:  # a plain sequence
        ndim = 2 if len(coef) > 0 and hasattr(coef[0], "__len__") else 1
    rows = [_floats(r) for r in coef] if ndim == 2 else [_floats(coef)]
    intercept = estimator.intercept_
    intercepts = _floats(intercept) if hasattr(intercept, "__len__") else [float(intercept)]
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        task = "regression"
    elif len(classes) == 2:
        task = "binary-classification"
    else:
        task = "multiclass-classification"
    if len(rows[0]) != len(features):
        raise ValueError("the model has %d coefficients per row, the data %d features" % (len(rows[0]), len(features)))
    out = {
        "format": "confide/linear-model@1",
        "task": task,
        "features": list(features),
        "coefficients": rows,
        "intercepts": intercepts,
    }
    if classes is not None:
        out["classes"] = [str(c) for c in classes]
    if scaler is not None:
        out["scaler"] = {"mean": _floats(scaler.mean_), "scale": _floats(scaler.scale_)}
    return out


def read_csv(path, target):
    """Header, feature rows and target column of a numeric CSV (the bundled data's shape)."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        if target not in header:
            raise SystemExit("%s has no column %r (columns: %s)" % (path, target, ", ".join(header)))
        t = header.index(target)
        features = [h for i, h in enumerate(header) if i != t]
        X, y = [], []
        for row in reader:
            X.append([float(v) for i, v in enumerate(row) if i != t])
            y.append(float(row[t]))
    return features, X, y


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=os.path.join(DATA, "breast-cancer-wisconsin.csv"))
    parser.add_argument("--target", default="target")
    parser.add_argument("--task", choices=["classification", "regression"], default="classification")
    parser.add_argument("--out", default="model.json")
    args = parser.parse_args(argv)

    import numpy as np
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    features, X, y = read_csv(args.data, args.target)
    X = np.asarray(X)
    if args.task == "classification":
        y = np.asarray(y).astype(int)
        estimator = LogisticRegression(max_iter=1000)
    else:
        y = np.asarray(y)
        estimator = LinearRegression()
    pipeline = Pipeline([("scaler", StandardScaler()), ("model", estimator)]).fit(X, y)
    with open(args.out, "w") as f:
        json.dump(to_confide(pipeline, features), f, indent=1)
        f.write("\n")
    print("%s: %s on %d rows of %s (training score %.4f)" % (
        args.out, type(estimator).__name__, len(y), os.path.basename(args.data), pipeline.score(X, y)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
