# Finds Debian's gRPC C++ and protobuf without downloading anything:
# pkg-config for the libraries, protoc and grpc_cpp_plugin from PATH.
# Defines PkgConfig::VOLTHA_GRPC, VOLTHA_PROTOC, VOLTHA_GRPC_CPP_PLUGIN and
# VOLTHA_PROTOBUF_INCLUDEDIR (for google/protobuf/*.proto), and the function
# voltha_grpc_generate(<out-var> <proto> <dir>) that generates the C++ at build
# time into <dir>.
include_guard(GLOBAL)
find_package(PkgConfig REQUIRED)
pkg_check_modules(VOLTHA_GRPC REQUIRED IMPORTED_TARGET grpc++ protobuf)
pkg_get_variable(VOLTHA_PROTOBUF_INCLUDEDIR protobuf includedir)
find_program(VOLTHA_PROTOC protoc REQUIRED)
find_program(VOLTHA_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)

function(voltha_grpc_generate out_var proto out_dir)
  get_filename_component(name ${proto} NAME_WE)
  get_filename_component(proto_dir ${proto} DIRECTORY)
  set(outputs ${out_dir}/${name}.pb.cc ${out_dir}/${name}.pb.h
              ${out_dir}/${name}.grpc.pb.cc ${out_dir}/${name}.grpc.pb.h)
  add_custom_command(
    OUTPUT ${outputs}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${out_dir}
    COMMAND ${VOLTHA_PROTOC} --proto_path=${proto_dir}
            --proto_path=${VOLTHA_PROTOBUF_INCLUDEDIR}
            --cpp_out=${out_dir} --grpc_out=${out_dir}
            --plugin=protoc-gen-grpc=${VOLTHA_GRPC_CPP_PLUGIN}
            ${proto}
    DEPENDS ${proto}
    COMMENT "Generating C++ and gRPC code from ${name}.proto"
    VERBATIM)
  set(${out_var} ${outputs} PARENT_SCOPE)
endfunction()
