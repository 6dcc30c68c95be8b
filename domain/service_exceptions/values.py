"""Value objects and enums of service exceptions (EX-CAT-1, EX-LVL-1, EX-REC-1 ...)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum

from domain.actors import Role
from domain.calendar import utc
from domain.personal import PERSONAL


class Category(Enum):
    """EX-CAT-1: exactly six categories."""

    PRESALES = "presales"
    DELIVERY = "delivery"
    INSTALLATION = "installation"
    AFTER_SALES = "after_sales"
    TECHNICAL_SUPPORT = "technical_support"
    OTHER = "other"


class Level(Enum):
    """EX-LVL-1."""

    GENERAL = "general"
    MAJOR = "major"
    CRITICAL = "critical"


class Status(Enum):
    """EX-FLOW-1: record -> report up -> response -> investigation -> plan approved
    (executing) -> resolved -> feedback (and acceptance) -> reviewed -> archived."""

    RECORDED = "recorded"
    REPORTED = "reported"
    RESPONDING = "responding"
    INVESTIGATED = "investigated"
    EXECUTING = "executing"
    RESOLVED = "resolved"
    FEEDBACK_RECEIVED = "feedback_received"
    ACCEPTED = "accepted"
    REVIEWED = "reviewed"
    ARCHIVED = "archived"
    CANCELLED = "cancelled"


class SpecialType(Enum):
    """EX-SPEC-1 (002 art. 12)."""

    PRODUCT_QUALITY = "product_quality"
    CONTRACT_DISPUTE = "contract_dispute"
    MAJOR_LOSS = "major_loss"


class QualityFinding(Enum):
    """EX-SPEC-1: what a product-quality investigation found."""

    PRODUCT_DEFECT = "product_defect"          # replace/repair + supply-chain trace
    INSTALLATION_FAULT = "installation_fault"  # implementation rectifies


class MeasureKind(Enum):
    """EX-SPEC-2: what a plan measure does, where a product-quality finding asks for
    a kind (002 art. 12(1))."""

    GENERAL = "general"
    REPLACE_REPAIR = "replace_repair"            # replace the product or repair it
    SUPPLY_CHAIN_TRACE = "supply_chain_trace"    # trace the supply chain's responsibility
    RECTIFICATION = "rectification"              # implementation rectifies the installation


# EX-SPEC-1/2: the measures each product-quality finding needs in the plan.
FINDING_MEASURES: dict[QualityFinding, frozenset[MeasureKind]] = {
    QualityFinding.PRODUCT_DEFECT: frozenset({MeasureKind.REPLACE_REPAIR,
                                              MeasureKind.SUPPLY_CHAIN_TRACE}),
    QualityFinding.INSTALLATION_FAULT: frozenset({MeasureKind.RECTIFICATION}),
}


class RecoveryParty(Enum):
    """EX-SPEC-2 major loss: whom the loss is recovered from (002 art. 12(3))."""

    THIRD_PARTY = "third_party"
    STAFF = "staff"
    NONE = "none"  # nobody else is liable; the basis says why


class CancelReason(Enum):
    DUPLICATE = "duplicate"
    NOT_AN_EXCEPTION = "not_an_exception"


class ProgressKind(Enum):
    """EX-PROG-1: a report to cs_head (major) or a daily meeting (critical)."""

    REPORT = "report"
    MEETING = "meeting"


# EX-ESC-1: whom each level must be reported up to.
REPORT_UP_RECIPIENTS: dict[Level, frozenset[Role]] = {
    Level.GENERAL: frozenset({Role.DEPARTMENT_HEAD}),
    Level.MAJOR: frozenset({Role.CS_HEAD}),
    Level.CRITICAL: frozenset({Role.GROUP_LEADER, Role.PRINCIPAL}),
}

# EX-CHAIN-1: the reporting chain (002 art. 7-8), link by link: who reports to whom.
# A level's chain runs up to the link that reaches its EX-ESC-1 recipients.
REPORTING_CHAIN: tuple[tuple[Role, frozenset[Role]], ...] = (
    (Role.FRONTLINE, frozenset({Role.DEPARTMENT_HEAD})),
    (Role.DEPARTMENT_HEAD, frozenset({Role.CS_HEAD})),
    (Role.CS_HEAD, frozenset({Role.GROUP_LEADER, Role.PRINCIPAL})),
)
CHAIN_LINKS: dict[Level, int] = {Level.GENERAL: 1, Level.MAJOR: 2, Level.CRITICAL: 3}


def reporting_chain(level: Level) -> tuple[tuple[Role, frozenset[Role]], ...]:
    return REPORTING_CHAIN[:CHAIN_LINKS[level]]


def chain_reporter(reported_to: Iterable[Role]) -> Role:
    """The link's reporter for a report to these recipients."""
    return next(by for by, to in REPORTING_CHAIN if set(reported_to) <= to)


