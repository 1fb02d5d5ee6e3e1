#!/usr/bin/env python3
"""Writes the ONNX fixtures of confide's importer (src/he/onnx*.ts) and cases.json.

An encoder and an evaluator independent of confide's TypeScript:
  - the models are fitted by scikit-learn on the bundled data (data/*.csv) and written as .onnx
    files by the Python `onnx` package (onnx.helper + protobuf's own serializer), in the graph
    shapes skl2onnx emits for LogisticRegression, LinearRegression/Ridge and StandardScaler
    (skl2onnx is not packaged by Debian, so its converters' shapes are rebuilt here by hand:
    LinearClassifier with two rows [-w, w] for a binary model, Normalizer L1, ZipMap, Cast of
    the label, Scaler with offset = mean and scale = 1 / std);
  - every valid file passes onnx.checker.check_model (and strict shape inference without ZipMap);
  - expected outputs come from two evaluators that never see confide's code:
      sklearn   the fitted estimator's own decision_function / predict_proba / predict
                (float64 weights), and
      onnx      a numpy evaluation of the ONNX-ML operator definitions (Scaler, LinearClassifier,
                LinearRegressor, Normalizer) on the attributes read back from the written file
                by onnx.load (float32 weights, as an ONNX runtime sees them).
    The onnx package of Debian 12 (1.12) has no onnx.reference.ReferenceEvaluator, hence numpy.

Run from the repository root (Debian: python3-onnx, python3-sklearn, python3-numpy):
    /usr/bin/python3 test/vectors/onnx/generate.py
The output is deterministic for a given scikit-learn/numpy/onnx version.
"""

import csv
import json
import pathlib

import numpy as np
import onnx
from onnx import TensorProto, helper
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[2]
ML = "ai.onnx.ml"
OPSETS = [helper.make_opsetid("", 15), helper.make_opsetid(ML, 1)]
PRODUCER = "confide test/vectors/onnx/generate.py (onnx.helper)"
ROWS = 24  # rows of each data set recorded as inputs


def load(name):
    return load_csv(ROOT / "data" / name)


def load_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    x = np.array([[float(v) for v in r[:-1]] for r in body])
    y = np.array([float(r[-1]) for r in body])
    return header[:-1], x, y


def f32(values):
    """What the file stores: float32, given back as Python floats."""
    return [float(v) for v in np.asarray(values, dtype=np.float32).ravel()]


def tensor_info(name, elem, dims):
    return helper.make_tensor_value_info(name, elem, dims)


def scaler_node(inp, out, scaler):
    return helper.make_node(
        "Scaler", [inp], [out], domain=ML, name="Scaler",
        offset=f32(scaler.mean_), scale=f32(1.0 / scaler.scale_),
    )


def classifier_graph(name, d, coef, intercept, classes, post, scaler=None, zipmap=True,
                     normalizer=True, cast_scores=None, two_row_binary=True):
    """The graph skl2onnx writes for a linear classifier (optionally after a StandardScaler)."""
    nodes = []
    value = "float_input"
    if scaler is not None:
        nodes.append(scaler_node(value, "variable", scaler))
        value = "variable"
    coef = np.atleast_2d(coef)
    intercept = np.atleast_1d(intercept)
    if len(classes) == 2 and two_row_binary:
        coef = np.vstack([-coef[0], coef[0]])
        intercept = np.array([-intercept[0], intercept[0]])
    labels = (
        {"classlabels_strings": [str(c) for c in classes]}
        if isinstance(classes[0], str)
        else {"classlabels_ints": [int(c) for c in classes]}
    )
    nodes.append(helper.make_node(
        "LinearClassifier", [value], ["label", "probability_tensor"], domain=ML,
        name="LinearClassifier", coefficients=f32(coef), intercepts=f32(intercept),
        multi_class=0, post_transform=post, **labels,
    ))
    scores = "probability_tensor"
    if normalizer:
        nodes.append(helper.make_node("Normalizer", [scores], ["probabilities"], domain=ML,
                                      name="Normalizer", norm="L1"))
        scores = "probabilities"
    if cast_scores is not None:
        nodes.append(helper.make_node("Cast", [scores], ["probabilities_cast"], name="CastScores",
                                      to=cast_scores))
        scores = "probabilities_cast"
    string_labels = isinstance(classes[0], str)
    outputs = []
    if string_labels:
        nodes.append(helper.make_node("Identity", ["label"], ["output_label"], name="Identity"))
        outputs.append(tensor_info("output_label", TensorProto.STRING, [None]))
    else:
        nodes.append(helper.make_node("Cast", ["label"], ["output_label"], name="Cast",
                                      to=TensorProto.INT64))
        outputs.append(tensor_info("output_label", TensorProto.INT64, [None]))
    if zipmap:
        zip_labels = (
            {"classlabels_strings": [str(c) for c in classes]}
            if string_labels
            else {"classlabels_int64s": [int(c) for c in classes]}
        )
        nodes.append(helper.make_node("ZipMap", [scores], ["output_probability"], domain=ML,
                                      name="ZipMap", **zip_labels))
        key = TensorProto.STRING if string_labels else TensorProto.INT64
        seq = onnx.TypeProto()  # seq(map(key, float)); onnx 1.12's helper has no map builder
        seq.sequence_type.elem_type.map_type.key_type = key
        seq.sequence_type.elem_type.map_type.value_type.CopyFrom(
            helper.make_tensor_type_proto(TensorProto.FLOAT, None))
        outputs.append(helper.make_value_info("output_probability", seq))
    else:
        elem = TensorProto.DOUBLE if cast_scores == TensorProto.DOUBLE else TensorProto.FLOAT
        outputs.append(tensor_info(scores, elem, [None, len(classes)]))
    graph = helper.make_graph(nodes, name, [tensor_info("float_input", TensorProto.FLOAT, [None, d])],
                              outputs)
    return helper.make_model(graph, opset_imports=OPSETS, producer_name=PRODUCER)


