"""What the suite measures in full and in quick mode."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Settings:
    """Shapes, sizes and repeat counts of one run of the suite.

    Attributes
    ----------
    mode : {"full", "quick"}
    op_shapes : tuple of (B, K, n)
        Batch size, number of nodes and input dimension of the op timings.
    ratio_shape : (B, K, n)
        The shape at which the speed-up over the broadcast implementation has
        a target.
    memory_shape : (B, K, n)
        The shape of the peak-memory measurements.
    broadcast_limit_bytes : int
        The broadcast contender is skipped where its [B, K, n] float32
        difference tensor would exceed this.
    warmup, repeats : int
        Untimed rounds, then timed rounds, of every comparison.
    kohonen_samples, kohonen_features : int
        Size of the training data of the Kohonen comparison.
    kohonen_grid : (int, int)
    batch_epochs : int
        Epochs of the batch-mode map.
    kohonen_repeats : int
        Trainings per contender (each with its own seed), after one warm-up.
    scaling_base : (B, K, n)
        The shape around which the scaling sweeps vary one size at a time.
    scaling_sizes : tuple of (str, tuple of int)
        Per axis ``"B"``, ``"K"``, ``"n"``: the sizes it takes (the other two
        as in ``scaling_base``).
    scaling_warmup, scaling_repeats : int
        Untimed and timed rounds at every size of the sweeps.
    coldstart_grid : (int, int)
    coldstart_epochs : int
        The cold-start task: scikit-learn's digits, this map, these epochs.
    coldstart_repeats : int
        Fresh processes per contender (ours and MiniSom, alternated).
    """

    mode: str
    op_shapes: tuple
    ratio_shape: tuple
    memory_shape: tuple
    broadcast_limit_bytes: int
    warmup: int
    repeats: int
    kohonen_samples: int
    kohonen_features: int
    kohonen_grid: tuple
    batch_epochs: int
    kohonen_repeats: int
    scaling_base: tuple
    scaling_sizes: tuple
    scaling_warmup: int
    scaling_repeats: int
    coldstart_grid: tuple
    coldstart_epochs: int
    coldstart_repeats: int


FULL = Settings(
    mode="full",
    op_shapes=((4096, 400, 64), (1024, 4096, 256), (65536, 100, 2), (256, 10000, 32)),
    ratio_shape=(4096, 400, 64),
    memory_shape=(16384, 1024, 256),
    broadcast_limit_bytes=2 * 2**30,
    warmup=3,
    repeats=15,
    kohonen_samples=10_000,
    kohonen_features=64,
    kohonen_grid=(20, 20),
    batch_epochs=10,
    kohonen_repeats=7,
    scaling_base=(4096, 400, 64),
    scaling_sizes=(
        ("B", (512, 1024, 2048, 4096, 8192, 16384)),
        ("K", (50, 100, 200, 400, 800, 1600)),
        ("n", (2, 4, 8, 16, 32, 64, 128, 256)),
    ),
    scaling_warmup=2,
    scaling_repeats=7,
    coldstart_grid=(10, 10),
    coldstart_epochs=10,
    coldstart_repeats=3,
)

# Tiny: only checks that every part of the suite runs and writes a valid file.
QUICK = Settings(
    mode="quick",
    op_shapes=((64, 16, 8), (32, 64, 4)),
    ratio_shape=(64, 16, 8),
    memory_shape=(256, 64, 16),
    broadcast_limit_bytes=2 * 2**30,
    warmup=1,
    repeats=2,
    kohonen_samples=300,
    kohonen_features=4,
    kohonen_grid=(4, 4),
    batch_epochs=2,
    kohonen_repeats=2,
    scaling_base=(64, 16, 8),
    scaling_sizes=(("B", (32, 64)), ("K", (8, 16)), ("n", (2, 8))),
    scaling_warmup=1,
    scaling_repeats=2,
    coldstart_grid=(4, 4),
    coldstart_epochs=1,
    coldstart_repeats=1,
)
