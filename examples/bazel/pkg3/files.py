import csv
import pathlib
import tempfile

from common.text import indent


def rows(path: pathlib.Path) -> list[list[str]]:
    with path.open() as f:
        return list(csv.reader(f))


def scratch() -> str:
    return indent(tempfile.gettempdir())
