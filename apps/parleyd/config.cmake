# parleyd's settings: the configuration file loader and the command line merged
# over it, a library of its own so unit tests can link it without the rest of
# the server. Included from apps/CMakeLists.txt.
#
# toml++ is used header-only on purpose: config.cpp sets TOML_EXCEPTIONS 0 so
# parse errors are values, which the shared libtomlplusplus that
# find_package(tomlplusplus) would link (built with exceptions) cannot provide.
find_path(PARLEY_TOMLPLUSPLUS_INCLUDE_DIR toml++/toml.h REQUIRED)

add_library(parleyd_config STATIC ${CMAKE_CURRENT_LIST_DIR}/config.cpp
                                  ${CMAKE_CURRENT_LIST_DIR}/config_load.cpp
                                  ${CMAKE_CURRENT_LIST_DIR}/config_state.cpp
                                  ${CMAKE_CURRENT_LIST_DIR}/setting_values.cpp
                                  ${CMAKE_CURRENT_LIST_DIR}/settings.cpp)
target_include_directories(parleyd_config PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_include_directories(parleyd_config SYSTEM PRIVATE ${PARLEY_TOMLPLUSPLUS_INCLUDE_DIR})
target_link_libraries(parleyd_config PUBLIC parley_transport parley_userauth parley_driver parley_login CLI11::CLI11)
