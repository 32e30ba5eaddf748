"""The audit trail: every answer that `tailor ask`, the API or `tailor compare` produces, recorded.

What a row holds: the time (UTC), the caller's id (an API key's id, never the key; `cli:<user>` for
`tailor ask`), the groups it asked as, strategy, generator, adapter name and version, KB version,
the retrieved and the cited chunk ids with their document ids, the abstained flag, tokens and
timings. Never text from the knowledge base or the answer: the answer may quote a restricted
passage, so only its sha256 and length are kept (or nothing, `AuditConfig.answer="drop"`); the
question is kept, hashed (default) or dropped by `AuditConfig.question`. Credentials are scrubbed
from every field (`redact.py`).

Where: `default_audit_dir(kb)`, `<kb>/audit/` for a local knowledge base, else `$TAILOR_HOME/audit/`.
How: SQLite files rotated monthly and by size, one transaction per record or per batch (`log.py`).

Deleted documents: rows are never changed, so an answer that used a document keeps naming it after
the document is removed; `mark_deleted` (and `tailor audit query --kb`) flags the ids that the
knowledge base no longer has.
"""

from tailor.audit.config import AuditConfig, default_audit_dir
from tailor.audit.entry import AuditEntry, ChunkRef, mark_deleted
from tailor.audit.log import AuditLog, AuditRecord

__all__ = ["AuditConfig", "AuditEntry", "AuditLog", "AuditRecord", "ChunkRef", "default_audit_dir", "mark_deleted"]
