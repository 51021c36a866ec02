from django import forms
from django.contrib import admin
from django.utils.html import format_html, linebreaks

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
            "body": "Merge tokens: " + ", ".join("{" + t + "}" for t in sorted(wording.TOKENS)),
        }

    def clean(self):
        super().clean()
        data = self.cleaned_data
        try:
            wording.validate_template(
                channel=data.get("channel", ""),
                subject=data.get("subject", ""),
                body=data.get("body", ""),
            )
        except wording.TemplateError as error:
            raise forms.ValidationError(str(error)) from error
        return data


@admin.register(MessageTemplate)
class MessageTemplateAdmin(PracticeScopedAdmin):
    form = MessageTemplateForm
    list_display = ["key", "channel", "language", "updated_at"]
    list_filter = ["channel", "language", "key"]
    readonly_fields = ["preview"]

    @admin.display(description="Preview with sample values")
    def preview(self, obj: MessageTemplate) -> str:
        if obj is None or not obj.body:
            return "Save to see a preview."
        text = wording.render(obj.body, wording.SAMPLE_CONTEXT)
        size = ""
        if obj.channel == wording.SMS:
            measured = wording.sms_size(text)
            size = (
                f"{measured.characters} characters, {measured.segments} "
                f"{measured.encoding} segment(s)"
            )
        return format_html("<div>{}</div><p><em>{}</em></p>", linebreaks(text), size)
