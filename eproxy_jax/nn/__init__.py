"""The bottom layer: what every space and the core build on, and nothing above it.

- `ops`: convolutions (and their lowering choice), pooling, batch norm, resize;
- `winograd`: the 3x3 convolution by Winograd's F(4x4, 3x3) / F(2x2, 3x3), which `ops.conv2d` offers;
- `initializers`: the init schemes (DPS's `init` gene), `init_tree`, nested draws;
- `edge_groups`: an op per architecture under vmap, run on the architectures that picked it;
- `layers`: the Flax parameter layers the spaces share (`Kernel`, `Linear`, `BatchNorm`,
  `BNParams`) and `padded_width`.

Imports only jax, flax and numpy: never `spaces`, never the rest of `eproxy_jax`.
"""
