"""A trained tabular classifier as plain NumPy arrays, and its prediction code.

:class:`TabularModel` is what a bundle loads and what cross-validation scores: the *same* object
and the same code path, so the CV figures are the figures of the shipped predictor.

Why the predictor is hand-written NumPy and not LightGBM's or scikit-learn's own ``predict``:

* **Cold start.** ``spotidance classify`` must answer in well under 1.5 s. Importing LightGBM and
  scikit-learn (which pulls in SciPy) takes one to several seconds on the 2-core machines the
  project targets; NumPy alone takes ~0.1 s. Training still uses LightGBM and scikit-learn.
* **Safe loading.** The bundle holds arrays in an ``.npz`` read with ``allow_pickle=False`` and
  checked array by array (:meth:`TabularModel.from_arrays`), never a pickle or joblib file.
* **Small and exact.** The predictor is ~100 lines: a vectorised walk of LightGBM's dumped trees
  (LightGBM's numerical-split rule, missing-value handling included) and a closed-form kernel
  logistic regression. ``tests/tabular`` check it against LightGBM's and scikit-learn's own
  predictions to 1e-9 (the extra trees to 1e-12).

Components (any of them may be absent, the ensemble is their weighted soft vote):

``gbt``
    gradient-boosted trees (LightGBM, multiclass softmax or binary logistic), flattened: node
    arrays ``feature, threshold, left, right, value, default_left, missing_type``; a leaf has
    ``feature == -1``; children always come after their parent, so a walk cannot loop.
``forest``
    extra trees (scikit-learn, no bootstrap), flattened like ``gbt`` but with a row of class
    counts per leaf (``leaf``, ``counts``); the probability is the mean over trees of the leaf's
    class fractions, as scikit-learn computes it (bundle version 2).
``kernel``
    RBF kernel logistic regression: standardise, clip to +-``clip``, RBF kernel against
    ``centers`` (Nystroem landmarks), one matrix product ``coef`` and ``intercept`` (the Nystroem
    normalisation is folded into ``coef``), softmax.
``linear``
    multinomial logistic regression on the standardised, clipped features.
``mlp``
    a multi-layer perceptron (ReLU hidden layers, softmax or logistic output; scikit-learn's
    ``MLPClassifier`` weights) on *quantile-normalised* features: each column is mapped through
    the piecewise-linear function from its training quantiles ``quantiles[:, j]`` to the normal
    scores ``references`` (values outside the training range go to the end points), averaged
    over ties as scikit-learn's ``QuantileTransformer`` does (bundle version 3).
``novelty``
    Mahalanobis distance of the standardised raw features under a Ledoit-Wolf shrunk covariance;
    a row is *novel* when the distance exceeds ``threshold``, calibrated on out-of-fold distances
    so that at most 5 % of training rows are flagged under cross-validation.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from spotidance.core.errors import SpotidanceError
from spotidance.tabular.features import tempo_feature_names, tempo_features

#: LightGBM's ``kZeroThreshold``: |x| at or below it counts as zero for ``missing_type == Zero``.
_ZERO = 1e-35
_MISSING_NONE, _MISSING_ZERO, _MISSING_NAN = 0, 1, 2
#: Rows predicted per chunk (bounds the ``rows x trees`` working arrays to a few MB).
_CHUNK = 256
_MAX_DEPTH = 64
#: Most layers a stored perceptron may have.
_MAX_LAYERS = 16
#: Ensemble member names, in bundle order.
COMPONENTS = ("gbt", "forest", "kernel", "linear", "mlp")


@dataclasses.dataclass
class Prediction:
    """Predictions for a batch of rows.

    Attributes
    ----------
    labels : list of str
        The predicted class of each row (arg-max of ``probabilities``, first class on a tie).
    probabilities : numpy.ndarray
        ``(n, n_classes)``, columns in the order of :attr:`TabularModel.labels`.
    novelty_score : numpy.ndarray
        ``(n,)`` Mahalanobis distance of each row from the training data (NaN without a novelty
        model).
    novel : numpy.ndarray
        ``(n,)`` bool: the row is unlike the training data (score above the calibrated threshold).
    """

    labels: list[str]
    probabilities: np.ndarray
    novelty_score: np.ndarray
    novel: np.ndarray


@dataclasses.dataclass
class Trees:
    """Flattened boosted trees (see the module docstring)."""

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    default_left: np.ndarray
    missing_type: np.ndarray
    roots: np.ndarray
    tree_class: np.ndarray
    n_outputs: int  # 1 for binary logistic, n_classes for softmax
    max_depth: int

    def raw_score(self, X: np.ndarray) -> np.ndarray:
        """Sum of the trees' leaf values per output, ``(n, n_outputs)``."""
        n = X.shape[0]
        out = np.zeros((n, self.n_outputs))
        onehot = np.zeros((len(self.roots), self.n_outputs))
        onehot[np.arange(len(self.roots)), self.tree_class] = 1.0
        fast = not np.isnan(X).any() and not (self.missing_type == _MISSING_ZERO).any()
        walk = self._walk_arrays()
        for start in range(0, n, _CHUNK):
            Xc = X[start:start + _CHUNK]
            node = np.broadcast_to(self.roots, (Xc.shape[0], len(self.roots))).copy()
            node = self._walk_fast(Xc, node, walk) if fast else self._walk_general(Xc, node)
            if (self.feature[node] >= 0).any():
                raise SpotidanceError("damaged tree model: a walk did not reach a leaf")
            out[start:start + Xc.shape[0]] = self.value[node] @ onehot
        return out

    def _walk_arrays(self):
        """Node arrays in which a leaf points to itself (feature 0, threshold +inf); computed once."""
        cached = self.__dict__.get("_walk")
        if cached is None:
            leaf = self.feature < 0
            idx = np.arange(len(self.feature))
            cached = (np.where(leaf, 0, self.feature).astype(np.intp), np.where(leaf, np.inf, self.threshold),
                      np.where(leaf, idx, self.left).astype(np.intp), np.where(leaf, idx, self.right).astype(np.intp))
            self.__dict__["_walk"] = cached
        return cached

    def _walk_fast(self, Xc, node, walk):
        """The walk for inputs without NaN (NaN is refused at prediction time anyway)."""
        feat, thr, left, right = walk
        flat = Xc.ravel()
        base = (np.arange(Xc.shape[0]) * Xc.shape[1])[:, None]
        for _ in range(self.max_depth):
            go_left = flat[base + feat[node]] <= thr[node]
            node = np.where(go_left, left[node], right[node])
        return node

    def _walk_general(self, Xc, node):
        """LightGBM's full numerical decision rule, missing values included."""
        rows = np.arange(Xc.shape[0])[:, None]
        for _ in range(self.max_depth + 1):
            feat = self.feature[node]
            internal = feat >= 0
            if not internal.any():
                break
            fval = Xc[rows, np.where(internal, feat, 0)]
            mtype = self.missing_type[node]
            isnan = np.isnan(fval)
            fval = np.where(isnan & (mtype != _MISSING_NAN), 0.0, fval)
            use_default = ((mtype == _MISSING_ZERO) & (np.abs(fval) <= _ZERO)) | ((mtype == _MISSING_NAN) & isnan)
            go_left = np.where(use_default, self.default_left[node], fval <= self.threshold[node])
            nxt = np.where(go_left, self.left[node], self.right[node])
            node = np.where(internal, nxt, node)
        return node

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        raw = self.raw_score(X)
        if self.n_outputs == 1:
            p1 = 1.0 / (1.0 + np.exp(-raw[:, 0]))
            return np.column_stack([1.0 - p1, p1])
        return _softmax(raw)

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {
            f"{prefix}feature": self.feature.astype(np.int32),
            f"{prefix}threshold": self.threshold.astype(np.float64),
            f"{prefix}left": self.left.astype(np.int32),
            f"{prefix}right": self.right.astype(np.int32),
            f"{prefix}value": self.value.astype(np.float64),
            f"{prefix}default_left": self.default_left.astype(np.bool_),
            f"{prefix}missing_type": self.missing_type.astype(np.int8),
            f"{prefix}roots": self.roots.astype(np.int32),
            f"{prefix}tree_class": self.tree_class.astype(np.int32),
        }

    @classmethod
    def from_lightgbm(cls, booster) -> Trees:
        """Flatten a trained ``lightgbm.Booster`` (numerical splits only)."""
        dump = booster.dump_model()
        n_outputs = int(dump.get("num_tree_per_iteration", 1))
        feature, threshold, left, right, value, dleft, mtype = [], [], [], [], [], [], []
        roots, tree_class = [], []
        max_depth = 0
        codes = {"None": _MISSING_NONE, "Zero": _MISSING_ZERO, "NaN": _MISSING_NAN}
        for i, info in enumerate(dump["tree_info"]):
            roots.append(len(feature))
            tree_class.append(i % n_outputs)
            stack = [(info["tree_structure"], None, None, 0)]
            while stack:
                node, parent, side, depth = stack.pop()
                idx = len(feature)
                if parent is not None:
                    (left if side == "l" else right)[parent] = idx
                max_depth = max(max_depth, depth)
                if "leaf_value" in node and "split_feature" not in node:
                    feature.append(-1); threshold.append(0.0); left.append(-1); right.append(-1)
                    value.append(float(node["leaf_value"])); dleft.append(False); mtype.append(0)
                    continue
                if node.get("decision_type", "<=") != "<=":
                    raise SpotidanceError("only numerical tree splits are supported (no categorical features)")
                feature.append(int(node["split_feature"])); threshold.append(float(node["threshold"]))
                left.append(-1); right.append(-1); value.append(0.0)
                dleft.append(bool(node.get("default_left", False)))
                mtype.append(codes.get(str(node.get("missing_type", "None")), 0))
                # right pushed first so the left subtree is numbered first (pre-order)
                stack.append((node["right_child"], idx, "r", depth + 1))
                stack.append((node["left_child"], idx, "l", depth + 1))
        return cls(
            feature=np.array(feature, np.int32), threshold=np.array(threshold, np.float64),
            left=np.array(left, np.int32), right=np.array(right, np.int32),
            value=np.array(value, np.float64), default_left=np.array(dleft, np.bool_),
            missing_type=np.array(mtype, np.int8), roots=np.array(roots, np.int32),
            tree_class=np.array(tree_class, np.int32), n_outputs=n_outputs, max_depth=max_depth,
        )


