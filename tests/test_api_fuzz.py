"""Property-based API fuzzing from the app's own OpenAPI: no generated request may cause a server error."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings

from conftest import LiveServer


def test_no_generated_request_gets_a_server_error(live_server: LiveServer) -> None:
    schema = schemathesis.openapi.from_url(f"{live_server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert any(op.path == "/search" for op in operations)
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def no_server_error(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call(base_url=live_server.url, timeout=30)
            assert response.status_code < 500, f"{case.method} {case.formatted_path} {case.query}: {response.text[:300]}"
            if response.status_code >= 400 and "json" in str(response.headers.get("content-type")):
                assert response.json().get("detail"), "errors carry a JSON message"

        no_server_error()
