"""The 13 procedural object classes of the zoo: parametric SDF compositions, one generator per class.

Each generator draws an object's proportions, part counts and placement from a
:class:`random.Random` (deterministic on every platform), in a canonical pose as
ShapeNet's: z up, the object's front or nose towards +x. Colours come from one
palette distribution shared by all classes (:func:`draw_palette`), so the class
is carried by shape alone. Objects fit inside the scene box ``[-0.7, 0.7]^3``.
"""

from __future__ import annotations

import colorsys
import math
import random
from collections.abc import Callable

from wsrl.registry import Registry
from wsrl.zoo.sdf import Part, SDFScene

HALF_PI = math.pi / 2
ALONG_X = (0.0, HALF_PI, 0.0)  # rotates a primitive's z axis (cylinder, capsule, cone) onto x
ALONG_Y = (HALF_PI, 0.0, 0.0)  # ... onto y

Palette = Callable[[], tuple[float, float, float]]
Generator = Callable[[random.Random, Palette], list[Part]]
GENERATORS: Registry[Generator] = Registry("object class")


def draw_palette(rng: random.Random, n: int = 3) -> Palette:
    """``n`` random colours of one object (hue uniform, saturation and value mid-to-high) and a picker.

    The first call returns the main colour; later calls pick uniformly among all ``n``.
    """
    colours = [colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.3, 0.9), rng.uniform(0.45, 0.95)) for _ in range(n)]
    calls = iter(range(1 << 30))

    def pick() -> tuple[float, float, float]:
        return colours[0] if next(calls) == 0 else colours[rng.randrange(n)]

    return pick


def _box(size, center, colour, rotation=(0.0, 0.0, 0.0)) -> Part:
    return Part("box", tuple(size), tuple(center), tuple(rotation), colour)


def _rbox(size, radius, center, colour, rotation=(0.0, 0.0, 0.0)) -> Part:
    return Part("round_box", (*size, radius), tuple(center), tuple(rotation), colour)


def _cyl(radius, half_height, center, colour, rotation=(0.0, 0.0, 0.0)) -> Part:
    return Part("cylinder", (radius, half_height), tuple(center), tuple(rotation), colour)


def _legs(rng: random.Random, x: float, y: float, top: float, bottom: float, colour, round_legs: bool) -> list[Part]:
    """Four vertical legs at ``(±x, ±y)`` from ``bottom`` to ``top``."""
    half, mid = (top - bottom) / 2, (top + bottom) / 2
    r = rng.uniform(0.015, 0.03)
    make = (
        (lambda cx, cy: _cyl(r, half, (cx, cy, mid), colour))
        if round_legs
        else (lambda cx, cy: _box((r, r, half), (cx, cy, mid), colour))
    )
    return [make(sx * x, sy * y) for sx in (-1, 1) for sy in (-1, 1)]


@GENERATORS.register("airplane")
def airplane(rng: random.Random, colour: Palette) -> list[Part]:
    length, radius = rng.uniform(0.95, 1.2), rng.uniform(0.045, 0.075)
    body = colour()
    parts = [Part("capsule", (radius, length / 2 - radius), (0.0, 0.0, 0.0), ALONG_X, body)]
    half_span, chord, sweep = rng.uniform(0.45, 0.6), rng.uniform(0.1, 0.18), rng.uniform(0.0, 0.55)
    wing_x, wing_z = rng.uniform(-0.08, 0.1), rng.uniform(-0.03, 0.02)
    wing = colour()
    for side in (-1, 1):
        half = half_span / 2
        centre = (wing_x - math.sin(sweep) * half, side * math.cos(sweep) * half, wing_z)
        parts.append(_box((chord / 2, half, 0.012), centre, wing, (0.0, 0.0, side * sweep)))
    tail_x = -length / 2 + 0.08
    fin_h = rng.uniform(0.07, 0.13)
    parts.append(_box((0.06, 0.01, fin_h), (tail_x, 0.0, radius + fin_h * 0.8), wing, (0.0, 0.3, 0.0)))
    parts.append(_box((0.05, rng.uniform(0.1, 0.2), 0.01), (tail_x, 0.0, radius * 0.5), wing))
    engines = rng.choice((0, 2, 2, 4))
    for k in range(engines):
        y = (half_span * (0.35 if k < 2 else 0.65)) * (1 if k % 2 else -1)
        parts.append(_cyl(0.035, 0.07, (wing_x - abs(y) * math.sin(sweep) + 0.04, y, wing_z - 0.05), body, ALONG_X))
    return parts


