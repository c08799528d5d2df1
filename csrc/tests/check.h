// A minimal test harness for the core's C++ tests (no external framework needed).
#pragma once
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace ezsr_test {
inline int& failures() {
  static int n = 0;
  return n;
}
}  // namespace ezsr_test

#define CHECK(cond)                                                                 \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++ezsr_test::failures();                                                      \
    }                                                                               \
  } while (0)

#define CHECK_NEAR(a, b, tol) CHECK(std::fabs(double(a) - double(b)) <= (tol))

// Last line of main(): prints a summary and returns the exit code.
#define TEST_EXIT(name)                                                    \
  (std::printf("%s: %s\n", name, ezsr_test::failures() ? "FAILED" : "ok"), \
   ezsr_test::failures() ? EXIT_FAILURE : EXIT_SUCCESS)
