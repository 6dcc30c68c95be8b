"""Small builders for test data."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from domain.actors import Actor, Role
from domain.cases import CommandContext
from domain.service_exceptions.model import ServiceException
from domain.service_exceptions.values import Category, Contact, Customer, Level


def ctx(at: datetime, *roles: Role, user: str = "li.wei") -> CommandContext:
    actor = Actor(user=user, roles=roles or (Role.FRONTLINE,), department="after_sales")
    return CommandContext(actor=actor, at=at, correlation_id="corr-1")


def record(context: CommandContext, *, level: Level = Level.GENERAL,
           discovered_at: datetime | None = None, **overrides: Any) -> ServiceException:
    fields: dict[str, Any] = {
        "customer": Customer("C-1", "ACME Robotics", True,
                             Contact("Wang Fang", "+86 138 0000 0000")),
        "category": Category.AFTER_SALES,
        "level": level,
        "title": "Palletiser stopped",
        "description": "The palletising cell stopped after a firmware update.",
        "service_step": "after_sales_visit",
        "discovered_at": discovered_at or context.at - timedelta(minutes=10),
        "department": "after_sales",
    } | overrides
    return ServiceException.record(context, **fields)


def report_up(case: ServiceException, context: CommandContext, *to: Role,
              at: datetime | None = None) -> None:
    case.report_up(context, reported_to=to, reported_at=at or context.at,
                   details="cell down since 09:00", first_judgement="firmware regression",
                   customer_demands="restore today", measures_taken="engineer dispatched")


def open_body(**overrides: Any) -> dict[str, Any]:
    return {
        "customer": {"id": "C-1", "name": "ACME Robotics", "key_account": True,
                     "contact": {"name": "Wang Fang", "phone": "+86 138 0000 0000",
                                 "email": "wang.fang@acme.example"}},
        "category": "after_sales",
        "level": "major",
        "title": "Palletiser stopped",
        "description": "The palletising cell stopped after a firmware update.",
        "service_step": "after_sales_visit",
        "discovered_at": "2026-09-30T14:50:00+08:00",
        "department": "after_sales",
    } | overrides


def report_body(**overrides: Any) -> dict[str, Any]:
    return {"reported_to": ["cs_head"], "reported_at": "2026-09-30T14:55:00+08:00",
            "details": "cell down", "first_judgement": "firmware", "customer_demands": "today",
            "measures_taken": "engineer sent"} | overrides
