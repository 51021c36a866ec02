"""Results and documents shared with a patient: lab results, imaging reports, visit summaries
and education material, uploaded by staff (or taken from the practice's education library),
announced to the patient through notify's outbox, read and downloaded in the portal.

Why an app of its own, in layer 3 beside intake, messaging and rpm, and not part of `visits`:
a shared document belongs to a patient, and only sometimes to a visit (an outside lab result,
a leaflet sent months later). Below `visits`, the documents stay reachable from every place
that shows a patient (the chart, the portal, and later the visit record and e-visits, which
read them through `documents.selectors`), while a document tied to a visit names the
scheduling Appointment (layer 2) the visit hangs on. Nothing here imports intake, messaging,
rpm, visits or billing.

Who may do what (the rule; `selectors.kinds_shareable_by` and `documents_visible_to`):
- clinicians share, see and withdraw every kind, for patients they may see (care team, or an
  active emergency grant, which is itself audited);
- front desk and practice admins share, see and withdraw education material only: lab
  results, imaging reports and visit summaries are clinical and stay out of their sight;
- clinicians and practice admins add items to the practice's education library; every staff
  member of the practice may open them (leaflets, not PHI);
- the patient sees their own documents until one is withdrawn; everyone else gets 404.
"""
