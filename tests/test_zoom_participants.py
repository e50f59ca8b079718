"""Learning who is in a Zoom meeting from whatever Zoom sends, without replayed joins (pure)."""

from __future__ import annotations

from bot.connectors.zoom_participants import Announce, Camera, CameraOff, Gone, Participants, Unwatch, Watch


def test_a_join_names_and_probes_a_student_whose_camera_state_is_unknown() -> None:
    p = Participants()
    assert p.joined("1", "Ada") == [Watch("1"), Announce("1", "Ada", Camera.UNKNOWN)]
    assert p.joined("1", "Ada") == []  # once
    assert p.video_on("1") == [Watch("1")]
    assert p.camera("1") is Camera.ON


def test_an_active_speaker_already_present_is_found_by_id_and_name() -> None:
    p = Participants()
    assert p.spoke("7", "Grace") == [Watch("7"), Announce("7", "Grace", Camera.UNKNOWN)]
    assert p.spoke("7", "Grace") == []


def test_camera_events_name_nobody_the_first_frame_does() -> None:
    p = Participants()
    assert p.video_on("9") == [Watch("9")]  # ids only: watch, do not announce yet
    assert p.frame("9", "Alan") == [Announce("9", "Alan", Camera.ON)]
    assert p.frame("9", "Alan") == []


def test_a_frame_without_a_name_falls_back_to_the_id() -> None:
    p = Participants()
    assert p.frame("5", "") == [Watch("5"), Announce("5", "Zoom user 5", Camera.ON)]


def test_camera_off_before_the_name_is_known_is_remembered() -> None:
    p = Participants()
    assert p.video_off("3") == [Unwatch("3")]  # known now, but not worth a probe
    assert p.spoke("3", "Edsger") == [Announce("3", "Edsger", Camera.OFF)]
    assert p.video_off("3") == [Unwatch("3"), CameraOff("3")]
    assert p.video_on("3") == [Watch("3")]


def test_leaving_and_hints() -> None:
    p = Participants()
    assert p.left("1") == []  # never known: nothing to say
    p.hint("1", "Ada")
    p.video_on("2")
    assert p.known() == [("1", "Ada")]  # only named people are worth a hint
    assert p.left("1") == [Gone("1", True)] and p.left("2") == [Gone("2", False)]
