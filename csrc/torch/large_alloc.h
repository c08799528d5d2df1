// Large CPU outputs backed by transparent huge pages.
//
// A fresh tensor of many megabytes is page-faulted 4 KiB at a time while a kernel first
// writes it; for the simulator's event columns (13 bytes an event, ~150 MB for 11 M events)
// that was half of the gather. empty_large maps such a tensor on its own with
// MADV_HUGEPAGE, so it faults in 2 MiB pages where the system allows transparent huge pages
// (the default "madvise" mode); the mapping is released with the tensor's storage. Small
// tensors, other devices, other systems or a failed mmap get at::empty.
#pragma once
#include <ATen/ATen.h>

#ifdef __linux__
#include <sys/mman.h>
#endif

namespace ezsr_torch {

inline at::Tensor empty_large(at::IntArrayRef sizes, const at::TensorOptions& opts) {
#ifdef __linux__
  constexpr size_t kLargeBytes = size_t(8) << 20, kHugePage = size_t(2) << 20;
  if (opts.device().is_cpu()) {
    const size_t bytes = static_cast<size_t>(c10::multiply_integers(sizes)) *
                         opts.dtype().itemsize();
    if (bytes >= kLargeBytes) {
      const size_t len = (bytes + kHugePage - 1) / kHugePage * kHugePage;
      void* ptr = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (ptr != MAP_FAILED) {
        madvise(ptr, len, MADV_HUGEPAGE);  // advice only: ignored where THP is off
        return at::from_blob(ptr, sizes, [len](void* p) { munmap(p, len); }, opts);
      }
    }
  }
#endif
  return at::empty(sizes, opts);
}

}  // namespace ezsr_torch
