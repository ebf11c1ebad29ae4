# cmake -DSCDOC=... -DINPUT=page.scd -DOUTPUT=page -P scdoc.cmake: scdoc reads the page
# on stdin and writes roff on stdout; an error leaves no output file behind, so the next
# build runs it again instead of installing half a page.
execute_process(COMMAND ${SCDOC} INPUT_FILE ${INPUT} OUTPUT_FILE ${OUTPUT}.tmp
                ERROR_VARIABLE errors RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  file(REMOVE ${OUTPUT}.tmp)
  message(FATAL_ERROR "scdoc failed on ${INPUT}: ${errors}")
endif()
file(RENAME ${OUTPUT}.tmp ${OUTPUT})
