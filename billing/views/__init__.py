"""Billing's pages, one module per area: encounters (worklist, review and sign), worklists
(totals, CSV, monitoring close to a threshold), claims (837P batches), remittances (835
import and denials) and superbills (the patient's PDF)."""
