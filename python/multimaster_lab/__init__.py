"""The multimaster lab and the course built on it, beside the library (`multimaster`), which
never imports them.

    lab/           a local MariaDB Galera cluster (`Lab`), standard library only: it runs
                   before the native extension is built
    coursedata.py  the course's facts: database, credentials, table, row, and `LAB`, what it
                   asks of a lab
    course.py      `insert-test`, the course's insert script, made true
    demo.py        `multimaster demo`; notebook.py, `multimaster notebook`
    cli.py         the `multimaster` command

This file imports nothing, so `import multimaster_lab.lab` needs neither the library nor its
extension.
"""
