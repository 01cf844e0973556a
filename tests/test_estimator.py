"""KohonenSOM as a scikit-learn estimator: the estimator checks, clone, pipelines and model selection."""

import pickle
import warnings

import numpy as np
import pytest
import tensorflow as tf
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator
from sklearn.utils.validation import check_is_fitted

from softsom import Grid, KohonenSOM
from softsom.kohonen import BATCH_EPOCHS

# partial_fit on a map not fitted yet needs decay_samples (the schedules' horizon: the whole
# stream's length, which the first chunk cannot tell); the checks' partial_fit calls get it here.
CHECKED = {
    "online": KohonenSOM((3, 3), decay_samples=100),
    "batch map": KohonenSOM((3, 4), mode="batch", decay_samples=100),
    "mini-batches, Mexican hat": KohonenSOM(
        (3, 3), mode="batch", batch_size=7, neighbourhood="mexican_hat", decay_samples=100
    ),
    "bubble on Euclidean distance, PCA": KohonenSOM(
        (2, 3), neighbourhood="bubble", distance="euclidean", init="pca", decay_samples=100
    ),
    "1-D chain, Gaussian, 2 epochs": KohonenSOM((5,), neighbourhood="gaussian", epochs=2, decay_samples=100),
}


def run_checks(estimator, expected_failed_checks=None):
    """check_estimator's results, raising for any failure not expected (skips are reported, not raised)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SkipTestWarning, TensorFlow's retracing notes
        results = check_estimator(estimator, expected_failed_checks=expected_failed_checks, on_skip=None)
    return {r["check_name"]: r["status"] for r in results}


@pytest.mark.parametrize("estimator", CHECKED.values(), ids=CHECKED.keys())
def test_check_estimator_passes(estimator):
    statuses = run_checks(estimator)
    assert "failed" not in statuses.values()
    assert len([s for s in statuses.values() if s == "passed"]) >= 40
    # Skipped only for the environment: array API checks need SCIPY_ARRAY_API=1 and array_api_strict.
    assert {name for name, s in statuses.items() if s == "skipped"} <= {"check_array_api_input"}


def test_check_estimator_on_the_defaults_fails_only_where_partial_fit_needs_decay_samples():
    reason = "partial_fit on an unfitted map needs decay_samples, None by default"
    statuses = run_checks(KohonenSOM((3, 3)), {"check_n_features_in_after_fitting": reason})
    assert statuses["check_n_features_in_after_fitting"] == "xfail"
    assert "failed" not in statuses.values()


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    centres = rng.uniform(-3, 3, size=(4, 3))
    return centres[rng.integers(0, 4, size=400)] + rng.normal(scale=0.3, size=(400, 3))


def test_hyperparameters_are_get_params_and_init_only_stores_them():
    som = KohonenSOM((4, 4), sigma=(2.0, 0.5), epochs=3, neighbourhood="bubble")
    params = som.get_params()
    assert params["grid"] == (4, 4) and params["epochs"] == 3 and params["distance"] == "hops"
    assert set(params) == {
        "grid",
        "mode",
        "batch_size",
        "learning_rate",
        "sigma",
        "neighbourhood",
        "distance",
        "init",
        "epochs",
        "decay_samples",
        "strategy",
        "random_state",
    }
    assert not [name for name in vars(som) if name.endswith("_")]
    # Nothing is validated before fit (scikit-learn's convention): a bad setting fails there.
    bad = KohonenSOM((4, 4), epochs=-1)
    with pytest.raises(ValueError, match="epochs"):
        bad.fit(np.zeros((5, 3)))
    assert som.set_params(epochs=5) is som and som.epochs == 5
    assert repr(KohonenSOM((3, 3), epochs=2)) == "KohonenSOM(epochs=2, grid=(3, 3))"


def test_epochs_parameter_is_the_old_fit_argument(data):
    """Same epochs, same seed: the same map as repeated passes would give with the same horizon."""
    a = KohonenSOM((5, 5), epochs=3, random_state=0).fit(data)
    assert a.n_samples_seen_ == 3 * len(data) and a.decay_samples_ == 3 * len(data)
    b = KohonenSOM((5, 5), decay_samples=3 * len(data), random_state=0)
    for _ in range(3):
        b.partial_fit(data)
    np.testing.assert_array_equal(a.embedding_, b.embedding_)
    batch = KohonenSOM((5, 5), mode="batch", random_state=0).fit(data)
    assert batch.n_samples_seen_ == BATCH_EPOCHS * len(data)


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_a_number_where_the_epochs_used_to_go_is_rejected(data, method):
    som = KohonenSOM((3, 3), decay_samples=100, random_state=0)
    with pytest.raises(ValueError, match="epochs=") as raised:
        getattr(som, method)(data, 3)
    assert "y" in str(raised.value)
    assert not hasattr(som, "embedding_")
    getattr(som, method)(data, np.zeros(len(data)))  # an array y is ignored


def test_fit_returns_self_and_fit_transform_equals_fit_then_transform(data):
    som = KohonenSOM((4, 3), random_state=1)
    assert som.fit(data) is som
    np.testing.assert_array_equal(KohonenSOM((4, 3), random_state=1).fit_transform(data), som.transform(data))
    assert som.n_features_in_ == 3
    check_is_fitted(som)


@pytest.mark.parametrize(
    "method", ["transform", "winner", "quantization_error", "topographic_error", "score", "get_feature_names_out"]
)
def test_unfitted_map_raises_not_fitted_error(data, method):
    som = KohonenSOM((3, 3))
    with pytest.raises(NotFittedError, match="not fitted"):
        getattr(som, method)(*(() if method == "get_feature_names_out" else (data,)))
    with pytest.raises(NotFittedError):
        check_is_fitted(som)
    # A ValueError (and an AttributeError) too, as the checks before it raised.
    assert issubclass(NotFittedError, ValueError) and issubclass(NotFittedError, AttributeError)


def test_feature_names_out_one_per_grid_axis(data):
    som = KohonenSOM((3, 4, 2), random_state=0).fit(data)
    np.testing.assert_array_equal(som.get_feature_names_out(), ["som0", "som1", "som2"])
    assert som.get_feature_names_out().dtype == object
    np.testing.assert_array_equal(som.get_feature_names_out(["a", "b", "c"]), ["som0", "som1", "som2"])
    with pytest.raises(ValueError, match="input_features"):
        som.get_feature_names_out(["a", "b"])
    chain = KohonenSOM((6,), random_state=0).fit(data)
    np.testing.assert_array_equal(chain.get_feature_names_out(), ["som0"])
    assert chain.transform(data).shape == (len(data), 1)


def test_transform_dtype_follows_the_data(data):
    som = KohonenSOM((4, 4), random_state=0).fit(data)
    out64, out32 = som.transform(data), som.transform(data.astype(np.float32))
    assert out64.dtype == np.float64 and out32.dtype == np.float32
    assert som.transform(data.tolist()).dtype == np.float64
    assert som.transform(np.rint(data * 10).astype(np.int64)).dtype == np.float64
    np.testing.assert_array_equal(out64, som.grid_.coords[som.winner(data)])
    np.testing.assert_array_equal(out32, out64)


def test_score_is_the_negative_quantization_error(data):
    som = KohonenSOM((4, 4), random_state=0).fit(data)
    assert som.score(data) == -som.quantization_error(data)
    assert som.score(data, np.zeros(len(data))) == som.score(data)


def test_object_arrays_of_numbers_are_read_and_other_objects_named(data):
    som = KohonenSOM((3, 3), random_state=0)
    a = som.fit(data.astype(object)).embedding_.copy()
    np.testing.assert_array_equal(KohonenSOM((3, 3), random_state=0).fit(data).embedding_, a)
    bad = data.astype(object)
    bad[0, 0] = {"not": "a number"}
    with pytest.raises(ValueError, match="X must be an array of real numbers"):
        som.fit(bad)
    bad[0, 0] = "1.5"
    with pytest.raises(ValueError, match="X must be an array of real numbers; got objects, among them '1.5'"):
        som.fit(bad)
    np.testing.assert_array_equal(som.embedding_, a)


def test_sparse_and_complex_input_are_rejected_with_a_clear_message(data):
    from scipy import sparse

    with pytest.raises(ValueError, match="X must be a dense array: sparse input is not supported"):
        KohonenSOM((3, 3)).fit(sparse.csr_matrix(data))
    with pytest.raises(ValueError, match="X must be an array of real numbers.*Complex data not supported"):
        KohonenSOM((3, 3)).fit(data + 1j)


def test_clone_gives_an_unfitted_copy_with_equal_parameters(data):
    init = np.zeros((9, 3))
    som = KohonenSOM((3, 3), init=init, epochs=2, random_state=3).fit(data)
    copy = clone(som)
    assert not hasattr(copy, "embedding_")
    assert copy.get_params()["epochs"] == 2 and copy.init is not init
    np.testing.assert_array_equal(copy.fit(data).embedding_, som.embedding_)


def test_clone_shares_the_strategy():
    """TensorFlow's default strategy cannot be deep-copied; a clone uses the same one."""
    strategy = tf.distribute.get_strategy()
    som = KohonenSOM((3, 3), mode="batch", strategy=strategy)
    assert clone(som).strategy is strategy
    assert clone(som).get_params()["mode"] == "batch"


