"""The service entry point."""

import sys


def greet(name):
    return "Hello, " + name


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    name = args[0] if args else "world"
    print(greet(name))
    return 0