@dataclasses.dataclass
class Forest:
    """Averaged classification trees with class-count leaves (scikit-learn extra trees), flattened.

    Node arrays ``feature, threshold, left, right, leaf`` (a leaf has ``feature == -1`` and
    ``leaf`` >= 0, the row of ``counts`` holding the training rows of each class that reached
    it); children always come after their parent. A tree's probability is its leaf's class
    fractions, the forest's the mean over trees (scikit-learn's rule for unweighted trees without
    bootstrap). scikit-learn compares float32 inputs with float64 thresholds; the thresholds are
    stored as the largest float32 not above them, so comparing the float32 input with them gives
    the same branch.
    """

    feature: np.ndarray
    threshold: np.ndarray  # float32
    left: np.ndarray
    right: np.ndarray
    leaf: np.ndarray
    counts: np.ndarray  # (n_leaves, n_classes) unsigned integers
    roots: np.ndarray
    max_depth: int

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        X32 = np.asarray(X, dtype=np.float64).astype(np.float32)
        n_trees = len(self.roots)
        leaf_node, feat, thr, left, right, totals = self._walk_arrays()
        out = np.zeros((X32.shape[0], self.counts.shape[1]))
        for start in range(0, X32.shape[0], _CHUNK):
            Xc = X32[start:start + _CHUNK]
            flat = Xc.ravel()
            base = (np.arange(Xc.shape[0]) * Xc.shape[1])[:, None]
            node = np.broadcast_to(self.roots.astype(np.intp), (Xc.shape[0], n_trees)).copy()
            for _ in range(self.max_depth):
                node = np.where(flat[base + feat[node]] <= thr[node], left[node], right[node])
            if not leaf_node[node].all():
                raise SpotidanceError("damaged forest model: a walk did not reach a leaf")
            rows = self.leaf[node]  # (chunk, n_trees)
            frac = self.counts[rows] / totals[rows][:, :, None]
            out[start:start + Xc.shape[0]] = frac.mean(axis=1)
        return out

    def _walk_arrays(self):
        """Node arrays in which a leaf points to itself, and the rows per leaf (computed once)."""
        cached = self.__dict__.get("_walk")
        if cached is None:
            leaf_node = self.feature < 0
            idx = np.arange(len(self.feature))
            cached = (leaf_node, np.where(leaf_node, 0, self.feature).astype(np.intp),
                      np.where(leaf_node, np.float32(np.inf), self.threshold).astype(np.float32),
                      np.where(leaf_node, idx, self.left).astype(np.intp),
                      np.where(leaf_node, idx, self.right).astype(np.intp),
                      self.counts.sum(axis=1, dtype=np.float64))
            self.__dict__["_walk"] = cached
        return cached

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {
            f"{prefix}feature": self.feature.astype(np.int32),
            f"{prefix}threshold": self.threshold.astype(np.float32),
            f"{prefix}left": self.left.astype(np.int32),
            f"{prefix}right": self.right.astype(np.int32),
            f"{prefix}leaf": self.leaf.astype(np.int32),
            f"{prefix}counts": self.counts,
            f"{prefix}roots": self.roots.astype(np.int32),
        }

    @classmethod
    def from_sklearn(cls, forest) -> Forest:
        """Flatten a fitted scikit-learn ``ExtraTreesClassifier`` / ``RandomForestClassifier``.

        Only forests without bootstrap and sample or class weights are exact (their leaves hold
        whole training rows); bootstrap forests are refused.
        """
        if getattr(forest, "bootstrap", False) or getattr(forest, "class_weight", None) is not None:
            raise SpotidanceError("only unweighted forests without bootstrap can be flattened")
        feature, threshold, left, right, leaf, counts, roots = [], [], [], [], [], [], []
        offset = n_leaves = 0
        max_depth = 0
        for est in forest.estimators_:
            t = est.tree_
            n = t.node_count
            is_leaf = t.children_left < 0
            roots.append(offset)
            feature.append(np.where(is_leaf, -1, t.feature).astype(np.int32))
            thr = np.where(is_leaf, 0.0, t.threshold)
            thr32 = thr.astype(np.float32)
            # the largest float32 not above the float64 threshold: same branch for float32 inputs
            thr32 = np.where(thr32.astype(np.float64) > thr, np.nextafter(thr32, np.float32(-np.inf)), thr32)
            threshold.append(thr32.astype(np.float32))
            left.append(np.where(is_leaf, -1, t.children_left + offset).astype(np.int32))
            right.append(np.where(is_leaf, -1, t.children_right + offset).astype(np.int32))
            lf = np.full(n, -1, np.int64)
            lf[is_leaf] = n_leaves + np.arange(int(is_leaf.sum()))
            leaf.append(lf.astype(np.int32))
            value = t.value[is_leaf, 0, :]
            # scikit-learn >= 1.4 stores class fractions, older versions counts
            c = value * t.n_node_samples[is_leaf][:, None] if value.max() <= 1.0 + 1e-12 else value
            counts.append(np.rint(c))
            n_leaves += int(is_leaf.sum())
            offset += n
            max_depth = max(max_depth, int(t.max_depth))
        counts_all = np.concatenate(counts)
        top = counts_all.max()
        dtype = np.uint8 if top < 2**8 else np.uint16 if top < 2**16 else np.uint32
        return cls(feature=np.concatenate(feature), threshold=np.concatenate(threshold),
                   left=np.concatenate(left), right=np.concatenate(right), leaf=np.concatenate(leaf),
                   counts=counts_all.astype(dtype), roots=np.array(roots, np.int32), max_depth=max_depth)


