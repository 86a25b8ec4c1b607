"""Forms for raising the trust level. Checks that need no database are here
(tax number, dates, card number); the rest is in the service."""

from datetime import date

from ..i18n import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, PasswordField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Regexp, ValidationError

from ..forms import PRINTABLE
from . import cards
from .service import Person, normalise_tax_number, valid_tax_number

OLDEST = date(1900, 1, 1)


def _tax_number(form, field):
    if not valid_tax_number(field.data):
        raise ValidationError(_l("This is not a valid tax number (8 digits)."))


def _born(form, field):
    if field.data and not OLDEST <= field.data < date.today():
        raise ValidationError(_l("Enter your real date of birth."))


def _name(label):
    return StringField(label, validators=[DataRequired(_l("Enter the name.")), Length(max=100),
                                          PRINTABLE])


def _birthdate():
    return DateField(_l("Date of birth"), validators=[
        DataRequired(_l("Enter your date of birth.")), _born])


def _tax_field():
    return StringField(_l("Tax number"), validators=[
        DataRequired(_l("Enter your tax number.")), Length(max=16), _tax_number],
        filters=[normalise_tax_number])


class PersonForm(FlaskForm):
    """Who the person is, as the evidence must show."""

    given_name = _name(_l("Given name"))
    family_name = _name(_l("Family name"))
    birthdate = _birthdate()
    tax_number = _tax_field()

    def person(self):
        return Person(self.given_name.data.strip(), self.family_name.data.strip(),
                      self.birthdate.data, self.tax_number.data.strip())


CARD_PROBLEMS = {
    "length": _l("A card number has 12 to 19 digits."),
    "checksum": _l("This card number is not valid. Check it."),
    "expired": _l("This card has expired."),
    "format": _l("Enter the expiry as month and year."),
}


class CardForm(PersonForm):
    number = StringField(_l("Card number"), validators=[
        DataRequired(_l("Enter the card number.")), Length(max=32)])
    expiry_month = StringField(_l("Expiry month"), validators=[
        DataRequired(_l("Enter the expiry month.")), Regexp(r"^\d{1,2}$")])
    expiry_year = StringField(_l("Expiry year"), validators=[
        DataRequired(_l("Enter the expiry year.")), Regexp(r"^\d{2}(\d{2})?$")])
    cvc = PasswordField(_l("Security code (CVC)"), validators=[
        DataRequired(_l("Enter the security code.")),
        Regexp(r"^\d{3,4}$", message=_l("The security code has 3 or 4 digits."))])
    submit = SubmitField(_l("Check the card"))

    def validate_number(self, field):
        problem = cards.card_number_problem(cards.normalise_card_number(field.data))
        if problem:
            raise ValidationError(CARD_PROBLEMS[problem])

    def validate_expiry_year(self, field):
        problem = cards.expiry_problem(self.expiry_month.data, field.data, date.today())
        if problem:
            raise ValidationError(CARD_PROBLEMS[problem])


class CertificateForm(FlaskForm):
    """What a certificate does not say: the date of birth, and the tax number
    when it carries none."""

    birthdate = _birthdate()
    tax_number = _tax_field()
    submit = SubmitField(_l("Confirm my identity with this certificate"))


class IdKeyForm(FlaskForm):
    id_key = StringField(_l("ID key"), validators=[
        DataRequired(_l("Enter the ID key.")), Length(max=32)])
    submit = SubmitField(_l("Confirm the ID key"))


DOCUMENT_TYPES = [("id_card", _l("Identity card")), ("passport", _l("Passport")),
                  ("driving_licence", _l("Driving licence"))]


class BranchForm(PersonForm):
    """What the officer checked: the identity document and the person's data."""

    document_type = SelectField(_l("Identity document"))
    document_number = StringField(_l("Document number"), validators=[
        DataRequired(_l("Enter the document number.")), Length(max=32),
        Regexp(r"^[A-Za-z0-9 -]+$", message=_l("Letters and digits only."))])
    document_expiry = DateField(_l("Valid until"), validators=[
        DataRequired(_l("Enter the document's expiry date."))])
    submit = SubmitField(_l("Issue an ID key"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.document_type.choices = DOCUMENT_TYPES

    def validate_document_expiry(self, field):
        if field.data and field.data < date.today():
            raise ValidationError(_l("This document has expired: it cannot prove the identity."))

    def document(self):
        return {"type": self.document_type.data,
                "number": self.document_number.data.strip().upper(),
                "expiry": self.document_expiry.data.isoformat()}


class FindPersonForm(FlaskForm):
    query = StringField(_l("E-mail or mobile number"), validators=[
        DataRequired(_l("Enter an e-mail address or a mobile number.")), Length(max=254)])
    submit = SubmitField(_l("Find"))
