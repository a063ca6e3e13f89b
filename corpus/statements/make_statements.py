#!/usr/bin/env python3
"""Generate the sample joint statements (DOCX) of the pioc-search corpus.

All text below is ORIGINAL ILLUSTRATIVE SAMPLE MATERIAL written for the
pioc-search project.  The network "Partners in Our Cities (PiOC)", the
statements, commitments, figures, people and quotes are invented; real city
names are used only to make the examples feel plausible.

Usage:

    python corpus/statements/make_statements.py

Each document uses the built-in Title, Heading 1, Heading 2, List Bullet and
Normal styles and sets core properties (title, author, subject, keywords,
created/modified date).  The .docx zip entries are rewritten with a fixed
timestamp so that re-running the script gives byte-identical files.
"""
from __future__ import annotations

import datetime as dt
import io
import os
import zipfile

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement

HERE = os.path.dirname(os.path.abspath(__file__))
AUTHOR = "Partners in Our Cities (PiOC) Secretariat"

STATEMENTS = [
    # ------------------------------------------------------------------ S1
    {
        "filename": "mayors-declaration-2030-2021.docx",
        "title": "The Medellín Declaration: Mayors Committed to Halving Urban Violence by 2030",
        "subject": "Joint declaration of mayors on halving urban violence by 2030",
        "keywords": "declaration, 2030, halving violence, Medellín, Glasgow, Kingston",
        "created": dt.datetime(2021, 9, 21, 12, 0, 0),
        "dateline": "Medellín, 21 September 2021 - International Day of Peace",
        "blocks": [
            ("h1", "Preamble"),
            ("p", "We, the mayors and city leaders gathered at the Partners in Our Cities (PiOC) Mayors' Forum in "
                  "Medellín on the International Day of Peace, declare that violence in our cities is preventable, "
                  "not inevitable. Every year, hundreds of thousands of people are killed in cities around the world, "
                  "most of them young men, and millions more are injured, threatened or forced to change how they "
                  "live. Violence falls hardest on the poorest neighbourhoods, on young people, and on women and girls "
                  "in their homes and on their streets."),
            ("p", "We know it can be reduced, because our own cities have done it. Medellín, once among the most "
                  "violent cities in the world, has transformed its hillside neighbourhoods through public transport, "
                  "libraries and parks built with their residents. Glasgow treated violence as a public health problem "
                  "and brought police, health services, schools and communities together around a shared goal. "
                  "Kingston has shown that people from the most affected communities, trained and supported as peace "
                  "ambassadors, can stop disputes from turning into killings."),
            ("p", "We therefore commit our cities to the goal of halving violent deaths by 2030, measured against a "
                  "2015 baseline, and to reducing the non-fatal violence that does not appear in homicide statistics "
                  "but shapes daily life. We adopt the following six commitments."),
            ("h1", "Our commitments"),
            ("h2", "1. A public violence reduction strategy within twelve months"),
            ("p", "Each signatory city will publish, within twelve months of signing, a violence reduction strategy "
                  "with clear targets, a named lead in the mayor's office, and a budget. The strategy will be developed "
                  "with residents of the most affected neighbourhoods, including young people and women, and will be "
                  "reviewed at least every three years."),
            ("h2", "2. Measure and report every year"),
            ("p", "We will report publicly every September, in the week of the International Day of Peace, on "
                  "progress towards our targets. Reports will include homicides and, as data allow, non-fatal injuries "
                  "from violence, violence against women and violence against children. We will use the 2015 baseline "
                  "unless a city's data for that year are not reliable, in which case the earliest reliable year "
                  "will be used and stated."),
            ("h2", "3. Invest in prevention and in those closest to the problem"),
            ("p", "We will shift resources towards prevention. Each signatory city will dedicate at least 10% of its "
                  "violence prevention spending to youth-led and community-led organisations, through grants that are "
                  "simple to apply for, last at least three years and cover the real costs of the work."),
            ("h2", "4. Focus on the people and places at highest risk"),
            ("p", "Violence is concentrated among a small number of people and places. We will establish or expand "
                  "violence interruption, street outreach and hospital-based intervention in the places with the "
                  "highest risk by the end of 2023, and will make sure that these programmes are protected from "
                  "short-term funding cuts."),
            ("h2", "5. Build the evidence: a municipal violence observatory"),
            ("p", "Each signatory city will establish or strengthen a municipal violence observatory by the end of 2023, "
                  "bringing together police, health and forensic data and sharing its findings with residents. "
                  "Cities with established observatories will support those starting out through the network's "
                  "community of practice."),
            ("h2", "6. Young people and women at the table"),
            ("p", "Those most affected by violence must help decide how to prevent it. Each signatory city will reserve "
                  "at least two seats for young people aged 18 to 29 on its city safety council or equivalent body, "
                  "and will work towards equal representation of women on that body."),
            ("h1", "Voices from the Forum"),
            ("p", "\"Twenty years ago people said Medellín could not change. The proof that it could is in the "
                  "stairways, the libraries and the cable cars - and, above all, in the people who refused to give up "
                  "on their neighbourhoods,\" said Ana Lucía Restrepo, Medellín's Deputy Mayor for Security and "
                  "Coexistence, who hosted the Forum."),
            ("p", "\"In Glasgow we learned to treat violence like a disease that spreads, and that can be stopped from "
                  "spreading. Halving violence is not a slogan; it is a public health target, and we will be measured "
                  "against it,\" said Councillor Fiona MacLeod, Glasgow's convener for community safety."),
            ("p", "\"Our peace ambassadors walk into situations that police cannot reach. Signing this declaration "
                  "means we promise to back them for the long haul, not just for a project cycle,\" said Desmond "
                  "Campbell, chair of Kingston's parish safety council."),
            ("h1", "Signatories and next steps"),
            ("p", "The Medellín Declaration was signed on 21 September 2021 by 38 cities, with the PiOC Secretariat "
                  "acting as depositary. Further cities may sign at any time by letter from their mayor. The "
                  "Secretariat will publish the first joint progress report in September 2022 and will convene "
                  "signatories every two years to review progress and, where needed, raise ambition."),
            ("p", "This declaration is illustrative sample material written for the pioc-search project; the people, "
                  "quotes and commitments are invented."),
        ],
    },
    # ------------------------------------------------------------------ S2
    {
        "filename": "gbv-joint-statement-2022.docx",
        "title": "Joint Statement on Ending Gender-Based Violence in Public and Private Spaces",
        "subject": "Joint statement and five commitments on gender-based violence",
        "keywords": "gender-based violence, femicide, women's safety, Mexico City, Bogotá, Cape Town",
        "created": dt.datetime(2022, 11, 25, 9, 0, 0),
        "dateline": "25 November 2022 - International Day for the Elimination of Violence against Women",
        "blocks": [
            ("h1", "Why we act now"),
            ("p", "Violence against women and girls is the most widespread and the least visible form of violence in our "
                  "cities. It happens in homes, on buses, in workplaces, in schools, in parks and online. Much of it "
                  "is never reported, and much of what is reported is never counted in the statistics that shape "
                  "city budgets. On the International Day for the Elimination of Violence against Women, the cities "
                  "and partner organisations signing this statement commit to change that."),
            ("p", "The COVID-19 pandemic made the problem harder to ignore. When homes became the only place to be, "
                  "helplines in many of our cities recorded sharp increases in calls while police complaints fell. "
                  "In Cape Town, calls to the city's gender-based violence helpline rose by 29% between 2019 and 2021. "
                  "In Mexico City and Bogotá, women's organisations report that harassment on public transport has "
                  "returned to, or exceeded, pre-pandemic levels as passenger numbers have recovered."),
            ("p", "Cities cannot end gender-based violence alone; laws, courts and national services matter. But cities "
                  "run the transport, light the streets, design the parks, fund the shelters and employ the staff who "
                  "are often the first to meet a survivor. We therefore make five commitments."),
            ("h1", "Five commitments"),
            ("h2", "1. Services that put survivors first"),
            ("p", "Every survivor who contacts a municipal service - a helpline, a health centre, a community centre or "
                  "the municipal police - will be offered contact with a specialist support worker within 24 hours. "
                  "By 2025 every district of each signatory city will have a Safe Haven Centre where survivors can "
                  "receive legal advice, counselling, medical referral and emergency accommodation in one place, "
                  "without having to tell their story more than once."),
            ("h2", "2. Safe mobility for women and girls"),
            ("p", "We will make the journey safer, not only the destination. By 2024 signatory cities will offer "
                  "stop-on-request for women and girls on night buses after 10 pm wherever the service is under "
                  "municipal control, and will audit the lighting, visibility and help points at every major transport "
                  "interchange with women who use them."),
            ("h2", "3. Dedicated and protected funding"),
            ("p", "Prevention of gender-based violence will no longer depend on what is left over. Each signatory city "
                  "will ring-fence at least 1% of its municipal security budget for the prevention of gender-based "
                  "violence, including work with men and boys, school programmes on respectful relationships, and "
                  "grants to women's organisations."),
            ("h2", "4. Data that counts what matters"),
            ("p", "We will record femicide as a distinct category in municipal violence data, separately from other "
                  "homicides, and will disaggregate data on violence by sex, age and the relationship between victim "
                  "and aggressor. Observatories will publish data on gender-based violence only at district level or "
                  "above, so that no survivor can be identified."),
            ("h2", "5. Women leading safety"),
            ("p", "Women must shape the decisions that affect their safety. Signatory cities will aim for gender parity "
                  "among the members of their city security councils by 2025, and will involve women's organisations "
                  "in the design, monitoring and evaluation of every safety programme. Bogotá's network of 20 local "
                  "Women's Safety Pacts, agreed between women's groups, traders, transport operators and the police "
                  "in each locality, shows what this can look like in practice."),
            ("h1", "What we ask of national governments and partners"),
            ("bullets", [
                "Fund specialist services for survivors on a multi-year basis and allow cities to use national funds flexibly.",
                "Make sure that laws on femicide and domestic violence are enforced, and that courts hear cases without long delays.",
                "Support cities to collect and share comparable data through the network's observatories.",
                "Include violence against women and girls in national plans for public transport and urban development.",
            ]),
            ("h1", "Signatories"),
            ("p", "This statement was signed by 24 cities and 11 partner organisations of the PiOC network, including "
                  "the city governments of Mexico City, Bogotá and Cape Town. Signatories will report on the five "
                  "commitments each year on 25 November."),
            ("p", "This statement is illustrative sample material written for the pioc-search project; figures and "
                  "commitments are invented."),
        ],
    },
    # ------------------------------------------------------------------ S3
    {
        "filename": "covid-recovery-statement-2020.docx",
        "title": "Statement on Safety and Violence Prevention in the COVID-19 Response and Recovery",
        "subject": "Joint statement of member cities on violence prevention during COVID-19",
        "keywords": "COVID-19, lockdown, essential services, shelters, youth, São Paulo, Toronto",
        "created": dt.datetime(2020, 6, 30, 15, 0, 0),
        "dateline": "30 June 2020",
        "blocks": [
            ("h1", "What we are seeing"),
            ("p", "Three months into the COVID-19 pandemic, the cities of the PiOC network are seeing its effects on "
                  "violence unfold in different ways. In some places violence in public space fell in the first weeks "
                  "of lockdown; in others it never did. Almost everywhere, the signs of violence at home are rising: "
                  "more calls to helplines, more women seeking shelter, fewer formal complaints because women cannot "
                  "leave the house to make them. Young people have lost school, jobs and the trusted adults who "
                  "helped keep them safe."),
            ("p", "Cities have responded quickly. São Paulo extended its Rede Acolhe shelter network by 120 emergency "
                  "beds in rented hotel rooms within three weeks, so that women and children leaving violent homes "
                  "would not have to choose between danger and infection. Toronto moved its youth outreach online: "
                  "the TOgether Online programme reached 3,400 young people through video calls, gaming tournaments and "
                  "one-to-one check-ins in April and May 2020, and street workers kept meeting the young people they "
                  "could not reach online, outdoors and at a distance."),
            ("p", "These responses show what is possible. But they were often improvised, underfunded and at risk of "
                  "being cut as attention turns to economic recovery. The signatory cities therefore make the "
                  "following calls to ourselves, to national governments and to our partners."),
            ("h1", "Our calls"),
            ("h2", "1. Treat violence prevention as an essential service"),
            ("p", "Violence interrupters, street outreach workers, shelter staff and helpline operators must be "
                  "designated as essential workers in any lockdown, with protective equipment, permission to move and "
                  "priority for testing. Closing these services to reduce infection only moves the danger elsewhere."),
            ("h2", "2. Keep every route to help open"),
            ("p", "Helplines must stay open 24 hours a day, with text and chat options for people who cannot speak "
                  "safely at home. We will work with pharmacies, supermarkets and other places that stay open during "
                  "lockdowns so that their staff can recognise a request for help and know whom to call."),
            ("h2", "3. Put young people at the centre of recovery"),
            ("p", "Recovery plans must include paid work, training and safe places for young people, especially in the "
                  "neighbourhoods with the highest violence. We call on national governments to reserve part of every "
                  "economic stimulus package for youth employment and to let cities run summer programmes outdoors "
                  "where indoor activities are not allowed."),
            ("h2", "4. Use real-time data"),
            ("p", "Annual statistics are too slow for a crisis. Signatory cities will publish a weekly violence "
                  "dashboard during the pandemic, combining police, health and helpline data, so that changes can be "
                  "spotted and acted on within days rather than months."),
            ("h2", "5. Enforce public health rules without eroding trust"),
            ("p", "The enforcement of curfews and stay-at-home orders must not become a new source of violence or "
                  "harassment. We will favour warnings and fines over detention, record every use of force in "
                  "enforcing public health rules, and publish those records."),
            ("h1", "Next steps"),
            ("p", "The statement was agreed by 19 member cities at an online meeting of the network on 30 June 2020. "
                  "The PiOC Secretariat will convene a monthly call of city officials responsible for safety for as "
                  "long as the pandemic lasts, and the signatories will review this statement together in December 2020."),
            ("p", "This statement is illustrative sample material written for the pioc-search project; programmes, "
                  "figures and commitments are invented."),
        ],
    },
    # ------------------------------------------------------------------ S4 (French)
    {
        "filename": "declaration-marseille-armes-jeunes-2024.docx",
        "language": "fr",
        "title": "Déclaration de Marseille : protéger les jeunes de la violence armée",
        "subject": "Déclaration commune des villes du réseau sur les armes à feu, le trafic de stupéfiants et les jeunes",
        "keywords": "déclaration, armes à feu, jeunes, trafic, Marseille, Montréal",
        "created": dt.datetime(2024, 5, 15, 12, 0, 0),
        "dateline": "Marseille, 15 mai 2024",
        "subtitle": "Déclaration commune du réseau Partners in Our Cities (PiOC)",
        "blocks": [
            ("h1", "Préambule"),
            ("p", "Nous, maires et élus des villes réunies à Marseille par le réseau Partners in Our Cities (PiOC), "
                  "constatons que les victimes et les auteurs de la violence armée sont de plus en plus jeunes. Dans "
                  "plusieurs de nos villes, des adolescents de 14 ou 15 ans sont recrutés par les réseaux de trafic de "
                  "stupéfiants, armés et exposés à des règlements de comptes. Ces enfants sont d'abord des victimes de "
                  "l'exploitation ; ils doivent être protégés, et non seulement punis."),
            ("p", "Nous savons que cette violence peut reculer. Marseille, Montréal et d'autres villes du réseau ont "
                  "montré que des adultes de confiance présents dans la rue, des écoles qui restent ouvertes et une "
                  "réponse rapide après chaque fusillade sauvent des vies. Nous adoptons donc les engagements suivants."),
            ("h1", "Nos engagements"),
            ("h2", "1. Un éducateur de rue pour 40 jeunes exposés"),
            ("p", "Chaque ville signataire financera, d'ici 2027, au moins un éducateur ou travailleur de rue pour 40 "
                  "jeunes identifiés comme exposés au recrutement par les réseaux criminels, avec une supervision "
                  "régulière et un soutien psychologique après chaque homicide."),
            ("h2", "2. Une réponse dans les 48 heures après chaque fusillade"),
            ("p", "Après chaque fusillade, une équipe de médiation rencontrera dans les 48 heures les proches des "
                  "victimes et les jeunes du quartier pour prévenir les représailles, en lien avec les services de santé "
                  "et de protection de l'enfance."),
            ("h2", "3. Traiter les jeunes guetteurs comme des enfants exploités"),
            ("p", "Nous demandons aux États de reconnaître les mineurs recrutés comme guetteurs ou revendeurs par les "
                  "réseaux de trafic comme des "
                  "victimes d'exploitation, et de leur garantir un accompagnement éducatif, y compris la possibilité "
                  "d'un relogement de la famille hors du quartier lorsque le jeune est menacé."),
            ("h2", "4. Moins d'armes en circulation"),
            ("p", "Nous organiserons chaque année une campagne de remise volontaire et anonyme des armes à feu, et nous "
                  "publierons le nombre d'armes récupérées. Nous demandons un traçage systématique des armes saisies "
                  "pour identifier les filières d'approvisionnement."),
            ("h2", "5. Des données partagées et publiques"),
            ("p", "Chaque ville publiera chaque année le nombre de victimes de la violence armée par tranche d'âge, "
                  "dont les moins de 18 ans, selon la définition commune du réseau, et partagera ses évaluations avec "
                  "les autres signataires."),
            ("h1", "Suivi"),
            ("p", "Les 23 villes signataires présenteront un bilan de ces engagements lors du forum annuel du réseau, "
                  "chaque mois de mai. Le secrétariat de PiOC publiera un tableau de suivi commun."),
        ],
    },
    # ------------------------------------------------------------------ S5 (Arabic, right to left)
    {
        "filename": "bayan-amman-casablanca-salamat-al-nisa-2023.docx",
        "language": "ar",
        "rtl": True,
        "title": "بيان عمّان والدار البيضاء المشترك حول سلامة النساء والفتيات في الأماكن العامة",
        "subject": "بيان مشترك حول التحرش والعنف ضد النساء في الشوارع ووسائل النقل",
        "keywords": "سلامة النساء، التحرش، النقل العام، الإنارة، عمّان، الدار البيضاء",
        "created": dt.datetime(2023, 11, 25, 12, 0, 0),
        "dateline": "عمّان، 25 نوفمبر 2023 — اليوم الدولي للقضاء على العنف ضد المرأة",
        "subtitle": "بيان مشترك لشبكة المدن Partners in Our Cities (PiOC)",
        "blocks": [
            ("h1", "تمهيد"),
            ("p", "نحن، رؤساء بلديات ومسؤولي مدن شبكة PiOC المجتمعين في عمّان، نؤكد أن حق النساء والفتيات في التنقل "
                  "بأمان في الشوارع والحدائق ووسائل النقل العام هو جزء لا يتجزأ من الحق في المدينة. أظهر مسح أجرته "
                  "أمانة عمّان سنة 2022 أن 71% من النساء تعرضن لشكل من أشكال التحرش في وسائل النقل العام، وأن كثيرات "
                  "منهن يغيّرن طريقهن أو يتركن الدراسة أو العمل بسبب الخوف."),
            ("p", "ونعلم أن التغيير ممكن. فقد أثبتت تجارب مدن الشبكة أن الإنارة الجيدة، ووجود عاملات مدرَّبات في "
                  "المحطات، وخطوط الإبلاغ السريعة، تجعل المدينة أكثر أماناً للجميع. لذلك نلتزم بما يلي."),
            ("h1", "التزاماتنا"),
            ("h2", "أولاً: خط مساعدة يعمل على مدار الساعة"),
            ("p", "ستطلق كل مدينة موقِّعة خطاً هاتفياً مجانياً يعمل 24 ساعة في اليوم لتلقي بلاغات التحرش والعنف في "
                  "الأماكن العامة، مع ربطه بخدمات الدعم النفسي والقانوني. في عمّان يحمل هذا الخط اسم «أمان» ويعمل "
                  "بالرقم المختصر 1800."),
            ("h2", "ثانياً: محطات وحافلات آمنة"),
            ("p", "سندرّب ما لا يقل عن 500 من سائقي الحافلات وعاملات المحطات في كل مدينة على التدخل الآمن عند "
                  "التحرش، وسنعتمد نظام التوقف عند الطلب بعد التاسعة مساءً حتى تنزل النساء أقرب ما يمكن من بيوتهن."),
            ("h2", "ثالثاً: إنارة وتصميم يراعيان النساء"),
            ("p", "سنجري مع النساء جولات مشي ليلية لتحديد النقاط المظلمة والخطرة، وسنصلح الإنارة فيها خلال 30 يوماً. "
                  "في الدار البيضاء أدت هذه الجولات إلى تركيب 1200 عمود إنارة جديد حول محطات الترامواي."),
            ("h2", "رابعاً: تمويل ثابت"),
            ("p", "سنخصص 2% على الأقل من ميزانية السلامة الحضرية في كل مدينة لبرامج الوقاية من العنف ضد النساء "
                  "والفتيات، وسننشر هذا المبلغ كل سنة."),
            ("h2", "خامساً: بيانات مفصلة حسب الجنس"),
            ("p", "سنجمع بيانات البلاغات والإصابات مفصلة حسب الجنس والعمر والمكان، ونشاركها مع مراصد العنف في "
                  "الشبكة، مع حماية خصوصية الضحايا."),
            ("h1", "المتابعة"),
            ("p", "وقّعت على هذا البيان 14 مدينة. ستقدم كل مدينة تقريراً عن التقدم في تنفيذ هذه الالتزامات في 25 "
                  "نوفمبر من كل سنة، وستنشر أمانة الشبكة ملخصاً مشتركاً."),
        ],
    },
]

