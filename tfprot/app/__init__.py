"""tfprot.app: a web page where anyone pastes a protein and gets a trained model's answer (and,
with ESMFold, its predicted structure); the same app as a 🤗 Spaces folder.

Needs the app extra (``pip install "tfprot[app]"``: Gradio); Gradio is imported only when the
page is built, so ``import tfprot.app`` stays light.

>>> from tfprot.app import AppSettings, start  # doctest: +SKIP
>>> app = start("my_model/model", AppSettings(fold_model="tiny-esmfold"))  # doctest: +SKIP
>>> app.url  # doctest: +SKIP
'http://127.0.0.1:7860/'

Modules: :mod:`~tfprot.app.settings` (limits, folding), :mod:`~tfprot.app.inputs` (the text
box and uploads), :mod:`~tfprot.app.display` (predictions → what is shown, per task),
:mod:`~tfprot.app.colouring` (residues coloured by class), :mod:`~tfprot.app.structure`
(ESMFold and the 3D view), :mod:`~tfprot.app.service` (a request, without the page),
:mod:`~tfprot.app.blocks` (the page), :mod:`~tfprot.app.server` (launching it),
:mod:`~tfprot.app.space` (the Spaces folder).
"""

from tfprot.app.server import RunningApp, serve, start
from tfprot.app.service import Answer, Predictor
from tfprot.app.settings import AppSettings

__all__ = ["Answer", "AppSettings", "Predictor", "RunningApp", "serve", "start"]
