"""Fixed-seed results of the rectangular grids, saved before hexagonal and toroidal grids were added.

``python -m tests._rectangular_reference`` rewrites tests/data/rectangular_reference.npz;
``python -m tests._rectangular_reference --check`` prints the names of the results
that differ from it (tests/test_topologies.py runs it). In a fresh process: the
online pass and the op are ``tf.function``s with ``reduce_retracing``, so shapes
traced earlier in a process can send a call through a shape-relaxed trace, which
may take another path (e.g. the winner products) and round differently.
"""

import json
import sys
from pathlib import Path

import keras
import numpy as np

REFERENCE = Path(__file__).resolve().parent / "data" / "rectangular_reference.npz"


def rectangular_results():
    """Every path that uses the grid, on rectangular grids, with fixed seeds: name -> array."""
    from softsom import Grid, KohonenSOM, SoftSOM
    from softsom.analysis import distance_map

    rng = np.random.default_rng(7)
    X3 = rng.normal(size=(300, 3)).astype(np.float32)
    X6 = rng.normal(size=(200, 6)).astype(np.float32)
    results = {}
    settings = {
        "online_2d": dict(grid=(5, 4)),
        "online_2d_gauss_euclid": dict(grid=(5, 4), neighbourhood="gaussian", distance="euclidean"),
        "online_1d_bubble": dict(grid=(9,), neighbourhood="bubble"),
        "online_3d_pca": dict(grid=(3, 3, 2), init="pca"),
        "online_big": dict(grid=(40, 30), init="pca"),
        "online_big_euclid": dict(grid=(40, 30), distance="euclidean", neighbourhood="gaussian"),
        "batch_2d": dict(grid=(5, 4), mode="batch", epochs=5),
        "batch_2d_euclid": dict(grid=(5, 4), mode="batch", epochs=5, distance="euclidean", neighbourhood="bubble"),
        "minibatch_2d": dict(grid=(5, 4), mode="batch", batch_size=16, epochs=2),
        "minibatch_mexican": dict(grid=(6, 3), mode="batch", batch_size=32, epochs=2, neighbourhood="mexican_hat"),
        "minibatch_euclid": dict(grid=(6, 3), mode="batch", batch_size=32, epochs=2, distance="euclidean"),
    }
    for name, options in settings.items():
        for data_name, X in (("n3", X3), ("n6", X6)):
            som = KohonenSOM(random_state=3, **options).fit(X)
            key = f"{name}_{data_name}"
            results[f"{key}_embedding"] = som.embedding_
            results[f"{key}_transform"] = som.transform(X)
            results[f"{key}_te"] = np.array([som.topographic_error(X), som.topographic_error(X, adjacency="minisom")])
            results[f"{key}_umatrix"] = distance_map(som)
            if len(som.grid_.shape) == 2:
                results[f"{key}_umatrix_moore"] = distance_map(som, neighbours="moore", scaling="sum", normalize=True)
    grid = Grid((4, 5))
    results["grid_coords"] = grid.coords
    results["grid_distances"] = grid.distances()
    results["grid_edges"] = grid.edges()
    for shape in ((4, 4), (7,), (2, 3, 2)):
        start = np.random.default_rng(1).normal(size=(int(np.prod(shape)), 3)).astype("float32")
        for neighbourhood in ("exponential", "gaussian"):
            layer = SoftSOM(
                shape,
                beta=2.0,
                decay_samples=500,
                neighbourhood=neighbourhood,
                embedding_initializer=keras.initializers.Constant(start),
            )
            for i in range(3):
                layer(X3[i * 64 : (i + 1) * 64], training=True)
            key = f"softsom_{'x'.join(map(str, shape))}_{neighbourhood}"
            results[f"{key}_embedding"] = layer.embedding.numpy()
            results[f"{key}_output"] = layer(X3[:50]).numpy()
    return results


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        reference, results = np.load(REFERENCE), rectangular_results()
        changed = sorted(set(reference.files) ^ set(results))
        same = [name for name in reference.files if name in results and np.array_equal(results[name], reference[name])]
        changed += sorted(set(reference.files) - set(same))
        print("CHANGED" + json.dumps({"compared": len(reference.files), "changed": changed}))
    else:
        REFERENCE.parent.mkdir(exist_ok=True)
        np.savez_compressed(REFERENCE, **rectangular_results())
        print(f"wrote {REFERENCE}")
