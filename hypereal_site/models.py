from django.db import models
from django.utils import timezone


class SentEmail(models.Model):
    """One row per notification that must go out at most once (see ``notify.send_once``).

    The key names the occasion (``low-balance:<wallet>:<episode>``), so a retried task or a
    concurrent duplicate finds the row and sends nothing.
    """

    key = models.CharField(max_length=200, unique=True)
    recipients = models.TextField()
    subject = models.CharField(max_length=255)
    sent_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.key
