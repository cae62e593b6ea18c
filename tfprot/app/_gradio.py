"""The one door to Gradio: imported lazily, with an error that names the extra to install."""

from __future__ import annotations

from types import ModuleType

from tfprot.errors import MissingDependencyError

__all__ = ["INSTALL_HINT", "import_gradio"]

INSTALL_HINT = 'pip install "tfprot[app]"'


def import_gradio() -> ModuleType:
    """Import and return gradio, or raise :class:`MissingDependencyError` naming the extra."""
    try:
        import gradio
    except ImportError as error:
        raise MissingDependencyError(
            f"The web app needs Gradio, which is not installed. Install the app extra: "
            f"{INSTALL_HINT}"
        ) from error
    return gradio
