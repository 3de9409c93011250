"""The pseudonym key: from the environment through dg.EnvVar, else generated once under FACTORY_HOME."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from factory.defs.resources import build_resources
from factory.resources.pseudonyms import KEY_ENV, KEY_FILE, PseudonymKey, load_or_create_key


def test_a_key_is_generated_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "home" / KEY_FILE
    key = load_or_create_key(path)
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(path) == key, "the same key on every later use"


def test_a_key_file_open_to_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE
    load_or_create_key(path)
    path.chmod(0o644)
    with pytest.raises(ValueError, match="chmod 600"):
        load_or_create_key(path)


def test_a_damaged_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE
    path.write_text("not hex\n", encoding="ascii")
    path.chmod(0o600)
    with pytest.raises(ValueError, match="does not hold a hex key"):
        load_or_create_key(path)


def test_the_environment_secret_wins_and_must_be_long_enough(tmp_path: Path) -> None:
    resource = PseudonymKey(key_file=str(tmp_path / KEY_FILE), secret="s" * 20)
    assert resource.key() == b"s" * 20
    assert not (tmp_path / KEY_FILE).exists()
    with pytest.raises(ValueError, match=f"{KEY_ENV} must be at least 16 bytes"):
        PseudonymKey(key_file=str(tmp_path / KEY_FILE), secret="short").key()


def test_build_resources_reads_the_secret_through_an_env_var(
    factory_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    resource = build_resources()["pseudonyms"]
    assert resource.key() == load_or_create_key(factory_home / KEY_FILE)
    monkeypatch.setenv(KEY_ENV, "a-secret-of-enough-length")
    resource = build_resources()["pseudonyms"]
    assert resource.key() == b"a-secret-of-enough-length"
    assert "a-secret-of-enough-length" not in repr(resource), "only the variable's name is configured"
