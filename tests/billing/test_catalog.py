"""The price catalog as seeded from the product reference, and how staff edit it."""

import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from billing.admin import CatalogModelForm
from billing.models import CatalogModel, FallbackTarget, Intent, ModelAlias
from billing.pricing import Usage, price_microcredits
from billing.selectors import intent_cheapest
from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db

REFERENCE = Path(__file__).resolve().parents[2] / "docs/reference/hypereal-api-reference.txt"
CREDIT = 1_000_000

# The reference prints each family's model list as one run of ids with no separator
# ("gpt-5gpt-5.1gpt-5.2…"), right after a heading. The lists below are checked against that
# text: joined in order they must reproduce the run exactly, up to the next section number,
# so an id missing here (or misspelt) fails the test instead of passing silently.
REFERENCE_LISTS = {
    "النماذج المتوافقة مع OpenAI والمزوّدين": [
        "gpt-5",
        "gpt-5.1",
        "gpt-5.2",
        "gpt-5.3",
        "gpt-5.4",
        "gpt-5.5",
        "gpt-5.5-instant",
        "gpt-5.5-pro",
        "gpt-5.4-mini",
        "gpt-5.4-nano",
        "gpt-5.4-official",
        "gpt-5.4-pro-official",
        "gpt-5.2-official",
        "gpt-5-pro-official",
        "gpt-realtime-1.5-official",
        "gpt-audio-1.5-official",
        "glm-5",
        "qwen3.5-plus",
        "qwen3.5-flash",
        "qwen3-max",
        "deepseek-v3.2",
        "kimi-k2.5",
        "MiniMax-M2.5",
        "nano-banana-2",
    ],
    "نماذج Anthropic": ["claude-opus-4-6", "claude-sonnet-4-6", "claude-haiku-4-5"],
    "نماذج مهيّأة لـ Codex": [
        "gpt-5-codex",
        "gpt-5-codex-mini",
        "gpt-5.1-codex",
        "gpt-5.1-codex-mini",
        "gpt-5.1-codex-max",
        "gpt-5.2-codex",
        "gpt-5.3-codex",
        "gpt-5.3-codex-spark",
        "gpt-5.3-codex-official",
    ],
    "نماذج الصور": [
        "gpt-image-2",
        "gpt-4o-image",
        "nano_banana",
        "nano_banana_2",
        "gemini-3.1-flash-image-preview",
        "gemini-2.5-flash-image-preview",
        "flux-kontext-pro",
        "flux-2-pro",
        "doubao-seedream-4-0",
        "doubao-seedream-4-5",
        "doubao-seedream-5-0",
        "gemini-3.1-flash-image-preview-official",
        "flux-kontext-max",
        "gemini-2.5-flash-image-official",
        "nano_banana_pro",
        "gemini-3-pro-image-preview",
        "flux-2-flex",
        "gemini-3-pro-image-preview-official",
        "gemini-3-pro-image-preview-4K",
        "gemini-3.1-fast-imagen",
        "gemini-3.1-thinking-imagen",
    ],
    "نماذج الفيديو": [
        "gemini_omni",
        "wan2.6-flash",
        "kling-2-6",
        "MiniMax-Hailuo-02",
        "doubao-seedance-1-0-pro-fast",
        "MiniMax-Hailuo-2.3",
        "wan2.6",
        "kling-video-o1",
        "kling-v3-omni",
        "kling-v3",
        "kling-v3-video",
        "doubao-seedance-1-0-pro-quality",
        "doubao-seedance-2-0",
        "doubao-seedance-2-0-fast",
        "doubao-seedance-1-5-pro",
        "Veo3.1-fast-official",
        "Veo3.1-quality-official",
        "veo3.1-fast",
        "veo3.1-quality",
        "vidu-q3-pro",
        "grok-video-3",
    ],
    "نماذج الصوت": ["audio-tts", "audio-clone", "audio-asr"],
    "نماذج Gemini": [
        "gemini-3-pro-official",
        "gemini-3-pro-preview-official",
        "gemini-3-flash-official",
        "gemini-3-flash-preview-official",
        "gemini-3.1-pro",
        "gemini-3.1-pro-preview-official",
        "gemini-3.1-fast",
        "gemini-3.1-thinking",
        "gemini-3.5-thinking",
        "gemini-3.5-fast",
        "gemini-3.1-flash-lite-preview-official",
        "gemini-2.5-pro-official",
        "gemini-2.5-flash-official",
        "gemini-2.5-flash-lite-official",
        "gemini-2.0-flash-official",
        "gemini-2.0-flash-lite-official",
        "gemini-2.0-flash-vip",
        "gemini-2.5-flash-vip",
        "gemini-2.5-pro-vip",
        "gemini-3-flash-preview-vip",
    ],
}
FAMILY_OF_LIST = {
    "النماذج المتوافقة مع OpenAI والمزوّدين": "chat",
    "نماذج Anthropic": "anthropic",
    "نماذج مهيّأة لـ Codex": "codex",
    "نماذج الصور": "image",
    "نماذج الفيديو": "video",
    "نماذج الصوت": "audio",
    "نماذج Gemini": "gemini",
}


