"""Roster matching: display names across sessions → roster students, never guessed."""

from __future__ import annotations

import pytest

from bot.sessions.roster_match import (
    RosterError,
    RosterStudent,
    counts_as_opted_out,
    match_name,
    match_names,
    name_key,
    parse_roster_csv,
    roster_to_csv,
    safe_cell,
    strip_decorations,
)

ROSTER = (
    RosterStudent("s1", "Alex Kim", ("Lexi",), "alex.kim@school.example"),
    RosterStudent("s2", "José Núñez"),
    RosterStudent("s3", "Lena Schmidt"),
    RosterStudent("s4", "Alexander Rivera", ("Sasha",)),
    RosterStudent("s5", "Mia Wong"),
)


@pytest.mark.parametrize(("display", "key"), [
    ("Alex (phone)", "alex"),
    ("ALEX KIM 📱", "alex kim"),
    ("Kim, Alex", "alex kim"),
    ("Alex Kim - iPad", "alex kim"),
    ("Alex's iPhone", "alex"),
    ("Alex’s iPad", "alex"),
    ("iPhone von Lena", "lena"),
    ("Lena Schmidt [Guest]", "lena schmidt"),
    ("Mia Wong (she/her)", "mia wong"),
    ("José Núñez", "jose nunez"),
    ("Anne-Marie O'Neil", "anne marie oneil"),
    ("Alex Kim (2)", "alex kim"),
    ("Mia Wong on Galaxy S21", "mia wong"),
    ("🎧🎧", ""),
])
def test_name_key(display: str, key: str) -> None:
    assert name_key(display) == key


def test_strip_decorations_keeps_the_written_name() -> None:
    assert strip_decorations("José Núñez (laptop)") == "José Núñez"


@pytest.mark.parametrize(("display", "kind", "student"), [
    ("Alex Kim", "exact", "s1"),
    ("alex kim", "exact", "s1"),
    ("KIM, ALEX", "exact", "s1"),
    ("Kim Alex", "exact", "s1"),
    ("Alex Kim - iPad", "exact", "s1"),
    ("ALEX KIM 📱", "exact", "s1"),
    ("Jose Nunez", "exact", "s2"),  # accents
    ("Lexi", "alias", "s1"),
    ("Sasha (phone)", "alias", "s4"),
    ("alex.kim@school.example", "email", "s1"),
    ("Lena", "fuzzy", "s3"),  # shortened: shown for confirmation
    ("iPhone von Lena", "fuzzy", "s3"),
    ("L. Schmidt", "fuzzy", "s3"),
    ("Mia W", "fuzzy", "s5"),
    ("Lena Schmitt", "fuzzy", "s3"),  # near spelling
    ("Alexx Kim", "fuzzy", "s1"),
])
def test_matches(display: str, kind: str, student: str) -> None:
    m = match_name(display, ROSTER)
    assert (m.kind, m.student_id) == (kind, student), m
    assert m.needs_confirmation == (kind == "fuzzy")


def test_alex_on_a_phone_is_ambiguous_between_two_alexes() -> None:
    m = match_name("Alex (phone)", ROSTER)  # "Alex" shortens "Alex Kim" and "Alexander Rivera"
    assert m.kind == "ambiguous" and m.student_id is None
    assert m.candidates == ("s1", "s4")
    assert m.needs_confirmation and not m.certain


def test_alex_on_a_phone_with_one_alex_is_a_proposal_not_a_match() -> None:
    m = match_name("Alex (phone)", ROSTER[:3])
    assert (m.kind, m.student_id, m.certain) == ("fuzzy", "s1", False)
    assert "shortened form of 'alex kim'" in m.reason


def test_two_students_with_the_same_name_are_ambiguous() -> None:
    roster = (*ROSTER, RosterStudent("s6", "Mia Wong"))
    m = match_name("Mia Wong", roster)
    assert (m.kind, m.candidates) == ("ambiguous", ("s5", "s6"))


@pytest.mark.parametrize("display", ["Guest", "Student 3", "Al", "Bob", "📱", "Ki"])
def test_unmatched_names_stay_unmatched(display: str) -> None:
    m = match_name(display, ROSTER)
    assert (m.kind, m.student_id, m.candidates) == ("unmatched", None, ())


def test_a_teacher_confirmation_is_used_next_time() -> None:
    m = match_name("Alex (phone)", ROSTER, confirmed={name_key("Alex (phone)"): "s1"})
    assert (m.kind, m.student_id) == ("confirmed", "s1")
    stale = match_name("Alex (phone)", ROSTER, confirmed={"alex": "gone"})  # a deleted student
    assert stale.kind == "ambiguous"


def test_across_sessions_each_name_is_matched_once_in_order() -> None:
    sessions = [["Alex Kim", "Lena (phone)", "Guest"], ["Alex (phone)", "Lena Schmidt", "Alex Kim"]]
    found = match_names([n for s in sessions for n in s], ROSTER)
    assert list(found) == ["Alex Kim", "Lena (phone)", "Guest", "Alex (phone)", "Lena Schmidt"]
    assert {n: (m.kind, m.student_id) for n, m in found.items()} == {
        "Alex Kim": ("exact", "s1"), "Lena (phone)": ("fuzzy", "s3"), "Guest": ("unmatched", None),
        "Alex (phone)": ("ambiguous", None), "Lena Schmidt": ("exact", "s3")}


