"""Diagrams of how data, gradients and Kohonen updates flow through a Keras model.

:func:`model_graph` reads the structure of a built functional (or
Sequential) :class:`keras.Model`, walking back from its outputs through the
call history Keras records on every symbolic tensor, and writes it as
Graphviz DOT source:

* one box per layer (its name, class and output shape; a SoftSOM also shows
  ``beta``, its grid and how its embedding learns), and one node per weight
  variable (path, shape, trainable or not);
* solid black arrows for the forward tensors, grey arrows from each weight to
  the layer that reads it (the SoftSOM op takes its embedding as an input,
  like a Dense layer its kernel);
* dashed blue arrows where the gradient of the loss flows back: into every
  trainable weight, and from a layer to its input wherever some layer below
  still has trainable weights;
* for a SoftSOM in ``"kohonen"`` mode, a red arrow from the activations the
  layer is fed to its embedding: the Kohonen rule, which writes the
  embedding during training without any gradient.

:func:`render_svg` runs Graphviz's ``dot`` on the source. Nothing is drawn by
hand: the diagram changes when the model does, and the same model always
gives the same DOT text.
"""

from __future__ import annotations

import shutil
import subprocess

__all__ = ["model_graph", "render_svg"]

# Colours of the diagram, shared with the legend.
FORWARD = "#222222"
READ = "#8c8c8c"
GRADIENT = "#2166ac"
KOHONEN = "#c0392b"
LAYER_FILL = "#eef2f7"
SOM_FILL = "#e3f1e0"
TRAINABLE_FILL = "#fde9c9"
FIXED_FILL = "#e6e6e6"

_SOM_UPDATES = {
    "kohonen": "not trainable: Kohonen rule",
    "frozen": "not trainable: frozen",
    "backprop": "trainable: optimizer",
}


def _quote(text):
    """A DOT double-quoted string; ``\\n`` in ``text`` becomes a centred line break."""
    escaped = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _attrs(**attrs):
    parts = []
    for key, value in attrs.items():
        key = key.rstrip("_")  # class_ -> class
        if isinstance(value, _Html):
            parts.append(f"{key}=<{value.text}>")
        else:
            parts.append(f"{key}={_quote(value)}")
    return "[" + ", ".join(parts) + "]"


class _Html:
    """A Graphviz HTML-like label, written between ``<`` and ``>``."""

    def __init__(self, text):
        self.text = text


def _shape(shape):
    """A tensor shape as Python prints a tuple: ``(None, 16)``, ``(None,)``."""
    return str(tuple(shape))


def _walk(model):
    """Operations in topological order and the forward edges between them.

    Returns ``(ops, edges, output_ops)``: ``ops`` a list of ``(operation,
    output_shapes)``, parents before children; ``edges`` a list of
    ``(producer, consumer)`` operations; ``output_ops`` the operations that
    produce the model's outputs. The order is deterministic: depth first from
    the model's outputs, inputs in call order.
    """
    outputs = getattr(model, "outputs", None)
    if not outputs:
        raise ValueError(
            f"model must be a built functional or Sequential keras.Model with known inputs and outputs; got {model!r}"
        )
    order, shapes, edges, seen_nodes = [], {}, [], set()

    def visit(tensor):
        history = getattr(tensor, "_keras_history", None)
        if history is None or history.operation is None:
            raise ValueError(f"model: cannot trace the tensor {tensor!r} back to a layer")
        op = history.operation
        node = op._inbound_nodes[history.node_index]
        key = (id(op), history.node_index)
        if key not in seen_nodes:
            seen_nodes.add(key)
            for parent in node.input_tensors:
                producer = visit(parent)
                if (producer, op) not in edges:
                    edges.append((producer, op))
            if all(op is not seen for seen in order):
                order.append(op)
                shapes[id(op)] = [tuple(t.shape) for t in node.output_tensors]
        return op

    for tensor in outputs:
        visit(tensor)
    return [(op, shapes[id(op)]) for op in order], edges, [t._keras_history.operation for t in outputs]


def _weight_label(op, weight, som_layer, trainable):
    path = getattr(weight, "path", None) or weight.name
    shape = "[" + ", ".join(str(d) for d in weight.shape) + "]"
    dtype = str(getattr(weight, "dtype", ""))
    if som_layer is not None and weight is som_layer.embedding:
        return f"{path}\n{shape}  (K × n)\n{_SOM_UPDATES[som_layer.embedding_update]}"
    if som_layer is not None and weight is som_layer.samples_seen:
        return f"{path}\n{shape}  {dtype}\nnot trainable: inputs seen, t"
    extra = "" if dtype in ("float32", "") else f"  {dtype}"
    return f"{path}\n{shape}{extra}\n{'trainable' if trainable else 'not trainable'}"


