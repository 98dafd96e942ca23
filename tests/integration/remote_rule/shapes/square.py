from shapes.base import Point


class Square:
    def __init__(self, corner: Point, side: float) -> None:
        self.corner = corner
        self.side = side

    def area(self) -> float:
        return self.side * self.side
