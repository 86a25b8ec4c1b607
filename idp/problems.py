"""Every problem at once, as the GOV.UK pattern asks: on submit, a form's own
validators and the checks that need more (the password rule, the database)
all run, so the error summary lists everything that is wrong in one go rather
than the first thing. The summary and the messages beside the fields are the
macros in templates/_forms.html."""


def validate_all(form, *checks):
    """Whether a submitted form is acceptable. Every field is validated; then
    each ``(field_names, check)`` runs ``check(form)`` (which puts messages on
    fields) unless one of those fields already has a problem, so a field gets
    one kind of message at a time. A bad CSRF token runs no further checks."""
    if not form.is_submitted():
        return False
    form.validate()
    csrf = getattr(form, "csrf_token", None)
    if csrf is not None and csrf.errors:
        return False
    for names, check in checks:
        if not any(form[name].errors for name in names):
            check(form)
    return not form.errors


def add_error(field, message):
    """One more message on ``field`` (its list is a tuple until validated)."""
    field.errors = [*field.errors, message]