def reference_run(heading: str) -> str:
    """The line of ids printed after ``heading`` (which ends its line)."""
    lines = REFERENCE.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if line.endswith(heading):
            return lines[i + 1]
    raise AssertionError(f"heading {heading!r} not found in the reference")


@pytest.mark.parametrize("heading", list(REFERENCE_LISTS))
def test_the_lists_here_are_the_references_lists(heading):
    run = reference_run(heading)
    joined = "".join(REFERENCE_LISTS[heading])
    assert run.startswith(joined), (run, joined)
    # What follows the last id is the next section's number ("04 · …") or nothing.
    assert re.fullmatch(r"(\d{2}\b.*)?", run[len(joined) :]), run[len(joined) :]


@pytest.mark.parametrize("heading", list(REFERENCE_LISTS))
def test_every_model_the_reference_lists_is_in_the_catalog(heading):
    ids = REFERENCE_LISTS[heading]
    seeded = dict(CatalogModel.objects.filter(model_id__in=ids).values_list("model_id", "family"))
    assert sorted(set(ids) - set(seeded)) == []
    assert set(seeded.values()) == {FAMILY_OF_LIST[heading]}
    assert CatalogModel.objects.filter(model_id__in=ids, active=True).count() == len(ids)


def test_models_named_in_the_references_examples_are_in_the_catalog():
    text = REFERENCE.read_text(encoding="utf-8")
    named = set(re.findall(r"""["']?model["']?\s*[:=]\s*["']([\w.\-]+)["']""", text))
    named |= {"nano-banana-t2i"}  # the "pin explicitly" example
    assert {"gpt-5.5", "gemini-3-1-flash-t2i", "grok-video-t2v", "gpt-image-2"} <= named
    missing = named - set(CatalogModel.objects.values_list("model_id", flat=True))
    assert missing == set()


def test_legacy_anthropic_ids_resolve_to_current_models():
    text = REFERENCE.read_text(encoding="utf-8")
    legacy = set(re.findall(r"claude-[a-z0-9-]+-\d{8}", text))
    assert legacy == {
        "claude-sonnet-4-5-20250929",
        "claude-3-5-sonnet-20241022",
        "claude-3-5-haiku-20241022",
    }
    resolved = {a.alias: a.model.model_id for a in ModelAlias.objects.filter(alias__in=legacy)}
    assert resolved == {
        "claude-sonnet-4-5-20250929": "claude-sonnet-4-6",
        "claude-3-5-sonnet-20241022": "claude-sonnet-4-6",
        "claude-3-5-haiku-20241022": "claude-haiku-4-5",
    }
    current = set(REFERENCE_LISTS["نماذج Anthropic"])
    for alias in ModelAlias.objects.select_related("model"):
        assert alias.model.model_id in current and alias.model.active
        assert not CatalogModel.objects.filter(model_id=alias.alias).exists()


def test_every_seeded_model_has_a_fallback_chain_and_an_example_price():
    models = list(CatalogModel.objects.prefetch_related("fallbacks"))
    assert len(models) >= sum(len(v) for v in REFERENCE_LISTS.values())
    for model in models:
        chain = list(model.fallbacks.order_by("position"))
        assert len(chain) >= 2, model.model_id
        assert [t.position for t in chain] == list(range(1, len(chain) + 1))
        assert all(t.provider and t.region for t in chain), model.model_id
        assert len({t.region for t in chain}) == len(chain)
        assert model.default_price is True, model.model_id
        assert model.endpoints, model.model_id


