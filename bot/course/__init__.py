"""The course view's edge: who a student is across sessions, term summaries written when a
session ends, and the frozen course input the report (`reports.course`) is built from."""
