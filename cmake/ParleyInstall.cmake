# The installed library and programs (docs/install.md). Included from the top
# CMakeLists.txt after every layer and app is defined.
#
# The layers (src/*) stay separate static libraries for the in-tree build and its
# tests; what is installed is their union:
#   libparley.so.0 (target parley_shared, exported as parley::parley): the
#     layers' objects linked into one shared library whose dynamic symbols
#     are parley's namespace only (cmake/parley.map); its system libraries
#     (OpenSSL's libcrypto and libssl, libhiredis, liboath, libqrencode, libseccomp, libpam, libxcrypt) are private.
#   libparley.a (target parley_static, exported as parley::parley_static): the
#     same objects in one archive; its link interface names those libraries.
# Components (cmake --install --component, and the Debian packages of
# cmake/ParleyPackage.cmake): libs, dev, server, client, and system (the files
# under /etc and /lib/systemd, absolute paths, for the Debian package only).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(PARLEY_LAYERS wire crypto state transport connection userauth session login passwd otp pam client sandbox
                  privsep driver)
set(_parley_layer_targets)
set(_parley_layer_objects)
foreach(layer IN LISTS PARLEY_LAYERS)
  list(APPEND _parley_layer_targets parley_${layer})
  list(APPEND _parley_layer_objects $<TARGET_OBJECTS:parley_${layer}>)
endforeach()

configure_file(${CMAKE_CURRENT_LIST_DIR}/version.hpp.in ${CMAKE_BINARY_DIR}/include/parley/version.hpp @ONLY)

# The shared library: every layer's objects, and the layers' archives after them only
# for their link interfaces (the system libraries, as private dependencies): the
# objects define every symbol, so no archive member is pulled in a second time.
add_library(parley_shared SHARED ${CMAKE_CURRENT_LIST_DIR}/version.cpp ${_parley_layer_objects})
target_link_libraries(parley_shared PRIVATE ${_parley_layer_targets})
target_link_options(parley_shared PRIVATE "LINKER:--version-script=${CMAKE_CURRENT_LIST_DIR}/parley.map")
if(NOT PARLEY_SANITIZE AND NOT PARLEY_FUZZ)
  # Every symbol resolved at link time (the sanitizers' runtime is only in the program).
  target_link_options(parley_shared PRIVATE "LINKER:-z,defs" "LINKER:--as-needed")
endif()
set_target_properties(parley_shared PROPERTIES
  OUTPUT_NAME parley EXPORT_NAME parley
  VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR}
  LINK_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/parley.map)

# The static library: the same objects in one archive.
add_library(parley_static STATIC ${CMAKE_CURRENT_LIST_DIR}/version.cpp ${_parley_layer_objects})
set_target_properties(parley_static PROPERTIES OUTPUT_NAME parley EXPORT_NAME parley_static)
# What a static link needs beside libparley.a (as parley.pc's Requires.private).
target_link_libraries(parley_static INTERFACE ssl crypto hiredis oath qrencode seccomp pam crypt Threads::Threads)

foreach(lib parley_shared parley_static)
  target_include_directories(${lib} PRIVATE ${CMAKE_BINARY_DIR}/include
                                    INTERFACE $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_compile_features(${lib} INTERFACE cxx_std_23)
endforeach()

# Headers: every layer's include/parley/<layer>/ and the generated version.hpp.
foreach(layer IN LISTS PARLEY_LAYERS)
  install(DIRECTORY ${CMAKE_SOURCE_DIR}/src/${layer}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
          COMPONENT dev FILES_MATCHING PATTERN "*.hpp")
endforeach()
install(FILES ${CMAKE_BINARY_DIR}/include/parley/version.hpp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/parley
        COMPONENT dev)

# libparley.so.0 (and .so.0.x.y) in libs, the libparley.so link in dev.
install(TARGETS parley_shared EXPORT parleyTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT libs NAMELINK_COMPONENT dev)
install(TARGETS parley_static EXPORT parleyTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)

set(_parley_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/parley)
install(EXPORT parleyTargets NAMESPACE parley:: DESTINATION ${_parley_cmake_dir} COMPONENT dev)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/parleyConfig.cmake.in
                              ${CMAKE_BINARY_DIR}/parleyConfig.cmake INSTALL_DESTINATION ${_parley_cmake_dir})
# 0.x: a new minor version may change the API.
write_basic_package_version_file(${CMAKE_BINARY_DIR}/parleyConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/parleyConfig.cmake ${CMAKE_BINARY_DIR}/parleyConfigVersion.cmake
        DESTINATION ${_parley_cmake_dir} COMPONENT dev)

# parley.pc: written at install time, so its prefix is the one installed to
# (cmake --install --prefix P, or /usr in the Debian package), not the configured one.
set(PARLEY_PC_PREFIX "@PARLEY_PC_PREFIX@")  # kept for the install step to fill in
configure_file(${CMAKE_CURRENT_LIST_DIR}/parley.pc.in ${CMAKE_BINARY_DIR}/parley.pc.in @ONLY)
install(CODE "
  set(PARLEY_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  configure_file(\"${CMAKE_BINARY_DIR}/parley.pc.in\" \"${CMAKE_BINARY_DIR}/pc/parley.pc\" @ONLY)
  file(INSTALL \"${CMAKE_BINARY_DIR}/pc/parley.pc\"
       DESTINATION \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/pkgconfig\")
" COMPONENT dev)

# The programs (linked with the layers statically, as in-tree); parleyd_probe,
# tests, benchmarks and examples are not installed.
install(TARGETS parleyd RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR} COMPONENT server)
install(TARGETS parley RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT client)
