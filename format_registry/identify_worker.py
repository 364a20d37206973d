"""The identification worker an ingest talks to (``format_registry.identify.isolated``): one process, the
engine loaded once, JSON lines in and out.

Why a plain ``python -m`` process and not a ``multiprocessing`` pool: a pool started by ``spawn`` or
``forkserver`` re-runs the parent's ``__main__`` in the child, and under Airflow that is the ``airflow``
script, whose import initialises Airflow again and failed in the child (the ``ingest`` DAG's identify task
retried until it gave up). A fresh interpreter running this module knows nothing of the parent's entry
point. It dies with its owner: its standard input closes when the owner dies, and it also watches the
owner's process (``format_registry.pool``).

Protocol, one JSON object a line: ``{"op": "info"}`` answers the engine's ``EngineInfo``;
``{"op": "batch", "paths": [...], "workers": n}`` answers ``{"results": [FormatIdentification...]}``;
any failure answers ``{"error": "..."}``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import threading
from typing import Any


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    engine, signature, owner = args[0], (args[1] or None), int(args[2])
    from format_registry.pool import _watch_owner

    threading.Thread(target=_watch_owner, args=(owner,), name="kho-watch-owner", daemon=True).start()
    from format_registry.identify import shared_identifier

    out = sys.stdout
    for line in sys.stdin:
        try:
            request = json.loads(line)
            identifier = shared_identifier(engine, signature)
            if request.get("op") == "info":
                answer: dict[str, Any] = {"info": dataclasses.asdict(identifier.info)}
            else:
                paths = [str(p) for p in request["paths"]]
                found = identifier.identify_batch(paths, int(request.get("workers") or os.cpu_count() or 1))
                if found is None:
                    found = [identifier.identify(path) for path in paths]
                answer = {"results": [dataclasses.asdict(f) for f in found]}
        except Exception as exc:  # the owner raises it, with the engine's own words
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(answer, ensure_ascii=False) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
