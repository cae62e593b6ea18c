"""Start the app: load the model once, build the page, serve it on one address.

The page asks no host but its own: system fonts (no web fonts), Gradio's analytics off, no
server-side rendering (no Node), 3Dmol.js served by the app itself (:mod:`tfprot.app.structure`).
It binds ``127.0.0.1`` unless told otherwise (:func:`start`); with ``host=None`` Gradio's
``GRADIO_SERVER_NAME`` decides, as on 🤗 Spaces (``0.0.0.0`` there).
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from typing import Any

from tfprot.app._gradio import import_gradio
from tfprot.app.blocks import build_blocks
from tfprot.app.service import Predictor
from tfprot.app.settings import AppSettings
from tfprot.app.structure import viewer_folder
from tfprot.errors import OptionError

__all__ = ["CSS", "RunningApp", "serve", "start", "theme"]

SYSTEM_FONTS = ("system-ui", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif")
MONOSPACE_FONTS = ("ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace")

CSS = """
.tfprot-banner { background: #fff4e5; border: 2px solid #d55e00; border-radius: 6px;
                 padding: 0.6em 1em; color: #7a2e00; }
.tfprot-banner p { margin: 0.3em 0; }
#message, #message p { color: #b00020; }
"""


def theme() -> Any:
    """Gradio's default theme with the system's fonts: nothing fetched from a font host."""
    gr = import_gradio()
    return gr.themes.Default(font=list(SYSTEM_FONTS), font_mono=list(MONOSPACE_FONTS))


@dataclass
class RunningApp:
    """A started app: its URL, the Gradio ``Blocks`` and the :class:`Predictor`."""

    url: str
    blocks: Any
    predictor: Predictor

    def wait(self) -> None:
        """Serve until interrupted (Ctrl+C), then stop."""
        try:
            while True:
                time.sleep(0.5)
        finally:
            self.close()

    def close(self) -> None:
        """Stop the server and remove the request folders."""
        self.blocks.close(verbose=False)
        self.predictor.close()


def start(
    model_dir: str | os.PathLike,
    settings: AppSettings | None = None,
    *,
    host: str | None = "127.0.0.1",
    port: int | None = 7860,
) -> RunningApp:
    """Load the model (and ESMFold when ``settings.fold_model`` is set) and serve the page on
    ``host:port`` in a background thread.

    Args:
        model_dir: a folder written by ``tfprot train`` or ``save_pretrained``.
        settings: limits and folding.
        host: the address to bind (``None``: ``$GRADIO_SERVER_NAME``, else ``127.0.0.1``).
        port: the port (``None``: ``$GRADIO_SERVER_PORT``, else the first free one from 7860).

    Raises:
        OptionError: the port is taken.
        CheckpointError: not a tfprot model folder.
        MissingDependencyError: Gradio (``tfprot[app]``) or, for folding, torch missing.
    """
    import_gradio()
    if port is not None:
        _check_free(host or os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), port)
    predictor = Predictor(model_dir, settings)
    blocks = build_blocks(predictor)
    _, url, _ = blocks.launch(
        server_name=host,
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        share=False,
        inbrowser=False,
        show_error=False,
        allowed_paths=[str(viewer_folder())],
        footer_links=["api"],
        ssr_mode=False,
        pwa=False,
        mcp_server=False,
        enable_monitoring=False,
        theme=theme(),
        css=CSS,
    )
    return RunningApp(url=url, blocks=blocks, predictor=predictor)


def serve(
    model_dir: str | os.PathLike,
    settings: AppSettings | None = None,
    *,
    host: str | None = None,
    port: int | None = None,
) -> None:
    """:func:`start` and serve until interrupted (what a Space's ``app.py`` calls)."""
    start(model_dir, settings, host=host, port=port).wait()


def _check_free(host: str, port: int) -> None:
    """Refuse a port that something already listens on, in one line."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
        try:
            probe.bind((host, port))
        except OSError as error:
            raise OptionError(
                f"Cannot serve on {host}:{port} ({error.strerror or error}); pass another "
                "--port, or stop what uses it."
            ) from None