def test_seeded_prices_fit_their_pricing_kind():
    for model in CatalogModel.objects.all():
        if model.pricing == CatalogModel.Pricing.PER_TOKEN:
            assert model.input_nanocredits_per_token > 0 and model.output_nanocredits_per_token > 0
            # Seeded at whole credits per million: price(tokens) is exact, never rounded.
            assert model.input_nanocredits_per_token % 1000 == 0
        else:
            assert model.unit_microcredits > 0, model.model_id
        if model.pricing == CatalogModel.Pricing.PER_SECOND:
            assert model.max_seconds, model.model_id
    per_clip = set(
        CatalogModel.objects.filter(pricing="per_clip").values_list("model_id", flat=True)
    )
    # "per clip (Veo, Vidu, Grok)": every Veo, Vidu and Grok video model, and only those.
    video = CatalogModel.objects.filter(family="video").values_list("model_id", flat=True)
    assert per_clip == {m for m in video if re.match(r"(?i)(veo|vidu|grok)", m)}
    assert set(CatalogModel.objects.filter(family="audio").values_list("pricing", flat=True)) == {
        "per_request"
    }
    image = CatalogModel.objects.get(model_id="gpt-image-2")
    assert sorted(image.tier_microcredits) == ["1K", "2K", "4K"]


# --- intents ---------------------------------------------------------------------------------


def _set_price(model_id: str, credits: float) -> None:
    CatalogModel.objects.filter(model_id=model_id).update(unit_microcredits=int(credits * CREDIT))


def test_intent_picks_the_cheapest_active_candidate():
    intent = Intent.objects.get(name="text-to-image-fast")
    candidates = set(intent.candidates.values_list("model_id", flat=True))
    assert "nano-banana-t2i" in candidates and "gemini-3.1-fast-imagen" in candidates
    # Seeded: Gemini 3.1 Fast Imagen is the cheapest at 2 credits.
    assert intent_cheapest("text-to-image-fast").model_id == "gemini-3.1-fast-imagen"

    _set_price("nano-banana-t2i", 1.5)
    _set_price("gemini-3.1-fast-imagen", 1.75)
    assert intent_cheapest("text-to-image-fast").model_id == "nano-banana-t2i"

    CatalogModel.objects.filter(model_id="nano-banana-t2i").update(active=False)
    assert intent_cheapest("text-to-image-fast").model_id == "gemini-3.1-fast-imagen"

    # A cheaper model outside the intent is never picked.
    _set_price("gemini-3.1-thinking-imagen", 0.01)
    assert "gemini-3.1-thinking-imagen" not in candidates
    assert intent_cheapest("text-to-image-fast").model_id == "gemini-3.1-fast-imagen"

    CatalogModel.objects.filter(model_id__in=candidates).update(active=False)
    assert intent_cheapest("text-to-image-fast") is None
    assert intent_cheapest("no-such-intent") is None


def test_video_intent_compares_a_full_clip():
    """Per-second models are compared at their longest clip, against per-clip prices."""
    for model_id, credits in [
        ("wan2.6-flash", 8),  # 10 s max → 80
        ("doubao-seedance-1-0-pro-fast", 6),  # 12 s max → 72
        ("veo3.1-fast", 100),
        ("grok-video-t2v", 75),
    ]:
        _set_price(model_id, credits)
    assert intent_cheapest("text-to-video-fast").model_id == "doubao-seedance-1-0-pro-fast"
    _set_price("grok-video-t2v", 70)
    assert intent_cheapest("text-to-video-fast").model_id == "grok-video-t2v"


def test_chat_intent_compares_token_prices():
    # Seeded per Mtok: qwen3.5-flash 5 / 20, gpt-5.4-nano 5 / 40, flash-lite 10 / 40.
    assert intent_cheapest("chat-cheap").model_id == "qwen3.5-flash"
    CatalogModel.objects.filter(model_id="gpt-5.4-nano").update(
        input_nanocredits_per_token=1000, output_nanocredits_per_token=2000
    )
    assert intent_cheapest("chat-cheap").model_id == "gpt-5.4-nano"


# --- the admin form ---------------------------------------------------------------------------


def form_data(**overrides) -> dict:
    data = {
        "model_id": "new-chat-model",
        "display_name": "New chat model",
        "family": "chat",
        "endpoints": '["chat.completions"]',
        "active": "on",
        "pricing": "per_token",
        "input_price": "1.25",
        "output_price": "10",
        "unit_price": "",
        "tier_microcredits": "{}",
        "max_seconds": "",
        "default_price": "",
    }
    data.update(overrides)
    return data


def test_admin_form_converts_credits_per_million_tokens_to_nanocredits():
    form = CatalogModelForm(data=form_data())
    assert form.is_valid(), form.errors
    model = form.save()
    model.refresh_from_db()
    assert model.input_nanocredits_per_token == 1250
    assert model.output_nanocredits_per_token == 10_000
    assert model.default_price is False
    # 1.25 credits per million: a million input tokens cost exactly 1.25 credits.
    assert price_microcredits(model, Usage(input_tokens=1_000_000)) == 1_250_000


