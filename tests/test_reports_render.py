"""Rendering: files written, HTML structure, PDF pages and text, import hygiene."""

from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from analysis.records import Participant
from reports.render import render_session
from tests.fixtures_reports import SID, FakeStore, absent, camera_off, info, present, probs, two_students
from tests.test_reports_context import EMOTION_WORDS

REPO = Path(__file__).resolve().parent.parent


class Page(HTMLParser):
    """What a reader (or a screen reader) gets from a page: ids, headings, links, images, text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.links: list[str] = []
        self.alts: list[str] = []
        self.h1 = ""
        self.text: list[str] = []
        self.rows: dict[str, int] = {}
        self._stack: list[str] = []
        self._table = ""
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.append(a["id"] or "")
        if tag == "a" and a.get("href"):
            self.links.append(a["href"] or "")
        if tag == "img":
            self.alts.append(a.get("alt") or "")
        if tag == "table":
            self._table = a.get("class") or ""
        if tag == "tr" and "tbody" in self._stack:
            self.rows[self._table] = self.rows.get(self._table, 0) + 1
        if tag not in ("img", "meta", "br"):
            self._stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._stack:
            while self._stack.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if "style" in self._stack or "title" in self._stack:
            return
        if "h1" in self._stack:
            self.h1 += data
        self.text.append(data)

    @property
    def visible(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.text))


def rel(paths: list[Path], root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in paths)


# -- HTML (fast) ---------------------------------------------------------------------------------

def test_html_files_and_store_calls(tmp_path: Path) -> None:
    store = FakeStore(*two_students())
    paths = render_session(store, SID, tmp_path, formats=("html",))
    assert rel(paths, tmp_path) == ["class.html", "students/ann-archer.html", "students/ben-brook.html"]
    assert set(store.calls) <= {"session", "participants", "observations", "interruptions"}
    assert not any("cleo" in p.name for p in tmp_path.rglob("*"))


def test_class_html_structure(tmp_path: Path) -> None:
    render_session(FakeStore(*two_students()), SID, tmp_path, formats=("html",))
    page = Page((tmp_path / "class.html").read_text())
    assert page.h1.strip() == "Biology 7"
    for section in ("attendance", "overview", "timeline", "heatmap", "moments", "attention", "students",
                    "emotions", "quality", "explanation"):
        assert section in page.ids, section
    assert page.rows["students"] == 2 and page.rows["concerns"] == 1
    assert len(page.alts) == 2 and all(len(alt) > 40 for alt in page.alts)  # text alternatives
    student_links = sorted({h for h in page.links if h.startswith("students/")})
    assert student_links == ["students/ann-archer.html", "students/ben-brook.html"]
    assert all((tmp_path / h).is_file() for h in student_links)
    for words in ("1 opted out", "83%", "not a grade", "Camera-off time is shown on its own"):
        assert words in page.visible, words
    assert "Cleo" not in page.visible
    assert "size: A4" in (tmp_path / "class.html").read_text()


def test_student_html_structure(tmp_path: Path) -> None:
    render_session(FakeStore(*two_students()), SID, tmp_path, formats=("html",))
    page = Page((tmp_path / "students" / "ben-brook.html").read_text())
    assert page.h1.strip() == "Ben Brook"
    for section in ("overview", "attention", "timeline", "moments", "emotions", "camera-off", "quality"):
        assert section in page.ids, section
    assert "1:00–1:30 (30 s)" in page.visible and "Attention very low" in page.visible


def test_emotions_off_html_has_no_emotion_section_or_words(tmp_path: Path) -> None:
    _, people, obs = two_students()
    render_session(FakeStore(info(emotions=False), people, obs), SID, tmp_path, formats=("html",))
    for path in tmp_path.rglob("*.html"):
        page = Page(path.read_text())
        assert "emotions" not in page.ids
        assert EMOTION_WORDS.findall(page.visible + " ".join(page.alts)) == [], path.name


def test_hostile_display_names_are_escaped_and_contained(tmp_path: Path) -> None:
    evil = '<img src=x onerror="alert(1)">/../../pwned'
    store = FakeStore(info(), [Participant(SID, "e", evil)], present("e", range(30)))
    paths = render_session(store, SID, tmp_path / "out", formats=("html",))
    assert all(tmp_path / "out" in p.parents for p in paths)
    assert rel(paths, tmp_path / "out") == ["class.html", "students/img-src-x-onerror-alert-1-pwned.html"]
    for p in paths:
        html = p.read_text()
        assert "<img src=x" not in html and 'onerror="alert' not in html
        assert evil in Page(html).visible  # shown, as text


def test_empty_session_html(tmp_path: Path) -> None:
    paths = render_session(FakeStore(info(), [], []), SID, tmp_path, formats=("html",))
    assert rel(paths, tmp_path) == ["class.html"]
    page = Page(paths[0].read_text())
    assert "no-data" in page.ids and "timeline" not in page.ids


def test_letter_paper_and_bad_arguments(tmp_path: Path) -> None:
    store = FakeStore(*two_students())
    render_session(store, SID, tmp_path, formats=("html",), paper="letter")
    assert "size: Letter" in (tmp_path / "class.html").read_text()
    with pytest.raises(ValueError, match="paper"):
        render_session(store, SID, tmp_path, formats=("html",), paper="a3")
    with pytest.raises(ValueError, match="format"):
        render_session(store, SID, tmp_path, formats=("docx",))


def test_real_store_gives_the_same_report(tmp_path: Path) -> None:
    from analysis.store import Store

    si, people, obs = two_students()
    store = Store(f"sqlite:///{tmp_path}/db.sqlite")
    store.create_session(si)
    for p in people:
        store.upsert_participant(p)
    store.add_observations(obs)
    render_session(store, SID, tmp_path / "real", formats=("html",))
    render_session(FakeStore(si, people, obs), SID, tmp_path / "fake", formats=("html",))
    store.close()
    for name in ("class.html", "students/ben-brook.html"):
        assert (tmp_path / "real" / name).read_text() == (tmp_path / "fake" / name).read_text()


def test_reports_import_no_vision_stack() -> None:
    code = ("import sys, reports.render, reports.context, reports.charts, reports.bench, analysis.aggregate;"
            "bad = [m for m in ('tensorflow', 'cv2', 'aiortc', 'weasyprint') if m in sys.modules];"
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# -- PDF (slow: WeasyPrint takes about a second to import and a second per small session) ---------

def pdf_text(path: Path) -> tuple[int, str, tuple[float, float]]:
    from pypdf import PdfReader

    reader = PdfReader(path)
    box = reader.pages[0].mediabox
    text = "\n".join(page.extract_text() for page in reader.pages)
    return len(reader.pages), text, (round(float(box.width)), round(float(box.height)))


@pytest.fixture(scope="module")
def golden_pdfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("golden")
    render_session(FakeStore(*two_students()), SID, out, formats=("pdf",))
    return out


@pytest.mark.slow
def test_pdf_files_pages_and_text(golden_pdfs: Path) -> None:
    assert rel(list(golden_pdfs.rglob("*.pdf")), golden_pdfs) == [
        "all-students.pdf", "class.pdf", "students/ann-archer.pdf", "students/ben-brook.pdf"]
    n, text, size = pdf_text(golden_pdfs / "class.pdf")
    assert size == (595, 842)  # A4 in points
    assert 1 <= n <= 4
    for words in ("Biology 7", "Ms Rivera", "Ann Archer", "Ben Brook", "83%", f"Page 1 of {n}",
                  "What these numbers mean", "Attention very low"):
        assert words in text, words
    assert "Cleo" not in text
    pages = [pdf_text(golden_pdfs / "students" / f"{s}.pdf")[0] for s in ("ann-archer", "ben-brook")]
    assert all(1 <= p <= 3 for p in pages)
    n_all, all_text, _ = pdf_text(golden_pdfs / "all-students.pdf")
    assert n_all == sum(pages)
    assert all_text.index("Ann Archer") < all_text.index("Ben Brook") and "Cleo" not in all_text


@pytest.mark.slow
def test_pdf_student_text(golden_pdfs: Path) -> None:
    _, text, _ = pdf_text(golden_pdfs / "students" / "ben-brook.pdf")
    for words in ("Ben Brook", "BIOLOGY 7", "Camera-off periods", "1:00–1:30 (30 s)", "Sad"):
        assert words in text, words  # the kicker line is upper-cased by CSS


@pytest.mark.slow
def test_pdf_emotions_off_has_no_emotion_words(tmp_path: Path) -> None:
    _, people, obs = two_students()
    render_session(FakeStore(info(emotions=False), people, obs), SID, tmp_path, formats=("pdf",))
    for path in tmp_path.rglob("*.pdf"):
        _, text, _ = pdf_text(path)
        assert EMOTION_WORDS.findall(text) == [], path.name
        assert "Engagement" in text


@pytest.mark.slow
def test_pdf_small_sessions_render_sensibly(tmp_path: Path) -> None:
    # empty
    render_session(FakeStore(info(), [], []), SID, tmp_path / "empty", formats=("pdf",))
    n, text, _ = pdf_text(tmp_path / "empty" / "class.pdf")
    assert n <= 2 and "No data" in text and not (tmp_path / "empty" / "all-students.pdf").exists()
    # one student with a hole in the samples and camera off, on Letter paper
    obs = [*present("a", range(40), emotions=probs(neutral=1.0)), *camera_off("a", range(40, 70)),
           *present("a", range(160, 240), emotions=probs(happy=1.0)), *absent("a", range(240, 300))]
    store = FakeStore(info(minutes=5), [Participant(SID, "a", "Ann Solo")], obs)
    render_session(store, SID, tmp_path / "one", paper="letter")
    n, text, size = pdf_text(tmp_path / "one" / "class.pdf")
    assert size == (612, 792) and n <= 4 and "Ann Solo" in text
    n, text, _ = pdf_text(tmp_path / "one" / "students" / "ann-solo.pdf")
    assert n <= 3 and "0:40–1:10 (30 s)" in text and "Gaps without samples" in text


@pytest.mark.slow
def test_synthetic_class_pdfs(tmp_path: Path) -> None:
    from reports.bench import synthetic_session

    si, people, obs = synthetic_session(5, 15)
    paths = render_session(FakeStore(si, people, obs), si.session_id, tmp_path, formats=("pdf",))
    assert len(paths) == 1 + 5 + 1  # the opted-out participant gets nothing
    n, text, _ = pdf_text(tmp_path / "class.pdf")
    assert n <= 5 and "Opted Out" not in text and "Class moments" in text
    for p in paths:
        assert pdf_text(p)[0] <= (15 if p.name == "all-students.pdf" else 5)


def test_interruptions_are_named_in_every_report_not_read_as_absence(tmp_path: Path) -> None:
    from analysis.records import Interruption

    store = FakeStore(*two_students())
    store.gaps.append(Interruption(SID, "2026-03-02T10:00:30+00:00", "2026-03-02T10:01:10+00:00", "crash"))
    paths = render_session(store, SID, tmp_path, formats=("html",))
    for p in paths:
        text = Page(p.read_text()).visible
        assert "Analysis interrupted" in text and "10:00–10:01 UTC" in text, p.name
        assert "not counted as absence" in text
    plain = FakeStore(*two_students())
    for p in render_session(plain, SID, tmp_path / "plain", formats=("html",)):
        assert "Analysis interrupted" not in p.read_text()
