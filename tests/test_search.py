"""Hybrid retrieval, filters, facets, de-duplication, answers and related material on a small corpus."""

from __future__ import annotations


import numpy as np
import pytest

from pioc_search.embedders import Embedder
from pioc_search.ingest.pipeline import build_index
from pioc_search.analysis import question_terms
from pioc_search.lexical.fts5 import match_query
from pioc_search.ingest.metadata import find_cities
from pioc_search.search import RRF_K, DocumentIndex, Filters, Searcher, _twin, fuse, passage_words, shingles
from pioc_search.sentences import sentence_spans, split_sentences

SHARED = ("The Barrios con Luz programme installed 4,800 LED streetlights along 1,212 street segments, "
          "and night-time robbery fell by 27% in the treated segments within eighteen months.")

DOCS = {
    "lighting-report.md": ("report", ["Cali"], ["urban-design"], "2022-05-01",
                           f"# Street lighting in Cali\n\n{SHARED} Residents reported feeling safer at bus stops.\n"),
    "lighting-blog.md": ("blog", ["Cali"], ["urban-design"], "2023-02-10",
                         f"# What we learned from Barrios con Luz\n\nOur team visited the barrios last month. {SHARED}\n"),
    "juarez-youth.md": ("webinar", ["Ciudad Juárez"], ["youth"], "2021-09-14",
                        "# Youth programmes\n\nIn Ciudad Juárez the Jóvenes en Acción scheme paired 600 teenagers "
                        "with mentors. School dropout fell and youth homicide declined by a third between 2019 and 2021.\n"),
    "glasgow-vru.md": ("report", ["Glasgow"], ["violence-interruption"], "2019-03-01",
                       "# Treating violence as a public health problem\n\nThe Scottish Violence Reduction Unit (VRU) "
                       "treated knife crime as a contagious disease. Navigators in emergency departments talked to "
                       "injured young men at the bedside and offered a way out of gangs.\n"),
    "nairobi-gbv.md": ("statement", ["Nairobi"], ["gender-based-violence"], "2024-11-25",
                       "# Ending violence against women\n\nWe, the mayors, commit to safe public transport for women "
                       "and girls in Nairobi, with trained marshals at matatu stages and a 24-hour helpline.\n"),
    "kingston-policing.md": ("statement", ["Kingston"], ["community-policing"], "2020-06-30",
                             "# Community policing in Kingston\n\nNeighbourhood officers in Kingston hold monthly "
                             "open meetings with residents. Trust in the police rose from 31% to 48% in two years. "
                             "Street lighting repairs were requested at most meetings.\n"),
}


@pytest.fixture(scope="module")
def searcher(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, store_maker, store_kind: str) -> Searcher:
    """The small corpus indexed in each store (the module runs once per store)."""
    corpus = tmp_path_factory.mktemp("search-corpus")
    for name, (doc_type, cities, themes, date, body) in DOCS.items():
        front = f"---\ndoc_type: {doc_type}\ncities: {cities}\nthemes: {themes}\ndate: {date}\nlanguage: en\n---\n"
        (corpus / name).write_text(front + body, encoding="utf-8")
    _, store = store_maker.new(store_kind)
    build_index(corpus, store, embedder)
    return Searcher(store.live(), embedder)


