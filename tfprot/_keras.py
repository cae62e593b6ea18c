"""Make Keras 2 (``tf_keras``) the Keras in use, before TensorFlow resolves ``tf.keras``.

transformers' TensorFlow models are written for the Keras 2 API. Since TensorFlow 2.16 ``tf.keras``
is Keras 3 unless ``TF_USE_LEGACY_KERAS=1`` is set *before* ``tf.keras`` is first touched; a
mixed-precision policy set through a Keras 3 ``tf.keras`` is then silently ignored by the models.
Importing :mod:`tfprot` sets the variable (cheaply: TensorFlow itself is not imported here), and
tfprot code imports ``tf_keras`` explicitly through :func:`keras`.
"""

from __future__ import annotations

import os
import sys
import warnings

LEGACY_KERAS_VARIABLE = "TF_USE_LEGACY_KERAS"


def use_legacy_keras() -> None:
    """Select Keras 2 for ``tf.keras``; warn if Keras 3 was already resolved or requested.

    >>> use_legacy_keras()
    >>> import os; os.environ["TF_USE_LEGACY_KERAS"]
    '1'
    """
    requested = os.environ.get(LEGACY_KERAS_VARIABLE)
    if requested not in (None, "1", "true", "True"):
        warnings.warn(
            f"{LEGACY_KERAS_VARIABLE}={requested!r} asks for Keras 3, but transformers' TensorFlow "
            "models need Keras 2: tfprot sets it to '1'. Unset it to silence this warning.",
            stacklevel=3,
        )
    os.environ[LEGACY_KERAS_VARIABLE] = "1"
    if _tf_keras_already_keras3():
        warnings.warn(
            "tf.keras was resolved to Keras 3 before tfprot was imported, so a precision policy or "
            "model built through tf.keras will not reach transformers' models. tfprot itself uses "
            "tf_keras and is unaffected; import tfprot (or set TF_USE_LEGACY_KERAS=1) before "
            "touching tf.keras to make both agree.",
            stacklevel=3,
        )


def _tf_keras_already_keras3() -> bool:
    """True when TensorFlow is imported and its lazy ``tf.keras`` already points at Keras 3."""
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return False
    # Until first used, ``tf.keras`` is a KerasLazyLoader; once used, TensorFlow replaces it with
    # the module it chose. Reading ``tf.__dict__`` does not trigger that choice.
    current = tf.__dict__.get("keras")
    if current is None or type(current).__name__ == "KerasLazyLoader":
        return False
    return not getattr(current, "__name__", "").startswith("tf_keras")


def keras():
    """Return the Keras 2 module (``tf_keras``) that transformers' TF models are built on.

    >>> keras().__name__
    'tf_keras'
    """
    use_legacy_keras()
    import tf_keras

    return tf_keras
