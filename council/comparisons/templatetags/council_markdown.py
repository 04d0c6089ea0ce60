"""`{{ text|markdown }}`: sanitized HTML from council.lib.markdown."""

from django import template
from django.utils.safestring import mark_safe

from council.lib import markdown as md

register = template.Library()


@register.filter
def markdown(source):
    return mark_safe(md.render(source or ""))  # safe: nh3 sanitized it


@register.filter
def word_count(source):
    return len((source or "").split())
