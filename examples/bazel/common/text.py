import textwrap


def indent(text: str, spaces: int = 4) -> str:
    return textwrap.indent(text, " " * spaces)
