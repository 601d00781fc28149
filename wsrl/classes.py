"""The 13 object classes of ShapeNetRender (the paper's benchmark) and their ShapeNet synsets.

Label ``i`` is ``CLASSES[i]``; the procedural zoo uses the same names and labels.
"""

CLASSES = (
    "airplane",
    "bench",
    "cabinet",
    "car",
    "chair",
    "display",
    "lamp",
    "speaker",
    "rifle",
    "sofa",
    "table",
    "phone",
    "watercraft",
)
SHAPENET_SYNSETS = {
    "02691156": "airplane",
    "02828884": "bench",
    "02933112": "cabinet",
    "02958343": "car",
    "03001627": "chair",
    "03211117": "display",
    "03636649": "lamp",
    "03691459": "speaker",
    "04090263": "rifle",
    "04256520": "sofa",
    "04379243": "table",
    "04401088": "phone",
    "04530566": "watercraft",
}


def class_label(name_or_synset: str) -> int:
    """Label of a class name or ShapeNet synset id; -1 when unknown."""
    name = SHAPENET_SYNSETS.get(name_or_synset, name_or_synset)
    return CLASSES.index(name) if name in CLASSES else -1
