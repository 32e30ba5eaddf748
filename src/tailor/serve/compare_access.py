"""What a compare request makes the server read, checked before the run starts (`check_compare`).

A run answers each question as its `groups`, trains on `training.groups`, probes leaks as
`probes.leak_caller_groups` with an adapter trained on `probes.leak_adapter.groups`, and may reuse
registry adapters (`arms[].adapter`). Every one of those groups must be a group of the calling key,
and every gold document id one it can read; every field naming a model, file or endpoint takes only names
the server offers (`tailor.serve.request_names`). The run's groups (their union) are recorded with its job
and its report, and its report describes the knowledge base through their documents only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tailor.evaluate.compare import CompareConfig
from tailor.evaluate.compare.config import TRAIN
from tailor.evaluate.compare.questions import Question
from tailor.finetune.registry import AdapterAccessError, AdapterRegistry, require_adapter_access
from tailor.serve.access import require_within
from tailor.serve.answering import ADAPTER_REF, adapter_refusal
from tailor.serve.errors import ApiError
from tailor.serve.keys import ApiKey


def _listed(value: object, field: str) -> tuple[str, ...]:
    """Group names given in a free-form section (`finetune`, `scratch`); 422 unless a list of names."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(422, f"{field}: give a list of group names", field)
    return tuple(value)


def _adapter_groups(ref: str, field: str, registry: AdapterRegistry, key: ApiKey) -> tuple[str, ...]:
    """The groups a reused registry adapter was trained on; 404 unknown, 403 outside the key's groups."""
    if not ADAPTER_REF.match(ref):
        raise ApiError(422, f"{field}: {ref!r} is not an adapter reference (name, name@3, name@latest)", field)
    try:
        entry = registry.get(ref)
    except KeyError as exc:
        raise ApiError(404, f"{field}: no adapter {ref!r} in the registry", field) from exc
    try:
        require_adapter_access(entry, key.groups)
    except AdapterAccessError as exc:
        raise ApiError(403, f"{field}: {adapter_refusal(exc)}", field) from exc
    return tuple(sorted(entry.groups or ()))


def check_compare(
    config: CompareConfig, questions: Sequence[Question], key: ApiKey, registry: AdapterRegistry,
    readable: Callable[[str], bool],
) -> tuple[CompareConfig, tuple[str, ...]]:
    """The config to run for `key` and the groups the run is made with; raises the 4xx that refuses it.

    `readable(doc_id)`: the key can read that document. An unreadable gold document id is reported exactly
    as one that does not exist. A leak adapter without groups is trained on the key's groups (on the
    command line: every group of the knowledge base)."""
    probes = config.probes
    if probes.leak_adapter is not None and probes.leak_adapter.groups is None:
        leak_adapter = probes.leak_adapter.model_copy(update={"groups": list(key.groups)})
        config = config.model_copy(update={"probes": probes.model_copy(update={"leak_adapter": leak_adapter})})
    named: dict[str, Sequence[str]] = {f"questions[{i}].groups": q.groups for i, q in enumerate(questions)}
    named["settings.training.groups"] = config.training.groups
    free_form = {"settings.training.finetune.groups": config.training.finetune,
                 "settings.scratch.groups": config.scratch}
    named["settings.probes.leak_caller_groups"] = config.probes.leak_caller_groups
    if config.probes.leak_adapter is not None:
        named["settings.probes.leak_adapter.groups"] = config.probes.leak_adapter.groups or ()
        free_form["settings.probes.leak_adapter.finetune.groups"] = config.probes.leak_adapter.finetune
    named |= {field: _listed(section.get("groups"), field) for field, section in free_form.items()}
    for i, arm in enumerate(config.arms):
        if arm.adapter and arm.adapter != TRAIN:
            named[f"settings.arms[{i}].adapter"] = _adapter_groups(arm.adapter, f"settings.arms[{i}].adapter",
                                                                   registry, key)
    groups = require_within(key, named)
    for i, question in enumerate(questions):
        for doc_id in question.doc_ids:
            if not readable(doc_id):
                field = f"questions[{i}].doc_ids"
                raise ApiError(422, f"{field}: no document {doc_id!r}", field)
    return config, groups
