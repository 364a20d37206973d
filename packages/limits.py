"""Default limits on hostile input to SIP validation (issue "hostile input"); the caller may pass its own
settings (``KHO_SIP_MAX_*``, see ``preservation.config``).

A leaf module so that ``packages.sip`` and the checks it runs (``packages.access``) share one default
without importing each other; ``packages.sip`` re-exports these names.
"""

from __future__ import annotations

MAX_MANIFEST_LINES = 1_000_000  # lines of one manifest (or fetch.txt)
MAX_TAG_FILE_BYTES = 1024 * 1024  # bagit.txt, bag-info.txt / package-info.txt
MAX_NAME_BYTES = 255  # one path component, UTF-8 bytes (ext4, XFS, APFS, NTFS all stop at 255)
MAX_PATH_BYTES = 900  # a path inside the bag: S3 keys are <= 1024 bytes with prefix + AIP id + representations/rep-01/
