"""Models: attention scorers, GRU and Transformer encoders and decoders, output layers.

Every decoder offers the step interface (``init_state``, ``step``, ``reorder``) that lets one search
serve every model. Imports data and ground only.
"""
