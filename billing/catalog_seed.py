"""The model catalog seeded from the public API reference (every model it names).

PRICES HERE ARE EXAMPLE DEFAULTS TO REVIEW: each seeded model is marked
``default_price=True`` and the admin and /models page flag it until staff set the real
price. Seeding only adds what is missing; it never overwrites a price staff changed.

Prices are written in credits (100 credits = 1 USD): token prices in credits per million
tokens, unit prices in credits per image / second / clip / request.
"""

from django.apps import apps as registry

CHAT = ["chat.completions"]
CHAT_RESPONSES = ["chat.completions", "responses"]
ANTHROPIC = ["messages"]
CODEX = ["responses", "chat.completions"]
GEMINI = ["gemini", "chat.completions"]

# (model_id, display name, family, endpoints, (input, output) credits per Mtok)
TOKEN_MODELS = [
    ("gpt-5", "GPT-5", "chat", CHAT_RESPONSES, (125, 1000)),
    ("gpt-5.1", "GPT-5.1", "chat", CHAT_RESPONSES, (125, 1000)),
    ("gpt-5.2", "GPT-5.2", "chat", CHAT_RESPONSES, (125, 1000)),
    ("gpt-5.3", "GPT-5.3", "chat", CHAT_RESPONSES, (125, 1000)),
    ("gpt-5.4", "GPT-5.4", "chat", CHAT_RESPONSES, (125, 1000)),
    ("gpt-5.5", "GPT-5.5", "chat", CHAT_RESPONSES, (125, 1000)),
    ("gpt-5.5-instant", "GPT-5.5 Instant", "chat", CHAT_RESPONSES, (60, 480)),
    ("gpt-5.5-pro", "GPT-5.5 Pro", "chat", CHAT_RESPONSES, (1500, 12000)),
    ("gpt-5.4-mini", "GPT-5.4 mini", "chat", CHAT_RESPONSES, (25, 200)),
    ("gpt-5.4-nano", "GPT-5.4 nano", "chat", CHAT_RESPONSES, (5, 40)),
    ("gpt-5.4-official", "GPT-5.4 (official)", "chat", CHAT_RESPONSES, (125, 1000)),
    ("gpt-5.4-pro-official", "GPT-5.4 Pro (official)", "chat", CHAT_RESPONSES, (1500, 12000)),
    ("gpt-5.2-official", "GPT-5.2 (official)", "chat", CHAT_RESPONSES, (125, 1000)),
    ("gpt-5-pro-official", "GPT-5 Pro (official)", "chat", CHAT_RESPONSES, (1500, 12000)),
    ("gpt-realtime-1.5-official", "GPT Realtime 1.5 (official)", "chat", CHAT, (400, 1600)),
    ("gpt-audio-1.5-official", "GPT Audio 1.5 (official)", "chat", CHAT, (250, 1000)),
    ("glm-5", "GLM-5", "chat", CHAT, (60, 220)),
    ("qwen3.5-plus", "Qwen3.5 Plus", "chat", CHAT, (40, 120)),
    ("qwen3.5-flash", "Qwen3.5 Flash", "chat", CHAT, (5, 20)),
    ("qwen3-max", "Qwen3 Max", "chat", CHAT, (120, 600)),
    ("deepseek-v3.2", "DeepSeek V3.2", "chat", CHAT, (28, 42)),
    ("kimi-k2.5", "Kimi K2.5", "chat", CHAT, (60, 250)),
    ("MiniMax-M2.5", "MiniMax M2.5", "chat", CHAT, (30, 120)),
    ("nano-banana-2", "Nano Banana 2 (chat)", "chat", CHAT, (30, 250)),
    ("claude-opus-4-6", "Claude Opus 4.6", "anthropic", ANTHROPIC, (500, 2500)),
    ("claude-sonnet-4-6", "Claude Sonnet 4.6", "anthropic", ANTHROPIC, (300, 1500)),
    ("claude-haiku-4-5", "Claude Haiku 4.5", "anthropic", ANTHROPIC, (100, 500)),
    ("gpt-5-codex", "GPT-5 Codex", "codex", CODEX, (125, 1000)),
    ("gpt-5-codex-mini", "GPT-5 Codex mini", "codex", CODEX, (25, 200)),
    ("gpt-5.1-codex", "GPT-5.1 Codex", "codex", CODEX, (125, 1000)),
    ("gpt-5.1-codex-mini", "GPT-5.1 Codex mini", "codex", CODEX, (25, 200)),
    ("gpt-5.1-codex-max", "GPT-5.1 Codex Max", "codex", CODEX, (125, 1000)),
    ("gpt-5.2-codex", "GPT-5.2 Codex", "codex", CODEX, (125, 1000)),
    ("gpt-5.3-codex", "GPT-5.3 Codex", "codex", CODEX, (125, 1000)),
    ("gpt-5.3-codex-spark", "GPT-5.3 Codex Spark", "codex", CODEX, (60, 480)),
    ("gpt-5.3-codex-official", "GPT-5.3 Codex (official)", "codex", CODEX, (125, 1000)),
    ("gemini-3-pro-official", "Gemini 3 Pro (official)", "gemini", GEMINI, (200, 1200)),
    (
        "gemini-3-pro-preview-official",
        "Gemini 3 Pro Preview (official)",
        "gemini",
        GEMINI,
        (200, 1200),
    ),
    ("gemini-3-flash-official", "Gemini 3 Flash (official)", "gemini", GEMINI, (50, 300)),
    (
        "gemini-3-flash-preview-official",
        "Gemini 3 Flash Preview (official)",
        "gemini",
        GEMINI,
        (50, 300),
    ),
    ("gemini-3.1-pro", "Gemini 3.1 Pro", "gemini", GEMINI, (200, 1200)),
    (
        "gemini-3.1-pro-preview-official",
        "Gemini 3.1 Pro Preview (official)",
        "gemini",
        GEMINI,
        (200, 1200),
    ),
    ("gemini-3.1-fast", "Gemini 3.1 Fast", "gemini", GEMINI, (30, 250)),
    ("gemini-3.1-thinking", "Gemini 3.1 Thinking", "gemini", GEMINI, (125, 1000)),
    ("gemini-3.5-thinking", "Gemini 3.5 Thinking", "gemini", GEMINI, (125, 1000)),
    ("gemini-3.5-fast", "Gemini 3.5 Fast", "gemini", GEMINI, (30, 250)),
    (
        "gemini-3.1-flash-lite-preview-official",
        "Gemini 3.1 Flash-Lite Preview (official)",
        "gemini",
        GEMINI,
        (10, 40),
    ),
    ("gemini-2.5-pro-official", "Gemini 2.5 Pro (official)", "gemini", GEMINI, (125, 1000)),
    ("gemini-2.5-flash-official", "Gemini 2.5 Flash (official)", "gemini", GEMINI, (30, 250)),
    (
        "gemini-2.5-flash-lite-official",
        "Gemini 2.5 Flash-Lite (official)",
        "gemini",
        GEMINI,
        (10, 40),
    ),
    ("gemini-2.0-flash-official", "Gemini 2.0 Flash (official)", "gemini", GEMINI, (10, 40)),
    (
        "gemini-2.0-flash-lite-official",
        "Gemini 2.0 Flash-Lite (official)",
        "gemini",
        GEMINI,
        (8, 30),
    ),
    ("gemini-2.0-flash-vip", "Gemini 2.0 Flash VIP", "gemini", GEMINI, (10, 40)),
    ("gemini-2.5-flash-vip", "Gemini 2.5 Flash VIP", "gemini", GEMINI, (30, 250)),
    ("gemini-2.5-pro-vip", "Gemini 2.5 Pro VIP", "gemini", GEMINI, (125, 1000)),
    ("gemini-3-flash-preview-vip", "Gemini 3 Flash Preview VIP", "gemini", GEMINI, (50, 300)),
]