def test_admin_form_shows_stored_prices_in_credits():
    model = CatalogModel.objects.get(model_id="gpt-5.5")
    form = CatalogModelForm(instance=model)
    assert form.fields["input_price"].initial == 125
    assert form.fields["output_price"].initial == 1000
    image = CatalogModelForm(instance=CatalogModel.objects.get(model_id="nano_banana_pro"))
    assert image.fields["unit_price"].initial == 12


def test_admin_form_unit_price_to_microcredits():
    form = CatalogModelForm(
        data=form_data(
            model_id="new-video",
            family="video",
            endpoints='["videos"]',
            pricing="per_second",
            input_price="",
            output_price="",
            unit_price="12.5",
            max_seconds="10",
        )
    )
    assert form.is_valid(), form.errors
    assert form.save().unit_microcredits == 12_500_000


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"input_price": "-1"}, "input_price", "Prices cannot be negative."),
        ({"output_price": "-0.001"}, "output_price", "Prices cannot be negative."),
        (
            {"pricing": "per_image", "unit_price": "-2", "input_price": "", "output_price": ""},
            "unit_price",
            "Prices cannot be negative.",
        ),
        (
            {"pricing": "per_second", "unit_price": "5", "max_seconds": ""},
            "max_seconds",
            "Per-second models need a maximum.",
        ),
        ({"input_price": ""}, "input_price", "Per-token models need input and output prices."),
        (
            {"pricing": "per_clip", "input_price": "", "output_price": ""},
            "unit_price",
            "Set the unit price.",
        ),
        ({"endpoints": '["telepathy"]'}, "endpoints", "Use a list of"),
        ({"input_price": "1.2345"}, "input_price", "no more than 3 decimal places"),
        ({"model_id": "gpt-5.5"}, "model_id", "already exists"),
    ],
)
def test_admin_form_rejects_bad_prices(overrides, field, message):
    form = CatalogModelForm(data=form_data(**overrides))
    assert not form.is_valid()
    assert any(message in e for e in form.errors.get(field, [])), form.errors
    assert not CatalogModel.objects.filter(model_id="new-chat-model").exists()


def test_admin_catalog_pages_render_for_staff(client):
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    model = CatalogModel.objects.get(model_id="gpt-image-2")
    page = client.get(f"/admin/billing/catalogmodel/{model.pk}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Input (credits per 1M tokens)" in text
    assert "us-east" in text and "eu-central" in text  # the fallback chain inline
    assert client.get("/admin/billing/catalogmodel/?q=claude").status_code == 200


# --- the seed command ---------------------------------------------------------------------------


def run_seed() -> str:
    out = StringIO()
    call_command("catalog_seed", stdout=out)
    return out.getvalue()


def test_catalog_seed_is_idempotent():
    counts = (
        CatalogModel.objects.count(),
        ModelAlias.objects.count(),
        FallbackTarget.objects.count(),
        Intent.objects.count(),
    )
    assert "0 model(s) added" in run_seed()
    assert "0 model(s) added" in run_seed()
    assert (
        CatalogModel.objects.count(),
        ModelAlias.objects.count(),
        FallbackTarget.objects.count(),
        Intent.objects.count(),
    ) == counts


def test_catalog_seed_never_overwrites_an_edited_price():
    form = CatalogModelForm(
        instance=CatalogModel.objects.get(model_id="gpt-5.5"),
        data=form_data(
            model_id="gpt-5.5",
            display_name="GPT-5.5",
            endpoints='["chat.completions", "responses"]',
            input_price="110.5",
            output_price="900",
            default_price="",
        ),
    )
    assert form.is_valid(), form.errors
    form.save()
    CatalogModel.objects.filter(model_id="veo3.1-fast").update(
        unit_microcredits=90 * CREDIT, active=False
    )
    FallbackTarget.objects.filter(model__model_id="gpt-5.5", position=3).delete()

    run_seed()

    edited = CatalogModel.objects.get(model_id="gpt-5.5")
    assert (edited.input_nanocredits_per_token, edited.output_nanocredits_per_token) == (
        110_500,
        900_000,
    )
    assert edited.default_price is False
    assert edited.fallbacks.count() == 2  # a staff-trimmed chain stays trimmed
    veo = CatalogModel.objects.get(model_id="veo3.1-fast")
    assert (veo.unit_microcredits, veo.active) == (90 * CREDIT, False)


def test_catalog_seed_restores_a_deleted_model():
    CatalogModel.objects.filter(model_id="audio-asr").delete()
    assert "1 model(s) added" in run_seed()
    restored = CatalogModel.objects.get(model_id="audio-asr")
    assert restored.default_price and restored.fallbacks.count() == 3
