"""softsom: self-organizing maps embedded into neural networks.

The classical map (:class:`KohonenSOM` on a :class:`Grid`), the
differentiable soft SOM op (:func:`soft_som`, with :func:`hard_som` for the
classical output), its Keras layer (:class:`SoftSOM`), model builders
(:mod:`softsom.models`) and the two-spirals data (:func:`two_spirals`), after
S. Barnes, "Embedding Self-Organizing Maps into Neural Networks".

TensorFlow is not a requirement of the package, so that it never installs a
second TensorFlow beside the one a machine has (``tensorflow``,
``tensorflow-cpu``, a GPU or macOS build): install one first, or ask for it
with an extra (``pip install softsom[tensorflow]``). Importing softsom checks
that one is there and recent enough, and registers :class:`SoftSOM` with
Keras, so ``import softsom`` is all ``keras.models.load_model`` needs.
"""

__version__ = "0.1.0"

# The oldest TensorFlow with Keras 3 as tf.keras.
MIN_TENSORFLOW = (2, 16)


def _check_tensorflow():
    """Fail with an ImportError that says what to install when TensorFlow is missing or too old."""
    try:
        import tensorflow as tf
    except ImportError as err:
        raise ImportError(
            "softsom needs TensorFlow >= {}.{}, which is not installed. Install the build for your "
            "machine, e.g. `pip install tensorflow` (GPU on Linux, macOS) or `pip install tensorflow-cpu`, "
            "or `pip install softsom[tensorflow]`.".format(*MIN_TENSORFLOW)
        ) from err
    found = tuple(int(part) for part in tf.__version__.split(".")[:2] if part.isdigit())
    if found < MIN_TENSORFLOW:
        raise ImportError(
            "softsom needs TensorFlow >= {}.{} (Keras 3); found {}. Upgrade it, e.g. "
            "`pip install -U tensorflow`.".format(*MIN_TENSORFLOW, tf.__version__)
        )


_check_tensorflow()

from . import analysis, models  # noqa: E402, F401  (analysis: a module for softsom.analysis, not in __all__)
from .datasets import two_spirals  # noqa: E402
from .grid import Grid  # noqa: E402
from .kohonen import KohonenSOM  # noqa: E402
from .layers import SoftSOM  # noqa: E402  (importing it registers the layer with Keras)
from .ops import hard_som, soft_som  # noqa: E402

__all__ = ["Grid", "KohonenSOM", "SoftSOM", "hard_som", "models", "soft_som", "two_spirals"]
