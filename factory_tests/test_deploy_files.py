"""The service deployment files hold what they promise: Dockerfile, docker-compose.yml, .env.example, deploy/.

No Docker engine runs here, so these tests read the files the way their tools do: docker-compose (Debian's
1.29, installed by `make system-deps`) renders the compose file with the .env.example values; the Dockerfile
is parsed into its instructions; the image's entrypoint runs against stub Dagster commands; the Postgres init
script runs against a real Postgres server; the workspace goes through Dagster's own workspace schema; the
Helm values are checked against the keys of the chart's values schema. Each check parses what it checks, so
a service without a healthcheck, a port on 0.0.0.0 or a password written into a file fails it.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from dagster._core.workspace.config_schema import process_workspace_config
from psycopg import sql

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
DEPLOY = REPO / "deploy"
ENTRYPOINT = DEPLOY / "docker-entrypoint.sh"
INIT_DATABASES = DEPLOY / "postgres" / "init-databases.sh"
HELM_VALUES = DEPLOY / "helm" / "values.yaml"

pytest_plugins = ["factory_tests.resources.postgres"]

#: The services of the stack: the stores, their one-shot initializers and Dagster's three processes.
SERVICES = {
    "postgres",
    "minio",
    "minio-init",
    "lakefs",
    "lakefs-init",
    "mlflow",
    "dagster-code",
    "dagster-webserver",
    "dagster-daemon",
}
#: A variable whose name says it holds a secret.
SECRET_NAME = re.compile(r"PASSWORD|SECRET|(^|_)KEY(_ID)?$|CONNECTION_STRING|BACKEND_STORE_URI", re.IGNORECASE)
#: Secrets that may be left empty (the factory then keeps a generated key in its volume).
OPTIONAL_SECRETS = {"FACTORY_PSEUDONYM_KEY"}
#: `${NAME}`, `${NAME:-default}`, `${NAME:?message}` (compose interpolation; `$$` is a literal dollar).
INTERPOLATION = re.compile(r"(?<!\$)\$\{(?P<name>[A-Z0-9_]+)(?P<op>:?[-?])?(?P<arg>[^}]*)\}")
#: The value .env.example gives every secret: an obvious placeholder, never a usable value.
PLACEHOLDER = re.compile(r"^change-me[a-z0-9-]*$")
#: Literals that are secrets whatever their context.
SECRET_LITERALS = [
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),  # an AWS-style access key id (lakeFS keys look like them)
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"\bminioadmin\b"),  # MinIO's default root credentials
    re.compile(r"://[^/\s:@${}]+:(?!\$\{)[^@\s/]+@"),  # a URL with a literal password
]


def _on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _docker_compose() -> str:
    found = shutil.which("docker-compose")
    if found is None:
        message = (
            "docker-compose not found: `make system-deps` installs Debian's package (apt-get install docker-compose)"
        )
        if _on_ci():
            pytest.fail(f"{message}; CI is set, so this is a failure, not a skip", pytrace=False)
        pytest.skip(message)
    return found


def _compose(env_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """docker-compose on the repository's compose file, with only `env_file` as the environment (nothing leaks
    in from the test process)."""
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(env_file.parent)}
    return subprocess.run(
        [_docker_compose(), "--env-file", str(env_file), "-f", str(COMPOSE), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=environment,
        timeout=120,
        check=False,
    )


def _env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, separator, value = line.partition("=")
            assert separator, f".env.example: {line!r} is not NAME=value"
            values[name.strip()] = value.strip()
    return values


def _raw_compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The compose file as docker-compose renders it with the .env.example values."""
    env_file = tmp_path_factory.mktemp("compose") / "example.env"
    shutil.copy(ENV_EXAMPLE, env_file)
    result = _compose(env_file, "config")
    assert result.returncode == 0, f"docker-compose config refused the file:\n{result.stderr}"
    loaded = yaml.safe_load(result.stdout)
    assert isinstance(loaded, dict)
    return loaded


# docker-compose.yml


