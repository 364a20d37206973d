"""The reading room's words, Vietnamese first and English available.

One table, key → (Vietnamese, English): a template asks ``t("key")`` and gets the visitor's language. The
language comes from ``?lang=`` (remembered in a cookie) or else Vietnamese, the archive's language; never
from ``Accept-Language`` alone, so a page's language is what the visitor chose and what a link shares.
"""

from __future__ import annotations

from collections.abc import Callable

LANGUAGES = ("vi", "en")
DEFAULT = "vi"

MESSAGES: dict[str, tuple[str, str]] = {
    "site": ("Phòng đọc lưu trữ số", "Digital reading room"),
    "skip": ("Bỏ qua đến nội dung chính", "Skip to main content"),
    "other_language": ("English", "Tiếng Việt"),
    "search": ("Tìm kiếm", "Search"),
    "search_label": ("Tìm trong hồ sơ công khai", "Search the public records"),
    "search_hint": ('Không cần dấu: "khanh thanh" tìm được "khánh thành". Cụm từ trong ngoặc kép; '
                    "trường: title:, agency:, fileCode:, year:.",
                    'Accents optional: "khanh thanh" finds "khánh thành". Phrases in double quotes; '
                    "fields: title:, agency:, fileCode:, year:."),
    "results": ("{total} hồ sơ", "{total} records"),
    "no_results": ("Không tìm thấy hồ sơ công khai nào.", "No public record matches."),
    "bad_query": ("Không hiểu câu tìm kiếm: {reason}", "The search could not be understood: {reason}"),
    "facets": ("Lọc kết quả", "Refine"),
    "facet_agency": ("Cơ quan", "Agency"),
    "facet_year": ("Năm", "Year"),
    "facet_record_type": ("Loại tài liệu", "Record type"),
    "facet_maintenance": ("Thời hạn bảo quản", "Retention"),
    "previous": ("Trang trước", "Previous page"),
    "next": ("Trang sau", "Next page"),
    "page_of": ("Trang {page}", "Page {page}"),
    "file_code": ("Mã hồ sơ", "File code"),
    "agency": ("Cơ quan", "Agency"),
    "year": ("Năm", "Year"),
    "record": ("Hồ sơ", "Record"),
    "description": ("Thông tin mô tả", "Description"),
    "documents": ("Tài liệu", "Documents"),
    "document": ("Tài liệu", "Document"),
    "format": ("Định dạng", "Format"),
    "size": ("Dung lượng", "Size"),
    "download": ("Tải bản sử dụng", "Download access copy"),
    "withheld": ("{count} tài liệu của hồ sơ này không công khai: chúng thuộc chế độ sử dụng hạn chế hoặc mật, "
                 "hoặc đang trong thời hạn chưa được công bố (TT 05/2025/TT-BNV). Tên và căn cứ của chúng không "
                 "được công bố; bạn có thể gửi phiếu yêu cầu.",
                 "{count} documents of this record are not public: they are restricted or confidential, or "
                 "still under embargo (TT 05/2025/TT-BNV). Their names and grounds are not published; you may "
                 "send a request."),
    "all_public": ("Mọi tài liệu của hồ sơ này đều công khai.", "Every document of this record is public."),
    "request": ("Gửi phiếu yêu cầu đọc", "Request access"),
    "request_title": ("Phiếu yêu cầu đọc tài liệu", "Request to read records"),
    "request_intro": ("Lưu trữ viên sẽ xem xét yêu cầu và liên hệ với bạn. Thông tin cá nhân chỉ dùng để trả lời "
                      "yêu cầu.", "An archivist will consider the request and contact you. Your personal data "
                      "is used only to answer it."),
    "requester": ("Họ và tên", "Full name"),
    "organisation": ("Cơ quan, tổ chức (nếu có)", "Organisation (if any)"),
    "contact": ("Thư điện tử hoặc số điện thoại", "E-mail or telephone"),
    "purpose": ("Mục đích sử dụng", "Purpose"),
    "documents_wanted": ("Tài liệu cần đọc", "Documents wanted"),
    "documents_hint": ("Mô tả tài liệu bạn cần (số, ngày, trích yếu nếu biết).",
                       "Describe the documents you need (number, date, subject if known)."),
    "about_record": ("Về hồ sơ", "About record"),
    "send": ("Gửi yêu cầu", "Send request"),
    "required": ("bắt buộc", "required"),
    "request_done": ("Đã nhận phiếu yêu cầu số {number}.", "Request {number} received."),
    "request_done_more": ("Hãy giữ số phiếu này khi liên hệ với lưu trữ.",
                          "Keep this number when you contact the archive."),
    "form_errors": ("Phiếu chưa gửi được: hãy sửa các trường được đánh dấu.",
                    "The request was not sent: please correct the marked fields."),
    "csrf": ("Phiên của biểu mẫu đã hết hạn; hãy tải lại trang và gửi lại.",
             "The form has expired; reload the page and send it again."),
    "not_found": ("Không có hồ sơ công khai này.", "There is no such public record."),
    "not_found_title": ("Không tìm thấy", "Not found"),
    "error_title": ("Có lỗi", "Something went wrong"),
    "storage_error": ("Tạm thời không lấy được tệp từ kho lưu trữ; hãy thử lại sau.",
                      "The file cannot be fetched from storage just now; try again later."),
    "staff": ("Dành cho lưu trữ viên", "For archivists"),
    "login": ("Đăng nhập", "Log in"),
    "logout": ("Đăng xuất", "Log out"),
    "token": ("Mã truy cập", "Access token"),
    "login_intro": ("Đăng nhập bằng mã truy cập do quản trị viên cấp (vai trò lưu trữ viên hoặc quản trị viên).",
                    "Log in with the access token the administrator issued (archivist or administrator role)."),
    "login_failed": ("Mã truy cập không đúng hoặc không thuộc lưu trữ viên.",
                     "Unknown token, or not an archivist's."),
    "dashboard": ("Công việc của lưu trữ viên", "Archivist's work"),
    "signed_in_as": ("Đăng nhập: {name} ({role})", "Signed in: {name} ({role})"),
    "review_queue": ("Gói cần xem xét", "Packages flagged for review"),
    "review_none": ("Không có gói nào cần xem xét.", "No package is flagged for review."),
    "reasons": ("Lý do", "Reasons"),
    "hand_over": ("Thời hạn nộp lưu vào lưu trữ lịch sử", "Hand-over deadlines"),
    "hand_over_none": ("Không có hồ sơ nào đến hạn nộp lưu.", "No record is due for hand-over."),
    "status": ("Trạng thái", "Status"),
    "due": ("Hạn", "Due"),
    "status_overdue": ("Quá hạn", "Overdue"),
    "status_due": ("Đến hạn trong năm", "Due within a year"),
    "disposal": ("Hồ sơ hết thời hạn bảo quản, chờ xem xét hủy", "Disposal proposals awaiting approval"),
    "disposal_none": ("Không có hồ sơ nào hết thời hạn bảo quản.", "No record's retention has expired."),
    "expired_on": ("Hết hạn ngày", "Expired on"),
    "requests": ("Phiếu yêu cầu đọc chờ xử lý", "Access requests awaiting a decision"),
    "requests_none": ("Không có phiếu yêu cầu nào chờ xử lý.", "No access request is waiting."),
    "number": ("Số phiếu", "Number"),
    "received": ("Ngày nhận", "Received"),
    "approve": ("Chấp nhận", "Approve"),
    "refuse": ("Từ chối", "Refuse"),
    "decided": ("Phiếu {number}: {status}.", "Request {number}: {status}."),
    "approved": ("đã chấp nhận", "approved"),
    "refused": ("đã từ chối", "refused"),
    "dip_ready": ("Tải gói DIP {name} (trong quyền của bạn) để giao cho người đọc",
                  "Download DIP {name} (within your rights) for the reader"),
    "dip_by_hand": ("Phiếu không gắn với hồ sơ nào: hãy lập gói DIP bằng kho dip.",
                    "The request names no record: prepare the DIP with kho dip."),
    "not_pending": ("Phiếu này không còn chờ xử lý (đã được xử lý hoặc không tồn tại).",
                    "This request is no longer waiting (already decided, or unknown)."),
    "shown_first": ("{shown} đầu tiên trong {total}", "first {shown} of {total}"),
    "api_docs": ("Tài liệu API", "API documentation"),
    "oai": ("OAI-PMH cho hệ thống thu thập", "OAI-PMH for harvesters"),
    "public_only": ("Chỉ hiển thị siêu dữ liệu công khai (Quyết định 458/QĐ-TTg).",
                    "Only public metadata is shown (Decision 458/QĐ-TTg)."),
    "too_many": ("Quá nhiều yêu cầu; hãy thử lại sau ít giây.", "Too many requests; try again in a few seconds."),
}


def translator(language: str) -> Callable[..., str]:
    """``t(key, **values)`` in ``language`` (Vietnamese for an unknown one); an unknown key is shown as
    itself, so a missing translation is visible in the page rather than an error."""
    index = LANGUAGES.index(language) if language in LANGUAGES else 0

    def t(key: str, **values: object) -> str:
        entry = MESSAGES.get(key)
        text = entry[index] if entry else key
        return text.format(**values) if values else text

    return t
