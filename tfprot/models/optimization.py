"""The default optimiser: AdamW with linear warm-up and linear decay, and gradient clipping.

Weight decay is not applied to biases and LayerNorm parameters (as in BERT and ESM fine-tuning).
The number of training steps is usually unknown when a model is built; the schedule then learns
it from ``fit`` (steps per epoch × epochs) through :class:`ScheduleSteps`, a callback that
:class:`tfprot.models.ProteinModel` adds on its own.
"""

from __future__ import annotations

import logging
import math

import tensorflow as tf

from tfprot._keras import keras

__all__ = [
    "FusedAdamW",
    "ScheduleSteps",
    "WarmupLinearDecay",
    "default_learning_rate",
    "make_optimizer",
    "warmup_schedule",
]

logger = logging.getLogger(__name__)
_keras = keras()

NO_DECAY = ("bias", "LayerNorm", "layer_norm", "layernorm", "beta", "gamma")
"""Variable-name fragments excluded from weight decay."""


@_keras.utils.register_keras_serializable(package="tfprot")
class WarmupLinearDecay(_keras.optimizers.schedules.LearningRateSchedule):
    """Rises linearly from 0 to ``peak`` over the warm-up, then falls linearly to ``end_fraction ×
    peak`` at ``total_steps``. With ``total_steps`` unset (0) it stays at ``peak`` after warm-up
    until :class:`ScheduleSteps` (or :meth:`set_total_steps`) sets it.

    >>> schedule = WarmupLinearDecay(1e-3, total_steps=100, warmup_fraction=0.1)
    >>> [round(float(schedule(step)), 6) for step in (0, 5, 10, 55, 100)]
    [0.0, 0.0005, 0.001, 0.0005, 0.0]
    """

    def __init__(
        self,
        peak: float,
        total_steps: int = 0,
        warmup_fraction: float = 0.06,
        end_fraction: float = 0.0,
    ):
        self.peak = float(peak)
        self.warmup_fraction = float(warmup_fraction)
        self.end_fraction = float(end_fraction)
        self.total_steps = tf.Variable(
            int(total_steps), trainable=False, dtype=tf.int64, name="total_steps"
        )

    def set_total_steps(self, steps: int) -> None:
        self.total_steps.assign(int(steps))

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        total = tf.cast(self.total_steps, tf.float32)
        warmup = tf.maximum(tf.math.ceil(total * self.warmup_fraction), 1.0)
        rising = self.peak * step / warmup
        progress = tf.clip_by_value((step - warmup) / tf.maximum(total - warmup, 1.0), 0.0, 1.0)
        falling = self.peak * (1.0 - (1.0 - self.end_fraction) * progress)
        scheduled = tf.where(step < warmup, rising, falling)
        return tf.where(total > 0, scheduled, tf.constant(self.peak))

    def get_config(self):
        return {
            "peak": self.peak,
            "total_steps": int(self.total_steps.numpy()),
            "warmup_fraction": self.warmup_fraction,
            "end_fraction": self.end_fraction,
        }


class ScheduleSteps(_keras.callbacks.Callback):
    """Sets an unset :class:`WarmupLinearDecay` to the length of the ``fit`` about to run."""

    def __init__(self, schedule: WarmupLinearDecay):
        super().__init__()
        self.schedule = schedule

    def on_train_begin(self, logs=None):
        if int(self.schedule.total_steps.numpy()) > 0:
            return
        steps, epochs = self.params.get("steps"), self.params.get("epochs")
        if steps and epochs:
            self.schedule.set_total_steps(steps * epochs)
            logger.info(
                "Learning rate: warm-up over %d steps to %.2g, linear decay to step %d.",
                max(1, math.ceil(steps * epochs * self.schedule.warmup_fraction)),
                self.schedule.peak,
                steps * epochs,
            )
        else:
            logger.warning(
                "The number of training steps is unknown, so the learning rate stays at %.2g after "
                "warm-up; pass steps_per_epoch to fit, or total_steps to the factory.",
                self.schedule.peak,
            )


