"""The deployment form of ``/infra/deployments/new`` and the detail page's edit form.

The form only shapes input (GPU tiers as up to three choices in priority order, the
environment as ``NAME=value`` lines); the rules are ``infra.services``' and its errors are
put back on these fields through ``FIELD_ALIASES``.
"""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from billing.money import format_credits

from . import selectors, services

#: The service's (API) field names → this form's.
FIELD_ALIASES = {
    "slug": "slug",
    "name": "name",
    "dockerImage": "docker_image",
    "gpuTypes": "gpu_type_1",
    "gpuCount": "gpu_count",
    "minWorkers": "min_workers",
    "maxWorkers": "max_workers",
    "idleTimeoutSeconds": "idle_timeout_seconds",
    "executionTimeoutSeconds": "execution_timeout_seconds",
    "env": "env",
    "webhookUrl": "webhook_url",
}


def gpu_choices() -> list[tuple[str, str]]:
    return [
        (
            t.code,
            _("%(code)s · %(name)s · %(rate)s credits/s")
            % {
                "code": t.code,
                "name": t.name,
                "rate": format_credits(t.microcredits_per_second, places=6).rstrip("0"),
            },
        )
        for t in selectors.gpu_type_list()
    ]


def parse_env(text: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep:
            raise ValidationError(
                _("Line %(n)d: write NAME=value.") % {"n": number}, code="invalid"
            )
        name = name.strip()
        if name in env:
            raise ValidationError(
                _("Line %(n)d: %(name)s is set twice.") % {"n": number, "name": name[:40]}
            )
        env[name] = value
    return env


#: Identifiers, images, URLs and NAME=value lines are typed left to right in every language.
LTR = {"dir": "ltr"}


class DeploymentForm(forms.Form):
    slug = forms.CharField(
        label=_("Slug"),
        max_length=64,
        help_text=_("Lower-case letters, digits and hyphens; jobs go to /v1/gpu/run/<slug>."),
        widget=forms.TextInput(attrs=LTR),
    )
    name = forms.CharField(label=_("Name"), max_length=100, required=False)
    docker_image = forms.CharField(
        label=_("Docker image"),
        max_length=255,
        help_text=_("e.g. runpod/worker-comfyui:5.1.0-base"),
        widget=forms.TextInput(attrs=LTR),
    )
    gpu_type_1 = forms.ChoiceField(label=_("GPU tier"), choices=())
    gpu_type_2 = forms.ChoiceField(label=_("Fallback GPU tier (optional)"), required=False)
    gpu_type_3 = forms.ChoiceField(label=_("Second fallback (optional)"), required=False)
    gpu_count = forms.IntegerField(
        label=_("GPUs per worker"), min_value=1, max_value=services.MAX_GPU_COUNT, initial=1
    )
    min_workers = forms.IntegerField(
        label=_("Minimum workers"),
        min_value=0,
        initial=0,
        help_text=_("Workers kept warm; 0 scales to zero when idle."),
    )
    max_workers = forms.IntegerField(label=_("Maximum workers"), min_value=1, initial=1)
    idle_timeout_seconds = forms.IntegerField(
        label=_("Idle timeout (seconds)"),
        min_value=services.IDLE_TIMEOUT_RANGE[0],
        max_value=services.IDLE_TIMEOUT_RANGE[1],
        initial=5,
    )
    execution_timeout_seconds = forms.IntegerField(
        label=_("Execution timeout (seconds)"),
        min_value=services.EXECUTION_TIMEOUT_RANGE[0],
        max_value=services.EXECUTION_TIMEOUT_RANGE[1],
        initial=600,
        help_text=_("A job running longer is stopped; each job holds credits for this long."),
    )
    env = forms.CharField(
        label=_("Environment variables"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", **LTR}),
        help_text=_("One NAME=value per line. Values are encrypted and never shown again."),
    )
    webhook_url = forms.CharField(
        label=_("Webhook URL (optional)"),
        required=False,
        max_length=500,
        help_text=_("https:// address that receives job events, signed with a secret."),
        widget=forms.TextInput(attrs=LTR),
    )

    def __init__(self, *args, editing=None, **kwargs):
        """``editing``: the deployment being edited (no slug; the environment is kept
        unless new lines are given)."""
        super().__init__(*args, **kwargs)
        choices = gpu_choices()
        self.fields["gpu_type_1"].choices = choices
        optional = [("", _("None")), *choices]
        self.fields["gpu_type_2"].choices = optional
        self.fields["gpu_type_3"].choices = optional
        limit = services.max_workers_limit()
        for name in ("min_workers", "max_workers"):
            self.fields[name].widget.attrs["max"] = limit  # the service enforces it
        self.editing = editing
        if editing is not None:
            del self.fields["slug"]
            names = services.deployment_env_names(editing)
            self.fields["env"].help_text = (
                _("Now set: %(names)s. New lines replace them all; leave empty to keep them.")
                % {"names": ", ".join(names)}
                if names
                else _("One NAME=value per line. Values are encrypted and never shown again.")
            )
            self.fields["clear_env"] = forms.BooleanField(
                label=_("Remove every environment variable"), required=False
            )

    def clean_env(self) -> dict[str, str]:
        return parse_env(self.cleaned_data.get("env") or "")

    def gpu_types(self) -> list[str]:
        data = self.cleaned_data
        return [data[f] for f in ("gpu_type_1", "gpu_type_2", "gpu_type_3") if data.get(f)]

    def service_values(self) -> dict:
        data = self.cleaned_data
        values = {
            "name": data["name"] or (self.editing.name if self.editing else data["slug"]),
            "docker_image": data["docker_image"],
            "gpu_types": self.gpu_types(),
            "gpu_count": data["gpu_count"],
            "min_workers": data["min_workers"],
            "max_workers": data["max_workers"],
            "idle_timeout_seconds": data["idle_timeout_seconds"],
            "execution_timeout_seconds": data["execution_timeout_seconds"],
            "webhook_url": data["webhook_url"],
        }
        if self.editing is None or data["env"] or data.get("clear_env"):
            values["env"] = data["env"]
        return values

    def hold_preview(self) -> dict | None:
        """The per-second price and what a job will hold, from the values typed so far."""
        data = getattr(self, "cleaned_data", None) or {}
        source = self.data if self.is_bound else self.initial
        try:
            codes = [
                c for c in (source.get(f) for f in ("gpu_type_1", "gpu_type_2", "gpu_type_3")) if c
            ] or [self.fields["gpu_type_1"].choices[0][0]]
            count = int(data.get("gpu_count") or source.get("gpu_count") or 1)
            timeout = int(
                data.get("execution_timeout_seconds")
                or source.get("execution_timeout_seconds")
                or self.fields["execution_timeout_seconds"].initial
            )
        except (ValueError, TypeError, IndexError):
            return None
        if not (1 <= count <= services.MAX_GPU_COUNT):
            return None
        low, high = services.EXECUTION_TIMEOUT_RANGE
        if not (low <= timeout <= high):
            return None
        rates = selectors.gpu_rates([str(c)[:40] for c in codes[:3]])
        if not rates:
            return None
        top = max(rates.values())
        return {
            "per_second": top * count,
            "hold": top * count * timeout,
            "timeout": timeout,
            "count": count,
        }
