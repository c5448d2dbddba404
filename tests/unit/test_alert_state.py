"""The alert state machine, step by step: one table, each row a story of observations over time."""

from __future__ import annotations

import pytest

from lagwatch.alerts.rules import Observation
from lagwatch.alerts.state import AlertState, FlapPolicy, Timing, step

LABELS = {"alertname": "R", "severity": "page"}


def run(timing: Timing, flap: FlapPolicy, story: list[tuple[float, bool | None]]) -> list[str]:
    """Return the shown state after each (time, condition) step; None = no such series at all."""
    state: AlertState | None = None
    shown = []
    for t, active in story:
        obs = Observation({}, 1.0, t) if active else None
        state = step(state, obs, "R", LABELS, timing, flap, t)
        shown.append("-" if state is None else state.state + ("~" if state.flapping else ""))
    return shown


NO_FLAP = FlapPolicy(window=900, changes=100)

# (why, for, keep_firing_for, flap policy, [(t, active)], expected shown states)
CASES = [
    ("1. for 0: fires at the first true observation, resolves at the first false",
     0, 0, NO_FLAP, [(0, True), (10, True), (20, False)], ["firing", "firing", "resolved"]),
    ("2. for 30s: pending until the condition held 30 s",
     30, 0, NO_FLAP, [(0, True), (10, True), (30, True)], ["pending", "pending", "firing"]),
    ("3. a pending alert whose condition clears is forgotten, never told",
     30, 0, NO_FLAP, [(0, True), (10, False)], ["pending", "-"]),
    ("4. keep_firing_for holds a firing alert through a short dip",
     0, 30, NO_FLAP, [(0, True), (10, False), (20, True), (30, False), (60, False)],
     ["firing", "firing", "firing", "firing", "resolved"]),
    ("5. a series that vanishes resolves like a false condition",
     0, 0, NO_FLAP, [(0, True), (10, None)], ["firing", "resolved"]),
    ("6. resolved then true again walks through pending again",
     20, 0, NO_FLAP, [(0, True), (20, True), (30, False), (40, True), (60, True)],
     ["pending", "firing", "resolved", "pending", "firing"]),
    ("7. the 4th change within the window marks it flapping and holds it firing",
     0, 0, FlapPolicy(window=900, changes=4),
     [(0, True), (60, False), (120, True), (180, False), (240, True), (300, False)],
     ["firing", "resolved", "firing", "firing~", "firing~", "firing~"]),
    ("8. flapping ends after a quiet window; it resolves then if the condition is false",
     0, 0, FlapPolicy(window=300, changes=4),
     [(0, True), (60, False), (120, True), (180, False), (400, False), (481, False)],
     ["firing", "resolved", "firing", "firing~", "firing~", "resolved"]),
    ("9. a resolved alert is forgotten once its flap history has aged out",
     0, 0, FlapPolicy(window=300, changes=4), [(0, True), (10, False), (400, False)],
     ["firing", "resolved", "-"]),
]  # fmt: skip


@pytest.mark.parametrize(("why", "for_", "keep", "flap", "story", "expected"), CASES,
                         ids=[c[0].split(".")[0] for c in CASES])  # fmt: skip
def test_state_machine(
    why: str,
    for_: float,
    keep: float,
    flap: FlapPolicy,
    story: list[tuple[float, bool | None]],
    expected: list[str],
) -> None:
    assert run(Timing(for_, keep), flap, story) == expected, why


def test_state_round_trips_through_a_record() -> None:
    state = step(None, Observation({}, 3.0, 5.0, 3.0, "=="), "R", LABELS, Timing(), NO_FLAP, 5.0)
    assert state is not None
    again = AlertState.from_json(state.to_json())
    assert again == state
