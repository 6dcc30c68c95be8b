"""The `casetrail` command line."""

from __future__ import annotations

import re
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from domain.actors import Role
from infrastructure.heap import settle
from infrastructure.settings import Settings, load_settings

if TYPE_CHECKING:
    from uuid import UUID

    from application.app import CaseApplication
    from application.audit import StoredCheckpoint
    from infrastructure.checkpoints import Checkpoints

cli = typer.Typer(help="casetrail: event-sourced case management.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
db = typer.Typer(help="Database schema.", no_args_is_help=True)
cli.add_typer(db, name="db")
err = Console(stderr=True, soft_wrap=True)  # a message is one line, whatever the width


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"casetrail {version('casetrail')}")
        raise typer.Exit


@cli.callback()
def _root(version: Annotated[bool, typer.Option(
        "--version", callback=_show_version, is_eager=True,
        help="print the version and exit")] = False) -> None:
    """casetrail: event-sourced case management."""

_TTL = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_ttl(text: str) -> timedelta:
    found = _TTL.match(text.strip())
    if not found or int(found.group(1)) == 0:
        msg = f"expected a positive duration such as 30m, 8h or 7d, not {text!r}"
        raise typer.BadParameter(msg)
    return timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})


def _settings() -> Settings:
    try:
        return load_settings()
    except Exception as e:  # the settings error names the variable; show it plainly
        err.print(f"[red]invalid configuration:[/red] {e}")
        raise typer.Exit(2) from None


config = typer.Typer(help="Configuration.", no_args_is_help=True)
cli.add_typer(config, name="config")


@config.command("show")
def config_show() -> None:
    """Print the settings in force (environment, config file, defaults) as JSON, with
    every secret masked and every path absolute."""
    import json

    print(json.dumps(_settings().model_dump(mode="json"), indent=2, ensure_ascii=False))


@db.command("upgrade")
def db_upgrade() -> None:
    """Create the schema, or bring it to this release's (safe to repeat, and to run
    from several processes at once: one applies each revision, the others wait)."""
    from infrastructure.bootstrap import init_schema

    settings = _settings()
    done = init_schema(settings)
    where = (f"PostgreSQL schema {settings.postgres_schema}" if settings.store == "postgres"
             else f"SQLite {settings.sqlite_path}")
    err.print(f"{where} upgraded from revision {done.before or 'none'} to {done.after}"
              if done.changed else f"{where} already at revision {done.after}")


@db.command("init")
def db_init() -> None:
    """The same as `db upgrade` (kept for scripts written for 0.1.0)."""
    db_upgrade()


@db.command("current")
def db_current() -> None:
    """Print the schema's revision and this release's (exit 1 when they differ)."""
    from infrastructure.migrations import current, head

    found = current(_settings())
    print(f"schema at {found or 'none'}, this release needs {head()}")
    raise typer.Exit(0 if found == head() else 1)


@db.command("reindex")
def db_reindex() -> None:
    """Give every case the index holds without a retention end the one its history
    gives (run once after upgrading to a version that adds retention ends)."""
    _, cases = _open_cases()
    try:
        err.print(f"{cases.reindex_retention()} cases given a retention end")
    finally:
        cases.close()


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="port")] = None,
    workers: Annotated[int, typer.Option(
        "--workers", min=1, max=64,
        help="server processes answering on the port (uvicorn's multi-process mode); "
             "the views and the scheduler, where serve runs them, stay in this one; "
             "PostgreSQL only")] = 1,
) -> None:
    """Serve the HTTP API (embedded SQLite unless CASETRAIL_DATABASE_URL is set)."""
    import uvicorn

    from api.app import create_app
    from api.observability import configure_logging

    settings = _settings()
    configure_logging(settings.log_level)
    where = {"host": host or settings.host, "port": port or settings.port,
             "log_config": None, "access_log": False}
    if workers == 1:
        app = create_app(settings, workers=settings.serve_runs_workers)
        _require_ready(app.state.cases)
        settle(settings.gc_threshold)
        uvicorn.run(app, **where)
        return
    if settings.store == "sqlite":
        err.print("[red]--workers needs PostgreSQL:[/red] SQLite is the single-process "
                  "embedded store; set CASETRAIL_DATABASE_URL, or serve with one process")
        raise typer.Exit(2)
    from infrastructure.bootstrap import build_workers

    _, cases = _open_cases()  # this process supervises, and leads the embedded workers
    background = build_workers(settings, cases) if settings.serve_runs_workers else None
    if background:
        background.start()
    try:
        uvicorn.run("api.app:from_environment", factory=True, workers=workers, **where)
    finally:
        if background:
            background.stop()
        cases.close()


