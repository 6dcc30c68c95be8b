"""`/v1/library` (EX-LIB-1): the case library of archived exceptions, for training.
It follows the event log (see `/readyz` for lag) and holds no personal data, so
every role reads all of it, across departments (002 art. 15(1): shared inside the
company)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Query, Request
from pydantic import BaseModel

from api.deps import CurrentActor
from api.models.common import UtcDatetime
from api.problems import problem_responses
from api.routing import Router
from domain.service_exceptions.values import Category, Level
from projections.library import LibraryEntry

router = Router(prefix="/v1/library", tags=["library"], responses=problem_responses(422))


class LibraryItem(BaseModel):
    case_id: UUID
    href: str
    category: Category
    level: Level
    service_step: str
    special: list[str]
    archived_at: UtcDatetime
    root_cause: str
    lessons: str
    measures: list[str]

    @classmethod
    def of(cls, entry: LibraryEntry) -> LibraryItem:
        return cls(case_id=entry.case_id, href=f"/v1/exceptions/{entry.case_id}",
                   category=Category(entry.category), level=Level(entry.level),
                   service_step=entry.service_step,
                   special=[s for s in entry.special.split(",") if s],
                   archived_at=entry.archived_at, root_cause=entry.root_cause,
                   lessons=entry.lessons, measures=entry.measures.splitlines())


class LibraryPage(BaseModel):
    items: list[LibraryItem]


@router.get("", response_model=LibraryPage)
def search_library(
    request: Request, actor: CurrentActor,
    q: Annotated[str, Query(max_length=200, description=(
        "words that must all appear in the root cause, lessons or measures; "
        "any script, Chinese included"))] = "",
    category: Category | None = None, service_step: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> LibraryPage:
    """Archived exceptions, newest first, by category, service step and full text."""
    entries = request.app.state.library.search(
        q, category.value if category else None, service_step, limit)
    return LibraryPage(items=[LibraryItem.of(e) for e in entries])


