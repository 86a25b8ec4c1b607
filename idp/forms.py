"""Form pieces every page shares."""

from flask_wtf import FlaskForm
from wtforms.validators import DataRequired, Regexp

from .i18n import lazy_gettext as _l

# Names people give things (login methods, officers' notes): no control
# characters (PostgreSQL refuses NUL).
PRINTABLE = Regexp(r"^[^\x00-\x1f\x7f]*$",
                   message=_l("Use letters, digits and punctuation only."))

# A six-digit one-time code (e-mail, SMS), as every code form asks it.
CODE_CHECKS = [DataRequired(_l("Enter the code.")),
               Regexp(r"^\s*\d{6}\s*$", message=_l("The code has 6 digits."))]


class CsrfForm(FlaskForm):
    """A form whose only field is its CSRF token (cancel, re-send)."""
