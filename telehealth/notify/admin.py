from typing import Any

from django import forms
from django.contrib import admin
from django.utils.html import format_html, linebreaks
from django.utils.text import format_lazy
from django.utils.translation import gettext, gettext_lazy

from telehealth.accounts.admin import PracticeScopedAdmin
from telehealth.notify import wording
from telehealth.notify.models import MessageTemplate

KEY_CHOICES = sorted({(key, key) for key, _channel, _lang in wording.BUILT_IN})


class MessageTemplateForm(forms.ModelForm):
    key = forms.ChoiceField(choices=KEY_CHOICES)

    class Meta:
        model = MessageTemplate
        fields = ["key", "channel", "language", "subject", "body"]
        help_texts = {
            "body": format_lazy(
                "{}{}",
                gettext_lazy("Merge tokens: "),
                ", ".join("{" + t + "}" for t in sorted(wording.TOKENS)),
            ),
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        channel = data.get("channel", "")
        # Each text is checked on its own so the reason shows beside the field at fault.
        for name in ("subject", "body"):
            if name not in data:
                continue
            texts = {"subject": "", "body": "", name: data[name]}
            try:
                wording.validate_template(channel=channel, **texts)
            except wording.TemplateError as error:
                self.add_error(name, str(error))
        return data


@admin.register(MessageTemplate)
class MessageTemplateAdmin(PracticeScopedAdmin):
    form = MessageTemplateForm
    list_display = ["key", "channel", "language", "updated_at"]
    list_filter = ["channel", "language", "key"]
    readonly_fields = ["preview"]

    @admin.display(description=gettext_lazy("Preview with sample values"))
    def preview(self, obj: MessageTemplate) -> str:
        if obj is None or not obj.body:
            return gettext("Save to see a preview.")
        try:
            wording.validate_template(channel=obj.channel, subject=obj.subject, body=obj.body)
        except wording.TemplateError:
            # An unsaved, refused wording comes back to the form: its error says why.
            return gettext("Correct the wording to see a preview.")
        text = wording.render(obj.body, wording.SAMPLE_CONTEXT)
        size = ""
        if obj.channel == wording.SMS:
            measured = wording.sms_size(text)
            size = (
                f"{measured.characters} characters, {measured.segments} "
                f"{measured.encoding} segment(s)"
            )
        return format_html("<div>{}</div><p><em>{}</em></p>", linebreaks(text), size)
