"""Process and filesystem faults: a seed stopped mid-load (SIGTERM, kill -9), two seeds at
once, outputs that cannot be written, a data dir that cannot hold a cluster. Each ends in
one line and a defined exit code, leaves no process or connection behind, and loses no
data or figures. Real server, real processes, real filesystems (read-only tmpfs as root,
where chmod 0555 does not stop writes)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import psycopg
import pytest

from bench.core.errors import BenchError
from bench.judge import results
from seed import checks, loader
from seed.config import make_config
from seed.plan import Plan
from seed.run import SEED_LOCK
from seed.tables import TABLES
from tests.conftest import TEST_KEY, free_port, interruptible

pytestmark = pytest.mark.faults  # issue 14's fault-injection suite: `pytest -m faults`

ROOT = Path(__file__).parent.parent
SEED = ("seed", "--scale", "tiny", "--workers", "2", "--anchor", "2026-11-01")
VARIANTS = ("baseline", "review", "hardened")
IS_ROOT = os.geteuid() == 0


# ---- helpers ---------------------------------------------------------------------------
def _env(dsn: str | None = None, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BENCH_")}
    env["BENCH_ENCRYPTION_KEY"] = TEST_KEY  # the same ciphertext as the fixtures' seed
    if dsn:
        env["BENCH_DSN"] = dsn
    return {**env, **extra}


def _start_seed(dsn: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bench", *SEED], env=_env(dsn), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=interruptible)


def _wait_for(what: str, check, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _chunks_loaded(conn: psycopg.Connection) -> int:
    if not conn.execute("SELECT to_regclass('bench_meta.seed_progress')").fetchone()[0]:
        return 0
    return conn.execute("SELECT count(*) FROM bench_meta.seed_progress").fetchone()[0]


def _other_connections(conn: psycopg.Connection) -> list[int]:
    """Backends on this test's database other than `conn`'s own."""
    return [pid for (pid,) in conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]


def _alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    living = []
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                living.append(process)
    return living


def _error_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr
    return [line for line in stderr.splitlines() if line.startswith("bench:")]


def assert_one_line_error(done, *, says: str, code: int = 1) -> None:
    assert done.returncode == code, (done.returncode, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("bench: error: ") and says in lines[0], done.stderr


@contextlib.contextmanager
def read_only_dir(tmp_path: Path, fill=None):
    """A directory that refuses writes, `fill(directory)` having written into it first: a
    read-only tmpfs as root (root writes through any mode), chmod 0555 otherwise."""
    directory = tmp_path / "read-only"
    directory.mkdir()
    if not IS_ROOT:
        if fill:
            fill(directory)
        directory.chmod(0o555)
        try:
            yield directory
        finally:
            directory.chmod(0o755)
        return
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(directory)],
                      capture_output=True).returncode != 0:
        pytest.skip("root without the right to mount: no way to make a directory root cannot write")
    try:
        if fill:
            fill(directory)
        subprocess.run(["mount", "-o", "remount,ro", str(directory)], check=True)
        yield directory
    finally:
        subprocess.run(["umount", str(directory)], check=True)


def _results_file(directory: Path) -> None:
    shutil.copy(ROOT / "tests" / "fixtures" / "golden_small" / results.FILE_NAME, directory / results.FILE_NAME)


# ---- a seed stopped mid-load -----------------------------------------------------------
@pytest.mark.timeout(240)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=["SIGTERM", "SIGINT", "kill-9"])
def test_stopped_seed_leaves_no_worker_nor_connection_and_resumes(db, db_dsn, shared_tiny_dsn, run_bench, signum):
    seeder = _start_seed(db_dsn)
    _wait_for("the seed to load its first chunk", lambda: _chunks_loaded(db))
    workers = psutil.Process(seeder.pid).children(recursive=True)
    assert len(workers) >= 2, workers  # the pool's two workers (and spawn's resource tracker)
    seeder.send_signal(signum)
    _out, stderr = seeder.communicate(timeout=60)
    if signum != signal.SIGKILL:  # exit 128 + signal, as a shell reports it, with one line
        assert seeder.returncode == 128 + signum, stderr
        assert _error_lines(stderr) == [stderr.strip().splitlines()[-1]], stderr  # one line, the last
        assert f"stopped by {signum.name}" in stderr and "--resume" in stderr
    else:
        assert seeder.returncode == -signal.SIGKILL
    _wait_for("the seed's workers to exit", lambda: not _alive(workers), timeout=10)
    _wait_for("the seed's connections to close", lambda: not _other_connections(db), timeout=10)
    assert 0 < _chunks_loaded(db), "the chunks committed before the stop are kept"

    resumed = run_bench(*SEED, "--resume", env=_env(db_dsn))
    assert resumed.returncode == 0, resumed.stderr
    with psycopg.connect(shared_tiny_dsn, autocommit=True) as whole:
        for variant in VARIANTS:  # the same rows as a seed never stopped: none lost, none twice
            assert checks.checksums(db, variant) == checks.checksums(whole, variant), variant


@pytest.mark.timeout(180)
def test_a_second_seed_on_the_same_database_is_refused(db, db_dsn, run_bench):
    first = _start_seed(db_dsn)
    holder = _wait_for("the first seed's lock", lambda: db.execute(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid::bigint = %s "
        "AND objid::bigint = %s AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        SEED_LOCK).fetchone())
    second = run_bench(*SEED, env=_env(db_dsn))
    name = db.execute("SELECT current_database()").fetchone()[0]
    assert_one_line_error(second, says=f"another bench seed is running on {name} (pid {holder[0]})")
    _out, stderr = first.communicate(timeout=150)
    assert first.returncode == 0, stderr  # the first seed is not disturbed


# ---- disk space on resume --------------------------------------------------------------
def test_resume_after_post_data_counts_only_index_space(db, tmp_path):
    """Rows already loaded are on disk (the free space excludes them): a resume after a
    full disk in post-data needs only the indexes and their build's temporary files."""
    free = shutil.disk_usage(tmp_path).free
    documents = int(free / 3 / loader._row_bytes(make_config("tiny"), "documents"))  # 3 variants ~ all free space
    config = make_config("tiny", (f"documents={documents}",), anchor="2026-11-01")
    plan = Plan(config.seed, config.counts)
    loader.prepare(db, config, resume=False)
    tables = {v: set(TABLES) for v in VARIANTS}
    fresh = loader.remaining_bytes(config, plan, loader.pending_chunks(db, plan, list(VARIANTS), tables, resume=False),
                                   tables)
    after_load = loader.remaining_bytes(config, plan, [], tables)
    assert loader.remaining_bytes(config, plan, [], {}) == 0
    with pytest.raises(BenchError, match="needs about"):
        loader.check_disk(tmp_path, fresh, config.scale)
    loader.check_disk(tmp_path, after_load, config.scale)  # refused before: it counted the loaded rows again
    assert after_load < fresh / 2


