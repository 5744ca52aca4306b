"""FastAPI's OpenTelemetry: on where the process configured it before the app was built."""

import os

from fastapi.telemetry import TelemetryConfig
from fastapi.telemetry._api import _unconfigured
from opentelemetry import _logs, metrics, trace

OFF: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def config() -> TelemetryConfig | None:
    """FastAPI's default where OpenTelemetry has a provider (AWS's ADOT layer and
    `opentelemetry-instrument` set theirs before the app is imported) or FastAPI will set
    them up at startup (`FASTAPI_OTEL_AUTO_CONFIGURE`); else off.

    On, FastAPI asks OpenTelemetry on every request whether a provider has appeared since
    (three environment lookups, 41 thousand instructions): off, a request skips the question.
    """
    if os.environ.get("FASTAPI_OTEL_AUTO_CONFIGURE", "").lower() == "true":
        return None
    providers = (
        trace.get_tracer_provider(),
        metrics.get_meter_provider(),
        _logs.get_logger_provider(),
    )
    # FastAPI's own test of a provider, so the app and FastAPI never disagree on it.
    return OFF if all(_unconfigured(provider) for provider in providers) else None
