# The Debian packages, made by CPack's DEB generator from the same build that
# cmake --install installs (docs/install.md):
#   cmake -S . -B build/package -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr
#   cmake --build build/package && (cd build/package && cpack -G DEB)
# Packages (cmake/ParleyInstall.cmake's components, grouped):
#   parleyd        server + deb_server: parleyd, the systemd unit, /etc/parley/parleyd.conf and
#                  /etc/pam.d/parleyd (conffiles), the man pages of sections 8 and 5
#   parley         client + deb_client: parley, its man page
#   libparley0     libs + deb_libs: libparley.so.0
#   libparley-dev  dev + deb_dev: headers, libparley.a, libparley.so, CMake package, parley.pc
# Each deb_* component holds what only the Debian package has: files under /etc
# and /lib/systemd (absolute paths) and /usr/share/doc/PACKAGE.
set(_pkg ${PROJECT_SOURCE_DIR}/packaging)
if(NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  message(STATUS "parley: the Debian packages need -DCMAKE_INSTALL_PREFIX=/usr (now ${CMAKE_INSTALL_PREFIX})")
endif()

# Each package's /usr/share/doc: copyright and the changelog (gzip -9n, as Debian's).
file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/deb)
execute_process(COMMAND gzip -9nc ${_pkg}/debian/changelog OUTPUT_FILE ${CMAKE_BINARY_DIR}/deb/changelog.gz
                COMMAND_ERROR_IS_FATAL ANY)
foreach(pair libs:libparley0 dev:libparley-dev server:parleyd client:parley)
  string(REPLACE ":" ";" pair ${pair})
  list(GET pair 0 component)
  list(GET pair 1 package)
  install(FILES ${_pkg}/debian/copyright ${CMAKE_BINARY_DIR}/deb/changelog.gz
          DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${package} COMPONENT deb_${component})
endforeach()

# parleyd's system files.
install(FILES ${_pkg}/parleyd.conf DESTINATION /etc/parley COMPONENT deb_server)
install(FILES ${_pkg}/parleyd.pam DESTINATION /etc/pam.d RENAME parleyd COMPONENT deb_server)
install(FILES ${_pkg}/systemd/parleyd.service DESTINATION /lib/systemd/system COMPONENT deb_server)
install(FILES ${_pkg}/systemd/parleyd-strict.conf ${PROJECT_SOURCE_DIR}/docs/parleyd.conf.example
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/parleyd/examples COMPONENT deb_server)
install(FILES ${PROJECT_SOURCE_DIR}/docs/privilege-separation.md ${PROJECT_SOURCE_DIR}/docs/install.md
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/parleyd COMPONENT deb_server)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME parley)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "parley maintainers <maintainers@users.noreply.r-seed-7c23f6d6.example>")
# No CPACK_PACKAGE_DESCRIPTION_SUMMARY: CPack would put it before each package's own summary.
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_SET_DESTDIR ON)  # the /etc and /lib/systemd destinations are absolute
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL libs deb_libs dev deb_dev server deb_server client deb_client)
set(CPACK_COMPONENTS_GROUPING ONE_PER_GROUP)
foreach(c libs dev server client)
  string(TOUPPER ${c} C)
  set(CPACK_COMPONENT_${C}_GROUP ${c})
  set(CPACK_COMPONENT_DEB_${C}_GROUP ${c})
endforeach()
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_PRE_BUILD_SCRIPTS ${CMAKE_CURRENT_LIST_DIR}/deb_prebuild.cmake)  # gzip the man pages

set(CPACK_DEBIAN_LIBS_PACKAGE_NAME libparley0)
set(CPACK_DEBIAN_LIBS_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)  # libparley0's shlibs (the only package with a SONAME)
# ldconfig by trigger, as dh_makeshlibs; the scripts replace the ones calling ldconfig that CPack writes.
set(CPACK_DEBIAN_LIBS_PACKAGE_CONTROL_EXTRA
    ${_pkg}/debian/libparley0/triggers ${_pkg}/debian/libparley0/postinst ${_pkg}/debian/libparley0/postrm)
set(CPACK_DEBIAN_LIBS_DESCRIPTION "SSH-2 library built around keyboard-interactive authentication
parley implements the SSH-2 protocol (transport, user authentication with
keyboard-interactive challenge-response, connection) as sans-I/O state
machines with OpenSSL for every primitive, and an Asio driver for servers
and clients.

This package contains the shared library.")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libparley-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
    "libparley0 (= ${PROJECT_VERSION}), libssl-dev, liboath-dev, libqrencode-dev, libseccomp-dev, libpam0g-dev, libcrypt-dev")
set(CPACK_DEBIAN_DEV_DESCRIPTION "SSH-2 library built around keyboard-interactive (development files)
parley implements the SSH-2 protocol as sans-I/O state machines with an Asio
driver; applications embed servers with their own challenge-response
providers and sessions.

This package contains the C++23 headers, the static library, the CMake
package (find_package(parley): parley::parley, parley::parley_static) and
parley.pc for pkg-config.")

set(CPACK_DEBIAN_SERVER_PACKAGE_NAME parleyd)
set(CPACK_DEBIAN_SERVER_PACKAGE_SECTION net)
set(CPACK_DEBIAN_SERVER_PACKAGE_RECOMMENDS openssh-sftp-server)
set(CPACK_DEBIAN_SERVER_PACKAGE_CONTROL_EXTRA
    ${_pkg}/debian/parleyd/postinst ${_pkg}/debian/parleyd/prerm ${_pkg}/debian/parleyd/postrm
    ${_pkg}/debian/parleyd/conffiles)
set(CPACK_DEBIAN_SERVER_DESCRIPTION "SSH server built around keyboard-interactive authentication
parleyd is an SSH-2 server: public keys, passwords through PAM, TOTP second
factors and custom challenges, with privilege separation (a root monitor and
a chrooted, seccomp-filtered network process) and sessions as the user.

As installed it listens on port 2022 beside OpenSSH, and lets the accounts
of the system in by public key or by their password through PAM.")

set(CPACK_DEBIAN_CLIENT_PACKAGE_NAME parley)
set(CPACK_DEBIAN_CLIENT_PACKAGE_SECTION net)
set(CPACK_DEBIAN_CLIENT_DESCRIPTION "SSH client built around keyboard-interactive authentication
parley is an SSH-2 client with ssh's common options and configuration files,
known_hosts checking, publickey (key files and ssh-agent), password and
keyboard-interactive logins answered by composable responders (terminal,
TOTP codes, saved passwords), jump hosts, port forwarding and file copies.")

include(CPack)
