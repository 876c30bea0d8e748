"""Every change to a deployment: create, update, delete, and the provider's status.

The rules are checked here once, for the API, the pages and the admin alike. Each change
is audited in its transaction. The provider is called *after* the row is committed: a
provider that is down never loses the deployment nor turns into a 500. A retryable
failure leaves the work to the beat task (``deployments_refresh``), which creates the
endpoint, pushes pending settings, finishes deletes and turns ``deploying`` into
``ready`` or ``failed``.
"""

import base64
import json
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from hypereal_site.api.errors import ApplicationError
from hypereal_site.crypto import decrypt, encrypt
from hypereal_site.outbound import OutboundError, check_url
from orgs.audit import Target, audit_record
from orgs.models import Organization

from . import providers
from .models import Deployment, GpuType
from .providers.base import EndpointHealth, EndpointSpec, ProviderError
from .signals import deployment_status_changed

logger = logging.getLogger("hypereal.infra")

# --- limits (docs/gpu_deployments.md lists them) ----------------------------------------
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
# A Docker image reference: [registry[:port]/]path[:tag][@sha256:digest], lower-case path.
IMAGE_RE = re.compile(
    r"^(?:[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?::[0-9]{1,5})?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
MAX_GPU_TYPES = 3
MAX_GPU_COUNT = 8
MAX_ENV_VARS = 50
MAX_ENV_VALUE = 4096
MAX_ENV_BYTES = 16 * 1024
IDLE_TIMEOUT_RANGE = (1, 3600)
EXECUTION_TIMEOUT_RANGE = (5, 86400)


def max_workers_limit() -> int:
    return int(getattr(settings, "GPU_MAX_WORKERS", 20))


def deploy_timeout() -> timedelta:
    """How long a deployment may stay ``deploying`` before it is marked ``failed``."""
    return timedelta(seconds=int(getattr(settings, "GPU_DEPLOY_TIMEOUT_SECONDS", 900)))


# --- the settings of a deployment, validated --------------------------------------------

# Python names → the API's names, for error messages keyed like the request body.
API_FIELDS = {
    "slug": "slug",
    "name": "name",
    "docker_image": "dockerImage",
    "gpu_types": "gpuTypes",
    "gpu_count": "gpuCount",
    "min_workers": "minWorkers",
    "max_workers": "maxWorkers",
    "idle_timeout_seconds": "idleTimeoutSeconds",
    "execution_timeout_seconds": "executionTimeoutSeconds",
    "env": "env",
    "webhook_url": "webhookUrl",
}


def parse_gpu_types(value) -> list[str]:
    """``"ADA_48_PRO,AMPERE_80"`` or ``["ADA_48_PRO", "AMPERE_80"]`` → codes in order
    (known active codes, 1 to 3, no repeats), or a ``ValidationError``."""
    if isinstance(value, str):
        codes = [part.strip() for part in value.split(",")]
    elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        codes = [v.strip() for v in value]
    else:
        raise ValidationError(_("Give GPU type codes as a list or a comma-separated string."))
    codes = [c for c in codes if c]
    if not codes:
        raise ValidationError(_("Choose at least one GPU type."))
    if len(codes) > MAX_GPU_TYPES:
        raise ValidationError(
            _("Choose at most %(n)d GPU types, in priority order.") % {"n": MAX_GPU_TYPES}
        )
    if len(set(codes)) != len(codes):
        raise ValidationError(_("A GPU type is listed twice."))
    known = set(GpuType.objects.filter(active=True, code__in=codes).values_list("code", flat=True))
    unknown = [c for c in codes if c not in known]
    if unknown:
        available = ", ".join(GpuType.objects.filter(active=True).values_list("code", flat=True))
        raise ValidationError(
            _("Unknown GPU type %(codes)s; available: %(available)s.")
            % {"codes": ", ".join(c[:40] for c in unknown), "available": available}
        )
    return codes


def _int_in(errors: dict, field: str, value, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        errors[field] = _("Must be a whole number.")
    elif not low <= value <= high:
        errors[field] = _("Must be between %(low)d and %(high)d.") % {"low": low, "high": high}


def _check_env(env) -> dict[str, str]:
    if not isinstance(env, dict):
        raise ValidationError(_("Give environment variables as an object of names to values."))
    if len(env) > MAX_ENV_VARS:
        raise ValidationError(_("At most %(n)d environment variables.") % {"n": MAX_ENV_VARS})
    for name, value in env.items():
        if not isinstance(name, str) or not ENV_NAME_RE.match(name):
            raise ValidationError(
                _("%(name)s is not a valid variable name (letters, digits and _).")
                % {"name": str(name)[:40].replace("\x00", "")}
            )
        if not isinstance(value, str) or "\x00" in value or len(value) > MAX_ENV_VALUE:
            raise ValidationError(
                _("The value of %(name)s must be text of at most %(n)d characters.")
                % {"name": name, "n": MAX_ENV_VALUE}
            )
    if len(json.dumps(env).encode()) > MAX_ENV_BYTES:
        raise ValidationError(
            _("Environment variables take at most %(kb)d KB in all.")
            % {"kb": MAX_ENV_BYTES // 1024}
        )
    return dict(env)


def _check_webhook_url(url: str) -> str:
    if not isinstance(url, str):
        raise ValidationError(_("Give a URL."))
    url = url.strip()
    if not url:
        return ""
    if len(url) > 500:
        raise ValidationError(_("At most 500 characters."))
    try:
        check_url(url)
    except OutboundError as exc:
        raise ValidationError(exc.message) from None
    return url


def _validate(values: dict, *, unchanged: frozenset = frozenset()) -> dict:
    """Check a full set of settings; answer them cleaned or raise ``ValidationError``
    keyed by the API's field names. Fields in ``unchanged`` (an update that does not name
    them) keep their stored value unchecked against today's catalog and DNS: turning a GPU
    type off must not block renaming a deployment that uses it."""
    errors: dict[str, str] = {}
    clean = dict(values)
    name = values.get("name")
    if not isinstance(name, str) or not name.strip() or "\x00" in name or len(name) > 100:
        errors["name"] = _("Give a name of 1 to 100 characters.")
    else:
        clean["name"] = name.strip()
    image = values.get("docker_image")
    if not isinstance(image, str) or len(image) > 255 or not IMAGE_RE.match(image.strip()):
        errors["dockerImage"] = _(
            "Give a Docker image such as runpod/worker-comfyui:5.1.0-base "
            "(lower-case, optional registry, tag or digest)."
        )
    else:
        clean["docker_image"] = image.strip()
    if "gpu_types" not in unchanged:
        try:
            clean["gpu_types"] = parse_gpu_types(values.get("gpu_types"))
        except ValidationError as exc:
            errors["gpuTypes"] = exc.messages[0]
    _int_in(errors, "gpuCount", values.get("gpu_count"), 1, MAX_GPU_COUNT)
    limit = max_workers_limit()
    _int_in(errors, "minWorkers", values.get("min_workers"), 0, limit)
    _int_in(errors, "maxWorkers", values.get("max_workers"), 1, limit)
    if (
        "minWorkers" not in errors
        and "maxWorkers" not in errors
        and values["min_workers"] > values["max_workers"]
    ):
        errors["minWorkers"] = _("Minimum workers cannot be more than maximum workers.")
    _int_in(errors, "idleTimeoutSeconds", values.get("idle_timeout_seconds"), *IDLE_TIMEOUT_RANGE)
    _int_in(
        errors,
        "executionTimeoutSeconds",
        values.get("execution_timeout_seconds"),
        *EXECUTION_TIMEOUT_RANGE,
    )
    try:
        clean["env"] = _check_env(values.get("env") or {})
    except ValidationError as exc:
        errors["env"] = exc.messages[0]
    if "webhook_url" not in unchanged:
        try:
            clean["webhook_url"] = _check_webhook_url(values.get("webhook_url") or "")
        except ValidationError as exc:
            errors["webhookUrl"] = exc.messages[0]
    if errors:
        raise ValidationError(errors)
    return clean


def _check_slug(slug) -> str:
    if not isinstance(slug, str) or not SLUG_RE.match(slug):
        raise ValidationError(
            {
                "slug": _(
                    "Use 1 to 64 lower-case letters, digits and hyphens, "
                    "starting and ending with a letter or digit."
                )
            }
        )
    return slug


def _slug_taken(slug: str) -> ApplicationError:
    return ApplicationError(
        "slug_taken",
        _("A deployment named %(slug)s already exists here.") % {"slug": slug},
        status=409,
    )


def new_webhook_secret() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


# --- reading back what is stored ----------------------------------------------------------


def deployment_env(deployment: Deployment) -> dict[str, str]:
    """The decrypted environment (for the provider only; never shown back)."""
    if not deployment.env_encrypted:
        return {}
    return json.loads(decrypt(deployment.env_encrypted))


def deployment_env_names(deployment: Deployment) -> list[str]:
    return sorted(deployment_env(deployment))


def deployment_webhook_secret(deployment: Deployment) -> str:
    """The ``whsec_…`` secret that signs this deployment's webhooks ("" when none)."""
    if not deployment.webhook_secret_encrypted:
        return ""
    return decrypt(deployment.webhook_secret_encrypted)


def _target(deployment: Deployment) -> Target:
    return Target("deployment", deployment.public_id, deployment.slug)


def _snapshot(deployment: Deployment, env_names: list[str] | None = None) -> dict:
    """What the audit log stores: every setting, the environment by its names only."""
    return {
        "name": deployment.name,
        "docker_image": deployment.docker_image,
        "gpu_types": list(deployment.gpu_types),
        "gpu_count": deployment.gpu_count,
        "min_workers": deployment.min_workers,
        "max_workers": deployment.max_workers,
        "idle_timeout_seconds": deployment.idle_timeout_seconds,
        "execution_timeout_seconds": deployment.execution_timeout_seconds,
        "env_names": env_names if env_names is not None else deployment_env_names(deployment),
        "webhook_url": deployment.webhook_url,
    }


def _spec(deployment: Deployment) -> EndpointSpec:
    ids = dict(
        GpuType.objects.filter(code__in=deployment.gpu_types).values_list("code", "provider_gpu_id")
    )
    return EndpointSpec(
        # Unique at the provider, readable in its console.
        name=f"hr-{deployment.public_id}-{deployment.slug}"[:100],
        docker_image=deployment.docker_image,
        gpu_type_ids=[ids[code] for code in deployment.gpu_types if code in ids],
        gpu_count=deployment.gpu_count,
        min_workers=deployment.min_workers,
        max_workers=deployment.max_workers,
        idle_timeout_seconds=deployment.idle_timeout_seconds,
        execution_timeout_seconds=deployment.execution_timeout_seconds,
        env=deployment_env(deployment),
    )


#: The fields of a status detail (a code of hypereal_site.reasons and its parameters).
DETAIL_FIELDS = ["status_detail_code", "status_detail_params"]


def _provider_error(exc: ProviderError) -> dict:
    """A provider failure's parameters: its own (English) words, kept as given."""
    return {"error": str(exc)[:300]}


def _set_status(
    deployment: Deployment, status: str, detail: str = "", params: dict | None = None
) -> None:
    """Change the status (inside the caller's transaction) and tell the apps above;
    ``detail`` is a code of hypereal_site.reasons, translated when shown."""
    previous = deployment.status
    deployment.status = status
    deployment.status_detail_code, deployment.status_detail_params = detail, params or {}
    if previous != status:
        deployment.status_changed_at = timezone.now()
    deployment.save(update_fields=["status", *DETAIL_FIELDS, "status_changed_at", "updated_at"])
    if previous != status and status in (Deployment.Status.READY, Deployment.Status.FAILED):
        deployment_status_changed.send(sender=Deployment, deployment=deployment, previous=previous)


# --- create / update / delete ----------------------------------------------------------------


@dataclass(frozen=True)
class Created:
    deployment: Deployment
    webhook_secret: str  # "" when the deployment has no webhook URL


def deployment_create(
    *,
    organization: Organization,
    actor: User | None,
    slug: str,
    docker_image: str,
    gpu_types,
    name: str | None = None,
    gpu_count: int = 1,
    min_workers: int = 0,
    max_workers: int = 1,
    idle_timeout_seconds: int = 5,
    execution_timeout_seconds: int = 600,
    env: dict | None = None,
    webhook_url: str = "",
) -> Created:
    """A new deployment (``deploying``) and its provider endpoint. The ``whsec_`` secret
    is in the answer once when there is a webhook URL. A slug already used in this
    tenant is a 409 ``slug_taken``."""
    slug = _check_slug(slug)
    values = _validate(
        {
            "name": slug if name is None else name,
            "docker_image": docker_image,
            "gpu_types": gpu_types,
            "gpu_count": gpu_count,
            "min_workers": min_workers,
            "max_workers": max_workers,
            "idle_timeout_seconds": idle_timeout_seconds,
            "execution_timeout_seconds": execution_timeout_seconds,
            "env": env,
            "webhook_url": webhook_url,
        }
    )
    secret = new_webhook_secret() if values["webhook_url"] else ""
    env_clean = values.pop("env")
    if Deployment.objects.filter(
        organization=organization, slug=slug, deleted_at__isnull=True
    ).exists():
        raise _slug_taken(slug)
    try:
        with transaction.atomic():
            deployment = Deployment.objects.create(
                organization=organization,
                created_by=actor,
                slug=slug,
                env_encrypted=encrypt(json.dumps(env_clean)) if env_clean else "",
                webhook_secret_encrypted=encrypt(secret) if secret else "",
                status=Deployment.Status.DEPLOYING,
                **values,
            )
            audit_record(
                organization=organization,
                actor=actor,
                action="deployment.created",
                target=_target(deployment),
                after=_snapshot(deployment, sorted(env_clean)),
            )
    except IntegrityError:
        # Two creates racing for one slug: the unique constraint decides.
        raise _slug_taken(slug) from None
    _provider_create(deployment)
    return Created(deployment=deployment, webhook_secret=secret)


def _provider_create(deployment: Deployment) -> None:
    """Create the provider endpoint; a retryable failure is left to the beat task. A lease
    in the cache keeps the request and the beat task from creating two endpoints."""
    lease = f"infra:endpoint-create:{deployment.pk}"
    if not cache.add(lease, 1, timeout=300):
        return
    try:
        deployment.refresh_from_db()
        if deployment.provider_endpoint_id or deployment.status != Deployment.Status.DEPLOYING:
            return
        try:
            endpoint_id = providers.get_provider().create_endpoint(_spec(deployment))
        except ProviderError as exc:
            _provider_failed(deployment, exc, "create")
            return
        _endpoint_created(deployment, endpoint_id)
    finally:
        cache.delete(lease)


def _endpoint_created(deployment: Deployment, endpoint_id: str) -> None:
    with transaction.atomic():
        locked = Deployment.objects.select_for_update().get(pk=deployment.pk)
        locked.provider_endpoint_id = endpoint_id[:100]
        locked.status_detail_code, locked.status_detail_params = "", {}
        locked.save(update_fields=["provider_endpoint_id", *DETAIL_FIELDS, "updated_at"])
    deployment.refresh_from_db()


def _provider_failed(deployment: Deployment, exc: ProviderError, step: str) -> None:
    """``step`` is "create" or "update": the status detail's code names it
    (``endpoint_create_failed``, ``endpoint_update_refused``…)."""
    logger.warning("provider: %s for deployment %s: %s", step, deployment.public_id, exc)
    with transaction.atomic():
        locked = Deployment.objects.select_for_update().get(pk=deployment.pk)
        if exc.retryable:
            locked.status_detail_code = f"endpoint_{step}_failed"
            locked.status_detail_params = _provider_error(exc)
            locked.save(update_fields=[*DETAIL_FIELDS, "updated_at"])
        else:
            _set_status(
                locked, Deployment.Status.FAILED, f"endpoint_{step}_refused", _provider_error(exc)
            )
    deployment.refresh_from_db()


UPDATABLE = (
    "name",
    "docker_image",
    "gpu_types",
    "gpu_count",
    "min_workers",
    "max_workers",
    "idle_timeout_seconds",
    "execution_timeout_seconds",
    "env",
    "webhook_url",
)


def deployment_update(*, deployment: Deployment, actor: User | None, **changes) -> Created:
    """Change some settings (the others stay); the provider endpoint is updated. A
    webhook URL set where there was none creates the secret, in the answer once."""
    unknown = set(changes) - set(UPDATABLE)
    if unknown:
        raise TypeError(f"not updatable: {sorted(unknown)}")
    if deployment.deleted_at is not None or deployment.status == Deployment.Status.DELETING:
        raise ApplicationError(
            "deployment_deleting", _("This deployment is being deleted."), status=409
        )
    old_env = deployment_env(deployment)
    current = {f: getattr(deployment, f) for f in UPDATABLE if f != "env"}
    current["env"] = old_env
    unchanged = frozenset(
        f for f in ("gpu_types", "webhook_url") if f not in changes or changes[f] == current[f]
    )
    values = _validate({**current, **changes}, unchanged=unchanged)
    env_clean = values.pop("env")
    before = _snapshot(deployment, sorted(old_env))
    secret = ""
    with transaction.atomic():
        locked = Deployment.objects.select_for_update().get(pk=deployment.pk)
        for field, value in values.items():
            setattr(locked, field, value)
        if "env" in changes and env_clean != old_env:
            locked.env_encrypted = encrypt(json.dumps(env_clean)) if env_clean else ""
        if locked.webhook_url and not locked.webhook_secret_encrypted:
            secret = new_webhook_secret()
            locked.webhook_secret_encrypted = encrypt(secret)
        after = _snapshot(locked, sorted(env_clean))
        provider_fields = set(after) - {"name", "webhook_url"}
        provider_changed = any(before[f] != after[f] for f in provider_fields)
        if "env" in changes and env_clean != old_env:
            provider_changed = True  # a value changed under the same names
        if provider_changed and locked.provider_endpoint_id:
            locked.provider_sync_pending = True
        locked.save()
        changed = {f for f in after if before[f] != after[f]}
        if "env" in changes and env_clean != old_env:
            changed.add("env_names")
        if changed or secret:
            audit_record(
                organization=locked.organization,
                actor=actor,
                action="deployment.updated",
                target=_target(locked),
                before={f: before[f] for f in sorted(changed)},
                after={f: after[f] for f in sorted(changed)},
            )
    if locked.provider_sync_pending:
        _provider_update(locked)
    locked.refresh_from_db()
    return Created(deployment=locked, webhook_secret=secret)


def _provider_update(deployment: Deployment) -> None:
    try:
        providers.get_provider().update_endpoint(deployment.provider_endpoint_id, _spec(deployment))
    except ProviderError as exc:
        _provider_failed(deployment, exc, "update")
        return
    Deployment.objects.filter(pk=deployment.pk, updated_at=deployment.updated_at).update(
        provider_sync_pending=False
    )


def deployment_delete(*, deployment: Deployment, actor: User | None) -> Deployment:
    """Mark it ``deleting`` and delete the provider endpoint; once the provider let it go
    the row is soft-deleted (hidden, its slug free, its jobs keep their history)."""
    with transaction.atomic():
        locked = Deployment.objects.select_for_update().get(pk=deployment.pk)
        if locked.deleted_at is not None:
            return locked
        if locked.status != Deployment.Status.DELETING:
            previous = locked.status
            _set_status(locked, Deployment.Status.DELETING)
            audit_record(
                organization=locked.organization,
                actor=actor,
                action="deployment.deleted",
                target=_target(locked),
                before={"status": previous},
                after={"status": Deployment.Status.DELETING},
            )
    _provider_delete(locked)
    locked.refresh_from_db()
    return locked


def _provider_delete(deployment: Deployment) -> None:
    if deployment.provider_endpoint_id:
        try:
            providers.get_provider().delete_endpoint(deployment.provider_endpoint_id)
        except ProviderError as exc:
            if exc.status != 404:  # already gone at the provider: done
                logger.warning("provider: delete %s: %s", deployment.public_id, exc)
                Deployment.objects.filter(pk=deployment.pk).update(
                    status_detail_code="endpoint_delete_failed",
                    status_detail_params=_provider_error(exc),
                )
                return
    Deployment.objects.filter(pk=deployment.pk, deleted_at__isnull=True).update(
        deleted_at=timezone.now(), status_detail_code="", status_detail_params={}
    )


# --- the beat task's work -------------------------------------------------------------------


def _is_up(deployment: Deployment, health: EndpointHealth) -> bool:
    """Ready when the provider answers for the endpoint and, if it keeps warm workers,
    at least one of them is up (with no minimum, workers start with the first job)."""
    if deployment.min_workers == 0:
        return True
    return health.workers_idle + health.workers_running >= 1


def deployment_refresh(*, deployment: Deployment) -> Deployment:
    """One step of the reconcile loop for one deployment (idempotent)."""
    if deployment.deleted_at is not None:
        return deployment
    if deployment.status == Deployment.Status.DELETING:
        _provider_delete(deployment)
        deployment.refresh_from_db()
        return deployment
    if deployment.status == Deployment.Status.FAILED:
        return deployment
    if not deployment.provider_endpoint_id:
        _provider_create(deployment)
        deployment.refresh_from_db()
    elif deployment.provider_sync_pending:
        _provider_update(deployment)
        deployment.refresh_from_db()
    if deployment.status == Deployment.Status.DEPLOYING:
        _refresh_deploying(deployment)
        deployment.refresh_from_db()
    return deployment


def _refresh_deploying(deployment: Deployment) -> None:
    health = None
    error: ProviderError | None = None
    if deployment.provider_endpoint_id:
        try:
            health = providers.get_provider().health(deployment.provider_endpoint_id)
        except ProviderError as exc:
            error = exc
    with transaction.atomic():
        locked = Deployment.objects.select_for_update().get(pk=deployment.pk)
        if locked.status != Deployment.Status.DEPLOYING or locked.deleted_at is not None:
            return
        if health is not None and _is_up(locked, health):
            _set_status(locked, Deployment.Status.READY)
        elif error is not None and not error.retryable:
            _set_status(
                locked, Deployment.Status.FAILED, "endpoint_refused", _provider_error(error)
            )
        elif timezone.now() - locked.status_changed_at > deploy_timeout():
            _set_status(
                locked,
                Deployment.Status.FAILED,
                "no_worker_in_time",
                {"minutes": int(deploy_timeout().total_seconds() // 60)},
            )
        elif error is not None:
            locked.status_detail_code = "provider_no_answer"
            locked.status_detail_params = _provider_error(error)
            locked.save(update_fields=[*DETAIL_FIELDS, "updated_at"])


def deployments_refresh() -> int:
    """Every deployment with work pending (the beat task); answers how many it looked at."""
    pending = Deployment.objects.filter(deleted_at__isnull=True).filter(
        Q(status__in=[Deployment.Status.DEPLOYING, Deployment.Status.DELETING])
        | Q(provider_sync_pending=True)
    )
    count = 0
    for deployment in pending.order_by("pk").iterator():
        try:
            deployment_refresh(deployment=deployment)
        except Exception:  # one broken row must not stop the others
            logger.exception("refreshing deployment %s", deployment.public_id)
        count += 1
    return count
