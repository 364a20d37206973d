"""The format policy (``policy.yaml``) and the conversion tools (``tools.yaml``), validated at load.

Archivists change these files, so a mistake must be reported with the file, the place and the
rule broken — never discovered halfway through an ingest.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from format_registry import settings as registry_settings

HERE = Path(__file__).resolve().parent
SCHEMAS = HERE.parent / "schemas"
DEFAULT_POLICY = HERE / "policy.yaml"
DEFAULT_TOOLS = HERE / "tools.yaml"
PLACEHOLDER = re.compile(r"\{(input|output|outdir|scratch|stem|python)\}")


class PolicyError(ValueError):
    """policy.yaml or tools.yaml is not usable; the message says where and why."""


@dataclass(frozen=True)
class Action:
    action: str  # keep | normalise | use-original | use-preservation | none
    target: str | None = None
    tool: str | None = None

    def describe(self) -> str:
        if self.action == "normalise":
            return f"normalise to {self.target} with {self.tool}"
        return self.action


@dataclass(frozen=True)
class Decision:
    """What the policy says about one format, and why (which entry matched, by what)."""

    entry_id: str
    name: str
    risk: str
    preservation: Action
    access: Action
    rule: str
    matched_by: str  # "puid fmt/412", "mime image/png", "default"


@dataclass(frozen=True)
class Tool:
    name: str
    command: tuple[str, ...]
    output: str
    extension: str
    timeout: float
    expect: tuple[str, ...]
    batch: bool = False  # the tool converts many inputs in one process ({input} stands for all of them)


@dataclass
class Policy:
    path: Path
    default: dict[str, Any]
    entries: list[dict[str, Any]]
    tools: dict[str, Tool] = field(default_factory=dict)

    def decide(self, puid: str | None, mime: str | None) -> Decision:
        if puid:
            for entry in self.entries:
                if puid in entry.get("puids", []):
                    return _decision(entry, f"puid {puid}")
        if mime:
            for entry in self.entries:
                if mime in entry.get("mimes", []):
                    return _decision(entry, f"mime {mime}")
        return _decision({"id": "default", "name": "not in the policy", **self.default}, "default")


def _action(data: dict[str, Any]) -> Action:
    return Action(action=data["action"], target=data.get("target"), tool=data.get("tool"))


def _decision(entry: dict[str, Any], matched_by: str) -> Decision:
    return Decision(entry_id=entry["id"], name=entry["name"], risk=entry["risk"],
                    preservation=_action(entry["preservation"]), access=_action(entry["access"]),
                    rule=entry["rule"], matched_by=matched_by)


def _load_yaml(path: Path, schema_name: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"{path}: cannot read: {exc}") from exc
    schema = json.loads((SCHEMAS / schema_name).read_text(encoding="utf-8"))
    import jsonschema  # only when a policy file is checked (~50 ms of imports)

    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.path))
    if errors:
        lines = [f"{path}: {'/'.join(str(p) for p in e.path) or '(top)'}: {e.message}" for e in errors[:20]]
        raise PolicyError("\n".join(lines))
    return dict(data)


def load_policy(policy_path: Path | None = None, tools_path: Path | None = None) -> Policy:
    policy_path = Path(policy_path or registry_settings.path("policy") or DEFAULT_POLICY)
    tools_path = Path(tools_path or registry_settings.path("tools") or DEFAULT_TOOLS)
    data = _load_yaml(policy_path, "policy.schema.json")
    tools_data = _load_yaml(tools_path, "tools.schema.json")["tools"]
    tools = {name: Tool(name=name, command=tuple(spec["command"]), output=spec["output"],
                        extension=spec["extension"], timeout=float(spec["timeout"]), expect=tuple(spec["expect"]),
                        batch=bool(spec.get("batch", False)))
             for name, spec in tools_data.items()}
    problems = []
    seen_ids: set[str] = set()
    for index, entry in enumerate(data["formats"]):
        if entry["id"] in seen_ids:
            problems.append(f"{policy_path}: formats/{index}: duplicate id {entry['id']!r}")
        seen_ids.add(entry["id"])
        for purpose in ("preservation", "access"):
            tool = entry[purpose].get("tool")
            if tool and tool not in tools:
                problems.append(f"{policy_path}: formats/{index} ({entry['id']}): {purpose} tool {tool!r} "
                                f"is not defined in {tools_path}")
    if problems:
        raise PolicyError("\n".join(problems))
    return Policy(path=policy_path, default=data["default"], entries=list(data["formats"]), tools=tools)


@lru_cache(maxsize=4)
def cached_policy(policy_path: str | None = None, tools_path: str | None = None) -> Policy:
    return load_policy(Path(policy_path) if policy_path else None, Path(tools_path) if tools_path else None)


def render_command(tool: Tool, *, source: Path, output: Path, outdir: Path, scratch: Path) -> list[str]:
    """Substitute only Kho's placeholders, so tool syntax with braces (LibreOffice filter JSON) is untouched."""
    values = {"input": str(source), "output": str(output), "outdir": str(outdir), "scratch": str(scratch),
              "stem": source.stem, "python": sys.executable}
    return [PLACEHOLDER.sub(lambda m: values[m.group(1)], part) for part in tool.command]


def output_path(tool: Tool, *, source: Path, outdir: Path) -> Path:
    return Path(PLACEHOLDER.sub(lambda m: {"outdir": str(outdir), "stem": source.stem}.get(m.group(1), m.group(0)),
                                tool.output))
