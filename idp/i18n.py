"""Translated text that is safe to put in a page.

Flask-Babel's lazy strings declare themselves HTML (``__html__`` returns the
text as it is), so Jinja would not escape them, and neither would the session
when a flash message is stored: a lazy message that quotes a name a person
typed (a login method's name, a name from a card) would be markup. These lazy
strings are escaped like any other text when they meet HTML; plain-text
e-mail and SMS templates, which do not escape, read them as they are."""

from flask_babel import gettext
from flask_babel.speaklater import LazyString
from markupsafe import escape


class LazyText(LazyString):
    def __html__(self):
        return str(escape(str(self)))


def lazy_gettext(string, **variables):
    """Like Flask-Babel's ``lazy_gettext``, but escaped when rendered into HTML."""
    return LazyText(gettext, string, **variables)
