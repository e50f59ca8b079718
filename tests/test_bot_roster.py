"""Feeds → stable students: rejoins keep one student, namesakes stay two."""

from bot.sessions.roster import Roster, clean_name


def test_a_student_who_drops_and_rejoins_stays_one_student() -> None:
    r = Roster()
    ada, new = r.joined("feed-1", "Ada")
    assert new and ada.participant_id == "p1"
    r.left("feed-1")
    assert r.present() == []
    back, new = r.joined("feed-9", "  ada ")  # new feed id, same name modulo case/space
    assert not new and back.participant_id == "p1" and back.display_name == "Ada"
    assert [s.participant_id for s in r.present()] == ["p1"]


def test_the_same_feed_id_maps_back_to_its_student() -> None:
    r = Roster()
    r.joined("f1", "Ben")
    r.left("f1")
    s, new = r.joined("f1", "Benjamin")  # a renamed but reconnecting client keeps its feed
    assert not new and s.participant_id == "p1"


def test_namesakes_present_together_are_two_students() -> None:
    r = Roster()
    a, _ = r.joined("f1", "Alex")
    b, new = r.joined("f2", "Alex")
    assert new and a.participant_id != b.participant_id
    assert b.display_name == "Alex (2)"
    r.left("f2")
    c, new = r.joined("f3", "Alex (2)")
    assert not new and c.participant_id == b.participant_id


def test_overlapping_feeds_of_one_student_keep_them_present() -> None:
    r = Roster()
    r.joined("old", "Chloé")
    r.left("old")
    r.joined("new", "Chloé")
    r.joined("newer", "Chloé")  # present already: a namesake, not the same person
    assert len(r.all()) == 2
    r.left("new")
    assert [s.display_name for s in r.present()] == ["Chloé (2)"]


def test_names_are_cleaned() -> None:
    assert clean_name("  Dev\x00 \n Patel ", "x") == "Dev Patel"
    assert clean_name("\x07", "Student 3") == "Student 3"
    assert len(clean_name("y" * 500, "x")) == 64
    r = Roster()
    s, _ = r.joined("f", "")
    assert s.display_name == "Student 1"
    r.left("f")
    assert r.left("unknown") is None and r.student("unknown") is None
