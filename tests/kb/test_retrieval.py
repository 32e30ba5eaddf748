"""Retrieval modes, fusion settings and cross-encoder reranking over a real knowledge base."""

from pathlib import Path

import pytest

from tailor.kb.config import KBConfig, RetrievalConfig
from tailor.kb.retrieval import Retriever
from tailor.kb.store import SearchFilter
from tailor.records import Document

FACTS = [
    ("loom-s200", "The S200 loom weighs 412 kilograms and weaves 18 metres per hour."),
    ("loom-m50", "The M50 tabletop loom weighs 31 kilograms and runs on a 24 volt supply."),
    ("refunds", "Refunds are paid within 14 days to the original payment method."),
    ("travel", "Staff travelling by train book second class for journeys under four hours."),
    ("security", "Laptops must use full-disk encryption and lock after five minutes idle."),
    ("shipping", "Orders ship from the Tallinn warehouse every weekday at 15:00."),
]


@pytest.fixture(scope="module")
def kb(tmp_path_factory, embedder):
    from tailor.kb.knowledge_base import KnowledgeBase

    kb = KnowledgeBase.open(tmp_path_factory.mktemp("retrieval") / "kb", embedder=embedder)
    kb.ingest_documents([Document(i, t, i.title(), f"{i}.txt") for i, t in FACTS])
    yield kb
    kb.close()


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_each_mode_finds_the_fact(kb, mode):
    result = kb.search("How heavy is the S200 loom?", k=3, mode=mode)
    assert result.hits[0].chunk.doc_id == "loom-s200"
    assert list(result.hits[0].scores) == (["dense", "bm25"] if mode == "hybrid" else [mode])
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)


def test_unknown_mode_is_a_clear_error(kb):
    with pytest.raises(ValueError, match="unknown search mode"):
        kb.search("x", mode="sparse")


def test_hybrid_rrf_score_is_the_sum_of_reciprocal_ranks(kb):
    retriever = Retriever(kb.store, kb.embedder, RetrievalConfig(fusion="rrf", dense_weight=1.0, bm25_weight=1.0))
    hit = retriever.run("weekday shipping time from the warehouse", SearchFilter(("public",)), k=1).hits[0]
    assert hit.score == pytest.approx(sum(1 / (60 + r) for r in hit.ranks.values()))


def test_default_hybrid_is_the_even_weighted_sum_of_normalised_scores(kb):
    result = kb.search("weekday shipping time from the warehouse", k=6)
    dense = kb.search("weekday shipping time from the warehouse", k=100, mode="dense").hits
    bm25 = kb.search("weekday shipping time from the warehouse", k=100, mode="bm25").hits

    def normalised(hits):
        high, low = hits[0].score, hits[-1].score
        return {h.chunk.id: (h.score - low) / ((high - low) or 1.0) for h in hits}

    d, b = normalised(dense), normalised(bm25)
    for hit in result.hits:
        assert hit.score == pytest.approx(0.5 * d.get(hit.chunk.id, 0.0) + 0.5 * b.get(hit.chunk.id, 0.0))


def test_weighted_fusion_config(kb):
    config = RetrievalConfig(fusion="weighted", dense_weight=0.3, bm25_weight=0.7)
    retriever = Retriever(kb.store, kb.embedder, config)
    hits = retriever.run("encryption on laptops", SearchFilter(("public",)), k=2).hits
    assert hits[0].chunk.doc_id == "security"
    assert 0 < hits[0].score <= 1.0 + 1e-9


def build_tiny_cross_encoder(folder: Path) -> Path:
    """A random-init BERT sequence classifier with a WordPiece tokenizer trained on the fly."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=300, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tokenizer.train_from_iterator([t for _, t in FACTS] * 3, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]",
    )
    from tokenizers.processors import TemplateProcessing

    fast._tokenizer.post_processor = TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", fast.cls_token_id), ("[SEP]", fast.sep_token_id)],
    )
    import torch

    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(fast), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, num_labels=1, max_position_embeddings=128)
    BertForSequenceClassification(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def test_cross_encoder_rerank_reorders_by_its_own_scores(kb, tmp_path):
    from sentence_transformers import CrossEncoder

    model_dir = build_tiny_cross_encoder(tmp_path / "ce")
    config = RetrievalConfig(reranker=str(model_dir), rerank_candidates=6)
    retriever = Retriever(kb.store, kb.embedder, config)
    query = "How heavy is the S200 loom?"
    result = retriever.run(query, SearchFilter(("public",)), k=4)
    assert len(result.hits) == 4 and "rerank_ms" in result.timings_ms
    expected = CrossEncoder(str(model_dir)).predict([(query, h.chunk.text) for h in result.hits])
    assert [h.scores["rerank"] for h in result.hits] == pytest.approx([float(s) for s in expected], abs=1e-5)
    assert [h.score for h in result.hits] == sorted((h.score for h in result.hits), reverse=True)
    assert [h.ranks["rerank"] for h in result.hits] == [1, 2, 3, 4]
    # The first-stage ranks are kept next to the reranker's (BM25 ranks only chunks sharing a term).
    assert all("dense" in h.ranks for h in result.hits)
    assert any("bm25" in h.ranks for h in result.hits)


def test_kb_config_file_round_trip(tmp_path):
    path = tmp_path / "tailor.yaml"
    path.write_text("kb:\n  retrieval:\n    fusion: weighted\n    candidates: 50\n  index:\n    chunk_tokens: 128\n")
    config = KBConfig.from_file(path)
    assert config.retrieval.fusion == "weighted" and config.retrieval.candidates == 50
    assert config.index.chunk_tokens == 128
    path.write_text("kb:\n  retrieval:\n    fusoin: rrf\n")
    with pytest.raises(ValueError, match="fusoin"):
        KBConfig.from_file(path)
