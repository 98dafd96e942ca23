import json
from dataclasses import dataclass

from common.text import indent


@dataclass
class Report:
    title: str
    lines: list[str]

    def render(self) -> str:
        return self.title + "\n" + indent("\n".join(self.lines))

    def to_json(self) -> str:
        return json.dumps({"title": self.title, "lines": self.lines})
