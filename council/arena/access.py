"""Who may see which battle: its owner only (a battle is never shared)."""

from django.http import Http404

from council.arena.models import Battle


def get_battle_for_user(user, battle_id) -> Battle:
    if not user.is_authenticated:
        raise Http404("No such battle.")
    try:
        return Battle.objects.select_related("comparison", "entrant_a__model", "entrant_b__model").get(
            id=battle_id, owner=user
        )
    except (Battle.DoesNotExist, ValueError):
        raise Http404("No such battle.")