@GENERATORS.register("bench")
def bench(rng: random.Random, colour: Palette) -> list[Part]:
    length, depth, height = rng.uniform(0.5, 0.62), rng.uniform(0.1, 0.16), rng.uniform(0.2, 0.3)
    wood, metal = colour(), colour()
    seat_z = -0.35 + height
    slats = rng.choice((1, 2, 3))
    parts = [
        _box((length, depth / slats * 0.85, 0.02), (0.0, -depth + depth / slats * (2 * i + 1), seat_z), wood)
        for i in range(slats)
    ]
    if rng.random() < 0.5:  # two slab legs at the ends
        parts += [
            _box((0.02, depth, height / 2), (s * (length - 0.06), 0.0, seat_z - height / 2), metal) for s in (-1, 1)
        ]
    else:
        parts += _legs(rng, length - 0.05, depth - 0.02, seat_z, -0.35, metal, rng.random() < 0.5)
    if rng.random() < 0.6:  # backrest on posts
        back_h = rng.uniform(0.12, 0.22)
        parts.append(_box((length, 0.015, back_h / 2), (0.0, -depth, seat_z + 0.08 + back_h / 2), wood, (0.15, 0, 0)))
        parts += [_box((0.015, 0.015, 0.1), (s * (length - 0.05), -depth, seat_z + 0.08), metal) for s in (-1, 1)]
    return parts


@GENERATORS.register("cabinet")
def cabinet(rng: random.Random, colour: Palette) -> list[Part]:
    width, depth, height = rng.uniform(0.3, 0.5), rng.uniform(0.18, 0.28), rng.uniform(0.35, 0.55)
    body, front = colour(), colour()
    feet = rng.random() < 0.4
    z0 = 0.05 if feet else 0.0
    parts = [_box((depth, width, height), (0.0, 0.0, z0), body)]
    rows, cols = rng.choice((1, 2, 3, 4)), rng.choice((1, 2))
    for i in range(rows):
        for j in range(cols):
            h, w = height / rows, width / cols
            zc, yc = z0 - height + h * (2 * i + 1), -width + w * (2 * j + 1)
            parts.append(_box((0.012, w * 0.9, h * 0.9), (depth + 0.01, yc, zc), front))
            knob_y = yc if rows > 1 or cols == 1 else yc - math.copysign(w * 0.7, yc)
            parts.append(Part("ellipsoid", (0.02, 0.02, 0.02), (depth + 0.03, knob_y, zc + h * 0.5), (0, 0, 0), body))
    if feet:
        parts += _legs(rng, depth * 0.8, width * 0.85, z0 - height, z0 - height - 0.08, body, True)
    return parts


@GENERATORS.register("car")
def car(rng: random.Random, colour: Palette) -> list[Part]:
    length, width, height = rng.uniform(0.45, 0.58), rng.uniform(0.2, 0.26), rng.uniform(0.07, 0.11)
    paint, glass, tyre = colour(), colour(), colour()
    wheel_r = rng.uniform(0.08, 0.11)
    z = -0.1
    parts = [_rbox((length, width, height), 0.04, (0.0, 0.0, z), paint)]
    cabin_l = rng.uniform(0.45, 0.7) * length
    cabin_x = rng.uniform(-0.25, 0.05) * length
    cabin_h = rng.uniform(0.06, 0.1)
    parts.append(_rbox((cabin_l, width * 0.85, cabin_h), 0.04, (cabin_x, 0.0, z + height + cabin_h * 0.8), glass))
    axle = length * rng.uniform(0.62, 0.75)
    for sx in (-1, 1):
        for sy in (-1, 1):
            parts.append(_cyl(wheel_r, 0.035, (sx * axle, sy * width, z - height + 0.01), tyre, ALONG_Y))
    if rng.random() < 0.3:  # spoiler
        parts.append(_box((0.04, width * 0.9, 0.01), (-length + 0.03, 0.0, z + height + 0.06), paint))
    return parts


