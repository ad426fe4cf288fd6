"""C++ rules for the project's own code: the same warnings, as errors, everywhere.

Generated code (protoc output) and system headers are outside this rule set, so a
warning here always points at code the project wrote.
"""

MP_COPTS = [
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wno-unused-parameter",
]

def mp_cc_library(name, copts = [], **kwargs):
    native.cc_library(name = name, copts = MP_COPTS + copts, **kwargs)

def mp_cc_binary(name, copts = [], **kwargs):
    native.cc_binary(name = name, copts = MP_COPTS + copts, **kwargs)

def mp_cc_test(name, copts = [], deps = [], data = [], size = "small", **kwargs):
    """A GoogleTest test (add @system//:gtest_main unless the test has its own main).

    Every test carries the sanitizer suppression files, which --config=asan/tsan name.
    """
    native.cc_test(
        name = name,
        size = size,
        copts = MP_COPTS + copts,
        data = data + ["//tools/sanitizers:suppressions"],
        deps = deps + ["@system//:gtest"],
        **kwargs
    )
