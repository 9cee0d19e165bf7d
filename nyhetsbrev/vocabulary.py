"""The words and colours a reader or coordinator sees, and the action plan's figures: one home.

Templates get the colours through their context (`accent`); the Swedish labels here are the
ones more than one module shows, so a table, a report and a preview never word a thing
differently.
"""

from __future__ import annotations

# Colours
ACCENT = "#1d4f91"  # the site's accent: links, the header line, an item without a campaign
DEFAULT_CAMPAIGN_COLOR = ACCENT  # a campaign without `color`; 8.6:1 against white
UNTAGGED_COLOR = "#5f6368"  # the report's bars for items without a campaign, goal or group

# The action plan (area "kommunikation"): a newsletter six to twelve times a year. `plan`
# and `report` both count the issues of `Content.counted`: dated in the year, no drafts.
ISSUES_PER_YEAR = (6, 12)

# An issue's status: its short label (tables, the report, the preview) and what it means.
STATUSES = {"draft": "utkast", "ready": "klart", "sent": "skickat"}
STATUS_MEANINGS = {"draft": "utkast", "ready": "klart att skicka", "sent": "skickat"}

# An item's type
TYPES = {"news": "Nyheter", "event": "Evenemang"}  # plural, as headings
TYPE_SINGULAR = {"news": "nyhet", "event": "evenemang"}

# The regional strategy's sub-goals ("delmål" 1-5), as the action plan names them
GOALS = {
    1: "Ett utökat och verkningsfullt förebyggande arbete mot våld",
    2: "Förbättrad upptäckt av våld",
    3: "Starkare skydd och stöd för våldsutsatta vuxna och barn",
    4: "Effektivare brottsbekämpning",
    5: "Förbättrad kunskap och metodutveckling",
}

# What a reader can do with an item (render.actions), in every output
REGISTER = "Anmäl dig"
READ_MORE = "Läs mer"
ADD_TO_CALENDAR = "Lägg till i kalendern"

CALENDAR_NAME = "Kalendarium"  # the events' heading in an issue, and the calendar's name


def status_label(status: str) -> str:
    """Return an issue status's short Swedish label (the status itself if unknown)."""
    return STATUSES.get(status, status)


def against_plan(count: int) -> int:
    """Return -1, 0 or 1: a year's count of issues below, within or above ISSUES_PER_YEAR."""
    fewest, most = ISSUES_PER_YEAR
    return -1 if count < fewest else 1 if count > most else 0
