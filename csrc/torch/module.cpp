// The Python module ezsr._C. It holds no Python functions: importing it runs the
// static TORCH_LIBRARY registrations of the other files, and the ops are then
// reached as torch.ops.ezsr.*. Plain CPython API keeps pybind11 out of the build.
#include <Python.h>

extern "C" {
PyMODINIT_FUNC PyInit__C(void) {
  static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_C", "ezsr kernels", -1, nullptr};
  return PyModule_Create(&module);
}
}
