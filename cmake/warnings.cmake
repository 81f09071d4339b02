# -Wnull-dereference is left out: GCC 12 reports false positives inside
# RapidJSON's schema validator and CLI11 after inlining.
# Warnings and sanitizers are INTERFACE targets linked PRIVATE into each of
# our own targets, never forced on consumers or on third-party code.
add_library(ispflow_warnings INTERFACE)
target_compile_options(ispflow_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align
  -Wunused -Woverloaded-virtual -Wformat=2
  $<$<BOOL:${ISPFLOW_WERROR}>:-Werror>)
add_library(ispflow::warnings ALIAS ispflow_warnings)

add_library(ispflow_options INTERFACE)
target_compile_features(ispflow_options INTERFACE cxx_std_20)
if(ISPFLOW_SANITIZE)
  target_compile_options(ispflow_options INTERFACE
    -fsanitize=${ISPFLOW_SANITIZE} -fno-omit-frame-pointer)
  target_link_options(ispflow_options INTERFACE -fsanitize=${ISPFLOW_SANITIZE})
endif()
add_library(ispflow::options ALIAS ispflow_options)

# ispflow_target(name): the project's defaults for one of our targets.
function(ispflow_target name)
  target_link_libraries(${name} PRIVATE ispflow::warnings ispflow::options)
endfunction()
