"""report.html: one self-contained page; rendered in headless Chromium when it is installed."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from somacore.cli import main


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "demo"
    assert main(["demo", "--out", str(out), "--quiet"]) == 0
    return out


def test_report_is_self_contained(demo_out):
    html = (demo_out / "report.html").read_text()
    summary = json.loads((demo_out / "summary.json").read_text())
    imgs = re.findall(r'<img alt="([^"]*)" src="data:image/png;base64,([^"]+)"', html)
    # per person: excerpt + rates; per pair: heat map / peak r / leader
    n_expected = 2 * len(summary["people"]) + sum(p.get("n_windows") is not None
                                                   for p in summary["pairs"])
    assert len(imgs) == n_expected == 5
    assert html.count("<img") == len(imgs)
    for alt, b64 in imgs:
        png = base64.b64decode(b64, validate=True)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000, alt
    # nothing fetched from the network or another file
    assert not re.search(r"(src|href)\s*=\s*[\"'](?!data:|#)", html)
    assert "http://" not in html and "https://" not in html and "<link" not in html
    assert "<script" not in html
    # summary table on top, parameters and version at the bottom
    assert html.index("id='summary'") < html.index("id='person-A'") < html.index(
        "id='pair-A-B-heart_rate'") < html.index("id='parameters'")
    assert f"somacore {summary['software']['version']}" in html[html.index("id='parameters'"):]
    assert "SIMULATED" in html and "MIT-BIH" in html


def test_matplotlib_state_untouched(demo_out):
    # the report draws on its own Agg canvases: no pyplot figures are left open
    import sys

    if "matplotlib.pyplot" in sys.modules:
        import matplotlib.pyplot as plt

        assert plt.get_fignums() == []


@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="headless browser check needs chromium (apt-get install chromium)")
def test_report_renders_in_headless_chromium(demo_out, tmp_path):
    chromium = shutil.which("chromium")
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
             "--v=0"]
    report = demo_out / "report.html"
    shot = tmp_path / "shot.png"
    r = subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1100,2000",
                        report.as_uri()], capture_output=True, text=True, timeout=60)
    assert ":CONSOLE" not in r.stderr, r.stderr      # no console error or message at all
    assert shot.stat().st_size > 50_000
    # a copy of the page with a probe that reports, after load, whether every <img> decoded
    probe = ("<div id='probe'>pending</div><script>window.addEventListener('load',function(){"
             "var bad=[],im=document.images;for(var i=0;i<im.length;i++){if(!(im[i].complete&&"
             "im[i].naturalWidth>200&&im[i].naturalHeight>100))bad.push(i)}"
             "document.getElementById('probe').textContent='images='+im.length+' bad='+bad.length"
             "});</script>")
    page = tmp_path / "probe.html"
    page.write_text(report.read_text().replace("</body>", probe + "</body>"))
    r = subprocess.run([*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                       timeout=60)
    assert "images=5 bad=0" in r.stdout
    assert ":CONSOLE" not in r.stderr, r.stderr
