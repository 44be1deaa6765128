"""Owner-side sources: the only code that reads an owner's section content for others.

Each kind of record an owner keeps (sealed section versions, the coordinator's minutes and
decisions, the writers' tasks, the mentor program's accompaniment, and any later kind)
implements `Source`; the section catalogue names which one a section comes from. Only
`portal.disclosure` imports this package (a test and an import contract check it): every
read here follows a decision of the disclosure point, audited in the owner's log.
"""

from portal.disclosure.sources.accompaniment import AccompanimentLog
from portal.disclosure.sources.base import Content, Item, Row, Source, SourceCache, Wanted
from portal.disclosure.sources.decisions import MeetingDecisions
from portal.disclosure.sources.minutes import MeetingMinutes
from portal.disclosure.sources.participation import CaseParticipation
from portal.disclosure.sources.referrals import MdtReferrals
from portal.disclosure.sources.sealed import SealedSections
from portal.disclosure.sources.tasks import TaskTexts
from portal.sections import Section

# The catalogue's `source` of a section -> who keeps it (None: sealed section versions).
SOURCES: dict[str | None, Source] = {
    None: SealedSections(),
    "meetings": MeetingMinutes(),
    "mentoring": AccompanimentLog(),
    "decisions": MeetingDecisions(),
    "tasks": TaskTexts(),
    "participation": CaseParticipation(),
    "referrals": MdtReferrals(),
}


def source_of(section: Section) -> Source:
    return SOURCES[section.source]


__all__ = [
    "SOURCES",
    "AccompanimentLog",
    "CaseParticipation",
    "Content",
    "Item",
    "MdtReferrals",
    "MeetingDecisions",
    "MeetingMinutes",
    "Row",
    "SealedSections",
    "Source",
    "SourceCache",
    "TaskTexts",
    "Wanted",
    "source_of",
]
