"""The rules in force: operators' custom documents (KV, file) composed before the defaults."""

from __future__ import annotations

from collections.abc import Mapping

from classifier.rules import RuleError, RuleSet, default_rules, load_rules


class RuleBook:
    """Holds each custom source's rules and the composed set; swaps it atomically on change.

    Custom rules go before every default rule, ordered by their own priority (KV documents in
    key order, then the file, at equal priority).
    """

    def __init__(self, defaults: RuleSet | None = None) -> None:
        self._defaults = defaults if defaults is not None else default_rules()
        self._kv: dict[str, RuleSet] = {}
        self._file = RuleSet.of(())
        self.current = self._defaults

    def set_file(self, document: str | None, source: str) -> tuple[RuleError, ...]:
        """Replace the file's rules (None: no file); returns the errors found in it."""
        self._file = self._load(document, source)
        self._compose()
        return self._file.errors

    def set_kv(self, documents: Mapping[str, bytes]) -> tuple[RuleError, ...]:
        """Replace every KV document at once (key → TOML bytes); returns their errors."""
        self._kv = {
            key: self._load(value.decode("utf-8", "replace"), f"kv:{key}")
            for key, value in sorted(documents.items())
        }
        self._compose()
        return tuple(error for rules in self._kv.values() for error in rules.errors)

    def _load(self, document: str | None, source: str) -> RuleSet:
        if not document or not document.strip():
            return RuleSet.of(())
        return load_rules(document, source, self._defaults.sets)

    def _compose(self) -> None:
        custom = [rule for rules in (*self._kv.values(), self._file) for rule in rules.rules]
        custom.sort(key=lambda r: -r.priority)
        self.current = RuleSet.of(tuple(custom)).before(self._defaults)