def doc_ids(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [h.document.id for h in result.hits]


def _ranking(*ids: int) -> list[tuple[int, float]]:
    return [(pid, 1.0) for pid in ids]


def test_rrf_rewards_agreement_between_rankings() -> None:
    fused = fuse(_ranking(1, 2, 3), _ranking(3, 1, 4))
    assert [pid for pid, _ in fused] == [1, 3, 2, 4]
    assert fused[0][1] == pytest.approx(1 / (RRF_K + 1) + 1 / (RRF_K + 2))


def test_passages_in_another_language_are_not_penalised_for_missing_words() -> None:
    """Passage 9 (another language) is the dense favourite; the lexical retriever, matching the
    question's words, only knows same-language passages 1 and 2. 9 must still come first."""
    dense, lexical = _ranking(9, 1, 2), _ranking(1, 2)
    assert [pid for pid, _ in fuse(dense, lexical)][0] == 1  # plain RRF: words outvote meaning
    assert [pid for pid, _ in fuse(dense, lexical, beyond_lexical={9})][0] == 9


@pytest.mark.parametrize("question", ['"unbalanced quote', "lighting*", "-robbery", "NEAR(light robbery)",
                                      "(Cali OR", "AND OR NOT", "col:value ^start", "???"])
def test_fts5_syntax_in_questions_never_errors(searcher: Searcher, question: str) -> None:
    for mode in ("hybrid", "lexical", "dense"):
        searcher.search(question, k=3, mode=mode)


def test_fts5_query_quotes_every_word() -> None:
    assert match_query(question_terms('NEAR("a" street-lights) -x*')) == '"near" OR "street" OR "light" OR "x"'
    assert match_query(question_terms("the of and")) is None


def test_lexical_finds_acronyms_and_dense_finds_paraphrase(searcher: Searcher) -> None:
    assert doc_ids(searcher.search("VRU", k=1, mode="lexical")) == ["glasgow-vru-md"]
    paraphrase = searcher.search("hospital bedside conversations with stabbing victims", k=1, mode="dense")
    assert doc_ids(paraphrase) == ["glasgow-vru-md"]
    hybrid = searcher.search("VRU hospital bedside conversations", k=1)
    assert doc_ids(hybrid) == ["glasgow-vru-md"]
    assert hybrid.hits[0].dense_rank == 1 and hybrid.hits[0].lexical_rank == 1


def test_filters_combine_and_still_fill_k(searcher: Searcher) -> None:
    statements = searcher.search("street lighting", k=2, filters=Filters(doc_type=("statement",)))
    assert len(statements.hits) == 2
    assert {h.document.doc_type for h in statements.hits} == {"statement"}
    combined = Filters(doc_type=("statement", "report"), city=("Kingston", "Glasgow"), year_from=2020)
    assert doc_ids(searcher.search("police trust", k=5, filters=combined)) == ["kingston-policing-md"]
    assert searcher.search("lighting", k=5, filters=Filters(year_from=2030)).hits == []
    spanish = searcher.search("lighting", k=5, filters=Filters(language=("es",)))
    assert spanish.hits == [] and spanish.total == 0


def _retrieved(result, rank: str) -> list[int]:  # type: ignore[no-untyped-def]
    """Every passage of a result, folded duplicates too, in the order the retriever ranked them."""
    every = [h for hit in result.hits for h in (hit, *hit.duplicates)]
    return [h.passage_id for h in sorted(every, key=lambda h: getattr(h, rank))]


@pytest.mark.parametrize("mode", ["dense", "lexical"])
def test_a_filtered_ranking_is_the_full_ranking_without_other_documents(searcher: Searcher, mode: str) -> None:
    """Asking a filter again, or others in between, gives the same answer as the first time."""
    question = "street lighting and police trust in the barrios"
    rank = f"{mode}_rank"
    full = searcher.search(question, k=50, mode=mode)
    everything = {h.passage_id: h.document for hit in full.hits for h in (hit, *hit.duplicates)}
    cases = [Filters(doc_type=("statement",)), Filters(city=("Cali",)), Filters(year_from=2021, year_to=2023),
             Filters(doc_type=("statement",)), Filters(theme=("youth", "urban-design")), Filters(city=("Cali",)),
             Filters(language=("en",)), Filters(year_from=2019)]  # these two allow every document
    for filters in cases:
        filtered = searcher.search(question, k=50, mode=mode, filters=filters)
        expected = [pid for pid in _retrieved(full, rank) if filters.matches(everything[pid])]
        assert expected, f"{filters} matches some passage"
        assert _retrieved(filtered, rank) == expected, filters


@pytest.mark.parametrize("filters", [
    Filters(), Filters(doc_type=("statement", "report")), Filters(city=("Cali", "Kingston")),
    Filters(theme=("youth",), year_from=2021), Filters(language=("en", "es"), year_to=2021),
    Filters(doc_type=("report",), city=("Glasgow", "Nairobi"), year_from=2019, year_to=2019),
    Filters(city=("Atlantis",)), Filters(year_from=2022, year_to=2021)])
def test_a_filters_documents_are_exactly_those_it_matches(searcher: Searcher, filters: Filters) -> None:
    """The facet index a filter is answered from agrees with the filter's own rule, in the version's order."""
    documents = searcher.version.documents
    expected = tuple(d for d, doc in documents.items() if filters.matches(doc))
    index = DocumentIndex(documents)
    assert index.matching(filters) == expected
    index.SORT_SHARE = 2.0  # every result sorted by position instead of filtered in order: the same documents
    assert index.matching(filters) == expected


def test_every_passage_knows_its_document(searcher: Searcher) -> None:
    version = searcher.version
    owners = {row["id"]: doc_id for doc_id in version.documents for row in version.document_passages(doc_id)}
    unknown = max(owners) + 1
    assert version.doc_ids([*owners, unknown, next(iter(owners))]) == owners
    assert version.doc_ids([unknown]) == {} and version.doc_ids([]) == {}


def test_facets_count_documents_in_the_matching_set(searcher: Searcher) -> None:
    facets = searcher.search("street lighting", k=3, mode="lexical").facets
    assert facets["doc_type"] == {"report": 1, "blog": 1, "statement": 1}
    assert facets["city"] == {"Cali": 2, "Kingston": 1}
    assert facets["year"] == {"2022": 1, "2023": 1, "2020": 1}
    filtered = searcher.search("street lighting", k=3, mode="lexical", filters=Filters(city=("Cali",))).facets
    assert filtered["city"] == {"Cali": 2}


def test_near_identical_passages_appear_once_with_other_sources(searcher: Searcher) -> None:
    result = searcher.search("Barrios con Luz LED streetlights robbery", k=5)
    cali = [h for h in result.hits if "Cali" in h.document.cities]
    assert len(cali) == 1, "the shared paragraph is shown once"
    assert [d.document.id for d in cali[0].duplicates] in (["lighting-blog-md"], ["lighting-report-md"])


def test_a_copy_folds_under_the_shown_passage_it_shares_most_with() -> None:
    """A passage folds into a shown one when they share at least half of the shorter one's word 4-grams;
    if it could fold into several, it goes to the one it shares the most with (the first of equals)."""
    long_text = " ".join(f"long{i}" for i in range(40))
    short_text = " ".join(f"short{i}" for i in range(12))
    kept = [(None, shingles(passage_words(t))) for t in (short_text, long_text)]
    # all of the short passage and most of the long one: it passes both thresholds, shares more with the long
    both = " ".join(long_text.split()[:30] + short_text.split())
    assert _twin(shingles(passage_words(both)), kept) == 1  # type: ignore[arg-type]
    # a re-published copy of the long one with a few words changed, upper-cased
    edited = long_text.upper().replace("LONG7 ", "changed ").replace("LONG25 ", "other ")
    assert _twin(shingles(passage_words(edited)), kept) == 1  # type: ignore[arg-type]
    # a third of the long one and new words: a different passage, shown on its own
    other = " ".join(long_text.split()[:14] + [f"new{i}" for i in range(30)])
    assert _twin(shingles(passage_words(other)), kept) is None  # type: ignore[arg-type]
    assert _twin(shingles(passage_words(short_text)), [kept[1], kept[0]]) == 1  # type: ignore[arg-type]


def test_answer_offsets_mark_exactly_one_sentence(searcher: Searcher) -> None:
    result = searcher.search("By how much did trust in the police rise in Kingston?", k=3)
    for hit in result.hits:
        assert hit.answers, "every hit carries its best sentence"
        for span in hit.answers:
            assert hit.text[span.start:span.end] in split_sentences(hit.text)
    top = result.hits[0]
    assert top.text[top.answers[0].start:top.answers[0].end] == "Trust in the police rose from 31% to 48% in two years."
    assert result.answer is not None and result.answer.hit is top


def test_a_hit_without_question_words_shows_the_sentence_closest_in_meaning(searcher: Searcher) -> None:
    question = "hospital bedside conversations with stabbing victims"
    result = searcher.search(question, k=6, mode="dense")
    closest = [hit for hit in result.hits if hit.answers and hit.answers[0].score == 0.0]
    assert len(closest) >= 2, "several hits share no word with the question"
    asked = searcher.embedder.word_piece_vectors([question])[0]
    for hit in closest:  # each judged on its own, as if it were the only hit
        spans = sentence_spans(hit.text)
        best = spans[int(np.argmax(searcher.embedder.word_piece_vectors([hit.text[s:e] for s, e in spans]) @ asked))]
        assert [(a.start, a.end) for a in hit.answers] == [best]


def test_no_answer_when_evidence_is_weak(searcher: Searcher) -> None:
    result = searcher.search("cryptocurrency regulation in Singapore", k=3)
    assert result.answer is None


def test_related_material_comes_from_other_documents_and_prefers_other_cities(searcher: Searcher) -> None:
    related = searcher.related_to_document("lighting-report-md", k=3)
    ids = [h.document.id for h in related]
    assert "lighting-report-md" not in ids and len(ids) == len(set(ids)) == 3
    assert ids[0] == "kingston-policing-md", "street lighting in another city beats the same city's blog"
    passage = searcher.version.document_passages("juarez-youth-md")[0]["id"]
    assert all(h.document.id != "juarez-youth-md" for h in searcher.related_to_passage(passage, k=5))


SPANISH_WITH_ENGLISH_TERMS = "¿Cuántos teenagers recibieron mentors en el programa de la ciudad?"


def test_a_spanish_question_finds_english_technical_words_lexically(searcher: Searcher) -> None:
    """The index holds English documents only: the Spanish question is also read with the English
    stemmer, so "teenagers" and "mentors" meet the English passage (read as Spanish they do not)."""
    top = searcher.search(SPANISH_WITH_ENGLISH_TERMS, k=3, mode="lexical").hits
    assert [h.document.id for h in top][:1] == ["juarez-youth-md"]
    assert "teenagers" in top[0].text[top[0].answers[0].start:top[0].answers[0].end]
    spanish_only = searcher.version.lexical(SPANISH_WITH_ENGLISH_TERMS, 10, language="es")
    assert top[0].passage_id not in [pid for pid, _ in spanish_only]


def test_lexical_ranks_count_when_no_document_shares_the_question_language(searcher: Searcher) -> None:
    """With no Spanish document to favour, the lexical ranking of a Spanish question over English
    passages is fair evidence: fusion does not replace it (it does for an English question's
    passages in other languages, see test_passages_in_another_language_are_not_penalised...)."""
    ids = [pid for pid, _ in searcher.lexical(SPANISH_WITH_ENGLISH_TERMS, 10, language="es")]
    assert ids and searcher._in_other_languages(searcher.version.doc_ids(ids), "es") == set()
    assert searcher.readings("es") == ("en",) and searcher.readings("en") == ()


def test_a_passage_in_many_sources_lists_five_of_them_and_counts_all(searcher: Searcher) -> None:
    """A paragraph re-published in many files (boilerplate, a mirrored report) must not flood a hit:
    the API lists the first ALSO_IN_LISTED other sources in rank order and counts every one, and the
    page names as many and says how many more, in the interface's language."""
    from dataclasses import replace

    from pioc_search.schemas import ALSO_IN_LISTED, hit_out
    from pioc_search.web.routes import templates

    hits = searcher.search("street lighting", k=10).hits
    copies = [replace(h, duplicates=[]) for h in (hits[1:] * 8)[:8]]
    top = replace(hits[0], duplicates=copies)
    out = hit_out(top)
    assert [a.passage_id for a in out.also_in] == [h.passage_id for h in copies[:ALSO_IN_LISTED]]
    assert out.also_in_total == len(copies) == 8
    card = templates.env.from_string('{% from "_macros.html" import hit_card with context %}{{ hit_card(hit, 1) }}')
    html = card.render(hit=top, lang="es", context=220)
    also = html[html.index('class="also"'):]
    also = also[: also.index("</p>")]
    assert also.count("<a ") == ALSO_IN_LISTED
    assert "y 3 fuentes más" in also


@pytest.mark.parametrize(("text", "cities"), [
    ("¿Cómo bajó la violencia en Ciudad del Cabo y Londres?", ["Cape Town", "London"]),
    ("Les jeunes de Marseille et de Montreal", ["Marseille", "Montréal"]),
    ("ما الذي تغير بالدار البيضاء ولنيروبي؟", ["Nairobi", "Casablanca"]),  # "in" and "for" written onto the names
    ("¿Qué línea telefónica abrió Amán? Y en Amã?", ["Amman"]),
    ("Calidad de vida en Colombia", []),  # a name inside a word is not a name
])
def test_cities_are_found_by_their_names_in_every_network_language(text: str, cities: list[str]) -> None:
    assert find_cities(text) == cities


def test_a_city_ranking_lifts_its_passages_without_outranking_agreement() -> None:
    """Passage 5 is about the named city: third in both rankings, first among the city's passages."""
    plain = [pid for pid, _ in fuse(_ranking(1, 2, 5), _ranking(2, 1, 5))]
    lifted = [pid for pid, _ in fuse(_ranking(1, 2, 5), _ranking(2, 1, 5), named_city=_ranking(5))]
    assert plain[-1] == 5 and lifted[0] == 5
    far = [pid for pid, _ in fuse(_ranking(1, *range(10, 40), 5), _ranking(1, *range(40, 70), 5), named_city=_ranking(5))]
    assert far[0] == 1, "first in both rankings still beats a passage ranked last that names the city"


def test_a_question_naming_a_city_puts_that_citys_document_first(searcher: Searcher) -> None:
    """Street lighting and robbery are the Cali report's subject; the Kingston statement mentions
    street-lighting repairs only in passing. Asked about Kingston, the user wants Kingston's first."""
    question = "Did street lighting reduce robbery in {}?"
    assert doc_ids(searcher.search(question.format("the city"), k=3))[0] == "lighting-report-md"
    assert doc_ids(searcher.search(question.format("Kingston"), k=3))[0] == "kingston-policing-md"
    named = searcher.search(question.format("Kingston"), k=3, mode="dense")  # the pure modes stay pure
    assert named.hits[0].score == pytest.approx(float(named.hits[0].dense_score))
    chosen = searcher.search(question.format("Kingston"), k=3, filters=Filters(city=("Cali",)))
    assert set(doc_ids(chosen)) <= {"lighting-report-md", "lighting-blog-md"}, "a city filter the user chose wins"
