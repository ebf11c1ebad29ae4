# The PAM provider's tests: real PAM stacks run through pam_wrapper (Debian:
# libpam-wrapper, libpamtest0-dev), with pam_matrix, pam_chatty and a test module
# of ours. pam_wrapper reads the service files below instead of /etc/pam.d; it
# copies them when the process starts, so they are generated at build time.
enable_language(C)
find_package(pam_wrapper CONFIG REQUIRED)  # PAM_WRAPPER_LIBRARY, PAM_WRAPPER_MODULE_DIR
find_package(pamtest CONFIG REQUIRED)      # pamtest::pamtest
foreach(module pam_matrix pam_chatty)
  if(NOT EXISTS ${PAM_WRAPPER_MODULE_DIR}/${module}.so)
    message(FATAL_ERROR "pam_wrapper's ${module}.so is missing from ${PAM_WRAPPER_MODULE_DIR}")
  endif()
endforeach()

add_library(pam_parley_test_module MODULE ${CMAKE_CURRENT_LIST_DIR}/pam_parley_test_module.c)
set_target_properties(pam_parley_test_module PROPERTIES PREFIX "" C_STANDARD 11)
target_include_directories(pam_parley_test_module PRIVATE ${PAM_INCLUDE_DIR})
target_link_libraries(pam_parley_test_module PRIVATE ${PAM_LIBRARY})

set(PARLEY_PAM_SERVICE_DIR ${CMAKE_CURRENT_BINARY_DIR}/pam/services)
set(_pam_matrix ${PAM_WRAPPER_MODULE_DIR}/pam_matrix.so)   # passwords from $PAM_MATRIX_PASSWD
set(_pam_chatty ${PAM_WRAPPER_MODULE_DIR}/pam_chatty.so)
set(_pam_ours $<TARGET_FILE:pam_parley_test_module>)
# service name -> its stack ("|" separates lines).
set(PARLEY_PAM_SERVICES
  "parley-matrix=auth required ${_pam_matrix} verbose|account required ${_pam_matrix}|password required ${_pam_matrix}"
  "parley-two=auth required ${_pam_matrix}|auth required ${_pam_ours} mode=ask colour=blue pin=2468|account required ${_pam_matrix}"
  "parley-chatty=auth required ${_pam_chatty} num_lines=3 info error|auth required ${_pam_matrix}|account required ${_pam_matrix}"
  "parley-record=auth required ${_pam_ours} mode=password|account required ${_pam_ours} mode=account"
  "parley-expired=auth required ${_pam_matrix}|account required ${_pam_ours} mode=account|password required ${_pam_matrix}"
  "parley-block=auth required ${_pam_ours} mode=block|auth required ${_pam_matrix}|account required ${_pam_ours} mode=account"
  "parley-rename=auth required ${_pam_ours} mode=rename|account required ${_pam_ours} mode=account"
  # What libpam falls back to for a service without a file: nothing passes.
  "other=auth required ${_pam_ours} mode=deny|account required ${_pam_ours} mode=deny")
foreach(_pam_entry ${PARLEY_PAM_SERVICES})
  string(FIND "${_pam_entry}" "=" _pam_eq)
  string(SUBSTRING "${_pam_entry}" 0 ${_pam_eq} _pam_name)
  math(EXPR _pam_start "${_pam_eq} + 1")
  string(SUBSTRING "${_pam_entry}" ${_pam_start} -1 _pam_stack)
  string(REPLACE "|" "\n" _pam_stack "${_pam_stack}")
  file(GENERATE OUTPUT ${PARLEY_PAM_SERVICE_DIR}/${_pam_name} CONTENT "${_pam_stack}\n")
endforeach()

add_executable(pam_provider_test ${CMAKE_CURRENT_LIST_DIR}/pam_provider_test.cpp)
target_link_libraries(pam_provider_test PRIVATE parley_pam parley_userauth GTest::gtest pamtest::pamtest
                                                Threads::Threads ${CMAKE_DL_LIBS})
add_dependencies(pam_provider_test pam_parley_test_module)
# pam_chatty never frees the response array of its info and error messages (a
# leak in the test module, not ours): the test keeps it loaded so that
# LeakSanitizer can name it, and this suppresses exactly that.
target_compile_definitions(pam_provider_test PRIVATE PARLEY_PAM_CHATTY="${_pam_chatty}")
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/pam/lsan.supp "leak:pam_chatty.so\n")
add_test(NAME pam_provider COMMAND pam_provider_test)
# Without deep binding and with the link-order check off, pam_wrapper also runs
# under AddressSanitizer (its library is preloaded ahead of the ASan runtime).
set_tests_properties(pam_provider PROPERTIES
  TIMEOUT 300
  LABELS pam
  ENVIRONMENT "LD_PRELOAD=${PAM_WRAPPER_LIBRARY};PAM_WRAPPER=1;PAM_WRAPPER_SERVICE_DIR=${PARLEY_PAM_SERVICE_DIR};PAM_WRAPPER_DISABLE_DEEPBIND=1;UID_WRAPPER_DISABLE_DEEPBIND=1"
  ENVIRONMENT_MODIFICATION
    "ASAN_OPTIONS=string_append::verify_asan_link_order=0;LSAN_OPTIONS=string_append::suppressions=${CMAKE_CURRENT_BINARY_DIR}/pam/lsan.supp")
