"""The OCFL 1.1 object layout of a stored AIP (https://ocfl.io/1.1/spec/): names and inventories only.

Kho keeps every AIP as one OCFL object whose versions are the AIP's revisions: ``v1`` is the ingest,
each migration campaign (and later metadata update) adds ``v2``, ``v3``…, and nothing a version wrote
is ever changed. The E-ARK AIP is the logical content of each version (``METS.xml`` at its logical
root). This module knows the layout and builds the JSON; it does no I/O, so the same code names keys
on a local disk and on S3 (``preservation.ocfl_store`` writes and reads them; decision 0014).

Storage root layout: extension 0003 (hashed truncated n-tuple tree with the object id encapsulating
directory): ``<sha256(id)[0:3]>/<[3:6]>/<[6:9]>/<encoded id>/``. Hashing spreads millions of objects
evenly over folders; the encapsulating directory keeps the AIP's UUID readable in every key.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from packages.checksums import hash_bytes

OCFL_VERSION = "1.1"
INVENTORY_TYPE = "https://ocfl.io/1.1/spec/#inventory"
DIGEST = "sha512"  # the inventory's digestAlgorithm (the spec's SHOULD); SHA-256 goes in the fixity block
FIXITY = "sha256"
INVENTORY = "inventory.json"
SIDECAR = f"{INVENTORY}.{DIGEST}"
CONTENT_DIRECTORY = "content"
OBJECT_NAMASTE = ("0=ocfl_object_1.1", "ocfl_object_1.1\n")
ROOT_NAMASTE = ("0=ocfl_1.1", "ocfl_1.1\n")
LAYOUT_EXTENSION = "0003-hash-and-id-n-tuple-storage-layout"
LAYOUT_CONFIG = {
    "extensionName": LAYOUT_EXTENSION,
    "digestAlgorithm": "sha256",
    "tupleSize": 3,
    "numberOfTuples": 3,
}
ID_PREFIX = "urn:uuid:"
_VERSION = re.compile(r"^v([1-9][0-9]*)$")
_SAFE = re.compile(r"[A-Za-z0-9_-]")


class InventoryError(ValueError):
    """An inventory that is not one Kho can build on (unparsable, wrong type or algorithm, bad head)."""


def object_id(aip_id: str) -> str:
    """The OCFL object id of an AIP: a URI, as the spec recommends."""
    return f"{ID_PREFIX}{aip_id}"


def aip_id_of(identifier: str) -> str | None:
    """The AIP UUID of an OCFL object id Kho wrote, else None."""
    return identifier[len(ID_PREFIX):] if identifier.startswith(ID_PREFIX) else None


def _encapsulation(identifier: str, digest: str) -> str:
    encoded = "".join(c if _SAFE.fullmatch(c) else "".join(f"%{b:02x}" for b in c.encode()) for c in identifier)
    return f"{encoded[:100]}-{digest}" if len(encoded) > 100 else encoded


def object_root(aip_id: str) -> str:
    """The object's root folder (a key prefix) under the storage root, by extension 0003."""
    identifier = object_id(aip_id)
    digest = hashlib.sha256(identifier.encode()).hexdigest()
    size, count = LAYOUT_CONFIG["tupleSize"], LAYOUT_CONFIG["numberOfTuples"]
    assert isinstance(size, int) and isinstance(count, int)
    tuples = [digest[i * size:(i + 1) * size] for i in range(count)]
    return "/".join([*tuples, _encapsulation(identifier, digest)])


def version_name(number: int) -> str:
    return f"v{number}"


def version_number(name: str) -> int:
    match = _VERSION.match(name)
    if not match:
        raise InventoryError(f"not an OCFL version name (v1, v2…): {name!r}")
    return int(match.group(1))


def content_path(version: str, logical_path: str) -> str:
    """Where a version stores a file it adds, relative to the object root."""
    return f"{version}/{CONTENT_DIRECTORY}/{logical_path}"


def storage_root_files() -> list[tuple[str, bytes]]:
    """The files a storage root holds besides its objects (relative to the location's root)."""
    return [
        (ROOT_NAMASTE[0], ROOT_NAMASTE[1].encode()),
        ("ocfl_layout.json", _json({"extension": LAYOUT_EXTENSION,
                                    "description": "Hashed (SHA-256) n-tuple tree (3 x 3) with the object id "
                                                   "as the encapsulating directory"})),
        (f"extensions/{LAYOUT_EXTENSION}/config.json", _json(LAYOUT_CONFIG)),
    ]


def _json(data: Any) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def sidecar(inventory_bytes: bytes) -> bytes:
    """The ``inventory.json.sha512`` text for an inventory's bytes."""
    return f"{hash_bytes(inventory_bytes, [DIGEST])[DIGEST]} {INVENTORY}\n".encode()


def sidecar_digest(text: bytes) -> str:
    """The digest a sidecar file names (spec: digest, whitespace, ``inventory.json``)."""
    parts = text.decode("utf-8", "replace").split()
    if len(parts) != 2 or parts[1] != INVENTORY or not re.fullmatch(r"[0-9a-fA-F]{128}", parts[0]):
        raise InventoryError("the inventory sidecar is not '<sha512> inventory.json'")
    return parts[0].lower()


@dataclass(frozen=True)
class NewFile:
    """A file a new version holds at ``logical_path``; ``sha256`` goes into the fixity block."""

    logical_path: str
    sha512: str
    sha256: str


