"""Long-wait alerts: when a queue's oldest waiting job has waited past the queue's limit
in ``JOBMAN["WAIT_ALERTS"]``, ``signals.queue_wait_exceeded`` is sent once, and
``signals.queue_wait_cleared`` once when the wait falls back under it (or the queue
empties). With ``JOBMAN["ALERT_ADMINS"]``, the site's ADMINS are mailed too.

Workers look, one at a time, every ``LOOK_EVERY`` seconds, as part of their heartbeat.
Whichever worker first sees a crossing marks it in Redis (``SET NX``) and alone tells;
whichever first sees it clear removes the mark and alone tells that.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.core.mail import mail_admins

from jobman import conf, queues, signals

logger = logging.getLogger("jobman")

MARK_KEY = "jobman:wait-alert:{}"
LOOK_EVERY = 5.0


@dataclass(frozen=True)
class Alert:
    queue: str
    waited: float  # seconds the oldest waiting job has waited (0 when none waits)
    limit: float
    cleared: bool  # False: the wait passed the limit; True: it is back under it


def oldest_wait(name: str) -> float | None:
    """Seconds the oldest job waiting in queue ``name`` has waited; None when none waits,
    or its time cannot be read (gone meanwhile, or written by hand)."""
    queue = queues.get_queue(name)
    oldest = queue.connection.lindex(queue.key, 0)
    if oldest is None:
        return None
    job_id = oldest.decode() if isinstance(oldest, bytes) else str(oldest)
    return queues.seconds_waiting(queue.connection, job_id)


def look() -> list[Alert]:
    """Compare each watched queue's oldest wait with its limit; tell each crossing this
    look is the first to see, and return them."""
    told = []
    for name, limit in conf.get("WAIT_ALERTS").items():
        if name not in queues.configured_queues():
            continue  # manage.py check names it
        connection = queues.get_connection(name)
        waited = oldest_wait(name)
        key = MARK_KEY.format(name)
        if waited is not None and waited > limit:
            if connection.set(key, round(waited), nx=True):
                told.append(Alert(name, waited, limit, cleared=False))
        elif connection.delete(key):
            told.append(Alert(name, waited or 0.0, limit, cleared=True))
    for alert in told:
        tell(alert)
    return told


def tell(alert: Alert) -> None:
    signal = signals.queue_wait_cleared if alert.cleared else signals.queue_wait_exceeded
    # A receiver that raises must not keep the others, or the mail, from hearing of it
    # (Django logs what it raised, on the django.dispatch logger).
    signal.send_robust(sender=None, queue=alert.queue, waited=alert.waited, limit=alert.limit)
    if alert.cleared:
        subject = f"queue {alert.queue} waits {alert.waited:.1f} s again, under {alert.limit:g} s"
    else:
        subject = f"queue {alert.queue}: its oldest job has waited {alert.waited:.1f} s"
        subject += f", past {alert.limit:g} s"
    logger.warning("jobman: %s", subject)
    if conf.get("ALERT_ADMINS"):
        try:
            mail_admins(f"jobman: {subject}", f"jobman: {subject}.\n")
        except Exception:
            logger.exception("jobman: the alert could not be mailed to ADMINS")
