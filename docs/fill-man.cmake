# Fill a man page template from a program's own tables: run GENERATOR with
# ARGS, split its output on lines ".\" next", and put block N where the
# template says @LISTN@ (N from 1).
separate_arguments(args UNIX_COMMAND "${ARGS}")
execute_process(COMMAND ${GENERATOR} ${args} OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${GENERATOR} ${ARGS} failed: ${rc}")
endif()
file(READ ${TEMPLATE} text)
# CMake lists split on ";", so protect the ones of the text first.
string(REPLACE ";" "@SEMICOLON@" out "${out}")
string(REPLACE ".\\\" next\n" ";" blocks "${out}")
set(n 1)
foreach(block IN LISTS blocks)
  string(REPLACE "@LIST${n}@\n" "${block}" text "${text}")
  math(EXPR n "${n} + 1")
endforeach()
if(text MATCHES "@LIST[0-9]+@")
  message(FATAL_ERROR "${TEMPLATE}: a list placeholder was left unfilled")
endif()
string(REPLACE "@SEMICOLON@" ";" text "${text}")
file(WRITE ${OUTPUT} "${text}")
