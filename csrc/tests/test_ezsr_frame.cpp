// Fused EZSR frame: the numpy-style quantile on hand-computed cases and a 2x2 window
// worked by hand (the same case as tests/test_ezsr_preprocess.py), plus an empty window.
#include <cstdint>
#include <vector>

#include "check.h"
#include "ezsr/ezsr_frame.h"

int main() {
  {  // numpy.quantile([3, 1, 1], 0.75) = 2; ([1, 2, 3, 4], 0.75) = 3.25; ([5], q) = 5
    std::vector<float> a{3, 1, 1}, b{4, 1, 3, 2}, c{5};
    CHECK(ezsr::quantile_linear(a.data(), 3, 0.75) == 2.f);
    CHECK(ezsr::quantile_linear(b.data(), 4, 0.75) == 3.25f);
    CHECK(ezsr::quantile_linear(c.data(), 1, 0.75) == 5.f);
    // the same from frequency tables
    const int64_t fa[] = {0, 2, 0, 1}, fb[] = {0, 1, 1, 1, 1}, fc[] = {0, 0, 0, 0, 0, 1};
    CHECK(ezsr::quantile_of_counts(fa, 4, 3, 0.75) == 2.f);
    CHECK(ezsr::quantile_of_counts(fb, 5, 4, 0.75) == 3.25f);
    CHECK(ezsr::quantile_of_counts(fc, 6, 1, 0.75) == 5.f);
  }
  {  // ON (0,0) x3, ON (1,0), OFF (1,1); out-of-range (2,0) dropped; then an empty window.
    std::vector<int32_t> x{0, 0, 0, 1, 1, 2}, y{0, 0, 0, 0, 1, 0};
    std::vector<uint8_t> p{1, 1, 1, 1, 0, 1};
    std::vector<int64_t> off{0, 6, 6}, rows{0, 1}, cols{0, 1};
    std::vector<float> out(2 * 4, -1.f);
    std::vector<int64_t> dropped(2, -1);
    const float mean = 0.f, std = 1.f;  // identity normalisation: out = gray
    ezsr::EzsrFrameArgs<int32_t> a{
        x.data(),    y.data(), p.data(),    off.data(), 2,     2,    2, 2,          2,
        rows.data(), 2,        cols.data(), 2,          &mean, &std, 1, out.data(), dropped.data()};
    ezsr::ezsr_frame_cpu(a);
    // q = 2: ON -> [2, 1] / 3, OFF -> 1 / 2; gray = mean of the channels
    CHECK_NEAR(out[0], (2.f / 3.f) / 2.f, 1e-7);
    CHECK_NEAR(out[1], (1.f / 3.f) / 2.f, 1e-7);
    CHECK(out[2] == 0.f);
    CHECK_NEAR(out[3], 0.25f, 1e-7);
    CHECK(dropped[0] == 1 && dropped[1] == 0);
    for (int i = 4; i < 8; ++i) CHECK(out[i] == 0.f);
  }
  return TEST_EXIT("test_ezsr_frame");
}
