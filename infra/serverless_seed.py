"""The serverless GPU models seeded at install time (``/gpu-recommend``).

Each row points at the ``billing.CatalogModel`` of the same id (family ``gpu``), which
holds its price (per request, or per second capped at ``max_seconds``) and its
"example price" flag. Staff edit both in the admin. Seeding is idempotent: a row that
exists is left alone.
"""

from django.apps import apps as registry

# (slug, what it does, the provider endpoint that serves it, answered inline within seconds)
SERVERLESS_MODELS = [
    (
        "sdxl",
        "Stable Diffusion XL: text-to-image at 1024×1024, one image per call.",
        "hypereal-sdxl",
        30,
    ),
    (
        "wan-video",
        "Wan video: text-to-video and image-to-video clips, billed per second of GPU time.",
        "hypereal-wan-video",
        0,
    ),
]


def seed(apps=None) -> int:
    """Add every missing serverless model whose catalog row exists; returns how many."""
    apps = apps or registry
    CatalogModel = apps.get_model("billing", "CatalogModel")
    ServerlessGpuModel = apps.get_model("infra", "ServerlessGpuModel")
    added = 0
    for slug, description, endpoint, inline_seconds in SERVERLESS_MODELS:
        catalog_model = CatalogModel.objects.filter(model_id=slug).first()
        if catalog_model is None or ServerlessGpuModel.objects.filter(slug=slug).exists():
            continue
        ServerlessGpuModel.objects.create(
            catalog_model=catalog_model,
            slug=slug,
            description=description,
            provider_endpoint_id=endpoint,
            inline_seconds=inline_seconds,
        )
        added += 1
    return added