def _require_ready(cases: CaseApplication) -> None:
    try:
        cases.is_ready()
    except Exception as e:
        err.print(f"[red]the store is not ready ({type(e).__name__}: {e}).[/red] "
                  "Run `casetrail db upgrade` first, and check CASETRAIL_DATABASE_URL.")
        raise typer.Exit(1) from None


def _open_cases() -> tuple[Settings, CaseApplication]:
    from infrastructure.bootstrap import build_application

    settings = _settings()
    cases = build_application(settings)
    _require_ready(cases)
    settle(settings.gc_threshold)
    return settings, cases


@cli.command()
def worker() -> None:
    """Run the views and the scheduler (SLA sweep) until stopped (SIGTERM/Ctrl-C)."""
    import signal
    import threading

    from api.observability import configure_logging
    from infrastructure.bootstrap import build_workers

    settings, cases = _open_cases()
    configure_logging(settings.log_level)
    workers = build_workers(settings, cases)
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    workers.start()
    err.print("worker running: views and scheduler")
    stopping.wait()
    workers.stop()
    cases.close()


@cli.command()
def sweep() -> None:
    """Bring the obligations view up to date and run one SLA sweep now."""
    from infrastructure.bootstrap import build_workers

    settings, cases = _open_cases()
    workers = build_workers(settings, cases)
    report = workers.sweep()
    err.print(f"breaches recorded: {report.breaches}, warnings: {report.warnings}, "
              f"cases looked at: {report.cases}")
    cases.close()


@cli.command()
def rebuild(view: Annotated[str, typer.Argument(
        help="the view: obligations, audit, reports or library")] = "obligations") -> None:
    """Empty a view's rows and replay the whole event log into it, with a progress bar."""
    from rich.progress import Progress

    from projections.audit import AuditProjection, construct_audit_view
    from projections.library import LibraryProjection, construct_library_view
    from projections.obligations import ObligationsProjection, construct_view
    from projections.reports import ReportsProjection, construct_reports_view
    from projections.runtime import ViewRunner

    views = {"obligations": (ObligationsProjection, construct_view),
             "audit": (AuditProjection, construct_audit_view),
             "reports": (ReportsProjection, construct_reports_view),
             "library": (LibraryProjection, construct_library_view)}
    if view not in views:
        err.print(f"[red]unknown view {view!r}[/red]; views: {', '.join(views)}")
        raise typer.Exit(2)
    settings, cases = _open_cases()
    projection, construct = views[view]
    runner = ViewRunner(cases, projection(cases, construct(cases)),  # type: ignore[operator]
                        batch_size=settings.view_batch_size)
    total = int(cases.recorder.max_notification_id() or 0)
    with Progress(console=err) as progress:
        task = progress.add_task(f"rebuilding {view}", total=total)
        applied = runner.rebuild(lambda n: progress.advance(task, n))
    err.print(f"{view}: {applied} events replayed")
    cases.close()


@cli.command()
def token(
    user: Annotated[str, typer.Option(help="user id (the token's sub)")],
    role: Annotated[list[Role], typer.Option(help="a role; repeat for several")],
    department: Annotated[str | None, typer.Option(help="the user's department")] = None,
    ttl: Annotated[str, typer.Option(help="lifetime: 30m, 8h, 7d")] = "8h",
) -> None:
    """Print an API token signed with the configured secret."""
    from infrastructure.clock import SystemClock
    from infrastructure.tokens import TokenService, resolve_secret

    settings = _settings()
    service = TokenService(resolve_secret(settings), SystemClock(), settings.token_issuer)
    sys.stdout.write(service.issue(user, role, department, parse_ttl(ttl)) + "\n")


EXIT_FINDINGS, EXIT_INPUT, EXIT_STORE, EXIT_INTERNAL = 1, 2, 3, 70
"""Exit codes: 0 done; 1 the command found damage (verify); 2 bad input, a missing
file or case, a refused command; 3 the store does not answer; 70 an internal error.
A user never sees a traceback: every failure is one line on stderr."""


