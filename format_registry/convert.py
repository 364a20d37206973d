"""Run one conversion tool from ``tools.yaml``: argument list, no shell, timeout, scratch folder.

The output is accepted only if the tool exited 0, the file exists and is not empty, and it is
identified as one of the formats the tool promises (``expect``); otherwise the conversion failed
and says why (with the tool's stderr).

PDF/A with Ghostscript needs a PDFA definition file and an ICC profile for the OutputIntent. A tool
whose command names ``{scratch}/PDFA_def.ps`` gets one written there before it runs, with a copy of an
sRGB v2 profile (``$KHO_ICC_PROFILE``, else Debian's ``icc-profiles-free``, ``colord-data`` or
Ghostscript's own) beside it; without a profile the conversion is not performed. Ghostscript 10.0
discards every DOCINFO entry it cannot write to XMP in PDF/A mode, which is any title or author with
Vietnamese letters (UTF-16 strings), so after such a tool the source PDF's Title, Author, Subject and
Keywords are written back to the copy's Info dictionary and XMP together (pikepdf), keeping them equal
as PDF/A requires. The copy is then checked as PDF/A by the caller (``preservation/normalise.py``).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from format_registry import settings as registry_settings
from format_registry import toolrun
from format_registry.identify import FormatIdentification, identify
from format_registry.policy import Tool, output_path, render_command

PDFA_DEFINITION = "PDFA_def.ps"  # a command naming {scratch}/PDFA_def.ps gets it written before it runs
ICC_PROFILE_ENV = "KHO_ICC_PROFILE"
# sRGB profiles Debian ships, ICC v2 first (PDF/A-1 needs v2; PDF/A-2 and -3 accept both)
SRGB_PROFILES = (
    Path("/usr/share/color/icc/sRGB.icc"),  # icc-profiles-free (ICC v2.3)
    Path("/usr/share/color/icc/colord/sRGB.icc"),  # colord-data (ICC v4)
    Path("/usr/share/color/icc/ghostscript/srgb.icc"),  # libgs-common, installed with Ghostscript
)
DOCINFO_KEPT = ("/Title", "/Author", "/Subject", "/Keywords")
_XMP_FOR_DOCINFO = {"/Title": "dc:title", "/Author": "dc:creator", "/Subject": "dc:description",
                    "/Keywords": "pdf:Keywords"}


@dataclass
class Conversion:
    tool: str
    command: list[str]
    output: Path | None
    identification: FormatIdentification | None
    error: str
    stderr: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.output is not None and not self.error


def find_srgb_profile() -> Path | None:
    """The sRGB ICC profile for PDF/A OutputIntents: $KHO_ICC_PROFILE, else the first Debian one present."""
    configured = registry_settings.value("icc_profile")
    if configured:
        return Path(configured) if Path(configured).is_file() else None
    return next((p for p in SRGB_PROFILES if p.is_file()), None)


def _ps_string(text: str) -> str:
    """A PostScript string literal (parentheses and backslashes escaped)."""
    return "(" + text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


def write_pdfa_definition(scratch: Path, profile: Path) -> Path:
    """Write Ghostscript's PDFA definition file into ``scratch``, with a copy of ``profile`` beside it.

    Unlike Ghostscript's sample ``PDFA_def.ps`` it sets no DOCINFO (the sample's ``/Title (Title)`` would
    replace the source's title) and states the profile's components (3, sRGB) instead of guessing them.
    The profile is copied so that ``--permit-file-read={scratch}/`` is the only read Ghostscript needs.
    """
    icc = scratch / "sRGB.icc"
    shutil.copyfile(profile, icc)
    definition = scratch / PDFA_DEFINITION
    definition.write_text(
        "%!\n"
        "% Kho: PDF/A OutputIntent (sRGB) for Ghostscript's pdfwrite; written per conversion.\n"
        f"/ICCProfile {_ps_string(str(icc))} def\n"
        "[/_objdef {icc_PDFA} /type /stream /OBJ pdfmark\n"
        "[{icc_PDFA} << /N 3 >> /PUT pdfmark\n"
        "[{icc_PDFA} ICCProfile (r) file /PUT pdfmark\n"
        "[/_objdef {OutputIntent_PDFA} /type /dict /OBJ pdfmark\n"
        "[{OutputIntent_PDFA} << /Type /OutputIntent /S /GTS_PDFA1 /DestOutputProfile {icc_PDFA}\n"
        "  /OutputConditionIdentifier (sRGB IEC61966-2.1) /Info (sRGB IEC61966-2.1)\n"
        "  /RegistryName (http://www.color.org) >> /PUT pdfmark\n"
        "[{Catalog} << /OutputIntents [ {OutputIntent_PDFA} ] >> /PUT pdfmark\n",
        encoding="ascii",
    )
    return definition


def _prepare(command: list[str], scratch: Path) -> str:
    """Write what the command expects in its scratch folder; an error text when that is impossible."""
    if str(scratch / PDFA_DEFINITION) not in command:
        return ""
    profile = find_srgb_profile()
    if profile is None:
        return (f"not performed: no sRGB ICC profile for the PDF/A OutputIntent (install the Debian package "
                f"icc-profiles-free or set {ICC_PROFILE_ENV})")
    try:
        write_pdfa_definition(scratch, profile)
    except OSError as exc:
        return f"not performed: cannot write the PDFA definition file: {exc}"
    return ""


def restore_docinfo(source: Path, target: Path) -> list[str]:
    """Give ``target`` the source PDF's Title/Author/Subject/Keywords, in Info and XMP alike.

    Returns the keys written (none when the source is not a readable PDF, has none, or the copy
    already carries them). Raises pikepdf errors only for an unreadable ``target``.
    """
    import pikepdf

    try:
        with pikepdf.open(source) as original:
            info = original.trailer.get("/Info")
            wanted = {key: str(info[key]) for key in DOCINFO_KEPT
                      if isinstance(info, pikepdf.Dictionary) and key in info and str(info[key]).strip()}
    except Exception:  # not a PDF (Ghostscript also reads PostScript), or one pikepdf cannot open
        return []
    with pikepdf.open(target, allow_overwriting_input=True) as copy:
        missing = {key: value for key, value in wanted.items() if str(copy.docinfo.get(key, "")) != value}
        if not missing:
            return []
        with copy.open_metadata(set_pikepdf_as_editor=False, update_docinfo=True) as meta:
            for key, value in missing.items():
                meta[_XMP_FOR_DOCINFO[key]] = [value] if key == "/Author" else value
        copy.save(target)
    return sorted(missing)


def run_tool(tool: Tool, source: Path, workdir: Path) -> Conversion:
    """Convert ``source`` into ``workdir/out`` (created fresh). Never raises for tool failures."""
    outdir, scratch = workdir / "out", workdir / "scratch"
    for folder in (outdir, scratch):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    target = output_path(tool, source=source, outdir=outdir)
    command = render_command(tool, source=source, output=target, outdir=outdir, scratch=scratch)
    if shutil.which(command[0]) is None:
        return Conversion(tool.name, command, None, None, f"not performed: {command[0]} not found", "", 0.0)
    problem = _prepare(command, scratch)
    if problem:
        return Conversion(tool.name, command, None, None, problem, "", 0.0)
    try:  # the whole process group is killed on timeout: soffice forks soffice.bin
        run = toolrun.run(command, timeout=tool.timeout, env=_tool_env(scratch), cwd=scratch)
    except OSError as exc:
        return Conversion(tool.name, command, None, None, f"cannot run {command[0]}: {exc}", "", 0.0)
    if run.timed_out:
        return Conversion(tool.name, command, None, None, f"timed out after {tool.timeout:g} s", "", run.seconds)
    seconds = run.seconds
    err_text = run.stderr_text()[-4000:]
    if run.returncode != 0:
        return Conversion(tool.name, command, None, None, f"{command[0]} exited {run.returncode}", err_text,
                          seconds)
    if not target.is_file() or target.stat().st_size == 0:
        out_text = run.stdout_text()[-2000:]
        return Conversion(tool.name, command, None, None, f"{command[0]} wrote no output at {target.name}",
                          (err_text + out_text).strip(), seconds)
    if str(scratch / PDFA_DEFINITION) in command:
        try:
            restored = restore_docinfo(source, target)
        except Exception as exc:  # an unreadable output: say so rather than keep it
            return Conversion(tool.name, command, None, None, f"cannot restore the source's DOCINFO: {exc}",
                              err_text, seconds)
        if restored:
            err_text = (err_text + f"\nkho: DOCINFO {', '.join(restored)} restored from the source").strip()
    found = identify(target)
    if found.puid not in tool.expect and found.mime not in tool.expect:
        return Conversion(tool.name, command, None, found,
                          f"output identified as {found.puid or found.mime}, expected one of {list(tool.expect)}",
                          err_text, seconds)
    return Conversion(tool.name, command, target, found, "", err_text, seconds)


def _tool_env(scratch: Path) -> dict[str, str]:
    """LibreOffice and friends write their state into $HOME: the scratch folder, not the user's home."""
    return {"HOME": str(scratch)}


