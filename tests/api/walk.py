"""Drive exceptions through the HTTP API as the people of EX-ROLE-1 would."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from domain.actors import Role
from infrastructure.clock import FrozenClock
from tests.api.conftest import bearer
from tests.factories import open_body

CST = ZoneInfo("Asia/Shanghai")
PEOPLE = {
    "li.wei": Role.FRONTLINE, "zhao": Role.DEPARTMENT_HEAD, "qian": Role.CS_HEAD,
    "sun": Role.GROUP_LEADER, "zhou": Role.PRINCIPAL, "wu": Role.LEGAL,
    "zheng": Role.FINANCE, "rnd.1": Role.RND, "audit.1": Role.AUDITOR,
    "feng": Role.MANAGEMENT, "he": Role.FRONTLINE,
}
DEPARTMENT = {"he": "delivery"}
"""Everyone else is in after_sales (SEC-AUTH-2)."""
LEAD = {"general": "zhao", "major": "qian", "critical": "sun"}
REPORTER = {"department_head": "li.wei", "cs_head": "zhao", "group_leader": "qian",
            "principal": "qian"}
"""EX-CHAIN-1: who reports to each recipient."""
SIGNERS = {"general": ["zhao"], "major": ["qian"], "critical": ["sun", "feng"]}
"""EX-SIGN-1: who signs each level's closing document off, in order."""


class Walker:
    def __init__(self, client: TestClient, make_token: Callable[..., str],
                 clock: FrozenClock) -> None:
        self.client, self.clock = client, clock
        # Long-lived: these tests move the clock by weeks and tokens expire by it.
        self.tokens = {user: make_token(user, role, ttl=timedelta(days=3650),
                                        department=DEPARTMENT.get(user, "after_sales"))
                       for user, role in PEOPLE.items()}
        self.location = ""

    def now(self) -> str:
        return self.clock.now().isoformat()

    def at(self, local: datetime) -> None:
        self.clock.set(local.replace(tzinfo=CST) if local.tzinfo is None else local)

    def open(self, as_user: str = "li.wei", **overrides: Any) -> dict[str, Any]:
        response = self.client.post("/v1/exceptions", json=open_body(**overrides),
                                    headers=bearer(self.tokens[as_user]))
        assert response.status_code == 201, response.text
        self.location = response.headers["location"]
        return response.json()

    def post(self, path: str, body: dict[str, Any], as_user: str,
             expect: int = 200) -> dict[str, Any]:
        response = self.client.post(f"{self.location}/{path}", json=body,
                                    headers=bearer(self.tokens[as_user]))
        assert response.status_code == expect, (path, response.text)
        return response.json()

    def get(self, suffix: str = "", as_user: str = "li.wei") -> Any:
        response = self.client.get(f"{self.location}{suffix}",
                                   headers=bearer(self.tokens[as_user]))
        assert response.status_code == 200, response.text
        return response.json()

    # --- the steps ---------------------------------------------------------------------

    def report(self, *to: str, as_user: str | None = None) -> dict[str, Any]:
        """By the reporting chain's link that reaches `to` (EX-CHAIN-1)."""
        reporter = as_user or REPORTER.get(to[0], "li.wei")
        return self.post("reports", {"reported_to": list(to), "reported_at": self.now(),
                                     "details": "cell 3 down"}, reporter)

    def respond(self, level: str) -> dict[str, Any]:
        later = (self.clock.now() + timedelta(days=2)).isoformat()
        body: dict[str, Any] = {
            "general": {"handler": "zhang.san"},
            "major": {"team_owner": "zhang.san", "team_members": ["li.si"],
                      "milestones": [{"name": "site visit", "due_at": later}]},
            "critical": {"meeting": {"held_at": self.now(), "attendees": ["sun", "qian"],
                                     "minutes": "emergency measures agreed"}},
        }[level]
        view = self.post("responses", body, LEAD[level])
        if level == "critical":  # EX-SPEC-2: someone is stationed at the site
            view = self.post("on-site", {"person": "zhang.san", "since": self.now()}, "sun")
        return view

    def investigate(self, **extra: Any) -> dict[str, Any]:
        return self.post("investigations", {"root_cause": "firmware regression",
                                            "site_visit": "cell 3", **extra}, "li.wei")

    def propose(self, final_due: datetime | None = None, **extra: Any) -> dict[str, Any]:
        due = final_due or self.clock.now() + timedelta(days=5)
        return self.post("plans", {
            "measures": [{"description": "roll back firmware",
                          "responsible_department": "after_sales",
                          "responsible_person": "zhang.san", "due_at": due.isoformat()}],
            "resources": "two engineers",
            "milestones": [{"name": "patched", "due_at": due.isoformat()}], **extra},
            "li.wei", expect=201)

    def approve(self, level: str, number: int = 1) -> dict[str, Any]:
        return self.post(f"plans/{number}/approval", {"approved": True}, LEAD[level])

    def progress(self, kind: str) -> dict[str, Any]:
        body: dict[str, Any] = {"kind": kind, "summary": "patch staged on cell 3"}
        if kind == "meeting":
            body["meeting"] = {"held_at": self.now(), "attendees": ["sun"], "minutes": "daily"}
        return self.post("progress", body, "li.wei")

    def resolve(self) -> dict[str, Any]:
        return self.post("resolution", {"summary": "cell running again"}, "li.wei")

    def feedback(self, satisfaction: int = 4) -> dict[str, Any]:
        return self.post("feedback", {"satisfaction": satisfaction, "comment": "fine",
                                      "informed_at": self.now()}, "li.wei")

    def accept(self, accepted: bool = True, note: str = "") -> dict[str, Any]:
        return self.post("acceptance", {"accepted": accepted, "note": note}, "li.wei")

    def review(self, level: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "root_cause": "untested firmware", "lessons": "stage rollouts",
            "improvements": [{"description": "staged rollout", "corrective_action": True}]}
        if level == "critical":
            body["retrospective"] = {"held_at": self.now(), "attendees": ["sun", "zhou"],
                                     "minutes": "retrospective"}
        return self.post("review", body, LEAD[level])

    def sign_off(self, level: str) -> dict[str, Any]:
        """EX-SIGN-1: every sign-off the level's closing document needs, in order."""
        view: dict[str, Any] = {}
        for user in SIGNERS[level]:
            view = self.post("sign-off", {}, user)
        return view

    def archive(self, level: str, sign_off: bool = True) -> dict[str, Any]:
        if sign_off:
            self.sign_off(level)
        return self.post("archive", {"documents": [
            {"name": "closing form", "uri": "dms://cases/1", "sha256": "ab" * 32}]},
            LEAD[level])