def main() -> None:
    import psycopg
    from eventsourcing.persistence import OperationalError, ProgrammingError

    from domain.errors import DomainError

    try:
        cli(standalone_mode=True)
    except OSError as e:
        err.print(f"[red]error:[/red] cannot read {e.filename}: {e.strerror}"
                  if e.filename else f"[red]error:[/red] {e}")
        sys.exit(EXIT_INPUT)
    except (DomainError, ValueError, UnicodeError) as e:
        err.print(f"[red]error:[/red] {e}")
        sys.exit(EXIT_INPUT)
    except (OperationalError, psycopg.OperationalError) as e:
        err.print(f"[red]the store does not answer:[/red] {e}".splitlines()[0])
        sys.exit(EXIT_STORE)
    except (ProgrammingError, psycopg.ProgrammingError) as e:
        err.print(f"[red]the store refused:[/red] {e}".splitlines()[0]
                  + " (run `casetrail db upgrade` after an upgrade; check the settings)")
        sys.exit(EXIT_INPUT)
    except Exception as e:  # a bug: one line, the type to quote when reporting it
        err.print(f"[red]internal error ({type(e).__name__}):[/red] {e}".splitlines()[0])
        sys.exit(EXIT_INTERNAL)


def _checkpoints(settings: Settings, cases: CaseApplication) -> Checkpoints:
    from infrastructure.checkpoints import Checkpoints, load_signer, load_witness

    return Checkpoints(cases.recorder, load_signer(settings), load_witness(settings))


def _case_id(text: str) -> UUID:
    from uuid import UUID

    try:
        return UUID(text)
    except ValueError:
        err.print(f"[red]{text!r} is not a case id (a UUID)[/red]")
        raise typer.Exit(2) from None


def _instant(text: str, option: str) -> datetime:
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        instant = None
    if instant is None or instant.tzinfo is None:
        err.print(f"[red]{option} {text!r}: give an ISO instant with its offset, e.g. "
                  "2026-10-08T09:15:00+08:00[/red]")
        raise typer.Exit(2)
    return instant


def _witness(path: Path) -> list[StoredCheckpoint]:
    from infrastructure.checkpoints import WitnessUnreadable, read_witness

    try:
        return list(read_witness(path))
    except WitnessUnreadable as e:
        err.print(f"[red]{e}[/red]")
        raise typer.Exit(2) from None


@cli.command("console-link")
def console_link(
    user: Annotated[str, typer.Option(help="user id")],
    role: Annotated[list[Role], typer.Option(help="a role; repeat for several")],
    department: Annotated[str | None, typer.Option(help="the user's department")] = None,
) -> None:
    """Print a one-time sign-in link to the web console (valid 15 minutes), for the
    embedded default or where no identity provider signs people in."""
    from api.console.auth import ConsoleAuth
    from domain.actors import Actor
    from infrastructure.clock import SystemClock
    from infrastructure.tokens import TokenService, resolve_secret

    if not user.strip():
        raise ValueError("user must not be empty")  # main() says so in one line
    settings = _settings()
    secret = resolve_secret(settings)
    clock = SystemClock()
    auth = ConsoleAuth(secret, clock, settings.console_session_ttl, None,
                       TokenService(secret, clock), settings.base_url)
    print(auth.link(Actor(user, tuple(role), department)))


