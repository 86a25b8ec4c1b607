"""The step-up decisions, in one place and pure (levels in, answers out).

- whether a login reaches a level (``reaches``): the ``/authorize`` policy asks
  it of the session (``oauth/policy.py``), the factor flow asks it again of
  what the proof reached (``flows/factor.py``);
- which kinds of second factor can lift a login to a level (``kinds_reaching``,
  for ``authn.methods.step_up_kinds``);
- whether a login is strong enough for a sensitive change on a verified
  account (``strong_enough_for_change``): adding a factor or a new mobile
  number, for the dashboard. The pages choose the words."""

from .levels import RANK, SUBSTANTIAL

ID_KEY_GRACE = 600  # seconds after entering an ID key in which it counts as a strong login


def reaches(strength, required):
    """Whether a login of this strength reaches the ``required`` level."""
    return RANK[strength] >= RANK[required]


def kinds_reaching(strengths, required):
    """Of ``(kind, strength)`` pairs in their order, the kinds that can lift a
    login to ``required``."""
    return [kind for kind, strength in strengths if reaches(strength, required)]


def strong_login(strength):
    """A login with a second factor (or stronger): what officers and changes
    to a verified account need."""
    return reaches(strength, SUBSTANTIAL)


def strong_enough_for_change(trust_level, strength, id_key_at, now):
    """Whether this login may add a factor or change the mobile number. On a
    verified account a stolen password alone must not gain a factor that lifts
    logins to the account's level: it takes a second factor, or an ID key
    entered within ``ID_KEY_GRACE`` seconds."""
    if not reaches(trust_level, SUBSTANTIAL):
        return True
    return strong_login(strength) or now - (id_key_at or 0) <= ID_KEY_GRACE
