"""`portal keys rotate-data`, `portal keys reseal`, `portal keys data` and `portal keys
erase-data` on a node's database, as an operator runs them: a new data key, the records
moved onto it, what each key still seals, and a key that seals nothing erased. Synthetic
data only."""

from sqlmodel import select
from test_reseal_cli import node, registered  # noqa: F401 - a fixture

from portal.cli import main as cli
from portal.db import unit_of_work
from portal.models import AuditEntry

AGENCY = "Owner Agency (synthetic)"


def _data_lines(capsys) -> list[list[str]]:
    assert cli.main(["keys", "data"]) == 0
    return [line.split("\t") for line in capsys.readouterr().out.splitlines()]


def test_rotate_then_reseal_moves_every_record_onto_the_new_key(node, capsys):  # noqa: F811
    registered(node, ["Robin", "Sky", "Ash"])
    [[name, first, _, state, seals]] = _data_lines(capsys)
    assert (name, state, seals) == (AGENCY, "in use", "seals 6 records")

    assert cli.main(["keys", "rotate-data", AGENCY]) == 0
    said = capsys.readouterr().out.strip()
    assert said.startswith(f"{AGENCY}: new data key ")
    assert said.endswith("run `portal keys reseal` to seal those records again under the new key")
    [new, old] = _data_lines(capsys)
    assert (new[3], new[4]) == ("in use", "seals 0 records")
    assert old[1] == first and old[3].startswith("retired ") and old[4] == "seals 6 records"

    assert cli.main(["keys", "reseal", "--batch", "2"]) == 0
    out = capsys.readouterr().out
    assert (
        "client identities: 0 re-sealed for their place, 0 already, "
        "3 sealed again under the current data key" in out
    )
    assert (
        "section versions: 0 re-sealed for their place, 0 already, "
        "3 sealed again under the current data key" in out
    )
    assert (
        "6 records sealed under retired data keys were sealed again under their agency's "
        "current one: `portal keys data` shows what each key still seals" in out
    )
    [new, old] = _data_lines(capsys)
    assert (new[4], old[4]) == ("seals 6 records", "seals 0 records")

    assert cli.main(["keys", "reseal"]) == 0
    assert "client identities: 0 re-sealed for their place, 3 already" in capsys.readouterr().out


def test_rotating_an_unknown_agency_is_one_line(node, capsys):  # noqa: F811
    assert cli.main(["keys", "rotate-data", "Nobody Agency"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        "error: no agency named 'Nobody Agency' on this node; `portal agency list` shows them"
    )


def _erasable_line(capsys) -> list[str]:
    [line] = [line for line in _data_lines(capsys) if len(line) > 5]
    return line


def test_erase_data_refuses_a_key_still_needed_then_erases_it_once_nothing_needs_it(
    node,  # noqa: F811
    capsys,
):
    engine, _ = node
    registered(node, ["Robin", "Sky"])
    [[_, first, *_]] = _data_lines(capsys)
    assert cli.main(["keys", "erase-data", AGENCY, first, "--yes"]) == 4
    assert capsys.readouterr().err.strip() == (
        f"error: {first} is {AGENCY}'s current data key, which seals what its staff save: run "
        "`portal keys rotate-data` and `portal keys reseal` first"
    )
    assert cli.main(["keys", "rotate-data", AGENCY]) == 0
    capsys.readouterr()
    assert all(len(line) == 5 for line in _data_lines(capsys))  # none may be erased yet
    assert cli.main(["keys", "erase-data", AGENCY, first, "--yes"]) == 4
    assert capsys.readouterr().err.strip() == (
        f"error: {first} still seals 4 records (section versions 2, client identities 2): "
        "run `portal keys reseal` to seal them under the current key, then this again"
    )

    assert cli.main(["keys", "reseal"]) == 0
    capsys.readouterr()
    line = _erasable_line(capsys)
    assert line[1] == first and line[4] == "seals 0 records"
    assert line[5] == f"may be erased: portal keys erase-data '{AGENCY}' {first}"
    assert cli.main(["keys", "erase-data", AGENCY, first, "--yes"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        f"{AGENCY}: data key {first} erased; the node's running processes forget it within "
        "10 seconds"
    )
    [[_, new, _, state, seals]] = _data_lines(capsys)
    assert (state, seals) == ("in use", "seals 4 records") and new != first
    with unit_of_work(engine) as db:
        entry = db.exec(select(AuditEntry).where(AuditEntry.tag == "admin:key:erased")).one()
        assert entry.subject == first
    assert cli.main(["audit", "verify"]) == 0
    capsys.readouterr()
    # erased once: a second time it is no key of the agency's
    assert cli.main(["keys", "erase-data", AGENCY, first, "--yes"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {first} is not a data key of {AGENCY}; `portal keys data` lists its keys"
    )


def test_erase_data_asks_for_the_agencys_name_and_without_a_terminal_wants_yes(
    node,  # noqa: F811
    capsys,
    monkeypatch,
):
    registered(node, ["Robin"])
    [[_, first, *_]] = _data_lines(capsys)
    assert cli.main(["keys", "rotate-data", AGENCY]) == 0
    assert cli.main(["keys", "reseal"]) == 0
    capsys.readouterr()

    assert cli.main(["keys", "erase-data", AGENCY, first]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: without a terminal nothing can be asked: run again with --yes; nothing was changed"
    )
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    asked = []
    answers = iter(["yes", f"  {AGENCY.upper()} "])
    monkeypatch.setattr("builtins.input", lambda q: asked.append(q) or next(answers))
    assert cli.main(["keys", "erase-data", AGENCY, first]) == 1
    assert capsys.readouterr().out == "nothing was changed\n"
    assert asked[0].startswith(f"Erase {first}, a retired data key of {AGENCY}? There is no")
    assert asked[0].endswith(f"Type {AGENCY} to go on: ")
    assert _erasable_line(capsys)[1] == first  # still there
    assert cli.main(["keys", "erase-data", AGENCY, first]) == 0
    assert capsys.readouterr().out.startswith(f"{AGENCY}: data key {first} erased")
    assert len(_data_lines(capsys)) == 1


def test_erase_data_of_an_unknown_key_or_agency_is_one_line(node, capsys):  # noqa: F811
    registered(node, ["Robin"])
    assert cli.main(["keys", "erase-data", AGENCY, "nope", "--yes"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: nope is not a data key of {AGENCY}; `portal keys data` lists its keys"
    )
    assert cli.main(["keys", "erase-data", "Nobody Agency", "nope", "--yes"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: no agency named 'Nobody Agency' on this node; `portal agency list` shows them"
    )
