"""Kho's AIP, DIP and hand-over SIP against E-ARK's own validator: eark-validator 1.1.3 (E-ARK Foundation / Open
Preservation Foundation, ``pip install eark-validator``), run as a separate program from its own virtual environment
(``tests/reference``). It must find no error in any of them except the ones in ``KNOWN_VALIDATOR_FAULTS``, each a
place where the validator, not Kho, is wrong, and each asserted to occur exactly as often as its reason predicts
and only where that reason holds (decision 0015). Kho's own checks by requirement id are in test_eark_written.py.

The validator reads its vocabularies from earkcsip.dilcis.eu when it is imported and crashes without a network;
``BOOT`` serves it the copies its own release ships instead (only ``urlopen`` is replaced, nothing it checks), and
``test_the_vocabularies_served_offline_hold_every_value_kho_writes`` shows that this cannot change a verdict on a
Kho package. The validator also crashes, on byte offsets alone, on some valid METS (``KNOWN_VALIDATOR_CRASH``):
the crash is predicted per METS and must happen exactly then, and the same checks are then run without the step
that crashes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from packages.eark import parse_xml
from packages.eark_requirements import CONTENT_CATEGORY, CONTENT_INFORMATION_TYPE, OAIS_PACKAGE_TYPE, STATUS
from packages.mets import SIP_PROFILE
from tests.conftest import FIXTURE_SIPS, ROOT, run_kho
from tests.reference import tool
from tests.stored import stored_aip

M = "{http://www.loc.gov/METS/}"
CSIP = "{https://DILCIS.eu/XML/METS/CSIPExtensionMETS}"
PREMIS = "{http://www.loc.gov/premis/v3}"
VALIDATOR_TIMEOUT = 120
# Whichever test runs first builds every package (three ingests, two DIPs, one hand-over: ~10 s on an idle machine);
# each validator run takes about half a second.
pytestmark = pytest.mark.timeout(300)
# Runs the validator's own command line (eark_validator.cli.app.main) with urllib.request.urlopen answering the four
# vocabulary URLs it fetches at import time from the copies in its package (ipxml/resources/vocabs).
OFFLINE = """
import sys, urllib.request
from importlib.util import find_spec
from pathlib import Path
VOCABS = Path(find_spec("eark_validator").origin).parent / "ipxml" / "resources" / "vocabs"
def offline(url, *args, **kwargs):
    local = VOCABS / str(getattr(url, "full_url", url)).rsplit("/", 1)[-1]
    if not local.is_file():
        raise OSError(f"no network here, and no copy of {url} in {VOCABS}")
    return open(local, "rb")
urllib.request.urlopen = offline
"""
BOOT = OFFLINE + """
from eark_validator.cli.app import main
sys.argv[0] = "eark-validator"
main()
"""
# The validator's checks exactly as eark_validator.packages.PackageValidator.validate (1.1.3) runs them — structure,
# METS schema, CSIP Schematron, then the SIP or DIP Schematron — without the step that gathers the report's
# package details (InformationPackages.from_path), which is where KNOWN_VALIDATOR_CRASH happens. Used only when
# the command line crashed exactly as predicted.
RULES_ONLY = OFFLINE + """
import json
from lxml import etree
from eark_validator import rules, structure
from eark_validator.infopacks.package_handler import PackageHandler
from eark_validator.mets import MetsValidator
from eark_validator.specifications.specification import SpecificationType, SpecificationVersion
root = PackageHandler().prepare_package(Path(sys.argv[1]))
well_formed, struct = structure.validate(root)
report = {"structure": struct.model_dump(mode="json")}
if well_formed:
    schema = MetsValidator(str(root))
    schema.validate_mets("METS.xml")
    csip = rules.ValidationProfile(SpecificationType.CSIP, SpecificationVersion.V2_1_0)
    csip.validate(root / "METS.xml")
    results = csip.get_all_results()
    header = etree.parse(str(root / "METS.xml")).getroot().find("{http://www.loc.gov/METS/}metsHdr")
    kind = header.get("{https://DILCIS.eu/XML/METS/CSIPExtensionMETS}OAISPACKAGETYPE", "")
    if kind in ("SIP", "DIP"):
        profile = rules.ValidationProfile(SpecificationType.from_string(kind), SpecificationVersion.V2_1_0)
        profile.validate(root / "METS.xml")
        results.extend(profile.get_all_results())
    report["metadata"] = {"schema_results": {"messages": [m.model_dump(mode="json") for m in schema.validation_errors]},
                          "schematron_results": {"messages": [m.model_dump(mode="json") for m in results]}}
    report["package"] = {"details": {"oaispackagetype": kind}}
