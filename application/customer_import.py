"""CSV import of the customer directory: every row checked first, a report of every
bad row by line, and either every customer saved in one transaction or none.
A customer already registered with other details is a problem unless the import
updates (`update=True`, the CLI's `--update`): then it takes the file's details, and
unchanged ones are left alone, so the directory can be re-imported from its source.

Columns: id, name, key_account (yes/no), size (key/sme), region, kind
(enterprise/individual), first_contract (YYYY-MM-DD, may be empty), contact_name,
contact_phone, contact_email, respondent_class (A/B/C). One row per contact; the
customer's own columns repeat on each of its rows. The file may be UTF-8 (with or
without a BOM) or GB18030/GBK, separated by commas, semicolons, tabs or bars.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from email_validator import EmailNotValidError, validate_email

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


@dataclass(frozen=True)
class ImportPlan:
    """What an import saves (or would save): the new customers, the registered ones
    whose details change, and every problem found (nothing is saved if any)."""
    new: list[CustomerRecord]
    changed: list[CustomerRecord]
    errors: list[RowError]


def _flag(value: str) -> bool:
    if value.strip().lower() in {"yes", "y", "true", "1"}:
        return True
    if value.strip().lower() in {"no", "n", "false", "0", ""}:
        return False
    raise ValueError("yes or no")


PHONE = re.compile(r"^[0-9+()\- ]{3,40}$")
"""As the API takes a phone number."""


def decode(data: bytes) -> str:
    """UTF-8 (a BOM dropped), else GB18030 (a superset of GBK), as Chinese office
    software writes it."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValueError("the file is neither UTF-8 nor GB18030/GBK text")


def _contact_problem(row: dict[str, str]) -> tuple[str, str] | None:
    phone, email = row["contact_phone"].strip(), row["contact_email"].strip()
    if phone and not PHONE.match(phone):
        return "contact_phone", "digits, spaces, +, -, ( and ), 3 to 40 of them"
    if email:
        try:
            validate_email(email, check_deliverability=False)
        except EmailNotValidError as e:
            return "contact_email", str(e)
    return None


def parse(lines: Iterable[str], ctx: CommandContext, cases: CaseApplication,
          on_row: Callable[[], None] | None = None, *, update: bool = False) -> ImportPlan:
    """The customers to save (new ones, and registered ones with changed details when
    `update`), and every problem found."""
    lines = list(lines)
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(
            lines[0] if lines else "", delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(lines, dialect=dialect, restval="")
    errors: list[RowError] = []
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        found = ", ".join(reader.fieldnames or []) or "nothing"
        return ImportPlan([], [], [RowError(1, c, f"missing column (the header line has: "
                                                  f"{found})") for c in missing])
    grouped: dict[str, list[tuple[int, dict[str, str]]]] = {}
    for row in reader:
        if None in row:
            errors.append(RowError(reader.line_num, "row", "more cells than columns"))
        elif (problem := _contact_problem(row)) is not None:
            errors.append(RowError(reader.line_num, *problem))
        else:
            grouped.setdefault(row["id"].strip(), []).append((reader.line_num, row))
        if on_row:
            on_row()
    new: list[CustomerRecord] = []
    changed: list[CustomerRecord] = []
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
        details: dict[str, Any] = {
            "name": first["name"], "key_account": key_account, "size": first["size"],
            "region": first["region"], "enterprise": first["kind"] == "enterprise",
            "first_contract": contract, "contacts": tuple(contacts)}
        try:
            try:
                known = cases.get_case(CustomerRecord, customer_uuid(customer_id))
            except CaseNotFound:
                new.append(CustomerRecord.register(ctx, customer_id=customer_id, **details))
            else:
                if not known.update(ctx, **details):
                    continue
                if not update:
                    errors.append(RowError(line, "id", f"{customer_id} is already registered "
                                           "with other details: import with --update"))
                changed.append(known)
        except DomainError as e:
            errors.append(RowError(line, getattr(e, "field", "row"), e.detail))
    return ImportPlan(new, changed, sorted(errors, key=lambda e: (e.line, e.field)))


def import_customers(lines: Iterable[str], ctx: CommandContext, cases: CaseApplication,
                     on_row: Callable[[], None] | None = None, *, update: bool = False,
                     dry_run: bool = False) -> ImportPlan:
    """Check every row, then save every new or changed customer in one transaction,
    or none when there is any problem (or on a dry run)."""
    plan = parse(lines, ctx, cases, on_row, update=update)
    if not plan.errors and not dry_run:
        register_customers(cases, [*plan.new, *plan.changed])
    return plan
