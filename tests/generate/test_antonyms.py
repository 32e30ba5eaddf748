from tailor.generate.antonyms import OPPOSITES, flips_a_word, words


def test_opposites_are_symmetric():
    assert all(word in OPPOSITES[other] for word, others in OPPOSITES.items() for other in others)
    assert OPPOSITES["increased"] == {"decreased"} and OPPOSITES["old"] == {"young", "new"}


def test_a_question_that_turns_a_word_into_its_opposite_is_caught():
    sentence = words("Exports of wool increased sharply after the treaty of 1786.")
    assert flips_a_word(words("What decreased sharply after the treaty of 1786?"), sentence)
    assert not flips_a_word(words("What increased sharply after the treaty of 1786?"), sentence)


def test_a_sentence_holding_both_words_is_no_flip():
    sentence = words("Prices rose in the north and fell in the south.")
    assert not flips_a_word(words("Where did prices fall?"), sentence)  # 'fall' absent, but so is 'rise'
    assert not flips_a_word(words("Where did prices rise in the south?"), words("They rose in the south, not the north."))
