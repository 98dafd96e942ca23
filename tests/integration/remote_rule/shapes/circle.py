from shapes.base import Point


class Circle:
    def __init__(self, centre: Point, radius: float) -> None:
        self.centre = centre
        self.radius = radius

    def area(self) -> float:
        return 3.14159 * self.radius * self.radius
