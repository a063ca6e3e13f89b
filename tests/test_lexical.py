"""Language-aware lexical search: inflections, ligatures, accents and harakat match; titles count;
answers highlight inflected words; language detection says `und` rather than guess."""

from __future__ import annotations

import pytest

from pioc_search.stores.local import store
from pioc_search.analysis import analyse, question_terms
from pioc_search.embedders import Embedder
from pioc_search.ingest.metadata import detect_language
from pioc_search.ingest.pipeline import build_index
from pioc_search.search import Searcher
from pioc_search.stores.local import LocalStore

DOCS = {  # name: (language, title, text)
    "robbery-en.md": ("en", "Night-time safety on buses",
                      "One robbery was reported on the night buses after the marshals started work."),
    "robo-es.md": ("es", "Seguridad en el transporte",
                   "El informe registra un solo robo en los autobuses nocturnos durante el año."),
    "iluminacao-pt.md": ("pt", "Praças de Recife",
                         "A iluminação das praças foi renovada e os moradores voltaram à noite."),
    "violences-fr.md": ("fr", "Prévention à Dakar",
                        "Les médiateurs ont réduit la violence entre les jeunes du quartier."),
    "arabic-ar.md": ("ar", "تقرير المدينة",
                     "ساعدت المدرسة الشباب على إيجاد عمل في المدينة بعد انتهاء الدراسة."),
    "ligature-en.md": ("en", "Energy report",
                       "The new street lamps are efﬁcient and the ofﬁce pays less for power."),
    "title-only-en.md": ("en", "Kaleidoscope mentoring evaluation",
                         "Mentors met each young person weekly for a full school year."),
    "placeholder.md": ("", "Template", "Lorem ipsum dolor sit amet robo, consectetur adipiscing elit, sed do eiusmod."),
}


