"""The release preview is read with the survivor, so it speaks the release's language.

Before: a release signed in Spanish was previewed in English only (the page had no
translated words), although staff go through it with the survivor before and after
they sign. Synthetic data only."""

from __future__ import annotations

import re

from test_release_pages import Team, create_release, signed_release


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
    url = signed_release(client, team, language="es")
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
    url = signed_release(client, team, language="es")
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
    url = signed_release(client, team, language="es")
    text = _text(client.get(f"{url}/preview?as={team.community.public_id} advocate").text)
    assert "Etapa saliendo" in text, text
    assert "Contactos de emergencia open" in text, text  # free text: never looked up
    english = _text(
        client.get(f"{url}/preview?as={team.community.public_id} advocate&language=en").text
    )
    assert "Stage leaving" in english, english
