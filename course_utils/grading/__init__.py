"""Instructor grading: the grader (`grade`), its rows (`rows`), the policy file (`policy`), hand review of written
answers (`review`), per-student feedback pages (`feedback`), LMS import files (`lms`), deadlines (`late`), the class
report (`report`) and the execution sandbox (`sandbox`).

May import: course_utils.exercises, course_utils.runtime.
"""
