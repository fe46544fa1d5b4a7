"""The demo: a generated retail database, registered as project `demo` by `parley serve --demo`."""