@pytest.fixture(scope="module")
def searcher(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Searcher:
    corpus = tmp_path_factory.mktemp("lexical-corpus")
    for name, (language, title, text) in DOCS.items():
        front = f"---\ntitle: {title}\ndoc_type: report\nlanguage: {language}\ndate: 2023-01-01\n---\n"
        (corpus / name).write_text(f"{front}\n{text}\n", encoding="utf-8")
    root = tmp_path_factory.mktemp("lexical-index")
    build_index(corpus, LocalStore(root), embedder)
    return Searcher(store.LocalVersion(store.current_version(root)), embedder)


def lexical_docs(searcher: Searcher, question: str) -> list[str]:
    return [h.document.id for h in searcher.search(question, k=5, mode="lexical").hits]


@pytest.mark.parametrize(("question", "doc"), [
    ("robberies", "robbery-en-md"),
    ("robos", "robo-es-md"),
    ("iluminação", "iluminacao-pt-md"),
    ("iluminacao", "iluminacao-pt-md"),
    ("violences", "violences-fr-md"),
    ("médiateur", "violences-fr-md"),
    ("efficient office", "ligature-en-md"),
    ("الْمَدْرَسَةُ", "arabic-ar-md"),
    ("المدرسه", "arabic-ar-md"),
    ("kaleidoscope", "title-only-en-md"),
])
def test_lexical_search_matches_inflected_folded_and_title_words(searcher: Searcher, question: str, doc: str) -> None:
    assert lexical_docs(searcher, question)[:1] == [doc]


def test_answer_highlights_the_inflected_word(searcher: Searcher) -> None:
    for question, expected in (("robberies on buses", "One robbery was reported"),
                               ("robos nocturnos", "El informe registra un solo robo"),
                               ("iluminacao das pracas", "A iluminação das praças")):
        top = searcher.search(question, k=1, mode="lexical").hits[0]
        assert top.answers, question
        assert top.text[top.answers[0].start:top.answers[0].end].startswith(expected)


def test_language_facet_counts_real_languages(searcher: Searcher) -> None:
    result = searcher.search("robbery robo", k=5, mode="lexical")
    assert "placeholder-md" in [h.document.id for h in result.hits]  # its language is undetermined ...
    assert result.facets["language"] == {"en": 1, "es": 1}  # ... so it is not counted as one


def test_analysis_is_stable_across_spelling_variants() -> None:
    assert analyse("efﬁcient", "en") == analyse("efficient", "en") == ["effici"]
    assert analyse("ROBBERIES", "en") == analyse("robbery", "en")
    assert set(analyse("iluminacao", "pt")) <= set(analyse("iluminação", "pt"))
    assert analyse("أَحْمَدُ", "ar") == analyse("احمد", "ar")
    assert analyse("the and of", "en") == [] and analyse("de la y", "es") == []
    assert analyse("Straße Bogotá", "und") == ["strasse", "bogota"]  # unknown language: folded only


PARAGRAPHS = {
    "en": "Street lighting in Cali was improved in 2022, and residents reported fewer robberies in the months "
          "that followed, according to the city's observatory.",
    "es": "La iluminación de las calles de Cali mejoró en 2022 y los vecinos denunciaron menos robos en los "
          "meses siguientes, según el observatorio de la ciudad.",
    "pt": "A iluminação das ruas do Recife melhorou em 2022 e os moradores relataram menos roubos nos meses "
          "seguintes, segundo o observatório da cidade.",
    "fr": "L'éclairage des rues de Dakar a été amélioré en 2022 et les habitants ont signalé moins de vols "
          "dans les mois suivants, selon l'observatoire de la ville.",
    "ar": "تحسنت إنارة الشوارع في المدينة عام 2022 وأبلغ السكان عن عدد أقل من السرقات في الأشهر التالية "
          "بحسب مرصد المدينة.",
}


@pytest.mark.parametrize("language", sorted(PARAGRAPHS))
def test_detection_names_the_language_of_a_real_paragraph(language: str) -> None:
    assert detect_language(PARAGRAPHS[language]) == language


@pytest.mark.parametrize("text", [
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore.",
    "street lighting", "violencia juvenil", "Cali", "", "2022 — 31% 48%",
])
def test_detection_says_und_instead_of_guessing(text: str) -> None:
    assert detect_language(text) == "und"


def test_a_version_with_another_schema_is_rebuilt_not_reused(tmp_path, embedder: Embedder) -> None:  # type: ignore[no-untyped-def]
    corpus, root = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    (corpus / "a.md").write_text("# Robberies\n\nOne robbery was reported on the night buses.\n", encoding="utf-8")
    build_index(corpus, LocalStore(root), embedder)
    again = build_index(corpus, LocalStore(root), embedder)
    assert again.unchanged == ["a.md"]
    conn = store.connect(store.current_version(root) / store.DB_NAME)
    conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")  # as if built by an older release
    conn.commit()
    conn.close()
    rebuilt = build_index(corpus, LocalStore(root), embedder)
    assert rebuilt.added == ["a.md"] and rebuilt.unchanged == []
    version = store.LocalVersion(store.current_version(root))
    assert version.meta["schema"] == store.SCHEMA_VERSION
    assert [h.document.id for h in Searcher(version, embedder).search("robberies", k=1, mode="lexical").hits] == ["a-md"]


def test_a_question_is_also_read_in_the_other_languages_of_the_index(searcher: Searcher) -> None:
    """A Spanish question naming the English "marshals" finds the English passage; the question's
    own language still decides which words are stop words."""
    question = "¿Cuándo empezaron a trabajar los marshals en los autobuses nocturnos?"
    assert detect_language(question) == "es"
    assert "robbery-en-md" in lexical_docs(searcher, question)
    own_only = [searcher.version.doc_ids([pid])[pid] for pid, _ in searcher.version.lexical(question, 10, language="es")]
    assert "robbery-en-md" not in own_only
    assert "los" not in question_terms(question, "es", ("en", "pt", "fr", "ar"))
    assert question_terms("marshals", "es", ("en",)) == ["marshals", "marshal"]


def test_passages_in_another_language_keep_the_dense_stand_in_when_the_question_language_is_indexed(
        searcher: Searcher) -> None:
    ids = [pid for pid, _ in searcher.lexical("robos nocturnos en los autobuses", 10, language="es")]
    owners = searcher.version.doc_ids(ids)
    beyond = searcher._in_other_languages(owners, "es")
    assert beyond and all(searcher.version.documents[owners[p]].language != "es" for p in beyond)
