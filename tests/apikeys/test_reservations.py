"""Reservations at verify, settlement on usage, expiry, the store down, caps_check and the
alerts counting reservations. Runs on the in-process store (SQLite) and on Redis."""

import pytest
from django.core.management import CommandError, call_command
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from apikeys import reservations
from apikeys.models import ApiKey, KeyAlert, KeyMonthSpend
from apikeys.tasks import expire_reservations
from billing.models import Wallet
from tests.accounts.factories import UserFactory
from tests.api.envelope import assert_envelope
from usage.ingest import usage_ingest

from .factories import CREDIT, event, fund, key_make, personal

URL = "/internal/v1/keys/verify"
TTS = 3 * CREDIT  # audio-tts, per request


def verify(internal, plaintext, **extra):
    body = {"key": plaintext, "model": "audio-tts", "endpoint": "audio", **extra}
    return internal.post(URL, body, format="json")


def report(key, reservation_id, requests=1, **extra):
    body = event(
        key,
        model="audio-tts",
        endpoint="audio",
        input_tokens=0,
        output_tokens=0,
        requests=requests,
        reservation_id=reservation_id or "",
        **extra,
    )
    return body


def make_key(owner, *, credits=1000, limit=None, **kw):
    org = personal(owner)
    fund(org, credits)
    return key_make(org=org, actor=owner, limit_credits=limit, **kw)


def spend_of(key) -> KeyMonthSpend | None:
    return KeyMonthSpend.objects.filter(key=key).first()


@pytest.mark.django_db
def test_an_estimate_is_priced_reserved_and_answered(internal, owner):
    _key, plaintext = make_key(owner, limit=100)
    response = verify(internal, plaintext, estimate={"requests": 2})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["reservation_id"].startswith("rsv_")
    assert body["period_reserved_microcredits"] == 2 * TTS
    assert body["wallet"]["available_microcredits"] == 1000 * CREDIT - 2 * TTS
    assert body["cache_ttl_seconds"] == 0  # an answer carrying a reservation is for one call


@pytest.mark.django_db
def test_calls_are_allowed_up_to_exactly_the_cap(internal, owner):
    _key, plaintext = make_key(owner, limit=10)  # three calls of 3 fit, a fourth does not
    for _ in range(3):
        assert verify(internal, plaintext, estimate={"requests": 1}).status_code == 200
    error = assert_envelope(
        verify(internal, plaintext, estimate={"requests": 1}), 402, "spending_limit_exceeded"
    )
    assert error["reserved_microcredits"] == 3 * TTS
    assert error["period_spend_microcredits"] == 0
    # Nothing is reserved by a refusal.
    assert reservations.reconcile() == []


@pytest.mark.django_db
def test_the_wallet_allows_exactly_its_available_balance(internal, owner):
    _key, plaintext = make_key(owner, credits=10)  # uncapped key: 3 calls of 3 credits
    answers = [verify(internal, plaintext, estimate={"requests": 1}) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 402]
    error = assert_envelope(answers[3], 402, "insufficient_credits")
    assert error["available_microcredits"] == 1 * CREDIT


@pytest.mark.django_db
def test_a_usage_event_settles_its_reservation_once(
    internal, owner, django_capture_on_commit_callbacks
):
    key, plaintext = make_key(owner, limit=100)
    rid = verify(internal, plaintext, estimate={"requests": 1}).json()["reservation_id"]
    body = report(key, rid)
    with django_capture_on_commit_callbacks(execute=True):
        assert usage_ingest(events=[body])["accepted"] == 1
    answer = verify(internal, plaintext, estimate={"requests": 0}).json()
    assert answer["period_reserved_microcredits"] == 0
    assert answer["period_spend_microcredits"] == TTS
    # The same event again is a duplicate: nothing charged, nothing settled twice.
    with django_capture_on_commit_callbacks(execute=True):
        assert usage_ingest(events=[body])["duplicates"] == 1
    # Another event naming the settled reservation is charged but releases nothing.
    with django_capture_on_commit_callbacks(execute=True):
        usage_ingest(events=[report(key, rid)])
    answer = verify(internal, plaintext, estimate={"requests": 0}).json()
    assert answer["period_reserved_microcredits"] == 0
    assert answer["period_spend_microcredits"] == 2 * TTS == spend_of(key).spend_microcredits
    assert reservations.reconcile() == []


