from rhworker.cli import run

run()
