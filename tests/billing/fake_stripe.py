"""An in-process fake of the Stripe API, and webhook deliveries signed the way Stripe signs.

``FakeStripe`` is a real ``stripe.HTTPClient``: stripe-python builds, encodes and sends its
requests to it exactly as it would to api.stripe.com, and parses what it answers. It keeps
a small account (checkout sessions, charges, refunds, disputes) so that a test can play
Stripe's side of a payment: ``complete()`` the session, ``refund()`` or ``dispute()`` the
charge, then deliver the matching signed event to the console's webhook URL.

Signing follows https://docs.stripe.com/webhooks#verify-manually: the header is
``Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import stripe

TEST_SECRET_KEY = "sk_test_fake_4eC39HqLyjWDarjtT1zdp7dc"
TEST_WEBHOOK_SECRET = "whsec_test_fake_0f1e2d3c4b5a69788796a5b4c3d2e1f0"
API_VERSION = "2025-03-31.basil"

_counter = itertools.count(1)


def _id(prefix: str) -> str:
    return f"{prefix}_test_{secrets.token_hex(12)}"


def form_decode(post_data: str | bytes | None) -> dict:
    """stripe-python's form encoding (``a[b][0][c]=1``) back into nested dicts and lists."""
    if not post_data:
        return {}
    if isinstance(post_data, bytes):
        post_data = post_data.decode("utf-8")
    root: dict = {}
    for key, value in parse_qsl(post_data, keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", key)
        node: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt = parts[i + 1] if not last else None
            if isinstance(node, list):
                index = int(part)
                while len(node) <= index:
                    node.append(None)
                if last:
                    node[index] = value
                else:
                    if node[index] is None:
                        node[index] = [] if nxt.isdigit() else {}
                    node = node[index]
            else:
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, [] if nxt.isdigit() else {})
    return root


@dataclass
class RecordedRequest:
    method: str
    url: str
    path: str
    headers: dict[str, str]
    params: dict
    status: int

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("Idempotency-Key")


@dataclass
class _Failure:
    status: int
    error: dict
    times: int | None  # None: until cleared
    should_retry: bool


