"""What the API keys app tells the apps above it (the webhooks app), without importing
them. Both are sent inside the transaction that made the change, so a receiver's outbox
row commits or rolls back with it.

* ``key_spending_alert`` — a key's month spend (+ reserved) crossed 80% or 100% of its
  cap; sent once per (key, month, level). Keyword arguments: ``key_id``, ``level`` (80 or
  100), ``period`` ("YYYY-MM"), ``spend_microcredits``, ``limit_microcredits``,
  ``key_disabled`` (auto-disable turned the key off at 100%).
* ``key_disabled`` — a key was disabled. Keyword arguments: ``key_id``, ``reason`` (a
  code of ``hypereal_site.reasons``), ``params`` (its parameters), ``automatic`` (True: no
  person did it, the cap was reached).
"""

from django.dispatch import Signal

key_spending_alert = Signal()
key_disabled = Signal()