def test_pipeline_fit_transform(data):
    pipeline = Pipeline([("scale", StandardScaler()), ("som", KohonenSOM((5, 4), random_state=0, epochs=2))])
    out = pipeline.fit(data).transform(data)
    assert out.shape == (len(data), 2)
    som = KohonenSOM((5, 4), random_state=0, epochs=2).fit(StandardScaler().fit_transform(data))
    np.testing.assert_array_equal(out, som.transform(StandardScaler().fit_transform(data)))
    np.testing.assert_array_equal(pipeline.get_feature_names_out(), ["som0", "som1"])
    assert pipeline.score(data) == som.score(StandardScaler().fit_transform(data))


def test_grid_search_picks_settings_by_quantization_error(data):
    search = GridSearchCV(
        KohonenSOM((4, 4), random_state=0),
        {"sigma": [(2.0, 0.5), (2.0, 1.5)], "epochs": [1, 2]},
        cv=3,
    ).fit(data)
    # A radius ending lower lets nodes specialise: a smaller quantization error on held-out folds.
    assert search.best_params_["sigma"] == (2.0, 0.5)
    assert search.best_score_ < 0
    best = search.best_estimator_
    assert best.score(data) == -best.quantization_error(data)
    scores = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores)) and search.best_score_ == scores.max()


def test_a_fitted_map_pickles(data):
    som = KohonenSOM((4, 4), random_state=0).fit(data)
    again = pickle.loads(pickle.dumps(som))
    np.testing.assert_array_equal(again.transform(data), som.transform(data))
    assert again.grid_ == Grid((4, 4))
