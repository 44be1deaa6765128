"""Consent releases for minors and in the survivor's language, as a review found them.

Each test is named after what should happen, and failed on the code the review read, for
the reason its comment gives. Synthetic data only."""

from __future__ import annotations

import json
import re
import shutil
from datetime import date

import pytest
from sqlmodel import select
from test_release_pages import Team, create_release, sign_form, signed_release

from portal import i18n
from portal.cli import translations
from portal.models import ConsentRelease
from portal.web import consent_pages

import factories as make


def _verdict(html: str) -> str:
    """The result panel of the verify page (what is shown in the chosen language)."""
    found = re.search(r'<section class="panel wide verdict.*?</section>', html, re.S)
    assert found, html[-2000:]
    return re.sub(r"\s+", " ", found.group(0))


def _summary(html: str) -> str:
    """The "What you are agreeing to" facts of a printed release."""
    found = re.search(r'<dl class="facts">.*?</dl>', html, re.S)
    assert found, html[-2000:]
    return re.sub(r"\s+", " ", found.group(0))


# --- the printed form says who signs as the signature will record it -------------------


def test_a_draft_printed_after_the_18th_birthday_says_the_adult_signs_alone_in_its_summary(
    client, db, keys, clock
):
    # Before: a draft prepared while the client was 17 and printed after their 18th birthday
    # has signature lines for an adult alone, while its "Who signs" line, what the client
    # reads as the terms, still says "a minor, and a parent, legal guardian or custodian":
    # the paper contradicts itself, and it is not what the release will record
    # (client_is_minor false, no second signer) when the adult signs it.
    team = Team(client, db, keys)
    team.client_row = make.client_record(db, team.owner, keys, birth=date(2008, 11, 5))
    url = create_release(client, team)
    clock.advance(days=4)  # 18 on 5 November, where the MDT is
    team.sign_in_again(client)
    printed = client.get(f"{url}/print").text
    assert "Name of the person signing" in printed  # the lines already follow the birthday
    summary = _summary(printed)
    assert "The client, an adult." in summary, summary
    assert "a minor" not in summary, summary


# --- the verify page's result in the chosen language ----------------------------------


def test_the_verify_result_in_spanish_shows_no_english_code_for_the_signature(client, db, keys):
    # Before: the result panel, in Spanish, reads "Firma: válida (active)" for a genuine
    # release and "no válida (bad signature)" for an altered one: the verdict's code is
    # printed raw, in English, beside its translation.
    team = Team(client, db, keys)
    url = signed_release(client, team, language="es", keys=keys)
    envelope = client.get(f"{url}/signed.json").content

    def verify_in_spanish(content: bytes) -> str:
        page = client.post(
            "/consent/verify",
            data={"csrf_token": team.token, "language": "es"},
            files={"document": ("release.json", content, "application/json")},
        )
        assert page.status_code == 200
        return _verdict(page.text)

    genuine = verify_in_spanish(envelope)
    assert "Válida y en vigor ahora" in genuine
    assert "(active)" not in genuine, genuine
    altered = json.loads(envelope)
    altered["release"]["sections"].append("mental_health")
    tampered = verify_in_spanish(json.dumps(altered).encode())
    assert "(bad signature)" not in tampered, tampered


def _content(html: str) -> str:
    """The page's own part (`<main>`) with its title: the site's menus stay staff's English."""
    title = re.search(r"<title>(.*?)</title>", html, re.S)
    main = re.search(r'<main id="main">(.*?)</main>', html, re.S)
    assert title and main, html[-2000:]
    return re.sub(r"\s+", " ", title.group(1) + " " + main.group(1))


# The verify page's own words around the result, in English (its form, its headings).
VERIFY_PAGE_ENGLISH = [
    "Verify a release",
    "Verify a signed release",
    "Check that a release file was signed",
    "Upload or paste",
    "Signed release file",
    "or paste its text",
    "Show the result in",
    ">Verify</button>",
    "Public keys",
    "every agency's signing keys",
]


def test_the_verify_page_in_spanish_has_its_form_and_headings_in_spanish(client, db, keys):
    # Before: with the result asked for in Spanish, the result panel is Spanish but the page
    # around it is not: the title, "Verify a signed release" and its lede, the form's
    # heading "Upload or paste", its labels, the "Verify" button and the public keys' line
    # stay English, and so do the messages beside a file the form cannot take.
    team = Team(client, db, keys)
    url = signed_release(client, team, language="es", keys=keys)
    envelope = client.get(f"{url}/signed.json").content
    english = _content(client.get("/consent/verify").text)
    assert [words for words in VERIFY_PAGE_ENGLISH if words not in english] == []

    def in_spanish(response, status: int) -> str:
        assert response.status_code == status
        page = _content(response.text)
        assert [words for words in VERIFY_PAGE_ENGLISH if words in page] == [], page
        for words in ("Comprobar un permiso firmado", "Subir o pegar", ">Comprobar</button>"):
            assert words in page, page
        return page

    verified = client.post(
        "/consent/verify",
        data={"csrf_token": team.token, "language": "es"},
        files={"document": ("release.json", envelope, "application/json")},
    )
    assert "Válida y en vigor ahora" in in_spanish(verified, 200)
    nothing_sent = client.post("/consent/verify", data={"csrf_token": team.token, "language": "es"})
    page = in_spanish(nothing_sent, 400)
    assert "Elija un archivo de permiso firmado o pegue su texto." in page
    assert "Choose a signed release file" not in page
    # The consent library's reason is English: the reader is told in Spanish, and its words
    # are kept, marked as English, for the IT administrator.
    not_json = client.post(
        "/consent/verify",
        data={"csrf_token": team.token, "language": "es", "pasted": "not a signed release"},
    )
    page = in_spanish(not_json, 400)
    field = re.search(r'<p class="field-error" id="pasted-error">(.*?)</p>', page)
    assert field and field.group(1) == "Este archivo no se puede leer como un permiso firmado."
    assert '<dd lang="en">The document is not valid JSON' in page


