"""The instructor's side of the kit; the optional ``[course]`` dependencies are imported here only.

Modules (imported on demand: this file imports none of them, so nothing heavy loads with it):
:mod:`.setup` (the notebooks' setup cell: Colab or local budgets, badges, ``REPO_URL``; light,
imported by every student notebook), :mod:`.config` (``Course``: nbgrader_config.py and the
folder names), :mod:`.runner` (the one nbgrader subprocess runner), :mod:`.release` (build and
check the student release), :mod:`.submissions` (find and repair handed-in notebooks),
:mod:`.grading` (autograde a class), :mod:`.grades_csv` (grade rows and grades.csv),
:mod:`.report` (the main job of ``make run``), :mod:`.cli` (the ``netviz-tp`` command).

Grading that student code cannot talk into points: :mod:`.batch` (``grade``: the canary,
resuming, every file a row), :mod:`.pipeline` (``grade_one``: one submission), :mod:`.sandbox`
(bubblewrap), :mod:`.stubs` (the package copies the sandbox sees), :mod:`.execute` and
:mod:`.probe` (run inside the sandbox), :mod:`.transport` (values across the sandbox wall, no
pickle), :mod:`.referee` (trusted verdicts), :mod:`.intake` (the submissions folder),
:mod:`.verdicts` (results and feedback).

After grading: :mod:`.gradebook` (the course's nbgrader gradebook, filled by grading),
:mod:`.export` (final grades), :mod:`.handback` (feedback after manual grading, no secrets),
:mod:`.results` (the per-submission results files), :mod:`.class_report` (what the class got
wrong), :mod:`.fanout` (grading on a Dask cluster).
"""
