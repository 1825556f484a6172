"""nbgrader configuration: the repository root is the course directory.

Sources (with solutions and hidden tests) live in ``solutions/<assignment>/``; the student
release is generated into ``notebooks/<assignment>/`` by ``netviz-tp build``
(see ``netviz_tp/course/release.py``; folder names are read from here by
``netviz_tp.course.config.Course``). Each source notebook is paired by jupytext with a py:percent
file beside it: ``*.py`` is ignored so that the solution script is never copied into the
release.
"""

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.course_id = "netviz-tp"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
# nbgrader 0.9.6's default list, extended with the paired sources and local clutter.
c.CourseDirectory.ignore = [
    ".ipynb_checkpoints",
    "*.pyc",
    "__pycache__",
    "feedback",
    "*.py",
    ".jupyter_cache",
]
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
