"""What the steps record besides their outputs: PREMIS events (one recorder a step), agents, log lines."""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from packages import agents as kho_agents
from packages import premis
from preservation.workspace import Workspace, read_lines

# One line per step with the numbers an officer needs (files, formats, bytes, AIP id, locations, or the
# reason for a rejection). Airflow shows stdlib logging of its tasks; ``kho -v`` prints it on stderr.
log = logging.getLogger("kho.ingest")


def counts(counter: Counter[str] | dict[str, int]) -> str:
    return ", ".join(f"{key}×{value}" for key, value in sorted(counter.items())) or "none"


def agents_of(ws: Workspace) -> dict[str, dict[str, str]]:
    return dict(ws.state().get("agents", {}))


def register_agents(ws: Workspace, *new: dict[str, str] | None) -> None:
    state = ws.state()
    known = state.setdefault("agents", {})
    for agent in new:
        if agent is not None:
            known[f"{agent['type']}|{agent['value']}"] = agent
    ws.save_state(state)


class EventRecorder:
    """The PREMIS events of one step, bound to its workspace and AIP: ``events.success("virus check",
    detail=...)`` instead of eight keyword arguments to ``premis.new_event`` at every call.

    Events are spooled to a JSON-lines file in the workspace as they are recorded, so a step over
    100,000 files never holds 100,000 events; ``ws.complete_step(step, events)`` takes the file over (a
    crash before that leaves only the spool, which the step's re-run overwrites). By default an event is
    about the AIP as a whole and its agent is Kho as the executing program."""

    def __init__(self, ws: Workspace, step: str, aip_id: str | None = None) -> None:
        self.step = step
        self.aip_id = aip_id or ws.aip_id
        ws.events_dir.mkdir(exist_ok=True)
        self._spool = ws.events_dir / f".{step}.spool.jsonl"
        self._handle: TextIO | None = open(self._spool, "w", encoding="utf-8")  # noqa: SIM115 (closed in commit)
        self._count = 0

    def record(
        self,
        event_type: str,
        outcome: str,
        *,
        detail: str,
        outcome_detail: str = "",
        objects: Iterable[str] | None = None,
        agents: Iterable[dict[str, str]] | None = None,
    ) -> dict[str, Any]:
        event = premis.new_event(
            event_type,
            outcome,
            aip_id=self.aip_id,
            object_ids=[self.aip_id] if objects is None else objects,
            agents=[kho_agents.link(kho_agents.kho(), "executing program")] if agents is None else agents,
            detail=detail,
            outcome_detail=outcome_detail,
        )
        self.add(event)
        return event

    def success(self, event_type: str, **details: Any) -> dict[str, Any]:
        return self.record(event_type, "success", **details)

    def warning(self, event_type: str, **details: Any) -> dict[str, Any]:
        return self.record(event_type, "warning", **details)

    def failure(self, event_type: str, **details: Any) -> dict[str, Any]:
        return self.record(event_type, "failure", **details)

    def not_performed(self, event_type: str, **details: Any) -> dict[str, Any]:
        return self.record(event_type, "not performed", **details)

    def add(self, event: dict[str, Any]) -> None:
        """An event built elsewhere (the PREMIS history a package brought with it, a batch's events)."""
        if self._handle is None:
            raise RuntimeError(f"the events of step {self.step} were already committed")
        self._handle.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")))
        self._handle.write("\n")
        self._count += 1

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """The events recorded so far (read back from the spool)."""
        if self._handle is not None:
            self._handle.flush()
        return read_lines(self._spool)

    def commit_to(self, target: Path) -> None:
        """Make the spool the step's event file (flushed, renamed: whole or not at all)."""
        if self._handle is None:
            raise RuntimeError(f"the events of step {self.step} were already committed")
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        self._handle = None
        os.replace(self._spool, target)

    def discard(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        self._spool.unlink(missing_ok=True)
