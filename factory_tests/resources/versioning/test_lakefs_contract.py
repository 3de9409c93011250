"""The lakeFS contract layer itself: the vendored document is the pinned release's, and violations are caught.

The contract suite (``test_contract.py``) passing through the double proves that the backend's requests and
the double's answers conform; these tests prove that the checks can fail: a malformed request is refused
and recorded, a malformed answer is replaced and fails the test, and the client-side check used against a
real lakeFS server reports both.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any

import pytest
import urllib3
from openapi_spec_validator import validate

from factory.resources.versioning import LakeFSVersionStore, VersionStoreError
from factory_tests.resources.versioning import lakefs_double as double_module
from factory_tests.resources.versioning.lakefs_contract import (
    LAKEFS_RELEASE,
    SPEC_PATH,
    HttpRequest,
    HttpResponse,
    ViolationLog,
    lakefs_openapi,
    missing_lakefs_environment,
    real_lakefs_store,
    request_violations,
    response_violations,
    watch_client,
)
from factory_tests.resources.versioning.lakefs_double import ContractViolation, LakeFSDouble

HOST = "http://127.0.0.1:8000"
COMMIT_ID = "a" * 64


def _auth(double: LakeFSDouble) -> dict[str, str]:
    token = base64.b64encode(f"{double.access_key_id}:{double.secret_access_key}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _commit(**changes: Any) -> dict[str, Any]:
    commit = {
        "id": COMMIT_ID,
        "parents": [],
        "committer": "factory",
        "message": "m",
        "creation_date": 1_700_000_000,
        "meta_range_id": "",
        "metadata": {},
    }
    return {**commit, **changes}


def _json(body: Any) -> bytes:
    return json.dumps(body).encode()


def test_the_vendored_document_is_the_pinned_apache_licensed_release() -> None:
    spec = lakefs_openapi().spec
    assert (spec / "info" / "license" / "name").read_value() == "Apache 2.0"
    notice = (SPEC_PATH.parent / "NOTICE").read_text()
    assert LAKEFS_RELEASE in notice
    assert "Apache License, Version 2.0" in notice
    validate(spec.read_value())  # a valid OpenAPI 3.0 document (raises otherwise)


def test_the_document_is_parsed_once() -> None:
    assert lakefs_openapi() is lakefs_openapi()


def test_every_operation_of_the_double_is_in_the_document(lakefs_double_server: LakeFSDouble) -> None:
    spec = lakefs_openapi().spec
    documented = {
        (method.upper(), "^/api/v1" + re.sub(r"\{[^}]+\}", "([^/]+)", path) + "$")
        for path, item in (spec / "paths").read_value().items()
        for method in item
        if method in {"get", "post", "put", "delete", "patch", "head"}
    }
    served = set(lakefs_double_server.operations)
    assert served <= documented, sorted(served - documented)
    assert len(served) == 23  # the operations listed in the double's docstring


@pytest.mark.parametrize(
    ("method", "path", "body", "violation"),
    [
        ("POST", "/repositories/r-1/branches", {"name": "b"}, "'source' is a required property"),
        ("POST", "/repositories/r-1/branches/main/commits", {"message": "m", "sign": "x"}, "'sign' was unexpected"),
        ("POST", "/repositories/r-1/tags", {"id": 7, "ref": "main"}, "7 is not of type 'string'"),
        ("GET", "/repositories/r-1/tags?amount=many", None, "amount"),
        ("GET", "/repositories/r-1/refs/main/objects/ls?amount=5000", None, "amount"),
        ("GET", "/repositories/r-1/refs/main/objects", None, "path"),
        ("GET", "/repositories/r-1/refs/main/objects/ls?presign_ttl=60", None, "'presign_ttl' is not a parameter"),
        ("PATCH", "/repositories/r-1", {}, "patch"),
        ("GET", "/repositories/r-1/no-such-thing", None, "no-such-thing"),
    ],
)
def test_a_request_the_document_does_not_allow_is_refused_and_recorded(
    lakefs_double_server: LakeFSDouble, method: str, path: str, body: dict[str, Any] | None, violation: str
) -> None:
    lakefs_double_server.take_violations()
    headers = {**_auth(lakefs_double_server), "Content-Type": "application/json"} if body is not None else {}
    headers = headers or _auth(lakefs_double_server)
    response = urllib3.request(
        method,
        f"{lakefs_double_server.endpoint}/api/v1{path}",
        body=_json(body) if body is not None else None,
        headers=headers,
        retries=False,
    )
    assert response.status == HTTPStatus.BAD_REQUEST
    assert "request violates the lakeFS API" in response.json()["message"]
    recorded = lakefs_double_server.take_violations()
    assert len(recorded) >= 1
    assert recorded[0].startswith(f"request {method} /api/v1{path.split('?')[0]}: ")
    assert violation.lower() in "\n".join(recorded).lower()


def test_a_request_without_credentials_breaks_the_contract(lakefs_double_server: LakeFSDouble) -> None:
    lakefs_double_server.take_violations()
    response = urllib3.request("GET", f"{lakefs_double_server.endpoint}/api/v1/repositories/r-1", retries=False)
    assert response.status == HTTPStatus.BAD_REQUEST
    assert any("Security" in line for line in lakefs_double_server.take_violations())


def test_an_answer_the_document_does_not_allow_fails_the_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """A double whose getBranch forgets ``commit_id``: the client gets a 500, and leaving the double raises."""

    def get_branch_without_commit(self: Any, request: double_module.Request) -> double_module.Response:
        return double_module.Response(HTTPStatus.OK, {"id": request.params[1]})

    monkeypatch.setattr(double_module._State, "get_branch", get_branch_without_commit)
    broken = pytest.raises(ContractViolation, match=r"response GET /api/v1/repositories/.*/branches/main: .*commit_id")
    with broken, LakeFSDouble() as double:
        store = LakeFSVersionStore(double.endpoint, double.access_key_id, double.secret_access_key, "broken")
        store.ensure_repository()
        with pytest.raises(VersionStoreError, match="the lakeFS double broke the API"):
            store.delete_object("main", "a")
        store.close()


@pytest.mark.parametrize(
    ("method", "path", "status", "body", "violation"),
    [
        ("GET", "/repositories/r/commits/main", 200, _commit(creation_date="yesterday"), "'yesterday' is not of type"),
        ("GET", "/repositories/r/commits/main", 200, _commit(author="x"), "'author' was unexpected"),
        ("GET", "/repositories/r/commits/main", 200, {"id": COMMIT_ID}, "'parents' is a required property"),
        ("GET", "/repositories/r/branches/main", 404, {"reason": "gone"}, "'message' is a required property"),
        ("POST", "/repositories/r/branches/main/revert", 409, {"reference": ""}, "'reference' was unexpected"),
        ("GET", "/repositories/r/tags", 200, {"results": []}, "'pagination' is a required property"),
    ],
)
def test_an_answer_the_document_does_not_allow_is_reported(
    method: str, path: str, status: int, body: Any, violation: str
) -> None:
    request = HttpRequest(method, f"{HOST}/api/v1{path}", {"Authorization": "Basic eDp5"})
    response = HttpResponse(status, {"Content-Type": "application/json"}, _json(body))
    assert violation in "\n".join(response_violations(request, response))


def test_conforming_exchanges_have_no_violations() -> None:
    get = HttpRequest("GET", f"{HOST}/api/v1/repositories/r/commits/main", {"Authorization": "Basic eDp5"})
    assert request_violations(get) == []
    assert response_violations(get, HttpResponse(200, {"Content-Type": "application/json"}, _json(_commit()))) == []
    read = HttpRequest("GET", f"{HOST}/api/v1/repositories/r/refs/{COMMIT_ID}/objects?path=a", get.headers)
    empty = HttpResponse(200, {"Content-Type": "application/octet-stream"}, b"")
    assert response_violations(read, empty) == []  # an object of zero bytes
    headers = {**get.headers, "Content-Type": "application/octet-stream"}
    upload = HttpRequest("POST", f"{HOST}/api/v1/repositories/r/branches/main/objects?path=a", headers, b"")
    assert request_violations(upload) == []


def test_an_empty_json_answer_is_missing_data() -> None:
    get = HttpRequest("GET", f"{HOST}/api/v1/repositories/r/commits/main", {"Authorization": "Basic eDp5"})
    assert any("MissingData" in line for line in response_violations(get, HttpResponse(200, {}, b"")))


class _Fixed(BaseHTTPRequestHandler):
    """Answers every request with the same body: a getBranch answer with a field lakeFS does not define."""

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        payload = _json({"id": "main", "commit_id": COMMIT_ID, "protected": True})
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def fixed_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Fixed)
    thread = Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    yield f"http://{host!s}:{port}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_the_client_side_check_reports_a_server_that_breaks_the_document(fixed_server: str) -> None:
    """What guards the contract suite against a real lakeFS: the answer passes through, the violation is kept."""
    log = ViolationLog()
    pool = urllib3.PoolManager()
    watch_client(pool, log)
    answer = pool.request(
        "GET", f"{fixed_server}/api/v1/repositories/r/branches/main", headers={"Authorization": "Basic eDp5"}
    )
    assert answer.json()["commit_id"] == COMMIT_ID
    with pytest.raises(ContractViolation, match="'protected' was unexpected"):
        log.check()
    pool.request("GET", f"{fixed_server}/api/v1/repositories/r/branches/main")
    assert any(line.startswith("request GET /api/v1/repositories/r/branches/main: ") for line in log.take())
    log.check()  # taken: nothing left


def test_the_client_side_check_passes_a_conforming_store(lakefs_double: LakeFSDouble) -> None:
    log = ViolationLog()
    store = LakeFSVersionStore(
        lakefs_double.endpoint,
        lakefs_double.access_key_id,
        lakefs_double.secret_access_key,
        f"watched-{secrets.token_hex(4)}",
    )
    watch_client(store.client.objects_api.api_client.rest_client.pool_manager, log)
    store.ensure_repository()
    store.write_object("main", "a", b"")
    commit = store.commit("main", "empty object", {"run": "1"})
    assert store.read_object(commit.id, "a") == b""
    assert store.log("main")[0] == commit
    store.close()
    log.check()


def test_the_environment_selects_a_real_server_whose_exchanges_are_watched(
    lakefs_double: LakeFSDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The double stands in for the compose stack's lakeFS: the path the real server takes, end to end."""
    monkeypatch.delenv("LAKEFS_ENDPOINT", raising=False)
    assert missing_lakefs_environment()[0] == "LAKEFS_ENDPOINT"
    monkeypatch.setenv("LAKEFS_ENDPOINT", lakefs_double.endpoint)
    monkeypatch.setenv("LAKEFS_ACCESS_KEY_ID", lakefs_double.access_key_id)
    monkeypatch.setenv("LAKEFS_SECRET_ACCESS_KEY", lakefs_double.secret_access_key)
    assert missing_lakefs_environment() == []
    with real_lakefs_store() as store:
        store.ensure_repository()
        assert store.repository in lakefs_double.state.repositories
        store.write_object("main", "a", b"1")
        store.commit("main", "one")
    assert store.repository not in lakefs_double.state.repositories
