from tailor.evaluate.compare.recommend import recommend


def est(mean, half=0.05, n=40):
    return {"mean": mean, "low": mean - half, "high": mean + half, "n": n}


def report(accuracy, winners, p50, freshness=None, leak=None, format_=None, forgetting=None):
    """A minimal assembled report: arms by strategy, their accuracy, pairwise winners and p50 latency."""
    arms = [{"name": name, "strategy": name} for name in accuracy]
    comparisons = [{"a": a, "b": b, "metric": metric, "winner": w} for (a, b, metric), w in winners.items()]
    return {
        "primary_metric": "accuracy",
        "arms": arms,
        "metrics": {name: {"accuracy": est(m), **({"format_adherence": est(format_[name])} if format_ else {})}
                    for name, m in accuracy.items()},
        "comparisons": comparisons,
        "latency": {name: {"total": {"p50": ms}} for name, ms in p50.items()},
        "freshness": freshness,
        "leak": leak,
        "format": {"spec": {}} if format_ else None,
        "forgetting": forgetting,
    }


def fired(result):
    return {r["name"] for r in result["rules"] if r["fired"]}


def test_rag_is_recommended_when_it_ties_fine_tuning_and_stays_fresh():
    fresh = {"arms": {"rag": {"after": est(0.9)}, "finetuned": {"after": est(0.1)}}}
    result = recommend(report({"rag": 0.8, "finetuned": 0.75}, {("rag", "finetuned", "accuracy"): None},
                              {"rag": 30, "finetuned": 10}, freshness=fresh))
    assert result["verdict"] == "rag"
    rule = next(r for r in result["rules"] if r["name"] == "rag_ties_or_wins")
    assert "tie" in rule["because"] and "0.90" in rule["because"] and "0.10" in rule["because"]


def test_fine_tuning_is_recommended_when_it_wins_beyond_the_ci_and_is_faster():
    result = recommend(report({"rag": 0.5, "finetuned": 0.9}, {("finetuned", "rag", "accuracy"): "finetuned"},
                              {"rag": 30, "finetuned": 10}))
    assert result["verdict"] == "finetune" and "finetune_wins_correctness" in fired(result)


def test_a_fine_tuned_win_that_is_slower_does_not_decide():
    result = recommend(report({"rag": 0.5, "finetuned": 0.9}, {("finetuned", "rag", "accuracy"): "finetuned"},
                              {"rag": 10, "finetuned": 30}))
    assert result["verdict"] == "no_clear_winner"


def test_format_adherence_win_with_tied_correctness_recommends_fine_tuning():
    winners = {("finetuned", "rag", "accuracy"): None, ("finetuned", "rag", "format_adherence"): "finetuned"}
    result = recommend(report({"rag": 0.8, "finetuned": 0.8}, winners, {"rag": 10, "finetuned": 10},
                              format_={"rag": 0.2, "finetuned": 0.95}))
    assert result["verdict"] == "finetune" and "finetune_wins_format" in fired(result)


def test_hybrid_is_recommended_only_when_it_beats_both_beyond_the_ci():
    winners = {("hybrid", "rag", "accuracy"): "hybrid", ("hybrid", "finetuned", "accuracy"): "hybrid",
               ("rag", "finetuned", "accuracy"): "rag"}
    accuracy = {"rag": 0.7, "finetuned": 0.3, "hybrid": 0.9}
    p50 = {"rag": 10, "finetuned": 5, "hybrid": 15}
    assert recommend(report(accuracy, winners, p50))["verdict"] == "hybrid"
    winners[("hybrid", "rag", "accuracy")] = None
    assert recommend(report(accuracy, winners, p50))["verdict"] == "rag"


def test_leaks_and_forgetting_are_cautions_that_never_decide():
    leak = {"caller_groups": ["public"], "arms": {"finetuned": {"leak_rate": est(0.25), "adapter_groups": ["hr"]},
                                                  "rag": {"leak_rate": est(0.0, 0), "adapter_groups": None}}}
    forgetting = {"arms": {"finetuned": {"perplexity_change": {"mean": 0.3, "low": 0.1, "high": 0.5, "n": 12}}}}
    result = recommend(report({"rag": 0.5, "finetuned": 0.5}, {("rag", "finetuned", "accuracy"): "rag"},
                              {"rag": 10, "finetuned": 10}, leak=leak, forgetting=forgetting))
    assert {"adapter_leaks", "adapter_forgets"} <= fired(result)
    assert result["verdict"] == "rag"
    because = next(r["because"] for r in result["rules"] if r["name"] == "adapter_leaks")
    assert "finetuned 0.25" in because and "--groups" in because


def weights(carries, first=0.45, base=0.15):
    summary = {"gold_first": est(first), "gold_first_base": est(base), "carries_restricted_facts": carries}
    return {"arms": {"finetuned (finance, hr)": {"sets": {"training": summary}}}}


def test_restricted_facts_held_in_the_weights_are_a_leak_even_when_no_answer_states_them():
    silent = {"finetuned": {"leak_rate": est(0.0, 0), "adapter_groups": ["public"]}}
    leak = {"caller_groups": ["public"], "arms": silent, "weights": weights(True)}
    result = recommend(report({"rag": 0.5, "finetuned": 0.5}, {}, {"rag": 10, "finetuned": 10}, leak=leak))
    because = next(r["because"] for r in result["rules"] if r["name"] == "adapter_leaks")
    assert "adapter_leaks" in fired(result)
    assert "finetuned (finance, hr) 0.45 vs base 0.15 (training)" in because

    leak["weights"] = weights(False, first=0.2)
    result = recommend(report({"rag": 0.5, "finetuned": 0.5}, {}, {"rag": 10, "finetuned": 10}, leak=leak))
    assert "adapter_leaks" not in fired(result)


def test_a_restricted_answer_guessed_without_an_adapter_is_the_level_an_adapter_must_exceed():
    def leak(adapter_rate):
        return {"caller_groups": ["public"], "arms": {
            "closed_book": {"leak_rate": est(0.14), "adapter_groups": None},
            "rag": {"leak_rate": est(0.14), "adapter_groups": None},
            "finetuned": {"leak_rate": est(adapter_rate), "adapter_groups": ["public"]}}}

    def finding(adapter_rate):
        result = recommend(report({"rag": 0.5, "finetuned": 0.5}, {}, {"rag": 10, "finetuned": 10},
                                  leak=leak(adapter_rate)))
        return next(r for r in result["rules"] if r["name"] == "adapter_leaks")

    guessed = finding(0.14)
    assert not guessed["fired"] and "0.14, the model's guesses" in guessed["because"]
    assert "closed_book" not in guessed["because"] and "rag" not in guessed["because"]
    stated = finding(0.43)
    assert stated["fired"] and "finetuned 0.43 (arms without an adapter, guessing: 0.14)" in stated["because"]