print(json.dumps(report))
"""
# What eark_validator.mets.MetsFiles.from_file does with the validator's own lxml: it reads file/FLocat at the
# file element's *start* event, when lxml may not have parsed the child yet (it parses in 32 KiB chunks).
CRASH_PROBE = """
import sys
from lxml import etree
M = "{http://www.loc.gov/METS/}"
events = etree.iterparse(sys.argv[1], events=["start", "start-ns"])
print(any(event == "start" and element.tag == M + "file" and element.find(M + "FLocat") is None
          for event, element in events))
"""
KNOWN_VALIDATOR_CRASH = (
    "MetsFiles.from_file reads each file's FLocat at the file element's start event (iterparse); when one of lxml's "
    "32 KiB read chunks ends between <file> and its <FLocat>, the child is not there yet and the validator stops "
    "with AttributeError: 'NoneType' object has no attribute 'attrib' (in _get_path_attrib). Whether a given METS "
    "trips it depends only on byte offsets; the METS is valid (asserted against the validator's own XSDs)")
SIP_21_PROFILE = "https://earksip.dilcis.eu/profile/E-ARK-SIP.xml"  # the only value the validator's SIP2 accepts


@dataclass(frozen=True)
class Package:
    """A package Kho wrote, as the validator is given it (folder or ZIP) and as the test reads it."""

    name: str
    kind: str  # AIP, SIP, DIP
    given: Path  # what the validator is run on
    root: Path  # the package folder
    mets: etree._Element

    def groups(self) -> list[etree._Element]:
        return list(self.mets.iter(f"{M}fileGrp"))

    def creators(self) -> list[etree._Element]:
        return [a for a in self.mets.iterfind(f"{M}metsHdr/{M}agent") if a.get("ROLE") == "CREATOR"]

    def has_content(self) -> bool:
        return any(p.is_file() for p in (self.root / "representations").rglob("*"))


def _software(agent: etree._Element) -> bool:
    """The agent CSIP10-CSIP16 describe: the software that made the package, with its version."""
    notes = agent.findall(f"{M}note")
    return (agent.get("TYPE"), agent.get("OTHERTYPE")) == ("OTHER", "SOFTWARE") and len(notes) == 1 and (
        notes[0].get(f"{CSIP}NOTETYPE") == "SOFTWARE VERSION" and bool((notes[0].text or "").strip()))


def _submitter_only(package: Package) -> bool:
    """The CREATOR agents are Kho (CSIP10-CSIP16) and, in a SIP, the submitting archive (SIP15-SIP18)."""
    others = [a for a in package.creators() if not _software(a)]
    return sum(map(_software, package.creators())) == 1 and all(
        a.get("TYPE") == "ORGANIZATION" and (a.findtext(f"{M}name") or "").strip() for a in others
    ) and len(others) == (package.kind == "SIP")


@dataclass(frozen=True)
class Fault:
    """An error the validator reports where Kho is right: why, how many times it must be reported for a package
    (mirroring the validator's faulty rule), and the condition under which the reason holds."""

    reason: str
    expected: Callable[[Package], int]
    holds: Callable[[Package], bool]


_AGENT_RULE = ("the 2.1.0 Schematron applies the software-agent rules to every metsHdr/agent[@ROLE='CREATOR'], but "
               "SIP15-SIP17 (MUST) require a second CREATOR agent, the submitting organisation (TYPE ORGANIZATION), "
               "which cannot be TYPE OTHER / OTHERTYPE SOFTWARE nor carry a SOFTWARE VERSION note")
KNOWN_VALIDATOR_FAULTS: dict[str, Fault] = {
    "XML-1": Fault(
        "its METS XSD set has no PREMIS schema, so the PREMIS 3 Kho embeds in digiprovMD/mdWrap/xmlData (METS allows "
        "any XML there) fails on xsi:type='premis:file'; lxml stops at that first error. The same METS is valid "
        "against the validator's own METS, XLink and CSIP-extension XSDs once PREMIS 3 is added (asserted)",
        lambda p: int(p.mets.find(f".//{M}xmlData/{PREMIS}premis") is not None),
        lambda p: not _errors_with_premis(p.mets),
    ),
    "CSIP63": Fault(
        "its assertion '(@CIT='OTHER' and @OTHERCIT) or (@CIT != 'OTHER' and not(@CIT))' can only hold for a group "
        "whose csip:CONTENTINFORMATIONTYPE is OTHER, so it fails every other file group; CSIP63 (a MAY) only "
        "concerns groups that say OTHER, and Kho writes none",
        lambda p: sum(not (g.get(f"{CSIP}CONTENTINFORMATIONTYPE") == "OTHER"
                           and g.get(f"{CSIP}OTHERCONTENTINFORMATIONTYPE")) for g in p.groups()),
        lambda p: all(g.get(f"{CSIP}CONTENTINFORMATIONTYPE") in (None, "MIXED") for g in p.groups()),
    ),
    "CSIP66": Fault(
        "CSIP60/CSIP113 make the Documentation and Schemas groups MUST 1..n even when the package has no "
        "documentation or schema; the DILCIS Board settled that such a group is written empty "
        "(E-ARK-CSIP issue #752), which the 2.1.0 rule, older than that answer, fails",
        lambda p: sum(g.get("USE") in ("Documentation", "Schemas") and g.find(f"{M}file") is None for g in p.groups()),
        lambda p: all(g.find(f"{M}file") is not None for g in p.groups() if g.get("USE") not in (
            "Documentation", "Schemas")),
    ),
    "CSIP103": Fault(
        "it asks for a 'Representations' content division in every package, but that division describes content "
        "(CSIP101, 0..1); a DIP whose every file was withheld carries only metadata, and then the Metadata "
        "division is 'the only sub division that occurs' (CSIP88)",
        lambda p: int(p.mets.find(f"{M}structMap[@LABEL='CSIP']/{M}div/{M}div[@LABEL='Representations']") is None),
        lambda p: not p.has_content(),
    ),
    "CSIP114": Fault(
        "it asks for a Representations file group in every package, but a package that only carries metadata needs "
        "no content file references (CSIP58): a DIP whose every file was withheld",
        lambda p: int(not any((g.get("USE") or "").startswith("Representations") for g in p.groups())),
        lambda p: not p.has_content(),
    ),
    "CSIP12": Fault(_AGENT_RULE, lambda p: sum(a.get("TYPE") != "OTHER" for a in p.creators()), _submitter_only),
    "CSIP13": Fault(_AGENT_RULE, lambda p: sum(a.get("OTHERTYPE") != "SOFTWARE" for a in p.creators()),
                    _submitter_only),
    "CSIP15": Fault(_AGENT_RULE, lambda p: sum(not (len(a.findall(f"{M}note")) == 1 and (a.findtext(f"{M}note") or ""))
                                               for a in p.creators()), _submitter_only),
    "CSIP16": Fault(_AGENT_RULE, lambda p: sum(a.find(f"{M}note[@{CSIP}NOTETYPE='SOFTWARE VERSION']") is None
                                               for a in p.creators()), _submitter_only),
    "SIP2": Fault(
        "it checks E-ARK SIP 2.1.0, whose SIP2 value is https://earksip.dilcis.eu/profile/E-ARK-SIP.xml; SIP 2.2.0's "
        "SIP2 sets mets/@PROFILE to https://earksip.dilcis.eu/profile/E-ARK-SIP-v2-2-0.xml, which Kho writes",
        lambda p: int(p.kind == "SIP" and p.mets.get("PROFILE") != SIP_21_PROFILE),
        lambda p: p.mets.get("PROFILE") == SIP_PROFILE,
    ),
    "SIP14": Fault(
        "it requires an unqualified @NOTETYPE='IDENTIFICATIONCODE' on every note of a CREATOR agent, the software "
        "agent's included, whose note CSIP16 requires to be csip:NOTETYPE='SOFTWARE VERSION'; SIP14 (2.2) concerns "
        "the optional identification note of an archival creator agent (SIP9-SIP13), which Kho does not write",
        lambda p: sum(n.get("NOTETYPE") != "IDENTIFICATIONCODE" for a in p.creators() for n in a.findall(f"{M}note"))
        if p.kind == "SIP" else 0,
        lambda p: all(n.get(f"{CSIP}NOTETYPE") == "SOFTWARE VERSION" for a in p.creators()
                      for n in a.findall(f"{M}note")),
    ),
}
XML1_MESSAGE = re.compile(
    r"is not valid XML\. Element '\{http://www\.loc\.gov/premis/v3\}\w+', attribute "
    r"'\{http://www\.w3\.org/2001/XMLSchema-instance\}type': The QName value '\{http://www\.loc\.gov/premis/v3\}\w+' "
    r"of the xsi:type attribute does not resolve to a type definition\.$")


def _ref_python() -> Path:
    """The interpreter of the validator's own virtual environment (the shebang of its script)."""
    script = tool("eark-validator")
    first = script.read_text(encoding="utf-8", errors="replace").splitlines()[0]
    return Path(first.removeprefix("#!").strip()) if first.startswith("#!") else script.parent / "python"


@cache
def _resources() -> Path:
    """eark_validator/ipxml/resources of the installed validator (found without importing it: import fetches)."""
    found = subprocess.run(
        [str(_ref_python()), "-c", "from importlib.util import find_spec; from pathlib import Path; "
         "print(Path(find_spec('eark_validator').origin).parent / 'ipxml' / 'resources')"],
        capture_output=True, text=True, timeout=60, check=True)
    return Path(found.stdout.strip())


@cache
def _validator_xsd_with_premis() -> etree.XMLSchema:
    """The validator's own METS, XLink and CSIP-extension XSDs, with the PREMIS 3 schema it lacks added."""
    schema = _resources() / "schema"
    imports = [("http://www.w3.org/1999/xlink", schema / "xlink.xsd"),
               ("http://www.loc.gov/METS/", schema / "mets.xsd"),
               ("https://DILCIS.eu/XML/METS/CSIPExtensionMETS", schema / "DILCISExtensionMETS.xsd"),
               ("http://www.loc.gov/premis/v3", ROOT / "schemas/standards/premis-3.0/premis.xsd")]
    xs = "http://www.w3.org/2001/XMLSchema"
    wrapper = etree.Element(f"{{{xs}}}schema", nsmap={"xs": xs})
    for namespace, location in imports:
        etree.SubElement(wrapper, f"{{{xs}}}import", namespace=namespace, schemaLocation=location.as_uri())
    return etree.XMLSchema(wrapper)


def _errors_with_premis(mets: etree._Element) -> list[str]:
    """What the validator's XSDs, completed with PREMIS 3, find wrong in ``mets`` (nothing, for Kho's)."""
    schema = _validator_xsd_with_premis()
    return [] if schema.validate(mets.getroottree()) else [str(e) for e in schema.error_log][:5]


def _run(script: str, path: Path, scratch: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(_ref_python()), "-c", script, str(path)], capture_output=True, text=True,
                          timeout=VALIDATOR_TIMEOUT, env={**os.environ, "TMPDIR": str(scratch)}, check=False)