def test_opt_out_covers_unconfirmed_proposals() -> None:
    opted = {"s3"}
    assert counts_as_opted_out(match_name("Lena Schmidt", ROSTER), opted)
    assert counts_as_opted_out(match_name("Lena", ROSTER), opted)  # fuzzy: opted out until confirmed
    assert not counts_as_opted_out(match_name("Alex Kim", ROSTER), opted)
    assert counts_as_opted_out(match_name("Alex (phone)", ROSTER), {"s4"})  # ambiguous, one candidate opted out
    assert not counts_as_opted_out(match_name("Guest", ROSTER), opted)
    confirmed_other = match_name("Lena", ROSTER, confirmed={"lena": "s5"})
    assert not counts_as_opted_out(confirmed_other, opted)


# -- CSV ---------------------------------------------------------------------------------------

def test_parse_roster_csv() -> None:
    text = ("\ufeffname,aliases,email,student_id\r\n"
            "Alex Kim,Lexi;Alex K,alex.kim@school.example,s1\r\n"
            "\"Núñez, José\",,,\r\n"
            "\r\n"
            "Lena Schmidt,,lena@school.example,\r\n")
    students = parse_roster_csv(text)
    assert students == (
        RosterStudent("s1", "Alex Kim", ("Lexi", "Alex K"), "alex.kim@school.example"),
        RosterStudent("nunez-jose", "Núñez, José"),
        RosterStudent("lena@school.example", "Lena Schmidt", (), "lena@school.example"))
    assert match_name("José Núñez", students).student_id == "nunez-jose"  # "Last, First" matches too


def test_columns_in_any_order() -> None:
    assert parse_roster_csv("student_id,name\n7,Mia Wong\n") == (RosterStudent("7", "Mia Wong"),)


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty"),
    ("student,email\nx,y\n", "line 1: no 'name' column"),
    ("name,phone\nMia,123\n", "line 1: unknown column(s) phone"),
    ("name,name\nMia,Mia\n", "line 1: column(s) name appear more than once"),
    ("name,student_id\nMia,1\nLeo,1\n", "line 3, column 2 (student_id): student_id '1' is already used on line 2"),
    ("name,email\nMia,mia@x.example\nMia Two,MIA@x.example\n",
     "line 3, student_id (made from the e-mail or name): student_id 'mia@x.example' is already used on line 2"),
    ("name,email\nMia,not-an-address\n", "line 2, column 2 (email): 'not-an-address' is not an e-mail address"),
    ("name,email\n,mia@x.example\n", "line 2, column 1 (name): the name is empty"),
    ("name\nMia,extra\n", "line 2: 2 fields"),
    ("name\n" + "x" * 201 + "\n", "line 2, column 1 (name): longer than 200 characters"),
    ("name,aliases\nMia,\"M\x07\"\n", "line 2, column 2 (aliases): control character U+0007 is not allowed"),
    ("email,name\n,\"Mia\u202eKim\"\n", "line 2, column 2 (name): control character U+202E is not allowed"),
    ("name\nMia\n\n\"Leo\nBo\"\n", "line 5, column 1 (name): control character U+000A"),  # quoted newline
])
def test_bad_rosters_name_the_line(text: str, message: str) -> None:
    with pytest.raises(RosterError) as err:
        parse_roster_csv(text)
    assert message in str(err.value)


def test_export_escapes_spreadsheet_formulas_and_reads_back() -> None:
    students = (RosterStudent("s1", "=HYPERLINK(\"http://x.example\")", ("+1", "@me", "Al"), "a@x.example"),
                RosterStudent("-2", "Mia, \"the\" Wong"), RosterStudent("s3", "Ｎormal"))
    text = roster_to_csv(students)
    lines = text.split("\r\n")
    assert lines[0] == "name,aliases,email,student_id"
    assert lines[1] == "\"'=HYPERLINK(\"\"http://x.example\"\")\",'+1;@me;Al,a@x.example,s1"
    assert lines[2] == "\"Mia, \"\"the\"\" Wong\",,,'-2"
    assert [safe_cell(v) for v in ("＝1", "\tx", "a=b", "")] == ["'＝1", "'\tx", "a=b", ""]
    back = parse_roster_csv(text)
    assert [s.name for s in back] == ["'=HYPERLINK(\"http://x.example\")", "Mia, \"the\" Wong", "Ｎormal"]


@pytest.mark.parametrize(("text", "message"), [
    ("name,aliases,email,student_id\nAda,,,s1\n\"Ben Okafor,Ben,,s2\n",
     "line 3: a quoted cell starting here is never closed"),
    ("name,email\n\"Ada\"x,a@x.example\n", "line 2: the line is not valid CSV"),
])
def test_broken_quotes_are_refused_not_read_as_one_long_name(text: str, message: str) -> None:
    """Python's csv reads an unclosed quote as one cell up to the end of the file; a roster must
    refuse it (it would make "Ben Okafor,Ben,,s2" one student's name)."""
    with pytest.raises(RosterError) as err:
        parse_roster_csv(text)
    assert message in str(err.value)


def test_semicolon_separated_rosters_from_spreadsheets_are_read() -> None:
    """German Excel (and other comma-decimal locales) saves "CSV" with ';' between columns;
    aliases are then in quotes, still separated by ';'."""
    text = "\ufeffname;aliases;email;student_id\r\nAlex Kim;\"Lexi;Alex K\";alex@x.example;s1\r\nLena Schmidt;;;\r\n"
    assert parse_roster_csv(text) == (RosterStudent("s1", "Alex Kim", ("Lexi", "Alex K"), "alex@x.example"),
                                      RosterStudent("lena-schmidt", "Lena Schmidt"))
    assert parse_roster_csv("name\nMia;Mio\n") == (RosterStudent("mia-mio", "Mia;Mio"),)  # one column: a comma CSV