# EX-RESP-1: who starts the response at each level.
RESPONDERS: dict[Level, frozenset[Role]] = {
    Level.GENERAL: frozenset({Role.DEPARTMENT_HEAD}),
    Level.MAJOR: frozenset({Role.CS_HEAD}),
    Level.CRITICAL: frozenset({Role.GROUP_LEADER}),
}

# EX-PLAN-1: who approves a plan at each level.
PLAN_APPROVERS: dict[Level, frozenset[Role]] = {
    Level.GENERAL: frozenset({Role.DEPARTMENT_HEAD}),
    Level.MAJOR: frozenset({Role.CS_HEAD}),
    Level.CRITICAL: frozenset({Role.GROUP_LEADER}),
}

# EX-REV-1: general reviews stay in the department; major/critical in the handling group.
REVIEWERS: dict[Level, frozenset[Role]] = {
    Level.GENERAL: frozenset({Role.DEPARTMENT_HEAD}),
    Level.MAJOR: frozenset({Role.CS_HEAD, Role.GROUP_LEADER}),
    Level.CRITICAL: frozenset({Role.CS_HEAD, Role.GROUP_LEADER}),
}

# EX-PROG-1: what each level needs every working day while executing.
DAILY_PROGRESS: dict[Level, ProgressKind | None] = {
    Level.GENERAL: None,
    Level.MAJOR: ProgressKind.REPORT,
    Level.CRITICAL: ProgressKind.MEETING,
}

# SEC-PII: the roles that deal with the customer and so may read contact details.
CONTACT_VIEWERS: frozenset[Role] = frozenset({
    Role.FRONTLINE, Role.DEPARTMENT_HEAD, Role.CS_HEAD, Role.GROUP_LEADER, Role.PRINCIPAL,
})


@dataclass(frozen=True)
class Contact:
    """Personal information under the PIPL (SEC-PII)."""

    name: str
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Customer:
    id: str
    name: str
    key_account: bool
    contact: Contact


@dataclass(frozen=True)
class Report:
    """EX-ESC-1: who reported to whom, when, and what."""

    reported_by: str
    reported_to: tuple[Role, ...]
    reported_at: datetime
    details: str = field(metadata=PERSONAL)
    first_judgement: str = field(metadata=PERSONAL)
    customer_demands: str = field(metadata=PERSONAL)
    measures_taken: str = field(metadata=PERSONAL)

    def __post_init__(self) -> None:
        object.__setattr__(self, "reported_to", tuple(self.reported_to))
        object.__setattr__(self, "reported_at", utc(self.reported_at, "reported_at"))


@dataclass(frozen=True)
class Milestone:
    name: str
    due_at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "due_at", utc(self.due_at, "due_at"))


@dataclass(frozen=True)
class Meeting:
    """Minutes of an emergency, daily or retrospective meeting."""

    held_at: datetime
    attendees: tuple[str, ...]
    minutes: str = field(metadata=PERSONAL)

    def __post_init__(self) -> None:
        object.__setattr__(self, "attendees", tuple(self.attendees))
        object.__setattr__(self, "held_at", utc(self.held_at, "held_at"))


@dataclass(frozen=True)
class Response:
    """EX-RESP-1: a handler (general), a temporary team (major) or an emergency
    meeting (critical)."""

    started_by: str
    handler: str | None = None
    team_owner: str | None = None
    team_members: tuple[str, ...] = ()
    milestones: tuple[Milestone, ...] = ()
    meeting: Meeting | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "team_members", tuple(self.team_members))
        object.__setattr__(self, "milestones", tuple(self.milestones))


