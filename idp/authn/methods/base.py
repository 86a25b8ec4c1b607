"""The interface of a login method (``Method``), what a verified factor proves
(``Proof``), the verdict on an answer (``Outcome``), and the pure rule that
turns the proofs of one login into its ``amr`` and strength (``combine``)."""


from dataclasses import dataclass

from ...accounts.notices import NOTICES, method_added_notice
from ...extensions import db
from ...timeutil import utcnow
from ...levels import LOW, RANK, SUBSTANTIAL
from .models import LoginMethod


# Factor categories: two different ones make a multi-factor login.
KNOWLEDGE, POSSESSION, VERIFIED = "knowledge", "possession", "verified"


@dataclass(frozen=True)
class Proof:
    """What one verified factor proves: its ``amr`` values, its factor
    categories, and the strength it gives to a multi-factor login (high only
    for the phishing-resistant: a passkey with user verification)."""

    amr: tuple
    factors: frozenset
    strength: str = LOW

    def as_dict(self):
        return {"amr": list(self.amr), "factors": sorted(self.factors),
                "strength": self.strength}

    @classmethod
    def from_dict(cls, data):
        return cls(tuple(data["amr"]), frozenset(data["factors"]), data.get("strength", LOW))


@dataclass
class Outcome:
    """The verdict on what the person sent: a proof, or a message for them.
    ``failed`` attempts count towards the account's lock-out."""

    proof: Proof | None = None
    method: LoginMethod | None = None  # the row that was used or enrolled
    error: str | None = None
    failed: bool = False
    user_id: int | None = None  # who proved it (a passkey login finds out)

    @property
    def ok(self):
        return self.proof is not None


class Method:
    """A login method, whole: everything the login, step-up, re-authentication
    and enrolment pages, the dashboard and ``combine`` need to know about it.
    Adding a method is one subclass, registered with ``register``, and its
    template partials (``templates/methods/<kind>_factor.html`` and
    ``<kind>_enrol.html``). A method that can send its answer again (an SMS
    code) also defines ``resend(flow, user)``, which returns a refusal or None.
    What a method keeps between pages (a challenge, a secret being enrolled)
    goes in ``flow.scratch``."""

    kind = ""  # "password", "sms", "totp", "passkey", "certificate"
    amr = ()  # RFC 8176 values it contributes
    factors = frozenset()  # its factor categories (KNOWLEDGE, POSSESSION, VERIFIED)
    amr_factors = {}  # what each of its amr values proved, to rebuild a session's proof
    strength = LOW  # what it gives to a multi-factor login (see ``combine``)
    form_class = None
    enrol_form_class = None  # the enrolment form, when it differs from ``form_class``
    answer = "code"  # the form field a verdict's message belongs beside
    label = ""  # what the choice list says

    # Its place in the second-factor chooser when none was used yet (lower
    # first); None: not a second factor.
    chooser = None
    # Its place in the dashboard's "Add a login method" list; None: not enrolable.
    enrol_rank = None
    add_label = ""  # the dashboard's link to add it
    added = ""  # the notice to the owner once it was added
    alone_title = None  # the page title when it logs in on its own
    # Adding it needs a login as strong as the account's level (an SMS code
    # goes to the verified phone, so SMS does not).
    needs_strong_login = True

    @property
    def factor_template(self):
        """The partial that asks for the factor on the login/step-up page."""
        return f"methods/{self.kind}_factor.html"

    @property
    def enrol_template(self):
        """The partial of the enrolment page."""
        return f"methods/{self.kind}_enrol.html"

    def proof(self):
        """What a verified answer proves."""
        return Proof(self.amr, self.factors, self.strength)

    def available(self, app):
        """Whether this server offers the method at all."""
        return True

    def offered(self, user, rows, app):
        """Whether the dashboard offers to add it to this account now."""
        return self.available(app)

    def enrol_refusal(self, user):
        """Why this account cannot start adding it (a message), or None."""
        return None

    def whole_login(self, row):
        """Whether this added ``row`` is a whole login by itself, so that the
        account keeps a way in without its password."""
        return False

    def detail(self, row, user):
        """What the dashboard's list says about one added ``row`` beside its
        label (the phone it sends to, say), or None."""
        return None

    def answer_field(self, form):
        """The field of ``form`` that a verdict's message belongs beside."""
        return form[self.answer]

    def prepare(self, flow, user):
        """Context for the verify page (and any side effect, such as an SMS)."""
        return {}

    def verify(self, flow, user, form):
        raise NotImplementedError

    def begin_enrolment(self, flow, user):
        """Context for the enrolment page; keeps what it needs in ``flow.scratch``."""
        raise NotImplementedError

    def finish_enrolment(self, flow, user, form):
        """A new (uncommitted) ``LoginMethod`` row, or an error, in an ``Outcome``."""
        raise NotImplementedError


METHODS = {}  # kind -> the Method that handles it
# What each RFC 8176 value of a past login proved, to rebuild its proofs
# (from the registered methods' ``amr_factors``). "user" is only presence; a
# verifying key's session carries its strength.
AMR_FACTORS = {}


def register(method):
    """Make ``method`` a login method of this server."""
    METHODS[method.kind] = method
    AMR_FACTORS.update(method.amr_factors)
    NOTICES[method_added_notice(method.kind)] = method.added


def unregister(kind):
    """Take a method away again (tests); the amr values it alone used go too."""
    method = METHODS.pop(kind)
    NOTICES.pop(method_added_notice(kind), None)
    for value in method.amr_factors:
        if not any(value in other.amr_factors for other in METHODS.values()):
            AMR_FACTORS.pop(value, None)


def combine(proofs):
    """The ``amr`` list and the strength of a login made of these proofs.

    One factor category is "low", whatever it was. Two make ``mfa`` and at
    least "substantial", or the strongest proof's strength: "high" when one of
    them is a passkey with user verification (which is two factors itself)."""
    amr, factors = [], set()
    for proof in proofs:
        amr += [value for value in proof.amr if value not in amr]
        factors |= proof.factors
    if len(factors) < 2:
        return amr, LOW
    strongest = max([SUBSTANTIAL] + [proof.strength for proof in proofs], key=RANK.get)
    return amr + ["mfa"], strongest


def session_proof(amr, strength):
    """The proof a login session already holds, for stepping it up."""
    values = tuple(a for a in amr if a != "mfa")
    return Proof(values, frozenset(AMR_FACTORS[a] for a in values if a in AMR_FACTORS),
                 strength)


def methods_of(user_id, kind=None):
    query = db.select(LoginMethod).filter_by(user_id=user_id).order_by(LoginMethod.created_at,
                                                                        LoginMethod.id)
    if kind:
        query = query.filter_by(kind=kind)
    return db.session.execute(query).scalars().all()


def mark_used(method):
    method.last_used_at = utcnow()


def advance_counter(method, value):
    """Move the stored counter (a TOTP step, a sign count) up to ``value``;
    False when it is already there or past it. One conditional UPDATE, so of
    two parallel requests with the same code or assertion only one wins."""
    updated = db.session.execute(
        db.update(LoginMethod).where(LoginMethod.id == method.id, LoginMethod.counter < value)
        .values(counter=value).execution_options(synchronize_session=False))
    db.session.commit()
    if updated.rowcount == 1:
        method.counter = value
        return True
    return False
