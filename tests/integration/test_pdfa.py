"""PDF/A preservation copies: Ghostscript with a PDFA definition file and an sRGB OutputIntent, the source's
DOCINFO kept, and every copy checked (veraPDF through a fake CLI printing real-format reports; Kho's
built-in pikepdf checks on real conversions and on broken files) before it is accepted."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import pikepdf
import pytest

from format_registry.convert import PDFA_DEFINITION, find_srgb_profile, run_tool
from format_registry.policy import Tool, load_policy
from format_registry.validators import INVALID, NOT_VALIDATED, VALID, WELL_FORMED
from format_registry.validators.pdfa import accepted, check_pdfa, check_pdfa_builtin, parse_target
from format_registry.validators.verapdf import (
    VeraPdfReportError,
    find_verapdf,
    flavour_for,
    parse_verapdf_report,
    validate_with_verapdf,
)
from preservation.normalise import Job, run_jobs
from tests.conftest import CORPORA, FIXTURE_SIPS
from tests.helpers import assert_process_gone

REPORTS = Path(__file__).parents[1] / "data" / "verapdf"
TITLE = "Báo cáo tổng kết năm 2024 (dự thảo)"
AUTHOR = "Nguyễn Thị Mai"

needs_gs = pytest.mark.skipif(shutil.which("gs") is None, reason="Ghostscript not installed")


def _source_pdf(path: Path, *, title: str = TITLE, author: str = AUTHOR) -> Path:
    """A plain PDF as agencies send them: Vietnamese DOCINFO, a non-embedded Helvetica, DeviceRGB fill."""
    pdf = pikepdf.new()
    font = pdf.make_indirect(
        pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica)
    )
    content = b"BT /F1 24 Tf 72 720 Td (Ho so luu tru) Tj ET 1 0 0 rg 72 600 200 50 re f"
    page = pikepdf.Dictionary(
        Type=pikepdf.Name.Page,
        MediaBox=[0, 0, 612, 792],
        Resources=pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font)),
        Contents=pdf.make_stream(content),
    )
    pdf.pages.append(pikepdf.Page(page))
    pdf.docinfo["/Title"] = title
    pdf.docinfo["/Author"] = author
    pdf.docinfo["/Subject"] = "Hồ sơ lưu trữ"
    pdf.save(path)
    return path


def _gs_tool() -> Tool:
    return load_policy().tools["ghostscript-pdfa"]


@pytest.fixture(scope="module")
def gs_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("gs") is None:
        pytest.skip("Ghostscript not installed")
    work = tmp_path_factory.mktemp("gs")
    conversion = run_tool(_gs_tool(), _source_pdf(work / "Tờ trình.pdf"), work / "run")
    assert conversion.ok, (conversion.error, conversion.stderr)
    assert conversion.output is not None
    kept = work / "copy.pdf"
    shutil.copy(conversion.output, kept)
    return kept


# ---------------------------------------------------------------------------------------------------
# Ghostscript: the command, the definition file, the OutputIntent and DOCINFO


def test_ghostscript_command_uses_a_pdfa_definition_file() -> None:
    command = list(_gs_tool().command)
    assert "-dPDFA=2" in command and "-sColorConversionStrategy=RGB" in command
    assert command[-2:] == [f"{{scratch}}/{PDFA_DEFINITION}", "{input}"]  # the prefix file comes before the input
    assert "--permit-file-read={scratch}/" in command  # -dSAFER: gs may read the profile and nothing else


@needs_gs
def test_ghostscript_copy_is_pdfa_2b_with_srgb_intent_and_the_source_docinfo(gs_copy: Path) -> None:
    with pikepdf.open(gs_copy) as pdf:
        [intent] = pdf.Root.OutputIntents
        assert str(intent.S) == "/GTS_PDFA1" and intent.OutputConditionIdentifier == "sRGB IEC61966-2.1"
        profile = intent.DestOutputProfile.read_bytes()
        assert profile[36:40] == b"acsp" and profile[16:20] == b"RGB " and intent.DestOutputProfile.N == 3
        assert str(pdf.docinfo["/Title"]) == TITLE and str(pdf.docinfo["/Author"]) == AUTHOR
        meta = pdf.open_metadata()
        assert (meta["pdfaid:part"], meta["pdfaid:conformance"]) == ("2", "B")
        assert meta["dc:title"] == TITLE and meta["dc:creator"] == [AUTHOR]
        assert meta["dc:description"] == "Hồ sơ lưu trữ"
        fonts = [o for o in pdf.objects if isinstance(o, pikepdf.Dictionary) and o.get("/Type") == pikepdf.Name.Font]
        assert fonts and all("/FontFile3" in f.FontDescriptor or "/FontFile2" in f.FontDescriptor for f in fonts)
    result = check_pdfa_builtin(gs_copy, "2", "B")
    assert (result.status, result.errors()) == (WELL_FORMED, ())
    assert result.details["device_colour"] and result.details["output_intent_components"] == 3


@needs_gs
def test_the_definition_file_and_profile_land_in_scratch(tmp_path: Path) -> None:
    conversion = run_tool(_gs_tool(), _source_pdf(tmp_path / "a.pdf"), tmp_path / "run")
    assert conversion.ok
    definition = (tmp_path / "run" / "scratch" / PDFA_DEFINITION).read_text(encoding="ascii")
    assert "/GTS_PDFA1" in definition and "/N 3" in definition and "DOCINFO" not in definition
    profile = find_srgb_profile()
    assert profile is not None
    assert (tmp_path / "run" / "scratch" / "sRGB.icc").read_bytes() == profile.read_bytes()
    assert "DOCINFO /Author, /Subject, /Title restored" in conversion.stderr


@needs_gs
def test_no_icc_profile_means_no_conversion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KHO_ICC_PROFILE", str(tmp_path / "missing.icc"))
    conversion = run_tool(_gs_tool(), _source_pdf(tmp_path / "a.pdf"), tmp_path / "run")
    assert not conversion.ok and "icc-profiles-free" in conversion.error and conversion.output is None


def test_pdfa_targets_are_read_from_the_policy_words() -> None:
    assert parse_target("PDF/A-2b") == ("2", "B") and parse_target("PDF/A-1a") == ("1", "A")
    assert parse_target("TIFF") is None and parse_target(None) is None
    assert flavour_for("2", "B") == "2b"
    with pytest.raises(ValueError):
        flavour_for("9", "z")


# ---------------------------------------------------------------------------------------------------
# Built-in checks: what each one catches


def _pdfa_claiming(path: Path, *, part: str = "2", conformance: str = "B", intent: bool = True) -> Path:
    """A minimal file that passes the built-in checks (an embedded font is not needed: it draws no text)."""
    pdf = pikepdf.new()
    page = pikepdf.Dictionary(Type=pikepdf.Name.Page, MediaBox=[0, 0, 100, 100],
                              Contents=pdf.make_stream(b"0 0 1 rg 10 10 50 50 re f"))
    pdf.pages.append(pikepdf.Page(page))
    if intent:
        profile = find_srgb_profile()
        assert profile is not None
        icc = pdf.make_stream(profile.read_bytes())
        icc.N = 3
        pdf.Root.OutputIntents = pikepdf.Array([pikepdf.Dictionary(
            Type=pikepdf.Name.OutputIntent, S=pikepdf.Name("/GTS_PDFA1"), DestOutputProfile=icc,
            OutputConditionIdentifier="sRGB")])
    with pdf.open_metadata(set_pikepdf_as_editor=False) as meta:
        meta["pdfaid:part"] = part
        meta["pdfaid:conformance"] = conformance
        meta["dc:title"] = TITLE
    pdf.save(path, compress_streams=False)
    return path


def test_builtin_checks_pass_a_clean_file_and_say_they_are_partial(tmp_path: Path) -> None:
    result = check_pdfa_builtin(_pdfa_claiming(tmp_path / "ok.pdf"), "2", "B")
    assert result.status == WELL_FORMED and accepted(result)
    assert result.details["pdfa"]["verified"] is False and result.validator == "kho-pdfa"
    assert any(m.id == "pdfa.scope" for m in result.messages)


def test_builtin_checks_catch_what_converters_get_wrong(tmp_path: Path) -> None:
    def errors(path: Path, part: str = "2", conformance: str = "B") -> set[str]:
        result = check_pdfa_builtin(path, part, conformance)
        assert result.status == INVALID and not accepted(result)
        return {m.id for m in result.errors() if m.id}

    plain = _source_pdf(tmp_path / "plain.pdf")  # no XMP, no intent, font not embedded
    assert errors(plain) >= {"pdfa.xmp.missing", "pdfa.font.embedded", "pdfa.outputintent.missing"}
    assert "pdfa.outputintent.missing" in errors(_pdfa_claiming(tmp_path / "no-intent.pdf", intent=False))
    assert errors(_pdfa_claiming(tmp_path / "a1.pdf", part="1")) == {"pdfa.xmp.pdfaid"}  # asked for 2b
    assert errors(_pdfa_claiming(tmp_path / "u.pdf", conformance="U")) == {"pdfa.xmp.pdfaid"}

    with pikepdf.open(_pdfa_claiming(tmp_path / "base.pdf")) as pdf:
        pdf.docinfo["/Title"] = "Another title"  # Info no longer equals XMP dc:title
        pdf.docinfo["/Author"] = AUTHOR  # and no XMP dc:creator at all
        pdf.save(tmp_path / "mismatch.pdf", compress_streams=False)
        pdf.save(tmp_path / "locked.pdf", encryption=pikepdf.Encryption(owner="o", user="", R=4))
        js = pdf.make_indirect(pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS="app.alert(1)"))
        pdf.Root.OpenAction = js
        pdf.save(tmp_path / "js.pdf", compress_streams=False)
    mismatch = check_pdfa_builtin(tmp_path / "mismatch.pdf", "2", "B")
    assert [m.text for m in mismatch.errors()] == [
        "Info /Title 'Another title' differs from XMP dc:title " + repr(TITLE),
        "Info /Author has no XMP counterpart (dc:creator)",
    ]
    assert "pdfa.encrypted" in errors(tmp_path / "locked.pdf")
    assert "pdfa.forbidden" in errors(tmp_path / "js.pdf")

    cut = tmp_path / "cut.pdf"
    cut.write_bytes((tmp_path / "base.pdf").read_bytes()[:200])
    assert errors(cut) & {"pdfa.parse", "pdfa.xmp.missing"}


def test_builtin_checks_on_real_pdfa_files() -> None:
    hires = check_pdfa_builtin(CORPORA / "formats/pdfa/veraPDFHiRes.pdf", "1", "B")
    assert hires.status == WELL_FORMED, hires.errors()
    jp2k = check_pdfa_builtin(CORPORA / "formats/pdfa/balloon_a1b_jp2k.pdf", "1", "B")  # JPEG 2000 in PDF/A-1
    assert "uses JPXDecode, which PDF/A-1 forbids" in [m.text for m in jp2k.errors()]


# ---------------------------------------------------------------------------------------------------
# veraPDF: the report parser and the CLI adapter (a fake executable prints the reports)


def _fake_verapdf(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "verapdf"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(0o755)
    return script


def test_verapdf_reports_parse() -> None:
    [ok] = parse_verapdf_report((REPORTS / "compliant-2b.xml").read_bytes())
    assert (ok.compliant, ok.profile, ok.release, ok.passed_rules, ok.failed_rules) == (
        True, "PDF/A-2B validation profile", "1.26.2", 144, 0)
    assert ok.name == "/srv/kho/scratch/out/Quyết định.pdf"
    [bad] = parse_verapdf_report(b"INFO: log line printed first\n" + (REPORTS / "noncompliant-2b.xml").read_bytes())
    assert bad.compliant is False and bad.failed_rules == 3
    assert [r.rule_id for r in bad.rules] == ["6.2.11.4.1-1", "6.2.4.3-2", "6.6.2.1-1"]
    assert bad.rules[1].failed_checks == 2 and len(bad.rules[1].contexts) == 2
    [broken] = parse_verapdf_report((REPORTS / "parse-failure.xml").read_bytes())
    assert broken.compliant is None and "startxref" in (broken.exception or "")
    for junk in (b"", b"Exception in thread main", b"<?xml version='1.0'?><jhove/>", b"<report><jobs>"):
        with pytest.raises(VeraPdfReportError):
            parse_verapdf_report(junk)


def test_verapdf_adapter_runs_the_flavour_and_maps_verdicts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    argv = tmp_path / "argv"
    pdf = _pdfa_claiming(tmp_path / "x.pdf")
    for report, status in (("compliant-2b.xml", VALID), ("noncompliant-2b.xml", INVALID)):
        script = _fake_verapdf(tmp_path, f'printf "%s\\n" "$@" > {shlex.quote(str(argv))}\n'
                                         f"cat {shlex.quote(str(REPORTS / report))}\nexit 1")
        monkeypatch.setenv("KHO_VERAPDF", str(script))
        assert find_verapdf() == str(script)
        result = check_pdfa(pdf, "2", "B")
        assert (result.status, result.validator, result.tool_version) == (status, "verapdf", "1.26.2")
        assert argv.read_text().splitlines() == [
            "--format", "mrr", "--flavour", "2b", "--maxfailuresdisplayed", "5", "--nonpdfext", str(pdf.resolve())]
    assert [m.id for m in result.errors()] == ["verapdf.6.2.11.4.1-1", "verapdf.6.2.4.3-2", "verapdf.6.6.2.1-1"]
    assert "font programs for all fonts" in result.errors()[0].text and not accepted(result)


def test_verapdf_without_a_verdict_falls_back_to_the_builtin_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pdf = _pdfa_claiming(tmp_path / "x.pdf")
    monkeypatch.setenv("KHO_VERAPDF", str(_fake_verapdf(tmp_path, f"cat {REPORTS / 'parse-failure.xml'}")))
    parsed = validate_with_verapdf(pdf, "2b")
    assert parsed.status == NOT_VALIDATED and "startxref" in parsed.messages[0].text
    fallback = check_pdfa(pdf, "2", "B")
    assert fallback.validator == "kho-pdfa" and "startxref" in fallback.details["verapdf"] and accepted(fallback)
    monkeypatch.setenv("KHO_VERAPDF", str(_fake_verapdf(tmp_path, "echo 'java.lang.OutOfMemoryError' >&2; exit 3")))
    crashed = validate_with_verapdf(pdf, "2b")
    assert crashed.status == NOT_VALIDATED and "exit 3" in crashed.messages[0].text
    assert "OutOfMemoryError" in crashed.messages[0].text
    monkeypatch.setenv("KHO_VERAPDF", str(tmp_path / "absent"))
    assert find_verapdf() is None and check_pdfa(pdf, "2", "B").details["verapdf"] == "not found"


@pytest.mark.timeout(60)  # the fake veraPDF hangs for an hour: returning at all means it was stopped
def test_verapdf_timeout_kills_it(tmp_path: Path) -> None:
    pidfile = tmp_path / "verapdf.pid"
    script = _fake_verapdf(tmp_path, f"echo $$ > {shlex.quote(str(pidfile))}\nexec sleep 3600")
    result = validate_with_verapdf(_pdfa_claiming(tmp_path / "x.pdf"), "2b", executable=str(script), timeout=1)
    assert result.status == NOT_VALIDATED and "timed out" in result.messages[0].text
    assert_process_gone(int(pidfile.read_text()), "the timed-out veraPDF")


# ---------------------------------------------------------------------------------------------------
# Normalisation: a copy that is not PDF/A is a failed event and is not kept


def _fake_pdfa_tool(name: str) -> Tool:
    """A 'converter' that copies the source PDF and calls it PDF/A, as a misconfigured tool would."""
    return Tool(name=name, command=("{python}", "-c", "import shutil, sys; shutil.copy(sys.argv[1], sys.argv[2])",
                                    "{input}", "{output}"),
                output="{outdir}/{stem}.pdf", extension="pdf", timeout=60, expect=("application/pdf", "fmt/18"))


def _run(tmp_path: Path, tool: Tool) -> tuple[list[dict[str, object]], list[dict[str, object]], list[str]]:
    policy = load_policy()
    policy.tools[tool.name] = tool
    sip = tmp_path / "sip"
    (sip / "data").mkdir(parents=True)
    _source_pdf(sip / "data" / "Tờ trình.pdf")
    job = Job("obj-1", "data/Tờ trình.pdf", "preservation", tool.name, "PDF/A-2b")
    derivatives, events, review, _ = run_jobs(policy, [job], sip_dir=sip, derivatives_dir=tmp_path / "deriv",
                                              aip_id="aip-1", digests=("sha256",), workers=1)
    return derivatives, events, review


def test_a_copy_that_is_not_pdfa_is_a_failed_normalisation(tmp_path: Path) -> None:
    derivatives, events, review = _run(tmp_path, _fake_pdfa_tool("fake-pdfa"))
    assert derivatives == [] and not list((tmp_path / "deriv").rglob("*.pdf"))
    [event] = events
    assert event["event_type"] == "normalization" and event["outcome"] == "failure"
    detail = str(event["outcome_detail"])
    assert detail.startswith("output is not PDF/A-2b (kho-pdfa")
    assert "font /Helvetica (/Type1) is not embedded" in detail and "no XMP metadata stream" in detail
    assert review and "PDF/A-2b" in review[0]


@needs_gs
def test_a_ghostscript_copy_is_accepted_and_says_how_it_was_checked(tmp_path: Path) -> None:
    derivatives, events, review = _run(tmp_path, _gs_tool())
    assert review == [] and [d["puid"] for d in derivatives] == ["fmt/477"]
    success = next(e for e in events if e["event_type"] == "normalization")
    assert success["outcome"] == "success" and "PDF/A-2b checks passed (kho-pdfa" in str(success["outcome_detail"])


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice not installed")
def test_libreoffice_copy_passes_the_checks_and_keeps_the_title(tmp_path: Path) -> None:
    tool = load_policy().tools["libreoffice-writer-pdfa"]
    source = FIXTURE_SIPS / "hoso-2024-ubnd-01" / "data" / "Tờ trình.docx"
    conversion = run_tool(tool, source, tmp_path / "lo")
    assert conversion.ok and conversion.output is not None, conversion.error
    result = check_pdfa_builtin(conversion.output, "2", "B")
    assert result.status == WELL_FORMED, [m.text for m in result.errors()]
    with pikepdf.open(conversion.output) as pdf:
        assert pdf.open_metadata()["pdfaid:part"] == "2"
