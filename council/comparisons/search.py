"""Finding a user's threads by what was asked or answered in any of their turns."""

from django.db.models import Q

from council.comparisons.access import comparisons_for, threads_for
from council.comparisons.models import Comparison


def threads_matching(user, query: str):
    """The first turns of the user's threads (newest first) where some turn's prompt or answer contains `query`.

    A follow-up knows only its parent, so matching turns are walked up to their first
    turn: one query per level of the deepest matching thread.
    """
    threads = threads_for(user)
    if not query:
        return threads
    turns = comparisons_for(user).filter(Q(prompt__icontains=query) | Q(responses__text__icontains=query))
    level = dict(turns.values_list("id", "parent_id"))
    roots = set()
    while level:
        roots.update(turn for turn, parent in level.items() if parent is None)
        parents = {parent for parent in level.values() if parent is not None}
        level = dict(Comparison.objects.filter(id__in=parents).values_list("id", "parent_id")) if parents else {}
    return threads.filter(id__in=roots)