FIXED_ZIP_TIME = (2020, 1, 1, 0, 0, 0)


def _normalise_zip(path: str) -> None:
    """Rewrite the .docx zip with fixed timestamps so output is reproducible."""
    with zipfile.ZipFile(path) as zin:
        entries = [(info.filename, zin.read(info.filename)) for info in zin.infolist()]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zout:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zout.writestr(info, data)
    with open(path, "wb") as fh:
        fh.write(buf.getvalue())


def _right_to_left(doc) -> None:
    """Mark every paragraph and run right-to-left (w:bidi, w:rtl), as Word does for Arabic text."""
    for paragraph in doc.paragraphs:
        paragraph._p.get_or_add_pPr().append(OxmlElement("w:bidi"))
        paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        for run in paragraph.runs:
            run._r.get_or_add_rPr().append(OxmlElement("w:rtl"))


def build_statement(st: dict, out_dir: str = HERE) -> str:
    doc = Document()
    cp = doc.core_properties
    cp.title = st["title"]
    cp.author = AUTHOR
    cp.subject = st["subject"]
    cp.keywords = st["keywords"]
    cp.category = "statement"
    cp.language = st.get("language", "en")
    cp.created = st["created"]
    cp.modified = st["created"]
    cp.last_modified_by = AUTHOR
    cp.revision = 1
    cp.comments = "Illustrative sample material written for the pioc-search project."

    doc.add_heading(st["title"], level=0)
    p = doc.add_paragraph(st["dateline"])
    p.runs[0].italic = True
    doc.add_paragraph(st.get("subtitle", "Joint statement of the Partners in Our Cities (PiOC) network"))

    for kind, content in st["blocks"]:
        if kind == "h1":
            doc.add_heading(content, level=1)
        elif kind == "h2":
            doc.add_heading(content, level=2)
        elif kind == "p":
            doc.add_paragraph(content)
        elif kind == "bullets":
            for item in content:
                doc.add_paragraph(item, style="List Bullet")
        else:  # pragma: no cover - data error
            raise ValueError(f"unknown block kind {kind!r}")

    if st.get("rtl"):
        _right_to_left(doc)
    path = os.path.join(out_dir, st["filename"])
    doc.save(path)
    _normalise_zip(path)
    return path


def main() -> None:
    for st in STATEMENTS:
        path = build_statement(st)
        print("wrote", os.path.relpath(path))


if __name__ == "__main__":
    main()
