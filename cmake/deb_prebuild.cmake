# Run by CPack after it installed each package's files into its staging tree and
# before it packs them (CPACK_PRE_BUILD_SCRIPTS, cmake/ParleyPackage.cmake):
# Debian ships manual pages compressed with gzip -9n; the build and a plain
# cmake --install leave them as they are.
file(GLOB_RECURSE staged LIST_DIRECTORIES false "${CPACK_TEMPORARY_DIRECTORY}/*")
foreach(file IN LISTS staged)
  if(file MATCHES "/share/man/man[0-9]/[^/]+\\.[0-9]$")
    execute_process(COMMAND gzip -9nf "${file}" COMMAND_ERROR_IS_FATAL ANY)
  endif()
endforeach()
