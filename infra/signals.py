"""What the GPU app tells the apps above it (the webhooks app), without importing them.

Both are sent inside the transaction that made the change, so a receiver's outbox row
commits or rolls back with it.

* ``gpu_job_finished`` — a job reached a final state (succeeded, failed, canceled,
  timed_out) and was settled. Keyword argument: ``job``.
* ``deployment_status_changed`` — a deployment became ready or failed. Keyword arguments:
  ``deployment``, ``previous`` (the status before).
"""

from django.dispatch import Signal

gpu_job_finished = Signal()
deployment_status_changed = Signal()
