"""The problems a SIP validation reports: one bilingual message per code, and the ``Problem`` value.

Why a module of its own: ``packages.sip`` runs the TT 05, access-rule and VN-profile checks
(``tt05``, ``access``, ``vn_profile``), and those report the same ``Problem``. While it lived in
``sip`` each of them imported ``sip`` and ``sip`` imported them back inside functions: a hidden
import cycle (issue #17). This leaf imports nothing of ours, so all of them import it at the top;
``packages.sip`` re-exports both names for existing callers. ``tests/integration/test_layers.py`` keeps it so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

# One line a problem code, English then Vietnamese, so that reports stay bilingual.
MESSAGES: dict[str, tuple[str, str]] = {
    "not-a-directory": ("the SIP is not a directory", "gói SIP không phải là thư mục"),
    "not-a-bag": ("not a BagIt bag", "không phải gói BagIt"),
    "bagit-txt": (
        "bagit.txt is not a valid bag declaration (RFC 8493 §2.1.1)",
        "bagit.txt không phải là khai báo gói hợp lệ (RFC 8493 §2.1.1)",
    ),
    "bagit-version": ("BagIt version not supported", "phiên bản BagIt không được hỗ trợ"),
    "bag-info-encoding": ("bag-info.txt is not readable text", "bag-info.txt không đọc được"),
    "tag-file-line": (
        "malformed line in a tag file (expected 'Label: value')",
        "dòng sai định dạng trong tệp tag (cần 'Nhãn: giá trị')",
    ),
    "tag-file-too-large": ("tag file larger than the limit", "tệp tag lớn hơn giới hạn cho phép"),
    "tag-file-bom": (
        "UTF-8 tag file starts with an unnecessary byte-order mark",
        "tệp tag UTF-8 có dấu BOM không cần thiết ở đầu",
    ),
    "manifest-missing": ("no payload manifest", "thiếu tệp manifest"),
    "manifest-encoding": (
        "manifest or fetch.txt cannot be decoded in the declared Tag-File-Character-Encoding",
        "manifest hoặc fetch.txt không giải mã được theo Tag-File-Character-Encoding đã khai báo",
    ),
    "manifest-line": ("malformed manifest line", "dòng manifest sai định dạng"),
    "manifest-too-long": (
        "manifest or fetch.txt has more lines than the limit", "manifest hoặc fetch.txt có số dòng vượt giới hạn"
    ),
    "manifest-algorithm": ("unsupported manifest algorithm", "thuật toán băm không được hỗ trợ"),
    "manifest-duplicate": ("file listed twice in a manifest", "tệp được liệt kê hai lần"),
    "manifest-case": (
        "manifest lists the same path twice in different letter case",
        "manifest liệt kê cùng một đường dẫn hai lần, chỉ khác chữ hoa/thường",
    ),
    "manifest-normalisation": (
        "manifest path differs from the file's name only in Unicode normalisation (NFC/NFD)",
        "đường dẫn trong manifest chỉ khác tên tệp ở dạng chuẩn hóa Unicode (NFC/NFD)",
    ),
    "manifest-incomplete": ("file not listed in every payload manifest", "tệp không có trong mọi manifest dữ liệu"),
    "manifest-relative-path": (
        "manifest paths start with './' (read as paths from the bag root)",
        "đường dẫn trong manifest bắt đầu bằng './' (được hiểu là tính từ gốc gói)",
    ),
    "manifest-binary-marker": (
        "manifest paths carry md5sum's '*' binary-mode mark (read past)",
        "đường dẫn trong manifest có dấu '*' của md5sum (đã bỏ qua)",
    ),
    "manifest-weak-algorithm": (
        "payload manifests use only MD5/SHA-1, which RFC 8493 §2.4 advises against; Kho checked them and "
        "computed SHA-256 itself",
        "manifest dữ liệu chỉ dùng MD5/SHA-1 (RFC 8493 §2.4 khuyến cáo không dùng); Kho đã kiểm tra và tự tính SHA-256",
    ),
    "fetch-line": ("malformed fetch.txt line", "dòng fetch.txt sai định dạng"),
    "fetch-unsafe-path": (
        "fetch.txt names a path outside the payload directory",
        "fetch.txt chỉ tới đường dẫn nằm ngoài thư mục dữ liệu",
    ),
    "fetch-incomplete": (
        "file listed in fetch.txt is not in the bag; Kho does not download files: submit the complete bag",
        "tệp liệt kê trong fetch.txt không có trong gói; Kho không tải tệp từ xa: hãy nộp gói đầy đủ",
    ),
    "unsafe-path": ("unsafe path (escapes the bag)", "đường dẫn không an toàn (ra ngoài gói)"),
    "symlink": ("symbolic link in the SIP", "liên kết tượng trưng trong gói"),
    "special-file": ("device, FIFO or socket in the SIP", "tệp thiết bị/FIFO/socket trong gói"),
    "name-not-nfc": (
        "file name is not Unicode NFC (e.g. written on macOS); re-create the bag with NFC names",
        "tên tệp không ở dạng Unicode NFC (ví dụ tạo trên macOS); hãy tạo lại gói với tên dạng NFC",
    ),
    "name-not-utf8": ("file name is not valid UTF-8", "tên tệp không phải UTF-8 hợp lệ"),
    "name-control-character": (
        "file or folder name holds a control character (U+0000–U+001F, U+007F–U+009F); rename it and re-create the bag",
        "tên tệp/thư mục chứa ký tự điều khiển (U+0000–U+001F, U+007F–U+009F); hãy đổi tên và tạo lại gói",
    ),
    "name-too-long": (
        "file or folder name longer than the limit (UTF-8 bytes); shorten it and re-create the bag",
        "tên tệp/thư mục dài quá giới hạn (byte UTF-8); hãy rút ngắn và tạo lại gói",
    ),
    "path-too-long": (
        "path longer than the limit (UTF-8 bytes); shorten it and re-create the bag",
        "đường dẫn dài quá giới hạn (byte UTF-8); hãy rút ngắn và tạo lại gói",
    ),
    "os-file": (
        "operating-system file in the payload (e.g. .DS_Store, Thumbs.db); kept as submitted",
        "tệp của hệ điều hành trong dữ liệu (ví dụ .DS_Store, Thumbs.db); được giữ nguyên như khi nộp",
    ),
    "incomplete": ("bag is incomplete", "gói không đầy đủ"),
    "file-missing": ("file in manifest is missing", "tệp có trong manifest nhưng không tồn tại"),
    "file-unexpected": ("file not listed in any manifest", "tệp không có trong manifest"),
    "oxum": ("Payload-Oxum does not match the payload", "Payload-Oxum không khớp dữ liệu"),
    "checksum-mismatch": ("checksum mismatch", "sai giá trị băm"),
    "unreadable": ("file cannot be read", "không đọc được tệp"),
    "virus-found": ("virus found by the virus scanner", "phát hiện virus"),
    "signature-not-valid": (
        "a digital signature is invalid or cannot be confirmed, and the archive's policy refuses such records",
        "chữ ký số không hợp lệ hoặc không xác nhận được; chính sách của cơ quan lưu trữ không tiếp nhận hồ sơ này",
    ),
    "empty-payload": ("the bag has no payload files", "gói không có tệp dữ liệu"),
    "zero-byte": ("zero-byte file", "tệp rỗng (0 byte)"),
    "metadata-missing": ("required metadata field missing", "thiếu trường dữ liệu đặc tả bắt buộc"),
    "metadata-invalid": ("metadata field has an invalid value", "trường dữ liệu đặc tả có giá trị sai"),
    "duplicate": ("byte-identical SIP already ingested", "gói trùng với gói đã nộp lưu"),
    "more-problems": ("more of the same kind, not listed", "còn các lỗi cùng loại khác, không liệt kê"),
}


@dataclass(frozen=True)
class Problem:
    """One reason a SIP is invalid (or, as a warning, worth an archivist's look)."""

    code: str
    detail: str = ""
    path: str | None = None

    @property
    def message_en(self) -> str:
        return MESSAGES[self.code][0]

    @property
    def message_vi(self) -> str:
        return MESSAGES[self.code][1]

    def line(self) -> str:
        where = f"{self.path}: " if self.path else ""
        extra = f" ({self.detail})" if self.detail else ""
        return f"{self.code}: {where}{self.message_en} / {self.message_vi}{extra}"

    def to_dict(self) -> dict[str, str | None]:
        return {**asdict(self), "message_en": self.message_en, "message_vi": self.message_vi}

