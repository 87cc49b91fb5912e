"""The cases of ``fastml bench``, one builder per family.

Each builder takes the `Settings` of the run and returns `Case` objects whose
systems are fastml and every selected peer that is installed.  Data are
generated from a fixed seed; sizes come from `Settings.n` so that ``--quick``
and the test suite's tiny runs use the same code as a full run.
"""
import importlib.util
from dataclasses import dataclass
from typing import Tuple

import numpy as np

from fastml._bench.harness import Case

FAMILIES = ("distances", "neighbors", "transforms", "boosting", "dask")
# peer name -> the module that must import for it
PEERS = {"sklearn": "sklearn", "scipy": "scipy", "faiss": "faiss", "lightgbm": "lightgbm",
         "xgboost": "xgboost", "dask-ml": "dask_ml"}


@dataclass
class Settings:
    """What to run: peers, threads, and the size of the data.

    ``sizes`` are the row counts of the size series (distances, boosting);
    ``n`` is the size of the single cases; ``iterations`` the boosting
    rounds.
    """
    peers: Tuple[str, ...]
    threads: int
    n: int
    sizes: Tuple[int, ...]
    iterations: int

    @classmethod
    def for_run(cls, quick, scale, peers, threads):
        n, sizes, iterations = ((2000, (500, 1000, 2000), 20) if quick
                                else (8000, (1000, 2000, 4000, 8000), 100))
        if scale != 1:
            n = max(int(n * scale), 20)
            sizes = tuple(sorted({max(int(s * scale), 20) for s in sizes}))
            iterations = max(int(iterations * min(scale * 4, 1)), 3)
        return cls(tuple(peers), threads, n, sizes, iterations)

    def has(self, peer):
        return peer in self.peers


def installed_peers(requested):
    """(usable, missing): the requested peers whose modules import, and the rest."""
    usable = tuple(p for p in requested if importlib.util.find_spec(PEERS[p]) is not None)
    return usable, tuple(p for p in requested if p not in usable)


def _data(n, d, dtype="float64", seed=0):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(dtype)


def _close(rtol):
    def check(ours, theirs):
        ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
        if ours.shape != theirs.shape:
            return f"shapes differ: {ours.shape} vs {theirs.shape}"
        scale = np.maximum(np.abs(theirs), 1e-3)
        worst = float(np.nanmax(np.abs(ours - theirs) / scale)) if ours.size else 0.0
        return None if worst <= rtol else f"max relative difference {worst:.2g}"
    return check


def _same_labels(min_share):
    def check(ours, theirs):
        share = float(np.mean(np.asarray(ours) == np.asarray(theirs)))
        return None if share >= min_share else f"only {share:.1%} of the outputs agree"
    return check


# ---------------------------------------------------------------- distances
def distance_cases(s):
    from fastml.metrics import pairwise_distances

    peers = {}   # peer -> call(X, Y, metric, **params)
    if s.has("sklearn"):
        from sklearn.metrics import pairwise_distances as sk
        peers["sklearn"] = lambda X, Y, m, **k: sk(X, Y, metric=m, n_jobs=s.threads, **k)
    if s.has("scipy"):
        from scipy.spatial.distance import cdist
        peers["scipy"] = lambda X, Y, m, **k: cdist(X, Y, m, **k)

    def systems(X, Y, metric, params, names):
        calls = {"fastml": lambda: pairwise_distances(X, Y, metric=metric, n_jobs=s.threads,
                                                      **params)}
        calls.update({name: lambda call=peers[name]: call(X, Y, metric, **params)
                      for name in names if name in peers})
        return calls

    cases = []
    for n in s.sizes:        # cost against size: the GEMM metric, every peer
        X, Y = _data(n, 64), _data(n, 64, seed=1)
        cases.append(Case("distances", "euclidean", n, 64, "float64",
                          systems(X, Y, "euclidean", {}, ("sklearn", "scipy")),
                          _close(1e-9), sweep=True))
    for metric, dtype, params, peer in (
            ("cosine", "float32", {}, "sklearn"), ("cityblock", "float64", {}, "scipy"),
            ("chebyshev", "float32", {}, "scipy"), ("canberra", "float64", {}, "scipy"),
            ("minkowski", "float64", {"p": 1.5}, "scipy")):
        if peer not in peers:
            continue
        n = s.n // 2
        X, Y = _data(n, 64, dtype), _data(n, 64, dtype, seed=1)
        name = metric + "".join(f" {k}={v}" for k, v in params.items())
        cases.append(Case("distances", name, n, 64, dtype, systems(X, Y, metric, params, (peer,)),
                          _close(1e-4 if dtype == "float32" else 1e-9)))
    return cases


