"""Key wrapping, sealing and the blind index."""

from portal import crypto


def test_seal_round_trip_and_wrong_key_fails():
    secret, other = crypto.new_data_secret(), crypto.new_data_secret()
    sealed = crypto.seal_json(secret, {"given_name": "Robin"})
    assert b"Robin" not in sealed
    assert crypto.open_json(secret, sealed) == {"given_name": "Robin"}
    try:
        crypto.open_json(other, sealed)
    except Exception as error:
        assert "decrypt" in str(error).lower() or error
    else:
        raise AssertionError("opened with the wrong key")


def test_search_digest_normalises_case_accents_and_spacing():
    secret = crypto.new_data_secret()
    a = crypto.search_digest(secret, "  Zoë ", "O'Example-Smith", "2010-05-17")
    b = crypto.search_digest(secret, "zoe", "o example smith", "2010-05-17")
    assert a == b
    assert a != crypto.search_digest(secret, "zoe", "o example smith", "2010-05-18")


def test_search_digest_depends_on_the_agency_key():
    a = crypto.search_digest(crypto.new_data_secret(), "Robin", "Example", "2010-05-17")
    b = crypto.search_digest(crypto.new_data_secret(), "Robin", "Example", "2010-05-17")
    assert a != b


def test_key_wrapper_round_trip():
    wrapper = crypto.KeyWrapper(crypto.new_data_secret())
    assert wrapper.unwrap(wrapper.wrap(b"secret")) == b"secret"
