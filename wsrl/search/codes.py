"""How an index's FAISS file stores each vector: float32, or FAISS's float16 / 8-bit scalar-quantiser codes.

For millions of NeRFs the index's size is its codes' size: 4, 2 or 1 byte per dimension. The embedding store beside
it keeps float32 whatever the codes, so an index can be rebuilt with other codes without embedding again. A light
module: the CLI's parser reads the names.
"""

CODES = ("float32", "float16", "sq8")
