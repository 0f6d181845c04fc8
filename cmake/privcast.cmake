# Helpers shared by every module's CMakeLists.

# privcast_test(NAME SOURCES... LIBS ...): a GoogleTest binary registered with CTest.
# Tests that need root and namespaces carry the label "root" so they can be listed.
function(privcast_test name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gmock GTest::gtest_main)
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES LABELS "${T_LABELS}")
endfunction()

# privcast_fuzzer(NAME SOURCE LIBS ... CORPUS dir): a libFuzzer-style target. Without
# PRIVCAST_LIBFUZZER it links a replay driver, and CTest replays the seed corpus every build.
function(privcast_fuzzer name)
  cmake_parse_arguments(F "" "CORPUS" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${F_SOURCES})
  target_link_libraries(${name} PRIVATE ${F_LIBS})
  if(PRIVCAST_LIBFUZZER)
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  else()
    target_sources(${name} PRIVATE ${PROJECT_SOURCE_DIR}/fuzz/replay_main.cc)
  endif()
  add_test(NAME ${name}_corpus COMMAND ${name} ${F_CORPUS})
  set_tests_properties(${name}_corpus PROPERTIES LABELS fuzz)
endfunction()

function(privcast_bench name)
  cmake_parse_arguments(B "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${B_SOURCES})
  target_link_libraries(${name} PRIVATE ${B_LIBS} benchmark::benchmark benchmark::benchmark_main)
endfunction()