@GENERATORS.register("chair")
def chair(rng: random.Random, colour: Palette) -> list[Part]:
    seat, seat_z = rng.uniform(0.18, 0.25), rng.uniform(-0.12, -0.02)
    frame, cushion = colour(), colour()
    parts = [_box((seat, seat, 0.03), (0.0, 0.0, seat_z), cushion)]
    back_h = rng.uniform(0.18, 0.3)
    tilt = rng.uniform(0.0, 0.25)
    parts.append(_box((0.02, seat, back_h), (-seat - 0.01, 0.0, seat_z + back_h), cushion, (0.0, -tilt, 0.0)))
    if rng.random() < 0.25:  # office chair: column and star base
        parts.append(_cyl(0.025, (seat_z + 0.45) / 2, (0.0, 0.0, (seat_z - 0.45) / 2), frame))
        for k in range(5):
            a = 2 * math.pi * k / 5
            parts.append(_box((0.12, 0.015, 0.015), (0.12 * math.cos(a), 0.12 * math.sin(a), -0.45), frame, (0, 0, a)))
    else:
        parts += _legs(rng, seat - 0.03, seat - 0.03, seat_z, -0.45, frame, rng.random() < 0.5)
    if rng.random() < 0.35:  # armrests
        parts += [_box((seat * 0.8, 0.02, 0.015), (0.0, s * seat, seat_z + 0.12), frame) for s in (-1, 1)]
        parts += [_box((0.015, 0.015, 0.06), (seat * 0.6, s * seat, seat_z + 0.06), frame) for s in (-1, 1)]
    return parts


@GENERATORS.register("display")
def display(rng: random.Random, colour: Palette) -> list[Part]:
    width, height = rng.uniform(0.4, 0.55), rng.uniform(0.22, 0.32)
    frame, stand = colour(), colour()
    centre_z = rng.uniform(0.0, 0.12)
    parts = [_rbox((0.025, width, height), 0.015, (0.0, 0.0, centre_z), frame)]
    parts.append(_box((0.005, width * 0.93, height * 0.88), (0.027, 0.0, centre_z), stand))
    bottom = centre_z - height
    base_z = -0.35
    if rng.random() < 0.5:
        parts.append(
            _box(
                (0.03, rng.uniform(0.02, 0.05), (bottom - base_z) / 2 + 0.02),
                (-0.04, 0.0, (bottom + base_z) / 2),
                stand,
            )
        )
    else:
        parts.append(_cyl(0.025, (bottom - base_z) / 2 + 0.02, (-0.04, 0.0, (bottom + base_z) / 2), stand))
    if rng.random() < 0.5:
        parts.append(_box((rng.uniform(0.1, 0.16), rng.uniform(0.15, 0.25), 0.015), (-0.04, 0.0, base_z), stand))
    else:
        parts.append(_cyl(rng.uniform(0.12, 0.18), 0.015, (-0.04, 0.0, base_z), stand))
    return parts


@GENERATORS.register("lamp")
def lamp(rng: random.Random, colour: Palette) -> list[Part]:
    metal, shade_c = colour(), colour()
    base_r, pole_h = rng.uniform(0.1, 0.18), rng.uniform(0.22, 0.36)
    parts = [_cyl(base_r, 0.02, (0.0, 0.0, -0.5), metal)]
    parts.append(_cyl(0.015, pole_h, (0.0, 0.0, -0.5 + pole_h), metal))
    top = (0.0, 0.0, -0.5 + 2 * pole_h)
    if rng.random() < 0.5:  # an arm reaching out
        arm, angle = rng.uniform(0.08, 0.15), rng.uniform(0.3, 1.1)
        end = (arm * math.sin(angle) * 2, 0.0, top[2] + arm * math.cos(angle) * 2)
        mid = ((top[0] + end[0]) / 2, 0.0, (top[2] + end[2]) / 2)
        parts.append(Part("capsule", (0.013, arm), mid, (0.0, angle, 0.0), metal))
        top = end
    shade_h = rng.uniform(0.07, 0.11)
    if rng.random() < 0.7:
        r1, r2 = rng.uniform(0.12, 0.2), rng.uniform(0.04, 0.09)
        parts.append(Part("cone", (r1, r2, shade_h), (top[0], 0.0, top[2] - shade_h * 0.3), (0, 0, 0), shade_c))
    else:
        r = rng.uniform(0.08, 0.13)
        parts.append(Part("ellipsoid", (r, r, r * 0.8), (top[0], 0.0, top[2]), (0, 0, 0), shade_c))
    return parts


