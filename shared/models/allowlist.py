"""The exact names a model file may construct, and how a user adds to them.

Names are matched whole, never by prefix: `numpy.testing.runstring` and
`numpy.distutils.lib2def.getnm` live in allowed libraries and run code and shell commands.
The list was made by pickling and skops-dumping what pillars trains (logistic regression,
XGBoost's scikit-learn wrapper) and common scikit-learn models (pipelines and scalers,
trees, forests, gradient boosting, SVMs, MLPs, calibration, nearest neighbours, naive
Bayes, text vectorisers, encoders) and keeping every name they referenced, less the
functions below.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["ALLOWED_TYPES", "NOT_CALLABLE", "allowed_types", "checked_name"]

_SKLEARN = (
    "sklearn._loss._loss.CyAbsoluteError",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "sklearn._loss._loss.CyHalfMultinomialLoss",
    "sklearn._loss._loss.CyHalfSquaredError",
    "sklearn._loss._loss.CyHuberLoss",
    "sklearn._loss.link.IdentityLink",
    "sklearn._loss.link.Interval",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.MultinomialLogit",
    "sklearn._loss.loss.AbsoluteError",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn._loss.loss.HalfSquaredError",
    "sklearn.calibration.CalibratedClassifierCV",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.decomposition._pca.PCA",
    "sklearn.decomposition._truncated_svd.TruncatedSVD",
    "sklearn.dummy.DummyClassifier",
    "sklearn.dummy.DummyRegressor",
    "sklearn.ensemble._forest.ExtraTreesClassifier",
    "sklearn.ensemble._forest.ExtraTreesRegressor",
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.ensemble._forest.RandomForestRegressor",
    "sklearn.ensemble._gb.GradientBoostingClassifier",
    "sklearn.ensemble._gb.GradientBoostingRegressor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.feature_extraction.text.CountVectorizer",
    "sklearn.feature_extraction.text.HashingVectorizer",
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.feature_extraction.text.TfidfVectorizer",
    "sklearn.impute._base.SimpleImputer",
    "sklearn.isotonic.IsotonicRegression",
    "sklearn.linear_model._base.LinearRegression",
    "sklearn.linear_model._coordinate_descent.ElasticNet",
    "sklearn.linear_model._coordinate_descent.Lasso",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.linear_model._logistic.LogisticRegressionCV",
    "sklearn.linear_model._perceptron.Perceptron",
    "sklearn.linear_model._ridge.Ridge",
    "sklearn.linear_model._ridge.RidgeClassifier",
    "sklearn.linear_model._sgd_fast.EpsilonInsensitive",
    "sklearn.linear_model._sgd_fast.Hinge",
    "sklearn.linear_model._sgd_fast.ModifiedHuber",
    "sklearn.linear_model._sgd_fast.SquaredEpsilonInsensitive",
    "sklearn.linear_model._sgd_fast.SquaredHinge",
    "sklearn.linear_model._stochastic_gradient.SGDClassifier",
    "sklearn.linear_model._stochastic_gradient.SGDRegressor",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.naive_bayes.BernoulliNB",
    "sklearn.naive_bayes.ComplementNB",
    "sklearn.naive_bayes.GaussianNB",
    "sklearn.naive_bayes.MultinomialNB",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.neighbors._classification.KNeighborsClassifier",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._regression.KNeighborsRegressor",
    "sklearn.neural_network._multilayer_perceptron.MLPClassifier",
    "sklearn.neural_network._multilayer_perceptron.MLPRegressor",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    "sklearn.pipeline.FeatureUnion",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._data.MaxAbsScaler",
    "sklearn.preprocessing._data.MinMaxScaler",
    "sklearn.preprocessing._data.Normalizer",
    "sklearn.preprocessing._data.RobustScaler",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.preprocessing._encoders.OneHotEncoder",
    "sklearn.preprocessing._encoders.OrdinalEncoder",
    "sklearn.preprocessing._label.LabelBinarizer",
    "sklearn.preprocessing._label.LabelEncoder",
    "sklearn.preprocessing._polynomial.PolynomialFeatures",
    "sklearn.svm._classes.LinearSVC",
    "sklearn.svm._classes.LinearSVR",
    "sklearn.svm._classes.SVC",
    "sklearn.svm._classes.SVR",
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._classes.DecisionTreeRegressor",
    "sklearn.tree._classes.ExtraTreeClassifier",
    "sklearn.tree._classes.ExtraTreeRegressor",
    "sklearn.tree._tree.Tree",
)

_XGBOOST = ("xgboost.core.Booster", "xgboost.sklearn.XGBClassifier", "xgboost.sklearn.XGBRegressor")

_NUMPY = (
    "numpy.ndarray",
    "numpy.dtype",
    "numpy.bool",
    "numpy.bool_",
    "numpy.bytes_",
    "numpy.complex64",
    "numpy.complex128",
    "numpy.float16",
    "numpy.float32",
    "numpy.float64",
    "numpy.int8",
    "numpy.int16",
    "numpy.int32",
    "numpy.int64",
    "numpy.str_",
    "numpy.uint8",
    "numpy.uint16",
    "numpy.uint32",
    "numpy.uint64",
    # Random state kept by gradient boosting and MLPs (skops names bit generators by
    # their `numpy.random` alias, pickle by their defining module).
    "numpy.random.MT19937",
    "numpy.random.PCG64",
    "numpy.random._generator.Generator",
    "numpy.random._mt19937.MT19937",
    "numpy.random._pcg64.PCG64",
    "numpy.random.bit_generator.SeedSequence",
    "numpy.random.mtrand.RandomState",
)

# The only functions: numpy's own pickles rebuild every array, dtype and scalar through
# these three (NumPy 1 spells them numpy.core, NumPy 2 numpy._core). Each builds an
# array or scalar from shape, dtype and bytes, and refuses object dtypes given raw bytes.
_NUMPY_REBUILDERS = (
    "numpy._core.multiarray._reconstruct",
    "numpy._core.multiarray.scalar",
    "numpy._core.numeric._frombuffer",
    "numpy.core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar",
    "numpy.core.numeric._frombuffer",
)

# Containers skops writes as nodes and old pickle protocols name as globals.
_BUILTINS = (
    "builtins.bool",
    "builtins.bytearray",
    "builtins.bytes",
    "builtins.complex",
    "builtins.dict",
    "builtins.float",
    "builtins.frozenset",
    "builtins.int",
    "builtins.list",
    "builtins.set",
    "builtins.slice",
    "builtins.str",
    "builtins.tuple",
    "collections.OrderedDict",
    "collections.defaultdict",
)

ALLOWED_TYPES: frozenset[str] = frozenset(
    (*_SKLEARN, *_XGBOOST, *_NUMPY, *_NUMPY_REBUILDERS, *_BUILTINS)
)

# Allowed as a name, never called with arguments from the file: ndarray(shape, dtype,
# buffer) would lay the file's bytes out as object pointers, and Booster(model_file=...)
# reads whatever path it is given. Real files make both with __new__ and set their state.
NOT_CALLABLE: frozenset[str] = frozenset({"numpy.ndarray", "xgboost.core.Booster"})

_QUALIFIED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")


def checked_name(name: str) -> str:
    """Return `name` stripped if it is one fully-qualified name, or raise ValueError."""
    name = name.strip()
    if any(c in name for c in "*?[]"):
        raise ValueError(
            f"{name!r} is a pattern; name each class in full, e.g. sklearn.svm._classes.NuSVC "
            "(patterns would admit functions that run code)"
        )
    if not _QUALIFIED.match(name):
        raise ValueError(
            f"{name!r} is not a fully-qualified name such as sklearn.svm._classes.NuSVC"
        )
    return name


def allowed_types(extra: Iterable[str] = ()) -> frozenset[str]:
    """Return the built-in allowlist plus `extra` names, each checked with `checked_name`."""
    return ALLOWED_TYPES | {checked_name(name) for name in extra}