# (model_id, display name, credits per generation, {tier: credits} or None)
IMAGE_MODELS = [
    ("gpt-image-2", "GPT Image 2", 4, {"1K": 4, "2K": 8, "4K": 16}),
    ("gpt-4o-image", "GPT-4o Image", 4, None),
    ("nano_banana", "Nano Banana", 3, None),
    ("nano_banana_2", "Nano Banana 2", 4, None),
    ("nano_banana_pro", "Nano Banana Pro", 12, None),
    ("nano-banana-t2i", "Nano Banana (text-to-image)", 3, None),
    (
        "gemini-3-1-flash-t2i",
        "NanoBanana 2 (Gemini 3.1 Flash)",
        4,
        {"0.5K": 2, "1K": 4, "2K": 6, "4K": 10},
    ),
    ("gemini-3.1-flash-image-preview", "Gemini 3.1 Flash Image Preview", 4, None),
    (
        "gemini-3.1-flash-image-preview-official",
        "Gemini 3.1 Flash Image Preview (official)",
        5,
        None,
    ),
    ("gemini-2.5-flash-image-preview", "Gemini 2.5 Flash Image Preview", 3, None),
    ("gemini-2.5-flash-image-official", "Gemini 2.5 Flash Image (official)", 4, None),
    ("gemini-3-pro-image-preview", "Gemini 3 Pro Image Preview", 12, None),
    ("gemini-3-pro-image-preview-official", "Gemini 3 Pro Image Preview (official)", 14, None),
    ("gemini-3-pro-image-preview-4K", "Gemini 3 Pro Image Preview 4K", 24, None),
    ("gemini-3.1-fast-imagen", "Gemini 3.1 Fast Imagen", 2, None),
    ("gemini-3.1-thinking-imagen", "Gemini 3.1 Thinking Imagen", 6, None),
    ("flux-kontext-pro", "FLUX Kontext Pro", 4, None),
    ("flux-kontext-max", "FLUX Kontext Max", 8, None),
    ("flux-2-pro", "FLUX.2 Pro", 5, None),
    ("flux-2-flex", "FLUX.2 Flex", 3, None),
    ("doubao-seedream-4-0", "Seedream 4.0", 3, None),
    ("doubao-seedream-4-5", "Seedream 4.5", 4, None),
    ("doubao-seedream-5-0", "Seedream 5.0", 5, None),
]

