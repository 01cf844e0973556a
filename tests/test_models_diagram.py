"""The spiral-experiment model builders and the data/gradient-flow diagrams drawn from them."""

import re
import shutil

import keras
import numpy as np
import pytest

from experiments.diagram import model_graph, render_svg
from softsom import Grid, KohonenSOM
from softsom.layers import SoftSOM
from softsom.models import interposed_som, mlp, som_preprocessing


@pytest.fixture(scope="module")
def som():
    X = np.random.default_rng(0).uniform(-1.0, 1.0, size=(200, 2))
    return KohonenSOM(Grid((6, 6)), random_state=0).fit(X)


def dense_params(n_in, n_out):
    return n_in * n_out + n_out


def edges(dot, kind):
    """``(source, target)`` node ids of the edges of class ``kind`` in DOT source."""
    pattern = re.compile(r'^\s*"([^"]+)" -> "([^"]+)" \[class="' + kind + '"', re.M)
    return pattern.findall(dot)


def node_ids(dot):
    return re.findall(r'^\s*"([^"]+)" \[', dot, re.M)


# --- builders ------------------------------------------------------------


def test_mlp_shapes_and_parameters():
    model = mlp(3, hidden_units=(16, 8), n_classes=4)
    assert model.name == "pure_nn"
    assert [layer.name for layer in model.layers] == ["inputs", "hidden_1", "hidden_2", "classifier"]
    assert model.output_shape == (None, 4)
    assert model.count_params() == dense_params(3, 16) + dense_params(16, 8) + dense_params(8, 4)
    probabilities = model(np.zeros((5, 3), "float32")).numpy()
    assert probabilities.shape == (5, 4)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    assert model.compiled is False
    assert model.get_layer("hidden_1").activation is keras.activations.tanh


def test_mlp_seed_makes_it_reproducible():
    a, b = mlp(2, seed=3), mlp(2, seed=3)
    for wa, wb in zip(a.weights, b.weights):
        np.testing.assert_array_equal(wa.numpy(), wb.numpy())
    assert not np.array_equal(mlp(2, seed=4).weights[0].numpy(), a.weights[0].numpy())


def test_som_preprocessing_freezes_the_fitted_map(som):
    model = som_preprocessing(som, beta=3.0, hidden_units=(16,))
    assert [layer.name for layer in model.layers] == ["inputs", "soft_som", "hidden_1", "classifier"]
    layer = model.get_layer("soft_som")
    assert isinstance(layer, SoftSOM) and layer.embedding_update == "frozen" and layer.beta == 3.0
    np.testing.assert_array_equal(layer.embedding.numpy(), som.embedding_)
    assert model.input_shape == (None, 2) and model.output_shape == (None, 2)
    K, m = 36, 2
    # embedding K x n, plus the layer's sample counter
    assert model.count_params() == K * 2 + 1 + dense_params(m, 16) + dense_params(16, 2)
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == dense_params(m, 16) + dense_params(16, 2)


@pytest.mark.parametrize("mode", ["kohonen", "backprop", "frozen"])
def test_interposed_som_modes_shapes_and_parameters(mode):
    model = interposed_som(
        2,
        (4, 5),
        beta=2.0,
        hidden_units_before=(8,),
        hidden_units_after=(6, 6),
        n_classes=3,
        embedding_update=mode,
        decay_samples=500,
    )
    assert [layer.name for layer in model.layers] == [
        "inputs",
        "hidden_1",
        "soft_som",
        "hidden_2",
        "hidden_3",
        "classifier",
    ]
    layer = model.get_layer("soft_som")
    assert layer.embedding_update == mode and layer.decay_samples == 500
    assert layer.embedding.shape == (20, 8)
    assert model.output_shape == (None, 3)
    dense = dense_params(2, 8) + dense_params(2, 6) + dense_params(6, 6) + dense_params(6, 3)
    assert model.count_params() == dense + 20 * 8 + 1
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == dense + (20 * 8 if mode == "backprop" else 0)


def test_interposed_som_passes_som_options():
    model = interposed_som(2, (3, 3), 1.0, learning_rate=(0.2, 0.02), neighbourhood="gaussian")
    layer = model.get_layer("soft_som")
    assert layer.learning_rate == (0.2, 0.02) and layer.neighbourhood == "gaussian"


@pytest.mark.parametrize(
    "call, argument",
    [
        (lambda: mlp(0), "n_inputs"),
        (lambda: mlp(2.5), "n_inputs"),
        (lambda: mlp(2, hidden_units=(16, 0)), "hidden_units"),
        (lambda: mlp(2, hidden_units=16), "hidden_units"),
        (lambda: mlp(2, n_classes=1), "n_classes"),
        (lambda: mlp(2, activation="no-such-activation"), "activation"),
        (lambda: mlp(2, name=""), "name"),
        (lambda: mlp(2, seed=-1), "seed"),
        (lambda: som_preprocessing(KohonenSOM(Grid((3,))), 1.0), "som"),
        (lambda: interposed_som(2, (4, 0), 1.0), "grid_shape"),
        (lambda: interposed_som(2, (4, 4), 0.0), "beta"),
        (lambda: interposed_som(2, (4, 4), float("nan")), "beta"),
        (lambda: interposed_som(2, (4, 4), 1.0, hidden_units_before=(-1,)), "hidden_units_before"),
        (lambda: interposed_som(2, (4, 4), 1.0, hidden_units_after="16"), "hidden_units_after"),
        (lambda: interposed_som(2, (4, 4), 1.0, embedding_update="adam"), "embedding_update"),
        (lambda: interposed_som(2, (4, 4), 1.0, decay_samples=0), "decay_samples"),
        (lambda: interposed_som(2, (4, 4), 1.0, radius=3), "som_options"),
    ],
)
def test_bad_arguments_are_named(call, argument):
    with pytest.raises(ValueError, match=argument):
        call()


