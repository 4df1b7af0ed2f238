"""docker-compose.yaml and docker/Dockerfile are a valid deployment, consistent with what the tests run.

Docker does not run where the suite runs, so this reads the files: the compose model (YAML anchors
and merge keys resolved as Compose does), `${VAR:-default}` interpolation with no `.env`, the
components against the deployment suite's, every AIRFLOW__SECTION__KEY against Airflow's and the
provider's config options, URLs between services, volumes, ports, image versions against
constraints.txt and package.json, and the Blob connection through the provider's own code. The
init script (docker/airflow_init.py) runs for real, on the embedded datastore and on Azurite.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import uuid
from collections import Counter
from fnmatch import fnmatch
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from tests.conftest import REPO
from tests.services.airflow_deployment import CELERY_COMPONENTS, SIMPLE_AUTH_MANAGER, AirflowDeployment
from tests.services.azurite import ACCOUNT_KEY, ACCOUNT_NAME, AzuriteServer

COMPOSE_FILE = REPO / "docker-compose.yaml"
DOCKERFILE = REPO / "docker" / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
ENV_EXAMPLE = REPO / ".env.example"
INIT_SCRIPT = REPO / "docker" / "airflow_init.py"

#: Settings every Airflow container needs, as the deployment suite sets them for CeleryExecutor.
REQUIRED_SETTINGS = (
    "AIRFLOW__CORE__EXECUTOR",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__API__SECRET_KEY",
    "AIRFLOW__CORE__FERNET_KEY",
    "AIRFLOW__CORE__AUTH_MANAGER",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE",
    "AIRFLOW__CORE__DAGS_FOLDER",
)
DAGS_IN_CONTAINER = "/opt/airflow/dags"
#: Must never reach the image: big, machine-specific or secret.
MUST_IGNORE = (".git", ".venv", "node_modules", ".airflow", ".env", "tests")

_VARIABLE = re.compile(
    r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


# ---------------------------------------------------------------------- reading the files


def interpolate(value: str, env: dict[str, str] | None = None) -> str:
    """Compose's interpolation: `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `$VAR`; `$$` is a `$`."""
    env = env or {}

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        default = match.group("default")
        if name in env and (env[name] or ":-" not in match.group(0)):
            return env[name]
        return default or ""

    return _VARIABLE.sub(replace, value)


def resolve(node: Any) -> Any:
    """The compose model with every string interpolated as with no `.env` and an empty environment."""
    if isinstance(node, dict):
        return {key: resolve(value) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(value) for value in node]
    return interpolate(node) if isinstance(node, str) else node


def strings(node: Any) -> list[str]:
    """Every string value (and key) in a YAML tree; comments are not in it."""
    if isinstance(node, dict):
        return [text for key, value in node.items() for text in (*strings(key), *strings(value))]
    if isinstance(node, list):
        return [text for value in node for text in strings(value)]
    return [node] if isinstance(node, str) else []


@pytest.fixture(scope="module")
def raw_compose() -> dict[str, Any]:
    """docker-compose.yaml as YAML, merge keys (`<<: *anchor`) resolved by PyYAML as Compose does."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def compose(raw_compose: dict[str, Any]) -> dict[str, Any]:
    return resolve(raw_compose)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a dict (Compose allows a mapping or a list of NAME=value)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def command_words(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return shlex.split(command) if isinstance(command, str) else [str(word) for word in command]


def airflow_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The services that run our image (everything with the AIRFLOW__ settings)."""
    return {name: s for name, s in services.items() if "AIRFLOW__CORE__EXECUTOR" in environment(s)}


def long_running_airflow_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in airflow_services(services).items() if name != "airflow-init"}


def component_kind(component: str) -> str:
    """The `airflow` subcommand of a component: `celery worker 2` (the suite numbers its workers) or
    `celery worker --concurrency 2` -> `celery worker`."""
    words = []
    for word in shlex.split(component):
        if word.startswith("-") or word.isdigit():
            break
        words.append(word)
    return " ".join(words)


def replicas(service: dict[str, Any]) -> int:
    return int((service.get("deploy") or {}).get("replicas", 1))