# ---------------------------------------------------------------- neighbors
def neighbor_cases(s):
    from sklearn.datasets import load_digits

    from fastml.neighbors import KNeighborsClassifier, NearestNeighbors

    cases = []
    index, queries = _data(s.n * 4, 64, "float32"), _data(s.n // 2, 64, "float32", seed=1)
    fitted = NearestNeighbors(n_neighbors=10, n_jobs=s.threads).fit(index)
    systems = {"fastml": lambda: fitted.kneighbors(queries, return_distance=False)}
    if s.has("sklearn"):
        from sklearn.neighbors import NearestNeighbors as SkNN
        sk = SkNN(n_neighbors=10, algorithm="brute", n_jobs=s.threads).fit(index)
        systems["sklearn"] = lambda: sk.kneighbors(queries, return_distance=False)
    if s.has("faiss"):
        import faiss
        faiss.omp_set_num_threads(s.threads)
        flat = faiss.IndexFlatL2(64)
        flat.add(index)
        systems["faiss"] = lambda: flat.search(queries, 10)[1]
    cases.append(Case("neighbors", "kneighbors k=10", index.shape[0], 64, "float32", systems,
                      _same_labels(0.99)))

    # small data, a user's first try: the bundled digits
    digits = load_digits()
    X = digits.data + np.random.default_rng(0).normal(scale=1e-6, size=digits.data.shape)
    train, test = slice(0, 1347), slice(1347, None)
    ours = KNeighborsClassifier(n_neighbors=5, n_jobs=s.threads).fit(X[train], digits.target[train])
    systems = {"fastml": lambda: ours.predict(X[test])}
    if s.has("sklearn"):
        from sklearn.neighbors import KNeighborsClassifier as SkKNN
        sk_knn = SkKNN(n_neighbors=5, algorithm="brute", n_jobs=s.threads)
        sk_knn.fit(X[train], digits.target[train])
        systems["sklearn"] = lambda: sk_knn.predict(X[test])
    cases.append(Case("neighbors", "digits kNN predict", 1797, 64, "float64", systems,
                      _same_labels(1.0)))

    # text: TF-IDF rows over hashed features, searched as scipy.sparse
    rows = tfidf_rows(s.n * 10 + s.n // 2)
    docs, texts = rows[:s.n * 10], rows[s.n * 10:]
    ours_text = NearestNeighbors(n_neighbors=10, metric="cosine", n_jobs=s.threads).fit(docs)
    systems = {"fastml": lambda: ours_text.kneighbors(texts, return_distance=False)}
    if s.has("sklearn"):
        from sklearn.neighbors import NearestNeighbors as SkNN
        sk_text = SkNN(n_neighbors=10, metric="cosine", algorithm="brute",
                       n_jobs=s.threads).fit(docs)
        systems["sklearn"] = lambda: sk_text.kneighbors(texts, return_distance=False)
    cases.append(Case("neighbors", "sparse TF-IDF kNN cosine", docs.shape[0], docs.shape[1],
                      "float64 CSR", systems, _same_labels(1.0)))
    return cases


def tfidf_rows(n_docs, n_features=2 ** 18, vocabulary=200_000, mean_length=120, seed=0):
    """(n_docs, n_features) CSR TF-IDF rows, as text makes them: lengths
    Poisson(mean_length), words from a Zipf law (exponent 1.1) over the
    vocabulary, hashed to columns, then ``TfidfTransformer``."""
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfTransformer

    rng = np.random.default_rng(seed)
    lengths = rng.poisson(mean_length, n_docs)
    words = (rng.zipf(1.1, lengths.sum()) - 1) % vocabulary
    columns = rng.permutation(max(vocabulary, n_features))[words] % n_features
    rows = np.repeat(np.arange(n_docs), lengths)
    counts = sparse.csr_matrix((np.ones(rows.size), (rows, columns)),
                               shape=(n_docs, n_features))
    counts.sum_duplicates()
    return TfidfTransformer().fit_transform(counts).tocsr()


# ---------------------------------------------------------------- transforms
def transform_cases(s):
    from fastml import kernel_approximation as fk
    from fastml import preprocessing as fp

    X = _data(s.n * 2, 32)
    specs = [("StandardScaler", "preprocessing", {}),
             ("PolynomialFeatures", "preprocessing", {"degree": 2}),
             ("KBinsDiscretizer", "preprocessing",
              {"n_bins": 16, "encode": "ordinal", "subsample": None}),
             ("QuantileTransformer", "preprocessing", {"n_quantiles": 1000, "subsample": None}),
             ("RBFSampler", "kernel_approximation", {"n_components": 256, "random_state": 0})]
    cases = []
    for name, module, params in specs:
        ours = getattr(fp if module == "preprocessing" else fk, name)(**params)
        systems = {"fastml": lambda t=ours: t.fit_transform(X)}
        if s.has("sklearn"):
            sk_module = importlib.import_module(f"sklearn.{module}")
            peer = getattr(sk_module, name)(**params)
            systems["sklearn"] = lambda t=peer: t.fit_transform(X)
        cases.append(Case("transforms", f"{name} fit_transform", X.shape[0], X.shape[1],
                          "float64", systems, _close(1e-6)))
    return cases


# ---------------------------------------------------------------- boosting
def _boosting_systems(s, X, y):
    from fastml.ensemble import HistGradientBoostingClassifier

    params = dict(max_iter=s.iterations, max_leaf_nodes=31, learning_rate=0.1,
                  early_stopping=False, random_state=0)
    systems = {"fastml": lambda: HistGradientBoostingClassifier(**params).fit(X, y).predict(X)}
    if s.has("sklearn"):
        from sklearn.ensemble import HistGradientBoostingClassifier as SkHGB
        systems["sklearn"] = lambda: SkHGB(**params).fit(X, y).predict(X)
    if s.has("lightgbm"):
        import lightgbm
        systems["lightgbm"] = lambda: lightgbm.LGBMClassifier(
            n_estimators=s.iterations, num_leaves=31, learning_rate=0.1, max_bin=255,
            min_child_samples=20, num_threads=s.threads, verbose=-1).fit(X, y).predict(X)
    if s.has("xgboost"):
        import xgboost
        systems["xgboost"] = lambda: xgboost.XGBClassifier(
            n_estimators=s.iterations, tree_method="hist", grow_policy="lossguide",
            max_leaves=31, max_depth=0, learning_rate=0.1, max_bin=256,
            n_jobs=s.threads).fit(X, y).predict(X)
    return systems


def boosting_cases(s):
    from sklearn.datasets import load_digits, make_classification

    cases = []
    for n in s.sizes:
        n_rows = n * 25
        X, y = make_classification(n_samples=n_rows, n_features=28, n_informative=14,
                                   random_state=0)
        X = X.astype(np.float32)
        cases.append(Case("boosting", f"fit + predict, binary, {s.iterations} iter.", n_rows, 28,
                          "float32", _boosting_systems(s, X, y), _same_labels(0.97),
                          sweep=True))
    digits = load_digits()
    cases.append(Case("boosting", f"digits fit + predict, 10 classes, {s.iterations} iter.",
                      1797, 64, "float64",
                      _boosting_systems(s, digits.data, digits.target), _same_labels(0.97)))
    return cases


# ---------------------------------------------------------------- dask
def dask_cases(s):
    import dask.array as da

    from fastml.metrics import pairwise_distances
    from fastml.preprocessing import StandardScaler

    cases = []
    X = da.from_array(_data(s.n * 2, 64), chunks=(max(s.n // 4, 10), 64))
    Y = _data(s.n // 2, 64, seed=1)
    # the threaded scheduler of this process, one block per thread
    systems = {"fastml": lambda: pairwise_distances(X, Y).compute(
        scheduler="threads", num_workers=s.threads)}
    if s.has("dask-ml"):
        import dask_ml.metrics
        systems["dask-ml"] = lambda: dask_ml.metrics.pairwise_distances(X, Y).compute(
            scheduler="threads", num_workers=s.threads)
    cases.append(Case("dask", "pairwise_distances, Dask X", X.shape[0], 64, "float64",
                      systems, _close(1e-9)))
    systems = {"fastml": lambda: StandardScaler().fit_transform(X).compute(
        scheduler="threads", num_workers=s.threads)}
    if s.has("dask-ml"):
        import dask_ml.preprocessing
        systems["dask-ml"] = lambda: dask_ml.preprocessing.StandardScaler().fit_transform(
            X).compute(scheduler="threads", num_workers=s.threads)
    cases.append(Case("dask", "StandardScaler fit_transform, Dask X", X.shape[0], 64,
                      "float64", systems, _close(1e-9)))
    return cases


BUILDERS = {"distances": distance_cases, "neighbors": neighbor_cases,
            "transforms": transform_cases, "boosting": boosting_cases, "dask": dask_cases}
