"""The release preview is read with the survivor, so it speaks the release's language.

Before: a release signed in Spanish was previewed in English only (the page had no
translated words), although staff go through it with the survivor before and after
they sign. Synthetic data only."""

from __future__ import annotations

import html
import re

from test_release_pages import Team, create_release, signed_release

from portal.models import Role

import factories as make


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_a_spanish_draft_is_previewed_in_spanish(client, db, keys):
    team = Team(client, db, keys)
    url = create_release(client, team, language="es")
    page = client.get(f"{url}/preview?as={team.community.public_id} advocate")
    assert page.status_code == 200
    text = _text(page.text)
    assert '<article lang="es">' in page.text
    assert "Este permiso es un borrador: no se ha compartido nada con él." in text, text
    assert "Lo que vería Shelter House (synthetic), una vez que usted firme" in text, text
    assert "Se queda en la agencia" in text
    # The role is said in the language too, with no English article in front of it.
    assert "Alguien con el rol de persona defensora en Shelter House (synthetic)" in text, text
    assert "would see" not in text and "Stays with your agency" not in text


def test_a_signed_spanish_release_is_previewed_in_spanish_and_staff_can_switch(client, db, keys):
    team = Team(client, db, keys)
    url = signed_release(client, team, language="es", keys=keys)
    asked = f"{url}/preview?as={team.community.public_id} advocate"
    text = _text(client.get(asked).text)
    assert "Lo que vería Shelter House (synthetic)" in text, text
    assert "Lo que dice el permiso" in text

    # The language links keep the choice of recipient and role.
    page = client.get(asked).text
    english_link = re.search(r'href="([^"]*language=en)"', page)
    assert english_link is not None, page
    english = _text(client.get(english_link.group(1).replace("&amp;", "&")).text)
    assert "Shelter House (synthetic) would see" in english, english
    assert "An advocate at Shelter House (synthetic)" in english, english


def test_an_english_release_is_previewed_in_english_as_before(client, db, keys):
    team = Team(client, db, keys)
    url = create_release(client, team)
    text = _text(client.get(f"{url}/preview?as={team.community.public_id} advocate").text)
    assert "This release is a draft: nothing has been shared under it." in text, text
    assert "An advocate at Shelter House (synthetic)" in text, text
    assert "Stays with your agency" in text


def test_a_signed_spanish_release_says_its_status_and_field_labels_in_spanish(
    client, db, keys, clock
):
    """Before: the status badge (the consent library's words, 'Active: the release is in
    effect until 2027-01-31') and the labels of what the recipient would see stayed in
    English on the Spanish preview."""
    from portal.services import sections

    team = Team(client, db, keys)
    plan = {"stage": "leaving", "emergency_contacts": "Synthetic line 555-0100"}
    sections.save_section(
        db, team.client_row, "safety_plan", plan, actor=team.user, keys=keys, at=clock()
    )
    db.flush()
    url = signed_release(client, team, language="es", keys=keys)
    text = _text(client.get(f"{url}/preview?as={team.community.public_id} advocate").text)
    assert "Vigente El permiso está vigente hasta el 31 de enero de 2027" in text, text
    assert "Etapa" in text and "Contactos de emergencia" in text, text
    assert "Synthetic line 555-0100" in text  # what the owner recorded stays as recorded
    for english in ("Active", "in effect until", "Emergency contacts", "Stage"):
        assert english not in text, english
    # The release's own page is a staff page: English, as the library says it.
    staff_page = _text(client.get(url).text)
    assert "Active" in staff_page and "in effect until 2027-01-31" in staff_page


def test_a_spanish_preview_says_recorded_choices_in_spanish_and_free_text_as_recorded(
    client, db, keys, clock
):
    """Before: a choice's recorded word ('leaving') stayed English on the Spanish preview
    while its label was Spanish. Free text that happens to spell a choice's word stays as
    recorded, and the staff's own pages keep the recorded words."""
    from portal.services import sections

    team = Team(client, db, keys)
    plan = {"stage": "leaving", "emergency_contacts": "open"}
    sections.save_section(
        db, team.client_row, "safety_plan", plan, actor=team.user, keys=keys, at=clock()
    )
    db.flush()
    url = signed_release(client, team, language="es", keys=keys)
    text = _text(client.get(f"{url}/preview?as={team.community.public_id} advocate").text)
    assert "Etapa saliendo" in text, text
    assert "Contactos de emergencia open" in text, text  # free text: never looked up
    english = _text(
        client.get(f"{url}/preview?as={team.community.public_id} advocate&language=en").text
    )
    assert "Stage leaving" in english, english


