"""The ServiceException aggregate: recording (EX-REC-1) and reporting up (EX-ESC-1).

Commands are public methods that check role, state and input, then call one
private `@event` method; the event methods only apply state, so replaying the
stored events rebuilds exactly what was decided.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, cast

from eventsourcing.domain import event

from domain.actors import EventMeta, Role
from domain.cases import Case, CommandContext, authorise, business_instant
from domain.errors import InvalidInput
from domain.service_exceptions.values import (
    REPORT_UP_RECIPIENTS,
    Category,
    Customer,
    Level,
    Report,
    Status,
)

HANDLERS = frozenset(Role) - {Role.AUDITOR}
"""EX-ROLE-1: every role but the auditor's may record and report up."""


def _required_text(field: str, value: str) -> str:
    if not value.strip():
        raise InvalidInput(field, f"{field} must not be blank")
    return value


class ServiceException(Case):
    case_type: ClassVar[str] = "exception"

    @classmethod
    def record(
        cls,
        ctx: CommandContext,
        *,
        customer: Customer,
        category: Category,
        level: Level,
        title: str,
        description: str,
        service_step: str,
        discovered_at: datetime,
        department: str,
        contract_ref: str | None = None,
        impact_scope: str | None = None,
        customer_demands: str | None = None,
    ) -> ServiceException:
        """EX-REC-1. SLA clocks start at `discovered_at`, not at recording."""
        authorise(ctx, "record", HANDLERS)
        business_instant(ctx, "discovered_at", discovered_at)
        for name, value in (("title", title), ("description", description),
                            ("service_step", service_step), ("department", department)):
            _required_text(name, value)
        _required_text("customer.id", customer.id)
        _required_text("customer.name", customer.name)
        return cls(
            timestamp=ctx.at,
            meta=ctx.meta("record"),
            customer=customer,
            category=category,
            level=level,
            title=title,
            description=description,
            service_step=service_step,
            discovered_at=discovered_at,
            department=department,
            contract_ref=contract_ref,
            impact_scope=impact_scope,
            customer_demands=customer_demands,
        )

    @event("Recorded")
    def __init__(
        self,
        *,
        timestamp: datetime,
        meta: EventMeta,
        customer: Customer,
        category: Category,
        level: Level,
        title: str,
        description: str,
        service_step: str,
        discovered_at: datetime,
        department: str,
        contract_ref: str | None,
        impact_scope: str | None,
        customer_demands: str | None,
    ) -> None:
        self.customer = customer
        self.category = category
        self.level = level
        self.title = title
        self.description = description
        self.service_step = service_step
        self.discovered_at = discovered_at
        self.department = department
        self.contract_ref = contract_ref
        self.impact_scope = impact_scope
        self.customer_demands = customer_demands
        self.reporter = meta.actor.user
        self.recorded_at = timestamp
        self.status = Status.RECORDED
        self.reports: list[Report] = []

    def report_up(
        self,
        ctx: CommandContext,
        *,
        reported_to: tuple[Role, ...],
        reported_at: datetime,
        details: str,
        first_judgement: str,
        customer_demands: str,
        measures_taken: str,
    ) -> None:
        """EX-ESC-1: a report names whom it went to; it may cover only part of the
        recipients the level needs (a critical case needs group leader *and*
        principal), and `report_up_complete` says when all are covered."""
        authorise(ctx, "report_up", HANDLERS)
        if not reported_to:
            raise InvalidInput("reported_to", "name at least one recipient role")
        business_instant(ctx, "reported_at", reported_at)
        if reported_at < self.discovered_at:
            raise InvalidInput("reported_at", "reported_at is before the exception was discovered")
        _required_text("details", details)
        self._reported_up(
            timestamp=ctx.at,
            meta=ctx.meta("report_up"),
            report=Report(
                reported_by=ctx.actor.user,
                reported_to=tuple(reported_to),
                reported_at=reported_at,
                details=details,
                first_judgement=first_judgement,
                customer_demands=customer_demands,
                measures_taken=measures_taken,
            ),
        )

    @event("ReportedUp")
    def _reported_up(self, *, timestamp: datetime, meta: EventMeta, report: Report) -> None:
        self.reports.append(report)
        if self.report_up_complete:
            self.status = Status.REPORTED

    @property
    def required_recipients(self) -> frozenset[Role]:
        return REPORT_UP_RECIPIENTS[self.level]

    @property
    def report_up_complete(self) -> bool:
        reached = {role for report in self.reports for role in report.reported_to}
        return self.required_recipients <= reached

    @staticmethod
    def occurred_at(event: Any) -> datetime | None:
        """The business time an event reports, where its command gave one (AUD-1)."""
        # The event classes are generated by @event, so the type checker cannot see them.
        if isinstance(event, ServiceException.Recorded):  # type: ignore[attr-defined]
            return cast(datetime, event.discovered_at)
        if isinstance(event, ServiceException.ReportedUp):  # type: ignore[attr-defined]
            return cast(datetime, event.report.reported_at)
        return None
