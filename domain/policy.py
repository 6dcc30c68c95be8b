"""Every number of DOMAIN.md, in one place, each beside the rule it comes from.

The defaults are the regulations'; an operator overrides any of them through
settings (`CASETRAIL_POLICY__<GROUP>__<FIELD>`, or the TOML file). `rule_of`
answers which rule a number belongs to, so documents and errors can cite it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import timedelta
from typing import Any


def rule(rule_id: str, default: Any) -> Any:
    """A policy number with the DOMAIN.md rule it implements."""
    return field(default=default, metadata={"rule": rule_id})


def rule_of(policy: object, name: str) -> str:
    """The rule ID recorded beside a policy field."""
    for f in fields(policy):  # type: ignore[arg-type]
        if f.name == name:
            return str(f.metadata["rule"])
    msg = f"{type(policy).__name__} has no field {name!r}"
    raise KeyError(msg)


def _positive(policy: object) -> None:
    for f in fields(policy):  # type: ignore[arg-type]
        value = getattr(policy, f.name)
        if isinstance(value, timedelta):
            bad = value <= timedelta(0)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            bad = value <= 0
        else:
            continue
        if bad:
            msg = f"{f.name} ({f.metadata['rule']}) must be positive, got {value}"
            raise ValueError(msg)


@dataclass(frozen=True)
class ExceptionPolicy:
    """Service exceptions, DOMAIN.md section 2 (source 002)."""

    report_up_general: timedelta = rule("EX-ESC-1", timedelta(hours=1))
    report_up_major: timedelta = rule("EX-ESC-1", timedelta(hours=2))
    report_up_critical: timedelta = rule("EX-ESC-1", timedelta(minutes=30))
    plan_major: timedelta = rule("EX-PLAN-2", timedelta(hours=24))
    plan_critical: timedelta = rule("EX-PLAN-2", timedelta(hours=48))
    resolve_general_working_days: int = rule("EX-RES-1", 1)
    resolve_major_working_days: int = rule("EX-RES-1", 3)
    retrospective_critical_months: int = rule("EX-REV-1", 1)
    backdating_tolerance: timedelta = rule("EX-REC-2", timedelta(minutes=15))

    def __post_init__(self) -> None:
        _positive(self)


@dataclass(frozen=True)
class SurveyPolicy:
    """Satisfaction surveys, DOMAIN.md section 3 (sources 000, 001, 003, 004)."""

    instant_launch_working_days: int = rule("SV-TYPE-2", 3)
    instant_launch_by_node: dict[str, int] = field(default_factory=dict,
                                                   metadata={"rule": "SV-TYPE-2"})
    """Working days per service node where 004's 1, 2 or 3 differ from the 3 DOMAIN.md
    keeps (e.g. {"presales_consultation": 1}); nodes not named take the 3."""
    follow_up_visit_months: tuple[int, ...] = rule("SV-TYPE-3", (1, 3))
    """Visits this many months after a delivery, every one of them, besides the visit
    at the warranty's end (001's "1 year"), which each delivery states."""
    special_trigger_complaint_increase: float = rule("SV-TYPE-4", 0.10)
    special_due_working_days: int = rule("SV-TYPE-4", 15)
    quarterly_plan_working_days: int = rule("SV-PLAN-1", 5)
    sample_active_share: float = rule("SV-SAMPLE-1", 0.80)
    sample_key_account_share: float = rule("SV-SAMPLE-1", 1.00)
    a_class_direct_share: float = rule("SV-SAMPLE-2", 1 / 3)
    delegated_call_back_share: float = rule("SV-SAMPLE-2", 0.10)
    interview_entry: timedelta = rule("SV-CH-1", timedelta(hours=24))
    dispatch_working_days: int = rule("SV-DISP-1", 3)
    phone_follow_up_working_days: int = rule("SV-DISP-1", 3)
    reminder_interval: timedelta = rule("SV-DISP-1", timedelta(days=7))
    target_response_rate: float = rule("SV-RATE-1", 0.70)
    target_online_response_rate: float = rule("SV-RATE-1", 0.60)
    target_on_site_share: float = rule("SV-RATE-1", 0.20)
    min_fill_time: timedelta = rule("SV-VALID-1", timedelta(seconds=30))
    max_excluded_share: float = rule("SV-VALID-1", 0.05)
    cleaning_working_days: int = rule("SV-CLOSE-1", 5)
    report_working_days: int = rule("SV-CLOSE-1", 3)
    quarterly_process_working_days: int = rule("SV-CLOSE-1", 18)
    score_per_point: int = rule("SV-KPI-1", 20)
    satisfied_above: float = rule("SV-KPI-2", 80.0)
    loyal_above: float = rule("SV-KPI-2", 90.0)
    target_satisfaction_rate: float = rule("SV-KPI-2", 0.80)
    target_loyalty: float = rule("SV-KPI-2", 60.0)
    key_account_weight: float = rule("SV-KPI-3", 2.0)
    tracked_findings_share: float = rule("SV-FIND-2", 0.20)
    finding_exception_working_days: int = rule("SV-FIND-1", 1)
    finding_notice_working_days: int = rule("SV-LEDGER-1", 3)
    """"Immediately" (000 art. 9): by the close of the next working day."""

    def __post_init__(self) -> None:
        _positive(self)
        if self.key_account_weight < 2:
            msg = f"key_account_weight (SV-KPI-3) must stay >= 2, got {self.key_account_weight}"
            raise ValueError(msg)
        object.__setattr__(self, "follow_up_visit_months", tuple(self.follow_up_visit_months))
        bad = {k: v for k, v in self.instant_launch_by_node.items() if v <= 0}
        if bad:
            msg = f"instant_launch_by_node (SV-TYPE-2) must be positive, got {bad}"
            raise ValueError(msg)


@dataclass(frozen=True)
class CorrectiveActionPolicy:
    """Corrective actions, DOMAIN.md section 4 (000 art. 10-11, 003 6.4-6.5)."""

    rectify_general_working_days: int = rule("CA-SEV-1", 3)
    plan_key_working_days: int = rule("CA-SEV-1", 5)
    plan_major_working_days: int = rule("CA-SEV-1", 1)
    plan_working_days: int = rule("CA-PLAN-1", 2)
    plan_horizon_months: int = rule("CA-PLAN-1", 3)
    plan_review_working_days: int = rule("CA-PLAN-1", 2)
    evaluation_interval_months: int = rule("CA-PROG-1", 1)

    def __post_init__(self) -> None:
        _positive(self)


@dataclass(frozen=True)
class SlaPolicy:
    """Obligations and SLA timers, DOMAIN.md section 5."""

    warning_fraction: float = rule("SLA-2", 0.75)
    sweep_interval: timedelta = rule("SLA-5", timedelta(minutes=1))

    def __post_init__(self) -> None:
        _positive(self)
        if not 0 < self.warning_fraction < 1:
            msg = f"warning_fraction (SLA-2) must be between 0 and 1, got {self.warning_fraction}"
            raise ValueError(msg)


@dataclass(frozen=True)
class RetentionPolicy:
    """Retention per record type from archiving, DOMAIN.md section 7."""

    exceptions_years: int = rule("RET-1", 3)
    surveys_years: int = rule("RET-1", 3)
    corrective_actions_years: int = rule("RET-1", 3)
    customers_years: int = rule("RET-4", 3)
    """Directory customers, from their last activity."""

    def __post_init__(self) -> None:
        _positive(self)


@dataclass(frozen=True)
class Policy:
    exceptions: ExceptionPolicy = field(default_factory=ExceptionPolicy)
    surveys: SurveyPolicy = field(default_factory=SurveyPolicy)
    corrective_actions: CorrectiveActionPolicy = field(default_factory=CorrectiveActionPolicy)
    sla: SlaPolicy = field(default_factory=SlaPolicy)
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