def run_validator(package: Package, scratch: Path) -> dict[str, Any]:
    """The validator's JSON report on the package (a folder, or a ZIP it unpacks into ``scratch``).

    When KNOWN_VALIDATOR_CRASH stops the command line — and only when the probe predicted it for this METS — the
    same checks are run without the crashing step (RULES_ONLY)."""
    completed = _run(BOOT, package.given, scratch)
    predicted = _run(CRASH_PROBE, package.root / "METS.xml", scratch)
    assert predicted.returncode == 0, predicted.stderr
    if predicted.stdout.strip() == "True":
        assert completed.returncode != 0, "KNOWN_VALIDATOR_CRASH was predicted and did not happen"
        assert "in _get_path_attrib" in completed.stderr, completed.stderr
        assert completed.stderr.rstrip().endswith("AttributeError: 'NoneType' object has no attribute 'attrib'")
        completed = _run(RULES_ONLY, package.given, scratch)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    reports = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    assert len(reports) == 1, completed.stdout
    return dict(json.loads(reports[0]))


def _messages(report: dict[str, Any]) -> list[dict[str, str]]:
    metadata = report.get("metadata") or {}
    return [*report["structure"]["messages"], *(m for part in ("schema_results", "schematron_results")
                                                for m in (metadata.get(part) or {}).get("messages", []))]


