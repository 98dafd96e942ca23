from typing import List, Union

from shapes.circle import Circle
from shapes.square import Square

Shape = Union[Circle, Square]


def total_area(shapes: List[Shape]) -> float:
    return sum(s.area() for s in shapes)