@GENERATORS.register("speaker")
def speaker(rng: random.Random, colour: Palette) -> list[Part]:
    width, depth, height = rng.uniform(0.16, 0.24), rng.uniform(0.15, 0.22), rng.uniform(0.3, 0.5)
    body, driver = colour(), colour()
    parts = [_rbox((depth, width, height), rng.uniform(0.01, 0.04), (0.0, 0.0, 0.0), body)]
    n = rng.choice((1, 2, 2, 3))
    slots = [(-height + height * (2 * i + 1) / n) for i in range(n)]
    for i, z in enumerate(slots):
        r = min(width * 0.8, height / n * 0.8) * (0.6 if i == 0 and n > 1 else 1.0)
        parts.append(Part("cone", (r * 0.4, r, 0.03), (depth - 0.01, 0.0, z), ALONG_X, driver))
        parts.append(Part("torus", (r, 0.012), (depth, 0.0, z), ALONG_X, body))
    return parts


@GENERATORS.register("rifle")
def rifle(rng: random.Random, colour: Palette) -> list[Part]:
    metal, wood = colour(), colour()
    receiver_l = rng.uniform(0.1, 0.16)
    barrel_l = rng.uniform(0.15, 0.22)
    parts = [_box((receiver_l, 0.025, 0.04), (0.0, 0.0, 0.0), metal)]
    barrel_r = rng.uniform(0.012, 0.022)
    parts.append(_cyl(barrel_r, barrel_l, (receiver_l + barrel_l, 0.0, 0.015), metal, ALONG_X))
    stock_l = rng.uniform(0.14, 0.22)
    drop = rng.uniform(0.0, 0.25)
    parts.append(
        _box((stock_l, 0.022, 0.045), (-receiver_l - stock_l * 0.95, 0.0, -0.02 - drop * stock_l), wood, (0, drop, 0))
    )
    parts.append(_box((0.02, 0.018, 0.05), (-receiver_l * 0.6, 0.0, -0.08), wood, (0, -0.3, 0)))  # grip
    if rng.random() < 0.7:
        parts.append(_box((0.025, 0.015, rng.uniform(0.05, 0.09)), (receiver_l * 0.3, 0.0, -0.09), metal, (0, 0.2, 0)))
    if rng.random() < 0.5:  # scope
        parts.append(_cyl(0.022, rng.uniform(0.08, 0.12), (0.0, 0.0, 0.08), metal, ALONG_X))
    if rng.random() < 0.5:  # handguard
        parts.append(_box((barrel_l * 0.45, 0.024, 0.03), (receiver_l + barrel_l * 0.45, 0.0, 0.0), wood))
    return parts


@GENERATORS.register("sofa")
def sofa(rng: random.Random, colour: Palette) -> list[Part]:
    length, depth = rng.uniform(0.42, 0.6), rng.uniform(0.2, 0.28)
    cover, cushion = colour(), colour()
    base_h = rng.uniform(0.07, 0.1)
    z = -0.25
    parts = [_rbox((depth, length, base_h), 0.03, (0.0, 0.0, z), cover)]
    back_h = rng.uniform(0.12, 0.2)
    parts.append(_rbox((0.06, length, back_h), 0.04, (-depth + 0.06, 0.0, z + base_h + back_h - 0.02), cover))
    if rng.random() < 0.85:
        arm_h = rng.uniform(0.06, 0.12)
        parts += [
            _rbox((depth, 0.06, arm_h), 0.03, (0.0, s * (length - 0.03), z + base_h + arm_h - 0.03), cover)
            for s in (-1, 1)
        ]
    n = rng.choice((1, 2, 3))
    seat_w = (length - 0.08) / n
    for i in range(n):
        y = -length + 0.08 + seat_w * (2 * i + 1) - 0.08 * (2 * i + 1) / n
        parts.append(_rbox((depth - 0.07, seat_w * 0.95, 0.035), 0.025, (0.04, y, z + base_h + 0.03), cushion))
    if rng.random() < 0.5:
        parts += _legs(rng, depth * 0.85, length * 0.9, z - base_h, z - base_h - 0.06, cover, True)
    return parts


