"""The engine state a tick worker keeps in memory between ticks, keyed by the site row's version.

Parsing the stored state is most of a tick's load at 1,000 trucks, and the worker that wrote the state last
tick still holds it. The key is the site row's `xmin`, the id of the transaction that wrote the row version
now visible: the tick reads it under the site lock, and any other write of the row (a tick of another worker,
`simulate`, an operator's change, a restore) makes a new version with another xmin, so a kept state is used
only when the row is exactly the one this worker wrote. An entry is taken out before the engine steps it
(the step changes it in place) and put back only when the tick's transaction has committed: a tick that
fails or is killed leaves no entry, and the next one reads the row.

With the state goes what the tick wrote to the unit rows (`written`), so the next tick writes only the rows
whose values changed.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from fleet.sim import SiteState


@dataclass
class Kept:
    state: SiteState
    written: dict[str, dict[int, tuple[Any, ...]]] = field(default_factory=dict)  # table -> id -> values


#: Sites whose state one worker keeps; a worker ticks few sites, a 1,000-truck state is ~5 MB in memory.
MAX_SITES = 16

_kept: OrderedDict[tuple[str, int], tuple[str, Kept]] = OrderedDict()


def take(database: str, site_id: int, version: str) -> Kept | None:
    """The state this worker committed as row version `version`, removed from the cache; None otherwise."""
    entry = _kept.pop((database, site_id), None)
    if entry is None or entry[0] != version:
        return None
    return entry[1]


def keep(database: str, site_id: int, version: str, kept: Kept) -> None:
    """Remember the state just committed as the site row's version `version`."""
    _kept[(database, site_id)] = (version, kept)
    _kept.move_to_end((database, site_id))
    while len(_kept) > MAX_SITES:
        _kept.popitem(last=False)


def forget() -> None:
    """Drop every kept state (tests, and a worker told to reload)."""
    _kept.clear()