def _package(name: str, kind: str, given: Path, root: Path) -> Package:
    return Package(name, kind, given, root, parse_xml(root / "METS.xml").getroot())


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Package]]:
    """Two AIPs (an E-ARK SIP's, with its own representation folder rep1, and a TT 05 dossier's, with schemas and
    EAD), a DIP with content and one whose every file was withheld, and the two AIPs handed over as E-ARK SIPs."""
    base = tmp_path_factory.mktemp("eark-validator")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KHO_HOME", str(base / "home"))
        patch.setenv("KHO_TRANSFER_KEY", "shared-secret-between-the-two-archives")
        for name in ("KHO_STORAGE", "KHO_DATABASE_URL", "KHO_INGEST_DIR", "KHO_DUPLICATES", "KHO_DIGESTS", "KHO_FAULT"):
            patch.delenv(name, raising=False)
        ids = {sip: json.loads(run_kho("ingest", str(FIXTURE_SIPS / sip), "--json", check=True).stdout)["aip_id"]
               for sip in ("eark-hoso-2025-001", "tt05-hoso-xml", "hoso-2023-sotnmt-02")}
        found: dict[str, Package] = {}
        for sip in ("eark-hoso-2025-001", "tt05-hoso-xml"):
            root = stored_aip(base / "home" / "storage", ids[sip], base / "aips")
            found[f"aip-{sip.split('-')[0]}"] = _package(sip, "AIP", root, root)
        for name, sip, role in (("dip", "tt05-hoso-xml", "administrator"),
                                ("dip-metadata-only", "hoso-2023-sotnmt-02", "reader")):
            out = json.loads(run_kho("dip", ids[sip], "--requester", "Nguyễn Thị Mai", "--purpose", "01 nghiên cứu",
                                     "--role", role, "-o", str(base / "dips"), "--json", check=True).stdout)
            assert bool(out["delivered"]) == (name == "dip"), out
            found[name] = _package(name, "DIP", Path(out["zip"]), Path(out["directory"]))
        handover = base / "handover"
        run_kho("transfer", "export", ids["eark-hoso-2025-001"], ids["tt05-hoso-xml"], "--to",
                "Trung tâm Lưu trữ lịch sử tỉnh", "-o", str(handover), check=True)
        for sip in ("eark-hoso-2025-001", "tt05-hoso-xml"):
            archive = handover / f"transfer-{ids[sip]}.zip"
            with zipfile.ZipFile(archive) as handle:
                handle.extractall(handover / "unpacked")
            found[f"sip-{sip.split('-')[0]}"] = _package(sip, "SIP", archive,
                                                         handover / "unpacked" / f"transfer-{ids[sip]}")
        yield found


