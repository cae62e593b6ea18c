"""A self-contained HTML page showing a structure in 3D, coloured by pLDDT, that works offline.

The viewer is 3Dmol.js 2.5.5 (BSD-3-Clause), shipped in ``tfprot/fold/_viewer/`` and inlined in
each page (about 540 kB a page); ``viewer_js`` may instead point at a local copy, which the page
then references by a relative path. No page ever loads anything from the internet.

>>> page = structure_html("ATOM ...", title="P1", viewer_js="3Dmol-min.js")
>>> '<script src="3Dmol-min.js">' in page, "http" in page.replace("http-equiv", "")
(True, False)
"""

from __future__ import annotations

import html
import json
from importlib import resources
from pathlib import Path

__all__ = ["VIEWER_JS", "structure_html", "viewer_script"]

VIEWER_JS = "3Dmol-min.js"
"""File name of the bundled viewer in ``tfprot/fold/_viewer/``."""


def viewer_script() -> str:
    """The bundled 3Dmol.js source."""
    return (resources.files("tfprot.fold") / "_viewer" / VIEWER_JS).read_text(encoding="utf-8")


def structure_html(
    pdb_text: str,
    *,
    title: str,
    subtitle: str = "",
    warning: str = "",
    viewer_js: str | None = None,
) -> str:
    """The HTML page for one structure.

    Args:
        pdb_text: the PDB file (pLDDT in the B-factor column).
        title, subtitle: shown above the viewer (escaped).
        warning: shown in red (e.g. that the model is untrained).
        viewer_js: ``None`` inlines the bundled 3Dmol.js; otherwise the relative path of a local
            copy to reference.
    """
    if viewer_js is None:
        script = "<script>" + viewer_script().replace("</script", "<\\/script") + "</script>"
    else:
        script = f'<script src="{html.escape(Path(viewer_js).as_posix())}"></script>'
    data = json.dumps(pdb_text).replace("</", "<\\/")
    warning_html = f'<p class="warning">{html.escape(warning)}</p>' if warning else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'self' 'unsafe-inline'">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 1em; }}
#viewer {{ width: 100%; height: 70vh; position: relative; border: 1px solid #ccc; }}
.warning {{ color: #b00020; font-weight: bold; }}
.legend span {{ display: inline-block; padding: 0 0.6em; margin-right: 0.3em; }}
</style>
{script}
</head>
<body>
<h2>{html.escape(title)}</h2>
<p>{html.escape(subtitle)}</p>
{warning_html}
<p class="legend">pLDDT:
<span style="background:#0053d6;color:white">&gt; 90</span>
<span style="background:#65cbf3">70-90</span>
<span style="background:#ffdb13">50-70</span>
<span style="background:#ff7d45">&lt; 50</span></p>
<div id="viewer"></div>
<script>
const pdb = {data};
const viewer = $3Dmol.createViewer(document.getElementById("viewer"), {{backgroundColor: "white"}});
viewer.addModel(pdb, "pdb");
const colour = function (atom) {{
  if (atom.b > 90) return "#0053d6";
  if (atom.b > 70) return "#65cbf3";
  if (atom.b > 50) return "#ffdb13";
  return "#ff7d45";
}};
viewer.setStyle({{}}, {{cartoon: {{colorfunc: colour}}}});
viewer.zoomTo();
viewer.render();
</script>
</body>
</html>
"""
