#include "ezsr/common.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ezsr {

int cpu_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

}  // namespace ezsr