NAMES = ["aip-eark", "aip-tt05", "dip", "dip-metadata-only", "sip-eark", "sip-tt05"]


@pytest.mark.parametrize("name", NAMES)
def test_eark_validator_finds_only_its_known_faults(packages: dict[str, Package], name: str, tmp_path: Path) -> None:
    package = packages[name]
    report = run_validator(package, tmp_path)
    assert report["structure"]["status"] == "WellFormed", report["structure"]
    errors = [m for m in _messages(report) if m["severity"] == "Error"]
    found = Counter(m["rule_id"] for m in errors)
    expected = Counter({rule: n for rule, fault in KNOWN_VALIDATOR_FAULTS.items() if (n := fault.expected(package))})
    unexplained = [f"{m['rule_id']}: {m['message']}" for m in errors if m["rule_id"] not in expected]
    assert found == expected, f"validator errors {dict(found)}, known faults predict {dict(expected)}; {unexplained}"
    for rule in expected:  # each fault occurs only where its reason says Kho is right
        assert KNOWN_VALIDATOR_FAULTS[rule].holds(package), f"{rule}: {KNOWN_VALIDATOR_FAULTS[rule].reason}"
    for message in (m for m in errors if m["rule_id"] == "XML-1"):
        assert XML1_MESSAGE.search(message["message"]), message["message"]
    assert _errors_with_premis(package.mets) == []  # no schema error hides behind XML-1, in any package
    if package.kind == "DIP":
        assert report["package"]["details"]["oaispackagetype"] == "DIP", "the DIP profile's rules (DIP1-DIP4) ran"


