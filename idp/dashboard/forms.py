from ..i18n import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField, SubmitField, TelField
from wtforms.validators import DataRequired, Length

from ..forms import PRINTABLE

from ..flows.forms import DEFAULT_REGION, NewPasswordForm, region_choices


class RenameForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(_l("Enter a name.")),
                                                Length(max=64), PRINTABLE])
    submit = SubmitField(_l("Rename"))


class ConfirmForm(FlaskForm):
    submit = SubmitField(_l("Confirm"))


class PasswordChangeForm(NewPasswordForm):
    submit = SubmitField(_l("Change the password"))


class EmailChangeForm(FlaskForm):
    email = EmailField(_l("New e-mail address"), validators=[
        DataRequired(_l("Enter your e-mail address.")), Length(max=254)])
    submit = SubmitField(_l("Send a confirmation code"))


class PhoneChangeForm(FlaskForm):
    phone_region = SelectField(_l("Country"), default=DEFAULT_REGION)
    phone = TelField(_l("New mobile phone number"), validators=[
        DataRequired(_l("Enter your mobile phone number.")), Length(max=32)])
    submit = SubmitField(_l("Send a confirmation code"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.phone_region.choices = region_choices()