# (model_id, display name, pricing, credits per second or per clip, max seconds)
VIDEO_MODELS = [
    ("gemini_omni", "Gemini Omni", "per_second", 20, 10),
    ("wan2.6-flash", "Wan 2.6 Flash", "per_second", 8, 10),
    ("wan2.6", "Wan 2.6", "per_second", 15, 15),
    ("kling-2-6", "Kling 2.6", "per_second", 14, 10),
    ("kling-video-o1", "Kling Video O1", "per_second", 20, 10),
    ("kling-v3-omni", "Kling V3 Omni", "per_second", 25, 10),
    ("kling-v3", "Kling V3", "per_second", 20, 10),
    ("kling-v3-video", "Kling V3 Video", "per_second", 20, 10),
    ("MiniMax-Hailuo-02", "MiniMax Hailuo 02", "per_second", 10, 10),
    ("MiniMax-Hailuo-2.3", "MiniMax Hailuo 2.3", "per_second", 12, 10),
    ("doubao-seedance-1-0-pro-fast", "Seedance 1.0 Pro Fast", "per_second", 6, 12),
    ("doubao-seedance-1-0-pro-quality", "Seedance 1.0 Pro Quality", "per_second", 12, 12),
    ("doubao-seedance-1-5-pro", "Seedance 1.5 Pro", "per_second", 14, 12),
    ("doubao-seedance-2-0", "Seedance 2.0", "per_second", 18, 12),
    ("doubao-seedance-2-0-fast", "Seedance 2.0 Fast", "per_second", 10, 12),
    ("Veo3.1-fast-official", "Veo 3.1 Fast (official)", "per_clip", 120, None),
    ("Veo3.1-quality-official", "Veo 3.1 Quality (official)", "per_clip", 320, None),
    ("veo3.1-fast", "Veo 3.1 Fast", "per_clip", 100, None),
    ("veo3.1-quality", "Veo 3.1 Quality", "per_clip", 280, None),
    ("vidu-q3-pro", "Vidu Q3 Pro", "per_clip", 60, None),
    ("grok-video-3", "Grok Video 3", "per_clip", 50, None),
    ("grok-video-t2v", "Grok Video (text-to-video)", "per_clip", 50, None),
]

# (model_id, display name, family, endpoints, pricing, credits per unit, max seconds)
OTHER_MODELS = [
    ("audio-tts", "Fish Audio TTS", "audio", ["audio"], "per_request", 3, None),
    ("audio-clone", "Fish Audio voice clone", "audio", ["audio"], "per_request", 20, None),
    ("audio-asr", "Fish Audio ASR", "audio", ["audio"], "per_request", 3, None),
    ("sdxl", "SDXL (serverless GPU)", "gpu", ["gpu"], "per_request", 50, None),
    ("wan-video", "Wan video (serverless GPU)", "gpu", ["gpu"], "per_second", 2, 600),
]

