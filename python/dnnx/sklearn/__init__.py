"""scikit-learn estimators on dnnx's C++ core (needs the ``sklearn`` extra: scikit-learn, scipy).

``MLPClassifier`` and ``MLPRegressor`` are scikit-learn's MLPs (parameters, defaults,
fitted attributes, stopping rules, warnings, pickling) trained bitwise reproducibly by the
C++ core, plus what scikit-learn's lack: ``class_weight``, ``dropout``, every dnnx
activation, absolute-error and Huber losses, an explicit validation set (``X_val`` /
``y_val``), multi-epoch ``partial_fit``, ``dtype='float64'`` and ``n_jobs``.
``from_sklearn`` turns a fitted scikit-learn MLP into one of them.
"""

try:
    import scipy  # noqa: F401
    import sklearn  # noqa: F401
except ImportError as e:  # pragma: no cover - exercised without the extra
    raise ImportError("dnnx.sklearn needs scikit-learn and scipy: pip install 'dnnx[sklearn]'") from e

from ._classifier import MLPClassifier
from ._from_sklearn import from_sklearn
from ._regressor import MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor", "from_sklearn"]
