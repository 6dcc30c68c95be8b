"""What auditors read on every case type (AUD-1..AUD-4): the history straight from
the store with its hash chain, the chain's verification against the latest signed
checkpoint, and the export of the whole case file."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from api.deps import CasesApp, CurrentActor, require
from api.models.common import History, HistoryEntry, Instant, UtcDatetime, jsonable
from api.problems import ApiProblem
from api.routing import Router
from application.app import CaseApplication, StoredHistory
from application.audit import Checkpoint, Verification
from domain.actors import Actor, Role
from domain.cases import Case
from domain.errors import CaseNotFound
from infrastructure.checkpoints import Checkpoints, WitnessUnreadable, read_witness
from projections.audit import AuditQuery

EXPORTERS = frozenset({Role.AUDITOR, Role.DEPARTMENT_HEAD, Role.CS_HEAD, Role.GROUP_LEADER,
                       Role.PRINCIPAL, Role.MANAGEMENT})
Render = Callable[[CaseApplication, Any, bool, list[Any]], str]
"""A closing document: (cases, the case, reveal contacts, its events) -> Markdown."""
_SKIP = {"originator_id", "originator_version", "timestamp", "meta", "originator_topic"}


class VerifyResult(BaseModel):
    ok: bool
    events: int
    first_bad_version: int | None = Field(description="the first broken link, if any")
    reason: str | None
    checkpoint: int | None = Field(description="the signed checkpoint compared with")
    bad_checkpoint: int | None = Field(
        default=None, description="the first damaged checkpoint, if the log is damaged")

    @classmethod
    def of(cls, result: Verification) -> VerifyResult:
        return cls(ok=result.ok, events=result.events,
                   first_bad_version=result.first_bad_version, reason=result.reason,
                   checkpoint=result.checkpoint, bad_checkpoint=result.bad_checkpoint)


class DamageView(BaseModel):
    reason: str
    case_id: UUID | None = Field(description="the damaged case, if the damage is a case's")
    version: int | None = Field(description="the case's first bad version")
    checkpoint: int | None = Field(description="the checkpoint concerned")


class StoreVerifyResult(BaseModel):
    ok: bool
    cases: int = Field(description="cases checked: every case the store or a checkpoint knows")
    checkpoint: int | None = Field(description="the newest checkpoint that stands")
    witness: bool = Field(description="whether the configured witness file was compared")
    damage: list[DamageView]


class ExportedEvent(BaseModel):
    entry: HistoryEntry
    topic: str
    state: str = Field(description="the stored bytes, base64: what the hash covers")


class Export(BaseModel):
    case_id: UUID
    case_type: str
    exported_at: UtcDatetime
    events: list[ExportedEvent]
    documents: dict[str, str]
    verification: VerifyResult
    checkpoint: dict[str, Any] | None = Field(
        description="the latest signed checkpoint: payload, signature (Ed25519, base64)")
    public_key: str = Field(description="the checkpoint key, raw Ed25519, hex")
    key_fingerprint: str


def entries(history: StoredHistory, case_type: type[Case],
            reveal_contact: bool) -> list[dict[str, Any]]:
    """Each stored event as an auditor reads it (a `HistoryEntry`): position, link
    and decoded data. Plain values, for pydantic to validate all at once (a
    10,000-event history: one pass in pydantic's core, not 10,000 Python ones)."""
    result = []
    for event, stored in zip(history.events, history.records, strict=True):
        meta = event.meta
        data = {k: v for k, v in vars(event).items() if k not in _SKIP}
        result.append({
            "seq": stored.seq, "version": stored.version, "type": type(event).__name__,
            "recorded_at": event.timestamp, "occurred_at": case_type.occurred_at(event),
            "actor": {"user": meta.actor.user, "roles": [r.value for r in meta.actor.roles]},
            "correlation_id": meta.correlation_id, "command": meta.command,
            "data": jsonable(data, reveal_contact=reveal_contact), "hash": stored.hash,
            "prev_hash": stored.prev_hash, "backdated": list(meta.backdated),
            "backdating_reason": meta.backdating_reason})
    return result


def add_audit_routes(router: APIRouter, case_type: type[Case],
                     contact_viewers: frozenset[Role]) -> None:
    def reveal(actor: Actor) -> bool:
        return actor.has_any(*contact_viewers)

    @router.get("/{case_id}/history", response_model=History,
                name=f"{case_type.case_type}_history")
    def case_history(case_id: UUID, cases: CasesApp, actor: CurrentActor) -> dict[str, Any]:
        """Every event of the case, oldest first, straight from the store, with its
        position in the log and its link in the case's hash chain (AUD-1, AUD-3)."""
        return {"case_id": case_id, "items": entries(
            cases.stored_history(case_type, case_id), case_type, reveal(actor))}

    @router.get("/{case_id}/verify", response_model=VerifyResult,
                name=f"{case_type.case_type}_verify")
    def case_verify(case_id: UUID, request: Request, cases: CasesApp,
                    actor: CurrentActor) -> VerifyResult:
        """Recompute the hash chain; compare its head with the latest signed checkpoint
        (AUD-3, AUD-5). Damage is a result (`ok: false`), never an error."""
        checkpoints = request.app.state.checkpoints
        latest = checkpoints.latest()
        records, chain = cases.stored_records(case_id)
        if records and f":{case_type.__qualname__}." not in records[0].topic:
            raise CaseNotFound(f"no {case_type.case_type} {case_id}")
        if records:
            cases.ensure_visible(case_type, case_id)
        return VerifyResult.of(checkpoints.verify_stored(case_id, records, chain, latest))

    @router.get("/{case_id}/export", response_model=Export, name=f"{case_type.case_type}_export",
                dependencies=[Depends(require(EXPORTERS))])
    def case_export(case_id: UUID, request: Request, cases: CasesApp,
                    actor: CurrentActor) -> Export:
        """The case file for an auditor to keep and verify offline (AUD-4): events
        with their stored bytes and links, documents, and the signed checkpoint."""
        return export(request.app.state.checkpoints, cases, case_type, case_id, reveal(actor))


def export(checkpoints: Checkpoints, cases: CaseApplication, case_type: type[Case],
           case_id: UUID, reveal_contact: bool) -> Export:
    """The case file from one read of the case's records: its events decoded once
    serve the entries and the closing document, its records the verification."""
    latest = checkpoints.latest()  # before the records (see verify_stored)
    history = cases.stored_history(case_type, case_id)
    documents = {}
    if (render := closing_document(case_type)) is not None:
        documents["closing.md"] = render(cases, history.case, reveal_contact, [
            e for e in history.events if e.originator_version <= history.case.version])
    return Export.model_validate(dict(
        case_id=case_id, case_type=case_type.case_type, exported_at=cases.clock.now(),
        events=[{"entry": entry, "topic": stored.topic,
                 "state": base64.b64encode(stored.state).decode()}
                for entry, stored in zip(entries(history, case_type, reveal_contact),
                                         history.records, strict=True)],
        documents=documents, verification=VerifyResult.of(checkpoints.verify_stored(
            case_id, history.records, history.chain, latest)),
        checkpoint={"seq": latest.seq, "payload": latest.payload,
                    "signature": latest.signature} if isinstance(latest, Checkpoint) else None,
        public_key=checkpoints.signer.public_bytes.hex(),
        key_fingerprint=checkpoints.signer.fingerprint))


def closing_document(case_type: type[Case]) -> Render | None:
    """How a case file's closing document is written, for the case types that have one."""
    from api.routers.exceptions import closing_markdown
    from api.routers.surveys import survey_markdown
    from domain.service_exceptions.model import ServiceException
    from domain.surveys.campaign import SurveyCampaign

    renders: dict[type[Case], Render] = {ServiceException: closing_markdown,
                                         SurveyCampaign: survey_markdown}
    return renders.get(case_type)


audit_router = Router(tags=["audit"])


class AuditEntry(BaseModel):
    seq: int
    case_id: UUID
    version: int
    type: str
    recorded_at: UtcDatetime
    actor: str
    roles: list[str]
    command: str
    correlation_id: str


class AuditPage(BaseModel):
    items: list[AuditEntry]
    next_cursor: str | None


@audit_router.get("/v1/audit", response_model=AuditPage,
                  dependencies=[Depends(require({Role.AUDITOR}))])
def audit_trail(
    request: Request,
    actor: Annotated[str | None, Query(description="a user id")] = None,
    case: Annotated[UUID | None, Query(description="a case id")] = None,
    recorded_from: Annotated[Instant | None, Query(alias="from")] = None,
    recorded_to: Annotated[Instant | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$",
                                        description="next_cursor of the previous page")] = None,
) -> AuditPage:
    """Every event across all cases, in log order, by actor, case and time (AUD-1).
    Follows the event log through the audit view; `cursor` is the last seq seen."""
    rows = request.app.state.audit.select(AuditQuery(
        actor=actor, case_id=case, recorded_from=recorded_from, recorded_to=recorded_to,
        after_seq=int(cursor) if cursor else None), limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(items=[AuditEntry(
        seq=r.seq, case_id=r.case_id, version=r.version, type=r.event_type,
        recorded_at=r.recorded_at, actor=r.actor, roles=[x for x in r.roles.split(",") if x],
        command=r.command, correlation_id=r.correlation_id) for r in rows],
        next_cursor=str(rows[-1].seq) if more else None)


@audit_router.get("/v1/audit/verify", response_model=StoreVerifyResult,
                  dependencies=[Depends(require({Role.AUDITOR}))])
def verify_store(request: Request, cases: CasesApp) -> StoreVerifyResult:
    """Every case and the whole checkpoint log, and the configured witness file where
    there is one (AUD-5): each damage names the case and its first bad version, or
    the checkpoint. Reads everything: for audits, not for probes."""
    checkpoints: Checkpoints = request.app.state.checkpoints
    path = checkpoints.witness.path
    try:
        kept = list(read_witness(path)) if path is not None and path.exists() else None
    except WitnessUnreadable as e:
        raise ApiProblem(503, "witness-unreadable", "The witness cannot be read",
                         str(e)) from None
    report = checkpoints.verify_all(cases, kept)
    return StoreVerifyResult(ok=report.ok, cases=report.cases, checkpoint=report.checkpoint,
                             witness=kept is not None, damage=[DamageView(
                                 reason=d.reason, case_id=d.case_id, version=d.version,
                                 checkpoint=d.checkpoint) for d in report.damage])
