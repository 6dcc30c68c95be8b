"""Closing documents of service exceptions (EX-FORM-1), rendered as Markdown from
the case as its events made it. One form per level:

- general  -> 一般客户服务异常处置记录表 (handling record form)
- major    -> 较大客户服务异常处置报告 (handling report)
- critical -> 重大客户服务异常处置总结报告 (handling summary report)

Every piece of text a user typed is escaped, so the Markdown (and the HTML made
from it) shows it literally.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, tzinfo

from domain.actors import Role
from domain.obligations import Obligation
from domain.service_exceptions.model import ServiceException
from domain.service_exceptions.values import SIGN_OFFS, Level, MeasureKind, Report

FORMS = {
    Level.GENERAL: ("一般客户服务异常处置记录表", "Handling record of a general service exception"),
    Level.MAJOR: ("较大客户服务异常处置报告", "Handling report of a major service exception"),
    Level.CRITICAL: ("重大客户服务异常处置总结报告",
                     "Summary report of a critical service exception"),
}
SECTIONS = {
    "discovery": "1. Discovery record / 发现记录",
    "reports": "2. Reports up / 上报材料",
    "investigation": "3. Response and investigation / 响应与调查记录",
    "plans": "4. Plans / 处置方案",
    "progress": "5. Progress / 处置进展",
    "result": "6. Result and customer feedback / 处置结果与客户反馈",
    "review": "7. Review / 复盘报告",
    "deadlines": "8. Deadlines / 时限",
    "sign_off": "9. Sign-off / 审核签字",
    "archive": "10. Archive / 归档",
}
"""The file EX-ARC-1 (002 art. 8(7)) lists, in its order; progress for major and
critical only, the archive once archived."""
SIGNING = {
    Role.DEPARTMENT_HEAD: "部门负责人审核 reviewed by the department head",
    Role.CS_HEAD: "处置小组副组长审核 reviewed by the cs head",
    Role.GROUP_LEADER: "处置小组审议 deliberated by the handling group",
    Role.MANAGEMENT: "公司管理层备案 filed with management",
}
_ESCAPED = str.maketrans({c: "\\" + c for c in "\\`*_{}[]<>()#+-.!|~"})


def esc(text: object) -> str:
    """Markdown-escape user text and keep it on one line of a table or list."""
    return " ".join(str(text).split()).translate(_ESCAPED)


def _when(instant: datetime | None, zone: tzinfo) -> str:
    return instant.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") if instant else "—"


def _table(rows: Iterable[tuple[str, str]]) -> list[str]:
    return ["| | |", "|---|---|", *(f"| {label} | {value} |" for label, value in rows), ""]


def render_markdown(case: ServiceException, reports: Sequence[tuple[Report, int]],
                    obligations: list[Obligation], *, now: datetime, zone: tzinfo,
                    reveal_contact: bool) -> str:
    """`reports`: the case's reports up, from its history (the case keeps only counts)."""
    title_cn, title_en = FORMS[case.level]

    def w(instant: datetime | None) -> str:
        return _when(instant, zone)

    contact = case.customer.contact
    lines = [f"# {title_cn}", "", f"*{title_en}* — exception `{case.id}`, version {case.version},"
             f" status **{case.status.value}**", ""]

    lines += [f"## {SECTIONS['discovery']}", ""]
    lines += _table([
        ("Title", esc(case.title)),
        ("Customer", f"{esc(case.customer.name)} ({esc(case.customer.id)})"
                     + (", key account" if case.customer.key_account else "")),
        ("Contact", esc(" / ".join(v for v in (contact.name, contact.phone, contact.email) if v))
         if reveal_contact else "withheld (SEC-PII)"),
        ("Category / level", f"{case.category.value} / {case.level.value}"),
        ("Special types", ", ".join(sorted(s.value for s in case.special)) or "none"),
        ("Department / service step", f"{esc(case.department)} / {esc(case.service_step)}"),
        ("Contract", esc(case.contract_ref or "—")),
        ("Discovered / recorded", f"{w(case.discovered_at)} / {w(case.recorded_at)}"),
        ("Reported by", esc(case.reporter)),
        ("What happened", esc(case.description)),
        ("Scope of impact", esc(case.impact_scope or "—")),
        ("Customer demands", esc(case.customer_demands or "—")),
    ])

    lines += [f"## {SECTIONS['reports']}", ""]
    lines += [f"- {w(r.reported_at)}: {esc(r.reported_by)} → "
              f"{', '.join(x.value for x in r.reported_to)}: {esc(r.details)}"
              for r, _ in reports] or ["- none"]
    lines.append("")

    lines += [f"## {SECTIONS['investigation']}", ""]
    if case.response:
        resp = case.response
        if resp.handler:
            lines.append(f"- Handler: {esc(resp.handler)}")
        if resp.team_owner:
            lines.append(f"- Team: {esc(resp.team_owner)} (owner), "
                         f"{esc(', '.join(resp.team_members))}")
        lines += [f"- Milestone: {esc(m.name)}, due {w(m.due_at)}" for m in resp.milestones]
        if resp.meeting:
            lines.append(f"- Emergency meeting {w(resp.meeting.held_at)}: "
                         f"{esc(resp.meeting.minutes)}")
    if case.on_site:
        lines.append(f"- Stationed on site: {esc(case.on_site.person)} since "
                     f"{w(case.on_site.since)}")
    if case.investigation:
        inv = case.investigation
        lines += [f"- Root cause: {esc(inv.root_cause)}",
                  f"- Participants: {', '.join(r.value for r in inv.participants) or '—'}"]
        if inv.finding:
            lines.append(f"- Finding: {inv.finding.value}")
    lines += [f"- Legal opinion ({esc(by)}): {esc(text)}" for by, text in case.legal_opinions]
    lines += [f"- Loss assessed by {a.assessed_as.value}: {esc(a.amount)} {a.currency} — "
              f"{esc(a.basis)}" for a in case.loss_assessments.values()]
    lines.append("")

    lines += [f"## {SECTIONS['plans']}", ""]
    for record in case.plans:
        plan = record.plan
        lines.append(f"### Plan {plan.number} — {record.status}"
                     + (f" by {esc(record.decided_by)} {w(record.decided_at)}"
                        if record.decided_by else ""))
        lines += [f"- {esc(m.description)} — {esc(m.responsible_department)}, "
                  f"{esc(m.responsible_person)}, due {w(m.due_at)}"
                  + (f" ({m.kind.value})" if m.kind is not MeasureKind.GENERAL else "")
                  for m in plan.measures]
        if plan.contract_change:
            lines.append("- Changes the contract")
        lines += [f"- Milestone {esc(m.name)}: {w(m.due_at)}" for m in plan.milestones]
        if plan.compensation:
            lines.append(f"- Compensation: {esc(plan.compensation)}")
        if record.reason:
            lines.append(f"- Reason: {esc(record.reason)}")
        lines.append("")
    if not case.plans:
        lines += ["- none", ""]
    lines += [f"- Supplementary agreement {esc(a.reference)}, signed {w(a.signed_at)}: "
              f"{esc(a.summary)}" for a in case.agreements]
    if case.agreements:
        lines.append("")

    if case.level is not Level.GENERAL:
        lines += [f"## {SECTIONS['progress']}", ""]
        lines += [f"- {p.day.isoformat()} ({p.kind.value}): {esc(p.summary)}"
                  for p, _, _ in case.progress] or ["- none"]
        lines.append("")

    lines += [f"## {SECTIONS['result']}", ""]
    lines += [f"- Resolved {w(r.resolved_at)}: {esc(r.summary)}"
              + (" (rejected by the customer, execution reopened)" if r.reopened else "")
              for r in case.resolutions] or ["- not resolved"]
    if case.feedback:
        lines.append(f"- Customer satisfaction {case.feedback[0]}/5, informed "
                     f"{w(case.feedback[2])}: {esc(case.feedback[1] or '—')}")
    if case.acceptance:
        lines.append(f"- Acceptance: {'accepted' if case.acceptance[0] else 'rejected'} "
                     f"{esc(case.acceptance[1])}")
    lines += [f"- Recovery against {r.against.value}"
              + (f": {esc(r.amount)} {r.currency}" if r.amount else "") + f" — {esc(r.basis)}"
              for r in case.recoveries]
    if case.cancellation:
        lines.append(f"- Cancelled ({case.cancellation[0].value}): {esc(case.cancellation[1])}")
    lines.append("")

    lines += [f"## {SECTIONS['review']}", ""]
    if case.review:
        rev = case.review[0]
        lines += [f"- Root cause: {esc(rev.root_cause)}", f"- Lessons: {esc(rev.lessons)}"]
        lines += [f"- Improvement: {esc(i.description)}"
                  + (" (corrective action)" if i.corrective_action else "")
                  for i in rev.improvements]
        if rev.retrospective:
            lines.append(f"- Retrospective meeting {w(rev.retrospective.held_at)}: "
                         f"{esc(rev.retrospective.minutes)}")
    else:
        lines.append("- not reviewed")
    lines.append("")

    lines += [f"## {SECTIONS['deadlines']}", "", "| Rule | Obligation | Due | Met | State |",
              "|---|---|---|---|---|"]
    lines += [f"| {o.rule} | {esc(o.description)} | {w(o.due_at)} | {w(o.met_at)} | "
              f"{o.state_at(now).value} |" for o in obligations]
    lines.append("")

    lines += [f"## {SECTIONS['sign_off']}", ""]
    signed = {s.role: s for s in case.sign_offs}
    lines += [f"- {SIGNING[role]}: " + (
        f"{esc(signed[role].signed_by)}, {w(signed[role].signed_at)} (version "
        f"{signed[role].version})" if role in signed else "pending")
        for role in SIGN_OFFS[case.level]]
    lines.append("")

    if case.archived_at:
        lines += [f"## {SECTIONS['archive']}", "", f"Archived {w(case.archived_at)}.", ""]
        lines += [f"- {esc(d.name)}: {esc(d.uri)} (sha256 `{d.sha256}`)" for d in case.documents]
        lines.append("")
    return "\n".join(lines)