def regressor_graph(name, d, coef, intercept, scaler=None):
    nodes = []
    value = "float_input"
    if scaler is not None:
        nodes.append(scaler_node(value, "variable1", scaler))
        value = "variable1"
    nodes.append(helper.make_node("LinearRegressor", [value], ["variable"], domain=ML,
                                  name="LinearRegressor", coefficients=f32(coef),
                                  intercepts=f32([intercept]), targets=1, post_transform="NONE"))
    graph = helper.make_graph(nodes, name, [tensor_info("float_input", TensorProto.FLOAT, [None, d])],
                              [tensor_info("variable", TensorProto.FLOAT, [None, 1])])
    return helper.make_model(graph, opset_imports=OPSETS, producer_name=PRODUCER)


# --- The independent ONNX-ML evaluator (numpy, float64 arithmetic on the stored float32 values) ---

def attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def evaluate(model, x):
    """Evaluates the nodes of the linear graphs above, per the ai.onnx.ml operator docs.

    The inputs stay float64, as confide's client encodes them (an ONNX runtime would first round
    them to the float32 input tensor), so the comparison isolates how the weights were read."""
    values = {model.graph.input[0].name: np.asarray(x, dtype=np.float64)}
    for node in model.graph.node:
        a = attrs(node)
        inp = values.get(node.input[0]) if node.input else None
        if node.op_type == "Scaler":
            values[node.output[0]] = (inp - np.array(a["offset"])) * np.array(a["scale"])
        elif node.op_type in ("LinearClassifier", "LinearRegressor"):
            coef = np.array(a["coefficients"], dtype=np.float64)
            intercepts = np.array(a.get("intercepts", []), dtype=np.float64)
            rows = len(intercepts) if len(intercepts) else 1
            raw = inp @ coef.reshape(rows, -1).T + intercepts
            post = a.get("post_transform", b"NONE").decode()
            if node.op_type == "LinearRegressor":
                values[node.output[0]] = raw
                continue
            scores = {"NONE": raw, "LOGISTIC": sigmoid(raw),
                      "SOFTMAX": np.exp(raw - raw.max(1, keepdims=True))}[post]
            if post == "SOFTMAX":
                scores = scores / scores.sum(1, keepdims=True)
            labels = a.get("classlabels_ints") or [s.decode() for s in a["classlabels_strings"]]
            values[node.output[0]] = [labels[i] for i in np.argmax(scores, 1)]
            values[node.output[1]] = scores
            values[node.output[1] + ":raw"] = raw
        elif node.op_type == "Normalizer":
            values[node.output[0]] = inp / np.abs(inp).sum(1, keepdims=True)
        elif node.op_type in ("Cast", "Identity", "ZipMap"):
            values[node.output[0]] = inp
    return values


# --- Cases ---

cases = []


def write(name, model):
    path = HERE / f"{name}.onnx"
    path.write_bytes(model.SerializeToString())
    return onnx.load(str(path))  # read back by protobuf's own parser


def check(model):
    """onnx.checker, plus strict type-checking shape inference for graphs without ZipMap (onnx
    1.12's shape inference cannot merge ZipMap's seq(map) output: "type case unsupported")."""
    onnx.checker.check_model(model)
    if not any(n.op_type == "ZipMap" for n in model.graph.node):
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)


