"""`portal roster entry|sign|import|export|list` between two nodes' databases (issue 16)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import select

from portal.cli import main as cli
from portal.crypto import KeyWrapper
from portal.db import make_engine, unit_of_work
from portal.models import Agency, Node
from portal.services import agencies
from portal.settings import from_environment

AT = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


class Nodes:
    """Two nodes, each its own database and secrets file; `use(name)` points the CLI at one."""

    def __init__(self, tmp_path, monkeypatch):
        self.tmp_path, self.monkeypatch = tmp_path, monkeypatch
        monkeypatch.delenv("PORTAL_KEK", raising=False)
        monkeypatch.delenv("PORTAL_SESSION_KEY", raising=False)

    def use(self, name: str):
        self.monkeypatch.setenv("DATABASE_URL", f"sqlite:///{self.tmp_path / (name + '.db')}")
        self.monkeypatch.setenv("PORTAL_SECRETS_FILE", str(self.tmp_path / f"{name}-secrets.json"))

    def make(self, name: str, agency_name: str, kind: str, discipline: str) -> str:
        self.use(name)
        assert cli.main(["db", "upgrade"]) == 0
        settings = from_environment()
        engine = make_engine(settings.database_url)
        with unit_of_work(engine) as db:
            made = agencies.create_agency(
                db,
                name=agency_name,
                kind=kind,
                discipline=discipline,
                actor=None,
                keys=KeyWrapper(settings.secrets.kek_bytes()),
                at=AT,
            )
            public_id = made.public_id
        engine.dispose()
        return public_id

    def engine(self, name: str):
        self.use(name)
        return make_engine(from_environment().database_url)


@pytest.fixture
def nodes(tmp_path, monkeypatch):
    return Nodes(tmp_path, monkeypatch)


def _signed(nodes, tmp_path, capsys) -> tuple[str, str]:
    nodes.make("a", "Coordinating CAC (synthetic)", "community", "advocacy")
    nodes.make("b", "Police Unit (synthetic)", "system", "law_enforcement")
    nodes.use("b")
    capsys.readouterr()
    assert (
        cli.main(
            [
                "roster",
                "entry",
                "--node",
                "http://127.0.0.1:9102",
                "--mou-signed",
                "2026-01-15",
                "--review-due",
                "2027-01-15",
            ]
        )
        == 0
    )
    (tmp_path / "members.json").write_text(capsys.readouterr().out)
    nodes.use("a")
    out = tmp_path / "roster.json"
    assert (
        cli.main(
            [
                "roster",
                "sign",
                str(tmp_path / "members.json"),
                "--coordinator",
                "Coordinating CAC (synthetic)",
                "--node",
                "http://127.0.0.1:9101",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    kid = json.loads(out.read_text())["signature"]["kid"]
    return str(out), kid


def test_a_roster_signed_on_the_coordinating_node_is_imported_on_another(nodes, tmp_path, capsys):
    path, kid = _signed(nodes, tmp_path, capsys)
    nodes.use("b")
    assert cli.main(["roster", "import", path, "--coordinator-key", kid]) == 0
    assert "2 member agencies, 1 hosted on this node" in capsys.readouterr().out
    engine = nodes.engine("b")
    with unit_of_work(engine) as db:
        coordinator = db.exec(
            select(Agency).where(Agency.name == "Coordinating CAC (synthetic)")
        ).one()
        assert db.get(Node, coordinator.node_id).base_url == "http://127.0.0.1:9101"
    engine.dispose()
    # The same document on both nodes.
    nodes.use("b")
    assert cli.main(["roster", "export", "--out", str(tmp_path / "b.json")]) == 0
    assert json.loads((tmp_path / "b.json").read_text()) == json.loads(Path(path).read_text())
    assert cli.main(["roster", "import", path]) == 0  # held already: no change
    assert "already in force" in capsys.readouterr().out
    assert cli.main(["roster", "list"]) == 0
    listed = capsys.readouterr().out
    assert "Police Unit (synthetic) (hosted here)" in listed
    assert "review due 2027-01-15" in listed


def test_import_failures_are_one_line_with_their_exit_status(nodes, tmp_path, capsys):
    path, kid = _signed(nodes, tmp_path, capsys)
    nodes.use("b")
    envelope = json.loads(Path(path).read_text())
    envelope["roster"]["members"][0]["node"] = "http://127.0.0.1:6666"
    (tmp_path / "tampered.json").write_text(json.dumps(envelope))
    capsys.readouterr()

    tampered = str(tmp_path / "tampered.json")
    assert cli.main(["roster", "import", tampered, "--coordinator-key", kid]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad signature" in err

    assert cli.main(["roster", "import", path]) == 2  # no roster held and no key given
    assert "--coordinator-key" in capsys.readouterr().err

    (tmp_path / "junk.json").write_text("{")
    assert cli.main(["roster", "import", str(tmp_path / "junk.json")]) == 2
    assert cli.main(["roster", "import", str(tmp_path / "missing.json")]) == 2
    assert cli.main(["roster", "export"]) == 4  # nothing held yet

    # The coordinator's node signs version 2; version 1 then cannot replace it.
    assert cli.main(["roster", "import", path, "--coordinator-key", kid]) == 0
    nodes.use("a")
    second = tmp_path / "second.json"
    assert (
        cli.main(
            [
                "roster",
                "sign",
                str(tmp_path / "members.json"),
                "--coordinator",
                "Coordinating CAC (synthetic)",
                "--node",
                "http://127.0.0.1:9101",
                "--out",
                str(second),
            ]
        )
        == 0
    )
    nodes.use("b")
    assert cli.main(["roster", "import", str(second)]) == 0
    capsys.readouterr()
    assert cli.main(["roster", "import", path]) == 4
    assert "not newer" in capsys.readouterr().err


def test_a_roster_that_cannot_be_signed_says_so_not_that_an_import_failed(nodes, tmp_path, capsys):
    """Before: `portal roster sign --node not-a-url` answered "roster not imported", on the
    coordinating node, where nothing is imported."""
    _signed(nodes, tmp_path, capsys)
    capsys.readouterr()
    nodes.use("a")
    arguments = ["roster", "sign", str(tmp_path / "members.json"), "--node", "not-a-url"]
    arguments += ["--coordinator", "Coordinating CAC (synthetic)"]
    assert cli.main([*arguments, "--out", str(tmp_path / "unsigned.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: roster not signed: ") and "not-a-url" in err
    assert not (tmp_path / "unsigned.json").exists()


def _sign_on_a(nodes, tmp_path, name: str) -> Path:
    nodes.use("a")
    out = tmp_path / name
    arguments = ["roster", "sign", str(tmp_path / "members.json"), "--out", str(out)]
    arguments += ["--coordinator", "Coordinating CAC (synthetic)"]
    assert cli.main([*arguments, "--node", "http://127.0.0.1:9101"]) == 0
    return out


def _coordinator_keys_held_on_b(nodes) -> set[str]:
    from portal.federation import membership

    engine = nodes.engine("b")
    with unit_of_work(engine) as db:
        held = {key.key_id for key in membership.held(db)[1].coordinator.current_keys}
    engine.dispose()
    return held


def test_after_the_coordinator_rotates_its_key_other_nodes_stop_trusting_the_old_one(
    nodes, tmp_path, capsys
):
    """Before: the roster signed after `portal keys rotate` (signed with the old key, which
    every node trusts) named the old key current beside the new one, so every node went on
    trusting the retired key, which may have leaked, as the coordinator's. Now it names it
    retired; the operator is told to sign the next roster, which the new key signs."""
    path, old = _signed(nodes, tmp_path, capsys)
    nodes.use("b")
    assert cli.main(["roster", "import", path, "--coordinator-key", old]) == 0
    nodes.use("a")
    assert cli.main(["keys", "rotate", "Coordinating CAC (synthetic)"]) == 0
    capsys.readouterr()
    handover = _sign_on_a(nodes, tmp_path, "handover.json")
    said = capsys.readouterr().err
    assert f"a handover: signed with the retired key {old}" in said, said
    assert json.loads(handover.read_text())["signature"]["kid"] == old
    nodes.use("b")
    assert cli.main(["roster", "import", str(handover)]) == 0
    (new,) = _coordinator_keys_held_on_b(nodes)
    assert new != old, "node B still trusts the coordinator's retired key"
    following = _sign_on_a(nodes, tmp_path, "next.json")
    assert json.loads(following.read_text())["signature"]["kid"] == new
    assert "a handover" not in capsys.readouterr().err
    nodes.use("b")
    assert cli.main(["roster", "import", str(following)]) == 0
    assert _coordinator_keys_held_on_b(nodes) == {new}


def test_a_roster_of_no_member_is_not_signed(nodes, tmp_path, capsys):
    """Before: an empty list was signed and put in force: a roster of the coordinator
    alone, every partner gone from it."""
    nodes.use("a")
    members = tmp_path / "none.json"
    members.write_text("[]")
    arguments = ["roster", "sign", str(members), "--coordinator", "Coordinating CAC (synthetic)"]
    arguments += ["--node", "http://127.0.0.1:9101", "--out", str(tmp_path / "r.json")]
    assert cli.main(arguments) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "lists no member" in err and err.count("\n") == 1
    assert not (tmp_path / "r.json").exists()
