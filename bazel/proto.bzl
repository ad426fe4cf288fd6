"""mp_proto_library: one .proto file -> one C++ library with protobuf and gRPC code.

    mp_proto_library(name = "hook_proto", src = "hook.proto", deps = [":middlepipe_proto"])

defines
  :hook_proto             cc_library with hook.pb.h and hook.grpc.pb.h
  :hook_proto_files       the .proto and every .proto it imports (for other generators)
  :hook_proto_descriptor  hook.desc, a FileDescriptorSet with source info (comments)

Each .proto is its own generation action, so changing one regenerates and recompiles
only it and the libraries that depend on it. protoc and grpc_cpp_plugin are Debian's
(protobuf-compiler, protobuf-compiler-grpc), the same versions as the runtime libraries.
"""

_PROTOC = "/usr/bin/protoc"
_GRPC_PLUGIN = "/usr/bin/grpc_cpp_plugin"

def mp_proto_library(name, src, deps = [], visibility = None):
    if not src.endswith(".proto"):
        fail("mp_proto_library: src must be a .proto file, got " + src)
    base = src[:-len(".proto")]
    proto_path = native.package_name() + "/" + src

    native.filegroup(
        name = name + "_files",
        srcs = [src] + [dep + "_files" for dep in deps],
        visibility = visibility,
    )

    native.genrule(
        name = name + "_codegen",
        srcs = [name + "_files"],
        outs = [
            base + ".pb.h",
            base + ".pb.cc",
            base + ".grpc.pb.h",
            base + ".grpc.pb.cc",
        ],
        cmd = " ".join([
            _PROTOC,
            "-I.",
            "--cpp_out=$(GENDIR)",
            "--grpc_out=$(GENDIR)",
            "--plugin=protoc-gen-grpc=" + _GRPC_PLUGIN,
            proto_path,
        ]),
        message = "protoc (C++, gRPC) " + proto_path,
    )

    native.genrule(
        name = name + "_descriptor",
        srcs = [name + "_files"],
        outs = [base + ".desc"],
        cmd = " ".join([
            _PROTOC,
            "-I.",
            "--include_source_info",
            "--descriptor_set_out=$@",
            proto_path,
        ]),
        message = "protoc (descriptor) " + proto_path,
        visibility = visibility,
    )

    native.cc_library(
        name = name,
        srcs = [base + ".pb.cc", base + ".grpc.pb.cc"],
        hdrs = [base + ".pb.h", base + ".grpc.pb.h"],
        deps = deps + ["@system//:grpc++"],
        visibility = visibility,
    )