# --- the translation tooling ----------------------------------------------------------


def test_the_message_template_holds_every_word_the_verify_result_translates():
    # Before: the verify page translates the release's state with
    # `_(state_words[...])`, but STATE_WORDS (portal/web/consent_pages.py) are not marked
    # with N_, so `portal i18n template` leaves them out. `portal i18n check` passes a new
    # language without them (its result then reads "no: it has ended" in English), and the
    # update the locale README prescribes (pybabel update --no-fuzzy-matching) makes the
    # Spanish ones obsolete, so a Spanish result goes back to English.
    template = translations.messages()
    missing = [words for words in consent_pages.STATE_WORDS.values() if words not in template]
    assert missing == []


@pytest.fixture
def locale_with_brazilian_portuguese(tmp_path, monkeypatch):
    """The shipped catalogues, and pt_BR added as the locale README says (`pybabel init
    ... -l pt_BR`, Babel's name for the locale), its messages copied from Spanish."""
    shutil.copytree(i18n.locale_dir(), tmp_path / "locale")
    target = tmp_path / "locale" / "pt_BR"
    shutil.copytree(tmp_path / "locale" / "es", target)
    monkeypatch.setattr(i18n, "locale_dir", lambda: tmp_path / "locale")
    i18n.languages.cache_clear()
    i18n.translations.cache_clear()
    yield "pt-BR"  # the language's tag, as the portal offers it and a release carries it
    i18n.languages.cache_clear()
    i18n.translations.cache_clear()


def test_a_language_added_with_a_region_can_be_chosen_for_a_release(
    client, db, keys, locale_with_brazilian_portuguese
):
    # Before: a catalogue added the way the README says, for a language with a region
    # (pybabel init -l pt_BR), shows in every language list as "Português (Brasil)", but
    # the release library refuses its tag: "'pt_BR' is not a language tag like en or es."
    # (consent/validate.py wants BCP-47, pt-BR). Staff can never prepare a release in the
    # language the client reads, though the portal offers it.
    language = locale_with_brazilian_portuguese
    team = Team(client, db, keys)
    form = client.get(f"/clients/{team.client_row.public_id}/releases/new").text
    assert f'value="{language}"' in form  # offered
    response = client.post(
        f"/clients/{team.client_row.public_id}/releases",
        data={
            "csrf_token": team.token,
            "recipients": [team.community.public_id],
            "sections": ["safety_plan"],
            "purpose": "mdt_case_review",
            "effective_date": "2026-11-02",
            "expiry_kind": "date",
            "end_date": "2027-01-31",
            "language": language,
        },
    )
    assert response.status_code == 303, re.sub(r"\s+", " ", response.text)[-1500:]


# --- a signer's name as they write it ---------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        # Japanese, as usually written: a kanji family name and a given name in hiragana
        # and kanji ("CJK and Hiragana" in one word).
        "\u4f50\u85e4 \u307e\u308a\u5b50",
        # A name in katakana with its long-vowel mark, U+30FC ("Katakana and
        # Katakana-hiragana").
        "\u30de\u30ea\u30fc \u30b5\u30c8\u30a6",
        # Hawaiian, with the \u02bbokina, U+02BB ("Latin and Modifier").
        "Ka\u02bbiulani Kaw\u0101nanakoa",
    ],
)
def test_a_client_signs_with_their_name_written_in_their_own_script(client, db, keys, name):
    # Before: consent.validate refuses the name as one that "mixes letters of two
    # alphabets in one word": mixed_alphabets (consent/validate.py) takes the first word
    # of each letter's Unicode name for its alphabet, so the kanji and kana of one
    # Japanese name, the katakana long-vowel mark, and the Hawaiian \u02bbokina each count as
    # a second alphabet (its own comment says CJK ideographs name no alphabet to mix up
    # with). A survivor cannot sign in the way they write their own name.
    team = Team(client, db, keys)
    url = create_release(client, team)
    response = client.post(f"{url}/sign", data=sign_form(team, signer_name=name))
    refusal = re.search(r'<div class="error-summary".*?</div>', response.text, re.S)
    assert response.status_code == 303, refusal.group(0) if refusal else response.status_code
    row = db.exec(
        select(ConsentRelease).where(ConsentRelease.public_id == url.split("/")[-1])
    ).one()
    assert row.state == "signed"
