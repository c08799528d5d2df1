// Large CPU outputs on transparent huge pages.
//
// A fresh tensor of many megabytes is page-faulted 4 KiB at a time while a kernel first
// writes it: for the simulator's event columns (13 bytes an event, ~150 MB for 11 M events)
// that was half of the gather, and decoding is bound by it. empty_large allocates as
// at::empty does (so the allocator may still reuse warm memory) and advises the whole 2 MiB
// pages inside the tensor with MADV_HUGEPAGE, so they fault 2 MiB at a time where the system
// allows transparent huge pages (the default "madvise" mode). Advice only: data and
// ownership are untouched, and off Linux this is at::empty.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>

#ifdef __linux__
#include <sys/mman.h>
#endif

namespace ezsr_torch {

inline at::Tensor empty_large(at::IntArrayRef sizes, const at::TensorOptions& opts) {
  at::Tensor t = at::empty(sizes, opts);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHugePage = uintptr_t(2) << 20;
  if (t.device().is_cpu() && t.nbytes() >= 2 * kHugePage) {
    const uintptr_t a = reinterpret_cast<uintptr_t>(t.data_ptr());
    const uintptr_t lo = (a + kHugePage - 1) & ~(kHugePage - 1);
    const uintptr_t hi = (a + t.nbytes()) & ~(kHugePage - 1);
    if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);
  }
#endif
  return t;
}

}  // namespace ezsr_torch
