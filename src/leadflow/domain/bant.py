"""Decides whether a lead meets Soft-BANT and is ready to pass to sales (S11).

Seed 004: "If 2 of the 4 elements of BANT are met (budget, authority, need, timeline), BDR team
will determine account owner and pass lead." How many are needed is playbook data
(`soft_bant.required`). Each element is True (met), False (not met) or None (not yet known).
"""

from __future__ import annotations

from typing import NamedTuple

from leadflow.playbook.schema import SoftBantDef


class SoftBant(NamedTuple):
    """`qualified`: enough elements are met to pass the lead to sales."""

    qualified: bool
    why: str


def soft_bant(
    rules: SoftBantDef | None,
    *,
    budget: bool | None = None,
    authority: bool | None = None,
    need: bool | None = None,
    timeline: bool | None = None,
) -> SoftBant:
    """S11: qualified when at least `rules.required` of the four elements are met."""
    if rules is None:
        return SoftBant(False, "this playbook has no Soft-BANT rule (soft_bant:)")
    answers = {"budget": budget, "authority": authority, "need": need, "timeline": timeline}
    met = [k for k, v in answers.items() if v is True]
    open_ = [k for k, v in answers.items() if v is None]
    have = f"{len(met)} of 4 met ({', '.join(met) or 'none'}); {rules.required} required"
    if len(met) >= rules.required:
        return SoftBant(True, f"Soft-BANT met: {have}")
    if len(met) + len(open_) >= rules.required:
        return SoftBant(False, f"Soft-BANT undetermined: {have}; still unknown: {', '.join(open_)}")
    return SoftBant(False, f"Soft-BANT not met: {have}")
