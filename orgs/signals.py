"""What the organizations app tells the apps above it, without importing them.

Both are sent inside the service's transaction; receivers (the API keys app, connected
in ``ApikeysConfig.ready``) do their writes in it and defer side effects with
``on_commit``.

* ``organization_closing`` — an organization is being deleted, or a deleted user's
  personal account closed: whatever it owns that grants access must stop now (its keys
  are revoked). Keyword arguments: ``organization``, ``actor`` (a user or None).
* ``members_changed`` — a member joined, left, was removed or changed role: answers cached
  for the organization's keys must be rebuilt. Keyword argument: ``organization_id``.
"""

from django.dispatch import Signal

organization_closing = Signal()
members_changed = Signal()
