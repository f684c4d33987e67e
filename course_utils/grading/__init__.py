"""Instructor grading: the grader, its rows, the class report, and the execution sandbox.

May import: course_utils.exercises, course_utils.runtime.
"""
