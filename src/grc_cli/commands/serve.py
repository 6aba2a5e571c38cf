"""``grc serve``: the HTTP API (``pip install 'grc-exchanges[server]'``).

FastAPI and uvicorn are imported only when the command runs, so ``grc`` works without
the ``[server]`` extra and says which extra to install when the command is asked for.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import click

from grc_cli.context import CliContext, pass_cli
from grc_cli.failures import CliFailure, ExitCode

INSTALL_HINT = "grc serve needs the [server] extra: pip install 'grc-exchanges[server]'"


def _require_server_extra() -> None:
    missing = [
        m for m in ("fastapi", "uvicorn", "jwt", "multipart") if not importlib.util.find_spec(m)
    ]
    if missing:
        raise CliFailure(f"{INSTALL_HINT} (missing: {', '.join(missing)})", ExitCode.USAGE)


def app_factory() -> object:
    """The application each uvicorn worker builds (``--workers`` imports it by name)."""
    from grc_api import ApiSettings, create_app
    from grc_core.facade import Grc

    grc = Grc.from_config()
    grc.check_schema()
    return create_app(grc, settings=ApiSettings.from_env())


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes (PostgreSQL; keep 1 on SQLite).",
)
@click.option("--certfile", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--keyfile", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--log-level", default="info", show_default=True)
@pass_cli
def serve(
    state: CliContext,
    host: str,
    port: int,
    workers: int,
    certfile: Path | None,
    keyfile: Path | None,
    log_level: str,
) -> None:
    """Serve the HTTP API under /api/v1 (docs at /api/v1/docs) until SIGTERM or Ctrl-C.

    Authentication, CORS and proxies are configured with GRC_API_* variables (see the
    API documentation).  Requests in progress finish on SIGTERM before the process exits.
    """
    _require_server_extra()
    if (certfile is None) != (keyfile is None):
        raise CliFailure("give both --certfile and --keyfile, or neither", ExitCode.USAGE)
    grc = state.ready()  # refuse to start on a database at another schema revision
    if workers > 1 and grc.engine.dialect.name == "sqlite":
        raise CliFailure(
            "several workers need PostgreSQL; SQLite serves from one process (--workers 1)",
            ExitCode.USAGE,
        )
    import os

    import uvicorn

    # The workers read the same configuration as this command.
    os.environ["GRC_DATABASE_URL"] = grc.settings.database_url
    if state.config_file is not None:
        os.environ["GRC_CONFIG"] = str(state.config_file)
    if certfile is not None:
        os.environ.setdefault("GRC_API_TLS", "1")
    state.out.status(
        f"serving the GRC API on {'https' if certfile else 'http'}://{host}:{port}/api/v1 "
        f"({workers} worker{'s' if workers > 1 else ''})"
    )
    uvicorn.run(
        "grc_cli.commands.serve:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        ssl_certfile=str(certfile) if certfile else None,
        ssl_keyfile=str(keyfile) if keyfile else None,
        log_level=log_level,
        # Forwarded headers are believed only from GRC_API_TRUSTED_PROXIES (grc_api does it).
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=30,
    )


def register(cli: click.Group) -> None:
    """Add ``grc serve``."""
    cli.add_command(serve)
