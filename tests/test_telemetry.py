"""FastAPI's OpenTelemetry traces requests where the process configured it before the app."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from backend import telemetry

ROOT = Path(__file__).resolve().parent.parent

# A process of its own for each case: OpenTelemetry's providers are set once per process.
TRACED = """
import json, sys
from fastapi.testclient import TestClient
from opentelemetry import trace

class Tracer(trace.NoOpTracer):
    def start_span(self, name, *args, **kwargs):
        started.append(name)
        return super().start_span(name, *args, **kwargs)

class Provider(trace.TracerProvider):
    def get_tracer(self, *args, **kwargs):
        return Tracer()

started = []
if sys.argv[1] == "before":
    trace.set_tracer_provider(Provider())
from backend.main import create_app
client = TestClient(create_app())
if sys.argv[1] == "after":
    trace.set_tracer_provider(Provider())
status = client.get("/api/health").status_code
print(json.dumps([status, started]))
"""


def spans(when: str) -> list[str]:
    """The spans started for a GET of /api/health, a tracer provider set `when`."""
    done = subprocess.run(
        [sys.executable, "-c", TRACED, when],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    status, started = json.loads(done.stdout.splitlines()[-1])
    assert status == 200
    return list(started)


def test_a_provider_set_before_the_app_traces_each_request() -> None:
    assert spans("before")[0] == "GET"


def test_without_a_provider_when_the_app_is_built_no_request_is_traced() -> None:
    assert spans("after") == []


def test_telemetry_is_off_without_a_provider() -> None:
    assert telemetry.config() == telemetry.OFF


@pytest.mark.parametrize("value", ["true", "TRUE"])
def test_fastapi_setting_up_telemetry_itself_keeps_it_on(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("FASTAPI_OTEL_AUTO_CONFIGURE", value)

    assert telemetry.config() is None