@pytest.mark.django_db
def test_a_call_above_its_estimate_is_charged_and_the_overshoot_recorded(
    internal, owner, client_for, django_capture_on_commit_callbacks
):
    key, plaintext = make_key(owner, limit=100)
    rid = verify(internal, plaintext, estimate={"requests": 1}).json()["reservation_id"]
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            usage_ingest(events=[report(key, rid, requests=3)])["charged_microcredits"]
            == 9 * CREDIT
        )
    row = spend_of(key)
    assert (row.spend_microcredits, row.overshoot_microcredits) == (9 * CREDIT, 6 * CREDIT)
    page = client_for(owner).get(f"/manage-api-keys/{key.public_id}")
    assert page.status_code == 200
    assert "6.00 credits charged beyond the calls' reservations" in page.content.decode()
    assert reservations.reconcile() == []


@pytest.mark.django_db
def test_unreported_reservations_expire(internal, owner, monkeypatch):
    _key, plaintext = make_key(owner, limit=10)
    for _ in range(3):
        assert verify(internal, plaintext, estimate={"requests": 1}).status_code == 200
    assert_envelope(verify(internal, plaintext, estimate={"requests": 1}), 402)
    assert expire_reservations() == 0  # not yet due
    later = reservations.now_ms() + 601 * 1000  # the default TTL is 600 s
    monkeypatch.setattr(reservations, "now_ms", lambda: later)
    assert expire_reservations() == 3  # the beat task
    assert reservations.reconcile() == []
    body = verify(internal, plaintext, estimate={"requests": 1}).json()
    assert body["period_reserved_microcredits"] == TTS


@pytest.mark.django_db
def test_a_verification_releases_expired_reservations_in_passing(internal, owner, settings):
    _key, plaintext = make_key(owner, limit=10)
    settings.RESERVATION_TTL_SECONDS = 0
    for _ in range(3):
        assert verify(internal, plaintext, estimate={"requests": 1}).status_code == 200
    settings.RESERVATION_TTL_SECONDS = 600
    body = verify(internal, plaintext, estimate={"requests": 1}).json()
    assert body["period_reserved_microcredits"] == TTS  # the three expired were released


@pytest.mark.parametrize(
    "estimate",
    [
        {"tokens": 5},
        {"requests": -1},
        {"requests": True},
        {"requests": "1"},
        {"requests": 1.5},
        {"max_output_tokens": 100_000_001},
        [1],
        "big",
    ],
)
@pytest.mark.django_db
def test_a_bad_estimate_is_a_400_in_the_envelope(internal, owner, estimate):
    _key, plaintext = make_key(owner)
    assert_envelope(verify(internal, plaintext, estimate=estimate), 400, "invalid_request")
    assert reservations.reconcile() == []


@pytest.mark.django_db
def test_without_an_estimate_the_family_default_is_reserved(internal, owner):
    _key, plaintext = make_key(owner, limit=100)
    tts = verify(internal, plaintext).json()
    assert tts["period_reserved_microcredits"] == TTS  # one request
    chat = internal.post(
        URL, {"key": plaintext, "model": "gpt-5.5", "endpoint": "chat.completions"}, format="json"
    ).json()
    from billing import catalog  # noqa: PLC0415
    from billing.pricing import Usage, price_microcredits  # noqa: PLC0415

    default = price_microcredits(
        catalog.as_model(catalog.resolve("gpt-5.5")),
        Usage(input_tokens=4096, output_tokens=4096),
    )
    assert chat["period_reserved_microcredits"] == TTS + default


