"""PREMIS agents: Kho itself, the tools it runs, the archive and the submitter."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


KHO_VERSION = package_version("kho")


def kho() -> dict[str, str]:
    return {
        "type": "preservation system",
        "value": f"Kho-{KHO_VERSION}",
        "name": "Kho",
        "agent_type": "software",
        "version": KHO_VERSION,
    }


def tool(name: str, tool_version: str) -> dict[str, str]:
    return {
        "type": "software",
        "value": f"{name}-{tool_version}",
        "name": name,
        "agent_type": "software",
        "version": tool_version,
    }


def organization(name: str) -> dict[str, str]:
    return {"type": "repository code", "value": name, "name": name, "agent_type": "organization"}


def submitter(bag_info: dict[str, str]) -> dict[str, str] | None:
    lowered = {k.lower(): v for k, v in bag_info.items()}
    name = lowered.get("source-organization")
    if not name:
        return None
    return {"type": "submitting organization", "value": name, "name": name, "agent_type": "organization"}


def link(agent: dict[str, str], role: str) -> dict[str, str]:
    return {"type": agent["type"], "value": agent["value"], "role": role}
