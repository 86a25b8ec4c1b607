"""Forms of the self-service flows. Labels are the product's words (Slovenian
through the translation layer); checks that need the database live in the flows."""

from babel import Locale
from flask_babel import get_locale
from ..i18n import lazy_gettext as _l
from flask_wtf import FlaskForm
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, country_code_for_region
from wtforms import (BooleanField, EmailField, HiddenField, PasswordField, SelectField,
                     StringField, SubmitField, TelField)
from wtforms.validators import DataRequired, Length

from ..forms import CODE_CHECKS

DEFAULT_REGION = "SI"


def region_choices():
    """Countries with their calling codes, in the page's language; Slovenia first."""
    names = Locale.parse(str(get_locale())).territories
    regions = {r for rs in COUNTRY_CODE_TO_REGION_CODE.values() for r in rs if r.isalpha()
               and len(r) == 2 and r in names}
    rest = sorted(regions - {DEFAULT_REGION}, key=lambda r: names[r])
    return [(r, f"{names[r]} (+{country_code_for_region(r)})")
            for r in [DEFAULT_REGION, *rest]]


def _password():
    return PasswordField(_l("Password"), validators=[
        DataRequired(_l("Enter a password.")), Length(max=1024)])


def _password_repeat():
    return PasswordField(_l("Repeat the password"), validators=[
        DataRequired(_l("Enter the password again.")), Length(max=1024)])


class NewPasswordForm(FlaskForm):
    password = _password()
    password_repeat = _password_repeat()


class DetailsForm(FlaskForm):
    # Fields in the page's order: the error summary lists problems in it.
    email = EmailField(_l("E-mail"), validators=[
        DataRequired(_l("Enter your e-mail address.")), Length(max=254)])
    password = _password()
    password_repeat = _password_repeat()
    phone_region = SelectField(_l("Country"), default=DEFAULT_REGION)
    phone = TelField(_l("Mobile phone number"), validators=[
        DataRequired(_l("Enter your mobile phone number.")), Length(max=32)])
    terms = BooleanField(_l("I agree to the Terms of use"), validators=[
        DataRequired(_l("Tick the box to agree to the Terms of use."))])
    interaction = HiddenField()
    submit = SubmitField(_l("Next"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.phone_region.choices = region_choices()


class EmailCodeForm(FlaskForm):
    code = StringField(_l("Confirmation code"), validators=CODE_CHECKS)
    submit = SubmitField(_l("Confirm"))


class SmsCodeForm(FlaskForm):
    code = StringField(_l("SMS one-time password"), validators=CODE_CHECKS)
    submit = SubmitField(_l("Confirm"))


class PukAcknowledgementForm(FlaskForm):
    stored = BooleanField(_l("I have written down my PUK and keep it in a safe place"),
                          validators=[DataRequired(
                              _l("Tick the box once you have stored the PUK."))])
    submit = SubmitField(_l("Next"))


class PukForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[
        DataRequired(_l("Enter your e-mail address.")), Length(max=254)])
    puk = StringField(_l("PUK code"), validators=[
        DataRequired(_l("Enter your PUK.")), Length(max=32)])
    interaction = HiddenField()
    submit = SubmitField(_l("Next"))


class ChoiceForm(FlaskForm):
    finish = SubmitField(_l("Finish registration → TO THE SERVICE"))
    methods = SubmitField(_l("Register additional login methods"))
