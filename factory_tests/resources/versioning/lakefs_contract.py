"""lakeFS's own contract: the OpenAPI document of the pinned release, and HTTP exchanges checked against it.

The document is ``factory_tests/data/lakefs/swagger.yml``, lakeFS's ``api/swagger.yml`` at tag ``v1.84.0``
(Apache-2.0; see ``NOTICE`` beside it). It is loaded once per process (:func:`lakefs_openapi`) without
re-validating the document itself, which takes seconds; ``test_lakefs_contract.py`` validates it once.

:func:`request_violations` and :func:`response_violations` take an exchange as plain data
(:class:`HttpRequest`, :class:`HttpResponse`, which implement openapi-core's request and response protocols)
and return what the document does not allow, one readable line per violation, empty when the exchange
conforms. Stricter than openapi-core's defaults in two ways: schemas that do not declare
``additionalProperties`` are read as closed (a field the document does not name is a violation), and so is a
query parameter the operation does not declare; neither the backend nor the double can rely on what the
pinned lakeFS does not define.

Two layers use them. The double (``lakefs_double``) checks every exchange it serves. Against a real server,
:func:`real_lakefs_store` (selected by :data:`LAKEFS_ENV`) watches the SDK's connection pool with
:func:`watch_client`. Both record into a :class:`ViolationLog`, whose ``check`` fails the test.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import urllib3
from jsonschema_path import SchemaPath
from openapi_core import Config, OpenAPI, V30RequestValidator, V30ResponseValidator
from openapi_core.casting.schemas import oas30_types_caster
from openapi_core.casting.schemas.factories import SchemaCastersFactory
from openapi_core.datatypes import RequestParameters
from openapi_core.validation.response.exceptions import MissingData
from openapi_core.validation.schemas.datatypes import FormatValidatorsDict
from openapi_core.validation.schemas.factories import SchemaValidatorsFactory
from openapi_core.validation.schemas.validators import SchemaValidator
from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator
from werkzeug.datastructures import Headers, ImmutableMultiDict

from factory.resources.versioning import LakeFSVersionStore

__all__ = [
    "LAKEFS_ENV",
    "LAKEFS_RELEASE",
    "SPEC_PATH",
    "ContractViolation",
    "HttpRequest",
    "HttpResponse",
    "ViolationLog",
    "contract_repository_name",
    "lakefs_openapi",
    "missing_lakefs_environment",
    "real_lakefs_store",
    "request_violations",
    "response_violations",
    "watch_client",
]

LAKEFS_RELEASE = "v1.84.0"
_BINARY = "application/octet-stream"
_SERVER_PATH = "/api/v1"  # the document's one server, relative to the host
SPEC_PATH = Path(__file__).resolve().parents[2] / "data" / "lakefs" / "swagger.yml"


class _MemoizedSchemaValidators(SchemaValidatorsFactory):
    """openapi-core's schema-validator factory, remembering what it built for each schema of the document.

    openapi-core builds a validator (a fresh validator class, when unknown fields are forbidden, and a resolved
    schema) for every parameter and body of every exchange: tens of milliseconds per exchange, which made the
    double's test suite several times slower. A built validator holds no state between validations.
    """

    def __init__(self, validator_cls: type[Any]) -> None:  # a jsonschema validator class (jsonschema ships no stubs)
        super().__init__(validator_cls)
        self._built: dict[tuple[tuple[Any, ...], bool, bool], SchemaValidator] = {}
        self._lock = threading.Lock()

    def create(
        self,
        spec: SchemaPath,
        schema: SchemaPath,
        format_validators: FormatValidatorsDict | None = None,
        extra_format_validators: FormatValidatorsDict | None = None,
        forbid_unspecified_additional_properties: bool = False,
        enforce_properties_required: bool = False,
    ) -> SchemaValidator:
        flags = (forbid_unspecified_additional_properties, enforce_properties_required)
        if format_validators is not None or extra_format_validators is not None:
            return super().create(spec, schema, format_validators, extra_format_validators, *flags)
        key = (tuple(schema.parts), *flags)
        with self._lock:
            built = self._built.get(key)
        if built is None:
            built = super().create(spec, schema, None, None, *flags)
            with self._lock:
                self._built[key] = built
        return built


_WRITE = _MemoizedSchemaValidators(OAS30WriteValidator)
_READ = _MemoizedSchemaValidators(OAS30ReadValidator)


class _RequestValidator(V30RequestValidator):
    schema_validators_factory = _WRITE
    schema_casters_factory = SchemaCastersFactory(_WRITE, oas30_types_caster)


class _ResponseValidator(V30ResponseValidator):
    schema_validators_factory = _READ
    schema_casters_factory = SchemaCastersFactory(_READ, oas30_types_caster)


@cache
def lakefs_openapi() -> OpenAPI:
    """The pinned lakeFS OpenAPI document, parsed once per process; unknown response and body fields forbidden."""
    config = Config(
        spec_validator_cls=None,
        additional_properties_default_policy="forbid",
        request_validator_cls=_RequestValidator,
        response_validator_cls=_ResponseValidator,
    )
    return OpenAPI.from_file_path(str(SPEC_PATH), config=config)


@dataclass
class HttpRequest:
    """One HTTP request as openapi-core reads it: ``url`` is absolute (``http://host:port/api/v1/...?query``).

    ``parameters`` holds the query and headers; openapi-core writes the path parameters it matches into it.
    """

    method_name: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    data: bytes = b""
    parameters: RequestParameters = field(init=False)

    def __post_init__(self) -> None:
        query = parse_qsl(urlsplit(self.url).query, keep_blank_values=True)
        self.parameters = RequestParameters(query=ImmutableMultiDict(query), header=Headers(list(self.headers.items())))

    @property
    def method(self) -> str:
        return self.method_name.lower()

    @property
    def host_url(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def body(self) -> bytes | None:
        """None when nothing was sent (no body, no content type); an empty upload is ``b""``."""
        return self.data if self.data or self.content_type else None

    @property
    def content_type(self) -> str:
        return _header(self.headers, "Content-Type").lower()


@dataclass(frozen=True)
class HttpResponse:
    """One HTTP response as openapi-core reads it."""

    status_code: int
    headers: Mapping[str, str] = field(default_factory=dict)
    data: bytes | None = None

    @property
    def content_type(self) -> str:
        return _header(self.headers, "Content-Type").lower()


def _header(headers: Mapping[str, str], name: str) -> str:
    return next((value for key, value in headers.items() if key.lower() == name.lower()), "")


def _describe(errors: Iterable[Exception]) -> list[str]:
    """One line per error: openapi-core's summary, then the schema errors it wraps."""
    lines: list[str] = []
    for error in errors:
        cause = error.__cause__
        details = [str(getattr(item, "message", item)) for item in getattr(cause, "schema_errors", ()) or ()]
        summary = f"{type(error).__name__}: {error}"
        if cause is not None and not details:
            details = [f"{type(cause).__name__}: {cause}"]
        lines.append("; ".join([summary, *details]))
    return lines


@cache
def _documented_queries() -> tuple[tuple[str, re.Pattern[str], frozenset[str]], ...]:
    """(method, path regex, names of the query parameters) of every operation in the document."""
    document = lakefs_openapi().spec.read_value()
    shared = document["components"]["parameters"]
    operations = []
    for template, item in document["paths"].items():
        pattern = re.compile("^" + _SERVER_PATH + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$")
        for method, operation in item.items():
            if method == "parameters":
                continue
            declared = [*item.get("parameters", []), *operation.get("parameters", [])]
            resolved = [shared[p["$ref"].rsplit("/", 1)[-1]] if "$ref" in p else p for p in declared]
            names = frozenset(p["name"] for p in resolved if p["in"] == "query")
            operations.append((method.upper(), pattern, names))
    return tuple(operations)


def _undocumented_query(request: HttpRequest) -> list[str]:
    """Query parameters no operation matching ``request`` declares: lakeFS would ignore them without a word.

    OpenAPI lets a server ignore unknown query parameters, so openapi-core does not report them; but a backend
    relying on one (a newer SDK's parameter, say) would silently get the pinned server's default behaviour.
    """
    known: set[str] = set()
    for method, pattern, names in _documented_queries():
        if method == request.method_name.upper() and pattern.match(request.path):
            known |= names
    sent = sorted({name for name, _ in parse_qsl(urlsplit(request.url).query, keep_blank_values=True)})
    return [
        f"UndocumentedQueryParameter: {name!r} is not a parameter of this operation"
        for name in sent
        if name not in known
    ]


def request_violations(request: HttpRequest) -> list[str]:
    """What lakeFS's document does not allow in ``request`` (path, method, parameters, security, body).

    Besides openapi-core's findings, a query parameter the operation does not declare is a violation.
    """
    found = _describe(lakefs_openapi().iter_apicall_request_errors(request))
    return found or _undocumented_query(request)


def response_violations(request: HttpRequest, response: HttpResponse) -> list[str]:
    """What lakeFS's document does not allow in ``response`` to ``request`` (status, content type, body).

    openapi-core counts an empty body as missing; an empty ``application/octet-stream`` body is an object of
    zero bytes (lakeFS documents it as a binary string, with no minimum length), so that one is let through.
    """
    errors = lakefs_openapi().iter_apicall_response_errors(request, response)
    empty_binary = response.data == b"" and response.content_type.startswith(_BINARY)
    return _describe(error for error in errors if not (empty_binary and isinstance(error, MissingData)))


class ContractViolation(AssertionError):
    """Requests or responses that lakeFS's OpenAPI document does not allow, one line each."""


class ViolationLog:
    """The violations seen by a validating layer (the double, or a watched client), safe across threads."""

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._lock = threading.Lock()

    def record(self, side: str, request: HttpRequest, violations: Iterable[str]) -> None:
        with self._lock:
            self._lines.extend(f"{side} {request.method_name} {request.path}: {line}" for line in violations)

    def take(self) -> list[str]:
        """The violations recorded since the last call, and forget them."""
        with self._lock:
            taken, self._lines = self._lines, []
        return taken

    def check(self) -> None:
        """Raise :class:`ContractViolation` listing what was recorded since the last call, if anything."""
        violations = self.take()
        if violations:
            raise ContractViolation("lakeFS API contract violated:\n" + "\n".join(violations))


def watch_client(pool: urllib3.PoolManager, log: ViolationLog) -> None:
    """Validate every exchange that goes through ``pool`` (the lakeFS SDK's connection pool) into ``log``.

    The client-side twin of the double's own check: with a real lakeFS server it checks the backend's requests
    and the server's answers. The request and response themselves pass unchanged.
    """
    urlopen = pool.urlopen

    def validated(method: str, url: str, redirect: bool = True, **kwargs: Any) -> urllib3.BaseHTTPResponse:
        body = kwargs.get("body")
        data = body.encode() if isinstance(body, str) else bytes(body or b"")
        request = HttpRequest(method, url, dict(kwargs.get("headers") or {}), data)
        log.record("request", request, request_violations(request))
        response = urlopen(method, url, redirect, **kwargs)
        answer = HttpResponse(response.status, dict(response.headers), response.data)
        log.record("response", request, response_violations(request, answer))
        return response

    setattr(pool, "urlopen", validated)  # noqa: B010  # one instance's method, not its class's


LAKEFS_ENV = ("LAKEFS_ENDPOINT", "LAKEFS_ACCESS_KEY_ID", "LAKEFS_SECRET_ACCESS_KEY")


def contract_repository_name() -> str:
    """A fresh repository name for one contract test: ``contract-<12 hex digits>``."""
    return f"contract-{secrets.token_hex(6)}"


def missing_lakefs_environment() -> list[str]:
    """The variables of :data:`LAKEFS_ENV` that are unset or empty: a real lakeFS is used only when none is."""
    return [name for name in LAKEFS_ENV if not os.environ.get(name)]


@contextmanager
def real_lakefs_store() -> Iterator[LakeFSVersionStore]:
    """A store on the lakeFS server the environment names, in a repository of its own, watched against the document.

    The repository ``contract-<random>`` (at `storage_namespace_for` it) is deleted afterwards; then
    :class:`ContractViolation` is raised if any request or answer broke lakeFS's API.
    """
    endpoint, key, secret = (os.environ[name] for name in LAKEFS_ENV)
    store = LakeFSVersionStore(endpoint, key, secret, contract_repository_name())
    violations = ViolationLog()
    watch_client(store.client.objects_api.api_client.rest_client.pool_manager, violations)
    try:
        yield store
    finally:
        store.client.repositories_api.delete_repository(store.repository)
        store.close()
    violations.check()
