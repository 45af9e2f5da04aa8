# coapgw_test(<name> LABEL unit|integration|contract|e2e [TIMEOUT s] SOURCES ... LIBS ...)
# e2e: the whole stack as real processes (tests/e2e, tests/support Stack).
# One GoogleTest executable; every test in it becomes a ctest entry with the label and a timeout
# (ctest's default of 1500 s would let a hung test eat the CI budget).
include(GoogleTest)

function(coapgw_test name)
  cmake_parse_arguments(T "" "LABEL;TIMEOUT" "SOURCES;LIBS" ${ARGN})
  if(NOT T_LABEL)
    message(FATAL_ERROR "coapgw_test(${name}): LABEL is required")
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 60)
  endif()
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gmock GTest::gtest_main coapgw::warnings)
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  gtest_discover_tests(${name}
    DISCOVERY_TIMEOUT 60
    NO_PRETTY_TYPES NO_PRETTY_VALUES
    PROPERTIES LABELS ${T_LABEL} TIMEOUT ${T_TIMEOUT})
  # Binary and source folders reach the tests through tests/support (compile definitions):
  # a list in ENVIRONMENT would be split by gtest_discover_tests.
endfunction()
