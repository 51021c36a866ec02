"""The practice admin's import page: upload a FHIR file and read the dry run's report, then
apply it. Between the two steps the file waits in the session encrypted (Fernet, with the
field-encryption keys) and expires after IMPORT_EXPIRY_SECONDS; applying removes it."""

from cryptography.fernet import InvalidToken
from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from telehealth.accounts.access import practice_admin_required
from telehealth.crypto.keys import encrypt_bytes, fernet
from telehealth.fhir import imports
from telehealth.fhir_import.forms import ImportFileForm

SESSION_KEY = "fhir_import_file"
IMPORT_EXPIRY_SECONDS = 30 * 60


def _page(request, form: ImportFileForm, *, report=None, status: int = 200):
    return render(
        request,
        "fhir_import/import.html",
        {
            "form": form,
            "report": report,
            "counts": report.counts() if report is not None else None,
            "expiry_minutes": IMPORT_EXPIRY_SECONDS // 60,
        },
        status=status,
    )


@practice_admin_required
@require_http_methods(["GET", "POST"])
def upload(request):
    if request.method == "GET":
        return _page(request, ImportFileForm())
    form = ImportFileForm(request.POST, request.FILES)
    if not form.is_valid():
        return _page(request, form, status=400)
    data = form.cleaned_data["file"].read(imports.MAX_BYTES + 1)
    try:
        report = imports.import_run(user=request.user, data=data, apply=False)
    except imports.ImportFileError as error:
        form.add_error("file", str(error))
        return _page(request, form, status=400)
    request.session[SESSION_KEY] = encrypt_bytes(data).decode()
    return _page(request, ImportFileForm(), report=report)


@practice_admin_required
@require_POST
def apply(request):
    token = request.session.pop(SESSION_KEY, None)
    try:
        data = fernet().decrypt(token.encode(), ttl=IMPORT_EXPIRY_SECONDS) if token else None
    except InvalidToken:
        data = None
    if data is None:
        messages.error(request, _("That upload has expired or was already applied. Upload again."))
        return redirect("fhir_import:upload")
    report = imports.import_run(user=request.user, data=data, apply=True)
    return _page(request, ImportFileForm(), report=report)