# ---- outputs that cannot be written ----------------------------------------------------
MEASURE = ("run", "latency", "--rounds", "1", "--requests", "1", "--warmup", "0", "--scenario", "audit_lookup")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("flag", ["--out", "--run-dir"])
def test_unwritable_output_is_refused_before_measuring(shared_tiny_dsn, run_bench, tmp_path, flag):
    with read_only_dir(tmp_path, fill=_results_file if flag == "--run-dir" else None) as directory:
        target = directory / "runs" if flag == "--out" else directory
        done = run_bench(*MEASURE, flag, str(target), env=_env(shared_tiny_dsn))
        # One line and nothing else: a measurement would have printed its batches first.
        assert_one_line_error(done, says="is not writable")
        assert not (tmp_path / "reports").exists()


@pytest.mark.timeout(60)
def test_output_under_a_file_is_refused(shared_tiny_dsn, run_bench, tmp_path):
    (tmp_path / "file").write_text("not a directory")
    done = run_bench(*MEASURE, "--out", str(tmp_path / "file" / "sub"), env=_env(shared_tiny_dsn))
    assert_one_line_error(done, says=f"{tmp_path / 'file'} is not a directory")


@pytest.mark.timeout(120)
def test_report_into_a_read_only_directory_is_refused(run_bench, tmp_path):
    with read_only_dir(tmp_path, fill=_results_file) as directory:
        done = run_bench("report", str(directory))
        assert_one_line_error(done, says="is not writable")
        assert sorted(p.name for p in directory.iterdir()) == [results.FILE_NAME]


# ---- data dirs that cannot hold a cluster ----------------------------------------------
@pytest.mark.timeout(60)
@pytest.mark.parametrize("where, says", [("file", "exists and is not a directory"),
                                         ("file/sub", "file is not a directory")])
def test_data_dir_that_is_a_file_is_refused(run_bench, tmp_path, where, says):
    (tmp_path / "file").write_text("not a directory")
    done = run_bench("db", "start", env={"BENCH_DATA_DIR": str(tmp_path / where), "BENCH_PORT": str(free_port())})
    assert_one_line_error(done, says=says)


@pytest.mark.timeout(60)
def test_data_dir_on_a_read_only_filesystem_is_refused(run_bench, tmp_path):
    with read_only_dir(tmp_path) as directory:
        done = run_bench("db", "start", env={"BENCH_DATA_DIR": str(directory / "home"),
                                             "BENCH_PORT": str(free_port())})
        assert_one_line_error(done, says="is not writable")


@pytest.mark.timeout(60)
@pytest.mark.skipif(not IS_ROOT, reason="only root runs the server as another user")
def test_root_never_opens_the_parents_of_the_data_dir(run_bench):
    base = Path(tempfile.mkdtemp(prefix="bench-faults-"))  # under /tmp: pytest's own tmp dirs are 0700
    try:
        base.chmod(0o755)
        closed = base / "closed"
        closed.mkdir()
        closed.chmod(0o700)
        done = run_bench("db", "start", env={"BENCH_DATA_DIR": str(closed / "home"), "BENCH_PORT": str(free_port())})
        assert_one_line_error(done, says=f"{closed} is mode 0700")
        assert closed.stat().st_mode & 0o777 == 0o700  # the package's helper made it 0755
    finally:
        shutil.rmtree(base)
