"""Kohonen training against MiniSom 2.3.6: speed per sample, quality of the map, and the cold start.

Every round trains MiniSom (``train_random``, one update per sample), our
online rule (``KohonenSOM.fit``, one epoch) and our batch map
(``mode="batch"``) from the same initial map, with the seed of that round,
on the same fixed Gaussian mixture, under comparable schedules: learning
rate 0.5 -> 0.5/3 and Gaussian radius sigma0 -> sigma0/3 (MiniSom's
asymptotic decay ends there; ours decays geometrically to the same values).

The cold start (:func:`coldstart_figures`) is the first training in a fresh
process, compilation included, on scikit-learn's digits with default
settings, as a new user would meet it (:mod:`benchmarks.coldstart`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from minisom import MiniSom

from benchmarks.schema import figure
from softsom import KohonenSOM

from .timing import interleaved_times, ratios

__all__ = ["mixture", "kohonen_figures", "coldstart_figures"]

SECTION = "Kohonen training vs MiniSom 2.3.6"
LEARNING_RATE = 0.5
SPEEDUP_ONLINE = (">=", 20.0, "MiniSom train_random, per sample")
COLDSTART_TARGET = ("<=", 1.0, "MiniSom train, first run in a fresh process")
ROOT = Path(__file__).resolve().parents[1]
SPEEDUP_BATCH = (">=", 100.0, "MiniSom train_random, per sample")
QE_VS_MINISOM = ("<=", 0.05, "MiniSom's quantization error")
QE_VS_ONLINE = ("<=", 0.05, "our online rule's quantization error")
TE_VS_ONLINE = ("<=", 0.05, "our online rule's topographic error")


def mixture(samples, features, seed=0, clusters=12):
    """A fixed-seed Gaussian mixture: ``clusters`` blobs of spread 0.3 in the unit cube."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0.0, 1.0, size=(clusters, features))
    return centres[rng.integers(0, clusters, size=samples)] + rng.normal(scale=0.3, size=(samples, features))


class _Trainer:
    """A no-argument callable training a fresh map with the next seed (0, 1, ...); keeps the maps."""

    def __init__(self, train):
        self.train = train
        self.models = []

    def __call__(self):
        self.models.append(self.train(len(self.models)))


def _relative_difference(values, references):
    return np.abs(np.divide(values, references) - 1.0)