@pytest.mark.django_db
def test_with_the_store_down_capped_keys_fail_closed_and_others_work(internal, owner):
    _capped_key, capped = make_key(owner, limit=100)
    other = UserFactory()
    _key, uncapped = make_key(other)
    previous = reservations.store()
    reservations.use_store(reservations.RedisStore("redis://127.0.0.1:1/0"))  # nobody there
    try:
        error = assert_envelope(verify(internal, capped), 503, "unavailable")
        assert "try again" in error["message"]
        answer = verify(internal, uncapped)
        assert answer.status_code == 200, answer.content
        assert answer.json()["reservation_id"] is None
    finally:
        reservations.use_store(previous)


@pytest.mark.django_db
def test_caps_check_reports_drift_and_fixes_it(internal, owner, capsys):
    key, plaintext = make_key(owner, limit=100)
    assert verify(internal, plaintext, estimate={"requests": 1}).status_code == 200
    call_command("caps_check")
    assert "match" in capsys.readouterr().out
    prefix = reservations._prefix()
    reservations.store().set(f"{prefix}ks:{key.pk}:{spend_period()}", 5)
    reservations.store().set(f"{prefix}kr:{key.pk}:{spend_period()}", 99)
    with pytest.raises(CommandError, match="2 counter"):
        call_command("caps_check")
    with pytest.raises(CommandError):
        call_command("caps_check", "--fix")
    call_command("caps_check")
    body = verify(internal, plaintext, estimate={"requests": 1}).json()
    assert body["period_reserved_microcredits"] == 2 * TTS
    assert body["period_spend_microcredits"] == 0


def spend_period() -> str:
    from django.utils import timezone  # noqa: PLC0415

    return timezone.now().strftime("%Y-%m")


@pytest.mark.django_db
def test_reservations_that_reach_the_cap_alert_and_auto_disable_before_the_calls_run(
    internal, owner, django_capture_on_commit_callbacks
):
    key, plaintext = make_key(owner, limit=9, auto_disable=True)
    with django_capture_on_commit_callbacks(execute=True):
        assert verify(internal, plaintext, estimate={"requests": 1}).status_code == 200
        assert not KeyAlert.objects.filter(key=key).exists()  # 3 of 9: below 80%
        assert verify(internal, plaintext, estimate={"requests": 1}).status_code == 200
        assert verify(internal, plaintext, estimate={"requests": 1}).status_code == 200  # 9 of 9
    levels = set(KeyAlert.objects.filter(key=key).values_list("level", flat=True))
    assert levels == {KeyAlert.Level.HEADS_UP, KeyAlert.Level.CAP}
    key.refresh_from_db()
    assert key.status == ApiKey.Status.DISABLED
    assert_envelope(verify(internal, plaintext), 401, "key_disabled")
    assert not KeyMonthSpend.objects.filter(key=key).exists()  # nothing was spent yet


# --- properties -------------------------------------------------------------------------

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("verify"), st.integers(0, 3)),
        st.tuples(st.just("report"), st.integers(0, 20), st.integers(0, 4)),
        st.tuples(st.just("replay"), st.integers(0, 20)),
        st.tuples(st.just("expire"), st.just(0)),
    ),
    max_size=14,
)


@pytest.mark.django_db
@hsettings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=OPS)
def test_reserve_settle_expire_replay_lose_nothing(
    internal, django_capture_on_commit_callbacks, ops
):
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
        # No lost reservation: every counter equals its records and PostgreSQL.
        assert reservations.reconcile() == []
    spend = spend_of(key)
    charged = spend.spend_microcredits if spend else 0
    wallet = Wallet.objects.get(organization=key.organization)
    assert wallet.balance_microcredits == 40 * CREDIT - charged


@pytest.mark.django_db
def test_the_billing_page_shows_available_less_what_calls_in_flight_reserved(
    internal, owner, client_for
):
    import re  # noqa: PLC0415

    _key, plaintext = make_key(owner)  # 1,000 credits
    assert verify(internal, plaintext, estimate={"requests": 2}).status_code == 200
    html = client_for(owner).get("/billing").content.decode()
    available = (
        re.search(r'data-testid="available">(?:<bdi dir="ltr">)?([^<]+)<', html).group(1).strip()
    )
    assert available == "994.00"
    assert "6.00 credits reserved by calls in flight." in html
