"""softsom: self-organizing maps embedded into neural networks.

The classical map (:class:`KohonenSOM` on a :class:`Grid`), the
differentiable soft SOM op (:func:`soft_som`, with :func:`hard_som` for the
classical output) and its Keras layer (:class:`SoftSOM`), after S. Barnes,
"Embedding Self-Organizing Maps into Neural Networks".

The public names are imported on first use, so that ``import softsom`` (and
the notebook runner) does not pay for importing TensorFlow.
"""

import importlib

__version__ = "0.1.0"

_PUBLIC = {
    "Grid": "grid",
    "KohonenSOM": "kohonen",
    "soft_som": "ops",
    "hard_som": "ops",
    "SoftSOM": "layers",
    "two_spirals": "data",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name):
    if name in _PUBLIC:
        return getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
