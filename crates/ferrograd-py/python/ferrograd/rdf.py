"""Training from a PyROOT ``RDataFrame``: its columns come out through ``AsNumpy`` (one event
loop for all of them) and go into :class:`ferrograd.Model` as a float32 feature matrix."""

import numpy as np

from ._ferrograd import Model


def _column_names(rdf):
    names = set(str(c) for c in rdf.GetColumnNames())
    # Defines are listed by GetColumnNames; GetDefinedColumnNames covers older ROOT versions.
    if hasattr(rdf, "GetDefinedColumnNames"):
        names.update(str(c) for c in rdf.GetDefinedColumnNames())
    return names


def _as_matrix(name, values):
    """One column as [rows, k]: k = 1 for scalars, k = the length of array-valued (RVec) ones."""
    arr = np.asarray(values)
    if arr.dtype == object:  # RVec / std::vector columns come back as arrays of objects
        try:
            arr = np.stack([np.asarray(v, dtype=np.float32) for v in arr])
        except ValueError as e:
            raise ValueError(f"column {name!r}: its arrays do not all have the same length ({e})") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"column {name!r} has dtype {arr.dtype}, not numbers")
    return arr.astype(np.float32, copy=False)


def columns_to_numpy(rdf, features, target=None, weight=None):
    """``(x, y, w)`` from an RDataFrame: ``x`` float32 ``[rows, n_features]`` (array-valued
    columns contribute one feature per element), ``y`` and ``w`` 1-D (``None`` when not asked
    for). Raises ``KeyError`` naming any column the frame does not have."""
    features = [features] if isinstance(features, str) else list(features)
    if not features:
        raise ValueError("features is empty: name at least one column")
    wanted = features + [c for c in (target, weight) if c is not None]
    known = _column_names(rdf)
    missing = [c for c in wanted if c not in known]
    if missing:
        raise KeyError(f"the RDataFrame has no column(s) {missing}; it has {sorted(known)}")
    data = rdf.AsNumpy(list(dict.fromkeys(wanted)))
    x = np.ascontiguousarray(np.hstack([_as_matrix(f, data[f]) for f in features]))
    y = np.asarray(data[target]) if target is not None else None
    w = np.asarray(data[weight], dtype=np.float32) if weight is not None else None
    return x, y, w


def fit_rdf(rdf, features, target, weight=None, model=None, hidden=32, model_seed=0, **fit_kwargs):
    """Trains a classifier on the rows of ``rdf`` (a PyROOT ``RDataFrame``, after any
    ``Filter``/``Define``) and returns it.

    ``features``: columns that make up the input row; ``target``: column of class labels
    (integers, bools, or integral floats); ``weight``: optional column of event weights.
    ``model``: a :class:`Model` to continue training; by default a new
    ``Model.mlp(len(features), hidden, classes)`` with ``classes = max(2, max label + 1)``.
    Everything else (``epochs``, ``batch``, ``lr``, ``optimizer``, ``seed``, ...) goes to
    :meth:`Model.fit`; the per-epoch losses are in ``model.history``.
    """
    x, y, w = columns_to_numpy(rdf, features, target, weight)
    if len(y) == 0:
        raise ValueError("the RDataFrame selection has no rows to train on")
    if model is None:
        labels = np.asarray(y, dtype=np.float64)
        top = np.nanmax(labels) if labels.size else 0
        classes = max(2, int(top) + 1) if np.isfinite(top) and top >= 0 else 2
        model = Model.mlp(x.shape[1], hidden, classes, seed=model_seed)
    elif not isinstance(model, Model):
        raise TypeError(f"model must be a ferrograd.Model, not {type(model).__name__}")
    model.fit(x, y, weight=w, **fit_kwargs)
    return model
