"""Training a model that holds :class:`~softsom.SoftSOM` layers on several workers, resumably.

Under Keras 3, ``Model.fit`` trains under ``tf.distribute.MirroredStrategy``
(the devices of one machine) but fails under
``tf.distribute.MultiWorkerMirroredStrategy`` (several processes or machines)
even for a model of one Dense layer, with ``ValueError: Attempt to convert a
value (PerReplica:...)`` (keras-team/keras#20585). TensorFlow's documented
way to train on several workers is a custom training loop: ``strategy.run``
of a training step inside a ``tf.function``. :func:`train` is that loop,
with checkpoints so that a job whose worker died resumes where it left off.

What runs where:

* one device, or ``MirroredStrategy`` on one machine: ``Model.fit`` in
  ``strategy.scope()`` (with Keras's ``BackupAndRestore`` callback for crash
  recovery), or :func:`train`;
* several workers (``MultiWorkerMirroredStrategy``, one ``TF_CONFIG`` per
  worker): :func:`train`, called by every worker with the same arguments;
* :class:`~softsom.KohonenSOM` with ``mode="batch"``: its own
  :meth:`~softsom.KohonenSOM.fit`, called by every worker with the same data
  and ``random_state`` and the strategy (see its Notes).

A sketch of one worker's program (each worker runs it with its own
``TF_CONFIG``; the strategy must be created before any other TensorFlow
call)::

    from softsom.distribute import train

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    with strategy.scope():
        model = softsom.models.interposed_som(...)  # or any model with SoftSOM layers
        optimizer = keras.optimizers.SGD(0.1)
    loss = keras.losses.SparseCategoricalCrossentropy(reduction=None)
    result = train(
        model, loss, optimizer, batches=lambda step: (X[...], y[...]), steps=1000,
        strategy=strategy, checkpoint_dir="/shared/run-1/checkpoints",
    )

Creating the strategy waits, without a time limit, until every worker of
``TF_CONFIG`` is up: whatever starts the workers should bound that, and
restart the whole job when a worker fails (as the tests do).
"""

from __future__ import annotations

import os
import shutil

import keras
import numpy as np
import tensorflow as tf

from ._validation import check_positive_int

__all__ = ["train", "WorkerLostError"]

# The errors TensorFlow raises in a collective operation when a peer worker
# has died or stopped answering (connection reset, health check, timeout).
_LOST_WORKER_ERRORS = (
    tf.errors.UnavailableError,
    tf.errors.DeadlineExceededError,
    tf.errors.CancelledError,
    tf.errors.AbortedError,
)


class WorkerLostError(RuntimeError):
    """A training step of :func:`train` failed because a worker died or cannot be reached.

    The message says from which step a restart of every worker resumes (the
    last checkpoint), or that without ``checkpoint_dir`` it begins again
    from step 0. Attributes: ``step`` (the step that failed) and
    ``resume_step`` (the step a restart resumes from).
    """

    def __init__(self, message, step, resume_step):
        super().__init__(message)
        self.step = step
        self.resume_step = resume_step


