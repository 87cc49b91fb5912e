"""Model files of the gradient-boosting estimators: ``.npz`` archives of
plain arrays and one JSON text, read back with ``allow_pickle=False`` so
that loading a file from elsewhere cannot run code.

Contents (format ``fastml-hist-gradient-boosting/1``):

* ``header``: JSON with the format, the estimator class, its parameters
  (those JSON can hold; others are written as their defaults and named
  under ``"dropped_params"``), and the scalar fitted attributes;
* ``baseline`` (K,), ``train_score_``, ``validation_score_``;
* ``classes_`` (classifier), ``feature_names_in_`` and ``is_categorical_``
  when set, and ``categories_<j>`` for each categorical feature;
* ``thresholds`` and ``threshold_offsets``: the bin thresholds of every
  feature, concatenated;
* ``tree_<field>`` for every ``kernels.Tree`` field, the trees stacked in
  fit order (iteration-major, then raw-prediction column), and
  ``tree_sizes``.
"""
import json
import warnings

import numpy as np

from fastml import kernels

FORMAT = "fastml-hist-gradient-boosting/1"


def _plain(values, name):
    """An array numpy can store without pickling (no object dtype)."""
    values = np.asarray(values)
    if values.dtype.kind != "O":
        return values
    if all(isinstance(v, str) for v in values):
        return values.astype(str)
    raise ValueError(f"{name} holds Python objects of types "
                     f"{sorted({type(v).__name__ for v in values})}; a model file stores "
                     "numbers and strings only.")