@dataclasses.dataclass
class KernelLogit:
    """RBF kernel logistic regression (see the module docstring)."""

    mean: np.ndarray
    scale: np.ndarray
    clip: float
    gamma: float
    centers: np.ndarray
    coef: np.ndarray  # (n_centers, n_outputs)
    intercept: np.ndarray  # (n_outputs,)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        Z = np.clip((X - self.mean) / self.scale, -self.clip, self.clip)
        d2 = (
            (Z * Z).sum(axis=1)[:, None]
            - 2.0 * Z @ self.centers.T
            + (self.centers * self.centers).sum(axis=1)[None, :]
        )
        K = np.exp(-self.gamma * np.maximum(d2, 0.0))
        raw = K @ self.coef + self.intercept
        if raw.shape[1] == 1:
            p1 = 1.0 / (1.0 + np.exp(-raw[:, 0]))
            return np.column_stack([1.0 - p1, p1])
        return _softmax(raw)

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {
            f"{prefix}mean": self.mean, f"{prefix}scale": self.scale,
            f"{prefix}centers": self.centers, f"{prefix}coef": self.coef,
            f"{prefix}intercept": self.intercept,
        }


@dataclasses.dataclass
class Linear:
    """Multinomial (or binary) logistic regression on standardised, clipped features."""

    mean: np.ndarray
    scale: np.ndarray
    clip: float
    coef: np.ndarray  # (n_features, n_outputs)
    intercept: np.ndarray  # (n_outputs,)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        Z = np.clip((X - self.mean) / self.scale, -self.clip, self.clip)
        raw = Z @ self.coef + self.intercept
        if raw.shape[1] == 1:
            p1 = 1.0 / (1.0 + np.exp(-raw[:, 0]))
            return np.column_stack([1.0 - p1, p1])
        return _softmax(raw)

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}mean": self.mean, f"{prefix}scale": self.scale,
                f"{prefix}coef": self.coef, f"{prefix}intercept": self.intercept}


