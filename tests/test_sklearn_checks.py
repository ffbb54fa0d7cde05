"""scikit-learn's own estimator checks, with no expected failures, on both estimators with
their defaults (scikit-learn's MLPs skip the same three: array-API input without
SCIPY_ARRAY_API, and the classifier's decision_function)."""

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from dnnx.sklearn import MLPClassifier, MLPRegressor  # noqa: E402


# The checks fit tiny data sets for max_iter=200 epochs on purpose, so most fits end with
# scikit-learn's "Maximum iterations reached" ConvergenceWarning (its own MLPs emit the same
# 101 warnings); pytest turns warnings into errors, so here, and only here, that one
# category is ignored. tests/test_sklearn.py checks the warning itself.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks([MLPClassifier(), MLPRegressor()])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