def _layer_label(op, shape, som_layer):
    lines = [op.name, type(op).__name__]
    if som_layer is not None:
        grid = " × ".join(str(s) for s in som_layer.grid.shape)
        lines.append(f"β = {som_layer.beta:g}, grid {grid}")
        lines.append(f'embedding_update = "{som_layer.embedding_update}"')
    lines.append("output " + ", ".join(_shape(s) for s in shape))
    return "\n".join(lines)


def _legend(soft_som, kohonen):
    def row(sample, colour, text):
        return f'<TR><TD ALIGN="LEFT"><FONT COLOR="{colour}">{sample}</FONT></TD><TD ALIGN="LEFT">{text}</TD></TR>'

    def swatch(fill, text):
        return f'<TR><TD BGCOLOR="{fill}" BORDER="1"> </TD><TD ALIGN="LEFT">{text}</TD></TR>'

    arrow = "&#8212;&#8212;&#9654;"
    dashed = "- - - &#9654;"
    rows = [
        '<TR><TD COLSPAN="2"><B>legend</B></TD></TR>',
        row(arrow, FORWARD, "forward tensor"),
        row(arrow, READ, "weight read by the layer"),
        row(dashed, GRADIENT, "gradient of the loss (backpropagation)"),
        row(arrow, KOHONEN, "Kohonen update of the embedding") if kohonen else "",
        swatch(LAYER_FILL, "layer"),
        swatch(SOM_FILL, "soft SOM layer") if soft_som else "",
        swatch(TRAINABLE_FILL, "trainable weight"),
        swatch(FIXED_FILL, "non-trainable weight"),
    ]
    table = '<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="2" CELLPADDING="2">' + "".join(rows) + "</TABLE>"
    return f'  "legend" {_attrs(shape="plaintext", label=_Html(table), fontsize="10")};'


