"""URLs of GPU jobs and serverless GPU models: the ``/v1/gpu/…`` API, the provider's
callback and the console pages. ``run/`` and ``jobs/`` come before ``/v1/gpu/{slug}``."""

from django.urls import path

from . import job_apis, job_views

urlpatterns = [
    path("v1/gpu/run/<str:slug>", job_apis.JobRunApi.as_view(), name="v1-gpu-run"),
    path("v1/gpu/jobs/<str:job_id>", job_apis.JobApi.as_view(), name="v1-gpu-job"),
    path(
        "v1/gpu/jobs/<str:job_id>/cancel",
        job_apis.JobCancelApi.as_view(),
        name="v1-gpu-job-cancel",
    ),
    path("v1/gpu/<str:slug>", job_apis.ServerlessRunApi.as_view(), name="v1-gpu-serverless"),
    path(
        "internal/gpu/callback/<str:job_id>",
        job_apis.JobCallbackApi.as_view(),
        name="gpu_job_callback",
    ),
    path("infra/deployments/<slug:slug>/jobs", job_views.deployment_jobs, name="deployment_jobs"),
    path("infra/jobs/<str:job_id>", job_views.job_detail, name="job_detail"),
    path("infra/jobs/<str:job_id>/status", job_views.job_status, name="job_status"),
    path("infra/jobs/<str:job_id>/cancel", job_views.job_cancel_view, name="job_cancel"),
    path("gpu-recommend", job_views.gpu_recommend, name="gpu_recommend"),
]