def test_every_known_fault_still_occurs(packages: dict[str, Package], tmp_path: Path) -> None:
    """A fault the validator no longer makes (a fixed release) or Kho no longer provokes leaves the table."""
    provoked = {rule for rule, fault in KNOWN_VALIDATOR_FAULTS.items() for name in NAMES
                if fault.expected(packages[name])}
    assert provoked == set(KNOWN_VALIDATOR_FAULTS)


def test_the_vocabularies_served_offline_hold_every_value_kho_writes(packages: dict[str, Package]) -> None:
    """BOOT serves the vocabularies the validator ships rather than the ones earkcsip.dilcis.eu serves today (which
    have more terms). Every value Kho writes is a term of both, and of the DILCIS 2.2 lists Kho checks against, so
    the copies cannot change a verdict here."""
    vocabs = _resources() / "vocabs"

    def terms(name: str) -> set[str]:
        return {t.text or "" for t in parse_xml(vocabs / name).iter("{*}Term")}

    written: dict[str, set[str]] = {"TYPE": set(), "CIT": set(), "OAIS": set(), "STATUS": set()}
    for package in packages.values():
        written["TYPE"].add(package.mets.get("TYPE") or "")
        written["CIT"] |= {e.get(f"{CSIP}CONTENTINFORMATIONTYPE") or "" for e in [package.mets, *package.groups()]
                           if e.get(f"{CSIP}CONTENTINFORMATIONTYPE")}
        written["OAIS"].add(package.mets.find(f"{M}metsHdr").get(f"{CSIP}OAISPACKAGETYPE") or "")
        written["STATUS"] |= {e.get("STATUS") or "" for e in package.mets.iter() if e.get("STATUS")}
    assert written["TYPE"] <= terms("CSIPVocabularyContentCategory.xml") & set(CONTENT_CATEGORY)
    assert written["CIT"] <= terms("CSIPVocabularyContentInformationType.xml") & set(CONTENT_INFORMATION_TYPE)
    assert written["OAIS"] == {"AIP", "DIP", "SIP"} and terms("CSIPVocabularyOAISPackageType.xml") == set(
        OAIS_PACKAGE_TYPE)
    assert written["STATUS"] == {"CURRENT"} and terms("CSIPVocabularyStatus.xml") == set(STATUS)


def test_the_fallback_run_gives_the_command_line_verdict(packages: dict[str, Package], tmp_path: Path) -> None:
    """RULES_ONLY, used where KNOWN_VALIDATOR_CRASH stops the command line, finds what the command line finds."""
    for name in NAMES:
        package = packages[name]
        if _run(CRASH_PROBE, package.root / "METS.xml", tmp_path).stdout.strip() == "False":
            break
    else:
        pytest.fail("every METS trips KNOWN_VALIDATOR_CRASH: nothing to compare the fallback with")
    cli = json.loads(next(line for line in _run(BOOT, package.given, tmp_path).stdout.splitlines()
                          if line.startswith("{")))
    fallback = json.loads(_run(RULES_ONLY, package.given, tmp_path).stdout)
    assert Counter((m["rule_id"], m["severity"]) for m in _messages(fallback)) == Counter(
        (m["rule_id"], m["severity"]) for m in _messages(cli))
    assert fallback["package"]["details"]["oaispackagetype"] == cli["package"]["details"]["oaispackagetype"]
