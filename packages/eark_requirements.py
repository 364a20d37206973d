"""The E-ARK CSIP/SIP/DIP 2.x requirements Kho checks, and the DILCIS Board vocabularies they use.

Kept apart from the checker so that the catalogue can be read (and extended when the DILCIS
Board adds vocabulary terms) without reading validation code. Requirement ids, levels and
locations follow the METS profiles E-ARK-CSIP-v2-1-0/v2-2-0, E-ARK-SIP-v2-1-0/v2-2-0 and
E-ARK-DIP-v2-2-0; the ids did not change between 2.0.4 and 2.2.0. Ids starting with ``KHO-`` are
Kho's own safety rules (ZIP handling, links, XML entities), not E-ARK requirements.

A few MUST requirements are graded as warnings when Kho checks a package it receives, so that a
SIP is not bounced for a part that carries nothing (an empty Documentation group, say); checked
with ``strict=True`` — every package Kho writes is — they are failures (``STRICT_ONLY``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

METS_NS = "http://www.loc.gov/METS/"
CSIP_NS = "https://DILCIS.eu/XML/METS/CSIPExtensionMETS"
SIP_NS = "https://DILCIS.eu/XML/METS/SIPExtensionMETS"
XLINK_NS = "http://www.w3.org/1999/xlink"

# The METS profile URLs an E-ARK package declares in mets/@PROFILE (CSIP6, SIP2, ...).
PROFILE_URL = re.compile(
    r"^https?://eark(?P<spec>csip|sip|aip|dip)\.dilcis\.eu/profile/E-ARK-(?:CSIP|SIP|AIP|DIP)(?:-v\d+-\d+-\d+)?\.xml$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Requirement:
    id: str
    level: str  # MUST / SHOULD / MAY as the specification states it
    location: str


def _catalogue(*rows: tuple[str, str, str]) -> dict[str, Requirement]:
    return {rid: Requirement(rid, level, location) for rid, level, location in rows}


# Every requirement id validate_eark() can report. A SHOULD/MAY breach is reported as a warning,
# a MUST breach as a failure, except where the E-ARK test corpus grades a rule differently
# (documented at the check in packages/eark.py).
REQUIREMENTS: dict[str, Requirement] = _catalogue(
    ("CSIPSTR1", "MUST", "package in a single root folder (an archive unpacks to one folder)"),
    ("CSIPSTR4", "MUST", "METS.xml in the package root"),
    ("CSIPSTR5", "SHOULD", "metadata/ folder in the package root"),
    ("CSIPSTR6", "SHOULD", "preservation metadata in metadata/preservation/"),
    ("CSIPSTR7", "SHOULD", "descriptive metadata in metadata/descriptive/"),
    ("CSIPSTR9", "SHOULD", "representations/ folder in the package root"),
    ("CSIPSTR10", "SHOULD", "one sub-folder of representations/ per representation"),
    ("CSIPSTR11", "SHOULD", "data/ folder in each representation"),
    ("CSIPSTR12", "SHOULD", "METS.xml in each representation"),
    ("CSIP1", "MUST", "mets/@OBJID"),
    ("CSIP2", "MUST", "mets/@TYPE"),
    ("CSIP3", "SHOULD", "mets[@TYPE='OTHER']/@csip:OTHERTYPE"),
    ("CSIP4", "SHOULD", "mets/@csip:CONTENTINFORMATIONTYPE (MUST in a representation METS)"),
    ("CSIP5", "MAY", "mets[@csip:CONTENTINFORMATIONTYPE='OTHER']/@csip:OTHERCONTENTINFORMATIONTYPE"),
    ("CSIP6", "MUST", "mets/@PROFILE"),
    ("CSIP117", "MUST", "mets/metsHdr"),
    ("CSIP7", "MUST", "mets/metsHdr/@CREATEDATE"),
    ("CSIP8", "SHOULD", "mets/metsHdr/@LASTMODDATE"),
    ("CSIP9", "MUST", "mets/metsHdr/@csip:OAISPACKAGETYPE"),
    ("CSIP10", "MUST", "mets/metsHdr/agent"),
    ("CSIP11", "MUST", "mets/metsHdr/agent[@ROLE='CREATOR']"),
    ("CSIP12", "MUST", "mets/metsHdr/agent[@TYPE='OTHER']"),
    ("CSIP13", "MUST", "mets/metsHdr/agent[@OTHERTYPE='SOFTWARE']"),
    ("CSIP14", "MUST", "mets/metsHdr/agent/name"),
    ("CSIP15", "MUST", "mets/metsHdr/agent/note"),
    ("CSIP16", "MUST", "mets/metsHdr/agent/note[@csip:NOTETYPE='SOFTWARE VERSION']"),
    ("CSIP18", "MUST", "mets/dmdSec/@ID"),
    ("CSIP19", "MUST", "mets/dmdSec/@CREATED"),
    ("CSIP20", "SHOULD", "mets/dmdSec/@STATUS"),
    ("CSIP22", "MUST", "mets/dmdSec/mdRef[@LOCTYPE='URL']"),
    ("CSIP23", "MUST", "mets/dmdSec/mdRef[@xlink:type='simple']"),
    ("CSIP24", "MUST", "mets/dmdSec/mdRef/@xlink:href"),
    ("CSIP25", "MUST", "mets/dmdSec/mdRef/@MDTYPE"),
    ("CSIP26", "MUST", "mets/dmdSec/mdRef/@MIMETYPE"),
    ("CSIP27", "MUST", "mets/dmdSec/mdRef/@SIZE"),
    ("CSIP28", "MUST", "mets/dmdSec/mdRef/@CREATED"),
    ("CSIP29", "MUST", "mets/dmdSec/mdRef/@CHECKSUM"),
    ("CSIP30", "MUST", "mets/dmdSec/mdRef/@CHECKSUMTYPE"),
    ("CSIP31", "SHOULD", "mets/amdSec (techMD/sourceMD references)"),
    ("CSIP33", "MUST", "mets/amdSec/digiprovMD/@ID"),
    ("CSIP34", "SHOULD", "mets/amdSec/digiprovMD/@STATUS"),
    ("CSIP36", "MUST", "mets/amdSec/digiprovMD/mdRef[@LOCTYPE='URL']"),
    ("CSIP37", "MUST", "mets/amdSec/digiprovMD/mdRef[@xlink:type='simple']"),
    ("CSIP38", "MUST", "mets/amdSec/digiprovMD/mdRef/@xlink:href"),
    ("CSIP39", "MUST", "mets/amdSec/digiprovMD/mdRef/@MDTYPE"),
    ("CSIP40", "MUST", "mets/amdSec/digiprovMD/mdRef/@MIMETYPE"),
    ("CSIP41", "MUST", "mets/amdSec/digiprovMD/mdRef/@SIZE"),
    ("CSIP42", "MUST", "mets/amdSec/digiprovMD/mdRef/@CREATED"),
    ("CSIP43", "MUST", "mets/amdSec/digiprovMD/mdRef/@CHECKSUM"),
    ("CSIP44", "MUST", "mets/amdSec/digiprovMD/mdRef/@CHECKSUMTYPE"),
    ("CSIP46", "MUST", "mets/amdSec/rightsMD/@ID"),
    ("CSIP47", "SHOULD", "mets/amdSec/rightsMD/@STATUS"),
    ("CSIP49", "MUST", "mets/amdSec/rightsMD/mdRef[@LOCTYPE='URL']"),
    ("CSIP50", "MUST", "mets/amdSec/rightsMD/mdRef[@xlink:type='simple']"),
    ("CSIP51", "MUST", "mets/amdSec/rightsMD/mdRef/@xlink:href"),
    ("CSIP52", "MUST", "mets/amdSec/rightsMD/mdRef/@MDTYPE"),
    ("CSIP53", "MUST", "mets/amdSec/rightsMD/mdRef/@MIMETYPE"),
    ("CSIP54", "MUST", "mets/amdSec/rightsMD/mdRef/@SIZE"),
    ("CSIP55", "MUST", "mets/amdSec/rightsMD/mdRef/@CREATED"),
    ("CSIP56", "MUST", "mets/amdSec/rightsMD/mdRef/@CHECKSUM"),
    ("CSIP57", "MUST", "mets/amdSec/rightsMD/mdRef/@CHECKSUMTYPE"),
    ("CSIP58", "SHOULD", "mets/fileSec (references to all transferred content)"),
    ("CSIP59", "MUST", "mets/fileSec/@ID"),
    ("CSIP60", "MUST", "mets/fileSec/fileGrp[@USE='Documentation'] (empty when there is none)"),
    ("CSIP113", "MUST", "mets/fileSec/fileGrp[@USE='Schemas'] (empty when there is none)"),
    ("CSIP114", "MUST", "mets/fileSec/fileGrp[@USE=[starts-with('Representations')]] for representations/ content"),
    ("CSIP62", "SHOULD", "mets/fileSec/fileGrp[@USE='Representations...']/@csip:CONTENTINFORMATIONTYPE"),
    ("CSIP64", "MUST", "mets/fileSec/fileGrp/@USE (a representation group's files are in the folder it names)"),
    ("CSIP65", "MUST", "mets/fileSec/fileGrp/@ID"),
    ("CSIP66", "MUST", "mets/fileSec/fileGrp/file"),
    ("CSIP67", "MUST", "mets/fileSec/fileGrp/file/@ID"),
    ("CSIP68", "MUST", "mets/fileSec/fileGrp/file/@MIMETYPE"),
    ("CSIP69", "MUST", "mets/fileSec/fileGrp/file/@SIZE"),
    ("CSIP70", "MUST", "mets/fileSec/fileGrp/file/@CREATED"),
    ("CSIP71", "MUST", "mets/fileSec/fileGrp/file/@CHECKSUM"),
    ("CSIP72", "MUST", "mets/fileSec/fileGrp/file/@CHECKSUMTYPE"),
    ("CSIP76", "MUST", "mets/fileSec/fileGrp/file/FLocat"),
    ("CSIP77", "MUST", "mets/fileSec/fileGrp/file/FLocat[@LOCTYPE='URL']"),
    ("CSIP78", "MUST", "mets/fileSec/fileGrp/file/FLocat[@xlink:type='simple']"),
    ("CSIP79", "MUST", "mets/fileSec/fileGrp/file/FLocat/@xlink:href"),
    ("CSIP80", "MUST", "mets/structMap"),
    ("CSIP81", "MUST", "mets/structMap[@TYPE='PHYSICAL']"),
    ("CSIP82", "MUST", "mets/structMap[@LABEL='CSIP']"),
    ("CSIP83", "MUST", "mets/structMap[@LABEL='CSIP']/@ID"),
    ("CSIP84", "MUST", "mets/structMap[@LABEL='CSIP']/div"),
    ("CSIP85", "MUST", "mets/structMap[@LABEL='CSIP']/div/@ID"),
    ("CSIP88", "MUST", "mets/structMap[@LABEL='CSIP']/div/div[@LABEL='Metadata']"),
    ("CSIP89", "MUST", "mets/structMap[@LABEL='CSIP']/div/div[@LABEL='Metadata']/@ID"),
    ("CSIP90", "MUST", "mets/structMap[@LABEL='CSIP']/div/div[@LABEL='Metadata'] (the label spelt exactly)"),
    ("CSIP94", "MUST", "mets/structMap[@LABEL='CSIP']/div/div[@LABEL='Documentation']/@ID"),
    ("CSIP95", "MUST", "mets/structMap[@LABEL='CSIP']/div/div[@LABEL='Documentation']"),
    ("CSIP96", "SHOULD", "mets/structMap[@LABEL='CSIP']/div/div[@LABEL='Documentation']/fptr"),
    ("CSIP98", "MUST", "mets/structMap[@LABEL='CSIP']/div/div[@LABEL='Schemas']/@ID"),
    ("CSIP99", "MUST", "mets/structMap[@LABEL='CSIP']/div/div[@LABEL='Schemas']"),
    ("CSIP100", "SHOULD", "mets/structMap[@LABEL='CSIP']/div/div[@LABEL='Schemas']/fptr"),
    ("CSIP102", "MUST", "mets/structMap[@LABEL='CSIP']/div/div[@LABEL='Representations']/@ID"),
    ("CSIP104", "SHOULD", "mets/structMap[@LABEL='CSIP']/div/div[@LABEL='Representations']/fptr"),
    ("CSIP106", "MUST", "mets/structMap[@LABEL='CSIP']/div/div/@ID (representation division)"),
    ("CSIP107", "MUST", "mets/structMap[@LABEL='CSIP']/div/div/@LABEL: 'Representations/<folder>' of a real folder"),
    ("CSIP108", "MUST", "mets/structMap[@LABEL='CSIP']/div/div/mptr/@xlink:title names the representation fileGrp"),
    ("CSIP109", "MUST", "mets/structMap[@LABEL='CSIP']/div/div/mptr (or, as commons-ip reads it, an fptr)"),
    ("CSIP110", "MUST", "mets/structMap/div/div/mptr/@xlink:href"),
    ("CSIP111", "MUST", "mets/structMap/div/div/mptr[@xlink:type='simple']"),
    ("CSIP112", "MUST", "mets/structMap/div/div/mptr[@LOCTYPE='URL']"),
    ("CSIP116", "MUST", "mets/structMap[@LABEL='CSIP']/div/div[@LABEL='Documentation']/fptr/@FILEID"),
    ("CSIP118", "MUST", "mets/structMap[@LABEL='CSIP']/div/div[@LABEL='Schemas']/fptr/@FILEID"),
    ("CSIP119", "MUST", "mets/structMap[@LABEL='CSIP']/div/div[@LABEL='Representations']/fptr/@FILEID"),
    ("SIP2", "MUST", "mets/@PROFILE is the E-ARK SIP profile"),
    ("SIP4", "MUST", "metsHdr/@csip:OAISPACKAGETYPE='SIP'"),
    ("SIP15", "MUST", "metsHdr/agent: submitting agent (ROLE='CREATOR', TYPE='ORGANIZATION'|'INDIVIDUAL')"),
    ("SIP18", "MUST", "metsHdr/agent/name of the submitting agent"),
    ("DIP1", "MUST", "mets/@OBJID of a DIP (expected to differ from the AIP's and SIP's)"),
    ("DIP2", "MUST", "mets/@PROFILE is the E-ARK DIP profile"),
    ("DIP3", "MUST", "metsHdr/@csip:OAISPACKAGETYPE='DIP'"),
    ("DIP4", "SHOULD", "dmdSec/@STATUS='CURRENT' in a DIP"),
    ("KHO-INPUT", "MUST", "the package is a readable folder or .zip"),
    ("KHO-ZIP", "MUST", "ZIP entries are safe, unencrypted and within the size limits"),
    ("KHO-FS", "MUST", "no links or special files; every file readable"),
    ("KHO-XML", "MUST", "METS declares no XML entities"),
)

# MUST requirements graded as warnings for received packages, failures with strict=True (module docstring).
# CSIP58 (a SHOULD) is there because Kho's own packages list every file they hold (decision 0015).
STRICT_ONLY = frozenset({"CSIP58", "CSIP60", "CSIP88", "CSIP95", "CSIP99", "CSIP108", "CSIP113", "DIP2"})

# VocabularyContentCategory (CSIP2, CSIP3), https://earkcsip.dilcis.eu/schema/CSIPVocabularyContentCategory.xml
CONTENT_CATEGORY = (
    "Textual works – Print", "Textual works – Digital", "Textual works – Electronic Serials",
    "Digital Musical Composition (score-based representations)", "Musical Scores - Print", "Musical Scores - Digital",
    "Photographs – Print", "Photographs – Digital", "Other Graphic Images – Print", "Other Graphic Images – Digital",
    "Microforms", "Audio – On Tangible Medium (digital or analog)", "Audio – Media-independent (digital)",
    "Motion Pictures – Digital and Physical Media", "Video – File-based and Physical Media", "Software",
    "Software and Video Games", "Email", "Datasets", "Geospatial Data",
    "Geographic Information System (GIS) - Vector Data", "GIS Raster and Georeferenced Images",
    "GIS Vector and Raster Combined", "Non-GIS Cartographic", "2D and 3D Computer Aided Design",
    "Design (schematics, architectural drawings) - Print",
    "Scanned 3D Objects (output from photogrammetry scanning)", "Databases", "Websites", "Web Archives",
    "Collection", "Event", "Image", "Interactive resource", "Moving image", "Sound", "Still image", "Text",
    "Physical object", "Service", "Mixed", "Other",
    "OTHER",  # the spelling CSIP2/CSIP3 themselves use ("set to OTHER")
)

# VocabularyContentInformationTypeSpecification (CSIP4, CSIP5, CSIP62)
CONTENT_INFORMATION_TYPE = (
    "ERMS", "SIARD1", "SIARD2", "SIARDDK", "GeoData", "citscarchival_v1_0", "cscarchival_v1_0", "citserms_v2_1",
    "citserms_v3_0", "citspremis_v1_0", "cspremis_v1_0", "citsehpj_v1_0", "citsehpj_v2_0", "citsehcr_v1_0",
    "citssiard_v1_0", "citsgeospatial_v3_0", "cits3dpm_v1_0", "MIXED", "OTHER",
)

OAIS_PACKAGE_TYPE = ("SIP", "AIP", "DIP", "AIU", "AIC")  # VocabularyOAISPackageType (CSIP9)
STATUS = ("CURRENT", "SUPERSEDED")  # VocabularyStatus (CSIP20, CSIP34, CSIP47)

# mets/@CHECKSUMTYPE values of the METS schema -> hashlib name (None: a METS value Kho cannot verify)
CHECKSUM_TYPES: dict[str, str | None] = {
    "MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512",
    "Adler-32": None, "CRC32": None, "HAVAL": None, "TIGER": None, "WHIRLPOOL": None,
}
HEX_LENGTH = {"md5": 32, "sha1": 40, "sha256": 64, "sha384": 96, "sha512": 128}


def normalise_term(value: str) -> str:
    """Vocabulary comparison key: case, dash style (– vs -) and spacing do not count."""
    return " ".join(value.replace("–", "-").replace("—", "-").casefold().split())
