"""Staff views of the arena: entrants (exclude one), battles, votes (discard a user's)."""

from django.contrib import admin, messages
from django.db.models import Count

from council.arena.models import Battle, Entrant, OpenVote, Vote


@admin.register(Entrant)
class EntrantAdmin(admin.ModelAdmin):
    list_display = ("__str__", "mode", "excluded", "battle_count")
    list_editable = ("excluded",)
    list_filter = ("mode", "excluded")
    actions = ("exclude_entrants", "include_entrants")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("model").annotate(
            n_a=Count("battles_as_a", distinct=True), n_b=Count("battles_as_b", distinct=True))

    @admin.display(description="battles")
    def battle_count(self, obj):
        return obj.n_a + obj.n_b

    @admin.action(description="Exclude from new battles and from the leaderboard")
    def exclude_entrants(self, request, queryset):
        self.message_user(request, f"Excluded {queryset.update(excluded=True)} entrant(s).", messages.SUCCESS)

    @admin.action(description="Include again")
    def include_entrants(self, request, queryset):
        self.message_user(request, f"Included {queryset.update(excluded=False)} entrant(s).", messages.SUCCESS)


class VoteInline(admin.StackedInline):
    model = Vote
    extra = 0
    readonly_fields = ("voter", "winner", "names_model", "identity_words", "created_at")
    fields = (*readonly_fields, "discarded")
    can_delete = False


@admin.register(Battle)
class BattleAdmin(admin.ModelAdmin):
    list_display = ("__str__", "owner", "entrant_a", "entrant_b", "mode", "winner", "created_at")
    list_filter = ("mode", "created_at")
    search_fields = ("comparison__prompt", "owner__username")
    readonly_fields = ("id", "owner", "mode", "comparison", "entrant_a", "entrant_b", "created_at")
    list_select_related = ("owner", "comparison", "entrant_a__model", "entrant_b__model", "vote")
    inlines = (VoteInline,)

    @admin.display(description="vote")
    def winner(self, obj):
        vote = getattr(obj, "vote", None)
        return vote.get_winner_display() if vote else "–"

    def has_add_permission(self, request):
        return False


@admin.register(Vote)
class VoteAdmin(admin.ModelAdmin):
    list_display = ("battle", "voter", "winner", "names_model", "discarded", "created_at")
    list_filter = ("winner", "names_model", "discarded", "created_at")
    search_fields = ("voter__username",)
    readonly_fields = ("battle", "voter", "winner", "names_model", "identity_words", "created_at")
    list_select_related = ("battle__comparison", "voter")
    actions = ("discard", "discard_voters", "restore")

    @admin.action(description="Discard the selected votes")
    def discard(self, request, queryset):
        self.message_user(request, f"Discarded {queryset.update(discarded=True)} vote(s).", messages.SUCCESS)

    @admin.action(description="Discard every vote of the selected votes' users")
    def discard_voters(self, request, queryset):
        voters = set(queryset.values_list("voter", flat=True))
        count = Vote.objects.filter(voter__in=voters).update(discarded=True)
        self.message_user(request, f"Discarded {count} vote(s) of {len(voters)} user(s).", messages.SUCCESS)

    @admin.action(description="Count the selected votes again")
    def restore(self, request, queryset):
        self.message_user(request, f"Restored {queryset.update(discarded=False)} vote(s).", messages.SUCCESS)

    def has_add_permission(self, request):
        return False


@admin.register(OpenVote)
class OpenVoteAdmin(admin.ModelAdmin):
    list_display = ("comparison", "response", "voter", "created_at")
    list_select_related = ("comparison", "response__model", "voter")
    readonly_fields = ("comparison", "response", "voter", "created_at")

    def has_add_permission(self, request):
        return False
