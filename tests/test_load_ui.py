"""`bench run load --ui` for real: the CLI starts Locust's web UI against the test server,
headless Chromium renders it (Debian's `chromium-headless-shell` or `chromium`; skipped
only where none is installed, .ci/run installs one). The UI must start without Locust's
"no host attribute set" notice and show the variant and the masked target it drives.

The target given here is a pooler DSN with a password (`--pooler-dsn`) that reaches the
test server itself over TCP, where the superuser is trusted: the password is ignored by
the server, so the UI really runs, and it must never be shown."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest

from tests.conftest import free_port, interruptible
from tests.report_support import png_size
from tests.test_report_browser import BROWSER_TIMEOUT_S, HEIGHT, INSTALLED, WIDTH

NOTICE = "no host attribute set"
SECRET = "ui-S3cret-pw"


@pytest.fixture
def chromium() -> str:
    if not INSTALLED:
        pytest.skip("no Chromium binary installed (Debian: apt-get install chromium-headless-shell, or chromium); "
                    ".ci/run installs one")
    return INSTALLED[0]


def browse(chromium: str, url: str, profile: Path, *args: str) -> str:
    """Headless Chromium on a live URL (the flags of tests/test_report_browser.py)."""
    profile.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                           "--no-first-run", "--disable-background-networking", "--disable-component-update",
                           "--disable-sync", f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}",
                           "--hide-scrollbars", "--virtual-time-budget=8000", *args, url],
                          capture_output=True, text=True, timeout=BROWSER_TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def wait_for(url: str, process: subprocess.Popen, seconds: float = 90) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, f"bench run load --ui exited with {process.returncode}"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read().decode()
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {seconds} s")


@pytest.mark.timeout(240)
def test_the_web_ui_starts_clean_and_shows_the_variant_and_the_masked_target(
        chromium, shared_tiny_dsn, tmp_path):
    params = psycopg.conninfo.conninfo_to_dict(shared_tiny_dsn)
    pooler_dsn = (f"host=127.0.0.1 port={params['port']} dbname={params['dbname']} user=postgres "
                  f"password={SECRET}")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BENCH_")}
    env.update(BENCH_DATA_DIR=str(tmp_path / "home"), BENCH_REPORTS_DIR=str(tmp_path / "reports"),
               TMPDIR=str(tmp_path))
    process = subprocess.Popen([sys.executable, "-m", "bench", "--dsn", shared_tiny_dsn, "run", "load", "--ui",
                                "--only", "hardened", "--web-port", str(port), "--pooler-dsn", pooler_dsn],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                               cwd=Path(__file__).parent.parent, preexec_fn=interruptible)
    try:
        page = wait_for(f"http://127.0.0.1:{port}/", process)
        # Locust's own template arguments: a Host is set, so no missing-host warning
        assert re.search(r'"missing_host_warning":\s*false', page), page[:2000]
        dom = browse(chromium, f"http://127.0.0.1:{port}/", tmp_path / "profile", "--dump-dom")
        shot = tmp_path / "locust-ui.png"
        browse(chromium, f"http://127.0.0.1:{port}/", tmp_path / "profile", f"--screenshot={shot}")
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    assert NOTICE not in dom and NOTICE not in page
    assert "hardened (through your pooler) @ host=127.0.0.1" in dom and "password=****" in dom, dom[-3000:]
    assert SECRET not in dom + page + out + err
    assert "variant hardened" in out and "password=****" in out
    assert png_size(shot.read_bytes()) == (WIDTH, HEIGHT)
    from PIL import Image

    with Image.open(shot) as image:
        assert len(image.convert("RGB").getcolors(WIDTH * HEIGHT)) > 50, "a blank page"
    logs = list(tmp_path.glob("bench-load-ui*.log"))
    assert logs and all(SECRET not in log.read_text() for log in logs)
    assert process.returncode in (0, 130), err[-2000:]