def model_graph(model, *, loss=True, rankdir="TB"):
    """Graphviz DOT source showing the forward pass, the gradients and the Kohonen updates of ``model``.

    The diagram is generated from the model itself: its layers and the
    connections Keras recorded when it was built, its weight variables and
    whether each is trainable (see the module docstring for what is drawn).
    The gradient arrows follow what backpropagation needs: into each
    trainable weight, and from a layer back to its input only where the
    input's side of the network still holds trainable weights.

    Parameters
    ----------
    model : keras.Model
        A built functional or Sequential model.
    loss : bool, default True
        Add a ``loss`` node after the outputs, where the gradients start.
    rankdir : {"TB", "LR"}, default "TB"
        Layout direction: top to bottom or left to right.

    Returns
    -------
    str
        DOT source of a ``digraph``; pass it to :func:`render_svg`. Edges
        carry a ``class`` attribute (``forward``, ``read``, ``gradient``,
        ``kohonen``), nodes the ids ``layer:<name>`` and ``weight:<path>``.

    Raises
    ------
    ValueError
        If ``model`` is not a built model whose outputs trace back to its
        layers, or ``rankdir`` is not "TB" or "LR".
    """
    from softsom.layers import SoftSOM  # imports TensorFlow: only when a diagram is made

    if rankdir not in ("TB", "LR"):
        raise ValueError(f'rankdir must be "TB" or "LR"; got {rankdir!r}')
    ops, edges, output_ops = _walk(model)

    def node_id(op):
        return f"layer:{op.name}"

    # Weights: one node per variable, keyed by path (made unique if need be).
    weight_ids, weight_nodes, reads = {}, [], []
    for op, _ in ops:
        som_layer = op if isinstance(op, SoftSOM) else None
        trainable_ids = {id(w) for w in getattr(op, "trainable_weights", [])}
        for weight in getattr(op, "weights", []):
            if id(weight) not in weight_ids:
                base = f"weight:{getattr(weight, 'path', None) or weight.name}"
                wid, k = base, 1
                while wid in (n for n, *_ in weight_nodes):
                    k += 1
                    wid = f"{base}#{k}"
                weight_ids[id(weight)] = wid
                trainable = id(weight) in trainable_ids
                weight_nodes.append((wid, op, _weight_label(op, weight, som_layer, trainable), trainable))
            reads.append((weight_ids[id(weight)], op, id(weight) in trainable_ids))

    # Which operations need the gradient of the loss with respect to their output?
    needs_grad = {}
    for op, _ in ops:
        parents = [p for p, c in edges if c is op]
        needs_grad[id(op)] = bool(getattr(op, "trainable_weights", [])) or any(needs_grad[id(p)] for p in parents)

    lines = [
        f"digraph {_quote(model.name)} {{",
        "  graph "
        + _attrs(
            rankdir=rankdir,
            fontname="Helvetica",
            fontsize="13",
            labelloc="t",
            label=model.name,
            nodesep="0.35",
            ranksep="0.5",
            newrank="true",
        )
        + ";",
        f"  node {_attrs(fontname='Helvetica', fontsize='10')};",
        f"  edge {_attrs(fontname='Helvetica', fontsize='9')};",
        "",
        "  // layers",
    ]
    for op, shape in ops:
        som = isinstance(op, SoftSOM)
        lines.append(
            f"  {_quote(node_id(op))} "
            + _attrs(
                shape="box",
                style="rounded,filled",
                fillcolor=SOM_FILL if som else LAYER_FILL,
                class_="layer",
                group="main",
                label=_layer_label(op, shape, op if som else None),
            )
            + ";"
        )
    if loss:
        lines.append(f'  "loss" {_attrs(shape="ellipse", class_="loss", group="main", label="loss")};')
    lines += ["", "  // weight variables"]
    for wid, _op, label, trainable in weight_nodes:
        lines.append(
            f"  {_quote(wid)} "
            + _attrs(
                shape="cylinder",
                style="filled",
                fillcolor=TRAINABLE_FILL if trainable else FIXED_FILL,
                class_="weight trainable" if trainable else "weight fixed",
                label=label,
            )
            + ";"
        )

    lines += ["", "  // forward: tensors from layer to layer, weights read by their layer"]
    for producer, consumer in edges:
        lines.append(
            f"  {_quote(node_id(producer))} -> {_quote(node_id(consumer))} "
            + _attrs(class_="forward", color=FORWARD, weight="10")
            + ";"
        )
    if loss:
        for op in output_ops:
            lines.append(
                f'  {_quote(node_id(op))} -> "loss" ' + _attrs(class_="forward", color=FORWARD, weight="10") + ";"
            )
    for wid, op, _ in reads:
        lines.append(f"  {_quote(wid)} -> {_quote(node_id(op))} " + _attrs(class_="read", color=READ) + ";")

    lines += ["", "  // backward: where the gradient of the loss flows"]
    grad = dict(class_="gradient", color=GRADIENT, fontcolor=GRADIENT, style="dashed", constraint="false")
    if loss:
        for op in output_ops:
            lines.append(f'  "loss" -> {_quote(node_id(op))} ' + _attrs(**grad) + ";")
    for producer, consumer in reversed(edges):
        if needs_grad[id(producer)]:
            lines.append(f"  {_quote(node_id(consumer))} -> {_quote(node_id(producer))} " + _attrs(**grad) + ";")
    for wid, op, trainable in reads:
        if trainable:
            lines.append(f"  {_quote(node_id(op))} -> {_quote(wid)} " + _attrs(**grad) + ";")

    kohonen = [op for op, _ in ops if isinstance(op, SoftSOM) and op.embedding_update == "kohonen"]
    if kohonen:
        lines += ["", "  // the Kohonen rule: the layer's inputs pull its embedding during training"]
    for op in kohonen:
        for producer, consumer in edges:
            if consumer is op:
                lines.append(
                    f"  {_quote(node_id(producer))} -> {_quote(weight_ids[id(op.embedding)])} "
                    + _attrs(
                        class_="kohonen",
                        color=KOHONEN,
                        fontcolor=KOHONEN,
                        penwidth="1.6",
                        label=" Kohonen update",
                        constraint="false",
                    )
                    + ";"
                )

    soft_som = any(isinstance(op, SoftSOM) for op, _ in ops)
    lines += ["", _legend(soft_som, bool(kohonen)), "}", ""]
    return "\n".join(lines)


def render_svg(dot_source, *, timeout=60):
    """Render DOT source to SVG with Graphviz's ``dot -Tsvg``.

    Parameters
    ----------
    dot_source : str
        A graph, e.g. from :func:`model_graph`.
    timeout : float, default 60
        Seconds to wait for ``dot``.

    Returns
    -------
    str
        The SVG document (``<?xml ...?> ... <svg ...>...</svg>``), e.g. for
        ``IPython.display.SVG``.

    Raises
    ------
    ValueError
        If ``dot_source`` is not a string.
    RuntimeError
        If Graphviz's ``dot`` is not installed, or fails on the source.
    """
    if not isinstance(dot_source, str):
        raise ValueError(f"dot_source must be a str of DOT source; got {type(dot_source).__name__}")
    dot = shutil.which("dot")
    if dot is None:
        raise RuntimeError(
            "Graphviz's `dot` program was not found on the PATH; it draws the model diagrams. "
            "Install Graphviz: `apt-get install graphviz` on Debian/Ubuntu (`make` in the "
            "softsom repository does this), `brew install graphviz` or `conda install graphviz`."
        )
    result = subprocess.run(
        [dot, "-Tsvg"], input=dot_source.encode("utf-8"), capture_output=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"Graphviz's dot failed (exit status {result.returncode}): "
            f"{result.stderr.decode('utf-8', 'replace').strip()}"
        )
    return result.stdout.decode("utf-8")
