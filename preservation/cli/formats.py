"""``kho identify``, ``kho validate``, ``kho policy show|check|explain``: file formats and the format policy."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from preservation.cli.base import EXIT_OK, EXIT_REJECTED, EXIT_USAGE, Json, app, command, new_app, print_json
from preservation.config import Settings

policy_app = new_app("the format policy (format_registry/policy.yaml)")
app.add_typer(policy_app, name="policy", help="the format policy (format_registry/policy.yaml)")

Paths = Annotated[list[str], typer.Argument(metavar="PATH")]
PolicyFile = Annotated[str | None, typer.Option(
    "--policy", help="policy file (default: KHO_POLICY or the bundled policy.yaml)")]
ToolsFile = Annotated[str | None, typer.Option(
    "--tools", help="tools file (default: KHO_TOOLS or the bundled tools.yaml)")]


@command(app, "identify", help="identify file formats (PRONOM PUID, MIME)")
def identify(settings: Settings, paths: Paths, as_json: Json = False) -> int:
    from format_registry.identify import engine_info
    from format_registry.identify import identify as identify_file

    options = settings.identify_options()
    if not as_json:
        print(f"# {engine_info(**options).tool}")
    status = EXIT_OK
    for given in paths:
        root = Path(given)
        if not root.exists():
            print(f"{given}: no such file / không tồn tại", file=sys.stderr)
            status = EXIT_REJECTED
            continue
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in files:
            found = identify_file(path, **options)
            if as_json:
                print_json({"path": str(path), **found.to_dict()})
            else:
                print(f"{path}\t{found.puid or '-'}\t{found.format_name or '-'}\t{found.mime or '-'}\t{found.method}")
    return status


@command(app, "validate", help="validate files (JHOVE where installed, built-in validators)")
def validate(settings: Settings, paths: Paths, as_json: Json = False) -> int:
    """Report, never judge: exit 0 even for invalid files (2 only for usage errors)."""
    from format_registry.identify import identify as identify_file
    from format_registry.validators import validate_file

    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        print(f"kho validate: no such file / không tồn tại: {', '.join(missing)}", file=sys.stderr)
        return EXIT_USAGE
    for given in paths:
        root = Path(given)
        for path in sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]:
            found = identify_file(path)
            result = validate_file(path, found.puid, found.mime)
            if as_json:
                print_json({"path": str(path), "puid": found.puid, "mime": found.mime, **result.to_dict()})
            else:
                first = result.messages[0].text if result.messages else ""
                print(f"{path}\t{found.puid or '-'}\t{result.validator} {result.tool_version}\t{result.status}"
                      f"\t{first[:100]}")
    return EXIT_OK


def _policy(policy: str | None, tools: str | None) -> Any:
    from format_registry.policy import load_policy

    return load_policy(Path(policy) if policy else None, Path(tools) if tools else None)


@command(policy_app, "show", help="list the policy's format entries")
def policy_show(settings: Settings, policy: PolicyFile = None, tools: ToolsFile = None, as_json: Json = False) -> int:
    loaded = _policy(policy, tools)
    if as_json:
        print_json({"path": str(loaded.path), "default": loaded.default, "formats": loaded.entries})
        return EXIT_OK
    for entry in loaded.entries:
        print(f"{entry['id']:<18} risk {entry['risk']:<6} keep→{entry['preservation']['action']:<10}"
              f" access→{entry['access']['action']:<16} {entry['name']}")
    return EXIT_OK


@command(policy_app, "check", help="validate policy.yaml and tools.yaml")
def policy_check(settings: Settings, policy: PolicyFile = None, tools: ToolsFile = None,
                 as_json: Json = False) -> int:
    from format_registry.policy import PolicyError

    try:
        loaded = _policy(policy, tools)
    except PolicyError as exc:
        print(f"policy invalid / chính sách không hợp lệ:\n{exc}", file=sys.stderr)
        return EXIT_REJECTED
    missing = sorted({spec.command[0] for spec in loaded.tools.values()
                      if not spec.command[0].startswith("{") and shutil.which(spec.command[0]) is None})
    print(f"{loaded.path}: valid, {len(loaded.entries)} format entries, {len(loaded.tools)} tools")
    for program in missing:
        print(f"warning: {program} is not installed; conversions that need it will fail and be flagged for review")
    return EXIT_OK


@command(policy_app, "explain", help="what would happen to FILE, and why")
def policy_explain(settings: Settings, files: Paths, policy: PolicyFile = None, tools: ToolsFile = None,
                   as_json: Json = False) -> int:
    from format_registry.identify import identify as identify_file

    loaded = _policy(policy, tools)
    status = EXIT_OK
    for given in files:
        path = Path(given)
        if not path.is_file():
            print(f"{given}: no such file / không tồn tại", file=sys.stderr)
            status = EXIT_REJECTED
            continue
        found = identify_file(path)
        decision = loaded.decide(found.puid, found.mime)
        data = {
            "path": given, "puid": found.puid, "format": found.format_name, "mime": found.mime,
            "policy_entry": decision.entry_id, "matched_by": decision.matched_by, "risk": decision.risk,
            "preservation": decision.preservation.describe(), "access": decision.access.describe(),
            "rule": decision.rule,
        }
        if as_json:
            print_json(data)
        else:
            print(f"{given}: {found.puid or '-'} {found.format_name or found.mime or 'unknown'}\n"
                  f"  policy entry {decision.entry_id} (matched by {decision.matched_by}), risk {decision.risk}\n"
                  f"  preservation: {decision.preservation.describe()}\n  access: {decision.access.describe()}\n"
                  f"  why: {decision.rule}")
    return status
