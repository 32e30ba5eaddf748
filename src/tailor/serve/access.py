"""The one authorisation rule for what a key can make the server read.

Everything the server keeps for later (a job, a compare run, a report) records the access groups it was
made with; a key sees it only when it holds every one of them (`visible`). A request that names groups
(a compare run's questions, training, probes, adapters) is refused before any work starts when one of
them is not a group of the key (`require_within`: a 403 naming the field). Anything a key may not see
is answered exactly as something that does not exist.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tailor.serve.errors import ApiError
from tailor.serve.keys import ApiKey

NamedGroups = Mapping[str, Sequence[str]]
"""Groups by the request field that names them, e.g. {"questions[0].groups": ["hr"]}."""


def visible(groups: Sequence[str] | None, key: ApiKey) -> bool:
    """A record made with `groups` may be shown to `key`; None (groups unknown) is shown to no key."""
    return groups is not None and set(groups) <= set(key.groups)


def require_within(key: ApiKey, named: NamedGroups) -> tuple[str, ...]:
    """The union of the `named` groups, sorted; a 403 naming the first field with a group outside the key's."""
    for field, groups in named.items():
        outside = sorted(set(groups) - set(key.groups))
        if outside:
            raise ApiError(403, f"{field}: {outside} are not groups of key {key.id}", field)
    return tuple(sorted({group for groups in named.values() for group in groups}))
