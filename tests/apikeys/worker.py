"""A second web worker for the cross-process tests: its own Python process, its own
database connection, the same settings, database and shared cache as the test.

Run as ``python -m tests.apikeys.worker``; it reads one JSON command per line on stdin and
answers one JSON line on stdout:

* ``{"verify": {...body...}, "token": "svc_…"}`` → POST /internal/v1/keys/verify
* ``{"burst": {"verify": {...}, "event": {...}, "callers": 8, "sleep": 0.05, "flush_after": 0},
  "token": "svc_…"}`` → prints ``{"ready": true}``, waits for ``go``, then runs ``callers``
  threads that each loop verify → sleep (the model call) → report the event with the
  reservation id, until refused; answers how many calls were allowed and the refusals.
  ``flush_after`` > 0: after that many calls allowed in this process, it deletes every Redis key
  of the test's cache prefix once (Redis losing its data mid-burst).
* ``{"usage": [[...events...], ...], "token": "svc_…"}`` → prints ``{"ready": true}``,
  waits for a ``go`` line (so that several workers start together), posts each batch to
  /internal/v1/usage and answers with the results and the emails this process sent.
"""

import json
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hypereal_site.settings.test")
    import django  # noqa: PLC0415 — a subprocess: settings module set first

    django.setup()
    from django.core import mail  # noqa: PLC0415 — after django.setup()
    from django.test import Client  # noqa: PLC0415 — after django.setup()
    from django.test.utils import setup_test_environment  # noqa: PLC0415 — after django.setup()

    setup_test_environment()  # "testserver" host and the locmem outbox
    mail.outbox = []

    def client(token: str) -> Client:
        return Client(HTTP_AUTHORIZATION=f"Bearer {token}")

    for line in sys.stdin:
        command = json.loads(line)
        if "burst" in command:
            print(json.dumps({"ready": True}), flush=True)
            assert sys.stdin.readline().strip() == "go"
            answer = _burst(client(command["token"]), command["burst"], client, command["token"])
        elif "verify" in command:
            response = client(command["token"]).post(
                "/internal/v1/keys/verify", command["verify"], content_type="application/json"
            )
            answer = {
                "status": response.status_code,
                "body": response.json(),
                "pid": os.getpid(),
            }
        elif "usage" in command:
            print(json.dumps({"ready": True}), flush=True)
            assert sys.stdin.readline().strip() == "go"
            results = []
            for batch in command["usage"]:
                response = client(command["token"]).post(
                    "/internal/v1/usage", {"events": batch}, content_type="application/json"
                )
                results.append({"status": response.status_code, "body": response.json()})
            answer = {
                "results": results,
                "emails": [{"subject": m.subject, "to": m.to} for m in mail.outbox],
            }
            mail.outbox = []
        else:
            answer = {"error": f"unknown command {command!r}"}
        print(json.dumps(answer), flush=True)


def _burst(_first, spec: dict, client, token: str) -> dict:
    import threading  # noqa: PLC0415
    import time  # noqa: PLC0415
    import uuid  # noqa: PLC0415

    from django.db import connection  # noqa: PLC0415

    from apikeys import reservations  # noqa: PLC0415

    lock = threading.Lock()
    allowed: list[int] = []
    refusals: dict[str, int] = {}
    flushed: list[bool] = []

    def caller() -> None:
        http = client(token)
        try:
            while True:
                response = http.post(
                    "/internal/v1/keys/verify", spec["verify"], content_type="application/json"
                )
                if response.status_code != 200:
                    with lock:
                        kind = response.json()["error"]["type"]
                        refusals[kind] = refusals.get(kind, 0) + 1
                    if response.status_code == 503:
                        time.sleep(0.05)
                        continue
                    return
                with lock:
                    allowed.append(1)
                    flush = spec.get("flush_after") and len(allowed) == spec["flush_after"]
                if flush and not flushed:
                    flushed.append(True)
                    reservations.store().reset()  # only this test's prefix
                time.sleep(spec.get("sleep", 0.05))
                event = dict(spec["event"])
                event["request_id"] = uuid.uuid4().hex
                event["reservation_id"] = response.json()["reservation_id"] or ""
                report = http.post(
                    "/internal/v1/usage", {"events": [event]}, content_type="application/json"
                )
                assert report.status_code == 200, report.content
        finally:
            connection.close()

    threads = [threading.Thread(target=caller) for _ in range(spec.get("callers", 8))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"allowed": len(allowed), "refusals": refusals}


if __name__ == "__main__":
    main()
