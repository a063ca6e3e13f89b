"""The text-quality gate: real text in every script passes, extraction junk does not."""

from __future__ import annotations

import pytest

from pioc_search.ingest.extract.quality import text_problem

REAL = [
    "Las ciudades redujeron la violencia urbana a la mitad gracias a la prevención comunitaria.",
    "A violência urbana caiu onde as prefeituras coordenaram saúde, educação e polícia.",
    "Les municipalités ont réduit les homicides grâce à l'éclairage public et à la médiation.",
    "انخفض العنف في المدن التي تعاونت فيها الشرطة والخدمات الصحية مع المجتمع المحلي",
    "关于红军作战的原则",
    "日本語テスト",
    "Снижение уровня насилия в городах требует совместной работы служб.",
    "Introduction",  # a short real page
    "Table 3: 12.5 13.2 14.1 15.0 homicide rates per 100 000",
    "the particle is 100 μm wide and α-methylphenethylamine is listed",
    "Informe nº 3 © 2024: el 2º año, 15% menos (£1,2 m) según «El Tiempo», §4.",
]
JUNK = {
    "/g131/g149/g150/g3/g87/g75/g72/g3/g86/g87/g88/g71/g92": "glyph names",
    "glyph123 glyph124 glyph125 glyph126": "glyph names",
    "(cid:12)(cid:45)(cid:3)(cid:77) (cid:18)(cid:9)": "glyph names",
    "\ufffd\ufffd\ufffd \ufffd\ufffd text \ufffd\ufffd": "control or private-use characters",
    "\ue000\ue001\ue002 \ue003\ue004\ue005": "control or private-use characters",
    "Ԕ ϸЇ ΰ Î ߙ Ψ́ ϣ ķ g ϙ ʆ Ϣ ϸЇ Ԕΰ": "too few word-like tokens",
    "$%&/ #@!* ^&*% ()=?": "too few word-like tokens",
    "¹ØÓÚºì¾ü×÷Õ½µÄÔ-Ôò ¡-¡-¡-¡-¡- Ä¿¡¡¡¡Â¼ Ã©tÃ© prÃ©vention": "too few word-like tokens",  # mojibake
    "   ": "no text",
}


@pytest.mark.parametrize("text", REAL)
def test_real_text_passes(text):
    assert text_problem(text) is None


@pytest.mark.parametrize("text,reason", JUNK.items())
def test_junk_is_caught_with_a_reason(text, reason):
    assert text_problem(text) == reason
