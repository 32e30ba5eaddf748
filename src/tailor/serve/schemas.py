"""Request and response bodies of the HTTP API (they are also its OpenAPI schema at /docs).

Request bodies are strict (`STRICT`): a value of the wrong JSON type is a 422 naming the field, never
coerced ("5" is not a top_k, true is not a 1, "yes" is not a stream flag)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

STRICT = ConfigDict(extra="forbid", strict=True)


class AskRequest(BaseModel):
    model_config = STRICT

    question: str = Field(min_length=1, description="The question, answered within the caller's groups")
    strategy: str | None = Field(
        None, min_length=1,
        description="rag | closed_book | finetuned:<adapter> | hybrid:<adapter>; default: the server's",
    )
    top_k: int | None = Field(None, ge=1, le=50, description="Context blocks retrieved (strategies that retrieve)")
    stream: bool = Field(False, description="Stream tokens, then the answer with its citations, over SSE")
    max_tokens: int | None = Field(None, ge=1, le=8192, description="Longest LLM answer (LLM strategies)")
    temperature: float | None = Field(None, ge=0, le=2, description="0: greedy decoding (LLM strategies)")


class CitationOut(BaseModel):
    marker: int
    chunk_id: str
    doc_id: str
    title: str
    source: str = Field(description="Where the document came from: a server path for admin keys, else its id")
    start: int = Field(description="Character offset of the quote in the document text")
    end: int
    quote: str
    page: int | None = None
    sentence: int = 0
    support: float = 1.0
    supported: bool = True


class HitOut(BaseModel):
    chunk: dict[str, Any]
    score: float
    doc_title: str
    doc_source: str = Field(description="Where the document came from: a server path for admin keys, else its id")
    scores: dict[str, float] = {}
    ranks: dict[str, int] = {}


class AnswerOut(BaseModel):
    question: str
    text: str
    abstained: bool
    citations: list[CitationOut]
    dropped_markers: list[int] = []
    unsupported: list[str] = []
    hits: list[HitOut] = []
    tokens_in: int = 0
    tokens_out: int = 0
    timings_ms: dict[str, float] = {}
    strategy: str
    generator: str = Field(description="The model that answered; for other than admin keys without its location")
    model: str = Field(description="The strategy name as asked, e.g. hybrid:support-bot")
    adapter: str | None = Field(None, description="The adapter version that answered, e.g. support-bot@3")


class TextPart(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None

    @property
    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text or "" for part in self.content if part.type == "text")
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    include_usage: bool = False


class ChatRequest(BaseModel):
    """OpenAI chat completions; the last user message is the question, the model a strategy name.

    Other OpenAI fields (top_p, stop, seed, user, ...) are accepted and ignored."""

    model_config = ConfigDict(extra="allow", strict=True)

    model: str = Field(min_length=1, description="rag | closed_book | finetuned:<adapter> | hybrid:<adapter>")
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1, le=8192)
    max_completion_tokens: int | None = Field(None, ge=1, le=8192)
    temperature: float | None = Field(None, ge=0, le=2)
    n: int = Field(1, ge=1, le=1, description="Only one choice is produced")


class TextDocument(BaseModel):
    model_config = STRICT

    name: str = Field(min_length=1, max_length=200, description="File name; its extension picks the loader")
    text: str = Field(min_length=1)
    title: str | None = Field(None, max_length=300)


class TextUpload(BaseModel):
    """Documents given as text (the JSON form of POST /v1/documents)."""

    model_config = STRICT

    documents: list[TextDocument] = Field(min_length=1)
    groups: list[str] = Field(["public"], description="Access groups of these documents (within the key's)")


class DocumentSummary(BaseModel):
    id: str
    title: str
    source: str
    groups: list[str]
    metadata: dict[str, Any]
    version: int
    chunks: int


class DocumentOut(DocumentSummary):
    text: str


class JobOut(BaseModel):
    id: str
    kind: str
    owner: str
    groups: list[str] = Field(description="The access groups it was made with: shown only to keys holding them all")
    status: Literal["queued", "running", "succeeded", "partial", "failed"]
    progress: dict[str, dict[str, int]]
    errors: list[dict[str, str]]
    result: dict[str, Any] | None
    message: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None


class UploadAccepted(BaseModel):
    job: JobOut
    files: list[str] = Field(description="The documents' names after sanitising")
