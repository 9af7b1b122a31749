"""A rule's gates (needles one of which its texts must hold) and its view for scanned facts."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from classifier.patterns import group, scan_view

if TYPE_CHECKING:
    from classifier.rules import Rule


def gate(rule: Rule, *, ascii: bool = False) -> frozenset[str] | None:
    """Needles of which one must be in the text for the rule to match (None: no such set);
    with `ascii`, for ASCII texts, where patterns needing another character cannot match."""
    required = [g for g in (rule.message, rule.text, rule.traceback, rule.message_and) if g]
    sets = [g.ascii_needles if ascii else g.needles for g in required]
    gates = [s for s in sets if s is not None]
    return min(gates, key=len) if gates else None


def scanning(rule: Rule) -> Rule:
    """The rule's view for scanned facts (`Facts.scanned`, always ASCII): each pattern decided by
    the keys the scan found (`patterns.scan_view`), its gate made of them; `exact` when no regex
    can run, else `regex_needles` tell when one may."""
    view = replace(
        rule,
        message=group(tuple(map(scan_view, rule.message.patterns))),
        message_and=group(tuple(map(scan_view, rule.message_and.patterns))),
        text=group(tuple(map(scan_view, rule.text.patterns))),
        traceback=group(tuple(map(scan_view, rule.traceback.patterns))),
        unless=group(tuple(map(scan_view, rule.unless.patterns))),
    )
    needles = gate(view, ascii=True)
    groups = (view.message, view.message_and, view.text, view.traceback, view.unless)
    tried = [p for grp in groups for p in grp.patterns if not p.hit]
    regex_needles = (
        None
        if any(not p.needles for p in tried)
        else frozenset().union(*(p.needles for p in tried))
    )
    return replace(
        view, gate=needles, ascii_gate=needles, exact=not tried, regex_needles=regex_needles
    )
