"""Every catalogue translates every message the survivor may read (issue 19)."""

from portal import i18n
from portal.cli import translations


def test_english_and_spanish_are_shipped():
    assert {"en", "es"} <= set(i18n.languages())
    assert i18n.languages()["es"] == "Español"


def test_every_catalogue_translates_every_message():
    found = translations.messages()
    # The statements and the section titles are found although no template spells them out.
    assert i18n.statements("en").revocation in found
    for language in i18n.languages():
        assert translations.missing(language) == [], f"{language} lacks translations"


def test_a_catalogue_missing_a_statement_fails(tmp_path, monkeypatch):
    # A copy of the Spanish catalogue without the revocation statement must be caught.
    source = i18n.catalogue_path("es").read_text(encoding="utf-8")
    statement = i18n.statements("en").revocation
    blocks = source.split("\n\n")
    kept = [b for b in blocks if "take back (revoke)" not in b]
    assert len(kept) == len(blocks) - 1
    target = tmp_path / "es" / "LC_MESSAGES"
    target.mkdir(parents=True)
    (target / "messages.po").write_text("\n\n".join(kept), encoding="utf-8")
    monkeypatch.setattr(
        i18n, "catalogue_path", lambda lang: tmp_path / lang / "LC_MESSAGES" / "messages.po"
    )
    assert translations.missing("es") == [statement]


def test_spanish_statements_are_compiled_at_first_use():
    spanish = i18n.statements("es")
    assert spanish.no_conditioning.startswith("Usted no tiene que firmar este formulario.")
    assert i18n.statements("xx") == i18n.statements("en")  # unknown: the source text
