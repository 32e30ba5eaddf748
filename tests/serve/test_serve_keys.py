import json
import stat

import pytest

from tailor.serve.keys import KeyStore, parse_groups


def test_a_key_authenticates_until_revoked_and_only_its_hash_is_stored(tmp_path):
    store = KeyStore(tmp_path / "keys.json")
    key, token = store.create(("hr", "public"), admin=True, name="ops")
    secret = token.split(".", 1)[1]

    assert store.authenticate(token) == key
    assert key.groups == ("hr", "public") and key.admin
    text = (tmp_path / "keys.json").read_text()
    assert secret not in text and key.hash in text
    assert stat.S_IMODE((tmp_path / "keys.json").stat().st_mode) == 0o600

    store.revoke(key.id)
    assert store.authenticate(token) is None
    assert store.entries()[0].revoked_at is not None


def test_a_running_store_sees_keys_created_and_revoked_by_another_process(tmp_path):
    server_side, cli_side = KeyStore(tmp_path / "keys.json"), KeyStore(tmp_path / "keys.json")
    assert server_side.authenticate("tailor-k0.nothing") is None
    key, token = cli_side.create(("public",))
    assert server_side.authenticate(token) == key
    cli_side.revoke(key.id)
    assert server_side.authenticate(token) is None


@pytest.mark.parametrize("forged", ["", "Bearer", "tailor-", "tailor-kabc", "tailor-kabc.", "x" * 500])
def test_malformed_or_forged_tokens_are_refused(tmp_path, forged):
    store = KeyStore(tmp_path / "keys.json")
    key, token = store.create(("public",))
    assert store.authenticate(forged) is None
    assert store.authenticate(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert store.authenticate(f"tailor-{key.id}.{'0' * 43}") is None


def test_a_malformed_key_file_fails_closed(tmp_path):
    store = KeyStore(tmp_path / "keys.json")
    _, token = store.create(("public",))
    (tmp_path / "keys.json").write_text(json.dumps({"keys": [{"id": "broken"}]}))
    assert store.authenticate(token) is None
    with pytest.raises(ValueError, match="malformed key file"):
        store.entries()


def test_groups_are_checked():
    assert parse_groups(" hr, public ,hr") == ("hr", "public")
    with pytest.raises(ValueError, match="groups: give at least one"):
        parse_groups(" , ")
    with pytest.raises(ValueError, match="invalid name"):
        parse_groups("hr,../etc")
