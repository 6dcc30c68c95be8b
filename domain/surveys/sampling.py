"""Sampling rules (SV-SAMPLE-1, SV-SAMPLE-2).

SV-SAMPLE-1: the sample holds at least 80 % of the customers active in the period
and every key account, and spreads over size, tenure, region and service scenario:
every group the active customers fall in has someone in the sample.
SV-SAMPLE-2: customer service surveys at least a third of A-class respondents
directly; 10 % of delegated responses are drawn for call-back
by a seeded draw, recorded, so a replay draws the same.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from domain.policy import SurveyPolicy


@dataclass(frozen=True)
class SampleCustomer:
    id: str
    key_account: bool
    size: str
    """key / sme"""
    tenure: str
    """new / old"""
    region: str
    scenario: str
    enterprise: bool = True


@dataclass(frozen=True)
class SampleCheck:
    active: int
    sampled_active: int
    active_share_ok: bool
    missing_key_accounts: tuple[str, ...]
    spread: dict[str, dict[str, int]]
    missing_groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Per aspect, the groups of active customers nobody in the sample is in."""

    @property
    def ok(self) -> bool:
        return self.active_share_ok and not self.missing_key_accounts \
            and not self.missing_groups

    def problems(self) -> list[str]:
        found = []
        if not self.active_share_ok:
            found.append(f"the sample covers {self.sampled_active} of {self.active} active "
                         "customers, under the share SV-SAMPLE-1 requires")
        if self.missing_key_accounts:
            found.append("key accounts missing: " + ", ".join(self.missing_key_accounts))
        found += [f"no {aspect} {', '.join(groups)} customer sampled"
                  for aspect, groups in self.missing_groups.items()]
        return found


def check_sample(active: Sequence[SampleCustomer], sample_ids: Sequence[str],
                 policy: SurveyPolicy) -> SampleCheck:
    chosen = set(sample_ids)
    sampled_active = [c for c in active if c.id in chosen]
    needed = math.ceil(len(active) * policy.sample_active_share - 1e-9)
    key_accounts = [c for c in active if c.key_account]
    needed_keys = math.ceil(len(key_accounts) * policy.sample_key_account_share - 1e-9)
    missing_keys = tuple(sorted(c.id for c in key_accounts if c.id not in chosen))
    keys_ok = len(key_accounts) - len(missing_keys) >= needed_keys
    aspects = ("size", "tenure", "region", "scenario")
    spread = {aspect: dict(sorted(Counter(getattr(c, aspect) for c in sampled_active).items()))
              for aspect in aspects}
    missing = {aspect: tuple(sorted({getattr(c, aspect) for c in active} - set(spread[aspect])))
               for aspect in aspects}
    return SampleCheck(
        active=len(active), sampled_active=len(sampled_active),
        active_share_ok=len(sampled_active) >= needed,
        missing_key_accounts=missing_keys if not keys_ok else (), spread=spread,
        missing_groups={a: groups for a, groups in missing.items() if groups})


def direct_a_class_ok(a_class_total: int, a_class_direct: int, policy: SurveyPolicy) -> bool:
    """SV-SAMPLE-2: at least a third of A-class respondents surveyed directly."""
    return a_class_total == 0 or a_class_direct >= math.ceil(
        a_class_total * policy.a_class_direct_share - 1e-9)


def call_back_draw(delegated: Sequence[str], seed: int, policy: SurveyPolicy) -> tuple[str, ...]:
    """SV-SAMPLE-2: the delegated responses to call back, drawn with a recorded seed
    (at least one when any were delegated), in a stable order."""
    if not delegated:
        return ()
    count = max(1, math.ceil(len(delegated) * policy.delegated_call_back_share - 1e-9))
    return tuple(sorted(random.Random(seed).sample(sorted(delegated), count)))