@_keras.utils.register_keras_serializable(package="tfprot")
class FusedAdamW(_keras.optimizers.AdamW):
    """Keras' ``AdamW`` whose update of a dense gradient is one ``ResourceApplyAdam`` kernel.

    Keras' ``AdamW.update_step`` builds about ten element-wise ops per variable, each a pass over
    the variable's size; TensorFlow's fused kernel computes the same update in one pass:
    ``m ← m + (g − m)(1 − β₁)``, ``v ← v + (g² − v)(1 − β₂)``,
    ``θ ← θ − lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ) · m / (√v + ε)``. Weight decay, clipping, slots, schedule
    and checkpoints are Keras' own; sparse gradients and ``amsgrad`` take Keras' path.
    :attr:`schedule` is the learning-rate schedule it follows (Keras' ``learning_rate`` gives
    only the schedule's current value).

    >>> variable = tf.Variable([1.0, -2.0])
    >>> _ = FusedAdamW(learning_rate=0.1, weight_decay=0.0).apply_gradients(
    ...     [(tf.constant([0.5, -0.5]), variable)])
    >>> [round(float(x), 4) for x in variable.numpy()]  # first Adam step: θ − lr·sign(g)
    [0.9, -1.9]
    """

    @property
    def schedule(self):
        """The ``LearningRateSchedule`` the optimizer follows, or ``None`` for a constant rate.

        >>> type(make_optimizer(1e-3).schedule).__name__
        'WarmupLinearDecay'
        """
        rate = self._learning_rate  # Keras keeps the schedule itself here
        return rate if isinstance(rate, _keras.optimizers.schedules.LearningRateSchedule) else None

    def update_step(self, gradient, variable):
        if isinstance(gradient, tf.IndexedSlices) or self.amsgrad:
            return super().update_step(gradient, variable)
        dtype = variable.dtype
        index = self._index_dict[self._var_key(variable)]
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle,
            m=self._momentums[index].handle,
            v=self._velocities[index].handle,
            beta1_power=tf.pow(beta_1, step),
            beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(self.learning_rate, dtype),
            beta1=beta_1,
            beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype),
            grad=tf.cast(gradient, dtype),
            use_locking=False,
        )


def warmup_schedule(optimizer) -> WarmupLinearDecay | None:
    """The :class:`WarmupLinearDecay` a compiled model's optimizer follows (through the loss
    scaling of ``mixed_float16``), or ``None`` for any other optimizer or schedule.

    >>> warmup_schedule(make_optimizer(1e-3)).peak, warmup_schedule(None)
    (0.001, None)
    """
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # under loss scaling
    schedule = getattr(optimizer, "schedule", None)
    return schedule if isinstance(schedule, WarmupLinearDecay) else None


def build_optimizer_state(model) -> None:
    """Create a compiled model's optimizer variables (Adam's moments) now, before Keras traces
    its training step.

    Keras creates them lazily, in the first ``apply_gradients`` call, which runs inside the
    traced step; a ``tf.function`` whose first trace creates variables is traced a second time
    without them, so every ``fit`` paid for two traces of the whole training step (2.6 s of a
    tiny model's 8.5 s first ``fit`` on a 2-core AMD EPYC). Keras' own call does the same
    ``optimizer.build`` with the same variables; it returns at once when the optimizer is
    built. A model without variables yet (not built) or without an optimizer is left to Keras.

    >>> import tfprot
    >>> model = tfprot.sequence_classifier("tiny-esm", ["a", "b"], precision="float32")
    >>> build_optimizer_state(model)
    >>> len(model.optimizer.variables) == 1 + 2 * len(model.trainable_variables)
    True
    """
    optimizer = getattr(model, "optimizer", None)
    variables = model.trainable_variables
    if optimizer is None or not variables or not hasattr(optimizer, "build"):
        return
    with model.distribute_strategy.scope(), tf.init_scope():
        optimizer.build(variables)


def default_learning_rate(pretrained: bool) -> float:
    """5e-5 to fine-tune pretrained weights; 1e-3 for randomly initialised presets."""
    return 5e-5 if pretrained else 1e-3


def make_optimizer(
    learning_rate: float,
    *,
    weight_decay: float = 0.01,
    warmup_fraction: float = 0.06,
    total_steps: int = 0,
    clipnorm: float | None = 1.0,
):
    """AdamW (:class:`FusedAdamW`) on a :class:`WarmupLinearDecay` schedule, with global-norm
    clipping.

    Weight decay (decoupled, ``variable -= learning_rate × weight_decay × variable`` each step)
    applies to kernels and embeddings, not to variables whose name contains one of
    :data:`NO_DECAY` (biases, LayerNorm ``gamma``/``beta``). ``clipnorm`` clips the global norm
    of all gradients together (``None``: no clipping).

    >>> optimizer = make_optimizer(1e-3, total_steps=100)
    >>> type(optimizer).__name__, optimizer.global_clipnorm, float(optimizer.learning_rate)
    ('FusedAdamW', 1.0, 0.0)
    """
    schedule = WarmupLinearDecay(
        learning_rate, total_steps=total_steps, warmup_fraction=warmup_fraction
    )
    optimizer = FusedAdamW(
        learning_rate=schedule, weight_decay=weight_decay, global_clipnorm=clipnorm, epsilon=1e-8
    )
    optimizer.exclude_from_weight_decay(var_names=list(NO_DECAY))
    return optimizer
