// Op schemas of the core representation ops (one declaration each). Other op
// families declare theirs with TORCH_LIBRARY_FRAGMENT(ezsr, m) in their own files.
#include <torch/library.h>

TORCH_LIBRARY(ezsr, m) {
  // counts [B, 2, out_height, out_width] float32 and dropped [B] int64.
  m.def(
      "histogram(Tensor x, Tensor y, Tensor p, Tensor offsets, int width, int height, "
      "int out_width, int out_height, float cap) -> (Tensor, Tensor)");
}
