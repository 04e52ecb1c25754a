"""Lessons in the window: a bar under the views with the step, its caption and the way on.

A lesson (:mod:`convdemo.lesson`) is a sequence of saved lab states with titles and captions.
The bar shows "Step 3 of 10", the step's title and caption in large type, Previous and Next;
PageDown/PageUp (what a presenter's remote sends) and, when no text field or map grid wants
them, the Right/Left arrow keys move through the steps. Each step loads its whole state
into the lab (one undo step), and the class may change anything inside it. "Add this as a
step" collects the lab as it is now into a lesson of your own; File ▸ Save lesson writes it.

The presenter layout keeps this bar: it is the slide's caption.
"""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QAction, QColor, QKeySequence, QPalette, QShortcut
from PyQt6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from convdemo import lesson as lessons
from convdemo.gui import fonts

LESSON_FILTER = "convdemo lesson (*.json);;All files (*)"


class StepDialog(QDialog):
    """Asks for a step's title and caption."""

    def __init__(self, parent: QWidget | None = None, number: int = 1) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add this as a step")
        self.setObjectName("stepDialog")
        form = QFormLayout(self)
        self.title_edit = QLineEdit(f"Step {number}", self)
        self.title_edit.setObjectName("stepTitle")
        self.caption_edit = QPlainTextEdit(self)
        self.caption_edit.setObjectName("stepCaption")
        self.caption_edit.setPlaceholderText("A few sentences for the class (optional).")
        form.addRow("Title", self.title_edit)
        form.addRow("Caption", self.caption_edit)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)


