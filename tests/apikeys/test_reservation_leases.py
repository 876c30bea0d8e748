"""Per-worker leases: one script reserves several calls of the same shape, the worker
hands them out without a round trip, shrinks the lease near the cap and releases what it
did not hand out. Every leased reservation is an ordinary record: the cap, the wallet,
settlement, expiry and ``caps_check`` are unchanged (docs/inference-plane.md, "Leases").
Runs on the in-process store (SQLite) and on Redis."""

import os
import time

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from apikeys import reservations
from apikeys.models import ApiKey, KeyAlert
from apikeys.services import apikey_revoke
from billing.models import Wallet
from tests.accounts.factories import UserFactory
from tests.api.envelope import assert_envelope
from usage.ingest import usage_ingest

from .factories import CREDIT, fund
from .processes import Worker, shared_backends
from .test_reservations import TTS, make_key, report, spend_of, verify

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def leased():
    """Leases of up to 4 calls, kept for a minute unless a test moves the clock."""
    with override_settings(RESERVATION_LEASE_CALLS=4, RESERVATION_LEASE_SECONDS=60):
        yield


@pytest.fixture
def scripts(monkeypatch):
    """Counts the reservation scripts that answered (each one round trip on Redis; the
    first one of a key finds no counters, which are built, and runs again)."""
    count = {"reserve": 0}
    store = reservations.store()
    original = store.reserve

    def counted(*args, **kwargs):
        answer = original(*args, **kwargs)
        status = answer[0].decode() if isinstance(answer[0], bytes) else answer[0]
        if status not in (reservations.MISSING_KEY, reservations.MISSING_WALLET):
            count["reserve"] += 1
        return answer

    monkeypatch.setattr(store, "reserve", counted)
    return count


def _reserved(key) -> tuple[int, int]:
    period = time.strftime("%Y-%m", time.gmtime())
    return reservations.reserved(key_pk=key.pk, org_pk=key.organization_id, period=period)


def test_one_script_serves_a_lease_of_calls(internal, owner, scripts):
    key, plaintext = make_key(owner, limit=100)  # 33 calls fit: a lease of 4
    answers = [verify(internal, plaintext, estimate={"requests": 1}) for _ in range(4)]

    assert [a.status_code for a in answers] == [200] * 4
    ids = [a.json()["reservation_id"] for a in answers]
    assert len(set(ids)) == 4 and all(i.startswith("rsv_") for i in ids)
    assert scripts["reserve"] == 1
    # Each answer reads as if the reservations were made one by one.
    assert [a.json()["period_reserved_microcredits"] for a in answers] == [
        TTS,
        2 * TTS,
        3 * TTS,
        4 * TTS,
    ]
    assert [a.json()["wallet"]["available_microcredits"] for a in answers] == [
        1000 * CREDIT - i * TTS for i in (1, 2, 3, 4)
    ]
    assert _reserved(key) == (4 * TTS, 4 * TTS)
    assert reservations.leases.held() == 0
    assert verify(internal, plaintext, estimate={"requests": 1}).status_code == 200
    assert scripts["reserve"] == 2  # the lease was used up: a new one
    assert reservations.leases.held() == 3
    assert reservations.reconcile() == []


def test_a_lease_serves_only_the_same_call(internal, owner, scripts):
    key, plaintext = make_key(owner, limit=100)
    assert verify(internal, plaintext, estimate={"requests": 1}).status_code == 200
    assert verify(internal, plaintext, estimate={"requests": 2}).status_code == 200
    assert scripts["reserve"] == 2  # another amount: another lease
    assert _reserved(key)[0] == 4 * TTS + 4 * 2 * TTS
    assert reservations.reconcile() == []


def test_each_leased_reservation_settles_once(internal, owner, django_capture_on_commit_callbacks):
    key, plaintext = make_key(owner, limit=100)
    ids = [
        verify(internal, plaintext, estimate={"requests": 1}).json()["reservation_id"]
        for _ in range(3)
    ]
    body = report(key, ids[1])
    with django_capture_on_commit_callbacks(execute=True):
        assert usage_ingest(events=[body])["accepted"] == 1
        assert usage_ingest(events=[body])["accepted"] == 0  # a replay settles nothing
    assert _reserved(key) == (3 * TTS, 3 * TTS)  # 4 leased, 1 settled
    assert spend_of(key).spend_microcredits == TTS
    assert reservations.reconcile() == []