def accepted(name, model, features, x, *, task, estimator, about, classes=None):
    check(model)
    stored = write(name, model)
    x = x[:ROWS]
    ev = evaluate(stored, x)
    expected = {}
    if task == "regression":
        expected["sklearn"] = {"predictions": [float(v) for v in estimator.predict(x)]}
        expected["onnx"] = {"predictions": [float(v) for v in ev["variable"][:, 0]]}
    else:
        proba = estimator.predict_proba(x)
        decision = estimator.decision_function(x)
        labels = [str(c) for c in estimator.predict(x)]
        # Rows whose top two probabilities are within 1e-3 would make the label comparison fragile.
        top = np.sort(proba, 1)
        assert (top[:, -1] - top[:, -2] > 1e-3).all(), f"{name}: a recorded row is a near tie"
        classifier = next(n for n in stored.graph.node if n.op_type == "LinearClassifier")
        raw = ev[classifier.output[1] + ":raw"]
        expected["sklearn"] = {
            # confide's scores: the logit of classes[1] (binary) or one logit per class.
            "scores": [[float(v)] for v in decision] if task == "binary-classification"
            else [[float(v) for v in row] for row in decision],
            "probabilities": [[float(v) for v in row] for row in proba],
            "labels": labels,
        }
        expected["onnx"] = {
            "scores": [[float(row[1])] for row in raw] if task == "binary-classification"
            else [[float(v) for v in row] for row in raw],
            "probabilities": [[float(v) for v in row] for row in ev[classifier.output[1]]],
            "labels": [str(v) for v in ev["label"]],
        }
    cases.append({
        "name": name, "file": f"{name}.onnx", "about": about, "expect": "accept", "task": task,
        "features": features, "classes": classes, "hasScaler": any(n.op_type == "Scaler" for n in stored.graph.node),
        "inputs": [[float(v) for v in row] for row in x], "expected": expected,
    })


def refused(name, model, code, contains, about, valid=True):
    if valid:
        check(model)
    write(name, model)
    cases.append({"name": name, "file": f"{name}.onnx", "about": about, "expect": code,
                  "messageContains": contains, "validOnnx": valid})