def train(
    model,
    loss,
    optimizer,
    batches,
    steps,
    *,
    strategy=None,
    checkpoint_dir=None,
    checkpoint_every=1,
):
    """Train ``model`` for ``steps`` steps with a custom training loop under ``strategy``.

    Every step takes the global batch ``batches(step)``; replica r of R (over
    all workers) gets its r-th share of the rows (``np.array_split``), runs the
    model with ``training=True`` (so that ``SoftSOM`` layers in ``"kohonen"``
    mode apply their update, all-reduced over the replicas), and the
    gradients of the mean loss over the global batch are summed across
    replicas and applied by ``optimizer``. So the result is that of one
    process stepping through the same global batches, up to the order of the
    floating-point additions: on two ``MultiWorkerMirroredStrategy`` workers
    of one machine the weights and embeddings differ from one process's by
    at most 1e-5, identical on both workers (tested, for all three
    ``embedding_update`` modes).

    With ``checkpoint_dir``, the model's and optimizer's variables (the
    embeddings and ``samples_seen`` of SoftSOM layers included) and the step
    are saved every ``checkpoint_every`` steps (``tf.train.CheckpointManager``;
    the first worker writes ``checkpoint_dir``, the others write to a
    temporary folder in it, which they delete). A call that finds a
    checkpoint there resumes from it: after a crash, restart every worker
    with the same arguments, and training ends as it would have without the
    crash (tested: a worker killed with SIGKILL, the job restarted).
    ``checkpoint_dir`` must be a folder every worker can read (a shared file
    system on several machines) and belong to one training run.

    Parameters
    ----------
    model : keras.Model
        Built (called once or given an ``Input``) and created, with
        ``optimizer``, in ``strategy.scope()``.
    loss : callable
        ``loss(y_true, y_pred)``, one loss per sample, shape [b]: e.g. a
        Keras loss created with ``reduction=None``. Losses the model adds
        (``model.losses``) are added, scaled for the replicas.
    optimizer : keras.optimizers.Optimizer
        A ``keras.mixed_precision.LossScaleOptimizer`` under
        ``mixed_float16`` (its loss scaling is applied).
    batches : callable
        ``batches(step)`` for ``step`` = 0, 1, ...: the global batch of that
        step as a pair ``(x, y)`` of arrays with the same number of rows
        (at least one), the same on every worker (e.g. slices of data
        every worker loads, shuffled with a fixed seed). A function of the
        step, so that a resumed run sees the batches an uninterrupted one
        would.
    steps : int
        The number of steps of the whole training (a resumed call runs the
        remaining ones).
    strategy : tf.distribute.Strategy or None, default None
        None: the strategy whose scope the call is in
        (``tf.distribute.get_strategy()``; outside any, the current device).
    checkpoint_dir : str, os.PathLike or None, default None
        Where to save and look for checkpoints; None: no checkpoints.
    checkpoint_every : int, default 1
        Steps between checkpoints (the last step is always saved).

    Returns
    -------
    dict
        ``"initial_step"``: the step this call began at (that of the
        checkpoint it resumed from, else 0); ``"loss"``: the mean loss over
        the global batch of every step this call ran.

    Raises
    ------
    ValueError
        Naming the argument, for a bad argument, before anything changes.
    WorkerLostError
        When a worker dies or stops answering during a step, in every worker
        still running (TensorFlow's collective operations fail when a peer's
        connection breaks, and the strategy's health check, every 30 s,
        aborts them when a peer stops answering; a
        ``tf.distribute.experimental.CommunicationOptions(timeout_seconds=...)``
        given to the strategy bounds every collective's time). The process
        must then exit: TensorFlow's collectives cannot be used again in it.

    Notes
    -----
    ``Model.fit`` and this loop differ in what they show: there are no
    callbacks, metrics or progress bar here, and the ``skipped_inputs``
    metric of a SoftSOM layer adds up over the whole call instead of an
    epoch.
    """
    strategy = _check_arguments(model, loss, optimizer, batches, strategy)
    steps = check_positive_int("steps", steps)
    checkpoint_every = check_positive_int("checkpoint_every", checkpoint_every)
    if checkpoint_dir is not None and not isinstance(checkpoint_dir, (str, os.PathLike)):
        raise ValueError(f"checkpoint_dir must be None or a path; got {checkpoint_dir!r}")

    with strategy.scope():
        if not optimizer.built:
            optimizer.build(model.trainable_variables)
        step_variable = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    manager = None
    if checkpoint_dir is not None:
        manager, latest = _checkpoint_manager(model, optimizer, step_variable, os.fspath(checkpoint_dir), strategy)
        if latest is not None:
            tf.train.Checkpoint(model=model, optimizer=optimizer, step=step_variable).restore(
                latest
            ).assert_existing_objects_matched()
    initial_step = int(step_variable.numpy())
    saved_step = initial_step if manager is not None and initial_step > 0 else 0
    run_step = _distributed_step(model, loss, optimizer, strategy)
    losses = []
    for step in range(initial_step, steps):
        x, y = _global_batch(batches, step)
        try:
            value = run_step(_shares(strategy, x), _shares(strategy, y), tf.constant(len(x), tf.int64))
            losses.append(float(value.numpy()))
            step_variable.assign(step + 1)
            if manager is not None and ((step + 1) % checkpoint_every == 0 or step + 1 == steps):
                manager.save(checkpoint_number=step + 1)
                saved_step = step + 1
        except _LOST_WORKER_ERRORS as err:
            raise _worker_lost(err, step, saved_step, checkpoint_dir) from err
    if manager is not None:
        manager.cleanup()
    return {"initial_step": initial_step, "loss": losses}


# -- the pieces of train ----------------------------------------------------------------


def _check_arguments(model, loss, optimizer, batches, strategy):
    """Validate the objects ``train`` is given; return the strategy to use."""
    if not isinstance(model, keras.Model):
        raise ValueError(f"model must be a keras.Model; got {type(model).__name__}")
    if not model.built:
        raise ValueError("model must be built (give it an Input, or call it once) before training")
    if not callable(loss):
        raise ValueError(f"loss must be a callable loss(y_true, y_pred); got {loss!r}")
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        raise ValueError(f"optimizer must be a keras.optimizers.Optimizer; got {type(optimizer).__name__}")
    if not callable(batches):
        raise ValueError(f"batches must be a callable batches(step) -> (x, y); got {batches!r}")
    if strategy is None:
        return tf.distribute.get_strategy()
    if not isinstance(strategy, tf.distribute.Strategy):
        raise ValueError(f"strategy must be a tf.distribute.Strategy or None; got {strategy!r}")
    return strategy