def quantile_normal(X: np.ndarray, quantiles: np.ndarray, references: np.ndarray) -> np.ndarray:
    """Map each column of ``X`` through its quantiles onto the normal ``references``.

    The map is the piecewise-linear interpolation from ``quantiles[:, j]`` (ascending) to
    ``references`` (ascending), averaged with the same interpolation read from the top (so a run of
    equal quantiles maps to the middle of its references, as in scikit-learn's
    ``QuantileTransformer``); values beyond the ends map to the end references.
    """
    X = np.asarray(X, np.float64)
    out = np.empty_like(X)
    r_down = -references[::-1]
    for j in range(X.shape[1]):
        q = quantiles[:, j]
        x = X[:, j]
        out[:, j] = 0.5 * (np.interp(x, q, references) - np.interp(-x, -q[::-1], r_down))
    return out


@dataclasses.dataclass
class Mlp:
    """Multi-layer perceptron on quantile-normalised features (see the module docstring)."""

    quantiles: np.ndarray  # (n_quantiles, n_features), each column ascending
    references: np.ndarray  # (n_quantiles,), ascending normal scores
    layers: list[tuple[np.ndarray, np.ndarray]]  # (weights (n_in, n_out), bias (n_out,)) per layer

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        H = quantile_normal(X, self.quantiles, self.references)
        for W, b in self.layers[:-1]:
            H = np.maximum(H @ W + b, 0.0)
        W, b = self.layers[-1]
        raw = H @ W + b
        if raw.shape[1] == 1:
            p1 = 1.0 / (1.0 + np.exp(-np.clip(raw[:, 0], -500, 500)))
            return np.column_stack([1.0 - p1, p1])
        return _softmax(raw)

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        out = {f"{prefix}quantiles": self.quantiles, f"{prefix}references": self.references}
        for i, (W, b) in enumerate(self.layers):
            out[f"{prefix}w{i}"] = W
            out[f"{prefix}b{i}"] = b
        return out

    @classmethod
    def from_sklearn(cls, mlp, *, quantiles: np.ndarray, references: np.ndarray) -> Mlp:
        """From a fitted ``MLPClassifier`` (ReLU hidden layers) and the quantile map of its inputs."""
        if mlp.activation != "relu":
            raise SpotidanceError("only ReLU perceptrons can be stored")
        layers = [(np.asarray(W, np.float64), np.asarray(b, np.float64)) for W, b in zip(mlp.coefs_, mlp.intercepts_)]
        return cls(quantiles=np.asarray(quantiles, np.float64), references=np.asarray(references, np.float64),
                   layers=layers)


