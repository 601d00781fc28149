"""wsrl: weight-space representation learning for NeRFs of any architecture.

Data flow: checkpoint --converters--> NeRF (``wsrl.nerf``) --``wsrl.graph``--> parameter
graph --``wsrl.encoder``--> embedding --``wsrl.index``--> k-NN / retrieval.
Fields (``wsrl.fields``), rendering (``wsrl.render``) and fitting (``wsrl.fit``)
make and check the NeRFs.
"""

__version__ = "0.1.0"
