# Debian packages only (scripts/install-deps installs them); nothing is downloaded at build time.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

pkg_check_modules(LIBCOAP REQUIRED IMPORTED_TARGET libcoap-3-openssl)   # PkgConfig::LIBCOAP, DTLS
pkg_check_modules(LIBPQXX REQUIRED IMPORTED_TARGET libpqxx)             # PkgConfig::LIBPQXX, 6.4
find_package(cppzmq REQUIRED)                                            # cppzmq
find_package(OpenSSL REQUIRED)                                           # wss://, SHA-1

find_package(RapidJSON REQUIRED)                                         # sets RAPIDJSON_INCLUDE_DIRS only
add_library(coapgw_rapidjson INTERFACE)
add_library(coapgw::rapidjson ALIAS coapgw_rapidjson)
target_include_directories(coapgw_rapidjson SYSTEM INTERFACE ${RAPIDJSON_INCLUDE_DIRS})
# std::string support in RapidJSON's API.
target_compile_definitions(coapgw_rapidjson INTERFACE RAPIDJSON_HAS_STDSTRING=1)

# websocketpp on standalone Asio; used only inside libs/ws and tools/platform-sim.
if(NOT TARGET websocketpp::websocketpp)
  find_package(websocketpp REQUIRED)
endif()
find_path(ASIO_INCLUDE_DIR asio.hpp REQUIRED)
add_library(coapgw_asio INTERFACE)
add_library(coapgw::asio ALIAS coapgw_asio)
target_include_directories(coapgw_asio SYSTEM INTERFACE ${ASIO_INCLUDE_DIR})
target_compile_definitions(coapgw_asio INTERFACE ASIO_STANDALONE)
target_link_libraries(coapgw_asio INTERFACE Threads::Threads)

if(BUILD_TESTING OR NOT DEFINED BUILD_TESTING)
  find_package(GTest REQUIRED)
endif()
if(COAPGW_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()
