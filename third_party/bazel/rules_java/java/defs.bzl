"""Forwards the rules_java API that @bazel_tools loads to Bazel 4.2's native rules.

The project has no Java; @bazel_tools//tools/jdk is loaded by toolchain registration
whether or not Java is used, so the names must resolve.
"""

def java_binary(**kwargs):
    native.java_binary(**kwargs)

def java_import(**kwargs):
    native.java_import(**kwargs)

def java_library(**kwargs):
    native.java_library(**kwargs)

def java_plugin(**kwargs):
    native.java_plugin(**kwargs)

def java_runtime(**kwargs):
    native.java_runtime(**kwargs)

def java_test(**kwargs):
    native.java_test(**kwargs)

def java_toolchain(**kwargs):
    native.java_toolchain(**kwargs)
