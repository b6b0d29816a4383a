# Fails if a doctest case name holds a ';': doctest_discover_tests hands the names to ctest as a
# CMake list, which splits them there, and the pieces match no case, so that the test runs nothing
# and passes. Run as: cmake -DSOURCES="a.cc;b.cc" -P check_test_names.cmake
set(bad "")
foreach(source IN LISTS SOURCES)
  file(READ "${source}" text)
  # Each name in turn: the text after a match is searched again.
  while(text MATCHES "TEST_CASE\\([ \n]*\"([^\"\n]*)\"(.*)")
    set(name "${CMAKE_MATCH_1}")
    set(text "${CMAKE_MATCH_2}")
    string(FIND "${name}" ";" at)
    if(at GREATER_EQUAL 0)
      string(APPEND bad "\n  ${source}: \"${name}\"")
    endif()
  endwhile()
endforeach()
if(bad)
  message(FATAL_ERROR "test names with ';' (ctest would run nothing for them):${bad}")
endif()