class LessonPanel(QWidget):
    """objectName ``lessonPanel``: hidden until a lesson is open (or steps are collected)."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.setObjectName("lessonPanel")
        self.window = window
        self.lesson: lessons.Lesson | None = None
        self.index = 0
        self.path: Path | None = None

        self.prev_button = QPushButton("◀ Previous", self)
        self.prev_button.setObjectName("lessonPrev")
        self.prev_button.setToolTip("the step before (PageUp, or ←)")
        self.prev_button.clicked.connect(self.previous)
        self.next_button = QPushButton("Next ▶", self)
        self.next_button.setObjectName("lessonNext")
        self.next_button.setToolTip("the next step (PageDown, or →)")
        self.next_button.clicked.connect(self.next)
        self.step_label = QLabel(self)
        self.step_label.setObjectName("lessonStep")
        fonts.relative(self.step_label, 1.25, bold=True)
        self.caption = QLabel(self)
        self.caption.setObjectName("lessonCaption")
        self.caption.setWordWrap(True)
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        fonts.relative(self.caption, 1.15)
        self.close_button = QPushButton("Close lesson", self)
        self.close_button.setObjectName("lessonClose")
        self.close_button.clicked.connect(self.close_lesson)
        # a palette, not a style sheet: a style sheet would keep the interface scale's
        # font from the buttons inside
        palette = self.palette()
        palette.setColor(QPalette.ColorRole.Window, QColor("#fff8e1"))
        self.setPalette(palette)
        self.setAutoFillBackground(True)

        top = QHBoxLayout()
        top.addWidget(self.prev_button)
        top.addWidget(self.step_label, 1)
        top.addWidget(self.next_button)
        top.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 6)
        layout.setSpacing(2)
        layout.addLayout(top)
        layout.addWidget(self.caption)
        self.hide()

        # PageDown/PageUp work wherever the focus is (a presenter's remote sends them)
        for key, slot in ((Qt.Key.Key_PageDown, self.next), (Qt.Key.Key_PageUp, self.previous)):
            shortcut = QShortcut(QKeySequence(key), window)
            shortcut.activated.connect(slot)

        def action(text, slot, shortcut, name, tip) -> QAction:
            act = QAction(text, window)
            if shortcut:
                act.setShortcut(QKeySequence(shortcut))
            act.setObjectName(name)
            act.setStatusTip(tip)
            act.triggered.connect(slot)
            window.addAction(act)
            return act

        self.open_act = action("Open l&esson…", self.open_dialog, "Ctrl+Shift+L",
                               "openLessonAction", "open a lesson: saved lab steps with captions")
        self.lecture_act = action("Open the &lecture", lambda: self.open_lesson("lecture"), None,
                                  "openLectureAction",
                                  "the shipped lesson: the lecture's path in ten steps")
        self.add_act = action("&Add this as a step…", self.add_step_dialog, None,
                              "addStepAction", "put the lab as it is now into a lesson")
        self.save_act = action("Save lesso&n…", self.save_dialog, None, "saveLessonAction",
                               "write the lesson's steps to a file")

    def add_to_menu(self, menu) -> None:
        for act in (self.lecture_act, self.open_act, self.add_act, self.save_act):
            menu.addAction(act)

    # ----------------------------------------------------------------------- opening
    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open a lesson", str(Path.home()),
                                              LESSON_FILTER)
        if path:
            self.open_lesson(path)

    def open_lesson(self, name_or_path) -> bool:
        """Open a shipped lesson by name or a lesson file, at its first step."""
        try:
            lesson = lessons.load(name_or_path)
        except (ValueError, OSError) as exc:
            self.window.report_failure(str(exc))
            return False
        if len(lesson) == 0:
            self.window.report_failure(f"the lesson {lesson.title!r} has no steps")
            return False
        self.lesson = lesson
        self.path = None if str(name_or_path) in _shipped() else Path(name_or_path)
        self.show()
        self.go(0)
        return True

    def close_lesson(self) -> None:
        self.lesson = None
        self.hide()

    # ----------------------------------------------------------------------- moving
    def go(self, index: int) -> bool:
        """Load step ``index`` (0-based) into the lab."""
        if self.lesson is None or not 0 <= index < len(self.lesson):
            return False
        try:
            state, notes = self.lesson.lab_state(index)
        except (ValueError, OSError) as exc:
            self.window.report_failure(str(exc))
            return False
        self.index = index
        step = self.lesson.steps[index]
        self.window.apply_state(state, f"lesson step {index + 1}", notes)
        self.step_label.setText(f"Step {index + 1} of {len(self.lesson)} · {step.title}")
        self.caption.setText(step.caption)
        self.caption.setVisible(bool(step.caption))
        self.prev_button.setEnabled(index > 0)
        self.next_button.setEnabled(index + 1 < len(self.lesson))
        self.setToolTip(self.lesson.title)
        return True

    def next(self) -> bool:
        return self.lesson is not None and self.go(self.index + 1)

    def previous(self) -> bool:
        return self.lesson is not None and self.go(self.index - 1)

    def active(self) -> bool:
        return self.lesson is not None

    # ----------------------------------------------------------------------- writing
    def add_step(self, title: str, caption: str = "") -> bool:
        """Append the lab as it is now to the open lesson (or to a new one)."""
        try:
            step = lessons.Step.from_state(self.window.lab.state, title, caption)
            if self.lesson is None:
                self.lesson = lessons.Lesson("My lesson", (step,))
                self.path = None
            else:
                self.lesson = self.lesson.with_step(step)
        except ValueError as exc:
            self.window.report_failure(str(exc))
            return False
        self.show()
        self.index = len(self.lesson) - 1
        self.step_label.setText(f"Step {self.index + 1} of {len(self.lesson)} · {title}")
        self.caption.setText(caption)
        self.caption.setVisible(bool(caption))
        self.prev_button.setEnabled(self.index > 0)
        self.next_button.setEnabled(False)
        self.window.show_status(f"Added step {self.index + 1}; File ▸ Save lesson writes "
                                "the lesson.")
        return True

    def add_step_dialog(self) -> None:
        number = 1 if self.lesson is None else len(self.lesson) + 1
        dialog = StepDialog(self.window, number)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.add_step(dialog.title_edit.text().strip() or f"Step {number}",
                          dialog.caption_edit.toPlainText().strip())

    def save_dialog(self) -> None:
        if self.lesson is None:
            self.window.show_status("There is no lesson to save: add a step first.")
            return
        start = str(self.path or Path.home() / "my-lesson.json")
        path, _ = QFileDialog.getSaveFileName(self.window, "Save the lesson", start,
                                              LESSON_FILTER)
        if path:
            self.save(path)

    def save(self, path) -> bool:
        if self.lesson is None:
            return False
        try:
            lessons.save(path, self.lesson)
        except (ValueError, OSError) as exc:
            self.window.report_failure(str(exc))
            return False
        self.path = Path(path)
        self.window.show_status(f"Saved the lesson ({len(self.lesson)} steps) to {path}")
        return True


def _shipped() -> list[str]:
    from convdemo import resources

    return resources.lesson_names()