@dataclass
class FakeStripe(stripe.HTTPClient):
    """A ``stripe.HTTPClient`` that answers from memory. Only what the console calls is
    implemented; anything else is a 404 ``invalid_request_error``, as Stripe would answer
    an unknown URL."""

    name = "fake"

    #: "stripe": session URLs point at a checkout.stripe.com page (never fetched);
    #: "success": at the session's success_url, as if the payer had paid instantly (the
    #: browser test follows it straight back to the console).
    url_mode: str = "stripe"
    requests: list[RecordedRequest] = field(default_factory=list)
    sessions: dict[str, dict] = field(default_factory=dict)
    charges: dict[str, dict] = field(default_factory=dict)
    _idempotent: dict[str, tuple[str, int, dict]] = field(default_factory=dict)
    _failure: _Failure | None = None

    def __post_init__(self) -> None:
        super().__init__()

    # stripe-python retries 5xx/409 with a sleep between attempts; the fake answers at
    # once and the retry itself is what tests look at, so no time is spent waiting.
    def _sleep_time_seconds(self, num_retries: int) -> float:
        return 0.0

    # --- failure injection ------------------------------------------------------------

    def fail_with(
        self,
        status: int = 500,
        *,
        error_type: str | None = None,
        message: str = "An unknown error occurred",
        code: str | None = None,
        times: int | None = None,
        should_retry: bool = False,
    ) -> None:
        """Answer the next ``times`` requests (all, when None) with a Stripe error."""
        error_type = error_type or {402: "card_error", 401: "authentication_error"}.get(
            status, "api_error" if status >= 500 else "invalid_request_error"
        )
        error = {"type": error_type, "message": message}
        if code:
            error["code"] = code
        self._failure = _Failure(status, error, times, should_retry)

    def recover(self) -> None:
        self._failure = None

    # --- the HTTPClient interface -------------------------------------------------------

    def request(self, method, url, headers, post_data=None, *, _usage=None):
        headers = dict(headers or {})
        path = urlsplit(url).path
        params = form_decode(post_data)
        key = headers.get("Idempotency-Key")
        if self._failure is not None:
            failure = self._failure
            if failure.times is not None:
                failure.times -= 1
                if failure.times <= 0:
                    self._failure = None
            rheaders = {"request-id": f"req_{next(_counter)}"}
            rheaders["stripe-should-retry"] = "true" if failure.should_retry else "false"
            return self._record(
                method,
                url,
                path,
                headers,
                params,
                json.dumps({"error": failure.error}),
                failure.status,
                rheaders,
            )
        if method == "post" and key and key in self._idempotent:
            body, status, rheaders = self._idempotent[key]
            return self._record(
                method,
                url,
                path,
                headers,
                params,
                body,
                status,
                {**rheaders, "idempotent-replayed": "true"},
            )
        status, obj = self._route(method, path, params)
        body = json.dumps(obj)
        rheaders = {"request-id": f"req_{next(_counter)}", "content-type": "application/json"}
        if method == "post" and key and status < 500:
            self._idempotent[key] = (body, status, rheaders)
        return self._record(method, url, path, headers, params, body, status, rheaders)

    def request_stream(self, method, url, headers, post_data=None, *, _usage=None):
        raise NotImplementedError("the console never streams from Stripe")

    def close(self) -> None:
        pass

    def _record(self, method, url, path, headers, params, body, status, rheaders):
        self.requests.append(RecordedRequest(method, url, path, headers, params, status))
        return body, status, rheaders

    def _route(self, method: str, path: str, params: dict) -> tuple[int, dict]:
        if method == "post" and path == "/v1/checkout/sessions":
            return 200, self._session_create(params)
        match = re.fullmatch(r"/v1/checkout/sessions/(cs_[\w]+)", path)
        if method == "get" and match and match.group(1) in self.sessions:
            return 200, copy.deepcopy(self.sessions[match.group(1)])
        return 404, {
            "error": {
                "type": "invalid_request_error",
                "message": f"Unrecognized request URL ({method.upper()}: {path}).",
            }
        }

    def _session_create(self, params: dict) -> dict:
        line = params["line_items"][0]
        amount = int(line["price_data"]["unit_amount"]) * int(line.get("quantity", 1))
        session_id = _id("cs")
        success_url = params["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id)
        url = (
            success_url
            if self.url_mode == "success"
            else f"https://checkout.stripe.com/c/pay/{session_id}#fidkdWxOYHwnPyd1blpxYHZxWjA0"
        )
        now = int(time.time())
        session = {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": amount,
            "amount_total": amount,
            "cancel_url": params.get("cancel_url"),
            "client_reference_id": params.get("client_reference_id"),
            "created": now,
            "currency": line["price_data"]["currency"],
            "customer_email": params.get("customer_email"),
            "expires_at": now + 24 * 3600,
            "livemode": False,
            "metadata": dict(params.get("metadata") or {}),
            "mode": params.get("mode"),
            "payment_intent": None,
            "payment_status": "unpaid",
            "status": "open",
            "success_url": params.get("success_url"),
            "url": url,
        }
        # Kept for the charge: Stripe copies payment_intent_data.metadata onto the intent.
        session["_intent_metadata"] = dict(
            (params.get("payment_intent_data") or {}).get("metadata") or {}
        )
        self.sessions[session_id] = session
        return self._public(session)

    @staticmethod
    def _public(obj: dict) -> dict:
        return {k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")}

    # --- Stripe's side of a payment -------------------------------------------------------

    @property
    def checkout_requests(self) -> list[RecordedRequest]:
        return [
            r for r in self.requests if r.method == "post" and r.path == "/v1/checkout/sessions"
        ]

    def last_session(self) -> dict:
        assert self.sessions, "no checkout session was created"
        return self._public(list(self.sessions.values())[-1])

    def complete(self, session_id: str, *, payment_status: str = "paid") -> dict:
        """The payer finished Checkout; returns the session as the completed event has it.
        ``payment_status="unpaid"`` is a delayed method (bank debit) still settling."""
        session = self.sessions[session_id]
        if session["payment_intent"] is None:
            session["payment_intent"] = _id("pi")
        session["status"] = "complete"
        session["payment_status"] = payment_status
        if payment_status == "paid":
            self._charge_for(session)
        return self._public(session)

    def async_settle(self, session_id: str, *, succeeded: bool) -> dict:
        session = self.sessions[session_id]
        session["payment_status"] = "paid" if succeeded else "unpaid"
        if succeeded:
            self._charge_for(session)
        return self._public(session)

    def expire(self, session_id: str) -> dict:
        session = self.sessions[session_id]
        session["status"] = "expired"
        return self._public(session)

    def _charge_for(self, session: dict) -> dict:
        for charge in self.charges.values():
            if charge["payment_intent"] == session["payment_intent"]:
                return charge
        charge = {
            "id": _id("ch"),
            "object": "charge",
            "amount": session["amount_total"],
            "amount_captured": session["amount_total"],
            "amount_refunded": 0,
            "currency": session["currency"],
            "captured": True,
            "disputed": False,
            "livemode": False,
            "metadata": dict(session["_intent_metadata"]),
            "paid": True,
            "payment_intent": session["payment_intent"],
            "refunded": False,
            "refunds": {"object": "list", "data": [], "has_more": False, "total_count": 0},
            "status": "succeeded",
        }
        self.charges[charge["id"]] = charge
        return charge

    def charge_of(self, session_id: str) -> dict:
        intent = self.sessions[session_id]["payment_intent"]
        for charge in self.charges.values():
            if charge["payment_intent"] == intent:
                return copy.deepcopy(charge)
        raise LookupError(f"session {session_id} has no charge yet")

    def refund(self, charge_id: str, amount: int, *, status: str = "succeeded") -> dict:
        """Refund part of a charge; returns the charge as ``charge.refunded`` carries it
        (newest refund first, like Stripe's lists)."""
        charge = self.charges[charge_id]
        refund = {
            "id": _id("re"),
            "object": "refund",
            "amount": amount,
            "charge": charge_id,
            "currency": charge["currency"],
            "payment_intent": charge["payment_intent"],
            "status": status,
        }
        charge["refunds"]["data"].insert(0, refund)
        charge["refunds"]["total_count"] += 1
        if status == "succeeded":
            charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        return copy.deepcopy(charge)

    def dispute(self, charge_id: str, *, amount: int | None = None, status: str) -> dict:
        """A dispute object as ``charge.dispute.*`` carries it. Disputes have metadata of
        their own (empty): Stripe does not copy the charge's onto them."""
        charge = self.charges[charge_id]
        existing = charge.get("_dispute")
        if existing is None:
            existing = {
                "id": _id("dp"),
                "object": "dispute",
                "amount": amount if amount is not None else charge["amount"],
                "charge": charge_id,
                "currency": charge["currency"],
                "metadata": {},
                "payment_intent": charge["payment_intent"],
                "reason": "fraudulent",
            }
            charge["_dispute"] = existing
            charge["disputed"] = True
        existing["status"] = status
        return copy.deepcopy(existing)


# --- webhook deliveries --------------------------------------------------------------------


def event(type: str, obj: dict, *, event_id: str | None = None, created: int | None = None) -> dict:
    """A Stripe ``event`` envelope around ``obj``."""
    return {
        "id": event_id or _id("evt"),
        "object": "event",
        "api_version": API_VERSION,
        "created": created or int(time.time()),
        "data": {"object": copy.deepcopy(obj)},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type,
    }


def signature_header(
    payload: str | bytes, *, secret: str = TEST_WEBHOOK_SECRET, timestamp: int | None = None
) -> str:
    """Stripe's header over the exact bytes of the body (UTF-8 text in practice)."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode("utf-8"), f"{t}.".encode() + payload, hashlib.sha256)
    return f"t={t},v1={mac.hexdigest()}"


def encode(evt: dict) -> bytes:
    # Stripe sends pretty-printed JSON; the signature covers these exact bytes.
    return json.dumps(evt, indent=2).encode("utf-8")


def deliver(
    client,
    evt: dict | bytes,
    *,
    secret: str = TEST_WEBHOOK_SECRET,
    timestamp: int | None = None,
    signature: str | None = None,
    url: str = "/billing/stripe/webhook",
):
    """POST one delivery to the webhook with a Django test client (as Stripe would)."""
    body = evt if isinstance(evt, bytes) else encode(evt)
    header = signature or signature_header(body, secret=secret, timestamp=timestamp)
    return client.post(
        url,
        data=body,
        content_type="application/json",
        headers={"Stripe-Signature": header, "User-Agent": "Stripe/1.0 (+https://stripe.com)"},
    )