@cli.command()
def verify(
    case_id: Annotated[str | None, typer.Argument(help="a case id")] = None,
    all_cases: Annotated[bool, typer.Option("--all", help="every case and the whole "
                                                         "checkpoint log")] = False,
    witness: Annotated[Path | None, typer.Option(
        help="a witness file an auditor kept: every checkpoint in it must be in the store "
             "unchanged, and every case must still reach its heads")] = None,
) -> None:
    """Recompute hash chains against the signed checkpoints (AUD-3, AUD-5); exit 1 when
    anything is damaged, naming the case and its first bad version or the checkpoint."""
    from infrastructure.checkpoints import describe

    if (case_id is None) == (not all_cases):
        err.print("[red]give a case id or --all[/red]")
        raise typer.Exit(2)
    only = _case_id(case_id) if case_id else None
    kept = _witness(witness) if witness else None
    settings, cases = _open_cases()
    checkpoints = _checkpoints(settings, cases)
    published = settings.witness_file
    if kept is None and all_cases and published is not None and published.exists():
        kept = _witness(published)  # what this deployment published, unless one is given
    if only is not None and kept is None:
        from domain.errors import CaseNotFound

        try:
            result = checkpoints.verify_case(cases, only)
        except CaseNotFound as e:
            err.print(f"[red]{e.detail}[/red]")
            raise typer.Exit(2) from None
        finally:
            cases.close()
        where = (f"version {result.first_bad_version}" if result.first_bad_version
                 else f"checkpoint {result.bad_checkpoint}")
        err.print(f"{only}: {result.events} events verify"
                  + (f" (checkpoint {result.checkpoint})" if result.checkpoint else "")
                  if result.ok else f"[red]{only}: broken at {where}: {result.reason}[/red]")
        raise typer.Exit(0 if result.ok else 1)
    from rich.progress import Progress

    with Progress(console=err, transient=True) as progress:
        task = progress.add_task("verifying events",
                                 total=cases.recorder.max_notification_id() or 0)
        report = checkpoints.verify_all(cases, kept, lambda n: progress.advance(task, n))
    cases.close()
    damage = [d for d in report.damage if only is None or d.case_id in (None, only)]
    for d in damage:
        err.print(f"[red]{describe(d)}[/red]")
    err.print(f"{report.cases} cases, checkpoint log "
              + (f"up to {report.checkpoint}" if report.checkpoint else "empty")
              + (f", witness of {len(kept)} checkpoints" if kept is not None else "")
              + (f": {len(damage)} problem(s)" if damage else ": all verify"))
    raise typer.Exit(1 if damage else 0)


@cli.command()
def checkpoint() -> None:
    """Check every chain head against the previous checkpoint, then sign and publish a
    new one (the scheduler does this hourly). Refuses, exit 1, when anything is damaged."""
    from infrastructure.checkpoints import CheckpointRefused, describe

    settings, cases = _open_cases()
    try:
        seq = _checkpoints(settings, cases).create(cases.clock.now(), cases.verify_case)
    except CheckpointRefused as e:
        for d in e.damage:
            err.print(f"[red]{describe(d)}[/red]")
        err.print("[red]checkpoint refused: nothing was signed[/red]")
        raise typer.Exit(1) from None
    finally:
        cases.close()
    err.print(f"checkpoint {seq} signed")


@cli.command()
def replay(case_id: str,
           as_of: Annotated[str | None, typer.Option(help="an ISO instant with offset")] = None,
           ) -> None:
    """Print a case's state and its events up to an instant (AUD-2)."""
    import json

    from api.models.common import jsonable
    from domain.cases import Case

    cid = _case_id(case_id)
    instant = _instant(as_of, "--as-of") if as_of else None
    _, cases = _open_cases()
    case = cases.get_case_as_of(Case, cid, instant) if instant else cases.get_case(Case, cid)
    events = cases.events_of(cid, lte=case.version)
    state = {k: v for k, v in vars(case).items() if not k.startswith("_")}
    sys.stdout.write(json.dumps({
        "case_id": case_id, "version": case.version,
        "state": jsonable(state, reveal_contact=False),
        "events": [{"version": e.originator_version, "type": type(e).__name__,
                    "recorded_at": jsonable(e.timestamp, reveal_contact=False)}  # type: ignore[attr-defined]
                   for e in events]}, ensure_ascii=False, indent=2) + "\n")
    cases.close()


@cli.command("export")
def export_case(case_id: str) -> None:
    """Write a case file for an auditor (AUD-4) as JSON on stdout."""
    from api.routers.audit import export
    from domain.cases import Case

    cid = _case_id(case_id)
    settings, cases = _open_cases()
    case = cases.get_case(Case, cid)
    result = export(_checkpoints(settings, cases), cases, type(case), case.id,
                    reveal_contact=False)
    sys.stdout.write(result.model_dump_json(indent=2) + "\n")
    cases.close()