def test_compose_config_accepts_the_stack(rendered: dict[str, Any]) -> None:
    assert set(rendered["services"]) == SERVICES
    dagster = {name: rendered["services"][name] for name in ("dagster-code", "dagster-webserver", "dagster-daemon")}
    assert {service["image"] for service in dagster.values()} == {"ai-factory:0.1.0"}, "one image for Dagster"
    assert [service["command"] for service in dagster.values()] == [["code-server"], ["webserver"], ["daemon"]]
    assert rendered["services"]["lakefs"]["image"] == "treeverse/lakefs:1.84.0", "keep the Apache-2.0 lakeFS"


def test_every_service_has_a_healthcheck(rendered: dict[str, Any]) -> None:
    missing = []
    for name, service in rendered["services"].items():
        check = service.get("healthcheck") or {}
        test = check.get("test")
        if check.get("disable") or not test or test in (["NONE"], "NONE"):
            missing.append(name)
    assert missing == []


def test_one_shot_services_are_awaited_by_a_long_running_one(rendered: dict[str, Any]) -> None:
    """`docker compose up --wait` counts an exited container as a failure unless a running service waits for it to
    complete; and nothing may start before the buckets and the lakeFS repository exist."""
    services = rendered["services"]
    one_shots = {name for name, service in services.items() if service.get("restart") == "no"}
    assert one_shots == {"minio-init", "lakefs-init"}
    awaited = {
        dependency
        for name, service in services.items()
        if name not in one_shots
        for dependency, condition in (service.get("depends_on") or {}).items()
        if condition.get("condition") == "service_completed_successfully"
    }
    assert one_shots <= awaited


def _host_ip(port: object) -> str | None:
    """The address a published port binds: long syntax `host_ip`, or short syntax `IP:published:target`."""
    if isinstance(port, dict):
        host_ip = port.get("host_ip")
        return str(host_ip) if host_ip is not None else None
    parts = str(port).rsplit(":", 2)
    return parts[0] if len(parts) == 3 else None


def test_every_published_port_binds_loopback(rendered: dict[str, Any]) -> None:
    published = {name: service.get("ports", []) for name, service in rendered["services"].items()}
    assert published["dagster-webserver"], "the UI is published"
    wrong = {name: ports for name, ports in published.items() if any(_host_ip(p) != "127.0.0.1" for p in ports)}
    assert wrong == {}
    assert _host_ip("3000:3000") is None and _host_ip({"target": 3000, "published": 3000}) is None


def test_a_missing_secret_stops_compose(tmp_path: Path) -> None:
    env_file = tmp_path / "no-dagster-password.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in _env_example().items() if k != "DAGSTER_PG_PASSWORD"))
    result = _compose(env_file, "config", "-q")
    assert result.returncode != 0
    assert "set DAGSTER_PG_PASSWORD" in result.stderr


