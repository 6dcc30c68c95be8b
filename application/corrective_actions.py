"""Opening corrective actions from their sources (CA-SRC-1), in the same transaction
as the command that found the need: an exception's review (its improvement measures
asking for one, EX-REV-1) or a survey's cleaning (its top 20 % findings, SV-FIND-2)."""

from __future__ import annotations

from domain.cases import CommandContext
from domain.corrective_actions import CorrectiveAction, Severity, Source, SourceKind
from domain.service_exceptions.model import ServiceException
from domain.service_exceptions.values import Level
from domain.surveys.campaign import SurveyCampaign

SEVERITY_OF_LEVEL = {Level.GENERAL: Severity.GENERAL, Level.MAJOR: Severity.KEY,
                     Level.CRITICAL: Severity.MAJOR}


def from_review(case: ServiceException, ctx: CommandContext) -> list[CorrectiveAction]:
    """After `record_review`: one action per improvement measure that asks for one."""
    if case.review is None:
        return []
    actions = [CorrectiveAction.open(
        ctx, source=Source(SourceKind.EXCEPTION_REVIEW, str(case.id), improvement.description),
        severity=SEVERITY_OF_LEVEL[case.level], title=improvement.description,
        description=f"from the review of exception '{case.title}'",
        department=case.department)
        for improvement in case.review[0].improvements if improvement.corrective_action]
    case.link_actions(ctx, tuple(str(a.id) for a in actions))
    return actions


def from_cleaning(campaign: SurveyCampaign, ctx: CommandContext) -> list[CorrectiveAction]:
    """After `clean`: one tracked action (客户意见处理单) per top finding."""
    if campaign.cleaning is None:
        return []
    actions = [CorrectiveAction.open(
        ctx, source=Source(SourceKind.SURVEY_FINDING, str(campaign.id),
                           f"customer {f.customer_id}, item {f.item}, score {f.score}"),
        severity=Severity(f.grade.value), title=f"Survey finding: {f.item} ({f.customer_id})",
        description=f"{campaign.title}: {f.item} scored {f.score} by {f.customer_id}",
        department=campaign.department)
        for f in campaign.cleaning.tracked_findings]
    campaign.link_actions(ctx, tuple(str(a.id) for a in actions))
    return actions
