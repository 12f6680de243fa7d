"""structlog set-up shared by every cachefleet daemon and the CLI.

JSON lines in production (one object per event, ids bound by the callers),
coloured key=value in a terminal. The coordinator imports this leaf module too:
nodeagent is the lower layer, and never imports from coordinator.
"""
from __future__ import annotations

import logging
import sys

import structlog


def configure_logging(fmt: str = "json", level: str = "info", stream=None) -> None:
    """Configure structlog once for the process; fmt is 'json' or 'console'."""
    stream = stream or sys.stderr
    renderer = (structlog.processors.JSONRenderer() if fmt == "json"
                else structlog.dev.ConsoleRenderer(colors=stream.isatty()))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