def _environments(compose: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    for name, service in compose["services"].items():
        environment = service.get("environment") or {}
        assert isinstance(environment, dict), f"{name}: environment as a mapping, so it can be checked"
        for key, value in environment.items():
            yield name, str(key), str(value)


def test_secrets_come_only_from_the_environment() -> None:
    offending = []
    for service, key, value in _environments(_raw_compose()):
        if not SECRET_NAME.search(key):
            continue
        references = list(INTERPOLATION.finditer(value))
        required = [m for m in references if m.group("op") == ":?"]
        literal = INTERPOLATION.sub("", value)
        if key in OPTIONAL_SECRETS:
            ok = value == f"${{{key}:-}}"
        elif "://" in value:  # a connection URL: its password part must be a required variable
            ok = bool(required) and not re.search(r"://[^:/@]+:[^@]+@", literal)
        else:
            ok = len(required) == 1 and literal == ""
        if not ok:
            offending.append(f"{service}: {key}={value}")
    assert offending == []


def test_env_example_documents_every_variable_with_placeholders() -> None:
    referenced = {m.group("name") for text in _strings(_raw_compose()) for m in INTERPOLATION.finditer(text)}
    example = _env_example()
    assert set(example) - {"COMPOSE_PROJECT_NAME"} == referenced
    for name, value in example.items():
        if SECRET_NAME.search(name):
            assert PLACEHOLDER.match(value) or (name in OPTIONAL_SECRETS and value == ""), f"{name}={value}"
    undocumented = []
    for paragraph in ENV_EXAMPLE.read_text().split("\n\n"):
        lines = [line for line in paragraph.splitlines() if line.strip()]
        if any(not line.startswith("#") for line in lines) and not any(line.startswith("#") for line in lines):
            undocumented.extend(lines)
    assert undocumented == []


def _strings(node: object) -> Iterator[str]:
    """Every string in a parsed YAML document, keys and values (not its comments)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif isinstance(node, str):
        yield node


def _deploy_texts() -> dict[Path, str]:
    paths = [COMPOSE, ENV_EXAMPLE, DOCKERFILE, DOCKERIGNORE, *sorted(p for p in DEPLOY.rglob("*") if p.is_file())]
    return {path: path.read_text() for path in paths}


def _literal_secrets(node: object, where: str) -> Iterator[str]:
    """Mapping entries whose key names a secret and whose value is a literal (not a reference to one)."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{where}.{key}"
            names_secret = re.search(r"password|secret|token|(^|_)key$", str(key), re.IGNORECASE)
            names_a_reference = re.search(r"names?$|ref$", str(key), re.IGNORECASE)
            literal = isinstance(value, str) and value and not INTERPOLATION.fullmatch(value)
            if names_secret and not names_a_reference and literal and not PLACEHOLDER.match(str(value)):
                yield f"{here}={value}"
            yield from _literal_secrets(value, here)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _literal_secrets(item, f"{where}[{index}]")


def test_no_secret_looking_literal_in_the_deploy_files() -> None:
    found = []
    for path, text in _deploy_texts().items():
        found += [f"{path.name}: {m.group(0)}" for pattern in SECRET_LITERALS for m in pattern.finditer(text)]
        if path.suffix in (".yml", ".yaml"):
            found += [f"{path.name}: {hit}" for hit in _literal_secrets(yaml.safe_load(text), "")]
    assert found == []
    planted = {"db": {"password": "hunter2-but-longer", "passwordSecretName": "db-secret"}}
    assert list(_literal_secrets(planted, "")) == [".db.password=hunter2-but-longer"]
    assert any(pattern.search("postgres://u:pw@h/db") for pattern in SECRET_LITERALS)


def _env_references(node: object) -> Iterator[str]:
    """The variables a Dagster config file reads (`{env: NAME}`)."""
    if isinstance(node, dict):
        if set(node) == {"env"}:
            yield str(node["env"])
        for value in node.values():
            yield from _env_references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _env_references(item)


def test_mounted_files_exist_and_the_instance_gets_its_variables(rendered: dict[str, Any]) -> None:
    mounts = [
        (name, str(volume).split(":")[0])
        for name, service in _raw_compose()["services"].items()
        for volume in service.get("volumes", [])
        if str(volume).startswith("./")
    ]
    assert ("postgres", "./deploy/postgres/init-databases.sh") in mounts
    instance = DEPLOY / "dagster.yaml"
    missing = sorted({source for _, source in mounts if not (REPO / source).exists()})
    if missing == ["./deploy/dagster.yaml"] and not instance.exists():
        pytest.skip("deploy/dagster.yaml (the service instance) is not in this tree yet: it comes with `make stack`")
    assert missing == []
    needed = set(_env_references(yaml.safe_load(instance.read_text())))
    assert needed, "the instance reads its Postgres connection from the environment"
    for name in ("dagster-code", "dagster-webserver", "dagster-daemon"):
        assert needed <= set(rendered["services"][name]["environment"]), name


def test_compose_runs_no_install_at_start() -> None:
    for name, service in _raw_compose()["services"].items():
        started = " ".join(str(part) for key in ("command", "entrypoint") for part in _as_list(service.get(key)))
        assert not re.search(r"\b(pip|uv)\b.*\binstall\b", started), f"{name} installs at start: {started}"


def _as_list(value: object) -> list[object]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


# Dockerfile


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def _instructions(text: str) -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined and comments dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pending = f"{pending} {stripped}" if pending else stripped
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        keyword, _, arguments = pending.partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip()))
        pending = ""
    assert pending == "", "a continuation line ends the Dockerfile"
    return instructions


