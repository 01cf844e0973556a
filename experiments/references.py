"""The classical references a reviewer checks first, on the same splits as the networks.

k-nearest neighbours, an RBF-kernel SVM, a multilayer perceptron fitted by
L-BFGS (scikit-learn's ``MLPClassifier(solver="lbfgs")``, a second-order
method) and a supervised SOM from a peer library (SuSi's ``SOMClassifier``).
A reference is tuned by 5-fold cross-validation on the training and validation
splits together, then refitted on both and scored on the test split: it needs
no validation set to stop on, so it gets all the labelled points the networks
see (training and validation).
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.svm import SVC

from experiments.training import prepare_data

__all__ = ["Reference", "REFERENCES", "trial", "evaluate"]

FOLDS = 5


@dataclasses.dataclass(frozen=True)
class Reference:
    """One tuned reference: its family name, its estimator's parameters, and how to make one."""

    name: str
    description: str
    params: tuple  # (name, value) pairs, so that the record is hashable and ordered

    def estimator(self, seed):
        """A fresh, seeded estimator with these parameters."""
        return BUILDERS[self.name](dict(self.params), seed)


def _knn(params, seed):
    return KNeighborsClassifier(n_neighbors=params["n_neighbors"], weights=params["weights"])


def _svm(params, seed):
    return SVC(C=params["C"], gamma=params["gamma"], kernel="rbf")


def _mlp(params, seed):
    return MLPClassifier(
        hidden_layer_sizes=(params["width"],),
        activation=params["activation"],
        alpha=params["alpha"],
        solver="lbfgs",
        max_iter=params["max_iter"],
        random_state=seed,
    )


def _susi(params, seed):
    import susi

    side = params["side"]
    return susi.SOMClassifier(
        n_rows=side,
        n_columns=side,
        n_iter_unsupervised=params["n_iter_unsupervised"],
        n_iter_supervised=params["n_iter_supervised"],
        learning_rate_start=params["learning_rate_start"],
        random_state=seed,
    )


BUILDERS = {"knn": _knn, "svm_rbf": _svm, "mlp_lbfgs": _mlp, "susi_som": _susi}


def _space(name, description, suggest):
    def space(trial, protocol):
        return Reference(name, description, tuple(sorted(suggest(trial).items())))

    space.description = description
    return space


REFERENCES = {
    "knn": _space(
        "knn",
        "k-nearest neighbours",
        lambda t: {
            "n_neighbors": t.suggest_int("n_neighbors", 1, 60, log=True),
            "weights": t.suggest_categorical("weights", ["uniform", "distance"]),
        },
    ),
    "svm_rbf": _space(
        "svm_rbf",
        "SVM, RBF kernel",
        lambda t: {
            "C": t.suggest_float("C", 1e-2, 1e5, log=True),
            "gamma": t.suggest_float("gamma", 1e-3, 1e4, log=True),
        },
    ),
    "mlp_lbfgs": _space(
        "mlp_lbfgs",
        "MLP fitted by L-BFGS (scikit-learn)",
        lambda t: {
            "width": t.suggest_int("width", 2, 256, log=True),
            "activation": t.suggest_categorical("activation", ["tanh", "relu"]),
            "alpha": t.suggest_float("alpha", 1e-7, 10.0, log=True),
            "max_iter": t.suggest_int("max_iter", 100, 5000, log=True),
        },
    ),
    "susi_som": _space(
        "susi_som",
        "supervised SOM (SuSi's SOMClassifier)",
        lambda t: {
            "side": t.suggest_int("side", 3, 30),
            "n_iter_unsupervised": t.suggest_int("n_iter_unsupervised", 100, 30000, log=True),
            "n_iter_supervised": t.suggest_int("n_iter_supervised", 100, 100000, log=True),
            "learning_rate_start": t.suggest_float("learning_rate_start", 0.05, 1.0, log=True),
        },
    ),
}


def _labelled(protocol, seed):
    data = prepare_data(protocol, seed)
    X = np.concatenate([data["train"][0], data["validation"][0]])
    y = np.concatenate([data["train"][1], data["validation"][1]])
    return X, y, data


def trial(reference, protocol, seeds):
    """One search trial: mean cross-validated error over ``seeds``, and the tuning seeds' test accuracy."""
    errors, tests = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for seed in seeds:
            X, y, data = _labelled(protocol, seed)
            folds = StratifiedKFold(FOLDS, shuffle=True, random_state=seed)
            errors.append(1.0 - cross_val_score(reference.estimator(seed), X, y, cv=folds).mean())
            fitted = reference.estimator(seed).fit(X, y)
            tests.append(float(np.mean(fitted.predict(data["test"][0]) == data["test"][1])))
    return float(np.mean(errors)), {
        "cv_accuracy": 1.0 - float(np.mean(errors)),
        "test_accuracy": float(np.mean(tests)),
        "learned_parameters": None,
    }


def evaluate(reference, protocol, seed):
    """Fit on the seed's training and validation splits; its test and training accuracy."""
    X, y, data = _labelled(protocol, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = reference.estimator(seed).fit(X, y)
    return {
        "seed": seed,
        "test_accuracy": float(np.mean(fitted.predict(data["test"][0]) == data["test"][1])),
        "train_accuracy": float(np.mean(fitted.predict(X) == y)),
    }
