#!/usr/bin/env python3
"""Generate the sample PDF reports of the pioc-search corpus.

All text below is ORIGINAL ILLUSTRATIVE SAMPLE MATERIAL written for the
pioc-search project.  The network "Partners in Our Cities (PiOC)", its
programmes, figures, people and quotes are invented; real city names are used
only to make the examples feel plausible.

Usage (from the repository root or anywhere):

    python corpus/reports/make_reports.py

Output is deterministic: the same script always produces byte-identical PDFs
(reportlab ``invariant=1``).  Every page carries a running header
("Cities Halving Violence — <short title>") and a footer with the page number,
so extractors can be tested on dropping repeated headers and footers.  A small
built-in hyphenation dictionary lets a few long words break across lines with a
hyphen, as real typeset reports do.
"""
from __future__ import annotations

import os
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.platypus import (
    ListFlowable,
    ListItem,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

HERE = os.path.dirname(os.path.abspath(__file__))
NETWORK_HEADER = "Cities Halving Violence"
FOOTER_LEFT = "PiOC sample corpus — illustrative material, not a real report"

# ---------------------------------------------------------------------------
# Tiny deterministic hyphenation dictionary (no pyphen needed).  reportlab
# accepts a callable as ``hyphenationLang``: word -> iterable of (head, tail)
# pairs, tried in order; a "-" is added to the head when the word is split.
# ---------------------------------------------------------------------------
_HYPHENATION = {
    w.replace("-", ""): w
    for w in [
        "neigh-bour-hoods",
        "neigh-bour-hood",
        "in-ter-rup-ters",
        "or-gan-isa-tions",
        "in-fra-struc-ture",
        "in-sti-tu-tion-al-ised",
        "com-mu-ni-ties",
        "par-tic-i-pants",
        "dis-pro-por-tion-ately",
        "mu-nic-i-pal-ities",
        "en-vi-ron-men-tal",
        "in-ter-ven-tions",
        "ep-i-de-mi-ol-o-gists",
        "ac-count-abil-ity",
        "re-la-tion-ships",
        "an-ony-mis-ation",
        "im-ple-men-ta-tion",
        "com-pa-ra-bil-ity",
        "con-fi-den-tial-ity",
        "vic-tim-isa-tion",
        "lu-mi-naires",
        "in-ter-gov-ern-men-tal",
        "tri-an-gu-la-tion",
        "vi-o-lence-re-lated",
    ]
}


def hyphenate(word: str):
    key = word.lower()
    pattern = _HYPHENATION.get(key)
    if not pattern:
        return []
    parts = pattern.split("-")
    pairs = []
    # longest head first, as pyphen.iterate does
    for i in range(len(parts) - 1, 0, -1):
        n = len("".join(parts[:i]))
        pairs.append((word[:n], word[n:]))
    return pairs


# ---------------------------------------------------------------------------
# Report content.  Block kinds: h1, h2, p, ul (list of items), table.
# ---------------------------------------------------------------------------
REPORTS = [
    # ------------------------------------------------------------------ R1
    {
        "filename": "cali-lighting-2022.pdf",
        "title": "Light, Space and Safety: Street Lighting and Public Space Upgrades in Cali and Medellín",
        "short_title": "Street Lighting and Public Space in Cali and Medellín",
        "subtitle": "A PiOC practice report on urban design for violence prevention",
        "author": "PiOC Urban Design Working Group",
        "subject": "Evaluation of street lighting (Barrios con Luz, Cali) and footpath upgrades (Senderos Vivos, Medellín)",
        "keywords": "street lighting, urban design, CPTED, Cali, Medellín, public space",
        "date_text": "June 2022",
        "blocks": [
            ("h1", "1. Summary"),
            ("p", "This report looks at two municipal programmes that set out to make streets safer by changing "
                  "what they look like at night. In Cali, the Barrios con Luz programme replaced or installed 4,800 LED "
                  "luminaires between 2019 and 2021 across 31 neighbourhoods in Comunas 13, 14, 15 and 21. In Medellín, "
                  "the Senderos Vivos programme upgraded 62 km of stairways and footpaths that link hillside barrios to "
                  "the cable car and bus network. Both programmes were designed with residents, and both were "
                  "evaluated against comparison areas that did not receive the works."),
            ("p", "The headline findings are encouraging but not magical. Better lighting and better paths reduced "
                  "some kinds of violence, in some places, for as long as the lights stayed on and the paths stayed "
                  "busy. Where maintenance failed, the gains faded within a year."),
            ("h2", "Key findings"),
            ("ul", [
                "On street segments treated by Barrios con Luz, reported night-time street robbery fell by 27% and "
                "homicides by 19% in the 18 months after installation, compared with a 6% fall in matched comparison segments.",
                "We found no evidence that violence was displaced to adjacent street segments within 300 metres of the works.",
                "The average cost per luminaire, including poles, wiring and five years of maintenance, was USD 410.",
                "In Medellín, 71% of women surveyed along Senderos Vivos routes said they felt safer walking after dark, "
                "up from 38% before the works.",
                "A 48-hour repair pledge backed by the Luz Ya WhatsApp reporting line cut the average time a broken lamp "
                "stayed dark from 19 days to 3 days.",
            ]),
            ("h1", "2. Why light and space matter"),
            ("p", "Crime Prevention Through Environmental Design (CPTED) starts from a simple observation: people "
                  "are less likely to attack or rob someone when they believe they can be seen and that someone nearby "
                  "might intervene. Lighting raises the chance of being seen. Well-used public space raises the chance "
                  "that someone will be there to see. Neither removes the reasons why a young man carries a knife or a "
                  "gun, and neither replaces the relationships that stop a quarrel turning into a killing."),
            ("p", "The international evidence on street lighting is mixed. Some studies find sizeable reductions in "
                  "night-time crime; others find almost none. The difference usually lies in the detail: whether the "
                  "lights were placed where violence actually happens, whether they were maintained, and whether the "
                  "surrounding space gave people a reason to be out. For that reason this report pays as much attention "
                  "to selection, upkeep and activity as to the lamps themselves."),
            ("h2", "2.1 The place-based concentration of violence"),
            ("p", "Cali's municipal violence observatory found that between 2015 and 2018 just 4% of the city's "
                  "street segments accounted for 41% of its homicides. In Medellín, the equivalent analysis pointed to "
                  "stairways, unlit footpaths and the edges of informal settlements, where journeys on foot between home "
                  "and transport are long and isolated. In both cities, then, the question was not whether to light "
                  "the city but which few hundred places to light first."),
            ("h1", "3. Cali: Barrios con Luz"),
            ("h2", "3.1 Selecting where to work"),
            ("p", "Barrios con Luz combined the observatory's hotspot maps with what residents said about their own "
                  "streets. Between March and August 2019, 640 residents took part in caminatas nocturnas, or night walk "
                  "audits, of whom 58% were women. Walking groups of eight to twelve people marked dark corners, broken "
                  "lamps, overgrown lots and places they avoided, using a printed checklist and a shared map. The "
                  "audits added 118 locations that did not appear in police data, mostly places where women reported "
                  "harassment that had never been formally recorded."),
            ("p", "Each candidate street segment was scored on recorded violence, audit findings and foot traffic. The "
                  "top-scoring 1,212 segments were treated; 1,540 segments with similar scores in other parts of the "
                  "city were kept as a comparison group and scheduled for works in a later phase."),
            ("h2", "3.2 What was installed"),
            ("p", "The programme installed or replaced 4,800 LED luminaires with a colour temperature of 3,000 kelvin, "
                  "chosen because residents in the audits disliked the harsh blue-white light of earlier upgrades. Lamps "
                  "were mounted lower than usual, at six metres, to light faces and footpaths rather than only the "
                  "carriageway. In 43 locations the works also included benches, murals and small public squares "
                  "designed with neighbours, and nine of those squares now host weekend sports and a monthly night market."),
            ("h2", "3.3 Results"),
            ("p", "We compared the 18 months before and after installation in treated and comparison segments. "
                  "Night-time street robbery fell by 27% in treated segments, homicides by 19%, and recorded assaults "
                  "by 11%. In comparison segments the fall across all three categories was about 6%, in line with the "
                  "citywide trend. Daytime offences did not change, which is what one would expect if the effect "
                  "works through visibility after dark."),
            ("p", "A common worry about place-based work is displacement: violence simply moves round the corner. We "
                  "looked at a buffer of 300 metres around each treated segment and found no significant increase; if "
                  "anything there was a small diffusion of benefit, with robberies in the buffer falling by 4%."),
            ("h2", "3.4 Maintenance: the weak point"),
            ("p", "In the first year, 12% of the new luminaires failed, mostly because of vandalism, cable theft and "
                  "illegal connections to the power supply. Dark lamps were reported slowly and repaired more slowly "
                  "still, averaging 19 days. In mid-2020 the city introduced a 48-hour repair pledge and the Luz Ya "
                  "WhatsApp reporting line, staffed by the municipal lighting company. Residents send a photograph and "
                  "a location pin; the crew closes the ticket with a photograph of the working lamp. Average downtime "
                  "fell to 3 days, and segments with fast repairs kept their reductions in robbery while segments with "
                  "slow repairs saw them fade."),
            ("h1", "4. Medellín: Senderos Vivos"),
            ("h2", "4.1 Stairways and connectivity"),
            ("p", "Senderos Vivos (Living Paths) began in 2018 with a simple brief: make the walk from the hillside "
                  "neighbourhoods to the nearest transit station shorter, brighter and busier. Over four years the "
                  "programme upgraded 62 km of stairways and footpaths, installed 1,900 solar-powered lamps on routes "
                  "that the grid did not reach, and added handrails, ramps and rest points. Local kiosks were licensed "
                  "along the routes on condition that they stayed open until 10 pm, giving every path a few pairs of "
                  "eyes in the evening."),
            ("h2", "4.2 Women's safety"),
            ("p", "Women were the main users of the routes and the group most likely to change their journeys out of "
                  "fear. Before the works, only 38% of women surveyed along the routes said they felt safe walking after "
                  "dark; afterwards the figure was 71%. Reports of sexual harassment on the routes to the municipal "
                  "women's helpline fell by a third, although the helpline warns that reporting habits changed during "
                  "the same period."),
            ("h2", "4.3 Violence outcomes"),
            ("p", "Because Medellín's homicide rate was already falling across the city, the effect of Senderos Vivos "
                  "on lethal violence is hard to isolate. Recorded robberies of pedestrians along the routes fell by 22% "
                  "relative to similar paths elsewhere, and injuries from assaults treated at the two nearest health "
                  "centres fell by 15%."),
            ("h1", "5. Costs and value for money"),
            ("p", "The average cost per luminaire in Cali, including poles, wiring and five years of maintenance, was "
                  "USD 410. On the conservative assumption that only robberies and homicides are counted, the programme "
                  "cost about USD 1,150 per robbery avoided. Senderos Vivos cost COP 84 billion, or roughly "
                  "USD 21 million, over four years, of which 30% went to maintenance and the kiosk scheme. Both cities "
                  "stress that maintenance budgets must be ring-fenced: the cheapest lamp to install is of no value if "
                  "no one pays to repair it."),
            ("h1", "6. Lessons for other cities"),
            ("p", "Light is a necessary but not sufficient condition for safer streets. Lamps make it easier to see "
                  "and be seen, but it is people using a space - traders, players, neighbours walking home - who turn "
                  "visibility into protection. In Cali, the segments where violence fell most were those where new "
                  "lighting arrived together with a reason to be outside after dark: a pitch, a market stall, a bus "
                  "stop that was actually used."),
            ("p", "The second lesson is about maintenance. A new lamp is a promise to a neighbourhood, and a broken "
                  "lamp left dark for three weeks is a promise broken. The gains from Barrios con Luz lasted only where "
                  "repairs were fast. Cities planning similar programmes should budget for upkeep from the first day "
                  "and give residents a simple way to report faults."),
            ("ul", [
                "Target the few places where violence concentrates; do not spread lamps thinly across the whole city.",
                "Walk the streets with residents, especially women, before choosing sites.",
                "Pair lighting with activity: sports, markets, kiosks and transit.",
                "Ring-fence maintenance money and set a public repair standard, such as 48 hours.",
                "Evaluate against comparison areas and publish the results, including what did not work.",
            ]),
            ("h1", "7. Methods note"),
            ("p", "The Cali evaluation used a difference-in-differences design comparing 1,212 treated street segments "
                  "with 1,540 comparison segments, using police records, the observatory's homicide register and "
                  "health-service injury data for January 2018 to June 2021. The Medellín results combine police records "
                  "with two household surveys of 1,020 and 1,064 residents, carried out in 2018 and 2021. All figures in "
                  "this report are illustrative sample data prepared for the PiOC knowledge-exchange platform."),
        ],
    },
    # ------------------------------------------------------------------ R2
    {
        "filename": "youth-homicide-covid-2021.pdf",
        "title": "Lockdown and After: Youth Homicide and Domestic Violence in Cape Town, Mexico City and Chicago, 2020-2021",
        "short_title": "Lockdown and After: Youth Homicide 2020-2021",
        "subtitle": "A PiOC data brief on the COVID-19 pandemic and urban violence",
        "author": "PiOC Data and Research Team",
        "subject": "Effects of COVID-19 lockdowns on youth homicide and domestic violence in three member cities",
        "keywords": "COVID-19, lockdown, youth homicide, domestic violence, alcohol ban, Cape Town, Mexico City, Chicago",
        "date_text": "November 2021",
        "blocks": [
            ("h1", "1. Summary"),
            ("p", "When cities locked down in the spring of 2020, many people expected violence to fall everywhere. "
                  "Streets emptied, bars closed and schools sent children home. What happened instead was more "
                  "complicated. Violence between young men in public space fell in some cities and rose in others, "
                  "while violence behind closed doors - against women, partners and children - became harder to see "
                  "and, by most indicators, more common. This brief compares three member cities with very different "
                  "lockdown rules: Cape Town, Mexico City and Chicago."),
            ("h2", "Key findings"),
            ("ul", [
                "Cape Town: homicides of young people aged 15 to 29 fell by 41% during the strictest national lockdown "
                "(27 March to 30 April 2020) compared with the same weeks of 2019. By October to December 2020 they "
                "were 12% above 2019 levels.",
                "Each of Cape Town's three bans on alcohol sales coincided with a fall in weekend trauma admissions, "
                "suggesting that alcohol availability, not only movement restrictions, drove the lockdown dip.",
                "Chicago: fatal and non-fatal shootings of people aged 15 to 24 rose by 52% in June to August 2020 "
                "compared with the same months of 2019, despite stay-at-home orders.",
                "Mexico City: calls to the Línea Mujer Segura helpline rose by 37% between April and June 2020, while "
                "police reports of domestic violence fell - a sign of under-reporting, not of less violence.",
                "Cities that treated outreach workers and shelters as essential services kept a working line to the "
                "people most at risk.",
            ]),
            ("h1", "2. Data and methods"),
            ("p", "For Cape Town we used mortuary records from the provincial forensic pathology service, which record "
                  "every violent death regardless of whether a case is opened by police, together with trauma unit "
                  "admissions from four public hospitals. For Chicago we used police shooting incident data and the "
                  "trauma registry of two level-one trauma centres. For Mexico City we used the city helpline's call "
                  "logs, police complaints and the emergency call centre's records of calls classified as family "
                  "violence. Youth is defined as 15 to 29 in Cape Town and Mexico City and 15 to 24 in Chicago, "
                  "following each city's own reporting conventions, so the figures are not strictly comparable."),
            ("p", "All comparisons are with the same calendar weeks of 2019, to control for seasonality. We report "
                  "percentage changes rather than rates because population estimates for 2020 were not yet available "
                  "at the time of writing."),
            ("h1", "3. Cape Town: the alcohol natural experiment"),
            ("h2", "3.1 Three bans, three dips"),
            ("p", "South Africa's national lockdown included a complete ban on the sale of alcohol on three occasions: "
                  "from 27 March to 31 May 2020, from 12 July to 17 August 2020, and from 28 December 2020 to "
                  "1 February 2021. Each ban was followed within days by a fall in weekend trauma admissions at the "
                  "four hospitals we studied, and each lifting was followed by a rise. The pattern held even in the "
                  "later bans, when most other movement restrictions had been relaxed."),
            ("p", "Trauma surgeons at one of the hospitals described the first weekend of the first ban as the "
                  "quietest they could remember. Weekend admissions for assault fell by more than half. When sales "
                  "resumed on 1 June 2020 the wards filled again within a fortnight."),
            ("h2", "3.2 Young people"),
            ("p", "Homicides of young people aged 15 to 29 fell by 41% during the hard lockdown compared with the same "
                  "weeks of 2019. The decline was concentrated in weekend night-time killings outside the home. It did "
                  "not last. As restrictions eased, gang-related shootings in several areas of the Cape Flats returned "
                  "to and then exceeded their pre-pandemic level, and by the last quarter of 2020 youth homicides were "
                  "12% above the 2019 figure. Community workers linked the rebound to school closures, lost income "
                  "and the collapse of after-school programmes that had kept teenagers busy in the afternoon."),
            ("h1", "4. Chicago: a summer of shootings"),
            ("h2", "4.1 Summer 2020"),
            ("p", "Chicago's stay-at-home order began on 21 March 2020. Shootings fell briefly in April but rose "
                  "sharply from late May. Between June and August 2020, fatal and non-fatal shootings of people aged "
                  "15 to 24 were 52% higher than in the same months of 2019. Most of the increase was concentrated in "
                  "the same small number of neighbourhoods on the South and West Sides that carried most of the city's "
                  "gun violence before the pandemic."),
            ("p", "Several factors came together: schools and summer programmes closed or moved online, jobs for "
                  "teenagers disappeared, court hearings were postponed, and many trusted adults - coaches, youth "
                  "workers, pastors - could no longer meet young people face to face. At the same time, the killing "
                  "of George Floyd in May 2020 and the protests that followed deepened mistrust between residents and "
                  "police in the very areas where shootings were rising."),
            ("h2", "4.2 Outreach as an essential service"),
            ("p", "On 3 April 2020 the city designated street outreach workers as essential workers, allowing them to "
                  "continue meeting young people in person. Outreach teams adapted quickly: they delivered food parcels "
                  "to about 11,000 households, distributed masks, and used those visits to check on young men known to "
                  "be at risk. Outreach organisations told us that the food deliveries opened doors that had been closed "
                  "to them for years."),
            ("h1", "5. Mexico City: violence behind closed doors"),
            ("h2", "5.1 The helpline"),
            ("p", "Mexico City's Línea Mujer Segura helpline received 37% more calls between April and June 2020 than in "
                  "the same period of 2019. The share of calls in which the woman said she was living with her "
                  "aggressor rose from 46% to 61%. At the same time, formal police complaints of domestic violence "
                  "fell by 18%. The most plausible explanation is that women could not leave the house to make a "
                  "complaint, or could not do so without the aggressor knowing."),
            ("h2", "5.2 The Código Lila pharmacy scheme"),
            ("p", "In May 2020 the city launched Código Lila, a scheme in which a woman could ask a pharmacy assistant "
                  "for a 'lilac mask' as a code word for help. Staff at 1,300 participating pharmacies were trained to "
                  "take her to a private area and call the helpline. By the end of 2020 the scheme had recorded 742 "
                  "requests for help. It was cheap to run and it reached women who had no private access to a phone."),
            ("h1", "6. What this means for recovery"),
            ("p", "The pandemic was a stress test for city violence-prevention systems. The three cities show that "
                  "lockdowns do not reduce violence in any simple way: they change where it happens, who sees it and "
                  "who can respond. Public violence between young men may fall when alcohol and movement are "
                  "restricted, but it returns quickly once the protective routines of school, work and youth "
                  "programmes are gone. Domestic violence rises while the ordinary routes to help are closed."),
            ("h2", "6.1 Recommendations"),
            ("ul", [
                "Designate violence-prevention outreach workers, shelters and helplines as essential services in any future emergency.",
                "Keep at least some youth spaces open, outdoors if necessary, and move school meal programmes to community sites rather than closing them.",
                "Create low-visibility routes to help, such as pharmacy code words and text-based helplines.",
                "Use mortuary, hospital and helpline data alongside police data, because police data alone will miss the change.",
                "Plan the reopening: the months after a lockdown carry as much risk as the lockdown itself.",
            ]),
            ("p", "All figures in this brief are illustrative sample data prepared for the PiOC knowledge-exchange "
                  "platform and should not be cited as official statistics."),
        ],
    },
    # ------------------------------------------------------------------ R3
    {
        "filename": "violence-observatories-2023.pdf",
        "title": "Counting to Prevent: Building Municipal Violence Observatories. Lessons from Bogotá, Recife and Nairobi",
        "short_title": "Counting to Prevent: Municipal Violence Observatories",
        "subtitle": "A PiOC guide for city governments",
        "author": "PiOC Data and Research Team with the Observatories Community of Practice",
        "subject": "How to set up and run a municipal violence observatory; the MDS-12 minimum data standard",
        "keywords": "violence observatory, data, MDS-12, Bogotá, Recife, Nairobi, data sharing, privacy",
        "date_text": "March 2023",
        "blocks": [
            ("h1", "1. Summary"),
            ("p", "A violence observatory is a small municipal team that brings together data on violence from "
                  "different agencies, checks it, analyses it and puts it in front of the people who make decisions. "
                  "Many member cities want one; fewer know where to start. This guide draws on three observatories at "
                  "different stages of maturity - Bogotá's, established in 2005; the Observatório Recife Seguro (ORS), "
                  "established in 2019; and the Nairobi Urban Violence Dashboard, launched in August 2022 - and "
                  "proposes a common minimum data standard, the MDS-12, so that member cities can compare their "
                  "progress towards halving violence."),
            ("h2", "Key messages"),
            ("ul", [
                "Start with homicide and serious injury, and reconcile the numbers across agencies before doing anything clever.",
                "Bogotá's weekly reconciliation table reduced the discrepancy between police and forensic homicide counts from 9.4% in 2016 to 0.8% in 2022.",
                "In Recife, linking emergency-department records showed that 38% of assault injuries treated in hospital were never reported to the police.",
                "Nairobi built a working dashboard in under a year with a staff of seven and an annual budget of about USD 180,000.",
                "Privacy protection is not optional: publish aggregates on a grid of at least 100 metres and suppress cells with fewer than five cases.",
            ]),
            ("h1", "2. What an observatory is for"),
            ("p", "An observatory is not a statistics office and not a police intelligence unit. Its purpose is to "
                  "answer, quickly and credibly, the questions a mayor and her team ask every week: where and when is "
                  "violence happening, who is being hurt, is it getting better or worse, and is what we are doing "
                  "making a difference? To do that, an observatory needs three things: data from more than one source, "
                  "a routine for checking that data, and a direct line to decision makers."),
            ("p", "Relying on police data alone is the most common mistake. Police records are shaped by what is "
                  "reported and by how it is classified. Hospital, forensic and helpline data each see a different "
                  "part of the picture. Triangulation, the practice of comparing counts across sources until they "
                  "agree or the reasons for disagreement are understood, is the core skill of any observatory."),
            ("h1", "3. The MDS-12 minimum data standard"),
            ("p", "The Observatories Community of Practice agreed in 2022 that every member city should be able to "
                  "report twelve variables for each violent death and, where possible, each serious injury. The "
                  "standard is deliberately modest: most cities already collect these fields somewhere, even if they "
                  "are spread across agencies."),
            ("ul", [
                "1. Date of the incident",
                "2. Time of day, to the nearest hour",
                "3. Location, geocoded to at least the block or a 100-metre grid cell",
                "4. Type of place (street, home, bar, transport, school, other)",
                "5. Victim age",
                "6. Victim sex",
                "7. Mechanism or weapon (firearm, knife, blunt object, other)",
                "8. Relationship between victim and aggressor, where known",
                "9. Whether the incident was recorded by police, health or both",
                "10. Alcohol involvement, where known",
                "11. Suspected context (interpersonal dispute, robbery, gang, domestic, other)",
                "12. Outcome (death, hospital admission, treated and discharged)",
            ]),
            ("p", "Relationship and context are the hardest fields to fill but the most valuable for prevention, "
                  "because they distinguish, for example, a killing in a dispute between neighbours from one in a "
                  "robbery or from a femicide. Cities are asked to report the share of records in which each field is "
                  "missing, so that data quality itself can be tracked over time."),
            ("h1", "4. Bogotá: reconciling the numbers"),
            ("p", "Bogotá's observatory, run by the city's security secretariat, is the oldest of the three. Its best "
                  "known routine is the weekly Mesa de Conciliación, a reconciliation table at which analysts from the "
                  "police, the forensic medicine institute and the health secretariat go through every violent death "
                  "recorded in the previous seven days, case by case, until the lists match. When the table was "
                  "introduced in 2016 the police and forensic homicide counts for the year differed by 9.4%. By 2022 "
                  "the difference was 0.8%."),
            ("p", "Agreed numbers matter politically. Before the table existed, every monthly security council began "
                  "with an argument about whose figures were right. Now the observatory publishes a single reconciled "
                  "homicide count every Monday, and the council spends its time on what to do about it. The observatory "
                  "also produces a quarterly report on non-lethal violence that combines police complaints with data "
                  "from the city's women's helpline and from public hospitals."),
            ("h1", "5. Recife: what the hospitals know"),
            ("p", "The Observatório Recife Seguro (ORS) was created by municipal decree in 2019 with a mandate to "
                  "support the city's violence prevention plan. Its first project was to link anonymised "
                  "emergency-department records from six public hospitals with police incident data. The result was "
                  "striking: 38% of assault injuries treated in emergency departments had never been reported to the "
                  "police. Among women injured at home, the figure was 64%."),
            ("p", "The hospital data also changed the map. Several of the places with the most hospital-treated "
                  "injuries, including a bus terminal and two streets of bars, barely appeared in police records. The "
                  "city used the findings to target licensing inspections, extend lighting at the terminal and place "
                  "two community mediators in the bar district on Friday and Saturday nights."),
            ("h1", "6. Nairobi: a dashboard in under a year"),
            ("p", "The Nairobi Urban Violence Dashboard was launched in August 2022 by the county government with "
                  "support from two universities. It covers all 17 sub-counties and draws on police occurrence "
                  "records, injury surveillance from 11 hospitals, and case data from gender-based violence recovery "
                  "centres. A team of seven - a coordinator, three analysts, a GIS specialist, a data-protection officer "
                  "and a community liaison officer - runs the dashboard on an annual budget of about USD 180,000."),
            ("p", "The team made two choices that others may want to copy. First, it published a public version of "
                  "the dashboard from the start, showing monthly counts by sub-county, while keeping detailed data for "
                  "authorised users only. Second, it appointed a community liaison officer who presents the figures at "
                  "ward meetings and brings residents' questions back to the analysts. Several of the dashboard's "
                  "indicators, including a count of injuries during evictions, were added at residents' request."),
            ("h2", "6.1 The three observatories at a glance"),
            ("table", {
                "caption": "Table 1. Three observatories compared (illustrative figures)",
                "rows": [
                    ["City", "Established", "Main data sources", "Staff", "Budget (USD/yr)", "Publication"],
                    ["Bogotá", "2005", "Police, forensic institute, health, helpline", "14", "420,000", "Weekly"],
                    ["Recife", "2019", "Police, 6 hospitals", "5", "150,000", "Monthly"],
                    ["Nairobi", "2022", "Police, 11 hospitals, GBV centres", "7", "180,000", "Monthly"],
                ],
            }),
            ("h1", "7. Governance, ethics and privacy"),
            ("p", "Every observatory in this guide works under a written data-sharing agreement with each agency that "
                  "supplies data. The agreements set out which fields are shared, how often, who may see them, how long "
                  "they are kept and how they are destroyed. Personal identifiers such as names and national ID numbers "
                  "are removed by the supplying agency before transfer, or replaced by a one-way code that allows "
                  "records to be linked without revealing identity."),
            ("p", "Maps can identify people even without names. A single femicide shown as a dot on a public map can "
                  "point straight to a household. For that reason the Community of Practice recommends that public "
                  "outputs aggregate data to a grid of at least 100 metres and suppress any cell with fewer than five "
                  "cases. Data on gender-based violence should be published only at sub-county or district level."),
            ("h1", "8. A twelve-month roadmap"),
            ("p", "For cities starting from scratch, the three observatories suggest the following sequence. It is "
                  "ambitious but achievable, as Nairobi showed."),
            ("ul", [
                "Months 1 to 3: secure a mayoral mandate, appoint a coordinator, and sign data-sharing agreements with police, forensic and health agencies.",
                "Months 4 to 6: collect two years of historical homicide data, reconcile it across sources, and map the MDS-12 fields to what each agency holds.",
                "Months 7 to 9: start a routine reconciliation meeting, produce a first internal monthly bulletin, and agree privacy rules for public outputs.",
                "Months 10 to 12: publish a public dashboard or bulletin, present it at community meetings, and report MDS-12 data to the network.",
            ]),
            ("p", "All figures in this guide are illustrative sample data prepared for the PiOC knowledge-exchange "
                  "platform."),
        ],
    },
    # ------------------------------------------------------------------ R4
    {
        "filename": "violence-interruption-2020.pdf",
        "title": "Interrupting Violence: Street Outreach and Mediation in Kingston and Chicago",
        "short_title": "Interrupting Violence: Kingston and Chicago",
        "subtitle": "A PiOC learning report on violence interruption programmes",
        "author": "PiOC Violence Interruption Learning Group",
        "subject": "Comparison of the Peace Ambassadors Programme (Kingston) and the Block Watch Outreach Network (Chicago)",
        "keywords": "violence interruption, street outreach, mediation, Kingston, Chicago, interrupters",
        "date_text": "September 2020",
        "blocks": [
            ("h1", "1. Summary"),
            ("p", "Violence interruption programmes employ people with credibility in the most affected communities to "
                  "find conflicts before they turn deadly, mediate them, and change the expectation that an insult or "
                  "a debt must be answered with a gun. This report compares two programmes that member cities have "
                  "asked about most often: Kingston's Peace Ambassadors Programme (PAP), launched in 2016, and "
                  "Chicago's Block Watch Outreach Network (BWON), which has operated at seven sites on the South and "
                  "West Sides since 2015."),
            ("h2", "Key findings"),
            ("ul", [
                "Kingston's PAP employs 48 violence interrupters in nine communities. In 2019 they carried out 312 "
                "conflict mediations, of which 87% were judged resolved when followed up after 90 days.",
                "In Chicago, shootings in police beats served by BWON fell by 22% relative to comparison beats over 2017 to 2019.",
                "The cost per participant per year was about USD 2,300 in Kingston and USD 4,100 in Chicago.",
                "Staff turnover is the programmes' greatest weakness: 35% of interrupters left each year before "
                "peer supervision was introduced.",
                "Both programmes keep a firewall between interrupters and police intelligence, while taking part in "
                "joint shooting reviews.",
            ]),
            ("h1", "2. The interruption model"),
            ("p", "Although each programme has its own history, both follow the same four steps. First, identify "
                  "the small number of people and groups at highest risk of shooting or being shot, using local "
                  "knowledge as well as data. Second, detect brewing conflicts through relationships on the street, at "
                  "funerals, in hospitals and on social media. Third, mediate: bring the parties, or the people who "
                  "influence them, to an agreement that everyone can accept without losing face. Fourth, change norms "
                  "over time, so that walking away from a fight is seen as strength rather than weakness."),
            ("p", "Interrupters are not social workers and not police officers. Their value lies in credibility: many "
                  "grew up in the same streets, and in both programmes about 70% have previous involvement with the "
                  "justice system. That history opens doors, but it also brings risks, including exposure to trauma, "
                  "threats from former associates and the temptation to slip back into old roles."),
            ("h1", "3. Kingston: the Peace Ambassadors Programme"),
            ("h2", "3.1 Recruitment and training"),
            ("p", "PAP recruits ambassadors through community-based organisations and churches in nine communities in "
                  "West Kingston and St Andrew South. Candidates are interviewed by a panel that includes residents and "
                  "former ambassadors. Successful candidates complete 120 hours of training over eight weeks, covering "
                  "conflict mediation, first aid, trauma awareness, safeguarding of children and the programme's code "
                  "of conduct. Ambassadors are paid a full-time salary and work in pairs, mostly in the evening and at "
                  "night."),
            ("h2", "3.2 Mediations and outcomes"),
            ("p", "In 2019 the 48 ambassadors carried out 312 conflict mediations. Just under half involved disputes "
                  "between rival groups of young men; the rest concerned family conflicts, debts, land and romantic "
                  "relationships that risked escalating into armed violence. When the programme followed up 90 days "
                  "later, 87% of disputes were judged resolved, meaning there had been no further violence between the "
                  "parties. Murders in the nine communities fell from 61 in 2016 to 39 in 2019, a larger fall than in "
                  "the rest of the parish, although other initiatives were running at the same time."),
            ("p", "Ambassadors also run a programme of football tournaments, school visits and funeral support. The "
                  "funeral work is important: a funeral brings rival groups into the same place at an emotional moment, "
                  "and ambassadors are present to defuse tension before and after the service."),
            ("h1", "4. Chicago: the Block Watch Outreach Network"),
            ("h2", "4.1 Outreach and hospital response"),
            ("p", "BWON operates at seven sites, each run by a local community organisation with a team of outreach "
                  "workers and violence interrupters. Outreach workers carry caseloads of no more than 15 young men "
                  "each, whom they see several times a week and help with housing, employment, court dates and family "
                  "problems. Violence interrupters focus on live conflicts rather than long-term casework."),
            ("p", "When someone is shot in a BWON area, an interrupter aims to reach the trauma centre within 60 "
                  "minutes. The hospital is where retaliation is planned: friends and relatives gather, rumours spread "
                  "and anger is at its height. The interrupter's job is to calm the situation, find out who is "
                  "planning to respond and start mediating before anyone leaves the waiting room."),
            ("h2", "4.2 Results"),
            ("p", "An independent evaluation compared police beats served by BWON with similar beats elsewhere in the "
                  "city. Over 2017 to 2019, shootings in BWON beats fell by 22% relative to the comparison beats. The "
                  "effect was larger in the four sites with the lowest staff turnover, which suggests that "
                  "relationships, not just presence, drive results."),
            ("h1", "5. Working alongside the police"),
            ("p", "The most sensitive question for any interruption programme is its relationship with the police. "
                  "Both programmes operate a firewall: interrupters do not pass information about individuals to the "
                  "police, because doing so would destroy their credibility and could put them in danger. At the same "
                  "time, both take part in structured meetings with police and city officials after every shooting. In "
                  "Chicago, a shooting review is held within 24 hours; in Kingston, a weekly coordination meeting is "
                  "chaired by the parish safety council. At these meetings interrupters share what they can about "
                  "risks of retaliation in general terms and police share information about their planned operations "
                  "so that the two do not collide."),
            ("p", "Where the relationship works, police officers refer young people to the programme instead of "
                  "arresting them for minor offences, and the programme helps the police reach families after a "
                  "killing. Where it fails, interrupters are stopped and searched by officers who do not know them, "
                  "and the programme loses its standing on the street."),
            ("h1", "6. Supporting the workforce"),
            ("p", "Interrupters are exposed to violence over and over again. Before 2018, 35% of interrupters in both "
                  "programmes left each year. Both have since introduced Healing the Healers, a model of fortnightly "
                  "peer supervision groups led by trained former interrupters, with access to a clinical "
                  "psychologist. Turnover fell to 18% in Kingston and 21% in Chicago in 2019."),
            ("p", "Pay and career paths matter too. Interrupters who see no future beyond the job are more likely to "
                  "burn out or drift back. Both programmes now offer accredited training that counts towards a "
                  "qualification in youth work or community mediation."),
            ("h1", "7. Recommendations for member cities"),
            ("ul", [
                "Fund interruption for at least five years; relationships take longer to build than a typical grant cycle.",
                "Recruit people with credibility in the community and invest in their training and wellbeing from day one.",
                "Agree a written protocol with the police that protects the firewall and sets up regular coordination.",
                "Link street outreach with hospitals so that an interrupter reaches every shooting victim within an hour.",
                "Measure mediations, follow-up outcomes and staff turnover, not only shootings.",
            ]),
            ("p", "All figures in this report are illustrative sample data prepared for the PiOC knowledge-exchange "
                  "platform."),
        ],
    },
    # ------------------------------------------------------------------ R5 (Spanish)
    {
        "filename": "mediacion-juvenil-monterrey-tijuana-2024.pdf",
        "title": "Prevenir desde el barrio: mediación comunitaria y empleo juvenil en Monterrey y Tijuana",
        "short_title": "Mediación y empleo juvenil en Monterrey y Tijuana",
        "subtitle": "Informe de práctica de la red PiOC sobre prevención de la violencia juvenil",
        "author": "Grupo de Trabajo de Juventud de PiOC",
        "subject": "Evaluación de Jóvenes Constructores de Paz (Monterrey) y Casas de Mediación Comunitaria (Tijuana)",
        "keywords": "violencia juvenil, mediación comunitaria, empleo juvenil, Monterrey, Tijuana",
        "date_text": "Febrero de 2024",
        "blocks": [
            ("h1", "1. Resumen"),
            ("p", "Este informe analiza dos programas municipales que buscan reducir la violencia entre jóvenes "
                  "trabajando desde el barrio y no sólo desde la policía. En Monterrey, Jóvenes Constructores de Paz "
                  "ofrece a jóvenes de 16 a 25 años un año de capacitación laboral pagada, tutoría y trabajo comunitario. "
                  "En Tijuana, las Casas de Mediación Comunitaria resuelven conflictos entre vecinos, familias y grupos "
                  "de jóvenes antes de que se conviertan en agresiones. Ambos programas fueron evaluados entre 2021 y 2023 "
                  "frente a colonias de comparación."),
            ("h2", "Hallazgos principales"),
            ("ul", [
                "En las colonias de Monterrey con Jóvenes Constructores de Paz, los homicidios de jóvenes de 15 a 29 años "
                "bajaron un 22% en dos años, frente a un 5% en las colonias de comparación.",
                "De los 640 jóvenes que entraron al programa en 2022, el 71% lo terminó y el 58% tenía un empleo formal "
                "seis meses después.",
                "Las nueve Casas de Mediación Comunitaria de Tijuana atendieron 3,100 conflictos entre 2021 y 2023; en el "
                "78% de los casos mediados se alcanzó un acuerdo.",
                "El costo de Jóvenes Constructores de Paz fue de unos 48,000 pesos por participante al año; el de la "
                "mediación en Tijuana, de unos 2,900 pesos por conflicto atendido.",
            ]),
            ("h1", "2. Monterrey: Jóvenes Constructores de Paz"),
            ("p", "El programa recluta a jóvenes que no estudian ni trabajan en ocho colonias del poniente y del norte de "
                  "la ciudad, con ayuda de promotores comunitarios que los buscan en las esquinas, las canchas y los "
                  "centros de reinserción. Nadie queda fuera por tener antecedentes penales: de hecho, uno de cada tres "
                  "participantes había sido detenido al menos una vez."),
            ("p", "Durante doce meses, cada participante recibe una beca semanal de 1,100 pesos, cursos de oficios "
                  "(electricidad, soldadura, cocina, reparación de celulares), apoyo para terminar la secundaria y una "
                  "tutora o tutor que lo acompaña todo el año. Cuatro horas por semana se dedican a obras comunitarias "
                  "que los propios jóvenes eligen, como pintar murales, rehabilitar parques o arreglar el alumbrado de "
                  "una calle."),
            ("p", "Las tutoras son la pieza central. Cada una acompaña a un máximo de doce jóvenes, los visita en casa, "
                  "media en conflictos con la familia o con otros grupos y responde al teléfono por las noches. Las "
                  "tutoras reciben supervisión clínica cada quince días para evitar el desgaste."),
            ("h2", "Resultados"),
            ("p", "La evaluación comparó las ocho colonias del programa con ocho colonias similares. Además de la baja "
                  "del 22% en los homicidios de jóvenes, las riñas atendidas por la policía bajaron un 17%. Entre los "
                  "participantes, las nuevas detenciones por delitos violentos fueron un 35% menores que entre jóvenes "
                  "con perfil parecido que estaban en lista de espera."),
            ("h1", "3. Tijuana: Casas de Mediación Comunitaria"),
            ("p", "Las Casas de Mediación Comunitaria funcionan en centros comunitarios de la zona este de Tijuana. Cada "
                  "casa tiene dos mediadores profesionales y un grupo de entre diez y quince mediadores vecinales, "
                  "vecinas y vecinos capacitados durante 60 horas en escucha, negociación y canalización a servicios."),
            ("p", "Los conflictos más frecuentes fueron disputas entre vecinos por ruido, basura o estacionamiento (34%), "
                  "pleitos entre grupos de jóvenes (21%), deudas (14%) y conflictos familiares sin violencia física (19%). "
                  "Los casos de violencia familiar o sexual no se median: se canalizan al Instituto Municipal de la Mujer "
                  "el mismo día."),
            ("p", "Un hallazgo llamó la atención del equipo: los pleitos entre grupos de jóvenes mediados en la casa "
                  "rara vez volvieron a escalar. En el seguimiento a tres meses, el 85% de esos acuerdos seguía vigente. "
                  "Los mediadores vecinales atribuyen el resultado a que conocen a las familias y pueden reunir a las "
                  "madres de los jóvenes involucrados."),
            ("h1", "4. Lecciones para otras ciudades"),
            ("ul", [
                "Buscar a los jóvenes donde están: los de mayor riesgo no llegan solos a una oficina.",
                "No excluir a quienes tienen antecedentes penales; son quienes más se benefician.",
                "Cuidar a quienes cuidan: tutoras y mediadores necesitan supervisión y un pago justo.",
                "Separar con claridad lo que se media de lo que se denuncia: la violencia contra las mujeres no se media.",
                "Medir desde el inicio, con colonias de comparación y datos de la policía y de salud.",
            ]),
        ],
    },
    # ------------------------------------------------------------------ R6 (French)
    {
        "filename": "jeunesse-marseille-montreal-2024.pdf",
        "title": "Aller vers les jeunes : travail de rue et prévention des violences à Marseille et à Montréal",
        "short_title": "Travail de rue à Marseille et à Montréal",
        "subtitle": "Rapport de pratique du réseau PiOC sur la prévention des violences chez les jeunes",
        "author": "Groupe de travail Jeunesse de PiOC",
        "subject": "Évaluation des programmes Passerelles (Marseille) et Équipes de rue Ahuntsic-Nord (Montréal)",
        "keywords": "travail de rue, jeunesse, prévention, narcotrafic, armes à feu, Marseille, Montréal",
        "date_text": "Mars 2024",
        "blocks": [
            ("h1", "1. Synthèse"),
            ("p", "Ce rapport présente deux programmes qui misent sur la présence d'adultes de confiance dans la rue "
                  "pour éloigner les adolescents de la violence armée. À Marseille, le programme Passerelles déploie "
                  "des éducateurs de rue et des médiateurs dans les quartiers Nord, où les règlements de comptes liés "
                  "au trafic de stupéfiants touchent des victimes de plus en plus jeunes. À Montréal, les Équipes de rue "
                  "d'Ahuntsic-Nord associent travailleurs de rue, organismes communautaires et écoles secondaires pour "
                  "prévenir le port d'armes à feu chez les 12-24 ans."),
            ("h2", "Principaux résultats"),
            ("ul", [
                "À Marseille, 35 éducateurs de rue de Passerelles ont suivi 1 400 jeunes de 11 à 25 ans en 2023, dont "
                "420 repérés comme « guetteurs » ou sollicités par les réseaux de trafic.",
                "Parmi les jeunes accompagnés au moins six mois, 62 % sont retournés à l'école ou en formation.",
                "À Montréal, les signalements d'incidents impliquant une arme à feu autour des écoles du secteur ont "
                "baissé de 26 % en deux ans, contre 3 % dans les secteurs de comparaison.",
                "Le coût annuel moyen est de 2 600 euros par jeune accompagné à Marseille et de 3 100 dollars canadiens "
                "à Montréal.",
            ]),
            ("h1", "2. Marseille : le programme Passerelles"),
            ("p", "Depuis 2021, Passerelles recrute des éducateurs de rue issus des quartiers où ils interviennent. "
                  "Ils sont présents en soirée et le week-end, aux pieds des immeubles, près des points de deal et aux "
                  "abords des collèges. Leur première mission est de repérer les plus jeunes, parfois âgés de 11 ou 12 "
                  "ans, recrutés comme guetteurs pour quelques dizaines d'euros par jour."),
            ("p", "Chaque éducateur suit au plus 40 jeunes. L'accompagnement combine retour à l'école, stages en "
                  "entreprise, activités sportives et, si nécessaire, relogement temporaire de la famille hors du "
                  "quartier lorsque le jeune est menacé. Une cellule de veille réunit chaque semaine éducateurs, "
                  "collèges, protection de l'enfance et service municipal de prévention ; les informations nominatives "
                  "ne sont jamais transmises à la police sans l'accord de la famille, sauf danger immédiat."),
            ("p", "Les éducateurs interviennent aussi après chaque homicide : dans les 48 heures, ils rencontrent les "
                  "proches de la victime et les jeunes du quartier pour prévenir les représailles. Selon l'équipe, cette "
                  "médiation de crise a permis d'éviter au moins neuf représailles armées en 2023."),
            ("h1", "3. Montréal : les Équipes de rue d'Ahuntsic-Nord"),
            ("p", "Les Équipes de rue d'Ahuntsic-Nord ont été créées en 2022 après une série de fusillades impliquant "
                  "des adolescents. Douze travailleurs de rue, employés par des organismes communautaires, couvrent "
                  "les parcs, les stations de métro et les réseaux sociaux. Ils travaillent avec quatre écoles "
                  "secondaires, où une intervenante de milieu tient une permanence deux jours par semaine."),
            ("p", "Le programme repose sur trois volets : des ateliers dans les écoles sur les conflits en ligne et les "
                  "vidéos de provocation, un accompagnement individuel des jeunes repérés comme à risque, et un fonds "
                  "d'activités qui finance des ligues de basketball de soirée et des emplois d'été. Les travailleurs de "
                  "rue surveillent aussi les réseaux sociaux pour désamorcer les menaces publiées en ligne avant "
                  "qu'elles ne se règlent dans la rue."),
            ("h2", "Résultats à Montréal"),
            ("p", "Outre la baisse de 26 % des incidents liés aux armes à feu autour des écoles, les directions "
                  "d'école rapportent 40 % de suspensions en moins pour bagarre. Les jeunes interrogés disent surtout "
                  "avoir « quelqu'un à appeler » : 74 % connaissent le nom d'un travailleur de rue."),
            ("h1", "4. Leçons pour les autres villes"),
            ("ul", [
                "Aller vers les jeunes là où ils sont, le soir et le week-end, plutôt que d'attendre qu'ils viennent.",
                "Recruter des intervenants issus des quartiers et les soutenir : supervision, salaires stables, "
                "soutien psychologique après les homicides.",
                "Intervenir vite après chaque violence grave pour empêcher les représailles.",
                "Protéger la confidentialité : la confiance des familles est la condition de tout le reste.",
                "Mesurer avec des secteurs de comparaison et partager les données avec les écoles.",
            ]),
        ],
    },
]


# ---------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------
def _styles():
    ss = getSampleStyleSheet()
    body = ParagraphStyle(
        "Body", parent=ss["BodyText"], fontName="Helvetica", fontSize=10.5, leading=14.5,
        spaceAfter=7, hyphenationLang=hyphenate, hyphenationMinWordLength=8,
    )
    bullet = ParagraphStyle("Bullet", parent=body, spaceAfter=3)
    h1 = ParagraphStyle("H1", parent=ss["Heading1"], fontName="Helvetica-Bold", fontSize=16, leading=20,
                        spaceBefore=12, spaceAfter=8, textColor=colors.HexColor("#1d3557"))
    h2 = ParagraphStyle("H2", parent=ss["Heading2"], fontName="Helvetica-Bold", fontSize=12.5, leading=16,
                        spaceBefore=8, spaceAfter=5, textColor=colors.HexColor("#264653"))
    title = ParagraphStyle("TitleBig", parent=ss["Title"], fontName="Helvetica-Bold", fontSize=24, leading=30,
                           alignment=TA_CENTER, spaceAfter=18)
    subtitle = ParagraphStyle("Subtitle", parent=body, fontSize=14, leading=18, alignment=TA_CENTER, spaceAfter=30)
    meta = ParagraphStyle("Meta", parent=body, fontSize=11, alignment=TA_CENTER, spaceAfter=6)
    caption = ParagraphStyle("Caption", parent=body, fontName="Helvetica-Oblique", fontSize=9.5, spaceAfter=4)
    cell = ParagraphStyle("Cell", parent=body, fontSize=9, leading=11, spaceAfter=0)
    return dict(body=body, bullet=bullet, h1=h1, h2=h2, title=title, subtitle=subtitle, meta=meta,
                caption=caption, cell=cell)


class ReportDoc(SimpleDocTemplate):
    """Adds PDF outline entries (bookmarks) for H1/H2 headings."""

    def afterFlowable(self, flowable):
        level = getattr(flowable, "_outline_level", None)
        if level is None:
            return
        text = flowable.getPlainText()
        # a counter (not id()) keeps the output byte-identical across runs
        self._outline_counter = getattr(self, "_outline_counter", 0) + 1
        key = "sec%03d" % self._outline_counter
        self.canv.bookmarkPage(key)
        self.canv.addOutlineEntry(text, key, level=level, closed=False)


def build_report(rep: dict, out_dir: str = HERE) -> str:
    st = _styles()
    path = os.path.join(out_dir, rep["filename"])
    doc = ReportDoc(
        path, pagesize=A4, leftMargin=2.4 * cm, rightMargin=2.4 * cm, topMargin=2.6 * cm, bottomMargin=2.4 * cm,
        title=rep["title"], author=rep["author"], subject=rep["subject"], keywords=rep["keywords"],
        creator="pioc-search corpus/reports/make_reports.py", invariant=1,
    )
    header_text = f"{NETWORK_HEADER} — {rep['short_title']}"

    def on_page(canv, d):
        canv.saveState()
        w, h = A4
        canv.setFont("Helvetica", 8.5)
        canv.setFillColor(colors.HexColor("#555555"))
        canv.drawString(2.4 * cm, h - 1.5 * cm, header_text)
        canv.setStrokeColor(colors.HexColor("#bbbbbb"))
        canv.line(2.4 * cm, h - 1.7 * cm, w - 2.4 * cm, h - 1.7 * cm)
        canv.line(2.4 * cm, 1.7 * cm, w - 2.4 * cm, 1.7 * cm)
        canv.drawString(2.4 * cm, 1.2 * cm, FOOTER_LEFT)
        canv.drawRightString(w - 2.4 * cm, 1.2 * cm, f"Page {d.page}")
        canv.restoreState()

    story = [Spacer(1, 4.5 * cm),
             Paragraph(escape(rep["title"]), st["title"]),
             Paragraph(escape(rep["subtitle"]), st["subtitle"]),
             Paragraph(escape(rep["author"]), st["meta"]),
             Paragraph("Partners in Our Cities (PiOC)", st["meta"]),
             Paragraph(escape(rep["date_text"]), st["meta"]),
             Spacer(1, 3 * cm),
             Paragraph("This document is illustrative sample material written for the pioc-search project. "
                       "Organisations, programmes, figures and quotes are invented.", st["caption"]),
             PageBreak()]

    for kind, content in rep["blocks"]:
        if kind in ("h1", "h2"):
            para = Paragraph(escape(content), st[kind])
            para._outline_level = 0 if kind == "h1" else 1
            story.append(para)
        elif kind == "p":
            story.append(Paragraph(escape(content), st["body"]))
        elif kind == "ul":
            items = [ListItem(Paragraph(escape(t), st["bullet"]), leftIndent=14) for t in content]
            story.append(ListFlowable(items, bulletType="bullet", start="\u2013", leftIndent=14,
                                       bulletFontName="Helvetica", bulletFontSize=9))
            story.append(Spacer(1, 5))
        elif kind == "table":
            rows = [[Paragraph(escape(c), st["cell"]) for c in r] for r in content["rows"]]
            t = Table(rows, repeatRows=1, colWidths=[2.2 * cm, 2.2 * cm, 4.6 * cm, 1.3 * cm, 2.4 * cm, 2.3 * cm])
            t.setStyle(TableStyle([
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e9eef4")),
                ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#999999")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]))
            story.append(Paragraph(escape(content["caption"]), st["caption"]))
            story.append(t)
            story.append(Spacer(1, 8))
        else:  # pragma: no cover - data error
            raise ValueError(f"unknown block kind {kind!r}")

    doc.build(story, onFirstPage=on_page, onLaterPages=on_page)
    return path


def main() -> None:
    for rep in REPORTS:
        path = build_report(rep)
        print("wrote", os.path.relpath(path))


if __name__ == "__main__":
    main()
