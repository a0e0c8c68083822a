"""The staff pages' forms (Flask-WTF: each carries the session's CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, RadioField, StringField
from wtforms.validators import DataRequired, Length

from ..accounts.passwords import MAX_LENGTH
from .i18n import LANGUAGES


class LoginForm(FlaskForm):
    """Name and password."""

    name = StringField("Name", validators=[DataRequired(), Length(max=63)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=MAX_LENGTH)])
    next = HiddenField()


class LogoutForm(FlaskForm):
    """Log out this browser, or every session of the account."""

    everywhere = BooleanField()


class LanguageForm(FlaskForm):
    """The language switch."""

    lang = RadioField(choices=list(LANGUAGES), validators=[DataRequired()])
    next = HiddenField()