@dataclass
class Inventory:
    """An OCFL inventory: the manifest of every content file of every version, and each version's state."""

    id: str
    head: str = ""
    manifest: dict[str, list[str]] = field(default_factory=dict)  # sha512 -> content paths
    fixity: dict[str, list[str]] = field(default_factory=dict)  # sha256 -> content paths
    versions: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> bytes:
        """The inventory's bytes: deterministic (sorted keys, sorted path lists), so a rerun that adds
        the same version writes the same bytes."""
        data: dict[str, Any] = {
            "id": self.id,
            "type": INVENTORY_TYPE,
            "digestAlgorithm": DIGEST,
            "head": self.head,
            "contentDirectory": CONTENT_DIRECTORY,
            "manifest": {d: sorted(p) for d, p in sorted(self.manifest.items())},
            "versions": self.versions,
        }
        if self.fixity:
            data["fixity"] = {FIXITY: {d: sorted(p) for d, p in sorted(self.fixity.items())}}
        return _json(data)

    @classmethod
    def from_json(cls, raw: bytes) -> Inventory:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InventoryError(f"inventory.json is not JSON: {exc}") from exc
        if not isinstance(data, dict) or data.get("type") != INVENTORY_TYPE:
            raise InventoryError(f"not an OCFL {OCFL_VERSION} inventory (type {data.get('type')!r})"
                                 if isinstance(data, dict) else "inventory.json is not a JSON object")
        if data.get("digestAlgorithm") != DIGEST:
            raise InventoryError(f"inventory digestAlgorithm {data.get('digestAlgorithm')!r}, Kho writes {DIGEST}")
        if data.get("contentDirectory", CONTENT_DIRECTORY) != CONTENT_DIRECTORY:
            raise InventoryError("inventory contentDirectory is not 'content'")
        versions = data.get("versions")
        head = data.get("head")
        if not isinstance(versions, dict) or not isinstance(head, str) or head not in versions:
            raise InventoryError("inventory head is not one of its versions")
        expected = [version_name(n) for n in range(1, version_number(head) + 1)]
        if sorted(versions, key=version_number) != expected:
            raise InventoryError(f"inventory versions {sorted(versions)} are not v1..{head}")
        fixity = (data.get("fixity") or {}).get(FIXITY) or {}
        return cls(id=str(data.get("id")), head=head, manifest=dict(data.get("manifest") or {}),
                   fixity=dict(fixity), versions=versions)

    def digests(self) -> dict[str, str]:
        """SHA-256 and SHA-512 of the inventory's bytes (what every location's ``inventory.json`` holds)."""
        raw = self.to_json()
        return hash_bytes(raw, [FIXITY, DIGEST])

    @property
    def head_number(self) -> int:
        return version_number(self.head) if self.head else 0

    def state(self, version: str | None = None) -> dict[str, str]:
        """logical path -> sha512 of ``version`` (default: the head)."""
        name = version or self.head
        if not name:
            return {}
        return {path: digest for digest, paths in self.versions[name]["state"].items() for path in paths}

    def content_of(self, digest: str) -> str:
        """The content path (relative to the object root) that holds the bytes of ``digest``."""
        return sorted(self.manifest[digest])[0]

    def sha256_of(self, content: str) -> str | None:
        for digest, paths in self.fixity.items():
            if content in paths:
                return digest
        return None

    def next_version(
        self,
        files: Iterable[NewFile],
        *,
        created: str,
        message: str,
        user: dict[str, str],
        removed: Iterable[str] = (),
    ) -> tuple[Inventory, dict[str, str]]:
        """The inventory with one more version: the head's state, minus ``removed``, plus ``files``
        (added or replaced at their logical paths). A file whose bytes an earlier version already holds
        is not stored again (OCFL deduplication). Returns the new inventory and, for every logical path
        of the new version, the content path that holds its bytes (new ones under ``vN/content/``)."""
        number = self.head_number + 1
        name = version_name(number)
        state = self.state()
        for path in removed:
            state.pop(path, None)
        manifest = {d: list(p) for d, p in self.manifest.items()}
        fixity = {d: list(p) for d, p in self.fixity.items()}
        for item in files:
            _check_logical(item.logical_path)
            state[item.logical_path] = item.sha512
            if item.sha512 not in manifest:
                content = content_path(name, item.logical_path)
                manifest[item.sha512] = [content]
                fixity.setdefault(item.sha256, []).append(content)
        _check_no_prefix_clash(state)
        grouped: dict[str, list[str]] = {}
        for path, digest in state.items():
            grouped.setdefault(digest, []).append(path)
        versions = dict(self.versions)
        versions[name] = {
            "created": created,
            "message": message,
            "user": user,
            "state": {d: sorted(p) for d, p in sorted(grouped.items())},
        }
        new = Inventory(id=self.id, head=name, manifest=manifest, fixity=fixity, versions=versions)
        return new, {path: new.content_of(digest) for path, digest in state.items()}


def _check_logical(path: str) -> None:
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise InventoryError(f"not a valid OCFL logical path: {path!r}")


def _check_no_prefix_clash(state: dict[str, str]) -> None:
    """OCFL forbids a logical path that is also a directory of another (E095)."""
    directories = {"/".join(p.split("/")[:i]) for p in state for i in range(1, p.count("/") + 1)}
    clash = sorted(directories & state.keys())
    if clash:
        raise InventoryError(f"logical path {clash[0]!r} is both a file and a folder")


def new_object(aip_id: str) -> Inventory:
    """The empty inventory a first version (``v1``) is added to."""
    return Inventory(id=object_id(aip_id))