def main():
    for old in HERE.glob("*.onnx"):
        old.unlink()
    bc_features, bc_x, bc_y = load("breast-cancer-wisconsin.csv")
    db_features, db_x, db_y = load("diabetes.csv")
    d_bc, d_db = len(bc_features), len(db_features)

    # 1. Pipeline StandardScaler -> binary LogisticRegression, int labels, Normalizer, ZipMap, Cast.
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(bc_x, bc_y.astype(int))
    sc, lr = pipe[0], pipe[1]
    binary = classifier_graph("breast_binary_pipeline", d_bc, lr.coef_, lr.intercept_,
                              list(lr.classes_), "LOGISTIC", scaler=sc)
    accepted("breast-binary-pipeline", binary, bc_features, bc_x, task="binary-classification",
             estimator=pipe, classes=[str(c) for c in lr.classes_],
             about="Scaler -> LinearClassifier (2 rows [-w, w], LOGISTIC) -> Normalizer L1 -> ZipMap; label Cast to int64")

    # 2. Binary with string labels, no ZipMap (skl2onnx zipmap=False), scores cast to double.
    med = np.median(db_y)
    y2 = np.where(db_y > med, "high", "low")
    pipe2 = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(db_x, y2)
    sc2, lr2 = pipe2[0], pipe2[1]
    binary2 = classifier_graph("diabetes_binary_strings", d_db, lr2.coef_, lr2.intercept_,
                               [str(c) for c in lr2.classes_], "LOGISTIC", scaler=sc2, zipmap=False,
                               normalizer=False, cast_scores=TensorProto.DOUBLE)
    keep = np.sort(pipe2.predict_proba(db_x), 1)
    rows2 = db_x[(keep[:, -1] - keep[:, -2]) > 1e-3]
    accepted("diabetes-binary-strings", binary2, db_features, rows2, task="binary-classification",
             estimator=pipe2, classes=[str(c) for c in lr2.classes_],
             about="Scaler -> LinearClassifier (string labels, LOGISTIC) -> Cast of the probabilities to double; no ZipMap")

    # 3. Multinomial LogisticRegression (SOFTMAX), three string classes, ZipMap.
    cut1, cut2 = np.quantile(db_y, [1 / 3, 2 / 3])
    y3 = np.where(db_y < cut1, "c_low", np.where(db_y < cut2, "c_mid", "c_high"))
    pipe3 = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(db_x, y3)
    sc3, lr3 = pipe3[0], pipe3[1]
    multi = classifier_graph("diabetes_multiclass", d_db, lr3.coef_, lr3.intercept_,
                             [str(c) for c in lr3.classes_], "SOFTMAX", scaler=sc3)
    keep3 = np.sort(pipe3.predict_proba(db_x), 1)
    rows3 = db_x[(keep3[:, -1] - keep3[:, -2]) > 1e-3]
    accepted("diabetes-multiclass-softmax", multi, db_features, rows3, task="multiclass-classification",
             estimator=pipe3, classes=[str(c) for c in lr3.classes_],
             about="Scaler -> LinearClassifier (3 classes, SOFTMAX) -> Normalizer L1 -> ZipMap (strings)")

    # 4. LinearRegression on raw features: no Scaler (the --input-bound case of the CLI).
    reg = LinearRegression().fit(db_x, db_y)
    accepted("diabetes-regression-raw", regressor_graph("diabetes_regression_raw", d_db, reg.coef_,
             reg.intercept_), db_features, db_x, task="regression", estimator=reg,
             about="LinearRegressor (1 target, NONE) on raw features, no Scaler")

    # 4b. LinearRegression without a Scaler on diabetes features scaled as scikit-learn's
    # load_diabetes() gives them (each column centred, then divided by std * sqrt(n): |x| < 0.2,
    # coefficients in the hundreds). The CLI test of `he keygen --input-bound auto` uses its CSV.
    centred = db_x - db_x.mean(0)
    unit = centred / (centred.std(0) * np.sqrt(len(db_x)))
    with open(HERE / "diabetes-unit-norm.csv", "w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(db_features + ["target"])
        for row, target in zip(unit, db_y):
            out.writerow([f"{v:.8g}" for v in row] + [f"{target:g}"])
    _, unit_x, _ = load_csv(HERE / "diabetes-unit-norm.csv")
    reg_unit = LinearRegression().fit(unit_x, db_y)
    accepted("diabetes-regression-unit-norm", regressor_graph("diabetes_regression_unit_norm", d_db,
             reg_unit.coef_, reg_unit.intercept_), db_features, unit_x, task="regression",
             estimator=reg_unit,
             about="LinearRegressor on load_diabetes-style features (unit-norm columns), no Scaler")

    # 5. Pipeline StandardScaler -> Ridge.
    pipe5 = make_pipeline(StandardScaler(), Ridge(alpha=1.0)).fit(db_x, db_y)
    accepted("diabetes-regression-pipeline", regressor_graph("diabetes_regression_pipeline", d_db,
             pipe5[1].coef_, pipe5[1].intercept_, scaler=pipe5[0]), db_features, db_x,
             task="regression", estimator=pipe5, about="Scaler -> LinearRegressor (Ridge)")

    # --- Valid ONNX that confide refuses: operators or uses it cannot reproduce ---
    refused("binary-post-none", classifier_graph("binary_none", d_bc, lr.coef_, lr.intercept_,
            list(lr.classes_), "NONE", scaler=sc, normalizer=False),
            "HE_ONNX_UNSUPPORTED_OP", "post_transform \"NONE\"",
            "binary LinearClassifier with post_transform NONE (LinearSVC-like raw scores)")
    refused("multiclass-ovr-logistic", classifier_graph("multi_ovr", d_db, lr3.coef_, lr3.intercept_,
            [str(c) for c in lr3.classes_], "LOGISTIC", scaler=sc3),
            "HE_ONNX_UNSUPPORTED_OP", "one-vs-rest",
            "3-class LinearClassifier with post_transform LOGISTIC (one-vs-rest)")
    refused("multiclass-post-none", classifier_graph("multi_none", d_db, lr3.coef_, lr3.intercept_,
            [str(c) for c in lr3.classes_], "NONE", scaler=sc3, normalizer=False),
            "HE_ONNX_UNSUPPORTED_OP", "post_transform \"NONE\"",
            "3-class LinearClassifier with post_transform NONE")

    tree = helper.make_model(helper.make_graph(
        [helper.make_node("TreeEnsembleRegressor", ["float_input"], ["variable"], domain=ML,
                          name="TreeEnsembleRegressor", n_targets=1, nodes_treeids=[0],
                          nodes_nodeids=[0], nodes_featureids=[0], nodes_modes=["LEAF"],
                          nodes_values=[0.0], nodes_truenodeids=[0], nodes_falsenodeids=[0],
                          nodes_missing_value_tracks_true=[0], nodes_hitrates=[1.0],
                          target_treeids=[0], target_nodeids=[0], target_ids=[0],
                          target_weights=[152.0])],
        "tree", [tensor_info("float_input", TensorProto.FLOAT, [None, d_db])],
        [tensor_info("variable", TensorProto.FLOAT, [None, 1])]),
        opset_imports=OPSETS, producer_name=PRODUCER)
    refused("unsupported-tree-ensemble", tree, "HE_ONNX_UNSUPPORTED_OP", "TreeEnsembleRegressor",
            "an ai.onnx.ml TreeEnsembleRegressor (a one-leaf tree)")

    w = helper.make_tensor("coef", TensorProto.FLOAT, [d_db, 1], f32(reg.coef_))
    b = helper.make_tensor("intercept", TensorProto.FLOAT, [1], f32([reg.intercept_]))
    matmul = helper.make_model(helper.make_graph(
        [helper.make_node("MatMul", ["float_input", "coef"], ["mul"], name="MatMul"),
         helper.make_node("Add", ["mul", "intercept"], ["variable"], name="Add")],
        "matmul", [tensor_info("float_input", TensorProto.FLOAT, [None, d_db])],
        [tensor_info("variable", TensorProto.FLOAT, [None, 1])], initializer=[w, b]),
        opset_imports=OPSETS, producer_name=PRODUCER)
    refused("unsupported-matmul-add", matmul, "HE_ONNX_UNSUPPORTED_OP", "MatMul",
            "MatMul + Add with initializers (a linear regression in default-domain operators)")

    cast_input = regressor_graph("cast_input", d_db, reg.coef_, reg.intercept_)
    cast_input.graph.node.insert(0, helper.make_node("Cast", ["float_input"], ["cast_input"],
                                                     name="CastInput", to=TensorProto.FLOAT))
    cast_input.graph.node[1].input[0] = "cast_input"
    refused("cast-before-model", cast_input, "HE_ONNX_UNSUPPORTED_OP", "only a Scaler may precede",
            "Cast of the graph input before a LinearRegressor (only a Scaler or Identity may precede)")

    # --- Hostile or malformed ---
    no_ml = regressor_graph("no_ml_import", d_db, reg.coef_, reg.intercept_)
    del no_ml.opset_import[:]
    no_ml.opset_import.extend([helper.make_opsetid("", 15)])
    refused("wrong-opset-domain-not-imported", no_ml, "HE_ONNX_INVALID", "opset_import does not import",
            "a LinearRegressor in ai.onnx.ml while opset_import imports only the default domain",
            valid=False)
    other = regressor_graph("other_domain", d_db, reg.coef_, reg.intercept_)
    other.graph.node[0].domain = "com.example.ml"
    other.opset_import.extend([helper.make_opsetid("com.example.ml", 1)])
    refused("wrong-opset-domain-foreign", other, "HE_ONNX_UNSUPPORTED_OP", "com.example.ml",
            "LinearRegressor in a foreign domain com.example.ml (imported), not ai.onnx.ml",
            valid=False)

    full = (HERE / "diabetes-regression-raw.onnx").read_bytes()
    for label, cut in [("1-byte", 1), ("half", len(full) // 2), ("last-byte-missing", len(full) - 1)]:
        name = f"truncated-{label}"
        (HERE / f"{name}.onnx").write_bytes(full[:cut])
        try:
            onnx.load_from_string(full[:cut])
            parsed = "parsed"
        except Exception:  # noqa: BLE001 - protobuf's DecodeError class moves between versions
            parsed = "refused"
        cases.append({"name": name, "file": f"{name}.onnx", "expect": "HE_ONNX_INVALID",
                      "about": f"diabetes-regression-raw.onnx cut to {cut} of {len(full)} bytes "
                               f"(Python protobuf: {parsed})",
                      "messageContains": "", "validOnnx": False})

    meta = {
        "generator": "test/vectors/onnx/generate.py",
        "versions": {"onnx": onnx.__version__, "numpy": np.__version__,
                     "sklearn": __import__("sklearn").__version__},
        "tolerances": {
            "onnx": "scores and regression predictions within 1e-9 * max(1, |expected|) "
                    "(the same float32 weights in float64 arithmetic); probabilities within 1e-9; labels equal",
            "sklearn": "scores and predictions within 1e-4 * max(1, |expected|) (float64 weights rounded to "
                       "float32 in the file); probabilities within 1e-5; labels equal (near ties excluded)",
            "encrypted": "CKKS scores within 1e-3 of the plaintext scores; labels equal",
        },
        "cases": cases,
    }
    (HERE / "cases.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {len(cases)} cases to {HERE / 'cases.json'}")


if __name__ == "__main__":
    main()
