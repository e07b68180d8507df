"""ferrograd from Python: train and apply ferrograd models on numpy arrays and PyROOT RDataFrames.

>>> import numpy as np, ferrograd
>>> model = ferrograd.Model.mlp(in_features=2, hidden=16, classes=2, seed=1)
>>> losses = model.fit(x, y, epochs=5, batch=64, lr=1e-2)      # x: float32 [rows, 2]
>>> probs = model.predict(x)                                     # float32 [rows, 2]
>>> model.save("model.safetensors"); same = ferrograd.Model.load("model.safetensors")

``fit_rdf(rdf, features=[...], target=...)`` trains straight from an ``RDataFrame``.
The native part is ``ferrograd._ferrograd`` (Rust, PyO3); training releases the GIL.
"""

from ._ferrograd import Model, __version__
from .rdf import columns_to_numpy, fit_rdf

__all__ = ["Model", "fit_rdf", "columns_to_numpy", "__version__"]
