"""What our socket heard of prompts the monitor does not watch yet (pure).

The submitter posts a prompt, then publishes `JobDispatched`; the monitor learns of the
prompt from that event. On an idle backend ComfyUI starts the prompt at once, so its
``execution_start`` and first ``executing`` can reach our socket before the event reaches
us. Dropping them left a prompt that then stalled looking as if it never started: it was
reported as a wedged backend (and the backend restarted) instead of a stalled prompt
(interrupted, its job resumed). The latest news of each unknown prompt is kept, a bounded
number of them, and given to its watch when the watch appears.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

from monitor.watch import PromptWatch

KEPT: Final = 512
"""Unknown prompts remembered at most (the oldest is forgotten first)."""


@dataclass(frozen=True)
class News:
    """The prompt was executing (`node`, if named) at monotonic time `at`."""

    node: str | None
    at: float


class EarlyNews:
    """The latest news of prompts heard before they were watched."""

    def __init__(self, kept: int = KEPT) -> None:
        self.kept = kept
        self._news: OrderedDict[str, News] = OrderedDict()

    def heard(self, prompt_id: str, node: str | None, at: float) -> None:
        """It was executing (its node, when the message names one)."""
        before = self._news.pop(prompt_id, None)
        self._news[prompt_id] = News(
            node if node is not None or before is None else before.node, at
        )
        while len(self._news) > self.kept:
            self._news.popitem(last=False)

    def ended(self, prompt_id: str) -> None:
        """It finished (its outcome is read from /history when it is watched)."""
        self._news.pop(prompt_id, None)

    def claim(self, prompt: PromptWatch) -> bool:
        """Give `prompt` what was heard of it before it was watched; whether there was any."""
        news = self._news.pop(prompt.prompt_id, None)
        if news is None or prompt.running:
            return False
        prompt.running = True
        prompt.node = news.node or prompt.node
        prompt.last_progress_at = min(prompt.last_progress_at, news.at)
        return True

    def __len__(self) -> int:
        return len(self._news)