ALIASES = {
    "claude-sonnet-4-5-20250929": "claude-sonnet-4-6",
    "claude-3-5-sonnet-20241022": "claude-sonnet-4-6",
    "claude-3-5-haiku-20241022": "claude-haiku-4-5",
    "claude-3-7-sonnet-20250219": "claude-sonnet-4-6",
    "claude-opus-4-1-20250805": "claude-opus-4-6",
}

INTENTS = {
    "text-to-image-fast": (
        "Fast, inexpensive text-to-image",
        [
            "nano_banana",
            "nano-banana-t2i",
            "gemini-3.1-fast-imagen",
            "flux-2-flex",
            "doubao-seedream-4-0",
        ],
    ),
    "text-to-image-quality": (
        "Highest-quality text-to-image",
        ["gpt-image-2", "nano_banana_pro", "flux-2-pro", "gemini-3-pro-image-preview"],
    ),
    "text-to-video-fast": (
        "Fast text-to-video",
        ["wan2.6-flash", "doubao-seedance-1-0-pro-fast", "veo3.1-fast", "grok-video-t2v"],
    ),
    "chat-cheap": (
        "The least expensive capable chat models",
        ["gpt-5.4-nano", "qwen3.5-flash", "gemini-2.5-flash-lite-official"],
    ),
}

PROVIDERS = {
    "chat": "openai",
    "codex": "openai",
    "anthropic": "anthropic",
    "gemini": "google",
    "image": "toapi",
    "video": "toapi",
    "audio": "fish-audio",
    "gpu": "hypereal-gpu",
}
REGIONS = ["us-east", "us-west", "eu-central"]

MICRO = 1_000_000
NANO_PER_CREDIT_PER_MTOK = 1_000


def rows() -> list[dict]:
    out: list[dict] = []
    for model_id, name, family, endpoints, (inp, outp) in TOKEN_MODELS:
        out.append(
            dict(
                model_id=model_id,
                display_name=name,
                family=family,
                endpoints=endpoints,
                pricing="per_token",
                input_nanocredits_per_token=inp * NANO_PER_CREDIT_PER_MTOK,
                output_nanocredits_per_token=outp * NANO_PER_CREDIT_PER_MTOK,
            )
        )
    for model_id, name, credits, tiers in IMAGE_MODELS:
        out.append(
            dict(
                model_id=model_id,
                display_name=name,
                family="image",
                endpoints=["images"],
                pricing="per_image",
                unit_microcredits=credits * MICRO,
                tier_microcredits={k: v * MICRO for k, v in (tiers or {}).items()},
            )
        )
    for model_id, name, pricing, credits, max_seconds in VIDEO_MODELS:
        out.append(
            dict(
                model_id=model_id,
                display_name=name,
                family="video",
                endpoints=["videos"],
                pricing=pricing,
                unit_microcredits=credits * MICRO,
                max_seconds=max_seconds,
            )
        )
    for model_id, name, family, endpoints, pricing, credits, max_seconds in OTHER_MODELS:
        out.append(
            dict(
                model_id=model_id,
                display_name=name,
                family=family,
                endpoints=endpoints,
                pricing=pricing,
                unit_microcredits=credits * MICRO,
                max_seconds=max_seconds,
            )
        )
    return out


def seed(apps=None) -> int:
    """Add every missing model, alias, fallback chain and intent; returns models added."""
    if apps is None:
        apps = registry
    CatalogModel = apps.get_model("billing", "CatalogModel")
    ModelAlias = apps.get_model("billing", "ModelAlias")
    FallbackTarget = apps.get_model("billing", "FallbackTarget")
    Intent = apps.get_model("billing", "Intent")
    added = 0
    for row in rows():
        model, created = CatalogModel.objects.get_or_create(
            model_id=row["model_id"], defaults={**row, "default_price": True, "active": True}
        )
        added += created
        if created:
            provider = PROVIDERS[row["family"]]
            for position, region in enumerate(REGIONS, start=1):
                FallbackTarget.objects.create(
                    model=model,
                    position=position,
                    provider=provider,
                    region=region,
                    upstream_model=row["model_id"],
                )
    for alias, target in ALIASES.items():
        ModelAlias.objects.get_or_create(
            alias=alias, defaults={"model": CatalogModel.objects.get(model_id=target)}
        )
    for name, (description, members) in INTENTS.items():
        intent, _ = Intent.objects.get_or_create(name=name, defaults={"description": description})
        intent.candidates.add(*CatalogModel.objects.filter(model_id__in=members))
    return added
