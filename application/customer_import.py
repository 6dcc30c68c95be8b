"""CSV import of the customer directory: every row checked first, a report of every
bad row, and either every customer saved in one transaction or none.

Columns: id, name, key_account (yes/no), size (key/sme), region, kind
(enterprise/individual), first_contract (YYYY-MM-DD, may be empty), contact_name,
contact_phone, contact_email, respondent_class (A/B/C). One row per contact; the
customer's own columns repeat on each of its rows.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

from application.app import CaseApplication
from application.surveys import register_customers
from domain.cases import CommandContext
from domain.errors import CaseNotFound, DomainError
from domain.surveys.directory import CustomerRecord, DirectoryContact, customer_uuid
from domain.surveys.responses import RespondentClass

COLUMNS = ("id", "name", "key_account", "size", "region", "kind", "first_contract",
           "contact_name", "contact_phone", "contact_email", "respondent_class")


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    message: str


def _flag(value: str) -> bool:
    if value.strip().lower() in {"yes", "y", "true", "1"}:
        return True
    if value.strip().lower() in {"no", "n", "false", "0", ""}:
        return False
    raise ValueError("yes or no")


def parse(lines: Iterable[str], ctx: CommandContext, cases: CaseApplication,
          on_row: Callable[[], None] | None = None,
          ) -> tuple[list[CustomerRecord], list[RowError]]:
    reader = csv.DictReader(lines)
    errors: list[RowError] = []
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        return [], [RowError(1, c, "missing column") for c in missing]
    grouped: dict[str, list[tuple[int, dict[str, str]]]] = {}
    for row in reader:
        grouped.setdefault(row["id"].strip(), []).append((reader.line_num, row))
        if on_row:
            on_row()
    records = []
    for customer_id, rows in grouped.items():
        line, first = rows[0]
        contacts = []
        try:
            key_account = _flag(first["key_account"])
        except ValueError as e:
            errors.append(RowError(line, "key_account", str(e)))
            continue
        try:
            contract = date.fromisoformat(first["first_contract"]) \
                if first["first_contract"].strip() else None
        except ValueError:
            errors.append(RowError(line, "first_contract", "a date YYYY-MM-DD"))
            continue
        if first["kind"] not in {"enterprise", "individual"}:
            errors.append(RowError(line, "kind", "enterprise or individual"))
            continue
        for row_line, row in rows:
            try:
                contacts.append(DirectoryContact(
                    customer_id, row["contact_name"].strip(), row["contact_phone"] or None,
                    row["contact_email"] or None, RespondentClass(row["respondent_class"])))
            except ValueError:
                errors.append(RowError(row_line, "respondent_class", "A, B or C"))
        try:
            cases.get_case(CustomerRecord, customer_uuid(customer_id))
            errors.append(RowError(line, "id", f"customer {customer_id} is already registered"))
            continue
        except CaseNotFound:
            pass
        try:
            records.append(CustomerRecord.register(
                ctx, customer_id=customer_id, name=first["name"], key_account=key_account,
                size=first["size"], region=first["region"],
                enterprise=first["kind"] == "enterprise", first_contract=contract,
                contacts=tuple(contacts)))
        except DomainError as e:
            errors.append(RowError(line, getattr(e, "field", "row"), e.detail))
    return records, errors


def import_customers(lines: Iterable[str], ctx: CommandContext, cases: CaseApplication,
                     on_row: Callable[[], None] | None = None) -> tuple[int, list[RowError]]:
    """(customers saved, errors); nothing is saved when there is any error."""
    records, errors = parse(lines, ctx, cases, on_row)
    if errors:
        return 0, sorted(errors, key=lambda e: (e.line, e.field))
    return register_customers(cases, records), []