def kohonen_figures(settings):
    """Times per sample, speed-ups and map quality of the three trainers."""
    rows, cols = settings.kohonen_grid
    X = mixture(settings.kohonen_samples, settings.kohonen_features)
    samples, features = X.shape
    sigma = max(1.0, max(rows, cols) / 4)
    epochs = settings.batch_epochs

    # Built before timing: each seed's MiniSom with its initial map drawn from
    # the data (random samples), and a copy of that map for our trainers.
    seeds = range(settings.warmup + settings.kohonen_repeats)
    prepared = [
        MiniSom(
            rows,
            cols,
            features,
            sigma=sigma,
            learning_rate=LEARNING_RATE,
            neighborhood_function="gaussian",
            random_seed=seed,
        )
        for seed in seeds
    ]
    for som in prepared:
        som.random_weights_init(X)
    initial_maps = [som.get_weights().reshape(rows * cols, features).copy() for som in prepared]

    def train_minisom(seed):
        prepared[seed].train_random(X, samples)
        return prepared[seed]

    def ours(seed, **settings):
        return KohonenSOM(
            (rows, cols),
            learning_rate=(LEARNING_RATE, LEARNING_RATE / 3),
            sigma=(sigma, sigma / 3),
            neighbourhood="gaussian",
            init=initial_maps[seed],
            random_state=seed,
            **settings,
        )

    trainers = {
        "minisom": _Trainer(train_minisom),
        "online": _Trainer(lambda seed: ours(seed, epochs=1).fit(X)),
        "batch": _Trainer(lambda seed: ours(seed, mode="batch", batch_size=None, epochs=epochs).fit(X)),
    }
    times = interleaved_times(trainers, settings.kohonen_repeats, settings.warmup)
    models = {name: trainer.models[settings.warmup :] for name, trainer in trainers.items()}
    qe = {name: [m.quantization_error(X) for m in trained] for name, trained in models.items()}
    # MiniSom counts diagonal neighbours as adjacent; ours (grid hops) does not: no MiniSom TE.
    te = {name: [m.topographic_error(X) for m in models[name]] for name in ("online", "batch")}
    per_sample = {
        name: [1e6 * t / (samples * passes) for t in times[name]]
        for name, passes in (("minisom", 1), ("online", 1), ("batch", epochs))
    }

    shape = f"{samples} x {features}, {rows}x{cols} map"
    return [
        figure(
            "kohonen/minisom/us_per_sample",
            SECTION,
            f"MiniSom train_random ({shape})",
            "us/sample",
            per_sample["minisom"],
        ),
        figure(
            "kohonen/online/us_per_sample",
            SECTION,
            f"KohonenSOM online, 1 epoch ({shape})",
            "us/sample",
            per_sample["online"],
        ),
        figure(
            "kohonen/online/speedup_over_minisom",
            SECTION,
            "online: speed-up over MiniSom",
            "x",
            ratios(per_sample["minisom"], per_sample["online"]),
            target=SPEEDUP_ONLINE,
        ),
        figure(
            "kohonen/minisom/quantization_error", SECTION, "MiniSom: quantization error", "data units", qe["minisom"]
        ),
        figure("kohonen/online/quantization_error", SECTION, "online: quantization error", "data units", qe["online"]),
        figure(
            "kohonen/online/qe_relative_difference",
            SECTION,
            "online: |QE / MiniSom's QE - 1|",
            "",
            _relative_difference(qe["online"], qe["minisom"]),
            target=QE_VS_MINISOM,
        ),
        figure("kohonen/online/topographic_error", SECTION, "online: topographic error", "", te["online"]),
        figure(
            "kohonen/batch/us_per_sample",
            SECTION,
            f"KohonenSOM batch map, {epochs} epochs, per sample seen",
            "us/sample",
            per_sample["batch"],
        ),
        figure(
            "kohonen/batch/speedup_over_minisom",
            SECTION,
            "batch: speed-up over MiniSom, per sample seen",
            "x",
            ratios(per_sample["minisom"], per_sample["batch"]),
            target=SPEEDUP_BATCH,
        ),
        figure("kohonen/batch/quantization_error", SECTION, "batch: quantization error", "data units", qe["batch"]),
        figure(
            "kohonen/batch/qe_relative_difference",
            SECTION,
            "batch: |QE / online QE - 1|",
            "",
            _relative_difference(qe["batch"], qe["online"]),
            target=QE_VS_ONLINE,
        ),
        figure("kohonen/batch/topographic_error", SECTION, "batch: topographic error", "", te["batch"]),
        figure(
            "kohonen/batch/te_difference",
            SECTION,
            "batch: |TE - online TE|",
            "",
            np.abs(np.subtract(te["batch"], te["online"])),
            target=TE_VS_ONLINE,
        ),
    ]


def _first_training(which, seed, settings):
    """:mod:`benchmarks.coldstart`'s record for one fresh process."""
    rows, cols = settings.coldstart_grid
    args = [which, seed, rows, cols, settings.coldstart_epochs]
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.coldstart", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    if result.returncode != 0:
        raise RuntimeError(f"cold start of {which} (seed {seed}) failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def coldstart_figures(settings):
    """First ``fit`` in a fresh process against MiniSom's first ``train``, in alternating processes.

    One process per run (``settings.coldstart_repeats`` each, seeds 0, 1,
    ...), run one after the other, ours and MiniSom alternating, so that no
    two compete for the cores.
    """
    rows, cols = settings.coldstart_grid
    epochs = settings.coldstart_epochs
    section = f"Kohonen cold start: digits 1797 x 64, {rows}x{cols} map, {epochs} epochs, fresh process"
    records = {"ours": [], "minisom": []}
    for seed in range(settings.coldstart_repeats):
        order = ("ours", "minisom") if seed % 2 == 0 else ("minisom", "ours")
        for which in order:
            records[which].append(_first_training(which, seed, settings))
    seconds = {which: [r["seconds"] for r in runs] for which, runs in records.items()}
    errors = {which: [r["quantization_error"] for r in runs] for which, runs in records.items()}
    return [
        figure(
            "coldstart/ours/seconds",
            section,
            f"KohonenSOM(({rows}, {cols}), epochs={epochs}).fit(X), first call (compilation included)",
            "s",
            seconds["ours"],
        ),
        figure(
            "coldstart/minisom/seconds",
            section,
            f"MiniSom({rows}, {cols}): random_weights_init, train(X, {epochs}, use_epochs=True)",
            "s",
            seconds["minisom"],
        ),
        figure(
            "coldstart/ours/ratio_to_minisom",
            section,
            "ours / MiniSom, first training",
            "x",
            ratios(seconds["ours"], seconds["minisom"]),
            target=COLDSTART_TARGET,
        ),
        figure(
            "coldstart/ours/quantization_error",
            section,
            "ours (defaults): quantization error",
            "data units",
            errors["ours"],
        ),
        figure(
            "coldstart/minisom/quantization_error",
            section,
            "MiniSom (defaults): quantization error",
            "data units",
            errors["minisom"],
        ),
    ]