def _stages(instructions: list[Instruction]) -> tuple[dict[str, str], list[list[Instruction]]]:
    """Global ARG defaults, and the instructions of each stage (from its FROM)."""
    arguments: dict[str, str] = {}
    stages: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            stages.append([instruction])
        elif stages:
            stages[-1].append(instruction)
        elif instruction.keyword == "ARG":
            name, _, default = instruction.arguments.partition("=")
            arguments[name] = default
    return arguments, stages


def _resolve(text: str, arguments: Mapping[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: arguments.get(m.group(1), m.group(0)), text)


def test_dockerfile_is_one_locked_non_root_image() -> None:
    global_arguments, stages = _stages(_instructions(DOCKERFILE.read_text()))
    final = stages[-1]
    for stage in stages:
        base = _resolve(stage[0].arguments.split()[0], global_arguments)
        assert re.fullmatch(r"python:3\.11-slim(-\w+)?", base), base
    stage_arguments = dict(global_arguments)
    for instruction in final:
        if instruction.keyword == "ARG":
            name, _, default = instruction.arguments.partition("=")
            stage_arguments[name] = default
    users = [_resolve(i.arguments, stage_arguments) for i in final if i.keyword == "USER"]
    assert users, "the final stage sets USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0") and (not user.isdigit() or int(user) >= 1000), users[-1]

    installs = [i.arguments for stage in stages for i in stage if i.keyword == "RUN" and "pip install" in i.arguments]
    locked = [run for run in installs if "--require-hashes" in run and "-r requirements.lock" in run]
    assert locked, "the dependencies come from requirements.lock with --require-hashes"
    for run in installs:
        for command in re.split(r"&&|;", run):
            if "pip install" in command:
                assert "--require-hashes" in command or "--no-deps" in command, f"an unlocked install: {command}"
    assert installs.index(locked[0]) < len(installs) - 1 and "--no-deps" in installs[-1], "then the package"


