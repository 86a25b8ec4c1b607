"""What the trust pages say when the trust service refuses: the service
decides (``TrustError.code``), the pages choose the words."""

from ..i18n import lazy_gettext as _l
from .service import (KEY_VOID, NO_KEY, NOT_HIGHER, NOT_OFFICER, OTHER_PERSON, OWN_ACCOUNT, TAKEN,
                      WRONG_KEY)

# In the account owner's words.
REFUSALS = {
    TAKEN: _l("This person already has an account with a verified identity. One person can "
              "have only one verified account: use that one, or ask at a branch."),
    OTHER_PERSON: _l("This account was verified for a different person."),
    NOT_HIGHER: _l("Your trust level is already this high."),
    NOT_OFFICER: _l("Only branch officers may do this."),
    OWN_ACCOUNT: _l("You cannot raise the trust level of your own account. Another officer "
                    "must verify you."),
    WRONG_KEY: _l("This ID key is not right. Check it and try again."),
    NO_KEY: _l("There is no valid ID key for your account. ID keys are issued at a branch "
               "and are valid for a short time only."),
    KEY_VOID: _l("Too many wrong ID keys: this one is no longer valid. Ask at a branch for a "
                 "new one."),
}