def test_a_spanish_preview_says_why_a_part_is_withheld_in_spanish(client, db, keys, clock):
    """Before: a needs list's line that the owner's policy keeps from the recipient read
    'withheld: the disclosure policy does not release substance use to an advocate at a
    community-based agency for MDT case review' on the Spanish preview, a finished English
    sentence. Now it is composed from the catalogue in the page's language (the section,
    role, kind of agency and purpose said in it too); the English preview and the staff's
    own pages say what they said."""
    from portal.services import sections

    team = Team(client, db, keys)
    needs = {
        "domains": {
            "food": {"status": "met", "note": "Synthetic pantry"},
            "substance use": {"status": "need identified", "note": "SYNTHETIC-SU-NOTE"},
        },
        "assessed_on": "2026-11-01",
    }
    sections.save_section(
        db, team.client_row, "needs_assessment", needs, actor=team.user, keys=keys, at=clock()
    )
    db.flush()
    url = signed_release(client, team, language="es", keys=keys)
    asked = f"{url}/preview?as={team.community.public_id} advocate"
    text = _text(client.get(asked).text)
    assert "SYNTHETIC-SU-NOTE" not in text
    assert (
        "consumo de sustancias : no se comparte: la política de la agencia no comparte "
        "«Consumo de sustancias» con alguien con el rol de persona defensora en una agencia "
        "comunitaria para la revisión del caso por el equipo (MDT)"
    ) in text, text
    for english in ("withheld", "disclosure policy", "advocate", "community-based", "review"):
        assert english not in text, english

    said = (
        "withheld: the disclosure policy does not release substance use to an advocate at a "
        "community-based agency for MDT case review"
    )
    english = _text(client.get(f"{asked}&language=en").text)
    assert f"substance use : {said}" in english, english


def test_a_spanish_preview_says_why_staff_are_not_shown_a_shared_section(client, db, keys, clock):
    """Before: 'Their content is not shown to you: the disclosure policy does not release
    medical to your agency's own staff in the role advocate for MDT case review' stayed
    English (marked lang="en") on the Spanish preview. The English preview says it as
    before."""
    from disclosure_helpers import SECRET_NOTE, release, world, write

    w = world(db, keys)
    write(db, keys, w, "medical", {"follow_up": SECRET_NOTE})
    row = release(db, keys, w, ["medical"])
    clock.advance(hours=1)
    make.login(client, make.user(db, w.owner, Role.ADVOCATE).username)
    asked = f"/releases/{row.public_id}/preview?agency={w.partner.public_id}&role=case_manager"
    spanish = client.get(f"{asked}&language=es").text
    assert SECRET_NOTE not in spanish
    assert (
        "No se le muestra el contenido: la política de la agencia no comparte «Salud física "
        "(médica)» con el personal de la propia agencia con el rol de persona defensora para "
        "la revisión del caso por el equipo (MDT)."
    ) in _text(spanish), _text(spanish)
    article = spanish.split('<article lang="es">', 1)[1]
    # The link to the English page is the only thing on it in English.
    assert "Their content" not in article and article.count('lang="en"') == 1

    english = html.unescape(_text(client.get(asked).text))
    assert (
        "Their content is not shown to you: the disclosure policy does not release medical to "
        "your agency's own staff in the role advocate for MDT case review."
    ) in english, english


def test_a_spanish_preview_refuses_a_role_not_held_there_in_spanish(client, db, keys):
    """Before: 'Choose one of the roles held at … from the list.' on the Spanish preview."""
    team = Team(client, db, keys)
    url = create_release(client, team, language="es")
    make.user(db, team.community, Role.CASE_MANAGER)  # the roles its staff hold
    db.flush()
    refused = client.get(f"{url}/preview?as={team.community.public_id} clinician")
    assert refused.status_code == 400
    text = html.unescape(_text(refused.text))
    assert "Elija de la lista uno de los roles que tiene el personal de Shelter House" in text
    assert "Choose one of the roles" not in text


def test_a_spanish_preview_says_a_withheld_proceeding_in_spanish(client, db, keys, clock):
    """Before: a checklist's option that the owner's policy keeps from the recipient (the
    legal section's immigration proceeding, kept from a system-based investigator) became
    a row 'Proceedings: immigration' reading 'withheld: the disclosure policy does not
    release immigration to an investigator ...' on the Spanish preview: the row is built
    for the API and the wire, in English. Now the preview says it from its facts, in the
    page's language; the English preview says what it said."""
    from portal.services import sections

    team = Team(client, db, keys)
    legal = {"proceedings": ["protective order", "immigration"], "notes": "SYNTHETIC-LEGAL"}
    sections.save_section(
        db, team.client_row, "legal_court", legal, actor=team.user, keys=keys, at=clock()
    )
    db.flush()
    url = signed_release(
        client,
        team,
        language="es",
        recipients=[team.system.public_id],
        sections=["legal_court", "immigration"],
        keys=keys,
    )
    asked = f"{url}/preview?as={team.system.public_id} investigator"
    text = _text(client.get(asked).text)
    assert "SYNTHETIC-LEGAL" in text, text
    assert "Procesos judiciales orden de protección" in text, text
    assert (
        "Procesos judiciales: inmigración no se comparte: la política de la agencia no "
        "comparte «Inmigración» con alguien con el rol de investigador/a en una agencia del "
        "sistema (gobierno) para la revisión del caso por el equipo (MDT)"
    ) in text, text
    for english in ("withheld", "Proceedings", "disclosure policy", "investigator"):
        assert english not in text, english

    english = _text(client.get(f"{asked}&language=en").text)
    assert "Proceedings: immigration withheld: the disclosure policy does not release" in (
        english
    ), english
