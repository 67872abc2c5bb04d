"""report.html in a real headless browser (Debian's chromium): every image loads, the KPI table is there.

The report itself has no scripts. The test loads a copy with one probe script added that,
once the page has loaded, writes each image's natural size into a data attribute of
<body>; chromium's --dump-dom then prints the DOM, probe results included.
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import chain_document, dump_yaml

from sim.engine.model import simulate
from sim.present.plots import PLOTS
from sim.results.write import write_results
from sim.scenario import load_scenario

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Debian's chromium for a real browser: apt-get install -y chromium")

PROBE = """<script>
window.addEventListener("load", () => {
  document.body.dataset.images = Array.from(document.images).map(i => i.naturalWidth + "x" + i.naturalHeight).join(" ");
  document.body.dataset.kpiRows = document.querySelectorAll("table#kpis tbody tr").length;
});
</script>"""


def open_in_browser(page: Path, tmp_path: Path) -> dict[str, str]:
    """Load `page` from disk in headless chromium; return the probe's findings from <body>."""
    probed = tmp_path / f"probed-{page.name}"
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    profile = tmp_path / "chromium-profile"
    profile.mkdir(exist_ok=True)
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
         f"--user-data-dir={profile}", "--dump-dom", probed.as_uri()],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", proc.stdout)
    assert body, proc.stdout[:2000]
    return dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body.group(1)))


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """report.html of a small softlock chain run."""
    out = tmp_path_factory.mktemp("results")
    path = out / "chain.yaml"
    path.write_text(dump_yaml(chain_document(protocol="softlock", duration="1d")))
    folder = write_results(simulate(load_scenario(path)), out, scenario_text=path.read_text())
    return folder / "report.html"


def test_every_image_loads_and_the_kpi_table_is_shown(report, tmp_path):
    found = open_in_browser(report, tmp_path)
    sizes = found["images"].split()
    assert len(sizes) == len(PLOTS)
    for size in sizes:
        width, height = map(int, size.split("x"))
        assert width >= 800 and height >= 300, sizes
    assert int(found["kpi-rows"]) >= 10


def test_the_probe_sees_a_broken_image(report, tmp_path):
    broken = tmp_path / "broken.html"
    broken.write_text(report.read_text().replace("data:image/png;base64,iVBOR", "data:image/png;base64,AAAA", 1))
    sizes = open_in_browser(broken, tmp_path)["images"].split()
    assert sizes[0] == "0x0" and sizes[1] != "0x0"