@cli.command("verify-export")
def verify_export(
    path: str,
    fingerprint: Annotated[str | None, typer.Option(
        help="the checkpoint key's fingerprint you trust")] = None,
    witness: Annotated[Path | None, typer.Option(
        help="a witness file you kept: the export must reach its heads")] = None,
) -> None:
    """Check an exported case file offline: chain, checkpoint signature, head, and the
    heads of a witness you kept."""
    import json

    from application.export_check import check_export

    kept = _witness(witness) if witness else None
    settle(Settings.model_fields["gc_threshold"].default)  # offline: needs no configuration
    try:
        exported = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        err.print(f"[red]cannot read {path}: {e}[/red]")
        raise typer.Exit(2) from None
    problems = check_export(exported, fingerprint, kept)
    for problem in problems:
        err.print(f"[red]{problem}[/red]")
    if problems:
        err.print(f"{len(problems)} problem(s)")
    elif fingerprint:
        err.print("intact, signed by the key you trust")
    else:  # the file's own key vouches for itself: consistent, not proven authentic
        err.print("consistent with the key inside the file; that is no proof of where it "
                  "came from: pass --fingerprint with the fingerprint of the key you trust")
    raise typer.Exit(1 if problems else 0)


@cli.command()
def purge(dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="list what would be purged, change nothing")] = False) -> None:
    """Crypto-shred the personal data of customers past retention and not held (RET-3)."""
    from infrastructure.bootstrap import build_workers

    settings, cases = _open_cases()
    plan = build_workers(settings, cases).purge(dry_run=dry_run)
    verb = "would purge" if dry_run else "purged"
    err.print(f"{verb} {len(plan.customers)} customers ({len(plan.cases)} cases)")
    for customer, why in plan.blocked.items():
        err.print(f"kept {customer}: {why}")
    if plan.kek_version is not None:
        err.print(f"customer keys rewrapped under KEK version {plan.kek_version}; "
                  "older KEKs destroyed")
    cases.close()


@cli.command("rotate-kek")
def rotate_kek() -> None:
    """Rewrap every customer key under a new key-encryption key and destroy the older
    ones (RET-4; the purge does this itself after destroying keys)."""
    _, cases = _open_cases()
    try:
        version = cases.keys.rotate()  # type: ignore[attr-defined]
    finally:
        cases.close()
    if version is None:
        err.print("[red]another rotation got further; nothing done[/red]")
        raise typer.Exit(1)
    err.print(f"customer keys rewrapped under KEK version {version}; older KEKs destroyed")


importer = typer.Typer(help="Bulk imports.", no_args_is_help=True)
cli.add_typer(importer, name="import")


@importer.command("customers")
def import_customers_command(
    path: Annotated[str, typer.Argument(help="the CSV file")],
    user: Annotated[str, typer.Option(help="recorded as the actor")] = "casetrail-import",
    update: Annotated[bool, typer.Option(
        "--update", help="customers already registered take the file's details")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="check every row and say what would change; save nothing")] = False,
) -> None:
    """Import the customer directory from CSV: every row checked, then all saved in one
    transaction or none, each problem reported as `line N, column: reason`.

    \b
    Columns (a header line names them, in any order):
      id                the customer's business id
      name              the customer's name
      key_account       yes/no
      size              key/sme
      region            e.g. east
      kind              enterprise/individual
      first_contract    YYYY-MM-DD, may be empty
      contact_name, contact_phone, contact_email
      respondent_class  A/B/C
    One row per contact; the customer's own columns repeat on each of its rows.
    UTF-8 (with or without a BOM) or GB18030/GBK; commas, semicolons, tabs or bars.
    """
    import uuid
    from pathlib import Path

    from rich.progress import Progress

    from application.customer_import import decode, import_customers
    from domain.actors import Actor
    from domain.cases import CommandContext

    lines = decode(Path(path).read_bytes()).splitlines(keepends=True)  # main() says why not
    _, cases = _open_cases()
    ctx = CommandContext(actor=Actor(user, (Role.CS_HEAD,)), at=cases.clock.now(),
                         correlation_id=f"import-{uuid.uuid4().hex}")
    with Progress(console=err) as progress:
        task = progress.add_task("checking rows", total=max(0, len(lines) - 1))
        plan = import_customers(lines, ctx, cases, lambda: progress.advance(task),
                                update=update, dry_run=dry_run)
    cases.close()
    for e in plan.errors:
        err.print(f"[red]line {e.line}, {e.field}: {e.message}[/red]")
    if plan.errors:
        err.print(f"{len(plan.errors)} problem(s): nothing imported")
        raise typer.Exit(1)
    verb = "would be" if dry_run else "were"
    err.print(f"{len(plan.new)} new customers {verb} imported, {len(plan.changed)} "
              f"{verb} updated (unchanged ones left alone)")
