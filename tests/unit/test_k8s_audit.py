"""The Kubernetes part of the heal audit waits for Kubernetes to converge: a Deployment whose pod
is unready for a moment after a control-plane stall (its node marked NotReady when the API
resumes) is not a fault left behind; one still unready at the bound is."""

from __future__ import annotations

from testbed.k8s import deploy


def _answers(monkeypatch, answers: list[list[str]]) -> list[int]:
    """``deploy.audit`` answers these in turn (the last one from then on); returns the count of
    calls made so far (one item per call)."""
    calls: list[int] = []

    def audit(ctx, timeout: float = 15):
        assert 0 < timeout <= 15  # a call never outlives the wait's bound
        calls.append(1)
        return answers[min(len(calls), len(answers)) - 1]

    monkeypatch.setattr(deploy, "audit", audit)
    return calls


def test_a_pod_back_within_the_bound_is_not_left(monkeypatch):
    unready = ["deployment api-server has no ready pod"]
    calls = _answers(monkeypatch, [unready, unready, []])
    assert deploy.audit_settled(None, timeout=5, poll=0.01) == []
    assert len(calls) == 3


def test_a_pod_still_unready_at_the_bound_is_left(monkeypatch):
    unready = ["deployment triggerer has no ready pod"]
    calls = _answers(monkeypatch, [unready])
    assert deploy.audit_settled(None, timeout=2.2, poll=0.01) == unready
    assert len(calls) > 1


def test_a_clean_audit_asks_once(monkeypatch):
    calls = _answers(monkeypatch, [[], ["deployment scheduler has no ready pod"]])
    assert deploy.audit_settled(None, timeout=5, poll=0.01) == []
    assert len(calls) == 1


def test_no_time_to_wait_is_one_call(monkeypatch):
    unready = ["deployment scheduler has no ready pod"]
    calls = _answers(monkeypatch, [unready, []])
    assert deploy.audit_settled(None, timeout=0, poll=0.01) == unready
    assert len(calls) == 1
