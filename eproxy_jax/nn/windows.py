"""The k*k shifted, strided views of a padded NHWC input that a k x k window reads: the one
definition behind the convolutions' lowerings (`ops`) and the pools (`pooling`)."""
from __future__ import annotations


def taps(xp, k: int, dilation: int, stride: int, h_out: int, w_out: int) -> list:
    """The views in kernel (i, j) row-major order, `[n, h_out, w_out, c]` each."""
    d, s = dilation, stride
    return [xp[:, i * d: i * d + (h_out - 1) * s + 1: s, j * d: j * d + (w_out - 1) * s + 1: s, :]
            for i in range(k) for j in range(k)]
