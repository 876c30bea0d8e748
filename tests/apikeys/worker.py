"""A second web worker for the cross-process tests: its own Python process, its own
database connection, the same settings, database and shared cache as the test.

Run as ``python -m tests.apikeys.worker``; it reads one JSON command per line on stdin and
answers one JSON line on stdout:

* ``{"verify": {...body...}, "token": "svc_…"}`` → POST /internal/v1/keys/verify
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
        if "verify" in command:
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


if __name__ == "__main__":
    main()
