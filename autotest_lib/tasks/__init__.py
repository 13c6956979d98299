"""The functions the DAGs' tasks call, one module per DAG: ``weekly`` (``autotest_weekly``) and ``pbt``
(``autotest_pbt``). Each takes small JSON, does one step with the library, returns small JSON.

The top of the library's ladder (beside ``cli``): a task may use any package; no package imports a task.
DAG files import these modules inside their task functions, so parsing a DAG stays cheap.
"""