def _to_json(value):
    """A parameter as JSON can hold it: NumPy scalars and arrays as Python
    numbers and lists, dicts (e.g. class_weight) as key-value pairs so that
    non-string keys survive."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return {"__array__": _to_json(value.tolist())}
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return {"__items__": [[_to_json(k), _to_json(v)] for k, v in value.items()]}
    return value


def _from_json(value):
    if isinstance(value, dict) and "__items__" in value:
        return {_hashable(k): _from_json(v) for k, v in value["__items__"]}
    if isinstance(value, dict) and "__array__" in value:
        return np.asarray(value["__array__"])
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    return value


def _hashable(key):
    return tuple(key) if isinstance(key, list) else key


def save(model, path):
    from fastml.ensemble._hist_gradient_boosting.losses import Loss

    if isinstance(model.loss, Loss):
        raise ValueError("A model with a custom loss (NumbaLoss) cannot be saved: its loss "
                         "is code, and model files hold no code. Pickle it instead.")
    params, dropped = {}, []
    defaults = type(model)().get_params()
    for name, value in model.get_params().items():
        try:
            params[name] = _to_json(value)
            json.dumps(params[name])
        except TypeError:
            params[name] = defaults[name]
            dropped.append(name)
    if dropped:
        warnings.warn(f"Parameters {dropped} cannot be written to a model file; the loaded "
                      "model gets their defaults.", UserWarning, stacklevel=3)
    trees = [tree for iteration in model._trees for tree in iteration]
    stacked, _ = kernels.stack_trees(trees)
    header = {
        "format": FORMAT,
        "estimator": type(model).__name__,
        "params": params,
        "dropped_params": dropped,
        "n_iter_": int(model.n_iter_),
        "n_trees_per_iteration_": int(model.n_trees_per_iteration_),
        "n_features_in_": int(model.n_features_in_),
        "do_early_stopping_": bool(model.do_early_stopping_),
        "random_seed": int(model._random_seed),
    }
    arrays = {
        "header": np.array(json.dumps(header)),
        "baseline": model._baseline,
        "train_score_": model.train_score_,
        "validation_score_": model.validation_score_,
        "thresholds": np.concatenate([np.asarray(t, np.float64) for t in model._thresholds]),
        "threshold_offsets": np.cumsum([0] + [len(t) for t in model._thresholds]),
        "tree_sizes": np.array([t.value.size for t in trees], dtype=np.int64),
    }
    arrays.update({f"tree_{name}": getattr(stacked, name) for name in kernels.Tree._fields})
    if hasattr(model, "classes_"):
        arrays["classes_"] = _plain(model.classes_, "classes_")
    if hasattr(model, "feature_names_in_"):
        arrays["feature_names_in_"] = _plain(model.feature_names_in_, "feature_names_in_")
    if model.is_categorical_ is not None:
        arrays["is_categorical_"] = model.is_categorical_
        for j, categories in model._categories.items():
            arrays[f"categories_{j}"] = _plain(categories, f"the categories of feature {j}")
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def load(path, cls):
    try:
        return _load(path, cls)
    except (KeyError, IndexError, TypeError) as err:
        raise ValueError(f"{path} is not a valid fastml gradient-boosting model file: "
                         f"{err!r}") from None


def _check_consistent(model, arrays, starts):
    """The counts of a model file agree with each other (the trees' node
    arrays are checked by the predictor)."""
    K, n_iter, d = model.n_trees_per_iteration_, model.n_iter_, model.n_features_in_
    problems = []
    if arrays["baseline"].shape != (K,):
        problems.append(f"baseline has shape {arrays['baseline'].shape}, expected ({K},)")
    if arrays["tree_sizes"].size != n_iter * K or np.any(arrays["tree_sizes"] < 1):
        problems.append(f"{arrays['tree_sizes'].size} trees, expected {n_iter} x {K}")
    if starts[-1] != arrays["tree_value"].size:
        problems.append("the tree sizes do not add up to the node count")
    if arrays["threshold_offsets"].shape != (d + 1,):
        problems.append(f"thresholds for {arrays['threshold_offsets'].size - 1} features, "
                        f"expected {d}")
    if problems:
        raise ValueError("inconsistent model file: " + "; ".join(problems) + ".")


def _load(path, cls):
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    try:
        header = json.loads(str(arrays.pop("header")))
    except (KeyError, ValueError):
        raise ValueError(f"{path} is not a fastml gradient-boosting model file.") from None
    if header.get("format") != FORMAT:
        raise ValueError(f"{path} has format {header.get('format')!r}; this fastml reads "
                         f"{FORMAT!r}.")
    if header["estimator"] != cls.__name__:
        raise ValueError(f"{path} holds a {header['estimator']}; load it with "
                         f"{header['estimator']}.load.")
    model = cls(**{name: _from_json(value) for name, value in header["params"].items()})
    model.n_iter_ = header["n_iter_"]
    model.n_trees_per_iteration_ = header["n_trees_per_iteration_"]
    model.n_features_in_ = header["n_features_in_"]
    model.do_early_stopping_ = header["do_early_stopping_"]
    model._random_seed = header["random_seed"]
    model._baseline = arrays["baseline"]
    model.train_score_ = arrays["train_score_"]
    model.validation_score_ = arrays["validation_score_"]
    offsets = arrays["threshold_offsets"]
    model._thresholds = [arrays["thresholds"][a:b] for a, b in zip(offsets[:-1], offsets[1:])]
    model._thresholds_max_bins = model.max_bins
    if "classes_" in arrays:
        model.classes_ = arrays["classes_"]
    if "feature_names_in_" in arrays:
        model.feature_names_in_ = arrays["feature_names_in_"].astype(object)
    model.is_categorical_ = arrays.get("is_categorical_")
    if model.is_categorical_ is not None:
        model._categories = {int(name.split("_")[1]): values for name, values in arrays.items()
                             if name.startswith("categories_")}
    model._loss = model._make_loss()
    sizes = arrays["tree_sizes"]
    starts = np.concatenate(([0], np.cumsum(sizes)))
    _check_consistent(model, arrays, starts)
    K = model.n_trees_per_iteration_
    trees = []
    for a, b in zip(starts[:-1], starts[1:]):
        fields = {name: arrays[f"tree_{name}"][a:b] for name in kernels.Tree._fields}
        fields["left"] = np.where(fields["left"] >= 0, fields["left"] - a, -1)
        fields["right"] = np.where(fields["right"] >= 0, fields["right"] - a, -1)
        trees.append(kernels.Tree(**fields))
    model._trees = [trees[i:i + K] for i in range(0, len(trees), K)]
    for tree, roots in model._forest():  # the node arrays are sound before any predict
        if roots.size:
            kernels.check_tree(tree, model.n_features_in_)
    return model
