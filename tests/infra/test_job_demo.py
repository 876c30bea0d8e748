"""The demo job history goes through the real holds and ledger, once."""

from io import StringIO

import pytest
from django.core.management import call_command

from billing.models import Hold
from infra.job_demo import HISTORY, jobs_demo_history
from usage.models import UsageEvent

from .gpuscene import make_scene

pytestmark = pytest.mark.django_db


def test_the_demo_history_is_settled_through_the_ledger_once(sim):
    scene = make_scene(sim, credits=100)
    requests = sim.request_count
    start = scene.wallet.balance_microcredits
    assert jobs_demo_history(deployment=scene.deployment, api_key=scene.key) == len(HISTORY)
    assert jobs_demo_history(deployment=scene.deployment, api_key=scene.key) == 0
    jobs = list(scene.deployment.jobs.order_by("created_at"))
    assert [j.status for j in jobs] == [outcome for outcome, *_ in HISTORY]
    assert jobs[0].charged_microcredits == 18_420 * 2 * 610 // 1000  # on the second type
    assert jobs[1].charged_microcredits == 9_870 * 2 * 150 // 1000
    assert jobs[2].charged_microcredits == 0 and jobs[5].charged_microcredits == 0
    assert jobs[4].charged_microcredits == 6_000 * 2 * 150 // 1000  # cancelled while running
    total = sum(j.charged_microcredits for j in jobs)
    assert scene.wallet.balance_microcredits == start - total
    assert scene.wallet.held_microcredits == 0
    assert not Hold.objects.filter(wallet=scene.wallet, status=Hold.Status.OPEN).exists()
    assert UsageEvent.objects.filter(endpoint="gpu", key=scene.key).count() == len(HISTORY)
    assert sim.request_count == requests  # no provider involved
    out = StringIO()
    call_command("ledger_check", stdout=out)
    assert "Ledger consistent" in out.getvalue()
