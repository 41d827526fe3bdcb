"""The one exception type the CLI turns into a one-line message and a non-zero exit.

Raise `BenchError("what went wrong; what to do")` for any fault a user can cause or fix
(bad input, unreachable server, missing extension). Anything else is a bug and keeps its
traceback.
"""


class BenchError(Exception):
    """A user-facing fault: printed as one line, exit code `exit_code`."""

    exit_code = 1

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class UsageError(BenchError):
    """A bad option value or a missing confirmation: exit 2, as click's own usage errors.

    Raise it before any server is started or any data is touched."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=2)


class ConnectionLost(Exception):
    """The server closed a runner connection (crash, shutdown, pg_terminate_backend):
    no later request on it can succeed, so the run stops instead of counting errors."""
