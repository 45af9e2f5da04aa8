# Turns console.html into a C++ source defining kConsolePage (run at build time by
# tools/platform-sim/CMakeLists.txt): cmake -DINPUT=... -DOUTPUT=... -P embed_console.cmake
file(READ "${INPUT}" page)
string(FIND "${page}" ")coapgw_console\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "console.html contains the raw-string delimiter )coapgw_console\"")
endif()
file(WRITE "${OUTPUT}.tmp"
  "// Generated from tools/platform-sim/console.html; do not edit.\n"
  "#include \"platform_sim/console_page.hpp\"\n\n"
  "namespace coapgw::platform_sim {\n\n"
  "const char* const kConsolePage = R\"coapgw_console(${page})coapgw_console\";\n\n"
  "}  // namespace coapgw::platform_sim\n")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
