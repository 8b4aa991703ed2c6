"""What the tests share, loaded as pytest plugins by tests/conftest.py and imported as
`from support.x import ...`:

    bounds.py      the README's bounds, SLACK and wait_for (no server)
    labs.py        the lab fixtures (lab, cluster, table, make_mm), running_lab, needs_lab, and
                   the questions tests ask a lab
    threads.py     one background-thread base and what runs on it: Call, LockHolder, Writer,
                   Reader
    interrupt.py   the Ctrl-C harness (interrupt, CTRL_C_PRELUDE) and Child
    faultproxy.py  the fault-injecting MySQL proxy
    scripts.py     insert-test in a child process, an option file written
"""
