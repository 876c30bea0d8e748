"""The provider settings in production: GPU is on with a RunPod key, off without one, and a
half-configured GPU refuses to start. Each test starts a fresh process, as a deploy would."""

import pytest

from tests.site.test_production_settings import _manage, production_env  # noqa: F401 - fixture

SHOW = (
    "from django.conf import settings as s; "
    "print(s.GPU_ENABLED, s.GPU_PROVIDER, s.RUNPOD_API_URL, s.RUNPOD_REST_URL)"
)


def test_without_a_runpod_key_gpu_is_off_and_the_console_starts(production_env):  # noqa: F811
    result = _manage(["shell", "-c", SHOW], production_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-4:] == [
        "False",
        "runpod",
        "https://api.runpod.ai/v2",
        "https://rest.runpod.io/v1",
    ]


def test_with_a_runpod_key_gpu_is_on(production_env):  # noqa: F811
    production_env["RUNPOD_API_KEY"] = "rpa_example"
    result = _manage(["shell", "-c", SHOW], production_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-4:-2] == ["True", "runpod"]


@pytest.mark.parametrize(
    ("variables", "complaint"),
    [
        ({"GPU_ENABLED": "true"}, "Set the RUNPOD_API_KEY environment variable"),
        ({"RUNPOD_API_KEY": "k", "GPU_PROVIDER": "simulator"}, "GPU_PROVIDER must be runpod"),
        (
            {"RUNPOD_API_KEY": "k", "RUNPOD_API_URL": "http://127.0.0.1:8911/v2"},
            "must be https:// URLs",
        ),
    ],
)
def test_a_half_configured_gpu_refuses_to_start(production_env, variables, complaint):  # noqa: F811
    production_env.update(variables)
    result = _manage(["check"], production_env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert complaint in result.stderr
