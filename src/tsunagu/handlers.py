"""Modules whose import registers outbox handlers; the worker imports them all."""

HANDLER_MODULES: list[str] = [
    "tsunagu.opendata.jobs",
    "tsunagu.exchange.notifications",
    "tsunagu.lifeevent.notices",
    "tsunagu.lifeevent.households",
    "tsunagu.lifeevent.proactive",
    "tsunagu.procedure.notices",
    "tsunagu.procedure.mail",
]
