"""oauth's part when login sessions end or go on (the events of
``authn/sessions.py``): the tokens issued in a session die with it, its
clients are told by back-channel logout, and when the same person logs in
again the old session's tokens and clients go on with the new one."""

from ..authn import sessions
from .backchannel import carry_over, session_ended
from .tokens import adopt_session_tokens, revoke_session_tokens, revoke_user_tokens


def _tokens_end(sid):
    revoke_session_tokens(sid)


def _logged_out(sid, user_id, sub):
    session_ended(sid, user_id, sub)


def _user_tokens_end(user_id):
    revoke_user_tokens(user_id)


def _continued(old_sid, new_sid):
    carry_over(old_sid, new_sid)  # its clients hear of the new session's logout
    adopt_session_tokens(old_sid, new_sid)  # and its tokens end with it


def connect():
    """Handle the login-session events (once per process; calling again is harmless)."""
    sessions.tokens_end.connect(_tokens_end, weak=False)
    sessions.logged_out.connect(_logged_out, weak=False)
    sessions.user_tokens_end.connect(_user_tokens_end, weak=False)
    sessions.continued.connect(_continued, weak=False)