@dataclass(frozen=True)
class Investigation:
    """EX-INV-1, and EX-SPEC-1's participants and finding for product quality."""

    contract_clauses: str = field(metadata=PERSONAL)
    service_records: str = field(metadata=PERSONAL)
    interviews: str = field(metadata=PERSONAL)
    site_visit: str = field(metadata=PERSONAL)
    root_cause: str = field(metadata=PERSONAL)
    participants: tuple[Role, ...]
    finding: QualityFinding | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "participants", tuple(self.participants))


@dataclass(frozen=True)
class Measure:
    description: str = field(metadata=PERSONAL)
    responsible_department: str
    responsible_person: str
    due_at: datetime
    kind: MeasureKind = MeasureKind.GENERAL

    def __post_init__(self) -> None:
        object.__setattr__(self, "due_at", utc(self.due_at, "due_at"))


@dataclass(frozen=True)
class Plan:
    """EX-PLAN-1. `number` counts revisions from 1; `compensation` is the
    compensation plan a major-loss case needs (EX-SPEC-1); `contract_change` says the
    plan changes the contract, so a contract dispute needs a supplementary agreement
    (EX-SPEC-2)."""

    number: int
    measures: tuple[Measure, ...]
    resources: str = field(metadata=PERSONAL)
    milestones: tuple[Milestone, ...] = ()
    compensation: str | None = field(default=None, metadata=PERSONAL)
    contract_change: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "measures", tuple(self.measures))
        object.__setattr__(self, "milestones", tuple(self.milestones))

    @property
    def final_milestone(self) -> Milestone | None:
        return max(self.milestones, key=lambda m: m.due_at, default=None)


@dataclass(frozen=True)
class LossAssessment:
    """EX-SPEC-1 major loss: finance and legal each assess the loss."""

    assessed_as: Role
    amount: str
    currency: str
    basis: str = field(metadata=PERSONAL)


@dataclass(frozen=True)
class Progress:
    kind: ProgressKind
    day: date
    """The local working day the entry covers."""
    summary: str = field(metadata=PERSONAL)
    meeting: Meeting | None = None


@dataclass(frozen=True)
class Improvement:
    """EX-REV-1: an improvement measure; `corrective_action` asks for a tracked
    corrective action (CA-SRC-1) to be opened for it."""

    description: str = field(metadata=PERSONAL)
    corrective_action: bool = False


@dataclass(frozen=True)
class Review:
    root_cause: str = field(metadata=PERSONAL)
    lessons: str = field(metadata=PERSONAL)
    improvements: tuple[Improvement, ...]
    retrospective: Meeting | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "improvements", tuple(self.improvements))


@dataclass(frozen=True)
class SupplementaryAgreement:
    """EX-SPEC-2 contract dispute: the agreement reached with the customer when the
    plan changes the contract (002 art. 12(2))."""

    reference: str
    signed_at: datetime
    summary: str = field(metadata=PERSONAL)

    def __post_init__(self) -> None:
        object.__setattr__(self, "signed_at", utc(self.signed_at, "signed_at"))


@dataclass(frozen=True)
class Recovery:
    """EX-SPEC-2 major loss: the recovery against a liable third party or member of
    staff, or the finding that there is none (002 art. 12(3))."""

    against: RecoveryParty
    basis: str = field(metadata=PERSONAL)
    amount: str | None = None
    currency: str = "CNY"


@dataclass(frozen=True)
class OnSite:
    """EX-SPEC-2: the person stationed at the customer's site for a critical case
    (002 art. 11), from when."""

    person: str
    since: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "since", utc(self.since, "since"))


@dataclass(frozen=True)
class SignOff:
    """EX-SIGN-1: a closing document signed off, by whom in which role, and the case
    version it covers."""

    role: Role
    signed_by: str
    signed_at: datetime
    version: int


# EX-SIGN-1: who signs the closing document off before archive, in order: the general
# record form by the department head (002 art. 9), the major report by cs_head
# (art. 10), the critical summary deliberated by the handling group and filed with
# management (art. 11).
SIGN_OFFS: dict[Level, tuple[Role, ...]] = {
    Level.GENERAL: (Role.DEPARTMENT_HEAD,),
    Level.MAJOR: (Role.CS_HEAD,),
    Level.CRITICAL: (Role.GROUP_LEADER, Role.MANAGEMENT),
}


@dataclass(frozen=True)
class DocumentRef:
    """EX-ARC-1: an archived document by reference and content hash."""

    name: str
    uri: str
    sha256: str
