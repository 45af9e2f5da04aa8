# Build options shared by every target.
option(COAPGW_WARNINGS_AS_ERRORS "Treat compiler warnings as errors" ON)
option(COAPGW_BUILD_BENCH "Build the benchmarks under bench/" ON)
option(COAPGW_BUILD_FUZZERS "Build libFuzzer targets (needs clang)" OFF)
set(COAPGW_SANITIZE "" CACHE STRING "Sanitizers to build with, e.g. address;undefined or thread")

find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_C_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
endif()

# Warnings are attached PRIVATE to our own targets, so they never reach third-party headers.
add_library(coapgw_warnings INTERFACE)
add_library(coapgw::warnings ALIAS coapgw_warnings)
target_compile_options(coapgw_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Woverloaded-virtual
  -Wimplicit-fallthrough -Wformat=2 -Wcast-qual -Wmissing-declarations
  $<$<CXX_COMPILER_ID:GNU>:-Wduplicated-cond -Wlogical-op -Wsuggest-override>
  $<$<BOOL:${COAPGW_WARNINGS_AS_ERRORS}>:-Werror>)

if(COAPGW_SANITIZE)
  # Global on purpose: a target built without the flags breaks linking or hides bugs.
  list(JOIN COAPGW_SANITIZE "," _coapgw_san)
  add_compile_options(-fsanitize=${_coapgw_san} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${_coapgw_san})
endif()
