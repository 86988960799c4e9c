"""The console's signed sessions and CSRF tokens (pure: no server)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from golive.web.sessions import KEY_FILE, SESSION_SECONDS, Signer

NOW = 2_000_000_000.0


def test_a_session_reads_back_until_it_expires() -> None:
    signer = Signer(b"k" * 32)
    session, value = signer.open(7, now=NOW)
    assert signer.read(value, now=NOW + 1) == session
    assert session.token_id == 7
    assert signer.read(value, now=NOW + SESSION_SECONDS - 1) == session
    assert signer.read(value, now=NOW + SESSION_SECONDS) is None


@pytest.mark.parametrize(
    "change",
    [
        lambda v: v.replace("v1.7.", "v1.8.", 1),  # another token
        lambda v: v[:-1] + ("A" if v[-1] != "A" else "B"),  # the signature
        lambda v: v.rsplit(".", 2)[0] + ".9999999999." + v.rsplit(".", 1)[1],  # the expiry
        lambda v: "",
        lambda v: "v1.7",
        lambda v: v + ".extra",
    ],
)
def test_a_changed_cookie_is_no_session(change: object) -> None:
    signer = Signer(b"k" * 32)
    _session, value = signer.open(7, now=NOW)
    assert callable(change)
    assert signer.read(change(value), now=NOW) is None


def test_another_install_s_key_signs_nothing_here() -> None:
    _session, value = Signer(b"a" * 32).open(7, now=NOW)
    assert Signer(b"b" * 32).read(value, now=NOW) is None


def test_csrf_tokens_belong_to_one_session() -> None:
    signer = Signer(b"k" * 32)
    mine, _ = signer.open(7, now=NOW)
    other, _ = signer.open(7, now=NOW)
    assert signer.csrf_matches(mine, signer.csrf_for(mine))
    assert not signer.csrf_matches(mine, signer.csrf_for(other))
    assert not signer.csrf_matches(mine, None)
    assert not signer.csrf_matches(mine, "")
    nonce = signer.signin_nonce()
    assert signer.signin_matches(nonce, signer.signin_csrf(nonce))
    assert not signer.signin_matches(signer.signin_nonce(), signer.signin_csrf(nonce))
    assert not signer.signin_matches(None, signer.signin_csrf(nonce))


def test_the_key_is_made_once_and_kept_private(tmp_path: Path) -> None:
    first = Signer.for_home(tmp_path)
    _session, value = first.open(3, now=NOW)
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600
    assert Signer.for_home(tmp_path).read(value, now=NOW) is not None
    with pytest.raises(ValueError, match="at least 32 bytes"):
        Signer(b"short")
