"""`portal keys rotate-data`, `portal keys reseal` and `portal keys data` on a node's
database, as an operator runs them: a new data key, the records moved onto it, and what
each key still seals. Synthetic data only."""

from test_reseal_cli import node, registered  # noqa: F401 - a fixture

from portal.cli import main as cli

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
