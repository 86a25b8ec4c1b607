"""Login sessions tell oauth when they end or go on (authn/sessions.py's
events, handled by oauth/session_events.py); a session never ends silently
while its tokens live on."""

import pytest
from blinker import Namespace

from idp.authn import sessions


def test_every_session_event_is_handled_once_the_app_is_built(app):
    for signal in (sessions.tokens_end, sessions.logged_out, sessions.user_tokens_end,
                   sessions.continued):
        assert len(signal.receivers) == 1, signal.name


def test_an_event_nobody_handles_is_refused():
    unheard = Namespace().signal("unheard")
    with pytest.raises(RuntimeError, match="nothing handles unheard"):
        sessions._send(unheard, "sid")