def test_dockerfile_starts_without_installing() -> None:
    _, stages = _stages(_instructions(DOCKERFILE.read_text()))
    final = stages[-1]
    starts = [i.arguments for i in final if i.keyword in ("ENTRYPOINT", "CMD")]
    assert starts and not any(re.search(r"\b(pip|uv)\b", start) for start in starts)
    copied = {i.arguments.split()[-1]: i.arguments.split()[-2] for i in final if i.keyword == "COPY"}
    entrypoint = [i for i in final if i.keyword == "ENTRYPOINT"][-1].arguments
    program = re.findall(r'"([^"]+)"', entrypoint)[0]
    script = next(source for target, source in copied.items() if target.endswith(f"/{program}"))
    assert (REPO / script).resolve() == ENTRYPOINT
    assert not re.search(r"\b(pip|uv)\b", ENTRYPOINT.read_text()), "the entrypoint installs nothing"


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regular expression: `**` any number of directories, `*` and `?` within one
    path element, `[...]` a character class."""
    parts, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            parts.append(".*")
            i += 2
        elif pattern[i] == "*":
            parts.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            parts.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 1 :]:
            end = pattern.index("]", i + 1)
            parts.append(pattern[i : end + 1])
            i = end + 1
        else:
            parts.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(parts))


def _excluded(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore's patterns (Go filepath.Match with `**`, last match wins, `!` re-includes) exclude
    `path` or one of its parent directories."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for raw in patterns:
        negated = raw.startswith("!")
        pattern = raw[1:] if negated else raw
        regex = _pattern_regex(pattern.strip("/"))
        if any(regex.fullmatch(candidate) for candidate in candidates):
            excluded = not negated
    return excluded


def test_dockerignore_keeps_state_out_and_the_sources_in() -> None:
    patterns = [
        line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip() and not line.startswith("#")
    ]
    for state in (".venv", ".factory", "mlruns", "factory-data", "bench/.venv-evidently", ".env", ".git"):
        assert _excluded(state, patterns), f"{state} would be sent to the Docker daemon"
    _, stages = _stages(_instructions(DOCKERFILE.read_text()))
    sources = [
        source
        for stage in stages
        for i in stage
        if i.keyword == "COPY" and not i.arguments.startswith("--from")
        for source in i.arguments.split()[:-1]
    ]
    # What factory_tests/test_install.py builds the wheel from, so the image's `pip install .` builds too.
    assert {"requirements.lock", "pyproject.toml", "README.md", "factory"} <= set(sources)
    assert [source for source in sources if _excluded(source.rstrip("/"), patterns)] == []
    assert _excluded(".env.example", ["!.env.example", ".env.*"]), "the last matching pattern wins"
    assert not _excluded(".env.example", [".env.*", "!.env.example"])
    assert _excluded("factory/core/__pycache__", ["**/__pycache__"]) and not _excluded("factory/x.py", ["*.py"])


# The image's entrypoint


def _stub_path(tmp_path: Path) -> Path:
    """A directory of stub Dagster commands that print how they were called."""
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for command in ("dagster", "dagster-webserver", "dagster-daemon", "factory"):
        stub = stubs / command
        stub.write_text(f'#!/bin/sh\necho {command} "$@"\n')
        stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    return stubs


def _entrypoint(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": f"{_stub_path(tmp_path)}:/usr/bin:/bin", "DAGSTER_WORKSPACE": "/w.yaml"}
    return subprocess.run(
        ["sh", str(ENTRYPOINT), *args], capture_output=True, text=True, env=environment, timeout=30, check=False
    )


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["webserver"], "dagster-webserver -h 0.0.0.0 -p 3000 -w /w.yaml"),
        (["daemon"], "dagster-daemon run -w /w.yaml"),
        (
            ["code-server"],
            "dagster code-server start -h 0.0.0.0 -p 4000 -m factory.definitions --location-name factory",
        ),
        (
            ["code-server", "--max-workers", "4"],
            "dagster code-server start -h 0.0.0.0 -p 4000 -m factory.definitions --location-name factory"
            " --max-workers 4",
        ),
        (["dagster", "api", "grpc", "-p", "3030"], "dagster api grpc -p 3030"),  # the Helm chart's args
        (["factory", "demo"], "factory demo"),
    ],
)
def test_entrypoint_serves_each_role(tmp_path: Path, arguments: list[str], expected: str) -> None:
    result = _entrypoint(tmp_path, *arguments)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_entrypoint_without_a_role_says_how_to_call_it(tmp_path: Path) -> None:
    result = _entrypoint(tmp_path)
    assert result.returncode == 64
    assert "webserver|daemon|code-server" in result.stderr


# deploy/workspace.yaml


def test_workspace_points_at_the_code_server_service(rendered: dict[str, Any], tmp_path: Path) -> None:
    workspace = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())
    result = process_workspace_config(workspace)
    assert result.success, result.errors
    (location,) = workspace["load_from"]
    server = location["grpc_server"]
    code = rendered["services"][server["host"]]
    assert code["command"] == ["code-server"]
    assert str(server["port"]) in code["healthcheck"]["test"]
    assert server["location_name"] == "factory"
    assert f"-p {server['port']} " in _entrypoint(tmp_path, "code-server").stdout, "the port the server listens on"


# deploy/postgres/init-databases.sh


def test_init_script_gives_each_service_its_own_database(postgres_dsn: str) -> None:
    params = dict(item.split("=", 1) for item in postgres_dsn.split())
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PGHOST": params["host"],
        "PGPORT": params["port"],
        "POSTGRES_USER": params["user"],
        "DAGSTER_PG_USER": "dagster_deploy_test",
        "DAGSTER_PG_PASSWORD": "pw-'quoted\"",
        "DAGSTER_PG_DB": "dagster deploy test",
        "MLFLOW_PG_PASSWORD": "pw-mlflow",
        "LAKEFS_PG_PASSWORD": "pw-lakefs",
    }
    databases = {"dagster deploy test": "dagster_deploy_test", "mlflow": "mlflow", "lakefs": "lakefs"}
    try:
        result = subprocess.run(
            ["sh", str(INIT_DATABASES)], capture_output=True, text=True, env=environment, timeout=60, check=False
        )
        assert result.returncode == 0, result.stderr
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            owners: dict[str, str] = dict(
                conn.execute(
                    "SELECT d.datname, r.rolname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba"
                    " WHERE d.datname = ANY(%s)",
                    (list(databases),),
                ).fetchall()
            )
        assert owners == databases
        for database, role in databases.items():
            with psycopg.connect(f"{postgres_dsn} user={role} dbname='{database}'") as own:
                assert own.execute("SELECT current_user").fetchone() == (role,)
        with pytest.raises(psycopg.OperationalError, match="permission denied"):
            psycopg.connect(f"{postgres_dsn} user=mlflow dbname=lakefs").close()
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            for database, role in databases.items():
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(database)))
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


# deploy/helm/values.yaml

#: Keys of Dagster's chart values schema (helm/dagster/values.schema.json, generated from the chart's pydantic
#: models; `concurrency` from the newer subschema) that these values use, per object. The chart itself rejects
#: unknown keys only where the schema says additionalProperties false; this catches a misspelt key anywhere here.
# fmt: off
CHART_KEYS: dict[str, set[str]] = {
    "": {
        "dagsterWebserver", "dagster-user-deployments", "postgresql", "generatePostgresqlPasswordSecret",
        "generateCeleryConfigSecret", "rabbitmq", "redis", "flower", "ingress", "imagePullSecrets",
        "computeLogManager", "scheduler", "runLauncher", "pythonLogs", "dagsterDaemon", "busybox", "migrate",
        "telemetry", "serviceAccount", "global", "retention", "additionalInstanceConfig", "concurrency",
    },
    "global": {"postgresqlSecretName", "dagsterHome", "serviceAccountName", "celeryConfigSecretName"},
    "serviceAccount": {"create", "name", "annotations"},
    "postgresql": {
        "image", "enabled", "postgresqlHost", "postgresqlUsername", "postgresqlPassword", "postgresqlDatabase",
        "postgresqlParams", "postgresqlScheme", "service",
    },
    "dagsterWebserver": {
        "replicaCount", "image", "nameOverride", "pathPrefix", "service", "workspace", "env", "envConfigMaps",
        "envSecrets", "deploymentLabels", "labels", "nodeSelector", "affinity", "tolerations",
        "podSecurityContext", "securityContext", "resources", "readinessProbe", "livenessProbe", "startupProbe",
        "annotations", "enableReadOnly", "dbStatementTimeout", "dbPoolRecycle", "logLevel", "schedulerName",
        "volumeMounts", "volumes", "initContainerResources",
    },
    "dagster-user-deployments": {"enabled", "enableSubchart", "imagePullSecrets", "deployments"},
    "dagster-user-deployments.deployments[]": {
        "name", "image", "dagsterApiGrpcArgs", "codeServerArgs", "includeConfigInLaunchedRuns",
        "deploymentNamespace", "port", "env", "envConfigMaps", "envSecrets", "annotations", "nodeSelector",
        "affinity", "tolerations", "podSecurityContext", "securityContext", "resources", "livenessProbe",
        "readinessProbe", "startupProbe", "labels", "volumeMounts", "volumes", "schedulerName", "initContainers",
        "sidecarContainers",
    },
    "runLauncher": {"type", "config"},
    "runLauncher.config": {"celeryK8sRunLauncher", "k8sRunLauncher", "customRunLauncher"},
    "runLauncher.config.k8sRunLauncher": {
        "image", "imagePullPolicy", "jobNamespace", "loadInclusterConfig", "kubeconfigFile", "envConfigMaps",
        "envSecrets", "envVars", "volumeMounts", "volumes", "labels", "failPodOnRunFailure", "resources",
        "schedulerName", "securityContext", "runK8sConfig",
    },
    "runLauncher.config.k8sRunLauncher.runK8sConfig": {
        "containerConfig", "podSpecConfig", "podTemplateSpecMetadata", "jobSpecConfig", "jobMetadata",
    },
    "dagsterDaemon": {
        "enabled", "image", "runCoordinator", "heartbeatTolerance", "env", "envConfigMaps", "envSecrets",
        "deploymentLabels", "labels", "nodeSelector", "affinity", "tolerations", "podSecurityContext",
        "securityContext", "resources", "livenessProbe", "readinessProbe", "startupProbe", "annotations",
        "runMonitoring", "runRetries", "sensors", "schedules", "schedulerName", "volumeMounts", "volumes",
        "initContainerResources",
    },
    "dagsterDaemon.runCoordinator": {"enabled", "type", "config"},
    "dagsterDaemon.runMonitoring": {
        "enabled", "startTimeoutSeconds", "cancelTimeoutSeconds", "maxResumeRunAttempts", "pollIntervalSeconds",
        "freeSlotsAfterRunEndSeconds",
    },
    "telemetry": {"enabled"},
}
# fmt: on


def _unknown_keys(values: Mapping[str, Any]) -> list[str]:
    unknown = []
    for path, allowed in CHART_KEYS.items():
        nodes: list[Any] = [values]
        for part in path.split(".") if path else []:
            many = part.endswith("[]")
            nodes = [n[part.removesuffix("[]")] for n in nodes if part.removesuffix("[]") in n]
            if many:
                nodes = [item for n in nodes for item in n]
        unknown += [f"{path}.{key}" for node in nodes for key in node if key not in allowed]
    return unknown


def test_helm_values_use_the_k8s_run_launcher_and_one_image() -> None:
    values = yaml.safe_load(HELM_VALUES.read_text())
    assert _unknown_keys(values) == []
    assert _unknown_keys({"dagsterDaemon": {"runMonitoring": {"maxRuntime": 1}}}) == [
        "dagsterDaemon.runMonitoring.maxRuntime"
    ]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    images = [values["dagsterWebserver"]["image"], values["dagsterDaemon"]["image"], deployment["image"]]
    assert len({(image["repository"], str(image["tag"])) for image in images}) == 1
    assert str(images[0]["tag"]) not in ("latest", ""), "a fixed tag: run pods run what the code server loaded"
    assert deployment["codeServerArgs"][:2] == ["-m", "factory.definitions"]
    assert values["postgresql"]["enabled"] is False and "postgresqlPassword" not in values["postgresql"]
    assert values["generatePostgresqlPasswordSecret"] is False and values["global"]["postgresqlSecretName"]
    assert values["additionalInstanceConfig"]["concurrency"]["pools"]["default_limit"] == 1
    run_pods = values["runLauncher"]["config"]["k8sRunLauncher"]["runK8sConfig"]["podSpecConfig"]
    assert run_pods["nodeSelector"] == deployment["nodeSelector"], "runs go where the warehouse volume is"

    _, stages = _stages(_instructions(DOCKERFILE.read_text()))
    image_env = " ".join(i.arguments for i in stages[-1] if i.keyword == "ENV")
    home = re.search(r"DAGSTER_HOME=(\S+)", image_env)
    assert home and values["global"]["dagsterHome"] == home.group(1), "the image's DAGSTER_HOME, owned by its user"
    uid = next(i.arguments.partition("=")[2] for i in stages[-1] if i.keyword == "ARG" and "UID=" in i.arguments)
    contexts = [values["dagsterWebserver"], values["dagsterDaemon"], deployment]
    assert {c["podSecurityContext"]["runAsUser"] for c in contexts} | {run_pods["securityContext"]["runAsUser"]} == {
        int(uid)
    }