def test_som_preprocessing_beta_is_named(som):
    with pytest.raises(ValueError, match="beta"):
        som_preprocessing(som, beta=-1.0)


# --- diagrams ------------------------------------------------------------


def test_graph_has_every_layer_and_weight_with_shapes():
    model = interposed_som(2, (8, 8), beta=2.0)
    dot = model_graph(model)
    ids = node_ids(dot)
    for layer in model.layers:
        assert f"layer:{layer.name}" in ids
        assert f"output {layer.output.shape}" in dot.replace("\\n", "\n")
        assert type(layer).__name__ in dot
    for weight in model.weights:
        assert f"weight:{weight.path}" in ids
    assert "[64, 16]  (K × n)" in dot.replace("\\n", "\n")
    assert len([i for i in ids if i.startswith("weight:")]) == len(model.weights)
    # forward edges follow the chain of layers and read every weight
    assert edges(dot, "forward") == [
        ("layer:inputs", "layer:hidden_1"),
        ("layer:hidden_1", "layer:soft_som"),
        ("layer:soft_som", "layer:hidden_2"),
        ("layer:hidden_2", "layer:classifier"),
        ("layer:classifier", "loss"),
    ]
    assert {target for _, target in edges(dot, "read")} == {f"layer:{l.name}" for l in model.layers if l.weights}
    assert len(edges(dot, "read")) == len(model.weights)


@pytest.mark.parametrize("mode", ["kohonen", "frozen", "backprop"])
def test_gradient_edges(mode):
    model = interposed_som(2, (4, 4), beta=1.0, embedding_update=mode)
    dot = model_graph(model)
    gradients = edges(dot, "gradient")
    into_weights = {target for _, target in gradients if target.startswith("weight:")}
    expected = {f"weight:{w.path}" for w in model.trainable_weights}
    assert into_weights == expected
    assert ("weight:soft_som/embedding" in into_weights) == (mode == "backprop")
    assert "weight:soft_som/samples_seen" not in into_weights
    # the gradient passes back through the SOM to the first Dense layer in every mode
    for step in [
        ("loss", "layer:classifier"),
        ("layer:classifier", "layer:hidden_2"),
        ("layer:hidden_2", "layer:soft_som"),
        ("layer:soft_som", "layer:hidden_1"),
    ]:
        assert step in gradients
    # ... but not into the inputs, which hold no weights
    assert not [edge for edge in gradients if edge[1] == "layer:inputs"]
    kohonen = edges(dot, "kohonen")
    if mode == "kohonen":
        assert kohonen == [("layer:hidden_1", "weight:soft_som/embedding")]
        assert "Kohonen update" in dot
    else:
        assert kohonen == []
        assert "Kohonen update" not in dot


def test_gradients_stop_at_a_frozen_preprocessing_som(som):
    dot = model_graph(som_preprocessing(som, beta=2.0))
    gradients = edges(dot, "gradient")
    assert ("layer:hidden_1", "layer:soft_som") not in gradients
    assert not [edge for edge in gradients if "soft_som" in edge[1]]
    assert ("layer:classifier", "layer:hidden_1") in gradients
    assert "not trainable: frozen" in dot and edges(dot, "kohonen") == []


def test_graph_is_deterministic_and_options():
    model = mlp(2)
    dot = model_graph(model)
    assert dot == model_graph(model)
    assert dot.startswith('digraph "pure_nn" {') and dot.rstrip().endswith("}")
    assert "legend" in dot
    no_loss = model_graph(model, loss=False, rankdir="LR")
    assert '"loss"' not in no_loss and 'rankdir="LR"' in no_loss
    assert edges(no_loss, "gradient") and ("layer:hidden_2", "layer:hidden_1") in edges(no_loss, "gradient")
    with pytest.raises(ValueError, match="rankdir"):
        model_graph(model, rankdir="BT")
    with pytest.raises(ValueError, match="model"):
        model_graph(object())
    with pytest.raises(ValueError, match="model"):
        model_graph(keras.Sequential([keras.layers.Dense(2)]))  # not built: no outputs


def test_sequential_model():
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(4, name="d1"),
            SoftSOM((2, 2), name="som"),
            keras.layers.Dense(2, name="out"),
        ]
    )
    dot = model_graph(model)
    embedding = model.get_layer("som").embedding.path  # "sequential/som/embedding"
    assert edges(dot, "kohonen") == [("layer:d1", f"weight:{embedding}")]
    assert ("layer:som", "layer:d1") in edges(dot, "gradient")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz not installed")
def test_render_svg():
    svg = render_svg(model_graph(interposed_som(2, (4, 4), beta=1.0)))
    assert "<svg" in svg and svg.rstrip().endswith("</svg>")
    assert "soft_som/embedding" in svg and "Kohonen update" in svg


def test_render_svg_errors(monkeypatch):
    with pytest.raises(ValueError, match="dot_source"):
        render_svg(b"digraph {}")
    if shutil.which("dot") is not None:
        with pytest.raises(RuntimeError, match="dot failed"):
            render_svg("digraph { this is not dot")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="graphviz") as info:
        render_svg("digraph {}")
    assert "apt-get install graphviz" in str(info.value) and "make" in str(info.value)
