"""Runs: the jobs the commands call, above the library (internal: modules here move without deprecated aliases).

By concern: what a job will do (plans, the training setup, recipes, validation), doing it (training, evaluation,
comparison, alignment scores), the jobs of the commands (one module and one function each: ``training_job``,
``evaluation_job``, ``explanation_job``, ``comparison_job``), reusing finished work (run keys, reuse, folders), and
saying what happened (rows and their summaries, reports, plots, tracking). Imports point from jobs to execution
to records and reports, never back: the tests check that the modules here import one another without a cycle.
"""