def test_leases_shrink_near_the_cap_which_holds_exactly(internal, owner, scripts):
    key, plaintext = make_key(owner, limit=30)  # exactly 10 calls of 3 credits
    allowed = 0
    while True:
        answer = verify(internal, plaintext, estimate={"requests": 1})
        if answer.status_code != 200:
            break
        allowed += 1
        spent_and_reserved = _reserved(key)[0]
        assert spent_and_reserved <= 30 * CREDIT  # never past the cap, lease included
    assert allowed == 10
    assert_envelope(answer, 402, "spending_limit_exceeded")
    assert answer.json()["error"]["reserved_microcredits"] == 30 * CREDIT
    # Leases of 4 (10 fit: half is 5), 3 (6 fit), 1, 1, 1: the last calls one at a time.
    assert scripts["reserve"] == 6
    assert reservations.leases.held() == 0
    assert reservations.reconcile() == []


def test_the_wallet_holds_exactly_the_same_way(internal, owner):
    key, plaintext = make_key(owner, credits=30)  # no cap: 10 calls of 3 credits
    statuses = [
        verify(internal, plaintext, estimate={"requests": 1}).status_code for _ in range(12)
    ]
    assert statuses == [200] * 10 + [402] * 2
    assert _reserved(key)[1] == 30 * CREDIT
    assert reservations.reconcile() == []


def test_what_a_lease_did_not_hand_out_is_released_after_its_time(internal, owner, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(reservations, "clock", lambda: now[0])
    key, plaintext = make_key(owner, limit=100)
    assert verify(internal, plaintext, estimate={"requests": 1}).status_code == 200
    assert _reserved(key) == (4 * TTS, 4 * TTS)

    now[0] += 59
    assert reservations.leases.release_due() == 0  # still the lease's time
    now[0] += 2
    assert reservations.leases.release_due() == 3
    assert _reserved(key) == (TTS, TTS)
    assert reservations.leases.held() == 0
    assert reservations.reconcile() == []


def test_the_worker_releases_an_unused_lease_by_itself(internal, owner):
    key, plaintext = make_key(owner, limit=100)
    with override_settings(RESERVATION_LEASE_SECONDS=0.2):
        assert verify(internal, plaintext, estimate={"requests": 1}).status_code == 200
    deadline = time.monotonic() + 10
    while _reserved(key) != (TTS, TTS) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _reserved(key) == (TTS, TTS)  # the daemon thread released the other 3
    assert reservations.leases.held() == 0
    assert reservations.reconcile() == []


def test_a_revoked_key_is_refused_with_a_lease_held(
    internal, owner, django_capture_on_commit_callbacks
):
    key, plaintext = make_key(owner, limit=100)
    assert verify(internal, plaintext, estimate={"requests": 1}).status_code == 200
    assert reservations.leases.held() == 3
    with django_capture_on_commit_callbacks(execute=True):
        apikey_revoke(key=key, actor=owner)
    assert_envelope(verify(internal, plaintext, estimate={"requests": 1}), 401, "key_revoked")
    assert reservations.leases.release_due(everything=True) == 3
    assert _reserved(key) == (TTS, TTS)
    assert reservations.reconcile() == []


def test_a_forked_child_starts_without_the_parents_lease(internal, owner):
    _key, plaintext = make_key(owner, limit=100)
    assert verify(internal, plaintext, estimate={"requests": 1}).status_code == 200
    assert reservations.leases.held() == 3
    pid = os.fork()
    if pid == 0:  # the child: handing out the parent's lease would grant it twice
        os._exit(0 if reservations.leases.held() == 0 else 1)
    _pid, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert reservations.leases.held() == 3


def test_a_call_reserving_nothing_uses_the_counters_just_seen(internal, owner, scripts):
    """With per-worker copies on, a call naming no model (nothing to reserve) is checked
    against the counters this worker's last script answered, for as long as its copy of
    the entry lives; a change that matters drops them with the copy."""
    _key, plaintext = make_key(owner, limit=9)
    with override_settings(VERIFY_LOCAL_CACHE_SECONDS=0.5):
        for _ in range(3):
            assert verify(internal, plaintext, estimate={"requests": 1}).status_code == 200
        runs = scripts["reserve"]
        plain = internal.post("/internal/v1/keys/verify", {"key": plaintext}, format="json")
        assert_envelope(plain, 402, "spending_limit_exceeded")  # 9 of 9 reserved
        assert scripts["reserve"] == runs  # no round trip
        reservations.counters_seen.clear()
        plain = internal.post("/internal/v1/keys/verify", {"key": plaintext}, format="json")
        assert_envelope(plain, 402, "spending_limit_exceeded")
        assert scripts["reserve"] == runs + 1


# --- properties -------------------------------------------------------------------------

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("verify"), st.integers(0, 3)),
        st.tuples(st.just("report"), st.integers(0, 20), st.integers(0, 4)),
        st.tuples(st.just("replay"), st.integers(0, 20)),
        st.tuples(st.just("expire"), st.just(0)),
        st.tuples(st.just("lease_end"), st.just(0)),
    ),
    max_size=16,
)


