"""HTTP API (issue #6): search AIPs, request and download DIPs, export the event trail.

Every answer respects the access regimes of ``packages.access``: a requester is known only by a
bearer token from configuration (``KHO_API_TOKENS`` or ``$KHO_HOME/api-tokens.toml``), which maps
to a name and a role. Files a role may not receive are only counted (``withheld_count``), never named
and never given a reason or legal basis (decision in ``preservation.dip``); nor are their sizes given
away: ``file_count`` and ``total_bytes`` count only the originals the requester may receive, and the
bag-info fields stating the whole payload's size (Payload-Oxum, Bag-Size) are for administrators. Errors are always JSON
``{"error", "error_vi"}`` that say what to do next; internals (paths, storage locations, stack traces)
stay in the server log.

Layout: ``app`` (``create_app``, ``serve``), ``auth`` (tokens, the requester, the body guard), ``errors`` (the
error shape and its handlers), ``models`` (request and response bodies), ``deps`` (the service and settings a
route needs, from ``app.state``), ``streaming`` (the event export as a stream), ``routes/`` (one router an area).
The AIP views themselves are built by ``preservation.aip_views``, which ``kho aip`` shares.
"""

from preservation.api.app import create_app, serve
from preservation.api.auth import (
    TOKENS_ENV,
    TOKENS_FILE,
    BodyGuard,
    Requester,
    Tokens,
    configured_tokens,
    find_requester,
    load_tokens,
    token_id,
    tokens_from,
)
from preservation.api.errors import ApiError, ErrorBody
from preservation.api.models import AipDetail, AipPage, AipSummary, DeliveredFile, DipOut, DipRequest, FileOut, Health

__all__ = [
    "TOKENS_ENV",
    "TOKENS_FILE",
    "AipDetail",
    "AipPage",
    "AipSummary",
    "ApiError",
    "BodyGuard",
    "DeliveredFile",
    "DipOut",
    "DipRequest",
    "ErrorBody",
    "FileOut",
    "Health",
    "Requester",
    "Tokens",
    "configured_tokens",
    "create_app",
    "find_requester",
    "load_tokens",
    "serve",
    "token_id",
    "tokens_from",
]