def host_ports(service: dict[str, Any]) -> list[tuple[str, int]]:
    """(protocol, host port) of each published port, short (`"8080:8080"`) or long syntax."""
    published = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            if port.get("published") is not None:
                published.append((port.get("protocol", "tcp"), int(port["published"])))
            continue
        spec, _, protocol = str(port).partition("/")
        parts = spec.split(":")
        if len(parts) >= 2:  # [ip:]host:container
            published.append((protocol or "tcp", int(parts[-2])))
    return published


def container_ports(service: dict[str, Any]) -> set[int]:
    ports = {
        int(str(p).split("/")[0].split(":")[-1])
        for p in service.get("ports") or []
        if not isinstance(p, dict)
    }
    ports |= {int(p["target"]) for p in service.get("ports") or [] if isinstance(p, dict)}
    return ports | {int(str(p).split("/")[0]) for p in service.get("expose") or []}


def pinned_version(package: str) -> str:
    for line in (REPO / "constraints.txt").read_text().splitlines():
        name, _, version = line.strip().partition("==")
        if name.lower() == package:
            return version
    raise AssertionError(f"{package} is not pinned in constraints.txt")


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of docker/Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, arguments = line.partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def load_init_script() -> ModuleType:
    """docker/airflow_init.py as a module (`docker` is not a package: its name would shadow docker-py)."""
    spec = importlib.util.spec_from_file_location("mlpipe_compose_airflow_init", INIT_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def connection_env(services: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {
        k: v for k, v in environment(services["airflow-scheduler"]).items() if k.startswith("AIRFLOW_CONN_")
    }


# ---------------------------------------------------------------------- services and the common block


def test_every_service_has_an_image_or_a_build(services: dict[str, dict[str, Any]]) -> None:
    assert services, "docker-compose.yaml defines no services"
    for name, service in services.items():
        assert service.get("image") or service.get("build"), f"{name} has neither image nor build"
        build = service.get("build")
        if build:
            context = REPO / (build if isinstance(build, str) else build.get("context", "."))
            dockerfile = context / (
                "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
            )
            assert dockerfile.is_file(), f"{name} builds from {dockerfile}, which does not exist"


def test_airflow_services_share_the_common_block(
    raw_compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    common = resolve(raw_compose["x-airflow-common"])
    common_env = environment(common)
    ours = airflow_services(services)
    expected = {
        "airflow-init",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "airflow-worker",
    }
    assert set(ours) == expected
    for name, service in ours.items():
        assert service["image"] == common["image"] and service["build"] == common["build"], name
        # A service's own `environment:` replaces the merged one: it must merge the common one back.
        env = environment(service)
        assert {k: env.get(k) for k in common_env} == common_env, f"{name} lost common settings"
        assert service["volumes"] == common["volumes"], name
        for dependency in common["depends_on"]:
            assert dependency in service["depends_on"], f"{name} does not wait for {dependency}"


def test_airflow_components_are_the_ones_the_deployment_suite_runs(
    services: dict[str, dict[str, Any]],
) -> None:
    running = Counter()
    for name, service in long_running_airflow_services(services).items():
        assert "entrypoint" not in service, f"{name} must run through the image's entrypoint"
        running[component_kind(shlex.join(command_words(service)))] += replicas(service)

    assert running == Counter(component_kind(c) for c in CELERY_COMPONENTS)
    assert running["celery worker"] >= 2, "two Celery workers, as in the Celery deployment suite"


def test_init_migrates_then_runs_the_init_script(services: dict[str, dict[str, Any]]) -> None:
    init = services["airflow-init"]
    script = "\n".join(command_words(init))

    assert "airflow db migrate" in script
    copies = [args for keyword, args in dockerfile_instructions() if keyword == "COPY"]
    installed = next(args.split()[-1] for args in copies if "docker/airflow_init.py" in args)
    assert f"python {installed}" in script, "airflow-init must run the script the image installs"
    assert script.index("airflow db migrate") < script.index(f"python {installed}")
    for name, service in long_running_airflow_services(services).items():
        assert service["depends_on"].get("airflow-init") == {"condition": "service_completed_successfully"}, (
            name
        )


# ---------------------------------------------------------------------- settings


def test_airflow_settings_are_real_config_options(services: dict[str, dict[str, Any]]) -> None:
    from airflow.configuration import conf

    from airflow_provider_mlpipe.get_provider_info import get_provider_info

    mlpipe_options = set(get_provider_info()["config"]["mlpipe"]["options"])
    known = conf.configuration_description  # Airflow's options and every installed provider's
    unknown = []
    for name, service in services.items():
        for key in environment(service):
            if not key.startswith("AIRFLOW__"):
                continue
            section, _, option = key.removeprefix("AIRFLOW__").lower().partition("__")
            if section == "mlpipe":
                valid = option in mlpipe_options
            else:
                valid = option in (known.get(section) or {}).get("options", {})
            if not valid:
                unknown.append(f"{name}: {key}")
    assert not unknown, f"not Airflow or [mlpipe] options: {unknown}"


def test_required_settings_are_set_like_the_deployment_suite(services: dict[str, dict[str, Any]]) -> None:
    for name, service in airflow_services(services).items():
        env = environment(service)
        # Compose also sets the default datastore: steps on two workers need a shared one (Blob).
        missing = [
            key for key in (*REQUIRED_SETTINGS, "AIRFLOW__MLPIPE__DEFAULT_DATASTORE") if not env.get(key)
        ]
        assert not missing, f"{name} lacks {missing}"
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert env["AIRFLOW__CORE__AUTH_MANAGER"] == SIMPLE_AUTH_MANAGER
        assert env["AIRFLOW__CORE__DAGS_FOLDER"] == DAGS_IN_CONTAINER


def test_required_settings_are_the_ones_the_deployment_suite_sets(tmp_path: Path) -> None:
    """REQUIRED_SETTINGS stays honest: the Celery deployment suite sets each of them too."""
    deployment = AirflowDeployment(executor="CeleryExecutor", components=CELERY_COMPONENTS, home=tmp_path)
    suite_env = deployment._environment()

    assert suite_env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert not [key for key in REQUIRED_SETTINGS if key not in suite_env], "the suite does not set these"


def test_fernet_key_and_secrets_have_usable_defaults(services: dict[str, dict[str, Any]]) -> None:
    from cryptography.fernet import Fernet

    env = environment(services["airflow-scheduler"])
    Fernet(env["AIRFLOW__CORE__FERNET_KEY"].encode())  # raises unless 32 url-safe base64 bytes
    assert len(env["AIRFLOW__API_AUTH__JWT_SECRET"]) >= 32
    assert len(env["AIRFLOW__API__SECRET_KEY"]) >= 16


def test_every_variable_has_a_default_documented_in_env_example(raw_compose: dict[str, Any]) -> None:
    """The file works with no `.env`, and .env.example lists each variable with the same default."""
    defaults: dict[str, str | None] = {}
    for text in strings(raw_compose):
        for match in _VARIABLE.finditer(text):
            name = match.group("name") or match.group("bare")
            if name:
                assert defaults.setdefault(name, match.group("default")) == match.group("default"), name
    documented = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            documented[key.strip()] = value.strip()

    assert defaults, "docker-compose.yaml takes no settings from the environment"
    assert not [n for n, d in defaults.items() if not d], "variables without a default"
    assert documented == defaults


def test_urls_point_at_the_compose_services(services: dict[str, dict[str, Any]]) -> None:
    env = environment(services["airflow-scheduler"])
    postgres = environment(services["postgres"])
    sql = urlparse(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    backend = urlparse(env["AIRFLOW__CELERY__RESULT_BACKEND"])
    broker = urlparse(env["AIRFLOW__CELERY__BROKER_URL"])
    execution_api = urlparse(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])

    assert sql.scheme == "postgresql+psycopg2"
    assert backend.scheme == "db+postgresql"
    for url in (sql, backend):
        assert (url.hostname, url.port or 5432) == ("postgres", 5432)
        assert (url.username, url.password) == (postgres["POSTGRES_USER"], postgres["POSTGRES_PASSWORD"])
        assert url.path == f"/{postgres['POSTGRES_DB']}"
    assert broker.scheme == "redis" and broker.hostname == "redis"
    assert (broker.port or 6379) in container_ports(services["redis"])
    assert execution_api.hostname == "airflow-apiserver" and execution_api.path == "/execution/"
    assert execution_api.port in container_ports(services["airflow-apiserver"])


# ---------------------------------------------------------------------- volumes, dependencies, ports


def test_volumes_exist(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    declared = set(compose.get("volumes") or {})
    used = set()
    for name, service in services.items():
        for volume in service.get("volumes") or []:
            source, _, target = str(volume).partition(":")
            assert target, f"{name}: volume {volume!r} has no target"
            if source.startswith((".", "/", "~")):
                assert (REPO / source).exists(), (
                    f"{name}: bind mount source {source} is not in the repository"
                )
            else:
                assert source in declared, f"{name}: named volume {source!r} is not declared"
                used.add(source)
    assert declared == used, f"declared but unused volumes: {declared - used}"
    dags_mounts = [v for v in services["airflow-worker"]["volumes"] if v.endswith(f":{DAGS_IN_CONTAINER}")]
    assert dags_mounts == [f"./dags:{DAGS_IN_CONTAINER}"]
    assert any(v.startswith("postgres-db-volume:") for v in services["postgres"]["volumes"])


def test_depends_on_targets_exist_with_valid_conditions(services: dict[str, dict[str, Any]]) -> None:
    conditions = {"service_started", "service_healthy", "service_completed_successfully"}
    for name, service in services.items():
        for target, spec in (service.get("depends_on") or {}).items():
            assert target in services and target != name, f"{name} depends on unknown {target}"
            condition = spec["condition"]
            assert condition in conditions, f"{name} -> {target}: {condition}"
            if condition == "service_healthy":
                assert services[target].get("healthcheck"), f"{name} waits for {target}'s health, it has none"
            if condition == "service_completed_successfully":
                assert services[target].get("restart") in (None, "no"), f"{target} must run once"


def test_long_running_services_have_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if name != "airflow-init":
            assert (service.get("healthcheck") or {}).get("test"), f"{name} has no healthcheck"


def test_host_ports_do_not_collide(services: dict[str, dict[str, Any]]) -> None:
    published = Counter(port for service in services.values() for port in host_ports(service))
    assert not [port for port, count in published.items() if count > 1]
    for name, service in services.items():
        assert not (replicas(service) > 1 and host_ports(service)), (
            f"replicas of {name} would share a host port"
        )
    assert ("tcp", 8080) in published, "the UI and REST API on http://localhost:8080"


# ---------------------------------------------------------------------- images


def test_image_runs_the_airflow_version_the_suite_pins() -> None:
    base = [args for keyword, args in dockerfile_instructions() if keyword == "FROM"]
    assert len(base) == 1
    match = re.fullmatch(r"apache/airflow:(?P<airflow>[\d.]+)-python(?P<python>3\.\d+)", base[0])
    assert match, f"unexpected base image {base[0]}"
    assert match["airflow"] == pinned_version("apache-airflow")
    assert match["python"] == "3.11"


def test_dockerfile_copies_what_exists_and_is_not_ignored() -> None:
    patterns = [
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(path: str) -> bool:
        return any(fnmatch(path, p) or fnmatch(path, p.removeprefix("**/")) for p in patterns)

    for entry in MUST_IGNORE:
        assert ignored(entry), f".dockerignore does not keep {entry} out of the build context"
    copies = [args.split() for keyword, args in dockerfile_instructions() if keyword == "COPY"]
    assert copies
    sources = [s for args in copies for s in args[:-1] if not s.startswith("--")]
    for source in (*sources, "pyproject.toml", "README.md", "constraints.txt", "airflow_provider_mlpipe"):
        assert source in sources, f"the image needs {source}"
        assert (REPO / source).exists(), f"COPY {source}: not in the repository"
        assert not ignored(source), f"COPY {source}: excluded by .dockerignore"
    run = " ".join(args for keyword, args in dockerfile_instructions() if keyword == "RUN")
    assert "-c /opt/mlpipe/src/constraints.txt" in run
    assert '"apache-airflow==${AIRFLOW_VERSION}"' in run, "pip must not change the image's Airflow"
    assert "apache-airflow-providers-celery" in run


def test_azurite_image_is_the_release_the_suite_runs(services: dict[str, dict[str, Any]]) -> None:
    npm_version = json.loads((REPO / "package.json").read_text())["devDependencies"]["azurite"]
    assert services["azurite"]["image"] == f"mcr.microsoft.com/azure-storage/azurite:{npm_version}"


# ---------------------------------------------------------------------- the Blob datastore


def azurite_blob_port(services: dict[str, dict[str, Any]]) -> int:
    words = command_words(services["azurite"])
    assert words[0] == "azurite-blob" and words[words.index("--blobHost") + 1] == "0.0.0.0"
    return int(words[words.index("--blobPort") + 1])


def test_default_datastore_is_the_blob_container_on_azurite(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The provider's own resolution, with the containers' environment, gives a client on Azurite."""
    from airflow_provider_mlpipe.hooks.blob_datastore import BlobDatastore
    from airflow_provider_mlpipe.hooks.resolve import resolve_datastore

    env = environment(services["airflow-worker"])
    connections = connection_env(services)
    for key, value in connections.items():
        description = json.loads(value)  # AIRFLOW_CONN_<ID> in Airflow's JSON form
        assert description["conn_type"], key
    for key, value in {
        **connections,
        "AIRFLOW__MLPIPE__DEFAULT_DATASTORE": env["AIRFLOW__MLPIPE__DEFAULT_DATASTORE"],
    }.items():
        monkeypatch.setenv(key, value)

    datastore = resolve_datastore(None)

    assert isinstance(datastore, BlobDatastore)
    url = urlparse(datastore.service_client.url)
    assert (url.scheme, url.hostname, url.port) == ("http", "azurite", azurite_blob_port(services))
    assert datastore.service_client.account_name == ACCOUNT_NAME
    assert datastore.service_client.credential.account_key == ACCOUNT_KEY
    assert f"AIRFLOW_CONN_{datastore.name.upper()}" in connections


# ---------------------------------------------------------------------- the init script, run


def test_init_script_writes_login_and_example_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no Blob connection it sets up the embedded datastore; the login file keeps other users."""
    init = load_init_script()
    passwords = tmp_path / "config" / "passwords.json"
    passwords.parent.mkdir()
    passwords.write_text(json.dumps({"viewer": "v"}))
    root = tmp_path / "datastore"
    for key, value in {
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__MLPIPE__EMBEDDED_ROOT": str(root),
    }.items():
        monkeypatch.setenv(key, value)

    assert init.main({"_AIRFLOW_WWW_USER_USERNAME": "alice", "_AIRFLOW_WWW_USER_PASSWORD": "s3cret"}) == 0

    assert json.loads(passwords.read_text()) == {"viewer": "v", "alice": "s3cret"}
    assert passwords.stat().st_mode & 0o077 == 0
    wine = root / "compare_models" / "wine.csv"
    assert wine.read_text().splitlines()[0].endswith(",target") and len(wine.read_text().splitlines()) == 179


@pytest.mark.integration
def test_init_script_creates_the_blob_container(
    azurite: AzuriteServer,
    services: dict[str, dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The compose connection, pointed at the test Azurite (and a fresh container), works for real."""
    init = load_init_script()
    env = environment(services["airflow-worker"])
    conn_id = env["AIRFLOW__MLPIPE__DEFAULT_DATASTORE"]
    description = json.loads(connection_env(services)[f"AIRFLOW_CONN_{conn_id.upper()}"])
    compose_endpoint = f"http://azurite:{azurite_blob_port(services)}/{ACCOUNT_NAME}"
    assert compose_endpoint in description["extra"]["connection_string"]
    description["extra"]["connection_string"] = description["extra"]["connection_string"].replace(
        compose_endpoint, azurite.blob_endpoint
    )
    container = f"compose-{uuid.uuid4().hex[:12]}"
    description["extra"]["container"] = container
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(description))
    monkeypatch.setenv("AIRFLOW__MLPIPE__DEFAULT_DATASTORE", conn_id)

    init.prepare_default_datastore()
    assert init.upload_example_data(REPO / "dags") is True

    client = azurite.service_client().get_container_client(container)
    assert client.exists()
    assert [b.name for b in client.list_blobs()] == ["compare_models/wine.csv"]
    init.prepare_default_datastore()  # again: an existing container is fine


# ---------------------------------------------------------------------- docker compose itself, if present


def test_docker_compose_config_accepts_the_file() -> None:
    """`docker compose config -q` needs no daemon; it runs when the CLI and its plugin exist."""
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) is None:
            continue
        probe = subprocess.run([*command, "version"], capture_output=True, text=True, timeout=60, check=False)
        if probe.returncode != 0:
            continue
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AIRFLOW", "_AIRFLOW", "POSTGRES", "MLPIPE"))
        }
        result = subprocess.run(
            [*command, "-f", str(COMPOSE_FILE), "config", "-q"],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
            env=env,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return
    found = "docker without the compose plugin" if shutil.which("docker") else "no docker CLI"
    pytest.skip(f"`docker compose config` unavailable here ({found}); the file was checked by parsing it")
