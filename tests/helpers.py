"""Shared helpers for the model and checker tests."""
from tdxlab.check.explore import explore
from tdxlab.scenario import Scenario, get_scenario


def counterexample(sc, prop):
    """Explore ``sc`` and return the replayed shortest counterexample of ``prop`` (it must exist)."""
    r = explore(sc)
    v = r.verdicts[prop]
    assert v.holds is False, f"{prop} unexpectedly holds on {sc.title()}"
    return r, sc.replay(v.path)


def events_of(steps):
    return [e for info, _ in steps[1:] for e in info.events]


__all__ = ["Scenario", "get_scenario", "explore", "counterexample", "events_of"]
