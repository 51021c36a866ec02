"""Search over encrypted threads: each word of a subject or message is kept only as a blind
index (an HMAC under BLIND_INDEX_KEY), so a query word finds threads by equality without any
plaintext at rest. Whole words only; no prefixes or fuzzy matching, by design."""

import re
import unicodedata

from django.db.models import Q, QuerySet

from messaging.models import SearchTerm, Thread
from telehealth.crypto.keys import blind_index

WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
MAX_WORDS = 400  # per message; a pasted novel does not need every word searchable


def _fold(word: str) -> str:
    plain = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in plain if not unicodedata.combining(c))


def terms(text: str) -> set[str]:
    words = {_fold(w) for w in WORD.findall(text or "")[:MAX_WORDS]}
    return {blind_index(f"search:{w}") for w in words if len(w) >= 2}


def index(*, thread: Thread, text: str) -> None:
    SearchTerm.objects.bulk_create(
        [SearchTerm(thread=thread, term=t) for t in terms(text)], ignore_conflicts=True
    )


def filter_threads(threads: QuerySet[Thread], query: str) -> QuerySet[Thread]:
    """Threads whose patient's name contains the query, or whose words include every word of
    the query."""
    query = query.strip()
    if not query:
        return threads
    by_words = Q()
    hashed = terms(query)
    if hashed:
        ids = None
        for term in hashed:
            matching = SearchTerm.objects.filter(term=term).values("thread_id")
            ids = matching if ids is None else ids.filter(thread_id__in=matching)
        by_words = Q(pk__in=ids)
    by_name = Q(patient__legal_name__icontains=query) | Q(patient__preferred_name__icontains=query)
    return threads.filter(by_name | by_words) if hashed else threads.filter(by_name)