def _global_batch(batches, step):
    """``batches(step)`` checked: a pair of arrays with the same, positive number of rows."""
    batch = batches(step)
    if not (isinstance(batch, tuple) and len(batch) == 2):
        raise ValueError(f"batches({step}) must return a pair (x, y); got {type(batch).__name__}")
    x, y = (np.asarray(part) for part in batch)
    if x.ndim == 0 or y.ndim == 0 or len(x) != len(y) or len(x) == 0:
        raise ValueError(
            f"batches({step}) must return x and y with the same number (>= 1) of rows; "
            f"got shapes {x.shape} and {y.shape}"
        )
    return x, y


def _shares(strategy, array):
    """Replica r's share of the rows of ``array``: the r-th part of ``np.array_split``."""

    def share(context):
        return tf.constant(np.array_split(array, context.num_replicas_in_sync)[context.replica_id_in_sync_group])

    return strategy.experimental_distribute_values_from_function(share)


def _distributed_step(model, loss, optimizer, strategy):
    """A ``tf.function`` running one training step on every replica; returns the global mean loss."""

    def replica_step(x, y, global_size):
        with tf.GradientTape() as tape:
            per_sample = loss(y, model(x, training=True))
            if per_sample.shape.rank != 1:
                raise ValueError(
                    f"loss must return one loss per sample, shape [b] (e.g. a Keras loss with reduction=None); "
                    f"got shape {per_sample.shape}"
                )
            value = tf.nn.compute_average_loss(per_sample, global_batch_size=global_size)
            if model.losses:
                value += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
            scaled = optimizer.scale_loss(value)
        variables = model.trainable_variables
        pairs = [(g, v) for g, v in zip(tape.gradient(scaled, variables), variables) if g is not None]
        if pairs:
            optimizer.apply_gradients(pairs)
        return value

    @tf.function(reduce_retracing=True)
    def step(x, y, global_size):
        per_replica = strategy.run(replica_step, args=(x, y, global_size))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    return step


def _task(strategy):
    """``(task_type, task_id)`` of this worker: ``(None, None)`` outside a multi-worker cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return None, None
    return resolver.task_type, resolver.task_id


def _checkpoint_manager(model, optimizer, step_variable, directory, strategy):
    """The worker's ``CheckpointManager`` and the latest checkpoint in ``directory`` (or None)."""
    task_type, task_id = _task(strategy)
    chief = task_type in (None, "chief") or (task_type == "worker" and task_id == 0 and not _has_chief(strategy))
    latest = tf.train.latest_checkpoint(directory) if os.path.isdir(directory) else None
    # Every worker saves (reading the variables may need all of them); only
    # the chief's copy is kept.
    write_to = directory if chief else os.path.join(directory, f".worker-{task_type}-{task_id}")
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step_variable)
    return _Manager(checkpoint, write_to, temporary=not chief), latest


def _has_chief(strategy):
    spec = strategy.cluster_resolver.cluster_spec().as_dict()
    return bool(spec.get("chief"))


class _Manager:
    """A ``tf.train.CheckpointManager`` whose folder is deleted at the end if it is a temporary one."""

    def __init__(self, checkpoint, directory, temporary):
        self.directory = directory
        self.temporary = temporary
        self.manager = tf.train.CheckpointManager(checkpoint, directory, max_to_keep=2)

    def save(self, checkpoint_number):
        self.manager.save(checkpoint_number=checkpoint_number)

    def cleanup(self):
        if self.temporary:
            shutil.rmtree(self.directory, ignore_errors=True)


def _worker_lost(err, step, saved_step, checkpoint_dir):
    """The :class:`WorkerLostError` for ``err`` raised by step ``step``."""
    # TensorFlow's message opens with "Graph execution error:"; the cause is further down.
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    causes = [line for line in lines if any(w in line.lower() for w in ("abort", "connection", "down", "unavailable"))]
    detail = (causes or lines or [type(err).__name__])[0]
    if checkpoint_dir is None:
        resume = (
            "No checkpoint_dir was given, so restarting the job begins again from step 0; "
            "pass checkpoint_dir to resume from the last checkpoint instead."
        )
    elif saved_step:
        resume = (
            f"Restart every worker with the same arguments: training resumes from step {saved_step}, "
            f"the last checkpoint in {checkpoint_dir}."
        )
    else:
        resume = f"No checkpoint was saved in {checkpoint_dir} yet: restarting every worker begins again from step 0."
    message = (
        f"training step {step} failed: a worker died or cannot be reached ({type(err).__name__}: {detail}). {resume}"
    )
    return WorkerLostError(message, step=step, resume_step=saved_step if checkpoint_dir is not None else 0)
