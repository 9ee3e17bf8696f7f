"""``eligibility serve``: the CDS Hooks service on uvicorn (registered in :mod:`eligibility.cli`).

FastAPI and uvicorn are imported inside the command, so ``eligibility screen`` does not pay for them.
The option names are a contract with integrators' scripts: add, never rename.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import EligibilityError


def _pairs(values: list[str] | None, option: str) -> list[tuple[str, str]]:
    out = []
    for value in values or []:
        key, sep, rest = value.partition("=")
        if not sep or not key.strip() or not rest.strip():
            raise typer.BadParameter(f"expected ISS=VALUE, got {value!r}", param_hint=option)
        out.append((key.strip(), rest.strip()))
    return out


def serve_cmd(
    library: Annotated[Path, typer.Option("--library", help="Folder (or file) of trials: rule files, CT.gov JSON.")],
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8080,
    trusted_issuer: Annotated[
        list[str] | None,
        typer.Option("--trusted-issuer", help="ISS=JWKS (a JWKS file or https URL); repeatable; adds to --config."),
    ] = None,
    fhir_server: Annotated[
        list[str] | None,
        typer.Option("--fhir-server", help="ISS=URL: a FHIR base URL that issuer may send as fhirServer; repeatable."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="Service TOML file (see README, Integrators).")
    ] = None,
    dev: Annotated[bool, typer.Option("--dev", help="Allow plain-http FHIR servers and key sets on loopback.")] = False,
    data: Annotated[
        Path | None, typer.Option("--data", help="Worksheet data folder: also serve the coordinator worksheet at /.")
    ] = None,
    worksheet_url: Annotated[
        str | None, typer.Option("--worksheet-url", help="Absolute base URL of the worksheet, for card links.")
    ] = None,
    smart_launch_url: Annotated[
        str | None,
        typer.Option("--smart-launch-url", help="The worksheet's SMART launch URL: cards also get 'smart' links."),
    ] = None,
    public_url: Annotated[
        str | None,
        typer.Option("--public-url", help="Base URL EHRs call (behind a proxy); the JWT aud is built on it."),
    ] = None,
    cors_origin: Annotated[
        list[str] | None, typer.Option("--cors-origin", help="Allowed CORS origin; repeatable.")
    ] = None,
    state: Annotated[
        Path | None, typer.Option("--state", help="Folder for feedback and the audit trail (default: DATA/cds-hooks).")
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="Processes answering on the port, forked after the library is loaded; more than 1 needs a state "
            "folder (--state, --data or state_dir), which they share.",
        ),
    ] = 1,
) -> None:
    """Serve the CDS Hooks patient-view service (and, with --data, the coordinator worksheet)."""
    import uvicorn

    from ..library import TrialLibrary
    from .app import create_app
    from .settings import TrustedIssuer, build_settings

    try:
        servers: dict[str, list[str]] = {}
        for iss, url in _pairs(fhir_server, "--fhir-server"):
            servers.setdefault(iss, []).append(url)
        issuers = [
            TrustedIssuer(iss=iss, jwks=jwks, fhir_servers=tuple(servers.get(iss, ())))
            for iss, jwks in _pairs(trusted_issuer, "--trusted-issuer")
        ]
        settings = build_settings(
            config,
            issuers=tuple(issuers),
            dev=dev or None,
            worksheet_url=worksheet_url,
            smart_launch_url=smart_launch_url,
            public_url=public_url,
            cors_origins=tuple(cors_origin or ()),
            state_dir=state or (data / "cds-hooks" if data else None),
        )
        if not settings.issuers:
            typer.echo("warning: no trusted issuer: every hook call will be refused (401)", err=True)
        if workers > 1 and settings.state_dir is None:
            typer.echo(
                "error: --workers above 1 needs a state folder (--state, --data, or state_dir in --config): the "
                "workers share the replay cache and feedback there",
                err=True,
            )
            raise typer.Exit(2)
        trials = TrialLibrary.load(library)
        mount = None
        if data is not None:
            try:
                from ..web import mount_worksheet  # type: ignore[attr-defined,unused-ignore]
            except ImportError as exc:
                typer.echo(
                    f"error: --data needs the worksheet (eligibility.web), which is not available: {exc}", err=True
                )
                raise typer.Exit(2) from None
            mount = mount_worksheet

        def make_app() -> Any:
            app = create_app(settings, trials)
            if mount is not None and data is not None:
                mount(app, library=trials, data_dir=data, settings=settings)
            return app

        app = make_app() if workers == 1 else None  # (with workers, each builds its own after the fork)
    except EligibilityError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    shown = f" ({workers} workers)" if workers > 1 else ""
    typer.echo(f"serving {len(trials.trials)} trials at http://{host}:{port}/cds-services{shown}", err=True)
    # What is loaded now lives as long as the process: freezing it keeps the cyclic garbage collector from
    # walking the compiled library on every full collection (most of a call's p95, benchmarks/match.py).
    gc.collect()
    gc.freeze()
    # A hook call builds ~100,000 objects (a 700 KB prefetch parsed, mapped and screened) that live until it
    # answers: at the default 700 a young collection ran ~46 times a call and walked them again and again, and
    # a full one every third call (~7 ms of collecting per call). At 10,000: ~2 young ones, ~3 ms a call.
    gc.set_threshold(10_000, 10, 10)
    if app is not None:
        uvicorn.run(app, host=host, port=port, log_level="info", server_header=False)
        return
    from .workers import serve_forked

    status = serve_forked(make_app, host, port, workers, log_level="info", server_header=False)
    if status:
        raise typer.Exit(status)
