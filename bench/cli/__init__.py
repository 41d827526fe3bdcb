"""The `bench` command line: one entry point for every step (`python -m bench` too).

Commands only parse options, call and print: each lives in its own module here and works
through the Session (bench/session.py) the root command builds. Every user-facing fault
is a BenchError, printed as one line `bench: error: ...` with a non-zero exit; usage
mistakes exit 2. Printed DSNs are always masked.
"""

from __future__ import annotations

import os
import sys

import click

from bench.cli.all import run_all
from bench.cli.baseline import baseline_group
from bench.cli.calibrate import calibrate_cmd
from bench.cli.capacity import capacity_cmd, sizing_cmd
from bench.cli.db import db_group
from bench.cli.report import compare_cmd, export_cmd, report_cmd
from bench.cli.run import run_group
from bench.cli.schema import schema_group
from bench.cli.seed import seed_cmd
from bench.core import config
from bench.core import dsn as dsns
from bench.core.errors import BenchError
from bench.core.options import port_value
from bench.session import Session, consoles


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--dsn", metavar="DSN", help="Server to benchmark (or BENCH_DSN). Default: the embedded server.")
@click.option("--data-dir", metavar="PATH", help="Embedded server home (or BENCH_DATA_DIR). Default: .bench/")
@click.option("--port", type=str, metavar="N", callback=port_value,
              help="Embedded server TCP port (or BENCH_PORT). Default: 54329.")
@click.pass_context
def cli(ctx: click.Context, dsn: str | None, data_dir: str | None, port: str | None) -> None:
    """Benchmark PostgreSQL + pgvector schema variants and judge a review's claims."""
    ctx.obj = Session.start(config.resolve(dsn=dsn, data_dir=data_dir, port=port))


for _command in (db_group, schema_group, seed_cmd, run_group, run_all, report_cmd, compare_cmd, baseline_group,
                 export_cmd, calibrate_cmd, capacity_cmd, sizing_cmd):
    cli.add_command(_command)


def _err():
    return consoles()[1]


def _dsn_in(argv: list[str]) -> list[str]:
    """Every DSN on the command line or in the environment, to scrub them all from errors
    (a usage error may come before we know which one is used)."""
    given = [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == "--dsn"]
    given += [arg.split("=", 1)[1] for arg in argv if arg.startswith("--dsn=")]
    return given + [os.environ.get("BENCH_DSN", "")]  # redact() skips an empty one


EXIT_SIGNAL = {"SIGINT": 130, "SIGTERM": 143}  # 128 + the signal's number, as a shell reports it


def _terminated(_signum, _frame) -> None:
    """SIGTERM ends a run as Ctrl+C does: partial results saved, one line, no traceback."""
    from bench.judge.results import Interrupted

    raise Interrupted("SIGTERM")


def _interrupted(exc: BaseException) -> int:
    name = getattr(exc, "signal_name", "SIGINT")
    partial = getattr(exc, "partial", None)
    _err().print(f"bench: interrupted ({name})" + (f"; partial results in {partial}" if partial else ""),
              soft_wrap=True, markup=False, highlight=False)
    return EXIT_SIGNAL.get(name, 130)


def main(argv: list[str] | None = None) -> None:
    import signal

    from bench.judge.results import Stopped

    argv = list(sys.argv[1:] if argv is None else argv)
    secret_sources = _dsn_in(argv)
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        code = cli.main(args=argv, prog_name="bench", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else "usage: bench COMMAND", err=True)
        code = 2
    except click.UsageError as exc:
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
        _err().print(f"bench: error: {dsns.redact(exc.format_message(), *secret_sources)}{hint}", soft_wrap=True, markup=False)
        code = 2
    except BenchError as exc:
        _err().print(f"bench: error: {dsns.redact(str(exc), *secret_sources)}", soft_wrap=True, markup=False)
        code = exc.exit_code
    except Stopped as exc:
        code = _interrupted(exc)
    except click.Abort as exc:  # click turns KeyboardInterrupt into Abort: the cause says which signal
        code = _interrupted(exc.__cause__ or exc)
    except KeyboardInterrupt as exc:
        code = _interrupted(exc)
    finally:
        signal.signal(signal.SIGTERM, previous)
    sys.exit(code if isinstance(code, int) else 0)




if __name__ == "__main__":
    main()
