"""What billing tells the apps above it, without importing them (the ledger is a leaf).

``balance_changed`` is sent by the ledger inside the transaction that moved a wallet's
balance or held amount, whenever the move may change the answer to "enough credits?"
(see ``ledger.VERIFY_REFRESH_BELOW``). Keyword argument: ``organization_id``. The API keys
app subscribes (``ApikeysConfig.ready``) to refresh the owner's cached verifications;
receivers run in the transaction and defer their side effects with ``on_commit``.
"""

from django.dispatch import Signal

balance_changed = Signal()

#: Sent by the ledger inside the transaction of EVERY change of a wallet's balance or held
#: amount. Keyword arguments: ``organization_id``, ``available_delta`` (µcr, the change of
#: balance − held). The API keys app moves its reservation counter of the wallet after
#: commit (apikeys.reservations).
wallet_moved = Signal()

#: Sent by ``ledger.holds_expire_due`` inside the transaction that released an open hold
#: past its expiry. Keyword argument: ``hold``. The GPU jobs subscribe: a job whose hold
#: expired is marked timed out and refunded in that same transaction (infra.jobs).
hold_expired = Signal()

#: Sent by the low-balance check inside the ledger's transaction when a wallet's balance
#: falls below its owner's alert threshold (once per downward crossing, with the email).
#: Keyword arguments: ``organization_id``, ``balance_microcredits``,
#: ``threshold_microcredits``. The webhooks app sends ``balance.low``.
balance_low = Signal()