@hsettings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=OPS)
def test_leases_reserve_settle_expire_replay_lose_nothing(
    internal, django_capture_on_commit_callbacks, ops
):
    """Whatever the order of calls, reports, replays, expiries and lease ends: the
    counters always equal their records and PostgreSQL, spend + reserved never passes the
    cap nor reserved the balance (unused leases included), and the money is exact."""
    reservations.leases.due(everything=True)  # a fresh lease per example
    owner = UserFactory()
    key, plaintext = make_key(owner, credits=40, limit=30)
    granted: list[str] = []
    reported: list[dict] = []
    for op in ops:
        if op[0] == "verify":
            answer = verify(internal, plaintext, estimate={"requests": op[1]})
            assert answer.status_code in (200, 402), answer.content
            if answer.status_code == 200 and answer.json()["reservation_id"]:
                granted.append(answer.json()["reservation_id"])
        elif op[0] == "report" and granted:
            body = report(key, granted[op[1] % len(granted)], requests=op[2])
            reported.append(body)
            with django_capture_on_commit_callbacks(execute=True):
                usage_ingest(events=[body])
        elif op[0] == "replay" and reported:
            with django_capture_on_commit_callbacks(execute=True):
                assert usage_ingest(events=[reported[op[1] % len(reported)]])["accepted"] == 0
        elif op[0] == "expire":
            reservations.store().expire(reservations._prefix(), reservations.now_ms() + 10**9, 100)
        elif op[0] == "lease_end":
            reservations.leases.release_due(everything=True)
        assert reservations.reconcile() == []
        spend = spend_of(key)
        charged = spend.spend_microcredits if spend else 0
        # Reservations, unused leases included, never pass the cap nor the balance (a
        # call reported above its estimate is charged in full: spend itself may).
        key_reserved, wallet_reserved = _reserved(key)
        assert key_reserved <= 30 * CREDIT
        assert wallet_reserved <= 40 * CREDIT
        if not reported:  # nothing charged yet: spend + reserved is the cap's bound
            assert key_reserved <= 30 * CREDIT - charged
    spend = spend_of(key)
    charged = spend.spend_microcredits if spend else 0
    wallet = Wallet.objects.get(organization=key.organization)
    assert wallet.balance_microcredits == 40 * CREDIT - charged


def test_fund_is_what_the_property_starts_from(owner):
    """The wallet the property test funds is the only money it moves."""
    org = make_key(owner, credits=0)[0].organization
    fund(org, 40)
    assert Wallet.objects.get(organization=org).balance_microcredits == 40 * CREDIT


@pytest.mark.django_db(transaction=True)
def test_a_worker_that_exits_releases_its_lease(svc_token):
    """A web worker shutting down (a restart, max-requests) gives its unused lease back."""
    if not shared_backends():
        pytest.skip("needs PostgreSQL and Redis shared by several processes (CI runs them)")
    owner = UserFactory()
    key, plaintext = make_key(owner, limit=100)
    worker = Worker({"RESERVATION_LEASE_CALLS": "4", "RESERVATION_LEASE_SECONDS": "600"})
    try:
        body = {"key": plaintext, "model": "audio-tts", "estimate": {"requests": 1}}
        answer = worker.ask({"verify": body, "token": svc_token})
        assert answer["status"] == 200, answer
        assert _reserved(key) == (4 * TTS, 4 * TTS)
    finally:
        worker.close()
    assert _reserved(key) == (TTS, TTS)
    assert reservations.reconcile() == []


def test_the_cap_alerts_fire_when_a_lease_crosses_them(
    internal, owner, django_capture_on_commit_callbacks
):
    """80% fires with the script whose lease takes spend + reserved across it (handed out
    or not); 100% is always reached by a lease of one call, so auto-disable turns the key
    off exactly after the last call that fits, as without leases."""
    key, plaintext = make_key(owner, limit=30, auto_disable=True)  # 10 calls of 3
    statuses = []
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(8):  # leases of 4, 3, then 1 (24 of 30: 80% with the 8th)
            statuses.append(verify(internal, plaintext, estimate={"requests": 1}).status_code)
            levels = set(KeyAlert.objects.filter(key=key).values_list("level", flat=True))
            if len(statuses) < 8:
                assert levels == set(), len(statuses)
        assert levels == {KeyAlert.Level.HEADS_UP}
        for _ in range(2):
            statuses.append(verify(internal, plaintext, estimate={"requests": 1}).status_code)
    assert statuses == [200] * 10
    levels = set(KeyAlert.objects.filter(key=key).values_list("level", flat=True))
    assert levels == {KeyAlert.Level.HEADS_UP, KeyAlert.Level.CAP}
    key.refresh_from_db()
    assert key.status == ApiKey.Status.DISABLED
    assert_envelope(verify(internal, plaintext, estimate={"requests": 1}), 401, "key_disabled")
    assert reservations.reconcile() == []
