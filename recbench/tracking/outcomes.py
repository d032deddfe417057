"""What the jobs of one ``recbench run`` came to, and how the command reports it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Outcomes:
    """Jobs by outcome: ``finished`` and ``failed`` name their runs (``model seed=N``);
    ``skipped`` ran nothing (already FINISHED, or run by another process); ``not_started``
    never began (a sweep stopped early, or the store stopped taking writes)."""

    finished: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: int = 0
    not_started: int = 0

    @classmethod
    def of(cls, jobs: list[tuple[str, str]]) -> "Outcomes":
        """From ``(done | skipped | failed, label)`` pairs reported in this process."""
        return cls([label for o, label in jobs if o == "done"],
                   [label for o, label in jobs if o == "failed"],
                   sum(o == "skipped" for o, _ in jobs))

    @property
    def complete(self) -> bool:
        """Every job finished or had nothing to run."""
        return not self.failed and not self.not_started

    def describe(self) -> str:
        text = f"{len(self.finished)} finished, {self.skipped} skipped" + (
            f", {self.not_started} not started." if self.not_started else ".")
        return f"{len(self.failed)} run(s) failed: {', '.join(self.failed)}; {text}" \
            if self.failed else text
