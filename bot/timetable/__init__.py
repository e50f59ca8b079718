"""Timetable import: iCalendar files → lessons, their occurrences, a calendar trigger, an import plan."""
