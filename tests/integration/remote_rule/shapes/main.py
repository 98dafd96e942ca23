from shapes.base import Point
from shapes.circle import Circle
from shapes.scene import total_area
from shapes.square import Square


def run() -> float:
    origin = Point(0.0, 0.0)
    return total_area([Circle(origin, 1.0), Square(origin.moved(1.0, 1.0), 2.0)])
