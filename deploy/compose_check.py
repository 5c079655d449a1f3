"""Validates Compose files without a Docker engine, as `docker compose config` would.

    python deploy/compose_check.py [--env-file FILE] [--set KEY=VALUE ...] FILE...

Each file is read as YAML (anchors and `<<` merges resolved), its `${...}` references are interpolated the way Compose
does it (`$$`, `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?message}`, `${VAR?message}`,
`${VAR:+alternative}`, `${VAR+alternative}`, nested defaults), and the result is parsed by the compose-spec package
(a strict parser of the Compose Specification: unknown keys, malformed ports, durations, restart policies or
depends_on conditions are errors). Then the references between the file's parts are checked: `depends_on` names a
service of the file, every named volume, network, secret and config a service uses is declared, `extends` and
`network_mode: service:` name existing services, and no service depends on itself through its dependencies.

Variables come from --env-file files, then --set, then the process environment (which wins, as with Compose).
Exit status 0 when every file is valid, 1 otherwise; the problems are printed one a line.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"


class InterpolationError(ValueError):
    pass


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of an env file (comments, blank lines and `export ` prefixes allowed; quotes removed)."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        if not sep or not re.fullmatch(_NAME, key.strip()):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def _braced_end(text: str, start: int) -> int:
    """Index of the `}` closing the `${` that starts at ``start`` (nested `${...}` allowed)."""
    depth = 0
    i = start
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise InterpolationError(f"unclosed ${{ in {text!r}")


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """One string interpolated as Compose does; raises InterpolationError for a required variable that is missing."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "$":
            out.append(char)
            i += 1
            continue
        if text.startswith("$$", i):
            out.append("$")
            i += 2
            continue
        if text.startswith("${", i):
            end = _braced_end(text, i)
            out.append(_expand(text[i + 2 : end], env))
            i = end + 1
            continue
        match = re.compile(_NAME).match(text, i + 1)
        if match:
            out.append(env.get(match.group(0), ""))
            i = match.end()
            continue
        raise InterpolationError(f"invalid interpolation format in {text!r}: a lone '$' (write '$$' for a dollar)")
    return "".join(out)


def _expand(expression: str, env: Mapping[str, str]) -> str:
    match = re.fullmatch(rf"({_NAME})(?:(:?[-?+])(.*))?", expression, flags=re.DOTALL)
    if not match:
        raise InterpolationError(f"invalid interpolation format: ${{{expression}}}")
    name, operator, argument = match.groups()
    value = env.get(name)
    if operator is None:
        return value or ""
    empty_counts = operator.startswith(":")
    present = value is not None and (value != "" or not empty_counts)
    kind = operator[-1]
    if kind == "-":
        return value if present and value is not None else interpolate(argument, env)
    if kind == "+":
        return interpolate(argument, env) if present else ""
    if not present:  # "?": required
        message = interpolate(argument, env) or "required variable is missing a value"
        raise InterpolationError(f"required variable {name} is missing a value: {message}")
    return value or ""


def interpolate_tree(node: Any, env: Mapping[str, str], path: str = "") -> Any:
    if isinstance(node, str):
        try:
            return interpolate(node, env)
        except InterpolationError as exc:
            raise InterpolationError(f"{path or '/'}: {exc}") from None
    if isinstance(node, list):
        return [interpolate_tree(item, env, f"{path}[{index}]") for index, item in enumerate(node)]
    if isinstance(node, dict):
        return {key: interpolate_tree(value, env, f"{path}.{key}" if path else str(key)) for key, value in node.items()}
    return node


def _named_sources(entries: Any, key: str = "source") -> list[str]:
    names = []
    for entry in entries or []:
        if isinstance(entry, str):
            names.append(entry.split(":", 1)[0])
        elif isinstance(entry, dict) and entry.get(key):
            names.append(str(entry[key]))
    return names


def reference_problems(project: dict[str, Any]) -> list[str]:
    """References between services, volumes, networks, secrets and configs that point at nothing."""
    problems: list[str] = []
    services: dict[str, Any] = project.get("services") or {}
    declared = {kind: set((project.get(kind) or {}).keys()) for kind in ("volumes", "networks", "secrets", "configs")}
    dependencies: dict[str, set[str]] = {}
    for name, service in services.items():
        service = service or {}
        depends = service.get("depends_on") or []
        needed = set(depends if isinstance(depends, list) else depends.keys())
        dependencies[name] = needed
        for other in sorted(needed - set(services)):
            problems.append(f"service {name}: depends_on names no service: {other}")
        extends = service.get("extends")
        if isinstance(extends, dict) and "file" not in extends and extends.get("service") not in services:
            problems.append(f"service {name}: extends names no service: {extends.get('service')}")
        network_mode = str(service.get("network_mode") or "")
        if network_mode.startswith("service:") and network_mode.split(":", 1)[1] not in services:
            problems.append(f"service {name}: network_mode names no service: {network_mode}")
        for mount in service.get("volumes") or []:
            if isinstance(mount, str):
                source = mount.split(":", 1)[0] if ":" in mount else ""
                kind = "bind" if source.startswith((".", "/", "~", "$")) else "volume"
            else:
                source, kind = str(mount.get("source") or ""), mount.get("type", "volume")
            if kind == "volume" and source and source not in declared["volumes"]:
                problems.append(f"service {name}: volume {source} is not declared under volumes")
        networks = service.get("networks") or []
        for network in networks if isinstance(networks, list) else networks.keys():
            if network not in declared["networks"] and network != "default":
                problems.append(f"service {name}: network {network} is not declared under networks")
        for kind in ("secrets", "configs"):
            for source in _named_sources(service.get(kind)):
                if source not in declared[kind]:
                    problems.append(f"service {name}: {kind[:-1]} {source} is not declared under {kind}")
    problems.extend(_cycles(dependencies))
    return problems


def _cycles(dependencies: dict[str, set[str]]) -> list[str]:
    problems = []
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for other in sorted(dependencies.get(name, ())):
            if state.get(other) == 1:
                problems.append("depends_on cycle: " + " -> ".join([*trail[trail.index(other) :], other]))
            elif other in dependencies and other not in state:
                visit(other, [*trail, other])
        state[name] = 2

    for name in sorted(dependencies):
        if name not in state:
            visit(name, [name])
    return problems


def check_file(path: Path, env: Mapping[str, str]) -> list[str]:
    """Problems of one Compose file (empty when it is valid)."""
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        return [f"{path}: {exc}"]
    if not isinstance(raw, dict) or not isinstance(raw.get("services"), dict):
        return [f"{path}: not a Compose file (no services mapping)"]
    try:
        project = interpolate_tree(raw, env)
    except InterpolationError as exc:
        return [f"{path}: {exc}"]
    from compose_spec import PyCompose

    problems = []
    try:
        compose = PyCompose.from_json(json.dumps(project))
        compose.validate()
    except ValueError as exc:
        problems.append(f"{path}: {exc}")
    problems.extend(f"{path}: {problem}" for problem in reference_problems(project))
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--env-file", action="append", type=Path, default=[], help="KEY=VALUE file (repeatable)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a variable (repeatable)")
    args = parser.parse_args(argv)
    env: dict[str, str] = {}
    for env_file in args.env_file:
        env.update(read_env_file(env_file))
    for item in args.set:
        key, _, value = item.partition("=")
        env[key] = value
    env.update(os.environ)
    problems = []
    for path in args.files:
        found = check_file(path, env)
        problems.extend(found)
        if not found:
            print(f"{path}: valid")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
