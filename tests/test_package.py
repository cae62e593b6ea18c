"""What `import tfprot` does (and does not do), checked in fresh interpreters."""

import subprocess
import sys
import textwrap

import tfprot


def run_python(code: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    import os

    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_import_is_silent_and_imports_neither_torch_nor_tensorflow():
    result = run_python(
        """
        import sys
        import tfprot
        heavy = [name for name in ("torch", "tensorflow", "transformers") if name in sys.modules]
        assert not heavy, heavy
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""


def test_import_makes_tf_keras_keras_2_so_a_precision_policy_reaches_tf_keras():
    result = run_python(
        """
        import tfprot
        import tensorflow as tf
        import tf_keras
        assert tf.keras.__name__.startswith("tf_keras"), tf.keras.__name__
        tf.keras.mixed_precision.set_global_policy("mixed_bfloat16")
        assert tf_keras.mixed_precision.global_policy().name == "mixed_bfloat16"
        import transformers
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_warns_when_tf_keras_was_already_keras_3():
    result = run_python(
        """
        import warnings
        import tensorflow as tf
        tf.keras.layers  # resolves tf.keras to Keras 3
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            import tfprot
        assert any("resolved to Keras 3" in str(w.message) for w in caught), [str(w.message) for w in caught]
        print("warned")
        """
    )
    assert result.returncode == 0, result.stderr
    assert "warned" in result.stdout


def test_an_explicit_request_for_keras_3_is_overridden_with_a_warning():
    result = run_python(
        """
        import os, warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            import tfprot
        assert os.environ["TF_USE_LEGACY_KERAS"] == "1"
        assert any("asks for Keras 3" in str(w.message) for w in caught)
        """,
        {"TF_USE_LEGACY_KERAS": "0"},
    )
    assert result.returncode == 0, result.stderr


def test_public_api_is_listed():
    for name in tfprot.__all__:
        assert hasattr(tfprot, name), name
    assert issubclass(tfprot.InvalidSequenceError, tfprot.TfprotError)


def test_every_public_name_resolves_and_the_model_api_loads_on_first_use():
    result = run_python(
        """
        import sys
        import tfprot
        assert "tfprot.models" not in sys.modules
        missing = [name for name in tfprot.__all__ if not hasattr(tfprot, name)]
        assert not missing, missing
        from tfprot.models.factories import sequence_classifier
        assert tfprot.sequence_classifier is sequence_classifier
        try:
            tfprot.no_such_name
        except AttributeError as error:
            assert "no_such_name" in str(error)
        else:
            raise AssertionError("expected AttributeError")
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_the_version_is_written_once_in_setup_cfg(monkeypatch):
    """``tfprot.__version__`` is the package metadata's, and a source tree without metadata reads
    setup.cfg: no second copy of the number to forget."""
    import re
    from importlib import metadata
    from pathlib import Path

    from tfprot import _version

    setup_cfg = (Path(tfprot.__file__).parent.parent / "setup.cfg").read_text()
    written = re.search(r"^version = (\S+)$", setup_cfg, re.MULTILINE).group(1)
    assert tfprot.__version__ == metadata.version("tfprot") == written

    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(_version.metadata, "version", not_installed)
    assert _version.version() == written
    for path in (Path(tfprot.__file__).parent).rglob("*.py"):
        assert not re.search(r"^__version__ = \"", path.read_text(), re.MULTILINE), path
