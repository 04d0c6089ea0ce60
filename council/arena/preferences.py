"""Open votes: the column a person prefers in an ordinary comparison, names in view."""

from council.arena.models import OpenVote
from council.comparisons.actions import Conflict
from council.comparisons.errors import SubmissionError
from council.comparisons.models import Response, Role


def record(user, response: Response) -> OpenVote:
    """One open vote per person per turn; marking another column moves it."""
    turn = response.comparison
    if response.role != Role.ANSWER or turn.responses.filter(role=Role.ANSWER).count() < 2:
        raise SubmissionError("A preference picks one answer among two or more in the same turn.")
    if not response.is_terminal:
        raise Conflict("Mark a preference once this answer has ended.")
    vote, _ = OpenVote.objects.update_or_create(comparison=turn, voter=user, defaults={"response": response})
    return vote