def tool_version(tool: Tool) -> str:
    """A short version string for PREMIS agents (first line of ``--version``/``-version``).

    Asked once per process and executable (``toolrun.version``): a 1,210-file ingest with conversions
    spent a tenth of its time asking LibreOffice its version once per conversion batch."""
    program = tool.command[0]
    if program == "{python}":
        from PIL import __version__ as pillow_version

        return f"Pillow {pillow_version}"
    return toolrun.version(program, (("--version",), ("-version",)))


def run_tool_batch(tool: Tool, sources: list[Path], workdir: Path) -> list[Conversion]:
    """Convert many files with one process of a ``batch`` tool (LibreOffice), then check each output.

    One start-up for the whole batch instead of one per file; inputs whose names would give the same
    output name, and any input whose output is missing or wrong after the batch, are converted again
    one by one, so every file still gets its own verdict and error."""
    if not tool.batch or len(sources) < 2 or f"{{scratch}}/{PDFA_DEFINITION}" in tool.command:
        return [run_tool(tool, source, workdir / str(n)) for n, source in enumerate(sources)]
    outdir, scratch = workdir / "batch-out", workdir / "batch-scratch"
    for folder in (outdir, scratch):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    seen: set[str] = set()
    batched = [s for s in sources if not (s.stem in seen or seen.add(s.stem))]  # type: ignore[func-returns-value]
    command: list[str] = []
    for part in render_command(tool, source=batched[0], output=outdir, outdir=outdir, scratch=scratch):
        command.extend(str(s) for s in batched) if part == str(batched[0]) else command.append(part)
    results: dict[Path, Conversion] = {}
    if shutil.which(command[0]) is not None:
        try:  # after a timeout too, what the batch finished is kept and the rest converted again
            run = toolrun.run(command, timeout=tool.timeout * len(batched), env=_tool_env(scratch), cwd=scratch)
            seconds = run.seconds / len(batched)
            err_text = run.stderr_text()[-4000:]
            for source in batched:
                target = output_path(tool, source=source, outdir=outdir)
                if not target.is_file() or target.stat().st_size == 0:
                    continue  # converted again on its own below, for its own error message
                found = identify(target)
                if found.puid in tool.expect or found.mime in tool.expect:
                    results[source] = Conversion(tool.name, command, target, found, "", err_text, seconds)
        except OSError:
            results.clear()
    return [results.get(source) or run_tool(tool, source, workdir / str(n)) for n, source in enumerate(sources)]