@dataclasses.dataclass
class Novelty:
    """Mahalanobis novelty score on standardised raw features."""

    mean: np.ndarray
    scale: np.ndarray
    location: np.ndarray
    precision: np.ndarray
    threshold: float

    def score(self, X: np.ndarray) -> np.ndarray:
        D = (X - self.mean) / self.scale - self.location
        return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", D, self.precision, D), 0.0))

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {
            f"{prefix}mean": self.mean, f"{prefix}scale": self.scale,
            f"{prefix}location": self.location, f"{prefix}precision": self.precision,
        }


@dataclasses.dataclass
class TabularModel:
    """A trained tabular genre classifier (NumPy only at prediction time).

    Attributes
    ----------
    labels : list of str
        Class names; column ``i`` of the probabilities is ``labels[i]``.
    feature_columns : list of str
        The raw input columns, matched by name in :meth:`predict_proba`.
    tempo_features : bool
        Whether the engineered tempo features are appended before the classifiers.
    gbt, kernel, linear, forest, mlp : Trees or KernelLogit or Linear or Forest or Mlp or None
        The ensemble's members (``forest``: extra trees, since bundle version 2; ``mlp``: the
        perceptron, since bundle version 3).
    weights : dict
        Component name -> weight in the soft vote (normalised to sum 1 over present members).
    novelty : Novelty or None
    card : dict
        The model card (provenance, recipe, metrics...), as stored in the bundle.
    """

    labels: list[str]
    feature_columns: list[str]
    tempo_features: bool
    gbt: Trees | None
    kernel: KernelLogit | None
    linear: Linear | None
    weights: dict[str, float]
    novelty: Novelty | None = None
    card: dict[str, Any] = dataclasses.field(default_factory=dict)
    forest: Forest | None = None
    mlp: Mlp | None = None

    @property
    def model_feature_names(self) -> list[str]:
        """Names of the classifier inputs (raw columns, then engineered ones)."""
        extra = tempo_feature_names(self.feature_columns) if self.tempo_features else []
        return list(self.feature_columns) + extra

    def matrix(self, data: Any) -> np.ndarray:
        """The raw feature matrix of ``data`` in :attr:`feature_columns` order.

        Parameters
        ----------
        data : pandas.DataFrame, mapping of column -> values, or array-like
            A frame or mapping is matched by column name (extra columns are ignored); a 2-D
            array must already have the columns in :attr:`feature_columns` order.

        Raises
        ------
        SpotidanceError
            Missing columns (named), a wrong number of columns, non-numeric, NaN or infinite values.
        """
        if hasattr(data, "columns") or isinstance(data, dict):
            names = [str(c) for c in (data.columns if hasattr(data, "columns") else data.keys())]
            missing = [c for c in self.feature_columns if c not in names]
            if missing:
                shown = ", ".join(missing[:8]) + (f", ... ({len(missing)} in all)" if len(missing) > 8 else "")
                raise SpotidanceError(f"the input lacks feature column(s) the model needs: {shown}")
            try:
                X = np.column_stack([np.asarray(data[c], dtype=np.float64).reshape(-1) for c in self.feature_columns])
            except (TypeError, ValueError):
                raise SpotidanceError("the input's feature columns must be numeric") from None
        else:
            try:
                X = np.asarray(data, dtype=np.float64)
            except (TypeError, ValueError):
                raise SpotidanceError("the input must be numeric") from None
            if X.ndim == 1:
                X = X[None, :]
            if X.ndim != 2 or X.shape[1] != len(self.feature_columns):
                raise SpotidanceError(
                    f"the input has shape {X.shape}; the model needs {len(self.feature_columns)} columns "
                    f"(pass a table with named columns to match them by name)"
                )
        bad = ~np.isfinite(X)
        if bad.any():
            cols = sorted({self.feature_columns[j] for j in np.flatnonzero(bad.any(axis=0))})
            raise SpotidanceError(f"the input has missing or infinite values in {', '.join(cols[:8])}")
        return X

    def _design(self, X: np.ndarray) -> np.ndarray:
        if self.tempo_features:
            return np.hstack([X, tempo_features(X, self.feature_columns)])
        return X

    def predict_proba(self, data: Any) -> np.ndarray:
        """Class probabilities, ``(n, len(labels))`` (see :meth:`matrix` for ``data``)."""
        return self._proba(self._design(self.matrix(data)))

    def _proba(self, D: np.ndarray) -> np.ndarray:
        members = self.members()
        total = sum(self.weights.get(name, 0.0) for name in members)
        if total <= 0:
            total, weights = float(len(members)), {name: 1.0 for name in members}
        else:
            weights = self.weights
        return sum((weights.get(name, 0.0) / total) * comp.predict_proba(D) for name, comp in members.items())

    def members(self) -> dict[str, Any]:
        """The present ensemble members by name (``gbt``, ``forest``, ``kernel``, ``linear``, ``mlp``)."""
        return {name: comp for name, comp in (("gbt", self.gbt), ("forest", self.forest), ("kernel", self.kernel),
                                              ("linear", self.linear), ("mlp", self.mlp)) if comp is not None}

    def novelty_score(self, data: Any) -> np.ndarray:
        """Mahalanobis distance of each row from the training data (NaN without a novelty model)."""
        X = self.matrix(data)
        if self.novelty is None:
            return np.full(X.shape[0], np.nan)
        return self.novelty.score(X)

    def predict(self, data: Any) -> Prediction:
        """Labels, probabilities and the novelty flag of each row."""
        X = self.matrix(data)
        proba = self._proba(self._design(X))
        if self.novelty is not None:
            score = self.novelty.score(X)
            novel = score > self.novelty.threshold
        else:
            score = np.full(X.shape[0], np.nan)
            novel = np.zeros(X.shape[0], bool)
        return Prediction(
            labels=[self.labels[i] for i in proba.argmax(axis=1)],
            probabilities=proba, novelty_score=score, novel=novel,
        )

    # ------------------------------------------------------------------ serialisation

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The model's arrays (for an ``.npz``) and its JSON description."""
        arrays: dict[str, np.ndarray] = {}
        spec: dict[str, Any] = {
            "labels": list(self.labels),
            "feature_columns": list(self.feature_columns),
            "tempo_features": bool(self.tempo_features),
            "model_features": self.model_feature_names,
            "weights": {k: float(v) for k, v in self.weights.items()},
            "components": [],
        }
        if self.gbt is not None:
            arrays.update(self.gbt.arrays("gbt."))
            spec["components"].append("gbt")
            spec["gbt"] = {"n_outputs": self.gbt.n_outputs, "max_depth": self.gbt.max_depth,
                           "n_trees": len(self.gbt.roots), "n_nodes": len(self.gbt.feature)}
        if self.forest is not None:
            arrays.update(self.forest.arrays("forest."))
            spec["components"].append("forest")
            spec["forest"] = {"max_depth": self.forest.max_depth, "n_trees": len(self.forest.roots),
                              "n_nodes": len(self.forest.feature), "n_leaves": int(self.forest.counts.shape[0])}
        if self.kernel is not None:
            arrays.update(self.kernel.arrays("kernel."))
            spec["components"].append("kernel")
            spec["kernel"] = {"gamma": self.kernel.gamma, "clip": self.kernel.clip,
                              "n_centers": int(self.kernel.centers.shape[0])}
        if self.linear is not None:
            arrays.update(self.linear.arrays("linear."))
            spec["components"].append("linear")
            spec["linear"] = {"clip": self.linear.clip}
        if self.mlp is not None:
            arrays.update(self.mlp.arrays("mlp."))
            spec["components"].append("mlp")
            spec["mlp"] = {"n_layers": len(self.mlp.layers), "n_quantiles": int(self.mlp.quantiles.shape[0]),
                           "hidden": [int(W.shape[1]) for W, _ in self.mlp.layers[:-1]]}
        if self.novelty is not None:
            arrays.update(self.novelty.arrays("novelty."))
            spec["novelty"] = {"threshold": float(self.novelty.threshold), "measure": "mahalanobis-ledoit-wolf"}
        return arrays, spec

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], spec: dict[str, Any], *, what: str = "model") -> TabularModel:
        """Rebuild a model from :meth:`to_arrays` output, checking every array (untrusted input).

        Raises
        ------
        SpotidanceError
            Any missing, mistyped, misshapen, non-finite or out-of-range value.
        """
        def bad(msg: str) -> SpotidanceError:
            return SpotidanceError(f"{what}: damaged model ({msg}); restore the bundle or train a new one")

        if not isinstance(spec, dict):
            raise bad("description is not an object")
        labels = spec.get("labels")
        columns = spec.get("feature_columns")
        if not (isinstance(labels, list) and len(labels) >= 2 and all(isinstance(x, str) for x in labels)
                and len(set(labels)) == len(labels)):
            raise bad("labels must be 2 or more distinct strings")
        if not (isinstance(columns, list) and columns and all(isinstance(x, str) for x in columns)
                and len(set(columns)) == len(columns)):
            raise bad("feature_columns must be distinct strings")
        tempo = spec.get("tempo_features")
        if not isinstance(tempo, bool):
            raise bad("tempo_features must be true or false")
        n_raw = len(columns)
        n_in = n_raw + (len(tempo_feature_names(columns)) if tempo else 0)
        n_classes = len(labels)
        components = spec.get("components")
        if not isinstance(components, list) or not components or not set(components) <= set(COMPONENTS):
            raise bad(f"components must be a non-empty subset of {', '.join(COMPONENTS)}")
        weights = spec.get("weights")
        if not (isinstance(weights, dict) and set(weights) <= set(components) and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) and v >= 0
                for v in weights.values()) and sum(weights.values()) > 0):
            raise bad("weights must be non-negative numbers for the components")

        def arr(name: str, kind: str, ndim: int) -> np.ndarray:
            if name not in arrays:
                raise bad(f"array {name} missing")
            a = np.asarray(arrays[name])
            if a.dtype.kind not in kind or a.ndim != ndim:
                raise bad(f"array {name} has dtype {a.dtype} and {a.ndim} dimensions")
            if a.dtype.kind == "f" and not np.isfinite(a).all():
                raise bad(f"array {name} has non-finite values")
            return a

        gbt = kernel = novelty = None
        if "gbt" in components:
            g = spec.get("gbt") or {}
            n_outputs = g.get("n_outputs")
            max_depth = g.get("max_depth")
            if n_outputs not in ((1,) if n_classes == 2 else ()) + (n_classes,):
                raise bad("gbt n_outputs does not match the labels")
            if not isinstance(max_depth, int) or not 0 <= max_depth <= _MAX_DEPTH:
                raise bad("gbt max_depth out of range")
            feature = arr("gbt.feature", "i", 1).astype(np.int64)
            n = len(feature)
            names = ["threshold", "left", "right", "value", "default_left", "missing_type"]
            kinds = ["f", "i", "i", "f", "b", "i"]
            parts = {nm: arr(f"gbt.{nm}", k, 1) for nm, k in zip(names, kinds)}
            if any(len(p) != n for p in parts.values()) or n == 0:
                raise bad("gbt node arrays differ in length")
            roots = arr("gbt.roots", "i", 1).astype(np.int64)
            tree_class = arr("gbt.tree_class", "i", 1).astype(np.int64)
            left, right = parts["left"].astype(np.int64), parts["right"].astype(np.int64)
            internal = feature >= 0
            idx = np.arange(n)
            if (feature >= n_in).any() or (feature < -1).any():
                raise bad("gbt split feature out of range")
            if ((left[internal] <= idx[internal]) | (right[internal] <= idx[internal]) | (left[internal] >= n) | (right[internal] >= n)).any():
                raise bad("gbt child index out of range")
            if len(roots) == 0 or len(tree_class) != len(roots) or (roots < 0).any() or (roots >= n).any():
                raise bad("gbt roots out of range")
            if (tree_class < 0).any() or (tree_class >= n_outputs).any():
                raise bad("gbt tree class out of range")
            mt = parts["missing_type"].astype(np.int64)
            if ((mt < 0) | (mt > 2)).any():
                raise bad("gbt missing type out of range")
            gbt = Trees(feature=feature, threshold=parts["threshold"].astype(np.float64), left=left, right=right,
                        value=parts["value"].astype(np.float64), default_left=parts["default_left"].astype(bool),
                        missing_type=mt, roots=roots, tree_class=tree_class, n_outputs=n_outputs, max_depth=max_depth)
        if "kernel" in components:
            k = spec.get("kernel") or {}
            gamma, clip = k.get("gamma"), k.get("clip")
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) and v > 0 for v in (gamma, clip)):
                raise bad("kernel gamma and clip must be positive numbers")
            mean, scale = arr("kernel.mean", "f", 1), arr("kernel.scale", "f", 1)
            centers, coef, intercept = arr("kernel.centers", "f", 2), arr("kernel.coef", "f", 2), arr("kernel.intercept", "f", 1)
            n_out = 1 if n_classes == 2 and coef.shape[1:] == (1,) else n_classes
            if mean.shape != (n_in,) or scale.shape != (n_in,) or (scale <= 0).any():
                raise bad("kernel scaler shape")
            if centers.shape[1:] != (n_in,) or coef.shape != (centers.shape[0], n_out) or intercept.shape != (n_out,):
                raise bad("kernel array shapes")
            kernel = KernelLogit(mean=mean, scale=scale, clip=float(clip), gamma=float(gamma),
                                 centers=centers, coef=coef, intercept=intercept)
        forest = None
        if "forest" in components:
            f = spec.get("forest") or {}
            max_depth = f.get("max_depth")
            if not isinstance(max_depth, int) or isinstance(max_depth, bool) or not 0 <= max_depth <= _MAX_DEPTH:
                raise bad("forest max_depth out of range")
            feature = arr("forest.feature", "i", 1).astype(np.int64)
            n = len(feature)
            threshold = arr("forest.threshold", "f", 1)
            left, right = arr("forest.left", "i", 1).astype(np.int64), arr("forest.right", "i", 1).astype(np.int64)
            leaf = arr("forest.leaf", "i", 1).astype(np.int64)
            counts = arr("forest.counts", "u", 2)
            roots = arr("forest.roots", "i", 1).astype(np.int64)
            if n == 0 or not (len(threshold) == len(left) == len(right) == len(leaf) == n):
                raise bad("forest node arrays differ in length")
            internal = feature >= 0
            idx = np.arange(n)
            if (feature >= n_in).any() or (feature < -1).any():
                raise bad("forest split feature out of range")
            if ((left[internal] <= idx[internal]) | (right[internal] <= idx[internal]) | (left[internal] >= n) | (right[internal] >= n)).any():
                raise bad("forest child index out of range")
            if len(roots) == 0 or (roots < 0).any() or (roots >= n).any():
                raise bad("forest roots out of range")
            n_leaves = int((~internal).sum())
            leaves = leaf[~internal]
            if counts.shape != (n_leaves, n_classes) or (leaf[internal] != -1).any() or (leaves < 0).any() or (
                    leaves >= n_leaves).any() or (np.bincount(leaves, minlength=n_leaves) != 1).any() or (
                    counts.sum(axis=1) == 0).any():
                raise bad("forest leaves and class counts do not match")
            forest = Forest(feature=feature, threshold=threshold.astype(np.float32), left=left, right=right, leaf=leaf,
                            counts=counts, roots=roots, max_depth=max_depth)
        linear = None
        if "linear" in components:
            lin = spec.get("linear") or {}
            clip = lin.get("clip")
            if not (isinstance(clip, (int, float)) and not isinstance(clip, bool) and np.isfinite(clip) and clip > 0):
                raise bad("linear clip must be a positive number")
            mean, scale = arr("linear.mean", "f", 1), arr("linear.scale", "f", 1)
            coef, intercept = arr("linear.coef", "f", 2), arr("linear.intercept", "f", 1)
            n_out = 1 if n_classes == 2 and coef.shape[1:] == (1,) else n_classes
            if mean.shape != (n_in,) or scale.shape != (n_in,) or (scale <= 0).any():
                raise bad("linear scaler shape")
            if coef.shape != (n_in, n_out) or intercept.shape != (n_out,):
                raise bad("linear array shapes")
            linear = Linear(mean=mean, scale=scale, clip=float(clip), coef=coef, intercept=intercept)
        mlp = None
        if "mlp" in components:
            m = spec.get("mlp") or {}
            n_layers = m.get("n_layers")
            if not isinstance(n_layers, int) or isinstance(n_layers, bool) or not 1 <= n_layers <= _MAX_LAYERS:
                raise bad("mlp n_layers out of range")
            quantiles, references = arr("mlp.quantiles", "f", 2), arr("mlp.references", "f", 1)
            if quantiles.shape[1:] != (n_in,) or references.shape != (quantiles.shape[0],) or len(references) < 2:
                raise bad("mlp quantile array shapes")
            if (np.diff(quantiles, axis=0) < 0).any() or (np.diff(references) < 0).any():
                raise bad("mlp quantiles are not ascending")
            layers, width = [], n_in
            for i in range(n_layers):
                W, b = arr(f"mlp.w{i}", "f", 2), arr(f"mlp.b{i}", "f", 1)
                if W.shape[0] != width or b.shape != (W.shape[1],) or W.shape[1] == 0:
                    raise bad(f"mlp layer {i} shapes")
                layers.append((W.astype(np.float64), b.astype(np.float64)))
                width = W.shape[1]
            if width not in ((1,) if n_classes == 2 else ()) + (n_classes,):
                raise bad("mlp outputs do not match the labels")
            mlp = Mlp(quantiles=quantiles.astype(np.float64), references=references.astype(np.float64), layers=layers)
        if spec.get("novelty") is not None:
            nv = spec["novelty"]
            thr = nv.get("threshold") if isinstance(nv, dict) else None
            if not isinstance(thr, (int, float)) or isinstance(thr, bool) or not np.isfinite(thr) or thr <= 0:
                raise bad("novelty threshold must be a positive number")
            mean, scale, loc = arr("novelty.mean", "f", 1), arr("novelty.scale", "f", 1), arr("novelty.location", "f", 1)
            prec = arr("novelty.precision", "f", 2)
            if not (mean.shape == scale.shape == loc.shape == (n_raw,) and prec.shape == (n_raw, n_raw)) or (scale <= 0).any():
                raise bad("novelty array shapes")
            novelty = Novelty(mean=mean, scale=scale, location=loc, precision=prec, threshold=float(thr))
        return cls(labels=list(labels), feature_columns=list(columns), tempo_features=tempo,
                   gbt=gbt, kernel=kernel, linear=linear, forest=forest, mlp=mlp,
                   weights={k: float(v) for k, v in weights.items()}, novelty=novelty)


def _softmax(raw: np.ndarray) -> np.ndarray:
    z = raw - raw.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
