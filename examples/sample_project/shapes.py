import math


class Circle:
    def __init__(self, radius):
        self.radius = radius

    def area(self):
        return math.pi * self.radius ** 2

    def is_unit(self):
        """Whether this is the unit circle."""
        return self.radius == 1


def total_area(shapes):
    return sum(s.area() for s in shapes)
