"""report.html in a real browser (headless Chromium, Debian's `chromium-headless-shell` or
`chromium`): a screenshot of the first screen at 1280x900, no broken image, and the
verdict table within that first screen, before any chart.

What the checks prove: the layout probe runs inside Chromium on a copy of the page with
one added script and reads positions after the load event (the page itself has no
script); the screenshot's pixels show the verdict badges' colours painted in the first
screen (no chart is visible there: the verdict chart sits in a closed <details>).
Skipped only when no Chromium binary is installed."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bench.report import render, style
from tests.report_support import golden_run, png_size

BINARIES = ("chromium-headless-shell", "chromium", "chromium-browser")
WIDTH, HEIGHT = 1280, 900
BROWSER_TIMEOUT_S = 90

PROBE = """<script>
window.addEventListener("load", () => {
  const box = (el) => el ? el.getBoundingClientRect() : null;
  const images = [...document.images];
  const verdicts = document.querySelector("table.verdicts");
  const firstFigure = [...document.querySelectorAll("figure")].find((f) => !f.closest("details"));
  const out = {
    images: images.length,
    broken: images.filter((i) => !i.complete || i.naturalWidth === 0).map((i) => i.alt),
    viewport: [window.innerWidth, window.innerHeight],
    verdictTop: box(verdicts).top, verdictBottom: box(verdicts).bottom,
    firstTableIsVerdicts: document.querySelector("table") === verdicts,
    firstFigureTop: firstFigure ? box(firstFigure).top : null,
    horizontalScroll: document.documentElement.scrollWidth > window.innerWidth,
  };
  const pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


INSTALLED = [path for name in BINARIES if (path := shutil.which(name))]


@pytest.fixture(params=INSTALLED or [None], ids=lambda path: Path(path).name if path else "none")
def chromium(request) -> str:
    if request.param is None:
        pytest.skip("no Chromium binary installed (Debian: apt-get install chromium-headless-shell, or chromium); "
                    ".ci/run installs one")
    return request.param


def browse(chromium: str, page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    profile.mkdir(parents=True, exist_ok=True)
    command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}", "--hide-scrollbars", *args,
               page.resolve().as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=BROWSER_TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict[str, Path]:
    return render(golden_run(tmp_path_factory.mktemp("browser") / "run"))


def test_layout_in_chromium(chromium, report, tmp_path):
    page = report["report.html"]
    probe_page = page.with_name("report-probe.html")
    probe_page.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    dom = browse(chromium, probe_page, tmp_path / "profile", "--virtual-time-budget=10000", "--dump-dom").stdout
    match = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert match, "the probe did not run: " + dom[-500:]
    probe = json.loads(html.unescape(match.group(1)))
    charts = [name for name in report if name.startswith("charts/")]
    width, first_screen = probe["viewport"]  # `chromium` (new headless) keeps some window chrome: 757 of 900
    assert width == WIDTH and 600 <= first_screen <= HEIGHT, probe
    assert probe["images"] == len(charts) and probe["broken"] == []
    assert probe["firstTableIsVerdicts"]
    assert 0 <= probe["verdictTop"] < 200 and probe["verdictBottom"] <= first_screen, probe  # all of it, first screen
    assert probe["firstFigureTop"] > probe["verdictBottom"], probe  # charts come after the verdicts
    assert not probe["horizontalScroll"], probe


def test_screenshot_shows_the_verdicts(chromium, report, tmp_path):
    shot = tmp_path / "screenshot.png"
    browse(chromium, report["report.html"], tmp_path / "profile", f"--screenshot={shot}")
    data = shot.read_bytes()
    assert png_size(data) == (WIDTH, HEIGHT)
    shutil.copy(shot, report["report.html"].with_name("screenshot.png"))  # kept next to the report

    from PIL import Image

    with Image.open(shot) as image:
        pixels = image.convert("RGB")
        counts = {colour: n for n, colour in pixels.getcolors(WIDTH * HEIGHT)}
    assert len(counts) > 50, "a blank or nearly blank page"
    for verdict in ("confirmed", "refuted", "inconclusive"):  # the golden run has all three
        light = style.verdict_colours(verdict)[1]
        rgb = tuple(int(light[i:i + 2], 16) for i in (1, 3, 5))
        near = sum(n for colour, n in counts.items() if max(abs(a - b) for a, b in zip(colour, rgb)) <= 3)
        assert near >= 300, f"no {verdict} badge painted in the first screen"
