"""The survey analysis report (SV-REP-1), rendered as Markdown from the campaign as
its events made it: scope, sample, process, scores, differences by customer type,
core problems, suggestions and proposed actions. Submitted to management with the
`report` command; this is the document."""

from __future__ import annotations

from datetime import tzinfo
from fractions import Fraction

from application.documents import esc
from domain.surveys.campaign import SurveyCampaign


def _pct(value: str | None, scale: int = 1) -> str:
    """An exact "n/d" figure, shown to one decimal (`scale` 100 for a share as %)."""
    return "—" if value is None else f"{float(Fraction(value) * scale):.1f}"


CATEGORY_NAMES = {"equipment": "设备类", "service": "服务类", "process": "流程类",
                  "policy": "政策类"}


def _opinions(c: SurveyCampaign) -> list[str]:
    """SV-TEXT-1: the customers' own words by category, with each category's share."""
    opinions = c.opinions()
    lines = ["### Opinions by category / 意见分类", ""]
    if not opinions:
        return [*lines, "- none given", ""]
    for category, name in CATEGORY_NAMES.items():
        these = [(o, k) for _, o, k in opinions if k and k.category.value == category]
        lines.append(f"- {name} {category}: {len(these)} of {len(opinions)} "
                     f"({100 * len(these) / len(opinions):.1f} %)")
        lines += [f"  - [{k.priority.value}] {esc(o.text)}" for o, k in these]
    unclassified = [o for _, o, k in opinions if k is None]
    if unclassified:
        lines.append(f"- not classified yet: {len(unclassified)}")
    return [*lines, ""]


def _ledger(c: SurveyCampaign) -> list[str]:
    """SV-LEDGER-1: how far the items have been followed."""
    items = c.ledger_items()
    entries = [c.ledger.get(key) for key in items]
    counts = {"items": len(items),
              "notice sent": sum(1 for e in entries if e and e.notified_at),
              "customer told": sum(1 for e in entries if e and e.told_at),
              "closed": sum(1 for e in entries if e and e.closed_at)}
    return ["### Feedback ledger / 反馈跟踪台账", "",
            "; ".join(f"{name}: {n}" for name, n in counts.items()), ""]


def render_survey_report(c: SurveyCampaign, zone: tzinfo) -> str:
    def when(instant: object) -> str:
        return instant.astimezone(zone).strftime("%Y-%m-%d") if instant else "—"  # type: ignore[attr-defined]

    r = c.cleaning
    lines = [f"# 客户满意度分析报告 — {esc(c.title)}", "",
             f"*Survey analysis report* — campaign `{c.id}`, {c.survey_type.value}, "
             f"status **{c.status.value}**", "",
             "## 1. Scope / 调查范围", "",
             f"- Period: {c.plan.period_start.isoformat()} to {c.plan.period_end.isoformat()}",
             f"- Goals: {esc(c.plan.goals)}", f"- Scope: {esc(c.plan.scope)}",
             f"- Channels: {', '.join(ch.value for ch in c.plan.channels)}", "",
             "## 2. Sample / 样本", "",
             f"- {len(c.sample)} of {len(c.active)} active customers sampled"
             + (f"; override: {esc(c.sample_override)}" if c.sample_override else ""), "",
             "## 3. Process / 实施过程", "",
             f"- Started {when(c.started_at)}, closed {when(c.survey_closed_at)}, "
             f"cleaned {when(c.cleaned_at)}",
             f"- {len(c.recipients)} sent, {len(c.responses)} answered"]
    if r is None:
        return "\n".join([*lines, "", "Not cleaned yet: no figures.", ""])
    lines += [f"- Excluded: {len(r.excluded)}"
              + (f" ({_pct(r.excluded_share, 100)} %)" if r.excluded_share else "")
              + (" — flagged for review (over the exclusion threshold)"
                 if r.flagged_for_review else ""),
              *(f"- Review {esc(v.reviewed_by)}, {when(v.reviewed_at)}: "
                f"{v.decision.value} — {esc(v.reason)}" for v in c.reviews),
              f"- Response rate {_pct(r.response_rate, 100)} %",
              "", "## 4. Scores / 满意度得分", "",
              f"- Overall score: {_pct(r.overall_score)}"
              + (f" (previous comparable campaign: {_pct(r.previous_overall_score)})"
                 if r.previous_campaign else ""),
              f"- Satisfaction rate: {_pct(r.satisfaction_rate)} %; loyalty: {_pct(r.loyalty)}; "
              f"favourable rate (key accounts x{r.key_account_weight:g}): "
              f"{_pct(r.favourable_rate)} %", "",
              "| Dimension | Score | Favourable % |", "|---|---|---|",
              *(f"| {esc(d)} | {_pct(v)} | {_pct(r.dimension_favourable.get(d))} |"
                for d, v in r.dimension_scores.items()), "",
              "## 5. Differences by customer type / 客户类型差异", "",
              *(f"- {aspect} {esc(group)}: {_pct(value)}"
                for aspect, groups in (("size", r.scores_by_size),
                                       ("tenure", r.scores_by_tenure),
                                       ("scenario", r.scores_by_scenario))
                for group, value in groups.items()), "",
              "## 6. Core problems / 核心问题", "",
              *(f"- {f.grade.value}: {esc(f.item)} scored {f.score} by {esc(f.customer_id)}"
                for f in r.tracked_findings), "",
              "## 7. Suggestions / 改进建议 (internal notices)", "",
              *(f"- {esc(f.item)} ({esc(f.customer_id)}, {f.score})" for f in r.notices), "",
              *_opinions(c), *_ledger(c),
              "## 8. Proposed actions / 纠正措施", "",
              *(f"- corrective action `{a}`" for a in c.corrective_actions), ""]
    if c.report_summary:
        lines += ["## 9. Summary / 结论", "", esc(c.report_summary), ""]
    return "\n".join(lines)