@GENERATORS.register("table")
def table(rng: random.Random, colour: Palette) -> list[Part]:
    top_c, leg_c = colour(), colour()
    top_z = rng.uniform(0.0, 0.2)
    if rng.random() < 0.3:  # round table on a pedestal
        r = rng.uniform(0.35, 0.5)
        parts = [_cyl(r, 0.02, (0.0, 0.0, top_z), top_c)]
        parts.append(_cyl(0.035, (top_z + 0.4) / 2, (0.0, 0.0, (top_z - 0.4) / 2), leg_c))
        parts.append(_cyl(rng.uniform(0.15, 0.25), 0.02, (0.0, 0.0, -0.4), leg_c))
        return parts
    lx, ly = rng.uniform(0.35, 0.6), rng.uniform(0.25, 0.4)
    parts = [_box((lx, ly, 0.02), (0.0, 0.0, top_z), top_c)]
    parts += _legs(rng, lx - 0.05, ly - 0.05, top_z, -0.4, leg_c, rng.random() < 0.5)
    if rng.random() < 0.35:  # lower shelf
        parts.append(_box((lx - 0.05, ly - 0.05, 0.012), (0.0, 0.0, -0.25), top_c))
    return parts


@GENERATORS.register("phone")
def phone(rng: random.Random, colour: Palette) -> list[Part]:
    thick, width, height = rng.uniform(0.018, 0.035), rng.uniform(0.15, 0.22), rng.uniform(0.32, 0.45)
    case, screen = colour(), colour()
    parts = [_rbox((thick, width, height), rng.uniform(0.015, 0.04), (0.0, 0.0, 0.0), case)]
    parts.append(_box((0.004, width * 0.88, height * 0.9), (thick, 0.0, 0.0), screen))
    if rng.random() < 0.7:  # camera bump on the back
        r = rng.uniform(0.02, 0.04)
        parts.append(_cyl(r, 0.008, (-thick - 0.004, width * 0.5, height * 0.75), screen, ALONG_X))
    parts.append(_box((0.006, 0.006, rng.uniform(0.03, 0.06)), (0.0, width + 0.003, height * 0.4), case))  # button
    return parts


@GENERATORS.register("watercraft")
def watercraft(rng: random.Random, colour: Palette) -> list[Part]:
    length, beam, draft = rng.uniform(0.45, 0.6), rng.uniform(0.1, 0.17), rng.uniform(0.07, 0.11)
    hull, deck = colour(), colour()
    z = -0.1
    parts = [Part("ellipsoid", (length, beam, draft), (0.0, 0.0, z), (0, 0, 0), hull)]
    parts.append(_box((length * 0.8, beam * 0.8, 0.01), (0.0, 0.0, z + draft * 0.4), deck))
    if rng.random() < 0.45:  # sailing boat
        mast_h = rng.uniform(0.25, 0.4)
        mast_x = rng.uniform(-0.05, 0.15)
        parts.append(_cyl(0.01, mast_h, (mast_x, 0.0, z + mast_h), deck))
        parts.append(
            _box(
                (rng.uniform(0.1, 0.18), 0.006, mast_h * 0.8),
                (mast_x - 0.12, 0.0, z + mast_h * 0.95),
                deck,
                (0, 0.12, 0),
            )
        )
    else:  # superstructure decks and a funnel
        x = rng.uniform(-0.2, 0.05)
        for level in range(rng.choice((1, 2, 3))):
            lx = length * (0.35 - 0.08 * level)
            parts.append(_box((lx, beam * 0.6, 0.035), (x, 0.0, z + draft * 0.4 + 0.035 * (2 * level + 1)), deck))
        if rng.random() < 0.6:
            parts.append(_cyl(0.03, 0.07, (x - 0.05, 0.0, z + draft + 0.16), hull))
    return parts


def make_object(class_name: str, seed: int) -> SDFScene:
    """The procedural object of ``class_name`` drawn from ``seed`` (a global scale of 0.85-1.05 on top)."""
    generate = GENERATORS.get(class_name)
    rng = random.Random(f"{class_name}/{seed}")
    parts = generate(rng, draw_palette(rng))
    s = rng.uniform(0.85, 1.05)
    scaled = tuple(
        Part(p.kind, tuple(v * s for v in p.size), tuple(v * s for v in p.center), p.rotation, p.color) for p in parts
    )
    return SDFScene(scaled, meta={"class": class_name, "seed": seed})
