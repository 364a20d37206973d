"""The auditor's HTML report of an AIP's signatures (``kho authenticity report``), in Vietnamese and English.

One self-contained page (no script, no remote asset): what was checked, each signature's verdict now and
at ingest, and any evidence that is missing or changed. Every value is escaped."""

from __future__ import annotations

import html
from datetime import UTC, datetime

from preservation.authenticity import AuthenticityReport

STATUS_VI = {"valid": "hợp lệ", "invalid": "không hợp lệ", "indeterminate": "chưa xác định"}


def render_html(report: AuthenticityReport, *, organization: str) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(s.path)}</td><td>{e(s.format)}</td><td>{e(s.signer or '?')}"
        f"{'<br>' + e(s.organisation) if s.organisation else ''}</td><td>{e(s.signing_time or '—')}</td>"
        f"<td class='{e(s.status)}'>{e(STATUS_VI.get(s.status, s.status))} / {e(s.status)}</td>"
        f"<td>{e(STATUS_VI.get(s.stored_status, s.stored_status))} / {e(s.stored_status)}</td>"
        f"<td>{e(s.reason_vi)}<br><i>{e(s.reason)}</i></td></tr>"
        for s in report.signatures
    ) or "<tr><td colspan='7'>Không có chữ ký số / no digital signature</td></tr>"
    problems = "".join(f"<li>{e(p.path)}: {e(p.problem)}</li>" for p in report.evidence_problems)
    verdict = ("Toàn vẹn / intact" if report.intact
               else "Cần xem xét / needs review")
    return f"""<!DOCTYPE html>
<html lang="vi">
<head><meta charset="utf-8"><title>Báo cáo xác thực chữ ký số / Signature report — {e(report.aip_id)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #555;
padding:.3em .5em;vertical-align:top}}.valid{{color:#075e07}}.invalid{{color:#9b0000}}
.indeterminate{{color:#7a4a00}}</style></head>
<body>
<h1>Báo cáo xác thực chữ ký số <small>/ Digital signature report</small></h1>
<p>{e(organization)} — AIP <code>{e(report.aip_id)}</code> — {e(datetime.now(UTC).isoformat(timespec="seconds"))}</p>
<p><strong>Kết luận / Conclusion: {e(verdict)}</strong></p>
<p>Mỗi chữ ký được kiểm tra lại từ bằng chứng lưu trong gói (chứng thư, CRL, OCSP), không dùng mạng, tại thời điểm
kiểm tra lần đầu. / Each signature was validated again from the evidence stored in the package (certificates, CRLs,
OCSP responses), offline, at the moment of its first validation.</p>
<table>
<tr><th>Tệp / File</th><th>Loại / Kind</th><th>Người ký / Signer</th><th>Thời điểm ký / Signing time</th>
<th>Kết quả / Verdict</th><th>Khi tiếp nhận / At ingest</th><th>Lý do / Reason</th></tr>
{rows}
</table>
<h2>Bằng chứng / Evidence</h2>
{"<ul>" + problems + "</ul>" if problems else "<p>Đầy đủ, không thay đổi / complete and unchanged.</p>"}
<p>Chứng thư gốc tin cậy / trust anchors (SHA-256): {e(", ".join(report.anchors) or "—")}</p>
</body>
</html>
"""
